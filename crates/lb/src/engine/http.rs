//! `mode http` for HTTP/2 clients (hyper 1) and what it shares with [`super::h1`]: the
//! HTTP/2 preface detection (h2c with prior knowledge), ACL routing, the
//! stats page, `option forwardfor`, retries on another server when a connection fails,
//! layer-7 passive checks and `httplog` lines.

use super::rules::{
    after_response_rules, backend_request_rules, choose_backend, content_rules_pass, cookie_server,
    frontend_request_rules, is_monitor, monitor_status, response_rules, set_cookie, strip_cookie,
    Answer, Conn, RequestView, ResponseView, Stage, TxnVars, Verdict,
};
use super::state::*;
use super::tcp::{connect_server, ConnFail, ConnInfo};
use super::Shared;
use crate::config::ForwardFor;
use crate::health::Event;
use bytes::Bytes;
use http_body_util::{combinators::BoxBody, BodyExt, Full};
use hyper::body::{Body, Frame, Incoming, SizeHint};
use hyper::header::{HeaderMap, HeaderName, HeaderValue, HOST};
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::{TokioIo, TokioTimer};
use std::borrow::Cow;
use std::convert::Infallible;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::atomic::Ordering::Relaxed;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

pub type BoxError = Box<dyn std::error::Error + Send + Sync>;
pub type ProxyBody = BoxBody<Bytes, BoxError>;

/// An idle connection to a server, ready for the next request.
pub struct PooledConn {
    sender: hyper::client::conn::http1::SendRequest<ProxyBody>,
    idle_since: Instant,
    /// The name its TLS handshake sent (`sni`): reused only for the same name.
    sni: Option<String>,
}

/// A kept-alive connection idle for longer than this may be closed by the server just as
/// a request is sent on it; a body-less request then keeps a copy to be sent again.
pub(super) const STALE_AFTER: Duration = Duration::from_millis(300);

/// Idle connections kept per server.
pub(super) const POOL_MAX: usize = 256;

struct Ctx {
    shared: Arc<Shared>,
    fe: Arc<FrontendRt>,
    peer: SocketAddr,
    /// The listener's address the client connected to.
    local: SocketAddr,
    /// The session's variables as the connection's rules left them: each request
    /// starts from them (its own changes to `sess.` stay with it).
    sess: super::rules::Session,
    /// The client connection's TLS, if any.
    tls: Option<super::rules::TlsInfo>,
    /// Requests that came on the connection so far.
    requests: std::sync::atomic::AtomicU64,
}

/// How long a client may take to send a request head (including a kept-alive wait).
pub fn head_timeout(fe: &FrontendRt) -> Duration {
    match (fe.cfg.timeout_http_request, fe.cfg.timeout_http_keep_alive) {
        (Some(r), Some(k)) => Some(r.max(k)),
        (r, k) => r.or(k),
    }
    .or(fe.cfg.timeout_client)
    .map(|d| d.0)
    .unwrap_or(Duration::from_secs(30))
}

/// What a new client connection opened with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Opening {
    Http1,
    /// The HTTP/2 connection preface (h2c with prior knowledge).
    Http2,
}

const H2_PREFACE: &[u8] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";

/// Waits for the first bytes of a new client connection (within the head timeout) and
/// tells HTTP/1 from the HTTP/2 preface, without consuming anything. The caller creates
/// the HTTP session only then, so that thousands of idle connections cost a socket and
/// a small task each, not an HTTP connection state.
pub async fn opening(fe: &FrontendRt, stream: &tokio::net::TcpStream) -> Option<Opening> {
    let wait = async {
        let mut head = [std::mem::MaybeUninit::<u8>::uninit(); H2_PREFACE.len()];
        let mut pause = Duration::from_millis(1);
        loop {
            stream.readable().await?;
            // Readiness can be reported before any byte is there: peek to be sure.
            let n = match stream.try_io(tokio::io::Interest::READABLE, || {
                socket2::SockRef::from(stream).peek(&mut head)
            }) {
                Ok(n) => n,
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => continue,
                Err(e) => return Err(e),
            };
            if n == 0 {
                return Err(std::io::ErrorKind::UnexpectedEof.into());
            }
            // SAFETY: peek initialised the first n bytes.
            let got: Vec<u8> = head[..n]
                .iter()
                .map(|b| unsafe { b.assume_init() })
                .collect();
            if !H2_PREFACE.starts_with(&got) {
                return Ok(Opening::Http1);
            }
            if n == H2_PREFACE.len() {
                return Ok(Opening::Http2);
            }
            // A prefix of the preface so far: wait for the rest (the bytes already
            // there keep the socket readable, so poll with a growing pause).
            tokio::time::sleep(pause).await;
            pause = (pause * 2).min(Duration::from_millis(50));
        }
    };
    match tokio::time::timeout(head_timeout(fe), wait).await {
        Ok(Ok(o)) => Some(o),
        _ => None,
    }
}

/// Requests of one HTTP/2 connection: how many are running, how many were seen.
#[derive(Default)]
struct StreamCount {
    active: std::sync::atomic::AtomicUsize,
    seen: std::sync::atomic::AtomicU64,
}

struct Running(Arc<StreamCount>);

impl Running {
    fn new(c: &Arc<StreamCount>) -> Running {
        c.active.fetch_add(1, Relaxed);
        c.seen.fetch_add(1, Relaxed);
        Running(c.clone())
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        self.0.active.fetch_sub(1, Relaxed);
    }
}

/// A client connection that opened with the HTTP/2 preface: up to 100 concurrent
/// streams (HAProxy's default), each request proxied to a server in HTTP/1.1; pings
/// find dead clients, and a connection without a request for the idle timeout is
/// closed gracefully (GOAWAY).
pub async fn session_h2(
    shared: &Arc<Shared>,
    fe: &Arc<FrontendRt>,
    stream: tokio::net::TcpStream,
    peer: SocketAddr,
    sess: super::rules::Session,
) {
    let local = sess.addrs().dst.unwrap_or_else(|| local_addr(&stream));
    let c = Client {
        peer,
        local,
        sess,
        tls: None,
    };
    serve_hyper(shared, fe, TokioIo::new(stream), c, true).await
}

/// A client connection as the rules see it.
pub(super) struct Client {
    pub(super) peer: SocketAddr,
    pub(super) local: SocketAddr,
    pub(super) sess: super::rules::Session,
    pub(super) tls: Option<super::rules::TlsInfo>,
}

/// Serves a client connection with hyper: HTTP/2 (`h2`) or HTTP/1.1 (a TLS connection
/// that did not choose h2 by ALPN); each request goes through [`handle`].
pub(super) async fn serve_hyper<IO>(
    shared: &Arc<Shared>,
    fe: &Arc<FrontendRt>,
    io: IO,
    client: Client,
    h2: bool,
) where
    IO: hyper::rt::Read + hyper::rt::Write + Unpin + Send + 'static,
{
    let ctx = Arc::new(Ctx {
        shared: shared.clone(),
        fe: fe.clone(),
        peer: client.peer,
        local: client.local,
        sess: client.sess,
        tls: client.tls,
        requests: Default::default(),
    });
    let bufsize = shared.current.load().config.global.bufsize.max(8192);
    let idle = head_timeout(fe);
    let count = Arc::new(StreamCount::default());
    let c2 = count.clone();
    let svc = hyper::service::service_fn(move |req| {
        let ctx = ctx.clone();
        let running = Running::new(&c2);
        async move {
            let resp = handle(ctx, req).await;
            drop(running);
            // A rejected request's stream is reset (hyper does that on an error).
            match resp.extensions().get::<Rejected>() {
                Some(_) => Err(Rejected),
                None => Ok(resp),
            }
        }
    });
    // Until the connection ends; one without a request for the idle time is closed
    // gracefully.
    macro_rules! drive {
        ($conn:expr) => {{
            let mut conn = std::pin::pin!($conn);
            let mut last_seen = u64::MAX;
            loop {
                tokio::select! {
                    _ = conn.as_mut() => return,
                    _ = tokio::time::sleep(idle) => {
                        let seen = count.seen.load(Relaxed);
                        if count.active.load(Relaxed) == 0 && seen == last_seen {
                            conn.as_mut().graceful_shutdown();
                            let _ = conn.await;
                            return;
                        }
                        last_seen = seen;
                    }
                }
            }
        }};
    }
    if h2 {
        let mut b = hyper::server::conn::http2::Builder::new(hyper_util::rt::TokioExecutor::new());
        b.timer(TokioTimer::new())
            .max_concurrent_streams(100)
            .max_header_list_size(u32::try_from(bufsize).unwrap_or(u32::MAX))
            .keep_alive_interval(Some(idle))
            .keep_alive_timeout(Duration::from_secs(20));
        drive!(b.serve_connection(io, svc))
    } else {
        let mut b = hyper::server::conn::http1::Builder::new();
        b.timer(TokioTimer::new())
            .header_read_timeout(idle)
            .max_buf_size(bufsize.max(8192));
        drive!(b.serve_connection(io, svc).with_upgrades())
    }
}

/// The answer for a status the load balancer gives itself: the backend's for it
/// (`errorfile`, `http-error`...), else the frontend's, else HAProxy's page. One that
/// is to close without answering resets the stream.
fn page_h2(fe: &FrontendRt, be: Option<&BackendRt>, code: u16) -> Response<ProxyBody> {
    own_h2(&super::rules::status_page(fe, be, code), be)
}

/// An answer of the load balancer's own, marked with the backend it was routed to.
fn own_h2(a: &Answer, be: Option<&BackendRt>) -> Response<ProxyBody> {
    if a.silent {
        return reset_response();
    }
    let mut r = answer_response(a);
    if let Some(b) = be {
        r.extensions_mut().insert(RoutedTo(b.cfg.name.clone()));
    }
    r
}

/// A redirection answered by the load balancer.
fn redirect_response(code: u16, to: &str) -> Response<ProxyBody> {
    let mut r = Response::new(full(Bytes::new()));
    *r.status_mut() = StatusCode::from_u16(code).unwrap_or(StatusCode::FOUND);
    match HeaderValue::from_str(to) {
        Ok(v) => {
            r.headers_mut().insert("location", v);
        }
        Err(_) => *r.status_mut() = StatusCode::BAD_REQUEST,
    }
    r.headers_mut()
        .insert("cache-control", HeaderValue::from_static("no-cache"));
    r
}

pub fn full(s: impl Into<Bytes>) -> ProxyBody {
    Full::new(s.into())
        .map_err(|e: Infallible| -> BoxError { match e {} })
        .boxed()
}

impl<B: Sync> RequestView for Request<B> {
    fn host_field(&self) -> Option<&str> {
        match self.headers().get(HOST) {
            Some(v) => v.to_str().ok(),
            None => self.uri().host(),
        }
    }

    fn path(&self) -> &str {
        self.uri().path()
    }

    fn method(&self) -> &str {
        Request::method(self).as_str()
    }

    fn path_and_query(&self) -> &str {
        self.uri().path_and_query().map_or("/", |p| p.as_str())
    }

    fn target_text(&self) -> Cow<'_, str> {
        Cow::Owned(self.uri().to_string())
    }

    fn version(&self) -> &'static str {
        version_text(Request::version(self))
    }

    /// HTTP/2's `:authority` counts as the Host header, as HAProxy makes it one.
    fn header_values(&self, name: &str) -> Vec<Cow<'_, str>> {
        let mut v = values_of(self.headers(), name);
        if v.is_empty() && name.eq_ignore_ascii_case("host") {
            v.extend(self.uri().authority().map(|a| Cow::Borrowed(a.as_str())));
        }
        v
    }

    fn header_lines(&self) -> Vec<(Cow<'_, str>, Cow<'_, str>)> {
        let mut v = lines_of(self.headers());
        if !self.headers().contains_key(HOST) {
            if let Some(a) = self.uri().authority() {
                v.insert(0, (Cow::Borrowed("host"), Cow::Borrowed(a.as_str())));
            }
        }
        v
    }
}

impl<B: Sync> ResponseView for Response<B> {
    fn status(&self) -> u16 {
        Response::status(self).as_u16()
    }

    fn version(&self) -> &'static str {
        version_text(Response::version(self))
    }

    fn header_values(&self, name: &str) -> Vec<Cow<'_, str>> {
        values_of(self.headers(), name)
    }

    fn header_lines(&self) -> Vec<(Cow<'_, str>, Cow<'_, str>)> {
        lines_of(self.headers())
    }
}

/// "1.0", "1.1" or "2.0", as `req.ver` gives it.
pub(super) fn version_text(v: hyper::Version) -> &'static str {
    match v {
        hyper::Version::HTTP_10 => "1.0",
        hyper::Version::HTTP_2 => "2.0",
        _ => "1.1",
    }
}

fn values_of<'h>(h: &'h HeaderMap, name: &str) -> Vec<Cow<'h, str>> {
    h.get_all(name)
        .iter()
        .map(|v| String::from_utf8_lossy(v.as_bytes()))
        .collect()
}

/// The protocol a request asks to switch to: its `Upgrade` header, when `Connection`
/// names it.
fn upgrade_asked(h: &HeaderMap) -> Option<HeaderValue> {
    let asked = h
        .get_all(hyper::header::CONNECTION)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|t| t.trim().eq_ignore_ascii_case("upgrade"));
    asked
        .then(|| h.get(hyper::header::UPGRADE).cloned())
        .flatten()
}

/// A header's lines in `h`, as text of their own.
fn owned_values(h: &HeaderMap) -> impl Fn(&str) -> Vec<String> + '_ {
    move |n| values_of(h, n).into_iter().map(Cow::into_owned).collect()
}

fn lines_of(h: &HeaderMap) -> Vec<(Cow<'_, str>, Cow<'_, str>)> {
    h.iter()
        .map(|(n, v)| {
            (
                Cow::Borrowed(n.as_str()),
                String::from_utf8_lossy(v.as_bytes()),
            )
        })
        .collect()
}

/// A request that `tcp-request content reject` ends: its stream is reset.
#[derive(Debug, Clone, Copy)]
struct Rejected;

impl std::fmt::Display for Rejected {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("rejected by tcp-request content rules")
    }
}

impl std::error::Error for Rejected {}

/// The mark of a rejected request, turned into a stream reset by the service.
fn reset_response() -> Response<ProxyBody> {
    let mut r = Response::new(full(Bytes::new()));
    r.extensions_mut().insert(Rejected);
    r
}

/// An answer of a `return` rule.
fn answer_response(a: &Answer) -> Response<ProxyBody> {
    let mut resp = Response::new(full(a.body.clone()));
    *resp.status_mut() = StatusCode::from_u16(a.status).unwrap_or(StatusCode::OK);
    for (n, v) in &a.headers {
        if let (Ok(n), Ok(v)) = (
            HeaderName::from_bytes(n.as_bytes()),
            HeaderValue::from_str(v),
        ) {
            resp.headers_mut().append(n, v);
        }
    }
    resp
}

pub(super) const HOP_BY_HOP: &[&str] = &[
    "connection",
    "keep-alive",
    "proxy-connection",
    "te",
    "trailer",
    "upgrade",
    "proxy-authorization",
    "proxy-authenticate",
];

pub(super) fn strip_hop_by_hop(h: &mut HeaderMap) {
    let listed: Vec<HeaderName> = h
        .get_all("connection")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .filter_map(|t| HeaderName::from_bytes(t.trim().as_bytes()).ok())
        .collect();
    for n in listed {
        h.remove(n);
    }
    for n in HOP_BY_HOP {
        h.remove(*n);
    }
}

/// The address a client connected to (0.0.0.0:0 if the socket cannot tell).
/// The address the client connected to: the socket's, or, behind a proxy that said
/// it in a PROXY protocol header (`accept-proxy`), the one it told.
pub(super) fn local_addr(s: &tokio::net::TcpStream) -> SocketAddr {
    super::proxy_proto::proxied_dst().unwrap_or_else(|| {
        s.local_addr()
            .unwrap_or_else(|_| SocketAddr::from(([0, 0, 0, 0], 0)))
    })
}

/// The client address `option forwardfor` adds, unless `except` covers it (IPv4
/// clients of an IPv6 socket are shown as IPv4).
pub(super) fn forwarded_for(ff: &ForwardFor, peer: SocketAddr) -> Option<String> {
    if ff.except.is_some_and(|c| c.contains(peer.ip())) {
        return None;
    }
    Some(peer.ip().to_canonical().to_string())
}

/// Rewrites an HTTP/2 client's request head for an HTTP/1.1 server: hop-by-hop
/// headers removed, `X-Forwarded-For` added, the target in origin form with its Host.
pub(super) fn prepare_request_head(
    parts: &mut hyper::http::request::Parts,
    forwardfor: Option<(&ForwardFor, SocketAddr)>,
    originalto: Option<(&ForwardFor, SocketAddr)>,
) {
    strip_hop_by_hop(&mut parts.headers);
    parts.version = hyper::Version::HTTP_11;
    for (ff, addr) in [forwardfor, originalto].into_iter().flatten() {
        if let (Ok(name), Some(Ok(val))) = (
            HeaderName::from_bytes(ff.header.as_bytes()),
            forwarded_for(ff, addr).map(|ip| HeaderValue::from_str(&ip)),
        ) {
            // HAProxy appends a new header line; so do we.
            parts.headers.append(name, val);
        }
    }
    if parts.uri.scheme().is_some() {
        if let Some(a) = parts.uri.authority() {
            if !parts.headers.contains_key(HOST) {
                if let Ok(v) = HeaderValue::from_str(a.as_str()) {
                    parts.headers.insert(HOST, v);
                }
            }
        }
        let pq = parts
            .uri
            .path_and_query()
            .map(|p| p.as_str())
            .unwrap_or("/");
        if let Ok(u) = pq.parse() {
            parts.uri = u;
        }
    }
}

/// Server errors that count against a server for `observe layer7`.
pub(super) fn is_l7_error(code: u16) -> bool {
    (500..=599).contains(&code) && code != 501 && code != 505
}

#[derive(Clone)]
pub(super) struct LogInfo {
    /// When the request came.
    pub(super) when: std::time::SystemTime,
    pub(super) start: Instant,
    /// The address the client connected to, and whether over TLS.
    pub(super) local: Option<SocketAddr>,
    pub(super) tls: bool,
    /// The request's id (`unique-id-format`).
    pub(super) unique_id: Option<String>,
    /// Its number in the process (`%rt`).
    pub(super) number: u64,
    pub(super) captured: super::logfmt::Captured,
    /// The persistence cookie's flags (`--` without one).
    pub(super) cookie: [char; 2],
    pub(super) request_line: String,
    pub(super) backend: String,
    pub(super) server: String,
    pub(super) tw: u64,
    pub(super) tc: u64,
    pub(super) tr: u64,
    pub(super) retries: u32,
}

impl LogInfo {
    /// What a request's log line tells from the start: when and where it came.
    pub(super) fn new(
        when: std::time::SystemTime,
        number: u64,
        start: Instant,
        local: Option<SocketAddr>,
        tls: bool,
        request_line: String,
    ) -> LogInfo {
        LogInfo {
            when,
            start,
            local,
            tls,
            unique_id: None,
            number,
            captured: Default::default(),
            cookie: ['-', '-'],
            request_line,
            backend: String::new(),
            server: String::new(),
            tw: 0,
            tc: 0,
            tr: 0,
            retries: 0,
        }
    }

    /// The same, with where it went and how long the server took.
    pub(super) fn at(self, backend: String, server: String, info: ConnInfo, tr: u64) -> LogInfo {
        LogInfo {
            backend,
            server,
            tw: info.queue_ms,
            tc: info.connect_ms,
            tr,
            retries: info.retries,
            ..self
        }
    }
}

/// A server's answer (its `http-after-response` rules already applied).
#[derive(Clone, Copy)]
struct FromServer;

/// An answer of our own given once routed to this backend.
#[derive(Clone)]
struct RoutedTo(String);

async fn handle(ctx: Arc<Ctx>, req: Request<Incoming>) -> Response<ProxyBody> {
    let fe = ctx.fe.clone();
    // Variables: a request on HTTP/2 starts from the connection's session scope.
    let mut sess = ctx.sess.clone();
    sess.requests = ctx.requests.fetch_add(1, Relaxed);
    let mut vars = TxnVars::request(&mut sess, &fe);
    // What `http-after-response` rules read of the request, when some proxy has them.
    let head = fe.after_any.then(|| Request::from_parts(head_of(&req), ()));
    let req = match buffer_body(&ctx, req, &mut vars).await {
        Ok(r) => r,
        Err(resp) => return resp,
    };
    let mut resp = handle_inner(ctx.clone(), req, &mut vars).await;
    vars.counters.status(resp.status().as_u16());
    let ours = resp.extensions().get::<FromServer>().is_none()
        && resp.extensions().get::<Rejected>().is_none();
    if let (Some(head), true) = (&head, ours) {
        let be = resp
            .extensions()
            .get::<RoutedTo>()
            .and_then(|r| fe.by_name.get(&r.0).cloned());
        let local = || ctx.local;
        let conn = Conn {
            be: be.as_deref(),
            tls: ctx.tls.as_ref(),
            ..Conn::new(ctx.peer, &local, &fe)
        };
        let (mut parts, body) = resp.into_parts();
        let view = Response::from_parts(parts.clone(), ());
        let mut v = Verdict::default();
        let st = Stage {
            conn: &conn,
            req: head,
            req_edits: None,
            resp: Some(&view),
        };
        after_response_rules(&st, &mut v, &fe, be.as_deref(), &mut vars);
        v.apply(&mut parts.headers);
        if let Some(code) = v.status.and_then(|s| StatusCode::from_u16(s.0).ok()) {
            parts.status = code;
        }
        resp = Response::from_parts(parts, body);
    }
    resp
}

async fn handle_inner(
    ctx: Arc<Ctx>,
    mut req: Request<InBody>,
    vars: &mut TxnVars<'_>,
) -> Response<ProxyBody> {
    let fe = &ctx.fe;
    // A protocol switch (WebSocket) an HTTP/1.1 client asks for: the Upgrade header
    // goes to the server and, if it switches, the connection becomes a tunnel.
    let upgrade = match req.version() {
        hyper::Version::HTTP_11 => upgrade_asked(req.headers()),
        _ => None,
    };
    let websocket = upgrade
        .as_ref()
        .is_some_and(|u| u.as_bytes().eq_ignore_ascii_case(b"websocket"));
    if websocket && !req.headers().contains_key("sec-websocket-key") {
        // RFC 6455 §4.1: a WebSocket handshake carries its key.
        return page_h2(fe, None, 400);
    }
    let client_up = upgrade.is_some().then(|| hyper::upgrade::on(&mut req));
    let start = Instant::now();
    let logging = fe.logger.is_active();
    let when = std::time::SystemTime::now();
    let number = super::logfmt::number(fe);
    fe.stats.req_tot.fetch_add(1, Relaxed);
    let request_line = if logging || fe.cfg.unique_id_format.is_some() {
        format!("{} {} {:?}", req.method(), req.uri(), req.version())
    } else {
        String::new()
    };
    let mut base = LogInfo::new(
        when,
        number,
        start,
        Some(ctx.local),
        ctx.tls.is_some(),
        request_line,
    );
    base.captured
        .take(&fe.cfg.captures, &owned_values(req.headers()), false);
    if fe.cfg.unique_id_format.is_some() {
        let local = || ctx.local;
        let conn = Conn {
            tls: ctx.tls.as_ref(),
            ..Conn::new(ctx.peer, &local, fe)
        };
        let rec = log_rec(fe, ctx.peer, &base, 0, 0, "");
        base.unique_id = super::rules::unique_id(&conn, &req, &rec, &mut *vars);
    }
    let base = base;
    let unique_id = base.unique_id.as_deref();
    // The client as the request's rules moved it (`set-src`), and what their captures
    // took, for the log.
    let client = std::sync::Mutex::new(ctx.peer);
    let captured = std::sync::Mutex::new(base.captured.clone());
    // A request answered here, without a server: counted and logged.
    let own = |code: u16, server: &str, term: &str| {
        fe.stats.status(code);
        let mut info = base
            .clone()
            .at(fe.cfg.name.clone(), server.into(), ConnInfo::default(), 0);
        if let Ok(c) = captured.lock() {
            info.captured = c.clone();
        }
        let peer = client.lock().map_or(ctx.peer, |c| *c);
        log_http(fe, peer, &info, code, 0, term);
    };
    let local = || ctx.local;
    let conn = Conn {
        peer: ctx.peer,
        local: &local,
        fe,
        be: None,
        server: None,
        tls: ctx.tls.as_ref(),
        payload: None,
        unique_id,
        fc: vars.addrs.fc,
    };
    let st = Stage {
        conn: &conn,
        req: &req,
        req_edits: None,
        resp: None,
    };
    // `tcp-request content` rules: a reject ends the request unanswered (the stream is
    // reset); HTTP/2 cannot close one request's connection without the others'.
    let mut verdict = Verdict::default();
    let rules = &fe.cfg.tcp_request;
    if !rules.is_empty() && !content_rules_pass(&st, &mut verdict, rules, &fe.cfg.acl, &mut *vars) {
        fe.stats.denied.fetch_add(1, Relaxed);
        return reset_response();
    }
    if is_monitor(fe, &req) {
        return page_h2(fe, None, monitor_status(&st, fe, &mut *vars));
    }
    // The answer the request rules decided, if any: a redirection, or a denial
    // (counted against the backend once routed, else the frontend).
    let settle = |v: &Verdict<'_>, be: Option<&BackendRt>| {
        let routed = |mut r: Response<ProxyBody>| {
            if let Some(b) = be {
                r.extensions_mut().insert(RoutedTo(b.cfg.name.clone()));
            }
            r
        };
        if let Some((code, to)) = &v.redirect {
            own(*code, "<NOSRV>", "LR");
            return Some(routed(redirect_response(*code, to)));
        }
        if let Some(a) = &v.answer {
            own(a.status, "<NOSRV>", "LR");
            return Some(own_h2(a, be));
        }
        if v.prometheus {
            own(200, "<NOSRV>", "LR");
            return Some(routed(answer_response(&super::stats::prometheus_answer(
                &ctx.shared,
            ))));
        }
        let a = v.deny.as_ref()?;
        be.map_or(&fe.stats, |b| &b.stats)
            .denied
            .fetch_add(1, Relaxed);
        own(a.status, "<NOSRV>", "PR");
        Some(own_h2(a, be))
    };
    frontend_request_rules(&st, &mut verdict, fe, &mut *vars);
    if let Ok(mut c) = captured.lock() {
        c.take_rules(&fe.cfg.captures, &*vars);
    }
    let moved_client = |v: &Verdict<'_>| {
        if let (Some(src), Ok(mut c)) = (v.moved.src, client.lock()) {
            *c = src;
        }
    };
    moved_client(&verdict);
    if let (Some(h), Some(id)) = (&fe.cfg.unique_id_header, unique_id) {
        verdict.added.push((h.as_str(), id.to_string()));
    }
    if let Some(answer) = settle(&verdict, None) {
        return answer;
    }
    if let Some(page) = &fe.cfg.stats {
        let admin = page
            .admin
            .as_ref()
            .is_some_and(|a| st.holds(&verdict, &fe.cfg.acl, &a.any_of, a.unless, &mut *vars));
        let (head, body) = req.into_parts();
        let req = Request::from_parts(head, ());
        let form = match admin && req.method() == hyper::Method::POST {
            true => http_body_util::Limited::new(body, 16 * 1024)
                .collect()
                .await
                .map(|b| b.to_bytes())
                .unwrap_or_default(),
            false => Bytes::new(),
        };
        let resp = super::stats::serve_http(&ctx.shared, page, &req, admin, &form);
        own(resp.status().as_u16(), "<STATS>", "LR");
        return resp;
    }
    let Some(be) = choose_backend(&st, &verdict, fe, &mut *vars) else {
        fe.stats.denied.fetch_add(1, Relaxed);
        own(503, "<NOSRV>", "SC");
        return page_h2(fe, None, 503);
    };
    let conn = Conn {
        be: Some(&be),
        ..conn
    };
    let st = Stage { conn: &conn, ..st };
    let rules = &be.cfg.tcp_request;
    if !rules.is_empty() && !content_rules_pass(&st, &mut verdict, rules, &be.cfg.acl, &mut *vars) {
        be.stats.denied.fetch_add(1, Relaxed);
        return reset_response();
    }
    backend_request_rules(&st, &mut verdict, &be, &mut *vars);
    // From here on (balancing, `X-Forwarded-For`, what a server is told, the log), the
    // request's addresses are those its rules moved.
    let (client_timeout, server_timeout, tunnel_timeout) =
        super::rules::request_timeouts(vars, fe, &be);
    moved_client(&verdict);
    let fc = vars.addrs.front(verdict.moved, ctx.peer, || ctx.local);
    let peer = verdict.moved.src.unwrap_or(ctx.peer);
    let dst = verdict.moved.dst.unwrap_or(ctx.local);
    let local = move || dst;
    if let Some(answer) = settle(&verdict, Some(&be)) {
        return answer;
    }
    // A backend serving the stats page: at its URI; other requests go to its servers.
    if let Some(page) = be
        .cfg
        .stats
        .as_ref()
        .filter(|p| req.uri().path().starts_with(&p.uri))
    {
        // A backend's page: read-only (`stats admin` is a frontend's).
        let mut resp = super::stats::serve_http(&ctx.shared, page, &req, false, &[]);
        own(resp.status().as_u16(), "<STATS>", "LR");
        resp.extensions_mut().insert(RoutedTo(be.cfg.name.clone()));
        return resp;
    }
    // Persistence by cookie: the server it names, and the cookie kept from it.
    let (cookie_server, cookie_sent) = cookie_server(&be, &req);
    let stick = super::rules::request_stick_keys(&st, &verdict, &be, &mut *vars);
    let sampled = super::rules::sample_hash(&st, &verdict, &be, &mut *vars);
    strip_cookie(&be, &req, &mut verdict);
    // What response rules look at of the request (kept only when there are some).
    let has_after =
        !fe.cfg.http_after_response.is_empty() || !be.cfg.http_after_response.is_empty();
    let seen = (!fe.cfg.http_response.is_empty()
        || !be.cfg.http_response.is_empty()
        || !be.cfg.tcp_response.is_empty()
        || has_after
        || !be.stick.is_empty())
    .then(|| Request::from_parts(head_of(&req), ()));
    // The names TLS servers are to be sent (`sni EXPR`), on the request as rules left it.
    let sni: Vec<Option<String>> = match be.servers.iter().any(|s| s.tls.is_some()) {
        true => be
            .servers
            .iter()
            .map(|s| {
                let e = s.cfg.tls.as_ref().and_then(|t| t.sni.as_ref())?;
                super::rules::eval_str(&st, &verdict, e, &mut *vars)
            })
            .collect(),
        false => Vec::new(),
    };
    let (mut parts, body) = req.into_parts();
    verdict.apply(&mut parts.headers);
    if let Some(m) = verdict
        .method
        .as_deref()
        .and_then(|m| hyper::Method::from_bytes(m.as_bytes()).ok())
    {
        parts.method = m;
    }
    if let Some(t) = verdict.target.as_deref().and_then(|t| t.parse().ok()) {
        let mut u = parts.uri.clone().into_parts();
        u.path_and_query = Some(t);
        if let Ok(u) = hyper::Uri::from_parts(u) {
            parts.uri = u;
        }
    }
    prepare_request_head(
        &mut parts,
        (fe.cfg.forwardfor.as_ref())
            .or(be.cfg.forwardfor.as_ref())
            .map(|f| (f, peer)),
        (be.cfg.originalto.as_ref())
            .or(fe.cfg.originalto.as_ref())
            .map(|o| (o, dst)),
    );
    if let Some(u) = &upgrade {
        parts.headers.insert(
            hyper::header::CONNECTION,
            HeaderValue::from_static("upgrade"),
        );
        parts.headers.insert(hyper::header::UPGRADE, u.clone());
    }
    let replayable = body.is_end_stream();
    let in_counter = if replayable {
        None
    } else {
        Some(Arc::new(std::sync::atomic::AtomicU64::new(0)))
    };
    let req_body: ProxyBody = match &in_counter {
        None => full(Bytes::new()),
        Some(c) => Tracked::new(body, client_timeout, Some(c.clone()), None).boxed(),
    };
    let mut pending = Some(Request::from_parts(parts, req_body));
    be.stats.open();
    let mut aff = Affinity::of(&be, peer.ip(), &stick);
    aff.cookie = cookie_server;
    if let (Some(key), Some(r)) = (&be.cfg.hash_key, &pending) {
        let target = r.uri().to_string();
        let header = |n: &str| values_of(r.headers(), n).last().map(|v| v.to_string());
        aff.hash = crate::balance::request_hash(key, &target, &header).or(sampled);
    }
    let mut info = ConnInfo::default();
    let mut attempts = 0;
    // `http-reuse`: whether this request may take an idle connection (never: no
    // connection is shared, each request has its own; safe, and here aggressive: not a
    // client connection's first request).
    let pooled = match be.cfg.reuse {
        crate::config::HttpReuse::Never => false,
        crate::config::HttpReuse::Safe | crate::config::HttpReuse::Aggressive => {
            !vars.notes.first_request
        }
        crate::config::HttpReuse::Always => true,
    };
    let result = loop {
        attempts += 1;
        let got = get_conn(&be, aff, &sni, (peer, dst), pooled).await;
        let (mut sender, lease, ci, reuse) = match got {
            Ok(x) => x,
            Err(e) => break Err((e, true)),
        };
        info.retries += ci.retries;
        info.queue_ms += ci.queue_ms;
        info.connect_ms += ci.connect_ms;
        let Some(req) = pending.take() else {
            break Err((
                ConnFail::Connect {
                    server: lease.server().cfg.name.clone(),
                    error: std::io::Error::other("request lost"),
                    timeout: false,
                },
                false,
            ));
        };
        // A kept-alive connection may have been closed by the server just now, a new
        // one may die unanswered (a server killed with connections in its backlog):
        // keep a copy of a body-less request to send it again on a fresh connection
        // (from a new one, only an idempotent method's).
        let reused = reuse != Reuse::Fresh;
        let again_ok = match reuse {
            Reuse::Pooled { stale } => stale,
            Reuse::Fresh => super::rules::idempotent(req.method().as_str()),
        };
        let backup = if again_ok && replayable {
            Some(head_of(&req))
        } else {
            None
        };
        let t = Instant::now();
        let fut = sender.try_send_request(req);
        let res = match server_timeout {
            Some(d) => tokio::time::timeout(d, fut).await.map_err(|_| ()),
            None => Ok(fut.await),
        };
        match res {
            Ok(Ok(resp)) => break Ok((resp, sender, lease, t.elapsed())),
            Err(_) => {
                lease.server().shared.stats.eresp.fetch_add(1, Relaxed);
                be.stats.eresp.fetch_add(1, Relaxed);
                if lease.server().cfg.observe.is_some() {
                    be.health_event(lease.idx, Event::LiveError, "server response timeout");
                }
                break Err((
                    ConnFail::Connect {
                        server: lease.server().cfg.name.clone(),
                        error: std::io::Error::new(std::io::ErrorKind::TimedOut, "server timeout"),
                        timeout: true,
                    },
                    false,
                ));
            }
            Ok(Err(mut e)) => {
                // Not sent at all (the connection was not usable): send it elsewhere.
                // Sent but broken before a response: only a body-less request on a
                // reused connection is sent again.
                // (Not when the server was marked down meanwhile: its sessions were
                // shut down on purpose.)
                let again = e.take_message().or_else(|| {
                    backup
                        .filter(|_| reused || be.alive(lease.idx))
                        .map(|h| Request::from_parts(h, full(Bytes::new())))
                });
                if !reused && lease.server().cfg.observe.is_some() {
                    be.health_event(
                        lease.idx,
                        Event::LiveError,
                        &format!("broken response: {}", e.error()),
                    );
                }
                if let (Some(r), true) = (again, attempts <= be.cfg.retries as usize + 1) {
                    pending = Some(r);
                    info.retries += 1;
                    be.stats.wretr.fetch_add(1, Relaxed);
                    continue;
                }
                lease.server().shared.stats.eresp.fetch_add(1, Relaxed);
                be.stats.eresp.fetch_add(1, Relaxed);
                break Err((
                    ConnFail::Connect {
                        server: lease.server().cfg.name.clone(),
                        error: std::io::Error::other(e.error().to_string()),
                        timeout: false,
                    },
                    false,
                ));
            }
        }
    };
    let (mut resp, sender, lease, tr) = match result {
        Ok(x) => x,
        Err((e, connecting)) => {
            be.stats.close();
            let (code, term) = match &e {
                // No connection could be made (refused, timed out, TLS failed): as
                // HAProxy, 503 and the connection stage in the log.
                ConnFail::Connect { .. } if connecting => {
                    (StatusCode::SERVICE_UNAVAILABLE, e.term())
                }
                ConnFail::NoServer => (StatusCode::SERVICE_UNAVAILABLE, "SC"),
                ConnFail::QueueTimeout => (StatusCode::SERVICE_UNAVAILABLE, "sQ"),
                ConnFail::Connect { timeout: true, .. } => (StatusCode::GATEWAY_TIMEOUT, "sH"),
                ConnFail::Connect { .. } => (StatusCode::BAD_GATEWAY, "SH"),
            };
            fe.stats.status(code.as_u16());
            be.stats.status(code.as_u16());
            let server = if let ConnFail::Connect { server, .. } = &e {
                server.clone()
            } else {
                "<NOSRV>".into()
            };
            log_http(
                fe,
                peer,
                &base.clone().at(be.cfg.name.clone(), server, info, 0),
                code.as_u16(),
                0,
                term,
            );
            return page_h2(fe, Some(&be), code.as_u16());
        }
    };
    let code = resp.status().as_u16();
    if let (101, Some(client_up)) = (code, client_up) {
        if websocket && !resp.headers().contains_key("sec-websocket-accept") {
            // RFC 6455 §4.1: a server that accepts the handshake answers its key.
            be.stats.close();
            return page_h2(fe, Some(&be), 502);
        }
        let server_up = hyper::upgrade::on(&mut resp);
        fe.stats.status(code);
        be.stats.status(code);
        let idle = super::tcp::tunnel_idle_of(client_timeout, server_timeout, tunnel_timeout);
        let be2 = be.clone();
        let fe2 = fe.clone();
        // Logged when the tunnel ends, with what went to the client.
        let li = base.clone().at(
            be.cfg.name.clone(),
            lease.server().cfg.name.clone(),
            info,
            tr.as_millis() as u64,
        );
        tokio::spawn(async move {
            let _lease = lease;
            let mut to_client = 0;
            if let (Ok(c), Ok(s)) = tokio::join!(client_up, server_up) {
                to_client = copy_idle(TokioIo::new(c), TokioIo::new(s), idle).await.1;
            }
            be2.stats.close();
            log_http(&fe2, peer, &li, 101, to_client, "--");
        });
        let (mut parts, _) = resp.into_parts();
        let switched_to = parts.headers.get(hyper::header::UPGRADE).cloned();
        strip_hop_by_hop(&mut parts.headers);
        parts.headers.insert(
            hyper::header::CONNECTION,
            HeaderValue::from_static("upgrade"),
        );
        if let Some(u) = switched_to {
            parts.headers.insert(hyper::header::UPGRADE, u);
        }
        let mut r = Response::from_parts(parts, full(Bytes::new()));
        r.extensions_mut().insert(RoutedTo(be.cfg.name.clone()));
        return r;
    }
    let srv = lease.server();
    if srv.cfg.observe == Some(crate::config::Observe::Layer7) {
        be.health_event(
            lease.idx,
            if is_l7_error(code) {
                Event::LiveError
            } else {
                Event::LiveSuccess
            },
            &format!("HTTP status {code}"),
        );
    }
    fe.stats.status(code);
    be.stats.status(code);
    srv.shared.stats.status(code);
    let server_close = resp
        .headers()
        .get("connection")
        .and_then(|v| v.to_str().ok())
        .map(|v| v.eq_ignore_ascii_case("close"))
        .unwrap_or(false);
    // The server connection is reusable once this response's body has been read to
    // its end (not before: a connection still sending a body is busy).
    let reusable = (!be.cfg.http_server_close
        && !server_close
        && be.cfg.reuse != crate::config::HttpReuse::Never)
        .then(|| (sender, sni.get(lease.idx).cloned().flatten()));
    let (mut rparts, rbody) = resp.into_parts();
    let mut li = base.clone().at(
        be.cfg.name.clone(),
        srv.cfg.name.clone(),
        info,
        tr.as_millis() as u64,
    );
    li.captured
        .take(&fe.cfg.captures, &owned_values(&rparts.headers), true);
    strip_hop_by_hop(&mut rparts.headers);
    let mut touched = None;
    if let Some(seen) = &seen {
        let conn = Conn {
            peer,
            local: &local,
            fe,
            be: Some(&be),
            server: Some(&srv.cfg.name),
            tls: ctx.tls.as_ref(),
            payload: None,
            unique_id,
            fc,
        };
        let head = Response::from_parts(rparts, ());
        let st = Stage {
            conn: &conn,
            req: seen,
            req_edits: Some(&verdict),
            resp: Some(&head),
        };
        super::rules::stick_response(&st, &be, lease.idx, &mut *vars);
        let mut edits = response_rules(&st, fe, &be, &mut *vars);
        if let Some(a) = &edits.answer {
            drop(rbody);
            be.stats.close();
            log_http(fe, peer, &li, a.status, 0, "PH");
            return own_h2(a, Some(&be));
        }
        if has_after && edits.deny.is_none() {
            // Over the server's answer: the backend's, then the frontend's.
            touched = set_cookie(
                &be,
                lease.idx,
                cookie_sent.as_deref(),
                &|| values_of(head.headers(), "set-cookie"),
                &mut edits,
            );
            let st = Stage {
                conn: &conn,
                req: seen,
                req_edits: Some(&verdict),
                resp: Some(&head),
            };
            after_response_rules(&st, &mut edits, fe, Some(&be), &mut *vars);
        }
        rparts = head.into_parts().0;
        if let Some(a) = &edits.deny {
            // The server's answer is not passed on, nor its connection kept.
            drop(rbody);
            be.stats.denied.fetch_add(1, Relaxed);
            be.stats.close();
            log_http(fe, peer, &li, a.status, 0, "PH");
            return own_h2(a, Some(&be));
        }
        edits.apply(&mut rparts.headers);
        if let Some(code) = edits
            .status
            .as_ref()
            .and_then(|s| StatusCode::from_u16(s.0).ok())
        {
            rparts.status = code;
        }
    }
    if be.cfg.cookie.is_some() && !has_after {
        let mut v = Verdict::default();
        touched = set_cookie(
            &be,
            lease.idx,
            cookie_sent.as_deref(),
            &|| values_of(&rparts.headers, "set-cookie"),
            &mut v,
        );
        v.apply(&mut rparts.headers);
    }
    li.captured.take_rules(&fe.cfg.captures, &*vars);
    li.cookie = super::rules::cookie_flags(
        &be,
        cookie_sent.as_deref(),
        cookie_server,
        lease.idx,
        touched,
        &|| values_of(&rparts.headers, "set-cookie"),
    );
    let fe2 = fe.clone();
    let be2 = be.clone();
    let on_end: OnEnd = Box::new(move |bytes_out: u64, ok: bool| {
        let bin = in_counter.as_ref().map(|c| c.load(Relaxed)).unwrap_or(0);
        for st in [&*fe2.stats, &*be2.stats, &lease.server().shared.stats] {
            st.bytes_in.fetch_add(bin, Relaxed);
            st.bytes_out.fetch_add(bytes_out, Relaxed);
        }
        be2.stats.close();
        log_http(
            &fe2,
            peer,
            &li,
            code,
            bytes_out,
            if ok { "--" } else { "SD" },
        );
        // A connection that told the server its client (PROXY protocol) is that
        // client's: not pooled.
        let private = lease.server().cfg.proxy.is_some();
        if let (true, Some((sender, sni)), false) = (ok, reusable, private) {
            let mut pool = lock(&lease.server().shared.pool);
            let max = lease.server().cfg.pool_max.map_or(POOL_MAX, |m| m as usize);
            if pool.len() < max {
                pool.push(PooledConn {
                    sender,
                    idle_since: Instant::now(),
                    sni,
                });
            }
        }
        drop(lease);
    });
    let body = Tracked::new(InBody::Stream(rbody), server_timeout, None, Some(on_end)).boxed();
    let mut resp = Response::from_parts(rparts, body);
    resp.extensions_mut().insert(FromServer);
    resp
}

/// A pooled connection when one is ready, else a new one (with retries/redispatch).
async fn get_conn(
    be: &Arc<BackendRt>,
    aff: Affinity<'_>,
    sni: &[Option<String>],
    client: (SocketAddr, SocketAddr),
    pooled: bool,
) -> Result<
    (
        hyper::client::conn::http1::SendRequest<ProxyBody>,
        Lease,
        ConnInfo,
        Reuse,
    ),
    ConnFail,
> {
    let t0 = Instant::now();
    let lease = be.acquire(aff, &[]).await?;
    let queue_ms = t0.elapsed().as_millis() as u64;
    let name = |idx: usize| sni.get(idx).and_then(|n| n.as_deref());
    let reused = pooled.then(|| {
        let want = name(lease.idx);
        let mut pool = lock(&lease.server().shared.pool);
        let mut found = None;
        // A connection whose previous response has just ended may not be ready yet: keep
        // it for a later request rather than closing it.
        let mut not_yet = Vec::new();
        while let Some(c) = pool.pop() {
            if c.sender.is_closed() {
                continue;
            }
            if c.sender.is_ready() && c.sni.as_deref() == want {
                found = Some((c.sender, c.idle_since.elapsed() > STALE_AFTER));
                break;
            }
            not_yet.push(c);
        }
        pool.extend(not_yet.into_iter().rev());
        found
    });
    if let Some((s, stale)) = reused.flatten() {
        return Ok((
            s,
            lease,
            ConnInfo {
                retries: 0,
                queue_ms,
                connect_ms: 0,
            },
            Reuse::Pooled { stale },
        ));
    }
    let (stream, lease, mut info) = connect_server(be, aff, Some(lease), client).await?;
    info.queue_ms += queue_ms;
    let sender = match &lease.server().tls {
        None => client_h1(be, &lease, stream).await?,
        Some(up) => {
            let t = Instant::now();
            let tls = super::tcp::tls_to_server(be, &lease, up, stream, name(lease.idx)).await?;
            info.connect_ms += t.elapsed().as_millis() as u64;
            client_h1(be, &lease, tls).await?
        }
    };
    Ok((sender, lease, info, Reuse::Fresh))
}

/// An HTTP/1.1 client connection over a connection made to a server, driven by a task
/// of its own.
async fn client_h1<IO>(
    be: &BackendRt,
    lease: &Lease,
    io: IO,
) -> Result<hyper::client::conn::http1::SendRequest<ProxyBody>, ConnFail>
where
    IO: tokio::io::AsyncRead + tokio::io::AsyncWrite + Send + Unpin + 'static,
{
    let (sender, conn) = hyper::client::conn::http1::Builder::new()
        .read_buf_exact_size(Some(64 * 1024))
        .handshake(TokioIo::new(io))
        .await
        .map_err(|e| ConnFail::Connect {
            server: lease.server().cfg.name.clone(),
            error: std::io::Error::other(e.to_string()),
            timeout: false,
        })?;
    // The connection ends with the server's sessions when they are shut down
    // (`on-marked-down shutdown-sessions`): its requests fail, its bodies end short.
    let mut kill = be
        .kills_sessions
        .then(|| lease.server().shared.kill.subscribe());
    tokio::spawn(async move {
        // With upgrades: after a 101 the connection becomes the tunnel's.
        let conn = conn.with_upgrades();
        match &mut kill {
            None => {
                let _ = conn.await;
            }
            Some(k) => {
                tokio::select! {
                    _ = conn => {}
                    Ok(()) = k.changed() => {}
                }
            }
        }
    });
    Ok(sender)
}

/// Where a server connection came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Reuse {
    Fresh,
    /// From the pool; `stale` when it sat idle long enough to be closed under us.
    Pooled {
        stale: bool,
    },
}

/// A copy of a request's head (to send it again).
fn head_of<B>(req: &Request<B>) -> hyper::http::request::Parts {
    let mut r = Request::new(());
    *r.method_mut() = req.method().clone();
    *r.uri_mut() = req.uri().clone();
    *r.version_mut() = req.version();
    *r.headers_mut() = req.headers().clone();
    r.into_parts().0
}

pub(super) fn log_http(
    fe: &FrontendRt,
    peer: SocketAddr,
    li: &LogInfo,
    code: u16,
    bytes: u64,
    term: &str,
) {
    if fe.logger.is_active() {
        let rec = log_rec(fe, peer, li, code, bytes, term);
        super::logfmt::traffic(
            &rec,
            &crate::sample::NoMessage,
            &mut std::collections::HashMap::new(),
        );
    }
}

/// A request's log record.
pub(super) fn log_rec<'a>(
    fe: &'a FrontendRt,
    peer: SocketAddr,
    li: &'a LogInfo,
    code: u16,
    bytes: u64,
    term: &'a str,
) -> super::logfmt::LogRec<'a> {
    super::logfmt::LogRec {
        fe,
        be: None,
        peer,
        local: li.local,
        tls: li.tls,
        when: li.when,
        start: li.start,
        backend: &li.backend,
        server: &li.server,
        tw: li.tw,
        tc: li.tc,
        tr: li.tr,
        status: (code != 0).then_some(code),
        bytes_out: bytes,
        bytes_in: 0,
        term,
        retries: li.retries,
        request_line: &li.request_line,
        unique_id: li.unique_id.as_deref(),
        number: li.number,
        captured: &li.captured,
        cookie: li.cookie,
    }
}

type OnEnd = Box<dyn FnOnce(u64, bool) + Send + Sync>;

/// A body passed through: counts bytes, applies an inactivity timeout, and runs `on_end`
/// once (at the end, on error, or when dropped early).
/// `option http-buffer-request`: a body whose length the request announces and that
/// fits the buffer is read whole before the rules, which read it (`req.body`); 408
/// when it does not come whole in `timeout client`.
async fn buffer_body(
    ctx: &Ctx,
    req: Request<Incoming>,
    vars: &mut TxnVars<'_>,
) -> Result<Request<InBody>, Response<ProxyBody>> {
    let fe = &ctx.fe;
    // Most requests: nothing to wait for, nothing looked up.
    if !fe.cfg.buffer_request || req.body().is_end_stream() {
        return Ok(req.map(InBody::Stream));
    }
    let max = ctx.shared.current.load().config.global.bufsize.max(8192) as u64;
    let Some(size) = req.body().size_hint().exact().filter(|n| *n <= max) else {
        return Ok(req.map(InBody::Stream));
    };
    let (parts, body) = req.into_parts();
    let limit = (fe.cfg.timeout_http_request.or(fe.cfg.timeout_client))
        .map_or(Duration::from_secs(3600), |d| d.0);
    match tokio::time::timeout(limit, body.collect()).await {
        Ok(Ok(c)) => {
            let bytes = c.to_bytes();
            vars.notes.body = Some((bytes.clone(), size));
            Ok(Request::from_parts(parts, InBody::Whole(Some(bytes))))
        }
        Ok(Err(_)) => Err(page_h2(fe, None, 400)),
        Err(_) => Err(page_h2(fe, None, 408)),
    }
}

/// A request's or response's body as it is passed on: as it comes, or (a request's,
/// under `option http-buffer-request`) already read whole.
pub(super) enum InBody {
    Stream(Incoming),
    Whole(Option<Bytes>),
}

impl Body for InBody {
    type Data = Bytes;
    type Error = hyper::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, hyper::Error>>> {
        match self.get_mut() {
            InBody::Stream(b) => Pin::new(b).poll_frame(cx),
            InBody::Whole(d) => Poll::Ready(d.take().map(|b| Ok(Frame::data(b)))),
        }
    }

    fn is_end_stream(&self) -> bool {
        match self {
            InBody::Stream(b) => b.is_end_stream(),
            InBody::Whole(d) => d.is_none(),
        }
    }

    fn size_hint(&self) -> SizeHint {
        match self {
            InBody::Stream(b) => b.size_hint(),
            InBody::Whole(d) => SizeHint::with_exact(d.as_ref().map_or(0, |b| b.len() as u64)),
        }
    }
}

struct Tracked {
    inner: InBody,
    timeout: Option<Duration>,
    sleep: Option<Pin<Box<tokio::time::Sleep>>>,
    count: u64,
    shared: Option<Arc<std::sync::atomic::AtomicU64>>,
    on_end: Option<OnEnd>,
}

impl Tracked {
    fn new(
        inner: InBody,
        timeout: Option<Duration>,
        shared: Option<Arc<std::sync::atomic::AtomicU64>>,
        on_end: Option<OnEnd>,
    ) -> Tracked {
        Tracked {
            inner,
            timeout,
            sleep: None,
            count: 0,
            shared,
            on_end,
        }
    }
    fn finish(&mut self, ok: bool) {
        if let Some(f) = self.on_end.take() {
            f(self.count, ok);
        }
    }
}

impl Drop for Tracked {
    fn drop(&mut self) {
        let done = self.inner.is_end_stream();
        self.finish(done);
    }
}

impl Body for Tracked {
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        let this = &mut *self;
        match Pin::new(&mut this.inner).poll_frame(cx) {
            Poll::Ready(Some(Ok(f))) => {
                if let Some(d) = f.data_ref() {
                    this.count += d.len() as u64;
                    if let Some(c) = &this.shared {
                        c.fetch_add(d.len() as u64, Relaxed);
                    }
                }
                this.sleep = None;
                Poll::Ready(Some(Ok(f)))
            }
            Poll::Ready(Some(Err(e))) => {
                this.finish(false);
                Poll::Ready(Some(Err(Box::new(e))))
            }
            Poll::Ready(None) => {
                this.finish(true);
                Poll::Ready(None)
            }
            Poll::Pending => {
                if let Some(t) = this.timeout {
                    let s = this
                        .sleep
                        .get_or_insert_with(|| Box::pin(tokio::time::sleep(t)));
                    if s.as_mut().poll(cx).is_ready() {
                        this.finish(false);
                        return Poll::Ready(Some(Err("body transfer timed out".into())));
                    }
                }
                Poll::Pending
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

use std::future::Future;

/// Copies both ways until both sides closed, an error, or `idle` without traffic;
/// returns the bytes moved (client to server, server to client).
pub(super) async fn copy_idle<A, B>(a: A, b: B, idle: Option<Duration>) -> (u64, u64)
where
    A: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
    B: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
{
    use std::sync::atomic::AtomicU64;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let base = tokio::time::Instant::now();
    let last = AtomicU64::new(0);
    let (mut ar, mut aw) = tokio::io::split(a);
    let (mut br, mut bw) = tokio::io::split(b);
    async fn one<R: tokio::io::AsyncRead + Unpin, W: tokio::io::AsyncWrite + Unpin>(
        r: &mut R,
        w: &mut W,
        last: &AtomicU64,
        base: tokio::time::Instant,
    ) -> u64 {
        let mut buf = vec![0u8; 16 * 1024];
        let mut n_total = 0u64;
        loop {
            let n = match r.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(n) => n,
            };
            if w.write_all(&buf[..n]).await.is_err() {
                break;
            }
            n_total += n as u64;
            last.store(base.elapsed().as_millis() as u64, Relaxed);
        }
        let _ = w.shutdown().await;
        n_total
    }
    let both = async {
        tokio::join!(
            one(&mut ar, &mut bw, &last, base),
            one(&mut br, &mut aw, &last, base)
        )
    };
    match idle {
        None => both.await,
        Some(idle) => {
            let watchdog = async {
                loop {
                    let deadline = base + Duration::from_millis(last.load(Relaxed)) + idle;
                    if tokio::time::Instant::now() >= deadline {
                        return;
                    }
                    tokio::time::sleep_until(deadline).await;
                }
            };
            tokio::select! {
                r = both => r,
                _ = watchdog => (0, 0),
            }
        }
    }
}
