use leptos::prelude::*;
use nimbus_api_types::clouds::Health;

/// A cluster's or VM's connection health as a labelled badge (the word, not only a colour).
#[component]
pub fn HealthBadge(health: Health) -> impl IntoView {
    let (class, word) = match health {
        Health::Connected => ("badge badge--ok", "Connected"),
        Health::Degraded => ("badge badge--warn", "Degraded"),
        Health::Lost => ("badge badge--bad", "Lost"),
    };
    view! { <span class=class>{word}</span> }
}
