//! Agents built into halo, and the interface new ones implement.
//!
//! A builtin is a type implementing [`BuiltinAgent`], registered in an
//! [`AgentRegistry`] under its name; it is then addressed as `halo:NAME`. The executor
//! gives builtins the same treatment as scripts: per-resource serialization, the
//! operation timeout, result recording and fail counts. `meta-data` is answered by the
//! executor from [`BuiltinAgent::metadata`].
//!
//! `halo:vip` and `halo:lb` are such adapters over the vip and lb crates.

use std::collections::BTreeMap;
use std::future::Future;
use std::path::Path;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use halo_model::Attrs;

use crate::metadata::AgentMetadata;
use crate::rc::ocf;

pub mod dummy;
pub mod lb;
pub mod process;
pub mod vip;

/// A boxed, sendable future (what [`BuiltinAgent::run`] returns).
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// One operation for a builtin agent.
#[derive(Debug, Clone, Copy)]
pub struct BuiltinCall<'a> {
    /// The node this runs on.
    pub node: &'a str,
    pub resource: &'a str,
    pub action: &'a str,
    pub params: &'a Attrs,
    pub meta: &'a Attrs,
    pub interval: Duration,
    /// The operation's timeout. The executor enforces it by dropping the future.
    pub timeout: Duration,
    pub check_level: Option<&'a str>,
    /// A directory the agent may keep state in (pid files, state files).
    pub state_dir: &'a Path,
}

/// What a builtin agent answers: an OCF rc, an optional exit reason and output.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BuiltinOutcome {
    pub rc: i32,
    pub exit_reason: Option<String>,
    pub output: String,
}

impl BuiltinOutcome {
    pub fn ok() -> Self {
        Self::default()
    }

    pub fn rc(rc: i32) -> Self {
        BuiltinOutcome {
            rc,
            ..Default::default()
        }
    }

    pub fn fail(rc: i32, reason: impl Into<String>) -> Self {
        BuiltinOutcome {
            rc,
            exit_reason: Some(reason.into()),
            output: String::new(),
        }
    }

    pub fn unimplemented(action: &str) -> Self {
        Self::fail(
            ocf::ERR_UNIMPLEMENTED,
            format!("action \"{action}\" is not implemented"),
        )
    }
}

/// An agent implemented inside halo.
///
/// Contract: `run` must be cancel-safe. The executor drops the future when the
/// operation times out (or is abandoned), so every `.await` point must leave the
/// agent's state consistent (e.g. a process is registered as soon as it is spawned,
/// so that a later `stop` finds it). `run` is never called for `meta-data`.
pub trait BuiltinAgent: Send + Sync + 'static {
    /// The type name: the agent is `halo:NAME`.
    fn name(&self) -> &str;
    /// Parameters and actions, as OCF meta-data would describe them.
    fn metadata(&self) -> AgentMetadata;
    /// Run `call.action` and answer with an OCF rc.
    fn run<'a>(&'a self, call: BuiltinCall<'a>) -> BoxFuture<'a, BuiltinOutcome>;
}

/// The builtin agents of one executor, by name.
#[derive(Clone, Default)]
pub struct AgentRegistry {
    builtins: BTreeMap<String, Arc<dyn BuiltinAgent>>,
    /// The load balancer engines of `halo:lb`, when registered.
    lb: Option<Arc<halo_lb::agent::LbAgent>>,
}

impl AgentRegistry {
    /// An empty registry.
    pub fn new() -> Self {
        Self::default()
    }

    /// `halo:dummy` and `halo:process`.
    pub fn with_defaults() -> Self {
        let mut r = Self::new();
        r.register(Arc::new(dummy::Dummy));
        r.register(Arc::new(process::ProcessAgent::new()));
        let lb = lb::LbBuiltin::new();
        r.lb = Some(lb.engines());
        r.register(Arc::new(vip::VipAgent::new(r.lb.clone())));
        r.register(Arc::new(lb));
        r
    }

    /// The load balancer engines `halo:lb` runs on this node.
    pub fn lb(&self) -> Option<Arc<halo_lb::agent::LbAgent>> {
        self.lb.clone()
    }

    /// Add (or replace) a builtin under its name.
    pub fn register(&mut self, agent: Arc<dyn BuiltinAgent>) {
        self.builtins.insert(agent.name().to_string(), agent);
    }

    pub fn get(&self, name: &str) -> Option<Arc<dyn BuiltinAgent>> {
        self.builtins.get(name).cloned()
    }

    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.builtins.keys().map(String::as_str)
    }
}

/// A parameter as a duration (bare numbers are seconds), or a default.
pub(crate) fn duration_param(
    params: &Attrs,
    name: &str,
    default: Duration,
) -> Result<Duration, BuiltinOutcome> {
    match params.get(name) {
        None => Ok(default),
        Some(v) => crate::duration::parse_duration(v).ok_or_else(|| {
            BuiltinOutcome::fail(
                ocf::ERR_CONFIGURED,
                format!("parameter {name}=\"{v}\" is not a duration (e.g. 500ms, 5s)"),
            )
        }),
    }
}

/// A state file name safe for any resource id.
pub(crate) fn file_safe(resource: &str) -> String {
    resource
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' || c == '.' {
                c
            } else {
                '_'
            }
        })
        .collect()
}
