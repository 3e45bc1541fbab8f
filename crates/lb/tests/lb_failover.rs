//! Failover: dead servers, retries and redispatch, backups, passive checks, queueing.

mod common;
use common::*;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

/// Runs `threads` clients doing `per_thread` requests each (new connection per request)
/// and calls `mid` once a third of them are done. Returns (ok, failed, bodies seen).
fn load(
    addr: SocketAddr,
    threads: usize,
    per_thread: usize,
    mid: impl FnOnce(),
) -> (u64, u64, Vec<String>) {
    let ok = Arc::new(AtomicU64::new(0));
    let failed = Arc::new(AtomicU64::new(0));
    let done = Arc::new(AtomicU64::new(0));
    let bodies = Arc::new(std::sync::Mutex::new(Vec::new()));
    let mut hs = Vec::new();
    for _ in 0..threads {
        let (ok, failed, done, bodies) = (ok.clone(), failed.clone(), done.clone(), bodies.clone());
        hs.push(std::thread::spawn(move || {
            for _ in 0..per_thread {
                match http_get(addr, "/", None) {
                    Ok((200, _, b)) => {
                        ok.fetch_add(1, Ordering::SeqCst);
                        bodies
                            .lock()
                            .unwrap_or_else(|e| e.into_inner())
                            .push(String::from_utf8_lossy(&b).to_string());
                    }
                    Ok((s, _, _)) => {
                        eprintln!("status {s}");
                        failed.fetch_add(1, Ordering::SeqCst);
                    }
                    Err(e) => {
                        eprintln!("error {e}");
                        failed.fetch_add(1, Ordering::SeqCst);
                    }
                }
                done.fetch_add(1, Ordering::SeqCst);
            }
        }));
    }
    let third = (threads * per_thread / 3) as u64;
    assert!(wait_until(Duration::from_secs(60), || done
        .load(Ordering::SeqCst)
        >= third));
    mid();
    for h in hs {
        h.join().expect("client thread");
    }
    let b = bodies.lock().unwrap_or_else(|e| e.into_inner()).clone();
    (ok.load(Ordering::SeqCst), failed.load(Ordering::SeqCst), b)
}

fn killed_backend_under_load(mode: &str) {
    let mut a = HttpBackend::start("alpha");
    let b = HttpBackend::start("bravo");
    let c = HttpBackend::start("charlie");
    let p = free_port();
    // The reference's settings: slow checks (inter 2000 fall 5), retries 3, redispatch.
    let cfg = format!(
        "defaults\n mode {mode}\n option redispatch\n retries 3\n timeout connect 2s\n timeout client 10s\n timeout server 10s\n\
         listen app\n bind 127.0.0.1:{p}\n balance roundrobin\n\
         server a {} check inter 2000 rise 2 fall 5\n server b {} check inter 2000 rise 2 fall 5\n server c {} check inter 2000 rise 2 fall 5\n",
        a.addr, b.addr, c.addr
    );
    let e = start_engine(&cfg);
    let addr = format!("127.0.0.1:{p}").parse().expect("addr");
    // In tcp mode a session already on the server when it dies cannot be saved by any
    // proxy (its bytes went there); the promise is about every new connection.
    let (ok, failed, bodies) = load(addr, 4, 150, || a.kill(mode == "http"));
    assert_eq!(failed, 0, "{failed} client requests failed ({ok} ok)");
    assert_eq!(ok, 600);
    assert!(
        bodies.iter().any(|b| b == "alpha"),
        "alpha served before it died"
    );
    let after_kill = bodies
        .iter()
        .rev()
        .take(100)
        .filter(|b| *b == "alpha")
        .count();
    assert_eq!(after_kill, 0, "no answer from the dead server at the end");
    e.stop(Duration::ZERO);
}

/// A server killed under load in `mode tcp`: retries with redispatch send every new
/// connection elsewhere, so no client request fails even before checks notice.
#[test]
fn lb_killed_backend_under_load_fails_no_request_tcp() {
    killed_backend_under_load("tcp");
}

/// Same in `mode http`, including requests that were about to reuse a kept-alive
/// connection to the dead server.
#[test]
fn lb_killed_backend_under_load_fails_no_request_http() {
    killed_backend_under_load("http");
}

/// Sends `GET /` on a kept-alive connection and reads until the answer's body, one of
/// the servers' `names`; returns that name.
fn ask_on(c: &mut TcpStream, names: &[&str]) -> String {
    c.write_all(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        .expect("write");
    let mut got = Vec::new();
    let mut buf = [0u8; 512];
    loop {
        if let Some(n) = names.iter().find(|n| got.ends_with(n.as_bytes())) {
            return n.to_string();
        }
        let n = c.read(&mut buf).expect("answer");
        assert!(n > 0, "closed early");
        got.extend_from_slice(&buf[..n]);
    }
}

fn one(addr: SocketAddr) -> String {
    String::from_utf8_lossy(&http_get(addr, "/", None).expect("request").2).to_string()
}

/// Backups are used only when every active server is down (the first backup alone),
/// and the active server takes over again when it recovers; `on-marked-up
/// shutdown-backup-sessions` then closes sessions still on the backup.
#[test]
fn lb_backups_take_over_only_when_actives_are_down_and_give_back() {
    let mut a = HttpBackend::start("alpha");
    let a_addr = a.addr;
    let b = HttpBackend::start("bravo");
    let c = HttpBackend::start("charlie");
    let p = free_port();
    let cfg = format!(
        "defaults\n mode tcp\n option redispatch\n retries 3\n timeout connect 2s\n timeout client 30s\n timeout server 30s\n\
         listen galera\n bind 127.0.0.1:{p}\n balance source\n\
         server a {} check inter 100 rise 2 fall 2 on-marked-up shutdown-backup-sessions\n server b {} backup check inter 100 rise 2 fall 2\n server c {} backup check inter 100 rise 2 fall 2\n",
        a.addr, b.addr, c.addr
    );
    let e = start_engine(&cfg);
    let addr: SocketAddr = format!("127.0.0.1:{p}").parse().expect("addr");
    assert!(wait_until(Duration::from_secs(5), || status(
        &e, "galera", "a"
    ) == "UP"));
    for _ in 0..10 {
        assert_eq!(one(addr), "alpha");
    }
    a.kill(true);
    assert!(wait_until(Duration::from_secs(5), || status(
        &e, "galera", "a"
    ) == "DOWN"));
    for _ in 0..10 {
        assert_eq!(one(addr), "bravo", "only the first backup serves");
    }
    // A long session on the backup (keep-alive through the TCP proxy).
    let mut held = TcpStream::connect(addr).expect("connect");
    held.set_read_timeout(Some(Duration::from_secs(10)))
        .expect("timeout");
    held.write_all(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        .expect("write");
    let mut buf = [0u8; 512];
    let mut got = Vec::new();
    while !got.ends_with(b"bravo") {
        let n = held.read(&mut buf).expect("answer from the backup");
        assert!(n > 0, "closed early");
        got.extend_from_slice(&buf[..n]);
    }
    // The active server comes back on its address.
    let _a2 = HttpBackend::start_on("alpha", a_addr).expect("restart alpha");
    assert!(wait_until(Duration::from_secs(5), || status(
        &e, "galera", "a"
    ) == "UP"));
    for _ in 0..10 {
        assert_eq!(one(addr), "alpha", "given back to the active server");
    }
    // The backup session was shut down when alpha came back.
    let n = held.read(&mut buf).unwrap_or(0);
    assert_eq!(n, 0, "backup session closed");
    e.stop(Duration::ZERO);
}

/// Servers whose host the cluster holds back (in standby, or back and not settled)
/// take no new sessions while another server can (here the backup, as when the Galera
/// writer's controller goes into standby); their open sessions go on; when every server
/// is held they serve as before; released, they take sessions again.
#[test]
fn lb_held_hosts_take_no_new_sessions_while_another_server_can() {
    let a = HttpBackend::start_on("alpha", "127.0.0.2:0".parse().expect("addr")).expect("alpha");
    let b = HttpBackend::start_on("bravo", "127.0.0.3:0".parse().expect("addr")).expect("bravo");
    let p = free_port();
    let cfg = format!(
        "defaults\n mode tcp\n option redispatch\n retries 3\n timeout connect 2s\n timeout client 30s\n timeout server 30s\n\
         listen galera\n bind 127.0.0.1:{p}\n balance source\n\
         server a {} check inter 100 rise 2 fall 2\n server b {} backup check inter 100 rise 2 fall 2\n",
        a.addr, b.addr
    );
    let e = start_engine(&cfg);
    let addr: SocketAddr = format!("127.0.0.1:{p}").parse().expect("addr");
    assert!(wait_until(Duration::from_secs(5), || status(
        &e, "galera", "a"
    ) == "UP"));
    assert_eq!(one(addr), "alpha");
    // A long session on alpha, open before the hold.
    let mut open = TcpStream::connect(addr).expect("connect");
    open.set_read_timeout(Some(Duration::from_secs(10)))
        .expect("timeout");
    let ask = |c: &mut TcpStream| ask_on(c, &["alpha", "bravo"]);
    assert_eq!(ask(&mut open), "alpha");

    assert_eq!(e.hold_hosts(&[a.addr.ip()]), 1);
    assert_eq!(status(&e, "galera", "a"), "DRAIN");
    for _ in 0..10 {
        assert_eq!(one(addr), "bravo", "new sessions go to the backup");
    }
    assert_eq!(ask(&mut open), "alpha", "the open session goes on");

    // Every server held: nothing else can take them, they serve.
    assert_eq!(e.hold_hosts(&[a.addr.ip(), b.addr.ip()]), 2);
    assert_eq!(one(addr), "alpha");

    assert_eq!(e.hold_hosts(&[]), 0);
    assert_eq!(status(&e, "galera", "a"), "UP");
    for _ in 0..10 {
        assert_eq!(one(addr), "alpha", "released");
    }
    e.stop(Duration::ZERO);
}

/// `stick on dst` with a `stick-table type ip size 1`, as deployment tools keep Galera
/// on one writer: every connection to the address goes where the first went, though
/// the balance is round robin; when that server dies they all move to one other, and
/// stay there after it comes back (no flapping back to a node that must catch up).
#[test]
fn lb_stick_on_dst_keeps_every_client_on_one_server() {
    let names = ["alpha", "bravo", "charlie"];
    let mut servers: Vec<HttpBackend> = names
        .iter()
        .enumerate()
        .map(|(i, n)| {
            let at: SocketAddr = format!("127.0.0.{}:0", i + 2).parse().expect("addr");
            HttpBackend::start_on(n, at).expect("backend")
        })
        .collect();
    let p = free_port();
    let mut cfg = format!(
        "defaults\n mode tcp\n timeout connect 2s\n timeout client 30s\n timeout server 30s\n\
         listen galera\n bind 127.0.0.1:{p}\n balance roundrobin\n\
         stick-table type ip size 1 expire 1h\n stick on dst\n"
    );
    for (n, s) in names.iter().zip(&servers) {
        cfg.push_str(&format!(
            " server {n} {} check inter 100 rise 1 fall 1\n",
            s.addr
        ));
    }
    let e = start_engine(&cfg);
    let addr: SocketAddr = format!("127.0.0.1:{p}").parse().expect("addr");
    assert!(wait_until(Duration::from_secs(5), || names
        .iter()
        .all(|n| status(&e, "galera", n) == "UP")));
    let first = one(addr);
    for _ in 0..10 {
        assert_eq!(one(addr), first, "round robin, but stuck");
    }
    let dead = names
        .iter()
        .position(|n| *n == first)
        .expect("a known server");
    let dead_addr = servers[dead].addr;
    servers[dead].kill(true);
    assert!(wait_until(Duration::from_secs(5), || status(
        &e, "galera", &first
    ) == "DOWN"));
    let next = one(addr);
    assert_ne!(next, first);
    for _ in 0..10 {
        assert_eq!(one(addr), next, "stuck to the new one");
    }
    servers[dead] = HttpBackend::start_on(names[dead], dead_addr).expect("back");
    assert!(wait_until(Duration::from_secs(5), || status(
        &e, "galera", &first
    ) == "UP"));
    for _ in 0..10 {
        assert_eq!(one(addr), next, "no flapping back");
    }
    e.stop(Duration::ZERO);
}

/// A listener that never answers a SYN, as a host whose cable is out: the test's own
/// socket filter drops every packet it would get.
fn black_hole(ip: &str) -> (std::net::TcpListener, SocketAddr) {
    let l = std::net::TcpListener::bind(format!("{ip}:0")).expect("bind");
    let drop_all = [socket2::SockFilter::new(0x06, 0, 0, 0)];
    socket2::SockRef::from(&l)
        .attach_filter(&drop_all)
        .expect("filter");
    let addr = l.local_addr().expect("addr");
    (l, addr)
}

/// A connection being made to a server whose host the cluster then declares lost (its
/// SYNs unanswered: the cable is out) is given up at once and redispatched, nothing
/// having been sent: the client is served by the other server, long before `timeout
/// connect`. Before, the session waited out the connect timeout (longer here than the
/// client waits).
#[test]
fn lb_connection_being_made_to_a_lost_host_is_redispatched() {
    let (_hole, dead) = black_hole("127.0.0.2");
    let b = HttpBackend::start_on("bravo", "127.0.0.3:0".parse().expect("addr")).expect("bravo");
    let p = free_port();
    let cfg = format!(
        "defaults\n mode tcp\n option redispatch\n retries 3\n timeout connect 60s\n timeout client 30s\n timeout server 30s\n\
         listen api\n bind 127.0.0.1:{p}\n balance first\n server a {dead}\n server b {}\n",
        b.addr
    );
    let e = start_engine(&cfg);
    let addr: SocketAddr = format!("127.0.0.1:{p}").parse().expect("addr");
    let asked = std::thread::spawn(move || http_get(addr, "/", None));
    // The request waits on the connection to `a`; then `a`'s host is lost.
    std::thread::sleep(Duration::from_millis(500));
    assert!(!asked.is_finished(), "answered before the host was lost");
    assert_eq!(e.hosts_lost(&[dead.ip()]), 1);
    let (code, _, body) = asked
        .join()
        .expect("client thread")
        .expect("the request was answered within the client's 10 s");
    assert_eq!(
        (code, String::from_utf8_lossy(&body).to_string()),
        (200, "bravo".into())
    );
    e.stop(Duration::ZERO);
}

/// `quiesce` pauses the listeners on an address, as a planned move of the VIP does
/// before the address leaves: a new connection gets no answer to its SYN (the client
/// retries later, when the VIP answers elsewhere; it is not refused), while a session
/// already open goes on and is counted until it closes; dropped, the listener serves
/// again.
#[test]
fn lb_quiesced_listener_takes_no_connection_and_open_sessions_go_on() {
    let a = HttpBackend::start_on("alpha", "127.0.0.2:0".parse().expect("addr")).expect("alpha");
    let p = free_port();
    let cfg = format!(
        "defaults\n mode tcp\n timeout connect 2s\n timeout client 30s\n timeout server 30s\n\
         listen api\n bind 127.0.0.1:{p}\n server a {}\n",
        a.addr
    );
    let e = start_engine(&cfg);
    let addr: SocketAddr = format!("127.0.0.1:{p}").parse().expect("addr");
    let mut open = TcpStream::connect(addr).expect("connect");
    open.set_read_timeout(Some(Duration::from_secs(10)))
        .expect("timeout");
    let ask = |c: &mut TcpStream| ask_on(c, &["alpha"]);
    ask(&mut open);

    assert!(
        e.quiesce("127.0.0.2".parse().expect("ip")).is_empty(),
        "no listener there"
    );
    let q = e.quiesce(addr.ip());
    assert!(!q.is_empty());
    assert_eq!(q.sessions(), 1);
    let new = TcpStream::connect_timeout(&addr, Duration::from_millis(300));
    assert_eq!(
        new.map_err(|e| e.kind()).err(),
        Some(std::io::ErrorKind::TimedOut),
        "a new connection's SYN goes unanswered"
    );
    ask(&mut open);
    drop(open);
    assert!(wait_until(Duration::from_secs(5), || q.sessions() == 0));
    drop(q);
    assert_eq!(one(addr), "alpha", "the listener serves again");
    e.stop(Duration::ZERO);
}

/// `observe layer4 error-limit 1 on-error mark-down`: the first failed connection marks
/// the server down at once, long before the next active check (inter 60s).
#[test]
fn lb_passive_check_marks_a_dead_server_down_on_the_first_failure() {
    let mut a = HttpBackend::start("alpha");
    let b = HttpBackend::start("bravo");
    let p = free_port();
    let cfg = format!(
        "defaults\n mode http\n option redispatch\n retries 2\n timeout connect 2s\n timeout client 10s\n timeout server 10s\n\
         listen app\n bind 127.0.0.1:{p}\n balance roundrobin\n option http-server-close\n\
         default-server check inter 60s observe layer4 error-limit 1 on-error mark-down\n server a {}\n server b {}\n",
        a.addr, b.addr
    );
    let e = start_engine(&cfg);
    let addr: SocketAddr = format!("127.0.0.1:{p}").parse().expect("addr");
    assert!(wait_until(Duration::from_secs(3), || status(
        &e, "app", "a"
    ) == "UP"
        && status(&e, "app", "b") == "UP"));
    a.kill(true);
    let mut bodies = Vec::new();
    for _ in 0..6 {
        bodies.push(one(addr));
    }
    assert!(bodies.iter().all(|b| b == "bravo"), "{bodies:?}");
    assert_eq!(status(&e, "app", "a"), "DOWN");
    let rows = halo_lb::engine::stats::snapshot(e.shared());
    let ra = rows
        .iter()
        .find(|r| r.pxname == "app" && r.svname == "a")
        .expect("row");
    assert_eq!(
        ra.econ, 1,
        "exactly one connection was lost on the dead server"
    );
    e.stop(Duration::ZERO);
}

/// `on-marked-down shutdown-sessions`: sessions on a server that fails its checks are
/// closed, so clients reconnect to a live server.
#[test]
fn lb_marked_down_server_sessions_are_shut_down() {
    let mut a = HttpBackend::start("alpha");
    let p = free_port();
    let cfg = format!(
        "defaults\n mode tcp\n timeout connect 2s\n timeout client 30s\n timeout server 30s\n\
         listen app\n bind 127.0.0.1:{p}\n server a {} check inter 100 fall 1 on-marked-down shutdown-sessions\n",
        a.addr
    );
    let e = start_engine(&cfg);
    assert!(wait_until(Duration::from_secs(3), || status(
        &e, "app", "a"
    ) == "UP"));
    let mut held = TcpStream::connect(("127.0.0.1", p)).expect("connect");
    held.set_read_timeout(Some(Duration::from_secs(10)))
        .expect("timeout");
    held.write_all(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        .expect("write");
    let mut buf = [0u8; 512];
    let mut got = Vec::new();
    while !got.ends_with(b"alpha") {
        let n = held.read(&mut buf).expect("answer");
        assert!(n > 0, "closed early");
        got.extend_from_slice(&buf[..n]);
    }
    // Stop accepting only: the held connection stays open on the server side.
    a.kill(false);
    assert!(wait_until(Duration::from_secs(5), || status(
        &e, "app", "a"
    ) == "DOWN"));
    assert_eq!(held.read(&mut buf).unwrap_or(0), 0, "session shut down");
    e.stop(Duration::ZERO);
}

/// A server that takes requests and does not finish answering them: `/stall` gets
/// nothing, `/part` a head announcing 1000 bytes and 10 of them. It keeps every
/// connection open until dropped; `close_listener` makes its port refuse connections
/// (so that checks fail) while those connections stay.
struct StallingServer {
    addr: SocketAddr,
    requests: Arc<AtomicU64>,
    stop: Arc<std::sync::atomic::AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
    held: Arc<std::sync::Mutex<Vec<TcpStream>>>,
}

impl StallingServer {
    fn start() -> StallingServer {
        let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        l.set_nonblocking(true).expect("nonblocking");
        let addr = l.local_addr().expect("addr");
        let requests = Arc::new(AtomicU64::new(0));
        let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let held = Arc::new(std::sync::Mutex::new(Vec::new()));
        let (r2, s2, h2) = (requests.clone(), stop.clone(), held.clone());
        let thread = std::thread::spawn(move || {
            while !s2.load(Ordering::SeqCst) {
                let Ok((c, _)) = l.accept() else {
                    std::thread::sleep(Duration::from_millis(10));
                    continue;
                };
                let (r3, h3) = (r2.clone(), h2.clone());
                std::thread::spawn(move || {
                    let _ = c.set_nonblocking(false);
                    let mut c = c;
                    let mut head = Vec::new();
                    let mut b = [0u8; 1];
                    while !head.ends_with(b"\r\n\r\n") {
                        match c.read(&mut b) {
                            Ok(1) => head.push(b[0]),
                            _ => return, // a health check
                        }
                    }
                    if head.starts_with(b"GET /part ") {
                        let _ = c.write_all(
                            b"HTTP/1.1 200 OK\r\ncontent-length: 1000\r\n\r\n0123456789",
                        );
                    }
                    r3.fetch_add(1, Ordering::SeqCst);
                    h3.lock().unwrap_or_else(|e| e.into_inner()).push(c);
                });
            }
        });
        StallingServer {
            addr,
            requests,
            stop,
            thread: Some(thread),
            held,
        }
    }

    fn close_listener(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

impl Drop for StallingServer {
    fn drop(&mut self) {
        self.close_listener();
        self.held.lock().unwrap_or_else(|e| e.into_inner()).clear();
    }
}

/// Reads until the end of a response head; returns it with what followed.
fn read_head(c: &mut TcpStream) -> (String, Vec<u8>) {
    let mut got = Vec::new();
    let mut buf = [0u8; 1024];
    loop {
        if let Some(at) = got.windows(4).position(|w| w == b"\r\n\r\n") {
            let rest = got.split_off(at + 4);
            return (String::from_utf8_lossy(&got).into_owned(), rest);
        }
        let n = c.read(&mut buf).expect("a response head");
        assert!(n > 0, "closed before a head: {got:?}");
        got.extend_from_slice(&buf[..n]);
    }
}

/// `on-marked-down shutdown-sessions` in mode http: a request still waiting for its
/// answer gets a 502 (over HTTP/1.1 and HTTP/2), and an answer being sent is cut
/// short, as soon as the server is marked down (the server itself keeps the
/// connections open and silent).
#[test]
fn lb_marked_down_server_http_exchanges_are_shut_down() {
    let mut srv = StallingServer::start();
    let p = free_port();
    let cfg = format!(
        "defaults\n mode http\n timeout connect 2s\n timeout client 60s\n timeout server 60s\n\
         listen app\n bind 127.0.0.1:{p}\n server a {} check inter 100 fall 1 on-marked-down shutdown-sessions\n",
        srv.addr
    );
    let e = start_engine(&cfg);
    assert!(wait_until(Duration::from_secs(3), || status(
        &e, "app", "a"
    ) == "UP"));
    let connect = || {
        let c = TcpStream::connect(("127.0.0.1", p)).expect("connect");
        c.set_read_timeout(Some(Duration::from_secs(20)))
            .expect("timeout");
        c
    };
    let mut waiting = connect();
    waiting
        .write_all(b"GET /stall HTTP/1.1\r\nHost: x\r\n\r\n")
        .expect("write");
    let mut reading = connect();
    reading
        .write_all(b"GET /part HTTP/1.1\r\nHost: x\r\n\r\n")
        .expect("write");
    let (head, mut body) = read_head(&mut reading);
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    let url = format!("http://127.0.0.1:{p}/stall");
    let h2 = std::thread::spawn(move || {
        curl(&[
            "--http2-prior-knowledge",
            "-o",
            "/dev/null",
            "-w",
            "%{http_code}",
            &url,
        ])
    });
    assert!(wait_until(Duration::from_secs(5), || srv
        .requests
        .load(Ordering::SeqCst)
        == 3));
    srv.close_listener();
    assert!(wait_until(Duration::from_secs(5), || status(
        &e, "app", "a"
    ) == "DOWN"));
    let (head, _) = read_head(&mut waiting);
    assert!(head.starts_with("HTTP/1.1 502"), "{head}");
    let mut buf = [0u8; 2048];
    loop {
        match reading.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => body.extend_from_slice(&buf[..n]),
            Err(e) => panic!("the cut answer should end, not wait: {e}"),
        }
    }
    assert_eq!(body, b"0123456789", "the body ends short");
    let (_, code) = h2.join().expect("curl thread");
    assert_eq!(code, "502", "HTTP/2 client");
    e.stop(Duration::ZERO);
}

/// `maxconn` on a server queues the excess in the backend; `timeout queue` bounds the wait.
#[test]
fn lb_server_maxconn_queues_and_timeout_queue_bounds_the_wait() {
    let a = HttpBackend::start("alpha");
    let (p1, p2) = (free_port(), free_port());
    let cfg = format!(
        "defaults\n mode http\n timeout connect 2s\n timeout client 10s\n timeout server 10s\n\
         listen patient\n bind 127.0.0.1:{p1}\n timeout queue 10s\n server a {} maxconn 1\n\
         listen hasty\n bind 127.0.0.1:{p2}\n timeout queue 100ms\n server a {} maxconn 1\n",
        a.addr, a.addr
    );
    let e = start_engine(&cfg);
    let run = |port: u16| -> Vec<u16> {
        let hs: Vec<_> = (0..3)
            .map(|_| {
                std::thread::spawn(move || {
                    http_get(
                        format!("127.0.0.1:{port}").parse().expect("addr"),
                        "/slow",
                        None,
                    )
                    .map(|r| r.0)
                    .unwrap_or(0)
                })
            })
            .collect();
        hs.into_iter().map(|h| h.join().expect("thread")).collect()
    };
    let patient = run(p1);
    assert_eq!(
        patient,
        [200, 200, 200],
        "queued requests are served in turn"
    );
    let rows = halo_lb::engine::stats::snapshot(e.shared());
    let be = rows
        .iter()
        .find(|r| r.pxname == "patient" && r.svname == "BACKEND")
        .expect("row");
    assert!(be.qmax >= 1, "requests waited in the queue");
    let srv = rows
        .iter()
        .find(|r| r.pxname == "patient" && r.svname == "a")
        .expect("row");
    assert_eq!(
        srv.smax, 1,
        "never more than maxconn sessions on the server"
    );
    let hasty = run(p2);
    assert_eq!(hasty.iter().filter(|s| **s == 200).count(), 1, "{hasty:?}");
    assert_eq!(hasty.iter().filter(|s| **s == 503).count(), 2, "{hasty:?}");
    e.stop(Duration::ZERO);
}

/// `observe layer7`: server errors (5xx) in live responses count; `error-limit 2
/// on-error mark-down` takes the server out after two of them in a row.
#[test]
fn lb_layer7_observation_marks_a_failing_server_down() {
    let a = HttpBackend::start("alpha");
    let p = free_port();
    let cfg = format!(
        "defaults\n mode http\n timeout connect 2s\n timeout client 10s\n timeout server 10s\n\
         listen app\n bind 127.0.0.1:{p}\n server a {} check inter 60s observe layer7 error-limit 2 on-error mark-down\n",
        a.addr
    );
    let e = start_engine(&cfg);
    let addr: SocketAddr = format!("127.0.0.1:{p}").parse().expect("addr");
    assert!(wait_until(Duration::from_secs(3), || status(
        &e, "app", "a"
    ) == "UP"));
    assert_eq!(http_get(addr, "/status/503", None).expect("get").0, 503);
    assert_eq!(
        http_get(addr, "/status/404", None).expect("get").0,
        404,
        "4xx is not a server error"
    );
    assert_eq!(http_get(addr, "/status/500", None).expect("get").0, 500);
    assert_eq!(status(&e, "app", "a"), "UP", "errors must be consecutive");
    assert_eq!(http_get(addr, "/status/500", None).expect("get").0, 500);
    assert_eq!(status(&e, "app", "a"), "DOWN");
    assert_eq!(
        http_get(addr, "/", None).expect("get").0,
        503,
        "no server left"
    );
    e.stop(Duration::ZERO);
}
