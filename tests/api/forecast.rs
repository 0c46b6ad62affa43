//! Forecasts over an imported history, and the backtest's error on it.

use axum::http::Method;
use chrono::NaiveDate;
use nimbus_api_types::rbac::BuiltinRole;
use nimbus_tests::{TestApp, weekly_bill};
use rust_decimal::Decimal;

fn date(text: &str) -> NaiveDate {
    text.parse().unwrap()
}

#[tokio::test]
async fn the_forecast_continues_the_weekly_rhythm_from_the_last_billed_day() {
    let app = TestApp::new().await;
    let tenant = app.tenant("forecast").await;
    let finance = app.member(tenant, BuiltinRole::Finance).await;
    let viewer = app.member(tenant, BuiltinRole::Viewer).await;
    // July to mid-October 2024: weekdays 100, weekends 40.
    let bill = weekly_bill(date("2024-07-01"), date("2024-10-16"), "100", "40");
    let imported = app
        .upload_bill(&finance.token, "history.csv", bill.as_bytes())
        .await;
    assert_eq!(imported.status, 201, "{}", imported.text());

    let response = app
        .call(&viewer.token, Method::GET, "/api/v1/forecasts", None)
        .await;
    assert_eq!(response.status, 200, "{}", response.text());
    let report = response.json();
    assert_eq!(report["method"], "weekday_seasonal");
    let forecast = &report["forecasts"][0];
    assert_eq!(forecast["currency"], "USD");
    assert_eq!(forecast["as_of"], "2024-10-16", "bills end on the 15th");
    let amount = |field: &str| -> Decimal { forecast[field].as_str().unwrap().parse().unwrap() };
    // 1–15 Oct 2024: 11 weekdays, 4 weekend days; 16–31 Oct: 12 and 4; November: 21 and 9.
    assert_eq!(amount("month_to_date"), Decimal::from(1100 + 160));
    assert_eq!(amount("month_end"), Decimal::from(1100 + 160 + 1200 + 160));
    assert_eq!(amount("next_month"), Decimal::from(2100 + 360));
    let daily = forecast["daily"].as_array().unwrap();
    assert_eq!(daily.len(), 16 + 30, "each day to the end of next month");
    assert_eq!(daily[3]["day"], "2024-10-19");
    assert_eq!(
        daily[3]["amount"]
            .as_str()
            .unwrap()
            .parse::<Decimal>()
            .unwrap(),
        Decimal::from(40),
        "a Saturday"
    );

    // One project's forecast: nothing is allocated to it yet.
    let project = app
        .call(
            &finance.token,
            Method::GET,
            &format!("/api/v1/forecasts?project={}", uuid::Uuid::new_v4()),
            None,
        )
        .await;
    assert_eq!(project.status, 200);
    assert_eq!(project.json()["forecasts"], serde_json::json!([]));
}
