//! `Cdn::fetch` against real servers on loopback: an axum origin the test scripts, and
//! nginx as the caching CDN in front of it.

mod support;

use std::time::{Duration, Instant};

use clip_cdn::{BreakerState, Cdn, CdnConfig, Error, Manifest, Source};
use support::{Behaviour, Nginx, Origin, content, dead_url, temp_dir};

/// Fast retry timing so failing paths finish quickly.
fn config(cdn: Option<String>, origin: Option<String>) -> CdnConfig {
    CdnConfig {
        base_url: cdn,
        origin_url: origin,
        retry_base: Duration::from_millis(5),
        retry_max: Duration::from_millis(20),
        request_timeout: Duration::from_secs(2),
        ..CdnConfig::default()
    }
}

#[tokio::test]
async fn retries_a_503_then_succeeds_through_nginx() {
    let origin = Origin::start().await;
    let nginx = Nginx::start(origin.addr);
    origin.behave(
        "/flaky.jpg",
        Behaviour {
            fail_first: 2,
            ..Default::default()
        },
    );
    let cdn = Cdn::new(config(Some(nginx.url()), Some(origin.url()))).unwrap();

    let asset = cdn.fetch("/flaky.jpg").await.unwrap();
    assert_eq!(asset.bytes, content("/flaky.jpg").as_bytes());
    assert_eq!(asset.source, Source::Cdn);
    assert_eq!(asset.content_type.as_deref(), Some("text/plain"));
    assert_eq!(origin.hits("/flaky.jpg"), 3, "two 503s, then the 200");
    let s = cdn.stats();
    assert_eq!(
        (s.retries, s.cdn_failures, s.fallbacks_to_origin),
        (2, 0, 0)
    );

    // nginx cached the 200: a second manager (empty memory cache) does not reach the origin.
    let other = Cdn::new(config(Some(nginx.url()), None)).unwrap();
    assert_eq!(
        other.fetch("/flaky.jpg").await.unwrap().bytes,
        content("/flaky.jpg").as_bytes()
    );
    assert_eq!(origin.hits("/flaky.jpg"), 3);
}

#[tokio::test]
async fn honours_retry_after_and_does_not_retry_a_404() {
    let origin = Origin::start().await;
    origin.behave(
        "/limited.css",
        Behaviour {
            fail_first: 1,
            fail_status: 429,
            retry_after: Some(1),
            ..Default::default()
        },
    );
    origin.behave(
        "/gone.css",
        Behaviour {
            missing: true,
            ..Default::default()
        },
    );
    let cdn = Cdn::new(CdnConfig {
        retry_max: Duration::from_secs(2),
        ..config(Some(origin.url()), None)
    })
    .unwrap();

    let started = Instant::now();
    cdn.fetch("/limited.css").await.unwrap();
    assert!(
        started.elapsed() >= Duration::from_millis(950),
        "waited {:?}, Retry-After said 1 s",
        started.elapsed()
    );
    assert_eq!(cdn.stats().retries, 1);

    let err = cdn.fetch("/gone.css").await.unwrap_err();
    assert!(
        matches!(&err, Error::Unavailable { last, .. } if last.contains("404")),
        "{err}"
    );
    assert_eq!(
        origin.hits("/gone.css"),
        1,
        "a 404 is an answer, not a failure to retry"
    );
    assert_eq!(cdn.stats().retries, 1);
}

#[tokio::test]
async fn cdn_down_falls_back_to_origin_and_urls_follow() {
    let origin = Origin::start().await;
    let cfg = CdnConfig {
        breaker_failures: 1,
        retry_attempts: 1,
        ..config(Some(dead_url()), Some(origin.url()))
    };
    let cdn = Cdn::new(cfg).unwrap();
    assert!(cdn.url("/a.js").starts_with("http://127.0.0.1"));
    assert!(
        !cdn.url("/a.js").starts_with(&origin.url()),
        "CDN first while healthy"
    );

    let asset = cdn.fetch("/a.js").await.unwrap();
    assert_eq!(
        (asset.source, asset.bytes.as_ref()),
        (Source::Origin, content("/a.js").as_bytes())
    );
    let s = cdn.stats();
    assert_eq!(
        (s.cdn_failures, s.fallbacks_to_origin, s.failed_assets),
        (1, 1, 1)
    );
    // The CDN's circuit is open now: pages get origin URLs.
    assert!(!cdn.cdn_healthy());
    assert_eq!(cdn.url("/a.js"), format!("{}/a.js", origin.url()));
    assert!(
        cdn.image("/p.jpg")
            .width(300)
            .url()
            .starts_with(&origin.url())
    );
}

#[tokio::test]
async fn origin_down_falls_back_to_the_local_directory() {
    let dir = temp_dir("local");
    std::fs::create_dir_all(dir.join("images")).unwrap();
    std::fs::write(dir.join("images/logo.png"), b"local logo").unwrap();
    let cfg = CdnConfig {
        local_dir: Some(dir.clone()),
        retry_attempts: 1,
        ..config(Some(dead_url()), Some(dead_url()))
    };
    let cdn = Cdn::new(cfg).unwrap();

    let asset = cdn.fetch("/images/logo.png").await.unwrap();
    assert_eq!(
        (asset.source, asset.bytes.as_ref()),
        (Source::Local, &b"local logo"[..])
    );
    assert_eq!(asset.content_type.as_deref(), Some("image/png"));
    assert_eq!(cdn.stats().fallbacks_to_local, 1);

    let err = cdn.fetch("/images/none.png").await.unwrap_err();
    assert!(matches!(err, Error::Unavailable { .. }), "{err}");
    assert_eq!(cdn.stats().unavailable, 1);
    std::fs::remove_dir_all(dir).unwrap();
}

#[tokio::test]
async fn circuit_opens_on_failures_and_closes_after_a_good_probe() {
    let cdn_server = Origin::start().await; // plays the CDN, switchable
    let origin = Origin::start().await;
    let cfg = CdnConfig {
        breaker_failures: 2,
        breaker_cooldown: Duration::from_millis(800),
        retry_attempts: 0,
        ..config(Some(cdn_server.url()), Some(origin.url()))
    };
    let cdn = Cdn::new(cfg).unwrap();
    let host = cdn_server.addr.to_string();
    let state = |cdn: &Cdn| {
        cdn.stats()
            .breakers
            .into_iter()
            .find(|(h, _)| *h == host)
            .map(|(_, s)| s)
    };

    cdn_server.set_down(true);
    for p in ["/1", "/2"] {
        assert_eq!(cdn.fetch(p).await.unwrap().source, Source::Origin);
    }
    assert_eq!(state(&cdn), Some(BreakerState::Open));
    let calls = cdn_server
        .state
        .total
        .load(std::sync::atomic::Ordering::SeqCst);
    let failures = cdn.stats().cdn_failures;
    assert_eq!(failures, 2);
    assert_eq!(cdn.fetch("/3").await.unwrap().source, Source::Origin);
    assert_eq!(
        cdn.stats().cdn_failures,
        failures,
        "a skipped CDN is not a failed CDN"
    );
    assert_eq!(cdn.stats().fallbacks_to_origin, 3);
    assert_eq!(
        cdn_server
            .state
            .total
            .load(std::sync::atomic::Ordering::SeqCst),
        calls,
        "open circuit: CDN skipped"
    );
    assert!(cdn.url("/3").starts_with(&origin.url()));

    cdn_server.set_down(false);
    tokio::time::sleep(Duration::from_millis(900)).await;
    assert_eq!(state(&cdn), Some(BreakerState::HalfOpen));
    assert_eq!(
        cdn.fetch("/4").await.unwrap().source,
        Source::Cdn,
        "the probe goes to the CDN"
    );
    assert_eq!(state(&cdn), Some(BreakerState::Closed));
    assert!(cdn.url("/4").starts_with(&cdn_server.url()));
}

#[tokio::test]
async fn fifty_concurrent_misses_make_one_origin_fetch() {
    let origin = Origin::start().await;
    let nginx = Nginx::start(origin.addr);
    origin.behave(
        "/big.jpg",
        Behaviour {
            delay: Duration::from_millis(200),
            ..Default::default()
        },
    );
    let cdn = Cdn::new(config(Some(nginx.url()), Some(origin.url()))).unwrap();

    let fetches = (0..50).map(|_| {
        let cdn = cdn.clone();
        tokio::spawn(async move { cdn.fetch("/big.jpg").await })
    });
    for f in futures_util::future::join_all(fetches).await {
        assert_eq!(f.unwrap().unwrap().bytes, content("/big.jpg").as_bytes());
    }
    assert_eq!(origin.hits("/big.jpg"), 1);
    let s = cdn.stats();
    assert_eq!((s.requests, s.coalesced, s.cache_hits), (50, 49, 0));
    assert!(cdn.fetch("/big.jpg").await.unwrap().from_cache);
}

#[tokio::test]
async fn a_slow_fetch_times_out_its_waiters_but_still_fills_the_cache() {
    let origin = Origin::start().await;
    origin.behave(
        "/slow.mp4",
        Behaviour {
            delay: Duration::from_millis(600),
            ..Default::default()
        },
    );
    let cfg = CdnConfig {
        coalesce_timeout: Duration::from_millis(100),
        ..config(None, Some(origin.url()))
    };
    let cdn = Cdn::new(cfg).unwrap();

    let started = Instant::now();
    let (a, b) = tokio::join!(cdn.fetch("/slow.mp4"), cdn.fetch("/slow.mp4"));
    assert!(matches!(a, Err(Error::Timeout { .. })) && matches!(b, Err(Error::Timeout { .. })));
    assert!(
        started.elapsed() < Duration::from_millis(500),
        "waiters gave up after their timeout"
    );
    tokio::time::sleep(Duration::from_millis(700)).await;
    let asset = cdn.fetch("/slow.mp4").await.unwrap();
    assert!(asset.from_cache, "the fetch went on without its waiters");
    assert_eq!(origin.hits("/slow.mp4"), 1);
}

#[tokio::test]
async fn cache_entries_expire_after_the_ttl() {
    let origin = Origin::start().await;
    let cfg = CdnConfig {
        cache_ttl: Duration::from_millis(300),
        ..config(None, Some(origin.url()))
    };
    let cdn = Cdn::new(cfg).unwrap();
    assert!(!cdn.fetch("/t.css").await.unwrap().from_cache);
    assert!(cdn.fetch("/t.css").await.unwrap().from_cache);
    tokio::time::sleep(Duration::from_millis(400)).await;
    assert!(!cdn.fetch("/t.css").await.unwrap().from_cache);
    assert_eq!(origin.hits("/t.css"), 2);
    let s = cdn.stats();
    assert_eq!((s.requests, s.cache_hits), (3, 1));
    assert!((s.hit_rate - 1.0 / 3.0).abs() < 1e-9);
}

#[tokio::test]
async fn invalidation_by_path_prefix_all_and_manifest_reload() {
    let origin = Origin::start().await;
    let cdn = Cdn::new(config(None, Some(origin.url()))).unwrap();
    let paths = ["/img/a.jpg", "/img/b.jpg", "/css/c.css"];
    for p in paths {
        cdn.fetch(p).await.unwrap();
    }
    let cached = async |p: &str| cdn.fetch(p).await.unwrap().from_cache;

    cdn.invalidate("/img/a.jpg").await;
    assert!(!cached("/img/a.jpg").await && cached("/img/b.jpg").await);
    cdn.invalidate_prefix("/img/").await;
    assert!(
        !cached("/img/a.jpg").await && !cached("/img/b.jpg").await && cached("/css/c.css").await
    );
    cdn.invalidate_all().await;
    assert!(!cached("/css/c.css").await);

    // A new content hash is a new cache key and a new URL; the origin sees the version.
    cdn.set_manifest(Manifest::new().with("/css/c.css", "v2", false))
        .await;
    let asset = cdn.fetch("/css/c.css").await.unwrap();
    assert!(!asset.from_cache);
    assert_eq!(asset.version.as_deref(), Some("v2"));
    assert!(
        origin
            .state
            .log
            .lock()
            .unwrap()
            .iter()
            .any(|u| u == "/css/c.css?v=v2")
    );
    let changed = cdn
        .set_manifest(Manifest::new().with("/css/c.css", "v3", false))
        .await;
    assert_eq!(changed, ["/css/c.css"]);
    assert!(!cached("/css/c.css").await);
}

#[tokio::test]
async fn preload_warms_critical_assets_and_reports() {
    let origin = Origin::start().await;
    let nginx = Nginx::start(origin.addr);
    origin.behave(
        "/missing.js",
        Behaviour {
            missing: true,
            ..Default::default()
        },
    );
    let manifest = Manifest::new()
        .with("/app.css", "1", true)
        .with("/hero.jpg", "2", true)
        .with("/missing.js", "3", true)
        .with("/footer.png", "4", false);
    let cdn = Cdn::new(config(Some(nginx.url()), Some(origin.url()))).unwrap();
    cdn.set_manifest(manifest.clone()).await;

    let report = cdn.preload(&manifest).await;
    assert_eq!((report.requested, report.ok), (3, 2));
    assert_eq!(report.failed.len(), 1);
    assert_eq!(report.failed[0].0, "/missing.js");
    assert!(!report.skipped);
    assert_eq!(origin.hits("/footer.png"), 0, "only critical assets");
    assert!(cdn.fetch("/hero.jpg").await.unwrap().from_cache);
    assert_eq!(cdn.stats().last_preload, Some(report));

    let off = Cdn::new(CdnConfig {
        preload_critical: false,
        ..config(Some(nginx.url()), None)
    })
    .unwrap();
    assert!(off.preload(&manifest).await.skipped);
}

/// A huge body must not be read into memory: the source fails (no retry, the host is
/// healthy) and the next one is tried; the local file is bounded the same way.
#[tokio::test]
async fn bodies_above_max_asset_bytes_are_refused_from_every_source() {
    let origin = Origin::start().await;
    let dir = temp_dir("too-big");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("big.txt"), vec![b'x'; 64]).unwrap();
    std::fs::write(dir.join("small.txt"), b"tiny").unwrap();
    let cfg = CdnConfig {
        max_asset_bytes: 8,
        local_dir: Some(dir.clone()),
        ..config(None, Some(origin.url()))
    };
    let cdn = Cdn::new(cfg).unwrap();

    let err = cdn.fetch("/big.txt").await.unwrap_err().to_string();
    assert!(err.contains("CDN_MAX_ASSET_BYTES=8"), "{err}");
    assert_eq!(origin.hits("/big.txt"), 1, "a too-big body is not retried");
    assert_eq!(cdn.stats().retries, 0);
    assert_eq!(
        cdn.stats().breakers,
        [(origin.addr.to_string(), BreakerState::Closed)]
    );

    // The origin's body ("content of /small.txt") is too big too; the local copy fits.
    let asset = cdn.fetch("/small.txt").await.unwrap();
    assert_eq!(
        (asset.source, asset.bytes.as_ref()),
        (Source::Local, &b"tiny"[..])
    );
    std::fs::remove_dir_all(dir).unwrap();
}

/// The local fallback must not serve a file outside its directory, however many `..`.
#[tokio::test]
async fn the_local_fallback_never_leaves_its_directory() {
    let root = temp_dir("escape");
    let dir = root.join("assets");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(root.join("secret.txt"), b"secret").unwrap();
    let cdn = Cdn::new(CdnConfig {
        local_dir: Some(dir.clone()),
        ..CdnConfig::default()
    })
    .unwrap();
    // Sanity: the file is reachable by the naive join, so refusing it is the check at work.
    assert!(dir.join("../secret.txt").exists());
    for path in [
        "/../secret.txt",
        "../secret.txt",
        "/x/../../secret.txt",
        "/./../secret.txt",
        "/%2e%2e/secret.txt",
    ] {
        let err = cdn.fetch(path).await.unwrap_err();
        assert!(matches!(err, Error::BadPath { .. }), "{path}: {err}");
    }
    std::fs::remove_dir_all(root).unwrap();
}

/// A fetch task cancelled by its runtime shutting down (a per-request or per-test
/// runtime) must not leave its key stuck: the next caller, on another runtime, fetches
/// anew instead of inheriting the dead task's error.
#[test]
fn a_fetch_cancelled_with_its_runtime_does_not_poison_the_key() {
    let server = tokio::runtime::Runtime::new().unwrap();
    let origin = server.block_on(Origin::start());
    origin.behave(
        "/slow.txt",
        Behaviour {
            delay: Duration::from_millis(400),
            ..Default::default()
        },
    );
    let cdn = Cdn::new(config(None, Some(origin.url()))).unwrap();

    let first = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let gave_up = first.block_on(async {
        tokio::time::timeout(Duration::from_millis(50), cdn.fetch("/slow.txt")).await
    });
    assert!(gave_up.is_err(), "the fetch is still in flight");
    drop(first); // cancels the fetch task

    let second = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let asset = second.block_on(cdn.fetch("/slow.txt")).unwrap();
    assert_eq!(asset.bytes, content("/slow.txt").as_bytes());
}

/// A 408 is the server timing out our request: retried like a timeout, unlike a 404.
#[tokio::test]
async fn a_408_is_retried() {
    let origin = Origin::start().await;
    origin.behave(
        "/slow-server.js",
        Behaviour {
            fail_first: 1,
            fail_status: 408,
            ..Default::default()
        },
    );
    let cdn = Cdn::new(config(Some(origin.url()), None)).unwrap();
    let asset = cdn.fetch("/slow-server.js").await.unwrap();
    assert_eq!(asset.bytes, content("/slow-server.js").as_bytes());
    assert_eq!(origin.hits("/slow-server.js"), 2);
    assert_eq!(cdn.stats().retries, 1);
}

/// After `invalidate`, a caller must not join a fetch that started before it (that one
/// may carry the old content), and that old fetch must not refill the cache.
#[tokio::test]
async fn invalidation_detaches_fetches_already_in_flight() {
    let origin = Origin::start().await;
    origin.behave(
        "/page.css",
        Behaviour {
            delay: Duration::from_millis(300),
            ..Default::default()
        },
    );
    let cdn = Cdn::new(config(None, Some(origin.url()))).unwrap();
    let before = tokio::spawn({
        let cdn = cdn.clone();
        async move { cdn.fetch("/page.css").await }
    });
    tokio::time::sleep(Duration::from_millis(50)).await;
    cdn.invalidate("/page.css").await;
    let after = cdn.fetch("/page.css").await.unwrap();
    assert!(!after.from_cache);
    before.await.unwrap().unwrap();
    assert_eq!(origin.hits("/page.css"), 2, "the later caller fetched anew");
    assert_eq!(cdn.stats().coalesced, 0);
    // The cache holds the later fetch, and a third caller is served from it.
    assert!(cdn.fetch("/page.css").await.unwrap().from_cache);
    assert_eq!(origin.hits("/page.css"), 2);
}

/// Without a `Content-Length` the limit is enforced while reading: a 4 MiB stream stops
/// at the limit instead of being buffered whole.
#[tokio::test]
async fn a_streamed_body_is_cut_off_at_max_asset_bytes() {
    let origin = Origin::start().await;
    origin.behave(
        "/endless.bin",
        Behaviour {
            streamed_bytes: 4 << 20,
            ..Default::default()
        },
    );
    origin.behave(
        "/fits.bin",
        Behaviour {
            streamed_bytes: 3000,
            ..Default::default()
        },
    );
    let cdn = Cdn::new(CdnConfig {
        max_asset_bytes: 64 * 1024,
        ..config(None, Some(origin.url()))
    })
    .unwrap();
    let err = cdn.fetch("/endless.bin").await.unwrap_err().to_string();
    assert!(err.contains("CDN_MAX_ASSET_BYTES=65536"), "{err}");
    assert_eq!(origin.hits("/endless.bin"), 1);
    assert_eq!(cdn.fetch("/fits.bin").await.unwrap().bytes.len(), 3000);
}

/// `fetch` joins the path to the base URLs, and URL parsing resolves `..` (also
/// `%2e%2e`): a caller-supplied path must not reach the origin outside its base path.
#[tokio::test]
async fn dot_segments_cannot_escape_the_base_path() {
    let origin = Origin::start().await;
    let cdn = Cdn::new(config(None, Some(format!("{}/static", origin.url())))).unwrap();
    for path in [
        "/../api/secret",
        "/a/%2e%2e/%2E%2E/api/secret",
        "/a\\..\\..\\api/secret",
    ] {
        let err = cdn.fetch(path).await.unwrap_err();
        assert!(matches!(err, Error::BadPath { .. }), "{path}: {err}");
    }
    assert_eq!(
        origin.state.total.load(std::sync::atomic::Ordering::SeqCst),
        0
    );
    let asset = cdn.fetch("/app.css").await.unwrap();
    assert_eq!(asset.bytes, content("/static/app.css").as_bytes());
}

/// A deploy warms the new manifest's critical assets before switching to it: the entries
/// it warmed are the new versions, and they survive the switch.
#[tokio::test]
async fn preload_warms_the_given_manifest_before_it_is_installed() {
    let origin = Origin::start().await;
    let cdn = Cdn::new(config(None, Some(origin.url()))).unwrap();
    cdn.set_manifest(Manifest::new().with("/app.css", "v1", true))
        .await;
    let next = Manifest::new().with("/app.css", "v2", true);
    let report = cdn.preload(&next).await;
    assert_eq!((report.requested, report.ok), (1, 1));
    assert!(
        origin
            .state
            .log
            .lock()
            .unwrap()
            .iter()
            .any(|u| u == "/app.css?v=v2"),
        "the new version was fetched"
    );
    assert_eq!(cdn.set_manifest(next).await, ["/app.css"]);
    let asset = cdn.fetch("/app.css").await.unwrap();
    assert_eq!(asset.version.as_deref(), Some("v2"));
    assert!(asset.from_cache, "warmed before the switch, kept by it");
    assert_eq!(origin.hits("/app.css"), 1);
}

/// Server-side fetches ask the CDN for the same URL pages use (one cache key per asset):
/// the path is percent-encoded the way `url()` writes it.
#[tokio::test]
async fn fetches_encode_the_path_as_page_urls_do() {
    let origin = Origin::start().await;
    let cdn = Cdn::new(config(Some(origin.url()), None)).unwrap();
    let path = "/fonts/a,b'c.woff2";
    cdn.fetch(path).await.unwrap();
    let page_url = cdn.url(path);
    let asked = origin.state.log.lock().unwrap().clone();
    assert_eq!(asked.len(), 1);
    assert_eq!(
        format!("{}{}", origin.url(), asked[0]),
        page_url,
        "the fetch and the page ask for one URL"
    );
}
