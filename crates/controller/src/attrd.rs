//! Node attributes with a dampening delay, as pacemaker-attrd keeps them for
//! `attrd_updater -B VALUE -d DELAY` (and `-Y -d DELAY`): an attribute that has a delay
//! is written to the replicated state only once its value has stopped changing for that
//! long, so that a flapping measure (the `ping` agent's connectivity score) does not
//! move resources back and forth. Until then the new value is pending: `attrd_updater
//! -Q` answers with it, the scheduler does not see it. A change back to the written
//! value cancels the pending write; the same value again does not restart the wait.
//! The delay is kept per node and attribute by the daemon that was asked (a daemon that
//! restarts forgets its pending values, as pacemaker-attrd does when it is the writer).

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use halo_consensus::{Change, ChangeResult, ClusterNode};
use serde::{Deserialize, Serialize};

/// One request of `attrd_updater`.
#[derive(Debug, Clone, Serialize, Deserialize, schemars::JsonSchema)]
pub struct AttrUpdate {
    pub node: String,
    pub name: String,
    /// Whether the value changes (`-U`, `-B`, `-D`); false: only the delay (`-Y`).
    pub set_value: bool,
    /// The new value; `None` deletes the attribute.
    pub value: Option<String>,
    /// The new dampening delay (`-B`/`-Y` with `-d`); `None` keeps the one it has.
    pub delay_ms: Option<u64>,
}

/// A value waiting for its delay to pass.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PendingAttr {
    pub node: String,
    pub name: String,
    /// `None`: the attribute is to be deleted.
    pub value: Option<String>,
    pub delay_ms: u64,
}

#[derive(Debug, Default)]
struct Entry {
    delay: Duration,
    /// The value waiting to be written (`Some(None)`: a deletion).
    pending: Option<Option<String>>,
    /// Bumped by every change: a timer writes only if none came after it.
    generation: u64,
}

/// Why an attribute could not be written.
#[derive(Debug, thiserror::Error)]
pub enum AttrdError {
    #[error("{0}")]
    Consensus(#[from] halo_consensus::Error),
    #[error("{code} {reason}")]
    Refused { code: String, reason: String },
}

/// The node's dampened attributes.
#[derive(Clone)]
pub struct Attrd {
    node: ClusterNode,
    table: Arc<Mutex<BTreeMap<(String, String), Entry>>>,
}

impl Attrd {
    pub fn new(node: ClusterNode) -> Attrd {
        Attrd {
            node,
            table: Arc::default(),
        }
    }

    /// The value written to the replicated state, as this node's copy has it.
    fn written(&self, node: &str, name: &str) -> Option<String> {
        self.node
            .read_local()
            .and_then(|a| a.state.node_attrs.get(node)?.get(name).cloned())
    }

    /// Apply one request: at once when the attribute has no delay, else after it.
    pub async fn update(&self, u: AttrUpdate) -> Result<(), AttrdError> {
        let key = (u.node.clone(), u.name.clone());
        let written = self.written(&u.node, &u.name);
        let (delay, generation) = {
            let mut table = self.table.lock().unwrap_or_else(|e| e.into_inner());
            let entry = table.entry(key.clone()).or_default();
            if let Some(ms) = u.delay_ms {
                entry.delay = Duration::from_millis(ms);
            }
            if !u.set_value {
                return Ok(());
            }
            let current = entry.pending.clone().unwrap_or_else(|| written.clone());
            if current == u.value {
                return Ok(());
            }
            entry.generation += 1;
            if entry.delay.is_zero() || u.value == written {
                // No delay, or back to what is written: nothing is to wait.
                entry.pending = None;
                (Duration::ZERO, entry.generation)
            } else {
                entry.pending = Some(u.value.clone());
                (entry.delay, entry.generation)
            }
        };
        if delay.is_zero() {
            if u.value != written {
                self.write(u.node, u.name, u.value).await?;
            }
            return Ok(());
        }
        let attrd = self.clone();
        tokio::spawn(async move {
            tokio::time::sleep(delay).await;
            let value = {
                let mut table = attrd.table.lock().unwrap_or_else(|e| e.into_inner());
                match table.get_mut(&key) {
                    Some(e) if e.generation == generation => e.pending.take(),
                    _ => None,
                }
            };
            if let Some(value) = value {
                let (node, name) = key;
                if let Err(e) = attrd.write(node.clone(), name.clone(), value).await {
                    tracing::warn!(%node, %name, "dampened attribute not written: {e}");
                }
            }
        });
        Ok(())
    }

    async fn write(
        &self,
        node: String,
        name: String,
        value: Option<String>,
    ) -> Result<(), AttrdError> {
        let r = self
            .node
            .propose(Change::SetNodeAttr { node, name, value })
            .await?;
        match r.result {
            ChangeResult::Refused { code, reason } => Err(AttrdError::Refused { code, reason }),
            _ => Ok(()),
        }
    }

    /// The values waiting for their delay.
    pub fn pending(&self) -> Vec<PendingAttr> {
        let table = self.table.lock().unwrap_or_else(|e| e.into_inner());
        table
            .iter()
            .filter_map(|((node, name), e)| {
                Some(PendingAttr {
                    node: node.clone(),
                    name: name.clone(),
                    value: e.pending.clone()?,
                    delay_ms: u64::try_from(e.delay.as_millis()).unwrap_or(u64::MAX),
                })
            })
            .collect()
    }
}
