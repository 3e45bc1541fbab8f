//! Cluster-aware load balancing: this node's `halo:lb` engines follow what the cluster
//! knows of the hosts their servers run on. The usual deployment puts the services on
//! the controllers' management addresses, which are also their cluster addresses, so a
//! server belongs to the member whose cluster address it has.
//!
//! - A member this node sees lost, or that the DC fenced (or waited out past its lease)
//!   and that has not been heard from since: its servers are marked down at once and
//!   their sessions, which can no longer get an answer, are ended, instead of after
//!   `fall` failed checks and the clients' timeouts. (The DC's word comes before this
//!   node's own failure timeout: the VIP a dead member held arrives here with its
//!   servers already down.)
//! - A member in standby, and a member back (from lost or from standby) or where a
//!   resource just failed, while the scheduler still has something to do on it: its
//!   servers are held back, taking no new sessions while another server of their
//!   backend can, so that a node's services are emptied before they stop and refilled
//!   only once the cluster has brought them to where they belong (a Galera node takes
//!   writes only once promoted, that is synced). Open sessions go on; checks go on.

use std::collections::{BTreeMap, BTreeSet};
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::{Duration, Instant};

use halo_consensus::node::StatusReport;
use halo_consensus::state::ClusterState;
use halo_consensus::ClusterNode;
use halo_sched::graph::ActionKind;

use crate::input::{scheduler_input, standby_members, unix_ms, Liveness};

/// How often the load balancer looks again when no change arrives.
const CHECK: Duration = Duration::from_millis(100);

/// The members whose servers are held back, as the cluster's state and membership
/// tell, kept from one look to the next.
#[derive(Debug, Default)]
pub struct Holds {
    /// Lost or in standby at the last look.
    away: BTreeSet<String>,
    /// Back from away or just failed, and the scheduler has not finished with them yet.
    returning: BTreeSet<String>,
}

/// What one look at the cluster found.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct View {
    pub lost: BTreeSet<String>,
    pub standby: BTreeSet<String>,
    /// Members where a resource failed since the last look.
    pub failed: BTreeSet<String>,
    /// Members the scheduler has actions for (starts, stops, promotions, probes...).
    pub busy: BTreeSet<String>,
}

impl Holds {
    /// The members to hold back after this look.
    pub fn update(&mut self, v: &View) -> BTreeSet<String> {
        let away: BTreeSet<String> = v.lost.union(&v.standby).cloned().collect();
        for back in self.away.difference(&away).chain(&v.failed) {
            self.returning.insert(back.clone());
        }
        self.returning
            .retain(|n| !away.contains(n) && v.busy.contains(n));
        self.away = away;
        v.standby.union(&self.returning).cloned().collect()
    }
}

/// The members the scheduler has work for, from the replicated state as this node has
/// it and the membership it sees (`None`: the state cannot be planned from).
pub fn busy_members(state: &ClusterState, status: &StatusReport) -> Option<BTreeSet<String>> {
    let (cfg, st) = scheduler_input(state, &Liveness::of(status)).ok()?;
    let plan = halo_sched::schedule(&cfg, &st, (unix_ms() / 1000) as i64).ok()?;
    Some(
        plan.graph()
            .actions
            .into_iter()
            .filter(|a| a.runnable)
            .filter(|a| match &a.kind {
                ActionKind::Resource(op) => op.interval_ms == 0 && op.task != "cancel",
                _ => false,
            })
            .filter_map(|a| a.node)
            .collect(),
    )
}

/// What this node reads of the replicated state, again only when it changed.
struct Read {
    index: Option<u64>,
    standby: BTreeSet<String>,
    /// When each member's last failure was recorded (milliseconds since the epoch).
    failures: BTreeMap<String, u64>,
    /// When each member was last fenced, or taken as fenced by the DC.
    fenced: BTreeMap<String, u64>,
}

impl Read {
    fn of(state: &ClusterState, index: Option<u64>) -> Read {
        let mut fenced = BTreeMap::new();
        for r in state.fence_history.iter().filter(|r| r.ok) {
            let at = fenced.entry(r.target.clone()).or_insert(0);
            *at = r.time_ms.max(*at);
        }
        Read {
            index,
            standby: state
                .config
                .to_model()
                .map(|cfg| standby_members(&cfg, state))
                .unwrap_or_default(),
            failures: state
                .failures
                .iter()
                .map(|(n, f)| (n.clone(), f.values().map(|r| r.last_ms).max().unwrap_or(0)))
                .collect(),
            fenced,
        }
    }
}

/// The members whose time in `now` is later than in `before`.
fn newer(now: &BTreeMap<String, u64>, before: &BTreeMap<String, u64>) -> BTreeSet<String> {
    now.iter()
        .filter(|(n, at)| before.get(*n).is_none_or(|b| b < at))
        .map(|(n, _)| n.clone())
        .collect()
}

fn ips(status: &StatusReport, names: &BTreeSet<String>) -> Vec<IpAddr> {
    status
        .nodes
        .iter()
        .filter(|n| names.contains(&n.name))
        .filter_map(|n| n.addr.parse::<SocketAddr>().ok())
        .map(|a| a.ip())
        .collect()
}

/// Runs for as long as the node does (see the module's documentation).
pub async fn run(node: ClusterNode, lb: Option<Arc<halo_lb::agent::LbAgent>>) {
    let Some(lb) = lb else { return };
    let me = node.name();
    let mut changes = node.subscribe();
    let mut holds = Holds::default();
    let mut read: Option<Read> = None;
    // Members fenced since this node last heard from them, with when it learnt it.
    let mut fenced: BTreeMap<String, Instant> = BTreeMap::new();
    // The scheduler runs here only while a member is on its way back, once per state
    // and membership.
    let mut planned: Option<(Option<u64>, BTreeSet<String>)> = None;
    let mut busy = BTreeSet::new();
    let mut held_before = BTreeSet::new();
    loop {
        tokio::select! {
            _ = tokio::time::sleep(CHECK) => {}
            r = changes.recv() => {
                if matches!(r, Err(tokio::sync::broadcast::error::RecvError::Closed)) {
                    return;
                }
            }
        }
        let status = node.status();
        if status.cluster.is_none() {
            continue;
        }
        let Some(index) = node.with_local(|a| a.last_applied.map(|l| l.index)) else {
            continue;
        };
        let mut failed = BTreeSet::new();
        if read.as_ref().is_none_or(|r| r.index != index) {
            let Some(now) = node.with_local(|a| Read::of(&a.state, index)) else {
                continue;
            };
            if let Some(before) = &read {
                failed = newer(&now.failures, &before.failures);
                for n in newer(&now.fenced, &before.fenced) {
                    fenced.insert(n, Instant::now());
                }
            }
            read = Some(now);
        }
        let Some(Read { standby, .. }) = &read else {
            continue;
        };
        let heard = node.last_heard();
        fenced.retain(|n, learnt| heard.get(n).is_none_or(|age| *age >= learnt.elapsed()));
        let lost: BTreeSet<String> = status
            .nodes
            .iter()
            .filter(|n| (!n.online || fenced.contains_key(&n.name)) && n.name != me)
            .map(|n| n.name.clone())
            .collect();
        let watching = !holds.returning.is_empty()
            || !failed.is_empty()
            || holds
                .away
                .iter()
                .any(|n| !lost.contains(n) && !standby.contains(n));
        let key = (index, lost.clone());
        if watching && planned.as_ref() != Some(&key) {
            if let Some(b) = node
                .read_local()
                .and_then(|a| busy_members(&a.state, &status))
            {
                busy = b;
            }
            planned = Some(key);
        }
        let held = holds.update(&View {
            lost: lost.clone(),
            standby: standby.clone(),
            failed,
            busy: busy.clone(),
        });
        let marked = lb.hosts_lost(&ips(&status, &lost));
        if marked > 0 {
            tracing::info!(
                hosts = ?lost,
                servers = marked,
                "load balancer: servers on lost members marked down"
            );
        }
        let n = lb.hold_hosts(&ips(&status, &held));
        if held != held_before {
            tracing::info!(
                members = ?held,
                servers = n,
                "load balancer: servers held back (standby, or back and not settled yet)"
            );
            held_before = held;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn set(names: &[&str]) -> BTreeSet<String> {
        names.iter().map(|s| s.to_string()).collect()
    }

    /// A member in standby is held; back, it stays held while the scheduler has work
    /// on it and is released once it has none, for good.
    #[test]
    fn standby_and_returning_members_are_held_until_settled() {
        let mut h = Holds::default();
        let v = |lost: &[&str], standby: &[&str], busy: &[&str]| View {
            lost: set(lost),
            standby: set(standby),
            failed: set(&[]),
            busy: set(busy),
        };
        assert_eq!(h.update(&v(&[], &[], &["a", "b"])), set(&[]), "first start");
        assert_eq!(h.update(&v(&[], &["b"], &["b"])), set(&["b"]));
        assert_eq!(h.update(&v(&[], &[], &["b"])), set(&["b"]), "back, busy");
        assert_eq!(h.update(&v(&[], &[], &["b"])), set(&["b"]));
        assert_eq!(h.update(&v(&[], &[], &[])), set(&[]), "settled");
        assert_eq!(h.update(&v(&[], &[], &["b"])), set(&[]), "busy again later");
        // Lost, then back.
        assert_eq!(h.update(&v(&["c"], &[], &[])), set(&[]));
        assert_eq!(h.update(&v(&[], &[], &["c"])), set(&["c"]));
        assert_eq!(h.update(&v(&[], &[], &[])), set(&[]));
        // A resource failed: held while the scheduler recovers it.
        let failed = View {
            failed: set(&["a"]),
            ..v(&[], &[], &["a"])
        };
        assert_eq!(h.update(&failed), set(&["a"]));
        assert_eq!(h.update(&v(&[], &[], &["a"])), set(&["a"]));
        assert_eq!(h.update(&v(&[], &[], &[])), set(&[]));
    }
}
