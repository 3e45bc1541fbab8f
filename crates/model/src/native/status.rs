//! The `[status]` part of a native file → the model's recorded [`Status`].
//!
//! The native status says what is true now in a person's terms (which nodes are up,
//! what runs where, what failed); the model's status is what Pacemaker would have
//! recorded to reach that state. The mapping, per configured node:
//!
//! * **No `[[status.node]]` entry**: the node is online and nothing is known about
//!   its resources (no history: the scheduler probes them first). A file without any
//!   status is thus a fresh cluster with every node up and everything stopped.
//! * **Online** (`online = true`, the default): `node_state` with `in_ccm="true"
//!   crmd="online" join="member" expected="member"`.
//! * **Offline** (`online = false`): `in_ccm="false" crmd="offline" join="down"
//!   expected="down"`, a clean shutdown. With `unclean = true`: `expected="member"`, a
//!   node that left without shutting down (the scheduler fences it when fencing is
//!   enabled, and recovers its resources).
//! * **`running = [...]`** (each a primitive, group or clone id, or `primitive:N` for
//!   one instance of a unique clone; a group or clone stands for all its primitives):
//!   per primitive, an `ID_last_0` record of a successful `start` (rc 0), and for every
//!   enabled recurring `monitor` of the matching role an `ID_monitor_MS` record with
//!   rc 0. Inside a promotable clone, a running instance is Unpromoted.
//! * **`promoted = [...]`** (resources in promotable clones): `ID_last_0` is a
//!   successful `promote` (rc 0) and the Promoted-role monitors record rc 8
//!   (`OCF_RUNNING_PROMOTED`, also their expected rc). The node gets the promotion
//!   score `master-ID = 1` (as the agent would have set it) unless `attributes` gives
//!   one, so that a promoted instance stays promoted.
//! * **`[[status.node.failure]]`** `{ resource, op, interval?, rc?, count?, reason?,
//!   at? }`: an `ID_last_failure_0` record of `op` with `rc` (default 7 "not running"
//!   for monitors, 1 "generic error" otherwise) made after every record above; a
//!   failed recurring monitor also updates its `ID_monitor_MS` record. `interval`
//!   defaults, for monitors, to the resource's recurring monitor for its current role.
//!   Transient attributes `fail-count-ID#OP_MS = count` (default 1) and, when a time
//!   is known (`at`, else `[status] now`), `last-failure-ID#OP_MS`.
//! * Every other configured primitive on an online node with an entry: an `ID_last_0`
//!   probe (`monitor`, interval 0) that found it not running (rc 7, expected 7): the
//!   entry is the whole truth about that node.
//! * `attributes = {...}`: transient node attributes (e.g. promotion scores
//!   `master-galera = 100`).
//!
//! Call ids count up per node in the order above; `last-run`/`last-rc-change` are
//! `[status] now` when given. No operation digests are recorded, so nothing counts as
//! "parameters changed". `[status] quorum` (default true) is `have_quorum`, `dc` the
//! Designated Controller (default none), `now` the scheduler's time (`execution-date`).

use std::collections::{BTreeMap, HashMap};

use super::read::Reader;
use super::wire::*;
use crate::codes;
use crate::config::*;
use crate::score::Score;
use crate::status::*;
use crate::validate::{flatten, Flat, Item};

struct Instance {
    hid: String,
    prim: usize,
    role: Role,
}

pub(crate) fn status(r: &mut Reader<'_>, config: &Config, wire: Option<&WireStatus>) -> Status {
    let flat = flatten(config);
    let mut st = Status {
        have_quorum: wire.and_then(|w| w.quorum).unwrap_or(true),
        dc: None,
        now: wire.and_then(|w| w.now),
        quorum_panic: false,
        legacy_failcounts: false,
        self_fencing: false,
        nodes: Vec::new(),
    };
    let empty = Vec::new();
    let entries = wire.map(|w| &w.node).unwrap_or(&empty);

    if let Some(dc) = wire.and_then(|w| w.dc.as_ref()) {
        if config.nodes.iter().any(|n| &n.name == dc.get_ref()) {
            st.dc = Some(dc.get_ref().clone());
        } else {
            r.problem(
                codes::STATUS_REF,
                &dc.span(),
                "[status] dc",
                format!("node \"{}\" is not configured", dc.get_ref()),
            );
        }
    }

    let mut by_name: HashMap<&str, &WireNodeStatus> = HashMap::new();
    for e in entries {
        let name = e.name.get_ref().as_str();
        let what = format!("[[status.node]] \"{name}\"");
        if !config.nodes.iter().any(|n| n.name == name) {
            r.problem(
                codes::STATUS_REF,
                &e.name.span(),
                &what,
                format!("node \"{name}\" is not configured: add a [[node]] or fix the name"),
            );
        } else if by_name.insert(name, e).is_some() {
            r.problem(
                codes::STATUS_REF,
                &e.name.span(),
                &what,
                "the node's status is given twice: merge the entries",
            );
        }
    }

    for node in &config.nodes {
        let mut ns = NodeState {
            id: node.id.clone(),
            name: node.name.clone(),
            in_ccm: Some("true".into()),
            crmd: Some("online".into()),
            join: Some("member".into()),
            expected: Some("member".into()),
            ..Default::default()
        };
        if let Some(e) = by_name.get(node.name.as_str()) {
            node_entry(r, &flat, st.now, e, &mut ns);
        }
        st.nodes.push(ns);
    }
    st
}

fn set(v: &str) -> Option<String> {
    Some(v.to_string())
}

fn node_entry(
    r: &mut Reader<'_>,
    flat: &[Flat<'_>],
    now: Option<i64>,
    e: &WireNodeStatus,
    ns: &mut NodeState,
) {
    let what = format!("[[status.node]] \"{}\"", ns.name);
    let online = e.online.unwrap_or(true);
    let unclean = e.unclean.unwrap_or(false);
    if online && unclean {
        r.problem(
            codes::CONFLICT,
            &e.name.span(),
            &what,
            "unclean = true describes a node that left without shutting down: set online = false too",
        );
    }
    if !online {
        ns.in_ccm = set("false");
        ns.crmd = set("offline");
        ns.join = set("down");
        ns.expected = set(if unclean { "member" } else { "down" });
    }
    for (k, v) in &e.attributes {
        ns.attrs.insert(k.clone(), v.get_ref().to_string());
    }

    // What runs here, in which role.
    let mut instances: Vec<Instance> = Vec::new();
    let lists = [(&e.running, false), (&e.promoted, true)];
    for (list, promoted) in lists {
        for name in list {
            match resolve(flat, name.get_ref()) {
                Ok(found) => {
                    for (hid, prim) in found {
                        let promotable = in_promotable(flat, prim);
                        if promoted && !promotable {
                            r.problem(
                                codes::STATUS_REF,
                                &name.span(),
                                &what,
                                format!(
                                    "\"{}\" cannot be promoted: it is not in a promotable clone",
                                    name.get_ref()
                                ),
                            );
                            continue;
                        }
                        let role = match (promoted, promotable) {
                            (true, _) => Role::Promoted,
                            (false, true) => Role::Unpromoted,
                            (false, false) => Role::Started,
                        };
                        match instances.iter_mut().find(|i| i.hid == hid) {
                            Some(i) => i.role = i.role.max(role),
                            None => instances.push(Instance { hid, prim, role }),
                        }
                    }
                }
                Err(why) => r.problem(codes::STATUS_REF, &name.span(), &what, why),
            }
        }
    }

    // A promoted instance keeps its promotion score, as its agent would have set it.
    for i in &instances {
        if i.role == Role::Promoted {
            if let Item::Primitive(p) = flat[i.prim].item {
                ns.attrs
                    .entry(format!("master-{}", p.id))
                    .or_insert_with(|| "1".to_string());
            }
        }
    }

    // Failures, resolved to one instance each.
    let mut failures: Vec<(String, usize, &WireFailure)> = Vec::new();
    for f in &e.failure {
        match resolve(flat, f.resource.get_ref()) {
            Ok(found) if found.len() == 1 => {
                let (hid, prim) = found.into_iter().next().unwrap_or_default();
                failures.push((hid, prim, f));
            }
            Ok(_) => r.problem(
                codes::STATUS_REF,
                &f.resource.span(),
                &what,
                format!(
                    "\"{}\" stands for several primitives: a failure names one (a group member or the clone's primitive)",
                    f.resource.get_ref()
                ),
            ),
            Err(why) => r.problem(codes::STATUS_REF, &f.resource.span(), &what, why),
        }
    }

    let mut call: i64 = 0;
    let mut next_call = || {
        call += 1;
        call
    };
    let record =
        |id: String, operation: &str, call_id: i64, rc: i32, interval_ms: u64, target: i32| {
            OpRecord {
                id,
                operation: operation.to_string(),
                call_id,
                rc,
                op_status: 0,
                interval_ms,
                target_rc: Some(target),
                last_rc_change: now,
                last_run: now,
                on_node: Some(ns.name.clone()),
                ..Default::default()
            }
        };

    let mut histories: Vec<ResourceHistory> = Vec::new();
    let mut transient: BTreeMap<String, String> = BTreeMap::new();
    for (pi, f) in flat.iter().enumerate() {
        let Item::Primitive(p) = f.item else { continue };
        let mine: Vec<&Instance> = instances.iter().filter(|i| i.prim == pi).collect();
        let my_failures: Vec<&(String, usize, &WireFailure)> =
            failures.iter().filter(|x| x.1 == pi).collect();
        let mut hids: Vec<String> = mine.iter().map(|i| i.hid.clone()).collect();
        for (hid, _, _) in &my_failures {
            if !hids.contains(hid) {
                hids.push(hid.clone());
            }
        }
        if hids.is_empty() {
            if online {
                let mut h = history(&p.id, p);
                h.ops.push(record(
                    format!("{}_last_0", p.id),
                    "monitor",
                    next_call(),
                    7,
                    0,
                    7,
                ));
                histories.push(h);
            }
            continue;
        }
        for hid in hids {
            let mut h = history(&hid, p);
            let role = mine.iter().find(|i| i.hid == hid).map(|i| i.role);
            if let Some(role) = role {
                let last = if role == Role::Promoted {
                    "promote"
                } else {
                    "start"
                };
                h.ops
                    .push(record(format!("{hid}_last_0"), last, next_call(), 0, 0, 0));
                for op in monitors_for(p, role) {
                    let rc = if op.role == Some(Role::Promoted) {
                        8
                    } else {
                        0
                    };
                    h.ops.push(record(
                        format!("{hid}_monitor_{}", op.interval_ms),
                        "monitor",
                        next_call(),
                        rc,
                        op.interval_ms,
                        rc,
                    ));
                }
            }
            for (_, _, fl) in my_failures.iter().filter(|x| x.0 == hid) {
                let what_f = format!("{what} failure of \"{}\"", fl.resource.get_ref());
                let op = fl.op.get_ref().clone();
                if op.is_empty() {
                    r.problem(codes::BAD_VALUE, &fl.op.span(), &what_f, "op is empty");
                }
                let interval_ms = match &fl.interval {
                    Some(v) => r.duration(v, &what_f, "interval"),
                    None if op == "monitor" => monitors_for(p, role.unwrap_or(Role::Started))
                        .first()
                        .map(|o| o.interval_ms)
                        .or_else(|| {
                            p.ops
                                .iter()
                                .find(|o| o.name == "monitor" && o.interval_ms > 0)
                                .map(|o| o.interval_ms)
                        })
                        .unwrap_or(0),
                    None => 0,
                };
                let promoted_here = role == Some(Role::Promoted);
                let target = match (op.as_str(), interval_ms, promoted_here) {
                    ("monitor", 0, _) => 7,
                    ("monitor", _, true) => 8,
                    _ => 0,
                };
                let rc = fl.rc.unwrap_or(if op == "monitor" { 7 } else { 1 });
                let count = match &fl.count {
                    Some(v) => {
                        let s = r.score(v, &what_f, "count");
                        if s.value() <= 0 {
                            r.problem(
                                codes::BAD_VALUE,
                                &v.span(),
                                &what_f,
                                "count must be at least 1 (or INFINITY)",
                            );
                        }
                        s
                    }
                    None => Score::new(1),
                };
                let c = next_call();
                // A failed recurring monitor is also its own record's latest result.
                if interval_ms > 0 {
                    let rid = format!("{hid}_{op}_{interval_ms}");
                    if let Some(rec) = h.ops.iter_mut().find(|o| o.id == rid) {
                        rec.rc = rc;
                        rec.call_id = c;
                        rec.exit_reason = fl.reason.clone();
                    }
                }
                let fid = format!("{hid}_last_failure_0");
                h.ops.retain(|o| o.id != fid);
                let mut rec = record(fid, &op, c, rc, interval_ms, target);
                rec.exit_reason = fl.reason.clone();
                if let Some(at) = fl.at {
                    rec.last_rc_change = Some(at);
                    rec.last_run = Some(at);
                }
                h.ops.push(rec);
                let key = format!("{hid}#{op}_{interval_ms}");
                let fc = format!("fail-count-{key}");
                let total = transient
                    .get(&fc)
                    .and_then(|v| Score::parse(v).ok())
                    .map(|prev| prev + count)
                    .unwrap_or(count);
                transient.insert(fc, total.to_string());
                if let Some(at) = fl.at.or(now) {
                    transient.insert(format!("last-failure-{key}"), at.to_string());
                }
            }
            histories.push(h);
        }
    }
    for (k, v) in transient {
        ns.attrs.insert(k, v);
    }
    ns.resources = histories;
}

fn history(hid: &str, p: &Primitive) -> ResourceHistory {
    ResourceHistory {
        id: hid.to_string(),
        class: p.agent.class.clone(),
        provider: p.agent.provider.clone(),
        kind: p.agent.kind.clone(),
        ops: Vec::new(),
    }
}

/// Enabled recurring monitors that run on an instance in `role`.
fn monitors_for(p: &Primitive, role: Role) -> Vec<&OpDef> {
    p.ops
        .iter()
        .filter(|o| o.name == "monitor" && o.interval_ms > 0 && o.enabled)
        .filter(|o| match (o.role, role) {
            (None, Role::Promoted) => false,
            (None, _) => true,
            (Some(Role::Started), Role::Started | Role::Unpromoted) => true,
            (Some(want), have) => want == have,
        })
        .collect()
}

fn in_promotable(flat: &[Flat<'_>], i: usize) -> bool {
    let mut p = flat[i].parent;
    while let Some(j) = p {
        if let Item::Clone(c) = flat[j].item {
            return c.promotable;
        }
        p = flat[j].parent;
    }
    false
}

fn in_clone(flat: &[Flat<'_>], i: usize) -> bool {
    let mut p = flat[i].parent;
    while let Some(j) = p {
        if let Item::Clone(_) = flat[j].item {
            return true;
        }
        p = flat[j].parent;
    }
    false
}

/// The primitive instances a status name stands for: (history id, primitive index).
fn resolve(flat: &[Flat<'_>], name: &str) -> Result<Vec<(String, usize)>, String> {
    let find = |id: &str| flat.iter().position(|f| f.item.id() == id);
    if let Some((base, n)) = name.split_once(':') {
        let Some(i) = find(base) else {
            return Err(format!("no resource \"{base}\" is configured"));
        };
        if n.parse::<u32>().is_err() {
            return Err(format!(
                "\"{name}\": after ':' comes an instance number, e.g. {base}:0"
            ));
        }
        if !matches!(flat[i].item, Item::Primitive(_)) || !in_clone(flat, i) {
            return Err(format!(
                "\"{name}\": only a primitive inside a clone has numbered instances"
            ));
        }
        return Ok(vec![(name.to_string(), i)]);
    }
    let Some(i) = find(name) else {
        return Err(format!("no resource \"{name}\" is configured"));
    };
    let mut out = Vec::new();
    let mut stack = vec![i];
    while let Some(j) = stack.pop() {
        match flat[j].item {
            Item::Primitive(p) => out.push((p.id.clone(), j)),
            Item::Group(g) => {
                for k in (0..g.members.len()).rev() {
                    stack.push(j + 1 + k);
                }
            }
            Item::Clone(_) => stack.push(j + 1),
        }
    }
    Ok(out)
}
