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

/// Parse a duration into milliseconds, with Pacemaker's spellings.
pub fn parse_duration_ms(s: &str) -> Result<u64, DurationError> {
    pacemaker_ms(s).ok_or_else(|| DurationError(s.to_string()))
}

/// Parse a Pacemaker duration into milliseconds: a number with an optional unit (`500ms`,
/// `10s`, `1m`, `2h`, `10us`; no unit means seconds) or an ISO 8601 duration (`PT10S`,
/// `P1DT2H`; months count 30 days, years 365).
fn pacemaker_ms(s: &str) -> Option<u64> {
    let t = s.trim();
    if let Some(iso) = t.strip_prefix('P') {
        return parse_iso_duration_ms(iso);
    }
    let digits_end = t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len());
    if digits_end == 0 {
        return None;
    }
    let n: u64 = t[..digits_end].parse().ok()?;
    let unit = t[digits_end..].trim_start().to_ascii_lowercase();
    let ms = match unit.as_str() {
        "" | "s" | "sec" | "secs" | "second" | "seconds" => n.checked_mul(1000)?,
        "ms" | "msec" | "msecs" => n,
        "us" | "usec" | "usecs" => n / 1000,
        "m" | "min" | "mins" | "minute" | "minutes" => n.checked_mul(60_000)?,
        "h" | "hr" | "hrs" | "hour" | "hours" => n.checked_mul(3_600_000)?,
        _ => return None,
    };
    Some(ms)
}

/// The part of an ISO 8601 duration after `P`. Like Pacemaker, `T` only tells minutes
/// from months; components may come in any order.
fn parse_iso_duration_ms(s: &str) -> Option<u64> {
    const DAY: u64 = 86_400;
    let mut seconds: u64 = 0;
    let mut in_time = false;
    let mut any = false;
    let mut rest = s;
    while let Some(c) = rest.chars().next() {
        if c == 'T' {
            in_time = true;
            rest = &rest[1..];
            continue;
        }
        let end = rest
            .find(|c: char| !c.is_ascii_digit())
            .unwrap_or(rest.len());
        if end == 0 {
            return None;
        }
        let n: u64 = rest[..end].parse().ok()?;
        let unit = rest[end..].chars().next()?;
        let per = match unit {
            'Y' => 365 * DAY,
            'M' if in_time => 60,
            'M' => 30 * DAY,
            'W' => 7 * DAY,
            'D' => DAY,
            'H' => 3600,
            'S' => 1,
            _ => return None,
        };
        seconds = seconds.checked_add(n.checked_mul(per)?)?;
        any = true;
        rest = &rest[end + 1..];
    }
    if any {
        seconds.checked_mul(1000)
    } else {
        None
    }
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
            // As in Pacemaker, a month counts 30 days and a year 365.
            ("P1M", 30 * 86_400_000),
            ("P1Y", 365 * 86_400_000),
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
            "PT5",
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
