//! Clones: distributing instances over nodes, colocation with clones, promotion.

use std::cmp::Ordering;

use halo_model::{Role, INFINITY};

use crate::assign::Flags;
use crate::cluster::{Cluster, NodeId, RscId, Variant};

/// Assign every instance of clone `c` (Pacemaker's `pcmk__clone_allocate`).
pub fn assign_clone(cl: &mut Cluster, c: RscId, prefer: Option<NodeId>) {
    if !cl.rscs[c].provisional || cl.rscs[c].allocating {
        return;
    }
    if cl.rscs[c].promotable {
        crate::promotable::add_promotion_scores(cl, c);
    }
    cl.rscs[c].allocating = true;
    let this_with = cl.rscs[c].this_with.clone();
    for co in this_with {
        let p = cl.colocs[co].primary;
        cl.assign(p, prefer);
    }
    let with_this = cl.rscs[c].with_this.clone();
    for co in with_this {
        if cl.coloc_has_influence(co, None) {
            let dep = cl.colocs[co].dependent;
            let factor = cl.colocs[co].score as f64 / INFINITY as f64;
            let mut t = Some(cl.rscs[c].allowed.clone());
            cl.add_colocated_node_scores(
                dep,
                &mut t,
                factor,
                Flags {
                    this_with: false,
                    active: true,
                    nonnegative: true,
                },
            );
            if let Some(t) = t {
                cl.rscs[c].allowed = t;
            }
        }
    }
    let mut children = cl.rscs[c].children.clone();
    let counts = vec![0usize; cl.nodes.len()];
    let cnt = counts.clone();
    children.sort_by(|&a, &b| cmp_instance(cl, a, b, &cnt));
    cl.rscs[c].children = children.clone();
    distribute(cl, c, &children);
    if cl.rscs[c].promotable {
        crate::promotable::set_instance_roles(cl, c);
    }
    cl.rscs[c].provisional = false;
    cl.rscs[c].allocating = false;
}

/// Nodes an instance is active on.
fn active_nodes(cl: &Cluster, inst: RscId) -> Vec<NodeId> {
    let mut v: Vec<NodeId> = Vec::new();
    for p in cl.primitives(inst) {
        for &n in &cl.rscs[p].running_on {
            if !v.contains(&n) {
                v.push(n);
            }
        }
    }
    v
}

fn did_fail(cl: &Cluster, r: RscId) -> bool {
    cl.rscs[r].failed || cl.rscs[r].children.iter().any(|&k| did_fail(cl, k))
}

fn allowed_ok(cl: &Cluster, r: RscId, n: Option<NodeId>) -> (bool, Option<NodeId>) {
    match n {
        None => (true, None),
        Some(n) => match cl.rscs[r].allowed[n] {
            Some(w) if w >= 0 => (true, Some(n)),
            _ => (false, None),
        },
    }
}

/// Order in which clone instances are assigned (Pacemaker's `pcmk__cmp_instance`).
pub(crate) fn cmp_instance(cl: &Cluster, a: RscId, b: RscId, counts: &[usize]) -> Ordering {
    let na = active_nodes(cl, a);
    let nb = active_nodes(cl, b);
    if !na.is_empty() && !nb.is_empty() && na.len() != nb.len() {
        return na.len().cmp(&nb.len());
    }
    let (ca, n1) = allowed_ok(cl, a, na.first().copied());
    let (cb, n2) = allowed_ok(cl, b, nb.first().copied());
    if ca != cb {
        return if ca {
            Ordering::Less
        } else {
            Ordering::Greater
        };
    }
    if cl.rscs[a].priority != cl.rscs[b].priority {
        return cl.rscs[b].priority.cmp(&cl.rscs[a].priority);
    }
    match (n1, n2) {
        (None, None) => return Ordering::Equal,
        (None, Some(_)) => return Ordering::Greater,
        (Some(_), None) => return Ordering::Less,
        _ => {}
    }
    let (n1, n2) = (n1.unwrap_or(0), n2.unwrap_or(0));
    let c1 = cl.nodes[n1].available();
    let c2 = cl.nodes[n2].available();
    if c1 != c2 {
        return if c1 {
            Ordering::Less
        } else {
            Ordering::Greater
        };
    }
    let parent = cl.rscs[a].parent.unwrap_or(a);
    let t1 = cl.rscs[parent].allowed[n1];
    let t2 = cl.rscs[parent].allowed[n2];
    match (t1, t2) {
        (None, None) => return Ordering::Equal,
        (None, Some(_)) => return Ordering::Greater,
        (Some(_), None) => return Ordering::Less,
        _ => {}
    }
    if counts[n1] != counts[n2] {
        return counts[n1].cmp(&counts[n2]);
    }
    let f1 = did_fail(cl, a);
    let f2 = did_fail(cl, b);
    if f1 != f2 {
        return if f2 {
            Ordering::Less
        } else {
            Ordering::Greater
        };
    }
    cl.rscs[a].instance.cmp(&cl.rscs[b].instance)
}

/// Per-node instance counts used while distributing.
struct Dist {
    count: Vec<usize>,
}

fn distribute(cl: &mut Cluster, c: RscId, children: &[RscId]) {
    let max = cl.rscs[c].clone_max;
    let per_host = cl.rscs[c].clone_node_max;
    let mut d = Dist {
        count: vec![0; cl.nodes.len()],
    };
    let available = (0..cl.nodes.len())
        .filter(|&n| cl.rscs[c].allowed[n].is_some() && cl.nodes[n].available())
        .count();
    let all_coloc = max < available;
    let loop_max = max.checked_div(available).unwrap_or(1).max(1);
    let mut allocated = 0usize;
    for &child in children {
        if allocated >= max {
            break;
        }
        let running = active_nodes(cl, child);
        if running.is_empty() || !cl.rscs[child].provisional || did_fail(cl, child) {
            continue;
        }
        let node = running[0];
        let ok = cl.nodes[node].available()
            && cl.rscs[child].allowed[node]
                .map(|w| w >= 0)
                .unwrap_or(false);
        if !ok {
            continue;
        }
        if cl.rscs[c].allowed[node].is_some() && d.count[node] >= loop_max {
            continue;
        }
        if allocate_instance(cl, c, child, Some(node), all_coloc, per_host, &mut d).is_some() {
            allocated += 1;
        }
    }
    for &child in children {
        if !cl.rscs[child].provisional {
            continue;
        }
        if allocated >= max {
            cl.add_location(child, None, -INFINITY, "clone:limit_reached");
            // An instance over the limit is assigned nowhere.
            for p in cl.primitives(child) {
                if cl.rscs[p].provisional {
                    cl.finalize(p, None, true);
                }
            }
            if cl.rscs[child].variant == Variant::Group {
                cl.rscs[child].provisional = false;
                cl.rscs[child].allocated_to = None;
            }
        } else if allocate_instance(cl, c, child, None, all_coloc, per_host, &mut d).is_some() {
            allocated += 1;
        }
    }
}

fn append_parent_colocation(cl: &mut Cluster, parent: RscId, child: RscId, all: bool) {
    let tw = cl.rscs[parent].this_with.clone();
    for co in tw {
        let s = cl.colocs[co].score;
        if (all || s < 0 || s == INFINITY) && !cl.rscs[child].this_with.contains(&co) {
            cl.add_this_with(child, co);
        }
    }
    let wt = cl.rscs[parent].with_this.clone();
    for co in wt {
        if !cl.coloc_has_influence(co, Some(child)) {
            continue;
        }
        if (all || cl.colocs[co].score < 0) && !cl.rscs[child].with_this.contains(&co) {
            cl.add_with_this(child, co);
        }
    }
}

/// Ban nodes an instance cannot use (unavailable, over the per-node limit).
fn can_run_instance(cl: &mut Cluster, c: RscId, inst: RscId, limit: usize, d: &Dist) {
    for n in 0..cl.nodes.len() {
        if cl.rscs[inst].allowed[n].is_none() {
            continue;
        }
        let ban = if !cl.nodes[n].available() || cl.rscs[inst].orphan {
            Some(-INFINITY)
        } else {
            match cl.rscs[c].allowed[n] {
                None => Some(-INFINITY),
                Some(w) if w < 0 => Some(w),
                Some(_) if d.count[n] < limit => None,
                Some(_) => Some(-INFINITY),
            }
        };
        if let Some(score) = ban {
            update_score(cl, inst, n, score);
        }
    }
}

/// Pacemaker's `common_update_score`: add to an existing entry, recursively.
fn update_score(cl: &mut Cluster, r: RscId, n: NodeId, score: i64) {
    if let Some(w) = cl.rscs[r].allowed[n] {
        cl.rscs[r].allowed[n] = Some(
            halo_model::Score::new(w)
                .plus(halo_model::Score::new(score))
                .value(),
        );
    }
    let kids = cl.rscs[r].children.clone();
    for k in kids {
        update_score(cl, k, n, score);
    }
}

fn allocate_instance(
    cl: &mut Cluster,
    c: RscId,
    inst: RscId,
    prefer: Option<NodeId>,
    all_coloc: bool,
    limit: usize,
    d: &mut Dist,
) -> Option<NodeId> {
    if !cl.rscs[inst].provisional {
        return cl.rscs[inst].allocated_to;
    }
    if cl.rscs[inst].allocating {
        return None;
    }
    append_parent_colocation(cl, c, inst, all_coloc);
    if let Some(p) = prefer {
        match cl.rscs[inst].allowed[p] {
            Some(w) if w >= 0 => {}
            _ => return None,
        }
    }
    can_run_instance(cl, c, inst, limit, d);
    let backup = snapshot(cl, inst);
    let chosen = cl.assign(inst, prefer);
    let chosen = if cl.rscs[inst].variant == Variant::Group {
        cl.rscs[inst].allocated_to
    } else {
        chosen
    };
    if let (Some(ch), Some(p)) = (chosen, prefer) {
        if ch != p {
            restore(cl, inst, backup);
            return None;
        }
    }
    if let Some(ch) = chosen {
        if cl.rscs[c].allowed[ch].is_some() {
            d.count[ch] += 1;
        }
    }
    chosen
}

type Snapshot = Vec<(RscId, Vec<Option<i64>>)>;

fn snapshot(cl: &Cluster, r: RscId) -> Snapshot {
    let mut v = vec![(r, cl.rscs[r].allowed.clone())];
    for &k in &cl.rscs[r].children {
        v.extend(snapshot(cl, k));
    }
    v
}

fn restore(cl: &mut Cluster, r: RscId, s: Snapshot) {
    for (x, t) in s {
        cl.rscs[x].allowed = t;
        if cl.rscs[x].variant == Variant::Primitive {
            cl.unassign(x);
        } else {
            cl.rscs[x].provisional = true;
            cl.rscs[x].allocated_to = None;
        }
        cl.rscs[x].next_role = cl.rscs[x]
            .next_role
            .filter(|_| cl.rscs[x].next_role_reason.as_deref() == Some("target-role"));
    }
    let _ = r;
}

/// The clone as dependent: its instances carry the colocation (appended when they
/// are assigned), so nothing is done for the clone itself.
pub fn clone_with(_cl: &mut Cluster, _dep: RscId, _pri: RscId, _c: usize) {}

/// A primitive dependent colocated with clone `pri` (Pacemaker's
/// `pcmk__clone_apply_coloc_score`).
pub fn with_clone(cl: &mut Cluster, dep: RscId, pri: RscId, c: usize) {
    let co = cl.colocs[c].clone();
    if cl.rscs[pri].promotable {
        if cl.rscs[pri].provisional {
            return;
        } else if co.primary_role.is_none() {
            // handled normally below
        } else if cl.rscs[dep].provisional {
            crate::promotable::update_dependent_with_promotable(cl, pri, dep, c);
            return;
        } else if co.dependent_role == Some(Role::Promoted) {
            crate::promotable::update_promotable_dependent_priority(cl, pri, dep, c);
            return;
        }
    }
    let dep_clone = cl
        .clone_parent(dep)
        .filter(|&x| x == cl.colocs[c].dependent);
    let interleave = dep_clone.map(|dc| cl.rscs[dc].interleave).unwrap_or(false);
    if cl.rscs[pri].provisional {
        return;
    }
    if interleave {
        let inst = find_compatible_instance(cl, dep, pri);
        match inst {
            Some(pi) => {
                cl.apply_coloc_score(dep, pi, c, true);
            }
            None if co.score >= INFINITY => {
                cl.finalize(dep, None, true);
            }
            None => {}
        }
        return;
    }
    if co.score >= INFINITY {
        let mut hosts: Vec<NodeId> = Vec::new();
        for &k in &cl.rscs[pri].children.clone() {
            let loc = if cl.rscs[k].variant == Variant::Primitive {
                cl.rscs[k].allocated_to
            } else {
                cl.rscs[k].allocated_to.or_else(|| {
                    cl.primitives(k)
                        .iter()
                        .find_map(|&p| cl.rscs[p].allocated_to)
                })
            };
            if let Some(n) = loc {
                if !is_blocked(cl, k) {
                    hosts.push(n);
                }
            }
        }
        for n in 0..cl.nodes.len() {
            if cl.rscs[dep].allowed[n].is_some() && !hosts.contains(&n) {
                cl.rscs[dep].allowed[n] = Some(-INFINITY);
            }
        }
        let why = format!("colocation {} with {} (INFINITY)", co.id, cl.rscs[pri].id);
        cl.rscs[dep].notes.push(why);
        return;
    }
    for k in cl.rscs[pri].children.clone() {
        cl.apply_coloc_score(dep, k, c, false);
    }
}

fn is_blocked(cl: &Cluster, r: RscId) -> bool {
    cl.rscs[r].block || cl.rscs[r].children.iter().any(|&k| is_blocked(cl, k))
}

/// For interleaved clones: the instance of `pri` on the node `dep` is (or will be) on.
pub fn find_compatible_instance(cl: &Cluster, dep: RscId, pri: RscId) -> Option<RscId> {
    let candidates: Vec<NodeId> = match cl.rscs[dep].allocated_to {
        Some(n) => vec![n],
        None => cl.sort_nodes(&cl.rscs[dep].allowed, None),
    };
    for n in candidates {
        for &k in &cl.rscs[pri].children {
            let loc = instance_node(cl, k);
            if loc == Some(n) {
                return Some(k);
            }
        }
    }
    None
}

/// The node an instance is assigned to (a group instance: its first member's node).
pub fn instance_node(cl: &Cluster, inst: RscId) -> Option<NodeId> {
    if cl.rscs[inst].variant == Variant::Primitive {
        cl.rscs[inst].allocated_to
    } else {
        cl.rscs[inst].allocated_to.or_else(|| {
            cl.primitives(inst)
                .iter()
                .find_map(|&p| cl.rscs[p].allocated_to)
        })
    }
}
