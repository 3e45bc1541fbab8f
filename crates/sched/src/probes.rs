//! Probes: a one-shot monitor wherever a resource's state on a node is unknown, run
//! before anything that depends on that state (Pacemaker's `pcmk_sched_probes.c`).

use halo_model::{Discovery, Role};

use crate::actions::{
    self, Act, Graph, Task, FLAG_ANTI_COLOCATION, FLAG_IMPLIES_THEN, FLAG_OPTIONAL,
    FLAG_RUNNABLE_LEFT,
};
use crate::cluster::{Cluster, NodeId, RscId, Variant};

/// OCF "not running".
pub const RC_NOT_RUNNING: i32 = 7;
/// OCF "running promoted".
pub const RC_PROMOTED: i32 = 8;

/// Schedule a probe of every resource on every node where its state is unknown.
pub fn schedule(cl: &mut Cluster, g: &mut Graph) {
    if !cl.opts.startup_probes {
        return;
    }
    for n in 0..cl.nodes.len() {
        let node = &cl.nodes[n];
        if !node.online || node.unclean {
            continue;
        }
        // A status written before Pacemaker 1.1.14 asks for a whole new probe of a
        // node with probe_complete=false: the node re-probes everything itself.
        if node
            .attrs
            .get("probe_complete")
            .is_some_and(|v| !crate::cluster::is_true(v))
        {
            g.push(Act {
                optional: false,
                ..Act::new(None, Task::Reprobe, Some(n))
            });
            continue;
        }
        for t in cl.top.clone() {
            create(cl, g, t, n);
        }
    }
}

fn create(cl: &mut Cluster, g: &mut Graph, r: RscId, n: NodeId) {
    match cl.rscs[r].variant {
        Variant::Group => {
            for m in cl.rscs[r].children.clone() {
                create(cl, g, m, n);
            }
        }
        Variant::Clone => {
            let clone = &cl.rscs[r];
            if clone.exclusive_discover
                && clone.allowed[n].is_some()
                && clone.discover[n] != Discovery::Exclusive
            {
                // Not a node this clone is discovered on.
                return;
            }
            let kids = {
                let mut k = cl.rscs[r].children.clone();
                k.sort_by_key(|&c| cl.rscs[c].instance);
                k
            };
            if kids.is_empty() {
                return;
            }
            if cl.rscs[r].unique {
                for k in kids {
                    create(cl, g, k, n);
                }
                return;
            }
            // An anonymous clone is probed through one instance: the one known on
            // the node, else the one placed there, else the first.
            let known = kids.iter().copied().find(|&k| known_below(cl, k, n));
            let placed = || {
                kids.iter()
                    .copied()
                    .find(|&k| crate::clone::instance_node(cl, k) == Some(n))
            };
            let k = known.or_else(placed).unwrap_or(kids[0]);
            create(cl, g, k, n)
        }
        Variant::Primitive => probe_primitive(cl, g, r, n),
    }
}

/// Whether the state of `r` (or of any primitive below it) on `n` is known.
fn known_below(cl: &Cluster, r: RscId, n: NodeId) -> bool {
    if cl.rscs[r].variant == Variant::Primitive {
        cl.rscs[r].known_on.contains(&n)
    } else {
        cl.rscs[r].children.iter().any(|&k| known_below(cl, k, n))
    }
}

fn probe_primitive(cl: &mut Cluster, g: &mut Graph, r: RscId, n: NodeId) {
    let rsc = &cl.rscs[r];
    if rsc.orphan || rsc.known_on.contains(&n) {
        return;
    }
    // resource-discovery: never probe where it is "never"; with "exclusive", probe
    // only on the nodes of exclusive locations.
    let top = cl.top_parent(r);
    let allowed = rsc.allowed[n].is_some();
    if (rsc.exclusive_discover || cl.rscs[top].exclusive_discover)
        && (!allowed || rsc.discover[n] != Discovery::Exclusive)
    {
        return;
    }
    if allowed && rsc.discover[n] == Discovery::Never {
        return;
    }
    let probe = actions::custom_op(cl, g, r, Task::Monitor, 0, Some(n), false);
    // Required even for an unmanaged resource: probes are how its state is learned.
    g.acts[probe].optional = false;
    let running = cl.rscs[r].running_on.contains(&n);
    g.acts[probe].expected_rc = if !running {
        Some(RC_NOT_RUNNING)
    } else if cl.rscs[r].role == Role::Promoted {
        Some(RC_PROMOTED)
    } else {
        None
    };
    // Start the resource (or, for a clone instance, the whole clone) after probing.
    let then = if cl.rscs[top].variant == Variant::Clone {
        top
    } else {
        r
    };
    let mut flags = FLAG_OPTIONAL;
    if !g.acts[probe].runnable && cl.rscs[r].running_on.is_empty() {
        flags |= FLAG_RUNNABLE_LEFT;
    }
    cl.orders.push(
        crate::constraints::RscOrder::new("probe", r, Task::Monitor, then, Task::Start, flags)
            .from_action(probe),
    );
}

/// Order probes before what their result can change (Pacemaker's
/// `pcmk__order_probes`): a probe that finds a resource active where it should not be
/// forces a restart, so the stops (and demotions) of resources started after it wait
/// for the probe; and whatever waits for a resource's stop waits for its probes.
pub fn order(cl: &Cluster, g: &mut Graph) {
    // Probes before the stops of resources that restart after them.
    let mut after: Vec<Vec<(usize, u32)>> = vec![Vec::new(); g.acts.len()];
    for o in &g.orders {
        after[o.first].push((o.then, o.flags));
    }
    let probes: Vec<usize> = (0..g.acts.len()).filter(|&a| is_probe(g, a)).collect();
    // Actions visited in the current walk carry its stamp (no clearing per walk).
    let mut seen = Walk {
        stamp: 0,
        marks: vec![0; g.acts.len()],
    };
    for &probe in &probes {
        for &(then, _) in &after[probe] {
            seen.stamp += 1;
            restart_orderings(cl, g, &after, probe, then, &mut seen);
        }
    }
    // Probes of a resource before whatever waits for its stop.
    for o in &cl.orders {
        if o.first_action.is_some()
            || o.first_task != Task::Stop
            || o.first == o.then
            || o.flags == 0
        {
            continue;
        }
        let flags = if o.flags == FLAG_ANTI_COLOCATION {
            o.flags
        } else {
            FLAG_OPTIONAL
        };
        let firsts: Vec<usize> = g
            .find_all(o.first, Task::Monitor)
            .into_iter()
            .filter(|&a| g.acts[a].interval_ms == 0)
            .collect();
        if firsts.is_empty() {
            continue;
        }
        let thens = actions::then_actions(g, o);
        for &p in &firsts {
            for &t in &thens {
                if needed_before(g, p, t) {
                    g.add_order(p, t, flags);
                }
            }
        }
    }
}

fn is_probe(g: &Graph, a: usize) -> bool {
    let act = &g.acts[a];
    act.task == Task::Monitor && act.interval_ms == 0 && act.rsc.is_some() && !act.pseudo
}

/// Probes on a node precede its shutdown, and everything else anywhere.
fn needed_before(g: &Graph, probe: usize, then: usize) -> bool {
    let (p, t) = (&g.acts[probe], &g.acts[then]);
    !(t.task == Task::Shutdown && p.node.is_some() && t.node.is_some() && p.node != t.node)
}

/// The actions one walk has visited.
struct Walk {
    stamp: u32,
    marks: Vec<u32>,
}

/// Pacemaker's `add_restart_orderings_for_probe`.
fn restart_orderings(
    cl: &Cluster,
    g: &mut Graph,
    after: &[Vec<(usize, u32)>],
    probe: usize,
    act: usize,
    seen: &mut Walk,
) {
    if seen.marks[act] == seen.stamp {
        return;
    }
    seen.marks[act] = seen.stamp;
    let Some(pr) = g.acts[probe].rsc else {
        return;
    };
    let act_rsc = g.acts[act].rsc;
    if let Some(ar) = act_rsc {
        if cl.rscs[ar].variant == Variant::Primitive && ar != pr {
            let undo = match g.acts[act].task {
                Task::Start => Some(Task::Stop),
                Task::Promote => Some(Task::Demote),
                _ => None,
            };
            if let Some(undo) = undo {
                for t in g.find_all(ar, undo) {
                    if !g.acts[t].pseudo {
                        g.add_order(probe, t, FLAG_OPTIONAL);
                    }
                }
            }
        }
    }
    // For an interleaved clone, only the instance on the probed resource's node.
    let mut interleave_with: Option<Option<RscId>> = None;
    if let Some(ar) = act_rsc {
        if cl.rscs[ar].variant == Variant::Clone && cl.rscs[ar].interleave {
            let node = cl.rscs[pr].allocated_to;
            interleave_with = Some(
                cl.rscs[ar]
                    .children
                    .iter()
                    .copied()
                    .find(|&k| node.is_some() && crate::clone::instance_node(cl, k) == node),
            );
        }
    }
    for &(next, flags) in &after[act] {
        if flags & FLAG_IMPLIES_THEN == 0 {
            // Only from a group or clone down to its own members.
            let Some(ar) = act_rsc else { continue };
            let Some(nr) = g.acts[next].rsc else { continue };
            if cl.rscs[ar].variant == Variant::Primitive
                || cl.rscs[pr].parent == Some(ar)
                || cl.rscs[nr].variant == Variant::Clone
                || cl.rscs[nr].parent != Some(ar)
            {
                continue;
            }
            if let Some(compatible) = interleave_with {
                if compatible != Some(nr) {
                    continue;
                }
            }
        }
        restart_orderings(cl, g, after, probe, next, seen);
    }
}
