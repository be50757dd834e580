//! An SVG chart of a trace's demand against the instances each autoscaler ran.

use std::fmt::Write;

use super::{CapacityModel, Run};

const WIDTH: f64 = 1000.0;
const HEIGHT: f64 = 400.0;
const LEFT: f64 = 50.0;
const RIGHT: f64 = 20.0;
/// Room under the plot for the time labels; each run adds a row of violation marks.
const BOTTOM_BASE: f64 = 26.0;
const MARK_ROW: f64 = 8.0;
/// Approximate width of a character of the 12 px sans-serif legend, for wrapping it.
const CHAR_WIDTH: f64 = 6.8;
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

    // The legend: demand, one entry per run, and what the marks under the axis mean; it
    // wraps to as many rows as it needs, and the plot starts below it.
    let mut legend = vec![("demand (instances at 100 % CPU)".to_string(), "#999")];
    for (i, run) in runs.iter().enumerate() {
        legend.push((
            format!(
                "{}: {:.0} instance-h, {:.0} SLO min",
                run.report.autoscaler, run.report.instance_hours, run.report.slo_violation_minutes
            ),
            COLORS[i % COLORS.len()],
        ));
    }
    legend.push((
        "marks under the axis: SLO-violating ticks".to_string(),
        "#555",
    ));
    let mut placed = Vec::with_capacity(legend.len());
    let (mut lx, mut ly) = (LEFT, 36.0);
    for (label, color) in &legend {
        let width = 16.0 + CHAR_WIDTH * label.chars().count() as f64 + 24.0;
        if lx + width > WIDTH - RIGHT && lx > LEFT {
            lx = LEFT;
            ly += 18.0;
        }
        placed.push((lx, ly, label, *color));
        lx += width;
    }
    let top = ly + 20.0;
    let bottom = BOTTOM_BASE + MARK_ROW * runs.len() as f64;

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
        top + (HEIGHT - top - bottom) * (1.0 - v / peak)
    };

    let mut svg = String::new();
    let _ = write!(
        svg,
        r##"<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{HEIGHT}" viewBox="0 0 {WIDTH} {HEIGHT}" font-family="sans-serif" font-size="12">
<rect width="100%" height="100%" fill="white"/>
<text x="{LEFT}" y="18" font-size="14">{}</text>
"##,
        escape(title)
    );
    for (lx, ly, label, color) in &placed {
        let _ = writeln!(
            svg,
            r##"<rect x="{lx:.1}" y="{:.1}" width="12" height="3" fill="{color}"/><text x="{:.1}" y="{ly:.1}">{}</text>"##,
            ly - 5.0,
            lx + 16.0,
            escape(label)
        );
    }
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
        HEIGHT - 6.0,
        HEIGHT - 6.0
    );

    polyline(&mut svg, &downsample(&demand), "#999", 1.0, &x, &y);
    for (i, run) in runs.iter().enumerate() {
        let color = COLORS[i % COLORS.len()];
        let points: Vec<(f64, f64)> = run
            .samples
            .iter()
            .map(|s| (s.at_secs, f64::from(s.instances)))
            .collect();
        polyline(&mut svg, &downsample(&points), color, 1.5, &x, &y);
        // Violation marks: one short bar per violating stretch, in the run's row under the
        // plot; stretches less than a pixel apart make one bar.
        let row = HEIGHT - bottom + 4.0 + MARK_ROW * i as f64;
        let end = run.samples.last().map_or(0.0, |s| s.at_secs);
        let mut bars: Vec<(f64, f64)> = Vec::new();
        let mut stretch: Option<f64> = None;
        let mut add = |from: f64, to: f64| match bars.last_mut() {
            Some(last) if x(from) - last.1 < 1.0 => last.1 = x(to),
            _ => bars.push((x(from), x(to))),
        };
        for s in &run.samples {
            match (s.violation, stretch) {
                (true, None) => stretch = Some(s.at_secs),
                (false, Some(from)) => {
                    add(from, s.at_secs);
                    stretch = None;
                }
                _ => {}
            }
        }
        if let Some(from) = stretch {
            add(from, end);
        }
        for (x0, x1) in bars {
            violation_bar(&mut svg, x0, x1, row, color);
        }
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
