//! Fuzzes `clip_cdn::image::optimize`: any input must give `Ok` or a typed error, never a
//! panic, a crash or an unbounded allocation.
#![no_main]

use clip_cdn::image::{Fit, Format, ImageOptions, optimize};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    // The first byte picks the options, so one corpus covers every output path.
    let Some((&pick, image)) = data.split_first() else {
        return;
    };
    let format = [Format::WebP, Format::Jpeg, Format::Png][usize::from(pick % 3)];
    let fit = [Fit::Inside, Fit::Cover, Fit::Fill][usize::from(pick / 3 % 3)];
    let options = ImageOptions {
        width: Some(u32::from(pick % 64) + 1),
        height: (pick & 0x80 != 0).then_some(48),
        format,
        fit,
        progressive: pick & 0x40 != 0,
        enlarge: pick & 0x20 != 0,
        max_pixels: 4_000_000,
        ..Default::default()
    };
    if let Ok(out) = optimize(image, &options) {
        assert!(!out.bytes.is_empty());
    }
});
