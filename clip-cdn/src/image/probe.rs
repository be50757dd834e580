//! Reads what the optimizer needs from an image's header, without decoding pixels:
//! the format, the dimensions (to refuse oversized images early) and the EXIF orientation.

use crate::error::{Error, Result};

/// Container formats the optimizer recognises by signature.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum SourceFormat {
    Jpeg,
    Png,
    WebP,
    Gif,
}

impl SourceFormat {
    pub(crate) fn name(self) -> &'static str {
        match self {
            SourceFormat::Jpeg => "JPEG",
            SourceFormat::Png => "PNG",
            SourceFormat::WebP => "WebP",
            SourceFormat::Gif => "GIF",
        }
    }
}

/// What the header says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Header {
    pub format: SourceFormat,
    pub width: u32,
    pub height: u32,
    /// EXIF orientation 1..=8 (1 = as stored).
    pub orientation: u8,
    /// An animated WebP: passed through, like GIF.
    pub animated: bool,
    /// Embedded ICC profile (JPEG APP2 chunks reassembled, WebP ICCP); PNG's is read by its decoder.
    pub icc: Option<Vec<u8>>,
}

pub(crate) fn corrupt(format: SourceFormat, detail: impl Into<String>) -> Error {
    Error::Corrupt {
        format: format.name(),
        detail: detail.into(),
    }
}

/// Sniffs the signature and reads the header.
pub(crate) fn probe(data: &[u8]) -> Result<Header> {
    if data.is_empty() {
        return Err(Error::EmptyInput);
    }
    let header = if data.starts_with(&[0xFF, 0xD8, 0xFF]) {
        probe_jpeg(data)?
    } else if data.starts_with(b"\x89PNG\r\n\x1a\n") {
        probe_png(data)?
    } else if data.len() >= 12 && &data[..4] == b"RIFF" && &data[8..12] == b"WEBP" {
        probe_webp(data)?
    } else if data.starts_with(b"GIF87a") || data.starts_with(b"GIF89a") {
        probe_gif(data)?
    } else {
        return Err(Error::UnknownFormat);
    };
    if header.width == 0 || header.height == 0 {
        return Err(corrupt(header.format, "zero width or height in header"));
    }
    Ok(header)
}

fn be16(d: &[u8], at: usize) -> Option<u16> {
    Some(u16::from_be_bytes([*d.get(at)?, *d.get(at + 1)?]))
}

fn be32(d: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_be_bytes(d.get(at..at + 4)?.try_into().ok()?))
}

fn probe_jpeg(data: &[u8]) -> Result<Header> {
    let fmt = SourceFormat::Jpeg;
    let mut pos = 2;
    let mut orientation = 1;
    let mut size = None;
    let mut icc_chunks: Vec<(u8, &[u8])> = Vec::new();
    loop {
        // Markers may be preceded by any number of 0xFF fill bytes.
        while data.get(pos) == Some(&0xFF) && data.get(pos + 1) == Some(&0xFF) {
            pos += 1;
        }
        let (Some(&0xFF), Some(&marker)) = (data.get(pos), data.get(pos + 1)) else {
            return Err(corrupt(fmt, "header ends before the image data"));
        };
        pos += 2;
        if marker == 0x01 || (0xD0..=0xD7).contains(&marker) {
            continue; // standalone markers carry no length
        }
        let len =
            be16(data, pos).ok_or_else(|| corrupt(fmt, "header ends inside a marker"))? as usize;
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
            // SOF0..SOF15 except DHT (C4), JPG (C8) and DAC (CC).
            0xC0..=0xCF if !matches!(marker, 0xC4 | 0xC8 | 0xCC) => {
                let h = be16(body, 1).ok_or_else(|| corrupt(fmt, "short frame header"))?;
                let w = be16(body, 3).ok_or_else(|| corrupt(fmt, "short frame header"))?;
                size = Some((u32::from(w), u32::from(h)));
            }
            0xDA => {
                let (width, height) =
                    size.ok_or_else(|| corrupt(fmt, "no frame header before the scan"))?;
                // libjpeg pads a truncated scan with grey and only warns; we call it corrupt.
                let scan = &data[pos + len..];
                if !scan.windows(2).any(|w| w == [0xFF, 0xD9]) {
                    return Err(corrupt(
                        fmt,
                        "no end-of-image marker: the file is truncated",
                    ));
                }
                icc_chunks.sort_by_key(|(seq, _)| *seq);
                let icc = (!icc_chunks.is_empty()).then(|| {
                    icc_chunks
                        .iter()
                        .flat_map(|(_, d)| d.iter().copied())
                        .collect()
                });
                return Ok(Header {
                    format: fmt,
                    width,
                    height,
                    orientation,
                    animated: false,
                    icc,
                });
            }
            0xD9 => return Err(corrupt(fmt, "end of image before any scan")),
            _ => {}
        }
        pos += len;
    }
}

/// Orientation tag (0x0112) of IFD0 in a TIFF-structured EXIF block.
fn exif_orientation(tiff: &[u8]) -> Option<u8> {
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

fn probe_png(data: &[u8]) -> Result<Header> {
    let fmt = SourceFormat::Png;
    if data.get(12..16) != Some(b"IHDR") {
        return Err(corrupt(fmt, "first chunk is not IHDR"));
    }
    let width = be32(data, 16).ok_or_else(|| corrupt(fmt, "short IHDR"))?;
    let height = be32(data, 20).ok_or_else(|| corrupt(fmt, "short IHDR"))?;
    Ok(Header {
        format: fmt,
        width,
        height,
        orientation: 1,
        animated: false,
        icc: None,
    })
}

fn probe_webp(data: &[u8]) -> Result<Header> {
    let fmt = SourceFormat::WebP;
    let features = webp::BitstreamFeatures::new(data)
        .ok_or_else(|| corrupt(fmt, "unreadable bitstream header"))?;
    Ok(Header {
        format: fmt,
        width: features.width(),
        height: features.height(),
        orientation: 1,
        animated: features.has_animation(),
        icc: webp_chunk(data, b"ICCP").map(<[u8]>::to_vec),
    })
}

/// The body of the first RIFF chunk named `tag` in a WebP file.
fn webp_chunk<'a>(data: &'a [u8], tag: &[u8; 4]) -> Option<&'a [u8]> {
    let mut pos = 12usize;
    while let Some(header) = data.get(pos..pos + 8) {
        let size = u32::from_le_bytes(header[4..8].try_into().ok()?) as usize;
        let body = data.get(pos + 8..pos.checked_add(8)?.checked_add(size)?)?;
        if &header[..4] == tag {
            return Some(body);
        }
        pos = pos.checked_add(8 + size + (size & 1))?;
    }
    None
}

fn probe_gif(data: &[u8]) -> Result<Header> {
    let fmt = SourceFormat::Gif;
    let le16 = |at: usize| {
        data.get(at..at + 2)
            .map(|b| u32::from(u16::from_le_bytes([b[0], b[1]])))
    };
    let width = le16(6).ok_or_else(|| corrupt(fmt, "short logical screen descriptor"))?;
    let height = le16(8).ok_or_else(|| corrupt(fmt, "short logical screen descriptor"))?;
    Ok(Header {
        format: fmt,
        width,
        height,
        orientation: 1,
        animated: true,
        icc: None,
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
    fn unknown_and_empty_inputs_are_typed_errors() {
        assert!(matches!(probe(b""), Err(Error::EmptyInput)));
        assert!(matches!(probe(b"hello world"), Err(Error::UnknownFormat)));
        assert!(matches!(
            probe(&[0xFF, 0xD8, 0xFF]),
            Err(Error::Corrupt { .. })
        ));
    }
}
