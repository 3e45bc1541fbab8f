//! The executor: per-resource serialization, parallelism across resources, recurring
//! monitors, result records, fail counts, reporting to a `ResultSink`.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, SystemTime};

use halo_model::AgentRef;
use tokio::sync::{watch, Semaphore};
use tokio::task::JoinHandle;

use crate::agent::{list_agents, AgentFilter};
use crate::builtin::AgentRegistry;
use crate::config::ExecConfig;
use crate::error::ExecError;
use crate::failcount::{FailCount, FailCounts, FailKey};
use crate::fence::resource::{run_resource_op, FenceRegistry};
use crate::fence::FenceDevice;
use crate::metadata::AgentMetadata;
use crate::op::{op_key, unix_ms, OpRequest, OpResult};
use crate::rc::ExecStatus;
use crate::run::{run_request, Raw};
use crate::sink::{ExecEvent, ResultSink};

/// Runs agents on this node on the cluster's behalf. Cheap to clone (shared state).
#[derive(Clone)]
pub struct Executor {
    inner: Arc<Inner>,
}

struct Recurring {
    resource: String,
    cancel: watch::Sender<bool>,
    task: JoinHandle<()>,
}

struct Inner {
    config: ExecConfig,
    registry: AgentRegistry,
    sink: Arc<dyn ResultSink>,
    /// One lock per resource: its operations run one at a time, in arrival order.
    locks: Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>,
    recurring: Mutex<HashMap<String, Recurring>>,
    /// The last result of every operation key.
    history: Mutex<HashMap<String, OpResult>>,
    fail_counts: Mutex<FailCounts>,
    call_id: AtomicU64,
    permits: Arc<Semaphore>,
    metadata: Mutex<HashMap<String, Arc<AgentMetadata>>>,
    /// Fence devices registered by the start of their `stonith:` resource.
    fence: FenceRegistry,
}

/// Lock a std mutex, recovering the data if a panicking thread poisoned it.
fn locked<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl Executor {
    /// An executor with `config`, the builtins of `registry`, reporting to `sink`.
    /// Creates `HA_RSCTMP` and the state directory when missing (a failure is logged:
    /// agents that need them will then fail and say so).
    pub fn new(config: ExecConfig, registry: AgentRegistry, sink: Arc<dyn ResultSink>) -> Self {
        for dir in [&config.rsctmp, &config.state_dir] {
            if let Err(e) = std::fs::create_dir_all(dir) {
                tracing::warn!("cannot create {}: {e}", dir.display());
            }
        }
        if config.subreaper {
            if let Err(e) = crate::spawn::become_subreaper() {
                tracing::warn!("cannot become a child subreaper: {e}");
            }
        }
        let permits = Arc::new(Semaphore::new(config.max_concurrent.max(1)));
        Executor {
            inner: Arc::new(Inner {
                config,
                registry,
                sink,
                locks: Mutex::new(HashMap::new()),
                recurring: Mutex::new(HashMap::new()),
                history: Mutex::new(HashMap::new()),
                fail_counts: Mutex::new(FailCounts::default()),
                call_id: AtomicU64::new(1),
                permits,
                metadata: Mutex::new(HashMap::new()),
                fence: FenceRegistry::default(),
            }),
        }
    }

    pub fn config(&self) -> &ExecConfig {
        &self.inner.config
    }

    pub fn registry(&self) -> &AgentRegistry {
        &self.inner.registry
    }

    /// Run one operation and record its result. Operations of one resource run one at
    /// a time in the order they were requested; other resources are not held up.
    /// A `stop` (or `migrate_to`) first cancels the resource's recurring operations.
    pub async fn execute(&self, req: OpRequest) -> OpResult {
        if req.action == "stop" || req.action == "migrate_to" {
            self.cancel_resource(&req.resource);
        }
        let lock = self.inner.lock_for(&req.resource);
        let _guard = lock.lock().await;
        let result = self.inner.run_locked(&req).await;
        self.inner.record(result, false)
    }

    /// Start a recurring operation (a monitor with an interval): it runs now, then
    /// `interval` after each completion, until cancelled. Its first result and every
    /// change of rc or status are reported. Must be called inside a tokio runtime.
    /// Replaces a recurring operation with the same key.
    pub fn start_recurring(&self, req: OpRequest) -> Result<(), ExecError> {
        if req.interval.is_zero() {
            return Err(ExecError::BadRequest {
                resource: req.resource.clone(),
                reason: format!("recurring {} needs an interval above 0", req.action),
            });
        }
        let key = req.op_key();
        // A new recurring operation reports its first result even when an earlier one
        // with the same key (before a stop, say) ended with the same answer.
        locked(&self.inner.history).remove(&key);
        let (tx, rx) = watch::channel(false);
        let resource = req.resource.clone();
        let inner = self.inner.clone();
        let task = tokio::spawn(recurring_loop(inner, req, rx));
        let old = locked(&self.inner.recurring).insert(
            key,
            Recurring {
                resource,
                cancel: tx,
                task,
            },
        );
        if let Some(old) = old {
            let _ = old.cancel.send(true);
        }
        Ok(())
    }

    /// Cancel one recurring operation; false when there was none. An execution in
    /// flight finishes (within its timeout) and its result is discarded.
    pub fn cancel_recurring(&self, resource: &str, action: &str, interval: Duration) -> bool {
        let key = op_key(resource, action, interval.as_millis() as u64);
        match locked(&self.inner.recurring).remove(&key) {
            Some(r) => {
                let _ = r.cancel.send(true);
                true
            }
            None => false,
        }
    }

    /// Cancel every recurring operation of a resource; returns how many.
    pub fn cancel_resource(&self, resource: &str) -> usize {
        let mut map = locked(&self.inner.recurring);
        let keys: Vec<String> = map
            .iter()
            .filter(|(_, r)| r.resource == resource)
            .map(|(k, _)| k.clone())
            .collect();
        for k in &keys {
            if let Some(r) = map.remove(k) {
                let _ = r.cancel.send(true);
            }
        }
        keys.len()
    }

    /// Keys of the recurring operations currently scheduled.
    pub fn recurring_keys(&self) -> Vec<String> {
        let mut keys: Vec<String> = locked(&self.inner.recurring).keys().cloned().collect();
        keys.sort();
        keys
    }

    /// The last result of an operation key (`RSC_ACTION_INTERVALMS`).
    pub fn last_result(&self, op_key: &str) -> Option<OpResult> {
        locked(&self.inner.history).get(op_key).cloned()
    }

    /// The last result of every operation of a resource, by call id.
    pub fn results_of(&self, resource: &str) -> Vec<OpResult> {
        let mut v: Vec<OpResult> = locked(&self.inner.history)
            .values()
            .filter(|r| r.resource == resource)
            .cloned()
            .collect();
        v.sort_by_key(|r| r.call_id);
        v
    }

    /// The total fail count of a resource on this node.
    pub fn fail_count(&self, resource: &str) -> u32 {
        locked(&self.inner.fail_counts).total(resource)
    }

    /// Every fail count of this node.
    pub fn fail_counts(&self) -> Vec<(FailKey, FailCount)> {
        locked(&self.inner.fail_counts).all()
    }

    /// Reset fail counts and forget failed results, for one resource or all
    /// (`halo resource cleanup`). Returns how many fail counts were removed.
    pub fn cleanup(&self, resource: Option<&str>) -> usize {
        let n = locked(&self.inner.fail_counts).clear(resource);
        locked(&self.inner.history)
            .retain(|_, r| r.is_success() || resource.is_some_and(|x| r.resource != x));
        self.inner.sink.record(ExecEvent::Cleanup {
            node: self.inner.config.node.clone(),
            resource: resource.map(str::to_string),
        });
        n
    }

    /// The agent's meta-data, read once and cached.
    pub async fn metadata(&self, agent: &AgentRef) -> Result<Arc<AgentMetadata>, ExecError> {
        let name = agent.to_string();
        if let Some(m) = locked(&self.inner.metadata).get(&name) {
            return Ok(m.clone());
        }
        // As Pacemaker asks for meta-data: the agent's type stands for the resource.
        let req = OpRequest::new(agent.kind.clone(), agent.clone(), "meta-data");
        let raw = run_request(
            &self.inner.config,
            &self.inner.registry,
            &req,
            self.inner.config.default_timeout,
        )
        .await;
        if raw.status != ExecStatus::Done || raw.rc != 0 {
            return Err(ExecError::Metadata {
                agent: name,
                reason: format!(
                    "meta-data {} with rc {}{}",
                    raw.status,
                    raw.rc,
                    raw.exit_reason
                        .map(|r| format!(": {r}"))
                        .unwrap_or_default()
                ),
            });
        }
        let md = Arc::new(AgentMetadata::parse(&raw.stdout, &name)?);
        locked(&self.inner.metadata).insert(name, md.clone());
        Ok(md)
    }

    /// The fence device of a started `stonith:` resource (registered by its start,
    /// even when the start's monitor failed, until its stop), to fence through.
    pub fn fence_device(&self, resource: &str) -> Option<Arc<FenceDevice>> {
        self.inner.fence.get(resource)
    }

    /// Every fence device registered by the start of its `stonith:` resource and not
    /// stopped since (as the fencer's device list), by id.
    pub fn fence_devices(&self) -> Vec<Arc<FenceDevice>> {
        self.inner.fence.all()
    }

    /// Whether the last start of a `stonith:` resource succeeded and no stop
    /// followed (what a probe of it answers).
    pub fn fence_device_running(&self, resource: &str) -> bool {
        self.inner.fence.is_running(resource)
    }

    /// The installed agents matching `filter`.
    pub fn list_agents(&self, filter: &AgentFilter) -> Vec<AgentRef> {
        list_agents(&self.inner.config, &self.inner.registry, filter)
    }

    /// Cancel every recurring operation and wait for their tasks to end.
    pub async fn shutdown(&self) {
        let all: Vec<Recurring> = locked(&self.inner.recurring)
            .drain()
            .map(|(_, r)| r)
            .collect();
        for r in &all {
            let _ = r.cancel.send(true);
        }
        for r in all {
            let _ = r.task.await;
        }
    }
}

impl Inner {
    fn lock_for(&self, resource: &str) -> Arc<tokio::sync::Mutex<()>> {
        locked(&self.locks)
            .entry(resource.to_string())
            .or_default()
            .clone()
    }

    /// Run with the resource's lock held: wait for a slot, run, build the result.
    async fn run_locked(&self, req: &OpRequest) -> OpResult {
        let timeout = req.timeout.unwrap_or(self.config.default_timeout);
        let call_id = self.call_id.fetch_add(1, Ordering::Relaxed);
        let permit = self.permits.acquire().await;
        let started = SystemTime::now();
        let t0 = tokio::time::Instant::now();
        let raw = match permit {
            Ok(_permit) if req.agent.class == "stonith" && req.action != "meta-data" => {
                run_resource_op(&self.fence, &self.config, req, timeout).await
            }
            Ok(_permit) => run_request(&self.config, &self.registry, req, timeout).await,
            Err(_) => Raw::fail(1, ExecStatus::Error, "the executor is shutting down"),
        };
        let duration = t0.elapsed();
        tracing::debug!(
            resource = %req.resource, action = %req.action, rc = raw.rc,
            status = %raw.status, ms = duration.as_millis() as u64, "operation done"
        );
        OpResult {
            call_id,
            node: self.config.node.clone(),
            resource: req.resource.clone(),
            agent: req.agent.to_string(),
            action: req.action.clone(),
            interval_ms: req.interval.as_millis() as u64,
            rc: raw.rc,
            status: raw.status,
            exit_reason: raw.exit_reason,
            started_ms: unix_ms(started),
            duration_ms: duration.as_millis() as u64,
            stdout: raw.stdout,
            stderr: raw.stderr,
            target_rc: req.target_rc,
            last_rc_change_ms: unix_ms(started),
            pid: raw.pid,
        }
    }

    /// Keep the result, count a failure, report to the sink. A recurring result is
    /// reported only when it differs (rc or status) from the previous one.
    fn record(&self, mut result: OpResult, recurring: bool) -> OpResult {
        if result.action == "meta-data" {
            return result;
        }
        let changed = {
            let mut history = locked(&self.history);
            let prev = history.get(&result.op_key());
            let changed = prev.is_none_or_differs(&result);
            if let Some(p) = prev {
                if p.rc == result.rc {
                    result.last_rc_change_ms = p.last_rc_change_ms;
                }
            }
            history.insert(result.op_key(), result.clone());
            changed
        };
        if recurring && !changed {
            return result;
        }
        self.sink.record(ExecEvent::Result(result.clone()));
        if !result.is_success() && result.action != "validate-all" {
            let key = FailKey {
                resource: result.resource.clone(),
                node: self.config.node.clone(),
                operation: result.action.clone(),
                interval_ms: result.interval_ms,
            };
            let fc = locked(&self.fail_counts).increment(key.clone(), unix_ms(SystemTime::now()));
            self.sink.record(ExecEvent::FailCount {
                key,
                count: fc.count,
                last_failure_ms: fc.last_failure_ms,
            });
        }
        result
    }
}

trait PrevExt {
    fn is_none_or_differs(&self, r: &OpResult) -> bool;
}
impl PrevExt for Option<&OpResult> {
    fn is_none_or_differs(&self, r: &OpResult) -> bool {
        match self {
            None => true,
            Some(p) => p.rc != r.rc || p.status != r.status,
        }
    }
}

async fn recurring_loop(inner: Arc<Inner>, req: OpRequest, mut cancel: watch::Receiver<bool>) {
    loop {
        if *cancel.borrow() {
            return;
        }
        let lock = inner.lock_for(&req.resource);
        let guard = tokio::select! {
            g = lock.lock() => g,
            _ = cancel.changed() => return,
        };
        if *cancel.borrow() {
            return;
        }
        let result = inner.run_locked(&req).await;
        drop(guard);
        if *cancel.borrow() {
            // Cancelled while running (e.g. by a stop): the result is stale.
            return;
        }
        inner.record(result, true);
        tokio::select! {
            _ = tokio::time::sleep(req.interval) => {}
            _ = cancel.changed() => return,
        }
    }
}
