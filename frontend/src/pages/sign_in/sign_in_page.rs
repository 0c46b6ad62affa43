use leptos::prelude::*;
use leptos_router::components::Redirect;
use leptos_router::hooks::use_query_map;
use nimbus_api_types::identity::Login;

use super::attempt::{AttemptError, SecondFactorField, SignInAttempt};
use super::single_sign_on::{LinkAccountForm, ProviderButtons, load_providers};
use crate::session::{SessionState, use_session};

/// Sign-in with a local account (and the authenticator code when the account has a second
/// factor), beside what Nimbus is; the tenant's single sign-on buttons when the URL names the
/// tenant (`?tenant=acme`) or the address typed has a domain one of its providers admits.
/// `?sso_error=` says why a single sign-on failed; `?link=1` links a provider sign-in to the
/// existing account. Signed-in visitors go straight on.
#[component]
pub fn SignInPage() -> impl IntoView {
    let session = use_session();
    let query = use_query_map();
    let email = RwSignal::new(String::new());
    let password = RwSignal::new(String::new());
    let attempt = SignInAttempt::new();
    let (tenant, sso_error, linking, next) = query.with_untracked(|query| {
        (
            query.get("tenant"),
            query.get("sso_error"),
            query.get("link").is_some(),
            safe_next(query.get("next").as_deref()),
        )
    });
    let providers = RwSignal::new(Vec::new());
    let tenant_in_url = tenant.is_some();
    if let Some(slug) = tenant {
        load_providers(providers, ("tenant", slug));
    }
    // Without a tenant in the URL, the address's domain finds its organization's buttons.
    let on_email_done = move |_| {
        let typed = email.get_untracked();
        if !tenant_in_url && typed.contains('@') {
            load_providers(providers, ("email", typed));
        }
    };
    let on_submit = move |event: leptos::ev::SubmitEvent| {
        event.prevent_default();
        let login = Login {
            email: email.get_untracked(),
            password: password.get_untracked(),
            tenant: query.with_untracked(|query| query.get("tenant")),
            totp_code: attempt.code(),
        };
        attempt.submit(session, "/api/v1/auth/login", login);
    };
    move || {
        if matches!(session.state.get(), SessionState::SignedIn(_)) {
            let path = next.clone();
            return view! { <Redirect path/> }.into_any();
        }
        let sign_in = if linking {
            view! { <LinkAccountForm/> }.into_any()
        } else {
            view! {
                <ProviderButtons providers next=next.clone()/>
                <form class="form" on:submit=on_submit aria-label="Sign in">
                    <label>"E-mail address"
                        <input type="email" name="email" required autocomplete="username"
                            prop:value=move || email.get()
                            on:input:target=move |ev| email.set(ev.target().value())
                            on:change=on_email_done/>
                    </label>
                    <label>"Password"
                        <input type="password" name="password" required autocomplete="current-password"
                            prop:value=move || password.get()
                            on:input:target=move |ev| password.set(ev.target().value())/>
                    </label>
                    <SecondFactorField attempt/>
                    <button class="button button--primary" type="submit" disabled=move || attempt.busy.get()>"Sign in"</button>
                </form>
                <AttemptError attempt/>
            }
            .into_any()
        };
        view! {
            <main class="landing">
                <header class="landing__brand">
                    <span class="landing__logo" aria-hidden="true">"☁"</span>
                    <h1>"Nimbus"</h1>
                </header>
                <p class="landing__pitch">"Every cloud's clusters, apps and real bills, in one place."</p>
                {sso_error.clone().map(|message| view! {
                    <p class="notice notice--error" role="alert">"Single sign-on failed: " {message}</p>
                })}
                {sign_in}
                <ul class="landing__points">
                    <li>"Clusters and workloads from AWS, Azure, Google Cloud, Alibaba Cloud and any Kubernetes."</li>
                    <li>"Invoiced and amortized cost in one FOCUS ledger, allocated to your projects."</li>
                    <li>"Tenants, roles and an audit log that hold for every cloud."</li>
                </ul>
                <nav class="landing__actions" aria-label="More">
                    <a class="button" href="/api/docs">"API reference"</a>
                </nav>
            </main>
        }
        .into_any()
    }
}

/// Where to go after signing in: `next` when it is a path of this site, else the overview.
/// Anything that could leave the site (`//host`, `/\host`, `https://…`) is refused.
fn safe_next(next: Option<&str>) -> String {
    match next {
        Some(path) if nimbus_api_types::sso::same_site_path(path) => path.to_owned(),
        _ => "/".to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::safe_next;

    #[test]
    fn only_paths_of_this_site_are_followed_after_sign_in() {
        assert_eq!(
            safe_next(Some("/clusters?provider=aws")),
            "/clusters?provider=aws"
        );
        for outside in [
            "//evil.example",
            "/\\evil.example",
            "https://evil.example/",
            "evil",
            "/a\nb",
        ] {
            assert_eq!(safe_next(Some(outside)), "/", "{outside}");
        }
        assert_eq!(safe_next(None), "/");
    }
}
