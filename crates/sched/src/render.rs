//! Text rendering of the cluster state, in the spirit of crm_simulate's status blocks.

use halo_model::Role;

use crate::actions::{Graph, Task};
use crate::cluster::{Cluster, NodeId, RscId, Variant};

/// Where a primitive is, and in which role, before or after the transition.
pub fn placement(cl: &Cluster, g: &Graph, r: RscId, after: bool) -> (Option<NodeId>, Role) {
    let rsc = &cl.rscs[r];
    let current = cl.current_node(r);
    let role_now = if current.is_some() && rsc.role == Role::Stopped {
        Role::Started
    } else {
        rsc.role
    };
    if !after {
        return (current, role_now);
    }
    let next_role = rsc.next_role.unwrap_or(Role::Stopped);
    let ran = |t: Task, n: Option<NodeId>| {
        g.find(r, t, n)
            .map(|a| g.acts[a].runnable && !g.acts[a].optional)
            .unwrap_or(false)
    };
    if !rsc.managed {
        return (current, role_now);
    }
    match rsc.allocated_to {
        Some(n) if next_role > Role::Stopped => {
            if current == Some(n) && !ran(Task::Start, Some(n)) {
                // stays; maybe changes role
                if next_role == Role::Promoted && ran(Task::Promote, Some(n)) {
                    return (Some(n), Role::Promoted);
                }
                if role_now == Role::Promoted && ran(Task::Demote, Some(n)) {
                    return (Some(n), Role::Unpromoted);
                }
                return (Some(n), role_now);
            }
            if ran(Task::Start, Some(n)) {
                let role = if next_role == Role::Promoted && ran(Task::Promote, Some(n)) {
                    Role::Promoted
                } else if next_role == Role::Started {
                    Role::Started
                } else {
                    Role::Unpromoted
                };
                return (Some(n), role);
            }
            let stopped = current.map(|c| ran(Task::Stop, Some(c))).unwrap_or(true);
            if stopped {
                (None, Role::Stopped)
            } else {
                (current, role_now)
            }
        }
        _ => {
            let stopped = current.map(|c| ran(Task::Stop, Some(c))).unwrap_or(true);
            if stopped {
                (None, Role::Stopped)
            } else {
                (current, role_now)
            }
        }
    }
}

/// The node list and resource list.
pub fn status(cl: &Cluster, g: &Graph, after: bool) -> String {
    let mut out = String::new();
    out.push_str("  * Node List:\n");
    let online: Vec<&str> = cl
        .nodes
        .iter()
        .filter(|n| {
            n.online && !n.unclean && !n.standby && !n.maintenance && !fenced(g, n, cl, after)
        })
        .map(|n| n.name.as_str())
        .collect();
    for n in &cl.nodes {
        let fenced_now = fenced(g, n, cl, after);
        if n.unclean && !fenced_now {
            let state = if n.online { "online" } else { "offline" };
            out.push_str(&format!("    * Node {}: UNCLEAN ({state})\n", n.name));
        } else if n.online && n.standby && !n.unclean {
            out.push_str(&format!("    * Node {}: standby\n", n.name));
        } else if n.online && n.maintenance {
            out.push_str(&format!("    * Node {}: maintenance\n", n.name));
        }
    }
    if !online.is_empty() {
        out.push_str(&format!("    * Online: [ {} ]\n", online.join(" ")));
    }
    let offline: Vec<&str> = cl
        .nodes
        .iter()
        .filter(|n| (!n.online && !n.unclean) || fenced(g, n, cl, after))
        .map(|n| n.name.as_str())
        .collect();
    if !offline.is_empty() {
        out.push_str(&format!("    * OFFLINE: [ {} ]\n", offline.join(" ")));
    }
    out.push_str("\n  * Full List of Resources:\n");
    for &t in &cl.top {
        resource(cl, g, t, after, 4, &mut out);
    }
    out
}

fn fenced(g: &Graph, n: &crate::cluster::Node, cl: &Cluster, after: bool) -> bool {
    after && g.fences.iter().any(|(x, _)| cl.nodes[*x].name == n.name)
}

fn agent(cl: &Cluster, r: RscId) -> String {
    cl.rscs[r].agent.to_string()
}

fn resource(cl: &Cluster, g: &Graph, r: RscId, after: bool, indent: usize, out: &mut String) {
    let pad = " ".repeat(indent);
    let rsc = &cl.rscs[r];
    match rsc.variant {
        Variant::Primitive => {
            if rsc.orphan && rsc.running_on.is_empty() {
                return;
            }
            let (node, role) = placement(cl, g, r, after);
            let mut state = match node {
                Some(n) => format!("{} {}", role, cl.nodes[n].name),
                None => "Stopped".to_string(),
            };
            // A failed resource that is not managed stays failed: nothing acts on it.
            if rsc.failed && (!after || !rsc.managed) {
                state = format!(
                    "FAILED {}",
                    node.map(|n| cl.nodes[n].name.as_str()).unwrap_or("")
                );
            }
            let mut flags = String::new();
            if !rsc.managed {
                // Pacemaker says "blocked" when a failure (on-fail=block, a stop
                // that failed without fencing) took it out of management.
                flags.push_str(if rsc.block {
                    " (blocked)"
                } else {
                    " (unmanaged)"
                });
            }
            if rsc.next_role_reason.as_deref() == Some("target-role")
                && rsc.next_role == Some(Role::Stopped)
            {
                flags.push_str(" (disabled)");
            }
            if rsc.orphan {
                flags.push_str(" ORPHANED");
            }
            out.push_str(&format!(
                "{pad}* {}\t({}):\t {state}{flags}\n",
                rsc.id,
                agent(cl, r)
            ));
        }
        Variant::Group => {
            out.push_str(&format!("{pad}* Resource Group: {}:\n", rsc.id));
            for &k in &rsc.children {
                resource(cl, g, k, after, indent + 2, out);
            }
        }
        Variant::Clone => {
            let kind = "Clone Set";
            let child_desc = rsc
                .children
                .first()
                .map(|&k| {
                    let base = crate::unpack::strip_instance(&cl.rscs[k].id).to_string();
                    if cl.rscs[k].variant == Variant::Primitive {
                        format!("{base} ({})", agent(cl, k))
                    } else {
                        base
                    }
                })
                .unwrap_or_default();
            let promotable = if rsc.promotable { " (promotable)" } else { "" };
            out.push_str(&format!(
                "{pad}* {kind}: {} [{child_desc}]{promotable}:\n",
                rsc.id
            ));
            let mut by_role: std::collections::BTreeMap<Role, Vec<String>> = Default::default();
            let mut stopped = 0usize;
            for &k in &rsc.children {
                let prims = cl.primitives(k);
                let first = prims.first().copied().unwrap_or(k);
                let (node, role) = placement(cl, g, first, after);
                match node {
                    Some(n) => by_role
                        .entry(role)
                        .or_default()
                        .push(cl.nodes[n].name.clone()),
                    None => stopped += 1,
                }
            }
            for (role, mut nodes) in by_role.into_iter().rev() {
                nodes.sort();
                out.push_str(&format!("{pad}  * {role}: [ {} ]\n", nodes.join(" ")));
            }
            if stopped > 0 {
                out.push_str(&format!("{pad}  * Stopped: {stopped} instance(s)\n"));
            }
        }
    }
}

/// One primitive (or clone instance) as the current status shows it, for `--json`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RscView {
    /// The primitive's id (a clone instance's without its `:N`).
    pub id: String,
    /// The group or clone it belongs to, top-level first.
    pub parents: Vec<String>,
    pub agent: String,
    /// started, stopped, promoted, unpromoted, failed or blocked.
    pub state: &'static str,
    pub node: Option<String>,
    /// Stopped by its target-role.
    pub disabled: bool,
}

/// One node as the scheduler sees it, for `halo status`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodeView {
    pub name: String,
    pub online: bool,
    /// In standby (configured, or after a failure with `on-fail=standby`).
    pub standby: bool,
    pub maintenance: bool,
    /// Lost and not yet known to be safe (fenced or waited out).
    pub unclean: bool,
    pub shutdown: bool,
}

/// Every node's state, in the configuration's order.
pub fn node_views(cl: &Cluster) -> Vec<NodeView> {
    cl.nodes
        .iter()
        .map(|n| NodeView {
            name: n.name.clone(),
            online: n.online,
            standby: n.standby || n.standby_onfail,
            maintenance: n.maintenance,
            unclean: n.unclean,
            shutdown: n.shutdown,
        })
        .collect()
}

/// Every primitive instance's current state, in the status's order.
pub fn views(cl: &Cluster, g: &Graph) -> Vec<RscView> {
    let mut out = Vec::new();
    for &t in &cl.top {
        for p in cl.primitives(t) {
            let rsc = &cl.rscs[p];
            if rsc.orphan && rsc.running_on.is_empty() {
                continue;
            }
            let (node, role) = placement(cl, g, p, false);
            let state = if !rsc.managed && rsc.block {
                "blocked"
            } else if rsc.failed {
                "failed"
            } else {
                match (node, role) {
                    (None, _) => "stopped",
                    (Some(_), Role::Promoted) => "promoted",
                    (Some(_), Role::Unpromoted) => "unpromoted",
                    (Some(_), _) => "started",
                }
            };
            let mut parents = Vec::new();
            let mut up = rsc.parent;
            while let Some(q) = up {
                parents.insert(0, cl.rscs[q].id.clone());
                up = cl.rscs[q].parent;
            }
            out.push(RscView {
                id: crate::unpack::strip_instance(&rsc.id).to_string(),
                parents,
                agent: agent(cl, p),
                state,
                node: node.map(|n| cl.nodes[n].name.clone()),
                disabled: rsc.next_role_reason.as_deref() == Some("target-role")
                    && rsc.next_role == Some(Role::Stopped),
            });
        }
    }
    out
}
