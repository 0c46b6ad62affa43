use leptos::prelude::*;
use leptos_router::components::A;
use nimbus_api_types::clouds::App;
use nimbus_api_types::identity::Page;

use super::cost_text;
use crate::api;
use crate::components::{Empty, Pager, Paging, loaded};
use crate::session::use_session;

/// Apps across every cluster and cloud, with replica health and this month's cost.
#[component]
pub fn AppsPage() -> impl IntoView {
    let session = use_session();
    let search = RwSignal::new(String::new());
    let only_unhealthy = RwSignal::new(false);
    let paging = Paging::new();
    let data = LocalResource::new(move || {
        session.inventory_changes.track();
        let query = api::query(&[
            ("q", search.get()),
            (
                "unhealthy",
                if only_unhealthy.get() {
                    "true".into()
                } else {
                    String::new()
                },
            ),
            ("project_id", session.project_param()),
            ("limit", "50".into()),
            ("cursor", paging.cursor.get()),
        ]);
        async move { api::get::<Page<App>>(&format!("/api/v1/apps{query}")).await }
    });
    view! {
        <h1>"Apps"</h1>
        <form class="filters" role="search" on:submit=|ev| ev.prevent_default()>
            <label>"Search"
                <input type="search" name="q" placeholder="App name"
                    on:change:target=move |ev| { search.set(ev.target().value()); paging.reset(); }/>
            </label>
            <label class="filters__check">
                <input type="checkbox" name="unhealthy"
                    on:change:target=move |ev| { only_unhealthy.set(ev.target().checked()); paging.reset(); }/>
                "Only apps with unhealthy replicas"
            </label>
        </form>
        {move || loaded(data.get(), move |page: Page<App>| {
            if page.items.is_empty() {
                return view! {
                    <Empty message="No apps match.">
                        "Apps come from the app.kubernetes.io/name and part-of labels of synced workloads, or from app rules."
                    </Empty>
                }.into_any();
            }
            let next = page.next_cursor.clone();
            view! {
                <table class="table" aria-label="Apps">
                    <thead><tr>
                        <th scope="col">"App"</th><th scope="col">"Clusters"</th><th scope="col">"Workloads"</th>
                        <th scope="col">"Replicas ready"</th><th scope="col">"Cost this month"</th>
                    </tr></thead>
                    <tbody>
                        {page.items.into_iter().map(|app| {
                            let unhealthy = app.unhealthy_workloads > 0;
                            let cost = cost_text(&app);
                            view! {
                                <tr>
                                    <td><A href=format!("/apps/{}", app.name)>{app.name.clone()}</A></td>
                                    <td>{app.cluster_count}</td>
                                    <td>{app.workloads}</td>
                                    <td class:warn=unhealthy>{app.replicas_ready}" / "{app.replicas_desired}
                                        {unhealthy.then(|| view! { <span class="badge badge--warn">{app.unhealthy_workloads}" unhealthy"</span> })}</td>
                                    <td>{cost}</td>
                                </tr>
                            }
                        }).collect_view()}
                    </tbody>
                </table>
                <Pager paging next/>
            }.into_any()
        })}
    }
}
