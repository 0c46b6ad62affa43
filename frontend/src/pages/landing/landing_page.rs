use leptos::prelude::*;

/// What a signed-out visitor sees: what Nimbus is and where to go next.
#[component]
pub fn LandingPage() -> impl IntoView {
    view! {
        <main class="landing">
            <header class="landing__brand">
                <span class="landing__logo" aria-hidden="true">"☁"</span>
                <h1>"Nimbus"</h1>
            </header>
            <p class="landing__pitch">
                "Every cloud's clusters, apps and real bills, in one place."
            </p>
            <ul class="landing__points">
                <li>"Clusters and workloads from AWS, Azure, Google Cloud, Alibaba Cloud and any Kubernetes."</li>
                <li>"Invoiced and amortized cost in one FOCUS ledger, allocated to your projects."</li>
                <li>"Tenants, roles and an audit log that hold for every cloud."</li>
            </ul>
            <nav class="landing__actions" aria-label="Get started">
                <a class="button button--primary" href="/sign-in">"Sign in"</a>
                <a class="button" href="/api/docs">"API reference"</a>
            </nav>
        </main>
    }
}
