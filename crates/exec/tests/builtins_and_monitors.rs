//! Builtin agents (halo:dummy, halo:process), recurring monitors and the
//! conformance sequence.

mod common;

use std::time::Duration;

use common::*;
use halo_exec::check::{conformance_check, Verdict};
use halo_exec::rc::ocf;
use halo_exec::{parse_agent, ExecEvent, ExecStatus};

fn free_port() -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    l.local_addr().expect("addr").port()
}

fn http_get(port: u16) -> Option<String> {
    use std::io::{Read, Write};
    let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(10))).ok()?;
    s.write_all(b"GET / HTTP/1.0\r\n\r\n").ok()?;
    let mut out = String::new();
    s.read_to_string(&mut out).ok()?;
    Some(out)
}

/// halo:process supervises `python3 -m http.server` on a loopback port: start waits
/// until the HTTP probe answers, monitor probes it, a killed server is detected (7
/// with the reason), stop terminates the whole process group.
#[tokio::test]
async fn process_supervises_python_http_server() {
    let env = Env::new();
    let port = free_port();
    let www = env.path("www");
    std::fs::create_dir_all(&www).unwrap();
    std::fs::write(www.join("index.html"), "hello from halo").unwrap();
    let cmd = format!("exec python3 -m http.server --bind 127.0.0.1 {port}");
    let probe = format!("http://127.0.0.1:{port}/");
    let p = [
        ("command", cmd.as_str()),
        ("cwd", www.to_str().unwrap()),
        ("probe", probe.as_str()),
    ];
    let a = "halo:process";
    let r = env
        .exec
        .execute(env.req("web", a, "validate-all", &p))
        .await;
    assert_eq!(r.rc, 0, "{r:?}");
    assert_eq!(
        env.exec.execute(env.req("web", a, "monitor", &p)).await.rc,
        ocf::NOT_RUNNING
    );
    let r = env.exec.execute(env.req("web", a, "start", &p)).await;
    assert_eq!((r.rc, r.status), (0, ExecStatus::Done), "{r:?}");
    // Start returned only once the server answers.
    let page = http_get(port).expect("server answers after start");
    assert!(page.contains("hello from halo"), "{page}");
    assert_eq!(
        env.exec.execute(env.req("web", a, "monitor", &p)).await.rc,
        0
    );
    assert_eq!(
        env.exec.execute(env.req("web", a, "start", &p)).await.rc,
        0,
        "idempotent"
    );
    // Kill the server behind halo's back: monitor reports it.
    let pidfile = env.path("state/process-web.pid");
    let pid: i32 = std::fs::read_to_string(&pidfile)
        .unwrap()
        .split_whitespace()
        .next()
        .unwrap()
        .parse()
        .unwrap();
    nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), nix::sys::signal::SIGKILL).unwrap();
    let mut mon = env.exec.execute(env.req("web", a, "monitor", &p)).await;
    // Until the watcher has reaped it, a dead server may show as a failed probe (1).
    for _ in 0..250 {
        if mon.rc == ocf::NOT_RUNNING {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
        mon = env.exec.execute(env.req("web", a, "monitor", &p)).await;
    }
    assert_eq!(mon.rc, ocf::NOT_RUNNING, "{mon:?}");
    assert!(mon.exit_reason.unwrap().contains("killed by signal 9"));
    // Restart, then stop: SIGTERM ends it and nothing of its group is left.
    assert_eq!(env.exec.execute(env.req("web", a, "start", &p)).await.rc, 0);
    let pid: i32 = std::fs::read_to_string(&pidfile)
        .unwrap()
        .split_whitespace()
        .next()
        .unwrap()
        .parse()
        .unwrap();
    assert_eq!(env.exec.execute(env.req("web", a, "stop", &p)).await.rc, 0);
    assert!(
        group_procs(pid).iter().all(|(_, s, _)| *s == 'Z'),
        "{:?}",
        group_procs(pid)
    );
    assert!(http_get(port).is_none(), "server still answers after stop");
    assert!(!pidfile.exists());
    assert_eq!(
        env.exec.execute(env.req("web", a, "stop", &p)).await.rc,
        0,
        "idempotent"
    );
    assert_eq!(
        env.exec.execute(env.req("web", a, "monitor", &p)).await.rc,
        ocf::NOT_RUNNING
    );
}

/// halo:process with a TCP probe on a port nobody serves: start fails at its timeout;
/// a command that exits at once fails start with its exit status; a missing command
/// is "not configured".
#[tokio::test]
async fn process_start_failures() {
    let env = Env::new();
    let port = free_port();
    let probe = format!("tcp:127.0.0.1:{port}");
    let p = [("command", "sleep 1000"), ("probe", probe.as_str())];
    let r = env
        .exec
        .execute(
            env.req("x", "halo:process", "start", &p)
                .with_timeout(Duration::from_millis(700)),
        )
        .await;
    assert_eq!(r.status, ExecStatus::Timeout, "{r:?}");
    let m = env
        .exec
        .execute(env.req("x", "halo:process", "monitor", &p))
        .await;
    assert_eq!(m.rc, ocf::ERR_GENERIC, "{m:?}");
    assert!(m.exit_reason.unwrap().contains(&probe));
    assert_eq!(
        env.exec
            .execute(env.req("x", "halo:process", "stop", &p))
            .await
            .rc,
        0
    );

    let r = env
        .exec
        .execute(env.req("y", "halo:process", "start", &[("command", "exit 3")]))
        .await;
    assert_eq!(r.rc, ocf::ERR_GENERIC);
    assert!(r.exit_reason.unwrap().contains("exited with status 3"));
    let r = env
        .exec
        .execute(env.req("z", "halo:process", "start", &[]))
        .await;
    assert_eq!(r.rc, ocf::ERR_CONFIGURED);
    let r = env
        .exec
        .execute(env.req(
            "z",
            "halo:process",
            "validate-all",
            &[("command", "x"), ("probe", "udp:1")],
        ))
        .await;
    assert_eq!(r.rc, ocf::ERR_CONFIGURED);
}

/// A recurring monitor reports its first result, stays quiet while nothing changes,
/// reports a failure (the state file vanished) once with one fail count, and is
/// cancelled by stop.
#[tokio::test]
async fn recurring_monitor_reports_changes_and_stops_with_stop() {
    let env = Env::new();
    let state = env.path("rec.state");
    let p = [("state", state.to_str().unwrap())];
    let a = "ocf:heartbeat:Dummy";
    assert_eq!(env.exec.execute(env.req("rec", a, "start", &p)).await.rc, 0);
    let mon = env
        .req("rec", a, "monitor", &p)
        .with_interval(Duration::from_millis(100));
    env.exec.start_recurring(mon).unwrap();
    assert_eq!(env.exec.recurring_keys(), ["rec_monitor_100"]);
    let sink = env.sink.clone();
    let monitors = |ev: &[ExecEvent]| {
        ev.iter()
            .filter(|e| matches!(e, ExecEvent::Result(r) if r.action == "monitor"))
            .count()
    };
    // Generous deadlines: a regression fails the test instead of hanging it.
    let limit = Duration::from_secs(30);
    assert!(
        sink.wait_for(limit, |ev| monitors(ev) >= 1).await,
        "no monitor result within {limit:?}"
    );
    // Let it run several more times: nothing new is reported while rc stays 0.
    let key = "rec_monitor_100";
    let first = env.exec.last_result(key).unwrap().call_id;
    let deadline = std::time::Instant::now() + limit;
    while env.exec.last_result(key).unwrap().call_id < first + 3 {
        assert!(
            std::time::Instant::now() < deadline,
            "the monitor stopped running"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(monitors(&sink.events()), 1);
    std::fs::remove_file(&state).unwrap();
    assert!(
        sink.wait_for(limit, |ev| monitors(ev) >= 2).await,
        "the failure was not reported within {limit:?}"
    );
    let failed = sink
        .results()
        .into_iter()
        .filter(|r| r.action == "monitor")
        .nth(1)
        .unwrap();
    assert_eq!(failed.rc, ocf::NOT_RUNNING);
    assert_eq!(
        failed.exit_reason.as_deref(),
        Some("No process state file found")
    );
    assert!(!failed.is_success());
    assert_eq!(env.exec.fail_count("rec"), 1);
    let call = env.exec.last_result(key).unwrap().call_id;
    let deadline = std::time::Instant::now() + limit;
    while env.exec.last_result(key).unwrap().call_id < call + 2 {
        assert!(
            std::time::Instant::now() < deadline,
            "the monitor stopped running"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(
        env.exec.fail_count("rec"),
        1,
        "a repeated failure is reported once"
    );
    assert_eq!(env.exec.execute(env.req("rec", a, "stop", &p)).await.rc, 0);
    assert!(env.exec.recurring_keys().is_empty());
    env.exec.shutdown().await;
}

/// Recurring requests need an interval; cancel_recurring stops exactly one.
#[tokio::test]
async fn recurring_cancel() {
    let env = Env::new();
    assert!(env
        .exec
        .start_recurring(env.req("a", "halo:dummy", "monitor", &[]))
        .is_err());
    let m = |i| {
        env.req("a", "halo:dummy", "monitor", &[])
            .with_interval(Duration::from_secs(i))
    };
    env.exec.start_recurring(m(10)).unwrap();
    env.exec.start_recurring(m(20)).unwrap();
    assert!(env
        .exec
        .cancel_recurring("a", "monitor", Duration::from_secs(10)));
    assert!(!env
        .exec
        .cancel_recurring("a", "monitor", Duration::from_secs(10)));
    assert_eq!(env.exec.recurring_keys(), ["a_monitor_20000"]);
    env.exec.shutdown().await;
    assert!(env.exec.recurring_keys().is_empty());
}

/// halo:dummy: promotable, with a timeout enforced on builtins too.
#[tokio::test]
async fn dummy_roles_and_builtin_timeout() {
    let env = Env::new();
    let a = "halo:dummy";
    let run = |action: &'static str| env.exec.execute(env.req("d", a, action, &[]));
    assert_eq!(run("monitor").await.rc, ocf::NOT_RUNNING);
    assert_eq!(run("promote").await.rc, ocf::NOT_RUNNING);
    assert_eq!(run("start").await.rc, 0);
    assert_eq!(run("promote").await.rc, 0);
    assert_eq!(run("monitor").await.rc, ocf::RUNNING_PROMOTED);
    assert_eq!(run("demote").await.rc, 0);
    assert_eq!(run("monitor").await.rc, 0);
    assert_eq!(run("stop").await.rc, 0);
    let slow = env
        .req("d", a, "start", &[("op_sleep", "10s")])
        .with_timeout(Duration::from_millis(100));
    let r = env.exec.execute(slow).await;
    assert_eq!(r.status, ExecStatus::Timeout);
    let r = env.exec.execute(env.req("d", a, "meta-data", &[])).await;
    let md = halo_exec::AgentMetadata::parse(&r.stdout, a).unwrap();
    assert!(md.supports("promote"));
}

/// The conformance sequence passes for ocf:heartbeat:Dummy, ocf:pacemaker:Stateful
/// (with the promote/demote steps) and halo:dummy, and fails, saying why, for an
/// agent whose stop is not idempotent.
#[tokio::test]
async fn conformance_sequence() {
    let env = Env::new();
    for agent in [
        "ocf:heartbeat:Dummy",
        "ocf:pacemaker:Stateful",
        "halo:dummy",
    ] {
        let report = conformance_check(
            &env.exec,
            &parse_agent(agent).unwrap(),
            "chk",
            &Default::default(),
        )
        .await;
        let failed: Vec<_> = report
            .steps
            .iter()
            .filter(|s| s.verdict == Verdict::Fail)
            .collect();
        assert!(report.passed(), "{agent}: {failed:#?}");
        let promote = report.steps.iter().any(|s| s.action == "promote");
        assert_eq!(promote, agent != "ocf:heartbeat:Dummy", "{agent}");
    }
    let bad = r#"#!/bin/sh
S=/tmp/halo-bad-agent-$$-state
case "$1" in
meta-data) cat <<X
<?xml version="1.0"?><resource-agent name="Bad"><parameters/><actions>
<action name="start" timeout="5s"/><action name="stop" timeout="5s"/><action name="monitor" timeout="5s"/>
</actions></resource-agent>
X
exit 0;;
start) touch "$OCF_RESKEY_f"; exit 0;;
stop) rm "$OCF_RESKEY_f" || { echo "ocf-exit-reason:already gone" >&2; exit 1; }; exit 0;;
monitor) [ -e "$OCF_RESKEY_f" ] && exit 0 || exit 7;;
*) exit 3;;
esac
"#;
    let dir = tempfile::tempdir().unwrap();
    let root = ocf_root_with(dir.path(), &[("Bad", bad)]);
    let env = Env::with(|c| c.ocf_root = root.clone());
    let f = env.path("bad.flag");
    let report = conformance_check(
        &env.exec,
        &parse_agent("ocf:test:Bad").unwrap(),
        "bad",
        &attrs(&[("f", f.to_str().unwrap())]),
    )
    .await;
    assert!(!report.passed());
    let failed: Vec<&str> = report
        .steps
        .iter()
        .filter(|s| s.verdict == Verdict::Fail)
        .map(|s| s.name.as_str())
        .collect();
    assert_eq!(failed, ["stop again (idempotent)"], "{report:#?}");
    let step = report
        .steps
        .iter()
        .find(|s| s.verdict == Verdict::Fail)
        .unwrap();
    assert!(step.note.as_deref().unwrap().contains("already gone"));
    let skipped = report
        .steps
        .iter()
        .find(|s| s.action == "validate-all")
        .unwrap();
    assert_eq!(skipped.verdict, Verdict::Skipped);
}

/// halo:process gives its command the node's and the resource's names (HALO_NODE,
/// HALO_RESOURCE) and the env_ parameters, and nothing of the daemon's environment.
#[tokio::test]
async fn process_environment_names_node_and_resource() {
    let env = Env::new();
    let out = env.path("env.out");
    let command = format!("env > '{}'; exec sleep 1000", out.display());
    let p = [("command", command.as_str()), ("env_GREETING", "hello")];
    let r = env
        .exec
        .execute(env.req("named", "halo:process", "start", &p))
        .await;
    assert_eq!(r.rc, 0, "{r:?}");
    // The command writes the file once its shell runs, maybe just after start answers.
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    let mut text = String::new();
    while !text.contains("HALO_RESOURCE") && std::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(20)).await;
        text = std::fs::read_to_string(&out).unwrap_or_default();
    }
    let stop = env
        .exec
        .execute(env.req("named", "halo:process", "stop", &p))
        .await;
    assert_eq!(stop.rc, 0, "{stop:?}");
    let vars: Vec<&str> = text.lines().collect();
    assert!(vars.contains(&"HALO_NODE=node1"), "{text}");
    assert!(vars.contains(&"HALO_RESOURCE=named"), "{text}");
    assert!(vars.contains(&"GREETING=hello"), "{text}");
    assert!(!vars.iter().any(|v| v.starts_with("HOME=")), "{text}");
}
