//! The engine side of the builtin `halo:lb` resource agent: start, stop and monitor a
//! load balancer engine for a configuration held by the cluster, inside the node daemon.
//!
//! The executor's builtin-agent trait wraps [`LbAgent`]: `start` → [`LbAgent::start`],
//! `stop` → [`LbAgent::stop`], `monitor` → [`LbAgent::monitor`] (whose
//! [`AgentStatus::ocf_rc`] gives the OCF exit code), `reload` → [`LbAgent::start`] with
//! the new configuration (a running instance reloads in place, without dropping
//! connections). Every operation is idempotent, as OCF requires.

use crate::config::{native, Config};
use crate::engine::{Engine, EngineError, EngineOptions};
use std::collections::{BTreeMap, HashMap};
use std::sync::Mutex;
use std::time::Duration;

/// Why an agent operation failed.
#[derive(Debug, thiserror::Error)]
pub enum AgentError {
    #[error("HALO-E130 resource {id}: missing parameter: give `config` (native TOML or HAProxy text) or `file`")]
    NoConfig { id: String },
    #[error("HALO-E131 resource {id}: {reason}")]
    Invalid { id: String, reason: String },
    #[error("HALO-E132 resource {id}: {source}")]
    Engine { id: String, source: EngineError },
}

impl AgentError {
    /// OCF exit code for this failure: 6 (not configured) for a bad configuration, 1
    /// (generic error) otherwise.
    pub fn ocf_rc(&self) -> i32 {
        match self {
            AgentError::NoConfig { .. } | AgentError::Invalid { .. } => 6,
            AgentError::Engine { .. } => 1,
        }
    }
}

/// What `monitor` found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AgentStatus {
    Running,
    Stopped,
    /// Started but not healthy (a listener or the runtime died).
    Failed(String),
}

impl AgentStatus {
    /// OCF exit code: 0 running, 7 not running, 1 failed.
    pub fn ocf_rc(&self) -> i32 {
        match self {
            AgentStatus::Running => 0,
            AgentStatus::Stopped => 7,
            AgentStatus::Failed(_) => 1,
        }
    }
}

struct Instance {
    engine: Engine,
    config: Config,
}

/// The engines this node runs, by resource id.
#[derive(Default)]
pub struct LbAgent {
    instances: Mutex<HashMap<String, Instance>>,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl LbAgent {
    pub fn new() -> LbAgent {
        LbAgent::default()
    }

    /// Reads the configuration from resource parameters: `config` (the text, native TOML
    /// or HAProxy language) or `file` (a path on the node).
    pub fn config_from_params(
        id: &str,
        params: &BTreeMap<String, String>,
    ) -> Result<Config, AgentError> {
        let (text, name) = match (params.get("config"), params.get("file")) {
            (Some(t), _) => (t.clone(), format!("resource {id} parameter config")),
            (None, Some(f)) => (
                std::fs::read_to_string(f).map_err(|e| AgentError::Invalid {
                    id: id.into(),
                    reason: format!("cannot read {f}: {e}"),
                })?,
                f.clone(),
            ),
            (None, None) => return Err(AgentError::NoConfig { id: id.into() }),
        };
        native::parse_any(&text, &name)
            .map(|p| p.config)
            .map_err(|e| AgentError::Invalid {
                id: id.into(),
                reason: e.to_string(),
            })
    }

    /// Starts an engine for `id`; if one runs already, applies `config` by reloading
    /// (nothing happens when it is unchanged).
    pub fn start(&self, id: &str, config: Config) -> Result<(), AgentError> {
        let mut map = lock(&self.instances);
        if let Some(inst) = map.get_mut(id) {
            if inst.config != config {
                inst.engine
                    .reload(config.clone())
                    .map_err(|source| AgentError::Engine {
                        id: id.into(),
                        source,
                    })?;
                inst.config = config;
            }
            return Ok(());
        }
        let engine = Engine::start(config.clone(), EngineOptions::default()).map_err(|source| {
            AgentError::Engine {
                id: id.into(),
                source,
            }
        })?;
        map.insert(id.to_string(), Instance { engine, config });
        Ok(())
    }

    /// Stops the engine of `id`, letting sessions finish for up to `grace`. Stopping
    /// what is not running succeeds.
    pub fn stop(&self, id: &str, grace: Duration) {
        let inst = lock(&self.instances).remove(id);
        if let Some(i) = inst {
            i.engine.stop(grace);
        }
    }

    pub fn monitor(&self, id: &str) -> AgentStatus {
        match lock(&self.instances).get(id) {
            None => AgentStatus::Stopped,
            Some(i) if i.engine.is_healthy() => AgentStatus::Running,
            Some(_) => AgentStatus::Failed("a listener of the engine stopped".into()),
        }
    }

    /// Tells every engine that the hosts at `ips` left the cluster (see
    /// [`Engine::hosts_lost`]); returns how many servers were marked down.
    pub fn hosts_lost(&self, ips: &[std::net::IpAddr]) -> usize {
        if ips.is_empty() {
            return 0;
        }
        lock(&self.instances)
            .values()
            .map(|i| i.engine.hosts_lost(ips))
            .sum()
    }

    /// Tells every engine which hosts the cluster holds back (see
    /// [`Engine::hold_hosts`]); returns how many servers are held.
    pub fn hold_hosts(&self, ips: &[std::net::IpAddr]) -> usize {
        lock(&self.instances)
            .values()
            .map(|i| i.engine.hold_hosts(ips))
            .sum()
    }

    /// Pauses every engine's listeners on `ip` (see [`Engine::quiesce`]) until the
    /// returned value is dropped.
    pub fn quiesce(&self, ip: std::net::IpAddr) -> Vec<crate::engine::Quiesce> {
        lock(&self.instances)
            .values()
            .map(|i| i.engine.quiesce(ip))
            .filter(|q| !q.is_empty())
            .collect()
    }

    /// Sessions open on the engine of `id` (for draining decisions).
    pub fn sessions(&self, id: &str) -> Option<u64> {
        lock(&self.instances)
            .get(id)
            .map(|i| i.engine.current_sessions())
    }
}
