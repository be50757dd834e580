//! A 10000x10000 JPEG thumbnails without its full-size bitmap: shrink-on-load decodes it at
//! 1/8 scale. Peak heap use (Rust allocations, where the pixel buffers live) is measured by
//! a counting allocator, in its own test binary.

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicUsize, Ordering::Relaxed};

use clip_cdn::Error;
use clip_cdn::image::{ImageOptions, optimize};

struct Counting;

static CURRENT: AtomicUsize = AtomicUsize::new(0);
static PEAK: AtomicUsize = AtomicUsize::new(0);

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let p = unsafe { System.alloc(layout) };
        if !p.is_null() {
            let now = CURRENT.fetch_add(layout.size(), Relaxed) + layout.size();
            PEAK.fetch_max(now, Relaxed);
        }
        p
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        unsafe { System.dealloc(ptr, layout) };
        CURRENT.fetch_sub(layout.size(), Relaxed);
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

/// A 10000x10000 gradient JPEG, encoded a band of rows at a time to keep the test itself small.
fn huge_jpeg() -> Vec<u8> {
    const SIDE: usize = 10_000;
    let mut c = mozjpeg::Compress::new(mozjpeg::ColorSpace::JCS_RGB);
    c.set_size(SIDE, SIDE);
    c.set_fastest_defaults();
    c.set_quality(50.0);
    let mut s = c.start_compress(Vec::new()).unwrap();
    let mut band = vec![0u8; SIDE * 3 * 16];
    for y0 in (0..SIDE).step_by(16) {
        for (i, px) in band.chunks_exact_mut(3).enumerate() {
            let (x, y) = (i % SIDE, y0 + i / SIDE);
            px.copy_from_slice(&[(x / 40) as u8, (y / 40) as u8, 128]);
        }
        s.write_scanlines(&band).unwrap();
    }
    s.finish().unwrap()
}

#[test]
fn a_10000x10000_jpeg_thumbnails_in_bounded_memory_or_is_refused() {
    let jpeg = huge_jpeg();
    // 100 megapixels: above the default limit of 50, refused from the header.
    match optimize(
        &jpeg,
        &ImageOptions {
            width: Some(300),
            ..Default::default()
        },
    ) {
        Err(Error::TooLarge {
            pixels: 100_000_000,
            ..
        }) => {}
        other => panic!("expected TooLarge, got {other:?}"),
    }
    // With the limit raised it thumbnails, decoding at 1/8: a 1250x1250 bitmap, not 10000x10000.
    let before = CURRENT.load(Relaxed);
    PEAK.store(before, Relaxed);
    let options = ImageOptions {
        width: Some(300),
        max_pixels: 200_000_000,
        ..Default::default()
    };
    let out = optimize(&jpeg, &options).unwrap();
    assert_eq!((out.width, out.height), (300, 300));
    let peak = PEAK.load(Relaxed) - before;
    let full_bitmap = 10_000 * 10_000 * 3;
    eprintln!("peak heap during optimize: {peak} bytes (full bitmap: {full_bitmap})");
    assert!(
        peak < 32 << 20,
        "peak {peak} bytes; the full bitmap alone would be {full_bitmap}"
    );
}
