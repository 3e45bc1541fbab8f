//! halo-controller: what joins the parts into a cluster manager (pacemaker-controld's
//! job, and sbd's guard).
//!
//! - `input`: the scheduler's input from the replicated state alone.
//! - `engine`: the pure core that runs a transition graph (events in, commands out,
//!   the clock passed in).
//! - `dc`: the DC loop around it, on the Raft leader while it holds its lease.
//! - `local`: each node's side: runs dispatched operations on its executor and records
//!   the results; refuses dispatches from an older term.
//! - `guard`: each node stops its resources when it loses contact with a quorate DC
//!   for longer than its lease (`no-quorum-policy`).
//! - `attrd`: node attributes written after their dampening delay (`attrd_updater -d`).
//! - `lb_follow`: this node's load balancer follows the cluster (servers on lost
//!   members down, on members in standby or not settled after their return held back).
//! - `silence`: how long a lost node has surely been without contact (pure).
//! - `wire`: the DC-to-node messages.
//!
//! API boundary: [`Controller::start`].

pub mod attrd;
pub mod dc;
pub mod engine;
pub mod fencing;
pub mod guard;
pub mod input;
pub mod lb_follow;
pub mod local;
pub mod silence;
pub mod watchdog;
pub mod wire;

use std::sync::Arc;
use std::time::Duration;

use halo_consensus::{AppHandler, ClusterNode};
use halo_exec::{AgentRegistry, ExecConfig, Executor};

pub use local::Local;

/// How late the kernel may remove an address after its lifetime ends: IPv4's expiry
/// work is rounded up to a whole second of jiffies whenever that delays it by less
/// than a quarter second (measured here: up to 1.20 s for a 1 s lifetime), plus the
/// scheduling of that work.
pub const KERNEL_EXPIRY_SLACK: Duration = Duration::from_millis(300);

/// The controller's clocks. The safety argument (ARCHITECTURE.md) relates them:
/// `dc_lease` < Raft's minimum election timeout; a node cut off begins stopping at
/// `guard_lease`, has stopped (or its watchdog has reset it) and has lost its virtual
/// IPs by `node_lease()`; a lost node is taken as fenced only after `self_fence_wait()`
/// = `node_lease()` × (1 + `drift`) + `margin`.
#[derive(Debug, Clone)]
pub struct Timing {
    /// How often the loops wake up when nothing happens.
    pub tick: Duration,
    /// The DC dispatches only while a quorum acknowledged it within this time.
    pub dc_lease: Duration,
    /// A node that has not completed a round trip with a quorate DC for this long stops
    /// its resources (per `no-quorum-policy`).
    pub guard_lease: Duration,
    /// How long the guard's stops may take before the node counts as possibly running
    /// (a watchdog resets a node that is not done by then).
    pub stop_allowance: Duration,
    /// A virtual IP's lifetime is renewed only while the node's contact with a quorate
    /// DC is at most this old.
    pub vip_fresh: Duration,
    /// Bound on the relative clock-rate difference between two nodes.
    pub drift: f64,
    /// Added to the stretched lease before a lost node is taken as fenced.
    pub margin: Duration,
    /// Plan again at least this often (`cluster-recheck-interval`).
    pub recheck: Duration,
}

impl Timing {
    /// Timing for a node with the given Raft timing.
    pub fn for_raft(raft: &halo_consensus::Timing) -> Timing {
        let election_min = Duration::from_millis(raft.election_min_ms);
        let election_max = Duration::from_millis(raft.election_max_ms);
        let ping = Duration::from_millis(raft.ping_interval_ms);
        Timing {
            tick: Duration::from_millis(50),
            dc_lease: election_min * 3 / 4,
            // Longer than a DC change takes, so that the majority's nodes keep their
            // resources while a new DC is elected: followers grant a vote only once the
            // old leader's lease (the maximum election timeout) has passed since its
            // last heartbeat, and a candidate's first attempt may come before that, so
            // the election ends within two maximum timeouts; a node's last contact was
            // up to a ping interval before the death, its next comes up to one after
            // the election; plus round trips.
            guard_lease: election_max * 2 + ping * 2 + Duration::from_millis(200),
            stop_allowance: Duration::from_millis(300),
            // Two ping intervals: one late ping does not let an address lapse.
            vip_fresh: ping * 2,
            drift: 0.05,
            margin: Duration::from_millis(100),
            recheck: Duration::from_secs(15 * 60),
        }
    }

    /// By when, after its last contact, a cut-off node runs nothing: its guard has
    /// stopped everything (or its watchdog has reset it), and the kernel has removed
    /// its virtual IPs (renewed at most `vip_fresh` after that contact).
    pub fn node_lease(&self) -> Duration {
        let stopped = self.guard_lease + self.stop_allowance;
        let vips_gone = self.vip_fresh + crate::local::VIP_LIFETIME + KERNEL_EXPIRY_SLACK;
        stopped.max(vips_gone)
    }

    /// How long a lost node must have been silent before it is taken as fenced.
    pub fn self_fence_wait(&self) -> Duration {
        self.node_lease().mul_f64(1.0 + self.drift) + self.margin
    }
}

/// How a node's controller runs, beyond the executor's configuration.
#[derive(Debug, Clone, Default)]
pub struct Options {
    /// The watchdog device to feed (`None`: no watchdog; `halo status` says so).
    pub watchdog: Option<std::path::PathBuf>,
    /// Its timeout (a device rounds it up to whole seconds); must be shorter than the
    /// node's lease (1.5 s with the default timing). Default 1 s.
    pub watchdog_timeout: Option<Duration>,
}

/// What `halo status` shows of a node's controller (`GET /v1/controller`).
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct Info {
    /// The watchdog in use, if any.
    pub watchdog: Option<String>,
    pub watchdog_timeout_ms: Option<u64>,
    /// Why no watchdog is in use, when none is.
    pub watchdog_problem: Option<String>,
    pub guard_lease_ms: u64,
    /// How long the DC waits before taking a lost node as fenced.
    pub self_fence_wait_ms: u64,
    /// What this node runs, as its executor's results tell.
    pub running: Vec<String>,
}

/// The running controller of one node.
pub struct Controller {
    pub local: Local,
    timing: Timing,
    watchdog: Arc<std::sync::Mutex<Option<watchdog::Watchdog>>>,
    watchdog_problem: Option<String>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
    /// Stops the watchdog feeder's thread.
    stop_feeding: Arc<std::sync::atomic::AtomicBool>,
}

struct Handler {
    local: Local,
    node: ClusterNode,
    timing: Timing,
}

impl AppHandler for Handler {
    fn handle(
        &self,
        from: String,
        body: serde_json::Value,
    ) -> halo_consensus::transport::BoxFuture<'static, Result<serde_json::Value, String>> {
        let local = self.local.clone();
        let node = self.node.clone();
        let dc_lease = self.timing.dc_lease;
        let guard_lease = self.timing.guard_lease;
        Box::pin(async move {
            let msg: wire::Message =
                serde_json::from_value(body).map_err(|e| format!("unreadable message: {e}"))?;
            match msg {
                wire::Message::Execute(d) => {
                    if d.op.makes_active() {
                        // The guard would stop at once what starts before this node's
                        // first round trip with the DC (a node that just joined).
                        local.await_contact(guard_lease).await?;
                    }
                    let ack = local.dispatch(&from, *d).await?;
                    serde_json::to_value(ack).map_err(|e| e.to_string())
                }
                wire::Message::Fence {
                    term,
                    device,
                    agent_type,
                    params,
                    target,
                    action,
                    timeout_ms,
                } => {
                    let ack = local
                        .fence_device(
                            &from,
                            term,
                            &device,
                            &agent_type,
                            &params,
                            &target,
                            &action,
                            Duration::from_millis(timeout_ms),
                        )
                        .await?;
                    serde_json::to_value(ack).map_err(|e| e.to_string())
                }
                wire::Message::FenceRequest { target, action } => {
                    let Some(lease) = node.contact().filter(|c| c.leader && c.age < dc_lease)
                    else {
                        return Err(format!("{} is not the DC (or lost its lease)", node.name()));
                    };
                    let online: std::collections::BTreeSet<String> = node
                        .status()
                        .nodes
                        .into_iter()
                        .filter(|n| n.online)
                        .map(|n| n.name)
                        .collect();
                    let timeout = node
                        .read_local()
                        .and_then(|a| a.state.config.to_model().ok())
                        .map(|c| engine::Limits::from_properties(&c.properties).fence_timeout_ms)
                        .unwrap_or(60_000);
                    tracing::warn!(%target, %from, "fencing {target} ({action}) on request");
                    let ok = fencing::fence_node(
                        &node,
                        lease.term,
                        &online,
                        &target,
                        &action,
                        Duration::from_millis(timeout),
                    )
                    .await;
                    let detail = node
                        .read_local()
                        .and_then(|a| a.state.fence_history.back().cloned())
                        .filter(|r| r.target == target)
                        .map(|r| r.detail);
                    serde_json::to_value(wire::Ack {
                        done: Some(ok),
                        detail,
                    })
                    .map_err(|e| e.to_string())
                }
                wire::Message::Heard => {
                    let ages_ms = node
                        .last_heard()
                        .into_iter()
                        .map(|(n, age)| (n, age.as_millis() as u64))
                        .collect();
                    serde_json::to_value(wire::Heard { ages_ms }).map_err(|e| e.to_string())
                }
                wire::Message::SelfFence { term, action } => {
                    let ack = local.self_fence(&from, term, &action).await?;
                    serde_json::to_value(ack).map_err(|e| e.to_string())
                }
            }
        })
    }
}

impl Controller {
    /// Start the controller of `node`: its executor (with `exec`), the handler of
    /// dispatches, the guard (feeding the watchdog of `opts`), and the DC loop (which
    /// acts only on the leader).
    pub fn start(node: ClusterNode, exec: ExecConfig, opts: Options) -> Controller {
        let timing = Timing::for_raft(&node.timing());
        let wd_timeout = opts
            .watchdog_timeout
            .unwrap_or(Duration::from_secs(1))
            .min(timing.node_lease());
        let (wd, watchdog_problem) = match &opts.watchdog {
            None => (None, Some("no watchdog configured".to_string())),
            Some(path) => match watchdog::Watchdog::open(path, wd_timeout) {
                Ok(wd) if wd.timeout() < timing.node_lease() => (Some(wd), None),
                Ok(wd) => (
                    None,
                    Some(format!(
                        "watchdog {}: its timeout {} ms is not below the node's lease {} ms",
                        path.display(),
                        wd.timeout().as_millis(),
                        timing.node_lease().as_millis()
                    )),
                ),
                Err(e) => (None, Some(e.to_string())),
            },
        };
        if let Some(p) = &watchdog_problem {
            tracing::warn!("{p}: a hung node is not reset");
        }
        let watchdog = Arc::new(std::sync::Mutex::new(wd));
        let run_dir = exec.state_dir.clone();
        let registry = AgentRegistry::with_defaults();
        let lb = registry.lb();
        let local = Local::start(node.clone(), |sink| Executor::new(exec, registry, sink));
        node.set_app_handler(Arc::new(Handler {
            local: local.clone(),
            node: node.clone(),
            timing: timing.clone(),
        }));
        // Whatever this node ran before this daemon started is found again by probes:
        // its recorded status (from the state on disk) is forgotten. A node with none
        // (new, or never ran anything) has nothing to forget.
        let me = node.name();
        let recorded = node.read_local().is_some_and(|a| {
            a.state.op_history.contains_key(&me)
                || a.state.node_attrs.contains_key(&me)
                || a.state.failures.contains_key(&me)
        });
        if recorded {
            local.request_reprobe("the node's daemon started");
        }
        let file = guard::LastContact::new(&run_dir);
        let lease = guard::Lease {
            node: node.clone(),
            prior: file.load(),
        };
        let mut tasks = vec![
            tokio::spawn(dc::run(node.clone(), timing.clone())),
            tokio::spawn(lb_follow::run(node.clone(), lb)),
            tokio::spawn(guard::renew_vips(
                lease.clone(),
                local.clone(),
                timing.clone(),
            )),
        ];
        let feeding = Arc::new(std::sync::atomic::AtomicBool::new(false));
        tasks.push(tokio::spawn(guard::run(
            lease.clone(),
            file,
            local.clone(),
            timing.clone(),
            feeding.clone(),
        )));
        let fed = guard::feed_watchdog(
            lease,
            local.clone(),
            timing.clone(),
            watchdog.clone(),
            feeding.clone(),
        );
        let watchdog_problem = match fed {
            Ok(_) => watchdog_problem,
            Err(e) => {
                // Never fed: a device, if open, resets the node; say why.
                tracing::error!("cannot start the watchdog feeder: {e}");
                Some(format!("cannot start the watchdog feeder: {e}"))
            }
        };
        Controller {
            local,
            timing,
            watchdog,
            watchdog_problem,
            tasks,
            stop_feeding: feeding,
        }
    }

    /// Have the DC fence `target` (`action`: reboot, off, on) and wait for the outcome
    /// (`halo stonith fence`).
    pub async fn request_fence(
        node: &ClusterNode,
        target: &str,
        action: &str,
    ) -> Result<wire::Ack, String> {
        let dc = node
            .status()
            .dc
            .ok_or_else(|| "no DC: the cluster has no quorum".to_string())?;
        let body = serde_json::to_value(wire::Message::FenceRequest {
            target: target.to_string(),
            action: action.to_string(),
        })
        .map_err(|e| e.to_string())?;
        let v = node
            .send_app(&dc, body, Duration::from_secs(300))
            .await
            .map_err(|e| e.to_string())?;
        serde_json::from_value(v).map_err(|e| e.to_string())
    }

    /// What `halo status` shows of this node's controller.
    pub fn info(&self) -> Info {
        let wd = self.watchdog.lock().unwrap_or_else(|e| e.into_inner());
        Info {
            watchdog: wd.as_ref().map(|w| w.path().display().to_string()),
            watchdog_timeout_ms: wd.as_ref().map(|w| w.timeout().as_millis() as u64),
            watchdog_problem: self.watchdog_problem.clone(),
            guard_lease_ms: self.timing.guard_lease.as_millis() as u64,
            self_fence_wait_ms: self.timing.self_fence_wait().as_millis() as u64,
            running: self.local.running(),
        }
    }

    /// Stop the loops (resources keep running; the executor is left as it is; a
    /// watchdog no longer fed resets the node unless it is disarmed).
    pub fn stop(&self) {
        for t in &self.tasks {
            t.abort();
        }
        self.stop_feeding
            .store(true, std::sync::atomic::Ordering::SeqCst);
    }

    /// A clean shutdown of this node (Pacemaker's): ask the DC to move everything away
    /// (the `shutdown` node attribute) and wait until this node runs nothing. Without
    /// quorum, or after `limit`, whatever still runs here is stopped locally.
    pub async fn shutdown(&self, node: &ClusterNode, limit: std::time::Duration) {
        // Nothing new starts here; what is being started now is waited for below.
        self.local.close();
        let me = node.name();
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0);
        let end = tokio::time::Instant::now() + limit;
        // First the DC is told (so that it plans nothing more here), then what is being
        // started is waited for, so that it is moved away too.
        let asked = (!self.local.running().is_empty() || self.local.busy())
            && node
                .propose(halo_consensus::Change::SetNodeAttr {
                    node: me.clone(),
                    name: "shutdown".into(),
                    value: Some(now.to_string()),
                })
                .await
                .is_ok();
        self.local.drain(limit).await;
        if asked {
            tracing::info!("shutting down: waiting for the DC to move this node's resources away");
            while !self.local.running().is_empty() && tokio::time::Instant::now() < end {
                tokio::time::sleep(std::time::Duration::from_millis(100)).await;
            }
        }
        // A stop the DC dispatched may still be running.
        self.local
            .drain(end.saturating_duration_since(tokio::time::Instant::now()))
            .await;
        if !self.local.running().is_empty() {
            let failed = self.local.stop_all("shutting down").await;
            if !failed.is_empty() {
                tracing::error!(?failed, "shutting down: these could not be stopped");
            }
        }
        // Its recorded status now shows everything stopped: the others go on without
        // waiting out its lease.
        self.stop();
        if let Some(wd) = self
            .watchdog
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .take()
        {
            wd.disarm();
        }
    }
}
