//! Stable error codes (`HALO-E0xx`) of reading and validating configurations.
//!
//! Every [`Problem`](crate::Problem) carries one of these codes, the place it concerns
//! and the reason. The codes never change meaning; new ones are added at the end of
//! their range.
//!
//! | code | name | meaning | what to do |
//! | --- | --- | --- | --- |
//! | HALO-E001 | [`SYNTAX`] | the text is not well-formed TOML (or XML) | fix the syntax at the line:column given |
//! | HALO-E002 | [`SCHEMA`] | a key the native format does not have, a value of the wrong type, or a required key missing | check the key's spelling and type against `examples/openstack.toml` |
//! | HALO-E003 | [`VERSION`] | `version` is missing or not a version this halo reads | put `version = 1` at the top of the file |
//! | HALO-E004 | [`CONFLICT`] | keys that exclude each other are both given, or neither of two alternatives is | keep exactly one of the alternatives named |
//! | HALO-E005 | [`STATUS_REF`] | the `[status]` part names a node or resource that is not configured, or a role the resource cannot have | name a configured node/resource |
//! | HALO-E010 | [`DUPLICATE_ID`] | two objects (resources, constraints, operations, sets, rules) share an id | rename one of them; ids are one namespace, as in a CIB |
//! | HALO-E011 | [`DUPLICATE_NODE`] | two nodes share a name or an id | remove or rename one |
//! | HALO-E012 | [`DUPLICATE_OP`] | a resource has two operations with the same name and interval | give them different intervals (also for different roles) |
//! | HALO-E013 | [`BAD_ID`] | an id is empty or contains whitespace or `:` | use letters, digits, `-`, `_` and `.` |
//! | HALO-E020 | [`UNKNOWN_RESOURCE`] | a constraint refers to a resource that is not configured | fix the name or define the resource |
//! | HALO-E030 | [`BAD_SCORE`] | a value that must be a score is not one | write an integer, `INFINITY` or `-INFINITY` |
//! | HALO-E031 | [`BAD_DURATION`] | a value that must be a duration is not one | write e.g. `30s`, `5min`, `500ms` or plain seconds |
//! | HALO-E032 | [`BAD_ROLE`] | a value that must be a role is not one | write `Stopped`, `Started`, `Unpromoted` or `Promoted` |
//! | HALO-E033 | [`BAD_VALUE`] | a value of a known attribute, property or key is not one it accepts (boolean, integer, one of a list) | use one of the accepted values named in the message |
//! | HALO-E034 | [`BAD_AGENT`] | an agent is not `class:provider:type` (ocf) or `class:type` | e.g. `ocf:heartbeat:IPaddr2`, `systemd:haproxy` |
//! | HALO-E040 | [`ORDER_CYCLE`] | mandatory orderings (with groups' implicit ones) form a cycle, so none of the actions on it could ever run | make one of the constraints on the path `kind = "Optional"` or remove it |
//! | HALO-E041 | [`EMPTY_GROUP`] | a group has no members | add members or remove the group |
//! | HALO-E042 | [`CLONE_OF_CLONE`] | a clone's child is itself a clone | clone the primitive or group once |
//! | HALO-E043 | [`EMPTY_SET`] | a resource set lists no resources | list resources or remove the set |
//! | HALO-E044 | [`SELF_REFERENCE`] | a colocation places a resource relative to itself | name two different resources |

/// The text is not well-formed.
pub const SYNTAX: &str = "HALO-E001";
/// Unknown key, wrong value type or missing required key.
pub const SCHEMA: &str = "HALO-E002";
/// Missing or unsupported format version.
pub const VERSION: &str = "HALO-E003";
/// Mutually exclusive keys given together, or no alternative given.
pub const CONFLICT: &str = "HALO-E004";
/// The status part names something unknown.
pub const STATUS_REF: &str = "HALO-E005";
/// Two objects share an id.
pub const DUPLICATE_ID: &str = "HALO-E010";
/// Two nodes share a name or id.
pub const DUPLICATE_NODE: &str = "HALO-E011";
/// Two operations of one resource share name and interval.
pub const DUPLICATE_OP: &str = "HALO-E012";
/// An id that cannot be used.
pub const BAD_ID: &str = "HALO-E013";
/// A constraint refers to an unknown resource.
pub const UNKNOWN_RESOURCE: &str = "HALO-E020";
/// Not a score.
pub const BAD_SCORE: &str = "HALO-E030";
/// Not a duration.
pub const BAD_DURATION: &str = "HALO-E031";
/// Not a role.
pub const BAD_ROLE: &str = "HALO-E032";
/// Not an accepted value.
pub const BAD_VALUE: &str = "HALO-E033";
/// Not an agent specification.
pub const BAD_AGENT: &str = "HALO-E034";
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
