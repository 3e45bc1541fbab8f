//! Reload: a new configuration is applied without refusing or dropping connections.

mod common;
use common::*;
use halo_lb::config::haproxy;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

fn config(p: u16, ph: u16, servers: &[&HttpBackend]) -> String {
    let mut s = format!(
        "defaults\n timeout connect 2s\n timeout client 30s\n timeout server 30s\n\
         listen tcpapp\n bind 127.0.0.1:{p}\n mode tcp\n balance roundrobin\n"
    );
    for b in servers {
        s.push_str(&format!(" server {} {}\n", b.name, b.addr));
    }
    s.push_str(&format!(
        "listen httpapp\n bind 127.0.0.1:{ph}\n mode http\n balance roundrobin\n"
    ));
    for b in servers {
        s.push_str(&format!(" server {} {}\n", b.name, b.addr));
    }
    s
}

/// Ten reloads under load (both modes, a new connection per request): no client
/// connection is refused or fails, sessions opened before a reload keep working after
/// it, and the new configuration takes effect.
#[test]
fn lb_reload_under_load_drops_no_connection() {
    let a = HttpBackend::start("alpha");
    let b = HttpBackend::start("bravo");
    let (p, ph) = (free_port(), free_port());
    let parse = |t: &str| haproxy::parse(t, "reload.cfg").expect("valid").config;
    let e = start_engine(&config(p, ph, &[&a]));
    let stop = Arc::new(AtomicBool::new(false));
    let ok = Arc::new(AtomicU64::new(0));
    let failed = Arc::new(AtomicU64::new(0));
    let mut hs = Vec::new();
    for i in 0..4 {
        let (stop, ok, failed) = (stop.clone(), ok.clone(), failed.clone());
        let port = if i % 2 == 0 { p } else { ph };
        hs.push(std::thread::spawn(move || {
            let addr: SocketAddr = format!("127.0.0.1:{port}").parse().expect("addr");
            while !stop.load(Ordering::SeqCst) {
                match http_get(addr, "/", None) {
                    Ok((200, _, _)) => ok.fetch_add(1, Ordering::SeqCst),
                    other => {
                        eprintln!("failure: {other:?}");
                        failed.fetch_add(1, Ordering::SeqCst)
                    }
                };
            }
        }));
    }
    // A session opened before the reloads (keep-alive through the TCP proxy).
    let mut held = TcpStream::connect(("127.0.0.1", p)).expect("connect");
    held.set_read_timeout(Some(Duration::from_secs(10)))
        .expect("timeout");
    let ask = |c: &mut TcpStream| -> String {
        c.write_all(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
            .expect("write");
        let mut got = Vec::new();
        let mut buf = [0u8; 256];
        while !(got.ends_with(b"alpha") || got.ends_with(b"bravo")) {
            let n = c.read(&mut buf).expect("read");
            assert!(n > 0, "held session closed by a reload");
            got.extend_from_slice(&buf[..n]);
        }
        String::from_utf8_lossy(&got).to_string()
    };
    assert!(ask(&mut held).ends_with("alpha"));
    for round in 0..10 {
        let before = ok.load(Ordering::SeqCst);
        assert!(wait_until(Duration::from_secs(10), || ok
            .load(Ordering::SeqCst)
            > before + 20));
        let servers: Vec<&HttpBackend> = if round % 2 == 1 {
            vec![&a, &b]
        } else {
            vec![&a]
        };
        e.reload(parse(&config(p, ph, &servers))).expect("reload");
    }
    // The last configuration has both servers: bravo answers again.
    let hits_b = b.hits.load(Ordering::SeqCst);
    let addr: SocketAddr = format!("127.0.0.1:{ph}").parse().expect("addr");
    for _ in 0..4 {
        http_get(addr, "/", None).expect("get");
    }
    assert!(
        b.hits.load(Ordering::SeqCst) > hits_b,
        "new configuration in effect"
    );
    assert!(
        ask(&mut held).ends_with("alpha"),
        "held session still served by its server"
    );
    stop.store(true, Ordering::SeqCst);
    for h in hs {
        h.join().expect("client");
    }
    assert_eq!(
        failed.load(Ordering::SeqCst),
        0,
        "failed connections during reloads"
    );
    assert!(ok.load(Ordering::SeqCst) > 200);
    e.stop(Duration::ZERO);
}

/// A reload that cannot bind (address in use) is refused with the place, and the
/// engine keeps serving the previous configuration.
#[test]
fn lb_failed_reload_keeps_the_running_configuration() {
    let a = HttpBackend::start("alpha");
    let (p, ph) = (free_port(), free_port());
    let e = start_engine(&config(p, ph, &[&a]));
    let taken = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let busy = taken.local_addr().expect("addr").port();
    let bad = format!(
        "{}listen extra\n bind 127.0.0.1:{busy}\n mode tcp\n server a {}\n",
        config(p, ph, &[&a]),
        a.addr
    );
    let err = e
        .reload(haproxy::parse(&bad, "bad.cfg").expect("parses").config)
        .expect_err("port in use");
    let msg = err.to_string();
    assert!(
        msg.contains("bad.cfg:16") && msg.contains("in use"),
        "{msg}"
    );
    let addr: SocketAddr = format!("127.0.0.1:{ph}").parse().expect("addr");
    assert_eq!(
        http_get(addr, "/", None).expect("still serving").2,
        b"alpha"
    );
    e.stop(Duration::ZERO);
}

/// A graceful stop (SIGUSR1 in `halo lb run`) closes the listeners at once but lets
/// running sessions finish within the grace period.
#[test]
fn lb_graceful_stop_lets_running_sessions_finish() {
    let a = HttpBackend::start("alpha");
    let (p, ph) = (free_port(), free_port());
    let e = start_engine(&config(p, ph, &[&a]));
    let mut held = TcpStream::connect(("127.0.0.1", p)).expect("connect");
    held.set_read_timeout(Some(Duration::from_secs(10)))
        .expect("timeout");
    assert!(wait_until(Duration::from_secs(5), || e.current_sessions() == 1));
    let stopper = std::thread::spawn(move || e.stop(Duration::from_secs(30)));
    assert!(
        wait_until(Duration::from_secs(5), || TcpStream::connect((
            "127.0.0.1",
            p
        ))
        .is_err()),
        "listener still open during a graceful stop"
    );
    held.write_all(b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        .expect("write");
    let mut out = Vec::new();
    held.read_to_end(&mut out)
        .expect("the running session is served");
    assert!(out.ends_with(b"alpha"));
    drop(held);
    stopper.join().expect("stop returns once the session ended");
}

/// A reload applies changes to the runtime sockets: a removed `stats socket` is closed
/// and its file removed, a new one is served, a changed level takes effect, and a socket
/// that cannot be bound refuses the reload and leaves the running ones as they were.
#[test]
fn lb_reload_applies_stats_socket_changes() {
    let a = HttpBackend::start("alpha");
    let (p, ph) = (free_port(), free_port());
    let dir = std::env::temp_dir().join(format!("halo-lb-sockreload-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("dir");
    let (one, two) = (dir.join("one.sock"), dir.join("two.sock"));
    let with = |socks: &[(&std::path::Path, &str)]| -> halo_lb::config::Config {
        let mut g = String::from("global\n");
        for (s, level) in socks {
            g.push_str(&format!(
                " stats socket {} mode 600 level {level}\n",
                s.display()
            ));
        }
        haproxy::parse(&format!("{g}{}", config(p, ph, &[&a])), "t.cfg")
            .expect("parses")
            .config
    };
    let cmd = |sock: &std::path::Path, c: &str| admin_command(sock, c).ok();
    let e = halo_lb::engine::Engine::start(
        with(&[(&one, "admin")]),
        halo_lb::engine::EngineOptions { threads: Some(1) },
    )
    .expect("engine starts");
    assert!(cmd(&one, "show info").is_some_and(|o| o.contains("Uptime")));
    // Swap: `one` goes away, `two` appears with level user (show only).
    e.reload(with(&[(&two, "user")])).expect("reload");
    assert!(!one.exists(), "the removed socket's file is gone");
    assert!(
        cmd(&one, "show info").is_none(),
        "the removed socket is closed"
    );
    assert!(cmd(&two, "show stat").is_some_and(|o| o.contains("httpapp,alpha,")));
    let refused = cmd(&two, "disable server httpapp/alpha").expect("answers");
    assert!(refused.contains("Permission denied"), "{refused}");
    // Same path, level raised to admin: the command now works.
    e.reload(with(&[(&two, "admin")])).expect("reload");
    assert_eq!(
        cmd(&two, "disable server httpapp/alpha").as_deref(),
        Some("\n")
    );
    // A socket in a directory that does not exist: the reload is refused, `two` stays.
    let missing = dir.join("no-such-dir").join("three.sock");
    let err = e
        .reload(with(&[(&two, "admin"), (&missing, "admin")]))
        .expect_err("cannot bind");
    assert!(err.to_string().contains("three.sock"), "{err}");
    assert!(cmd(&two, "show info").is_some());
    e.stop(Duration::ZERO);
    assert!(!two.exists(), "a stopped engine removes its socket files");
    std::fs::remove_dir_all(&dir).ok();
}

/// A kept-alive client connection follows a reload: its next request is served by the
/// new configuration (here: the backend's only server changed), without reconnecting.
#[test]
fn lb_kept_alive_connections_follow_a_reload() {
    let a = HttpBackend::start("alpha");
    let b = HttpBackend::start("bravo");
    let (p, ph) = (free_port(), free_port());
    let e = start_engine(&config(p, ph, &[&a]));
    let mut c = TcpStream::connect(("127.0.0.1", ph)).expect("connect");
    c.set_read_timeout(Some(Duration::from_secs(10)))
        .expect("timeout");
    let ask = |c: &mut TcpStream| -> String {
        c.write_all(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
            .expect("write");
        let mut got = Vec::new();
        let mut buf = [0u8; 1024];
        loop {
            let n = c.read(&mut buf).expect("read");
            assert!(n > 0, "connection closed");
            got.extend_from_slice(&buf[..n]);
            if let Ok((_, _, body)) = parse_response(&got) {
                if body.len() == 5 {
                    return String::from_utf8_lossy(&body).to_string();
                }
            }
        }
    };
    assert_eq!(ask(&mut c), "alpha");
    e.reload(
        haproxy::parse(&config(p, ph, &[&b]), "new.cfg")
            .expect("parses")
            .config,
    )
    .expect("reload");
    assert_eq!(ask(&mut c), "bravo", "same connection, new configuration");
    e.stop(Duration::ZERO);
}

/// Listeners and the runtime socket on descriptors the process was given (`bind
/// "fd@${NAME}"`, `stats socket fd@N`, as a service manager or HAProxy's test driver
/// passes them, with `${NAME-default}` in the text): the engine serves on them, a
/// reload keeps serving on them, and a descriptor that is not open is refused with its
/// line.
#[test]
fn lb_serves_on_inherited_descriptors() {
    use std::os::fd::AsRawFd;
    let a = HttpBackend::start("alpha");
    let fe = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let cli = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let (fe_addr, cli_addr) = (
        fe.local_addr().expect("addr"),
        cli.local_addr().expect("addr"),
    );
    std::env::set_var("HALO_TEST_FE_FD", fe.as_raw_fd().to_string());
    let cfg = format!(
        "global\n stats socket \"fd@{}\" level admin expose-fd listeners\n\
         defaults\n mode http\n timeout connect \"${{HALO_TEST_NO_SUCH_VAR-2s}}\"\n timeout client 30s\n timeout server 30s\n\
         listen app\n bind \"fd@${{HALO_TEST_FE_FD}}\"\n server a {}\n",
        cli.as_raw_fd(),
        a.addr
    );
    let e = start_engine(&cfg);
    let (code, _, body) = http_get(fe_addr, "/", None).expect("request");
    assert_eq!(
        (code, String::from_utf8_lossy(&body).to_string()),
        (200, "alpha".into())
    );
    let ask = |cmd: &str| {
        let mut s = TcpStream::connect(cli_addr).expect("connect to the runtime socket");
        s.write_all(format!("{cmd}\n").as_bytes()).expect("send");
        s.shutdown(std::net::Shutdown::Write).expect("shutdown");
        let mut out = String::new();
        s.read_to_string(&mut out).expect("answer");
        out
    };
    assert!(
        ask("show servers state").contains("app"),
        "{}",
        ask("show servers state")
    );
    e.reload(haproxy::parse(&cfg, "fd.cfg").expect("valid").config)
        .expect("reload");
    let (code, _, _) = http_get(fe_addr, "/", None).expect("request after the reload");
    assert_eq!(code, 200);
    assert!(ask("show info").contains("Name"), "{}", ask("show info"));

    let bad = "defaults\n mode tcp\nlisten x\n bind fd@987\n server a 127.0.0.1:9\n";
    let err = haproxy::parse(bad, "bad.cfg").expect_err("not an open descriptor");
    assert!(err.to_string().contains("bad.cfg:4"), "{err}");
    assert!(err.to_string().contains("987"), "{err}");
    e.stop(Duration::ZERO);
    drop((fe, cli));
}
