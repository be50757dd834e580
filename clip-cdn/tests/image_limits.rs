//! Hostile images and a flooded optimizer: refused early, typed, and never waited on
//! without limit; animations passed through whole.

use std::time::{Duration, Instant};

use clip_cdn::image::{Format, ImageOptions, Optimizer, optimize};

fn gradient(w: usize, h: usize) -> Vec<u8> {
    (0..w * h)
        .flat_map(|i| [(i % w * 255 / w) as u8, (i / w * 255 / h) as u8, 60])
        .collect()
}

fn progressive_jpeg(w: usize, h: usize) -> Vec<u8> {
    let mut c = mozjpeg::Compress::new(mozjpeg::ColorSpace::JCS_RGB);
    c.set_size(w, h);
    c.set_progressive_mode();
    let mut s = c.start_compress(Vec::new()).unwrap();
    s.write_scanlines(&gradient(w, h)).unwrap();
    s.finish().unwrap()
}

/// The end of the entropy-coded data that starts at `pos`.
fn entropy_end(data: &[u8], mut pos: usize) -> usize {
    while pos + 1 < data.len() {
        if data[pos] == 0xFF && !matches!(data[pos + 1], 0x00 | 0xD0..=0xD7 | 0xFF) {
            return pos;
        }
        pos += 1;
    }
    data.len()
}

/// `jpeg` with its last scan (and the tables sent just before it) repeated `copies` more
/// times before the end-of-image marker: the shape of libjpeg-turbo's LJT-01-003 file.
fn with_repeated_last_scan(jpeg: &[u8], copies: usize) -> Vec<u8> {
    let (mut pos, mut group_start, mut last_group) = (2, 2, (0, 0));
    loop {
        let marker = jpeg[pos + 1];
        if marker == 0xD9 {
            break;
        }
        let len = usize::from(u16::from_be_bytes([jpeg[pos + 2], jpeg[pos + 3]]));
        pos += 2 + len;
        if marker == 0xDA {
            pos = entropy_end(jpeg, pos);
            last_group = (group_start, pos);
            group_start = pos;
        }
    }
    let mut out = jpeg[..pos].to_vec();
    for _ in 0..copies {
        out.extend_from_slice(&jpeg[last_group.0..last_group.1]);
    }
    out.extend_from_slice(&jpeg[pos..]);
    out
}

fn count_scans(jpeg: &[u8]) -> usize {
    jpeg.windows(2).filter(|w| w == &[0xFF, 0xDA]).count()
}

/// A small file whose every scan is a pass over the whole image: thousands of them tie a
/// worker up for as long as the file says. It must be refused from its markers.
#[test]
fn a_jpeg_with_thousands_of_scans_is_refused_before_decoding() {
    let jpeg = progressive_jpeg(1024, 1024);
    let bomb = with_repeated_last_scan(&jpeg, 3000);
    assert!(
        count_scans(&bomb) > 3000,
        "crafted {} scans",
        count_scans(&bomb)
    );
    let started = Instant::now();
    let result = optimize(
        &bomb,
        &ImageOptions {
            width: Some(64),
            ..Default::default()
        },
    );
    eprintln!(
        "{} bytes, {} scans: {:?} after {:?}",
        bomb.len(),
        count_scans(&bomb),
        result.as_ref().map(|o| o.bytes.len()),
        started.elapsed()
    );
    match result {
        Err(e) => assert!(e.to_string().contains("scans"), "{e}"),
        Ok(out) => panic!("decoded into {} bytes", out.bytes.len()),
    }
    // The file it was made from decodes fine: the limit is on scans, not on progressive.
    assert!(
        optimize(
            &jpeg,
            &ImageOptions {
                width: Some(64),
                ..Default::default()
            }
        )
        .is_ok()
    );
}

/// A full queue answers at once with a typed error; waiting jobs still all complete.
#[tokio::test]
async fn a_full_optimizer_queue_answers_busy_at_once() {
    let photo = std::fs::read(
        std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../testdata/images/Dune.jpg"),
    )
    .unwrap();
    // A 3 MP PNG: long enough (far longer than queueing a job) to keep the slot taken.
    let slow = ImageOptions {
        width: Some(2200),
        enlarge: true,
        format: Format::Png,
        ..Default::default()
    };
    let optimizer = Optimizer::new(1).max_queued(2);
    let jobs: Vec<_> = (0..3)
        .map(|_| {
            let (optimizer, photo, options) = (optimizer.clone(), photo.clone(), slow.clone());
            tokio::spawn(async move { optimizer.optimize(photo, options).await })
        })
        .collect();
    let deadline = Instant::now() + Duration::from_secs(10);
    while optimizer.available() > 0 || optimizer.queued() < 2 {
        assert!(
            Instant::now() < deadline,
            "the jobs never filled the slot and queue"
        );
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    let refused = tokio::time::timeout(
        Duration::from_secs(5),
        optimizer.optimize(photo.clone(), slow.clone()),
    )
    .await
    .expect("a full queue must answer at once, not wait for a slot");
    match refused {
        Err(e) => {
            assert!(
                matches!(
                    e,
                    clip_cdn::Error::Busy {
                        running: 1,
                        queued: 2
                    }
                ),
                "{e:?}"
            );
            assert_eq!(e.http_status(), 503);
        }
        Ok(_) => panic!("a fourth job ran although three were ahead of it"),
    }
    for job in jobs {
        assert_eq!(job.await.unwrap().unwrap().width, 2200);
    }
    assert_eq!((optimizer.available(), optimizer.queued()), (1, 0));
}

/// A two-frame APNG: the first frame red, the second blue.
fn apng() -> Vec<u8> {
    let mut out = Vec::new();
    let mut e = png::Encoder::new(&mut out, 32, 16);
    e.set_color(png::ColorType::Rgb);
    e.set_animated(2, 0).unwrap();
    let mut w = e.write_header().unwrap();
    w.write_image_data(&[255, 0, 0].repeat(32 * 16)).unwrap();
    w.write_image_data(&[0, 0, 255].repeat(32 * 16)).unwrap();
    w.finish().unwrap();
    out
}

/// A two-frame animated WebP, put together from a still one: VP8X (animation flag),
/// ANIM, and two ANMF frames holding its VP8 bitstream.
fn animated_webp() -> Vec<u8> {
    let still = webp::Encoder::from_rgb(&[0, 128, 0].repeat(32 * 16), 32, 16).encode(80.0);
    let vp8 = &still[12..]; // the VP8 chunk, header included
    let le24 = |v: u32| v.to_le_bytes()[..3].to_vec();
    let mut body = b"WEBP".to_vec();
    body.extend(b"VP8X");
    body.extend(10u32.to_le_bytes());
    body.push(0x02); // animation
    body.extend([0, 0, 0]);
    body.extend(le24(31));
    body.extend(le24(15));
    body.extend(b"ANIM");
    body.extend(6u32.to_le_bytes());
    body.extend([0, 0, 0, 0, 0, 0]);
    for _ in 0..2 {
        let mut frame = Vec::new();
        frame.extend(le24(0));
        frame.extend(le24(0));
        frame.extend(le24(31));
        frame.extend(le24(15));
        frame.extend(le24(100));
        frame.push(0);
        frame.extend(vp8);
        body.extend(b"ANMF");
        body.extend((frame.len() as u32).to_le_bytes());
        body.extend(&frame);
        if frame.len() % 2 == 1 {
            body.push(0);
        }
    }
    let mut out = b"RIFF".to_vec();
    out.extend((body.len() as u32).to_le_bytes());
    out.extend(body);
    out
}

/// Animations are served whole, in their own format, whatever was asked: never cut to
/// their first frame.
#[test]
fn animations_are_passed_through_whole() {
    let thumbnail = ImageOptions {
        width: Some(16),
        format: Format::WebP,
        ..Default::default()
    };
    let apng = apng();
    let out = optimize(&apng, &thumbnail).unwrap();
    assert_eq!(
        (out.format, out.width, out.height),
        (Format::Png, 32, 16),
        "APNG"
    );
    assert_eq!(out.bytes, apng, "APNG bytes untouched");

    let webp = animated_webp();
    assert!(webp::BitstreamFeatures::new(&webp).unwrap().has_animation());
    let out = optimize(
        &webp,
        &ImageOptions {
            format: Format::Jpeg,
            ..thumbnail
        },
    )
    .unwrap();
    assert_eq!((out.format, out.width, out.height), (Format::WebP, 32, 16));
    assert_eq!(out.bytes, webp, "animated WebP bytes untouched");
}
