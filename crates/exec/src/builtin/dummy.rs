//! `halo:dummy`: does nothing but remember whether it runs (and whether it is
//! promoted), like `ocf:pacemaker:Dummy` with `Stateful`'s roles. For tests and demos.

use std::path::PathBuf;
use std::time::Duration;

use crate::builtin::{
    duration_param, file_safe, BoxFuture, BuiltinAgent, BuiltinCall, BuiltinOutcome,
};
use crate::metadata::{ActionMeta, AgentMetadata, ParamMeta};
use crate::rc::ocf;

/// The `halo:dummy` agent.
pub struct Dummy;

fn state_path(call: &BuiltinCall) -> PathBuf {
    match call.params.get("state") {
        Some(p) => PathBuf::from(p),
        None => call
            .state_dir
            .join(format!("dummy-{}.state", file_safe(call.resource))),
    }
}

enum State {
    Stopped,
    Started,
    Promoted,
}

fn read_state(path: &std::path::Path) -> Result<State, BuiltinOutcome> {
    match std::fs::read_to_string(path) {
        Ok(s) => match s.trim() {
            "started" => Ok(State::Started),
            "promoted" => Ok(State::Promoted),
            other => Err(BuiltinOutcome::fail(
                ocf::ERR_GENERIC,
                format!(
                    "state file {} holds \"{}\", expected started or promoted",
                    path.display(),
                    other.chars().take(40).collect::<String>()
                ),
            )),
        },
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(State::Stopped),
        Err(e) => Err(BuiltinOutcome::fail(
            ocf::ERR_GENERIC,
            format!("cannot read state file {}: {e}", path.display()),
        )),
    }
}

fn write_state(path: &std::path::Path, what: &str) -> BuiltinOutcome {
    if let Some(dir) = path.parent() {
        if let Err(e) = std::fs::create_dir_all(dir) {
            return BuiltinOutcome::fail(
                ocf::ERR_PERM,
                format!("cannot create {}: {e}", dir.display()),
            );
        }
    }
    match std::fs::write(path, what) {
        Ok(()) => BuiltinOutcome::ok(),
        Err(e) => BuiltinOutcome::fail(
            ocf::ERR_PERM,
            format!("cannot write state file {}: {e}", path.display()),
        ),
    }
}

async fn run(call: BuiltinCall<'_>) -> BuiltinOutcome {
    let sleep = match duration_param(call.params, "op_sleep", Duration::ZERO) {
        Ok(d) => d,
        Err(o) => return o,
    };
    if !sleep.is_zero() {
        tokio::time::sleep(sleep).await;
    }
    let path = state_path(&call);
    if call.params.get("fail").is_some_and(|f| f == call.action) {
        return BuiltinOutcome::fail(
            ocf::ERR_GENERIC,
            format!("{} fails because fail={}", call.action, call.action),
        );
    }
    match call.action {
        "start" | "migrate_from" => match read_state(&path) {
            Ok(State::Stopped) => write_state(&path, "started"),
            Ok(_) => BuiltinOutcome::ok(),
            Err(o) => o,
        },
        "stop" | "migrate_to" => match std::fs::remove_file(&path) {
            Ok(()) => BuiltinOutcome::ok(),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => BuiltinOutcome::ok(),
            Err(e) => BuiltinOutcome::fail(
                ocf::ERR_GENERIC,
                format!("cannot remove state file {}: {e}", path.display()),
            ),
        },
        "monitor" | "status" => match read_state(&path) {
            Ok(State::Stopped) => BuiltinOutcome::rc(ocf::NOT_RUNNING),
            Ok(State::Started) => BuiltinOutcome::ok(),
            Ok(State::Promoted) => BuiltinOutcome::rc(ocf::RUNNING_PROMOTED),
            Err(o) => o,
        },
        "promote" => match read_state(&path) {
            Ok(State::Stopped) => BuiltinOutcome::fail(ocf::NOT_RUNNING, "not started"),
            Ok(_) => write_state(&path, "promoted"),
            Err(o) => o,
        },
        "demote" => match read_state(&path) {
            Ok(State::Stopped) => BuiltinOutcome::fail(ocf::NOT_RUNNING, "not started"),
            Ok(_) => write_state(&path, "started"),
            Err(o) => o,
        },
        "notify" | "reload" | "reload-agent" => BuiltinOutcome::ok(),
        "validate-all" => match path.parent() {
            Some(dir) if dir.as_os_str().is_empty() || dir.is_dir() || !dir.exists() => {
                BuiltinOutcome::ok()
            }
            _ => BuiltinOutcome::fail(
                ocf::ERR_CONFIGURED,
                format!("the directory of state={} is not usable", path.display()),
            ),
        },
        other => BuiltinOutcome::unimplemented(other),
    }
}

impl BuiltinAgent for Dummy {
    fn name(&self) -> &str {
        "dummy"
    }

    fn metadata(&self) -> AgentMetadata {
        let param = |name: &str, short: &str, long: &str, ty: &str, reloadable: bool| ParamMeta {
            name: name.into(),
            shortdesc: short.into(),
            longdesc: long.into(),
            content_type: ty.into(),
            reloadable,
            ..Default::default()
        };
        let act =
            |name: &str, timeout: u64, interval: Option<u64>, role: Option<&str>| ActionMeta {
                name: name.into(),
                timeout_ms: Some(timeout),
                interval_ms: interval,
                depth: None,
                role: role.map(str::to_string),
            };
        AgentMetadata {
            name: "dummy".into(),
            version: Some("1.0".into()),
            shortdesc: "Does nothing, remembers whether it runs".into(),
            longdesc: "A resource that only records its state (stopped, started, promoted) in a \
                       file. It can be promoted and demoted. For tests and demonstrations."
                .into(),
            parameters: vec![
                ParamMeta {
                    unique: true,
                    ..param(
                        "state",
                        "State file",
                        "Where the state is kept (default: the executor's state directory).",
                        "string",
                        false,
                    )
                },
                param(
                    "op_sleep",
                    "Delay of every operation",
                    "How long each operation takes, e.g. 500ms or 2s.",
                    "string",
                    false,
                ),
                param(
                    "fail",
                    "Action that fails",
                    "Name of an action that returns a generic error (for testing recovery).",
                    "string",
                    true,
                ),
                param(
                    "fake",
                    "Fake parameter",
                    "A parameter that can be changed and reloaded.",
                    "string",
                    true,
                ),
            ],
            actions: vec![
                act("start", 20_000, None, None),
                act("stop", 20_000, None, None),
                act("monitor", 20_000, Some(10_000), None),
                act("monitor", 20_000, Some(11_000), Some("Promoted")),
                act("promote", 20_000, None, None),
                act("demote", 20_000, None, None),
                act("notify", 20_000, None, None),
                act("reload", 20_000, None, None),
                act("reload-agent", 20_000, None, None),
                act("migrate_to", 20_000, None, None),
                act("migrate_from", 20_000, None, None),
                act("validate-all", 20_000, None, None),
                act("meta-data", 5_000, None, None),
            ],
        }
    }

    fn run<'a>(&'a self, call: BuiltinCall<'a>) -> BoxFuture<'a, BuiltinOutcome> {
        Box::pin(run(call))
    }
}
