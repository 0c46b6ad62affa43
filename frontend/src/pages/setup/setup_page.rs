use leptos::prelude::*;
use nimbus_api_types::identity::{PlatformSetup, User};

use crate::api;
use crate::components::{Field, LinkForm};

/// The page of the one-time link the server prints at first start: creates the first platform
/// administrator.
#[component]
pub fn SetupPage() -> impl IntoView {
    let email = RwSignal::new(String::new());
    let name = RwSignal::new(String::new());
    let password = RwSignal::new(String::new());
    let submit = move || async move {
        let request = PlatformSetup {
            token: api::link_secret(),
            email: email.get_untracked(),
            display_name: name.get_untracked(),
            password: password.get_untracked(),
        };
        let user: User = api::post("/api/v1/auth/setup", &request)
            .await
            .map_err(|err| err.to_string())?;
        Ok(format!(
            "{} is now a platform administrator. Sign in with this address and password.",
            user.email
        ))
    };
    view! {
        <LinkForm
            title="Create the first administrator"
            intro="This link works once. The account you create here manages tenants."
            button="Create administrator"
            fields=vec![
                Field { label: "E-mail address", name: "email", kind: "email", autocomplete: "username", value: email },
                Field { label: "Your name", name: "name", kind: "text", autocomplete: "name", value: name },
                Field { label: "Password (at least 12 characters; a passphrase is best)", name: "password", kind: "password", autocomplete: "new-password", value: password },
            ]
            submit=submit
        />
    }
}
