//! `mode http` over HTTP/1.x without a generic HTTP library in between: each request
//! head is parsed once (httparse), rewritten and written to a server connection from
//! our own pool, the response head likewise, and bodies are moved as they come — by
//! splice(2) when their length is known and large. One task per client connection, the
//! same system calls per request as HAProxy, little else.
//!
//! HTTP/2 clients are served by hyper in [`super::http`]; routing, header rewriting,
//! logging and the stats page are shared with it.

mod wire;

use super::http::{
    forwarded_for, head_timeout, is_l7_error, local_addr, LogInfo, POOL_MAX, STALE_AFTER,
};
use super::rules::{
    after_response_rules, backend_request_rules, choose_backend, content_rules_pass, cookie_server,
    frontend_request_rules, is_monitor, monitor_status, request_timeouts, response_rules,
    set_cookie, strip_cookie, Answer, Conn, RequestView, Stage, TxnVars, Verdict,
};
use super::state::*;
use super::tcp::{connect_server, ConnFail, ConnInfo};
use super::Shared;
use crate::health::Event;
use bytes::{Buf, BytesMut};
use http_body_util::BodyExt;
use hyper::Version;
use std::net::SocketAddr;
use std::sync::atomic::Ordering::Relaxed;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use wire::*;

/// Idle server connections are closed after this long (HAProxy's `pool-purge-delay`).
const IDLE_MAX: Duration = Duration::from_secs(5);

/// An idle server connection, ready for the next request.
pub struct IdleConn {
    stream: TcpStream,
    since: Instant,
    /// The requests it carried.
    uses: u32,
    /// The worker thread whose reactor the socket is registered with.
    worker: std::thread::ThreadId,
}

/// A server connection kept for one client connection's later requests
/// (`http-reuse never`): another client never gets it.
pub struct OwnConn {
    backend: Arc<BackendRt>,
    idx: usize,
    stream: TcpStream,
    uses: u32,
}

/// Sends a last answer and closes so that the client reads it: stop sending, then
/// discard what it still sends for a moment (closing with unread data would reset the
/// connection and could destroy the answer).
async fn answer_and_close(client: &mut TcpStream, bytes: &[u8]) {
    if tokio::time::timeout(Duration::from_secs(5), client.write_all(bytes))
        .await
        .is_err()
    {
        return;
    }
    let _ = client.shutdown().await;
    let mut sink = [0u8; 16 * 1024];
    let _ = tokio::time::timeout(Duration::from_secs(1), async {
        let mut total = 0usize;
        while total < 1 << 20 {
            match client.read(&mut sink).await {
                Ok(0) | Err(_) => break,
                Ok(n) => total += n,
            }
        }
    })
    .await;
}

/// A server connection for one request: the client connection's own (`http-reuse
/// never`) or one from this worker's part of the pool when there is one (`proven`: one
/// that carried two requests at least), else a new one (`connect_server` retries and
/// redispatches); with the requests it carried before.
async fn server_conn(
    be: &Arc<BackendRt>,
    aff: Affinity<'_>,
    (fresh, proven, own): (bool, bool, &mut Option<OwnConn>),
    replayable: bool,
    timed: bool,
    client: (SocketAddr, SocketAddr),
) -> Result<(TcpStream, Lease, ConnInfo, u32), ConnFail> {
    let t0 = timed.then(Instant::now);
    let lease = be.acquire(aff, &[]).await?;
    let queue_ms = t0.map_or(0, |t| t.elapsed().as_millis() as u64);
    let info = ConnInfo {
        retries: 0,
        queue_ms,
        connect_ms: 0,
    };
    // The client connection's own, when it goes to the same server and is still there.
    if let Some(c) = own.take() {
        let same = Arc::ptr_eq(&c.backend, be) && c.idx == lease.idx;
        if same && !fresh && still_idle(&c.stream) {
            return Ok((c.stream, lease, info, c.uses));
        }
    }
    if !fresh && be.cfg.reuse != crate::config::HttpReuse::Never {
        let me = std::thread::current().id();
        let mut pool = lock(&lease.server().shared.h1_pool);
        let usable = |c: &IdleConn| !proven || c.uses >= 2;
        // This worker's own first; else one another worker kept, moved to this one.
        while let Some(pos) = pool
            .iter()
            .rposition(|c| c.worker == me && usable(c))
            .or_else(|| pool.iter().rposition(usable))
        {
            let Some(c) = pool.remove(pos) else { break };
            // A request that could not be sent again avoids connections that may have
            // been closed by the server meanwhile.
            if !replayable && c.since.elapsed() > STALE_AFTER {
                continue;
            }
            if !still_idle(&c.stream) {
                continue;
            }
            let stream = match c.worker == me {
                true => c.stream,
                false => match c.stream.into_std().and_then(TcpStream::from_std) {
                    Ok(s) => s,
                    Err(_) => continue,
                },
            };
            drop(pool);
            return Ok((stream, lease, info, c.uses));
        }
    }
    let (s, lease, mut info) = connect_server(be, aff, Some(lease), client).await?;
    info.queue_ms += queue_ms;
    Ok((s, lease, info, 0))
}

/// Whether a pooled server connection can carry another request: nothing arrived on it
/// since its last answer (neither the server closing it nor bytes that no request asked
/// for, which would be taken for the next answer). Costs no system call unless tokio saw
/// the socket readable.
fn still_idle(s: &TcpStream) -> bool {
    let mut one = [std::mem::MaybeUninit::<u8>::uninit(); 1];
    match s.try_io(tokio::io::Interest::READABLE, || {
        socket2::SockRef::from(s).peek(&mut one)
    }) {
        Err(e) => e.kind() == std::io::ErrorKind::WouldBlock,
        Ok(_) => false,
    }
}

/// Returns a server connection to the pool, closing those idle for longer than
/// [`IDLE_MAX`] (servers close theirs after a while too).
fn give_back(lease: &Lease, stream: TcpStream, uses: u32, own: &mut Option<OwnConn>) {
    // A connection that told the server its client (PROXY protocol) is that client's.
    if lease.server().cfg.proxy.is_some() {
        return;
    }
    if lease.backend.cfg.reuse == crate::config::HttpReuse::Never {
        *own = Some(OwnConn {
            backend: lease.backend.clone(),
            idx: lease.idx,
            stream,
            uses,
        });
        return;
    }
    let max = lease.server().cfg.pool_max.map_or(POOL_MAX, |m| m as usize);
    let now = Instant::now();
    let mut pool = lock(&lease.server().shared.h1_pool);
    // Kept in the order they were given back: the oldest are at the front.
    while pool
        .front()
        .is_some_and(|c| now.duration_since(c.since) >= IDLE_MAX)
    {
        pool.pop_front();
    }
    if pool.len() < max {
        pool.push_back(IdleConn {
            stream,
            since: now,
            uses,
            worker: std::thread::current().id(),
        });
    }
}

/// One client connection in `mode http`, HTTP/1.x.
pub async fn session(
    shared: &Arc<Shared>,
    fe: &Arc<FrontendRt>,
    mut client: TcpStream,
    peer: SocketAddr,
    // The session's variables (`sess.`), kept from one request to the next.
    mut sess: super::rules::Session,
) {
    let bufsize = shared.current.load().config.global.bufsize.max(8192);
    let mut fe = fe.clone();
    let mut cbuf = BytesMut::with_capacity(8192);
    let mut sbuf = BytesMut::new();
    let mut first_request = true;
    let mut own = None;
    loop {
        // `timeout http-request` (else `client`) bounds a head once started; between
        // requests the client has `timeout http-keep-alive` (else the former) to start
        // the next one. The first request's first byte is already there.
        let secs = |d: Option<crate::config::Dur>| d.map(|d| d.0);
        let request_timeout = secs(fe.cfg.timeout_http_request.or(fe.cfg.timeout_client))
            .unwrap_or_else(|| head_timeout(&fe));
        let wait_first = if first_request {
            request_timeout
        } else {
            secs(fe.cfg.timeout_http_keep_alive).unwrap_or(request_timeout)
        };
        let head = read_head(
            &mut client,
            &mut cbuf,
            bufsize,
            Some(wait_first),
            Some(request_timeout),
            parse_request,
        )
        .await;
        let (req, n) = match head {
            Ok(x) => x,
            Err(HeadError::Closed) | Err(HeadError::NoStart) | Err(HeadError::Io) => return,
            Err(e) => {
                let code = match e {
                    HeadError::Timeout => 408,
                    HeadError::TooLarge => 431,
                    _ => 400,
                };
                if let HeadError::Bad(why) = e {
                    tracing::debug!("bad request from {peer}: {why}");
                }
                fe.stats.req_tot.fetch_add(1, Relaxed);
                fe.stats.status(code);
                match page(&fe, None, code) {
                    Some(bytes) => answer_and_close(&mut client, &bytes).await,
                    None => {
                        let _ = client.shutdown().await;
                    }
                }
                return;
            }
        };
        // Between requests, follow reloads: the frontend of the same name in the
        // current configuration serves the next request; without one, the connection
        // ends (the frontend was removed or the engine is stopping).
        if !first_request {
            let current = shared.current.load();
            if !current.frontends.iter().any(|f| Arc::ptr_eq(f, &fe)) {
                match current.frontends.iter().find(|f| f.cfg.name == fe.cfg.name) {
                    Some(f) => fe = f.clone(),
                    None => return,
                }
            }
        }
        first_request = false;
        cbuf.advance(n);
        let next = exchange(
            shared,
            &fe,
            &mut client,
            peer,
            (&mut cbuf, &mut sbuf),
            (&mut sess, &mut own),
            req,
        )
        .await;
        // Idle kept-alive connections keep small buffers.
        if sbuf.capacity() > 32 * 1024 {
            sbuf = BytesMut::new();
        }
        if cbuf.is_empty() && cbuf.capacity() > 32 * 1024 {
            cbuf = BytesMut::with_capacity(8192);
        }
        match next {
            Next::KeepAlive => continue,
            Next::Close => {
                let _ = client.shutdown().await;
                return;
            }
            Next::Answer(bytes) => {
                answer_and_close(&mut client, &bytes).await;
                return;
            }
            Next::Reply(bytes) => {
                let idle = fe.cfg.timeout_client.map(|d| d.0);
                if write_all(&client, &bytes, idle).await.is_err() {
                    return;
                }
            }
            Next::Gone => return,
        }
    }
}

/// Watches for the shutdown of a server's sessions, when its backend may do that.
struct KillWatch(Option<tokio::sync::watch::Receiver<u64>>);

impl KillWatch {
    fn new(be: &BackendRt, lease: &Lease) -> KillWatch {
        KillWatch(
            be.kills_sessions
                .then(|| lease.server().shared.kill.subscribe()),
        )
    }

    /// Runs `f` to its end, or until the server's sessions are shut down (`None`).
    async fn run<T>(&mut self, f: impl std::future::Future<Output = T>) -> Option<T> {
        let Some(k) = &mut self.0 else {
            return Some(f.await);
        };
        tokio::select! {
            r = f => Some(r),
            Ok(()) = k.changed() => None,
        }
    }
}

/// What the session does after an exchange.
enum Next {
    KeepAlive,
    /// Close after a complete answer.
    Close,
    /// Send this last answer, then close.
    Answer(Vec<u8>),
    /// Send this answer of our own, then read the next request.
    Reply(Vec<u8>),
    /// The connection is unusable: drop it.
    Gone,
}

/// Whether the client keeps its connection after this request.
fn client_keeps(req: &ReqHead) -> bool {
    match req.version {
        Version::HTTP_10 => req.fields.has_token("connection", "keep-alive"),
        _ => !req.fields.has_token("connection", "close"),
    }
}

/// What a request's log line needs. The line is written when the exchange ends (in
/// `exchange`), so that the samples of a `log-format` read the request and the
/// transaction's variables as they are then.
struct Trace<'a> {
    fe: &'a FrontendRt,
    /// When the request began (only read when the frontend logs).
    start: Option<Instant>,
    when: std::time::SystemTime,
    /// Empty when the frontend does not log.
    request_line: String,
    /// The request's id (`unique-id-format`).
    unique_id: Option<String>,
    /// Its number in the process (`%rt`).
    number: u64,
    /// The line's record, once the exchange logged: its status, bytes and
    /// termination state.
    line: std::sync::Mutex<Option<(LogInfo, u16, u64, String)>>,
    /// What the response's captures kept.
    captured: std::sync::Mutex<super::logfmt::Captured>,
    /// The request's addresses as its rules moved them (`set-src`...).
    moved: std::sync::Mutex<super::rules::Moved>,
    /// The persistence cookie's flags for the log.
    cookie: std::sync::Mutex<[char; 2]>,
}

impl Trace<'_> {
    /// Keeps the addresses the request's rules moved, for what follows the exchange.
    fn moved(&self, v: &Verdict<'_>) {
        if v.moved != Default::default() {
            if let Ok(mut m) = self.moved.lock() {
                *m = v.moved;
            }
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn log(
        &self,
        backend: &str,
        server: &str,
        info: ConnInfo,
        tr: u64,
        code: u16,
        bytes: u64,
        term: &str,
    ) {
        if !self.fe.logger.is_active() {
            return;
        }
        let li = LogInfo {
            unique_id: self.unique_id.clone(),
            cookie: self.cookie.lock().map_or(['-', '-'], |c| *c),
            ..LogInfo::new(
                self.when,
                self.number,
                self.start.unwrap_or_else(Instant::now),
                None,
                false,
                self.request_line.clone(),
            )
            .at(backend.to_string(), server.to_string(), info, tr)
        };
        if let Ok(mut l) = self.line.lock() {
            *l = Some((li, code, bytes, term.to_string()));
        }
    }

    /// Ends the request and its connection without an answer (a `tcp-request content
    /// reject`): logged without a status.
    fn gone(&self, be: Option<&BackendRt>) -> Next {
        let backend = be.map_or(self.fe.cfg.name.as_str(), |b| b.cfg.name.as_str());
        self.log(backend, "<NOSRV>", ConnInfo::default(), 0, 0, 0, "PR");
        Next::Gone
    }

    /// The client went away before its request was whole (`CR`).
    fn aborted(&self) -> Next {
        let name = self.fe.cfg.name.as_str();
        self.log(name, "<NOSRV>", ConnInfo::default(), 0, 0, 0, "CR");
        Next::Gone
    }

    /// Ends the request with an answer of our own (then the connection): counted and
    /// logged.
    fn refuse(
        &self,
        be: Option<&BackendRt>,
        server: &str,
        info: ConnInfo,
        code: u16,
        term: &str,
    ) -> Next {
        self.fe.stats.status(code);
        if let Some(be) = be {
            be.stats.status(code);
        }
        let backend = be.map_or(self.fe.cfg.name.as_str(), |b| b.cfg.name.as_str());
        self.log(backend, server, info, 0, code, 0, term);
        page(self.fe, be, code).map_or(Next::Close, Next::Answer)
    }

    /// The answer the request rules decided, if any: a redirection, or a denial
    /// (counted against the backend once routed, else the frontend).
    /// The connection stays when `keep` (the client keeps it and sent no body), as
    /// HAProxy 2.x keeps it after a `deny` too.
    fn settle(&self, v: &Verdict<'_>, be: Option<&BackendRt>, keep: bool) -> Option<Next> {
        if let Some((code, to)) = &v.redirect {
            return Some(self.redirect(be, *code, to, keep));
        }
        if let Some(a) = &v.answer {
            return Some(self.answer(be, a, "LR", keep));
        }
        let a = v.deny.as_ref()?;
        be.map_or(&self.fe.stats, |b| &b.stats)
            .denied
            .fetch_add(1, Relaxed);
        Some(self.answer(be, a, "PR", keep))
    }

    /// Ends the request with the answer of a rule (`return`, `deny`): counted and
    /// logged.
    fn answer(&self, be: Option<&BackendRt>, a: &Answer, term: &str, keep: bool) -> Next {
        self.fe.stats.status(a.status);
        if let Some(be) = be {
            be.stats.status(a.status);
        }
        let backend = be.map_or(self.fe.cfg.name.as_str(), |b| b.cfg.name.as_str());
        let bytes = own_answer(a, !keep);
        self.log(
            backend,
            "<NOSRV>",
            ConnInfo::default(),
            0,
            a.status,
            if a.silent { 0 } else { bytes.len() as u64 },
            term,
        );
        if a.silent {
            Next::Close
        } else if keep {
            Next::Reply(bytes)
        } else {
            Next::Answer(bytes)
        }
    }

    /// Ends the request with a redirection: counted and logged.
    fn redirect(&self, be: Option<&BackendRt>, code: u16, to: &str, keep: bool) -> Next {
        self.fe.stats.status(code);
        if let Some(be) = be {
            be.stats.status(code);
        }
        let backend = be.map_or(self.fe.cfg.name.as_str(), |b| b.cfg.name.as_str());
        self.log(backend, "<NOSRV>", ConnInfo::default(), 0, code, 0, "LR");
        let mut h = hyper::HeaderMap::new();
        // Targets were checked with the configuration; a path from the request may
        // still hold bytes a header cannot: then it is refused.
        let Ok(v) = hyper::header::HeaderValue::from_str(to) else {
            return Next::Answer(own_answer(&Answer::page(400), true));
        };
        h.insert("location", v);
        h.insert(
            "cache-control",
            hyper::header::HeaderValue::from_static("no-cache"),
        );
        if keep {
            Next::Reply(own_response(code, &h, b"", false))
        } else {
            Next::Answer(own_response(code, &h, b"", true))
        }
    }
}

/// The last answer for a status the load balancer gives itself: the backend's for it
/// (`errorfile`, `http-error`...), else the frontend's, else HAProxy's page; `None`
/// when it is to close without answering.
fn page(fe: &FrontendRt, be: Option<&BackendRt>, code: u16) -> Option<Vec<u8>> {
    let a = super::rules::status_page(fe, be, code);
    (!a.silent).then(|| own_answer(&a, true))
}

/// The stats page, answered by the load balancer itself.
async fn stats_page(
    shared: &Arc<Shared>,
    page: &crate::config::StatsPage,
    req: &ReqHead,
    keep: bool,
    trace: &Trace<'_>,
    admin: bool,
    form: &[u8],
) -> Next {
    let Ok(req) = req.to_request() else {
        return trace.refuse(None, "<STATS>", ConnInfo::default(), 400, "PR");
    };
    let resp = super::stats::serve_http(shared, page, &req, admin, form);
    let code = resp.status().as_u16();
    trace.fe.stats.status(code);
    let (parts, body) = resp.into_parts();
    let body = body
        .collect()
        .await
        .map(|b| b.to_bytes())
        .unwrap_or_default();
    let bytes = own_response(code, &parts.headers, &body, !keep);
    trace.log(
        &trace.fe.cfg.name,
        "<STATS>",
        ConnInfo::default(),
        0,
        code,
        bytes.len() as u64,
        "LR",
    );
    if keep {
        Next::Reply(bytes)
    } else {
        Next::Answer(bytes)
    }
}

/// One request and its answer.
async fn exchange(
    shared: &Arc<Shared>,
    fe: &Arc<FrontendRt>,
    client: &mut TcpStream,
    peer: SocketAddr,
    bufs: (&mut BytesMut, &mut BytesMut),
    (sess, own): (&mut super::rules::Session, &mut Option<OwnConn>),
    req: ReqHead,
) -> Next {
    let sess_addrs = sess.addrs();
    let mut vars = TxnVars::request(sess, fe);
    let mut routed = None;
    let logging = fe.logger.is_active();
    let when = std::time::SystemTime::now();
    let number = super::logfmt::number(fe);
    let unique_id = fe.cfg.unique_id_format.as_ref().and_then(|_| {
        let local = local_addr(client);
        let at = move || local;
        let li = LogInfo::new(
            when,
            number,
            Instant::now(),
            Some(local),
            false,
            req.line().into_owned(),
        );
        let rec = super::http::log_rec(fe, peer, &li, 0, 0, "");
        super::rules::unique_id(&Conn::new(peer, &at, fe), &req, &rec, &mut vars)
    });
    let trace = Trace {
        fe,
        number,
        start: logging.then(Instant::now),
        when,
        unique_id,
        request_line: if logging {
            req.line().into_owned()
        } else {
            String::new()
        },
        line: Default::default(),
        captured: Default::default(),
        moved: Default::default(),
        cookie: std::sync::Mutex::new(['-', '-']),
    };
    let next = exchange_inner(
        shared,
        fe,
        client,
        peer,
        bufs,
        &mut vars,
        (&mut routed, own),
        &req,
        &trace,
    )
    .await;
    // What comes after the exchange sees the addresses its rules moved.
    let moved = trace.moved.lock().map(|m| *m).unwrap_or_default();
    let fc = sess_addrs.front(moved, peer, || local_addr(client));
    let peer = moved.src.unwrap_or(peer);
    let moved_dst = moved.dst.or(sess_addrs.dst);
    let line = trace.line.lock().ok().and_then(|mut l| l.take());
    if let Some((mut li, code, bytes, term)) = line {
        let local = moved_dst.unwrap_or_else(|| local_addr(client));
        li.local = Some(local);
        if !fe.cfg.captures.is_empty() {
            let mut c = trace.captured.lock().map(|c| c.clone()).unwrap_or_default();
            let values = |n: &str| {
                req.header_values(n)
                    .into_iter()
                    .map(|v| v.into_owned())
                    .collect()
            };
            c.take(&fe.cfg.captures, &values, false);
            c.take_rules(&fe.cfg.captures, &vars);
            li.captured = c;
        }
        let at = move || local;
        let conn = Conn {
            be: routed.as_deref(),
            fc,
            ..Conn::new(peer, &at, fe)
        };
        let rec = super::http::log_rec(fe, peer, &li, code, bytes, &term);
        super::rules::log_traffic(&conn, &req, &rec, &mut vars);
    }
    // An answer of our own counts on the tracked entries as a server's does.
    if let (Next::Answer(b) | Next::Reply(b), true) = (&next, vars.counters.tracking()) {
        if let Some(code) = b
            .get(9..12)
            .and_then(|c| std::str::from_utf8(c).ok()?.parse().ok())
        {
            vars.counters.status(code);
        }
    }
    // `http-after-response` on an answer of our own (a server's got them on its way).
    let be = routed.as_deref();
    let has_after = !fe.cfg.http_after_response.is_empty()
        || be.is_some_and(|b| !b.cfg.http_after_response.is_empty());
    if !has_after {
        return next;
    }
    let local = || moved_dst.unwrap_or_else(|| local_addr(client));
    let conn = Conn {
        be,
        fc,
        ..Conn::new(peer, &local, fe)
    };
    match next {
        Next::Answer(b) => Next::Answer(after_own(b, &conn, &req, &mut vars)),
        Next::Reply(b) => Next::Reply(after_own(b, &conn, &req, &mut vars)),
        n => n,
    }
}

/// The `http-after-response` rules (the backend's, then the frontend's) on a whole
/// HTTP/1 answer of the load balancer's own.
fn after_own(bytes: Vec<u8>, conn: &Conn<'_>, req: &ReqHead, vars: &mut TxnVars<'_>) -> Vec<u8> {
    let mut hs = [httparse::EMPTY_HEADER; 64];
    let mut r = httparse::Response::new(&mut hs);
    let Ok(httparse::Status::Complete(n)) = r.parse(&bytes) else {
        return bytes;
    };
    let mut resp = hyper::Response::new(());
    *resp.status_mut() =
        hyper::StatusCode::from_u16(r.code.unwrap_or(200)).unwrap_or(hyper::StatusCode::OK);
    for h in r.headers.iter() {
        if let (Ok(name), Ok(value)) = (
            hyper::header::HeaderName::from_bytes(h.name.as_bytes()),
            hyper::header::HeaderValue::from_bytes(h.value),
        ) {
            resp.headers_mut().append(name, value);
        }
    }
    let old_reason = r.reason.map(String::from);
    let st = Stage {
        conn,
        req,
        req_edits: None,
        resp: Some(&resp),
    };
    let mut v = Verdict::default();
    after_response_rules(&st, &mut v, conn.fe, conn.be, vars);
    let code = resp.status().as_u16();
    let (code, reason) = match v.status.take() {
        Some((c, r)) => (c, r.unwrap_or_else(|| wire::reason_of(c).to_string())),
        None => (
            code,
            old_reason.unwrap_or_else(|| wire::reason_of(code).to_string()),
        ),
    };
    v.apply(resp.headers_mut());
    let mut out = Vec::with_capacity(bytes.len() + 128);
    out.extend_from_slice(format!("HTTP/1.1 {code} {reason}\r\n").as_bytes());
    for (name, value) in resp.headers() {
        out.extend_from_slice(name.as_str().as_bytes());
        out.extend_from_slice(b": ");
        out.extend_from_slice(value.as_bytes());
        out.extend_from_slice(b"\r\n");
    }
    out.extend_from_slice(b"\r\n");
    out.extend_from_slice(&bytes[n..]);
    out
}

/// One request and its answer (`routed`: the backend it went to, if any).
#[allow(clippy::too_many_arguments)]
async fn exchange_inner(
    shared: &Arc<Shared>,
    fe: &Arc<FrontendRt>,
    client: &mut TcpStream,
    peer: SocketAddr,
    (cbuf, sbuf): (&mut BytesMut, &mut BytesMut),
    vars: &mut TxnVars<'_>,
    (routed, own): (&mut Option<Arc<BackendRt>>, &mut Option<OwnConn>),
    req: &ReqHead,
    trace: &Trace<'_>,
) -> Next {
    let logging = trace.start.is_some();
    fe.stats.req_tot.fetch_add(1, Relaxed);
    let keep = client_keeps(req);
    let checked = match request_head_problem(&req.fields) {
        Some(why) => Err(why.to_string()),
        None => request_framing(&req.fields),
    };
    let framing = match checked {
        Ok(f) => f,
        Err(why) => {
            tracing::debug!("bad request from {peer}: {why}");
            return trace.refuse(None, "<NOSRV>", ConnInfo::default(), 400, "PR");
        }
    };
    // `option http-buffer-request`: a body that fits the buffer is waited for before
    // the rules, which read it (`req.body`).
    if fe.cfg.buffer_request && framing != Framing::Empty {
        let max = shared.current.load().config.global.bufsize.max(8192);
        let limit = (fe.cfg.timeout_http_request.or(fe.cfg.timeout_client)).map(|d| d.0);
        let got = match framing {
            Framing::Length(n) if n <= max as u64 => {
                let n = n as usize;
                wire::read_to(client, cbuf, n, limit)
                    .await
                    .map(|()| Some(cbuf[..n].to_vec()))
            }
            Framing::Chunked => wire::read_chunked(client, cbuf, max, limit)
                .await
                .map(|b| b.map(|(_, data)| data)),
            _ => Ok(None),
        };
        match got {
            Ok(Some(body)) => {
                let size = body.len() as u64;
                vars.notes.body = Some((bytes::Bytes::from(body), size));
            }
            Ok(None) => {}
            Err(wire::BodyWait::Timeout) => {
                return trace.refuse(None, "<NOSRV>", ConnInfo::default(), 408, "cD")
            }
            Err(wire::BodyWait::Gone) => return trace.aborted(),
            Err(wire::BodyWait::Bad) => {
                return trace.refuse(None, "<NOSRV>", ConnInfo::default(), 400, "PR")
            }
        }
    }
    let client_ref: &TcpStream = client;
    let sess_addrs = vars.addrs;
    let local = || sess_addrs.dst.unwrap_or_else(|| local_addr(client_ref));
    let conn = Conn {
        unique_id: trace.unique_id.as_deref(),
        fc: sess_addrs.fc,
        ..Conn::new(peer, &local, fe)
    };
    let st = Stage {
        conn: &conn,
        req,
        req_edits: None,
        resp: None,
    };
    // `tcp-request content` rules: a reject closes the connection, unanswered.
    let mut verdict = Verdict::default();
    if !fe.cfg.tcp_request.is_empty()
        && !content_rules_pass(
            &st,
            &mut verdict,
            &fe.cfg.tcp_request,
            &fe.cfg.acl,
            &mut *vars,
        )
    {
        fe.stats.denied.fetch_add(1, Relaxed);
        return trace.gone(None);
    }
    if is_monitor(fe, req) {
        // Answered here, neither forwarded nor logged (HAProxy's monitor-uri).
        let code = monitor_status(&st, fe, &mut *vars);
        return page(fe, None, code).map_or(Next::Close, Next::Answer);
    }
    frontend_request_rules(&st, &mut verdict, fe, &mut *vars);
    trace.moved(&verdict);
    if let (Some(h), Some(id)) = (&fe.cfg.unique_id_header, &trace.unique_id) {
        verdict.added.push((h.as_str(), id.clone()));
    }
    // An answer of our own keeps the connection if nothing of the request is left.
    let keep_own = keep && framing == Framing::Empty;
    if verdict.prometheus {
        let a = super::stats::prometheus_answer(shared);
        return trace.answer(None, &a, "LR", keep_own);
    }
    if let Some(answer) = trace.settle(&verdict, None, keep_own) {
        return answer;
    }
    if let Some(page) = &fe.cfg.stats {
        let admin = page
            .admin
            .as_ref()
            .is_some_and(|a| st.holds(&verdict, &fe.cfg.acl, &a.any_of, a.unless, &mut *vars));
        // Only the admin form has a body worth reading (a small one; read and refused
        // when the condition does not allow it).
        let form = match framing {
            Framing::Empty => Vec::new(),
            Framing::Length(n) if page.admin.is_some() && n <= 16 * 1024 => {
                let n = n as usize;
                let idle = fe.cfg.timeout_client.map(|d| d.0);
                let got = read_head(client, cbuf, n.max(1), idle, idle, |b: &[u8]| {
                    Ok((b.len() >= n).then_some(((), n)))
                })
                .await;
                if got.is_err() {
                    return Next::Gone;
                }
                cbuf.split_to(n).to_vec()
            }
            _ => return trace.refuse(None, "<STATS>", ConnInfo::default(), 400, "PR"),
        };
        return stats_page(shared, page, req, keep, trace, admin, &form).await;
    }
    let Some(be) = choose_backend(&st, &verdict, fe, &mut *vars) else {
        fe.stats.denied.fetch_add(1, Relaxed);
        return trace.refuse(None, "<NOSRV>", ConnInfo::default(), 503, "SC");
    };
    *routed = Some(be.clone());
    let conn = Conn {
        be: Some(&be),
        ..conn
    };
    let st = Stage { conn: &conn, ..st };
    if !be.cfg.tcp_request.is_empty()
        && !content_rules_pass(
            &st,
            &mut verdict,
            &be.cfg.tcp_request,
            &be.cfg.acl,
            &mut *vars,
        )
    {
        be.stats.denied.fetch_add(1, Relaxed);
        return trace.gone(Some(&be));
    }
    backend_request_rules(&st, &mut verdict, &be, &mut *vars);
    // From here on (balancing, `X-Forwarded-For`, what a server is told, the log), the
    // request's addresses are those its rules moved.
    trace.moved(&verdict);
    let fc = sess_addrs.front(verdict.moved, peer, || local_addr(client));
    let peer = verdict.moved.src.unwrap_or(peer);
    let moved_dst = verdict.moved.dst.or(sess_addrs.dst);
    if verdict.prometheus {
        let a = super::stats::prometheus_answer(shared);
        return trace.answer(Some(&be), &a, "LR", keep_own);
    }
    if let Some(answer) = trace.settle(&verdict, Some(&be), keep_own) {
        return answer;
    }
    // A backend serving the stats page: at its URI; other requests go to its servers.
    if let Some(page) = be
        .cfg
        .stats
        .as_ref()
        .filter(|p| req.path().starts_with(&p.uri))
    {
        if framing != Framing::Empty {
            return trace.refuse(Some(&be), "<STATS>", ConnInfo::default(), 400, "PR");
        }
        return stats_page(shared, page, req, keep, trace, false, &[]).await;
    }
    // Persistence by cookie: the server it names, and the cookie kept from it.
    let (cookie_server, cookie_sent) = cookie_server(&be, req);
    let stick = super::rules::request_stick_keys(&st, &verdict, &be, &mut *vars);
    let sampled = super::rules::sample_hash(&st, &verdict, &be, &mut *vars);
    strip_cookie(&be, req, &mut verdict);
    // `Connection: upgrade` with an `Upgrade` header (WebSocket and the like).
    let upgrade = if req.fields.has_token("connection", "upgrade") {
        req.fields.values("upgrade").next()
    } else {
        None
    };
    let answer_continue =
        req.fields.has_token("expect", "100-continue") && framing != Framing::Empty;
    if answer_continue {
        // Say "go on" ourselves; the server gets the body without having to.
        if client
            .write_all(b"HTTP/1.1 100 Continue\r\n\r\n")
            .await
            .is_err()
        {
            return Next::Gone;
        }
    }
    // `option httpclose` (frontend or backend): both connections end with this answer.
    let close_all = fe.cfg.httpclose || be.cfg.httpclose;
    let server_close = be.cfg.http_server_close || close_all || req.version == Version::HTTP_10;
    let keep = keep && !close_all;
    let head = request_for_server(
        req,
        &Rewrite {
            upgrade,
            close: server_close,
            drop_expect: answer_continue,
            forwardfor: fe.cfg.forwardfor.as_ref().or(be.cfg.forwardfor.as_ref()),
            peer,
            originalto: (be.cfg.originalto.as_ref())
                .or(fe.cfg.originalto.as_ref())
                .map(|o| (o, moved_dst.unwrap_or_else(|| local_addr(client)))),
            edits: &verdict,
            length: req
                .fields
                .repeated("content-length")
                .then_some(match framing {
                    Framing::Length(n) => n,
                    _ => 0,
                }),
        },
    );
    let replayable = framing == Framing::Empty;
    let (client_idle, server_idle, tunnel_t) = request_timeouts(vars, fe, &be);
    be.stats.open();
    let mut aff = Affinity::of(&be, peer.ip(), &stick);
    aff.cookie = cookie_server;
    if let Some(key) = &be.cfg.hash_key {
        // The request as the rules left it.
        let target = verdict
            .target
            .clone()
            .unwrap_or_else(|| req.target_text().into_owned());
        let header = |n: &str| req.header_values(n).last().map(|v| v.to_string());
        aff.hash = crate::balance::request_hash(key, &target, &header).or(sampled);
    }
    let mut info = ConnInfo::default();
    let mut attempts = 0u32;
    // `http-reuse safe`: a client connection's first request is not sent on a
    // connection another client used; `aggressive`: only on one that carried two
    // requests at least.
    let first = vars.notes.first_request;
    let mut fresh = upgrade.is_some() || (be.cfg.reuse == crate::config::HttpReuse::Safe && first);
    let proven = be.cfg.reuse == crate::config::HttpReuse::Aggressive && first;
    let mut bytes_in = 0u64;
    // Connect, send the head and the body, read the response head. A reused connection
    // that the server closed before answering is replaced when the request can be sent
    // again.
    let (server, lease, resp, tr, mut kill, uses) = loop {
        attempts += 1;
        let (mut server, lease, ci, uses) = match server_conn(
            &be,
            aff,
            (fresh, proven, &mut *own),
            replayable,
            logging,
            (
                peer,
                if be.tells_clients {
                    moved_dst.unwrap_or_else(|| local_addr(client))
                } else {
                    peer
                },
            ),
        )
        .await
        {
            Ok(x) => x,
            Err(e) => {
                be.stats.close();
                let server = match &e {
                    ConnFail::Connect { server, .. } => server.as_str(),
                    _ => "<NOSRV>",
                };
                return trace.refuse(Some(&be), server, info, 503, e.term());
            }
        };
        info.retries += ci.retries;
        info.queue_ms += ci.queue_ms;
        info.connect_ms += ci.connect_ms;
        let t = logging.then(Instant::now);
        let mut kill = KillWatch::new(&be, &lease);
        let sending = async {
            write_all(&server, &head, server_idle).await?;
            bytes_in = forward_body(
                client,
                cbuf,
                &mut server,
                framing,
                client_idle,
                server_idle,
                fe.splice,
            )
            .await?;
            sbuf.clear();
            Ok(read_response_head(&mut server, sbuf, client, server_idle).await)
        };
        let srv_name = &lease.server().cfg.name;
        let Some(sent) = kill.run(sending).await else {
            be.stats.close();
            return trace.refuse(Some(&be), srv_name, info, 502, "DH");
        };
        let got = match sent {
            Ok(got) => got,
            // A body cannot be sent again: the request fails here.
            Err(BodyError::Sink) if !replayable => {
                be.stats.close();
                lease.server().shared.stats.eresp.fetch_add(1, Relaxed);
                return trace.refuse(Some(&be), srv_name, info, 502, "SH");
            }
            Err(BodyError::Sink) => Err(HeadError::Io),
            // The client's body was invalid or ended early: a 400 if it still listens.
            Err(BodyError::Source) => {
                be.stats.close();
                return trace.refuse(Some(&be), srv_name, info, 400, "CD");
            }
            // No progress within the timeouts.
            Err(BodyError::Timeout) => {
                be.stats.close();
                trace.log(&be.cfg.name, srv_name, info, 0, 408, 0, "cD");
                return Next::Gone;
            }
        };
        let e = match got {
            Ok(resp) => {
                break (
                    server,
                    lease,
                    resp,
                    t.map_or(0, |t| t.elapsed().as_millis()),
                    kill,
                    uses,
                )
            }
            Err(e) => e,
        };
        // Nothing came back: sent again on a new connection (perhaps to another server)
        // when it can be — a connection that carried requests before may have been
        // closed by the server meanwhile; a new one that dies unanswered (a server
        // killed with connections in its backlog) is retried for idempotent methods,
        // unless the server was marked down meanwhile.
        if (uses > 0 || (super::rules::idempotent(req.method()) && be.alive(lease.idx)))
            && replayable
            && matches!(e, HeadError::Closed | HeadError::Io)
            && attempts <= be.cfg.retries + 1
        {
            info.retries += 1;
            be.stats.wretr.fetch_add(1, Relaxed);
            fresh = true;
            continue;
        }
        let srv = lease.server();
        srv.shared.stats.eresp.fetch_add(1, Relaxed);
        be.stats.eresp.fetch_add(1, Relaxed);
        if srv.cfg.observe.is_some() {
            be.health_event(
                lease.idx,
                Event::LiveError,
                "no valid response from the server",
            );
        }
        be.stats.close();
        return if matches!(e, HeadError::NoStart | HeadError::Timeout) {
            trace.refuse(Some(&be), &srv.cfg.name, info, 504, "sH")
        } else {
            trace.refuse(Some(&be), &srv.cfg.name, info, 502, "SH")
        };
    };
    let code = resp.code;
    let srv = lease.server();
    if srv.cfg.observe == Some(crate::config::Observe::Layer7) {
        let ev = if is_l7_error(code) {
            Event::LiveError
        } else {
            Event::LiveSuccess
        };
        be.health_event(lease.idx, ev, &format!("HTTP status {code}"));
    }
    let Ok(mut rframing) = response_framing(&req.method, code, &resp) else {
        be.stats.close();
        return trace.refuse(Some(&be), &srv.cfg.name, info, 502, "SH");
    };
    fe.stats.status(code);
    be.stats.status(code);
    srv.shared.stats.status(code);
    vars.counters.status(code);
    if code == 101 {
        // RFC 6455 §4.1: a server that accepts a WebSocket handshake answers its key.
        if is_websocket_upgrade(&req.fields) && !resp.fields.has("sec-websocket-accept") {
            be.stats.close();
            return trace.refuse(Some(&be), &srv.cfg.name, info, 502, "SH");
        }
        if upgrade.is_some() {
            let idle = super::tcp::tunnel_idle_of(client_idle, server_idle, tunnel_t);
            return tunnel(
                fe,
                &be,
                (client, server),
                lease,
                (cbuf, sbuf),
                &resp,
                &mut kill,
                idle,
            )
            .await;
        }
        rframing = Framing::Close;
    }
    // Transfer-Encoding overrides Content-Length, which is not passed on (RFC 9112
    // §6.3); the server connection is not reused after such an answer.
    let both_lengths = resp.fields.has("transfer-encoding") && resp.fields.has("content-length");
    let server_keeps = !server_close
        && !both_lengths
        && match resp.version {
            Version::HTTP_10 => resp.fields.has_token("connection", "keep-alive"),
            _ => !resp.fields.has_token("connection", "close"),
        };
    let old_client = req.version == Version::HTTP_10;
    // An HTTP/1.0 client knows no chunked coding: it reads such a body until the end.
    let client_stays =
        keep && rframing != Framing::Close && !(old_client && rframing == Framing::Chunked);
    let client_ref: &TcpStream = client;
    let local = || moved_dst.unwrap_or_else(|| local_addr(client_ref));
    let conn = Conn {
        peer,
        local: &local,
        fe,
        be: Some(&be),
        server: Some(&srv.cfg.name),
        tls: None,
        payload: None,
        unique_id: trace.unique_id.as_deref(),
        fc,
    };
    if !fe.cfg.captures.is_empty() {
        let values = |n: &str| {
            super::rules::ResponseView::header_values(&resp, n)
                .into_iter()
                .map(|v| v.into_owned())
                .collect()
        };
        if let Ok(mut c) = trace.captured.lock() {
            c.take(&fe.cfg.captures, &values, true);
        }
    }
    let st = Stage {
        conn: &conn,
        req,
        req_edits: Some(&verdict),
        resp: Some(&resp),
    };
    super::rules::stick_response(&st, &be, lease.idx, &mut *vars);
    let mut edits = response_rules(&st, fe, &be, &mut *vars);
    if let Some(a) = &edits.answer {
        // The server's answer is not passed on, nor its connection kept.
        be.stats.close();
        return trace.answer(Some(&be), a, "PH", keep);
    }
    let set_cookies = || super::rules::ResponseView::header_values(&resp, "set-cookie");
    let touched = set_cookie(
        &be,
        lease.idx,
        cookie_sent.as_deref(),
        &set_cookies,
        &mut edits,
    );
    if be.cfg.cookie.is_some() {
        let flags = super::rules::cookie_flags(
            &be,
            cookie_sent.as_deref(),
            cookie_server,
            lease.idx,
            touched,
            &set_cookies,
        );
        if let Ok(mut c) = trace.cookie.lock() {
            *c = flags;
        }
    }
    if !fe.cfg.http_after_response.is_empty() || !be.cfg.http_after_response.is_empty() {
        let st = Stage {
            conn: &conn,
            req,
            req_edits: Some(&verdict),
            resp: Some(&resp),
        };
        after_response_rules(&st, &mut edits, fe, Some(&be), &mut *vars);
    }
    if let Some(a) = &edits.deny {
        // The server's answer is not passed on, nor its connection kept.
        be.stats.denied.fetch_add(1, Relaxed);
        be.stats.close();
        return trace.answer(Some(&be), a, "PH", keep);
    }
    let mut out = Vec::with_capacity(512 + sbuf.len().min(16 * 1024));
    match edits.status.take() {
        Some((code, reason)) => resp.write_status_line_as(&mut out, req.version, code, reason),
        None => resp.write_status_line(&mut out, req.version),
    }
    let mut skip = edits.skip();
    if both_lengths {
        skip.push("content-length");
    }
    resp.fields.write(&mut out, true, &skip);
    for (name, value) in edits.added_lines() {
        out.extend_from_slice(name.as_bytes());
        out.extend_from_slice(b": ");
        out.extend_from_slice(value.as_bytes());
        out.extend_from_slice(b"\r\n");
    }
    if !client_stays {
        out.extend_from_slice(b"connection: close\r\n");
    } else if old_client {
        out.extend_from_slice(b"connection: keep-alive\r\n");
    }
    out.extend_from_slice(b"\r\n");
    // A small body already read goes out with the head in one write.
    let mut leading = 0u64;
    if let Framing::Length(n) = rframing {
        if (sbuf.len() as u64) >= n {
            out.extend_from_slice(&sbuf[..n as usize]);
            sbuf.advance(n as usize);
            leading = n;
            rframing = Framing::Empty;
        }
    }
    // The whole answer in hand: the server connection can take another request (the
    // next one of this client, already on its way) while this answer is written.
    let mut server = Some(server);
    if rframing == Framing::Empty && server_keeps && sbuf.is_empty() {
        if let Some(s) = server.take() {
            give_back(&lease, s, uses + 1, own);
        }
    }
    let mut moved = write_all(client, &out, client_idle).await.map(|()| 0);
    let mut killed = false;
    if let (true, Some(server)) = (moved.is_ok(), server.as_mut()) {
        let body = forward_body(
            server,
            sbuf,
            client,
            rframing,
            server_idle,
            client_idle,
            fe.splice,
        );
        // The client cannot be told: its connection ends with the body cut short.
        moved = kill.run(body).await.unwrap_or_else(|| {
            killed = true;
            Err(BodyError::Source)
        });
    }
    be.stats.close();
    let bytes_out = leading + moved.unwrap_or(0);
    for st in [&*fe.stats, &*be.stats, &srv.shared.stats] {
        st.bytes_in.fetch_add(bytes_in, Relaxed);
        st.bytes_out.fetch_add(bytes_out, Relaxed);
    }
    let term = match moved {
        _ if killed => "DD",
        Ok(_) => "--",
        Err(BodyError::Sink) => "CD",
        Err(BodyError::Timeout) => "sD",
        Err(BodyError::Source) => "SD",
    };
    trace.log(
        &be.cfg.name,
        &srv.cfg.name,
        info,
        tr as u64,
        code,
        bytes_out,
        term,
    );
    if let Some(server) = server
        .filter(|_| moved.is_ok() && server_keeps && rframing != Framing::Close && sbuf.is_empty())
    {
        give_back(&lease, server, uses + 1, own);
    }
    match moved {
        Ok(_) if client_stays => Next::KeepAlive,
        Ok(_) => Next::Close,
        Err(_) => Next::Gone,
    }
}

/// Reads the final response head, passing interim (1xx other than 101) answers on.
async fn read_response_head(
    server: &mut TcpStream,
    sbuf: &mut BytesMut,
    client: &mut TcpStream,
    idle: Option<Duration>,
) -> Result<RespHead, HeadError> {
    loop {
        let (resp, n) = read_head(server, sbuf, 64 * 1024, idle, idle, parse_response).await?;
        if (100..200).contains(&resp.code) && resp.code != 101 {
            let mut out = Vec::new();
            resp.write_status_line(&mut out, Version::HTTP_11);
            resp.fields.write(&mut out, false, &[]);
            out.extend_from_slice(b"\r\n");
            sbuf.advance(n);
            client.write_all(&out).await.map_err(|_| HeadError::Io)?;
            continue;
        }
        sbuf.advance(n);
        return Ok(resp);
    }
}

/// After `101 Switching Protocols`: pass the answer on, then join both connections as
/// a tunnel (`timeout tunnel`, else the client/server timeouts).
#[allow(clippy::too_many_arguments)]
async fn tunnel(
    fe: &Arc<FrontendRt>,
    be: &Arc<BackendRt>,
    (client, mut server): (&mut TcpStream, TcpStream),
    lease: Lease,
    (cbuf, sbuf): (&mut BytesMut, &mut BytesMut),
    resp: &RespHead,
    kill: &mut KillWatch,
    idle: Option<Duration>,
) -> Next {
    let mut out = Vec::new();
    resp.write_status_line(&mut out, Version::HTTP_11);
    resp.fields.write(&mut out, false, &[]);
    out.extend_from_slice(b"\r\n");
    out.extend_from_slice(sbuf);
    sbuf.clear();
    if client.write_all(&out).await.is_err() || server.write_all(cbuf).await.is_err() {
        be.stats.close();
        return Next::Gone;
    }
    cbuf.clear();
    let copied = kill.run(super::http::copy_idle(&mut *client, &mut server, idle));
    let (bin, bout) = copied.await.unwrap_or_default();
    for st in [&*fe.stats, &*be.stats, &lease.server().shared.stats] {
        st.bytes_in.fetch_add(bin, Relaxed);
        st.bytes_out.fetch_add(bout, Relaxed);
    }
    be.stats.close();
    Next::Gone
}

/// How a request head changes on its way to the server.
struct Rewrite<'a> {
    /// The protocol a client asks to switch to: `Connection: upgrade` is kept.
    upgrade: Option<&'a [u8]>,
    /// Ask the server to close after the answer.
    close: bool,
    /// `Expect: 100-continue` was answered here.
    drop_expect: bool,
    forwardfor: Option<&'a crate::config::ForwardFor>,
    peer: SocketAddr,
    /// What `http-request` rules changed: header lines gone and added, the method,
    /// the target.
    edits: &'a Verdict<'a>,
    /// A Content-Length given as a list of equal values or on several lines, passed on
    /// as one value: a server reading only the first digits or the last line would
    /// frame the body differently.
    length: Option<u64>,
    /// `option originalto`, with the address the client connected to.
    originalto: Option<(&'a crate::config::ForwardFor, SocketAddr)>,
}

/// The request head for the server: hop-by-hop headers removed (an upgrade asked for
/// is kept), `X-Forwarded-For` added, an absolute-form target in origin form with its
/// Host. The other header lines pass as they came.
fn request_for_server(req: &ReqHead, rw: &Rewrite<'_>) -> Vec<u8> {
    let mut out = Vec::with_capacity(512);
    let e = rw.edits;
    out.extend_from_slice(
        e.method
            .as_deref()
            .unwrap_or(req.method.as_str())
            .as_bytes(),
    );
    out.push(b' ');
    // A target from a sample that holds blanks or line breaks would break the line.
    let target = e
        .target
        .as_deref()
        .filter(|t| !t.bytes().any(|b| b <= b' ' || b == 0x7f))
        .unwrap_or(req.origin_target());
    out.extend_from_slice(target.as_bytes());
    out.push(b' ');
    out.extend_from_slice(version_str(req.version).as_bytes());
    out.extend_from_slice(b"\r\n");
    let mut skip = e.skip();
    if rw.drop_expect {
        skip.push("expect");
    }
    if rw.length.is_some() {
        skip.push("content-length");
    }
    req.fields.write(&mut out, true, &skip);
    let mut line = |name: &[u8], value: &[u8]| {
        out.extend_from_slice(name);
        out.extend_from_slice(b": ");
        out.extend_from_slice(value);
        out.extend_from_slice(b"\r\n");
    };
    for (name, value) in e.added_lines() {
        line(name.as_bytes(), value.as_bytes());
    }
    match rw.upgrade {
        Some(u) => {
            line(b"connection", b"upgrade");
            line(b"upgrade", u);
        }
        None if rw.close => line(b"connection", b"close"),
        None => {}
    }
    let added = [rw.forwardfor.map(|f| (f, rw.peer)), rw.originalto];
    for (ff, addr) in added.into_iter().flatten() {
        if let Some(ip) = forwarded_for(ff, addr) {
            // HAProxy appends a new header line; so do we.
            line(ff.header.as_bytes(), ip.as_bytes());
        }
    }
    if let Some(host) = req.missing_host() {
        line(b"host", host.as_bytes());
    }
    if let Some(n) = rw.length {
        line(b"content-length", n.to_string().as_bytes());
    }
    out.extend_from_slice(b"\r\n");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rewrite(head: &str, rw: &Rewrite<'_>) -> String {
        let (req, n) = parse_request(head.as_bytes())
            .expect("valid")
            .expect("complete");
        assert_eq!(n, head.len());
        String::from_utf8(request_for_server(&req, rw)).expect("text")
    }

    #[test]
    fn request_heads_are_rewritten_for_the_server() {
        let peer: SocketAddr = "[::ffff:10.0.0.7]:4000".parse().expect("addr");
        let ff = crate::config::ForwardFor {
            header: "X-Forwarded-For".into(),
            except: None,
        };
        let plain = Rewrite {
            upgrade: None,
            close: false,
            drop_expect: false,
            forwardfor: None,
            peer,
            edits: &Verdict::default(),
            length: None,
            originalto: None,
        };
        // Header lines pass as they came, hop-by-hop ones and those Connection names
        // excepted.
        assert_eq!(
            rewrite(
                "GET /a?b=1 HTTP/1.1\r\nHost: x\r\nConnection: keep-alive, X-Hop\r\nX-Hop: 1\r\nKeep-Alive: 5\r\nTE: trailers\r\nX-End: 2\r\n\r\n",
                &plain
            ),
            "GET /a?b=1 HTTP/1.1\r\nHost: x\r\nX-End: 2\r\n\r\n"
        );
        // Absolute form: origin form and a Host; the client address (IPv4 shown as
        // such); asked to close.
        assert_eq!(
            rewrite(
                "GET http://example.test:8080/p HTTP/1.0\r\nAccept: */*\r\n\r\n",
                &Rewrite {
                    close: true,
                    forwardfor: Some(&ff),
                    ..plain
                }
            ),
            "GET /p HTTP/1.0\r\nAccept: */*\r\nconnection: close\r\nX-Forwarded-For: 10.0.0.7\r\nhost: example.test:8080\r\n\r\n"
        );
        // `except` leaves the header out for clients in that network.
        let ff_except = crate::config::ForwardFor {
            header: "X-Client".into(),
            except: Some(crate::config::Cidr::parse("10.0.0.0/8").expect("cidr")),
        };
        assert_eq!(
            rewrite(
                "GET / HTTP/1.1\r\nHost: x\r\n\r\n",
                &Rewrite {
                    forwardfor: Some(&ff_except),
                    ..plain
                }
            ),
            "GET / HTTP/1.1\r\nHost: x\r\n\r\n"
        );
        // An upgrade keeps its Connection and Upgrade; an answered Expect is dropped.
        assert_eq!(
            rewrite(
                "POST /ws HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: websocket\r\nExpect: 100-continue\r\nContent-Length: 3\r\n\r\n",
                &Rewrite {
                    upgrade: Some(b"websocket"),
                    close: true,
                    drop_expect: true,
                    ..plain
                }
            ),
            "POST /ws HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\nconnection: upgrade\r\nupgrade: websocket\r\n\r\n"
        );
        // A Content-Length list or repetition goes on as one value, in place of them.
        assert_eq!(
            rewrite(
                "POST / HTTP/1.1\r\nContent-Length: 3, 3\r\nHost: x\r\ncontent-length: 3\r\n\r\n",
                &Rewrite {
                    length: Some(3),
                    ..plain
                }
            ),
            "POST / HTTP/1.1\r\nHost: x\r\ncontent-length: 3\r\n\r\n"
        );
    }

    #[test]
    fn requests_route_by_host_and_path_in_either_form() {
        use super::super::rules::RequestView;
        let (r, _) = parse_request(b"GET /api/v1?x=/y HTTP/1.1\r\nHost: Api.Test:5000\r\n\r\n")
            .expect("valid")
            .expect("complete");
        assert_eq!(r.path(), "/api/v1");
        assert_eq!(r.host_field(), Some("Api.Test:5000"));
        assert_eq!(r.line(), "GET /api/v1?x=/y HTTP/1.1");
        let (r, _) = parse_request(b"GET http://h.test/z?q HTTP/1.1\r\n\r\n")
            .expect("valid")
            .expect("complete");
        assert_eq!((r.path(), r.host_field()), ("/z", Some("h.test")));
        assert!(matches!(
            parse_request(b"GET ht!tp://[ HTTP/1.1\r\n\r\n"),
            Err(HeadError::Bad(_))
        ));
    }
}
