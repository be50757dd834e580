//! The optimizer on one real photo (testdata/images/Dune.jpg, 1680x1050): a 300x200 WebP
//! thumbnail, and a 1200-wide WebP and progressive JPEG.
//!
//! `cargo bench -p clip-cdn --bench optimize`

use std::hint::black_box;
use std::path::PathBuf;

use clip_cdn::image::{Format, ImageOptions, optimize};
use criterion::{Criterion, criterion_group, criterion_main};

fn photo() -> Vec<u8> {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../testdata/images/Dune.jpg");
    std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn bench(c: &mut Criterion) {
    let bytes = photo();
    let mut g = c.benchmark_group("optimize Dune.jpg (1680x1050, 1 MB)");
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
