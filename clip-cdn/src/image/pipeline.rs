//! [`optimize`]: decode, resize, convert to sRGB, orient, encode.

use super::probe::{self, SourceFormat};
use super::{Format, ImageOptions, Optimized, color, decode, encode, geometry, resize};
use crate::error::{Error, Result};

/// How much larger than the output a JPEG is decoded (1.0 = the smallest DCT scale
/// that still covers the output; libvips leaves 2.0). Measured by
/// `scripts/compare/thumbnail.sh`: see the README.
const SHRINK_ON_LOAD_MARGIN: f64 = 1.0;

/// Decodes, resizes, orients and re-encodes `bytes` as `options` say.
pub fn optimize(bytes: &[u8], options: &ImageOptions) -> Result<Optimized> {
    validate(options)?;
    let header = probe::probe(bytes)?;
    let pixels = u64::from(header.width) * u64::from(header.height);
    if pixels > options.max_pixels {
        return Err(Error::TooLarge {
            width: header.width,
            height: header.height,
            pixels,
            limit: options.max_pixels,
        });
    }
    if header.animated {
        // GIF and animated WebP: resizing animations is out of scope; pass them through.
        let format = if header.format == SourceFormat::Gif {
            Format::Gif
        } else {
            Format::WebP
        };
        return Ok(Optimized {
            bytes: bytes.to_vec(),
            format,
            width: header.width,
            height: header.height,
        });
    }
    if options.format == Format::Gif {
        return Err(Error::InvalidOptions(
            "GIF output is not produced: ask for WebP, JPEG or PNG".into(),
        ));
    }

    let transposed = header.orientation >= 5;
    let (upright_w, upright_h) = if transposed {
        (header.height, header.width)
    } else {
        (header.width, header.height)
    };
    let upright = geometry::plan(
        upright_w,
        upright_h,
        options.width,
        options.height,
        options.fit,
        options.enlarge,
    );
    // Only `enlarge` can grow the output past the source; bound it like the source so
    // `width: Some(1_000_000)` is an error, not a multi-gigabyte allocation.
    let output_pixels = u64::from(upright.width) * u64::from(upright.height);
    if output_pixels > options.max_pixels {
        return Err(Error::InvalidOptions(format!(
            "output of {}x{} = {output_pixels} pixels is above max_pixels ({}): \
             ask for a smaller size",
            upright.width, upright.height, options.max_pixels
        )));
    }
    let stored = if transposed {
        upright.transposed()
    } else {
        upright
    };

    let denominator = geometry::jpeg_denominator(&stored, SHRINK_ON_LOAD_MARGIN);
    let (decoded, icc) = match header.format {
        SourceFormat::Jpeg => (decode::jpeg(bytes, denominator)?, header.icc.clone()),
        SourceFormat::Png => decode::png(bytes, png_budget(options.max_pixels))?,
        SourceFormat::WebP => (decode::webp(bytes)?, header.icc.clone()),
        SourceFormat::Gif => unreachable_gif()?,
    };
    // An alpha channel with nothing transparent only costs time and bytes.
    let decoded = if decoded.channels == 4 && !decoded.has_transparency() {
        decoded.flatten()
    } else {
        decoded
    };
    let plan = stored.rescaled(header.width, header.height, decoded.width, decoded.height);
    let resized = resize::resize(decoded, &plan)?;
    // Colour conversion on the small bitmap: the output is untagged, so it must be sRGB.
    // (CMYK JPEGs were converted by formula; their CMYK profile does not apply to RGB.)
    let resized = match icc {
        Some(profile) if !is_cmyk_profile(&profile) => color::to_srgb(resized, &profile),
        _ => resized,
    }
    .orient(header.orientation);

    let bytes = match options.format {
        Format::WebP => encode::webp(&resized, options.quality)?,
        Format::Jpeg => encode::jpeg(&resized, options.quality, options.progressive)?,
        Format::Png => encode::png(&resized)?,
        Format::Gif => unreachable_gif()?,
    };
    Ok(Optimized {
        bytes,
        format: options.format,
        width: resized.width,
        height: resized.height,
    })
}

/// The ICC header names the profile's colour space at bytes 16..20.
fn is_cmyk_profile(icc: &[u8]) -> bool {
    icc.get(16..20) == Some(b"CMYK")
}

/// GIF never reaches the pixel pipeline (it is passed through above).
fn unreachable_gif<T>() -> Result<T> {
    Err(Error::InvalidOptions(
        "GIF is passed through, not decoded".into(),
    ))
}

/// Bytes the PNG decoder may allocate: the RGBA bitmap at the pixel limit, plus room for a row buffer.
fn png_budget(max_pixels: u64) -> usize {
    usize::try_from(max_pixels.saturating_mul(8)).unwrap_or(usize::MAX)
}

fn validate(o: &ImageOptions) -> Result<()> {
    if o.width == Some(0) || o.height == Some(0) {
        return Err(Error::InvalidOptions(
            "width and height must be at least 1 pixel".into(),
        ));
    }
    if !(1..=100).contains(&o.quality) {
        return Err(Error::InvalidOptions(format!(
            "quality {} is outside 1..=100",
            o.quality
        )));
    }
    Ok(())
}
