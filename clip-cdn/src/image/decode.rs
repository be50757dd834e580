//! Decoders: JPEG through libjpeg-turbo (mozjpeg) with shrink-on-load, PNG through the
//! `png` crate, WebP through libwebp. Each returns an RGB or RGBA [`Pixels`].

use std::io::Cursor;
use std::panic::{AssertUnwindSafe, catch_unwind};

use super::pixels::Pixels;
use super::probe::{SourceFormat, corrupt};
use crate::error::Result;

/// Decodes a JPEG at `8 / denom` of its size (`denom` in 1, 2, 4, 8): libjpeg skips the
/// high-frequency coefficients (scaled IDCT), so a 1/8 decode does a fraction of the work
/// and allocates only the small bitmap.
pub(crate) fn jpeg(data: &[u8], denom: u8) -> Result<Pixels> {
    // libjpeg reports fatal errors by unwinding (mozjpeg's error manager); stop it here.
    let decoded = catch_unwind(AssertUnwindSafe(|| -> std::io::Result<Pixels> {
        let mut d = mozjpeg::Decompress::new_mem(data)?;
        d.scale(8 / denom.clamp(1, 8));
        let pixels = match d.image()? {
            mozjpeg::decompress::Format::RGB(mut img) => {
                let (w, h) = (img.width() as u32, img.height() as u32);
                let data = img.read_scanlines::<u8>()?;
                img.finish()?;
                Pixels {
                    width: w,
                    height: h,
                    channels: 3,
                    data,
                }
            }
            mozjpeg::decompress::Format::Gray(mut img) => {
                let (w, h) = (img.width() as u32, img.height() as u32);
                let gray = img.read_scanlines::<u8>()?;
                img.finish()?;
                let data = gray.iter().flat_map(|&v| [v, v, v]).collect();
                Pixels {
                    width: w,
                    height: h,
                    channels: 3,
                    data,
                }
            }
            mozjpeg::decompress::Format::CMYK(mut img) => {
                let (w, h) = (img.width() as u32, img.height() as u32);
                let cmyk = img.read_scanlines::<u8>()?;
                img.finish()?;
                Pixels {
                    width: w,
                    height: h,
                    channels: 3,
                    data: cmyk_to_rgb(&cmyk),
                }
            }
        };
        Ok(pixels)
    }));
    match decoded {
        Ok(Ok(p)) if p.data.len() == p.width as usize * p.height as usize * 3 => Ok(p),
        Ok(Ok(_)) => Err(corrupt(
            SourceFormat::Jpeg,
            "decoder returned a short bitmap",
        )),
        Ok(Err(e)) => Err(corrupt(SourceFormat::Jpeg, e.to_string())),
        Err(panic) => {
            let detail = panic
                .downcast_ref::<String>()
                .cloned()
                .or_else(|| panic.downcast_ref::<&str>().map(|s| s.to_string()))
                .unwrap_or_else(|| "libjpeg error".into());
            Err(corrupt(SourceFormat::Jpeg, detail))
        }
    }
}

/// Naive CMYK to RGB. libjpeg hands Adobe (Photoshop) CMYK JPEGs out inverted, as
/// nearly all CMYK JPEGs in the wild are, so 255 means no ink.
fn cmyk_to_rgb(cmyk: &[u8]) -> Vec<u8> {
    cmyk.chunks_exact(4)
        .flat_map(|p| {
            let k = u32::from(p[3]);
            let ch = |v: u8| ((u32::from(v) * k + 127) / 255) as u8;
            [ch(p[0]), ch(p[1]), ch(p[2])]
        })
        .collect()
}

/// Decodes a PNG to 8-bit RGB or RGBA, within a memory budget of `max_bytes`; also
/// returns its ICC profile.
pub(crate) fn png(data: &[u8], max_bytes: usize) -> Result<(Pixels, Option<Vec<u8>>)> {
    let fmt = SourceFormat::Png;
    let err = |e: png::DecodingError| corrupt(fmt, e.to_string());
    let mut decoder =
        png::Decoder::new_with_limits(Cursor::new(data), png::Limits { bytes: max_bytes });
    decoder.set_transformations(png::Transformations::normalize_to_color8());
    decoder.set_ignore_text_chunk(true);
    let mut reader = decoder.read_info().map_err(err)?;
    let icc = reader.info().icc_profile.as_ref().map(|p| p.to_vec());
    let size = reader
        .output_buffer_size()
        .ok_or_else(|| corrupt(fmt, "image size overflows"))?;
    let mut buf = vec![0u8; size];
    let info = reader.next_frame(&mut buf).map_err(err)?;
    buf.truncate(info.buffer_size());
    let (w, h) = (info.width, info.height);
    let data: Vec<u8> = match info.color_type {
        png::ColorType::Rgb => buf,
        png::ColorType::Rgba => buf,
        png::ColorType::Grayscale => buf.iter().flat_map(|&v| [v, v, v]).collect(),
        png::ColorType::GrayscaleAlpha => buf
            .chunks_exact(2)
            .flat_map(|p| [p[0], p[0], p[0], p[1]])
            .collect(),
        png::ColorType::Indexed => return Err(corrupt(fmt, "palette not expanded")),
    };
    let channels = if matches!(
        info.color_type,
        png::ColorType::Rgba | png::ColorType::GrayscaleAlpha
    ) {
        4
    } else {
        3
    };
    if data.len() != w as usize * h as usize * channels {
        return Err(corrupt(fmt, "decoded size does not match the header"));
    }
    Ok((
        Pixels {
            width: w,
            height: h,
            channels,
            data,
        },
        icc,
    ))
}

/// Decodes a still WebP through libwebp.
pub(crate) fn webp(data: &[u8]) -> Result<Pixels> {
    let img = webp::Decoder::new(data)
        .decode()
        .ok_or_else(|| corrupt(SourceFormat::WebP, "libwebp could not decode the bitstream"))?;
    let channels = if img.is_alpha() { 4 } else { 3 };
    let (w, h) = (img.width(), img.height());
    let bytes: &[u8] = &img;
    if bytes.len() != w as usize * h as usize * channels {
        return Err(corrupt(
            SourceFormat::WebP,
            "decoded size does not match the header",
        ));
    }
    Ok(Pixels {
        width: w,
        height: h,
        channels,
        data: bytes.to_vec(),
    })
}

#[cfg(test)]
mod tests {
    #[test]
    fn cmyk_white_and_black() {
        // Inverted CMYK: (255,255,255,255) is paper white, K = 0 is full black.
        assert_eq!(
            super::cmyk_to_rgb(&[255, 255, 255, 255, 255, 255, 255, 0]),
            [255, 255, 255, 0, 0, 0]
        );
    }
}
