//! Where the executor finds agents and how it runs them on this node.

use std::path::PathBuf;
use std::time::Duration;

/// The CRM feature set of Pacemaker 2.1.5 (`pacemakerd --features`: "Supporting
/// v3.16.1"), given to OCF agents as `OCF_RESKEY_crm_feature_set` as Pacemaker's
/// scheduler puts it in every resource action. Agents choose command forms by it
/// (`ocf_promotion_score` uses `crm_attribute -p` from 3.10.0 on; galera, pgsql and
/// redis compare it with 3.1.0 and 3.2.0).
pub const CRM_FEATURE_SET: &str = "3.16.1";

/// Executor settings for one node.
#[derive(Debug, Clone)]
pub struct ExecConfig {
    /// This node's name: recorded in results and fail counts.
    pub node: String,
    /// `OCF_ROOT`: OCF agents live in `OCF_ROOT/resource.d/PROVIDER/TYPE`.
    pub ocf_root: PathBuf,
    /// Directory of LSB init scripts (`/etc/init.d`).
    pub lsb_root: PathBuf,
    /// `HA_RSCTMP`: scratch directory OCF agents keep state files in; created if missing.
    pub rsctmp: PathBuf,
    /// State directory of builtin agents (pid files, dummy state); created if missing.
    pub state_dir: PathBuf,
    /// systemd is considered running when this directory exists (as `sd_booted()` does).
    pub systemd_runtime_dir: PathBuf,
    /// Where `halo resource agents systemd` looks for unit files.
    pub systemd_unit_dirs: Vec<PathBuf>,
    /// Directory of fence agents (`stonith:fence_NAME` runs `DIR/fence_NAME`), as
    /// Pacemaker's `PCMK__FENCE_BINDIR` (`/usr/sbin` on Debian).
    pub fence_agent_dir: PathBuf,
    /// `PATH` given to agents. Agents run with a clean environment: what
    /// pacemaker-execd passes of its own environment that agents read (`PATH`,
    /// `LC_ALL=C`, the logging variables below), never the executor's own variables
    /// (`NOTIFY_SOCKET`, `RUST_LOG`, ...).
    pub path: String,
    /// Syslog facility agents log to (`HA_LOGFACILITY`; also `HA_logfacility` and
    /// `PCMK_logfacility`, as Pacemaker's daemons pass them). `Some("daemon")` by
    /// default, like pacemaker-execd when `PCMK_logfacility` is not configured.
    /// `None` (or `"none"`): agents log to stderr, which the executor keeps, as
    /// under `crm_resource --force-*`.
    pub log_facility: Option<String>,
    /// Detail log file agents append their messages to (`HA_LOGFILE`, and
    /// `HA_logfile`/`PCMK_logfile`), as Pacemaker's `PCMK_logfile`. `None` by
    /// default: halo keeps no such file (Pacemaker's default is its own
    /// /var/log/pacemaker/pacemaker.log).
    pub log_file: Option<PathBuf>,
    /// Debug logging of agents (`HA_debug`/`PCMK_debug` = 1 instead of 0; with a
    /// `log_file`, also `HA_DEBUGLOG`), as Pacemaker's `PCMK_debug`.
    pub debug: bool,
    /// Further environment variables given to every agent (what Pacemaker's
    /// sysconfig file would add); they may replace the variables above, not the
    /// OCF variables of an operation.
    pub extra_env: Vec<(String, String)>,
    /// Timeout of an operation whose request names none.
    pub default_timeout: Duration,
    /// How many bytes of stdout and of stderr are kept per operation (the tail).
    pub output_cap: usize,
    /// How many agent operations may run at once on this node; further ones queue
    /// (their timeout starts when they run).
    pub max_concurrent: usize,
    /// Become a child subreaper (PR_SET_CHILD_SUBREAPER) so that processes orphaned by a
    /// killed agent are reparented to, and reaped by, the executor instead of PID 1.
    /// Set it when halo runs as PID 1 or under an init that does not reap orphans.
    pub subreaper: bool,
}

impl Default for ExecConfig {
    fn default() -> Self {
        ExecConfig {
            node: nix::unistd::gethostname()
                .ok()
                .and_then(|h| h.into_string().ok())
                .unwrap_or_else(|| "localhost".to_string()),
            ocf_root: PathBuf::from("/usr/lib/ocf"),
            lsb_root: PathBuf::from("/etc/init.d"),
            rsctmp: PathBuf::from("/run/resource-agents"),
            state_dir: PathBuf::from("/run/halo"),
            systemd_runtime_dir: PathBuf::from("/run/systemd/system"),
            systemd_unit_dirs: vec![
                PathBuf::from("/etc/systemd/system"),
                PathBuf::from("/run/systemd/system"),
                PathBuf::from("/lib/systemd/system"),
                PathBuf::from("/usr/lib/systemd/system"),
            ],
            fence_agent_dir: PathBuf::from("/usr/sbin"),
            path: "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin".to_string(),
            log_facility: Some("daemon".to_string()),
            log_file: None,
            debug: false,
            extra_env: Vec::new(),
            default_timeout: Duration::from_secs(20),
            output_cap: 64 * 1024,
            max_concurrent: 256,
            subreaper: false,
        }
    }
}
