//! halo's native configuration format: TOML, in pcs's vocabulary.
//!
//! ```toml
//! version = 1                      # required, first
//!
//! [cluster]
//! name = "openstack"               # the cluster-name property
//!
//! [properties]                     # cluster properties (crm_config)
//! stonith-enabled = true
//! no-quorum-policy = "stop"
//!
//! [resource-defaults]              # rsc_defaults: meta attributes every resource inherits
//! resource-stickiness = 100
//!
//! [op-defaults]                    # op_defaults
//! timeout = "60s"
//!
//! [[node]]
//! name = "controller1"
//! id = 1                           # optional, defaults to the name
//! standby = false                  # optional, also maintenance
//! attributes = { rack = "a" }      # permanent node attributes
//!
//! [[resource]]                     # a primitive
//! id = "vip"
//! agent = "ocf:heartbeat:IPaddr2"  # class:provider:type, or class:type (systemd:haproxy)
//! params = { ip = "10.10.16.224", cidr_netmask = 24 }
//! meta = { resource-stickiness = 200 }
//! op = [
//!   { name = "monitor", interval = "30s", timeout = "20s" },
//! ]                                # also role, on-fail, enabled, attributes, id
//!
//! [[group]]                        # members start in order, on one node
//! id = "web"
//! [[group.member]]                 # a primitive, as in [[resource]]
//! id = "web-ip"
//! agent = "ocf:heartbeat:IPaddr2"
//!
//! [[clone]]                        # one instance per node
//! id = "galera-clone"
//! promotable = true                # optional
//! meta = { promoted-max = 3 }
//! [clone.resource]                 # the cloned primitive (or [clone.group])
//! id = "galera"
//! agent = "ocf:heartbeat:galera"
//!
//! [[location]]                     # resource or set; node + score, or rule
//! id = "vip-prefers-c1"
//! resource = "vip"
//! node = "controller1"
//! score = 100                      # integer or "INFINITY"/"-INFINITY"; default INFINITY
//!
//! [[location]]
//! id = "vip-avoids-c3"
//! resource = "vip"
//! rule = [ { score = "-INFINITY", expression = "#uname eq controller3" } ]
//!
//! [[colocation]]                   # resource is placed where `with` is
//! id = "lb-with-vip"
//! resource = "lb-haproxy-clone"
//! with = "vip"
//! score = "INFINITY"               # default INFINITY; also role, with-role
//!
//! [[order]]                        # then waits for first
//! id = "vip-then-lb"
//! first = "vip"
//! then = "lb-haproxy-clone"
//! kind = "Optional"                # Mandatory (default), Optional, Serialize
//!                                  # also first-action, then-action, symmetrical
//!
//! [[order]]                        # resource sets, for colocations and orders too
//! id = "db-then-apis"
//! set = [
//!   { resources = ["galera-clone"], action = "promote" },
//!   { resources = ["keystone-clone", "glance-clone"], sequential = false },
//! ]
//!
//! [[fencing-level]]                # fencing topology: devices tried for a node, by level
//! target = "controller1"           # or target-pattern = "^controller[0-9]+$" (POSIX ERE),
//!                                  # or target-attribute = "rack" with target-value = "a"
//! index = 1                        # 1 to 9, tried in increasing order
//! devices = ["ipmi-c1", "pdu-a"]   # stonith resources, all must succeed
//! # id = "fl-controller1-1"        # optional: pcs's fl-TARGET-INDEX by default
//! ```
//!
//! Rules are written either as one line, `expression = "rack eq a and defined ssd"`
//! (see `expr` for the grammar), or as tables: `expr = [ { attribute = "rack", op =
//! "eq", value = "a", type = "string", value-source = "param" }, { bool-op = "or",
//! expression = "..." } ]` (an element with `bool-op`/`expression`/`expr` is a nested
//! rule). Ids of operations, sets, rules, expressions and fencing levels are generated
//! when not written (`vip-monitor-interval-30s`, `ID-set-1`, `ID-rule-1`, `RULE-expr-1`,
//! `fl-controller1-1`: the target's node name, pattern or attribute name and the index,
//! with `-1`, `-2`, ... appended when an earlier level has that id).
//!
//! Values: attributes take strings, integers or booleans (stored as text); scores take
//! integers or `"INFINITY"`/`"-INFINITY"`; durations take `"30s"`, `"5min"`, `"500ms"`,
//! ISO 8601 or whole seconds as an integer. Resources and constraints keep the order
//! they have in the file, across `[[resource]]`, `[[group]]` and `[[clone]]`.
//!
//! An optional `[status]` part (see `status`) says what currently runs where, for
//! `halo simulate --config`.
//!
//! Errors: malformed TOML is [`ModelError::Syntax`] with `file:line:col`; everything
//! else is [`ModelError::Invalid`] listing every problem at once, each with a code from
//! [`crate::codes`], `file:line:col`, the object and the reason. [`to_native`] writes
//! any configuration that [`crate::validate::validate`] accepts so that it reads back
//! equal (nested rules lose their own score and role, which Pacemaker ignores).

mod expr;
mod read;
mod status;
mod wire;
mod write;

use crate::codes;
use crate::config::Config;
use crate::error::{ModelError, Notice, Problem};
use crate::status::Status;
use crate::validate;

pub use read::parse_agent;
pub use write::to_native;

/// A native file read: the configuration, the recorded status it implies, and the
/// notices (allowed but probably unintended things) found while validating it.
#[derive(Debug, Clone, PartialEq)]
pub struct NativeDoc {
    pub config: Config,
    pub status: Status,
    pub notices: Vec<Notice>,
}

/// The format version this halo reads and writes.
pub const VERSION: i64 = 1;

/// Read a native configuration. `source_name` is the file name used in error places.
pub fn parse_native(text: &str, source_name: &str) -> Result<NativeDoc, ModelError> {
    let at = read::Text {
        text,
        file: source_name,
    };
    let doc: wire::WireDoc = match toml::from_str(text) {
        Ok(doc) => doc,
        Err(e) => {
            // Tell syntax errors from schema errors by reading the syntax alone.
            let (e, syntax) = match text.parse::<toml::Table>() {
                Err(syntax_error) => (syntax_error, true),
                Ok(_) => (e, false),
            };
            let place = match e.span() {
                Some(s) => at.at(&s),
                None => source_name.to_string(),
            };
            let reason = e.message().trim().replace('\n', "; ");
            return Err(if syntax {
                ModelError::Syntax {
                    format: "TOML",
                    place,
                    reason,
                }
            } else {
                ModelError::Invalid(vec![Problem {
                    code: codes::SCHEMA,
                    place,
                    reason,
                }])
            });
        }
    };
    match &doc.version {
        None => {
            return Err(ModelError::invalid(
                codes::VERSION,
                format!("{source_name}:1:1"),
                "the file has no version: put `version = 1` at the top",
            ))
        }
        Some(v) if *v.get_ref() != VERSION => {
            return Err(ModelError::invalid(
                codes::VERSION,
                at.at(&v.span()),
                format!(
                    "version {} is not one this halo reads: it reads version {VERSION}",
                    v.get_ref()
                ),
            ))
        }
        Some(_) => {}
    }

    let mut reader = read::Reader {
        text: read::Text {
            text,
            file: source_name,
        },
        problems: Vec::new(),
        anchor: 0..0,
    };
    let (config, map) = reader.config(&doc);
    let status = status::status(&mut reader, &config, doc.status.as_ref());
    let mut problems = reader.problems;
    let locator = read::NativeLocator { text: at, map };
    let (more, notices) = validate::check(&config, &locator);
    problems.extend(more);
    if !problems.is_empty() {
        // In the order of the file.
        problems.sort_by_key(|p| line_col(&p.place, source_name));
        return Err(ModelError::Invalid(problems));
    }
    Ok(NativeDoc {
        config,
        status,
        notices,
    })
}

/// The line and column a place starts with (`file:line:col: ...`), for sorting.
fn line_col(place: &str, file: &str) -> (usize, usize) {
    let rest = place.strip_prefix(file).and_then(|r| r.strip_prefix(':'));
    let mut nums = rest
        .unwrap_or("")
        .split(':')
        .map(|n| n.trim().parse::<usize>().ok());
    match (nums.next().flatten(), nums.next().flatten()) {
        (Some(l), Some(c)) => (l, c),
        _ => (0, 0),
    }
}

#[cfg(test)]
mod tests;
