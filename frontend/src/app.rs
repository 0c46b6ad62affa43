use leptos::prelude::*;

use crate::pages::landing::LandingPage;

/// The application root. Routing arrives with the dashboard; until then every path shows the
/// signed-out landing page.
#[component]
pub fn App() -> impl IntoView {
    view! { <LandingPage/> }
}
