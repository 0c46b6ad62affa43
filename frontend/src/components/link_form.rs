use leptos::prelude::*;

/// One labelled input bound to a signal.
#[derive(Clone, Copy)]
pub struct Field {
    pub label: &'static str,
    pub name: &'static str,
    pub kind: &'static str,
    pub autocomplete: &'static str,
    pub value: RwSignal<String>,
}

/// The page behind a single-use link (setup, invitation, password reset): a title, a few fields,
/// one button, and the outcome in words. `submit` runs the request and says what happened.
#[component]
pub fn LinkForm<F, Fut>(
    title: &'static str,
    intro: &'static str,
    button: &'static str,
    fields: Vec<Field>,
    submit: F,
) -> impl IntoView
where
    F: Fn() -> Fut + Copy + 'static,
    Fut: std::future::Future<Output = Result<String, String>> + 'static,
{
    let outcome = RwSignal::new(None::<Result<String, String>>);
    let busy = RwSignal::new(false);
    let on_submit = move |event: leptos::ev::SubmitEvent| {
        event.prevent_default();
        busy.set(true);
        leptos::task::spawn_local(async move {
            outcome.set(Some(submit().await));
            busy.set(false);
        });
    };
    view! {
        <main class="landing">
            <header class="landing__brand">
                <span class="landing__logo" aria-hidden="true">"☁"</span>
                <h1>{title}</h1>
            </header>
            <p class="landing__pitch">{intro}</p>
            <form class="form" on:submit=on_submit>
                {fields.into_iter().map(|field| view! {
                    <label>{field.label}
                        <input type=field.kind name=field.name required autocomplete=field.autocomplete
                            minlength=if field.kind == "password" { "12" } else { "1" }
                            prop:value=move || field.value.get()
                            on:input:target=move |ev| field.value.set(ev.target().value())/>
                    </label>
                }).collect_view()}
                <button class="button button--primary" type="submit" disabled=move || busy.get()>{button}</button>
            </form>
            {move || outcome.get().map(|outcome| match outcome {
                Ok(message) => view! { <p class="notice notice--ok" role="status">{message}</p> }.into_any(),
                Err(message) => view! { <p class="notice notice--error" role="alert">{message}</p> }.into_any(),
            })}
        </main>
    }
}
