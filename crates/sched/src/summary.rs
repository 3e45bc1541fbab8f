//! The transition summary (what changes, crm_simulate's "Transition Summary") and the
//! cluster status before and after.

use halo_model::Role;

use crate::actions::{Graph, Task};
use crate::cluster::{Cluster, NodeId, RscId, Variant};

/// One line of the transition summary.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Change {
    Resource {
        change: String,
        rsc: String,
        details: String,
        reason: Option<String>,
        blocked: bool,
    },
    Fence {
        op: String,
        node: String,
        reason: String,
    },
}

/// Render a whole summary as crm_simulate does: the resource and detail columns widen
/// as longer entries are printed.
pub fn render_all(changes: &[Change]) -> Vec<String> {
    let mut rsc_width = 5usize;
    let mut detail_width = 5usize;
    changes
        .iter()
        .map(|c| match c {
            Change::Resource {
                change,
                rsc,
                details,
                ..
            } => {
                if rsc.len() > rsc_width {
                    rsc_width = rsc.len() + 2;
                }
                if details.len() > detail_width {
                    detail_width = details.len();
                }
                format!(
                    "* {change:<8}   {rsc:<rsc_width$}   ( {details:>detail_width$} ){}",
                    c.reason_tail()
                )
            }
            Change::Fence { .. } => c.render(),
        })
        .collect()
}

impl Change {
    fn reason_tail(&self) -> String {
        match self {
            Change::Resource {
                reason, blocked, ..
            } => match (reason, blocked) {
                (Some(r), true) => format!("  due to {r} (blocked)"),
                (Some(r), false) => format!("  due to {r}"),
                (None, true) => "  blocked".to_string(),
                (None, false) => String::new(),
            },
            Change::Fence { .. } => String::new(),
        }
    }

    /// The line as crm_simulate prints it (without its leading indentation).
    pub fn render(&self) -> String {
        match self {
            Change::Resource {
                change,
                rsc,
                details,
                ..
            } => format!(
                "* {change:<8}   {rsc:<8}   ( {details} ){}",
                self.reason_tail()
            ),
            Change::Fence { op, node, reason } => format!("* Fence ({op}) {node} '{reason}'"),
        }
    }
}

/// A resource's role: current (`current`) or planned.
pub fn rsc_state(cl: &Cluster, r: RscId, current: bool) -> Role {
    let rsc = &cl.rscs[r];
    if rsc.variant == Variant::Primitive {
        return if current {
            rsc.role
        } else {
            rsc.next_role.unwrap_or(Role::Stopped)
        };
    }
    rsc.children
        .iter()
        .map(|&k| rsc_state(cl, k, current))
        .max()
        .unwrap_or(Role::Stopped)
}

fn node_name(cl: &Cluster, n: Option<NodeId>) -> String {
    n.map(|n| cl.nodes[n].name.clone()).unwrap_or_default()
}

struct Item<'a> {
    cl: &'a Cluster,
    g: &'a Graph,
    r: RscId,
    role: Role,
    next_role: Role,
}

impl Item<'_> {
    fn line(
        &self,
        change: &str,
        origin: Option<NodeId>,
        dest: Option<NodeId>,
        action: Option<usize>,
        source: Option<usize>,
    ) -> Change {
        let (role, next) = (self.role, self.next_role);
        let need_role = role > Role::Started || next > Role::Unpromoted;
        let same_host = origin.is_some() && origin == dest;
        let same_role = role == next;
        let o = node_name(self.cl, origin);
        let d = node_name(self.cl, dest);
        let details = if need_role && origin.is_none() {
            format!("{role} -> {next} {d}")
        } else if origin.is_none() {
            d
        } else if need_role && dest.is_none() {
            format!("{role} {o}")
        } else if dest.is_none() {
            o
        } else if need_role && same_role && same_host {
            format!("{role} {o}")
        } else if same_role && same_host {
            o
        } else if need_role && same_role {
            format!("{o} -> {d} {role}")
        } else if same_role {
            format!("{o} -> {d}")
        } else if same_host {
            format!("{role} -> {next} {o}")
        } else {
            format!("{role} {o} -> {next} {d}")
        };
        let runnable = action.map(|a| self.g.acts[a].runnable).unwrap_or(true);
        let src = source.or(action);
        let reason = src.and_then(|a| reason_of(self.cl, self.g, a));
        Change::Resource {
            change: change.to_string(),
            rsc: self.cl.rscs[self.r].id.clone(),
            details,
            reason,
            blocked: !runnable,
        }
    }
}

fn reason_of(cl: &Cluster, g: &Graph, a: usize) -> Option<String> {
    let act = &g.acts[a];
    if let Some(r) = &act.reason {
        return Some(r.clone());
    }
    act.blocked_by
        .map(|b| format!("unrunnable {}", g.describe(cl, b)))
}

/// Pacemaker's `rsc_action_default`: the summary line for one primitive, if any.
fn primitive_line(cl: &Cluster, g: &Graph, r: RscId) -> Vec<Change> {
    let rsc = &cl.rscs[r];
    let next = rsc.allocated_to;
    let current = cl.current_node(r);
    let mut role = rsc.role;
    if current.is_some() && role == Role::Stopped {
        role = Role::Started;
    }
    if current.is_none() && rsc.orphan {
        return vec![];
    }
    if !rsc.managed || (current.is_none() && next.is_none()) {
        return vec![];
    }
    let next_role = rsc.next_role.unwrap_or(Role::Stopped);
    let item = Item {
        cl,
        g,
        r,
        role,
        next_role,
    };
    let moving = current.is_some() && next.is_some() && current != next;
    // An action without a node (created only to be ordered against, and unrunnable)
    // matches any node, as in Pacemaker's find_actions.
    let find = |task: Task, node: Option<NodeId>| {
        g.find(r, task, node).or_else(|| {
            node.and_then(|_| {
                g.find_all(r, task)
                    .into_iter()
                    .find(|&a| g.acts[a].node.is_none())
            })
        })
    };
    let start = find(Task::Start, next);
    let start_node = match start {
        Some(s) if g.acts[s].runnable => current,
        _ => None,
    };
    let stop = find(Task::Stop, start_node);
    let promote = find(Task::Promote, next);
    let demote = find(Task::Demote, next);
    let failed = rsc.failed;

    if role == next_role {
        let Some(_) = next else { return vec![] };
        let migrate_from = find(Task::MigrateFrom, next);
        if current.is_some() && migrate_from.is_some_and(|m| g.acts[m].runnable) {
            return vec![item.line("Migrate", current, next, start, None)];
        }
        let stop_required = stop.map(|s| !g.acts[s].optional).unwrap_or(false);
        if rsc.reload && !stop_required {
            return vec![item.line("Reload", current, next, start, None)];
        }
        let start_optional = start.map(|s| g.acts[s].optional).unwrap_or(true);
        if start.is_none() || start_optional {
            if let (Some(d), Some(p)) = (demote, promote) {
                if !g.acts[d].optional && !g.acts[p].optional {
                    return vec![item.line("Re-promote", current, next, Some(p), Some(d))];
                }
            }
            return vec![];
        }
        let s = start.unwrap_or(0);
        if !g.acts[s].runnable {
            let src = match stop {
                Some(st) if g.acts[st].reason.is_some() => Some(st),
                _ => Some(s),
            };
            return vec![item.line("Stop", current, None, stop, src)];
        }
        if moving && current.is_some() {
            let c = if failed { "Recover" } else { "Move" };
            return vec![item.line(c, current, next, stop, None)];
        }
        if failed {
            return vec![item.line("Recover", current, None, stop, None)];
        }
        return vec![item.line("Restart", current, next, start, None)];
    }

    let start_unrunnable = start.map(|s| !g.acts[s].runnable).unwrap_or(false);
    if stop.is_some() && (next_role == Role::Stopped || start_unrunnable) {
        let mut out = Vec::new();
        for &n in &rsc.running_on {
            let stop_op = find(Task::Stop, Some(n));
            let src = match stop_op {
                Some(st) if g.acts[st].reason.is_some() => Some(st),
                _ => start,
            };
            out.push(item.line("Stop", Some(n), None, stop_op, src));
        }
        return out;
    }
    if stop.is_some() && failed && rsc.stop_needed {
        return vec![item.line("Recover", current, next, stop, start)];
    }
    if moving {
        return vec![item.line("Move", current, next, stop, None)];
    }
    if let Some(st) = stop {
        if !g.acts[st].optional {
            return vec![item.line("Restart", current, next, start, None)];
        }
    }
    if role == Role::Promoted {
        return vec![item.line("Demote", current, next, demote, None)];
    }
    if next_role == Role::Promoted {
        return vec![item.line("Promote", current, next, promote, None)];
    }
    if role == Role::Stopped && next_role > Role::Stopped {
        return vec![item.line("Start", current, next, start, None)];
    }
    vec![]
}

/// The whole transition summary: fencing first, then resources in configuration order.
pub fn transition_summary(cl: &Cluster, g: &Graph) -> Vec<Change> {
    let mut out = Vec::new();
    for (n, reason) in &g.fences {
        out.push(Change::Fence {
            op: cl.opts.stonith_action.clone(),
            node: cl.nodes[*n].name.clone(),
            reason: reason.clone(),
        });
    }
    for &t in &cl.top {
        collect(cl, g, t, &mut out);
    }
    out
}

fn collect(cl: &Cluster, g: &Graph, r: RscId, out: &mut Vec<Change>) {
    if cl.rscs[r].variant == Variant::Primitive {
        out.extend(primitive_line(cl, g, r));
        return;
    }
    let mut kids = cl.rscs[r].children.clone();
    kids.sort_by_key(|&k| cl.rscs[k].instance);
    for k in kids {
        collect(cl, g, k, out);
    }
}
