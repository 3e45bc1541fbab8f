//! The load balancer's configuration: one typed model, read from HAProxy's language
//! (`haproxy`) or from halo's native TOML (`native`), and printed by `halo lb check`.
//!
//! The model is also the native on-disk form (serde, `version = 1`): a field renamed here
//! changes the native format, so such changes bump `version` and convert in `native`.

pub mod cond;
pub mod haproxy;
pub mod lex;
pub mod native;
pub mod summary;
pub mod tls;

pub use crate::sample::{AclTest, Expr, LogFmt, Re, VarSet};
use serde::{Deserialize, Serialize};
use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::time::Duration;
pub use tls::{BindTls, ClientCerts, ServerTls};

/// Version of the native TOML form written by this code.
pub const NATIVE_VERSION: u32 = 1;

/// A duration written the HAProxy way (`10s`, `1m`, `2000` = ms) in native TOML too.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Dur(pub Duration);

impl Dur {
    pub fn ms(ms: u64) -> Dur {
        Dur(Duration::from_millis(ms))
    }
    /// Parses `10`, `10ms`, `10s`, `1m`, `3h`, `1d`, `500us` (bare numbers are ms).
    pub fn parse(s: &str) -> Result<Dur, String> {
        let split = s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len());
        let (num, unit) = s.split_at(split);
        if num.is_empty() {
            return Err(format!(
                "`{s}` is not a time (expected e.g. 500ms, 10s, 1m, 3h)"
            ));
        }
        let n: u64 = num.parse().map_err(|_| format!("`{s}` is too large"))?;
        let d = match unit {
            "" | "ms" => Duration::from_millis(n),
            "us" => Duration::from_micros(n),
            "s" => Duration::from_secs(n),
            "m" => Duration::from_secs(n.saturating_mul(60)),
            "h" => Duration::from_secs(n.saturating_mul(3600)),
            "d" => Duration::from_secs(n.saturating_mul(86400)),
            _ => {
                return Err(format!(
                    "`{s}` has an unknown time unit `{unit}` (us, ms, s, m, h, d)"
                ))
            }
        };
        Ok(Dur(d))
    }
}

impl std::fmt::Display for Dur {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let ms = self.0.as_millis();
        if ms == 0 && !self.0.is_zero() {
            write!(f, "{}us", self.0.as_micros())
        } else if ms.is_multiple_of(86_400_000) && ms > 0 {
            write!(f, "{}d", ms / 86_400_000)
        } else if ms.is_multiple_of(3_600_000) && ms > 0 {
            write!(f, "{}h", ms / 3_600_000)
        } else if ms.is_multiple_of(60_000) && ms > 0 {
            write!(f, "{}m", ms / 60_000)
        } else if ms.is_multiple_of(1000) && ms > 0 {
            write!(f, "{}s", ms / 1000)
        } else {
            write!(f, "{ms}ms")
        }
    }
}

impl Serialize for Dur {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.to_string())
    }
}

impl<'de> Deserialize<'de> for Dur {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Dur, D::Error> {
        let s = String::deserialize(d)?;
        Dur::parse(&s).map_err(serde::de::Error::custom)
    }
}

/// `track-scN KEY [table T]`: the stream tracks the entry of KEY (the value of the
/// expression) in counter slot N, in table T or the current proxy's.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Track {
    pub slot: u8,
    pub key: Expr,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub table: Option<String>,
}

/// What a stick table is keyed by.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TableKey {
    Ip,
    Ipv6,
    Integer,
    String,
    Binary,
}

/// A section's stick table (`stick-table type T size N [expire E] [store ...]`), named
/// after its section: the counters `track-sc*` keeps and the `sc_*`/`src_*`/`table_*`
/// samples read.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Table {
    pub name: String,
    #[serde(rename = "type")]
    pub key: TableKey,
    pub size: usize,
    #[serde(default)]
    pub expire: Option<Dur>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub store: Vec<crate::sample::stick::Stored>,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub source: String,
}

/// The whole load balancer configuration.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    pub version: u32,
    #[serde(default)]
    pub global: Global,
    #[serde(default, rename = "frontend")]
    pub frontends: Vec<Frontend>,
    #[serde(default, rename = "backend")]
    pub backends: Vec<Backend>,
    /// `userlist` sections: users and groups for `http_auth()`.
    #[serde(default, rename = "userlist", skip_serializing_if = "Vec::is_empty")]
    pub userlists: Vec<Userlist>,
    /// The sections' stick tables with counters.
    #[serde(default, rename = "table", skip_serializing_if = "Vec::is_empty")]
    pub tables: Vec<Table>,
}

/// A `userlist` section.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Userlist {
    pub name: String,
    #[serde(default)]
    pub users: Vec<User>,
    /// Groups with the users the `group` lines list (users also name their groups).
    #[serde(default)]
    pub groups: Vec<(String, Vec<String>)>,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub source: String,
}

/// A user of a `userlist`: its password as a crypt(3) hash (`password`) or in clear
/// (`insecure-password`), and its groups.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct User {
    pub name: String,
    pub password: String,
    #[serde(default)]
    pub insecure: bool,
    #[serde(default)]
    pub groups: Vec<String>,
}

impl Userlist {
    /// Whether `user` with `password` is in the list.
    pub fn check(&self, user: &str, password: &str) -> bool {
        self.users.iter().any(|u| {
            u.name == user
                && if u.insecure {
                    // In constant time: a wrong guess tells nothing of how close it was.
                    u.password.len() == password.len()
                        && u.password
                            .bytes()
                            .zip(password.bytes())
                            .fold(0u8, |acc, (a, b)| acc | (a ^ b))
                            == 0
                } else {
                    pwhash::unix::verify(password, &u.password)
                }
        })
    }
}

/// Process-wide settings (HAProxy's `global` section).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Global {
    /// Fork into the background (unless `halo lb run --foreground`).
    pub daemon: bool,
    pub pidfile: Option<PathBuf>,
    pub user: Option<String>,
    pub group: Option<String>,
    pub uid: Option<u32>,
    pub gid: Option<u32>,
    pub chroot: Option<PathBuf>,
    /// Process-wide limit of concurrent client connections.
    pub maxconn: u32,
    /// Worker threads (default: one per CPU).
    pub nbthread: Option<usize>,
    pub log: Vec<LogTarget>,
    pub stats_socket: Vec<StatsSocket>,
    /// Zero-copy TCP forwarding (`nosplice` turns it off).
    pub splice: bool,
    pub ulimit_n: Option<u64>,
    pub node: Option<String>,
    pub description: Option<String>,
    /// Largest HTTP request head accepted from a client, in bytes (`tune.bufsize`).
    pub bufsize: usize,
    /// `spread-checks`: each check interval varies by up to this many percent (0-50),
    /// so that checks of many servers do not fall in step.
    #[serde(default)]
    pub spread_checks: u8,
    /// Process variables set when the configuration is loaded (`set-var proc.NAME
    /// EXPR`, `set-var-fmt proc.NAME FMT`), in order.
    #[serde(default)]
    pub set_var: Vec<(String, VarValue)>,
}

impl Default for Global {
    fn default() -> Global {
        Global {
            daemon: false,
            pidfile: None,
            user: None,
            group: None,
            uid: None,
            gid: None,
            chroot: None,
            maxconn: 4096,
            nbthread: None,
            log: Vec::new(),
            stats_socket: Vec::new(),
            splice: true,
            ulimit_n: None,
            node: None,
            description: None,
            bufsize: 16384,
            spread_checks: 0,
            set_var: Vec::new(),
        }
    }
}

/// Where traffic and event logs go, with the syslog facility (`local0`...).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LogTarget {
    pub dest: LogDest,
    #[serde(default = "default_facility")]
    pub facility: String,
    /// The least urgent severity sent (0 emerg .. 7 debug), and the most urgent.
    #[serde(default = "default_max_level")]
    pub max_level: u8,
    #[serde(default)]
    pub min_level: u8,
    /// Lines are cut to this many bytes (`len`; HAProxy's default 1024).
    #[serde(default = "default_log_len")]
    pub len: usize,
    #[serde(default)]
    pub format: SyslogFormat,
    /// `sample RANGES:SIZE`: of each SIZE lines, those whose rank (from 1) is in one
    /// of the ranges are sent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sample: Option<LogSample>,
}

fn default_max_level() -> u8 {
    7
}

fn default_log_len() -> usize {
    1024
}

/// How a log line is framed (`format`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SyslogFormat {
    /// `<PRI>Mmm dd hh:mm:ss TAG[PID]: message`.
    #[default]
    Rfc3164,
    /// `<PRI>message`.
    Short,
    /// The message alone.
    Raw,
}

/// `sample RANGES:SIZE`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LogSample {
    pub ranges: Vec<(u32, u32)>,
    pub size: u32,
}

fn default_facility() -> String {
    "local0".into()
}

/// The destination of a log target.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase", tag = "kind", content = "target")]
pub enum LogDest {
    Stdout,
    Stderr,
    /// Syslog over UDP.
    Udp(SocketAddr),
    /// Syslog over a Unix datagram socket (e.g. /dev/log).
    Unix(PathBuf),
}

/// The runtime API socket (`stats socket PATH [mode M] [level L]`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StatsSocket {
    pub path: PathBuf,
    /// Octal permissions of the socket file.
    #[serde(default)]
    pub mode: Option<u32>,
    /// `admin` allows enable/disable/drain/weight; `operator` and `user` only show.
    #[serde(default = "default_level")]
    pub level: String,
    /// The socket file's owner and group (`user`/`uid`, `group`/`gid`): a name, or a
    /// number; names are looked up when the socket is made.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub owner: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub group: Option<String>,
}

fn default_level() -> String {
    "admin".into()
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum Mode {
    #[default]
    Tcp,
    Http,
}

impl std::fmt::Display for Mode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Mode::Tcp => "tcp",
            Mode::Http => "http",
        })
    }
}

/// One listening address.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Bind {
    /// The address (for `fd@N`, the address the inherited socket is bound to).
    pub addr: SocketAddr,
    /// `fd@N`: a listening socket inherited from the parent process, used as it is.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fd: Option<i32>,
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub backlog: Option<u32>,
    #[serde(default)]
    pub v6only: bool,
    /// `accept-proxy`: each connection starts with a PROXY protocol header (version 1
    /// or 2) from a proxy in front, which tells the client's addresses.
    #[serde(default)]
    pub accept_proxy: bool,
    /// TLS termination (`ssl crt ...`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tls: Option<BindTls>,
    /// Where it was configured (`file:line`), for error messages.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub source: String,
}

/// How `option forwardfor` adds the client address.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ForwardFor {
    #[serde(default = "default_xff")]
    pub header: String,
    /// Do not add the header for clients in this network (`except NET`).
    #[serde(default)]
    pub except: Option<Cidr>,
}

fn default_xff() -> String {
    "X-Forwarded-For".into()
}

/// An IP network (`10.0.0.0/8`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cidr {
    pub addr: IpAddr,
    pub prefix: u8,
}

impl Cidr {
    pub fn parse(s: &str) -> Result<Cidr, String> {
        let (a, p) = match s.split_once('/') {
            Some((a, p)) => (a, Some(p)),
            None => (s, None),
        };
        let addr: IpAddr = a
            .parse()
            .map_err(|_| format!("`{s}` is not an IP address or network"))?;
        let max = if addr.is_ipv4() { 32 } else { 128 };
        let prefix = match p {
            None => max,
            Some(p) => match p.parse::<u8>() {
                Ok(v) if v <= max => v,
                _ => {
                    // HAProxy also accepts a dotted netmask.
                    let m: std::net::Ipv4Addr = p
                        .parse()
                        .map_err(|_| format!("`{s}` has a bad prefix length"))?;
                    let bits = u32::from(m);
                    if bits.leading_ones() + bits.trailing_zeros() != 32 {
                        return Err(format!("`{s}` has a non-contiguous netmask"));
                    }
                    bits.leading_ones() as u8
                }
            },
        };
        Ok(Cidr { addr, prefix })
    }
    pub fn contains(&self, ip: IpAddr) -> bool {
        let ip = match ip {
            IpAddr::V6(v6) => v6.to_ipv4_mapped().map(IpAddr::V4).unwrap_or(ip),
            v4 => v4,
        };
        match (self.addr, ip) {
            (IpAddr::V4(n), IpAddr::V4(a)) => {
                let mask = if self.prefix == 0 {
                    0
                } else {
                    u32::MAX << (32 - self.prefix)
                };
                u32::from(n) & mask == u32::from(a) & mask
            }
            (IpAddr::V6(n), IpAddr::V6(a)) => {
                let mask = if self.prefix == 0 {
                    0
                } else {
                    u128::MAX << (128 - self.prefix)
                };
                u128::from(n) & mask == u128::from(a) & mask
            }
            _ => false,
        }
    }
}

impl std::fmt::Display for Cidr {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.addr, self.prefix)
    }
}

impl Serialize for Cidr {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.to_string())
    }
}

impl<'de> Deserialize<'de> for Cidr {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Cidr, D::Error> {
        let s = String::deserialize(d)?;
        Cidr::parse(&s).map_err(serde::de::Error::custom)
    }
}

/// A named test (`acl NAME CRITERION [FLAGS] [PATTERN...]`); several lines with the
/// same name make one ACL that holds when any of them does.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Acl {
    pub name: String,
    /// The criterion, flags and patterns as HAProxy writes them.
    pub test: AclTest,
}

/// One term of a condition: an ACL name, possibly negated.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CondTerm {
    pub acl: String,
    #[serde(default)]
    pub negate: bool,
}

/// `use_backend NAME if|unless COND`: COND is an OR of AND-groups of terms.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UseBackend {
    pub backend: String,
    /// A name made of samples (`%[req.hdr(host),map(FILE)]`), parsed with the
    /// configuration (its map files read then, before a `chroot` hides them); parsed
    /// from `backend` when absent (a native configuration).
    #[serde(skip)]
    pub named: Option<LogFmt>,
    /// OR of AND-groups; empty = always.
    #[serde(default)]
    pub any_of: Vec<Vec<CondTerm>>,
    #[serde(default)]
    pub unless: bool,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub source: String,
}

/// `http-request ACTION ... [if|unless COND]`: applied to each request in order, before
/// `use_backend`; the first `deny` or `allow` that applies ends the evaluation. The same
/// for `http-response` and each response.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HttpRule {
    pub action: HttpAction,
    /// OR of AND-groups; empty = always.
    #[serde(default)]
    pub any_of: Vec<Vec<CondTerm>>,
    #[serde(default)]
    pub unless: bool,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub source: String,
}

/// What an `http-request` (or `http-response`) rule does.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum HttpAction {
    /// `track-scN KEY [table T]`.
    Track(Track),
    /// `set-src|set-dst|set-src-port|set-dst-port EXPR`: the request's client (or
    /// destination) address as the rest of its way sees it (rules, logs, balancing,
    /// `X-Forwarded-For`, what `send-proxy` tells).
    SetAddr { part: AddrPart, value: Expr },
    /// `set-timeout server|tunnel|client TIME|EXPR` (an expression gives milliseconds):
    /// that timeout for this request.
    SetTimeout { which: TimeoutKind, value: Expr },
    /// `http-request|http-response capture EXPR len N|id N`: the value, cut to the
    /// slot's length, in capture slot `slot` (logged by `%hr`/`%hs`, read by
    /// `capture.req.hdr(N)`).
    Capture {
        value: Expr,
        slot: usize,
        len: usize,
    },
    /// `sc-inc-gpc0(N)`, `sc-inc-gpc1(N)`: adds one to the counter of the entry tracked
    /// in slot N.
    ScIncGpc { slot: u8, gpc1: bool },
    /// `sc-set-gpt0(N) VALUE`.
    ScSetGpt0 { slot: u8, value: Expr },
    /// Replaces every line of the header with one (`set-header NAME FMT`).
    SetHeader { name: String, value: LogFmt },
    /// Adds a header line (`add-header NAME FMT`).
    AddHeader { name: String, value: LogFmt },
    /// Removes the header lines whose name matches (`del-header NAME [-m METH]`).
    DelHeader {
        name: String,
        #[serde(default)]
        method: NameMatch,
    },
    /// Rewrites header values by a regular expression: the whole line
    /// (`replace-header`) or each comma-separated value (`replace-value`).
    ReplaceHeader {
        name: String,
        re: Re,
        with: LogFmt,
        each_value: bool,
    },
    /// Answers with `status` (403 by default) instead of forwarding: with `reply`,
    /// else with the proxy's answer for the status.
    Deny {
        status: u16,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        reply: Option<Return>,
    },
    /// Stops the evaluation; the message goes on.
    Allow,
    /// Closes the connection at once, answering nothing (`http-request reject`).
    Reject,
    /// Answers with a redirection (`redirect` or `http-request redirect`).
    Redirect(Redirect),
    /// Answers with a response of the load balancer's own (`return`).
    Return(Return),
    /// Sets a variable from a sample (`set-var(NAME[,COND...]) EXPR`) or a log-format
    /// string (`set-var-fmt`).
    SetVar { var: VarSet, value: VarValue },
    /// Removes a variable (`unset-var(NAME)`).
    UnsetVar { name: String },
    /// Changes a part of the request line: the method, the path, the query, the path
    /// with the query, or the whole target (`set-method`, `set-path`, ...).
    SetLine { part: LinePart, value: LogFmt },
    /// Rewrites a part of the request line by a regular expression (`replace-path`,
    /// `replace-pathq`, `replace-uri`).
    ReplaceLine {
        part: LinePart,
        re: Re,
        with: LogFmt,
    },
    /// Answers with a service of the load balancer (`use-service prometheus-exporter`:
    /// the metrics, as HAProxy's exporter names them).
    UsePrometheus,
    /// Asks the client for a user and password (`auth [realm R]`): 401 with
    /// `WWW-Authenticate: Basic`.
    Auth {
        #[serde(default)]
        realm: Option<String>,
    },
    /// Changes the response's status (`set-status CODE [reason TEXT]`).
    SetStatus {
        status: u16,
        #[serde(default)]
        reason: Option<String>,
    },
}

/// How `del-header` compares names (`-m str|beg|end|sub|reg`, case-insensitive).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum NameMatch {
    #[default]
    Str,
    Beg,
    End,
    Sub,
    Reg(Re),
}

/// A part of the request line that rules may change.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LinePart {
    Method,
    Path,
    Query,
    Pathq,
    Uri,
}

/// What `set-var` stores: a sample, or a log-format string.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum VarValue {
    Expr(Expr),
    Fmt(LogFmt),
}

/// `return [status N] [content-type T] [string S | lf-string FMT | file F | lf-file F]
/// [hdr NAME FMT]...`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Return {
    pub status: u16,
    #[serde(default)]
    pub content_type: Option<String>,
    /// The body: text, or a log-format string (`lf-string`, `lf-file`).
    #[serde(default)]
    pub body: Option<LogFmt>,
    #[serde(default)]
    pub headers: Vec<(String, LogFmt)>,
    /// Where the answer comes from when not from the words above.
    #[serde(default, skip_serializing_if = "ReplyFrom::is_own")]
    pub from: ReplyFrom,
}

impl Return {
    /// An answer of `status` with nothing but these words.
    pub fn of(status: u16, from: ReplyFrom) -> Return {
        Return {
            status,
            content_type: None,
            body: None,
            headers: Vec::new(),
            from,
        }
    }
}

/// Where an answer of the load balancer's own comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ReplyFrom {
    /// Its own status, headers and body.
    #[default]
    Own,
    /// The proxy's answer for the status (`default-errorfiles` in a rule): the
    /// backend's `errorfile`/`errorfiles`/`http-error`, the frontend's, else HAProxy's
    /// page.
    Proxy,
    /// HAProxy's page for the status (`http-error ... default-errorfiles`).
    Builtin,
    /// No answer at all: the connection closes (an empty `errorfile`, as `/dev/null`).
    Close,
}

impl ReplyFrom {
    fn is_own(&self) -> bool {
        *self == ReplyFrom::Own
    }
}

/// `tcp-request STAGE ACTION [if|unless COND]`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TcpRule {
    pub stage: TcpStage,
    pub action: TcpAction,
    /// OR of AND-groups; empty = always.
    #[serde(default)]
    pub any_of: Vec<Vec<CondTerm>>,
    #[serde(default)]
    pub unless: bool,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub source: String,
}

/// When a `tcp-request` rule runs: as the connection is accepted, as its session
/// starts, or on its content (in `mode http`, each request, before `http-request`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TcpStage {
    Connection,
    Session,
    Content,
}

/// Which timeout `http-request set-timeout` sets.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TimeoutKind {
    Server = 0,
    Tunnel = 1,
    Client = 2,
}

/// The address (or port) a `set-src|set-dst|set-src-port|set-dst-port` rule sets.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum AddrPart {
    Src,
    SrcPort,
    Dst,
    DstPort,
}

impl AddrPart {
    /// The part an action's name sets (`set-src-port`).
    pub fn of_action(verb: &str) -> Option<AddrPart> {
        Some(match verb {
            "set-src" => AddrPart::Src,
            "set-src-port" => AddrPart::SrcPort,
            "set-dst" => AddrPart::Dst,
            "set-dst-port" => AddrPart::DstPort,
            _ => return None,
        })
    }

    /// The action's name.
    pub fn verb(self) -> &'static str {
        match self {
            AddrPart::Src => "set-src",
            AddrPart::SrcPort => "set-src-port",
            AddrPart::Dst => "set-dst",
            AddrPart::DstPort => "set-dst-port",
        }
    }
}

/// What a `tcp-request` rule does.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum TcpAction {
    /// `track-scN KEY [table T]`: at the `connection` and `session` stages, for the
    /// whole connection (each of its HTTP requests counted on the entry).
    Track(Track),
    /// `set-src|set-dst|set-src-port|set-dst-port EXPR`: at the `connection` stage the
    /// connection's addresses (`fc_src`...), at the `session` stage the session's, at
    /// the `content` stage the stream's.
    SetAddr {
        part: AddrPart,
        value: Expr,
    },
    /// Stops this stage's rules; the connection goes on.
    Accept,
    /// Closes the connection.
    Reject,
    SetVar {
        var: VarSet,
        value: VarValue,
    },
    UnsetVar {
        name: String,
    },
}

/// Persistence by a cookie (`cookie NAME insert|rewrite|prefix ...`) naming the server
/// (its `cookie` value).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CookiePersist {
    pub name: String,
    /// Who makes the cookie: the load balancer (`insert`), or the server, its value
    /// then replaced by the server's (`rewrite`) or prefixed with it (`prefix`), or
    /// left as the server made it (none of these words).
    #[serde(default)]
    pub mode: CookieMode,
    /// `insert`: a cookie the server sets itself is passed on, and none inserted then
    /// (`preserve`); without it, the server's is replaced by the load balancer's.
    #[serde(default)]
    pub preserve: bool,
    /// Not passed to the servers, nor set again for a client that has the right one
    /// (`indirect`).
    #[serde(default)]
    pub indirect: bool,
    /// A response that sets the cookie is marked private for caches (`nocache`).
    #[serde(default)]
    pub nocache: bool,
    #[serde(default)]
    pub httponly: bool,
    #[serde(default)]
    pub secure: bool,
    #[serde(default)]
    pub domain: Vec<String>,
    /// More attributes, as written (`attr "SameSite=Strict"`).
    #[serde(default)]
    pub attr: Vec<String>,
}

impl Backend {
    /// The servers' numbers: those given (`id N`), the others numbered from 1 in order,
    /// skipping the numbers given.
    pub fn server_ids(&self) -> Vec<u32> {
        let given: Vec<u32> = self.server.iter().filter_map(|s| s.id).collect();
        let mut next = 0;
        self.server
            .iter()
            .map(|s| {
                s.id.unwrap_or_else(|| {
                    next += 1;
                    while given.contains(&next) {
                        next += 1;
                    }
                    next
                })
            })
            .collect()
    }
}

/// `http-reuse never|safe|aggressive|always`: whether a request may be sent on an idle
/// server connection another client's requests used. `never`: a connection serves one
/// client connection only (its later requests); `safe` (HAProxy's default): a client
/// connection's first request gets a connection of its own, the later ones may take
/// idle ones; `aggressive` and `always`: any request may.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum HttpReuse {
    Never,
    #[default]
    Safe,
    Aggressive,
    Always,
}

/// Who makes the persistence cookie.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum CookieMode {
    #[default]
    Insert,
    Rewrite,
    Prefix,
    /// The server sets the cookie with its own identifier; it is only read.
    Passive,
}

/// `stick on|match|store-request|store-response KEY [table T] [if|unless COND]`:
/// persistence through a stick table. A request whose `on`/`match` key has an entry
/// goes to the server that entry names while that server can take it; `on` and
/// `store-request` keys are stored with the server chosen, `store-response` keys (read
/// in the answer) with the server that answered. Only the first storing rule of each
/// table whose condition holds and whose key exists stores.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StickRule {
    pub kind: StickKind,
    pub key: crate::sample::Expr,
    /// The table's section (the backend's own unless named).
    pub table: String,
    /// OR of AND-groups; empty = always.
    #[serde(default)]
    pub any_of: Vec<Vec<CondTerm>>,
    #[serde(default)]
    pub unless: bool,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub source: String,
}

/// What a stick rule does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum StickKind {
    On,
    Match,
    StoreRequest,
    StoreResponse,
}

impl StickKind {
    /// Whether the rule looks its key up to choose the server.
    pub fn matches(self) -> bool {
        matches!(self, StickKind::On | StickKind::Match)
    }

    /// Whether the rule stores its key with the server chosen for the request.
    pub fn stores_request(self) -> bool {
        matches!(self, StickKind::On | StickKind::StoreRequest)
    }

    pub fn keyword(self) -> &'static str {
        match self {
            StickKind::On => "on",
            StickKind::Match => "match",
            StickKind::StoreRequest => "store-request",
            StickKind::StoreResponse => "store-response",
        }
    }
}

/// `redirect location|prefix|scheme TARGET [code N] [drop-query] [append-slash]`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Redirect {
    pub kind: RedirectKind,
    /// The target, a log-format string.
    pub target: LogFmt,
    /// No redirection when the target comes out empty (`ignore-empty`).
    #[serde(default)]
    pub ignore_empty: bool,
    /// 301, 302 (the default), 303, 307 or 308.
    pub code: u16,
    /// `prefix`: leave the query string out.
    #[serde(default)]
    pub drop_query: bool,
    /// `prefix`: add a `/` to a path without one at its end.
    #[serde(default)]
    pub append_slash: bool,
}

/// Where a redirection sends the client.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RedirectKind {
    /// To `target`, as it is.
    Location,
    /// To `target` followed by the request's path (and query).
    Prefix,
    /// To the same host and path with the scheme `target`.
    Scheme,
}

/// The built-in statistics page served by a frontend.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StatsPage {
    #[serde(default = "default_stats_uri")]
    pub uri: String,
    #[serde(default)]
    pub realm: Option<String>,
    /// `user:password` pairs.
    #[serde(default)]
    pub auth: Vec<String>,
    #[serde(default)]
    pub refresh: Option<Dur>,
    #[serde(default)]
    pub hide_version: bool,
    #[serde(default)]
    pub show_node: bool,
    #[serde(default)]
    pub show_legends: bool,
    /// `stats admin if|unless COND`: who may change servers' states from the page.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub admin: Option<StatsAdmin>,
}

/// The condition of `stats admin` (on the request, with the section's ACLs).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StatsAdmin {
    pub any_of: Vec<Vec<CondTerm>>,
    #[serde(default)]
    pub unless: bool,
}

fn default_stats_uri() -> String {
    "/haproxy?stats".into()
}

/// A frontend's captures: header names (lower case) and lengths, in order.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Captures {
    /// Capture slots in order: a header's name and the length kept (an empty name: a
    /// slot that `http-request capture` or `declare capture` made).
    #[serde(default)]
    pub request: Vec<(String, usize)>,
    #[serde(default)]
    pub response: Vec<(String, usize)>,
    /// The cookie whose name starts with this (request `Cookie`, response `Set-Cookie`).
    #[serde(default)]
    pub cookie: Option<(String, usize)>,
}

impl Captures {
    pub fn is_empty(&self) -> bool {
        self.request.is_empty() && self.response.is_empty() && self.cookie.is_none()
    }
}

/// Which log line format a frontend writes for each connection/request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    /// HAProxy's short default line.
    #[default]
    Default,
    Tcplog,
    Httplog,
}

/// A listening proxy (HAProxy `frontend`, or the front half of a `listen`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Frontend {
    pub name: String,
    /// The proxy's number (`id N`, else its place in the configuration, as HAProxy
    /// numbers them): `iid` in `show stat`, `be_id` in `show servers state`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<u32>,
    #[serde(default)]
    pub mode: Mode,
    pub bind: Vec<Bind>,
    #[serde(default)]
    pub maxconn: Option<u32>,
    #[serde(default)]
    pub timeout_client: Option<Dur>,
    #[serde(default)]
    pub timeout_http_request: Option<Dur>,
    #[serde(default)]
    pub timeout_http_keep_alive: Option<Dur>,
    /// TCP keep-alive on client connections (`option tcpka` / `clitcpka`).
    #[serde(default)]
    pub clitcpka: bool,
    /// `option nolinger`: a client connection it closes is reset, its unsent data
    /// dropped, instead of lingering.
    #[serde(default)]
    pub nolinger: bool,
    /// `option disable-h2-upgrade`: a cleartext `mode http` connection that opens with
    /// the HTTP/2 preface is refused instead of being served as HTTP/2.
    #[serde(default)]
    pub disable_h2_upgrade: bool,
    #[serde(default)]
    pub log_format: LogFormat,
    /// `log-format`: the traffic line's format (over `log_format`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub log_template: Option<LogFmt>,
    /// `unique-id-format`: each request's id (`%ID`, `unique-id`), made from the request
    /// and the connection; `unique-id-header`: the request header that carries it to
    /// the server.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unique_id_format: Option<LogFmt>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unique_id_header: Option<String>,
    /// `capture request|response header NAME len N`, `capture cookie NAME len N`: what
    /// the log lines show (`%hr`, `%hs`, `%CC`, `%CS`) and `capture.req|res.hdr(N)` read.
    #[serde(default, skip_serializing_if = "Captures::is_empty")]
    pub captures: Captures,
    #[serde(default)]
    pub dontlognull: bool,
    /// `option dontlog-normal`: only what went wrong is logged (an error, a timeout, a
    /// retry, a 5xx).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub dontlog_normal: bool,
    /// `option log-separate-errors`: what went wrong is logged at `err`, not `info`.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub log_separate_errors: bool,
    /// `option tcp-smart-accept`: a connection is taken only once its first bytes came
    /// (TCP_DEFER_ACCEPT), so idle connects cost no session.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub tcp_smart_accept: bool,
    #[serde(default)]
    pub log: Vec<LogTarget>,
    #[serde(default)]
    pub forwardfor: Option<ForwardFor>,
    /// `option originalto`: the address the client connected to, in a header
    /// (`X-Original-To`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub originalto: Option<ForwardFor>,
    #[serde(default)]
    pub acl: Vec<Acl>,
    #[serde(default)]
    pub use_backend: Vec<UseBackend>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub http_request: Vec<HttpRule>,
    /// `http-response` rules: applied to every answer from a server, after the
    /// backend's own.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub http_response: Vec<HttpRule>,
    /// `http-after-response` rules: applied to every answer, the servers' and the load
    /// balancer's own, after the backend's.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub http_after_response: Vec<HttpRule>,
    /// `tcp-request connection|session|content` rules, in order within each stage.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tcp_request: Vec<TcpRule>,
    /// `tcp-request inspect-delay`: in `mode tcp`, how long to wait for the client's
    /// first bytes (a request line, a TLS ClientHello) for the rules to read.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub inspect_delay: Option<Dur>,
    /// `option httpclose`: each connection closes after one answer, both sides.
    #[serde(default)]
    pub httpclose: bool,
    /// `option http-buffer-request`: a request's body (of a known length that fits
    /// the buffer) is waited for before the rules, which read it (`req.body`).
    #[serde(default)]
    pub buffer_request: bool,
    /// The answers sent instead of HAProxy's pages, by status: `errorfile CODE FILE`
    /// (the file's answer, read with the configuration), `errorfiles SECTION`,
    /// `errorloc`, `http-error status CODE ...`.
    #[serde(default, skip_serializing_if = "std::collections::BTreeMap::is_empty")]
    pub errorfiles: std::collections::BTreeMap<u16, Return>,
    /// `redirect` rules: after the `http-request` rules, the first that applies.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub redirect: Vec<HttpRule>,
    /// `monitor-uri`: a request for it is answered here, 200 (or 503 when a `monitor
    /// fail` condition holds), neither forwarded nor logged.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub monitor_uri: Option<String>,
    /// `monitor fail if|unless COND` (as rules whose action is `deny` 503).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub monitor_fail: Vec<HttpRule>,
    #[serde(default)]
    pub default_backend: Option<String>,
    #[serde(default)]
    pub stats: Option<StatsPage>,
    /// `disabled`: the proxy is configured but does not listen.
    #[serde(default)]
    pub disabled: bool,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub source: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "kebab-case")]
pub enum Balance {
    #[default]
    Roundrobin,
    StaticRr,
    Leastconn,
    Source,
    First,
    /// `uri`, `url_param`, `hdr`: a hash of the part of the request that
    /// [`Backend::hash_key`] names (round robin for a request without it).
    Uri,
    UrlParam,
    Hdr,
    /// `random`: the less loaded of two servers drawn at random by weight.
    Random,
    /// `hash EXPR`: a hash of the sample the expression gives (round robin for a
    /// request without it).
    Hash,
}

/// What a request-hashing `balance` hashes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum HashKey {
    /// `uri [whole] [path-only] [len N] [depth N]`: the target (without its query but
    /// with `whole`; without scheme and authority with `path-only`), its first `len`
    /// characters or `depth` directories.
    Uri {
        #[serde(default)]
        whole: bool,
        #[serde(default)]
        path_only: bool,
        #[serde(default)]
        len: Option<usize>,
        #[serde(default)]
        depth: Option<usize>,
    },
    /// `url_param NAME`: the query parameter's value.
    UrlParam(String),
    /// `hdr(NAME) [use_domain_only]`: the header's value (its domain's main label).
    Hdr { name: String, domain_only: bool },
    /// `hash EXPR`: the sample's bytes.
    Expr(crate::sample::Expr),
}

impl std::fmt::Display for Balance {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Balance::Roundrobin => "roundrobin",
            Balance::StaticRr => "static-rr",
            Balance::Leastconn => "leastconn",
            Balance::Source => "source",
            Balance::First => "first",
            Balance::Uri => "uri",
            Balance::UrlParam => "url_param",
            Balance::Hdr => "hdr",
            Balance::Hash => "hash",
            Balance::Random => "random",
        })
    }
}

/// `http-check expect`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "kind", content = "value")]
pub enum HttpExpect {
    /// Any 2xx or 3xx (HAProxy's default).
    Default,
    /// `status 200` or `status 200-299` (a range written `a-b`), `! status ...` negated.
    Status { lo: u16, hi: u16, negate: bool },
    /// `string TEXT`: the body contains TEXT (`! string` negated).
    String { text: String, negate: bool },
}

/// What a health check probe does.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "kind")]
pub enum CheckKind {
    /// Connect only.
    Tcp,
    /// `option httpchk [METHOD] [URI] [VERSION]` with `http-check expect`.
    Http {
        method: String,
        uri: String,
        version: String,
        host: Option<String>,
        /// More header lines (`http-check send hdr NAME VALUE`).
        #[serde(default)]
        headers: Vec<(String, String)>,
        expect: HttpExpect,
    },
    /// `option mysql-check [user U]`: a real MySQL handshake (login as U if given).
    Mysql { user: Option<String> },
    /// `option galera-check user U [password P]` (halo): log in, read
    /// `wsrep_local_state`, pass only when it is 4 (Synced).
    Galera {
        user: String,
        password: Option<String>,
    },
    /// `option redis-check`: PING answered by +PONG.
    Redis,
    /// `option amqp-check` (halo): the AMQP 0-9-1 protocol header answered by Connection.Start.
    Amqp,
    /// `option tcp-check` with its `tcp-check` steps, in order.
    TcpCheck(Vec<TcpCheckStep>),
    /// `option pgsql-check user U`: a PostgreSQL startup message as U, passed when the
    /// server lets U in at once (AuthenticationOk, as HAProxy's check asks).
    Pgsql { user: String },
    /// `option ldap-check`: an anonymous LDAPv3 bind, passed when it succeeds.
    Ldap,
    /// `option smtpchk [HELO|EHLO DOMAIN]`: a 2xx greeting, then the command (`HELO
    /// localhost` by default) answered with 2xx.
    Smtp { command: String },
}

/// One `tcp-check` step.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum TcpCheckStep {
    /// Connect (first step only), perhaps to another port than the server's, perhaps
    /// over TLS (`ssl`, with the server's TLS settings).
    Connect {
        port: Option<u16>,
        #[serde(default)]
        ssl: bool,
    },
    /// Send these bytes (`send STRING`, `send-binary HEX`).
    Send(Vec<u8>),
    /// Wait for data that matches (or, `negate`, that does not): until it came, or
    /// (`min_recv`) until that many bytes came, when it is judged on what is there.
    Expect {
        negate: bool,
        what: TcpExpect,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        min_recv: Option<usize>,
        /// `comment TEXT`: named in the report when this step fails.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        comment: Option<String>,
    },
}

impl std::fmt::Display for TcpCheckStep {
    /// The step as a report names it (`expect !rstring '^error'`).
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            TcpCheckStep::Connect { port, ssl } => {
                write!(f, "connect")?;
                if let Some(p) = port {
                    write!(f, " port {p}")?;
                }
                if *ssl {
                    write!(f, " ssl")?;
                }
                Ok(())
            }
            TcpCheckStep::Send(_) => write!(f, "send data"),
            TcpCheckStep::Expect { negate, what, .. } => {
                let not = if *negate { "!" } else { "" };
                match what {
                    TcpExpect::String(t) => write!(f, "expect {not}string '{t}'"),
                    TcpExpect::Rstring(re) => write!(f, "expect {not}rstring '{}'", re.text),
                    TcpExpect::Binary(b) => {
                        write!(f, "expect {not}binary '")?;
                        for x in b {
                            write!(f, "{x:02X}")?;
                        }
                        write!(f, "'")
                    }
                }
            }
        }
    }
}

/// What a `tcp-check expect` waits for.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TcpExpect {
    String(String),
    Rstring(Re),
    Binary(Vec<u8>),
}

impl CheckKind {
    pub fn describe(&self) -> String {
        match self {
            CheckKind::Tcp => "tcp connect".into(),
            CheckKind::Http {
                method,
                uri,
                version,
                expect,
                ..
            } => {
                format!(
                    "http {method} {uri} {version}, expect {}",
                    describe_expect(expect)
                )
            }
            CheckKind::Mysql { user } => match user {
                Some(u) => format!("mysql handshake + login as {u}"),
                None => "mysql handshake".into(),
            },
            CheckKind::Galera { user, .. } => {
                format!("galera: login as {user}, wsrep_local_state = 4 (Synced)")
            }
            CheckKind::Redis => "redis PING -> +PONG".into(),
            CheckKind::Amqp => "amqp protocol header -> Connection.Start".into(),
            CheckKind::TcpCheck(steps) => format!("tcp-check ({} steps)", steps.len()),
            CheckKind::Pgsql { user } => {
                format!("postgresql startup as {user} -> AuthenticationOk")
            }
            CheckKind::Ldap => "ldap anonymous bind -> success".into(),
            CheckKind::Smtp { command } => format!("smtp greeting 2xx, {command} -> 2xx"),
        }
    }
}

fn describe_expect(e: &HttpExpect) -> String {
    match e {
        HttpExpect::Default => "status 2xx/3xx".into(),
        HttpExpect::Status { lo, hi, negate } => {
            let n = if *negate { "! " } else { "" };
            if lo == hi {
                format!("{n}status {lo}")
            } else {
                format!("{n}status {lo}-{hi}")
            }
        }
        HttpExpect::String { text, negate } => {
            format!("{}body contains {text:?}", if *negate { "! " } else { "" })
        }
    }
}

/// `observe layer4|layer7`: judge a server from live traffic too.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Observe {
    Layer4,
    Layer7,
}

/// `on-error`: what `error-limit` consecutive live errors do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "kebab-case")]
pub enum OnError {
    /// Check again at `fastinter` (HAProxy's default).
    #[default]
    Fastinter,
    /// Count as one failed check.
    FailCheck,
    /// One more failed check marks the server down.
    SuddenDeath,
    /// Mark the server down at once.
    MarkDown,
}

/// Health-check timing and thresholds of one server.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CheckParams {
    pub inter: Dur,
    pub fastinter: Option<Dur>,
    pub downinter: Option<Dur>,
    pub rise: u32,
    pub fall: u32,
    /// Probe this port instead of the server's.
    pub port: Option<u16>,
    /// Probe this address instead of the server's.
    pub addr: Option<IpAddr>,
}

impl Default for CheckParams {
    fn default() -> CheckParams {
        CheckParams {
            inter: Dur::ms(2000),
            fastinter: None,
            downinter: None,
            rise: 2,
            fall: 3,
            port: None,
            addr: None,
        }
    }
}

/// An agent check (`agent-check agent-port N [agent-addr A] [agent-inter T]
/// [agent-send S]`): every `inter`, a line read from the server's agent sets its weight
/// (`75%`), its `maxconn:N`, its state (`ready`, `drain`, `maint`) and whether it may
/// serve (`up`; `down`, `fail`, `stopped` with `#reason`). An agent that cannot be
/// reached changes nothing.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AgentCheck {
    pub port: u16,
    /// The agent's address, else the server's.
    #[serde(default)]
    pub addr: Option<IpAddr>,
    pub inter: Dur,
    /// What to send once connected.
    #[serde(default)]
    pub send: Option<String>,
}

/// One server of a backend.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Server {
    pub name: String,
    pub addr: SocketAddr,
    /// The value of the backend's persistence cookie that designates this server
    /// (`cookie VALUE`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cookie: Option<String>,
    #[serde(default = "one")]
    pub weight: u32,
    #[serde(default)]
    pub backup: bool,
    #[serde(default)]
    pub disabled: bool,
    /// 0 = unlimited.
    #[serde(default)]
    pub maxconn: u32,
    /// Health-checked (`check`).
    #[serde(default)]
    pub check: bool,
    #[serde(default)]
    pub check_params: CheckParams,
    #[serde(default)]
    pub observe: Option<Observe>,
    #[serde(default = "ten")]
    pub error_limit: u32,
    #[serde(default)]
    pub on_error: OnError,
    /// `on-marked-down shutdown-sessions`.
    #[serde(default)]
    pub shutdown_sessions_on_down: bool,
    /// `on-marked-up shutdown-backup-sessions`.
    #[serde(default)]
    pub shutdown_backup_sessions_on_up: bool,
    /// TLS to the server, for its traffic and/or its checks.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tls: Option<ServerTls>,
    /// The PROXY protocol header sent first on each connection (`send-proxy`,
    /// `send-proxy-v2`); on the checks' too with `check_proxy` (`check-send-proxy`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub proxy: Option<ProxyProto>,
    #[serde(default)]
    pub check_proxy: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub agent: Option<AgentCheck>,
    /// Its number in the backend (`id N`; otherwise numbered in order, skipping the
    /// numbers given): `sid` in `show stat`, `server_id` in stick tables.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<u32>,
    /// `track [BACKEND/]SERVER`: the server is up or down as that one is (its checks
    /// decide for both); `BACKEND/SERVER`, the backend filled in.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub track: Option<String>,
    /// `source ADDR[:PORT]`: the address connections to the server come from.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source_addr: Option<SocketAddr>,
    /// Idle connections to the server kept for reuse at most (`pool-max-conn`; `None`:
    /// the load balancer's own bound).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pool_max: Option<u32>,
    /// After coming back from down or maintenance, the server's weight grows from
    /// nearly nothing to its own over this time (`slowstart`; not when the load
    /// balancer starts, and only for round robin, leastconn and random).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub slowstart: Option<Dur>,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub source: String,
}

/// A version of the PROXY protocol.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ProxyProto {
    V1,
    V2,
}

fn one() -> u32 {
    1
}
fn ten() -> u32 {
    10
}

/// `option redispatch [interval]`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Redispatch {
    /// HAProxy's interval: positive P = on every Pth retry, negative N = on the Nth retry
    /// before the last (-1, the default, = on the last retry).
    pub interval: i32,
}

/// A server pool (HAProxy `backend`, or the back half of a `listen`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Backend {
    pub name: String,
    /// The proxy's number (`id N`, else its place in the configuration, as HAProxy
    /// numbers them): `iid` in `show stat`, `be_id` in `show servers state`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<u32>,
    #[serde(default)]
    pub mode: Mode,
    #[serde(default)]
    pub balance: Balance,
    /// What `balance uri|url_param|hdr` hashes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hash_key: Option<HashKey>,
    /// `hash-type consistent`.
    #[serde(default)]
    pub hash_consistent: bool,
    #[serde(default)]
    pub server: Vec<Server>,
    #[serde(default)]
    pub timeout_connect: Option<Dur>,
    #[serde(default)]
    pub timeout_server: Option<Dur>,
    #[serde(default)]
    pub timeout_queue: Option<Dur>,
    #[serde(default)]
    pub timeout_check: Option<Dur>,
    #[serde(default)]
    pub timeout_tunnel: Option<Dur>,
    #[serde(default)]
    pub retries: u32,
    #[serde(default)]
    pub redispatch: Option<Redispatch>,
    /// `option nolinger`: a server connection it closes is reset, not lingering.
    #[serde(default)]
    pub nolinger: bool,
    /// TCP keep-alive on server connections (`option tcpka` / `srvtcpka`).
    #[serde(default)]
    pub srvtcpka: bool,
    #[serde(default = "tcp_check")]
    pub check: CheckKind,
    /// `option allbackups`: balance over all backups instead of using only the first.
    #[serde(default)]
    pub allbackups: bool,
    /// `option http-server-close`: do not keep server connections for reuse.
    #[serde(default)]
    pub http_server_close: bool,
    /// `option httpclose`: the client's connection too closes after each answer.
    #[serde(default)]
    pub httpclose: bool,
    /// `http-reuse`: which idle server connections a request may take.
    #[serde(default)]
    pub reuse: HttpReuse,
    /// `source ADDR[:PORT]`: the address its servers' connections come from (a
    /// server's own `source` first).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source_addr: Option<SocketAddr>,
    /// A backend's answers by status (as a frontend's), before its frontend's.
    #[serde(default, skip_serializing_if = "std::collections::BTreeMap::is_empty")]
    pub errorfiles: std::collections::BTreeMap<u16, Return>,
    #[serde(default)]
    pub forwardfor: Option<ForwardFor>,
    /// `option originalto`: the address the client connected to, in a header
    /// (`X-Original-To`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub originalto: Option<ForwardFor>,
    /// A `backend` section's own log targets (else it logs where the frontends that
    /// use it do).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub log: Vec<LogTarget>,
    #[serde(default)]
    pub log_health_checks: bool,
    /// ACLs of a `backend` section (for its own rules).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub acl: Vec<Acl>,
    /// A `backend` section's `http-request` rules: applied after the frontend's, once
    /// the request is routed here.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub http_request: Vec<HttpRule>,
    /// A `backend` section's `http-response` rules: applied before the frontend's.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub http_response: Vec<HttpRule>,
    /// A `backend` section's `http-after-response` rules, before the frontend's.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub http_after_response: Vec<HttpRule>,
    /// A `backend` section's stats page: requests routed there get it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stats: Option<StatsPage>,
    /// A `backend` section's `tcp-request content` rules, once routed there.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tcp_request: Vec<TcpRule>,
    /// `tcp-response content` rules: on each response (in `mode http`, before the
    /// `http-response` rules; in `mode tcp`, once the server is connected).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tcp_response: Vec<TcpRule>,
    /// A `backend` section's `redirect` rules, after its `http-request` rules.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub redirect: Vec<HttpRule>,
    /// Persistence by an inserted cookie.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cookie: Option<CookiePersist>,
    /// `stick on|match|store-request|store-response` rules, in order: `stick on dst`
    /// with a `stick-table type ip` keeps every client of a Galera VIP on one writer
    /// while it is up; `stick on req.cook(JSESSIONID)` with `stick store-response
    /// res.cook(JSESSIONID)` keeps an application session on its server.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub stick: Vec<StickRule>,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub source: String,
}

fn tcp_check() -> CheckKind {
    CheckKind::Tcp
}

impl Config {
    pub fn backend(&self, name: &str) -> Option<&Backend> {
        self.backends.iter().find(|b| b.name == name)
    }
}
