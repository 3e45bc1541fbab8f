//! Actions and their ordering: what each resource must do, and how the flags
//! "optional" and "runnable" flow along orderings (Pacemaker's transition semantics).

use halo_model::Role;

use crate::cluster::{Cluster, Needs, NoQuorumPolicy, NodeId, RscId, Variant};

// Ordering flags (a subset of Pacemaker's `pe_ordering`).
pub const FLAG_OPTIONAL: u32 = 1;
pub const FLAG_IMPLIES_THEN: u32 = 1 << 1;
pub const FLAG_IMPLIES_FIRST: u32 = 1 << 2;
pub const FLAG_RUNNABLE_LEFT: u32 = 1 << 3;
pub const FLAG_RESTART: u32 = 1 << 4;
pub const FLAG_ASYMMETRICAL: u32 = 1 << 5;
pub const FLAG_SERIALIZE: u32 = 1 << 6;
pub const FLAG_PROMOTED_IMPLIES_FIRST: u32 = 1 << 7;
/// 'then' may proceed once some instances of 'first' can (clone-min, require-all=false).
pub const FLAG_ONE_OR_MORE: u32 = 1 << 8;
/// Flags that only mark an ordering for the transition graph: they change no action,
/// but like every flag they make a later ordering between the same two actions that
/// shares one of them a duplicate (Pacemaker keeps only the first).
pub const FLAG_IMPLIES_FIRST_PRINTED: u32 = 1 << 9;
pub const FLAG_IMPLIES_THEN_PRINTED: u32 = 1 << 10;
/// The only flag of the orderings an anti-colocation adds (Pacemaker's
/// `pe_order_anti_colocation`): they change no action and are inputs only between
/// actions on the same node.
pub const FLAG_ANTI_COLOCATION: u32 = 1 << 11;
/// Marks orderings made by fencing (Pacemaker's `pe_order_preserve`): no effect on
/// flags, but an input even when 'first' cannot run.
pub const FLAG_PRESERVE: u32 = 1 << 12;
/// Marks the clone-level ordering of an interleaved ordering: its instances are
/// ordered pairwise, and the clone-level ordering changes no action itself.
pub const FLAG_INTERLEAVED: u32 = 1 << 13;
/// Live migration: 'first' can run only while 'then' can migrate.
pub const FLAG_IMPLIES_FIRST_MIGRATABLE: u32 = 1 << 14;
/// Live migration: 'then' stops being a pseudo-action when 'first' cannot run.
pub const FLAG_PSEUDO_LEFT: u32 = 1 << 15;
/// Live migration: an input only when 'first' does not migrate.
pub const FLAG_APPLY_FIRST_NON_MIGRATABLE: u32 = 1 << 16;
/// When 'then' is required, 'first' is not needed (a reload before a stop).
pub const FLAG_THEN_CANCELS_FIRST: u32 = 1 << 17;

/// What an action does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Task {
    Start,
    Stop,
    Promote,
    Demote,
    /// Pseudo-actions of groups and clones marking completion.
    Running,
    Stopped,
    Promoted,
    Demoted,
    /// Enough instances of a clone can do something (clone-min, require-all=false).
    OneOrMore,
    /// A monitor: a probe when its interval is 0, else a recurring monitor.
    Monitor,
    /// The cancellation of a recurring monitor (its interval in `Act::interval_ms`).
    Cancel,
    /// Removal of an orphan's operation history from a node.
    Delete,
    /// Clearing a fail count on a node.
    ClearFailcount,
    /// Fencing a node (a node action; its action in `Act::fence_action`).
    Fence,
    /// A clean shutdown of a node's cluster stack (a node action).
    Shutdown,
    /// A request to a node to probe every resource again (a node action).
    Reprobe,
    /// Reload of changed parameters in place (reload-agent).
    Reload,
    /// Live migration: on the node the resource leaves, then on the one it reaches.
    MigrateTo,
    MigrateFrom,
    /// A clone notification: the pseudo-actions around a clone's operation (no node)
    /// and each instance's notify operation (see `Act::notify`).
    Notify,
}

impl Task {
    pub fn as_str(self) -> &'static str {
        match self {
            Task::Start => "start",
            Task::Stop => "stop",
            Task::Promote => "promote",
            Task::Demote => "demote",
            Task::Running => "running",
            Task::Stopped => "stopped",
            Task::Promoted => "promoted",
            Task::Demoted => "demoted",
            Task::OneOrMore => "one-or-more",
            Task::Monitor => "monitor",
            Task::Cancel => "cancel",
            Task::Delete => "delete",
            Task::ClearFailcount => "clear_failcount",
            Task::Fence => "stonith",
            Task::Shutdown => "do_shutdown",
            Task::Notify => "notify",
            Task::Reprobe => "probe_again",
            Task::Reload => "reload-agent",
            Task::MigrateTo => "migrate_to",
            Task::MigrateFrom => "migrate_from",
        }
    }

    /// The completion pseudo-action of a task (start -> running, ...).
    pub fn completion(self) -> Task {
        match self {
            Task::Start => Task::Running,
            Task::Stop => Task::Stopped,
            Task::Promote => Task::Promoted,
            Task::Demote => Task::Demoted,
            t => t,
        }
    }

    /// The primitive task a completion pseudo-action summarises.
    pub fn base(self) -> Task {
        match self {
            Task::Running => Task::Start,
            Task::Stopped => Task::Stop,
            Task::Promoted => Task::Promote,
            Task::Demoted => Task::Demote,
            t => t,
        }
    }
}

/// One action of the transition.
#[derive(Debug, Clone)]
pub struct Act {
    /// The resource acted on; `None` for node actions (fencing, shutdown).
    pub rsc: Option<RscId>,
    pub task: Task,
    pub node: Option<NodeId>,
    /// The interval of a monitor or of the monitor a cancel stops (0 for a probe).
    pub interval_ms: u64,
    /// The result a monitor expects when it differs from success (7: not running,
    /// 8: promoted).
    pub expected_rc: Option<i32>,
    /// For fencing: reboot, off or on.
    pub fence_action: Option<String>,
    /// The operation key when it is not derived from resource, task and interval.
    pub key: Option<String>,
    /// A recurring monitor whose definition changed: it must be started again.
    pub reschedule: bool,
    /// In the graph even while optional (a required action it is tied to is).
    pub print_always: bool,
    /// Part of a live migration that can still happen (Pacemaker's migrate_runnable).
    pub migrate_runnable: bool,
    /// Which notification a notify action is.
    pub notify: Option<crate::notify::NotifyTag>,
    /// The notification variables passed with the action (index in `Graph::notify_env`).
    pub notify_env: Option<usize>,
    pub optional: bool,
    pub runnable: bool,
    pub pseudo: bool,
    pub reason: Option<String>,
    /// The action whose failure to run made this one unrunnable.
    pub blocked_by: Option<usize>,
    /// For "one or more" pseudo-actions: how many inputs must be runnable.
    pub requires_any: Option<usize>,
}

impl Act {
    /// A new optional, runnable, real action.
    pub fn new(rsc: Option<RscId>, task: Task, node: Option<NodeId>) -> Act {
        Act {
            rsc,
            task,
            node,
            interval_ms: 0,
            expected_rc: None,
            fence_action: None,
            key: None,
            reschedule: false,
            print_always: false,
            migrate_runnable: false,
            notify: None,
            notify_env: None,
            optional: true,
            runnable: true,
            pseudo: false,
            reason: None,
            blocked_by: None,
            requires_any: None,
        }
    }
}

/// An ordering between two actions.
#[derive(Debug, Clone)]
pub struct ActOrder {
    pub first: usize,
    pub then: usize,
    pub flags: u32,
}

/// The action graph under construction.
#[derive(Debug, Default, Clone)]
pub struct Graph {
    pub acts: Vec<Act>,
    pub orders: Vec<ActOrder>,
    /// Nodes to fence, with the reason.
    pub fences: Vec<(NodeId, String)>,
    /// The notification pseudo-actions of notifying clones.
    pub notifs: Vec<crate::notify::NotifyOps>,
    /// Notification variables, shared by the actions of one notification.
    pub notify_env: Vec<Vec<(String, String)>>,
    /// Actions by resource and task, in creation order.
    index: rustc_hash::FxHashMap<(RscId, Task), Vec<usize>>,
    /// Orderings by (first, then) action, for de-duplication.
    /// The last ordering of each (first, then) pair; `same_pair` links each ordering
    /// to the previous one of its pair (no allocation per pair).
    order_index: rustc_hash::FxHashMap<(usize, usize), usize>,
    same_pair: Vec<usize>,
    /// The first action by resource, task, interval and node.
    exact_index: rustc_hash::FxHashMap<(RscId, Task, u64, Option<NodeId>), usize>,
}

impl Graph {
    /// The first action of `rsc` doing `task` (on `node`, when given).
    pub fn find(&self, rsc: RscId, task: Task, node: Option<NodeId>) -> Option<usize> {
        self.index
            .get(&(rsc, task))?
            .iter()
            .copied()
            .find(|&a| node.is_none() || self.acts[a].node == node)
    }

    /// Whether any action of `rsc` does `task`.
    pub fn has(&self, rsc: RscId, task: Task) -> bool {
        self.index.get(&(rsc, task)).is_some_and(|v| !v.is_empty())
    }

    /// Every action of `rsc` doing `task`, in creation order.
    pub fn find_all(&self, rsc: RscId, task: Task) -> Vec<usize> {
        self.index.get(&(rsc, task)).cloned().unwrap_or_default()
    }

    /// "RSC TASK" (or "TASK NODE" for a node action), for explanations.
    pub fn describe(&self, cl: &Cluster, a: usize) -> String {
        let act = &self.acts[a];
        match (act.rsc, act.node) {
            (Some(r), _) => format!("{} {}", cl.rscs[r].id, act.task.as_str()),
            (None, Some(n)) => format!("{} {}", act.task.as_str(), cl.nodes[n].name),
            (None, None) => act.task.as_str().to_string(),
        }
    }

    /// The action of `rsc` doing `task` at `interval_ms` on `node`.
    pub fn find_op(
        &self,
        rsc: RscId,
        task: Task,
        interval_ms: u64,
        node: Option<NodeId>,
    ) -> Option<usize> {
        self.exact_index
            .get(&(rsc, task, interval_ms, node))
            .copied()
    }

    /// Order `then` after `first`. As in Pacemaker, an ordering without flags is no
    /// ordering, and one that shares a flag with an earlier ordering of the same two
    /// actions is a duplicate and dropped; returns whether the ordering was added.
    pub fn add_order(&mut self, first: usize, then: usize, flags: u32) -> bool {
        if flags == 0 || first == then {
            return false;
        }
        let new = self.orders.len();
        let last = *self.order_index.entry((first, then)).or_insert(usize::MAX);
        let mut o = last;
        while o != usize::MAX {
            if self.orders[o].flags & flags != 0 {
                return false;
            }
            o = self.same_pair[o];
        }
        self.order_index.insert((first, then), new);
        self.same_pair.push(last);
        self.orders.push(ActOrder { first, then, flags });
        true
    }

    pub fn push(&mut self, act: Act) -> usize {
        let i = self.acts.len();
        if let Some(r) = act.rsc {
            self.index.entry((r, act.task)).or_default().push(i);
            self.exact_index
                .entry((r, act.task, act.interval_ms, act.node))
                .or_insert(i);
        }
        self.acts.push(act);
        i
    }
}

/// Create (or find and update) an action, computing whether it can run.
pub fn custom_action(
    cl: &Cluster,
    g: &mut Graph,
    rsc: RscId,
    task: Task,
    node: Option<NodeId>,
    optional: bool,
) -> usize {
    custom_op(cl, g, rsc, task, 0, node, optional)
}

/// [`custom_action`] for an operation with an interval (monitors, cancels).
pub fn custom_op(
    cl: &Cluster,
    g: &mut Graph,
    rsc: RscId,
    task: Task,
    interval_ms: u64,
    node: Option<NodeId>,
    optional: bool,
) -> usize {
    let idx = match g.find_op(rsc, task, interval_ms, node) {
        Some(i) => i,
        None => g.push(Act {
            interval_ms,
            ..Act::new(Some(rsc), task, node)
        }),
    };
    // update_action_optional: a one-shot action of an unmanaged resource is optional.
    if !cl.rscs[rsc].managed && node.is_some() && !g.acts[idx].pseudo && interval_ms == 0 {
        g.acts[idx].optional = true;
    } else if !optional {
        g.acts[idx].optional = false;
    }
    update_runnable(cl, g, idx);
    idx
}

fn update_runnable(cl: &Cluster, g: &mut Graph, idx: usize) {
    let a = &mut g.acts[idx];
    if a.pseudo {
        return;
    }
    let Some(n) = a.node else {
        a.runnable = false;
        return;
    };
    let node = &cl.nodes[n];
    if !node.online {
        a.runnable = false;
        return;
    }
    if node.pending {
        a.runnable = false;
        return;
    }
    let Some(r) = a.rsc else {
        a.runnable = true;
        return;
    };
    let rsc = &cl.rscs[r];
    let needs = if matches!(a.task, Task::Start | Task::Promote) {
        rsc.needs
    } else {
        Needs::Nothing
    };
    if needs == Needs::Nothing {
        a.runnable = true;
        return;
    }
    let policy = if cl.opts.have_quorum {
        NoQuorumPolicy::Ignore
    } else if cl.opts.no_quorum_policy == NoQuorumPolicy::Demote {
        match rsc.role {
            Role::Promoted | Role::Unpromoted => NoQuorumPolicy::Ignore,
            _ => NoQuorumPolicy::Stop,
        }
    } else {
        cl.opts.no_quorum_policy
    };
    match policy {
        NoQuorumPolicy::Stop | NoQuorumPolicy::Suicide => {
            a.runnable = false;
            a.reason = Some("no quorum".into());
        }
        NoQuorumPolicy::Freeze => {
            let active = !rsc.running_on.is_empty();
            let next = rsc.next_role.unwrap_or(Role::Stopped);
            if !active || next > rsc.role {
                a.runnable = false;
                a.reason = Some("quorum freeze".into());
            } else {
                a.runnable = true;
            }
        }
        _ => a.runnable = true,
    }
}

/// A pseudo-action of a group or clone.
pub fn pseudo(g: &mut Graph, rsc: RscId, task: Task, optional: bool, runnable: bool) -> usize {
    if let Some(i) = g.find(rsc, task, None) {
        return i;
    }
    g.push(Act {
        optional,
        runnable,
        pseudo: true,
        ..Act::new(Some(rsc), task, None)
    })
}

// ----- per-resource action creation ---------------------------------------------------

fn state_next(role: Role, target: Role) -> Role {
    use Role::*;
    match (role, target) {
        (Stopped, Stopped) => Stopped,
        (Stopped, Started) => Started,
        (Stopped, _) => Unpromoted,
        (Started, Stopped) => Stopped,
        (Started, Started) => Started,
        (Started, Unpromoted) => Unpromoted,
        (Started, Promoted) => Promoted,
        (Unpromoted, Stopped) | (Unpromoted, Started) => Stopped,
        (Unpromoted, Unpromoted) => Unpromoted,
        (Unpromoted, Promoted) => Promoted,
        (Promoted, Promoted) => Promoted,
        (Promoted, _) => Unpromoted,
    }
}

/// Run the transition function from `role` to `next`; returns false when none exists.
fn transition(
    cl: &Cluster,
    g: &mut Graph,
    r: RscId,
    role: Role,
    next: Role,
    node: Option<NodeId>,
    optional: bool,
) -> bool {
    use Role::*;
    match (role, next) {
        (Stopped, Started) | (Stopped, Unpromoted) => {
            if let Some(n) = node {
                start_resource(cl, g, r, n, optional);
            }
            true
        }
        (Started, Stopped) | (Unpromoted, Stopped) | (Unpromoted, Started) => {
            stop_resource(cl, g, r, optional);
            true
        }
        (Started, Promoted) | (Unpromoted, Promoted) => {
            if let Some(n) = node {
                promote_resource(cl, g, r, n, optional);
            }
            true
        }
        (Promoted, Stopped) | (Promoted, Started) | (Promoted, Unpromoted) => {
            for &cur in &cl.rscs[r].running_on {
                custom_action(cl, g, r, Task::Demote, Some(cur), optional);
            }
            true
        }
        _ => false,
    }
}

fn stop_resource(cl: &Cluster, g: &mut Graph, r: RscId, optional: bool) {
    for &cur in &cl.rscs[r].running_on {
        let a = custom_action(cl, g, r, Task::Stop, Some(cur), optional);
        if cl.rscs[r].allocated_to.is_none() {
            g.acts[a].reason = Some("node availability".into());
        }
        if !cl.rscs[r].managed {
            g.acts[a].runnable = false;
        }
    }
}

fn start_resource(cl: &Cluster, g: &mut Graph, r: RscId, node: NodeId, optional: bool) {
    let a = custom_action(cl, g, r, Task::Start, Some(node), true);
    if g.acts[a].runnable && !optional {
        g.acts[a].optional = false;
    }
}

fn promote_resource(cl: &Cluster, g: &mut Graph, r: RscId, node: NodeId, optional: bool) {
    let on_node = |g: &Graph, t: Task| -> Vec<usize> {
        g.find_all(r, t)
            .into_iter()
            .filter(|&a| g.acts[a].node == Some(node))
            .collect()
    };
    if on_node(g, Task::Start).iter().all(|&a| g.acts[a].runnable) {
        custom_action(cl, g, r, Task::Promote, Some(node), optional);
    } else {
        for a in on_node(g, Task::Promote) {
            g.acts[a].runnable = false;
        }
    }
}

/// Pacemaker's `pcmk__primitive_create_actions`.
pub fn primitive_actions(cl: &mut Cluster, g: &mut Graph, r: RscId) {
    if cl.rscs[r].next_role.is_none() {
        let nr = if cl.rscs[r].allocated_to.is_some() {
            Role::Started
        } else {
            Role::Stopped
        };
        cl.rscs[r].next_role = Some(nr);
    }
    // no-quorum-policy=demote: promoted instances are demoted, not stopped.
    if !cl.opts.have_quorum
        && cl.opts.no_quorum_policy == NoQuorumPolicy::Demote
        && matches!(cl.rscs[r].role, Role::Promoted | Role::Unpromoted)
        && cl.rscs[r].next_role > Some(Role::Unpromoted)
    {
        cl.rscs[r].next_role = Some(Role::Unpromoted);
    }
    let cl_ro: &Cluster = cl;
    let rsc = &cl_ro.rscs[r];
    let next_role = rsc.next_role.unwrap_or(Role::Stopped);
    let current = cl_ro.current_node(r);
    let mut need_stop = false;
    let mut need_promote = false;
    let mut is_moving = false;
    if let (Some(c), Some(a)) = (current, rsc.allocated_to) {
        if c != a && next_role >= Role::Started {
            is_moving = true;
            need_stop = true;
        }
    }
    let clean_active = rsc
        .running_on
        .iter()
        .filter(|&&n| cl_ro.nodes[n].online && !cl_ro.nodes[n].unclean)
        .count();
    let multiply_active = if rsc.needs == Needs::Fencing {
        rsc.running_on.len() > 1
    } else {
        clean_active > 1
    };
    if multiply_active {
        need_stop = true;
    }
    if !is_moving {
        if rsc.failed {
            if rsc.stop_needed {
                need_stop = true;
            } else if next_role == Role::Promoted {
                need_promote = true;
            }
        } else if rsc.block {
            need_stop = true;
        } else if rsc.role > Role::Started && current.is_some() && rsc.allocated_to.is_some() {
            let a = custom_action(cl_ro, g, r, Task::Start, rsc.allocated_to, true);
            if !g.acts[a].optional {
                need_stop = true;
            }
        }
    }
    // Down to stopped on the current node, then back up to the current role.
    let role0 = rsc.role;
    let allocated = rsc.allocated_to;
    let blocked = rsc.block;
    let mut role = role0;
    while role != Role::Stopped {
        let nr = state_next(role, Role::Stopped);
        if !transition(cl_ro, g, r, role, nr, current, !need_stop) {
            break;
        }
        role = nr;
    }
    while role0 <= next_role && role != role0 && !blocked {
        let nr = state_next(role, role0);
        let required = need_stop || (nr == Role::Promoted && need_promote);
        if !transition(cl_ro, g, r, role, nr, allocated, !required) {
            break;
        }
        role = nr;
    }
    // A changed definition forces a restart where the resource stays.
    if rsc.definition_restart {
        if let Some(n) = allocated {
            let a = custom_action(cl_ro, g, r, Task::Start, Some(n), false);
            g.acts[a].reason = Some("resource definition change".into());
        }
    }
    // Then from the current role to the next.
    let mut role = role0;
    while role != next_role {
        let nr = state_next(role, next_role);
        if !transition(cl_ro, g, r, role, nr, allocated, false) {
            break;
        }
        role = nr;
    }
    // The recurring monitors of an active role hang off an (optional) start on the
    // assigned node, so such a start exists whenever the resource is to be active
    // there (Pacemaker's pcmk__create_recurring_actions).
    let in_maintenance = in_maintenance(cl_ro, r);
    let migrate = is_moving && crate::migration::can_migrate(cl_ro, r, current);
    crate::recurring::create(cl, g, r, in_maintenance);
    if let (true, Some(c)) = (migrate, current) {
        crate::migration::create_actions(cl, g, r, c);
    }
}

/// Create actions for a resource tree (primitives, group and clone pseudo-actions).
pub fn create_actions(cl: &mut Cluster, g: &mut Graph, r: RscId) {
    match cl.rscs[r].variant {
        Variant::Primitive => primitive_actions(cl, g, r),
        Variant::Group => {
            for m in cl.rscs[r].children.clone() {
                create_actions(cl, g, m);
            }
            for t in [Task::Start, Task::Running, Task::Stop, Task::Stopped] {
                pseudo(g, r, t, true, true);
            }
            if cl.rscs[cl.top_parent(r)].promotable {
                for t in [Task::Demote, Task::Demoted, Task::Promote, Task::Promoted] {
                    pseudo(g, r, t, true, true);
                }
            }
        }
        Variant::Clone => {
            let mut starting = false;
            let mut stopping = false;
            let mut active = false;
            for k in cl.rscs[r].children.clone() {
                create_actions(cl, g, k);
                for p in cl.primitives(k) {
                    if !cl.rscs[p].running_on.is_empty() {
                        active = true;
                    }
                    let live = |a: usize| {
                        let a = &g.acts[a];
                        !a.optional && (a.runnable || a.pseudo)
                    };
                    starting |= g.find_all(p, Task::Start).into_iter().any(live);
                    stopping |= g.find_all(p, Task::Stop).into_iter().any(live);
                }
            }
            let start = pseudo(g, r, Task::Start, !starting, true);
            let started = pseudo(g, r, Task::Running, !starting, false);
            if active || starting {
                g.acts[started].runnable = true;
            }
            crate::notify::pseudo_ops(cl, g, r, Task::Start, start, started);
            let stop = pseudo(g, r, Task::Stop, !stopping, true);
            let stopped = pseudo(g, r, Task::Stopped, !stopping, true);
            crate::notify::pseudo_ops(cl, g, r, Task::Stop, stop, stopped);
            crate::notify::order_start_stop(g, r);
            if cl.rscs[r].promotable {
                let mut promoting = false;
                let mut demoting = false;
                for k in cl.rscs[r].children.clone() {
                    for p in cl.primitives(k) {
                        let required = |a: usize| !g.acts[a].optional;
                        promoting |= g.find_all(p, Task::Promote).into_iter().any(required);
                        demoting |= g.find_all(p, Task::Demote).into_iter().any(required);
                    }
                }
                let promote = pseudo(g, r, Task::Promote, !promoting, true);
                let promoted = pseudo(g, r, Task::Promoted, !promoting, true);
                crate::notify::pseudo_ops(cl, g, r, Task::Promote, promote, promoted);
                let demote = pseudo(g, r, Task::Demote, !demoting, true);
                let demoted = pseudo(g, r, Task::Demoted, !demoting, true);
                crate::notify::pseudo_ops(cl, g, r, Task::Demote, demote, demoted);
                crate::notify::order_promotable(g, r);
                // Instance priorities were borrowed for promotion; restore them.
                let p = cl.rscs[r].priority;
                for k in cl.rscs[r].children.clone() {
                    cl.rscs[k].priority = p;
                }
            }
        }
    }
}

// ----- internal orderings -------------------------------------------------------------

/// Resource-level ordering recorded for later resolution to actions.
pub fn order_rsc(cl: &mut Cluster, first: RscId, ft: Task, then: RscId, tt: Task, flags: u32) {
    cl.orders.push(crate::constraints::RscOrder::new(
        "internal", first, ft, then, tt, flags,
    ));
}

/// Implicit orderings of every resource (`internal_constraints`).
pub fn internal_constraints(cl: &mut Cluster, r: RscId) {
    match cl.rscs[r].variant {
        Variant::Primitive => {
            if !cl.rscs[r].managed {
                return;
            }
            order_rsc(
                cl,
                r,
                Task::Stop,
                r,
                Task::Start,
                FLAG_OPTIONAL | FLAG_IMPLIES_THEN | FLAG_RESTART,
            );
            let top = cl.top_parent(r);
            if cl.rscs[top].promotable || cl.rscs[r].role > Role::Unpromoted {
                order_rsc(
                    cl,
                    r,
                    Task::Demote,
                    r,
                    Task::Stop,
                    FLAG_PROMOTED_IMPLIES_FIRST,
                );
                order_rsc(cl, r, Task::Start, r, Task::Promote, FLAG_RUNNABLE_LEFT);
            }
        }
        Variant::Group => {
            order_rsc(cl, r, Task::Stop, r, Task::Stopped, FLAG_RUNNABLE_LEFT);
            order_rsc(cl, r, Task::Stopped, r, Task::Start, FLAG_OPTIONAL);
            order_rsc(cl, r, Task::Start, r, Task::Running, FLAG_RUNNABLE_LEFT);
            let ordered = cl.rscs[r]
                .meta
                .get("ordered")
                .map(|v| crate::cluster::is_true(v))
                .unwrap_or(true);
            let colocated = cl.rscs[r]
                .meta
                .get("collocated")
                .map(|v| crate::cluster::is_true(v))
                .unwrap_or(true);
            let promotable = cl.rscs[cl.top_parent(r)].promotable;
            let members = cl.rscs[r].children.clone();
            let mut prev: Option<RscId> = None;
            let mut last_active: Option<RscId> = None;
            for &m in &members {
                internal_constraints(cl, m);
                if let (Some(p), true) = (prev, colocated) {
                    crate::constraints::new_colocation(
                        cl,
                        "group:internal_colocation",
                        halo_model::INFINITY,
                        m,
                        p,
                        None,
                        None,
                    );
                }
                // Stop/demote of the group before the member's, the member's before
                // "stopped"/"demoted"; only the first member of an ordered group makes
                // them mandatory.
                let (down, post_down) = if prev.is_none() && ordered {
                    (
                        FLAG_IMPLIES_FIRST_PRINTED | FLAG_OPTIONAL,
                        FLAG_IMPLIES_THEN,
                    )
                } else {
                    (FLAG_IMPLIES_FIRST_PRINTED, FLAG_IMPLIES_THEN_PRINTED)
                };
                if promotable {
                    order_rsc(cl, r, Task::Demote, m, Task::Demote, down);
                    order_rsc(cl, m, Task::Demote, r, Task::Demoted, post_down);
                    order_rsc(
                        cl,
                        m,
                        Task::Promote,
                        r,
                        Task::Promoted,
                        FLAG_RUNNABLE_LEFT | FLAG_IMPLIES_THEN | FLAG_IMPLIES_THEN_PRINTED,
                    );
                    order_rsc(
                        cl,
                        r,
                        Task::Promote,
                        m,
                        Task::Promote,
                        FLAG_IMPLIES_FIRST_PRINTED,
                    );
                }
                order_rsc(cl, r, Task::Stop, m, Task::Stop, down);
                order_rsc(cl, m, Task::Stop, r, Task::Stopped, post_down);
                order_rsc(
                    cl,
                    r,
                    Task::Start,
                    m,
                    Task::Start,
                    FLAG_IMPLIES_FIRST_PRINTED,
                );
                order_rsc(
                    cl,
                    m,
                    Task::Start,
                    r,
                    Task::Running,
                    FLAG_RUNNABLE_LEFT | FLAG_IMPLIES_THEN | FLAG_IMPLIES_THEN_PRINTED,
                );
                if !ordered {
                    // These share a flag with the orderings above between the same
                    // actions, so (as in Pacemaker) they are dropped as duplicates.
                    order_rsc(
                        cl,
                        r,
                        Task::Start,
                        m,
                        Task::Start,
                        FLAG_IMPLIES_THEN | FLAG_RUNNABLE_LEFT | FLAG_IMPLIES_FIRST_PRINTED,
                    );
                    if promotable {
                        order_rsc(
                            cl,
                            r,
                            Task::Promote,
                            m,
                            Task::Promote,
                            FLAG_IMPLIES_THEN | FLAG_RUNNABLE_LEFT | FLAG_IMPLIES_FIRST_PRINTED,
                        );
                    }
                } else if let Some(p) = prev {
                    order_rsc(
                        cl,
                        p,
                        Task::Start,
                        m,
                        Task::Start,
                        FLAG_IMPLIES_THEN | FLAG_RUNNABLE_LEFT,
                    );
                    order_rsc(
                        cl,
                        m,
                        Task::Stop,
                        p,
                        Task::Stop,
                        FLAG_OPTIONAL | FLAG_RESTART,
                    );
                    if promotable {
                        order_rsc(
                            cl,
                            p,
                            Task::Promote,
                            m,
                            Task::Promote,
                            FLAG_IMPLIES_THEN | FLAG_RUNNABLE_LEFT,
                        );
                        order_rsc(cl, m, Task::Demote, p, Task::Demote, FLAG_OPTIONAL);
                    }
                }
                if !cl.rscs[m].running_on.is_empty() {
                    if let (true, Some(p), Some(la)) = (ordered, prev, last_active) {
                        if cl.rscs[p].running_on.is_empty() && !cl.rscs[la].running_on.is_empty() {
                            order_rsc(cl, m, Task::Stop, la, Task::Stop, FLAG_OPTIONAL);
                        }
                    }
                    last_active = Some(m);
                }
                prev = Some(m);
            }
        }
        Variant::Clone => {
            order_rsc(cl, r, Task::Stopped, r, Task::Start, FLAG_OPTIONAL);
            order_rsc(cl, r, Task::Start, r, Task::Running, FLAG_RUNNABLE_LEFT);
            order_rsc(cl, r, Task::Stop, r, Task::Stopped, FLAG_RUNNABLE_LEFT);
            let promotable = cl.rscs[r].promotable;
            if promotable {
                order_rsc(cl, r, Task::Demoted, r, Task::Stop, FLAG_OPTIONAL);
                order_rsc(cl, r, Task::Running, r, Task::Promote, FLAG_RUNNABLE_LEFT);
            }
            let mut kids = cl.rscs[r].children.clone();
            let ordered = cl.rscs[r].ordered;
            if ordered {
                kids.sort_by_key(|&k| cl.rscs[k].instance);
            }
            let mut last: Option<RscId> = None;
            for &k in &kids {
                internal_constraints(cl, k);
                order_rsc(
                    cl,
                    r,
                    Task::Start,
                    k,
                    Task::Start,
                    FLAG_RUNNABLE_LEFT | FLAG_IMPLIES_FIRST_PRINTED,
                );
                order_rsc(
                    cl,
                    k,
                    Task::Start,
                    r,
                    Task::Running,
                    FLAG_IMPLIES_THEN_PRINTED,
                );
                if let (true, Some(l)) = (ordered, last) {
                    order_rsc(cl, l, Task::Start, k, Task::Start, FLAG_OPTIONAL);
                }
                order_rsc(cl, r, Task::Stop, k, Task::Stop, FLAG_IMPLIES_FIRST_PRINTED);
                order_rsc(
                    cl,
                    k,
                    Task::Stop,
                    r,
                    Task::Stopped,
                    FLAG_IMPLIES_THEN_PRINTED,
                );
                if let (true, Some(l)) = (ordered, last) {
                    order_rsc(cl, k, Task::Stop, l, Task::Stop, FLAG_OPTIONAL);
                }
                last = Some(k);
            }
            if promotable {
                // Pacemaker's pcmk__promotable_restart_ordering.
                order_rsc(cl, r, Task::Stopped, r, Task::Start, FLAG_OPTIONAL);
                order_rsc(cl, r, Task::Stopped, r, Task::Promote, FLAG_OPTIONAL);
                order_rsc(cl, r, Task::Demoted, r, Task::Stop, FLAG_OPTIONAL);
                order_rsc(cl, r, Task::Demoted, r, Task::Start, FLAG_OPTIONAL);
                order_rsc(cl, r, Task::Demoted, r, Task::Promote, FLAG_OPTIONAL);
                order_rsc(cl, r, Task::Running, r, Task::Promote, FLAG_OPTIONAL);
                order_rsc(cl, r, Task::Demote, r, Task::Demoted, FLAG_OPTIONAL);
                let mut last: Option<RscId> = None;
                for &k in &kids {
                    order_rsc(cl, k, Task::Demote, k, Task::Promote, FLAG_OPTIONAL);
                    order_rsc(cl, r, Task::Promote, k, Task::Promote, FLAG_OPTIONAL);
                    order_rsc(cl, k, Task::Promote, r, Task::Promoted, FLAG_OPTIONAL);
                    order_rsc(
                        cl,
                        r,
                        Task::Demote,
                        k,
                        Task::Demote,
                        FLAG_IMPLIES_FIRST_PRINTED,
                    );
                    order_rsc(
                        cl,
                        k,
                        Task::Demote,
                        r,
                        Task::Demoted,
                        FLAG_IMPLIES_THEN_PRINTED,
                    );
                    if let (true, Some(l)) = (ordered, last) {
                        order_rsc(cl, l, Task::Promote, k, Task::Promote, FLAG_OPTIONAL);
                        order_rsc(cl, k, Task::Demote, l, Task::Demote, FLAG_OPTIONAL);
                    }
                    last = Some(k);
                }
            }
        }
    }
}

// ----- resolving orderings to actions -------------------------------------------------

/// Resolve resource orderings to action orderings (`pcmk__apply_orderings`).
pub fn apply_orderings(cl: &Cluster, g: &mut Graph) {
    for r in &cl.relaxed {
        let key = format!("one-or-more:{}", r.id);
        let met = one_or_more(cl, g, None, 1, key, &r.firsts);
        for &(t, task) in &r.thens {
            for a in g.find_all(t, task) {
                g.add_order(met, a, r.flags);
            }
        }
    }
    for o in &cl.orders {
        if let Some(f) = o.first_action {
            for t in then_actions(g, o) {
                g.add_order(f, t, o.flags);
            }
            continue;
        }
        if o.first == o.then && !g.has(o.first, o.first_task) {
            continue;
        }
        let mut firsts = first_actions(cl, g, o.first, o.first_task);
        if firsts.is_empty() {
            continue;
        }
        let thens = then_actions(g, o);
        if thens.is_empty() {
            continue;
        }
        if o.flags & FLAG_ONE_OR_MORE != 0 && cl.rscs[o.first].variant == Variant::Clone {
            clone_min_ordering(cl, g, o, &thens);
            continue;
        }
        // Ordering after a collective resource means after it has completed
        // (start -> running, ...), unless 'then' is part of it.
        let collective = cl.rscs[o.first].variant != Variant::Primitive;
        if collective && o.first != o.then && !cl.is_ancestor(o.first, o.then) {
            let done = o.first_task.completion();
            // After a notifying clone: once its notifications are confirmed.
            let notified = crate::notify::confirmed_post(cl, g, o.first, o.first_task.base());
            if let Some(f) = notified.or_else(|| g.find(o.first, done, None)) {
                firsts = vec![f];
            }
            if o.flags & FLAG_ONE_OR_MORE == 0 && interleaved(cl, o.first, o.then, o.then_task) {
                interleave(cl, g, o.first, done, o.then, o.then_task, o.flags);
                // The clones stay ordered as wholes too, without effect of their own.
                for &f in &firsts {
                    for &t in &thens {
                        g.add_order(f, t, o.flags | FLAG_INTERLEAVED);
                    }
                }
                continue;
            }
        }
        for &f in &firsts {
            for &t in &thens {
                if f != t {
                    g.add_order(f, t, o.flags);
                }
            }
        }
    }
}

/// The actions an ordering's 'then' names: its own, or those of its resource and task.
pub fn then_actions(g: &Graph, o: &crate::constraints::RscOrder) -> Vec<usize> {
    match o.then_action {
        Some(t) => vec![t],
        None => g.find_all(o.then, o.then_task),
    }
}

/// A pseudo-action that is runnable once `min` of the actions of `firsts` are
/// (Pacemaker's one-or-more orderings and clone-min).
fn one_or_more(
    cl: &Cluster,
    g: &mut Graph,
    rsc: Option<RscId>,
    min: usize,
    key: String,
    firsts: &[(RscId, Task)],
) -> usize {
    let met = g.push(Act {
        pseudo: true,
        requires_any: Some(min),
        key: Some(key),
        ..Act::new(rsc, Task::OneOrMore, None)
    });
    for &(f, task) in firsts {
        for a in first_actions(cl, g, f, task) {
            g.add_order(a, met, FLAG_ONE_OR_MORE | FLAG_IMPLIES_THEN_PRINTED);
        }
    }
    met
}

/// The actions of `r` doing `task`, for an ordering with them first; when there are
/// none, a node-less one that cannot run is made, unless the resource is already in
/// the state the task would bring (Pacemaker's `rsc_order_first`).
fn first_actions(cl: &Cluster, g: &mut Graph, r: RscId, task: Task) -> Vec<usize> {
    let mut found = g.find_all(r, task);
    // The key names one-shot operations only (a monitor_0 is a probe).
    found.retain(|&a| g.acts[a].interval_ms == 0);
    if !found.is_empty() {
        return found;
    }
    let state = crate::summary::rsc_state(cl, r, true);
    if (state == Role::Stopped && task == Task::Stop)
        || (state == Role::Unpromoted && task == Task::Demote)
    {
        return Vec::new();
    }
    let node_less = if cl.rscs[r].variant == Variant::Primitive {
        custom_action(cl, g, r, task, None, true)
    } else {
        pseudo(g, r, task, true, false)
    };
    vec![node_less]
}

/// Interleaved mandatory orderings before a clone's start (or promote): an instance of
/// the 'then' clone placed on a node where no instance of the 'first' clone is placed
/// cannot become active there, and is left unassigned after its actions were created
/// (Pacemaker "inhibits" it: its stop becomes required, its start and promotion
/// unrunnable, and the summary shows a stop, not a blocked start). Repeated until
/// stable, since an inhibited instance can leave the instances ordered after it
/// without a partner.
pub fn inhibit_interleaved_instances(cl: &mut Cluster, g: &mut Graph) {
    loop {
        let mut changed = false;
        for oi in 0..cl.orders.len() {
            let o = &cl.orders[oi];
            let (first, then, first_task, then_task, flags) =
                (o.first, o.then, o.first_task, o.then_task, o.flags);
            if flags & (FLAG_RUNNABLE_LEFT | FLAG_IMPLIES_THEN) == 0
                || flags & FLAG_ONE_OR_MORE != 0
                || cl.rscs[first].variant == Variant::Primitive
                || cl.is_ancestor(first, then)
                || matches!(first_task, Task::Stop | Task::Demote)
                || !interleaved(cl, first, then, then_task)
            {
                continue;
            }
            for tc in cl.rscs[then].children.clone() {
                let Some(n) = crate::clone::instance_node(cl, tc) else {
                    continue;
                };
                if instance_on(cl, first, n, false).is_some() {
                    continue;
                }
                for p in cl.primitives(tc) {
                    cl.finalize(p, None, true);
                    for a in g.find_all(p, Task::Stop) {
                        g.acts[a].optional = false;
                    }
                    for t in [Task::Start, Task::Promote] {
                        for a in g.find_all(p, t) {
                            g.acts[a].runnable = false;
                        }
                    }
                }
                cl.rscs[tc].allocated_to = None;
                changed = true;
            }
        }
        if !changed {
            break;
        }
    }
}

/// 'then' waits for a minimum number of instances of the 'first' clone (Pacemaker's
/// `clone_min_ordering`): the instances feed a pseudo-action that is runnable when
/// enough of them are.
fn clone_min_ordering(
    cl: &Cluster,
    g: &mut Graph,
    o: &crate::constraints::RscOrder,
    thens: &[usize],
) {
    let min = cl.rscs[o.first]
        .meta
        .get("clone-min")
        .and_then(|v| v.trim().parse::<usize>().ok())
        .filter(|&m| m > 0)
        .unwrap_or(1);
    let members: Vec<(RscId, Task)> = cl.rscs[o.first]
        .children
        .iter()
        .map(|&k| (k, o.first_task))
        .collect();
    let key = format!("clone-one-or-more:{}", o.id);
    let met = one_or_more(cl, g, Some(o.first), min, key, &members);
    for &t in thens {
        g.add_order(met, t, (o.flags & !FLAG_ONE_OR_MORE) | FLAG_RUNNABLE_LEFT);
    }
}

/// Whether an ordering between two clones pairs their instances node by node
/// (Pacemaker's `can_interleave_actions`).
fn interleaved(cl: &Cluster, first: RscId, then: RscId, then_task: Task) -> bool {
    if first == then
        || cl.rscs[first].variant != Variant::Clone
        || cl.rscs[then].variant != Variant::Clone
    {
        return false;
    }
    let rsc = if matches!(then_task, Task::Stop | Task::Demote) {
        first
    } else {
        then
    };
    cl.rscs[rsc].interleave
}

/// The instance of clone `c` on `node` (assigned, or current when `current`).
fn instance_on(cl: &Cluster, c: RscId, node: NodeId, current: bool) -> Option<RscId> {
    cl.rscs[c].children.iter().copied().find(|&k| {
        let at = if current {
            cl.current_node(k)
        } else {
            crate::clone::instance_node(cl, k)
        };
        at == Some(node)
    })
}

/// Order each instance of `then` after the instance of `first` on the same node.
fn interleave(
    cl: &Cluster,
    g: &mut Graph,
    first: RscId,
    first_task: Task,
    then: RscId,
    then_task: Task,
    flags: u32,
) {
    let current = matches!(then_task, Task::Stop | Task::Demote);
    for &tc in &cl.rscs[then].children {
        let node = if current {
            cl.current_node(tc)
        } else {
            crate::clone::instance_node(cl, tc)
        };
        let then_acts = g.find_all(tc, then_task);
        let fc = node.and_then(|n| instance_on(cl, first, n, current));
        match fc {
            None => {
                if !current && flags & (FLAG_RUNNABLE_LEFT | FLAG_IMPLIES_THEN) != 0 {
                    for t in then_acts {
                        g.acts[t].runnable = false;
                    }
                }
            }
            Some(fc) => {
                // A primitive instance has no completion pseudo-actions.
                let ft = if cl.rscs[fc].variant == Variant::Primitive {
                    first_task.base()
                } else {
                    first_task
                };
                for f in g.find_all(fc, ft) {
                    for &t in &then_acts {
                        g.add_order(f, t, flags);
                    }
                }
            }
        }
    }
}

/// Effective flags of an action: for group/clone pseudo-actions they summarise the
/// members' actions.
fn eff_flags(cl: &Cluster, g: &Graph, a: usize) -> (bool, bool) {
    let act = &g.acts[a];
    let Some(r) = act.rsc else {
        return (act.optional, act.runnable);
    };
    let rsc = &cl.rscs[r];
    let base = act.task.base();
    if act.task == Task::OneOrMore {
        return (act.optional, act.runnable);
    }
    match rsc.variant {
        Variant::Primitive => (act.optional, act.runnable),
        Variant::Group => {
            // Pacemaker's group_action_flags: required if any member's is; a
            // completion pseudo-action is unrunnable if any member's action is.
            let (mut optional, mut runnable) = (true, true);
            for &m in &rsc.children {
                match g.find(m, base, None) {
                    Some(ma) => {
                        let (mo, mr) = eff_flags(cl, g, ma);
                        optional &= mo;
                        if base != act.task && !mr {
                            runnable = false;
                        }
                    }
                    None if !matches!(base, Task::Stop | Task::Demote) => runnable = false,
                    None => {}
                }
            }
            (optional, runnable)
        }
        Variant::Clone => {
            // Pacemaker's summary_action_flags: runnable if any instance can. A
            // completion action looks at the instances' own completion actions when
            // they are groups ("running" of a cloned group is unrunnable when one of
            // the group's members cannot start).
            let (mut optional, mut any_runnable) = (true, false);
            let task = summary_task(act);
            for &k in &rsc.children {
                if let Some(ka) = g.find(k, instance_task(cl, k, task), None) {
                    let (ko, kr) = eff_flags(cl, g, ka);
                    optional &= ko;
                    any_runnable |= kr;
                }
            }
            (optional, any_runnable)
        }
    }
}

/// A group's or clone's action takes on what its members' actions summarise: it is
/// required when one of theirs is, and a clone's action cannot run when none of its
/// instances' can, nor a group's completion when one member's cannot (Pacemaker
/// updates the actions while computing `action_flags`). Returns whether it changed.
fn summarize(cl: &Cluster, g: &mut Graph, a: usize) -> bool {
    let Some(r) = g.acts[a].rsc else {
        return false;
    };
    let task = summary_task(&g.acts[a]);
    if task == Task::OneOrMore || cl.rscs[r].variant == Variant::Primitive {
        return false;
    }
    let mut changed = false;
    // Members first: computing a member's flags updates it too.
    for &k in &cl.rscs[r].children {
        let task = match cl.rscs[r].variant {
            Variant::Group => task.base(),
            _ => instance_task(cl, k, task),
        };
        if let Some(ka) = g.find(k, task, None) {
            changed |= summarize(cl, g, ka);
        }
    }
    let (optional, runnable) = eff_flags(cl, g, a);
    let act = &mut g.acts[a];
    let before = (act.optional, act.runnable);
    if !optional {
        act.optional = false;
    }
    let completion = act.task != act.task.base();
    if !runnable && (cl.rscs[r].variant == Variant::Clone || completion) {
        act.runnable = false;
    }
    changed || before != (act.optional, act.runnable)
}

/// The task whose instances' actions a clone's action summarises: its own, or for a
/// notification the operation notified about (its completion for a post-notification).
fn summary_task(act: &Act) -> Task {
    match act.notify {
        Some(tag) if tag.post => tag.op.completion(),
        Some(tag) => tag.op,
        None => act.task,
    }
}

/// The task of a clone instance that a clone's action summarises: the same task, folded
/// to the primitive task for primitive instances (which have no completion actions).
fn instance_task(cl: &Cluster, inst: RscId, task: Task) -> Task {
    if cl.rscs[inst].variant == Variant::Primitive {
        task.base()
    } else {
        task
    }
}

/// Flags of an action as seen by an ordering with an action on `node`: for a clone,
/// whether it is required counts only its instances on that node, while whether it
/// can run counts every instance (Pacemaker's `action_flags_for_ordering`).
fn eff_flags_at(cl: &Cluster, g: &Graph, a: usize, node: Option<NodeId>) -> (bool, bool) {
    let (optional, runnable) = eff_flags(cl, g, a);
    let act = &g.acts[a];
    let Some(r) = act.rsc else {
        return (optional, runnable);
    };
    let rsc = &cl.rscs[r];
    let (Some(n), Variant::Clone, Task::Start | Task::Stop | Task::Promote | Task::Demote) =
        (node, rsc.variant, act.task.base())
    else {
        return (optional, runnable);
    };
    if act.task == Task::OneOrMore {
        return (optional, runnable);
    }
    let mut node_optional = true;
    for &k in &rsc.children {
        let at = if cl.rscs[k].variant == Variant::Primitive {
            Some(n)
        } else {
            None
        };
        if let Some(ka) = g.find(k, instance_task(cl, k, act.task), at) {
            node_optional &= eff_flags(cl, g, ka).0;
        }
    }
    (node_optional, runnable)
}

/// Apply one ordering's effect on the flags; returns whether anything changed.
fn update_ordering(cl: &Cluster, g: &mut Graph, o: &ActOrder) -> bool {
    let mut changed = summarize(cl, g, o.first);
    changed |= summarize(cl, g, o.then);
    if o.flags & FLAG_THEN_CANCELS_FIRST != 0
        && !g.acts[o.then].optional
        && !g.acts[o.first].optional
    {
        // A reload is not needed when the resource stops anyway.
        g.acts[o.first].optional = true;
        changed = true;
    }
    let (f_opt, f_run) = eff_flags_at(cl, g, o.first, g.acts[o.then].node);
    // Judged before the update below, and only for the orderings that print.
    let t_opt = (o.flags & FLAG_IMPLIES_FIRST_PRINTED != 0)
        .then(|| eff_flags_at(cl, g, o.then, g.acts[o.first].node).0);
    if o.flags & (FLAG_ONE_OR_MORE | FLAG_INTERLEAVED) == 0 {
        // Targets: the 'then' action and, for collective resources, the same action
        // of every member (Pacemaker's group/clone update_ordered_actions).
        // 'Implies first' is judged on the 'then' action itself, not on its members.
        let targets = then_targets(cl, g, o.then);
        for t in targets {
            let flags = if t == o.then {
                o.flags
            } else {
                o.flags & !FLAG_IMPLIES_FIRST
            };
            changed |= update_pair(cl, g, o.first, t, flags, f_opt, f_run);
        }
    }
    // An optional action still goes into the graph when a required action it is
    // tied to this way does (Pacemaker's pe_action_print_always).
    if o.flags & FLAG_IMPLIES_THEN_PRINTED != 0 && g.acts[o.first].runnable && !f_opt {
        g.acts[o.then].print_always = true;
    }
    if t_opt == Some(false) {
        g.acts[o.first].print_always = true;
    }
    changed
}

fn then_targets(cl: &Cluster, g: &Graph, then: usize) -> Vec<usize> {
    let mut v = vec![then];
    let act = &g.acts[then];
    let Some(r) = act.rsc else {
        return v;
    };
    let rsc = &cl.rscs[r];
    if rsc.variant != Variant::Primitive && act.task == act.task.base() {
        for &k in &rsc.children {
            if let Some(ka) = g.find(k, act.task, None) {
                v.extend(then_targets(cl, g, ka));
            }
        }
    }
    v
}

fn update_pair(
    cl: &Cluster,
    g: &mut Graph,
    first: usize,
    then: usize,
    flags: u32,
    f_opt: bool,
    f_run: bool,
) -> bool {
    let state = |g: &Graph| {
        let (f, t) = (&g.acts[first], &g.acts[then]);
        (
            (f.optional, f.runnable, f.migrate_runnable),
            (t.optional, t.runnable, t.migrate_runnable, t.pseudo),
        )
    };
    let before = state(g);
    if flags & FLAG_ASYMMETRICAL != 0 {
        asymmetric(cl, g, first, then, f_run);
    }
    // 'Then' required makes 'first' required only when 'first' as seen by the ordering
    // (a clone's or group's summary of its members) is already required while the
    // action itself is still optional: a required stop of 'then' never forces the
    // stop of a primitive 'first' (that comes from its start being unrunnable).
    // A 'first' that must happen for a 'then' that cannot migrate cannot migrate.
    let unmigratable_then = !g.acts[then].migrate_runnable;
    if flags & FLAG_IMPLIES_FIRST != 0 && !g.acts[then].optional {
        if !f_opt && g.acts[first].optional {
            clear_optional(g, first, then);
        }
        if unmigratable_then {
            g.acts[first].migrate_runnable = false;
        }
    }
    if flags & FLAG_PROMOTED_IMPLIES_FIRST != 0 {
        let promoted = g.acts[then]
            .rsc
            .is_some_and(|r| cl.rscs[r].role == Role::Promoted);
        if promoted && !g.acts[then].optional {
            clear_optional(g, first, then);
            if unmigratable_then {
                g.acts[first].migrate_runnable = false;
            }
        }
    }
    if flags & FLAG_IMPLIES_FIRST_MIGRATABLE != 0 {
        if !(g.acts[then].migrate_runnable && g.acts[then].runnable) {
            clear_runnable(g, first, then);
        }
        if !g.acts[then].optional {
            clear_optional(g, first, then);
        }
    }
    if flags & FLAG_PSEUDO_LEFT != 0 && !g.acts[first].runnable {
        g.acts[then].migrate_runnable = false;
        g.acts[then].pseudo = false;
    }
    if flags & FLAG_RUNNABLE_LEFT != 0 && g.acts[then].runnable && !f_run {
        clear_runnable(g, then, first);
        g.acts[then].migrate_runnable = false;
    }
    if flags & FLAG_IMPLIES_THEN != 0
        && g.acts[then].optional
        && !f_opt
        && !g.acts[first].migrate_runnable
    {
        clear_optional(g, then, first);
    }
    if flags & FLAG_RESTART != 0 {
        restart(cl, g, first, then);
    }
    // An unrunnable stop of a blocked, unmanaged resource blocks what depends on it.
    if flags & (FLAG_IMPLIES_THEN | FLAG_IMPLIES_FIRST | FLAG_RESTART) != 0 {
        let blocked_rsc = g.acts[first]
            .rsc
            .is_some_and(|r| !cl.rscs[r].managed && cl.rscs[r].block);
        if blocked_rsc
            && !g.acts[first].runnable
            && g.acts[first].task == Task::Stop
            && g.acts[then].runnable
        {
            clear_runnable(g, then, first);
        }
    }
    before != state(g)
}

fn clear_optional(g: &mut Graph, a: usize, _because: usize) {
    g.acts[a].optional = false;
}

fn clear_runnable(g: &mut Graph, a: usize, because: usize) {
    if g.acts[a].runnable {
        g.acts[a].runnable = false;
        if g.acts[a].blocked_by.is_none() && g.acts[because].rsc != g.acts[a].rsc {
            g.acts[a].blocked_by = Some(because);
        }
    }
}

fn asymmetric(cl: &Cluster, g: &mut Graph, first: usize, then: usize, f_run: bool) {
    let Some(tr) = g.acts[then].rsc else {
        return;
    };
    let role = crate::summary::rsc_state(cl, tr, true);
    let then_task = g.acts[then].task;
    if role == Role::Stopped && then_task == Task::Stop {
        return;
    }
    let on = &cl.rscs[tr].running_on;
    if role >= Role::Started
        && g.acts[then].optional
        && g.acts[then].node.is_some()
        && on.len() == 1
        && g.acts[then].node == on.first().copied()
        && then_task == Task::Start
    {
        return;
    }
    if !f_run {
        clear_optional(g, then, first);
        clear_runnable(g, then, first);
    }
}

fn restart(cl: &Cluster, g: &mut Graph, first: usize, then: usize) {
    let mut reason = false;
    if !g.acts[then].optional {
        reason = true;
    }
    let tr = g.acts[then].rsc;
    if !g.acts[then].runnable && tr.is_some_and(|r| cl.rscs[r].managed) && g.acts[first].rsc == tr {
        reason = true;
    }
    if !reason {
        return;
    }
    if g.acts[first].runnable {
        clear_optional(g, first, then);
    }
    if !g.acts[then].optional {
        clear_optional(g, first, then);
    }
    if !g.acts[then].migrate_runnable {
        g.acts[first].migrate_runnable = false;
    }
    if !g.acts[first].optional && !g.acts[first].runnable {
        clear_runnable(g, then, first);
    }
}

/// Propagate flags along every ordering until nothing changes.
///
/// Every change clears a flag (optional, runnable, migratable, pseudo) or sets
/// print-always, never the reverse, so the passes end after at most a few per action:
/// there is no cap that could stop them before the flags are right.
pub fn update_all(cl: &Cluster, g: &mut Graph) {
    let orders = g.orders.clone();
    loop {
        let mut changed = false;
        // "One or more" pseudo-actions run when enough of their inputs can.
        for a in 0..g.acts.len() {
            let Some(min) = g.acts[a].requires_any else {
                continue;
            };
            let runnable = orders
                .iter()
                .filter(|o| o.then == a && o.flags & FLAG_ONE_OR_MORE != 0)
                .filter(|o| eff_flags(cl, g, o.first).1)
                .count();
            if runnable < min && g.acts[a].runnable {
                g.acts[a].runnable = false;
                changed = true;
            }
        }
        for o in &orders {
            changed |= update_ordering(cl, g, o);
        }
        if !changed {
            break;
        }
    }
}

/// Mandatory colocations: a dependent cannot start where its primary cannot
/// (`pcmk__block_colocation_dependents`).
pub fn block_colocation_dependents(cl: &Cluster, g: &mut Graph) -> bool {
    let before: Vec<bool> = g.acts.iter().map(|a| a.runnable).collect();
    for a in 0..g.acts.len() {
        let act = g.acts[a].clone();
        let Some(r) = act.rsc else {
            continue;
        };
        if act.runnable || !matches!(act.task, Task::Start | Task::Promote) {
            continue;
        }
        let top = cl.top_parent(r);
        if cl.rscs[top].with_this.is_empty() {
            continue;
        }
        // Every instance of a collective must be unable.
        let all_blocked = cl.rscs[top]
            .children
            .iter()
            .all(|&k| match g.find(k, act.task, None) {
                None => true,
                Some(ka) => !g.acts[ka].runnable,
            });
        if !cl.rscs[top].children.is_empty() && !all_blocked {
            continue;
        }
        for &c in &cl.rscs[top].with_this {
            let co = &cl.colocs[c];
            if co.score < halo_model::INFINITY {
                continue;
            }
            if act.task != Task::Start && co.primary_role != Some(Role::Promoted) {
                continue;
            }
            let task = if co.dependent_role == Some(Role::Promoted) {
                Task::Promote
            } else {
                Task::Start
            };
            let reason = format!("colocation with {}", cl.rscs[r].id);
            mark_blocked(cl, g, co.dependent, task, &reason);
        }
    }
    g.acts.iter().map(|a| a.runnable).ne(before)
}

fn mark_blocked(cl: &Cluster, g: &mut Graph, r: RscId, task: Task, reason: &str) {
    for i in g.find_all(r, task) {
        if g.acts[i].runnable {
            g.acts[i].runnable = false;
            g.acts[i].reason = Some(reason.to_string());
        }
    }
    for k in cl.rscs[r].children.clone() {
        mark_blocked(cl, g, k, task, reason);
    }
}

// ----- fencing and shutdowns ---------------------------------------------------------

/// Fence unclean nodes (the stops they imply become pseudo-actions, and what needs
/// fencing waits for it) and shut down nodes that are leaving, after their stops
/// (Pacemaker's `schedule_fencing_and_shutdowns`).
pub fn schedule_fencing(cl: &Cluster, g: &mut Graph) {
    let have_managed = cl.rscs.iter().any(|r| r.managed);
    let mut dc_down: Option<(usize, bool)> = None;
    // Newest first, as Pacemaker keeps them.
    let mut fencing_ops: Vec<usize> = Vec::new();
    let mut shutdown_ops: Vec<usize> = Vec::new();
    for n in 0..cl.nodes.len() {
        let node = &cl.nodes[n];
        if have_managed && node.unclean && crate::unpack::can_fence(cl, n) {
            let reason = node
                .fence_reason
                .clone()
                .unwrap_or_else(|| "node is unclean".into());
            g.fences.push((n, reason));
            let f = g.push(Act {
                optional: false,
                fence_action: Some(cl.opts.stonith_action.clone()),
                ..Act::new(None, Task::Fence, Some(n))
            });
            order_vs_fence(cl, g, f, n);
            if node.is_dc {
                dc_down = Some((f, false));
            } else {
                if let (false, Some(&last)) = (cl.opts.concurrent_fencing, fencing_ops.first()) {
                    g.add_order(last, f, FLAG_OPTIONAL);
                }
                fencing_ops.insert(0, f);
            }
        } else if node.online && node.shutdown {
            let s = g.push(Act {
                optional: false,
                ..Act::new(None, Task::Shutdown, Some(n))
            });
            order_stops_before_shutdown(cl, g, n, s);
            if node.is_dc {
                dc_down = Some((s, true));
            } else {
                shutdown_ops.insert(0, s);
            }
        }
    }
    if let Some((down, is_shutdown)) = dc_down {
        // Others shut down before the DC; other fencing before the DC's.
        if is_shutdown {
            for &s in &shutdown_ops {
                g.add_order(s, down, FLAG_OPTIONAL);
            }
        }
        if cl.opts.concurrent_fencing {
            for &f in &fencing_ops {
                g.add_order(f, down, FLAG_OPTIONAL);
            }
        } else if let Some(&last) = fencing_ops.first() {
            g.add_order(last, down, FLAG_OPTIONAL);
        }
    }
}

/// Stops on a node that shuts down are required and come first, unless the resource
/// is in maintenance or unmanaged without being blocked.
fn order_stops_before_shutdown(cl: &Cluster, g: &mut Graph, n: NodeId, shutdown: usize) {
    for a in 0..g.acts.len() {
        let act = &g.acts[a];
        let Some(r) = act.rsc else { continue };
        if act.node != Some(n) || act.task != Task::Stop {
            continue;
        }
        let rsc = &cl.rscs[r];
        if in_maintenance(cl, r) || cl.nodes[n].maintenance || (!rsc.managed && !rsc.block) {
            continue;
        }
        g.acts[a].optional = false;
        g.add_order(a, shutdown, FLAG_OPTIONAL | FLAG_RUNNABLE_LEFT);
    }
}

/// Whether a resource is in maintenance (its own meta attribute or the cluster's).
pub fn in_maintenance(cl: &Cluster, r: RscId) -> bool {
    cl.opts.maintenance_mode
        || cl.rscs[r]
            .meta
            .get("maintenance")
            .is_some_and(|v| crate::cluster::is_true(v))
}

/// Order the actions of every managed resource against fencing node `target`
/// (Pacemaker's `pcmk__order_vs_fence`).
fn order_vs_fence(cl: &Cluster, g: &mut Graph, fence: usize, target: NodeId) {
    for r in 0..cl.rscs.len() {
        let rsc = &cl.rscs[r];
        if rsc.variant != Variant::Primitive || !rsc.managed {
            continue;
        }
        // What needs fencing waits for it; a start that needs quorum waits when the
        // resource could have been active on the target.
        for t in [Task::Start, Task::Promote] {
            for a in g.find_all(r, t) {
                match rsc.needs {
                    Needs::Fencing => {
                        g.add_order(fence, a, FLAG_OPTIONAL);
                    }
                    Needs::Quorum
                        if t == Task::Start
                            && rsc.allowed[target].is_some()
                            && !known_on(cl, r, target) =>
                    {
                        g.add_order(fence, a, FLAG_OPTIONAL | FLAG_RUNNABLE_LEFT);
                    }
                    _ => {}
                }
            }
        }
        // The stops on the target are implied by the fencing.
        let implicit = rsc.needs == Needs::Fencing;
        let stops: Vec<usize> = g
            .find_all(r, Task::Stop)
            .into_iter()
            .filter(|&a| g.acts[a].node == Some(target))
            .collect();
        let parent_stop = if implicit && !stops.is_empty() {
            g.find(cl.top_parent(r), Task::Stop, None)
        } else {
            None
        };
        for a in stops {
            g.acts[a].pseudo = true;
            g.acts[a].runnable = true;
            if implicit {
                g.add_order(fence, a, FLAG_PRESERVE);
                if let Some(p) = parent_stop {
                    g.add_order(fence, p, FLAG_PRESERVE);
                }
            }
        }
        for a in g.find_all(r, Task::Demote) {
            if g.acts[a].node != Some(target) {
                continue;
            }
            g.acts[a].pseudo = true;
            g.acts[a].runnable = true;
            if implicit {
                g.add_order(fence, a, FLAG_PRESERVE | FLAG_OPTIONAL);
            }
        }
    }
}

/// Whether `r`'s state on `n` is known (for an anonymous clone instance, any
/// instance's).
fn known_on(cl: &Cluster, r: RscId, n: NodeId) -> bool {
    if cl.rscs[r].known_on.contains(&n) {
        return true;
    }
    match cl.rscs[r].parent {
        Some(p) if cl.rscs[p].variant == Variant::Clone && !cl.rscs[p].unique => {
            cl.rscs[p].known_on.contains(&n)
        }
        _ => false,
    }
}
