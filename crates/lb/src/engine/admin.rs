//! The runtime API (`stats socket`): a Unix socket speaking a subset of HAProxy's
//! commands, one per line, each answer followed by an empty line.
//!
//! `show stat`, `show info`, `show servers state`, `enable server B/S`,
//! `disable server B/S`, `set server B/S state ready|drain|maint`,
//! `set server B/S weight N`, `shutdown sessions server B/S`,
//! `add server B/S ADDR:PORT [keywords]`, `del server B/S`, `reload`, `help`, `quit`.

use super::state::*;
use super::Shared;
use crate::config::StatsSocket;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering::Relaxed};
use std::sync::Arc;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::UnixListener;

/// A runtime socket bound by this process: a socket file, or (`fd@N`) a listening socket
/// inherited from the parent process (Unix or TCP).
pub struct Bound {
    listener: Listener,
    /// Device and inode of the socket file, to remove only our own file later.
    ident: Option<(u64, u64)>,
}

enum Listener {
    Unix(std::os::unix::net::UnixListener),
    Tcp(std::net::TcpListener),
}

/// A connection to the runtime socket, whichever kind.
trait Conn: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send {}
impl<T: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send> Conn for T {}

enum Accepting {
    Unix(UnixListener),
    Tcp(tokio::net::TcpListener),
}

impl Accepting {
    fn new(l: Listener) -> std::io::Result<Accepting> {
        Ok(match l {
            Listener::Unix(l) => Accepting::Unix(UnixListener::from_std(l)?),
            Listener::Tcp(l) => Accepting::Tcp(tokio::net::TcpListener::from_std(l)?),
        })
    }

    async fn accept(&self) -> std::io::Result<Box<dyn Conn>> {
        Ok(match self {
            Accepting::Unix(l) => Box::new(l.accept().await?.0),
            Accepting::Tcp(l) => Box::new(l.accept().await?.0),
        })
    }
}

/// `fd@N`: a duplicate of the inherited descriptor `N`, a listening socket.
fn inherited(n: &str) -> std::io::Result<Listener> {
    let bad = || std::io::Error::new(std::io::ErrorKind::InvalidInput, "not a descriptor number");
    let s = super::inherited_socket(n.parse().map_err(|_| bad())?)?;
    s.set_nonblocking(true)?;
    let tcp = s.local_addr()?.as_socket().is_some();
    let fd = std::os::fd::OwnedFd::from(s);
    Ok(if tcp {
        Listener::Tcp(fd.into())
    } else {
        Listener::Unix(fd.into())
    })
}

/// A runtime socket being served.
pub struct AdminSocket {
    conf: StatsSocket,
    /// `level admin` (a reload may change the level of a socket it keeps).
    admin: Arc<AtomicBool>,
    ident: Option<(u64, u64)>,
    task: tokio::task::JoinHandle<()>,
}

impl AdminSocket {
    /// Stops serving and removes the socket file if it is still ours.
    fn close(self) {
        self.task.abort();
        remove_if_ours(&self.conf.path, self.ident);
    }
}

fn file_ident(path: &Path) -> Option<(u64, u64)> {
    use std::os::unix::fs::MetadataExt;
    std::fs::symlink_metadata(path)
        .ok()
        .map(|m| (m.dev(), m.ino()))
}

/// Removes `path` when it is the file we created (not one made since, nor one that the
/// same path names inside a chroot).
fn remove_if_ours(path: &Path, ident: Option<(u64, u64)>) {
    if ident.is_some() && file_ident(path) == ident {
        let _ = std::fs::remove_file(path);
    }
}

fn set_mode(path: &Path, mode: u32) -> std::io::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode))
}

/// Creates the socket file (before a chroot, like the listeners).
pub fn bind(conf: &StatsSocket) -> std::io::Result<Bound> {
    if let Some(n) = conf.path.to_str().and_then(|p| p.strip_prefix("fd@")) {
        return Ok(Bound {
            listener: inherited(n)?,
            ident: None,
        });
    }
    let path = conf.path.clone();
    if path.exists() {
        // A socket left by a previous run: remove it unless someone still answers.
        if std::os::unix::net::UnixStream::connect(&path).is_ok() {
            return Err(std::io::Error::new(
                std::io::ErrorKind::AddrInUse,
                "another process serves this socket",
            ));
        }
        std::fs::remove_file(&path)?;
    }
    let listener = std::os::unix::net::UnixListener::bind(&path)?;
    listener.set_nonblocking(true)?;
    let ident = file_ident(&path);
    let owned = conf
        .mode
        .map_or(Ok(()), |m| set_mode(&path, m))
        .and_then(|()| {
            let id = |v: &Option<String>, user: bool| -> std::io::Result<Option<u32>> {
                let Some(v) = v else { return Ok(None) };
                if let Ok(n) = v.parse() {
                    return Ok(Some(n));
                }
                let found = if user {
                    crate::process::lookup_user(v)
                } else {
                    crate::process::lookup_group(v)
                };
                found
                    .map(Some)
                    .map_err(|e| std::io::Error::new(std::io::ErrorKind::NotFound, e.to_string()))
            };
            let (uid, gid) = (id(&conf.owner, true)?, id(&conf.group, false)?);
            if uid.is_some() || gid.is_some() {
                std::os::unix::fs::chown(&path, uid, gid)?;
            }
            Ok(())
        });
    if let Err(e) = owned {
        remove_if_ours(&path, ident);
        return Err(e);
    }
    Ok(Bound {
        listener: Listener::Unix(listener),
        ident,
    })
}

/// Serves a bound runtime socket on the engine's runtime.
pub fn serve(shared: &Arc<Shared>, conf: &StatsSocket, bound: Bound) -> AdminSocket {
    let admin = Arc::new(AtomicBool::new(conf.level == "admin"));
    let sh = shared.clone();
    let level = admin.clone();
    let std_listener = bound.listener;
    let task = shared.handle.spawn(async move {
        let listener = match Accepting::new(std_listener) {
            Ok(l) => l,
            Err(e) => {
                tracing::error!("runtime socket: {e}");
                return;
            }
        };
        loop {
            let stream = match listener.accept().await {
                Ok(stream) => stream,
                Err(e) => {
                    // Out of descriptors and the like: do not spin.
                    tracing::warn!("runtime socket: accept: {e}");
                    tokio::time::sleep(std::time::Duration::from_millis(100)).await;
                    continue;
                }
            };
            let sh = sh.clone();
            let level = level.clone();
            tokio::spawn(async move {
                let (r, mut w) = tokio::io::split(stream);
                let mut lines = BufReader::new(r).lines();
                while let Ok(Some(line)) = lines.next_line().await {
                    let mut quit = false;
                    for cmd in line.split(';') {
                        let cmd = cmd.trim();
                        if cmd.is_empty() {
                            continue;
                        }
                        if cmd == "quit" {
                            quit = true;
                            break;
                        }
                        let sh2 = sh.clone();
                        let c = cmd.to_string();
                        let admin = level.load(Relaxed);
                        // Reloads bind sockets and may block briefly: keep them off the
                        // async workers.
                        let out = tokio::task::spawn_blocking(move || execute(&sh2, &c, admin))
                            .await
                            .unwrap_or_else(|e| format!("internal error: {e}\n"));
                        if w.write_all(out.as_bytes()).await.is_err()
                            || w.write_all(b"\n").await.is_err()
                        {
                            return;
                        }
                    }
                    if quit {
                        return;
                    }
                }
            });
        }
    });
    AdminSocket {
        conf: conf.clone(),
        admin,
        ident: bound.ident,
        task,
    }
}

/// The fallible half of a reload's runtime-socket change: binds the sockets `wanted`
/// adds and applies changed permissions. On error nothing is left bound.
pub(crate) fn prepare(
    shared: &Shared,
    wanted: &[StatsSocket],
) -> Result<Vec<(StatsSocket, Bound)>, String> {
    let current = lock(&shared.admin);
    let mut fresh: Vec<(StatsSocket, Bound)> = Vec::new();
    for w in wanted {
        let r = match current.iter().find(|a| a.conf.path == w.path) {
            Some(a) => match w.mode {
                Some(m) if a.conf.mode != w.mode && a.ident.is_some() => set_mode(&w.path, m),
                _ => Ok(()),
            },
            None => bind(w).map(|b| fresh.push((w.clone(), b))),
        };
        if let Err(e) = r {
            for (c, b) in fresh {
                remove_if_ours(&c.path, b.ident);
            }
            return Err(format!("stats socket {}: {e}", w.path.display()));
        }
    }
    Ok(fresh)
}

/// The infallible half: closes the sockets `wanted` no longer names, updates the level
/// of those it keeps and serves the new ones.
pub(crate) fn apply(
    shared: &Arc<Shared>,
    wanted: &[StatsSocket],
    fresh: Vec<(StatsSocket, Bound)>,
) {
    let mut current = lock(&shared.admin);
    for mut a in std::mem::take(&mut *current) {
        match wanted.iter().find(|w| w.path == a.conf.path) {
            Some(w) => {
                a.admin.store(w.level == "admin", Relaxed);
                a.conf = w.clone();
                current.push(a);
            }
            None => a.close(),
        }
    }
    for (c, b) in fresh {
        current.push(serve(shared, &c, b));
    }
}

/// Closes every runtime socket (the engine stops).
pub(crate) fn close_all(shared: &Shared) {
    for a in lock(&shared.admin).drain(..) {
        a.close();
    }
}

fn find<'a>(g: &'a super::Generation, spec: &str) -> Result<(&'a Arc<BackendRt>, usize), String> {
    let (b, s) = spec
        .split_once('/')
        .ok_or_else(|| format!("expected BACKEND/SERVER, got `{spec}`\n"))?;
    let be = g
        .backends
        .iter()
        .find(|x| x.cfg.name == b)
        .ok_or_else(|| format!("No such backend `{b}`.\n"))?;
    let i = be
        .servers
        .iter()
        .position(|x| x.cfg.name == s)
        .ok_or_else(|| format!("No such server `{s}` in backend `{b}`.\n"))?;
    Ok((be, i))
}

/// `get var proc.NAME`: its type and value, as HAProxy shows them.
fn get_var(shared: &Shared, name: &str) -> Result<String, String> {
    use crate::sample::Value;
    if !name.starts_with("proc.") {
        return Err("Only process variables (`proc.`) can be read here.\n".into());
    }
    let vars = lock(&shared.proc_vars);
    let v = vars
        .get(name)
        .ok_or_else(|| format!("Variable `{name}` not found.\n"))?;
    let kind = match v {
        Value::Bool(_) => "bool",
        Value::Int(_) => "sint",
        Value::Ip(std::net::IpAddr::V4(_)) => "ipv4",
        Value::Ip(std::net::IpAddr::V6(_)) => "ipv6",
        Value::Str(_) => "str",
        Value::Bin(_) => "bin",
    };
    // One line, which the answer's end closes (HAProxy's form).
    Ok(format!("{name}: type={kind} value=<{}>", v.as_str()))
}

/// `set var proc.NAME EXPR` or `set var proc.NAME fmt FORMAT`.
fn set_var(shared: &Shared, name: &str, text: &str, fmt: bool) -> Result<String, String> {
    use crate::sample::{NoMessage, Value};
    crate::sample::check_var_name(name).map_err(|e| format!("{e}\n"))?;
    if !name.starts_with("proc.") {
        return Err("Only process variables (`proc.`) can be set here.\n".into());
    }
    let mut vars = lock(&shared.proc_vars);
    let v = if fmt {
        let f = crate::sample::LogFmt::parse(text).map_err(|e| format!("{e}\n"))?;
        Some(Value::Str(f.render(&NoMessage, &mut *vars)))
    } else {
        let e = crate::sample::Expr::parse(text).map_err(|e| format!("{e}\n"))?;
        e.eval(&NoMessage, &mut *vars)
    };
    match v {
        Some(v) => {
            vars.insert(name.to_string(), v);
            Ok(String::new())
        }
        None => Err(format!("`{text}` gives no value here.\n")),
    }
}

fn table_type(k: crate::config::TableKey) -> &'static str {
    use crate::config::TableKey;
    match k {
        TableKey::Ip => "ip",
        TableKey::Ipv6 => "ipv6",
        TableKey::Integer => "integer",
        TableKey::String => "string",
        TableKey::Binary => "binary",
    }
}

/// Runs one command and returns its answer (always ending with a newline when not empty).
pub fn execute(shared: &Arc<Shared>, cmd: &str, admin: bool) -> String {
    let w: Vec<&str> = cmd.split_whitespace().collect();
    let need_admin = !matches!(w.as_slice(), ["show", ..] | ["help"]);
    if need_admin && !admin {
        return "Permission denied\n".into();
    }
    let g = shared.current.load();
    let r: Result<String, String> = match w.as_slice() {
        ["help"] => Ok("show stat | show info | show activity | show servers state | show table [NAME] | enable server B/S | disable server B/S | set server B/S state ready|drain|maint | set server B/S weight N | shutdown sessions server B/S | add server B/S ADDR:PORT [keywords] | del server B/S | get var proc.V | set var proc.V EXPR|fmt FMT | reload | quit\n".into()),
        ["show", "stat", ..] => Ok(super::stats::csv(&super::stats::snapshot(shared))),
        ["show", "info"] => {
            let cur: u64 = g.frontends.iter().map(|f| f.stats.cur.load(Relaxed)).sum();
            Ok(format!(
                // HAProxy's order; one process (Nbproc, Process_num), as HAProxy 2.x.
                "Name: halo\nVersion: {}\nNbthread: {}\nNbproc: 1\nProcess_num: 1\nPid: {}\nUptime_sec: {}\nMaxconn: {}\nCurrConns: {cur}\nReloads: {}\n",
                env!("CARGO_PKG_VERSION"),
                shared.threads,
                std::process::id(),
                shared.started.elapsed().as_secs(),
                g.config.global.maxconn,
                shared.reloads.load(Relaxed)
            ))
        }
        ["show", "activity"] => Ok(shared.activity.report()),
        ["show", "table"] => Ok(g
            .tables
            .values()
            .map(|t| {
                format!(
                    "# table: {}, type: {}, size:{}, used:{}\n",
                    t.def.name,
                    table_type(t.def.key),
                    t.def.size,
                    t.dump().len()
                )
            })
            .collect()),
        ["show", "table", name] => match g.tables.get(*name) {
            None => Err(format!("Unknown table '{name}'.\n")),
            Some(t) => {
                let rows = t.dump();
                let mut s = format!(
                    "# table: {}, type: {}, size:{}, used:{}\n",
                    t.def.name,
                    table_type(t.def.key),
                    t.def.size,
                    rows.len()
                );
                for row in rows {
                    s.push_str(&row);
                    s.push('\n');
                }
                Ok(s)
            }
        },
        ["show", "servers", "state", rest @ ..] => Ok(servers_state(&g, rest)),
        ["enable", "server", spec] => find(&g, spec).map(|(be, i)| {
            be.set_admin(i, Admin::Ready);
            String::new()
        }),
        ["disable", "server", spec] => find(&g, spec).map(|(be, i)| {
            be.set_admin(i, Admin::Maint);
            String::new()
        }),
        ["set", "server", spec, "state", st] => find(&g, spec).and_then(|(be, i)| {
            let a = match *st {
                "ready" => Admin::Ready,
                "drain" => Admin::Drain,
                "maint" => Admin::Maint,
                o => return Err(format!("unknown state `{o}` (ready, drain, maint)\n")),
            };
            be.set_admin(i, a);
            Ok(String::new())
        }),
        ["set", "server", spec, "weight", n] => find(&g, spec).and_then(|(be, i)| {
            let v: u32 = n.trim_end_matches('%').parse().map_err(|_| format!("`{n}` is not a weight\n"))?;
            if v > 256 {
                return Err("weight must be between 0 and 256\n".into());
            }
            be.servers[i].shared.weight.store(v, Relaxed);
            be.queue.notify_waiters();
            Ok(String::new())
        }),
        ["shutdown", "sessions", "server", spec] => find(&g, spec).map(|(be, i)| {
            be.servers[i].shared.kill_sessions();
            String::new()
        }),
        ["add", "server", spec, addr, kws @ ..] => add_server(shared, spec, addr, kws),
        ["del", "server", spec] => del_server(shared, spec),
        ["experimental-mode", "on" | "off"] => Ok(String::new()),
        ["get", "var", name] => get_var(shared, name),
        ["set", "var", name, "fmt", rest @ ..] => set_var(shared, name, &rest.join(" "), true),
        ["set", "var", name, rest @ ..] if !rest.is_empty() => {
            set_var(shared, name, &rest.join(" "), false)
        }
        ["reload"] => super::reload_from_loader(shared).map(|_| "Reloaded.\n".to_string()).map_err(|e| format!("{e}\n")),
        _ => Err(format!("Unknown command `{cmd}`; try `help`.\n")),
    };
    r.unwrap_or_else(|e| e)
}

fn add_server(
    shared: &Arc<Shared>,
    spec: &str,
    addr: &str,
    kws: &[&str],
) -> Result<String, String> {
    let (b, s) = spec
        .split_once('/')
        .ok_or_else(|| format!("expected BACKEND/SERVER, got `{spec}`\n"))?;
    // Parse the server line with the configuration reader itself.
    let text = format!("backend {b}\n  server {s} {addr} {}\n", kws.join(" "));
    let parsed =
        crate::config::haproxy::parse(&text, "add server").map_err(|e| format!("{e}\n"))?;
    let mut server = parsed
        .config
        .backends
        .into_iter()
        .next()
        .and_then(|b| b.server.into_iter().next())
        .ok_or("no server parsed\n")?;
    server.source = "runtime API".into();
    super::reconfigure(shared, |cfg| {
        let be = cfg
            .backends
            .iter_mut()
            .find(|x| x.name == b)
            .ok_or_else(|| format!("No such backend `{b}`."))?;
        if be.server.iter().any(|x| x.name == s) {
            return Err(format!(
                "Already exists a server with the same name `{s}` in backend `{b}`."
            ));
        }
        be.server.push(server);
        Ok(())
    })
    .map(|_| "New server registered.\n".to_string())
    .map_err(|e| format!("{e}\n"))
}

fn del_server(shared: &Arc<Shared>, spec: &str) -> Result<String, String> {
    let g = shared.current.load();
    let (be, i) = find(&g, spec)?;
    let sv = &be.servers[i];
    if sv.shared.admin() != Admin::Maint {
        return Err(
            "Only servers in maintenance mode can be deleted (`disable server` first).\n".into(),
        );
    }
    if sv.shared.cur.load(Relaxed) > 0 {
        return Err("Server still has connections attached to it, cannot remove it.\n".into());
    }
    let (b, s) = (be.cfg.name.clone(), sv.cfg.name.clone());
    drop(g);
    super::reconfigure(shared, |cfg| {
        let be = cfg
            .backends
            .iter_mut()
            .find(|x| x.name == b)
            .ok_or_else(|| format!("No such backend `{b}`."))?;
        be.server.retain(|x| x.name != s);
        Ok(())
    })
    .map(|_| "Server deleted.\n".to_string())
    .map_err(|e| format!("{e}\n"))
}

/// `show servers state [BACKEND]`: HAProxy's version 1 layout (what `server-state-file`
/// holds and tools read), one line per server.
fn servers_state(g: &super::Generation, only: &[&str]) -> String {
    let mut s = String::from("1\n# be_id be_name srv_id srv_name srv_addr srv_op_state srv_admin_state srv_uweight srv_iweight srv_time_since_last_change srv_check_status srv_check_result srv_check_health srv_check_state srv_agent_state bk_f_forced_id srv_f_forced_id srv_fqdn srv_port srvrecord srv_use_ssl srv_check_port srv_check_addr srv_agent_addr srv_agent_port\n");
    let ids = super::stats::proxy_ids(&g.config);
    for (be, id) in g.backends.iter().zip(&ids.backends) {
        if !only.is_empty() && !only.contains(&be.cfg.name.as_str()) {
            continue;
        }
        let sids = &be.server_ids;
        for (i, sv) in be.servers.iter().enumerate() {
            let sh = &sv.shared;
            let admin = sh.admin();
            // HAProxy's numbers: stopped 0 / running 2; forced maintenance 1, drain 8.
            let (op, adm) = match admin {
                Admin::Maint => (0, 1),
                Admin::Drain => (if sh.up.load(Relaxed) { 2 } else { 0 }, 8),
                Admin::Ready => (if sh.up.load(Relaxed) { 2 } else { 0 }, 0),
            };
            let lc = lock(&sh.last_check).clone();
            let health = lock(&sh.health).counter().0;
            let (status, result, state) = match sv.cfg.check {
                false => (1, 0, 0),
                true => {
                    let status = check_status_number(&lc.status);
                    let result = match lc.status.as_str() {
                        "" => 0,
                        s if s.ends_with("OK") => 3,
                        _ => 2,
                    };
                    // Configured and enabled; paused in maintenance.
                    (status, result, if admin == Admin::Maint { 14 } else { 6 })
                }
            };
            let cp = &sv.cfg.check_params;
            let agent = sv.cfg.agent.as_ref();
            s.push_str(&format!(
                "{id} {} {} {} {} {op} {adm} {} {} {} {status} {result} {health} {state} 0 0 {} - {} - {} {} {} {} {}\n",
                be.cfg.name,
                sids[i],
                sv.cfg.name,
                sv.cfg.addr.ip(),
                sh.weight.load(Relaxed),
                sv.cfg.weight,
                lock(&sh.last_change).elapsed().as_secs(),
                u8::from(sv.cfg.id.is_some()),
                sv.cfg.addr.port(),
                u8::from(sv.tls.is_some()),
                cp.port.unwrap_or(0),
                cp.addr.map_or("-".to_string(), |a| a.to_string()),
                agent
                    .and_then(|a| a.addr)
                    .map_or("-".to_string(), |a| a.to_string()),
                agent.map_or(0, |a| a.port),
            ));
        }
    }
    s
}

/// HAProxy's number for a check status (`HCHK_STATUS_*`; 1: none yet).
fn check_status_number(status: &str) -> u8 {
    match status {
        "SOCKERR" => 5,
        "L4OK" => 6,
        "L4TOUT" => 7,
        "L4CON" => 8,
        "L6OK" => 9,
        "L6TOUT" => 10,
        "L6RSP" => 11,
        "L7TOUT" => 12,
        "L7RSP" => 13,
        "L7OK" => 15,
        "L7OKC" => 16,
        "L7STS" => 17,
        _ => 1,
    }
}
