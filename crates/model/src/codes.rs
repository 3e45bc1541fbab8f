//! Stable error codes (`HALO-E0xx`) of reading and validating configurations.
//!
//! Every [`Problem`](crate::Problem) carries one of these codes, the place it concerns
//! and the reason. A code means the same whichever reader found the problem (native
//! TOML, CIB XML, or [`validate`](crate::validate::validate) on any configuration).
//! Codes never change meaning; new ones take the next free number of their range.
//!
//! | code | name | meaning | what to do |
//! | --- | --- | --- | --- |
//! | HALO-E001 | [`SYNTAX`] | the text is not well-formed TOML or XML | fix the syntax at the line:column given |
//! | HALO-E002 | [`SCHEMA`] | native: a key the format does not have, a value of the wrong type, or a required key missing | check the key's spelling and type against `examples/openstack.toml` |
//! | HALO-E003 | [`VERSION`] | native: `version` is missing or not a version this halo reads | put `version = 1` at the top of the file |
//! | HALO-E004 | [`CONFLICT`] | native: keys that exclude each other are both given, or none of the alternatives is | keep exactly one of the alternatives named |
//! | HALO-E005 | [`STATUS_REF`] | native: the `[status]` part names a node or resource that is not configured, or a role the resource cannot have | name a configured node or resource |
//! | HALO-E010 | [`DUPLICATE_ID`] | two objects (resources, constraints, operations, sets, rules) share an id | rename one; ids are one namespace, as in a CIB |
//! | HALO-E011 | [`DUPLICATE_NODE`] | two nodes share a name or an id | remove or rename one |
//! | HALO-E012 | [`DUPLICATE_OP`] | a resource has two operations with the same name and interval | give them different intervals (also for different roles) |
//! | HALO-E013 | [`BAD_ID`] | an id is empty or contains whitespace or `:` | use letters, digits, `-`, `_` and `.` |
//! | HALO-E014 | [`DUPLICATE_LEVEL`] | two fencing levels have the same target and index | give one another index, or list all its devices in one level |
//! | HALO-E020 | [`MISSING`] | CIB: a required attribute is missing | add the attribute named |
//! | HALO-E021 | [`BAD_SCORE`] | a value that must be a score is not one | write an integer, `INFINITY` or `-INFINITY` |
//! | HALO-E022 | [`BAD_VALUE`] | a value is not one its key accepts: duration, role, boolean, integer, or one of a list | use a value the message names, e.g. `30s`, `Promoted`, `true` |
//! | HALO-E023 | [`UNKNOWN_RESOURCE`] | a constraint (or a CIB `id-ref`) refers to something not configured | fix the name or define the resource |
//! | HALO-E024 | [`STRUCTURE`] | CIB: a structural problem (wrong root element, duplicate or empty resource) | fix the element named |
//! | HALO-E025 | [`BAD_AGENT`] | an agent is not `ocf:PROVIDER:TYPE` or `CLASS:TYPE` of a known class | e.g. `ocf:heartbeat:IPaddr2`, `systemd:haproxy` |
//! | HALO-E026 | [`UNKNOWN_DEVICE`] | a fencing level names a device that is not a configured `stonith:` primitive | fix the name or configure the fence device |
//! | HALO-E027 | [`BAD_PATTERN`] | a fencing level's `target-pattern` is not a POSIX extended regular expression (Pacemaker would never match it) | fix the expression at the character named |
//! | HALO-E040 | [`ORDER_CYCLE`] | mandatory orders (with the implicit orders of groups and clones) form a cycle, so no action on it could ever run | make one of the orders on the path `kind = "Optional"`, or remove it |
//! | HALO-E041 | [`EMPTY_GROUP`] | a group has no members | add members or remove the group |
//! | HALO-E042 | [`CLONE_OF_CLONE`] | a clone's child is itself a clone | clone the primitive or group once |
//! | HALO-E043 | [`EMPTY_SET`] | a resource set lists no resources | list resources or remove the set |
//! | HALO-E044 | [`SELF_REFERENCE`] | a colocation places a resource relative to itself | name two different resources |
//! | HALO-E045 | [`EMPTY_LEVEL`] | a fencing level lists no devices | list its devices or remove the level |

/// The text is not well-formed.
pub const SYNTAX: &str = "HALO-E001";
/// Unknown key, wrong value type or missing required key (native).
pub const SCHEMA: &str = "HALO-E002";
/// Missing or unsupported format version (native).
pub const VERSION: &str = "HALO-E003";
/// Mutually exclusive keys given together, or no alternative given (native).
pub const CONFLICT: &str = "HALO-E004";
/// The status part names something unknown (native).
pub const STATUS_REF: &str = "HALO-E005";
/// Two objects share an id.
pub const DUPLICATE_ID: &str = "HALO-E010";
/// Two nodes share a name or id.
pub const DUPLICATE_NODE: &str = "HALO-E011";
/// Two operations of one resource share name and interval.
pub const DUPLICATE_OP: &str = "HALO-E012";
/// An id that cannot be used.
pub const BAD_ID: &str = "HALO-E013";
/// Two fencing levels with the same target and index.
pub const DUPLICATE_LEVEL: &str = "HALO-E014";
/// A required attribute is missing (CIB).
pub const MISSING: &str = "HALO-E020";
/// Not a score.
pub const BAD_SCORE: &str = "HALO-E021";
/// Not an accepted value (duration, role, boolean, integer, keyword).
pub const BAD_VALUE: &str = "HALO-E022";
/// A reference to a resource (or id) that is not configured.
pub const UNKNOWN_RESOURCE: &str = "HALO-E023";
/// A structural problem of a CIB.
pub const STRUCTURE: &str = "HALO-E024";
/// Not an agent specification.
pub const BAD_AGENT: &str = "HALO-E025";
/// A fencing level names a device that is not a configured fence device.
pub const UNKNOWN_DEVICE: &str = "HALO-E026";
/// A fencing level's target pattern is not a valid regular expression.
pub const BAD_PATTERN: &str = "HALO-E027";
/// A cycle of mandatory orderings.
pub const ORDER_CYCLE: &str = "HALO-E040";
/// A group without members.
pub const EMPTY_GROUP: &str = "HALO-E041";
/// A clone of a clone.
pub const CLONE_OF_CLONE: &str = "HALO-E042";
/// A resource set without resources.
pub const EMPTY_SET: &str = "HALO-E043";
/// A colocation of a resource with itself.
pub const SELF_REFERENCE: &str = "HALO-E044";
/// A fencing level without devices.
pub const EMPTY_LEVEL: &str = "HALO-E045";
