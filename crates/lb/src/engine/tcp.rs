//! `mode tcp`: connect the client to a server and move bytes both ways, by `splice(2)`
//! through a pipe when the kernel allows it (no copy to user space), else through a
//! buffer allocated only once data flows (idle connections cost no buffer).

use super::rules::{Moved, SessAddrs};
use super::state::*;
use crate::health::Event;
use bytes::BytesMut;
use std::io;
use std::net::SocketAddr;
use std::os::fd::{AsRawFd, RawFd};
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};
use tokio::io::Interest;
use tokio::net::TcpStream;

/// Why a session could not reach a server.
#[derive(Debug)]
pub enum ConnFail {
    NoServer,
    QueueTimeout,
    Connect {
        server: String,
        error: io::Error,
        timeout: bool,
    },
}

impl From<NoSlot> for ConnFail {
    fn from(e: NoSlot) -> ConnFail {
        match e {
            NoSlot::NoServer => ConnFail::NoServer,
            NoSlot::QueueTimeout => ConnFail::QueueTimeout,
        }
    }
}

impl ConnFail {
    /// HAProxy's two-letter termination state.
    pub fn term(&self) -> &'static str {
        match self {
            ConnFail::NoServer => "SC",
            ConnFail::QueueTimeout => "sQ",
            ConnFail::Connect { timeout: true, .. } => "sC",
            ConnFail::Connect { .. } => "SC",
        }
    }
}

/// What happened while connecting, for logs and stats.
#[derive(Debug, Default, Clone, Copy)]
pub struct ConnInfo {
    pub retries: u32,
    pub queue_ms: u64,
    pub connect_ms: u64,
}

/// A connection to `addr`, from `from` when given (`source`).
pub async fn connect_from(addr: SocketAddr, from: Option<SocketAddr>) -> io::Result<TcpStream> {
    let Some(src) = from else {
        return TcpStream::connect(addr).await;
    };
    let sock = match src {
        SocketAddr::V4(_) => tokio::net::TcpSocket::new_v4()?,
        SocketAddr::V6(_) => tokio::net::TcpSocket::new_v6()?,
    };
    sock.bind(src)?;
    sock.connect(addr).await
}

async fn connect_once(
    (addr, from): (SocketAddr, Option<SocketAddr>),
    timeout: Option<Duration>,
    (tcpka, nolinger): (bool, bool),
    proxy: Option<crate::config::ProxyProto>,
    client: (SocketAddr, SocketAddr),
) -> Result<TcpStream, (io::Error, bool)> {
    let fut = connect_from(addr, from);
    let s = match timeout {
        Some(t) => match tokio::time::timeout(t, fut).await {
            Ok(r) => r.map_err(|e| (e, false))?,
            Err(_) => {
                return Err((
                    io::Error::new(io::ErrorKind::TimedOut, "connect timeout"),
                    true,
                ))
            }
        },
        None => fut.await.map_err(|e| (e, false))?,
    };
    let _ = s.set_nodelay(true);
    if tcpka {
        let _ = socket2::SockRef::from(&s).set_keepalive(true);
    }
    if nolinger {
        let _ = socket2::SockRef::from(&s).set_linger(Some(Duration::ZERO));
    }
    if let Some(v) = proxy {
        // A few dozen bytes into a new connection's empty send buffer.
        use tokio::io::AsyncWriteExt;
        let mut s = s;
        let h = super::proxy_proto::header(v, Some(client));
        s.write_all(&h).await.map_err(|e| (e, false))?;
        return Ok(s);
    }
    Ok(s)
}

/// Takes a server slot and connects, retrying `retries` times; with `option redispatch`
/// a retry may go to another server (HAProxy's interval rule), and a retry always goes
/// elsewhere once the failed server is known to be down. A server that wants the PROXY
/// protocol is told first who `client` (its address, and the one it connected to) is.
pub async fn connect_server(
    be: &Arc<BackendRt>,
    aff: Affinity<'_>,
    first: Option<Lease>,
    client: (SocketAddr, SocketAddr),
) -> Result<(TcpStream, Lease, ConnInfo), ConnFail> {
    let mut info = ConnInfo::default();
    let mut exclude: Vec<usize> = Vec::new();
    let t0 = Instant::now();
    let mut lease = match first {
        Some(l) => l,
        None => be.acquire(aff, &exclude).await?,
    };
    info.queue_ms = t0.elapsed().as_millis() as u64;
    let timeout = be.cfg.timeout_connect.map(|d| d.0);
    let mut attempt = 0u32;
    loop {
        let t1 = Instant::now();
        let srv = lease.server();
        // A server whose host the cluster declares lost while the connection is being
        // made (its SYNs going nowhere) is given up at once, as a failed attempt: the
        // retry goes elsewhere, nothing having been sent to it.
        let mut kill = srv.shared.kill.subscribe();
        let connected = tokio::select! {
            r = connect_once(
                (srv.cfg.addr, srv.cfg.source_addr.or(be.cfg.source_addr)),
                timeout,
                (be.cfg.srvtcpka, be.cfg.nolinger),
                srv.cfg.proxy,
                client,
            ) => r,
            _ = kill.changed() => Err((
                io::Error::new(io::ErrorKind::ConnectionAborted, "its host left the cluster"),
                false,
            )),
        };
        match connected {
            Ok(s) => {
                info.connect_ms = t1.elapsed().as_millis() as u64;
                // As in HAProxy, a connection that succeeds counts for `observe
                // layer4` only; `layer7` judges servers by their answers.
                if srv.cfg.observe == Some(crate::config::Observe::Layer4) {
                    be.health_event(lease.idx, Event::LiveSuccess, "");
                }
                return Ok((s, lease, info));
            }
            Err((error, timed_out)) => {
                srv.shared.stats.econ.fetch_add(1, Relaxed);
                be.stats.econ.fetch_add(1, Relaxed);
                if srv.cfg.observe.is_some() {
                    be.health_event(
                        lease.idx,
                        Event::LiveError,
                        &format!("live connection failed: {error}"),
                    );
                }
                if attempt >= be.cfg.retries {
                    return Err(ConnFail::Connect {
                        server: srv.cfg.name.clone(),
                        error,
                        timeout: timed_out,
                    });
                }
                attempt += 1;
                info.retries = attempt;
                srv.shared.stats.wretr.fetch_add(1, Relaxed);
                be.stats.wretr.fetch_add(1, Relaxed);
                let dead = !be.alive(lease.idx);
                if be.redispatch_on(attempt) || (dead && be.cfg.redispatch.is_some()) {
                    exclude.push(lease.idx);
                    drop(lease);
                    srv_redispatched(be);
                    lease = be.acquire(aff, &exclude).await?;
                } else if !timed_out {
                    // HAProxy waits a moment before retrying a refused connection on
                    // the same server.
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            }
        }
    }
}

/// The TLS handshake with a server (`ssl`), within `timeout connect`; a failure is a
/// failed connection (counted, and the session gets no server).
pub(super) async fn tls_to_server(
    be: &BackendRt,
    lease: &Lease,
    up: &super::tls::Upstream,
    tcp: TcpStream,
    sni: Option<&str>,
) -> Result<tokio_rustls::client::TlsStream<TcpStream>, ConnFail> {
    let hs = up.connect(tcp, sni);
    let res = match be.cfg.timeout_connect {
        Some(t) => tokio::time::timeout(t.0, hs)
            .await
            .map_err(|_| io::Error::new(io::ErrorKind::TimedOut, "TLS handshake timeout")),
        None => Ok(hs.await),
    };
    let timeout = res.is_err();
    match res.and_then(|r| r) {
        Ok(s) => Ok(s),
        Err(error) => {
            let srv = lease.server();
            srv.shared.stats.econ.fetch_add(1, Relaxed);
            be.stats.econ.fetch_add(1, Relaxed);
            if srv.cfg.observe.is_some() {
                be.health_event(lease.idx, Event::LiveError, &format!("TLS: {error}"));
            }
            tracing::debug!(
                "{}/{}: TLS handshake failed: {error}",
                be.cfg.name,
                srv.cfg.name
            );
            Err(ConnFail::Connect {
                server: srv.cfg.name.clone(),
                error,
                timeout,
            })
        }
    }
}

fn srv_redispatched(be: &BackendRt) {
    be.stats.wredis.fetch_add(1, Relaxed);
}

/// A `mode tcp` client connection: plain (moved by splice when it can), or TLS that
/// the load balancer terminated (moved through user space).
pub enum ClientStream {
    Plain(TcpStream),
    Tls(Box<tokio_rustls::server::TlsStream<TcpStream>>),
}

/// A `mode tcp` server connection: plain, or TLS (`server ... ssl`).
enum ServerStream {
    Plain(TcpStream),
    Tls(Box<tokio_rustls::client::TlsStream<TcpStream>>),
}

impl ClientStream {
    fn tcp(&self) -> &TcpStream {
        match self {
            ClientStream::Plain(s) => s,
            ClientStream::Tls(t) => t.get_ref().0,
        }
    }
}

/// One client connection in `mode tcp`.
pub async fn session(
    fe: &Arc<FrontendRt>,
    client: ClientStream,
    peer: SocketAddr,
    mut sess: super::rules::Session,
    payload: Option<&[u8]>,
) {
    // The backend: `use_backend` rules on what the connection tells.
    let SessAddrs { dst, fc } = sess.addrs();
    let local = || dst.unwrap_or_else(|| super::http::local_addr(client.tcp()));
    let log = TcpLog {
        fe,
        peer,
        local: fe.logger.is_active().then(local),
        when: SystemTime::now(),
        start: Instant::now(),
        number: super::logfmt::number(fe),
    };
    let conn = super::rules::Conn {
        payload,
        fc,
        ..super::rules::Conn::new(peer, &local, fe)
    };
    let mut vars = super::rules::TxnVars::new(&mut sess, fe);
    let Some(be) = super::rules::route(fe, &conn, &mut vars) else {
        fe.stats.denied.fetch_add(1, Relaxed);
        log.emit(None, None, 0, 0, "SC", ConnInfo::default());
        return;
    };
    // The backend's `tcp-request content` rules (no payload to read).
    let conn = super::rules::Conn {
        be: Some(&be),
        ..conn
    };
    let moved = match be.cfg.tcp_request.is_empty() {
        true => Some(Moved::default()),
        false => super::rules::tcp_rules_pass(
            &be.cfg.tcp_request,
            crate::config::TcpStage::Content,
            &be.cfg.acl,
            &conn,
            &mut vars,
        ),
    };
    let Some(moved) = moved else {
        be.stats.denied.fetch_add(1, Relaxed);
        return;
    };
    // The server sees the addresses those rules moved.
    let peer = moved.src.unwrap_or(peer);
    let local = || moved.dst.unwrap_or_else(local);
    // Stick keys and `balance hash EXPR`, on what the connection tells.
    let (stick, sampled) = {
        let src = super::rules::MovedSource {
            inner: &conn,
            moved,
        };
        let stick = match be.stick.is_empty() {
            true => Vec::new(),
            false => super::rules::stick_keys(&be, &src, &mut vars, false),
        };
        let sampled = match &be.cfg.hash_key {
            Some(crate::config::HashKey::Expr(e)) => e
                .eval(&src, &mut vars)
                .map(|v| crate::balance::sdbm(&v.as_bytes())),
            _ => None,
        };
        (stick, sampled)
    };
    // Entries tracked by `tcp-request content track-sc*` stay tracked for the session;
    // the transaction's variables wait for the response rules.
    let _tracked = std::mem::take(&mut vars.counters);
    let txn = std::mem::take(&mut vars.txn);
    drop(vars);
    be.stats.open();
    let mut aff = Affinity::of(&be, peer.ip(), &stick);
    aff.hash = aff.hash.or(sampled);
    let told = (peer, if be.tells_clients { local() } else { peer });
    let res = match connect_server(&be, aff, None, told).await {
        Ok((tcp, lease, info)) => match &lease.server().tls {
            None => Ok((ServerStream::Plain(tcp), lease, info)),
            Some(up) => {
                // `sni EXPR` on what the connection tells (`ssl_fc_sni`, `dst`...).
                let name = lease
                    .server()
                    .cfg
                    .tls
                    .as_ref()
                    .and_then(|t| t.sni.as_ref())
                    .and_then(|e| {
                        let mut vars = super::rules::TxnVars::new(&mut sess, fe);
                        e.eval(&conn, &mut vars)
                    })
                    .map(crate::sample::Value::into_string);
                tls_to_server(&be, &lease, up, tcp, name.as_deref())
                    .await
                    .map(|s| (ServerStream::Tls(Box::new(s)), lease, info))
            }
        },
        Err(e) => Err(e),
    };
    let (server, lease, info) = match res {
        Ok(x) => x,
        Err(e) => {
            be.stats.close();
            if let ConnFail::Connect { server, error, .. } = &e {
                tracing::debug!("{}: cannot reach {server}: {error}", be.cfg.name);
            }
            log.emit(Some(&be), None, 0, 0, e.term(), ConnInfo::default());
            return;
        }
    };
    // The backend's `tcp-response content` rules, once the server is connected: a
    // reject closes both connections.
    if !be.cfg.tcp_response.is_empty() {
        let mut vars = super::rules::TxnVars::new(&mut sess, fe);
        vars.txn = txn;
        let server_name = lease.server().cfg.name.clone();
        let conn = super::rules::Conn {
            server: Some(&server_name),
            ..conn
        };
        let rules = &be.cfg.tcp_response;
        let stage = crate::config::TcpStage::Content;
        if super::rules::tcp_rules_pass(rules, stage, &be.cfg.acl, &conn, &mut vars).is_none() {
            be.stats.denied.fetch_add(1, Relaxed);
            be.stats.close();
            log.emit(Some(&be), Some(&server_name), 0, 0, "PC", info);
            return;
        }
    }
    let idle = tunnel_idle(fe, &be);
    let splice = fe.splice;
    let counters = Counters::default();
    let mut kill = lease.server().shared.kill.subscribe();
    // Both ends close when the copy ends (or is dropped).
    macro_rules! copy {
        ($a:expr, $b:expr) => {
            tokio::select! {
                biased;
                (up, down) = super::http::copy_idle($a, $b, idle) => {
                    counters.c2s.store(up, Relaxed);
                    counters.s2c.store(down, Relaxed);
                    Term::Done
                }
                _ = kill.changed() => Term::Killed,
            }
        };
    }
    let pumped = match (client, server) {
        (ClientStream::Plain(c), ServerStream::Plain(server)) => {
            let r = tokio::select! {
                biased;
                r = pump(&c, &server, idle, splice, &counters) => r,
                _ = kill.changed() => Term::Killed,
            };
            drop(server);
            r
        }
        (ClientStream::Tls(tls), ServerStream::Plain(server)) => copy!(tls, server),
        (ClientStream::Plain(c), ServerStream::Tls(server)) => copy!(c, server),
        (ClientStream::Tls(tls), ServerStream::Tls(server)) => copy!(tls, server),
    };
    let bin = counters.c2s.load(Relaxed);
    let bout = counters.s2c.load(Relaxed);
    for st in [&*fe.stats, &*be.stats, &lease.server().shared.stats] {
        st.bytes_in.fetch_add(bin, Relaxed);
        st.bytes_out.fetch_add(bout, Relaxed);
    }
    let term = match pumped {
        Term::Done => "--",
        Term::ClientError => "CD",
        Term::ServerError => "SD",
        Term::Timeout => "cD",
        Term::Killed => "KD",
    };
    let srv_name = lease.server().cfg.name.clone();
    drop(lease);
    be.stats.close();
    log.emit(Some(&be), Some(&srv_name), bin, bout, term, info);
}

/// How long a tunnel (a TCP session, or an upgraded HTTP connection) may go without
/// traffic in either direction: `timeout tunnel`, else the shorter of `timeout client`
/// and `timeout server`.
pub(super) fn tunnel_idle(fe: &FrontendRt, be: &BackendRt) -> Option<Duration> {
    tunnel_idle_of(
        fe.cfg.timeout_client.map(|d| d.0),
        be.cfg.timeout_server.map(|d| d.0),
        be.cfg.timeout_tunnel.map(|d| d.0),
    )
}

/// The same from given timeouts (a request's own, `http-request set-timeout`).
pub(super) fn tunnel_idle_of(
    client: Option<Duration>,
    server: Option<Duration>,
    tunnel: Option<Duration>,
) -> Option<Duration> {
    tunnel.or(match (client, server) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    })
}

/// What a TCP session's log line needs from its start.
struct TcpLog<'a> {
    fe: &'a FrontendRt,
    peer: SocketAddr,
    /// The address the client connected to (read only when the frontend logs).
    local: Option<SocketAddr>,
    when: SystemTime,
    start: Instant,
    number: u64,
}

impl TcpLog<'_> {
    /// Logs the session's end; a `log-format`'s samples read the connection.
    fn emit(
        &self,
        be: Option<&Arc<BackendRt>>,
        server: Option<&str>,
        bin: u64,
        bout: u64,
        term: &str,
        info: ConnInfo,
    ) {
        let fe = self.fe;
        if !fe.logger.is_active() || (fe.cfg.dontlognull && bin == 0 && bout == 0) {
            return;
        }
        let rec = super::logfmt::LogRec {
            fe,
            be: be.map(|b| &**b),
            peer: self.peer,
            local: self.local,
            tls: false,
            when: self.when,
            start: self.start,
            backend: be.map_or("<NOSRV>", |b| b.cfg.name.as_str()),
            server: server.unwrap_or("<NOSRV>"),
            tw: info.queue_ms,
            tc: info.connect_ms,
            tr: 0,
            status: None,
            bytes_out: bout,
            bytes_in: bin,
            term,
            retries: info.retries,
            request_line: "",
            unique_id: None,
            number: self.number,
            captured: &Default::default(),
            cookie: ['-', '-'],
        };
        let local = self.local.unwrap_or(self.peer);
        let at = move || local;
        let conn = super::rules::Conn {
            be: be.map(|b| &**b),
            ..super::rules::Conn::new(self.peer, &at, fe)
        };
        super::logfmt::traffic(&rec, &conn, &mut std::collections::HashMap::new());
    }
}

/// Bytes moved each way.
#[derive(Default)]
pub struct Counters {
    pub c2s: AtomicU64,
    pub s2c: AtomicU64,
    /// Milliseconds since `base` of the last activity.
    last: AtomicU64,
}

/// How a pump ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Term {
    Done,
    ClientError,
    ServerError,
    Timeout,
    Killed,
}

/// Moves bytes both ways until both sides closed, an error, or `idle` without traffic.
pub async fn pump(
    client: &TcpStream,
    server: &TcpStream,
    idle: Option<Duration>,
    splice: bool,
    c: &Counters,
) -> Term {
    let base = tokio::time::Instant::now();
    let up = one_way(client, server, splice, &c.c2s, &c.last, base);
    let down = one_way(server, client, splice, &c.s2c, &c.last, base);
    let both = async {
        match tokio::try_join!(
            async {
                up.await.map_err(|e| match e {
                    Side::Read => Term::ClientError,
                    Side::Write => Term::ServerError,
                })
            },
            async {
                down.await.map_err(|e| match e {
                    Side::Read => Term::ServerError,
                    Side::Write => Term::ClientError,
                })
            }
        ) {
            Ok(_) => Term::Done,
            Err(t) => t,
        }
    };
    match idle {
        None => both.await,
        Some(idle) => {
            let watchdog = async {
                loop {
                    let last = base + Duration::from_millis(c.last.load(Relaxed));
                    let deadline = last + idle;
                    if tokio::time::Instant::now() >= deadline {
                        return;
                    }
                    tokio::time::sleep_until(deadline).await;
                }
            };
            tokio::select! {
                biased;
                t = both => t,
                _ = watchdog => Term::Timeout,
            }
        }
    }
}

/// Which end of a one-way copy failed.
#[derive(Debug, Clone, Copy)]
enum Side {
    Read,
    Write,
}

fn touch(last: &AtomicU64, base: tokio::time::Instant) {
    last.store(base.elapsed().as_millis() as u64, Relaxed);
}

async fn one_way(
    from: &TcpStream,
    to: &TcpStream,
    splice: bool,
    count: &AtomicU64,
    last: &AtomicU64,
    base: tokio::time::Instant,
) -> Result<(), Side> {
    let mut pipe: Option<PooledPipe> = None;
    let mut buf = BytesMut::new();
    // Small exchanges are copied (one read, one write); once a read fills the buffer the
    // direction is a bulk transfer and moves to splice(2).
    let mut use_splice = false;
    let mut splice = splice;
    let mut turns = Turns::default();
    loop {
        // Each attempt below costs no system call unless tokio saw the socket ready;
        // the wait comes only after an attempt found nothing.
        if use_splice && pipe.is_none() {
            match PooledPipe::get() {
                Ok(p) => pipe = Some(p),
                Err(_) => {
                    use_splice = false;
                    splice = false;
                }
            }
        }
        if let (true, Some(p)) = (use_splice, pipe.as_mut()) {
            let r = from.try_io(Interest::READABLE, || {
                splice_fd(from.as_raw_fd(), p.pipe().w, 1 << 16)
            });
            let n = match r {
                Ok(0) => break,
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    read_ready(from).await?;
                    continue;
                }
                Err(e)
                    if e.raw_os_error() == Some(libc::EINVAL)
                        || e.raw_os_error() == Some(libc::ENOSYS) =>
                {
                    use_splice = false;
                    continue;
                }
                Err(_) => return Err(Side::Read),
            };
            // Until drained, the pipe holds data: a cancelled session must not
            // return it to the pool.
            p.clean = false;
            let mut left = n;
            while left > 0 {
                match to.try_io(Interest::WRITABLE, || {
                    splice_fd(p.pipe().r, to.as_raw_fd(), left)
                }) {
                    Ok(m) => left -= m,
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => write_ready(to).await?,
                    Err(_) => {
                        return Err(Side::Write);
                    }
                }
            }
            p.clean = true;
            count.fetch_add(n as u64, Relaxed);
            touch(last, base);
            turns.moved(n).await;
        } else {
            if buf.capacity() == 0 {
                // Readiness may be reported before any byte arrived: make sure there is
                // something to read before giving an idle session a buffer.
                let mut one = [std::mem::MaybeUninit::<u8>::uninit(); 1];
                match from.try_io(Interest::READABLE, || {
                    socket2::SockRef::from(from).peek(&mut one)
                }) {
                    Ok(_) => {}
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                        read_ready(from).await?;
                        continue;
                    }
                    Err(_) => return Err(Side::Read),
                }
                buf.reserve(COPY_BUF);
            }
            buf.clear();
            let n = match recv_drained(from, &mut buf, COPY_BUF) {
                Ok(0) => break,
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    read_ready(from).await?;
                    continue;
                }
                Err(_) => return Err(Side::Read),
            };
            if splice && n == COPY_BUF {
                use_splice = true;
            }
            let mut off = 0;
            while off < n {
                match to.try_write(&buf[off..n]) {
                    Ok(m) => off += m,
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => write_ready(to).await?,
                    Err(_) => return Err(Side::Write),
                }
            }
            count.fetch_add(n as u64, Relaxed);
            touch(last, base);
            turns.moved(n).await;
        }
    }
    // End of stream from `from`: pass the half-close on.
    let _ = socket2::SockRef::from(to).shutdown(std::net::Shutdown::Write);
    touch(last, base);
    Ok(())
}

/// How much a bulk transfer moves before its session lets the others have a turn: the
/// socket may hold a whole answer, and without a turn the other sessions would wait
/// until it is through (measured: p99 of 1 MiB answers over 50 connections 51 -> 43 ms).
const FAIR_SLICE: usize = 256 * 1024;

/// Counts what a transfer moved and lets the worker's other sessions have a turn every
/// [`FAIR_SLICE`] bytes. Reads that find data never wait, so without this a session
/// whose peer keeps up would run until its transfer is through.
#[derive(Default)]
pub(super) struct Turns(usize);

impl Turns {
    pub(super) async fn moved(&mut self, n: usize) {
        self.0 += n;
        if self.0 >= FAIR_SLICE {
            self.0 = 0;
            tokio::task::yield_now().await;
        }
    }
}

/// The copy buffer of a direction that is not (yet) spliced.
const COPY_BUF: usize = 16 * 1024;

/// Appends what `io` holds (at most `max` bytes) to `buf` with recv(2); Err(WouldBlock)
/// when there is nothing. A short read means the socket is drained: tokio is told so
/// (WouldBlock inside `try_io`) and clears the readiness now, instead of paying another
/// recv(2) next time that would only return EAGAIN. Data arriving meanwhile raises a
/// new edge-triggered event, which tokio records with a newer tick that this does not
/// clear.
pub(super) fn recv_drained(io: &TcpStream, buf: &mut BytesMut, max: usize) -> io::Result<usize> {
    if buf.capacity() == buf.len() {
        buf.reserve(8192);
    }
    let fd = io.as_raw_fd();
    let mut short = 0usize;
    let r = io.try_io(Interest::READABLE, || {
        let spare = buf.spare_capacity_mut();
        let want = spare.len().min(max);
        // SAFETY: recv(2) writes at most `want` bytes into spare capacity we own, on a
        // descriptor kept open by `io`.
        let n = unsafe { libc::recv(fd, spare.as_mut_ptr().cast(), want, 0) };
        if n < 0 {
            return Err(io::Error::last_os_error());
        }
        let n = n as usize;
        // SAFETY: recv(2) initialised the first `n` bytes of the spare capacity.
        unsafe { buf.set_len(buf.len() + n) };
        if n > 0 && n < want {
            short = n;
            return Err(io::ErrorKind::WouldBlock.into());
        }
        Ok(n)
    });
    match r {
        Err(e) if e.kind() == io::ErrorKind::WouldBlock && short > 0 => Ok(short),
        r => r,
    }
}

/// Waits until tokio sees `io` readable. Each direction of a session has its own reader
/// and writer, so the single waker slot of `poll_read_ready` (cheaper than the list of
/// waiters behind `readable()`) is enough.
async fn read_ready(io: &TcpStream) -> Result<(), Side> {
    std::future::poll_fn(|cx| io.poll_read_ready(cx))
        .await
        .map_err(|_| Side::Read)
}

/// Waits until tokio sees `io` writable (see [`read_ready`]).
async fn write_ready(io: &TcpStream) -> Result<(), Side> {
    std::future::poll_fn(|cx| io.poll_write_ready(cx))
        .await
        .map_err(|_| Side::Write)
}

pub(super) struct Pipe {
    pub(super) r: RawFd,
    pub(super) w: RawFd,
}

thread_local! {
    /// Empty pipes kept for the next sessions of this thread (pipe2 + two closes saved
    /// per direction and session).
    static PIPES: std::cell::RefCell<Vec<Pipe>> = const { std::cell::RefCell::new(Vec::new()) };
}

const PIPES_KEPT: usize = 64;

/// A pipe borrowed from the thread's pool; given back on drop when known to be empty.
pub(super) struct PooledPipe {
    pipe: Pipe,
    pub(super) clean: bool,
}

impl PooledPipe {
    pub(super) fn get() -> io::Result<PooledPipe> {
        let p = match PIPES.with(|v| v.borrow_mut().pop()) {
            Some(p) => p,
            None => Pipe::new()?,
        };
        Ok(PooledPipe {
            pipe: p,
            clean: true,
        })
    }
    pub(super) fn pipe(&self) -> &Pipe {
        &self.pipe
    }
}

impl Drop for PooledPipe {
    fn drop(&mut self) {
        if self.clean {
            let p = std::mem::replace(&mut self.pipe, Pipe { r: -1, w: -1 });
            PIPES.with(|v| {
                let mut v = v.borrow_mut();
                if v.len() < PIPES_KEPT {
                    v.push(p);
                }
            });
        }
    }
}

impl Pipe {
    fn new() -> io::Result<Pipe> {
        let mut fds = [0 as libc::c_int; 2];
        // SAFETY: pipe2 writes two descriptors into the array we own.
        let rc = unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_NONBLOCK | libc::O_CLOEXEC) };
        if rc != 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(Pipe {
            r: fds[0],
            w: fds[1],
        })
    }
}

impl Drop for Pipe {
    fn drop(&mut self) {
        if self.r < 0 {
            return;
        }
        // SAFETY: these descriptors were created by pipe2 and are owned only by us.
        unsafe {
            libc::close(self.r);
            libc::close(self.w);
        }
    }
}

pub(super) fn splice_fd(from: RawFd, to: RawFd, len: usize) -> io::Result<usize> {
    // SAFETY: plain syscall on descriptors that stay open for the duration of the call.
    let n = unsafe {
        libc::splice(
            from,
            std::ptr::null_mut(),
            to,
            std::ptr::null_mut(),
            len,
            libc::SPLICE_F_MOVE | libc::SPLICE_F_NONBLOCK,
        )
    };
    if n < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(n as usize)
    }
}
