//! Image transform options as they travel in a URL query (`w=300&h=200&q=85&fm=webp`),
//! and the origin-side check that a query is exactly one that `Cdn::image(..)` writes.
//!
//! One rendition has one URL. The parser accepts a query only in its canonical spelling
//! (known parameters, each at most once, in the fixed order `w h q fm pr fit v s`, values
//! written as the builder writes them), so any two accepted queries that differ ask for
//! different renditions; the checks then bound how many renditions there are (the manifest's
//! version, a signature, or the allow-lists).

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
    /// `fm`: output format; `None` keeps the source's. `Some(Format::Gif)` is written as
    /// no `fm` (GIF is never produced; a GIF source is passed through).
    pub format: Option<Format>,
    /// `pr=1`: progressive JPEG.
    pub progressive: bool,
    /// `fit`: inside (default), cover or fill.
    pub fit: Fit,
}

/// Parameters in the order the canonical query writes them.
const ORDER: [&str; 8] = ["w", "h", "q", "fm", "pr", "fit", "v", "s"];

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
        if let Some(f) = self.format.filter(|f| *f != Format::Gif) {
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

    /// Whether this transform leaves the image as it is (the original is served).
    pub fn is_identity(&self) -> bool {
        *self == Transform::default()
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

fn refused(problem: impl Into<String>) -> Error {
    Error::BadTransform(problem.into())
}

/// A decimal in `1..=max` written as `to_string` writes it (no sign, no leading zero).
fn canonical_number(k: &str, v: &str, max: u32) -> Result<u32> {
    match v.parse::<u32>() {
        Ok(n) if (1..=max).contains(&n) && n.to_string() == v => Ok(n),
        _ => Err(refused(format!(
            "{k}={v:?}: expected a number in 1..={max}, without leading zeros"
        ))),
    }
}

/// Parses a transform query (without the leading `?`), accepting only its canonical
/// spelling; the error names the first problem.
pub(crate) fn parse_query(query: &str) -> Result<TransformRequest> {
    let mut r = TransformRequest::default();
    if query.is_empty() {
        return Ok(r);
    }
    let mut previous: Option<usize> = None;
    for pair in query.split('&') {
        if pair.is_empty() {
            return Err(refused("empty parameter (a stray '&')"));
        }
        let (k, v) = pair
            .split_once('=')
            .ok_or_else(|| refused(format!("parameter {pair:?} has no value")))?;
        let at = ORDER.iter().position(|o| *o == k).ok_or_else(|| {
            refused(format!(
                "unknown parameter {k:?} (known: w, h, q, fm, pr, fit, v, s)"
            ))
        })?;
        match previous {
            Some(p) if p == at => return Err(refused(format!("repeated parameter {k}"))),
            Some(p) if p > at => {
                return Err(refused(format!(
                    "parameter {k} out of order (the order is w, h, q, fm, pr, fit, v, s)"
                )));
            }
            _ => previous = Some(at),
        }
        let t = &mut r.transform;
        match k {
            "w" => t.width = Some(canonical_number(k, v, MAX_IMAGE_SIDE)?),
            "h" => t.height = Some(canonical_number(k, v, MAX_IMAGE_SIDE)?),
            "q" => t.quality = Some(canonical_number(k, v, 100)? as u8),
            "fm" => {
                t.format = Some(match v {
                    "webp" => Format::WebP,
                    "jpg" => Format::Jpeg,
                    "png" => Format::Png,
                    _ => {
                        return Err(refused(format!(
                            "fm={v:?}: expected webp, jpg or png, lowercase (GIF is never produced)"
                        )));
                    }
                })
            }
            "pr" if v == "1" => t.progressive = true,
            "pr" => {
                return Err(refused(format!(
                    "pr={v:?}: progressive is written pr=1, baseline has no pr"
                )));
            }
            "fit" => {
                t.fit = match v {
                    "cover" => Fit::Cover,
                    "fill" => Fit::Fill,
                    "inside" => {
                        return Err(refused(
                            "fit=inside is the default: it is written as no fit",
                        ));
                    }
                    _ => return Err(refused(format!("fit={v:?}: expected cover or fill"))),
                }
            }
            "v" if !v.is_empty() => r.version = Some(v.to_owned()),
            "s" if !v.is_empty() => r.signature = Some(v.to_owned()),
            _ => return Err(refused(format!("{k} is empty"))),
        }
    }
    Ok(r)
}

/// Checks that a request carries the manifest's current version of `path` (`current`),
/// or none when the manifest does not list it.
pub(crate) fn check_version(
    path: &str,
    request: &TransformRequest,
    current: Option<&str>,
) -> Result<()> {
    match (request.version.as_deref(), current) {
        (Some(v), Some(c)) if v == c => Ok(()),
        (None, None) => Ok(()),
        (Some(v), Some(c)) => Err(refused(format!(
            "v={v} is not the current version of {path} (v={c}): pages get current URLs from Cdn::image"
        ))),
        (None, Some(c)) => Err(refused(format!(
            "no version: {path} is in the manifest, its URLs carry v={c}"
        ))),
        (Some(v), None) => Err(refused(format!(
            "version v={v} given, but {path} is not in the manifest: its URLs carry no v"
        ))),
    }
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
        if !out.ends_with('?') {
            out.push('&');
        }
        let _ = write!(out, "v={v}");
    }
}

/// Origin side, after [`parse_query`] and [`check_version`]: with signing keys, accepts
/// only a valid signature; without, accepts only what the allow-lists allow (widths and
/// qualities from their lists, a height either derived from the width by an allowed
/// aspect ratio or, alone, from the width list). The original itself (no transform, the
/// plain versioned URL `Cdn::url` writes) needs no signature: it renders nothing, and its
/// one version is already checked.
pub(crate) fn check(config: &CdnConfig, path: &str, request: &TransformRequest) -> Result<()> {
    let t = &request.transform;
    if t.is_identity() && request.signature.is_none() {
        return Ok(());
    }
    if !config.signing_keys.is_empty() {
        let signature = request.signature.as_deref().ok_or(Error::BadSignature)?;
        let mut message = String::new();
        signed_message(path, t, request.version.as_deref(), &mut message);
        return if sign::verify(&config.signing_keys, &message, signature) {
            Ok(())
        } else {
            Err(Error::BadSignature)
        };
    }
    if request.signature.is_some() {
        return Err(refused(
            "s= given, but this origin has no CDN_SIGNING_KEYS: URLs are unsigned",
        ));
    }
    if let Some(w) = t.width.filter(|w| !config.allowed_widths.contains(w)) {
        return Err(Error::NotAllowed(format!(
            "width {w} is not in CDN_IMAGE_WIDTHS"
        )));
    }
    match (t.width, t.height) {
        (Some(w), Some(h))
            if !config
                .allowed_ratios
                .iter()
                .any(|&r| ratio_height(w, r) == h) =>
        {
            return Err(Error::NotAllowed(format!(
                "height {h} for width {w} is not an aspect ratio of CDN_IMAGE_RATIOS"
            )));
        }
        (None, Some(h)) if !config.allowed_widths.contains(&h) => {
            return Err(Error::NotAllowed(format!(
                "height {h} is not in CDN_IMAGE_WIDTHS"
            )));
        }
        _ => {}
    }
    if let Some(q) = t.quality.filter(|q| !config.allowed_qualities.contains(q)) {
        return Err(Error::NotAllowed(format!(
            "quality {q} is not in CDN_IMAGE_QUALITIES"
        )));
    }
    Ok(())
}

/// The height of a `width`-wide box of aspect ratio `w:h`, rounded to the nearest pixel.
pub(crate) fn ratio_height(width: u32, (w, h): (u32, u32)) -> u32 {
    let height = (u64::from(width) * u64::from(h) + u64::from(w) / 2) / u64::from(w.max(1));
    height.clamp(1, u64::from(MAX_IMAGE_SIDE)) as u32
}

/// The allowed ratio closest to `width:height` (by the logarithm of the ratios, so
/// portrait and landscape are measured alike).
pub(crate) fn snap_ratio(allowed: &[(u32, u32)], width: u32, height: u32) -> (u32, u32) {
    let want = (f64::from(width) / f64::from(height.max(1))).ln();
    allowed
        .iter()
        .copied()
        .min_by(|a, b| {
            let d = |(w, h): (u32, u32)| ((f64::from(w) / f64::from(h.max(1))).ln() - want).abs();
            d(*a).total_cmp(&d(*b))
        })
        .unwrap_or((width, height))
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
    use proptest::prelude::*;

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
                && parse_query("fm=gif").is_err()
        );
    }

    #[test]
    fn snapping() {
        assert_eq!(snap(&[100, 200, 400], 150), 200);
        assert_eq!(snap(&[100, 200, 400], 900), 400);
        assert_eq!(snap(&[100, 200, 400], 100), 100);
        let ratios = crate::config::DEFAULT_RATIOS;
        assert_eq!(snap_ratio(&ratios, 300, 200), (3, 2));
        assert_eq!(snap_ratio(&ratios, 200, 300), (2, 3));
        assert_eq!(snap_ratio(&ratios, 300, 170), (16, 9));
        assert_eq!(ratio_height(320, (3, 2)), 213);
        assert_eq!(ratio_height(256, (16, 9)), 144);
    }

    /// Whatever set of parameters `Transform` can express, the query it writes parses back
    /// to it, and nothing else parses: an accepted query is always the canonical one.
    fn any_pair() -> impl Strategy<Value = String> {
        let keys = prop::sample::select(vec!["w", "h", "q", "fm", "pr", "fit", "v", "s", "x", ""]);
        let values = prop::sample::select(vec![
            "1", "01", "320", "100", "101", "webp", "jpg", "jpeg", "WEBP", "cover", "inside",
            "fill", "abc", "", "+1", "16383", "16384",
        ]);
        (keys, values).prop_map(|(k, v)| format!("{k}={v}"))
    }

    proptest! {
        #[test]
        fn an_accepted_query_is_the_canonical_one(
            pairs in proptest::collection::vec(any_pair(), 0..6),
            stray in any::<bool>(),
        ) {
            let mut query = pairs.join("&");
            if stray {
                query.push('&');
            }
            if let Ok(r) = parse_query(&query) {
                let mut canonical = String::new();
                signed_message("", &r.transform, r.version.as_deref(), &mut canonical);
                let mut canonical = canonical.trim_start_matches('?').to_owned();
                if let Some(s) = &r.signature {
                    if !canonical.is_empty() {
                        canonical.push('&');
                    }
                    canonical.push_str("s=");
                    canonical.push_str(s);
                }
                prop_assert_eq!(canonical, query);
            }
        }
    }
}
