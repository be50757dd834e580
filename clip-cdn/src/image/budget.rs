//! How much memory one image job takes, from its header alone, so a job that would not
//! fit `ImageOptions::max_memory` is refused before anything is decoded.
//!
//! The estimate follows the pipeline's stages, whose buffers do not all live at once:
//! decode (the bitmap, plus the decoder's own buffers: libjpeg's full-size coefficient
//! arrays for progressive or multi-scan JPEGs, whatever the scale; libwebp's 4-byte ARGB
//! buffer for lossless WebP), resize (source bitmap, fast_image_resize's intermediate
//! rows, output), the output's own copies (orientation, colour), and encode (the
//! encoder's working image and its output). The peak is the largest stage, plus a fixed
//! allowance for the libraries. `tests/memory.rs` checks it against the process's peak
//! RSS for every input format.

use super::Format;
use super::geometry::Plan;
use super::probe::{Detail, Header, JpegInfo};

/// Libraries' tables, pools and small buffers, and allocator slack.
const FIXED: u64 = 6 << 20;

/// The bitmap size a JPEG decodes to at `1 / denominator` scale (libjpeg rounds up).
pub(crate) fn scaled(width: u32, height: u32, denominator: u8) -> (u64, u64) {
    let d = u64::from(denominator.max(1));
    (u64::from(width).div_ceil(d), u64::from(height).div_ceil(d))
}

/// libjpeg's whole-image coefficient arrays (64 coefficients of 2 bytes per 8x8 block,
/// per component, at full resolution): kept for progressive and multi-scan files.
fn jpeg_coefficients(width: u32, height: u32, info: &JpegInfo) -> u64 {
    if !info.progressive && info.scans <= 1 {
        return 0;
    }
    let h_max = info
        .sampling
        .iter()
        .map(|s| u64::from(s.0))
        .max()
        .unwrap_or(1);
    let v_max = info
        .sampling
        .iter()
        .map(|s| u64::from(s.1))
        .max()
        .unwrap_or(1);
    let (w, h) = (u64::from(width), u64::from(height));
    info.sampling
        .iter()
        .map(|&(hs, vs)| {
            let (hs, vs) = (u64::from(hs), u64::from(vs));
            let blocks_w = (w * hs).div_ceil(h_max * 8).next_multiple_of(hs);
            let blocks_h = (h * vs).div_ceil(v_max * 8).next_multiple_of(vs);
            blocks_w * blocks_h * 128
        })
        .sum()
}

/// The decode stage: bitmap bytes (and its channel count) and the decoder's own buffers.
fn decode(header: &Header, denominator: u8) -> (u64, u64, u64) {
    let (w, h) = (header.width, header.height);
    match &header.detail {
        Detail::Jpeg(info) => {
            let (dw, dh) = scaled(w, h, denominator);
            // CMYK is read as 4 channels and compacted to 3 in place.
            let read = if info.sampling.len() == 4 { 4 } else { 3 };
            // Row buffers at full width: an iMCU row of coefficients, upsampling, colour.
            let rows = u64::from(w) * 256;
            (dw * dh * read, 3, jpeg_coefficients(w, h, info) + rows)
        }
        Detail::Png { channels } => {
            let c = u64::from(*channels);
            let pixels = u64::from(w) * u64::from(h);
            // Two rows of up to 16-bit RGBA and the inflater's window and buffers.
            (pixels * c, c, u64::from(w) * 32 + (512 << 10))
        }
        Detail::WebP { lossless, alpha } => {
            let c = if *alpha { 4 } else { 3 };
            let pixels = u64::from(w) * u64::from(h);
            let internal = if *lossless {
                pixels * 4
            } else if *alpha {
                pixels // the decoded alpha plane
            } else {
                0
            };
            (pixels * c, c, internal + u64::from(w) * 64)
        }
        Detail::Gif => (0, 0, 0),
    }
}

/// Peak bytes of passing a `len`-byte file through (one copy).
pub(crate) fn copy_bytes(len: usize) -> u64 {
    FIXED + len as u64
}

/// Peak bytes of optimizing an image with this header: decoded at `1 / denominator`
/// (JPEG), resized by `plan` (in source pixels), encoded as `format`.
pub(crate) fn job_bytes(header: &Header, denominator: u8, plan: &Plan, format: Format) -> u64 {
    let (bitmap, channels, decoder) = decode(header, denominator);
    let decode_stage = bitmap + decoder;
    let out = u64::from(plan.width) * u64::from(plan.height) * channels;
    // fast_image_resize filters columns first: an intermediate of the crop's width (in
    // decoded pixels) by the output's height.
    let decoded_width = match header.detail {
        Detail::Jpeg(_) => scaled(header.width, header.height, denominator).0,
        _ => u64::from(header.width),
    };
    let crop_share = plan.crop.2 / f64::from(header.width.max(1));
    let temp =
        (decoded_width as f64 * crop_share).ceil() as u64 * u64::from(plan.height) * channels;
    let resize_stage = bitmap + temp + out;
    let copies_stage = out * 2;
    let encoder = match format {
        Format::WebP => out / channels.max(1) * 4, // YUV 4:2:0 picture, alpha, encoder rows
        Format::Jpeg => out / channels.max(1) * 9, // flattened RGB, full-size coefficients
        Format::Png | Format::Gif => out,          // the compressed output, at most the raw size
    };
    let encode_stage = out * 2 + encoder;
    FIXED
        + decode_stage
            .max(resize_stage)
            .max(copies_stage)
            .max(encode_stage)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::image::Fit;
    use crate::image::geometry::plan;

    fn jpeg(width: u32, height: u32, progressive: bool, sampling: Vec<(u8, u8)>) -> Header {
        Header {
            format: super::super::probe::SourceFormat::Jpeg,
            width,
            height,
            orientation: 1,
            animated: false,
            icc: None,
            detail: Detail::Jpeg(JpegInfo {
                scans: if progressive { 10 } else { 1 },
                progressive,
                sampling,
                adobe: false,
            }),
        }
    }

    /// A progressive JPEG costs its full-size coefficients however small the output.
    #[test]
    fn progressive_jpegs_pay_for_full_size_coefficients() {
        let yuv420 = vec![(2, 2), (1, 1), (1, 1)];
        let thumb = plan(8000, 6000, Some(300), None, Fit::Inside, false);
        let baseline = job_bytes(
            &jpeg(8000, 6000, false, yuv420.clone()),
            8,
            &thumb,
            Format::WebP,
        );
        let progressive = job_bytes(&jpeg(8000, 6000, true, yuv420), 8, &thumb, Format::WebP);
        // 48 MP at 1.5 blocks of 128 bytes per 64 pixels: 144 MB.
        assert_eq!(progressive - baseline, 144_000_000);
        assert!(baseline < 16 << 20, "{baseline}");
    }
}
