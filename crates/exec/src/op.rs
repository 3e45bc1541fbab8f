//! Operation requests and their recorded results.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde::Serialize;

use halo_model::{AgentRef, Attrs, OpDef, OpRecord};

use crate::rc::{ocf, ExecStatus};

/// One operation to run on this node.
#[derive(Debug, Clone, PartialEq)]
pub struct OpRequest {
    /// The resource id (`OCF_RESOURCE_INSTANCE`); a clone instance may carry `:N`.
    pub resource: String,
    pub agent: AgentRef,
    /// start, stop, monitor, promote, demote, notify, reload, reload-agent,
    /// validate-all, meta-data, migrate_to, migrate_from, ...
    pub action: String,
    /// Instance parameters (`OCF_RESKEY_<name>`).
    pub params: Attrs,
    /// Meta attributes (`OCF_RESKEY_CRM_meta_<name>`, `-` becoming `_`): clone and
    /// notify variables, `globally-unique`, ...
    pub meta: Attrs,
    /// 0 for a one-shot operation (a probe, for monitor); the period of a recurring one.
    pub interval: Duration,
    /// `None`: the executor's default timeout.
    pub timeout: Option<Duration>,
    /// `OCF_CHECK_LEVEL` (monitor depth), from the op's attributes.
    pub check_level: Option<String>,
    /// The rc the scheduler expects (e.g. 7 for a probe of a stopped resource, 8 for
    /// the monitor of a promoted instance). `None`: the usual expectation per action.
    pub target_rc: Option<i32>,
}

impl OpRequest {
    pub fn new(resource: impl Into<String>, agent: AgentRef, action: impl Into<String>) -> Self {
        OpRequest {
            resource: resource.into(),
            agent,
            action: action.into(),
            params: Attrs::new(),
            meta: Attrs::new(),
            interval: Duration::ZERO,
            timeout: None,
            check_level: None,
            target_rc: None,
        }
    }

    /// A request for a configured operation of a primitive.
    pub fn from_op(
        resource: &str,
        agent: &AgentRef,
        params: &Attrs,
        meta: &Attrs,
        op: &OpDef,
    ) -> OpRequest {
        OpRequest {
            resource: resource.to_string(),
            agent: agent.clone(),
            action: op.name.clone(),
            params: params.clone(),
            meta: meta.clone(),
            interval: Duration::from_millis(op.interval_ms),
            timeout: op.timeout_ms.map(Duration::from_millis),
            check_level: op.attrs.get("OCF_CHECK_LEVEL").cloned(),
            target_rc: None,
        }
    }

    pub fn with_params(mut self, params: Attrs) -> Self {
        self.params = params;
        self
    }

    pub fn with_interval(mut self, interval: Duration) -> Self {
        self.interval = interval;
        self
    }

    pub fn with_timeout(mut self, timeout: Duration) -> Self {
        self.timeout = Some(timeout);
        self
    }

    pub fn with_target_rc(mut self, rc: i32) -> Self {
        self.target_rc = Some(rc);
        self
    }

    /// Pacemaker's operation key, `RSC_ACTION_INTERVALMS`.
    pub fn op_key(&self) -> String {
        op_key(
            &self.resource,
            &self.action,
            self.interval.as_millis() as u64,
        )
    }
}

/// Pacemaker's operation key, `RSC_ACTION_INTERVALMS`.
pub fn op_key(resource: &str, action: &str, interval_ms: u64) -> String {
    format!("{resource}_{action}_{interval_ms}")
}

/// Milliseconds since the Unix epoch.
pub fn unix_ms(t: SystemTime) -> i64 {
    t.duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

/// The recorded result of one operation.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct OpResult {
    /// Increasing per executor; orders results of one node.
    pub call_id: u64,
    pub node: String,
    pub resource: String,
    /// `class:provider:type`.
    pub agent: String,
    pub action: String,
    pub interval_ms: u64,
    /// The agent's answer, as an OCF code (LSB and systemd answers are mapped).
    pub rc: i32,
    pub status: ExecStatus,
    /// Why, in one line: the agent's `ocf_exit_reason`, or the executor's explanation
    /// (timeout, not installed, killed by a signal, ...).
    pub exit_reason: Option<String>,
    /// When the agent was started, milliseconds since the Unix epoch.
    pub started_ms: i64,
    pub duration_ms: u64,
    /// The tail of the agent's standard output and standard error.
    pub stdout: String,
    pub stderr: String,
    pub target_rc: Option<i32>,
    /// When `rc` last changed for this operation key (for `last-rc-change`).
    pub last_rc_change_ms: i64,
    /// The process id the agent ran as (None for builtins or when it could not start).
    pub pid: Option<u32>,
}

impl OpResult {
    pub fn op_key(&self) -> String {
        op_key(&self.resource, &self.action, self.interval_ms)
    }

    /// Whether this result is what was expected (see `expected_rc_ok`).
    pub fn is_success(&self) -> bool {
        self.status == ExecStatus::Done
            && expected_rc_ok(&self.action, self.interval_ms, self.target_rc, self.rc)
    }

    /// The last `max` bytes of stdout and stderr together, for records and logs.
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

    /// The result as the model's status record (`lrm_rsc_op`).
    pub fn to_op_record(&self) -> OpRecord {
        OpRecord {
            id: self.op_key(),
            operation: self.action.clone(),
            call_id: self.call_id as i64,
            rc: self.rc,
            op_status: self.status.code(),
            interval_ms: self.interval_ms,
            target_rc: self.target_rc,
            last_rc_change: Some(self.last_rc_change_ms / 1000),
            last_run: Some(self.started_ms / 1000),
            exec_time_ms: Some(self.duration_ms),
            exit_reason: self.exit_reason.clone(),
            on_node: Some(self.node.clone()),
            ..Default::default()
        }
    }
}

/// Whether `rc` is an acceptable answer to `action`: equal to `target_rc` when one is
/// given; otherwise 0 for everything, and for monitors also 8 (running promoted), and
/// for probes (interval 0) also 7 (not running: a probe just finds out).
pub fn expected_rc_ok(action: &str, interval_ms: u64, target_rc: Option<i32>, rc: i32) -> bool {
    if let Some(t) = target_rc {
        return rc == t;
    }
    match action {
        "monitor" | "status" if interval_ms == 0 => {
            matches!(rc, ocf::SUCCESS | ocf::NOT_RUNNING | ocf::RUNNING_PROMOTED)
        }
        "monitor" | "status" => matches!(rc, ocf::SUCCESS | ocf::RUNNING_PROMOTED),
        _ => rc == ocf::SUCCESS,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn expectations() {
        assert!(expected_rc_ok("monitor", 0, None, 7));
        assert!(!expected_rc_ok("monitor", 10_000, None, 7));
        assert!(expected_rc_ok("monitor", 10_000, None, 8));
        assert!(!expected_rc_ok("start", 0, None, 7));
        assert!(expected_rc_ok("monitor", 0, Some(7), 7));
        assert!(!expected_rc_ok("monitor", 0, Some(0), 7));
    }

    #[test]
    fn keys() {
        assert_eq!(op_key("web", "monitor", 10000), "web_monitor_10000");
    }
}
