//! In-process costs of the hot paths: building URLs (plain, versioned, signed transform,
//! full HTML) and serving a fetch from the memory cache.
//!
//! `cargo bench -p clip-cdn --bench cdn`

use std::hint::black_box;

use clip_cdn::image::Format;
use clip_cdn::{Cdn, CdnConfig, ImageUrl, Manifest};
use criterion::{Criterion, criterion_group, criterion_main};

fn config(signed: bool) -> CdnConfig {
    CdnConfig {
        base_url: Some("https://cdn.example.com".into()),
        origin_url: Some("https://app.example.com".into()),
        signing_keys: if signed {
            vec!["bench-signing-key-0123456789".into()]
        } else {
            vec![]
        },
        ..CdnConfig::default()
    }
}

fn manifest() -> Manifest {
    (0..1000).fold(Manifest::new(), |m, i| {
        m.with(&format!("/images/{i}.jpg"), &format!("{i:012x}"), false)
    })
}

/// The guide's `<CDNImage src="/images/thumbnail.jpg" width={300} height={200} quality={85}>`.
fn thumbnail(cdn: &Cdn) -> ImageUrl<'_> {
    cdn.image(black_box("/images/500.jpg"))
        .width(300)
        .height(200)
        .quality(85)
}

fn urls(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let signed = Cdn::new(config(true)).unwrap();
    let unsigned = Cdn::new(config(false)).unwrap();
    rt.block_on(async {
        signed.set_manifest(manifest()).await;
        unsigned.set_manifest(manifest()).await;
    });
    let mut g = c.benchmark_group("url");
    g.bench_function("versioned asset url", |b| {
        b.iter(|| black_box(signed.url(black_box("/images/500.jpg"))))
    });
    g.bench_function("image url, allow-list (unsigned)", |b| {
        b.iter(|| black_box(thumbnail(&unsigned).url()))
    });
    g.bench_function("image url, HMAC-SHA256 signed", |b| {
        b.iter(|| black_box(thumbnail(&signed).url()))
    });
    g.bench_function("image to_html, signed (srcset of 4)", |b| {
        b.iter(|| {
            black_box(
                thumbnail(&signed)
                    .format(Format::WebP)
                    .progressive(true)
                    .to_html(),
            )
        })
    });
    let url = thumbnail(&signed).url();
    let query = url.split_once('?').unwrap().1.to_owned();
    g.bench_function("verify signed transform (origin side)", |b| {
        b.iter(|| {
            black_box(
                signed
                    .verify_transform(black_box("/images/500.jpg"), black_box(&query))
                    .unwrap(),
            )
        })
    });
    g.finish();
}

fn cache_hit(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let dir = std::env::temp_dir().join(format!("clip-cdn-bench-{}", std::process::id()));
    std::fs::create_dir_all(dir.join("images")).unwrap();
    std::fs::write(dir.join("images/hero.jpg"), vec![7u8; 64 * 1024]).unwrap();
    // Local directory only: the first fetch fills the cache, the bench measures hits.
    let cdn = Cdn::new(CdnConfig {
        enabled: false,
        local_dir: Some(dir.clone()),
        ..CdnConfig::default()
    })
    .unwrap();
    rt.block_on(async {
        cdn.set_manifest(manifest().with("/images/hero.jpg", "abc", true))
            .await;
        cdn.fetch("/images/hero.jpg").await.unwrap();
    });
    c.bench_function("fetch, memory cache hit (64 KiB asset)", |b| {
        b.to_async(&rt)
            .iter(|| async { black_box(cdn.fetch(black_box("/images/hero.jpg")).await.unwrap()) })
    });
    std::fs::remove_dir_all(dir).ok();
}

criterion_group!(benches, urls, cache_hit);
criterion_main!(benches);
