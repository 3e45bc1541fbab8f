//! The interface the rest of halo uses, on a real one-node cluster in this process (real
//! redb file, real TLS listener on 127.0.0.1): propose and wait, linearizable read,
//! subscribe, refusals, and durability across a reopen.

use std::time::Duration;

use halo_consensus::{
    Change, ChangeResult, ClusterNode, Error, NodeOptions, Settings, StoredConfig,
};

fn free_addr() -> String {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap_or_else(|e| panic!("{e}"));
    let a = l.local_addr().unwrap_or_else(|e| panic!("{e}"));
    a.to_string()
}

fn temp_dir(label: &str) -> std::path::PathBuf {
    let d = std::env::temp_dir().join(format!("halo-consensus-{label}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    d
}

/// A committed change is returned with its epoch, is seen by subscribers and by a
/// linearizable read, and survives closing and reopening the node.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn interface_propose_subscribe_read_and_reopen() {
    let dir = temp_dir("iface");
    let addr = free_addr();
    let node = ClusterNode::open(NodeOptions::new("solo", &dir, &addr))
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert!(matches!(
        node.propose(Change::Noop { note: "x".into() }).await,
        Err(Error::NotConfigured)
    ));
    node.init("iface", Settings::default(), Duration::from_secs(60))
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let mut events = node.subscribe();
    let resp = node
        .propose(Change::SetProperty {
            name: "no-quorum-policy".into(),
            value: Some("stop".into()),
        })
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(resp.result, ChangeResult::Ok);
    let ev = tokio::time::timeout(Duration::from_secs(10), async {
        loop {
            match events.recv().await {
                Ok(e) if matches!(e.request.change, Change::SetProperty { .. }) => return Some(e),
                Ok(_) => continue,
                Err(_) => return None,
            }
        }
    })
    .await
    .ok()
    .flatten()
    .unwrap_or_else(|| panic!("no change event"));
    assert_eq!(ev.epoch, resp.epoch);
    assert_eq!(ev.request.node, "solo");

    let read = node
        .read_linearizable()
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let cfg = read
        .state
        .config
        .to_model()
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        cfg.properties.get("no-quorum-policy").map(String::as_str),
        Some("stop")
    );
    assert_eq!(
        cfg.nodes
            .iter()
            .map(|n| n.name.as_str())
            .collect::<Vec<_>>(),
        vec!["solo"]
    );

    // A refused change reports its code and leaves the epoch alone.
    let refused = node
        .propose(Change::SetSettings {
            settings: Settings {
                failure_timeout_ms: 5,
            },
        })
        .await;
    assert!(
        matches!(refused, Err(Error::Refused { ref code, .. }) if code == "HALO-E116"),
        "{refused:?}"
    );

    // The whole configuration, resources and constraints included, is replicated, and
    // node membership changes keep editing it.
    let text = include_str!("../../../examples/openstack.toml");
    let model = halo_model::parse_native(text, "openstack.toml")
        .unwrap_or_else(|e| panic!("{e}"))
        .config;
    let stored = StoredConfig::from_model(&model).unwrap_or_else(|e| panic!("{e}"));
    assert!(matches!(stored, StoredConfig::NativeToml { .. }));
    let resp = node
        .propose(Change::SetConfig {
            config: stored,
            if_unchanged: None,
        })
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(resp.result, ChangeResult::Ok);
    let back = node
        .read_linearizable()
        .await
        .unwrap_or_else(|e| panic!("{e}"))
        .state
        .config
        .to_model()
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(back, model);
    // A configuration that does not validate is refused; the committed one stays.
    let bad = node
        .propose(Change::SetConfig {
            config: StoredConfig::NativeToml {
                text: "version = 1\n[[order]]\nid = \"o\"\nfirst = \"x\"\nthen = \"y\"\n".into(),
            },
            if_unchanged: None,
        })
        .await;
    assert!(
        matches!(bad, Err(Error::Refused { ref code, .. }) if code == "HALO-E121"),
        "{bad:?}"
    );
    let still = node
        .read_linearizable()
        .await
        .unwrap_or_else(|e| panic!("{e}"))
        .state
        .config
        .to_model()
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(still.resources.len(), model.resources.len());
    // A read-modify-write based on a configuration that has changed since is refused.
    let stale = node
        .propose(Change::SetConfig {
            config: StoredConfig::default(),
            if_unchanged: Some(StoredConfig::default()),
        })
        .await;
    assert!(
        matches!(stale, Err(Error::Refused { ref code, .. }) if code == "HALO-E154"),
        "{stale:?}"
    );
    let current = node
        .read_linearizable()
        .await
        .unwrap_or_else(|e| panic!("{e}"))
        .state
        .config;
    let same = node
        .propose(Change::SetConfig {
            config: current.clone(),
            if_unchanged: Some(current),
        })
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(same.result, ChangeResult::Ok);

    let epoch = node.status().epoch;
    node.shutdown().await;
    drop(node);

    let node = ClusterNode::open(NodeOptions::new("solo", &dir, &addr))
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let read = tokio::time::timeout(Duration::from_secs(20), async {
        loop {
            if let Ok(r) = node.read_linearizable().await {
                return r;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    })
    .await
    .unwrap_or_else(|_| panic!("no linearizable read after reopen"));
    assert_eq!(read.state.epoch, epoch);
    // The configuration with resources survived the reopen as native TOML.
    assert!(matches!(read.state.config, StoredConfig::NativeToml { .. }));
    let reopened = read
        .state
        .config
        .to_model()
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(reopened, model);
    assert!(read
        .state
        .history
        .iter()
        .any(|h| h.summary == "set property no-quorum-policy=stop"));
    node.shutdown().await;
    let _ = std::fs::remove_dir_all(&dir);
}
