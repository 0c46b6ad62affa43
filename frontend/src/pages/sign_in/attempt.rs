//! A password sign-in in flight, shared by the sign-in form and the account-linking form: the
//! authenticator code (its field appears once the server asks for one), the error shown, and
//! whether a request is on its way.

use leptos::prelude::*;
use leptos::task::spawn_local;
use nimbus_api_types::ErrorCode;
use nimbus_api_types::identity::Me;
use serde::Serialize;

use crate::api;
use crate::session::Session;

#[derive(Clone, Copy)]
pub struct SignInAttempt {
    code: RwSignal<String>,
    code_asked: RwSignal<bool>,
    pub error: RwSignal<Option<String>>,
    pub busy: RwSignal<bool>,
}

impl SignInAttempt {
    pub fn new() -> Self {
        Self {
            code: RwSignal::new(String::new()),
            code_asked: RwSignal::new(false),
            error: RwSignal::new(None),
            busy: RwSignal::new(false),
        }
    }

    /// The authenticator code typed, if any.
    pub fn code(self) -> Option<String> {
        Some(self.code.get_untracked()).filter(|code| !code.is_empty())
    }

    /// Posts `body` to `path`: signed in with the answer, or the error shown (and the code
    /// field when the server asks for the second factor).
    pub fn submit<B: Serialize + 'static>(self, session: Session, path: &'static str, body: B) {
        self.busy.set(true);
        self.error.set(None);
        spawn_local(async move {
            match api::post::<_, Me>(path, &body).await {
                Ok(me) => session.signed_in(me),
                Err(err) => {
                    if err.code == Some(ErrorCode::SecondFactorRequired) {
                        self.code_asked.set(true);
                    }
                    self.error.set(Some(err.to_string()));
                }
            }
            self.busy.set(false);
        });
    }
}

/// The authenticator code's field, once the server asked for it.
#[component]
pub fn SecondFactorField(attempt: SignInAttempt) -> impl IntoView {
    let code = attempt.code;
    move || {
        attempt.code_asked.get().then(|| {
            view! {
                <label>"Authenticator code"
                    <input type="text" name="totp_code" inputmode="numeric" autocomplete="one-time-code"
                        prop:value=move || code.get()
                        on:input:target=move |ev| code.set(ev.target().value())/>
                </label>
            }
        })
    }
}

/// What went wrong with the last attempt.
#[component]
pub fn AttemptError(attempt: SignInAttempt) -> impl IntoView {
    move || {
        attempt
            .error
            .get()
            .map(|message| view! { <p class="notice notice--error" role="alert">{message}</p> })
    }
}
