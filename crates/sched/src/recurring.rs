//! Recurring monitors: started after a resource starts (or is promoted or demoted) on
//! its node, cancelled when the role they are configured for is left, and monitors for
//! the Stopped role on the nodes where a resource must not run (Pacemaker's
//! `pcmk_sched_recurring.c`).

use halo_model::Role;

use crate::actions::{
    self, Graph, Task, FLAG_IMPLIES_THEN, FLAG_OPTIONAL, FLAG_RUNNABLE_LEFT,
    FLAG_THEN_CANCELS_FIRST,
};
use crate::cluster::{Cluster, NodeId, RscId};
use crate::constraints::RscOrder;
use crate::probes::{RC_NOT_RUNNING, RC_PROMOTED};

/// A recurring operation of a resource's history that the scheduler acts on.
#[derive(Debug, Clone)]
pub struct HistoryOp {
    pub rsc: RscId,
    pub node: NodeId,
    pub interval_ms: u64,
}

/// The recurring operations that history shows active, as optional actions: a
/// configured monitor that is already running need not be started again (Pacemaker's
/// `process_recurring`). Also schedules what history and configuration changes ask
/// for: cancellations, reschedules, fail counts to clear, histories to remove.
pub fn from_history(cl: &mut Cluster, g: &mut Graph, status: &halo_model::Status) {
    for h in &cl.histories {
        let (r, n) = (h.rsc, h.node);
        let recurring = h
            .raw(status)
            .is_some_and(|raw| raw.ops.iter().any(|op| op.interval_ms > 0));
        if !cl.nodes[n].online || !recurring {
            continue;
        }
        let ops = h.ops(status);
        let ops = ops.as_slice();
        let (start, stop) = crate::unpack::active_ops(ops);
        for (i, op) in ops.iter().enumerate() {
            if start < stop && Some(i) <= stop {
                continue;
            }
            if Some(i) < start || op.interval_ms == 0 || op.op_status == -1 {
                continue;
            }
            if op.operation == "monitor" {
                actions::custom_op(cl, g, r, Task::Monitor, op.interval_ms, Some(n), true);
            }
        }
    }
    for c in cl.cancels.clone() {
        // Cancellations of orphaned or maintenance-mode operations happen after stops.
        let cancel = new_cancel(cl, g, c.rsc, c.interval_ms, c.node);
        order(cl, c.rsc, Task::Stop, None, cancel, FLAG_OPTIONAL);
    }
    for c in &cl.reschedules {
        let mon = actions::custom_op(
            cl,
            g,
            c.rsc,
            Task::Monitor,
            c.interval_ms,
            Some(c.node),
            true,
        );
        g.acts[mon].reschedule = true;
    }
    for c in cl.forced_monitors.clone() {
        // Pacemaker's force_restart: the monitor of that key, wherever it is.
        let existing = g
            .find_all(c.rsc, Task::Monitor)
            .into_iter()
            .find(|&a| g.acts[a].interval_ms == c.interval_ms);
        let mon = existing.unwrap_or_else(|| {
            actions::custom_op(cl, g, c.rsc, Task::Monitor, c.interval_ms, None, false)
        });
        g.acts[mon].optional = false;
        g.acts[mon].reason = Some("resource definition change".into());
    }
    for (r, n) in cl.reloads.clone() {
        // Reload in place; a required stop or demote cancels the reload.
        let reload = actions::custom_op(cl, g, r, Task::Reload, 0, Some(n), false);
        g.acts[reload].reason = Some("resource definition change".into());
        order_after(
            cl,
            reload,
            r,
            Task::Stop,
            FLAG_OPTIONAL | FLAG_THEN_CANCELS_FIRST,
        );
        order_after(
            cl,
            reload,
            r,
            Task::Demote,
            FLAG_OPTIONAL | FLAG_THEN_CANCELS_FIRST,
        );
    }
    cleanups(cl, g);
}

/// Fail counts to clear and histories to remove (Pacemaker's `pe__clear_failcount`,
/// `pcmk__schedule_cleanup` and `clear_failcounts_if_orphaned`).
fn cleanups(cl: &mut Cluster, g: &mut Graph) {
    for &(r, n) in &cl.clears {
        actions::custom_op(cl, g, r, Task::ClearFailcount, 0, Some(n), false);
    }
    for (r, n) in cl.cleanups.clone() {
        let node = &cl.nodes[n];
        let considered = node.maintenance || node.available();
        if !considered || cl.rscs[r].failed || node.unclean || !node.online {
            continue;
        }
        actions::custom_op(cl, g, r, Task::Delete, 0, Some(n), false);
        // stop -> clean-up -> start
        actions::order_rsc(cl, r, Task::Stop, r, Task::Delete, FLAG_OPTIONAL);
        actions::order_rsc(cl, r, Task::Delete, r, Task::Start, FLAG_OPTIONAL);
    }
    if !cl.opts.stop_orphan_resources {
        return;
    }
    for r in 0..cl.rscs.len() {
        if !cl.rscs[r].orphan {
            continue;
        }
        for n in 0..cl.nodes.len() {
            if !cl.nodes[n].online || crate::unpack::failcount(cl, r, n, true).0 == 0 {
                continue;
            }
            let clear = actions::custom_op(cl, g, r, Task::ClearFailcount, 0, Some(n), false);
            cl.orders.push(
                RscOrder::new(
                    "orphan",
                    r,
                    Task::ClearFailcount,
                    r,
                    Task::Stop,
                    FLAG_OPTIONAL,
                )
                .from_action(clear),
            );
        }
    }
}

fn new_cancel(cl: &Cluster, g: &mut Graph, r: RscId, interval_ms: u64, n: NodeId) -> usize {
    actions::custom_op(cl, g, r, Task::Cancel, interval_ms, Some(n), false)
}

/// Record an ordering: `first_task` of `r` (or a specific first action) before `then`.
fn order(cl: &mut Cluster, r: RscId, task: Task, first: Option<usize>, then: usize, flags: u32) {
    let o = RscOrder::new("recurring", r, task, r, Task::Monitor, flags).to_action(then);
    cl.orders.push(match first {
        Some(a) => o.from_action(a),
        None => o,
    });
}

/// A cancel of `r` before the actions of `r` doing `then_task`.
fn order_after(cl: &mut Cluster, cancel: usize, r: RscId, then_task: Task, flags: u32) {
    cl.orders
        .push(RscOrder::new("recurring", r, Task::Cancel, r, then_task, flags).from_action(cancel));
}

/// Pacemaker's `pcmk__create_recurring_actions` for one primitive.
pub fn create(cl: &mut Cluster, g: &mut Graph, r: RscId, in_maintenance: bool) {
    let rsc = &cl.rscs[r];
    if rsc.block || in_maintenance {
        return;
    }
    let start = match rsc.allocated_to {
        Some(n)
            if !cl.nodes[n].maintenance
                && (rsc.next_role != Some(Role::Stopped) || !rsc.managed) =>
        {
            Some(actions::custom_action(cl, g, r, Task::Start, Some(n), true))
        }
        _ => None,
    };
    let ops: Vec<(String, u64, Option<Role>)> = recurring_ops(cl, r);
    for (name, interval_ms, role) in ops {
        if let Some(start) = start {
            for_active(cl, g, r, start, &name, interval_ms, role);
        }
        if role == Some(Role::Stopped) {
            for_inactive(cl, g, r, interval_ms);
        }
    }
}

/// The configured recurring operations (enabled, not duplicated, of a task that can
/// recur) with their role.
fn recurring_ops(cl: &Cluster, r: RscId) -> Vec<(String, u64, Option<Role>)> {
    let ops = &cl.rscs[r].ops;
    ops.iter()
        .filter(|o| o.interval_ms > 0 && o.enabled)
        .filter(|o| {
            !matches!(
                o.name.as_str(),
                "start"
                    | "stop"
                    | "promote"
                    | "demote"
                    | "reload-agent"
                    | "migrate_to"
                    | "migrate_from"
            )
        })
        .filter(|o| {
            // Two operations with the same name and interval are a configuration
            // error; Pacemaker schedules neither.
            ops.iter()
                .filter(|p| p.name == o.name && p.interval_ms == o.interval_ms)
                .count()
                == 1
        })
        .map(|o| (o.name.clone(), o.interval_ms, o.role))
        .collect()
}

fn for_active(
    cl: &mut Cluster,
    g: &mut Graph,
    r: RscId,
    start: usize,
    name: &str,
    interval_ms: u64,
    role: Option<Role>,
) {
    if role == Some(Role::Stopped) || name != "monitor" {
        return;
    }
    let node = cl.rscs[r].allocated_to;
    let Some(n) = node else {
        return;
    };
    let next_role = cl.rscs[r].next_role.unwrap_or(Role::Stopped);
    // Optional when the start is optional and the monitor already runs.
    let is_optional = g.acts[start].optional
        && g.find_op(r, Task::Monitor, interval_ms, Some(n))
            .is_some_and(|a| !g.acts[a].reschedule);
    let role_mismatch = match role {
        Some(want) => next_role != want,
        None => next_role == Role::Promoted,
    };
    if role_mismatch {
        if is_optional {
            // It runs in a role the resource leaves: cancel it before the change.
            let cancel = new_cancel(cl, g, r, interval_ms, n);
            let after = match cl.rscs[r].role {
                Role::Unpromoted | Role::Started => match next_role {
                    Role::Promoted => Some(Task::Promote),
                    Role::Stopped => Some(Task::Stop),
                    _ => None,
                },
                Role::Promoted => Some(Task::Demote),
                Role::Stopped => None,
            };
            if let Some(t) = after {
                order_after(cl, cancel, r, t, FLAG_RUNNABLE_LEFT);
            }
        }
        return;
    }
    let mon = actions::custom_op(cl, g, r, Task::Monitor, interval_ms, Some(n), is_optional);
    if !g.acts[start].runnable || !cl.nodes[n].online || cl.nodes[n].unclean {
        g.acts[mon].runnable = false;
    }
    if next_role == Role::Promoted {
        g.acts[mon].expected_rc = Some(RC_PROMOTED);
    }
    if cl.rscs[r].managed {
        order(
            cl,
            r,
            Task::Start,
            None,
            mon,
            FLAG_IMPLIES_THEN | FLAG_RUNNABLE_LEFT,
        );
        order(
            cl,
            r,
            Task::Reload,
            None,
            mon,
            FLAG_IMPLIES_THEN | FLAG_RUNNABLE_LEFT,
        );
        if next_role == Role::Promoted {
            order(
                cl,
                r,
                Task::Promote,
                None,
                mon,
                FLAG_OPTIONAL | FLAG_RUNNABLE_LEFT,
            );
        } else if cl.rscs[r].role == Role::Promoted {
            order(
                cl,
                r,
                Task::Demote,
                None,
                mon,
                FLAG_OPTIONAL | FLAG_RUNNABLE_LEFT,
            );
        }
    }
}

/// Monitors for the Stopped role: on every node but the one the resource is placed
/// on (unique resources only, as Pacemaker).
fn for_inactive(cl: &mut Cluster, g: &mut Graph, r: RscId, interval_ms: u64) {
    if !cl.rscs[r].unique {
        return;
    }
    let node = cl.rscs[r].allocated_to;
    for n in 0..cl.nodes.len() {
        let existing = g.find_op(r, Task::Monitor, interval_ms, Some(n)).is_some();
        if node == Some(n) {
            // Cancel it where the resource will be active.
            if existing {
                let cancel = new_cancel(cl, g, r, interval_ms, n);
                let next = cl.rscs[r].next_role.unwrap_or(Role::Stopped);
                if matches!(next, Role::Started | Role::Unpromoted) {
                    order_after(cl, cancel, r, Task::Start, FLAG_RUNNABLE_LEFT);
                }
            }
            continue;
        }
        let mon = actions::custom_op(cl, g, r, Task::Monitor, interval_ms, Some(n), existing);
        g.acts[mon].expected_rc = Some(RC_NOT_RUNNING);
        if cl.rscs[r].managed {
            // After the probes on that node.
            for p in g.find_all(r, Task::Monitor) {
                if g.acts[p].node == Some(n) && g.acts[p].interval_ms == 0 {
                    g.add_order(p, mon, FLAG_RUNNABLE_LEFT);
                }
            }
        }
        // After the stops on that node.
        for s in g.find_all(r, Task::Stop) {
            if g.acts[s].node != Some(n) {
                continue;
            }
            if !g.acts[s].optional && !g.acts[mon].optional && !cl.rscs[r].managed {
                g.acts[mon].optional = true;
            }
            if !g.acts[s].runnable {
                g.acts[mon].runnable = false;
            }
            if cl.rscs[r].managed {
                order(
                    cl,
                    r,
                    Task::Stop,
                    Some(s),
                    mon,
                    FLAG_IMPLIES_THEN | FLAG_RUNNABLE_LEFT,
                );
            }
        }
        if !cl.nodes[n].online || cl.nodes[n].unclean {
            g.acts[mon].runnable = false;
        }
    }
}
