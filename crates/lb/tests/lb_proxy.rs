//! Proxying through both modes with real clients (curl) and real servers on loopback.

mod common;
use common::*;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

/// `mode tcp` and `mode http` carry curl's requests to the servers, round robin.
#[test]
fn lb_tcp_and_http_modes_carry_curl_requests_round_robin() {
    let a = HttpBackend::start("alpha");
    let b = HttpBackend::start("bravo");
    let (pt, ph) = (free_port(), free_port());
    let cfg = format!(
        "defaults\n timeout connect 2s\n timeout client 10s\n timeout server 10s\n\
         listen t\n bind 127.0.0.1:{pt}\n mode tcp\n balance roundrobin\n server a {} check inter 500\n server b {} check inter 500\n\
         listen h\n bind 127.0.0.1:{ph}\n mode http\n balance roundrobin\n server a {}\n server b {}\n",
        a.addr, b.addr, a.addr, b.addr
    );
    let e = start_engine(&cfg);
    for port in [pt, ph] {
        let mut seen = Vec::new();
        for _ in 0..4 {
            let (ok, out) = curl(&[&format!("http://127.0.0.1:{port}/")]);
            assert!(ok, "curl through port {port} failed");
            seen.push(out);
        }
        assert_eq!(seen.iter().filter(|s| *s == "alpha").count(), 2, "{seen:?}");
        assert_eq!(seen.iter().filter(|s| *s == "bravo").count(), 2, "{seen:?}");
    }
    // 1 MiB bodies pass intact in both modes.
    for port in [pt, ph] {
        let (ok, out) = curl(&[&format!("http://127.0.0.1:{port}/big")]);
        assert!(ok);
        assert_eq!(out.len(), 1 << 20);
        assert!(out.bytes().all(|c| c == b'x'));
    }
    e.stop(Duration::ZERO);
}

/// HTTP keep-alive on the client side: several requests on one connection, answered in
/// order, with X-Forwarded-For added by `option forwardfor`.
#[test]
fn lb_http_keep_alive_and_forwardfor() {
    let a = HttpBackend::start("alpha");
    let p = free_port();
    let cfg = format!(
        "defaults\n mode http\n timeout connect 2s\n timeout client 10s\n timeout server 10s\n\
         frontend f\n bind 127.0.0.1:{p}\n option forwardfor\n default_backend b\n\
         backend b\n server a {}\n",
        a.addr
    );
    let e = start_engine(&cfg);
    let mut c = TcpStream::connect(("127.0.0.1", p)).expect("connect");
    c.set_read_timeout(Some(Duration::from_secs(10)))
        .expect("timeout");
    for i in 0..3 {
        c.write_all(b"GET /headers HTTP/1.1\r\nHost: example.org\r\n\r\n")
            .expect("write");
        let mut buf = vec![0u8; 4096];
        let mut got = Vec::new();
        while !got.windows(4).any(|w| w == b"\r\n\r\n") || got.len() < 20 {
            let n = c.read(&mut buf).expect("read");
            assert!(n > 0, "connection closed after {i} requests");
            got.extend_from_slice(&buf[..n]);
            let (_, head, body) = match parse_response(&got) {
                Ok(x) => x,
                Err(_) => continue,
            };
            let len: usize = head
                .lines()
                .find_map(|l| {
                    l.to_ascii_lowercase()
                        .strip_prefix("content-length:")
                        .map(|v| v.trim().parse().unwrap_or(0))
                })
                .unwrap_or(0);
            if body.len() >= len {
                let text = String::from_utf8_lossy(&body[..len]).to_ascii_lowercase();
                assert!(text.contains("x-forwarded-for: 127.0.0.1"), "{text}");
                assert!(text.contains("host: example.org"), "{text}");
                break;
            }
        }
    }
    // Both curl requests reuse one connection (curl says so on stderr with -v).
    let out = std::process::Command::new("curl")
        .args([
            "-sv",
            "--max-time",
            "10",
            &format!("http://127.0.0.1:{p}/"),
            &format!("http://127.0.0.1:{p}/"),
        ])
        .output()
        .expect("curl");
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(String::from_utf8_lossy(&out.stdout), "alphaalpha");
    assert!(
        err.contains("Re-using existing connection") || err.contains("Reusing existing connection"),
        "{err}"
    );
    e.stop(Duration::ZERO);
}

/// A server connection goes back to the pool once a response body has been read to its
/// end, and a busy one is neither handed out nor thrown away: four kept-alive clients
/// fetching 1 MiB answers at the same time do not make the engine open a new server
/// connection per request.
#[test]
fn lb_server_connections_are_reused_after_streamed_bodies() {
    let a = HttpBackend::start("alpha");
    let p = free_port();
    let cfg = format!(
        "defaults\n mode http\n timeout connect 2s\n timeout client 10s\n timeout server 10s\n\
         listen l\n bind 127.0.0.1:{p}\n server a {}\n",
        a.addr
    );
    let e = start_engine(&cfg);
    let url = format!("http://127.0.0.1:{p}/big");
    let mut args = vec!["-s", "--max-time", "30", "-w", "%{size_download} "];
    for _ in 0..8 {
        args.extend(["-o", "/dev/null", url.as_str()]);
    }
    let clients: Vec<_> = (0..4)
        .map(|_| {
            std::process::Command::new("curl")
                .args(&args)
                .stdout(std::process::Stdio::piped())
                .spawn()
                .expect("curl")
        })
        .collect();
    for c in clients {
        let out = c.wait_with_output().expect("curl");
        let sizes = String::from_utf8_lossy(&out.stdout).to_string();
        assert_eq!(sizes.trim(), ["1048576"; 8].join(" "), "eight full bodies");
    }
    let opened = a.connections();
    assert!(
        opened <= 8,
        "{opened} server connections for 4 clients making 8 requests each"
    );
    e.stop(Duration::ZERO);
}

/// A client that opens with the HTTP/2 preface (h2c, prior knowledge) is served in
/// HTTP/2 on the same port as HTTP/1 clients: curl gets an HTTP/2 answer with the
/// request's authority forwarded as Host, and h2load's multiplexed streams all succeed.
/// `option disable-h2-upgrade` turns this off.
#[test]
fn lb_http2_clients_with_prior_knowledge() {
    let Some(h2load) = which("h2load") else {
        skip("h2load is not installed (apt-get install nghttp2-client)");
        return;
    };
    let a = HttpBackend::start("alpha");
    let (p, q) = (free_port(), free_port());
    let cfg = format!(
        "defaults\n mode http\n timeout connect 2s\n timeout client 10s\n timeout server 10s\n\
         listen h2\n bind 127.0.0.1:{p}\n option forwardfor\n server a {a}\n\
         listen h1only\n bind 127.0.0.1:{q}\n option disable-h2-upgrade\n server a {a}\n",
        a = a.addr
    );
    let e = start_engine(&cfg);
    let (ok, out) = curl(&[
        "--http2-prior-knowledge",
        "-w",
        " %{http_version}",
        &format!("http://127.0.0.1:{p}/"),
    ]);
    assert!(ok && out == "alpha 2", "{out}");
    let (_, head) = curl(&[
        "--http2-prior-knowledge",
        &format!("http://127.0.0.1:{p}/headers"),
    ]);
    let head = head.to_ascii_lowercase();
    assert!(head.starts_with("get /headers http/1.1"), "{head}");
    assert!(head.contains(&format!("host: 127.0.0.1:{p}")), "{head}");
    assert!(head.contains("x-forwarded-for: 127.0.0.1"), "{head}");
    // HTTP/1.1 on the same port still works.
    assert_eq!(
        curl(&[&format!("http://127.0.0.1:{p}/")]),
        (true, "alpha".into())
    );
    let out = std::process::Command::new(h2load)
        .args(["-n", "400", "-c", "4", "-m", "10"])
        .arg(format!("http://127.0.0.1:{p}/"))
        .output()
        .expect("h2load");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("400 succeeded, 0 failed") && text.contains("400 2xx"),
        "{text}"
    );
    // With `option disable-h2-upgrade` the preface is refused; HTTP/1.1 works.
    let (ok, _) = curl(&["--http2-prior-knowledge", &format!("http://127.0.0.1:{q}/")]);
    assert!(!ok, "HTTP/2 refused with disable-h2-upgrade");
    assert_eq!(
        curl(&[&format!("http://127.0.0.1:{q}/")]),
        (true, "alpha".into())
    );
    e.stop(Duration::ZERO);
}

/// HTTP/1 bodies and framing through the load balancer, with curl and raw clients:
/// chunked and sized uploads (one with `Expect: 100-continue`, large enough to be
/// spliced) come back intact, a chunked answer reaches the client whole, HTTP/1.0
/// clients are served and closed, pipelined requests are answered in order, and a
/// request with both Transfer-Encoding and Content-Length is refused before any server
/// sees it.
#[test]
fn lb_http1_bodies_framing_and_versions() {
    let a = HttpBackend::start("alpha");
    let p = free_port();
    let cfg = format!(
        "defaults\n mode http\n timeout connect 2s\n timeout client 10s\n timeout server 10s\n\
         listen l\n bind 127.0.0.1:{p}\n server a {}\n",
        a.addr
    );
    let e = start_engine(&cfg);
    let dir = std::env::temp_dir().join(format!("halo-lb-bodies-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("dir");
    let url = format!("http://127.0.0.1:{p}/");
    for (name, size, extra) in [
        ("chunked", 300 * 1024, "Transfer-Encoding: chunked"),
        ("expect", 2 * 1024 * 1024, "Expect: 100-continue"),
        ("small", 10, "X-Small: 1"),
    ] {
        let data: Vec<u8> = (0..size).map(|i| (i % 251) as u8).collect();
        let file = dir.join(name);
        std::fs::write(&file, &data).expect("write body");
        let out = std::process::Command::new("curl")
            .args(["-s", "--max-time", "20", "-H", extra, "--data-binary"])
            .arg(format!("@{}", file.display()))
            .arg(&url)
            .output()
            .expect("curl");
        assert!(out.status.success(), "{name}: curl failed");
        assert!(
            out.stdout == data,
            "{name}: {} bytes back of {size}",
            out.stdout.len()
        );
    }
    assert_eq!(
        curl(&[&format!("http://127.0.0.1:{p}/chunked")]),
        (true, "hello, world".into())
    );
    let out = std::process::Command::new("curl")
        .args(["-sv", "--http1.0", "--max-time", "10", &url])
        .output()
        .expect("curl");
    let err = String::from_utf8_lossy(&out.stderr).to_ascii_lowercase();
    assert_eq!(String::from_utf8_lossy(&out.stdout), "alpha");
    assert!(
        err.contains("connection: close") || err.contains("closing connection"),
        "{err}"
    );
    // Two requests in one write: two answers, in order.
    let mut c = TcpStream::connect(("127.0.0.1", p)).expect("connect");
    c.set_read_timeout(Some(Duration::from_secs(10)))
        .expect("timeout");
    c.write_all(b"GET /status/201 HTTP/1.1\r\nHost: x\r\n\r\nGET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        .expect("write");
    let mut both = String::new();
    c.read_to_string(&mut both).expect("read");
    let first = both.find("HTTP/1.1 201").expect("first answer");
    let second = both.find("HTTP/1.1 200").expect("second answer");
    assert!(first < second && both.ends_with("alpha"), "{both}");
    // Request smuggling shape: refused with 400, the server never sees it.
    let raw = |req: &[u8]| {
        let mut c = TcpStream::connect(("127.0.0.1", p)).expect("connect");
        c.set_read_timeout(Some(Duration::from_secs(10)))
            .expect("timeout");
        c.write_all(req).expect("write");
        let mut answer = String::new();
        let _ = c.read_to_string(&mut answer);
        answer
    };
    let hits = a.hits.load(std::sync::atomic::Ordering::SeqCst);
    let answer = raw(b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n");
    assert!(answer.starts_with("HTTP/1.1 400"), "{answer}");
    assert_eq!(a.hits.load(std::sync::atomic::Ordering::SeqCst), hits);
    // A Content-Length list of equal values reaches the server as one value (this test
    // server, like many, would not read "3, 3" as 3 and take the body for a request).
    let answer =
        raw(b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 3, 3\r\nConnection: close\r\n\r\nabc");
    assert!(
        answer.starts_with("HTTP/1.1 200") && answer.ends_with("\r\n\r\nabc"),
        "{answer}"
    );
    let hits = a.hits.load(std::sync::atomic::Ordering::SeqCst);
    // Chunked twice: refused the same way.
    let answer =
        raw(b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked, chunked\r\n\r\n0\r\n\r\n");
    assert!(answer.starts_with("HTTP/1.1 400"), "{answer}");
    assert_eq!(a.hits.load(std::sync::atomic::Ordering::SeqCst), hits);
    // A body whose chunk size is not hexadecimal: the client is told (400), not just
    // disconnected.
    let answer = raw(
        b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nabc\r\n0\r\n\r\n",
    );
    assert!(answer.starts_with("HTTP/1.1 400"), "{answer}");
    e.stop(Duration::ZERO);
    std::fs::remove_dir_all(&dir).ok();
}

/// `use_backend` with host and path ACLs picks the backend; others go to the default.
#[test]
fn lb_use_backend_routes_by_host_and_path() {
    let api = HttpBackend::start("api");
    let web = HttpBackend::start("web");
    let img = HttpBackend::start("img");
    let p = free_port();
    let cfg = format!(
        "defaults\n mode http\n timeout connect 2s\n timeout client 10s\n timeout server 10s\n\
         frontend f\n bind 127.0.0.1:{p}\n acl is_api path_beg -i /api\n acl img_host hdr(host) -i img.example.org\n\
         use_backend api if is_api\n use_backend img if img_host || {{ path_end .png }}\n default_backend web\n\
         backend api\n server s {}\nbackend web\n server s {}\nbackend img\n server s {}\n",
        api.addr, web.addr, img.addr
    );
    let e = start_engine(&cfg);
    let addr = format!("127.0.0.1:{p}").parse().expect("addr");
    assert_eq!(http_get(addr, "/API/v1", None).expect("get").2, b"api");
    assert_eq!(
        http_get(addr, "/", Some("IMG.example.org")).expect("get").2,
        b"img"
    );
    // `hdr(host)` is the header as sent, port included (HAProxy's rule): a port makes
    // it another name.
    assert_eq!(
        http_get(addr, "/", Some("img.example.org:80"))
            .expect("get")
            .2,
        b"web"
    );
    assert_eq!(http_get(addr, "/a/b.png", None).expect("get").2, b"img");
    assert_eq!(
        http_get(addr, "/index.html", Some("www.example.org"))
            .expect("get")
            .2,
        b"web"
    );
    e.stop(Duration::ZERO);
}

/// The stats page needs its password, and shows proxies as HTML, CSV and Prometheus.
#[test]
fn lb_stats_page_html_csv_and_metrics() {
    let a = HttpBackend::start("alpha");
    let (p, ps) = (free_port(), free_port());
    let cfg = format!(
        "defaults\n timeout connect 2s\n timeout client 10s\n timeout server 10s\n\
         listen app\n bind 127.0.0.1:{p}\n mode tcp\n server a {} check inter 300\n\
         listen stats\n bind 127.0.0.1:{ps}\n mode http\n stats enable\n stats uri /\n stats realm Test\\ Realm\n stats auth admin:secret\n stats refresh 30s\n stats hide-version\n",
        a.addr
    );
    let e = start_engine(&cfg);
    assert!(wait_until(Duration::from_secs(5), || status(
        &e, "app", "a"
    ) == "UP"));
    let (ok, _) = curl(&[&format!("http://127.0.0.1:{p}/")]);
    assert!(ok);
    let (_, code) = curl(&[
        "-o",
        "/dev/null",
        "-w",
        "%{http_code}",
        &format!("http://127.0.0.1:{ps}/"),
    ]);
    assert_eq!(code, "401");
    let (_, html) = curl(&["-u", "admin:secret", &format!("http://127.0.0.1:{ps}/")]);
    assert!(
        html.contains("<table>") && html.contains("app") && html.contains("L4OK"),
        "{html}"
    );
    assert!(html.contains("http-equiv=\"refresh\" content=\"30\""));
    assert!(!html.contains("version 0."), "hide-version");
    let (_, csv) = curl(&["-u", "admin:secret", &format!("http://127.0.0.1:{ps}/;csv")]);
    assert!(csv.starts_with("# pxname,svname,qcur"), "{csv}");
    let row = csv
        .lines()
        .find(|l| l.starts_with("app,a,"))
        .expect("server row");
    assert!(row.contains(",UP,"), "{row}");
    let fe = csv
        .lines()
        .find(|l| l.starts_with("app,FRONTEND,"))
        .expect("frontend row");
    assert_eq!(fe.split(',').nth(7), Some("1"), "one session counted: {fe}");
    let (_, m) = curl(&[
        "-u",
        "admin:secret",
        &format!("http://127.0.0.1:{ps}/metrics"),
    ]);
    assert!(
        m.contains("haproxy_server_status{proxy=\"app\",server=\"a\",state=\"UP\"} 1"),
        "{m}"
    );
    assert!(
        m.contains("haproxy_frontend_sessions_total{proxy=\"app\"} 1"),
        "{m}"
    );
    e.stop(Duration::ZERO);
}

/// The runtime socket shows stats and disables, drains, re-enables, adds and removes
/// servers without a reload.
#[test]
fn lb_runtime_socket_controls_servers() {
    let a = HttpBackend::start("alpha");
    let b = HttpBackend::start("bravo");
    let c = HttpBackend::start("charlie");
    let p = free_port();
    let dir = std::env::temp_dir().join(format!("halo-lb-admin-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("dir");
    let sock = dir.join("admin.sock");
    let cfg = format!(
        "global\n stats socket {} level admin\ndefaults\n mode http\n timeout connect 2s\n timeout client 10s\n timeout server 10s\n\
         listen app\n bind 127.0.0.1:{p}\n server a {}\n server b {}\n",
        sock.display(),
        a.addr,
        b.addr
    );
    let e = start_engine(&cfg);
    let cmd = |c: &str| admin_command(&sock, c).expect("admin socket");
    let addr = format!("127.0.0.1:{p}").parse().expect("addr");
    let bodies = |n: usize| -> Vec<String> {
        (0..n)
            .map(|_| {
                String::from_utf8_lossy(&http_get(addr, "/", None).expect("get").2).to_string()
            })
            .collect()
    };
    assert!(cmd("show stat").contains("app,a,"));
    assert_eq!(cmd("disable server app/a"), "\n");
    assert!(bodies(4).iter().all(|b| b == "bravo"));
    // HAProxy's layout: app/a stopped (0) in forced maintenance (1), b running (2).
    let state = cmd("show servers state");
    assert!(
        state.starts_with(
            "1\n# be_id be_name srv_id srv_name srv_addr srv_op_state srv_admin_state "
        ),
        "{state}"
    );
    let row = |srv: &str| -> Vec<String> {
        state
            .lines()
            .map(|l| l.split(' ').map(String::from).collect::<Vec<_>>())
            .find(|f| f.get(1).is_some_and(|b| b == "app") && f.get(3).is_some_and(|s| s == srv))
            .unwrap_or_default()
    };
    assert_eq!(row("a")[4..7], ["127.0.0.1", "0", "1"], "{state}");
    assert_eq!(row("b")[4..7], ["127.0.0.1", "2", "0"], "{state}");
    assert_eq!(row("b").len(), 25, "{state}");
    cmd("set server app/a state ready");
    cmd("set server app/b state drain");
    assert!(bodies(4).iter().all(|b| b == "alpha"));
    cmd("set server app/b state ready");
    cmd("set server app/a weight 0");
    assert!(bodies(3).iter().all(|b| b == "bravo"));
    cmd("set server app/a weight 1");
    let out = cmd(&format!("add server app/c {}", c.addr));
    assert!(out.contains("New server registered"), "{out}");
    assert!(bodies(6).iter().any(|b| b == "charlie"));
    assert!(cmd("del server app/c").contains("maintenance"));
    cmd("disable server app/c");
    assert!(cmd("del server app/c").contains("deleted"));
    assert!(bodies(6).iter().all(|b| b != "charlie"));
    assert!(cmd("frobnicate").contains("Unknown command"));
    assert!(cmd("set server app/zz state ready").contains("No such server"));
    e.stop(Duration::ZERO);
    std::fs::remove_dir_all(&dir).ok();
}

/// A server that switches protocols on `Connection: upgrade` (as a WebSocket server
/// does, answering the key but on `/bad`), then echoes whatever it receives.
fn upgrade_echo_server() -> std::net::SocketAddr {
    let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = l.local_addr().expect("addr");
    std::thread::spawn(move || {
        for c in l.incoming() {
            let Ok(mut c) = c else { continue };
            std::thread::spawn(move || {
                let head = read_head(&mut c);
                if !head.ends_with(b"\r\n\r\n") {
                    return;
                }
                let h = String::from_utf8_lossy(&head).to_ascii_lowercase();
                if !(h.contains("connection: upgrade") && h.contains("upgrade: websocket")) {
                    let _ = c.write_all(b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n");
                    return;
                }
                let accept = match h.starts_with("get /bad") {
                    true => "",
                    // RFC 6455's example key's answer.
                    false => "Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n",
                };
                let _ = write!(c, "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n{accept}\r\n");
                let mut buf = [0u8; 1024];
                loop {
                    match c.read(&mut buf) {
                        Ok(0) | Err(_) => return,
                        Ok(n) => {
                            if c.write_all(&buf[..n]).is_err() {
                                return;
                            }
                        }
                    }
                }
            });
        }
    });
    addr
}

/// `mode http` passes a protocol upgrade (WebSocket) through: the 101 answer reaches the
/// client, then bytes flow both ways until the tunnel is idle for `timeout tunnel`. A
/// WebSocket handshake without its key is refused (400), and so is a server's 101
/// that does not answer it (502), as HAProxy does (RFC 6455 §4.1).
#[test]
fn lb_http_upgrade_becomes_a_tunnel() {
    let srv = upgrade_echo_server();
    let p = free_port();
    let cfg = format!(
        "defaults\n mode http\n timeout connect 2s\n timeout client 10s\n timeout server 10s\n\
         listen ws\n bind 127.0.0.1:{p}\n timeout tunnel 500ms\n server s {srv}\n"
    );
    let e = start_engine(&cfg);
    let mut c = TcpStream::connect(("127.0.0.1", p)).expect("connect");
    c.set_read_timeout(Some(Duration::from_secs(10)))
        .expect("timeout");
    let ws = "Host: x\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n";
    let key = "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n";
    let refused = |head: String| {
        let mut c = TcpStream::connect(("127.0.0.1", p)).expect("connect");
        c.write_all(head.as_bytes()).expect("write");
        let mut out = String::new();
        let _ = c.read_to_string(&mut out);
        out
    };
    let out = refused(format!("GET /ws HTTP/1.1\r\n{ws}\r\n"));
    assert!(out.starts_with("HTTP/1.1 400"), "no key: {out}");
    let out = refused(format!("GET /bad HTTP/1.1\r\n{ws}{key}\r\n"));
    assert!(out.starts_with("HTTP/1.1 502"), "no accept: {out}");
    write!(c, "GET /ws HTTP/1.1\r\n{ws}{key}\r\n").expect("write");
    let mut head = Vec::new();
    let mut b = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        assert_eq!(
            c.read(&mut b).expect("read"),
            1,
            "closed during the 101 answer"
        );
        head.push(b[0]);
    }
    let h = String::from_utf8_lossy(&head);
    assert!(h.starts_with("HTTP/1.1 101"), "{h}");
    assert!(h.to_ascii_lowercase().contains("upgrade: websocket"), "{h}");
    for msg in [&b"ping"[..], &b"second message"[..]] {
        c.write_all(msg).expect("write");
        let mut got = vec![0u8; msg.len()];
        c.read_exact(&mut got).expect("echo");
        assert_eq!(got, msg);
    }
    // Idle for longer than `timeout tunnel`: the proxy closes the tunnel.
    let mut rest = Vec::new();
    let _ = c.read_to_end(&mut rest);
    assert!(rest.is_empty());
    e.stop(Duration::ZERO);
}

/// The kernel spreads connections over the workers' SO_REUSEPORT sockets by a hash of
/// their addresses (400 connections over two workers: 200 ± 10 each); the engine hands
/// connections to the worker with fewer sessions, so both carry the same load, and the
/// handed-over connections are served like any other.
#[test]
fn lb_sessions_are_spread_evenly_over_worker_threads() {
    let a = HttpBackend::start("alpha");
    let p = free_port();
    let dir = std::env::temp_dir().join(format!("halo-lb-activity-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("dir");
    let sock = dir.join("admin.sock");
    let cfg = format!(
        "global\n stats socket {}\n ulimit-n 8192\ndefaults\n mode http\n timeout connect 2s\n \
         timeout client 30s\n timeout server 30s\n timeout http-keep-alive 30s\n\
         listen app\n bind 127.0.0.1:{p}\n server a {}\n",
        sock.display(),
        a.addr
    );
    let parsed = halo_lb::config::haproxy::parse(&cfg, "test.cfg").expect("parses");
    // Four descriptors per client here (client, both engine sides, the server).
    halo_lb::process::raise_nofile(&parsed.config.global);
    let e = start_engine(&cfg);
    let activity = || -> Vec<(String, u64, Vec<u64>)> {
        admin_command(&sock, "show activity")
            .expect("admin socket")
            .lines()
            .filter(|l| l.contains('['))
            .map(|l| {
                let (name, rest) = l.split_once(": ").expect("name: values");
                let (total, each) = rest.split_once(" [ ").expect("total [ each ]");
                let each = each.trim_end_matches(" ]").split(' ');
                (
                    name.to_string(),
                    total.parse().expect("total"),
                    each.map(|v| v.parse().expect("value")).collect(),
                )
            })
            .collect()
    };
    let get = |name: &str| {
        activity()
            .into_iter()
            .find(|(n, _, _)| n == name)
            .unwrap_or_else(|| panic!("show activity has no {name}"))
    };
    let n = 400;
    let mut clients = Vec::new();
    for _ in 0..n {
        let mut c = TcpStream::connect(("127.0.0.1", p)).expect("connect");
        c.set_read_timeout(Some(Duration::from_secs(10)))
            .expect("timeout");
        c.write_all(b"GET / HTTP/1.1\r\nHost: t\r\n\r\n")
            .expect("request");
        let got = read_until(&mut c, b"alpha");
        assert!(
            got.starts_with(b"HTTP/1.1 200"),
            "{}",
            String::from_utf8_lossy(&got)
        );
        clients.push(c);
    }
    let (_, total, each) = get("sessions");
    assert_eq!(total, n as u64, "every client holds a session: {each:?}");
    assert_eq!(each.len(), 2);
    let spread = each.iter().max().unwrap_or(&0) - each.iter().min().unwrap_or(&0);
    assert!(spread <= 2, "sessions per worker {each:?}");
    assert_eq!(get("accepted").1, n as u64);
    drop(clients);
    assert!(
        wait_until(Duration::from_secs(10), || get("sessions").1 == 0),
        "sessions still counted after the clients left: {:?}",
        get("sessions")
    );
    e.stop(Duration::ZERO);
    std::fs::remove_dir_all(&dir).ok();
}

/// `http-response` rules (in the frontend and in the backend, the backend's first) edit
/// the headers a client receives and refuse a server's answer by its status; a
/// `backend` section's own `http-request` rules and ACLs apply once a request is routed
/// there; for HTTP/1.1 and HTTP/2 clients alike.
#[test]
fn lb_http_response_and_backend_rules() {
    let a = HttpBackend::start("alpha");
    let p = free_port();
    let cfg = format!(
        "defaults\n mode http\n timeout connect 2s\n timeout client 10s\n timeout server 10s\n\
         frontend fe\n bind 127.0.0.1:{p}\n default_backend be\n\
         http-response set-header Strict-Transport-Security \"max-age=31536000\"\n\
         http-response add-header X-Order frontend\n\
         backend be\n acl failed status 500:599\n acl teapot status 418\n acl hidden path_beg /status\n\
         http-request set-header X-Backend be\n\
         http-request deny deny_status 403 if {{ path_beg /forbidden }}\n\
         http-response del-header Content-Type if hidden\n\
         http-response add-header X-Order backend\n\
         http-response deny if failed\n\
         http-response deny deny_status 503 if teapot\n\
         server a {}\n",
        a.addr
    );
    let e = start_engine(&cfg);
    let url = |path: &str| format!("http://127.0.0.1:{p}{path}");
    for version in ["--http1.1", "--http2-prior-knowledge"] {
        let (ok, out) = curl(&[version, "-i", &url("/headers")]);
        assert!(ok, "{version}: {out}");
        let lower = out.to_ascii_lowercase();
        let lines: Vec<&str> = lower.lines().map(str::trim_end).collect();
        assert!(
            lines.contains(&"x-backend: be"),
            "{version}: the server saw it: {out}"
        );
        assert!(
            lines.contains(&"strict-transport-security: max-age=31536000"),
            "{version}: {out}"
        );
        let order: Vec<&&str> = lines.iter().filter(|l| l.starts_with("x-order:")).collect();
        assert_eq!(
            order,
            [&"x-order: backend", &"x-order: frontend"],
            "{version}: {out}"
        );
        assert!(
            lines.contains(&"content-type: text/plain"),
            "{version}: {out}"
        );

        let (ok, out) = curl(&[version, "-i", &url("/status/200")]);
        assert!(ok, "{version}: {out}");
        assert!(
            !out.to_ascii_lowercase()
                .contains("content-type: text/plain"),
            "{version}: {out}"
        );
        let code =
            |path: &str| curl(&[version, "-o", "/dev/null", "-w", "%{http_code}", &url(path)]).1;
        assert_eq!(
            code("/status/500"),
            "502",
            "{version}: refused by its status"
        );
        assert_eq!(code("/status/418"), "503", "{version}");
        assert_eq!(code("/status/404"), "404", "{version}");
        let hits = a.hits.load(std::sync::atomic::Ordering::SeqCst);
        assert_eq!(code("/forbidden"), "403", "{version}");
        assert_eq!(
            a.hits.load(std::sync::atomic::Ordering::SeqCst),
            hits,
            "not forwarded"
        );
    }
    e.stop(Duration::ZERO);
}

/// `monitor-uri` is answered by the load balancer (200, or 503 while a `monitor fail`
/// condition holds), matched exactly on the path (or the whole target when it is not
/// a path), never forwarded; `redirect` (the directive, in a frontend after its
/// `http-request` rules, and `http-request redirect` in a backend) answers with the
/// Location its kind makes: a scheme change keeps host, path and query, a prefix keeps
/// the path (the query unless `drop-query`), a location is used as it is.
#[test]
fn lb_monitor_uri_and_redirects() {
    let a = HttpBackend::start("alpha");
    let p = free_port();
    let cfg = format!(
        "defaults\n mode http\n timeout connect 2s\n timeout client 10s\n timeout server 10s\n\
         frontend fe\n bind 127.0.0.1:{p}\n default_backend be\n\
         monitor-uri /health\n acl down hdr(host) -i down.example\n monitor fail if down\n\
         acl http hdr(host) -i secure.example\n\
         http-request set-header X-Seen yes\n\
         redirect scheme https code 301 if http !{{ ssl_fc }}\n\
         redirect prefix /v2 drop-query if {{ path_beg /old }}\n\
         redirect location /moved code 308 if {{ path /gone }}\n\
         backend be\n http-request redirect prefix /shop append-slash if {{ path_beg /store }}\n\
         server a {}\n",
        a.addr
    );
    let e = start_engine(&cfg);
    let url = |path: &str| format!("http://127.0.0.1:{p}{path}");
    for version in ["--http1.1", "--http2-prior-knowledge"] {
        let answer = |args: &[&str]| {
            let mut all = vec![version, "-s", "-i"];
            all.extend_from_slice(args);
            let (_, out) = curl(&all);
            let lower = out.to_ascii_lowercase();
            let code = lower.split_whitespace().nth(1).unwrap_or("").to_string();
            let location = lower
                .lines()
                .find_map(|l| l.strip_prefix("location: "))
                .map(|l| l.trim().to_string());
            (code, location, out)
        };
        let hits = a.hits.load(std::sync::atomic::Ordering::SeqCst);
        let (code, _, out) = answer(&[&url("/health")]);
        assert_eq!(code, "200", "{version}: {out}");
        assert!(out.contains("Service ready."), "{version}: {out}");
        let (code, _, _) = answer(&["-H", "Host: down.example", &url("/health")]);
        assert_eq!(code, "503", "{version}: monitor fail");
        assert_eq!(
            a.hits.load(std::sync::atomic::Ordering::SeqCst),
            hits,
            "never forwarded"
        );
        let (code, _, out) = answer(&[&url("/Health")]);
        assert_eq!(code, "200", "{version}: another path is forwarded: {out}");
        assert!(out.ends_with("alpha"), "{version}: {out}");

        let (code, loc, _) = answer(&["-H", "Host: secure.example", &url("/a/b?x=1")]);
        assert_eq!(code, "301", "{version}");
        assert_eq!(
            loc.as_deref(),
            Some("https://secure.example/a/b?x=1"),
            "{version}"
        );
        let (code, loc, _) = answer(&[&url("/old/page?x=1")]);
        assert_eq!(
            (code.as_str(), loc.as_deref()),
            ("302", Some("/v2/old/page")),
            "{version}"
        );
        let (code, loc, _) = answer(&[&url("/gone")]);
        assert_eq!(
            (code.as_str(), loc.as_deref()),
            ("308", Some("/moved")),
            "{version}"
        );
        let (code, loc, _) = answer(&[&url("/store/cart?id=7")]);
        assert_eq!(
            (code.as_str(), loc.as_deref()),
            ("302", Some("/shop/store/cart/?id=7")),
            "{version}: the backend's redirect"
        );
    }
    let bad = "defaults\n mode http\nlisten l\n bind 127.0.0.1:1\n redirect scheme https code 305\n server a 127.0.0.1:2\n";
    let err = halo_lb::config::haproxy::parse(bad, "r.cfg").expect_err("refused");
    assert!(
        err.to_string().contains("r.cfg:5") && err.to_string().contains("305"),
        "{err}"
    );
    e.stop(Duration::ZERO);
}

/// `option httpclose` (here from `defaults`) ends the client's connection after each
/// answer, saying so; `option http-keep-alive` in a proxy takes it back. `spread-checks`
/// keeps checks going (varied intervals) and is bounded to 50 %.
#[test]
fn lb_httpclose_and_spread_checks() {
    let a = HttpBackend::start("alpha");
    let (p, q) = (free_port(), free_port());
    let cfg = format!(
        "global\n spread-checks 20\n tune.maxrewrite 1024\n\
         defaults\n mode http\n option httpclose\n timeout connect 2s\n timeout client 10s\n timeout server 10s\n\
         listen closing\n bind 127.0.0.1:{p}\n server a {} check inter 100\n\
         listen keeping\n bind 127.0.0.1:{q}\n option http-keep-alive\n server a {} check inter 100\n",
        a.addr, a.addr
    );
    let e = start_engine(&cfg);
    assert!(wait_until(Duration::from_secs(5), || status(
        &e, "closing", "a"
    ) == "UP"));
    let two_requests = |port: u16| {
        let mut c = TcpStream::connect(("127.0.0.1", port)).expect("connect");
        c.set_read_timeout(Some(Duration::from_secs(5)))
            .expect("timeout");
        c.write_all(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
            .expect("send");
        let head = String::from_utf8_lossy(&read_head(&mut c)).to_ascii_lowercase();
        let mut body = [0u8; 5];
        c.read_exact(&mut body).expect("body");
        let second = c
            .write_all(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
            .and_then(|()| {
                let mut buf = [0u8; 64];
                c.read(&mut buf)
            })
            .unwrap_or(0);
        (head, second)
    };
    let (head, second) = two_requests(p);
    assert!(head.contains("connection: close"), "{head}");
    assert_eq!(second, 0, "closed after the first answer");
    let (head, second) = two_requests(q);
    assert!(!head.contains("connection: close"), "{head}");
    assert!(second > 0, "kept alive");
    let bad = "global\n spread-checks 60\nlisten l\n bind 127.0.0.1:1\n server a 127.0.0.1:2\n";
    let err = halo_lb::config::haproxy::parse(bad, "s.cfg").expect_err("refused");
    assert!(err.to_string().contains("s.cfg:2"), "{err}");
    e.stop(Duration::ZERO);
}

/// `errorfile CODE FILE` (in `defaults` and in a backend) replaces the load balancer's
/// own answer for that status with the file's, whole, for HTTP/1.1 and HTTP/2 clients;
/// a file that is missing or holds no HTTP answer is refused with its line.
#[test]
fn lb_errorfiles_replace_own_answers() {
    let dir = tempfile::tempdir().expect("dir");
    let write = |name: &str, text: &str| {
        let p = dir.path().join(name);
        std::fs::write(&p, text).expect("write");
        p.display().to_string()
    };
    let e503 = write(
        "503.http",
        "HTTP/1.0 503 Service Unavailable\r\nCache-Control: no-cache\r\nConnection: close\r\nContent-Type: text/plain\r\nX-Page: maintenance\r\n\r\nWe are down for maintenance.\n",
    );
    let e403 = write(
        "403.http",
        "HTTP/1.0 403 Forbidden\r\nContent-Type: text/plain\r\n\r\nNot for you.\n",
    );
    let p = free_port();
    let cfg = format!(
        "defaults\n mode http\n timeout connect 2s\n timeout client 10s\n timeout server 10s\n errorfile 503 {e503}\n\
         frontend fe\n bind 127.0.0.1:{p}\n use_backend gated if {{ path_beg /gated }}\n default_backend empty\n\
         backend empty\n\
         backend gated\n errorfile 403 {e403}\n http-request deny\n server a 127.0.0.1:9\n"
    );
    let e = start_engine(&cfg);
    let url = |path: &str| format!("http://127.0.0.1:{p}{path}");
    for version in ["--http1.1", "--http2-prior-knowledge"] {
        let (_, out) = curl(&[version, "-s", "-i", &url("/")]);
        let lower = out.to_ascii_lowercase();
        assert!(lower.contains(" 503"), "{version}: {out}");
        assert!(lower.contains("x-page: maintenance"), "{version}: {out}");
        assert!(
            out.ends_with("We are down for maintenance.\n"),
            "{version}: {out}"
        );
        let (_, out) = curl(&[version, "-s", "-i", &url("/gated/x")]);
        assert!(out.contains(" 403"), "{version}: {out}");
        assert!(out.ends_with("Not for you.\n"), "{version}: {out}");
    }
    e.stop(Duration::ZERO);
    let not_http = write("bad.http", "just text\n");
    for (line, why) in [
        (
            format!("errorfile 503 {}", dir.path().join("missing").display()),
            "cannot read",
        ),
        (
            format!("errorfile 503 {not_http}"),
            "does not hold an HTTP answer",
        ),
        (format!("errorfile 302 {e503}"), "status 302"),
    ] {
        let bad = format!(
            "defaults\n mode http\n {line}\nlisten l\n bind 127.0.0.1:1\n server a 127.0.0.1:2\n"
        );
        let err = halo_lb::config::haproxy::parse(&bad, "e.cfg").expect_err("refused");
        assert!(
            err.to_string().contains("e.cfg:3") && err.to_string().contains(why),
            "{err}"
        );
    }
}

/// `http-errors` sections (named before or after they are defined), `errorfiles`,
/// `errorloc302`, `http-error` with a log-format body, an empty `errorfile` that
/// closes without answering, and `deny` with its own answer, as HAProxy answers them.
#[test]
fn lb_http_errors_sections_and_replies() {
    let dir = tempfile::tempdir().expect("dir");
    let write = |name: &str, text: &str| {
        let p = dir.path().join(name);
        std::fs::write(&p, text).expect("write");
        p.display().to_string()
    };
    let e403 = write(
        "403.http",
        "HTTP/1.1 403 Forbidden\r\nContent-Type: text/plain\r\nX-From: site\r\n\r\nsite says no\n",
    );
    let e401 = write(
        "401.http",
        "HTTP/1.1 401 Unauthorized\r\nContent-Type: text/plain\r\n\r\nwho are you?\n",
    );
    let p = free_port();
    let cfg = format!(
        "defaults\n mode http\n timeout connect 2s\n timeout client 10s\n timeout server 10s\n\
         errorfiles site\n\
         frontend fe\n bind 127.0.0.1:{p}\n\
         http-error status 429 content-type text/plain hdr x-client \"%[src]\" lf-string \"slow down, %[path]\"\n\
         errorfile 408 /dev/null\n\
         http-request deny deny_status 403 if {{ path /no }}\n\
         http-request deny deny_status 429 if {{ path /fast }}\n\
         http-request deny deny_status 408 if {{ path /silent }}\n\
         http-request deny status 400 content-type text/plain string \"bad: yours\" if {{ path /bad }}\n\
         http-request return status 403 default-errorfiles if {{ path /ret }}\n\
         http-request auth if {{ path /login }}\n\
         default_backend empty\n\
         backend empty\n errorloc302 503 https://status.example/down\n\
         http-errors site\n errorfile 403 {e403}\n errorfile 401 {e401}\n"
    );
    let e = start_engine(&cfg);
    let url = |path: &str| format!("http://127.0.0.1:{p}{path}");
    for version in ["--http1.1", "--http2-prior-knowledge"] {
        let (_, out) = curl(&[version, "-s", "-i", &url("/no")]);
        assert!(
            out.contains(" 403") && out.contains("x-from: site"),
            "{version}: {out}"
        );
        assert!(out.ends_with("site says no\n"), "{version}: {out}");
        let (_, out) = curl(&[version, "-s", "-i", &url("/ret")]);
        assert!(out.ends_with("site says no\n"), "{version}: {out}");
        let (_, out) = curl(&[version, "-s", "-i", &url("/fast")]);
        assert!(
            out.contains(" 429") && out.contains("x-client: 127.0.0.1"),
            "{version}: {out}"
        );
        assert!(out.ends_with("slow down, /fast"), "{version}: {out}");
        let (_, out) = curl(&[version, "-s", "-i", &url("/bad")]);
        assert!(
            out.contains(" 400") && out.ends_with("bad: yours"),
            "{version}: {out}"
        );
        let (_, out) = curl(&[version, "-s", "-i", &url("/login")]);
        assert!(
            out.contains(" 401") && out.ends_with("who are you?\n"),
            "{version}: {out}"
        );
        assert!(
            out.contains("www-authenticate: Basic realm=\"fe\""),
            "{version}: {out}"
        );
        let (_, out) = curl(&[version, "-s", "-i", &url("/")]);
        assert!(out.contains(" 302"), "{version}: {out}");
        assert!(
            out.contains("location: https://status.example/down"),
            "{version}: {out}"
        );
    }
    // An empty errorfile: the connection closes and nothing is sent.
    let mut s = std::net::TcpStream::connect(("127.0.0.1", p)).expect("connect");
    s.write_all(b"GET /silent HTTP/1.1\r\nHost: x\r\n\r\n")
        .expect("send");
    let mut got = Vec::new();
    s.read_to_end(&mut got).expect("read");
    assert!(got.is_empty(), "{}", String::from_utf8_lossy(&got));
    e.stop(Duration::ZERO);
    for (text, place, why) in [
        (
            "defaults\n mode http\n errorfiles nope\n".to_string(),
            "e.cfg:3",
            "no `http-errors nope` section",
        ),
        (
            "http-errors x\n errorfile 302 /dev/null\n".to_string(),
            "e.cfg:2",
            "status 302",
        ),
        (
            "http-errors x\n errorloc 503 /x\n".to_string(),
            "e.cfg:2",
            "only `errorfile CODE FILE`",
        ),
        (
            "defaults\n mode http\n http-error content-type text/plain string x\n".to_string(),
            "e.cfg:3",
            "needs `status CODE`",
        ),
        (
            format!("defaults\n mode http\n http-error status 403 errorfile {e403} string x\n"),
            "e.cfg:3",
            "the whole answer",
        ),
    ] {
        let bad = format!("{text}listen l\n bind 127.0.0.1:1\n server a 127.0.0.1:2\n");
        let err = halo_lb::config::haproxy::parse(&bad, "e.cfg").expect_err("refused");
        let err = err.to_string();
        assert!(err.contains(place) && err.contains(why), "{text}: {err}");
    }
}

/// A status condition belongs to response rules only, and a backend's rules use its
/// own ACLs: both are refused with the line.
#[test]
fn lb_rules_refused_with_their_line() {
    let bad = "defaults\n mode http\nfrontend f\n bind 127.0.0.1:1\n default_backend b\n\
               acl err status 500\n http-request deny if err\n\
               backend b\n http-response deny if err\n server a 127.0.0.1:2\n";
    let err = halo_lb::config::haproxy::parse(bad, "r.cfg").expect_err("refused");
    let text = err.to_string();
    assert!(
        text.contains("r.cfg:7") && text.contains("only in http-response"),
        "{text}"
    );
    assert!(
        text.contains("r.cfg:9") && text.contains("unknown ACL `err`"),
        "{text}"
    );
}

/// `http-request` rules edit the headers a server receives and deny requests, for
/// HTTP/1.1 and HTTP/2 clients alike: spoofed headers are removed, `allow` ends the
/// evaluation before a later `deny`, and a denied request never reaches the server.
#[test]
fn lb_http_request_rules_edit_headers_and_deny() {
    let a = HttpBackend::start("alpha");
    let p = free_port();
    let cfg = format!(
        "defaults\n mode http\n timeout connect 2s\n timeout client 10s\n timeout server 10s\n\
         listen app\n bind 127.0.0.1:{p}\n acl secret path_beg /secret\n\
         http-request del-header X-Forwarded-Proto\n\
         http-request set-header X-Forwarded-Proto https if {{ ssl_fc }}\n\
         http-request set-header X-Forwarded-Proto http if !{{ ssl_fc }}\n\
         http-request add-header X-Via \"halo lb\"\n\
         http-request set-header X-Env prod\n\
         http-request set-header X-Forwarded-Port %[dst_port]\n\
         http-request add-header X-Client \"%[src] 100%%\"\n\
         http-request set-header X-Forwarded-Port %[dst_port]\n\
         http-request add-header X-Client \"%[src] 100%%\"\n\
         http-request allow if {{ path_beg /secret/open }}\n\
         http-request deny deny_status 404 if secret\n\
         server a {}\n",
        a.addr
    );
    let e = start_engine(&cfg);
    let url = |path: &str| format!("http://127.0.0.1:{p}{path}");
    for version in ["--http1.1", "--http2-prior-knowledge"] {
        let (ok, head) = curl(&[
            version,
            "-H",
            "X-Forwarded-Proto: https",
            "-H",
            "X-Env: dev",
            &url("/headers"),
        ]);
        assert!(ok, "{version}: {head}");
        let head = head.to_ascii_lowercase();
        let lines: Vec<&str> = head.lines().map(str::trim_end).collect();
        assert!(
            lines.contains(&"x-forwarded-proto: http"),
            "{version}: {head}"
        );
        assert!(
            !head.contains("x-forwarded-proto: https"),
            "{version}: {head}"
        );
        let port_line = format!("x-forwarded-port: {p}");
        assert!(lines.contains(&port_line.as_str()), "{version}: {head}");
        assert!(
            lines.contains(&"x-client: 127.0.0.1 100%"),
            "{version}: {head}"
        );
        assert!(lines.contains(&"x-via: halo lb"), "{version}: {head}");
        assert!(lines.contains(&"x-env: prod"), "{version}: {head}");
        assert!(!head.contains("x-env: dev"), "{version}: {head}");
        assert!(
            lines.contains(&format!("x-forwarded-port: {p}").as_str()),
            "{version}: {head}"
        );
        assert!(
            lines.contains(&"x-client: 127.0.0.1 100%"),
            "{version}: {head}"
        );
        let hits = a.hits.load(std::sync::atomic::Ordering::SeqCst);
        let (_, code) = curl(&[
            version,
            "-o",
            "/dev/null",
            "-w",
            "%{http_code}",
            &url("/secret/x"),
        ]);
        assert_eq!(code, "404", "{version}");
        assert_eq!(
            a.hits.load(std::sync::atomic::Ordering::SeqCst),
            hits,
            "denied, not forwarded"
        );
        let (ok, body) = curl(&[version, &url("/secret/open")]);
        assert!(
            ok && body == "alpha",
            "{version}: allowed before the deny: {body}"
        );
    }
    // Both denials are counted as denied requests of the frontend (CSV column dreq).
    let csv = halo_lb::engine::stats::csv(&halo_lb::engine::stats::snapshot(e.shared()));
    let header: Vec<&str> = csv
        .lines()
        .next()
        .expect("header")
        .trim_start_matches("# ")
        .split(',')
        .collect();
    let dreq = header
        .iter()
        .position(|c| *c == "dreq")
        .expect("dreq column");
    let row: Vec<&str> = csv
        .lines()
        .find(|l| l.starts_with("app,FRONTEND,"))
        .expect("frontend row")
        .split(',')
        .collect();
    assert_eq!(row[dreq], "2", "{csv}");
    e.stop(Duration::ZERO);
}

/// HTTP rules on samples, over HTTP/1.1 and HTTP/2: variables set from a fetch and its
/// converters feed later rules, an ACL and the response rules; `return` answers with a
/// body built from samples (and keeps an HTTP/1.1 connection); the request line and
/// headers are rewritten (`set-path`, `replace-header`, `del-header -m beg`,
/// `set-header` from `req.hdr`), and each rule sees what the ones before it did; a
/// response gets a status and a header from `res.hdr`.
#[test]
fn lb_http_rules_on_samples_and_variables() {
    let a = HttpBackend::start("alpha");
    let p = free_port();
    let cfg = format!(
        "defaults\n mode http\n timeout connect 2s\n timeout client 10s\n timeout server 10s\n\
         frontend fe\n bind 127.0.0.1:{p}\n\
         http-request set-var(txn.first) path,field(2,/)\n\
         http-request return status 299 content-type text/plain lf-string \"got %[var(txn.first)] for %[req.hdr(x-who),lower]\" hdr x-len %[req.hdr(x-who),length] if {{ path_beg /ret }}\n\
         http-request set-path /headers%[path] if {{ path_beg /rw }}\n\
         http-request replace-header x-tag (.*)-old \\1-new\n\
         http-request del-header x-drop- -m beg\n\
         http-request set-header x-path-now %[path]\n\
         http-request set-header x-tag-now %[req.hdr(x-tag)]\n\
         acl teapot var(txn.first) -m str teapot\n\
         http-response set-status 418 reason Teapot if teapot\n\
         http-response set-header x-first \"%[var(txn.first),upper] %[status]\"\n\
         default_backend be\n\
         backend be\n server a {}\n",
        a.addr
    );
    let e = start_engine(&cfg);
    let url = |path: &str| format!("http://127.0.0.1:{p}{path}");
    for version in ["--http1.1", "--http2-prior-knowledge"] {
        let get = |args: &[&str]| {
            let mut all = vec![version, "-s", "-i"];
            all.extend_from_slice(args);
            curl(&all).1
        };
        let hits = a.hits.load(std::sync::atomic::Ordering::SeqCst);
        let out = get(&["-H", "X-Who: ALICE", &url("/ret/x")]);
        assert!(out.contains(" 299"), "{version}: {out}");
        assert!(out.ends_with("got ret for alice"), "{version}: {out}");
        assert!(
            out.to_ascii_lowercase().contains("x-len: 5"),
            "{version}: {out}"
        );
        assert_eq!(
            a.hits.load(std::sync::atomic::Ordering::SeqCst),
            hits,
            "{version}: answered by the load balancer"
        );
        // Rewritten on the way: the server's /headers echoes what it got.
        let out = get(&[
            "-H",
            "X-Tag: blue-old",
            "-H",
            "X-Drop-Me: 1",
            "-H",
            "x-drop-too: 2",
            &url("/rw/a?q=1"),
        ]);
        let lower = out.to_ascii_lowercase();
        assert!(
            out.contains("GET /headers/rw/a?q=1 HTTP/1.1"),
            "{version}: {out}"
        );
        assert!(lower.contains("x-tag: blue-new"), "{version}: {out}");
        assert!(!lower.contains("x-drop"), "{version}: {out}");
        assert!(
            lower.contains("x-path-now: /headers/rw/a"),
            "{version}: {out}"
        );
        assert!(lower.contains("x-tag-now: blue-new"), "{version}: {out}");
        assert!(out.contains("x-first: RW 200"), "{version}: {out}");
        let out = get(&[&url("/teapot")]);
        assert!(
            out.starts_with("HTTP/1.1 418 Teapot") || out.starts_with("HTTP/2 418"),
            "{version}: {out}"
        );
        assert!(out.contains("x-first: TEAPOT 418"), "{version}: {out}");
    }
    e.stop(Duration::ZERO);
}

/// `tcp-request` rules: a connection from a refused address is closed at once, a
/// session variable set from the connection reaches the HTTP rules of each request on
/// it, and a content rule closes the connection of a request it rejects, unanswered.
#[test]
fn lb_tcp_request_rules_at_each_stage() {
    let p = free_port();
    let cfg = format!(
        "defaults\n mode http\n timeout client 10s\n\
         frontend fe\n bind 127.0.0.1:{p}\n\
         tcp-request connection reject if {{ src 127.0.0.2 }}\n\
         tcp-request session set-var(sess.port) src_port\n\
         tcp-request content reject if {{ path /evil }}\n\
         http-request return status 200 content-type text/plain lf-string \"port=%[var(sess.port)]\"\n"
    );
    let e = start_engine(&cfg);
    let addr: std::net::SocketAddr = format!("127.0.0.1:{p}").parse().expect("addr");
    let connect_from = |ip: &str| {
        let s = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None)
            .expect("socket");
        let from: std::net::SocketAddr = format!("{ip}:0").parse().expect("addr");
        s.bind(&from.into()).expect("bind on loopback");
        s.connect(&addr.into()).expect("connect");
        let s: TcpStream = s.into();
        s.set_read_timeout(Some(Duration::from_secs(5)))
            .expect("timeout");
        s
    };
    // Whatever the server sends until it closes (requests sent one after the other on
    // one connection).
    let exchange = |s: &mut TcpStream, paths: &[&str]| {
        let mut all = String::new();
        for path in paths {
            let _ = s.write_all(format!("GET {path} HTTP/1.1\r\nHost: x\r\n\r\n").as_bytes());
            let mut buf = [0u8; 4096];
            match s.read(&mut buf) {
                Ok(0) | Err(_) => break,
                Ok(n) => all.push_str(&String::from_utf8_lossy(&buf[..n])),
            }
        }
        all
    };
    let mut ok = connect_from("127.0.0.1");
    let port = ok.local_addr().expect("local").port();
    let got = exchange(&mut ok, &["/a", "/b", "/evil", "/c"]);
    assert_eq!(
        got.matches(&format!("port={port}")).count(),
        2,
        "two answers with the session's variable, none for /evil and after: {got}"
    );
    let mut refused = connect_from("127.0.0.2");
    assert_eq!(exchange(&mut refused, &["/a"]), "", "closed unanswered");
    e.stop(Duration::ZERO);
}

/// A test CA and, per name list, a PEM file with a certificate it signed and the key.
fn tls_files(dir: &std::path::Path, sites: &[(&str, &[&str])]) -> std::path::PathBuf {
    use rcgen::{BasicConstraints, CertificateParams, IsCa, Issuer, KeyPair};
    let ca_key = KeyPair::generate().expect("key");
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).expect("params");
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca_params
        .distinguished_name
        .push(rcgen::DnType::CommonName, "halo test CA");
    let ca = ca_params.self_signed(&ca_key).expect("CA");
    let ca_path = dir.join("ca.pem");
    std::fs::write(&ca_path, ca.pem()).expect("write CA");
    let issuer = Issuer::new(ca_params, ca_key);
    let certs = dir.join("certs");
    std::fs::create_dir_all(&certs).expect("dir");
    for (file, names) in sites {
        let key = KeyPair::generate().expect("key");
        let names: Vec<String> = names.iter().map(|n| n.to_string()).collect();
        let mut params = CertificateParams::new(names.clone()).expect("params");
        params
            .distinguished_name
            .push(rcgen::DnType::CommonName, names[0].as_str());
        let cert = params.signed_by(&key, &issuer).expect("sign");
        std::fs::write(
            certs.join(file),
            format!("{}{}", cert.pem(), key.serialize_pem()),
        )
        .expect("write PEM");
    }
    ca_path
}

/// TLS termination: `bind ... ssl crt DIR alpn h2,http/1.1` serves each client the
/// certificate for the name it asks (SNI; the first file's for any other name), over
/// HTTP/1.1 or HTTP/2 as ALPN chose; `ssl_fc` and `ssl_fc_sni` reach the rules; in
/// `mode tcp` the decrypted bytes go to the server; a plain-text client gets no HTTP
/// answer; a missing certificate file is refused with
/// the place.
#[test]
fn lb_tls_termination_with_sni_and_alpn() {
    let a = HttpBackend::start("alpha");
    let dir = tempfile::tempdir().expect("tmp");
    let ca = tls_files(
        dir.path(),
        &[
            ("0-default.pem", &["default.test"]),
            ("1-api.pem", &["api.example.test", "*.wild.test"]),
        ],
    );
    let p = free_port();
    let p2 = free_port();
    let cfg = format!(
        "defaults\n mode http\n timeout connect 2s\n timeout client 10s\n timeout server 10s\n\
         frontend fe\n bind 127.0.0.1:{p} ssl crt {certs} alpn h2,http/1.1\n\
         http-request set-header X-SNI %[ssl_fc_sni] if {{ ssl_fc }}\n\
         default_backend be\n\
         backend be\n server a {a}\n\
         listen tcp_tls\n mode tcp\n bind 127.0.0.1:{p2} ssl crt {certs}\n server a {a}\n",
        certs = dir.path().join("certs").display(),
        a = a.addr
    );
    let e = start_engine(&cfg);
    let ca = ca.display().to_string();
    let get = |name: &str, version: &str| {
        curl(&[
            version,
            "-s",
            "-i",
            "--cacert",
            &ca,
            "--resolve",
            &format!("{name}:{p}:127.0.0.1"),
            &format!("https://{name}:{p}/headers"),
        ])
    };
    for version in ["--http1.1", "--http2"] {
        // Verified against the name asked for: the right certificate was chosen.
        for name in ["api.example.test", "x.wild.test", "default.test"] {
            let (ok, out) = get(name, version);
            assert!(ok, "{version} {name}: {out}");
            assert!(
                out.to_ascii_lowercase().contains(&format!("x-sni: {name}")),
                "{version} {name}: {out}"
            );
            let first = out.lines().next().unwrap_or("");
            let want = if version == "--http2" {
                "HTTP/2 200"
            } else {
                "HTTP/1.1 200"
            };
            assert!(first.starts_with(want), "{version} {name}: {out}");
        }
        // Another name gets the default certificate, which is not for it.
        let (ok, out) = get("other.test", version);
        assert!(!ok, "{version}: other.test verified: {out}");
    }
    // In `mode tcp`, the bytes inside the TLS reach the server as they are.
    let (ok, out) = curl(&[
        "-s",
        "--cacert",
        &ca,
        "--resolve",
        &format!("api.example.test:{p2}:127.0.0.1"),
        &format!("https://api.example.test:{p2}/"),
    ]);
    assert!(ok && out == "alpha", "mode tcp: {out}");
    // Plain text on the TLS port: no HTTP answer.
    let mut s = TcpStream::connect(format!("127.0.0.1:{p}")).expect("connect");
    s.set_read_timeout(Some(Duration::from_secs(5)))
        .expect("timeout");
    let _ = s.write_all(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n");
    let mut buf = Vec::new();
    let _ = s.read_to_end(&mut buf);
    assert!(!String::from_utf8_lossy(&buf).contains("HTTP/1.1 200"));
    e.stop(Duration::ZERO);
    // A certificate that is not there: refused with the place.
    let bad = format!(
        "defaults\n mode http\nfrontend fe\n bind 127.0.0.1:{p} ssl crt {}/nope.pem\n",
        dir.path().display()
    );
    let err = halo_lb::config::haproxy::parse(&bad, "t.cfg").expect_err("refused");
    assert!(
        err.to_string().contains("t.cfg:3") && err.to_string().contains("nope.pem"),
        "{err}"
    );
}

/// `crt-list FILE`: the certificates it lists, each for the names its SNI filters give
/// (wildcards, `!NAME` excluded) or else for its own; the first is the default, after
/// the bind's `crt`; per-certificate settings in brackets are refused with the line.
#[test]
fn lb_tls_crt_list_selects_by_sni_filters() {
    let a = HttpBackend::start("alpha");
    let dir = tempfile::tempdir().expect("tmp");
    let ca = tls_files(
        dir.path(),
        &[
            ("first.pem", &["first.test"]),
            // Its own names say nothing of the filters' names: only the list does.
            ("wild.pem", &["*.apps.test", "portal.test"]),
            ("own.pem", &["own.test"]),
        ],
    );
    let certs = dir.path().join("certs");
    let list = dir.path().join("list.txt");
    std::fs::write(
        &list,
        format!(
            "# the sites\n{c}/first.pem\n{c}/wild.pem [] *.apps.test !secret.apps.test  # no secret\n\
             \n{c}/own.pem\n",
            c = certs.display()
        ),
    )
    .expect("write");
    let p = free_port();
    let cfg = format!(
        "defaults\n mode http\n timeout connect 2s\n timeout client 10s\n timeout server 10s\n\
         frontend fe\n bind 127.0.0.1:{p} ssl crt-list {}\n default_backend be\n\
         backend be\n server a {}\n",
        list.display(),
        a.addr
    );
    let e = start_engine(&cfg);
    let ca = ca.display().to_string();
    let served = |name: &str| {
        curl(&[
            "-s",
            "--cacert",
            &ca,
            "--resolve",
            &format!("{name}:{p}:127.0.0.1"),
            &format!("https://{name}:{p}/"),
        ])
        .0
    };
    // Verified against the asked name: the certificate chosen was for it.
    assert!(served("first.test"));
    assert!(served("x.apps.test"), "the filter's wildcard");
    assert!(served("own.test"), "no filter: its own names");
    // Excluded from the list's certificate: the default (first.test's) is served.
    assert!(!served("secret.apps.test"));
    // `portal.test` is in wild.pem, but its filters do not name it.
    assert!(!served("portal.test"));
    e.stop(Duration::ZERO);
    std::fs::write(
        &list,
        format!("{}/own.pem [alpn h2] own.test\n", certs.display()),
    )
    .expect("write");
    let bad = format!(
        "frontend fe\n bind 127.0.0.1:{p} ssl crt-list {}\n",
        list.display()
    );
    let err = halo_lb::config::haproxy::parse(&bad, "t.cfg").expect_err("refused");
    let err = err.to_string();
    assert!(
        err.contains("t.cfg:2") && err.contains("list.txt:1") && err.contains("[alpn h2]"),
        "{err}"
    );
}

/// Client certificates on a listener: `verify required ca-file F crl-file F` lets in
/// only clients with a certificate of that authority that is not revoked, `verify
/// optional` also those without one; the `ssl_c_*` fetches read the certificate.
#[test]
fn lb_tls_client_certificates_verified_and_read() {
    use rcgen::{
        BasicConstraints, CertificateParams, CertificateRevocationListParams, DnType,
        ExtendedKeyUsagePurpose, IsCa, Issuer, KeyIdMethod, KeyPair, KeyUsagePurpose,
        RevokedCertParams, SerialNumber,
    };
    let dir = tempfile::tempdir().expect("tmp");
    let put = |name: &str, text: String| {
        let p = dir.path().join(name);
        std::fs::write(&p, text).expect("write");
        p.display().to_string()
    };
    let authority = |cn: &str| {
        let key = KeyPair::generate().expect("key");
        let mut p = CertificateParams::new(Vec::<String>::new()).expect("params");
        p.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        p.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
        p.distinguished_name.push(DnType::CommonName, cn);
        let cert = p.self_signed(&key).expect("CA");
        (cert.pem(), Issuer::new(p, key))
    };
    let (ca_pem, ca) = authority("halo test CA");
    let (_, other) = authority("another CA");
    let ca_file = put("ca.pem", ca_pem);
    let leaf = |issuer: &Issuer<'_, KeyPair>, cn: &str, serial: u64, client: bool| {
        let key = KeyPair::generate().expect("key");
        let mut p = CertificateParams::new(vec![cn.to_string()]).expect("params");
        p.distinguished_name = rcgen::DistinguishedName::new();
        p.distinguished_name.push(DnType::OrganizationName, "Ops");
        p.distinguished_name.push(DnType::CommonName, cn);
        p.serial_number = Some(SerialNumber::from(serial));
        p.extended_key_usages = vec![if client {
            ExtendedKeyUsagePurpose::ClientAuth
        } else {
            ExtendedKeyUsagePurpose::ServerAuth
        }];
        let cert = p.signed_by(&key, issuer).expect("sign");
        (cert.pem(), key.serialize_pem())
    };
    let (crt, key) = leaf(&ca, "mtls.test", 1, false);
    let site = put("site.pem", format!("{crt}{key}"));
    let mut clients = std::collections::HashMap::new();
    for (who, issuer, serial) in [
        ("alice", &ca, 7u64),
        ("mallory", &ca, 9),
        ("eve", &other, 7),
    ] {
        let (crt, key) = leaf(issuer, who, serial, true);
        clients.insert(
            who,
            (
                put(&format!("{who}.crt"), crt),
                put(&format!("{who}.key"), key),
            ),
        );
    }
    let crl = CertificateRevocationListParams {
        this_update: rcgen::date_time_ymd(2024, 1, 1),
        next_update: rcgen::date_time_ymd(2099, 1, 1),
        crl_number: SerialNumber::from(1u64),
        issuing_distribution_point: None,
        revoked_certs: vec![RevokedCertParams {
            serial_number: SerialNumber::from(9u64),
            revocation_time: rcgen::date_time_ymd(2024, 6, 1),
            reason_code: None,
            invalidity_date: None,
        }],
        key_identifier_method: KeyIdMethod::Sha256,
    }
    .signed_by(&ca)
    .expect("CRL");
    let crl_file = put("crl.pem", crl.pem().expect("CRL PEM"));
    let (req, opt) = (free_port(), free_port());
    let answer = "http-request return status 200 content-type text/plain lf-string \"used=%[ssl_c_used] verify=%[ssl_c_verify] cn=%[ssl_c_s_dn(CN)] dn=%[ssl_c_s_dn] rfc=%[ssl_c_s_dn(,,rfc2253)] issuer=%[ssl_c_i_dn(CN)] serial=%[ssl_c_serial,hex] v=%[ssl_c_version]\"";
    let cfg = format!(
        "defaults\n mode http\n timeout connect 2s\n timeout client 10s\n timeout server 10s\n\
         frontend required\n bind 127.0.0.1:{req} ssl crt {site} verify required ca-file {ca_file} crl-file {crl_file}\n {answer}\n\
         frontend optional\n bind 127.0.0.1:{opt} ssl crt {site} verify optional ca-file {ca_file}\n {answer}\n"
    );
    let e = start_engine(&cfg);
    let ask = |port: u16, who: Option<&str>| {
        let mut args = vec![
            "--cacert".to_string(),
            ca_file.clone(),
            "--resolve".into(),
            format!("mtls.test:{port}:127.0.0.1"),
            format!("https://mtls.test:{port}/"),
        ];
        if let Some((crt, key)) = who.map(|w| &clients[w]) {
            args.extend(["--cert".into(), crt.clone(), "--key".into(), key.clone()]);
        }
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        curl(&args)
    };
    let (ok, out) = ask(req, Some("alice"));
    assert!(ok, "{out}");
    assert_eq!(
        out,
        "used=1 verify=0 cn=alice dn=/O=Ops/CN=alice rfc=CN=alice,O=Ops issuer=halo test CA serial=07 v=3"
    );
    for who in [None, Some("eve"), Some("mallory")] {
        let (ok, out) = ask(req, who);
        assert!(!ok && out.is_empty(), "{who:?} let in: {out}");
    }
    let (ok, out) = ask(opt, None);
    assert!(ok && out.starts_with("used=0 verify=0 cn= "), "{out}");
    let (ok, out) = ask(opt, Some("alice"));
    assert!(ok && out.starts_with("used=1 "), "{out}");
    let (ok, _) = ask(opt, Some("eve"));
    assert!(!ok, "optional still refuses a certificate it cannot verify");
    e.stop(Duration::ZERO);
    let bad = format!("frontend f\n bind 127.0.0.1:{req} ssl crt {site} verify required\n");
    let err = halo_lb::config::haproxy::parse(&bad, "t.cfg").expect_err("refused");
    assert!(
        err.to_string().contains("t.cfg:2") && err.to_string().contains("needs a `ca-file`"),
        "{err}"
    );
}

/// Python's TLS HTTP server (`tests/data/tls-echo-server.py`) with certificate `cert`,
/// asking clients for a certificate from `client_ca`; it answers what the handshake
/// told it (SNI, client certificate, protocol).
struct TlsEcho {
    _child: Reaped,
    addr: std::net::SocketAddr,
}

/// A child process killed and reaped when the test ends, passing or not.
struct Reaped(std::process::Child);

impl Drop for Reaped {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// A Python server of `tests/data/` with these arguments, once it said "ready".
fn python_server(script: &str, args: &[&std::ffi::OsStr]) -> Reaped {
    use std::io::BufRead;
    let path = format!("{}/tests/data/{script}", env!("CARGO_MANIFEST_DIR"));
    let mut child = std::process::Command::new("python3")
        .arg(path)
        .args(args)
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("python3");
    let mut line = String::new();
    let out = child.stdout.take().expect("stdout");
    std::io::BufReader::new(out)
        .read_line(&mut line)
        .expect("read");
    assert_eq!(line.trim(), "ready", "{script} did not start");
    Reaped(child)
}

impl TlsEcho {
    fn start(cert: &std::path::Path, client_ca: &std::path::Path) -> TlsEcho {
        let port = free_port().to_string();
        TlsEcho {
            _child: python_server(
                "tls-echo-server.py",
                &[port.as_ref(), cert.as_os_str(), client_ca.as_os_str()],
            ),
            addr: format!("127.0.0.1:{port}").parse().expect("addr"),
        }
    }
}

/// TLS to servers (`server ... ssl`) against Python's TLS server: the certificate is
/// verified against `ca-file` and the name (the SNI sent, else `verifyhost`; neither:
/// only the chain), a wrong authority or name fails the connection (503) and the
/// health check (L6RSP) while `verify none` passes; `sni EXPR` is evaluated per
/// request (a connection is reused only for the same name); `crt` shows a client
/// certificate; `ciphersuites` and `ssl-max-ver` bound the protocol; HTTP/1.1 and
/// HTTP/2 clients and `mode tcp`; `ca-base` resolves relative paths; verify without a
/// CA is refused as HAProxy refuses it.
#[test]
fn lb_tls_to_servers_verified_by_name() {
    let dir = tempfile::tempdir().expect("tmp");
    let ca = tls_files(
        dir.path(),
        &[
            ("server.pem", &["api.internal.test"]),
            ("client.pem", &["halo-client"]),
        ],
    );
    let other = tempfile::tempdir().expect("tmp");
    let other_ca = tls_files(other.path(), &[("x.pem", &["x.test"])]);
    let certs = dir.path().join("certs");
    let srv = TlsEcho::start(&certs.join("server.pem"), &ca);
    let p = free_port();
    let pt = free_port();
    let cfg = format!(
        "global
 ca-base {dir}
 crt-base {certs}
         defaults
 mode http
 timeout connect 2s
 timeout client 10s
 timeout server 10s
         frontend fe
 bind 127.0.0.1:{p}
         use_backend %[path,field(2,/)]
         backend sni
 option httpchk GET /
 server s {a} ssl verify required ca-file ca.pem sni str(api.internal.test) check inter 300
         backend hostcheck
 server s {a} ssl verify required ca-file ca.pem verifyhost api.internal.test
         backend chainonly
 server s {a} ssl ca-file ca.pem
         backend wrongname
 server s {a} ssl verify required ca-file ca.pem verifyhost other.test
         backend wrongca
 option httpchk GET /
 server s {a} ssl verify required ca-file {other_ca} sni str(api.internal.test) check inter 300
         backend noverify
 server s {a} ssl verify none check inter 300
         backend byhost
 server s {a} ssl verify required ca-file ca.pem sni req.hdr(host)
         backend client
 server s {a} ssl verify required ca-file ca.pem crt client.pem
         backend tls12
 server s {a} ssl verify none ssl-max-ver TLSv1.2
         listen tcp
 mode tcp
 bind 127.0.0.1:{pt}
 server s {a} ssl verify required ca-file ca.pem sni str(api.internal.test)
",
        dir = dir.path().display(),
        certs = certs.display(),
        other_ca = other_ca.display(),
        a = srv.addr,
    );
    let e = start_engine(&cfg);
    let get = |version: &str, path: &str, host: &str| {
        curl(&[
            version,
            "-s",
            "-H",
            &format!("Host: {host}"),
            "-w",
            " %{http_code}",
            &format!("http://127.0.0.1:{p}{path}"),
        ])
        .1
    };
    for version in ["--http1.1", "--http2-prior-knowledge"] {
        let out = get(version, "/sni", "x");
        assert!(
            out.starts_with("sni=api.internal.test cert=- proto=TLSv1.3 alpn=-")
                && out.ends_with(" 200"),
            "{version}: {out}"
        );
        // No SNI: the name checked is verifyhost's; or only the chain.
        for b in ["hostcheck", "chainonly"] {
            let out = get(version, &format!("/{b}"), "x");
            assert!(
                out.starts_with("sni=- ") && out.ends_with(" 200"),
                "{version} {b}: {out}"
            );
        }
        for b in ["wrongname", "wrongca"] {
            let out = get(version, &format!("/{b}"), "x");
            assert!(out.ends_with(" 503"), "{version} {b}: {out}");
        }
        let out = get(version, "/noverify", "x");
        assert!(
            out.starts_with("sni=- ") && out.ends_with(" 200"),
            "{version}: {out}"
        );
        // The SNI follows each request's Host, and is checked.
        let out = get(version, "/byhost", "api.internal.test");
        assert!(
            out.starts_with("sni=api.internal.test ") && out.ends_with(" 200"),
            "{version}: {out}"
        );
        let out = get(version, "/byhost", "evil.test");
        assert!(
            out.ends_with(" 503"),
            "{version}: a certificate not for the SNI: {out}"
        );
        let out = get(version, "/client", "x");
        assert!(
            out.starts_with("sni=- cert=halo-client ") && out.ends_with(" 200"),
            "{version}: {out}"
        );
        let out = get(version, "/tls12", "x");
        assert!(
            out.contains("proto=TLSv1.2") && out.ends_with(" 200"),
            "{version}: {out}"
        );
    }
    // One kept-alive client asking for two names: each request got its own.
    let out = curl(&[
        "-s",
        "-H",
        "Host: api.internal.test",
        &format!("http://127.0.0.1:{p}/byhost"),
        "--next",
        "-s",
        "-H",
        "Host: nope.test",
        "-w",
        " %{http_code}",
        &format!("http://127.0.0.1:{p}/byhost"),
    ])
    .1;
    assert!(
        out.starts_with("sni=api.internal.test ") && out.ends_with(" 503"),
        "{out}"
    );
    // mode tcp: plain HTTP in, TLS out.
    let (ok, out) = curl(&["-s", &format!("http://127.0.0.1:{pt}/")]);
    assert!(ok && out.starts_with("sni=api.internal.test "), "{out}");
    // Health checks over TLS (the server's `ssl` makes them TLS): a good chain passes,
    // a wrong authority fails at layer 6.
    assert!(wait_until(Duration::from_secs(10), || status(
        &e, "sni", "s"
    ) == "UP"));
    assert!(wait_until(Duration::from_secs(10), || status(
        &e, "wrongca", "s"
    ) == "DOWN"));
    let rows = halo_lb::engine::stats::snapshot(e.shared());
    let check = |b: &str| {
        rows.iter()
            .find(|r| r.pxname == b && r.svname == "s")
            .map(|r| r.check_status.clone())
            .unwrap_or_default()
    };
    assert_eq!(check("sni"), "L7OK");
    assert_eq!(check("wrongca"), "L6RSP");
    assert!(wait_until(Duration::from_secs(10), || status(
        &e, "noverify", "s"
    ) == "UP"));
    e.stop(Duration::ZERO);
    // Verification without authorities is refused, as HAProxy refuses it.
    let bad = "defaults
 mode http
backend b
 server s 127.0.0.1:1 ssl
";
    let err = halo_lb::config::haproxy::parse(bad, "t.cfg").expect_err("refused");
    assert!(
        err.to_string().contains("t.cfg:4") && err.to_string().contains("verify none"),
        "{err}"
    );
    let ok = "global
 ssl-server-verify none
defaults
 mode http
backend b
 server s 127.0.0.1:1 ssl
";
    halo_lb::config::haproxy::parse(ok, "t.cfg").expect("ssl-server-verify none");
}

/// `send-proxy`, `send-proxy-v2` and `check-send-proxy` against a real PROXY protocol
/// reader, Debian's HAProxy with `accept-proxy`, which answers the client it was told
/// of: the client's own address and port and the address it connected to, not the load
/// balancer's connection; in `mode http` and `mode tcp`; a check with the header passes
/// and one without fails (the reader refuses it).
#[test]
fn lb_send_proxy_tells_the_server_its_client() {
    let Some(haproxy) = which("haproxy") else {
        return skip("Debian's haproxy (the PROXY protocol reader) is not installed");
    };
    let dir = tempfile::tempdir().expect("tmp");
    let pp = free_port();
    let reader_cfg = dir.path().join("reader.cfg");
    std::fs::write(
        &reader_cfg,
        format!(
            "defaults\n mode http\n timeout connect 2s\n timeout client 10s\n timeout server 10s\n\
             frontend pp\n bind 127.0.0.1:{pp} accept-proxy\n\
             http-request return status 200 content-type text/plain lf-string \"src=%[src]:%[src_port] dst=%[dst]:%[dst_port]\"\n"
        ),
    )
    .expect("write");
    let _reader = Reaped(
        std::process::Command::new(haproxy)
            .args(["-db", "-f"])
            .arg(&reader_cfg)
            .spawn()
            .expect("haproxy"),
    );
    assert!(wait_until(Duration::from_secs(10), || {
        TcpStream::connect(("127.0.0.1", pp)).is_ok()
    }));
    let (p1, p2, pt) = (free_port(), free_port(), free_port());
    let cfg = format!(
        "defaults\n timeout connect 2s\n timeout client 10s\n timeout server 10s\n\
         listen v1\n mode http\n bind 127.0.0.1:{p1}\n option httpchk GET /\n server s 127.0.0.1:{pp} send-proxy check check-send-proxy inter 300\n\
         listen v2\n mode http\n bind 127.0.0.1:{p2}\n option httpchk GET /\n server s 127.0.0.1:{pp} send-proxy-v2 check check-send-proxy inter 300\n\
         listen tcp\n mode tcp\n bind 127.0.0.1:{pt}\n server s 127.0.0.1:{pp} send-proxy-v2\n\
         listen nocheckheader\n mode http\n bind 127.0.0.1:{}\n option httpchk GET /\n server s 127.0.0.1:{pp} send-proxy check inter 300\n",
        free_port()
    );
    let e = start_engine(&cfg);
    for (port, version) in [
        (p1, "--http1.1"),
        (p2, "--http1.1"),
        (p1, "--http2-prior-knowledge"),
        (pt, "--http1.1"),
    ] {
        // From an address the load balancer does not use for its own connections; in
        // HTTP/1.1 two requests on one client connection (curl 7.88 does not send a
        // second request on a prior-knowledge HTTP/2 connection, to any server).
        let url = format!("http://127.0.0.1:{port}/");
        let mut args = vec![
            version,
            "-s",
            "--interface",
            "127.0.0.2",
            "-w",
            "\n%{local_port}\n",
            &url,
        ];
        let n = if version == "--http1.1" { 2 } else { 1 };
        if n == 2 {
            args.push(&url);
        }
        let (ok, out) = curl(&args);
        assert!(ok, "{port} {version}: {out}");
        let lines: Vec<&str> = out.lines().collect();
        let local_port = lines.last().copied().unwrap_or("");
        let want = format!("src=127.0.0.2:{local_port} dst=127.0.0.1:{port}");
        assert!(
            lines.iter().filter(|l| l.starts_with("src=")).count() == n,
            "{port} {version}: {out}"
        );
        assert!(
            lines
                .iter()
                .filter(|l| l.starts_with("src="))
                .all(|l| *l == want),
            "{port} {version}: {out} (want {want})"
        );
    }
    // Checks: with the header the reader answers; without, it refuses them.
    assert!(wait_until(Duration::from_secs(10), || status(
        &e, "v1", "s"
    ) == "UP"));
    assert!(wait_until(Duration::from_secs(10), || status(
        &e, "v2", "s"
    ) == "UP"));
    assert!(wait_until(Duration::from_secs(10), || status(
        &e,
        "nocheckheader",
        "s"
    ) == "DOWN"));
    e.stop(Duration::ZERO);
}

/// `mode tcp` with `tcp-request inspect-delay`: the content rules and `use_backend`
/// read the client's first bytes, as OpenStack-Ansible's redirect frontend does — an
/// HTTP request line goes to the HTTP backend, a TLS ClientHello to the TLS one (and
/// by its server name, `req.ssl_sni`), anything else is rejected; the bytes reach the
/// server untouched.
#[test]
fn lb_tcp_content_inspection_tells_http_from_tls() {
    let a = HttpBackend::start("alpha");
    let dir = tempfile::tempdir().expect("tmp");
    let ca = tls_files(dir.path(), &[("server.pem", &["api.internal.test"])]);
    let srv = TlsEcho::start(&dir.path().join("certs/server.pem"), &ca);
    let p = free_port();
    let cfg = format!(
        "defaults\n timeout connect 2s\n timeout client 10s\n timeout server 10s\n\
         frontend redirect\n mode tcp\n bind 127.0.0.1:{p}\n\
         tcp-request inspect-delay 2s\n\
         tcp-request content accept if HTTP\n\
         tcp-request content accept if {{ req.ssl_hello_type 1 }}\n\
         tcp-request content reject\n\
         use_backend http if HTTP\n\
         use_backend named if {{ req.ssl_sni -i api.internal.test }}\n\
         default_backend other\n\
         backend http\n mode tcp\n server a {a}\n\
         backend named\n mode tcp\n server t {t}\n\
         backend other\n mode tcp\n server a {a}\n",
        a = a.addr,
        t = srv.addr
    );
    let e = start_engine(&cfg);
    let (ok, out) = curl(&["-s", &format!("http://127.0.0.1:{p}/")]);
    assert!(ok && out == "alpha", "HTTP: {out}");
    let ca = ca.display().to_string();
    let (ok, out) = curl(&[
        "-s",
        "--cacert",
        &ca,
        "--resolve",
        &format!("api.internal.test:{p}:127.0.0.1"),
        &format!("https://api.internal.test:{p}/"),
    ]);
    assert!(
        ok && out.starts_with("sni=api.internal.test "),
        "TLS by name: {out}"
    );
    // Another name: the default backend, which does not speak TLS.
    let (ok, _) = curl(&[
        "-s",
        "-k",
        "--resolve",
        &format!("other.test:{p}:127.0.0.1"),
        &format!("https://other.test:{p}/"),
    ]);
    assert!(!ok, "a TLS client for another name reached a TLS server");
    // Neither HTTP nor TLS: rejected.
    let mut s = TcpStream::connect(("127.0.0.1", p)).expect("connect");
    s.set_read_timeout(Some(Duration::from_secs(5)))
        .expect("timeout");
    s.write_all(b"SSH-2.0-OpenSSH_9.2\r\n").expect("write");
    let mut buf = Vec::new();
    let _ = s.read_to_end(&mut buf);
    assert!(buf.is_empty(), "{buf:?}");
    e.stop(Duration::ZERO);
}

/// `stats admin if COND` (OpenStack-Ansible enables it): the page offers a form per
/// backend, and a posted form (`b`, `s`, `action`, as HAProxy's page posts it) sets the
/// checked servers' states, then sends the browser back to the page with the outcome;
/// a client the condition does not allow is refused; over HTTP/1.1 and HTTP/2.
#[test]
fn lb_stats_admin_form_sets_server_states() {
    let a = HttpBackend::start("alpha");
    let b = HttpBackend::start("bravo");
    let p = free_port();
    let cfg = format!(
        "defaults\n mode http\n timeout connect 2s\n timeout client 10s\n timeout server 10s\n\
         frontend stats\n bind 127.0.0.1:{p}\n stats enable\n stats uri /\n stats auth admin:s3cret\n\
         stats admin if {{ src 127.0.0.1 }}\n\
         backend be\n server a {}\n server b {}\n",
        a.addr, b.addr
    );
    let e = start_engine(&cfg);
    let url = format!("http://127.0.0.1:{p}/");
    let (_, page) = curl(&["-s", "-u", "admin:s3cret", &url]);
    assert!(
        page.contains("<form method=\"post\">") && page.contains("name=\"s\" value=\"a\""),
        "{page}"
    );
    let post = |from: &str, version: &str, form: &str| {
        curl(&[
            version,
            "-s",
            "-o",
            "/dev/null",
            "-w",
            "%{http_code} %{redirect_url}",
            "-u",
            "admin:s3cret",
            "--interface",
            from,
            "-d",
            form,
            &url,
        ])
        .1
    };
    let out = post("127.0.0.1", "--http1.1", "b=be&s=a&s=b&action=maint");
    assert!(
        out.starts_with("303 ") && out.ends_with("/;st=DONE"),
        "{out}"
    );
    assert_eq!(
        (status(&e, "be", "a"), status(&e, "be", "b")),
        ("MAINT".into(), "MAINT".into())
    );
    let out = post(
        "127.0.0.1",
        "--http2-prior-knowledge",
        "b=be&s=b&action=ready",
    );
    assert!(out.ends_with("/;st=DONE"), "{out}");
    assert_ne!(status(&e, "be", "b"), "MAINT");
    let out = post("127.0.0.1", "--http1.1", "b=be&s=b&action=dhlth");
    assert!(out.ends_with("/;st=ERRP"), "{out}");
    // Not allowed by the condition: nothing changes.
    let out = post("127.0.0.2", "--http1.1", "b=be&s=a&action=ready");
    assert!(out.ends_with("/;st=DENY"), "{out}");
    assert_eq!(status(&e, "be", "a"), "MAINT");
    let (_, page) = curl(&[
        "-s",
        "-u",
        "admin:s3cret",
        "--interface",
        "127.0.0.2",
        &format!("{url};st=DENY"),
    ]);
    assert!(
        page.contains("Action denied.") && !page.contains("<form"),
        "{page}"
    );
    e.stop(Duration::ZERO);
}

/// Rate limits as OpenStack-Ansible writes them: `stick-table type ipv6 ... store
/// http_req_rate(10s),http_err_rate(10s)`, `http-request track-sc0 src` and `deny
/// deny_status 429 if { sc_http_req_rate(0) gt N }`: a client is refused once over the
/// rate, another client is not, an exempted address never is; 4xx answers (the
/// server's and the load balancer's own) count as errors; over HTTP/1.1 and HTTP/2;
/// `show table` shows the entries; `src_*` fetches and `table_*` converters read the
/// same entries; a track-sc without a table is refused.
#[test]
fn lb_stick_table_counters_limit_request_rates() {
    let a = HttpBackend::start("alpha");
    let p = free_port();
    let dir = tempfile::tempdir().expect("tmp");
    let sock = dir.path().join("admin.sock");
    let cfg = format!(
        "global\n stats socket {sock} level admin\n\
         defaults\n mode http\n timeout connect 2s\n timeout client 10s\n timeout server 10s\n\
         frontend fe\n bind 127.0.0.1:{p}\n\
         stick-table  type ipv6  size 256k  expire 10s  store http_req_rate(10s),http_err_rate(10s),conn_cnt\n\
         http-request track-sc0 src\n\
         http-request deny deny_status 429 if {{ sc_http_req_rate(0) gt 5 }} !{{ src 127.0.0.3 }}\n\
         http-request deny deny_status 429 if {{ sc_http_err_rate(0) gt 2 }}\n\
         http-request return status 200 content-type text/plain lf-string \"%[src_conn_cnt] %[src,table_http_req_rate(fe)]\" if {{ path /count }}\n\
         default_backend be\n\
         backend be\n server a {a}\n",
        sock = sock.display(),
        a = a.addr
    );
    let e = start_engine(&cfg);
    let code = |from: &str, version: &str, path: &str| {
        curl(&[
            version,
            "-s",
            "-o",
            "/dev/null",
            "-w",
            "%{http_code}",
            "--interface",
            from,
            &format!("http://127.0.0.1:{p}{path}"),
        ])
        .1
    };
    for (from, version) in [
        ("127.0.0.2", "--http1.1"),
        ("127.0.0.5", "--http2-prior-knowledge"),
    ] {
        let codes: Vec<String> = (0..7).map(|_| code(from, version, "/")).collect();
        assert_eq!(
            codes,
            ["200", "200", "200", "200", "200", "429", "429"],
            "{from} {version}"
        );
    }
    // Another client has its own count; an exempted one is never refused for its rate.
    assert_eq!(code("127.0.0.4", "--http1.1", "/"), "200");
    for _ in 0..8 {
        assert_eq!(code("127.0.0.3", "--http1.1", "/"), "200");
    }
    // Errors: three 404s from the server, then even a good request is refused (the
    // 429s count too).
    for _ in 0..3 {
        assert_eq!(
            code("127.0.0.6", "--http2-prior-knowledge", "/status/404"),
            "404"
        );
    }
    assert_eq!(code("127.0.0.6", "--http2-prior-knowledge", "/"), "429");
    // The samples of the same entry.
    let (_, out) = curl(&[
        "-s",
        "--interface",
        "127.0.0.4",
        &format!("http://127.0.0.1:{p}/count"),
    ]);
    assert_eq!(out, "2 2", "src_conn_cnt and table_http_req_rate");
    let shown = admin_command(&sock, "show table fe").expect("show table");
    // HAProxy's layout: 256k is 262144, the items in HAProxy's order, periods in ms.
    assert!(
        shown.starts_with("# table: fe, type: ipv6, size:262144, used:5\n0x"),
        "{shown}"
    );
    let line = shown
        .lines()
        .find(|l| l.contains("key=::ffff:127.0.0.2 "))
        .unwrap_or_default();
    assert!(line.contains(" use=0 exp="), "{shown}");
    assert!(
        line.ends_with(" conn_cnt=7 http_req_rate(10000)=7 http_err_rate(10000)=2"),
        "{shown}"
    );
    e.stop(Duration::ZERO);
    let bad = "defaults\n mode http\nfrontend f\n bind :1\n http-request track-sc0 src\n";
    let err = halo_lb::config::haproxy::parse(bad, "t.cfg").expect_err("refused");
    assert!(
        err.to_string().contains("t.cfg:5") && err.to_string().contains("no stick-table"),
        "{err}"
    );
}

/// Tracking for the whole connection, the usual way to limit clients:
/// `tcp-request connection track-sc0 src` with `tcp-request connection reject if {
/// sc_conn_cur(0) gt 2 }` (concurrent connections) and `http-request deny if {
/// sc_http_req_rate(0) gt 3 }` (every request of the connection counts on the entry,
/// before the rules see it): over one HTTP/1.1 keep-alive connection and one HTTP/2
/// connection the fourth request is refused; a third connection held beside two open
/// ones is closed unanswered; `sess_cnt` counts the accepted connections, `conn_cur`
/// goes back to 0 when they close.
#[test]
fn lb_connection_tracking_counts_every_request_of_the_connection() {
    let a = HttpBackend::start("alpha");
    let p = free_port();
    let dir = tempfile::tempdir().expect("tmp");
    let sock = dir.path().join("admin.sock");
    let cfg = format!(
        "global\n stats socket {sock} level admin\n\
         defaults\n mode http\n timeout connect 2s\n timeout client 10s\n timeout server 10s\n\
         frontend fe\n bind 127.0.0.1:{p}\n\
         stick-table type ip size 1k expire 30s store conn_cur,sess_cnt,http_req_cnt,http_req_rate(10s)\n\
         tcp-request connection track-sc0 src\n\
         tcp-request connection reject if {{ sc_conn_cur(0) gt 2 }}\n\
         http-request deny deny_status 429 if {{ sc_http_req_rate(0) gt 3 }}\n\
         http-request return status 200 content-type text/plain lf-string \"%[sc_http_req_cnt(0)] %[sc0_sess_cnt]\" if {{ path /count }}\n\
         default_backend be\n\
         backend be\n server a {a}\n",
        sock = sock.display(),
        a = a.addr
    );
    let e = start_engine(&cfg);
    let url = format!("http://127.0.0.1:{p}/");
    // One connection, five requests (curl reuses it for every URL; a refusal keeps it,
    // as HAProxy's deny does).
    let mut args = vec![
        "--http1.1",
        "-s",
        "-w",
        "%{http_code} %{num_connects}\n",
        "--interface",
        "127.0.0.2",
    ];
    for _ in 0..5 {
        args.extend(["-o", "/dev/null", url.as_str()]);
    }
    let (_, out) = curl(&args);
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines, ["200 1", "200 0", "200 0", "429 0", "429 0"]);
    // Five concurrent streams of one HTTP/2 connection (from 127.0.0.1): three pass.
    let urls: Vec<String> = (1..=5).map(|i| format!("{url}?{i}")).collect();
    let out = std::process::Command::new("nghttp")
        .args(["-n", "-s"])
        .args(&urls)
        .output()
        .expect("nghttp (apt-get install nghttp2-client)");
    let text = String::from_utf8_lossy(&out.stdout);
    let codes: Vec<&str> = text
        .lines()
        .filter(|l| l.contains(" /?"))
        .filter_map(|l| l.split_whitespace().nth(4))
        .collect();
    let refused = codes.iter().filter(|c| **c == "429").count();
    assert_eq!((codes.len(), refused), (5, 2), "{text}");
    // The third of three connections held at once is closed before any answer.
    let open: Vec<TcpStream> = (0..2)
        .map(|_| TcpStream::connect(("127.0.0.1", p)).expect("connect"))
        .collect();
    std::thread::sleep(Duration::from_millis(200));
    let mut third = TcpStream::connect(("127.0.0.1", p)).expect("connect");
    third
        .set_read_timeout(Some(Duration::from_secs(5)))
        .expect("timeout");
    let _ = third.write_all(b"GET / HTTP/1.1\r\nhost: x\r\n\r\n");
    let mut buf = Vec::new();
    let got = third.read_to_end(&mut buf);
    assert!(
        got.is_err() || buf.is_empty(),
        "a third connection got {:?}",
        String::from_utf8_lossy(&buf)
    );
    drop(open);
    std::thread::sleep(Duration::from_millis(300));
    // A new connection from 127.0.0.4: its first request is counted before the rules
    // read it; its session is its first.
    let (_, out) = curl(&[
        "-s",
        "--interface",
        "127.0.0.4",
        &format!("http://127.0.0.1:{p}/count"),
    ]);
    assert_eq!(out, "1 1", "sc_http_req_cnt(0) and sc0_sess_cnt");
    let shown = admin_command(&sock, "show table fe").expect("show table");
    let line = |key: &str| {
        shown
            .lines()
            .find(|l| l.contains(&format!("key={key} ")))
            .unwrap_or_default()
            .to_string()
    };
    assert!(
        line("127.0.0.2").ends_with(" conn_cur=0 sess_cnt=1 http_req_cnt=5 http_req_rate(10000)=5"),
        "{shown}"
    );
    // 127.0.0.1: the HTTP/2 connection, then three, the last refused before it became
    // a session.
    assert!(
        line("127.0.0.1").ends_with(" conn_cur=0 sess_cnt=3 http_req_cnt=5 http_req_rate(10000)=5"),
        "{shown}"
    );
    e.stop(Duration::ZERO);
}

/// Clients behind another proxy: `http-request set-src hdr(x-forwarded-for)` makes the
/// address that proxy names the client's for the rest of the request — the rules after
/// it, the server's `X-Forwarded-For` (`option forwardfor`) and the log line (`%ci`),
/// over HTTP/1.1 and HTTP/2 — and `option originalto` tells the server the address the
/// client connected to (`set-dst` moves it). At the connection stage (`tcp-request
/// connection set-dst-port`) the connection's own addresses move (`fc_dst_port`); at the
/// session stage only the session's (`fc_src` keeps the connection's).
#[test]
fn lb_rules_move_the_client_and_destination_addresses() {
    let a = HttpBackend::start("alpha");
    let (p, p2) = (free_port(), free_port());
    let sys = syslog();
    let cfg = format!(
        "defaults\n mode http\n timeout connect 2s\n timeout client 10s\n timeout server 10s\n\
         frontend fe\n bind 127.0.0.1:{p}\n log {sys} local0\n log-format \"%ci %HPO\"\n\
         http-request set-src hdr(x-forwarded-for) if {{ req.hdr(x-forwarded-for) -m found }}\n\
         http-request set-dst ipv4(10.9.0.9) if {{ path_beg /headers/moved }}\n\
         http-request deny deny_status 403 if {{ src 10.66.0.0/16 }}\n\
         default_backend be\n\
         backend be\n option forwardfor\n option originalto\n server a {a}\n\
         frontend fe2\n bind 127.0.0.1:{p2}\n\
         tcp-request connection set-dst-port int(8443)\n\
         tcp-request session set-src ipv4(10.1.0.1)\n\
         http-request set-src-port int(1234)\n\
         http-request return status 200 content-type text/plain lf-string \"%[src]:%[src_port] %[fc_src] %[dst]:%[dst_port] %[fc_dst]:%[fc_dst_port]\"\n",
        sys = sys.local_addr().expect("addr"),
        a = a.addr
    );
    let e = start_engine(&cfg);
    let get = |version: &str, path: &str, xff: &str| {
        let mut args = vec![version, "-s", "-w", "\n%{http_code}"];
        let h = format!("x-forwarded-for: {xff}");
        if !xff.is_empty() {
            args.extend(["-H", h.as_str()]);
        }
        let url = format!("http://127.0.0.1:{p}{path}");
        args.push(&url);
        curl(&args).1
    };
    let logged = || next_line(&sys);
    for version in ["--http1.1", "--http2-prior-knowledge"] {
        let out = get(version, "/headers", "10.2.3.4");
        assert!(out.ends_with("\n200"), "{version}: {out}");
        let head = out.to_ascii_lowercase();
        assert!(
            head.contains("x-forwarded-for: 10.2.3.4\r\n")
                && head.contains("x-original-to: 127.0.0.1\r\n"),
            "{version}: {out}"
        );
        let l = logged();
        assert!(l.ends_with("10.2.3.4 /headers"), "{version}: {l}");
        let out = get(version, "/headers/moved", "");
        let head = out.to_ascii_lowercase();
        assert!(
            head.contains("x-forwarded-for: 127.0.0.1\r\n")
                && head.contains("x-original-to: 10.9.0.9\r\n"),
            "{version}: {out}"
        );
        let l = logged();
        assert!(l.ends_with("127.0.0.1 /headers/moved"), "{version}: {l}");
        // The rules after set-src see the moved address.
        let out = get(version, "/", "10.66.1.1");
        assert!(out.ends_with("\n403"), "{version}: {out}");
        let l = logged();
        assert!(l.ends_with("10.66.1.1 /"), "{version}: {l}");
    }
    let (_, out) = curl(&["-s", &format!("http://127.0.0.1:{p2}/")]);
    assert_eq!(
        out,
        format!("10.1.0.1:1234 127.0.0.1 127.0.0.1:8443 127.0.0.1:8443")
    );
    e.stop(Duration::ZERO);
}

/// `req.payload(OFFSET,LENGTH)` and `req.payload_lv(OFFSET,LENGTH)` read the client's
/// first bytes in `mode tcp` (a binary protocol: a length byte, a name, a tag): a
/// connection goes on only when both match; a length that runs past what came matches
/// nothing.
#[test]
fn lb_tcp_content_rules_read_payload_bytes() {
    let (echo, _h) = eof_echo_server();
    let p = free_port();
    let cfg = format!(
        "defaults\n mode tcp\n timeout connect 2s\n timeout client 5s\n timeout server 5s\n\
         listen l\n bind 127.0.0.1:{p}\n tcp-request inspect-delay 500ms\n\
         tcp-request content accept if {{ req.payload_lv(0,1) -m str alpha }} {{ req.payload(6,3) -m str xyz }}\n\
         tcp-request content reject\n server s {echo}\n"
    );
    let e = start_engine(&cfg);
    let send = |bytes: &[u8]| {
        let mut c = TcpStream::connect(("127.0.0.1", p)).expect("connect");
        c.set_read_timeout(Some(Duration::from_secs(5)))
            .expect("timeout");
        c.write_all(bytes).expect("send");
        let _ = c.shutdown(std::net::Shutdown::Write);
        let mut out = String::new();
        let _ = c.read_to_string(&mut out);
        out
    };
    assert_eq!(send(b"\x05alphaxyz"), "got 9 bytes");
    assert_eq!(send(b"\x05alphaxyq"), "");
    assert_eq!(send(b"\x04alphaxyz"), "");
    assert_eq!(send(b"\x09alphaxyz"), "");
    e.stop(Duration::ZERO);
}

/// `tcp-response content` rules in a backend (also from named defaults): in `mode
/// http` they judge each response before the `http-response` rules (a variable they set
/// is seen there; a reject closes the connection unanswered, over HTTP/1.1 and
/// HTTP/2); in `mode tcp` they judge the session once the server is connected. In a
/// frontend they are refused.
#[test]
fn lb_tcp_response_rules_judge_responses() {
    let a = HttpBackend::start("alpha");
    let (echo, _h) = eof_echo_server();
    let (p, q) = (free_port(), free_port());
    let cfg = format!(
        "defaults common\n mode http\n timeout connect 2s\n timeout client 5s\n timeout server 5s\n\
         defaults back from common\n tcp-response inspect-delay 1s\n tcp-response content set-var(txn.seen) str(yes)\n\
         frontend fe from common\n bind 127.0.0.1:{p}\n http-request set-var(txn.block) str(1) if {{ path /blocked }}\n default_backend be\n\
         backend be from back\n tcp-response content reject if {{ var(txn.block) -m found }}\n\
         http-response set-header x-seen %[var(txn.seen)]\n server a {a}\n\
         listen t from common\n mode tcp\n bind 127.0.0.1:{q}\n tcp-response content reject if {{ src 127.0.0.3 }}\n server e {echo}\n",
        a = a.addr
    );
    let e = start_engine(&cfg);
    for version in ["--http1.1", "--http2-prior-knowledge"] {
        let (_, out) = curl(&[version, "-s", "-i", &format!("http://127.0.0.1:{p}/")]);
        assert!(
            out.starts_with("HTTP/") && out.to_ascii_lowercase().contains("x-seen: yes"),
            "{version}: {out}"
        );
        let (ok, out) = curl(&[
            version,
            "-s",
            "-i",
            &format!("http://127.0.0.1:{p}/blocked"),
        ]);
        assert!(!ok && out.is_empty(), "{version}: {out}");
    }
    let send = |from: &str| {
        let s = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None)
            .expect("socket");
        let src: std::net::SocketAddr = format!("{from}:0").parse().expect("addr");
        s.bind(&src.into()).expect("bind");
        let to: std::net::SocketAddr = format!("127.0.0.1:{q}").parse().expect("addr");
        s.connect(&to.into()).expect("connect");
        let mut c: TcpStream = s.into();
        c.set_read_timeout(Some(Duration::from_secs(5)))
            .expect("timeout");
        let _ = c.write_all(b"hello");
        let _ = c.shutdown(std::net::Shutdown::Write);
        let mut out = String::new();
        let _ = c.read_to_string(&mut out);
        out
    };
    assert_eq!(send("127.0.0.2"), "got 5 bytes");
    assert_eq!(send("127.0.0.3"), "");
    e.stop(Duration::ZERO);
    let bad = "defaults\n mode http\nfrontend f\n bind :1\n tcp-response content accept\n";
    let err = halo_lb::config::haproxy::parse(bad, "t.cfg").expect_err("refused");
    assert!(
        err.to_string().contains("t.cfg:5") && err.to_string().contains("belong to backends"),
        "{err}"
    );
}

/// `fe_conn`, `be_conn([BACKEND])` and `srv_conn(BACKEND/SERVER)` count the connections
/// open now: an idle client and a request in flight to the server show; a bare server
/// name is refused (which backend's would it be?).
#[test]
fn lb_connection_counts_are_samples() {
    // A server that takes connections and never answers: a request stays in flight.
    let mute = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let a = mute.local_addr().expect("addr");
    let p = free_port();
    let cfg = format!(
        "defaults\n mode http\n timeout connect 2s\n timeout client 5s\n timeout server 2s\n\
         frontend fe\n bind 127.0.0.1:{p}\n\
         http-request return status 200 content-type text/plain lf-string \"%[fe_conn] %[be_conn(be)] %[srv_conn(be/a)]\" if {{ path /count }}\n\
         default_backend be\n\
         backend be\n server a {a}\n"
    );
    let e = start_engine(&cfg);
    let count = || curl(&["-s", &format!("http://127.0.0.1:{p}/count")]).1;
    assert_eq!(count(), "1 0 0");
    let idle = TcpStream::connect(("127.0.0.1", p)).expect("connect");
    let stuck = std::thread::spawn(move || curl(&["-s", &format!("http://127.0.0.1:{p}/")]));
    assert!(
        wait_until(Duration::from_secs(2), || count() == "3 1 1"),
        "an idle client, a request in flight, this one: {}",
        count()
    );
    let _ = stuck.join();
    drop(idle);
    drop(mute);
    e.stop(Duration::ZERO);
    let bad = "backend b\n mode http\n http-request set-header x %[srv_conn(www)]\n server www 127.0.0.1:1\n";
    let err = halo_lb::config::haproxy::parse(bad, "t.cfg").expect_err("refused");
    assert!(
        err.to_string().contains("srv_conn(BACKEND/SERVER)"),
        "{err}"
    );
}

/// `http-request set-timeout server TIME|EXPR` shortens (or lengthens) the server
/// timeout of the requests it matches, over HTTP/1.1 and HTTP/2: a 300 ms answer times
/// out under 100 ms (504) and comes under the backend's 5 s; `cur_server_timeout` reads
/// the request's, `be_server_timeout` the backend's.
#[test]
fn lb_set_timeout_applies_to_the_request() {
    let a = HttpBackend::start("alpha");
    let p = free_port();
    let cfg = format!(
        "defaults\n mode http\n timeout connect 2s\n timeout client 5s\n timeout server 5s\n\
         frontend fe\n bind 127.0.0.1:{p}\n default_backend be\n\
         backend be\n http-request set-timeout server int(1),mul(100) if {{ req.hdr(x-hurry) -m found }}\n\
         http-response set-header x-timeouts \"%[be_server_timeout] %[cur_server_timeout]\"\n\
         server a {a}\n",
        a = a.addr
    );
    let e = start_engine(&cfg);
    for version in ["--http1.1", "--http2-prior-knowledge"] {
        let url = format!("http://127.0.0.1:{p}/slow");
        let (_, out) = curl(&[version, "-s", "-i", &url]);
        assert!(
            out.contains(" 200") && out.to_ascii_lowercase().contains("x-timeouts: 5000 5000"),
            "{version}: {out}"
        );
        let (_, out) = curl(&[
            version,
            "-s",
            "-o",
            "/dev/null",
            "-w",
            "%{http_code}",
            "-H",
            "x-hurry: 1",
            &url,
        ]);
        assert_eq!(out, "504", "{version}");
    }
    e.stop(Duration::ZERO);
}

/// `declare capture request len N`, `http-request capture EXPR len N` (a new slot) and
/// `http-request capture EXPR id N` (a declared one): the values, cut to their slot's
/// length, are logged by `%hr` and read by `capture.req.hdr(N)`, over HTTP/1.1 and
/// HTTP/2; a capture rule in a backend is refused (the slots are the frontend's).
#[test]
fn lb_capture_rules_fill_capture_slots() {
    let a = HttpBackend::start("alpha");
    let p = free_port();
    let sys = syslog();
    let cfg = format!(
        "defaults\n mode http\n timeout connect 2s\n timeout client 5s\n timeout server 5s\n\
         frontend fe\n bind 127.0.0.1:{p}\n log {sys} local0\n log-format \"%hr\"\n\
         declare capture request len 8\n\
         http-request capture req.hdr(x-id) len 4\n\
         http-request capture req.hdr(x-other) id 0\n\
         http-response set-header x-slot1 %[capture.req.hdr(1)]\n\
         default_backend be\n backend be\n server a {a}\n",
        sys = sys.local_addr().expect("addr"),
        a = a.addr
    );
    let e = start_engine(&cfg);
    for version in ["--http1.1", "--http2-prior-knowledge"] {
        let (_, out) = curl(&[
            version,
            "-s",
            "-i",
            "-H",
            "x-id: 123456",
            "-H",
            "x-other: abcdefghijk",
            &format!("http://127.0.0.1:{p}/"),
        ]);
        assert!(
            out.to_ascii_lowercase().contains("x-slot1: 1234\r\n"),
            "{version}: {out}"
        );
        let line = next_line(&sys);
        assert!(line.ends_with("{abcdefgh|1234}"), "{version}: {line}");
    }
    e.stop(Duration::ZERO);
    let bad =
        "backend b\n mode http\n http-request capture req.hdr(x) len 4\n server s 127.0.0.1:1\n";
    let err = halo_lb::config::haproxy::parse(bad, "t.cfg").expect_err("refused");
    assert!(err.to_string().contains("belong to frontends"), "{err}");
}

/// Cookie samples: `req.cook(NAME)` routes by a cookie (its last value; the first
/// cookie's without a name), `req.cook_cnt` counts them, `req.cook_val` reads a
/// number, `res.cook(NAME)` reads what a `Set-Cookie` line sets.
#[test]
fn lb_cookie_samples_read_cookies() {
    let a = HttpBackend::start("alpha");
    let b = HttpBackend::start("bravo");
    let p = free_port();
    let cfg = format!(
        "defaults\n mode http\n timeout connect 2s\n timeout client 5s\n timeout server 5s\n\
         frontend fe\n bind 127.0.0.1:{p}\n\
         use_backend bb if {{ req.cook(pick) -m str b }}\n default_backend ba\n\
         http-response set-header x-cook \"%[req.cook_cnt] %[req.cook_cnt(pick)] %[req.cook] %[req.cook_val(n)]\"\n\
         http-response set-header x-set %[res.cook(s)] if {{ res.cook_cnt gt 0 }}\n\
         backend ba\n server a {}\n\
         backend bb\n http-response add-header set-cookie \"s=42; Path=/\"\n server b {}\n",
        a.addr, b.addr
    );
    let e = start_engine(&cfg);
    let get = |cookie: &str| {
        curl(&[
            "-s",
            "-i",
            "-H",
            &format!("cookie: {cookie}"),
            &format!("http://127.0.0.1:{p}/"),
        ])
        .1
        .to_ascii_lowercase()
    };
    let out = get("first=1; pick=a; n=7");
    assert!(
        out.ends_with("alpha") && out.contains("x-cook: 3 1 1 7\r\n"),
        "{out}"
    );
    assert!(!out.contains("x-set"), "{out}");
    // The last `pick` decides.
    let out = get("pick=a; pick=b");
    assert!(
        out.ends_with("bravo") && out.contains("x-cook: 2 2 a \r\n"),
        "{out}"
    );
    assert!(out.contains("x-set: 42\r\n"), "{out}");
    e.stop(Duration::ZERO);
}

/// The log tells what became of the persistence cookie (`%tsc`, HAProxy's flags): no
/// cookie and one inserted (`NI`), a valid one followed and none set (`VN`), one that
/// names no server replaced (`II`), over HTTP/1.1 and HTTP/2.
#[test]
fn lb_log_tells_the_persistence_cookie_flags() {
    let a = HttpBackend::start("alpha");
    let p = free_port();
    let sys = syslog();
    let cfg = format!(
        "defaults\n mode http\n timeout connect 2s\n timeout client 5s\n timeout server 5s\n\
         frontend fe\n bind 127.0.0.1:{p}\n log {sys} local0\n log-format \"%tsc\"\n default_backend be\n\
         backend be\n cookie SRV insert indirect\n server a {a} cookie sa\n",
        sys = sys.local_addr().expect("addr"),
        a = a.addr
    );
    let e = start_engine(&cfg);
    for version in ["--http1.1", "--http2-prior-knowledge"] {
        for (cookie, flags) in [("", "--NI"), ("SRV=sa", "--VN"), ("SRV=zz", "--II")] {
            let mut args = vec![version, "-s", "-o", "/dev/null"];
            let h = format!("cookie: {cookie}");
            if !cookie.is_empty() {
                args.extend(["-H", h.as_str()]);
            }
            let url = format!("http://127.0.0.1:{p}/");
            args.push(&url);
            curl(&args);
            let line = next_line(&sys);
            assert!(line.ends_with(flags), "{version} {cookie:?}: {line}");
        }
    }
    e.stop(Duration::ZERO);
}

/// `option log-separate-errors` logs what went wrong (here a 503, and a request no
/// server could take) at severity err, the rest at info; `option dontlog-normal` logs
/// only what went wrong.
#[test]
fn lb_error_logging_options() {
    let a = HttpBackend::start("alpha");
    let (p, q) = (free_port(), free_port());
    let sys = syslog();
    let cfg = format!(
        "defaults\n mode http\n timeout connect 1s\n timeout client 5s\n timeout server 5s\n\
         log {sys} local0\n log-format \"%ST %HP\"\n\
         frontend fe\n bind 127.0.0.1:{p}\n option log-separate-errors\n\
         http-request return status 503 if {{ path /bad }}\n\
         use_backend dead if {{ path /dead }}\n default_backend be\n\
         frontend quiet\n bind 127.0.0.1:{q}\n option dontlog-normal\n\
         http-request return status 503 if {{ path /bad }}\n default_backend be\n\
         backend be\n server a {a}\n\
         backend dead\n server d 127.0.0.1:1\n",
        sys = sys.local_addr().expect("addr"),
        a = a.addr
    );
    let e = start_engine(&cfg);
    let get = |port: u16, path: &str| {
        curl(&[
            "-s",
            "-o",
            "/dev/null",
            &format!("http://127.0.0.1:{port}{path}"),
        ])
    };
    get(p, "/ok");
    assert!(next_line(&sys).starts_with("<134>"));
    get(p, "/bad");
    let l = next_line(&sys);
    assert!(l.starts_with("<131>") && l.ends_with("503 /bad"), "{l}");
    get(p, "/dead");
    let l = next_line(&sys);
    assert!(l.starts_with("<131>") && l.ends_with("503 /dead"), "{l}");
    // Only the error of the quiet frontend comes.
    get(q, "/ok");
    get(q, "/bad");
    let l = next_line(&sys);
    assert!(l.starts_with("<134>") && l.ends_with("503 /bad"), "{l}");
    e.stop(Duration::ZERO);
}

/// `option tcp-smart-accept`: a client that connects and says nothing is not taken yet
/// (no session counted), and is served as soon as it speaks; without the option the
/// same connect is a session at once.
#[test]
fn lb_tcp_smart_accept_takes_connections_that_speak() {
    let a = HttpBackend::start("alpha");
    let (p, q) = (free_port(), free_port());
    let dir = tempfile::tempdir().expect("tmp");
    let sock = dir.path().join("admin.sock");
    let cfg = format!(
        "global\n stats socket {sock} level admin\n\
         defaults\n mode http\n timeout connect 2s\n timeout client 5s\n timeout server 5s\n\
         frontend smart\n bind 127.0.0.1:{p}\n option tcp-smart-accept\n default_backend be\n\
         frontend plain\n bind 127.0.0.1:{q}\n default_backend be\n\
         backend be\n server a {a}\n",
        sock = sock.display(),
        a = a.addr
    );
    let e = start_engine(&cfg);
    let scur = |fe: &str| -> String {
        let csv = admin_command(&sock, "show stat").expect("show stat");
        csv.lines()
            .find(|l| l.starts_with(&format!("{fe},FRONTEND,")))
            .and_then(|l| l.split(',').nth(4).map(String::from))
            .unwrap_or_default()
    };
    let mut quiet = TcpStream::connect(("127.0.0.1", p)).expect("connect");
    let other = TcpStream::connect(("127.0.0.1", q)).expect("connect");
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!((scur("smart"), scur("plain")), ("0".into(), "1".into()));
    quiet
        .write_all(b"GET / HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n")
        .expect("send");
    let mut out = String::new();
    quiet
        .set_read_timeout(Some(Duration::from_secs(5)))
        .expect("timeout");
    let _ = quiet.read_to_string(&mut out);
    assert!(
        out.starts_with("HTTP/1.1 200") && out.ends_with("alpha"),
        "{out}"
    );
    drop(other);
    e.stop(Duration::ZERO);
}

/// `http_first_req` is true for the first request of a client connection only: over one
/// HTTP/1.1 keep-alive connection and over the streams of one HTTP/2 connection.
#[test]
fn lb_http_first_req_marks_a_connections_first_request() {
    let a = HttpBackend::start("alpha");
    let p = free_port();
    let cfg = format!(
        "defaults\n mode http\n timeout connect 2s\n timeout client 5s\n timeout server 5s\n\
         frontend fe\n bind 127.0.0.1:{p}\n http-after-response set-header x-first %[http_first_req]\n\
         default_backend be\n backend be\n server a {a}\n",
        a = a.addr
    );
    let e = start_engine(&cfg);
    let url = format!("http://127.0.0.1:{p}/");
    let (_, out) = curl(&[
        "-s",
        "-D",
        "-",
        "-o",
        "/dev/null",
        &url,
        "-o",
        "/dev/null",
        &url,
        "-o",
        "/dev/null",
        &url,
    ]);
    let firsts: Vec<&str> = out
        .lines()
        .filter(|l| l.to_ascii_lowercase().starts_with("x-first:"))
        .map(|l| l[8..].trim())
        .collect();
    assert_eq!(firsts, ["1", "0", "0"], "{out}");
    let urls: Vec<String> = (1..=3).map(|i| format!("{url}?{i}")).collect();
    let out = std::process::Command::new("nghttp")
        .args(["-n", "-v"])
        .args(&urls)
        .output()
        .expect("nghttp (apt-get install nghttp2-client)");
    let text = String::from_utf8_lossy(&out.stdout);
    let mut firsts: Vec<&str> = text
        .lines()
        .filter_map(|l| l.split_once("x-first: ").map(|(_, v)| v.trim()))
        .collect();
    firsts.sort();
    assert_eq!(firsts, ["0", "0", "1"], "{text}");
    e.stop(Duration::ZERO);
}

/// `cookie NAME insert indirect nocache httponly` with per-server `cookie`: a new client
/// is told its server in a cookie (marked private for caches), a client with the cookie
/// stays on that server and the server never sees the cookie, and when that server
/// dies the client goes to another (`option redispatch`) and is told the new one.
#[test]
fn lb_cookie_persistence_inserted_and_followed() {
    let a = HttpBackend::start("alpha");
    let mut b = HttpBackend::start("beta");
    let p = free_port();
    let cfg = format!(
        "defaults\n mode http\n timeout connect 2s\n timeout client 10s\n timeout server 10s\n\
         frontend fe\n bind 127.0.0.1:{p}\n default_backend be\n\
         backend be\n balance roundrobin\n option redispatch\n cookie SRV insert indirect nocache httponly\n\
         server a {} cookie sa\n server b {} cookie sb\n",
        a.addr, b.addr
    );
    let e = start_engine(&cfg);
    let url = |path: &str| format!("http://127.0.0.1:{p}{path}");
    for version in ["--http1.1", "--http2-prior-knowledge"] {
        let get = |cookie: Option<&str>, path: &str| {
            let mut args = vec![version, "-s", "-i"];
            if let Some(c) = cookie {
                args.extend_from_slice(&["-H", c]);
            }
            let u = url(path);
            args.push(&u);
            curl(&args).1
        };
        // A new client: told its server, privately.
        let out = get(None, "/");
        let lower = out.to_ascii_lowercase();
        let set = lower
            .lines()
            .find(|l| l.starts_with("set-cookie: srv="))
            .unwrap_or_else(|| panic!("{version}: no cookie set: {out}"))
            .to_string();
        assert!(
            set.contains("path=/") && set.contains("httponly"),
            "{version}: {set}"
        );
        assert!(lower.contains("cache-control: private"), "{version}: {out}");
        let (server, name) = if set.contains("srv=sa") {
            ("sa", "alpha")
        } else {
            ("sb", "beta")
        };
        assert!(
            out.ends_with(name),
            "{version}: served by the server named: {out}"
        );
        // With the cookie: the same server every time, nothing set again.
        for _ in 0..6 {
            let out = get(Some(&format!("Cookie: SRV={server}; other=1")), "/");
            assert!(out.ends_with(name), "{version}: {out}");
            assert!(
                !out.to_ascii_lowercase().contains("set-cookie"),
                "{version}: {out}"
            );
        }
        // The server never sees the persistence cookie (indirect), only the others.
        let out = get(Some(&format!("Cookie: SRV={server}; other=1")), "/headers");
        let lower = out.to_ascii_lowercase();
        assert!(lower.contains("cookie: other=1"), "{version}: {out}");
        assert!(!lower.contains("srv="), "{version}: {out}");
    }
    // The cookie's server dies: the client goes to the other and is told so.
    b.kill(true);
    let out = curl(&["-s", "-i", "-H", "Cookie: SRV=sb", &url("/")]).1;
    assert!(out.ends_with("alpha"), "{out}");
    assert!(
        out.to_ascii_lowercase().contains("set-cookie: srv=sa"),
        "{out}"
    );
    e.stop(Duration::ZERO);
}

/// `userlist` with `http_auth()` and `http-request auth`: a client without the right
/// credentials is asked for them (401, Basic, the realm), one with a user's password
/// (crypt(3) hash or clear) goes through.
#[test]
fn lb_userlist_http_auth() {
    let a = HttpBackend::start("alpha");
    let p = free_port();
    // `mkpasswd -m sha-512 secret -S saltsalt` (glibc's crypt(3)).
    let hash = "$6$saltsalt$TVLlQcbpFVof5W3Yz4DTP6gRstiNuHwwTt6GLc1E5n0U0aDehy0S5knV8wiOQSpT0Y77vwPZN.Pq.H91p5hVO1";
    let cfg = format!(
        "userlist ops\n user alice password {hash}\n user bob insecure-password pw\n\
         defaults\n mode http\n timeout connect 2s\n timeout client 10s\n timeout server 10s\n\
         frontend fe\n bind 127.0.0.1:{p}\n acl ok http_auth(ops)\n\
         http-request auth realm Ops unless ok\n\
         http-request set-header X-User %[http_auth_user]\n default_backend be\n\
         backend be\n server a {}\n",
        a.addr
    );
    let e = start_engine(&cfg);
    let url = format!("http://127.0.0.1:{p}/headers");
    for version in ["--http1.1", "--http2-prior-knowledge"] {
        let get = |user: Option<&str>| {
            let mut args = vec![version, "-s", "-i"];
            if let Some(u) = user {
                args.extend_from_slice(&["-u", u]);
            }
            args.push(&url);
            curl(&args).1
        };
        let out = get(None);
        assert!(out.contains(" 401"), "{version}: {out}");
        assert!(
            out.to_ascii_lowercase()
                .contains("www-authenticate: basic realm=\"ops\""),
            "{version}: {out}"
        );
        assert!(get(Some("alice:wrong")).contains(" 401"), "{version}");
        assert!(get(Some("carol:secret")).contains(" 401"), "{version}");
        for (user, name) in [("alice:secret", "alice"), ("bob:pw", "bob")] {
            let out = get(Some(user));
            assert!(out.contains(" 200"), "{version} {user}: {out}");
            assert!(
                out.to_ascii_lowercase()
                    .contains(&format!("x-user: {name}")),
                "{version} {user}: {out}"
            );
        }
    }
    e.stop(Duration::ZERO);
}

/// `use_backend` with a name made of samples (a Host map, as OpenStack's Horizon and API
/// routing files do), a name that names no backend falling through to the default; and
/// conditions on the connection in `mode tcp` (`src`).
#[test]
fn lb_use_backend_by_sample_and_in_tcp_mode() {
    let api = HttpBackend::start("api");
    let web = HttpBackend::start("web");
    let dir = tempfile::tempdir().expect("tmp");
    let map = dir.path().join("hosts.map");
    std::fs::write(
        &map,
        "# host backend\napi.example.test api\nnowhere.test nosuch\n",
    )
    .expect("map");
    let (p, pt) = (free_port(), free_port());
    let cfg = format!(
        "defaults\n timeout connect 2s\n timeout client 10s\n timeout server 10s\n\
         frontend fe\n mode http\n bind 127.0.0.1:{p}\n\
         use_backend %[req.hdr(host),lower,map_str({},web)]\n default_backend web\n\
         frontend ft\n mode tcp\n bind 127.0.0.1:{pt}\n use_backend tcp_api if {{ src 127.0.0.1 }}\n default_backend tcp_web\n\
         backend api\n mode http\n server s {a}\nbackend web\n mode http\n server s {w}\n\
         backend tcp_api\n mode tcp\n server s {a}\nbackend tcp_web\n mode tcp\n server s {w}\n",
        map.display(),
        a = api.addr,
        w = web.addr
    );
    let e = start_engine(&cfg);
    let addr = format!("127.0.0.1:{p}").parse().expect("addr");
    let body = |host: &str| http_get(addr, "/", Some(host)).expect("get").2;
    assert_eq!(body("API.example.test"), b"api");
    assert_eq!(body("www.example.test"), b"web");
    // The map names a backend that does not exist: the default one.
    assert_eq!(body("nowhere.test"), b"web");
    let get_from = |ip: &str| {
        let s = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None)
            .expect("socket");
        let from: std::net::SocketAddr = format!("{ip}:0").parse().expect("addr");
        s.bind(&from.into()).expect("bind on loopback");
        let to: std::net::SocketAddr = format!("127.0.0.1:{pt}").parse().expect("addr");
        s.connect(&to.into()).expect("connect");
        let mut s: TcpStream = s.into();
        s.set_read_timeout(Some(Duration::from_secs(5)))
            .expect("timeout");
        s.write_all(b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            .expect("send");
        let mut out = String::new();
        let _ = s.read_to_string(&mut out);
        out
    };
    assert!(get_from("127.0.0.1").ends_with("api"));
    assert!(get_from("127.0.0.2").ends_with("web"));
    e.stop(Duration::ZERO);
}

/// `http-request use-service prometheus-exporter if { path /metrics }`: the metrics are
/// answered by the load balancer (HAProxy exporter names), the rest goes to servers.
#[test]
fn lb_use_service_prometheus_exporter() {
    let a = HttpBackend::start("alpha");
    let p = free_port();
    let cfg = format!(
        "defaults\n mode http\n timeout connect 2s\n timeout client 10s\n timeout server 10s\n\
         frontend fe\n bind 127.0.0.1:{p}\n\
         http-request use-service prometheus-exporter if {{ path /metrics }}\n\
         default_backend be\nbackend be\n server a {}\n",
        a.addr
    );
    let e = start_engine(&cfg);
    for version in ["--http1.1", "--http2-prior-knowledge"] {
        let out = curl(&[
            version,
            "-s",
            "-i",
            &format!("http://127.0.0.1:{p}/metrics"),
        ])
        .1;
        assert!(out.contains(" 200"), "{version}: {out}");
        assert!(
            out.contains("text/plain; version=0.0.4"),
            "{version}: {out}"
        );
        assert!(
            out.contains("haproxy_process_uptime_seconds"),
            "{version}: {out}"
        );
        assert!(out.contains("proxy=\"be\""), "{version}: {out}");
        let out = curl(&[version, "-s", &format!("http://127.0.0.1:{p}/")]).1;
        assert_eq!(out, "alpha", "{version}");
    }
    e.stop(Duration::ZERO);
}

/// `http-after-response` rules apply to every answer: a server's (the backend's rules,
/// then the frontend's) and the load balancer's own (a denial, a `return`), over
/// HTTP/1.1 and HTTP/2.
#[test]
fn lb_http_after_response_on_every_answer() {
    let a = HttpBackend::start("alpha");
    let p = free_port();
    let cfg = format!(
        "defaults\n mode http\n timeout connect 2s\n timeout client 10s\n timeout server 10s\n\
         frontend fe\n bind 127.0.0.1:{p}\n\
         http-request deny if {{ path /deny }}\n\
         http-request return status 200 content-type text/plain string ok if {{ path /ret }}\n\
         http-after-response set-header Strict-Transport-Security max-age=31536000\n\
         http-after-response set-status 299 if {{ status 200 }} {{ path /ret }}\n\
         default_backend be\n\
         backend be\n http-after-response add-header X-Backend be\n server a {}\n",
        a.addr
    );
    let e = start_engine(&cfg);
    for version in ["--http1.1", "--http2-prior-knowledge"] {
        let get = |path: &str| {
            curl(&[version, "-s", "-i", &format!("http://127.0.0.1:{p}{path}")])
                .1
                .to_ascii_lowercase()
        };
        let out = get("/");
        assert!(out.contains(" 200"), "{version}: {out}");
        assert!(
            out.contains("strict-transport-security: max-age=31536000"),
            "{version}: {out}"
        );
        assert!(out.contains("x-backend: be"), "{version}: {out}");
        let out = get("/deny");
        assert!(out.contains(" 403"), "{version}: {out}");
        assert!(
            out.contains("strict-transport-security: max-age=31536000"),
            "{version}: {out}"
        );
        assert!(!out.contains("x-backend"), "{version}: not routed: {out}");
        let out = get("/ret");
        assert!(out.contains(" 299"), "{version}: {out}");
        assert!(
            out.contains("strict-transport-security"),
            "{version}: {out}"
        );
        assert!(out.ends_with("ok"), "{version}: {out}");
    }
    e.stop(Duration::ZERO);
}

/// `bind ... accept-proxy`: the PROXY protocol header (version 1 or 2, whole or in
/// pieces) tells the client's addresses to the rules, the logs and the servers; the
/// `tcp-request connection` rules see the proxy in front; a connection without a valid
/// header is closed unanswered; and Debian's HAProxy, in front with `send-proxy-v2`,
/// is understood.
#[test]
fn lb_accept_proxy_takes_the_client_from_the_header() {
    let p = free_port();
    let cfg = format!(
        "defaults\n mode http\n timeout connect 2s\n timeout client 5s\n timeout server 5s\n\
         frontend fe\n bind 127.0.0.1:{p} accept-proxy\n\
         tcp-request connection reject unless {{ src 127.0.0.1 }}\n\
         http-request deny if {{ src 127.0.0.1 }}\n\
         http-request return status 200 content-type text/plain lf-string \"%[src]:%[src_port] %[dst]:%[dst_port] %[fc_pp_authority]\"\n"
    );
    let e = start_engine(&cfg);
    let ask = |pieces: &[&[u8]]| -> String {
        let mut s = TcpStream::connect(("127.0.0.1", p)).expect("connect");
        s.set_read_timeout(Some(Duration::from_secs(10)))
            .expect("timeout");
        for piece in pieces {
            s.write_all(piece).expect("send");
            std::thread::sleep(Duration::from_millis(30));
        }
        s.write_all(b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            .expect("send");
        let mut out = String::new();
        let _ = s.read_to_string(&mut out);
        out
    };
    let out = ask(&[b"PROXY TCP4 203.0.113.7 198.51.100.1 40000 8443\r\n"]);
    assert!(out.starts_with("HTTP/1.1 200"), "{out}");
    assert!(
        out.ends_with("203.0.113.7:40000 198.51.100.1:8443 "),
        "{out}"
    );
    // Version 2 in two pieces, IPv6, with an authority TLV.
    let mut v2 = b"\r\n\r\n\0\r\nQUIT\n\x21\x21".to_vec();
    let mut body = Vec::new();
    body.extend_from_slice(
        &"2001:db8::7"
            .parse::<std::net::Ipv6Addr>()
            .unwrap()
            .octets(),
    );
    body.extend_from_slice(
        &"2001:db8::1"
            .parse::<std::net::Ipv6Addr>()
            .unwrap()
            .octets(),
    );
    body.extend_from_slice(&[0x9c, 0x40, 0x01, 0xbb]);
    body.extend_from_slice(&[0x02, 0x00, 0x07]);
    body.extend_from_slice(b"api.lab");
    v2.extend_from_slice(&(body.len() as u16).to_be_bytes());
    v2.extend_from_slice(&body);
    let out = ask(&[&v2[..10], &v2[10..]]);
    assert!(
        out.ends_with("2001:db8::7:40000 2001:db8::1:443 api.lab"),
        "{out}"
    );
    // Without a header, or with a broken one: closed, unanswered.
    for bad in [
        &b""[..],
        b"PROXY TCP4 1.2.3.4 5.6.7.8 1\r\n",
        b"PROXY TCP9 x\r\n",
    ] {
        let out = ask(&[bad]);
        assert!(out.is_empty(), "{:?}: {out}", String::from_utf8_lossy(bad));
    }
    // The header's own client, 127.0.0.1, is denied by the request rules.
    let out = ask(&[b"PROXY TCP4 127.0.0.1 127.0.0.1 1 2\r\n"]);
    assert!(out.starts_with("HTTP/1.1 403"), "{out}");
    // Debian's HAProxy in front, sending version 2: the client it saw is the one told.
    let Some(haproxy) = which("haproxy") else {
        e.stop(Duration::ZERO);
        return skip("haproxy is not installed (apt-get install haproxy)");
    };
    let front = free_port();
    let dir = tempfile::tempdir().expect("dir");
    let hcfg = dir.path().join("front.cfg");
    std::fs::write(
        &hcfg,
        format!(
            "defaults\n mode tcp\n timeout connect 2s\n timeout client 5s\n timeout server 5s\n\
             listen front\n bind 127.0.0.1:{front}\n server halo 127.0.0.1:{p} send-proxy-v2\n"
        ),
    )
    .expect("write");
    let mut child = std::process::Command::new(haproxy)
        .args(["-db", "-f"])
        .arg(&hcfg)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("haproxy starts");
    let url = format!("http://127.0.0.1:{front}/");
    let mut out = String::new();
    wait_until(Duration::from_secs(10), || {
        out = curl(&["--interface", "127.0.0.5", &url]).1;
        !out.is_empty()
    });
    let _ = child.kill();
    let _ = child.wait();
    e.stop(Duration::ZERO);
    assert!(out.starts_with("127.0.0.5:"), "{out}");
    assert!(out.contains(&format!(" 127.0.0.1:{front} ")), "{out}");
}

/// Behind `accept-proxy`, in `mode tcp`, a server told the client's addresses
/// (`send-proxy`) is told the ones the header gave: both the client and the address it
/// connected to.
#[test]
fn lb_accept_proxy_addresses_reach_send_proxy_servers_in_tcp_mode() {
    let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let srv = l.local_addr().expect("addr");
    std::thread::spawn(move || {
        for c in l.incoming() {
            let Ok(mut c) = c else { continue };
            // Answers the PROXY line it got.
            let mut line = Vec::new();
            let mut b = [0u8; 1];
            while !line.ends_with(b"\r\n") && c.read(&mut b).unwrap_or(0) == 1 {
                line.push(b[0]);
            }
            let _ = c.write_all(&line);
        }
    });
    let p = free_port();
    let cfg = format!(
        "defaults\n mode tcp\n timeout connect 2s\n timeout client 5s\n timeout server 5s\n\
         listen l\n bind 127.0.0.1:{p} accept-proxy\n server s {srv} send-proxy\n"
    );
    let e = start_engine(&cfg);
    let mut c = TcpStream::connect(("127.0.0.1", p)).expect("connect");
    c.set_read_timeout(Some(Duration::from_secs(10)))
        .expect("timeout");
    let told = "PROXY TCP4 203.0.113.7 198.51.100.1 40000 8443\r\n";
    c.write_all(told.as_bytes()).expect("send");
    let mut got = vec![0u8; told.len()];
    c.read_exact(&mut got).expect("the server's answer");
    assert_eq!(String::from_utf8_lossy(&got), told);
    e.stop(Duration::ZERO);
}

/// `balance uri`, `url_param` and `hdr(NAME)`: a request goes to the server its part
/// hashes to, every time; requests without that part are spread round robin; `balance
/// random` uses every server.
#[test]
fn lb_request_hashing_balance_keeps_each_key_on_one_server() {
    let (a, b) = (HttpBackend::start("alpha"), HttpBackend::start("beta"));
    let (pu, pp, ph, pr) = (free_port(), free_port(), free_port(), free_port());
    let servers = format!(" server a {}\n server b {}\n", a.addr, b.addr);
    let cfg = format!(
        "defaults\n mode http\n timeout connect 2s\n timeout client 10s\n timeout server 10s\n\
         listen uri\n bind 127.0.0.1:{pu}\n balance uri depth 2\n{servers}\
         listen param\n bind 127.0.0.1:{pp}\n balance url_param user\n{servers}\
         listen host\n bind 127.0.0.1:{ph}\n balance hdr(Host) use_domain_only\n{servers}\
         listen rand\n bind 127.0.0.1:{pr}\n balance random\n{servers}"
    );
    let e = start_engine(&cfg);
    let get = |port: u16, path: &str, host: &str| {
        let mut s = TcpStream::connect(("127.0.0.1", port)).expect("connect");
        write!(
            s,
            "GET {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n"
        )
        .expect("send");
        let mut out = String::new();
        s.read_to_string(&mut out).expect("read");
        out.rsplit("\r\n\r\n").next().unwrap_or("").to_string()
    };
    let mut seen = std::collections::HashSet::new();
    for i in 0..16 {
        let first = get(pu, &format!("/v2/p{i}/x"), "x");
        // Deeper than two directories: the same key.
        assert_eq!(get(pu, &format!("/v2/p{i}/y?z=1"), "x"), first, "/v2/p{i}");
        seen.insert(first.clone());
        let user = get(pp, &format!("/q?user=u{i}"), "x");
        assert_eq!(get(pp, &format!("/other?a=1&user=u{i}"), "x"), user);
        let host = get(ph, "/", &format!("www.site{i}.test"));
        assert_eq!(get(ph, "/", &format!("api.site{i}.test:8080")), host);
    }
    assert_eq!(seen.len(), 2, "the keys spread over both servers");
    // Without the parameter: round robin, both servers in turn.
    let rr: Vec<String> = (0..4).map(|_| get(pp, "/q", "x")).collect();
    assert!(rr[0] != rr[1] && rr[1] != rr[2], "{rr:?}");
    let random: std::collections::HashSet<String> = (0..20).map(|_| get(pr, "/", "x")).collect();
    assert_eq!(random.len(), 2, "{random:?}");
    e.stop(Duration::ZERO);
    let bad = "backend b\n balance url_param\n";
    let err = halo_lb::config::haproxy::parse(bad, "b.cfg").expect_err("refused");
    assert!(err.to_string().contains("b.cfg:2"), "{err}");
}

/// Named `defaults` sections and `from`: a proxy starts from the one it names (else
/// the last), a defaults section from another; rules in a named defaults section run
/// before the proxy's own; HAProxy's misuses of such sections are refused with the line.
#[test]
fn lb_named_defaults_with_rules() {
    let a = HttpBackend::start("alpha");
    let (p1, p2) = (free_port(), free_port());
    let cfg = format!(
        "defaults common\n mode http\n timeout connect 2s\n timeout client 10s\n timeout server 10s\n\
         defaults tagged from common\n http-request set-header X-Order defaults\n\
         http-request set-var(txn.who) str(from-defaults)\n\
         defaults plain from common\n\
         frontend one from tagged\n bind 127.0.0.1:{p1}\n\
         http-request add-header X-Order proxy\n http-request set-header X-Who %[var(txn.who)]\n\
         default_backend b\n\
         frontend two from plain\n bind 127.0.0.1:{p2}\n default_backend b\n\
         backend b from plain\n server a {}\n",
        a.addr
    );
    let e = start_engine(&cfg);
    let get = |port: u16| {
        let mut s = TcpStream::connect(("127.0.0.1", port)).expect("connect");
        s.write_all(b"GET /headers HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            .expect("send");
        let mut out = String::new();
        s.read_to_string(&mut out).expect("read");
        out.to_ascii_lowercase()
    };
    let out = get(p1);
    // The defaults' rules first, then the proxy's.
    let first = out.find("x-order: defaults").expect("the defaults' header");
    let second = out.find("x-order: proxy").expect("the proxy's header");
    assert!(first < second, "{out}");
    assert!(out.contains("x-who: from-defaults"), "{out}");
    let out = get(p2);
    assert!(!out.contains("x-order"), "from plain: no rule: {out}");
    e.stop(Duration::ZERO);
    for (text, line, why) in [
        ("defaults\n http-request set-header X 1\n", 2, "anonymous"),
        (
            "defaults d\n mode http\n http-request set-header X 1\ndefaults from d\n",
            4,
            "cannot be the base of another defaults",
        ),
        (
            "defaults d\n mode http\n http-request set-header X 1\nlisten l from d\n",
            4,
            "a listen section cannot start from it",
        ),
        (
            "defaults d\n mode http\n http-request set-header X 1\nfrontend f from d\nbackend b from d\n",
            5,
            "frontends and backends cannot both",
        ),
        (
            "defaults d\n tcp-request connection accept\nbackend b from d\n",
            3,
            "a backend cannot start from it",
        ),
        (
            "defaults d\n mode http\n http-request track-sc0 src\n",
            3,
            "must name its `table`",
        ),
        ("frontend f from nope\n", 1, "no defaults section named `nope`"),
    ] {
        let err = halo_lb::config::haproxy::parse(text, "d.cfg").expect_err(text);
        let err = err.to_string();
        assert!(err.contains(&format!("d.cfg:{line}")) && err.contains(why), "{text}: {err}");
    }
}

/// A WebSocket through a listener that terminates TLS (the HTTP engine that speaks
/// TLS: noVNC consoles behind `bind ... ssl`): the 101 reaches the client, then bytes
/// flow both ways, and the tunnel is logged when it ends; a handshake without its key
/// is refused (400).
#[test]
fn lb_websocket_through_a_tls_listener() {
    let srv = upgrade_echo_server();
    let dir = tempfile::tempdir().expect("tmp");
    tls_files(dir.path(), &[("site.pem", &["ws.test"])]);
    let sys = std::net::UdpSocket::bind("127.0.0.1:0").expect("udp");
    sys.set_read_timeout(Some(Duration::from_secs(10)))
        .expect("timeout");
    let p = free_port();
    let cfg = format!(
        "defaults\n mode http\n timeout connect 2s\n timeout client 10s\n timeout server 10s\n\
         listen ws\n bind 127.0.0.1:{p} ssl crt {}\n timeout tunnel 2s\n server s {srv}\n\
         log {} format raw local0\n log-format \"%ST %b/%s %B\"\n",
        dir.path().join("certs/site.pem").display(),
        sys.local_addr().expect("addr")
    );
    let e = start_engine(&cfg);
    // A TLS client that sends a head, prints the answer's head, then (after a 101)
    // sends `ping` and prints what comes back.
    let script = r#"
import socket, ssl, sys
ctx = ssl.create_default_context(); ctx.check_hostname = False; ctx.verify_mode = ssl.CERT_NONE
s = ctx.wrap_socket(socket.create_connection(("127.0.0.1", int(sys.argv[1]))), server_hostname="ws.test")
s.settimeout(10)
s.sendall(sys.argv[2].encode().replace(b"|", b"\r\n"))
head = b""
while b"\r\n\r\n" not in head:
    b = s.recv(1)
    if not b: break
    head += b
print(head.decode().split("\r\n")[0])
print("accept" if b"s3pPLMBiTxaQ9kYGzzhZRbK+xOo=" in head else "no-accept")
if head.startswith(b"HTTP/1.1 101"):
    s.sendall(b"ping")
    got = b""
    while len(got) < 4:
        b = s.recv(4 - len(got))
        if not b: break
        got += b
    print(got.decode())
"#;
    let run = |head: &str| {
        let out = std::process::Command::new("python3")
            .args(["-c", script, &p.to_string(), head])
            .output()
            .expect("python3 runs");
        String::from_utf8_lossy(&out.stdout).to_string()
    };
    let ws = "Host: ws.test|Connection: Upgrade|Upgrade: websocket|";
    let out = run(&format!(
        "GET /ws HTTP/1.1|{ws}Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==||"
    ));
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(
        lines.first().copied(),
        Some("HTTP/1.1 101 Switching Protocols"),
        "{out}"
    );
    assert_eq!(lines.get(1).copied(), Some("accept"), "{out}");
    assert_eq!(
        lines.get(2).copied(),
        Some("ping"),
        "echoed through the tunnel: {out}"
    );
    let mut buf = [0u8; 256];
    let n = sys.recv(&mut buf).expect("the tunnel's log line");
    assert_eq!(String::from_utf8_lossy(&buf[..n]), "101 ws/s 4");
    let out = run(&format!("GET /ws HTTP/1.1|{ws}|"));
    assert!(out.starts_with("HTTP/1.1 400"), "no key: {out}");
    e.stop(Duration::ZERO);
}

/// An application server that opens sessions as Java servlet containers do
/// (`tests/data/session-app.py`: `Set-Cookie: JSESSIONID=NAME.N`, answers "NAME
/// SESSION").
struct SessionApp {
    _child: Reaped,
}

impl SessionApp {
    fn start(port: u16, name: &str) -> SessionApp {
        let port = port.to_string();
        SessionApp {
            _child: python_server("session-app.py", &[port.as_ref(), name.as_ref()]),
        }
    }
}

/// Application sessions kept as HAProxy's manual writes it (`stick on
/// req.cook(JSESSIONID)` + `stick store-response res.cook(JSESSIONID)` in a `type
/// string` table): the server that opened a session gets every request of it, over
/// HTTP/1.1 and HTTP/2, though round robin alternates; `show table` lists each session
/// with its server (`server_id`, its `id` when it has one, and `server_key`); when that
/// server is gone the session
/// goes to the other (`option redispatch`) and stays there after it comes back.
#[test]
fn lb_stick_tables_keep_application_sessions_on_their_server() {
    let (pa, pb, p) = (free_port(), free_port(), free_port());
    let alpha = SessionApp::start(pa, "alpha");
    let _bravo = SessionApp::start(pb, "bravo");
    let dir = tempfile::tempdir().expect("tmp");
    let sock = dir.path().join("admin.sock");
    let cfg = format!(
        "global\n stats socket {sock} level admin\n\
         defaults\n mode http\n timeout connect 1s\n timeout client 5s\n timeout server 5s\n\
         frontend fe\n bind 127.0.0.1:{p}\n default_backend app\n\
         backend app\n balance roundrobin\n option redispatch\n retries 1\n\
         stick-table type string len 32 size 1k expire 30m\n\
         stick on req.cook(JSESSIONID)\n\
         stick store-response res.cook(JSESSIONID)\n\
         server a 127.0.0.1:{pa}\n server b 127.0.0.1:{pb} id 7\n",
        sock = sock.display(),
    );
    let e = start_engine(&cfg);
    let get = |version: &str, session: Option<&str>| -> String {
        let cookie = session.map(|s| format!("cookie: JSESSIONID={s}"));
        let url = format!("http://127.0.0.1:{p}/");
        let mut args = vec![version, "-s", "-i"];
        if let Some(c) = &cookie {
            args.extend(["-H", c.as_str()]);
        }
        args.push(&url);
        curl(&args).1
    };
    // New clients: round robin, each given a session by the server it reached.
    let mut sessions = Vec::new();
    for _ in 0..4 {
        let out = get("--http1.1", None);
        let session = out
            .lines()
            .find_map(|l| l.strip_prefix("Set-Cookie: JSESSIONID="))
            .and_then(|v| v.split(';').next())
            .unwrap_or_else(|| panic!("no session: {out}"))
            .to_string();
        assert!(out.ends_with(" new"), "{out}");
        sessions.push(session);
    }
    let servers: Vec<&str> = sessions.iter().map(|s| &s[..5]).collect();
    assert!(
        servers.contains(&"alpha") && servers.contains(&"bravo"),
        "{sessions:?}"
    );
    // Every later request of a session goes where it was opened.
    for s in &sessions {
        for version in ["--http1.1", "--http2-prior-knowledge", "--http1.1"] {
            let out = get(version, Some(s));
            assert!(
                out.ends_with(&format!("{} {s}", &s[..5])),
                "{version} {s}: {out}"
            );
        }
    }
    let table = admin_command(&sock, "show table app").expect("show table");
    for s in &sessions {
        // b's number is its own (`id 7`).
        let (id, key) = if s.starts_with("alpha") {
            (1, "a")
        } else {
            (7, "b")
        };
        assert!(
            table.lines().any(|l| l.contains(&format!("key={s} "))
                && l.ends_with(&format!("server_id={id} server_key={key}"))),
            "{s}: {table}"
        );
    }
    assert!(table.contains("type: string, size:1024, used:4"), "{table}");
    // The session's server is gone: the session goes to the other and stays there.
    let on_alpha = sessions
        .iter()
        .find(|s| s.starts_with("alpha"))
        .expect("one")
        .clone();
    drop(alpha);
    assert!(get("--http1.1", Some(&on_alpha)).ends_with(&format!("bravo {on_alpha}")));
    let _alpha = SessionApp::start(pa, "alpha");
    for version in ["--http1.1", "--http2-prior-knowledge"] {
        let out = get(version, Some(&on_alpha));
        assert!(
            out.ends_with(&format!("bravo {on_alpha}")),
            "{version}: {out}"
        );
    }
    let table = admin_command(&sock, "show table app").expect("show table");
    assert!(
        table
            .lines()
            .any(|l| l.contains(&format!("key={on_alpha} ")) && l.ends_with("server_key=b")),
        "{table}"
    );
    e.stop(Duration::ZERO);
}

/// Persistence cookies the application makes (`tests/data/session-app.py` sets
/// `JSESSIONID=NAME.N`): `prefix` puts the server's identifier and `~` before the
/// application's value and takes it off again before the server sees it; `rewrite`
/// replaces the value with the identifier; `insert` replaces the server's cookie with
/// its own, unless `preserve`, which passes the server's and inserts none. A session
/// then keeps to its server though round robin alternates, over HTTP/1.1 and HTTP/2.
#[test]
fn lb_cookie_prefix_rewrite_and_preserve_work_on_the_servers_cookie() {
    let (pa, pb) = (free_port(), free_port());
    let _alpha = SessionApp::start(pa, "alpha");
    let _bravo = SessionApp::start(pb, "bravo");
    let ports: Vec<u16> = (0..4).map(|_| free_port()).collect();
    let modes = ["prefix nocache", "rewrite", "insert", "insert preserve"];
    let mut cfg = String::from(
        "defaults\n mode http\n balance roundrobin\n timeout connect 1s\n timeout client 5s\n timeout server 5s\n",
    );
    for (p, m) in ports.iter().zip(modes) {
        cfg.push_str(&format!(
            "listen l{p}\n bind 127.0.0.1:{p}\n cookie JSESSIONID {m}\n\
             server a 127.0.0.1:{pa} cookie s1\n server b 127.0.0.1:{pb} cookie s2\n"
        ));
    }
    let e = start_engine(&cfg);
    let get = |version: &str, p: u16, cookie: Option<&str>| -> (Vec<String>, String) {
        let h = cookie.map(|c| format!("cookie: JSESSIONID={c}"));
        let url = format!("http://127.0.0.1:{p}/");
        let mut args = vec![version, "-s", "-i"];
        if let Some(h) = &h {
            args.extend(["-H", h.as_str()]);
        }
        args.push(&url);
        let out = curl(&args).1;
        let (head, body) = out.split_once("\r\n\r\n").unwrap_or((&out, ""));
        let sets = head
            .lines()
            .filter_map(|l| {
                let (n, v) = l.split_once(": ")?;
                (n.eq_ignore_ascii_case("set-cookie") || n.eq_ignore_ascii_case("cache-control"))
                    .then(|| format!("{}: {v}", n.to_ascii_lowercase()))
            })
            .collect();
        (sets, body.to_string())
    };
    // prefix: the identifier before the application's own value, taken off on the way
    // back; `nocache` marks the answer that sets it private.
    let p = ports[0];
    let (sets, body) = get("--http1.1", p, None);
    let (server, id) = if body.starts_with("alpha") {
        ("alpha", "s1")
    } else {
        ("bravo", "s2")
    };
    let session = format!("{server}.1");
    assert_eq!(
        sets,
        [
            format!("set-cookie: JSESSIONID={id}~{session}; Path=/; HttpOnly"),
            "cache-control: private".to_string()
        ],
        "{body}"
    );
    for version in [
        "--http1.1",
        "--http2-prior-knowledge",
        "--http1.1",
        "--http2-prior-knowledge",
    ] {
        let (sets, body) = get(version, p, Some(&format!("{id}~{session}")));
        assert_eq!(body, format!("{server} {session}"), "{version}");
        assert!(sets.is_empty(), "{version}: {sets:?}");
    }
    // rewrite: the server's value replaced with its identifier, which then leads there.
    let p = ports[1];
    let (sets, body) = get("--http2-prior-knowledge", p, None);
    let (server, id) = if body.starts_with("alpha") {
        ("alpha", "s1")
    } else {
        ("bravo", "s2")
    };
    assert_eq!(
        sets,
        [format!("set-cookie: JSESSIONID={id}; Path=/; HttpOnly")],
        "{body}"
    );
    for version in ["--http1.1", "--http2-prior-knowledge", "--http1.1"] {
        let (_, body) = get(version, p, Some(id));
        assert_eq!(body, format!("{server} {id}"), "{version}");
    }
    // insert: the load balancer's cookie instead of the server's.
    let p = ports[2];
    for version in ["--http1.1", "--http2-prior-knowledge"] {
        let (sets, body) = get(version, p, None);
        let id = if body.starts_with("alpha") {
            "s1"
        } else {
            "s2"
        };
        assert_eq!(
            sets,
            [format!("set-cookie: JSESSIONID={id}; path=/")],
            "{version} {body}"
        );
    }
    // insert preserve: the server's cookie passes, none is inserted.
    let p = ports[3];
    for version in ["--http1.1", "--http2-prior-knowledge"] {
        let (sets, body) = get(version, p, None);
        let server = &body[..5];
        assert_eq!(sets.len(), 1, "{version}: {sets:?}");
        assert!(
            sets[0].starts_with(&format!("set-cookie: JSESSIONID={server}.")),
            "{version}: {sets:?}"
        );
    }
    e.stop(Duration::ZERO);
}

/// `slowstart` (here from `default-server`): a server back from maintenance gets a
/// share of the requests that grows with the time since (10 s here: two seconds in, it
/// weighs about a fifth of its weight and gets some of forty requests where round
/// robin would give it half), and `show stat` tells its `throttle`; the load
/// balancer's start is no comeback.
#[test]
fn lb_slowstart_ramps_a_returning_servers_share() {
    let a = HttpBackend::start("alpha");
    let b = HttpBackend::start("bravo");
    let p = free_port();
    let dir = tempfile::tempdir().expect("tmp");
    let sock = dir.path().join("admin.sock");
    let cfg = format!(
        "global\n stats socket {sock} level admin\n\
         defaults\n mode http\n timeout connect 1s\n timeout client 5s\n timeout server 5s\n\
         frontend fe\n bind 127.0.0.1:{p}\n default_backend be\n\
         backend be\n balance roundrobin\n default-server weight 100 slowstart 10s\n\
         server a {a}\n server b {b}\n",
        sock = sock.display(),
        a = a.addr,
        b = b.addr,
    );
    let e = start_engine(&cfg);
    let cmd = |c: &str| admin_command(&sock, c).expect("admin");
    let alphas = || {
        (0..40)
            .filter(|_| curl(&["-s", &format!("http://127.0.0.1:{p}/")]).1 == "alpha")
            .count()
    };
    // At start, both at full weight.
    assert_eq!(alphas(), 20);
    cmd("disable server be/a");
    assert_eq!(alphas(), 0);
    cmd("enable server be/a");
    std::thread::sleep(Duration::from_secs(2));
    let n = alphas();
    assert!(
        (1..=15).contains(&n),
        "alpha got {n} of 40 right after its return"
    );
    let stat = cmd("show stat");
    let row: Vec<&str> = stat
        .lines()
        .find(|l| l.starts_with("be,a,"))
        .expect("row")
        .split(',')
        .collect();
    // throttle is the 30th field.
    let throttle: u32 = row[29]
        .parse()
        .unwrap_or_else(|_| panic!("throttle: {stat}"));
    assert!(throttle < 100, "{stat}");
    let b_row = stat.lines().find(|l| l.starts_with("be,b,")).expect("row");
    assert_eq!(b_row.split(',').nth(29), Some(""), "{stat}");
    e.stop(Duration::ZERO);
}

/// `http-reuse` and `pool-max-conn`, counted at the server, over HTTP/1.1 and HTTP/2.
/// Three clients one after the other, one request each: `always` sends them all on
/// one server connection; `safe` (the default) and `aggressive` give each client's
/// first request a connection of its own, as does `pool-max-conn 0`, which keeps none.
/// Then three clients of two requests each: with `never` a client's connection is its
/// own, both of its requests on it.
#[test]
fn lb_http_reuse_modes_share_server_connections_as_configured() {
    let modes = ["always", "safe", "aggressive", "never", "always"];
    let servers: Vec<HttpBackend> = modes.iter().map(|m| HttpBackend::start(m)).collect();
    let ports: Vec<u16> = modes.iter().map(|_| free_port()).collect();
    let mut cfg = String::from(
        "defaults\n mode http\n timeout connect 1s\n timeout client 5s\n timeout server 5s\n",
    );
    for (i, m) in modes.iter().enumerate() {
        let pool = if i == 4 { " pool-max-conn 0" } else { "" };
        cfg.push_str(&format!(
            "listen l{i}\n bind 127.0.0.1:{}\n http-reuse {m}\n server s {}{pool}\n",
            ports[i], servers[i].addr
        ));
    }
    let e = start_engine(&cfg);
    let made = |version: &str, requests: usize| -> Vec<usize> {
        let before: Vec<usize> = servers.iter().map(HttpBackend::connections).collect();
        for p in &ports {
            for _ in 0..3 {
                let url = format!("http://127.0.0.1:{p}/");
                let mut args = vec![version, "-s", "-f"];
                args.extend(std::iter::repeat_n(url.as_str(), requests));
                let (ok, out) = curl(&args);
                assert!(ok, "{version}: {out}");
            }
        }
        servers
            .iter()
            .zip(&before)
            .map(|(s, b)| s.connections() - b)
            .collect()
    };
    for version in ["--http1.1", "--http2-prior-knowledge"] {
        let m = made(version, 1);
        assert_eq!((m[0], m[1], m[2], m[4]), (1, 3, 3, 3), "{version}: {m:?}");
    }
    // (curl 7.88 cannot send a second request on an HTTP/2 connection it opened with
    // prior knowledge: two requests per client over HTTP/1.1 only.)
    assert_eq!(made("--http1.1", 2)[3], 3);
    e.stop(Duration::ZERO);
}

/// `track`: a server with no checks of its own follows the one it tracks, in its own
/// backend or another (here through a chain of two): down with it, its traffic going
/// to the other server, and up again with it; `show stat` tells whom it tracks.
#[test]
fn lb_tracking_servers_follow_the_server_they_track() {
    let mut a = HttpBackend::start("alpha");
    let b = HttpBackend::start("bravo");
    let a_addr = a.addr;
    let (p, q) = (free_port(), free_port());
    let cfg = format!(
        "defaults\n mode http\n timeout connect 1s\n timeout client 5s\n timeout server 5s\n\
         backend db\n server a {a_addr} check inter 100 rise 1 fall 1\n server b {b} check inter 100\n\
         backend db-ro\n server a {a_addr} track db/a\n server b {b} track db/b\n\
         listen ro\n bind 127.0.0.1:{p}\n server a {a_addr} track db-ro/a\n server b {b} track db/b\n\
         frontend rw\n bind 127.0.0.1:{q}\n default_backend db-ro\n",
        b = b.addr
    );
    let e = start_engine(&cfg);
    let all = |want: &str| {
        ["db", "db-ro", "ro"]
            .iter()
            .all(|be| status(&e, be, "a") == want)
    };
    assert!(wait_until(Duration::from_secs(5), || all("UP")));
    let names = |port: u16| {
        let mut seen = std::collections::BTreeSet::new();
        for _ in 0..6 {
            seen.insert(curl(&["-s", &format!("http://127.0.0.1:{port}/")]).1);
        }
        seen.into_iter().collect::<Vec<_>>().join(",")
    };
    assert_eq!(names(p), "alpha,bravo");
    a.kill(false);
    assert!(wait_until(Duration::from_secs(5), || all("DOWN")));
    assert_eq!(names(p), "bravo");
    assert_eq!(names(q), "bravo");
    let stats = halo_lb::engine::stats::snapshot(e.shared());
    let row = stats
        .iter()
        .find(|r| r.pxname == "ro" && r.svname == "a")
        .expect("row");
    assert_eq!(row.tracked, "db-ro/a");
    let _a = HttpBackend::start_on("alpha", a_addr).expect("alpha again");
    assert!(wait_until(Duration::from_secs(5), || all("UP")));
    assert_eq!(names(q), "alpha,bravo");
    e.stop(Duration::ZERO);
}

/// `option http-buffer-request`: the rules read the request's body (`req.body`,
/// `req.body_len`, `req.body_param`, `json_query`), sent over HTTP/1.1 with a length or
/// chunked, or over HTTP/2; a rule refuses by what the body holds; the server still
/// gets the body whole; a body that never comes whole ends in a 408 once `timeout
/// client` passes.
#[test]
fn lb_buffered_request_bodies_are_read_by_the_rules() {
    let a = HttpBackend::start("alpha");
    let p = free_port();
    let cfg = format!(
        "defaults\n mode http\n timeout connect 1s\n timeout client 1s\n timeout server 5s\n\
         frontend fe\n bind 127.0.0.1:{p}\n option http-buffer-request\n\
         http-request deny deny_status 403 if {{ req.body -m sub DROP }}\n\
         http-request set-header x-iss %[req.body,json_query('$.iss')] if {{ req.body,json_query('$.iss') -m found }}\n\
         http-request set-header x-user %[req.body_param(user)] if {{ req.body_param(user) -m found }}\n\
         http-request set-header x-len %[req.body_len]\n\
         default_backend be\n\
         backend be\n server a {a}\n",
        a = a.addr
    );
    let e = start_engine(&cfg);
    let post = |path: &str, body: &str, how: &str| {
        let url = format!("http://127.0.0.1:{p}{path}");
        let mut args = vec!["-s", "-w", "\n%{http_code}", "--data-binary", body];
        match how {
            "chunked" => args.extend(["--http1.1", "-H", "Transfer-Encoding: chunked"]),
            "h2" => args.push("--http2-prior-knowledge"),
            _ => args.push("--http1.1"),
        }
        args.push(&url);
        curl(&args).1
    };
    for how in ["length", "chunked", "h2"] {
        let out = post("/headers", r#"{"iss":"kubernetes.io/serviceaccount"}"#, how);
        let low = out.to_ascii_lowercase();
        assert!(
            low.contains("x-iss: kubernetes.io/serviceaccount")
                && low.contains("x-len: 38")
                && out.ends_with("200"),
            "{how}: {out}"
        );
        let out = post("/headers", "user=alice&role=admin", how);
        assert!(
            out.to_ascii_lowercase().contains("x-user: alice"),
            "{how}: {out}"
        );
        assert!(
            post("/", "'; DROP TABLE users", how).ends_with("403"),
            "{how}"
        );
        // The server gets the body as it was sent.
        assert_eq!(post("/", "hello body", how), "hello body\n200", "{how}");
    }
    // A body announced but never sent whole.
    let mut c = std::net::TcpStream::connect(("127.0.0.1", p)).expect("connect");
    c.write_all(b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\nabc")
        .expect("write");
    let mut got = String::new();
    let _ = c.read_to_string(&mut got);
    assert!(got.starts_with("HTTP/1.1 408"), "{got}");
    e.stop(Duration::ZERO);
}

/// `balance hash EXPR`: each tenant's requests (by a header) all go to one server, over
/// HTTP/1.1 and HTTP/2, while the tenants spread over the servers; requests without the
/// header are spread round robin; in `mode tcp`, `balance hash src` keeps a client on
/// one server.
#[test]
fn lb_balance_hash_keeps_a_samples_requests_on_one_server() {
    let servers: Vec<HttpBackend> = ["alpha", "bravo", "charlie"]
        .iter()
        .map(|n| HttpBackend::start(n))
        .collect();
    let (p, q) = (free_port(), free_port());
    let list: String = servers
        .iter()
        .enumerate()
        .map(|(i, s)| format!(" server s{i} {}\n", s.addr))
        .collect();
    let cfg = format!(
        "defaults\n timeout connect 1s\n timeout client 5s\n timeout server 5s\n\
         listen h\n mode http\n bind 127.0.0.1:{p}\n balance hash req.hdr(x-tenant)\n{list}\
         listen t\n mode tcp\n bind 127.0.0.1:{q}\n balance hash src\n{list}"
    );
    let e = start_engine(&cfg);
    let get = |version: &str, tenant: Option<&str>| {
        let h = tenant.map(|t| format!("x-tenant: {t}"));
        let url = format!("http://127.0.0.1:{p}/");
        let mut args = vec![version, "-s"];
        if let Some(h) = &h {
            args.extend(["-H", h.as_str()]);
        }
        args.push(&url);
        curl(&args).1
    };
    let mut used = std::collections::BTreeSet::new();
    for t in ["t1", "t2", "t3", "t4", "t5", "t6", "t7", "t8"] {
        let first = get("--http1.1", Some(t));
        for version in ["--http1.1", "--http2-prior-knowledge", "--http1.1"] {
            assert_eq!(get(version, Some(t)), first, "{t} {version}");
        }
        used.insert(first);
    }
    assert!(used.len() >= 2, "tenants all on {used:?}");
    let spread: std::collections::BTreeSet<String> =
        (0..3).map(|_| get("--http1.1", None)).collect();
    assert_eq!(spread.len(), 3, "{spread:?}");
    // mode tcp: every connection of this client to one server.
    let tcp: std::collections::BTreeSet<String> = (0..6)
        .map(|_| {
            let (_, _, body) = http_get(format!("127.0.0.1:{q}").parse().expect("addr"), "/", None)
                .expect("tcp request");
            String::from_utf8_lossy(&body).to_string()
        })
        .collect();
    assert_eq!(tcp.len(), 1, "{tcp:?}");
    e.stop(Duration::ZERO);
}

/// A server that answers each HTTP/1.1 request with the address its connection came
/// from, and counts its connections by that address.
fn peer_telling_server() -> (
    std::net::SocketAddr,
    std::sync::Arc<std::sync::Mutex<Vec<String>>>,
) {
    let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = l.local_addr().expect("addr");
    let seen = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let s2 = seen.clone();
    std::thread::spawn(move || {
        for c in l.incoming().flatten() {
            let peer = c
                .peer_addr()
                .map(|a| a.ip().to_string())
                .unwrap_or_default();
            s2.lock().expect("seen").push(peer.clone());
            std::thread::spawn(move || {
                let mut c = c;
                loop {
                    let head = read_head(&mut c);
                    if head.is_empty() {
                        break;
                    }
                    let reply = format!(
                        "HTTP/1.1 200 OK\r\ncontent-length: {}\r\n\r\n{peer}",
                        peer.len()
                    );
                    if c.write_all(reply.as_bytes()).is_err() {
                        break;
                    }
                }
            });
        }
    });
    (addr, seen)
}

/// `source ADDR`: connections to the servers, health checks included, come from that
/// address (a backend's, or a server's own first).
#[test]
fn lb_source_sets_where_server_connections_come_from() {
    let (a, seen_a) = peer_telling_server();
    let (b, seen_b) = peer_telling_server();
    let (p, q) = (free_port(), free_port());
    let cfg = format!(
        "defaults\n mode http\n timeout connect 1s\n timeout client 5s\n timeout server 5s\n\
         listen one\n bind 127.0.0.1:{p}\n source 127.0.0.7\n server a {a} check inter 200\n\
         listen two\n bind 127.0.0.1:{q}\n source 127.0.0.7\n server b {b} source 127.0.0.8\n"
    );
    let e = start_engine(&cfg);
    assert_eq!(
        curl(&["-s", &format!("http://127.0.0.1:{p}/")]).1,
        "127.0.0.7"
    );
    assert_eq!(
        curl(&["-s", &format!("http://127.0.0.1:{q}/")]).1,
        "127.0.0.8"
    );
    // The checks too.
    assert!(wait_until(Duration::from_secs(5), || seen_a
        .lock()
        .expect("seen")
        .len()
        >= 3));
    assert!(seen_a
        .lock()
        .expect("seen")
        .iter()
        .all(|s| s == "127.0.0.7"));
    assert!(seen_b
        .lock()
        .expect("seen")
        .iter()
        .all(|s| s == "127.0.0.8"));
    e.stop(Duration::ZERO);
}

/// A server that answers one request per connection and then tells how the load
/// balancer closed it: `true` for a reset, `false` for an orderly close.
fn close_watching_server() -> (std::net::SocketAddr, std::sync::mpsc::Receiver<bool>) {
    let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = l.local_addr().expect("addr");
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for mut c in l.incoming().flatten() {
            let _ = read_head(&mut c);
            let _ = c.write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok");
            let mut b = [0u8; 64];
            let reset = loop {
                match c.read(&mut b) {
                    Ok(0) => break false,
                    Ok(_) => continue,
                    Err(e) => break e.kind() == std::io::ErrorKind::ConnectionReset,
                }
            };
            let _ = tx.send(reset);
        }
    });
    (addr, rx)
}

/// `option nolinger`: a server connection the load balancer closes (here after each
/// answer, `http-server-close`) is reset; without it, closed in order.
#[test]
fn lb_nolinger_resets_the_connections_it_closes() {
    let (a, closes_a) = close_watching_server();
    let (b, closes_b) = close_watching_server();
    let (p, q) = (free_port(), free_port());
    let cfg = format!(
        "defaults\n mode http\n option http-server-close\n timeout connect 1s\n timeout client 5s\n timeout server 5s\n\
         listen hard\n bind 127.0.0.1:{p}\n option nolinger\n server a {a}\n\
         listen soft\n bind 127.0.0.1:{q}\n server b {b}\n"
    );
    let e = start_engine(&cfg);
    assert_eq!(curl(&["-s", &format!("http://127.0.0.1:{p}/")]).1, "ok");
    assert_eq!(curl(&["-s", &format!("http://127.0.0.1:{q}/")]).1, "ok");
    let wait = Duration::from_secs(5);
    assert_eq!(closes_a.recv_timeout(wait), Ok(true), "nolinger: reset");
    assert_eq!(
        closes_b.recv_timeout(wait),
        Ok(false),
        "default: orderly close"
    );
    e.stop(Duration::ZERO);
}
