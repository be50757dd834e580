//! `cdn.image(path)`: a builder for transform URLs, responsive `srcset`s limited to the
//! allowed widths, and the `<img>` / `<picture>` HTML with lazy loading, an origin
//! fallback and, for critical images, high fetch priority and a preload link.
//!
//! The markup tells the truth about the renditions: every `srcset` candidate has the
//! aspect ratio of the `<img width height>` box, and (when the source's size is known,
//! from the manifest or [`ImageUrl::source_size`]) the width its descriptor says.

use std::fmt::Write;

use crate::Cdn;
use crate::image::geometry;
use crate::image::{Fit, Format};
use crate::sign;
use crate::transform::{Transform, ratio_height, signed_message, snap, snap_ratio};
use crate::url_path::{encode_path, normalize};

/// Builder returned by [`Cdn::image`].
#[derive(Debug, Clone)]
#[must_use = "an ImageUrl does nothing until .url(), .srcset() or .to_html()"]
pub struct ImageUrl<'a> {
    cdn: &'a Cdn,
    path: String,
    /// The manifest's version of `path`, read once.
    version: Option<String>,
    /// Intrinsic (upright) size of the source: from the manifest or `source_size`.
    source_size: Option<(u32, u32)>,
    transform: Transform,
    critical: bool,
    alt: String,
    sizes: Option<String>,
}

impl<'a> ImageUrl<'a> {
    pub(crate) fn new(cdn: &'a Cdn, path: &str) -> Self {
        let path = normalize(path);
        let manifest = cdn.manifest();
        let entry = manifest.get(&path);
        ImageUrl {
            cdn,
            version: entry.map(|e| e.hash.clone()),
            source_size: manifest.size(&path),
            critical: entry.is_some_and(|e| e.critical),
            path,
            transform: Transform::default(),
            alt: String::new(),
            sizes: None,
        }
    }

    /// Display width in CSS pixels (the 1x rendition).
    pub fn width(mut self, width: u32) -> Self {
        self.transform.width = Some(width.max(1));
        self
    }

    /// Display height in CSS pixels.
    pub fn height(mut self, height: u32) -> Self {
        self.transform.height = Some(height.max(1));
        self
    }

    /// Lossy quality 1..=100.
    pub fn quality(mut self, quality: u8) -> Self {
        self.transform.quality = Some(quality.clamp(1, 100));
        self
    }

    /// Output format. Without one, `to_html` offers WebP with the source format as fallback.
    /// `Format::Gif` keeps the source format (GIF is passed through, never produced).
    pub fn format(mut self, format: Format) -> Self {
        self.transform.format = Some(format);
        self
    }

    /// Progressive JPEG.
    pub fn progressive(mut self, progressive: bool) -> Self {
        self.transform.progressive = progressive;
        self
    }

    /// How the image fits width x height.
    pub fn fit(mut self, fit: Fit) -> Self {
        self.transform.fit = fit;
        self
    }

    /// The source's intrinsic size in pixels (upright), for images the manifest does not
    /// size (uploads, say). With it, `width`/`height` attributes and `srcset` descriptors
    /// are the rendered sizes, exactly; without it, a [`Fit::Inside`] box gets only its
    /// `width` attribute, since the height depends on the source.
    pub fn source_size(mut self, width: u32, height: u32) -> Self {
        self.source_size = Some((width.max(1), height.max(1)));
        self
    }

    /// Critical (above the fold): eager, `fetchpriority="high"`, and a preload link.
    /// Defaults to the manifest's flag.
    pub fn critical(mut self, critical: bool) -> Self {
        self.critical = critical;
        self
    }

    /// The `alt` text.
    pub fn alt(mut self, alt: &str) -> Self {
        self.alt = alt.to_owned();
        self
    }

    /// The `sizes` attribute; default `(max-width: Wpx) 100vw, Wpx` when a width is known.
    pub fn sizes(mut self, sizes: &str) -> Self {
        self.sizes = Some(sizes.to_owned());
        self
    }

    /// The URL of the 1x rendition (CDN, or origin when the CDN is off or down).
    pub fn url(&self) -> String {
        self.url_on(self.cdn.serving_base(), &self.rendition(None))
    }

    /// The same rendition on the origin: the fallback when the CDN copy fails to load.
    pub fn origin_url(&self) -> String {
        self.url_on(self.cdn.origin_base(), &self.rendition(None))
    }

    fn url_on(&self, base: &str, t: &Transform) -> String {
        let config = self.cdn.config();
        let path = encode_path(&self.path);
        let mut out = String::with_capacity(base.len() + path.len() + 96);
        out.push_str(base);
        if !config.image_optimization {
            out.push_str(&path);
            if let Some(v) = &self.version {
                let _ = write!(out, "?v={v}");
            }
            return out;
        }
        let start = out.len();
        signed_message(&path, t, self.version.as_deref(), &mut out);
        if let Some(key) = config.signing_keys.first() {
            let signature = sign::sign(key, &out[start..]);
            if !out.ends_with('?') {
                out.push('&');
            }
            let _ = write!(out, "s={signature}");
        } else if out.ends_with('?') {
            out.pop();
        }
        out
    }

    fn unsigned(&self) -> bool {
        self.cdn.config().signing_keys.is_empty()
    }

    /// The aspect ratio a width x height box keeps: unsigned URLs may only use the
    /// allowed ratios, so the box snaps to the nearest one.
    fn box_ratio(&self, width: u32, height: u32) -> (u32, u32) {
        if self.unsigned() {
            snap_ratio(&self.cdn.config().allowed_ratios, width, height)
        } else {
            (width, height)
        }
    }

    /// The transform of the rendition `width` pixels wide (`None`: the 1x one), as it goes
    /// into the URL: unsigned ones moved onto the allow-lists.
    fn rendition(&self, width: Option<u32>) -> Transform {
        let config = self.cdn.config();
        let widths = self.cdn.sorted_widths();
        let unsigned = self.unsigned();
        let on_list = |w: u32| if unsigned { snap(widths, w) } else { w };
        let t = self.transform;
        let mut out = t;
        // Wider renditions of an image fit inside a box are the source scaled: sized by
        // width alone when the source's size is known (a box would make a height-limited
        // portrait narrower than its descriptor's width).
        let by_width = width.is_some() && t.fit == Fit::Inside && self.source_size.is_some();
        match (t.width, t.height) {
            // A box: the height follows the width by the box's (allowed) aspect ratio.
            (Some(w), Some(h)) if !by_width => {
                let ratio = self.box_ratio(w, h);
                let rw = on_list(width.unwrap_or(w));
                out.width = Some(rw);
                out.height = Some(if unsigned || width.is_some() {
                    ratio_height(rw, ratio)
                } else {
                    h
                });
            }
            (None, Some(h)) if width.is_none() => {
                out.height = Some(on_list(h));
            }
            // Renditions sized by width: a width-only image, or the srcset candidates of a
            // height-only or fit-inside one whose source size is known.
            _ => {
                out.width = width.or(t.width).map(on_list);
                out.height = None;
            }
        }
        if unsigned {
            out.quality = t.quality.map(|q| snap(&config.allowed_qualities, q));
        }
        out
    }

    /// The `<img width height>`: the 1x rendition's size. Exact when the source's size is
    /// known; otherwise the box for cover and fill (which keep its aspect ratio), and
    /// only the given side for fit inside (the other depends on the source).
    pub(crate) fn display_size(&self) -> (Option<u32>, Option<u32>) {
        let t = &self.transform;
        let (w, h) = match (t.width, t.height) {
            (Some(w), Some(h)) => (Some(w), Some(ratio_height(w, self.box_ratio(w, h)))),
            other => other,
        };
        if let Some((sw, sh)) = self.source_size {
            let p = geometry::plan(sw, sh, w, h, t.fit, false);
            return (Some(p.width), Some(p.height));
        }
        match (w, h, t.fit) {
            (Some(w), Some(h), Fit::Cover | Fit::Fill) => (Some(w), Some(h)),
            (Some(w), _, _) => (Some(w), None),
            (None, h, _) => (None, h),
        }
    }

    /// The width the rendition `t` comes out at, when the source's size is known.
    fn produced_width(&self, t: &Transform) -> Option<u32> {
        let (sw, sh) = self.source_size?;
        Some(geometry::plan(sw, sh, t.width, t.height, t.fit, false).width)
    }

    /// Widths offered in `srcset`: the allowed widths from half to twice the display width
    /// and the first one at or above twice it (all of them without a width).
    fn srcset_widths(&self, display: Option<u32>) -> Vec<u32> {
        let allowed = self.cdn.sorted_widths();
        let Some(w) = display else {
            return allowed.to_vec();
        };
        let mut picked: Vec<u32> = allowed
            .iter()
            .copied()
            .filter(|&a| a.saturating_mul(2) >= w && a <= w.saturating_mul(2))
            .collect();
        // Sharp on 2x screens: the smallest allowed width covering twice the display width.
        let two_x = snap(allowed, w.saturating_mul(2));
        if !picked.contains(&two_x) {
            picked.push(two_x);
        }
        picked
    }

    fn srcset_with(&self, format: Option<Format>) -> String {
        let base = self.cdn.serving_base();
        let display = self.display_size().0;
        if display.is_none() && self.transform.height.is_some() {
            // Height only, source size unknown: no width to describe; one 1x candidate.
            let t = Transform {
                format,
                ..self.rendition(None)
            };
            return self.url_on(base, &t);
        }
        let mut out = String::new();
        let mut seen = Vec::new();
        for a in self.srcset_widths(display) {
            let t = Transform {
                format,
                ..self.rendition(Some(a))
            };
            // Past the source's own width renditions stop growing: offer each size once.
            let produced = self.produced_width(&t).unwrap_or(a);
            if seen.contains(&produced) {
                continue;
            }
            seen.push(produced);
            if !out.is_empty() {
                out.push_str(", ");
            }
            let _ = write!(out, "{} {produced}w", self.url_on(base, &t));
        }
        out
    }

    /// `srcset` of width descriptors, only allowed widths; each descriptor is the width
    /// the origin renders when the source's size is known.
    pub fn srcset(&self) -> String {
        self.srcset_with(self.transform.format)
    }

    fn sizes_attr(&self) -> Option<String> {
        self.sizes.clone().or_else(|| {
            self.display_size()
                .0
                .map(|w| format!("(max-width: {w}px) 100vw, {w}px"))
        })
    }

    /// `<link rel="preload">` for the document head (critical images).
    pub fn preload_link(&self) -> String {
        let format = self.transform.format.or(Some(Format::WebP));
        let mut out = format!(
            r#"<link rel="preload" as="image" href="{}" imagesrcset="{}""#,
            escape(&self.url_on(
                self.cdn.serving_base(),
                &Transform {
                    format,
                    ..self.rendition(None)
                }
            )),
            escape(&self.srcset_with(format))
        );
        if let Some(sizes) = self.sizes_attr() {
            let _ = write!(out, r#" imagesizes="{}""#, escape(&sizes));
        }
        out.push_str(r#" fetchpriority="high">"#);
        out
    }

    /// The HTML: an `<img>` (a `<picture>` offering WebP first when no format was chosen),
    /// with width/height, lazy loading (eager and high priority when critical),
    /// async decoding, srcset/sizes and an origin fallback if the CDN copy fails.
    pub fn to_html(&self) -> String {
        let mut out = String::new();
        if self.critical {
            out.push_str(&self.preload_link());
        }
        let picture = self.transform.format.is_none() && self.cdn.config().image_optimization;
        if picture {
            let _ = write!(
                out,
                r#"<picture><source type="image/webp" srcset="{}""#,
                escape(&self.srcset_with(Some(Format::WebP)))
            );
            if let Some(sizes) = self.sizes_attr() {
                let _ = write!(out, r#" sizes="{}""#, escape(&sizes));
            }
            out.push('>');
        }
        let _ = write!(out, r#"<img src="{}""#, escape(&self.url()));
        if self.cdn.config().image_optimization {
            let _ = write!(out, r#" srcset="{}""#, escape(&self.srcset()));
            if let Some(sizes) = self.sizes_attr() {
                let _ = write!(out, r#" sizes="{}""#, escape(&sizes));
            }
        }
        let (width, height) = self.display_size();
        if let Some(w) = width {
            let _ = write!(out, r#" width="{w}""#);
        }
        if let Some(h) = height {
            let _ = write!(out, r#" height="{h}""#);
        }
        let _ = write!(out, r#" alt="{}""#, escape(&self.alt));
        if self.critical {
            out.push_str(r#" loading="eager" fetchpriority="high""#);
        } else {
            out.push_str(r#" loading="lazy""#);
        }
        out.push_str(r#" decoding="async""#);
        let origin = self.origin_url();
        if origin != self.url() {
            // For FALLBACK_SCRIPT, which a strict CSP allows where it forbids inline handlers.
            let _ = write!(out, r#" data-fallback-src="{}""#, escape(&origin));
        }
        if origin != self.url() && self.cdn.config().inline_onerror {
            let js = format!(
                "this.onerror=null;if(this.parentNode&&this.parentNode.tagName==='PICTURE'){{this.parentNode.querySelectorAll('source').forEach(function(s){{s.remove()}})}}this.removeAttribute('srcset');this.src='{}'",
                origin.replace('\\', "\\\\").replace('\'', "\\'")
            );
            let _ = write!(out, r#" onerror="{}""#, escape(&js));
        }
        out.push('>');
        if picture {
            out.push_str("</picture>");
        }
        out
    }
}

/// Escapes text for a double-quoted HTML attribute.
fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '"' => out.push_str("&quot;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}
