//! Optimizes one image from the command line.
//!
//! ```text
//! cargo run --release -p clip-cdn --example optimize -- IN OUT [WIDTH] [HEIGHT] [QUALITY]
//! cargo run --release -p clip-cdn --example optimize -- --seed-corpus IMAGES_DIR CORPUS_DIR
//! ```
//! The output format follows OUT's extension (webp, jpg, png). `--seed-corpus` writes
//! small JPEG, PNG and WebP versions of each image as seeds for the fuzz target.

use std::path::Path;

use clip_cdn::image::{Format, ImageOptions, optimize};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.first().map(String::as_str) == Some("--seed-corpus") {
        let [_, images, corpus] = args.as_slice() else {
            return Err("usage: --seed-corpus IMAGES_DIR CORPUS_DIR".into());
        };
        return seed_corpus(Path::new(images), Path::new(corpus));
    }
    let (Some(input), Some(output)) = (args.first(), args.get(1)) else {
        return Err("usage: optimize IN OUT [WIDTH] [HEIGHT] [QUALITY]".into());
    };
    let number = |i: usize| args.get(i).map(|s| s.parse()).transpose();
    let format = Path::new(output)
        .extension()
        .and_then(|e| e.to_str())
        .and_then(Format::from_name)
        .ok_or("OUT must end in .webp, .jpg or .png")?;
    let options = ImageOptions {
        width: number(2)?,
        height: number(3)?,
        quality: number(4)?.map_or(80, |q: u32| q.min(100) as u8),
        format,
        ..Default::default()
    };
    let bytes = std::fs::read(input)?;
    let started = std::time::Instant::now();
    let out = optimize(&bytes, &options)?;
    let took = started.elapsed();
    std::fs::write(output, &out.bytes)?;
    println!(
        "{input} ({} bytes) -> {output}: {}x{} {:?}, {} bytes in {:.1} ms",
        bytes.len(),
        out.width,
        out.height,
        out.format,
        out.bytes.len(),
        took.as_secs_f64() * 1e3
    );
    Ok(())
}

fn seed_corpus(images: &Path, corpus: &Path) -> Result<(), Box<dyn std::error::Error>> {
    std::fs::create_dir_all(corpus)?;
    for entry in std::fs::read_dir(images)? {
        let path = entry?.path();
        let Ok(bytes) = std::fs::read(&path) else {
            continue;
        };
        let stem = path
            .file_stem()
            .and_then(|s| s.to_str())
            .unwrap_or("seed")
            .to_owned();
        for format in [Format::Jpeg, Format::Png, Format::WebP] {
            let options = ImageOptions {
                width: Some(48),
                format,
                ..Default::default()
            };
            if let Ok(out) = optimize(&bytes, &options) {
                let mut seed = vec![0u8];
                seed.extend(out.bytes);
                std::fs::write(corpus.join(format!("{stem}.{}", format.extension())), seed)?;
            }
        }
    }
    Ok(())
}
