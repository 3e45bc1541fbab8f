//! Statistics: HAProxy's CSV (`show stat`, `<uri>;csv`), an HTML page like HAProxy's
//! and Prometheus text (`/metrics`), all rendered from one snapshot.

use super::http::{full, ProxyBody};
use super::state::*;
use super::Shared;
use crate::config::StatsPage;
use hyper::header::HeaderValue;
use hyper::{Request, Response, StatusCode};
use std::fmt::Write;
use std::sync::atomic::Ordering::Relaxed;
use std::sync::Arc;

/// One row of statistics (a frontend, a server or a backend).
#[derive(Debug, Clone, Default)]
pub struct Row {
    pub pxname: String,
    pub svname: String,
    pub kind: u8, // 0 frontend, 1 backend, 2 server
    pub qcur: u64,
    pub qmax: u64,
    pub scur: u64,
    pub smax: u64,
    pub slim: u64,
    pub stot: u64,
    pub bin: u64,
    pub bout: u64,
    pub dreq: u64,
    pub ereq: u64,
    pub econ: u64,
    pub eresp: u64,
    pub wretr: u64,
    pub wredis: u64,
    pub status: String,
    pub weight: u64,
    pub act: u64,
    pub bck: u64,
    pub chkfail: u64,
    pub chkdown: u64,
    pub lastchg: u64,
    pub lbtot: u64,
    pub check_status: String,
    pub check_code: String,
    pub check_duration: String,
    pub check_detail: String,
    pub hrsp: [u64; 6],
    pub req_tot: u64,
    pub addr: String,
    pub mode: String,
    /// The proxy's number and the server's (1, 2... in its backend; 0 for the proxy
    /// rows).
    pub iid: u32,
    pub sid: usize,
    /// A server in its `slowstart`: the share of its weight it has, in percent.
    pub throttle: Option<u8>,
    /// The server it tracks (`BACKEND/SERVER`).
    pub tracked: String,
}

/// The numbers of a configuration's proxies, frontends' and backends' in their order:
/// their `id`, else (a configuration that has none, as native ones) 2, 3... in the order
/// of their names' first appearance.
pub struct ProxyIds {
    pub frontends: Vec<u32>,
    pub backends: Vec<u32>,
}

pub fn proxy_ids(c: &crate::config::Config) -> ProxyIds {
    let mut seen: Vec<String> = Vec::new();
    let mut number = |name: &str, id: Option<u32>| {
        id.unwrap_or_else(|| {
            let i = seen.iter().position(|n| n == name).unwrap_or_else(|| {
                seen.push(name.to_string());
                seen.len() - 1
            });
            i as u32 + 2
        })
    };
    ProxyIds {
        frontends: c.frontends.iter().map(|f| number(&f.name, f.id)).collect(),
        backends: c.backends.iter().map(|b| number(&b.name, b.id)).collect(),
    }
}

/// Every row, HAProxy's order: for each proxy, FRONTEND, servers, BACKEND.
pub fn snapshot(shared: &Shared) -> Vec<Row> {
    let g = shared.current.load();
    let mut rows = Vec::new();
    let ids = proxy_ids(&g.config);
    // The proxies in the order of their numbers (a `listen` is one).
    let mut names: Vec<(u32, String)> = Vec::new();
    for (name, id) in g
        .frontends
        .iter()
        .map(|f| &f.cfg.name)
        .chain(g.backends.iter().map(|b| &b.cfg.name))
        .zip(ids.frontends.iter().chain(&ids.backends))
    {
        if !names.iter().any(|(_, n)| n == name) {
            names.push((*id, name.clone()));
        }
    }
    names.sort_by_key(|(id, _)| *id);
    for (iid, name) in names {
        if let Some(f) = g.frontends.iter().find(|f| f.cfg.name == name) {
            let s = &f.stats;
            rows.push(Row {
                pxname: name.clone(),
                svname: "FRONTEND".into(),
                kind: 0,
                scur: s.cur.load(Relaxed),
                smax: s.max.load(Relaxed),
                slim: f.cfg.maxconn.unwrap_or(g.config.global.maxconn) as u64,
                stot: s.total.load(Relaxed),
                bin: s.bytes_in.load(Relaxed),
                bout: s.bytes_out.load(Relaxed),
                dreq: s.denied.load(Relaxed),
                ereq: s.ereq.load(Relaxed),
                status: if f.cfg.disabled {
                    "STOP".into()
                } else {
                    "OPEN".into()
                },
                hrsp: std::array::from_fn(|i| s.hrsp[i].load(Relaxed)),
                req_tot: s.req_tot.load(Relaxed),
                addr: f
                    .cfg
                    .bind
                    .iter()
                    .map(|b| b.addr.to_string())
                    .collect::<Vec<_>>()
                    .join(","),
                mode: f.cfg.mode.to_string(),
                iid,
                ..Default::default()
            });
        }
        if let Some(b) = g.backends.iter().find(|b| b.cfg.name == name) {
            if b.servers.is_empty()
                && g.frontends
                    .iter()
                    .any(|f| f.cfg.name == name && f.cfg.stats.is_some())
            {
                continue;
            }
            let mut act = 0;
            let mut bck = 0;
            let mut tw = 0;
            let sids = &b.server_ids;
            for (i, sv) in b.servers.iter().enumerate() {
                let sh = &sv.shared;
                let alive = b.alive(i);
                if alive {
                    if sv.cfg.backup {
                        bck += 1;
                    } else {
                        act += 1;
                    }
                    tw += sh.weight.load(Relaxed) as u64;
                }
                let lc = lock(&sh.last_check).clone();
                rows.push(Row {
                    pxname: name.clone(),
                    svname: sv.cfg.name.clone(),
                    kind: 2,
                    scur: sh.cur.load(Relaxed) as u64,
                    smax: sh.max.load(Relaxed) as u64,
                    slim: sv.shared.maxconn.load(Relaxed) as u64,
                    stot: sh.stats.total.load(Relaxed),
                    bin: sh.stats.bytes_in.load(Relaxed),
                    bout: sh.stats.bytes_out.load(Relaxed),
                    econ: sh.stats.econ.load(Relaxed),
                    eresp: sh.stats.eresp.load(Relaxed),
                    wretr: sh.stats.wretr.load(Relaxed),
                    wredis: sh.stats.wredis.load(Relaxed),
                    status: sh.status_text(sv.cfg.check, sv.cfg.track.is_some()),
                    tracked: sv.cfg.track.clone().unwrap_or_default(),
                    weight: sh.weight.load(Relaxed) as u64,
                    act: u64::from(!sv.cfg.backup),
                    bck: u64::from(sv.cfg.backup),
                    chkfail: sh.chkfail.load(Relaxed),
                    chkdown: sh.chkdown.load(Relaxed),
                    lastchg: lock(&sh.last_change).elapsed().as_secs(),
                    lbtot: sh.stats.lbtot.load(Relaxed),
                    check_status: if sv.cfg.check {
                        lc.status.clone()
                    } else {
                        String::new()
                    },
                    check_code: lc.code.map(|c| c.to_string()).unwrap_or_default(),
                    check_duration: if sv.cfg.check && !lc.status.is_empty() {
                        lc.duration_ms.to_string()
                    } else {
                        String::new()
                    },
                    check_detail: lc.detail,
                    hrsp: std::array::from_fn(|i| sh.stats.hrsp[i].load(Relaxed)),
                    addr: sv.cfg.addr.to_string(),
                    mode: b.cfg.mode.to_string(),
                    iid,
                    sid: sids[i] as usize,
                    throttle: sh.slow_share(sv.cfg.slowstart).map(|f| (f * 100.0) as u8),
                    ..Default::default()
                });
            }
            let s = &b.stats;
            rows.push(Row {
                pxname: name.clone(),
                svname: "BACKEND".into(),
                kind: 1,
                qcur: b.qcur.load(Relaxed) as u64,
                qmax: b.qmax.load(Relaxed) as u64,
                scur: s.cur.load(Relaxed),
                smax: s.max.load(Relaxed),
                stot: s.total.load(Relaxed),
                bin: s.bytes_in.load(Relaxed),
                bout: s.bytes_out.load(Relaxed),
                econ: s.econ.load(Relaxed),
                eresp: s.eresp.load(Relaxed),
                wretr: s.wretr.load(Relaxed),
                wredis: s.wredis.load(Relaxed),
                status: if act + bck > 0 || b.servers.is_empty() {
                    "UP".into()
                } else {
                    "DOWN".into()
                },
                weight: tw,
                act,
                bck,
                lbtot: s.lbtot.load(Relaxed),
                hrsp: std::array::from_fn(|i| s.hrsp[i].load(Relaxed)),
                req_tot: s.req_tot.load(Relaxed),
                mode: b.cfg.mode.to_string(),
                iid,
                ..Default::default()
            });
        }
    }
    rows
}

const CSV_HEADER: &str = "# pxname,svname,qcur,qmax,scur,smax,slim,stot,bin,bout,dreq,dresp,ereq,econ,eresp,wretr,wredis,status,weight,act,bck,chkfail,chkdown,lastchg,downtime,qlimit,pid,iid,sid,throttle,lbtot,tracked,type,rate,rate_lim,rate_max,check_status,check_code,check_duration,hrsp_1xx,hrsp_2xx,hrsp_3xx,hrsp_4xx,hrsp_5xx,hrsp_other,hanafail,req_rate,req_rate_max,req_tot,cli_abrt,srv_abrt,";

/// HAProxy's CSV statistics.
pub fn csv(rows: &[Row]) -> String {
    let mut s = String::from(CSV_HEADER);
    s.push('\n');
    let pid = std::process::id();
    for r in rows {
        let blank_srv = r.kind != 2;
        let _ = writeln!(
            s,
            "{},{},{},{},{},{},{},{},{},{},{},,{},{},{},{},{},{},{},{},{},{},{},{},,,{pid},{},{},{},{},{},{},,,,{},{},{},{},{},{},{},{},{},,,,{},,,",
            r.pxname,
            r.svname,
            if r.kind == 0 { String::new() } else { r.qcur.to_string() },
            if r.kind == 0 { String::new() } else { r.qmax.to_string() },
            r.scur,
            r.smax,
            if r.slim == 0 { String::new() } else { r.slim.to_string() },
            r.stot,
            r.bin,
            r.bout,
            r.dreq,
            r.ereq,
            r.econ,
            r.eresp,
            r.wretr,
            r.wredis,
            r.status,
            if r.kind == 0 { String::new() } else { r.weight.to_string() },
            if r.kind == 0 { String::new() } else { r.act.to_string() },
            if r.kind == 0 { String::new() } else { r.bck.to_string() },
            if blank_srv { String::new() } else { r.chkfail.to_string() },
            r.chkdown,
            r.lastchg,
            r.iid,
            r.sid,
            r.throttle.map(|t| t.to_string()).unwrap_or_default(),
            r.lbtot,
            r.tracked,
            r.kind,
            r.check_status,
            r.check_code,
            r.check_duration,
            r.hrsp[0],
            r.hrsp[1],
            r.hrsp[2],
            r.hrsp[3],
            r.hrsp[4],
            r.hrsp[5],
            r.req_tot,
        );
    }
    s
}

fn esc(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

fn label(s: &str) -> String {
    s.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

/// The answer of `use-service prometheus-exporter`.
pub(super) fn prometheus_answer(shared: &Shared) -> super::rules::Answer {
    super::rules::Answer {
        status: 200,
        headers: vec![
            ("content-type".into(), "text/plain; version=0.0.4".into()),
            ("cache-control".into(), "no-cache".into()),
        ],
        body: prometheus(shared, &snapshot(shared)).into_bytes(),
        silent: false,
    }
}

/// Prometheus text exposition, with HAProxy exporter metric names.
pub fn prometheus(shared: &Shared, rows: &[Row]) -> String {
    let mut s = String::new();
    let _ = writeln!(s, "# HELP haproxy_process_uptime_seconds Time since the engine started.\n# TYPE haproxy_process_uptime_seconds gauge\nhaproxy_process_uptime_seconds {}", shared.started.elapsed().as_secs());
    let _ = writeln!(
        s,
        "# TYPE haproxy_process_reloads_total counter\nhaproxy_process_reloads_total {}",
        shared.reloads.load(Relaxed)
    );
    type Get = fn(&Row) -> u64;
    let fe: &[(&str, &str, &str, Get)] = &[
        ("current_sessions", "gauge", "Current sessions.", |r| r.scur),
        (
            "max_sessions",
            "gauge",
            "Highest number of concurrent sessions.",
            |r| r.smax,
        ),
        ("limit_sessions", "gauge", "Session limit.", |r| r.slim),
        ("sessions_total", "counter", "Sessions since start.", |r| {
            r.stot
        }),
        (
            "bytes_in_total",
            "counter",
            "Bytes received from clients.",
            |r| r.bin,
        ),
        (
            "bytes_out_total",
            "counter",
            "Bytes sent to clients.",
            |r| r.bout,
        ),
        (
            "requests_denied_total",
            "counter",
            "Requests refused.",
            |r| r.dreq,
        ),
        ("http_requests_total", "counter", "HTTP requests.", |r| {
            r.req_tot
        }),
    ];
    let be: &[(&str, &str, &str, Get)] = &[
        (
            "current_queue",
            "gauge",
            "Requests waiting for a server.",
            |r| r.qcur,
        ),
        ("max_queue", "gauge", "Longest queue seen.", |r| r.qmax),
        ("current_sessions", "gauge", "Current sessions.", |r| r.scur),
        ("sessions_total", "counter", "Sessions since start.", |r| {
            r.stot
        }),
        (
            "bytes_in_total",
            "counter",
            "Bytes received from clients.",
            |r| r.bin,
        ),
        (
            "bytes_out_total",
            "counter",
            "Bytes sent to clients.",
            |r| r.bout,
        ),
        (
            "connection_errors_total",
            "counter",
            "Failed connections to servers.",
            |r| r.econ,
        ),
        (
            "response_errors_total",
            "counter",
            "Failed responses from servers.",
            |r| r.eresp,
        ),
        (
            "retry_warnings_total",
            "counter",
            "Retried connections.",
            |r| r.wretr,
        ),
        (
            "redispatch_warnings_total",
            "counter",
            "Connections sent to another server after a failure.",
            |r| r.wredis,
        ),
        ("active_servers", "gauge", "Usable active servers.", |r| {
            r.act
        }),
        ("backup_servers", "gauge", "Usable backup servers.", |r| {
            r.bck
        }),
        ("weight", "gauge", "Total weight of usable servers.", |r| {
            r.weight
        }),
        (
            "loadbalanced_total",
            "counter",
            "Times a server was chosen.",
            |r| r.lbtot,
        ),
    ];
    let sv: &[(&str, &str, &str, Get)] = &[
        ("current_sessions", "gauge", "Current sessions.", |r| r.scur),
        (
            "max_sessions",
            "gauge",
            "Highest number of concurrent sessions.",
            |r| r.smax,
        ),
        ("sessions_total", "counter", "Sessions since start.", |r| {
            r.stot
        }),
        (
            "bytes_in_total",
            "counter",
            "Bytes received from clients.",
            |r| r.bin,
        ),
        (
            "bytes_out_total",
            "counter",
            "Bytes sent to clients.",
            |r| r.bout,
        ),
        (
            "connection_errors_total",
            "counter",
            "Failed connections.",
            |r| r.econ,
        ),
        (
            "retry_warnings_total",
            "counter",
            "Retried connections.",
            |r| r.wretr,
        ),
        (
            "check_failures_total",
            "counter",
            "Failed health checks.",
            |r| r.chkfail,
        ),
        (
            "check_up_down_total",
            "counter",
            "Transitions to DOWN.",
            |r| r.chkdown,
        ),
        ("weight", "gauge", "Current weight.", |r| r.weight),
        (
            "loadbalanced_total",
            "counter",
            "Times this server was chosen.",
            |r| r.lbtot,
        ),
    ];
    for (kind, defs, prefix) in [(0u8, fe, "frontend"), (1, be, "backend"), (2, sv, "server")] {
        for (name, typ, help, get) in defs {
            let _ = writeln!(
                s,
                "# HELP haproxy_{prefix}_{name} {help}\n# TYPE haproxy_{prefix}_{name} {typ}"
            );
            for r in rows.iter().filter(|r| r.kind == kind) {
                if kind == 2 {
                    let _ = writeln!(
                        s,
                        "haproxy_{prefix}_{name}{{proxy=\"{}\",server=\"{}\"}} {}",
                        label(&r.pxname),
                        label(&r.svname),
                        get(r)
                    );
                } else {
                    let _ = writeln!(
                        s,
                        "haproxy_{prefix}_{name}{{proxy=\"{}\"}} {}",
                        label(&r.pxname),
                        get(r)
                    );
                }
            }
        }
    }
    let _ = writeln!(s, "# HELP haproxy_server_status Server state (1 for the current state).\n# TYPE haproxy_server_status gauge");
    for r in rows.iter().filter(|r| r.kind == 2) {
        let cur = if r.status.starts_with("UP") || r.status == "no check" {
            "UP"
        } else if r.status.starts_with("DOWN") {
            "DOWN"
        } else {
            r.status.as_str()
        };
        for st in ["UP", "DOWN", "MAINT", "DRAIN"] {
            let _ = writeln!(
                s,
                "haproxy_server_status{{proxy=\"{}\",server=\"{}\",state=\"{st}\"}} {}",
                label(&r.pxname),
                label(&r.svname),
                u8::from(cur == st)
            );
        }
    }
    let _ = writeln!(s, "# HELP haproxy_backend_status Backend state (1 = up).\n# TYPE haproxy_backend_status gauge");
    for r in rows.iter().filter(|r| r.kind == 1) {
        let _ = writeln!(
            s,
            "haproxy_backend_status{{proxy=\"{}\"}} {}",
            label(&r.pxname),
            u8::from(r.status == "UP")
        );
    }
    s
}

/// The HTML page: one table per proxy, like HAProxy's.
pub fn html(
    shared: &Shared,
    page: &StatsPage,
    rows: &[Row],
    admin: bool,
    outcome: Option<&str>,
) -> String {
    let g = shared.current.load();
    let mut s = String::new();
    let _ = write!(s, "<!DOCTYPE html><html><head><meta charset=\"utf-8\"><title>Statistics Report for halo</title>");
    if let Some(r) = page.refresh {
        let _ = write!(
            s,
            "<meta http-equiv=\"refresh\" content=\"{}\">",
            r.0.as_secs().max(1)
        );
    }
    s.push_str("<style>body{font-family:arial,helvetica,sans-serif;font-size:12px}table{border-collapse:collapse;margin-bottom:1em}th,td{border:1px solid #999;padding:2px 4px;text-align:right}th{background:#20a0ff;color:#fff}td.n{text-align:left}.px{background:#aaa;color:#fff;text-align:left;font-weight:bold}tr.up td{background:#c0ffc0}tr.down td{background:#ff9090}tr.maint td{background:#c080ff}tr.drain td{background:#ffc080}tr.going td{background:#ffffa0}tr.fe td,tr.be td{background:#eee}</style></head><body>");
    let _ = write!(s, "<h1>halo load balancer</h1>");
    let mut info = Vec::new();
    if !page.hide_version {
        info.push(format!("version {}", env!("CARGO_PKG_VERSION")));
    }
    info.push(format!("pid {}", std::process::id()));
    info.push(format!("uptime {}s", shared.started.elapsed().as_secs()));
    info.push(format!("threads {}", shared.threads));
    info.push(format!("reloads {}", shared.reloads.load(Relaxed)));
    if page.show_node {
        let node = g.config.global.node.clone().unwrap_or_else(hostname);
        info.push(format!("node {}", esc(&node)));
    }
    let _ = write!(s, "<p>{}</p>", info.join(" &middot; "));
    if page.show_legends {
        s.push_str("<p>Legend: <span style=\"background:#c0ffc0\">active UP</span> <span style=\"background:#ffffa0\">going up/down</span> <span style=\"background:#ff9090\">DOWN</span> <span style=\"background:#ffc080\">DRAIN</span> <span style=\"background:#c080ff\">MAINT</span>. CSV: <a href=\"");
        s.push_str(&esc(&page.uri));
        s.push_str(";csv\">;csv</a>, Prometheus: <a href=\"/metrics\">/metrics</a></p>");
    }
    if let Some(st) = outcome {
        let said = match st {
            "DONE" => "Action processed successfully.",
            "PART" => "Action partially processed.",
            "NONE" => "Nothing has changed.",
            "DENY" => "Action denied.",
            "ERRP" => "Action not allowed.",
            _ => "",
        };
        if !said.is_empty() {
            let _ = write!(s, "<p class=\"st\">{said}</p>");
        }
    }
    let mut last = String::new();
    // With admin rights, each backend's servers can be acted on: a form per backend.
    let close = |s: &mut String, px: &str| {
        s.push_str("</table>");
        if admin && g.backends.iter().any(|b| b.cfg.name == px) {
            let _ = write!(s, "<p><label>Action on the checked servers of {0}: <select name=\"action\"><option value=\"\">choose</option><option value=\"ready\">set state to READY</option><option value=\"drain\">set state to DRAIN</option><option value=\"maint\">set state to MAINT</option><option value=\"shutdown\">kill sessions</option></select></label> <input type=\"hidden\" name=\"b\" value=\"{0}\"><input type=\"submit\" value=\"Apply\"></p></form>", esc(px));
        }
    };
    for r in rows {
        if r.pxname != last {
            if !last.is_empty() {
                close(&mut s, &last);
            }
            last = r.pxname.clone();
            if admin && g.backends.iter().any(|b| b.cfg.name == r.pxname) {
                s.push_str("<form method=\"post\">");
            }
            let _ = write!(s, "<table><tr><th class=\"px\" colspan=\"17\">{} ({})</th></tr><tr><th></th><th>Queue cur/max</th><th>Sessions cur</th><th>max</th><th>limit</th><th>total</th><th>LbTot</th><th>Bytes in</th><th>out</th><th>Denied</th><th>Errors conn</th><th>resp</th><th>Warnings retr/redis</th><th>Status</th><th>LastChk</th><th>Wght</th><th>Act/Bck</th></tr>", esc(&r.pxname), r.mode);
        }
        let class = match r.kind {
            0 => "fe",
            1 => "be",
            _ if r.status.starts_with("UP ") || r.status.starts_with("DOWN ") => "going",
            _ if r.status.starts_with("UP") || r.status == "no check" => "up",
            _ if r.status.starts_with("DOWN") => "down",
            _ if r.status == "MAINT" => "maint",
            _ => "drain",
        };
        let check = if r.check_status.is_empty() {
            String::new()
        } else {
            format!(
                "{} in {}ms{}",
                r.check_status,
                r.check_duration,
                if r.check_detail.is_empty() {
                    String::new()
                } else {
                    format!(" ({})", esc(&r.check_detail))
                }
            )
        };
        let _ = write!(
            s,
            "<tr class=\"{class}\"><td class=\"n\">{}{}</td><td>{}/{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}/{}</td><td>{}</td><td class=\"n\">{}</td><td>{}</td><td>{}</td></tr>",
            if admin && r.kind == 2 {
                format!("<input type=\"checkbox\" name=\"s\" value=\"{0}\" aria-label=\"select {0}\"> ", esc(&r.svname))
            } else {
                String::new()
            },
            esc(&r.svname),
            r.qcur,
            r.qmax,
            r.scur,
            r.smax,
            if r.slim == 0 { "-".into() } else { r.slim.to_string() },
            r.stot,
            r.lbtot,
            r.bin,
            r.bout,
            r.dreq,
            r.econ,
            r.eresp,
            r.wretr,
            r.wredis,
            esc(&r.status),
            check,
            if r.kind == 0 { String::new() } else { r.weight.to_string() },
            if r.kind == 2 { if r.bck == 1 { "Y (backup)".to_string() } else { "Y".to_string() } } else if r.kind == 1 { format!("{}/{}", r.act, r.bck) } else { String::new() },
        );
    }
    if !last.is_empty() {
        close(&mut s, &last);
    }
    s.push_str("</body></html>\n");
    s
}

fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|s| s.trim().to_string())
        .unwrap_or_default()
}

fn b64_decode(s: &str) -> Option<Vec<u8>> {
    const T: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = Vec::new();
    let mut acc = 0u32;
    let mut bits = 0;
    for c in s.bytes() {
        if c == b'=' {
            break;
        }
        let v = T.iter().position(|&x| x == c)? as u32;
        acc = (acc << 6) | v;
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
            acc &= (1 << bits) - 1;
        }
    }
    Some(out)
}

fn authorized<B>(page: &StatsPage, req: &Request<B>) -> bool {
    if page.auth.is_empty() {
        return true;
    }
    let Some(v) = req
        .headers()
        .get("authorization")
        .and_then(|v| v.to_str().ok())
    else {
        return false;
    };
    let Some(b) = v
        .strip_prefix("Basic ")
        .or_else(|| v.strip_prefix("basic "))
    else {
        return false;
    };
    let Some(dec) = b64_decode(b.trim()) else {
        return false;
    };
    let given = String::from_utf8_lossy(&dec);
    page.auth.iter().any(|a| *a == given)
}

/// Answers a request to a stats frontend.
pub fn serve_http<B>(
    shared: &Arc<Shared>,
    page: &StatsPage,
    req: &Request<B>,
    admin: bool,
    form: &[u8],
) -> Response<ProxyBody> {
    let path = req.uri().path();
    let query = req.uri().query().unwrap_or("");
    let mk = |status: StatusCode, ctype: &'static str, body: String| {
        let mut r = Response::new(full(body));
        *r.status_mut() = status;
        r.headers_mut()
            .insert("content-type", HeaderValue::from_static(ctype));
        r.headers_mut()
            .insert("cache-control", HeaderValue::from_static("no-cache"));
        r
    };
    if !authorized(page, req) {
        let mut r = mk(StatusCode::UNAUTHORIZED, "text/html", "<html><body><h1>401 Unauthorized</h1>\nYou need a valid user and password to access this content.\n</body></html>\n".into());
        let realm = page
            .realm
            .clone()
            .unwrap_or_else(|| "HAProxy Statistics".into());
        if let Ok(v) = HeaderValue::from_str(&format!("Basic realm=\"{}\"", realm.replace('"', "")))
        {
            r.headers_mut().insert("www-authenticate", v);
        }
        return r;
    }
    let rows = snapshot(shared);
    if path == "/metrics" {
        return mk(
            StatusCode::OK,
            "text/plain; version=0.0.4",
            prometheus(shared, &rows),
        );
    }
    let uri = page.uri.as_str();
    let (base, is_csv) = match path.strip_suffix(";csv") {
        Some(b) => (b, true),
        None => (
            path,
            query.split(';').any(|q| q == "csv") || path.ends_with(";csv"),
        ),
    };
    let matches = if uri.contains('?') {
        req.uri().to_string().starts_with(uri)
            || base.starts_with(uri.split('?').next().unwrap_or("/"))
    } else {
        base.starts_with(uri)
    };
    if !matches {
        return mk(StatusCode::SERVICE_UNAVAILABLE, "text/html", "<html><body><h1>503 Service Unavailable</h1>\nNo server is available to handle this request.\n</body></html>\n".into());
    }
    if req.method() == hyper::Method::POST {
        // The admin form (`stats admin`): done, then back to the page with the outcome.
        let st = if admin {
            apply_form(shared, form)
        } else {
            "DENY"
        };
        let mut r = mk(StatusCode::SEE_OTHER, "text/plain", String::new());
        let back = format!("{};st={st}", uri.split('?').next().unwrap_or(uri));
        if let Ok(v) = HeaderValue::from_str(&back) {
            r.headers_mut().insert("location", v);
        }
        return r;
    }
    if is_csv {
        mk(StatusCode::OK, "text/plain", csv(&rows))
    } else {
        let outcome = base.rsplit_once(";st=").map(|(_, st)| st);
        mk(
            StatusCode::OK,
            "text/html; charset=utf-8",
            html(shared, page, &rows, admin, outcome),
        )
    }
}

/// The actions of the stats page's admin form, as runtime API commands.
fn form_command(action: &str, spec: &str) -> Option<String> {
    Some(match action {
        "ready" | "enable" | "start" => format!("set server {spec} state ready"),
        "drain" => format!("set server {spec} state drain"),
        "maint" | "disable" | "stop" => format!("set server {spec} state maint"),
        "shutdown" => format!("shutdown sessions server {spec}"),
        _ => return None,
    })
}

/// Applies a posted admin form (`b=BACKEND&s=SERVER...&action=ACTION`, the backend by
/// name or `#ID`) and says how it went, as HAProxy's page does: DONE, PART (some
/// servers), NONE (nothing asked), ERRP (an action the page does not offer).
fn apply_form(shared: &Arc<Shared>, form: &[u8]) -> &'static str {
    let text = String::from_utf8_lossy(form);
    let mut backend = None;
    let mut servers = Vec::new();
    let mut action = None;
    for pair in text.split('&') {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        let v = crate::sample::conv::url_decode(v.as_bytes(), true).unwrap_or_default();
        let v = String::from_utf8_lossy(&v).into_owned();
        match k {
            "b" => backend = Some(v),
            "s" => servers.push(v),
            "action" => action = Some(v),
            _ => {}
        }
    }
    let (Some(b), Some(action)) = (backend, action) else {
        return "NONE";
    };
    // `#N`: the proxy's number on the page (its position among them, from 1).
    let b = match b.strip_prefix('#').and_then(|n| n.parse::<usize>().ok()) {
        Some(n) => {
            let g = shared.current.load();
            match g.backends.get(n.wrapping_sub(1)) {
                Some(be) => be.cfg.name.clone(),
                None => return "NONE",
            }
        }
        None => b,
    };
    if servers.is_empty() {
        return "NONE";
    }
    let mut done = 0;
    for sv in &servers {
        let Some(cmd) = form_command(&action, &format!("{b}/{sv}")) else {
            return "ERRP";
        };
        if super::admin::execute(shared, &cmd, true).is_empty() {
            done += 1;
        }
    }
    match done {
        0 => "NONE",
        n if n == servers.len() => "DONE",
        _ => "PART",
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn base64() {
        assert_eq!(
            super::b64_decode("YWRtaW46YWRtaW4=").as_deref(),
            Some(&b"admin:admin"[..])
        );
    }
}
