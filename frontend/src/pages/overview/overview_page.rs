use chrono::Days;
use leptos::prelude::*;
use leptos_router::components::A;
use nimbus_api_types::clouds::{App, ClusterHealthSummary};
use nimbus_api_types::cost::{Anomaly, Budget, CostReport, ForecastReport, Notification};
use nimbus_api_types::identity::Page;
use nimbus_api_types::rbac::Permission;

use crate::api;
use crate::clock;
use crate::components::{CostChart, Empty, HealthBadge, loaded};
use crate::format::{self, TimeRange};
use crate::session::use_session;

/// One glance: where the money goes, what is broken, what changed. Every figure comes from the
/// API and refreshes when a live event says it changed.
#[component]
pub fn OverviewPage() -> impl IntoView {
    let session = use_session();
    view! {
        <h1>"Overview"</h1>
        {move || session.can(Permission::CostRead).then(|| view! { <SpendCards/> <SpendChart/> })}
        <div class="grid">
            {move || session.can(Permission::InventoryRead).then(|| view! { <ClusterHealth/> })}
            {move || session.can(Permission::AppsRead).then(|| view! { <UnhealthyApps/> })}
            {move || session.can(Permission::CostRead).then(|| view! { <TopServices/> <Anomalies/> })}
            <Activity/>
        </div>
    }
}

#[component]
fn SpendCards() -> impl IntoView {
    let session = use_session();
    let data = LocalResource::new(move || {
        session.cost_changes.track();
        let project = session.project_param();
        async move {
            let scope = api::query(&[("project", project.clone())]);
            let month = api::get::<CostReport>(&format!("/api/v1/cost{scope}")).await?;
            let forecast = api::get::<ForecastReport>(&format!("/api/v1/forecasts{scope}")).await?;
            let budgets = api::get::<Vec<Budget>>("/api/v1/budgets").await?;
            Ok((month, forecast, budgets))
        }
    });
    view! {
        <section class="cards" aria-label="This month's spend">
            {move || loaded(data.get(), |(month, forecast, budgets): (CostReport, ForecastReport, Vec<Budget>)| {
                if month.totals.is_empty() {
                    return view! {
                        <Empty message="No bills yet this month.">
                            <A href="/costs">"Import a bill"</A>
                        </Empty>
                    }.into_any();
                }
                let project = session.project.get_untracked();
                let budget = budgets.into_iter().find(|budget| budget.project_id == project);
                view! {
                    {month.totals.into_iter().map(|total| {
                        let forecast = forecast.forecasts.iter().find(|f| f.currency == total.currency);
                        view! {
                            <article class="card">
                                <h2>"Month to date"</h2>
                                <p class="card__figure" data-testid="month-to-date">{format::money(total.amount, &total.currency)}</p>
                                {forecast.map(|forecast| view! {
                                    <p>"Forecast for the month: "<strong>{format::money(forecast.month_end, &forecast.currency)}</strong></p>
                                })}
                            </article>
                        }
                    }).collect_view()}
                    {budget.map(|budget| view! {
                        <article class="card">
                            <h2>"Budget: "{budget.name.clone()}</h2>
                            <p class="card__figure">{format::percent(budget.status.actual_percent)}" used"</p>
                            <p>{format::money(budget.status.actual, &budget.currency)}" of "
                               {format::money(budget.amount, &budget.currency)}
                               "; forecast "{format::percent(budget.status.forecast_percent)}</p>
                            <meter min="0" max="100" value=budget.status.actual_percent.to_string()
                                aria-label="Budget used"></meter>
                        </article>
                    })}
                }.into_any()
            })}
        </section>
    }
}

#[component]
fn SpendChart() -> impl IntoView {
    let session = use_session();
    let data = LocalResource::new(move || {
        session.cost_changes.track();
        let project = session.project_param();
        async move {
            let today = clock::today();
            let from = today.checked_sub_days(Days::new(30)).unwrap_or(today);
            let to = today.checked_add_days(Days::new(1)).unwrap_or(today);
            let query = api::query(&[
                ("from", from.to_string()),
                ("to", to.to_string()),
                ("granularity", "day".into()),
                ("group_by", "provider".into()),
                ("project", project),
            ]);
            api::get::<CostReport>(&format!("/api/v1/cost{query}")).await
        }
    });
    view! {
        <section class="panel" aria-labelledby="spend-by-provider">
            <h2 id="spend-by-provider">"Spend by provider, last 30 days"</h2>
            {move || loaded(data.get(), |report: CostReport| {
                match format::chart(&report.rows, 6) {
                    Some(chart) => view! { <CostChart chart caption="Daily effective cost by provider".to_owned()/> }.into_any(),
                    None => view! { <Empty message="No costs in the last 30 days."><A href="/costs">"Import a bill"</A></Empty> }.into_any(),
                }
            })}
        </section>
    }
}

#[component]
fn ClusterHealth() -> impl IntoView {
    let session = use_session();
    let data = LocalResource::new(move || {
        session.inventory_changes.track();
        let query = api::query(&[("project_id", session.project_param())]);
        async move { api::get::<ClusterHealthSummary>(&format!("/api/v1/clusters/health{query}")).await }
    });
    view! {
        <section class="panel" aria-labelledby="cluster-health">
            <h2 id="cluster-health">"Clusters by health"</h2>
            {move || loaded(data.get(), |summary: ClusterHealthSummary| {
                if summary.by_provider.is_empty() {
                    return view! { <Empty message="No clusters yet.">"Connect your first cloud account to see its clusters here."</Empty> }.into_any();
                }
                view! {
                    <p class="health-totals">
                        <HealthBadge health=nimbus_api_types::clouds::Health::Connected/>" "{summary.connected}" · "
                        <HealthBadge health=nimbus_api_types::clouds::Health::Degraded/>" "{summary.degraded}" · "
                        <HealthBadge health=nimbus_api_types::clouds::Health::Lost/>" "{summary.lost}
                    </p>
                    <table class="table">
                        <thead><tr><th scope="col">"Provider"</th><th scope="col">"Connected"</th><th scope="col">"Degraded"</th><th scope="col">"Lost"</th></tr></thead>
                        <tbody>
                            {summary.by_provider.into_iter().map(|row| view! {
                                <tr>
                                    <td><A href=format!("/clusters?provider={}", row.provider.as_str())>{row.provider.as_str()}</A></td>
                                    <td>{row.connected}</td><td>{row.degraded}</td><td>{row.lost}</td>
                                </tr>
                            }).collect_view()}
                        </tbody>
                    </table>
                }.into_any()
            })}
        </section>
    }
}

#[component]
fn UnhealthyApps() -> impl IntoView {
    let session = use_session();
    let data = LocalResource::new(move || {
        session.inventory_changes.track();
        let query = api::query(&[
            ("unhealthy", "true".into()),
            ("limit", "10".into()),
            ("project_id", session.project_param()),
        ]);
        async move { api::get::<Page<App>>(&format!("/api/v1/apps{query}")).await }
    });
    view! {
        <section class="panel" aria-labelledby="unhealthy-apps">
            <h2 id="unhealthy-apps">"Apps with unhealthy replicas"</h2>
            {move || loaded(data.get(), |page: Page<App>| {
                if page.items.is_empty() {
                    return view! { <p>"Every app has all its replicas ready."</p> }.into_any();
                }
                view! {
                    <ul class="list">
                        {page.items.into_iter().map(|app| view! {
                            <li>
                                <A href=format!("/apps/{}", app.name)>{app.name.clone()}</A>
                                ": "{app.replicas_ready}" of "{app.replicas_desired}" replicas ready in "
                                {app.cluster_count}" clusters"
                            </li>
                        }).collect_view()}
                    </ul>
                }.into_any()
            })}
        </section>
    }
}

#[component]
fn TopServices() -> impl IntoView {
    let session = use_session();
    let data = LocalResource::new(move || {
        session.cost_changes.track();
        let (from, to) = TimeRange::ThisMonth.bounds(clock::today());
        let query = api::query(&[
            ("from", from.to_string()),
            ("to", to.to_string()),
            ("group_by", "service".into()),
            ("project", session.project_param()),
        ]);
        async move { api::get::<CostReport>(&format!("/api/v1/cost{query}")).await }
    });
    view! {
        <section class="panel" aria-labelledby="top-services">
            <h2 id="top-services">"Top services this month"</h2>
            {move || loaded(data.get(), |report: CostReport| {
                let mut rows = report.rows;
                rows.sort_by_key(|row| std::cmp::Reverse(row.amount));
                rows.truncate(5);
                if rows.is_empty() {
                    return view! { <p>"No costs this month yet."</p> }.into_any();
                }
                view! {
                    <ol class="list">
                        {rows.into_iter().map(|row| view! {
                            <li>{row.group.first().cloned().flatten().unwrap_or_else(|| "(none)".into())}
                                ": "{format::money(row.amount, &row.currency)}</li>
                        }).collect_view()}
                    </ol>
                }.into_any()
            })}
        </section>
    }
}

#[component]
fn Anomalies() -> impl IntoView {
    let session = use_session();
    let data = LocalResource::new(move || {
        session.cost_changes.track();
        let query = api::query(&[
            ("status", "open".into()),
            ("limit", "5".into()),
            ("project", session.project_param()),
        ]);
        async move { api::get::<Page<Anomaly>>(&format!("/api/v1/anomalies{query}")).await }
    });
    view! {
        <section class="panel" aria-labelledby="anomalies">
            <h2 id="anomalies">"Open cost anomalies"</h2>
            {move || loaded(data.get(), |page: Page<Anomaly>| {
                if page.items.is_empty() {
                    return view! { <p>"No unusual spend detected."</p> }.into_any();
                }
                view! {
                    <ul class="list">
                        {page.items.into_iter().map(|anomaly| view! {
                            <li>{anomaly.day.to_string()}" · "{anomaly.service_name.clone()}" ("{anomaly.provider.clone()}"): "
                                {format::money(anomaly.spend, &anomaly.currency)}" against a usual "
                                {format::money(anomaly.baseline, &anomaly.currency)}</li>
                        }).collect_view()}
                    </ul>
                }.into_any()
            })}
        </section>
    }
}

#[component]
fn Activity() -> impl IntoView {
    let session = use_session();
    let data = LocalResource::new(move || {
        session.cost_changes.track();
        session.inventory_changes.track();
        async move { api::get::<Page<Notification>>("/api/v1/notifications?limit=8").await }
    });
    view! {
        <section class="panel" aria-labelledby="activity">
            <h2 id="activity">"Recent alerts and activity"</h2>
            {move || loaded(data.get(), |page: Page<Notification>| {
                if page.items.is_empty() {
                    return view! { <p>"Nothing has happened yet."</p> }.into_any();
                }
                let now = clock::now();
                view! {
                    <ul class="list" data-testid="activity">
                        {page.items.into_iter().map(|item| view! {
                            <li><strong>{item.title}</strong>" — "{format::age(item.created_at, now)}</li>
                        }).collect_view()}
                    </ul>
                }.into_any()
            })}
        </section>
    }
}
