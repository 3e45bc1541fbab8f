//! `halo status`: the cluster as this node sees it.

use std::collections::BTreeMap;

use anyhow::Context;
use halo_consensus::state::StatusEvent;

use crate::cluster::{runtime, Target};

#[derive(clap::Args)]
pub struct Args {
    #[command(flatten)]
    pub target: Target,
    /// Print JSON (keys: cluster, quorate, dc, term, nodes[name, online, role], ...,
    /// resources[id, agent, state, node|nodes, failcount], failures,
    /// constraints_temporary, node_attributes).
    #[arg(long)]
    pub json: bool,
    /// Also show the node attributes agents and tools set (as `crm_mon -A`): promotion
    /// scores, Galera's last committed seqno and bootstrap node, pingd, ...
    #[arg(long, short = 'A')]
    pub attributes: bool,
    /// Only one part: cluster (name, quorum, DC and the nodes, as `pcs status cluster`),
    /// nodes, resources, constraints; corosync is the membership too, as pcs's.
    #[arg(value_enum)]
    pub view: Option<View>,
    /// Refresh the status in place until interrupted (as `crm_mon`).
    #[arg(long, short = 'w', conflicts_with = "json")]
    pub watch: bool,
    /// How often `--watch` refreshes (e.g. 500ms, 2s).
    #[arg(long, default_value = "2s", value_parser = crate::cluster::parse_duration)]
    pub interval: std::time::Duration,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum View {
    Cluster,
    Nodes,
    Resources,
    Constraints,
    Corosync,
}

pub fn run(args: Args) -> anyhow::Result<()> {
    if args.json {
        let st = runtime()?.block_on(args.target.client()?.status())?;
        let mut v = serde_json::to_value(&st)?;
        let live = Live::read(&args.target, &st).ok();
        if let (Some(obj), Some(live)) = (v.as_object_mut(), &live) {
            obj.extend(json_resources(live));
        }
        // Each node's scheduler state besides its membership.
        if let Some(plan) = live.as_ref().and_then(|l| l.plan.as_ref()) {
            for n in v["nodes"].as_array_mut().into_iter().flatten() {
                if let Some(view) = plan
                    .nodes()
                    .into_iter()
                    .find(|x| n["name"] == x.name.as_str())
                {
                    n["standby"] = view.standby.into();
                    n["maintenance"] = view.maintenance.into();
                    n["unclean"] = view.unclean.into();
                }
            }
        }
        println!("{}", serde_json::to_string_pretty(&v)?);
        return Ok(());
    }
    if !args.watch {
        print!("{}", render(&args)?);
        return Ok(());
    }
    // Refreshed in place on a terminal (a frame per refresh otherwise); a daemon that
    // does not answer is shown, and watched on.
    let tty = std::io::IsTerminal::is_terminal(&std::io::stdout());
    loop {
        let frame = render(&args).unwrap_or_else(|e| format!("halo: {e:#}\n"));
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_millis() as u64)
            .unwrap_or(0);
        let stamp = halo_consensus::state::fmt_time(now);
        let every = args.interval.as_secs_f64();
        let clear = if tty { "\x1b[H\x1b[2J" } else { "" };
        let text = format!("{clear}Every {every}s: halo status    {stamp}\n\n{frame}\n");
        let mut stdout = std::io::stdout().lock();
        // The reader went away (a closed pipe): the watch is over.
        if std::io::Write::write_all(&mut stdout, text.as_bytes())
            .and_then(|()| std::io::Write::flush(&mut stdout))
            .is_err()
        {
            return Ok(());
        }
        drop(stdout);
        std::thread::sleep(args.interval);
    }
}

/// A line of text into a `String` (which cannot fail).
macro_rules! say {
    ($out:expr, $($arg:tt)*) => {{
        use std::fmt::Write as _;
        let _ = writeln!($out, $($arg)*);
    }};
}

/// The text status, as one frame.
fn render(args: &Args) -> anyhow::Result<String> {
    let mut out = String::new();
    let st = runtime()?.block_on(args.target.client()?.status())?;
    let show = |part: View| match args.view {
        None => part != View::Constraints,
        // As `pcs status cluster` and `pcs status corosync`: the summary and the nodes.
        Some(View::Cluster | View::Corosync) => matches!(part, View::Cluster | View::Nodes),
        Some(v) => v == part,
    };
    let Some(cluster) = &st.cluster else {
        say!(
            out,
            "Node {} is not in a cluster (halo cluster init / halo cluster join).",
            st.node
        );
        return Ok(out);
    };
    if show(View::Cluster) {
        say!(
            out,
            "Cluster: {cluster}    node: {} ({})",
            st.node,
            st.state
        );
        say!(
            out,
            "Quorum: {} ({} of {} voters online)    DC: {}    term: {}    epoch: {}",
            if st.quorate { "yes" } else { "NO" },
            st.voters_online,
            st.voters,
            st.dc.as_deref().unwrap_or("none"),
            st.term,
            st.epoch
        );
    }
    if show(View::Constraints) {
        let cfg = crate::edit::current(&args.target)?;
        say!(out, "Constraints:");
        for c in &cfg.constraints {
            say!(out, "  {}", crate::edit::describe_constraint(c));
        }
    }
    // Nodes' scheduler states, resources and warnings come from the replicated state
    // this node holds, read and planned once.
    let live = (show(View::Nodes) || show(View::Resources))
        .then(|| Live::read(&args.target, &st).ok())
        .flatten();
    if show(View::Nodes) {
        // The scheduler's view adds what membership does not know (standby, ...).
        let sched_nodes = live
            .as_ref()
            .and_then(|l| l.plan.as_ref())
            .map(|p| p.nodes())
            .unwrap_or_default();
        print_nodes(&mut out, &st, &sched_nodes);
    }
    if !show(View::Resources) {
        return Ok(out);
    }
    let Some(Live { state, cfg, plan }) = live else {
        return Ok(out);
    };
    let lines = resource_lines(plan.as_ref());
    if !lines.is_empty() || args.view == Some(View::Resources) {
        say!(out, "Resources:");
        for l in lines {
            say!(out, "  {l}");
        }
    }
    if args.view.is_some() {
        return Ok(out);
    }
    out.push_str(&history_sections(&cfg, &state));
    if args.attributes && !state.node_attrs.is_empty() {
        say!(out, "Node Attributes:");
        for (node, attrs) in &state.node_attrs {
            say!(out, "  * Node {node}:");
            for (k, v) in attrs {
                say!(out, "    * {k:<32}: {v}");
            }
        }
    }
    for w in warnings(&cfg) {
        say!(out, "WARNING: {w}");
    }
    if let Ok(info) = runtime()?.block_on(args.target.client()?.controller()) {
        match (&info.watchdog, &info.watchdog_problem) {
            (Some(path), _) => say!(
                out,
                "Watchdog: {path} ({} ms); guard lease {} ms",
                info.watchdog_timeout_ms.unwrap_or(0),
                info.guard_lease_ms
            ),
            (None, problem) => {
                say!(out,
                    "WARNING: {}: a hung or killed halo on {} does not reset it (its guard still stops resources when cut off)",
                    problem.as_deref().unwrap_or("no watchdog"),
                    st.node
                );
                if cfg.properties.get("no-quorum-policy").map(String::as_str) == Some("suicide") {
                    say!(out,
                        "WARNING: no-quorum-policy=suicide needs a watchdog: cut off, {} only stops its resources",
                        st.node
                    );
                }
            }
        }
    }
    Ok(out)
}

fn print_nodes(
    out: &mut String,
    st: &halo_consensus::node::StatusReport,
    sched: &[halo_sched::render::NodeView],
) {
    say!(out, "Nodes:");
    for n in &st.nodes {
        let mut flags: Vec<&str> = Vec::new();
        if let Some(v) = sched.iter().find(|v| v.name == n.name) {
            for (on, word) in [
                (v.standby, "standby"),
                (v.maintenance, "maintenance"),
                (v.unclean, "UNCLEAN"),
                (v.shutdown, "shutting-down"),
            ] {
                if on {
                    flags.push(word);
                }
            }
        }
        if st.dc.as_deref() == Some(n.name.as_str()) {
            flags.push("DC");
        }
        let flags = if flags.is_empty() {
            String::new()
        } else {
            format!("  ({})", flags.join(", "))
        };
        say!(
            out,
            "  {:<16} {:<8} {:<8} {}{flags}",
            n.name,
            n.role,
            if n.online { "online" } else { "OFFLINE" },
            n.addr,
        );
    }
}

/// What went wrong and what the operator put in place: failed actions (with their exit
/// reason and when a `failure-timeout` forgets them), the temporary constraints of
/// `resource move`/`ban`, and the latest fencing actions.
fn history_sections(cfg: &halo_model::Config, state: &halo_consensus::ClusterState) -> String {
    use halo_consensus::state::fmt_time;
    let mut out = String::new();
    let timeouts = halo_controller::input::failure_timeouts(cfg);
    let mut failed = Vec::new();
    for (node, records) in &state.failures {
        for (key, f) in records {
            let (rsc, op) = key.split_once('#').unwrap_or((key.as_str(), ""));
            let (name, interval) = op.rsplit_once('_').unwrap_or((op, "0"));
            let reason = state
                .op_history
                .get(node)
                .into_iter()
                .flat_map(|m| m.iter())
                .filter(|(r, _)| r.split(':').next() == Some(rsc))
                .flat_map(|(_, ops)| ops.iter())
                .filter(|o| o.operation == name && o.interval_ms.to_string() == interval)
                .filter_map(|o| o.exit_reason.as_deref().map(|e| (o.time_ms, e)))
                .max_by_key(|(t, _)| *t)
                .map(|(_, e)| format!(" ('{e}')"))
                .unwrap_or_default();
            let forgotten = match timeouts.get(rsc) {
                Some(ms) => format!("forgotten at {}", fmt_time(f.last_ms + ms)),
                None => format!("kept until `halo resource cleanup {rsc}`"),
            };
            failed.push(format!(
                "  * {rsc} {op} on {node}: {} failure{}, last {}{reason}; {forgotten}",
                f.count,
                if f.count == 1 { "" } else { "s" },
                fmt_time(f.last_ms),
            ));
        }
    }
    if !failed.is_empty() {
        say!(out, "Failed Resource Actions:");
        for l in failed {
            say!(out, "{l}");
        }
    }
    let temporary: Vec<String> = cfg
        .constraints
        .iter()
        .filter(|c| c.id().starts_with("cli-prefer-") || c.id().starts_with("cli-ban-"))
        .map(|c| format!("  * {}", crate::edit::describe_constraint(c)))
        .collect();
    if !temporary.is_empty() {
        say!(
            out,
            "Temporary constraints (resource move/ban; `halo resource clear` removes them):"
        );
        for l in temporary {
            say!(out, "{l}");
        }
    }
    const FENCING_SHOWN: usize = 5;
    if !state.fence_history.is_empty() {
        say!(
            out,
            "Fencing History (latest {FENCING_SHOWN}; `halo stonith history` for all):"
        );
        let skip = state.fence_history.len().saturating_sub(FENCING_SHOWN);
        for r in state.fence_history.iter().skip(skip) {
            say!(
                out,
                "  * {} of {} {} at {} by {} (decided by {}): {}",
                r.action,
                r.target,
                if r.ok { "succeeded" } else { "FAILED" },
                fmt_time(r.time_ms),
                r.device.as_deref().unwrap_or("self-fencing"),
                r.origin,
                r.detail
            );
        }
    }
    out
}

/// The configuration this node holds and its resources as `crm_mon` lists them (what
/// runs where, from the replicated status).
pub fn resources(
    target: &Target,
    st: &halo_consensus::node::StatusReport,
) -> anyhow::Result<(halo_model::Config, Vec<String>)> {
    let live = Live::read(target, st)?;
    let lines = resource_lines(live.plan.as_ref());
    Ok((live.cfg, lines))
}

/// crm_mon's list of resources in a plan, one level of indentation and the bullets less.
fn resource_lines(plan: Option<&halo_sched::Plan>) -> Vec<String> {
    let mut lines = Vec::new();
    if let Some(plan) = plan {
        let text = plan.status_text(false);
        if let Some(at) = text.find("  * Full List of Resources:") {
            for line in text[at..].lines().skip(1) {
                let line = line.strip_prefix("    ").unwrap_or(line);
                let rest = line.trim_start();
                let indent = &line[..line.len() - rest.len()];
                lines.push(format!("{indent}{}", rest.trim_start_matches("* ")));
            }
        }
    }
    lines
}

/// The replicated state this node holds, its configuration, and the scheduler's plan on
/// it (what the DC would plan now; none when nothing is configured): read and planned
/// once for all a status shows.
pub struct Live {
    pub state: halo_consensus::ClusterState,
    pub cfg: halo_model::Config,
    pub plan: Option<halo_sched::Plan>,
}

impl Live {
    pub fn read(target: &Target, st: &halo_consensus::node::StatusReport) -> anyhow::Result<Live> {
        let value = runtime()?.block_on(target.client()?.current_state(st.quorate))?;
        let state: halo_consensus::ClusterState = serde_json::from_value(value)?;
        let (cfg, plan) = plan_on(&state, st)?;
        let configured = !cfg.resources.is_empty();
        Ok(Live {
            state,
            cfg,
            plan: configured.then_some(plan),
        })
    }
}

/// The scheduler's plan on the replicated state this node holds, with the configuration.
pub fn live_plan(
    target: &Target,
    st: &halo_consensus::node::StatusReport,
) -> anyhow::Result<(halo_model::Config, Option<halo_sched::Plan>)> {
    let live = Live::read(target, st)?;
    Ok((live.cfg, live.plan))
}

/// The scheduler's plan on `state` with the membership `st` reports.
pub fn plan_on(
    state: &halo_consensus::ClusterState,
    st: &halo_consensus::node::StatusReport,
) -> anyhow::Result<(halo_model::Config, halo_sched::Plan)> {
    let live = halo_controller::input::Liveness::of(st);
    let (cfg, status) = halo_controller::input::scheduler_input(state, &live)?;
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0);
    let plan = halo_sched::schedule(&cfg, &status, now)?;
    Ok((cfg, plan))
}

/// The keys `halo status --json` adds to the membership's: `resources` (one object per
/// primitive: `id`, `agent`, `state` — started, stopped, promoted, unpromoted, failed,
/// blocked —, `node` or, for a clone's, `nodes` with `roles`, `failcount`, `disabled`,
/// and `group`/`clone` when it belongs to one), `failures` (per node and operation) and
/// `constraints_temporary` (what `resource move` and `ban` left).
fn json_resources(live: &Live) -> serde_json::Map<String, serde_json::Value> {
    use serde_json::{json, Value};
    let (state, cfg) = (&live.state, &live.cfg);
    let failcount = |id: &str| -> u64 {
        state
            .failures
            .values()
            .flat_map(|m| m.iter())
            .filter(|(k, _)| k.split('#').next() == Some(id))
            .map(|(_, f)| u64::from(f.count))
            .sum()
    };
    let mut resources: Vec<Value> = Vec::new();
    for r in live
        .plan
        .as_ref()
        .map(|p| p.resources())
        .unwrap_or_default()
    {
        let clone = r.parents.iter().find(|p| {
            cfg.resources
                .iter()
                .any(|x| matches!(x, halo_model::Resource::Clone(c) if c.id == **p))
        });
        let group = r.parents.iter().find(|p| Some(*p) != clone);
        if let Some(c) = clone {
            // One object per cloned primitive, its instances' nodes and roles inside.
            let found = resources
                .iter_mut()
                .find(|o| o["id"] == r.id.as_str() && o["clone"] == c.as_str());
            let o = match found {
                Some(o) => o,
                None => {
                    resources.push(json!({
                        "id": r.id, "clone": c, "group": group, "agent": r.agent,
                        "state": "stopped", "nodes": [], "roles": {},
                        "failcount": failcount(&r.id), "disabled": r.disabled,
                    }));
                    let last = resources.len() - 1;
                    &mut resources[last]
                }
            };
            if let Some(n) = &r.node {
                o["roles"][n] = json!(r.state);
                if let Some(list) = o["nodes"].as_array_mut() {
                    list.push(json!(n));
                }
            }
            // The clone's state: its worst instance, else its best role.
            let rank = |s: &str| match s {
                "blocked" => 5,
                "failed" => 4,
                "promoted" => 3,
                "unpromoted" => 2,
                "started" => 1,
                _ => 0,
            };
            if rank(r.state) > rank(o["state"].as_str().unwrap_or("stopped")) {
                o["state"] = json!(r.state);
            }
        } else {
            resources.push(json!({
                "id": r.id, "group": group, "agent": r.agent, "state": r.state,
                "node": r.node, "failcount": failcount(&r.id), "disabled": r.disabled,
            }));
        }
    }
    let failures: Vec<Value> = state
        .failures
        .iter()
        .flat_map(|(node, m)| {
            m.iter().map(move |(key, f)| {
                let (rsc, op) = key.split_once('#').unwrap_or((key.as_str(), ""));
                json!({ "node": node, "resource": rsc, "operation": op,
                        "count": f.count, "last_ms": f.last_ms })
            })
        })
        .collect();
    let temporary: Vec<Value> = cfg
        .constraints
        .iter()
        .filter(|c| c.id().starts_with("cli-prefer-") || c.id().starts_with("cli-ban-"))
        .map(|c| json!({ "id": c.id(), "text": crate::edit::describe_constraint(c) }))
        .collect();
    let mut out = serde_json::Map::new();
    out.insert("resources".into(), Value::Array(resources));
    out.insert("failures".into(), Value::Array(failures));
    out.insert("constraints_temporary".into(), Value::Array(temporary));
    out.insert(
        "node_attributes".into(),
        serde_json::to_value(&state.node_attrs).unwrap_or_default(),
    );
    out
}

/// `halo why RESOURCE`: where it runs and why, or why it does not run, from the
/// scheduler on the live state.
#[derive(clap::Args)]
pub struct WhyArgs {
    #[command(flatten)]
    pub target: Target,
    /// The resource (a primitive, group or clone).
    pub resource: String,
}

pub fn why(args: WhyArgs) -> anyhow::Result<()> {
    let st = runtime()?.block_on(args.target.client()?.status())?;
    let live = Live::read(&args.target, &st)?;
    // A clone's primitive is explained as its clone (`halo why galera`, as
    // `crm_resource --why -r galera`).
    let ids = related_ids(&live.cfg, &args.resource);
    let text = live
        .plan
        .as_ref()
        .and_then(|p| ids.iter().find_map(|id| p.explain(id)))
        .with_context(|| format!("no resource named {} (see `halo resource`)", args.resource))?;
    print!("{text}");
    let events: Vec<&StatusEvent> = live
        .state
        .events
        .iter()
        .filter(|e| concerns(e, &ids))
        .collect();
    if let Some(line) = galera_bootstrap(&events) {
        println!("{line}");
    }
    if !events.is_empty() {
        println!("Recent events (oldest first):");
        for e in &events[events.len().saturating_sub(WHY_EVENTS)..] {
            println!(
                "  {}  {}",
                halo_consensus::state::fmt_time(e.time_ms),
                e.summary
            );
        }
    }
    Ok(())
}

/// How many of a resource's recent events `halo why` shows.
const WHY_EVENTS: usize = 15;

/// `rsc` and the resources it is made of or part of (a clone's primitive, a group's
/// members, the clone or group around a primitive): their events explain it too.
fn related_ids(cfg: &halo_model::Config, rsc: &str) -> Vec<String> {
    let mut ids = vec![rsc.to_string()];
    for r in &cfg.resources {
        let all = r.ids();
        if all.contains(&rsc) {
            ids.extend(all.iter().filter(|id| **id != rsc).map(|s| s.to_string()));
        }
    }
    ids
}

/// Whether a status event is about one of `ids`: an operation on it (or on one of its
/// clone instances), an attribute named after it as agents name theirs
/// (`galera-last-committed`, `master-galera`, `rmq-node-attr-rabbitmq`), or a node
/// forgotten or fenced (what it ran there is gone).
fn concerns(e: &StatusEvent, ids: &[String]) -> bool {
    match (&e.resource, &e.attribute) {
        (Some(r), _) => {
            let base = r.split(':').next().unwrap_or(r);
            ids.iter().any(|id| id == base)
        }
        (None, Some((name, _))) => ids.iter().any(|id| {
            name == id
                || name.starts_with(&format!("{id}-"))
                || name.ends_with(&format!("-{id}"))
                || name.contains(&format!("-{id}-"))
        }),
        (None, None) => true,
    }
}

/// Which node the last Galera bootstrap was on, and why, from the attributes Debian's
/// `ocf:heartbeat:galera` keeps: every node reports its last committed position
/// (`RSC-last-committed`), the agent on the node with the highest marks itself
/// (`RSC-bootstrap=true`) and starts the new cluster there.
fn galera_bootstrap(events: &[&StatusEvent]) -> Option<String> {
    let at = events.iter().rposition(|e| {
        e.attribute
            .as_ref()
            .is_some_and(|(n, v)| n.ends_with("-bootstrap") && v.as_deref() == Some("true"))
    })?;
    let chosen = events[at];
    let mut seqnos: BTreeMap<&str, &str> = BTreeMap::new();
    for e in &events[..at] {
        if let Some((name, value)) = &e.attribute {
            if name.ends_with("-last-committed") {
                match value {
                    Some(v) => seqnos.insert(&e.node, v),
                    None => seqnos.remove(e.node.as_str()),
                };
            }
        }
    }
    let reported = if seqnos.is_empty() {
        String::new()
    } else {
        let list: Vec<String> = seqnos.iter().map(|(n, v)| format!("{n} {v}")).collect();
        format!(
            "; last committed positions reported then: {}",
            list.join(", ")
        )
    };
    Some(format!(
        "Bootstrapped: on {} at {} (its agent chose it: the most advanced node{reported})",
        chosen.node,
        halo_consensus::state::fmt_time(chosen.time_ms)
    ))
}

/// What an operator must know about the safety of this configuration.
fn warnings(cfg: &halo_model::Config) -> Vec<String> {
    let prop = |k: &str| cfg.properties.get(k).map(|v| v.to_ascii_lowercase());
    let mut out = Vec::new();
    if matches!(
        prop("stonith-enabled").as_deref(),
        Some("false" | "no" | "0" | "off")
    ) {
        out.push(
            "stonith-enabled=false: failed stops are not escalated to fencing (lost nodes are still waited out by their lease)"
                .to_string(),
        );
    }
    if prop("no-quorum-policy").as_deref() == Some("ignore") {
        out.push(
            "no-quorum-policy=ignore: a node cut off from the majority keeps its resources running (virtual IPs still expire with their lifetime)"
                .to_string(),
        );
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn attr(at: u64, node: &str, name: &str, value: Option<&str>) -> StatusEvent {
        StatusEvent {
            epoch: at,
            time_ms: at,
            node: node.into(),
            summary: format!("{name} on {node}"),
            attribute: Some((name.into(), value.map(String::from))),
            resource: None,
        }
    }

    /// The bootstrap node is the last one the agent marked, with the positions reported
    /// before it (a deleted report no longer counts); events of other resources' agents
    /// are not this resource's.
    #[test]
    fn galera_bootstrap_names_the_node_and_the_positions() {
        let events = [
            attr(1, "c1", "galera-last-committed", Some("7")),
            attr(2, "c2", "galera-last-committed", Some("9")),
            attr(3, "c3", "galera-last-committed", Some("8")),
            attr(4, "c3", "galera-last-committed", None),
            attr(5, "c2", "galera-bootstrap", Some("true")),
            attr(6, "c2", "galera-bootstrap", None),
            attr(7, "c1", "rmq-node-attr-rabbitmq", Some("rabbit@c1")),
        ];
        let ids = vec!["galera".to_string(), "galera-clone".to_string()];
        let mine: Vec<&StatusEvent> = events.iter().filter(|e| concerns(e, &ids)).collect();
        assert_eq!(mine.len(), 6);
        let line = galera_bootstrap(&mine).unwrap_or_default();
        assert!(line.starts_with("Bootstrapped: on c2 at "), "{line}");
        assert!(
            line.ends_with("last committed positions reported then: c1 7, c2 9)"),
            "{line}"
        );
        let rabbit = vec!["rabbitmq".to_string()];
        assert!(concerns(&events[6], &rabbit));
        assert!(!concerns(&events[0], &rabbit));
        assert_eq!(galera_bootstrap(&[&events[0]]), None);
    }
}
