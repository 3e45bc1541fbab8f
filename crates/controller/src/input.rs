//! The scheduler's input, built from the replicated state alone (and who is reachable),
//! so that any node can take over as DC. No I/O.
//!
//! The operation history is read back in Pacemaker's layout: per resource and node the
//! last one-shot operation (`RSC_last_0`), the last result of every recurring operation
//! still active (`RSC_monitor_10000`; a stop or a cancellation ends it), and the last
//! failure while its fail count stands (`RSC_last_failure_0`).

use std::collections::{BTreeMap, BTreeSet};

use halo_consensus::state::StoredOp;
use halo_consensus::ClusterState;
use halo_model::{AgentRef, Config, NodeState, OpRecord, Resource, ResourceHistory, Status};

/// Pacemaker's execution status of a cancelled operation (`PCMK_EXEC_CANCELLED`).
pub const EXEC_CANCELLED: i32 = 1;

/// Who is reachable, from the DC's point of view.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Liveness {
    pub quorate: bool,
    pub dc: Option<String>,
    /// Nodes in contact with the DC.
    pub online: BTreeSet<String>,
}

impl Liveness {
    /// As a node's status report tells it (quorum, DC, the members it sees online).
    pub fn of(status: &halo_consensus::node::StatusReport) -> Liveness {
        Liveness {
            quorate: status.quorate,
            dc: status.dc.clone(),
            online: status
                .nodes
                .iter()
                .filter(|n| n.online)
                .map(|n| n.name.clone())
                .collect(),
        }
    }
}

/// Why the scheduler's input could not be built.
#[derive(Debug, thiserror::Error)]
pub enum InputError {
    #[error("{0}")]
    Config(#[from] halo_consensus::state::ConfigConvertError),
}

/// Every primitive's agent by id (group members and clone children included).
pub fn agents(cfg: &Config) -> BTreeMap<String, AgentRef> {
    fn walk(r: &Resource, out: &mut BTreeMap<String, AgentRef>) {
        match r {
            Resource::Primitive(p) => {
                out.insert(p.id.clone(), p.agent.clone());
            }
            Resource::Group(g) => {
                for m in &g.members {
                    out.insert(m.id.clone(), m.agent.clone());
                }
            }
            Resource::Clone(c) => walk(&c.child, out),
        }
    }
    let mut out = BTreeMap::new();
    for r in &cfg.resources {
        walk(r, &mut out);
    }
    out
}

/// Every primitive's `failure-timeout` in milliseconds, as its own meta attributes,
/// then its group's or clone's, then the resource defaults set it.
pub fn failure_timeouts(cfg: &Config) -> BTreeMap<String, u64> {
    fn walk(
        r: &Resource,
        parents: &mut Vec<halo_model::Attrs>,
        cfg: &Config,
        out: &mut BTreeMap<String, u64>,
    ) {
        let pick = |own: &halo_model::Attrs, parents: &[halo_model::Attrs]| {
            std::iter::once(own)
                .chain(parents.iter().rev())
                .chain(std::iter::once(&cfg.rsc_defaults))
                .find_map(|m| m.get("failure-timeout"))
                .and_then(|v| halo_model::duration::parse_duration_ms(v).ok())
                .filter(|ms| *ms > 0)
        };
        match r {
            Resource::Primitive(p) => {
                if let Some(ms) = pick(&p.meta, parents) {
                    out.insert(p.id.clone(), ms);
                }
            }
            Resource::Group(g) => {
                parents.push(g.meta.clone());
                for m in &g.members {
                    if let Some(ms) = pick(&m.meta, parents) {
                        out.insert(m.id.clone(), ms);
                    }
                }
                parents.pop();
            }
            Resource::Clone(c) => {
                parents.push(c.meta.clone());
                walk(&c.child, parents, cfg, out);
                parents.pop();
            }
        }
    }
    let mut out = BTreeMap::new();
    for r in &cfg.resources {
        walk(r, &mut Vec::new(), cfg, &mut out);
    }
    out
}

/// When the earliest recorded failure that a `failure-timeout` will forget expires
/// (milliseconds since the epoch): the DC plans again then.
pub fn next_failure_expiry(cfg: &Config, state: &ClusterState) -> Option<u64> {
    let timeouts = failure_timeouts(cfg);
    state
        .failures
        .values()
        .flatten()
        .filter_map(|(key, f)| {
            let rsc = strip_instance(key.split('#').next().unwrap_or(key));
            timeouts.get(rsc).map(|t| f.last_ms + t)
        })
        .min()
}

/// Parse `class:provider:type` or `class:type`.
pub fn parse_agent(s: &str) -> Option<AgentRef> {
    let parts: Vec<&str> = s.split(':').collect();
    match parts.as_slice() {
        [class, provider, kind] => Some(AgentRef {
            class: class.to_string(),
            provider: Some(provider.to_string()),
            kind: kind.to_string(),
        }),
        [class, kind] => Some(AgentRef {
            class: class.to_string(),
            provider: None,
            kind: kind.to_string(),
        }),
        _ => None,
    }
}

/// A node's transient attributes as Pacemaker's status section has them: the set
/// attributes plus `fail-count-RSC#OP_INTERVAL` and `last-failure-RSC#OP_INTERVAL`.
pub fn transient_attrs(state: &ClusterState, node: &str) -> BTreeMap<String, String> {
    let mut attrs = state.node_attrs.get(node).cloned().unwrap_or_default();
    for (key, f) in state.failures.get(node).into_iter().flatten() {
        let count = if f.count >= halo_consensus::state::FAIL_INFINITY {
            "INFINITY".to_string()
        } else {
            f.count.to_string()
        };
        attrs.insert(format!("fail-count-{key}"), count);
        attrs.insert(
            format!("last-failure-{key}"),
            (f.last_ms / 1000).to_string(),
        );
    }
    attrs
}

/// The members in standby (by their permanent or transient `standby` attribute).
pub fn standby_members(cfg: &Config, state: &ClusterState) -> BTreeSet<String> {
    cfg.nodes
        .iter()
        .filter(|n| {
            let transient = state.node_attrs.get(&n.name).and_then(|a| a.get("standby"));
            transient
                .or_else(|| n.attrs.get("standby"))
                .is_some_and(|v| halo_sched::cluster::is_true(v))
        })
        .map(|n| n.name.clone())
        .collect()
}

/// The configuration and status the scheduler plans from.
pub fn scheduler_input(
    state: &ClusterState,
    live: &Liveness,
) -> Result<(Config, Status), InputError> {
    let cfg = state.config.to_model()?;
    let agents = agents(&cfg);
    let mut status = Status {
        have_quorum: live.quorate,
        dc: live.dc.clone(),
        self_fencing: true,
        ..Default::default()
    };
    for node in &cfg.nodes {
        let name = &node.name;
        let online = live.online.contains(name);
        let attrs = transient_attrs(state, name);
        let failures = state.failures.get(name);
        let history = state.op_history.get(name);
        let resources = history
            .into_iter()
            .flatten()
            .filter_map(|(rsc, ops)| {
                let failed = failures
                    .is_some_and(|f| f.keys().any(|k| k.split('#').next() == Some(rsc.as_str())));
                resource_history(rsc, ops, &agents, name, failed)
            })
            .collect();
        status.nodes.push(NodeState {
            id: name.clone(),
            name: name.clone(),
            in_ccm: Some(online.to_string()),
            crmd: Some(if online { "online" } else { "offline" }.to_string()),
            join: Some(if online { "member" } else { "down" }.to_string()),
            // The DC hands the scheduler an unreachable node only once it is known to
            // run nothing (fenced, or silent past its lease: its status is forgotten),
            // so an unreachable node is cleanly down, never unclean.
            expected: Some(if online { "member" } else { "down" }.to_string()),
            attrs,
            resources,
        });
    }
    Ok((cfg, status))
}

/// Whether a node's recorded history says it may still run something: some resource's
/// last one-shot operation is neither a successful stop nor a probe that found it
/// stopped (a failed stop counts as running).
pub fn may_run_something(history: &BTreeMap<String, Vec<StoredOp>>) -> bool {
    history.values().any(|ops| may_run(ops))
}

/// Whether one resource's recorded operations on a node say it may still run there.
pub fn may_run(ops: &[StoredOp]) -> bool {
    let last = ops
        .iter()
        .filter(|o| o.interval_ms == 0 && o.op_status != EXEC_CANCELLED)
        .max_by_key(|o| o.call_id);
    match last {
        None => ops
            .iter()
            .any(|o| o.op_status == 0 && matches!(o.rc, 0 | 8)),
        Some(o) => {
            let stopped = o.op_status == 0
                && ((o.operation == "stop" && o.rc == 0)
                    || (o.operation == "monitor" && o.rc == 7)
                    || (o.operation == "migrate_to" && o.rc == 0));
            !stopped
        }
    }
}

/// Milliseconds since the Unix epoch, on the wall clock (recorded times).
pub fn unix_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

fn strip_instance(rsc: &str) -> &str {
    rsc.split(':').next().unwrap_or(rsc)
}

fn resource_history(
    rsc: &str,
    ops: &[StoredOp],
    agents: &BTreeMap<String, AgentRef>,
    node: &str,
    failed: bool,
) -> Option<ResourceHistory> {
    let agent = agents.get(strip_instance(rsc)).cloned().or_else(|| {
        ops.iter()
            .rev()
            .find_map(|o| o.agent.as_deref().and_then(parse_agent))
    })?;
    let mut sorted: Vec<&StoredOp> = ops.iter().collect();
    sorted.sort_by_key(|o| o.call_id);
    let last = sorted.iter().rev().find(|o| o.interval_ms == 0).copied();
    let last_stop = sorted
        .iter()
        .rev()
        .find(|o| o.interval_ms == 0 && o.operation == "stop")
        .map(|o| o.call_id)
        .unwrap_or(i64::MIN);
    let mut out = Vec::new();
    if let Some(op) = last {
        out.push(record(op, format!("{rsc}_last_0"), node));
    }
    let mut recurring: BTreeMap<(&str, u64), &StoredOp> = BTreeMap::new();
    for op in sorted.iter().filter(|o| o.interval_ms > 0) {
        recurring.insert((op.operation.as_str(), op.interval_ms), op);
    }
    for ((task, interval), op) in recurring {
        // Cancelled or ended by a later stop: no longer active.
        if op.op_status == EXEC_CANCELLED || op.call_id < last_stop {
            continue;
        }
        out.push(record(op, format!("{rsc}_{task}_{interval}"), node));
    }
    if failed {
        if let Some(op) = sorted.iter().rev().find(|o| o.fail.is_some()) {
            out.push(record(op, format!("{rsc}_last_failure_0"), node));
        }
    }
    Some(ResourceHistory {
        id: rsc.to_string(),
        class: agent.class,
        provider: agent.provider,
        kind: agent.kind,
        ops: out,
    })
}

fn record(op: &StoredOp, id: String, node: &str) -> OpRecord {
    OpRecord {
        id,
        operation: op.operation.clone(),
        call_id: op.call_id,
        rc: op.rc,
        op_status: op.op_status,
        interval_ms: op.interval_ms,
        target_rc: op.target_rc,
        last_rc_change: Some(
            (if op.last_rc_change_ms > 0 {
                op.last_rc_change_ms
            } else {
                op.time_ms
            } / 1000) as i64,
        ),
        last_run: Some((op.time_ms / 1000) as i64),
        exec_time_ms: Some(op.exec_ms),
        exit_reason: op.exit_reason.clone(),
        on_node: Some(node.to_string()),
        op_digest: op.op_digest.clone(),
        op_restart_digest: op.op_restart_digest.clone(),
        transition_key: op.transition_key.clone(),
        ..Default::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use halo_consensus::state::{FailBump, FailRecord, StoredConfig};

    fn op(operation: &str, interval_ms: u64, call_id: i64, rc: i32) -> StoredOp {
        StoredOp {
            resource: "web".into(),
            agent: Some("ocf:heartbeat:Dummy".into()),
            operation: operation.into(),
            interval_ms,
            rc,
            call_id,
            time_ms: 1_000_000,
            target_rc: Some(0),
            ..Default::default()
        }
    }

    fn state(ops: Vec<StoredOp>, failed: bool) -> ClusterState {
        let mut st = ClusterState::default();
        let cfg = halo_model::parse_native(
            "version = 1\n[[node]]\nname = \"n1\"\n[[node]]\nname = \"n2\"\n[[resource]]\nid = \"web\"\nagent = \"ocf:heartbeat:Dummy\"\n",
            "test",
        )
        .unwrap_or_else(|e| panic!("{e}"))
        .config;
        st.config = StoredConfig::from_model(&cfg).unwrap_or_default();
        st.op_history
            .entry("n1".into())
            .or_default()
            .insert("web".into(), ops);
        if failed {
            st.failures.entry("n1".into()).or_default().insert(
                "web#monitor_10000".into(),
                FailRecord {
                    count: 1,
                    last_ms: 1_000_000,
                },
            );
        }
        st
    }

    fn ids(st: &ClusterState) -> Vec<String> {
        let live = Liveness {
            quorate: true,
            dc: Some("n1".into()),
            online: ["n1".to_string()].into_iter().collect(),
        };
        let (_, status) = scheduler_input(st, &live).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(status.nodes.len(), 2);
        assert_eq!(status.nodes[1].expected.as_deref(), Some("down"));
        status.nodes[0]
            .resources
            .iter()
            .flat_map(|r| r.ops.iter().map(|o| format!("{}:{}", o.id, o.call_id)))
            .collect()
    }

    /// The history reads back in Pacemaker's layout: the last one-shot operation, the
    /// recurring ones still active, the last failure while its fail count stands.
    #[test]
    fn history_in_pacemakers_layout() {
        let mut failed = op("monitor", 10_000, 4, 7);
        failed.fail = Some(FailBump::Increment);
        let ops = vec![
            op("monitor", 0, 1, 7),
            op("start", 0, 2, 0),
            op("monitor", 10_000, 3, 0),
            failed,
        ];
        assert_eq!(
            ids(&state(ops.clone(), true)),
            [
                "web_last_0:2",
                "web_monitor_10000:4",
                "web_last_failure_0:4"
            ]
        );
        // Cleaned up: the failure is no longer shown.
        assert_eq!(
            ids(&state(ops.clone(), false)),
            ["web_last_0:2", "web_monitor_10000:4"]
        );
        // A stop ends the recurring monitor; a cancellation too.
        let mut stopped = ops.clone();
        stopped.push(op("stop", 0, 5, 0));
        assert_eq!(ids(&state(stopped, false)), ["web_last_0:5"]);
        let mut cancelled = ops;
        let mut c = op("monitor", 10_000, 5, 0);
        c.op_status = EXEC_CANCELLED;
        cancelled.push(c);
        assert_eq!(ids(&state(cancelled, false)), ["web_last_0:2"]);
    }
}
