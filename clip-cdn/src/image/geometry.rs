//! Output size and source crop from the requested box and fit, and the JPEG
//! shrink-on-load factor that decodes no more pixels than the resize needs.

use super::Fit;

/// A resize: take `crop` (x, y, w, h in source pixels) and scale it to `width` x `height`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Plan {
    pub width: u32,
    pub height: u32,
    pub crop: (f64, f64, f64, f64),
}

impl Plan {
    /// Whether the plan leaves the source untouched.
    pub fn is_identity(&self, src_w: u32, src_h: u32) -> bool {
        self.width == src_w
            && self.height == src_h
            && self.crop == (0.0, 0.0, f64::from(src_w), f64::from(src_h))
    }

    /// The same plan for a source decoded at `sw` x `sh` instead of `src_w` x `src_h`.
    pub fn rescaled(&self, src_w: u32, src_h: u32, sw: u32, sh: u32) -> Plan {
        let fx = f64::from(sw) / f64::from(src_w);
        let fy = f64::from(sh) / f64::from(src_h);
        let (x, y, w, h) = self.crop;
        Plan {
            crop: (
                x * fx,
                y * fy,
                (w * fx).min(f64::from(sw)),
                (h * fy).min(f64::from(sh)),
            ),
            ..*self
        }
    }

    /// The same plan on the transposed source (EXIF orientations 5 to 8 swap the axes).
    pub fn transposed(&self) -> Plan {
        let (x, y, w, h) = self.crop;
        Plan {
            width: self.height,
            height: self.width,
            crop: (y, x, h, w),
        }
    }
}

fn dim(v: f64) -> u32 {
    (v.round() as u32).max(1)
}

/// Plans the resize of a `src_w` x `src_h` (upright) image into the requested box.
pub(crate) fn plan(
    src_w: u32,
    src_h: u32,
    width: Option<u32>,
    height: Option<u32>,
    fit: Fit,
    enlarge: bool,
) -> Plan {
    let (sw, sh) = (f64::from(src_w), f64::from(src_h));
    let full = (0.0, 0.0, sw, sh);
    let cap = |s: f64| if enlarge { s } else { s.min(1.0) };
    match (width, height) {
        (None, None) => Plan {
            width: src_w,
            height: src_h,
            crop: full,
        },
        (Some(w), None) => {
            let s = cap(f64::from(w) / sw);
            Plan {
                width: dim(sw * s),
                height: dim(sh * s),
                crop: full,
            }
        }
        (None, Some(h)) => {
            let s = cap(f64::from(h) / sh);
            Plan {
                width: dim(sw * s),
                height: dim(sh * s),
                crop: full,
            }
        }
        (Some(w), Some(h)) => {
            let (w, h) = (f64::from(w), f64::from(h));
            match fit {
                Fit::Inside => {
                    let s = cap((w / sw).min(h / sh));
                    Plan {
                        width: dim(sw * s),
                        height: dim(sh * s),
                        crop: full,
                    }
                }
                Fit::Cover => {
                    let wanted = (w / sw).max(h / sh);
                    let s = cap(wanted);
                    // A source too small to cover the box unscaled gives the box shrunk to
                    // what it covers: smaller, but with the box's aspect ratio, which is what
                    // the page's <img width height> promised.
                    let (ow, oh) = (w * s / wanted, h * s / wanted);
                    let (cw, ch) = (ow / s, oh / s);
                    Plan {
                        width: dim(ow),
                        height: dim(oh),
                        crop: ((sw - cw) / 2.0, (sh - ch) / 2.0, cw, ch),
                    }
                }
                Fit::Fill => {
                    // Without enlarging, a box larger than the source shrinks as a whole
                    // (keeping its aspect ratio) until it fits the source.
                    let shrink = if enlarge {
                        1.0
                    } else {
                        (sw / w).min(sh / h).min(1.0)
                    };
                    let (ow, oh) = (w * shrink, h * shrink);
                    Plan {
                        width: dim(ow),
                        height: dim(oh),
                        crop: full,
                    }
                }
            }
        }
    }
}

/// The largest JPEG scale denominator (8, 4, 2 or 1) that still decodes at least
/// `leave` times the pixels the plan's output needs along each axis.
pub(crate) fn jpeg_denominator(plan: &Plan, leave: f64) -> u8 {
    let (_, _, cw, ch) = plan.crop;
    let shrink = (cw / f64::from(plan.width)).min(ch / f64::from(plan.height)) / leave.max(1.0);
    [8u8, 4, 2]
        .into_iter()
        .find(|&d| f64::from(d) <= shrink)
        .unwrap_or(1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn inside_keeps_aspect_and_never_enlarges() {
        let p = plan(2560, 1600, Some(300), Some(200), Fit::Inside, false);
        assert_eq!((p.width, p.height), (300, 188));
        let p = plan(100, 50, Some(300), Some(200), Fit::Inside, false);
        assert_eq!((p.width, p.height), (100, 50));
        let p = plan(100, 50, Some(300), Some(200), Fit::Inside, true);
        assert_eq!((p.width, p.height), (300, 150));
        let p = plan(1000, 500, Some(250), None, Fit::Inside, false);
        assert_eq!((p.width, p.height), (250, 125));
    }

    #[test]
    fn cover_crops_the_centre_to_the_box() {
        let p = plan(2560, 1600, Some(300), Some(300), Fit::Cover, false);
        assert_eq!((p.width, p.height), (300, 300));
        let (x, y, w, h) = p.crop;
        assert!((w - 1600.0).abs() < 1e-6 && (h - 1600.0).abs() < 1e-6);
        assert!((x - 480.0).abs() < 1e-6 && y.abs() < 1e-6);
    }

    #[test]
    fn fill_stretches() {
        let p = plan(2560, 1600, Some(300), Some(300), Fit::Fill, false);
        assert_eq!((p.width, p.height), (300, 300));
    }

    /// Without enlarging, a box the source cannot fill shrinks whole: the aspect ratio the
    /// page was promised holds, only the size is smaller.
    #[test]
    fn small_sources_keep_the_box_aspect_for_cover_and_fill() {
        let p = plan(400, 300, Some(640), Some(200), Fit::Cover, false);
        assert_eq!((p.width, p.height), (400, 125));
        let (x, y, w, h) = p.crop;
        assert!((w - 400.0).abs() < 1e-6 && (h - 125.0).abs() < 1e-6);
        assert!(x.abs() < 1e-6 && (y - 87.5).abs() < 1e-6);
        let p = plan(250, 150, Some(300), Some(200), Fit::Cover, false);
        assert_eq!((p.width, p.height), (225, 150));
        let p = plan(400, 300, Some(640), Some(200), Fit::Fill, false);
        assert_eq!((p.width, p.height), (400, 125));
        let p = plan(400, 300, Some(640), Some(200), Fit::Fill, true);
        assert_eq!((p.width, p.height), (640, 200));
    }

    #[test]
    fn denominators_leave_enough_pixels() {
        let p = plan(2560, 1600, Some(300), Some(200), Fit::Inside, false);
        assert_eq!(jpeg_denominator(&p, 1.0), 8);
        assert_eq!(jpeg_denominator(&p, 2.0), 4);
        let p = plan(1680, 1050, Some(300), Some(200), Fit::Inside, false);
        assert_eq!(jpeg_denominator(&p, 1.0), 4);
        let p = plan(640, 480, Some(600), None, Fit::Inside, false);
        assert_eq!(jpeg_denominator(&p, 1.0), 1);
    }
}
