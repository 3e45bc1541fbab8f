//! Probes: a one-shot monitor wherever a resource's state on a node is unknown, run
//! before anything that depends on that state (Pacemaker's `pcmk_sched_probes.c`).

use halo_model::Role;

use crate::actions::{self, Graph, Task, FLAG_OPTIONAL, FLAG_RUNNABLE_LEFT};
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
        for t in cl.top.clone() {
            create(cl, g, t, n);
        }
    }
}

fn create(cl: &mut Cluster, g: &mut Graph, r: RscId, n: NodeId) -> bool {
    match cl.rscs[r].variant {
        Variant::Group => {
            let mut any = false;
            for m in cl.rscs[r].children.clone() {
                any |= create(cl, g, m, n);
            }
            any
        }
        Variant::Clone => {
            let kids = {
                let mut k = cl.rscs[r].children.clone();
                k.sort_by_key(|&c| cl.rscs[c].instance);
                k
            };
            if kids.is_empty() {
                return false;
            }
            if cl.rscs[r].unique {
                let mut any = false;
                for k in kids {
                    any |= create(cl, g, k, n);
                }
                return any;
            }
            // An anonymous clone is probed through one instance: the one known on
            // the node, else the one placed there, else the first.
            let known = kids.iter().copied().find(|&k| known_on(cl, k, n));
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
fn known_on(cl: &Cluster, r: RscId, n: NodeId) -> bool {
    if cl.rscs[r].variant == Variant::Primitive {
        cl.rscs[r].known_on.contains(&n)
    } else {
        cl.rscs[r].children.iter().any(|&k| known_on(cl, k, n))
    }
}

fn probe_primitive(cl: &mut Cluster, g: &mut Graph, r: RscId, n: NodeId) -> bool {
    let rsc = &cl.rscs[r];
    if rsc.orphan || rsc.known_on.contains(&n) {
        return false;
    }
    let probe = actions::custom_op(cl, g, r, Task::Monitor, 0, Some(n), false);
    let running = cl.rscs[r].running_on.contains(&n);
    g.acts[probe].expected_rc = if !running {
        Some(RC_NOT_RUNNING)
    } else if cl.rscs[r].role == Role::Promoted {
        Some(RC_PROMOTED)
    } else {
        None
    };
    // Start the resource (or, for a clone instance, the whole clone) after probing.
    let top = cl.top_parent(r);
    let then = if cl.rscs[top].variant == Variant::Clone {
        top
    } else {
        r
    };
    let mut flags = FLAG_OPTIONAL;
    if !g.acts[probe].runnable && cl.rscs[r].running_on.is_empty() {
        flags |= FLAG_RUNNABLE_LEFT;
    }
    cl.orders.push(crate::constraints::RscOrder {
        id: "probe".into(),
        first: r,
        first_task: Task::Monitor,
        then,
        then_task: Task::Start,
        flags,
        first_action: Some(probe),
        then_action: None,
    });
    true
}
