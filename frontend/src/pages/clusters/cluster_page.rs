use leptos::prelude::*;
use leptos_router::components::A;
use leptos_router::hooks::use_params_map;
use nimbus_api_types::clouds::{Cluster, Namespace, Node, Workload};
use nimbus_api_types::cost::CostReport;
use nimbus_api_types::identity::Page;
use nimbus_api_types::rbac::Permission;

use crate::api::{self, ApiError};
use crate::clock;
use crate::components::{HealthBadge, loaded};
use crate::format::{self, TimeRange};
use crate::session::use_session;

/// One cluster: its facts, nodes, namespaces, workloads (first pages) and this month's cost.
#[component]
pub fn ClusterPage() -> impl IntoView {
    let session = use_session();
    let params = use_params_map();
    let id = move || params.with(|params| params.get("id")).unwrap_or_default();
    let data = LocalResource::new(move || {
        session.inventory_changes.track();
        let id = id();
        async move {
            let of_cluster = api::query(&[("cluster_id", id.clone()), ("limit", "100".into())]);
            let cluster = api::get::<Page<Cluster>>(&format!("/api/v1/clusters{of_cluster}"))
                .await?
                .items
                .into_iter()
                .next()
                .ok_or_else(|| ApiError {
                    code: Some(nimbus_api_types::ErrorCode::NotFound),
                    message: "no such cluster".into(),
                })?;
            let nodes = api::get::<Page<Node>>(&format!("/api/v1/nodes{of_cluster}")).await?;
            let namespaces =
                api::get::<Page<Namespace>>(&format!("/api/v1/namespaces{of_cluster}")).await?;
            let workloads =
                api::get::<Page<Workload>>(&format!("/api/v1/workloads{of_cluster}")).await?;
            Ok((cluster, nodes, namespaces, workloads))
        }
    });
    view! {
        {move || loaded(data.get(), |(cluster, nodes, namespaces, workloads): (Cluster, Page<Node>, Page<Namespace>, Page<Workload>)| {
            let name = cluster.name.clone();
            view! {
                <p><A href="/clusters">"← Clusters"</A></p>
                <h1>{cluster.name.clone()}</h1>
                <dl class="facts">
                    <dt>"Provider"</dt><dd>{cluster.provider.as_str()}" · "{cluster.distribution.clone()}</dd>
                    <dt>"Region"</dt><dd>{cluster.region.clone().unwrap_or_default()}</dd>
                    <dt>"Version"</dt><dd>{cluster.version.clone().unwrap_or_default()}</dd>
                    <dt>"Status"</dt><dd>{cluster.status.clone().unwrap_or_default()}</dd>
                    <dt>"Health"</dt><dd><HealthBadge health=cluster.health/>" (last contact "{format::age(cluster.last_contact_at, clock::now())}")"</dd>
                </dl>
                {move || session.can(Permission::CostRead).then(|| view! { <ClusterCost name=name.clone()/> })}
                <section class="panel">
                    <h2>"Nodes ("{nodes.items.len()}{nodes.next_cursor.is_some().then_some("+")}")"</h2>
                    <table class="table" aria-label="Nodes">
                        <thead><tr><th scope="col">"Name"</th><th scope="col">"Status"</th><th scope="col">"Roles"</th><th scope="col">"Kubelet"</th><th scope="col">"Type"</th></tr></thead>
                        <tbody>{nodes.items.into_iter().map(|node| view! {
                            <tr><td>{node.name}</td><td>{node.status}</td><td>{node.roles.join(", ")}</td>
                                <td>{node.kubelet_version.unwrap_or_default()}</td><td>{node.instance_type.unwrap_or_default()}</td></tr>
                        }).collect_view()}</tbody>
                    </table>
                </section>
                <section class="panel">
                    <h2>"Namespaces"</h2>
                    <p>{namespaces.items.into_iter().map(|ns| ns.name).collect::<Vec<_>>().join(", ")}</p>
                </section>
                <section class="panel">
                    <h2>"Workloads"</h2>
                    <table class="table" aria-label="Workloads">
                        <thead><tr><th scope="col">"Namespace"</th><th scope="col">"Name"</th><th scope="col">"Kind"</th><th scope="col">"Ready"</th><th scope="col">"App"</th></tr></thead>
                        <tbody>{workloads.items.into_iter().map(|w| view! {
                            <tr><td>{w.namespace}</td><td>{w.name}</td><td>{w.kind.as_str()}</td>
                                <td>{w.replicas_ready.unwrap_or(0)}" / "{w.replicas_desired.unwrap_or(0)}</td>
                                <td>{w.app.map(|app| view! { <A href=format!("/apps/{app}")>{app.clone()}</A> })}</td></tr>
                        }).collect_view()}</tbody>
                    </table>
                </section>
            }
        })}
    }
}

#[component]
fn ClusterCost(name: String) -> impl IntoView {
    let data = LocalResource::new(move || {
        let (from, to) = TimeRange::ThisMonth.bounds(clock::today());
        let query = api::query(&[
            ("from", from.to_string()),
            ("to", to.to_string()),
            ("cluster", name.clone()),
            ("group_by", "service".into()),
        ]);
        async move { api::get::<CostReport>(&format!("/api/v1/cost{query}")).await }
    });
    view! {
        <section class="panel">
            <h2>"Cost this month"</h2>
            {move || loaded(data.get(), |report: CostReport| {
                if report.totals.is_empty() {
                    return view! { <p>"No bill lines of this cluster this month (tag its resources with the cluster name, or import a bill)."</p> }.into_any();
                }
                view! {
                    <p>{report.totals.iter().map(|t| format::money(t.amount, &t.currency)).collect::<Vec<_>>().join(" + ")}</p>
                }.into_any()
            })}
        </section>
    }
}
