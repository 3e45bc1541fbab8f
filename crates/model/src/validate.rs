//! Validation of a [`Config`]: every problem found, each with its place and reason.
//!
//! [`validate`] works on any configuration, whatever it was read from. It reports
//! errors (the configuration must not be used) as [`ModelError::Invalid`] with one
//! [`Problem`] each, and things that are allowed but probably not meant as
//! [`Notice`]s. Checked:
//!
//! * ids: empty or malformed ids; duplicates among resources, constraints, operations,
//!   resource sets and rules (one namespace, as in a CIB); duplicate node names and ids;
//!   two operations of one resource with the same name and interval;
//! * references: every resource named by a constraint exists (error); every node named
//!   by a location exists (notice: Pacemaker allows nodes that join later);
//! * values: known cluster properties, meta attributes (also in resource defaults), op
//!   defaults and node attributes `standby`/`maintenance` have values of their type
//!   (boolean, score, duration, role, integer, one of a list); unknown properties and
//!   clone-only options outside clones are notices;
//! * structure: groups with members, no clone of a clone, non-empty resource sets, no
//!   colocation of a resource with itself, agents of the form `class:provider:type`;
//!   promotable options on a clone that is not promotable are a notice;
//! * ordering: mandatory orders (with the implicit orders inside groups and clones, and
//!   "start before promote, demote before stop") must not form a cycle; a cycle is
//!   reported with its path and the constraints that make it;
//! * fencing topology: every level has an index from 1 to 9, at least one device, and
//!   each device is a configured `stonith:` primitive; no two levels share target and
//!   index; a `target-pattern` compiles as Pacemaker's fencer compiles it (POSIX
//!   extended, see [`crate::ere`]); a target node that is not configured is a notice
//!   (Pacemaker's fencer accepts levels for any name, e.g. remote nodes). Level ids
//!   share the one id namespace.
//!
//! Places come from a [`Locator`], so a reader that knows file positions (the native
//! TOML reader) can point at lines while [`validate`] alone names objects.

use std::collections::{BTreeSet, HashMap, VecDeque};

use crate::codes;
use crate::config::*;
use crate::duration::parse_duration_ms;
use crate::error::{ModelError, Notice, Problem};
use crate::properties::Effect;
use crate::score::Score;

/// One resource of a configuration at any depth.
#[derive(Debug, Clone, Copy)]
pub enum Item<'a> {
    Primitive(&'a Primitive),
    Group(&'a Group),
    Clone(&'a Clone),
}

impl<'a> Item<'a> {
    pub fn id(&self) -> &'a str {
        match self {
            Item::Primitive(p) => &p.id,
            Item::Group(g) => &g.id,
            Item::Clone(c) => &c.id,
        }
    }

    pub fn meta(&self) -> &'a Attrs {
        match self {
            Item::Primitive(p) => &p.meta,
            Item::Group(g) => &g.meta,
            Item::Clone(c) => &c.meta,
        }
    }

    /// `resource`, `group` or `clone`.
    pub fn kind(&self) -> &'static str {
        match self {
            Item::Primitive(_) => "resource",
            Item::Group(_) => "group",
            Item::Clone(_) => "clone",
        }
    }
}

/// A resource with the position of its parent in the same flattened list.
#[derive(Debug, Clone, Copy)]
pub struct Flat<'a> {
    pub item: Item<'a>,
    pub parent: Option<usize>,
}

/// Every resource of the configuration in depth-first pre-order: each top-level
/// resource, then its descendants (a clone's child; a group's members in order).
/// [`Subject::Resource`] indexes into this list.
pub fn flatten(config: &Config) -> Vec<Flat<'_>> {
    fn push<'a>(out: &mut Vec<Flat<'a>>, r: &'a Resource, parent: Option<usize>) {
        let me = out.len();
        match r {
            Resource::Primitive(p) => out.push(Flat {
                item: Item::Primitive(p),
                parent,
            }),
            Resource::Group(g) => {
                out.push(Flat {
                    item: Item::Group(g),
                    parent,
                });
                for m in &g.members {
                    out.push(Flat {
                        item: Item::Primitive(m),
                        parent: Some(me),
                    });
                }
            }
            Resource::Clone(c) => {
                out.push(Flat {
                    item: Item::Clone(c),
                    parent,
                });
                push(out, &c.child, Some(me));
            }
        }
    }
    let mut out = Vec::new();
    for r in &config.resources {
        push(&mut out, r, None);
    }
    out
}

/// What a problem or notice concerns.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Subject<'a> {
    /// A cluster property, by name.
    Property(&'a str),
    /// A node, by position in `Config::nodes`.
    Node(usize),
    /// A resource, by position in [`flatten`]'s list.
    Resource(usize),
    /// A meta attribute of a resource.
    Meta { resource: usize, key: &'a str },
    /// An operation, by resource and position in its `ops`.
    Op { resource: usize, op: usize },
    /// A constraint, by position in `Config::constraints`.
    Constraint(usize),
    /// A key of the resource defaults.
    RscDefault(&'a str),
    /// A key of the operation defaults.
    OpDefault(&'a str),
    /// A fencing level, by position in `Config::fencing_levels`.
    FencingLevel(usize),
    /// The target of a fencing level.
    FencingTarget(usize),
    /// A device of a fencing level, by position in its `devices`.
    FencingDevice { level: usize, device: usize },
}

/// Turns a [`Subject`] into the place text of a problem or notice.
pub trait Locator {
    fn place(&self, config: &Config, subject: Subject<'_>) -> String;
}

/// Names subjects without file positions: `order "o1"`, `resource "vip" op monitor 30s`.
pub struct Describe;

impl Locator for Describe {
    fn place(&self, config: &Config, subject: Subject<'_>) -> String {
        describe(config, &flatten(config), subject)
    }
}

/// The plain description of a subject.
pub fn describe(config: &Config, flat: &[Flat<'_>], subject: Subject<'_>) -> String {
    match subject {
        Subject::Property(k) => format!("property \"{k}\""),
        Subject::Node(i) => match config.nodes.get(i) {
            Some(n) => format!("node \"{}\"", n.name),
            None => format!("node #{i}"),
        },
        Subject::Resource(i) => match flat.get(i) {
            Some(f) => format!("{} \"{}\"", f.item.kind(), f.item.id()),
            None => format!("resource #{i}"),
        },
        Subject::Meta { resource, key } => format!(
            "{} meta \"{key}\"",
            describe(config, flat, Subject::Resource(resource))
        ),
        Subject::Op { resource, op } => {
            let r = describe(config, flat, Subject::Resource(resource));
            match flat.get(resource).map(|f| f.item) {
                Some(Item::Primitive(p)) if op < p.ops.len() => {
                    let o = &p.ops[op];
                    format!(
                        "{r} op {} interval {}",
                        o.name,
                        crate::duration::format_duration_ms(o.interval_ms)
                    )
                }
                _ => format!("{r} op #{op}"),
            }
        }
        Subject::Constraint(i) => match config.constraints.get(i) {
            Some(c) => format!("{} \"{}\"", constraint_kind(c), c.id()),
            None => format!("constraint #{i}"),
        },
        Subject::RscDefault(k) => format!("resource-defaults \"{k}\""),
        Subject::OpDefault(k) => format!("op-defaults \"{k}\""),
        Subject::FencingLevel(i)
        | Subject::FencingTarget(i)
        | Subject::FencingDevice { level: i, .. } => match config.fencing_levels.get(i) {
            Some(l) => format!("fencing-level \"{}\"", l.id),
            None => format!("fencing-level #{i}"),
        },
    }
}

/// `location`, `colocation` or `order`.
pub fn constraint_kind(c: &Constraint) -> &'static str {
    match c {
        Constraint::Location(_) => "location",
        Constraint::Colocation(_) => "colocation",
        Constraint::Order(_) => "order",
    }
}

/// Validate a configuration: all errors at once, or the notices.
pub fn validate(config: &Config) -> Result<Vec<Notice>, ModelError> {
    validate_with(config, &Describe)
}

/// [`validate`] with places given by `locator`.
pub fn validate_with(config: &Config, locator: &dyn Locator) -> Result<Vec<Notice>, ModelError> {
    let (problems, notices) = check(config, locator);
    if problems.is_empty() {
        Ok(notices)
    } else {
        Err(ModelError::Invalid(problems))
    }
}

/// Every problem and notice, without deciding.
pub fn check(config: &Config, locator: &dyn Locator) -> (Vec<Problem>, Vec<Notice>) {
    let flat = flatten(config);
    let mut v = Validator {
        config,
        flat: &flat,
        locator,
        problems: Vec::new(),
        notices: Vec::new(),
        dup_ops: BTreeSet::new(),
        dup_levels: BTreeSet::new(),
    };
    v.properties();
    v.nodes();
    v.defaults();
    v.resources();
    v.fencing();
    v.ids();
    v.constraints();
    v.order_cycles();
    (v.problems, v.notices)
}

struct Validator<'a> {
    config: &'a Config,
    flat: &'a [Flat<'a>],
    locator: &'a dyn Locator,
    problems: Vec<Problem>,
    notices: Vec<Notice>,
    /// Operations reported as duplicates (resource, op), not to report their ids again.
    dup_ops: BTreeSet<(usize, usize)>,
    /// Fencing levels reported as duplicates, not to report their ids again.
    dup_levels: BTreeSet<usize>,
}

/// The type of a known attribute's value.
#[derive(Clone, Copy)]
enum Kind {
    Bool,
    Score,
    Duration,
    Role,
    Integer,
    NonNegInt,
    OneOf(&'static [&'static str]),
    /// Known, any value.
    Any,
}

/// Agent classes: Pacemaker's, and `halo` for halo's builtin agents.
pub const AGENT_CLASSES: &[&str] = &[
    "ocf", "lsb", "service", "systemd", "stonith", "nagios", "upstart", "halo",
];

const NO_QUORUM_POLICIES: &[&str] = &["stop", "freeze", "ignore", "demote", "suicide"];

/// The type of the cluster property `name`, in words (`halo property describe`).
pub fn property_type(name: &str) -> Option<String> {
    Some(match property_kind(name)? {
        Kind::Bool => "boolean".into(),
        Kind::Score => "score".into(),
        Kind::Duration => "duration".into(),
        Kind::Role => "role".into(),
        Kind::Integer => "integer".into(),
        Kind::NonNegInt => "non-negative integer".into(),
        Kind::OneOf(values) => format!("one of: {}", values.join(", ")),
        Kind::Any => "text".into(),
    })
}

fn property_kind(name: &str) -> Option<Kind> {
    use Kind::*;
    Some(match name {
        "stonith-enabled"
        | "symmetric-cluster"
        | "maintenance-mode"
        | "start-failure-is-fatal"
        | "enable-startup-probes"
        | "stop-orphan-resources"
        | "stop-orphan-actions"
        | "stop-all-resources"
        | "concurrent-fencing"
        | "startup-fencing"
        | "shutdown-lock"
        | "have-watchdog"
        | "enable-acl"
        | "remove-after-stop"
        | "is-managed-default" => Bool,
        "no-quorum-policy" => OneOf(NO_QUORUM_POLICIES),
        "placement-strategy" => OneOf(&["default", "utilization", "minimal", "balanced"]),
        "node-health-strategy" => OneOf(&[
            "none",
            "migrate-on-red",
            "only-green",
            "progressive",
            "custom",
        ]),
        "stonith-action" => OneOf(&["reboot", "off", "poweroff"]),
        "fence-reaction" => OneOf(&["stop", "panic"]),
        "cluster-recheck-interval"
        | "stonith-timeout"
        | "dc-deadtime"
        | "election-timeout"
        | "shutdown-escalation"
        | "join-integration-timeout"
        | "join-finalization-timeout"
        | "transition-delay"
        | "shutdown-lock-limit"
        | "standby-drain-time"
        | "priority-fencing-delay" => Duration,
        "pe-error-series-max"
        | "pe-warn-series-max"
        | "pe-input-series-max"
        | "batch-limit"
        | "migration-limit"
        | "cluster-ipc-limit"
        | "node-action-limit" => Integer,
        "stonith-max-attempts" => NonNegInt,
        "default-resource-stickiness"
        | "node-health-base"
        | "node-health-green"
        | "node-health-yellow"
        | "node-health-red" => Score,
        "dc-version"
        | "cluster-infrastructure"
        | "cluster-name"
        | "last-lrm-refresh"
        | "stonith-watchdog-timeout"
        | "load-threshold"
        | "notification-agent"
        | "notification-recipient"
        | "default-action-timeout" => Any,
        _ => return None,
    })
}

/// Meta attributes that only mean something on clones.
const CLONE_META: &[&str] = &[
    "clone-max",
    "clone-node-max",
    "clone-min",
    "globally-unique",
    "interleave",
    "ordered",
    "notify",
    "promotable",
    "promoted-max",
    "promoted-node-max",
    "master-max",
    "master-node-max",
];

/// Meta attributes that only mean something on promotable clones.
const PROMOTABLE_META: &[&str] = &[
    "promoted-max",
    "promoted-node-max",
    "master-max",
    "master-node-max",
];

fn meta_kind(name: &str) -> Option<Kind> {
    use Kind::*;
    Some(match name {
        "resource-stickiness" | "migration-threshold" | "priority" => Score,
        "is-managed"
        | "maintenance"
        | "allow-migrate"
        | "globally-unique"
        | "interleave"
        | "ordered"
        | "notify"
        | "critical"
        | "promotable"
        | "allow-unhealthy-nodes" => Bool,
        "failure-timeout" => Duration,
        "target-role" => Role,
        "clone-max" | "clone-node-max" | "clone-min" | "promoted-max" | "promoted-node-max"
        | "master-max" | "master-node-max" => NonNegInt,
        "multiple-active" => OneOf(&["block", "stop_only", "stop_start", "stop_unexpected"]),
        "requires" => OneOf(&["nothing", "quorum", "fencing", "unfencing"]),
        _ => return None,
    })
}

const ON_FAIL: &[&str] = &[
    "ignore", "block", "stop", "restart", "standby", "fence", "demote",
];

fn op_attr_kind(name: &str) -> Option<Kind> {
    use Kind::*;
    Some(match name {
        "timeout" | "interval" | "start-delay" => Duration,
        "on-fail" => OneOf(ON_FAIL),
        "enabled" | "record-pending" => Bool,
        "role" => Role,
        "requires" => OneOf(&["nothing", "quorum", "fencing", "unfencing"]),
        _ => return None,
    })
}

/// A role as Pacemaker reads it: case-insensitive, with the legacy names Master and
/// Slave.
pub fn parse_role(s: &str) -> Option<Role> {
    match s.trim().to_ascii_lowercase().as_str() {
        "stopped" => Some(Role::Stopped),
        "started" => Some(Role::Started),
        "unpromoted" | "slave" => Some(Role::Unpromoted),
        "promoted" | "master" => Some(Role::Promoted),
        _ => None,
    }
}

/// Pacemaker's booleans.
pub fn parse_bool(s: &str) -> Option<bool> {
    match s.trim().to_ascii_lowercase().as_str() {
        "true" | "on" | "yes" | "y" | "1" => Some(true),
        "false" | "off" | "no" | "n" | "0" => Some(false),
        _ => None,
    }
}

/// Why `value` is not of `kind`, with the code to report, or `None` if it is fine.
fn check_value(kind: Kind, value: &str) -> Option<(&'static str, String)> {
    match kind {
        Kind::Bool => parse_bool(value).is_none().then(|| {
            (
                codes::BAD_VALUE,
                format!("'{value}' is not a boolean: write true or false"),
            )
        }),
        Kind::Score => Score::parse(value)
            .err()
            .map(|e| (codes::BAD_SCORE, e.to_string())),
        Kind::Duration => parse_duration_ms(value)
            .err()
            .map(|e| (codes::BAD_VALUE, e.to_string())),
        Kind::Role => parse_role(value).is_none().then(|| {
            (
                codes::BAD_VALUE,
                format!("'{value}' is not a role: write Stopped, Started, Unpromoted or Promoted"),
            )
        }),
        Kind::Integer => value
            .trim()
            .parse::<i64>()
            .is_err()
            .then(|| (codes::BAD_VALUE, format!("'{value}' is not an integer"))),
        Kind::NonNegInt => value.trim().parse::<u64>().is_err().then(|| {
            (
                codes::BAD_VALUE,
                format!("'{value}' is not a non-negative integer"),
            )
        }),
        Kind::OneOf(list) => (!list.contains(&value)).then(|| {
            (
                codes::BAD_VALUE,
                format!("'{value}' is not one of: {}", list.join(", ")),
            )
        }),
        Kind::Any => None,
    }
}

/// An id Pacemaker could store: not empty, no whitespace, no `:` (reserved for clone
/// instance numbers).
fn id_problem(id: &str) -> Option<String> {
    if id.is_empty() {
        Some("the id is empty".to_string())
    } else if id.chars().any(|c| c.is_whitespace() || c == ':') {
        Some(format!(
            "id \"{id}\" contains whitespace or ':' (':' is reserved for clone instances)"
        ))
    } else {
        None
    }
}

impl<'a> Validator<'a> {
    fn place(&self, s: Subject<'_>) -> String {
        self.locator.place(self.config, s)
    }

    fn problem(&mut self, code: &'static str, s: Subject<'_>, reason: impl Into<String>) {
        let place = self.place(s);
        self.problems.push(Problem {
            code,
            place,
            reason: reason.into(),
        });
    }

    fn notice(&mut self, s: Subject<'_>, what: impl Into<String>) {
        let place = self.place(s);
        self.notices.push(Notice {
            place,
            what: what.into(),
        });
    }

    fn properties(&mut self) {
        for (k, v) in &self.config.properties {
            match property_kind(k) {
                Some(kind) => {
                    if let Some((code, why)) = check_value(kind, v) {
                        self.problem(code, Subject::Property(k), why);
                    } else if let Some(Effect::NoEffect(why)) =
                        crate::properties::property(k).map(|p| p.effect)
                    {
                        self.notice(
                            Subject::Property(k),
                            format!("accepted, but it has no effect in halo: {why}"),
                        );
                    }
                }
                None => self.notice(
                    Subject::Property(k),
                    "not a cluster property halo knows (a typo?); it is kept but has no effect",
                ),
            }
        }
    }

    fn nodes(&mut self) {
        let mut names: HashMap<&str, usize> = HashMap::new();
        let mut ids: HashMap<&str, usize> = HashMap::new();
        for (i, n) in self.config.nodes.iter().enumerate() {
            if n.name.is_empty() {
                self.problem(codes::BAD_ID, Subject::Node(i), "the node name is empty");
            } else if let Some(&first) = names.get(n.name.as_str()) {
                let at = self.place(Subject::Node(first));
                self.problem(
                    codes::DUPLICATE_NODE,
                    Subject::Node(i),
                    format!("node name \"{}\" is already used by {at}", n.name),
                );
            } else {
                names.insert(&n.name, i);
            }
            if !n.id.is_empty() && n.id != n.name {
                if let Some(&first) = ids.get(n.id.as_str()) {
                    let at = self.place(Subject::Node(first));
                    self.problem(
                        codes::DUPLICATE_NODE,
                        Subject::Node(i),
                        format!("node id \"{}\" is already used by {at}", n.id),
                    );
                } else {
                    ids.insert(&n.id, i);
                }
            }
            for key in ["standby", "maintenance"] {
                if let Some(v) = n.attrs.get(key) {
                    if parse_bool(v).is_none() {
                        self.problem(
                            codes::BAD_VALUE,
                            Subject::Node(i),
                            format!(
                                "attribute {key} = '{v}' is not a boolean: write true or false"
                            ),
                        );
                    }
                }
            }
        }
    }

    fn defaults(&mut self) {
        for (k, v) in &self.config.rsc_defaults {
            if let Some((code, why)) = meta_kind(k).and_then(|kind| check_value(kind, v)) {
                self.problem(code, Subject::RscDefault(k), format!("{k}: {why}"));
            }
        }
        for (k, v) in &self.config.op_defaults {
            if let Some((code, why)) = op_attr_kind(k).and_then(|kind| check_value(kind, v)) {
                self.problem(code, Subject::OpDefault(k), format!("{k}: {why}"));
            }
        }
    }

    /// Whether resource `i` is inside a promotable clone.
    fn in_promotable(&self, i: usize) -> bool {
        let mut p = self.flat[i].parent;
        while let Some(j) = p {
            if let Item::Clone(c) = self.flat[j].item {
                return c.promotable;
            }
            p = self.flat[j].parent;
        }
        false
    }

    fn in_clone(&self, i: usize) -> bool {
        let mut p = self.flat[i].parent;
        while let Some(j) = p {
            if let Item::Clone(_) = self.flat[j].item {
                return true;
            }
            p = self.flat[j].parent;
        }
        false
    }

    fn resources(&mut self) {
        for i in 0..self.flat.len() {
            let item = self.flat[i].item;
            if let Some(why) = id_problem(item.id()) {
                self.problem(codes::BAD_ID, Subject::Resource(i), why);
            }
            for (k, v) in item.meta() {
                if let Some((code, why)) = meta_kind(k).and_then(|kind| check_value(kind, v)) {
                    self.problem(
                        code,
                        Subject::Meta {
                            resource: i,
                            key: k,
                        },
                        format!("meta attribute {k}: {why}"),
                    );
                }
            }
            match item {
                Item::Primitive(p) => self.primitive(i, p),
                Item::Group(g) => {
                    if g.members.is_empty() {
                        self.problem(
                            codes::EMPTY_GROUP,
                            Subject::Resource(i),
                            "the group has no members: add members or remove the group",
                        );
                    }
                }
                Item::Clone(c) => {
                    if let Resource::Clone(inner) = c.child.as_ref() {
                        self.problem(
                            codes::CLONE_OF_CLONE,
                            Subject::Resource(i),
                            format!(
                                "the clone's child \"{}\" is itself a clone: clone the primitive or group once",
                                inner.id
                            ),
                        );
                    }
                    if !c.promotable {
                        for k in PROMOTABLE_META {
                            if c.meta.contains_key(*k) {
                                self.notice(
                                    Subject::Meta { resource: i, key: k },
                                    format!("{k} has no effect: the clone is not promotable (set promotable = true)"),
                                );
                            }
                        }
                    }
                }
            }
            if !matches!(item, Item::Clone(_)) && !self.in_clone(i) {
                for k in CLONE_META {
                    if item.meta().contains_key(*k) {
                        self.notice(
                            Subject::Meta {
                                resource: i,
                                key: k,
                            },
                            format!(
                                "{k} has an effect only on clones; this {} is not in one",
                                item.kind()
                            ),
                        );
                    }
                }
            }
        }
    }

    fn primitive(&mut self, i: usize, p: &Primitive) {
        let a = &p.agent;
        if a.class.is_empty() || a.kind.is_empty() {
            self.problem(
                codes::BAD_AGENT,
                Subject::Resource(i),
                format!("agent \"{a}\" needs a class and a type, e.g. ocf:heartbeat:IPaddr2 or systemd:haproxy"),
            );
        } else if !AGENT_CLASSES.contains(&a.class.as_str()) {
            let hint = if a.provider.is_none() && !a.kind.contains(':') {
                format!(" (an OCF agent is written ocf:{a})")
            } else {
                String::new()
            };
            self.problem(
                codes::BAD_AGENT,
                Subject::Resource(i),
                format!(
                    "agent \"{a}\": unknown class \"{}\"{hint}; the classes are {}",
                    a.class,
                    AGENT_CLASSES.join(", ")
                ),
            );
        } else if a.class == "ocf" && a.provider.as_deref().unwrap_or("").is_empty() {
            self.problem(
                codes::BAD_AGENT,
                Subject::Resource(i),
                format!(
                    "OCF agent \"{a}\" needs a provider: ocf:PROVIDER:{}",
                    a.kind
                ),
            );
        } else if a.class != "ocf" && a.provider.is_some() {
            self.problem(
                codes::BAD_AGENT,
                Subject::Resource(i),
                format!(
                    "agent \"{a}\": only the ocf class has providers; write {}:{}",
                    a.class, a.kind
                ),
            );
        }
        let mut seen: HashMap<(&str, u64), usize> = HashMap::new();
        let promotable = self.in_promotable(i);
        for (j, op) in p.ops.iter().enumerate() {
            let here = Subject::Op { resource: i, op: j };
            if op.name.is_empty() {
                self.problem(codes::BAD_VALUE, here, "the operation has no name");
            }
            if let Some(&first) = seen.get(&(op.name.as_str(), op.interval_ms)) {
                let same_role = p.ops[first].role == op.role;
                let interval = crate::duration::format_duration_ms(op.interval_ms);
                if op.interval_ms > 0 && same_role {
                    self.dup_ops.insert((i, j));
                    self.problem(
                        codes::DUPLICATE_OP,
                        here,
                        format!(
                            "a second {} operation with interval {interval}: remove one or give it another interval",
                            op.name
                        ),
                    );
                } else {
                    // Pacemaker reports these too but goes on; the two share one
                    // operation key, so only one of them is really used.
                    let what = if same_role {
                        format!(
                            "a second {} operation: only the first is used; remove one",
                            op.name
                        )
                    } else {
                        let other = p.ops[first].role.map(|r| r.as_str()).unwrap_or("any role");
                        format!(
                            "a second {} operation with interval {interval} (the first is for {other}): they share one operation key, so only one is used; give each role its own interval",
                            op.name
                        )
                    };
                    self.notice(here, what);
                }
            } else {
                seen.insert((op.name.as_str(), op.interval_ms), j);
            }
            if matches!(op.role, Some(Role::Promoted) | Some(Role::Unpromoted)) && !promotable {
                self.notice(
                    here,
                    format!(
                        "role {} never happens: the resource is not in a promotable clone",
                        op.role.map(|r| r.as_str()).unwrap_or_default()
                    ),
                );
            }
            for (k, v) in &op.attrs {
                if let Some((code, why)) = op_attr_kind(k).and_then(|kind| check_value(kind, v)) {
                    self.problem(code, here, format!("{k}: {why}"));
                }
            }
        }
    }

    /// One id namespace over resources, constraints, operations, sets and rules.
    fn ids(&mut self) {
        let mut seen: HashMap<&str, String> = HashMap::new();
        let mut dup = |this: &mut Self, id: &'a str, s: Subject<'_>| {
            if id.is_empty() {
                return;
            }
            if let Some(first) = seen.get(id) {
                let reason = format!("id \"{id}\" is already used by {first}");
                this.problem(codes::DUPLICATE_ID, s, reason);
            } else {
                seen.insert(id, this.place(s));
            }
        };
        for i in 0..self.flat.len() {
            let item = self.flat[i].item;
            dup(self, item.id(), Subject::Resource(i));
        }
        for i in 0..self.flat.len() {
            if let Item::Primitive(p) = self.flat[i].item {
                for (j, op) in p.ops.iter().enumerate() {
                    // Already reported as a duplicate operation.
                    if !self.dup_ops.contains(&(i, j)) {
                        dup(self, &op.id, Subject::Op { resource: i, op: j });
                    }
                }
            }
        }
        for (i, l) in self.config.fencing_levels.iter().enumerate() {
            let s = Subject::FencingLevel(i);
            if let Some(why) = id_problem(&l.id) {
                self.problem(codes::BAD_ID, s, why);
            }
            if !self.dup_levels.contains(&i) {
                dup(self, &l.id, s);
            }
        }
        for (i, c) in self.config.constraints.iter().enumerate() {
            let s = Subject::Constraint(i);
            if let Some(why) = id_problem(c.id()) {
                self.problem(codes::BAD_ID, s, why);
            }
            dup(self, c.id(), s);
            for set in constraint_sets(c) {
                dup(self, &set.id, s);
            }
            if let Constraint::Location(Location {
                how: LocationHow::Rules(rules),
                ..
            }) = c
            {
                let mut stack: Vec<&Rule> = rules.iter().collect();
                while let Some(r) = stack.pop() {
                    dup(self, &r.id, s);
                    for e in &r.exprs {
                        match e {
                            RuleExpr::Attr(a) => dup(self, &a.id, s),
                            RuleExpr::Date(d) => dup(self, &d.id, s),
                            RuleExpr::Rule(inner) => stack.push(inner),
                        }
                    }
                }
            }
        }
    }

    /// The fencing topology: indexes, devices, targets, duplicates.
    fn fencing(&mut self) {
        let levels = &self.config.fencing_levels;
        let by_id: HashMap<&str, Item<'a>> = self
            .flat
            .iter()
            .rev()
            .map(|f| (f.item.id(), f.item))
            .collect();
        let nodes: BTreeSet<&str> = self.config.nodes.iter().map(|n| n.name.as_str()).collect();
        let mut seen: HashMap<(&FencingTarget, u32), usize> = HashMap::new();
        for (i, l) in levels.iter().enumerate() {
            let here = Subject::FencingLevel(i);
            if !FencingLevel::index_is_valid(l.index) {
                self.problem(
                    codes::BAD_VALUE,
                    here,
                    format!(
                        "index {} is not a level: levels are numbered {} to {}",
                        l.index,
                        FencingLevel::INDEX_MIN,
                        FencingLevel::INDEX_MAX
                    ),
                );
            } else if let Some(&first) = seen.get(&(&l.target, l.index)) {
                let at = self.place(Subject::FencingLevel(first));
                self.dup_levels.insert(i);
                self.problem(
                    codes::DUPLICATE_LEVEL,
                    here,
                    format!(
                        "{} already has a level {} at {at}: list all its devices in one level, or give this one another index",
                        l.target, l.index
                    ),
                );
            } else {
                seen.insert((&l.target, l.index), i);
            }
            let target = Subject::FencingTarget(i);
            match &l.target {
                FencingTarget::Node(n) if n.is_empty() => {
                    self.problem(codes::BAD_VALUE, target, "the target node name is empty")
                }
                FencingTarget::Node(n) => {
                    if !nodes.contains(n.as_str()) {
                        self.notice(
                            target,
                            format!("node \"{n}\" is not configured; the level applies if it joins"),
                        );
                    }
                }
                FencingTarget::Pattern(p) => match crate::ere::check_ere(p) {
                    Err(why) => self.problem(
                        codes::BAD_PATTERN,
                        target,
                        format!(
                            "target-pattern \"{p}\" is not a POSIX extended regular expression: {why}; Pacemaker's fencer would never use this level"
                        ),
                    ),
                    Ok(()) if p.is_empty() => {
                        self.notice(target, "the empty target-pattern matches every node")
                    }
                    Ok(()) => {}
                },
                FencingTarget::Attribute { name, .. } if name.is_empty() => self.problem(
                    codes::BAD_VALUE,
                    target,
                    "the target attribute name is empty",
                ),
                FencingTarget::Attribute { .. } => {}
            }
            if l.devices.is_empty() {
                self.problem(
                    codes::EMPTY_LEVEL,
                    here,
                    "the level lists no devices: list its fence devices or remove the level",
                );
            }
            for (j, d) in l.devices.iter().enumerate() {
                let s = Subject::FencingDevice {
                    level: i,
                    device: j,
                };
                match by_id.get(d.as_str()) {
                    Some(Item::Primitive(p)) if p.agent.class == "stonith" => {}
                    Some(item) => {
                        let what = match item {
                            Item::Primitive(p) => format!("a resource with agent {}", p.agent),
                            other => format!("a {}", other.kind()),
                        };
                        self.problem(
                            codes::UNKNOWN_DEVICE,
                            s,
                            format!(
                                "device \"{d}\" is {what}, not a fence device: a device is a primitive of class stonith"
                            ),
                        );
                    }
                    None if d.is_empty() => {
                        self.problem(codes::UNKNOWN_DEVICE, s, "a device name is empty")
                    }
                    None => {
                        let hint = if d.contains(',') {
                            ": write each device as its own string, e.g. [\"a\", \"b\"]"
                        } else {
                            ": no stonith resource has this id"
                        };
                        self.problem(
                            codes::UNKNOWN_DEVICE,
                            s,
                            format!("device \"{d}\" is not configured{hint}"),
                        );
                    }
                }
            }
        }
    }

    fn constraints(&mut self) {
        let known: BTreeSet<&str> = self.flat.iter().map(|f| f.item.id()).collect();
        let nodes: BTreeSet<&str> = self
            .config
            .nodes
            .iter()
            .flat_map(|n| [n.name.as_str(), n.id.as_str()])
            .collect();
        for (i, c) in self.config.constraints.iter().enumerate() {
            let s = Subject::Constraint(i);
            let mut refs: Vec<(&str, &str)> = Vec::new();
            match c {
                Constraint::Location(l) => {
                    if let LocationTarget::Resource(r) = &l.target {
                        refs.push(("resource", r));
                    }
                    match &l.how {
                        LocationHow::Node { node, .. } => {
                            if !nodes.contains(node.as_str()) {
                                self.notice(
                                    s,
                                    format!("node \"{node}\" is not configured; the constraint applies if it joins"),
                                );
                            }
                        }
                        LocationHow::Rules(rules) => {
                            for r in rules {
                                if r.score.is_none() && r.score_attribute.is_none() {
                                    self.notice(
                                        s,
                                        format!("rule \"{}\" has no score and no score-attribute: it counts 0", r.id),
                                    );
                                }
                                self.rule(s, r);
                            }
                        }
                    }
                }
                Constraint::Colocation(Colocation::Pair { rsc, with_rsc, .. }) => {
                    refs.push(("resource", rsc));
                    refs.push(("with", with_rsc));
                    if rsc == with_rsc {
                        self.problem(
                            codes::SELF_REFERENCE,
                            s,
                            format!("resource \"{rsc}\" is colocated with itself"),
                        );
                    }
                }
                Constraint::Order(Order::Pair { first, then, .. }) => {
                    refs.push(("first", first));
                    refs.push(("then", then));
                }
                _ => {}
            }
            for (n, set) in constraint_sets(c).iter().enumerate() {
                if set.resources.is_empty() {
                    self.problem(
                        codes::EMPTY_SET,
                        s,
                        format!("resource set #{} lists no resources", n + 1),
                    );
                }
                for r in &set.resources {
                    refs.push(("set", r));
                }
            }
            for (field, r) in refs {
                if !known.contains(r) {
                    self.problem(
                        codes::UNKNOWN_RESOURCE,
                        s,
                        format!("unknown resource \"{r}\" (in {field}): no resource, group or clone has this id"),
                    );
                }
            }
        }
    }

    fn rule(&mut self, s: Subject<'_>, r: &Rule) {
        if r.exprs.is_empty() {
            self.notice(s, format!("rule \"{}\" has no expressions", r.id));
        }
        for e in &r.exprs {
            match e {
                RuleExpr::Rule(inner) => self.rule(s, inner),
                RuleExpr::Date(d) => {
                    if let (Some(a), Some(b)) = (d.start, d.end) {
                        if a > b {
                            self.problem(
                                codes::BAD_VALUE,
                                s,
                                format!("rule \"{}\": the date range ends before it starts", r.id),
                            );
                        }
                    }
                }
                RuleExpr::Attr(a) => {
                    if a.attribute.is_empty() {
                        self.problem(
                            codes::BAD_VALUE,
                            s,
                            format!("rule \"{}\": an expression has no attribute", r.id),
                        );
                    }
                    let unary = matches!(a.op, ExprOp::Defined | ExprOp::NotDefined);
                    if !unary && a.value.is_none() {
                        self.problem(
                            codes::BAD_VALUE,
                            s,
                            format!(
                                "rule \"{}\": the expression on \"{}\" compares with no value",
                                r.id, a.attribute
                            ),
                        );
                    }
                    if unary && a.value.is_some() {
                        self.notice(
                            s,
                            format!(
                                "rule \"{}\": the (not_)defined expression on \"{}\" ignores its value",
                                r.id, a.attribute
                            ),
                        );
                    }
                }
            }
        }
    }

    fn order_cycles(&mut self) {
        let g = OrderGraph::build(self.config, self.flat);
        let mut reported: BTreeSet<Vec<String>> = BTreeSet::new();
        for cycle in g.cycles() {
            let mut via: Vec<String> = Vec::new();
            let mut first_constraint = None;
            for &(_, label) in &cycle {
                if let Some(l) = label {
                    let text = match l {
                        Label::Constraint(ci) => {
                            first_constraint.get_or_insert(ci);
                            self.config.constraints[ci].id().to_string()
                        }
                        Label::Group(gi) => format!("group {}", self.flat[gi].item.id()),
                    };
                    if !via.contains(&text) {
                        via.push(text);
                    }
                }
            }
            let mut key = via.clone();
            key.sort();
            if !reported.insert(key) {
                continue;
            }
            // The path: each step's resource and action, repeats merged.
            let mut steps: Vec<String> = Vec::new();
            for &(node, _) in cycle.iter().chain(cycle.first()) {
                let (r, a, _) = g.nodes[node];
                let step = format!("{} {}", self.flat[r].item.id(), a);
                if steps.last() != Some(&step) {
                    steps.push(step);
                }
            }
            let (groups, constraints): (Vec<&String>, Vec<&String>) =
                via.iter().partition(|v| v.starts_with("group "));
            let mut because = Vec::new();
            if !constraints.is_empty() {
                let list: Vec<&str> = constraints.iter().map(|s| s.as_str()).collect();
                let word = if list.len() == 1 {
                    "constraint"
                } else {
                    "constraints"
                };
                because.push(format!("{word} {}", list.join(", ")));
            }
            for g in groups {
                because.push(format!("the member order of {g}"));
            }
            let reason = format!(
                "order cycle: {} via {}: none of these actions could ever run; make one of these orders kind = \"Optional\" or remove it",
                steps.join(" -> "),
                because.join(" and ")
            );
            let s = Subject::Constraint(first_constraint.unwrap_or(0));
            self.problem(codes::ORDER_CYCLE, s, reason);
        }
    }
}

/// The resource sets of a constraint.
pub fn constraint_sets(c: &Constraint) -> &[ResourceSet] {
    match c {
        Constraint::Location(Location {
            target: LocationTarget::Sets(s),
            ..
        })
        | Constraint::Colocation(Colocation::Sets { sets: s, .. })
        | Constraint::Order(Order::Sets { sets: s, .. }) => s,
        _ => &[],
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Phase {
    Begin,
    End,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Label {
    Constraint(usize),
    Group(usize),
}

/// The graph of mandatory orderings over (resource, action, phase) nodes. A primitive's
/// action goes from its begin to its end; a group's or clone's action begins before its
/// children's and ends after them, so orders on composites and on their children meet.
struct OrderGraph {
    nodes: Vec<(usize, Action, Phase)>,
    index: HashMap<(usize, Action, Phase), usize>,
    edges: Vec<Vec<(usize, Option<Label>)>>,
}

const ACTIONS: [Action; 4] = [Action::Start, Action::Stop, Action::Promote, Action::Demote];

impl OrderGraph {
    fn node(&mut self, r: usize, a: Action, p: Phase) -> usize {
        if let Some(&i) = self.index.get(&(r, a, p)) {
            return i;
        }
        let i = self.nodes.len();
        self.nodes.push((r, a, p));
        self.index.insert((r, a, p), i);
        self.edges.push(Vec::new());
        i
    }

    fn edge(&mut self, from: (usize, Action, Phase), to: (usize, Action, Phase), l: Option<Label>) {
        let f = self.node(from.0, from.1, from.2);
        let t = self.node(to.0, to.1, to.2);
        if !self.edges[f].iter().any(|&(x, _)| x == t) {
            self.edges[f].push((t, l));
        }
    }

    fn build(config: &Config, flat: &[Flat<'_>]) -> OrderGraph {
        use Phase::*;
        let mut g = OrderGraph {
            nodes: Vec::new(),
            index: HashMap::new(),
            edges: Vec::new(),
        };
        let mut by_id: HashMap<&str, usize> = HashMap::new();
        for (i, f) in flat.iter().enumerate() {
            by_id.entry(f.item.id()).or_insert(i);
        }
        // Implicit orders.
        for (i, f) in flat.iter().enumerate() {
            match f.item {
                Item::Primitive(_) => {
                    for a in ACTIONS {
                        g.edge((i, a, Begin), (i, a, End), None);
                    }
                    let promotable = {
                        let mut p = f.parent;
                        let mut found = false;
                        while let Some(j) = p {
                            if let Item::Clone(c) = flat[j].item {
                                found = c.promotable;
                                break;
                            }
                            p = flat[j].parent;
                        }
                        found
                    };
                    if promotable {
                        g.edge((i, Action::Start, End), (i, Action::Promote, Begin), None);
                        g.edge((i, Action::Demote, End), (i, Action::Stop, Begin), None);
                    }
                }
                Item::Group(grp) => {
                    let members: Vec<usize> = (0..grp.members.len()).map(|k| i + 1 + k).collect();
                    let l = Some(Label::Group(i));
                    for a in ACTIONS {
                        let mut chain = members.clone();
                        if matches!(a, Action::Stop | Action::Demote) {
                            chain.reverse();
                        }
                        match (chain.first(), chain.last()) {
                            (Some(&first), Some(&last)) => {
                                g.edge((i, a, Begin), (first, a, Begin), None);
                                for w in chain.windows(2) {
                                    g.edge((w[0], a, End), (w[1], a, Begin), l);
                                }
                                g.edge((last, a, End), (i, a, End), None);
                            }
                            _ => g.edge((i, a, Begin), (i, a, End), None),
                        }
                    }
                }
                Item::Clone(_) => {
                    let child = i + 1;
                    for a in ACTIONS {
                        g.edge((i, a, Begin), (child, a, Begin), None);
                        g.edge((child, a, End), (i, a, End), None);
                    }
                }
            }
        }
        // Constraints.
        for (ci, c) in config.constraints.iter().enumerate() {
            let l = Some(Label::Constraint(ci));
            match c {
                Constraint::Order(Order::Pair {
                    kind,
                    symmetrical,
                    first,
                    first_action,
                    then,
                    then_action,
                    require_all,
                    ..
                }) => {
                    // "Any instance of first" is not a strict order of every action.
                    if *kind != OrderKind::Mandatory || !require_all {
                        continue;
                    }
                    let (Some(&f), Some(&t)) =
                        (by_id.get(first.as_str()), by_id.get(then.as_str()))
                    else {
                        continue;
                    };
                    let fa = first_action.unwrap_or(Action::Start);
                    let ta = then_action.unwrap_or(fa);
                    g.edge((f, fa, End), (t, ta, Begin), l);
                    if symmetrical.unwrap_or(true) {
                        g.edge((t, ta.inverse(), End), (f, fa.inverse(), Begin), l);
                    }
                }
                Constraint::Order(Order::Sets {
                    kind,
                    symmetrical,
                    sets,
                    ..
                }) => {
                    let resolved: Vec<(Vec<usize>, Action, &ResourceSet)> = sets
                        .iter()
                        .map(|s| {
                            let members = s
                                .resources
                                .iter()
                                .filter_map(|r| by_id.get(r.as_str()).copied())
                                .collect();
                            (members, s.action.unwrap_or(Action::Start), s)
                        })
                        .collect();
                    let sym = symmetrical.unwrap_or(true);
                    let add = |g: &mut OrderGraph, f: usize, fa: Action, t: usize, ta: Action| {
                        g.edge((f, fa, End), (t, ta, Begin), l);
                        if sym {
                            g.edge((t, ta.inverse(), End), (f, fa.inverse(), Begin), l);
                        }
                    };
                    for (members, a, s) in &resolved {
                        let set_kind = s.kind.unwrap_or(*kind);
                        if s.sequential && set_kind == OrderKind::Mandatory {
                            for w in members.windows(2) {
                                add(&mut g, w[0], *a, w[1], *a);
                            }
                        }
                    }
                    if *kind == OrderKind::Mandatory {
                        for w in resolved.windows(2) {
                            let (from, fa, fs) = &w[0];
                            let (to, ta, _) = &w[1];
                            if !fs.require_all {
                                continue;
                            }
                            for &f in from {
                                for &t in to {
                                    add(&mut g, f, *fa, t, *ta);
                                }
                            }
                        }
                    }
                }
                _ => {}
            }
        }
        g
    }

    /// One shortest cycle per strongly connected component that has a cycle, as the
    /// list of (node, label of the edge leaving it).
    fn cycles(&self) -> Vec<Vec<(usize, Option<Label>)>> {
        let comp = self.components();
        let mut done: BTreeSet<usize> = BTreeSet::new();
        let mut out = Vec::new();
        for start in 0..self.nodes.len() {
            let c = comp[start];
            if done.contains(&c) {
                continue;
            }
            // Shortest path from start back to start inside its component.
            let mut prev: Vec<Option<(usize, Option<Label>)>> = vec![None; self.nodes.len()];
            let mut queue = VecDeque::new();
            let mut seen = vec![false; self.nodes.len()];
            queue.push_back(start);
            let mut found = false;
            'bfs: while let Some(u) = queue.pop_front() {
                for &(v, l) in &self.edges[u] {
                    if comp[v] != c {
                        continue;
                    }
                    if v == start {
                        prev[start] = Some((u, l));
                        found = true;
                        break 'bfs;
                    }
                    if !seen[v] {
                        seen[v] = true;
                        prev[v] = Some((u, l));
                        queue.push_back(v);
                    }
                }
            }
            if !found {
                continue;
            }
            done.insert(c);
            let mut cycle = Vec::new();
            let mut at = start;
            while let Some((p, l)) = prev[at] {
                cycle.push((p, l));
                at = p;
                if at == start {
                    break;
                }
            }
            cycle.reverse();
            out.push(cycle);
        }
        out
    }

    /// Strongly connected components (iterative Tarjan): component number per node.
    fn components(&self) -> Vec<usize> {
        let n = self.nodes.len();
        let mut index = vec![usize::MAX; n];
        let mut low = vec![0; n];
        let mut on_stack = vec![false; n];
        let mut stack = Vec::new();
        let mut comp = vec![usize::MAX; n];
        let mut next = 0;
        let mut ncomp = 0;
        for root in 0..n {
            if index[root] != usize::MAX {
                continue;
            }
            let mut call: Vec<(usize, usize)> = vec![(root, 0)];
            index[root] = next;
            low[root] = next;
            next += 1;
            stack.push(root);
            on_stack[root] = true;
            while let Some(&mut (u, ref mut k)) = call.last_mut() {
                if *k < self.edges[u].len() {
                    let v = self.edges[u][*k].0;
                    *k += 1;
                    if index[v] == usize::MAX {
                        index[v] = next;
                        low[v] = next;
                        next += 1;
                        stack.push(v);
                        on_stack[v] = true;
                        call.push((v, 0));
                    } else if on_stack[v] {
                        low[u] = low[u].min(index[v]);
                    }
                } else {
                    call.pop();
                    if let Some(&(p, _)) = call.last() {
                        low[p] = low[p].min(low[u]);
                    }
                    if low[u] == index[u] {
                        while let Some(w) = stack.pop() {
                            on_stack[w] = false;
                            comp[w] = ncomp;
                            if w == u {
                                break;
                            }
                        }
                        ncomp += 1;
                    }
                }
            }
        }
        comp
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn prim(id: &str) -> Primitive {
        Primitive {
            id: id.into(),
            agent: AgentRef {
                class: "ocf".into(),
                provider: Some("pacemaker".into()),
                kind: "Dummy".into(),
            },
            ..Default::default()
        }
    }

    fn order(
        id: &str,
        first: &str,
        fa: Option<Action>,
        then: &str,
        ta: Option<Action>,
    ) -> Constraint {
        Constraint::Order(Order::Pair {
            id: id.into(),
            kind: OrderKind::Mandatory,
            symmetrical: None,
            first: first.into(),
            first_action: fa,
            then: then.into(),
            then_action: ta,
            require_all: true,
        })
    }

    fn set(id: &str, resources: &[&str]) -> ResourceSet {
        ResourceSet {
            id: id.into(),
            resources: resources.iter().map(|s| s.to_string()).collect(),
            sequential: true,
            require_all: true,
            ..Default::default()
        }
    }

    fn errors(c: &Config) -> Vec<String> {
        match validate(c) {
            Ok(_) => Vec::new(),
            Err(ModelError::Invalid(ps)) => ps.iter().map(|p| p.to_string()).collect(),
            Err(e) => vec![e.to_string()],
        }
    }

    fn with(resources: Vec<Resource>, constraints: Vec<Constraint>) -> Config {
        Config {
            resources,
            constraints,
            ..Default::default()
        }
    }

    /// Without file positions, places name the object.
    #[test]
    fn places_name_objects_without_a_file() {
        let c = with(
            vec![Resource::Primitive(prim("a"))],
            vec![order("o1", "a", None, "ghost", None)],
        );
        assert_eq!(
            errors(&c),
            ["HALO-E023 order \"o1\": unknown resource \"ghost\" (in then): no resource, group or clone has this id"]
        );
    }

    /// A clone of a clone cannot come from the native format, but from any other
    /// source it is caught.
    #[test]
    fn clone_of_a_clone_is_an_error() {
        let inner = Resource::Clone(Clone {
            id: "inner".into(),
            meta: Attrs::new(),
            promotable: false,
            child: Box::new(Resource::Primitive(prim("p"))),
        });
        let c = with(
            vec![Resource::Clone(Clone {
                id: "outer".into(),
                meta: Attrs::new(),
                promotable: false,
                child: Box::new(inner),
            })],
            vec![],
        );
        assert_eq!(
            errors(&c),
            ["HALO-E042 clone \"outer\": the clone's child \"inner\" is itself a clone: clone the primitive or group once"]
        );
    }

    /// Two symmetrical orders in opposite directions make a start cycle and a stop
    /// cycle; they are one mistake and reported once.
    #[test]
    fn a_cycle_and_its_mirror_are_reported_once() {
        let c = with(
            vec![
                Resource::Primitive(prim("a")),
                Resource::Primitive(prim("b")),
            ],
            vec![
                order("o1", "a", None, "b", None),
                order("o2", "b", None, "a", None),
            ],
        );
        let e = errors(&c);
        assert_eq!(e.len(), 1, "{e:#?}");
        assert!(
            e[0].starts_with(
                "HALO-E040 order \"o1\": order cycle: a start -> b start -> a start via constraints o1, o2"
            ),
            "{}",
            e[0]
        );
    }

    /// Only mandatory orders of all instances can deadlock.
    #[test]
    fn optional_serialize_and_any_instance_orders_are_not_cycles() {
        let mut c = with(
            vec![
                Resource::Primitive(prim("a")),
                Resource::Primitive(prim("b")),
            ],
            vec![
                order("o1", "a", None, "b", None),
                order("o2", "b", None, "a", None),
            ],
        );
        for kind in [OrderKind::Optional, OrderKind::Serialize] {
            if let Constraint::Order(Order::Pair { kind: k, .. }) = &mut c.constraints[1] {
                *k = kind;
            }
            assert_eq!(errors(&c), Vec::<String>::new(), "{kind:?}");
        }
        if let Constraint::Order(Order::Pair {
            kind, require_all, ..
        }) = &mut c.constraints[1]
        {
            *kind = OrderKind::Mandatory;
            *require_all = false;
        }
        assert_eq!(errors(&c), Vec::<String>::new());
    }

    /// A promotable clone starts before it promotes: ordering its promotion before
    /// something its start waits for is a deadlock.
    #[test]
    fn cycle_through_start_before_promote() {
        let c = with(
            vec![
                Resource::Clone(Clone {
                    id: "db-clone".into(),
                    meta: Attrs::new(),
                    promotable: true,
                    child: Box::new(Resource::Primitive(prim("db"))),
                }),
                Resource::Primitive(prim("app")),
            ],
            vec![
                order(
                    "promote-then-app",
                    "db-clone",
                    Some(Action::Promote),
                    "app",
                    Some(Action::Start),
                ),
                order("app-then-db", "app", None, "db-clone", None),
            ],
        );
        let e = errors(&c);
        assert_eq!(e.len(), 1, "{e:#?}");
        assert!(
            e[0].contains("order cycle: db-clone start -> db start -> db promote -> db-clone promote -> app start -> db-clone start via constraints promote-then-app, app-then-db"),
            "{}",
            e[0]
        );
        // Without the promotion order there is no cycle.
        let mut fine = c.clone();
        fine.constraints.remove(0);
        assert_eq!(errors(&fine), Vec::<String>::new());
    }

    /// Sets order their members in sequence and each set after the previous one.
    #[test]
    fn cycle_through_resource_sets() {
        let ids = ["a", "b", "c", "d"];
        let resources = ids.iter().map(|i| Resource::Primitive(prim(i))).collect();
        let sets = Constraint::Order(Order::Sets {
            id: "chain".into(),
            kind: OrderKind::Mandatory,
            symmetrical: Some(false),
            sets: vec![set("s1", &["a", "b"]), set("s2", &["c", "d"])],
        });
        let mut c = with(resources, vec![sets, order("back", "d", None, "b", None)]);
        let e = errors(&c);
        assert_eq!(e.len(), 1, "{e:#?}");
        assert!(
            e[0].contains("order cycle: b start -> d start -> b start via constraints chain, back"),
            "{}",
            e[0]
        );
        // A non-sequential second set does not order c before d; d -> b still closes
        // a cycle through b -> d (every member of s1 before every member of s2).
        if let Constraint::Order(Order::Sets { sets, .. }) = &mut c.constraints[0] {
            sets[1].sequential = false;
        }
        assert_eq!(errors(&c).len(), 1);
        // With require-all = false on the first set, s2 waits for any one of s1.
        if let Constraint::Order(Order::Sets { sets, .. }) = &mut c.constraints[0] {
            sets[0].require_all = false;
            sets[0].sequential = false;
        }
        assert_eq!(errors(&c), Vec::<String>::new());
    }

    #[test]
    fn empty_sets_and_duplicate_inner_ids() {
        let c = with(
            vec![Resource::Primitive(prim("a"))],
            vec![Constraint::Colocation(Colocation::Sets {
                id: "col".into(),
                score: Score::INFINITY,
                sets: vec![set("s", &[]), set("a", &["a"])],
            })],
        );
        assert_eq!(
            errors(&c),
            [
                "HALO-E010 colocation \"col\": id \"a\" is already used by resource \"a\"",
                "HALO-E043 colocation \"col\": resource set #1 lists no resources",
            ]
        );
    }

    #[test]
    fn unknown_location_node_is_a_notice() {
        let mut c = with(
            vec![Resource::Primitive(prim("a"))],
            vec![Constraint::Location(Location {
                id: "l".into(),
                target: LocationTarget::Resource("a".into()),
                role: None,
                how: LocationHow::Node {
                    node: "later".into(),
                    score: Score::new(5),
                },
                discovery: crate::Discovery::Always,
            })],
        );
        let notices = validate(&c).expect("valid");
        assert_eq!(notices.len(), 1);
        assert_eq!(
            notices[0].to_string(),
            "location \"l\": node \"later\" is not configured; the constraint applies if it joins"
        );
        c.nodes.push(Node {
            id: "1".into(),
            name: "later".into(),
            ..Default::default()
        });
        assert_eq!(validate(&c), Ok(vec![]));
    }

    fn stonith(id: &str) -> Primitive {
        Primitive {
            id: id.into(),
            agent: AgentRef {
                class: "stonith".into(),
                provider: None,
                kind: "fence_ipmilan".into(),
            },
            ..Default::default()
        }
    }

    fn level(id: &str, target: FencingTarget, index: u32, devices: &[&str]) -> FencingLevel {
        FencingLevel {
            id: id.into(),
            target,
            index,
            devices: devices.iter().map(|d| d.to_string()).collect(),
        }
    }

    /// Every check of the fencing topology, on a configuration from any source (the
    /// native reader already refuses some of these with their line).
    #[test]
    fn fencing_topology_problems_have_their_codes() {
        let mut c = with(
            vec![
                Resource::Primitive(stonith("fence-a")),
                Resource::Primitive(prim("dummy")),
                Resource::Group(Group {
                    id: "fence-group".into(),
                    meta: Attrs::new(),
                    members: vec![stonith("fence-b")],
                }),
            ],
            vec![],
        );
        c.nodes.push(Node {
            id: "1".into(),
            name: "n1".into(),
            ..Default::default()
        });
        let node = |n: &str| FencingTarget::Node(n.into());
        c.fencing_levels = vec![
            // A device inside a group is still a device.
            level("l1", node("n1"), 1, &["fence-a", "fence-b"]),
            level("l2", node("n1"), 1, &["fence-a"]),
            level("l3", node("n1"), 0, &["fence-a"]),
            level("l4", node("n1"), 10, &["fence-a"]),
            level("l5", node("n1"), 2, &[]),
            level("l6", node("n1"), 3, &["dummy", "fence-group", "nope", ""]),
            level("l7", FencingTarget::Pattern("n[".into()), 1, &["fence-a"]),
            level("dummy", node(""), 4, &["fence-a"]),
            level(
                "bad id",
                FencingTarget::Attribute {
                    name: String::new(),
                    value: "x".into(),
                },
                1,
                &["fence-a"],
            ),
        ];
        assert_eq!(
            errors(&c),
            [
                "HALO-E014 fencing-level \"l2\": node \"n1\" already has a level 1 at fencing-level \"l1\": list all its devices in one level, or give this one another index",
                "HALO-E022 fencing-level \"l3\": index 0 is not a level: levels are numbered 1 to 9",
                "HALO-E022 fencing-level \"l4\": index 10 is not a level: levels are numbered 1 to 9",
                "HALO-E045 fencing-level \"l5\": the level lists no devices: list its fence devices or remove the level",
                "HALO-E026 fencing-level \"l6\": device \"dummy\" is a resource with agent ocf:pacemaker:Dummy, not a fence device: a device is a primitive of class stonith",
                "HALO-E026 fencing-level \"l6\": device \"fence-group\" is a group, not a fence device: a device is a primitive of class stonith",
                "HALO-E026 fencing-level \"l6\": device \"nope\" is not configured: no stonith resource has this id",
                "HALO-E026 fencing-level \"l6\": a device name is empty",
                "HALO-E027 fencing-level \"l7\": target-pattern \"n[\" is not a POSIX extended regular expression: unmatched '[' (at character 2); Pacemaker's fencer would never use this level",
                "HALO-E022 fencing-level \"dummy\": the target node name is empty",
                "HALO-E022 fencing-level \"bad id\": the target attribute name is empty",
                "HALO-E010 fencing-level \"dummy\": id \"dummy\" is already used by resource \"dummy\"",
                "HALO-E013 fencing-level \"bad id\": id \"bad id\" contains whitespace or ':' (':' is reserved for clone instances)",
            ]
        );
        // The same target and index through other kinds of target are other levels.
        c.fencing_levels = vec![
            level("p", FencingTarget::Pattern("n1".into()), 1, &["fence-a"]),
            level(
                "a",
                FencingTarget::Attribute {
                    name: "n1".into(),
                    value: "n1".into(),
                },
                1,
                &["fence-a"],
            ),
            level("n", node("n1"), 1, &["fence-a"]),
            level("later", node("n2"), 1, &["fence-b"]),
        ];
        let notices = validate(&c).expect("valid");
        let notices: Vec<String> = notices.iter().map(|n| n.to_string()).collect();
        assert_eq!(
            notices,
            ["fencing-level \"later\": node \"n2\" is not configured; the level applies if it joins"]
        );
    }

    #[test]
    fn pacemaker_spellings_are_accepted() {
        let mut p = prim("a");
        for (k, v) in [
            ("target-role", "started"),
            ("is-managed", "yes"),
            ("resource-stickiness", "+INFINITY"),
            ("failure-timeout", "PT5M"),
            ("migration-threshold", "3"),
        ] {
            p.meta.insert(k.into(), v.into());
        }
        let c = with(vec![Resource::Primitive(p)], vec![]);
        assert_eq!(validate(&c), Ok(vec![]));
    }
}
