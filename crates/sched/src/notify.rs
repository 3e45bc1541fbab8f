//! Clone notifications (`notify=true`): before and after a clone's instances start,
//! stop, promote or demote, every instance concerned is told what is about to happen
//! or has happened, with the lists Pacemaker passes (`CRM_meta_notify_*`). Agents such
//! as galera, redis and rabbitmq-cluster depend on them (Pacemaker's `pe_notif.c`).
//!
//! The pseudo-actions (pre, confirmed-pre, post, confirmed-post) are created with the
//! clone's own actions and take part in orderings; the per-instance notify operations
//! are created once every flag is settled, as Pacemaker creates them while writing the
//! graph.

use halo_model::Role;

use crate::actions::{Act, Graph, Task, FLAG_IMPLIES_THEN, FLAG_OPTIONAL};
use crate::cluster::{Cluster, NodeId, RscId, Variant};

/// Which notification an action is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct NotifyTag {
    /// After the operation (post) rather than before (pre).
    pub post: bool,
    /// The confirmation pseudo-action (confirmed-pre / confirmed-post).
    pub confirmed: bool,
    /// The operation notified about: start, stop, promote or demote.
    pub op: Task,
}

impl NotifyTag {
    /// Pacemaker's notify type word.
    pub fn kind(&self) -> &'static str {
        match (self.post, self.confirmed) {
            (_, false) => self.phase(),
            (false, true) => "confirmed-pre",
            (true, true) => "confirmed-post",
        }
    }

    /// "pre" or "post".
    pub fn phase(&self) -> &'static str {
        if self.post {
            "post"
        } else {
            "pre"
        }
    }

    /// The operation word of the pseudo-action's key: the operation for "pre", its
    /// completion for "post" (`running`, `stopped`, `promoted`, `demoted`).
    pub fn key_op(&self) -> &'static str {
        if self.post {
            self.op.completion().as_str()
        } else {
            self.op.as_str()
        }
    }
}

/// The four pseudo-actions of one notified operation of a clone.
#[derive(Debug, Clone)]
pub struct NotifyOps {
    pub clone: RscId,
    pub op: Task,
    pub pre: usize,
    pub pre_done: usize,
    pub post: usize,
    pub post_done: usize,
}

/// Whether a clone notifies its instances.
pub fn enabled(cl: &Cluster, r: RscId) -> bool {
    cl.rscs[r].variant == Variant::Clone
        && cl.rscs[r]
            .meta
            .get("notify")
            .is_some_and(|v| crate::cluster::is_true(v))
}

fn pseudo_op(g: &mut Graph, clone: RscId, tag: NotifyTag, optional: bool, runnable: bool) -> usize {
    g.push(Act {
        pseudo: true,
        optional,
        runnable,
        notify: Some(tag),
        ..Act::new(Some(clone), Task::Notify, None)
    })
}

/// Create the notification pseudo-actions around `action` (e.g. the clone's start)
/// and `complete` (its running), ordered pre -> confirmed-pre -> action and
/// complete -> post -> confirmed-post (Pacemaker's `pe__clone_notif_pseudo_ops`).
pub fn pseudo_ops(
    cl: &Cluster,
    g: &mut Graph,
    clone: RscId,
    op: Task,
    action: usize,
    complete: usize,
) {
    if !enabled(cl, clone) {
        return;
    }
    let tag = |post, confirmed| NotifyTag {
        post,
        confirmed,
        op,
    };
    let a_opt = g.acts[action].optional;
    let pre = pseudo_op(g, clone, tag(false, false), a_opt, true);
    let pre_done = pseudo_op(g, clone, tag(false, true), a_opt, true);
    g.add_order(pre, pre_done, FLAG_OPTIONAL);
    g.add_order(pre_done, action, FLAG_OPTIONAL);
    let (c_opt, c_run) = (g.acts[complete].optional, g.acts[complete].runnable);
    let post = pseudo_op(g, clone, tag(true, false), c_opt, c_run);
    let post_done = pseudo_op(g, clone, tag(true, true), c_opt, c_run);
    g.add_order(complete, post, FLAG_IMPLIES_THEN);
    g.add_order(post, post_done, FLAG_IMPLIES_THEN);
    g.add_order(pre_done, post, FLAG_OPTIONAL);
    g.notifs.push(NotifyOps {
        clone,
        op,
        pre,
        pre_done,
        post,
        post_done,
    });
}

fn find(g: &Graph, clone: RscId, op: Task) -> Option<NotifyOps> {
    g.notifs
        .iter()
        .find(|n| n.clone == clone && n.op == op)
        .cloned()
}

/// A clone's stop notifications come before its start notifications.
pub fn order_start_stop(g: &mut Graph, clone: RscId) {
    if let (Some(start), Some(stop)) = (find(g, clone, Task::Start), find(g, clone, Task::Stop)) {
        g.add_order(stop.post_done, start.pre, FLAG_OPTIONAL);
    }
}

/// A promotable clone's demotion notifications come before everything else, its
/// start and stop notifications before the promotion notifications.
pub fn order_promotable(g: &mut Graph, clone: RscId) {
    let ops = [Task::Start, Task::Stop, Task::Promote, Task::Demote].map(|t| find(g, clone, t));
    if let [Some(start), Some(stop), Some(promote), Some(demote)] = ops {
        g.add_order(stop.post_done, promote.pre, FLAG_OPTIONAL);
        g.add_order(start.post_done, promote.pre, FLAG_OPTIONAL);
        g.add_order(demote.post_done, promote.pre, FLAG_OPTIONAL);
        g.add_order(demote.post_done, start.pre, FLAG_OPTIONAL);
        g.add_order(demote.post_done, stop.pre, FLAG_OPTIONAL);
    }
}

/// The confirmed-post notification that stands for a notifying clone's completed
/// operation in orderings after it.
pub fn confirmed_post(cl: &Cluster, g: &Graph, r: RscId, op: Task) -> Option<usize> {
    if cl.rscs[r].parent.is_some() {
        return None;
    }
    find(g, r, op).map(|n| n.post_done)
}

/// What instances are, and will be, doing: the notification lists.
#[derive(Default)]
struct Data {
    start: Vec<(RscId, NodeId)>,
    stop: Vec<(RscId, NodeId)>,
    promote: Vec<(RscId, NodeId)>,
    demote: Vec<(RscId, NodeId)>,
    active: Vec<(RscId, NodeId)>,
    promoted: Vec<(RscId, NodeId)>,
    unpromoted: Vec<(RscId, NodeId)>,
    inactive: Vec<RscId>,
}

fn collect(cl: &Cluster, g: &Graph, r: RscId, d: &mut Data) {
    if cl.rscs[r].variant != Variant::Primitive {
        for &k in &cl.rscs[r].children {
            collect(cl, g, k, d);
        }
        return;
    }
    let rsc = &cl.rscs[r];
    let node = rsc.running_on.first().copied();
    match (rsc.role, node) {
        (Role::Stopped, _) => d.inactive.push(r),
        (Role::Started, Some(n)) => d.active.push((r, n)),
        (Role::Unpromoted, Some(n)) => {
            d.unpromoted.push((r, n));
            d.active.push((r, n));
        }
        (Role::Promoted, Some(n)) => {
            d.promoted.push((r, n));
            d.active.push((r, n));
        }
        _ => {}
    }
    for t in [Task::Start, Task::Stop, Task::Promote, Task::Demote] {
        for a in g.find_all(r, t) {
            let act = &g.acts[a];
            let Some(n) = act.node else { continue };
            if act.optional {
                continue;
            }
            let implied_stop = t == Task::Stop && cl.nodes[n].unclean;
            if !implied_stop && !act.runnable {
                continue;
            }
            let list = match t {
                Task::Start => &mut d.start,
                Task::Stop => &mut d.stop,
                Task::Promote => &mut d.promote,
                _ => &mut d.demote,
            };
            list.push((r, n));
        }
    }
}

/// The `notify_*` variables, in Pacemaker's words (without the CRM_meta_ prefix).
fn variables(cl: &Cluster, clone: RscId, d: &mut Data) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let words = |v: &[String]| {
        if v.is_empty() {
            " ".to_string()
        } else {
            v.join(" ")
        }
    };
    let mut pairs = |name: &str, list: &mut Vec<(RscId, NodeId)>| {
        list.sort_by(|a, b| {
            (&cl.rscs[a.0].id, &cl.nodes[a.1].name).cmp(&(&cl.rscs[b.0].id, &cl.nodes[b.1].name))
        });
        list.dedup_by_key(|e| e.0);
        let rscs: Vec<String> = list.iter().map(|e| cl.rscs[e.0].id.clone()).collect();
        let nodes: Vec<String> = list.iter().map(|e| cl.nodes[e.1].name.clone()).collect();
        out.push((format!("notify_{name}_resource"), words(&rscs)));
        out.push((format!("notify_{name}_uname"), words(&nodes)));
    };
    pairs("stop", &mut d.stop);
    pairs("start", &mut d.start);
    pairs("demote", &mut d.demote);
    pairs("promote", &mut d.promote);
    pairs("active", &mut d.active);
    pairs("unpromoted", &mut d.unpromoted);
    pairs("promoted", &mut d.promoted);
    let copy = |out: &mut Vec<(String, String)>, from: &str, to: &str| {
        if let Some(v) = out.iter().find(|(k, _)| k == from).map(|(_, v)| v.clone()) {
            out.push((to.to_string(), v));
        }
    };
    // Older agents read the deprecated names.
    for (from, to) in [
        ("notify_unpromoted_resource", "notify_slave_resource"),
        ("notify_unpromoted_uname", "notify_slave_uname"),
        ("notify_promoted_resource", "notify_master_resource"),
        ("notify_promoted_uname", "notify_master_uname"),
    ] {
        copy(&mut out, from, to);
    }
    let mut inactive: Vec<String> = d.inactive.iter().map(|&r| cl.rscs[r].id.clone()).collect();
    inactive.sort();
    inactive.dedup();
    out.push(("notify_inactive_resource".into(), words(&inactive)));
    let mut available: Vec<String> = (0..cl.nodes.len())
        .filter(|&n| cl.rscs[clone].allowed[n].is_some())
        .map(|n| cl.nodes[n].name.clone())
        .collect();
    available.sort();
    out.push(("notify_available_uname".into(), words(&available)));
    let all: Vec<String> = cl.nodes.iter().map(|n| n.name.clone()).collect();
    out.push(("notify_all_uname".into(), words(&all)));
    out
}

/// Create the per-instance notify operations of every notifying clone (Pacemaker's
/// `pe__create_notifications`, run while the graph is written).
pub fn create_all(cl: &Cluster, g: &mut Graph) {
    for n in g.notifs.clone() {
        let mut d = Data::default();
        collect(cl, g, n.clone, &mut d);
        // Nothing does the notified operation: the notifications stay optional, and
        // instances are not told (but for stops, whose notifications go out anyway).
        let none = match n.op {
            Task::Stop => d.stop.is_empty(),
            Task::Start => d.start.is_empty(),
            Task::Demote => d.demote.is_empty(),
            Task::Promote => d.promote.is_empty(),
            _ => true,
        };
        let skip = none && matches!(n.op, Task::Start | Task::Promote | Task::Demote);
        let vars = variables(cl, n.clone, &mut d);
        if !none {
            for a in [n.pre, n.pre_done, n.post, n.post_done] {
                g.acts[a].optional = false;
            }
        }
        let env = g.notify_env.len();
        g.notify_env.push(vars);
        for p in cl.primitives(n.clone) {
            for t in [Task::Start, Task::Stop, Task::Promote, Task::Demote] {
                for a in g.find_all(p, t) {
                    if !g.acts[a].optional && g.acts[a].node.is_some() {
                        g.acts[a].notify_env = Some(env);
                    }
                }
            }
            if !skip {
                instance_actions(cl, g, &n, p, env);
            }
        }
    }
}

fn instance_actions(cl: &Cluster, g: &mut Graph, n: &NotifyOps, r: RscId, env: usize) {
    let rsc = &cl.rscs[r];
    if rsc.role != Role::Stopped && matches!(n.op, Task::Stop | Task::Demote) {
        let stop = g.find(r, Task::Stop, None);
        for &node in &rsc.running_on {
            if let Some(s) = stop {
                if g.acts[s].pseudo && cl.nodes[node].unclean {
                    continue;
                }
            }
            notify_action(cl, g, r, node, n.pre, n.pre_done, env);
            if n.op == Task::Demote || stop.is_none_or(|s| g.acts[s].optional) {
                post_action(cl, g, n, r, node, env);
            }
        }
    }
    if rsc.next_role != Some(Role::Stopped) && matches!(n.op, Task::Start | Task::Promote) {
        let Some(node) = rsc.allocated_to else {
            return;
        };
        let start = g.find(r, Task::Start, None);
        if n.op != Task::Start || start.is_none_or(|s| g.acts[s].optional) {
            notify_action(cl, g, r, node, n.pre, n.pre_done, env);
        }
        post_action(cl, g, n, r, node, env);
    }
}

fn notify_action(
    cl: &Cluster,
    g: &mut Graph,
    r: RscId,
    node: NodeId,
    op: usize,
    done: usize,
    env: usize,
) {
    if !cl.nodes[node].online || !g.acts[op].runnable {
        return;
    }
    let Some(tag) = g.acts[op].notify else {
        return;
    };
    let existing = g
        .find_all(r, Task::Notify)
        .into_iter()
        .find(|&a| g.acts[a].node == Some(node) && g.acts[a].notify == Some(tag));
    let a = existing.unwrap_or_else(|| {
        g.push(Act {
            notify: Some(tag),
            notify_env: Some(env),
            ..Act::new(Some(r), Task::Notify, Some(node))
        })
    });
    if !g.acts[op].optional {
        g.acts[a].optional = false;
    }
    if cl.nodes[node].pending {
        g.acts[a].runnable = false;
    }
    g.add_order(op, a, FLAG_OPTIONAL);
    g.add_order(a, done, FLAG_OPTIONAL);
}

fn post_action(cl: &Cluster, g: &mut Graph, n: &NotifyOps, r: RscId, node: NodeId, env: usize) {
    notify_action(cl, g, r, node, n.post, n.post_done, env);
    // Recurring monitors start once every post-notification is done.
    for m in g.find_all(r, Task::Monitor) {
        if g.acts[m].interval_ms > 0 {
            g.add_order(n.post_done, m, FLAG_OPTIONAL);
        }
    }
}
