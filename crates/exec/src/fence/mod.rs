//! Fence devices: running the fence agents of the fence-agents package as
//! Pacemaker 2.1's fencer (pacemaker-fenced) runs them.
//!
//! * The agent `ExecConfig::fence_agent_dir/fence_NAME` gets its arguments as
//!   `key=value` lines on stdin: `action=...`, for an action on a node `nodename=NODE`
//!   and the node's plug under the agent's target parameter (`port`, else `plug`;
//!   `port` when the meta-data has neither, as Pacemaker does; `pcmk_host_argument`
//!   chooses another or `none`), the plug being the node's entry in `pcmk_host_map`
//!   or the node name; then the device's parameters except those Pacemaker
//!   interprets itself ([`params::is_pacemaker_param`]). Exit code 0 is success;
//!   `status` answers 0 (on), 2 (off) or 1 (error); `list` prints `plug,alias` lines.
//! * Which nodes a device can fence: `pcmk_host_check` (`static-list` when
//!   `pcmk_host_list` or `pcmk_host_map` is given, else `dynamic-list` when the agent
//!   has `list`, else `status` when it has `status`, else `none`).
//! * Before `off`/`reboot`: `pcmk_delay_base` (per node with `node:delay`) plus a
//!   random delay below `pcmk_delay_max`. `pcmk_ACTION_action` renames the action
//!   sent to the agent, `pcmk_ACTION_timeout` replaces the timeout,
//!   `pcmk_ACTION_retries` (default 2) bounds the attempts: a failed attempt is
//!   retried after 1 s while less than 70 % of the timeout has passed and it did
//!   not time out. A reboot is done as `off` when the agent has no `reboot`.
//!   `pcmk_action_limit` (default 1) actions run on a device at a time.
//! * A timeout kills the agent's whole process group.
//!
//! This is a library: it decides nothing about when to fence (the controller's job).
//! The executor runs `stonith:` resources with it ([`crate::Executor::execute`]):
//! start registers the device and runs its `monitor`, stop unregisters it, a
//! recurring monitor runs the agent's `monitor`, a probe answers from the
//! registration, meta-data is the agent's (as Pacemaker shows it).

pub mod agent;
pub mod params;
pub(crate) mod resource;

use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use serde::Serialize;
use tokio::sync::{OnceCell, Semaphore};
use tokio::time::Instant;

use halo_model::Attrs;

use crate::config::ExecConfig;
use crate::duration::parse_duration;
use crate::error::ExecError;
use crate::op::unix_ms;
use crate::rc::{ocf, ExecStatus};

pub use agent::{pacemaker_metadata, FenceAgentInfo};
use agent::{run_agent, run_metadata, AgentRun};
pub use params::{is_pacemaker_param, parse_host_map, parse_targets};

/// Fence agents are the executables named `fence_*` (as Pacemaker lists them).
pub const AGENT_PREFIX: &str = "fence_";
/// Timeout of an action when none is given (Pacemaker's `stonith-timeout` default).
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(60);
/// How long a `dynamic-list` answer is reused (Pacemaker: 60 s).
pub const LIST_MAX_AGE: Duration = Duration::from_secs(60);
/// Timeout of the meta-data action (Pacemaker's fencer: 10 s).
const METADATA_TIMEOUT: Duration = Duration::from_secs(10);
/// Attempts of an action unless `pcmk_ACTION_retries` says otherwise.
const DEFAULT_TRIES: u32 = 2;
/// Pause before another attempt.
const RETRY_PAUSE: Duration = Duration::from_secs(1);

/// A fencing action on a node.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum FenceAction {
    Reboot,
    Off,
    On,
}

impl FenceAction {
    pub fn as_str(self) -> &'static str {
        match self {
            FenceAction::Reboot => "reboot",
            FenceAction::Off => "off",
            FenceAction::On => "on",
        }
    }

    pub fn parse(s: &str) -> Option<FenceAction> {
        match s {
            "reboot" => Some(FenceAction::Reboot),
            "off" | "poweroff" => Some(FenceAction::Off),
            "on" => Some(FenceAction::On),
            _ => None,
        }
    }

    /// Whether the action takes a node down (and so waits for the fencing delay).
    pub fn is_fencing(self) -> bool {
        matches!(self, FenceAction::Reboot | FenceAction::Off)
    }
}

impl std::fmt::Display for FenceAction {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// How a device decides which nodes it can fence (`pcmk_host_check`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum HostCheck {
    /// Every node.
    None,
    /// The nodes of `pcmk_host_list` and `pcmk_host_map`.
    StaticList,
    /// The targets the agent's `list` prints (kept for 60 s).
    DynamicList,
    /// The agent's `status` of the node answers 0 or 2.
    Status,
}

impl HostCheck {
    pub fn parse(s: &str) -> Option<HostCheck> {
        match s.trim().to_ascii_lowercase().as_str() {
            "none" => Some(HostCheck::None),
            "static-list" => Some(HostCheck::StaticList),
            "dynamic-list" => Some(HostCheck::DynamicList),
            "status" => Some(HostCheck::Status),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            HostCheck::None => "none",
            HostCheck::StaticList => "static-list",
            HostCheck::DynamicList => "dynamic-list",
            HostCheck::Status => "status",
        }
    }
}

impl std::fmt::Display for HostCheck {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A node to act on: its name and, for agents with a `nodeid` parameter, its
/// cluster node id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FenceTarget {
    pub name: String,
    pub nodeid: Option<u32>,
}

impl FenceTarget {
    pub fn new(name: impl Into<String>) -> FenceTarget {
        FenceTarget {
            name: name.into(),
            nodeid: None,
        }
    }

    pub fn with_nodeid(mut self, id: u32) -> FenceTarget {
        self.nodeid = Some(id);
        self
    }
}

impl From<&str> for FenceTarget {
    fn from(s: &str) -> FenceTarget {
        FenceTarget::new(s)
    }
}

impl From<String> for FenceTarget {
    fn from(s: String) -> FenceTarget {
        FenceTarget::new(s)
    }
}

impl From<&String> for FenceTarget {
    fn from(s: &String) -> FenceTarget {
        FenceTarget::new(s.clone())
    }
}

/// The outcome of one device action (fencing, monitor, list, status, meta-data).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FenceResult {
    pub device: String,
    /// The agent, e.g. `fence_ipmilan`.
    pub agent: String,
    /// The node acted on, for node actions.
    pub target: Option<String>,
    /// What was asked: reboot, off, on, monitor, list, status.
    pub action: String,
    /// What the agent was told (`action=`): after a reboot became `off` for an agent
    /// without `reboot`, and after `pcmk_ACTION_action`.
    pub agent_action: String,
    /// The target argument passed (`port=`/`plug=` value), if any.
    pub plug: Option<String>,
    /// The agent's exit code when it ran to completion (status `done`); otherwise an
    /// OCF error code (1, or 5 when the agent is not installed).
    pub rc: i32,
    pub status: ExecStatus,
    /// Why it failed, in one line (the agent's `Failed: ...` line, the timeout, ...).
    pub exit_reason: Option<String>,
    /// The tails of the last attempt's standard output and standard error.
    pub stdout: String,
    pub stderr: String,
    /// How many times the agent was run.
    pub tries: u32,
    /// The fencing delay waited before running the agent.
    pub delay_ms: u64,
    /// From the request to the result, the delay included.
    pub duration_ms: u64,
    /// When the request began, milliseconds since the Unix epoch.
    pub started_ms: i64,
    /// The process id of the last attempt.
    pub pid: Option<u32>,
}

/// What `status` says about a node's power.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum PowerState {
    On,
    Off,
}

impl FenceResult {
    /// The agent ran and exited with 0.
    pub fn is_success(&self) -> bool {
        self.status == ExecStatus::Done && self.rc == 0
    }

    /// For a `status` result: on (0) or off (2); `None` for errors.
    pub fn power_state(&self) -> Option<PowerState> {
        match (self.status, self.rc) {
            (ExecStatus::Done, 0) => Some(PowerState::On),
            (ExecStatus::Done, 2) => Some(PowerState::Off),
            _ => None,
        }
    }

    /// The last `max` bytes of stdout and stderr together.
    pub fn output_tail(&self, max: usize) -> String {
        let mut s = self.stdout.clone();
        if !self.stderr.is_empty() {
            if !s.is_empty() && !s.ends_with('\n') {
                s.push('\n');
            }
            s.push_str(&self.stderr);
        }
        if s.len() > max {
            let mut cut = s.len() - max;
            while !s.is_char_boundary(cut) {
                cut += 1;
            }
            s = s[cut..].to_string();
        }
        s
    }
}

/// Whether a device can fence a node, and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Eligibility {
    pub can: bool,
    /// The host check that decided (`None` when the agent's meta-data failed).
    pub check: Option<HostCheck>,
    /// The name the node has on the device (its `pcmk_host_map` entry, or itself).
    pub plug: String,
    /// The reason, for logs and operators.
    pub reason: String,
}

/// What a `dynamic-list` device last learnt from its agent.
#[derive(Debug, Default)]
struct DynamicList {
    targets: Option<Vec<String>>,
    refreshed: Option<Instant>,
    /// `list` never worked and no host check was configured: use `status` (as
    /// Pacemaker switches such a device to `pcmk_host_check=status`).
    use_status: bool,
}

/// One fence device: an agent and its parameters.
#[derive(Debug)]
pub struct FenceDevice {
    id: String,
    agent: String,
    params: Attrs,
    /// `pcmk_host_list` entries followed by `pcmk_host_map` plugs (Pacemaker's
    /// static target list).
    static_targets: Vec<String>,
    host_map: Vec<(String, String)>,
    host_check: Option<HostCheck>,
    delay_base: Option<String>,
    delay_max_s: u64,
    slots: Option<Arc<Semaphore>>,
    info: OnceCell<Arc<FenceAgentInfo>>,
    dynamic: Mutex<DynamicList>,
}

fn bad(device: &str, reason: impl Into<String>) -> ExecError {
    ExecError::BadFenceDevice {
        device: device.to_string(),
        reason: reason.into(),
    }
}

/// A node name or value that can go on a `key=value` line.
fn line_safe(s: &str) -> bool {
    !s.contains(['\n', '\r', '\0'])
}

impl FenceDevice {
    /// A device `id` run by the fence agent `agent_type` (`fence_NAME`) with the
    /// resource's instance parameters. Checks what Pacemaker interprets itself
    /// (host check, delays, timeouts, retries, action limit) and that every
    /// parameter can be passed on a line; runs nothing.
    pub fn from_params(
        id: &str,
        agent_type: &str,
        params: &Attrs,
    ) -> Result<FenceDevice, ExecError> {
        if id.is_empty() || !line_safe(id) {
            return Err(bad(
                id,
                "the device id must be a non-empty single-line name",
            ));
        }
        let agent = agent_type
            .strip_prefix("stonith:")
            .unwrap_or(agent_type)
            .to_string();
        if !agent.starts_with(AGENT_PREFIX)
            || agent.len() == AGENT_PREFIX.len()
            || agent.contains(['/', '\0'])
            || agent.chars().any(char::is_whitespace)
        {
            return Err(bad(
                id,
                format!(
                    "\"{agent}\" is not a fence agent: fence agents are the programs named \
                     fence_NAME in the fence agent directory (e.g. stonith:fence_ipmilan)"
                ),
            ));
        }
        let mut params = params.clone();
        for (k, v) in &params {
            if k.is_empty() || k.contains('=') || !line_safe(k) || !line_safe(v) {
                return Err(bad(
                    id,
                    format!(
                        "parameter \"{}\" cannot be passed to a fence agent (names must not \
                         be empty or contain '=', and neither may contain a line break)",
                        k.escape_debug()
                    ),
                ));
            }
        }
        map_action_param(&mut params);
        let get = |k: &str| params.get(k).map(String::as_str);
        let host_check = match get("pcmk_host_check") {
            None => None,
            Some(v) => Some(HostCheck::parse(v).ok_or_else(|| {
                bad(
                    id,
                    format!(
                        "pcmk_host_check=\"{v}\": expected none, static-list, dynamic-list or status"
                    ),
                )
            })?),
        };
        let mut static_targets = get("pcmk_host_list").map(parse_targets).unwrap_or_default();
        let host_map = get("pcmk_host_map").map(parse_host_map).unwrap_or_default();
        if get("pcmk_host_map").is_some_and(|m| !m.trim().is_empty()) && host_map.is_empty() {
            return Err(bad(
                id,
                "pcmk_host_map has no NODE:PLUG entry (e.g. node1:1;node2:2)",
            ));
        }
        static_targets.extend(host_map.iter().map(|(_, plug)| plug.clone()));
        if let Some(spec) = get("pcmk_delay_base") {
            params::check_delay_base(spec).map_err(|e| bad(id, e))?;
        }
        let delay_max_s = match get("pcmk_delay_max") {
            None => 0,
            Some(v) => parse_duration(v)
                .ok_or_else(|| bad(id, format!("pcmk_delay_max=\"{v}\" is not an interval")))?
                .as_secs(),
        };
        let slots = match get("pcmk_action_limit") {
            None => Some(1),
            Some(v) => match v.trim().parse::<i64>() {
                Ok(n) if n < 0 => None,
                Ok(0) => Some(1),
                Ok(n) => Some(
                    usize::try_from(n)
                        .unwrap_or(usize::MAX)
                        .min(Semaphore::MAX_PERMITS),
                ),
                Err(_) => {
                    return Err(bad(
                        id,
                        format!("pcmk_action_limit=\"{v}\" is not a number (-1: no limit)"),
                    ))
                }
            },
        }
        .map(|n| Arc::new(Semaphore::new(n)));
        for (k, v) in &params {
            let Some(rest) = k.strip_prefix("pcmk_") else {
                continue;
            };
            if rest.ends_with("_timeout") && parse_duration(v).is_none() {
                return Err(bad(id, format!("{k}=\"{v}\" is not a timeout (e.g. 60s)")));
            }
            if rest.ends_with("_retries") && v.trim().parse::<u32>().is_err() {
                return Err(bad(id, format!("{k}=\"{v}\" is not a number of attempts")));
            }
            if rest.ends_with("_action") && v.trim().is_empty() {
                return Err(bad(id, format!("{k} is empty")));
            }
        }
        Ok(FenceDevice {
            id: id.to_string(),
            agent,
            delay_base: get("pcmk_delay_base").map(str::to_string),
            params,
            static_targets,
            host_map,
            host_check,
            delay_max_s,
            slots,
            info: OnceCell::new(),
            dynamic: Mutex::new(DynamicList::default()),
        })
    }

    pub fn id(&self) -> &str {
        &self.id
    }

    /// The fence agent, e.g. `fence_ipmilan`.
    pub fn agent(&self) -> &str {
        &self.agent
    }

    /// The device's parameters (a configured `action` already mapped to
    /// `pcmk_off_action`/`pcmk_reboot_action`, as Pacemaker does).
    pub fn params(&self) -> &Attrs {
        &self.params
    }

    /// The configured `pcmk_host_check`, if any.
    pub fn configured_host_check(&self) -> Option<HostCheck> {
        self.host_check
    }

    /// The name `node` has on the device: its `pcmk_host_map` entry, or the node name.
    pub fn plug_for<'a>(&'a self, node: &'a str) -> &'a str {
        params::lookup_alias(&self.host_map, node).unwrap_or(node)
    }

    /// `pcmk_delay_base` for `node` plus a random part below `pcmk_delay_max`: the
    /// delay before fencing it (whole seconds, as Pacemaker).
    pub fn fencing_delay(&self, node: &str) -> Duration {
        let base = self
            .delay_base
            .as_deref()
            .map(|s| params::delay_base_for(s, node))
            .unwrap_or(0);
        if self.delay_max_s < base && self.delay_max_s > 0 {
            tracing::warn!(
                device = %self.id,
                "pcmk_delay_base ({base}s) is larger than pcmk_delay_max ({}s): limiting to the maximum",
                self.delay_max_s
            );
        }
        params::fencing_delay(base, self.delay_max_s, params::random_below)
    }

    /// The agent's meta-data as the fencer reads it; run once per device and kept
    /// (a failure is not kept: the next call tries again).
    pub async fn agent_info(&self, config: &ExecConfig) -> Result<Arc<FenceAgentInfo>, ExecError> {
        self.info
            .get_or_try_init(|| async {
                let run = run_metadata(config, &self.agent, METADATA_TIMEOUT).await;
                let err = |reason: String| ExecError::Metadata {
                    agent: format!("stonith:{}", self.agent),
                    reason,
                };
                if !run.ok() {
                    return Err(err(run.exit_reason.unwrap_or_else(|| {
                        format!("metadata {} with exit code {}", run.status, run.rc)
                    })));
                }
                FenceAgentInfo::parse(&run.stdout)
                    .map(Arc::new)
                    .map_err(err)
            })
            .await
            .cloned()
    }

    /// The host check in effect: the configured one, else Pacemaker's default for
    /// this device and agent.
    pub fn host_check(&self, info: &FenceAgentInfo) -> HostCheck {
        if let Some(c) = self.host_check {
            return c;
        }
        if self.params.contains_key("pcmk_host_list") || self.params.contains_key("pcmk_host_map") {
            HostCheck::StaticList
        } else if info.supports_list
            && !self
                .dynamic
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .use_status
        {
            HostCheck::DynamicList
        } else if info.supports_status || info.supports_list {
            HostCheck::Status
        } else {
            HostCheck::None
        }
    }

    /// Whether this device can reboot `node` (per `pcmk_host_check`; may run the
    /// agent's `list` or `status`).
    pub async fn can_fence(&self, config: &ExecConfig, node: &str) -> bool {
        self.check_target(config, node, FenceAction::Reboot)
            .await
            .can
    }

    /// Whether this device can do `action` on `node`, and why (as the fencer's
    /// `can_fence_host_with_device()`; `list` and `status` run with
    /// `pcmk_list_timeout`/`pcmk_status_timeout`, else 60 s).
    pub async fn check_target(
        &self,
        config: &ExecConfig,
        node: &str,
        action: FenceAction,
    ) -> Eligibility {
        let plug = self.plug_for(node).to_string();
        let answer = |can: bool, check: Option<HostCheck>, reason: String| Eligibility {
            can,
            check,
            plug: plug.clone(),
            reason,
        };
        if node.is_empty() || !line_safe(node) {
            return answer(
                false,
                None,
                "the node name is empty or has a line break".into(),
            );
        }
        let info = match self.agent_info(config).await {
            Ok(i) => i,
            Err(e) => return answer(false, None, e.to_string()),
        };
        if action == FenceAction::On && !info.supports_on {
            return answer(
                false,
                None,
                format!("{} does not support \"on\"", self.agent),
            );
        }
        let check = self.host_check(&info);
        let subject = format!("{} (as \"{plug}\")", node);
        match check {
            HostCheck::None => answer(true, Some(check), "pcmk_host_check=none: any node".into()),
            HostCheck::StaticList => {
                let listed = self
                    .static_targets
                    .iter()
                    .any(|t| t.eq_ignore_ascii_case(node))
                    || params::lookup_alias(&self.host_map, node).is_some();
                let reason = if listed {
                    format!("{node} is in pcmk_host_list/pcmk_host_map")
                } else {
                    format!("{node} is not in pcmk_host_list or pcmk_host_map")
                };
                answer(listed, Some(check), reason)
            }
            HostCheck::DynamicList => match self.dynamic_targets(config).await {
                Ok(targets) => {
                    let listed = targets.iter().any(|t| t.eq_ignore_ascii_case(&plug));
                    let reason = if listed {
                        format!("{subject} is in the list the agent printed")
                    } else {
                        format!("{subject} is not in the list the agent printed")
                    };
                    answer(listed, Some(check), reason)
                }
                Err(why) if self.host_check.is_none() => {
                    // As Pacemaker: without a configured check, a device whose list
                    // never worked is asked for the node's status instead (at once
                    // here; Pacemaker switches for the next query).
                    self.dynamic
                        .lock()
                        .unwrap_or_else(|e| e.into_inner())
                        .use_status = true;
                    let mut e = self.status_check(config, node, &plug).await;
                    e.reason = format!("{why}; status instead: {}", e.reason);
                    e
                }
                Err(why) => answer(false, Some(check), why),
            },
            HostCheck::Status => self.status_check(config, node, &plug).await,
        }
    }

    async fn status_check(&self, config: &ExecConfig, node: &str, plug: &str) -> Eligibility {
        let r = self.status(config, node, DEFAULT_TIMEOUT).await;
        let (can, reason) = match (r.status, r.rc) {
            (ExecStatus::Done, 0) => (true, format!("status of {node} (as \"{plug}\"): on")),
            (ExecStatus::Done, 2) => (true, format!("status of {node} (as \"{plug}\"): off")),
            (ExecStatus::Done, 1) => (
                false,
                format!("the agent cannot find {node} (as \"{plug}\"): status returned 1"),
            ),
            (ExecStatus::Done, rc) => (false, format!("status returned unknown code {rc}")),
            _ => (
                false,
                format!(
                    "status could not be run: {}",
                    r.exit_reason.as_deref().unwrap_or(r.status.as_str())
                ),
            ),
        };
        Eligibility {
            can,
            check: Some(HostCheck::Status),
            plug: plug.to_string(),
            reason,
        }
    }

    /// The `dynamic-list` targets: the agent's `list`, run again when older than
    /// [`LIST_MAX_AGE`]; a failed `list` reuses the previous answer if there is one.
    async fn dynamic_targets(&self, config: &ExecConfig) -> Result<Vec<String>, String> {
        {
            let d = self.dynamic.lock().unwrap_or_else(|e| e.into_inner());
            if let (Some(t), Some(at)) = (&d.targets, d.refreshed) {
                if at.elapsed() < LIST_MAX_AGE {
                    return Ok(t.clone());
                }
            }
        }
        let r = self.list(config, DEFAULT_TIMEOUT).await;
        let mut d = self.dynamic.lock().unwrap_or_else(|e| e.into_inner());
        match r {
            Ok(targets) => {
                d.targets = Some(targets.clone());
                d.refreshed = Some(Instant::now());
                Ok(targets)
            }
            Err(r) => match &d.targets {
                Some(previous) => {
                    tracing::info!(device = %self.id, "list failed; reusing the previous target list");
                    Ok(previous.clone())
                }
                None => Err(format!(
                    "list failed: {}",
                    r.exit_reason.as_deref().unwrap_or(r.status.as_str())
                )),
            },
        }
    }

    /// Fence `target` (`reboot`, `off` or `on`), after the fencing delay. `timeout`
    /// bounds each attempt unless `pcmk_ACTION_timeout` says otherwise; the delay
    /// comes on top. Decides nothing about eligibility: see [`Self::check_target`].
    pub async fn fence(
        &self,
        config: &ExecConfig,
        target: impl Into<FenceTarget>,
        action: FenceAction,
        timeout: Duration,
    ) -> FenceResult {
        let target = target.into();
        let t0 = Instant::now();
        let started = SystemTime::now();
        let fail = |rc: i32, status: ExecStatus, reason: String| {
            let mut r = self.result(action.as_str(), Some(&target.name), started, t0);
            r.rc = rc;
            r.status = status;
            r.exit_reason = Some(reason);
            r
        };
        if target.name.is_empty() || !line_safe(&target.name) {
            return fail(
                ocf::ERR_ARGS,
                ExecStatus::ErrorHard,
                "the node name is empty or has a line break".into(),
            );
        }
        let info = match self.agent_info(config).await {
            Ok(i) => i,
            Err(e) => {
                let status = if agent::agent_path(config, &self.agent).exists() {
                    ExecStatus::Error
                } else {
                    ExecStatus::NotInstalled
                };
                let rc = if status == ExecStatus::NotInstalled {
                    ocf::ERR_INSTALLED
                } else {
                    ocf::ERR_GENERIC
                };
                return fail(rc, status, e.to_string());
            }
        };
        if action == FenceAction::On && !info.supports_on {
            return fail(
                ocf::ERR_UNIMPLEMENTED,
                ExecStatus::NotSupported,
                format!("{} does not support \"on\"", self.agent),
            );
        }
        let delay = if action.is_fencing() {
            self.fencing_delay(&target.name)
        } else {
            Duration::ZERO
        };
        if !delay.is_zero() {
            tracing::info!(
                device = %self.id, target = %target.name, action = %action,
                "delaying fencing by {}s (pcmk_delay_base/pcmk_delay_max)", delay.as_secs()
            );
            tokio::time::sleep(delay).await;
        }
        // A reboot is an "off" for agents without reboot (its timeout, retries and
        // pcmk_off_action then apply).
        let key = if action == FenceAction::Reboot && !info.supports_reboot {
            "off"
        } else {
            action.as_str()
        };
        let mut r = self
            .run_action(
                config,
                &info,
                action.as_str(),
                key,
                Some(&target),
                timeout,
                started,
                t0,
            )
            .await;
        r.delay_ms = delay.as_millis() as u64;
        r
    }

    /// The agent's `monitor` action (is the device reachable and working?).
    pub async fn monitor(&self, config: &ExecConfig, timeout: Duration) -> FenceResult {
        self.simple_action(config, "monitor", None, timeout).await
    }

    /// The agent's `list` action: the targets it prints (see [`parse_targets`]), or
    /// the failed result.
    pub async fn list(
        &self,
        config: &ExecConfig,
        timeout: Duration,
    ) -> Result<Vec<String>, FenceResult> {
        let r = self.simple_action(config, "list", None, timeout).await;
        if r.is_success() {
            Ok(parse_targets(&r.stdout))
        } else {
            Err(r)
        }
    }

    /// The agent's `status` of `node`: rc 0 on, 2 off, 1 error (see
    /// [`FenceResult::power_state`]).
    pub async fn status(&self, config: &ExecConfig, node: &str, timeout: Duration) -> FenceResult {
        self.simple_action(config, "status", Some(&FenceTarget::new(node)), timeout)
            .await
    }

    async fn simple_action(
        &self,
        config: &ExecConfig,
        action: &str,
        target: Option<&FenceTarget>,
        timeout: Duration,
    ) -> FenceResult {
        let t0 = Instant::now();
        let started = SystemTime::now();
        if let Some(t) = target {
            if t.name.is_empty() || !line_safe(&t.name) {
                let mut r = self.result(action, Some(&t.name), started, t0);
                r.rc = ocf::ERR_ARGS;
                r.status = ExecStatus::ErrorHard;
                r.exit_reason = Some("the node name is empty or has a line break".into());
                return r;
            }
        }
        // Without meta-data (an agent that cannot describe itself), run the action
        // anyway with the defaults Pacemaker would then use.
        let info = self.agent_info(config).await.unwrap_or_default();
        self.run_action(config, &info, action, action, target, timeout, started, t0)
            .await
    }

    fn result(
        &self,
        action: &str,
        target: Option<&str>,
        started: SystemTime,
        t0: Instant,
    ) -> FenceResult {
        FenceResult {
            device: self.id.clone(),
            agent: self.agent.clone(),
            target: target.map(str::to_string),
            action: action.to_string(),
            agent_action: action.to_string(),
            plug: None,
            rc: ocf::ERR_GENERIC,
            status: ExecStatus::Error,
            exit_reason: None,
            stdout: String::new(),
            stderr: String::new(),
            tries: 0,
            delay_ms: 0,
            duration_ms: t0.elapsed().as_millis() as u64,
            started_ms: unix_ms(started),
            pid: None,
        }
    }

    /// The arguments of an action, as the fencer's `make_args()` builds them:
    /// `action`, then for a node `nodename`, `nodeid` (when the agent wants it) and
    /// the target argument, then the device's parameters for the agent.
    /// Returns them with the plug passed, if any.
    fn make_args(
        &self,
        info: &FenceAgentInfo,
        agent_action: &str,
        target: Option<&FenceTarget>,
    ) -> (Vec<(String, String)>, Option<String>) {
        let mut first = vec![("action".to_string(), agent_action.to_string())];
        let mut rest = std::collections::BTreeMap::new();
        let mut plug = None;
        let mut host_arg_key = None;
        if let Some(t) = target {
            rest.insert("nodename".to_string(), t.name.clone());
            if let Some(id) = t.nodeid {
                if info.wants_nodeid && !self.params.contains_key("nodeid") {
                    rest.insert("nodeid".to_string(), id.to_string());
                }
            }
            let configured = self.params.get("pcmk_host_argument").map(String::as_str);
            let none = configured.is_some_and(|p| p.eq_ignore_ascii_case("none"));
            if self.agent != "fence_legacy" && !none {
                let param = configured
                    .map(str::to_string)
                    .or_else(|| info.host_parameter.clone())
                    .unwrap_or_else(|| "port".to_string());
                let value = self.params.get(&param).map(String::as_str);
                if value.is_none_or(|v| v.eq_ignore_ascii_case("dynamic")) {
                    let alias = self.plug_for(&t.name).to_string();
                    rest.insert(param.clone(), alias.clone());
                    plug = Some(alias);
                    host_arg_key = Some(param);
                } else {
                    plug = value.map(str::to_string);
                }
            }
        }
        for (k, v) in &self.params {
            if is_pacemaker_param(k) || host_arg_key.as_deref() == Some(k.as_str()) {
                continue;
            }
            rest.insert(k.clone(), v.clone());
        }
        first.extend(rest);
        (first, plug)
    }

    /// Run `action` (its settings read under `key`: `pcmk_KEY_action`,
    /// `pcmk_KEY_timeout`, `pcmk_KEY_retries`) with the device's action limit and
    /// Pacemaker's retries.
    #[allow(clippy::too_many_arguments)]
    async fn run_action(
        &self,
        config: &ExecConfig,
        info: &FenceAgentInfo,
        action: &str,
        key: &str,
        target: Option<&FenceTarget>,
        timeout: Duration,
        started: SystemTime,
        t0: Instant,
    ) -> FenceResult {
        let agent_action = self
            .params
            .get(&format!("pcmk_{key}_action"))
            .map(|s| s.trim().to_string())
            .unwrap_or_else(|| key.to_string());
        let timeout = self
            .params
            .get(&format!("pcmk_{key}_timeout"))
            .and_then(|v| parse_duration(v))
            .unwrap_or(timeout);
        let max_tries = self
            .params
            .get(&format!("pcmk_{key}_retries"))
            .and_then(|v| v.trim().parse::<u32>().ok())
            .unwrap_or(DEFAULT_TRIES);
        let (args, plug) = self.make_args(info, &agent_action, target);
        let _slot = match &self.slots {
            Some(s) => s.clone().acquire_owned().await.ok(),
            None => None,
        };
        let first_try = Instant::now();
        let mut tries = 0u32;
        let run: AgentRun = loop {
            tries += 1;
            // Later attempts get what is left of the timeout (as Pacemaker).
            let remaining = if tries == 1 {
                timeout
            } else {
                timeout.saturating_sub(first_try.elapsed())
            };
            tracing::debug!(
                device = %self.id, agent = %self.agent, action = %agent_action,
                target = ?target.map(|t| &t.name), attempt = tries, "running fence agent"
            );
            let run = run_agent(config, &self.agent, &args, remaining, config.output_cap).await;
            // status's "off" (2) is an answer, not a failure to retry.
            let answered =
                run.ok() || (key == "status" && run.status == ExecStatus::Done && run.rc == 2);
            let elapsed = first_try.elapsed();
            let retry = !answered
                && tries < max_tries
                && run.status != ExecStatus::Timeout
                && run.status != ExecStatus::NotInstalled
                && elapsed.as_secs_f64() < timeout.as_secs_f64() * 0.7;
            if !retry {
                break run;
            }
            tracing::info!(
                device = %self.id, action = %agent_action, attempt = tries,
                "fence agent failed ({}); trying again",
                run.exit_reason.as_deref().unwrap_or("no reason")
            );
            tokio::time::sleep(RETRY_PAUSE).await;
        };
        let mut r = self.result(action, target.map(|t| t.name.as_str()), started, t0);
        r.agent_action = agent_action;
        r.plug = plug;
        r.rc = run.rc;
        r.status = run.status;
        r.exit_reason = run.exit_reason;
        r.stdout = run.stdout;
        r.stderr = run.stderr;
        r.tries = tries;
        r.pid = run.pid;
        r.duration_ms = t0.elapsed().as_millis() as u64;
        if !r.is_success() {
            tracing::warn!(
                device = %self.id, action = %r.agent_action, target = ?r.target, rc = r.rc,
                status = %r.status, "fence agent failed: {}",
                r.exit_reason.as_deref().unwrap_or("")
            );
        }
        r
    }
}

/// A configured `action` parameter, as Pacemaker maps it (`xml2device_params`):
/// `off` becomes `pcmk_reboot_action=off`, another value both
/// `pcmk_off_action` and `pcmk_reboot_action` (unless set), `reboot` and empty are
/// ignored; the parameter itself is dropped.
fn map_action_param(params: &mut Attrs) {
    let Some(value) = params.remove("action") else {
        return;
    };
    let value = value.trim().to_string();
    let keys: &[&str] = match value.as_str() {
        "" | "reboot" => &[],
        "off" => &["pcmk_reboot_action"],
        _ => &["pcmk_off_action", "pcmk_reboot_action"],
    };
    for k in keys {
        params.entry(k.to_string()).or_insert_with(|| value.clone());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn attrs(kv: &[(&str, &str)]) -> Attrs {
        kv.iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    fn info(host: Option<&str>) -> FenceAgentInfo {
        FenceAgentInfo {
            supports_list: true,
            supports_status: true,
            supports_reboot: true,
            supports_on: true,
            host_parameter: host.map(str::to_string),
            wants_nodeid: true,
            ..Default::default()
        }
    }

    #[test]
    fn refuses_what_cannot_work() {
        let ok = |p: &[(&str, &str)]| FenceDevice::from_params("d", "fence_x", &attrs(p));
        assert!(ok(&[]).is_ok());
        assert!(ok(&[("pcmk_host_check", "Static-List")]).is_ok());
        for p in [
            ("pcmk_host_check", "sometimes"),
            ("pcmk_delay_max", "soon"),
            ("pcmk_delay_base", "n1:"),
            ("pcmk_reboot_timeout", "long"),
            ("pcmk_off_retries", "-1"),
            ("pcmk_action_limit", "x"),
            ("pcmk_host_map", "justanode"),
            ("ip", "a\nb"),
            ("a=b", "c"),
        ] {
            let e = ok(&[p]).unwrap_err().to_string();
            assert!(e.starts_with("HALO-E407"), "{p:?}: {e}");
        }
        for agent in ["ipmilan", "fence_", "fence_a/b", "../fence_x", "fence x"] {
            assert!(
                FenceDevice::from_params("d", agent, &Attrs::new()).is_err(),
                "{agent}"
            );
        }
        assert_eq!(
            FenceDevice::from_params("d", "stonith:fence_x", &Attrs::new())
                .unwrap()
                .agent(),
            "fence_x"
        );
    }

    #[test]
    fn arguments_as_pacemaker_makes_them() {
        let d = FenceDevice::from_params(
            "d",
            "fence_x",
            &attrs(&[
                ("ip", "10.0.0.1"),
                ("pcmk_host_map", "node1:plug1"),
                ("pcmk_reboot_timeout", "90s"),
                ("pcmk_delay_base", "2s"),
                ("provides", "unfencing"),
                ("priority", "3"),
            ]),
        )
        .unwrap();
        let t = FenceTarget::new("node1").with_nodeid(7);
        let (args, plug) = d.make_args(&info(Some("plug")), "reboot", Some(&t));
        let want: Vec<(String, String)> = [
            ("action", "reboot"),
            ("ip", "10.0.0.1"),
            ("nodeid", "7"),
            ("nodename", "node1"),
            ("plug", "plug1"),
            ("priority", "3"),
        ]
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
        assert_eq!(args, want);
        assert_eq!(plug.as_deref(), Some("plug1"));
        // No port/plug in the meta-data: Pacemaker passes "port"; unmapped nodes go
        // by their name; no target, no target arguments.
        let (args, _) = d.make_args(&info(None), "off", Some(&FenceTarget::new("node2")));
        assert!(args.contains(&("port".into(), "node2".into())), "{args:?}");
        let (args, plug) = d.make_args(&info(None), "monitor", None);
        assert_eq!(args.len(), 3, "{args:?}");
        assert_eq!(plug, None);
    }

    #[test]
    fn host_argument_settings() {
        let dev = |p: &[(&str, &str)]| FenceDevice::from_params("d", "fence_x", &attrs(p)).unwrap();
        let t = FenceTarget::new("n1");
        let (args, plug) =
            dev(&[("pcmk_host_argument", "none")]).make_args(&info(Some("port")), "off", Some(&t));
        assert_eq!(plug, None);
        assert!(!args.iter().any(|(k, _)| k == "port"));
        assert!(args.contains(&("nodename".into(), "n1".into())));
        let (args, plug) =
            dev(&[("pcmk_host_argument", "uuid")]).make_args(&info(Some("port")), "off", Some(&t));
        assert!(args.contains(&("uuid".into(), "n1".into())));
        assert_eq!(plug.as_deref(), Some("n1"));
        // A configured, not dynamic, value stays.
        let (args, plug) =
            dev(&[("port", "fixed")]).make_args(&info(Some("port")), "off", Some(&t));
        assert!(args.contains(&("port".into(), "fixed".into())));
        assert_eq!(plug.as_deref(), Some("fixed"));
        let (args, _) = dev(&[("port", "dynamic")]).make_args(&info(Some("port")), "off", Some(&t));
        assert!(args.contains(&("port".into(), "n1".into())), "{args:?}");
        assert!(
            !args.contains(&("port".into(), "dynamic".into())),
            "{args:?}"
        );
    }

    #[test]
    fn configured_action_is_mapped() {
        let d = |v: &str| {
            FenceDevice::from_params("d", "fence_x", &attrs(&[("action", v)]))
                .unwrap()
                .params()
                .clone()
        };
        assert_eq!(d("off"), attrs(&[("pcmk_reboot_action", "off")]));
        assert_eq!(
            d("cycle"),
            attrs(&[
                ("pcmk_off_action", "cycle"),
                ("pcmk_reboot_action", "cycle")
            ])
        );
        assert_eq!(d("reboot"), Attrs::new());
    }

    #[test]
    fn default_host_checks() {
        let dev = |p: &[(&str, &str)]| FenceDevice::from_params("d", "fence_x", &attrs(p)).unwrap();
        let mut i = info(None);
        assert_eq!(
            dev(&[("pcmk_host_list", "a b")]).host_check(&i),
            HostCheck::StaticList
        );
        assert_eq!(
            dev(&[("pcmk_host_map", "a:1")]).host_check(&i),
            HostCheck::StaticList
        );
        assert_eq!(dev(&[]).host_check(&i), HostCheck::DynamicList);
        assert_eq!(
            dev(&[("pcmk_host_list", "a"), ("pcmk_host_check", "none")]).host_check(&i),
            HostCheck::None
        );
        i.supports_list = false;
        assert_eq!(dev(&[]).host_check(&i), HostCheck::Status);
        i.supports_status = false;
        assert_eq!(dev(&[]).host_check(&i), HostCheck::None);
    }

    #[test]
    fn plugs_and_delays() {
        let d = FenceDevice::from_params(
            "d",
            "fence_x",
            &attrs(&[
                ("pcmk_host_map", "node1:p1;node2:p2"),
                ("pcmk_delay_base", "node1:3s;node2:0"),
            ]),
        )
        .unwrap();
        assert_eq!(d.plug_for("NODE1"), "p1");
        assert_eq!(d.plug_for("node3"), "node3");
        assert_eq!(d.fencing_delay("node1"), Duration::from_secs(3));
        assert_eq!(d.fencing_delay("node2"), Duration::ZERO);
        let d = FenceDevice::from_params(
            "d",
            "fence_x",
            &attrs(&[("pcmk_delay_base", "2"), ("pcmk_delay_max", "5")]),
        )
        .unwrap();
        for _ in 0..20 {
            let s = d.fencing_delay("x").as_secs();
            assert!((2..5).contains(&s), "{s}");
        }
    }
}
