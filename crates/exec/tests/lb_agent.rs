//! `halo:lb` run through the executor: a real engine proxies real connections.

mod common;

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::time::Duration;

use common::*;
use halo_exec::rc::ocf;

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .unwrap_or_else(|e| panic!("no free port: {e}"))
}

/// A backend that answers each connection with a fixed line.
fn backend() -> u16 {
    let l = TcpListener::bind("127.0.0.1:0").unwrap_or_else(|e| panic!("{e}"));
    let port = l.local_addr().map(|a| a.port()).unwrap_or(0);
    std::thread::spawn(move || {
        for s in l.incoming().flatten().take(100) {
            let mut s = s;
            let _ = s.write_all(b"hello from the backend\n");
        }
    });
    port
}

fn fetch(port: u16) -> Option<String> {
    let mut s = TcpStream::connect(("127.0.0.1", port)).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    let mut out = String::new();
    s.read_to_string(&mut out).ok()?;
    Some(out)
}

/// Start, monitor, proxy, reload with a new configuration, stop: all through the
/// executor, as the cluster will run the load balancer.
#[tokio::test(flavor = "multi_thread")]
async fn lb_agent_through_the_executor() {
    let env = Env::new();
    let (front, back) = (free_port(), backend());
    let cfg = |port: u16| {
        format!(
            "defaults\n  mode tcp\n  timeout connect 2s\n  timeout client 10s\n  timeout server 10s\n\
             listen t\n  bind 127.0.0.1:{port}\n  server s1 127.0.0.1:{back}\n"
        )
    };
    let text = cfg(front);
    let p = [("config", text.as_str())];
    let a = "halo:lb";
    let r = env.exec.execute(env.req("lb", a, "validate-all", &p)).await;
    assert_eq!(r.rc, ocf::SUCCESS, "{r:?}");
    assert_eq!(
        env.exec.execute(env.req("lb", a, "monitor", &p)).await.rc,
        ocf::NOT_RUNNING
    );
    let r = env.exec.execute(env.req("lb", a, "start", &p)).await;
    assert_eq!(r.rc, ocf::SUCCESS, "{r:?}");
    assert_eq!(
        env.exec.execute(env.req("lb", a, "monitor", &p)).await.rc,
        ocf::SUCCESS
    );
    let got = tokio::task::spawn_blocking(move || fetch(front))
        .await
        .ok()
        .flatten();
    assert_eq!(got.as_deref(), Some("hello from the backend\n"));

    // A new configuration (another port) is applied by reload.
    let front2 = free_port();
    let text2 = cfg(front2);
    let p2 = [("config", text2.as_str())];
    let r = env.exec.execute(env.req("lb", a, "reload", &p2)).await;
    assert_eq!(r.rc, ocf::SUCCESS, "{r:?}");
    let got = tokio::task::spawn_blocking(move || fetch(front2))
        .await
        .ok()
        .flatten();
    assert_eq!(got.as_deref(), Some("hello from the backend\n"));

    let r = env.exec.execute(env.req("lb", a, "stop", &p2)).await;
    assert_eq!(r.rc, ocf::SUCCESS, "{r:?}");
    assert_eq!(
        env.exec.execute(env.req("lb", a, "monitor", &p2)).await.rc,
        ocf::NOT_RUNNING
    );
    assert!(
        TcpStream::connect(("127.0.0.1", front2)).is_err(),
        "listener closed after stop"
    );

    // A configuration halo does not understand is a configuration error, named.
    let bad = [("config", "listen x\n  frobnicate yes\n")];
    let r = env.exec.execute(env.req("lb2", a, "start", &bad)).await;
    assert_eq!(r.rc, ocf::ERR_CONFIGURED, "{r:?}");
    assert!(r.exit_reason.unwrap_or_default().contains("frobnicate"));
}
