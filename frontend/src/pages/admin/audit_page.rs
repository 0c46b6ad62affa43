use leptos::prelude::*;
use nimbus_api_types::identity::{AuditEntry, Page};

use crate::api;
use crate::components::{Empty, Pager, Paging, loaded};

/// The audit log: searched by actor, action and target, paged, and exported as CSV.
#[component]
pub fn AuditPage() -> impl IntoView {
    let actor = RwSignal::new(String::new());
    let action = RwSignal::new(String::new());
    let target = RwSignal::new(String::new());
    let paging = Paging::new();
    let filters = move || {
        vec![
            ("actor", actor.get()),
            ("action", action.get()),
            ("target", target.get()),
        ]
    };
    let data = LocalResource::new(move || {
        let mut query = filters();
        query.push(("limit", "50".into()));
        query.push(("cursor", paging.cursor.get()));
        let url = format!("/api/v1/audit{}", api::query(&query));
        async move { api::get::<Page<AuditEntry>>(&url).await }
    });
    let csv_url = move || {
        let mut query = filters();
        query.push(("format", "csv".into()));
        format!("/api/v1/audit{}", api::query(&query))
    };
    let filter = move |label: &'static str, name: &'static str, value: RwSignal<String>| {
        view! {
            <label>{label}<input type="search" name=name
                on:change:target=move |ev| { value.set(ev.target().value()); paging.reset(); }/></label>
        }
    };
    view! {
        <h1>"Audit log"</h1>
        <form class="filters" role="search" on:submit=|ev| ev.prevent_default()>
            {filter("Actor", "actor", actor)}
            {filter("Action (e.g. auth.login)", "action", action)}
            {filter("Target", "target", target)}
            <a class="button" href=csv_url download="nimbus-audit.csv">"Export CSV"</a>
        </form>
        {move || loaded(data.get(), move |page: Page<AuditEntry>| {
            if page.items.is_empty() {
                return view! { <Empty message="No entries match.">"Clear the filters to see every entry."</Empty> }.into_any();
            }
            let next = page.next_cursor.clone();
            view! {
                <table class="table" aria-label="Audit log">
                    <thead><tr><th scope="col">"When (UTC)"</th><th scope="col">"Actor"</th><th scope="col">"Action"</th>
                        <th scope="col">"Target"</th><th scope="col">"Outcome"</th><th scope="col">"From"</th></tr></thead>
                    <tbody>
                        {page.items.into_iter().map(|entry| view! {
                            <tr>
                                <td>{entry.occurred_at.format("%Y-%m-%d %H:%M:%S").to_string()}</td>
                                <td>{entry.actor}</td><td>{entry.action}</td><td>{entry.target}</td>
                                <td>{entry.outcome}</td><td>{entry.source_ip.unwrap_or_default()}</td>
                            </tr>
                        }).collect_view()}
                    </tbody>
                </table>
                <Pager paging next/>
            }.into_any()
        })}
    }
}
