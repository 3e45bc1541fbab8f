//! The guard: a node that has not completed a round trip with a quorate DC for longer
//! than its lease applies `no-quorum-policy` on its own: `stop` (the default),
//! `demote` and `suicide` stop everything it runs (a real reset needs a watchdog);
//! `freeze` and `ignore` keep it running. When contact comes back, the node asks to be
//! probed again, since its recorded status no longer says what it runs.

use halo_consensus::ClusterNode;

use crate::{Local, Timing};

/// `no-quorum-policy` as this node's copy of the configuration sets it.
fn policy(node: &ClusterNode) -> String {
    node.read_local()
        .and_then(|a| a.state.config.to_model().ok())
        .and_then(|c| c.properties.get("no-quorum-policy").cloned())
        .unwrap_or_else(|| "stop".to_string())
}

/// Run the guard until the task is aborted.
pub async fn run(node: ClusterNode, local: Local, timing: Timing) {
    let mut fired = false;
    loop {
        tokio::time::sleep(timing.tick).await;
        let in_contact = node.contact().is_some_and(|c| c.age < timing.guard_lease);
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
                let n = local.stop_all("no contact with a quorate DC").await;
                tracing::warn!(
                    "guard: stopped {n} resources after losing contact with a quorate DC"
                );
            }
        }
    }
}
