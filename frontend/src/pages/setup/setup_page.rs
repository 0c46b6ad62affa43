use leptos::prelude::*;
use leptos::task::spawn_local;
use nimbus_api_types::ErrorBody;
use nimbus_api_types::identity::PlatformSetup;

/// The page of the one-time link the server prints at first start: creates the first platform
/// administrator. The link's secret is in the URL fragment, which browsers never send to servers.
#[component]
pub fn SetupPage() -> impl IntoView {
    let token = window()
        .location()
        .hash()
        .unwrap_or_default()
        .trim_start_matches('#')
        .to_owned();
    let email = RwSignal::new(String::new());
    let name = RwSignal::new(String::new());
    let password = RwSignal::new(String::new());
    let outcome = RwSignal::new(None::<Result<String, String>>);
    let busy = RwSignal::new(false);

    let submit = move |event: leptos::ev::SubmitEvent| {
        event.prevent_default();
        let request = PlatformSetup {
            token: token.clone(),
            email: email.get_untracked(),
            display_name: name.get_untracked(),
            password: password.get_untracked(),
        };
        busy.set(true);
        spawn_local(async move {
            outcome.set(Some(create_admin(&request).await));
            busy.set(false);
        });
    };

    view! {
        <main class="landing">
            <header class="landing__brand">
                <span class="landing__logo" aria-hidden="true">"☁"</span>
                <h1>"Create the first administrator"</h1>
            </header>
            <p class="landing__pitch">"This link works once. The account you create here manages tenants."</p>
            <form class="form" on:submit=submit>
                <label>"E-mail address"
                    <input type="email" name="email" required autocomplete="username"
                        prop:value=move || email.get()
                        on:input:target=move |ev| email.set(ev.target().value())/>
                </label>
                <label>"Your name"
                    <input type="text" name="name" required autocomplete="name"
                        prop:value=move || name.get()
                        on:input:target=move |ev| name.set(ev.target().value())/>
                </label>
                <label>"Password (at least 12 characters; a passphrase is best)"
                    <input type="password" name="password" required minlength="12" autocomplete="new-password"
                        prop:value=move || password.get()
                        on:input:target=move |ev| password.set(ev.target().value())/>
                </label>
                <button class="button button--primary" type="submit" disabled=move || busy.get()>
                    "Create administrator"
                </button>
            </form>
            {move || outcome.get().map(|outcome| match outcome {
                Ok(message) => view! { <p class="notice notice--ok" role="status">{message}</p> }.into_any(),
                Err(message) => view! { <p class="notice notice--error" role="alert">{message}</p> }.into_any(),
            })}
        </main>
    }
}

async fn create_admin(request: &PlatformSetup) -> Result<String, String> {
    let unreachable = |err: gloo_net::Error| format!("Nimbus could not be reached: {err}");
    let response = gloo_net::http::Request::post("/api/v1/auth/setup")
        .json(request)
        .map_err(unreachable)?
        .send()
        .await
        .map_err(unreachable)?;
    if response.ok() {
        return Ok(format!(
            "{} is now a platform administrator. Sign in with this address and password.",
            request.email.trim().to_lowercase()
        ));
    }
    let error = response
        .json::<ErrorBody>()
        .await
        .map(|body| body.error.message)
        .unwrap_or_else(|_| format!("the server answered {}", response.status()));
    Err(capitalized(&error))
}

fn capitalized(message: &str) -> String {
    let mut chars = message.chars();
    chars
        .next()
        .map(|first| first.to_uppercase().chain(chars).collect())
        .unwrap_or_default()
}
