use leptos::prelude::*;
use nimbus_api_types::identity::PasswordReset;

use crate::api;
use crate::components::{Field, LinkForm};

/// The page of a password-reset link (from `nimbus admin reset-password`).
#[component]
pub fn ResetPasswordPage() -> impl IntoView {
    let password = RwSignal::new(String::new());
    let submit = move || async move {
        let request = PasswordReset {
            token: api::link_secret(),
            new_password: password.get_untracked(),
        };
        api::post_no_content("/api/v1/auth/password-reset", &request)
            .await
            .map_err(|err| err.to_string())?;
        Ok(
            "Your password is set, and every other session of yours has ended. Sign in with it."
                .to_owned(),
        )
    };
    view! {
        <LinkForm
            title="Choose a new password"
            intro="This link works once."
            button="Set the password"
            fields=vec![
                Field { label: "New password (at least 12 characters)", name: "password", kind: "password", autocomplete: "new-password", value: password },
            ]
            submit=submit
        />
    }
}
