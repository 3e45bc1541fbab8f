//! `halo:vip` run through the executor, in network namespaces (needs root).

mod common;

use common::*;
use halo_exec::rc::ocf;
use halo_testkit::netns::{require_netns, Net};

/// The executor starts, monitors and stops a virtual IP on a host; a second start is
/// idempotent and a stopped VIP reports "not running".
#[test]
fn vip_agent_through_the_executor() {
    if !require_netns() {
        return;
    }
    let net = Net::new(&["a"]).expect("network");
    let rt = net.host("a").runtime().expect("runtime in host a");
    rt.run(async {
        let env = Env::new();
        let p = [
            ("ip", "10.213.0.200"),
            ("cidr_netmask", "24"),
            ("arp_count", "1"),
        ];
        let a = "halo:vip";
        let run = |action: &str| env.exec.execute(env.req("vip", a, action, &p));
        assert_eq!(run("monitor").await.rc, ocf::NOT_RUNNING);
        let r = run("start").await;
        assert_eq!(r.rc, ocf::SUCCESS, "{r:?}");
        assert_eq!(run("monitor").await.rc, ocf::SUCCESS);
        assert_eq!(run("start").await.rc, ocf::SUCCESS, "start is idempotent");
        assert_eq!(run("stop").await.rc, ocf::SUCCESS);
        assert_eq!(run("monitor").await.rc, ocf::NOT_RUNNING);
        assert_eq!(run("stop").await.rc, ocf::SUCCESS, "stop is idempotent");
        // Bad parameters are a configuration error, named.
        let bad = env
            .exec
            .execute(env.req(
                "vip",
                a,
                "start",
                &[("ip", "10.213.0.200"), ("cidr_netmask", "33")],
            ))
            .await;
        assert!(
            matches!(bad.rc, ocf::ERR_CONFIGURED | ocf::ERR_ARGS),
            "{bad:?}"
        );
        assert!(bad.exit_reason.unwrap_or_default().contains("33"));
    });
}

/// A planned move of a VIP that the node's load balancer listens on: the stop pauses
/// the listeners on the address and lets the session open through it finish before the
/// address leaves. The session here has a second exchange 300 ms after the first, when
/// the address is already on its new node: without the pause it reached that node,
/// which knows nothing of it, and failed. A client that connects during the pause is
/// not refused: its SYN, unanswered, is sent again and reaches the new node.
#[test]
fn vip_move_lets_the_sessions_through_the_load_balancer_finish() {
    use std::io::{BufRead, BufReader, Write};
    use std::net::{SocketAddr, TcpListener, TcpStream};
    use std::sync::Arc;
    use std::time::Duration;

    if !require_netns() {
        return;
    }
    let net = Net::new(&["a", "b", "client"]).expect("network");
    let (ha, hb) = (net.host("a"), net.host("b"));
    let vip = halo_testkit::netns::spare_v4(33);
    let to: SocketAddr = format!("{vip}:8080").parse().expect("addr");
    // Each host's service answers every line with its name and the line.
    let serve = |l: TcpListener, name: &'static str| {
        std::thread::spawn(move || {
            for c in l.incoming().flatten() {
                std::thread::spawn(move || {
                    let mut w = c.try_clone().expect("clone");
                    for line in BufReader::new(c).lines().map_while(Result::ok) {
                        if w.write_all(format!("{name}:{line}\n").as_bytes()).is_err() {
                            return;
                        }
                    }
                });
            }
        })
    };
    let on_a = ha
        .in_ns(|| TcpListener::bind("127.0.0.1:0"))
        .expect("in a")
        .expect("bind a's service");
    let service = on_a.local_addr().expect("addr");
    serve(on_a, "a");
    // b's service listens on the VIP's port itself (bound once the address is there).
    let rt_a = ha.runtime().expect("runtime in a");
    let rt_b = hb.runtime().expect("runtime in b");
    let env_a = Arc::new(rt_a.run(async { Env::new() }));
    let env_b = Arc::new(rt_b.run(async { Env::new() }));
    let vip_params = |ip: String| {
        vec![
            ("ip".to_string(), ip),
            ("cidr_netmask".to_string(), "24".to_string()),
        ]
    };
    let run = |rt: &halo_testkit::netns::NsRuntime,
               env: &Arc<Env>,
               agent: &str,
               action: &str,
               p: Vec<(String, String)>| {
        let env = env.clone();
        let (agent, action) = (agent.to_string(), action.to_string());
        rt.run(async move {
            let p: Vec<(&str, &str)> = p.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
            let rsc = if agent == "halo:lb" { "lb" } else { "vip" };
            env.exec.execute(env.req(rsc, &agent, &action, &p)).await
        })
    };
    let cfg = format!(
        "defaults\n mode tcp\n timeout connect 2s\n timeout client 30s\n timeout server 30s\n\
         listen api\n bind {vip}:8080\n server s {service}\n"
    );
    let r = run(
        &rt_a,
        &env_a,
        "halo:lb",
        "start",
        vec![("config".into(), cfg)],
    );
    assert_eq!(r.rc, ocf::SUCCESS, "{r:?}");
    let r = run(
        &rt_a,
        &env_a,
        "halo:vip",
        "start",
        vip_params(vip.to_string()),
    );
    assert_eq!(r.rc, ocf::SUCCESS, "{r:?}");

    // The session: a line, an answer, 300 ms of work, a second line and its answer.
    let (first_tx, first_rx) = std::sync::mpsc::channel();
    let session = net
        .host("client")
        .spawn_in_ns(move || -> Result<String, String> {
            let c = TcpStream::connect_timeout(&to, Duration::from_secs(2))
                .map_err(|e| format!("connect: {e}"))?;
            c.set_read_timeout(Some(Duration::from_secs(3)))
                .map_err(|e| e.to_string())?;
            let mut w = c.try_clone().map_err(|e| e.to_string())?;
            let mut r = BufReader::new(c);
            let mut ask = |line: &str| -> Result<String, String> {
                w.write_all(format!("{line}\n").as_bytes())
                    .map_err(|e| format!("send {line}: {e}"))?;
                let mut got = String::new();
                r.read_line(&mut got)
                    .map_err(|e| format!("answer to {line}: {e}"))?;
                Ok(got.trim().to_string())
            };
            let one = ask("one")?;
            let _ = first_tx.send(());
            std::thread::sleep(Duration::from_millis(300));
            Ok(format!("{one} {}", ask("two")?))
        });
    first_rx
        .recv_timeout(Duration::from_secs(5))
        .expect("the first exchange");
    // The move: a stops the VIP (a client connects meanwhile), b starts it.
    let late = net
        .host("client")
        .spawn_in_ns(move || -> Result<String, String> {
            std::thread::sleep(Duration::from_millis(100));
            let c = TcpStream::connect_timeout(&to, Duration::from_secs(5))
                .map_err(|e| format!("connect: {e}"))?;
            c.set_read_timeout(Some(Duration::from_secs(3)))
                .map_err(|e| e.to_string())?;
            let mut w = c.try_clone().map_err(|e| e.to_string())?;
            w.write_all(b"late\n").map_err(|e| e.to_string())?;
            let mut got = String::new();
            BufReader::new(c)
                .read_line(&mut got)
                .map_err(|e| format!("answer: {e}"))?;
            Ok(got.trim().to_string())
        });
    let r = run(
        &rt_a,
        &env_a,
        "halo:vip",
        "stop",
        vip_params(vip.to_string()),
    );
    assert_eq!(r.rc, ocf::SUCCESS, "{r:?}");
    let r = run(
        &rt_b,
        &env_b,
        "halo:vip",
        "start",
        vip_params(vip.to_string()),
    );
    assert_eq!(r.rc, ocf::SUCCESS, "{r:?}");
    let on_b = hb
        .in_ns(move || TcpListener::bind(to))
        .expect("in b")
        .expect("bind b's service on the VIP");
    serve(on_b, "b");

    assert_eq!(
        session.join().expect("thread").expect("in client"),
        Ok("a:one a:two".to_string()),
        "the session open through the VIP finished on a"
    );
    assert_eq!(
        late.join().expect("thread").expect("in client"),
        Ok("b:late".to_string()),
        "the client that came during the move was served by b"
    );
}
