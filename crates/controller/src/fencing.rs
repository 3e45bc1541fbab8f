//! Fencing a node. With fence devices (`stonith:` resources), the DC has a node other
//! than the target run them, one after the other in configuration order, until one
//! succeeds; the node that runs a device checks first that the device can fence the
//! target (`pcmk_host_list`, `pcmk_host_map`, `pcmk_host_check`). Without a device
//! that succeeds, a reachable target is told to stop everything itself (`SelfFence`),
//! and a lost one is waited out past its lease (see `dc.rs`). Every attempt is
//! recorded in the replicated fencing history; a success also forgets the target's
//! status, so the scheduler sees it cleanly down.

use std::collections::BTreeSet;
use std::time::Duration;

use halo_consensus::state::FenceRecord;
use halo_consensus::{Change, ClusterNode, ClusterState};
use halo_model::{Config, FencingTarget, Resource};

use crate::input::{may_run, unix_ms as now_ms};
use crate::wire::{Ack, Message};

/// A fence device as configured.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Device {
    pub id: String,
    /// `fence_NAME`.
    pub agent_type: String,
    pub params: std::collections::BTreeMap<String, String>,
}

/// The configured fence devices, in configuration order.
pub fn devices(cfg: &Config) -> Vec<Device> {
    cfg.resources
        .iter()
        .filter_map(|r| match r {
            Resource::Primitive(p) if p.agent.class == "stonith" => Some(Device {
                id: p.id.clone(),
                agent_type: p.agent.kind.clone(),
                params: p.params.clone(),
            }),
            _ => None,
        })
        .collect()
}

/// What to try, in order, to fence `target`: the levels of the fencing topology that
/// apply to it (by index; a level succeeds when all its devices do), or without such
/// levels every device on its own, in configuration order.
pub fn levels_for(cfg: &Config, state: &ClusterState, target: &str) -> Vec<Vec<Device>> {
    let all = devices(cfg);
    let attrs = |name: &str| -> Option<String> {
        state
            .node_attrs
            .get(target)
            .and_then(|a| a.get(name).cloned())
            .or_else(|| {
                cfg.nodes
                    .iter()
                    .find(|n| n.name == target)
                    .and_then(|n| n.attrs.get(name).cloned())
            })
    };
    let applies = |t: &FencingTarget| match t {
        FencingTarget::Node(n) => n == target,
        FencingTarget::Pattern(p) => regex::Regex::new(p).is_ok_and(|r| r.is_match(target)),
        FencingTarget::Attribute { name, value } => attrs(name).as_deref() == Some(value),
    };
    let mut levels: Vec<&halo_model::FencingLevel> = cfg
        .fencing_levels
        .iter()
        .filter(|l| applies(&l.target))
        .collect();
    levels.sort_by_key(|l| l.index);
    if levels.is_empty() {
        return all.into_iter().map(|d| vec![d]).collect();
    }
    levels
        .into_iter()
        .filter_map(|l| {
            let found: Vec<Device> = l
                .devices
                .iter()
                .filter_map(|id| all.iter().find(|d| &d.id == id).cloned())
                .collect();
            (found.len() == l.devices.len()).then_some(found)
        })
        .collect()
}

/// The nodes that may run `device` against `target`, best first: where the device
/// resource is active, then every other online node but the target.
pub fn runners(
    state: &ClusterState,
    device: &str,
    target: &str,
    online: &BTreeSet<String>,
) -> Vec<String> {
    let mut active: Vec<String> = state
        .op_history
        .iter()
        .filter(|(n, rscs)| online.contains(*n) && rscs.get(device).is_some_and(|ops| may_run(ops)))
        .map(|(n, _)| n.clone())
        .collect();
    for n in online {
        if !active.contains(n) {
            active.push(n.clone());
        }
    }
    active.retain(|n| n != target);
    active
}

/// Try the levels in order until one fences `target`: a level succeeds when each of
/// its devices succeeded on one of its runners. Records each attempt in the fencing
/// history (a success also forgets the target's status). Returns whether the target
/// was fenced.
#[allow(clippy::too_many_arguments)]
pub async fn fence_with_devices(
    node: &ClusterNode,
    term: u64,
    state: &ClusterState,
    levels: &[Vec<Device>],
    online: &BTreeSet<String>,
    target: &str,
    action: &str,
    timeout: Duration,
) -> bool {
    for level in levels {
        let mut done = Vec::new();
        for d in level {
            match run_device(node, term, state, d, online, target, action, timeout).await {
                Some(runner) => done.push((d.id.clone(), runner)),
                None => break,
            }
        }
        if done.len() == level.len() && !done.is_empty() {
            let used: Vec<String> = done.iter().map(|(d, _)| d.clone()).collect();
            let record = FenceRecord {
                target: target.to_string(),
                action: action.to_string(),
                device: Some(used.join(",")),
                executor: done
                    .iter()
                    .map(|(_, r)| r.clone())
                    .collect::<Vec<_>>()
                    .join(","),
                origin: node.name(),
                ok: true,
                detail: format!("{action} of {target} confirmed by {}", used.join(", ")),
                time_ms: now_ms(),
            };
            tracing::warn!(%target, devices = %used.join(","), "fenced");
            return node.propose(Change::RecordFence { record }).await.is_ok();
        }
    }
    false
}

/// Run one device against `target` on the first runner where it works; a failure is
/// recorded in the fencing history. Returns the runner that succeeded.
#[allow(clippy::too_many_arguments)]
async fn run_device(
    node: &ClusterNode,
    term: u64,
    state: &ClusterState,
    d: &Device,
    online: &BTreeSet<String>,
    target: &str,
    action: &str,
    timeout: Duration,
) -> Option<String> {
    for runner in runners(state, &d.id, target, online) {
        let msg = Message::Fence {
            term,
            device: d.id.clone(),
            agent_type: d.agent_type.clone(),
            params: d.params.clone(),
            target: target.to_string(),
            action: action.to_string(),
            timeout_ms: timeout.as_millis() as u64,
        };
        let Ok(body) = serde_json::to_value(msg) else {
            continue;
        };
        let answer = node
            .send_app(&runner, body, timeout + Duration::from_secs(5))
            .await;
        let (ok, detail) = match answer {
            Ok(v) => match serde_json::from_value::<Ack>(v) {
                Ok(a) => (
                    a.done == Some(true),
                    a.detail.unwrap_or_else(|| "no detail".into()),
                ),
                Err(e) => (false, format!("unreadable answer: {e}")),
            },
            Err(e) => (false, e.to_string()),
        };
        if ok {
            return Some(runner);
        }
        // A device that cannot fence this target is no attempt.
        if detail.starts_with(CANNOT) {
            tracing::info!(device = %d.id, runner = %runner, "{detail}");
            return None;
        }
        tracing::error!(%target, device = %d.id, runner = %runner, "fencing failed: {detail}");
        let record = FenceRecord {
            target: target.to_string(),
            action: action.to_string(),
            device: Some(d.id.clone()),
            executor: runner.clone(),
            origin: node.name(),
            ok: false,
            detail,
            time_ms: now_ms(),
        };
        let _ = node.propose(Change::RecordFence { record }).await;
    }
    None
}

/// How a node says that a device cannot fence the target (not an attempt).
pub const CANNOT: &str = "cannot fence";

/// Fence `target` as the DC of `term`: by the fence devices; failing that, if it is
/// reachable, by having it stop everything itself. Every attempt is recorded in the
/// fencing history; a success forgets the target's status. Returns whether it was
/// fenced.
pub async fn fence_node(
    node: &ClusterNode,
    term: u64,
    online: &BTreeSet<String>,
    target: &str,
    action: &str,
    timeout: Duration,
) -> bool {
    let state = node.read_local().map(|a| a.state).unwrap_or_default();
    let levels = state
        .config
        .to_model()
        .map(|c| levels_for(&c, &state, target))
        .unwrap_or_default();
    if !levels.is_empty()
        && fence_with_devices(node, term, &state, &levels, online, target, action, timeout).await
    {
        return true;
    }
    if !online.contains(target) {
        return false;
    }
    let body = serde_json::to_value(Message::SelfFence {
        term,
        action: action.to_string(),
    });
    let answer = match body {
        Ok(b) => node.send_app(target, b, timeout).await.ok(),
        Err(_) => None,
    };
    let ok = answer
        .and_then(|v| serde_json::from_value::<Ack>(v).ok())
        .is_some_and(|a| a.done == Some(true));
    let detail = if ok {
        format!("{target} stopped everything on request")
    } else {
        tracing::error!(node = %target, "fencing {target} failed: it could not stop everything (waited out as a lost node)");
        format!("{target} could not stop everything")
    };
    let record = FenceRecord {
        target: target.to_string(),
        action: action.to_string(),
        device: None,
        executor: target.to_string(),
        origin: node.name(),
        ok,
        detail,
        time_ms: now_ms(),
    };
    let recorded = node.propose(Change::RecordFence { record }).await.is_ok();
    ok && recorded
}
