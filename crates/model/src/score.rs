//! Pacemaker scores: integers saturated at ±INFINITY (1,000,000).
//!
//! Arithmetic follows Pacemaker: `-INFINITY` absorbs everything (even `+INFINITY`),
//! `+INFINITY` absorbs finite values, and finite sums saturate at the bounds.

use std::fmt;
use std::str::FromStr;

/// The value Pacemaker calls INFINITY.
pub const INFINITY: i64 = 1_000_000;

/// An allocation score.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Score(i64);

impl Score {
    pub const ZERO: Score = Score(0);
    pub const INFINITY: Score = Score(INFINITY);
    pub const NEG_INFINITY: Score = Score(-INFINITY);

    /// A score from an integer, clamped into [-INFINITY, INFINITY].
    pub fn new(v: i64) -> Score {
        Score(v.clamp(-INFINITY, INFINITY))
    }

    pub fn value(self) -> i64 {
        self.0
    }

    pub fn is_pos_infinity(self) -> bool {
        self.0 >= INFINITY
    }

    pub fn is_neg_infinity(self) -> bool {
        self.0 <= -INFINITY
    }

    /// Pacemaker's `pcmk__add_scores`.
    pub fn plus(self, other: Score) -> Score {
        if self.is_neg_infinity() || other.is_neg_infinity() {
            Score::NEG_INFINITY
        } else if self.is_pos_infinity() || other.is_pos_infinity() {
            Score::INFINITY
        } else {
            Score::new(self.0 + other.0)
        }
    }

    /// Parse a score as Pacemaker does (`char2score`), but strictly: anything that is not
    /// an integer or an INFINITY spelling is an error.
    pub fn parse(s: &str) -> Result<Score, ScoreError> {
        let t = s.trim();
        match t {
            "INFINITY" | "+INFINITY" | "infinity" | "+infinity" | "inf" | "+inf" => {
                return Ok(Score::INFINITY)
            }
            "-INFINITY" | "-infinity" | "-inf" => return Ok(Score::NEG_INFINITY),
            // Pacemaker's red/yellow/green node-health scores are not supported.
            _ => {}
        }
        t.parse::<i64>()
            .map(Score::new)
            .map_err(|_| ScoreError(s.to_string()))
    }
}

impl std::ops::Add for Score {
    type Output = Score;
    fn add(self, rhs: Score) -> Score {
        self.plus(rhs)
    }
}

impl fmt::Display for Score {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.is_pos_infinity() {
            write!(f, "INFINITY")
        } else if self.is_neg_infinity() {
            write!(f, "-INFINITY")
        } else {
            write!(f, "{}", self.0)
        }
    }
}

impl FromStr for Score {
    type Err = ScoreError;
    fn from_str(s: &str) -> Result<Score, ScoreError> {
        Score::parse(s)
    }
}

/// A string that is not a score.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid score '{0}': expected an integer, INFINITY or -INFINITY")]
pub struct ScoreError(pub String);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn infinity_arithmetic_matches_pacemaker() {
        assert_eq!(Score::INFINITY + Score::NEG_INFINITY, Score::NEG_INFINITY);
        assert_eq!(Score::INFINITY + Score::new(-5), Score::INFINITY);
        assert_eq!(Score::new(999_999) + Score::new(5), Score::INFINITY);
        assert_eq!(Score::new(-999_999) + Score::new(-5), Score::NEG_INFINITY);
        assert_eq!(Score::new(3) + Score::new(4), Score::new(7));
    }

    #[test]
    fn parse_accepts_spellings_and_rejects_garbage() {
        assert_eq!(Score::parse("INFINITY").unwrap(), Score::INFINITY);
        assert_eq!(Score::parse("+INFINITY").unwrap(), Score::INFINITY);
        assert_eq!(Score::parse("-INFINITY").unwrap(), Score::NEG_INFINITY);
        assert_eq!(Score::parse(" 42 ").unwrap(), Score::new(42));
        assert_eq!(Score::parse("5000000").unwrap(), Score::INFINITY);
        assert!(Score::parse("lots").is_err());
        assert!(Score::parse("").is_err());
    }
}
