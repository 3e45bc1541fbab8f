//! `mode http` over HTTP/1.x without a generic HTTP library in between: each request
//! head is parsed once (httparse), rewritten and written to a server connection from
//! our own pool, the response head likewise, and bodies are moved as they come — by
//! splice(2) when their length is known and large. One task per client connection, the
//! same system calls per request as HAProxy, little else.
//!
//! HTTP/2 clients are served by hyper in [`super::http`]; routing, header rewriting,
//! logging and the stats page are shared with it.

use super::http::{
    choose_backend, head_timeout, is_l7_error, log_http, prepare_request_head, LogInfo,
    RewriteOpts, HOP_BY_HOP,
};
use super::logfmt::haproxy_date;
use super::state::*;
use super::tcp::{connect_server, splice_fd, ConnFail, ConnInfo, PooledPipe};
use super::Shared;
use crate::balance::hash_ip;
use crate::health::Event;
use bytes::{Buf, BufMut, BytesMut};
use http_body_util::BodyExt;
use hyper::header::{HeaderMap, HeaderName, HeaderValue};
use hyper::{Method, Request, StatusCode, Version};
use std::io;
use std::net::SocketAddr;
use std::os::fd::AsRawFd;
use std::sync::atomic::Ordering::Relaxed;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt, Interest};
use tokio::net::TcpStream;

/// At most this many header lines in a head.
const MAX_HEADERS: usize = 128;
/// Bodies longer than this (what is left after the head's read) move by splice(2).
const SPLICE_MIN: u64 = 64 * 1024;
/// An idle pooled server connection older than this may be closed under us: a request
/// that could not be sent again takes a fresh connection instead.
const STALE_AFTER: Duration = Duration::from_millis(300);
const POOL_MAX: usize = 256;
/// Idle server connections are closed after this long (HAProxy's `pool-purge-delay`).
const IDLE_MAX: Duration = Duration::from_secs(5);

/// An idle server connection, ready for the next request.
pub struct IdleConn {
    stream: TcpStream,
    since: Instant,
    /// The worker thread whose reactor the socket is registered with.
    worker: std::thread::ThreadId,
}

/// How a message's body is delimited.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Framing {
    Empty,
    Length(u64),
    Chunked,
    /// Until the server closes (responses only).
    Close,
}

/// Why reading a head stopped.
#[derive(Debug)]
enum HeadError {
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

/// Reads until `buf` holds a complete head (parsed by `parse`), within `first` for the
/// first byte and `whole` for the head once started.
async fn read_head<T>(
    io: &mut TcpStream,
    buf: &mut BytesMut,
    limit: usize,
    first: Option<Duration>,
    whole: Option<Duration>,
    parse: impl Fn(&[u8]) -> Result<Option<(T, usize)>, HeadError>,
) -> Result<(T, usize), HeadError> {
    let mut deadline = if buf.is_empty() {
        first.map(|d| tokio::time::Instant::now() + d)
    } else {
        whole.map(|d| tokio::time::Instant::now() + d)
    };
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
        let r = match read_some(io, buf, deadline, usize::MAX).await {
            Err(ReadError::Timeout) if was_empty => return Err(HeadError::NoStart),
            Err(ReadError::Timeout) => return Err(HeadError::Timeout),
            Err(ReadError::Io) => Err(()),
            Ok(n) => Ok(n),
        };
        match r {
            Ok(0) if was_empty => return Err(HeadError::Closed),
            Ok(0) => return Err(HeadError::Bad("connection closed within the head".into())),
            Ok(_) => {
                if was_empty {
                    deadline = whole.map(|d| tokio::time::Instant::now() + d);
                }
            }
            Err(_) => return Err(HeadError::Io),
        }
    }
}

enum ReadError {
    Timeout,
    Io,
}

/// Reads what is there into `buf`; waits (until `deadline`) only when nothing is.
/// The timer is armed only for a wait, not for every read.
async fn read_some(
    io: &TcpStream,
    buf: &mut BytesMut,
    deadline: Option<tokio::time::Instant>,
    max: usize,
) -> Result<usize, ReadError> {
    loop {
        match io.try_read_buf(&mut (&mut *buf).limit(max)) {
            Ok(n) => return Ok(n),
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
            Err(_) => return Err(ReadError::Io),
        }
        let ready = match deadline {
            Some(d) => tokio::time::timeout_at(d, io.readable())
                .await
                .map_err(|_| ReadError::Timeout)?,
            None => io.readable().await,
        };
        ready.map_err(|_| ReadError::Io)?;
    }
}

/// Writes all of `data`; waits (at most `idle` each time) only when the socket is full.
async fn write_all(
    io: &TcpStream,
    mut data: &[u8],
    idle: Option<Duration>,
) -> Result<(), BodyError> {
    while !data.is_empty() {
        match io.try_write(data) {
            Ok(n) => data = &data[n..],
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                let ready = match idle {
                    Some(d) => tokio::time::timeout(d, io.writable())
                        .await
                        .map_err(|_| BodyError::Timeout)?,
                    None => io.writable().await,
                };
                ready.map_err(|_| BodyError::Sink)?;
            }
            Err(_) => return Err(BodyError::Sink),
        }
    }
    Ok(())
}

fn headers_of(list: &[httparse::Header<'_>]) -> Result<HeaderMap, HeadError> {
    let mut h = HeaderMap::with_capacity(list.len());
    for x in list {
        let name = HeaderName::from_bytes(x.name.as_bytes())
            .map_err(|_| HeadError::Bad(format!("invalid header name {:?}", x.name)))?;
        let value = HeaderValue::from_bytes(x.value)
            .map_err(|_| HeadError::Bad(format!("invalid value of header {}", x.name)))?;
        h.append(name, value);
    }
    Ok(h)
}

fn version_of(v: Option<u8>) -> Version {
    if v == Some(0) {
        Version::HTTP_10
    } else {
        Version::HTTP_11
    }
}

fn parse_request(buf: &[u8]) -> Result<Option<(Request<()>, usize)>, HeadError> {
    let mut hs = [httparse::EMPTY_HEADER; MAX_HEADERS];
    let mut r = httparse::Request::new(&mut hs);
    let n = match r.parse(buf) {
        Ok(httparse::Status::Complete(n)) => n,
        Ok(httparse::Status::Partial) => return Ok(None),
        Err(httparse::Error::TooManyHeaders) => return Err(HeadError::TooLarge),
        Err(e) => return Err(HeadError::Bad(e.to_string())),
    };
    let method = Method::from_bytes(r.method.unwrap_or("").as_bytes())
        .map_err(|_| HeadError::Bad("invalid method".into()))?;
    let uri: hyper::Uri = r
        .path
        .unwrap_or("")
        .parse()
        .map_err(|_| HeadError::Bad("invalid request target".into()))?;
    let mut req = Request::new(());
    *req.method_mut() = method;
    *req.uri_mut() = uri;
    *req.version_mut() = version_of(r.version);
    *req.headers_mut() = headers_of(r.headers)?;
    Ok(Some((req, n)))
}

/// A response head as the server sent it: passed on line by line, without building a
/// header map (only the framing and connection headers are looked at).
struct RespHead {
    code: u16,
    reason: String,
    version: Version,
    raw: Vec<u8>,
    /// Where each header's name and value lie in `raw`.
    fields: Vec<(std::ops::Range<usize>, std::ops::Range<usize>)>,
}

impl RespHead {
    fn values<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a [u8]> + 'a {
        self.fields
            .iter()
            .filter(move |(n, _)| self.raw[n.clone()].eq_ignore_ascii_case(name.as_bytes()))
            .map(|(_, v)| &self.raw[v.clone()])
    }

    fn has_token(&self, name: &str, token: &str) -> bool {
        tokens(self.values(name)).any(|t| t.eq_ignore_ascii_case(token))
    }

    /// Appends the header lines; with `end_to_end`, without the hop-by-hop ones and
    /// those the `Connection` header names.
    fn write_fields(&self, out: &mut Vec<u8>, end_to_end: bool) {
        let listed: Vec<&str> = if end_to_end {
            tokens(self.values("connection")).collect()
        } else {
            Vec::new()
        };
        for (n, v) in &self.fields {
            let name = &self.raw[n.clone()];
            if end_to_end
                && (HOP_BY_HOP
                    .iter()
                    .any(|h| name.eq_ignore_ascii_case(h.as_bytes()))
                    || listed
                        .iter()
                        .any(|h| name.eq_ignore_ascii_case(h.as_bytes())))
            {
                continue;
            }
            out.extend_from_slice(name);
            out.extend_from_slice(b": ");
            out.extend_from_slice(&self.raw[v.clone()]);
            out.extend_from_slice(b"\r\n");
        }
    }
}

/// The comma-separated tokens of some header values.
fn tokens<'a>(values: impl Iterator<Item = &'a [u8]>) -> impl Iterator<Item = &'a str> {
    values
        .filter_map(|v| std::str::from_utf8(v).ok())
        .flat_map(|v| v.split(','))
        .map(str::trim)
        .filter(|t| !t.is_empty())
}

fn parse_response(buf: &[u8]) -> Result<Option<(RespHead, usize)>, HeadError> {
    let mut hs = [httparse::EMPTY_HEADER; MAX_HEADERS];
    let mut r = httparse::Response::new(&mut hs);
    let n = match r.parse(buf) {
        Ok(httparse::Status::Complete(n)) => n,
        Ok(httparse::Status::Partial) => return Ok(None),
        Err(httparse::Error::TooManyHeaders) => return Err(HeadError::TooLarge),
        Err(e) => return Err(HeadError::Bad(e.to_string())),
    };
    let base = buf.as_ptr() as usize;
    let at = |x: &[u8]| {
        let start = x.as_ptr() as usize - base;
        start..start + x.len()
    };
    let fields = r
        .headers
        .iter()
        .map(|h| (at(h.name.as_bytes()), at(h.value)))
        .collect();
    Ok(Some((
        RespHead {
            code: r.code.unwrap_or(0),
            reason: r.reason.unwrap_or("").to_string(),
            version: version_of(r.version),
            raw: buf[..n].to_vec(),
            fields,
        },
        n,
    )))
}

fn has_token(h: &HeaderMap, name: &str, token: &str) -> bool {
    h.get_all(name)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|t| t.trim().eq_ignore_ascii_case(token))
}

/// The body framing of a request, or why it is refused (RFC 9112 §6).
fn request_framing(h: &HeaderMap) -> Result<Framing, String> {
    if h.contains_key("transfer-encoding") {
        let last = h
            .get_all("transfer-encoding")
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(','))
            .map(str::trim)
            .rfind(|t| !t.is_empty())
            .unwrap_or("");
        if !last.eq_ignore_ascii_case("chunked") {
            return Err("a request body must end with the chunked transfer coding".into());
        }
        if h.contains_key("content-length") {
            return Err("both Transfer-Encoding and Content-Length".into());
        }
        return Ok(Framing::Chunked);
    }
    match content_length(h.get_all("content-length").iter().map(|v| v.as_bytes()))? {
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
            let n: u64 = part
                .trim()
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

fn response_framing(method: &Method, code: u16, r: &RespHead) -> Result<Framing, String> {
    if method == Method::HEAD || (100..200).contains(&code) || code == 204 || code == 304 {
        return Ok(Framing::Empty);
    }
    if r.values("transfer-encoding").next().is_some() {
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
enum BodyError {
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
    let deadline = idle.map(|d| tokio::time::Instant::now() + d);
    read_some(src, buf, deadline, max)
        .await
        .map_err(|e| match e {
            ReadError::Timeout => BodyError::Timeout,
            ReadError::Io => BodyError::Source,
        })
}

/// Moves one body from `src` to `dst`: first what `buf` already holds, then from the
/// socket. `buf` keeps whatever follows the body. Returns the bytes moved.
async fn forward_body(
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
            while left > 0 {
                buf.reserve(64 * 1024);
                let got = read_body(src, buf, src_idle, left.min(64 * 1024) as usize).await?;
                if got == 0 {
                    return Err(BodyError::Source);
                }
                write_all(dst, buf, dst_idle).await?;
                buf.clear();
                left -= got as u64;
            }
            Ok(n)
        }
        Framing::Chunked => {
            let mut scanner = ChunkScanner::default();
            let mut total = 0u64;
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
            }
        }
        Framing::Close => {
            let mut total = buf.len() as u64;
            if !buf.is_empty() {
                write_all(dst, buf, dst_idle).await?;
                buf.clear();
            }
            loop {
                buf.reserve(64 * 1024);
                let got = read_body(src, buf, src_idle, usize::MAX).await?;
                if got == 0 {
                    return Ok(total);
                }
                write_all(dst, buf, dst_idle).await?;
                total += got as u64;
                buf.clear();
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

fn version_str(v: Version) -> &'static str {
    if v == Version::HTTP_10 {
        "HTTP/1.0"
    } else {
        "HTTP/1.1"
    }
}

/// An answer of the load balancer itself (errors, the stats page).
fn own_response(code: u16, headers: &HeaderMap, body: &[u8], close: bool) -> Vec<u8> {
    let reason = StatusCode::from_u16(code)
        .ok()
        .and_then(|s| s.canonical_reason())
        .unwrap_or("");
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

/// HAProxy's words for the answers it makes itself.
fn message(code: u16) -> &'static str {
    match code {
        400 => "Your browser sent an invalid request.",
        408 => "Your browser didn't send a complete request in time.",
        431 => "Request header fields too large.",
        502 => "The server returned an invalid or incomplete response.",
        503 => "No server is available to handle this request.",
        504 => "The server didn't respond in time.",
        _ => "",
    }
}

fn error_page(code: u16) -> Vec<u8> {
    let reason = StatusCode::from_u16(code)
        .ok()
        .and_then(|s| s.canonical_reason())
        .unwrap_or("");
    let body = format!(
        "<html><body><h1>{code} {reason}</h1>\n{}\n</body></html>\n",
        message(code)
    );
    let mut h = HeaderMap::new();
    h.insert("content-type", HeaderValue::from_static("text/html"));
    h.insert("cache-control", HeaderValue::from_static("no-cache"));
    own_response(code, &h, body.as_bytes(), true)
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

/// A server connection for one request: from this worker's part of the pool when one
/// is there, else a new one (`connect_server` retries and redispatches).
async fn server_conn(
    be: &Arc<BackendRt>,
    hash: u32,
    fresh: bool,
    replayable: bool,
) -> Result<(TcpStream, Lease, ConnInfo, bool), ConnFail> {
    let t0 = Instant::now();
    let lease = be.acquire(hash, &[]).await?;
    let queue_ms = t0.elapsed().as_millis() as u64;
    if !fresh {
        let me = std::thread::current().id();
        let mut pool = lock(&lease.server().shared.h1_pool);
        while let Some(pos) = pool.iter().rposition(|c| c.worker == me) {
            let c = pool.swap_remove(pos);
            // A request that could not be sent again avoids connections that may have
            // been closed by the server meanwhile.
            if !replayable && c.since.elapsed() > STALE_AFTER {
                continue;
            }
            drop(pool);
            let info = ConnInfo {
                retries: 0,
                queue_ms,
                connect_ms: 0,
            };
            return Ok((c.stream, lease, info, true));
        }
    }
    let (s, lease, mut info) = connect_server(be, hash, Some(lease)).await?;
    info.queue_ms += queue_ms;
    Ok((s, lease, info, false))
}

/// Returns a server connection to the pool, closing those idle for longer than
/// [`IDLE_MAX`] (servers close theirs after a while too).
fn give_back(lease: &Lease, stream: TcpStream) {
    let mut pool = lock(&lease.server().shared.h1_pool);
    pool.retain(|c| c.since.elapsed() < IDLE_MAX);
    if pool.len() < POOL_MAX {
        pool.push(IdleConn {
            stream,
            since: Instant::now(),
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
) {
    let bufsize = shared.current.load().config.global.bufsize.max(8192);
    let mut fe = fe.clone();
    let mut cbuf = BytesMut::with_capacity(8192);
    let mut sbuf = BytesMut::new();
    let mut first_request = true;
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
                answer_and_close(&mut client, &error_page(code)).await;
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
        let next = exchange(shared, &fe, &mut client, peer, &mut cbuf, &mut sbuf, req).await;
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
            Next::Gone => return,
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
    /// The connection is unusable: drop it.
    Gone,
}

/// Whether the client keeps its connection after this request.
fn client_keeps(req: &Request<()>) -> bool {
    match req.version() {
        Version::HTTP_10 => has_token(req.headers(), "connection", "keep-alive"),
        _ => !has_token(req.headers(), "connection", "close"),
    }
}

/// What a request's log line needs.
struct Trace<'a> {
    fe: &'a FrontendRt,
    peer: SocketAddr,
    start: Instant,
    /// Empty when the frontend does not log.
    date: String,
    request_line: String,
}

impl Trace<'_> {
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
            date: self.date.clone(),
            start: self.start,
            request_line: self.request_line.clone(),
            backend: backend.to_string(),
            server: server.to_string(),
            tw: info.queue_ms,
            tc: info.connect_ms,
            tr,
            retries: info.retries,
        };
        log_http(self.fe, self.peer, &li, code, bytes, term);
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
        Next::Answer(error_page(code))
    }
}

/// The stats page, answered by the load balancer itself.
async fn stats_page(
    shared: &Arc<Shared>,
    page: &crate::config::StatsPage,
    client: &mut TcpStream,
    req: &Request<()>,
    keep: bool,
    trace: &Trace<'_>,
) -> Next {
    let resp = super::stats::serve_http(shared, page, req);
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
    let idle = trace.fe.cfg.timeout_client.map(|d| d.0);
    match write_all(client, &bytes, idle).await {
        Ok(()) if keep => Next::KeepAlive,
        Ok(()) => Next::Close,
        Err(_) => Next::Gone,
    }
}

/// One request and its answer.
async fn exchange(
    shared: &Arc<Shared>,
    fe: &Arc<FrontendRt>,
    client: &mut TcpStream,
    peer: SocketAddr,
    cbuf: &mut BytesMut,
    sbuf: &mut BytesMut,
    mut req: Request<()>,
) -> Next {
    let logging = fe.logger.is_active();
    let trace = Trace {
        fe,
        peer,
        start: Instant::now(),
        date: if logging {
            haproxy_date()
        } else {
            String::new()
        },
        request_line: if logging {
            format!("{} {} {:?}", req.method(), req.uri(), req.version())
        } else {
            String::new()
        },
    };
    fe.stats.req_tot.fetch_add(1, Relaxed);
    let keep = client_keeps(&req);
    let framing = match request_framing(req.headers()) {
        Ok(f) => f,
        Err(why) => {
            tracing::debug!("bad request from {peer}: {why}");
            return trace.refuse(None, "<NOSRV>", ConnInfo::default(), 400, "PR");
        }
    };
    if let Some(page) = &fe.cfg.stats {
        if framing != Framing::Empty {
            return trace.refuse(None, "<STATS>", ConnInfo::default(), 400, "PR");
        }
        return stats_page(shared, page, client, &req, keep, &trace).await;
    }
    let Some(be) = choose_backend(fe, &req, peer) else {
        fe.stats.denied.fetch_add(1, Relaxed);
        return trace.refuse(None, "<NOSRV>", ConnInfo::default(), 503, "SC");
    };
    let upgrade = super::http::upgrade_of(&req);
    if has_token(req.headers(), "expect", "100-continue") && framing != Framing::Empty {
        // Say "go on" ourselves; the server gets the body without having to.
        req.headers_mut().remove("expect");
        if client
            .write_all(b"HTTP/1.1 100 Continue\r\n\r\n")
            .await
            .is_err()
        {
            return Next::Gone;
        }
    }
    let server_close = be.cfg.http_server_close || req.version() == Version::HTTP_10;
    let (mut parts, ()) = req.into_parts();
    prepare_request_head(
        &mut parts,
        &RewriteOpts {
            forwardfor: fe.cfg.forwardfor.as_ref().or(be.cfg.forwardfor.as_ref()),
            peer,
            upgrade: upgrade.as_ref(),
        },
    );
    if server_close && upgrade.is_none() {
        parts
            .headers
            .insert("connection", HeaderValue::from_static("close"));
    }
    let mut head = Vec::with_capacity(512);
    let target = parts
        .uri
        .path_and_query()
        .map(|p| p.as_str())
        .unwrap_or("/");
    write_head(
        &mut head,
        format!("{} {} {}", parts.method, target, version_str(parts.version)).as_bytes(),
        &parts.headers,
    );
    let replayable = framing == Framing::Empty;
    let client_idle = fe.cfg.timeout_client.map(|d| d.0);
    let server_idle = be.cfg.timeout_server.map(|d| d.0);
    be.stats.open();
    let hash = hash_ip(peer.ip());
    let mut info = ConnInfo::default();
    let mut attempts = 0u32;
    let mut fresh = upgrade.is_some();
    let mut bytes_in = 0u64;
    // Connect, send the head and the body, read the response head. A reused connection
    // that the server closed before answering is replaced when the request can be sent
    // again.
    let (mut server, lease, resp, tr) = loop {
        attempts += 1;
        let (mut server, lease, ci, reused) = match server_conn(&be, hash, fresh, replayable).await
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
        let t = Instant::now();
        let mut sent = write_all(&server, &head, server_idle).await;
        if sent.is_ok() {
            sent = forward_body(
                client,
                cbuf,
                &mut server,
                framing,
                client_idle,
                server_idle,
                fe.splice,
            )
            .await
            .map(|n| bytes_in = n);
        }
        let srv_name = &lease.server().cfg.name;
        let got = match sent {
            Ok(()) => {
                sbuf.clear();
                read_response_head(&mut server, sbuf, client, server_idle).await
            }
            // A body cannot be sent again: the request fails here.
            Err(BodyError::Sink) if !replayable => {
                be.stats.close();
                lease.server().shared.stats.eresp.fetch_add(1, Relaxed);
                return trace.refuse(Some(&be), srv_name, info, 502, "SH");
            }
            Err(BodyError::Sink) => Err(HeadError::Io),
            // The client's body failed.
            Err(_) => {
                be.stats.close();
                trace.log(&be.cfg.name, srv_name, info, 0, 400, 0, "CD");
                return Next::Gone;
            }
        };
        let e = match got {
            Ok(resp) => break (server, lease, resp, t.elapsed()),
            Err(e) => e,
        };
        if reused
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
    let Ok(mut rframing) = response_framing(&parts.method, code, &resp) else {
        be.stats.close();
        return trace.refuse(Some(&be), &srv.cfg.name, info, 502, "SH");
    };
    fe.stats.status(code);
    be.stats.status(code);
    srv.shared.stats.status(code);
    if code == 101 {
        if upgrade.is_some() {
            return tunnel(fe, &be, client, server, lease, cbuf, sbuf, &resp).await;
        }
        rframing = Framing::Close;
    }
    let server_keeps = !server_close
        && match resp.version {
            Version::HTTP_10 => resp.has_token("connection", "keep-alive"),
            _ => !resp.has_token("connection", "close"),
        };
    let old_client = parts.version == Version::HTTP_10;
    // An HTTP/1.0 client knows no chunked coding: it reads such a body until the end.
    let client_stays =
        keep && rframing != Framing::Close && !(old_client && rframing == Framing::Chunked);
    let mut out = Vec::with_capacity(resp.raw.len() + 64 + sbuf.len().min(16 * 1024));
    out.extend_from_slice(version_str(parts.version).as_bytes());
    out.extend_from_slice(format!(" {code} {}\r\n", resp.reason).as_bytes());
    resp.write_fields(&mut out, true);
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
    let mut moved = write_all(client, &out, client_idle).await.map(|()| 0);
    if moved.is_ok() {
        moved = forward_body(
            &mut server,
            sbuf,
            client,
            rframing,
            server_idle,
            client_idle,
            fe.splice,
        )
        .await;
    }
    be.stats.close();
    let bytes_out = leading + moved.unwrap_or(0);
    for st in [&*fe.stats, &*be.stats, &srv.shared.stats] {
        st.bytes_in.fetch_add(bytes_in, Relaxed);
        st.bytes_out.fetch_add(bytes_out, Relaxed);
    }
    let term = match moved {
        Ok(_) => "--",
        Err(BodyError::Sink) => "CD",
        Err(BodyError::Timeout) => "sD",
        Err(BodyError::Source) => "SD",
    };
    trace.log(
        &be.cfg.name,
        &srv.cfg.name,
        info,
        tr.as_millis() as u64,
        code,
        bytes_out,
        term,
    );
    if moved.is_ok() && server_keeps && rframing != Framing::Close && sbuf.is_empty() {
        give_back(&lease, server);
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
            out.extend_from_slice(format!("HTTP/1.1 {} {}\r\n", resp.code, resp.reason).as_bytes());
            resp.write_fields(&mut out, false);
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
    client: &mut TcpStream,
    mut server: TcpStream,
    lease: Lease,
    cbuf: &mut BytesMut,
    sbuf: &mut BytesMut,
    resp: &RespHead,
) -> Next {
    let mut out = Vec::new();
    out.extend_from_slice(format!("HTTP/1.1 101 {}\r\n", resp.reason).as_bytes());
    resp.write_fields(&mut out, false);
    out.extend_from_slice(b"\r\n");
    out.extend_from_slice(sbuf);
    sbuf.clear();
    if client.write_all(&out).await.is_err() || server.write_all(cbuf).await.is_err() {
        be.stats.close();
        return Next::Gone;
    }
    cbuf.clear();
    let idle = be.cfg.timeout_tunnel.map(|d| d.0).or_else(|| {
        match (
            fe.cfg.timeout_client.map(|d| d.0),
            be.cfg.timeout_server.map(|d| d.0),
        ) {
            (Some(a), Some(b)) => Some(a.max(b)),
            (a, b) => a.or(b),
        }
    });
    let (bin, bout) = super::http::copy_idle(&mut *client, &mut server, idle).await;
    for st in [&*fe.stats, &*be.stats, &lease.server().shared.stats] {
        st.bytes_in.fetch_add(bin, Relaxed);
        st.bytes_out.fetch_add(bout, Relaxed);
    }
    be.stats.close();
    Next::Gone
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
        assert!(ChunkScanner::default().scan(b"zz\r\n").is_err());
        assert!(ChunkScanner::default().scan(b"3\r\nabcX").is_err());
    }

    #[test]
    fn framing_follows_rfc_9112() {
        let mut h = HeaderMap::new();
        assert_eq!(request_framing(&h), Ok(Framing::Empty));
        h.insert("content-length", HeaderValue::from_static("12"));
        assert_eq!(request_framing(&h), Ok(Framing::Length(12)));
        h.insert("transfer-encoding", HeaderValue::from_static("chunked"));
        assert!(request_framing(&h).is_err(), "both is refused");
        h.remove("content-length");
        assert_eq!(request_framing(&h), Ok(Framing::Chunked));
        h.insert("transfer-encoding", HeaderValue::from_static("gzip"));
        assert!(request_framing(&h).is_err());
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
        r.write_fields(&mut out, true);
        assert_eq!(String::from_utf8_lossy(&out), "X-Kept: 2\r\n");
    }
}
