//! Plain-words explanations: why a resource is where it is, or why it cannot run.

use halo_model::{Role, INFINITY};

use crate::actions::{Graph, Task};
use crate::cluster::{fmt_score, Cluster, RscId, Variant};
use crate::render::placement;

/// Explain resource `id`, or `None` when no such resource exists.
pub fn explain(cl: &Cluster, g: &Graph, id: &str) -> Option<String> {
    let r = cl.rscs.iter().position(|x| x.id == id)?;
    let mut out = String::new();
    let prims = cl.primitives(r);
    if cl.rscs[r].variant != Variant::Primitive {
        out.push_str(&format!(
            "{id} is a {} of {} primitive(s); each is explained below.\n",
            if cl.rscs[r].variant == Variant::Group {
                "group"
            } else {
                "clone"
            },
            prims.len()
        ));
    }
    for p in prims {
        explain_primitive(cl, g, p, &mut out);
    }
    Some(out)
}

fn explain_primitive(cl: &Cluster, g: &Graph, r: RscId, out: &mut String) {
    let rsc = &cl.rscs[r];
    let (now, role_now) = placement(cl, g, r, false);
    let (then, role_then) = placement(cl, g, r, true);
    let name = |n: Option<usize>| n.map(|n| cl.nodes[n].name.clone());
    match name(now) {
        Some(n) => out.push_str(&format!("{}: now {} on {}.\n", rsc.id, role_now, n)),
        None => out.push_str(&format!("{}: now stopped.\n", rsc.id)),
    }
    match name(then) {
        Some(n) => out.push_str(&format!(
            "  after the transition: {} on {}.\n",
            role_then, n
        )),
        None => out.push_str("  after the transition: stopped.\n"),
    }
    if !rsc.managed {
        out.push_str("  It is unmanaged (is-managed=false, maintenance, a blocked failure, or fencing enabled without a fencing device): halo will not start or stop it.\n");
    }
    if rsc.next_role_reason.as_deref() == Some("target-role") {
        if let Some(role) = rsc.next_role {
            out.push_str(&format!("  Its target-role is {role}.\n"));
        }
    }
    if rsc.failed {
        out.push_str("  It has failed and will be recovered.\n");
    }
    for n in 0..cl.nodes.len() {
        let (fc, _) = crate::unpack::failcount(cl, r, n, true);
        if fc > 0 {
            out.push_str(&format!(
                "  It failed {} time(s) on {} (migration-threshold {}).\n",
                fmt_score(fc),
                cl.nodes[n].name,
                fmt_score(rsc.migration_threshold)
            ));
        }
    }
    // Node by node.
    out.push_str("  Nodes:\n");
    for n in 0..cl.nodes.len() {
        let node = &cl.nodes[n];
        let score = rsc.allowed[n];
        let mut why = Vec::new();
        if node.unclean {
            why.push("unclean (must be fenced first)".to_string());
        } else if !node.online {
            why.push("offline".to_string());
        }
        if node.standby {
            why.push("in standby".to_string());
        }
        if node.maintenance {
            why.push("in maintenance".to_string());
        }
        if node.shutdown {
            why.push("shutting down".to_string());
        }
        let s = match score {
            None => "not allowed (no location allows it in an asymmetric cluster)".to_string(),
            Some(w) if w <= -INFINITY => "score -INFINITY (banned)".to_string(),
            Some(w) => format!("score {}", fmt_score(w)),
        };
        let chosen = if rsc.allocated_to == Some(n) {
            "  <- chosen"
        } else {
            ""
        };
        let extra = if why.is_empty() {
            String::new()
        } else {
            format!("; node is {}", why.join(", "))
        };
        out.push_str(&format!("    {}: {s}{extra}{chosen}\n", node.name));
    }
    if !rsc.notes.is_empty() {
        out.push_str("  Because of:\n");
        for note in &rsc.notes {
            out.push_str(&format!("    - {note}\n"));
        }
    }
    let disabled = rsc.next_role_reason.as_deref() == Some("target-role")
        && rsc.next_role == Some(Role::Stopped);
    if rsc.allocated_to.is_none() && !disabled && !rsc.orphan {
        out.push_str(
            "  It cannot run anywhere: no node has a non-negative score and is available.\n",
        );
    }
    for t in [Task::Start, Task::Promote, Task::Stop] {
        for a in g.find_all(r, t) {
            let act = &g.acts[a];
            if !act.runnable && !act.optional {
                let why = act
                    .reason
                    .clone()
                    .or_else(|| {
                        act.blocked_by
                            .map(|b| format!("{} cannot run", g.describe(cl, b)))
                    })
                    .unwrap_or_else(|| "its node cannot run it".into());
                out.push_str(&format!("  Its {} is blocked: {why}.\n", t.as_str()));
            }
        }
    }
}
