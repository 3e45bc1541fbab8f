//! How agent processes are run: timeouts kill the whole group, no zombie, no leaked
//! process, crashes and garbage are reported, many run at once. (File descriptor
//! leaks are checked in fd_leak.rs, alone in its process.)

mod common;

use std::time::Duration;

use common::*;
use halo_exec::rc::ocf;
use halo_exec::{ExecStatus, OpRequest};

const HANG: &str = r#"#!/bin/sh
# An agent that hangs for ever, with a background child and a grandchild.
echo "starting $1"
echo "ocf-exit-reason:about to hang" >&2
( sleep 1000 & sleep 1000 ) &
sleep 1000
"#;

const CRASH: &str = r#"#!/bin/sh
echo "ocf-exit-reason:going down" >&2
kill -SEGV $$
"#;

const GARBAGE: &str = r#"#!/bin/sh
# Binary noise, a flood of output, no newline at the end, an odd exit code.
head -c 3000000 /dev/urandom
head -c 2000000 /dev/urandom >&2
printf '\nocf-exit-reason:\377\376 broken \000 reason'  >&2
exit 42
"#;

const DAEMONIZE: &str = r#"#!/bin/sh
# Starts a daemon that keeps the output pipes open, then exits at once.
case "$1" in
start) sleep 1000 & echo $! > "$OCF_RESKEY_pidfile"; echo started; exit 0 ;;
*) exit 0 ;;
esac
"#;

/// An agent that sleeps for ever is killed at its timeout together with its whole
/// process group (children and grandchildren); the result says timed out, and no
/// process of the group, living or zombie, is left.
#[tokio::test]
async fn timeout_kills_the_whole_group_without_zombies() {
    let _lock = exclusive().await;
    let dir = tempfile::tempdir().unwrap();
    let root = ocf_root_with(dir.path(), &[("Hang", HANG)]);
    let env = Env::with(|c| c.ocf_root = root.clone());
    let req = env
        .req("h", "ocf:test:Hang", "start", &[])
        .with_timeout(Duration::from_millis(500));
    let r = env.exec.execute(req).await;
    assert_eq!(r.status, ExecStatus::Timeout, "{r:?}");
    assert_eq!(r.rc, ocf::ERR_GENERIC);
    assert!(r
        .exit_reason
        .as_deref()
        .unwrap()
        .contains("timed out after 500ms"));
    // Output written before the hang is kept.
    assert_eq!(r.stdout, "starting start\n");
    let pgid = r.pid.expect("pid") as i32;
    assert_eq!(
        group_procs(pgid),
        vec![],
        "processes of the killed group remain"
    );
    assert_eq!(my_zombies(), Vec::<i32>::new());
    assert_eq!(env.exec.fail_count("h"), 1);
    assert_eq!(r.to_op_record().op_status, 2);
}

/// An agent killed by a signal is an error naming the signal, not a success.
#[tokio::test]
async fn crashing_agent_reports_the_signal() {
    let _lock = exclusive().await;
    let dir = tempfile::tempdir().unwrap();
    let root = ocf_root_with(dir.path(), &[("Crash", CRASH)]);
    let env = Env::with(|c| c.ocf_root = root.clone());
    let r = env
        .exec
        .execute(env.req("c", "ocf:test:Crash", "monitor", &[]))
        .await;
    assert_eq!(r.status, ExecStatus::Error, "{r:?}");
    assert_eq!(r.rc, ocf::ERR_GENERIC);
    assert!(
        r.exit_reason
            .as_deref()
            .unwrap()
            .contains("signal 11 (SIGSEGV)"),
        "{r:?}"
    );
    assert_eq!(zombies_after_reaping().await, Vec::<i32>::new());
}

/// Megabytes of binary garbage and an exit code outside OCF's: only the tail is kept,
/// the odd code is an error, the mangled exit reason is still extracted.
#[tokio::test]
async fn garbage_output_and_unknown_exit_code() {
    let _lock = shared().await;
    let dir = tempfile::tempdir().unwrap();
    let root = ocf_root_with(dir.path(), &[("Garbage", GARBAGE)]);
    let env = Env::with(|c| {
        c.ocf_root = root.clone();
        c.output_cap = 4096;
    });
    let r = env
        .exec
        .execute(env.req("g", "ocf:test:Garbage", "monitor", &[]))
        .await;
    assert_eq!(r.status, ExecStatus::Error, "{r:?}");
    assert_eq!(r.rc, ocf::ERR_GENERIC);
    let reason = r.exit_reason.clone().unwrap();
    assert!(
        reason.contains("exited with 42") && reason.contains("broken"),
        "{reason}"
    );
    // Lossy UTF-8 may expand bytes to replacement characters: at most 3x.
    assert!(r.stdout.len() <= 3 * 4096 && !r.stdout.is_empty());
    assert!(r.stderr.len() <= 3 * 4096 && r.stderr.contains("broken"));
}

/// An agent that leaves a daemon behind holding its stdout returns at once; the
/// daemon (another process of the group) is left running: only timeouts kill groups.
#[tokio::test]
async fn daemon_started_by_agent_survives_and_does_not_block() {
    let _lock = shared().await;
    let dir = tempfile::tempdir().unwrap();
    let root = ocf_root_with(dir.path(), &[("Daemon", DAEMONIZE)]);
    let env = Env::with(|c| c.ocf_root = root.clone());
    let pidfile = env.path("daemon.pid");
    let req = env
        .req(
            "d",
            "ocf:test:Daemon",
            "start",
            &[("pidfile", pidfile.to_str().unwrap())],
        )
        .with_timeout(Duration::from_secs(60));
    let r = env.exec.execute(req).await;
    assert_eq!((r.rc, r.status), (0, ExecStatus::Done), "{r:?}");
    assert_eq!(r.stdout, "started\n");
    let daemon: i32 = std::fs::read_to_string(&pidfile)
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    let procs = group_procs(r.pid.unwrap() as i32);
    assert!(
        procs.iter().any(|(p, s, _)| *p == daemon && *s != 'Z'),
        "{procs:?}"
    );
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(daemon),
        nix::sys::signal::SIGKILL,
    )
    .unwrap();
    // It was reparented to us (subreaper): reap it by pid.
    let _ = nix::sys::wait::waitpid(nix::unistd::Pid::from_raw(daemon), None);
}

/// 300 monitors of 300 Dummy resources at once all answer correctly, and afterwards
/// no child process is left.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_hundred_concurrent_monitors() {
    let _lock = exclusive().await;
    let env = Env::new();
    for i in 0..300 {
        // Half of them started (state file present), half stopped.
        if i % 2 == 0 {
            std::fs::create_dir_all(env.path("rsctmp")).unwrap();
            std::fs::write(env.path(&format!("rsctmp/Dummy-r{i}.state")), "").unwrap();
        }
    }
    let mut set = tokio::task::JoinSet::new();
    for i in 0..300 {
        let exec = env.exec.clone();
        let req = env.req(&format!("r{i}"), "ocf:heartbeat:Dummy", "monitor", &[]);
        set.spawn(async move { (i, exec.execute(req).await) });
    }
    let mut n = 0;
    while let Some(j) = set.join_next().await {
        let (i, r) = j.unwrap();
        let want = if i % 2 == 0 { 0 } else { ocf::NOT_RUNNING };
        assert_eq!((r.rc, r.status), (want, ExecStatus::Done), "r{i}: {r:?}");
        n += 1;
    }
    assert_eq!(n, 300);
    assert_eq!(env.sink.results().len(), 300);
    assert_eq!(zombies_after_reaping().await, Vec::<i32>::new());
}

/// Operations on one resource never overlap (the agent detects overlap with a lock
/// directory), while a hung operation on another resource does not hold them up.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serialized_per_resource_parallel_across() {
    let _lock = shared().await;
    let lock_agent = r#"#!/bin/sh
mkdir "$OCF_RESKEY_lock" 2>/dev/null || { echo "ocf-exit-reason:overlap" >&2; exit 1; }
sleep 0.05
rmdir "$OCF_RESKEY_lock"
exit 0
"#;
    let dir = tempfile::tempdir().unwrap();
    let root = ocf_root_with(dir.path(), &[("Lock", lock_agent), ("Hang", HANG)]);
    let env = Env::with(|c| c.ocf_root = root.clone());
    let hung = {
        let exec = env.exec.clone();
        let req = env
            .req("stuck", "ocf:test:Hang", "start", &[])
            .with_timeout(Duration::from_secs(120));
        tokio::spawn(async move { exec.execute(req).await })
    };
    let lock = env.path("lockdir");
    let mut set = tokio::task::JoinSet::new();
    for _ in 0..8 {
        let exec = env.exec.clone();
        let req = env.req(
            "one",
            "ocf:test:Lock",
            "monitor",
            &[("lock", lock.to_str().unwrap())],
        );
        set.spawn(async move { exec.execute(req).await });
    }
    while let Some(j) = set.join_next().await {
        let r = j.unwrap();
        assert_eq!(r.rc, 0, "operations of one resource overlapped: {r:?}");
    }
    assert!(
        !hung.is_finished(),
        "the hung agent should still be running"
    );
    hung.abort();
    let _ = hung.await;
}

/// Dropping an operation midway (its task aborted) kills its process group.
#[tokio::test]
async fn abandoned_operation_kills_its_group() {
    let _lock = shared().await;
    let dir = tempfile::tempdir().unwrap();
    let root = ocf_root_with(dir.path(), &[("Hang", HANG)]);
    let env = Env::with(|c| c.ocf_root = root.clone());
    let exec = env.exec.clone();
    let req = env.req("a", "ocf:test:Hang", "start", &[]);
    let task = tokio::spawn(async move { exec.execute(req).await });
    // Wait until the agent runs (it announces itself on stdout, so look in /proc);
    // a deadline makes a regression fail the test instead of hanging it.
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    let pgid = loop {
        assert!(
            std::time::Instant::now() < deadline,
            "the agent and its children did not show up within 30s"
        );
        let me = std::process::id() as i32;
        let child = std::fs::read_dir("/proc").unwrap().flatten().find_map(|e| {
            let pid: i32 = e.file_name().to_string_lossy().parse().ok()?;
            let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
            let f: Vec<String> = stat[stat.rfind(')')? + 1..]
                .split_whitespace()
                .map(str::to_string)
                .collect();
            (f[1].parse::<i32>().ok()? == me
                && f[2].parse::<i32>().ok()? == pid
                && stat.contains("(Hang)"))
            .then_some(pid)
        });
        if let Some(p) = child {
            if group_procs(p).len() >= 3 {
                break p;
            }
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    };
    task.abort();
    let _ = task.await;
    // SIGKILL was sent to the group; wait for the kernel to finish them.
    for _ in 0..500 {
        if group_procs(pgid).iter().all(|(_, s, _)| *s == 'Z') {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert!(
        group_procs(pgid).iter().all(|(_, s, _)| *s == 'Z'),
        "{:?}",
        group_procs(pgid)
    );
    // The zombies are reaped by tokio (leader) and by us as subreaper (the others).
    for (pid, _, _) in group_procs(pgid) {
        if pid != pgid {
            let _ = nix::sys::wait::waitpid(nix::unistd::Pid::from_raw(pid), None);
        }
    }
}

/// An LSB init script written by the test, in a configurable LSB root: status codes
/// map to OCF (3 → 7), meta-data comes from the LSB header.
#[tokio::test]
async fn lsb_script() {
    let _lock = shared().await;
    let env = Env::new();
    let flag = env.path("lsb.running");
    let body = format!(
        r#"#!/bin/sh
### BEGIN INIT INFO
# Provides:          testd
# Short-Description: Test daemon
# Description:       A daemon for tests.
### END INIT INFO
F={flag}
case "$1" in
  start) touch $F; exit 0 ;;
  stop) rm -f $F; exit 0 ;;
  status) [ -e $F ] && exit 0 || exit 3 ;;
  *) echo "Usage: $0 start|stop|status" >&2; exit 3 ;;
esac
"#,
        flag = flag.display()
    );
    script(&env.path("init.d/testd"), &body);
    let run = |action: &'static str| env.exec.execute(env.req("l", "lsb:testd", action, &[]));
    assert_eq!(run("monitor").await.rc, ocf::NOT_RUNNING);
    assert_eq!(run("start").await.rc, 0);
    assert!(flag.exists());
    assert_eq!(run("monitor").await.rc, 0);
    assert_eq!(run("stop").await.rc, 0);
    assert_eq!(run("monitor").await.rc, ocf::NOT_RUNNING);
    let md = env
        .exec
        .metadata(&halo_exec::parse_agent("lsb:testd").unwrap())
        .await
        .unwrap();
    assert_eq!(md.shortdesc, "Test daemon");
    let r = run("promote").await;
    assert_eq!(
        (r.rc, r.status),
        (ocf::ERR_UNIMPLEMENTED, ExecStatus::NotSupported)
    );
    let r = env
        .exec
        .execute(env.req("l", "lsb:absent", "start", &[]))
        .await;
    assert_eq!(r.status, ExecStatus::NotInstalled);
    let names: Vec<String> = env
        .exec
        .list_agents(&halo_exec::AgentFilter::parse("lsb").unwrap())
        .iter()
        .map(|a| a.to_string())
        .collect();
    assert_eq!(names, ["lsb:testd"]);
}

/// The systemd class where systemd does not run: a clear "not running here" error
/// (rc 5, not installed), while its meta-data still answers.
#[tokio::test]
async fn systemd_class_without_systemd() {
    let _lock = shared().await;
    let env = Env::with(|c| c.systemd_runtime_dir = "/nonexistent/systemd/system".into());
    let r = env
        .exec
        .execute(env.req("s", "systemd:nginx", "start", &[]))
        .await;
    assert_eq!(
        (r.rc, r.status),
        (ocf::ERR_INSTALLED, ExecStatus::NotInstalled)
    );
    let reason = r.exit_reason.unwrap();
    assert!(reason.contains("systemd is not running here"), "{reason}");
    let md = env
        .exec
        .metadata(&halo_exec::parse_agent("systemd:nginx").unwrap())
        .await
        .unwrap();
    assert!(md.supports("start"));
}

/// A request with an invalid action name or unusable parameter names is refused
/// before anything runs.
#[tokio::test]
async fn invalid_requests_are_refused() {
    let _lock = shared().await;
    let env = Env::new();
    let r = env
        .exec
        .execute(env.req("x", "ocf:heartbeat:Dummy", "start; rm -rf /", &[]))
        .await;
    assert_eq!((r.rc, r.status), (ocf::ERR_ARGS, ExecStatus::ErrorHard));
    let r = env
        .exec
        .execute(env.req("x", "ocf:heartbeat:Dummy", "start", &[("a=b", "c")]))
        .await;
    assert_eq!((r.rc, r.status), (ocf::ERR_ARGS, ExecStatus::ErrorHard));
    let bad = OpRequest::new(
        "x",
        halo_model::AgentRef {
            class: "nagios".into(),
            provider: None,
            kind: "check_http".into(),
        },
        "start",
    );
    let r = env.exec.execute(bad).await;
    assert_eq!(r.status, ExecStatus::NotSupported);
    assert!(r.exit_reason.unwrap().contains("not supported"));
    // Fence devices refuse bad action names the same way.
    let r = env
        .exec
        .execute(env.req("x", "stonith:fence_dummy", "start; rm -rf /", &[]))
        .await;
    assert_eq!((r.rc, r.status), (ocf::ERR_ARGS, ExecStatus::ErrorHard));
}
