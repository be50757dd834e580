//! An SVG chart of a trace's demand against the instances each autoscaler ran.

use std::fmt::Write;

use super::{CapacityModel, Run};

const WIDTH: f64 = 1000.0;
const HEIGHT: f64 = 380.0;
const LEFT: f64 = 50.0;
const RIGHT: f64 = 20.0;
const TOP: f64 = 40.0;
const BOTTOM: f64 = 40.0;
/// Most points per line: a week at 15 s is 40 320 ticks; a chart needs far fewer.
const MAX_POINTS: usize = 1_000;
const COLORS: [&str; 4] = ["#1f77b4", "#d62728", "#2ca02c", "#9467bd"];

/// Renders demand (in instances at full capacity: request rate / per-instance capacity) and
/// each run's instance count over time, with SLO-violation ticks marked under the axis.
pub fn render_svg(title: &str, runs: &[&Run], model: &CapacityModel) -> String {
    let Some(first) = runs.first() else {
        return String::new();
    };
    let duration = first.samples.last().map_or(1.0, |s| s.at_secs).max(1.0);
    let demand: Vec<(f64, f64)> = first
        .samples
        .iter()
        .map(|s| (s.at_secs, s.request_rate / model.requests_per_instance))
        .collect();
    // The scale follows finite values only: an infinite or NaN demand (a hand-built trace, a
    // zero per-instance capacity) is drawn at the top or the bottom, never as "NaN" coordinates.
    let peak = runs
        .iter()
        .flat_map(|r| r.samples.iter().map(|s| f64::from(s.instances)))
        .chain(demand.iter().map(|d| d.1).filter(|v| v.is_finite()))
        .fold(1.0f64, f64::max)
        .ceil()
        + 1.0;
    let x = |t: f64| {
        let t = if t.is_nan() {
            0.0
        } else {
            t.clamp(0.0, duration)
        };
        LEFT + (WIDTH - LEFT - RIGHT) * t / duration
    };
    let y = |v: f64| {
        let v = if v.is_nan() { 0.0 } else { v.clamp(0.0, peak) };
        TOP + (HEIGHT - TOP - BOTTOM) * (1.0 - v / peak)
    };

    let mut svg = String::new();
    let _ = write!(
        svg,
        r##"<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{HEIGHT}" viewBox="0 0 {WIDTH} {HEIGHT}" font-family="sans-serif" font-size="12">
<rect width="100%" height="100%" fill="white"/>
<text x="{LEFT}" y="20" font-size="14">{}</text>
"##,
        escape(title)
    );
    // Horizontal grid with instance counts.
    let step = (peak / 8.0).ceil().max(1.0);
    for v in (0u32..)
        .map(|k| f64::from(k) * step)
        .take_while(|v| *v <= peak)
    {
        let _ = writeln!(
            svg,
            r##"<line x1="{LEFT}" x2="{:.1}" y1="{:.1}" y2="{:.1}" stroke="#eee"/><text x="{:.1}" y="{:.1}" text-anchor="end">{v}</text>"##,
            WIDTH - RIGHT,
            y(v),
            y(v),
            LEFT - 6.0,
            y(v) + 4.0
        );
    }
    let hours = duration / 3_600.0;
    let _ = writeln!(
        svg,
        r##"<text x="{:.1}" y="{:.1}" text-anchor="end">{hours:.1} h</text><text x="{LEFT}" y="{:.1}">0 h</text>"##,
        WIDTH - RIGHT,
        HEIGHT - 8.0,
        HEIGHT - 8.0
    );

    polyline(&mut svg, &downsample(&demand), "#999", 1.0, &x, &y);
    let mut legend = vec![("demand (instances at 100 % CPU)".to_string(), "#999")];
    for (i, run) in runs.iter().enumerate() {
        let color = COLORS[i % COLORS.len()];
        let points: Vec<(f64, f64)> = run
            .samples
            .iter()
            .map(|s| (s.at_secs, f64::from(s.instances)))
            .collect();
        polyline(&mut svg, &downsample(&points), color, 1.5, &x, &y);
        // Violation marks: one short bar per violating stretch, under the plot.
        let row = HEIGHT - BOTTOM + 6.0 + 6.0 * i as f64;
        let mut stretch: Option<f64> = None;
        let end = run.samples.last().map_or(0.0, |s| s.at_secs);
        for s in &run.samples {
            match (s.violation, stretch) {
                (true, None) => stretch = Some(s.at_secs),
                (false, Some(from)) => {
                    violation_bar(&mut svg, x(from), x(s.at_secs), row, color);
                    stretch = None;
                }
                _ => {}
            }
        }
        if let Some(from) = stretch {
            violation_bar(&mut svg, x(from), x(end), row, color);
        }
        legend.push((
            format!(
                "{}: {:.0} instance-h, {:.0} SLO min",
                run.report.autoscaler, run.report.instance_hours, run.report.slo_violation_minutes
            ),
            color,
        ));
    }
    for (i, (label, color)) in legend.iter().enumerate() {
        let lx = LEFT + 10.0 + 300.0 * i as f64;
        let _ = writeln!(
            svg,
            r##"<rect x="{lx:.1}" y="28" width="12" height="3" fill="{color}"/><text x="{:.1}" y="33">{}</text>"##,
            lx + 16.0,
            escape(label)
        );
    }
    svg.push_str("</svg>\n");
    svg
}

fn polyline(
    svg: &mut String,
    points: &[(f64, f64)],
    color: &str,
    width: f64,
    x: &impl Fn(f64) -> f64,
    y: &impl Fn(f64) -> f64,
) {
    let _ = write!(
        svg,
        r##"<polyline fill="none" stroke="{color}" stroke-width="{width}" points=""##
    );
    for (t, v) in points {
        let _ = write!(svg, "{:.1},{:.1} ", x(*t), y(*v));
    }
    svg.push_str("\"/>\n");
}

fn violation_bar(svg: &mut String, x0: f64, x1: f64, row: f64, color: &str) {
    let _ = writeln!(
        svg,
        r##"<rect x="{x0:.1}" y="{row:.1}" width="{:.1}" height="4" fill="{color}"/>"##,
        (x1 - x0).max(1.0)
    );
}

/// Keeps at most [`MAX_POINTS`] per line, taking each bucket's highest value so peaks survive.
fn downsample(points: &[(f64, f64)]) -> Vec<(f64, f64)> {
    let bucket = points.len().div_ceil(MAX_POINTS).max(1);
    points
        .chunks(bucket)
        .filter_map(|c| {
            let t = c.first()?.0;
            let v = c.iter().map(|p| p.1).fold(f64::MIN, f64::max);
            Some((t, v))
        })
        .collect()
}

fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}
