//! Reads what the optimizer needs from an image's header, without decoding pixels:
//! the format, the dimensions (to refuse oversized images early), the EXIF orientation,
//! whether it is animated (passed through whole), and what decoding it will cost (the
//! JPEG scan count and sampling, PNG channels, WebP lossless or lossy).

mod jpeg;

use crate::error::{Error, Result};
pub(crate) use jpeg::JpegInfo;

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
    /// An animation (GIF, animated WebP, APNG): passed through whole, never cut to a frame.
    pub animated: bool,
    /// Embedded ICC profile (JPEG APP2 chunks reassembled, WebP ICCP); PNG's is read by its decoder.
    pub icc: Option<Vec<u8>>,
    /// What decoding this format needs to know.
    pub detail: Detail,
}

/// Per-format facts that decide how much memory and time decoding takes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Detail {
    Jpeg(JpegInfo),
    /// Channels once expanded to 8-bit RGB(A): 3, or 4 with an alpha channel or `tRNS`.
    Png {
        channels: u8,
    },
    /// Lossless (VP8L) decoding keeps a 4-byte-per-pixel buffer besides the output.
    WebP {
        lossless: bool,
        alpha: bool,
    },
    Gif,
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
        jpeg::probe_jpeg(data)?
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

pub(super) fn be16(d: &[u8], at: usize) -> Option<u16> {
    Some(u16::from_be_bytes([*d.get(at)?, *d.get(at + 1)?]))
}

fn be32(d: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_be_bytes(d.get(at..at + 4)?.try_into().ok()?))
}

fn probe_png(data: &[u8]) -> Result<Header> {
    let fmt = SourceFormat::Png;
    if data.get(12..16) != Some(b"IHDR") {
        return Err(corrupt(fmt, "first chunk is not IHDR"));
    }
    let width = be32(data, 16).ok_or_else(|| corrupt(fmt, "short IHDR"))?;
    let height = be32(data, 20).ok_or_else(|| corrupt(fmt, "short IHDR"))?;
    let color_type = *data.get(25).ok_or_else(|| corrupt(fmt, "short IHDR"))?;
    // The chunks before the image data: acTL makes it an APNG, tRNS adds alpha.
    let (mut animated, mut transparency) = (false, false);
    let mut pos = 8usize;
    while let Some(chunk) = data.get(pos..pos + 8) {
        let Ok(len) = usize::try_from(u32::from_be_bytes([chunk[0], chunk[1], chunk[2], chunk[3]]))
        else {
            break;
        };
        match &chunk[4..8] {
            b"acTL" => animated = true,
            b"tRNS" => transparency = true,
            b"IDAT" | b"IEND" => break,
            _ => {}
        }
        let Some(next) = pos.checked_add(12).and_then(|p| p.checked_add(len)) else {
            break;
        };
        pos = next;
    }
    let channels = match color_type {
        4 | 6 => 4,
        _ if transparency => 4,
        _ => 3,
    };
    Ok(Header {
        format: fmt,
        width,
        height,
        orientation: 1,
        animated,
        icc: None,
        detail: Detail::Png { channels },
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
        detail: Detail::WebP {
            lossless: !matches!(features.format(), Some(webp::BitstreamFormat::Lossy)),
            alpha: features.has_alpha(),
        },
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
        detail: Detail::Gif,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

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
