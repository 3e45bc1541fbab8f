//! Sample converters (`lower`, `field(2,/)`, `regsub(...)`, ...): parsed with the
//! configuration, applied to a [`Value`] per request.

use super::{Value, Vars};

/// A converter with its arguments, checked when the configuration is read.
#[derive(Debug, Clone, PartialEq)]
pub enum Conv {
    Lower,
    Upper,
    Length,
}

/// The converters halo applies, for messages.
pub const CONVERTERS: &str = "lower, upper, length";

impl Conv {
    /// Parses converter `name` with its arguments (already split and unquoted).
    pub fn parse(name: &str, args: &[String]) -> Result<Conv, String> {
        let none = |c: Conv| {
            if args.is_empty() {
                Ok(c)
            } else {
                Err(format!("converter `{name}` takes no argument"))
            }
        };
        match name {
            "lower" => none(Conv::Lower),
            "upper" => none(Conv::Upper),
            "length" => none(Conv::Length),
            o => Err(format!("converter `{o}` is not supported ({CONVERTERS})")),
        }
    }

    /// Applies the converter; `None` when it cannot work on this input.
    pub fn apply(&self, v: Value, _vars: &mut dyn Vars) -> Option<Value> {
        Some(match self {
            Conv::Lower => Value::Str(v.into_string().to_lowercase()),
            Conv::Upper => Value::Str(v.into_string().to_uppercase()),
            Conv::Length => Value::Int(v.as_bytes().len() as i64),
        })
    }
}

/// Bytes from hexadecimal text (`bin(...)`, `hex2i`): `None` if not hexadecimal.
pub fn unhex(s: &str) -> Option<Vec<u8>> {
    if s.len() % 2 != 0 {
        return None;
    }
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(s.get(i..i + 2)?, 16).ok())
        .collect()
}
