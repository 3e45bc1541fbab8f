//! The on-disk shape of the native format: serde types that mirror the TOML text, kept
//! apart from the internal model so that a change in one never silently changes the
//! other. Converted by `read` (wire → model) and mirrored by `write` (model → text).
//!
//! `Spanned` keeps the byte range of a value so that problems found after parsing can
//! still name the line and column.

use std::collections::BTreeMap;
use std::fmt;

use serde::de::{self, Deserializer, Visitor};
use serde::Deserialize;
use toml::Spanned;

/// A TOML value that halo stores as text: a string, an integer or a boolean.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Scalar {
    Str(String),
    Int(i64),
    Bool(bool),
}

impl fmt::Display for Scalar {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Scalar::Str(s) => f.write_str(s),
            Scalar::Int(i) => write!(f, "{i}"),
            Scalar::Bool(b) => write!(f, "{b}"),
        }
    }
}

impl<'de> Deserialize<'de> for Scalar {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Scalar;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(
                    "a string, an integer or a boolean (write decimals as strings, e.g. \"1.5\")",
                )
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Scalar, E> {
                Ok(Scalar::Str(v.to_string()))
            }
            fn visit_string<E: de::Error>(self, v: String) -> Result<Scalar, E> {
                Ok(Scalar::Str(v))
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<Scalar, E> {
                Ok(Scalar::Int(v))
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<Scalar, E> {
                i64::try_from(v)
                    .map(Scalar::Int)
                    .map_err(|_| E::custom("integer too large"))
            }
            fn visit_bool<E: de::Error>(self, v: bool) -> Result<Scalar, E> {
                Ok(Scalar::Bool(v))
            }
        }
        d.deserialize_any(V)
    }
}

pub(crate) type WireAttrs = BTreeMap<String, Spanned<Scalar>>;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub(crate) struct WireDoc {
    pub version: Option<Spanned<i64>>,
    pub cluster: Option<WireCluster>,
    #[serde(default)]
    pub properties: WireAttrs,
    #[serde(default)]
    pub node: Vec<WireNode>,
    #[serde(default)]
    pub resource_defaults: WireAttrs,
    #[serde(default)]
    pub op_defaults: WireAttrs,
    #[serde(default)]
    pub resource: Vec<WirePrimitive>,
    #[serde(default)]
    pub group: Vec<WireGroup>,
    #[serde(default)]
    pub clone: Vec<WireClone>,
    #[serde(default)]
    pub location: Vec<WireLocation>,
    #[serde(default)]
    pub colocation: Vec<WireColocation>,
    #[serde(default)]
    pub order: Vec<WireOrder>,
    /// `[[fencing-level]]`; the span is the whole table, from its header.
    #[serde(default)]
    pub fencing_level: Vec<Spanned<WireFencingLevel>>,
    pub status: Option<WireStatus>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub(crate) struct WireCluster {
    pub name: Option<Spanned<String>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub(crate) struct WireNode {
    pub name: Spanned<String>,
    pub id: Option<Spanned<Scalar>>,
    pub standby: Option<bool>,
    pub maintenance: Option<bool>,
    pub score: Option<Spanned<Scalar>>,
    #[serde(default)]
    pub attributes: WireAttrs,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub(crate) struct WirePrimitive {
    pub id: Spanned<String>,
    pub agent: Spanned<String>,
    #[serde(default)]
    pub params: WireAttrs,
    #[serde(default)]
    pub meta: WireAttrs,
    #[serde(default)]
    pub op: Vec<WireOp>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub(crate) struct WireOp {
    pub id: Option<Spanned<String>>,
    pub name: Spanned<String>,
    pub interval: Option<Spanned<Scalar>>,
    pub timeout: Option<Spanned<Scalar>>,
    pub role: Option<Spanned<String>>,
    pub on_fail: Option<Spanned<String>>,
    pub enabled: Option<bool>,
    #[serde(default)]
    pub attributes: WireAttrs,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub(crate) struct WireGroup {
    pub id: Spanned<String>,
    #[serde(default)]
    pub meta: WireAttrs,
    #[serde(default)]
    pub member: Vec<WirePrimitive>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub(crate) struct WireClone {
    pub id: Spanned<String>,
    pub promotable: Option<bool>,
    #[serde(default)]
    pub meta: WireAttrs,
    pub resource: Option<WirePrimitive>,
    pub group: Option<WireGroup>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub(crate) struct WireSet {
    pub id: Option<Spanned<String>>,
    pub resources: Vec<Spanned<String>>,
    pub sequential: Option<bool>,
    pub require_all: Option<bool>,
    pub role: Option<Spanned<String>>,
    pub action: Option<Spanned<String>>,
    pub score: Option<Spanned<Scalar>>,
    pub kind: Option<Spanned<String>>,
    pub ordering: Option<Spanned<String>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub(crate) struct WireLocation {
    pub id: Spanned<String>,
    pub resource: Option<Spanned<String>>,
    pub set: Option<Vec<WireSet>>,
    pub node: Option<Spanned<String>>,
    pub score: Option<Spanned<Scalar>>,
    pub role: Option<Spanned<String>>,
    pub rule: Option<Vec<WireRule>>,
    pub resource_discovery: Option<Spanned<String>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub(crate) struct WireRule {
    pub id: Option<Spanned<String>>,
    pub score: Option<Spanned<Scalar>>,
    pub score_attribute: Option<String>,
    pub role: Option<Spanned<String>>,
    pub bool_op: Option<Spanned<String>>,
    pub expression: Option<Spanned<String>>,
    pub expr: Option<Vec<WireExpr>>,
}

/// One element of a rule: a comparison (`attribute`, `op`, `value`), a nested rule
/// (`bool-op` with `expression` or `expr`) or a date (`date`, `start`, `end`).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub(crate) struct WireExpr {
    pub id: Option<Spanned<String>>,
    pub attribute: Option<Spanned<String>>,
    pub op: Option<Spanned<String>>,
    pub value: Option<Spanned<Scalar>>,
    #[serde(rename = "type")]
    pub value_type: Option<Spanned<String>>,
    pub value_source: Option<Spanned<String>>,
    pub bool_op: Option<Spanned<String>>,
    pub expression: Option<Spanned<String>>,
    pub expr: Option<Vec<WireExpr>>,
    /// A date expression: lt, gt or in_range, with `start`/`end` (ISO 8601).
    pub date: Option<Spanned<String>>,
    pub start: Option<Spanned<String>>,
    pub end: Option<Spanned<String>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub(crate) struct WireColocation {
    pub id: Spanned<String>,
    pub resource: Option<Spanned<String>>,
    pub with: Option<Spanned<String>>,
    pub score: Option<Spanned<Scalar>>,
    pub role: Option<Spanned<String>>,
    pub with_role: Option<Spanned<String>>,
    pub set: Option<Vec<WireSet>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub(crate) struct WireOrder {
    pub id: Spanned<String>,
    pub first: Option<Spanned<String>>,
    pub then: Option<Spanned<String>>,
    pub first_action: Option<Spanned<String>>,
    pub then_action: Option<Spanned<String>>,
    pub kind: Option<Spanned<String>>,
    pub symmetrical: Option<bool>,
    pub require_all: Option<bool>,
    pub set: Option<Vec<WireSet>>,
}

/// One level of the fencing topology: exactly one of `target`, `target-pattern` or
/// `target-attribute` (with `target-value`).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub(crate) struct WireFencingLevel {
    pub id: Option<Spanned<String>>,
    pub target: Option<Spanned<String>>,
    pub target_pattern: Option<Spanned<String>>,
    pub target_attribute: Option<Spanned<String>>,
    pub target_value: Option<Spanned<Scalar>>,
    pub index: Spanned<i64>,
    pub devices: Spanned<Vec<Spanned<String>>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub(crate) struct WireStatus {
    pub quorum: Option<bool>,
    pub dc: Option<Spanned<String>>,
    pub now: Option<i64>,
    #[serde(default)]
    pub node: Vec<WireNodeStatus>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub(crate) struct WireNodeStatus {
    pub name: Spanned<String>,
    pub online: Option<bool>,
    pub unclean: Option<bool>,
    #[serde(default)]
    pub attributes: WireAttrs,
    #[serde(default)]
    pub running: Vec<Spanned<String>>,
    #[serde(default)]
    pub promoted: Vec<Spanned<String>>,
    #[serde(default)]
    pub failure: Vec<WireFailure>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub(crate) struct WireFailure {
    pub resource: Spanned<String>,
    pub op: Spanned<String>,
    pub interval: Option<Spanned<Scalar>>,
    pub rc: Option<i32>,
    pub count: Option<Spanned<Scalar>>,
    pub reason: Option<String>,
    pub at: Option<i64>,
}
