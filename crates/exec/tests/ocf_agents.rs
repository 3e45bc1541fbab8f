//! The executor against the real OCF agents of Debian's resource-agents and
//! pacemaker-resource-agents packages.

mod common;

use std::time::Duration;

use common::*;
use halo_exec::rc::ocf;
use halo_exec::{AgentMetadata, ExecEvent, ExecStatus};

/// ocf:heartbeat:Dummy goes through its whole life: probe 7, start 0, monitor 0,
/// stop 0, monitor 7; every result is recorded with timing and reported to the sink.
#[tokio::test]
async fn ocf_heartbeat_dummy_lifecycle() {
    let env = Env::new();
    let a = "ocf:heartbeat:Dummy";
    let probe = env.exec.execute(env.req("d1", a, "monitor", &[])).await;
    assert_eq!(
        (probe.rc, probe.status),
        (ocf::NOT_RUNNING, ExecStatus::Done),
        "{probe:?}"
    );
    let start = env.exec.execute(env.req("d1", a, "start", &[])).await;
    assert_eq!(start.rc, 0, "{start:?}");
    assert!(start.started_ms > 0 && start.pid.is_some());
    // The agent keeps its state in HA_RSCTMP, which the executor sets.
    assert!(env.path("rsctmp/Dummy-d1.state").exists());
    let mon = env.exec.execute(env.req("d1", a, "monitor", &[])).await;
    assert_eq!(mon.rc, 0, "{mon:?}");
    let stop = env.exec.execute(env.req("d1", a, "stop", &[])).await;
    assert_eq!(stop.rc, 0, "{stop:?}");
    let mon = env.exec.execute(env.req("d1", a, "monitor", &[])).await;
    assert_eq!(mon.rc, ocf::NOT_RUNNING);
    let results = env.sink.results();
    assert_eq!(
        results
            .iter()
            .map(|r| r.action.as_str())
            .collect::<Vec<_>>(),
        ["monitor", "start", "monitor", "stop", "monitor"]
    );
    assert!(results.windows(2).all(|w| w[0].call_id < w[1].call_id));
    assert_eq!(env.exec.fail_count("d1"), 0);
    let rec = start.to_op_record();
    assert_eq!(rec.id, "d1_start_0");
    assert_eq!(rec.op_status, 0);
    assert_eq!(rec.on_node.as_deref(), Some("node1"));
}

/// ocf:pacemaker:Dummy receives parameters as OCF_RESKEY_* and meta attributes as
/// OCF_RESKEY_CRM_meta_* (checked through its envfile dump; the whole environment is
/// checked in agent_env.rs).
#[tokio::test]
async fn ocf_pacemaker_dummy_gets_the_ocf_environment() {
    let env = Env::new();
    let state = env.path("pd.state");
    let envfile = env.path("pd.env");
    let params = [
        ("state", state.to_str().unwrap()),
        ("envfile", envfile.to_str().unwrap()),
    ];
    let mut req = env.req("pd", "ocf:pacemaker:Dummy", "start", &params);
    req.meta.insert("clone-max".into(), "3".into());
    let r = env.exec.execute(req).await;
    assert_eq!(r.rc, 0, "{r:?}");
    let dumped = std::fs::read_to_string(&envfile).expect("envfile written by the agent");
    for line in [
        "OCF_RESOURCE_INSTANCE=pd",
        "OCF_RESOURCE_TYPE=Dummy",
        "OCF_RESOURCE_PROVIDER=pacemaker",
        "OCF_RA_VERSION_MAJOR=1",
        "OCF_RESKEY_CRM_meta_clone_max=3",
        "OCF_RESKEY_CRM_meta_timeout=30000",
        "OCF_RESKEY_CRM_meta_on_node=node1",
        "OCF_RESKEY_crm_feature_set=3.16.1",
        "OCF_ROOT=/usr/lib/ocf",
    ] {
        assert!(
            dumped.lines().any(|l| l == line),
            "missing {line} in\n{dumped}"
        );
    }
    // As under Pacemaker: a one-shot operation has no interval, and agents find
    // their shell functions by themselves.
    for name in ["OCF_RESKEY_CRM_meta_interval=", "OCF_FUNCTIONS_DIR="] {
        assert!(
            !dumped.lines().any(|l| l.starts_with(name)),
            "{name} in\n{dumped}"
        );
    }
    let mon = env
        .exec
        .execute(env.req("pd", "ocf:pacemaker:Dummy", "monitor", &params))
        .await;
    assert_eq!(mon.rc, 0);
    let stop = env
        .exec
        .execute(env.req("pd", "ocf:pacemaker:Dummy", "stop", &params))
        .await;
    assert_eq!(stop.rc, 0);
    assert!(!state.exists());
}

/// ocf:pacemaker:Stateful: start gives an unpromoted instance (monitor 0), promote
/// makes monitor answer 8 (running promoted), demote goes back to 0.
#[tokio::test]
async fn ocf_pacemaker_stateful_promote_demote() {
    let env = Env::new();
    let state = env.path("st.state");
    let p = [("state", state.to_str().unwrap())];
    let a = "ocf:pacemaker:Stateful";
    let run = |action: &'static str| env.exec.execute(env.req("st", a, action, &p));
    assert_eq!(run("monitor").await.rc, ocf::NOT_RUNNING);
    assert_eq!(run("start").await.rc, 0);
    assert_eq!(run("monitor").await.rc, 0);
    assert_eq!(run("promote").await.rc, 0);
    let m = run("monitor").await;
    assert_eq!(m.rc, ocf::RUNNING_PROMOTED, "{m:?}");
    // A recurring monitor of the promoted role expects 8: no failure is counted.
    let m = env
        .exec
        .execute(
            env.req("st", a, "monitor", &p)
                .with_interval(Duration::from_secs(11))
                .with_target_rc(ocf::RUNNING_PROMOTED),
        )
        .await;
    assert!(m.is_success(), "{m:?}");
    assert_eq!(run("demote").await.rc, 0);
    assert_eq!(run("monitor").await.rc, 0);
    assert_eq!(run("stop").await.rc, 0);
    assert_eq!(run("monitor").await.rc, ocf::NOT_RUNNING);
    assert_eq!(env.exec.fail_count("st"), 0);
}

/// A missing OCF agent: rc 5 "not installed", status not-installed, and the reason
/// names the path that is missing; it counts as a failure.
#[tokio::test]
async fn missing_agent_is_not_installed() {
    let env = Env::new();
    let r = env
        .exec
        .execute(env.req("m", "ocf:heartbeat:NoSuchAgent", "start", &[]))
        .await;
    assert_eq!(r.rc, ocf::ERR_INSTALLED);
    assert_eq!(r.status, ExecStatus::NotInstalled);
    let reason = r.exit_reason.unwrap();
    assert!(
        reason.contains("not installed")
            && reason.contains("/usr/lib/ocf/resource.d/heartbeat/NoSuchAgent"),
        "{reason}"
    );
    assert_eq!(env.exec.fail_count("m"), 1);
    let r = env
        .exec
        .execute(env.req("m", "ocf:nobody:Dummy", "monitor", &[]))
        .await;
    assert_eq!(r.status, ExecStatus::NotInstalled);
    let r = env
        .exec
        .execute(env.req("m", "halo:nothing", "start", &[]))
        .await;
    assert_eq!(r.rc, ocf::ERR_INSTALLED);
    let reason = r.exit_reason.unwrap_or_default();
    assert!(
        reason.contains("builtins: dummy, lb, process, vip"),
        "{reason}"
    );
}

/// Bad parameters are reported with the agents' own codes: IPaddr2 without ip is
/// not configured (6, with its ocf_exit_reason), pacemaker's Dummy with a
/// non-numeric op_sleep is 6, heartbeat's Dummy with an unwritable state is 2.
#[tokio::test]
async fn bad_parameters_give_rc_2_or_6_with_reason() {
    let env = Env::new();
    let r = env
        .exec
        .execute(env.req("ip", "ocf:heartbeat:IPaddr2", "validate-all", &[]))
        .await;
    assert_eq!(r.rc, ocf::ERR_CONFIGURED, "{r:?}");
    assert_eq!(
        r.exit_reason.as_deref(),
        Some("IP address (the ip parameter) is mandatory")
    );
    let r = env
        .exec
        .execute(env.req(
            "pd",
            "ocf:pacemaker:Dummy",
            "validate-all",
            &[("op_sleep", "abc")],
        ))
        .await;
    assert_eq!(r.rc, ocf::ERR_CONFIGURED, "{r:?}");
    let r = env
        .exec
        .execute(env.req(
            "hd",
            "ocf:heartbeat:Dummy",
            "validate-all",
            &[("state", "/nonexistent-dir/x/state")],
        ))
        .await;
    assert_eq!(r.rc, ocf::ERR_ARGS, "{r:?}");
    assert!(r.exit_reason.unwrap().contains("is not writable"));
}

/// The meta-data of every installed OCF agent is read and parsed; the well-known
/// ones have the parameters they document.
#[tokio::test]
async fn every_installed_ocf_agent_has_parseable_metadata() {
    let env = Env::new();
    let agents = env
        .exec
        .list_agents(&halo_exec::AgentFilter::parse("ocf").unwrap());
    assert!(
        agents.len() > 50,
        "resource-agents should install many agents: {agents:?}"
    );
    let mut set = tokio::task::JoinSet::new();
    for a in agents {
        let exec = env.exec.clone();
        set.spawn(async move { (a.to_string(), exec.metadata(&a).await) });
    }
    let mut parsed = std::collections::BTreeMap::new();
    let mut failures = Vec::new();
    while let Some(j) = set.join_next().await {
        let (name, md) = j.expect("task");
        match md {
            Ok(m) => {
                parsed.insert(name, m);
            }
            Err(e) => failures.push(format!("{name}: {e}")),
        }
    }
    // Tolerate a few agents that need tools not installed here, but not many.
    assert!(failures.len() * 10 < parsed.len(), "{failures:#?}");
    let ip: &AgentMetadata = &parsed["ocf:heartbeat:IPaddr2"];
    let p = ip
        .parameters
        .iter()
        .find(|p| p.name == "ip")
        .expect("ip param");
    assert!(p.required && p.unique);
    assert_eq!(ip.timeout_for("start", 0), Some(Duration::from_secs(20)));
    let st = &parsed["ocf:pacemaker:Stateful"];
    assert!(st.supports("promote") && st.supports("demote"));
}

/// A failed start counts one failure for that resource/node/operation; cleanup
/// resets the count and reports it.
#[tokio::test]
async fn fail_counts_and_cleanup() {
    let env = Env::new();
    let p = [("fail", "start")];
    let r = env
        .exec
        .execute(env.req("f", "halo:dummy", "start", &p))
        .await;
    assert_eq!(r.rc, ocf::ERR_GENERIC);
    env.exec
        .execute(env.req("f", "halo:dummy", "start", &p))
        .await;
    env.exec
        .execute(env.req("g", "halo:dummy", "start", &p))
        .await;
    assert_eq!(env.exec.fail_count("f"), 2);
    let counts = env.exec.fail_counts();
    let (k, c) = &counts[0];
    assert_eq!(
        (k.resource.as_str(), k.node.as_str(), k.operation.as_str()),
        ("f", "node1", "start")
    );
    assert_eq!(k.attribute_name(), "fail-count-f#start_0");
    assert_eq!(c.count, 2);
    assert_eq!(env.exec.cleanup(Some("f")), 1);
    assert_eq!(env.exec.fail_count("f"), 0);
    assert_eq!(env.exec.fail_count("g"), 1);
    assert!(env.exec.last_result("f_start_0").is_none());
    let events = env.sink.events();
    assert!(events
        .iter()
        .any(|e| matches!(e, ExecEvent::FailCount { count: 2, .. })));
    assert!(events
        .iter()
        .any(|e| matches!(e, ExecEvent::Cleanup { resource: Some(r), .. } if r == "f")));
}
