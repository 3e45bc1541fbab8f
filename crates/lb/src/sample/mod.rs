//! HAProxy's sample expressions: a fetch and its converters (`req.hdr(host),lower`), the
//! log-format strings that embed them (`"%[src]:%[dst_port]"`), and the values they
//! produce. No I/O but reading map files while a configuration is read.
//!
//! An expression is parsed once with the configuration ([`Expr::parse`]) and evaluated
//! per request against a [`Source`] (what the request, the response and the connection
//! hold) and the transaction's [`Vars`]. A fetch that finds nothing, or a converter that
//! cannot work on its input, gives no value, as in HAProxy: a header value built from it
//! is empty, an ACL on it does not match.

pub mod acl;
pub mod conv;
pub mod logvar;
pub mod stick;

use std::borrow::Cow;
use std::fmt;
use std::net::IpAddr;

pub use acl::AclTest;
pub use conv::Conv;
pub use logvar::{LogFlags, LogVal, LogVar};

/// A sample: HAProxy's types (boolean, signed integer, address, string, binary).
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    Bool(bool),
    Int(i64),
    Ip(IpAddr),
    Str(String),
    Bin(Vec<u8>),
}

impl Value {
    /// As text, as a log-format or a header gets it: booleans and integers in decimal,
    /// addresses in their usual form, binary as its bytes.
    pub fn as_str(&self) -> Cow<'_, str> {
        match self {
            Value::Bool(b) => Cow::Borrowed(if *b { "1" } else { "0" }),
            Value::Int(i) => Cow::Owned(i.to_string()),
            Value::Ip(a) => Cow::Owned(a.to_canonical().to_string()),
            Value::Str(s) => Cow::Borrowed(s),
            Value::Bin(b) => String::from_utf8_lossy(b),
        }
    }

    /// As bytes: text as its bytes, numbers and addresses as text.
    pub fn as_bytes(&self) -> Cow<'_, [u8]> {
        match self {
            Value::Bin(b) => Cow::Borrowed(b),
            Value::Str(s) => Cow::Borrowed(s.as_bytes()),
            o => Cow::Owned(o.as_str().into_owned().into_bytes()),
        }
    }

    /// As an integer: text by its leading decimal number (HAProxy's cast), booleans as
    /// 0 or 1; addresses and binary have none.
    pub fn as_int(&self) -> Option<i64> {
        match self {
            Value::Bool(b) => Some(*b as i64),
            Value::Int(i) => Some(*i),
            Value::Str(s) => leading_int(s),
            Value::Ip(_) | Value::Bin(_) => None,
        }
    }

    /// As an address: text that is one.
    pub fn as_ip(&self) -> Option<IpAddr> {
        match self {
            Value::Ip(a) => Some(*a),
            Value::Str(s) => s.trim().parse().ok(),
            _ => None,
        }
    }

    /// As a boolean: non-zero numbers, non-empty text.
    pub fn as_bool(&self) -> bool {
        match self {
            Value::Bool(b) => *b,
            Value::Int(i) => *i != 0,
            Value::Ip(_) => true,
            Value::Str(s) => leading_int(s).map_or(!s.is_empty(), |i| i != 0),
            Value::Bin(b) => !b.is_empty(),
        }
    }

    /// The value as a string sample (for converters that take strings).
    pub fn into_string(self) -> String {
        match self {
            Value::Str(s) => s,
            o => o.as_str().into_owned(),
        }
    }
}

/// The decimal integer at the start of `s` (after blanks, with a sign), as HAProxy
/// reads a string as a number.
pub fn leading_int(s: &str) -> Option<i64> {
    let t = s.trim_start();
    let (neg, digits) = match t.as_bytes().first() {
        Some(b'-') => (true, &t[1..]),
        Some(b'+') => (false, &t[1..]),
        _ => (false, t),
    };
    let end = digits
        .bytes()
        .position(|b| !b.is_ascii_digit())
        .unwrap_or(digits.len());
    if end == 0 {
        return None;
    }
    let n: i64 = digits[..end].parse().unwrap_or(i64::MAX);
    Some(if neg { -n } else { n })
}

/// What a transaction's rules note for later, besides its variables: the place of the
/// last final rule that matched (`last_rule_file`, `last_rule_line`), its own timeouts
/// (`set-timeout`, read by `cur_*_timeout`), what its capture rules took, and whether it
/// is the first request of its connection (`http_first_req`).
#[derive(Debug, Default)]
pub struct TxnNotes {
    pub last_rule: Option<String>,
    /// By [`crate::config::TimeoutKind`]: server, tunnel, client.
    pub timeouts: [Option<std::time::Duration>; 3],
    /// `(response, slot, value)`.
    pub captures: Vec<(bool, usize, String)>,
    pub first_request: bool,
    /// The request's body, when `option http-buffer-request` waited for it, and the
    /// size the request announced.
    pub body: Option<(bytes::Bytes, u64)>,
}

impl TxnNotes {
    pub fn timeout(&self, k: crate::config::TimeoutKind) -> Option<std::time::Duration> {
        self.timeouts[k as usize]
    }

    /// What a capture rule took for slot `n`.
    pub fn captured(&self, response: bool, n: usize) -> Option<&str> {
        self.captures
            .iter()
            .rev()
            .find(|(r, s, _)| *r == response && *s == n)
            .map(|(_, _, v)| v.as_str())
    }
}

/// Variables of a transaction (`txn.`, `req.`, `res.`), its session (`sess.`) and the
/// process (`proc.`), by their full name (`txn.user`).
pub trait Vars {
    fn get(&self, name: &str) -> Option<Value>;
    fn set(&mut self, name: &str, value: Value);
    fn unset(&mut self, name: &str);
    /// A stick-table question (`sc_*`, `src_*`, `table_*`): the engine's tables answer;
    /// `None` without a table, an entry, or the data asked for.
    fn stick(
        &mut self,
        _entry: stick::Entry<'_>,
        _table: Option<&str>,
        _ask: stick::Ask,
    ) -> Option<Value> {
        None
    }
    /// A rule's action on the stream's tracked entries (none where there are no tables).
    fn stick_act(&mut self, _act: stick::Act<'_>) {}
    /// The transaction's notes (none where there is no transaction: checks, `global`).
    fn notes(&self) -> Option<&TxnNotes> {
        None
    }
    fn notes_mut(&mut self) -> Option<&mut TxnNotes> {
        None
    }
}

/// Variables in a map: what a transaction holds (the engine backs `proc.` and `sess.`
/// with longer-lived maps).
impl Vars for std::collections::HashMap<String, Value> {
    fn get(&self, name: &str) -> Option<Value> {
        std::collections::HashMap::get(self, name).cloned()
    }

    fn set(&mut self, name: &str, value: Value) {
        self.insert(name.to_string(), value);
    }

    fn unset(&mut self, name: &str) {
        self.remove(name);
    }
}

/// A random (version 4) UUID in its usual text form.
pub fn uuid4() -> String {
    let mut b: [u8; 16] = fastrand::u128(..).to_be_bytes();
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    let h: String = b.iter().map(|x| format!("{x:02x}")).collect();
    format!(
        "{}-{}-{}-{}-{}",
        &h[..8],
        &h[8..12],
        &h[12..16],
        &h[16..20],
        &h[20..]
    )
}

/// Checks a variable name: `SCOPE.NAME` with SCOPE one of proc, sess, txn, req, res,
/// and a name of letters, digits, `_` and `.`.
pub fn check_var_name(name: &str) -> Result<(), String> {
    let (scope, rest) = name.split_once('.').ok_or_else(|| {
        format!("variable `{name}` has no scope (proc., sess., txn., req., res.)")
    })?;
    if !matches!(scope, "proc" | "sess" | "txn" | "req" | "res") {
        return Err(format!(
            "variable `{name}`: scope `{scope}` is not one of proc, sess, txn, req, res"
        ));
    }
    if rest.is_empty()
        || !rest
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'.')
    {
        return Err(format!(
            "variable `{name}`: a name is made of letters, digits, `_` and `.`"
        ));
    }
    Ok(())
}

/// Where a fetch is asked: in request rules the response is not known yet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stage {
    Request,
    Response,
}

/// A sample fetch (the start of an expression).
#[derive(Debug, Clone, PartialEq)]
pub enum Fetch {
    /// A constant: `str(x)`, `int(n)`, `bool(b)`, `bin(hex)`, `ipv4(a)`, `ipv6(a)`,
    /// `always_true`, `always_false`.
    Const(Value),
    /// `var(NAME[,DEFAULT])`.
    Var(String, Option<String>),
    /// `env(NAME)`: the process environment when the configuration was read.
    Env(Option<String>),
    /// Something of the message or the connection, asked of the [`Source`].
    Msg(MsgFetch),
    /// A stick-table counter (`sc_*`, `scN_*`, `src_*`).
    Stick(stick::StickFetch),
}

/// Which occurrence of a header (`req.hdr(NAME,OCC)`): the last by default; 1 is the
/// first, -1 the last, -2 the one before.
pub type Occurrence = Option<i32>;

/// What a cookie fetch gives.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CookWhat {
    Value,
    Count,
    Int,
}

/// What an `ssl_c_*` fetch reads of the client's certificate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ClientCert {
    /// `ssl_c_used`, `ssl_fc_has_crt`: whether the client sent one.
    Used,
    /// `ssl_c_verify`, `ssl_c_err`, `ssl_c_ca_err`: the verification's error (0: a
    /// certificate that fails verification ends the handshake).
    Verify,
    Der,
    Sha1,
    Serial,
    NotBefore,
    NotAfter,
    Version,
    /// `ssl_c_s_dn`, `ssl_c_i_dn` (`issuer`): the whole name (`/C=../CN=..`, or with
    /// `rfc2253` `CN=..,C=..`), or the value of an entry (the `occ`th, from the end
    /// when negative).
    Dn {
        issuer: bool,
        entry: Option<String>,
        occ: i32,
        rfc2253: bool,
    },
}

/// Fetches the engine answers from the message and the connection.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MsgFetch {
    Src,
    SrcPort,
    /// `unique-id`: the request's id (`unique-id-format`).
    UniqueId,
    /// `fc_pp_authority`, `fc_pp_unique_id`: what the PROXY protocol header the
    /// connection began with told (`bind ... accept-proxy`).
    FcPpAuthority,
    FcPpUniqueId,
    Dst,
    DstPort,
    /// `fc_src`, `fc_src_port`, `fc_dst`, `fc_dst_port`: the client connection's
    /// addresses (`src`, `dst` are the stream's, which rules may have moved).
    Fc {
        dst: bool,
        port: bool,
    },
    /// Whether the client connection is TLS.
    SslFc,
    /// The server name a TLS client asked for (SNI).
    SslFcSni,
    /// The protocol a TLS client chose by ALPN.
    SslFcAlpn,
    /// `ssl_c_*`: the client's certificate (`bind ... verify optional|required`).
    SslC(ClientCert),
    Method,
    /// The path, without the query.
    Path,
    /// The path and the query.
    Pathq,
    /// The query string without `?`.
    Query,
    /// The request target as received.
    Url,
    /// Host header and path (`base`).
    Base,
    /// A parameter of the query string (`url_param(NAME)`).
    UrlParam(String),
    /// The request's HTTP version (`req.ver`, "1.1").
    ReqVer,
    /// The request line as the client sent it, before any rule changed it:
    /// `capture.req.method`, `capture.req.uri`, `capture.req.ver` ("HTTP/1.1").
    CaptureMethod,
    /// `capture.req.hdr(N)`, `capture.res.hdr(N)`: the Nth header capture.
    CaptureHdr {
        n: usize,
        response: bool,
    },
    CaptureUri,
    CaptureVer,
    /// A header value: `full` keeps the commas (`req.fhdr`), else each comma-separated
    /// value counts; `response` for `res.*`.
    Hdr {
        name: String,
        occ: Occurrence,
        full: bool,
        response: bool,
    },
    /// How many values a header has (`req.hdr_cnt`, `res.hdr_cnt`).
    HdrCnt {
        name: String,
        response: bool,
    },
    /// A header value read as an address (`req.hdr_ip(NAME[,OCC])`).
    HdrIp {
        name: String,
        occ: Occurrence,
    },
    /// Whole header block as text, one `name: value\r\n` per line.
    Hdrs {
        response: bool,
    },
    /// The response's status code.
    Status,
    /// The response's version (`res.ver`).
    ResVer,
    FeName,
    BeName,
    SrvName,
    /// The server's position in its backend, from 1.
    SrvId,
    /// `date([OFFSET])`: the current time in seconds since the epoch (plus OFFSET).
    Date(i64),
    /// `rand([RANGE])`.
    Rand(Option<u64>),
    /// `uuid([4])`: a random UUID.
    Uuid,
    /// Whether the request's Basic credentials are those of a user of the `userlist`
    /// (`http_auth(LIST)`).
    HttpAuth(String),
    /// Whether the connection carries HTTP (`req.proto_http`, the `HTTP` ACL): in
    /// `mode http` always; in `mode tcp` when the first bytes are a request line.
    ProtoHttp,
    /// In `mode tcp`, the handshake type of a TLS record the client sent first
    /// (`req.ssl_hello_type`: 1 for a ClientHello).
    SslHelloType,
    /// The server name of the client's TLS ClientHello (`req.ssl_sni`).
    ReqSslSni,
    /// How many bytes of the client's first data were read (`req.len`).
    ReqLen,
    /// The request's body as `option http-buffer-request` waited for it: `req.body`,
    /// `req.body_len` (what was read), `req.body_size` (what the request announced),
    /// `req.body_param([NAME])` (a field of a form-encoded body).
    ReqBody(BodyWhat),
    /// `req.cook([NAME])` and its kin: cookies of the request's `Cookie` lines (or, with
    /// `response`, the first pair of each `Set-Cookie` line): the last value of NAME
    /// (without a name, the first cookie's), their count, or the value as an integer.
    Cook {
        name: Option<String>,
        what: CookWhat,
        response: bool,
    },
    /// `http_first_req`: whether the request is the first of its connection.
    FirstReq,
    /// `last_rule_file`, `last_rule_line`: where the last final rule that matched is.
    LastRule {
        line: bool,
    },
    /// `cur_server_timeout`...: the request's timeout (milliseconds).
    CurTimeout(crate::config::TimeoutKind),
    /// `fe_conn`: the frontend's connections now.
    FeConn,
    /// `be_server_timeout`, `be_tunnel_timeout`: the backend's (milliseconds).
    BeTimeout {
        tunnel: bool,
    },
    /// `fe_client_timeout`: the frontend's `timeout client` (milliseconds).
    FeClientTimeout,
    /// `be_conn([BACKEND])`: the backend's connections now (the current one's).
    BeConn(Option<String>),
    /// `srv_conn(BACKEND/SERVER)`: the server's connections now.
    SrvConn {
        backend: String,
        server: String,
    },
    /// `req.payload(OFFSET,LENGTH)`: those bytes of the client's first data (LENGTH 0:
    /// to the end); none when fewer came.
    ReqPayload {
        offset: usize,
        len: usize,
    },
    /// `req.payload_lv(OFFSET1,LENGTH[,OFFSET2])`: a big-endian length of LENGTH bytes at
    /// OFFSET1, then that many bytes at OFFSET2 (else right after the length; an
    /// OFFSET2 written with a sign counts from the length's end).
    ReqPayloadLv {
        at: usize,
        width: usize,
        data: Option<i64>,
        relative: bool,
    },
    /// The user named by the request's Basic credentials, once checked against the
    /// `userlist` (`http_auth_user`... of HAProxy 2.6: the name sent).
    HttpAuthUser,
}

/// What of a buffered request body a fetch reads.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BodyWhat {
    Bytes,
    Len,
    Size,
    Param(Option<String>),
}

/// The answers a fetch needs from the request, the response and the connection.
pub trait Source {
    /// `None` when the sample does not exist (no such header, no response yet).
    fn fetch(&self, f: &MsgFetch) -> Option<Value>;
}

/// Where there is no message nor connection (the `global` section, the runtime API):
/// only what needs neither has a value (`uuid()`).
pub struct NoMessage;

impl Source for NoMessage {
    fn fetch(&self, f: &MsgFetch) -> Option<Value> {
        match f {
            MsgFetch::Uuid => Some(Value::Str(uuid4())),
            _ => None,
        }
    }
}

/// A parsed expression: a fetch, then converters in order.
#[derive(Debug, Clone, PartialEq)]
pub struct Expr {
    pub fetch: Fetch,
    pub convs: Vec<Conv>,
    /// As written, for messages and serialisation.
    pub text: String,
}

// Expressions hold no floating point: equality is an equivalence.
impl Eq for Expr {}
impl Eq for LogFmt {}

impl fmt::Display for Expr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

impl Expr {
    /// Parses `fetch[(args)][,conv[(args)]]...`.
    pub fn parse(text: &str) -> Result<Expr, String> {
        let parts = split_calls(text)?;
        let (name, args) = parts
            .first()
            .ok_or_else(|| "empty sample expression".to_string())?;
        let fetch = parse_fetch(name, args).map_err(|e| format!("`{text}`: {e}"))?;
        let convs = parts[1..]
            .iter()
            .map(|(n, a)| Conv::parse(n, a).map_err(|e| format!("`{text}`: {e}")))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Expr {
            fetch,
            convs,
            text: text.to_string(),
        })
    }

    /// Evaluates the expression; `None` when the fetch or a converter gave nothing.
    pub fn eval(&self, src: &dyn Source, vars: &mut dyn Vars) -> Option<Value> {
        let mut v = match &self.fetch {
            Fetch::Const(v) => v.clone(),
            Fetch::Var(name, default) => {
                vars.get(name).or_else(|| default.clone().map(Value::Str))?
            }
            Fetch::Env(v) => Value::Str(v.clone()?),
            // What the transaction's notes answer.
            Fetch::Msg(MsgFetch::FirstReq) => Value::Bool(vars.notes()?.first_request),
            Fetch::Msg(MsgFetch::LastRule { line }) => {
                let (file, n) = vars.notes()?.last_rule.as_deref()?.rsplit_once(':')?;
                match line {
                    false => Value::Str(file.to_string()),
                    true => Value::Int(n.parse().ok()?),
                }
            }
            // The request's own timeout (`set-timeout`), else the proxy's.
            Fetch::Msg(MsgFetch::CurTimeout(k)) => {
                let own = vars.notes().and_then(|n| n.timeout(*k));
                match own {
                    Some(d) => Value::Int(d.as_millis() as i64),
                    None => src.fetch(&match k {
                        crate::config::TimeoutKind::Server => MsgFetch::BeTimeout { tunnel: false },
                        crate::config::TimeoutKind::Tunnel => MsgFetch::BeTimeout { tunnel: true },
                        crate::config::TimeoutKind::Client => MsgFetch::FeClientTimeout,
                    })?,
                }
            }
            // The body `option http-buffer-request` waited for.
            Fetch::Msg(MsgFetch::ReqBody(what)) => {
                let (body, size) = vars.notes()?.body.as_ref()?;
                match what {
                    BodyWhat::Bytes => Value::Bin(body.to_vec()),
                    BodyWhat::Len => Value::Int(body.len() as i64),
                    BodyWhat::Size => Value::Int(*size as i64),
                    BodyWhat::Param(name) => {
                        let text = String::from_utf8_lossy(body);
                        let mut fields = text
                            .split('&')
                            .map(|kv| kv.split_once('=').unwrap_or((kv, "")));
                        let v = match name {
                            None => fields.next().map(|(_, v)| v),
                            Some(n) => fields.find(|(k, _)| k == n).map(|(_, v)| v),
                        };
                        Value::Str(v?.to_string())
                    }
                }
            }
            // A capture slot an `http-request capture` rule filled, else a header's.
            Fetch::Msg(m @ MsgFetch::CaptureHdr { n, response }) => {
                match vars.notes().and_then(|t| t.captured(*response, *n)) {
                    Some(v) => Value::Str(v.to_string()),
                    None => src.fetch(m)?,
                }
            }
            Fetch::Msg(m) => src.fetch(m)?,
            Fetch::Stick(f) => {
                let table = f.table.as_deref();
                match f.at {
                    stick::At::Slot(n) => vars.stick(stick::Entry::Slot(n), table, f.ask)?,
                    stick::At::Src => {
                        let key = src.fetch(&MsgFetch::Src)?;
                        vars.stick(stick::Entry::Key(&key), table, f.ask)?
                    }
                }
            }
        };
        for c in &self.convs {
            v = c.apply(v, vars)?;
        }
        Some(v)
    }

    /// Whether the expression asks for the response (then it belongs in response
    /// rules only).
    pub fn needs_response(&self) -> bool {
        matches!(
            &self.fetch,
            Fetch::Msg(
                MsgFetch::Status
                    | MsgFetch::Cook { response: true, .. }
                    | MsgFetch::ResVer
                    | MsgFetch::Hdr { response: true, .. }
                    | MsgFetch::HdrCnt { response: true, .. }
                    | MsgFetch::Hdrs { response: true }
            )
        )
    }
}

/// Splits `a(x,y),b,c(z)` into calls with their arguments: commas inside parentheses
/// separate arguments, quotes (`"` or `'`) keep commas and parentheses, a backslash
/// keeps the next character.
pub fn split_calls(text: &str) -> Result<Vec<(String, Vec<String>)>, String> {
    let mut out = Vec::new();
    let mut chars = text.chars().peekable();
    loop {
        let mut name = String::new();
        while let Some(&c) = chars.peek() {
            if c == '(' || c == ',' {
                break;
            }
            name.push(c);
            chars.next();
        }
        let name = name.trim().to_string();
        if name.is_empty() {
            return Err(format!("`{text}`: a fetch or converter name is missing"));
        }
        let mut args = Vec::new();
        if chars.peek() == Some(&'(') {
            chars.next();
            let mut arg = String::new();
            let mut quote: Option<char> = None;
            let mut closed = false;
            let mut depth = 0usize;
            while let Some(c) = chars.next() {
                match (quote, c) {
                    (Some(q), c) if c == q => quote = None,
                    // A backslash keeps a special character; before another it
                    // stays (regular expressions: `\d`).
                    (_, '\\') => match chars.peek() {
                        Some(&n @ ('\\' | ',' | '(' | ')' | '"' | '\'')) => {
                            arg.push(n);
                            chars.next();
                        }
                        _ => arg.push('\\'),
                    },
                    (Some(_), c) => arg.push(c),
                    (None, '"' | '\'') => quote = Some(c),
                    (None, '(') => {
                        depth += 1;
                        arg.push(c);
                    }
                    (None, ')') if depth > 0 => {
                        depth -= 1;
                        arg.push(c);
                    }
                    (None, ')') => {
                        args.push(std::mem::take(&mut arg));
                        closed = true;
                        break;
                    }
                    (None, ',') if depth == 0 => args.push(std::mem::take(&mut arg)),
                    (None, c) => arg.push(c),
                }
            }
            if !closed {
                return Err(format!("`{text}`: `(` without `)` after `{name}`"));
            }
            // `f()` has no argument.
            if args.len() == 1 && args[0].is_empty() {
                args.clear();
            }
        }
        out.push((name, args));
        match chars.next() {
            None => break,
            Some(',') => continue,
            Some(c) => {
                return Err(format!(
                    "`{text}`: unexpected `{c}` after `{}`",
                    out.last().map_or("", |(n, _)| n.as_str())
                ))
            }
        }
    }
    Ok(out)
}

/// The fetches halo answers, for messages.
pub const FETCHES: &str = "src, src_port, dst, dst_port, fc_pp_authority, fc_pp_unique_id, unique-id, ssl_fc, ssl_fc_sni, ssl_fc_alpn, ssl_c_used|verify|der|sha1|serial|notbefore|notafter|version|s_dn|i_dn, method, path, pathq, query, url, base, url_param, req.ver, capture.req.method|uri|ver|hdr, capture.res.hdr, req.hdr/hdr, req.fhdr, req.hdr_cnt, req.hdr_ip, req.hdrs, res.hdr, res.fhdr, res.hdr_cnt, res.hdrs, status, res.ver, fe_name, be_name, srv_name, srv_id, date, rand, uuid, http_auth, http_auth_user, var, env, str, int, bool, bin, ipv4, ipv6, always_true, always_false, req.proto_http, req.ssl_hello_type, req.ssl_sni, req.len, http_first_req, req.cook, req.cook_cnt, req.cook_val, res.cook, res.cook_cnt, res.cook_val, be_server_timeout, be_tunnel_timeout, fe_client_timeout, cur_server_timeout, cur_tunnel_timeout, cur_client_timeout, wait_end, last_rule_file, last_rule_line, fe_conn, be_conn, srv_conn, req.payload, req.payload_lv, sc_*/scN_*/src_* (stick-table counters)";

fn parse_fetch(name: &str, args: &[String]) -> Result<Fetch, String> {
    let none = |f: MsgFetch| -> Result<Fetch, String> {
        if args.is_empty() {
            Ok(Fetch::Msg(f))
        } else {
            Err(format!("`{name}` takes no argument"))
        }
    };
    let one = || -> Result<&str, String> {
        match args {
            [a] if !a.is_empty() => Ok(a.as_str()),
            _ => Err(format!("`{name}` takes one argument")),
        }
    };
    let occ = |i: usize| -> Result<Occurrence, String> {
        match args.get(i) {
            None => Ok(None),
            Some(a) => a
                .parse()
                .map(Some)
                .map_err(|_| format!("`{a}` is not an occurrence number")),
        }
    };
    let header = |i: usize| -> Result<String, String> {
        match args.get(i) {
            Some(a) if !a.is_empty() => Ok(a.to_ascii_lowercase()),
            _ => Err(format!("`{name}` needs a header name")),
        }
    };
    let hdr = |full: bool, response: bool| -> Result<Fetch, String> {
        if args.len() > 2 {
            return Err(format!("`{name}` takes a header name and an occurrence"));
        }
        Ok(Fetch::Msg(MsgFetch::Hdr {
            name: header(0)?,
            occ: occ(1)?,
            full,
            response,
        }))
    };
    Ok(match name {
        "src" => none(MsgFetch::Src)?,
        "src_port" => none(MsgFetch::SrcPort)?,
        "fc_pp_authority" => none(MsgFetch::FcPpAuthority)?,
        "unique-id" => none(MsgFetch::UniqueId)?,
        "fc_pp_unique_id" => none(MsgFetch::FcPpUniqueId)?,
        "dst" => none(MsgFetch::Dst)?,
        "dst_port" => none(MsgFetch::DstPort)?,
        "fc_src" => none(MsgFetch::Fc {
            dst: false,
            port: false,
        })?,
        "fc_src_port" => none(MsgFetch::Fc {
            dst: false,
            port: true,
        })?,
        "fc_dst" => none(MsgFetch::Fc {
            dst: true,
            port: false,
        })?,
        "fc_dst_port" => none(MsgFetch::Fc {
            dst: true,
            port: true,
        })?,
        "ssl_fc" => none(MsgFetch::SslFc)?,
        "ssl_fc_sni" => none(MsgFetch::SslFcSni)?,
        "ssl_c_used" | "ssl_fc_has_crt" => none(MsgFetch::SslC(ClientCert::Used))?,
        "ssl_c_verify" | "ssl_c_err" | "ssl_c_ca_err" => none(MsgFetch::SslC(ClientCert::Verify))?,
        "ssl_c_der" => none(MsgFetch::SslC(ClientCert::Der))?,
        "ssl_c_sha1" => none(MsgFetch::SslC(ClientCert::Sha1))?,
        "ssl_c_serial" => none(MsgFetch::SslC(ClientCert::Serial))?,
        "ssl_c_notbefore" => none(MsgFetch::SslC(ClientCert::NotBefore))?,
        "ssl_c_notafter" => none(MsgFetch::SslC(ClientCert::NotAfter))?,
        "ssl_c_version" => none(MsgFetch::SslC(ClientCert::Version))?,
        "ssl_c_s_dn" | "ssl_c_i_dn" => {
            if args.len() > 3 {
                return Err(format!(
                    "`{name}` takes an entry, an occurrence and a format"
                ));
            }
            let entry = args.first().filter(|a| !a.is_empty()).cloned();
            let occ = match args.get(1).filter(|a| !a.is_empty()) {
                None => 1,
                Some(a) => a.parse::<i32>().ok().filter(|n| *n != 0).ok_or_else(|| {
                    format!("`{a}` is not an occurrence number (1.., or -1.. from the end)")
                })?,
            };
            let rfc2253 = match args.get(2).map(String::as_str) {
                None | Some("") => false,
                Some("rfc2253") => true,
                Some(f) => {
                    return Err(format!("`{name}`: format `{f}` is not supported (rfc2253)"))
                }
            };
            Fetch::Msg(MsgFetch::SslC(ClientCert::Dn {
                issuer: name == "ssl_c_i_dn",
                entry,
                occ,
                rfc2253,
            }))
        }
        "ssl_fc_alpn" => none(MsgFetch::SslFcAlpn)?,
        "method" => none(MsgFetch::Method)?,
        "path" => none(MsgFetch::Path)?,
        "pathq" => none(MsgFetch::Pathq)?,
        "query" => none(MsgFetch::Query)?,
        "url" => none(MsgFetch::Url)?,
        "base" => none(MsgFetch::Base)?,
        "req.ver" | "req_ver" => none(MsgFetch::ReqVer)?,
        "capture.req.method" => none(MsgFetch::CaptureMethod)?,
        n @ ("capture.req.hdr" | "capture.res.hdr") => Fetch::Msg(MsgFetch::CaptureHdr {
            n: one()?
                .parse()
                .map_err(|_| format!("`{n}` takes a capture number (from 0)"))?,
            response: n == "capture.res.hdr",
        }),
        "capture.req.uri" => none(MsgFetch::CaptureUri)?,
        "capture.req.ver" => none(MsgFetch::CaptureVer)?,
        "res.ver" | "resp_ver" => none(MsgFetch::ResVer)?,
        "status" => none(MsgFetch::Status)?,
        "fe_name" => none(MsgFetch::FeName)?,
        "http_first_req" => none(MsgFetch::FirstReq)?,
        c @ ("req.cook" | "cook" | "req.cook_cnt" | "cook_cnt" | "req.cook_val" | "cook_val"
        | "res.cook" | "scook" | "res.cook_cnt" | "scook_cnt" | "res.cook_val"
        | "scook_val") => {
            if args.len() > 1 {
                return Err(format!("`{c}([NAME])` takes one cookie name at most"));
            }
            Fetch::Msg(MsgFetch::Cook {
                name: args.first().filter(|a| !a.is_empty()).cloned(),
                what: if c.ends_with("_cnt") {
                    CookWhat::Count
                } else if c.ends_with("_val") {
                    CookWhat::Int
                } else {
                    CookWhat::Value
                },
                response: c.starts_with("res.") || c.starts_with("scook"),
            })
        }
        "fe_conn" => match args {
            [] => Fetch::Msg(MsgFetch::FeConn),
            _ => {
                return Err(
                    "`fe_conn` reads the current frontend's connections: no argument".into(),
                )
            }
        },
        "be_conn" => match args {
            [] => Fetch::Msg(MsgFetch::BeConn(None)),
            [b] => Fetch::Msg(MsgFetch::BeConn(Some(b.clone()))),
            _ => return Err("`be_conn([BACKEND])` takes one backend name at most".into()),
        },
        "srv_conn" => match args {
            [a] => match a.split_once('/') {
                Some((b, sv)) if !b.is_empty() && !sv.is_empty() => Fetch::Msg(MsgFetch::SrvConn {
                    backend: b.to_string(),
                    server: sv.to_string(),
                }),
                _ => {
                    return Err(format!(
                        "`srv_conn({a})`: name the backend too, `srv_conn(BACKEND/SERVER)`"
                    ))
                }
            },
            _ => return Err("`srv_conn(BACKEND/SERVER)` takes one server".into()),
        },
        "be_name" => none(MsgFetch::BeName)?,
        "srv_name" => none(MsgFetch::SrvName)?,
        "srv_id" => none(MsgFetch::SrvId)?,
        "url_param" | "urlp" => Fetch::Msg(MsgFetch::UrlParam(one()?.to_string())),
        "req.hdr" | "hdr" => hdr(false, false)?,
        "req.fhdr" => hdr(true, false)?,
        "res.hdr" | "shdr" => hdr(false, true)?,
        "res.fhdr" => hdr(true, true)?,
        "req.hdr_cnt" | "hdr_cnt" | "res.hdr_cnt" | "shdr_cnt" => Fetch::Msg(MsgFetch::HdrCnt {
            name: header(0)?,
            response: name.starts_with("res") || name.starts_with('s'),
        }),
        "req.hdr_ip" | "hdr_ip" => Fetch::Msg(MsgFetch::HdrIp {
            name: header(0)?,
            occ: occ(1)?,
        }),
        "req.hdrs" => none(MsgFetch::Hdrs { response: false })?,
        "res.hdrs" => none(MsgFetch::Hdrs { response: true })?,
        "date" => Fetch::Msg(MsgFetch::Date(match args.first() {
            None => 0,
            Some(a) => a
                .parse()
                .map_err(|_| format!("`date({a})`: the offset is a number of seconds"))?,
        })),
        "rand" => Fetch::Msg(MsgFetch::Rand(match args.first() {
            None => None,
            Some(a) => Some(
                a.parse()
                    .map_err(|_| format!("`rand({a})`: the range is a number"))?,
            ),
        })),
        "http_auth" => Fetch::Msg(MsgFetch::HttpAuth(one()?.to_string())),
        "http_auth_user" => none(MsgFetch::HttpAuthUser)?,
        "req.proto_http" | "req_proto_http" => none(MsgFetch::ProtoHttp)?,
        "req.ssl_hello_type" | "req_ssl_hello_type" => none(MsgFetch::SslHelloType)?,
        "req.ssl_sni" | "req_ssl_sni" => none(MsgFetch::ReqSslSni)?,
        "req.len" | "req_len" => none(MsgFetch::ReqLen)?,
        "req.body" => none(MsgFetch::ReqBody(BodyWhat::Bytes))?,
        "req.body_len" => none(MsgFetch::ReqBody(BodyWhat::Len))?,
        "req.body_size" => none(MsgFetch::ReqBody(BodyWhat::Size))?,
        "req.body_param" => match args {
            [] => Fetch::Msg(MsgFetch::ReqBody(BodyWhat::Param(None))),
            [n] => Fetch::Msg(MsgFetch::ReqBody(BodyWhat::Param(Some(n.to_string())))),
            _ => return Err("`req.body_param([NAME])` takes at most a name".into()),
        },
        "req.payload" | "payload" | "req.payload_lv" | "payload_lv" => {
            let lv = name.ends_with("_lv");
            let bad = || match lv {
                false => format!("`{name}(OFFSET,LENGTH)` takes two numbers"),
                true => format!("`{name}(OFFSET1,LENGTH[,OFFSET2])` takes numbers"),
            };
            let n = |i: usize| -> Result<usize, String> {
                args.get(i)
                    .and_then(|a| a.trim().parse().ok())
                    .ok_or_else(bad)
            };
            if !(2..=2 + usize::from(lv)).contains(&args.len()) {
                return Err(bad());
            }
            if !lv {
                return Ok(Fetch::Msg(MsgFetch::ReqPayload {
                    offset: n(0)?,
                    len: n(1)?,
                }));
            }
            let width = n(1)?;
            if !(1..=8).contains(&width) {
                return Err(format!("`{name}`: a length of {width} bytes (1 to 8)"));
            }
            let data = match args.get(2) {
                Some(a) => Some(a.trim().parse::<i64>().map_err(|_| bad())?),
                None => None,
            };
            let relative = args
                .get(2)
                .is_some_and(|a| a.trim().starts_with(['+', '-']));
            Fetch::Msg(MsgFetch::ReqPayloadLv {
                at: n(0)?,
                width,
                data,
                relative,
            })
        }
        "uuid" => match args.first().map(String::as_str) {
            None | Some("4") => Fetch::Msg(MsgFetch::Uuid),
            Some(v) => return Err(format!("`uuid({v})`: only version 4 is supported")),
        },
        "var" => {
            let n = args
                .first()
                .ok_or_else(|| "`var` needs a variable name".to_string())?;
            check_var_name(n)?;
            Fetch::Var(n.clone(), args.get(1).cloned())
        }
        "env" => Fetch::Env(std::env::var(one()?).ok()),
        "last_rule_file" => none(MsgFetch::LastRule { line: false })?,
        "be_server_timeout" => none(MsgFetch::BeTimeout { tunnel: false })?,
        "be_tunnel_timeout" => none(MsgFetch::BeTimeout { tunnel: true })?,
        "fe_client_timeout" => none(MsgFetch::FeClientTimeout)?,
        // The request's own (`set-timeout`), else the proxies' (set once routed).
        "cur_server_timeout" => none(MsgFetch::CurTimeout(crate::config::TimeoutKind::Server))?,
        "cur_tunnel_timeout" => none(MsgFetch::CurTimeout(crate::config::TimeoutKind::Tunnel))?,
        "cur_client_timeout" => none(MsgFetch::CurTimeout(crate::config::TimeoutKind::Client))?,
        "last_rule_line" => none(MsgFetch::LastRule { line: true })?,
        // The rules judge what came without waiting for more: the wait is always over.
        "wait_end" => Fetch::Const(Value::Bool(true)),
        "str" => Fetch::Const(Value::Str(args.first().cloned().unwrap_or_default())),
        "int" => Fetch::Const(Value::Int(
            one()?
                .parse()
                .map_err(|_| format!("`int({})`: not an integer", args[0]))?,
        )),
        "bool" => Fetch::Const(Value::Bool(match one()? {
            "true" => true,
            "false" => false,
            b => {
                leading_int(b)
                    .ok_or_else(|| format!("`bool({b})`: not a boolean (0, 1, true, false)"))?
                    != 0
            }
        })),
        "bin" => Fetch::Const(Value::Bin(
            conv::unhex(one()?).ok_or_else(|| format!("`bin({})`: not hexadecimal", args[0]))?,
        )),
        "ipv4" | "ipv6" => Fetch::Const(Value::Ip(
            one()?
                .parse()
                .map_err(|_| format!("`{name}({})`: not an address", args[0]))?,
        )),
        "always_true" => Fetch::Const(Value::Bool(true)),
        "always_false" => Fetch::Const(Value::Bool(false)),
        o => match stick::parse_fetch(o, args) {
            Some(f) => Fetch::Stick(f?),
            None => return Err(format!("sample fetch `{o}` is not supported ({FETCHES})")),
        },
    })
}

/// A log-format string: text with `%[EXPR]` samples, `%` variables (`%ci`, `%Tr`...),
/// `%{FLAGS}` before either, and `%%`.
#[derive(Debug, Clone, PartialEq)]
pub struct LogFmt {
    pub parts: Vec<Part>,
    pub text: String,
}

/// A piece of a [`LogFmt`].
#[derive(Debug, Clone, PartialEq)]
pub enum Part {
    Lit(String),
    Sample(Expr, LogFlags),
    Var(LogVar, LogFlags),
}

/// What the `%` variables of a log line read (the engine's record of a request or a
/// connection).
pub trait LogVars {
    fn value(&self, v: LogVar) -> LogVal<'_>;
}

impl fmt::Display for LogFmt {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

impl LogFmt {
    /// Parses HAProxy's log-format: `%[EXPR]`, `%VAR`, either after `%{+Q,...}`, and
    /// `%%`.
    pub fn parse(text: &str) -> Result<LogFmt, String> {
        let mut parts = Vec::new();
        let mut lit = String::new();
        let mut rest = text;
        while let Some(i) = rest.find('%') {
            lit.push_str(&rest[..i]);
            let mut after = &rest[i + 1..];
            if let Some(r) = after.strip_prefix('%') {
                lit.push('%');
                rest = r;
                continue;
            }
            let mut flags = LogFlags::default();
            if let Some(r) = after.strip_prefix('{') {
                let end = r
                    .find('}')
                    .ok_or_else(|| format!("`{text}`: `%{{` without `}}`"))?;
                flags = LogFlags::parse(&r[..end], flags)?;
                after = &r[end + 1..];
            }
            if !lit.is_empty() {
                parts.push(Part::Lit(std::mem::take(&mut lit)));
            }
            if let Some(body) = after.strip_prefix('[') {
                let end =
                    closing_bracket(body).ok_or_else(|| format!("`{text}`: `%[` without `]`"))?;
                parts.push(Part::Sample(Expr::parse(&body[..end])?, flags));
                rest = &body[end + 1..];
                continue;
            }
            let n = after
                .find(|c: char| !c.is_ascii_alphabetic())
                .unwrap_or(after.len());
            let name = &after[..n];
            let var = LogVar::parse(name).ok_or_else(|| {
                if name.is_empty() {
                    format!("`{text}`: `%` must be followed by a variable, `[SAMPLE]` or `%`")
                } else {
                    format!("`{text}`: `%{name}` is not a log-format variable")
                }
            })?;
            parts.push(Part::Var(var, flags));
            rest = &after[n..];
        }
        lit.push_str(rest);
        if !lit.is_empty() {
            parts.push(Part::Lit(lit));
        }
        Ok(LogFmt {
            parts,
            text: text.to_string(),
        })
    }

    /// Text taken as it is (no sample).
    pub fn literal(text: &str) -> LogFmt {
        LogFmt {
            parts: if text.is_empty() {
                Vec::new()
            } else {
                vec![Part::Lit(text.to_string())]
            },
            text: text.to_string(),
        }
    }

    /// Whether the string has no sample nor variable (then it is its text).
    pub fn is_literal(&self) -> bool {
        self.parts.iter().all(|p| matches!(p, Part::Lit(_)))
    }

    /// Whether a sample in it asks for the response.
    pub fn needs_response(&self) -> bool {
        self.parts
            .iter()
            .any(|p| matches!(p, Part::Sample(e, _) if e.needs_response()))
    }

    /// The string in a rule: its samples (one that gives nothing adds nothing), its
    /// variables as the message gives them.
    pub fn render(&self, src: &dyn Source, vars: &mut dyn Vars) -> String {
        let mut out = String::new();
        for p in &self.parts {
            match p {
                Part::Lit(s) => out.push_str(s),
                Part::Sample(e, flags) => {
                    if let Some(v) = e.eval(src, vars) {
                        flags.text(&mut out, &v.as_str());
                    }
                }
                Part::Var(v, flags) => flags.write(&mut out, &rule_value(*v, src)),
            }
        }
        out
    }

    /// The string as a log line: variables from `rec`, samples from `src` (`-` when
    /// either has no value), and runs of spaces as one separator that follows no
    /// other (so that empty captures leave no double space), as HAProxy writes them.
    pub fn render_log(&self, src: &dyn Source, vars: &mut dyn Vars, rec: &dyn LogVars) -> String {
        let mut out = String::with_capacity(self.text.len() + 64);
        for p in &self.parts {
            match p {
                Part::Lit(s) => {
                    let mut prev_space = false;
                    for c in s.chars() {
                        if c == ' ' {
                            if !prev_space && !out.ends_with(' ') {
                                out.push(' ');
                            }
                            prev_space = true;
                        } else {
                            out.push(c);
                            prev_space = false;
                        }
                    }
                }
                Part::Sample(e, flags) => match e.eval(src, vars) {
                    Some(v) => flags.text(&mut out, &v.as_str()),
                    None => out.push('-'),
                },
                Part::Var(v, flags) => {
                    let val = rec.value(*v);
                    if val == LogVal::None && v.silent_when_empty() {
                        continue;
                    }
                    flags.write(&mut out, &val);
                }
            }
        }
        out
    }
}

/// A `%` variable in a rule: what the message gives for it.
fn rule_value(v: LogVar, src: &dyn Source) -> LogVal<'static> {
    let f = |m: MsgFetch| src.fetch(&m);
    let text = |x: Option<Value>| match x {
        Some(Value::Int(n)) => LogVal::Int(n),
        Some(Value::Ip(a)) => LogVal::Ip(a),
        Some(v) => LogVal::Text(Cow::Owned(v.as_str().into_owned())),
        None => LogVal::None,
    };
    match v {
        LogVar::ClientIp => text(f(MsgFetch::Src)),
        LogVar::ClientPort => text(f(MsgFetch::SrcPort)),
        LogVar::FrontIp => text(f(MsgFetch::Dst)),
        LogVar::FrontPort => text(f(MsgFetch::DstPort)),
        LogVar::Frontend | LogVar::FrontTransport => text(f(MsgFetch::FeName)),
        LogVar::Backend => text(f(MsgFetch::BeName)),
        LogVar::Server => text(f(MsgFetch::SrvName)),
        LogVar::Method => text(f(MsgFetch::Method)),
        LogVar::PathOnly => text(f(MsgFetch::Path)),
        LogVar::Uri => text(f(MsgFetch::Url)),
        LogVar::UriPath => match f(MsgFetch::Url) {
            Some(u) => {
                let u = u.as_str();
                LogVal::Text(Cow::Owned(u.split('?').next().unwrap_or("").to_string()))
            }
            None => LogVal::None,
        },
        LogVar::Query => match f(MsgFetch::Query) {
            Some(q) => LogVal::Text(Cow::Owned(format!("?{}", q.as_str()))),
            None => LogVal::Text(Cow::Borrowed("")),
        },
        LogVar::Version => match f(MsgFetch::ReqVer) {
            Some(v) => LogVal::Text(Cow::Owned(format!("HTTP/{}", v.as_str()))),
            None => LogVal::None,
        },
        LogVar::RequestLine => match (f(MsgFetch::Method), f(MsgFetch::Url), f(MsgFetch::ReqVer)) {
            (Some(m), Some(u), Some(v)) => LogVal::Text(Cow::Owned(format!(
                "{} {} HTTP/{}",
                m.as_str(),
                u.as_str(),
                v.as_str()
            ))),
            _ => LogVal::None,
        },
        LogVar::Status => text(f(MsgFetch::Status)),
        LogVar::Pid => LogVal::Int(i64::from(std::process::id())),
        _ => LogVal::None,
    }
}

/// The `]` closing a `%[`, past brackets and quotes inside the expression.
fn closing_bracket(s: &str) -> Option<usize> {
    let mut depth = 0usize;
    let mut quote: Option<u8> = None;
    let b = s.as_bytes();
    let mut i = 0;
    while i < b.len() {
        match (quote, b[i]) {
            (Some(q), c) if c == q => quote = None,
            (_, b'\\') => i += 1,
            (Some(_), _) => {}
            (None, c @ (b'"' | b'\'')) => quote = Some(c),
            (None, b'[') => depth += 1,
            (None, b']') if depth == 0 => return Some(i),
            (None, b']') => depth -= 1,
            _ => {}
        }
        i += 1;
    }
    None
}

/// A regular expression as written in a configuration (compared by its text).
#[derive(Debug, Clone)]
pub struct Re {
    pub re: regex::Regex,
    pub text: String,
}

impl PartialEq for Re {
    fn eq(&self, o: &Re) -> bool {
        self.text == o.text
    }
}
impl Eq for Re {}

impl Re {
    pub fn parse(text: &str) -> Result<Re, String> {
        Re::with_case(text, false)
    }

    /// With `ignore_case`, letters match either case.
    pub fn with_case(text: &str, ignore_case: bool) -> Result<Re, String> {
        let re = regex::RegexBuilder::new(text)
            .case_insensitive(ignore_case)
            .build()
            .map_err(|e| format!("`{text}` is not a regular expression: {e}"))?;
        Ok(Re {
            re,
            text: text.to_string(),
        })
    }

    /// What a rewrite rule makes of `s` when the expression matches it: `with`, whose
    /// `\1`..`\9` are the match's groups (`\0` all of it) — HAProxy's rule, the
    /// result is the replacement alone; `None` when it does not match.
    pub fn expand(&self, s: &str, with: &str) -> Option<String> {
        let caps = self.re.captures(s)?;
        let mut out = String::with_capacity(with.len() + 16);
        let mut chars = with.chars().peekable();
        while let Some(c) = chars.next() {
            match (c, chars.peek().and_then(|d| d.to_digit(10))) {
                ('\\', Some(d)) => {
                    chars.next();
                    if let Some(g) = caps.get(d as usize) {
                        out.push_str(g.as_str());
                    }
                }
                _ => out.push(c),
            }
        }
        Some(out)
    }
}

/// The variable a `set-var` action sets and its conditions (`txn.x,ifnotset`),
/// applied as the `set-var` converter does.
#[derive(Debug, Clone)]
pub struct VarSet {
    conv: Conv,
    pub text: String,
}

impl PartialEq for VarSet {
    fn eq(&self, o: &VarSet) -> bool {
        self.text == o.text
    }
}
impl Eq for VarSet {}

impl VarSet {
    pub fn parse(text: &str) -> Result<VarSet, String> {
        let args: Vec<String> = text.split(',').map(|a| a.trim().to_string()).collect();
        check_var_name(&args[0])?;
        Ok(VarSet {
            conv: Conv::parse("set-var", &args)?,
            text: text.to_string(),
        })
    }

    /// Stores `v` if the conditions allow.
    pub fn apply(&self, v: Value, vars: &mut dyn Vars) {
        let _ = self.conv.apply(v, vars);
    }
}

macro_rules! text_serde {
    ($t:ty) => {
        impl serde::Serialize for $t {
            fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.serialize_str(&self.text)
            }
        }
        impl<'de> serde::Deserialize<'de> for $t {
            fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<$t, D::Error> {
                let s = String::deserialize(d)?;
                <$t>::parse(&s).map_err(serde::de::Error::custom)
            }
        }
    };
}
text_serde!(Expr);
text_serde!(LogFmt);
text_serde!(Re);
text_serde!(VarSet);

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    struct Req;
    impl Source for Req {
        fn fetch(&self, f: &MsgFetch) -> Option<Value> {
            match f {
                MsgFetch::Path => Some(Value::Str("/foo/bar/baz".into())),
                MsgFetch::Src => Some(Value::Ip("192.168.1.7".parse().ok()?)),
                _ => None,
            }
        }
    }

    #[test]
    fn calls_split_with_quotes_and_empty_arguments() {
        let c = split_calls(r#"str("a,b"),concat(_,sess.x,),regsub(:\d+$,,)"#).unwrap();
        assert_eq!(c[0], ("str".into(), vec!["a,b".into()]));
        assert_eq!(c[1].1, vec!["_", "sess.x", ""]);
        assert_eq!(c[2].1, vec![r":\d+$", "", ""]);
        assert!(split_calls("str(a").is_err());
        assert!(split_calls("str(a)x").is_err());
        assert!(split_calls(",lower").is_err());
    }

    #[test]
    fn expressions_evaluate_against_a_source_and_variables() {
        let mut vars: HashMap<String, Value> = HashMap::new();
        let e = Expr::parse("var(txn.x,dflt)").unwrap();
        assert_eq!(e.eval(&Req, &mut vars), Some(Value::Str("dflt".into())));
        vars.set("txn.x", Value::Int(4));
        assert_eq!(e.eval(&Req, &mut vars), Some(Value::Int(4)));
        let p = Expr::parse("path").unwrap();
        assert_eq!(p.eval(&Req, &mut vars).unwrap().as_str(), "/foo/bar/baz");
        assert_eq!(Expr::parse("query").unwrap().eval(&Req, &mut vars), None);
        assert!(Expr::parse("nosuch").unwrap_err().contains("nosuch"));
        assert!(Expr::parse("var(x)").is_err());
    }

    #[test]
    fn log_formats_mix_text_and_samples() {
        let mut vars: HashMap<String, Value> = HashMap::new();
        let f = LogFmt::parse("ip=%[src] 100%% %[query]!").unwrap();
        assert_eq!(f.render(&Req, &mut vars), "ip=192.168.1.7 100% !");
        assert!(LogFmt::parse("plain").unwrap().is_literal());
        // `%` variables, as a rule reads them; flags before either kind.
        let f = LogFmt::parse("%ci:%cp %HM %{+Q}[path] %{+X}ci %{+Q}r %Tr").unwrap();
        assert_eq!(
            f.render(&Req, &mut vars),
            "192.168.1.7:- - \"/foo/bar/baz\" C0A80107 - -"
        );
        assert!(LogFmt::parse("%Q").unwrap_err().contains("`%Q` is not"));
        assert!(LogFmt::parse("%{+Z}ci").is_err());
        assert!(LogFmt::parse("100%").is_err());
        assert!(LogFmt::parse("%[src").is_err());
    }

    #[test]
    fn casts_follow_haproxy() {
        assert_eq!(leading_int(" 42abc"), Some(42));
        assert_eq!(leading_int("-7"), Some(-7));
        assert_eq!(leading_int("x"), None);
        assert!(Value::Str("1".into()).as_bool());
        assert!(!Value::Str("0".into()).as_bool());
        assert_eq!(Value::Bool(true).as_str(), "1");
    }
}
