//! Turning configured constraints into the working set's locations, colocations and
//! resource orderings.

use halo_model::{
    Action, Colocation, Config, Constraint, LocationHow, LocationTarget, Order, OrderKind,
    ResourceSet, Role, SetOrdering, INFINITY,
};

use crate::actions::{
    Task, FLAG_ANTI_COLOCATION, FLAG_ASYMMETRICAL, FLAG_IMPLIES_FIRST, FLAG_IMPLIES_THEN,
    FLAG_OPTIONAL, FLAG_RUNNABLE_LEFT, FLAG_SERIALIZE,
};
use crate::cluster::{Cluster, Coloc, NodeId, RscId};
use crate::rules::{rule_matches, RscData};

/// A location preference resolved to nodes.
#[derive(Debug, Clone)]
pub struct Loc {
    pub id: String,
    pub rsc: RscId,
    pub role: Option<Role>,
    pub nodes: Vec<(NodeId, i64)>,
    /// Whether the resource is probed on these nodes.
    pub discovery: halo_model::Discovery,
}

/// An ordered set with require-all=false before the next set: the next set's
/// members wait for any one member of the first (Pacemaker's one-or-more pseudo-action).
#[derive(Debug, Clone)]
pub struct RelaxedOrder {
    /// The id of the first set (the pseudo-action is `one-or-more:ID`).
    pub id: String,
    pub firsts: Vec<(RscId, Task)>,
    pub thens: Vec<(RscId, Task)>,
    pub flags: u32,
}

/// An ordering between actions of two resources.
#[derive(Debug, Clone)]
pub struct RscOrder {
    pub id: std::borrow::Cow<'static, str>,
    pub first: RscId,
    pub first_task: Task,
    pub then: RscId,
    pub then_task: Task,
    pub flags: u32,
    /// A specific 'first' action instead of `first`'s actions doing `first_task`.
    pub first_action: Option<usize>,
    /// A specific 'then' action instead of `then`'s actions doing `then_task`.
    pub then_action: Option<usize>,
}

impl RscOrder {
    /// `first_task` of `first` before `then_task` of `then`.
    pub fn new(
        id: impl Into<std::borrow::Cow<'static, str>>,
        first: RscId,
        first_task: Task,
        then: RscId,
        then_task: Task,
        flags: u32,
    ) -> RscOrder {
        RscOrder {
            id: id.into(),
            first,
            first_task,
            then,
            then_task,
            flags,
            first_action: None,
            then_action: None,
        }
    }

    /// The same ordering from one specific 'first' action.
    pub fn from_action(self, a: usize) -> RscOrder {
        RscOrder {
            first_action: Some(a),
            ..self
        }
    }

    /// The same ordering to one specific 'then' action.
    pub fn to_action(self, a: usize) -> RscOrder {
        RscOrder {
            then_action: Some(a),
            ..self
        }
    }
}

/// Unpack every constraint. Constraints naming unknown resources are skipped with a
/// warning (the model's validation reports them as errors for native configurations).
pub fn unpack(cl: &mut Cluster, cfg: &Config) {
    for c in &cfg.constraints {
        match c {
            Constraint::Location(l) => unpack_location(cl, l),
            Constraint::Colocation(c) => unpack_colocation(cl, c),
            Constraint::Order(o) => unpack_order(cl, o),
        }
    }
}

fn lookup(cl: &mut Cluster, cid: &str, rid: &str) -> Option<RscId> {
    let r = cl.constraint_rsc(rid);
    if r.is_none() {
        cl.warnings.push(format!(
            "constraint {cid}: resource '{rid}' does not exist; ignored"
        ));
    }
    r
}

fn unpack_location(cl: &mut Cluster, l: &halo_model::Location) {
    let targets: Vec<String> = match &l.target {
        LocationTarget::Resource(r) => vec![r.clone()],
        LocationTarget::Sets(sets) => sets.iter().flat_map(|s| s.resources.clone()).collect(),
    };
    for t in targets {
        let Some(r) = lookup(cl, &l.id, &t) else {
            continue;
        };
        if l.discovery == halo_model::Discovery::Exclusive {
            cl.rscs[r].exclusive_discover = true;
        }
        match &l.how {
            LocationHow::Node { node, score } => {
                let Some(n) = cl.node_by_name(node) else {
                    continue;
                };
                let role = filter_role(l.role);
                cl.locs.push(Loc {
                    id: l.id.clone(),
                    rsc: r,
                    role,
                    nodes: vec![(n, score.value())],
                    discovery: l.discovery,
                });
            }
            LocationHow::Rules(rules) => {
                for rule in rules {
                    let role = filter_role(rule.role.or(l.role));
                    let mut nodes = Vec::new();
                    for n in 0..cl.nodes.len() {
                        let data = RscData {
                            params: &cl.rscs[r].params,
                            meta: &cl.rscs[r].meta,
                            now: cl.opts.now,
                        };
                        if !rule_matches(rule, &cl.nodes[n].attrs, &data) {
                            continue;
                        }
                        let score = match (&rule.score, &rule.score_attribute) {
                            (Some(s), _) => s.value(),
                            (None, Some(attr)) => match cl.nodes[n].attrs.get(attr) {
                                Some(v) => crate::cluster::char2score(Some(v)),
                                None => -INFINITY,
                            },
                            (None, None) => 0,
                        };
                        nodes.push((n, score));
                    }
                    if !nodes.is_empty() {
                        cl.locs.push(Loc {
                            id: rule.id.clone(),
                            rsc: r,
                            role,
                            nodes,
                            discovery: l.discovery,
                        });
                    }
                }
            }
        }
    }
}

/// An Unpromoted-role location applies to every role.
fn filter_role(r: Option<Role>) -> Option<Role> {
    match r {
        Some(Role::Unpromoted) | Some(Role::Started) => None,
        other => other,
    }
}

/// Apply locations to allowed-node tables (`pcmk__apply_location`).
pub fn apply_locations(cl: &mut Cluster) {
    let locs = cl.locs.clone();
    for l in &locs {
        apply_location(cl, l.rsc, l);
    }
}

fn apply_location(cl: &mut Cluster, r: RscId, l: &Loc) {
    if let Some(role) = l.role {
        if Some(role) != cl.rscs[r].next_role {
            return;
        }
    }
    for &(n, w) in &l.nodes {
        let slot = cl.rscs[r].allowed[n];
        cl.rscs[r].allowed[n] = Some(match slot {
            None => w,
            Some(cur) => halo_model::Score::new(cur)
                .plus(halo_model::Score::new(w))
                .value(),
        });
        let name = cl.nodes[n].name.clone();
        cl.rscs[r].notes.push(format!(
            "location {} gives {} on {}",
            l.id,
            crate::cluster::fmt_score(w),
            name
        ));
        if l.discovery > cl.rscs[r].discover[n] {
            if l.discovery == halo_model::Discovery::Exclusive {
                cl.rscs[r].exclusive_discover = true;
            }
            cl.rscs[r].discover[n] = l.discovery;
        }
    }
    for k in cl.rscs[r].children.clone() {
        apply_location(cl, k, l);
    }
}

pub fn new_colocation(
    cl: &mut Cluster,
    id: &str,
    score: i64,
    dep: RscId,
    pri: RscId,
    dep_role: Option<Role>,
    pri_role: Option<Role>,
) {
    if score == 0 {
        return;
    }
    let norm = |r: Option<Role>| match r {
        Some(Role::Started) => None,
        other => other,
    };
    let idx = cl.colocs.len();
    cl.colocs.push(Coloc {
        id: id.to_string(),
        dependent: dep,
        primary: pri,
        score,
        dependent_role: norm(dep_role),
        primary_role: norm(pri_role),
        influence: true,
    });
    cl.add_this_with(dep, idx);
    cl.add_with_this(pri, idx);
    if score <= -INFINITY {
        anti_colocation_order(cl, dep, norm(dep_role), pri, norm(pri_role));
        anti_colocation_order(cl, pri, norm(pri_role), dep, norm(dep_role));
    }
}

/// The actions that make `first` lose its role come before those that make `then`
/// gain its own (Pacemaker's `anti_colocation_order`); such orderings matter only
/// between actions on the same node.
fn anti_colocation_order(
    cl: &mut Cluster,
    first: RscId,
    first_role: Option<Role>,
    then: RscId,
    then_role: Option<Role>,
) {
    let first_tasks: &[Task] = match first_role {
        Some(Role::Promoted) => &[Task::Demote],
        Some(Role::Unpromoted) => &[Task::Stop, Task::Promote],
        _ => &[Task::Stop],
    };
    let then_tasks: &[Task] = match then_role {
        Some(Role::Promoted) => &[Task::Promote],
        Some(Role::Unpromoted) => &[Task::Start, Task::Demote],
        _ => &[Task::Start],
    };
    for &ft in first_tasks {
        for &tt in then_tasks {
            crate::actions::order_rsc(cl, first, ft, then, tt, FLAG_ANTI_COLOCATION);
        }
    }
}

fn unpack_colocation(cl: &mut Cluster, c: &Colocation) {
    match c {
        Colocation::Pair {
            id,
            score,
            rsc,
            rsc_role,
            with_rsc,
            with_rsc_role,
        } => {
            let (Some(d), Some(p)) = (lookup(cl, id, rsc), lookup(cl, id, with_rsc)) else {
                return;
            };
            new_colocation(cl, id, score.value(), d, p, *rsc_role, *with_rsc_role);
        }
        Colocation::Sets { id, score, sets } => {
            let mut last: Option<&ResourceSet> = None;
            for set in sets {
                colocation_set(cl, id, score.value(), set);
                if let Some(prev) = last {
                    colocate_sets(cl, id, score.value(), prev, set);
                }
                last = Some(set);
            }
        }
    }
}

fn set_members(cl: &mut Cluster, cid: &str, set: &ResourceSet) -> Vec<RscId> {
    let mut v = Vec::new();
    for r in &set.resources {
        if let Some(x) = lookup(cl, cid, r) {
            v.push(x);
        }
    }
    v
}

fn colocation_set(cl: &mut Cluster, cid: &str, score: i64, set: &ResourceSet) {
    let local = set.score.map(|s| s.value()).unwrap_or(score);
    if local == 0 || !set.sequential {
        return;
    }
    let members = set_members(cl, cid, set);
    if local > 0 {
        for w in members.windows(2) {
            // Each member with the previous one, or with the next one when listed.
            let (dependent, primary) = match set.ordering {
                SetOrdering::Group => (w[1], w[0]),
                SetOrdering::Listed => (w[0], w[1]),
            };
            new_colocation(cl, &set.id, local, dependent, primary, set.role, set.role);
        }
    } else {
        for (i, &r) in members.iter().enumerate() {
            for &w in &members[..i] {
                new_colocation(cl, &set.id, local, r, w, set.role, set.role);
            }
        }
    }
}

fn colocate_sets(cl: &mut Cluster, cid: &str, score: i64, s1: &ResourceSet, s2: &ResourceSet) {
    if score == 0 {
        return;
    }
    let m1 = set_members(cl, cid, s1);
    let m2 = set_members(cl, cid, s2);
    let r1 = if s1.sequential {
        m1.first().copied()
    } else {
        None
    };
    let r2 = if s2.sequential {
        m2.last().copied()
    } else {
        None
    };
    match (r1, r2) {
        (Some(a), Some(b)) => new_colocation(cl, cid, score, a, b, s1.role, s2.role),
        (Some(a), None) => {
            for &b in &m2 {
                new_colocation(cl, cid, score, a, b, s1.role, s2.role);
            }
        }
        (None, Some(b)) => {
            for &a in &m1 {
                new_colocation(cl, cid, score, a, b, s1.role, s2.role);
            }
        }
        (None, None) => {
            for &a in &m1 {
                for &b in &m2 {
                    new_colocation(cl, cid, score, a, b, s1.role, s2.role);
                }
            }
        }
    }
}

fn task_of(a: Action) -> Task {
    match a {
        Action::Start => Task::Start,
        Action::Stop => Task::Stop,
        Action::Promote => Task::Promote,
        Action::Demote => Task::Demote,
    }
}

fn flags_for(kind: OrderKind, first: Action, symmetric: Symmetry) -> u32 {
    let mut f = FLAG_OPTIONAL;
    match kind {
        OrderKind::Optional => {}
        OrderKind::Serialize => f |= FLAG_SERIALIZE,
        OrderKind::Mandatory => match symmetric {
            Symmetry::Asymmetric => f |= FLAG_ASYMMETRICAL,
            Symmetry::Symmetric => {
                f |= FLAG_IMPLIES_THEN;
                if matches!(first, Action::Start | Action::Promote) {
                    f |= FLAG_RUNNABLE_LEFT;
                }
            }
            Symmetry::Inverse => f |= FLAG_IMPLIES_FIRST,
        },
    }
    f
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Symmetry {
    Symmetric,
    Asymmetric,
    Inverse,
}

fn symmetry(kind: OrderKind, symmetrical: Option<bool>) -> Symmetry {
    match symmetrical {
        Some(true) if kind != OrderKind::Serialize => Symmetry::Symmetric,
        Some(_) => Symmetry::Asymmetric,
        None if kind == OrderKind::Serialize => Symmetry::Asymmetric,
        None => Symmetry::Symmetric,
    }
}

#[allow(clippy::too_many_arguments)]
fn order_pair(
    cl: &mut Cluster,
    id: &str,
    kind: OrderKind,
    sym: Symmetry,
    first: RscId,
    fa: Action,
    then: RscId,
    ta: Action,
) {
    let flags = flags_for(kind, fa, sym);
    cl.orders.push(RscOrder::new(
        id.to_string(),
        first,
        task_of(fa),
        then,
        task_of(ta),
        flags,
    ));
    if sym == Symmetry::Symmetric {
        order_inverse(cl, id, kind, first, fa, then, ta);
    }
}

/// The inverse of `first fa then ta`: `then` undoes `ta` before `first` undoes `fa`.
fn order_inverse(
    cl: &mut Cluster,
    id: &str,
    kind: OrderKind,
    first: RscId,
    fa: Action,
    then: RscId,
    ta: Action,
) {
    cl.orders.push(RscOrder::new(
        id.to_string(),
        then,
        task_of(ta.inverse()),
        first,
        task_of(fa.inverse()),
        flags_for(kind, fa.inverse(), Symmetry::Inverse),
    ));
}

fn unpack_order(cl: &mut Cluster, o: &Order) {
    match o {
        Order::Pair {
            id,
            kind,
            symmetrical,
            first,
            first_action,
            then,
            then_action,
            require_all,
        } => {
            let (Some(f), Some(t)) = (lookup(cl, id, first), lookup(cl, id, then)) else {
                return;
            };
            let fa = first_action.unwrap_or(Action::Start);
            let ta = then_action.unwrap_or(fa);
            let sym = symmetry(*kind, *symmetrical);
            let before = cl.orders.len();
            order_pair(cl, id, *kind, sym, f, fa, t, ta);
            let clone_min = cl.rscs[f]
                .meta
                .get("clone-min")
                .and_then(|v| v.trim().parse::<i64>().ok())
                .unwrap_or(0);
            if cl.rscs[f].variant == crate::cluster::Variant::Clone
                && (!*require_all || clone_min > 0)
            {
                cl.orders[before].flags |= crate::actions::FLAG_ONE_OR_MORE;
            }
        }
        Order::Sets {
            id,
            kind,
            symmetrical,
            sets,
        } => {
            // Within each sequential set: each member after the previous one.
            for set in sets {
                let k = set.kind.unwrap_or(*kind);
                let sym = symmetry(k, *symmetrical);
                let a = set.action.unwrap_or(Action::Start);
                let members = set_members(cl, id, set);
                if set.sequential {
                    for w in members.windows(2) {
                        order_pair(cl, id, k, sym, w[0], a, w[1], a);
                    }
                }
            }
            // Between consecutive sets: every member of one before every member of
            // the next (the first/last member when a set is sequential).
            for pair in sets.windows(2) {
                let (s1, s2) = (&pair[0], &pair[1]);
                let k = s1.kind.unwrap_or(*kind);
                let sym = symmetry(k, *symmetrical);
                let a1 = s1.action.unwrap_or(Action::Start);
                let a2 = s2.action.unwrap_or(Action::Start);
                let m1 = set_members(cl, id, s1);
                let m2 = set_members(cl, id, s2);
                let firsts: Vec<RscId> = if s1.sequential && s1.require_all {
                    m1.last().copied().into_iter().collect()
                } else {
                    m1.clone()
                };
                let thens: Vec<RscId> = if s2.sequential {
                    m2.first().copied().into_iter().collect()
                } else {
                    m2.clone()
                };
                if !s1.require_all && matches!(a1, Action::Start | Action::Promote) {
                    // Any one member of the first set is enough: they feed a
                    // pseudo-action that every member of the next set waits for
                    // (Pacemaker's one-or-more); stopping is ordered as usual.
                    let forward = if sym == Symmetry::Inverse {
                        Symmetry::Symmetric
                    } else {
                        sym
                    };
                    cl.relaxed.push(RelaxedOrder {
                        id: s1.id.clone(),
                        firsts: m1.iter().map(|&f| (f, task_of(a1))).collect(),
                        thens: m2.iter().map(|&t| (t, task_of(a2))).collect(),
                        flags: flags_for(k, a2, forward) | FLAG_RUNNABLE_LEFT,
                    });
                    if sym == Symmetry::Symmetric {
                        for &f in &firsts {
                            for &t in &thens {
                                order_inverse(cl, id, k, f, a1, t, a2);
                            }
                        }
                    }
                    continue;
                }
                for &f in &firsts {
                    for &t in &thens {
                        order_pair(cl, id, k, sym, f, a1, t, a2);
                    }
                }
            }
        }
    }
}
