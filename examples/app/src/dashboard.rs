//! The scaling dashboard (`/admin/scaling`): for now a server-rendered snapshot of what the
//! admin APIs report (instance, CPU and memory, pool, CDN, the scaling verdict and its
//! recent changes), refreshed every few seconds. The live page with charts replaces it.

use std::fmt::Write;

use crate::html::escape;
use crate::routes::admin::Status;
use crate::scaling::AdvisorReport;

/// The page.
pub fn render(status: &Status, advice: &AdvisorReport, cdn: &clip_cdn::CdnStats) -> String {
    let mut page = String::with_capacity(4096);
    let _ = write!(
        page,
        r#"<!doctype html><html lang="en"><head><meta charset="utf-8">
<meta http-equiv="refresh" content="5"><title>Scaling: {instance}</title></head><body>
<h1>Scaling dashboard</h1>
<h2>Instance</h2><ul>
<li>instance: {instance}</li><li>draining: {draining}</li><li>requests in flight: {in_flight} of {max}</li>
<li>jobs running here: {running}; waiting fleet-wide: {pending}</li></ul>"#,
        instance = escape(&status.instance),
        draining = status.draining,
        in_flight = status.requests_in_flight,
        max = status.max_concurrent_requests,
        running = status.jobs_running,
        pending = status
            .jobs_pending
            .map_or_else(|| "unknown".to_owned(), |n| n.to_string()),
    );
    page.push_str("<h2>Scaling verdict (this instance)</h2>");
    match &advice.latest {
        Some(latest) => {
            let o = &latest.observed;
            let _ = write!(
                page,
                "<p>{}</p><ul><li>CPU: {}</li><li>memory: {}</li><li>requests/s: {}</li><li>queue: {}</li><li>p95: {}</li></ul>",
                escape(&latest.summary),
                shown(o.cpu_percent, "%"),
                shown(o.memory_percent, "%"),
                shown(o.request_rate, ""),
                shown(o.queue_length, ""),
                shown(o.p95_ms, " ms"),
            );
        }
        None => page.push_str("<p>no evaluation yet</p>"),
    }
    page.push_str("<h2>Recent changes of verdict</h2><ul>");
    for event in &advice.events {
        let _ = write!(page, "<li>{}: {}</li>", event.at, escape(&event.summary));
    }
    let pool = &status.pool;
    let _ = write!(
        page,
        "</ul><h2>Database pool</h2><ul><li>connections: {} ({} in use, {} idle, {} waiting) of {}</li>\
         <li>utilization: {:.0}%</li><li>acquire wait p95: {:.1} ms</li></ul>\
         <h2>CDN</h2><ul><li>healthy: {}</li><li>requests: {}</li><li>cache hit rate: {:.1}%</li>\
         <li>failed assets: {}</li></ul></body></html>",
        pool.connections,
        pool.in_use,
        pool.idle,
        pool.waiting,
        pool.max_connections,
        pool.utilization * 100.0,
        pool.acquire_wait.p95_ms,
        status.cdn_healthy,
        cdn.requests,
        cdn.hit_rate * 100.0,
        cdn.failed_assets,
    );
    page
}

fn shown(value: Option<f64>, unit: &str) -> String {
    value.map_or_else(|| "not measured".to_owned(), |v| format!("{v:.1}{unit}"))
}
