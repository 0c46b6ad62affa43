use leptos::prelude::*;
use plotters::prelude::*;
use rust_decimal::prelude::ToPrimitive;

use crate::format::{self, Chart};

/// Series colours that read on light and dark backgrounds alike.
const PALETTE: [RGBColor; 6] = [
    RGBColor(37, 99, 235),
    RGBColor(234, 88, 12),
    RGBColor(22, 163, 74),
    RGBColor(147, 51, 234),
    RGBColor(219, 39, 119),
    RGBColor(100, 116, 139),
];

/// Spend per period, one line per group, drawn by `plotters` as SVG, with the legend in HTML
/// above it. `caption` names it for screen readers; the table beside every chart carries the
/// same figures.
#[component]
pub fn CostChart(chart: Chart, caption: String) -> impl IntoView {
    let label = caption.clone();
    let legend: Vec<(String, String)> = chart
        .series
        .iter()
        .enumerate()
        .map(|(index, series)| {
            let RGBColor(r, g, b) = PALETTE[index % PALETTE.len()];
            (
                series.name.clone(),
                format!("background: rgb({r}, {g}, {b})"),
            )
        })
        .collect();
    match render_svg(&chart, 960, 260) {
        Ok(svg) => view! {
            <figure class="chart" role="img" aria-label=label>
                <ul class="chart__legend" aria-hidden="true">
                    {legend.into_iter().map(|(name, colour)| view! {
                        <li><span class="chart__swatch" style=colour></span>{name}</li>
                    }).collect_view()}
                </ul>
                <div class="chart__plot" inner_html=svg></div>
                <figcaption>{caption}
                    {(!chart.left_out_currencies.is_empty()).then(|| format!(
                        " (in {}; costs in {} are in the table)",
                        chart.currency,
                        chart.left_out_currencies.join(", ")
                    ))}
                </figcaption>
            </figure>
        }
        .into_any(),
        Err(error) => view! { <p class="notice notice--error">{error}</p> }.into_any(),
    }
}

/// The chart as an SVG document of `width` × `height` pixels.
pub fn render_svg(chart: &Chart, width: u32, height: u32) -> Result<String, String> {
    let mut svg = String::new();
    draw(chart, &mut svg, (width, height))
        .map_err(|err| format!("cannot draw the chart: {err}"))?;
    Ok(svg)
}

fn draw(
    chart: &Chart,
    svg: &mut String,
    size: (u32, u32),
) -> Result<(), Box<dyn std::error::Error>> {
    let root = SVGBackend::with_string(svg, size).into_drawing_area();
    let periods = chart.periods.len().max(1);
    let highest = chart
        .series
        .iter()
        .flat_map(|series| series.amounts.iter())
        .filter_map(ToPrimitive::to_f64)
        .fold(0.0_f64, f64::max);
    let lowest = chart
        .series
        .iter()
        .flat_map(|series| series.amounts.iter())
        .filter_map(ToPrimitive::to_f64)
        .fold(0.0_f64, f64::min);
    let top = if highest > 0.0 { highest * 1.1 } else { 1.0 };
    let currency = chart.currency.clone();
    let mut plot = ChartBuilder::on(&root)
        .margin(12)
        .x_label_area_size(28)
        .y_label_area_size(84)
        .build_cartesian_2d(0..periods - 1, lowest..top)?;
    let period_label = |index: &usize| {
        chart
            .periods
            .get(*index)
            .map(|day| day.format("%b %-d").to_string())
            .unwrap_or_default()
    };
    let amount_label = |amount: &f64| {
        rust_decimal::Decimal::from_f64_retain(*amount)
            .map(|amount| whole(format::money(amount.round(), &currency)))
            .unwrap_or_default()
    };
    // Mid-grey axes read on light and dark themes; CSS recolours the text.
    let axis = RGBColor(148, 163, 184);
    plot.configure_mesh()
        .disable_x_mesh()
        .axis_style(axis)
        .light_line_style(TRANSPARENT)
        .bold_line_style(axis.mix(0.3))
        .label_style(("sans-serif", 13))
        .x_labels(periods.min(8))
        .y_labels(5)
        .x_label_formatter(&period_label)
        .y_label_formatter(&amount_label)
        .draw()?;
    for (index, series) in chart.series.iter().enumerate() {
        let colour = PALETTE[index % PALETTE.len()];
        let points = series
            .amounts
            .iter()
            .enumerate()
            .map(|(period, amount)| (period, amount.to_f64().unwrap_or(0.0)));
        plot.draw_series(LineSeries::new(points, colour.stroke_width(2)))?;
    }
    root.present()?;
    Ok(())
}

/// An axis label without the cents of a rounded amount: `$1,000.00` → `$1,000`.
fn whole(mut amount: String) -> String {
    if amount.ends_with(".00") {
        amount.truncate(amount.len() - 3);
    }
    amount
}

#[cfg(test)]
mod tests {
    use std::str::FromStr;

    use chrono::NaiveDate;
    use nimbus_api_types::cost::CostRow;
    use rust_decimal::Decimal;

    use super::*;

    #[test]
    fn the_svg_draws_a_line_per_series_and_labels_the_axes_in_money() {
        let rows: Vec<CostRow> = [
            ("2026-01-01", "aws", "1200"),
            ("2026-01-02", "azure", "300"),
        ]
        .into_iter()
        .map(|(day, group, amount)| CostRow {
            period: NaiveDate::from_str(day).unwrap(),
            group: vec![Some(group.to_owned())],
            currency: "USD".to_owned(),
            amount: Decimal::from_str(amount).unwrap(),
        })
        .collect();
        let svg = render_svg(&format::chart(&rows, 5).unwrap(), 600, 240).unwrap();
        assert!(svg.starts_with("<svg"), "{svg}");
        assert!(svg.contains("\nJan 2\n"), "x axis labels periods: {svg}");
        assert!(svg.contains("\n$1,000\n"), "y axis labels money: {svg}");
        assert_eq!(
            svg.matches(r#"stroke-width="2" points="#).count(),
            2,
            "one line per series: {svg}"
        );
    }
}
