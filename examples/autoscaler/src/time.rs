//! Wall-clock times as RFC 3339 text (UTC, milliseconds), the form `/status` uses.

use std::time::{Duration, SystemTime};

/// `at` as `2026-11-30T05:46:59.123Z` (a time before 1970, which only a broken clock gives,
/// as 1970: the formatter cannot show it).
pub fn rfc3339(at: SystemTime) -> String {
    humantime::format_rfc3339_millis(at.max(SystemTime::UNIX_EPOCH)).to_string()
}

/// Now, as [`rfc3339`].
pub fn rfc3339_now() -> String {
    rfc3339(SystemTime::now())
}

/// Seconds from `now` until `until`, 0 when it is past.
pub fn seconds_until(until: SystemTime, now: SystemTime) -> f64 {
    until
        .duration_since(now)
        .unwrap_or(Duration::ZERO)
        .as_secs_f64()
}

/// Serde for a `SystemTime` as RFC 3339 text (`#[serde(with = "crate::time::text")]`).
pub mod text {
    use std::time::SystemTime;

    use serde::{Deserialize, Deserializer, Serializer};

    /// Writes `at` as RFC 3339.
    pub fn serialize<S: Serializer>(at: &SystemTime, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&super::rfc3339(*at))
    }

    /// Reads RFC 3339.
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<SystemTime, D::Error> {
        let text = String::deserialize(d)?;
        humantime::parse_rfc3339_weak(&text).map_err(serde::de::Error::custom)
    }
}

/// Serde for an `Option<SystemTime>` as RFC 3339 text or null.
pub mod text_opt {
    use std::time::SystemTime;

    use serde::{Deserialize, Deserializer, Serializer};

    /// Writes `at` as RFC 3339, or null.
    pub fn serialize<S: Serializer>(at: &Option<SystemTime>, s: S) -> Result<S::Ok, S::Error> {
        match at {
            Some(at) => s.serialize_str(&super::rfc3339(*at)),
            None => s.serialize_none(),
        }
    }

    /// Reads RFC 3339 or null.
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<SystemTime>, D::Error> {
        Option::<String>::deserialize(d)?
            .map(|t| humantime::parse_rfc3339_weak(&t).map_err(serde::de::Error::custom))
            .transpose()
    }
}
