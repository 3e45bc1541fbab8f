//! The environment OCF agents get: what Pacemaker 2.1's executor gives them, no more,
//! no less (checked by an agent that dumps the environment it was started with), and
//! real agents that depend on it.

mod common;

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

use common::*;
use halo_exec::config::CRM_FEATURE_SET;
use halo_exec::{parse_agent, AgentMetadata, ExecStatus};

/// Writes the environment it was started with (its own /proc environ, before the
/// shell adds anything) to `$OCF_ROOT/env.ACTION`.
const ENV_DUMP: &str = r#"#!/bin/sh
tr '\0' '\n' < /proc/$$/environ > "$OCF_ROOT/env.$1"
case "$1" in
meta-data) cat <<'X'
<?xml version="1.0"?>
<resource-agent name="EnvDump"><version>1.0</version><parameters/><actions>
<action name="start" timeout="5s"/><action name="stop" timeout="5s"/>
<action name="monitor" timeout="5s"/><action name="meta-data" timeout="5s"/>
</actions></resource-agent>
X
;;
esac
exit 0
"#;

/// Logs one line through the resource-agents shell library.
const LOG: &str = r#"#!/bin/sh
. "$OCF_ROOT/lib/heartbeat/ocf-shellfuncs"
ocf_log info "hello from $OCF_RESOURCE_INSTANCE"
exit 0
"#;

fn dumped(root: &Path, action: &str) -> BTreeMap<String, String> {
    let path = root.join(format!("env.{action}"));
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("{}: {e} (the agent did not run?)", path.display()));
    text.lines()
        .filter_map(|l| l.split_once('='))
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

/// A start gets exactly Pacemaker's variables: the OCF ones, the parameters, the meta
/// attributes with CRM_meta_timeout (ms), the feature set, the node name, and the
/// logging variables of Pacemaker's daemons; not OCF_FUNCTIONS_DIR, nor
/// CRM_meta_interval (a one-shot operation has none). A recurring monitor gets its
/// interval in ms; meta-data gets only the node name besides the OCF variables.
#[tokio::test]
async fn ocf_agent_gets_pacemakers_environment_and_nothing_more() {
    let dir = tempfile::tempdir().expect("temp dir");
    let root = ocf_root_with(dir.path(), &[("EnvDump", ENV_DUMP)]);
    let env = Env::with(|c| c.ocf_root = root.clone());
    let agent = "ocf:test:EnvDump";
    let mut start = env
        .req(
            "web-1",
            agent,
            "start",
            &[("ip", "10.0.0.1"), ("port", "80")],
        )
        .with_timeout(Duration::from_millis(7500));
    start.meta = attrs(&[("clone-max", "3"), ("globally-unique", "false")]);
    let r = env.exec.execute(start).await;
    assert_eq!((r.rc, r.status), (0, ExecStatus::Done), "{r:?}");
    let got = dumped(&root, "start");
    let rsctmp = env.path("rsctmp");
    let root_s = root.to_str().expect("utf-8 path");
    let want: BTreeMap<String, String> = [
        ("PATH", halo_exec::ExecConfig::default().path.as_str()),
        ("LC_ALL", "C"),
        ("HA_RSCTMP", rsctmp.to_str().expect("utf-8 path")),
        ("PCMK_logfacility", "daemon"),
        ("HA_logfacility", "daemon"),
        ("HA_LOGFACILITY", "daemon"),
        ("PCMK_debug", "0"),
        ("HA_debug", "0"),
        ("OCF_RA_VERSION_MAJOR", "1"),
        ("OCF_RA_VERSION_MINOR", "1"),
        ("OCF_ROOT", root_s),
        ("OCF_EXIT_REASON_PREFIX", "ocf-exit-reason:"),
        ("OCF_RESOURCE_INSTANCE", "web-1"),
        ("OCF_RESOURCE_TYPE", "EnvDump"),
        ("OCF_RESOURCE_PROVIDER", "test"),
        ("OCF_RESKEY_ip", "10.0.0.1"),
        ("OCF_RESKEY_port", "80"),
        ("OCF_RESKEY_CRM_meta_clone_max", "3"),
        ("OCF_RESKEY_CRM_meta_globally_unique", "false"),
        ("OCF_RESKEY_CRM_meta_timeout", "7500"),
        ("OCF_RESKEY_CRM_meta_on_node", "node1"),
        ("OCF_RESKEY_crm_feature_set", "3.16.1"),
    ]
    .iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect();
    assert_eq!(
        got, want,
        "the start's environment differs from Pacemaker's"
    );
    assert_eq!(CRM_FEATURE_SET, "3.16.1", "Pacemaker 2.1.5's feature set");
    assert!(!got.contains_key("OCF_FUNCTIONS_DIR"));

    // A probe has no interval; a recurring monitor has it in ms.
    let r = env
        .exec
        .execute(env.req("web-1", agent, "monitor", &[]))
        .await;
    assert_eq!(r.rc, 0, "{r:?}");
    let probe = dumped(&root, "monitor");
    assert!(
        !probe.contains_key("OCF_RESKEY_CRM_meta_interval"),
        "{probe:?}"
    );
    assert_eq!(probe["OCF_RESKEY_CRM_meta_timeout"], "30000");
    let r = env
        .exec
        .execute(
            env.req("web-1", agent, "monitor", &[])
                .with_interval(Duration::from_secs(10)),
        )
        .await;
    assert_eq!(r.rc, 0, "{r:?}");
    let mon = dumped(&root, "monitor");
    assert_eq!(mon["OCF_RESKEY_CRM_meta_interval"], "10000");
    assert_eq!(mon["OCF_RESKEY_crm_feature_set"], CRM_FEATURE_SET);

    // meta-data as Pacemaker's controller asks for it: the type stands for the
    // resource, the node name is given, no feature set, timeout or interval.
    let md = env
        .exec
        .metadata(&parse_agent(agent).expect("agent name"))
        .await
        .expect("meta-data");
    assert_eq!(md.name, "EnvDump");
    let got = dumped(&root, "meta-data");
    assert_eq!(got["OCF_RESOURCE_INSTANCE"], "EnvDump");
    assert_eq!(got["OCF_RESKEY_CRM_meta_on_node"], "node1");
    for absent in [
        "OCF_RESKEY_crm_feature_set",
        "OCF_RESKEY_CRM_meta_timeout",
        "OCF_RESKEY_CRM_meta_interval",
        "OCF_FUNCTIONS_DIR",
    ] {
        assert!(!got.contains_key(absent), "{absent} in {got:?}");
    }
}

/// ocf_log follows the logging variables: with a log file (and no syslog facility)
/// the line lands in the file, not on stderr; with neither it goes to stderr, which
/// the executor keeps; with the default facility (daemon) it goes to syslog.
#[tokio::test]
async fn ocf_log_follows_the_logging_configuration() {
    let dir = tempfile::tempdir().expect("temp dir");
    let root = ocf_root_with(dir.path(), &[("Log", LOG)]);
    let logfile = dir.path().join("agents.log");
    let to_file = Env::with(|c| {
        c.ocf_root = root.clone();
        c.log_facility = None;
        c.log_file = Some(logfile.clone());
    });
    let r = to_file
        .exec
        .execute(to_file.req("lg", "ocf:test:Log", "start", &[]))
        .await;
    assert_eq!(r.rc, 0, "{r:?}");
    let logged = std::fs::read_to_string(&logfile).unwrap_or_default();
    assert!(logged.contains("hello from lg"), "log file: {logged:?}");
    assert!(!r.stderr.contains("hello from lg"), "{r:?}");

    let to_stderr = Env::with(|c| {
        c.ocf_root = root.clone();
        c.log_facility = None;
    });
    let r = to_stderr
        .exec
        .execute(to_stderr.req("lg", "ocf:test:Log", "start", &[]))
        .await;
    assert_eq!(r.rc, 0, "{r:?}");
    assert!(r.stderr.contains("hello from lg"), "{r:?}");

    let to_syslog = Env::with(|c| c.ocf_root = root.clone());
    let r = to_syslog
        .exec
        .execute(to_syslog.req("lg", "ocf:test:Log", "start", &[]))
        .await;
    assert_eq!(r.rc, 0, "{r:?}");
    assert!(!r.stderr.contains("hello from lg"), "{r:?}");
}

/// ocf:rabbitmq:rabbitmq-server (Debian's rabbitmq-server package) finds its shell
/// functions through OCF_FUNCTIONS_DIR, defaulting it to
/// `$OCF_ROOT/resource.d/heartbeat`: its meta-data works only when the executor
/// does not set that variable (Pacemaker does not).
#[tokio::test]
async fn rabbitmq_server_meta_data() {
    const PATH: &str = "/usr/lib/ocf/resource.d/rabbitmq/rabbitmq-server";
    if !Path::new(PATH).exists() {
        if std::env::var_os("HALO_TEST_NO_SKIP").is_some() {
            panic!("{PATH} is not installed (HALO_TEST_NO_SKIP is set)");
        }
        eprintln!(
            "SKIP rabbitmq_server_meta_data: {PATH} is not installed (Debian: rabbitmq-server)"
        );
        return;
    }
    let env = Env::new();
    let agent = "ocf:rabbitmq:rabbitmq-server";
    let r = env
        .exec
        .execute(env.req("rmq", agent, "meta-data", &[]))
        .await;
    assert_eq!(
        (r.rc, r.status),
        (0, ExecStatus::Done),
        "meta-data failed: {:?}\nstderr: {}",
        r.exit_reason,
        r.stderr
    );
    assert!(r.stdout.trim_start().starts_with("<?xml"), "{}", r.stdout);
    let md = AgentMetadata::parse(&r.stdout, agent).expect("meta-data XML");
    assert_eq!(md.name, "rabbitmq-server");
    assert!(md.parameters.iter().any(|p| p.name == "nodename"));
    // The executor's cached meta-data (how resources are described) works too.
    let md = env
        .exec
        .metadata(&parse_agent(agent).expect("agent name"))
        .await
        .expect("meta-data through Executor::metadata");
    assert_eq!(md.name, "rabbitmq-server");
}
