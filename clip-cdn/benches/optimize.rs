//! The optimizer on one real photo (testdata/images, or CLIP_TEST_IMAGES): a 300x200 WebP
//! thumbnail, and a 1200-wide WebP and progressive JPEG.
//!
//! `cargo bench -p clip-cdn --bench optimize`

use std::hint::black_box;
use std::path::PathBuf;

use clip_cdn::image::{Format, ImageOptions, optimize};
use criterion::{Criterion, criterion_group, criterion_main};

fn photo() -> Vec<u8> {
    let dir = std::env::var_os("CLIP_TEST_IMAGES")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../testdata/images"));
    std::fs::read(dir.join("Dune.jpg")).expect("testdata/images/Dune.jpg (or set CLIP_TEST_IMAGES)")
}

fn bench(c: &mut Criterion) {
    let bytes = photo();
    let mut g = c.benchmark_group("optimize Dune.jpg (2560x1600, 1 MB)");
    g.sample_size(20);
    for (name, opts) in [
        (
            "300x200 webp q85",
            ImageOptions {
                width: Some(300),
                height: Some(200),
                quality: 85,
                ..Default::default()
            },
        ),
        (
            "1200w webp q80",
            ImageOptions {
                width: Some(1200),
                ..Default::default()
            },
        ),
        (
            "1200w progressive jpeg q80",
            ImageOptions {
                width: Some(1200),
                format: Format::Jpeg,
                progressive: true,
                ..Default::default()
            },
        ),
    ] {
        g.bench_function(name, |b| {
            b.iter(|| black_box(optimize(black_box(&bytes), &opts).unwrap()))
        });
    }
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
