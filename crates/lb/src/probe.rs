//! Health-check probes: the I/O half of health checking. Each probe opens a connection,
//! speaks just enough of the protocol to know the service itself answers, and reports.

use crate::config::{CheckKind, HttpExpect, TcpCheckStep, TcpExpect};
use sha1::{Digest, Sha1};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// The outcome of one probe, in HAProxy's vocabulary (`L4OK`, `L4CON`, `L7STS`, ...).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProbeResult {
    pub ok: bool,
    pub status: &'static str,
    pub code: Option<u32>,
    pub detail: String,
    pub duration: Duration,
}

/// Timeouts of one probe: the connection, then the whole exchange.
#[derive(Debug, Clone, Copy)]
pub struct ProbeTimeouts {
    pub connect: Duration,
    pub total: Duration,
}

struct Fail {
    status: &'static str,
    code: Option<u32>,
    detail: String,
}

fn fail(status: &'static str, detail: impl Into<String>) -> Fail {
    Fail {
        status,
        code: None,
        detail: detail.into(),
    }
}

/// What a probe talks over: a plain connection or TLS.
trait Io: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send {}
impl<T: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send> Io for T {}

/// TLS for a check (`check-ssl`): the connector and the name sent by SNI.
pub struct CheckTls<'a> {
    pub upstream: &'a crate::engine::tls::Upstream,
    pub sni: Option<&'a str>,
}

/// Runs one check against `addr` (from `from`, the server's `source`, when given), over
/// TLS when `tls` says so (a failed handshake is a layer-6 failure: `L6RSP`,
/// `L6TOUT`), after a PROXY protocol header when `proxy` says so (`check-send-proxy`:
/// a check has no client to tell of).
pub async fn probe(
    kind: &CheckKind,
    (addr, from): (SocketAddr, Option<SocketAddr>),
    t: ProbeTimeouts,
    tls: Option<CheckTls<'_>>,
    proxy: Option<crate::config::ProxyProto>,
) -> ProbeResult {
    let start = Instant::now();
    // The `tcp-check` step under way, for a report of a timeout.
    let step = AtomicUsize::new(0);
    let at = &step;
    // `tcp-check connect port N`: that port of the server.
    let addr = match kind {
        CheckKind::TcpCheck(steps) => match steps.first() {
            Some(TcpCheckStep::Connect { port: Some(p), .. }) => SocketAddr::new(addr.ip(), *p),
            _ => addr,
        },
        _ => addr,
    };
    let connect = crate::engine::tcp::connect_from(addr, from);
    let res = match tokio::time::timeout(t.connect, connect).await {
        Err(_) => Err(fail("L4TOUT", "connection timed out")),
        Ok(Err(e)) => Err(fail("L4CON", os_error(&e))),
        Ok(Ok(mut s)) => {
            if let Some(v) = proxy {
                // Sent like a probe's first bytes: a failure shows in what follows.
                let _ = s
                    .write_all(&crate::engine::proxy_proto::header(v, None))
                    .await;
            }
            let left = || {
                t.total
                    .saturating_sub(start.elapsed())
                    .max(Duration::from_millis(1))
            };
            let exchange = |l: Duration| async move {
                match tls {
                    None => {
                        let mut s = s;
                        tokio::time::timeout(l, speak(kind, &mut s, at)).await
                    }
                    Some(c) => {
                        let hs = c.upstream.connect(s, c.sni);
                        let mut s = match tokio::time::timeout(l, hs).await {
                            Err(_) => return Ok(Err(fail("L6TOUT", "TLS handshake timed out"))),
                            Ok(Err(e)) => return Ok(Err(fail("L6RSP", format!("TLS: {e}")))),
                            Ok(Ok(s)) => s,
                        };
                        let l = left();
                        // A plain connection check over TLS passes at layer 6.
                        tokio::time::timeout(l, speak(kind, &mut s, at))
                            .await
                            .map(|r| {
                                r.map(|(st, c, d)| (if st == "L4OK" { "L6OK" } else { st }, c, d))
                            })
                    }
                }
            };
            match exchange(left()).await {
                Err(_) => Err(fail(
                    if matches!(kind, CheckKind::Tcp) {
                        "L4TOUT"
                    } else {
                        "L7TOUT"
                    },
                    match kind {
                        CheckKind::TcpCheck(steps) => {
                            tcp_check_step(steps, at.load(Ordering::Relaxed))
                        }
                        _ => String::new(),
                    },
                )),
                Ok(r) => r,
            }
        }
    };
    let duration = start.elapsed();
    match res {
        Ok((status, code, detail)) => ProbeResult {
            ok: true,
            status,
            code,
            detail,
            duration,
        },
        Err(f) => ProbeResult {
            ok: false,
            status: f.status,
            code: f.code,
            detail: f.detail,
            duration,
        },
    }
}

type Ok3 = (&'static str, Option<u32>, String);

/// An I/O error as the system words it (`Connection refused`), without Rust's
/// `(os error N)`.
fn os_error(e: &std::io::Error) -> String {
    let text = e.to_string();
    match text.find(" (os error ") {
        Some(i) => text[..i].to_string(),
        None => text,
    }
}

async fn speak<S: Io>(kind: &CheckKind, s: &mut S, at: &AtomicUsize) -> Result<Ok3, Fail> {
    match kind {
        CheckKind::Tcp => Ok(("L4OK", None, String::new())),
        CheckKind::Http {
            method,
            uri,
            version,
            host,
            headers,
            expect,
        } => http(s, method, uri, version, host.as_deref(), headers, expect).await,
        CheckKind::Redis => {
            // As HAProxy's `option redis-check`: PING in RESP, `+PONG` expected; any
            // other answer's first line is the reason.
            s.write_all(b"*1\r\n$4\r\nPING\r\n")
                .await
                .map_err(|e| fail("L7RSP", os_error(&e)))?;
            let mut buf = Vec::new();
            let mut chunk = [0u8; 256];
            // The first line (or what came before the server stopped sending).
            while !buf.windows(2).any(|w| w == b"\r\n") && buf.len() < 1024 {
                match s.read(&mut chunk).await {
                    Ok(0) => break,
                    Ok(n) => buf.extend_from_slice(&chunk[..n]),
                    Err(e) => return Err(fail("L7RSP", os_error(&e))),
                }
            }
            if buf.is_empty() {
                return Err(fail("L7RSP", "connection closed without an answer"));
            }
            if buf.starts_with(b"+PONG\r\n") {
                Ok(("L7OK", None, "Redis server is ok".into()))
            } else {
                let text = String::from_utf8_lossy(&buf);
                let line = text.split("\r\n").next().unwrap_or_default();
                Err(fail("L7STS", line.to_string()))
            }
        }
        CheckKind::TcpCheck(steps) => tcp_check(s, steps, at).await,
        CheckKind::Pgsql { user } => pgsql(s, user).await,
        CheckKind::Ldap => ldap(s).await,
        CheckKind::Smtp { command } => smtp(s, command).await,
        CheckKind::Amqp => {
            s.write_all(b"AMQP\x00\x00\x09\x01")
                .await
                .map_err(|e| fail("L7RSP", e.to_string()))?;
            let mut buf = [0u8; 11];
            let n = read_some(s, &mut buf, 11).await?;
            let b = &buf[..n];
            if n >= 11 && b[0] == 1 && b[1] == 0 && b[2] == 0 && b[7..11] == [0, 10, 0, 10] {
                Ok(("L7OK", None, "Connection.Start".into()))
            } else if b.starts_with(b"AMQP") {
                Err(fail("L7RSP", "the broker refused AMQP 0-9-1"))
            } else {
                Err(fail("L7RSP", "not an AMQP Connection.Start"))
            }
        }
        CheckKind::Mysql { user } => {
            let hs = mysql_handshake(s).await?;
            match user {
                None => Ok(("L7OK", None, format!("MySQL {}", hs.version))),
                Some(u) => {
                    mysql_login(s, &hs, u, None).await?;
                    let _ = s.write_all(&[1, 0, 0, 0, 1]).await; // COM_QUIT
                    Ok(("L7OK", None, format!("MySQL {} login ok", hs.version)))
                }
            }
        }
        CheckKind::Galera { user, password } => {
            let hs = mysql_handshake(s).await?;
            mysql_login(s, &hs, user, password.as_deref()).await?;
            let state = mysql_status_value(s, "wsrep_local_state").await?;
            let _ = s.write_all(&[1, 0, 0, 0, 1]).await;
            match state {
                None => Err(fail(
                    "L7STS",
                    "wsrep_local_state not reported: not a Galera node",
                )),
                Some(v) if v.trim() == "4" => Ok(("L7OK", Some(4), "Galera node Synced".into())),
                Some(v) => {
                    let code = v.trim().parse::<u32>().ok();
                    let name = match code {
                        Some(1) => "Joining",
                        Some(2) => "Donor/Desynced",
                        Some(3) => "Joined",
                        _ => "not Synced",
                    };
                    Err(Fail {
                        status: "L7STS",
                        code,
                        detail: format!("wsrep_local_state {} ({name})", v.trim()),
                    })
                }
            }
        }
    }
}

/// Reads until `enough` says the bytes so far make a whole answer, the server closes,
/// or 64 KiB came.
async fn read_until<S: Io>(s: &mut S, enough: impl Fn(&[u8]) -> bool) -> Result<Vec<u8>, Fail> {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 1024];
    while !enough(&buf) && buf.len() < 65536 {
        match s.read(&mut chunk).await {
            Ok(0) => break,
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
            Err(e) => return Err(fail("L7RSP", os_error(&e))),
        }
    }
    Ok(buf)
}

/// `option pgsql-check user U`: a startup message (protocol 3.0, `user` U); the server
/// must let U in at once (`R`, length 8, AuthenticationOk). An error message (`E`)
/// gives its first field as the reason; any other answer is an unknown error.
async fn pgsql<S: Io>(s: &mut S, user: &str) -> Result<Ok3, Fail> {
    let mut body = vec![0, 3, 0, 0];
    for part in [&b"user"[..], user.as_bytes()] {
        body.extend_from_slice(part);
        body.push(0);
    }
    body.push(0);
    let mut msg = ((body.len() + 4) as u32).to_be_bytes().to_vec();
    msg.extend_from_slice(&body);
    s.write_all(&msg)
        .await
        .map_err(|e| fail("L7RSP", os_error(&e)))?;
    let buf = read_until(s, |b| {
        b.len() >= 9 || (b.first() == Some(&b'E') && b.len() >= 5)
    })
    .await?;
    if buf.first() == Some(&b'E') {
        // Error fields: a type byte, then text up to a NUL; the severity comes first.
        let text = buf.get(6..).unwrap_or_default();
        let end = text.iter().position(|&c| c == 0).unwrap_or(text.len());
        return Err(fail("L7RSP", String::from_utf8_lossy(&text[..end])));
    }
    if buf.starts_with(&[b'R', 0, 0, 0, 8, 0, 0, 0, 0]) {
        Ok(("L7OK", None, "PostgreSQL server is ok".into()))
    } else {
        Err(fail("L7STS", "PostgreSQL unknown error"))
    }
}

/// A BER length at `b[i..]`: short form, or long form (`0x8N` then N bytes); the
/// length and where the value starts.
fn ber_len(b: &[u8], i: usize) -> Option<(usize, usize)> {
    let first = *b.get(i)?;
    if first & 0x80 == 0 {
        return Some((usize::from(first), i + 1));
    }
    let n = usize::from(first & 0x7f);
    if n == 0 || n > 4 {
        return None;
    }
    let bytes = b.get(i + 1..i + 1 + n)?;
    let len = bytes.iter().fold(0usize, |a, &x| (a << 8) | usize::from(x));
    Some((len, i + 1 + n))
}

/// `option ldap-check`: an anonymous simple bind (LDAPv3, message 1); the answer must be
/// a bindResponse (else "Not LDAPv3 protocol") whose result code is 0 (success), else
/// the code is reported with where RFC 4511 lists them.
async fn ldap<S: Io>(s: &mut S) -> Result<Ok3, Fail> {
    const BIND: &[u8] = &[
        0x30, 0x0c, 0x02, 0x01, 0x01, 0x60, 0x07, 0x02, 0x01, 0x03, 0x04, 0x00, 0x80, 0x00,
    ];
    s.write_all(BIND)
        .await
        .map_err(|e| fail("L7RSP", os_error(&e)))?;
    // The whole message: its length says how much.
    let whole = |b: &[u8]| match (b.first(), ber_len(b, 1)) {
        (Some(0x30), Some((len, at))) => b.len() >= at + len,
        (Some(0x30), None) => b.len() >= 6,
        _ => !b.is_empty(),
    };
    let buf = read_until(s, whole).await?;
    let not_ldap = || fail("L7RSP", "Not LDAPv3 protocol");
    let (len, at) = match (buf.first(), ber_len(&buf, 1)) {
        (Some(0x30), Some(x)) => x,
        _ => return Err(not_ldap()),
    };
    let msg = buf.get(at..at + len).ok_or_else(not_ldap)?;
    // messageID, an INTEGER, then the protocolOp.
    let (id_len, id_at) = match msg.first() {
        Some(0x02) => ber_len(msg, 1).ok_or_else(not_ldap)?,
        _ => return Err(not_ldap()),
    };
    let op = id_at + id_len;
    if msg.get(op) != Some(&0x61) {
        return Err(not_ldap());
    }
    let (_, res_at) = ber_len(msg, op + 1).ok_or_else(not_ldap)?;
    // resultCode, an ENUMERATED of one byte.
    match msg.get(res_at..res_at + 3) {
        Some([0x0a, 0x01, 0]) => Ok(("L7OK", None, "Success".into())),
        Some([0x0a, 0x01, code]) => Err(Fail {
            status: "L7STS",
            code: Some(u32::from(*code)),
            detail: "See RFC: http://tools.ietf.org/html/rfc4511#section-4.1.9".into(),
        }),
        _ => Err(not_ldap()),
    }
}

/// One SMTP reply (the lines up to one whose code is followed by a space or the line
/// end) judged as HAProxy does: a line that does not start with a 3-digit code is an
/// invalid response (the line is the reason); a code other than 2xx a wrong status
/// (the text after it is the reason); else the code and the first line's text.
async fn smtp_reply<S: Io>(s: &mut S) -> Result<(u32, String), Fail> {
    let last_line_ends = |b: &[u8]| {
        let text = String::from_utf8_lossy(b);
        let done = text.split("\r\n").filter(|l| !l.is_empty()).any(|l| {
            l.len() < 4
                || !l.as_bytes()[..3].iter().all(u8::is_ascii_digit)
                || l.as_bytes()[3] != b'-'
        });
        done && text.ends_with("\r\n")
    };
    let buf = read_until(s, last_line_ends).await?;
    let text = String::from_utf8_lossy(&buf);
    let first = text.split(['\r', '\n']).next().unwrap_or_default();
    let b = first.as_bytes();
    let coded = b.len() >= 3
        && b[..3].iter().all(u8::is_ascii_digit)
        && matches!(b.get(3), None | Some(b' ' | b'-'));
    if !coded {
        return Err(fail("L7RSP", first));
    }
    let code: u32 = first[..3].parse().unwrap_or(0);
    let rest = first.get(4..).unwrap_or_default().trim_start().to_string();
    if !(200..300).contains(&code) {
        return Err(Fail {
            status: "L7STS",
            code: Some(code),
            detail: rest,
        });
    }
    Ok((code, rest))
}

/// `option smtpchk`: the greeting must be 2xx, then the command (`HELO localhost`, or
/// the `EHLO DOMAIN` configured) answered with 2xx.
async fn smtp<S: Io>(s: &mut S, command: &str) -> Result<Ok3, Fail> {
    smtp_reply(s).await?;
    s.write_all(format!("{command}\r\n").as_bytes())
        .await
        .map_err(|e| fail("L7RSP", os_error(&e)))?;
    let (code, text) = smtp_reply(s).await?;
    Ok(("L7OK", Some(code), text))
}

/// What a failed `tcp-check` step reports (as HAProxy words it): `at step N of
/// tcp-check (STEP)`, and its comment.
pub fn tcp_check_step(steps: &[TcpCheckStep], n: usize) -> String {
    let Some(step) = n.checked_sub(1).and_then(|i| steps.get(i)) else {
        return String::new();
    };
    let mut out = format!("at step {n} of tcp-check ({step})");
    if let TcpCheckStep::Expect {
        comment: Some(c), ..
    } = step
    {
        out.push_str(&format!(" comment: '{c}'"));
    }
    out
}

/// Runs `tcp-check` steps (`at`: the step under way, counted from 1): each `expect`
/// reads until what came since the last `send` matches (or, negated, until the server
/// stops sending without it matching); with `min-recv N`, what came is judged once it
/// is N bytes.
async fn tcp_check<S: Io>(
    s: &mut S,
    steps: &[TcpCheckStep],
    at: &AtomicUsize,
) -> Result<Ok3, Fail> {
    let mut buf: Vec<u8> = Vec::new();
    let mut chunk = [0u8; 4096];
    for (i, step) in steps.iter().enumerate() {
        let n = i + 1;
        at.store(n, Ordering::Relaxed);
        let failed = |why: String| fail("L7RSP", format!("{why} {}", tcp_check_step(steps, n)));
        match step {
            TcpCheckStep::Connect { .. } => {}
            TcpCheckStep::Send(bytes) => {
                // What an `expect` after it reads is the answer to it.
                buf.clear();
                s.write_all(bytes)
                    .await
                    .map_err(|e| failed(e.to_string()))?
            }
            TcpCheckStep::Expect {
                negate,
                what,
                min_recv,
                ..
            } => {
                let matches = |b: &[u8]| match what {
                    TcpExpect::String(t) => b.windows(t.len().max(1)).any(|w| w == t.as_bytes()),
                    TcpExpect::Binary(x) => b.windows(x.len().max(1)).any(|w| w == x.as_slice()),
                    TcpExpect::Rstring(re) => re.re.is_match(&String::from_utf8_lossy(b)),
                };
                let enough = |b: &[u8]| min_recv.is_some_and(|m| b.len() >= m);
                loop {
                    if matches(&buf) {
                        if *negate {
                            return Err(failed("matched".into()));
                        }
                        break;
                    }
                    if *negate && enough(&buf) {
                        break;
                    }
                    if enough(&buf) {
                        return Err(failed(format!(
                            "not found in {:?}",
                            String::from_utf8_lossy(&buf).trim_end()
                        )));
                    }
                    let got = s
                        .read(&mut chunk)
                        .await
                        .map_err(|e| failed(e.to_string()))?;
                    if got == 0 {
                        if *negate {
                            break;
                        }
                        return Err(failed(format!(
                            "not found in {:?}",
                            String::from_utf8_lossy(&buf).trim_end()
                        )));
                    }
                    buf.extend_from_slice(&chunk[..got]);
                    if buf.len() > 64 * 1024 {
                        return Err(failed("answer too long".into()));
                    }
                }
            }
        }
    }
    if steps
        .iter()
        .all(|s| matches!(s, TcpCheckStep::Connect { .. }))
    {
        return Ok(("L4OK", None, String::new()));
    }
    Ok(("L7OK", None, "tcp-check passed".into()))
}

async fn read_some<S: Io>(s: &mut S, buf: &mut [u8], want: usize) -> Result<usize, Fail> {
    let mut n = 0;
    while n < want.min(buf.len()) {
        match s.read(&mut buf[n..]).await {
            Ok(0) => break,
            Ok(m) => n += m,
            Err(e) => return Err(fail("L7RSP", e.to_string())),
        }
    }
    if n == 0 {
        return Err(fail("L7RSP", "connection closed without an answer"));
    }
    Ok(n)
}

async fn http<S: Io>(
    s: &mut S,
    method: &str,
    uri: &str,
    version: &str,
    host: Option<&str>,
    headers: &[(String, String)],
    expect: &HttpExpect,
) -> Result<Ok3, Fail> {
    let mut req = format!("{method} {uri} {version}\r\n");
    if let Some(h) = host {
        req.push_str(&format!("Host: {h}\r\n"));
    }
    for (n, v) in headers {
        req.push_str(&format!("{n}: {v}\r\n"));
    }
    req.push_str("Connection: close\r\n\r\n");
    s.write_all(req.as_bytes())
        .await
        .map_err(|e| fail("L7RSP", e.to_string()))?;
    let need_body = matches!(expect, HttpExpect::String { .. });
    let mut buf = Vec::with_capacity(1024);
    let mut chunk = [0u8; 4096];
    loop {
        let n = s
            .read(&mut chunk)
            .await
            .map_err(|e| fail("L7RSP", e.to_string()))?;
        if n == 0 {
            break;
        }
        buf.extend_from_slice(&chunk[..n]);
        let have_head = buf.windows(4).any(|w| w == b"\r\n\r\n");
        if (have_head && !need_body) || buf.len() > 64 * 1024 {
            break;
        }
    }
    let text = String::from_utf8_lossy(&buf);
    let line = text.lines().next().unwrap_or("");
    let mut parts = line.splitn(3, ' ');
    let (Some(v), Some(code)) = (parts.next(), parts.next()) else {
        return Err(fail("L7RSP", "no HTTP status line"));
    };
    if !v.starts_with("HTTP/") {
        return Err(fail("L7RSP", format!("not an HTTP response: {line:?}")));
    }
    let code: u16 = code
        .parse()
        .map_err(|_| fail("L7RSP", format!("bad status line {line:?}")))?;
    let reason = parts.next().unwrap_or("").to_string();
    let pass = match expect {
        HttpExpect::Default => (200..400).contains(&code),
        HttpExpect::Status { lo, hi, negate } => ((*lo..=*hi).contains(&code)) != *negate,
        HttpExpect::String { text: want, negate } => {
            let body = text.split_once("\r\n\r\n").map(|(_, b)| b).unwrap_or("");
            body.contains(want.as_str()) != *negate
        }
    };
    if pass {
        Ok(("L7OK", Some(code as u32), reason))
    } else {
        Err(Fail {
            status: "L7STS",
            code: Some(code as u32),
            detail: reason,
        })
    }
}

/// The parts of a MySQL server greeting a client needs.
struct Handshake {
    version: String,
    scramble: Vec<u8>,
}

async fn read_packet<S: Io>(s: &mut S) -> Result<(u8, Vec<u8>), Fail> {
    let mut h = [0u8; 4];
    s.read_exact(&mut h)
        .await
        .map_err(|e| fail("L7RSP", format!("MySQL: {e}")))?;
    let len = u32::from_le_bytes([h[0], h[1], h[2], 0]) as usize;
    if len > 1 << 20 {
        return Err(fail("L7RSP", "MySQL: packet too large"));
    }
    let mut p = vec![0u8; len];
    s.read_exact(&mut p)
        .await
        .map_err(|e| fail("L7RSP", format!("MySQL: {e}")))?;
    Ok((h[3], p))
}

async fn write_packet<S: Io>(s: &mut S, seq: u8, payload: &[u8]) -> Result<(), Fail> {
    let len = payload.len() as u32;
    let mut p = Vec::with_capacity(payload.len() + 4);
    p.extend_from_slice(&len.to_le_bytes()[..3]);
    p.push(seq);
    p.extend_from_slice(payload);
    s.write_all(&p)
        .await
        .map_err(|e| fail("L7RSP", format!("MySQL: {e}")))
}

fn mysql_error(p: &[u8]) -> Fail {
    // 0xff, code (2), ['#', sqlstate (5)], message
    let code = if p.len() >= 3 {
        u16::from_le_bytes([p[1], p[2]]) as u32
    } else {
        0
    };
    let msg = if p.len() > 9 && p[3] == b'#' {
        &p[9..]
    } else if p.len() > 3 {
        &p[3..]
    } else {
        &[]
    };
    Fail {
        status: "L7STS",
        code: Some(code),
        detail: format!("MySQL error {code}: {}", String::from_utf8_lossy(msg)),
    }
}

async fn mysql_handshake<S: Io>(s: &mut S) -> Result<Handshake, Fail> {
    let (_, p) = read_packet(s).await?;
    if p.first() == Some(&0xff) {
        return Err(mysql_error(&p));
    }
    if p.first() != Some(&10) {
        return Err(fail("L7RSP", "not a MySQL protocol 10 greeting"));
    }
    let nul = p[1..]
        .iter()
        .position(|&b| b == 0)
        .ok_or_else(|| fail("L7RSP", "bad MySQL greeting"))?;
    let version = String::from_utf8_lossy(&p[1..1 + nul]).to_string();
    let mut i = 1 + nul + 1 + 4; // version, NUL, connection id
    let part1 = p
        .get(i..i + 8)
        .ok_or_else(|| fail("L7RSP", "short MySQL greeting"))?
        .to_vec();
    i += 8 + 1 + 2 + 1 + 2 + 2; // part1, filler, caps low, charset, status, caps high
    let auth_len = *p.get(i).unwrap_or(&0) as usize;
    i += 1 + 10;
    let len2 = auth_len.saturating_sub(8).max(13);
    let mut scramble = part1;
    if let Some(part2) = p.get(i..i + len2) {
        scramble.extend_from_slice(part2);
    }
    scramble.truncate(20);
    Ok(Handshake { version, scramble })
}

fn native_password(password: &str, scramble: &[u8]) -> Vec<u8> {
    if password.is_empty() {
        return Vec::new();
    }
    let h1 = Sha1::digest(password.as_bytes());
    let h2 = Sha1::digest(h1);
    let mut hasher = Sha1::new();
    hasher.update(scramble);
    hasher.update(h2);
    let h3 = hasher.finalize();
    h1.iter().zip(h3.iter()).map(|(a, b)| a ^ b).collect()
}

async fn mysql_login<S: Io>(
    s: &mut S,
    hs: &Handshake,
    user: &str,
    password: Option<&str>,
) -> Result<(), Fail> {
    const LONG_PASSWORD: u32 = 1;
    const LONG_FLAG: u32 = 4;
    const PROTOCOL_41: u32 = 0x200;
    const TRANSACTIONS: u32 = 0x2000;
    const SECURE_CONNECTION: u32 = 0x8000;
    const PLUGIN_AUTH: u32 = 0x80000;
    let caps =
        LONG_PASSWORD | LONG_FLAG | PROTOCOL_41 | TRANSACTIONS | SECURE_CONNECTION | PLUGIN_AUTH;
    let pw = password.unwrap_or("");
    let auth = native_password(pw, &hs.scramble);
    let mut p = Vec::with_capacity(64);
    p.extend_from_slice(&caps.to_le_bytes());
    p.extend_from_slice(&(16u32 << 20).to_le_bytes());
    p.push(33); // utf8_general_ci
    p.extend_from_slice(&[0u8; 23]);
    p.extend_from_slice(user.as_bytes());
    p.push(0);
    p.push(auth.len() as u8);
    p.extend_from_slice(&auth);
    p.extend_from_slice(b"mysql_native_password\0");
    write_packet(s, 1, &p).await?;
    let (seq, r) = read_packet(s).await?;
    match r.first() {
        Some(0) => Ok(()),
        Some(0xff) => Err(mysql_error(&r)),
        Some(0xfe) => {
            // Auth switch: plugin name, then new scramble.
            let nul = r[1..].iter().position(|&b| b == 0).unwrap_or(r.len() - 1);
            let plugin = String::from_utf8_lossy(&r[1..1 + nul]).to_string();
            if plugin != "mysql_native_password" {
                return Err(fail("L7STS", format!("MySQL asks for auth plugin {plugin}, halo's check speaks mysql_native_password")));
            }
            let mut scr = r.get(2 + nul..).unwrap_or(&[]).to_vec();
            if scr.last() == Some(&0) {
                scr.pop();
            }
            let auth = native_password(pw, &scr);
            write_packet(s, seq.wrapping_add(1), &auth).await?;
            let (_, r2) = read_packet(s).await?;
            match r2.first() {
                Some(0) => Ok(()),
                Some(0xff) => Err(mysql_error(&r2)),
                _ => Err(fail("L7RSP", "unexpected MySQL answer after auth switch")),
            }
        }
        _ => Err(fail("L7RSP", "unexpected MySQL answer to login")),
    }
}

fn lenenc(p: &[u8], i: &mut usize) -> Option<Option<Vec<u8>>> {
    let b = *p.get(*i)?;
    *i += 1;
    let len = match b {
        0xfb => return Some(None),
        0xfc => {
            let v = u16::from_le_bytes([*p.get(*i)?, *p.get(*i + 1)?]) as usize;
            *i += 2;
            v
        }
        0xfd => {
            let v = u32::from_le_bytes([*p.get(*i)?, *p.get(*i + 1)?, *p.get(*i + 2)?, 0]) as usize;
            *i += 3;
            v
        }
        0xfe => return None,
        n => n as usize,
    };
    let v = p.get(*i..*i + len)?.to_vec();
    *i += len;
    Some(Some(v))
}

/// `SHOW STATUS LIKE 'name'` → the value, or None when the server has no such variable.
async fn mysql_status_value<S: Io>(s: &mut S, name: &str) -> Result<Option<String>, Fail> {
    let mut q = vec![3u8];
    q.extend_from_slice(format!("SHOW GLOBAL STATUS LIKE '{name}'").as_bytes());
    write_packet(s, 0, &q).await?;
    let (_, first) = read_packet(s).await?;
    match first.first() {
        Some(0xff) => return Err(mysql_error(&first)),
        Some(0) => return Ok(None),
        None => return Err(fail("L7RSP", "empty MySQL packet")),
        _ => {}
    }
    // The column count (a result set here has two columns; 0xfb.. would be odd).
    let cols = match first.first() {
        Some(&n) if n < 0xfb => n as usize,
        _ => return Err(fail("L7RSP", "unexpected MySQL result set header")),
    };
    for _ in 0..cols {
        read_packet(s).await?;
    }
    let (_, eof) = read_packet(s).await?;
    if eof.first() != Some(&0xfe) {
        return Err(fail("L7RSP", "unexpected MySQL result set"));
    }
    let mut value = None;
    loop {
        let (_, row) = read_packet(s).await?;
        match row.first() {
            Some(0xfe) if row.len() < 9 => break,
            Some(0xff) => return Err(mysql_error(&row)),
            _ => {
                let mut i = 0;
                let k = lenenc(&row, &mut i).flatten();
                let v = lenenc(&row, &mut i).flatten();
                if let (Some(k), Some(v)) = (k, v) {
                    if String::from_utf8_lossy(&k).eq_ignore_ascii_case(name) {
                        value = Some(String::from_utf8_lossy(&v).to_string());
                    }
                }
            }
        }
    }
    Ok(value)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn native_password_scramble_matches_the_protocol_definition() {
        // Empty password sends an empty auth response.
        assert!(native_password("", &[1; 20]).is_empty());
        // XOR of SHA1(pw) with SHA1(scramble + SHA1(SHA1(pw))): XORing again with the
        // second term gives SHA1(pw) back.
        let scr = [7u8; 20];
        let out = native_password("secret", &scr);
        let h1 = Sha1::digest(b"secret");
        let mut hasher = Sha1::new();
        hasher.update(scr);
        hasher.update(Sha1::digest(h1));
        let h3 = hasher.finalize();
        let back: Vec<u8> = out.iter().zip(h3.iter()).map(|(a, b)| a ^ b).collect();
        assert_eq!(back, h1.to_vec());
    }
}
