//! The sign-in page's single sign-on: the buttons of a tenant's identity providers, and the
//! form that links a provider sign-in to the existing account with its address.

use leptos::prelude::*;
use leptos::task::spawn_local;
use nimbus_api_types::sso::{LinkAccount, PendingLink, SignInProvider};

use super::attempt::{AttemptError, SecondFactorField, SignInAttempt};
use crate::api;
use crate::components::Loading;
use crate::session::use_session;

/// Loads the buttons of the tenant `slug`, or of the tenants that admit `email`'s domain.
pub fn load_providers(found: RwSignal<Vec<SignInProvider>>, by: (&'static str, String)) {
    spawn_local(async move {
        let path = format!("/api/v1/auth/sso/providers{}", api::query(&[by]));
        // No buttons is the page without single sign-on: nothing to report.
        found.set(api::get(&path).await.unwrap_or_default());
    });
}

/// "Sign in with …" for each provider: a plain link, since the browser leaves for the provider.
#[component]
pub fn ProviderButtons(providers: RwSignal<Vec<SignInProvider>>, next: String) -> impl IntoView {
    move || {
        let providers = providers.get();
        if providers.is_empty() {
            return None;
        }
        let several_tenants = providers
            .iter()
            .any(|provider| provider.tenant != providers[0].tenant);
        let buttons = providers
            .into_iter()
            .map(|provider| {
                let href = format!(
                    "/api/v1/auth/sso/start{}",
                    api::query(&[
                        ("tenant", provider.tenant.clone()),
                        ("provider", provider.id.to_string()),
                        ("next", next.clone()),
                    ])
                );
                let label = if several_tenants {
                    format!("Sign in with {} ({})", provider.name, provider.tenant_name)
                } else {
                    format!("Sign in with {}", provider.name)
                };
                // `rel=external`: a full navigation to the server, not a route of the dashboard.
                view! { <li><a class="button sso__button" href=href rel="external">{label}</a></li> }
            })
            .collect_view();
        Some(view! {
            <nav class="sso" aria-label="Single sign-on">
                <ul class="sso__buttons">{buttons}</ul>
                <p class="sso__or">"or with your e-mail address and password"</p>
            </nav>
        })
    }
}

/// Links the provider sign-in waiting in this browser to the existing account with its
/// address: that account's password (and code) prove it is the same person.
#[component]
pub fn LinkAccountForm() -> impl IntoView {
    let session = use_session();
    let pending = LocalResource::new(|| api::get::<PendingLink>("/api/v1/auth/sso/link"));
    let password = RwSignal::new(String::new());
    let attempt = SignInAttempt::new();
    let on_submit = move |event: leptos::ev::SubmitEvent| {
        event.prevent_default();
        let request = LinkAccount {
            password: password.get_untracked(),
            totp_code: attempt.code(),
        };
        attempt.submit(session, "/api/v1/auth/sso/link", request);
    };
    move || {
        let pending = match pending.get() {
            None => return view! { <Loading/> }.into_any(),
            Some(Err(err)) => {
                return view! { <p class="notice notice--error" role="alert">{err.to_string()}</p> }
                    .into_any();
            }
            Some(Ok(pending)) => pending,
        };
        view! {
            <form class="form" on:submit=on_submit aria-label="Link your account">
                <p>
                    "You signed in with " <strong>{pending.provider.clone()}</strong>
                    " as " <strong>{pending.email.clone()}</strong>
                    ". Nimbus already has an account with this address: enter its password once to link the two. From then on "
                    {pending.provider}" signs you in to it."
                </p>
                <label>"Password of " {pending.email}
                    <input type="password" name="password" required autocomplete="current-password"
                        prop:value=move || password.get()
                        on:input:target=move |ev| password.set(ev.target().value())/>
                </label>
                <SecondFactorField attempt/>
                <button class="button button--primary" type="submit" disabled=move || attempt.busy.get()>"Link and sign in"</button>
                <AttemptError attempt/>
            </form>
        }
        .into_any()
    }
}
