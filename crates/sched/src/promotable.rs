//! Promotable clones: promotion scores and choosing which instances are promoted.

use halo_model::{Role, INFINITY};

use crate::assign::Flags;
use crate::clone::instance_node;
use crate::cluster::{char2score, Cluster, NodeId, RscId};
use crate::unpack::strip_instance;

fn add(a: i64, b: i64) -> i64 {
    halo_model::Score::new(a)
        .plus(halo_model::Score::new(b))
        .value()
}

/// Does the promotion score of `r` on `node` count (Pacemaker's
/// `promotion_score_applies`)?
fn score_applies(cl: &Cluster, r: RscId, node: NodeId) -> bool {
    let clone = cl.top_parent(r);
    let base = strip_instance(&cl.rscs[r].id).to_string();
    let allowed = matches!(cl.rscs[r].allowed[node], Some(w) if w >= 0);
    if !cl.rscs[r].unique {
        // the instance (primitive with the same base id) active on this node
        let mut active = None;
        let mut known = false;
        for &inst in &cl.rscs[clone].children {
            for p in cl.primitives(inst) {
                if strip_instance(&cl.rscs[p].id) == base {
                    if cl.rscs[p].running_on.contains(&node) && active.is_none() {
                        active = Some(p);
                    }
                    if cl.rscs[p].known_on.contains(&node) {
                        known = true;
                    }
                }
            }
        }
        if active == Some(r) {
            return allowed;
        }
        if active.is_none() && known {
            return allowed;
        }
    }
    if cl.rscs[r].running_on.is_empty() && cl.rscs[r].known_on.is_empty() {
        return allowed;
    }
    if cl.rscs[r].known_on.contains(&node) || cl.rscs[r].running_on.contains(&node) {
        return allowed;
    }
    false
}

/// Promotion score of `r` on `node`; `None` when no attribute is set.
fn promotion_score(cl: &Cluster, r: RscId, node: NodeId) -> Option<i64> {
    if !cl.rscs[r].children.is_empty() {
        let mut total = 0;
        let mut any = false;
        for &k in &cl.rscs[r].children {
            if let Some(s) = promotion_score(cl, k, node) {
                any = true;
                total += s;
            }
        }
        return if any { Some(total) } else { None };
    }
    if !score_applies(cl, r, node) {
        return Some(0).filter(|_| false);
    }
    // The attribute is named after the id history knows the instance by.
    let attrs = &cl.nodes[node].attrs;
    let id = &cl.rscs[r].id;
    let name = cl.rscs[r].clone_name.as_deref().unwrap_or(id);
    let mut v = attrs.get(&format!("master-{name}"));
    if v.is_none() && !cl.rscs[r].unique {
        let base = strip_instance(id);
        if base != id {
            v = attrs.get(&format!("master-{base}"));
        }
    }
    v.map(|s| char2score(Some(s)))
}

/// Add positive promotion scores to instance preferences (`pcmk__add_promotion_scores`).
pub fn add_promotion_scores(cl: &mut Cluster, c: RscId) {
    let kids = cl.rscs[c].children.clone();
    for k in kids {
        for n in 0..cl.nodes.len() {
            let Some(w) = cl.rscs[k].allowed[n] else {
                continue;
            };
            if !cl.nodes[n].available() {
                continue;
            }
            let score = promotion_score(cl, k, n).unwrap_or(0);
            if score > 0 {
                cl.rscs[k].allowed[n] = Some(add(w, score));
            }
            if score > cl.rscs[k].priority {
                cl.rscs[k].priority = score;
            }
        }
    }
}

fn instance_role(cl: &Cluster, inst: RscId, current: bool) -> Role {
    let prims = cl.primitives(inst);
    let mut best = Role::Stopped;
    for p in prims {
        let r = if current {
            cl.rscs[p].role
        } else {
            cl.rscs[p].next_role.unwrap_or(Role::Stopped)
        };
        if r > best {
            best = r;
        }
    }
    best
}

fn next_role_unknown(cl: &Cluster, inst: RscId) -> bool {
    cl.primitives(inst)
        .iter()
        .all(|&p| cl.rscs[p].next_role.is_none())
}

fn set_instance_priority(cl: &mut Cluster, c: RscId, inst: RscId) {
    if instance_role(cl, inst, true) == Role::Started {
        set_role_recursive(cl, inst, |r| {
            if r.role == Role::Started {
                r.role = Role::Unpromoted;
            }
        });
    }
    let Some(chosen) = instance_node(cl, inst) else {
        return;
    };
    let next = if next_role_unknown(cl, inst) {
        None
    } else {
        Some(instance_role(cl, inst, false))
    };
    match next {
        None | Some(Role::Started) => {
            cl.rscs[inst].priority = promotion_score(cl, inst, chosen).unwrap_or(-1);
        }
        Some(Role::Unpromoted) | Some(Role::Stopped) => cl.rscs[inst].priority = -INFINITY,
        Some(Role::Promoted) => {}
    }
    // Location constraints for the promoted role.
    let locs: Vec<(i64, Vec<(NodeId, i64)>)> = cl
        .locs
        .iter()
        .filter(|l| (l.rsc == inst || l.rsc == c) && l.role == Some(Role::Promoted))
        .map(|l| (0, l.nodes.clone()))
        .collect();
    for (_, nodes) in locs {
        if let Some(&(_, w)) = nodes.iter().find(|(n, _)| *n == chosen) {
            cl.rscs[inst].priority = add(cl.rscs[inst].priority, w);
        }
    }
    // Colocations with the promoted role.
    let tw = cl.rscs[inst].this_with.clone();
    for co in tw {
        let p = cl.colocs[co].primary;
        cl.apply_coloc_score(inst, p, co, true);
    }
    cl.rscs[inst].sort_index = cl.rscs[inst].priority;
    if next == Some(Role::Promoted) {
        cl.rscs[inst].sort_index = INFINITY;
    }
}

fn set_role_recursive(cl: &mut Cluster, r: RscId, f: impl Fn(&mut crate::cluster::Rsc) + Copy) {
    f(&mut cl.rscs[r]);
    for k in cl.rscs[r].children.clone() {
        set_role_recursive(cl, k, f);
    }
}

fn sort_instances(cl: &mut Cluster, c: RscId) {
    let kids = cl.rscs[c].children.clone();
    let mut table = Some(cl.rscs[c].allowed.clone());
    if let Some(t) = table.as_mut() {
        for &k in &kids {
            if cl.rscs[k].sort_index < 0 {
                continue;
            }
            if let Some(n) = instance_node(cl, k) {
                if let Some(w) = t[n] {
                    t[n] = Some(add(cl.rscs[k].sort_index, w));
                }
            }
        }
    }
    let tw = cl.rscs[c].this_with.clone();
    for co in tw {
        if cl.colocs[co].dependent_role != Some(Role::Promoted) {
            continue;
        }
        let flags = if cl.colocs[co].score < INFINITY {
            Flags::ACTIVE
        } else {
            Flags::default()
        };
        let p = cl.colocs[co].primary;
        let f = cl.colocs[co].score as f64 / INFINITY as f64;
        cl.add_colocated_node_scores(p, &mut table, f, flags);
    }
    let wt = cl.rscs[c].with_this.clone();
    for co in wt {
        if cl.colocs[co].primary_role != Some(Role::Promoted) || !cl.coloc_has_influence(co, None) {
            continue;
        }
        let d = cl.colocs[co].dependent;
        let f = cl.colocs[co].score as f64 / INFINITY as f64;
        cl.add_colocated_node_scores(
            d,
            &mut table,
            f,
            Flags {
                this_with: false,
                active: true,
                nonnegative: true,
            },
        );
    }
    if let Some(t) = table {
        cl.rscs[c].allowed = t;
    }
    for &k in &kids {
        let unmanaged_promoted = !cl.rscs[k].managed
            && cl
                .primitives(k)
                .iter()
                .any(|&p| cl.rscs[p].next_role == Some(Role::Promoted));
        if unmanaged_promoted {
            cl.rscs[k].sort_index = INFINITY;
        } else if let (Some(n), true) = (instance_node(cl, k), cl.rscs[k].sort_index >= 0) {
            cl.rscs[k].sort_index = cl.rscs[c].allowed[n].unwrap_or(-INFINITY);
        }
    }
    // Ties are broken like the assignment order of instances (which includes the
    // instances' priority, i.e. their promotion score).
    let mut counts = vec![0usize; cl.nodes.len()];
    for &k in &kids {
        if let Some(n) = instance_node(cl, k) {
            counts[n] += 1;
        }
    }
    let mut sorted = kids;
    sorted.sort_by(|&a, &b| {
        cl.rscs[b]
            .sort_index
            .cmp(&cl.rscs[a].sort_index)
            .then_with(|| instance_role(cl, b, true).cmp(&instance_role(cl, a, true)))
            .then_with(|| crate::clone::cmp_instance(cl, a, b, &counts))
    });
    cl.rscs[c].children = sorted;
}

fn can_be_promoted_on(cl: &Cluster, c: RscId, inst: RscId, counts: &[usize]) -> Option<NodeId> {
    for &k in &cl.rscs[inst].children {
        can_be_promoted_on(cl, c, k, counts)?;
    }
    let node = instance_node(cl, inst)?;
    if !cl.rscs[inst].managed {
        if instance_role(cl, inst, true) != Role::Promoted {
            return None;
        }
    } else if cl.rscs[inst].priority < 0 || !cl.nodes[node].available() {
        return None;
    }
    cl.rscs[c].allowed[node]?;
    if counts[node] >= cl.rscs[c].promoted_node_max && cl.rscs[inst].managed {
        return None;
    }
    Some(node)
}

/// Choose the promoted instances (`pcmk__set_instance_roles`).
pub fn set_instance_roles(cl: &mut Cluster, c: RscId) {
    let kids = cl.rscs[c].children.clone();
    for &k in &kids {
        set_instance_priority(cl, c, k);
    }
    sort_instances(cl, c);
    let kids = cl.rscs[c].children.clone();
    let mut counts = vec![0usize; cl.nodes.len()];
    let mut promoted = 0usize;
    let max = cl.rscs[c].promoted_max;
    for k in kids {
        let mut chosen = None;
        if cl.rscs[k].sort_index >= 0 && (promoted < max || !cl.rscs[c].managed) {
            chosen = can_be_promoted_on(cl, c, k, &counts);
        }
        let frozen = instance_role(cl, k, true) < Role::Promoted
            && !cl.opts.have_quorum
            && cl.opts.no_quorum_policy == crate::cluster::NoQuorumPolicy::Freeze;
        match chosen {
            Some(n) if !frozen => {
                counts[n] += 1;
                set_role_recursive(cl, k, |r| {
                    if r.next_role.is_none() {
                        r.next_role = Some(Role::Promoted);
                    }
                });
                promoted += 1;
            }
            _ => set_next_unpromoted(cl, k),
        }
    }
}

fn set_next_unpromoted(cl: &mut Cluster, r: RscId) {
    let assigned = instance_node(cl, r).is_some();
    let rsc = &mut cl.rscs[r];
    if !assigned {
        if rsc.next_role != Some(Role::Stopped) {
            rsc.next_role = Some(Role::Stopped);
        }
    } else if rsc.next_role.is_none() || rsc.next_role > Some(Role::Unpromoted) {
        rsc.next_role = Some(Role::Unpromoted);
    }
    for k in cl.rscs[r].children.clone() {
        set_next_unpromoted(cl, k);
    }
}

/// A dependent placed relative to the instances of a promotable clone in a role.
pub fn update_dependent_with_promotable(cl: &mut Cluster, pri: RscId, dep: RscId, c: usize) {
    let co = cl.colocs[c].clone();
    let mut affected: Vec<NodeId> = Vec::new();
    for k in cl.rscs[pri].children.clone() {
        let Some(n) = instance_node(cl, k) else {
            continue;
        };
        let role = if next_role_unknown(cl, k) {
            Role::Started
        } else {
            instance_role(cl, k, false)
        };
        if Some(role) == co.primary_role {
            if co.score < INFINITY {
                if let Some(w) = cl.rscs[dep].allowed[n] {
                    cl.rscs[dep].allowed[n] = Some(add(w, co.score));
                }
            }
            affected.push(n);
        }
    }
    if co.score >= INFINITY
        && (co.dependent_role != Some(Role::Promoted) || co.primary_role != Some(Role::Promoted))
    {
        for n in 0..cl.nodes.len() {
            if cl.rscs[dep].allowed[n].is_some() && !affected.contains(&n) {
                cl.rscs[dep].allowed[n] = Some(-INFINITY);
            }
        }
    }
}

/// A promoted dependent's priority follows the primary's instance on the same node.
pub fn update_promotable_dependent_priority(cl: &mut Cluster, pri: RscId, dep: RscId, c: usize) {
    let co = cl.colocs[c].clone();
    let Some(dn) = cl.rscs[dep].allocated_to else {
        return;
    };
    for k in cl.rscs[pri].children.clone() {
        if instance_node(cl, k) != Some(dn) {
            continue;
        }
        let role = if next_role_unknown(cl, k) {
            Role::Started
        } else {
            instance_role(cl, k, false)
        };
        if co.primary_role.is_some() && Some(role) != co.primary_role {
            continue;
        }
        let new = add(cl.rscs[dep].priority, co.score);
        cl.rscs[dep].priority = new;
        return;
    }
    if co.score >= INFINITY {
        cl.rscs[dep].priority = -INFINITY;
    }
}
