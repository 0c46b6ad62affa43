mod app_page;
mod apps_page;

pub use app_page::AppPage;
pub use apps_page::AppsPage;

use nimbus_api_types::clouds::App;

/// An app's month cost in each of its billing currencies, or a dash without tagged bills.
fn cost_text(app: &App) -> String {
    if app.cost.is_empty() {
        return "—".to_owned();
    }
    app.cost
        .iter()
        .map(|cost| crate::format::money(cost.effective_cost, &cost.currency))
        .collect::<Vec<_>>()
        .join(" + ")
}
