//! The triggers' values in the environment. Each parser says whether a
//! value is usable; `install` warns about one that is not (install rule 1).

use std::time::Duration;

/// `TURBOWISH_ON_GROWTH`: a size from 1 byte to 1 TiB, as
/// `TURBOWISH_STACK=sampled:BYTES` takes it (`64MiB`, `512k`, `1048576`).
pub(crate) fn size(v: &str) -> Option<u64> {
    crate::heap::stack::settings::parse_bytes(v.as_bytes()).ok()
}

/// `TURBOWISH_MIN_INTERVAL`: a time of 0 or more, in seconds unless it
/// ends in a unit (`ms`, `s`, `m`, `h`): `30s`, `2m`, `0.5`.
pub(crate) fn interval(v: &str) -> Option<Duration> {
    let v = v.trim();
    let split = v
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(v.len());
    let (number, unit) = (&v[..split], v[split..].trim_start());
    let scale = match unit.to_ascii_lowercase().as_str() {
        "ms" => 1e-3,
        "" | "s" => 1.0,
        "m" | "min" => 60.0,
        "h" => 3600.0,
        _ => return None,
    };
    let n: f64 = number.parse().ok()?;
    Duration::try_from_secs_f64(n * scale).ok()
}

/// `TURBOWISH_AT_PEAK`, `TURBOWISH_AT_EXIT`: on or off.
pub(crate) fn switch(v: &str) -> Option<bool> {
    let v = v.trim().to_ascii_lowercase();
    match v.as_str() {
        "1" | "true" | "yes" | "on" => Some(true),
        "0" | "false" | "no" | "off" => Some(false),
        _ => None,
    }
}

/// `TURBOWISH_KEEP`: a whole number of files, at least 1.
pub(crate) fn keep(v: &str) -> Option<usize> {
    let v = v.trim();
    if v.is_empty() || v.len() > 9 || !v.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    v.parse().ok().filter(|&n| n >= 1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_take_binary_units() {
        assert_eq!(size("64MiB"), Some(64 << 20));
        assert_eq!(size(" 1 g "), Some(1 << 30));
        assert_eq!(size("4096"), Some(4096));
        for v in ["lots", "0", "-1", "64MiBs", "", "2TiB"] {
            assert_eq!(size(v), None, "{v}");
        }
    }

    #[test]
    fn intervals_are_seconds_unless_a_unit_says() {
        assert_eq!(interval("30s"), Some(Duration::from_secs(30)));
        assert_eq!(interval("30"), Some(Duration::from_secs(30)));
        assert_eq!(interval("2m"), Some(Duration::from_secs(120)));
        assert_eq!(interval("1 h"), Some(Duration::from_secs(3600)));
        assert_eq!(interval("250ms"), Some(Duration::from_millis(250)));
        assert_eq!(interval("0.5"), Some(Duration::from_millis(500)));
        assert_eq!(interval("0"), Some(Duration::ZERO));
        for v in [
            "soon", "-1", "1e3", "5 days", "", "s", ".", "1.2.3", "1e400",
        ] {
            assert_eq!(interval(v), None, "{v}");
        }
    }

    #[test]
    fn switches_and_counts() {
        assert_eq!(switch("1"), Some(true));
        assert_eq!(switch("Off"), Some(false));
        assert_eq!(switch("maybe"), None);
        assert_eq!(keep("3"), Some(3));
        for v in ["-1", "0", "two", "", "1.5", "99999999999"] {
            assert_eq!(keep(v), None, "{v}");
        }
    }
}
