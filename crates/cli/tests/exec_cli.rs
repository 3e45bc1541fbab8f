//! `halo agent` and `halo resource` (agent tools) run as the built binary against
//! the real agents of Debian's resource-agents packages.

use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::{Command, Output};

struct Scratch {
    dir: tempfile::TempDir,
}

impl Scratch {
    fn new() -> Scratch {
        Scratch {
            dir: tempfile::tempdir().expect("temp dir"),
        }
    }

    /// `halo ARGS` with the scratch directories of this test.
    fn halo(&self, args: &[&str]) -> Output {
        Command::new(env!("CARGO_BIN_EXE_halo"))
            .args(args)
            .env("HALO_RSCTMP", self.dir.path().join("rsctmp"))
            .env("HALO_STATE_DIR", self.dir.path().join("state"))
            .env("HALO_LSB_ROOT", self.dir.path().join("init.d"))
            .output()
            .expect("run halo")
    }

    fn path(&self, p: &str) -> std::path::PathBuf {
        self.dir.path().join(p)
    }
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn write_exec(path: &Path, body: &str) {
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, body).unwrap();
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o755)).unwrap();
}

/// `halo agent check ocf:heartbeat:Dummy` passes every step of the ocf-tester sequence.
#[test]
fn agent_check_heartbeat_dummy_passes_every_step() {
    let s = Scratch::new();
    let o = s.halo(&["agent", "check", "ocf:heartbeat:Dummy"]);
    let out = stdout(&o);
    assert!(o.status.success(), "{out}\n{}", stderr(&o));
    for step in [
        "PASS  meta-data rc=0",
        "PASS  validate-all rc=0",
        "PASS  monitor while stopped (probe) rc=7",
        "PASS  start rc=0",
        "PASS  monitor while started rc=0",
        "PASS  start again (idempotent) rc=0",
        "PASS  stop rc=0",
        "PASS  stop again (idempotent) rc=0",
        "PASS  monitor after stop rc=7",
    ] {
        assert!(out.contains(step), "missing \"{step}\" in\n{out}");
    }
    assert!(!out.contains("FAIL"), "{out}");
    assert!(out.contains("all 10 steps passed"), "{out}");
}

/// The check fails (non-zero exit) for an agent whose monitor lies, naming the step.
#[test]
fn agent_check_fails_for_a_broken_agent() {
    let s = Scratch::new();
    let root = s.path("ocf");
    for sys in ["lib", "resource.d/heartbeat"] {
        std::fs::create_dir_all(root.join(sys).parent().unwrap()).unwrap();
        std::os::unix::fs::symlink(Path::new("/usr/lib/ocf").join(sys), root.join(sys)).unwrap();
    }
    write_exec(
        &root.join("resource.d/test/Liar"),
        "#!/bin/sh\ncase \"$1\" in\nmeta-data) echo '<resource-agent name=\"Liar\"><actions><action name=\"start\"/><action name=\"stop\"/><action name=\"monitor\"/></actions></resource-agent>';;\nmonitor) exit 0;;\n*) exit 0;;\nesac\n",
    );
    let o = Command::new(env!("CARGO_BIN_EXE_halo"))
        .args(["agent", "check", "ocf:test:Liar", "--ocf-root"])
        .arg(&root)
        .env("HALO_RSCTMP", s.path("rsctmp"))
        .env("HALO_STATE_DIR", s.path("state"))
        .output()
        .unwrap();
    let out = stdout(&o);
    assert!(!o.status.success(), "{out}");
    assert!(
        out.contains("FAIL  monitor while stopped (probe) rc=0: expected rc 7"),
        "{out}"
    );
    assert!(stderr(&o).contains("failed the conformance check"));
}

/// `halo agent run` prints rc, its meaning, the exit reason and the output, and
/// exits with the agent's rc.
#[test]
fn agent_run_prints_rc_meaning_and_output() {
    let s = Scratch::new();
    let o = s.halo(&["agent", "run", "ocf:heartbeat:IPaddr2", "validate-all"]);
    let out = stdout(&o);
    assert_eq!(o.status.code(), Some(6), "{out}");
    assert!(
        out.contains("rc=6 (OCF_ERR_CONFIGURED: not configured)"),
        "{out}"
    );
    assert!(out.contains("exit reason: IP address (the ip parameter) is mandatory"));
    let o = s.halo(&[
        "agent",
        "run",
        "ocf:heartbeat:Dummy",
        "start",
        "fake=x",
        "--id",
        "r1",
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", stdout(&o));
    assert!(s.path("rsctmp/Dummy-r1.state").exists());
    let o = s.halo(&[
        "agent",
        "run",
        "ocf:heartbeat:Dummy",
        "monitor",
        "--id",
        "r1",
        "--json",
    ]);
    assert_eq!(o.status.code(), Some(0));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).expect("JSON result");
    assert_eq!(v["rc"], 0);
    assert_eq!(v["status"], "done");
    let o = s.halo(&["agent", "run", "ocf:heartbeat:NoSuch", "start"]);
    assert_eq!(o.status.code(), Some(5));
    assert!(stdout(&o).contains("not installed"));
    let o = s.halo(&["agent", "run", "ocf:heartbeat:Dummy", "start", "novalue"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).contains("expected name=value"), "{}", stderr(&o));
    // A fence device runs as a resource (its start registers it and runs its
    // monitor): without an address, fence_ipmilan's own complaint comes back.
    let o = s.halo(&["agent", "run", "stonith:fence_ipmilan", "start"]);
    assert_eq!(o.status.code(), Some(1));
    let said = format!("{}{}", stdout(&o), stderr(&o));
    assert!(said.contains("fence address"), "{said}");
}

/// `halo resource agents` lists installed agents by class and provider, and
/// `halo resource describe` shows parameters and default operations.
#[test]
fn resource_agents_and_describe() {
    let s = Scratch::new();
    write_exec(&s.path("init.d/mydaemon"), "#!/bin/sh\nexit 0\n");
    let o = s.halo(&["resource", "agents", "ocf:pacemaker"]);
    let out = stdout(&o);
    assert!(o.status.success());
    assert!(out.lines().any(|l| l == "ocf:pacemaker:Stateful"), "{out}");
    assert!(!out.contains("heartbeat"));
    let o = s.halo(&["resource", "agents"]);
    let out = stdout(&o);
    for a in [
        "ocf:heartbeat:IPaddr2",
        "lsb:mydaemon",
        "halo:process",
        "halo:dummy",
    ] {
        assert!(out.lines().any(|l| l == a), "{a} missing from\n{out}");
    }
    let o = s.halo(&["resource", "describe", "ocf:heartbeat:IPaddr2"]);
    let out = stdout(&o);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(out.starts_with("ocf:heartbeat:IPaddr2 - "), "{out}");
    assert!(out.contains("  ip (required, unique): "), "{out}");
    assert!(out.contains("  start: interval=0s timeout=20s"), "{out}");
    // An agent that finds its shell functions by itself: the executor must not set
    // OCF_FUNCTIONS_DIR, which Pacemaker does not set (it failed every action).
    if std::path::Path::new("/usr/lib/ocf/resource.d/rabbitmq/rabbitmq-server").exists() {
        let o = s.halo(&["resource", "describe", "ocf:rabbitmq:rabbitmq-server"]);
        assert!(o.status.success(), "{}", stderr(&o));
        assert!(stdout(&o).starts_with("ocf:rabbitmq:rabbitmq-server - "));
    } else if std::env::var_os("HALO_TEST_NO_SKIP").is_some_and(|v| v != "0") {
        panic!("ocf:rabbitmq:rabbitmq-server is not installed (HALO_TEST_NO_SKIP is set)");
    } else {
        eprintln!("SKIP ocf:rabbitmq:rabbitmq-server: not installed (Debian: rabbitmq-server)");
    }
    let o = s.halo(&["resource", "describe", "halo:process", "--json"]);
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).expect("JSON");
    assert_eq!(v["parameters"][0]["name"], "command");
    let o = s.halo(&["resource", "agents", "bogus"]);
    assert!(!o.status.success());
}

/// debug-start/monitor/stop run a resource from a native configuration file.
#[test]
fn resource_debug_start_monitor_stop() {
    let s = Scratch::new();
    let state = s.path("d1.state");
    let config = s.path("cluster.toml");
    std::fs::write(
        &config,
        format!(
            r#"version = 1
[cluster]
name = "t"
[[node]]
name = "n1"
[[resource]]
id = "d1"
agent = "ocf:heartbeat:Dummy"
params = {{ state = "{}" }}
op = [ {{ name = "start", timeout = "7s" }}, {{ name = "monitor", interval = "10s" }} ]
"#,
            state.display()
        ),
    )
    .unwrap();
    let c = config.to_str().unwrap();
    let o = s.halo(&["resource", "debug-monitor", "d1", "--config", c]);
    assert_eq!(o.status.code(), Some(7), "{}{}", stdout(&o), stderr(&o));
    let o = s.halo(&["resource", "debug-start", "d1", "--config", c]);
    assert_eq!(o.status.code(), Some(0), "{}", stdout(&o));
    assert!(state.exists());
    let o = s.halo(&["resource", "debug-monitor", "d1", "--config", c]);
    assert_eq!(o.status.code(), Some(0));
    assert!(stdout(&o).contains("rc=0 (OCF_SUCCESS: success)"));
    let o = s.halo(&["resource", "debug-stop", "d1", "--config", c]);
    assert_eq!(o.status.code(), Some(0));
    assert!(!state.exists());
    let o = s.halo(&["resource", "debug-start", "nope", "--config", c]);
    assert_eq!(o.status.code(), Some(1));
    assert!(
        stderr(&o).contains("no resource \"nope\" (resources: d1)"),
        "{}",
        stderr(&o)
    );
}
