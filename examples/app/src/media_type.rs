//! What an image file is, from its first bytes (the signatures clip-cdn's optimizer reads),
//! and which format a client accepts.

use clip_cdn::image::Format;

/// The format whose signature `head` starts with.
pub fn sniff(head: &[u8]) -> Option<Format> {
    match head {
        [0xFF, 0xD8, 0xFF, ..] => Some(Format::Jpeg),
        [0x89, b'P', b'N', b'G', ..] => Some(Format::Png),
        [
            b'R',
            b'I',
            b'F',
            b'F',
            _,
            _,
            _,
            _,
            b'W',
            b'E',
            b'B',
            b'P',
            ..,
        ] => Some(Format::WebP),
        [b'G', b'I', b'F', b'8', ..] => Some(Format::Gif),
        _ => None,
    }
}

/// Whether an `Accept` header names `mime` itself with a quality above zero. Wildcards do
/// not count: browsers without WebP support send `*/*` too, so WebP is served only to
/// clients that name it (as every browser that decodes it does).
pub fn names(accept: &str, mime: &str) -> bool {
    accept.split(',').any(|item| {
        let mut parts = item.split(';').map(str::trim);
        let range = parts.next().unwrap_or("");
        let refused = parts.any(|p| {
            p.strip_prefix("q=")
                .and_then(|q| q.trim().parse::<f32>().ok())
                .is_some_and(|q| q <= 0.0)
        });
        !refused && range.eq_ignore_ascii_case(mime)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sniffs_signatures() {
        assert_eq!(sniff(&[0xFF, 0xD8, 0xFF, 0xE0]), Some(Format::Jpeg));
        assert_eq!(sniff(b"\x89PNG\r\n"), Some(Format::Png));
        assert_eq!(sniff(b"RIFF\0\0\0\0WEBPVP8 "), Some(Format::WebP));
        assert_eq!(sniff(b"hello"), None);
        assert_eq!(sniff(b""), None);
    }

    #[test]
    fn accept_headers() {
        let chrome = "image/avif,image/webp,image/apng,image/svg+xml,image/*,*/*;q=0.8";
        assert!(names(chrome, "image/webp"));
        assert!(names("image/webp;q=0.9", "image/webp"));
        assert!(!names("image/jpeg,image/png", "image/webp"));
        assert!(!names("image/*,*/*", "image/webp"));
        assert!(!names("image/webp;q=0, image/jpeg", "image/webp"));
        assert!(!names("", "image/webp"));
    }
}
