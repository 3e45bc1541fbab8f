//! Reads HAProxy's configuration language into the typed model.
//!
//! Every directive is either understood (it changes the model) or refused with the place
//! (`file:line`), the directive and the reason. Nothing is skipped silently: a directive
//! that halo knows but does not implement is an error that says so, so an operator never
//! runs a configuration that does something else than what was written.

use super::lex::{split_line, Word};
use super::*;
use std::collections::HashMap;
use std::net::ToSocketAddrs;

/// One refused directive: where, which, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    /// `file:line`.
    pub place: String,
    pub directive: String,
    pub reason: String,
}

impl std::fmt::Display for ConfigError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.directive.is_empty() {
            write!(f, "{}: {}", self.place, self.reason)
        } else {
            write!(f, "{}: `{}`: {}", self.place, self.directive, self.reason)
        }
    }
}

/// All errors of one file (the reader does not stop at the first).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("HALO-E100 invalid load balancer configuration ({} error(s)):\n{}", .0.len(), list(.0))]
pub struct ConfigErrors(pub Vec<ConfigError>);

fn list(v: &[ConfigError]) -> String {
    v.iter()
        .map(|e| format!("  {e}"))
        .collect::<Vec<_>>()
        .join("\n")
}

/// The result of reading a file: the model plus warnings (accepted, but worth knowing).
#[derive(Debug, Clone)]
pub struct Parsed {
    pub config: Config,
    pub warnings: Vec<ConfigError>,
}

/// Reads HAProxy configuration text. `file` names it in messages.
pub fn parse(text: &str, file: &str) -> Result<Parsed, ConfigErrors> {
    let env = |n: &str| std::env::var(n).ok();
    parse_with_env(text, file, &env)
}

/// As [`parse`], with `${NAME}` resolved by `env`.
pub fn parse_with_env(
    text: &str,
    file: &str,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<Parsed, ConfigErrors> {
    let mut p = Parser {
        file,
        errors: Vec::new(),
        warnings: Vec::new(),
        global: Global::default(),
        ..Default::default()
    };
    p.http_errors = read_http_errors(text, file, env, &mut p.errors);
    for (i, line) in text.lines().enumerate() {
        let lineno = i + 1;
        match split_line(line, env) {
            Ok(words) if words.is_empty() => {}
            Ok(words) => p.line(lineno, &words),
            Err(e) => p.errors.push(ConfigError {
                place: format!("{file}:{lineno}:{}", e.col),
                directive: String::new(),
                reason: e.reason,
            }),
        }
    }
    p.close_section();
    let config = p.finish();
    if p.errors.is_empty() {
        Ok(Parsed {
            config,
            warnings: p.warnings,
        })
    } else {
        Err(ConfigErrors(p.errors))
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
enum Kind {
    #[default]
    Global,
    Defaults,
    Listen,
    Frontend,
    Backend,
}

impl Kind {
    fn word(self) -> &'static str {
        match self {
            Kind::Global => "global",
            Kind::Defaults => "defaults",
            Kind::Listen => "listen",
            Kind::Frontend => "frontend",
            Kind::Backend => "backend",
        }
    }
    fn has_front(self) -> bool {
        matches!(self, Kind::Defaults | Kind::Listen | Kind::Frontend)
    }
    fn has_back(self) -> bool {
        matches!(self, Kind::Defaults | Kind::Listen | Kind::Backend)
    }
}

/// Server keywords that `default-server` may set.
#[derive(Debug, Clone, Default)]
struct ServerDefaults {
    weight: Option<u32>,
    backup: Option<bool>,
    disabled: Option<bool>,
    maxconn: Option<u32>,
    check: Option<bool>,
    inter: Option<Dur>,
    fastinter: Option<Dur>,
    downinter: Option<Dur>,
    rise: Option<u32>,
    fall: Option<u32>,
    port: Option<u16>,
    addr: Option<IpAddr>,
    observe: Option<Observe>,
    error_limit: Option<u32>,
    on_error: Option<OnError>,
    shutdown_on_down: Option<bool>,
    shutdown_backup_on_up: Option<bool>,
    cookie: Option<String>,
    ssl: Option<bool>,
    check_ssl: Option<bool>,
    verify: Option<bool>,
    ca_file: Option<String>,
    /// `verifyhost NAME`, or `no-verifyhost` (`Some(None)`).
    verifyhost: Option<Option<String>>,
    sni: Option<crate::sample::Expr>,
    alpn: Option<Vec<String>>,
    check_sni: Option<String>,
    check_alpn: Option<Vec<String>>,
    crt: Option<String>,
    tls_min: Option<u8>,
    tls_max: Option<u8>,
    ciphers: Option<Vec<String>>,
    ciphersuites: Option<Vec<String>>,
    proxy: Option<Option<ProxyProto>>,
    check_proxy: Option<bool>,
    agent_check: Option<bool>,
    agent_port: Option<u16>,
    agent_addr: Option<IpAddr>,
    agent_inter: Option<Dur>,
    agent_send: Option<String>,
    slowstart: Option<Dur>,
    /// `pool-max-conn N` (-1: no bound of its own).
    pool_max: Option<Option<u32>>,
    track: Option<String>,
    id: Option<u32>,
    source_addr: Option<SocketAddr>,
}

impl ServerDefaults {
    fn overlay(&mut self, o: &ServerDefaults) {
        macro_rules! take {
            ($($f:ident),*) => { $( if o.$f.is_some() { self.$f = o.$f.clone(); } )* };
        }
        take!(
            weight,
            backup,
            disabled,
            maxconn,
            check,
            inter,
            fastinter,
            downinter,
            rise,
            fall,
            port,
            addr,
            observe,
            error_limit,
            on_error,
            shutdown_on_down,
            shutdown_backup_on_up,
            cookie,
            ssl,
            check_ssl,
            verify,
            ca_file,
            verifyhost,
            sni,
            alpn,
            check_sni,
            check_alpn,
            crt,
            tls_min,
            tls_max,
            ciphers,
            ciphersuites,
            proxy,
            check_proxy,
            agent_check,
            agent_port,
            agent_addr,
            agent_inter,
            agent_send,
            slowstart,
            pool_max,
            track,
            id,
            source_addr
        );
    }
}

/// The settings of a defaults/listen/frontend/backend section while it is being read.
#[derive(Debug, Clone, Default)]
struct Draft {
    kind: Kind,
    name: String,
    /// `id N`.
    id: Option<u32>,
    source: String,
    mode: Option<Mode>,
    binds: Vec<Bind>,
    maxconn: Option<u32>,
    timeouts: HashMap<&'static str, Dur>,
    clitcpka: Option<bool>,
    nolinger: Option<bool>,
    srvtcpka: Option<bool>,
    disable_h2_upgrade: Option<bool>,
    log_format: Option<LogFormat>,
    /// `log-format FMT` (`Some(None)`: an `option httplog|tcplog` after it wins).
    log_template: Option<Option<LogFmt>>,
    unique_id_format: Option<LogFmt>,
    unique_id_header: Option<String>,
    captures: Captures,
    hash_key: Option<HashKey>,
    dontlognull: Option<bool>,
    dontlog_normal: Option<bool>,
    log_separate_errors: Option<bool>,
    tcp_smart_accept: Option<bool>,
    log: Option<Vec<LogTarget>>,
    forwardfor: Option<Option<ForwardFor>>,
    originalto: Option<Option<ForwardFor>>,
    acls: Vec<Acl>,
    use_backends: Vec<UseBackend>,
    http_rules: Vec<HttpRule>,
    http_response_rules: Vec<HttpRule>,
    after_rules: Vec<HttpRule>,
    tcp_rules: Vec<TcpRule>,
    /// `tcp-response content` rules.
    tcp_response_rules: Vec<TcpRule>,
    redirect_rules: Vec<HttpRule>,
    /// `stick-table`: size, expire.
    stick_table: Option<TableSpec>,
    inspect_delay: Option<Dur>,
    /// `stick` rules (a table left empty: the section's own).
    stick_rules: Vec<StickRule>,
    cookie: Option<CookiePersist>,
    monitor_uri: Option<String>,
    monitor_fail: Vec<HttpRule>,
    default_backend: Option<String>,
    stats_enabled: bool,
    stats: StatsDraft,
    disabled: bool,
    balance: Option<Balance>,
    hash_consistent: Option<bool>,
    servers: Vec<Server>,
    server_defaults: ServerDefaults,
    retries: Option<u32>,
    redispatch: Option<Option<Redispatch>>,
    check: Option<CheckKind>,
    http_send: HttpSend,
    http_expect: Option<HttpExpect>,
    tcp_check: Vec<TcpCheckStep>,
    allbackups: Option<bool>,
    http_server_close: Option<bool>,
    httpclose: Option<bool>,
    reuse: Option<HttpReuse>,
    source_addr: Option<SocketAddr>,
    buffer_request: Option<bool>,
    errorfiles: std::collections::BTreeMap<u16, Return>,
    log_health_checks: Option<bool>,
    anon_acls: usize,
}

#[derive(Debug, Clone, Default)]
struct StatsDraft {
    uri: Option<String>,
    realm: Option<String>,
    auth: Vec<String>,
    refresh: Option<Dur>,
    hide_version: bool,
    show_node: bool,
    show_legends: bool,
    admin: Option<StatsAdmin>,
    any: bool,
}

#[derive(Debug, Clone, Default, PartialEq)]
struct HttpSend {
    method: Option<String>,
    uri: Option<String>,
    version: Option<String>,
    host: Option<String>,
    headers: Vec<(String, String)>,
}

impl Draft {
    /// Whether it has TCP or HTTP rules (which proxies started from it inherit).
    fn has_rules(&self) -> bool {
        !(self.http_rules.is_empty()
            && self.http_response_rules.is_empty()
            && self.after_rules.is_empty()
            && self.tcp_rules.is_empty()
            && self.tcp_response_rules.is_empty())
    }
}

#[derive(Default)]
struct Parser<'a> {
    file: &'a str,
    errors: Vec<ConfigError>,
    warnings: Vec<ConfigError>,
    global: Global,
    global_seen: bool,
    current: Option<Draft>,
    in_global: bool,
    defaults: Draft,
    /// Named `defaults` sections, for `from NAME`; and, of those with rules, where
    /// they are and whether a frontend, a backend uses them.
    named_defaults: HashMap<String, Draft>,
    rules_users: HashMap<String, (bool, bool)>,
    proxies: Vec<Draft>,
    /// `global` TLS settings that listeners start from.
    tls: TlsDefaults,
    userlists: Vec<Userlist>,
    /// Inside a `userlist` section (the last of `userlists`).
    in_userlist: bool,
    /// `http-errors` sections, read before the rest (proxies may name one defined
    /// further down).
    http_errors: HttpErrors,
}

/// `http-errors NAME` sections: their answers by status.
type HttpErrors = std::collections::HashMap<String, std::collections::BTreeMap<u16, Return>>;

/// What answers of the load balancer's own are read with: the buffer size they must
/// fit in, the `http-errors` sections they may name.
#[derive(Clone, Copy)]
struct Replies<'a> {
    bufsize: usize,
    sections: &'a HttpErrors,
}

/// The words that open a section (and so close the one before).
const SECTION_WORDS: &[&str] = &[
    "global",
    "defaults",
    "listen",
    "frontend",
    "backend",
    "userlist",
    "http-errors",
    "peers",
    "resolvers",
    "mailers",
    "program",
    "ring",
    "cache",
    "fcgi-app",
];

/// Reads every `http-errors` section of a file (its errors go with the rest).
fn read_http_errors(
    text: &str,
    file: &str,
    env: &dyn Fn(&str) -> Option<String>,
    errors: &mut Vec<ConfigError>,
) -> HttpErrors {
    let mut out = HttpErrors::new();
    let mut current: Option<String> = None;
    let bufsize = Global::default().bufsize;
    for (i, line) in text.lines().enumerate() {
        let Ok(words) = split_line(line, env) else {
            continue;
        };
        let Some(kw) = words.first().map(|w| w.text.as_str()) else {
            continue;
        };
        let mut err = |reason: String| {
            errors.push(ConfigError {
                place: format!("{file}:{}", i + 1),
                directive: kw.to_string(),
                reason,
            })
        };
        if SECTION_WORDS.contains(&kw) {
            current = None;
            if kw == "http-errors" {
                match words.get(1) {
                    None => err("an `http-errors` section needs a name".into()),
                    Some(n) if out.contains_key(&n.text) => {
                        err(format!("http-errors `{}` is defined twice", n.text))
                    }
                    Some(n) => {
                        out.insert(n.text.clone(), Default::default());
                        current = Some(n.text.clone());
                    }
                }
            }
            continue;
        }
        let Some(name) = &current else { continue };
        let r = match kw {
            "errorfile" => (|| {
                let code: u16 = num(words.get(1), "status code")?;
                let path = &words.get(2).ok_or("missing file")?.text;
                no_more(&words, 3)?;
                Ok((code, read_errorfile(code, path, bufsize)?))
            })(),
            o => Err(format!(
                "`{o}` in an `http-errors` section (only `errorfile CODE FILE` is)"
            )),
        };
        match r {
            Ok((code, ret)) => {
                if let Some(m) = out.get_mut(name) {
                    m.insert(code, ret);
                }
            }
            Err(e) => err(e),
        }
    }
    out
}

/// The `global` section's TLS settings for listeners.
#[derive(Debug, Clone)]
struct TlsDefaults {
    crt_base: Option<std::path::PathBuf>,
    ca_base: Option<std::path::PathBuf>,
    /// `ssl-server-verify`: servers' certificates verified unless a server says
    /// `verify none` (HAProxy's default: required).
    server_verify: bool,
    server_min_version: u8,
    server_max_version: u8,
    server_ciphers: Option<Vec<String>>,
    server_ciphersuites: Option<Vec<String>>,
    min_version: u8,
    max_version: u8,
    /// TLS 1.2 suites (`ssl-default-bind-ciphers`), TLS 1.3 suites
    /// (`ssl-default-bind-ciphersuites`); `None` = rustls's own.
    ciphers: Option<Vec<String>>,
    ciphersuites: Option<Vec<String>>,
}

impl Default for TlsDefaults {
    fn default() -> TlsDefaults {
        TlsDefaults {
            crt_base: None,
            ca_base: None,
            server_verify: true,
            server_min_version: 12,
            server_max_version: 13,
            server_ciphers: None,
            server_ciphersuites: None,
            min_version: 12,
            max_version: 13,
            ciphers: None,
            ciphersuites: None,
        }
    }
}

/// A TLS listener's suites: the TLS 1.2 ones, then the TLS 1.3 ones; each list either
/// given or rustls's own for its version.
fn suites(tls12: &Option<Vec<String>>, tls13: &Option<Vec<String>>) -> Vec<String> {
    if tls12.is_none() && tls13.is_none() {
        return Vec::new();
    }
    let own = |v13: bool| -> Vec<String> {
        super::tls::openssl_suites("DEFAULT", v13).unwrap_or_default()
    };
    let mut all = tls13.clone().unwrap_or_else(|| own(true));
    all.extend(tls12.clone().unwrap_or_else(|| own(false)));
    all
}

type R<T> = Result<T, String>;

fn num<T: std::str::FromStr>(w: Option<&Word>, what: &str) -> R<T> {
    let w = w.ok_or_else(|| format!("missing {what}"))?;
    w.text
        .parse::<T>()
        .map_err(|_| format!("`{}` is not a valid {what}", w.text))
}

fn time(w: Option<&Word>) -> R<Dur> {
    let w = w.ok_or("missing time value")?;
    Dur::parse(&w.text)
}

fn no_more(words: &[Word], from: usize) -> R<()> {
    match words.get(from) {
        None => Ok(()),
        Some(w) => Err(format!("unexpected extra argument `{}`", w.text)),
    }
}

const SYSLOG_FACILITIES: &[&str] = &[
    "kern", "user", "mail", "daemon", "auth", "syslog", "lpr", "news", "uucp", "cron", "auth2",
    "ftp", "ntp", "audit", "alert", "cron2", "local0", "local1", "local2", "local3", "local4",
    "local5", "local6", "local7",
];

const SECTIONS_REFUSED: &[(&str, &str)] = &[
    (
        "peers",
        "stick-table peers are not supported (halo replicates state through the cluster)",
    ),
    (
        "resolvers",
        "DNS resolvers are not supported; server addresses are resolved once at load",
    ),
    ("mailers", "mail alerts are not supported"),
    (
        "program",
        "the master-worker `program` section is not supported; run programs as cluster resources",
    ),
    ("ring", "log rings are not supported"),
    ("cache", "the HTTP cache is not supported"),
    ("fcgi-app", "FastCGI is not supported"),
];

impl<'a> Parser<'a> {
    fn err(&mut self, line: usize, directive: &str, reason: impl Into<String>) {
        self.errors.push(ConfigError {
            place: format!("{}:{}", self.file, line),
            directive: directive.to_string(),
            reason: reason.into(),
        });
    }

    /// A server's TLS settings: its own words over `default-server`'s over the globals'.
    fn server_tls(&self, sd: &ServerDefaults) -> R<Option<ServerTls>> {
        let traffic = sd.ssl == Some(true);
        // As HAProxy: a server's `ssl` makes its checks TLS too, unless they go to
        // another port or address.
        let checks = sd
            .check_ssl
            .unwrap_or(traffic && sd.port.is_none() && sd.addr.is_none());
        if !traffic && !checks {
            return Ok(None);
        }
        let verify = sd.verify.unwrap_or(self.tls.server_verify);
        let ca_file = sd.ca_file.as_deref().map(|f| {
            let p = std::path::Path::new(f);
            match &self.tls.ca_base {
                Some(b) if p.is_relative() && f != "@system-ca" => b.join(p),
                _ => p.to_path_buf(),
            }
        });
        let ca_pem = match &ca_file {
            Some(f) => Some(super::tls::read_cas(f)?),
            None if verify => {
                return Err(
                    "verify is enabled by default but no CA file is given (`ca-file`): \
                    on a network where the server's certificate is trusted without checking, \
                    say `verify none` on the server line or `ssl-server-verify none` in `global`"
                        .into(),
                )
            }
            None => None,
        };
        let (crt, crt_pem) = match &sd.crt {
            Some(c) => {
                let mut files = certificate_files(c, self.tls.crt_base.as_deref())?;
                if files.len() != 1 {
                    return Err(format!(
                        "`crt {c}`: a server's client certificate is one file"
                    ));
                }
                files
                    .pop()
                    .map_or((None, None), |(p, b)| (Some(p), Some(b)))
            }
            None => (None, None),
        };
        let min_version = sd.tls_min.unwrap_or(self.tls.server_min_version);
        let max_version = sd.tls_max.unwrap_or(self.tls.server_max_version);
        if min_version > max_version {
            return Err("no TLS version is left between ssl-min-ver and ssl-max-ver".into());
        }
        let ciphers = sd
            .ciphers
            .clone()
            .or_else(|| self.tls.server_ciphers.clone());
        let ciphersuites = sd
            .ciphersuites
            .clone()
            .or_else(|| self.tls.server_ciphersuites.clone());
        Ok(Some(ServerTls {
            traffic,
            checks,
            verify,
            ca_file,
            verifyhost: sd.verifyhost.clone().flatten(),
            sni: sd.sni.clone(),
            alpn: sd.alpn.clone().unwrap_or_default(),
            check_sni: sd.check_sni.clone(),
            check_alpn: sd.check_alpn.clone().unwrap_or_default(),
            min_version,
            max_version,
            suites: suites(&ciphers, &ciphersuites),
            crt,
            ca_pem,
            crt_pem,
        }))
    }

    fn replies(&self) -> Replies<'_> {
        Replies {
            bufsize: self.global.bufsize,
            sections: &self.http_errors,
        }
    }

    fn warn(&mut self, place: &str, directive: &str, reason: impl Into<String>) {
        self.warnings.push(ConfigError {
            place: place.to_string(),
            directive: directive.to_string(),
            reason: reason.into(),
        });
    }

    fn close_section(&mut self) {
        if let Some(d) = self.current.take() {
            if d.kind == Kind::Defaults {
                if !d.name.is_empty() && d.name != "\u{0}skip" {
                    self.named_defaults.insert(d.name.clone(), d.clone());
                }
                self.defaults = d;
            } else {
                self.proxies.push(d);
            }
        }
    }

    fn line(&mut self, lineno: usize, words: &[Word]) {
        let kw = words[0].text.as_str();
        let place = format!("{}:{}", self.file, lineno);
        match kw {
            "global" => {
                self.close_section();
                self.in_userlist = false;
                if words.len() > 1 {
                    self.err(lineno, kw, "`global` takes no argument");
                }
                self.in_global = true;
                self.global_seen = true;
                return;
            }
            "userlist" => {
                self.close_section();
                self.in_global = false;
                let Some(name) = words.get(1) else {
                    self.err(lineno, kw, "a `userlist` section needs a name");
                    return;
                };
                if self.userlists.iter().any(|u| u.name == name.text) {
                    self.err(
                        lineno,
                        kw,
                        format!("userlist `{}` is defined twice", name.text),
                    );
                }
                self.userlists.push(Userlist {
                    name: name.text.clone(),
                    users: Vec::new(),
                    groups: Vec::new(),
                    source: place,
                });
                self.in_userlist = true;
                return;
            }
            "defaults" | "listen" | "frontend" | "backend" => {
                self.close_section();
                self.in_global = false;
                self.in_userlist = false;
                let kind = match kw {
                    "defaults" => Kind::Defaults,
                    "listen" => Kind::Listen,
                    "frontend" => Kind::Frontend,
                    _ => Kind::Backend,
                };
                // `defaults [NAME] [from BASE]`, `frontend NAME [from BASE]`.
                let (name, rest) = match words.get(1).map(|w| w.text.as_str()) {
                    Some("from") | None => (String::new(), &words[1..]),
                    Some(n) => (n.to_string(), &words[2..]),
                };
                if kind != Kind::Defaults && name.is_empty() {
                    self.err(lineno, kw, format!("a `{kw}` section needs a name"));
                }
                let base = match rest {
                    [] => None,
                    [f, b] if f.text == "from" => Some(b.text.clone()),
                    [f] if f.text == "from" => {
                        self.err(lineno, kw, "`from` needs the name of a defaults section");
                        None
                    }
                    [w, ..] if kind == Kind::Listen || kind == Kind::Frontend => {
                        // `listen name addr:port` (old syntax): a bind on the section line.
                        match parse_bind_addrs(&w.text) {
                            Ok(addrs) => {
                                let mut d = self.new_draft(kind, &name, &place, None);
                                for a in addrs {
                                    d.binds.push(Bind {
                                        addr: a,
                                        fd: None,
                                        name: None,
                                        backlog: None,
                                        v6only: false,
                                        accept_proxy: false,
                                        tls: None,
                                        source: place.clone(),
                                    });
                                }
                                self.current = Some(d);
                                return;
                            }
                            Err(e) => {
                                self.err(lineno, kw, e);
                                None
                            }
                        }
                    }
                    [w, ..] => {
                        self.err(
                            lineno,
                            kw,
                            format!("unexpected extra argument `{}`", w.text),
                        );
                        None
                    }
                };
                if let Some(b) = &base {
                    if !self.named_defaults.contains_key(b) {
                        self.err(
                            lineno,
                            kw,
                            format!("no defaults section named `{b}` above this line"),
                        );
                    }
                }
                let d = if kind == Kind::Defaults {
                    let mut d = match base.as_ref().and_then(|b| self.named_defaults.get(b)) {
                        Some(b) if b.has_rules() => {
                            self.err(lineno, kw, format!("defaults `{}` has TCP/HTTP rules: it cannot be the base of another defaults section", b.name));
                            Draft::default()
                        }
                        Some(b) => b.clone(),
                        None => Draft::default(),
                    };
                    d.kind = kind;
                    d.name = name;
                    d.source = place;
                    d
                } else {
                    if let Err(e) = self.use_defaults(kind, base.as_deref()) {
                        self.err(lineno, kw, e);
                    }
                    self.new_draft(kind, &name, &place, base.as_deref())
                };
                self.current = Some(d);
                return;
            }
            _ => {}
        }
        let refused = SECTIONS_REFUSED.iter().find(|(s, _)| *s == kw);
        if refused.is_some() || kw == "http-errors" {
            self.close_section();
            self.in_global = false;
            self.in_userlist = false;
            if let Some((_, why)) = refused {
                self.err(lineno, kw, format!("section not supported: {why}"));
            }
            // Skip its content: lines until the next section are attributed to nothing.
            self.current = Some(Draft {
                kind: Kind::Defaults,
                name: "\u{0}skip".into(),
                ..Default::default()
            });
            return;
        }
        if kw.starts_with('.') {
            self.err(
                lineno,
                kw,
                "conditional blocks and config directives (`.if`, `.diag`, ...) are not supported",
            );
            return;
        }
        if self.in_global {
            if let Err(e) = self.global_line(words) {
                self.err(lineno, &directive_name(words), e);
            }
            return;
        }
        if self.in_userlist {
            if let Err(e) = self.userlist_line(words) {
                self.err(lineno, &directive_name(words), e);
            }
            return;
        }
        let Some(mut d) = self.current.take() else {
            self.err(lineno, kw, "directive outside of any section (expected `global`, `defaults`, `listen`, `frontend` or `backend` first)");
            return;
        };
        if d.name == "\u{0}skip" && d.kind == Kind::Defaults {
            self.current = Some(d);
            return;
        }
        let res = self.proxy_line(&mut d, words, &place);
        self.current = Some(d);
        if let Err(e) = res {
            self.err(lineno, &directive_name(words), e);
        }
    }

    /// A proxy's draft, from the defaults section named `base`, else the last one: its
    /// settings and its rules (which run before the proxy's own).
    fn new_draft(&self, kind: Kind, name: &str, place: &str, base: Option<&str>) -> Draft {
        let mut d = base
            .and_then(|b| self.named_defaults.get(b))
            .unwrap_or(&self.defaults)
            .clone();
        d.kind = kind;
        d.name = name.to_string();
        d.id = None;
        d.source = place.to_string();
        d.binds.clear();
        d.servers.clear();
        // The defaults' rules stay, and the anonymous ACLs they use.
        d.acls.retain(|a| a.name.starts_with("<anonymous-"));
        d.use_backends.clear();
        if kind == Kind::Backend {
            d.tcp_rules.retain(|r| r.stage == TcpStage::Content);
        }
        d.redirect_rules.clear();
        d.stick_table = None;
        d.stick_rules.clear();
        d.monitor_uri = None;
        d.monitor_fail.clear();
        d.stats_enabled = d.stats.any;
        d.disabled = false;
        d
    }

    /// Checks that a proxy may start from these defaults (`base`, else the last ones):
    /// HAProxy's rules for defaults sections with TCP/HTTP rules.
    fn use_defaults(&mut self, kind: Kind, base: Option<&str>) -> R<()> {
        let d = match base {
            Some(b) => match self.named_defaults.get(b) {
                Some(d) => d,
                None => return Ok(()),
            },
            None => &self.defaults,
        };
        if !d.has_rules() {
            return Ok(());
        }
        let which = format!("defaults `{}` ({})", d.name, d.source);
        if kind == Kind::Listen {
            return Err(format!("{which} has TCP/HTTP rules: a listen section cannot start from it (use a frontend and a backend)"));
        }
        if kind == Kind::Backend && d.tcp_rules.iter().any(|r| r.stage != TcpStage::Content) {
            return Err(format!("{which} has `tcp-request connection|session` rules: a backend cannot start from it"));
        }
        if kind == Kind::Frontend && !d.tcp_response_rules.is_empty() {
            return Err(format!(
                "{which} has `tcp-response` rules: a frontend cannot start from it"
            ));
        }
        let users = self.rules_users.entry(d.name.clone()).or_default();
        if kind == Kind::Frontend {
            users.0 = true;
        } else {
            users.1 = true;
        }
        if users.0 && users.1 {
            return Err(format!(
                "{which} has TCP/HTTP rules: frontends and backends cannot both start from it"
            ));
        }
        Ok(())
    }

    /// `user NAME password HASH|insecure-password PW [groups G,...]` or
    /// `group NAME [users U,...]` in a `userlist` section.
    fn userlist_line(&mut self, w: &[Word]) -> R<()> {
        let Some(list) = self.userlists.last_mut() else {
            return Err("outside of a userlist".into());
        };
        let split = |v: &Word| -> Vec<String> {
            v.text
                .split(',')
                .filter(|x| !x.is_empty())
                .map(String::from)
                .collect()
        };
        match w[0].text.as_str() {
            "user" => {
                let name = w.get(1).ok_or("missing user name")?.text.clone();
                let mut user = User {
                    name,
                    password: String::new(),
                    insecure: false,
                    groups: Vec::new(),
                };
                let mut have_password = false;
                let mut i = 2;
                while i < w.len() {
                    let v = w
                        .get(i + 1)
                        .ok_or_else(|| format!("missing value after `{}`", w[i].text))?;
                    match w[i].text.as_str() {
                        "password" => {
                            if !v.text.starts_with('$') || pwhash::unix::crypt("", &v.text).is_err()
                            {
                                return Err(format!("`{}` is not a crypt(3) hash halo can check ($1$, $5$, $6$, $2y$)", v.text));
                            }
                            user.password = v.text.clone();
                            have_password = true;
                        }
                        "insecure-password" => {
                            user.password = v.text.clone();
                            user.insecure = true;
                            have_password = true;
                        }
                        "groups" => user.groups.extend(split(v)),
                        o => {
                            return Err(format!(
                                "unknown user option `{o}` (password, insecure-password, groups)"
                            ))
                        }
                    }
                    i += 2;
                }
                if !have_password {
                    return Err(format!("user `{}` has no password", user.name));
                }
                list.users.push(user);
            }
            "group" => {
                let name = w.get(1).ok_or("missing group name")?.text.clone();
                let users = match (w.get(2).map(|x| x.text.as_str()), w.get(3)) {
                    (None, _) => Vec::new(),
                    (Some("users"), Some(v)) => split(v),
                    _ => return Err("`group NAME [users U1,U2]`".into()),
                };
                list.groups.push((name, users));
            }
            o => {
                return Err(format!(
                    "unknown directive in a userlist: `{o}` (user, group)"
                ))
            }
        }
        Ok(())
    }

    fn global_line(&mut self, w: &[Word]) -> R<()> {
        let g = &mut self.global;
        match w[0].text.as_str() {
            "daemon" => {
                no_more(w, 1)?;
                g.daemon = true;
            }
            "pidfile" => {
                g.pidfile = Some(w.get(1).ok_or("missing file name")?.text.clone().into());
                no_more(w, 2)?;
            }
            "user" => {
                g.user = Some(w.get(1).ok_or("missing user name")?.text.clone());
                no_more(w, 2)?;
            }
            "group" => {
                g.group = Some(w.get(1).ok_or("missing group name")?.text.clone());
                no_more(w, 2)?;
            }
            "uid" => {
                g.uid = Some(num(w.get(1), "user id")?);
                no_more(w, 2)?;
            }
            "gid" => {
                g.gid = Some(num(w.get(1), "group id")?);
                no_more(w, 2)?;
            }
            "chroot" => {
                g.chroot = Some(w.get(1).ok_or("missing directory")?.text.clone().into());
                no_more(w, 2)?;
            }
            "maxconn" => {
                g.maxconn = num(w.get(1), "connection count")?;
                if g.maxconn == 0 {
                    return Err("maxconn must be at least 1".into());
                }
                no_more(w, 2)?;
            }
            "nbthread" => {
                let n: usize = num(w.get(1), "thread count")?;
                if n == 0 || n > 1024 {
                    return Err("nbthread must be between 1 and 1024".into());
                }
                g.nbthread = Some(n);
                no_more(w, 2)?;
            }
            "nbproc" => {
                let n: u32 = num(w.get(1), "process count")?;
                if n != 1 {
                    return Err("halo runs one process with threads; use `nbthread`".into());
                }
            }
            "log" => {
                let t = parse_log(w)?;
                match t {
                    Some(t) => g.log.push(t),
                    None => return Err("`log global` is only meaningful in a proxy section".into()),
                }
            }
            "stats" => match w.get(1).map(|x| x.text.as_str()) {
                Some("socket") => {
                    let path = w.get(2).ok_or("missing socket path")?.text.clone();
                    if let Some(n) = path.strip_prefix("fd@") {
                        // SAFETY: fcntl(F_GETFD) only asks whether the descriptor is open.
                        if n.parse::<i32>().map_or(true, |fd| unsafe { libc::fcntl(fd, libc::F_GETFD) } < 0) {
                            return Err(format!("`{path}`: this process has no open descriptor {n}"));
                        }
                    } else if path.contains(':') && !path.starts_with('/') {
                        return Err("only Unix socket paths and inherited sockets (`fd@N`) are supported for the runtime API".into());
                    }
                    let mut s = StatsSocket { path: path.into(), mode: None, level: "admin".into(), owner: None, group: None };
                    let mut i = 3;
                    while i < w.len() {
                        match w[i].text.as_str() {
                            "mode" => {
                                let m = w.get(i + 1).ok_or("missing mode")?;
                                s.mode = Some(u32::from_str_radix(&m.text, 8).map_err(|_| format!("`{}` is not an octal mode", m.text))?);
                                i += 2;
                            }
                            "level" => {
                                let l = w.get(i + 1).ok_or("missing level")?.text.clone();
                                if !["user", "operator", "admin"].contains(&l.as_str()) {
                                    return Err(format!("unknown level `{l}` (user, operator, admin)"));
                                }
                                s.level = l;
                                i += 2;
                            }
                            // What it is for, a reload without closing the listeners,
                            // halo does in-process: nothing to hand over.
                            "expose-fd" if w.get(i + 1).is_some_and(|x| x.text == "listeners") => i += 2,
                            "expose-fd" => return Err("`expose-fd` takes `listeners`".into()),
                            o @ ("user" | "uid" | "group" | "gid") => {
                                let v = w.get(i + 1).ok_or_else(|| format!("missing value after `{o}`"))?.text.clone();
                                if o.ends_with("id") && v.parse::<u32>().is_err() {
                                    return Err(format!("`{o} {v}`: not a number"));
                                }
                                if o.starts_with('u') {
                                    s.owner = Some(v);
                                } else {
                                    s.group = Some(v);
                                }
                                i += 2;
                            }
                            other => return Err(format!("socket option `{other}` is not supported (mode, level, user, uid, group, gid, expose-fd listeners)")),
                        }
                    }
                    g.stats_socket.push(s);
                }
                Some("timeout") => {
                    time(w.get(2))?;
                }
                _ => return Err("only `stats socket` and `stats timeout` are allowed in global".into()),
            },
            "nosplice" => {
                no_more(w, 1)?;
                g.splice = false;
            }
            "ulimit-n" => {
                g.ulimit_n = Some(num(w.get(1), "file descriptor count")?);
                no_more(w, 2)?;
            }
            "node" => g.node = Some(w.get(1).ok_or("missing node name")?.text.clone()),
            "description" => g.description = Some(join(w, 1)),
            "tune.bufsize" => {
                let n: usize = num(w.get(1), "size")?;
                if !(1024..=1 << 24).contains(&n) {
                    return Err("tune.bufsize must be between 1024 and 16777216".into());
                }
                g.bufsize = n;
            }
            "quiet" => {}
            "master-worker" => {
                return Err("halo has no master-worker mode; it reloads in-process on SIGHUP (`halo lb reload`)".into())
            }
            "hard-stop-after" => {
                return Err("not implemented: old connections are kept until they end on reload".into())
            }
            "spread-checks" => {
                let n: u8 = num(w.get(1), "percentage")?;
                if n > 50 {
                    return Err("spread-checks takes a percentage from 0 to 50".into());
                }
                g.spread_checks = n;
                no_more(w, 2)?;
            }
            // The room HAProxy keeps in each buffer for header rewrites: halo writes
            // rewritten heads into buffers of their own size, so no rewrite lacks room.
            // Whether idle server connections are shared between threads: memory
            // only; halo's pools are per worker thread either way.
            "tune.idle-pool.shared" => match w.get(1).map(|x| x.text.as_str()) {
                Some("on" | "off") => no_more(w, 2)?,
                _ => return Err("`tune.idle-pool.shared` takes `on` or `off`".into()),
            },
            "set-var" | "set-var-fmt" => {
                let (Some(name), Some(value)) = (w.get(1), w.get(2)) else {
                    return Err(format!("`{}` takes a variable name and a value", w[0].text));
                };
                no_more(w, 3)?;
                crate::sample::check_var_name(&name.text)?;
                if !name.text.starts_with("proc.") {
                    return Err(format!(
                        "`{}`: only process variables (`proc.`) can be set in `global`",
                        name.text
                    ));
                }
                let value = if w[0].text == "set-var" {
                    VarValue::Expr(Expr::parse(&value.text)?)
                } else {
                    VarValue::Fmt(LogFmt::parse(&value.text)?)
                };
                g.set_var.push((name.text.clone(), value));
            }
            "tune.maxrewrite" => {
                let _: usize = num(w.get(1), "size")?;
                no_more(w, 2)?;
            }
            "crt-base" => {
                let dir = w.get(1).ok_or("missing directory")?;
                no_more(w, 2)?;
                self.tls.crt_base = Some(dir.text.clone().into());
            }
            // Listeners' (`-bind-`) and servers' (`-server-`) TLS defaults.
            "ssl-default-bind-ciphers" | "ssl-default-bind-ciphersuites" | "ssl-default-server-ciphers"
            | "ssl-default-server-ciphersuites" => {
                let list = w.get(1).ok_or("missing cipher list")?;
                no_more(w, 2)?;
                let v13 = w[0].text.ends_with("suites");
                let s = Some(super::tls::openssl_suites(&list.text, v13)?);
                let t = &mut self.tls;
                match (w[0].text.contains("-server-"), v13) {
                    (false, false) => t.ciphers = s,
                    (false, true) => t.ciphersuites = s,
                    (true, false) => t.server_ciphers = s,
                    (true, true) => t.server_ciphersuites = s,
                }
            }
            "ssl-default-bind-options" | "ssl-default-server-options" => {
                let t = &mut self.tls;
                let (min, max) = match w[0].text.contains("-server-") {
                    false => (&mut t.min_version, &mut t.max_version),
                    true => (&mut t.server_min_version, &mut t.server_max_version),
                };
                let mut i = 1;
                while i < w.len() {
                    let next = w.get(i + 1).map(|x| x.text.as_str());
                    i += super::tls::apply_option(&w[i].text, next, min, max)?;
                }
            }
            // DH parameters are for DHE suites, which halo's TLS never offers.
            "tune.ssl.default-dh-param" => {
                let _: u32 = num(w.get(1), "size")?;
                no_more(w, 2)?;
            }
            "ca-base" => {
                let dir = w.get(1).ok_or("missing directory")?;
                no_more(w, 2)?;
                self.tls.ca_base = Some(dir.text.clone().into());
            }
            "ssl-server-verify" => {
                no_more(w, 2)?;
                self.tls.server_verify = match w.get(1).map(|x| x.text.as_str()) {
                    Some("required") => true,
                    Some("none") => false,
                    _ => return Err("expects `none` or `required`".into()),
                };
            }
            "lua-load" => return Err("Lua is not supported".into()),
            other => return Err(format!("unknown or unsupported directive in `global`: `{other}`")),
        }
        Ok(())
    }

    fn proxy_line(&mut self, d: &mut Draft, w: &[Word], place: &str) -> R<()> {
        let kw = w[0].text.as_str();
        let k = d.kind;
        let front_only = |what: &str| -> R<()> {
            if k.has_front() {
                Ok(())
            } else {
                Err(format!(
                    "`{what}` is not allowed in a `{}` section (it belongs to listen/frontend)",
                    k.word()
                ))
            }
        };
        let back_only = |what: &str| -> R<()> {
            if k.has_back() {
                Ok(())
            } else {
                Err(format!(
                    "`{what}` is not allowed in a `{}` section (it belongs to listen/backend)",
                    k.word()
                ))
            }
        };
        match kw {
            "mode" => {
                d.mode =
                    Some(match w.get(1).map(|x| x.text.as_str()) {
                        Some("tcp") => Mode::Tcp,
                        Some("http") => Mode::Http,
                        Some("health") => return Err(
                            "`mode health` was removed from HAProxy; use `monitor-uri` or a check"
                                .into(),
                        ),
                        Some(o) => return Err(format!("unknown mode `{o}` (tcp, http)")),
                        None => return Err("missing mode (tcp, http)".into()),
                    });
                no_more(w, 2)?;
            }
            "bind" => {
                if !matches!(k, Kind::Listen | Kind::Frontend) {
                    return Err(format!("`bind` is not allowed in a `{}` section", k.word()));
                }
                let spec = w.get(1).ok_or("missing address")?;
                let (addrs, fd) = match spec.text.strip_prefix("fd@") {
                    Some(n) => {
                        let (fd, addr) = inherited_listener(n)?;
                        (vec![addr], Some(fd))
                    }
                    None => (parse_bind_addrs(&spec.text)?, None),
                };
                let mut name = None;
                let mut backlog = None;
                let mut v6only = false;
                let mut accept_proxy = false;
                let mut ssl = false;
                // `verify` (None = none), `ca-file`, `crl-file`.
                let mut verify: Option<bool> = None;
                let (mut ca_file, mut crl_file) = (None, None);
                let mut crts = Vec::new();
                let mut alpn = Vec::new();
                let (mut min_version, mut max_version) =
                    (self.tls.min_version, self.tls.max_version);
                let (mut ciphers, mut ciphersuites) =
                    (self.tls.ciphers.clone(), self.tls.ciphersuites.clone());
                let mut i = 2;
                while i < w.len() {
                    match w[i].text.as_str() {
                        "name" => {
                            name = Some(w.get(i + 1).ok_or("missing name")?.text.clone());
                            i += 2;
                        }
                        "backlog" => {
                            backlog = Some(num(w.get(i + 1), "backlog")?);
                            i += 2;
                        }
                        "v6only" => {
                            v6only = true;
                            i += 1;
                        }
                        "v4v6" => i += 1,
                        // halo always binds with IP_FREEBIND, which is what `transparent`
                        // is mostly used for (binding an address the node does not hold).
                        "transparent" | "freebind" => i += 1,
                        "ssl" => {
                            ssl = true;
                            i += 1;
                        }
                        "crt" => {
                            let path = w.get(i + 1).ok_or("missing certificate after `crt`")?;
                            let files = certificate_files(&path.text, self.tls.crt_base.as_deref())?;
                            crts.extend(files.into_iter().map(|(p, pem)| (p, pem, Vec::new())));
                            i += 2;
                        }
                        "crt-list" => {
                            let path = w.get(i + 1).ok_or("missing file after `crt-list`")?;
                            crts.extend(crt_list(&path.text, self.tls.crt_base.as_deref())?);
                            i += 2;
                        }
                        "alpn" => {
                            let list = w.get(i + 1).ok_or("missing protocols after `alpn`")?;
                            alpn = list.text.split(',').map(String::from).collect();
                            i += 2;
                        }
                        "ciphers" | "ciphersuites" => {
                            let list = w.get(i + 1).ok_or("missing cipher list")?;
                            let v13 = w[i].text == "ciphersuites";
                            let s = super::tls::openssl_suites(&list.text, v13)?;
                            if v13 {
                                ciphersuites = Some(s);
                            } else {
                                ciphers = Some(s);
                            }
                            i += 2;
                        }
                        o @ ("no-sslv3" | "no-tlsv10" | "no-tlsv11" | "no-tlsv12" | "no-tlsv13" | "no-tls-tickets"
                        | "force-tlsv12" | "force-tlsv13" | "ssl-min-ver" | "ssl-max-ver" | "prefer-client-ciphers"
                        | "force-sslv3" | "force-tlsv10" | "force-tlsv11") => {
                            let next = w.get(i + 1).map(|x| x.text.as_str());
                            i += super::tls::apply_option(o, next, &mut min_version, &mut max_version)?;
                        }
                        "verify" => {
                            verify = match w.get(i + 1).map(|x| x.text.as_str()) {
                                Some("none") => None,
                                Some("optional") => Some(false),
                                Some("required") => Some(true),
                                _ => return Err("`verify` takes none, optional or required".into()),
                            };
                            i += 2;
                        }
                        f @ ("ca-file" | "crl-file") => {
                            let v = &w.get(i + 1).ok_or_else(|| format!("missing file after `{f}`"))?.text;
                            let p = std::path::Path::new(v);
                            let p = match &self.tls.ca_base {
                                Some(b) if p.is_relative() => b.join(p),
                                _ => p.to_path_buf(),
                            };
                            if f == "ca-file" {
                                ca_file = Some(p);
                            } else {
                                crl_file = Some(p);
                            }
                            i += 2;
                        }
                        o @ ("ca-verify-file" | "ca-ignore-err" | "crt-ignore-err" | "no-ca-names" | "npn" | "curves"
                        | "ecdhe" | "strict-sni" | "allow-0rtt" | "generate-certificates" | "ca-sign-file") => {
                            return Err(format!("bind option `{o}` is not supported yet (TLS: ssl, crt, crt-list, alpn, ciphers, ciphersuites, ssl-min-ver, ssl-max-ver, verify, ca-file, crl-file)"))
                        }
                        "accept-proxy" => {
                            accept_proxy = true;
                            i += 1;
                        }
                        // Every HTTP listener tells HTTP/2 (its preface) from HTTP/1 by
                        // itself; `proto h2` only names what the clients speak.
                        "proto" => match w.get(i + 1).map(|x| x.text.as_str()) {
                            Some("h2" | "h1") => i += 2,
                            Some(p) => return Err(format!("bind `proto {p}` is not supported (h1, h2)")),
                            None => return Err("missing protocol after `proto`".into()),
                        },
                        other => return Err(format!("bind option `{other}` is not supported (name, backlog, v6only, v4v6, transparent, proto, accept-proxy)")),
                    }
                }
                let tls = match (ssl, crts.is_empty()) {
                    (false, true) => None,
                    (false, false) => return Err("`crt` without `ssl`".into()),
                    (true, true) => return Err("`ssl` needs a certificate (`crt FILE|DIR`)".into()),
                    (true, false) => {
                        if min_version > max_version {
                            return Err(
                                "no TLS version is left between ssl-min-ver and ssl-max-ver".into(),
                            );
                        }
                        let suites = suites(&ciphers, &ciphersuites);
                        let mut crt = Vec::new();
                        let mut pems = Vec::new();
                        let mut sni = Vec::new();
                        for (c, pem, filters) in crts {
                            crt.push(c);
                            pems.push(pem);
                            sni.push(filters);
                        }
                        if sni.iter().all(Vec::is_empty) {
                            sni.clear();
                        }
                        let client = match (verify, ca_file) {
                            (None, _) => None,
                            (Some(_), None) => return Err("`verify` asks for client certificates: it needs a `ca-file` to check them against".into()),
                            (Some(required), Some(ca)) => {
                                let ca_pem = super::tls::read_cas(&ca)?;
                                let crl_pem = match &crl_file {
                                    Some(f) => Some(super::tls::read_crls(f)?),
                                    None => None,
                                };
                                Some(ClientCerts { required, ca_file: ca, crl_file, ca_pem: Some(ca_pem), crl_pem })
                            }
                        };
                        Some(BindTls {
                            crt,
                            alpn,
                            min_version,
                            max_version,
                            suites,
                            pems,
                            sni,
                            client,
                        })
                    }
                };
                for a in addrs {
                    d.binds.push(Bind {
                        addr: a,
                        fd,
                        name: name.clone(),
                        backlog,
                        v6only,
                        accept_proxy,
                        tls: tls.clone(),
                        source: place.to_string(),
                    });
                }
            }
            "server" => {
                if !matches!(k, Kind::Listen | Kind::Backend) {
                    return Err(format!(
                        "`server` is not allowed in a `{}` section",
                        k.word()
                    ));
                }
                let name = w.get(1).ok_or("missing server name")?.text.clone();
                if d.servers.iter().any(|s| s.name == name) {
                    return Err(format!("server `{name}` is defined twice in `{}`", d.name));
                }
                let a = w.get(2).ok_or("missing server address")?;
                let addr = parse_server_addr(&a.text)?;
                let mut sd = d.server_defaults.clone();
                sd.overlay(&parse_server_kws(&w[3..], false)?);
                let cp = CheckParams::default();
                d.servers.push(Server {
                    name,
                    addr,
                    cookie: sd.cookie.clone(),
                    weight: sd.weight.unwrap_or(1),
                    backup: sd.backup.unwrap_or(false),
                    disabled: sd.disabled.unwrap_or(false),
                    maxconn: sd.maxconn.unwrap_or(0),
                    check: sd.check.unwrap_or(false),
                    check_params: CheckParams {
                        inter: sd.inter.unwrap_or(cp.inter),
                        fastinter: sd.fastinter,
                        downinter: sd.downinter,
                        rise: sd.rise.unwrap_or(cp.rise),
                        fall: sd.fall.unwrap_or(cp.fall),
                        port: sd.port,
                        addr: sd.addr,
                    },
                    observe: sd.observe,
                    error_limit: sd.error_limit.unwrap_or(10),
                    on_error: sd.on_error.unwrap_or_default(),
                    shutdown_sessions_on_down: sd.shutdown_on_down.unwrap_or(false),
                    shutdown_backup_sessions_on_up: sd.shutdown_backup_on_up.unwrap_or(false),
                    tls: self.server_tls(&sd)?,
                    proxy: sd.proxy.flatten(),
                    check_proxy: sd.check_proxy.unwrap_or(false),
                    agent: match (sd.agent_check.unwrap_or(false), sd.agent_port) {
                        (false, _) => None,
                        (true, None) => return Err("`agent-check` needs an `agent-port`".into()),
                        (true, Some(port)) => Some(AgentCheck {
                            port,
                            addr: sd.agent_addr,
                            inter: sd.agent_inter.or(sd.inter).unwrap_or(cp.inter),
                            send: sd.agent_send.clone(),
                        }),
                    },
                    slowstart: sd.slowstart.filter(|d| !d.0.is_zero()),
                    pool_max: sd.pool_max.flatten(),
                    id: sd.id,
                    source_addr: sd.source_addr,
                    track: sd.track.as_ref().map(|t| match t.contains('/') {
                        true => t.clone(),
                        false => format!("{}/{t}", d.name),
                    }),
                    source: place.to_string(),
                });
            }
            "default-server" => {
                back_only(kw)?;
                let sd = parse_server_kws(&w[1..], true)?;
                d.server_defaults.overlay(&sd);
            }
            "balance" => {
                back_only(kw)?;
                let alg = w.get(1).ok_or("missing algorithm")?.text.as_str();
                let (balance, key) = parse_balance(alg, &w[2..])?;
                d.balance = Some(balance);
                d.hash_key = key;
            }
            "hash-type" => {
                back_only(kw)?;
                d.hash_consistent = Some(match w.get(1).map(|x| x.text.as_str()) {
                    Some("consistent") => true,
                    Some("map-based") => false,
                    Some(o) => {
                        return Err(format!("unknown hash-type `{o}` (map-based, consistent)"))
                    }
                    None => return Err("missing hash type (map-based, consistent)".into()),
                });
                if let Some(x) = w.get(2) {
                    return Err(format!(
                        "hash function `{}` cannot be chosen: halo uses its own hash",
                        x.text
                    ));
                }
            }
            "maxconn" => {
                front_only(kw)?;
                d.maxconn = Some(num(w.get(1), "connection count")?);
                no_more(w, 2)?;
            }
            "retries" => {
                back_only(kw)?;
                d.retries = Some(num(w.get(1), "retry count")?);
                no_more(w, 2)?;
            }
            "timeout" => {
                let which = w.get(1).ok_or("missing timeout name")?.text.as_str();
                let key: &'static str = match which {
                    "connect" => "connect",
                    "client" => "client",
                    "server" => "server",
                    "http-request" => "http-request",
                    "http-keep-alive" => "http-keep-alive",
                    "queue" => "queue",
                    "check" => "check",
                    "tunnel" => "tunnel",
                    "client-fin" | "server-fin" | "tarpit" => {
                        return Err(format!("`timeout {which}` is not implemented"))
                    }
                    o => return Err(format!("unknown timeout `{o}` (connect, client, server, http-request, http-keep-alive, queue, check, tunnel)")),
                };
                let t = time(w.get(2))?;
                no_more(w, 3)?;
                let frontish = matches!(key, "client" | "http-request" | "http-keep-alive");
                if frontish {
                    front_only(&format!("timeout {key}"))?;
                } else {
                    back_only(&format!("timeout {key}"))?;
                }
                d.timeouts.insert(key, t);
            }
            "contimeout" | "clitimeout" | "srvtimeout" => {
                return Err("removed from HAProxy; use `timeout connect|client|server`".into())
            }
            "log" => {
                if w.get(1).map(|x| x.text.as_str()) == Some("global") {
                    no_more(w, 2)?;
                    d.log = Some(self.global.log.clone());
                } else if let Some(t) = parse_log(w)? {
                    d.log.get_or_insert_with(Vec::new).push(t);
                }
            }
            "no" => match w.get(1).map(|x| x.text.as_str()) {
                Some("option") => {
                    let name = w.get(2).ok_or("missing option name")?.text.clone();
                    self.option(d, &name, &w[3..], false)?;
                }
                Some("log") => d.log = Some(Vec::new()),
                _ => return Err("only `no option X` and `no log` are supported".into()),
            },
            "option" => {
                let name = w.get(1).ok_or("missing option name")?.text.clone();
                self.option(d, &name, &w[2..], true)?;
            }
            "stats" => self.stats(d, w)?,
            "default_backend" => {
                front_only(kw)?;
                d.default_backend = Some(w.get(1).ok_or("missing backend name")?.text.clone());
                no_more(w, 2)?;
            }
            "use_backend" => {
                if !matches!(k, Kind::Listen | Kind::Frontend) {
                    return Err(format!(
                        "`use_backend` is not allowed in a `{}` section",
                        k.word()
                    ));
                }
                let backend = w.get(1).ok_or("missing backend name")?.text.clone();
                // A name made of samples (`%[req.hdr(host),map(FILE)]`) is checked now.
                let named = match backend.contains('%') {
                    true => Some(LogFmt::parse(&backend)?),
                    false => None,
                };
                let (any_of, unless) = match w.get(2).map(|x| x.text.as_str()) {
                    None => (Vec::new(), false),
                    Some(c @ ("if" | "unless")) => (parse_cond(d, &w[3..])?, c == "unless"),
                    Some(o) => return Err(format!("expected `if` or `unless`, found `{o}`")),
                };
                d.use_backends.push(UseBackend {
                    backend,
                    named,
                    any_of,
                    unless,
                    source: place.to_string(),
                });
            }
            "acl" => {
                if k == Kind::Defaults {
                    return Err("`acl` belongs in a listen, frontend or backend section".into());
                }
                let name = w.get(1).ok_or("missing ACL name")?.text.clone();
                let acl = parse_acl(&name, &w[2..])?;
                d.acls.push(acl);
            }
            "tcp-check" => {
                back_only(kw)?;
                if let Some(step) = parse_tcp_check(&w[1..], d.tcp_check.is_empty())? {
                    d.tcp_check.push(step);
                }
            }
            "http-check" => {
                back_only(kw)?;
                match w.get(1).map(|x| x.text.as_str()) {
                    Some("expect") => d.http_expect = Some(parse_expect(&w[2..])?),
                    Some("send") => {
                        let mut i = 2;
                        while i < w.len() {
                            let v = w
                                .get(i + 1)
                                .ok_or_else(|| format!("missing value after `{}`", w[i].text))?
                                .text
                                .clone();
                            match w[i].text.as_str() {
                                "meth" => d.http_send.method = Some(v),
                                "uri" => d.http_send.uri = Some(v),
                                "ver" => d.http_send.version = Some(v),
                                "hdr" => {
                                    let val =
                                        w.get(i + 2).ok_or("missing header value")?.text.clone();
                                    if hyper::header::HeaderName::from_bytes(v.as_bytes()).is_err()
                                        || hyper::header::HeaderValue::from_str(&val).is_err()
                                    {
                                        return Err(format!(
                                            "`hdr {v} {val}` is not a valid header line"
                                        ));
                                    }
                                    if v.eq_ignore_ascii_case("host") {
                                        d.http_send.host = Some(val);
                                    } else if v.eq_ignore_ascii_case("connection")
                                        || v.eq_ignore_ascii_case("content-length")
                                    {
                                        return Err(format!("`hdr {v}`: the check sets it itself"));
                                    } else {
                                        d.http_send.headers.push((v, val));
                                    }
                                    i += 1;
                                }
                                o => {
                                    return Err(format!(
                                    "`http-check send {o}` is not supported (meth, uri, ver, hdr)"
                                ))
                                }
                            }
                            i += 2;
                        }
                    }
                    Some(o) => {
                        return Err(format!("`http-check {o}` is not supported (expect, send)"))
                    }
                    None => return Err("missing http-check action".into()),
                }
            }
            "description" => {}
            "disabled" => {
                no_more(w, 1)?;
                d.disabled = true;
            }
            "enabled" => {
                no_more(w, 1)?;
                d.disabled = false;
            }
            "errorfile" => {
                let code: u16 = num(w.get(1), "status code")?;
                let path = w.get(2).ok_or("missing file")?.text.clone();
                no_more(w, 3)?;
                d.errorfiles
                    .insert(code, read_errorfile(code, &path, self.global.bufsize)?);
            }
            "errorfiles" => {
                let name = &w.get(1).ok_or("missing http-errors section name")?.text;
                let section = self
                    .http_errors
                    .get(name)
                    .ok_or_else(|| format!("no `http-errors {name}` section"))?;
                if w.len() == 2 {
                    d.errorfiles
                        .extend(section.iter().map(|(c, r)| (*c, r.clone())));
                }
                for x in &w[2..] {
                    let code: u16 = num(Some(x), "status code")?;
                    let r = section
                        .get(&code)
                        .ok_or_else(|| format!("`http-errors {name}` has no answer for {code}"))?;
                    d.errorfiles.insert(code, r.clone());
                }
            }
            "errorloc" | "errorloc302" | "errorloc303" => {
                let code: u16 = num(w.get(1), "status code")?;
                let url = &w.get(2).ok_or("missing location")?.text;
                no_more(w, 3)?;
                if !ERRORFILE_STATUSES.contains(&code) {
                    return Err(format!(
                        "status {code} is not one of {ERRORFILE_STATUSES:?}"
                    ));
                }
                if hyper::header::HeaderValue::from_str(url).is_err() {
                    return Err(format!("`{url}` is not a valid location"));
                }
                let mut r = Return::of(if kw == "errorloc303" { 303 } else { 302 }, ReplyFrom::Own);
                r.headers = vec![
                    ("location".into(), LogFmt::literal(url)),
                    ("cache-control".into(), LogFmt::literal("no-cache")),
                ];
                d.errorfiles.insert(code, r);
            }
            "http-error" => {
                let args: Vec<&str> = w[1..].iter().map(|x| x.text.as_str()).collect();
                let r = parse_return(&args, self.replies(), 0, true)?;
                if !ERRORFILE_STATUSES.contains(&r.status) {
                    return Err(format!(
                        "status {} is not one of {ERRORFILE_STATUSES:?}",
                        r.status
                    ));
                }
                d.errorfiles.insert(r.status, r);
            }
            "http-request" | "http-response" => {
                if k == Kind::Defaults && d.name.is_empty() {
                    return Err(format!("`{kw}` rules in an anonymous `defaults` section: name the section and start proxies from it (`from NAME`)"));
                }
                let response = kw == "http-response";
                let rule = parse_http_rule(d, &w[1..], place, response, self.replies())?;
                if let (Kind::Defaults, HttpAction::Track(Track { table: None, .. })) =
                    (k, &rule.action)
                {
                    return Err("in a defaults section, `track-scN` must name its `table` (the proxy's own is not known there)".into());
                }
                if response {
                    d.http_response_rules.push(rule);
                } else {
                    d.http_rules.push(rule);
                }
            }
            "tcp-request" => {
                if k == Kind::Defaults && d.name.is_empty() {
                    return Err(format!("`{kw}` rules in an anonymous `defaults` section: name the section and start proxies from it (`from NAME`)"));
                }
                if let Some(rule) = parse_tcp_rule(d, &w[1..], place)? {
                    if let (Kind::Defaults, TcpAction::Track(Track { table: None, .. })) =
                        (k, &rule.action)
                    {
                        return Err("in a defaults section, `track-scN` must name its `table` (the proxy's own is not known there)".into());
                    }
                    if rule.stage != TcpStage::Content && !k.has_front() {
                        return Err(format!(
                            "`tcp-request {}` rules belong to frontends",
                            w[1].text
                        ));
                    }
                    d.tcp_rules.push(rule);
                }
            }
            "http-after-response" => {
                if k == Kind::Defaults && d.name.is_empty() {
                    return Err(format!("`{kw}` rules in an anonymous `defaults` section: name the section and start proxies from it (`from NAME`)"));
                }
                let rule = parse_http_rule(d, &w[1..], place, true, self.replies())?;
                let allowed = matches!(
                    rule.action,
                    HttpAction::SetHeader { .. }
                        | HttpAction::AddHeader { .. }
                        | HttpAction::DelHeader { .. }
                        | HttpAction::ReplaceHeader { .. }
                        | HttpAction::SetStatus { .. }
                        | HttpAction::SetVar { .. }
                        | HttpAction::UnsetVar { .. }
                        | HttpAction::Allow
                );
                if !allowed {
                    return Err("`http-after-response` takes set-header, add-header, del-header, replace-header, replace-value, set-status, set-var, set-var-fmt, unset-var and allow".into());
                }
                d.after_rules.push(rule);
            }
            "tcp-response" => {
                if k == Kind::Defaults && d.name.is_empty() {
                    return Err(format!("`{kw}` rules in an anonymous `defaults` section: name the section and start proxies from it (`from NAME`)"));
                }
                if k == Kind::Frontend {
                    return Err("`tcp-response` rules belong to backends".into());
                }
                match w.get(1).map(|x| x.text.as_str()) {
                    // The rules judge the response as it comes: no bytes are awaited.
                    Some("inspect-delay") => {
                        time(w.get(2))?;
                        no_more(w, 3)?;
                    }
                    Some("content") => {
                        if let Some(rule) = parse_tcp_rule(d, &w[1..], place)? {
                            if !matches!(
                                rule.action,
                                TcpAction::Accept
                                    | TcpAction::Reject
                                    | TcpAction::SetVar { .. }
                                    | TcpAction::UnsetVar { .. }
                            ) {
                                return Err("`tcp-response content` takes accept, reject, set-var, set-var-fmt and unset-var".into());
                            }
                            d.tcp_response_rules.push(rule);
                        }
                    }
                    _ => return Err("`tcp-response` takes `inspect-delay T` or `content ACTION [if|unless COND]`".into()),
                }
            }
            "stick-table" => {
                if k == Kind::Defaults {
                    return Err("`stick-table` is not allowed in `defaults`".into());
                }
                let mut spec = parse_stick_table(&w[1..])?;
                spec.source = place.to_string();
                d.stick_table = Some(spec);
            }
            "stick" => {
                back_only(kw)?;
                let rule = parse_stick_rule(d, &w[1..], place)?;
                d.stick_rules.push(rule);
            }
            "cookie" => {
                back_only(kw)?;
                d.cookie = Some(parse_cookie(&w[1..])?);
            }
            "persist" => return Err("`persist rdp-cookie` is not supported".into()),
            "declare" => {
                let words: Vec<&str> = w[1..].iter().map(|x| x.text.as_str()).collect();
                let (dir, len) = match words.as_slice() {
                    ["capture", dir @ ("request" | "response"), "len", n] => (*dir, *n),
                    _ => return Err("expected `declare capture request|response len N`".into()),
                };
                let len = capture_len(len)?;
                if !k.has_front() {
                    return Err("capture slots belong to frontends".into());
                }
                match dir {
                    "request" => d.captures.request.push((String::new(), len)),
                    _ => d.captures.response.push((String::new(), len)),
                }
            }
            "capture" => {
                let words: Vec<&str> = w[1..].iter().map(|x| x.text.as_str()).collect();
                let (what, name, len) = match words.as_slice() {
                    [dir @ ("request" | "response"), "header", name, "len", n] => (*dir, *name, *n),
                    ["cookie", name, "len", n] => ("cookie", *name, *n),
                    _ => return Err("expected `capture request|response header NAME len N` or `capture cookie NAME len N`".into()),
                };
                let len = capture_len(len)?;
                if k == Kind::Backend || k == Kind::Defaults {
                    self.warn(
                        place,
                        kw,
                        format!(
                            "captures belong to frontends: this one in a `{}` section is not used",
                            k.word()
                        ),
                    );
                    return Ok(());
                }
                match what {
                    "request" => d.captures.request.push((name.to_ascii_lowercase(), len)),
                    "response" => d.captures.response.push((name.to_ascii_lowercase(), len)),
                    _ => {
                        if d.captures.cookie.is_some() {
                            return Err("one `capture cookie` per proxy".into());
                        }
                        d.captures.cookie = Some((name.to_string(), len));
                    }
                }
            }
            "compression" => return Err("compression is not supported".into()),
            "redirect" => {
                if k == Kind::Defaults {
                    return Err(
                        "`redirect` rules in `defaults` are not supported; put them in the proxies"
                            .into(),
                    );
                }
                let rule = parse_http_rule(d, w, place, false, self.replies())?;
                d.redirect_rules.push(rule);
            }
            "monitor-uri" => {
                front_only(kw)?;
                d.monitor_uri = Some(w.get(1).ok_or("missing URI")?.text.clone());
                no_more(w, 2)?;
            }
            "monitor" => {
                if !matches!(k, Kind::Listen | Kind::Frontend) {
                    return Err(format!(
                        "`monitor` is not allowed in a `{}` section",
                        k.word()
                    ));
                }
                if w.get(1).map(|x| x.text.as_str()) != Some("fail") {
                    return Err("only `monitor fail if|unless COND` is known".into());
                }
                let (any_of, unless) = match w.get(2).map(|x| x.text.as_str()) {
                    Some(c @ ("if" | "unless")) if w.len() > 3 => {
                        (parse_cond(d, &w[3..])?, c == "unless")
                    }
                    _ => return Err("`monitor fail` takes `if COND` or `unless COND`".into()),
                };
                d.monitor_fail.push(HttpRule {
                    action: HttpAction::Deny {
                        status: 503,
                        reply: None,
                    },
                    any_of,
                    unless,
                    source: place.to_string(),
                });
            }
            "fullconn" => {
                return Err("dynamic server limits (`fullconn`/`minconn`) are not supported".into())
            }
            "id" => {
                let v = w.get(1).ok_or("`id` needs a number")?;
                d.id = Some(
                    v.text
                        .parse()
                        .ok()
                        .filter(|n| *n > 0)
                        .ok_or_else(|| format!("`id {}`: not a positive number", v.text))?,
                );
                no_more(w, 2)?;
            }
            "bind-process" => return Err("halo runs one process with threads".into()),
            "source" => {
                back_only(kw)?;
                d.source_addr = Some(parse_source(&w[1..])?);
            }
            "http-reuse" => {
                back_only(kw)?;
                d.reuse = Some(match w.get(1).map(|x| x.text.as_str()) {
                    Some("never") => HttpReuse::Never,
                    Some("safe") => HttpReuse::Safe,
                    Some("aggressive") => HttpReuse::Aggressive,
                    Some("always") => HttpReuse::Always,
                    _ => return Err("`http-reuse` takes never, safe, aggressive or always".into()),
                });
                no_more(w, 2)?;
            }
            "log-format" => {
                let text = &w.get(1).ok_or("missing log format")?.text;
                no_more(w, 2)?;
                let f = LogFmt::parse(text)?;
                if k == Kind::Backend {
                    self.warn(
                        place,
                        kw,
                        "a backend's `log-format` is not used: a request is logged by its frontend",
                    );
                } else {
                    d.log_template = Some(Some(f));
                }
            }
            "unique-id-format" => {
                front_only(kw)?;
                let text = &w.get(1).ok_or("missing format")?.text;
                no_more(w, 2)?;
                d.unique_id_format = Some(LogFmt::parse(text)?);
            }
            "unique-id-header" => {
                front_only(kw)?;
                let name = &w.get(1).ok_or("missing header name")?.text;
                no_more(w, 2)?;
                if hyper::header::HeaderName::from_bytes(name.as_bytes()).is_err() {
                    return Err(bad_header(name));
                }
                d.unique_id_header = Some(name.to_ascii_lowercase());
            }
            "log-format-sd" | "log-tag" => {
                return Err(format!("`{kw}` is not supported (log-format is)"))
            }
            other => {
                return Err(format!(
                    "unknown or unsupported directive `{other}` in a `{}` section",
                    k.word()
                ))
            }
        }
        Ok(())
    }

    fn option(&mut self, d: &mut Draft, name: &str, args: &[Word], on: bool) -> R<()> {
        let k = d.kind;
        let boolean = |v: &mut Option<bool>| -> R<()> {
            if let Some(a) = args.first() {
                return Err(format!("unexpected argument `{}`", a.text));
            }
            *v = Some(on);
            Ok(())
        };
        let need_back = || -> R<()> {
            if k.has_back() {
                Ok(())
            } else {
                Err(format!(
                    "`option {name}` is a backend option, not allowed in `{}`",
                    k.word()
                ))
            }
        };
        let need_front = || -> R<()> {
            if k.has_front() {
                Ok(())
            } else {
                Err(format!(
                    "`option {name}` is a frontend option, not allowed in `{}`",
                    k.word()
                ))
            }
        };
        let check_only_on = || -> R<()> {
            if on {
                Ok(())
            } else {
                Err(format!(
                    "`no option {name}` is not supported; remove the check option instead"
                ))
            }
        };
        match name {
            "redispatch" => {
                need_back()?;
                if !on {
                    d.redispatch = Some(None);
                    return Ok(());
                }
                let interval = match args.first() {
                    None => -1,
                    Some(a) => {
                        let v: i32 = a.text.parse().map_err(|_| format!("`{}` is not a redispatch interval", a.text))?;
                        if v == 0 {
                            return Err("a redispatch interval of 0 disables it; use `no option redispatch`".into());
                        }
                        v
                    }
                };
                no_more(args, 1)?;
                d.redispatch = Some(Some(Redispatch { interval }));
            }
            "tcpka" => {
                if let Some(a) = args.first() {
                    return Err(format!("unexpected argument `{}`", a.text));
                }
                if k.has_front() {
                    d.clitcpka = Some(on);
                }
                if k.has_back() {
                    d.srvtcpka = Some(on);
                }
            }
            "clitcpka" => {
                need_front()?;
                boolean(&mut d.clitcpka)?
            }
            "nolinger" => boolean(&mut d.nolinger)?,
            "disable-h2-upgrade" => {
                need_front()?;
                boolean(&mut d.disable_h2_upgrade)?
            }
            "srvtcpka" => {
                need_back()?;
                boolean(&mut d.srvtcpka)?
            }
            "tcplog" => {
                no_more(args, 0)?;
                d.log_format = Some(if on { LogFormat::Tcplog } else { LogFormat::Default });
                d.log_template = Some(None);
            }
            "httplog" => {
                if let Some(a) = args.first() {
                    return Err(format!("`option httplog {}` is not supported (plain httplog only)", a.text));
                }
                d.log_format = Some(if on { LogFormat::Httplog } else { LogFormat::Default });
                d.log_template = Some(None);
            }
            "dontlognull" => boolean(&mut d.dontlognull)?,
            "dontlog-normal" => boolean(&mut d.dontlog_normal)?,
            "log-separate-errors" => boolean(&mut d.log_separate_errors)?,
            "tcp-smart-accept" => boolean(&mut d.tcp_smart_accept)?,
            "forwardfor" | "originalto" => {
                let ff = match on {
                    true => {
                        let header = if name == "forwardfor" { "X-Forwarded-For" } else { "X-Original-To" };
                        Some(parse_forwarded(name, header, args)?)
                    }
                    false => None,
                };
                match name {
                    "forwardfor" => d.forwardfor = Some(ff),
                    _ => d.originalto = Some(ff),
                }
            }
            "httpchk" => {
                need_back()?;
                check_only_on()?;
                // option httpchk [METHOD] [URI] [VERSION]; one argument = URI.
                let (m, u, v) = match args.len() {
                    0 => (None, None, None),
                    1 => (None, Some(args[0].text.clone()), None),
                    2 => (Some(args[0].text.clone()), Some(args[1].text.clone()), None),
                    3 => (Some(args[0].text.clone()), Some(args[1].text.clone()), Some(args[2].text.clone())),
                    _ => return Err("too many arguments (option httpchk [METHOD] [URI] [VERSION])".into()),
                };
                let mut version = v.unwrap_or_else(|| "HTTP/1.0".into());
                // HAProxy allowed "HTTP/1.1\r\nHost:\ name" in the version.
                let mut host = None;
                if let Some((ver, rest)) = version.split_once("\r\n") {
                    let rest = rest.trim();
                    match rest.split_once(':') {
                        Some((h, val)) if h.eq_ignore_ascii_case("host") => host = Some(val.trim().to_string()),
                        _ => return Err("only a Host header may follow the version in `option httpchk`".into()),
                    }
                    version = ver.to_string();
                }
                if version != "HTTP/1.0" && version != "HTTP/1.1" {
                    return Err(format!("unsupported HTTP version `{version}` (HTTP/1.0, HTTP/1.1)"));
                }
                d.check = Some(CheckKind::Http {
                    method: m.unwrap_or_else(|| "OPTIONS".into()),
                    uri: u.unwrap_or_else(|| "/".into()),
                    version,
                    host,
                    headers: Vec::new(),
                    expect: HttpExpect::Default,
                });
            }
            "mysql-check" => {
                need_back()?;
                check_only_on()?;
                let user = match args.first().map(|a| a.text.as_str()) {
                    None => None,
                    Some("user") => Some(args.get(1).ok_or("missing user name")?.text.clone()),
                    Some(o) => return Err(format!("unexpected argument `{o}` (option mysql-check [user NAME])")),
                };
                if let Some(a) = args.get(2) {
                    if a.text != "post-41" {
                        return Err(format!("`{}` is not supported (only the 4.1+ protocol, `post-41`)", a.text));
                    }
                }
                no_more(args, 3)?;
                d.check = Some(CheckKind::Mysql { user });
            }
            "galera-check" => {
                need_back()?;
                check_only_on()?;
                let mut user = None;
                let mut password = None;
                let mut i = 0;
                while i < args.len() {
                    let v = args.get(i + 1).ok_or_else(|| format!("missing value after `{}`", args[i].text))?.text.clone();
                    match args[i].text.as_str() {
                        "user" => user = Some(v),
                        "password" => password = Some(v),
                        o => return Err(format!("unexpected argument `{o}` (option galera-check user NAME [password PW])")),
                    }
                    i += 2;
                }
                let user = user.ok_or("the Galera check logs in to read wsrep_local_state: `option galera-check user NAME [password PW]`")?;
                d.check = Some(CheckKind::Galera { user, password });
            }
            "redis-check" => {
                need_back()?;
                check_only_on()?;
                no_more(args, 0)?;
                d.check = Some(CheckKind::Redis);
            }
            "amqp-check" => {
                need_back()?;
                check_only_on()?;
                no_more(args, 0)?;
                d.check = Some(CheckKind::Amqp);
            }
            "tcp-check" => {
                need_back()?;
                check_only_on()?;
                no_more(args, 0)?;
                d.check = Some(CheckKind::TcpCheck(Vec::new()));
            }
            "pgsql-check" => {
                need_back()?;
                check_only_on()?;
                let user = match (args.first().map(|a| a.text.as_str()), args.get(1)) {
                    (Some("user"), Some(u)) if !u.text.is_empty() => u.text.clone(),
                    _ => return Err("`option pgsql-check` needs `user NAME` (the role the check connects as)".into()),
                };
                no_more(args, 2)?;
                d.check = Some(CheckKind::Pgsql { user });
            }
            "ldap-check" => {
                need_back()?;
                check_only_on()?;
                no_more(args, 0)?;
                d.check = Some(CheckKind::Ldap);
            }
            "smtpchk" => {
                need_back()?;
                check_only_on()?;
                let command = match (args.first().map(|a| a.text.as_str()), args.get(1)) {
                    (None, _) => "HELO localhost".to_string(),
                    (Some(v @ ("HELO" | "EHLO" | "helo" | "ehlo")), Some(domain)) => {
                        format!("{} {}", v.to_ascii_uppercase(), domain.text)
                    }
                    // HAProxy's fallback for anything else.
                    _ => "HELO localhost".to_string(),
                };
                no_more(args, 2)?;
                d.check = Some(CheckKind::Smtp { command });
            }
            "ssl-hello-chk" | "spop-check" | "external-check" => {
                return Err(format!("`option {name}` is not implemented (tcp connect, httpchk, mysql-check, pgsql-check, ldap-check, smtpchk, galera-check, redis-check, amqp-check, tcp-check)"))
            }
            "allbackups" => {
                need_back()?;
                boolean(&mut d.allbackups)?
            }
            "http-server-close" => boolean(&mut d.http_server_close)?,
            "http-keep-alive" => {
                no_more(args, 0)?;
                if on {
                    d.http_server_close = Some(false);
                    d.httpclose = Some(false);
                }
            }
            "log-health-checks" => boolean(&mut d.log_health_checks)?,
            // halo splices TCP-mode traffic itself whenever it can (see global `nosplice`).
            "splice-auto" | "splice-request" | "splice-response" => no_more(args, 0)?,
            // Counters are always updated continuously.
            "contstats" => no_more(args, 0)?,
            "httpclose" => boolean(&mut d.httpclose)?,
            "http-buffer-request" => {
                // (Read before the frontend's rules; a backend alone has none.)
                if !k.has_front() {
                    return Err("`option http-buffer-request` is honoured in a frontend, listen or defaults section, where the body is waited for before the rules: set it there".into());
                }
                boolean(&mut d.buffer_request)?
            }
            "forceclose" => return Err("`option forceclose` was removed from HAProxy; use `option httpclose`".into()),
            "http-use-htx" | "http-tunnel" | "http-pretend-keepalive" => {
                return Err(format!("`option {name}` is obsolete in HAProxy 2.x and not supported"))
            }
            "abortonclose" | "persist" | "prefer-last-server" | "logasap" | "accept-invalid-http-request"
            | "accept-invalid-http-response" | "checkcache" | "independent-streams"
            | "socket-stats" | "transparent" | "http-no-delay"
            | "http-ignore-probes" | "tcp-smart-connect" => {
                return Err(format!("`option {name}` is not implemented"))
            }
            other => return Err(format!("unknown option `{other}`")),
        }
        Ok(())
    }

    fn stats(&mut self, d: &mut Draft, w: &[Word]) -> R<()> {
        if w.get(1).is_some_and(|x| x.text == "admin") {
            let (any_of, unless) = match w.get(2).map(|x| x.text.as_str()) {
                Some(c @ ("if" | "unless")) if w.len() > 3 => {
                    (parse_cond(d, &w[3..])?, c == "unless")
                }
                _ => return Err("`stats admin` takes `if COND` or `unless COND`".into()),
            };
            d.stats.admin = Some(StatsAdmin { any_of, unless });
            d.stats.any = true;
            return Ok(());
        }
        let s = &mut d.stats;
        match w.get(1).map(|x| x.text.as_str()) {
            Some("enable") => no_more(w, 2)?,
            Some("uri") => {
                let u = w.get(2).ok_or("missing URI")?.text.clone();
                if !u.starts_with('/') {
                    return Err("the stats URI must start with `/`".into());
                }
                s.uri = Some(u);
            }
            Some("realm") => s.realm = Some(join(w, 2)),
            Some("auth") => {
                let a = w.get(2).ok_or("missing user:password")?.text.clone();
                if !a.contains(':') {
                    return Err("expected `user:password`".into());
                }
                s.auth.push(a);
            }
            Some("refresh") => s.refresh = Some(time(w.get(2))?),
            Some("hide-version") => s.hide_version = true,
            Some("show-node") => s.show_node = true,
            Some("show-legends") => s.show_legends = true,
            Some("show-desc") => {
                return Err(
                    "`stats show-desc` is not supported (the page shows the node with `show-node`)"
                        .into(),
                )
            }
            Some("scope") => {
                return Err("`stats scope` is not supported; the page shows every proxy".into())
            }
            Some("socket") | Some("timeout") => {
                return Err("`stats socket`/`stats timeout` belong to the global section".into())
            }
            Some("http-request") => {
                return Err("stats rules are not supported; use `stats auth`".into())
            }
            Some(o) => return Err(format!("unknown stats keyword `{o}`")),
            None => return Err("missing stats keyword".into()),
        }
        s.any = true;
        d.stats_enabled = true;
        Ok(())
    }

    /// Turns the drafts into the model and checks references between sections.
    fn finish(&mut self) -> Config {
        let mut cfg = Config {
            version: NATIVE_VERSION,
            global: self.global.clone(),
            frontends: Vec::new(),
            backends: Vec::new(),
            userlists: std::mem::take(&mut self.userlists),
            tables: Vec::new(),
        };
        let drafts = std::mem::take(&mut self.proxies);
        // Proxy numbers: `id N`, else the next free one in the order of the sections,
        // from 2 (HAProxy 2.6 numbers its own internal proxy 1).
        let mut taken: HashMap<u32, &str> = HashMap::new();
        for d in &drafts {
            if let Some(id) = d.id {
                if let Some(other) = taken.insert(id, &d.name) {
                    self.errors.push(ConfigError {
                        place: d.source.clone(),
                        directive: "id".into(),
                        reason: format!("proxy `{}` has id {id} like `{other}`", d.name),
                    });
                }
            }
        }
        let mut next = 2;
        let ids: Vec<u32> = drafts
            .iter()
            .map(|d| {
                d.id.unwrap_or_else(|| {
                    while taken.contains_key(&next) {
                        next += 1;
                    }
                    next += 1;
                    next - 1
                })
            })
            .collect();
        for d in &drafts {
            if let Some(t) = &d.stick_table {
                let stuck = drafts.iter().any(|o| {
                    o.stick_rules
                        .iter()
                        .any(|r| r.table == d.name || (r.table.is_empty() && o.name == d.name))
                });
                if t.store.is_empty() && !stuck {
                    self.warn(
                        &t.source,
                        "stick-table",
                        format!("`{}` has a stick-table that no `stick` rule uses", d.name),
                    );
                }
                cfg.tables.push(Table {
                    name: d.name.clone(),
                    key: t.key,
                    size: t.size,
                    expire: t.expire,
                    store: t.store.clone(),
                    source: t.source.clone(),
                });
            }
        }
        for (d, id) in drafts.iter().zip(ids) {
            let mode = d.mode.unwrap_or_default();
            let t = |k: &str| d.timeouts.get(k).copied();
            if matches!(d.kind, Kind::Listen | Kind::Frontend) {
                if cfg.frontends.iter().any(|f| f.name == d.name) {
                    self.errors.push(ConfigError {
                        place: d.source.clone(),
                        directive: d.kind.word().into(),
                        reason: format!("a frontend named `{}` already exists", d.name),
                    });
                }
                let stats = stats_page(d);
                let default_backend =
                    if d.kind == Kind::Listen && (!d.servers.is_empty() || stats.is_none()) {
                        Some(d.name.clone())
                    } else {
                        d.default_backend.clone()
                    };
                if d.kind == Kind::Frontend || !d.binds.is_empty() {
                    cfg.frontends.push(Frontend {
                        name: d.name.clone(),
                        id: Some(id),
                        mode,
                        bind: d.binds.clone(),
                        maxconn: d.maxconn,
                        timeout_client: t("client"),
                        timeout_http_request: t("http-request"),
                        timeout_http_keep_alive: t("http-keep-alive"),
                        clitcpka: d.clitcpka.unwrap_or(false),
                        nolinger: d.nolinger.unwrap_or(false),
                        disable_h2_upgrade: d.disable_h2_upgrade.unwrap_or(false),
                        log_format: d.log_format.unwrap_or_default(),
                        log_template: d.log_template.clone().flatten(),
                        unique_id_format: d.unique_id_format.clone(),
                        unique_id_header: d.unique_id_header.clone(),
                        captures: d.captures.clone(),
                        dontlognull: d.dontlognull.unwrap_or(false),
                        dontlog_normal: d.dontlog_normal.unwrap_or(false),
                        log_separate_errors: d.log_separate_errors.unwrap_or(false),
                        tcp_smart_accept: d.tcp_smart_accept.unwrap_or(false),
                        log: d.log.clone().unwrap_or_default(),
                        forwardfor: d.forwardfor.clone().flatten(),
                        originalto: d.originalto.clone().flatten(),
                        acl: d.acls.clone(),
                        use_backend: d.use_backends.clone(),
                        http_request: d.http_rules.clone(),
                        http_response: d.http_response_rules.clone(),
                        http_after_response: d.after_rules.clone(),
                        tcp_request: d.tcp_rules.clone(),
                        inspect_delay: d.inspect_delay,
                        httpclose: d.httpclose.unwrap_or(false),
                        buffer_request: d.buffer_request.unwrap_or(false),
                        errorfiles: d.errorfiles.clone(),
                        redirect: d.redirect_rules.clone(),
                        monitor_uri: d.monitor_uri.clone(),
                        monitor_fail: d.monitor_fail.clone(),
                        default_backend,
                        stats,
                        disabled: d.disabled,
                        source: d.source.clone(),
                    });
                }
            }
            if matches!(d.kind, Kind::Listen | Kind::Backend) {
                if cfg.backends.iter().any(|b| b.name == d.name) {
                    self.errors.push(ConfigError {
                        place: d.source.clone(),
                        directive: d.kind.word().into(),
                        reason: format!("a backend named `{}` already exists", d.name),
                    });
                }
                let mut servers = d.servers.clone();
                let mut check = d.check.clone().unwrap_or(CheckKind::Tcp);
                if let CheckKind::Http {
                    method,
                    uri,
                    version,
                    host,
                    headers,
                    expect,
                } = &mut check
                {
                    if let Some(m) = &d.http_send.method {
                        *method = m.clone();
                    }
                    if let Some(u) = &d.http_send.uri {
                        *uri = u.clone();
                    }
                    if let Some(v) = &d.http_send.version {
                        *version = v.clone();
                    }
                    if d.http_send.host.is_some() {
                        *host = d.http_send.host.clone();
                    }
                    *headers = d.http_send.headers.clone();
                    if let Some(e) = &d.http_expect {
                        *expect = e.clone();
                    }
                } else if let CheckKind::TcpCheck(steps) = &mut check {
                    *steps = d.tcp_check.clone();
                    // `tcp-check connect ssl`: the checks talk TLS with each server's
                    // TLS settings.
                    if let Some(TcpCheckStep::Connect { ssl: true, .. }) = steps.first() {
                        for sv in servers.iter_mut() {
                            match &mut sv.tls {
                                Some(t) => t.checks = true,
                                None => self.errors.push(ConfigError {
                                    place: sv.source.clone(),
                                    directive: "server".into(),
                                    reason: format!("`tcp-check connect ssl` needs TLS settings on server `{}` (`ca-file`, or `verify none` with `check-ssl`)", sv.name),
                                }),
                            }
                        }
                    }
                } else if d.http_expect.is_some() || d.http_send != HttpSend::default() {
                    // As HAProxy 2.6: a warning, and the checks stay what the section says.
                    self.warn(
                        &d.source,
                        "http-check",
                        format!("`{}` uses http-check rules without `option httpchk`, so the rules are ignored", d.name),
                    );
                }
                if d.servers.iter().all(|s| !s.check) && d.check.is_some() && !d.servers.is_empty()
                {
                    self.warn(&d.source, "option", format!("`{}` has a check option but no server has the `check` keyword: no server is checked", d.name));
                }
                if mode == Mode::Http {
                    for sv in &d.servers {
                        if sv
                            .tls
                            .as_ref()
                            .is_some_and(|t| t.traffic && t.alpn.iter().any(|p| p == "h2"))
                        {
                            self.warn(
                                &sv.source,
                                "server",
                                format!("server `{}`: halo speaks HTTP/1.1 to servers, so `alpn` offers them only http/1.1", sv.name),
                            );
                        }
                    }
                }
                if d.kind == Kind::Listen && d.servers.is_empty() && !d.stats_enabled {
                    self.warn(
                        &d.source,
                        d.kind.word(),
                        format!(
                            "`{}` has no server: every connection will be refused",
                            d.name
                        ),
                    );
                }
                cfg.backends.push(Backend {
                    name: d.name.clone(),
                    id: Some(id),
                    mode,
                    balance: d.balance.unwrap_or_default(),
                    hash_key: d.hash_key.clone(),
                    hash_consistent: d.hash_consistent.unwrap_or(false),
                    server: servers,
                    timeout_connect: t("connect"),
                    timeout_server: t("server"),
                    timeout_queue: t("queue"),
                    timeout_check: t("check"),
                    timeout_tunnel: t("tunnel"),
                    retries: d.retries.unwrap_or(3),
                    redispatch: d.redispatch.flatten(),
                    srvtcpka: d.srvtcpka.unwrap_or(false),
                    nolinger: d.nolinger.unwrap_or(false),
                    check,
                    allbackups: d.allbackups.unwrap_or(false),
                    http_server_close: d.http_server_close.unwrap_or(false)
                        || d.httpclose.unwrap_or(false),
                    httpclose: d.httpclose.unwrap_or(false),
                    reuse: d.reuse.unwrap_or_default(),
                    source_addr: d.source_addr,
                    errorfiles: backend_only(d, &d.errorfiles),
                    forwardfor: if d.kind == Kind::Backend {
                        d.forwardfor.clone().flatten()
                    } else {
                        None
                    },
                    originalto: if d.kind == Kind::Backend {
                        d.originalto.clone().flatten()
                    } else {
                        None
                    },
                    log_health_checks: d.log_health_checks.unwrap_or(false),
                    log: match d.kind {
                        Kind::Backend => d.log.clone().unwrap_or_default(),
                        _ => Vec::new(),
                    },
                    acl: backend_only(d, &d.acls),
                    http_request: backend_only(d, &d.http_rules),
                    http_response: backend_only(d, &d.http_response_rules),
                    http_after_response: backend_only(d, &d.after_rules),
                    tcp_request: backend_only(d, &d.tcp_rules),
                    tcp_response: d.tcp_response_rules.clone(),
                    // A backend section's own stats page (a `listen` serves its own
                    // from its frontend half).
                    stats: if d.kind == Kind::Backend {
                        stats_page(d)
                    } else {
                        None
                    },
                    redirect: backend_only(d, &d.redirect_rules),
                    cookie: backend_only_opt(d, &d.cookie),
                    stick: d
                        .stick_rules
                        .iter()
                        .map(|r| StickRule {
                            table: match r.table.is_empty() {
                                true => d.name.clone(),
                                false => r.table.clone(),
                            },
                            ..r.clone()
                        })
                        .collect(),
                    source: d.source.clone(),
                });
            }
        }
        let errs = validate(&cfg);
        self.errors.extend(errs);
        for f in &cfg.frontends {
            if f.default_backend.is_none() && f.use_backend.is_empty() && f.stats.is_none() {
                self.warn(
                    &f.source,
                    "frontend",
                    format!(
                        "`{}` has no backend: every connection will be refused",
                        f.name
                    ),
                );
            }
            if f.timeout_client.is_none() {
                self.warn(
                    &f.source,
                    "timeout client",
                    format!(
                        "`{}` has no client timeout: idle clients are kept forever",
                        f.name
                    ),
                );
            }
        }
        cfg
    }
}

/// Checks references between sections (also run on native TOML).
pub fn validate(cfg: &Config) -> Vec<ConfigError> {
    let mut errs = Vec::new();
    let mut e = |place: &str, directive: &str, reason: String| {
        errs.push(ConfigError {
            place: if place.is_empty() {
                "config".into()
            } else {
                place.to_string()
            },
            directive: directive.into(),
            reason,
        })
    };
    let mut seen_binds: Vec<(SocketAddr, &str)> = Vec::new();
    for f in &cfg.frontends {
        if f.bind.is_empty() {
            e(
                &f.source,
                "frontend",
                format!(
                    "frontend `{}` has no `bind`: it would never receive a connection",
                    f.name
                ),
            );
        }
        for b in &f.bind {
            if let Some((_, other)) = seen_binds.iter().find(|(a, _)| *a == b.addr) {
                e(
                    &b.source,
                    "bind",
                    format!("{} is already bound by `{other}`", b.addr),
                );
            }
            seen_binds.push((b.addr, &f.name));
        }
        if f.stats.is_some() && f.mode != Mode::Http {
            e(
                &f.source,
                "stats",
                format!("the stats page of `{}` needs `mode http`", f.name),
            );
        }
        let targets = f
            .default_backend
            .iter()
            .map(|n| (n.as_str(), f.source.as_str()))
            .chain(
                f.use_backend
                    .iter()
                    .filter(|u| !u.backend.contains('%'))
                    .map(|u| (u.backend.as_str(), u.source.as_str())),
            );
        for (name, place) in targets {
            match cfg.backend(name) {
                None => e(
                    place,
                    "use_backend",
                    format!("unknown backend `{name}` (used by `{}`)", f.name),
                ),
                Some(b) if f.mode == Mode::Http && b.mode == Mode::Tcp => e(
                    place,
                    "use_backend",
                    format!(
                        "frontend `{}` is in mode http but backend `{name}` is in mode tcp",
                        f.name
                    ),
                ),
                Some(b) if f.mode == Mode::Tcp && b.mode == Mode::Http => e(
                    place,
                    "use_backend",
                    format!(
                        "frontend `{}` is in mode tcp but backend `{name}` is in mode http",
                        f.name
                    ),
                ),
                _ => {}
            }
        }
        if let Some(ff) = &f.forwardfor {
            if hyper::header::HeaderName::from_bytes(ff.header.as_bytes()).is_err() {
                e(&f.source, "option forwardfor", bad_header(&ff.header));
            }
        }
        check_rules(
            &mut e,
            f.mode,
            &f.acl,
            &[
                ("http-request", &f.http_request),
                ("redirect", &f.redirect),
                ("monitor fail", &f.monitor_fail),
                ("http-response", &f.http_response),
                ("http-after-response", &f.http_after_response),
            ],
        );
        let tracks = f
            .http_request
            .iter()
            .filter_map(|r| match &r.action {
                HttpAction::Track(t) => Some((t, &r.source)),
                _ => None,
            })
            .chain(f.tcp_request.iter().filter_map(|r| match &r.action {
                TcpAction::Track(t) => Some((t, &r.source)),
                _ => None,
            }));
        for (t, place) in tracks {
            let table = t.table.as_deref().unwrap_or(&f.name);
            if !cfg.tables.iter().any(|x| x.name == table) {
                e(
                    place,
                    "track-sc",
                    format!("no stick-table in section `{table}`"),
                );
            }
        }
        for name in unknown_userlists(cfg, &f.acl) {
            e(&f.source, "http_auth", format!("unknown userlist `{name}`"));
        }
        for r in &f.tcp_request {
            for acl in unknown_acls(&f.acl, &r.any_of) {
                e(&r.source, "tcp-request", format!("unknown ACL `{acl}`"));
            }
        }
        for u in &f.use_backend {
            for acl in unknown_acls(&f.acl, &u.any_of) {
                e(&u.source, "use_backend", format!("unknown ACL `{acl}`"));
            }
        }
    }
    for b in &cfg.backends {
        if let Some(ff) = &b.forwardfor {
            if hyper::header::HeaderName::from_bytes(ff.header.as_bytes()).is_err() {
                e(&b.source, "option forwardfor", bad_header(&ff.header));
            }
        }
        check_rules(
            &mut e,
            b.mode,
            &b.acl,
            &[
                ("http-request", &b.http_request),
                ("redirect", &b.redirect),
                ("http-response", &b.http_response),
                ("http-after-response", &b.http_after_response),
            ],
        );
        for name in unknown_userlists(cfg, &b.acl) {
            e(&b.source, "http_auth", format!("unknown userlist `{name}`"));
        }
        if b.cookie.is_some() && b.mode == Mode::Tcp {
            e(
                &b.source,
                "cookie",
                "cookie persistence needs `mode http`".into(),
            );
        }
        for r in &b.tcp_request {
            for acl in unknown_acls(&b.acl, &r.any_of) {
                e(&r.source, "tcp-request", format!("unknown ACL `{acl}`"));
            }
        }
        for r in &b.stick {
            if !cfg.tables.iter().any(|t| t.name == r.table) {
                e(
                    &r.source,
                    "stick",
                    format!(
                        "`stick {}` needs a `stick-table` (section `{}` has none)",
                        r.kind.keyword(),
                        r.table
                    ),
                );
            }
            if r.kind == StickKind::StoreResponse && b.mode == Mode::Tcp {
                e(
                    &r.source,
                    "stick",
                    "`stick store-response` needs `mode http`".into(),
                );
            }
            for acl in unknown_acls(&b.acl, &r.any_of) {
                e(&r.source, "stick", format!("unknown ACL `{acl}`"));
            }
        }
        let ids = b.server_ids();
        for (k, s) in b.server.iter().enumerate() {
            if ids[..k].contains(&ids[k]) {
                e(
                    &s.source,
                    "server",
                    format!(
                        "`{}`: id {} is another server's in `{}`",
                        s.name, ids[k], b.name
                    ),
                );
            }
        }
        for s in &b.server {
            if let Some(t) = &s.track {
                if let Err(why) = track_chain(cfg, &b.name, s) {
                    e(
                        &s.source,
                        "server",
                        format!("`{}` tracks `{t}`: {why}", s.name),
                    );
                }
            }
            if s.weight > 256 {
                e(
                    &s.source,
                    "server",
                    format!("weight {} of `{}` is above 256", s.weight, s.name),
                );
            }
            if s.check && (s.check_params.rise == 0 || s.check_params.fall == 0) {
                e(
                    &s.source,
                    "server",
                    format!("`{}`: rise and fall must be at least 1", s.name),
                );
            }
        }
    }
    errs
}

/// Whether server `s` of backend `be` may track what it tracks: the chain of tracked
/// servers exists, has no loop, and ends at a server with health checks; a tracking
/// server has none of its own.
fn track_chain(cfg: &Config, be: &str, s: &Server) -> Result<(), String> {
    if s.check {
        return Err("a server cannot have checks and track another's at the same time".into());
    }
    let mut seen = vec![format!("{be}/{}", s.name)];
    let mut next = s.track.clone();
    while let Some(t) = next {
        if seen.contains(&t) {
            return Err(format!(
                "the tracking goes round ({} -> {t})",
                seen.join(" -> ")
            ));
        }
        let (b, n) = t.split_once('/').ok_or("not BACKEND/SERVER")?;
        let target = cfg
            .backends
            .iter()
            .find(|x| x.name == b)
            .and_then(|x| x.server.iter().find(|x| x.name == n))
            .ok_or_else(|| format!("no server `{n}` in backend `{b}`"))?;
        if target.check {
            return Ok(());
        }
        seen.push(t);
        next = target.track.clone();
    }
    Err("the servers it tracks have no health checks".into())
}

/// The userlists ACLs name in `http_auth()` that the configuration does not define.
fn unknown_userlists<'a>(cfg: &'a Config, acls: &'a [Acl]) -> impl Iterator<Item = &'a str> {
    use crate::sample::{Fetch, MsgFetch};
    acls.iter()
        .filter_map(|a| match &a.test.expr.fetch {
            Fetch::Msg(MsgFetch::HttpAuth(n)) => Some(n.as_str()),
            _ => None,
        })
        .filter(|n| !cfg.userlists.iter().any(|u| u.name == *n))
}

/// The ACL names a condition uses that the proxy does not define.
fn unknown_acls<'a>(acls: &'a [Acl], any_of: &'a [Vec<CondTerm>]) -> impl Iterator<Item = &'a str> {
    any_of
        .iter()
        .flatten()
        .map(|t| t.acl.as_str())
        .filter(|name| !acls.iter().any(|a| a.name == *name))
}

/// A proxy's rules (`http-request`, `redirect`, `monitor fail`, `http-response`):
/// `mode http`, known ACLs (a response's status only in response rules), valid
/// actions.
fn check_rules(
    e: &mut impl FnMut(&str, &str, String),
    mode: Mode,
    acls: &[Acl],
    lists: &[(&str, &Vec<HttpRule>)],
) {
    let rules = lists
        .iter()
        .flat_map(|(kw, rules)| rules.iter().map(move |r| (r, *kw)));
    for (r, kw) in rules {
        if mode == Mode::Tcp {
            e(&r.source, kw, format!("{kw} rules need `mode http`"));
        }
        for acl in unknown_acls(acls, &r.any_of) {
            e(&r.source, kw, format!("unknown ACL `{acl}`"));
        }
        let on_response = r.any_of.iter().flatten().any(|t| {
            acls.iter()
                .any(|a| a.name == t.acl && a.test.needs_response())
        }) || action_needs_response(&r.action);
        if on_response && kw != "http-response" && kw != "http-after-response" {
            e(
                &r.source,
                kw,
                "the response (`status`, `res.*`) is known only in http-response rules".into(),
            );
        }
        if let Err(why) = check_http_action(&r.action) {
            e(&r.source, kw, why);
        }
    }
}

/// Headers that decide how a request is routed or framed: rules may not change them.
const RULE_PROTECTED: &[&str] = &[
    "host",
    "content-length",
    "transfer-encoding",
    "connection",
    "upgrade",
    "keep-alive",
    "proxy-connection",
    "te",
    "trailer",
    "expect",
];

/// Statuses `http-request deny` may answer with (HAProxy's list).
const DENY_STATUSES: &[u16] = &[
    200, 400, 401, 403, 404, 405, 407, 408, 410, 413, 425, 429, 500, 501, 502, 503, 504,
];

/// Whether an action's values read the response.
fn action_needs_response(a: &HttpAction) -> bool {
    match a {
        HttpAction::SetHeader { value, .. } | HttpAction::AddHeader { value, .. } => {
            value.needs_response()
        }
        HttpAction::ReplaceHeader { with, .. } | HttpAction::ReplaceLine { with, .. } => {
            with.needs_response()
        }
        HttpAction::SetLine { value, .. } => value.needs_response(),
        HttpAction::SetVar { value, .. } => match value {
            VarValue::Expr(e) => e.needs_response(),
            VarValue::Fmt(f) => f.needs_response(),
        },
        HttpAction::Return(r) => {
            r.body.as_ref().is_some_and(LogFmt::needs_response)
                || r.headers.iter().any(|(_, v)| v.needs_response())
        }
        HttpAction::Redirect(r) => r.target.needs_response(),
        HttpAction::Track(t) => t.key.needs_response(),
        HttpAction::ScSetGpt0 { value, .. }
        | HttpAction::SetAddr { value, .. }
        | HttpAction::SetTimeout { value, .. }
        | HttpAction::Capture { value, .. } => value.needs_response(),
        HttpAction::ScIncGpc { .. }
        | HttpAction::DelHeader { .. }
        | HttpAction::Deny { .. }
        | HttpAction::Allow
        | HttpAction::Reject
        | HttpAction::Auth { .. }
        | HttpAction::UsePrometheus
        | HttpAction::UnsetVar { .. }
        | HttpAction::SetStatus { .. } => false,
    }
}

fn check_http_action(a: &HttpAction) -> Result<(), String> {
    let name_ok = |name: &str| -> Result<(), String> {
        if hyper::header::HeaderName::from_bytes(name.as_bytes()).is_err() {
            return Err(bad_header(name));
        }
        if RULE_PROTECTED.iter().any(|p| p.eq_ignore_ascii_case(name)) {
            return Err(format!(
                "`{name}` decides how a request is routed or framed: rules cannot change it"
            ));
        }
        Ok(())
    };
    // Text without samples must be a valid header value as it is; with samples it is
    // checked when it is made.
    let value_ok = |v: &LogFmt| -> Result<(), String> {
        if v.is_literal() && hyper::header::HeaderValue::from_str(&v.text).is_err() {
            return Err(format!("`{v}` is not a valid header value"));
        }
        Ok(())
    };
    match a {
        HttpAction::SetHeader { name, value } | HttpAction::AddHeader { name, value } => {
            name_ok(name)?;
            value_ok(value)
        }
        HttpAction::DelHeader {
            name,
            method: NameMatch::Str,
        } => name_ok(name),
        HttpAction::ReplaceHeader { name, .. } => name_ok(name),
        HttpAction::DelHeader { .. } => Ok(()),
        HttpAction::Deny { status, .. } if !DENY_STATUSES.contains(status) => Err(format!(
            "deny_status {status} is not one of {DENY_STATUSES:?}"
        )),
        HttpAction::Redirect(r) => value_ok(&r.target),
        HttpAction::Deny { .. }
        | HttpAction::Track(_)
        | HttpAction::SetAddr { .. }
        | HttpAction::SetTimeout { .. }
        | HttpAction::Capture { .. }
        | HttpAction::ScIncGpc { .. }
        | HttpAction::ScSetGpt0 { .. }
        | HttpAction::Allow
        | HttpAction::Reject
        | HttpAction::Auth { .. }
        | HttpAction::UsePrometheus
        | HttpAction::Return(_)
        | HttpAction::SetVar { .. }
        | HttpAction::UnsetVar { .. }
        | HttpAction::SetLine { .. }
        | HttpAction::ReplaceLine { .. }
        | HttpAction::SetStatus { .. } => Ok(()),
    }
}

/// The `len N` of a capture: a positive number of bytes.
fn capture_len(n: &str) -> R<usize> {
    n.parse()
        .ok()
        .filter(|n| *n > 0)
        .ok_or_else(|| format!("`len {n}` is not a length"))
}

/// `option forwardfor|originalto [except NET] [header NAME]`.
fn parse_forwarded(option: &str, header: &str, args: &[Word]) -> R<ForwardFor> {
    let mut ff = ForwardFor {
        header: header.into(),
        except: None,
    };
    let mut i = 0;
    while i < args.len() {
        let v = args
            .get(i + 1)
            .ok_or_else(|| format!("missing value after `{}`", args[i].text))?;
        match args[i].text.as_str() {
            "except" => ff.except = Some(Cidr::parse(&v.text)?),
            "header" if hyper::header::HeaderName::from_bytes(v.text.as_bytes()).is_err() => {
                return Err(bad_header(&v.text))
            }
            "header" => ff.header = v.text.clone(),
            o => {
                return Err(format!(
                    "{option} argument `{o}` is not supported (except, header)"
                ))
            }
        }
        i += 2;
    }
    Ok(ff)
}

fn bad_header(name: &str) -> String {
    format!("`{name}` is not a valid header name")
}

fn directive_name(w: &[Word]) -> String {
    match w[0].text.as_str() {
        "option" | "timeout" | "stats" | "http-check" | "no" | "balance" => w
            .iter()
            .take(2)
            .map(|x| x.text.as_str())
            .collect::<Vec<_>>()
            .join(" "),
        _ => w[0].text.clone(),
    }
}

fn join(w: &[Word], from: usize) -> String {
    w.iter()
        .skip(from)
        .map(|x| x.text.as_str())
        .collect::<Vec<_>>()
        .join(" ")
}

/// `fd@N`: the number of a descriptor this process inherited, with the TCP address its
/// socket is bound to (what the parent, a service manager or a test driver, bound).
pub fn inherited_listener(n: &str) -> R<(i32, SocketAddr)> {
    let fd: i32 = n
        .parse()
        .ok()
        .filter(|fd| *fd >= 0)
        .ok_or_else(|| format!("`fd@{n}`: `{n}` is not a file descriptor number"))?;
    // SAFETY: fcntl(F_GETFD) only asks whether the descriptor is open.
    if unsafe { libc::fcntl(fd, libc::F_GETFD) } < 0 {
        return Err(format!(
            "`fd@{fd}`: this process has no open descriptor {fd}"
        ));
    }
    // SAFETY: the descriptor is open (above) and is only looked at, never closed here.
    let sock = std::mem::ManuallyDrop::new(unsafe {
        <socket2::Socket as std::os::fd::FromRawFd>::from_raw_fd(fd)
    });
    sock.local_addr()
        .ok()
        .and_then(|a| a.as_socket())
        .ok_or_else(|| format!("`fd@{fd}` is not a TCP socket (only TCP listeners are supported)"))
        .map(|a| (fd, a))
}

/// `ADDR:PORT[,ADDR:PORT...]`; ADDR may be empty, `*`, an IPv4, an IPv6 (`[::]:80` or
/// `:::80`); PORT may be a range `a-b`; `ipv4@`/`ipv6@` prefixes are accepted.
pub fn parse_bind_addrs(spec: &str) -> R<Vec<SocketAddr>> {
    let mut out = Vec::new();
    for part in spec.split(',') {
        let part = part
            .strip_prefix("ipv4@")
            .or_else(|| part.strip_prefix("ipv6@"))
            .unwrap_or(part);
        if part.starts_with('/')
            || part.starts_with("unix@")
            || part.starts_with("abns@")
            || part.starts_with("sockpair@")
            || part.starts_with("fd@")
        {
            return Err(format!(
                "`{part}`: only TCP addresses (ADDR:PORT) are supported for listeners"
            ));
        }
        let (host, port) =
            split_host_port(part).ok_or_else(|| format!("`{part}` is not ADDR:PORT"))?;
        let ip: IpAddr = match host {
            "" | "*" => IpAddr::V4(std::net::Ipv4Addr::UNSPECIFIED),
            h => h.parse().map_err(|_| {
                format!("`{h}` is not an IP address (listeners need a literal address)")
            })?,
        };
        let (lo, hi) = match port.split_once('-') {
            Some((a, b)) => (parse_port(a)?, parse_port(b)?),
            None => {
                let p = parse_port(port)?;
                (p, p)
            }
        };
        if hi < lo || hi - lo > 1000 {
            return Err(format!("`{port}` is not a usable port range"));
        }
        for p in lo..=hi {
            out.push(SocketAddr::new(ip, p));
        }
    }
    Ok(out)
}

fn parse_port(p: &str) -> R<u16> {
    match p.parse::<u16>() {
        Ok(v) if v > 0 => Ok(v),
        _ => Err(format!("`{p}` is not a port number (1-65535)")),
    }
}

fn split_host_port(s: &str) -> Option<(&str, &str)> {
    if let Some(rest) = s.strip_prefix('[') {
        let (h, p) = rest.split_once("]:")?;
        return Some((h, p));
    }
    let i = s.rfind(':')?;
    Some((&s[..i], &s[i + 1..]))
}

/// A server address: IP or host name, with a port. Names are resolved now, once.
pub fn parse_server_addr(s: &str) -> R<SocketAddr> {
    let s = s
        .strip_prefix("ipv4@")
        .or_else(|| s.strip_prefix("ipv6@"))
        .unwrap_or(s);
    if s.starts_with('/') || s.contains('@') {
        return Err(format!("`{s}`: only TCP server addresses are supported"));
    }
    let Some((host, port)) = split_host_port(s) else {
        return Err(format!(
            "`{s}` has no port: halo needs ADDR:PORT for servers"
        ));
    };
    if host.is_empty() {
        return Err(format!("`{s}` has no address"));
    }
    if port.starts_with('+') || port.starts_with('-') {
        return Err(format!("`{s}`: relative server ports are not supported"));
    }
    let port = parse_port(port)?;
    if let Ok(ip) = host.parse::<IpAddr>() {
        return Ok(SocketAddr::new(ip, port));
    }
    let mut it = (host, port)
        .to_socket_addrs()
        .map_err(|e| format!("cannot resolve `{host}`: {e}"))?;
    it.next()
        .ok_or_else(|| format!("`{host}` resolves to no address"))
}

fn parse_server_kws(w: &[Word], defaults: bool) -> R<ServerDefaults> {
    let mut s = ServerDefaults::default();
    let mut i = 0;
    let arg = |i: usize| {
        w.get(i + 1)
            .ok_or_else(|| format!("missing value after `{}`", w[i].text))
    };
    while i < w.len() {
        let k = w[i].text.as_str();
        let mut step = 2;
        match k {
            "check" => {
                s.check = Some(true);
                step = 1;
            }
            "no-check" => {
                s.check = Some(false);
                step = 1;
            }
            "backup" => {
                s.backup = Some(true);
                step = 1;
            }
            "no-backup" => {
                s.backup = Some(false);
                step = 1;
            }
            "disabled" => {
                s.disabled = Some(true);
                step = 1;
            }
            "enabled" => {
                s.disabled = Some(false);
                step = 1;
            }
            "weight" => {
                let v: u32 = num(w.get(i + 1), "weight")?;
                if v > 256 {
                    return Err(format!("weight {v} is above 256"));
                }
                s.weight = Some(v);
            }
            "maxconn" => s.maxconn = Some(num(w.get(i + 1), "connection count")?),
            "cookie" if !defaults => s.cookie = Some(arg(i)?.text.clone()),
            "inter" => s.inter = Some(positive(time(w.get(i + 1))?, "inter")?),
            "fastinter" => s.fastinter = Some(positive(time(w.get(i + 1))?, "fastinter")?),
            "downinter" => s.downinter = Some(positive(time(w.get(i + 1))?, "downinter")?),
            "rise" => s.rise = Some(num(w.get(i + 1), "rise count")?),
            "fall" => s.fall = Some(num(w.get(i + 1), "fall count")?),
            "port" => s.port = Some(parse_port(&arg(i)?.text)?),
            "addr" => {
                let a = arg(i)?;
                s.addr = Some(a.text.parse().map_err(|_| format!("`{}` is not an IP address", a.text))?);
            }
            "observe" => {
                s.observe = Some(match arg(i)?.text.as_str() {
                    "layer4" => Observe::Layer4,
                    "layer7" => Observe::Layer7,
                    o => return Err(format!("unknown observe mode `{o}` (layer4, layer7)")),
                })
            }
            "error-limit" => s.error_limit = Some(num(w.get(i + 1), "error count")?),
            "on-error" => {
                s.on_error = Some(match arg(i)?.text.as_str() {
                    "fastinter" => OnError::Fastinter,
                    "fail-check" => OnError::FailCheck,
                    "sudden-death" => OnError::SuddenDeath,
                    "mark-down" => OnError::MarkDown,
                    o => return Err(format!("unknown on-error action `{o}` (fastinter, fail-check, sudden-death, mark-down)")),
                })
            }
            "on-marked-down" => match arg(i)?.text.as_str() {
                "shutdown-sessions" => s.shutdown_on_down = Some(true),
                o => return Err(format!("unknown on-marked-down action `{o}` (shutdown-sessions)")),
            },
            "on-marked-up" => match arg(i)?.text.as_str() {
                "shutdown-backup-sessions" => s.shutdown_backup_on_up = Some(true),
                o => return Err(format!("unknown on-marked-up action `{o}` (shutdown-backup-sessions)")),
            },
            "ssl" | "no-ssl" => {
                s.ssl = Some(k == "ssl");
                step = 1;
            }
            "check-ssl" | "no-check-ssl" => {
                s.check_ssl = Some(k == "check-ssl");
                step = 1;
            }
            "verify" => {
                s.verify = Some(match arg(i)?.text.as_str() {
                    "required" => true,
                    "none" => false,
                    o => return Err(format!("unknown verify mode `{o}` (none, required)")),
                })
            }
            "ca-file" => s.ca_file = Some(arg(i)?.text.clone()),
            "crt" => s.crt = Some(arg(i)?.text.clone()),
            "verifyhost" => s.verifyhost = Some(Some(arg(i)?.text.clone())),
            "no-verifyhost" => {
                s.verifyhost = Some(None);
                step = 1;
            }
            "sni" => s.sni = Some(crate::sample::Expr::parse(&arg(i)?.text)?),
            "check-sni" => s.check_sni = Some(arg(i)?.text.clone()),
            "alpn" | "check-alpn" => {
                let list = arg(i)?.text.split(',').map(String::from).collect();
                if k == "alpn" {
                    s.alpn = Some(list);
                } else {
                    s.check_alpn = Some(list);
                }
            }
            "ciphers" | "ciphersuites" => {
                let v13 = k == "ciphersuites";
                let list = super::tls::openssl_suites(&arg(i)?.text, v13)?;
                if v13 {
                    s.ciphersuites = Some(list);
                } else {
                    s.ciphers = Some(list);
                }
            }
            o @ ("no-sslv3" | "no-tlsv10" | "no-tlsv11" | "no-tlsv12" | "no-tlsv13" | "no-tls-tickets"
            | "force-tlsv12" | "force-tlsv13" | "ssl-min-ver" | "ssl-max-ver" | "force-sslv3"
            | "force-tlsv10" | "force-tlsv11") => {
                let (mut min, mut max) = (s.tls_min.unwrap_or(12), s.tls_max.unwrap_or(13));
                let next = w.get(i + 1).map(|x| x.text.as_str());
                step = super::tls::apply_option(o, next, &mut min, &mut max)?;
                // Only what the option set: the rest still comes from the globals.
                if matches!(o, "no-tlsv12" | "force-tlsv12" | "force-tlsv13" | "ssl-min-ver") {
                    s.tls_min = Some(min);
                }
                if matches!(o, "no-tlsv13" | "force-tlsv12" | "force-tlsv13" | "ssl-max-ver") {
                    s.tls_max = Some(max);
                }
            }
            // rustls resumes sessions with the servers it talked to (its session cache).
            "ssl-reuse" | "no-ssl-reuse" | "tls-tickets" => step = 1,
            "send-proxy" | "send-proxy-v2" | "no-send-proxy" | "no-send-proxy-v2" => {
                s.proxy = Some(match k {
                    "send-proxy" => Some(ProxyProto::V1),
                    "send-proxy-v2" => Some(ProxyProto::V2),
                    _ => None,
                });
                step = 1;
            }
            "check-send-proxy" => {
                s.check_proxy = Some(true);
                step = 1;
            }
            o @ ("send-proxy-v2-ssl" | "send-proxy-v2-ssl-cn" | "proxy-v2-options") => {
                return Err(format!("`{o}`: the PROXY protocol's TLS and other extensions are not supported (send-proxy, send-proxy-v2)"))
            }
            "cookie" => return Err("cookie persistence is not supported; use `balance source`".into()),
            "agent-check" | "no-agent-check" => {
                s.agent_check = Some(k == "agent-check");
                step = 1;
            }
            "agent-port" => {
                let v = &arg(i)?.text;
                s.agent_port = Some(
                    v.parse()
                        .ok()
                        .filter(|p| *p != 0)
                        .ok_or_else(|| format!("`agent-port {v}`: not a port"))?,
                );
            }
            "agent-addr" => {
                let v = &arg(i)?.text;
                s.agent_addr = Some(
                    v.parse()
                        .map_err(|_| format!("`agent-addr {v}`: not an IP address (names are not resolved)"))?,
                );
            }
            "agent-inter" => s.agent_inter = Some(time(Some(arg(i)?))?),
            "agent-send" => s.agent_send = Some(arg(i)?.text.clone()),
            "resolvers" | "init-addr" | "resolve-prefer" => {
                return Err("DNS resolution at run time is not supported; addresses are resolved once at load".into())
            }
            "track" if defaults => return Err("`track` names one server: it belongs on a `server` line".into()),
            "track" => s.track = Some(arg(i)?.text.clone()),
            "slowstart" => s.slowstart = Some(time(Some(arg(i)?))?),
            "pool-max-conn" => {
                let v = &arg(i)?.text;
                s.pool_max = Some(match v.as_str() {
                    "-1" => None,
                    n => Some(n.parse().map_err(|_| format!("`pool-max-conn {v}`: not a count (or -1)"))?),
                });
            }
            "maxqueue" | "minconn" => return Err(format!("`{k}` is not implemented (the backend queue is bounded by `timeout queue`)")),
            "id" if defaults => return Err("`id` numbers one server: it belongs on a `server` line".into()),
            "id" => {
                let v = &arg(i)?.text;
                s.id = Some(
                    v.parse()
                        .ok()
                        .filter(|n| *n > 0)
                        .ok_or_else(|| format!("`id {v}`: not a positive number"))?,
                );
            }
            "source" => {
                let end = w[i + 1..].iter().position(|x| x.text == "usesrc" || x.text == "interface");
                if let Some(n) = end.filter(|n| *n <= 1) {
                    return Err(format!("`source ... {}` is not supported (source ADDR[:PORT])", w[i + 1 + n].text));
                }
                s.source_addr = Some(parse_source(&w[i + 1..(i + 2).min(w.len())])?);
            }
            "init-state" => return Err("`init-state` is not supported: servers start up and one failed check marks them down".into()),
            o => {
                return Err(format!(
                    "unknown or unsupported {} keyword `{o}`",
                    if defaults { "default-server" } else { "server" }
                ))
            }
        }
        if step == 2 && w.get(i + 1).is_none() {
            return Err(format!("missing value after `{k}`"));
        }
        i += step;
    }
    Ok(s)
}

fn positive(d: Dur, what: &str) -> R<Dur> {
    if d.0.is_zero() {
        Err(format!("`{what}` must be greater than zero"))
    } else {
        Ok(d)
    }
}

fn parse_log(w: &[Word]) -> R<Option<LogTarget>> {
    let t = w.get(1).ok_or("missing log target")?.text.as_str();
    if t == "global" {
        return Ok(None);
    }
    let dest = match t {
        "stdout" => LogDest::Stdout,
        "stderr" => LogDest::Stderr,
        p if p.starts_with('/') => LogDest::Unix(p.into()),
        a => {
            let a = a
                .strip_prefix("udp@")
                .or_else(|| a.strip_prefix("udp4@"))
                .unwrap_or(a);
            let (ip, port) = match split_host_port(a) {
                Some((h, p)) if h.is_empty() || h.parse::<IpAddr>().is_ok() => {
                    (h, if p.is_empty() { 514 } else { parse_port(p)? })
                }
                _ => (a, 514),
            };
            // No address: this host, as HAProxy reads it (`:514`).
            let ip = if ip.is_empty() { "0.0.0.0" } else { ip };
            let ip: IpAddr = ip.parse().map_err(|_| {
                format!("`{a}` is not a log target (stdout, stderr, /path, IP[:PORT])")
            })?;
            LogDest::Udp(SocketAddr::new(ip, port))
        }
    };
    const LEVELS: &[&str] = &[
        "emerg", "alert", "crit", "err", "warning", "notice", "info", "debug",
    ];
    let mut t = LogTarget {
        dest,
        facility: String::new(),
        max_level: 7,
        min_level: 0,
        len: 1024,
        format: SyslogFormat::Rfc3164,
        sample: None,
    };
    let mut levels = 0;
    let mut i = 2;
    while i < w.len() {
        let arg = || w.get(i + 1).map(|x| x.text.as_str());
        match w[i].text.as_str() {
            "len" => {
                let n: usize = num(w.get(i + 1), "log line length")?;
                if n < 80 {
                    return Err(format!("`len {n}`: at least 80 bytes"));
                }
                t.len = n;
                i += 2;
            }
            "format" => {
                t.format = match arg().ok_or("missing log format")? {
                    "rfc3164" => SyslogFormat::Rfc3164,
                    "short" => SyslogFormat::Short,
                    "raw" => SyslogFormat::Raw,
                    f => {
                        return Err(format!(
                            "log format `{f}` is not supported (rfc3164, short, raw)"
                        ))
                    }
                };
                i += 2;
            }
            "sample" => {
                t.sample = Some(parse_log_sample(arg().ok_or("missing sample ranges")?)?);
                i += 2;
            }
            f if t.facility.is_empty() => {
                if !SYSLOG_FACILITIES.contains(&f) {
                    return Err(format!("`{f}` is not a syslog facility"));
                }
                t.facility = f.to_string();
                i += 1;
            }
            l => {
                let n = LEVELS
                    .iter()
                    .position(|x| *x == l)
                    .ok_or_else(|| format!("`{l}` is not a syslog level"))?;
                match levels {
                    0 => t.max_level = n as u8,
                    1 => t.min_level = n as u8,
                    _ => {
                        return Err(format!(
                            "unexpected `{l}`: a log target takes two levels at most"
                        ))
                    }
                }
                levels += 1;
                i += 1;
            }
        }
    }
    if t.facility.is_empty() {
        return Err("missing syslog facility (e.g. local0)".into());
    }
    Ok(Some(t))
}

/// `RANGES:SIZE`, as `1,3-4:10`.
fn parse_log_sample(text: &str) -> R<LogSample> {
    let bad = || format!("`sample {text}`: expected RANGES:SIZE, as 1,3-4:10");
    let (ranges, size) = text.rsplit_once(':').ok_or_else(bad)?;
    let size: u32 = size.parse().map_err(|_| bad())?;
    let mut out = Vec::new();
    for r in ranges.split(',') {
        let (a, b) = r.split_once('-').unwrap_or((r, r));
        let (a, b): (u32, u32) = (a.parse().map_err(|_| bad())?, b.parse().map_err(|_| bad())?);
        if a == 0 || a > b || b > size {
            return Err(format!(
                "`sample {text}`: ranges go from 1 to the size ({size})"
            ));
        }
        out.push((a, b));
    }
    Ok(LogSample { ranges: out, size })
}

fn parse_acl(name: &str, w: &[Word]) -> R<Acl> {
    let words: Vec<String> = w.iter().map(|x| x.text.clone()).collect();
    Ok(Acl {
        name: name.to_string(),
        test: AclTest::parse(&words)?,
    })
}

/// `http-request ACTION ARGS [if|unless COND]` (the words after `http-request`).
/// What a `backend` section has for itself; in a `listen` section it is the
/// frontend's (rules, ACLs, error pages), not applied twice.
fn backend_only<T: Clone + Default>(d: &Draft, v: &T) -> T {
    if d.kind == Kind::Backend {
        v.clone()
    } else {
        T::default()
    }
}

/// The stats page a section enabled (`stats enable|uri|...`).
fn stats_page(d: &Draft) -> Option<StatsPage> {
    d.stats_enabled.then(|| StatsPage {
        uri: d.stats.uri.clone().unwrap_or_else(default_stats_uri),
        realm: d.stats.realm.clone(),
        auth: d.stats.auth.clone(),
        refresh: d.stats.refresh,
        hide_version: d.stats.hide_version,
        show_node: d.stats.show_node,
        show_legends: d.stats.show_legends,
        admin: d.stats.admin.clone(),
    })
}

/// As [`backend_only`], for a setting that is inherited from `defaults` but whose
/// `listen` section is also its backend.
fn backend_only_opt<T: Clone>(d: &Draft, v: &Option<T>) -> Option<T> {
    match d.kind {
        Kind::Backend | Kind::Listen => v.clone(),
        _ => None,
    }
}

/// `cookie NAME insert [indirect] [nocache] [httponly] [secure] [domain D]... [attr A]...`.
fn parse_cookie(w: &[Word]) -> R<CookiePersist> {
    let name = w.first().ok_or("missing cookie name")?.text.clone();
    let mut c = CookiePersist {
        name,
        mode: CookieMode::Insert,
        preserve: false,
        indirect: false,
        nocache: false,
        httponly: false,
        secure: false,
        domain: Vec::new(),
        attr: Vec::new(),
    };
    let mut mode = None;
    let mut i = 1;
    while i < w.len() {
        let arg = || {
            w.get(i + 1)
                .map(|x| x.text.clone())
                .ok_or_else(|| format!("missing value after `{}`", w[i].text))
        };
        let word = w[i].text.as_str();
        match word {
            "insert" | "rewrite" | "prefix" => {
                let m = match word {
                    "insert" => CookieMode::Insert,
                    "rewrite" => CookieMode::Rewrite,
                    _ => CookieMode::Prefix,
                };
                if mode.is_some_and(|o| o != m) {
                    return Err("`cookie`: insert, rewrite and prefix exclude each other".into());
                }
                mode = Some(m);
            }
            "indirect" => c.indirect = true,
            "nocache" => c.nocache = true,
            "httponly" => c.httponly = true,
            "secure" => c.secure = true,
            "preserve" => c.preserve = true,
            "domain" => {
                c.domain.push(arg()?);
                i += 1;
            }
            "attr" => {
                let a = arg()?;
                if a.contains([';', '\r', '\n']) {
                    return Err(format!("cookie attribute `{a}` may not hold `;` or a line break"));
                }
                c.attr.push(a);
                i += 1;
            }
            o @ ("postonly" | "maxidle" | "maxlife" | "dynamic") => {
                return Err(format!("`cookie ... {o}` is not supported (insert, rewrite, prefix, indirect, nocache, httponly, secure, preserve, domain, attr)"))
            }
            o => return Err(format!("unknown cookie option `{o}`")),
        }
        i += 1;
    }
    c.mode = mode.unwrap_or(CookieMode::Passive);
    let inserting = [
        ("httponly", c.httponly),
        ("secure", c.secure),
        ("preserve", c.preserve),
    ];
    if c.mode != CookieMode::Insert {
        if let Some((o, _)) = inserting.iter().find(|(_, on)| *on) {
            return Err(format!(
                "`cookie ... {o}` needs `insert` (otherwise the server makes the cookie)"
            ));
        }
        if !c.domain.is_empty() || !c.attr.is_empty() {
            return Err("`cookie ... domain|attr` needs `insert`".into());
        }
    }
    Ok(c)
}

/// Statuses an `errorfile` may replace (HAProxy's list).
const ERRORFILE_STATUSES: &[u16] = &[
    200, 400, 401, 403, 404, 405, 407, 408, 410, 413, 425, 429, 500, 501, 502, 503, 504,
];

/// An `errorfile`: a whole HTTP/1 answer (status line, headers, body), read now; an
/// empty file (`/dev/null`) means no answer at all.
fn read_errorfile(code: u16, path: &str, bufsize: usize) -> R<Return> {
    if !ERRORFILE_STATUSES.contains(&code) {
        return Err(format!(
            "errorfile status {code} is not one of {ERRORFILE_STATUSES:?}"
        ));
    }
    let text = std::fs::read(path).map_err(|e| format!("cannot read `{path}`: {e}"))?;
    if text.len() > bufsize {
        return Err(format!(
            "`{path}` is larger than tune.bufsize ({bufsize} bytes)"
        ));
    }
    if text.is_empty() {
        return Ok(Return::of(code, ReplyFrom::Close));
    }
    let text = String::from_utf8(text).map_err(|_| format!("`{path}` is not UTF-8 text"))?;
    let mut headers = [httparse::EMPTY_HEADER; 64];
    let mut head = httparse::Response::new(&mut headers);
    let Ok(httparse::Status::Complete(n)) = head.parse(text.as_bytes()) else {
        return Err(format!(
            "`{path}` does not hold an HTTP answer (status line, headers, an empty line, the body)"
        ));
    };
    let mut r = Return::of(head.code.unwrap_or(code), ReplyFrom::Own);
    for h in head.headers.iter() {
        // The load balancer frames the answer itself.
        if [
            "content-length",
            "transfer-encoding",
            "connection",
            "keep-alive",
        ]
        .iter()
        .any(|x| h.name.eq_ignore_ascii_case(x))
        {
            continue;
        }
        let value = std::str::from_utf8(h.value)
            .ok()
            .filter(|v| hyper::header::HeaderValue::from_str(v).is_ok())
            .ok_or_else(|| format!("`{path}`: header `{}` has an invalid value", h.name))?;
        r.headers
            .push((h.name.to_ascii_lowercase(), LogFmt::literal(value)));
    }
    let body = &text[n..];
    r.body = (!body.is_empty()).then(|| LogFmt::literal(body));
    Ok(r)
}

/// `type ip|ipv6 size N[k|m|g] [expire T] [nopurge]`: the table's size and expiry.
/// A `stick-table` line as read.
#[derive(Debug, Clone)]
struct TableSpec {
    key: TableKey,
    size: usize,
    expire: Option<Dur>,
    store: Vec<crate::sample::stick::Stored>,
    source: String,
}

fn parse_stick_table(w: &[Word]) -> R<TableSpec> {
    let mut size = None;
    let mut expire = None;
    let mut key = None;
    let mut store = Vec::new();
    let mut i = 0;
    while i < w.len() {
        let arg = |k: usize| {
            w.get(k)
                .map(|x| x.text.as_str())
                .ok_or_else(|| format!("missing value after `{}`", w[i].text))
        };
        match w[i].text.as_str() {
            "type" => {
                key = Some(match arg(i + 1)? {
                    "ip" => TableKey::Ip,
                    "ipv6" => TableKey::Ipv6,
                    "integer" => TableKey::Integer,
                    "string" => TableKey::String,
                    "binary" => TableKey::Binary,
                    t => return Err(format!("stick-table type `{t}` is not one of ip, ipv6, integer, string, binary")),
                });
                i += 2;
                // `len N` of strings and binaries: keys are kept whole.
                if matches!(key, Some(TableKey::String | TableKey::Binary)) && w.get(i).is_some_and(|x| x.text == "len") {
                    let _: usize = num(w.get(i + 1), "key length")?;
                    i += 2;
                }
            }
            "size" => {
                let v = arg(i + 1)?;
                let (n, mult) = match v.char_indices().last() {
                    Some((k, 'k' | 'K')) => (&v[..k], 1 << 10),
                    Some((k, 'm' | 'M')) => (&v[..k], 1 << 20),
                    Some((k, 'g' | 'G')) => (&v[..k], 1 << 30),
                    _ => (v, 1),
                };
                let n: usize = n.parse().map_err(|_| format!("`{v}` is not a table size"))?;
                size = Some(n.saturating_mul(mult).max(1));
                i += 2;
            }
            "expire" => {
                expire = Some(time(w.get(i + 1))?);
                i += 2;
            }
            "nopurge" => i += 1,
            "peers" => return Err("stick-table `peers` are not supported: the node holding the VIP is the only one answering, with its own table".into()),
            "store" => {
                for item in split_top(arg(i + 1)?) {
                    store.push(crate::sample::stick::parse_stored(item.trim())?);
                }
                i += 2;
            }
            o => return Err(format!("stick-table option `{o}` is not supported (type, size, expire, nopurge, store)")),
        }
    }
    Ok(TableSpec {
        key: key.ok_or("a stick-table needs a `type`")?,
        size: size.ok_or("a stick-table needs a `size`")?,
        expire,
        store,
        source: String::new(),
    })
}

/// Splits a `store` list at the commas outside parentheses.
fn split_top(s: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let (mut depth, mut start) = (0i32, 0);
    for (i, c) in s.char_indices() {
        match c {
            '(' => depth += 1,
            ')' => depth -= 1,
            ',' if depth == 0 => {
                out.push(&s[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    out.push(&s[start..]);
    out.into_iter().filter(|x| !x.trim().is_empty()).collect()
}

/// `on|match|store-request|store-response KEY [table NAME] [if|unless COND]`.
fn parse_stick_rule(d: &mut Draft, w: &[Word], place: &str) -> R<StickRule> {
    let kind = match w.first().map(|x| x.text.as_str()) {
        Some("on") => StickKind::On,
        Some("match") => StickKind::Match,
        Some("store-request") => StickKind::StoreRequest,
        Some("store-response") => StickKind::StoreResponse,
        Some(o) => {
            return Err(format!(
                "`stick {o}`: not one of on, match, store-request, store-response"
            ))
        }
        None => return Err("`stick` takes on|match|store-request|store-response and a key".into()),
    };
    let text = w.get(1).ok_or_else(|| {
        format!(
            "`stick {}` needs a key (a sample: src, req.cook(NAME)...)",
            kind.keyword()
        )
    })?;
    let key = crate::sample::Expr::parse(&text.text)?;
    if key.needs_response() != (kind == StickKind::StoreResponse) {
        return Err(match kind {
            StickKind::StoreResponse => format!("`stick store-response {key}`: the key must be read in the response (res.cook(NAME), res.hdr(NAME)...)"),
            _ => format!("`stick {} {key}`: the key is read in the request; a response's key is stored with `stick store-response`", kind.keyword()),
        });
    }
    let mut rest = &w[2..];
    let mut table = String::new();
    if rest.first().is_some_and(|x| x.text == "table") {
        table = rest.get(1).ok_or("`table` needs a name")?.text.clone();
        if table.contains('/') {
            return Err(format!(
                "`table {table}`: peers' tables are not supported (halo keeps one table per node)"
            ));
        }
        rest = &rest[2..];
    }
    let (any_of, unless) = match rest.first().map(|x| x.text.as_str()) {
        None => (Vec::new(), false),
        Some(c @ ("if" | "unless")) if rest.len() > 1 => {
            (parse_cond(d, &rest[1..])?, c == "unless")
        }
        Some(c @ ("if" | "unless")) => return Err(format!("`{c}` without a condition")),
        Some(o) => {
            return Err(format!(
                "unexpected `{o}` after `stick {} {key}`",
                kind.keyword()
            ))
        }
    };
    Ok(StickRule {
        kind,
        key,
        table,
        any_of,
        unless,
        source: place.to_string(),
    })
}

/// `location|prefix|scheme TARGET [code N] [drop-query] [append-slash]
/// [ignore-empty]`, in any order.
fn parse_redirect(args: &[&str]) -> R<Redirect> {
    let mut target = None;
    let mut code = 302;
    let (mut drop_query, mut append_slash, mut ignore_empty) = (false, false, false);
    let mut i = 0;
    while i < args.len() {
        let arg = |k: usize| {
            args.get(k)
                .copied()
                .ok_or_else(|| format!("missing value after `{}`", args[i]))
        };
        match args[i] {
            k @ ("location" | "prefix" | "scheme") => {
                let kind = match k {
                    "location" => RedirectKind::Location,
                    "prefix" => RedirectKind::Prefix,
                    _ => RedirectKind::Scheme,
                };
                target = Some((kind, LogFmt::parse(arg(i + 1)?)?));
                i += 2;
            }
            "code" => {
                let c = arg(i + 1)?;
                code = match c.parse() {
                    Ok(c @ (301 | 302 | 303 | 307 | 308)) => c,
                    _ => {
                        return Err(format!(
                            "redirect code `{c}` is not one of 301, 302, 303, 307, 308"
                        ))
                    }
                };
                i += 2;
            }
            "drop-query" => {
                drop_query = true;
                i += 1;
            }
            "append-slash" => {
                append_slash = true;
                i += 1;
            }
            "ignore-empty" => {
                ignore_empty = true;
                i += 1;
            }
            o => {
                return Err(format!(
                    "redirect option `{o}` is not supported (location, prefix, scheme, code, drop-query, append-slash, ignore-empty)"
                ))
            }
        }
    }
    let (kind, target) =
        target.ok_or("`redirect` takes `location`, `prefix` or `scheme` and its target")?;
    Ok(Redirect {
        kind,
        target,
        code,
        drop_query,
        append_slash,
        ignore_empty,
    })
}

/// `return` and its options (the words after it).
/// Also the answer of `deny [deny_status N] ...` (from its `status`: `deny` is true)
/// and of `http-error status N ...` (`http_error`), whose words are the same.
fn parse_return(args: &[&str], rp: Replies<'_>, status: u16, http_error: bool) -> R<Return> {
    let bufsize = rp.bufsize;
    let mut r = Return::of(status, ReplyFrom::Own);
    let mut status_given = false;
    // `errorfile F`, `errorfiles NAME`, `default-errorfiles`: the whole answer.
    let mut whole: Option<(&str, Option<&str>)> = None;
    let mut i = 0;
    while i < args.len() {
        let arg = |k: usize| {
            args.get(k)
                .copied()
                .ok_or_else(|| format!("missing value after `{}`", args[i]))
        };
        match args[i] {
            "status" | "deny_status" => {
                let c = arg(i + 1)?;
                r.status = match c.parse() {
                    Ok(c @ 200..=599) => c,
                    _ => {
                        return Err(format!(
                            "`{} {c}` is not a status code (200..599)",
                            args[i]
                        ))
                    }
                };
                status_given = true;
                i += 2;
            }
            o @ ("errorfile" | "errorfiles") => {
                whole = Some((o, Some(arg(i + 1)?)));
                i += 2;
            }
            "default-errorfiles" => {
                whole = Some(("default-errorfiles", None));
                i += 1;
            }
            "content-type" => {
                r.content_type = Some(arg(i + 1)?.to_string());
                i += 2;
            }
            kind @ ("string" | "lf-string" | "file" | "lf-file") => {
                if r.body.is_some() {
                    return Err("`return` takes one body".into());
                }
                let v = arg(i + 1)?;
                let text = if kind.ends_with("file") {
                    let b = std::fs::read(v).map_err(|e| format!("cannot read `{v}`: {e}"))?;
                    if b.len() > bufsize {
                        return Err(format!("`{v}` is larger than tune.bufsize ({bufsize} bytes)"));
                    }
                    String::from_utf8(b).map_err(|_| format!("`{v}` is not UTF-8 text"))?
                } else {
                    v.to_string()
                };
                r.body = Some(if kind.starts_with("lf-") {
                    LogFmt::parse(&text)?
                } else {
                    LogFmt::literal(&text)
                });
                i += 2;
            }
            "hdr" => {
                let name = arg(i + 1)?;
                let value = LogFmt::parse(arg(i + 2)?)?;
                if hyper::header::HeaderName::from_bytes(name.as_bytes()).is_err() {
                    return Err(bad_header(name));
                }
                if ["content-length", "content-type", "transfer-encoding"]
                    .iter()
                    .any(|h| h.eq_ignore_ascii_case(name))
                {
                    return Err(format!("`hdr {name}`: the load balancer sets it itself"));
                }
                r.headers.push((name.to_string(), value));
                i += 3;
            }
            o => {
                return Err(format!(
                    "option `{o}` is not supported (status, content-type, string, lf-string, file, lf-file, hdr, errorfile, errorfiles, default-errorfiles)"
                ))
            }
        }
    }
    if http_error && !status_given {
        return Err("`http-error` needs `status CODE`".into());
    }
    if let Some((kw, v)) = whole {
        if r.body.is_some() || r.content_type.is_some() || !r.headers.is_empty() {
            return Err(format!(
                "`{kw}` gives the whole answer: no content-type, hdr or body beside it"
            ));
        }
        let code = r.status;
        return match (kw, v) {
            ("errorfile", Some(f)) => read_errorfile(code, f, bufsize),
            ("errorfiles", Some(name)) => {
                let section = rp
                    .sections
                    .get(name)
                    .ok_or_else(|| format!("no `http-errors {name}` section"))?;
                match section.get(&code) {
                    Some(x) => Ok(x.clone()),
                    None if http_error => {
                        Err(format!("`http-errors {name}` has no answer for {code}"))
                    }
                    // As HAProxy: the proxy's answer for the status.
                    None => Ok(Return::of(code, ReplyFrom::Proxy)),
                }
            }
            _ if http_error => Ok(Return::of(code, ReplyFrom::Builtin)),
            _ => Ok(Return::of(code, ReplyFrom::Proxy)),
        };
    }
    if r.body.is_some() && r.content_type.is_none() {
        return Err("a body needs a `content-type`".into());
    }
    Ok(r)
}

fn parse_http_rule(
    d: &mut Draft,
    w: &[Word],
    place: &str,
    response: bool,
    rp: Replies<'_>,
) -> R<HttpRule> {
    let kw = if response {
        "http-response"
    } else {
        "http-request"
    };
    let cond_at = w
        .iter()
        .position(|x| x.text == "if" || x.text == "unless")
        .unwrap_or(w.len());
    let (act, cond) = w.split_at(cond_at);
    let verb = act
        .first()
        .ok_or_else(|| format!("missing {kw} action"))?
        .text
        .as_str();
    let args: Vec<&str> = act[1..].iter().map(|x| x.text.as_str()).collect();
    let fmt = |v: &str| LogFmt::parse(v);
    // `set-var(NAME[,COND...])`: the variable is in the verb.
    let (verb, inner) = match verb.split_once('(') {
        Some((v, rest)) => (
            v,
            Some(
                rest.strip_suffix(')')
                    .ok_or_else(|| format!("`{verb}`: `(` without `)`"))?,
            ),
        ),
        None => (verb, None),
    };
    let line = |part: LinePart| -> R<HttpAction> {
        match args.as_slice() {
            [v] => Ok(HttpAction::SetLine {
                part,
                value: fmt(v)?,
            }),
            _ => Err(format!("`{kw} {verb}` takes one value")),
        }
    };
    let replace_line = |part: LinePart| -> R<HttpAction> {
        match args.as_slice() {
            [re, with] => Ok(HttpAction::ReplaceLine {
                part,
                re: Re::parse(re)?,
                with: fmt(with)?,
            }),
            _ => Err(format!(
                "`{kw} {verb}` takes a regular expression and a replacement"
            )),
        }
    };
    let action = match (verb, inner, args.as_slice()) {
        ("set-header", None, [name, value]) => HttpAction::SetHeader {
            name: name.to_string(),
            value: fmt(value)?,
        },
        ("add-header", None, [name, value]) => HttpAction::AddHeader {
            name: name.to_string(),
            value: fmt(value)?,
        },
        ("set-header" | "add-header", ..) => {
            return Err(format!(
                "`{kw} {verb}` takes a header name and one value (quote a value with spaces)"
            ))
        }
        ("del-header", None, [name]) => HttpAction::DelHeader {
            name: name.to_string(),
            method: NameMatch::Str,
        },
        ("del-header", None, [name, "-m", m]) => HttpAction::DelHeader {
            name: name.to_string(),
            method: match *m {
                "str" => NameMatch::Str,
                "beg" => NameMatch::Beg,
                "end" => NameMatch::End,
                "sub" => NameMatch::Sub,
                "reg" => NameMatch::Reg(Re::with_case(name, true)?),
                o => {
                    return Err(format!(
                        "`del-header -m {o}`: not one of str, beg, end, sub, reg"
                    ))
                }
            },
        },
        ("del-header", ..) => {
            return Err(format!(
                "`{kw} del-header` takes a header name and `-m METHOD`"
            ))
        }
        (v @ ("replace-header" | "replace-value"), None, [name, re, with]) => {
            HttpAction::ReplaceHeader {
                name: name.to_string(),
                re: Re::parse(re)?,
                with: fmt(with)?,
                each_value: v == "replace-value",
            }
        }
        ("replace-header" | "replace-value", ..) => {
            return Err(format!(
                "`{kw} {verb}` takes a header name, a regular expression and a replacement"
            ))
        }
        ("deny", None, rest) => {
            let r = parse_return(rest, rp, if response { 502 } else { 403 }, false)?;
            HttpAction::Deny {
                status: r.status,
                // With nothing but a status: the proxy's answer for it.
                reply: (!matches!(rest, [] | ["deny_status" | "status", _])).then_some(r),
            }
        }
        ("allow", None, []) => HttpAction::Allow,
        ("reject", None, []) if !response => HttpAction::Reject,
        ("allow", ..) => return Err(format!("`{kw} allow` takes no argument")),
        ("redirect", None, _) => HttpAction::Redirect(parse_redirect(&args)?),
        ("return", None, _) => HttpAction::Return(parse_return(&args, rp, 200, false)?),
        ("use-service", None, ["prometheus-exporter"]) if !response => HttpAction::UsePrometheus,
        ("use-service", None, [s]) if !response => {
            return Err(format!(
                "service `{s}` is not supported (prometheus-exporter)"
            ))
        }
        ("auth", None, []) if !response => HttpAction::Auth { realm: None },
        ("auth", None, ["realm", r]) if !response => HttpAction::Auth {
            realm: Some(r.to_string()),
        },
        ("auth", ..) if !response => {
            return Err("`http-request auth` takes only `realm NAME`".into())
        }
        (t, None, _) if !response && t.starts_with("track-sc") => {
            HttpAction::Track(parse_track(t, &args)?)
        }
        (v, None, [e]) if !response && AddrPart::of_action(v).is_some() => HttpAction::SetAddr {
            part: AddrPart::of_action(v).ok_or("unreachable")?,
            value: Expr::parse(e)?,
        },
        ("set-src" | "set-dst" | "set-src-port" | "set-dst-port", ..) if !response => {
            return Err(format!("`{kw} {verb}` takes one expression"))
        }
        ("capture", ..) if d.kind == Kind::Backend => {
            return Err("capture rules fill the frontend's slots: they belong to frontends".into())
        }
        ("capture", None, [e, kind @ ("len" | "id"), n]) => {
            let n: usize = n
                .parse()
                .map_err(|_| format!("`{kind} {n}` is not a number"))?;
            let slots = match response {
                false => &mut d.captures.request,
                true => &mut d.captures.response,
            };
            let (slot, len) = match *kind {
                "len" if n > 0 => {
                    slots.push((String::new(), n));
                    (slots.len() - 1, n)
                }
                "len" => return Err("`len 0` keeps nothing".into()),
                _ => match slots.get(n) {
                    Some((_, len)) => (n, *len),
                    None => {
                        return Err(format!(
                            "`id {n}`: no capture slot {n} declared before (`declare capture`, `capture ... len N`)"
                        ))
                    }
                },
            };
            HttpAction::Capture {
                value: Expr::parse(e)?,
                slot,
                len,
            }
        }
        ("capture", ..) => {
            return Err(format!(
                "`{kw} capture` takes an expression and `len N` or `id N`"
            ))
        }
        ("set-timeout", None, [which, v]) if !response => HttpAction::SetTimeout {
            which: match *which {
                "server" => TimeoutKind::Server,
                "tunnel" => TimeoutKind::Tunnel,
                "client" => TimeoutKind::Client,
                o => {
                    return Err(format!(
                        "`set-timeout {o}`: not one of server, tunnel, client"
                    ))
                }
            },
            // A time (`5s`) is its milliseconds; else an expression giving them.
            value: match Dur::parse(v) {
                Ok(d) => Expr::parse(&format!("int({})", d.0.as_millis()))?,
                Err(_) => Expr::parse(v)?,
            },
        },
        ("set-timeout", ..) if !response => {
            return Err(format!(
                "`{kw} set-timeout` takes server|tunnel|client and a time or an expression"
            ))
        }
        ("sc-inc-gpc0" | "sc-inc-gpc1", Some(n), []) if !response => HttpAction::ScIncGpc {
            slot: slot_of(n)?,
            gpc1: verb.ends_with('1'),
        },
        ("sc-set-gpt0", Some(n), [v]) if !response => HttpAction::ScSetGpt0 {
            slot: slot_of(n)?,
            value: Expr::parse(v)?,
        },
        ("set-var" | "set-var-fmt", Some(var), [v]) => HttpAction::SetVar {
            var: VarSet::parse(var)?,
            value: if verb == "set-var" {
                VarValue::Expr(Expr::parse(v)?)
            } else {
                VarValue::Fmt(fmt(v)?)
            },
        },
        ("set-var" | "set-var-fmt", ..) => {
            return Err(format!("`{kw} {verb}(NAME)` takes one expression"))
        }
        ("unset-var", Some(var), []) => {
            crate::sample::check_var_name(var)?;
            HttpAction::UnsetVar {
                name: var.to_string(),
            }
        }
        ("set-method", None, _) if !response => line(LinePart::Method)?,
        ("set-path", None, _) if !response => line(LinePart::Path)?,
        ("set-query", None, _) if !response => line(LinePart::Query)?,
        ("set-pathq", None, _) if !response => line(LinePart::Pathq)?,
        ("set-uri", None, _) if !response => line(LinePart::Uri)?,
        ("replace-path", None, _) if !response => replace_line(LinePart::Path)?,
        ("replace-pathq", None, _) if !response => replace_line(LinePart::Pathq)?,
        ("replace-uri", None, _) if !response => replace_line(LinePart::Uri)?,
        ("set-status", None, [code, rest @ ..]) if response => HttpAction::SetStatus {
            status: match code.parse() {
                Ok(c @ 100..=999) => c,
                _ => return Err(format!("`set-status {code}` is not a status code")),
            },
            reason: match rest {
                [] => None,
                ["reason", r] => Some(r.to_string()),
                _ => return Err("`set-status CODE` takes only `reason TEXT`".into()),
            },
        },
        (o, ..) => {
            return Err(format!(
                "`{kw} {o}` is not supported ({})",
                if response {
                    "set-header, add-header, del-header, replace-header, replace-value, deny, allow, return, set-var, set-var-fmt, unset-var, set-status"
                } else {
                    "set-header, add-header, del-header, replace-header, replace-value, deny, allow, reject, auth, use-service, redirect, return, set-var, set-var-fmt, unset-var, set-method, set-path, set-query, set-pathq, set-uri, replace-path, replace-pathq, replace-uri, track-sc0|1|2, set-src, set-dst, set-src-port, set-dst-port, set-timeout"
                }
            ))
        }
    };
    let (any_of, unless) = match cond.first().map(|x| x.text.as_str()) {
        None => (Vec::new(), false),
        Some(c) => {
            if cond.len() == 1 {
                return Err(format!("`{c}` without a condition"));
            }
            (parse_cond(d, &cond[1..])?, c == "unless")
        }
    };
    Ok(HttpRule {
        action,
        any_of,
        unless,
        source: place.to_string(),
    })
}

/// The PEM files of `crt PATH`: the file, or a directory's files in name order
/// (`crt-base` before a relative path); each must hold a certificate and a key.
/// The certificate files `crt PATH` names (a file, or a directory's files), each read.
fn certificate_files(
    path: &str,
    base: Option<&std::path::Path>,
) -> R<Vec<(std::path::PathBuf, Vec<u8>)>> {
    let p = std::path::Path::new(path);
    let p = match base {
        Some(b) if p.is_relative() => b.join(p),
        _ => p.to_path_buf(),
    };
    let files = if p.is_dir() {
        let mut v: Vec<_> = std::fs::read_dir(&p)
            .map_err(|e| format!("cannot read `{}`: {e}", p.display()))?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|f| {
                f.is_file()
                    && !matches!(
                        f.extension().and_then(|x| x.to_str()),
                        Some("key" | "ocsp" | "issuer" | "sctl")
                    )
            })
            .collect();
        v.sort();
        v
    } else {
        vec![p.clone()]
    };
    if files.is_empty() {
        return Err(format!("`{}` holds no certificate", p.display()));
    }
    files
        .into_iter()
        .map(|f| {
            let pem = super::tls::read_pem(&f)?;
            Ok((f, pem))
        })
        .collect()
}

/// `balance ALGORITHM [ARGS]`: the algorithm and, for those that hash a request, what
/// they hash.
fn parse_balance(alg: &str, args: &[Word]) -> R<(Balance, Option<HashKey>)> {
    let simple = |b: Balance| -> R<(Balance, Option<HashKey>)> {
        match args.first() {
            Some(x) => Err(format!("unexpected extra argument `{}`", x.text)),
            None => Ok((b, None)),
        }
    };
    match alg {
        "roundrobin" => simple(Balance::Roundrobin),
        "static-rr" => simple(Balance::StaticRr),
        "leastconn" => simple(Balance::Leastconn),
        "source" => simple(Balance::Source),
        "first" => simple(Balance::First),
        // `random(N)`: N draws; halo draws two, HAProxy's default.
        "random" | "random(2)" => simple(Balance::Random),
        "uri" => {
            let (mut whole, mut path_only, mut len, mut depth) = (false, false, None, None);
            let mut i = 0;
            while i < args.len() {
                match args[i].text.as_str() {
                    "whole" => whole = true,
                    "path-only" => path_only = true,
                    k @ ("len" | "depth") => {
                        let n: usize = num(args.get(i + 1), k)?;
                        if k == "len" {
                            len = Some(n);
                        } else {
                            depth = Some(n);
                        }
                        i += 1;
                    }
                    o => return Err(format!("`balance uri` option `{o}` is not supported (whole, path-only, len N, depth N)")),
                }
                i += 1;
            }
            Ok((Balance::Uri, Some(HashKey::Uri { whole, path_only, len, depth })))
        }
        "url_param" => match args {
            [name] => Ok((Balance::UrlParam, Some(HashKey::UrlParam(name.text.clone())))),
            [_, o, ..] => Err(format!("`balance url_param` option `{}` is not supported (the parameter's name only)", o.text)),
            [] => Err("`balance url_param` needs the parameter's name".into()),
        },
        h if h.starts_with("hdr(") && h.ends_with(')') => {
            let name = h[4..h.len() - 1].to_ascii_lowercase();
            if name.is_empty() {
                return Err("`balance hdr()` needs a header name".into());
            }
            let domain_only = match args {
                [] => false,
                [x] if x.text == "use_domain_only" => true,
                [x, ..] => return Err(format!("`balance hdr` option `{}` is not supported (use_domain_only)", x.text)),
            };
            Ok((Balance::Hdr, Some(HashKey::Hdr { name, domain_only })))
        }
        "hash" => match args {
            [e] => Ok((Balance::Hash, Some(HashKey::Expr(crate::sample::Expr::parse(&e.text)?)))),
            _ => Err("`balance hash` takes one sample expression (`balance hash req.cook(sid)`)".into()),
        },
        "hdr" | "rdp-cookie" => Err(format!(
            "balance `{alg}` is not implemented (roundrobin, static-rr, leastconn, source, first, random, uri, url_param NAME, hdr(NAME))"
        )),
        o if o.starts_with("random(") || o.starts_with("rdp-cookie") => Err(format!(
            "balance `{o}` is not implemented (random draws two)"
        )),
        o => Err(format!("unknown balance algorithm `{o}`")),
    }
}

/// `source ADDR[:PORT]` (port 0 or none: any): where connections to servers come from.
fn parse_source(w: &[Word]) -> R<SocketAddr> {
    let a = w.first().ok_or("`source` needs an address")?.text.as_str();
    if let Some(o) = w.get(1) {
        return Err(format!(
            "`source ... {}` is not supported (source ADDR[:PORT])",
            o.text
        ));
    }
    let (host, port) = match split_host_port(a) {
        Some((h, p)) if h.parse::<IpAddr>().is_ok() => (
            h,
            if p.is_empty() {
                0
            } else {
                parse_port(p).or_else(|_| {
                    if p == "0" {
                        Ok(0)
                    } else {
                        Err(format!("`{a}`: not a port"))
                    }
                })?
            },
        ),
        _ => (a, 0),
    };
    let ip: IpAddr = host
        .trim_matches(|c| c == '[' || c == ']')
        .parse()
        .map_err(|_| format!("`source {a}`: not an IP address (names are not resolved)"))?;
    Ok(SocketAddr::new(ip, port))
}

/// A certificate file, its bytes, and the SNI filters a `crt-list` gives it.
type ListedCert = (std::path::PathBuf, Vec<u8>, Vec<String>);

/// `crt-list FILE`: a certificate per line, `CERT [[OPTIONS]] [SNI-FILTER...]`, where
/// the filters are the names the certificate serves (wildcards allowed) and `!NAME`
/// one it does not; without filters, the certificate's own names. `#` begins a comment.
fn crt_list(path: &str, base: Option<&std::path::Path>) -> R<Vec<ListedCert>> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("cannot read `{path}`: {e}"))?;
    let mut out = Vec::new();
    for (n, line) in text.lines().enumerate() {
        let at = |why: String| format!("{path}:{}: {why}", n + 1);
        let line = line.split('#').next().unwrap_or("").trim();
        let mut words = line.split_whitespace();
        let Some(cert) = words.next() else { continue };
        let rest: Vec<&str> = words.collect();
        let filters: Vec<String> = match rest.first() {
            Some(w) if w.starts_with('[') => {
                let end = rest
                    .iter()
                    .position(|w| w.ends_with(']'))
                    .ok_or_else(|| at("`[` without `]`".into()))?;
                let inside = rest[..=end].join(" ");
                let inside = inside.trim_start_matches('[').trim_end_matches(']').trim();
                if !inside.is_empty() {
                    return Err(at(format!(
                        "per-certificate SSL settings `[{inside}]` are not supported: set them on the bind line"
                    )));
                }
                rest[end + 1..].iter().map(|s| s.to_string()).collect()
            }
            _ => rest.iter().map(|s| s.to_string()).collect(),
        };
        let files = certificate_files(cert, base).map_err(at)?;
        out.extend(files.into_iter().map(|(p, pem)| (p, pem, filters.clone())));
    }
    if out.is_empty() {
        return Err(format!("`{path}` lists no certificate"));
    }
    Ok(out)
}

/// `tcp-check connect [port N] | send STRING | send-binary HEX | expect [!] string|rstring|binary PATTERN | comment TEXT`.
fn parse_tcp_check(w: &[Word], first: bool) -> R<Option<TcpCheckStep>> {
    let kw = w.first().ok_or("missing tcp-check step")?.text.as_str();
    let arg = |i: usize| {
        w.get(i)
            .map(|x| x.text.as_str())
            .ok_or_else(|| format!("`tcp-check {kw}` needs a value"))
    };
    Ok(Some(match kw {
        "connect" => {
            if !first {
                return Err("`tcp-check connect` is only supported as the first step".into());
            }
            let (mut port, mut ssl) = (None, false);
            let mut i = 1;
            while i < w.len() {
                match w[i].text.as_str() {
                    "port" => {
                        let p = w.get(i + 1).ok_or("missing port after `port`")?;
                        port = Some(
                            p.text
                                .parse()
                                .map_err(|_| format!("`{}` is not a port", p.text))?,
                        );
                        i += 2;
                    }
                    "ssl" => {
                        ssl = true;
                        i += 1;
                    }
                    o => {
                        return Err(format!(
                            "`tcp-check connect {o}` is not supported (port N, ssl)"
                        ))
                    }
                }
            }
            TcpCheckStep::Connect { port, ssl }
        }
        "send" => {
            let v = arg(1)?;
            no_more(w, 2)?;
            TcpCheckStep::Send(v.as_bytes().to_vec())
        }
        "send-binary" => {
            let v = arg(1)?;
            no_more(w, 2)?;
            TcpCheckStep::Send(
                crate::sample::conv::unhex(v).ok_or_else(|| format!("`{v}` is not hexadecimal"))?,
            )
        }
        "expect" => {
            let mut i = 1;
            let mut min_recv = None;
            if arg(1)? == "min-recv" {
                let n = arg(2)?;
                min_recv = Some(
                    n.parse()
                        .map_err(|_| format!("`min-recv {n}`: not a number of bytes"))?,
                );
                i = 3;
            }
            let mut negate = false;
            if arg(i)? == "!" {
                negate = true;
                i += 1;
            }
            let mut kind = arg(i)?;
            if let Some(k) = kind.strip_prefix('!') {
                // `!string`, as HAProxy also reads it.
                negate = true;
                kind = k;
            }
            let v = arg(i + 1)?;
            let comment = match w.get(i + 2).map(|x| x.text.as_str()) {
                Some("comment") => Some(arg(i + 3)?.to_string()),
                Some(o) => return Err(format!("unexpected extra argument `{o}`")),
                None => None,
            };
            no_more(w, if comment.is_some() { i + 4 } else { i + 2 })?;
            let what = match kind {
                "string" => TcpExpect::String(v.to_string()),
                "rstring" => TcpExpect::Rstring(Re::parse(v)?),
                "binary" => TcpExpect::Binary(
                    crate::sample::conv::unhex(v)
                        .ok_or_else(|| format!("`{v}` is not hexadecimal"))?,
                ),
                o => {
                    return Err(format!(
                        "`tcp-check expect {o}` is not supported (string, rstring, binary)"
                    ))
                }
            };
            TcpCheckStep::Expect {
                negate,
                what,
                min_recv,
                comment,
            }
        }
        "comment" => return Ok(None),
        o => {
            return Err(format!(
                "`tcp-check {o}` is not supported (connect, send, send-binary, expect, comment)"
            ))
        }
    }))
}

/// A stream counter slot: 0, 1 or 2.
fn slot_of(n: &str) -> R<u8> {
    match n.trim().parse::<u8>() {
        Ok(n) if n < 3 => Ok(n),
        _ => Err(format!("`{n}`: a stream counter is 0, 1 or 2")),
    }
}

/// `track-scN KEY [table TABLE]`.
fn parse_track(verb: &str, args: &[&str]) -> R<Track> {
    let slot = slot_of(verb.trim_start_matches("track-sc"))?;
    match args {
        [key] => Ok(Track {
            slot,
            key: Expr::parse(key)?,
            table: None,
        }),
        [key, "table", t] => Ok(Track {
            slot,
            key: Expr::parse(key)?,
            table: Some(t.to_string()),
        }),
        _ => Err(format!("`{verb} KEY [table TABLE]`")),
    }
}

/// `tcp-request inspect-delay T` (how long a `mode tcp` frontend waits for the
/// client's first bytes before its content rules and `use_backend` read them) or
/// `tcp-request STAGE ACTION [if|unless COND]`.
fn parse_tcp_rule(d: &mut Draft, w: &[Word], place: &str) -> R<Option<TcpRule>> {
    let stage = match w.first().map(|x| x.text.as_str()) {
        Some("inspect-delay") => {
            d.inspect_delay = Some(time(w.get(1))?);
            no_more(w, 2)?;
            return Ok(None);
        }
        Some("connection") => TcpStage::Connection,
        Some("session") => TcpStage::Session,
        Some("content") => TcpStage::Content,
        Some(o) => {
            return Err(format!(
                "`tcp-request {o}`: not one of connection, session, content, inspect-delay"
            ))
        }
        None => return Err("`tcp-request` takes a stage and an action".into()),
    };
    let cond_at = w
        .iter()
        .position(|x| x.text == "if" || x.text == "unless")
        .unwrap_or(w.len());
    let (act, cond) = w.split_at(cond_at);
    let verb = act
        .get(1)
        .ok_or("missing tcp-request action")?
        .text
        .as_str();
    let args: Vec<&str> = act[2..].iter().map(|x| x.text.as_str()).collect();
    let (name, inner) = match verb.split_once('(') {
        Some((v, rest)) => (v, rest.strip_suffix(')')),
        None => (verb, None),
    };
    let action = match (name, inner, args.as_slice()) {
        (t, None, _) if t.starts_with("track-sc") => TcpAction::Track(parse_track(t, &args)?),
        (v, None, [e]) if AddrPart::of_action(v).is_some() => TcpAction::SetAddr {
            part: AddrPart::of_action(v).ok_or("unreachable")?,
            value: Expr::parse(e)?,
        },
        ("accept", None, []) => TcpAction::Accept,
        ("reject", None, []) => TcpAction::Reject,
        ("set-var" | "set-var-fmt", Some(var), [v]) => TcpAction::SetVar {
            var: VarSet::parse(var)?,
            value: if name == "set-var" {
                VarValue::Expr(Expr::parse(v)?)
            } else {
                VarValue::Fmt(LogFmt::parse(v)?)
            },
        },
        ("unset-var", Some(var), []) => {
            crate::sample::check_var_name(var)?;
            TcpAction::UnsetVar {
                name: var.to_string(),
            }
        }
        ("accept" | "reject" | "set-var" | "set-var-fmt" | "unset-var" | "set-src" | "set-dst"
        | "set-src-port" | "set-dst-port", ..) => {
            return Err(format!("`tcp-request {}`: wrong arguments", verb))
        }
        (o, ..) => {
            return Err(format!(
                "`tcp-request {} {o}` is not supported (accept, reject, track-sc0|1|2, set-var, set-var-fmt, unset-var, set-src, set-dst, set-src-port, set-dst-port)",
                w[0].text
            ))
        }
    };
    let (any_of, unless) = match cond.first().map(|x| x.text.as_str()) {
        None => (Vec::new(), false),
        Some(c) if cond.len() == 1 => return Err(format!("`{c}` without a condition")),
        Some(c) => (parse_cond(d, &cond[1..])?, c == "unless"),
    };
    Ok(Some(TcpRule {
        stage,
        action,
        any_of,
        unless,
        source: place.to_string(),
    }))
}

/// `a b || !c { path_beg /x }`: OR of AND-groups; anonymous ACLs in braces are added to
/// the draft under generated names.
fn parse_cond(d: &mut Draft, w: &[Word]) -> R<Vec<Vec<CondTerm>>> {
    let mut groups = vec![Vec::new()];
    let mut i = 0;
    while i < w.len() {
        let t = w[i].text.as_str();
        if t == "or" || t == "||" {
            groups.push(Vec::new());
            i += 1;
            continue;
        }
        let (negate, rest) = match t.strip_prefix('!') {
            Some("") => {
                i += 1;
                let n = w.get(i).ok_or("`!` at the end of the condition")?;
                (true, n.text.clone())
            }
            Some(r) => (true, r.to_string()),
            None => (false, t.to_string()),
        };
        let acl = if rest == "{" {
            let end = w[i + 1..]
                .iter()
                .position(|x| x.text == "}")
                .ok_or("`{` without `}`")?;
            d.anon_acls += 1;
            let name = format!("<anonymous-{}>", d.anon_acls);
            let acl = parse_acl(&name, &w[i + 1..i + 1 + end])?;
            d.acls.push(acl);
            i += end + 1;
            name
        } else {
            rest
        };
        if !d.acls.iter().any(|a| a.name == acl) {
            if let Some(text) = crate::sample::acl::predefined(&acl) {
                let words: Vec<String> = text.split(' ').map(String::from).collect();
                d.acls.push(Acl {
                    name: acl.clone(),
                    test: AclTest::parse(&words)?,
                });
            }
        }
        groups
            .last_mut()
            .expect("groups is never empty")
            .push(CondTerm { acl, negate });
        i += 1;
    }
    if groups.iter().any(|g| g.is_empty()) {
        return Err("empty condition".into());
    }
    Ok(groups)
}

fn parse_expect(w: &[Word]) -> R<HttpExpect> {
    let (negate, w) = match w.first().map(|x| x.text.as_str()) {
        Some("!") => (true, &w[1..]),
        _ => (false, w),
    };
    let kind = w
        .first()
        .ok_or("missing expect kind (status, string)")?
        .text
        .as_str();
    let v = w.get(1).ok_or("missing expect value")?.text.clone();
    no_more(w, 2)?;
    match kind {
        "status" => {
            let (lo, hi) = match v.split_once('-') {
                Some((a, b)) => (a, b),
                None => (v.as_str(), v.as_str()),
            };
            let lo: u16 = lo
                .parse()
                .map_err(|_| format!("`{v}` is not a status or range"))?;
            let hi: u16 = hi
                .parse()
                .map_err(|_| format!("`{v}` is not a status or range"))?;
            if !(100..=599).contains(&lo) || hi < lo || hi > 599 {
                return Err(format!("`{v}` is not a valid status or range"));
            }
            Ok(HttpExpect::Status { lo, hi, negate })
        }
        "string" => Ok(HttpExpect::String { text: v, negate }),
        "rstatus" | "rstring" => Err(
            "regular expressions in `http-check expect` are not supported (status, string)".into(),
        ),
        o => Err(format!("unknown expect kind `{o}` (status, string)")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ok(text: &str) -> Config {
        match parse(text, "t.cfg") {
            Ok(p) => p.config,
            Err(e) => panic!("{e}"),
        }
    }

    fn errs(text: &str) -> Vec<String> {
        match parse(text, "t.cfg") {
            Ok(_) => panic!("accepted"),
            Err(e) => e.0.iter().map(|e| e.to_string()).collect(),
        }
    }

    /// Proxies are numbered as HAProxy numbers them: `id N` where given, else the next
    /// free number in the order of the sections from 2; a `listen` is one proxy; two
    /// proxies with one id are refused.
    #[test]
    fn proxies_are_numbered_in_order_or_by_id() {
        let text = "frontend f\n bind :1\n default_backend b\nbackend b\n id 3\n server s 127.0.0.1:2\nlisten l\n bind :3\n server s 127.0.0.1:4\n";
        let c = parse(text, "t.cfg").expect("valid").config;
        let fe: Vec<_> = c
            .frontends
            .iter()
            .map(|f| (f.name.as_str(), f.id))
            .collect();
        let be: Vec<_> = c.backends.iter().map(|b| (b.name.as_str(), b.id)).collect();
        assert_eq!(fe, [("f", Some(2)), ("l", Some(4))]);
        assert_eq!(be, [("b", Some(3)), ("l", Some(4))]);
        let e = errs("backend a\n id 5\nbackend b\n id 5\n");
        assert!(
            e.iter()
                .any(|e| e.contains("t.cfg:3") && e.contains("id 5")),
            "{e:?}"
        );
    }

    #[test]
    fn the_reference_configuration_is_understood() {
        let text = include_str!("../../tests/data/haproxy-openstack.cfg");
        let p = parse(text, "haproxy-openstack.cfg").expect("reference accepted");
        let c = p.config;
        assert!(c.global.daemon);
        assert_eq!(c.global.maxconn, 4000);
        assert_eq!(c.global.user.as_deref(), Some("haproxy"));
        assert_eq!(c.frontends.len(), 15);
        assert_eq!(c.backends.len(), 15);
        let stats = c
            .frontends
            .iter()
            .find(|f| f.name == "stats")
            .expect("stats");
        let page = stats.stats.as_ref().expect("stats page");
        assert_eq!(page.uri, "/");
        assert_eq!(page.realm.as_deref(), Some("OpenStack Haproxy"));
        assert_eq!(page.auth, ["admin:admin"]);
        assert_eq!(page.refresh, Some(Dur::ms(30_000)));
        let galera = c.backend("galera_cluster").expect("galera");
        assert_eq!(galera.balance, Balance::Source);
        assert_eq!(galera.server.iter().filter(|s| s.backup).count(), 2);
        assert_eq!(galera.server[0].check_params.fall, 5);
        assert_eq!(galera.redispatch, Some(Redispatch { interval: -1 }));
        assert_eq!(galera.retries, 3);
        let rabbit = c.backend("rabbitmq_cluster").expect("rabbit");
        assert_eq!(rabbit.timeout_server, Some(Dur::ms(3 * 3600 * 1000)));
        assert_eq!(rabbit.server[0].check_params.inter, Dur::ms(10_000));
        let rf = c
            .frontends
            .iter()
            .find(|f| f.name == "rabbitmq_cluster")
            .expect("rabbit fe");
        assert!(rf.clitcpka);
        assert_eq!(rf.timeout_client, Some(Dur::ms(3 * 3600 * 1000)));
        let dash = c.backend("dashboard_cluster").expect("dash");
        assert!(matches!(dash.check, CheckKind::Http { .. }));
        assert!(dash.srvtcpka);
        let dfe = c
            .frontends
            .iter()
            .find(|f| f.name == "dashboard_cluster")
            .expect("dash fe");
        assert_eq!(dfe.timeout_http_request, Some(Dur::ms(10_000)));
        assert_eq!(dfe.log_format, LogFormat::Tcplog);
    }

    #[test]
    fn unknown_directive_is_refused_with_place_and_reason() {
        let e = errs("defaults\n  mode http\nlisten a\n  bind :80\n  frobnicate yes\n  server s 127.0.0.1:1\n");
        assert_eq!(e.len(), 1, "{e:?}");
        assert!(
            e[0].starts_with("t.cfg:5: `frobnicate`: unknown"),
            "{}",
            e[0]
        );
    }

    #[test]
    fn known_but_unimplemented_directives_say_so() {
        let e = errs("listen a\n bind :80\n cookie SRV insert maxidle 30m\n server s 127.0.0.1:1 init-state up\n option spop-check\n balance rdp-cookie\n");
        assert_eq!(e.len(), 4, "{e:?}");
        assert!(e[0].contains("t.cfg:3") && e[0].contains("maxidle"));
        assert!(e[1].contains("t.cfg:4") && e[1].contains("init-state"));
        assert!(e[2].contains("t.cfg:5") && e[2].contains("not implemented"));
        assert!(e[3].contains("t.cfg:6") && e[3].contains("balance `rdp-cookie`"));
    }

    #[test]
    fn agent_checks() {
        let c = ok("backend b\n default-server agent-inter 3s agent-port 9999\n server a 127.0.0.1:1 agent-check agent-send \"ping\\n\"\n server n 127.0.0.1:2\n server x 127.0.0.1:3 agent-check agent-addr 127.0.0.2 agent-port 7\n");
        let s = &c.backends[0].server;
        let a = s[0].agent.clone().expect("agent");
        assert_eq!(
            (a.port, a.addr, a.inter, a.send.as_deref()),
            (9999, None, Dur::ms(3000), Some("ping\n"))
        );
        assert_eq!(s[1].agent, None);
        let x = s[2].agent.clone().expect("agent");
        assert_eq!(
            (x.port, x.addr),
            (7, Some("127.0.0.2".parse().expect("ip")))
        );
        let e = errs("backend b\n server a 127.0.0.1:1 agent-check\n");
        assert!(
            e.iter()
                .any(|x| x.contains("t.cfg:2") && x.contains("needs an `agent-port`")),
            "{e:?}"
        );
        let e =
            errs("backend b\n server a 127.0.0.1:1 agent-check agent-addr db.local agent-port 1\n");
        assert!(e.iter().any(|x| x.contains("not an IP address")), "{e:?}");
    }

    #[test]
    fn server_ids_skip_the_numbers_given() {
        let c = ok("backend a\n server s 127.0.0.1:1 id 2\n server t 127.0.0.1:2\n server u 127.0.0.1:3\n server v 127.0.0.1:4 id 9\n");
        assert_eq!(c.backends[0].server_ids(), [2, 1, 3, 9]);
        let e = errs("backend a\n server s 127.0.0.1:1 id 1\n server t 127.0.0.1:2 id 1\n");
        assert!(
            e.iter()
                .any(|x| x.contains("t.cfg:3") && x.contains("id 1 is another server's")),
            "{e:?}"
        );
        let e = errs("backend a\n server s 127.0.0.1:1 id 0\n");
        assert!(
            e.iter().any(|x| x.contains("not a positive number")),
            "{e:?}"
        );
    }

    #[test]
    fn source_addresses() {
        let c = ok("backend a\n source 10.0.0.1\n server s 127.0.0.1:1 source 10.0.0.2:4000\n server t 127.0.0.1:2\n");
        let b = &c.backends[0];
        assert_eq!(b.source_addr, Some("10.0.0.1:0".parse().expect("addr")));
        assert_eq!(
            b.server[0].source_addr,
            Some("10.0.0.2:4000".parse().expect("addr"))
        );
        assert_eq!(b.server[1].source_addr, None);
        for (cfg, why) in [
            (
                "backend a\n source 0.0.0.0 usesrc clientip\n server s 127.0.0.1:1\n",
                "usesrc",
            ),
            (
                "backend a\n server s 127.0.0.1:1 source 10.0.0.1 usesrc client\n",
                "usesrc",
            ),
            (
                "backend a\n source lb.example.org\n server s 127.0.0.1:1\n",
                "not an IP address",
            ),
        ] {
            let e = errs(cfg);
            assert!(
                e.iter().any(|x| x.contains("t.cfg:2") && x.contains(why)),
                "{cfg}: {e:?}"
            );
        }
    }

    #[test]
    fn tracking_is_checked() {
        let c = ok("backend a\n server s 127.0.0.1:1 check\n server t 127.0.0.1:2 track s\nbackend b\n server u 127.0.0.1:1 track a/t\n");
        assert_eq!(c.backends[0].server[1].track.as_deref(), Some("a/s"));
        assert_eq!(c.backends[1].server[0].track.as_deref(), Some("a/t"));
        for (cfg, why) in [
            (
                "backend a\n server s 127.0.0.1:1 check track a/t\n server t 127.0.0.1:2 check\n",
                "checks and track",
            ),
            (
                "backend a\n server s 127.0.0.1:1 track b/x\n",
                "no server `x` in backend `b`",
            ),
            (
                "backend a\n server s 127.0.0.1:1 track t\n server t 127.0.0.1:2 track s\n",
                "goes round",
            ),
            (
                "backend a\n server s 127.0.0.1:1 track t\n server t 127.0.0.1:2\n",
                "have no health checks",
            ),
            (
                "backend a\n default-server track t\n server t 127.0.0.1:2\n",
                "belongs on a `server` line",
            ),
        ] {
            let e = errs(cfg);
            assert!(e.iter().any(|x| x.contains(why)), "{cfg}: {e:?}");
        }
    }

    #[test]
    fn cookie_modes() {
        let mode = |words: &str| {
            let c = ok(&format!(
                "backend b\n mode http\n cookie S {words}\n server s 127.0.0.1:1 cookie a\n"
            ));
            let k = c.backends[0].cookie.clone().expect("cookie");
            (k.mode, k.preserve, k.indirect)
        };
        assert_eq!(
            mode("insert indirect nocache"),
            (CookieMode::Insert, false, true)
        );
        assert_eq!(mode("insert preserve"), (CookieMode::Insert, true, false));
        assert_eq!(mode("prefix nocache"), (CookieMode::Prefix, false, false));
        assert_eq!(mode("rewrite"), (CookieMode::Rewrite, false, false));
        assert_eq!(mode("indirect"), (CookieMode::Passive, false, true));
        for (words, why) in [
            ("insert prefix", "exclude each other"),
            ("prefix httponly", "`cookie ... httponly` needs `insert`"),
            ("rewrite preserve", "`cookie ... preserve` needs `insert`"),
            ("prefix domain .example.org", "needs `insert`"),
        ] {
            let e = errs(&format!(
                "backend b\n mode http\n cookie S {words}\n server s 127.0.0.1:1\n"
            ));
            assert!(
                e.iter().any(|x| x.contains("t.cfg:3") && x.contains(why)),
                "{words}: {e:?}"
            );
        }
    }

    #[test]
    fn references_and_addresses_are_checked() {
        let e = errs("frontend f\n bind 127.0.0.1:80\n default_backend nope\nbackend b\n server s 999.1.1.1:80\n");
        assert!(
            e.iter()
                .any(|x| x.contains("t.cfg:5") && x.contains("999.1.1.1")),
            "{e:?}"
        );
        let e = errs("frontend f\n bind 127.0.0.1:80\n default_backend nope\nbackend b\n server s 127.0.0.1:80\n");
        assert!(
            e.iter()
                .any(|x| x.contains("t.cfg:1") && x.contains("unknown backend `nope`")),
            "{e:?}"
        );
        let e = errs("frontend f\n bind 127.0.0.1:0\n");
        assert!(
            e.iter()
                .any(|x| x.contains("t.cfg:2") && x.contains("port")),
            "{e:?}"
        );
        let e = errs("frontend f\n bind 127.0.0.1\n");
        assert!(e.iter().any(|x| x.contains("ADDR:PORT")), "{e:?}");
        let e = errs("listen l\n mode http\n bind 127.0.0.1:80\n option forwardfor header X:Y\n server s 127.0.0.1:1\n");
        assert!(
            e.iter()
                .any(|x| x.contains("t.cfg:4") && x.contains("`X:Y` is not a valid header name")),
            "{e:?}"
        );
    }

    #[test]
    fn acls_and_use_backend() {
        let c = ok("defaults\n mode http\nfrontend f\n bind :8080\n acl api path_beg -i /api /v2\n acl h hdr(host) -i example.org\n use_backend api if api h || { path_end .json }\n use_backend web unless !h\n default_backend web\nbackend api\n server a 127.0.0.1:1\nbackend web\n server w 127.0.0.1:2\n");
        let f = &c.frontends[0];
        assert_eq!(f.acl.len(), 3);
        assert_eq!(f.use_backend[0].any_of.len(), 2);
        assert_eq!(f.use_backend[0].any_of[0].len(), 2);
        assert!(f.use_backend[1].unless);
        assert!(f.use_backend[1].any_of[0][0].negate);
        let e = errs("defaults\n mode http\nfrontend f\n bind :8080\n use_backend b if nope\nbackend b\n server a 127.0.0.1:1\n");
        assert!(e[0].contains("unknown ACL `nope`"), "{e:?}");
    }

    #[test]
    fn http_request_rules() {
        let c = ok(
            "defaults\n mode http\nlisten l\n bind :8080\n acl adm path_beg /admin\n \
                    http-request del-header X-Forwarded-Proto\n \
                    http-request set-header X-Forwarded-Proto https if { ssl_fc }\n \
                    http-request add-header X-Via \"halo lb\" unless adm\n \
                    http-request allow if { src 10.0.0.0/8 }\n \
                    http-request deny deny_status 404 if adm\n \
                    http-request deny\n \
                    http-request set-header X-Forwarded-Port %[dst_port]\n server a 127.0.0.1:1\n",
        );
        let f = &c.frontends[0];
        let lf = |s: &str| LogFmt::parse(s).expect("log-format");
        let actions: Vec<&HttpAction> = f.http_request.iter().map(|r| &r.action).collect();
        assert_eq!(
            actions,
            [
                &HttpAction::DelHeader {
                    name: "X-Forwarded-Proto".into(),
                    method: NameMatch::Str,
                },
                &HttpAction::SetHeader {
                    name: "X-Forwarded-Proto".into(),
                    value: lf("https")
                },
                &HttpAction::AddHeader {
                    name: "X-Via".into(),
                    value: lf("halo lb")
                },
                &HttpAction::Allow,
                &HttpAction::Deny {
                    status: 404,
                    reply: None
                },
                &HttpAction::Deny {
                    status: 403,
                    reply: None
                },
                &HttpAction::SetHeader {
                    name: "X-Forwarded-Port".into(),
                    value: lf("%[dst_port]")
                },
            ]
        );
        assert!(f.http_request[2].unless);
        assert_eq!(f.http_request[0].source, "t.cfg:6");
        let text = super::super::summary::describe(&c);
        assert!(
            text.contains("http-request add-header X-Via \"halo lb\" unless adm"),
            "{text}"
        );
        assert!(text.contains("http-request deny with 404 if adm"), "{text}");
        // Native TOML carries them.
        let toml = super::super::native::to_toml(&c).expect("toml");
        let back = super::super::native::parse_native(&toml, "t.toml").expect("native");
        assert_eq!(back.config.frontends[0].http_request, f.http_request);
        let refused = |rule: &str, why: &str| {
            let e = errs(&format!(
                "defaults\n mode http\nlisten l\n bind :8080\n {rule}\n server a 127.0.0.1:1\n"
            ));
            assert!(
                e.iter().any(|e| e.contains("t.cfg:") && e.contains(why)),
                "{rule}: {e:?}"
            );
        };
        refused(
            "http-request track-sc0 src",
            "no stick-table in section `l`",
        );
        refused("http-request set-var(x) str(y)", "has no scope");
        refused("http-request redirect scheme https code 999", "999");
        refused("http-request set-header Host evil", "routed or framed");
        refused("http-request del-header content-length", "routed or framed");
        refused(
            "http-request set-header X-Client %[nosuch(x)]",
            "sample fetch `nosuch` is not supported",
        );
        refused(
            "http-request set-header X-Client %[src,nosuch]",
            "converter `nosuch` is not supported",
        );
        refused(
            "http-request set-header X-Client %[status]",
            "only in http-response rules",
        );
        refused(
            "http-request set-header X-Client %cx",
            "`%cx` is not a log-format variable",
        );
        refused("http-request set-header X-Client %[src", "without `]`");
        refused("http-request set-header X-A", "one value");
        refused("http-request deny deny_status 999", "deny_status 999");
        refused("http-request deny if nope", "unknown ACL `nope`");
        refused("http-request set-header X-A b if", "without a condition");
        refused("http-after-response deny", "`http-after-response` takes");
        refused(
            "tcp-response content track-sc0 src",
            "`tcp-response content` takes",
        );
        let e =
            errs("listen l\n mode tcp\n bind :8080\n http-request deny\n server a 127.0.0.1:1\n");
        assert!(e.iter().any(|e| e.contains("need `mode http`")), "{e:?}");
        // A backend's rules are its own.
        let c = ok("defaults\n mode http\nfrontend f\n bind :8080\n default_backend b\nbackend b\n http-request deny\n http-response set-header X-A b\n server a 127.0.0.1:1\n");
        assert_eq!(
            c.backends[0].http_request[0].action,
            HttpAction::Deny {
                status: 403,
                reply: None
            }
        );
        assert_eq!(c.backends[0].http_response.len(), 1);
        assert!(c.frontends[0].http_request.is_empty());
    }

    #[test]
    fn tls_defaults_of_listeners_and_servers_stay_apart() {
        let c = ok("global\n ssl-server-verify none\n ssl-default-server-options ssl-min-ver TLSv1.3\n \
            ssl-default-server-ciphersuites TLS_AES_256_GCM_SHA384\n ssl-default-bind-options no-tlsv13\n\
            backend b\n server s 127.0.0.1:1 ssl\n server t 127.0.0.1:2 ssl ssl-max-ver TLSv1.3 ciphersuites TLS_AES_128_GCM_SHA256\n");
        let s = c.backends[0].server[0].tls.clone().expect("tls");
        assert_eq!((s.min_version, s.max_version, s.verify), (13, 13, false));
        assert!(s.suites.contains(&"TLS13_AES_256_GCM_SHA384".to_string()));
        assert!(!s.suites.contains(&"TLS13_AES_128_GCM_SHA256".to_string()));
        // The server's own words over the globals.
        let t = c.backends[0].server[1].tls.clone().expect("tls");
        assert!(t.suites.contains(&"TLS13_AES_128_GCM_SHA256".to_string()));
        assert!(!t.suites.contains(&"TLS13_AES_256_GCM_SHA384".to_string()));
        // `ssl` makes the checks TLS, unless they go to another port.
        assert!(s.checks && s.traffic);
        let c = ok(
            "global\n ssl-server-verify none\nbackend b\n server s 127.0.0.1:1 ssl check port 2\n",
        );
        assert!(!c.backends[0].server[0].tls.clone().expect("tls").checks);
    }

    #[test]
    fn stick_tables_as_deployments_write_them() {
        let c = ok("listen db\n bind :3306\n mode tcp\n stick-table type ip size 1k expire 30m\n stick on dst\n server a 127.0.0.1:1\n");
        let s = &c.backends[0].stick;
        assert_eq!(s.len(), 1);
        assert_eq!(
            (s[0].kind, s[0].key.text.as_str(), s[0].table.as_str()),
            (StickKind::On, "dst", "db")
        );
        assert_eq!(c.tables[0].size, 1024);
        // Application sessions by cookie, another section's table, conditions.
        let c = ok("backend app
 mode http
 stick-table type string len 32 size 30k expire 30m
                     stick on req.cook(JSESSIONID)
 stick store-response res.cook(JSESSIONID)
                     stick match src table ips if { src 10.0.0.0/8 }
 stick store-request src table ips unless { path_beg /health }
                     server a 127.0.0.1:1
backend ips
 stick-table type ip size 1k
");
        let kinds: Vec<(StickKind, &str, &str)> = c.backends[0]
            .stick
            .iter()
            .map(|r| (r.kind, r.key.text.as_str(), r.table.as_str()))
            .collect();
        assert_eq!(
            kinds,
            [
                (StickKind::On, "req.cook(JSESSIONID)", "app"),
                (StickKind::StoreResponse, "res.cook(JSESSIONID)", "app"),
                (StickKind::Match, "src", "ips"),
                (StickKind::StoreRequest, "src", "ips"),
            ]
        );
        assert!(c.backends[0].stick[3].unless);
        let bad = |body: &str, why: &str| {
            let e = errs(&format!(
                "listen db\n bind :3306\n mode tcp\n{body}\n server a 127.0.0.1:1\n"
            ));
            assert!(
                e.iter().any(|e| e.contains("t.cfg:") && e.contains(why)),
                "{body}: {e:?}"
            );
        };
        bad(
            " stick on src",
            "needs a `stick-table` (section `db` has none)",
        );
        bad(
            " stick-table type ip size 1\n stick on src table nowhere",
            "section `nowhere` has none",
        );
        bad(
            " stick-table type ip size 10 peers p\n stick on src",
            "peers",
        );
        bad(" stick-table type ip\n stick on src", "needs a `size`");
        bad(" stick-table type ip size 1\n stick on", "needs a key");
        bad(
            " stick-table type ip size 1\n stick stay src",
            "not one of on, match",
        );
        bad(
            " stick-table type ip size 1\n stick on src if",
            "without a condition",
        );
        bad(
            " stick-table type ip size 1\n stick on src if nosuch",
            "unknown ACL `nosuch`",
        );
        bad(
            " stick-table type ip size 1\n stick on src table p/t",
            "peers' tables",
        );
        bad(
            " stick-table type ip size 1\n stick on res.cook(x)",
            "read in the request",
        );
        bad(
            " stick-table type ip size 1\n stick store-response src",
            "must be read in the response",
        );
        bad(
            " stick-table type ip size 1\n stick store-response res.hdr(x)",
            "needs `mode http`",
        );
    }

    #[test]
    fn defaults_apply_and_can_be_cancelled() {
        let c = ok("defaults\n option redispatch\n option tcpka\n timeout connect 5s\n default-server inter 3s fall 2\nlisten a\n bind :1\n no option redispatch\n server s 127.0.0.1:1 check\n");
        let b = &c.backends[0];
        assert_eq!(b.redispatch, None);
        assert!(b.srvtcpka);
        assert!(c.frontends[0].clitcpka);
        assert_eq!(b.timeout_connect, Some(Dur::ms(5000)));
        assert_eq!(b.server[0].check_params.inter, Dur::ms(3000));
        assert_eq!(b.server[0].check_params.fall, 2);
    }

    #[test]
    fn checks_are_configured() {
        let c = ok("backend b\n option httpchk GET /health HTTP/1.1\n http-check expect status 200-204\n server s 127.0.0.1:1 check\nbackend m\n option mysql-check user haproxy\n server s 127.0.0.1:1 check\nbackend g\n option galera-check user monitor password secret\n server s 127.0.0.1:1 check port 3306 addr 127.0.0.2\nbackend r\n option redis-check\n server s 127.0.0.1:1 check observe layer4 error-limit 1 on-error mark-down\n");
        assert_eq!(
            c.backends[0].check,
            CheckKind::Http {
                method: "GET".into(),
                uri: "/health".into(),
                version: "HTTP/1.1".into(),
                host: None,
                headers: Vec::new(),
                expect: HttpExpect::Status {
                    lo: 200,
                    hi: 204,
                    negate: false
                }
            }
        );
        assert_eq!(
            c.backends[1].check,
            CheckKind::Mysql {
                user: Some("haproxy".into())
            }
        );
        assert_eq!(
            c.backends[2].check,
            CheckKind::Galera {
                user: "monitor".into(),
                password: Some("secret".into())
            }
        );
        assert_eq!(c.backends[2].server[0].check_params.port, Some(3306));
        assert_eq!(c.backends[3].server[0].on_error, OnError::MarkDown);
        assert_eq!(c.backends[3].server[0].observe, Some(Observe::Layer4));
        let e = errs("backend g\n option galera-check\n server s 127.0.0.1:1 check\n");
        assert!(e[0].contains("user NAME"), "{e:?}");
    }

    #[test]
    fn unsupported_sections_are_refused() {
        let e = errs("peers P\n peer a 127.0.0.1:1\nlisten a\n bind :1\n server s 127.0.0.1:1\n");
        assert_eq!(e.len(), 1, "{e:?}");
        assert!(e[0].contains("t.cfg:1") && e[0].contains("peers"));
    }

    #[test]
    fn userlists_hold_users_with_hashed_or_clear_passwords() {
        // `mkpasswd -m sha-512 secret -S saltsalt` (glibc's crypt(3)).
        let hash = "$6$saltsalt$TVLlQcbpFVof5W3Yz4DTP6gRstiNuHwwTt6GLc1E5n0U0aDehy0S5knV8wiOQSpT0Y77vwPZN.Pq.H91p5hVO1";
        let c = ok(&format!(
            "userlist ops\n group admins users alice\n user alice password {hash}\n user bob insecure-password pw groups viewers\n\
             defaults\n mode http\nlisten a\n bind :1\n acl ok http_auth(ops)\n http-request auth realm Ops unless ok\n server s 127.0.0.1:1\n"
        ));
        let l = &c.userlists[0];
        assert!(l.check("alice", "secret"));
        assert!(!l.check("alice", "Secret"));
        assert!(l.check("bob", "pw"));
        assert!(!l.check("carol", "pw"));
        let e = errs(
            "userlist ops\n user a password notahash\nlisten a\n bind :1\n server s 127.0.0.1:1\n",
        );
        assert!(
            e[0].contains("t.cfg:2") && e[0].contains("crypt(3)"),
            "{e:?}"
        );
        let e = errs("defaults\n mode http\nlisten a\n bind :1\n http-request deny unless { http_auth(nope) }\n server s 127.0.0.1:1\n");
        assert!(
            e.iter().any(|x| x.contains("unknown userlist `nope`")),
            "{e:?}"
        );
    }

    /// Garbage never panics the reader: random lines built from real keywords, odd
    /// quoting and junk (a fixed-seed generator, so a failure is reproducible).
    #[test]
    fn random_input_never_panics() {
        const WORDS: &[&str] = &[
            "global",
            "defaults",
            "listen",
            "frontend",
            "backend",
            "bind",
            "server",
            "option",
            "no",
            "timeout",
            "balance",
            "acl",
            "use_backend",
            "default_backend",
            "stats",
            "http-check",
            "expect",
            "status",
            "string",
            "check",
            "inter",
            "rise",
            "fall",
            "backup",
            "weight",
            "maxconn",
            "log",
            "mode",
            "http",
            "tcp",
            "source",
            "hash-type",
            "consistent",
            "if",
            "unless",
            "{",
            "}",
            "!",
            "||",
            "127.0.0.1:80",
            ":::81",
            "[::1]:82",
            "*:83",
            "1-2",
            "10s",
            "0",
            "-1",
            "99999999999",
            "'q",
            "\\",
            "\\x4",
            "${X}",
            "#",
            "\"",
            "a,b",
            "user",
            "galera-check",
            "mysql-check",
            "redis-check",
            "httpchk",
            "port",
            "addr",
            "observe",
            "layer7",
            "on-error",
            "mark-down",
            "",
        ];
        let mut seed: u64 = 0x9e37_79b9_7f4a_7c15;
        let mut next = || {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed
        };
        for _ in 0..300 {
            let mut text = String::new();
            for _ in 0..(next() % 30) {
                let n = next() % 7;
                let line: Vec<&str> = (0..n)
                    .map(|_| WORDS[(next() % WORDS.len() as u64) as usize])
                    .collect();
                text.push_str(&line.join(" "));
                text.push('\n');
            }
            let _ = parse(&text, "fuzz.cfg");
            let _ = super::super::native::parse_native(&text, "fuzz.toml");
        }
    }

    #[test]
    fn directive_outside_section() {
        let e = errs("  maxconn 10\n");
        assert!(e[0].contains("outside of any section"));
    }
}
