//! HTTP/1 on the wire: heads parsed with httparse, body framing (RFC 9112), the end of
//! chunked bodies, moving a body from one socket to another (by splice(2) when long),
//! and the answers the load balancer writes itself. No policy: [`super`] decides.

use super::super::http::HOP_BY_HOP;
use super::super::tcp::{recv_drained, splice_fd, PooledPipe, Turns};
use bytes::{Buf, BytesMut};
use hyper::header::{HeaderMap, HeaderName, HeaderValue};
use hyper::{Method, Request, StatusCode, Version};
use std::io;
use std::ops::Range;
use std::os::fd::AsRawFd;
use std::time::Duration;
use tokio::io::Interest;
use tokio::net::TcpStream;

/// At most this many header lines in a head.
const MAX_HEADERS: usize = 128;
/// Bodies longer than this (what is left after the head's read) move by splice(2).
const SPLICE_MIN: u64 = 64 * 1024;

/// How a message's body is delimited.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Framing {
    Empty,
    Length(u64),
    Chunked,
    /// Until the server closes (responses only).
    Close,
}

/// Why reading a head stopped.
#[derive(Debug)]
pub(super) enum HeadError {
    /// End of stream before any byte.
    Closed,
    /// No byte within the first-byte wait.
    NoStart,
    /// Part of a head, then nothing within the timeout.
    Timeout,
    TooLarge,
    Bad(String),
    Io,
}

/// A time limit that starts when first needed: reading what is already there reads
/// no clock.
#[derive(Clone, Copy)]
enum Deadline {
    After(Option<Duration>),
    At(Option<tokio::time::Instant>),
}

impl Deadline {
    fn get(&mut self) -> Option<tokio::time::Instant> {
        if let Deadline::After(d) = *self {
            *self = Deadline::At(d.map(|d| tokio::time::Instant::now() + d));
        }
        match *self {
            Deadline::At(at) => at,
            Deadline::After(_) => None,
        }
    }
}

/// Reads until `buf` holds a complete head (parsed by `parse`), within `first` for the
/// first byte and `whole` for the head once started.
pub(super) async fn read_head<T>(
    io: &mut TcpStream,
    buf: &mut BytesMut,
    limit: usize,
    first: Option<Duration>,
    whole: Option<Duration>,
    parse: impl Fn(&[u8]) -> Result<Option<(T, usize)>, HeadError>,
) -> Result<(T, usize), HeadError> {
    // A read that finds data never waits, and tokio's cooperative budget does not count
    // such reads: count each head, so that a connection whose heads keep coming
    // (pipelining) yields to the others once its budget is spent.
    tokio::task::coop::consume_budget().await;
    let mut deadline = Deadline::After(if buf.is_empty() { first } else { whole });
    loop {
        if !buf.is_empty() {
            if let Some(done) = parse(buf)? {
                return Ok(done);
            }
            if buf.len() >= limit {
                return Err(HeadError::TooLarge);
            }
        }
        let was_empty = buf.is_empty();
        if buf.capacity() - buf.len() < 4096 {
            buf.reserve(8192.min(limit.saturating_sub(buf.len()).max(1024)));
        }
        match read_some(io, buf, &mut deadline, usize::MAX).await {
            Err(ReadError::Timeout) if was_empty => return Err(HeadError::NoStart),
            Err(ReadError::Timeout) => return Err(HeadError::Timeout),
            Err(ReadError::Io) => return Err(HeadError::Io),
            Ok(0) if was_empty => return Err(HeadError::Closed),
            Ok(0) => return Err(HeadError::Bad("connection closed within the head".into())),
            Ok(_) if was_empty => deadline = Deadline::After(whole),
            Ok(_) => {}
        }
    }
}

enum ReadError {
    Timeout,
    Io,
}

/// Reads what is there into `buf` (at most `max` bytes); waits (until `deadline`) only
/// when nothing is.
async fn read_some(
    io: &TcpStream,
    buf: &mut BytesMut,
    deadline: &mut Deadline,
    max: usize,
) -> Result<usize, ReadError> {
    loop {
        match recv_drained(io, buf, max) {
            Ok(n) => return Ok(n),
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
            Err(_) => return Err(ReadError::Io),
        }
        // A session has one reader per socket: the single-waker readiness poll does.
        let readable = std::future::poll_fn(|cx| io.poll_read_ready(cx));
        let ready = match deadline.get() {
            Some(d) => tokio::time::timeout_at(d, readable)
                .await
                .map_err(|_| ReadError::Timeout)?,
            None => readable.await,
        };
        ready.map_err(|_| ReadError::Io)?;
    }
}

/// How waiting for a body ended short.
pub(super) enum BodyWait {
    /// The time given ran out.
    Timeout,
    /// The client closed or the connection failed.
    Gone,
    /// A chunked body that is not one.
    Bad,
}

/// Reads a chunked body whole into `buf` (which holds its start), within `limit` and
/// `max` bytes: its length there and its data, or `None` when it is longer than `max`
/// (then left to be passed on as it comes).
pub(super) async fn read_chunked(
    io: &TcpStream,
    buf: &mut BytesMut,
    max: usize,
    limit: Option<Duration>,
) -> Result<Option<(usize, Vec<u8>)>, BodyWait> {
    let mut deadline = Deadline::After(limit);
    let mut scanner = ChunkScanner::default();
    let mut seen = 0;
    loop {
        let (n, done) = scanner.scan(&buf[seen..]).map_err(|_| BodyWait::Bad)?;
        seen += n;
        if done {
            return Ok(Some((seen, dechunk(&buf[..seen]))));
        }
        if buf.len() >= max {
            return Ok(None);
        }
        match read_some(io, buf, &mut deadline, max - buf.len()).await {
            Ok(0) | Err(ReadError::Io) => return Err(BodyWait::Gone),
            Ok(_) => {}
            Err(ReadError::Timeout) => return Err(BodyWait::Timeout),
        }
    }
}

/// The data of a whole chunked body (checked by [`ChunkScanner`]).
fn dechunk(mut b: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    loop {
        let Some(eol) = b.windows(2).position(|w| w == b"\r\n") else {
            return out;
        };
        let line = String::from_utf8_lossy(&b[..eol]);
        let hex = line.split([';', ' ', '\t']).next().unwrap_or("");
        let size = usize::from_str_radix(hex, 16).unwrap_or(0);
        b = &b[eol + 2..];
        if size == 0 || b.len() < size {
            return out;
        }
        out.extend_from_slice(&b[..size]);
        b = b.get(size + 2..).unwrap_or_default();
    }
}

/// Reads until `buf` holds `want` bytes, within `limit`.
pub(super) async fn read_to(
    io: &TcpStream,
    buf: &mut BytesMut,
    want: usize,
    limit: Option<Duration>,
) -> Result<(), BodyWait> {
    let mut deadline = Deadline::After(limit);
    while buf.len() < want {
        match read_some(io, buf, &mut deadline, want - buf.len()).await {
            Ok(0) | Err(ReadError::Io) => return Err(BodyWait::Gone),
            Ok(_) => {}
            Err(ReadError::Timeout) => return Err(BodyWait::Timeout),
        }
    }
    Ok(())
}

/// Writes all of `data`; waits (at most `idle` each time) only when the socket is full.
pub(super) async fn write_all(
    io: &TcpStream,
    mut data: &[u8],
    idle: Option<Duration>,
) -> Result<(), BodyError> {
    while !data.is_empty() {
        match io.try_write(data) {
            Ok(n) => data = &data[n..],
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                let writable = std::future::poll_fn(|cx| io.poll_write_ready(cx));
                let ready = match idle {
                    Some(d) => tokio::time::timeout(d, writable)
                        .await
                        .map_err(|_| BodyError::Timeout)?,
                    None => writable.await,
                };
                ready.map_err(|_| BodyError::Sink)?;
            }
            Err(_) => return Err(BodyError::Sink),
        }
    }
    Ok(())
}

/// Header lines as received: the head's bytes and where each name and value lie in
/// them. Heads are passed on line by line, without building a header map.
pub(super) struct Fields {
    raw: Vec<u8>,
    spans: Vec<(Range<usize>, Range<usize>)>,
}

impl Fields {
    /// `head` is the whole head that httparse parsed into `headers`.
    fn new(head: &[u8], headers: &[httparse::Header<'_>]) -> Fields {
        let base = head.as_ptr() as usize;
        let at = |x: &[u8]| {
            let start = x.as_ptr() as usize - base;
            start..start + x.len()
        };
        Fields {
            raw: head.to_vec(),
            spans: headers
                .iter()
                .map(|h| (at(h.name.as_bytes()), at(h.value)))
                .collect(),
        }
    }

    fn iter(&self) -> impl Iterator<Item = (&[u8], &[u8])> + '_ {
        self.spans
            .iter()
            .map(|(n, v)| (&self.raw[n.clone()], &self.raw[v.clone()]))
    }

    pub(super) fn values<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a [u8]> + 'a {
        self.iter()
            .filter(move |(n, _)| n.eq_ignore_ascii_case(name.as_bytes()))
            .map(|(_, v)| v)
    }

    /// The lines of `name` as text.
    fn text_values(&self, name: &str) -> Vec<std::borrow::Cow<'_, str>> {
        self.iter()
            .filter(|(n, _)| n.eq_ignore_ascii_case(name.as_bytes()))
            .map(|(_, v)| String::from_utf8_lossy(v))
            .collect()
    }

    /// Every line as text.
    fn text_lines(&self) -> Vec<(std::borrow::Cow<'_, str>, std::borrow::Cow<'_, str>)> {
        self.iter()
            .map(|(n, v)| (String::from_utf8_lossy(n), String::from_utf8_lossy(v)))
            .collect()
    }

    /// Whether `name` carries more than one value (a list, or several lines).
    pub(super) fn repeated(&self, name: &str) -> bool {
        tokens(self.values(name)).nth(1).is_some()
    }

    pub(super) fn has(&self, name: &str) -> bool {
        self.values(name).next().is_some()
    }

    pub(super) fn has_token(&self, name: &str, token: &str) -> bool {
        tokens(self.values(name)).any(|t| t.eq_ignore_ascii_case(token))
    }

    /// Appends the header lines; with `end_to_end`, without the hop-by-hop ones (those
    /// of HTTP and those the `Connection` header names). `skip` leaves out more.
    pub(super) fn write(&self, out: &mut Vec<u8>, end_to_end: bool, skip: &[&str]) {
        // Read once per head, not once per line.
        let listed: Vec<&str> = if end_to_end {
            tokens(self.values("connection")).collect()
        } else {
            Vec::new()
        };
        let hop_by_hop = |name: &[u8]| {
            end_to_end
                && (HOP_BY_HOP
                    .iter()
                    .any(|h| name.eq_ignore_ascii_case(h.as_bytes()))
                    || listed
                        .iter()
                        .any(|t| name.eq_ignore_ascii_case(t.as_bytes())))
        };
        for (name, value) in self.iter() {
            if hop_by_hop(name) || skip.iter().any(|s| name.eq_ignore_ascii_case(s.as_bytes())) {
                continue;
            }
            out.extend_from_slice(name);
            out.extend_from_slice(b": ");
            out.extend_from_slice(value);
            out.extend_from_slice(b"\r\n");
        }
    }
}

fn version_of(v: Option<u8>) -> Version {
    if v == Some(0) {
        Version::HTTP_10
    } else {
        Version::HTTP_11
    }
}

/// A request head as the client sent it.
pub(super) struct ReqHead {
    pub(super) method: Method,
    pub(super) version: Version,
    /// Where the request target lies in the head.
    target: Range<usize>,
    /// The target parsed, unless in origin form (`/path?query`, nearly all requests).
    uri: Option<hyper::Uri>,
    pub(super) fields: Fields,
}

impl ReqHead {
    pub(super) fn target(&self) -> &str {
        std::str::from_utf8(&self.fields.raw[self.target.clone()]).unwrap_or("/")
    }

    /// The request line, for logs.
    pub(super) fn line(&self) -> std::borrow::Cow<'_, str> {
        let raw = &self.fields.raw;
        let end = raw.iter().position(|&b| b == b'\r' || b == b'\n');
        let line = String::from_utf8_lossy(&raw[..end.unwrap_or(raw.len())]);
        // Its parts one space apart, however many the client put.
        match line.contains("  ") {
            false => line,
            true => line
                .split(' ')
                .filter(|p| !p.is_empty())
                .collect::<Vec<_>>()
                .join(" ")
                .into(),
        }
    }

    /// The target as sent to a server: origin form (an absolute-form target loses its
    /// scheme and authority, which become the Host header).
    pub(super) fn origin_target(&self) -> &str {
        match &self.uri {
            Some(u) if u.scheme().is_some() => {
                u.path_and_query().map(|p| p.as_str()).unwrap_or("/")
            }
            _ => self.target(),
        }
    }

    /// The authority of an absolute-form target, unless the request has a Host.
    pub(super) fn missing_host(&self) -> Option<&str> {
        let u = self.uri.as_ref()?;
        u.scheme()?;
        if self.fields.has("host") {
            return None;
        }
        u.authority().map(|a| a.as_str())
    }

    /// The same request as a header-map request (for the stats page, which is rare).
    pub(super) fn to_request(&self) -> Result<Request<()>, HeadError> {
        let mut h = HeaderMap::with_capacity(self.fields.spans.len());
        for (name, value) in self.fields.iter() {
            let n = HeaderName::from_bytes(name)
                .map_err(|_| HeadError::Bad("invalid header name".into()))?;
            let v = HeaderValue::from_bytes(value)
                .map_err(|_| HeadError::Bad("invalid header value".into()))?;
            h.append(n, v);
        }
        let uri = match &self.uri {
            Some(u) => u.clone(),
            None => self
                .target()
                .parse()
                .map_err(|_| HeadError::Bad("invalid request target".into()))?,
        };
        let mut req = Request::new(());
        *req.method_mut() = self.method.clone();
        *req.uri_mut() = uri;
        *req.version_mut() = self.version;
        *req.headers_mut() = h;
        Ok(req)
    }
}

impl super::super::rules::ResponseView for RespHead {
    fn status(&self) -> u16 {
        self.code
    }

    fn version(&self) -> &'static str {
        super::super::http::version_text(self.version)
    }

    fn header_values(&self, name: &str) -> Vec<std::borrow::Cow<'_, str>> {
        self.fields.text_values(name)
    }

    fn header_lines(&self) -> Vec<(std::borrow::Cow<'_, str>, std::borrow::Cow<'_, str>)> {
        self.fields.text_lines()
    }
}

impl super::super::rules::RequestView for ReqHead {
    fn version(&self) -> &'static str {
        super::super::http::version_text(self.version)
    }

    fn header_values(&self, name: &str) -> Vec<std::borrow::Cow<'_, str>> {
        self.fields.text_values(name)
    }

    fn header_lines(&self) -> Vec<(std::borrow::Cow<'_, str>, std::borrow::Cow<'_, str>)> {
        self.fields.text_lines()
    }

    fn path_and_query(&self) -> &str {
        self.origin_target()
    }

    fn target_text(&self) -> std::borrow::Cow<'_, str> {
        std::borrow::Cow::Borrowed(self.target())
    }

    fn host_field(&self) -> Option<&str> {
        match self.fields.values("host").next() {
            Some(v) => std::str::from_utf8(v).ok(),
            None => self.uri.as_ref().and_then(|u| u.host()),
        }
    }

    fn path(&self) -> &str {
        match &self.uri {
            Some(u) => u.path(),
            None => self.target().split('?').next().unwrap_or("/"),
        }
    }

    fn method(&self) -> &str {
        self.method.as_str()
    }
}

pub(super) fn parse_request(buf: &[u8]) -> Result<Option<(ReqHead, usize)>, HeadError> {
    let mut hs = [httparse::EMPTY_HEADER; MAX_HEADERS];
    let mut r = httparse::Request::new(&mut hs);
    // As HAProxy, more than one space may separate the request line's parts.
    let parsed = httparse::ParserConfig::default()
        .allow_multiple_spaces_in_request_line_delimiters(true)
        .parse_request(&mut r, buf);
    let n = match parsed {
        Ok(httparse::Status::Complete(n)) => n,
        Ok(httparse::Status::Partial) => return Ok(None),
        Err(httparse::Error::TooManyHeaders) => return Err(HeadError::TooLarge),
        Err(e) => return Err(HeadError::Bad(e.to_string())),
    };
    let method = Method::from_bytes(r.method.unwrap_or("").as_bytes())
        .map_err(|_| HeadError::Bad("invalid method".into()))?;
    let path = r.path.unwrap_or("");
    let uri = if path.starts_with('/') {
        None
    } else {
        let u: hyper::Uri = path
            .parse()
            .map_err(|_| HeadError::Bad("invalid request target".into()))?;
        Some(u)
    };
    let start = path.as_ptr() as usize - buf.as_ptr() as usize;
    Ok(Some((
        ReqHead {
            method,
            version: version_of(r.version),
            target: start..start + path.len(),
            uri,
            fields: Fields::new(&buf[..n], r.headers),
        },
        n,
    )))
}

/// A response head as the server sent it.
pub(super) struct RespHead {
    pub(super) code: u16,
    pub(super) version: Version,
    reason: Range<usize>,
    pub(super) fields: Fields,
}

impl RespHead {
    pub(super) fn reason(&self) -> &[u8] {
        &self.fields.raw[self.reason.clone()]
    }

    /// The status line as this load balancer sends it on (`version` is the client's).
    pub(super) fn write_status_line(&self, out: &mut Vec<u8>, version: Version) {
        status_line(out, version, self.code, self.reason());
    }

    /// The status line with another status (`http-response set-status`): its reason,
    /// else the usual one for the code.
    pub(super) fn write_status_line_as(
        &self,
        out: &mut Vec<u8>,
        version: Version,
        code: u16,
        reason: Option<String>,
    ) {
        let reason = reason.as_deref().unwrap_or(reason_of(code));
        // A reason from the configuration holds no line break (checked when read).
        status_line(out, version, code, reason.as_bytes());
    }
}

fn status_line(out: &mut Vec<u8>, version: Version, code: u16, reason: &[u8]) {
    out.extend_from_slice(version_str(version).as_bytes());
    out.extend_from_slice(&[
        b' ',
        b'0' + (code / 100 % 10) as u8,
        b'0' + (code / 10 % 10) as u8,
        b'0' + (code % 10) as u8,
        b' ',
    ]);
    out.extend_from_slice(reason);
    out.extend_from_slice(b"\r\n");
}

/// The comma-separated tokens of some header values.
fn tokens<'a>(values: impl Iterator<Item = &'a [u8]>) -> impl Iterator<Item = &'a str> {
    values
        .filter_map(|v| std::str::from_utf8(v).ok())
        .flat_map(|v| v.split(','))
        .map(str::trim)
        .filter(|t| !t.is_empty())
}

pub(super) fn parse_response(buf: &[u8]) -> Result<Option<(RespHead, usize)>, HeadError> {
    let mut hs = [httparse::EMPTY_HEADER; MAX_HEADERS];
    let mut r = httparse::Response::new(&mut hs);
    let n = match r.parse(buf) {
        Ok(httparse::Status::Complete(n)) => n,
        Ok(httparse::Status::Partial) => return Ok(None),
        Err(httparse::Error::TooManyHeaders) => return Err(HeadError::TooLarge),
        Err(e) => return Err(HeadError::Bad(e.to_string())),
    };
    let reason = r.reason.unwrap_or("");
    let start = reason.as_ptr() as usize - buf.as_ptr() as usize;
    let reason = if reason.is_empty() {
        0..0
    } else {
        start..start + reason.len()
    };
    Ok(Some((
        RespHead {
            code: r.code.unwrap_or(0),
            version: version_of(r.version),
            reason,
            fields: Fields::new(&buf[..n], r.headers),
        },
        n,
    )))
}

/// Why a request head is refused before any server sees it, if it is: more than one
/// Host field (RFC 9112 §3.2: a server could route by either).
pub(super) fn request_head_problem(h: &Fields) -> Option<&'static str> {
    if h.values("host").nth(1).is_some() {
        return Some("more than one Host header");
    }
    // RFC 6455 §4.1: a WebSocket handshake carries its key.
    if is_websocket_upgrade(h) && !h.has("sec-websocket-key") {
        return Some("a WebSocket upgrade without Sec-WebSocket-Key");
    }
    None
}

/// Whether a request asks to switch to WebSocket.
pub(super) fn is_websocket_upgrade(h: &Fields) -> bool {
    h.has_token("connection", "upgrade") && h.has_token("upgrade", "websocket")
}

/// The body framing of a request, or why it is refused (RFC 9112 §6).
pub(super) fn request_framing(h: &Fields) -> Result<Framing, String> {
    if h.has("transfer-encoding") {
        let codings: Vec<&str> = tokens(h.values("transfer-encoding")).collect();
        if !codings
            .last()
            .is_some_and(|c| c.eq_ignore_ascii_case("chunked"))
        {
            return Err("a request body must end with the chunked transfer coding".into());
        }
        // Applied twice, one side would take the inner chunks for the body's end.
        if codings
            .iter()
            .filter(|c| c.eq_ignore_ascii_case("chunked"))
            .count()
            > 1
        {
            return Err("the chunked transfer coding applied more than once".into());
        }
        if h.has("content-length") {
            return Err("both Transfer-Encoding and Content-Length".into());
        }
        return Ok(Framing::Chunked);
    }
    match content_length(h.values("content-length"))? {
        Some(0) | None => Ok(Framing::Empty),
        Some(n) => Ok(Framing::Length(n)),
    }
}

fn content_length<'a>(values: impl Iterator<Item = &'a [u8]>) -> Result<Option<u64>, String> {
    let mut found: Option<u64> = None;
    for v in values {
        for part in std::str::from_utf8(v)
            .map_err(|_| "invalid Content-Length")?
            .split(',')
        {
            // Digits only (RFC 9110 8.6): Rust's integer parser also takes a sign,
            // and a "+5" that a server reads differently smuggles a request.
            let digits = part.trim();
            if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
                return Err(format!("invalid Content-Length {part:?}"));
            }
            let n: u64 = digits
                .parse()
                .map_err(|_| format!("invalid Content-Length {part:?}"))?;
            if found.is_some_and(|f| f != n) {
                return Err("conflicting Content-Length values".into());
            }
            found = Some(n);
        }
    }
    Ok(found)
}

pub(super) fn response_framing(
    method: &Method,
    code: u16,
    r: &RespHead,
) -> Result<Framing, String> {
    if method == Method::HEAD || (100..200).contains(&code) || code == 204 || code == 304 {
        return Ok(Framing::Empty);
    }
    let r = &r.fields;
    if r.has("transfer-encoding") {
        return Ok(if r.has_token("transfer-encoding", "chunked") {
            Framing::Chunked
        } else {
            Framing::Close
        });
    }
    Ok(match content_length(r.values("content-length"))? {
        Some(0) => Framing::Empty,
        Some(n) => Framing::Length(n),
        None => Framing::Close,
    })
}

/// Finds where a chunked body ends, fed the bytes as they pass.
#[derive(Debug, Default)]
struct ChunkScanner {
    state: ChunkState,
    size: u64,
    digits: u32,
}

#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
enum ChunkState {
    #[default]
    Size,
    /// After the size: extensions up to the line end.
    Ext,
    SizeLf,
    Data,
    DataCr,
    DataLf,
    /// At the start of a trailer line (or the final empty line).
    TrailerStart,
    Trailer,
    TrailerLf,
    FinalLf,
    Done,
}

impl ChunkScanner {
    /// Consumes bytes of `data` belonging to the body; returns how many, and whether the
    /// body ended there.
    fn scan(&mut self, data: &[u8]) -> Result<(usize, bool), String> {
        use ChunkState::*;
        let mut i = 0;
        while i < data.len() {
            let b = data[i];
            match self.state {
                Size => match b {
                    b'0'..=b'9' | b'a'..=b'f' | b'A'..=b'F' => {
                        let d = (b as char).to_digit(16).unwrap_or(0) as u64;
                        self.digits += 1;
                        if self.digits > 15 {
                            return Err("chunk size too large".into());
                        }
                        self.size = self.size * 16 + d;
                    }
                    b';' | b' ' | b'\t' if self.digits > 0 => self.state = Ext,
                    b'\r' if self.digits > 0 => self.state = SizeLf,
                    _ => return Err("invalid chunk size".into()),
                },
                Ext => {
                    if b == b'\r' {
                        self.state = SizeLf;
                    }
                }
                SizeLf => {
                    if b != b'\n' {
                        return Err("invalid chunk size line".into());
                    }
                    self.digits = 0;
                    self.state = if self.size == 0 { TrailerStart } else { Data };
                }
                Data => {
                    let take = (self.size as usize).min(data.len() - i);
                    self.size -= take as u64;
                    i += take;
                    if self.size == 0 {
                        self.state = DataCr;
                    }
                    continue;
                }
                DataCr => {
                    if b != b'\r' {
                        return Err("missing CRLF after chunk data".into());
                    }
                    self.state = DataLf;
                }
                DataLf => {
                    if b != b'\n' {
                        return Err("missing CRLF after chunk data".into());
                    }
                    self.state = Size;
                }
                TrailerStart => {
                    self.state = if b == b'\r' { FinalLf } else { Trailer };
                }
                Trailer => {
                    if b == b'\r' {
                        self.state = TrailerLf;
                    }
                }
                TrailerLf => {
                    if b != b'\n' {
                        return Err("invalid trailer line".into());
                    }
                    self.state = TrailerStart;
                }
                FinalLf => {
                    if b != b'\n' {
                        return Err("invalid end of chunked body".into());
                    }
                    self.state = Done;
                    return Ok((i + 1, true));
                }
                Done => return Ok((i, true)),
            }
            i += 1;
        }
        Ok((i, self.state == Done))
    }
}

/// Why a body could not be moved.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum BodyError {
    /// The sending side failed, closed early or sent something invalid.
    Source,
    /// The receiving side failed.
    Sink,
    /// No progress within the inactivity timeout.
    Timeout,
}

async fn with_timeout<T>(
    d: Option<Duration>,
    f: impl std::future::Future<Output = io::Result<T>>,
    on_err: BodyError,
) -> Result<T, BodyError> {
    match d {
        Some(d) => match tokio::time::timeout(d, f).await {
            Ok(r) => r.map_err(|_| on_err),
            Err(_) => Err(BodyError::Timeout),
        },
        None => f.await.map_err(|_| on_err),
    }
}

/// Reads part of a body, with `idle` as the inactivity timeout.
async fn read_body(
    src: &TcpStream,
    buf: &mut BytesMut,
    idle: Option<Duration>,
    max: usize,
) -> Result<usize, BodyError> {
    read_some(src, buf, &mut Deadline::After(idle), max)
        .await
        .map_err(|e| match e {
            ReadError::Timeout => BodyError::Timeout,
            ReadError::Io => BodyError::Source,
        })
}

/// Moves one body from `src` to `dst`: first what `buf` already holds, then from the
/// socket. `buf` keeps whatever follows the body. Returns the bytes moved.
pub(super) async fn forward_body(
    src: &mut TcpStream,
    buf: &mut BytesMut,
    dst: &mut TcpStream,
    framing: Framing,
    src_idle: Option<Duration>,
    dst_idle: Option<Duration>,
    splice: bool,
) -> Result<u64, BodyError> {
    match framing {
        Framing::Empty => Ok(0),
        Framing::Length(n) => {
            let first = (buf.len() as u64).min(n) as usize;
            if first > 0 {
                write_all(dst, &buf[..first], dst_idle).await?;
                buf.advance(first);
            }
            let mut left = n - first as u64;
            if splice && left >= SPLICE_MIN {
                left = splice_exact(src, dst, left, src_idle, dst_idle).await?;
            }
            // `buf` is empty here: whatever it held belonged to this body.
            let mut turns = Turns::default();
            while left > 0 {
                buf.reserve(64 * 1024);
                let got = read_body(src, buf, src_idle, left.min(64 * 1024) as usize).await?;
                if got == 0 {
                    return Err(BodyError::Source);
                }
                write_all(dst, buf, dst_idle).await?;
                buf.clear();
                left -= got as u64;
                turns.moved(got).await;
            }
            Ok(n)
        }
        Framing::Chunked => {
            let mut scanner = ChunkScanner::default();
            let mut total = 0u64;
            let mut turns = Turns::default();
            loop {
                if !buf.is_empty() {
                    let (used, done) = scanner.scan(buf).map_err(|_| BodyError::Source)?;
                    write_all(dst, &buf[..used], dst_idle).await?;
                    buf.advance(used);
                    total += used as u64;
                    if done {
                        return Ok(total);
                    }
                }
                buf.reserve(32 * 1024);
                let got = read_body(src, buf, src_idle, usize::MAX).await?;
                if got == 0 {
                    return Err(BodyError::Source);
                }
                turns.moved(got).await;
            }
        }
        Framing::Close => {
            let mut total = buf.len() as u64;
            if !buf.is_empty() {
                write_all(dst, buf, dst_idle).await?;
                buf.clear();
            }
            let mut turns = Turns::default();
            loop {
                buf.reserve(64 * 1024);
                let got = read_body(src, buf, src_idle, usize::MAX).await?;
                if got == 0 {
                    return Ok(total);
                }
                write_all(dst, buf, dst_idle).await?;
                total += got as u64;
                buf.clear();
                turns.moved(got).await;
            }
        }
    }
}

/// Moves exactly `n` bytes from `src` to `dst` through a pipe; returns what is left to
/// move by copying (all of it when splice(2) is not available here).
async fn splice_exact(
    src: &TcpStream,
    dst: &TcpStream,
    n: u64,
    src_idle: Option<Duration>,
    dst_idle: Option<Duration>,
) -> Result<u64, BodyError> {
    let Ok(mut pipe) = PooledPipe::get() else {
        return Ok(n);
    };
    let mut left = n;
    let mut turns = Turns::default();
    while left > 0 {
        with_timeout(src_idle, src.readable(), BodyError::Source).await?;
        let want = left.min(1 << 20) as usize;
        let r = src.try_io(Interest::READABLE, || {
            splice_fd(src.as_raw_fd(), pipe.pipe().w, want)
        });
        let got = match r {
            Ok(0) => return Err(BodyError::Source),
            Ok(g) => g,
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => continue,
            Err(e)
                if e.raw_os_error() == Some(libc::EINVAL)
                    || e.raw_os_error() == Some(libc::ENOSYS) =>
            {
                return Ok(left);
            }
            Err(_) => return Err(BodyError::Source),
        };
        pipe.clean = false;
        let mut out = got;
        while out > 0 {
            with_timeout(dst_idle, dst.writable(), BodyError::Sink).await?;
            match dst.try_io(Interest::WRITABLE, || {
                splice_fd(pipe.pipe().r, dst.as_raw_fd(), out)
            }) {
                Ok(m) => out -= m,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => continue,
                Err(_) => return Err(BodyError::Sink),
            }
        }
        pipe.clean = true;
        left -= got as u64;
        turns.moved(got).await;
    }
    Ok(0)
}

fn write_head(out: &mut Vec<u8>, first_line: &[u8], headers: &HeaderMap) {
    out.extend_from_slice(first_line);
    out.extend_from_slice(b"\r\n");
    for (k, v) in headers {
        out.extend_from_slice(k.as_str().as_bytes());
        out.extend_from_slice(b": ");
        out.extend_from_slice(v.as_bytes());
        out.extend_from_slice(b"\r\n");
    }
    out.extend_from_slice(b"\r\n");
}

pub(super) fn version_str(v: Version) -> &'static str {
    if v == Version::HTTP_10 {
        "HTTP/1.0"
    } else {
        "HTTP/1.1"
    }
}

/// An answer of the load balancer itself (errors, the stats page).
pub(super) fn own_response(code: u16, headers: &HeaderMap, body: &[u8], close: bool) -> Vec<u8> {
    let reason = reason_of(code);
    let mut h = headers.clone();
    h.insert("content-length", HeaderValue::from(body.len()));
    if close {
        h.insert("connection", HeaderValue::from_static("close"));
    }
    let mut out = Vec::with_capacity(256 + body.len());
    write_head(&mut out, format!("HTTP/1.1 {code} {reason}").as_bytes(), &h);
    out.extend_from_slice(body);
    out
}

/// The reason phrase for a status: the usual one, else its class's (HAProxy's words).
pub(super) fn reason_of(code: u16) -> &'static str {
    if let Some(r) = StatusCode::from_u16(code)
        .ok()
        .and_then(|s| s.canonical_reason())
    {
        return r;
    }
    match code {
        100..=199 => "Informational",
        200..=299 => "Success",
        300..=399 => "Redirection",
        400..=499 => "Client Error",
        500..=599 => "Server Error",
        _ => "Other",
    }
}

/// An answer of the load balancer's own, as sent.
pub(super) fn own_answer(a: &super::super::rules::Answer, close: bool) -> Vec<u8> {
    let mut h = HeaderMap::new();
    for (n, v) in &a.headers {
        if let (Ok(n), Ok(v)) = (
            hyper::header::HeaderName::from_bytes(n.as_bytes()),
            HeaderValue::from_str(v),
        ) {
            h.append(n, v);
        }
    }
    own_response(a.status, &h, &a.body, close)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chunk_scanner_finds_the_end_across_pieces() {
        let body = b"4\r\nWiki\r\n5;ext=1\r\npedia\r\n0\r\nX-T: 1\r\n\r\nNEXT";
        for split in 0..body.len() {
            let mut s = ChunkScanner::default();
            let (a, done_a) = s.scan(&body[..split]).expect("valid");
            if done_a {
                assert_eq!(a, body.len() - 4, "split at {split}");
                continue;
            }
            assert_eq!(a, split);
            let (b, done) = s.scan(&body[split..]).expect("valid");
            assert!(done, "split at {split}");
            assert_eq!(split + b, body.len() - 4, "split at {split}");
        }
        assert_eq!(dechunk(&body[..body.len() - 4]), b"Wikipedia");
        assert!(ChunkScanner::default().scan(b"zz\r\n").is_err());
        assert!(ChunkScanner::default().scan(b"3\r\nabcX").is_err());
    }

    #[test]
    fn framing_follows_rfc_9112() {
        let req = |head: &str| {
            let head = format!("POST / HTTP/1.1\r\n{head}\r\n");
            let r = parse_request(head.as_bytes())
                .expect("valid")
                .expect("complete");
            request_framing(&r.0.fields)
        };
        assert_eq!(req(""), Ok(Framing::Empty));
        assert_eq!(req("Content-Length: 12\r\n"), Ok(Framing::Length(12)));
        let head = |h: &str| {
            let head = format!("GET / HTTP/1.1\r\n{h}\r\n");
            let r = parse_request(head.as_bytes())
                .expect("valid")
                .expect("complete");
            request_head_problem(&r.0.fields)
        };
        assert_eq!(head("Host: a\r\n"), None);
        assert!(head("Host: a\r\nHost: a\r\n").is_some());
        assert!(head("Host: a\r\nhost: b\r\n").is_some());
        for bad in ["+5", "-5", "5 5", "", "0x5", " , 5"] {
            assert!(
                req(&format!("Content-Length: {bad}\r\n")).is_err(),
                "Content-Length {bad:?} is refused"
            );
        }
        assert!(
            req("Content-Length: 12\r\nTransfer-Encoding: chunked\r\n").is_err(),
            "both is refused"
        );
        assert_eq!(req("Transfer-Encoding: chunked\r\n"), Ok(Framing::Chunked));
        assert!(req("Transfer-Encoding: gzip\r\n").is_err());
        assert!(req("Transfer-Encoding: chunked, gzip\r\n").is_err());
        assert!(req("Transfer-Encoding: chunked, Chunked\r\n").is_err());
        assert!(req("Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n").is_err());
        let resp = |head: &str| {
            parse_response(head.as_bytes())
                .expect("valid")
                .expect("complete")
                .0
        };
        let r = resp("HTTP/1.1 200 OK\r\n\r\n");
        assert_eq!(response_framing(&Method::GET, 200, &r), Ok(Framing::Close));
        assert_eq!(response_framing(&Method::HEAD, 200, &r), Ok(Framing::Empty));
        assert_eq!(response_framing(&Method::GET, 304, &r), Ok(Framing::Empty));
        let r = resp("HTTP/1.1 200 OK\r\nContent-Length: 5, 5\r\n\r\n");
        assert_eq!(
            response_framing(&Method::GET, 200, &r),
            Ok(Framing::Length(5))
        );
        let r = resp("HTTP/1.1 200 OK\r\nContent-Length: 5\r\ncontent-length: 6\r\n\r\n");
        assert!(response_framing(&Method::GET, 200, &r).is_err());
        let r = resp("HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, Chunked\r\n\r\n");
        assert_eq!(
            response_framing(&Method::GET, 200, &r),
            Ok(Framing::Chunked)
        );
        // Hop-by-hop headers and those named by Connection stay with the server.
        let r = resp(
            "HTTP/1.1 200 OK\r\nConnection: close, X-Private\r\nKeep-Alive: 5\r\nX-Private: 1\r\nX-Kept: 2\r\n\r\n",
        );
        let mut out = Vec::new();
        r.fields.write(&mut out, true, &[]);
        assert_eq!(String::from_utf8_lossy(&out), "X-Kept: 2\r\n");
    }
}
