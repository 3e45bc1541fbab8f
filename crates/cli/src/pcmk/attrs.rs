//! `crm_attribute`, `crm_master` and `attrd_updater`: node attributes, promotion scores
//! and cluster properties.
//!
//! Where halo keeps them:
//! - transient node attributes (`-l reboot`, `-t status`, every `attrd_updater`
//!   attribute): the replicated `node_attrs` (`Change::SetNodeAttr`); fail counts
//!   (`fail-count-RSC#OP_INTERVAL`, `last-failure-...`) are read from the recorded
//!   failures, as Pacemaker shows them among the transient attributes;
//! - permanent node attributes (`-l forever`, `-t nodes`): the configuration's nodes;
//! - cluster properties (`-t crm_config`, no node): `Change::SetProperty`;
//! - `rsc_defaults`, `op_defaults`: the configuration's defaults;
//! - node utilization (`-z`): permanent node attributes named `utilization-NAME`
//!   (halo's configuration has no utilization sets).

use std::collections::BTreeMap;

use halo_consensus::{Change, ClusterState};

use super::opts::{self, flag, long_flag, long_value, optional, value, Spec};
use super::{exit, local_node, node_attr_target, print_version, target_node, Ctx, Fail, Res};

/// Prefix under which utilization attributes are stored among node attributes and
/// resource meta attributes.
pub const UTILIZATION_PREFIX: &str = "utilization-";

const NOT_FOUND: &str = "Error performing operation: No such device or address";

const CRM_ATTRIBUTE: &[Spec] = &[
    flag('h', "help"),
    long_flag("help-all"),
    flag('$', "version"),
    flag('V', "verbose"),
    flag('q', "quiet"),
    flag('Q', "quiet-hidden"),
    long_value("output-as"),
    long_value("output-to"),
    value('i', "id"),
    value('n', "name"),
    value('P', "pattern"),
    optional('p', "promotion"),
    value('s', "set-name"),
    flag('D', "delete"),
    flag('G', "query"),
    value('v', "update"),
    value('d', "default"),
    value('l', "lifetime"),
    value('N', "node"),
    value('t', "type"),
    flag('z', "utilization"),
    flag('!', "inhibit-policy-engine"),
    long_value("attr-id"),
    long_value("attr-name"),
    long_value("attr-value"),
    long_flag("delete-attr"),
    long_flag("get-value"),
    value('U', "node-uname"),
];

#[derive(Debug, Clone, PartialEq, Eq)]
enum Cmd {
    Query,
    Update(String),
    Delete,
}

/// Where an attribute lives (Pacemaker's CIB section).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Scope {
    Status,
    Nodes,
    CrmConfig,
    RscDefaults,
    OpDefaults,
}

impl Scope {
    fn name(self) -> &'static str {
        match self {
            Scope::Status => "status",
            Scope::Nodes => "nodes",
            Scope::CrmConfig => "crm_config",
            Scope::RscDefaults => "rsc_defaults",
            Scope::OpDefaults => "op_defaults",
        }
    }

    fn of_node(self) -> bool {
        matches!(self, Scope::Status | Scope::Nodes)
    }
}

/// The name of the promotion score of `rsc` (or of `OCF_RESOURCE_INSTANCE`), as
/// Pacemaker's `pcmk_promotion_score_name`: `master-RSC`, the resource id as the agent
/// was given it (an anonymous clone's instances run under the clone's primitive id).
fn promotion_name(rsc: Option<&str>) -> Option<String> {
    let rsc = match rsc {
        Some(r) => Some(r.to_string()),
        None => std::env::var("OCF_RESOURCE_INSTANCE").ok(),
    }?;
    Some(format!("master-{rsc}"))
}

/// `crm_attribute`.
pub fn crm_attribute(args: &[String]) -> Res<i32> {
    let p = opts::parse(CRM_ATTRIBUTE, args)?;
    if let Some(code) = p.help_or_version(
        "crm_attribute",
        "crm_attribute - query and update Pacemaker cluster options and node attributes (halo)",
        CRM_ATTRIBUTE,
    ) {
        return Ok(code);
    }
    text_output_only(&p)?;
    let mut cmd = Cmd::Query;
    let mut name: Option<String> = None;
    let mut id: Option<String> = None;
    let mut promotion = false;
    let mut kind: Option<String> = None;
    let mut node: Option<String> = None;
    let mut utilization = false;
    for (k, v) in &p.opts {
        let v = v.clone();
        match *k {
            "delete" | "delete-attr" => cmd = Cmd::Delete,
            "query" | "get-value" => cmd = Cmd::Query,
            "update" | "attr-value" => cmd = Cmd::Update(v.unwrap_or_default()),
            "name" | "attr-name" => name = v,
            "id" | "attr-id" => id = v,
            "promotion" => {
                promotion = true;
                name = promotion_name(v.as_deref());
            }
            "lifetime" | "type" => kind = v,
            "utilization" => {
                kind = Some("nodes".into());
                utilization = true;
            }
            "node" | "node-uname" => node = v,
            _ => {}
        }
    }
    let quiet = p.has("quiet") || p.has("quiet-hidden");
    let default = p.value("default").map(str::to_string);
    if promotion && name.is_none() {
        return Err(Fail::usage(
            "-p/--promotion must be called from an OCF resource agent or with a resource ID specified",
        ));
    }
    if p.has("pattern") {
        return Err(Fail::new(
            exit::UNIMPLEMENT_FEATURE,
            "-P/--pattern is not supported by halo's crm_attribute; name the attribute with -n",
        ));
    }
    let scope = match kind.as_deref() {
        None if promotion => Scope::Status,
        None if node.is_some() => Scope::Nodes,
        None => Scope::CrmConfig,
        Some(t) if t.eq_ignore_ascii_case("reboot") || t == "status" => Scope::Status,
        Some(t) if t.eq_ignore_ascii_case("forever") || t == "nodes" => Scope::Nodes,
        Some("crm_config") => Scope::CrmConfig,
        Some("rsc_defaults") => Scope::RscDefaults,
        Some("op_defaults") => Scope::OpDefaults,
        Some("tickets") => {
            return Err(Fail::new(
                exit::UNIMPLEMENT_FEATURE,
                "tickets are not supported by halo",
            ))
        }
        Some(other) => {
            return Err(Fail::usage(format!(
                "unknown lifetime or type '{other}' (expected reboot, forever, status, nodes, crm_config, rsc_defaults or op_defaults)"
            )))
        }
    };
    if cmd == Cmd::Delete && name.is_none() {
        return Err(Fail::usage(
            "Error: must specify attribute name or pattern to delete",
        ));
    }
    if utilization {
        name = name.map(|n| format!("{UTILIZATION_PREFIX}{n}"));
    }
    let ctx = Ctx::new()?;
    let state = ctx.state()?;
    let target = if scope.of_node() {
        let n = target_node(&ctx, node.as_deref())?;
        check_node(&state, &n, "Could not map name=")?;
        Some(n)
    } else {
        None
    };
    let current = scope_values(&state, scope, target.as_deref())?;
    match cmd {
        Cmd::Query => {
            let shown = |n: &str| {
                if utilization {
                    n.strip_prefix(UTILIZATION_PREFIX).unwrap_or(n).to_string()
                } else {
                    n.to_string()
                }
            };
            let print = |n: &str, v: &str| {
                if quiet {
                    println!("{v}");
                } else {
                    let id = id.as_deref().map(|i| format!("id={i}")).unwrap_or_default();
                    println!("scope={} {id} name={} value={v}", scope.name(), shown(n));
                }
            };
            match &name {
                Some(n) => match current.get(n) {
                    Some(v) => print(n, v),
                    None => match &default {
                        Some(d) => print(n, d),
                        None => return Err(Fail::new(exit::NOSUCH, NOT_FOUND)),
                    },
                },
                None => {
                    let all: Vec<(&String, &String)> = current
                        .iter()
                        .filter(|(k, _)| !utilization || k.starts_with(UTILIZATION_PREFIX))
                        .collect();
                    if all.is_empty() {
                        return Err(Fail::new(exit::NOSUCH, NOT_FOUND));
                    }
                    for (k, v) in all {
                        print(k, v);
                    }
                }
            }
        }
        Cmd::Update(v) => {
            let Some(n) = name else {
                return Err(Fail::usage("Error: must specify attribute name to update"));
            };
            let v = expand_value(&v, current.get(&n).map(String::as_str));
            write(&ctx, &state, scope, target.as_deref(), &n, Some(v))?;
        }
        Cmd::Delete => {
            let Some(n) = name else {
                return Err(Fail::usage(
                    "Error: must specify attribute name or pattern to delete",
                ));
            };
            // Nothing to delete is what was asked for.
            if current.contains_key(&n) {
                write(&ctx, &state, scope, target.as_deref(), &n, None)?;
                if !quiet && scope != Scope::Status {
                    let (what, xml_id) = match (scope, target.as_deref()) {
                        (Scope::Nodes, Some(node)) => (
                            "attribute",
                            format!("nodes-{}-{n}", node_number(&state, node)),
                        ),
                        (Scope::CrmConfig, _) => ("option", format!("cib-bootstrap-options-{n}")),
                        (s, _) => ("option", format!("{}-options-{n}", s.name())),
                    };
                    println!("Deleted {} {what}: id={xml_id} name={n}", scope.name());
                }
            }
        }
    }
    Ok(exit::OK)
}

/// Only the text output format is implemented.
fn text_output_only(p: &opts::Parsed) -> Res<()> {
    match p.value("output-as") {
        None | Some("text") => Ok(()),
        Some(other) => Err(Fail::new(
            exit::UNIMPLEMENT_FEATURE,
            format!("--output-as={other} is not supported by halo (only text)"),
        )),
    }
}

/// A node's numeric cluster id, or its name.
fn node_number(state: &ClusterState, node: &str) -> String {
    state
        .nodes
        .get(node)
        .map(|r| r.id.to_string())
        .unwrap_or_else(|| node.to_string())
}

/// `node` must be a configured node (not a witness, not removed).
fn check_node(state: &ClusterState, node: &str, prefix: &str) -> Res<()> {
    let cfg = super::config_of(state)?;
    if cfg.nodes.iter().any(|n| n.name == node) {
        Ok(())
    } else {
        Err(Fail::new(exit::NOSUCH, format!("{prefix}{node} to a UUID")))
    }
}

use halo_controller::attrd::AttrUpdate;
use halo_controller::input::transient_attrs;

/// Every attribute of a scope (of `node` for node scopes).
fn scope_values(
    state: &ClusterState,
    scope: Scope,
    node: Option<&str>,
) -> Res<BTreeMap<String, String>> {
    if scope == Scope::Status {
        return Ok(transient_attrs(state, node.unwrap_or_default()));
    }
    let cfg = super::config_of(state)?;
    Ok(match scope {
        Scope::Nodes => cfg
            .nodes
            .iter()
            .find(|n| Some(n.name.as_str()) == node)
            .map(|n| n.attrs.clone())
            .unwrap_or_default(),
        Scope::CrmConfig => cfg.properties,
        Scope::RscDefaults => cfg.rsc_defaults,
        Scope::OpDefaults => cfg.op_defaults,
        Scope::Status => BTreeMap::new(),
    })
}

/// Set (`Some`) or delete (`None`) one attribute.
fn write(
    ctx: &Ctx,
    state: &ClusterState,
    scope: Scope,
    node: Option<&str>,
    name: &str,
    value: Option<String>,
) -> Res<()> {
    let set = |m: &mut halo_model::Attrs| match &value {
        Some(v) => {
            m.insert(name.to_string(), v.clone());
        }
        None => {
            m.remove(name);
        }
    };
    match scope {
        Scope::Status => {
            let node = node.unwrap_or_default();
            // As Pacemaker's attribute manager: a value the cluster already holds is not
            // written again. Agents set theirs on every monitor (galera's master score,
            // rabbitmq-cluster's node name), and every write aborts the DC's transition.
            // (`state` is the committed one when this node is quorate; when it is not,
            // the write is refused anyway.)
            if state.node_attrs.get(node).and_then(|a| a.get(name)) == value.as_ref() {
                return Ok(());
            }
            ctx.propose(Change::SetNodeAttr {
                node: node.to_string(),
                name: name.to_string(),
                value,
            })
        }
        Scope::CrmConfig => ctx.propose(Change::SetProperty {
            name: name.to_string(),
            value,
        }),
        Scope::Nodes => ctx.edit_config(state, |c| {
            if let Some(n) = c.nodes.iter_mut().find(|n| Some(n.name.as_str()) == node) {
                set(&mut n.attrs);
            }
        }),
        Scope::RscDefaults => ctx.edit_config(state, |c| set(&mut c.rsc_defaults)),
        Scope::OpDefaults => ctx.edit_config(state, |c| set(&mut c.op_defaults)),
    }
}

/// Pacemaker's increment syntax (pacemaker-attrd's value expansion): a value whose 6th
/// and 7th characters are `++` adds one to the current value, `+=N` adds N (scores:
/// INFINITY caps it, a missing or unreadable current value counts 0); anything else is
/// taken as is.
pub fn expand_value(value: &str, old: Option<&str>) -> String {
    let b = value.as_bytes();
    if b.len() < 7 || b[5] != b'+' || (b[6] != b'+' && b[6] != b'=') {
        return value.to_string();
    }
    let score = |s: Option<&str>| halo_sched::cluster::char2score(s.map(str::to_string).as_ref());
    let offset = if b[6] == b'+' {
        1
    } else {
        score(value.get(7..))
    };
    let v = (score(old) + offset).min(halo_model::INFINITY);
    v.to_string()
}

const CRM_MASTER_SHORT: &[Spec] = &[
    flag('h', "help"),
    long_flag("version"),
    flag('V', "verbose"),
    flag('q', "quiet"),
    flag('G', "query"),
    value('v', "update"),
    flag('D', "delete"),
    value('N', "node"),
    value('l', "lifetime"),
    value('i', "id"),
    value('r', "resource"),
    value('U', "uname"),
    flag('Q', "quiet-hidden"),
    long_flag("get-value"),
    long_flag("delete-attr"),
    long_value("attr-value"),
    long_value("attr-id"),
];

/// `crm_master`: Pacemaker's wrapper around `crm_attribute` for the promotion score
/// `master-$OCF_RESOURCE_INSTANCE` (`-r` names another resource). Its default lifetime
/// is `forever`, as in Pacemaker; agents pass `-l reboot`.
pub fn crm_master(args: &[String]) -> Res<i32> {
    let usage = "Usage: crm_master <command> [<options>]\n\nThis command is deprecated. Use crm_attribute with the --promotion option\ninstead.";
    let p = match opts::parse(CRM_MASTER_SHORT, args) {
        Ok(p) => p,
        Err(f) => {
            eprintln!("error: {}", f.msg);
            println!("\n{usage}");
            return Ok(exit::ERROR);
        }
    };
    if p.has("help") {
        println!("crm_master - Query, update, or delete a resource's promotion score\n\n{usage}");
        return Ok(exit::OK);
    }
    if p.has("version") {
        print_version();
        return Ok(exit::OK);
    }
    let mut rsc = std::env::var("OCF_RESOURCE_INSTANCE")
        .ok()
        .filter(|s| !s.is_empty());
    let mut out: Vec<String> = vec!["--lifetime".into(), "forever".into()];
    for (k, v) in &p.opts {
        match (*k, v) {
            ("resource", Some(r)) => rsc = Some(r.clone()),
            ("help" | "version", _) => {}
            (k, None) => out.push(format!("--{k}")),
            (k, Some(v)) => {
                let k = match k {
                    "uname" => "node-uname",
                    other => other,
                };
                out.push(format!("--{k}"));
                out.push(v.clone());
            }
        }
    }
    let Some(rsc) = rsc else {
        eprintln!("error: No resource specified");
        println!("\n{usage}");
        return Ok(exit::ERROR);
    };
    // crm_master passes -Q on, where crm_attribute takes it as --quiet.
    let out: Vec<String> = out
        .into_iter()
        .map(|a| {
            if a == "--quiet-hidden" {
                "--quiet".into()
            } else {
                a
            }
        })
        .collect();
    let mut argv = vec!["-n".to_string(), format!("master-{rsc}")];
    argv.extend(out);
    crm_attribute(&argv)
}

const ATTRD_UPDATER: &[Spec] = &[
    flag('h', "help"),
    long_flag("help-all"),
    flag('$', "version"),
    flag('V', "verbose"),
    long_value("output-as"),
    long_value("output-to"),
    value('n', "name"),
    value('U', "update"),
    value('B', "update-both"),
    flag('Y', "update-delay"),
    flag('Q', "query"),
    flag('D', "delete"),
    flag('R', "refresh"),
    value('d', "delay"),
    value('s', "set"),
    value('N', "node"),
    flag('A', "all"),
    value('l', "lifetime"),
    flag('p', "private"),
    flag('q', "quiet"),
    value('v', "update-hidden"),
    value('S', "section"),
];

/// `attrd_updater`: transient node attributes, as pacemaker-attrd keeps them.
///
/// Dampening as pacemaker-attrd's: `-B VALUE -d DELAY` sets the value and the
/// attribute's delay, `-Y -d DELAY` only the delay; `-U`/`-v` and `-D` change the value
/// and keep the delay (they ignore `-d`, as Pacemaker 2.1.5 does). An attribute with a
/// delay is written to the cluster once its value has stopped changing for that long
/// (the daemon holds it: `halo_controller::attrd`); `-Q` answers with the newest value,
/// written or not. `-p` (private) attributes are kept like the others.
pub fn attrd_updater(args: &[String]) -> Res<i32> {
    let p = opts::parse(ATTRD_UPDATER, args)?;
    if let Some(code) = p.help_or_version(
        "attrd_updater",
        "query and update Pacemaker node attributes (halo)",
        ATTRD_UPDATER,
    ) {
        return Ok(code);
    }
    text_output_only(&p)?;
    let mut cmd = 'Q';
    let mut value: Option<String> = None;
    for (k, v) in &p.opts {
        match *k {
            "update" | "update-hidden" => {
                cmd = 'U';
                value = v.clone();
            }
            "update-both" => {
                cmd = 'B';
                value = v.clone();
            }
            "update-delay" => cmd = 'Y',
            "query" => cmd = 'Q',
            "delete" => cmd = 'D',
            "refresh" => cmd = 'R',
            "lifetime" | "section" => {
                let l = v.as_deref().unwrap_or_default();
                if !["nodes", "forever", "status", "reboot"].contains(&l) {
                    return Err(Fail::usage(format!("Unknown value for --lifetime: {l}")));
                }
            }
            _ => {}
        }
    }
    let delay_ms = p
        .value("delay")
        .map(|d| {
            halo_model::duration::parse_duration_ms(d)
                .map_err(|e| Fail::usage(format!("Invalid value for --delay: {e}")))
        })
        .transpose()?;
    if cmd == 'Y' && delay_ms.is_none() {
        return Err(Fail::usage("--update-delay requires --delay"));
    }
    let name = p.value("name").map(str::to_string);
    if cmd == 'R' {
        return Ok(exit::OK);
    }
    let Some(name) = name else {
        return Err(Fail::usage("Command requires --name argument"));
    };
    let ctx = Ctx::new()?;
    let state = ctx.state()?;
    let pending: BTreeMap<(String, String), Option<String>> = ctx
        .attrs_pending()?
        .into_iter()
        .map(|a| ((a.node, a.name), a.value))
        .collect();
    // The newest value: held back for its delay, else written.
    let newest = |n: &str| -> Option<String> {
        match pending.get(&(n.to_string(), name.clone())) {
            Some(v) => v.clone(),
            None => transient_attrs(&state, n).get(&name).cloned(),
        }
    };
    let given = p.value("node");
    if cmd == 'Q' {
        let nodes: Vec<String> = if p.has("all") {
            configured_nodes(&state)?
        } else {
            match (node_attr_target(given), given) {
                (Some(n), _) => vec![n],
                (None, Some(n))
                    if n.eq_ignore_ascii_case("localhost") || n.eq_ignore_ascii_case("auto") =>
                {
                    vec![local_node(&ctx)?]
                }
                (None, Some(n)) => vec![n.to_string()],
                // pacemaker-attrd answers a query for no node with every node's value.
                (None, None) => configured_nodes(&state)?,
            }
        };
        let everywhere = configured_nodes(&state)?;
        let exists = everywhere.iter().any(|n| newest(n).is_some());
        if !exists {
            return Err(Fail::new(
                exit::CONFIG,
                format!("Could not query value of {name}: attribute does not exist"),
            ));
        }
        let single = nodes.len() == 1 && (given.is_some() || !p.has("all"));
        for n in &nodes {
            let v = newest(n);
            if v.is_some() || single {
                println!(
                    "name=\"{name}\" host=\"{n}\" value=\"{}\"",
                    v.unwrap_or_default()
                );
            }
        }
        return Ok(exit::OK);
    }
    let node = target_node(&ctx, given)?;
    if !configured_nodes(&state)?.contains(&node) {
        let what = value.as_deref().unwrap_or("");
        return Err(Fail::new(
            exit::NOSUCH,
            format!("Could not update {name}={what}: node {node} is not in the cluster"),
        ));
    }
    let old = newest(&node);
    let update = match cmd {
        'U' | 'B' => AttrUpdate {
            value: Some(expand_value(&value.unwrap_or_default(), old.as_deref())),
            set_value: true,
            delay_ms: delay_ms.filter(|_| cmd == 'B'),
            node,
            name,
        },
        'D' => AttrUpdate {
            value: None,
            set_value: true,
            delay_ms: None,
            node,
            name,
        },
        _ => AttrUpdate {
            value: None,
            set_value: false,
            delay_ms,
            node,
            name,
        },
    };
    ctx.attr_update(&update)?;
    Ok(exit::OK)
}

/// The names of the configured nodes, in configuration order.
fn configured_nodes(state: &ClusterState) -> Res<Vec<String>> {
    Ok(super::config_of(state)?
        .nodes
        .into_iter()
        .map(|n| n.name)
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn increments() {
        assert_eq!(expand_value("value++", None), "1");
        assert_eq!(expand_value("value++", Some("4")), "5");
        assert_eq!(expand_value("value+=10", Some("4")), "14");
        assert_eq!(expand_value("value+=INFINITY", Some("4")), "1000000");
        assert_eq!(expand_value("value++", Some("INFINITY")), "1000000");
        assert_eq!(expand_value("5", Some("4")), "5");
        assert_eq!(expand_value("v++", Some("4")), "v++");
    }

    #[test]
    fn promotion_names() {
        assert_eq!(promotion_name(Some("st")).as_deref(), Some("master-st"));
        assert_eq!(promotion_name(Some("st:1")).as_deref(), Some("master-st:1"));
    }
}
