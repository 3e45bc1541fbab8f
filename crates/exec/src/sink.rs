//! Where results go. The controller connects a sink that proposes them to the
//! replicated status; `MemorySink` keeps them in memory (tests, the CLI).

use std::sync::Mutex;

use serde::Serialize;

use crate::failcount::FailKey;
use crate::op::OpResult;

/// Something the executor reports.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum ExecEvent {
    /// An operation result: every one-shot operation, and a recurring monitor's first
    /// result and every result whose rc or status differs from the previous one.
    Result(OpResult),
    /// A fail count changed (after a failed operation).
    FailCount {
        key: FailKey,
        count: u32,
        last_failure_ms: i64,
    },
    /// Fail counts and recorded failures were cleared (`halo resource cleanup`);
    /// `resource: None` means every resource of the node.
    Cleanup {
        node: String,
        resource: Option<String>,
    },
}

/// Receives the executor's reports. `record` is called from the executor's tasks and
/// must not block: an implementation that writes to consensus queues the event.
pub trait ResultSink: Send + Sync + 'static {
    fn record(&self, event: ExecEvent);
}

/// Drops every event.
pub struct NullSink;

impl ResultSink for NullSink {
    fn record(&self, _event: ExecEvent) {}
}

/// Keeps every event in memory, and wakes waiters on each new one.
#[derive(Default)]
pub struct MemorySink {
    events: Mutex<Vec<ExecEvent>>,
    notify: tokio::sync::Notify,
}

impl MemorySink {
    pub fn new() -> Self {
        Self::default()
    }

    /// A copy of every event so far.
    pub fn events(&self) -> Vec<ExecEvent> {
        self.events.lock().map(|e| e.clone()).unwrap_or_default()
    }

    /// The results so far.
    pub fn results(&self) -> Vec<OpResult> {
        self.events()
            .into_iter()
            .filter_map(|e| match e {
                ExecEvent::Result(r) => Some(r),
                _ => None,
            })
            .collect()
    }

    /// Wait until `pred` holds for the events recorded so far, at most `limit`;
    /// returns whether it holds.
    pub async fn wait_for(
        &self,
        limit: std::time::Duration,
        pred: impl Fn(&[ExecEvent]) -> bool,
    ) -> bool {
        tokio::time::timeout(limit, self.wait_until(pred))
            .await
            .is_ok()
    }

    async fn wait_until(&self, pred: impl Fn(&[ExecEvent]) -> bool) {
        loop {
            let notified = self.notify.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            if let Ok(ev) = self.events.lock() {
                if pred(&ev) {
                    return;
                }
            }
            notified.await;
        }
    }
}

impl ResultSink for MemorySink {
    fn record(&self, event: ExecEvent) {
        if let Ok(mut ev) = self.events.lock() {
            ev.push(event);
        }
        self.notify.notify_waiters();
    }
}

/// Forwards events into a tokio channel (how the controller will consume them).
pub struct ChannelSink(pub tokio::sync::mpsc::UnboundedSender<ExecEvent>);

impl ResultSink for ChannelSink {
    fn record(&self, event: ExecEvent) {
        // A closed receiver means the controller is shutting down: nothing to do.
        let _ = self.0.send(event);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Waiting for something that never comes ends at the deadline with false.
    #[tokio::test]
    async fn wait_for_gives_up_at_its_deadline() {
        let sink = MemorySink::default();
        let limit = std::time::Duration::from_millis(20);
        assert!(!sink.wait_for(limit, |ev| !ev.is_empty()).await);
    }
}
