use leptos::prelude::*;
use leptos::task::spawn_local;
use nimbus_api_types::cost::{CostImport, ImportIssue, ImportStatus};
use nimbus_api_types::identity::Page;
use nimbus_api_types::rbac::Permission;

use crate::api;
use crate::clock;
use crate::components::{Empty, Failure, loaded};
use crate::format;
use crate::session::use_session;
use crate::upload;

/// Bill imports: upload a file (with progress), and every past import with its outcome,
/// warnings and errors.
#[component]
pub fn ImportsPage() -> impl IntoView {
    let session = use_session();
    let changed = RwSignal::new(0_u32);
    let data = LocalResource::new(move || {
        session.cost_changes.track();
        changed.track();
        async move { api::get::<Page<CostImport>>("/api/v1/cost/imports?limit=50").await }
    });
    view! {
        <h1>"Bill imports"</h1>
        {move || session.can(Permission::CostWrite).then(|| view! { <Upload on_done=move || changed.update(|n| *n += 1)/> })}
        {move || loaded(data.get(), |page: Page<CostImport>| {
            if page.items.is_empty() {
                return view! {
                    <Empty message="No bills imported yet.">
                        "Upload a FOCUS export, an AWS Cost and Usage Report, an Azure cost export, Google Cloud or Alibaba Cloud billing rows, or an Oracle cost report."
                    </Empty>
                }.into_any();
            }
            let now = clock::now();
            view! {
                <table class="table" aria-label="Imports">
                    <thead><tr>
                        <th scope="col">"File"</th><th scope="col">"Format"</th><th scope="col">"Outcome"</th>
                        <th scope="col" class="num">"Rows"</th><th scope="col">"Warnings"</th><th scope="col">"When"</th>
                    </tr></thead>
                    <tbody>
                        {page.items.into_iter().map(|import| view! {
                            <tr>
                                <td>{import.file_name.clone()}</td>
                                <td>{import.source.clone()}</td>
                                <td>{outcome(&import)}</td>
                                <td class="num">{import.rows_total.unwrap_or(import.rows_done)}</td>
                                <td><Issues issues=import.warnings.clone() errors=import.errors.clone()/></td>
                                <td>{format::age(import.started_at, now)}" by "{import.created_by.clone()}</td>
                            </tr>
                        }).collect_view()}
                    </tbody>
                </table>
            }.into_any()
        })}
    }
}

fn outcome(import: &CostImport) -> String {
    match import.status {
        ImportStatus::Running => format!(
            "Importing… {}%",
            (import.bytes_done * 100)
                .checked_div(import.file_bytes)
                .unwrap_or(0)
        ),
        ImportStatus::Succeeded => format!("Imported ({} billing periods)", import.units),
        ImportStatus::Unchanged => "Already imported: nothing changed".to_owned(),
        ImportStatus::Failed => "Rejected".to_owned(),
    }
}

/// Warnings and errors with the row and column they name.
#[component]
fn Issues(issues: Vec<ImportIssue>, errors: Vec<ImportIssue>) -> impl IntoView {
    if issues.is_empty() && errors.is_empty() {
        return view! { "None" }.into_any();
    }
    let line = |issue: ImportIssue| {
        let place = match (issue.row, issue.column) {
            (Some(row), Some(column)) => format!("row {row}, column {column}: "),
            (Some(row), None) => format!("row {row}: "),
            (None, Some(column)) => format!("column {column}: "),
            (None, None) => String::new(),
        };
        let count = (issue.count > 1).then(|| format!(" ({} rows)", issue.count));
        view! { <li>{place}{issue.message}{count}</li> }
    };
    view! {
        <details>
            <summary>{errors.len()}" errors, "{issues.len()}" warnings"</summary>
            <ul class="list">
                {errors.into_iter().map(line).collect_view()}
                {issues.into_iter().map(line).collect_view()}
            </ul>
        </details>
    }
    .into_any()
}

#[component]
fn Upload(on_done: impl Fn() + Copy + Send + Sync + 'static) -> impl IntoView {
    let input = NodeRef::<leptos::html::Input>::new();
    let progress = RwSignal::new(None::<f64>);
    let result = RwSignal::new(None::<Result<CostImport, (api::ApiError, Option<CostImport>)>>);
    let submit = move |event: leptos::ev::SubmitEvent| {
        event.prevent_default();
        let Some(file) = input
            .get()
            .and_then(|input| input.files())
            .and_then(|files| files.get(0))
        else {
            return;
        };
        progress.set(Some(0.0));
        result.set(None);
        spawn_local(async move {
            let answer = upload::post_file("/api/v1/cost/imports", &file, move |sent| {
                progress.set(Some(sent))
            })
            .await;
            progress.set(None);
            result.set(Some(match answer {
                Ok(answer) if (200..300).contains(&answer.status) => {
                    serde_json::from_str::<CostImport>(&answer.body).map_err(|err| {
                        (
                            api::ApiError {
                                code: None,
                                message: err.to_string(),
                            },
                            None,
                        )
                    })
                }
                Ok(answer) => {
                    let (error, details) = answer.error();
                    Err((
                        error,
                        details.and_then(|details| serde_json::from_value(details).ok()),
                    ))
                }
                Err(error) => Err((error, None)),
            }));
            on_done();
        });
    };
    view! {
        <form class="form form--inline" on:submit=submit aria-label="Upload a bill">
            <label>"Bill file (CSV, CSV.gz, Parquet or JSON)"
                <input type="file" name="file" required node_ref=input accept=".csv,.gz,.parquet,.json"/>
            </label>
            <button class="button button--primary" type="submit" disabled=move || progress.get().is_some()>"Import"</button>
        </form>
        {move || progress.get().map(|sent| view! {
            <p role="status">
                <progress max="100" value=format!("{:.0}", sent * 100.0) aria-label="Upload progress"></progress>
                {if sent < 1.0 { format!(" Sending… {:.0}%", sent * 100.0) } else { " Reading and checking the bill…".to_owned() }}
            </p>
        })}
        {move || result.get().map(|result| match result {
            Ok(import) => view! {
                <p class="notice notice--ok" role="status" data-testid="import-result">
                    {import.file_name.clone()}": "{outcome(&import)}", "{import.rows_total.unwrap_or(import.rows_done)}" rows, "
                    {import.warnings.len()}" warnings."
                </p>
            }.into_any(),
            Err((error, import)) => view! {
                <Failure error/>
                {import.map(|import| view! { <Issues issues=import.warnings errors=import.errors/> })}
            }.into_any(),
        })}
    }
}
