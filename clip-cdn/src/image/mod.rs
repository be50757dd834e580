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
//! runs it on blocking threads, a bounded number at once. It reads the header first and
//! refuses images above [`ImageOptions::max_pixels`] before decoding anything; bad
//! input of any kind is an [`Error`](crate::Error), never a panic. JPEG errors are
//! caught as unwinds from libjpeg, so do not build with `panic = "abort"`.

// The codecs and the pixel pipeline: feature `optimizer` (default). Without it this module
// is the vocabulary of transform URLs only (formats, fit, options), with no C library.
#[cfg(feature = "optimizer")]
mod blocking;
#[cfg(feature = "optimizer")]
mod color;
#[cfg(feature = "optimizer")]
mod decode;
#[cfg(feature = "optimizer")]
mod encode;
#[cfg(feature = "optimizer")]
mod geometry;
#[cfg(feature = "optimizer")]
mod pipeline;
#[cfg(feature = "optimizer")]
mod pixels;
#[cfg(feature = "optimizer")]
mod probe;
#[cfg(feature = "optimizer")]
mod resize;

#[cfg(feature = "optimizer")]
pub use blocking::Optimizer;
#[cfg(feature = "optimizer")]
pub use pipeline::optimize;

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
    /// Refuse sources (from the header) and outputs with more pixels than this.
    /// Default 50 megapixels.
    pub max_pixels: u64,
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
            max_pixels: DEFAULT_MAX_PIXELS,
        }
    }
}

/// An encoded image.
#[cfg(feature = "optimizer")]
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Optimized {
    /// The encoded file, without metadata.
    pub bytes: Vec<u8>,
    /// Its format (GIF and animated WebP input come back as they were).
    pub format: Format,
    /// Width in pixels, upright.
    pub width: u32,
    /// Height in pixels, upright.
    pub height: u32,
}
