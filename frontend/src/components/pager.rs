use leptos::prelude::*;

/// Where a server-paged list stands: the cursor of the page shown and those before it.
#[derive(Clone, Copy)]
pub struct Paging {
    /// The `cursor` query value of the page shown ("" for the first page).
    pub cursor: RwSignal<String>,
    before: RwSignal<Vec<String>>,
}

impl Default for Paging {
    fn default() -> Self {
        Self::new()
    }
}

impl Paging {
    #[must_use]
    pub fn new() -> Self {
        Self {
            cursor: RwSignal::new(String::new()),
            before: RwSignal::new(Vec::new()),
        }
    }

    /// Back to the first page (after a filter changed).
    pub fn reset(self) {
        self.before.set(Vec::new());
        self.cursor.set(String::new());
    }
}

/// Previous / Next buttons of a server-paged list; `next` is the page's `next_cursor`.
#[component]
pub fn Pager(paging: Paging, next: Option<String>) -> impl IntoView {
    let Paging { cursor, before } = paging;
    view! {
        <nav class="pager" aria-label="Pages">
            <button type="button" class="button" disabled=move || before.with(Vec::is_empty)
                on:click=move |_| cursor.set(before.try_update(Vec::pop).flatten().unwrap_or_default())>
                "Previous"
            </button>
            <button type="button" class="button" disabled=next.is_none()
                on:click=move |_| if let Some(next) = next.clone() {
                    before.update(|pages| pages.push(cursor.get_untracked()));
                    cursor.set(next);
                }>
                "Next"
            </button>
        </nav>
    }
}
