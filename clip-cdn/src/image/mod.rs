//! The image optimizer: decode (JPEG with shrink-on-load), resize, orient, encode.
//!
//! ```no_run
//! use clip_cdn::image::{optimize, Format, ImageOptions};
//! let bytes = std::fs::read("photo.jpg")?;
//! let out = optimize(&bytes, &ImageOptions { width: Some(300), height: Some(200), quality: 85, ..Default::default() })?;
//! assert_eq!(out.format, Format::WebP);
//! std::fs::write("photo.webp", &out.bytes)?;
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! [`optimize`] is pure CPU work on bytes: from async code use an [`Optimizer`], which
//! runs it on blocking threads, a bounded number at once, with a bounded queue. It reads
//! the whole header first and refuses, before decoding anything, images above
//! [`ImageOptions::max_pixels`], JPEGs with more than [`MAX_JPEG_SCANS`] scans and jobs
//! that would need more memory than [`ImageOptions::max_memory`]; bad input of any kind
//! is an [`Error`], never a panic. Animations are passed through whole. JPEG errors are
//! caught as unwinds from libjpeg, so do not build with `panic = "abort"`.

mod blocking;
mod budget;
mod color;
mod decode;
mod encode;
pub(crate) mod geometry;
mod pixels;
pub(crate) mod probe;
mod resize;
mod simd;

pub use blocking::Optimizer;
pub use simd::jpeg_simd;

use crate::error::{Error, Result};
use probe::{Header, SourceFormat};

/// Image file formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
#[non_exhaustive]
pub enum Format {
    /// Lossy WebP (libwebp): the smallest of the three for photos.
    #[default]
    WebP,
    /// JPEG, baseline or progressive.
    Jpeg,
    /// Lossless PNG.
    Png,
    /// GIF: never produced, but GIF input is passed through untouched.
    Gif,
}

impl Format {
    /// The MIME type, for `Content-Type` and `<source type>`.
    pub fn mime_type(self) -> &'static str {
        match self {
            Format::WebP => "image/webp",
            Format::Jpeg => "image/jpeg",
            Format::Png => "image/png",
            Format::Gif => "image/gif",
        }
    }

    /// The usual file extension, without the dot.
    pub fn extension(self) -> &'static str {
        match self {
            Format::WebP => "webp",
            Format::Jpeg => "jpg",
            Format::Png => "png",
            Format::Gif => "gif",
        }
    }

    /// The format named by a file extension or a short name (`"jpeg"`, `"JPG"`, `"webp"`, ...).
    pub fn from_name(name: &str) -> Option<Format> {
        match name.to_ascii_lowercase().as_str() {
            "webp" => Some(Format::WebP),
            "jpg" | "jpeg" => Some(Format::Jpeg),
            "png" => Some(Format::Png),
            "gif" => Some(Format::Gif),
            _ => None,
        }
    }
}

/// How the image fits the requested box when both width and height are given.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Fit {
    /// Scale to fit inside the box, keeping the aspect ratio (the output may be smaller on one side).
    #[default]
    Inside,
    /// Scale to cover the box, keeping the aspect ratio, and crop the centre to the box.
    Cover,
    /// Stretch to exactly the box.
    Fill,
}

/// What [`optimize`] should produce.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImageOptions {
    /// Target width in pixels; `None` follows from the height (or keeps the source's).
    pub width: Option<u32>,
    /// Target height in pixels; `None` follows from the width (or keeps the source's).
    pub height: Option<u32>,
    /// Lossy quality, 1..=100 (ignored for PNG). Default 80.
    pub quality: u8,
    /// Output format. Default WebP.
    pub format: Format,
    /// Progressive JPEG (ignored by other formats). Default false.
    pub progressive: bool,
    /// How to fit a width x height box. Default [`Fit::Inside`].
    pub fit: Fit,
    /// Allow the output to be larger than the source. Default false.
    pub enlarge: bool,
    /// Decode JPEGs at the smallest DCT scale that still covers the output (sharp's
    /// `fastShrinkOnLoad`) instead of leaving Lanczos3 a factor of two: about 10 % faster,
    /// visibly softer on fine texture (1.2 dB lower luma PSNR on average on testdata, up
    /// to 4.7 dB). Default false.
    pub fast_shrink_on_load: bool,
    /// Refuse sources (from the header) and outputs with more pixels than this.
    /// Default 50 megapixels.
    pub max_pixels: u64,
    /// Refuse jobs whose decoding and encoding would need more memory than this, in bytes
    /// (estimated from the header, decoders' own buffers included: a progressive JPEG
    /// keeps full-size coefficients however small the output). Default
    /// [`DEFAULT_MAX_MEMORY`], 512 MiB.
    pub max_memory: u64,
}

/// The default pixel limit: 50 megapixels.
pub const DEFAULT_MAX_PIXELS: u64 = 50_000_000;

impl Default for ImageOptions {
    fn default() -> Self {
        ImageOptions {
            width: None,
            height: None,
            quality: 80,
            format: Format::WebP,
            progressive: false,
            fit: Fit::Inside,
            enlarge: false,
            fast_shrink_on_load: false,
            max_pixels: DEFAULT_MAX_PIXELS,
            max_memory: DEFAULT_MAX_MEMORY,
        }
    }
}

/// An encoded image.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Optimized {
    /// The encoded file, without metadata.
    pub bytes: Vec<u8>,
    /// Its format (animations, GIF, animated WebP and APNG, come back as they were).
    pub format: Format,
    /// Width in pixels, upright.
    pub width: u32,
    /// Height in pixels, upright.
    pub height: u32,
}

/// How much larger than the output a JPEG is decoded, at least: libjpeg's scaled IDCT
/// then does the coarse reduction and Lanczos3 the last factor of two or more, which it
/// needs to antialias. 1.0 (the smallest DCT scale that still covers the output, sharp's
/// `fastShrinkOnLoad`) is about 10 % faster and 1.2 dB worse in luma PSNR on testdata
/// (up to 4.7 dB on fine texture): `scripts/compare/thumbnail.sh`, see the README.
const SHRINK_ON_LOAD_MARGIN: f64 = 2.0;
const FAST_SHRINK_ON_LOAD_MARGIN: f64 = 1.0;

/// The most scans a JPEG may have. A progressive JPEG from libjpeg, mozjpeg or jpegtran
/// has about 10; each scan is a pass over the whole image, so a small file with thousands
/// of them ties a worker up for minutes (libjpeg-turbo LJT-01-003). Refused from the probe.
pub const MAX_JPEG_SCANS: u32 = 100;

/// The default memory limit of one image job: 512 MiB, enough for any image within the
/// default pixel limit (a 50 MP progressive JPEG or RGBA PNG).
pub const DEFAULT_MAX_MEMORY: u64 = 512 << 20;

/// What the header allows, decided before decoding: pass the file through, or render it.
pub(crate) enum Job {
    /// An animation (GIF, animated WebP, APNG), returned whole.
    PassThrough(Header),
    Render {
        header: Header,
        /// The resize in stored (not yet oriented) source pixels.
        stored: geometry::Plan,
        /// JPEG shrink-on-load: decode at 1/denominator.
        denominator: u8,
    },
}

/// Reads the header and checks every limit (pixels, scans, memory): the cheap part of
/// [`optimize`], which [`Optimizer`] runs before queueing a job.
pub(crate) fn prepare(bytes: &[u8], options: &ImageOptions) -> Result<Job> {
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
    if let probe::Detail::Jpeg(info) = &header.detail
        && info.scans > MAX_JPEG_SCANS
    {
        return Err(Error::TooManyScans {
            scans: info.scans,
            limit: MAX_JPEG_SCANS,
        });
    }
    if header.animated {
        // Resizing animations is out of scope; cutting them to one frame would be wrong.
        let needed = budget::copy_bytes(bytes.len());
        return within(needed, options).map(|()| Job::PassThrough(header));
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
    let denominator = match header.format {
        SourceFormat::Jpeg => geometry::jpeg_denominator(
            &stored,
            if options.fast_shrink_on_load {
                FAST_SHRINK_ON_LOAD_MARGIN
            } else {
                SHRINK_ON_LOAD_MARGIN
            },
        ),
        _ => 1,
    };
    within(
        budget::job_bytes(&header, denominator, &stored, options.format),
        options,
    )?;
    Ok(Job::Render {
        header,
        stored,
        denominator,
    })
}

fn within(needed: u64, options: &ImageOptions) -> Result<()> {
    if needed > options.max_memory {
        return Err(Error::OverBudget {
            needed,
            limit: options.max_memory,
        });
    }
    Ok(())
}

/// Decodes, resizes, orients and re-encodes `bytes` as `options` say. Refuses, from the
/// header and before decoding, images above `max_pixels`, JPEGs with more than
/// [`MAX_JPEG_SCANS`] scans, and jobs that would need more than `max_memory`.
/// Animations (GIF, animated WebP, APNG) come back whole, in their own format.
pub fn optimize(bytes: &[u8], options: &ImageOptions) -> Result<Optimized> {
    let job = prepare(bytes, options)?;
    render(bytes, options, job)
}

/// The decoding part of [`optimize`], for a job [`prepare`] accepted.
pub(crate) fn render(bytes: &[u8], options: &ImageOptions, job: Job) -> Result<Optimized> {
    let (header, stored, denominator) = match job {
        Job::PassThrough(header) => {
            let format = match header.format {
                SourceFormat::Gif => Format::Gif,
                SourceFormat::Png => Format::Png,
                SourceFormat::WebP | SourceFormat::Jpeg => Format::WebP,
            };
            return Ok(Optimized {
                bytes: bytes.to_vec(),
                format,
                width: header.width,
                height: header.height,
            });
        }
        Job::Render {
            header,
            stored,
            denominator,
        } => (header, stored, denominator),
    };
    let (decoded, icc) = match &header.detail {
        probe::Detail::Jpeg(info) => (
            decode::jpeg(bytes, denominator, info.adobe)?,
            header.icc.clone(),
        ),
        probe::Detail::Png { .. } => decode::png(bytes, png_budget(options.max_memory))?,
        probe::Detail::WebP { alpha, .. } => (decode::webp(bytes, *alpha)?, header.icc.clone()),
        probe::Detail::Gif => unreachable_gif()?,
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

/// The format of an image and its stored size, from its header (the file name does not count).
pub(crate) fn source_format(bytes: &[u8]) -> Result<(Format, u32, u32)> {
    let header = probe::probe(bytes)?;
    let format = match header.format {
        SourceFormat::Jpeg => Format::Jpeg,
        SourceFormat::Png => Format::Png,
        SourceFormat::WebP => Format::WebP,
        SourceFormat::Gif => Format::Gif,
    };
    Ok((format, header.width, header.height))
}

/// The upright (EXIF-oriented) size of an image, from its header alone; `None` when the
/// bytes are not an image the optimizer reads.
pub(crate) fn upright_size(bytes: &[u8]) -> Option<(u32, u32)> {
    let header = probe::probe(bytes).ok()?;
    Some(if header.orientation >= 5 {
        (header.height, header.width)
    } else {
        (header.width, header.height)
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

/// Bytes the PNG decoder may allocate: the job's memory limit (the estimate already
/// admitted the bitmap; this stops a decoder that would allocate more than the header said).
fn png_budget(max_memory: u64) -> usize {
    usize::try_from(max_memory).unwrap_or(usize::MAX)
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
