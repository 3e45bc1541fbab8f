//! The guard: a node that has not completed a round trip with a quorate DC for longer
//! than its lease applies `no-quorum-policy` on its own: `stop` (the default) stops
//! everything it runs; `suicide` does too and stops feeding the watchdog for good, so
//! that the device resets the node (without a watchdog it acts as `stop`); `demote` demotes
//! promoted instances and stops everything else but unpromoted instances; `freeze`
//! and `ignore` keep it running. When contact comes back, the node asks to be
//! probed again, since its recorded status no longer says what it runs.
//!
//! The guard, the VIP renewals and the watchdog feeder judge the same [`Lease`]: the
//! node's live contact, or the contact its previous daemon recorded (so a restarted
//! daemon neither stops what still runs under a valid lease nor keeps what the DC may
//! already have recovered elsewhere).

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use halo_consensus::ClusterNode;

use crate::watchdog::Watchdog;
use crate::{Local, Timing};

/// CLOCK_MONOTONIC, in nanoseconds: it goes on across a daemon's restart (std's
/// `Instant` reads the same clock but cannot be saved), not across a reboot.
fn monotonic_ns() -> Option<u64> {
    let t = nix::time::clock_gettime(nix::time::ClockId::CLOCK_MONOTONIC).ok()?;
    let ns = i128::from(t.tv_sec()) * 1_000_000_000 + i128::from(t.tv_nsec());
    u64::try_from(ns).ok()
}

/// Where a node keeps its last contact across a daemon restart: a file in the run
/// directory (volatile: gone after a reboot, when nothing runs any more) holding the
/// contact's CLOCK_MONOTONIC time.
#[derive(Debug)]
pub struct LastContact {
    path: PathBuf,
    saved: Option<u64>,
}

impl LastContact {
    /// How far a saved contact may lag behind the live one (a lag only makes the
    /// guard act earlier).
    const STEP_NS: u64 = 100_000_000;

    pub fn new(run_dir: &Path) -> LastContact {
        LastContact {
            path: run_dir.join("last-contact"),
            saved: None,
        }
    }

    /// The contact recorded by an earlier daemon of this boot, if any.
    pub fn load(&self) -> Option<Instant> {
        let text = std::fs::read_to_string(&self.path).ok()?;
        let at: u64 = text.trim().parse().ok()?;
        let age = Duration::from_nanos(monotonic_ns()?.checked_sub(at)?);
        Instant::now().checked_sub(age)
    }

    /// Record a contact `age` old (when it moved on by a step since the last write).
    pub fn save(&mut self, age: Duration) {
        let Some(now) = monotonic_ns() else { return };
        let at = now.saturating_sub(u64::try_from(age.as_nanos()).unwrap_or(u64::MAX));
        if self
            .saved
            .is_some_and(|s| at < s.saturating_add(Self::STEP_NS))
        {
            return;
        }
        let tmp = self.path.with_extension("tmp");
        let written =
            std::fs::write(&tmp, at.to_string()).and_then(|()| std::fs::rename(&tmp, &self.path));
        match written {
            Ok(()) => self.saved = Some(at),
            Err(e) => tracing::warn!("{}: {e}", self.path.display()),
        }
    }
}

/// This node's contact with a quorate DC: the live one, else the one its previous
/// daemon recorded on this boot.
#[derive(Clone)]
pub struct Lease {
    pub node: ClusterNode,
    pub prior: Option<Instant>,
}

impl Lease {
    /// How old the contact is (`None`: none known).
    pub fn age(&self) -> Option<Duration> {
        let live = self.node.contact().map(|c| c.age);
        let prior = self.prior.map(|p| p.elapsed());
        match (live, prior) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }
}

/// `no-quorum-policy` as this node's copy of the configuration sets it.
fn policy(node: &ClusterNode) -> String {
    node.read_local()
        .and_then(|a| a.state.config.to_model().ok())
        .and_then(|c| c.properties.get("no-quorum-policy").cloned())
        .unwrap_or_else(|| "stop".to_string())
}

/// Renew the node's virtual IPs while its contact with a quorate DC is recent (at most
/// `vip_fresh` old), so that an address whose renewals stop is gone by the node's lease.
pub async fn renew_vips(lease: Lease, local: Local, timing: Timing) {
    loop {
        tokio::time::sleep(timing.tick).await;
        if lease.age().is_some_and(|a| a <= timing.vip_fresh) {
            local.renew_vips().await;
        }
    }
}

/// Feed `watchdog` while the node is safe, until `stop` is raised: a reset must come
/// before the DC stops waiting, so the device is fed only while the contact is recent
/// enough for that, or while nothing runs here. A thread of its own, so that a stalled
/// async runtime (a long blocking call) does not reset a node that runs nothing.
pub fn feed_watchdog(
    lease: Lease,
    local: Local,
    timing: Timing,
    watchdog: Arc<Mutex<Option<Watchdog>>>,
    stop: Arc<AtomicBool>,
) -> std::io::Result<std::thread::JoinHandle<()>> {
    std::thread::Builder::new()
        .name("halo-watchdog".into())
        .spawn(move || {
            while !stop.load(Ordering::SeqCst) {
                std::thread::sleep(timing.tick);
                let mut wd = watchdog.lock().unwrap_or_else(|e| e.into_inner());
                let Some(wd) = wd.as_mut() else { continue };
                let fresh = timing.node_lease().saturating_sub(wd.timeout());
                let age = lease.age();
                if age.is_some_and(|a| a <= fresh) || local.running().is_empty() {
                    wd.pet();
                }
            }
        })
}

/// Run the guard until the task is aborted, recording the live contact in `file`.
/// Raising `stop_feeding` ends the watchdog feeder (`suicide`).
pub async fn run(
    lease: Lease,
    mut file: LastContact,
    local: Local,
    timing: Timing,
    stop_feeding: Arc<AtomicBool>,
) {
    let node = lease.node.clone();
    let mut fired = false;
    // What the guard acted on since contact was lost: what runs besides (an operation
    // in flight started it since) is acted on in turn.
    let mut acted: std::collections::BTreeSet<String> = Default::default();
    loop {
        tokio::time::sleep(timing.tick).await;
        if let Some(c) = node.contact() {
            file.save(c.age);
        }
        let age = lease.age();
        let in_contact = age.is_some_and(|a| a < timing.guard_lease);
        if in_contact {
            if fired {
                fired = false;
                acted.clear();
                tracing::info!("contact with a quorate DC regained: asking to be probed again");
                local.request_reprobe("contact regained after the guard acted");
            }
            continue;
        }
        let running = local.running();
        if running.iter().all(|id| acted.contains(id)) {
            continue;
        }
        fired = true;
        acted.extend(running);
        match policy(&node).as_str() {
            "ignore" | "freeze" => {
                tracing::warn!(
                    "no contact with a quorate DC: no-quorum-policy keeps the resources running"
                );
            }
            "demote" => {
                let failed = local
                    .demote_or_stop("no contact with a quorate DC (no-quorum-policy=demote)")
                    .await;
                if !failed.is_empty() {
                    tracing::error!(
                        ?failed,
                        "guard: could not demote or stop these after losing contact with a quorate DC"
                    );
                }
            }
            policy => {
                if policy == "suicide" {
                    // Before stopping anything: the reset must not wait for stops.
                    stop_feeding.store(true, Ordering::SeqCst);
                    tracing::error!(
                        "no contact with a quorate DC and no-quorum-policy=suicide: the watchdog \
                         is no longer fed, this node resets when it expires (without a \
                         watchdog, its resources are only stopped)"
                    );
                }
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

#[cfg(test)]
mod tests {
    use super::*;

    /// A contact saved by one daemon is found by the next, as old as it really is; a
    /// contact that moved on by less than a step is not written again.
    #[test]
    fn last_contact_survives_a_restart() {
        let dir = std::env::temp_dir().join(format!("halo-last-contact-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap_or_else(|e| panic!("{e}"));
        let mut file = LastContact::new(&dir);
        assert!(file.load().is_none(), "nothing saved yet");
        file.save(Duration::from_millis(300));
        let first = std::fs::read_to_string(dir.join("last-contact")).unwrap_or_default();
        file.save(Duration::from_millis(299));
        let second = std::fs::read_to_string(dir.join("last-contact")).unwrap_or_default();
        assert_eq!(first, second, "a contact 1 ms newer is not written");

        let next = LastContact::new(&dir);
        let age = next.load().map(|t| t.elapsed());
        let _ = std::fs::remove_dir_all(&dir);
        let age = age.unwrap_or_else(|| panic!("the saved contact was not found"));
        assert!(
            age >= Duration::from_millis(300) && age < Duration::from_secs(5),
            "{age:?}"
        );
    }
}
