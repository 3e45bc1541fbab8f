//! Pacemaker-style durations: `20`, `20s`, `500ms`, `2min`, `1h`, `90sec`, `1m`.

use std::time::Duration;

/// Parse a duration as Pacemaker does for `timeout` and `interval` (the model's
/// parser: a bare number is seconds, `m` means minutes, ISO 8601 is accepted).
/// Returns `None` when the text is not a duration.
pub fn parse_duration(text: &str) -> Option<Duration> {
    halo_model::duration::parse_duration_ms(text)
        .ok()
        .map(Duration::from_millis)
}

/// Render a duration the short way Pacemaker shows it (`20s`, `500ms`, `2min`).
pub fn format_duration(d: Duration) -> String {
    let ms = d.as_millis();
    if ms == 0 {
        "0s".to_string()
    } else if ms.is_multiple_of(60_000) {
        format!("{}min", ms / 60_000)
    } else if ms.is_multiple_of(1000) {
        format!("{}s", ms / 1000)
    } else {
        format!("{ms}ms")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_pacemaker_durations() {
        assert_eq!(parse_duration("20"), Some(Duration::from_secs(20)));
        assert_eq!(parse_duration("20s"), Some(Duration::from_secs(20)));
        assert_eq!(parse_duration(" 500ms "), Some(Duration::from_millis(500)));
        assert_eq!(parse_duration("2min"), Some(Duration::from_secs(120)));
        assert_eq!(parse_duration("1m"), Some(Duration::from_secs(60)));
        assert_eq!(parse_duration("1h"), Some(Duration::from_secs(3600)));
        assert_eq!(parse_duration("0"), Some(Duration::ZERO));
        assert_eq!(parse_duration("s"), None);
        assert_eq!(parse_duration("10 parsecs"), None);
        assert_eq!(parse_duration("-1"), None);
        assert_eq!(parse_duration("99999999999999999999h"), None);
    }

    #[test]
    fn formats_short() {
        assert_eq!(format_duration(Duration::from_secs(20)), "20s");
        assert_eq!(format_duration(Duration::from_secs(120)), "2min");
        assert_eq!(format_duration(Duration::from_millis(1500)), "1500ms");
    }
}
