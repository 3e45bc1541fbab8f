//! Fence devices with the real fence agents of Debian's fence-agents package:
//! `fence_dummy` (type=file keeps the power state in a status file; type=fail
//! fails, or under pacemaker-fenced's environment waits for ever), run the way
//! Pacemaker's fencer runs it. Some tests wrap it in a small script that gives it a
//! `list` action and one status file per plug, so that host maps, dynamic lists and
//! the arguments passed can be checked through the agent itself.

mod common;

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use common::*;
use halo_exec::rc::ocf;
use halo_exec::spawn::group_members;
use halo_exec::{
    AgentFilter, ExecConfig, ExecStatus, FenceAction, FenceDevice, HostCheck, PowerState,
};

const FENCE_DUMMY: &str = "/usr/sbin/fence_dummy";
const T: Duration = Duration::from_secs(30);

/// Whether fence_dummy is installed; without it the test is skipped, unless
/// HALO_TEST_NO_SKIP is set (CI installs fence-agents), which makes it a failure.
fn have_fence_dummy(test: &str) -> bool {
    if Path::new(FENCE_DUMMY).exists() {
        return true;
    }
    if std::env::var_os("HALO_TEST_NO_SKIP").is_some() {
        panic!("{FENCE_DUMMY} is not installed (HALO_TEST_NO_SKIP is set; Debian: fence-agents)");
    }
    eprintln!("SKIP {test}: {FENCE_DUMMY} is not installed (Debian: fence-agents)");
    false
}

fn config(dir: &Path) -> ExecConfig {
    ExecConfig {
        node: "node1".into(),
        rsctmp: dir.join("rsctmp"),
        state_dir: dir.join("state"),
        subreaper: true,
        log_facility: None,
        ..ExecConfig::default()
    }
}

fn device(id: &str, agent: &str, params: &[(&str, &str)]) -> FenceDevice {
    FenceDevice::from_params(id, agent, &attrs(params)).unwrap_or_else(|e| panic!("{e}"))
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .trim()
        .to_string()
}

/// A fence agent directory holding `fence_plugdummy`: fence_dummy with a `list`
/// action (printing the file `plugs`), one status file per plug (`PLUG.status`,
/// `device.status` without a plug), and a log of its standard input (`args.log`).
fn plugdummy_dir(dir: &Path) -> PathBuf {
    let agents = dir.join("fence-agents");
    std::fs::create_dir_all(&agents).expect("agent dir");
    let body = format!(
        r#"#!/bin/sh
dir='{dir}'
input=$(cat)
printf '%s\n--\n' "$input" >> "$dir/args.log"
action=$(printf '%s\n' "$input" | sed -n 's/^action=//p' | tail -n 1)
port=$(printf '%s\n' "$input" | sed -n 's/^port=//p' | tail -n 1)
case "$action" in
list)
    cat "$dir/plugs"
    exit 0 ;;
metadata)
    printf 'action=metadata\n' | {fd} |
        sed 's|<action name="monitor" />|<action name="monitor" />\n\t<action name="list" />|'
    exit 0 ;;
esac
{{
    printf '%s\n' "$input" | grep -v '^port='
    printf 'status_file=%s/%s.status\n' "$dir" "${{port:-device}}"
}} | exec {fd}
"#,
        dir = agents.display(),
        fd = FENCE_DUMMY
    );
    script(&agents.join("fence_plugdummy"), &body);
    std::fs::write(
        agents.join("plugs"),
        "plugA,node1-alias\nplugB,other-alias\n",
    )
    .expect("plugs");
    agents
}

/// The arguments fence_plugdummy received, one run per entry.
fn runs(agents: &Path) -> Vec<Vec<String>> {
    read(&agents.join("args.log"))
        .split("\n--")
        .map(|run| {
            run.lines()
                .map(str::trim)
                .filter(|l| !l.is_empty())
                .map(str::to_string)
                .collect::<Vec<_>>()
        })
        .filter(|r| !r.is_empty())
        .collect()
}

/// The agent's monitor succeeds; its meta-data says what the fencer needs.
#[tokio::test]
async fn monitor_succeeds() {
    if !have_fence_dummy("monitor_succeeds") {
        return;
    }
    let dir = tempfile::tempdir().expect("temp dir");
    let cfg = config(dir.path());
    let status = dir.path().join("dummy.status");
    let status_s = status.display().to_string();
    let d = device("fd", "fence_dummy", &[("status_file", &status_s)]);
    let r = d.monitor(&cfg, T).await;
    assert!(r.is_success(), "{r:?}");
    assert_eq!(
        (r.action.as_str(), r.tries, r.target.as_ref()),
        ("monitor", 1, None)
    );
    let info = d.agent_info(&cfg).await.expect("meta-data");
    assert!(info.supports_status && info.supports_reboot && info.supports_on);
    assert!(!info.supports_list && !info.automatic_unfencing);
    assert_eq!(info.host_parameter, None);
    // Without a list or map, and without `list`, fence_dummy is checked by status.
    assert_eq!(d.host_check(&info), HostCheck::Status);
}

/// `list`: fence_dummy has none (the failure comes back with the agent's words); an
/// agent with one gives its `plug,alias` lines as targets.
#[tokio::test]
async fn list() {
    if !have_fence_dummy("list") {
        return;
    }
    let dir = tempfile::tempdir().expect("temp dir");
    let mut cfg = config(dir.path());
    let d = device("fd", "fence_dummy", &[]);
    let r = d.list(&cfg, T).await.expect_err("fence_dummy has no list");
    assert_eq!((r.status, r.rc), (ExecStatus::Done, 1), "{r:?}");
    assert!(r.stderr.contains("Unrecognised action 'list'"), "{r:?}");
    assert!(
        r.exit_reason.as_deref().unwrap_or("").contains("list"),
        "{r:?}"
    );
    // Retried once after a pause, as Pacemaker does (pcmk_list_retries default 2).
    assert_eq!(r.tries, 2);
    let d = device("fd", "fence_dummy", &[("pcmk_list_retries", "1")]);
    assert_eq!(d.list(&cfg, T).await.expect_err("no list").tries, 1);

    cfg.fence_agent_dir = plugdummy_dir(dir.path());
    let d = device("pd", "fence_plugdummy", &[]);
    let targets = d.list(&cfg, T).await.unwrap_or_else(|r| panic!("{r:?}"));
    assert_eq!(targets, ["plugA", "node1-alias", "plugB", "other-alias"]);
    let info = d.agent_info(&cfg).await.expect("meta-data");
    assert!(info.supports_list);
}

/// Off, on and reboot of a node in `pcmk_host_list`, checked in fence_dummy's own
/// status file.
#[tokio::test]
async fn fence_with_host_list() {
    if !have_fence_dummy("fence_with_host_list") {
        return;
    }
    let dir = tempfile::tempdir().expect("temp dir");
    let cfg = config(dir.path());
    let status = dir.path().join("dummy.status");
    let status_s = status.display().to_string();
    let d = device(
        "fd",
        "fence_dummy",
        &[
            ("status_file", &status_s),
            ("pcmk_host_list", "node1 node2"),
        ],
    );
    assert!(d.can_fence(&cfg, "node1").await);
    assert!(d.can_fence(&cfg, "NODE2").await);

    std::fs::write(&status, "on").expect("status file");
    let r = d.fence(&cfg, "node1", FenceAction::Off, T).await;
    assert!(r.is_success(), "{r:?}");
    assert_eq!(read(&status), "off");
    assert_eq!(
        (
            r.target.as_deref(),
            r.action.as_str(),
            r.agent_action.as_str()
        ),
        (Some("node1"), "off", "off")
    );
    assert!(r.stdout.contains("Success: Powered OFF"), "{r:?}");
    assert_eq!(
        d.status(&cfg, "node1", T).await.power_state(),
        Some(PowerState::Off)
    );

    let r = d.fence(&cfg, "node1", FenceAction::On, T).await;
    assert!(r.is_success(), "{r:?}");
    assert_eq!(read(&status), "on");
    assert_eq!(
        d.status(&cfg, "node1", T).await.power_state(),
        Some(PowerState::On)
    );

    std::fs::write(&status, "off").expect("status file");
    let r = d.fence(&cfg, "node2", FenceAction::Reboot, T).await;
    assert!(r.is_success(), "{r:?}");
    assert!(r.stdout.contains("Success: Rebooted"), "{r:?}");
    assert_eq!(read(&status), "on");
    assert!(r.duration_ms > 0 && r.started_ms > 0 && r.pid.is_some());
    // fence_dummy has neither port nor plug: Pacemaker 2.1 passes `port` anyway,
    // which the agent ignores with a warning.
    assert_eq!(r.plug.as_deref(), Some("node2"));
    assert!(
        r.stderr.contains("Ignoring unknown option 'port=node2'"),
        "{r:?}"
    );
}

/// With `pcmk_host_map`, the node's plug is passed: each plug's state is in its
/// own status file, and the agent is told `nodename` and `port`, never the
/// `pcmk_*` parameters.
#[tokio::test]
async fn fence_with_host_map() {
    if !have_fence_dummy("fence_with_host_map") {
        return;
    }
    let dir = tempfile::tempdir().expect("temp dir");
    let mut cfg = config(dir.path());
    let agents = plugdummy_dir(dir.path());
    cfg.fence_agent_dir = agents.clone();
    let d = device(
        "pd",
        "fence_plugdummy",
        &[
            ("pcmk_host_map", "node1:plugA;node2:plugB"),
            ("pcmk_off_timeout", "20s"),
            ("verbose", "0"),
        ],
    );
    assert!(d.can_fence(&cfg, "node1").await);
    assert!(d.can_fence(&cfg, "node2").await);
    assert!(!d.can_fence(&cfg, "node3").await);
    let (a, b) = (agents.join("plugA.status"), agents.join("plugB.status"));
    std::fs::write(&a, "on").expect("status");
    std::fs::write(&b, "on").expect("status");

    let r = d.fence(&cfg, "node1", FenceAction::Off, T).await;
    assert!(r.is_success(), "{r:?}");
    assert_eq!(r.plug.as_deref(), Some("plugA"));
    assert_eq!((read(&a).as_str(), read(&b).as_str()), ("off", "on"));
    let r = d.fence(&cfg, "node2", FenceAction::Reboot, T).await;
    assert!(r.is_success(), "{r:?}");
    assert_eq!((read(&a).as_str(), read(&b).as_str()), ("off", "on"));
    let r = d.fence(&cfg, "node1", FenceAction::Reboot, T).await;
    assert!(r.is_success(), "{r:?}");
    assert_eq!(read(&a), "on");
    let r = d.fence(&cfg, "node2", FenceAction::Off, T).await;
    assert!(r.is_success(), "{r:?}");
    assert_eq!(read(&b), "off");
    let r = d.fence(&cfg, "node2", FenceAction::On, T).await;
    assert!(r.is_success(), "{r:?}");
    assert_eq!(read(&b), "on");

    let runs = runs(&agents);
    let off = runs
        .iter()
        .find(|r| r.first().map(String::as_str) == Some("action=off"))
        .expect("an off run");
    for want in ["nodename=node1", "port=plugA", "verbose=0"] {
        assert!(off.iter().any(|l| l == want), "{want} not in {off:?}");
    }
    assert!(
        runs.iter().flatten().all(|l| !l.starts_with("pcmk_")),
        "{runs:?}"
    );
    // The monitor names no node.
    let r = d.monitor(&cfg, T).await;
    assert!(r.is_success(), "{r:?}");
    let last = self::runs(&agents).pop().expect("runs");
    assert_eq!(last.first().map(String::as_str), Some("action=monitor"));
    assert!(!last
        .iter()
        .any(|l| l.starts_with("port=") || l.starts_with("nodename=")));
}

/// A device says which nodes it cannot fence, per pcmk_host_check.
#[tokio::test]
async fn cannot_fence_other_nodes() {
    if !have_fence_dummy("cannot_fence_other_nodes") {
        return;
    }
    let dir = tempfile::tempdir().expect("temp dir");
    let mut cfg = config(dir.path());
    let status = dir.path().join("dummy.status");
    let status_s = status.display().to_string();
    // static-list
    let d = device(
        "fd",
        "fence_dummy",
        &[
            ("status_file", &status_s),
            ("pcmk_host_list", "node1,node2"),
        ],
    );
    let e = d.check_target(&cfg, "node3", FenceAction::Reboot).await;
    assert!(!e.can, "{e:?}");
    assert_eq!(e.check, Some(HostCheck::StaticList));
    assert!(e.reason.contains("not in pcmk_host_list"), "{e:?}");
    // pcmk_host_check=none overrides the list.
    let d = device(
        "fd",
        "fence_dummy",
        &[("pcmk_host_list", "node1"), ("pcmk_host_check", "none")],
    );
    assert!(d.can_fence(&cfg, "node3").await);
    // status: fence_dummy answers off (2), on (0) or, for a state it cannot read, 1.
    let d = device("fd", "fence_dummy", &[("status_file", &status_s)]);
    std::fs::write(&status, "off").expect("status");
    let e = d.check_target(&cfg, "node9", FenceAction::Reboot).await;
    assert!(e.can, "{e:?}");
    assert_eq!(e.check, Some(HostCheck::Status));
    std::fs::write(&status, "melted").expect("status");
    let e = d.check_target(&cfg, "node9", FenceAction::Reboot).await;
    assert!(!e.can, "{e:?}");
    assert!(e.reason.contains("status returned 1"), "{e:?}");
    // dynamic-list: the agent's list (plugs and aliases), through the host map.
    cfg.fence_agent_dir = plugdummy_dir(dir.path());
    let d = device("pd", "fence_plugdummy", &[]);
    assert!(d.can_fence(&cfg, "plugA").await);
    assert!(d.can_fence(&cfg, "node1-alias").await);
    let e = d.check_target(&cfg, "node1", FenceAction::Off).await;
    assert!(!e.can, "{e:?}");
    assert_eq!(e.check, Some(HostCheck::DynamicList));
    assert!(e.reason.contains("not in the list"), "{e:?}");
    let d = device(
        "pd",
        "fence_plugdummy",
        &[
            ("pcmk_host_map", "node1:plugB"),
            ("pcmk_host_check", "dynamic-list"),
        ],
    );
    let e = d.check_target(&cfg, "node1", FenceAction::Off).await;
    assert!(e.can && e.plug == "plugB", "{e:?}");
    assert!(!d.can_fence(&cfg, "node2").await);
}

/// A failing agent (fence_dummy type=fail) reports the failure with its output,
/// after Pacemaker's default two attempts.
#[tokio::test]
async fn failing_agent_reports_failure() {
    if !have_fence_dummy("failing_agent_reports_failure") {
        return;
    }
    let dir = tempfile::tempdir().expect("temp dir");
    let cfg = config(dir.path());
    // type=fail never reaches the state it is asked for; with its own power timeout
    // of 1 s (disable_timeout=0 replaces pacemaker-fenced's default) it gives up.
    let params = [
        ("type", "fail"),
        ("disable_timeout", "0"),
        ("power_timeout", "1"),
    ];
    let d = device("ff", "fence_dummy", &params);
    let r = d.fence(&cfg, "node2", FenceAction::Reboot, T).await;
    assert!(!r.is_success(), "{r:?}");
    assert_eq!((r.status, r.rc, r.tries), (ExecStatus::Done, 1, 2), "{r:?}");
    let reason = r.exit_reason.clone().unwrap_or_default();
    assert!(
        reason.contains("Failed: Timed out waiting to power OFF"),
        "{reason}"
    );
    assert!(r
        .output_tail(4096)
        .contains("Timed out waiting to power OFF"));
    let mut p = params.to_vec();
    p.push(("pcmk_reboot_retries", "1"));
    let r = device("ff", "fence_dummy", &p)
        .fence(&cfg, "node2", FenceAction::Reboot, T)
        .await;
    assert_eq!((r.rc, r.tries), (1, 1), "{r:?}");
}

/// An agent that does not finish is killed at its timeout (pcmk_off_timeout
/// replaces the caller's), with its whole process group, and not retried.
#[tokio::test]
async fn hanging_agent_is_killed_at_timeout() {
    if !have_fence_dummy("hanging_agent_is_killed_at_timeout") {
        return;
    }
    let dir = tempfile::tempdir().expect("temp dir");
    let cfg = config(dir.path());
    // Under pacemaker-fenced's environment fence_dummy type=fail waits for ever for
    // the plug to go off.
    let d = device(
        "fh",
        "fence_dummy",
        &[("type", "fail"), ("pcmk_off_timeout", "2s")],
    );
    let t0 = Instant::now();
    let r = d.fence(&cfg, "node2", FenceAction::Off, T).await;
    let took = t0.elapsed();
    assert_eq!((r.status, r.tries), (ExecStatus::Timeout, 1), "{r:?}");
    assert!(!r.is_success());
    assert!(
        took >= Duration::from_secs(2) && took < Duration::from_secs(10),
        "{took:?}"
    );
    assert!(
        r.exit_reason
            .as_deref()
            .unwrap_or("")
            .contains("timed out after 2s"),
        "{r:?}"
    );
    let pid = r.pid.expect("pid") as i32;
    assert!(group_members(pid).is_empty(), "{:?}", group_members(pid));
}

/// pcmk_delay_base delays off and reboot (per node with a map), not on.
#[tokio::test]
async fn delay_base_delays_fencing() {
    if !have_fence_dummy("delay_base_delays_fencing") {
        return;
    }
    let dir = tempfile::tempdir().expect("temp dir");
    let cfg = config(dir.path());
    let status = dir.path().join("dummy.status");
    let status_s = status.display().to_string();
    let d = device(
        "fd",
        "fence_dummy",
        &[
            ("status_file", &status_s),
            ("pcmk_delay_base", "node1:2s;node2:0"),
        ],
    );
    let t0 = Instant::now();
    let r = d.fence(&cfg, "node1", FenceAction::Off, T).await;
    assert!(r.is_success(), "{r:?}");
    assert!(t0.elapsed() >= Duration::from_secs(2), "{:?}", t0.elapsed());
    assert_eq!(r.delay_ms, 2000);
    assert!(r.duration_ms >= 2000, "{r:?}");
    let r = d.fence(&cfg, "node1", FenceAction::On, T).await;
    assert!(r.is_success(), "{r:?}");
    assert_eq!(r.delay_ms, 0);
    let r = d.fence(&cfg, "node2", FenceAction::Reboot, T).await;
    assert!(r.is_success(), "{r:?}");
    assert_eq!(r.delay_ms, 0);
    // A plain base with a maximum: between the two.
    let d = device(
        "fd",
        "fence_dummy",
        &[
            ("status_file", &status_s),
            ("pcmk_delay_base", "1s"),
            ("pcmk_delay_max", "3s"),
        ],
    );
    let r = d.fence(&cfg, "node3", FenceAction::Reboot, T).await;
    assert!(r.is_success(), "{r:?}");
    assert!((1000..3000).contains(&r.delay_ms), "{r:?}");
}

/// A `stonith:` resource in the executor, as pacemaker-execd runs one: probe 7,
/// start (register + monitor) 0, probe 0, recurring monitor 0, stop 0, probe 7;
/// a start whose monitor fails leaves the device registered but not running.
#[tokio::test]
async fn executor_runs_stonith_resources() {
    if !have_fence_dummy("executor_runs_stonith_resources") {
        return;
    }
    let env = Env::new();
    let a = "stonith:fence_dummy";
    let status = env.path("dummy.status");
    let status_s = status.display().to_string();
    let params = [
        ("status_file", status_s.as_str()),
        ("pcmk_host_list", "node2"),
    ];
    let probe = env.exec.execute(env.req("fd", a, "monitor", &params)).await;
    assert_eq!(
        (probe.rc, probe.status),
        (ocf::NOT_RUNNING, ExecStatus::Done),
        "{probe:?}"
    );
    let start = env.exec.execute(env.req("fd", a, "start", &params)).await;
    assert_eq!((start.rc, start.status), (0, ExecStatus::Done), "{start:?}");
    assert!(start.pid.is_some());
    let probe = env.exec.execute(env.req("fd", a, "monitor", &params)).await;
    assert_eq!(probe.rc, 0, "{probe:?}");
    let mon = env
        .exec
        .execute(
            env.req("fd", a, "monitor", &params)
                .with_interval(Duration::from_secs(60)),
        )
        .await;
    assert_eq!((mon.rc, mon.status), (0, ExecStatus::Done), "{mon:?}");
    assert!(mon.pid.is_some(), "a recurring monitor runs the agent");
    // The registered device fences.
    let dev = env.exec.fence_device("fd").expect("registered");
    assert_eq!(env.exec.fence_devices().len(), 1);
    assert!(env.exec.fence_device_running("fd"));
    std::fs::write(&status, "on").expect("status");
    let r = dev
        .fence(env.exec.config(), "node2", FenceAction::Off, T)
        .await;
    assert!(r.is_success(), "{r:?}");
    assert_eq!(read(&status), "off");
    assert!(!dev.can_fence(env.exec.config(), "node3").await);
    let stop = env.exec.execute(env.req("fd", a, "stop", &params)).await;
    assert_eq!(stop.rc, 0, "{stop:?}");
    assert!(env.exec.fence_device("fd").is_none());
    let probe = env.exec.execute(env.req("fd", a, "monitor", &params)).await;
    assert_eq!(probe.rc, ocf::NOT_RUNNING, "{probe:?}");
    let mon = env
        .exec
        .execute(
            env.req("fd", a, "monitor", &params)
                .with_interval(Duration::from_secs(60)),
        )
        .await;
    assert_eq!(mon.rc, ocf::NOT_RUNNING, "{mon:?}");
    assert!(!mon.is_success());

    // A device whose monitor fails (fence_dummy cannot read its state).
    std::fs::write(&status, "melted").expect("status");
    let p = [
        ("status_file", status_s.as_str()),
        ("pcmk_monitor_retries", "1"),
    ];
    let start = env.exec.execute(env.req("bad", a, "start", &p)).await;
    assert_eq!(
        (start.rc, start.status),
        (ocf::ERR_GENERIC, ExecStatus::Done),
        "{start:?}"
    );
    assert!(start.exit_reason.is_some(), "{start:?}");
    assert!(env.exec.fence_device("bad").is_some());
    assert!(!env.exec.fence_device_running("bad"));
    let probe = env.exec.execute(env.req("bad", a, "monitor", &p)).await;
    assert_eq!(probe.rc, ocf::NOT_RUNNING, "{probe:?}");
    assert_eq!(env.exec.execute(env.req("bad", a, "stop", &p)).await.rc, 0);

    // Parameters Pacemaker could not use: not configured; an agent that is not
    // there: not installed; an action fence devices do not have.
    let r = env
        .exec
        .execute(env.req("x", a, "start", &[("pcmk_host_check", "bogus")]))
        .await;
    assert_eq!(
        (r.rc, r.status),
        (ocf::ERR_CONFIGURED, ExecStatus::ErrorHard),
        "{r:?}"
    );
    assert!(
        r.exit_reason.as_deref().unwrap_or("").contains("HALO-E407"),
        "{r:?}"
    );
    let r = env
        .exec
        .execute(env.req("y", "stonith:fence_nosuchagent", "start", &[]))
        .await;
    assert_eq!(
        (r.rc, r.status),
        (ocf::ERR_INSTALLED, ExecStatus::NotInstalled),
        "{r:?}"
    );
    let r = env.exec.execute(env.req("fd", a, "promote", &[])).await;
    assert_eq!(r.status, ExecStatus::NotSupported, "{r:?}");
}

/// meta-data of a fence agent is the agent's, as Pacemaker shows it (start and
/// stop added, action/port/plug optional); fence agents are listed.
#[tokio::test]
async fn stonith_meta_data_and_listing() {
    if !have_fence_dummy("stonith_meta_data_and_listing") {
        return;
    }
    let env = Env::new();
    let r = env
        .exec
        .execute(env.req("fd", "stonith:fence_dummy", "meta-data", &[]))
        .await;
    assert_eq!((r.rc, r.status), (0, ExecStatus::Done), "{r:?}");
    assert!(
        r.stdout.contains("<resource-agent name=\"fence_dummy\""),
        "{}",
        r.stdout
    );
    let md = env
        .exec
        .metadata(&halo_exec::parse_agent("stonith:fence_dummy").expect("agent"))
        .await
        .expect("meta-data");
    assert_eq!(md.name, "fence_dummy");
    assert_eq!(md.shortdesc, "Dummy fence agent");
    for a in ["start", "stop", "monitor", "reboot", "off", "on", "status"] {
        assert!(md.supports(a), "{a}");
    }
    let action = md
        .parameters
        .iter()
        .find(|p| p.name == "action")
        .expect("action parameter");
    assert!(!action.required);
    let agents = env
        .exec
        .list_agents(&AgentFilter::parse("stonith").expect("filter"));
    assert!(
        agents
            .iter()
            .any(|a| a.to_string() == "stonith:fence_dummy"),
        "{agents:?}"
    );
    assert!(agents.iter().all(|a| a.kind.starts_with("fence_")));
}
