//! The JPEG side of the probe: walks every marker of the file (the entropy-coded data
//! between them with `memchr`), so it knows the frame's sampling factors, the EXIF
//! orientation, the ICC profile, whether an Adobe marker is present, and how many scans
//! there are, before libjpeg is given the file.

use super::{Detail, Header, SourceFormat, be16, corrupt};
use crate::error::Result;

/// What the walk found besides the size.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct JpegInfo {
    /// Start-of-scan markers in the whole file: 1 for a usual baseline JPEG, about 10 for
    /// a progressive one; thousands make libjpeg spend minutes (libjpeg-turbo LJT-01-003).
    pub scans: u32,
    /// Progressive (SOF2, SOF6, SOF10, SOF14): libjpeg keeps full-size coefficient buffers.
    pub progressive: bool,
    /// Horizontal and vertical sampling factors of each component.
    pub sampling: Vec<(u8, u8)>,
    /// An Adobe APP14 marker: CMYK data is stored inverted (Photoshop's convention).
    pub adobe: bool,
}

/// The frame header (SOFn) fields the probe keeps.
struct Frame {
    width: u32,
    height: u32,
    sampling: Vec<(u8, u8)>,
    progressive: bool,
}

pub(super) fn probe_jpeg(data: &[u8]) -> Result<Header> {
    let fmt = SourceFormat::Jpeg;
    let mut pos = 2;
    let mut orientation = 1;
    let mut frame: Option<Frame> = None;
    let mut icc_chunks: Vec<(u8, &[u8])> = Vec::new();
    let mut adobe = false;
    let mut scans = 0u32;
    loop {
        // Markers may be preceded by any number of 0xFF fill bytes.
        while data.get(pos) == Some(&0xFF) && data.get(pos + 1) == Some(&0xFF) {
            pos += 1;
        }
        let (Some(&0xFF), Some(&marker)) = (data.get(pos), data.get(pos + 1)) else {
            return Err(corrupt(
                fmt,
                if scans == 0 {
                    "header ends before the image data"
                } else {
                    "no end-of-image marker: the file is truncated"
                },
            ));
        };
        pos += 2;
        if marker == 0x01 || (0xD0..=0xD7).contains(&marker) {
            continue; // standalone markers carry no length
        }
        if marker == 0xD9 {
            if scans == 0 {
                return Err(corrupt(fmt, "end of image before any scan"));
            }
            break;
        }
        let len =
            be16(data, pos).ok_or_else(|| corrupt(fmt, "file ends inside a marker"))? as usize;
        if len < 2 {
            return Err(corrupt(fmt, "marker length below 2"));
        }
        let body = data
            .get(pos + 2..pos + len)
            .ok_or_else(|| corrupt(fmt, "marker runs past the end of the file"))?;
        match marker {
            0xE1 if body.starts_with(b"Exif\0\0") => {
                orientation = exif_orientation(&body[6..]).unwrap_or(1);
            }
            // ICC_PROFILE\0, sequence number (1-based), count, data.
            0xE2 if body.len() > 14 && body.starts_with(b"ICC_PROFILE\0") => {
                icc_chunks.push((body[12], &body[14..]));
            }
            0xEE if body.starts_with(b"Adobe") => adobe = true,
            // SOF0..SOF15 except DHT (C4), JPG (C8) and DAC (CC).
            0xC0..=0xCF if !matches!(marker, 0xC4 | 0xC8 | 0xCC) => {
                if frame.is_some() {
                    return Err(corrupt(fmt, "two frame headers"));
                }
                frame = Some(
                    frame_header(body, marker).ok_or_else(|| corrupt(fmt, "short frame header"))?,
                );
            }
            0xDA => {
                if frame.is_none() {
                    return Err(corrupt(fmt, "no frame header before the scan"));
                }
                scans += 1;
                pos += len;
                pos = end_of_entropy_data(data, pos);
                continue;
            }
            _ => {}
        }
        pos += len;
    }
    let Some(Frame {
        width,
        height,
        sampling,
        progressive,
    }) = frame
    else {
        return Err(corrupt(fmt, "no frame header"));
    };
    icc_chunks.sort_by_key(|(seq, _)| *seq);
    let icc = (!icc_chunks.is_empty()).then(|| {
        icc_chunks
            .iter()
            .flat_map(|(_, d)| d.iter().copied())
            .collect()
    });
    Ok(Header {
        format: fmt,
        width,
        height,
        orientation,
        animated: false,
        icc,
        detail: Detail::Jpeg(JpegInfo {
            scans,
            progressive,
            sampling,
            adobe,
        }),
    })
}

/// Width, height, per-component sampling factors and whether the frame is progressive.
fn frame_header(body: &[u8], marker: u8) -> Option<Frame> {
    let height = be16(body, 1)?;
    let width = be16(body, 3)?;
    let count = usize::from(*body.get(5)?);
    let sampling = (0..count)
        .map(|i| {
            let hv = *body.get(6 + i * 3 + 1)?;
            Some(((hv >> 4).max(1), (hv & 15).max(1)))
        })
        .collect::<Option<Vec<_>>>()?;
    Some(Frame {
        width: u32::from(width),
        height: u32::from(height),
        sampling,
        progressive: matches!(marker, 0xC2 | 0xC6 | 0xCA | 0xCE),
    })
}

/// The position of the first marker after the entropy-coded data starting at `pos`:
/// in the data, 0xFF is followed by 0x00 (a stuffed byte), a restart marker or fill.
fn end_of_entropy_data(data: &[u8], mut pos: usize) -> usize {
    while let Some(at) = data.get(pos..).and_then(|d| memchr::memchr(0xFF, d)) {
        let ff = pos + at;
        match data.get(ff + 1) {
            Some(0x00) | Some(0xD0..=0xD7) | Some(0xFF) => pos = ff + 1,
            Some(_) => return ff,
            None => return data.len(),
        }
    }
    data.len()
}

/// Orientation tag (0x0112) of IFD0 in a TIFF-structured EXIF block.
pub(super) fn exif_orientation(tiff: &[u8]) -> Option<u8> {
    let little = match tiff.get(..4)? {
        b"II*\0" => true,
        b"MM\0*" => false,
        _ => return None,
    };
    let u16_at = |at: usize| -> Option<u16> {
        let b = [*tiff.get(at)?, *tiff.get(at + 1)?];
        Some(if little {
            u16::from_le_bytes(b)
        } else {
            u16::from_be_bytes(b)
        })
    };
    let u32_at = |at: usize| -> Option<u32> {
        let b: [u8; 4] = tiff.get(at..at + 4)?.try_into().ok()?;
        Some(if little {
            u32::from_le_bytes(b)
        } else {
            u32::from_be_bytes(b)
        })
    };
    let ifd = u32_at(4)? as usize;
    let count = u16_at(ifd)? as usize;
    (0..count).find_map(|i| {
        let entry = ifd.checked_add(2 + i * 12)?;
        (u16_at(entry)? == 0x0112).then_some(())?;
        let value = u16_at(entry + 8)?;
        (1..=8).contains(&value).then_some(value as u8)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exif_orientation_reads_both_byte_orders() {
        let mut le = b"II*\0\x08\0\0\0\x01\0\x12\x01\x03\0\x01\0\0\0\x06\0\0\0".to_vec();
        assert_eq!(exif_orientation(&le), Some(6));
        le[18] = 9; // out of range values are ignored
        assert_eq!(exif_orientation(&le), None);
        let be = b"MM\0*\0\0\0\x08\0\x01\x01\x12\0\x03\0\0\0\x01\0\x03\0\0";
        assert_eq!(exif_orientation(be), Some(3));
    }

    #[test]
    fn entropy_data_ends_at_the_first_real_marker() {
        let data = [1, 0xFF, 0x00, 2, 0xFF, 0xD3, 3, 0xFF, 0xFF, 0xDA, 9];
        assert_eq!(end_of_entropy_data(&data, 0), 8);
        assert_eq!(end_of_entropy_data(&[1, 2, 3], 0), 3);
    }
}
