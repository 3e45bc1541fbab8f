//! Return codes and execution statuses.
//!
//! The agent's exit code (`rc`) says what the agent found; the execution status says
//! whether the agent ran at all and how it ended (done, timed out, not installed, ...).
//! Both are recorded, as Pacemaker records `rc-code` and `op-status`.

use serde::Serialize;

/// OCF exit codes (resource-agent API 1.1).
pub mod ocf {
    pub const SUCCESS: i32 = 0;
    pub const ERR_GENERIC: i32 = 1;
    pub const ERR_ARGS: i32 = 2;
    pub const ERR_UNIMPLEMENTED: i32 = 3;
    pub const ERR_PERM: i32 = 4;
    pub const ERR_INSTALLED: i32 = 5;
    pub const ERR_CONFIGURED: i32 = 6;
    pub const NOT_RUNNING: i32 = 7;
    pub const RUNNING_PROMOTED: i32 = 8;
    pub const FAILED_PROMOTED: i32 = 9;
    pub const DEGRADED: i32 = 190;
    pub const DEGRADED_PROMOTED: i32 = 191;
}

/// The name and meaning of an OCF exit code, as shown to operators.
pub fn rc_meaning(rc: i32) -> (&'static str, &'static str) {
    match rc {
        ocf::SUCCESS => ("OCF_SUCCESS", "success"),
        ocf::ERR_GENERIC => ("OCF_ERR_GENERIC", "generic error"),
        ocf::ERR_ARGS => ("OCF_ERR_ARGS", "invalid arguments"),
        ocf::ERR_UNIMPLEMENTED => ("OCF_ERR_UNIMPLEMENTED", "action not implemented"),
        ocf::ERR_PERM => ("OCF_ERR_PERM", "insufficient privileges"),
        ocf::ERR_INSTALLED => ("OCF_ERR_INSTALLED", "not installed"),
        ocf::ERR_CONFIGURED => ("OCF_ERR_CONFIGURED", "not configured"),
        ocf::NOT_RUNNING => ("OCF_NOT_RUNNING", "not running"),
        ocf::RUNNING_PROMOTED => ("OCF_RUNNING_PROMOTED", "running, promoted"),
        ocf::FAILED_PROMOTED => ("OCF_FAILED_PROMOTED", "failed, promoted"),
        ocf::DEGRADED => ("OCF_DEGRADED", "running, degraded"),
        ocf::DEGRADED_PROMOTED => ("OCF_DEGRADED_PROMOTED", "running promoted, degraded"),
        _ => ("unknown", "unknown exit code"),
    }
}

/// Whether `rc` is a code an OCF agent may legitimately return.
pub fn is_known_ocf_rc(rc: i32) -> bool {
    (0..=9).contains(&rc) || rc == ocf::DEGRADED || rc == ocf::DEGRADED_PROMOTED
}

/// How an operation ended, independently of what the agent said.
///
/// The numeric values (`code`) are Pacemaker's `op-status` values, so that recorded
/// history reads the same as a CIB's `lrm_rsc_op`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum ExecStatus {
    /// The agent ran to completion; `rc` is its answer.
    Done,
    /// The operation was cancelled before it completed (e.g. a recurring monitor).
    Cancelled,
    /// The operation did not finish within its timeout; its process group was killed.
    Timeout,
    /// The agent class or action is not supported for this agent.
    NotSupported,
    /// The agent could not be run or ended abnormally (killed by a signal, bad exit code).
    Error,
    /// An error that retrying on this node will not fix (e.g. bad configuration).
    ErrorHard,
    /// An error that retrying anywhere will not fix.
    ErrorFatal,
    /// The agent is not installed on this node.
    NotInstalled,
}

impl ExecStatus {
    /// Pacemaker's numeric `op-status`.
    pub fn code(self) -> i32 {
        match self {
            ExecStatus::Done => 0,
            ExecStatus::Cancelled => 1,
            ExecStatus::Timeout => 2,
            ExecStatus::NotSupported => 3,
            ExecStatus::Error => 4,
            ExecStatus::ErrorHard => 5,
            ExecStatus::ErrorFatal => 6,
            ExecStatus::NotInstalled => 7,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            ExecStatus::Done => "done",
            ExecStatus::Cancelled => "cancelled",
            ExecStatus::Timeout => "timed out",
            ExecStatus::NotSupported => "not supported",
            ExecStatus::Error => "error",
            ExecStatus::ErrorHard => "hard error",
            ExecStatus::ErrorFatal => "fatal error",
            ExecStatus::NotInstalled => "not installed",
        }
    }
}

impl std::fmt::Display for ExecStatus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Map an LSB init script's exit code to OCF, for the given action.
///
/// `status` has its own codes (0 running, 1 dead with pid file, 2 dead with lock file,
/// 3 not running, 4 unknown); every other action uses 0–7 with OCF's meanings.
pub fn lsb_to_ocf(action: &str, rc: i32) -> i32 {
    if action == "status" || action == "monitor" {
        return match rc {
            0 => ocf::SUCCESS,
            1..=3 => ocf::NOT_RUNNING,
            // 150/151 are the LSB-reserved "not installed" / "insufficient privileges"
            // that some distributions' scripts return from status.
            150 => ocf::ERR_INSTALLED,
            151 => ocf::ERR_PERM,
            _ => ocf::ERR_GENERIC,
        };
    }
    match rc {
        0..=7 => rc,
        _ => ocf::ERR_GENERIC,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lsb_status_codes_map_to_ocf() {
        assert_eq!(lsb_to_ocf("monitor", 0), 0);
        assert_eq!(lsb_to_ocf("monitor", 3), 7);
        assert_eq!(lsb_to_ocf("monitor", 1), 7);
        assert_eq!(lsb_to_ocf("monitor", 4), 1);
        assert_eq!(lsb_to_ocf("start", 5), 5);
        assert_eq!(lsb_to_ocf("start", 99), 1);
    }

    #[test]
    fn known_codes() {
        assert!(is_known_ocf_rc(8));
        assert!(is_known_ocf_rc(190));
        assert!(!is_known_ocf_rc(10));
        assert!(!is_known_ocf_rc(-1));
        assert_eq!(rc_meaning(7).0, "OCF_NOT_RUNNING");
    }
}
