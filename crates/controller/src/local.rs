//! Each node's side of the controller: runs the operations the DC dispatches on this
//! node's executor and records their results in the replicated status, in order, with
//! everything the scheduler needs (call id, digests, transition key, times, failures).
//!
//! A dispatch from a term older than one this node has seen is refused, so a deposed
//! DC cannot act through this node. Results are proposed one at a time and retried
//! until committed; a result is never dropped while the node is in the cluster.

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use halo_consensus::state::{FailBump, StoredOp};
use halo_consensus::{Change, ClusterNode};
use halo_exec::{ExecEvent, Executor, OpRequest, OpResult, ResultSink};
use halo_model::AgentRef;
use tokio::sync::mpsc;

use crate::input::unix_ms;
use crate::wire::{Ack, Dispatch, WireOp};

/// Lock a std mutex, recovering the data if a panicking thread poisoned it.
fn locked<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// A recurring operation started by a dispatch: how to record its later results.
#[derive(Debug, Clone)]
struct Recurring {
    dispatch: Dispatch,
    last_rc: Option<i32>,
    last_rc_change_ms: u64,
}

/// This node's controller side. Cheap to clone.
#[derive(Clone)]
pub struct Local {
    inner: Arc<Inner>,
}

struct Inner {
    node: ClusterNode,
    exec: Executor,
    /// The highest DC term seen in a dispatch.
    max_term: AtomicU64,
    /// Call ids: microseconds since the epoch at the first call, then one more each
    /// time, so they keep growing across daemon restarts.
    call_id: Mutex<i64>,
    recurring: Mutex<HashMap<String, Recurring>>,
    /// What runs here, by status id: the operation that started (or found) it, whose
    /// agent and parameters the guard uses to stop it.
    running: Mutex<BTreeMap<String, WireOp>>,
    records: mpsc::UnboundedSender<Change>,
    /// When each virtual IP was last renewed.
    renewed: Mutex<HashMap<String, std::time::Instant>>,
    /// Held by a renewal of a virtual IP and by every operation on it, so that a
    /// renewal (which the kernel may turn into a new address) never follows a stop.
    vip_locks: Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>,
    /// Raised when the daemon shuts down: nothing more is started here.
    closing: AtomicBool,
    /// One-shot operations running now: what they start is not yet in `running`, so
    /// whoever stops everything waits for them first ([`Local::drain`]).
    in_flight: AtomicUsize,
}

/// Counts a one-shot operation as in flight while it lives.
struct InFlight(Arc<Inner>);

impl InFlight {
    fn new(inner: Arc<Inner>) -> InFlight {
        inner.in_flight.fetch_add(1, Ordering::SeqCst);
        InFlight(inner)
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.in_flight.fetch_sub(1, Ordering::SeqCst);
    }
}

/// The operations that make something run here (refused once the daemon shuts down).
fn starts_something(task: &str) -> bool {
    matches!(task, "start" | "promote" | "migrate_from" | "reload")
}

/// The kernel lifetime of every `halo:vip` address the cluster runs: renewed while the
/// node is in contact, so the kernel drops it soon after contact is lost, even if halo
/// was killed or hangs. A longer configured lifetime is shortened to this.
pub const VIP_LIFETIME: Duration = Duration::from_secs(1);

/// How long a dispatch that starts something waits for this node's contact with a
/// quorate DC (a node that just joined makes its first round trip within pings).
const CONTACT_WAIT: Duration = Duration::from_secs(2);

/// How long self-fencing waits for the operations in flight before stopping everything.
const SELF_FENCE_DRAIN: Duration = Duration::from_secs(30);

fn is_vip(op: &WireOp) -> bool {
    op.class == "halo" && op.agent_type == "vip"
}

/// Forwards the executor's recurring results to the node side.
pub struct LocalSink(mpsc::UnboundedSender<ExecEvent>);

impl ResultSink for LocalSink {
    fn record(&self, event: ExecEvent) {
        let _ = self.0.send(event);
    }
}

impl Local {
    /// The node side for `node`, running operations on an executor made by `make_exec`
    /// from the sink it must report to. Spawns its tasks on the current runtime.
    pub fn start(node: ClusterNode, make_exec: impl FnOnce(Arc<LocalSink>) -> Executor) -> Local {
        let (etx, mut erx) = mpsc::unbounded_channel();
        let exec = make_exec(Arc::new(LocalSink(etx)));
        let (rtx, mut rrx) = mpsc::unbounded_channel::<Change>();
        let local = Local {
            inner: Arc::new(Inner {
                node: node.clone(),
                exec,
                max_term: AtomicU64::new(0),
                call_id: Mutex::new(0),
                recurring: Mutex::new(HashMap::new()),
                running: Mutex::new(BTreeMap::new()),
                records: rtx,
                renewed: Mutex::new(HashMap::new()),
                vip_locks: Mutex::new(HashMap::new()),
                closing: AtomicBool::new(false),
                in_flight: AtomicUsize::new(0),
            }),
        };
        // Results are committed in order, each retried until it is.
        let recorder = node.clone();
        tokio::spawn(async move {
            while let Some(change) = rrx.recv().await {
                let mut delay = Duration::from_millis(50);
                loop {
                    match recorder.propose(change.clone()).await {
                        Ok(_) => break,
                        Err(e) => {
                            tracing::debug!(
                                "recording {} failed, will retry: {e}",
                                change.summary()
                            );
                            tokio::time::sleep(delay).await;
                            delay = (delay * 2).min(Duration::from_secs(1));
                        }
                    }
                }
            }
        });
        let weak = Arc::downgrade(&local.inner);
        tokio::spawn(async move {
            while let Some(ev) = erx.recv().await {
                let Some(inner) = weak.upgrade() else { return };
                if let ExecEvent::Result(r) = ev {
                    if r.interval_ms > 0 {
                        inner.recurring_result(&r);
                    }
                }
            }
        });
        local
    }

    pub fn executor(&self) -> &Executor {
        &self.inner.exec
    }

    /// The daemon shuts down: from now on nothing is started here.
    pub fn close(&self) {
        self.inner.closing.store(true, Ordering::SeqCst);
    }

    /// Whether a one-shot operation runs now.
    pub fn busy(&self) -> bool {
        self.inner.in_flight.load(Ordering::SeqCst) > 0
    }

    /// Wait until no one-shot operation runs (at most `limit`), so that what an
    /// operation in flight starts is in [`Local::running`] before everything is stopped.
    /// Whether none runs.
    pub async fn drain(&self, limit: Duration) -> bool {
        let end = tokio::time::Instant::now() + limit;
        while self.inner.in_flight.load(Ordering::SeqCst) > 0 {
            if tokio::time::Instant::now() >= end {
                return false;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        true
    }

    /// What runs here (status ids), as far as this node's operations tell.
    pub fn running(&self) -> Vec<String> {
        locked(&self.inner.running).keys().cloned().collect()
    }

    /// Forget this node's recorded status so that the DC probes it afresh (daemon start,
    /// or contact regained after the guard stopped everything).
    pub fn request_reprobe(&self, reason: &str) {
        let _ = self.inner.records.send(Change::ForgetNode {
            node: self.inner.node.name(),
            reason: reason.to_string(),
        });
    }

    /// Refuse a message from a DC of a term older than one seen here.
    fn check_term(&self, from: &str, what: &str, term: u64) -> Result<(), String> {
        let raft_term = self.inner.node.status().term;
        let seen = self.inner.max_term.fetch_max(term, Ordering::SeqCst);
        if term < seen.max(raft_term) {
            return Err(format!(
                "refused {what} from {from}: term {term} is older than term {} seen here",
                seen.max(raft_term)
            ));
        }
        Ok(())
    }

    /// Fence this node on the DC's request: stop everything. If a stop fails, the node
    /// cannot be made safe from inside: the daemon exits (a watchdog then resets the
    /// node) and the DC waits it out as a lost node.
    pub async fn self_fence(&self, from: &str, term: u64, action: &str) -> Result<Ack, String> {
        self.check_term(from, "self-fencing", term)?;
        tracing::warn!("fenced ({action}) by the DC {from}: stopping everything here");
        // What an operation in flight starts must be stopped too.
        self.drain(SELF_FENCE_DRAIN).await;
        let failed = self.stop_all("fenced by the DC").await;
        if failed.is_empty() {
            return Ok(Ack {
                done: Some(true),
                detail: None,
            });
        }
        tracing::error!(
            ?failed,
            "fencing: could not stop everything: this daemon exits"
        );
        tokio::spawn(async {
            tokio::time::sleep(Duration::from_millis(100)).await;
            std::process::exit(70);
        });
        Ok(Ack {
            done: Some(false),
            detail: None,
        })
    }

    /// Fence `target` with a device, on the DC's request: check that the device can
    /// fence it, then run the agent.
    #[allow(clippy::too_many_arguments)]
    pub async fn fence_device(
        &self,
        from: &str,
        term: u64,
        device: &str,
        agent_type: &str,
        params: &BTreeMap<String, String>,
        target: &str,
        action: &str,
        timeout: Duration,
    ) -> Result<Ack, String> {
        self.check_term(from, "fencing", term)?;
        let dev = halo_exec::fence::FenceDevice::from_params(device, agent_type, params)
            .map_err(|e| e.to_string())?;
        let Some(act) = halo_exec::fence::FenceAction::parse(action) else {
            return Err(format!("unknown fencing action {action:?}"));
        };
        let config = self.inner.exec.config();
        let can = dev.check_target(config, target, act).await;
        if !can.can {
            return Ok(Ack {
                done: Some(false),
                detail: Some(format!(
                    "{} {target} with {device}: {}",
                    crate::fencing::CANNOT,
                    can.reason
                )),
            });
        }
        let r = dev.fence(config, target, act, timeout).await;
        let detail = if r.is_success() {
            format!(
                "{action} of {target} by {device} succeeded in {} ms",
                r.duration_ms
            )
        } else {
            format!(
                "{action} of {target} by {device} failed (rc {}): {}",
                r.rc,
                r.exit_reason.clone().unwrap_or_else(|| r.output_tail(200))
            )
        };
        Ok(Ack {
            done: Some(r.is_success()),
            detail: Some(detail),
        })
    }

    /// Handle a dispatch from `from`, the DC.
    pub async fn dispatch(&self, from: &str, d: Dispatch) -> Result<Ack, String> {
        self.check_term(from, &d.op.task, d.term)?;
        if starts_something(&d.op.task) && self.inner.closing.load(Ordering::SeqCst) {
            return Err(format!(
                "{} is shutting down: it starts nothing ({} {} refused)",
                self.inner.node.name(),
                d.op.task,
                d.op.status_id()
            ));
        }
        let inner = self.inner.clone();
        match d.op.task.as_str() {
            "cancel" => {
                let task = d.op.cancel_task.clone().unwrap_or_else(|| "monitor".into());
                let interval = Duration::from_millis(d.op.interval_ms);
                inner
                    .exec
                    .cancel_recurring(&d.op.status_id(), &task, interval);
                let key = format!("{}_{task}_{}", d.op.status_id(), d.op.interval_ms);
                locked(&inner.recurring).remove(&key);
                // Recorded as a cancelled result of the recurring operation.
                let mut op = inner.stored(
                    &d,
                    &task,
                    0,
                    crate::input::EXEC_CANCELLED,
                    unix_ms(),
                    0,
                    None,
                );
                op.fail = None;
                inner.commit(op).await?;
                Ok(Ack {
                    done: Some(true),
                    detail: None,
                })
            }
            "delete" | "clear_failcount" => {
                let change = Change::SetFailCount {
                    node: inner.node.name(),
                    resource: d.op.status_id(),
                    count: 0,
                };
                inner
                    .node
                    .propose(change)
                    .await
                    .map_err(|e| e.to_string())?;
                Ok(Ack {
                    done: Some(true),
                    detail: None,
                })
            }
            "monitor" if d.op.interval_ms > 0 => {
                let req = inner.request(&d.op);
                locked(&inner.recurring).insert(
                    req.op_key(),
                    Recurring {
                        dispatch: d,
                        last_rc: None,
                        last_rc_change_ms: 0,
                    },
                );
                inner.exec.start_recurring(req).map_err(|e| e.to_string())?;
                Ok(Ack {
                    done: None,
                    detail: None,
                })
            }
            _ => {
                let in_flight = InFlight::new(inner.clone());
                tokio::spawn(async move {
                    let _in_flight = in_flight;
                    let lock = is_vip(&d.op).then(|| inner.vip_lock(&d.op.status_id()));
                    let _held = match &lock {
                        Some(l) => Some(l.lock().await),
                        None => None,
                    };
                    let req = inner.request(&d.op);
                    let result = inner.exec.execute(req).await;
                    inner.one_shot_result(&d, &result);
                });
                Ok(Ack {
                    done: None,
                    detail: None,
                })
            }
        }
    }

    /// Wait (a little) until this node is in contact with a quorate DC, its contact
    /// younger than `limit`.
    pub async fn await_contact(&self, limit: Duration) -> Result<(), String> {
        let end = tokio::time::Instant::now() + CONTACT_WAIT;
        loop {
            if self.inner.node.contact().is_some_and(|c| c.age < limit) {
                return Ok(());
            }
            if tokio::time::Instant::now() >= end {
                return Err(format!(
                    "{} has no contact with a quorate DC: it starts nothing",
                    self.inner.node.name()
                ));
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Renew the kernel lifetime of the virtual IPs that run here (each every quarter of
    /// its lifetime). The caller renews only while the node's contact is recent enough.
    pub async fn renew_vips(&self) {
        let vips: Vec<(String, WireOp)> = locked(&self.inner.running)
            .iter()
            .filter(|(_, op)| is_vip(op))
            .map(|(id, op)| (id.clone(), op.clone()))
            .collect();
        for (id, op) in vips {
            let due = locked(&self.inner.renewed)
                .get(&id)
                .is_none_or(|t| t.elapsed() >= VIP_LIFETIME / 4);
            if !due {
                continue;
            }
            let lock = self.inner.vip_lock(&id);
            let _held = lock.lock().await;
            if !locked(&self.inner.running).contains_key(&id) {
                continue;
            }
            let vip = match halo_vip::Vip::from_params(&vip_params(&op.params)) {
                Ok(v) => v,
                Err(e) => {
                    tracing::warn!(resource = %id, "cannot renew: {e}");
                    continue;
                }
            };
            match tokio::time::timeout(VIP_LIFETIME / 4, vip.renew()).await {
                Ok(Ok(_)) => {
                    locked(&self.inner.renewed).insert(id, std::time::Instant::now());
                }
                Ok(Err(e)) => tracing::warn!(resource = %id, "renewal failed: {e}"),
                Err(_) => tracing::warn!(resource = %id, "renewal timed out"),
            }
        }
    }

    /// Stop everything that runs here (the guard, on losing contact with a quorate
    /// DC; a clean shutdown; fencing by the DC). Returns the resources whose stop
    /// failed: they still count as running (so a watchdog is not fed for them).
    pub async fn stop_all(&self, why: &str) -> Vec<String> {
        self.stop_where(why, |_| true).await
    }

    /// `no-quorum-policy=demote`: demote what runs promoted here (its promoted-role
    /// monitors cancelled), stop what is not an instance of a promotable clone, leave
    /// unpromoted instances running. Returns what could not be demoted or stopped.
    pub async fn demote_or_stop(&self, why: &str) -> Vec<String> {
        let promoted: Vec<(String, WireOp)> = locked(&self.inner.running)
            .iter()
            .filter(|(_, op)| op.task == "promote")
            .map(|(id, op)| (id.clone(), op.clone()))
            .collect();
        let mut failed = Vec::new();
        for (id, op) in promoted {
            // The monitors of the promoted role would now report a failure.
            let cancel: Vec<(String, Recurring)> = {
                let mut rec = locked(&self.inner.recurring);
                let keys: Vec<String> = rec
                    .iter()
                    .filter(|(_, r)| {
                        r.dispatch.op.status_id() == id && r.dispatch.op.expected_rc == Some(8)
                    })
                    .map(|(k, _)| k.clone())
                    .collect();
                keys.into_iter()
                    .filter_map(|k| rec.remove(&k).map(|r| (k, r)))
                    .collect()
            };
            for (_, r) in &cancel {
                let interval = Duration::from_millis(r.dispatch.op.interval_ms);
                self.inner.exec.cancel_recurring(&id, "monitor", interval);
            }
            let mut demote = op.clone();
            demote.task = "demote".into();
            demote.interval_ms = 0;
            demote.probe = false;
            demote.expected_rc = None;
            let result = self.inner.exec.execute(self.inner.request(&demote)).await;
            if result.is_success() {
                tracing::warn!(resource = %id, "{why}: demoted");
                locked(&self.inner.running).insert(id, demote);
            } else {
                tracing::error!(resource = %id, rc = result.rc, "{why}: the demote FAILED");
                failed.push(id);
            }
        }
        failed.extend(
            self.stop_where(why, |op| !op.meta.contains_key("promoted_max"))
                .await,
        );
        failed
    }

    /// Stop what runs here and matches `which`, in parallel. Returns what could not be
    /// stopped (still counted as running).
    async fn stop_where(&self, why: &str, which: impl Fn(&WireOp) -> bool) -> Vec<String> {
        let all: Vec<(String, WireOp)> = {
            let mut running = locked(&self.inner.running);
            let chosen: Vec<String> = running
                .iter()
                .filter(|(_, op)| which(op))
                .map(|(id, _)| id.clone())
                .collect();
            chosen
                .into_iter()
                .filter_map(|id| running.remove(&id).map(|op| (id, op)))
                .collect()
        };
        locked(&self.inner.recurring)
            .retain(|_, r| !all.iter().any(|(id, _)| *id == r.dispatch.op.status_id()));
        let stops: Vec<_> = all
            .iter()
            .map(|(id, op)| {
                let inner = self.inner.clone();
                let (id, why) = (id.clone(), why.to_string());
                let mut stop = op.clone();
                stop.task = "stop".into();
                stop.interval_ms = 0;
                stop.probe = false;
                stop.expected_rc = None;
                tokio::spawn(async move {
                    let lock = is_vip(&stop).then(|| inner.vip_lock(&id));
                    let _held = match &lock {
                        Some(l) => Some(l.lock().await),
                        None => None,
                    };
                    let result = inner.exec.execute(inner.request(&stop)).await;
                    if result.is_success() {
                        tracing::warn!(resource = %id, "{why}: stopped");
                        None
                    } else {
                        tracing::error!(resource = %id, rc = result.rc, reason = ?result.exit_reason, "{why}: the stop FAILED");
                        Some(id)
                    }
                })
            })
            .collect();
        let mut failed = Vec::new();
        for (s, (id, op)) in stops.into_iter().zip(all) {
            if let Ok(Some(_)) | Err(_) = s.await {
                locked(&self.inner.running).insert(id.clone(), op);
                failed.push(id);
            }
        }
        failed
    }
}

/// A virtual IP's parameters as the cluster runs it: with the cluster's lifetime.
fn vip_params(params: &BTreeMap<String, String>) -> BTreeMap<String, String> {
    let mut p = params.clone();
    let configured = p
        .get("lifetime")
        .and_then(|v| halo_model::duration::parse_duration_ms(v).ok());
    if configured.is_none_or(|ms| ms > VIP_LIFETIME.as_millis() as u64) {
        p.insert("lifetime".into(), format!("{}ms", VIP_LIFETIME.as_millis()));
    }
    p
}

impl Inner {
    fn vip_lock(&self, id: &str) -> Arc<tokio::sync::Mutex<()>> {
        locked(&self.vip_locks)
            .entry(id.to_string())
            .or_default()
            .clone()
    }

    fn next_call_id(&self) -> i64 {
        let now_us = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_micros() as i64)
            .unwrap_or(0);
        let mut c = locked(&self.call_id);
        *c = (*c + 1).max(now_us);
        *c
    }

    fn request(&self, op: &WireOp) -> OpRequest {
        let params = if is_vip(op) {
            vip_params(&op.params)
        } else {
            op.params.clone()
        };
        let agent = AgentRef {
            class: op.class.clone(),
            provider: op.provider.clone(),
            kind: op.agent_type.clone(),
        };
        let mut req = OpRequest::new(op.status_id(), agent, op.task.clone())
            .with_params(params)
            .with_interval(Duration::from_millis(op.interval_ms));
        req.meta = op.meta.clone();
        if op.timeout_ms > 0 {
            req = req.with_timeout(Duration::from_millis(op.timeout_ms));
        }
        if let Some(rc) = op.expected_rc {
            req = req.with_target_rc(rc);
        }
        req.check_level = op.params.get("OCF_CHECK_LEVEL").cloned();
        req
    }

    /// Whether the result is a failure to count, and how.
    fn fail_bump(&self, op: &WireOp, rc: i32, status: i32) -> Option<FailBump> {
        let ok = status == 0 && rc == op.target_rc();
        if ok {
            return None;
        }
        // A probe that finds the resource running (or promoted, or stopped) is news,
        // not a failure.
        if op.probe && status == 0 && matches!(rc, 0 | 7 | 8) {
            return None;
        }
        match op.task.as_str() {
            "stop" => Some(FailBump::Infinity),
            "start" => {
                let fatal = self
                    .node
                    .read_local()
                    .and_then(|a| a.state.config.to_model().ok())
                    .and_then(|c| c.properties.get("start-failure-is-fatal").cloned())
                    .map(|v| !matches!(v.as_str(), "false" | "no" | "0" | "off"))
                    .unwrap_or(true);
                Some(if fatal {
                    FailBump::Infinity
                } else {
                    FailBump::Increment
                })
            }
            _ => Some(FailBump::Increment),
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn stored(
        &self,
        d: &Dispatch,
        task: &str,
        rc: i32,
        status: i32,
        started_ms: u64,
        exec_ms: u64,
        exit_reason: Option<String>,
    ) -> StoredOp {
        let op = &d.op;
        let mut digest_params = op.params.clone();
        if op.interval_ms > 0 {
            digest_params.insert("CRM_meta_timeout".into(), op.timeout_ms.to_string());
        }
        StoredOp {
            resource: op.status_id(),
            agent: Some(op.agent_spec()),
            operation: task.to_string(),
            interval_ms: op.interval_ms,
            rc,
            call_id: self.next_call_id(),
            time_ms: started_ms,
            exit_reason,
            op_status: status,
            target_rc: Some(op.target_rc()),
            transition_key: Some(d.transition_key()),
            op_digest: Some(halo_sched::digest::digest(&digest_params)),
            op_restart_digest: None,
            exec_ms,
            queue_ms: 0,
            last_rc_change_ms: started_ms,
            fail: self.fail_bump(op, rc, status),
        }
    }

    async fn commit(&self, op: StoredOp) -> Result<(), String> {
        self.node
            .propose(Change::RecordOp {
                node: self.node.name(),
                op,
            })
            .await
            .map(|_| ())
            .map_err(|e| e.to_string())
    }

    fn record(&self, op: StoredOp) {
        let _ = self.records.send(Change::RecordOp {
            node: self.node.name(),
            op,
        });
    }

    fn track(&self, op: &WireOp, rc: i32, status: i32) {
        let id = op.status_id();
        let mut running = locked(&self.running);
        let ok = status == 0;
        match op.task.as_str() {
            "start" | "promote" | "demote" | "migrate_from" if ok && rc == 0 => {
                running.insert(id, op.clone());
            }
            "stop" | "migrate_to" if ok && rc == 0 => {
                running.remove(&id);
            }
            "monitor" if op.interval_ms == 0 && ok => {
                if matches!(rc, 0 | 8) {
                    running.entry(id).or_insert_with(|| op.clone());
                } else if rc == 7 {
                    running.remove(&id);
                }
            }
            _ => {}
        }
    }

    fn one_shot_result(&self, d: &Dispatch, r: &OpResult) {
        let status = r.status.code();
        self.track(&d.op, r.rc, status);
        let op = self.stored(
            d,
            &d.op.task,
            r.rc,
            status,
            r.started_ms.max(0) as u64,
            r.duration_ms,
            r.exit_reason.clone(),
        );
        self.record(op);
    }

    fn recurring_result(&self, r: &OpResult) {
        let key = r.op_key();
        let (d, changed_ms) = {
            let mut rec = locked(&self.recurring);
            let Some(entry) = rec.get_mut(&key) else {
                return;
            };
            let now = r.started_ms.max(0) as u64;
            if entry.last_rc != Some(r.rc) {
                entry.last_rc = Some(r.rc);
                entry.last_rc_change_ms = now;
            }
            (entry.dispatch.clone(), entry.last_rc_change_ms)
        };
        let mut op = self.stored(
            &d,
            &d.op.task,
            r.rc,
            r.status.code(),
            r.started_ms.max(0) as u64,
            r.duration_ms,
            r.exit_reason.clone(),
        );
        op.last_rc_change_ms = changed_ms;
        self.record(op);
    }
}
