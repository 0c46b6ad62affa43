//! Light and dark themes: the system's choice until the user picks one, remembered in this
//! browser.

use leptos::prelude::*;

const STORAGE_KEY: &str = "nimbus.theme";

/// Applies the remembered theme, if any, before the first page renders.
pub fn apply_saved() {
    if let Some(theme) = saved() {
        set_attribute(&theme);
    }
}

fn saved() -> Option<String> {
    window()
        .local_storage()
        .ok()
        .flatten()?
        .get_item(STORAGE_KEY)
        .ok()
        .flatten()
        .filter(|theme| theme == "light" || theme == "dark")
}

fn system_prefers_dark() -> bool {
    window()
        .match_media("(prefers-color-scheme: dark)")
        .ok()
        .flatten()
        .is_some_and(|query| query.matches())
}

fn set_attribute(theme: &str) {
    if let Some(root) = document().document_element() {
        let _ = root.set_attribute("data-theme", theme);
    }
}

/// A button that switches between light and dark.
#[component]
pub fn ThemeToggle() -> impl IntoView {
    let dark = RwSignal::new(saved().map_or_else(system_prefers_dark, |theme| theme == "dark"));
    let toggle = move |_| {
        dark.update(|dark| *dark = !*dark);
        let theme = if dark.get_untracked() {
            "dark"
        } else {
            "light"
        };
        set_attribute(theme);
        if let Ok(Some(storage)) = window().local_storage() {
            let _ = storage.set_item(STORAGE_KEY, theme);
        }
    };
    view! {
        <button type="button" class="button button--quiet" on:click=toggle
            aria-label=move || if dark.get() { "Switch to the light theme" } else { "Switch to the dark theme" }>
            {move || if dark.get() { "☀" } else { "☾" }}
        </button>
    }
}
