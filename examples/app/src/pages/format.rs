//! How the pages write dates and sizes.

use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;
use time::macros::format_description;

/// `3 Nov 2026`.
pub fn date(at: OffsetDateTime) -> String {
    at.format(format_description!(
        "[day padding:none] [month repr:short] [year]"
    ))
    .unwrap_or_default()
}

/// The machine-readable `datetime` of a `<time>` element.
pub fn datetime(at: OffsetDateTime) -> String {
    at.format(&Rfc3339).unwrap_or_default()
}

/// `512 B`, `14.2 KB`, `3.1 MB` (powers of 1000, as file managers show them).
pub fn bytes(n: i64) -> String {
    let n = n.max(0) as f64;
    if n < 1000.0 {
        format!("{n} B")
    } else if n < 1_000_000.0 {
        format!("{:.1} KB", n / 1000.0)
    } else {
        format!("{:.1} MB", n / 1_000_000.0)
    }
}

/// `1 image`, `3 images`.
pub fn count(n: i64, one: &str, many: &str) -> String {
    if n == 1 {
        format!("1 {one}")
    } else {
        format!("{n} {many}")
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn sizes_and_counts_read_as_people_write_them() {
        assert_eq!(super::bytes(512), "512 B");
        assert_eq!(super::bytes(14_200), "14.2 KB");
        assert_eq!(super::bytes(3_100_000), "3.1 MB");
        assert_eq!(super::count(1, "image", "images"), "1 image");
        assert_eq!(super::count(0, "image", "images"), "0 images");
    }

    #[test]
    fn dates_are_short_and_machine_readable() {
        let at = time::macros::datetime!(2026-11-03 14:05:00 UTC);
        assert_eq!(super::date(at), "3 Nov 2026");
        assert_eq!(super::datetime(at), "2026-11-03T14:05:00Z");
    }
}
