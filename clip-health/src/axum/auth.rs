//! Bearer-token parsing and a comparison whose time does not depend on where the bytes differ.

use subtle::ConstantTimeEq;

/// The token of an `Authorization: Bearer <token>` value (scheme case-insensitive, RFC 6750).
pub(crate) fn bearer_token(header: &str) -> Option<&str> {
    let (scheme, token) = header.trim().split_once(' ')?;
    scheme
        .eq_ignore_ascii_case("bearer")
        .then(|| token.trim())
        .filter(|t| !t.is_empty())
}

/// Compares in time that depends only on the lengths (`subtle`, written so the optimiser cannot
/// add an early exit), so a caller cannot find the token byte by byte by timing the answers.
/// (The length itself is not treated as secret.)
pub(crate) fn constant_time_eq(expected: &[u8], presented: &[u8]) -> bool {
    expected.ct_eq(presented).into()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_bearer_headers() {
        assert_eq!(bearer_token("Bearer abc"), Some("abc"));
        assert_eq!(bearer_token("bearer  abc "), Some("abc"));
        assert_eq!(bearer_token("Basic abc"), None);
        assert_eq!(bearer_token("Bearer"), None);
        assert_eq!(bearer_token("Bearer "), None);
    }

    #[test]
    fn compares_tokens() {
        assert!(constant_time_eq(b"s3cret", b"s3cret"));
        assert!(!constant_time_eq(b"s3cret", b"s3creT"));
        assert!(!constant_time_eq(b"s3cret", b"s3cre"));
        assert!(!constant_time_eq(b"s3cret", b"s3cret!"));
        assert!(!constant_time_eq(b"s3cret", b""));
    }
}
