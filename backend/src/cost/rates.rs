//! Exchange rates for the explorer's currency conversion, imported as CSV
//! (`month,from_currency,to_currency,rate`).

use axum::extract::State;
use chrono::{Datelike, NaiveDate};
use nimbus_api_types::ErrorCode;
use nimbus_api_types::cost::{CostRate, ImportIssue, RatesImported};
use nimbus_api_types::identity::Page;
use rust_decimal::Decimal;

use crate::audit;
use crate::auth::extract::{Can, perm};
use crate::db;
use crate::error::AppError;
use crate::http::extract::{Json, Query};
use crate::http::paging::PageQuery;
use crate::state::AppState;

/// Most rates one import takes.
const MAX_RATES: usize = 100_000;

fn parse_month(value: &str) -> Option<NaiveDate> {
    NaiveDate::parse_from_str(&format!("{value}-01"), "%Y-%m-%d")
        .or_else(|_| NaiveDate::parse_from_str(value, "%Y-%m-%d"))
        .ok()
        .filter(|month| month.day() == 1)
}

fn is_currency(value: &str) -> bool {
    value.len() == 3 && value.bytes().all(|b| b.is_ascii_uppercase())
}

/// Parses the CSV body; every bad cell is reported with its row and column.
pub fn parse(body: &str) -> Result<Vec<CostRate>, Vec<ImportIssue>> {
    let mut reader = csv::ReaderBuilder::new()
        .trim(csv::Trim::All)
        .from_reader(body.as_bytes());
    let mut rates = Vec::new();
    let mut errors = Vec::new();
    let error = |row: u64, column: &str, message: &str| ImportIssue {
        row: Some(row),
        column: Some(column.to_owned()),
        message: message.to_owned(),
        count: 1,
    };
    match reader.headers() {
        Ok(header)
            if header
                .iter()
                .eq(["month", "from_currency", "to_currency", "rate"]) => {}
        _ => {
            return Err(vec![error(
                1,
                "header",
                "the header must be: month,from_currency,to_currency,rate",
            )]);
        }
    }
    for (index, record) in reader.records().enumerate() {
        let row = index as u64 + 2;
        let Ok(record) = record else {
            errors.push(error(row, "row", "not a CSV row of four fields"));
            continue;
        };
        let field = |i: usize| record.get(i).unwrap_or_default();
        let month = parse_month(field(0));
        let rate = Decimal::from_str_exact(field(3))
            .ok()
            .filter(|rate| *rate > Decimal::ZERO);
        if month.is_none() {
            errors.push(error(
                row,
                "month",
                "a month is YYYY-MM (or the first day, YYYY-MM-01)",
            ));
        }
        for (i, column) in [(1, "from_currency"), (2, "to_currency")] {
            if !is_currency(field(i)) {
                errors.push(error(row, column, "an ISO 4217 code such as USD"));
            }
        }
        if field(1) == field(2) {
            errors.push(error(row, "to_currency", "the two currencies must differ"));
        }
        if rate.is_none() {
            errors.push(error(row, "rate", "a positive decimal number"));
        }
        if let (Some(month), Some(rate)) = (month, rate) {
            rates.push(CostRate {
                month,
                from_currency: field(1).to_owned(),
                to_currency: field(2).to_owned(),
                rate,
            });
        }
        if errors.len() >= 100 || rates.len() > MAX_RATES {
            break;
        }
    }
    if rates.len() > MAX_RATES {
        errors.push(error(1, "file", "at most 100,000 rates per import"));
    }
    if errors.is_empty() {
        Ok(rates)
    } else {
        Err(errors)
    }
}

/// Adds or replaces exchange rates from a CSV body (`text/csv`): a header
/// `month,from_currency,to_currency,rate`, then one rate per line (`2024-09,EUR,USD,1.1032`).
/// All or nothing: any bad cell rejects the file with its row and column.
#[utoipa::path(post, path = "/api/v1/cost/rates", tag = "cost",
    request_body(content = String, content_type = "text/csv"),
    security(("session" = ["cost:write"]), ("bearer" = ["cost:write"])),
    responses(
        (status = 200, description = "Imported", body = RatesImported),
        (status = 422, description = "A bad cell; `details` lists each with its row and column", body = nimbus_api_types::ErrorBody),
    ))]
pub async fn import_rates(
    State(state): State<AppState>,
    caller: Can<perm::CostWrite>,
    body: String,
) -> Result<Json<RatesImported>, AppError> {
    let rates = parse(&body).map_err(|errors| {
        AppError::new(
            ErrorCode::ValidationFailed,
            "the rates file was rejected; see details.errors",
        )
        .with_details(serde_json::json!({ "errors": errors }))
    })?;
    let mut tx = db::begin_for_tenant(&state.db, caller.tenant).await?;
    let months: Vec<NaiveDate> = rates.iter().map(|r| r.month).collect();
    let from: Vec<&str> = rates.iter().map(|r| r.from_currency.as_str()).collect();
    let to: Vec<&str> = rates.iter().map(|r| r.to_currency.as_str()).collect();
    let values: Vec<Decimal> = rates.iter().map(|r| r.rate).collect();
    // The last line wins when a file names the same rate twice.
    let imported = sqlx::query!(
        "INSERT INTO cost_rates (tenant_id, month, from_currency, to_currency, rate)
         SELECT DISTINCT ON (month, from_currency, to_currency) $1, month, from_currency, to_currency, rate
         FROM unnest($2::date[], $3::text[], $4::text[], $5::numeric[]) WITH ORDINALITY
              AS r(month, from_currency, to_currency, rate, line)
         ORDER BY month, from_currency, to_currency, line DESC
         ON CONFLICT (tenant_id, from_currency, to_currency, month)
         DO UPDATE SET rate = excluded.rate, updated_at = now()",
        caller.tenant.0,
        &months,
        &from as &[&str],
        &to as &[&str],
        &values,
    )
    .execute(&mut *tx)
    .await?
    .rows_affected();
    let mut entry = caller.audit("cost.rates.import", String::new());
    entry.details = serde_json::json!({ "rates": imported });
    audit::record(&mut tx, &entry).await?;
    tx.commit().await?;
    Ok(Json(RatesImported { rates: imported }))
}

/// The tenant's exchange rates by month, then currency pair.
#[utoipa::path(get, path = "/api/v1/cost/rates", tag = "cost", params(PageQuery),
    security(("session" = ["cost:read"]), ("bearer" = ["cost:read"])),
    responses((status = 200, description = "One page of rates", body = Page<CostRate>)))]
pub async fn list_rates(
    State(state): State<AppState>,
    caller: Can<perm::CostRead>,
    Query(paging): Query<PageQuery>,
) -> Result<Json<Page<CostRate>>, AppError> {
    // The cursor is `YYYY-MM-DD FROM TO` of the last rate seen.
    let after = paging.after()?;
    let mut parts = after.as_deref().unwrap_or_default().split(' ');
    let (month, from, to) = (
        parts
            .next()
            .and_then(|m| NaiveDate::parse_from_str(m, "%Y-%m-%d").ok()),
        parts.next().unwrap_or_default(),
        parts.next().unwrap_or_default(),
    );
    let mut tx = db::begin_for_tenant(&state.db, caller.tenant).await?;
    let rows = sqlx::query_as!(
        CostRate,
        "SELECT month, from_currency, to_currency, rate FROM cost_rates
         WHERE tenant_id = $1 AND ($2::date IS NULL OR (month, from_currency, to_currency) > ($2, $3, $4))
         ORDER BY month, from_currency, to_currency LIMIT $5",
        caller.tenant.0,
        month,
        from,
        to,
        paging.fetch_limit()?,
    )
    .fetch_all(&mut *tx)
    .await?;
    db::finish_read(tx);
    Ok(Json(paging.page(rows, |rate| {
        format!("{} {} {}", rate.month, rate.from_currency, rate.to_currency)
    })?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_rates_file_is_read_or_refused_cell_by_cell() {
        let rates = parse("month,from_currency,to_currency,rate\n2024-09,EUR,USD,1.1032\n2024-10-01, CAD ,USD,0.73\n").unwrap();
        assert_eq!(rates.len(), 2);
        assert_eq!(rates[1].from_currency, "CAD");
        assert_eq!(rates[0].month, NaiveDate::from_ymd_opt(2024, 9, 1).unwrap());
        let errors = parse(
            "month,from_currency,to_currency,rate\n2024-13,eur,USD,-1\n2024-09-15,USD,USD,1\n",
        )
        .unwrap_err();
        let cells: Vec<_> = errors
            .iter()
            .map(|e| (e.row.unwrap(), e.column.clone().unwrap()))
            .collect();
        assert_eq!(
            cells,
            [
                (2, "month".to_owned()),
                (2, "from_currency".to_owned()),
                (2, "rate".to_owned()),
                (3, "month".to_owned()),
                (3, "to_currency".to_owned()),
            ]
        );
        assert!(parse("a,b\n").is_err());
    }
}
