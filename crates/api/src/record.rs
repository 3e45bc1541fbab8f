//! Recording the executor's results in the replicated status: a `ResultSink` that turns
//! each result, fail count and cleanup into a change proposed to consensus, in order.
//! The scheduler then sees them on every node (the last step of "dispatch → record").

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use halo_consensus::state::StoredOp;
use halo_consensus::{Change, ClusterNode};
use halo_exec::{ExecEvent, ResultSink};
use tokio::sync::mpsc;

/// Proposes executor events to the cluster. Events are queued and proposed one at a
/// time by a background task, so their order is kept; a refused or failed proposal is
/// logged (the executor keeps its local copy, and the next result supersedes it).
pub struct ConsensusSink {
    tx: mpsc::UnboundedSender<Change>,
    /// Fail counts per (node, resource, operation, interval); the cluster keeps their
    /// sum per (node, resource).
    counts: Mutex<BTreeMap<(String, String, String, u64), u32>>,
}

impl ConsensusSink {
    /// Start the proposing task on the current tokio runtime.
    pub fn spawn(node: Arc<ClusterNode>) -> (Arc<ConsensusSink>, tokio::task::JoinHandle<()>) {
        let (tx, mut rx) = mpsc::unbounded_channel::<Change>();
        let task = tokio::spawn(async move {
            while let Some(change) = rx.recv().await {
                if let Err(e) = node.propose(change).await {
                    tracing::warn!("recording an executor event failed: {e}");
                }
            }
        });
        let sink = Arc::new(ConsensusSink {
            tx,
            counts: Mutex::new(BTreeMap::new()),
        });
        (sink, task)
    }

    fn send(&self, change: Change) {
        // The task only ends when the runtime shuts down; nothing to record then.
        let _ = self.tx.send(change);
    }

    fn total(&self, node: &str, resource: &str) -> u32 {
        let counts = self.counts.lock().unwrap_or_else(|e| e.into_inner());
        counts
            .iter()
            .filter(|((n, r, _, _), _)| n == node && r == resource)
            .map(|(_, c)| *c)
            .fold(0u32, u32::saturating_add)
    }
}

impl ResultSink for ConsensusSink {
    fn record(&self, event: ExecEvent) {
        match event {
            ExecEvent::Result(r) => self.send(Change::RecordOp {
                node: r.node.clone(),
                op: StoredOp {
                    resource: r.resource.clone(),
                    operation: r.action.clone(),
                    interval_ms: r.interval_ms,
                    rc: r.rc,
                    call_id: r.call_id as i64,
                    time_ms: r.started_ms.max(0) as u64,
                    exit_reason: r.exit_reason.clone(),
                    op_status: r.status.code(),
                    target_rc: r.target_rc,
                    exec_ms: r.duration_ms,
                    last_rc_change_ms: r.last_rc_change_ms.max(0) as u64,
                    ..Default::default()
                },
            }),
            ExecEvent::FailCount { key, count, .. } => {
                {
                    let mut counts = self.counts.lock().unwrap_or_else(|e| e.into_inner());
                    counts.insert(
                        (
                            key.node.clone(),
                            key.resource.clone(),
                            key.operation.clone(),
                            key.interval_ms,
                        ),
                        count,
                    );
                }
                let total = self.total(&key.node, &key.resource);
                self.send(Change::SetFailCount {
                    node: key.node,
                    resource: key.resource,
                    count: total,
                });
            }
            ExecEvent::Cleanup { node, resource } => {
                let cleared: Vec<String> = {
                    let mut counts = self.counts.lock().unwrap_or_else(|e| e.into_inner());
                    let keys: Vec<_> = counts
                        .keys()
                        .filter(|(n, r, _, _)| {
                            *n == node && resource.as_ref().is_none_or(|x| x == r)
                        })
                        .cloned()
                        .collect();
                    for k in &keys {
                        counts.remove(k);
                    }
                    let mut rs: Vec<String> = keys.into_iter().map(|k| k.1).collect();
                    rs.extend(resource.clone());
                    rs.sort();
                    rs.dedup();
                    rs
                };
                for r in cleared {
                    self.send(Change::SetFailCount {
                        node: node.clone(),
                        resource: r,
                        count: 0,
                    });
                }
            }
        }
    }
}
