//! Test support: small real servers and clients on loopback, and engine start-up.
#![allow(dead_code)]

use halo_lb::config::haproxy;
use halo_lb::engine::{Engine, EngineOptions};
use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// Open connections of a server, with their busy flags.
type Registry = Arc<Mutex<Vec<(TcpStream, Arc<AtomicBool>)>>>;

/// A small threaded HTTP/1.1 server (keep-alive): `/big` = 1 MiB, `/headers` echoes the
/// request head (so does `/headers/...`), `/slow` answers after 300 ms, `/status/N` answers status N, `/chunked`
/// answers "hello, world" in chunks with a trailer; a request with a body (sized or
/// chunked) gets its body back; anything else answers the server's name.
pub struct HttpBackend {
    pub addr: SocketAddr,
    pub name: String,
    pub hits: Arc<AtomicU64>,
    stop: Arc<AtomicBool>,
    reset: Arc<AtomicBool>,
    conns: Registry,
    thread: Option<JoinHandle<()>>,
}

impl HttpBackend {
    pub fn start(name: &str) -> HttpBackend {
        HttpBackend::start_on(name, "127.0.0.1:0".parse().expect("addr")).expect("backend binds")
    }

    pub fn start_on(name: &str, addr: SocketAddr) -> io::Result<HttpBackend> {
        let l = TcpListener::bind(addr)?;
        let addr = l.local_addr()?;
        let stop = Arc::new(AtomicBool::new(false));
        let reset = Arc::new(AtomicBool::new(false));
        let hits = Arc::new(AtomicU64::new(0));
        let conns: Registry = Arc::new(Mutex::new(Vec::new()));
        let (s2, r2, h2, c2, n2) = (
            stop.clone(),
            reset.clone(),
            hits.clone(),
            conns.clone(),
            name.to_string(),
        );
        let thread = std::thread::spawn(move || {
            let mut draining = false;
            loop {
                let c = match l.accept() {
                    Ok((c, _)) => c,
                    Err(_) if draining => break,
                    Err(_) => continue,
                };
                if s2.load(Ordering::SeqCst) && !draining {
                    // Dying: serve what the kernel already accepted, then close.
                    // (The first one may be a client, not the wake-up connection.)
                    draining = true;
                    let _ = l.set_nonblocking(true);
                }
                let _ = c.set_nonblocking(false);
                let busy = Arc::new(AtomicBool::new(false));
                if let Ok(c2c) = c.try_clone() {
                    c2.lock()
                        .unwrap_or_else(|e| e.into_inner())
                        .push((c2c, busy.clone()));
                }
                let (h, n, r) = (h2.clone(), n2.clone(), r2.clone());
                let end = c.try_clone();
                std::thread::spawn(move || {
                    serve_http(c, &n, &h, &r, &busy);
                    // The registry keeps a clone: close for real.
                    if let Ok(e) = end {
                        let _ = e.shutdown(Shutdown::Both);
                    }
                });
            }
        });
        Ok(HttpBackend {
            addr,
            name: name.to_string(),
            hits,
            stop,
            reset,
            conns,
            thread: Some(thread),
        })
    }

    /// How many connections this server has accepted so far.
    pub fn connections(&self) -> usize {
        self.conns.lock().unwrap_or_else(|e| e.into_inner()).len()
    }

    /// The server dies: no more connections accepted; with `reset_idle`, idle kept-alive
    /// connections are reset and any new request on them is dropped unanswered. A request
    /// being answered at that moment still completes.
    pub fn kill(&mut self, reset_idle: bool) {
        if reset_idle {
            self.reset.store(true, Ordering::SeqCst);
        }
        if !self.stop.swap(true, Ordering::SeqCst) {
            let _ = TcpStream::connect(self.addr);
            if let Some(t) = self.thread.take() {
                let _ = t.join();
            }
        }
        if reset_idle {
            for (c, busy) in self
                .conns
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .drain(..)
            {
                if !busy.load(Ordering::SeqCst) {
                    let _ = c.shutdown(Shutdown::Both);
                }
            }
        }
    }
}

impl Drop for HttpBackend {
    fn drop(&mut self) {
        self.kill(true);
        for (c, _) in self
            .conns
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .drain(..)
        {
            let _ = c.shutdown(Shutdown::Both);
        }
    }
}

fn serve_http(c: TcpStream, name: &str, hits: &AtomicU64, stop: &AtomicBool, busy: &AtomicBool) {
    let mut w = match c.try_clone() {
        Ok(w) => w,
        Err(_) => return,
    };
    let mut r = BufReader::new(c);
    loop {
        let mut head = String::new();
        loop {
            let mut line = String::new();
            match r.read_line(&mut line) {
                Ok(0) | Err(_) => return,
                Ok(_) => {}
            }
            if line == "\r\n" || line == "\n" {
                break;
            }
            head.push_str(&line);
        }
        busy.store(true, Ordering::SeqCst);
        if stop.load(Ordering::SeqCst) {
            return;
        }
        hits.fetch_add(1, Ordering::SeqCst);
        let lower = head.to_ascii_lowercase();
        let len: usize = lower
            .lines()
            .find_map(|l| {
                l.strip_prefix("content-length:")
                    .map(|v| v.trim().parse().unwrap_or(0))
            })
            .unwrap_or(0);
        let body_in = if lower.contains("transfer-encoding: chunked") {
            match read_chunked(&mut r) {
                Some(b) => b,
                None => return,
            }
        } else {
            let mut b = vec![0u8; len];
            if r.read_exact(&mut b).is_err() {
                return;
            }
            b
        };
        let echo = !body_in.is_empty();
        let path = head.split_whitespace().nth(1).unwrap_or("/").to_string();
        let mut status = 200;
        let body: Vec<u8> = if path == "/big" {
            vec![b'x'; 1 << 20]
        } else if path.starts_with("/headers") {
            head.clone().into_bytes()
        } else if path == "/slow" {
            std::thread::sleep(Duration::from_millis(300));
            name.as_bytes().to_vec()
        } else if let Some(s) = path.strip_prefix("/status/") {
            status = s.parse().unwrap_or(500);
            name.as_bytes().to_vec()
        } else if path == "/chunked" {
            // Answered in chunks (with a trailer) below.
            Vec::new()
        } else if echo {
            body_in
        } else {
            name.as_bytes().to_vec()
        };
        let close = lower.contains("connection: close");
        if path == "/chunked" {
            let resp = format!(
                "HTTP/1.1 200 X\r\nTransfer-Encoding: chunked\r\nContent-Type: text/plain\r\n{}\r\n\
                 5\r\nhello\r\n7;note=x\r\n, world\r\n0\r\nX-Trailer: t\r\n\r\n",
                if close { "Connection: close\r\n" } else { "" }
            );
            if w.write_all(resp.as_bytes()).is_err() {
                return;
            }
            busy.store(false, Ordering::SeqCst);
            if close {
                return;
            }
            continue;
        }
        let resp = format!(
            "HTTP/1.1 {status} X\r\nContent-Length: {}\r\nContent-Type: text/plain\r\n{}\r\n",
            body.len(),
            if close { "Connection: close\r\n" } else { "" }
        );
        if w.write_all(resp.as_bytes()).is_err() || w.write_all(&body).is_err() {
            return;
        }
        busy.store(false, Ordering::SeqCst);
        if close {
            return;
        }
    }
}

/// Reads a chunked body (and its trailers) and returns its data.
fn read_chunked(r: &mut BufReader<TcpStream>) -> Option<Vec<u8>> {
    let mut out = Vec::new();
    loop {
        let mut line = String::new();
        r.read_line(&mut line).ok()?;
        let size = usize::from_str_radix(line.trim().split(';').next()?.trim(), 16).ok()?;
        if size == 0 {
            loop {
                let mut t = String::new();
                r.read_line(&mut t).ok()?;
                if t == "\r\n" || t.is_empty() {
                    return Some(out);
                }
            }
        }
        let start = out.len();
        out.resize(start + size + 2, 0);
        r.read_exact(&mut out[start..]).ok()?;
        out.truncate(start + size);
    }
}

/// A TCP echo server that answers only after the client half-closed: it reads to EOF,
/// then sends back "got N bytes" and closes.
pub fn eof_echo_server() -> (SocketAddr, JoinHandle<()>) {
    let l = TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = l.local_addr().expect("addr");
    let t = std::thread::spawn(move || {
        if let Ok((mut c, _)) = l.accept() {
            let mut buf = Vec::new();
            let _ = c.read_to_end(&mut buf);
            let _ = c.write_all(format!("got {} bytes", buf.len()).as_bytes());
        }
    });
    (addr, t)
}

/// One HTTP/1.1 request on a new connection; returns (status, head, body).
pub fn http_get(
    addr: SocketAddr,
    path: &str,
    host: Option<&str>,
) -> io::Result<(u16, String, Vec<u8>)> {
    let mut c = TcpStream::connect(addr)?;
    c.set_read_timeout(Some(Duration::from_secs(10)))?;
    let req = format!(
        "GET {path} HTTP/1.1\r\nHost: {}\r\nConnection: close\r\n\r\n",
        host.unwrap_or("test")
    );
    c.write_all(req.as_bytes())?;
    let mut buf = Vec::new();
    c.read_to_end(&mut buf)?;
    parse_response(&buf)
}

pub fn parse_response(buf: &[u8]) -> io::Result<(u16, String, Vec<u8>)> {
    let end = buf
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .ok_or_else(|| io::Error::other(format!("no response head in {} bytes", buf.len())))?;
    let head = String::from_utf8_lossy(&buf[..end]).to_string();
    let status: u16 = head
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| io::Error::other("bad status"))?;
    Ok((status, head, buf[end + 4..].to_vec()))
}

/// A raw TCP exchange: connect, send, read to EOF.
pub fn tcp_get(addr: SocketAddr, path: &str) -> io::Result<(u16, Vec<u8>)> {
    http_get(addr, path, None).map(|(s, _, b)| (s, b))
}

/// curl, the real client: returns (exit ok, stdout).
pub fn curl(args: &[&str]) -> (bool, String) {
    let out = std::process::Command::new("curl")
        .args(["-s", "--max-time", "10"])
        .args(args)
        .output()
        .expect("curl runs (apt-get install curl)");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).to_string(),
    )
}

/// Sends one command to a runtime (`stats socket`) socket and returns its answer.
pub fn admin_command(sock: &std::path::Path, cmd: &str) -> io::Result<String> {
    let mut s = std::os::unix::net::UnixStream::connect(sock)?;
    s.write_all(format!("{cmd}\n").as_bytes())?;
    s.shutdown(Shutdown::Write)?;
    let mut out = String::new();
    s.read_to_string(&mut out)?;
    Ok(out)
}

/// Reads from `c` until what was read ends with `end`; panics if the peer closes first.
pub fn read_until(c: &mut TcpStream, end: &[u8]) -> Vec<u8> {
    let mut got = Vec::new();
    let mut buf = [0u8; 512];
    while !got.ends_with(end) {
        let n = c.read(&mut buf).expect("read");
        assert!(n > 0, "closed before {:?}", String::from_utf8_lossy(end));
        got.extend_from_slice(&buf[..n]);
    }
    got
}

/// Reads one HTTP head (up to the empty line) from `c`, a byte at a time so that nothing
/// after it is consumed; shorter if the peer closes first.
pub fn read_head(c: &mut TcpStream) -> Vec<u8> {
    let mut head = Vec::new();
    let mut b = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        match c.read(&mut b) {
            Ok(1) => head.push(b[0]),
            _ => break,
        }
    }
    head
}

pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("free port")
}

pub fn start_engine(cfg: &str) -> Engine {
    let p = match haproxy::parse(cfg, "test.cfg") {
        Ok(p) => p,
        Err(e) => panic!("{e}\n{cfg}"),
    };
    Engine::start(p.config, EngineOptions { threads: Some(2) }).expect("engine starts")
}

/// Polls `f` every 20 ms until it holds or `limit` passes.
pub fn wait_until(limit: Duration, mut f: impl FnMut() -> bool) -> bool {
    let end = Instant::now() + limit;
    while Instant::now() < end {
        if f() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    f()
}

/// The status column of a server in the engine's stats ("UP", "DOWN", "MAINT", ...).
pub fn status(e: &Engine, backend: &str, server: &str) -> String {
    halo_lb::engine::stats::snapshot(e.shared())
        .into_iter()
        .find(|r| r.pxname == backend && r.svname == server)
        .map(|r| r.status)
        .unwrap_or_else(|| "<absent>".into())
}

pub fn is_root() -> bool {
    // SAFETY: geteuid has no preconditions.
    unsafe { libc::geteuid() == 0 }
}

pub fn open_fds() -> usize {
    std::fs::read_dir("/proc/self/fd")
        .map(|d| d.count())
        .unwrap_or(0)
}

pub fn which(cmd: &str) -> Option<String> {
    for dir in ["/usr/sbin", "/usr/bin", "/sbin", "/bin", "/usr/local/bin"] {
        let p = format!("{dir}/{cmd}");
        if std::path::Path::new(&p).exists() {
            return Some(p);
        }
    }
    None
}

/// Say that a test cannot run here (a missing program, not root). Under
/// `HALO_TEST_NO_SKIP=1` (CI, which installs everything) that is a failure instead.
pub fn skip(why: &str) {
    if std::env::var_os("HALO_TEST_NO_SKIP").is_some_and(|v| v != "0") {
        panic!("{why} (HALO_TEST_NO_SKIP is set: nothing may be skipped)");
    }
    eprintln!("SKIP: {why}");
}

/// A syslog receiver on loopback (UDP) for a configuration's `log` lines.
pub fn syslog() -> std::net::UdpSocket {
    let sys = std::net::UdpSocket::bind("127.0.0.1:0").expect("udp");
    sys.set_read_timeout(Some(Duration::from_secs(5)))
        .expect("timeout");
    sys
}

/// The next line a [`syslog`] receiver got (panics after 5 s without one).
pub fn next_line(sys: &std::net::UdpSocket) -> String {
    let mut buf = [0u8; 4096];
    let n = sys.recv(&mut buf).expect("a log line");
    String::from_utf8_lossy(&buf[..n]).into_owned()
}
