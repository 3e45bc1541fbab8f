//! `crm_mon`: the cluster status, once (halo has no interactive mode: every run is
//! one-shot), as text or as Pacemaker 2.1's XML (`--output-as=xml`, or the legacy
//! `-X/--as-xml` document `<crm_mon version="2.1.5">`), which agents such as
//! ocf:heartbeat:galera and rabbitmq-cluster read. It reads the live state from the
//! local daemon; `CIB_file` (set by ocf-shellfuncs' `crm_mon_no_validation` to the
//! output of `cibadmin -Q`) is not needed and not read.

use halo_sched::cluster::{is_true, RscId, Variant};

use super::opts::{self, flag, long_flag, long_value, optional, value, Spec};
use super::view::{exec_status_text, ocf_rc_text, op_key, View};
use super::xml::Element;
use super::{ctime, exit, iso_time, now_secs, Ctx, Fail, Res, PACEMAKER_VERSION};

/// The API version of Pacemaker 2.1.5's XML results.
const API_VERSION: &str = "2.25";

const SPECS: &[Spec] = &[
    flag('?', "help"),
    long_flag("help-all"),
    flag('$', "version"),
    flag('V', "verbose"),
    flag('Q', "quiet"),
    long_value("output-as"),
    long_value("output-to"),
    long_flag("html-cgi"),
    long_value("html-stylesheet"),
    long_value("html-title"),
    long_flag("text-fancy"),
    value('I', "include"),
    value('U', "exclude"),
    long_value("node"),
    long_value("resource"),
    flag('n', "group-by-node"),
    flag('r', "inactive"),
    flag('f', "failcounts"),
    flag('o', "operations"),
    flag('t', "timing-details"),
    flag('c', "tickets"),
    optional('m', "fence-history"),
    optional('L', "neg-locations"),
    flag('A', "show-node-attributes"),
    flag('D', "hide-headers"),
    flag('R', "show-detail"),
    flag('b', "brief"),
    flag('s', "simple-status"),
    value('i', "interval"),
    flag('1', "one-shot"),
    flag('d', "daemonize"),
    value('p', "pid-file"),
    value('E', "external-agent"),
    value('e', "external-recipient"),
    flag('W', "watch-fencing"),
    value('h', "as-html"),
    flag('X', "as-xml"),
    flag('N', "disable-ncurses"),
    flag('w', "web-cgi"),
];

#[derive(Clone, Copy, PartialEq, Eq)]
enum Format {
    Text,
    Xml,
    LegacyXml,
}

/// `crm_mon`.
pub fn crm_mon(args: &[String]) -> Res<i32> {
    let p = opts::parse(SPECS, args)?;
    if let Some(code) = p.help_or_version(
        "crm_mon",
        "crm_mon - Provides a summary of cluster's current state (halo: one-shot text or XML)",
        SPECS,
    ) {
        return Ok(code);
    }
    let format = if p.has("as-xml") {
        Format::LegacyXml
    } else {
        match p.value("output-as") {
            Some("xml") => Format::Xml,
            None | Some("text") | Some("console") => Format::Text,
            Some(other) => {
                return Err(Fail::new(
                    exit::UNIMPLEMENT_FEATURE,
                    format!("--output-as={other} is not supported by halo (text or xml)"),
                ))
            }
        }
    };
    for unsupported in ["as-html", "daemonize", "external-agent", "web-cgi"] {
        if p.has(unsupported) {
            return Err(Fail::new(
                exit::UNIMPLEMENT_FEATURE,
                format!("--{unsupported} is not supported by halo"),
            ));
        }
    }
    let request = std::iter::once("crm_mon".to_string())
        .chain(args.iter().cloned())
        .collect::<Vec<_>>()
        .join(" ");
    let view = Ctx::new().and_then(|ctx| View::load(&ctx));
    let view = match view {
        Ok(v) => v,
        Err(f) if format == Format::Xml => {
            let message = if f.code == exit::DISCONNECT {
                "Not connected"
            } else {
                "Error occurred"
            };
            let doc = Element::new("pacemaker-result")
                .attr("api-version", API_VERSION)
                .attr("request", &request)
                .child(
                    Element::new("status")
                        .attr("code", f.code)
                        .attr("message", message)
                        .child(Element::new("errors").child(Element::new("error").attr(
                            "message",
                            format!("crm_mon: Connection to cluster failed: {}", f.msg),
                        ))),
                );
            print!("{}", doc.to_xml());
            return Ok(f.code);
        }
        Err(f) => {
            return Err(Fail::new(
                f.code,
                format!("Connection to cluster failed: {}", f.msg),
            ))
        }
    };
    match format {
        Format::Xml => {
            let mut doc = Element::new("pacemaker-result")
                .attr("api-version", API_VERSION)
                .attr("request", &request);
            doc.children = sections(&view);
            doc.push(Element::new("status").attr("code", 0).attr("message", "OK"));
            print!("{}", doc.to_xml());
        }
        Format::LegacyXml => {
            let mut doc = Element::new("crm_mon").attr("version", PACEMAKER_VERSION);
            doc.children = sections(&view);
            print!("{}", doc.to_xml());
        }
        Format::Text => {
            if p.has("simple-status") {
                return Ok(simple_status(&view));
            }
            print!(
                "{}",
                text(&view, p.has("inactive"), p.has("show-node-attributes"))
            );
        }
    }
    Ok(exit::OK)
}

/// The sections of the XML document.
pub fn sections(v: &View) -> Vec<Element> {
    let mut out = vec![summary(v), nodes(v), resources(v), node_attributes(v)];
    let history = node_history(v);
    if !history.children.is_empty() {
        out.push(history);
    }
    let failures = failures(v);
    if !failures.children.is_empty() {
        out.push(failures);
    }
    out
}

fn prop<'a>(v: &'a View, name: &str, default: &'a str) -> &'a str {
    v.cfg
        .properties
        .get(name)
        .map(String::as_str)
        .unwrap_or(default)
}

fn bool_prop(v: &View, name: &str, default: bool) -> bool {
    v.cfg
        .properties
        .get(name)
        .map(|s| is_true(s))
        .unwrap_or(default)
}

fn ms_prop(v: &View, name: &str, default_ms: u64) -> u64 {
    v.cfg
        .properties
        .get(name)
        .and_then(|s| halo_model::duration::parse_duration_ms(s).ok())
        .unwrap_or(default_ms)
}

fn disabled(v: &View, r: RscId) -> bool {
    v.cl.rscs[r]
        .meta
        .get("target-role")
        .is_some_and(|t| t.eq_ignore_ascii_case("stopped"))
}

fn summary(v: &View) -> Element {
    let mut s = Element::new("summary").child(Element::new("stack").attr("type", "halo"));
    let dc = match &v.status.dc {
        Some(dc) => Element::new("current_dc")
            .attr("present", "true")
            .attr("version", PACEMAKER_VERSION)
            .attr("name", dc)
            .attr("id", v.node_id(dc))
            .attr("with_quorum", v.status.quorate)
            .attr("mixed_version", "false"),
        None => Element::new("current_dc").attr("present", "false"),
    };
    s.push(dc);
    s.push(Element::new("last_update").attr("time", ctime(now_secs())));
    let mut change = Element::new("last_change");
    if let Some(h) = v.state.history.back() {
        change = change
            .attr("time", ctime((h.time_ms / 1000) as i64))
            .attr("user", "")
            .attr("client", "halo")
            .attr("origin", &h.node);
    }
    s.push(change);
    s.push(Element::new("nodes_configured").attr("number", v.cl.nodes.len()));
    let prims: Vec<RscId> = (0..v.cl.rscs.len())
        .filter(|&r| v.cl.rscs[r].variant == Variant::Primitive && !v.cl.rscs[r].orphan)
        .collect();
    s.push(
        Element::new("resources_configured")
            .attr("number", prims.len())
            .attr(
                "disabled",
                prims.iter().filter(|&&r| disabled(v, r)).count(),
            )
            .attr(
                "blocked",
                prims.iter().filter(|&&r| v.cl.rscs[r].block).count(),
            ),
    );
    s.push(
        Element::new("cluster_options")
            .attr("stonith-enabled", bool_prop(v, "stonith-enabled", true))
            .attr("symmetric-cluster", bool_prop(v, "symmetric-cluster", true))
            .attr("no-quorum-policy", prop(v, "no-quorum-policy", "stop"))
            .attr("maintenance-mode", bool_prop(v, "maintenance-mode", false))
            .attr(
                "stop-all-resources",
                bool_prop(v, "stop-all-resources", false),
            )
            .attr("stonith-timeout-ms", ms_prop(v, "stonith-timeout", 60_000))
            .attr(
                "priority-fencing-delay-ms",
                ms_prop(v, "priority-fencing-delay", 0),
            ),
    );
    s
}

fn nodes(v: &View) -> Element {
    let mut out = Element::new("nodes");
    for (i, n) in v.cl.nodes.iter().enumerate() {
        let mut e = Element::new("node")
            .attr("name", &n.name)
            .attr("id", v.node_id(&n.name))
            .attr("online", n.online)
            .attr("standby", n.standby)
            .attr("standby_onfail", n.standby_onfail)
            .attr("maintenance", n.maintenance)
            .attr("pending", n.pending)
            .attr("unclean", n.unclean)
            .attr("health", "green");
        if n.online {
            e.set("feature_set", super::cib::FEATURE_SET);
        }
        e.set("shutdown", n.shutdown);
        e.set("expected_up", n.expected_up);
        e.set("is_dc", v.status.dc.as_deref() == Some(n.name.as_str()));
        e.set("resources_running", v.resources_running(i));
        e.set("type", "member");
        out.push(e);
    }
    out
}

fn resources(v: &View) -> Element {
    let mut out = Element::new("resources");
    for &t in &v.cl.top {
        if let Some(e) = resource(v, t) {
            out.push(e);
        }
    }
    out
}

fn resource(v: &View, r: RscId) -> Option<Element> {
    let rsc = &v.cl.rscs[r];
    if rsc.orphan && rsc.running_on.is_empty() {
        return None;
    }
    match rsc.variant {
        Variant::Primitive => {
            let mut e = Element::new("resource")
                .attr("id", v.shown_id(r))
                .attr("resource_agent", rsc.agent.to_string())
                .attr("role", v.role(r).as_str());
            if let Some(t) = rsc.meta.get("target-role") {
                e.set("target_role", t);
            }
            e.set("active", !rsc.running_on.is_empty());
            e.set("orphaned", rsc.orphan);
            e.set("blocked", rsc.block);
            e.set("managed", rsc.managed);
            e.set("failed", rsc.failed);
            e.set("failure_ignored", rsc.failure_ignored);
            e.set("nodes_running_on", rsc.running_on.len());
            for &n in &rsc.running_on {
                let name = &v.cl.nodes[n].name;
                e.push(
                    Element::new("node")
                        .attr("name", name)
                        .attr("id", v.node_id(name))
                        .attr("cached", "true"),
                );
            }
            Some(e)
        }
        Variant::Group => {
            let mut e = Element::new("group")
                .attr("id", v.shown_id(r))
                .attr("number_resources", rsc.children.len())
                .attr("managed", rsc.managed)
                .attr("disabled", disabled(v, r));
            for &k in &rsc.children {
                e.children.extend(resource(v, k));
            }
            Some(e)
        }
        Variant::Clone => {
            let failed = v.primitives(r).iter().any(|&p| v.cl.rscs[p].failed);
            let mut e = Element::new("clone")
                .attr("id", &rsc.id)
                .attr("multi_state", rsc.promotable)
                .attr("unique", rsc.unique)
                .attr("managed", rsc.managed)
                .attr("disabled", disabled(v, r))
                .attr("failed", failed)
                .attr("failure_ignored", rsc.failure_ignored);
            if let Some(t) = rsc.meta.get("target-role") {
                e.set("target_role", t);
            }
            // Active instances first, as Pacemaker lists them.
            let mut kids: Vec<RscId> = rsc.children.clone();
            kids.sort_by_key(|&k| v.locations(k).is_empty());
            for k in kids {
                e.children.extend(resource(v, k));
            }
            Some(e)
        }
    }
}

/// Attributes crm_mon does not show (Pacemaker's filter).
fn hidden_attr(name: &str) -> bool {
    [
        "fail-count-",
        "last-failure-",
        "shutdown",
        "terminate",
        "standby",
        "#",
    ]
    .iter()
    .any(|p| name.starts_with(p))
}

fn node_attributes(v: &View) -> Element {
    let mut out = Element::new("node_attributes");
    for n in v.cl.nodes.iter().filter(|n| n.online) {
        let mut e = Element::new("node").attr("name", &n.name);
        for (k, x) in n.attrs.iter().filter(|(k, _)| !hidden_attr(k)) {
            e.push(Element::new("attribute").attr("name", k).attr("value", x));
        }
        if !e.children.is_empty() {
            out.push(e);
        }
    }
    out
}

fn node_history(v: &View) -> Element {
    let mut out = Element::new("node_history");
    for n in &v.input.nodes {
        let mut ne = Element::new("node").attr("name", &n.name);
        for h in &n.resources {
            let threshold =
                v.cl.rscs
                    .iter()
                    .find(|r| r.id == h.id || halo_sched::unpack::strip_instance(&r.id) == h.id)
                    .map(|r| r.migration_threshold)
                    .unwrap_or(halo_model::INFINITY);
            let mut he = Element::new("resource_history")
                .attr("id", &h.id)
                .attr("orphan", v.matching(&h.id).is_empty())
                .attr("migration-threshold", threshold);
            let fails = v
                .state
                .fail_counts
                .get(&n.name)
                .and_then(|m| m.get(&h.id))
                .copied()
                .unwrap_or(0);
            if fails > 0 {
                he.set("fail-count", fails);
                let last = v
                    .state
                    .failures
                    .get(&n.name)
                    .into_iter()
                    .flatten()
                    .filter(|(k, _)| k.split('#').next() == Some(h.id.as_str()))
                    .map(|(_, f)| f.last_ms)
                    .max()
                    .unwrap_or(0);
                he.set("last-failure", ctime((last / 1000) as i64));
            }
            let mut ops: Vec<&halo_model::OpRecord> = h.ops.iter().collect();
            ops.sort_by_key(|o| o.call_id);
            for o in ops {
                let mut oe = Element::new("operation_history")
                    .attr("call", o.call_id)
                    .attr("task", &o.operation)
                    .attr("rc", o.rc)
                    .attr("rc_text", ocf_rc_text(o.rc));
                if o.interval_ms > 0 {
                    oe.set("interval", format!("{}ms", o.interval_ms));
                }
                if let Some(t) = o.last_rc_change {
                    oe.set("last-rc-change", ctime(t));
                }
                oe.set("exec-time", format!("{}ms", o.exec_time_ms.unwrap_or(0)));
                oe.set("queue-time", "0ms");
                he.push(oe);
            }
            ne.push(he);
        }
        if !ne.children.is_empty() {
            out.push(ne);
        }
    }
    out
}

fn failures(v: &View) -> Element {
    let mut out = Element::new("failures");
    for n in &v.input.nodes {
        for h in &n.resources {
            for o in h.ops.iter().filter(|o| o.id.ends_with("_last_failure_0")) {
                let mut e = Element::new("failure")
                    .attr("op_key", op_key(&h.id, o))
                    .attr("node", &n.name)
                    .attr("exitstatus", ocf_rc_text(o.rc))
                    .attr("exitreason", o.exit_reason.as_deref().unwrap_or("none"))
                    .attr("exitcode", o.rc)
                    .attr("call", o.call_id)
                    .attr("status", exec_status_text(o.op_status));
                if let Some(t) = o.last_rc_change.filter(|t| *t > 0) {
                    e.set("last-rc-change", iso_time(t));
                    e.set("queued", 0);
                    e.set("exec", o.exec_time_ms.unwrap_or(0));
                    e.set("interval", o.interval_ms);
                    e.set("task", &o.operation);
                }
                out.push(e);
            }
        }
    }
    out
}

/// `crm_mon -s`: one line, as for Nagios.
fn simple_status(v: &View) -> i32 {
    let online = v.cl.nodes.iter().filter(|n| n.online).count();
    let prims =
        v.cl.rscs
            .iter()
            .filter(|r| r.variant == Variant::Primitive && !r.orphan)
            .count();
    if v.status.dc.is_none() {
        println!("CLUSTER CRIT: No DC");
        return 2;
    }
    let offline: Vec<&str> =
        v.cl.nodes
            .iter()
            .filter(|n| !n.online)
            .map(|n| n.name.as_str())
            .collect();
    if !offline.is_empty() {
        println!("CLUSTER WARN: offline node: {}", offline.join(" "));
        return 1;
    }
    println!("CLUSTER OK: {online} nodes online, {prims} resource instances configured");
    0
}

/// The text report (the layout of crm_mon's console output).
fn text(v: &View, inactive: bool, attrs: bool) -> String {
    let mut s = String::from("Cluster Summary:\n  * Stack: halo\n");
    match &v.status.dc {
        Some(dc) => s.push_str(&format!(
            "  * Current DC: {dc} (version {PACEMAKER_VERSION}) - partition {}quorum\n",
            if v.status.quorate {
                "with "
            } else {
                "WITHOUT "
            }
        )),
        None => s.push_str("  * Current DC: NONE\n"),
    }
    s.push_str(&format!("  * Last updated: {}\n", ctime(now_secs())));
    if let Some(h) = v.state.history.back() {
        s.push_str(&format!(
            "  * Last change:  {} via halo on {}\n",
            ctime((h.time_ms / 1000) as i64),
            h.node
        ));
    }
    let prims =
        v.cl.rscs
            .iter()
            .filter(|r| r.variant == Variant::Primitive && !r.orphan)
            .count();
    s.push_str(&format!(
        "  * {} nodes configured\n  * {prims} resource instances configured\n",
        v.cl.nodes.len()
    ));
    let body = halo_sched::render::status(&v.cl, &halo_sched::actions::Graph::default(), false);
    let mut listing = false;
    for line in body.lines() {
        let line = line.strip_prefix("  ").unwrap_or(line);
        if let Some(head) = line.strip_prefix("* ").and_then(|l| l.strip_suffix(':')) {
            if head == "Node List" {
                s.push_str("\nNode List:\n");
                continue;
            }
            if head == "Full List of Resources" {
                listing = true;
                s.push_str(if inactive {
                    "Full List of Resources:\n"
                } else {
                    "Active Resources:\n"
                });
                continue;
            }
        }
        if line.is_empty() {
            continue;
        }
        if listing && !inactive && (line.ends_with("Stopped") || line.contains("* Stopped:")) {
            continue;
        }
        s.push_str(line);
        s.push('\n');
    }
    if attrs {
        s.push_str("\nNode Attributes:\n");
        for n in v.cl.nodes.iter().filter(|n| n.online) {
            s.push_str(&format!("  * Node: {}:\n", n.name));
            for (k, x) in n.attrs.iter().filter(|(k, _)| !hidden_attr(k)) {
                s.push_str(&format!("    * {k:<32}\t: {x:<10}\n"));
            }
        }
    }
    let failed: Vec<String> = v
        .input
        .nodes
        .iter()
        .flat_map(|n| {
            n.resources.iter().flat_map(move |h| {
                h.ops
                    .iter()
                    .filter(|o| o.id.ends_with("_last_failure_0"))
                    .map(move |o| {
                        format!(
                            "  * {} {} on {} returned '{}'{} at {}\n",
                            h.id,
                            if o.interval_ms > 0 {
                                format!("{}s-interval {}", o.interval_ms / 1000, o.operation)
                            } else {
                                o.operation.clone()
                            },
                            n.name,
                            ocf_rc_text(o.rc),
                            o.exit_reason
                                .as_deref()
                                .map(|r| format!(" ({r})"))
                                .unwrap_or_default(),
                            ctime(o.last_rc_change.unwrap_or(0))
                        )
                    })
            })
        })
        .collect();
    if !failed.is_empty() {
        s.push_str("\nFailed Resource Actions:\n");
        for f in failed {
            s.push_str(&f);
        }
    }
    s
}
