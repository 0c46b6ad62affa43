use leptos::prelude::*;

use crate::pages::invitation::InvitationPage;
use crate::pages::landing::LandingPage;
use crate::pages::reset_password::ResetPasswordPage;
use crate::pages::setup::SetupPage;

/// The application root. Full routing arrives with the dashboard; until then the pages of the
/// single-use links the server hands out have their paths, and every other path shows the
/// signed-out landing page.
#[component]
pub fn App() -> impl IntoView {
    match window().location().pathname().unwrap_or_default().as_str() {
        "/setup" => view! { <SetupPage/> }.into_any(),
        "/invitation" => view! { <InvitationPage/> }.into_any(),
        "/reset-password" => view! { <ResetPasswordPage/> }.into_any(),
        _ => view! { <LandingPage/> }.into_any(),
    }
}
