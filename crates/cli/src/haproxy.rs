//! Run under the name `haproxy` (a link to halo), halo answers to HAProxy 2.6's command
//! line: what Debian's `haproxy.service`, configuration tools (`haproxy -c -f FILE`),
//! monitoring (`haproxy -vv`) and HAProxy's regression suite type.
//!
//! The options are parsed by hand, as HAProxy does (`-sf PID...` takes every following
//! argument up to the next option, `-dM` takes glued values); running reuses
//! `halo lb run` ([`crate::lb::run_engine`]).
//!
//! Master-worker (`-W`, `-Ws`): halo does not split into a master and workers. The one
//! process plays both roles: it is the pid in the pidfile, it reloads on SIGUSR2 (and
//! SIGHUP) without dropping connections, stops gracefully on SIGUSR1 and at once on
//! SIGTERM/SIGINT, and with `-Ws` tells systemd `READY=1` once listening and
//! `RELOADING=1` ... `READY=1` around each reload, which is what `Type=notify` and
//! `ExecReload=kill -USR2 $MAINPID` expect. The master CLI (`-S`) is served with that
//! in mind ([`master_cli`]): `show proc` shows the one process, `reload` reloads,
//! `@1 CMD` / `@!PID CMD` run a runtime API command on it.

use crate::lb::{self, Lifecycle, RunSpec};
use anyhow::Context;
use halo_lb::config::haproxy::{ConfigError, ConfigErrors};
use halo_lb::config::Config;
use std::ffi::{OsStr, OsString};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

/// The HAProxy version halo answers to, and the build features `-vv` lists (shared
/// with `.if feature(...)` and `-cc`).
pub use halo_lb::config::cond::{FEATURES, HAPROXY_VERSION};
/// That version's release date, as HAProxy prints it.
const HAPROXY_DATE: &str = "2022/05/31";

/// Whether `argv0` (a path) names HAProxy's program.
pub fn is_haproxy_name(argv0: &OsStr) -> bool {
    Path::new(argv0).file_name() == Some(OsStr::new("haproxy"))
}

/// What the command line asks for.
#[derive(Debug, Default, PartialEq)]
struct Opts {
    /// `-f FILE|DIR` (and the arguments after `--`), in order.
    files: Vec<PathBuf>,
    /// `-c`: check the configuration and exit.
    check: bool,
    /// `-cc COND`: evaluate a condition (as `.if` takes it) and exit 0 (true), 1
    /// (false) or 2 (not a condition).
    condition: Option<String>,
    /// `-q`: no messages but alerts.
    quiet: bool,
    /// `-v` (1) or `-vv` (2).
    version: u8,
    /// `-d`, `-db`, `-Ws`: stay in the foreground.
    foreground: bool,
    /// `-D`: fork into the background.
    daemon: bool,
    /// `-W`, `-Ws`: master-worker (one process here, see the module's comment).
    master_worker: bool,
    /// `-Ws`: tell systemd (`$NOTIFY_SOCKET`).
    systemd: bool,
    /// `-S ADDR|fd@N`: master CLI sockets.
    master_cli: Vec<String>,
    /// `-p FILE`.
    pidfile: Option<PathBuf>,
    /// `-sf PID...`: sent SIGUSR1 (finish your sessions) once started.
    soft_stop: Vec<i32>,
    /// `-st PID...`: sent SIGTERM once started.
    hard_stop: Vec<i32>,
    /// `-L NAME`: the local peer name (exported as HAPROXY_LOCALPEER, as HAProxy does).
    local_peer: Option<String>,
    /// `-n NUM`: the process-wide maxconn.
    maxconn: Option<u32>,
    /// `-N NUM`: the default maxconn of a proxy that sets none.
    proxy_maxconn: Option<u32>,
    /// `-m MB`: address-space limit.
    memory_mb: Option<u64>,
    /// `-C DIR`: change to this directory before reading the configuration.
    chdir: Option<PathBuf>,
    /// `-dS`: no splice.
    no_splice: bool,
    /// `-dW`: refuse to start if the configuration has warnings.
    zero_warning: bool,
    /// `-dr`: HAProxy ignores server names that do not resolve; halo still refuses them.
    ignore_resolve_failures: bool,
}

/// A command line halo cannot accept.
#[derive(Debug, PartialEq)]
enum UsageError {
    Unknown(String),
    MissingValue(String),
    BadValue { option: String, value: String },
    Positional(String),
}

impl std::fmt::Display for UsageError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            UsageError::Unknown(o) => write!(f, "unknown option '{o}'"),
            UsageError::MissingValue(o) => write!(f, "option '{o}' needs a value"),
            UsageError::BadValue { option, value } => {
                write!(f, "option '{option}': invalid value '{value}'")
            }
            UsageError::Positional(a) => write!(
                f,
                "unexpected argument '{a}' (configuration files follow -f, or come after --)"
            ),
        }
    }
}

fn parse(args: &[OsString]) -> Result<Opts, UsageError> {
    let mut o = Opts::default();
    let mut i = 0;
    // The next argument, as the value of `opt`.
    fn value<'a>(args: &'a [OsString], i: &mut usize, opt: &str) -> Result<&'a OsStr, UsageError> {
        *i += 1;
        args.get(*i)
            .map(|a| a.as_os_str())
            .ok_or_else(|| UsageError::MissingValue(opt.to_string()))
    }
    fn number<T: std::str::FromStr>(v: &OsStr, opt: &str) -> Result<T, UsageError> {
        v.to_str()
            .and_then(|s| s.parse().ok())
            .ok_or_else(|| UsageError::BadValue {
                option: opt.to_string(),
                value: v.to_string_lossy().into_owned(),
            })
    }
    while i < args.len() {
        let arg = args[i].to_string_lossy().into_owned();
        match arg.as_str() {
            "--" => {
                o.files.extend(args[i + 1..].iter().map(PathBuf::from));
                break;
            }
            "-f" => o.files.push(PathBuf::from(value(args, &mut i, &arg)?)),
            "-c" => o.check = true,
            "-cc" => o.condition = Some(value(args, &mut i, &arg)?.to_string_lossy().into_owned()),
            "-q" => o.quiet = true,
            "-V" => o.quiet = false,
            "-v" => o.version = o.version.max(1),
            "-vv" => o.version = 2,
            // -d is HAProxy's debug mode: foreground, plus a trace of every exchange on
            // stdout, which halo does not print (HALO_LOG=debug is its tracing).
            "-d" | "-db" => o.foreground = true,
            "-D" => o.daemon = true,
            "-W" => o.master_worker = true,
            "-Ws" => {
                o.master_worker = true;
                o.systemd = true;
                o.foreground = true;
            }
            "-S" => o
                .master_cli
                .push(value(args, &mut i, &arg)?.to_string_lossy().into_owned()),
            "-p" => o.pidfile = Some(PathBuf::from(value(args, &mut i, &arg)?)),
            "-sf" | "-st" => {
                let mut pids = Vec::new();
                while let Some(next) = args.get(i + 1) {
                    if next.to_string_lossy().starts_with('-') {
                        break;
                    }
                    i += 1;
                    pids.push(number::<i32>(next, &arg)?);
                }
                if arg == "-sf" {
                    o.soft_stop.extend(pids);
                } else {
                    o.hard_stop.extend(pids);
                }
            }
            "-L" => o.local_peer = Some(value(args, &mut i, &arg)?.to_string_lossy().into_owned()),
            "-n" => o.maxconn = Some(number(value(args, &mut i, &arg)?, &arg)?),
            "-N" => o.proxy_maxconn = Some(number(value(args, &mut i, &arg)?, &arg)?),
            "-m" => o.memory_mb = Some(number(value(args, &mut i, &arg)?, &arg)?),
            "-C" => o.chdir = Some(PathBuf::from(value(args, &mut i, &arg)?)),
            "-dS" => o.no_splice = true,
            "-dW" => o.zero_warning = true,
            "-dr" => o.ignore_resolve_failures = true,
            // Options that only change HAProxy's own debugging, accepted with no effect:
            // -dM[...] poisons allocated memory, -dG disables getaddrinfo() (halo
            // resolves server names once, at load), -dV disables TLS verification of
            // servers (halo has no TLS), -dL lists loaded libraries at exit, -dD is the
            // diagnostic mode (extra warnings).
            "-dG" | "-dV" | "-dL" | "-dD" => {}
            a if a.starts_with("-dM") => {}
            a if a.starts_with('-') => return Err(UsageError::Unknown(arg)),
            _ => return Err(UsageError::Positional(arg)),
        }
        i += 1;
    }
    Ok(o)
}

const USAGE: &str = "\
Usage : haproxy [-f <cfgfile|cfgdir>]* [ -vdVD ] [ -n <maxconn> ] [ -N <maxpconn> ]
        [ -p <pidfile> ] [ -m <max megs> ] [ -C <dir> ] [-- <cfgfile>*]
        -v displays version ; -vv shows known build options.
        -d enters debug mode ; -db only disables background mode.
        -dM[<byte>] poisons memory (no effect in halo)
        -V enters verbose mode (disables quiet mode)
        -D goes daemon ; -C changes to <dir> before loading files.
        -W master-worker mode (one process in halo).
        -Ws master-worker mode with systemd notify support.
        -S <bind>[,<bind options>...] new master CLI
        -q quiet mode : don't display messages
        -c check mode : only check config files and exit
        -cc evaluates a condition and exits with its result
        -n sets the maximum total # of connections
        -N sets the default, per-proxy maximum # of connections
        -L set local peer name (exported as HAPROXY_LOCALPEER)
        -dS disables splice usage
        -dW fails if any warning is emitted
        -dr, -dG, -dV, -dL, -dD are accepted (see halo's README)
        -sf/-st [pid ]* finishes/terminates old pids.
This is halo's load balancer answering to HAProxy's command line (halo lb --help).
";

/// `haproxy ARGS...`: halo as HAProxy. Returns the exit code.
pub fn main(args: Vec<OsString>) -> i32 {
    let opts = match parse(&args) {
        Ok(o) => o,
        Err(e) => {
            alert(&e.to_string());
            eprint!("{USAGE}");
            return 1;
        }
    };
    if opts.version > 0 {
        print!("{}", version_text(opts.version > 1));
        return 0;
    }
    if let Some(c) = &opts.condition {
        return match halo_lb::config::cond::eval(c, &|n: &str| std::env::var(n).ok()) {
            Ok(true) => 0,
            Ok(false) => 1,
            Err(e) => {
                alert(&e);
                2
            }
        };
    }
    match run(opts) {
        Ok(()) => 0,
        Err(e) => {
            report(&e);
            1
        }
    }
}

/// HAProxy's alert line: `[ALERT]    (pid) : message`.
fn alert(msg: &str) {
    eprintln!("[ALERT]    ({}) : {msg}", std::process::id());
}

fn warning(msg: &str) {
    eprintln!("[WARNING]  ({}) : {msg}", std::process::id());
}

/// An error as alerts: a configuration's errors one per line (each with its file:line),
/// anything else with its causes.
fn report(e: &anyhow::Error) {
    if let Some(ConfigErrors(errors)) = e.downcast_ref::<ConfigErrors>() {
        for ce in errors {
            alert(&format!("config : {ce}"));
        }
        alert(&format!(
            "config : HALO-E100 Fatal errors found in configuration ({} error(s)).",
            errors.len()
        ));
    } else {
        alert(&format!("{e:#}"));
    }
}

/// `-v` / `-vv`. The first line holds `HAProxy version 2.6.0` as its third word, which is
/// what HAProxy's test runner and tools read; the rest of `-vv` keeps HAProxy's layout
/// (`Build options :`, `TARGET = `, `Feature list : `, `Available services : `).
fn version_text(build: bool) -> String {
    let mut s = format!(
        "HAProxy version {HAPROXY_VERSION} (halo {} compatible engine) {HAPROXY_DATE} - halo's load balancer, not HAProxy\n",
        env!("CARGO_PKG_VERSION")
    );
    s.push_str("Status: halo answers to HAProxy 2.6's command line and configuration language.\n");
    if let Some(running_on) = uname() {
        s.push_str(&format!("Running on: {running_on}\n"));
    }
    if !build {
        return s;
    }
    let target = if cfg!(target_env = "musl") {
        "linux-musl"
    } else {
        "linux-glibc"
    };
    s.push_str(&format!(
        "Build options :\n  TARGET  = {target}\n  CPU     = {}\n  CC      = rustc\n\n",
        std::env::consts::ARCH
    ));
    let features: Vec<String> = FEATURES
        .iter()
        .map(|(name, on)| format!("{}{name}", if *on { '+' } else { '-' }))
        .collect();
    s.push_str(&format!("Feature list : {}\n\n", features.join(" ")));
    s.push_str(
        "Built with multi-threading support (default: one thread per CPU, or nbthread).\n\n",
    );
    s.push_str("Available polling systems :\n      epoll : pref=300,  test result OK\n\n");
    s.push_str("Available services : prometheus-exporter\n");
    s
}

/// `Linux 6.1.0-18-amd64 x86_64`, from uname(2).
fn uname() -> Option<String> {
    // SAFETY: utsname is plain bytes; uname fills the struct we own.
    let mut u: libc::utsname = unsafe { std::mem::zeroed() };
    // SAFETY: a valid pointer to our struct.
    if unsafe { libc::uname(&mut u) } != 0 {
        return None;
    }
    let field = |f: &[libc::c_char]| {
        let bytes: Vec<u8> = f
            .iter()
            .take_while(|c| **c != 0)
            .map(|c| *c as u8)
            .collect();
        String::from_utf8_lossy(&bytes).into_owned()
    };
    Some(format!(
        "{} {} {}",
        field(&u.sysname),
        field(&u.release),
        field(&u.machine)
    ))
}

/// The configuration files that `-f` arguments name: a file as is, a directory's
/// `*.cfg` regular files (hidden ones skipped) in lexical order, as HAProxy does.
fn expand_files(args: &[PathBuf]) -> anyhow::Result<Vec<PathBuf>> {
    let mut files = Vec::new();
    for a in args {
        let meta = std::fs::metadata(a)
            .with_context(|| format!("Cannot open configuration file/directory {}", a.display()))?;
        if !meta.is_dir() {
            files.push(a.clone());
            continue;
        }
        let mut found = Vec::new();
        let entries = std::fs::read_dir(a)
            .with_context(|| format!("Cannot open configuration directory {}", a.display()))?;
        for entry in entries {
            let entry = entry
                .with_context(|| format!("Cannot read configuration directory {}", a.display()))?;
            let name = entry.file_name();
            let Some(n) = name.to_str() else { continue };
            if n.starts_with('.') || !n.ends_with(".cfg") {
                continue;
            }
            let path = entry.path();
            if std::fs::metadata(&path).is_ok_and(|m| m.is_file()) {
                found.push((name, path));
            }
        }
        found.sort();
        files.extend(found.into_iter().map(|(_, p)| p));
    }
    Ok(files)
}

fn run(opts: Opts) -> anyhow::Result<()> {
    if let Some(dir) = &opts.chdir {
        std::env::set_current_dir(dir)
            .with_context(|| format!("Cannot change to directory {} (-C)", dir.display()))?;
    }
    if let Some(name) = &opts.local_peer {
        // As HAProxy: the configuration may use ${HAPROXY_LOCALPEER}. Set while the
        // process has a single thread.
        std::env::set_var("HAPROXY_LOCALPEER", name);
    }
    if opts.files.is_empty() {
        anyhow::bail!("No configuration file (give -f FILE or -f DIR).");
    }
    let files = expand_files(&opts.files)?;
    if files.is_empty() {
        anyhow::bail!("No configuration file: the directories given with -f hold no *.cfg file.");
    }
    if opts.ignore_resolve_failures && !opts.quiet {
        warning("-dr: halo still refuses a server whose name does not resolve (it resolves names once, at load).");
    }
    let mut life = Life::new(&opts);
    if opts.check {
        let parsed = lb::load_files(&files)?;
        life.warnings(&parsed.warnings)?;
        if !opts.quiet {
            println!("Configuration file is valid");
        }
        return Ok(());
    }
    // Bound now, before the engine confines the process (chroot, user).
    let mut cli_listeners = Vec::with_capacity(opts.master_cli.len());
    for cli in &opts.master_cli {
        cli_listeners.push(master_cli::bind(cli)?);
    }
    life.master_cli = Mutex::new(cli_listeners);
    let life = Arc::new(life);
    if let Some(mb) = opts.memory_mb {
        limit_memory(mb)?;
    }
    let Opts {
        pidfile,
        maxconn,
        proxy_maxconn,
        no_splice,
        ..
    } = opts;
    let overrides = move |c: &mut Config| {
        if let Some(p) = &pidfile {
            c.global.pidfile = Some(p.clone());
        }
        if let Some(n) = maxconn {
            c.global.maxconn = n;
        }
        if let Some(n) = proxy_maxconn {
            for f in &mut c.frontends {
                f.maxconn.get_or_insert(n);
            }
        }
        if no_splice {
            c.global.splice = false;
        }
    };
    lb::run_engine(RunSpec {
        files,
        foreground: opts.foreground,
        daemon: opts.daemon,
        threads: None,
        overrides: Arc::new(overrides),
        lifecycle: life,
    })
}

/// `-m MB`: the address-space limit (RLIMIT_AS).
fn limit_memory(mb: u64) -> anyhow::Result<()> {
    let bytes = mb.saturating_mul(1024 * 1024);
    let rl = libc::rlimit {
        rlim_cur: bytes,
        rlim_max: bytes,
    };
    // SAFETY: setrlimit reads the struct we own.
    if unsafe { libc::setrlimit(libc::RLIMIT_AS, &rl) } != 0 {
        anyhow::bail!(
            "-m {mb}: cannot limit memory: {}",
            std::io::Error::last_os_error()
        );
    }
    Ok(())
}

/// HAProxy's side of a running engine: its message format, systemd notifications
/// (`-Ws`), signals to the old processes (`-sf`, `-st`).
struct Life {
    quiet: bool,
    zero_warning: bool,
    notify: Option<Arc<Notify>>,
    /// (pid, signal), sent once, after the start.
    old: Mutex<Vec<(i32, libc::c_int)>>,
    /// Master CLI sockets (`-S`), served once started.
    master_cli: Mutex<Vec<master_cli::Listener>>,
}

impl Life {
    fn new(o: &Opts) -> Life {
        let notify = if o.systemd {
            Notify::from_env().map(Arc::new)
        } else {
            None
        };
        let old = o
            .soft_stop
            .iter()
            .map(|p| (*p, libc::SIGUSR1))
            .chain(o.hard_stop.iter().map(|p| (*p, libc::SIGTERM)))
            .collect();
        Life {
            quiet: o.quiet,
            zero_warning: o.zero_warning,
            notify,
            old: Mutex::new(old),
            master_cli: Mutex::new(Vec::new()),
        }
    }

    fn notify(&self, msg: &str) {
        if let Some(n) = &self.notify {
            n.send(msg);
        }
    }
}

/// What systemd is told around a reload (`-Ws`), whoever asked for it (a signal, the
/// master CLI).
fn reloading_message() -> String {
    format!("RELOADING=1\nMONOTONIC_USEC={}", monotonic_usec())
}

fn reloaded_message(result: &Result<(), String>) -> String {
    match result {
        Ok(()) => "READY=1\nSTATUS=configuration reloaded".into(),
        Err(e) => format!(
            "READY=1\nSTATUS=reload refused, running the previous configuration: {}",
            e.lines().next().unwrap_or("")
        ),
    }
}

impl Lifecycle for Life {
    fn warnings(&self, warnings: &[ConfigError]) -> anyhow::Result<()> {
        if !self.quiet {
            for w in warnings {
                warning(&format!("config : {w}"));
            }
        }
        if self.zero_warning && !warnings.is_empty() {
            anyhow::bail!(
                "config : {} warning(s) found and -dW (zero-warning) is set; not starting.",
                warnings.len()
            );
        }
        Ok(())
    }

    fn started(&self, shared: &Arc<halo_lb::engine::Shared>) {
        let listeners =
            std::mem::take(&mut *self.master_cli.lock().unwrap_or_else(|p| p.into_inner()));
        for l in listeners {
            master_cli::serve(l, shared.clone(), self.notify.clone());
        }
        self.notify("READY=1");
        let old = std::mem::take(&mut *self.old.lock().unwrap_or_else(|p| p.into_inner()));
        for (pid, sig) in old {
            // SAFETY: kill(2) with a pid and a signal number.
            if unsafe { libc::kill(pid, sig) } != 0 {
                warning(&format!(
                    "cannot signal old process {pid} (-sf/-st): {}",
                    std::io::Error::last_os_error()
                ));
            }
        }
    }

    fn reloading(&self) {
        self.notify(&reloading_message());
    }

    fn reloaded(&self, result: &Result<(), String>) {
        self.notify(&reloaded_message(result));
    }

    fn stopping(&self, _graceful: bool) {
        self.notify("STOPPING=1");
    }
}

/// CLOCK_MONOTONIC in microseconds, as systemd wants beside RELOADING=1.
fn monotonic_usec() -> u64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: clock_gettime writes the struct we own.
    unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut ts) };
    ts.tv_sec as u64 * 1_000_000 + ts.tv_nsec as u64 / 1000
}

/// systemd's notification socket (`$NOTIFY_SOCKET`: a path, or `@name` for an abstract
/// socket), written to as sd_notify(3) does.
struct Notify {
    socket: std::os::unix::net::UnixDatagram,
    addr: std::os::unix::net::SocketAddr,
    display: String,
}

impl Notify {
    fn from_env() -> Option<Notify> {
        use std::os::linux::net::SocketAddrExt;
        use std::os::unix::ffi::OsStrExt;
        let raw = std::env::var_os("NOTIFY_SOCKET")?;
        let display = raw.to_string_lossy().into_owned();
        let bytes = raw.as_bytes();
        let addr = match bytes.strip_prefix(b"@") {
            Some(name) => std::os::unix::net::SocketAddr::from_abstract_name(name),
            None => std::os::unix::net::SocketAddr::from_pathname(&raw),
        };
        let made = addr.and_then(|addr| {
            std::os::unix::net::UnixDatagram::unbound().map(|socket| Notify {
                socket,
                addr,
                display: display.clone(),
            })
        });
        match made {
            Ok(n) => Some(n),
            Err(e) => {
                warning(&format!(
                    "NOTIFY_SOCKET={display}: cannot use it ({e}); systemd will not be told."
                ));
                None
            }
        }
    }

    fn send(&self, msg: &str) {
        if let Err(e) = self.socket.send_to_addr(msg.as_bytes(), &self.addr) {
            tracing::warn!(socket = %self.display, "cannot notify systemd ({msg:?}): {e}");
        }
    }
}

/// HAProxy's master CLI (`-S`), for the one process that is both master and worker.
/// Each connection reads one line of commands separated by `;` (or, after `prompt`,
/// one line after another) and answers each followed by an empty line, as HAProxy
/// does. Master commands: `help`, `show proc`, `reload`; `@1 CMD`, `@!PID CMD` (and
/// `@@N`) run CMD on the runtime API with the admin level. Served by plain threads:
/// its connections are rare and `reload` blocks.
mod master_cli {
    use super::{reloaded_message, reloading_message, warning, Notify};
    use anyhow::Context;
    use halo_lb::engine::{admin, reload_shared, Shared};
    use std::io::{BufRead, BufReader, Read, Write};
    use std::net::TcpListener;
    use std::os::unix::net::UnixListener;
    use std::sync::Arc;
    use std::time::Instant;

    pub enum Listener {
        Unix(UnixListener),
        Tcp(TcpListener),
    }

    /// Binds `-S`'s address: `fd@N` (an inherited listening socket), `unix@PATH` or
    /// `/PATH` (mode 0600: the master CLI is admin-level), `[ipv4@|ipv6@]HOST:PORT`.
    /// Bind options after a comma are not applied (said on stderr).
    pub fn bind(spec: &str) -> anyhow::Result<Listener> {
        let (addr, options) = match spec.split_once(',') {
            Some((a, o)) => (a, Some(o)),
            None => (spec, None),
        };
        if let Some(o) = options {
            warning(&format!(
                "-S {spec}: the bind options `{o}` are not applied by halo (a Unix socket is made with mode 0600)."
            ));
        }
        if let Some(n) = addr.strip_prefix("fd@") {
            let fd: i32 =
                n.parse().ok().filter(|fd| *fd > 2).with_context(|| {
                    format!("-S {spec}: `{n}` is not a descriptor number above 2")
                })?;
            return inherited(fd).with_context(|| format!("-S {spec}: cannot use descriptor {fd}"));
        }
        let unix_path = addr
            .strip_prefix("unix@")
            .or_else(|| addr.starts_with('/').then_some(addr));
        if let Some(path) = unix_path {
            use std::os::unix::fs::{FileTypeExt, PermissionsExt};
            // A socket left by a previous run is replaced (anything else is an error).
            if std::fs::symlink_metadata(path).is_ok_and(|m| m.file_type().is_socket()) {
                std::fs::remove_file(path)
                    .with_context(|| format!("-S {spec}: cannot remove the old socket {path}"))?;
            }
            let l = UnixListener::bind(path)
                .with_context(|| format!("-S {spec}: cannot bind the master CLI on {path}"))?;
            std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))
                .with_context(|| format!("-S {spec}: cannot set the mode of {path}"))?;
            return Ok(Listener::Unix(l));
        }
        let host_port = addr
            .strip_prefix("ipv4@")
            .or_else(|| addr.strip_prefix("ipv6@"))
            .unwrap_or(addr);
        let l = TcpListener::bind(host_port)
            .with_context(|| format!("-S {spec}: cannot bind the master CLI on {host_port}"))?;
        Ok(Listener::Tcp(l))
    }

    /// A listening socket the caller passed as descriptor `fd`, Unix or TCP.
    fn inherited(fd: i32) -> std::io::Result<Listener> {
        let s = halo_lb::engine::inherited_socket(fd)?;
        s.set_nonblocking(false)?;
        let tcp = s.local_addr()?.as_socket().is_some();
        let owned = std::os::fd::OwnedFd::from(s);
        Ok(if tcp {
            Listener::Tcp(owned.into())
        } else {
            Listener::Unix(owned.into())
        })
    }

    /// Accepts on `l` in a thread of its own, one thread per connection.
    pub fn serve(l: Listener, shared: Arc<Shared>, notify: Option<Arc<Notify>>) {
        let started = Instant::now();
        let spawned = std::thread::Builder::new()
            .name("master-cli".into())
            .spawn(move || loop {
                let conn: std::io::Result<(Box<dyn Read + Send>, Box<dyn Write + Send>)> = match &l
                {
                    Listener::Unix(l) => l
                        .accept()
                        .and_then(|(s, _)| Ok((Box::new(s.try_clone()?) as _, Box::new(s) as _))),
                    Listener::Tcp(l) => l
                        .accept()
                        .and_then(|(s, _)| Ok((Box::new(s.try_clone()?) as _, Box::new(s) as _))),
                };
                let (r, w) = match conn {
                    Ok(c) => c,
                    Err(e) => {
                        tracing::warn!("master CLI: accept failed: {e}");
                        std::thread::sleep(std::time::Duration::from_millis(100));
                        continue;
                    }
                };
                let (shared, notify) = (shared.clone(), notify.clone());
                let _ = std::thread::Builder::new()
                    .name("master-cli-conn".into())
                    .spawn(move || {
                        if let Err(e) = session(r, w, &shared, notify.as_deref(), started) {
                            tracing::debug!("master CLI session ended: {e}");
                        }
                    });
            });
        if let Err(e) = spawned {
            warning(&format!("the master CLI cannot be served: {e}"));
        }
    }

    fn session(
        r: Box<dyn Read + Send>,
        mut w: Box<dyn Write + Send>,
        shared: &Arc<Shared>,
        notify: Option<&Notify>,
        started: Instant,
    ) -> std::io::Result<()> {
        let mut lines = BufReader::new(r);
        let mut interactive = false;
        loop {
            let mut line = String::new();
            if lines.read_line(&mut line)? == 0 {
                return Ok(());
            }
            for cmd in line.split(';').map(str::trim).filter(|c| !c.is_empty()) {
                match cmd {
                    "prompt" => interactive = !interactive,
                    "quit" => return Ok(()),
                    _ => {
                        let answer = command(cmd, shared, notify, started);
                        w.write_all(answer.as_bytes())?;
                        w.write_all(b"\n")?;
                    }
                }
            }
            if !interactive {
                return Ok(());
            }
            w.write_all(b"master> ")?;
            w.flush()?;
        }
    }

    const HELP: &str = "The following commands are valid at this level:\n  help           : this message\n  prompt         : toggle interactive mode with prompt\n  quit           : disconnect\n  show proc      : show the processes (halo: one process is both master and worker)\n  reload         : reload the configuration files\n  @1 <cmd>, @!<pid> <cmd> : run a runtime API command on the worker\n";

    fn command(
        cmd: &str,
        shared: &Arc<Shared>,
        notify: Option<&Notify>,
        started: Instant,
    ) -> String {
        let pid = std::process::id();
        if let Some(rest) = cmd.strip_prefix('@') {
            let (target, worker_cmd) = rest.split_once(char::is_whitespace).unwrap_or((rest, ""));
            let ours = matches!(target, "1" | "@1" | "master" | "")
                || target.strip_prefix('!') == Some(pid.to_string().as_str());
            if !ours {
                return format!(
                    "Can't find the target CLI `@{target}` (halo runs one process: @1, @!{pid}).\n"
                );
            }
            if worker_cmd.trim().is_empty() {
                return "The worker is entered by prefixing each command (`@1 show info`); interactive worker mode is not supported.\n".into();
            }
            return admin::execute(shared, worker_cmd.trim(), true);
        }
        let words: Vec<&str> = cmd.split_whitespace().collect();
        match words.as_slice() {
            ["help"] => HELP.into(),
            ["show", "proc", ..] => {
                let up = started.elapsed().as_secs();
                let uptime = format!(
                    "{}d{:02}h{:02}m{:02}s",
                    up / 86400,
                    up / 3600 % 24,
                    up / 60 % 60,
                    up % 60
                );
                let reloads = shared.reloads.load(std::sync::atomic::Ordering::Relaxed);
                let v = super::HAPROXY_VERSION;
                format!(
                    "#<PID>          <type>          <reloads>       <uptime>        <version>\n{pid:<15} master          {reloads:<15} {uptime:<15} {v}\n# workers\n{pid:<15} worker          {reloads:<15} {uptime:<15} {v}\n# old workers\n"
                )
            }
            ["reload"] => {
                if let Some(n) = notify {
                    n.send(&reloading_message());
                }
                let result = reload_shared(shared).map_err(|e| e.to_string());
                if let Some(n) = notify {
                    n.send(&reloaded_message(&result));
                }
                match result {
                    Ok(()) => "Reloaded.\n".into(),
                    Err(e) => {
                        format!("Reload refused, still running the previous configuration: {e}\n")
                    }
                }
            }
            _ => format!("Unknown command `{cmd}`.\n{HELP}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(args: &[&str]) -> Result<Opts, UsageError> {
        parse(&args.iter().map(OsString::from).collect::<Vec<_>>())
    }

    /// Debian's unit file and the regression suite's command lines parse as HAProxy's.
    #[test]
    fn haproxy_command_lines_parse() {
        let o = p(&[
            "-Ws",
            "-f",
            "/etc/haproxy/haproxy.cfg",
            "-p",
            "/run/haproxy.pid",
            "-S",
            "/run/haproxy-master.sock",
        ])
        .unwrap_or_else(|e| panic!("{e}"));
        assert!(o.master_worker && o.systemd && o.foreground && !o.check);
        assert_eq!(o.files, vec![PathBuf::from("/etc/haproxy/haproxy.cfg")]);
        assert_eq!(o.pidfile, Some(PathBuf::from("/run/haproxy.pid")));
        assert_eq!(o.master_cli, vec!["/run/haproxy-master.sock".to_string()]);
        let o = p(&[
            "-d",
            "-dM",
            "-dM0x55,fail",
            "-W",
            "-S",
            "fd@5",
            "-L",
            "p1",
            "-f",
            "a.cfg",
            "-f",
            "b.cfg",
        ])
        .unwrap_or_else(|e| panic!("{e}"));
        assert!(o.foreground && o.master_worker && !o.systemd);
        assert_eq!(o.local_peer.as_deref(), Some("p1"));
        assert_eq!(o.files.len(), 2);
        let o = p(&["-f", "x", "-sf", "12", "13", "-st", "14", "-q", "-c"])
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!((o.soft_stop, o.hard_stop), (vec![12, 13], vec![14]));
        assert!(o.quiet && o.check);
        let o = p(&["-vv"]).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(o.version, 2);
        let o = p(&["-n", "100", "-N", "10", "-m", "64", "--", "a", "b"])
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            (o.maxconn, o.proxy_maxconn, o.memory_mb),
            (Some(100), Some(10), Some(64))
        );
        assert_eq!(o.files, vec![PathBuf::from("a"), PathBuf::from("b")]);
    }

    /// Anything else is refused, naming the option.
    #[test]
    fn bad_command_lines_name_the_option() {
        assert_eq!(p(&["-Z"]), Err(UsageError::Unknown("-Z".into())));
        assert_eq!(p(&["-f"]), Err(UsageError::MissingValue("-f".into())));
        assert!(matches!(
            p(&["-sf", "x1"]),
            Err(UsageError::BadValue { .. })
        ));
        assert!(matches!(p(&["cfg"]), Err(UsageError::Positional(_))));
        assert!(p(&["-Z"])
            .err()
            .is_some_and(|e| e.to_string() == "unknown option '-Z'"));
    }

    /// HAProxy's test runner reads the version as the third word of the first line.
    #[test]
    fn version_line_has_the_version_third() {
        let text = version_text(true);
        let first = text.lines().next().unwrap_or("");
        assert_eq!(first.split(' ').nth(2), Some(HAPROXY_VERSION));
        assert!(first.contains("halo"));
        assert_eq!(text.matches("HAProxy version").count(), 1);
    }
}
