//! Shared helpers of the executor's integration tests.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use halo_exec::{parse_agent, AgentRegistry, ExecConfig, Executor, MemorySink, OpRequest};
use halo_model::Attrs;

/// An executor whose scratch directories live in a fresh temporary directory.
pub struct Env {
    pub dir: tempfile::TempDir,
    pub exec: Executor,
    pub sink: Arc<MemorySink>,
}

impl Env {
    pub fn new() -> Env {
        Self::with(|_| {})
    }

    pub fn with(tweak: impl FnOnce(&mut ExecConfig)) -> Env {
        let dir = tempfile::tempdir().expect("temp dir");
        let mut config = ExecConfig {
            node: "node1".into(),
            rsctmp: dir.path().join("rsctmp"),
            state_dir: dir.path().join("state"),
            lsb_root: dir.path().join("init.d"),
            // The test process reaps orphans of killed agents (PID 1 may not here).
            subreaper: true,
            ..ExecConfig::default()
        };
        std::fs::create_dir_all(&config.lsb_root).expect("lsb dir");
        tweak(&mut config);
        let sink = Arc::new(MemorySink::new());
        let exec = Executor::new(config, AgentRegistry::with_defaults(), sink.clone());
        Env { dir, exec, sink }
    }

    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// A request for `agent` (`class:provider:type`) on resource `rsc`.
    pub fn req(&self, rsc: &str, agent: &str, action: &str, params: &[(&str, &str)]) -> OpRequest {
        OpRequest::new(rsc, parse_agent(agent).expect("agent name"), action)
            .with_params(attrs(params))
            .with_timeout(Duration::from_secs(30))
    }
}

pub fn attrs(kv: &[(&str, &str)]) -> Attrs {
    kv.iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

/// Write an executable script.
pub fn script(path: &Path, body: &str) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::write(path, body).expect("write script");
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o755)).expect("chmod");
}

/// An OCF root in `dir` with provider `test` holding the given agents, plus the
/// system's heartbeat and pacemaker providers and shell library (symlinked).
pub fn ocf_root_with(dir: &Path, agents: &[(&str, &str)]) -> PathBuf {
    let root = dir.join("ocf");
    let prov = root.join("resource.d").join("test");
    std::fs::create_dir_all(&prov).expect("ocf dirs");
    for sys in ["resource.d/heartbeat", "resource.d/pacemaker", "lib"] {
        std::os::unix::fs::symlink(Path::new("/usr/lib/ocf").join(sys), root.join(sys))
            .expect("symlink");
    }
    for (name, body) in agents {
        script(&prov.join(name), body);
    }
    root
}

/// Processes whose process group is `pgid`, from /proc (independent of the library).
pub fn group_procs(pgid: i32) -> Vec<(i32, char, i32)> {
    let mut out = Vec::new();
    for e in std::fs::read_dir("/proc").expect("/proc").flatten() {
        let Ok(pid) = e.file_name().to_string_lossy().parse::<i32>() else {
            continue;
        };
        let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
            continue;
        };
        let Some(close) = stat.rfind(')') else {
            continue;
        };
        let f: Vec<&str> = stat[close + 1..].split_whitespace().collect();
        let (state, ppid, pgrp) = (
            f[0].chars().next().unwrap_or('?'),
            f[1].parse().unwrap_or(0),
            f[2].parse().unwrap_or(0),
        );
        if pgrp == pgid {
            out.push((pid, state, ppid));
        }
    }
    out
}

/// Zombies whose parent is this test process.
pub fn my_zombies() -> Vec<i32> {
    let me = std::process::id() as i32;
    let mut out = Vec::new();
    for e in std::fs::read_dir("/proc").expect("/proc").flatten() {
        let Ok(pid) = e.file_name().to_string_lossy().parse::<i32>() else {
            continue;
        };
        let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
            continue;
        };
        let Some(close) = stat.rfind(')') else {
            continue;
        };
        let f: Vec<&str> = stat[close + 1..].split_whitespace().collect();
        if f[0] == "Z" && f[1].parse::<i32>().ok() == Some(me) {
            out.push(pid);
        }
    }
    out
}

/// Tests that count file descriptors or zombies of the whole process hold this
/// exclusively; the others hold it shared.
pub static PROCESS_WIDE: tokio::sync::RwLock<()> = tokio::sync::RwLock::const_new(());

pub async fn exclusive() -> tokio::sync::RwLockWriteGuard<'static, ()> {
    PROCESS_WIDE.write().await
}

pub async fn shared() -> tokio::sync::RwLockReadGuard<'static, ()> {
    PROCESS_WIDE.read().await
}

/// Wait (boundedly) until no zombie child of this process is left; returns those left.
pub async fn zombies_after_reaping() -> Vec<i32> {
    for _ in 0..200 {
        if my_zombies().is_empty() {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    my_zombies()
}

pub fn open_fds() -> usize {
    std::fs::read_dir("/proc/self/fd").expect("fd dir").count()
}
