//! An interleaved 8-bit RGB or RGBA bitmap, and the few whole-bitmap operations the
//! pipeline needs (EXIF orientation, dropping alpha).

/// Interleaved 8-bit pixels, 3 (RGB) or 4 (RGBA) channels, rows without padding.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Pixels {
    pub width: u32,
    pub height: u32,
    pub channels: usize,
    pub data: Vec<u8>,
}

impl Pixels {
    /// Applies an EXIF orientation (2..=8) so the bitmap displays upright.
    pub fn orient(self, orientation: u8) -> Pixels {
        let (w, h, c) = (self.width as usize, self.height as usize, self.channels);
        // Where the output pixel (x, y) comes from in the stored bitmap.
        let transposed = orientation >= 5;
        let (ow, oh) = if transposed { (h, w) } else { (w, h) };
        let source = |x: usize, y: usize| -> (usize, usize) {
            match orientation {
                2 => (w - 1 - x, y),
                3 => (w - 1 - x, h - 1 - y),
                4 => (x, h - 1 - y),
                5 => (y, x),
                6 => (y, h - 1 - x),
                7 => (w - 1 - y, h - 1 - x),
                8 => (w - 1 - y, x),
                _ => (x, y),
            }
        };
        if !(2..=8).contains(&orientation) {
            return self;
        }
        let mut out = vec![0u8; ow * oh * c];
        for y in 0..oh {
            for x in 0..ow {
                let (sx, sy) = source(x, y);
                let from = (sy * w + sx) * c;
                let to = (y * ow + x) * c;
                out[to..to + c].copy_from_slice(&self.data[from..from + c]);
            }
        }
        Pixels {
            width: ow as u32,
            height: oh as u32,
            channels: c,
            data: out,
        }
    }

    /// Composites RGBA over white into RGB (for formats without alpha), in place: each
    /// RGB pixel lands at or before the RGBA pixel it comes from.
    pub fn flatten(mut self) -> Pixels {
        if self.channels != 4 {
            return self;
        }
        let n = self.data.len() / 4;
        for i in 0..n {
            let p = [
                self.data[i * 4],
                self.data[i * 4 + 1],
                self.data[i * 4 + 2],
                self.data[i * 4 + 3],
            ];
            self.data[i * 3..i * 3 + 3].copy_from_slice(&over_white(p));
        }
        self.data.truncate(n * 3);
        self.data.shrink_to_fit();
        Pixels {
            channels: 3,
            ..self
        }
    }

    /// A flattened copy (see [`flatten`](Pixels::flatten)) of an RGBA bitmap.
    pub fn flattened(&self) -> Pixels {
        let data = self
            .data
            .chunks_exact(4)
            .flat_map(|p| over_white([p[0], p[1], p[2], p[3]]))
            .collect();
        Pixels {
            width: self.width,
            height: self.height,
            channels: 3,
            data,
        }
    }

    /// Whether any pixel is not fully opaque.
    pub fn has_transparency(&self) -> bool {
        self.channels == 4 && self.data.chunks_exact(4).any(|p| p[3] != 255)
    }
}

/// One RGBA pixel composited over white.
fn over_white(p: [u8; 4]) -> [u8; 3] {
    let a = u32::from(p[3]);
    let blend = |v: u8| ((u32::from(v) * a + 255 * (255 - a) + 127) / 255) as u8;
    [blend(p[0]), blend(p[1]), blend(p[2])]
}

#[cfg(test)]
mod tests {
    use super::*;

    /// 3x2 RGB bitmap whose red channel numbers the pixels 1..=6 row by row.
    fn numbered() -> Pixels {
        let data = (1..=6u8).flat_map(|v| [v, 0, 0]).collect();
        Pixels {
            width: 3,
            height: 2,
            channels: 3,
            data,
        }
    }

    fn reds(p: &Pixels) -> Vec<u8> {
        p.data.chunks(3).map(|c| c[0]).collect()
    }

    #[test]
    fn orientations_match_the_exif_definitions() {
        // Stored:  1 2 3 / 4 5 6
        assert_eq!(reds(&numbered().orient(1)), [1, 2, 3, 4, 5, 6]);
        assert_eq!(reds(&numbered().orient(2)), [3, 2, 1, 6, 5, 4]);
        assert_eq!(reds(&numbered().orient(3)), [6, 5, 4, 3, 2, 1]);
        assert_eq!(reds(&numbered().orient(4)), [4, 5, 6, 1, 2, 3]);
        // Transposing ones are 2 wide, 3 high.
        assert_eq!(reds(&numbered().orient(5)), [1, 4, 2, 5, 3, 6]);
        assert_eq!(reds(&numbered().orient(6)), [4, 1, 5, 2, 6, 3]);
        assert_eq!(reds(&numbered().orient(7)), [6, 3, 5, 2, 4, 1]);
        assert_eq!(reds(&numbered().orient(8)), [3, 6, 2, 5, 1, 4]);
        assert_eq!(
            (numbered().orient(6).width, numbered().orient(6).height),
            (2, 3)
        );
    }

    #[test]
    fn flatten_blends_over_white() {
        let p = Pixels {
            width: 2,
            height: 1,
            channels: 4,
            data: vec![0, 0, 0, 0, 10, 20, 30, 255],
        };
        assert!(p.has_transparency());
        assert_eq!(p.flattened().data, [255, 255, 255, 10, 20, 30]);
        assert_eq!(p.flatten().data, [255, 255, 255, 10, 20, 30]);
    }
}
