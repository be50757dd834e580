//! Decoders: JPEG through libjpeg-turbo (mozjpeg) with shrink-on-load, PNG through the
//! `png` crate, WebP through libwebp. Each returns an RGB or RGBA [`Pixels`].

use std::io::Cursor;
use std::panic::{AssertUnwindSafe, catch_unwind};

use super::pixels::Pixels;
use super::probe::{SourceFormat, corrupt};
use crate::error::Result;

/// Decodes a JPEG at `8 / denom` of its size (`denom` in 1, 2, 4, 8): libjpeg skips the
/// high-frequency coefficients (scaled IDCT), so a 1/8 decode does a fraction of the work
/// and allocates only the small bitmap. Gray and CMYK become RGB in the same buffer.
/// `adobe`: the file has an Adobe marker, so CMYK is stored inverted.
pub(crate) fn jpeg(data: &[u8], denom: u8, adobe: bool) -> Result<Pixels> {
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
                let n = w as usize * h as usize;
                let mut data = vec![0u8; n * 3];
                img.read_scanlines_into::<u8>(&mut data[..n])?;
                img.finish()?;
                expand_gray(&mut data, n, 1);
                Pixels {
                    width: w,
                    height: h,
                    channels: 3,
                    data,
                }
            }
            mozjpeg::decompress::Format::CMYK(mut img) => {
                let (w, h) = (img.width() as u32, img.height() as u32);
                let mut data = img.read_scanlines::<u8>()?;
                img.finish()?;
                cmyk_to_rgb(&mut data, adobe);
                Pixels {
                    width: w,
                    height: h,
                    channels: 3,
                    data,
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

/// Expands `n` gray pixels (with `alpha` extra channels: 0 or 1) at the start of `buf`
/// into RGB(A) filling it, in place: from the last pixel back, so nothing is overwritten
/// before it is read.
fn expand_gray(buf: &mut [u8], n: usize, stride: usize) {
    let out = if stride == 2 { 4 } else { 3 };
    for i in (0..n).rev() {
        let (v, a) = (buf[i * stride], buf[i * stride + stride - 1]);
        let at = i * out;
        buf[at..at + 3].fill(v);
        if out == 4 {
            buf[at + 3] = a;
        }
    }
}

/// Naive CMYK to RGB, in place (RGB takes the first three quarters of the buffer, which
/// is then truncated). libjpeg hands out Adobe (Photoshop) CMYK JPEGs inverted, as nearly
/// all CMYK JPEGs in the wild are, so 255 means no ink; without an Adobe marker the data
/// is plain (0 = no ink), as libvips reads it.
fn cmyk_to_rgb(buf: &mut Vec<u8>, adobe: bool) {
    let n = buf.len() / 4;
    for i in 0..n {
        let p = [buf[i * 4], buf[i * 4 + 1], buf[i * 4 + 2], buf[i * 4 + 3]];
        let p = if adobe { p } else { p.map(|v| 255 - v) };
        let k = u32::from(p[3]);
        let ch = |v: u8| ((u32::from(v) * k + 127) / 255) as u8;
        buf[i * 3..i * 3 + 3].copy_from_slice(&[ch(p[0]), ch(p[1]), ch(p[2])]);
    }
    buf.truncate(n * 3);
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
    let (color, _) = reader.output_color_type();
    // Gray is decoded into the start of a buffer already the size of its RGB(A) form,
    // then expanded in place: one bitmap, never two.
    let (stride, channels) = match color {
        png::ColorType::Rgb => (3, 3),
        png::ColorType::Rgba => (4, 4),
        png::ColorType::Grayscale => (1, 3),
        png::ColorType::GrayscaleAlpha => (2, 4),
        png::ColorType::Indexed => return Err(corrupt(fmt, "palette not expanded")),
    };
    let pixels = size / stride;
    let mut data = vec![0u8; pixels * channels];
    let info = reader.next_frame(&mut data[..size]).map_err(err)?;
    let (w, h) = (info.width, info.height);
    if stride < 3 {
        expand_gray(&mut data, pixels, stride);
    }
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

/// Decodes a still WebP through libwebp, straight into our buffer (RGBA when `alpha`).
pub(crate) fn webp(data: &[u8], alpha: bool) -> Result<Pixels> {
    let fmt = SourceFormat::WebP;
    let features = webp::BitstreamFeatures::new(data)
        .ok_or_else(|| corrupt(fmt, "unreadable bitstream header"))?;
    let (w, h) = (features.width(), features.height());
    let channels = if alpha { 4 } else { 3 };
    let stride = w as usize * channels;
    let mut out = vec![0u8; stride * h as usize];
    let stride_c = i32::try_from(stride).map_err(|_| corrupt(fmt, "row too long"))?;
    // SAFETY: libwebp writes at most `out.len()` bytes, rows `stride` apart, into `out`,
    // which outlives the call; `data` is only read. It returns null on any failure.
    let written = unsafe {
        if alpha {
            libwebp_sys::WebPDecodeRGBAInto(
                data.as_ptr(),
                data.len(),
                out.as_mut_ptr(),
                out.len(),
                stride_c,
            )
        } else {
            libwebp_sys::WebPDecodeRGBInto(
                data.as_ptr(),
                data.len(),
                out.as_mut_ptr(),
                out.len(),
                stride_c,
            )
        }
    };
    if written.is_null() {
        return Err(corrupt(fmt, "libwebp could not decode the bitstream"));
    }
    Ok(Pixels {
        width: w,
        height: h,
        channels,
        data: out,
    })
}

#[cfg(test)]
mod tests {
    #[test]
    fn cmyk_white_and_black() {
        // Inverted (Adobe) CMYK: (255,255,255,255) is paper white, K = 0 is full black.
        let mut adobe = vec![255, 255, 255, 255, 255, 255, 255, 0];
        super::cmyk_to_rgb(&mut adobe, true);
        assert_eq!(adobe, [255, 255, 255, 0, 0, 0]);
        // Plain CMYK: no ink is white, full K is black.
        let mut plain = vec![0, 0, 0, 0, 0, 0, 0, 255];
        super::cmyk_to_rgb(&mut plain, false);
        assert_eq!(plain, [255, 255, 255, 0, 0, 0]);
    }

    #[test]
    fn gray_expands_in_place() {
        let mut gray = vec![1, 2, 0, 0, 0, 0];
        super::expand_gray(&mut gray, 2, 1);
        assert_eq!(gray, [1, 1, 1, 2, 2, 2]);
        let mut gray_alpha = vec![1, 9, 2, 8, 0, 0, 0, 0];
        super::expand_gray(&mut gray_alpha, 2, 2);
        assert_eq!(gray_alpha, [1, 1, 1, 9, 2, 2, 2, 8]);
    }
}
