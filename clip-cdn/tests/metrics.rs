//! The `clip_cdn_*` metrics a dashboard reads, recorded through the `metrics` facade.

mod support;

use clip_cdn::{Cdn, CdnConfig, Source};
use metrics_util::debugging::{DebugValue, DebuggingRecorder};
use support::{Origin, dead_url};

#[tokio::test]
async fn requests_hits_failures_and_fallbacks_are_counted() {
    let origin = Origin::start().await;
    let recorder = DebuggingRecorder::new();
    let snapshotter = recorder.snapshotter();
    let config = CdnConfig {
        base_url: Some(dead_url()),
        origin_url: Some(origin.url()),
        retry_attempts: 0,
        ..CdnConfig::default()
    };
    // Metric handles are registered when the manager is built.
    let cdn = metrics::with_local_recorder(&recorder, || Cdn::new(config)).unwrap();

    assert_eq!(cdn.fetch("/a.css").await.unwrap().source, Source::Origin);
    assert!(cdn.fetch("/a.css").await.unwrap().from_cache);

    let counters: Vec<(String, Vec<String>, u64)> = snapshotter
        .snapshot()
        .into_vec()
        .into_iter()
        .filter_map(|(key, _, _, value)| match value {
            DebugValue::Counter(n) => {
                let k = key.key();
                Some((
                    k.name().to_owned(),
                    k.labels()
                        .map(|l| format!("{}={}", l.key(), l.value()))
                        .collect(),
                    n,
                ))
            }
            _ => None,
        })
        .collect();
    let get = |name: &str, label: Option<&str>| {
        counters
            .iter()
            .filter(|(n, labels, _)| {
                n == name && label.is_none_or(|l| labels.iter().any(|x| x == l))
            })
            .map(|(_, _, v)| *v)
            .sum::<u64>()
    };
    assert_eq!(get("clip_cdn_requests_total", None), 2);
    assert_eq!(get("clip_cdn_cache_hits_total", None), 1);
    assert_eq!(get("clip_cdn_fetch_failures_total", Some("source=cdn")), 1);
    assert_eq!(get("clip_cdn_fallbacks_total", Some("to=origin")), 1);
    assert_eq!(get("clip_cdn_fallbacks_total", Some("to=local")), 0);
    let stats = cdn.stats();
    assert_eq!(
        (stats.requests, stats.cache_hits, stats.failed_assets),
        (2, 1, 1)
    );
}
