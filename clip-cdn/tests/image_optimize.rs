//! The optimizer on the real photos of `testdata/images` and on crafted good and bad inputs,
//! checked with an independent decoder (the `image` crate).

use std::path::PathBuf;

use clip_cdn::Error;
use clip_cdn::image::{Fit, Format, ImageOptions, optimize};
use proptest::prelude::*;

fn images_dir() -> PathBuf {
    std::env::var_os("CLIP_TEST_IMAGES")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../testdata/images"))
}

fn photos() -> Vec<(String, Vec<u8>)> {
    let mut out: Vec<_> = std::fs::read_dir(images_dir())
        .expect("test images: testdata/images of the repository, or set CLIP_TEST_IMAGES")
        .filter_map(|e| e.ok())
        .map(|e| e.path())
        .filter(|p| matches!(p.extension().and_then(|e| e.to_str()), Some("jpg" | "png")))
        .map(|p| {
            (
                p.file_name().unwrap().to_string_lossy().into_owned(),
                std::fs::read(&p).unwrap(),
            )
        })
        .collect();
    out.sort();
    assert!(out.len() >= 5, "expected the photos of testdata/images");
    out
}

fn decode(bytes: &[u8]) -> image::RgbaImage {
    image::load_from_memory(bytes)
        .expect("output decodes")
        .to_rgba8()
}

fn solid_jpeg(w: u32, h: u32, paint: impl Fn(u32, u32) -> [u8; 3]) -> Vec<u8> {
    let rgb: Vec<u8> = (0..h)
        .flat_map(|y| (0..w).map(move |x| (x, y)))
        .flat_map(|(x, y)| paint(x, y))
        .collect();
    let mut c = mozjpeg::Compress::new(mozjpeg::ColorSpace::JCS_RGB);
    c.set_size(w as usize, h as usize);
    c.set_quality(95.0);
    let mut s = c.start_compress(Vec::new()).unwrap();
    s.write_scanlines(&rgb).unwrap();
    s.finish().unwrap()
}

#[test]
fn every_photo_to_every_format_and_size() {
    for (name, bytes) in photos() {
        let src = image::load_from_memory(&bytes).unwrap();
        for (format, w, h) in [
            (Format::WebP, Some(300), Some(200)),
            (Format::WebP, Some(1200), None),
            (Format::Jpeg, Some(640), Some(640)),
            (Format::Png, None, Some(150)),
        ] {
            let opts = ImageOptions {
                width: w,
                height: h,
                format,
                quality: 85,
                ..Default::default()
            };
            let out = optimize(&bytes, &opts).unwrap_or_else(|e| panic!("{name} {format:?}: {e}"));
            assert_eq!(out.format, format);
            let img = decode(&out.bytes);
            assert_eq!(
                (img.width(), img.height()),
                (out.width, out.height),
                "{name}: reported size"
            );
            // Fits the box, touches it on one side, keeps the aspect ratio within rounding.
            assert!(
                w.is_none_or(|w| out.width <= w) && h.is_none_or(|h| out.height <= h),
                "{name}"
            );
            assert!(
                w == Some(out.width) || h == Some(out.height),
                "{name}: {}x{}",
                out.width,
                out.height
            );
            let (sa, oa) = (
                src.width() as f64 / src.height() as f64,
                out.width as f64 / out.height as f64,
            );
            assert!(
                (sa - oa).abs() / sa < 0.02,
                "{name}: aspect {sa} became {oa}"
            );
            assert!(
                out.bytes.len() < bytes.len(),
                "{name} {format:?}: output is not smaller"
            );
        }
    }
}

#[test]
fn thumbnail_keeps_the_picture() {
    // The mean colour of the thumbnail matches the mean colour of the source.
    let (_, bytes) = photos()
        .into_iter()
        .find(|(n, _)| n.ends_with(".jpg"))
        .unwrap();
    let src = image::load_from_memory(&bytes).unwrap().to_rgb8();
    let out = optimize(
        &bytes,
        &ImageOptions {
            width: Some(300),
            ..Default::default()
        },
    )
    .unwrap();
    let thumb = decode(&out.bytes);
    let mean = |px: Vec<[u8; 3]>| {
        let n = px.len() as f64;
        (0..3)
            .map(|c| px.iter().map(|p| f64::from(p[c])).sum::<f64>() / n)
            .collect::<Vec<_>>()
    };
    let a = mean(src.pixels().map(|p| p.0).collect());
    let b = mean(thumb.pixels().map(|p| [p[0], p[1], p[2]]).collect());
    for c in 0..3 {
        assert!(
            (a[c] - b[c]).abs() < 4.0,
            "channel {c}: {} vs {}",
            a[c],
            b[c]
        );
    }
}

#[test]
fn cover_crops_to_the_box_and_small_images_are_not_enlarged() {
    let (_, bytes) = photos().into_iter().next().unwrap();
    let opts = ImageOptions {
        width: Some(200),
        height: Some(200),
        fit: Fit::Cover,
        ..Default::default()
    };
    let out = optimize(&bytes, &opts).unwrap();
    assert_eq!((out.width, out.height), (200, 200));
    let opts = ImageOptions {
        width: Some(100),
        height: Some(300),
        fit: Fit::Fill,
        format: Format::Png,
        ..Default::default()
    };
    let out = optimize(&bytes, &opts).unwrap();
    assert_eq!(
        (decode(&out.bytes).width(), decode(&out.bytes).height()),
        (100, 300)
    );

    let small = solid_jpeg(40, 30, |_, _| [10, 200, 30]);
    let out = optimize(
        &small,
        &ImageOptions {
            width: Some(400),
            ..Default::default()
        },
    )
    .unwrap();
    assert_eq!((out.width, out.height), (40, 30));
    let out = optimize(
        &small,
        &ImageOptions {
            width: Some(400),
            enlarge: true,
            ..Default::default()
        },
    )
    .unwrap();
    assert_eq!((out.width, out.height), (400, 300));
}

/// A JPEG with an EXIF APP1 segment holding only the orientation tag.
fn with_orientation(jpeg: &[u8], orientation: u8) -> Vec<u8> {
    let mut tiff = b"MM\0*\0\0\0\x08\0\x01\x01\x12\0\x03\0\0\0\x01\0".to_vec();
    tiff.extend([orientation, 0, 0, 0, 0, 0, 0]);
    let mut app1 = b"Exif\0\0".to_vec();
    app1.extend(tiff);
    let mut out = jpeg[..2].to_vec();
    out.extend([0xFF, 0xE1]);
    out.extend(((app1.len() + 2) as u16).to_be_bytes());
    out.extend(app1);
    out.extend(&jpeg[2..]);
    out
}

#[test]
fn exif_orientations_one_to_eight_come_out_upright() {
    // Stored 64x32: top-left red, top-right green, bottom half blue.
    let stored = solid_jpeg(64, 32, |x, y| match (x < 32, y < 16) {
        (true, true) => [255, 0, 0],
        (false, true) => [0, 255, 0],
        _ => [0, 0, 255],
    });
    // Where the stored top-left (red) and top-right (green) corners are displayed.
    #[derive(Clone, Copy, Debug, PartialEq)]
    enum C {
        TL,
        TR,
        BL,
        BR,
    }
    let expected = [
        (C::TL, C::TR),
        (C::TR, C::TL),
        (C::BR, C::BL),
        (C::BL, C::BR),
        (C::TL, C::BL),
        (C::TR, C::BR),
        (C::BR, C::TR),
        (C::BL, C::TL),
    ];
    for (i, &(red, green)) in expected.iter().enumerate() {
        let o = i as u8 + 1;
        let out = optimize(
            &with_orientation(&stored, o),
            &ImageOptions {
                format: Format::Png,
                ..Default::default()
            },
        )
        .unwrap();
        let img = decode(&out.bytes);
        let (w, h) = (img.width(), img.height());
        assert_eq!(
            (w, h),
            if o >= 5 { (32, 64) } else { (64, 32) },
            "orientation {o}"
        );
        let at = |c: C| {
            let (x, y) = match c {
                C::TL => (2, 2),
                C::TR => (w - 3, 2),
                C::BL => (2, h - 3),
                C::BR => (w - 3, h - 3),
            };
            img.get_pixel(x, y).0
        };
        let close =
            |p: [u8; 4], q: [u8; 3]| (0..3).all(|c| (i32::from(p[c]) - i32::from(q[c])).abs() < 40);
        assert!(
            close(at(red), [255, 0, 0]),
            "orientation {o}: red at {red:?} is {:?}",
            at(red)
        );
        assert!(
            close(at(green), [0, 255, 0]),
            "orientation {o}: green at {green:?} is {:?}",
            at(green)
        );
    }
}

#[test]
fn cmyk_jpeg_becomes_rgb() {
    // Adobe-style inverted CMYK, as Photoshop writes it: pure red is C=0 M=Y=100%, K=0.
    let (w, h) = (48u32, 32u32);
    let cmyk: Vec<u8> = (0..w * h).flat_map(|_| [255u8, 0, 0, 255]).collect();
    let mut c = mozjpeg::Compress::new(mozjpeg::ColorSpace::JCS_CMYK);
    c.set_size(w as usize, h as usize);
    c.set_quality(95.0);
    let mut s = c.start_compress(Vec::new()).unwrap();
    s.write_scanlines(&cmyk).unwrap();
    let jpeg = s.finish().unwrap();
    let out = optimize(
        &jpeg,
        &ImageOptions {
            format: Format::Png,
            ..Default::default()
        },
    )
    .unwrap();
    let p = decode(&out.bytes).get_pixel(24, 16).0;
    assert!(
        p[0] > 230 && p[1] < 25 && p[2] < 25,
        "expected red, got {p:?}"
    );
}

#[test]
fn alpha_survives_webp_and_png_and_is_flattened_for_jpeg() {
    let (w, h) = (40u32, 20u32);
    let mut png_bytes = Vec::new();
    {
        let mut e = png::Encoder::new(&mut png_bytes, w, h);
        e.set_color(png::ColorType::Rgba);
        let mut wr = e.write_header().unwrap();
        let px: Vec<u8> = (0..w * h)
            .flat_map(|i| {
                if i % w < 20 {
                    [0, 0, 0, 0]
                } else {
                    [0, 0, 255, 255]
                }
            })
            .collect();
        wr.write_image_data(&px).unwrap();
    }
    for format in [Format::WebP, Format::Png] {
        let out = optimize(
            &png_bytes,
            &ImageOptions {
                format,
                quality: 90,
                ..Default::default()
            },
        )
        .unwrap();
        let img = decode(&out.bytes);
        assert!(
            img.get_pixel(5, 10).0[3] < 10,
            "{format:?}: left half transparent"
        );
        assert!(
            img.get_pixel(35, 10).0[3] > 245,
            "{format:?}: right half opaque"
        );
    }
    let out = optimize(
        &png_bytes,
        &ImageOptions {
            format: Format::Jpeg,
            ..Default::default()
        },
    )
    .unwrap();
    let p = decode(&out.bytes).get_pixel(5, 10).0;
    assert!(
        p[0] > 240 && p[1] > 240 && p[2] > 240,
        "transparent becomes white, got {p:?}"
    );
}

#[test]
fn webp_input_and_progressive_jpeg_output() {
    let (_, bytes) = photos().into_iter().next().unwrap();
    let webp = optimize(
        &bytes,
        &ImageOptions {
            width: Some(800),
            ..Default::default()
        },
    )
    .unwrap();
    let again = optimize(
        &webp.bytes,
        &ImageOptions {
            width: Some(400),
            format: Format::Jpeg,
            progressive: true,
            ..Default::default()
        },
    )
    .unwrap();
    assert_eq!(again.width, 400);
    // Progressive JPEGs carry an SOF2 marker.
    assert!(
        again.bytes.windows(2).any(|w| w == [0xFF, 0xC2]),
        "no progressive frame header"
    );
    assert_eq!(decode(&again.bytes).width(), 400);
}

#[test]
fn gif_is_passed_through() {
    // Smallest valid GIF: 1x1, one black pixel.
    let gif =
        b"GIF89a\x01\0\x01\0\x80\0\0\0\0\0\xff\xff\xff,\0\0\0\0\x01\0\x01\0\0\x02\x02D\x01\0;"
            .to_vec();
    let out = optimize(&gif, &ImageOptions::default()).unwrap();
    assert_eq!((out.format, out.width, out.height), (Format::Gif, 1, 1));
    assert_eq!(out.bytes, gif);
}

#[test]
fn metadata_is_stripped() {
    let jpeg = with_orientation(&solid_jpeg(64, 32, |_, _| [9, 9, 9]), 1);
    for format in [Format::WebP, Format::Jpeg] {
        let out = optimize(
            &jpeg,
            &ImageOptions {
                format,
                ..Default::default()
            },
        )
        .unwrap();
        assert!(
            !out.bytes.windows(4).any(|w| w == b"Exif" || w == b"EXIF"),
            "{format:?} kept EXIF"
        );
    }
}

#[test]
fn bad_inputs_are_typed_errors() {
    let (_, photo) = photos()
        .into_iter()
        .find(|(n, _)| n.ends_with(".jpg"))
        .unwrap();
    assert!(matches!(
        optimize(&[], &ImageOptions::default()),
        Err(Error::EmptyInput)
    ));
    assert!(matches!(
        optimize(b"<html>not an image</html>", &ImageOptions::default()),
        Err(Error::UnknownFormat)
    ));
    for cut in [3, 100, photo.len() / 2, photo.len() - 2] {
        let r = optimize(&photo[..cut], &ImageOptions::default());
        assert!(
            matches!(r, Err(Error::Corrupt { .. })),
            "truncated at {cut}: {r:?}"
        );
    }
    let png = &photos()
        .into_iter()
        .find(|(n, _)| n.ends_with(".png"))
        .unwrap()
        .1;
    assert!(matches!(
        optimize(&png[..png.len() / 2], &ImageOptions::default()),
        Err(Error::Corrupt { .. })
    ));
    assert!(matches!(
        optimize(
            &photo,
            &ImageOptions {
                quality: 0,
                ..Default::default()
            }
        ),
        Err(Error::InvalidOptions(_))
    ));
}

#[test]
fn oversized_header_is_refused_before_decoding() {
    // A tiny JPEG whose frame header claims 60000x60000 (the most a JPEG header holds is 65535).
    let mut jpeg = solid_jpeg(16, 16, |_, _| [1, 2, 3]);
    let sof = jpeg
        .windows(2)
        .position(|w| w == [0xFF, 0xC0] || w == [0xFF, 0xC2])
        .unwrap();
    jpeg[sof + 5..sof + 9].copy_from_slice(&[0xEA, 0x60, 0xEA, 0x60]);
    match optimize(&jpeg, &ImageOptions::default()) {
        Err(Error::TooLarge {
            width: 60000,
            height: 60000,
            ..
        }) => {}
        other => panic!("expected TooLarge, got {other:?}"),
    }
    // A PNG header claiming 100000x100000.
    let mut png = b"\x89PNG\r\n\x1a\n\0\0\0\x0dIHDR".to_vec();
    png.extend(100_000u32.to_be_bytes());
    png.extend(100_000u32.to_be_bytes());
    png.extend([8, 2, 0, 0, 0, 0, 0, 0, 0]);
    assert!(matches!(
        optimize(&png, &ImageOptions::default()),
        Err(Error::TooLarge { width: 100_000, .. })
    ));
    // The limit is the caller's to set.
    let small = ImageOptions {
        max_pixels: 100,
        ..Default::default()
    };
    assert!(matches!(
        optimize(&solid_jpeg(16, 16, |_, _| [0, 0, 0]), &small),
        Err(Error::TooLarge { .. })
    ));
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(300))]

    #[test]
    fn random_bytes_never_panic(tail in proptest::collection::vec(any::<u8>(), 0..2048), kind in 0usize..5) {
        let prefix: &[u8] = [&b""[..], b"\xFF\xD8\xFF", b"\x89PNG\r\n\x1a\n", b"RIFF\0\0\0\0WEBPVP8 ", b"GIF89a"][kind];
        let mut data = prefix.to_vec();
        data.extend(tail);
        let _ = optimize(&data, &ImageOptions { width: Some(64), ..Default::default() });
    }

    #[test]
    fn corrupted_photos_never_panic(flips in proptest::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..20)) {
        let jpeg = solid_jpeg(96, 64, |x, y| [(x * 2) as u8, (y * 3) as u8, 77]);
        let mut data = jpeg.clone();
        for (i, v) in flips {
            let at = i.index(data.len());
            data[at] = v;
        }
        if let Ok(out) = optimize(&data, &ImageOptions { width: Some(32), format: Format::Png, ..Default::default() }) {
            // A flipped frame header may change the size; the box still holds.
            prop_assert!(out.width <= 32 && out.height >= 1 && !out.bytes.is_empty());
        }
    }
}

fn tagged_jpeg(rgb: [u8; 3], icc: &[u8]) -> Vec<u8> {
    let mut c = mozjpeg::Compress::new(mozjpeg::ColorSpace::JCS_RGB);
    c.set_size(32, 32);
    c.set_quality(100.0);
    let mut s = c.start_compress(Vec::new()).unwrap();
    s.write_icc_profile(icc);
    let px: Vec<u8> = (0..32 * 32).flat_map(|_| rgb).collect();
    s.write_scanlines(&px).unwrap();
    s.finish().unwrap()
}

#[test]
fn icc_tagged_jpeg_is_converted_to_srgb() {
    let adobe = moxcms::ColorProfile::new_adobe_rgb().encode().unwrap();
    let png = |jpeg: &[u8]| {
        let out = optimize(
            jpeg,
            &ImageOptions {
                format: Format::Png,
                ..Default::default()
            },
        )
        .unwrap();
        assert!(
            !out.bytes.windows(4).any(|w| w == b"iCCP"),
            "output carries no profile"
        );
        decode(&out.bytes).get_pixel(16, 16).0
    };
    // A saturated green in Adobe RGB is a different sRGB value than the same numbers untagged.
    let colour = [60, 170, 70];
    let tagged = png(&tagged_jpeg(colour, &adobe));
    let untagged = png(&solid_jpeg(32, 32, |_, _| colour));
    let diff = (0..3)
        .map(|c| (i32::from(tagged[c]) - i32::from(untagged[c])).abs())
        .max()
        .unwrap();
    assert!(
        diff > 8,
        "Adobe RGB {colour:?} became {tagged:?}, untagged {untagged:?}"
    );
    // Neutral grey stays neutral (same white point).
    let grey = png(&tagged_jpeg([128, 128, 128], &adobe));
    assert!(
        grey[..3].iter().all(|&v| (i32::from(v) - 128).abs() <= 6),
        "grey became {grey:?}"
    );
}

#[tokio::test]
async fn optimizer_runs_jobs_off_the_async_workers_within_its_bound() {
    let optimizer = clip_cdn::image::Optimizer::new(2);
    let jobs = photos().into_iter().take(4).map(|(name, bytes)| {
        let optimizer = optimizer.clone();
        async move {
            (
                name,
                optimizer
                    .optimize(
                        bytes,
                        ImageOptions {
                            width: Some(120),
                            ..Default::default()
                        },
                    )
                    .await,
            )
        }
    });
    for (name, result) in futures_util::future::join_all(jobs).await {
        let out = result.unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!((out.format, out.width), (Format::WebP, 120), "{name}");
        assert_eq!(decode(&out.bytes).width(), 120);
    }
    assert_eq!(optimizer.available(), 2, "every slot returned");
    assert!(matches!(
        optimizer
            .optimize(Vec::new(), ImageOptions::default())
            .await,
        Err(Error::EmptyInput)
    ));
}

/// Enlarging is allowed, but not into an allocation that takes the process down.
#[test]
fn enlarged_outputs_are_bounded_by_max_pixels() {
    let jpeg = solid_jpeg(16, 16, |_, _| [9, 9, 9]);
    let huge = ImageOptions {
        width: Some(1_000_000),
        height: Some(1_000_000),
        fit: clip_cdn::image::Fit::Fill,
        enlarge: true,
        ..Default::default()
    };
    match optimize(&jpeg, &huge) {
        Err(Error::InvalidOptions(message)) => assert!(message.contains("max_pixels"), "{message}"),
        other => panic!("expected InvalidOptions, got {other:?}"),
    }
    let fine = ImageOptions {
        width: Some(64),
        enlarge: true,
        format: Format::Png,
        ..Default::default()
    };
    let out = optimize(&jpeg, &fine).unwrap();
    assert_eq!((out.width, out.height), (64, 64));
    assert_eq!(decode(&out.bytes).dimensions(), (64, 64));
}

/// The bound holds against callers that give up: the slot stays taken until the image
/// work they started has actually finished.
#[tokio::test]
async fn a_cancelled_job_keeps_its_slot_until_the_work_ends() {
    let optimizer = clip_cdn::image::Optimizer::new(1);
    let (name, bytes) = photos().into_iter().next().unwrap();
    let full_size = ImageOptions {
        format: Format::Png,
        ..Default::default()
    };
    let gave_up = tokio::time::timeout(
        std::time::Duration::from_millis(1),
        optimizer.optimize(bytes, full_size),
    )
    .await;
    assert!(gave_up.is_err(), "{name} takes longer than 1 ms");
    assert_eq!(
        optimizer.available(),
        0,
        "the work goes on, so does its slot"
    );
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    while optimizer.available() == 0 {
        assert!(
            std::time::Instant::now() < deadline,
            "the slot never came back"
        );
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]

    /// The embedded ICC profile is outside input too: a damaged one is ignored or
    /// converted, never a panic.
    #[test]
    fn corrupted_icc_profiles_never_panic(
        flips in proptest::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..24),
        cut in any::<prop::sample::Index>(),
    ) {
        let mut icc = moxcms::ColorProfile::new_adobe_rgb().encode().unwrap();
        for (i, v) in flips {
            let at = i.index(icc.len());
            icc[at] = v;
        }
        let keep = cut.index(icc.len()).max(1);
        for profile in [&icc[..], &icc[..keep]] {
            let out = optimize(&tagged_jpeg([60, 170, 70], profile), &ImageOptions::default());
            prop_assert!(out.is_ok(), "{:?}", out.err());
        }
    }
}
