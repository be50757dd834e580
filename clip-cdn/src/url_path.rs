//! Asset paths as they appear inside URLs: percent-encoded where a raw byte would break
//! the URL or the HTML around it (a space ends a `srcset` candidate, a comma separates
//! them, `"` or `<` have no business in an attribute).

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
    use super::{encode_path, has_dot_segment};

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
    }
}
