//! Human-readable quantities: byte counts, durations and UTC timestamps.

/// Formats a byte count in B, KiB, MiB or GiB, with one decimal above bytes.
pub fn bytes(n: u64) -> String {
    if n < 1024 {
        return format!("{n} B");
    }
    const UNITS: [&str; 3] = ["KiB", "MiB", "GiB"];
    let mut value = n as f64 / 1024.0;
    let mut unit = 0;
    // Promote when the rounded value would read 1024.0 of the smaller unit.
    while unit + 1 < UNITS.len() && (value * 10.0).round() >= 10240.0 {
        value /= 1024.0;
        unit += 1;
    }
    format!("{value:.1} {}", UNITS[unit])
}

/// A change in bytes with its sign: `+1.0 KiB`, `-12 B`, `0 B`.
pub fn signed_bytes(n: i64) -> String {
    match n {
        0 => "0 B".to_owned(),
        n if n > 0 => format!("+{}", bytes(n as u64)),
        n => format!("-{}", bytes(n.unsigned_abs())),
    }
}

/// A change in a count with its sign: `+3`, `-1`, `0`.
pub fn signed(n: i64) -> String {
    if n > 0 {
        format!("+{n}")
    } else {
        n.to_string()
    }
}

/// `n` and `noun`, plural unless `n` is 1: "1 block", "3 blocks".
pub fn count(n: u64, noun: &str) -> String {
    match n {
        1 => format!("1 {noun}"),
        n => format!("{n} {noun}s"),
    }
}

/// The counts that are not zero, as `50 tokio, 2 traced`, in the order
/// given (the empty string when all are zero).
pub fn nonzero(counts: &[(u64, &str)]) -> String {
    let parts: Vec<String> = (counts.iter())
        .filter(|(n, _)| *n > 0)
        .map(|(n, what)| format!("{n} {what}"))
        .collect();
    parts.join(", ")
}

/// A name, or `-` for none, for a table cell.
pub fn or_dash(name: &str) -> String {
    match name {
        "" => "-".to_owned(),
        n => n.to_owned(),
    }
}

/// Formats nanoseconds as milliseconds with one decimal.
pub fn millis(ns: u64) -> String {
    format!("{:.1} ms", ns as f64 / 1e6)
}

/// Formats nanoseconds since the Unix epoch as UTC ISO-8601 with
/// milliseconds, such as `2023-11-14T22:13:20.123Z`.
pub fn utc_iso8601(time_ns: u64) -> String {
    let secs = time_ns / 1_000_000_000;
    let millis = (time_ns % 1_000_000_000) / 1_000_000;
    let (days, day_secs) = (secs / 86_400, secs % 86_400);
    let (year, month, day) = civil_from_days(days);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}.{millis:03}Z",
        day_secs / 3600,
        day_secs / 60 % 60,
        day_secs % 60
    )
}

/// The proleptic Gregorian date `days` days after 1970-01-01, after Howard
/// Hinnant's `civil_from_days`, for non-negative days only.
fn civil_from_days(days: u64) -> (u64, u64, u64) {
    let z = days + 719_468; // days since 0000-03-01
    let era = z / 146_097;
    let day_of_era = z % 146_097;
    let year_of_era =
        (day_of_era - day_of_era / 1460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let mp = (5 * day_of_year + 2) / 153; // month, counted from March
    let day = day_of_year - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = year_of_era + era * 400 + u64::from(month <= 2);
    (year, month, day)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bytes_use_binary_units() {
        assert_eq!(bytes(0), "0 B");
        assert_eq!(bytes(1023), "1023 B");
        assert_eq!(bytes(1024), "1.0 KiB");
        assert_eq!(bytes(1536), "1.5 KiB");
        assert_eq!(bytes(1024 * 1024 - 1), "1.0 MiB");
        assert_eq!(bytes(256 << 20), "256.0 MiB");
        assert_eq!(bytes(3 << 30), "3.0 GiB");
        assert_eq!(bytes(5 << 40), "5120.0 GiB");
        assert_eq!(bytes(u64::MAX), "17179869184.0 GiB");
    }

    #[test]
    fn changes_carry_their_sign() {
        assert_eq!(signed_bytes(0), "0 B");
        assert_eq!(signed_bytes(1024), "+1.0 KiB");
        assert_eq!(signed_bytes(-12), "-12 B");
        assert_eq!(signed_bytes(i64::MIN), "-8589934592.0 GiB");
        assert_eq!(
            (signed(3), signed(0), signed(-1)),
            ("+3".into(), "0".into(), "-1".into())
        );
    }

    #[test]
    fn millis_have_one_decimal() {
        assert_eq!(millis(0), "0.0 ms");
        assert_eq!(millis(1_500_000), "1.5 ms");
        assert_eq!(millis(12_345_678_900), "12345.7 ms");
    }

    #[test]
    fn timestamps_are_utc_iso8601() {
        assert_eq!(utc_iso8601(0), "1970-01-01T00:00:00.000Z");
        assert_eq!(
            utc_iso8601(1_700_000_000_123_456_789),
            "2023-11-14T22:13:20.123Z"
        );
        // Leap days, and the end of a leap year.
        assert_eq!(
            utc_iso8601(951_782_400 * 1_000_000_000),
            "2000-02-29T00:00:00.000Z"
        );
        assert_eq!(
            utc_iso8601(1_735_689_599 * 1_000_000_000),
            "2024-12-31T23:59:59.000Z"
        );
        assert_eq!(
            utc_iso8601(4_107_542_400 * 1_000_000_000),
            "2100-03-01T00:00:00.000Z"
        );
        assert_eq!(utc_iso8601(u64::MAX), "2554-07-21T23:34:33.709Z");
    }
}
