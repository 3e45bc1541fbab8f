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
    // The engine needs one descriptor per client here; the clients live in another
    // process (python3) with their own limit.
    let mut rl = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit/setrlimit on a struct we own.
    unsafe {
        libc::getrlimit(libc::RLIMIT_NOFILE, &mut rl);
        let need = want + 2000;
        if rl.rlim_cur < need {
            let n = libc::rlimit {
                rlim_cur: need.min(rl.rlim_max),
                rlim_max: rl.rlim_max,
            };
            libc::setrlimit(libc::RLIMIT_NOFILE, &n);
        }
        libc::getrlimit(libc::RLIMIT_NOFILE, &mut rl);
    }
    let n = want.min(rl.rlim_cur.saturating_sub(2000));
    if n < want {
        eprintln!(
            "open-file limit {} allows only {n} idle connections",
            rl.rlim_cur
        );
    }
    let Some(python) = which("python3") else {
        skip("python3 is needed to hold the client connections");
        return;
    };
    let a = HttpBackend::start("alpha");
    let p = free_port();
    let e = start_engine(&http_cfg(p, &a, ""));
    let fds_before = open_fds();
    let rss_before = rss_kib();
    // A client process opening `n` connections and keeping them idle until stdin closes;
    // then it sends one request on the first and prints the answer's last line.
    let script = format!(
        "import socket,sys,resource\n\
         s,h=resource.getrlimit(resource.RLIMIT_NOFILE)\n\
         resource.setrlimit(resource.RLIMIT_NOFILE,(min(h,{n}+500),h))\n\
         cs=[socket.create_connection(('127.0.0.1',{p})) for _ in range({n})]\n\
         print('open',flush=True)\n\
         sys.stdin.readline()\n\
         cs[0].sendall(b'GET / HTTP/1.1\\r\\nHost: x\\r\\nConnection: close\\r\\n\\r\\n')\n\
         d=b''\n\
         while True:\n\
         \x20x=cs[0].recv(4096)\n\
         \x20if not x: break\n\
         \x20d+=x\n\
         print(d.decode().splitlines()[-1],flush=True)\n"
    );
    let mut child = std::process::Command::new(python)
        .args(["-c", &script])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("python3 runs");
    let mut out = std::io::BufReader::new(child.stdout.take().expect("stdout"));
    let mut line = String::new();
    std::io::BufRead::read_line(&mut out, &mut line).expect("client reports");
    assert_eq!(line.trim(), "open");
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
        per_conn < 4 * 1024,
        "idle connections cost {per_conn} bytes each"
    );
    // They still serve when they speak.
    let mut stdin = child.stdin.take().expect("stdin");
    stdin.write_all(b"go\n").expect("tell the client");
    line.clear();
    std::io::BufRead::read_line(&mut out, &mut line).expect("answer");
    assert_eq!(line.trim(), "alpha");
    drop(stdin);
    drop(out);
    let _ = child.wait();
    assert!(wait_until(Duration::from_secs(30), || e.current_sessions() == 0));
    // Every client socket is given back; a handful may remain for the kept-alive
    // connection to the server (both ends live in this process).
    assert!(
        wait_until(Duration::from_secs(10), || open_fds() <= fds_before + 5),
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

/// `mode tcp` sessions idle for longer than the client/server timeouts are closed;
/// `timeout tunnel` replaces them for long-lived sessions.
#[test]
fn lb_idle_tcp_sessions_end_at_the_inactivity_timeout() {
    let a = HttpBackend::start("alpha");
    let (p1, p2) = (free_port(), free_port());
    let cfg = format!(
        "defaults\n mode tcp\n timeout connect 2s\n timeout client 300ms\n timeout server 300ms\n\
         listen short\n bind 127.0.0.1:{p1}\n server a {}\n\
         listen tunnel\n bind 127.0.0.1:{p2}\n timeout tunnel 1h\n server a {}\n",
        a.addr, a.addr
    );
    let e = start_engine(&cfg);
    let mut short = TcpStream::connect(("127.0.0.1", p1)).expect("connect");
    let mut long = TcpStream::connect(("127.0.0.1", p2)).expect("connect");
    short
        .set_read_timeout(Some(Duration::from_secs(10)))
        .expect("timeout");
    let mut buf = [0u8; 64];
    assert_eq!(
        short.read(&mut buf).unwrap_or(0),
        0,
        "idle session closed by the proxy"
    );
    // The tunnel session outlives the client/server timeouts and still works.
    std::thread::sleep(Duration::from_millis(700));
    long.set_read_timeout(Some(Duration::from_secs(10)))
        .expect("timeout");
    long.write_all(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        .expect("write");
    let mut got = Vec::new();
    while !got.ends_with(b"alpha") {
        let n = long.read(&mut buf).expect("read");
        assert!(n > 0, "tunnel session was closed");
        got.extend_from_slice(&buf[..n]);
    }
    e.stop(Duration::ZERO);
}

/// A frontend at its `maxconn` stops accepting: the next client waits in the kernel
/// backlog and is served as soon as a session ends.
#[test]
fn lb_frontend_maxconn_holds_extra_clients_until_a_slot_frees() {
    let a = HttpBackend::start("alpha");
    let p = free_port();
    let cfg = format!(
        "defaults\n mode http\n timeout connect 2s\n timeout client 30s\n timeout server 30s\n\
         frontend f\n bind 127.0.0.1:{p}\n maxconn 2\n default_backend b\nbackend b\n server a {}\n",
        a.addr
    );
    let e = start_engine(&cfg);
    let c1 = TcpStream::connect(("127.0.0.1", p)).expect("c1");
    let c2 = TcpStream::connect(("127.0.0.1", p)).expect("c2");
    assert!(wait_until(Duration::from_secs(5), || e.current_sessions() == 2));
    let mut c3 = TcpStream::connect(("127.0.0.1", p)).expect("c3 (in the backlog)");
    c3.write_all(b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        .expect("write");
    c3.set_read_timeout(Some(Duration::from_millis(500)))
        .expect("timeout");
    let mut buf = [0u8; 512];
    assert!(
        c3.read(&mut buf).is_err(),
        "third client answered beyond maxconn"
    );
    assert_eq!(e.current_sessions(), 2);
    drop(c1);
    c3.set_read_timeout(Some(Duration::from_secs(10)))
        .expect("timeout");
    let mut out = Vec::new();
    c3.read_to_end(&mut out)
        .expect("served once a slot is free");
    assert!(out.ends_with(b"alpha"));
    drop(c2);
    e.stop(Duration::ZERO);
}

/// `option httplog` and `option tcplog` lines reach a syslog receiver over UDP.
#[test]
fn lb_httplog_and_tcplog_lines_reach_syslog() {
    let a = HttpBackend::start("alpha");
    let sys = std::net::UdpSocket::bind("127.0.0.1:0").expect("udp");
    sys.set_read_timeout(Some(Duration::from_secs(10)))
        .expect("timeout");
    let (ph, pt) = (free_port(), free_port());
    let cfg = format!(
        "global\n log {} local3\ndefaults\n log global\n timeout connect 2s\n timeout client 30s\n timeout server 30s\n\
         listen web\n bind 127.0.0.1:{ph}\n mode http\n option httplog\n server a {}\n\
         listen raw\n bind 127.0.0.1:{pt}\n mode tcp\n option tcplog\n server a {}\n",
        sys.local_addr().expect("addr"),
        a.addr,
        a.addr
    );
    let e = start_engine(&cfg);
    http_get(
        format!("127.0.0.1:{ph}").parse().expect("addr"),
        "/x?y=1",
        None,
    )
    .expect("http");
    http_get(format!("127.0.0.1:{pt}").parse().expect("addr"), "/", None).expect("tcp");
    let mut lines = Vec::new();
    let mut buf = [0u8; 2048];
    while lines.len() < 2 {
        let n = sys.recv(&mut buf).expect("a log line");
        lines.push(String::from_utf8_lossy(&buf[..n]).to_string());
    }
    let http = lines
        .iter()
        .find(|l| l.contains(" web web/a "))
        .expect("httplog line");
    assert!(http.starts_with("<158>"), "local3.info priority: {http}");
    assert!(
        http.contains(" 200 ") && http.contains("\"GET /x?y=1 HTTP/1.1\""),
        "{http}"
    );
    let tcp = lines
        .iter()
        .find(|l| l.contains(" raw raw/a "))
        .expect("tcplog line");
    assert!(tcp.contains(" -- "), "{tcp}");
    e.stop(Duration::ZERO);
}

/// `log-format` with `%` variables and samples (which read the request and the
/// transaction's variables), HAProxy's `option httplog` line in its exact shape, and
/// the log targets' `format raw`, `len`, `sample` and levels.
#[test]
fn lb_log_format_targets_and_sampling() {
    let a = HttpBackend::start("alpha");
    let udp = || {
        let s = std::net::UdpSocket::bind("127.0.0.1:0").expect("udp");
        s.set_read_timeout(Some(Duration::from_secs(10)))
            .expect("timeout");
        s
    };
    let (custom, raw, sampled, quiet) = (udp(), udp(), udp(), udp());
    let addr = |s: &std::net::UdpSocket| s.local_addr().expect("addr");
    let (pc, ph) = (free_port(), free_port());
    let cfg = format!(
        "defaults\n mode http\n timeout connect 2s\n timeout client 30s\n timeout server 30s\n\
         frontend custom\n bind 127.0.0.1:{pc}\n log {} local0\n log {} format raw len 90 local0\n\
         log-format \"%ci %ft %b/%s %ST %HM %HPO %HQ %{{+Q}}[req.hdr(x-tag)] %[var(txn.who)] %hr %hs end\"\n\
         http-request set-var(txn.who) str(alice)\n default_backend b\n\
         frontend web\n bind 127.0.0.1:{ph}\n option httplog\n log {} sample 1,3:4 local1\n log {} local2 notice\n default_backend b\n\
         backend b\n server a {}\n",
        addr(&custom),
        addr(&raw),
        addr(&sampled),
        addr(&quiet),
        a.addr
    );
    let e = start_engine(&cfg);
    let get = |port: u16, path: &str, tag: Option<&str>| {
        let mut s = TcpStream::connect(("127.0.0.1", port)).expect("connect");
        let extra = tag.map(|t| format!("X-Tag: {t}\r\n")).unwrap_or_default();
        write!(
            s,
            "GET {path} HTTP/1.1\r\nHost: x\r\n{extra}Connection: close\r\n\r\n"
        )
        .expect("send");
        let mut out = String::new();
        s.read_to_string(&mut out).expect("read");
        assert!(out.contains("alpha"), "{out}");
    };
    let recv = |s: &std::net::UdpSocket| {
        let mut buf = [0u8; 4096];
        let n = s.recv(&mut buf).expect("a log line");
        String::from_utf8_lossy(&buf[..n]).to_string()
    };
    get(pc, "/p/q?x=1", Some("blue"));
    let line = recv(&custom);
    let (head, msg) = line.split_once("]: ").expect("syslog header");
    assert!(head.starts_with("<134>"), "local0.info: {line}");
    assert_eq!(
        msg, "127.0.0.1 custom b/a 200 GET /p/q ?x=1 \"blue\" alice end",
        "{line}"
    );
    // `format raw`: the message alone; `len 90`: cut.
    let line = recv(&raw);
    assert!(line.starts_with("127.0.0.1 custom b/a 200"), "{line}");
    get(pc, &format!("/{}", "a".repeat(200)), None);
    let line = recv(&raw);
    assert_eq!(line.len(), 90, "{line}");
    // HAProxy's httplog line, field by field; 1 and 3 of each 4 lines sampled.
    for i in 0..4 {
        get(ph, &format!("/n{i}?y=1"), None);
    }
    let shape = regex::Regex::new(
        r#"^<142>[A-Z][a-z]{2} [ \d]\d \d\d:\d\d:\d\d halo\[\d+\]: 127\.0\.0\.1:\d+ \[\d\d/[A-Z][a-z]{2}/\d{4}:\d\d:\d\d:\d\d\.\d{3}\] web b/a 0/0/\d+/\d+/\d+ 200 \d+ - - ---- \d+/\d+/\d+/\d+/0 0/0 "GET /n(\d)\?y=1 HTTP/1\.1"$"#,
    )
    .expect("regex");
    let mut seen = Vec::new();
    for _ in 0..2 {
        let line = recv(&sampled);
        let c = shape
            .captures(&line)
            .unwrap_or_else(|| panic!("httplog shape: {line}"));
        seen.push(c[1].to_string());
    }
    assert_eq!(seen, ["0", "2"], "lines 1 and 3 of 4");
    // `notice` is the least urgent level that target takes: traffic (info) is not sent.
    quiet
        .set_read_timeout(Some(Duration::from_millis(300)))
        .expect("timeout");
    let mut buf = [0u8; 512];
    assert!(
        quiet.recv(&mut buf).is_err(),
        "no info line for a notice target"
    );
    e.stop(Duration::ZERO);
    for (line, why) in [
        ("log 127.0.0.1 sample 0:2 local0", "ranges go from 1"),
        ("log 127.0.0.1 sample 1-3 local0", "RANGES:SIZE"),
        ("log 127.0.0.1 format rfc5424 local0", "not supported"),
        (
            "log 127.0.0.1 local0 info notice debug",
            "two levels at most",
        ),
        (
            "log-format \"%ci %Zz\"",
            "`%Zz` is not a log-format variable",
        ),
    ] {
        let bad = format!("frontend f\n bind 127.0.0.1:1\n {line}\n");
        let err = halo_lb::config::haproxy::parse(&bad, "l.cfg").expect_err(line);
        let err = err.to_string();
        assert!(
            err.contains("l.cfg:3") && err.contains(why),
            "{line}: {err}"
        );
    }
}

/// `unique-id-format` and `unique-id-header`: each request gets an id made of what it
/// and its connection tell, which the server receives in the header, the rules read
/// (`unique-id`) and the log line writes (`%ID`), the same in all three.
#[test]
fn lb_unique_id_reaches_server_rules_and_log() {
    let a = HttpBackend::start("alpha");
    let sys = std::net::UdpSocket::bind("127.0.0.1:0").expect("udp");
    sys.set_read_timeout(Some(Duration::from_secs(10)))
        .expect("timeout");
    let p = free_port();
    let cfg = format!(
        "defaults\n mode http\n timeout connect 2s\n timeout client 30s\n timeout server 30s\n\
         frontend fe\n bind 127.0.0.1:{p}\n log {} format raw local0\n log-format \"id=%ID\"\n\
         unique-id-format %{{+X}}ci:%cp_%fi:%fp_%rt:%pid\n unique-id-header X-Unique-ID\n\
         http-response set-header X-Request-ID %[unique-id]\n default_backend b\n\
         backend b\n server a {}\n",
        sys.local_addr().expect("addr"),
        a.addr
    );
    let e = start_engine(&cfg);
    let mut s = TcpStream::connect(("127.0.0.1", p)).expect("connect");
    let port = s.local_addr().expect("local").port();
    s.write_all(b"GET /headers HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        .expect("send");
    let mut out = String::new();
    s.read_to_string(&mut out).expect("read");
    let lower = out.to_ascii_lowercase();
    let id = lower
        .lines()
        .find_map(|l| l.strip_prefix("x-request-id: "))
        .unwrap_or_else(|| panic!("no id in the answer: {out}"))
        .trim()
        .to_string();
    assert!(
        id.starts_with(&format!("7f000001:{port}_127.0.0.1:{p}_")),
        "{id}"
    );
    assert!(
        lower.contains(&format!("x-unique-id: {id}")),
        "the server got it: {out}"
    );
    let mut buf = [0u8; 512];
    let n = sys.recv(&mut buf).expect("log line");
    assert_eq!(
        String::from_utf8_lossy(&buf[..n]).to_ascii_lowercase(),
        format!("id={id}")
    );
    e.stop(Duration::ZERO);
}

/// `capture request|response header NAME len N` and `capture cookie NAME len N`: the
/// last line of each header, cut to its length, in HAProxy's httplog line (`{a|b}`) and
/// in `%CC`, and `capture.req.hdr(N)` reads them in the rules.
#[test]
fn lb_captures_reach_logs_and_rules() {
    let a = HttpBackend::start("alpha");
    let sys = std::net::UdpSocket::bind("127.0.0.1:0").expect("udp");
    sys.set_read_timeout(Some(Duration::from_secs(10)))
        .expect("timeout");
    let (ph, pc) = (free_port(), free_port());
    let cfg = format!(
        "defaults\n mode http\n timeout connect 2s\n timeout client 30s\n timeout server 30s\n\
         frontend web\n bind 127.0.0.1:{ph}\n log {log} format raw local0\n option httplog\n\
         capture request header X-Client len 5\n capture request header User-Agent len 30\n\
         capture response header Content-Type len 4\n\
         http-request set-header X-Cap %[capture.req.hdr(0)]\n default_backend b\n\
         frontend cookies\n bind 127.0.0.1:{pc}\n log {log} format raw local0\n\
         capture cookie SESS len 12\n log-format \"cc=%CC cs=%CS hr=%hr\"\n default_backend b\n\
         backend b\n server a {}\n",
        a.addr,
        log = sys.local_addr().expect("addr"),
    );
    let e = start_engine(&cfg);
    let send = |port: u16, extra: &str| {
        let mut s = TcpStream::connect(("127.0.0.1", port)).expect("connect");
        write!(
            s,
            "GET /headers HTTP/1.1\r\nHost: x\r\n{extra}Connection: close\r\n\r\n"
        )
        .expect("send");
        let mut out = String::new();
        s.read_to_string(&mut out).expect("read");
        out
    };
    let recv = || {
        let mut buf = [0u8; 2048];
        let n = sys.recv(&mut buf).expect("a log line");
        String::from_utf8_lossy(&buf[..n]).to_string()
    };
    let out = send(ph, "X-Client: first\r\nX-Client: abcdefgh\r\n");
    assert!(out.to_ascii_lowercase().contains("x-cap: abcde"), "{out}");
    let line = recv();
    assert!(
        line.contains(" {abcde|} {text} \"GET /headers HTTP/1.1\""),
        "{line}"
    );
    send(pc, "Cookie: a=1; SESSID=abcdefgh\r\n");
    assert_eq!(recv(), "cc=SESSID=abcde cs=- hr=");
    e.stop(Duration::ZERO);
    let bad = "frontend f\n bind 127.0.0.1:1\n capture request header X len\n";
    let err = halo_lb::config::haproxy::parse(bad, "c.cfg").expect_err("refused");
    assert!(err.to_string().contains("c.cfg:3"), "{err}");
}

/// `timeout http-keep-alive` closes a client connection idle between two requests,
/// while a client that has not sent its first request yet is governed by `timeout
/// http-request`.
#[test]
fn lb_http_keep_alive_timeout_closes_idle_kept_alive_connections() {
    let a = HttpBackend::start("alpha");
    let p = free_port();
    let e = start_engine(&http_cfg(
        p,
        &a,
        " timeout http-request 10s\n timeout http-keep-alive 300ms\n",
    ));
    let mut kept = TcpStream::connect(("127.0.0.1", p)).expect("connect");
    kept.set_read_timeout(Some(Duration::from_secs(10)))
        .expect("timeout");
    kept.write_all(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        .expect("write");
    read_until(&mut kept, b"alpha");
    let mut fresh = TcpStream::connect(("127.0.0.1", p)).expect("connect");
    fresh
        .set_read_timeout(Some(Duration::from_secs(10)))
        .expect("timeout");
    // The kept-alive connection is closed once idle for the keep-alive timeout.
    let mut buf = [0u8; 16];
    assert_eq!(
        kept.read(&mut buf).unwrap_or(0),
        0,
        "idle kept-alive connection closed"
    );
    // The fresh one (same idle time so far, but no request yet) is still served.
    fresh
        .write_all(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        .expect("write");
    read_until(&mut fresh, b"alpha");
    e.stop(Duration::ZERO);
}

/// A server whose answers break HTTP framing cannot reach other requests: bytes it
/// sends after a complete answer (here a whole forged answer) make its connection
/// unfit for reuse, and an answer with both Transfer-Encoding and Content-Length is
/// passed on without the Content-Length (RFC 9112 §6.3).
#[test]
fn lb_server_bytes_outside_an_answer_never_reach_the_next_request() {
    let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let srv = l.local_addr().expect("addr");
    let (sent_tx, sent_rx) = std::sync::mpsc::channel::<()>();
    std::thread::spawn(move || {
        for c in l.incoming() {
            let Ok(mut c) = c else { return };
            let sent_tx = sent_tx.clone();
            std::thread::spawn(move || loop {
                let head = read_head(&mut c);
                let answer: &[u8] = if head.starts_with(b"GET /first") {
                    // A complete answer, then a forged one that nobody asked for.
                    let _ = c.write_all(b"HTTP/1.1 204 No Content\r\n\r\n");
                    std::thread::sleep(Duration::from_millis(50));
                    let _ = c.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\nEVIL");
                    let _ = sent_tx.send(());
                    continue;
                } else if head.starts_with(b"GET /both") {
                    b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nContent-Length: 40\r\n\r\n2\r\nok\r\n0\r\n\r\n"
                } else if head.is_empty() {
                    return;
                } else {
                    b"HTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\nGOOD"
                };
                if c.write_all(answer).is_err() {
                    return;
                }
            });
        }
    });
    let p = free_port();
    let cfg = format!(
        "defaults\n mode http\n timeout connect 2s\n timeout client 30s\n timeout server 30s\n\
         listen f\n bind 127.0.0.1:{p}\n server s {srv}\n"
    );
    let e = start_engine(&cfg);
    let mut c = TcpStream::connect(("127.0.0.1", p)).expect("connect");
    c.set_read_timeout(Some(Duration::from_secs(10)))
        .expect("timeout");
    c.write_all(b"GET /first HTTP/1.1\r\nHost: x\r\n\r\n")
        .expect("write");
    let first = read_head(&mut c);
    assert!(first.starts_with(b"HTTP/1.1 204"), "{first:?}");
    sent_rx
        .recv_timeout(Duration::from_secs(10))
        .expect("the server sent its forged answer");
    // The same client connection, so the same worker and its pool of server connections.
    c.write_all(b"GET /second HTTP/1.1\r\nHost: x\r\n\r\n")
        .expect("write");
    let head = read_head(&mut c);
    let mut body = [0u8; 4];
    c.read_exact(&mut body).expect("body");
    assert!(head.starts_with(b"HTTP/1.1 200"), "{head:?}");
    assert_eq!(&body, b"GOOD");
    c.write_all(b"GET /both HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        .expect("write");
    let mut rest = Vec::new();
    let _ = c.read_to_end(&mut rest);
    let text = String::from_utf8_lossy(&rest).to_ascii_lowercase();
    assert!(text.starts_with("http/1.1 200"), "{text}");
    assert!(text.contains("transfer-encoding: chunked"), "{text}");
    assert!(!text.contains("content-length"), "{text}");
    assert!(text.ends_with("2\r\nok\r\n0\r\n\r\n"), "{text}");
    e.stop(Duration::ZERO);
}
