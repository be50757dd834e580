//! `cdn.image(path)`: a builder for transform URLs, responsive `srcset`s limited to the
//! allowed widths, and the `<img>` / `<picture>` HTML with lazy loading, an origin
//! fallback and, for critical images, high fetch priority and a preload link.

use std::fmt::Write;

use crate::Cdn;
use crate::config::MAX_IMAGE_SIDE;
use crate::image::{Fit, Format};
use crate::manifest::normalize;
use crate::sign;
use crate::transform::{Transform, signed_message, snap};
use crate::url_path::encode_path;

/// Builder returned by [`Cdn::image`].
#[derive(Debug, Clone)]
#[must_use = "an ImageUrl does nothing until .url(), .srcset() or .to_html()"]
pub struct ImageUrl<'a> {
    cdn: &'a Cdn,
    path: String,
    transform: Transform,
    critical: bool,
    alt: String,
    sizes: Option<String>,
}

impl<'a> ImageUrl<'a> {
    pub(crate) fn new(cdn: &'a Cdn, path: &str) -> Self {
        let critical = cdn.manifest().get(path).is_some_and(|e| e.critical);
        ImageUrl {
            cdn,
            path: normalize(path),
            transform: Transform::default(),
            critical,
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

    /// The `sizes` attribute; default `(max-width: Wpx) 100vw, Wpx` when a width is set.
    pub fn sizes(mut self, sizes: &str) -> Self {
        self.sizes = Some(sizes.to_owned());
        self
    }

    /// The URL of the 1x rendition (CDN, or origin when the CDN is off or down).
    pub fn url(&self) -> String {
        self.url_on(self.cdn.serving_base(), &self.transform)
    }

    /// The same rendition on the origin: the fallback when the CDN copy fails to load.
    pub fn origin_url(&self) -> String {
        self.url_on(self.cdn.origin_base(), &self.transform)
    }

    fn url_on(&self, base: &str, t: &Transform) -> String {
        let config = self.cdn.config();
        let version = self.cdn.manifest().version(&self.path).map(str::to_owned);
        let path = encode_path(&self.path);
        let mut out = String::with_capacity(base.len() + path.len() + 96);
        if !config.image_optimization {
            out.push_str(base);
            out.push_str(&path);
            if let Some(v) = version {
                let _ = write!(out, "?v={v}");
            }
            return out;
        }
        let t = self.allowed(t);
        out.push_str(base);
        let start = out.len();
        signed_message(&path, &t, version.as_deref(), &mut out);
        if let Some(key) = config.signing_keys.first() {
            let signature = sign::sign(key, &out[start..]);
            let _ = write!(out, "&s={signature}");
        }
        out
    }

    /// Unsigned URLs must stay within the allow-lists: snap up to the nearest allowed size.
    fn allowed(&self, t: &Transform) -> Transform {
        let config = self.cdn.config();
        if !config.signing_keys.is_empty() {
            return *t;
        }
        Transform {
            width: t.width.map(|w| snap(&config.allowed_widths, w)),
            height: t.height.map(|h| snap(&config.allowed_widths, h)),
            quality: t.quality.map(|q| snap(&config.allowed_qualities, q)),
            ..*t
        }
    }

    /// Widths offered in `srcset`: the allowed widths from half to twice the display width
    /// and the first one at or above twice it (all of them without a width).
    fn srcset_widths(&self) -> Vec<u32> {
        let mut allowed = self.cdn.config().allowed_widths.clone();
        allowed.sort_unstable();
        allowed.dedup();
        let Some(w) = self.transform.width else {
            return allowed;
        };
        let mut picked: Vec<u32> = allowed
            .iter()
            .copied()
            .filter(|&a| a.saturating_mul(2) >= w && a <= w.saturating_mul(2))
            .collect();
        // Sharp on 2x screens: the smallest allowed width covering twice the display width.
        let two_x = snap(&allowed, w.saturating_mul(2));
        if !picked.contains(&two_x) {
            picked.push(two_x);
        }
        picked
    }

    fn srcset_with(&self, format: Option<Format>) -> String {
        let base = self.cdn.serving_base();
        let unsigned = self.cdn.config().signing_keys.is_empty();
        let mut out = String::new();
        for (i, a) in self.srcset_widths().into_iter().enumerate() {
            let mut t = Transform {
                width: Some(a),
                format,
                ..self.transform
            };
            t.height = match (self.transform.width, self.transform.height) {
                // Unsigned fit-inside renditions are sized by width alone (heights must be allowed sizes).
                (_, Some(_)) if unsigned && t.fit == Fit::Inside => None,
                (Some(w), Some(h)) => Some(
                    ((u64::from(h) * u64::from(a) + u64::from(w) / 2) / u64::from(w))
                        .clamp(1, u64::from(MAX_IMAGE_SIDE)) as u32,
                ),
                (None, h) => h,
                (Some(_), None) => None,
            };
            if i > 0 {
                out.push_str(", ");
            }
            let _ = write!(out, "{} {a}w", self.url_on(base, &t));
        }
        out
    }

    /// `srcset` of width descriptors, only allowed widths.
    pub fn srcset(&self) -> String {
        self.srcset_with(self.transform.format)
    }

    fn sizes_attr(&self) -> Option<String> {
        self.sizes.clone().or_else(|| {
            self.transform
                .width
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
                    ..self.transform
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
        if let Some(w) = self.transform.width {
            let _ = write!(out, r#" width="{w}""#);
        }
        if let Some(h) = self.transform.height {
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
