use leptos::prelude::*;
use leptos_router::components::A;
use leptos_router::hooks::use_params_map;
use nimbus_api_types::ErrorCode;
use nimbus_api_types::clouds::App;
use nimbus_api_types::identity::Page;

use super::cost_text;
use crate::api::{self, ApiError};
use crate::components::loaded;
use crate::session::use_session;

/// One app: the clusters and clouds it runs in, its replica health and cost.
#[component]
pub fn AppPage() -> impl IntoView {
    let session = use_session();
    let params = use_params_map();
    let data = LocalResource::new(move || {
        session.inventory_changes.track();
        let name = params.with(|params| params.get("name")).unwrap_or_default();
        async move {
            let query = api::query(&[("q", name.clone()), ("limit", "200".into())]);
            api::get::<Page<App>>(&format!("/api/v1/apps{query}"))
                .await?
                .items
                .into_iter()
                .find(|app| app.name == name)
                .ok_or_else(|| ApiError {
                    code: Some(ErrorCode::NotFound),
                    message: format!("no app is named {name}"),
                })
        }
    });
    view! {
        <p><A href="/apps">"← Apps"</A></p>
        {move || loaded(data.get(), |app: App| view! {
            <h1>{app.name.clone()}</h1>
            <dl class="facts">
                <dt>"Replicas ready"</dt><dd>{app.replicas_ready}" of "{app.replicas_desired}</dd>
                <dt>"Workloads"</dt><dd>{app.workloads}" ("{app.unhealthy_workloads}" unhealthy)"</dd>
                <dt>"Cost this month"</dt><dd>{cost_text(&app)}</dd>
            </dl>
            <section class="panel">
                <h2>"Runs in "{app.cluster_count}" clusters"</h2>
                <table class="table" aria-label="Clusters of the app">
                    <thead><tr><th scope="col">"Cluster"</th><th scope="col">"Cloud"</th></tr></thead>
                    <tbody>{app.clusters.into_iter().map(|cluster| view! {
                        <tr><td><A href=format!("/clusters/{}", cluster.cluster_id.0)>{cluster.name}</A></td>
                            <td>{cluster.provider.as_str()}</td></tr>
                    }).collect_view()}</tbody>
                </table>
            </section>
        })}
    }
}
