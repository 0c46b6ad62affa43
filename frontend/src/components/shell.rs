use leptos::prelude::*;
use leptos::task::spawn_local;
use leptos_router::components::{A, Outlet, Redirect};
use leptos_router::hooks::use_navigate;
use nimbus_api_types::identity::{Me, Page, Project, SignedOut, SwitchTenant};
use nimbus_api_types::ids::{ProjectId, TenantId};
use nimbus_api_types::rbac::Permission;

use crate::api;
use crate::components::Loading;
use crate::session::{Session, SessionState, use_session};
use crate::theme;

/// What the frame is rendered for: it renders anew only when this changes (signing in or out,
/// switching tenant), so that pages start over with the new tenant's data — and not when the
/// caller's details change (a renamed tenant).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Frame {
    Loading,
    SignedOut,
    SignedIn(Option<TenantId>),
}

/// The frame of every signed-in page: navigation, tenant switcher, project filter, user menu
/// and live alerts around the page itself. Signed-out visitors go to the sign-in page.
#[component]
pub fn Shell() -> impl IntoView {
    let session = use_session();
    let frame = Memo::new(move |_| {
        session.state.with(|state| match state {
            SessionState::Loading => Frame::Loading,
            SessionState::SignedOut => Frame::SignedOut,
            SessionState::SignedIn(me) => Frame::SignedIn(me.tenant.as_ref().map(|t| t.id)),
        })
    });
    move || match frame.get() {
        Frame::Loading => view! { <Loading/> }.into_any(),
        Frame::SignedOut => {
            // Back to the page asked for once signed in.
            let here = window().location();
            let wanted = format!(
                "{}{}",
                here.pathname().unwrap_or_default(),
                here.search().unwrap_or_default()
            );
            let path = format!("/sign-in{}", api::query(&[("next", wanted)]));
            view! { <Redirect path/> }.into_any()
        }
        Frame::SignedIn(_) => view! {
            <a class="skip-link" href="#content">"Skip to content"</a>
            <div class="shell">
                <Navigation/>
                <div class="shell__main">
                    <TopBar/>
                    <AlertToast/>
                    <main id="content" class="page" tabindex="-1"><Outlet/></main>
                </div>
            </div>
        }
        .into_any(),
    }
}

#[component]
fn Navigation() -> impl IntoView {
    let session = use_session();
    let link = move |href: &'static str, label: &'static str, permission: Permission| {
        move || {
            session.can(permission).then(|| {
                view! { <li><A href=href exact=matches!(href, "/" | "/costs")>{label}</A></li> }
            })
        }
    };
    view! {
        <nav class="sidebar" aria-label="Main">
            <A href="/" attr:class="sidebar__brand"><span aria-hidden="true">"☁ "</span>"Nimbus"</A>
            <ul>
                {link("/", "Overview", Permission::InventoryRead)}
                {link("/clusters", "Clusters", Permission::InventoryRead)}
                {link("/apps", "Apps", Permission::AppsRead)}
                {link("/costs", "Costs", Permission::CostRead)}
                {link("/costs/imports", "Bill imports", Permission::CostRead)}
                {link("/anomalies", "Anomalies", Permission::CostRead)}
                {link("/budgets", "Budgets", Permission::CostRead)}
            </ul>
            {move || administration(session).then(|| view! {
                <p class="sidebar__heading">"Administration"</p>
                <ul>
                    {link("/admin/accounts", "Cloud accounts", Permission::CloudsWrite)}
                    {link("/admin/users", "Users and roles", Permission::UsersManage)}
                    {link("/admin/sso", "Single sign-on", Permission::IdentityProvidersManage)}
                    {link("/admin/audit", "Audit log", Permission::AuditRead)}
                    {link("/admin/tokens", "API tokens", Permission::TokensManage)}
                    {link("/admin/settings", "Tenant settings", Permission::TenantSettings)}
                </ul>
            })}
        </nav>
    }
}

/// Whether the caller may administer anything: read-only roles see no administration at all.
fn administration(session: Session) -> bool {
    [
        Permission::CloudsWrite,
        Permission::UsersManage,
        Permission::RolesManage,
        Permission::AuditRead,
        Permission::TokensManage,
        Permission::TenantSettings,
    ]
    .into_iter()
    .any(|permission| session.can(permission))
}

#[component]
fn TopBar() -> impl IntoView {
    let session = use_session();
    let me = move || session.me();
    // The whole frame renders anew on a tenant switch, and this with it.
    let projects = LocalResource::new(|| async {
        api::get::<Page<Project>>("/api/v1/projects?limit=200").await
    });
    let on_tenant = move |slug: String| {
        spawn_local(async move {
            if let Ok(me) =
                api::put::<_, Me>("/api/v1/me/tenant", &SwitchTenant { tenant: slug }).await
            {
                session.signed_in(me);
            }
        });
    };
    let on_project = move |id: String| {
        session.project.set(id.parse().ok().map(ProjectId));
    };
    view! {
        <header class="topbar">
            <label class="topbar__field">"Tenant"
                <select on:change:target=move |ev| on_tenant(ev.target().value())>
                    {move || me().map(|me| {
                        let current = me.tenant.map(|tenant| tenant.id);
                        me.tenants.into_iter().map(|tenant| {
                            let selected = Some(tenant.id) == current;
                            view! { <option value=tenant.slug selected=selected>{tenant.name}</option> }
                        }).collect_view()
                    })}
                </select>
            </label>
            <label class="topbar__field">"Project"
                <select on:change:target=move |ev| on_project(ev.target().value())>
                    <option value="">"All projects"</option>
                    {move || projects.get().and_then(Result::ok).map(|page| {
                        page.items.into_iter().map(|project| view! {
                            <option value=project.id.0.to_string()>{project.name}</option>
                        }).collect_view()
                    })}
                </select>
            </label>
            <span class="topbar__spacer"></span>
            <theme::ThemeToggle/>
            <UserMenu/>
        </header>
    }
}

#[component]
fn UserMenu() -> impl IntoView {
    let session = use_session();
    let user = move || session.me().map(|me| me.user);
    let navigate = use_navigate();
    let sign_out = move |_| {
        let navigate = navigate.clone();
        spawn_local(async move {
            // Whatever the server says, this browser is signed out from here on.
            let signed_out = api::post::<_, SignedOut>("/api/v1/auth/logout", &()).await;
            session.signed_out();
            // Signed in through a provider: end its session too (it sends the browser back).
            if let Some(url) = signed_out
                .ok()
                .and_then(|answer| answer.provider_logout_url)
                && window().location().set_href(&url).is_ok()
            {
                return;
            }
            navigate("/sign-in", Default::default());
        });
    };
    view! {
        <details class="usermenu">
            <summary aria-label="User menu">{move || user().map(|user| user.display_name)}</summary>
            <div class="usermenu__panel">
                <p class="usermenu__email">{move || user().map(|user| user.email)}</p>
                <button type="button" class="button" on:click=sign_out>"Sign out"</button>
            </div>
        </details>
    }
}

/// The newest budget alert or anomaly, as it arrives.
#[component]
fn AlertToast() -> impl IntoView {
    let Session { alert, .. } = use_session();
    move || {
        alert.get().map(|event| {
            let title = event
                .data
                .get("title")
                .and_then(|title| title.as_str())
                .unwrap_or("A cost alert arrived")
                .to_owned();
            view! {
                <div class="toast" role="alert">
                    <span>{title}</span>
                    <button type="button" class="button" aria-label="Dismiss alert"
                        on:click=move |_| alert.set(None)>"×"</button>
                </div>
            }
        })
    }
}
