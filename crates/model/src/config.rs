//! The cluster configuration: nodes, properties, resources, constraints, defaults.
//!
//! These are plain Rust types, free of any file format. `native` (TOML) and `cib`
//! (Pacemaker XML) convert to and from them at the edge.

use std::collections::BTreeMap;
use std::fmt;

use crate::score::Score;

/// Name/value attributes (instance parameters, meta attributes, node attributes, ...).
pub type Attrs = BTreeMap<String, String>;

/// A whole cluster configuration.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Config {
    /// Cluster properties (`crm_config`), e.g. `stonith-enabled`, `no-quorum-policy`.
    pub properties: Attrs,
    pub nodes: Vec<Node>,
    pub resources: Vec<Resource>,
    pub constraints: Vec<Constraint>,
    /// Meta attributes every resource inherits unless it sets its own (`rsc_defaults`).
    pub rsc_defaults: Attrs,
    /// Attributes every operation inherits unless it sets its own (`op_defaults`).
    pub op_defaults: Attrs,
    /// The fencing topology (`fencing-topology`): which devices fence which node, in
    /// which order. Empty means any capable device may fence any node.
    pub fencing_levels: Vec<FencingLevel>,
}

/// A cluster node as configured.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Node {
    /// Cluster-layer identifier (Pacemaker's node `id`); equal to `name` when not given.
    pub id: String,
    /// The node name (Pacemaker's `uname`).
    pub name: String,
    /// Permanent node attributes, including `standby` and `maintenance`.
    pub attrs: Attrs,
    /// Base score every resource gets on this node (Pacemaker's node `score`).
    pub score: Option<Score>,
}

/// Role of a resource instance.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Role {
    Stopped,
    Started,
    Unpromoted,
    Promoted,
}

impl Role {
    /// Parse a role, accepting the legacy names `Master` and `Slave`.
    pub fn parse(s: &str) -> Option<Role> {
        match s {
            "Stopped" => Some(Role::Stopped),
            "Started" => Some(Role::Started),
            "Unpromoted" | "Slave" => Some(Role::Unpromoted),
            "Promoted" | "Master" => Some(Role::Promoted),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Role::Stopped => "Stopped",
            Role::Started => "Started",
            Role::Unpromoted => "Unpromoted",
            Role::Promoted => "Promoted",
        }
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// `class:provider:type` of a primitive.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct AgentRef {
    pub class: String,
    pub provider: Option<String>,
    pub kind: String,
}

impl fmt::Display for AgentRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.provider {
            Some(p) => write!(f, "{}:{}:{}", self.class, p, self.kind),
            None => write!(f, "{}:{}", self.class, self.kind),
        }
    }
}

/// A configured operation (`op`).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct OpDef {
    pub id: String,
    /// start, stop, monitor, promote, demote, notify, ...
    pub name: String,
    pub interval_ms: u64,
    pub timeout_ms: Option<u64>,
    pub role: Option<Role>,
    pub on_fail: Option<OnFail>,
    pub enabled: bool,
    /// Every other attribute of the op (requires, record-pending, OCF_CHECK_LEVEL, ...).
    pub attrs: Attrs,
}

/// What to do when an operation fails.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OnFail {
    Ignore,
    Block,
    Stop,
    Restart,
    Standby,
    Fence,
    Demote,
}

impl OnFail {
    pub fn parse(s: &str) -> Option<OnFail> {
        match s {
            "ignore" => Some(OnFail::Ignore),
            "block" => Some(OnFail::Block),
            "stop" => Some(OnFail::Stop),
            "restart" => Some(OnFail::Restart),
            "standby" => Some(OnFail::Standby),
            "fence" => Some(OnFail::Fence),
            "demote" => Some(OnFail::Demote),
            _ => None,
        }
    }
}

/// A primitive resource: one agent instance.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Primitive {
    pub id: String,
    pub agent: AgentRef,
    /// Instance parameters, given to the agent.
    pub params: Attrs,
    /// Meta attributes (resource-stickiness, target-role, migration-threshold, ...).
    pub meta: Attrs,
    pub ops: Vec<OpDef>,
}

/// A group: members started in order and kept on one node.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Group {
    pub id: String,
    pub meta: Attrs,
    pub members: Vec<Primitive>,
}

/// A clone (or, with `promotable`, a promotable clone) of a primitive or a group.
#[derive(Debug, Clone, PartialEq)]
pub struct Clone {
    pub id: String,
    pub meta: Attrs,
    pub promotable: bool,
    pub child: Box<Resource>,
}

/// A configured resource.
#[derive(Debug, Clone, PartialEq)]
pub enum Resource {
    Primitive(Primitive),
    Group(Group),
    Clone(Clone),
}

impl Resource {
    pub fn id(&self) -> &str {
        match self {
            Resource::Primitive(p) => &p.id,
            Resource::Group(g) => &g.id,
            Resource::Clone(c) => &c.id,
        }
    }

    pub fn meta(&self) -> &Attrs {
        match self {
            Resource::Primitive(p) => &p.meta,
            Resource::Group(g) => &g.meta,
            Resource::Clone(c) => &c.meta,
        }
    }

    /// Every resource id defined by this resource, itself first, then its descendants.
    pub fn ids(&self) -> Vec<&str> {
        let mut out = vec![self.id()];
        match self {
            Resource::Primitive(_) => {}
            Resource::Group(g) => out.extend(g.members.iter().map(|m| m.id.as_str())),
            Resource::Clone(c) => out.extend(c.child.ids()),
        }
        out
    }
}

/// Operations that orderings and sets refer to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Action {
    Start,
    Stop,
    Promote,
    Demote,
}

impl Action {
    pub fn parse(s: &str) -> Option<Action> {
        match s {
            "start" => Some(Action::Start),
            "stop" => Some(Action::Stop),
            "promote" => Some(Action::Promote),
            "demote" => Some(Action::Demote),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Action::Start => "start",
            Action::Stop => "stop",
            Action::Promote => "promote",
            Action::Demote => "demote",
        }
    }

    /// The action that undoes this one (used for symmetrical orderings).
    pub fn inverse(self) -> Action {
        match self {
            Action::Start => Action::Stop,
            Action::Stop => Action::Start,
            Action::Promote => Action::Demote,
            Action::Demote => Action::Promote,
        }
    }
}

impl fmt::Display for Action {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Kind of an ordering constraint.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum OrderKind {
    #[default]
    Mandatory,
    Optional,
    Serialize,
}

impl OrderKind {
    pub fn parse(s: &str) -> Option<OrderKind> {
        match s {
            "Mandatory" | "mandatory" => Some(OrderKind::Mandatory),
            "Optional" | "optional" => Some(OrderKind::Optional),
            "Serialize" | "serialize" => Some(OrderKind::Serialize),
            _ => None,
        }
    }
}

/// A set of resources inside a constraint (`resource_set`).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct ResourceSet {
    pub id: String,
    pub resources: Vec<String>,
    /// Members depend on each other in order (default true).
    pub sequential: bool,
    /// For orderings: the next set may proceed when all (true) or any (false) member did.
    pub require_all: bool,
    pub role: Option<Role>,
    pub action: Option<Action>,
    pub score: Option<Score>,
    pub kind: Option<OrderKind>,
    /// For colocations: which way the members of a sequential set lean on each other.
    pub ordering: SetOrdering,
}

/// How the members of a sequential colocation set are chained (Pacemaker's deprecated
/// `ordering` attribute of a `resource_set`, still honoured by its scheduler).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SetOrdering {
    /// Each member is placed with the one before it, like the members of a group.
    #[default]
    Group,
    /// Each member is placed with the one after it.
    Listed,
}

impl SetOrdering {
    pub fn parse(s: &str) -> Option<Self> {
        match s.to_ascii_lowercase().as_str() {
            "group" => Some(SetOrdering::Group),
            "listed" => Some(SetOrdering::Listed),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            SetOrdering::Group => "group",
            SetOrdering::Listed => "listed",
        }
    }
}

/// A rule expression comparison.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExprOp {
    Lt,
    Gt,
    Lte,
    Gte,
    Eq,
    Ne,
    Defined,
    NotDefined,
}

impl ExprOp {
    pub fn parse(s: &str) -> Option<ExprOp> {
        match s {
            "lt" => Some(ExprOp::Lt),
            "gt" => Some(ExprOp::Gt),
            "lte" => Some(ExprOp::Lte),
            "gte" => Some(ExprOp::Gte),
            "eq" => Some(ExprOp::Eq),
            "ne" => Some(ExprOp::Ne),
            "defined" => Some(ExprOp::Defined),
            "not_defined" => Some(ExprOp::NotDefined),
            _ => None,
        }
    }
}

/// How the two sides of a rule expression are compared.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ValueType {
    #[default]
    String,
    Integer,
    Number,
    Version,
}

/// Where the right-hand side of a rule expression comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ValueSource {
    #[default]
    Literal,
    /// The value names an instance parameter of the resource.
    Param,
    /// The value names a meta attribute of the resource.
    Meta,
}

/// One node-attribute expression of a rule.
#[derive(Debug, Clone, PartialEq)]
pub struct AttrExpr {
    pub id: String,
    /// Node attribute name, or `#uname`, `#id`, `#is_dc`, ...
    pub attribute: String,
    pub op: ExprOp,
    pub value: Option<String>,
    pub value_type: Option<ValueType>,
    pub value_source: ValueSource,
}

/// How a date expression compares the scheduler's clock.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DateOp {
    /// Before `end`.
    Lt,
    /// After `start`.
    Gt,
    /// From `start` (if any) to `end` (if any), both included.
    InRange,
}

/// A date expression of a rule (Pacemaker's `date_expression` with `lt`, `gt` or
/// `in_range`): times in seconds since the epoch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DateExpr {
    pub id: String,
    pub op: DateOp,
    pub start: Option<i64>,
    pub end: Option<i64>,
}

impl DateExpr {
    /// Whether it holds at `now` (seconds since the epoch).
    pub fn holds(&self, now: i64) -> bool {
        match self.op {
            DateOp::Lt => self.end.is_some_and(|e| now < e),
            DateOp::Gt => self.start.is_some_and(|s| now > s),
            DateOp::InRange => {
                self.start.is_none_or(|s| now >= s) && self.end.is_none_or(|e| now <= e)
            }
        }
    }

    /// The first time after `now` at which it may change its answer.
    pub fn next_change(&self, now: i64) -> Option<i64> {
        let times = match self.op {
            DateOp::Lt => [self.end, None],
            DateOp::Gt => [self.start.map(|s| s + 1), None],
            DateOp::InRange => [self.start, self.end.map(|e| e + 1)],
        };
        times.into_iter().flatten().filter(|t| *t > now).min()
    }
}

impl Rule {
    /// The first time after `now` at which a date expression in it may change.
    pub fn next_date_change(&self, now: i64) -> Option<i64> {
        self.exprs
            .iter()
            .filter_map(|e| match e {
                RuleExpr::Date(d) => d.next_change(now),
                RuleExpr::Rule(r) => r.next_date_change(now),
                RuleExpr::Attr(_) => None,
            })
            .min()
    }
}

/// A part of a rule.
#[derive(Debug, Clone, PartialEq)]
pub enum RuleExpr {
    Attr(AttrExpr),
    Rule(Rule),
    Date(DateExpr),
}

/// How the expressions of a rule are combined.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum BoolOp {
    #[default]
    And,
    Or,
}

/// A location rule: when its expressions hold on a node, the score applies there.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Rule {
    pub id: String,
    pub score: Option<Score>,
    /// Take the score from this node attribute instead of `score`.
    pub score_attribute: Option<String>,
    pub bool_op: BoolOp,
    pub role: Option<Role>,
    pub exprs: Vec<RuleExpr>,
}

/// Which resources a location constraint applies to.
#[derive(Debug, Clone, PartialEq)]
pub enum LocationTarget {
    Resource(String),
    Sets(Vec<ResourceSet>),
}

/// A location preference.
#[derive(Debug, Clone, PartialEq)]
pub enum LocationHow {
    Node { node: String, score: Score },
    Rules(Vec<Rule>),
}

#[derive(Debug, Clone, PartialEq)]
pub struct Location {
    pub id: String,
    pub target: LocationTarget,
    pub role: Option<Role>,
    pub how: LocationHow,
    /// Whether the resource is probed on the constraint's nodes (Pacemaker's
    /// `resource-discovery`).
    pub discovery: Discovery,
}

/// Pacemaker's `resource-discovery` of a location constraint, weakest first: a
/// node keeps the strongest that any location gave it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Default)]
pub enum Discovery {
    /// Probe wherever the resource's state is unknown (the default).
    #[default]
    Always,
    /// Never probe on these nodes: the operator guarantees it cannot run there.
    Never,
    /// Probe only on the nodes of exclusive constraints, and run only there.
    Exclusive,
}

impl Discovery {
    pub fn parse(s: &str) -> Option<Discovery> {
        match s.to_ascii_lowercase().as_str() {
            "always" => Some(Discovery::Always),
            "never" => Some(Discovery::Never),
            "exclusive" => Some(Discovery::Exclusive),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Discovery::Always => "always",
            Discovery::Never => "never",
            Discovery::Exclusive => "exclusive",
        }
    }
}

/// Colocation: `rsc` is placed relative to `with_rsc` (the primary).
#[derive(Debug, Clone, PartialEq)]
pub enum Colocation {
    Pair {
        id: String,
        score: Score,
        rsc: String,
        rsc_role: Option<Role>,
        with_rsc: String,
        with_rsc_role: Option<Role>,
    },
    Sets {
        id: String,
        score: Score,
        sets: Vec<ResourceSet>,
    },
}

/// Ordering: `then` waits for `first`.
#[derive(Debug, Clone, PartialEq)]
pub enum Order {
    Pair {
        id: String,
        kind: OrderKind,
        symmetrical: Option<bool>,
        first: String,
        first_action: Option<Action>,
        then: String,
        then_action: Option<Action>,
        /// With `false`, `then` may proceed once any instance of a `first` clone did
        /// (deprecated Pacemaker equivalent of `clone-min=1`); default true.
        require_all: bool,
    },
    Sets {
        id: String,
        kind: OrderKind,
        symmetrical: Option<bool>,
        sets: Vec<ResourceSet>,
    },
}

/// A constraint.
#[derive(Debug, Clone, PartialEq)]
pub enum Constraint {
    Location(Location),
    Colocation(Colocation),
    Order(Order),
}

impl Constraint {
    pub fn id(&self) -> &str {
        match self {
            Constraint::Location(l) => &l.id,
            Constraint::Colocation(Colocation::Pair { id, .. })
            | Constraint::Colocation(Colocation::Sets { id, .. })
            | Constraint::Order(Order::Pair { id, .. })
            | Constraint::Order(Order::Sets { id, .. }) => id,
        }
    }
}

/// Which nodes a fencing level applies to (Pacemaker's `target`, `target-pattern`, or
/// `target-attribute` with `target-value`).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum FencingTarget {
    /// The node of this name.
    Node(String),
    /// Every node whose name matches this POSIX extended regular expression, searched
    /// anywhere in the name as Pacemaker's fencer does (`regexec`): `node1` also matches
    /// `node10`; anchor it (`^node1$`) to match one name. See [`crate::ere`].
    Pattern(String),
    /// Every node whose node attribute `name` has the value `value`.
    Attribute { name: String, value: String },
}

impl FencingTarget {
    /// Pacemaker's key for the target in its topology table (`stonith_level_key`):
    /// the node name, the pattern, or `name=value`.
    pub fn key(&self) -> String {
        match self {
            FencingTarget::Node(n) => n.clone(),
            FencingTarget::Pattern(p) => p.clone(),
            FencingTarget::Attribute { name, value } => format!("{name}={value}"),
        }
    }
}

impl fmt::Display for FencingTarget {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FencingTarget::Node(n) => write!(f, "node \"{n}\""),
            FencingTarget::Pattern(p) => write!(f, "nodes matching \"{p}\""),
            FencingTarget::Attribute { name, value } => {
                write!(f, "nodes with {name}=\"{value}\"")
            }
        }
    }
}

/// One level of the fencing topology (Pacemaker's `fencing-level`). To fence a node,
/// the fencer tries the levels that apply to it in increasing `index`; a level succeeds
/// when every one of its devices, in order, succeeded, and the first level that
/// succeeds ends the attempt.
///
/// In a valid configuration (see [`crate::validate`]) `index` is 1 to 9, `devices` are
/// ids of configured `stonith:` primitives, and no two levels share target and index
/// (Pacemaker would append the second one's devices to the first one's).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FencingLevel {
    pub id: String,
    pub target: FencingTarget,
    /// 1..=9, tried in increasing order.
    pub index: u32,
    /// Fence device (stonith resource) ids, all of which must succeed.
    pub devices: Vec<String>,
}

impl FencingLevel {
    /// The lowest and highest level index Pacemaker's fencer accepts.
    pub const INDEX_MIN: u32 = 1;
    pub const INDEX_MAX: u32 = 9;

    /// The id pcs gives a level it creates: `fl-TARGET-INDEX`, where TARGET is the node
    /// name, the pattern or the attribute name, with what an XML id cannot hold
    /// removed (`fl-node1-1`, `fl-node09-2` for `node[0-9]`, `fl-rack-1`). pcs appends
    /// `-1`, `-2`, ... when the id is taken.
    pub fn default_id(target: &FencingTarget, index: u32) -> String {
        let part = match target {
            FencingTarget::Node(n) => n.as_str(),
            FencingTarget::Pattern(p) => p.as_str(),
            FencingTarget::Attribute { name, .. } => name.as_str(),
        };
        format!("fl-{part}-{index}")
            .chars()
            .filter(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-'))
            .collect()
    }

    /// Whether `index` is one Pacemaker's fencer accepts.
    pub fn index_is_valid(index: u32) -> bool {
        (Self::INDEX_MIN..=Self::INDEX_MAX).contains(&index)
    }
}

impl Config {
    /// Every resource id in the configuration, at any depth.
    pub fn all_resource_ids(&self) -> Vec<&str> {
        self.resources.iter().flat_map(|r| r.ids()).collect()
    }

    /// Whether a resource of this id exists at any depth.
    pub fn has_resource(&self, id: &str) -> bool {
        self.all_resource_ids().contains(&id)
    }

    /// The first time after `now` (seconds since the epoch) at which a date expression
    /// of a location rule may change its answer: the scheduler must plan again then.
    pub fn next_date_change(&self, now: i64) -> Option<i64> {
        self.constraints
            .iter()
            .filter_map(|c| match c {
                Constraint::Location(Location {
                    how: LocationHow::Rules(rules),
                    ..
                }) => rules.iter().filter_map(|r| r.next_date_change(now)).min(),
                _ => None,
            })
            .min()
    }
}
