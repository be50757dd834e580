//! The one error type of the crate: what failed, and what to do about it.

use std::time::Duration;

/// Everything that can go wrong in `clip-cdn`.
#[derive(Debug, Clone, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The input is empty.
    #[error("image input is empty (0 bytes): pass the file's contents, not its path")]
    EmptyInput,
    /// The input is not a format the optimizer reads.
    #[error("image format not recognised: the optimizer reads JPEG, PNG, WebP and GIF")]
    UnknownFormat,
    /// The header is damaged or the data ends early.
    #[error("{format} image is corrupt or truncated ({detail}): re-upload or re-export the file")]
    Corrupt {
        /// Format named by the file's signature.
        format: &'static str,
        /// What the decoder reported.
        detail: String,
    },
    /// The image is larger than the configured pixel limit; refused before decoding.
    #[error(
        "image is {width}x{height} = {pixels} pixels, above the limit of {limit}: \
         downscale it before upload or raise ImageOptions::max_pixels"
    )]
    TooLarge {
        /// Width from the header.
        width: u32,
        /// Height from the header.
        height: u32,
        /// width * height.
        pixels: u64,
        /// The limit in force.
        limit: u64,
    },
    /// Decoding and re-encoding the image would need more memory than the per-image
    /// limit; refused from the header, before decoding.
    #[error(
        "image needs about {} MiB to decode and encode, above the per-image limit of {} MiB: \
         downscale it before upload or raise ImageOptions::max_memory",
        needed.div_ceil(1 << 20),
        limit / (1 << 20)
    )]
    OverBudget {
        /// Estimated peak bytes of the job (decoder buffers, bitmaps, encoder).
        needed: u64,
        /// The limit in force.
        limit: u64,
    },
    /// A JPEG with more scans than any encoder writes: each scan is a pass over the whole
    /// image, so thousands of them make a small file take minutes (libjpeg-turbo LJT-01-003).
    #[error(
        "JPEG has {scans} scans, above the limit of {limit}: re-encode it (a progressive JPEG has about 10)"
    )]
    TooManyScans {
        /// Start-of-scan markers in the file.
        scans: u32,
        /// The limit (`image::MAX_JPEG_SCANS`).
        limit: u32,
    },
    /// The optimizer's queue is full: the job was refused at once, without waiting.
    #[error(
        "image optimizer busy: {running} images in work and {queued} waiting (the most it queues): retry shortly"
    )]
    Busy {
        /// Jobs running.
        running: usize,
        /// Jobs waiting for a slot.
        queued: usize,
    },
    /// The options ask for something impossible.
    #[error("invalid image options: {0}")]
    InvalidOptions(String),
    /// The encoder failed.
    #[error("{format} encoding failed ({detail}): try another output format")]
    Encode {
        /// Output format.
        format: &'static str,
        /// What the encoder reported.
        detail: String,
    },
    /// The blocking thread running an image job stopped (runtime shutting down).
    #[error("image worker stopped ({0}): retry, or check that the runtime is not shutting down")]
    WorkerStopped(String),
    /// A configuration value is invalid; names the variable.
    #[error("invalid configuration {variable}={value:?}: {reason}")]
    Config {
        /// The environment variable (or field) at fault.
        variable: &'static str,
        /// The value that was given.
        value: String,
        /// Why it is wrong and what is expected.
        reason: String,
    },
    /// A signed transform URL did not verify.
    #[error("transform URL signature is missing or wrong: build URLs with Cdn::image(..).url()")]
    BadSignature,
    /// A transform asks for a width or quality outside the allow-list.
    #[error("transform not allowed ({0}): use a width and quality from CdnConfig's allow-lists")]
    NotAllowed(String),
    /// A transform query that is not exactly what `Cdn::image(..)` writes: an unknown,
    /// repeated, reordered or respelled parameter, or a `v` that is not the manifest's.
    /// Each look-alike would be one more CDN cache miss costing a full render.
    #[error("transform query refused: {0}; use the URL Cdn::image(..) writes, unchanged")]
    BadTransform(String),
    /// An asset path that could reach outside the asset tree (a `.` or `..` segment).
    #[error("asset path {path:?} refused: {reason}")]
    BadPath {
        /// The path asked for.
        path: String,
        /// Why, and what to pass instead.
        reason: String,
    },
    /// Every source of an asset failed.
    #[error(
        "asset {path} unavailable from CDN, origin and local directory (last error: {last}); \
         check CDN_BASE_URL, the origin and the local asset directory"
    )]
    Unavailable {
        /// Asset path asked for.
        path: String,
        /// The last failure seen.
        last: String,
    },
    /// Waiting for a fetch (our own or a coalesced one) took too long.
    #[error(
        "fetching {path} took longer than {after:?}: the source is slow; raise the fetch deadline or check it"
    )]
    Timeout {
        /// Asset path asked for.
        path: String,
        /// How long we waited.
        after: Duration,
    },
}

impl Error {
    /// The HTTP status an origin should answer a transform request with when
    /// [`Cdn::verify_transform`](crate::Cdn::verify_transform) or
    /// [`Cdn::render`](crate::Cdn::render) fails: 400 for a query that is not the
    /// canonical one, 403 for a missing or wrong signature, 413 for an image above the
    /// pixel or memory limits, 422 for input that is not a readable image, 503 when the
    /// optimizer is busy or stopping, 502/504 for fetch failures, 500 for a configuration error.
    pub fn http_status(&self) -> u16 {
        match self {
            Error::BadTransform(_) | Error::NotAllowed(_) | Error::BadPath { .. } => 400,
            Error::BadSignature => 403,
            Error::TooLarge { .. } | Error::OverBudget { .. } => 413,
            Error::TooManyScans { .. } => 422,
            Error::Busy { .. } => 503,
            Error::EmptyInput | Error::UnknownFormat | Error::Corrupt { .. } => 422,
            Error::InvalidOptions(_) | Error::Encode { .. } => 422,
            Error::WorkerStopped(_) => 503,
            Error::Unavailable { .. } => 502,
            Error::Timeout { .. } => 504,
            Error::Config { .. } => 500,
        }
    }
}

/// `Result` with the crate's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;
