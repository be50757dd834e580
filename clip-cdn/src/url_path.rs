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

#[cfg(test)]
mod tests {
    use super::encode_path;

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
