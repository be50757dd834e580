//! Colour management: pixels tagged with an ICC profile (Adobe RGB, Display P3, ...) are
//! converted to sRGB (moxcms), since the output carries no profile.

use moxcms::{ColorProfile, DataColorSpace, Layout, TransformOptions};

use super::pixels::Pixels;

/// Converts `p` from the `icc` profile to sRGB; an unreadable or non-RGB profile leaves
/// the pixels as they are (treated as sRGB, as browsers do).
pub(crate) fn to_srgb(p: Pixels, icc: &[u8]) -> Pixels {
    let Ok(source) = ColorProfile::new_from_slice(icc) else {
        return p;
    };
    if source.color_space != DataColorSpace::Rgb {
        return p;
    }
    let layout = if p.channels == 4 {
        Layout::Rgba
    } else {
        Layout::Rgb
    };
    let srgb = ColorProfile::new_srgb();
    let Ok(transform) =
        source.create_transform_8bit(layout, &srgb, layout, TransformOptions::default())
    else {
        return p;
    };
    let mut out = vec![0u8; p.data.len()];
    match transform.transform(&p.data, &mut out) {
        Ok(()) => Pixels { data: out, ..p },
        Err(_) => p,
    }
}
