//! Executor results reach the replicated status: a real one-node cluster in this
//! process (redb, TLS listener on 127.0.0.1) and a real executor with the consensus sink.

use std::sync::Arc;
use std::time::Duration;

use halo_api::ConsensusSink;
use halo_consensus::{ClusterNode, NodeOptions, Settings};
use halo_exec::{parse_agent, AgentRegistry, ExecConfig, Executor, OpRequest};

fn free_addr() -> String {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap_or_else(|e| panic!("{e}"));
    l.local_addr()
        .map(|a| a.to_string())
        .unwrap_or_else(|e| panic!("{e}"))
}

/// Results, fail counts and a cleanup done by the executor are committed to the
/// cluster's status, in order.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn executor_results_are_recorded_in_the_replicated_status() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let node = ClusterNode::open(NodeOptions::new(
        "solo",
        &dir.path().join("node"),
        &free_addr(),
    ))
    .await
    .unwrap_or_else(|e| panic!("{e}"));
    node.init("rec", Settings::default(), Duration::from_secs(60))
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let node = Arc::new(node);
    let (sink, _task) = ConsensusSink::spawn(node.clone());
    let config = ExecConfig {
        node: "solo".into(),
        rsctmp: dir.path().join("rsctmp"),
        state_dir: dir.path().join("state"),
        ..ExecConfig::default()
    };
    let exec = Executor::new(config, AgentRegistry::with_defaults(), sink);
    let req = |rsc: &str, agent: &str, action: &str| {
        OpRequest::new(
            rsc,
            parse_agent(agent).unwrap_or_else(|e| panic!("{e}")),
            action,
        )
        .with_timeout(Duration::from_secs(20))
    };
    assert_eq!(exec.execute(req("d", "halo:dummy", "start")).await.rc, 0);
    assert_eq!(exec.execute(req("d", "halo:dummy", "monitor")).await.rc, 0);
    // A missing agent fails its start: a fail count.
    let r = exec
        .execute(req("m", "ocf:heartbeat:NoSuchAgent", "start"))
        .await;
    assert_ne!(r.rc, 0);

    let state = |node: Arc<ClusterNode>| async move {
        node.read_linearizable()
            .await
            .map(|r| r.state)
            .unwrap_or_else(|e| panic!("{e}"))
    };
    let mut recorded = false;
    for _ in 0..100 {
        let st = state(node.clone()).await;
        let ops = st
            .op_history
            .get("solo")
            .and_then(|m| m.get("d"))
            .cloned()
            .unwrap_or_default();
        let fails = st.fail_counts.get("solo").and_then(|m| m.get("m")).copied();
        if ops.iter().any(|o| o.operation == "start" && o.rc == 0)
            && ops.iter().any(|o| o.operation == "monitor")
            && fails.unwrap_or(0) >= 1
        {
            recorded = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(
        recorded,
        "results never reached the replicated status: {:?}",
        state(node.clone()).await.fail_counts
    );

    // Cleanup clears the fail count in the cluster too.
    assert!(exec.cleanup(Some("m")) > 0);
    let mut cleared = false;
    for _ in 0..100 {
        let st = state(node.clone()).await;
        if st
            .fail_counts
            .get("solo")
            .and_then(|m| m.get("m"))
            .is_none()
        {
            cleared = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(cleared, "cleanup never reached the replicated status");
}
