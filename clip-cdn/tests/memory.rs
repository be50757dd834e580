//! Memory per image job, as the operating system sees it. Each case runs in a child
//! process (this test binary again) that loads its input, resets its peak resident set
//! size (`/proc/self/clear_refs`), runs one `optimize` and reports how far the peak
//! (`VmHWM`) rose: libjpeg's and libwebp's C heaps count, not only Rust allocations.
//!
//! For every input format the job's growth stays within the estimate `optimize` checks
//! against `ImageOptions::max_memory` (so that limit bounds it), and with the limit one
//! byte lower the job is refused before anything is decoded.

use std::path::{Path, PathBuf};
use std::process::Command;

use clip_cdn::Error;
use clip_cdn::image::{Format, ImageOptions, optimize};

const CASE: &str = "CLIP_CDN_MEMORY_CASE";
const TEST: &str = "each_format_stays_within_its_memory_estimate";

fn status_kib(field: &str) -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    status
        .lines()
        .find_map(|l| {
            l.strip_prefix(field)?
                .trim()
                .strip_suffix("kB")?
                .trim()
                .parse()
                .ok()
        })
        .unwrap_or_else(|| panic!("no {field} in /proc/self/status"))
}

fn options(width: u32, format: Format, max_memory: u64) -> ImageOptions {
    ImageOptions {
        width: Some(width),
        format,
        max_memory,
        ..Default::default()
    }
}

fn format_name(f: Format) -> &'static str {
    match f {
        Format::Jpeg => "jpg",
        Format::Png => "png",
        _ => "webp",
    }
}

/// The child's side: `path width format max_memory`; prints `growth=<bytes> <outcome>`.
fn child(spec: &str) {
    let parts: Vec<&str> = spec.split(' ').collect();
    let bytes = std::fs::read(parts[0]).unwrap();
    let format = Format::from_name(parts[2]).unwrap();
    let opts = options(parts[1].parse().unwrap(), format, parts[3].parse().unwrap());
    std::fs::write("/proc/self/clear_refs", "5").expect("reset the peak RSS (Linux 4.0+)");
    let before = status_kib("VmRSS:");
    let result = optimize(&bytes, &opts);
    let growth = status_kib("VmHWM:").saturating_sub(before) * 1024;
    let outcome = match result {
        Ok(out) => format!("ok {}x{}", out.width, out.height),
        Err(Error::OverBudget { .. }) => "over-budget".to_owned(),
        Err(e) => format!("error {e}"),
    };
    // On a line of its own: libtest has already printed "test NAME ... " without a newline.
    println!("\ngrowth={growth} {outcome}");
}

/// Runs one case in a child process: (peak growth in bytes, outcome).
fn measure(input: &Path, width: u32, format: Format, max_memory: u64) -> (u64, String) {
    let spec = format!(
        "{} {width} {} {max_memory}",
        input.display(),
        format_name(format)
    );
    let out = Command::new(std::env::current_exe().unwrap())
        .args([TEST, "--exact", "--nocapture", "--test-threads=1"])
        .env(CASE, &spec)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let line = stdout
        .lines()
        .find_map(|l| l.strip_prefix("growth="))
        .unwrap_or_else(|| {
            panic!(
                "{spec}: no result\n{stdout}\n{}",
                String::from_utf8_lossy(&out.stderr)
            )
        });
    let (growth, outcome) = line.split_once(' ').unwrap();
    (growth.parse().unwrap(), outcome.to_owned())
}

/// A gradient with some texture, so the encoders have real work: RGB, and RGBA with
/// every other pixel transparent (so the alpha channel stays through the pipeline).
fn pixels(w: usize, h: usize) -> (Vec<u8>, Vec<u8>) {
    let (mut rgb, mut rgba) = (Vec::with_capacity(w * h * 3), Vec::with_capacity(w * h * 4));
    for y in 0..h {
        for x in 0..w {
            let px = [
                (x * 255 / w) as u8,
                (y * 255 / h) as u8,
                ((x ^ y) & 0xFF) as u8,
            ];
            rgb.extend_from_slice(&px);
            rgba.extend_from_slice(&px);
            rgba.push(if x % 2 == 0 { 0 } else { 200 });
        }
    }
    (rgb, rgba)
}

fn jpeg(rgb: &[u8], w: usize, h: usize, progressive: bool) -> Vec<u8> {
    let mut c = mozjpeg::Compress::new(mozjpeg::ColorSpace::JCS_RGB);
    c.set_size(w, h);
    if progressive {
        c.set_progressive_mode();
    } else {
        c.set_fastest_defaults();
    }
    c.set_quality(80.0);
    let mut s = c.start_compress(Vec::new()).unwrap();
    s.write_scanlines(rgb).unwrap();
    s.finish().unwrap()
}

fn png_rgba(rgba: &[u8], w: usize, h: usize) -> Vec<u8> {
    let mut out = Vec::new();
    let mut e = png::Encoder::new(&mut out, w as u32, h as u32);
    e.set_color(png::ColorType::Rgba);
    e.set_compression(png::Compression::Fast);
    let mut wr = e.write_header().unwrap();
    wr.write_image_data(rgba).unwrap();
    wr.finish().unwrap();
    out
}

fn webp(rgb: &[u8], w: usize, h: usize, lossless: bool) -> Vec<u8> {
    let encoder = webp::Encoder::from_rgb(rgb, w as u32, h as u32);
    let mut config = webp::WebPConfig::new().unwrap();
    config.lossless = i32::from(lossless);
    config.method = 0;
    config.quality = if lossless { 0.0 } else { 75.0 };
    encoder.encode_advanced(&config).unwrap().to_vec()
}

/// A GIF of `w` x `h` (passed through: its cost is one copy of the file).
fn gif(w: u16, h: u16) -> Vec<u8> {
    let mut g = b"GIF89a".to_vec();
    g.extend(w.to_le_bytes());
    g.extend(h.to_le_bytes());
    g.extend([0x80, 0, 0, 0, 0, 0, 255, 255, 255, b',', 0, 0, 0, 0]);
    g.extend(w.to_le_bytes());
    g.extend(h.to_le_bytes());
    g.extend([0, 2, 2, 0x44, 0x01, 0, b';']);
    g
}

#[test]
fn each_format_stays_within_its_memory_estimate() {
    if let Ok(spec) = std::env::var(CASE) {
        return child(&spec);
    }
    let dir: PathBuf = std::env::temp_dir().join(format!("clip-cdn-memory-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let (w, h) = (2400, 1600); // 3.8 MP: an 11.5 MB RGB bitmap
    let (rgb, rgba) = pixels(w, h);
    let inputs = [
        ("baseline.jpg", jpeg(&rgb, w, h, false)),
        ("progressive.jpg", jpeg(&rgb, w, h, true)),
        ("rgba.png", png_rgba(&rgba, w, h)),
        ("lossy.webp", webp(&rgb, w, h, false)),
        ("lossless.webp", webp(&rgb, w, h, true)),
        ("big.gif", gif(2400, 1600)),
    ];
    drop((rgb, rgba));
    let mut report = Vec::new();
    for (name, bytes) in &inputs {
        let path = dir.join(name);
        std::fs::write(&path, bytes).unwrap();
        // A thumbnail, and a large rendition (the encoder's share grows with it).
        for (width, format) in [(300, Format::WebP), (1200, Format::Jpeg)] {
            let needed = match optimize(bytes, &options(width, format, 1)) {
                Err(Error::OverBudget { needed, .. }) => needed,
                other => panic!("{name}: a 1-byte limit must refuse it, got {other:?}"),
            };
            let (growth, outcome) = measure(&path, width, format, needed);
            report.push(format!(
                "{name:>16} -> {width:>4}w {format:?}: peak RSS +{:>6.1} MiB, estimate {:>6.1} MiB",
                growth as f64 / 1048576.0,
                needed as f64 / 1048576.0
            ));
            assert!(outcome.starts_with("ok"), "{name} {width}: {outcome}");
            assert!(
                growth <= needed,
                "{name} {width}w: the job grew the process by {growth} bytes, above its estimate {needed}"
            );
            // One byte less and it is refused from the header: nothing decoded.
            let (growth, outcome) = measure(&path, width, format, needed - 1);
            assert_eq!(outcome, "over-budget", "{name} {width}");
            assert!(growth < 4 << 20, "{name}: refused, yet grew by {growth}");
        }
    }
    eprintln!("{}", report.join("\n"));
    // Shrink-on-load keeps a baseline thumbnail far below its bitmap; a progressive one
    // pays for libjpeg's full-size coefficients (11.5 MB at 3.8 MP, 4:2:0), and says so.
    let estimate = |name: &str| match optimize(
        &inputs.iter().find(|(n, _)| *n == name).unwrap().1,
        &options(300, Format::WebP, 1),
    ) {
        Err(Error::OverBudget { needed, .. }) => needed,
        other => panic!("{other:?}"),
    };
    assert!(estimate("baseline.jpg") < 10 << 20);
    assert!(estimate("progressive.jpg") > estimate("baseline.jpg") + (10 << 20));
    std::fs::remove_dir_all(dir).unwrap();
}
