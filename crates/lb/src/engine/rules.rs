//! HTTP rules at run time: conditions on ACLs, `http-request` / `http-response` /
//! `redirect` actions, and the samples they read — the request and the response as the
//! rules so far have left them, the connection, and the transaction's variables.

use super::state::{BackendRt, FrontendRt, Route};
use crate::config::{
    Acl, AddrPart, CondTerm, CookieMode, HttpAction, HttpRule, LinePart, NameMatch, ReplyFrom,
    Return, TcpAction, TcpRule, TcpStage, TimeoutKind, VarValue,
};
use crate::sample::stick::{Act, Ask, Entry};
use crate::sample::TxnNotes;
use crate::sample::{MsgFetch, Occurrence, Source, Value, Vars};
use std::borrow::Cow;
use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::Ordering::Relaxed;
use std::sync::Mutex;
use std::time::Duration;

/// What rules read in a request, whichever way it was read (HTTP/1 head or HTTP/2).
pub(super) trait RequestView: Sync {
    /// The Host header, else the authority of an absolute-form target.
    fn host_field(&self) -> Option<&str>;
    fn path(&self) -> &str;
    fn method(&self) -> &str;
    /// The path with the query, as a server gets it.
    fn path_and_query(&self) -> &str;
    /// The request target as the client sent it (absolute form included).
    fn target_text(&self) -> Cow<'_, str>;
    /// "1.0", "1.1" or "2.0".
    fn version(&self) -> &'static str;
    /// The header's lines, in order.
    fn header_values(&self, name: &str) -> Vec<Cow<'_, str>>;
    /// Every header line, in order.
    fn header_lines(&self) -> Vec<(Cow<'_, str>, Cow<'_, str>)>;
}

/// What rules read in a response.
pub(super) trait ResponseView: Sync {
    fn status(&self) -> u16;
    fn version(&self) -> &'static str;
    fn header_values(&self, name: &str) -> Vec<Cow<'_, str>>;
    fn header_lines(&self) -> Vec<(Cow<'_, str>, Cow<'_, str>)>;
}

/// An answer of the load balancer's own (`return`, `deny`, an error page).
pub(super) struct Answer {
    pub(super) status: u16,
    pub(super) headers: Vec<(String, String)>,
    pub(super) body: Vec<u8>,
    /// Nothing is sent: the connection closes (an empty `errorfile`).
    pub(super) silent: bool,
}

impl Answer {
    /// HAProxy's page for a status.
    pub(super) fn page(status: u16) -> Answer {
        let reason = hyper::StatusCode::from_u16(status)
            .ok()
            .and_then(|s| s.canonical_reason())
            .unwrap_or("");
        let mut headers = vec![
            ("content-type".to_string(), "text/html".to_string()),
            ("cache-control".to_string(), "no-cache".to_string()),
        ];
        if status == 401 {
            headers.push(("www-authenticate".into(), "Basic realm=\"\"".into()));
        }
        Answer {
            status,
            headers,
            body: format!(
                "<html><body><h1>{status} {reason}</h1>\n{}\n</body></html>\n",
                builtin_message(status)
            )
            .into_bytes(),
            silent: false,
        }
    }
}

/// HAProxy's words on the pages it answers with itself.
fn builtin_message(code: u16) -> &'static str {
    match code {
        200 => "Service ready.",
        400 => "Your browser sent an invalid request.",
        401 | 407 => "You need a valid user and password to access this content.",
        403 => "Request forbidden by administrative rules.",
        404 => "The resource could not be found.",
        405 => {
            "A request was made of a resource using a request method not supported by that resource"
        }
        408 => "Your browser didn't send a complete request in time.",
        410 => "The resource is no longer available and will not be available again.",
        413 => "The request entity exceeds the maximum allowed.",
        425 => "Your browser sent early data.",
        429 => "You have sent too many requests in a given amount of time.",
        431 => "Request header fields too large.",
        500 => "An internal server error occurred.",
        501 => "The server does not support the functionality required to fulfill the request.",
        502 => "The server returned an invalid or incomplete response.",
        503 => "No server is available to handle this request.",
        504 => "The server didn't respond in time.",
        _ => "",
    }
}

/// The answer for `status` that `r` gives, or, without `r` or when it says so, the
/// proxy's: the backend's (`errorfile`, `errorfiles`, `http-error`), the frontend's,
/// else HAProxy's page. Samples in its words are read from `src`.
pub(super) fn reply(
    fe: &FrontendRt,
    be: Option<&BackendRt>,
    status: u16,
    r: Option<&Return>,
    src: &dyn Source,
    vars: &mut dyn Vars,
) -> Answer {
    let r = match r {
        Some(r) if r.from != ReplyFrom::Proxy => Some(r),
        _ => be
            .and_then(|b| b.cfg.errorfiles.get(&status))
            .or_else(|| fe.cfg.errorfiles.get(&status)),
    };
    let Some(r) = r else {
        return Answer::page(status);
    };
    match r.from {
        ReplyFrom::Own => render_return(r, src, vars),
        ReplyFrom::Close => Answer {
            status,
            headers: Vec::new(),
            body: Vec::new(),
            silent: true,
        },
        ReplyFrom::Builtin | ReplyFrom::Proxy => Answer::page(status),
    }
}

/// The answer a `return` makes of its words.
fn render_return(r: &Return, src: &dyn Source, vars: &mut dyn Vars) -> Answer {
    let mut headers: Vec<(String, String)> = r
        .headers
        .iter()
        .map(|(n, v)| (n.clone(), v.render(src, vars)))
        // A header whose value comes out empty is left out (as HAProxy does).
        .filter(|(_, v)| !v.is_empty())
        .collect();
    let body = r
        .body
        .as_ref()
        .map(|b| b.render(src, vars).into_bytes())
        .unwrap_or_default();
    // A content type only with a body (HAProxy's rule).
    if let (Some(t), false) = (&r.content_type, body.is_empty()) {
        headers.push(("content-type".into(), t.clone()));
    }
    Answer {
        status: r.status,
        headers,
        body,
        silent: false,
    }
}

/// What a proxy's rules make of a request (or a response): edits of the message and,
/// perhaps, an answer instead of forwarding it.
#[derive(Default)]
pub(super) struct Verdict<'a> {
    /// Answer with this instead of forwarding (`deny`; for a response, instead of the
    /// server's).
    pub(super) deny: Option<Answer>,
    /// Header names whose lines the message loses.
    pub(super) gone: Vec<Cow<'a, str>>,
    /// Header lines the message gains, after its own.
    pub(super) added: Vec<(&'a str, String)>,
    /// Answer with this redirection (status, Location) instead of forwarding.
    pub(super) redirect: Option<(u16, String)>,
    /// Answer with this (`return`).
    pub(super) answer: Option<Answer>,
    /// A new method for the request.
    pub(super) method: Option<String>,
    /// A new target (path and query) for the request.
    pub(super) target: Option<String>,
    /// A new status (and reason) for the response.
    pub(super) status: Option<(u16, Option<String>)>,
    /// Answer with the Prometheus metrics (`use-service prometheus-exporter`).
    pub(super) prometheus: bool,
    /// The request's addresses as `set-src`, `set-dst`... moved them.
    pub(super) moved: Moved,
}

/// Addresses rules moved (`set-src`, `set-dst`, `set-src-port`, `set-dst-port`); `None`
/// keeps the one before.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Moved {
    pub src: Option<SocketAddr>,
    pub dst: Option<SocketAddr>,
}

impl Moved {
    /// Sets `part` from a rule's value, over the addresses `src` and `dst()` as they
    /// stand. A value that is not an address (or a port) changes nothing; a new
    /// address keeps the port.
    fn set(&mut self, part: AddrPart, v: Value, src: SocketAddr, dst: impl FnOnce() -> SocketAddr) {
        let ip = || match &v {
            Value::Ip(ip) => Some(*ip),
            other => other.as_str().trim().parse::<std::net::IpAddr>().ok(),
        };
        let port = || match &v {
            Value::Int(n) => u16::try_from(*n).ok(),
            other => other.as_str().trim().parse::<u16>().ok(),
        };
        let src = self.src.unwrap_or(src);
        match part {
            AddrPart::Src => self.src = ip().map(|ip| SocketAddr::new(ip, src.port())).or(self.src),
            AddrPart::SrcPort => {
                self.src = port().map(|p| SocketAddr::new(src.ip(), p)).or(self.src)
            }
            AddrPart::Dst | AddrPart::DstPort => {
                let dst = self.dst.unwrap_or_else(dst);
                let new = match part {
                    AddrPart::Dst => ip().map(|ip| SocketAddr::new(ip, dst.port())),
                    _ => port().map(|p| SocketAddr::new(dst.ip(), p)),
                };
                self.dst = new.or(self.dst);
            }
        }
    }

    /// These moves, then `later`'s.
    pub fn then(self, later: Moved) -> Moved {
        Moved {
            src: later.src.or(self.src),
            dst: later.dst.or(self.dst),
        }
    }

    /// A fetch of a moved address: `Some(sample)`, else `None` (the source's own).
    fn fetch(&self, f: &MsgFetch) -> Option<Value> {
        match (f, self.src, self.dst) {
            (MsgFetch::Src, Some(a), _) | (MsgFetch::Dst, _, Some(a)) => {
                Some(Value::Ip(a.ip().to_canonical()))
            }
            (MsgFetch::SrcPort, Some(a), _) | (MsgFetch::DstPort, _, Some(a)) => {
                Some(Value::Int(a.port().into()))
            }
            _ => None,
        }
    }
}

/// A source seen through the addresses rules moved.
pub(super) struct MovedSource<'a> {
    pub(super) inner: &'a dyn Source,
    pub(super) moved: Moved,
}

impl Source for MovedSource<'_> {
    fn fetch(&self, f: &MsgFetch) -> Option<Value> {
        self.moved.fetch(f).or_else(|| self.inner.fetch(f))
    }
}

impl<'a> Verdict<'a> {
    /// Whether the message is answered here (denied, redirected or returned).
    pub(super) fn answered(&self) -> bool {
        self.deny.is_some() || self.redirect.is_some() || self.answer.is_some() || self.prometheus
    }

    /// Every line of `name` goes: the message's own and those added so far.
    fn remove(&mut self, name: Cow<'a, str>) {
        self.added.retain(|(n, _)| !n.eq_ignore_ascii_case(&name));
        if !self.gone.iter().any(|n| n.eq_ignore_ascii_case(&name)) {
            self.gone.push(name);
        }
    }

    /// Whether the message lost its own lines of `name`.
    pub(super) fn is_gone(&self, name: &str) -> bool {
        self.gone.iter().any(|n| n.eq_ignore_ascii_case(name))
    }

    /// The names to leave out when writing the message's own lines.
    pub(super) fn skip(&self) -> Vec<&str> {
        self.gone.iter().map(|n| n.as_ref()).collect()
    }

    /// The added lines a header may carry: a value with a line break or a NUL (made
    /// from a sample) is left out.
    pub(super) fn added_lines(&self) -> impl Iterator<Item = (&str, &str)> {
        self.added
            .iter()
            .filter(|(_, v)| !v.bytes().any(|b| b == b'\r' || b == b'\n' || b == 0))
            .map(|(n, v)| (*n, v.as_str()))
    }

    /// Applies the header edits to a head held in a header map (HTTP/2).
    pub(super) fn apply(&self, headers: &mut hyper::HeaderMap) {
        for n in &self.gone {
            headers.remove(n.as_ref());
        }
        for (n, v) in self.added_lines() {
            if let (Ok(n), Ok(v)) = (
                hyper::header::HeaderName::from_bytes(n.as_bytes()),
                hyper::header::HeaderValue::from_str(v),
            ) {
                headers.append(n, v);
            }
        }
    }
}

/// What lasts as long as the client connection: its variables (`sess.`), the
/// stick-table entries its `tcp-request connection|session` rules track (each of its
/// requests counts on them) and the addresses those rules moved.
#[derive(Debug, Default, Clone)]
pub struct Session {
    pub vars: HashMap<String, Value>,
    /// The HTTP requests that came on the connection so far.
    pub requests: u64,
    /// What few sessions have, boxed so that an idle connection stays small.
    rare: Option<Box<(super::table::Slots, SessAddrs)>>,
}

impl Session {
    /// The entries the session's rules track.
    pub fn tracked(&self) -> &super::table::Slots {
        static NONE: super::table::Slots = [None, None, None];
        self.rare.as_ref().map_or(&NONE, |r| &r.0)
    }

    /// What the session's rules moved of its addresses.
    pub fn addrs(&self) -> SessAddrs {
        self.rare.as_ref().map(|r| r.1).unwrap_or_default()
    }

    pub fn set_tracked(&mut self, tracked: super::table::Slots) {
        let addrs = self.addrs();
        self.set(tracked, addrs);
    }

    pub fn set_addrs(&mut self, addrs: SessAddrs) {
        let tracked = self.rare.take().map(|r| r.0).unwrap_or_default();
        self.set(tracked, addrs);
    }

    fn set(&mut self, tracked: super::table::Slots, addrs: SessAddrs) {
        let none = tracked.iter().all(Option::is_none) && addrs == SessAddrs::default();
        self.rare = (!none).then(|| Box::new((tracked, addrs)));
    }
}

/// What `tcp-request connection|session` rules moved of a connection's addresses (the
/// client's address is the session's `peer`).
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct SessAddrs {
    /// The session's destination, when moved.
    pub dst: Option<SocketAddr>,
    /// The connection's own addresses (`fc_src`, `fc_dst`), when the session's differ.
    pub fc: Option<(SocketAddr, SocketAddr)>,
}

impl SessAddrs {
    /// The connection's addresses (`fc_*`) for a request whose rules moved its own
    /// (`None`: they are the request's): the session's `peer` and destination, unless
    /// the session's rules moved those.
    pub fn front(
        &self,
        moved: Moved,
        peer: SocketAddr,
        local: impl FnOnce() -> SocketAddr,
    ) -> Option<(SocketAddr, SocketAddr)> {
        match self.fc {
            Some(fc) => Some(fc),
            None if moved == Moved::default() => None,
            None => Some((peer, self.dst.unwrap_or_else(local))),
        }
    }
}

/// The variables a transaction sees: its own (`txn.`, `req.`, `res.`), its session's
/// (`sess.`), the process's (`proc.`).
pub(super) struct TxnVars<'x> {
    pub(super) txn: HashMap<String, Value>,
    pub(super) sess: &'x mut HashMap<String, Value>,
    pub(super) proc: &'x Mutex<HashMap<String, Value>>,
    /// The stream's tracked stick-table entries and the tables.
    pub(super) counters: super::table::StreamCounters,
    /// What its rules noted for later.
    pub(super) notes: TxnNotes,
    /// What the session's rules moved of its addresses.
    pub(super) addrs: SessAddrs,
}

impl<'x> TxnVars<'x> {
    /// A transaction of frontend `fe`, whose table `src_*` and `track-sc*` use
    /// without `table`.
    pub(super) fn new(sess: &'x mut Session, fe: &'x FrontendRt) -> TxnVars<'x> {
        let addrs = sess.addrs();
        TxnVars {
            txn: HashMap::new(),
            counters: super::table::StreamCounters::new(&fe.tables, &fe.cfg.name, sess.tracked()),
            sess: &mut sess.vars,
            proc: &fe.proc_vars,
            addrs,
            notes: TxnNotes::default(),
        }
    }

    /// An HTTP request's transaction: it counts as a request on what its session
    /// tracks (before its own rules run, which see it counted).
    pub(super) fn request(sess: &'x mut Session, fe: &'x FrontendRt) -> TxnVars<'x> {
        sess.requests += 1;
        let first_request = sess.requests == 1;
        let mut vars = TxnVars::new(sess, fe);
        vars.counters.count(crate::sample::stick::Counter::HttpReq);
        vars.notes.first_request = first_request;
        vars
    }
}

impl Vars for TxnVars<'_> {
    fn notes(&self) -> Option<&TxnNotes> {
        Some(&self.notes)
    }

    fn notes_mut(&mut self) -> Option<&mut TxnNotes> {
        Some(&mut self.notes)
    }

    fn stick(&mut self, entry: Entry<'_>, table: Option<&str>, ask: Ask) -> Option<Value> {
        self.counters.ask(entry, table, ask)
    }

    fn stick_act(&mut self, act: Act<'_>) {
        match act {
            Act::Track {
                slot,
                key,
                table,
                http,
            } => self.counters.track(slot, key, table, http),
            Act::IncGpc { slot, gpc1 } => self.counters.inc_gpc(slot, gpc1),
            Act::SetGpt0 { slot, value } => self.counters.set_gpt0(slot, value),
        }
    }

    fn get(&self, name: &str) -> Option<Value> {
        if name.starts_with("proc.") {
            self.proc.lock().ok()?.get(name).cloned()
        } else if name.starts_with("sess.") {
            self.sess.get(name).cloned()
        } else {
            self.txn.get(name).cloned()
        }
    }

    fn set(&mut self, name: &str, value: Value) {
        if name.starts_with("proc.") {
            if let Ok(mut p) = self.proc.lock() {
                p.insert(name.to_string(), value);
            }
        } else if name.starts_with("sess.") {
            self.sess.insert(name.to_string(), value);
        } else {
            self.txn.insert(name.to_string(), value);
        }
    }

    fn unset(&mut self, name: &str) {
        if name.starts_with("proc.") {
            if let Ok(mut p) = self.proc.lock() {
                p.remove(name);
            }
        } else if name.starts_with("sess.") {
            self.sess.remove(name);
        } else {
            self.txn.remove(name);
        }
    }
}

/// The connection and the proxies a message goes through.
pub(super) struct Conn<'x> {
    pub(super) peer: SocketAddr,
    pub(super) local: &'x (dyn Fn() -> SocketAddr + Sync),
    pub(super) fe: &'x FrontendRt,
    pub(super) be: Option<&'x BackendRt>,
    pub(super) server: Option<&'x str>,
    /// The client connection's TLS, if any.
    pub(super) tls: Option<&'x TlsInfo>,
    /// In `mode tcp` with `inspect-delay`, the client's first bytes.
    pub(super) payload: Option<&'x [u8]>,
    /// The request's id (`unique-id-format`).
    pub(super) unique_id: Option<&'x str>,
    /// The client connection's addresses, when they differ from `peer` and `local`'s
    /// (`fc_src`, `fc_dst`: rules moved the session's).
    pub(super) fc: Option<(SocketAddr, SocketAddr)>,
}

/// What a TLS client connection told: the server name it asked for (SNI), the
/// protocol chosen by ALPN.
#[derive(Debug, Clone, Default)]
pub(super) struct TlsInfo {
    pub(super) sni: Option<String>,
    pub(super) alpn: Option<String>,
    /// The client's certificate (DER), when it sent one (it was verified).
    pub(super) client_cert: Option<std::sync::Arc<Vec<u8>>>,
}

/// Samples of the message as the rules have left it so far.
struct Msg<'x, 'a> {
    conn: &'x Conn<'x>,
    req: &'x dyn RequestView,
    /// The request's edits (in response rules, those the request rules made).
    req_edits: Option<&'x Verdict<'a>>,
    resp: Option<(&'x dyn ResponseView, &'x Verdict<'a>)>,
}

/// The values of a header as lines, after the edits.
fn edited_values<'x>(
    own: Vec<Cow<'x, str>>,
    edits: Option<&'x Verdict<'_>>,
    name: &str,
) -> Vec<Cow<'x, str>> {
    let mut out = match edits {
        Some(v) if v.is_gone(name) => Vec::new(),
        _ => own,
    };
    if let Some(v) = edits {
        out.extend(
            v.added
                .iter()
                .filter(|(n, _)| n.eq_ignore_ascii_case(name))
                .map(|(_, val)| Cow::Borrowed(val.as_str())),
        );
    }
    out
}

/// Comma-separated values of header lines (quoted commas kept).
fn split_values<'x>(lines: &'x [Cow<'x, str>]) -> Vec<&'x str> {
    let mut out = Vec::new();
    for l in lines {
        let mut quoted = false;
        let mut start = 0;
        for (i, c) in l.char_indices() {
            match c {
                '"' => quoted = !quoted,
                ',' if !quoted => {
                    out.push(l[start..i].trim());
                    start = i + 1;
                }
                _ => {}
            }
        }
        out.push(l[start..].trim());
    }
    out
}

/// The occurrence asked: the last by default, 1 the first, -1 the last.
fn pick<T: Copy>(v: &[T], occ: Occurrence) -> Option<T> {
    match occ.unwrap_or(-1) {
        0 => v.last().copied(),
        n if n > 0 => v.get(n as usize - 1).copied(),
        n => v.len().checked_sub(n.unsigned_abs() as usize).map(|i| v[i]),
    }
}

impl Msg<'_, '_> {
    /// The user and password of the request's `Authorization: Basic` header.
    fn basic_credentials(&self) -> Option<(String, String)> {
        use base64::Engine;
        let lines = self.lines("authorization", false)?;
        let b64 = lines
            .last()?
            .trim()
            .strip_prefix("Basic ")?
            .trim()
            .to_string();
        let raw = base64::engine::general_purpose::STANDARD.decode(b64).ok()?;
        let text = String::from_utf8(raw).ok()?;
        let (u, p) = text.split_once(':')?;
        Some((u.to_string(), p.to_string()))
    }

    fn target(&self) -> Cow<'_, str> {
        match self.req_edits.and_then(|v| v.target.as_deref()) {
            Some(t) => Cow::Borrowed(t),
            None => Cow::Borrowed(self.req.path_and_query()),
        }
    }

    fn lines(&self, name: &str, response: bool) -> Option<Vec<Cow<'_, str>>> {
        Some(if response {
            let (r, v) = self.resp?;
            edited_values(r.header_values(name), Some(v), name)
        } else {
            edited_values(self.req.header_values(name), self.req_edits, name)
        })
    }
}

impl<'x> Conn<'x> {
    /// A plain connection to frontend `fe`, not routed yet.
    pub(super) fn new(
        peer: SocketAddr,
        local: &'x (dyn Fn() -> SocketAddr + Sync),
        fe: &'x FrontendRt,
    ) -> Conn<'x> {
        Conn {
            peer,
            local,
            fe,
            be: None,
            server: None,
            tls: None,
            payload: None,
            unique_id: None,
            fc: None,
        }
    }

    /// What the connection alone answers: `Some(sample)` for a fetch of the connection,
    /// the proxies or the clock; `None` for one that needs a message.
    fn fetch_l4(&self, f: &MsgFetch) -> Option<Option<Value>> {
        let s = |x: &str| Some(Value::Str(x.to_string()));
        Some(match f {
            MsgFetch::Src => Some(Value::Ip(self.peer.ip().to_canonical())),
            MsgFetch::SrcPort => Some(Value::Int(self.peer.port().into())),
            MsgFetch::UniqueId => self.unique_id.and_then(s),
            MsgFetch::FcPpAuthority | MsgFetch::FcPpUniqueId => super::proxy_proto::PROXIED
                .try_with(|c| {
                    let p = c.get()?;
                    let v = match f {
                        MsgFetch::FcPpAuthority => p.authority.as_ref(),
                        _ => p.unique_id.as_ref(),
                    }?;
                    Some(Value::Str(String::from_utf8_lossy(v).into_owned()))
                })
                .ok()
                .flatten(),
            MsgFetch::Dst => Some(Value::Ip((self.local)().ip().to_canonical())),
            MsgFetch::DstPort => Some(Value::Int((self.local)().port().into())),
            MsgFetch::Fc { dst, port } => {
                let (s, d) = self.fc.unwrap_or_else(|| (self.peer, (self.local)()));
                let a = if *dst { d } else { s };
                Some(match port {
                    true => Value::Int(a.port().into()),
                    false => Value::Ip(a.ip().to_canonical()),
                })
            }
            MsgFetch::SslFc => Some(Value::Bool(self.tls.is_some())),
            MsgFetch::SslFcSni => self.tls.and_then(|t| t.sni.as_deref()).and_then(s),
            MsgFetch::SslFcAlpn => self.tls.and_then(|t| t.alpn.as_deref()).and_then(s),
            MsgFetch::SslC(c) => {
                let cert = self.tls.and_then(|t| t.client_cert.as_deref());
                super::tls::client_cert_sample(cert.map(Vec::as_slice), c)
            }
            MsgFetch::FeName => s(&self.fe.cfg.name),
            MsgFetch::FeConn => Some(Value::Int(self.fe.stats.cur.load(Relaxed) as i64)),
            MsgFetch::BeTimeout { tunnel } => {
                let be = self.be?;
                let t = if *tunnel {
                    be.cfg.timeout_tunnel
                } else {
                    be.cfg.timeout_server
                };
                t.map(|d| Value::Int(d.0.as_millis() as i64))
            }
            MsgFetch::FeClientTimeout => {
                (self.fe.cfg.timeout_client).map(|d| Value::Int(d.0.as_millis() as i64))
            }
            MsgFetch::BeConn(name) => {
                let be = match name {
                    Some(n) => self.fe.by_name.get(n).map(|b| &**b),
                    None => self.be,
                }?;
                Some(Value::Int(be.stats.cur.load(Relaxed) as i64))
            }
            MsgFetch::SrvConn { backend, server } => {
                let be = self.fe.by_name.get(backend)?;
                let sv = be.servers.iter().find(|s| s.cfg.name == *server)?;
                Some(Value::Int(i64::from(sv.shared.cur.load(Relaxed))))
            }
            MsgFetch::BeName => self.be.and_then(|b| s(&b.cfg.name)),
            MsgFetch::SrvName => self.server.and_then(s),
            MsgFetch::SrvId => self.server.and_then(|name| {
                let i = self.be?.cfg.server.iter().position(|x| x.name == name)?;
                Some(Value::Int(i as i64 + 1))
            }),
            MsgFetch::Date(offset) => {
                let now = std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .map_or(0, |d| d.as_secs() as i64);
                Some(Value::Int(now.saturating_add(*offset)))
            }
            MsgFetch::Rand(range) => {
                let r = fastrand::u32(..);
                Some(Value::Int(match range {
                    Some(n) => ((u64::from(r) * n) >> 32) as i64,
                    None => r.into(),
                }))
            }
            MsgFetch::Uuid => Some(Value::Str(crate::sample::uuid4())),
            MsgFetch::ProtoHttp => Some(Value::Bool(match self.payload {
                Some(p) => super::payload::is_http(p),
                None => self.fe.cfg.mode == crate::config::Mode::Http,
            })),
            MsgFetch::SslHelloType => self
                .payload
                .and_then(super::payload::ssl_hello_type)
                .map(Value::Int),
            MsgFetch::ReqSslSni => self
                .payload
                .and_then(super::payload::ssl_sni)
                .map(Value::Str),
            MsgFetch::ReqLen => self.payload.map(|p| Value::Int(p.len() as i64)),
            MsgFetch::ReqPayload { offset, len } => {
                let p = self.payload?;
                let end = if *len == 0 { p.len() } else { offset + len };
                p.get(*offset..end).map(|b| Value::Bin(b.to_vec()))
            }
            MsgFetch::ReqPayloadLv {
                at,
                width,
                data,
                relative,
            } => {
                let p = self.payload?;
                let field = p.get(*at..at + width)?;
                let n = field.iter().fold(0u64, |a, b| (a << 8) | u64::from(*b));
                let after = i64::try_from(at + width).ok()?;
                let start = match (data, relative) {
                    (None, _) => after,
                    (Some(o), true) => after + o,
                    (Some(o), false) => *o,
                };
                let start = usize::try_from(start).ok()?;
                let end = start.checked_add(usize::try_from(n).ok()?)?;
                p.get(start..end).map(|b| Value::Bin(b.to_vec()))
            }
            _ => return None,
        })
    }
}

/// A connection without a message (`tcp-request connection|session`).
impl Source for Conn<'_> {
    fn fetch(&self, f: &MsgFetch) -> Option<Value> {
        self.fetch_l4(f).flatten()
    }
}

/// Runs `tcp-request` rules of one stage: `None` when one rejects the connection, else
/// the addresses its rules moved (which the rules after them see).
pub(super) fn tcp_rules_pass(
    rules: &[TcpRule],
    stage: TcpStage,
    acls: &[Acl],
    source: &dyn Source,
    vars: &mut dyn Vars,
) -> Option<Moved> {
    let mut src = MovedSource {
        inner: source,
        moved: Moved::default(),
    };
    for r in rules.iter().filter(|r| r.stage == stage) {
        if !cond_holds(acls, &r.any_of, r.unless, &src, vars) {
            continue;
        }
        match &r.action {
            TcpAction::Accept => {
                note_final_rule(vars, &r.source);
                return Some(src.moved);
            }
            TcpAction::Reject => {
                note_final_rule(vars, &r.source);
                return None;
            }
            TcpAction::SetAddr { part, value } => {
                if let Some(v) = value.eval(&src, vars) {
                    let (a, b) = (address(&src, true), address(&src, false));
                    src.moved.set(*part, v, a, || b);
                }
            }
            TcpAction::SetVar { var, value } => {
                let v = match value {
                    VarValue::Expr(e) => e.eval(&src, vars),
                    VarValue::Fmt(f) => Some(Value::Str(f.render(&src, vars))),
                };
                if let Some(v) = v {
                    var.apply(v, vars);
                }
            }
            TcpAction::UnsetVar { name } => vars.unset(name),
            TcpAction::Track(t) => {
                if let Some(key) = t.key.eval(&src, vars) {
                    vars.stick_act(Act::Track {
                        slot: t.slot,
                        key: &key,
                        table: t.table.as_deref(),
                        http: false,
                    });
                }
            }
        }
    }
    Some(src.moved)
}

/// The source (`src`) or destination address a source tells.
fn address(s: &dyn Source, source: bool) -> SocketAddr {
    let (ip, port) = match source {
        true => (MsgFetch::Src, MsgFetch::SrcPort),
        false => (MsgFetch::Dst, MsgFetch::DstPort),
    };
    let ip = match s.fetch(&ip) {
        Some(Value::Ip(ip)) => ip,
        _ => std::net::Ipv4Addr::UNSPECIFIED.into(),
    };
    let port = match s.fetch(&port) {
        Some(Value::Int(p)) => u16::try_from(p).unwrap_or(0),
        _ => 0,
    };
    SocketAddr::new(ip, port)
}

impl Source for Msg<'_, '_> {
    fn fetch(&self, f: &MsgFetch) -> Option<Value> {
        if let Some(v) = self.req_edits.and_then(|e| e.moved.fetch(f)) {
            return Some(v);
        }
        if let Some(v) = self.conn.fetch_l4(f) {
            return v;
        }
        let s = |x: &str| Some(Value::Str(x.to_string()));
        match f {
            MsgFetch::Method => match self.req_edits.and_then(|v| v.method.as_deref()) {
                Some(m) => s(m),
                None => s(self.req.method()),
            },
            MsgFetch::Path => s(self.target().split('?').next().unwrap_or("")),
            MsgFetch::Pathq => s(&self.target()),
            MsgFetch::Query => self
                .target()
                .split_once('?')
                .map(|(_, q)| Value::Str(q.into())),
            MsgFetch::Url => match self.req_edits.and_then(|v| v.target.as_deref()) {
                Some(t) => s(t),
                None => s(&self.req.target_text()),
            },
            MsgFetch::Base => {
                let host = self.lines("host", false)?;
                let t = self.target();
                Some(Value::Str(format!(
                    "{}{}",
                    host.last().map_or("", |h| h.as_ref()),
                    t.split('?').next().unwrap_or("")
                )))
            }
            MsgFetch::Cook {
                name,
                what,
                response,
            } => {
                let header = if *response { "set-cookie" } else { "cookie" };
                let lines = self.lines(header, *response).unwrap_or_default();
                let pairs: Vec<(&str, &str)> = lines
                    .iter()
                    .flat_map(|l| {
                        // A response's cookie is the first pair of its line.
                        let take = if *response { 1 } else { usize::MAX };
                        l.split(';').take(take).filter_map(|p| {
                            let (k, v) = p.trim().split_once('=')?;
                            Some((k.trim(), v.trim()))
                        })
                    })
                    .filter(|(k, _)| name.as_deref().is_none_or(|n| n == *k))
                    .collect();
                let value = match name {
                    Some(_) => pairs.last(),
                    None => pairs.first(),
                }
                .map(|(_, v)| *v);
                match what {
                    crate::sample::CookWhat::Count => Some(Value::Int(pairs.len() as i64)),
                    crate::sample::CookWhat::Value => value.map(|v| Value::Str(v.to_string())),
                    crate::sample::CookWhat::Int => {
                        value.and_then(|v| v.parse().ok()).map(Value::Int)
                    }
                }
            }
            MsgFetch::UrlParam(name) => {
                let t = self.target();
                let q = t.split_once('?')?.1;
                q.split('&').find_map(|kv| {
                    let (k, v) = kv.split_once('=').unwrap_or((kv, ""));
                    (k == name).then(|| Value::Str(v.to_string()))
                })
            }
            MsgFetch::ReqVer => s(self.req.version()),
            MsgFetch::CaptureMethod => s(self.req.method()),
            MsgFetch::CaptureHdr { n, response } => {
                let caps = &self.conn.fe.cfg.captures;
                let (name, len) = match response {
                    false => caps.request.get(*n)?,
                    true => caps.response.get(*n)?,
                };
                let lines = self.lines(name, *response)?;
                Some(Value::Str(
                    super::logfmt::cut(lines.last()?, *len).to_string(),
                ))
            }
            MsgFetch::CaptureUri => s(&self.req.target_text()),
            MsgFetch::CaptureVer => Some(Value::Str(format!("HTTP/{}", self.req.version()))),
            MsgFetch::HttpAuth(list) => {
                let (user, password) = self.basic_credentials()?;
                Some(Value::Bool(self.conn.fe.auth.check(list, &user, &password)))
            }
            MsgFetch::HttpAuthUser => self.basic_credentials().map(|(u, _)| Value::Str(u)),
            MsgFetch::Hdr {
                name,
                occ,
                full,
                response,
            } => {
                let lines = self.lines(name, *response)?;
                if *full {
                    // Values without the blanks around them, as HTTP reads them.
                    let v: Vec<&str> = lines.iter().map(|l| l.trim_matches([' ', '\t'])).collect();
                    pick(&v, *occ).map(|x| Value::Str(x.to_string()))
                } else {
                    pick(&split_values(&lines), *occ).map(|x| Value::Str(x.to_string()))
                }
            }
            MsgFetch::HdrCnt { name, response } => {
                let lines = self.lines(name, *response)?;
                let n = if lines.is_empty() {
                    0
                } else {
                    split_values(&lines).len()
                };
                Some(Value::Int(n as i64))
            }
            MsgFetch::HdrIp { name, occ } => {
                let lines = self.lines(name, false)?;
                let v = pick(&split_values(&lines), *occ)?;
                // An address may carry a port (`10.0.0.1:80`, `[::1]:80`).
                let a = v
                    .parse()
                    .ok()
                    .or_else(|| v.parse::<SocketAddr>().ok().map(|s| s.ip()))?;
                Some(Value::Ip(a))
            }
            MsgFetch::Hdrs { response } => {
                let mut out = String::new();
                let mut line = |n: &str, v: &str| {
                    out.push_str(n);
                    out.push_str(": ");
                    out.push_str(v);
                    out.push_str("\r\n");
                };
                let (lines, edits) = if *response {
                    let (r, v) = self.resp?;
                    (r.header_lines(), Some(v))
                } else {
                    (self.req.header_lines(), self.req_edits)
                };
                for (n, v) in &lines {
                    if !edits.is_some_and(|e| e.is_gone(n)) {
                        line(n, v);
                    }
                }
                for (n, v) in edits.iter().flat_map(|e| e.added.iter()) {
                    line(n, v);
                }
                out.push_str("\r\n");
                Some(Value::Str(out))
            }
            MsgFetch::Status => {
                let (r, v) = self.resp?;
                Some(Value::Int(
                    v.status.as_ref().map_or(r.status(), |s| s.0).into(),
                ))
            }
            MsgFetch::ResVer => s(self.resp?.0.version()),
            _ => None,
        }
    }
}

/// Whether one named ACL holds (any of its lines).
fn acl_holds(acls: &[Acl], name: &str, src: &dyn Source, vars: &mut dyn Vars) -> bool {
    acls.iter()
        .filter(|a| a.name == name)
        .any(|a| a.test.matches(src, vars))
}

/// Whether a condition (an OR of AND-groups of the proxy's ACLs; none = always) holds.
fn cond_holds(
    acls: &[Acl],
    any_of: &[Vec<CondTerm>],
    unless: bool,
    src: &dyn Source,
    vars: &mut dyn Vars,
) -> bool {
    let hit = any_of.is_empty()
        || any_of.iter().any(|group| {
            group
                .iter()
                .all(|t| acl_holds(acls, &t.acl, src, vars) != t.negate)
        });
    hit != unless
}

/// Where a `redirect` sends this request; `None` for an empty target with
/// `ignore-empty`.
fn location(r: &crate::config::Redirect, msg: &Msg<'_, '_>, vars: &mut dyn Vars) -> Option<String> {
    use crate::config::RedirectKind;
    let target = r.target.render(msg, vars);
    if target.is_empty() && r.ignore_empty {
        return None;
    }
    let pq = msg.target();
    let (path, query) = match pq.split_once('?') {
        Some((p, q)) => (p, Some(q)),
        None => (pq.as_ref(), None),
    };
    let tail = |out: &mut String| {
        out.push_str(path);
        if r.append_slash && !path.ends_with('/') {
            out.push('/');
        }
        if let (Some(q), false) = (query, r.drop_query) {
            out.push('?');
            out.push_str(q);
        }
    };
    let mut out = String::new();
    match r.kind {
        RedirectKind::Location => out.push_str(&target),
        RedirectKind::Prefix => {
            // A prefix of "/" only changes the path's form (HAProxy's rule).
            if target != "/" {
                out.push_str(target.trim_end_matches('/'));
            }
            tail(&mut out);
        }
        RedirectKind::Scheme => {
            out.push_str(&target);
            out.push_str("://");
            out.push_str(msg.req.host_field().unwrap_or(""));
            tail(&mut out);
        }
    }
    Some(out)
}

/// The request line part `part` of `target` (path and query) replaced by `value`.
fn set_part(target: &str, part: LinePart, value: &str) -> String {
    let (path, query) = match target.split_once('?') {
        Some((p, q)) => (p, Some(q)),
        None => (target, None),
    };
    match part {
        LinePart::Path => match query {
            Some(q) => format!("{value}?{q}"),
            None => value.to_string(),
        },
        LinePart::Query => {
            let q = value.strip_prefix('?').unwrap_or(value);
            if q.is_empty() {
                path.to_string()
            } else {
                format!("{path}?{q}")
            }
        }
        LinePart::Pathq | LinePart::Uri | LinePart::Method => value.to_string(),
    }
}

/// Which rules run, and on what.
pub(super) struct Stage<'x, 'a> {
    pub(super) conn: &'x Conn<'x>,
    pub(super) req: &'x dyn RequestView,
    /// In response rules: the request's edits.
    pub(super) req_edits: Option<&'x Verdict<'a>>,
    /// In response rules: the response.
    pub(super) resp: Option<&'x dyn ResponseView>,
}

impl<'x, 'a> Stage<'x, 'a> {
    /// The message with the edits `v` made so far.
    fn msg<'y>(&'y self, v: &'y Verdict<'a>) -> Msg<'y, 'a> {
        match self.resp {
            Some(r) => Msg {
                conn: self.conn,
                req: self.req,
                req_edits: self.req_edits,
                resp: Some((r, v)),
            },
            None => Msg {
                conn: self.conn,
                req: self.req,
                req_edits: Some(v),
                resp: None,
            },
        }
    }

    /// Whether a condition holds on the message as `v` left it.
    pub(super) fn holds(
        &self,
        v: &Verdict<'a>,
        acls: &[Acl],
        any_of: &[Vec<CondTerm>],
        unless: bool,
        vars: &mut dyn Vars,
    ) -> bool {
        cond_holds(acls, any_of, unless, &self.msg(v), vars)
    }
}

/// An expression's value as text, on the message as `v` left it (a server's `sni`).
pub(super) fn eval_str<'a>(
    st: &Stage<'_, 'a>,
    v: &Verdict<'a>,
    e: &crate::sample::Expr,
    vars: &mut dyn Vars,
) -> Option<String> {
    e.eval(&st.msg(v), vars).map(Value::into_string)
}

/// What a rule does to the verdict, worked out on the message before it changes.
enum Step<'a> {
    Nothing,
    /// The request's addresses, moved.
    Move(Moved),
    Set(&'a str, String),
    Add(&'a str, String),
    Remove(Vec<Cow<'a, str>>),
    Replace(&'a str, Vec<String>),
    Deny(Answer),
    End,
    Redirect(Option<(u16, String)>),
    Return(Answer),
    Method(String),
    Target(String),
    Status(u16, Option<String>),
    Service,
}

/// Runs one proxy's rules in order: edits accumulate in `v`, the first `deny`,
/// `allow`, `redirect` or `return` that applies ends the evaluation of these rules.
pub(super) fn run_rules<'a>(
    st: &Stage<'_, 'a>,
    v: &mut Verdict<'a>,
    rules: &'a [HttpRule],
    acls: &[Acl],
    vars: &mut dyn Vars,
) {
    for r in rules {
        let step = {
            let msg = st.msg(v);
            if !cond_holds(acls, &r.any_of, r.unless, &msg, vars) {
                continue;
            }
            step(&r.action, &msg, st.resp.is_some(), vars)
        };
        if matches!(
            step,
            Step::Deny(_) | Step::End | Step::Redirect(Some(_)) | Step::Return(_) | Step::Service
        ) {
            note_final_rule(vars, &r.source);
        }
        match step {
            Step::Nothing => {}
            Step::Set(name, value) => {
                v.remove(Cow::Borrowed(name));
                v.added.push((name, value));
            }
            Step::Add(name, value) => v.added.push((name, value)),
            Step::Remove(names) => {
                for n in names {
                    v.remove(n);
                }
            }
            Step::Replace(name, values) => {
                v.remove(Cow::Borrowed(name));
                v.added.extend(values.into_iter().map(|x| (name, x)));
            }
            Step::Deny(a) => {
                v.deny = Some(a);
                break;
            }
            Step::End => break,
            Step::Redirect(None) => {}
            Step::Redirect(to) => {
                v.redirect = to;
                break;
            }
            Step::Return(a) => {
                v.answer = Some(a);
                break;
            }
            Step::Method(m) => v.method = Some(m),
            Step::Move(m) => v.moved = m,
            Step::Target(t) => v.target = Some(t),
            Step::Status(code, reason) => v.status = Some((code, reason)),
            Step::Service => {
                v.prometheus = true;
                break;
            }
        }
    }
}

fn step<'a>(a: &'a HttpAction, msg: &Msg<'_, '_>, response: bool, vars: &mut dyn Vars) -> Step<'a> {
    match a {
        HttpAction::Capture { value, slot, len } => {
            if let Some(v) = value.eval(msg, vars) {
                let text = super::logfmt::cut(&v.as_str(), *len).to_string();
                if let Some(n) = vars.notes_mut() {
                    n.captures.push((response, *slot, text));
                }
            }
            Step::Nothing
        }
        HttpAction::SetTimeout { which, value } => {
            let ms = value.eval(msg, vars).and_then(|v| v.as_int());
            if let (Some(ms), Some(n)) = (ms, vars.notes_mut()) {
                n.timeouts[*which as usize] = Some(Duration::from_millis(ms.max(0) as u64));
            }
            Step::Nothing
        }
        HttpAction::SetAddr { part, value } => match value.eval(msg, vars) {
            Some(v) => {
                let mut moved = msg.req_edits.map(|e| e.moved).unwrap_or_default();
                moved.set(*part, v, address(msg, true), || address(msg, false));
                Step::Move(moved)
            }
            None => Step::Nothing,
        },
        HttpAction::Track(t) => {
            if let Some(key) = t.key.eval(msg, vars) {
                vars.stick_act(Act::Track {
                    slot: t.slot,
                    key: &key,
                    table: t.table.as_deref(),
                    http: true,
                });
            }
            Step::Nothing
        }
        HttpAction::ScIncGpc { slot, gpc1 } => {
            vars.stick_act(Act::IncGpc {
                slot: *slot,
                gpc1: *gpc1,
            });
            Step::Nothing
        }
        HttpAction::ScSetGpt0 { slot, value } => {
            let v = value.eval(msg, vars).and_then(|v| match v {
                Value::Int(n) => u64::try_from(n).ok(),
                v => v.as_str().trim().parse().ok(),
            });
            if let Some(value) = v {
                vars.stick_act(Act::SetGpt0 { slot: *slot, value });
            }
            Step::Nothing
        }
        HttpAction::SetHeader { name, value } => Step::Set(name, value.render(msg, vars)),
        HttpAction::AddHeader { name, value } => Step::Add(name, value.render(msg, vars)),
        HttpAction::DelHeader {
            name,
            method: NameMatch::Str,
        } => Step::Remove(vec![Cow::Borrowed(name.as_str())]),
        HttpAction::DelHeader { name, method } => {
            let lower = name.to_ascii_lowercase();
            let hit = |n: &str| {
                let n = n.to_ascii_lowercase();
                match method {
                    NameMatch::Str => n == lower,
                    NameMatch::Beg => n.starts_with(&lower),
                    NameMatch::End => n.ends_with(&lower),
                    NameMatch::Sub => n.contains(&lower),
                    NameMatch::Reg(re) => re.re.is_match(&n),
                }
            };
            let (own, edits) = match msg.resp {
                Some((r, v)) if response => (r.header_lines(), Some(v)),
                _ => (msg.req.header_lines(), msg.req_edits),
            };
            let mut names: Vec<Cow<'a, str>> = own
                .iter()
                .map(|(n, _)| n.as_ref())
                .chain(edits.iter().flat_map(|e| e.added.iter().map(|(n, _)| *n)))
                .filter(|n| hit(n))
                .map(|n| Cow::Owned(n.to_string()))
                .collect();
            names.dedup_by(|x, y| x.eq_ignore_ascii_case(y));
            Step::Remove(names)
        }
        HttpAction::ReplaceHeader {
            name,
            re,
            with,
            each_value,
        } => {
            let with = with.render(msg, vars);
            let Some(lines) = msg.lines(name, response) else {
                return Step::Nothing;
            };
            let edit = |x: &str| re.expand(x, &with).unwrap_or_else(|| x.to_string());
            let values = lines
                .iter()
                .map(|l| {
                    if *each_value {
                        let one = [l.clone()];
                        split_values(&one)
                            .into_iter()
                            .map(edit)
                            .collect::<Vec<_>>()
                            .join(", ")
                    } else {
                        edit(l)
                    }
                })
                .collect();
            Step::Replace(name, values)
        }
        HttpAction::Deny { status, reply: r } => Step::Deny(reply(
            msg.conn.fe,
            msg.conn.be,
            *status,
            r.as_ref(),
            msg,
            vars,
        )),
        HttpAction::Allow => Step::End,
        HttpAction::Reject => Step::Deny(Answer {
            status: 403,
            headers: Vec::new(),
            body: Vec::new(),
            silent: true,
        }),
        HttpAction::Redirect(r) => Step::Redirect(location(r, msg, vars).map(|to| (r.code, to))),
        HttpAction::Return(r) => Step::Return(reply(
            msg.conn.fe,
            msg.conn.be,
            r.status,
            Some(r),
            msg,
            vars,
        )),
        HttpAction::SetVar { var, value } => {
            let v = match value {
                VarValue::Expr(e) => e.eval(msg, vars),
                VarValue::Fmt(f) => Some(Value::Str(f.render(msg, vars))),
            };
            if let Some(v) = v {
                var.apply(v, vars);
            }
            Step::Nothing
        }
        HttpAction::UnsetVar { name } => {
            vars.unset(name);
            Step::Nothing
        }
        HttpAction::SetLine { part, value } => {
            let value = value.render(msg, vars);
            match part {
                LinePart::Method => Step::Method(value),
                p => Step::Target(set_part(&msg.target(), *p, &value)),
            }
        }
        HttpAction::ReplaceLine { part, re, with } => {
            let with = with.render(msg, vars);
            let target = msg.target();
            let subject = match part {
                LinePart::Path => target.split('?').next().unwrap_or(""),
                _ => &target,
            };
            match re.expand(subject, &with) {
                Some(new) => Step::Target(set_part(&target, *part, &new)),
                None => Step::Nothing,
            }
        }
        HttpAction::SetStatus { status, reason } => Step::Status(*status, reason.clone()),
        HttpAction::UsePrometheus => Step::Service,
        HttpAction::Auth { realm } => {
            let proxy = msg.conn.be.map_or(&msg.conn.fe.cfg.name, |b| &b.cfg.name);
            let realm = realm.as_deref().unwrap_or(proxy).replace('"', "");
            // The proxy's answer for 401, asking for this realm.
            let mut a = reply(msg.conn.fe, msg.conn.be, 401, None, msg, vars);
            a.headers
                .retain(|(n, _)| !n.eq_ignore_ascii_case("www-authenticate"));
            a.headers.push((
                "www-authenticate".into(),
                format!("Basic realm=\"{realm}\""),
            ));
            Step::Return(a)
        }
    }
}

/// A proxy's `tcp-request content` rules on a request (`mode http`), which see the
/// request as `v` left it: `false` when one rejects the connection; the addresses they
/// move are the request's.
pub(super) fn content_rules_pass<'a>(
    st: &Stage<'_, 'a>,
    v: &mut Verdict<'a>,
    rules: &[TcpRule],
    acls: &[Acl],
    vars: &mut dyn Vars,
) -> bool {
    let moved = tcp_rules_pass(rules, TcpStage::Content, acls, &st.msg(v), vars);
    match moved {
        Some(m) => {
            v.moved = v.moved.then(m);
            true
        }
        None => false,
    }
}

/// The server a request's persistence cookie names (its value, or in `prefix` mode
/// what comes before `~`), and the cookie's value as sent.
pub(super) fn cookie_server(
    be: &BackendRt,
    req: &dyn RequestView,
) -> (Option<usize>, Option<String>) {
    let Some(c) = &be.cfg.cookie else {
        return (None, None);
    };
    let value = req.header_values("cookie").iter().find_map(|line| {
        line.split(';').find_map(|pair| {
            let (n, v) = pair.trim().split_once('=')?;
            (n.trim() == c.name).then(|| v.trim().to_string())
        })
    });
    let server = value.as_deref().and_then(|v| {
        let id = match c.mode {
            CookieMode::Prefix => v.split_once('~')?.0,
            _ => v,
        };
        be.cfg
            .server
            .iter()
            .position(|s| s.cookie.as_deref() == Some(id))
    });
    (server, value)
}

/// What the server gets of the persistence cookie: nothing in `insert indirect` mode
/// (the Cookie header goes when nothing is left), the application's own value in
/// `prefix` mode (the server's prefix taken off), else the cookie as sent.
pub(super) fn strip_cookie<'a>(be: &BackendRt, req: &dyn RequestView, v: &mut Verdict<'a>) {
    let Some(c) = &be.cfg.cookie else {
        return;
    };
    let edit = |pair: &str| -> Option<Option<String>> {
        let (n, value) = pair.trim().split_once('=')?;
        if n.trim() != c.name {
            return None;
        }
        match c.mode {
            CookieMode::Insert if c.indirect => Some(None),
            CookieMode::Prefix => {
                let (_, own) = value.trim().split_once('~')?;
                Some(Some(format!("{}={own}", c.name)))
            }
            _ => None,
        }
    };
    let lines = req.header_values("cookie");
    if !lines
        .iter()
        .any(|l| l.split(';').any(|p| edit(p).is_some()))
    {
        return;
    }
    let rest: Vec<String> = lines
        .iter()
        .map(|l| {
            l.split(';')
                .filter(|p| !p.trim().is_empty())
                .filter_map(|p| match edit(p) {
                    None => Some(p.trim().to_string()),
                    Some(new) => new,
                })
                .collect::<Vec<_>>()
                .join("; ")
        })
        .filter(|l| !l.is_empty())
        .collect();
    v.remove(Cow::Borrowed("cookie"));
    v.added.extend(rest.into_iter().map(|l| ("cookie", l)));
}

/// Whether a `Set-Cookie` line sets the cookie `name`.
fn sets_cookie(line: &str, name: &str) -> bool {
    line.split_once('=').is_some_and(|(n, _)| n.trim() == name)
}

/// What the persistence cookie does to the answer of server `idx`, given the
/// `Set-Cookie` lines the server sent: `insert` adds the cookie when the client did
/// not send the server's value (and drops the server's own, unless `preserve`, which
/// then adds nothing); `rewrite` replaces the value of the server's cookie with the
/// server's identifier, `prefix` puts the identifier and `~` before it. `nocache`
/// marks an answer that sets it private. The server-side log flag when the cookie was
/// touched: `I` inserted, `R` rewritten, `D` deleted.
pub(super) fn set_cookie<'h>(
    be: &BackendRt,
    idx: usize,
    sent: Option<&str>,
    server_sets: &dyn Fn() -> Vec<Cow<'h, str>>,
    v: &mut Verdict<'_>,
) -> Option<char> {
    let (Some(c), Some(id)) = (
        &be.cfg.cookie,
        be.cfg.server.get(idx).and_then(|s| s.cookie.as_deref()),
    ) else {
        return None;
    };
    // The server's lines, unless the response rules took them out.
    let server_sets = match v.is_gone("set-cookie") {
        true => Vec::new(),
        false => server_sets(),
    };
    let theirs = server_sets.iter().any(|l| sets_cookie(l, &c.name));
    // The server's Set-Cookie lines again, the cookie's own edited (`None`: dropped),
    // then those the response rules added.
    let mut resend = |edit: &dyn Fn(&str) -> Option<String>| {
        let added: Vec<String> = v
            .added
            .iter()
            .filter(|(n, _)| n.eq_ignore_ascii_case("set-cookie"))
            .map(|(_, l)| l.clone())
            .collect();
        v.remove(Cow::Borrowed("set-cookie"));
        for l in &server_sets {
            let line = match sets_cookie(l, &c.name) {
                true => edit(l),
                false => Some(l.to_string()),
            };
            v.added.extend(line.map(|l| ("set-cookie", l)));
        }
        v.added.extend(added.into_iter().map(|l| ("set-cookie", l)));
    };
    let flag = match c.mode {
        CookieMode::Passive => return None,
        CookieMode::Insert if theirs && c.preserve => return None,
        CookieMode::Insert => {
            if theirs {
                resend(&|_| None);
            }
            if sent == Some(id) {
                return theirs.then_some('D');
            }
            let mut line = format!("{}={id}; path=/", c.name);
            for d in &c.domain {
                line.push_str("; domain=");
                line.push_str(d);
            }
            if c.httponly {
                line.push_str("; HttpOnly");
            }
            if c.secure {
                line.push_str("; Secure");
            }
            for a in &c.attr {
                line.push_str("; ");
                line.push_str(a);
            }
            v.added.push(("set-cookie", line));
            'I'
        }
        CookieMode::Rewrite | CookieMode::Prefix if theirs => {
            let prefix = c.mode == CookieMode::Prefix;
            resend(&|l| {
                let (name, rest) = l.split_once('=')?;
                let (value, attrs) = rest
                    .split_once(';')
                    .map_or((rest, None), |(a, b)| (a, Some(b)));
                let value = match prefix {
                    true => format!("{id}~{}", value.trim()),
                    false => id.to_string(),
                };
                Some(match attrs {
                    Some(a) => format!("{}={value};{a}", name.trim()),
                    None => format!("{}={value}", name.trim()),
                })
            });
            'R'
        }
        CookieMode::Rewrite | CookieMode::Prefix => return None,
    };
    if c.nocache {
        v.remove(Cow::Borrowed("cache-control"));
        v.added.push(("cache-control", "private".into()));
    }
    Some(flag)
}

/// HAProxy's persistence cookie flags for the log: the client's cookie (`N` none, `I`
/// naming no server, `V` valid and followed, `D` its server was down, the request went
/// elsewhere), then the answer's (`touched`: `I` inserted here, `R` the server's
/// rewritten, `D` the server's deleted; else `P` the server's passed on, `N` none, judged on the server's `Set-Cookie` lines `set_cookies` gives); `--` without a
/// persistence cookie.
pub(super) fn cookie_flags<'h>(
    be: &BackendRt,
    sent: Option<&str>,
    named: Option<usize>,
    used: usize,
    touched: Option<char>,
    set_cookies: &dyn Fn() -> Vec<Cow<'h, str>>,
) -> [char; 2] {
    let Some(c) = &be.cfg.cookie else {
        return ['-', '-'];
    };
    let client = match (sent, named) {
        (None, _) => 'N',
        (Some(_), None) => 'I',
        (Some(_), Some(i)) if i == used => 'V',
        (Some(_), Some(_)) => 'D',
    };
    let server = match touched {
        Some(f) => f,
        None if set_cookies().iter().any(|l| sets_cookie(l, &c.name)) => 'P',
        None => 'N',
    };
    [client, server]
}

/// The frontend's `http-request` rules for a request, then its `redirect` rules, after
/// its `tcp-request content` rules (`v`).
pub(super) fn frontend_request_rules<'a>(
    st: &Stage<'_, 'a>,
    v: &mut Verdict<'a>,
    fe: &'a FrontendRt,
    vars: &mut dyn Vars,
) {
    run_rules(st, v, &fe.cfg.http_request, &fe.cfg.acl, vars);
    if !v.answered() {
        run_rules(st, v, &fe.cfg.redirect, &fe.cfg.acl, vars);
    }
}

/// A final rule at `place` matched: the transaction keeps where (`last_rule_file`).
fn note_final_rule(vars: &mut dyn Vars, place: &str) {
    if let Some(n) = vars.notes_mut() {
        place.clone_into(n.last_rule.get_or_insert_with(String::new));
    }
}

/// A request's timeouts once routed to `be`: those its rules set (`set-timeout`), else
/// the proxies'; `(client, server, tunnel)`.
pub(super) fn request_timeouts(
    vars: &TxnVars<'_>,
    fe: &FrontendRt,
    be: &BackendRt,
) -> (Option<Duration>, Option<Duration>, Option<Duration>) {
    let own = |k: TimeoutKind, default: Option<crate::config::Dur>| {
        vars.notes.timeout(k).or(default.map(|d| d.0))
    };
    (
        own(TimeoutKind::Client, fe.cfg.timeout_client),
        own(TimeoutKind::Server, be.cfg.timeout_server),
        own(TimeoutKind::Tunnel, be.cfg.timeout_tunnel),
    )
}

/// The backend's `http-request` and `redirect` rules, after the frontend's (`v`), once
/// routed there.
pub(super) fn backend_request_rules<'a>(
    st: &Stage<'_, 'a>,
    v: &mut Verdict<'a>,
    be: &'a BackendRt,
    vars: &mut dyn Vars,
) {
    if !v.answered() {
        run_rules(st, v, &be.cfg.http_request, &be.cfg.acl, vars);
    }
    if !v.answered() {
        run_rules(st, v, &be.cfg.redirect, &be.cfg.acl, vars);
    }
}

/// The `http-response` rules for a response: the backend's, then the frontend's.
pub(super) fn response_rules<'a>(
    st: &Stage<'_, 'a>,
    fe: &'a FrontendRt,
    be: &'a BackendRt,
    vars: &mut dyn Vars,
) -> Verdict<'a> {
    let mut v = Verdict::default();
    // The backend's `tcp-response content` rules first: a reject closes the client's
    // connection (its stream, in HTTP/2) without an answer.
    if !be.cfg.tcp_response.is_empty() {
        let rules = &be.cfg.tcp_response;
        let passed = tcp_rules_pass(rules, TcpStage::Content, &be.cfg.acl, &st.msg(&v), vars);
        if passed.is_none() {
            v.deny = Some(Answer {
                status: 502,
                headers: Vec::new(),
                body: Vec::new(),
                silent: true,
            });
            return v;
        }
    }
    run_rules(st, &mut v, &be.cfg.http_response, &be.cfg.acl, vars);
    if !v.answered() {
        run_rules(st, &mut v, &fe.cfg.http_response, &fe.cfg.acl, vars);
    }
    // `http-response redirect`: the server's answer is replaced by the redirection.
    if let Some((code, to)) = v.redirect.take() {
        v.answer = Some(Answer {
            status: code,
            headers: vec![
                ("location".into(), to),
                ("cache-control".into(), "no-cache".into()),
            ],
            body: Vec::new(),
            silent: false,
        });
    }
    v
}

/// The `http-after-response` rules on a response (`v`: its edits so far): the
/// backend's, then the frontend's.
pub(super) fn after_response_rules<'a>(
    st: &Stage<'_, 'a>,
    v: &mut Verdict<'a>,
    fe: &'a FrontendRt,
    be: Option<&'a BackendRt>,
    vars: &mut dyn Vars,
) {
    if let Some(be) = be {
        run_rules(st, v, &be.cfg.http_after_response, &be.cfg.acl, vars);
    }
    run_rules(st, v, &fe.cfg.http_after_response, &fe.cfg.acl, vars);
}

/// The backend a request goes to: the first `use_backend` whose condition holds, else
/// the default.
pub(super) fn choose_backend<'a>(
    st: &Stage<'_, 'a>,
    v: &Verdict<'a>,
    fe: &FrontendRt,
    vars: &mut dyn Vars,
) -> Option<std::sync::Arc<BackendRt>> {
    route(fe, &st.msg(v), vars)
}

/// The first `use_backend` whose condition holds and whose backend exists (a name made
/// of samples may name none: the next rule is tried), else the default backend.
pub(super) fn route(
    fe: &FrontendRt,
    src: &dyn Source,
    vars: &mut dyn Vars,
) -> Option<std::sync::Arc<BackendRt>> {
    for (rule, to) in &fe.rules {
        if !cond_holds(&fe.cfg.acl, &rule.any_of, rule.unless, src, vars) {
            continue;
        }
        match to {
            Route::Fixed(be) => return Some(be.clone()),
            Route::Named(fmt) => {
                if let Some(be) = fe.by_name.get(&fmt.render(src, vars)) {
                    return Some(be.clone());
                }
            }
        }
    }
    fe.default_backend.clone()
}

/// The keys of the backend's `stick` rules that read the request (`response`: the
/// answer) and apply: their condition holds and their sample has a value of the
/// table's type.
pub(super) fn stick_keys(
    be: &BackendRt,
    src: &dyn Source,
    vars: &mut dyn Vars,
    response: bool,
) -> super::state::StickKeys {
    let mut keys = Vec::new();
    for (n, st) in be.stick.iter().enumerate() {
        let r = &st.rule;
        if (r.kind == crate::config::StickKind::StoreResponse) != response
            || !cond_holds(&be.cfg.acl, &r.any_of, r.unless, src, vars)
        {
            continue;
        }
        let key = r.key.eval(src, vars);
        if let Some(k) = key.and_then(|v| super::table::Key::of(st.table.def.key, &v)) {
            keys.push((n, k));
        }
    }
    keys
}

/// The keys of the backend's `stick` rules on the request as its rules left it.
pub(super) fn request_stick_keys<'a>(
    st: &Stage<'_, 'a>,
    v: &Verdict<'a>,
    be: &BackendRt,
    vars: &mut dyn Vars,
) -> super::state::StickKeys {
    match be.stick.is_empty() {
        true => Vec::new(),
        false => stick_keys(be, &st.msg(v), vars, false),
    }
}

/// Whether a request of this method may be sent again when its connection died
/// unanswered (RFC 9110 §9.2.2's idempotent methods).
pub(super) fn idempotent(method: &str) -> bool {
    matches!(
        method,
        "GET" | "HEAD" | "OPTIONS" | "TRACE" | "PUT" | "DELETE"
    )
}

/// `balance hash EXPR`: the hash of the sample, on the request as its rules left it.
pub(super) fn sample_hash<'a>(
    st: &Stage<'_, 'a>,
    v: &Verdict<'a>,
    be: &BackendRt,
    vars: &mut dyn Vars,
) -> Option<u32> {
    let Some(crate::config::HashKey::Expr(e)) = &be.cfg.hash_key else {
        return None;
    };
    let value = e.eval(&st.msg(v), vars)?;
    Some(crate::balance::sdbm(&value.as_bytes()))
}

/// `stick store-response`: the answer's keys (as the server sent it) stored with
/// server `i`, which gave it.
pub(super) fn stick_response(st: &Stage<'_, '_>, be: &BackendRt, i: usize, vars: &mut dyn Vars) {
    if be
        .stick
        .iter()
        .any(|s| s.rule.kind == crate::config::StickKind::StoreResponse)
    {
        let keys = stick_keys(be, &st.msg(&Verdict::default()), vars, true);
        be.remember(&keys, i);
    }
}

/// Whether a request is for the frontend's `monitor-uri`: its path (or, for a
/// `monitor-uri` that is not a path, its whole target), exactly.
pub(super) fn is_monitor(fe: &FrontendRt, req: &dyn RequestView) -> bool {
    match &fe.cfg.monitor_uri {
        None => false,
        Some(u) if u.starts_with('/') => req.path() == u,
        Some(u) => req.target_text() == u.as_str(),
    }
}

/// The status a `monitor-uri` request gets: 503 when a `monitor fail` holds, else 200.
pub(super) fn monitor_status(st: &Stage<'_, '_>, fe: &FrontendRt, vars: &mut dyn Vars) -> u16 {
    let v = Verdict::default();
    let failing = fe
        .cfg
        .monitor_fail
        .iter()
        .any(|r| st.holds(&v, &fe.cfg.acl, &r.any_of, r.unless, vars));
    if failing {
        503
    } else {
        200
    }
}

/// Logs a request's traffic line: the samples of a `log-format` read the request (as
/// the client sent it) and the transaction's variables.
pub(super) fn log_traffic(
    conn: &Conn<'_>,
    req: &dyn RequestView,
    rec: &super::logfmt::LogRec<'_>,
    vars: &mut dyn Vars,
) {
    with_request(conn, req, |src| super::logfmt::traffic(rec, src, vars));
}

/// `f` with the samples of `req`, as the client sent it, on `conn`.
fn with_request<T>(conn: &Conn<'_>, req: &dyn RequestView, f: impl FnOnce(&dyn Source) -> T) -> T {
    let st = Stage {
        conn,
        req,
        req_edits: None,
        resp: None,
    };
    let v = Verdict::default();
    let msg = st.msg(&v);
    f(&msg)
}

/// The request's id, when its frontend has a `unique-id-format`: made, as a log line
/// is, from the request, the connection and `rec`.
pub(super) fn unique_id(
    conn: &Conn<'_>,
    req: &dyn RequestView,
    rec: &super::logfmt::LogRec<'_>,
    vars: &mut dyn Vars,
) -> Option<String> {
    let f = conn.fe.cfg.unique_id_format.as_ref()?;
    Some(with_request(conn, req, |src| f.render_log(src, vars, rec)))
}

/// The page for a status the load balancer answers with itself (no server, a
/// timeout...): the backend's answer for it, the frontend's, else HAProxy's.
pub(super) fn status_page(fe: &FrontendRt, be: Option<&BackendRt>, status: u16) -> Answer {
    reply(
        fe,
        be,
        status,
        None,
        &crate::sample::NoMessage,
        &mut HashMap::new(),
    )
}
