//! Line charts as inline SVG, so the HTML report opens with no network and no script. Written
//! here rather than taken from a chart library because every such library renders in the
//! browser from JavaScript (and would have to be vendored); three time-series charts with
//! phase bands are a few dozen lines.

use std::fmt::Write;

/// One line of a chart.
#[derive(Debug, Clone)]
pub struct Series {
    /// Legend text.
    pub name: String,
    /// CSS colour.
    pub color: &'static str,
    /// (x, y) points in data units, x ascending.
    pub points: Vec<(f64, f64)>,
    /// Draw as steps (a level held until the next point) instead of straight segments.
    pub stepped: bool,
}

/// A shaded span of the x axis with a label (the test's phases).
#[derive(Debug, Clone)]
pub struct Band {
    /// Start, x units.
    pub from: f64,
    /// End, x units.
    pub to: f64,
    /// Label drawn at the top.
    pub label: String,
}

const WIDTH: f64 = 900.0;
const HEIGHT: f64 = 260.0;
const LEFT: f64 = 64.0;
const RIGHT: f64 = 16.0;
const TOP: f64 = 28.0;
const BOTTOM: f64 = 52.0;

/// The smallest of 1, 2, 5 x 10^k at or above `value` (a round axis maximum).
pub fn nice_ceiling(value: f64) -> f64 {
    if !(value.is_finite() && value > 0.0) {
        return 1.0;
    }
    let magnitude = 10f64.powf(value.log10().floor());
    [1.0, 2.0, 5.0, 10.0]
        .iter()
        .map(|m| m * magnitude)
        .find(|candidate| *candidate >= value * (1.0 - 1e-9))
        .unwrap_or(10.0 * magnitude)
}

fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

fn label(value: f64) -> String {
    if value == 0.0 {
        "0".into()
    } else if value.abs() >= 100.0 || value.fract() == 0.0 {
        format!("{value:.0}")
    } else if value.abs() >= 1.0 {
        format!("{value:.1}")
    } else {
        format!("{value:.2}")
    }
}

/// Gridline divisions for a round maximum: whole steps of its leading digit.
fn divisions(y_max: f64) -> u32 {
    let mantissa = y_max / 10f64.powf(y_max.log10().floor());
    if (mantissa - 2.0).abs() < 1e-6 { 4 } else { 5 }
}

/// Renders a chart of `series` over `0..x_max` with a y axis from 0 that fits every point
/// (and reaches at least `y_min_max`).
pub fn line_chart(
    title: &str,
    y_unit: &str,
    x_max: f64,
    y_min_max: f64,
    series: &[Series],
    bands: &[Band],
) -> String {
    let x_max = if x_max > 0.0 { x_max } else { 1.0 };
    let y_data_max = series
        .iter()
        .flat_map(|s| s.points.iter().map(|p| p.1))
        .filter(|y| y.is_finite())
        .fold(0.0, f64::max);
    let y_max = nice_ceiling(y_data_max.max(y_min_max));
    let plot_w = WIDTH - LEFT - RIGHT;
    let plot_h = HEIGHT - TOP - BOTTOM;
    let x = |v: f64| LEFT + v.clamp(0.0, x_max) / x_max * plot_w;
    let y = |v: f64| TOP + plot_h - v.clamp(0.0, y_max) / y_max * plot_h;

    let mut svg = String::new();
    let _ = write!(
        svg,
        r#"<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {WIDTH} {HEIGHT}" role="img" aria-label="{t}">"#,
        t = escape(title)
    );
    let _ = write!(
        svg,
        r#"<text x="{LEFT}" y="16" class="title">{}</text>"#,
        escape(title)
    );
    for (i, band) in bands.iter().enumerate() {
        let (x0, x1) = (x(band.from), x(band.to));
        let fill = if i % 2 == 0 { "#f2f4f8" } else { "#ffffff" };
        let _ = write!(
            svg,
            r#"<rect x="{x0:.1}" y="{TOP}" width="{w:.1}" height="{plot_h}" fill="{fill}"/><text x="{cx:.1}" y="{ty:.1}" class="band">{}</text>"#,
            escape(&band.label),
            w = (x1 - x0).max(0.0),
            cx = (x0 + x1) / 2.0,
            ty = TOP + 12.0,
        );
    }
    let n = divisions(y_max);
    for i in 0..=n {
        let v = y_max * f64::from(i) / f64::from(n);
        let _ = write!(
            svg,
            r#"<line x1="{LEFT}" x2="{x2}" y1="{yy:.1}" y2="{yy:.1}" class="grid"/><text x="{lx}" y="{ty:.1}" class="tick" text-anchor="end">{}</text>"#,
            label(v),
            x2 = WIDTH - RIGHT,
            yy = y(v),
            lx = LEFT - 6.0,
            ty = y(v) + 4.0,
        );
    }
    let x_step = nice_ceiling(x_max / 8.0);
    let mut t = 0.0;
    while t <= x_max + 1e-9 {
        let _ = write!(
            svg,
            r#"<text x="{:.1}" y="{ty}" class="tick" text-anchor="middle">{}s</text>"#,
            x(t),
            label(t),
            ty = TOP + plot_h + 16.0,
        );
        t += x_step;
    }
    let _ = write!(
        svg,
        r#"<text x="14" y="{cy:.1}" class="tick" transform="rotate(-90 14 {cy:.1})" text-anchor="middle">{}</text>"#,
        escape(y_unit),
        cy = TOP + plot_h / 2.0,
    );
    for s in series {
        if s.points.is_empty() {
            continue;
        }
        let mut d = String::new();
        let mut previous_y = None;
        for (i, &(px, py)) in s.points.iter().enumerate() {
            let (sx, sy) = (x(px), y(py));
            if i == 0 {
                let _ = write!(d, "M{sx:.1},{sy:.1}");
            } else {
                if s.stepped
                    && let Some(prev) = previous_y
                {
                    let _ = write!(d, " L{sx:.1},{prev:.1}");
                }
                let _ = write!(d, " L{sx:.1},{sy:.1}");
            }
            previous_y = Some(sy);
        }
        if s.stepped
            && let Some(prev) = previous_y
        {
            let _ = write!(d, " L{:.1},{prev:.1}", x(x_max));
        }
        let _ = write!(
            svg,
            r#"<path d="{d}" fill="none" stroke="{c}" stroke-width="2"/>"#,
            c = s.color
        );
    }
    let mut lx = LEFT;
    for s in series {
        let ly = HEIGHT - 14.0;
        let _ = write!(
            svg,
            r#"<rect x="{lx:.1}" y="{ry:.1}" width="12" height="4" fill="{c}"/><text x="{tx:.1}" y="{ly:.1}" class="legend">{}</text>"#,
            escape(&s.name),
            ry = ly - 5.0,
            c = s.color,
            tx = lx + 16.0,
        );
        lx += 24.0 + 7.0 * s.name.len() as f64;
    }
    svg.push_str("</svg>");
    svg
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nice_ceilings() {
        assert_eq!(nice_ceiling(0.0), 1.0);
        assert_eq!(nice_ceiling(3.2), 5.0);
        assert_eq!(nice_ceiling(5.0), 5.0);
        assert_eq!(nice_ceiling(51.0), 100.0);
        assert_eq!(nice_ceiling(0.013), 0.02);
        assert_eq!(
            (divisions(5.0), divisions(20.0), divisions(100.0)),
            (5, 4, 5)
        );
    }

    #[test]
    fn a_chart_is_well_formed_svg_with_its_series_and_bands() {
        let svg = line_chart(
            "latency <ms>",
            "ms",
            10.0,
            0.0,
            &[Series {
                name: "p95".into(),
                color: "#d62728",
                points: vec![(0.0, 1.0), (5.0, 3.0), (10.0, 2.0)],
                stepped: true,
            }],
            &[Band {
                from: 0.0,
                to: 5.0,
                label: "baseline".into(),
            }],
        );
        assert!(svg.starts_with("<svg") && svg.ends_with("</svg>"));
        assert!(svg.contains("latency &lt;ms&gt;"));
        assert!(svg.contains(">p95<") && svg.contains(">baseline<"));
        assert_eq!(svg.matches("<path").count(), 1);
        assert!(!svg.contains("NaN"));
    }
}
