//! One instance's `/metrics` page, parsed (by `prometheus-parse`) into the few series the
//! autoscaler reads (docs/CONTRACTS: what every app instance exports).
//!
//! Counters stay raw here; rates come from two samples in [`crate::aggregate`].

use std::collections::BTreeMap;

use prometheus_parse::{Scrape, Value};

/// Routes the autoscaler's own probes hit: requests to them are not the fleet's load.
const PROBE_ROUTES: &[&str] = &["/metrics", "/health", "/lb-health", "/api/health/ready"];

/// A series' labels, sorted and joined (`method=GET,route=/api/projects,status=200`).
pub type SeriesKey = String;

/// Cumulative histogram buckets: (upper bound, count), bounds increasing, `+Inf` last.
pub type Buckets = Vec<(f64, f64)>;

/// What one scrape of one instance says.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct InstanceSample {
    /// `process_cpu_seconds_total`.
    pub cpu_seconds: Option<f64>,
    /// `clip_process_cpu_limit_cores`: what 100 % CPU means for this process.
    pub cpu_limit_cores: Option<f64>,
    /// `clip_process_cpu_usage_percent` (the instance's own window; used when the counter or the
    /// limit is not exported).
    pub cpu_percent_gauge: Option<f64>,
    /// `clip_process_memory_usage_percent`.
    pub memory_percent: Option<f64>,
    /// `http_requests_total` per series, probe routes left out.
    pub requests: BTreeMap<SeriesKey, f64>,
    /// `http_request_duration_seconds` buckets per series, probe routes left out.
    pub durations: BTreeMap<SeriesKey, Buckets>,
    /// `clip_jobs_pending` (fleet-wide: the same on every instance).
    pub jobs_pending: Option<f64>,
    /// The `instance` label of `clip_app_info`.
    pub instance: Option<String>,
}

/// Why a page could not be read as Prometheus text.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("not Prometheus text: {0}")]
pub struct ParseError(String);

impl InstanceSample {
    /// Parses a Prometheus text exposition. Series the autoscaler does not read are skipped;
    /// a page with none of them is still a sample (every metric missing), not an error.
    pub fn parse(text: &str) -> Result<Self, ParseError> {
        // Only the families read here go to the parser: it matches regular expressions on every
        // line, and a clip-app page is three quarters other series (pool, CDN, job histograms).
        let lines = text.lines().filter(|l| wanted(l)).map(|l| Ok(l.to_owned()));
        let scrape = Scrape::parse(lines).map_err(|e| ParseError(e.to_string()))?;
        let mut s = InstanceSample::default();
        for sample in scrape.samples {
            let labels = &sample.labels;
            match (sample.metric.as_str(), &sample.value) {
                ("process_cpu_seconds_total", v) => s.cpu_seconds = scalar(v),
                ("clip_process_cpu_limit_cores", v) => s.cpu_limit_cores = scalar(v),
                ("clip_process_cpu_usage_percent", v) => s.cpu_percent_gauge = scalar(v),
                ("clip_process_memory_usage_percent", v) => s.memory_percent = scalar(v),
                ("clip_jobs_pending", v) => s.jobs_pending = scalar(v),
                ("clip_app_info", _) => s.instance = labels.get("instance").map(str::to_owned),
                ("http_requests_total", v) if !is_probe(labels.get("route")) => {
                    if let Some(v) = scalar(v) {
                        s.requests.insert(series_key(labels), v);
                    }
                }
                ("http_request_duration_seconds", Value::Histogram(h))
                    if !is_probe(labels.get("route")) =>
                {
                    let mut buckets: Buckets = h
                        .iter()
                        .filter(|b| b.count.is_finite() && !b.less_than.is_nan())
                        .map(|b| (b.less_than, b.count))
                        .collect();
                    buckets.sort_by(|a, b| a.0.total_cmp(&b.0));
                    s.durations.insert(series_key(labels), buckets);
                }
                _ => {}
            }
        }
        Ok(s)
    }
}

/// The metric families [`InstanceSample::parse`] reads.
const FAMILIES: &[&str] = &[
    "process_cpu_seconds_total",
    "clip_process_cpu_limit_cores",
    "clip_process_cpu_usage_percent",
    "clip_process_memory_usage_percent",
    "clip_jobs_pending",
    "clip_app_info",
    "http_requests_total",
    "http_request_duration_seconds",
];

/// Whether a line of the page belongs to one of [`FAMILIES`]: its `# TYPE` line, or one of
/// its samples (of a histogram, the buckets; `_sum` and `_count` are not read).
fn wanted(line: &str) -> bool {
    let line = line.trim_start();
    if let Some(rest) = line.strip_prefix("# TYPE ") {
        let name = rest.split_whitespace().next().unwrap_or("");
        return FAMILIES.contains(&name);
    }
    if line.starts_with('#') {
        return false;
    }
    let name = line.split(['{', ' ', '\t']).next().unwrap_or("");
    FAMILIES.contains(&name)
        || name
            .strip_suffix("_bucket")
            .is_some_and(|family| FAMILIES.contains(&family))
}

/// A counter's, gauge's or untyped sample's value, if it is a finite number.
fn scalar(v: &Value) -> Option<f64> {
    match v {
        Value::Counter(x) | Value::Gauge(x) | Value::Untyped(x) if x.is_finite() => Some(*x),
        _ => None,
    }
}

fn is_probe(route: Option<&str>) -> bool {
    route.is_some_and(|r| PROBE_ROUTES.contains(&r))
}

fn series_key(labels: &prometheus_parse::Labels) -> SeriesKey {
    let mut pairs: Vec<(&String, &String)> = labels.iter().collect();
    pairs.sort();
    let mut key = String::new();
    for (i, (k, v)) in pairs.into_iter().enumerate() {
        if i > 0 {
            key.push(',');
        }
        key.push_str(k);
        key.push('=');
        key.push_str(v);
    }
    key
}

#[cfg(test)]
mod tests {
    use super::*;

    const PAGE: &str = r#"# HELP http_requests_total Requests
# TYPE http_requests_total counter
http_requests_total{method="GET",route="/api/projects",status="200"} 120
http_requests_total{method="POST",route="/api/projects",status="201"} 7
http_requests_total{method="GET",route="/metrics",status="200"} 40
# TYPE http_request_duration_seconds histogram
http_request_duration_seconds_bucket{method="GET",route="/api/projects",status="200",le="0.005"} 100
http_request_duration_seconds_bucket{method="GET",route="/api/projects",status="200",le="0.01"} 110
http_request_duration_seconds_bucket{method="GET",route="/api/projects",status="200",le="+Inf"} 120
http_request_duration_seconds_sum{method="GET",route="/api/projects",status="200"} 0.9
http_request_duration_seconds_count{method="GET",route="/api/projects",status="200"} 120
http_request_duration_seconds_bucket{method="GET",route="/metrics",status="200",le="+Inf"} 40
# TYPE process_cpu_seconds_total counter
process_cpu_seconds_total 12.5
# TYPE clip_process_cpu_limit_cores gauge
clip_process_cpu_limit_cores 2
# TYPE clip_process_memory_usage_percent gauge
clip_process_memory_usage_percent 31.5
# TYPE clip_jobs_pending gauge
clip_jobs_pending 4
# TYPE clip_app_info gauge
clip_app_info{instance="local-4001",version="0.1.0"} 1
"#;

    #[test]
    fn reads_the_series_the_autoscaler_needs_and_leaves_probes_out() {
        let s = InstanceSample::parse(PAGE).unwrap();
        assert_eq!(s.cpu_seconds, Some(12.5));
        assert_eq!(s.cpu_limit_cores, Some(2.0));
        assert_eq!(s.memory_percent, Some(31.5));
        assert_eq!(s.jobs_pending, Some(4.0));
        assert_eq!(s.instance.as_deref(), Some("local-4001"));
        assert_eq!(s.requests.values().sum::<f64>(), 127.0);
        assert_eq!(s.durations.len(), 1);
        let buckets = s.durations.values().next().unwrap();
        assert_eq!(buckets.last().unwrap(), &(f64::INFINITY, 120.0));
    }

    #[test]
    fn parses_a_real_app_page() {
        let s = InstanceSample::parse(include_str!("../testdata/app-metrics.txt")).unwrap();
        assert!(s.cpu_seconds.is_some());
        assert!(s.cpu_percent_gauge.is_some());
        assert!(s.memory_percent.is_some());
        assert_eq!(s.jobs_pending, Some(0.0));
        assert!(s.instance.is_some());
        // 250 GET + 1 POST + 1 unmatched; the readiness probe is left out.
        assert_eq!(s.requests.values().sum::<f64>(), 252.0);
        assert!(s.requests.keys().all(|k| !k.contains("/api/health/ready")));
        assert_eq!(s.durations.len(), 3);
    }

    #[test]
    fn a_page_without_the_series_is_a_sample_with_everything_missing() {
        let s = InstanceSample::parse("# nothing here\nsome_other_metric 3\n").unwrap();
        assert_eq!(s, InstanceSample::default());
        let s = InstanceSample::parse("<html>not metrics</html>").unwrap();
        assert_eq!(s, InstanceSample::default());
    }

    #[test]
    fn non_finite_values_are_missing_not_numbers() {
        let s = InstanceSample::parse(
            "# TYPE clip_process_memory_usage_percent gauge\nclip_process_memory_usage_percent NaN\n",
        )
        .unwrap();
        assert_eq!(s.memory_percent, None);
    }
}
