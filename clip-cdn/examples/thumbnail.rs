//! Thumbnails many images in one process, on one thread, like `vipsthumbnail` does:
//! the optimizer's side of `scripts/compare/thumbnail.sh`.
//!
//! ```text
//! cargo run --release -p clip-cdn --example thumbnail -- [--fast] WIDTHxHEIGHT QUALITY OUT_DIR FILE...
//! ```
//! Writes OUT_DIR/<name>.webp (input stems must be unique) and prints
//! `images=N seconds=S bytes=B jpeg_simd=true|false`. `--fast` sets
//! `ImageOptions::fast_shrink_on_load` (sharp's default `fastShrinkOnLoad`).

use std::path::Path;

use clip_cdn::image::{ImageOptions, jpeg_simd, optimize};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args: Vec<String> = std::env::args().skip(1).collect();
    let fast = args.first().is_some_and(|a| a == "--fast");
    if fast {
        args.remove(0);
    }
    let [size, quality, out_dir, files @ ..] = args.as_slice() else {
        return Err("usage: thumbnail [--fast] WIDTHxHEIGHT QUALITY OUT_DIR FILE...".into());
    };
    let (w, h) = size.split_once('x').ok_or("size is WIDTHxHEIGHT")?;
    let options = ImageOptions {
        width: Some(w.parse()?),
        height: Some(h.parse()?),
        quality: quality.parse()?,
        fast_shrink_on_load: fast,
        ..Default::default()
    };
    let started = std::time::Instant::now();
    let mut total = 0usize;
    for file in files {
        // Reading the file is part of the work, as it is for vipsthumbnail.
        let bytes = std::fs::read(file)?;
        let out = optimize(&bytes, &options).map_err(|e| format!("{file}: {e}"))?;
        total += out.bytes.len();
        let name = Path::new(file)
            .file_stem()
            .and_then(|s| s.to_str())
            .unwrap_or("image");
        std::fs::write(Path::new(out_dir).join(format!("{name}.webp")), &out.bytes)?;
    }
    println!(
        "images={} seconds={:.4} bytes={total} jpeg_simd={}",
        files.len(),
        started.elapsed().as_secs_f64(),
        jpeg_simd()
    );
    Ok(())
}
