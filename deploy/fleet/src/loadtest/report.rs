//! The load test's two reports: a Markdown summary (for a terminal, a README or a PR) and a
//! self-contained HTML page with charts (inline SVG and CSS: it opens with no network).

use std::fmt::Write;

use super::svg::{self, Band, Series};
use super::{PhaseResult, Report};
use crate::loadtest::stats::Figures;

/// The guide's targets: p95 under 2 s, errors under 5 %.
const P95_TARGET_SECONDS: f64 = 2.0;
const ERROR_RATIO_TARGET: f64 = 0.05;

fn ms(seconds: f64) -> String {
    let ms = seconds * 1e3;
    if ms >= 100.0 {
        format!("{ms:.0} ms")
    } else {
        format!("{ms:.1} ms")
    }
}

fn percent(ratio: f64) -> String {
    format!("{:.2} %", ratio * 100.0)
}

fn range<T: PartialEq + std::fmt::Display>(pair: &(T, T)) -> String {
    if pair.0 == pair.1 {
        pair.0.to_string()
    } else {
        format!("{} → {}", pair.0, pair.1)
    }
}

fn rates(pair: &(f64, f64)) -> String {
    range(&(format!("{:.0}", pair.0), format!("{:.0}", pair.1)))
}

fn instances_summary(report: &Report) -> String {
    let counts: Vec<u32> = report.instances.iter().map(|p| p.1).collect();
    match (
        counts.first(),
        counts.last(),
        counts.iter().min(),
        counts.iter().max(),
    ) {
        (Some(first), Some(last), Some(min), Some(max)) => format!(
            "{first} at the start, {last} at the end (min {min}, max {max}); source: {}",
            report.instances_source
        ),
        _ => "not observed (neither the autoscaler nor /metrics answered)".into(),
    }
}

fn verdicts(total: &Figures) -> [(String, bool); 2] {
    [
        (
            format!(
                "p95 {} (guide: under {})",
                ms(total.p95),
                ms(P95_TARGET_SECONDS)
            ),
            total.p95 < P95_TARGET_SECONDS,
        ),
        (
            format!(
                "error rate {} (guide: under {})",
                percent(total.error_ratio()),
                percent(ERROR_RATIO_TARGET)
            ),
            total.error_ratio() < ERROR_RATIO_TARGET,
        ),
    ]
}

/// What to do about 429s: they measure the rate limiter, not the fleet.
fn rate_limited_note(total: &Figures) -> Option<String> {
    (total.rate_limited > 0).then(|| {
        format!(
            "{} requests were rate limited (429): the load balancer limits each client address; \
             to measure the fleet, exempt the load generator (LB_RATE_LIMIT_EXEMPT=127.0.0.1/32 \
             for the local fleet)",
            total.rate_limited
        )
    })
}

fn phase_row(name: &str, seconds: f64, users: &str, rate: &str, f: &Figures) -> [String; 11] {
    [
        name.to_owned(),
        format!("{seconds:.0} s"),
        users.to_owned(),
        rate.to_owned(),
        format!("{:.1}", f.throughput),
        ms(f.p50),
        ms(f.p95),
        ms(f.p99),
        ms(f.max),
        format!("{} ({})", f.errors, percent(f.error_ratio())),
        f.rate_limited.to_string(),
    ]
}

const HEADER: [&str; 11] = [
    "phase",
    "time",
    "users",
    "target req/s",
    "achieved req/s",
    "p50",
    "p95",
    "p99",
    "max",
    "errors",
    "429",
];

fn rows(report: &Report) -> Vec<[String; 11]> {
    let mut rows: Vec<[String; 11]> = report
        .phases
        .iter()
        .map(|p: &PhaseResult| {
            phase_row(
                p.name,
                p.to_seconds - p.from_seconds,
                &range(&p.users),
                &rates(&p.target_rate),
                &p.figures,
            )
        })
        .collect();
    rows.push(phase_row(
        "**total**",
        report.elapsed_seconds,
        &report.users.to_string(),
        "",
        &report.total,
    ));
    rows
}

/// The Markdown summary.
pub fn markdown(report: &Report) -> String {
    let mut md = String::new();
    let _ = writeln!(
        md,
        "# Load test of {}\n\n{} s planned ({:.0} s run), {} users at full load, {} req/s per user; started {}.\n\
         Driven by oha at a constant rate per step with latency correction: a request's time counts from when it was due, \
         so a stalled server shows in the percentiles (no coordinated omission). \
         Errors are 5xx, other 4xx and requests that got no answer; 429 (rate limited) is counted apart.\n",
        report.target,
        report.planned_seconds,
        report.elapsed_seconds,
        report.users,
        report.rate_per_user,
        report.started_utc,
    );
    let _ = writeln!(md, "| {} |", HEADER.join(" | "));
    let _ = writeln!(md, "|{}", "---|".repeat(HEADER.len()));
    for row in rows(report) {
        let _ = writeln!(md, "| {} |", row.join(" | "));
    }
    let _ = writeln!(md, "\nInstances: {}.\n", instances_summary(report));
    for (text, ok) in verdicts(&report.total) {
        let _ = writeln!(md, "- {} {text}", if ok { "✅" } else { "❌" });
    }
    if let Some(note) = rate_limited_note(&report.total) {
        let _ = writeln!(md, "- {note}");
    }
    let decisions: Vec<&str> = report
        .samples
        .iter()
        .filter_map(|s| s.autoscaler_decision.as_deref())
        .collect();
    if let Some(last) = decisions.last() {
        let _ = writeln!(md, "- autoscaler's last decision: {last}");
    }
    md
}

fn bands(report: &Report) -> Vec<Band> {
    report
        .phases
        .iter()
        .map(|p| Band {
            from: p.from_seconds,
            to: p.to_seconds,
            label: p.name.to_owned(),
        })
        .collect()
}

fn charts(report: &Report) -> [String; 3] {
    let x_max = report.elapsed_seconds;
    let bands = bands(report);
    let width = report
        .buckets
        .get(1)
        .map_or(1.0, |next| next.at_seconds - report.buckets[0].at_seconds)
        .max(0.1);
    // A bucket's figures describe its whole width: plot them at its middle.
    let at = |b: &super::stats::Bucket| b.at_seconds + width / 2.0;
    let latency = |name: &str, color: &'static str, pick: fn(&Figures) -> f64| Series {
        name: name.to_owned(),
        color,
        points: report
            .buckets
            .iter()
            .filter(|b| b.figures.requests > 0)
            .map(|b| (at(b), pick(&b.figures) * 1e3))
            .collect(),
        stepped: false,
    };
    let latency_chart = svg::line_chart(
        "Latency percentiles (latency-corrected)",
        "ms",
        x_max,
        0.0,
        &[
            latency("p50", "#1f77b4", |f| f.p50),
            latency("p95", "#ff7f0e", |f| f.p95),
            latency("p99", "#d62728", |f| f.p99),
        ],
        &bands,
    );
    let throughput_chart = svg::line_chart(
        "Throughput",
        "requests / s",
        x_max,
        0.0,
        &[
            Series {
                name: "asked (target rate)".into(),
                color: "#7f7f7f",
                points: report.target_rate.clone(),
                stepped: true,
            },
            Series {
                name: "answered".into(),
                color: "#2ca02c",
                points: report
                    .buckets
                    .iter()
                    .map(|b| (at(b), b.figures.throughput))
                    .collect(),
                stepped: false,
            },
            Series {
                name: "errors + 429 / s".into(),
                color: "#d62728",
                points: report
                    .buckets
                    .iter()
                    .map(|b| {
                        (
                            at(b),
                            (b.figures.errors + b.figures.rate_limited) as f64 / width,
                        )
                    })
                    .collect(),
                stepped: false,
            },
        ],
        &bands,
    );
    let instances_chart = svg::line_chart(
        "Instances",
        "instances",
        x_max,
        5.0,
        &[Series {
            name: report.instances_source.clone(),
            color: "#9467bd",
            points: report
                .instances
                .iter()
                .map(|&(t, n)| (t, f64::from(n)))
                .collect(),
            stepped: true,
        }],
        &bands,
    );
    [latency_chart, throughput_chart, instances_chart]
}

fn html_escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

/// The HTML report: one file, no external resource.
pub fn html(report: &Report) -> String {
    let mut table = String::from("<table><thead><tr>");
    for h in HEADER {
        let _ = write!(table, "<th>{h}</th>");
    }
    table.push_str("</tr></thead><tbody>");
    for row in rows(report) {
        table.push_str("<tr>");
        for cell in row {
            let cell = html_escape(&cell.replace("**", ""));
            let _ = write!(table, "<td>{cell}</td>");
        }
        table.push_str("</tr>");
    }
    table.push_str("</tbody></table>");
    let mut verdict_list = String::new();
    for (text, ok) in verdicts(&report.total) {
        let _ = write!(
            verdict_list,
            r#"<li class="{}">{}</li>"#,
            if ok { "pass" } else { "fail" },
            html_escape(&text)
        );
    }
    if let Some(note) = rate_limited_note(&report.total) {
        let _ = write!(
            verdict_list,
            r#"<li class="fail">{}</li>"#,
            html_escape(&note)
        );
    }
    let [latency, throughput, instances] = charts(report);
    let phases: String = report
        .phases
        .iter()
        .map(|p| format!("<li><b>{}</b>: {}</li>", p.name, html_escape(p.purpose)))
        .collect();
    format!(
        r#"<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Load test of {target}</title>
<style>
body {{ font: 14px/1.45 system-ui, -apple-system, "Segoe UI", sans-serif; color: #1d2330; margin: 24px auto; max-width: 960px; padding: 0 16px; }}
h1 {{ font-size: 22px; margin-bottom: 4px; }}
.meta {{ color: #5a6275; margin-top: 0; }}
table {{ border-collapse: collapse; width: 100%; margin: 12px 0 8px; font-variant-numeric: tabular-nums; }}
th, td {{ padding: 5px 8px; border-bottom: 1px solid #e3e6ee; text-align: right; white-space: nowrap; }}
th:first-child, td:first-child {{ text-align: left; }}
thead th {{ background: #f2f4f8; font-weight: 600; }}
tbody tr:last-child td {{ font-weight: 600; border-top: 2px solid #c9cfdc; }}
ul.verdicts {{ list-style: none; padding: 0; }}
ul.verdicts li::before {{ display: inline-block; width: 1.4em; font-weight: 700; }}
li.pass::before {{ content: "✓"; color: #2ca02c; }}
li.fail::before {{ content: "✗"; color: #d62728; }}
figure {{ margin: 18px 0; border: 1px solid #e3e6ee; border-radius: 6px; padding: 8px; }}
svg {{ width: 100%; height: auto; display: block; }}
svg .title {{ font-size: 14px; font-weight: 600; fill: #1d2330; }}
svg .tick, svg .legend {{ font-size: 11px; fill: #5a6275; }}
svg .band {{ font-size: 11px; fill: #8a91a3; text-anchor: middle; }}
svg .grid {{ stroke: #e3e6ee; stroke-width: 1; }}
.note {{ color: #5a6275; font-size: 13px; }}
</style></head>
<body>
<h1>Load test of {target}</h1>
<p class="meta">{planned} s planned ({elapsed:.0} s run) · {users} users at full load · {rate} req/s per user · started {started}</p>
<ul class="verdicts">{verdict_list}</ul>
{table}
<p class="note">Instances: {instances_summary}.</p>
<figure>{latency}</figure>
<figure>{throughput}</figure>
<figure>{instances}</figure>
<p class="note">Driven by oha at a constant rate per step with latency correction: a request's time counts from when it was due, so a stalled server shows in the percentiles instead of slowing the load down (no coordinated omission). Errors are 5xx, other 4xx and requests that got no answer; 429 is counted apart.</p>
<ul class="note">{phases}</ul>
</body></html>
"#,
        target = html_escape(&report.target),
        planned = report.planned_seconds,
        elapsed = report.elapsed_seconds,
        users = report.users,
        rate = report.rate_per_user,
        started = report.started_utc,
        instances_summary = html_escape(&instances_summary(report)),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::loadtest::monitor::Sample;
    use crate::loadtest::stats::{self, Request};
    use std::time::Duration;

    fn report() -> Report {
        let requests: Vec<Request> = (0..100)
            .map(|i| Request {
                at_seconds: f64::from(i) / 10.0,
                seconds: 0.002 + f64::from(i % 10) / 1000.0,
                status: if i == 50 { 503 } else { 200 },
            })
            .collect();
        let phase = |name, from, to| PhaseResult {
            name,
            purpose: "x",
            from_seconds: from,
            to_seconds: to,
            users: (2, 10),
            target_rate: (20.0, 100.0),
            figures: Figures::of(&requests[..50], 0, 5.0),
        };
        Report {
            target: "https://localhost:8443/api/projects".into(),
            started_utc: "2026-11-30T05:00:00Z".into(),
            planned_seconds: 10,
            elapsed_seconds: 10.0,
            users: 10,
            rate_per_user: 10.0,
            phases: vec![phase("baseline", 0.0, 5.0), phase("ramp", 5.0, 10.0)],
            total: Figures::of(&requests, 1, 10.0),
            buckets: stats::buckets(&requests, Duration::from_secs(1), 10.0),
            target_rate: vec![(0.0, 20.0), (5.0, 100.0)],
            samples: vec![Sample {
                at_seconds: 1.0,
                autoscaler_instances: Some(3),
                autoscaler_decision: Some("hold 3".into()),
                ..Sample::default()
            }],
            instances: vec![(1.0, 3)],
            instances_source: "autoscaler /status (ready instances)".into(),
        }
    }

    #[test]
    fn markdown_has_a_row_per_phase_and_the_verdicts() {
        let md = markdown(&report());
        assert!(
            md.contains("| baseline | 5 s | 2 → 10 | 20 → 100 |"),
            "{md}"
        );
        assert!(md.contains("| **total** |"));
        assert!(md.contains("✅ p95"));
        assert!(md.contains("error rate 1.98 %"), "{md}"); // 1 answered 503 + 1 unanswered of 101
        assert!(md.contains("3 at the start, 3 at the end"));
        assert!(md.contains("last decision: hold 3"));
        assert!(!md.contains("LB_RATE_LIMIT_EXEMPT"));
    }

    #[test]
    fn rate_limited_requests_get_advice() {
        let mut r = report();
        r.total.rate_limited = 7;
        assert!(markdown(&r).contains("7 requests were rate limited (429)"));
        assert!(html(&r).contains("LB_RATE_LIMIT_EXEMPT"));
    }

    #[test]
    fn html_is_self_contained_with_three_charts() {
        let page = html(&report());
        assert_eq!(page.matches("<svg").count(), 3);
        for external in ["<script", "<link", "src=", "@import", "url("] {
            assert!(
                !page.contains(external),
                "the report must not load `{external}`"
            );
        }
        assert!(page.contains("Latency percentiles") && page.contains("Instances"));
    }
}
