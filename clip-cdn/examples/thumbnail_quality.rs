//! The quality side of `scripts/compare/thumbnail.sh`: how close each tool's thumbnails
//! are to a reference, as the PSNR of the luma.
//!
//! ```text
//! cargo run --release -p clip-cdn --example thumbnail_quality -- SOURCES NAME=DIR...
//! ```
//! For each photo `SOURCES/S.(jpg|png)` and each tool, reads `DIR/S.webp`, and compares
//! it with the reference: the photo decoded at full resolution by an independent decoder
//! (the `image` crate: zune-jpeg, png), composited over black, and resized in one step to
//! that thumbnail's own size with the `image` crate's Lanczos3 (a windowed sinc whose
//! support widens with the ratio, so every source pixel is weighed: the resampling the
//! tools approximate with their shrink-on-load shortcuts). Luma is BT.601
//! (0.299 R + 0.587 G + 0.114 B) on the 8-bit values, as the tools store them.
//! Prints one line per photo, the means per tool (of all photos, and of the JPEGs: a
//! mostly transparent PNG scores far above the photos and would dominate the mean), and
//! `psnr NAME=dB ...` with the JPEGs' mean.

use std::path::Path;

use image::imageops::{self, FilterType};
use image::{Rgb, RgbImage, RgbaImage};

/// Premultiplied colour (composited over black): the alpha channel counts too (a white
/// image with a patterned alpha, like testdata's Spring.png, is its alpha pattern).
fn over_black(img: &RgbaImage) -> RgbImage {
    RgbImage::from_fn(img.width(), img.height(), |x, y| {
        let p = img.get_pixel(x, y).0;
        let a = u32::from(p[3]);
        let blend = |v: u8| ((u32::from(v) * a + 127) / 255) as u8;
        Rgb([blend(p[0]), blend(p[1]), blend(p[2])])
    })
}

fn luma_psnr(a: &RgbImage, b: &RgbImage) -> f64 {
    let luma =
        |p: &Rgb<u8>| 0.299 * f64::from(p[0]) + 0.587 * f64::from(p[1]) + 0.114 * f64::from(p[2]);
    let mse = a
        .pixels()
        .zip(b.pixels())
        .map(|(p, q)| (luma(p) - luma(q)).powi(2))
        .sum::<f64>()
        / f64::from(a.width() * a.height());
    10.0 * (255.0f64.powi(2) / mse.max(1e-9)).log10()
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [sources, tools @ ..] = args.as_slice() else {
        return Err("usage: thumbnail_quality SOURCES NAME=DIR...".into());
    };
    let tools: Vec<(&str, &str)> = tools
        .iter()
        .map(|t| t.split_once('=').ok_or("tools are NAME=DIR"))
        .collect::<Result<_, _>>()?;
    let mut photos: Vec<_> = std::fs::read_dir(sources)?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| {
            matches!(
                p.extension().and_then(|e| e.to_str()),
                Some("jpg" | "jpeg" | "png")
            )
        })
        .collect();
    photos.sort();
    let mut totals = vec![0.0; tools.len()];
    let mut jpeg_totals = vec![0.0; tools.len()];
    let mut jpegs = 0usize;
    print!("{:<24}", "photo (luma PSNR, dB)");
    for (name, _) in &tools {
        print!(" {name:>14}");
    }
    println!();
    for photo in &photos {
        let stem = photo
            .file_stem()
            .and_then(|s| s.to_str())
            .ok_or("file name")?;
        let is_jpeg = photo.extension().is_some_and(|e| e == "jpg" || e == "jpeg");
        jpegs += usize::from(is_jpeg);
        let full = over_black(&image::open(photo)?.to_rgba8());
        print!("{stem:<24}");
        for (i, (name, dir)) in tools.iter().enumerate() {
            let thumb_path = Path::new(dir).join(format!("{stem}.webp"));
            let thumb = over_black(
                &image::open(&thumb_path)
                    .map_err(|e| format!("{name}: {}: {e}", thumb_path.display()))?
                    .to_rgba8(),
            );
            let reference =
                imageops::resize(&full, thumb.width(), thumb.height(), FilterType::Lanczos3);
            let psnr = luma_psnr(&thumb, &reference);
            totals[i] += psnr;
            if is_jpeg {
                jpeg_totals[i] += psnr;
            }
            print!(" {psnr:>14.2}");
        }
        println!();
    }
    for (label, sums, n) in [
        ("mean", &totals, photos.len()),
        ("mean, JPEGs", &jpeg_totals, jpegs),
    ] {
        print!("{label:<24}");
        for total in sums.iter() {
            print!(" {:>14.2}", total / n.max(1) as f64);
        }
        println!();
    }
    let summary: Vec<String> = tools
        .iter()
        .zip(&jpeg_totals)
        .map(|((name, _), total)| format!("{name}={:.2}", total / jpegs.max(1) as f64))
        .collect();
    println!("psnr {}", summary.join(" "));
    Ok(())
}
