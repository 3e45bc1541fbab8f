//! The guard: a node that has not completed a round trip with a quorate DC for longer
//! than its lease applies `no-quorum-policy` on its own: `stop` (the default),
//! `demote` and `suicide` stop everything it runs (a real reset needs a watchdog);
//! `freeze` and `ignore` keep it running. When contact comes back, the node asks to be
//! probed again, since its recorded status no longer says what it runs.

use std::sync::{Arc, Mutex};

use halo_consensus::ClusterNode;

use crate::watchdog::Watchdog;
use crate::{Local, Timing};

/// `no-quorum-policy` as this node's copy of the configuration sets it.
fn policy(node: &ClusterNode) -> String {
    node.read_local()
        .and_then(|a| a.state.config.to_model().ok())
        .and_then(|c| c.properties.get("no-quorum-policy").cloned())
        .unwrap_or_else(|| "stop".to_string())
}

/// Renew the node's virtual IPs while its contact with a quorate DC is recent enough
/// that an address whose renewals stop is gone before the node's lease ends: its
/// lifetime plus the kernel's expiry check (up to ~0.2 s late) after the last renewal.
pub async fn renew_vips(node: ClusterNode, local: Local, timing: Timing) {
    let slack = std::time::Duration::from_millis(200);
    let fresh = timing
        .node_lease()
        .saturating_sub(crate::local::VIP_LIFETIME + slack);
    loop {
        tokio::time::sleep(timing.tick).await;
        if node.contact().is_some_and(|c| c.age <= fresh) {
            local.renew_vips().await;
        }
    }
}

/// Run the guard until the task is aborted, feeding `watchdog` while the node is safe.
pub async fn run(
    node: ClusterNode,
    local: Local,
    timing: Timing,
    watchdog: Arc<Mutex<Option<Watchdog>>>,
) {
    let mut fired = false;
    loop {
        tokio::time::sleep(timing.tick).await;
        let age = node.contact().map(|c| c.age);
        let in_contact = age.is_some_and(|a| a < timing.guard_lease);
        if let Some(wd) = watchdog.lock().unwrap_or_else(|e| e.into_inner()).as_mut() {
            // A reset must come before the DC stops waiting: feed the device only while
            // the contact is recent enough for that, or while nothing runs here.
            let fresh = timing.node_lease().saturating_sub(wd.timeout());
            if age.is_some_and(|a| a <= fresh) || local.running().is_empty() {
                wd.pet();
            }
        }
        if in_contact {
            if fired {
                fired = false;
                tracing::info!("contact with a quorate DC regained: asking to be probed again");
                local.request_reprobe("contact regained after the guard acted");
            }
            continue;
        }
        if fired || local.running().is_empty() {
            continue;
        }
        fired = true;
        match policy(&node).as_str() {
            "ignore" | "freeze" => {
                tracing::warn!(
                    "no contact with a quorate DC: no-quorum-policy keeps the resources running"
                );
            }
            _ => {
                let failed = local.stop_all("no contact with a quorate DC").await;
                if failed.is_empty() {
                    tracing::warn!(
                        "guard: stopped everything after losing contact with a quorate DC"
                    );
                } else {
                    // Still counted as running: a watchdog is no longer fed and resets
                    // the node; without one, say loudly what may still run.
                    tracing::error!(
                        ?failed,
                        "guard: could not stop everything after losing contact with a quorate DC"
                    );
                }
            }
        }
    }
}
