use leptos::prelude::*;
use nimbus_api_types::cost::{CostDimension, CostGrouping, CostReport};

use crate::api;
use crate::clock;
use crate::components::{CostChart, Empty, loaded};
use crate::format::{self, TimeRange};
use crate::session::use_session;

/// The cost explorer: a time range, buckets, a metric and up to two groupings, as a chart and
/// a table, and the same view as CSV.
#[component]
pub fn CostsPage() -> impl IntoView {
    let session = use_session();
    let range = RwSignal::new(TimeRange::ThisMonth);
    let granularity = RwSignal::new("day".to_owned());
    let metric = RwSignal::new("effective".to_owned());
    let group_by = RwSignal::new("provider".to_owned());
    let then_by = RwSignal::new(String::new());
    // Drill-down: a group value clicked in the table narrows the view to it.
    let filters = RwSignal::new(Vec::<(CostDimension, String)>::new());
    let query = move || {
        let (from, to) = range.get().bounds(clock::today());
        let groups: Vec<String> = [group_by.get(), then_by.get()]
            .into_iter()
            .filter(|group| !group.is_empty())
            .collect();
        let mut pairs = vec![
            ("from", from.to_string()),
            ("to", to.to_string()),
            ("granularity", granularity.get()),
            ("metric", metric.get()),
            ("group_by", groups.join(",")),
        ];
        let narrowed = filters.get();
        if !narrowed
            .iter()
            .any(|(dimension, _)| *dimension == CostDimension::Project)
        {
            pairs.push(("project", session.project_param()));
        }
        pairs.extend(
            narrowed
                .into_iter()
                .map(|(dimension, value)| (dimension.as_str(), value)),
        );
        pairs
    };
    let data = LocalResource::new(move || {
        session.cost_changes.track();
        let url = format!("/api/v1/cost{}", api::query(&query()));
        async move { api::get::<CostReport>(&url).await }
    });
    let csv_url = move || {
        let mut pairs = query();
        pairs.push(("format", "csv".into()));
        format!("/api/v1/cost{}", api::query(&pairs))
    };
    // The monthly bill of the range's first month (with the project filter, the project's).
    let bill_url = move || {
        let (from, _) = range.get().bounds(clock::today());
        let project = api::query(&[
            ("project", session.project_param()),
            ("format", "html".into()),
        ]);
        format!("/api/v1/bills/{}{project}", from.format("%Y-%m"))
    };
    let dimension_options = move |selected: RwSignal<String>, none: Option<&'static str>| {
        view! {
            {none.map(|label| view! { <option value="">{label}</option> })}
            {CostDimension::ALL.into_iter().map(|dimension| view! {
                <option value=dimension.as_str() selected=move || selected.get() == dimension.as_str()>
                    {dimension_label(dimension)}
                </option>
            }).collect_view()}
        }
    };
    view! {
        <h1>"Costs"</h1>
        <form class="filters" on:submit=|ev| ev.prevent_default() aria-label="Explorer view">
            <label>"Time range"
                <select name="range" on:change:target=move |ev| {
                    if let Some(chosen) = TimeRange::from_name(&ev.target().value()) { range.set(chosen) }
                }>
                    {TimeRange::ALL.into_iter().map(|r| view! {
                        <option value=r.as_str() selected=move || range.get() == r>{r.label()}</option>
                    }).collect_view()}
                </select>
            </label>
            <label>"Granularity"
                <select name="granularity" on:change:target=move |ev| granularity.set(ev.target().value())>
                    <option value="day" selected=true>"Day"</option>
                    <option value="week">"Week"</option>
                    <option value="month">"Month"</option>
                </select>
            </label>
            <label>"Metric"
                <select name="metric" on:change:target=move |ev| metric.set(ev.target().value())>
                    <option value="effective" selected=true>"Effective (amortized)"</option>
                    <option value="billed">"Billed (invoiced)"</option>
                    <option value="list">"List price"</option>
                    <option value="contracted">"Contracted"</option>
                </select>
            </label>
            <label>"Group by"
                <select name="group_by" on:change:target=move |ev| group_by.set(ev.target().value())>
                    {dimension_options(group_by, None)}
                </select>
            </label>
            <label>"Then by"
                <select name="then_by" on:change:target=move |ev| then_by.set(ev.target().value())>
                    {dimension_options(then_by, Some("Nothing"))}
                </select>
            </label>
            <a class="button" href=csv_url download="nimbus-costs.csv">"Export CSV"</a>
            <a class="button" target="_blank" rel="noopener" href=bill_url>"Printable bill"</a>
        </form>
        {move || (!filters.with(Vec::is_empty)).then(|| view! {
            <p class="chips" aria-label="Narrowed to">
                {filters.get().into_iter().enumerate().map(|(index, (dimension, value))| view! {
                    <span class="chip">{dimension_label(dimension)}": "{value.clone()}
                        <button type="button" class="button button--quiet" aria-label=format!("Remove the filter {value}")
                            on:click=move |_| filters.update(|all| { all.remove(index); })>"×"</button>
                    </span>
                }).collect_view()}
            </p>
        })}
        {move || loaded(data.get(), move |report: CostReport| {
            if report.rows.is_empty() {
                return view! {
                    <Empty message="No costs in this range.">
                        "Import a bill (FOCUS, AWS, Azure, Google Cloud, Alibaba or Oracle) with "
                        <code>"nimbus import-bill"</code>" or the API, or connect an account with bill exports."
                    </Empty>
                }.into_any();
            }
            let chart = format::chart(&report.rows, 6);
            let grouped = report.group_by.iter().map(CostGrouping::name).collect::<Vec<_>>();
            // Which columns can narrow the view (tag groupings have no filter of their own).
            let dimensions: Vec<Option<CostDimension>> = report.group_by.iter().map(|group| match group {
                CostGrouping::Dimension(dimension) => Some(*dimension),
                CostGrouping::Tag(_) => None,
            }).collect();
            view! {
                <p class="totals" data-testid="cost-totals">"Total: "
                    {report.totals.iter().map(|t| format::money(t.amount, &t.currency)).collect::<Vec<_>>().join(" + ")}
                </p>
                {chart.map(|chart| view! { <CostChart chart caption="Cost by period".to_owned()/> })}
                <table class="table" aria-label="Costs">
                    <thead><tr>
                        <th scope="col">"Period"</th>
                        {grouped.into_iter().map(|name| view! { <th scope="col">{name}</th> }).collect_view()}
                        <th scope="col" class="num">"Amount"</th>
                    </tr></thead>
                    <tbody>
                        {report.rows.into_iter().map(|row| view! {
                            <tr>
                                <td>{row.period.to_string()}</td>
                                {row.group.into_iter().zip(dimensions.clone()).map(|(value, dimension)| match (value, dimension) {
                                    (Some(value), Some(dimension)) => view! {
                                        <td><button type="button" class="link" title="Show only these costs"
                                            on:click={
                                                let value = value.clone();
                                                move |_| filters.update(|all| all.push((dimension, value.clone())))
                                            }>{value.clone()}</button></td>
                                    }.into_any(),
                                    (value, _) => view! { <td>{value.unwrap_or_else(|| "(none)".into())}</td> }.into_any(),
                                }).collect_view()}
                                <td class="num">{format::money(row.amount, &row.currency)}</td>
                            </tr>
                        }).collect_view()}
                    </tbody>
                </table>
            }.into_any()
        })}
    }
}

fn dimension_label(dimension: CostDimension) -> &'static str {
    match dimension {
        CostDimension::Provider => "Provider",
        CostDimension::BillingAccount => "Billing account",
        CostDimension::SubAccount => "Sub-account",
        CostDimension::Service => "Service",
        CostDimension::ServiceCategory => "Service category",
        CostDimension::Region => "Region",
        CostDimension::ChargeCategory => "Charge category",
        CostDimension::Project => "Project",
        CostDimension::Cluster => "Cluster",
    }
}
