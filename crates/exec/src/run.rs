//! Running one request by class: OCF, LSB, systemd, builtin. No locking, no recording.

use std::path::Path;
use std::time::Duration;

use nix::sys::signal::Signal;

use crate::agent::{agent_class, ocf_path, systemd_running, systemd_unit_name, AgentClass};
use crate::builtin::{AgentRegistry, BuiltinCall};
use crate::config::ExecConfig;
use crate::duration::format_duration;
use crate::metadata::AgentMetadata;
use crate::op::OpRequest;
use crate::rc::{is_known_ocf_rc, lsb_to_ocf, ocf, ExecStatus};
use crate::spawn::{run_process, ProcEnd, ProcOutcome, ProcSpec};

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

    fn output(text: String) -> Raw {
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

fn valid_action(a: &str) -> bool {
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

fn base_env(config: &ExecConfig) -> Vec<(String, String)> {
    let mut env = vec![
        ("PATH".to_string(), config.path.clone()),
        (
            "HA_RSCTMP".to_string(),
            config.rsctmp.to_string_lossy().into_owned(),
        ),
    ];
    env.extend(config.extra_env.iter().cloned());
    env
}

async fn run_ocf(config: &ExecConfig, req: &OpRequest, timeout: Duration) -> Raw {
    let agent = req.agent.to_string();
    let provider = req.agent.provider.as_deref().unwrap_or("heartbeat");
    let path = ocf_path(config, provider, &req.agent.kind);
    if let Some(raw) = check_executable(&agent, &path) {
        return raw;
    }
    let mut env = base_env(config);
    let root = config.ocf_root.to_string_lossy().into_owned();
    // What Pacemaker's executor sets, and nothing more: agents choose their own
    // defaults for the rest (ocf:rabbitmq:rabbitmq-server looks for its shell
    // functions elsewhere when OCF_FUNCTIONS_DIR is unset).
    env.push(("OCF_ROOT".into(), root.clone()));
    env.push(("OCF_RA_VERSION_MAJOR".into(), "1".into()));
    env.push(("OCF_RA_VERSION_MINOR".into(), "1".into()));
    env.push(("OCF_RESOURCE_INSTANCE".into(), req.resource.clone()));
    env.push(("OCF_RESOURCE_TYPE".into(), req.agent.kind.clone()));
    env.push(("OCF_RESOURCE_PROVIDER".into(), provider.to_string()));
    env.push(("OCF_EXIT_REASON_PREFIX".into(), "ocf-exit-reason:".into()));
    for (k, v) in &req.params {
        if !env_ok(k, v) {
            return Raw::fail(
                ocf::ERR_ARGS,
                ExecStatus::ErrorHard,
                format!("parameter name \"{k}\" or its value cannot be passed in the environment"),
            );
        }
        env.push((format!("OCF_RESKEY_{k}"), v.clone()));
    }
    for (k, v) in &req.meta {
        if !env_ok(k, v) {
            return Raw::fail(
                ocf::ERR_ARGS,
                ExecStatus::ErrorHard,
                format!("meta attribute \"{k}\" or its value cannot be passed in the environment"),
            );
        }
        env.push((
            format!("OCF_RESKEY_CRM_meta_{}", k.replace('-', "_")),
            v.clone(),
        ));
    }
    env.push((
        "OCF_RESKEY_CRM_meta_timeout".into(),
        timeout.as_millis().to_string(),
    ));
    env.push((
        "OCF_RESKEY_CRM_meta_interval".into(),
        req.interval.as_millis().to_string(),
    ));
    env.push(("OCF_RESKEY_CRM_meta_on_node".into(), config.node.clone()));
    if let Some(level) = &req.check_level {
        env.push(("OCF_CHECK_LEVEL".into(), level.clone()));
    }
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
    })
    .await
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
    let args = vec![verb.to_string(), unit.clone()];
    let out = systemctl(config, &args, timeout).await;
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
