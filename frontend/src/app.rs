use leptos::prelude::*;
use leptos_router::components::{ParentRoute, Route, Router, Routes};
use leptos_router::path;

use crate::components::Shell;
use crate::pages::admin::{AccountsPage, AuditPage, SettingsPage, SsoPage, UsersPage};
use crate::pages::anomalies::AnomaliesPage;
use crate::pages::apps::{AppPage, AppsPage};
use crate::pages::budgets::BudgetsPage;
use crate::pages::clusters::{ClusterPage, ClustersPage};
use crate::pages::costs::CostsPage;
use crate::pages::imports::ImportsPage;
use crate::pages::invitation::InvitationPage;
use crate::pages::overview::OverviewPage;
use crate::pages::reset_password::ResetPasswordPage;
use crate::pages::setup::SetupPage;
use crate::pages::sign_in::SignInPage;
use crate::pages::tokens::TokensPage;
use crate::session::Session;

/// The application root: the session, and the routes. Pages of single-use links and the
/// sign-in page stand alone; every other page is inside the signed-in shell.
#[component]
pub fn App() -> impl IntoView {
    Session::provide();
    view! {
        <Router>
            <Routes fallback=|| view! { <main class="landing"><h1>"Page not found"</h1><a href="/">"Go to the overview"</a></main> }>
                <Route path=path!("/sign-in") view=SignInPage/>
                <Route path=path!("/setup") view=SetupPage/>
                <Route path=path!("/invitation") view=InvitationPage/>
                <Route path=path!("/reset-password") view=ResetPasswordPage/>
                <ParentRoute path=path!("") view=Shell>
                    <Route path=path!("/") view=OverviewPage/>
                    <Route path=path!("/clusters") view=ClustersPage/>
                    <Route path=path!("/clusters/:id") view=ClusterPage/>
                    <Route path=path!("/apps") view=AppsPage/>
                    <Route path=path!("/apps/:name") view=AppPage/>
                    <Route path=path!("/costs") view=CostsPage/>
                    <Route path=path!("/costs/imports") view=ImportsPage/>
                    <Route path=path!("/anomalies") view=AnomaliesPage/>
                    <Route path=path!("/budgets") view=BudgetsPage/>
                    <Route path=path!("/admin/accounts") view=AccountsPage/>
                    <Route path=path!("/admin/users") view=UsersPage/>
                    <Route path=path!("/admin/sso") view=SsoPage/>
                    <Route path=path!("/admin/audit") view=AuditPage/>
                    <Route path=path!("/admin/settings") view=SettingsPage/>
                    <Route path=path!("/admin/tokens") view=TokensPage/>
                </ParentRoute>
            </Routes>
        </Router>
    }
}
