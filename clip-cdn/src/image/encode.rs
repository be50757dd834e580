//! Encoders: lossy WebP through libwebp, baseline or progressive JPEG through mozjpeg,
//! PNG through the `png` crate. Nothing but pixels is written: metadata is stripped.

use std::panic::{AssertUnwindSafe, catch_unwind};

use super::pixels::Pixels;
use crate::error::{Error, Result};

fn encode_error(format: &'static str, detail: impl Into<String>) -> Error {
    Error::Encode {
        format,
        detail: detail.into(),
    }
}

/// Lossy WebP at `quality` (0..=100), libwebp's default effort (method 4), as libvips.
pub(crate) fn webp(p: &Pixels, quality: u8) -> Result<Vec<u8>> {
    let encoder = match p.channels {
        4 => webp::Encoder::from_rgba(&p.data, p.width, p.height),
        _ => webp::Encoder::from_rgb(&p.data, p.width, p.height),
    };
    let mut config =
        webp::WebPConfig::new().map_err(|()| encode_error("WebP", "libwebp version mismatch"))?;
    config.quality = f32::from(quality.min(100));
    config.method = 4;
    let out = encoder
        .encode_advanced(&config)
        .map_err(|e| encode_error("WebP", format!("{e:?}")))?;
    Ok(out.to_vec())
}

/// JPEG at `quality`; progressive scans when asked (smaller for large images, and
/// browsers paint them early), baseline otherwise.
pub(crate) fn jpeg(p: &Pixels, quality: u8, progressive: bool) -> Result<Vec<u8>> {
    // Only RGBA needs a flattened copy; RGB is encoded as it is.
    let flattened;
    let rgb = if p.channels == 4 {
        flattened = p.flattened();
        &flattened
    } else {
        p
    };
    let encoded = catch_unwind(AssertUnwindSafe(|| -> std::io::Result<Vec<u8>> {
        let mut c = mozjpeg::Compress::new(mozjpeg::ColorSpace::JCS_RGB);
        c.set_size(rgb.width as usize, rgb.height as usize);
        if progressive {
            c.set_progressive_mode();
        } else {
            c.set_fastest_defaults();
            c.set_optimize_coding(true);
        }
        c.set_quality(f32::from(quality.clamp(1, 100)));
        let mut started = c.start_compress(Vec::with_capacity(rgb.data.len() / 8))?;
        started.write_scanlines(&rgb.data)?;
        started.finish()
    }));
    match encoded {
        Ok(Ok(bytes)) => Ok(bytes),
        Ok(Err(e)) => Err(encode_error("JPEG", e.to_string())),
        Err(_) => Err(encode_error("JPEG", "libjpeg error")),
    }
}

/// PNG, RGB or RGBA, with fast adaptive filtering.
pub(crate) fn png(p: &Pixels) -> Result<Vec<u8>> {
    let err = |e: png::EncodingError| encode_error("PNG", e.to_string());
    let mut out = Vec::with_capacity(p.data.len() / 2);
    let mut encoder = png::Encoder::new(&mut out, p.width, p.height);
    encoder.set_color(if p.channels == 4 {
        png::ColorType::Rgba
    } else {
        png::ColorType::Rgb
    });
    encoder.set_depth(png::BitDepth::Eight);
    encoder.set_compression(png::Compression::Fast);
    let mut writer = encoder.write_header().map_err(err)?;
    writer.write_image_data(&p.data).map_err(err)?;
    writer.finish().map_err(err)?;
    Ok(out)
}
