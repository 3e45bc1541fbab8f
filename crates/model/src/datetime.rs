//! Dates of rule expressions, as Pacemaker writes them (ISO 8601: `2026-12-31`,
//! `2026-12-31 23:00:00`, `2026-12-31T23:00:00Z`, `...+01:00`), in seconds since the
//! epoch. A time without a zone is taken as UTC (Pacemaker takes the local zone; halo's
//! nodes may not share one). halo writes `YYYY-MM-DDTHH:MM:SSZ`.

/// Days since 1970-01-01 of a civil date (proleptic Gregorian).
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// The civil date `(year, month, day)` of a day since 1970-01-01.
pub fn civil_from_days(z: i64) -> (i64, i64, i64) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    (yoe + era * 400 + i64::from(m <= 2), m, d)
}

fn number(s: &str, digits: usize) -> Option<i64> {
    (s.len() == digits && s.bytes().all(|b| b.is_ascii_digit()))
        .then(|| s.parse().ok())
        .flatten()
}

/// Parse an ISO 8601 date or date and time; `None` when it is not one.
pub fn parse_datetime(text: &str) -> Option<i64> {
    let t = text.trim();
    let (date, rest) = match t.find(['T', ' ']) {
        Some(i) => (&t[..i], Some(&t[i + 1..])),
        None => (t, None),
    };
    let mut parts = date.split('-');
    let y = number(parts.next()?, 4)?;
    let m = number(parts.next()?, 2)?;
    let d = number(parts.next()?, 2)?;
    if parts.next().is_some() || !(1..=12).contains(&m) || !(1..=31).contains(&d) {
        return None;
    }
    let days = days_from_civil(y, m, d);
    if civil_from_days(days) != (y, m, d) {
        return None; // 2026-02-30
    }
    let mut secs = days * 86_400;
    if let Some(rest) = rest {
        // The zone may follow the time with a space (`15:10:52 +00:00`).
        let (time, offset) = match rest.find(['Z', '+', '-']) {
            Some(i) => (rest[..i].trim_end(), &rest[i..]),
            None => (rest.trim_end(), ""),
        };
        let mut hms = time.split(':');
        let h = number(hms.next()?, 2)?;
        let mi = number(hms.next()?, 2)?;
        let s = match hms.next() {
            Some(s) => number(s, 2)?,
            None => 0,
        };
        if hms.next().is_some() || h > 23 || mi > 59 || s > 60 {
            return None;
        }
        secs += h * 3600 + mi * 60 + s;
        secs -= match offset {
            "" | "Z" => 0,
            o => {
                let sign = if o.starts_with('-') { -1 } else { 1 };
                let o = o[1..].replace(':', "");
                let oh = number(o.get(..2)?, 2)?;
                let om = if o.len() > 2 { number(&o[2..], 2)? } else { 0 };
                sign * (oh * 3600 + om * 60)
            }
        };
    }
    Some(secs)
}

/// Write seconds since the epoch as `YYYY-MM-DDTHH:MM:SSZ`.
pub fn format_datetime(secs: i64) -> String {
    let (y, m, d) = civil_from_days(secs.div_euclid(86_400));
    let r = secs.rem_euclid(86_400);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z",
        r / 3600,
        r % 3600 / 60,
        r % 60
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_parse_and_write_back() {
        assert_eq!(parse_datetime("1970-01-01"), Some(0));
        assert_eq!(parse_datetime("2026-12-06T14:29:30Z"), Some(1_796_567_370));
        assert_eq!(parse_datetime("2026-12-06 14:29:30"), Some(1_796_567_370));
        assert_eq!(
            parse_datetime("2026-12-06T15:29:30+01:00"),
            Some(1_796_567_370)
        );
        assert_eq!(
            parse_datetime("2026-12-06T13:29:30-0100"),
            Some(1_796_567_370)
        );
        assert_eq!(parse_datetime("2024-02-29"), Some(1_709_164_800));
        assert_eq!(
            parse_datetime("2026-12-06 14:29:30 +00:00"),
            Some(1_796_567_370)
        );
        for bad in [
            "2026-02-30",
            "2026-13-01",
            "26-01-01",
            "2026-01-01T25:00",
            "soon",
            "",
        ] {
            assert_eq!(parse_datetime(bad), None, "{bad}");
        }
        for t in [0, 1_796_567_370, 1_709_164_800, 4_102_444_799] {
            assert_eq!(parse_datetime(&format_datetime(t)), Some(t));
        }
        assert_eq!(format_datetime(1_796_567_370), "2026-12-06T14:29:30Z");
    }

    /// A date expression's answer at a time, and when it next changes.
    #[test]
    fn date_expressions_hold_and_change() {
        use crate::{DateExpr, DateOp};
        let e = |op, start, end| DateExpr {
            id: "d".into(),
            op,
            start,
            end,
        };
        let lt = e(DateOp::Lt, None, Some(100));
        assert!(lt.holds(99) && !lt.holds(100));
        assert_eq!(lt.next_change(50), Some(100));
        assert_eq!(lt.next_change(100), None);
        let gt = e(DateOp::Gt, Some(100), None);
        assert!(!gt.holds(100) && gt.holds(101));
        assert_eq!(gt.next_change(50), Some(101));
        let range = e(DateOp::InRange, Some(100), Some(200));
        assert!(!range.holds(99) && range.holds(100) && range.holds(200) && !range.holds(201));
        assert_eq!(range.next_change(0), Some(100));
        assert_eq!(range.next_change(150), Some(201));
    }
}
