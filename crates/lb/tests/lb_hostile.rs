//! Hostile clients and bad configurations: slow-loris, oversized headers, half-closed
//! connections, thousands of idle connections, unusable addresses.

mod common;
use common::*;
use halo_lb::config::haproxy;
use halo_lb::engine::{Engine, EngineOptions};
use std::io::{Read, Write};
use std::net::{Shutdown, TcpStream};
use std::time::Duration;

fn http_cfg(p: u16, backend: &HttpBackend, extra: &str) -> String {
    format!(
        "global\n maxconn 30000\ndefaults\n mode http\n timeout connect 2s\n timeout client 30s\n timeout server 30s\n{extra}\
         frontend f\n bind 127.0.0.1:{p}\n default_backend b\nbackend b\n server a {}\n",
        backend.addr
    )
}

/// A client sending its headers a byte at a time is cut off by `timeout http-request`.
#[test]
fn lb_slow_loris_headers_are_cut_off_by_http_request_timeout() {
    let a = HttpBackend::start("alpha");
    let p = free_port();
    let e = start_engine(&http_cfg(p, &a, " timeout http-request 300ms\n"));
    let mut c = TcpStream::connect(("127.0.0.1", p)).expect("connect");
    c.write_all(b"GET / HTTP/1.1\r\nHost: x\r\n")
        .expect("write");
    let mut closed = false;
    // Trickle a header byte every 100 ms for up to 10 s; the engine must hang up.
    for _ in 0..100 {
        std::thread::sleep(Duration::from_millis(100));
        if c.write_all(b"X").is_err() {
            closed = true;
            break;
        }
        c.set_nonblocking(true).expect("nonblocking");
        let mut buf = [0u8; 1024];
        match c.read(&mut buf) {
            Ok(_) => {
                closed = true;
                break;
            }
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
            Err(_) => {
                closed = true;
                break;
            }
        }
        c.set_nonblocking(false).expect("blocking");
    }
    assert!(closed, "slow-loris connection still open after 10 s");
    assert_eq!(
        a.hits.load(std::sync::atomic::Ordering::SeqCst),
        0,
        "nothing reached the server"
    );
    // A normal client is still served.
    assert_eq!(
        http_get(format!("127.0.0.1:{p}").parse().expect("addr"), "/", None)
            .expect("get")
            .0,
        200
    );
    e.stop(Duration::ZERO);
}

/// Request headers beyond the buffer size are refused with 431, not forwarded.
#[test]
fn lb_oversized_headers_are_refused() {
    let a = HttpBackend::start("alpha");
    let p = free_port();
    let e = start_engine(&http_cfg(p, &a, ""));
    let mut c = TcpStream::connect(("127.0.0.1", p)).expect("connect");
    c.set_read_timeout(Some(Duration::from_secs(10)))
        .expect("timeout");
    let big = "a".repeat(200 * 1024);
    let _ = c.write_all(format!("GET / HTTP/1.1\r\nHost: x\r\nX-Big: {big}\r\n\r\n").as_bytes());
    let mut buf = Vec::new();
    let _ = c.read_to_end(&mut buf);
    let text = String::from_utf8_lossy(&buf);
    assert!(
        text.starts_with("HTTP/1.1 431"),
        "got {:?}",
        &text[..text.len().min(100)]
    );
    assert_eq!(a.hits.load(std::sync::atomic::Ordering::SeqCst), 0);
    e.stop(Duration::ZERO);
}

/// In `mode tcp` a client's half-close reaches the server, and the server's answer
/// sent after it still reaches the client.
#[test]
fn lb_half_closed_connections_carry_the_answer_back() {
    let (srv, t) = eof_echo_server();
    let p = free_port();
    let cfg = format!("defaults\n mode tcp\n timeout connect 2s\n timeout client 30s\n timeout server 30s\nlisten t\n bind 127.0.0.1:{p}\n server s {srv}\n");
    let e = start_engine(&cfg);
    let mut c = TcpStream::connect(("127.0.0.1", p)).expect("connect");
    c.set_read_timeout(Some(Duration::from_secs(10)))
        .expect("timeout");
    c.write_all(&[7u8; 100_000]).expect("write");
    c.shutdown(Shutdown::Write).expect("half close");
    let mut out = String::new();
    c.read_to_string(&mut out).expect("read");
    assert_eq!(out, "got 100000 bytes");
    t.join().expect("server");
    e.stop(Duration::ZERO);
}

fn rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|v| v.parse().ok())
        })
        .unwrap_or(0)
}

/// 10,000 idle client connections are held with bounded memory, and closing them
/// gives every file descriptor back.
#[test]
fn lb_ten_thousand_idle_connections_bounded_memory_no_fd_leak() {
    let want: u64 = 10_000;
    let mut rl = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit/setrlimit on a struct we own.
    unsafe {
        libc::getrlimit(libc::RLIMIT_NOFILE, &mut rl);
        let need = want * 2 + 1000;
        if rl.rlim_cur < need {
            let n = libc::rlimit {
                rlim_cur: need.min(rl.rlim_max.max(need)),
                rlim_max: rl.rlim_max.max(need),
            };
            if libc::setrlimit(libc::RLIMIT_NOFILE, &n) != 0 {
                let n = libc::rlimit {
                    rlim_cur: rl.rlim_max,
                    rlim_max: rl.rlim_max,
                };
                libc::setrlimit(libc::RLIMIT_NOFILE, &n);
            }
        }
        libc::getrlimit(libc::RLIMIT_NOFILE, &mut rl);
    }
    let n = want.min(rl.rlim_cur.saturating_sub(1000) / 2);
    if n < want {
        eprintln!(
            "open-file limit {} allows only {n} idle connections (run as root for 10,000)",
            rl.rlim_cur
        );
    }
    let a = HttpBackend::start("alpha");
    let p = free_port();
    let e = start_engine(&http_cfg(p, &a, ""));
    let fds_before = open_fds();
    let rss_before = rss_kib();
    let mut conns = Vec::with_capacity(n as usize);
    for _ in 0..n {
        conns.push(TcpStream::connect(("127.0.0.1", p)).expect("connect"));
    }
    assert!(
        wait_until(Duration::from_secs(30), || e.current_sessions() == n),
        "sessions: {}",
        e.current_sessions()
    );
    let rss_peak = rss_kib();
    let per_conn = (rss_peak.saturating_sub(rss_before)) * 1024 / n.max(1);
    eprintln!(
        "{n} idle connections: {} KiB more memory, {per_conn} bytes each",
        rss_peak.saturating_sub(rss_before)
    );
    assert!(
        per_conn < 32 * 1024,
        "idle connections cost {per_conn} bytes each"
    );
    // They still serve when they speak.
    conns[0]
        .write_all(b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        .expect("write");
    let mut out = Vec::new();
    conns[0].read_to_end(&mut out).expect("read");
    assert!(out.ends_with(b"alpha"));
    drop(conns);
    assert!(wait_until(Duration::from_secs(30), || e.current_sessions() == 0));
    assert!(
        wait_until(Duration::from_secs(10), || open_fds() <= fds_before + 2),
        "fds: before {fds_before}, after {}",
        open_fds()
    );
    e.stop(Duration::ZERO);
}

/// Bad configurations are refused with the file, line and reason: unknown directive,
/// unknown backend, bad address, port in use.
#[test]
fn lb_bad_configurations_name_the_place_and_the_reason() {
    let cases = [
        ("frontend f\n bind 127.0.0.1:8080\n frobnicate on\n default_backend b\nbackend b\n server s 127.0.0.1:1\n", "bad.cfg:3: `frobnicate`: unknown"),
        ("frontend f\n bind 127.0.0.1:8080\n default_backend nope\n", "unknown backend `nope`"),
        ("listen l\n bind 127.0.0.1:8080\n server s 300.1.2.3:80\n", "bad.cfg:3: `server`"),
        ("listen l\n bind 10.0.0.1:99999\n server s 127.0.0.1:80\n", "bad.cfg:2: `bind`: `99999` is not a port number"),
    ];
    for (text, want) in cases {
        let err = haproxy::parse(text, "bad.cfg").expect_err(text).to_string();
        assert!(err.contains(want), "{err}\nwanted: {want}");
    }
    let taken = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = taken.local_addr().expect("addr").port();
    let text =
        format!("defaults\n mode tcp\nlisten l\n bind 127.0.0.1:{port}\n server s 127.0.0.1:1\n");
    let cfg = haproxy::parse(&text, "busy.cfg").expect("parses").config;
    let err = Engine::start(cfg, EngineOptions { threads: Some(1) })
        .err()
        .expect("port in use")
        .to_string();
    assert!(
        err.contains("busy.cfg:4") && err.contains("in use"),
        "{err}"
    );
}

/// A listener on an address the node does not hold yet (a VIP before it arrives) binds
/// thanks to IP_FREEBIND.
#[test]
fn lb_binds_an_address_not_yet_on_the_node() {
    // 192.0.2.0/24 is TEST-NET-1: never configured here; nothing is sent to it.
    let text = "defaults\n mode tcp\nlisten vip\n bind 192.0.2.77:3306\n server s 127.0.0.1:1\n";
    let cfg = haproxy::parse(text, "vip.cfg").expect("parses").config;
    let e =
        Engine::start(cfg, EngineOptions { threads: Some(1) }).expect("binds a non-local address");
    e.stop(Duration::ZERO);
}
