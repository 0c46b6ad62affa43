use std::str::FromStr;

use leptos::prelude::*;
use leptos::task::spawn_local;
use nimbus_api_types::cost::{Budget, BudgetInput, BudgetPeriod};
use nimbus_api_types::rbac::Permission;
use rust_decimal::Decimal;

use crate::api;
use crate::components::{Empty, loaded};
use crate::format;
use crate::session::use_session;

/// Budgets with where they stand, and a form to create one. Alerts arrive live (the toast of
/// the shell) as soon as a threshold is crossed.
#[component]
pub fn BudgetsPage() -> impl IntoView {
    let session = use_session();
    let changed = RwSignal::new(0_u32);
    let data = LocalResource::new(move || {
        session.cost_changes.track();
        changed.track();
        async move { api::get::<Vec<Budget>>("/api/v1/budgets").await }
    });
    view! {
        <h1>"Budgets"</h1>
        {move || session.can(Permission::BudgetsWrite).then(|| view! { <NewBudget on_created=move || changed.update(|n| *n += 1)/> })}
        {move || loaded(data.get(), |budgets: Vec<Budget>| {
            if budgets.is_empty() {
                return view! { <Empty message="No budgets yet.">"Create one to be alerted at 50, 80 and 100% of it."</Empty> }.into_any();
            }
            view! {
                <table class="table" aria-label="Budgets">
                    <thead><tr>
                        <th scope="col">"Name"</th><th scope="col">"Period"</th><th scope="col" class="num">"Amount"</th>
                        <th scope="col" class="num">"Spent"</th><th scope="col" class="num">"Forecast"</th><th scope="col">"Alerts at"</th>
                    </tr></thead>
                    <tbody>
                        {budgets.into_iter().map(|budget| view! {
                            <tr>
                                <td>{budget.name.clone()}</td>
                                <td>{budget.period.as_str()}" from "{budget.status.period_start.to_string()}</td>
                                <td class="num">{format::money(budget.amount, &budget.currency)}</td>
                                <td class="num">{format::money(budget.status.actual, &budget.currency)}" ("{format::percent(budget.status.actual_percent)}")"</td>
                                <td class="num">{format::money(budget.status.forecast, &budget.currency)}" ("{format::percent(budget.status.forecast_percent)}")"</td>
                                <td>{budget.thresholds.iter().map(|t| format::percent(*t)).collect::<Vec<_>>().join(", ")}</td>
                            </tr>
                        }).collect_view()}
                    </tbody>
                </table>
            }.into_any()
        })}
    }
}

#[component]
fn NewBudget(on_created: impl Fn() + Copy + Send + Sync + 'static) -> impl IntoView {
    let session = use_session();
    let name = RwSignal::new(String::new());
    let amount = RwSignal::new(String::new());
    let currency = RwSignal::new("USD".to_owned());
    let thresholds = RwSignal::new("50, 80, 100".to_owned());
    let outcome = RwSignal::new(None::<Result<String, String>>);
    let submit = move |event: leptos::ev::SubmitEvent| {
        event.prevent_default();
        let input = match budget_input(
            &name.get_untracked(),
            &amount.get_untracked(),
            &currency.get_untracked(),
            &thresholds.get_untracked(),
            session.project.get_untracked(),
        ) {
            Ok(input) => input,
            Err(problem) => return outcome.set(Some(Err(problem))),
        };
        spawn_local(async move {
            match api::post::<_, Budget>("/api/v1/budgets", &input).await {
                Ok(budget) => {
                    outcome.set(Some(Ok(format!("Budget {} created.", budget.name))));
                    name.set(String::new());
                    on_created();
                }
                Err(err) => outcome.set(Some(Err(err.to_string()))),
            }
        });
    };
    view! {
        <form class="form form--inline" on:submit=submit aria-label="New budget">
            <label>"Name"<input type="text" name="name" required prop:value=move || name.get()
                on:input:target=move |ev| name.set(ev.target().value())/></label>
            <label>"Monthly amount"<input type="text" name="amount" inputmode="decimal" required prop:value=move || amount.get()
                on:input:target=move |ev| amount.set(ev.target().value())/></label>
            <label>"Currency"<input type="text" name="currency" required maxlength="3" prop:value=move || currency.get()
                on:input:target=move |ev| currency.set(ev.target().value())/></label>
            <label>"Alert at (%)"<input type="text" name="thresholds" prop:value=move || thresholds.get()
                on:input:target=move |ev| thresholds.set(ev.target().value())/></label>
            <button class="button button--primary" type="submit">"Create budget"</button>
        </form>
        {move || outcome.get().map(|outcome| match outcome {
            Ok(message) => view! { <p class="notice notice--ok" role="status">{message}</p> }.into_any(),
            Err(message) => view! { <p class="notice notice--error" role="alert">{message}</p> }.into_any(),
        })}
    }
}

/// The form's fields as a monthly budget, or what is wrong with them.
fn budget_input(
    name: &str,
    amount: &str,
    currency: &str,
    thresholds: &str,
    project: Option<nimbus_api_types::ids::ProjectId>,
) -> Result<BudgetInput, String> {
    let amount = Decimal::from_str(amount.trim().replace(',', "").as_str())
        .map_err(|_| format!("The amount \u{201c}{amount}\u{201d} is not a number."))?;
    let thresholds = thresholds
        .split(',')
        .map(str::trim)
        .filter(|t| !t.is_empty())
        .map(|t| {
            Decimal::from_str(t.trim_end_matches('%'))
                .map_err(|_| format!("The threshold \u{201c}{t}\u{201d} is not a number."))
        })
        .collect::<Result<Vec<_>, _>>()?;
    Ok(BudgetInput {
        name: name.trim().to_owned(),
        project_id: project,
        period: BudgetPeriod::Month,
        amount,
        currency: currency.trim().to_uppercase(),
        thresholds,
        notify_emails: Vec::new(),
        webhook_url: None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_form_reads_amounts_with_separators_and_thresholds_with_percent_signs() {
        let input = budget_input(" Platform ", "12,500.50", "eur", "50, 80%,100", None).unwrap();
        assert_eq!(input.name, "Platform");
        assert_eq!(input.amount, Decimal::from_str("12500.50").unwrap());
        assert_eq!(input.currency, "EUR");
        assert_eq!(
            input.thresholds,
            [Decimal::from(50), Decimal::from(80), Decimal::from(100)]
        );
    }

    #[test]
    fn the_form_names_what_is_not_a_number() {
        let err = budget_input("x", "lots", "USD", "50", None).unwrap_err();
        assert!(err.contains("lots"), "{err}");
        let err = budget_input("x", "10", "USD", "half", None).unwrap_err();
        assert!(err.contains("half"), "{err}");
    }
}
