//! Asset paths as they appear inside URLs: percent-encoded where a raw byte would break
//! the URL or the HTML around it (a space ends a `srcset` candidate, a comma separates
//! them, `"` or `<` have no business in an attribute).

/// `images/a.jpg`, `/images/a.jpg` and `/images/a.jpg?x` name the same asset.
/// Leading slashes (and backslashes, which browsers read as slashes) collapse into one:
/// a root-relative `//evil.example/x.js` would otherwise load from another host.
pub(crate) fn normalize(path: &str) -> String {
    let path = path.split(['?', '#']).next().unwrap_or_default();
    format!("/{}", path.trim_start_matches(['/', '\\']))
}

/// `path` with spaces, commas, quotes, brackets, controls and non-ASCII bytes
/// percent-encoded. `%` is kept, so an already-encoded path comes back unchanged and
/// the origin may verify a signature against either form.
pub(crate) fn encode_path(path: &str) -> String {
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    let mut out = String::with_capacity(path.len());
    for &b in path.as_bytes() {
        let keep = b.is_ascii_alphanumeric() || b"-._~/!$&'()*+;=:@%".contains(&b);
        if keep {
            out.push(char::from(b));
        } else {
            out.push('%');
            out.push(char::from(HEX[usize::from(b >> 4)]));
            out.push(char::from(HEX[usize::from(b & 15)]));
        }
    }
    out
}

/// `path` with its `%XX` escapes decoded; `None` when an escape is malformed or the
/// result is not UTF-8. The inverse of [`encode_path`] for the paths it encodes.
pub(crate) fn decode_path(path: &str) -> Option<String> {
    let mut out = Vec::with_capacity(path.len());
    let mut rest = path.as_bytes();
    while let Some((&b, tail)) = rest.split_first() {
        if b == b'%' {
            let hex = tail
                .get(..2)
                .filter(|h| h.iter().all(u8::is_ascii_hexdigit))?;
            out.push(u8::from_str_radix(std::str::from_utf8(hex).ok()?, 16).ok()?);
            rest = &tail[2..];
        } else {
            out.push(b);
            rest = tail;
        }
    }
    String::from_utf8(out).ok()
}

/// Whether `path` has a `.` or `..` segment, also percent-encoded (`%2e%2e`) or behind a
/// backslash: URL parsing resolves those, so `/x/../api/admin` joined to
/// `https://origin/static` would fetch `https://origin/api/admin`, outside the base.
pub(crate) fn has_dot_segment(path: &str) -> bool {
    path.split(['/', '\\']).any(|segment| {
        let dots = segment.to_ascii_lowercase().replace("%2e", ".");
        dots == "." || dots == ".."
    })
}

#[cfg(test)]
mod tests {
    use super::{decode_path, encode_path, has_dot_segment};

    #[test]
    fn dot_segments_in_every_spelling() {
        for path in [
            "/../a",
            "/a/..",
            "/./a",
            "/a/%2e%2E/b",
            "/a/.%2e/b",
            "/a\\..\\b",
            "/%2e/a",
        ] {
            assert!(has_dot_segment(path), "{path}");
        }
        for path in [
            "/a/b.c",
            "/..a/b",
            "/a../b",
            "/.well-known/x",
            "/a/%2e%2e%2e",
        ] {
            assert!(!has_dot_segment(path), "{path}");
        }
    }

    #[test]
    fn encodes_what_breaks_urls_and_keeps_the_rest() {
        assert_eq!(encode_path("/images/a-b_c.jpg"), "/images/a-b_c.jpg");
        assert_eq!(encode_path("/my photo, 2.jpg"), "/my%20photo%2C%202.jpg");
        assert_eq!(encode_path("/a\"<b>\n.jpg"), "/a%22%3Cb%3E%0A.jpg");
        assert_eq!(encode_path("/café.jpg"), "/caf%C3%A9.jpg");
        let once = encode_path("/my photo.jpg");
        assert_eq!(encode_path(&once), once, "idempotent");
        for raw in ["/my photo, 2.jpg", "/café.jpg", "/a\"<b>.jpg"] {
            assert_eq!(decode_path(&encode_path(raw)).as_deref(), Some(raw));
        }
        assert_eq!(decode_path("/bad%2"), None);
    }
}
