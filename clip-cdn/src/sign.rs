//! HMAC-SHA256 signatures of transform URLs, so only URLs we built make the origin work.
//! The first key signs; every key verifies, which is how keys rotate.

use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;

/// Signature length in bytes (128 bits, hex-encoded in URLs).
const SIG_BYTES: usize = 16;

fn mac(key: &str, message: &str) -> Option<Hmac<Sha256>> {
    let mut m = <Hmac<Sha256> as KeyInit>::new_from_slice(key.as_bytes()).ok()?;
    m.update(message.as_bytes());
    Some(m)
}

/// Hex signature of `message` with `key`.
pub(crate) fn sign(key: &str, message: &str) -> String {
    let Some(m) = mac(key, message) else {
        return String::new();
    };
    let tag = m.finalize().into_bytes();
    let mut out = String::with_capacity(SIG_BYTES * 2);
    for b in &tag[..SIG_BYTES] {
        const HEX: &[u8; 16] = b"0123456789abcdef";
        out.push(HEX[usize::from(b >> 4)] as char);
        out.push(HEX[usize::from(b & 15)] as char);
    }
    out
}

/// Whether `signature` is a valid signature of `message` under any of `keys` (constant time).
pub(crate) fn verify(keys: &[String], message: &str, signature: &str) -> bool {
    let Some(tag) = decode_hex(signature) else {
        return false;
    };
    if tag.len() != SIG_BYTES {
        return false;
    }
    keys.iter()
        .any(|k| mac(k, message).is_some_and(|m| m.verify_truncated_left(&tag).is_ok()))
}

/// Lowercase hex only, as [`sign`] writes it: `from_str_radix` would also take `+f` and
/// `AB`, giving every signed URL look-alikes that miss the CDN cache and reach the origin.
fn decode_hex(s: &str) -> Option<Vec<u8>> {
    let nibble = |c: u8| match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'a'..=b'f' => Some(c - b'a' + 10),
        _ => None,
    };
    s.as_bytes()
        .chunks(2)
        .map(|pair| match pair {
            [hi, lo] => Some(nibble(*hi)? << 4 | nibble(*lo)?),
            _ => None,
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signs_verifies_and_rotates() {
        let old = "old-key-0123456789".to_string();
        let new = "new-key-0123456789".to_string();
        let s = sign(&old, "/a.jpg?w=300");
        assert_eq!(s.len(), 32);
        assert!(verify(&[new.clone(), old.clone()], "/a.jpg?w=300", &s));
        assert!(!verify(std::slice::from_ref(&new), "/a.jpg?w=300", &s));
        assert!(!verify(std::slice::from_ref(&old), "/a.jpg?w=301", &s));
        assert!(!verify(std::slice::from_ref(&old), "/a.jpg?w=300", "zz"));
        let plus = format!("+{}", &s[1..]);
        let upper = s.to_uppercase();
        // Both hold whatever the signature's digits are: a sign or an uppercase digit
        // is never hex as `sign` writes it.
        assert!(!verify(std::slice::from_ref(&old), "/a.jpg?w=300", &plus));
        let upper = format!("{}A", &upper[..upper.len() - 1]);
        assert!(!verify(&[old], "/a.jpg?w=300", &upper));
    }
}
