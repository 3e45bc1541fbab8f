//! Durations as Pacemaker writes them (`30s`, `5min`, `500ms`, `2h`, `PT1M30S`, plain
//! seconds), parsed strictly into milliseconds.
//!
//! Accepted forms:
//!
//! | form | meaning |
//! | --- | --- |
//! | `N` | N seconds |
//! | `Nms`, `Nmsec` | N milliseconds |
//! | `Nus`, `Nusec` | N microseconds (rounded down to whole milliseconds) |
//! | `Ns`, `Nsec` | N seconds |
//! | `Nm`, `Nmin` | N minutes |
//! | `Nh`, `Nhr` | N hours |
//! | `PnWnDTnHnMnS` | ISO 8601 duration (weeks, days, hours, minutes, seconds; no years or months) |
//!
//! Units are case-insensitive and may be separated from the number by spaces. Anything
//! else (negative numbers, fractions, unknown units, trailing text) is an error, where
//! Pacemaker would silently take a default.

use std::fmt;

/// A string that is not a duration.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid duration '{0}': expected a whole number with an optional unit (ms, s, min, h), e.g. \"30s\", or an ISO 8601 duration such as \"PT1M\"")]
pub struct DurationError(pub String);

/// Parse a duration into milliseconds.
pub fn parse_duration_ms(s: &str) -> Result<u64, DurationError> {
    let err = || DurationError(s.to_string());
    let t = s.trim();
    if t.starts_with('P') || t.starts_with('p') {
        return parse_iso8601(t).ok_or_else(err);
    }
    let digits_end = t
        .char_indices()
        .find(|(_, c)| !c.is_ascii_digit())
        .map(|(i, _)| i)
        .unwrap_or(t.len());
    if digits_end == 0 {
        return Err(err());
    }
    let n: u64 = t[..digits_end].parse().map_err(|_| err())?;
    let unit = t[digits_end..].trim().to_ascii_lowercase();
    let ms = match unit.as_str() {
        "" | "s" | "sec" => n.checked_mul(1000),
        "ms" | "msec" => Some(n),
        "us" | "usec" => Some(n / 1000),
        "m" | "min" => n.checked_mul(60_000),
        "h" | "hr" => n.checked_mul(3_600_000),
        _ => None,
    };
    ms.ok_or_else(err)
}

fn parse_iso8601(t: &str) -> Option<u64> {
    let rest = &t[1..];
    let mut total: u64 = 0;
    let mut in_time = false;
    let mut num = String::new();
    let mut any = false;
    for c in rest.chars() {
        if c.is_ascii_digit() {
            num.push(c);
            continue;
        }
        let c = c.to_ascii_uppercase();
        if c == 'T' {
            if in_time || !num.is_empty() {
                return None;
            }
            in_time = true;
            continue;
        }
        if num.is_empty() {
            return None;
        }
        let n: u64 = num.parse().ok()?;
        num.clear();
        let factor: u64 = match (in_time, c) {
            (false, 'W') => 7 * 86_400_000,
            (false, 'D') => 86_400_000,
            (true, 'H') => 3_600_000,
            (true, 'M') => 60_000,
            (true, 'S') => 1000,
            _ => return None,
        };
        total = total.checked_add(n.checked_mul(factor)?)?;
        any = true;
    }
    if !num.is_empty() || !any {
        return None;
    }
    Some(total)
}

/// A duration in milliseconds, written the way a person would (`30s`, `5min`, `1h`,
/// `1500ms`); [`parse_duration_ms`] reads it back to the same value.
pub fn format_duration_ms(ms: u64) -> String {
    DurationDisplay(ms).to_string()
}

struct DurationDisplay(u64);

impl fmt::Display for DurationDisplay {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let ms = self.0;
        if ms == 0 {
            write!(f, "0s")
        } else if ms.is_multiple_of(3_600_000) {
            write!(f, "{}h", ms / 3_600_000)
        } else if ms.is_multiple_of(60_000) {
            write!(f, "{}min", ms / 60_000)
        } else if ms.is_multiple_of(1000) {
            write!(f, "{}s", ms / 1000)
        } else {
            write!(f, "{ms}ms")
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_pacemaker_spellings() {
        let cases = [
            ("30", 30_000),
            ("30s", 30_000),
            ("30 sec", 30_000),
            ("500ms", 500),
            ("2m", 120_000),
            ("5min", 300_000),
            ("5MIN", 300_000),
            ("1h", 3_600_000),
            ("2hr", 7_200_000),
            ("1500us", 1),
            ("PT30S", 30_000),
            ("PT1M30S", 90_000),
            ("P1DT1H", 90_000_000),
            ("P1W", 604_800_000),
            (" 0 ", 0),
        ];
        for (text, ms) in cases {
            assert_eq!(parse_duration_ms(text), Ok(ms), "{text}");
        }
    }

    #[test]
    fn rejects_what_is_not_a_duration() {
        for bad in [
            "",
            "s",
            "-5s",
            "1.5s",
            "30 parsecs",
            "P",
            "PT",
            "P1M",
            "PT5",
            "P1Y",
            "30s5",
        ] {
            assert_eq!(
                parse_duration_ms(bad),
                Err(DurationError(bad.to_string())),
                "{bad:?}"
            );
        }
        assert!(parse_duration_ms("99999999999999999999h").is_err());
    }

    #[test]
    fn format_reads_back_to_the_same_value() {
        for ms in [
            0, 1, 999, 1000, 30_000, 61_000, 60_000, 300_000, 3_600_000, 5_400_000,
        ] {
            let text = format_duration_ms(ms);
            assert_eq!(parse_duration_ms(&text), Ok(ms), "{text}");
        }
        assert_eq!(format_duration_ms(30_000), "30s");
        assert_eq!(format_duration_ms(300_000), "5min");
        assert_eq!(format_duration_ms(1500), "1500ms");
    }
}
