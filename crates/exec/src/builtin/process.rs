//! `halo:process`: supervise any command as a resource.
//!
//! start runs `command` with `/bin/sh -c` in its own process group (and waits until
//! the optional probe answers); monitor checks the process is alive and probes a TCP
//! port or an HTTP URL; stop sends SIGTERM to the group, then SIGKILL after
//! `stop_timeout`. The pid and its kernel start time are kept in a pid file, so a
//! restarted executor recognises (and can stop) a process it did not start itself.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::Mutex;
use std::time::Duration;

use nix::sys::signal::{killpg, Signal};
use nix::unistd::Pid;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::sync::watch;

use crate::builtin::{
    duration_param, file_safe, BoxFuture, BuiltinAgent, BuiltinCall, BuiltinOutcome,
};
use crate::metadata::{ActionMeta, AgentMetadata, ParamMeta};
use crate::rc::ocf;

/// How monitor checks that the service answers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Probe {
    /// `tcp:HOST:PORT`: a TCP connection is accepted.
    Tcp { host: String, port: u16 },
    /// `http://HOST:PORT/PATH`: a GET answers with a 2xx or 3xx status.
    Http {
        host: String,
        port: u16,
        path: String,
    },
}

fn split_host_port(s: &str) -> Option<(String, u16)> {
    let (host, port) = if let Some(rest) = s.strip_prefix('[') {
        let (h, p) = rest.split_once("]:")?;
        (h.to_string(), p)
    } else {
        let (h, p) = s.rsplit_once(':')?;
        (h.to_string(), p)
    };
    if host.is_empty() {
        return None;
    }
    Some((host, port.parse().ok()?))
}

impl Probe {
    pub fn parse(text: &str) -> Option<Probe> {
        if let Some(rest) = text.strip_prefix("tcp:") {
            let (host, port) = split_host_port(rest)?;
            return Some(Probe::Tcp { host, port });
        }
        if let Some(rest) = text.strip_prefix("http://") {
            let (hostport, path) = match rest.find('/') {
                Some(i) => (&rest[..i], rest[i..].to_string()),
                None => (rest, "/".to_string()),
            };
            let (host, port) = match split_host_port(hostport) {
                Some(hp) => hp,
                None if !hostport.is_empty() && !hostport.contains(':') => {
                    (hostport.to_string(), 80)
                }
                None => return None,
            };
            return Some(Probe::Http { host, port, path });
        }
        None
    }

    /// Check once; `Err` says what failed.
    pub async fn check(&self, timeout: Duration) -> Result<(), String> {
        match tokio::time::timeout(timeout, self.check_inner()).await {
            Ok(r) => r,
            Err(_) => Err(format!("probe {self} got no answer within {timeout:?}")),
        }
    }

    async fn check_inner(&self) -> Result<(), String> {
        let (host, port) = match self {
            Probe::Tcp { host, port } | Probe::Http { host, port, .. } => (host, *port),
        };
        let mut stream = tokio::net::TcpStream::connect((host.as_str(), port))
            .await
            .map_err(|e| format!("probe {self}: {e}"))?;
        let Probe::Http { host, path, .. } = self else {
            return Ok(());
        };
        let req = format!("GET {path} HTTP/1.0\r\nHost: {host}\r\nUser-Agent: halo-probe\r\nConnection: close\r\n\r\n");
        stream
            .write_all(req.as_bytes())
            .await
            .map_err(|e| format!("probe {self}: {e}"))?;
        let mut head = Vec::new();
        let mut buf = [0u8; 512];
        while !head.contains(&b'\n') && head.len() < 4096 {
            let n = stream
                .read(&mut buf)
                .await
                .map_err(|e| format!("probe {self}: {e}"))?;
            if n == 0 {
                break;
            }
            head.extend_from_slice(&buf[..n]);
        }
        let line = String::from_utf8_lossy(&head);
        let line = line.lines().next().unwrap_or("");
        let code: Option<u16> = line
            .strip_prefix("HTTP/")
            .and_then(|r| r.split_whitespace().nth(1))
            .and_then(|c| c.parse().ok());
        match code {
            Some(c) if (200..400).contains(&c) => Ok(()),
            Some(c) => Err(format!("probe {self}: HTTP status {c}")),
            None => Err(format!(
                "probe {self}: not an HTTP answer: \"{}\"",
                line.chars().take(60).collect::<String>()
            )),
        }
    }
}

impl std::fmt::Display for Probe {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Probe::Tcp { host, port } => write!(f, "tcp:{host}:{port}"),
            Probe::Http { host, port, path } => write!(f, "http://{host}:{port}{path}"),
        }
    }
}

/// A process this executor started and is reaping.
struct Instance {
    pid: i32,
    /// Set (to a description of the exit) when the process has ended and was reaped.
    exited: watch::Receiver<Option<String>>,
}

/// The `halo:process` agent.
pub struct ProcessAgent {
    instances: Mutex<HashMap<String, Instance>>,
}

impl Default for ProcessAgent {
    fn default() -> Self {
        Self::new()
    }
}

fn start_time_of(pid: i32) -> Option<u64> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let after = &text[text.rfind(')')? + 1..];
    // Fields after the command: state is field 3 overall, starttime field 22.
    after.split_whitespace().nth(19)?.parse().ok()
}

fn alive(pid: i32) -> bool {
    matches!(crate::spawn::proc_info(pid), Some(p) if p.state != 'Z' && p.state != 'X')
}

fn pid_file(call: &BuiltinCall) -> PathBuf {
    call.state_dir
        .join(format!("process-{}.pid", file_safe(call.resource)))
}

/// The pid recorded in the pid file, if that process still runs (same start time).
fn adopted_pid(path: &Path) -> Option<i32> {
    let text = std::fs::read_to_string(path).ok()?;
    let mut f = text.split_whitespace();
    let pid: i32 = f.next()?.parse().ok()?;
    let start: u64 = f.next()?.parse().ok()?;
    (pid > 1 && start_time_of(pid) == Some(start) && alive(pid)).then_some(pid)
}

enum Running {
    /// Our child, still running.
    Child(i32),
    /// Started by an earlier executor, found through the pid file.
    Adopted(i32),
    /// Our child ended; the description of its exit.
    Exited(String),
    Stopped,
}

impl ProcessAgent {
    pub fn new() -> Self {
        ProcessAgent {
            instances: Mutex::new(HashMap::new()),
        }
    }

    fn running(&self, call: &BuiltinCall) -> Running {
        if let Ok(map) = self.instances.lock() {
            if let Some(inst) = map.get(call.resource) {
                return match inst.exited.borrow().clone() {
                    None => Running::Child(inst.pid),
                    Some(how) => Running::Exited(how),
                };
            }
        }
        match adopted_pid(&pid_file(call)) {
            Some(pid) => Running::Adopted(pid),
            None => Running::Stopped,
        }
    }

    fn forget(&self, call: &BuiltinCall) {
        if let Ok(mut map) = self.instances.lock() {
            map.remove(call.resource);
        }
        let _ = std::fs::remove_file(pid_file(call));
    }

    async fn monitor(&self, call: &BuiltinCall<'_>) -> BuiltinOutcome {
        match self.running(call) {
            Running::Stopped => BuiltinOutcome::rc(ocf::NOT_RUNNING),
            Running::Exited(how) => {
                BuiltinOutcome::fail(ocf::NOT_RUNNING, format!("the process {how}"))
            }
            Running::Child(_) | Running::Adopted(_) => match probe_of(call) {
                Err(o) => o,
                Ok(None) => BuiltinOutcome::ok(),
                Ok(Some(probe)) => {
                    let t = match duration_param(
                        call.params,
                        "probe_timeout",
                        Duration::from_secs(5),
                    ) {
                        Ok(t) => t,
                        Err(o) => return o,
                    };
                    match probe.check(t).await {
                        Ok(()) => BuiltinOutcome::ok(),
                        Err(e) => BuiltinOutcome::fail(ocf::ERR_GENERIC, e),
                    }
                }
            },
        }
    }

    async fn start(&self, call: &BuiltinCall<'_>) -> BuiltinOutcome {
        let probe = match probe_of(call) {
            Ok(p) => p,
            Err(o) => return o,
        };
        let Some(command) = call.params.get("command").filter(|c| !c.trim().is_empty()) else {
            return BuiltinOutcome::fail(ocf::ERR_CONFIGURED, "parameter \"command\" is required");
        };
        let grace = match duration_param(call.params, "start_grace", Duration::from_millis(200)) {
            Ok(g) => g,
            Err(o) => return o,
        };
        match self.running(call) {
            Running::Child(_) | Running::Adopted(_) => {
                // Already running: start is idempotent; still wait for the probe below.
            }
            Running::Exited(_) | Running::Stopped => {
                self.forget(call);
                if let Err(o) = self.spawn(call, command) {
                    return o;
                }
            }
        }
        let probe_timeout =
            match duration_param(call.params, "probe_timeout", Duration::from_secs(5)) {
                Ok(t) => t,
                Err(o) => return o,
            };
        let started = tokio::time::Instant::now();
        loop {
            match self.running(call) {
                Running::Exited(how) => {
                    return BuiltinOutcome::fail(
                        ocf::ERR_GENERIC,
                        format!("the process {how} while starting"),
                    )
                }
                Running::Stopped => {
                    return BuiltinOutcome::fail(
                        ocf::ERR_GENERIC,
                        "the process vanished while starting",
                    )
                }
                Running::Child(_) | Running::Adopted(_) => {}
            }
            let up = match &probe {
                Some(p) => p.check(probe_timeout).await.is_ok(),
                None => started.elapsed() >= grace,
            };
            if up {
                return BuiltinOutcome::ok();
            }
            // The operation timeout (enforced by the executor) bounds this loop.
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    fn spawn(&self, call: &BuiltinCall, command: &str) -> Result<(), BuiltinOutcome> {
        let cwd = call
            .params
            .get("cwd")
            .map(PathBuf::from)
            .unwrap_or_else(|| "/".into());
        if !cwd.is_dir() {
            return Err(BuiltinOutcome::fail(
                ocf::ERR_CONFIGURED,
                format!("cwd={} is not a directory", cwd.display()),
            ));
        }
        let (out, err) = match call.params.get("log") {
            None => (Stdio::null(), Stdio::null()),
            Some(path) => {
                let opened = std::fs::OpenOptions::new()
                    .create(true)
                    .append(true)
                    .open(path)
                    .and_then(|f| Ok((f.try_clone()?, f)));
                match opened {
                    Ok((f1, f2)) => (Stdio::from(f1), Stdio::from(f2)),
                    Err(e) => {
                        return Err(BuiltinOutcome::fail(
                            ocf::ERR_PERM,
                            format!("log={path}: {e}"),
                        ))
                    }
                }
            }
        };
        let mut cmd = tokio::process::Command::new("/bin/sh");
        cmd.arg("-c")
            .arg(command)
            .current_dir(&cwd)
            .env_clear()
            .env(
                "PATH",
                call.params
                    .get("path")
                    .map(String::as_str)
                    .unwrap_or("/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"),
            )
            .env("HALO_RESOURCE", call.resource)
            .env("HALO_NODE", call.node)
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(err)
            .process_group(0);
        for (k, v) in call
            .params
            .iter()
            .filter_map(|(k, v)| Some((k.strip_prefix("env_")?, v)))
        {
            cmd.env(k, v);
        }
        let mut child = cmd.spawn().map_err(|e| {
            BuiltinOutcome::fail(ocf::ERR_INSTALLED, format!("cannot run /bin/sh: {e}"))
        })?;
        drop(cmd);
        let Some(pid) = child.id().map(|p| p as i32) else {
            return Err(BuiltinOutcome::fail(
                ocf::ERR_GENERIC,
                "the process ended at once",
            ));
        };
        // Orphans of the shell are reaped by the executor when it is a subreaper.
        crate::spawn::track_group(pid);
        let (tx, rx) = watch::channel(None);
        tokio::spawn(async move {
            let how = match child.wait().await {
                Ok(st) => describe_exit(st),
                Err(e) => format!("could not be waited for: {e}"),
            };
            let _ = tx.send(Some(how));
        });
        if let Ok(mut map) = self.instances.lock() {
            map.insert(call.resource.to_string(), Instance { pid, exited: rx });
        }
        if let Some(start) = start_time_of(pid) {
            let path = pid_file(call);
            if let Some(dir) = path.parent() {
                let _ = std::fs::create_dir_all(dir);
            }
            if let Err(e) = std::fs::write(&path, format!("{pid} {start}\n")) {
                tracing::warn!(
                    resource = call.resource,
                    "cannot write {}: {e}",
                    path.display()
                );
            }
        }
        Ok(())
    }

    async fn stop(&self, call: &BuiltinCall<'_>) -> BuiltinOutcome {
        // Leave a margin of the operation timeout for the SIGKILL and the reaping.
        let default_grace = call.timeout.mul_f64(0.8).min(Duration::from_secs(30));
        let grace = match duration_param(call.params, "stop_timeout", default_grace) {
            Ok(g) => g,
            Err(o) => return o,
        };
        let (pid, mut exited) = match self.running(call) {
            Running::Stopped | Running::Exited(_) => {
                self.forget(call);
                return BuiltinOutcome::ok();
            }
            Running::Child(pid) => {
                let rx = self
                    .instances
                    .lock()
                    .ok()
                    .and_then(|m| m.get(call.resource).map(|i| i.exited.clone()));
                (pid, rx)
            }
            Running::Adopted(pid) => (pid, None),
        };
        let _ = killpg(Pid::from_raw(pid), Signal::SIGTERM);
        let ended = wait_end(pid, exited.as_mut(), grace).await;
        if !ended {
            let _ = killpg(Pid::from_raw(pid), Signal::SIGKILL);
            // SIGKILL cannot be ignored; the operation timeout bounds this wait.
            wait_end(pid, exited.as_mut(), Duration::from_secs(3600)).await;
        }
        // Other members of the group (children of the shell) go with it.
        let _ = killpg(Pid::from_raw(pid), Signal::SIGKILL);
        self.forget(call);
        BuiltinOutcome::ok()
    }
}

/// Wait until the process has ended (reaped, for our child), up to `limit`.
async fn wait_end(
    pid: i32,
    exited: Option<&mut watch::Receiver<Option<String>>>,
    limit: Duration,
) -> bool {
    match exited {
        Some(rx) => tokio::time::timeout(limit, rx.wait_for(|v| v.is_some()))
            .await
            .is_ok(),
        None => {
            let deadline = tokio::time::Instant::now() + limit;
            while alive(pid) {
                if tokio::time::Instant::now() >= deadline {
                    return false;
                }
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            true
        }
    }
}

fn describe_exit(st: std::process::ExitStatus) -> String {
    use std::os::unix::process::ExitStatusExt;
    match (st.code(), st.signal()) {
        (Some(c), _) => format!("exited with status {c}"),
        (None, Some(s)) => format!(
            "was killed by signal {s} ({})",
            Signal::try_from(s).map(|s| s.as_str()).unwrap_or("?")
        ),
        _ => "ended".to_string(),
    }
}

fn probe_of(call: &BuiltinCall) -> Result<Option<Probe>, BuiltinOutcome> {
    match call.params.get("probe") {
        None => Ok(None),
        Some(p) if p.is_empty() => Ok(None),
        Some(p) => Probe::parse(p).map(Some).ok_or_else(|| {
            BuiltinOutcome::fail(
                ocf::ERR_CONFIGURED,
                format!("probe=\"{p}\" is not tcp:HOST:PORT or http://HOST:PORT/PATH"),
            )
        }),
    }
}

impl BuiltinAgent for ProcessAgent {
    fn name(&self) -> &str {
        "process"
    }

    fn metadata(&self) -> AgentMetadata {
        let param = |name: &str, short: &str, long: &str| ParamMeta {
            name: name.into(),
            shortdesc: short.into(),
            longdesc: long.into(),
            content_type: "string".into(),
            ..Default::default()
        };
        AgentMetadata {
            name: "process".into(),
            version: Some("1.0".into()),
            shortdesc: "Supervises a command as a resource".into(),
            longdesc: "Runs a command (through /bin/sh -c) in its own process group. Monitor \
                       checks that it is alive and, with probe, that it answers on a TCP port or \
                       an HTTP URL. Stop sends SIGTERM to the group, then SIGKILL after \
                       stop_timeout. Parameters named env_NAME set environment variable NAME; \
                       HALO_RESOURCE and HALO_NODE name the resource and the node."
                .into(),
            parameters: vec![
                ParamMeta {
                    required: true,
                    ..param(
                        "command",
                        "Command line",
                        "The command to run, as for /bin/sh -c.",
                    )
                },
                param(
                    "cwd",
                    "Working directory",
                    "Directory to run in (default /).",
                ),
                param(
                    "probe",
                    "Health probe",
                    "tcp:HOST:PORT (a connection is accepted) or http://HOST:PORT/PATH (a GET \
                     answers 2xx or 3xx). Start waits until it succeeds.",
                ),
                param(
                    "probe_timeout",
                    "Probe timeout",
                    "Timeout of one probe (default 5s).",
                ),
                param(
                    "start_grace",
                    "Start grace time",
                    "Without a probe, how long the process must stay up for start to succeed \
                     (default 200ms).",
                ),
                param(
                    "stop_timeout",
                    "Stop grace time",
                    "How long to wait after SIGTERM before SIGKILL (default 80% of the stop \
                     timeout, at most 30s).",
                ),
                param(
                    "log",
                    "Log file",
                    "File the output is appended to (default: discarded).",
                ),
                param("path", "PATH", "PATH of the command."),
            ],
            actions: vec![
                ActionMeta::new("start", 20_000, None),
                ActionMeta::new("stop", 20_000, None),
                ActionMeta::new("monitor", 20_000, Some(10_000)),
                ActionMeta::new("validate-all", 5_000, None),
                ActionMeta::new("meta-data", 5_000, None),
            ],
        }
    }

    fn run<'a>(&'a self, call: BuiltinCall<'a>) -> BoxFuture<'a, BuiltinOutcome> {
        Box::pin(async move {
            match call.action {
                "start" => self.start(&call).await,
                "stop" => self.stop(&call).await,
                "monitor" | "status" => self.monitor(&call).await,
                "validate-all" => {
                    if !call.params.contains_key("command") {
                        return BuiltinOutcome::fail(
                            ocf::ERR_CONFIGURED,
                            "parameter \"command\" is required",
                        );
                    }
                    if let Err(o) = probe_of(&call) {
                        return o;
                    }
                    for p in ["probe_timeout", "start_grace", "stop_timeout"] {
                        if let Err(o) = duration_param(call.params, p, Duration::ZERO) {
                            return o;
                        }
                    }
                    BuiltinOutcome::ok()
                }
                other => BuiltinOutcome::unimplemented(other),
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_probes() {
        assert_eq!(
            Probe::parse("tcp:127.0.0.1:8080"),
            Some(Probe::Tcp {
                host: "127.0.0.1".into(),
                port: 8080
            })
        );
        assert_eq!(
            Probe::parse("tcp:[::1]:80"),
            Some(Probe::Tcp {
                host: "::1".into(),
                port: 80
            })
        );
        assert_eq!(
            Probe::parse("http://127.0.0.1:81/health"),
            Some(Probe::Http {
                host: "127.0.0.1".into(),
                port: 81,
                path: "/health".into()
            })
        );
        assert_eq!(
            Probe::parse("http://localhost"),
            Some(Probe::Http {
                host: "localhost".into(),
                port: 80,
                path: "/".into()
            })
        );
        for bad in [
            "tcp:host",
            "tcp::80",
            "udp:1.2.3.4:5",
            "tcp:h:99999",
            "http://h:x/",
        ] {
            assert_eq!(Probe::parse(bad), None, "{bad}");
        }
    }
}
