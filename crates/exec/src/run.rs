//! Running one request by class: OCF, LSB, systemd, builtin. No locking, no recording.

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

use nix::sys::signal::Signal;

use crate::agent::{agent_class, ocf_path, systemd_running, systemd_unit_name, AgentClass};
use crate::builtin::{AgentRegistry, BuiltinCall};
use crate::config::{ExecConfig, CRM_FEATURE_SET};
use crate::duration::format_duration;
use crate::metadata::AgentMetadata;
use crate::op::OpRequest;
use crate::rc::{is_known_ocf_rc, lsb_to_ocf, ocf, ExecStatus};
use crate::spawn::{run_process, ProcEnd, ProcOutcome, ProcSpec, EXIT_REASON_PREFIX};

/// The OCF version Pacemaker 2.1 announces to agents (`OCF_RA_VERSION_MAJOR`/`MINOR`).
const OCF_RA_VERSION: (&str, &str) = ("1", "1");

/// What running a request produced, before it becomes an `OpResult`.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Raw {
    pub rc: i32,
    pub status: ExecStatus,
    pub exit_reason: Option<String>,
    pub stdout: String,
    pub stderr: String,
    pub pid: Option<u32>,
}

impl Raw {
    pub fn fail(rc: i32, status: ExecStatus, reason: impl Into<String>) -> Raw {
        Raw {
            rc,
            status,
            exit_reason: Some(reason.into()),
            stdout: String::new(),
            stderr: String::new(),
            pid: None,
        }
    }

    /// Whether the process ran and exited 0.
    pub fn ok(&self) -> bool {
        self.status == ExecStatus::Done && self.rc == 0
    }

    /// Success, with `text` as the output.
    pub fn output(text: String) -> Raw {
        Raw {
            rc: ocf::SUCCESS,
            status: ExecStatus::Done,
            exit_reason: None,
            stdout: text,
            stderr: String::new(),
            pid: None,
        }
    }
}

/// Output kept for meta-data (which must be read whole).
const METADATA_CAP: usize = 1024 * 1024;

pub(crate) fn valid_action(a: &str) -> bool {
    !a.is_empty()
        && a.len() <= 64
        && a.chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
}

fn env_ok(name: &str, value: &str) -> bool {
    !name.is_empty() && !name.contains('=') && !name.contains('\0') && !value.contains('\0')
}

/// Run `req` with `timeout`, whatever its class.
pub(crate) async fn run_request(
    config: &ExecConfig,
    registry: &AgentRegistry,
    req: &OpRequest,
    timeout: Duration,
) -> Raw {
    let agent = req.agent.to_string();
    if !valid_action(&req.action) {
        return Raw::fail(
            ocf::ERR_ARGS,
            ExecStatus::ErrorHard,
            format!("\"{}\" is not an action name", req.action),
        );
    }
    let class = match agent_class(&req.agent.class, &agent) {
        Ok(c) => c,
        Err(e) => {
            return Raw::fail(
                ocf::ERR_UNIMPLEMENTED,
                ExecStatus::NotSupported,
                e.to_string(),
            )
        }
    };
    match class {
        AgentClass::Ocf => run_ocf(config, req, timeout).await,
        AgentClass::Lsb => run_lsb(config, req, timeout).await,
        AgentClass::Systemd => run_systemd(config, req, timeout).await,
        AgentClass::Service => {
            let unit = systemd_unit_name(&req.agent.kind);
            let has_unit = config
                .systemd_unit_dirs
                .iter()
                .any(|d| d.join(&unit).exists());
            if systemd_running(config) && has_unit {
                run_systemd(config, req, timeout).await
            } else {
                run_lsb(config, req, timeout).await
            }
        }
        AgentClass::Halo => run_builtin(config, registry, req, timeout).await,
        // The executor runs the other actions of fence devices with their
        // registration (`fence::resource`); only meta-data needs none.
        AgentClass::Stonith if req.action == "meta-data" => {
            crate::fence::resource::metadata(config, &req.agent.kind, timeout).await
        }
        AgentClass::Stonith => Raw::fail(
            ocf::ERR_UNIMPLEMENTED,
            ExecStatus::NotSupported,
            format!("{agent}: fence device actions run through the executor (Executor::execute)"),
        ),
    }
}

fn signal_name(sig: i32) -> &'static str {
    Signal::try_from(sig)
        .map(|s| s.as_str())
        .unwrap_or("unknown")
}

/// Turn a process outcome into a result, mapping the exit code with `map_rc`.
fn from_outcome(
    out: ProcOutcome,
    timeout: Duration,
    agent: &str,
    map_rc: impl Fn(i32) -> Option<i32>,
) -> Raw {
    let mut raw = Raw {
        rc: ocf::ERR_GENERIC,
        status: ExecStatus::Error,
        exit_reason: out.exit_reason,
        stdout: out.stdout,
        stderr: out.stderr,
        pid: out.pid,
    };
    match out.end {
        ProcEnd::Exited(code) => match map_rc(code) {
            Some(rc) => {
                raw.rc = rc;
                raw.status = ExecStatus::Done;
            }
            None => {
                raw.exit_reason = Some(format!(
                    "{agent} exited with {code}, which is not an OCF exit code{}",
                    raw.exit_reason
                        .map(|r| format!(" ({r})"))
                        .unwrap_or_default()
                ));
            }
        },
        ProcEnd::Signaled(sig) => {
            raw.exit_reason = Some(format!(
                "{agent} was killed by signal {sig} ({})",
                signal_name(sig)
            ));
        }
        ProcEnd::TimedOut => {
            raw.status = ExecStatus::Timeout;
            raw.exit_reason = Some(format!(
                "timed out after {}; the agent's process group was killed",
                format_duration(timeout)
            ));
        }
        ProcEnd::SpawnFailed(e) => {
            let (rc, status) = match e.kind() {
                std::io::ErrorKind::NotFound => (ocf::ERR_INSTALLED, ExecStatus::NotInstalled),
                std::io::ErrorKind::PermissionDenied => (ocf::ERR_PERM, ExecStatus::ErrorHard),
                _ => (ocf::ERR_GENERIC, ExecStatus::Error),
            };
            raw.rc = rc;
            raw.status = status;
            raw.exit_reason = Some(format!("{agent} could not be run: {e}"));
        }
    }
    raw
}

fn not_installed(agent: &str, path: &Path, why: &str) -> Raw {
    Raw::fail(
        ocf::ERR_INSTALLED,
        ExecStatus::NotInstalled,
        format!(
            "{agent} is not installed on this node: {} {why}",
            path.display()
        ),
    )
}

fn check_executable(agent: &str, path: &Path) -> Option<Raw> {
    use std::os::unix::fs::PermissionsExt;
    match std::fs::metadata(path) {
        Err(_) => Some(not_installed(agent, path, "does not exist")),
        Ok(m) if !m.is_file() => Some(not_installed(agent, path, "is not a file")),
        Ok(m) if m.permissions().mode() & 0o111 == 0 => {
            Some(not_installed(agent, path, "is not executable"))
        }
        Ok(_) => None,
    }
}

/// The environment pacemaker-execd passes of its own to every agent, as far as agents
/// read it: `PATH`, `LC_ALL=C` (set by pacemakerd), the logging variables of
/// Pacemaker's daemons, plus `HA_RSCTMP` (the directory agents default to, made
/// configurable) and `extra_env` (Pacemaker's sysconfig file). Everything else of the
/// executor's own environment is left out.
pub(crate) fn base_env(config: &ExecConfig) -> Vec<(String, String)> {
    let mut env = vec![
        ("PATH".to_string(), config.path.clone()),
        ("LC_ALL".to_string(), "C".to_string()),
        (
            "HA_RSCTMP".to_string(),
            config.rsctmp.to_string_lossy().into_owned(),
        ),
    ];
    env.extend(log_env(config));
    env.extend(config.extra_env.iter().cloned());
    env
}

/// Logging variables as Pacemaker 2.1's daemons leave them for agents: crm_log_init
/// sets `PCMK_logfacility`/`HA_logfacility` (`daemon` in a daemon, `none` in a
/// command-line tool); pacemakerd and pacemaker-execd add `HA_LOGFACILITY` unless it is
/// `none` (ocf_log's syslog facility); pacemakerd sets `PCMK_debug`/`HA_debug` to 0 or
/// 1; a log file is `PCMK_logfile`/`HA_logfile` and, from pacemaker-execd,
/// `HA_LOGFILE` (plus `HA_DEBUGLOG` when debugging).
fn log_env(config: &ExecConfig) -> Vec<(String, String)> {
    let mut env = Vec::new();
    let both = |env: &mut Vec<(String, String)>, option: &str, value: &str| {
        for prefix in ["PCMK_", "HA_"] {
            env.push((format!("{prefix}{option}"), value.to_string()));
        }
    };
    let facility = config
        .log_facility
        .as_deref()
        .map(str::trim)
        .filter(|f| !f.is_empty())
        .unwrap_or("none");
    both(&mut env, "logfacility", facility);
    if !facility.eq_ignore_ascii_case("none") && facility != "/dev/null" {
        env.push(("HA_LOGFACILITY".to_string(), facility.to_string()));
    }
    let debug = if config.debug { "1" } else { "0" };
    both(&mut env, "debug", debug);
    if let Some(file) = &config.log_file {
        let file = file.to_string_lossy().into_owned();
        both(&mut env, "logfile", &file);
        env.push(("HA_LOGFILE".to_string(), file.clone()));
        if config.debug {
            env.push(("HA_DEBUGLOG".to_string(), file));
        }
    }
    env
}

/// The environment of an OCF agent for `req`, as Pacemaker 2.1 gives it (later
/// entries replace earlier ones, as Pacemaker's `setenv` calls do):
/// * the executor's environment ([`base_env`]);
/// * `OCF_RESKEY_crm_feature_set` (the scheduler's feature set);
/// * `OCF_RESKEY_<name>` for every parameter (`OCF_CHECK_LEVEL` keeps its name);
/// * `OCF_RESKEY_CRM_meta_<name>` for every meta attribute, `-` becoming `_`
///   (without `op_target_rc`, which Pacemaker's controller drops);
/// * `OCF_RESKEY_CRM_meta_timeout` in ms, `OCF_RESKEY_CRM_meta_interval` in ms for a
///   recurring operation only (a probe has none: agents default it to 0), and
///   `OCF_RESKEY_CRM_meta_on_node`;
/// * `OCF_RA_VERSION_MAJOR`/`MINOR` (1.1), `OCF_ROOT`, `OCF_EXIT_REASON_PREFIX`,
///   `OCF_RESOURCE_INSTANCE`, `OCF_RESOURCE_TYPE`, `OCF_RESOURCE_PROVIDER`.
///
/// `meta-data` gets what Pacemaker's controller gives it: no feature set, timeout or
/// interval, only the node name. Nothing else: in particular not `OCF_FUNCTIONS_DIR`,
/// which agents default themselves (ocf:rabbitmq:rabbitmq-server to
/// `$OCF_ROOT/resource.d/heartbeat`, and fails every action when it is set to the
/// `lib/heartbeat` directory).
///
/// Err: the reason a parameter or meta attribute cannot be passed.
pub(crate) fn ocf_env(
    config: &ExecConfig,
    req: &OpRequest,
    provider: &str,
    timeout: Duration,
) -> Result<Vec<(String, String)>, String> {
    let mut env: BTreeMap<String, String> = base_env(config).into_iter().collect();
    let metadata = req.action == "meta-data";
    if !metadata {
        env.insert("OCF_RESKEY_crm_feature_set".into(), CRM_FEATURE_SET.into());
    }
    for (k, v) in &req.params {
        if !env_ok(k, v) {
            return Err(format!(
                "parameter name \"{k}\" or its value cannot be passed in the environment"
            ));
        }
        let name = if k == "OCF_CHECK_LEVEL" {
            k.clone()
        } else {
            format!("OCF_RESKEY_{k}")
        };
        env.insert(name, v.clone());
    }
    for (k, v) in &req.meta {
        if !env_ok(k, v) {
            return Err(format!(
                "meta attribute \"{k}\" or its value cannot be passed in the environment"
            ));
        }
        let k = k.replace('-', "_");
        if k != "op_target_rc" {
            env.insert(format!("OCF_RESKEY_CRM_meta_{k}"), v.clone());
        }
    }
    if !metadata {
        env.insert(
            "OCF_RESKEY_CRM_meta_timeout".into(),
            timeout.as_millis().to_string(),
        );
        if req.interval.is_zero() {
            env.remove("OCF_RESKEY_CRM_meta_interval");
        } else {
            env.insert(
                "OCF_RESKEY_CRM_meta_interval".into(),
                req.interval.as_millis().to_string(),
            );
        }
    }
    env.insert("OCF_RESKEY_CRM_meta_on_node".into(), config.node.clone());
    if let Some(level) = &req.check_level {
        env.insert("OCF_CHECK_LEVEL".into(), level.clone());
    }
    let ocf = [
        ("OCF_RA_VERSION_MAJOR", OCF_RA_VERSION.0.to_string()),
        ("OCF_RA_VERSION_MINOR", OCF_RA_VERSION.1.to_string()),
        ("OCF_ROOT", config.ocf_root.to_string_lossy().into_owned()),
        (
            "OCF_EXIT_REASON_PREFIX",
            String::from_utf8_lossy(EXIT_REASON_PREFIX).into_owned(),
        ),
        ("OCF_RESOURCE_INSTANCE", req.resource.clone()),
        ("OCF_RESOURCE_TYPE", req.agent.kind.clone()),
        ("OCF_RESOURCE_PROVIDER", provider.to_string()),
    ];
    env.extend(ocf.map(|(k, v)| (k.to_string(), v)));
    Ok(env.into_iter().collect())
}

async fn run_ocf(config: &ExecConfig, req: &OpRequest, timeout: Duration) -> Raw {
    let agent = req.agent.to_string();
    let provider = req.agent.provider.as_deref().unwrap_or("heartbeat");
    let path = ocf_path(config, provider, &req.agent.kind);
    if let Some(raw) = check_executable(&agent, &path) {
        return raw;
    }
    let env = match ocf_env(config, req, provider, timeout) {
        Ok(env) => env,
        Err(reason) => return Raw::fail(ocf::ERR_ARGS, ExecStatus::ErrorHard, reason),
    };
    let args = [req.action.clone()];
    let cap = if req.action == "meta-data" {
        METADATA_CAP
    } else {
        config.output_cap
    };
    let out = run_process(ProcSpec {
        program: &path,
        args: &args,
        env: &env,
        cwd: Path::new("/"),
        timeout,
        output_cap: cap,
        subreaper: config.subreaper,
        stdin: None,
    })
    .await;
    from_outcome(out, timeout, &agent, |c| is_known_ocf_rc(c).then_some(c))
}

async fn run_lsb(config: &ExecConfig, req: &OpRequest, timeout: Duration) -> Raw {
    let agent = req.agent.to_string();
    let path = config.lsb_root.join(&req.agent.kind);
    if let Some(raw) = check_executable(&agent, &path) {
        return raw;
    }
    let action = match req.action.as_str() {
        "meta-data" => {
            let script = std::fs::read(&path).unwrap_or_default();
            let text = String::from_utf8_lossy(&script[..script.len().min(256 * 1024)]);
            return Raw::output(AgentMetadata::from_lsb_script(&req.agent.kind, &text).to_xml());
        }
        "monitor" | "status" => "status",
        a @ ("start" | "stop" | "restart" | "force-reload") => a,
        other => {
            return Raw::fail(
                ocf::ERR_UNIMPLEMENTED,
                ExecStatus::NotSupported,
                format!("LSB init scripts have no \"{other}\" action"),
            )
        }
    };
    if !req.params.is_empty() {
        tracing::warn!(agent = %agent, "LSB init scripts take no parameters; ignoring them");
    }
    let env = base_env(config);
    let args = [action.to_string()];
    let out = run_process(ProcSpec {
        program: &path,
        args: &args,
        env: &env,
        cwd: Path::new("/"),
        timeout,
        output_cap: config.output_cap,
        subreaper: config.subreaper,
        stdin: None,
    })
    .await;
    from_outcome(out, timeout, &agent, |c| Some(lsb_to_ocf(action, c)))
}

async fn systemctl(config: &ExecConfig, args: &[String], timeout: Duration) -> ProcOutcome {
    run_process(ProcSpec {
        program: Path::new("systemctl"),
        args,
        env: &base_env(config),
        cwd: Path::new("/"),
        timeout,
        output_cap: config.output_cap,
        subreaper: config.subreaper,
        stdin: None,
    })
    .await
}

/// The drop-in that makes a unit cluster-controlled while halo runs it, as Pacemaker's
/// does: systemd must not restart the unit behind the cluster's back (a failure is the
/// cluster's to count and recover, by its policy), and at shutdown the unit is stopped
/// after halo, which stops its resources itself.
fn override_text(unit: &str) -> String {
    format!(
        "# Written by halo while the cluster runs {unit}; removed when it stops it.\n\
         [Unit]\nDescription=Cluster Controlled {unit}\nBefore=halo.service\n\n\
         [Service]\nRestart=no\n"
    )
}

/// Installs (`on`) or removes the cluster's drop-in for `unit` (services only: other
/// unit types have no `Restart=`), and has systemd reload its units when that changed.
async fn cluster_override(
    config: &ExecConfig,
    unit: &str,
    on: bool,
    timeout: Duration,
) -> Result<(), String> {
    if !unit.ends_with(".service") {
        return Ok(());
    }
    let dir = config.systemd_runtime_dir.join(format!("{unit}.d"));
    let path = dir.join("50-halo.conf");
    let text = override_text(unit);
    let current = std::fs::read_to_string(&path).ok();
    let changed = if on {
        if current.as_deref() == Some(text.as_str()) {
            false
        } else {
            std::fs::create_dir_all(&dir)
                .and_then(|()| std::fs::write(&path, &text))
                .map_err(|e| format!("cannot write {}: {e}", path.display()))?;
            true
        }
    } else if current.is_some() {
        std::fs::remove_file(&path)
            .map_err(|e| format!("cannot remove {}: {e}", path.display()))?;
        let _ = std::fs::remove_dir(&dir);
        true
    } else {
        false
    };
    if changed {
        let out = systemctl(config, &["daemon-reload".into()], timeout).await;
        if !matches!(out.end, ProcEnd::Exited(0)) {
            return Err(format!(
                "systemctl daemon-reload after {} {}: {}",
                if on { "writing" } else { "removing" },
                path.display(),
                out.stderr.lines().last().unwrap_or("").trim()
            ));
        }
    }
    Ok(())
}

async fn run_systemd(config: &ExecConfig, req: &OpRequest, timeout: Duration) -> Raw {
    let agent = req.agent.to_string();
    let unit = systemd_unit_name(&req.agent.kind);
    if req.action == "meta-data" {
        return Raw::output(AgentMetadata::for_systemd_unit(&unit).to_xml());
    }
    if !systemd_running(config) {
        return Raw::fail(
            ocf::ERR_INSTALLED,
            ExecStatus::NotInstalled,
            format!(
                "systemd is not running here ({} does not exist), so {agent} cannot be run; \
                 use an lsb: or halo:process resource on this machine",
                config.systemd_runtime_dir.display()
            ),
        );
    }
    let verb = match req.action.as_str() {
        "monitor" | "status" => "is-active",
        a @ ("start" | "stop" | "restart" | "reload") => a,
        "validate-all" => "show",
        other => {
            return Raw::fail(
                ocf::ERR_UNIMPLEMENTED,
                ExecStatus::NotSupported,
                format!("systemd units have no \"{other}\" action"),
            )
        }
    };
    // A unit systemd does not know is not installed (stopping it is a success).
    let load = systemctl(
        config,
        &[
            "show".into(),
            "-p".into(),
            "LoadState".into(),
            "--value".into(),
            unit.clone(),
        ],
        timeout,
    )
    .await;
    if load.stdout.trim() == "not-found" {
        if verb == "stop" {
            return Raw::output(String::new());
        }
        return Raw::fail(
            if verb == "is-active" {
                ocf::NOT_RUNNING
            } else {
                ocf::ERR_INSTALLED
            },
            if verb == "is-active" {
                ExecStatus::Done
            } else {
                ExecStatus::NotInstalled
            },
            format!("systemd has no unit {unit}"),
        );
    }
    if verb == "start" {
        if let Err(reason) = cluster_override(config, &unit, true, timeout).await {
            return Raw::fail(ocf::ERR_GENERIC, ExecStatus::Error, reason);
        }
    }
    let args = vec![verb.to_string(), unit.clone()];
    let out = systemctl(config, &args, timeout).await;
    if verb == "stop" && matches!(out.end, ProcEnd::Exited(0)) {
        if let Err(reason) = cluster_override(config, &unit, false, timeout).await {
            tracing::warn!("{reason}");
        }
    }
    if verb == "is-active" {
        let state = out.stdout.trim().to_string();
        let mut raw = from_outcome(out, timeout, &agent, |_| Some(0));
        if raw.status == ExecStatus::Done {
            raw.rc = match state.as_str() {
                "active" | "reloading" | "activating" => ocf::SUCCESS,
                "failed" => {
                    raw.exit_reason = Some(format!("unit {unit} has failed"));
                    ocf::NOT_RUNNING
                }
                _ => ocf::NOT_RUNNING,
            };
        }
        return raw;
    }
    let mut raw = from_outcome(out, timeout, &agent, |c| Some(if c == 0 { 0 } else { 1 }));
    if raw.status == ExecStatus::Done && raw.rc != 0 && raw.exit_reason.is_none() {
        raw.exit_reason = Some(format!(
            "systemctl {verb} {unit} failed: {}",
            raw.stderr.lines().last().unwrap_or("").trim()
        ));
    }
    raw
}

async fn run_builtin(
    config: &ExecConfig,
    registry: &AgentRegistry,
    req: &OpRequest,
    timeout: Duration,
) -> Raw {
    let agent = req.agent.to_string();
    let Some(builtin) = registry.get(&req.agent.kind) else {
        let known: Vec<&str> = registry.names().collect();
        return Raw::fail(
            ocf::ERR_INSTALLED,
            ExecStatus::NotInstalled,
            format!(
                "{agent} is not a builtin agent of halo (builtins: {})",
                known.join(", ")
            ),
        );
    };
    if req.action == "meta-data" {
        return Raw::output(builtin.metadata().to_xml());
    }
    let call = BuiltinCall {
        node: &config.node,
        resource: &req.resource,
        action: &req.action,
        params: &req.params,
        meta: &req.meta,
        interval: req.interval,
        timeout,
        check_level: req.check_level.as_deref(),
        state_dir: &config.state_dir,
    };
    match tokio::time::timeout(timeout, builtin.run(call)).await {
        Ok(o) => Raw {
            rc: o.rc,
            status: ExecStatus::Done,
            exit_reason: o.exit_reason,
            stdout: o.output,
            stderr: String::new(),
            pid: None,
        },
        Err(_) => Raw::fail(
            ocf::ERR_GENERIC,
            ExecStatus::Timeout,
            format!("timed out after {}", format_duration(timeout)),
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::agent::parse_agent;

    fn config() -> ExecConfig {
        ExecConfig {
            node: "n1".into(),
            ocf_root: "/ocf".into(),
            rsctmp: "/rsctmp".into(),
            ..ExecConfig::default()
        }
    }

    fn env_of(config: &ExecConfig, req: &OpRequest) -> BTreeMap<String, String> {
        ocf_env(config, req, "heartbeat", Duration::from_secs(20))
            .unwrap_or_else(|e| panic!("{e}"))
            .into_iter()
            .collect()
    }

    fn request(action: &str) -> OpRequest {
        let agent = parse_agent("ocf:heartbeat:Dummy").unwrap_or_else(|e| panic!("{e}"));
        OpRequest::new("d1", agent, action)
    }

    /// A start gets exactly what pacemaker-execd 2.1 gives an agent by default.
    #[test]
    fn start_gets_pacemakers_environment_and_nothing_else() {
        let mut req = request("start");
        req.params.insert("state".into(), "/x".into());
        req.meta.insert("clone-max".into(), "2".into());
        req.meta.insert("op_target_rc".into(), "7".into());
        let env = env_of(&config(), &req);
        let path = ExecConfig::default().path;
        let want = [
            ("PATH", path.as_str()),
            ("LC_ALL", "C"),
            ("HA_RSCTMP", "/rsctmp"),
            ("PCMK_logfacility", "daemon"),
            ("HA_logfacility", "daemon"),
            ("HA_LOGFACILITY", "daemon"),
            ("PCMK_debug", "0"),
            ("HA_debug", "0"),
            ("OCF_RESKEY_crm_feature_set", CRM_FEATURE_SET),
            ("OCF_RESKEY_state", "/x"),
            ("OCF_RESKEY_CRM_meta_clone_max", "2"),
            ("OCF_RESKEY_CRM_meta_timeout", "20000"),
            ("OCF_RESKEY_CRM_meta_on_node", "n1"),
            ("OCF_RA_VERSION_MAJOR", "1"),
            ("OCF_RA_VERSION_MINOR", "1"),
            ("OCF_ROOT", "/ocf"),
            ("OCF_EXIT_REASON_PREFIX", "ocf-exit-reason:"),
            ("OCF_RESOURCE_INSTANCE", "d1"),
            ("OCF_RESOURCE_TYPE", "Dummy"),
            ("OCF_RESOURCE_PROVIDER", "heartbeat"),
        ];
        let want: BTreeMap<String, String> = want
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        assert_eq!(env, want);
    }

    /// CRM_meta_interval only for a recurring operation; OCF_CHECK_LEVEL unprefixed;
    /// the request's timeout and interval replace meta attributes of those names.
    #[test]
    fn interval_and_check_level() {
        let mut req = request("monitor");
        req.meta.insert("interval".into(), "5".into());
        req.meta.insert("timeout".into(), "5".into());
        let env = env_of(&config(), &req);
        assert!(!env.contains_key("OCF_RESKEY_CRM_meta_interval"), "{env:?}");
        assert_eq!(env["OCF_RESKEY_CRM_meta_timeout"], "20000");
        req.interval = Duration::from_secs(10);
        req.params.insert("OCF_CHECK_LEVEL".into(), "10".into());
        let env = env_of(&config(), &req);
        assert_eq!(env["OCF_RESKEY_CRM_meta_interval"], "10000");
        assert_eq!(env["OCF_CHECK_LEVEL"], "10");
        assert!(!env.contains_key("OCF_RESKEY_OCF_CHECK_LEVEL"));
    }

    /// meta-data gets the node name but no feature set, timeout or interval.
    #[test]
    fn metadata_environment() {
        let env = env_of(&config(), &request("meta-data"));
        assert_eq!(env["OCF_RESKEY_CRM_meta_on_node"], "n1");
        for absent in [
            "OCF_RESKEY_crm_feature_set",
            "OCF_RESKEY_CRM_meta_timeout",
            "OCF_RESKEY_CRM_meta_interval",
            "OCF_FUNCTIONS_DIR",
        ] {
            assert!(!env.contains_key(absent), "{absent} in {env:?}");
        }
    }

    /// Logging as configured: no facility means agents log to stderr; a log file is
    /// HA_LOGFILE, and with debug also HA_DEBUGLOG.
    #[test]
    fn logging_variables() {
        let mut c = config();
        c.log_facility = None;
        c.log_file = Some("/var/log/halo/agents.log".into());
        c.debug = true;
        let env = env_of(&c, &request("start"));
        assert!(!env.contains_key("HA_LOGFACILITY"));
        assert_eq!(env["PCMK_logfacility"], "none");
        assert_eq!(env["HA_debug"], "1");
        for k in ["HA_LOGFILE", "HA_DEBUGLOG", "HA_logfile", "PCMK_logfile"] {
            assert_eq!(env[k], "/var/log/halo/agents.log", "{k}");
        }
        c.log_facility = Some("local3".into());
        c.debug = false;
        let env = env_of(&c, &request("start"));
        assert_eq!(env["HA_LOGFACILITY"], "local3");
        assert!(!env.contains_key("HA_DEBUGLOG"));
        // Like Pacemaker's sysconfig file, extra variables may replace these.
        c.extra_env = vec![("HA_LOGFACILITY".into(), "local5".into())];
        let env = env_of(&c, &request("start"));
        assert_eq!(env["HA_LOGFACILITY"], "local5");
    }
}
