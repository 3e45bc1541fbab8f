//! Errors and notices of reading and validating configurations.

use std::fmt;

/// One problem in an input, with the exact place it was found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    /// Stable code, e.g. `HALO-E010`.
    pub code: &'static str,
    /// Where: `file:line:col` and/or a path such as `constraints.order[3] (id "o1")`.
    pub place: String,
    /// What is wrong, and what to do about it.
    pub reason: String,
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}: {}", self.code, self.place, self.reason)
    }
}

/// Something in an input that halo does not act on (yet), reported instead of dropped.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Notice {
    pub place: String,
    pub what: String,
}

impl fmt::Display for Notice {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.place, self.what)
    }
}

/// Why an input could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ModelError {
    /// The input is not well-formed in its syntax (XML or TOML).
    #[error("HALO-E001 {place}: malformed {format}: {reason}")]
    Syntax {
        format: &'static str,
        place: String,
        reason: String,
    },
    /// The input is well-formed but wrong; every problem found is listed.
    #[error("{}", list(.0))]
    Invalid(Vec<Problem>),
}

fn list(problems: &[Problem]) -> String {
    let lines: Vec<String> = problems.iter().map(|p| p.to_string()).collect();
    lines.join("\n")
}

impl ModelError {
    pub fn invalid(code: &'static str, place: impl Into<String>, reason: impl Into<String>) -> Self {
        ModelError::Invalid(vec![Problem {
            code,
            place: place.into(),
            reason: reason.into(),
        }])
    }
}
