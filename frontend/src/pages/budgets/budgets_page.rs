use std::str::FromStr;

use leptos::prelude::*;
use leptos::task::spawn_local;
use nimbus_api_types::cost::{Budget, BudgetInput, BudgetPeriod};
use nimbus_api_types::rbac::Permission;
use rust_decimal::Decimal;

use crate::api;
use crate::components::{Empty, Failure, loaded};
use crate::format;
use crate::session::use_session;

/// Budgets with where they stand, and a form to create or change one. Alerts arrive live (the
/// toast of the shell) as soon as a threshold is crossed.
#[component]
pub fn BudgetsPage() -> impl IntoView {
    let session = use_session();
    let changed = RwSignal::new(0_u32);
    let editing = RwSignal::new(None::<Budget>);
    let failure = RwSignal::new(None::<api::ApiError>);
    let data = LocalResource::new(move || {
        session.cost_changes.track();
        changed.track();
        async move { api::get::<Vec<Budget>>("/api/v1/budgets").await }
    });
    let delete = move |budget: Budget| {
        spawn_local(async move {
            match api::delete(&format!("/api/v1/budgets/{}", budget.id.0)).await {
                Ok(()) => changed.update(|n| *n += 1),
                Err(err) => failure.set(Some(err)),
            }
        });
    };
    view! {
        <h1>"Budgets"</h1>
        {move || session.can(Permission::BudgetsWrite).then(|| view! {
            <BudgetForm editing on_saved=move || { editing.set(None); changed.update(|n| *n += 1) }/>
        })}
        {move || failure.get().map(|error| view! { <Failure error/> })}
        {move || loaded(data.get(), move |budgets: Vec<Budget>| {
            if budgets.is_empty() {
                return view! { <Empty message="No budgets yet.">"Create one to be alerted at 50, 80 and 100% of it."</Empty> }.into_any();
            }
            let can_write = session.can(Permission::BudgetsWrite);
            view! {
                <table class="table" aria-label="Budgets">
                    <thead><tr>
                        <th scope="col">"Name"</th><th scope="col">"Period"</th><th scope="col" class="num">"Amount"</th>
                        <th scope="col" class="num">"Spent"</th><th scope="col" class="num">"Forecast"</th><th scope="col">"Alerts at"</th>
                        <th scope="col"><span class="visually-hidden">"Actions"</span></th>
                    </tr></thead>
                    <tbody>
                        {budgets.into_iter().map(|budget| {
                            let (to_edit, to_delete) = (budget.clone(), budget.clone());
                            view! {
                                <tr>
                                    <td>{budget.name.clone()}</td>
                                    <td>{budget.period.as_str()}" from "{budget.status.period_start.to_string()}</td>
                                    <td class="num">{format::money(budget.amount, &budget.currency)}</td>
                                    <td class="num">{format::money(budget.status.actual, &budget.currency)}" ("{format::percent(budget.status.actual_percent)}")"</td>
                                    <td class="num">{format::money(budget.status.forecast, &budget.currency)}" ("{format::percent(budget.status.forecast_percent)}")"</td>
                                    <td>{budget.thresholds.iter().map(|t| format::percent(*t)).collect::<Vec<_>>().join(", ")}</td>
                                    <td>{can_write.then(|| view! {
                                        <button type="button" class="button" aria-label=format!("Edit {}", budget.name)
                                            on:click=move |_| editing.set(Some(to_edit.clone()))>"Edit"</button>
                                        " "
                                        <button type="button" class="button button--danger" aria-label=format!("Delete {}", budget.name)
                                            on:click=move |_| delete(to_delete.clone())>"Delete"</button>
                                    })}</td>
                                </tr>
                            }
                        }).collect_view()}
                    </tbody>
                </table>
            }.into_any()
        })}
    }
}

/// The budget form's fields, as typed.
#[derive(Debug, Clone, PartialEq, Eq)]
struct BudgetFields {
    name: String,
    period: BudgetPeriod,
    amount: String,
    currency: String,
    thresholds: String,
    emails: String,
    webhook_url: String,
}

impl Default for BudgetFields {
    fn default() -> Self {
        Self {
            name: String::new(),
            period: BudgetPeriod::Month,
            amount: String::new(),
            currency: "USD".to_owned(),
            thresholds: "50, 80, 100".to_owned(),
            emails: String::new(),
            webhook_url: String::new(),
        }
    }
}

impl BudgetFields {
    fn of(budget: &Budget) -> Self {
        Self {
            name: budget.name.clone(),
            period: budget.period,
            amount: budget.amount.normalize().to_string(),
            currency: budget.currency.clone(),
            thresholds: budget
                .thresholds
                .iter()
                .map(|t| t.normalize().to_string())
                .collect::<Vec<_>>()
                .join(", "),
            emails: budget.notify_emails.join(", "),
            // Write-only: the stored URL is never shown, so it has to be entered again.
            webhook_url: String::new(),
        }
    }
}

/// Creates a budget, or changes the one being edited.
#[component]
fn BudgetForm(
    editing: RwSignal<Option<Budget>>,
    on_saved: impl Fn() + Copy + Send + Sync + 'static,
) -> impl IntoView {
    let session = use_session();
    let fields = RwSignal::new(BudgetFields::default());
    let outcome = RwSignal::new(None::<Result<String, String>>);
    Effect::new(move |_| {
        fields
            .set(editing.with(|budget| budget.as_ref().map(BudgetFields::of).unwrap_or_default()));
    });
    let submit = move |event: leptos::ev::SubmitEvent| {
        event.prevent_default();
        let editing_now = editing.get_untracked();
        let project = editing_now
            .as_ref()
            .map_or_else(|| session.project.get_untracked(), |b| b.project_id);
        let input = match budget_input(&fields.get_untracked(), project) {
            Ok(input) => input,
            Err(problem) => return outcome.set(Some(Err(problem))),
        };
        spawn_local(async move {
            let saved = match &editing_now {
                Some(budget) => {
                    api::put::<_, Budget>(&format!("/api/v1/budgets/{}", budget.id.0), &input).await
                }
                None => api::post::<_, Budget>("/api/v1/budgets", &input).await,
            };
            match saved {
                Ok(budget) => {
                    let verb = if editing_now.is_some() {
                        "saved"
                    } else {
                        "created"
                    };
                    outcome.set(Some(Ok(format!("Budget {} {verb}.", budget.name))));
                    fields.set(BudgetFields::default());
                    on_saved();
                }
                Err(err) => outcome.set(Some(Err(err.to_string()))),
            }
        });
    };
    let text = move |label: &'static str,
                     name: &'static str,
                     get: fn(&BudgetFields) -> String,
                     set: fn(&mut BudgetFields, String)| {
        view! {
            <label>{label}<input type="text" name=name prop:value=move || fields.with(get)
                on:input:target=move |ev| fields.update(|f| set(f, ev.target().value()))/></label>
        }
    };
    let webhook_hint = move || {
        editing.with(|budget| budget.as_ref().and_then(|b| b.webhook_host.clone())).map(|host| view! {
            <p class="hint">"This budget posts to "{host}"; enter its URL again to keep it (it is never shown)."</p>
        })
    };
    view! {
        <form class="form form--inline" on:submit=submit
            aria-label=move || if editing.with(Option::is_some) { "Edit budget" } else { "New budget" }>
            {text("Name", "name", |f| f.name.clone(), |f, v| f.name = v)}
            <label>"Period"<select name="period" on:change:target=move |ev| {
                let period = match ev.target().value().as_str() { "quarter" => BudgetPeriod::Quarter, "year" => BudgetPeriod::Year, _ => BudgetPeriod::Month };
                fields.update(|f| f.period = period);
            }>
                {[BudgetPeriod::Month, BudgetPeriod::Quarter, BudgetPeriod::Year].into_iter().map(|p| view! {
                    <option value=p.as_str() selected=move || fields.with(|f| f.period == p)>{p.as_str()}</option>
                }).collect_view()}
            </select></label>
            {text("Amount", "amount", |f| f.amount.clone(), |f, v| f.amount = v)}
            {text("Currency", "currency", |f| f.currency.clone(), |f, v| f.currency = v)}
            {text("Alert at (%)", "thresholds", |f| f.thresholds.clone(), |f, v| f.thresholds = v)}
            {text("E-mail alerts to", "emails", |f| f.emails.clone(), |f, v| f.emails = v)}
            {text("Slack-compatible webhook (https://…)", "webhook_url", |f| f.webhook_url.clone(), |f, v| f.webhook_url = v)}
            <button class="button button--primary" type="submit">
                {move || if editing.with(Option::is_some) { "Save budget" } else { "Create budget" }}
            </button>
            {move || editing.with(Option::is_some).then(|| view! {
                <button type="button" class="button" on:click=move |_| editing.set(None)>"Cancel"</button>
            })}
        </form>
        {webhook_hint}
        {move || outcome.get().map(|outcome| match outcome {
            Ok(message) => view! { <p class="notice notice--ok" role="status">{message}</p> }.into_any(),
            Err(message) => view! { <p class="notice notice--error" role="alert">{message}</p> }.into_any(),
        })}
    }
}

/// The form's fields as a budget, or what is wrong with them.
fn budget_input(
    fields: &BudgetFields,
    project: Option<nimbus_api_types::ids::ProjectId>,
) -> Result<BudgetInput, String> {
    let amount =
        Decimal::from_str(fields.amount.trim().replace(',', "").as_str()).map_err(|_| {
            format!(
                "The amount \u{201c}{}\u{201d} is not a number.",
                fields.amount
            )
        })?;
    let thresholds = fields
        .thresholds
        .split(',')
        .map(str::trim)
        .filter(|t| !t.is_empty())
        .map(|t| {
            Decimal::from_str(t.trim_end_matches('%'))
                .map_err(|_| format!("The threshold \u{201c}{t}\u{201d} is not a number."))
        })
        .collect::<Result<Vec<_>, _>>()?;
    Ok(BudgetInput {
        name: fields.name.trim().to_owned(),
        project_id: project,
        period: fields.period,
        amount,
        currency: fields.currency.trim().to_uppercase(),
        thresholds,
        notify_emails: fields
            .emails
            .split([',', ' '])
            .map(str::trim)
            .filter(|email| !email.is_empty())
            .map(str::to_owned)
            .collect(),
        webhook_url: Some(fields.webhook_url.trim().to_owned()).filter(|url| !url.is_empty()),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fields(amount: &str, thresholds: &str) -> BudgetFields {
        BudgetFields {
            name: " Platform ".into(),
            amount: amount.into(),
            currency: "eur".into(),
            thresholds: thresholds.into(),
            emails: "a@example.com, b@example.com".into(),
            ..BudgetFields::default()
        }
    }

    #[test]
    fn the_form_reads_amounts_with_separators_and_thresholds_with_percent_signs() {
        let input = budget_input(&fields("12,500.50", "50, 80%,100"), None).unwrap();
        assert_eq!(input.name, "Platform");
        assert_eq!(input.amount, Decimal::from_str("12500.50").unwrap());
        assert_eq!(input.currency, "EUR");
        assert_eq!(
            input.thresholds,
            [Decimal::from(50), Decimal::from(80), Decimal::from(100)]
        );
        assert_eq!(input.notify_emails, ["a@example.com", "b@example.com"]);
        assert_eq!(input.webhook_url, None, "an empty webhook field sets none");
    }

    #[test]
    fn the_form_names_what_is_not_a_number() {
        let err = budget_input(&fields("lots", "50"), None).unwrap_err();
        assert!(err.contains("lots"), "{err}");
        let err = budget_input(&fields("10", "half"), None).unwrap_err();
        assert!(err.contains("half"), "{err}");
    }
}
