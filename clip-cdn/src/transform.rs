//! Image transform options as they travel in a URL query (`w=300&h=200&q=85&fm=webp`),
//! and the origin-side check that a request is signed or within the allow-lists.

use std::fmt::Write;

use crate::config::{CdnConfig, MAX_IMAGE_SIDE};
use crate::error::{Error, Result};
use crate::image::{Fit, Format, ImageOptions};
use crate::sign;

/// What a transform URL asks the origin to render.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub struct Transform {
    /// `w`: width in pixels.
    pub width: Option<u32>,
    /// `h`: height in pixels.
    pub height: Option<u32>,
    /// `q`: quality 1..=100.
    pub quality: Option<u8>,
    /// `fm`: output format; `None` keeps the source's.
    pub format: Option<Format>,
    /// `pr=1`: progressive JPEG.
    pub progressive: bool,
    /// `fit`: inside (default), cover or fill.
    pub fit: Fit,
}

fn fit_name(fit: Fit) -> &'static str {
    match fit {
        Fit::Inside => "inside",
        Fit::Cover => "cover",
        Fit::Fill => "fill",
    }
}

impl Transform {
    /// Appends the canonical query (fixed order, no leading `?`) to `out`.
    pub(crate) fn write_query(&self, out: &mut String) {
        let mut sep = "";
        let mut put = |out: &mut String, k: &str, v: &dyn std::fmt::Display| {
            let _ = write!(out, "{sep}{k}={v}");
            sep = "&";
        };
        if let Some(w) = self.width {
            put(out, "w", &w);
        }
        if let Some(h) = self.height {
            put(out, "h", &h);
        }
        if let Some(q) = self.quality {
            put(out, "q", &q);
        }
        if let Some(f) = self.format {
            put(out, "fm", &f.extension());
        }
        if self.progressive {
            put(out, "pr", &1);
        }
        if self.fit != Fit::Inside {
            put(out, "fit", &fit_name(self.fit));
        }
    }

    /// The options the optimizer needs to render this transform of a `source` image.
    pub fn to_options(&self, source: Format) -> ImageOptions {
        let defaults = ImageOptions::default();
        ImageOptions {
            width: self.width,
            height: self.height,
            quality: self.quality.unwrap_or(defaults.quality),
            format: self.format.unwrap_or(source),
            progressive: self.progressive,
            fit: self.fit,
            ..defaults
        }
    }
}

/// A parsed transform query: the transform, the content version and the signature.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TransformRequest {
    /// What to render.
    pub transform: Transform,
    /// `v`: content version from the manifest.
    pub version: Option<String>,
    /// `s`: the signature, if any.
    pub signature: Option<String>,
}

fn not_allowed(what: String) -> Error {
    Error::NotAllowed(what)
}

/// Parses a transform query (without the leading `?`).
pub fn parse_query(query: &str) -> Result<TransformRequest> {
    let mut r = TransformRequest::default();
    for pair in query.split('&').filter(|p| !p.is_empty()) {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        let number = |max: u32| v.parse::<u32>().ok().filter(|n| (1..=max).contains(n));
        let t = &mut r.transform;
        match k {
            "w" => {
                t.width = Some(
                    number(MAX_IMAGE_SIDE).ok_or_else(|| not_allowed(format!("width {v:?}")))?,
                )
            }
            "h" => {
                t.height = Some(
                    number(MAX_IMAGE_SIDE).ok_or_else(|| not_allowed(format!("height {v:?}")))?,
                )
            }
            "q" => {
                t.quality =
                    Some(number(100).ok_or_else(|| not_allowed(format!("quality {v:?}")))? as u8)
            }
            "fm" => {
                t.format =
                    Some(Format::from_name(v).ok_or_else(|| not_allowed(format!("format {v:?}")))?)
            }
            "pr" => t.progressive = v == "1",
            "fit" => {
                t.fit = match v {
                    "inside" => Fit::Inside,
                    "cover" => Fit::Cover,
                    "fill" => Fit::Fill,
                    _ => return Err(not_allowed(format!("fit {v:?}"))),
                }
            }
            "v" => r.version = Some(v.to_owned()),
            "s" => r.signature = Some(v.to_owned()),
            _ => return Err(not_allowed(format!("unknown parameter {k:?}"))),
        }
    }
    Ok(r)
}

/// The string a signature covers: the path and the canonical query with the version.
pub(crate) fn signed_message(
    path: &str,
    transform: &Transform,
    version: Option<&str>,
    out: &mut String,
) {
    out.push_str(path);
    out.push('?');
    transform.write_query(out);
    if let Some(v) = version {
        let _ = write!(out, "&v={v}");
    }
}

/// Origin side: accepts a request that carries a valid signature, or stays within the
/// allow-lists (widths and heights from `allowed_widths`, qualities from `allowed_qualities`).
/// A signed request must also arrive exactly as we wrote it (`raw_query`): reordered,
/// repeated or respelled parameters would verify too, and each spelling is one more CDN
/// cache miss that reaches the origin.
pub(crate) fn check(
    config: &CdnConfig,
    path: &str,
    raw_query: &str,
    request: &TransformRequest,
) -> Result<()> {
    let t = &request.transform;
    if let Some(sig) = &request.signature {
        let mut message = String::new();
        signed_message(path, t, request.version.as_deref(), &mut message);
        let canonical_query = &message[path.len() + 1..];
        return if raw_query == format!("{canonical_query}&s={sig}")
            && sign::verify(&config.signing_keys, &message, sig)
        {
            Ok(())
        } else {
            Err(Error::BadSignature)
        };
    }
    for (name, size) in [("width", t.width), ("height", t.height)] {
        if let Some(s) = size.filter(|s| !config.allowed_widths.contains(s)) {
            return Err(not_allowed(format!(
                "{name} {s} is not in CDN_IMAGE_WIDTHS"
            )));
        }
    }
    if let Some(q) = t.quality.filter(|q| !config.allowed_qualities.contains(q)) {
        return Err(not_allowed(format!(
            "quality {q} is not in CDN_IMAGE_QUALITIES"
        )));
    }
    Ok(())
}

/// The smallest allowed value at or above `want`, else the largest allowed.
pub(crate) fn snap<T: Copy + Ord>(allowed: &[T], want: T) -> T {
    allowed
        .iter()
        .copied()
        .filter(|&a| a >= want)
        .min()
        .or_else(|| allowed.iter().copied().max())
        .unwrap_or(want)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn query_round_trips() {
        let t = Transform {
            width: Some(300),
            height: Some(200),
            quality: Some(85),
            format: Some(Format::WebP),
            progressive: true,
            fit: Fit::Cover,
        };
        let mut q = String::new();
        t.write_query(&mut q);
        assert_eq!(q, "w=300&h=200&q=85&fm=webp&pr=1&fit=cover");
        assert_eq!(parse_query(&format!("{q}&v=abc")).unwrap().transform, t);
        assert!(
            parse_query("w=0").is_err()
                && parse_query("w=99999999").is_err()
                && parse_query("x=1").is_err()
        );
    }

    #[test]
    fn snapping() {
        assert_eq!(snap(&[100, 200, 400], 150), 200);
        assert_eq!(snap(&[100, 200, 400], 900), 400);
        assert_eq!(snap(&[100, 200, 400], 100), 100);
    }
}
