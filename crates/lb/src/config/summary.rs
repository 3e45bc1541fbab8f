//! What `halo lb check` prints: the configuration as halo understood it.

use super::*;
use std::fmt::Write;

fn opt_t(name: &str, t: Option<Dur>, out: &mut Vec<String>) {
    if let Some(t) = t {
        out.push(format!("{name} {t}"));
    }
}

/// A readable description of everything the engine will do with this configuration.
pub fn describe(c: &Config) -> String {
    let mut s = String::new();
    let g = &c.global;
    let mut parts = Vec::new();
    if g.daemon {
        parts.push("daemon".to_string());
    }
    if let Some(p) = &g.pidfile {
        parts.push(format!("pidfile {}", p.display()));
    }
    if let Some(u) = &g.user {
        parts.push(format!("user {u}"));
    }
    if let Some(u) = g.uid {
        parts.push(format!("uid {u}"));
    }
    if let Some(gr) = &g.group {
        parts.push(format!("group {gr}"));
    }
    if let Some(gr) = g.gid {
        parts.push(format!("gid {gr}"));
    }
    if let Some(d) = &g.chroot {
        parts.push(format!("chroot {}", d.display()));
    }
    parts.push(format!("maxconn {}", g.maxconn));
    parts.push(match g.nbthread {
        Some(n) => format!("{n} threads"),
        None => "one thread per CPU".into(),
    });
    parts.push(if g.splice {
        "splice on".into()
    } else {
        "splice off".into()
    });
    for l in &g.log {
        parts.push(format!("log {}", log_target(l)));
    }
    for so in &g.stats_socket {
        parts.push(format!(
            "runtime socket {} (level {})",
            so.path.display(),
            so.level
        ));
    }
    let _ = writeln!(s, "global: {}", parts.join(", "));
    for f in &c.frontends {
        let _ = writeln!(
            s,
            "frontend {} (mode {}){}",
            f.name,
            f.mode,
            if f.disabled { " DISABLED" } else { "" }
        );
        for b in &f.bind {
            let _ = writeln!(
                s,
                "  bind {}{}",
                b.addr,
                b.name
                    .as_ref()
                    .map(|n| format!(" name {n}"))
                    .unwrap_or_default()
            );
        }
        let mut p = Vec::new();
        if let Some(m) = f.maxconn {
            p.push(format!("maxconn {m}"));
        }
        opt_t("timeout client", f.timeout_client, &mut p);
        if f.mode == Mode::Http {
            opt_t("timeout http-request", f.timeout_http_request, &mut p);
            opt_t("timeout http-keep-alive", f.timeout_http_keep_alive, &mut p);
            p.push(if f.disable_h2_upgrade {
                "HTTP/1.1 only".into()
            } else {
                "HTTP/1.1, and HTTP/2 with prior knowledge".into()
            });
        }
        if f.clitcpka {
            p.push("client TCP keep-alive".into());
        }
        p.push(match f.log_format {
            LogFormat::Default => "log: default format".into(),
            LogFormat::Tcplog => "log: tcplog".into(),
            LogFormat::Httplog => "log: httplog".into(),
        });
        if f.log.is_empty() {
            p.push("no log target".into());
        }
        for ff in [&f.forwardfor, &f.originalto].into_iter().flatten() {
            p.push(format!("adds {}", ff.header));
        }
        let _ = writeln!(s, "  {}", p.join(", "));
        if let Some(u) = &f.monitor_uri {
            let _ = writeln!(
                s,
                "  monitor-uri {u} (answered here: 200, or 503 when a monitor fail holds)"
            );
        }
        rules(&mut s, &f.http_request, &f.http_response);
        rules(&mut s, &f.redirect, &[]);
        for u in &f.use_backend {
            let _ = writeln!(
                s,
                "  use_backend {}{}",
                u.backend,
                condition(&u.any_of, u.unless)
            );
        }
        for a in &f.acl {
            let _ = writeln!(s, "  acl {}: {}", a.name, a.test);
        }
        if let Some(b) = &f.default_backend {
            let _ = writeln!(s, "  default_backend {b}");
        }
        if let Some(st) = &f.stats {
            let mut q = vec![format!("uri {}", st.uri)];
            if let Some(r) = &st.realm {
                q.push(format!("realm {r:?}"));
            }
            if !st.auth.is_empty() {
                q.push(format!("basic auth ({} user(s))", st.auth.len()));
            }
            if let Some(r) = st.refresh {
                q.push(format!("refresh {r}"));
            }
            if st.hide_version {
                q.push("version hidden".into());
            }
            if st.show_node {
                q.push("shows node".into());
            }
            if st.show_legends {
                q.push("shows legends".into());
            }
            q.push("also serves ;csv and /metrics".into());
            let _ = writeln!(s, "  stats page: {}", q.join(", "));
        }
    }
    for b in &c.backends {
        let hash = if b.balance == Balance::Source {
            if b.hash_consistent {
                " (consistent hash)"
            } else {
                " (map-based hash)"
            }
        } else {
            ""
        };
        let _ = writeln!(
            s,
            "backend {} (mode {}) balance {}{hash}",
            b.name, b.mode, b.balance
        );
        for r in &b.stick {
            let _ = writeln!(
                s,
                "  stick {} {} (table `{}`){}",
                r.kind.keyword(),
                r.key,
                r.table,
                if r.any_of.is_empty() {
                    ""
                } else {
                    " when its condition holds"
                }
            );
        }
        rules(&mut s, &b.http_request, &b.http_response);
        rules(&mut s, &b.redirect, &[]);
        let mut p = vec![format!("retries {}", b.retries)];
        match b.redispatch {
            Some(r) if r.interval == -1 => p.push("redispatch on the last retry".into()),
            Some(r) if r.interval > 0 => p.push(format!("redispatch every {} retries", r.interval)),
            Some(r) => p.push(format!(
                "redispatch on retry {} before the last",
                -r.interval
            )),
            None => p.push("no redispatch".into()),
        }
        opt_t("timeout connect", b.timeout_connect, &mut p);
        opt_t("timeout server", b.timeout_server, &mut p);
        opt_t("timeout queue", b.timeout_queue, &mut p);
        opt_t("timeout check", b.timeout_check, &mut p);
        opt_t("timeout tunnel", b.timeout_tunnel, &mut p);
        if b.srvtcpka {
            p.push("server TCP keep-alive".into());
        }
        if b.allbackups {
            p.push("all backups".into());
        }
        if b.http_server_close && b.mode == Mode::Http {
            p.push("server connections closed after each response".into());
        }
        let _ = writeln!(s, "  {}", p.join(", "));
        if b.server.iter().any(|s| s.check) {
            let _ = writeln!(s, "  health check: {}", b.check.describe());
        }
        for sv in &b.server {
            let mut q = vec![format!("weight {}", sv.weight)];
            if sv.backup {
                q.push("backup".into());
            }
            if sv.disabled {
                q.push("disabled".into());
            }
            if sv.maxconn > 0 {
                q.push(format!("maxconn {}", sv.maxconn));
            }
            if sv.check {
                let cp = &sv.check_params;
                let mut c = format!("check inter {} rise {} fall {}", cp.inter, cp.rise, cp.fall);
                if let Some(t) = cp.fastinter {
                    let _ = write!(c, " fastinter {t}");
                }
                if let Some(t) = cp.downinter {
                    let _ = write!(c, " downinter {t}");
                }
                if let Some(a) = cp.addr {
                    let _ = write!(c, " addr {a}");
                }
                if let Some(pt) = cp.port {
                    let _ = write!(c, " port {pt}");
                }
                q.push(c);
            } else {
                q.push("not checked".into());
            }
            if let Some(o) = sv.observe {
                q.push(format!(
                    "observe {o:?} error-limit {} on-error {:?}",
                    sv.error_limit, sv.on_error
                ));
            }
            if sv.shutdown_sessions_on_down {
                q.push("on-marked-down shutdown-sessions".into());
            }
            if sv.shutdown_backup_sessions_on_up {
                q.push("on-marked-up shutdown-backup-sessions".into());
            }
            let _ = writeln!(s, "  server {} {} {}", sv.name, sv.addr, q.join(", "));
        }
    }
    s
}

fn log_target(l: &LogTarget) -> String {
    let d = match &l.dest {
        LogDest::Stdout => "stdout".to_string(),
        LogDest::Stderr => "stderr".to_string(),
        LogDest::Udp(a) => format!("udp {a}"),
        LogDest::Unix(p) => p.display().to_string(),
    };
    format!("{d} {}", l.facility)
}

/// ` if a b || !c` (empty when there is no condition).
/// `track-scN` in words.
fn track(t: &Track) -> String {
    format!(
        "track {} in counter {} (table {})",
        t.key,
        t.slot,
        t.table.as_deref().unwrap_or("of this section")
    )
}

/// A proxy's `http-request` and `http-response` rules, one per line.
fn rules(s: &mut String, requests: &[HttpRule], responses: &[HttpRule]) {
    let all = requests
        .iter()
        .map(|r| ("http-request", r))
        .chain(responses.iter().map(|r| ("http-response", r)));
    for (kw, r) in all {
        let action = match &r.action {
            HttpAction::Track(t) => track(t),
            HttpAction::SetAddr { part, value } => format!("{} {value}", part.verb()),
            HttpAction::Capture { value, slot, len } => {
                format!("capture {value} (up to {len} bytes) in slot {slot}")
            }
            HttpAction::SetTimeout { which, value } => {
                format!("set the {which:?} timeout to {value} ms").to_lowercase()
            }
            HttpAction::ScIncGpc { slot, gpc1 } => {
                format!("add one to gpc{} of counter {slot}", u8::from(*gpc1))
            }
            HttpAction::ScSetGpt0 { slot, value } => {
                format!("set gpt0 of counter {slot} to {value}")
            }
            HttpAction::SetHeader { name, value } => format!("set-header {name} \"{value}\""),
            HttpAction::AddHeader { name, value } => format!("add-header {name} \"{value}\""),
            HttpAction::DelHeader { name, method } => match method {
                NameMatch::Str => format!("del-header {name}"),
                m => format!("del-header {name} (names matching by {m:?})"),
            },
            HttpAction::ReplaceHeader {
                name,
                re,
                with,
                each_value,
            } => format!(
                "replace {} of {name} matching {:?} with \"{with}\"",
                if *each_value {
                    "each value"
                } else {
                    "the value"
                },
                re.text
            ),
            HttpAction::Return(r) => format!(
                "return {}{}{}",
                r.status,
                r.content_type
                    .as_ref()
                    .map(|t| format!(" {t}"))
                    .unwrap_or_default(),
                r.headers
                    .iter()
                    .map(|(n, v)| format!(" {n}: \"{v}\""))
                    .collect::<String>()
            ),
            HttpAction::SetVar { var, value } => match value {
                crate::config::VarValue::Expr(e) => format!("set-var {} = {e}", var.text),
                crate::config::VarValue::Fmt(f) => format!("set-var {} = \"{f}\"", var.text),
            },
            HttpAction::UnsetVar { name } => format!("unset-var {name}"),
            HttpAction::UsePrometheus => "answer with the Prometheus metrics".into(),
            HttpAction::Auth { realm } => format!(
                "ask for a user and password{}",
                realm
                    .as_ref()
                    .map(|r| format!(" (realm {r})"))
                    .unwrap_or_default()
            ),
            HttpAction::SetLine { part, value } => format!("set {part:?} \"{value}\""),
            HttpAction::ReplaceLine { part, re, with } => {
                format!("replace {part:?} matching {:?} with \"{with}\"", re.text)
            }
            HttpAction::SetStatus { status, reason } => format!(
                "set status {status}{}",
                reason.as_ref().map(|r| format!(" {r}")).unwrap_or_default()
            ),
            HttpAction::Deny { status, reply } => match reply {
                Some(_) => format!("deny with {status} (its own answer)"),
                None => format!("deny with {status}"),
            },
            HttpAction::Allow => "allow".into(),
            HttpAction::Reject => "close the connection unanswered".into(),
            HttpAction::Redirect(r) => format!(
                "redirect {} {} with {}{}{}",
                match r.kind {
                    RedirectKind::Location => "to",
                    RedirectKind::Prefix => "under",
                    RedirectKind::Scheme => "to scheme",
                },
                r.target,
                r.code,
                if r.drop_query {
                    ", without the query"
                } else {
                    ""
                },
                if r.append_slash {
                    ", with a final /"
                } else {
                    ""
                },
            ),
        };
        let _ = writeln!(s, "  {kw} {action}{}", condition(&r.any_of, r.unless));
    }
}

fn condition(any_of: &[Vec<CondTerm>], unless: bool) -> String {
    if any_of.is_empty() {
        return String::new();
    }
    let groups: Vec<String> = any_of
        .iter()
        .map(|g| {
            g.iter()
                .map(|t| format!("{}{}", if t.negate { "!" } else { "" }, t.acl))
                .collect::<Vec<_>>()
                .join(" ")
        })
        .collect();
    format!(
        " {} {}",
        if unless { "unless" } else { "if" },
        groups.join(" || ")
    )
}
