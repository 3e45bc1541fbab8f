//! The builtin `halo:lb` agent: start, monitor, reload, stop, idempotently.

mod common;
use common::*;
use halo_lb::agent::{AgentStatus, LbAgent};
use std::collections::BTreeMap;
use std::time::Duration;

/// start/monitor/stop follow OCF: monitor says 7 before start and after stop, 0 while
/// running; starting twice is harmless; a changed configuration reloads in place; a
/// bad configuration is "not configured" (6).
#[test]
fn lb_agent_starts_monitors_reloads_and_stops_an_engine() {
    let a = HttpBackend::start("alpha");
    let b = HttpBackend::start("bravo");
    let p = free_port();
    let agent = LbAgent::new();
    assert_eq!(agent.monitor("lb").ocf_rc(), 7);
    let native = |srv: &HttpBackend| {
        format!(
            "version = 1\n[[frontend]]\nname = \"f\"\nmode = \"http\"\ndefault_backend = \"b\"\n[[frontend.bind]]\naddr = \"127.0.0.1:{p}\"\n\
             [[backend]]\nname = \"b\"\nmode = \"http\"\n[[backend.server]]\nname = \"s\"\naddr = \"{}\"\n",
            srv.addr
        )
    };
    let params = |text: String| BTreeMap::from([("config".to_string(), text)]);
    let cfg = LbAgent::config_from_params("lb", &params(native(&a))).expect("valid");
    agent.start("lb", cfg.clone()).expect("start");
    agent.start("lb", cfg).expect("second start is a no-op");
    assert_eq!(agent.monitor("lb"), AgentStatus::Running);
    let addr = format!("127.0.0.1:{p}").parse().expect("addr");
    assert_eq!(http_get(addr, "/", None).expect("get").2, b"alpha");
    let cfg2 = LbAgent::config_from_params("lb", &params(native(&b))).expect("valid");
    agent.start("lb", cfg2).expect("reload");
    assert_eq!(http_get(addr, "/", None).expect("get").2, b"bravo");
    let bad = LbAgent::config_from_params(
        "lb",
        &params("listen x\n bind 127.0.0.1:1\n nonsense\n".into()),
    )
    .expect_err("invalid");
    assert_eq!(bad.ocf_rc(), 6);
    assert!(bad.to_string().contains("nonsense"), "{bad}");
    assert_eq!(
        LbAgent::config_from_params("lb", &BTreeMap::new())
            .expect_err("no config")
            .ocf_rc(),
        6
    );
    agent.stop("lb", Duration::from_secs(1));
    agent.stop("lb", Duration::from_secs(1));
    assert_eq!(agent.monitor("lb").ocf_rc(), 7);
    assert!(
        http_get(addr, "/", None).is_err(),
        "listener closed after stop"
    );
}
