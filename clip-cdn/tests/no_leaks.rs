//! Nothing leaves the configured hosts, nothing stale survives an invalidation, and
//! fetches in flight together stay within their byte budget.

mod support;

use std::time::Duration;

use clip_cdn::{Cdn, CdnConfig, Error, Source};
use support::{Behaviour, Origin, content, temp_dir};

/// An origin with an open redirect must not turn `fetch(path)` into a request to
/// another host (169.254.169.254, an admin port): only same-host redirects are followed.
#[tokio::test]
async fn redirects_never_leave_the_configured_host() {
    let origin = Origin::start().await;
    let internal = Origin::start().await; // another host:port, e.g. an internal service
    origin.behave(
        "/go/metadata",
        Behaviour {
            redirect_to: Some(format!("{}/latest/meta-data", internal.url())),
            ..Default::default()
        },
    );
    origin.behave(
        "/old.css",
        Behaviour {
            redirect_to: Some(format!("{}/new.css", origin.url())),
            ..Default::default()
        },
    );
    let cdn = Cdn::new(CdnConfig {
        origin_url: Some(origin.url()),
        retry_attempts: 0,
        ..CdnConfig::default()
    })
    .unwrap();

    let err = cdn.fetch("/go/metadata").await.unwrap_err();
    assert!(matches!(err, Error::Unavailable { .. }), "{err}");
    assert_eq!(
        internal.hits("/latest/meta-data"),
        0,
        "no request left the host"
    );

    let moved = cdn.fetch("/old.css").await.unwrap();
    assert_eq!(
        moved.bytes,
        content("/new.css").as_bytes(),
        "same-host redirect followed"
    );
}

/// A fill that started before `invalidate` must not land in the cache after it returned:
/// the next fetch gets the new content, however the two interleave.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_stale_bytes_after_invalidate_returns() {
    let dir = temp_dir("invalidate-race");
    let file = dir.join("page.css");
    let cdn = Cdn::new(CdnConfig {
        local_dir: Some(dir.clone()),
        ..CdnConfig::default()
    })
    .unwrap();
    for i in 0..1500u32 {
        std::fs::write(&file, format!("old {i}")).unwrap();
        let early = tokio::spawn({
            let cdn = cdn.clone();
            async move { cdn.fetch("/page.css").await }
        });
        for _ in 0..(i % 4) {
            tokio::task::yield_now().await;
        }
        std::fs::write(&file, format!("new {i}")).unwrap();
        cdn.invalidate("/page.css").await;
        let after = cdn.fetch("/page.css").await.unwrap();
        assert_eq!(
            after.bytes,
            format!("new {i}").as_bytes(),
            "round {i}: stale bytes after invalidate returned (from cache: {})",
            after.from_cache
        );
        early.await.unwrap().unwrap();
        cdn.invalidate("/page.css").await;
    }
    std::fs::remove_dir_all(dir).unwrap();
}

/// Bodies being read count against one total for all fetches, not only per asset: with
/// room for one asset at a time, four concurrent fetches are admitted one after another.
#[tokio::test]
async fn concurrent_fetches_stay_within_the_in_flight_byte_budget() {
    let origin = Origin::start().await;
    let paths = ["/a.bin", "/b.bin", "/c.bin", "/d.bin"];
    for path in paths {
        origin.behave(
            path,
            Behaviour {
                streamed_bytes: 48 * 1024,
                chunk_delay: Duration::from_millis(2),
                ..Default::default()
            },
        );
    }
    let cdn = Cdn::new(CdnConfig {
        origin_url: Some(origin.url()),
        max_asset_bytes: 64 * 1024,
        max_inflight_bytes: 64 * 1024,
        ..CdnConfig::default()
    })
    .unwrap();
    let fetches = paths.map(|p| {
        let cdn = cdn.clone();
        tokio::spawn(async move { cdn.fetch(p).await })
    });
    let mut peak = 0;
    while fetches.iter().any(|f| !f.is_finished()) {
        peak = peak.max(cdn.stats().inflight_bytes);
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    for f in fetches {
        let asset = f.await.unwrap().unwrap();
        assert_eq!(
            (asset.source, asset.bytes.len()),
            (Source::Origin, 48 * 1024)
        );
    }
    assert!(peak > 0, "the budget was in use");
    assert!(
        peak <= 64 * 1024,
        "{peak} bytes in flight, the budget is 65536"
    );
    assert_eq!(cdn.stats().inflight_bytes, 0, "all returned");
}
