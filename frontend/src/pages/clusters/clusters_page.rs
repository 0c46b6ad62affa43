use leptos::prelude::*;
use leptos_router::components::A;
use leptos_router::hooks::use_query_map;
use nimbus_api_types::clouds::{CloudProvider, Cluster};
use nimbus_api_types::identity::Page;

use crate::api;
use crate::clock;
use crate::components::{Empty, HealthBadge, Pager, Paging, loaded};
use crate::format;
use crate::session::use_session;

/// Rows a page of the table shows.
const PAGE_SIZE: &str = "50";

/// Every cloud's clusters: filtered, searched and paged by the server, so the first page comes
/// as fast with 10,000 clusters as with ten.
#[component]
pub fn ClustersPage() -> impl IntoView {
    let session = use_session();
    let url = use_query_map();
    let provider = RwSignal::new(
        url.with_untracked(|q| q.get("provider"))
            .unwrap_or_default(),
    );
    let region = RwSignal::new(String::new());
    let search = RwSignal::new(String::new());
    let paging = Paging::new();
    let data = LocalResource::new(move || {
        session.inventory_changes.track();
        let query = api::query(&[
            ("provider", provider.get()),
            ("region", region.get()),
            ("q", search.get()),
            ("project_id", session.project_param()),
            ("limit", PAGE_SIZE.into()),
            ("cursor", paging.cursor.get()),
        ]);
        async move { api::get::<Page<Cluster>>(&format!("/api/v1/clusters{query}")).await }
    });
    view! {
        <h1>"Clusters"</h1>
        <form class="filters" role="search" on:submit=|ev| ev.prevent_default()>
            <label>"Search"
                <input type="search" name="q" placeholder="Name or provider id"
                    on:change:target=move |ev| { search.set(ev.target().value()); paging.reset(); }/>
            </label>
            <label>"Provider"
                <select name="provider" on:change:target=move |ev| { provider.set(ev.target().value()); paging.reset(); }>
                    <option value="">"All providers"</option>
                    {CloudProvider::ALL.iter().map(|p| view! {
                        <option value=p.as_str() selected=move || provider.get() == p.as_str()>{p.as_str()}</option>
                    }).collect_view()}
                </select>
            </label>
            <label>"Region"
                <input type="text" name="region" placeholder="e.g. eu-west-1"
                    on:change:target=move |ev| { region.set(ev.target().value()); paging.reset(); }/>
            </label>
        </form>
        {move || loaded(data.get(), move |page: Page<Cluster>| {
            if page.items.is_empty() {
                return view! {
                    <Empty message="No clusters match.">
                        "Clear the filters, or connect a cloud account or a Kubernetes cluster to see its clusters here."
                    </Empty>
                }.into_any();
            }
            let now = clock::now();
            let next = page.next_cursor.clone();
            view! {
                <table class="table" aria-label="Clusters">
                    <thead><tr>
                        <th scope="col">"Name"</th><th scope="col">"Provider"</th><th scope="col">"Region"</th>
                        <th scope="col">"Version"</th><th scope="col">"Nodes"</th><th scope="col">"Health"</th>
                        <th scope="col">"Last contact"</th>
                    </tr></thead>
                    <tbody>
                        {page.items.into_iter().map(|cluster| view! {
                            <tr>
                                <td><A href=format!("/clusters/{}", cluster.id.0)>{cluster.name.clone()}</A></td>
                                <td>{cluster.provider.as_str()}" · "{cluster.distribution.clone()}</td>
                                <td>{cluster.region.clone().unwrap_or_default()}</td>
                                <td>{cluster.version.clone().unwrap_or_default()}</td>
                                <td>{cluster.node_count.map(|n| n.to_string()).unwrap_or_default()}</td>
                                <td><HealthBadge health=cluster.health/></td>
                                <td>{format::age(cluster.last_contact_at, now)}</td>
                            </tr>
                        }).collect_view()}
                    </tbody>
                </table>
                <Pager paging next/>
            }.into_any()
        })}
    }
}
