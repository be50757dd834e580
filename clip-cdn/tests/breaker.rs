//! The CDN's circuit breaker against real servers on loopback: what counts as the CDN
//! failing, page URLs that follow the circuit (origin while it is open or half-open), a
//! background probe that moves them without any `fetch`, and the gauge dashboards read.

mod support;

use std::time::{Duration, Instant};

use clip_cdn::{BreakerState, Cdn, CdnConfig, Source};
use metrics_util::debugging::{DebugValue, DebuggingRecorder};
use support::{Behaviour, Origin};

/// A CDN (scriptable) and an origin; fast retries, no background probe unless asked.
fn config(cdn: &Origin, origin: &Origin) -> CdnConfig {
    CdnConfig {
        base_url: Some(cdn.url()),
        origin_url: Some(origin.url()),
        retry_attempts: 0,
        retry_base: Duration::from_millis(5),
        retry_max: Duration::from_millis(20),
        request_timeout: Duration::from_millis(300),
        breaker_failures: 1,
        breaker_cooldown: Duration::from_millis(300),
        ..CdnConfig::default()
    }
}

fn cdn_state(cdn: &Cdn, server: &Origin) -> Option<BreakerState> {
    let host = server.addr.to_string();
    cdn.stats()
        .breakers
        .into_iter()
        .find(|(h, _)| *h == host)
        .map(|(_, s)| s)
}

/// After the cooldown the circuit is half-open, but nothing has shown the CDN is back:
/// pages keep origin URLs until a probe succeeds.
#[tokio::test]
async fn urls_stay_on_the_origin_while_half_open_until_a_probe_succeeds() {
    let (cdn_server, origin) = (Origin::start().await, Origin::start().await);
    let cdn = Cdn::new(config(&cdn_server, &origin)).unwrap();
    assert!(cdn.url("/a.js").starts_with(&cdn_server.url()));

    cdn_server.set_down(true);
    assert_eq!(cdn.fetch("/a.js").await.unwrap().source, Source::Origin);
    assert_eq!(cdn_state(&cdn, &cdn_server), Some(BreakerState::Open));
    assert!(cdn.url("/a.js").starts_with(&origin.url()));

    tokio::time::sleep(Duration::from_millis(400)).await;
    assert_eq!(cdn_state(&cdn, &cdn_server), Some(BreakerState::HalfOpen));
    assert!(
        cdn.url("/a.js").starts_with(&origin.url()),
        "half-open, no probe yet: {}",
        cdn.url("/a.js")
    );
    assert!(!cdn.cdn_healthy());

    cdn_server.set_down(false);
    assert_eq!(
        cdn.fetch("/b.js").await.unwrap().source,
        Source::Cdn,
        "the probe"
    );
    assert_eq!(cdn_state(&cdn, &cdn_server), Some(BreakerState::Closed));
    assert!(cdn.url("/a.js").starts_with(&cdn_server.url()));
}

/// An app that only builds URLs: the background probe opens the circuit when the CDN
/// fails and closes it when the CDN is back, with no `fetch` at all.
#[tokio::test]
async fn a_background_probe_moves_urls_without_any_fetch() {
    let (cdn_server, origin) = (Origin::start().await, Origin::start().await);
    let cdn = Cdn::new(CdnConfig {
        health_interval: Duration::from_millis(50),
        health_path: Some("/health.txt".into()),
        breaker_failures: 2,
        ..config(&cdn_server, &origin)
    })
    .unwrap();
    let until = async |what: &str, on: &str| {
        let deadline = Instant::now() + Duration::from_secs(10);
        while !cdn.url("/page.css").starts_with(on) {
            assert!(Instant::now() < deadline, "URLs never moved to {what}");
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    };
    cdn_server.set_down(true);
    until("the origin", &origin.url()).await;
    cdn_server.set_down(false);
    until("the CDN", &cdn_server.url()).await;
    assert_eq!(cdn.stats().requests, 0, "no fetch was made");
    assert!(
        cdn_server.hits("/health.txt") >= 3,
        "the probe asked the CDN"
    );
    assert_eq!(
        origin.hits("/health.txt"),
        0,
        "the probe checks the CDN only"
    );
}

/// A CDN that does not answer in time counts against it; a healthy CDN that is slow to
/// send a large body does not (its headers came at once).
#[tokio::test]
async fn a_timeout_to_first_byte_counts_and_a_slow_body_does_not() {
    let (cdn_server, origin) = (Origin::start().await, Origin::start().await);
    cdn_server.behave(
        "/large.mp4",
        Behaviour {
            streamed_bytes: 32 * 1024,
            chunk_delay: Duration::from_millis(25), // 0.8 s for the body, 300 ms allowed to first byte
            ..Default::default()
        },
    );
    cdn_server.behave(
        "/stuck.js",
        Behaviour {
            delay: Duration::from_secs(2),
            ..Default::default()
        },
    );
    let cdn = Cdn::new(config(&cdn_server, &origin)).unwrap();

    let large = cdn.fetch("/large.mp4").await.unwrap();
    assert_eq!((large.source, large.bytes.len()), (Source::Cdn, 32 * 1024));
    assert_eq!(cdn_state(&cdn, &cdn_server), Some(BreakerState::Closed));

    assert_eq!(cdn.fetch("/stuck.js").await.unwrap().source, Source::Origin);
    assert_eq!(cdn_state(&cdn, &cdn_server), Some(BreakerState::Open));
}

/// A CDN answering 403 (a misconfigured bucket or WAF) or 5xx is failing; a 404 is an
/// answer about one asset.
#[tokio::test]
async fn a_cdn_answering_403_opens_the_circuit_and_404_does_not() {
    let (cdn_server, origin) = (Origin::start().await, Origin::start().await);
    for path in ["/denied-1.css", "/denied-2.css"] {
        cdn_server.behave(
            path,
            Behaviour {
                fail_first: usize::MAX,
                fail_status: 403,
                ..Default::default()
            },
        );
    }
    for path in ["/gone-1.css", "/gone-2.css", "/gone-3.css"] {
        cdn_server.behave(
            path,
            Behaviour {
                missing: true,
                ..Default::default()
            },
        );
    }
    let config = CdnConfig {
        breaker_failures: 2,
        ..config(&cdn_server, &origin)
    };
    let missing = Cdn::new(config.clone()).unwrap();
    for path in ["/gone-1.css", "/gone-2.css", "/gone-3.css"] {
        // The origin has it (another server): the CDN's 404 is about this asset only.
        assert_eq!(missing.fetch(path).await.unwrap().source, Source::Origin);
    }
    assert_eq!(cdn_state(&missing, &cdn_server), Some(BreakerState::Closed));

    let denied = Cdn::new(config).unwrap();
    for path in ["/denied-1.css", "/denied-2.css"] {
        assert_eq!(denied.fetch(path).await.unwrap().source, Source::Origin);
    }
    assert_eq!(cdn_state(&denied, &cdn_server), Some(BreakerState::Open));
    assert!(denied.url("/x.css").starts_with(&origin.url()));
}

/// `clip_cdn_breaker_open{source="cdn"}` is 1 while the circuit is open and back to 0 once
/// it closes, whatever closed it (here a probe answered with a 404).
#[tokio::test]
async fn the_breaker_gauge_returns_to_zero_when_the_circuit_closes() {
    let (cdn_server, origin) = (Origin::start().await, Origin::start().await);
    let recorder = DebuggingRecorder::new();
    let snapshotter = recorder.snapshotter();
    let cdn =
        metrics::with_local_recorder(&recorder, || Cdn::new(config(&cdn_server, &origin))).unwrap();
    let gauge = || {
        snapshotter
            .snapshot()
            .into_vec()
            .into_iter()
            .find_map(|(key, _, _, value)| {
                let k = key.key();
                let cdn_label = k
                    .labels()
                    .any(|l| l.key() == "source" && l.value() == "cdn");
                match value {
                    DebugValue::Gauge(v) if k.name() == "clip_cdn_breaker_open" && cdn_label => {
                        Some(v.into_inner())
                    }
                    _ => None,
                }
            })
    };
    cdn_server.set_down(true);
    cdn.fetch("/a.css").await.unwrap();
    assert_eq!(gauge(), Some(1.0));

    cdn_server.set_down(false);
    cdn_server.behave(
        "/b.css",
        Behaviour {
            missing: true,
            ..Default::default()
        },
    );
    tokio::time::sleep(Duration::from_millis(400)).await;
    assert_eq!(cdn.fetch("/b.css").await.unwrap().source, Source::Origin);
    assert_eq!(cdn_state(&cdn, &cdn_server), Some(BreakerState::Closed));
    assert_eq!(gauge(), Some(0.0));
}

/// A `Retry-After` longer than the retry cap: the source is given up at once (the next
/// source serves), not retried early against the server's request.
#[tokio::test]
async fn a_retry_after_beyond_the_cap_falls_over_instead_of_retrying_early() {
    let (cdn_server, origin) = (Origin::start().await, Origin::start().await);
    cdn_server.behave(
        "/busy.css",
        Behaviour {
            fail_first: usize::MAX,
            fail_status: 429,
            retry_after: Some(60),
            ..Default::default()
        },
    );
    let cdn = Cdn::new(CdnConfig {
        retry_attempts: 3,
        breaker_failures: 5,
        ..config(&cdn_server, &origin)
    })
    .unwrap();
    assert_eq!(cdn.fetch("/busy.css").await.unwrap().source, Source::Origin);
    assert_eq!(cdn_server.hits("/busy.css"), 1, "no early retry");
    assert_eq!(cdn.stats().retries, 0);
}
