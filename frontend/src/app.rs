use leptos::prelude::*;

use crate::pages::landing::LandingPage;
use crate::pages::setup::SetupPage;

/// The application root. Full routing arrives with the dashboard; until then `/setup` (the
/// first-start link) has its page and every other path shows the signed-out landing page.
#[component]
pub fn App() -> impl IntoView {
    let path = window().location().pathname().unwrap_or_default();
    if path == "/setup" {
        view! { <SetupPage/> }.into_any()
    } else {
        view! { <LandingPage/> }.into_any()
    }
}
