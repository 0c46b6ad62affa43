use leptos::prelude::*;
use leptos::task::spawn_local;
use nimbus_api_types::cost::{Anomaly, AnomalySeverity, AnomalyStatus, AnomalyStatusInput};
use nimbus_api_types::identity::Page;
use nimbus_api_types::rbac::Permission;

use crate::api::{self, ApiError};
use crate::components::{Empty, Failure, Pager, Paging, loaded};
use crate::format;
use crate::session::use_session;

/// Days of unusual spend per service, with what drove them; acknowledge or dismiss each.
#[component]
pub fn AnomaliesPage() -> impl IntoView {
    let session = use_session();
    let status = RwSignal::new("open".to_owned());
    let changed = RwSignal::new(0_u32);
    let failure = RwSignal::new(None::<ApiError>);
    let paging = Paging::new();
    let data = LocalResource::new(move || {
        session.cost_changes.track();
        changed.track();
        let query = api::query(&[
            ("status", status.get()),
            ("project", session.project_param()),
            ("limit", "50".into()),
            ("cursor", paging.cursor.get()),
        ]);
        async move { api::get::<Page<Anomaly>>(&format!("/api/v1/anomalies{query}")).await }
    });
    let set_status = move |id: nimbus_api_types::ids::AnomalyId, to: AnomalyStatus| {
        spawn_local(async move {
            match api::put::<_, AnomalyStatusInput>(
                &format!("/api/v1/anomalies/{}/status", id.0),
                &AnomalyStatusInput { status: to },
            )
            .await
            {
                Ok(_) => {
                    failure.set(None);
                    changed.update(|n| *n += 1);
                }
                Err(err) => failure.set(Some(err)),
            }
        });
    };
    view! {
        <h1>"Cost anomalies"</h1>
        <form class="filters" on:submit=|ev| ev.prevent_default()>
            <label>"Status"<select name="status" on:change:target=move |ev| { status.set(ev.target().value()); paging.reset(); }>
                <option value="open" selected=true>"Open"</option>
                <option value="acknowledged">"Acknowledged"</option>
                <option value="dismissed">"Dismissed"</option>
                <option value="">"All"</option>
            </select></label>
        </form>
        {move || failure.get().map(|error| view! { <Failure error/> })}
        {move || loaded(data.get(), move |page: Page<Anomaly>| {
            if page.items.is_empty() {
                return view! { <Empty message="No anomalies here.">"Nimbus compares each day's spend per service with its usual level after every import."</Empty> }.into_any();
            }
            let can_change = session.can(Permission::CostWrite);
            let next = page.next_cursor.clone();
            view! {
                <table class="table" aria-label="Anomalies">
                    <thead><tr><th scope="col">"Day"</th><th scope="col">"Service"</th><th scope="col">"Severity"</th>
                        <th scope="col" class="num">"Spend"</th><th scope="col" class="num">"Usual"</th><th scope="col">"Driven by"</th>
                        <th scope="col"><span class="visually-hidden">"Actions"</span></th></tr></thead>
                    <tbody>
                        {page.items.into_iter().map(|anomaly| {
                            let id = anomaly.id;
                            let open = anomaly.status == AnomalyStatus::Open;
                            view! {
                                <tr>
                                    <td>{anomaly.day.to_string()}</td>
                                    <td>{anomaly.service_name.clone()}" ("{anomaly.provider.clone()}")"</td>
                                    <td><span class=severity_class(anomaly.severity)>{format!("{:?}", anomaly.severity).to_lowercase()}</span></td>
                                    <td class="num">{format::money(anomaly.spend, &anomaly.currency)}</td>
                                    <td class="num">{format::money(anomaly.baseline, &anomaly.currency)}</td>
                                    <td>{anomaly.contributors.iter().take(3).map(|c| format!("{} {}", c.dimension, c.value)).collect::<Vec<_>>().join("; ")}</td>
                                    <td>{(can_change && open).then(|| view! {
                                        <button type="button" class="button" on:click=move |_| set_status(id, AnomalyStatus::Acknowledged)>"Acknowledge"</button>
                                        " "
                                        <button type="button" class="button" on:click=move |_| set_status(id, AnomalyStatus::Dismissed)>"Dismiss"</button>
                                    })}</td>
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

fn severity_class(severity: AnomalySeverity) -> &'static str {
    match severity {
        AnomalySeverity::Low => "badge",
        AnomalySeverity::Medium => "badge badge--warn",
        AnomalySeverity::High => "badge badge--bad",
    }
}
