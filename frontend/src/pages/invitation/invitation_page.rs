use leptos::prelude::*;
use nimbus_api_types::identity::{AcceptInvitation, TenantSummary};

use crate::api;
use crate::components::{Field, LinkForm};

/// The page of an invitation link: joins the tenant, creating the account when the invited
/// address has none (an existing account confirms with its password).
#[component]
pub fn InvitationPage() -> impl IntoView {
    let name = RwSignal::new(String::new());
    let password = RwSignal::new(String::new());
    let submit = move || async move {
        let request = AcceptInvitation {
            token: api::link_secret(),
            display_name: Some(name.get_untracked()),
            password: password.get_untracked(),
        };
        let tenant: TenantSummary = api::post("/api/v1/invitations/accept", &request)
            .await
            .map_err(|err| err.to_string())?;
        Ok(format!(
            "You joined {}. Sign in with your e-mail address and password.",
            tenant.name
        ))
    };
    view! {
        <LinkForm
            title="Join your team on Nimbus"
            intro="This invitation works once. New here? Choose your name and a password. Already have an account? Enter its password."
            button="Accept the invitation"
            fields=vec![
                Field { label: "Your name", name: "name", kind: "text", autocomplete: "name", value: name },
                Field { label: "Password (at least 12 characters)", name: "password", kind: "password", autocomplete: "new-password", value: password },
            ]
            submit=submit
        />
    }
}
