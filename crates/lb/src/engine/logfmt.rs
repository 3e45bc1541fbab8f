//! Traffic and event logs: HAProxy-style lines sent to syslog (UDP or Unix datagram),
//! stdout or stderr. Sending never blocks a session: a full socket drops the line.

use super::state::{BackendRt, FrontendRt};
use crate::config::{LogDest, LogFormat, LogSample, LogTarget, Mode, SyslogFormat};
use crate::sample::{LogFmt, LogVal, LogVar, LogVars, Source, Vars};
use std::borrow::Cow;
use std::io::Write;
use std::net::{SocketAddr, UdpSocket};
use std::os::unix::net::UnixDatagram;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::time::{Instant, SystemTime, UNIX_EPOCH};

enum Sink {
    Stdout,
    Stderr,
    Udp(UdpSocket, std::net::SocketAddr),
    Unix(UnixDatagram, std::path::PathBuf),
}

/// Where one proxy's log lines go.
pub struct Logger {
    sinks: Vec<Target>,
    tag: String,
}

/// One log target: where, with which facility, which lines, how framed.
struct Target {
    sink: Sink,
    facility: u8,
    max_level: u8,
    min_level: u8,
    len: usize,
    format: SyslogFormat,
    /// `sample`: its ranges, and the lines counted so far.
    sample: Option<(LogSample, AtomicU64)>,
}

impl Target {
    /// Whether a line of this severity goes to this target (its levels, its sample).
    fn takes(&self, severity: u8) -> bool {
        if severity > self.max_level || severity < self.min_level {
            return false;
        }
        match &self.sample {
            None => true,
            Some((s, n)) => {
                let rank = (n.fetch_add(1, Relaxed) % u64::from(s.size)) as u32 + 1;
                s.ranges.iter().any(|(a, b)| (*a..=*b).contains(&rank))
            }
        }
    }
}

fn facility_code(f: &str) -> u8 {
    const F: &[&str] = &[
        "kern", "user", "mail", "daemon", "auth", "syslog", "lpr", "news", "uucp", "cron", "auth2",
        "ftp", "ntp", "audit", "alert", "cron2", "local0", "local1", "local2", "local3", "local4",
        "local5", "local6", "local7",
    ];
    F.iter().position(|x| *x == f).unwrap_or(16) as u8
}

const MONTHS: [&str; 12] = [
    "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
];

/// (year, month 1-12, day, hour, minute, second, millisecond) in UTC.
pub fn civil_now() -> (i64, u32, u32, u32, u32, u32, u32) {
    civil(SystemTime::now())
}

/// (year, month 1-12, day, hour, minute, second, millisecond) of `t` in UTC.
fn civil(t: SystemTime) -> (i64, u32, u32, u32, u32, u32, u32) {
    let d = t.duration_since(UNIX_EPOCH).unwrap_or_default();
    let secs = d.as_secs() as i64;
    let days = secs.div_euclid(86400);
    let rem = secs.rem_euclid(86400) as u32;
    // Howard Hinnant's days-to-civil.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let y = if m <= 2 { y + 1 } else { y };
    (
        y,
        m,
        day,
        rem / 3600,
        rem / 60 % 60,
        rem % 60,
        d.subsec_millis(),
    )
}

/// `22/Nov/2026:04:26:11.123`, HAProxy's accept date format.
pub fn haproxy_date() -> String {
    date_of(SystemTime::now())
}

fn date_of(t: SystemTime) -> String {
    let (y, mo, d, h, mi, s, ms) = civil(t);
    format!(
        "{d:02}/{}/{y}:{h:02}:{mi:02}:{s:02}.{ms:03}",
        MONTHS[(mo - 1) as usize]
    )
}

/// `22/Nov/2026:04:26:11 +0000` (`%T`, `%trg`).
fn gmt_date_of(t: SystemTime) -> String {
    let (y, mo, d, h, mi, s, _) = civil(t);
    format!(
        "{d:02}/{}/{y}:{h:02}:{mi:02}:{s:02} +0000",
        MONTHS[(mo - 1) as usize]
    )
}

/// `line` cut to at most `len` bytes (on a character boundary).
pub(super) fn cut(line: &str, len: usize) -> &str {
    if line.len() <= len {
        return line;
    }
    let mut n = len;
    while !line.is_char_boundary(n) {
        n -= 1;
    }
    &line[..n]
}

/// HAProxy's `option httplog` line, as a log-format string.
const HTTPLOG: &str = "%ci:%cp [%tr] %ft %b/%s %TR/%Tw/%Tc/%Tr/%Ta %ST %B %CC %CS %tsc %ac/%fc/%bc/%sc/%rc %sq/%bq %hr %hs %{+Q}r";
/// HAProxy's `option tcplog` line.
const TCPLOG: &str = "%ci:%cp [%t] %ft %b/%s %Tw/%Tc/%Tt %B %ts %ac/%fc/%bc/%sc/%rc %sq/%bq";

/// The log-format a frontend's traffic lines follow: its `log-format`, else the one
/// its `option httplog|tcplog` names; `None` for HAProxy's short default line.
pub fn line_format(fe: &crate::config::Frontend) -> Option<LogFmt> {
    if let Some(f) = &fe.log_template {
        return Some(f.clone());
    }
    let text = match fe.log_format {
        LogFormat::Default => return None,
        LogFormat::Httplog if fe.mode == Mode::Http => HTTPLOG,
        LogFormat::Httplog | LogFormat::Tcplog => TCPLOG,
    };
    LogFmt::parse(text).ok()
}

/// What a traffic log line tells of a request (or of a TCP session).
pub(super) struct LogRec<'a> {
    pub fe: &'a FrontendRt,
    pub be: Option<&'a BackendRt>,
    pub peer: SocketAddr,
    pub local: Option<SocketAddr>,
    pub tls: bool,
    /// When the request (or the connection) came.
    pub when: SystemTime,
    pub start: Instant,
    pub backend: &'a str,
    pub server: &'a str,
    /// Queue, connect and response times (ms).
    pub tw: u64,
    pub tc: u64,
    pub tr: u64,
    pub status: Option<u16>,
    pub bytes_out: u64,
    pub bytes_in: u64,
    pub term: &'a str,
    pub retries: u32,
    /// The request line (empty for a TCP session).
    pub request_line: &'a str,
    pub unique_id: Option<&'a str>,
    /// The request's (or session's) number in the process (`%rt`), from 0.
    pub number: u64,
    pub captured: &'a Captured,
    /// The persistence cookie's flags (`%tsc`'s last two): what the client sent, what
    /// the answer set; `--` without a persistence cookie.
    pub cookie: [char; 2],
}

/// What a request's captures kept (`capture request|response header`, `capture
/// cookie`).
#[derive(Debug, Clone, Default)]
pub(super) struct Captured {
    pub req: Vec<Option<String>>,
    pub res: Vec<Option<String>>,
    pub cookie_req: Option<String>,
    pub cookie_res: Option<String>,
}

/// What a frontend's captures keep of a request (`response` false) or a response:
/// each header's last line, cut to its length, then the cookie `NAME=value` whose name
/// starts with the captured one.
fn capture(
    caps: &crate::config::Captures,
    lines: &dyn Fn(&str) -> Vec<String>,
    response: bool,
) -> (Vec<Option<String>>, Option<String>) {
    let list = if response {
        &caps.response
    } else {
        &caps.request
    };
    let headers = list
        .iter()
        .map(|(name, len)| lines(name).last().map(|v| cut(v, *len).to_string()))
        .collect();
    let cookie = caps.cookie.as_ref().and_then(|(name, len)| {
        let header = if response { "set-cookie" } else { "cookie" };
        lines(header).iter().find_map(|line| {
            // A request's `a=1; b=2`; a response's `a=1; Path=/` (its first pair).
            let pairs: Vec<&str> = match response {
                true => line.split(';').take(1).collect(),
                false => line.split(';').collect(),
            };
            pairs
                .into_iter()
                .map(str::trim)
                .find(|p| p.starts_with(name.as_str()) && p.contains('='))
                .map(|p| cut(p, *len).to_string())
        })
    });
    (headers, cookie)
}

impl Captured {
    /// Keeps what the frontend's captures take of a request (`response` false) or a
    /// response, whose header lines `lines` gives.
    pub(super) fn take(
        &mut self,
        caps: &crate::config::Captures,
        lines: &dyn Fn(&str) -> Vec<String>,
        response: bool,
    ) {
        if caps.is_empty() {
            return;
        }
        let (headers, cookie) = capture(caps, lines, response);
        if response {
            (self.res, self.cookie_res) = (headers, cookie);
        } else {
            (self.req, self.cookie_req) = (headers, cookie);
        }
    }
}

impl Captured {
    /// Fills the slots that `http-request|response capture` rules took (kept in the
    /// transaction's notes).
    pub(super) fn take_rules(
        &mut self,
        caps: &crate::config::Captures,
        vars: &dyn crate::sample::Vars,
    ) {
        let Some(notes) = vars.notes() else { return };
        for (list, got, response) in [
            (&caps.request, &mut self.req, false),
            (&caps.response, &mut self.res, true),
        ] {
            for (i, (name, _)) in list.iter().enumerate() {
                if !name.is_empty() {
                    continue;
                }
                if got.len() < list.len() {
                    got.resize(list.len(), None);
                }
                got[i] = notes.captured(response, i).map(String::from);
            }
        }
    }
}

/// Captured headers as `%hr` writes them (`{a|b}`), or `%hrl` (`a b`, `-` for none).
fn captured_list(caps: &[Option<String>], braces: bool) -> LogVal<'_> {
    if caps.is_empty() {
        return LogVal::None;
    }
    let text = if braces {
        let v: Vec<&str> = caps.iter().map(|c| c.as_deref().unwrap_or("")).collect();
        format!("{{{}}}", v.join("|"))
    } else {
        let v: Vec<&str> = caps.iter().map(|c| c.as_deref().unwrap_or("-")).collect();
        v.join(" ")
    };
    LogVal::Text(Cow::Owned(text))
}

/// Lines logged by this process (`%lc`).
static LINES: AtomicU64 = AtomicU64::new(0);

/// Requests and TCP sessions numbered so far (`%rt`).
static NUMBERED: AtomicU64 = AtomicU64::new(0);

/// The next request's (or TCP session's) number, when its frontend logs or makes ids
/// (else 0: nothing reads it).
pub(super) fn number(fe: &FrontendRt) -> u64 {
    if fe.logger.is_active() || fe.cfg.unique_id_format.is_some() {
        NUMBERED.fetch_add(1, Relaxed)
    } else {
        0
    }
}

impl LogRec<'_> {
    /// A part of the request line: 0 the method, 1 the target, 2 the version.
    fn line_part(&self, i: usize) -> Option<&str> {
        self.request_line
            .split(' ')
            .nth(i)
            .filter(|x| !x.is_empty())
    }
}

impl LogVars for LogRec<'_> {
    fn value(&self, v: LogVar) -> LogVal<'_> {
        let int = |n: u64| LogVal::Int(i64::try_from(n).unwrap_or(i64::MAX));
        let text = |t: &str| LogVal::Text(Cow::Owned(t.to_string()));
        let elapsed = self.start.elapsed().as_millis() as u64;
        let be_cur = self.be.map_or(0, |b| b.stats.cur.load(Relaxed));
        match v {
            LogVar::ClientIp => LogVal::Ip(self.peer.ip().to_canonical()),
            LogVar::ClientPort => int(u64::from(self.peer.port())),
            LogVar::FrontIp => self
                .local
                .map_or(LogVal::None, |a| LogVal::Ip(a.ip().to_canonical())),
            LogVar::FrontPort => self
                .local
                .map_or(LogVal::None, |a| int(u64::from(a.port()))),
            LogVar::Frontend => text(&self.fe.cfg.name),
            LogVar::FrontTransport if self.tls => {
                LogVal::Text(Cow::Owned(format!("{}~", self.fe.cfg.name)))
            }
            LogVar::FrontTransport => text(&self.fe.cfg.name),
            LogVar::Backend => text(self.backend),
            LogVar::Server => text(self.server),
            LogVar::Date | LogVar::ReqDate => LogVal::Text(Cow::Owned(date_of(self.when))),
            LogVar::ReqDateGmt | LogVar::ReqDateLocal | LogVar::DateGmt | LogVar::DateLocal => {
                LogVal::Text(Cow::Owned(gmt_date_of(self.when)))
            }
            LogVar::UnixTime => int(self
                .when
                .duration_since(UNIX_EPOCH)
                .unwrap_or_default()
                .as_secs()),
            LogVar::Millis => LogVal::Text(Cow::Owned(format!(
                "{:03}",
                self.when
                    .duration_since(UNIX_EPOCH)
                    .unwrap_or_default()
                    .subsec_millis()
            ))),
            LogVar::Th | LogVar::Ti | LogVar::TR | LogVar::Tq => int(0),
            LogVar::Tw => int(self.tw),
            LogVar::Tc => int(self.tc),
            LogVar::Tr => int(self.tr),
            LogVar::Td => int(elapsed.saturating_sub(self.tw + self.tc + self.tr)),
            LogVar::Ta | LogVar::Tt => int(elapsed),
            // No status (a request closed unanswered): -1, as HAProxy writes it.
            LogVar::Status => self.status.map_or(text("-1"), |s| int(u64::from(s))),
            LogVar::BytesOut => int(self.bytes_out),
            LogVar::BytesIn => int(self.bytes_in),
            LogVar::Term => text(self.term),
            LogVar::TermCookie => LogVal::Text(Cow::Owned(format!(
                "{}{}{}",
                self.term, self.cookie[0], self.cookie[1]
            ))),
            LogVar::ActConn | LogVar::FeConn => int(self.fe.stats.cur.load(Relaxed)),
            LogVar::BeConn => int(be_cur),
            LogVar::SrvConn => int(0),
            LogVar::Retries => int(u64::from(self.retries)),
            LogVar::SrvQueue => int(0),
            LogVar::BeQueue => int(self.be.map_or(0, |b| u64::from(b.qcur.load(Relaxed)))),
            LogVar::RequestLine if self.request_line.is_empty() => LogVal::None,
            LogVar::RequestLine => text(self.request_line),
            LogVar::Method => self.line_part(0).map_or(LogVal::None, text),
            LogVar::Uri => self.line_part(1).map_or(LogVal::None, text),
            LogVar::UriPath => self
                .line_part(1)
                .map_or(LogVal::None, |u| text(u.split('?').next().unwrap_or(u))),
            LogVar::PathOnly => self.line_part(1).map_or(LogVal::None, |u| {
                let u = u.split('?').next().unwrap_or(u);
                // An absolute target's path: after the scheme and the authority.
                let path = match u.split_once("://") {
                    Some((_, rest)) => rest.find('/').map_or("/", |i| &rest[i..]),
                    None => u,
                };
                text(path)
            }),
            LogVar::Query => self
                .line_part(1)
                .map_or(LogVal::None, |u| text(u.find('?').map_or("", |i| &u[i..]))),
            LogVar::Version => self.line_part(2).map_or(LogVal::None, text),
            LogVar::ReqCounter => int(self.number),
            LogVar::LogCounter => int(LINES.load(Relaxed)),
            LogVar::Pid => int(u64::from(std::process::id())),
            LogVar::Hostname => LogVal::Text(Cow::Borrowed(hostname())),
            LogVar::CookieReq => self
                .captured
                .cookie_req
                .as_deref()
                .map_or(LogVal::None, text),
            LogVar::CookieResp => self
                .captured
                .cookie_res
                .as_deref()
                .map_or(LogVal::None, text),
            LogVar::HdrReq => captured_list(&self.captured.req, true),
            LogVar::HdrReqList => captured_list(&self.captured.req, false),
            LogVar::HdrResp => captured_list(&self.captured.res, true),
            LogVar::HdrRespList => captured_list(&self.captured.res, false),
            LogVar::UniqueId => self.unique_id.map_or(LogVal::None, text),
            LogVar::ServerIp
            | LogVar::ServerPort
            | LogVar::BackSrcIp
            | LogVar::BackSrcPort
            | LogVar::SslCipher
            | LogVar::SslVersion => LogVal::None,
        }
    }
}

/// The host's name (`%H`), read once.
fn hostname() -> &'static str {
    static NAME: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    NAME.get_or_init(|| {
        std::fs::read_to_string("/proc/sys/kernel/hostname")
            .map(|h| h.trim().to_string())
            .unwrap_or_default()
    })
}

/// Logs a request or a TCP session on its frontend's log targets, in its format;
/// samples of a `log-format` read `src` and `vars`.
pub(super) fn traffic(rec: &LogRec<'_>, src: &dyn Source, vars: &mut dyn Vars) {
    let fe = rec.fe;
    if !fe.logger.is_active() {
        return;
    }
    // What went wrong, as HAProxy counts it: an error or a timeout (the termination
    // state), a retry, a 5xx.
    let wrong =
        !rec.term.starts_with('-') || rec.retries > 0 || rec.status.is_some_and(|s| s >= 500);
    if fe.cfg.dontlog_normal && !wrong {
        return;
    }
    LINES.fetch_add(1, Relaxed);
    let line = match &fe.log_line {
        Some(f) => f.render_log(src, vars, rec),
        None => format!(
            "Connect from {} to {} ({}/{})",
            rec.peer,
            fe.cfg
                .bind
                .first()
                .map(|b| b.addr.to_string())
                .unwrap_or_default(),
            fe.cfg.name,
            if fe.cfg.mode == Mode::Http {
                "HTTP"
            } else {
                "TCP"
            }
        ),
    };
    match fe.cfg.log_separate_errors && wrong {
        true => fe.logger.error(&line),
        false => fe.logger.traffic(&line),
    }
}

impl Logger {
    pub fn new(targets: &[LogTarget]) -> Logger {
        let mut sinks = Vec::new();
        for t in targets {
            let sink = match &t.dest {
                LogDest::Stdout => Some(Sink::Stdout),
                LogDest::Stderr => Some(Sink::Stderr),
                LogDest::Udp(a) => {
                    let bind = if a.is_ipv4() { "0.0.0.0:0" } else { "[::]:0" };
                    UdpSocket::bind(bind).ok().map(|s| {
                        let _ = s.set_nonblocking(true);
                        Sink::Udp(s, *a)
                    })
                }
                LogDest::Unix(p) => UnixDatagram::unbound().ok().map(|s| {
                    let _ = s.set_nonblocking(true);
                    Sink::Unix(s, p.clone())
                }),
            };
            if let Some(sink) = sink {
                sinks.push(Target {
                    sink,
                    facility: facility_code(&t.facility),
                    max_level: t.max_level,
                    min_level: t.min_level,
                    len: t.len,
                    format: t.format,
                    sample: t.sample.clone().map(|s| (s, AtomicU64::new(0))),
                });
            }
        }
        Logger {
            sinks,
            tag: format!("halo[{}]", std::process::id()),
        }
    }

    pub fn is_active(&self) -> bool {
        !self.sinks.is_empty()
    }

    fn send(&self, severity: u8, msg: &str) {
        if self.sinks.is_empty() {
            return;
        }
        let (_, mo, d, h, mi, s, _) = civil_now();
        for t in &self.sinks {
            if !t.takes(severity) {
                continue;
            }
            let pri = t.facility * 8 + severity;
            let line = match t.format {
                SyslogFormat::Rfc3164 => format!(
                    "<{pri}>{} {d:2} {h:02}:{mi:02}:{s:02} {}: {msg}",
                    MONTHS[(mo - 1) as usize],
                    self.tag
                ),
                SyslogFormat::Short => format!("<{pri}>{msg}"),
                SyslogFormat::Raw => msg.to_string(),
            };
            let line = cut(&line, t.len);
            match &t.sink {
                Sink::Stdout => {
                    let _ = writeln!(std::io::stdout().lock(), "{line}");
                }
                Sink::Stderr => {
                    let _ = writeln!(std::io::stderr().lock(), "{line}");
                }
                Sink::Udp(sock, a) => {
                    let _ = sock.send_to(line.as_bytes(), a);
                }
                Sink::Unix(sock, p) => {
                    let _ = sock.send_to(line.as_bytes(), p);
                }
            }
        }
    }

    /// A traffic line (severity info).
    pub fn traffic(&self, msg: &str) {
        self.send(6, msg);
    }

    /// A traffic line that tells of an error (`option log-separate-errors`: severity
    /// err).
    pub fn error(&self, msg: &str) {
        self.send(3, msg);
    }

    /// A health check's outcome (`option log-health-checks`; severity notice).
    pub fn check(&self, msg: &str) {
        tracing::info!("{msg}");
        self.send(5, msg);
    }

    /// A server or proxy state change (severity notice; also traced).
    pub fn event(&self, msg: &str) {
        self.event_at(5, msg);
    }

    /// A state change at a syslog severity (1 alert: a server lost; 0 emergency: a
    /// backend without servers), also traced.
    pub fn event_at(&self, severity: u8, msg: &str) {
        tracing::warn!("{msg}");
        self.send(severity, msg);
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn date_is_well_formed() {
        let d = super::haproxy_date();
        assert_eq!(d.len(), "22/Nov/2026:04:26:11.123".len(), "{d}");
        let (y, m, day, ..) = super::civil_now();
        assert!(y >= 2024 && (1..=12).contains(&m) && (1..=31).contains(&day));
    }
}
