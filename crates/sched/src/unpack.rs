//! Interpreting recorded status: which nodes are online, clean, standby; where each
//! resource is active, in which role, and whether it failed.

use halo_model::{Config, NodeState, OpRecord, ResourceHistory, Role, Status, INFINITY};

use crate::cluster::{
    char2score, is_true, Cluster, FailResponse, NoQuorumPolicy, Node, NodeId, Options, Rsc, RscId,
    Variant,
};
use crate::recurring::HistoryOp;

/// Nodes of the configuration with their recorded state applied.
pub fn nodes(cfg: &Config, status: &Status, opts: &Options) -> Vec<Node> {
    let mut nodes: Vec<Node> = cfg
        .nodes
        .iter()
        .map(|n| {
            let mut attrs = n.attrs.clone();
            attrs.insert("#uname".into(), n.name.clone());
            attrs.insert("#id".into(), n.id.clone());
            attrs.insert("#kind".into(), "cluster".into());
            let standby = attrs.get("standby").map(|v| is_true(v)).unwrap_or(false);
            let maintenance = attrs
                .get("maintenance")
                .map(|v| is_true(v))
                .unwrap_or(false);
            Node {
                name: n.name.clone(),
                id: n.id.clone(),
                attrs,
                base_score: n.score.map(|s| s.value()).unwrap_or(0),
                standby,
                maintenance,
                // Every node is unclean until its status entry has been seen.
                unclean: opts.startup_fencing,
                unseen: true,
                ..Node::default()
            }
        })
        .collect();

    for ns in &status.nodes {
        let Some(i) = find_node(&nodes, ns) else {
            continue;
        };
        let node = &mut nodes[i];
        for (k, v) in &ns.attrs {
            node.attrs.insert(k.clone(), v.clone());
        }
        if node
            .attrs
            .get("standby")
            .map(|v| is_true(v))
            .unwrap_or(false)
        {
            node.standby = true;
        }
        if node
            .attrs
            .get("maintenance")
            .map(|v| is_true(v))
            .unwrap_or(false)
        {
            node.maintenance = true;
        }
        node.unclean = false;
        node.unseen = false;
        node.fence_reason = None;
        determine_online_status(node, ns, opts);
        if !opts.have_quorum && node.online && opts.no_quorum_policy == NoQuorumPolicy::Suicide {
            fence(node, "cluster does not have quorum");
        }
    }
    for n in nodes.iter_mut() {
        if n.unclean && n.unseen && n.fence_reason.is_none() {
            n.fence_reason = Some("node is unclean".into());
        }
        let dc = status.dc.as_deref();
        n.is_dc = dc == Some(n.id.as_str()) || dc == Some(n.name.as_str());
        n.attrs.insert(
            "#is_dc".into(),
            if n.is_dc { "true" } else { "false" }.into(),
        );
    }
    nodes
}

fn find_node(nodes: &[Node], ns: &NodeState) -> Option<usize> {
    nodes
        .iter()
        .position(|n| n.id == ns.id)
        .or_else(|| nodes.iter().position(|n| n.name == ns.name))
}

fn fence(node: &mut Node, reason: &str) {
    if !node.unclean {
        node.unclean = true;
        node.fence_reason = Some(reason.to_string());
    }
}

/// "true" or a non-zero timestamp.
fn truthy(v: Option<&String>) -> bool {
    match v {
        None => false,
        Some(s) => is_true(s) || s.parse::<i64>().map(|t| t > 0).unwrap_or(false),
    }
}

fn peer_online(v: Option<&String>) -> bool {
    match v {
        None => false,
        Some(s) => s == "online" || s.parse::<i64>().map(|t| t > 0).unwrap_or(false),
    }
}

fn determine_online_status(node: &mut Node, ns: &NodeState, opts: &Options) {
    let shutdown = node
        .attrs
        .get("shutdown")
        .map(|v| !v.is_empty() && v != "0")
        .unwrap_or(false);
    node.shutdown = shutdown;
    node.expected_up = !shutdown && ns.expected.as_deref() == Some("member");
    let in_cluster = truthy(ns.in_ccm.as_ref());
    let crmd_online = peer_online(ns.crmd.as_ref());
    let join = ns.join.as_deref();

    let online = if !opts.stonith_enabled {
        if !in_cluster {
            false
        } else if crmd_online {
            join == Some("member")
        } else {
            if node.expected_up {
                fence(node, "peer is unexpectedly down");
            }
            false
        }
    } else {
        let term = node.attrs.get("terminate").cloned();
        let do_terminate = match term.as_deref() {
            None => false,
            Some(t) => {
                is_true(t)
                    || t.chars()
                        .next()
                        .map(|c| c != '0' && c.is_ascii_digit())
                        .unwrap_or(false)
            }
        };
        let exp = ns.expected.as_deref().unwrap_or("down");
        let mut online = in_cluster;
        if node.shutdown {
            online = crmd_online;
        } else if ns.in_ccm.is_none() {
            fence(node, "peer has not been seen by the cluster");
        } else if join == Some("nack") {
            fence(node, "peer failed Pacemaker membership criteria");
        } else if !do_terminate && exp == "down" {
            if in_cluster || crmd_online {
                node.standby = true;
                node.pending = true;
            }
        } else if do_terminate && join == Some("down") && !in_cluster && !crmd_online {
            online = false;
        } else if !in_cluster {
            fence(node, "peer is no longer part of the cluster");
        } else if !crmd_online {
            fence(node, "peer process is no longer available");
        } else if do_terminate {
            fence(node, "termination was requested");
        } else if join == Some("member") {
            // active
        } else if matches!(join, Some("pending") | Some("down")) {
            node.standby = true;
            node.pending = true;
        } else {
            fence(node, "peer was in an unknown state");
        }
        online
    };
    node.online = online;
}

/// Role of a resource while its history is processed: `None` is Pacemaker's Unknown.
type PRole = Option<Role>;

/// Apply every node's operation history to the resources.
pub fn histories(cl: &mut Cluster, status: &Status) {
    cl.histories
        .reserve(status.nodes.iter().map(|n| n.resources.len()).sum());
    // Configured primitives by id (the first of an id wins, as a linear search would);
    // resources added while reading histories are orphans and never match here.
    let mut primitives: rustc_hash::FxHashMap<String, RscId> = Default::default();
    for (i, r) in cl.rscs.iter().enumerate() {
        if r.variant == Variant::Primitive && !r.orphan {
            primitives.entry(r.id.clone()).or_insert(i);
        }
    }
    // Online nodes first (and, with fencing, every node), then the rest with fencing.
    let mut done = vec![false; status.nodes.len()];
    for pass in 0..2 {
        for (si, ns) in status.nodes.iter().enumerate() {
            if done[si] {
                continue;
            }
            let Some(n) = cl
                .nodes
                .iter()
                .position(|x| x.id == ns.id || x.name == ns.name)
            else {
                continue;
            };
            if pass == 0 && !cl.opts.stonith_enabled && !cl.nodes[n].online {
                continue;
            }
            if pass == 1 && !cl.opts.stonith_enabled {
                continue;
            }
            done[si] = true;
            for (hi, h) in ns.resources.iter().enumerate() {
                unpack_lrm_resource(cl, n, h, (si, hi), &primitives);
            }
        }
    }
}

fn unpack_lrm_resource(
    cl: &mut Cluster,
    node: NodeId,
    h: &ResourceHistory,
    at: (usize, usize),
    primitives: &rustc_hash::FxHashMap<String, RscId>,
) {
    if h.ops.is_empty() {
        return;
    }
    let r = match find_resource(cl, node, &h.id, primitives) {
        Some(r) => r,
        None => orphan(cl, h),
    };
    if cl.rscs[r].id != h.id && cl.rscs[r].clone_name.as_deref() != Some(h.id.as_str()) {
        cl.rscs[r].clone_name = Some(h.id.clone());
    }
    let saved_role = cl.rscs[r].role;
    let mut role: PRole = None;
    // Most histories are already in call-id order (one probe; a start and its monitor).
    let sorted = h
        .ops
        .windows(2)
        .all(|w| cmp_ops(&w[0], &w[1]) != std::cmp::Ordering::Greater);
    let order: Option<Vec<u32>> = (!sorted).then(|| {
        let mut o: Vec<u32> = (0..h.ops.len() as u32).collect();
        o.sort_by(|&a, &b| cmp_ops(&h.ops[a as usize], &h.ops[b as usize]));
        o
    });
    let mut on_fail = FailResponse::Ignore;
    let mut last_failure: Option<&OpRecord> = None;
    let n = h.ops.len();
    for k in 0..n {
        let i = order.as_ref().map_or(k, |o| o[k] as usize);
        let op = &h.ops[i];
        unpack_rsc_op(cl, r, node, op, &mut role, &mut on_fail, &mut last_failure);
    }
    process_rsc_state(cl, r, node, role, on_fail);
    // History recorded under another agent is removed (after the stop, where the
    // resource is active: its definition changed, so it restarts).
    let agent = &cl.rscs[r].agent;
    let agent_changed = !cl.rscs[r].orphan
        && (agent.class != h.class || agent.provider != h.provider || agent.kind != h.kind);
    if agent_changed {
        cl.cleanups.push((r, node));
    }
    let anonymous_instance = cl.clone_parent(r).is_some_and(|c| !cl.rscs[c].unique);
    if cl.rscs[r].orphan && !anonymous_instance {
        cl.cleanups.push((r, node));
    }
    cl.histories.push(crate::cluster::History {
        rsc: r,
        node,
        state: at.0,
        entry: at.1,
        order,
    });
    if saved_role > cl.rscs[r].role {
        cl.rscs[r].role = saved_role;
    }
}

fn cmp_ops(a: &OpRecord, b: &OpRecord) -> std::cmp::Ordering {
    // Pending (negative call id) operations go last.
    let ka = if a.call_id < 0 { i64::MAX } else { a.call_id };
    let kb = if b.call_id < 0 { i64::MAX } else { b.call_id };
    ka.cmp(&kb).then_with(|| {
        a.last_rc_change
            .unwrap_or(0)
            .cmp(&b.last_rc_change.unwrap_or(0))
    })
}

/// Find the configured resource (or clone instance) a history entry belongs to.
fn find_resource(
    cl: &mut Cluster,
    node: NodeId,
    hid: &str,
    primitives: &rustc_hash::FxHashMap<String, RscId>,
) -> Option<RscId> {
    // Exact match on a primitive (including unique clone instances "rsc:N").
    if let Some(&r) = primitives.get(hid) {
        let in_anon_clone = cl
            .clone_parent(r)
            .map(|c| !cl.rscs[c].unique)
            .unwrap_or(false);
        if !in_anon_clone {
            return Some(r);
        }
    }
    let base = strip_instance(hid);
    // Find a clone whose (possibly grouped) child primitive has this base id.
    for c in 0..cl.rscs.len() {
        if cl.rscs[c].variant != Variant::Clone {
            continue;
        }
        let insts = cl.rscs[c].children.clone();
        let mut matching: Vec<(RscId, RscId)> = Vec::new(); // (instance, primitive)
        for &inst in &insts {
            for p in cl.primitives(inst) {
                if strip_instance(&cl.rscs[p].id) == base {
                    matching.push((inst, p));
                }
            }
        }
        if matching.is_empty() {
            continue;
        }
        if cl.rscs[c].unique {
            return matching
                .iter()
                .find(|(_, p)| cl.rscs[*p].id == hid)
                .map(|x| x.1);
        }
        return Some(find_anonymous(cl, node, c, &matching));
    }
    None
}

/// Pick the instance of anonymous clone `c` that history found on `node` belongs to
/// (Pacemaker's `find_anonymous_clone`): the instance already active there, else the
/// first inactive one, else a new orphan instance.
fn find_anonymous(cl: &mut Cluster, node: NodeId, c: RscId, matching: &[(RscId, RscId)]) -> RscId {
    let mut found = None;
    let mut inactive = None;
    let mut skip_inactive = false;
    for &(inst, p) in matching {
        let locations: Vec<NodeId> = cl
            .primitives(inst)
            .iter()
            .flat_map(|&q| cl.rscs[q].running_on.clone())
            .collect();
        if let Some(&at) = locations.first() {
            if at == node {
                if cl.rscs[p].running_on.is_empty() {
                    found = Some(p);
                    break;
                }
                // A second history of the same instance on one node: an orphan.
                skip_inactive = true;
            }
        } else if !skip_inactive && inactive.is_none() && !cl.rscs[inst].block {
            inactive = Some(p);
        }
    }
    if found.is_none() && !skip_inactive {
        found = inactive;
    }
    // An instance that does not need fencing is not consumed by an unclean node
    // unless the clone runs everywhere.
    if let Some(p) = found {
        let n = &cl.nodes[node];
        let universal = cl.rscs[c].clone_max == cl.nodes.len();
        if cl.rscs[p].needs != crate::cluster::Needs::Fencing
            && (!n.online || n.unclean)
            && !universal
        {
            found = None;
        }
    }
    match found {
        Some(p) => p,
        None => orphan_instance(cl, c, matching[0].0, matching[0].1),
    }
}

/// Add an orphan instance to clone `c`, shaped like instance `template`; return its
/// primitive corresponding to `prim` (Pacemaker's `create_anonymous_orphan`).
fn orphan_instance(cl: &mut Cluster, c: RscId, template: RscId, prim: RscId) -> RscId {
    let number = cl.rscs[c].children.len();
    let mut map = Vec::new();
    let new_inst = copy_subtree(cl, template, Some(c), number, &mut map);
    cl.rscs[c].children.push(new_inst);
    map.iter()
        .find(|(old, _)| *old == prim)
        .map(|(_, new)| *new)
        .unwrap_or(new_inst)
}

fn copy_subtree(
    cl: &mut Cluster,
    r: RscId,
    parent: Option<RscId>,
    number: usize,
    map: &mut Vec<(RscId, RscId)>,
) -> RscId {
    let mut copy = cl.rscs[r].clone();
    copy.id = format!("{}:{number}", strip_instance(&copy.id));
    copy.parent = parent;
    copy.children = Vec::new();
    copy.orphan = true;
    // An orphan instance of a clone is managed like the clone's other instances
    // (stop-orphan-resources concerns only resources removed from the configuration).
    copy.running_on = Vec::new();
    copy.known_on = Vec::new();
    copy.role = Role::Stopped;
    copy.failed = false;
    copy.stop_needed = false;
    copy.this_with = Vec::new();
    copy.with_this = Vec::new();
    copy.notes = Vec::new();
    copy.clone_name = None;
    if copy.instance.is_some() {
        copy.instance = Some(number);
    }
    let idx = cl.rscs.len();
    cl.rscs.push(copy);
    map.push((r, idx));
    for k in cl.rscs[r].children.clone() {
        let nk = copy_subtree(cl, k, Some(idx), number, map);
        cl.rscs[idx].children.push(nk);
    }
    idx
}

pub fn strip_instance(id: &str) -> &str {
    match id.rfind(':') {
        Some(i) if id[i + 1..].chars().all(|c| c.is_ascii_digit()) && i + 1 < id.len() => &id[..i],
        _ => id,
    }
}

/// A resource found in history but not in the configuration.
fn orphan(cl: &mut Cluster, h: &ResourceHistory) -> RscId {
    if let Some(r) = cl.rscs.iter().position(|x| x.orphan && x.id == h.id) {
        return r;
    }
    let idx = cl.rscs.len();
    let mut rsc = Rsc::new(h.id.clone(), Variant::Primitive, None, cl.nodes.len());
    rsc.agent = halo_model::AgentRef {
        class: h.class.clone(),
        provider: h.provider.clone(),
        kind: h.kind.clone(),
    };
    rsc.orphan = true;
    rsc.managed = cl.opts.stop_orphan_resources && !cl.opts.maintenance_mode;
    rsc.next_role = Some(Role::Stopped);
    rsc.next_role_reason = Some("orphan".into());
    rsc.needs = if cl.opts.stonith_enabled {
        crate::cluster::Needs::Fencing
    } else {
        crate::cluster::Needs::Quorum
    };
    cl.rscs.push(rsc);
    cl.top.push(idx);
    if cl.opts.symmetric {
        cl.add_location(idx, None, 0, "symmetric_default");
    }
    idx
}

fn top_promotable(cl: &Cluster, r: RscId) -> bool {
    let t = cl.top_parent(r);
    cl.rscs[t].promotable
}

fn set_active(cl: &Cluster, r: RscId, role: &mut PRole) {
    *role = Some(if top_promotable(cl, r) {
        Role::Unpromoted
    } else {
        Role::Started
    });
}

/// Fail count of `r` on `node` (sum over its operations), honouring failure-timeout
/// when `effective`. Returns (count, last failure time).
pub fn failcount(cl: &Cluster, r: RscId, node: NodeId, effective: bool) -> (i64, i64) {
    let rsc = &cl.rscs[r];
    let name = if rsc.unique {
        rsc.id.as_str()
    } else {
        strip_instance(&rsc.id)
    };
    let mut count = 0i64;
    let mut last = 0i64;
    for (k, v) in &cl.nodes[node].attrs {
        if let Some(rest) = k.strip_prefix("fail-count-") {
            if fail_key_matches(rest, name, rsc.unique, cl.opts.legacy_failcounts) {
                count = halo_model::Score::new(count)
                    .plus(halo_model::Score::new(char2score(Some(v))))
                    .value();
            }
        } else if let Some(rest) = k.strip_prefix("last-failure-") {
            if fail_key_matches(rest, name, rsc.unique, cl.opts.legacy_failcounts) {
                if let Ok(t) = v.trim().parse::<i64>() {
                    last = last.max(t);
                }
            }
        }
    }
    if effective
        && count > 0
        && last > 0
        && rsc.failure_timeout > 0
        && !rsc.block
        && cl.opts.now > last + rsc.failure_timeout
    {
        count = 0;
    }
    (count, last)
}

/// Does an attribute suffix like `rsc#start_0`, `rsc:1#monitor_10000` or legacy `rsc`
/// name this resource?
fn fail_key_matches(rest: &str, name: &str, unique: bool, legacy: bool) -> bool {
    let (id, op) = match rest.find('#') {
        Some(i) => (&rest[..i], Some(&rest[i + 1..])),
        None => (rest, None),
    };
    if legacy != op.is_none() {
        return false;
    }
    if let Some(op) = op {
        // "#NAME_INTERVAL"
        let ok = op
            .rfind('_')
            .map(|u| u > 0 && op[u + 1..].chars().all(|c| c.is_ascii_digit()) && u + 1 < op.len())
            .unwrap_or(false);
        if !ok {
            return false;
        }
    }
    if id == name {
        return true;
    }
    !unique && strip_instance(id) == name && id != name
}

fn op_on_fail(cl: &Cluster, r: RscId, task: &str, interval_ms: u64) -> FailResponse {
    let v = cl.op_attr(r, task, interval_ms, "on-fail");
    let stonith = cl.opts.stonith_enabled;
    match v.as_deref() {
        Some(v) if task == "stop" && matches!(v, "standby" | "demote" | "stop") => {
            default_on_fail(task, stonith)
        }
        Some("block") => FailResponse::Block,
        Some("fence") => {
            if stonith {
                FailResponse::Fence
            } else {
                FailResponse::Stop
            }
        }
        Some("standby") => FailResponse::Standby,
        Some("ignore") | Some("nothing") => FailResponse::Ignore,
        Some("migrate") => FailResponse::Migrate,
        Some("stop") => FailResponse::Stop,
        Some("restart") => FailResponse::Recover,
        Some("demote") => FailResponse::Demote,
        _ => default_on_fail(task, stonith),
    }
}

fn default_on_fail(task: &str, stonith: bool) -> FailResponse {
    if task == "stop" {
        if stonith {
            FailResponse::Fence
        } else {
            FailResponse::Block
        }
    } else {
        FailResponse::Recover
    }
}

/// Pacemaker's `cmp_on_fail` for the responses we model (a simple severity order).
fn worse(a: FailResponse, b: FailResponse) -> bool {
    b > a
}

fn is_probe(op: &OpRecord) -> bool {
    op.operation == "monitor" && op.interval_ms == 0
}

// Execution status codes recorded in history (Pacemaker's `pcmk_exec_status`).
const EXEC_PENDING: i32 = -1;
const EXEC_DONE: i32 = 0;
const EXEC_CANCELLED: i32 = 1;
const EXEC_NOT_SUPPORTED: i32 = 3;
const EXEC_ERROR: i32 = 4;
const EXEC_ERROR_HARD: i32 = 5;
const EXEC_ERROR_FATAL: i32 = 6;
const EXEC_NOT_INSTALLED: i32 = 7;
const EXEC_NO_FENCE_DEVICE: i32 = 10;
const EXEC_NO_SECRETS: i32 = 11;

/// A failed probe that only means "cannot run here" (agent or parameters missing).
fn maskable_probe_failure(op: &OpRecord) -> bool {
    is_probe(op) && (op.rc == 5 || op.rc == 2 || op.op_status == EXEC_NOT_INSTALLED)
}

/// Turn a recorded (rc, status) into what it means given the expected result
/// (Pacemaker's `remap_operation`). Also updates the role for results that tell it.
fn remap(
    cl: &mut Cluster,
    r: RscId,
    node: NodeId,
    op: &OpRecord,
    target_rc: i32,
    role: &mut PRole,
    on_fail: &mut FailResponse,
) -> (i32, i32) {
    let mut rc = op.rc;
    let mut status = op.op_status;
    if op.operation == "monitor" {
        rc = match rc {
            190 => 0,
            191 => 8,
            x => x,
        };
    }
    if maskable_probe_failure(op) {
        status = EXEC_DONE;
        rc = 7;
    }
    if status != EXEC_DONE && status != EXEC_ERROR {
        return (rc, status);
    }
    status = EXEC_DONE;
    let probe = is_probe(op);
    if target_rc < 0 || target_rc != rc {
        status = EXEC_ERROR;
    }
    match rc {
        0 => {
            if probe && target_rc == 7 {
                status = EXEC_DONE;
            }
        }
        7 => {
            if probe || target_rc == rc || !cl.rscs[r].managed {
                status = EXEC_DONE;
                *role = Some(Role::Stopped);
                *on_fail = FailResponse::Ignore;
                cl.rscs[r].next_role = next_role_reset(cl, r);
            }
        }
        8 => {
            if probe && rc != target_rc {
                status = EXEC_DONE;
            }
            *role = Some(Role::Promoted);
        }
        9 | 191 => {
            *role = Some(Role::Promoted);
            status = EXEC_ERROR;
        }
        6 => status = EXEC_ERROR_FATAL,
        3 => {
            if op.interval_ms == 0 {
                check_recoverable(cl, r, node, &op.operation);
                status = EXEC_ERROR_HARD;
            } else {
                status = EXEC_NOT_SUPPORTED;
            }
        }
        5 | 2 | 4 => {
            check_recoverable(cl, r, node, &op.operation);
            status = EXEC_ERROR_HARD;
        }
        _ => {
            if status == EXEC_DONE {
                status = EXEC_ERROR;
            }
        }
    }
    (rc, status)
}

/// Apply one recorded operation (Pacemaker's `unpack_rsc_op`).
#[allow(clippy::too_many_arguments)]
fn unpack_rsc_op<'a>(
    cl: &mut Cluster,
    r: RscId,
    node: NodeId,
    op: &'a OpRecord,
    role: &mut PRole,
    on_fail: &mut FailResponse,
    last_failure: &mut Option<&'a OpRecord>,
) {
    let task = op.operation.as_str();
    if task == "notify" || task == "meta-data" {
        return;
    }
    let target_rc = op.target_rc.unwrap_or(-1);
    let parent = if cl.rscs[r].unique {
        r
    } else {
        cl.top_parent(r)
    };
    // A failure of an operation with on-fail=block never expires: it disables the
    // resource's failure timeout (Pacemaker's block_failure).
    if cl.rscs[r].failure_timeout > 0
        && blocking_failure(cl, r, op, target_rc)
        && failcount(cl, r, node, false).0 > 0
    {
        cl.rscs[r].failure_timeout = 0;
    }
    let expired = op.op_status != EXEC_NOT_INSTALLED && check_expiry(cl, r, node, op);
    if op.op_status != EXEC_NOT_INSTALLED && expired_failcount(cl, r, node, op) {
        cl.clears.push((r, node));
    }
    let (rc, mut status) = remap(cl, r, node, op, target_rc, role, on_fail);
    let maskable = maskable_probe_failure(op);
    if expired && maskable && op.rc != target_rc {
        if *role <= Some(Role::Stopped) {
            *role = None;
        }
        return;
    } else if expired
        && rc != target_rc
        && (op.interval_ms == 0 || (cl.nodes[node].online && !cl.nodes[node].unclean))
    {
        if op.interval_ms > 0 {
            // The failed recurring monitor starts again (Pacemaker forces its
            // restart digest to differ).
            cl.expired_monitors.push((r, node, op.id.clone()));
        }
        return;
    }
    if maskable {
        let trc = if target_rc < 0 { 0 } else { target_rc };
        update_resource_state(cl, r, node, op, task, trc, *last_failure, role, on_fail);
        cl.add_location(parent, Some(node), -INFINITY, "masked-probe-failure");
        return;
    }
    match status {
        EXEC_CANCELLED => return,
        EXEC_PENDING => {
            if task == "start" {
                set_active(cl, r, role);
            } else if task == "promote" {
                *role = Some(Role::Promoted);
            }
            return;
        }
        EXEC_DONE => {
            update_resource_state(cl, r, node, op, task, rc, *last_failure, role, on_fail);
            return;
        }
        EXEC_NOT_INSTALLED => {
            let fs = op_on_fail(cl, r, task, op.interval_ms);
            if fs == FailResponse::Ignore {
                *on_fail = FailResponse::Migrate;
            }
            cl.add_location(parent, Some(node), -INFINITY, "hard-error");
            rsc_op_failure(cl, r, node, op, rc, role, on_fail, last_failure);
            return;
        }
        EXEC_NO_FENCE_DEVICE | EXEC_NO_SECRETS => status = EXEC_ERROR_HARD,
        _ => {}
    }
    let strategy = op_on_fail(cl, r, task, op.interval_ms);
    if strategy == FailResponse::Ignore {
        let trc = if target_rc < 0 { 0 } else { target_rc };
        update_resource_state(cl, r, node, op, task, trc, *last_failure, role, on_fail);
        cl.rscs[r].failure_ignored = true;
    } else {
        rsc_op_failure(cl, r, node, op, rc, role, on_fail, last_failure);
        if status == EXEC_ERROR_HARD {
            cl.add_location(parent, Some(node), -INFINITY, "hard-error");
        } else if status == EXEC_ERROR_FATAL {
            cl.add_location(parent, None, -INFINITY, "fatal-error");
        }
    }
}

fn next_role_reset(cl: &Cluster, r: RscId) -> Option<Role> {
    // Clearing a failure-derived next role keeps any configured target-role.
    let rsc = &cl.rscs[r];
    match rsc.next_role_reason.as_deref() {
        Some("target-role") | Some("orphan") => rsc.next_role,
        _ => None,
    }
}

fn check_recoverable(cl: &mut Cluster, r: RscId, node: NodeId, task: &str) {
    if task != "stop" {
        return;
    }
    if can_fence(cl, node) {
        return;
    }
    cl.rscs[r].managed = false;
    cl.rscs[r].block = true;
}

/// Whether `node` can be fenced now (Pacemaker's `pe_can_fence`): fencing enabled
/// with a device, and quorum (or no-quorum-policy=ignore, or the node is still in
/// our membership).
pub fn can_fence(cl: &Cluster, node: NodeId) -> bool {
    if !cl.opts.stonith_enabled || !cl.have_stonith_resource {
        return false;
    }
    cl.opts.have_quorum
        || cl.opts.no_quorum_policy == NoQuorumPolicy::Ignore
        || cl.nodes[node].online
}

/// Whether `op` is a failure of an operation configured with on-fail=block.
fn blocking_failure(cl: &Cluster, r: RscId, op: &OpRecord, target_rc: i32) -> bool {
    let name = strip_instance(&cl.rscs[r].id);
    cl.rscs[r].ops.iter().any(|o| {
        let blocks = o.on_fail == Some(halo_model::OnFail::Block)
            || o.attrs
                .get("on-fail")
                .is_some_and(|v| v.eq_ignore_ascii_case("block"));
        blocks
            && o.name.eq_ignore_ascii_case(&op.operation)
            && o.interval_ms == op.interval_ms
            && (op
                .id
                .eq_ignore_ascii_case(&format!("{name}_last_failure_0"))
                || (op
                    .id
                    .eq_ignore_ascii_case(&format!("{name}_{}_{}", o.name, o.interval_ms))
                    && op.rc != target_rc))
    })
}

/// Whether this operation's failure has expired and with it the whole fail count,
/// which is then cleared (Pacemaker's check_operation_expiry).
fn expired_failcount(cl: &Cluster, r: RscId, node: NodeId, op: &OpRecord) -> bool {
    let rsc = &cl.rscs[r];
    let Some(last_run) = op.last_rc_change else {
        return false;
    };
    rsc.failure_timeout > 0
        && cl.opts.now >= last_run + rsc.failure_timeout
        && failcount(cl, r, node, false).0 > 0
        && failcount(cl, r, node, true).0 == 0
}

fn check_expiry(cl: &Cluster, r: RscId, node: NodeId, op: &OpRecord) -> bool {
    let rsc = &cl.rscs[r];
    if rsc.failure_timeout <= 0 {
        return false;
    }
    let Some(last_run) = op.last_rc_change else {
        return false;
    };
    let now = cl.opts.now;
    let mut expired = now >= last_run + rsc.failure_timeout;
    if expired {
        let (all, _) = failcount(cl, r, node, false);
        let (unexpired, _) = failcount(cl, r, node, true);
        if all > 0 && unexpired != 0 {
            expired = false;
        }
    }
    if expired
        && op.interval_ms == 0
        && op.operation == "monitor"
        && matches!(op.rc, 0 | 7 | 8 | 190 | 191)
    {
        expired = false;
    }
    expired
}

#[allow(clippy::too_many_arguments)]
fn update_resource_state(
    cl: &mut Cluster,
    r: RscId,
    _node: NodeId,
    op: &OpRecord,
    task: &str,
    rc: i32,
    last_failure: Option<&OpRecord>,
    role: &mut PRole,
    on_fail: &mut FailResponse,
) {
    let mut clear = false;
    if rc == 5 || maskable_probe_failure(op) {
        *role = Some(Role::Stopped);
    } else if rc == 7 {
        clear = true;
    } else if task == "monitor" {
        if let Some(lf) = last_failure {
            if lf.operation == op.operation && lf.interval_ms == op.interval_ms {
                clear = true;
            }
        }
        if *role < Some(Role::Started) {
            set_active(cl, r, role);
        }
    } else if task == "start" {
        *role = Some(Role::Started);
        clear = true;
    } else if task == "stop" {
        *role = Some(Role::Stopped);
        clear = true;
    } else if task == "promote" {
        *role = Some(Role::Promoted);
        clear = true;
    } else if task == "demote" {
        if *on_fail == FailResponse::Demote {
            clear = true;
        }
        *role = Some(Role::Unpromoted);
    } else if task == "migrate_from" {
        *role = Some(Role::Started);
        clear = true;
    } else if task == "migrate_to" {
        // Live migration history is not modelled (tier 3); treat as still active here.
        if *role < Some(Role::Started) {
            set_active(cl, r, role);
        }
    } else if *role < Some(Role::Started) {
        set_active(cl, r, role);
    }
    if clear {
        match *on_fail {
            FailResponse::Stop
            | FailResponse::Fence
            | FailResponse::Migrate
            | FailResponse::Standby => {}
            _ => {
                *on_fail = FailResponse::Ignore;
                cl.rscs[r].next_role = next_role_reset(cl, r);
            }
        }
    }
}

#[allow(clippy::too_many_arguments)]
fn rsc_op_failure<'a>(
    cl: &mut Cluster,
    r: RscId,
    node: NodeId,
    op: &'a OpRecord,
    rc: i32,
    role: &mut PRole,
    on_fail: &mut FailResponse,
    last_failure: &mut Option<&'a OpRecord>,
) {
    *last_failure = Some(op);
    let task = op.operation.as_str();
    let action_on_fail = op_on_fail(cl, r, task, op.interval_ms);
    if worse(*on_fail, action_on_fail) {
        *on_fail = action_on_fail;
    }
    if task == "stop" {
        cl.add_location(r, Some(node), -INFINITY, "__stop_fail__");
    } else if task == "promote" {
        *role = Some(Role::Promoted);
    } else if task == "demote" {
        if action_on_fail == FailResponse::Block {
            *role = Some(Role::Promoted);
            cl.rscs[r].next_role = Some(Role::Stopped);
            cl.rscs[r].next_role_reason = Some("demote with on-fail=block".into());
        } else if rc == 7 {
            *role = Some(Role::Stopped);
        } else {
            *role = Some(Role::Unpromoted);
        }
    }
    if is_probe(op) && rc == 5 {
        *role = Some(Role::Stopped);
    } else if *role < Some(Role::Started) {
        set_active(cl, r, role);
    }
    let fail_role = if action_on_fail == FailResponse::Stop {
        Role::Stopped
    } else if task == "promote" {
        Role::Unpromoted
    } else {
        Role::Started
    };
    if fail_role != Role::Started {
        let cur = cl.rscs[r].next_role;
        if cur.is_none() || cur < Some(fail_role) {
            cl.rscs[r].next_role = Some(fail_role);
            cl.rscs[r].next_role_reason = Some("failure".into());
        }
    }
    if fail_role == Role::Stopped {
        let mut fail_rsc = r;
        if cl.rscs[r].parent.is_some() {
            let top = cl.top_parent(r);
            if cl.rscs[top].variant == Variant::Clone && !cl.rscs[top].unique {
                fail_rsc = top;
            }
        }
        cl.add_location(fail_rsc, None, -INFINITY, "on-fail=stop");
    }
}

fn process_rsc_state(cl: &mut Cluster, r: RscId, node: NodeId, role: PRole, on_fail: FailResponse) {
    if role.is_some() {
        // remember where it is known, up to the first unique ancestor
        let mut it = Some(r);
        while let Some(x) = it {
            if !cl.rscs[x].known_on.contains(&node) {
                cl.rscs[x].known_on.push(node);
            }
            if cl.rscs[x].unique {
                break;
            }
            it = cl.rscs[x].parent;
        }
    }
    let active = matches!(role, Some(r) if r > Role::Stopped);
    if active
        && !cl.nodes[node].online
        && !cl.nodes[node].maintenance
        && cl.rscs[r].managed
        && cl.opts.stonith_enabled
    {
        let reason = format!("{} is thought to be active there", cl.rscs[r].id);
        fence(&mut cl.nodes[node], &reason);
    }
    let mut on_fail = on_fail;
    if cl.nodes[node].unclean {
        on_fail = FailResponse::Ignore;
    }
    match on_fail {
        FailResponse::Ignore | FailResponse::Recover => {}
        FailResponse::Demote => cl.rscs[r].failed = true,
        FailResponse::Fence => {
            let reason = format!("{} failed there", cl.rscs[r].id);
            fence(&mut cl.nodes[node], &reason);
        }
        FailResponse::Standby => {
            cl.nodes[node].standby = true;
            cl.nodes[node].standby_onfail = true;
        }
        FailResponse::Block => {
            cl.rscs[r].managed = false;
            cl.rscs[r].block = true;
        }
        FailResponse::Migrate => {
            cl.add_location(r, Some(node), -INFINITY, "__action_migration_auto__");
        }
        FailResponse::Stop => {
            cl.rscs[r].next_role = Some(Role::Stopped);
            cl.rscs[r].next_role_reason = Some("on-fail=stop".into());
        }
    }
    if on_fail == FailResponse::Recover && active {
        cl.rscs[r].failed = true;
        cl.rscs[r].stop_needed = true;
    }
    if active {
        if let Some(ro) = role {
            if ro > cl.rscs[r].role {
                cl.rscs[r].role = ro;
            }
        }
        if !cl.rscs[r].running_on.contains(&node) {
            cl.rscs[r].running_on.push(node);
            // A resource on a node in maintenance is left alone; an unmanaged
            // resource pins whatever is colocated with it to where it runs.
            if cl.nodes[node].maintenance {
                cl.rscs[r].managed = false;
            }
            if !cl.rscs[r].managed {
                cl.add_location(r, Some(node), INFINITY, "not_managed_default");
            }
        }
        match on_fail {
            FailResponse::Ignore => {}
            FailResponse::Demote | FailResponse::Block => cl.rscs[r].failed = true,
            _ => {
                cl.rscs[r].failed = true;
                cl.rscs[r].stop_needed = true;
            }
        }
    } else {
        if role == Some(Role::Stopped) && cl.rscs[r].role < Role::Stopped {
            cl.rscs[r].role = Role::Stopped;
        }
        // Inactive here: forget a numbered history id, which would otherwise make
        // the instance look like an orphan.
        if cl.rscs[r]
            .clone_name
            .as_deref()
            .is_some_and(|n| n.contains(':'))
        {
            cl.rscs[r].clone_name = None;
        }
    }
}

/// Indexes of the last start and the last successful stop in a sorted history
/// (Pacemaker's `calculate_active_ops`); a monitor that found it running or a
/// promotion counts as a start when there is none.
pub(crate) fn active_ops(ops: &[&OpRecord]) -> (Option<usize>, Option<usize>) {
    let (mut start, mut stop) = (None, None);
    let (mut implied_monitor, mut implied_clone) = (None, None);
    for (i, op) in ops.iter().enumerate() {
        match op.operation.as_str() {
            "stop" if op.op_status == 0 => stop = Some(i),
            "start" | "migrate_from" => start = Some(i),
            "monitor" if implied_monitor <= stop && matches!(op.rc, 0 | 8) => {
                implied_monitor = Some(i)
            }
            "promote" | "demote" => implied_clone = Some(i),
            _ => {}
        }
    }
    (start.or(implied_clone).or(implied_monitor), stop)
}

/// Compare every active resource's history with its current definition
/// (Pacemaker's `pcmk__handle_rsc_config_changes` and the last-failure check):
/// changed parameters mean a restart or a reload, and clear the fail count.
pub fn config_changes(cl: &mut Cluster, status: &Status) {
    use crate::digest::{compare, Cmp};
    let histories = std::mem::take(&mut cl.histories);
    for h in &histories {
        let (r, node) = (h.rsc, h.node);
        if cl.rscs[r].orphan {
            continue;
        }
        let Some(raw) = h.raw(status) else { continue };
        // A failure recorded with other parameters no longer counts.
        for op in &raw.ops {
            if op.id.ends_with("_last_failure_0")
                && matches!(op.operation.as_str(), "start" | "monitor")
                && matches!(compare(cl, r, op), Cmp::All | Cmp::Restart)
            {
                cl.failcount_cleared.push((r, node));
                cl.clears.push((r, node));
            }
        }
        if !cl.rscs[r].running_on.contains(&node) || !cl.nodes[node].online {
            continue;
        }
        let ops = h.ops(status);
        let ops = ops.as_slice();
        let (start, stop) = active_ops(ops);
        if start < stop {
            continue;
        }
        let mut changed = false;
        for op in &ops[start.unwrap_or(0)..] {
            let task = op.operation.as_str();
            let considered = cl.nodes[node].maintenance || cl.nodes[node].available();
            if op.interval_ms > 0
                && (crate::actions::in_maintenance(cl, r) || cl.nodes[node].maintenance)
            {
                // Maintenance mode cancels recurring operations.
                if considered {
                    cl.cancels.push(HistoryOp {
                        rsc: r,
                        node,
                        interval_ms: op.interval_ms,
                    });
                }
                continue;
            }
            if op.interval_ms == 0
                && !matches!(task, "monitor" | "start" | "promote" | "migrate_from")
            {
                continue;
            }
            if op.interval_ms > 0
                && !cl.rscs[r]
                    .ops
                    .iter()
                    .any(|o| o.name == task && o.interval_ms == op.interval_ms && o.enabled)
            {
                // An orphaned recurring operation is cancelled.
                if considered && cl.opts.stop_orphan_actions {
                    cl.cancels.push(HistoryOp {
                        rsc: r,
                        node,
                        interval_ms: op.interval_ms,
                    });
                }
                changed = true;
                continue;
            }
            let forced = op.op_digest.is_some()
                && cl
                    .expired_monitors
                    .iter()
                    .any(|(er, en, id)| *er == r && *en == node && *id == op.id);
            let cmp = if forced {
                Cmp::Restart
            } else {
                compare(cl, r, op)
            };
            let recurring = || HistoryOp {
                rsc: r,
                node,
                interval_ms: op.interval_ms,
            };
            match cmp {
                Cmp::Match => {}
                Cmp::Restart => {
                    changed = true;
                    if op.interval_ms == 0 {
                        cl.rscs[r].definition_restart = true;
                    } else {
                        // The recurring operation must run again.
                        cl.forced_monitors.push(recurring());
                    }
                }
                Cmp::All | Cmp::Unknown => {
                    changed = true;
                    if op.interval_ms > 0 {
                        cl.reschedules.push(recurring());
                    } else if op.op_restart_digest.is_some() {
                        if cl.rscs[r].managed && !cl.rscs[r].failed {
                            cl.rscs[r].reload = true;
                            cl.reloads.push((r, node));
                        }
                    } else {
                        cl.rscs[r].definition_restart = true;
                    }
                }
            }
        }
        if changed && failcount(cl, r, node, true).0 != 0 {
            cl.failcount_cleared.push((r, node));
            cl.clears.push((r, node));
        }
    }
    cl.histories = histories;
}
