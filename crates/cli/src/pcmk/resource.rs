//! `crm_resource`: where a resource runs (`-W`), its recorded operations (`-O`, `-o`),
//! and its parameters, meta attributes and utilization (`-g`, `-p -v`, `-d`, with
//! `--meta` or `-z`).
//!
//! halo's configuration has no utilization sets: a resource's utilization attribute
//! NAME is kept as its meta attribute `utilization-NAME` (meta attributes do not
//! restart a resource when they change; the agent sees it as
//! `OCF_RESKEY_CRM_meta_utilization_NAME`).

use halo_model::{Attrs, Config, Resource};

use super::attrs::UTILIZATION_PREFIX;
use super::opts::{self, flag, long_flag, long_value, optional, value, Spec};
use super::view::{exec_status_text, op_key, View};
use super::{ctime, exit, Ctx, Fail, Res};

const SPECS: &[Spec] = &[
    flag('h', "help"),
    long_flag("help-all"),
    flag('$', "version"),
    flag('V', "verbose"),
    flag('Q', "quiet"),
    long_value("output-as"),
    long_value("output-to"),
    value('r', "resource"),
    value('N', "node"),
    flag('z', "utilization"),
    flag('m', "meta"),
    value('g', "get-parameter"),
    value('G', "get-property"),
    value('p', "set-parameter"),
    value('d', "delete-parameter"),
    value('v', "parameter-value"),
    value('s', "set-name"),
    value('i', "nvpair"),
    value('t', "resource-type"),
    flag('W', "locate"),
    flag('O', "list-operations"),
    flag('o', "list-all-operations"),
    flag('L', "list"),
    flag('l', "list-raw"),
    flag('f', "force"),
    flag('C', "cleanup"),
    flag('R', "refresh"),
    flag('B', "ban"),
    flag('M', "move"),
    flag('U', "clear"),
    flag('a', "constraints"),
    flag('A', "stack"),
    flag('Y', "why"),
    flag('q', "query-xml"),
    flag('w', "query-xml-raw"),
    flag('D', "delete"),
    flag('F', "fail"),
    value('n', "operation"),
    value('I', "interval"),
    optional('e', "expired"),
    long_flag("recursive"),
];

#[derive(Clone, Copy, PartialEq, Eq)]
enum Set {
    Params,
    Meta,
    Utilization,
}

impl Set {
    fn suffix(self) -> &'static str {
        match self {
            Set::Params => "instance_attributes",
            Set::Meta => "meta_attributes",
            Set::Utilization => "utilization",
        }
    }

    fn key(self, name: &str) -> String {
        match self {
            Set::Utilization => format!("{UTILIZATION_PREFIX}{name}"),
            _ => name.to_string(),
        }
    }
}

/// `crm_resource`.
pub fn crm_resource(args: &[String]) -> Res<i32> {
    let p = opts::parse(SPECS, args)?;
    if let Some(code) = p.help_or_version(
        "crm_resource",
        "crm_resource - perform tasks related to Pacemaker cluster resources (halo: -W, -O, -o, -g, -p, -d)",
        SPECS,
    ) {
        return Ok(code);
    }
    let quiet = p.has("quiet");
    let rsc = p.value("resource");
    let node = p.value("node");
    let set = if p.has("utilization") {
        Set::Utilization
    } else if p.has("meta") {
        Set::Meta
    } else {
        Set::Params
    };
    // The last command given wins, as in Pacemaker.
    let command = p.opts.iter().rev().find_map(|(k, v)| {
        [
            "get-parameter",
            "set-parameter",
            "delete-parameter",
            "locate",
            "list-operations",
            "list-all-operations",
            "list",
            "list-raw",
            "cleanup",
            "refresh",
            "ban",
            "move",
            "clear",
            "constraints",
            "stack",
            "why",
            "query-xml",
            "query-xml-raw",
            "delete",
            "fail",
            "get-property",
        ]
        .contains(k)
        .then(|| (*k, v.clone()))
    });
    let Some((command, arg)) = command else {
        return Err(Fail::usage(
            "No command given (halo supports -W, -O, -o, -g, -p and -d)",
        ));
    };
    let ctx = Ctx::new()?;
    match command {
        "locate" => {
            let rsc = need(rsc)?;
            let view = View::load(&ctx)?;
            let prims = view.matching(rsc);
            if prims.is_empty() {
                return Err(not_found(rsc));
            }
            let mut locs = Vec::new();
            for i in prims {
                locs.extend(view.locations(i));
            }
            if locs.is_empty() {
                if !quiet {
                    eprintln!("resource {rsc} is NOT running");
                }
                return Ok(exit::OK);
            }
            for (n, role) in locs {
                let name = &view.cl.nodes[n].name;
                if quiet {
                    println!("{name}");
                } else {
                    let promoted = if role == halo_model::Role::Promoted {
                        " Promoted"
                    } else {
                        ""
                    };
                    println!("resource {rsc} is running on: {name}{promoted}");
                }
            }
            Ok(exit::OK)
        }
        "list-operations" | "list-all-operations" => {
            let view = View::load(&ctx)?;
            list_operations(&view, rsc, node, command == "list-operations");
            Ok(exit::OK)
        }
        "get-parameter" => {
            let rsc = need(rsc)?;
            let name = arg.unwrap_or_default();
            let state = ctx.state()?;
            let cfg = super::config_of(&state)?;
            let attrs = attrs_of(&cfg, rsc, set)?;
            match attrs.get(&set.key(&name)) {
                Some(v) => println!("{v}"),
                None => eprintln!("Attribute '{name}' not found for '{rsc}'"),
            }
            Ok(exit::OK)
        }
        "set-parameter" | "delete-parameter" => {
            let rsc = need(rsc)?;
            let name = arg.unwrap_or_default();
            let value = if command == "set-parameter" {
                match p.value("parameter-value").filter(|v| !v.is_empty()) {
                    Some(v) => Some(v.to_string()),
                    None => {
                        return Err(Fail::usage("You need to supply a value with the -v option"))
                    }
                }
            } else {
                None
            };
            let state = ctx.state()?;
            let cfg = super::config_of(&state)?;
            let id = base(rsc);
            let present = attrs_of(&cfg, rsc, set)?.contains_key(&set.key(&name));
            if value.is_none() && !present {
                return Ok(exit::OK);
            }
            let key = set.key(&name);
            let v2 = value.clone();
            ctx.edit_config(&state, |c| {
                if let Some(m) = attrs_mut(c, &id, set) {
                    match &v2 {
                        Some(v) => {
                            m.insert(key.clone(), v.clone());
                        }
                        None => {
                            m.remove(&key);
                        }
                    }
                }
            })?;
            if !quiet {
                let set_id = format!("{id}-{}", set.suffix());
                match value {
                    Some(v) => println!(
                        "Set '{id}' option: id={set_id}-{name} set={set_id} name={name} value={v}"
                    ),
                    None => println!("Deleted '{id}' option: id={set_id}-{name} name={name}"),
                }
            }
            Ok(exit::OK)
        }
        other => Err(Fail::new(
            exit::UNIMPLEMENT_FEATURE,
            format!("--{other} is not supported by halo's crm_resource (use `halo resource` and `halo config`)"),
        )),
    }
}

fn need(rsc: Option<&str>) -> Res<&str> {
    rsc.ok_or_else(|| Fail::usage("Must supply a resource id with -r"))
}

fn base(rsc: &str) -> String {
    halo_sched::unpack::strip_instance(rsc).to_string()
}

fn not_found(rsc: &str) -> Fail {
    Fail::new(
        exit::NOSUCH,
        format!("Resource '{rsc}' not found\nError performing operation: No such object"),
    )
}

/// The attribute set of a configured resource.
fn attrs_of(cfg: &Config, rsc: &str, set: Set) -> Res<Attrs> {
    let mut cfg = cfg.clone();
    attrs_mut(&mut cfg, &base(rsc), set)
        .map(|a| a.clone())
        .ok_or_else(|| not_found(rsc))
}

fn attrs_mut<'a>(cfg: &'a mut Config, id: &str, set: Set) -> Option<&'a mut Attrs> {
    fn prim(p: &mut halo_model::Primitive, set: Set) -> &mut Attrs {
        match set {
            Set::Params => &mut p.params,
            _ => &mut p.meta,
        }
    }
    fn walk<'a>(r: &'a mut Resource, id: &str, set: Set) -> Option<&'a mut Attrs> {
        match r {
            Resource::Primitive(p) => (p.id == id).then(|| prim(p, set)),
            Resource::Group(g) => {
                if g.id == id {
                    return (set != Set::Params).then_some(&mut g.meta);
                }
                g.members
                    .iter_mut()
                    .find(|m| m.id == id)
                    .map(|m| prim(m, set))
            }
            Resource::Clone(c) => {
                if c.id == id {
                    return (set != Set::Params).then_some(&mut c.meta);
                }
                walk(&mut c.child, id, set)
            }
        }
    }
    cfg.resources.iter_mut().find_map(|r| walk(r, id, set))
}

/// `-O` (operations of active resources) and `-o` (all recorded operations), as
/// `RSC (AGENT): ROLE: RSC_OP_INTERVAL (node=N, call=C, rc=RC, last-rc-change='T',
/// exec=Xms): STATUS`.
fn list_operations(view: &View, rsc: Option<&str>, node: Option<&str>, active_only: bool) {
    for n in &view.input.nodes {
        if node.is_some_and(|x| !x.eq_ignore_ascii_case(&n.name)) {
            continue;
        }
        let nid = view.cl.node_by_name(&n.name);
        for h in &n.resources {
            if rsc.is_some_and(|x| x != h.id && base(x) != base(&h.id)) {
                continue;
            }
            let prims = view.matching(&h.id);
            let found = prims.first().copied();
            // The instance of the resource on this node, for its role.
            let here = prims
                .iter()
                .copied()
                .find(|&i| nid.is_some_and(|nid| view.cl.rscs[i].running_on.contains(&nid)));
            if active_only && here.is_none() {
                continue;
            }
            let state = match (found, here) {
                (_, Some(i)) => view.role(i).as_str().to_string(),
                (Some(_), None) => "Stopped".to_string(),
                (None, None) => String::new(),
            };
            let head = match found {
                Some(r) => format!("{}\t({}):\t {state}", h.id, view.cl.rscs[r].agent),
                None => format!("Unknown resource {}", h.id),
            };
            let mut ops: Vec<&halo_model::OpRecord> = h.ops.iter().collect();
            ops.sort_by_key(|o| o.call_id);
            for o in ops {
                let change = o
                    .last_rc_change
                    .map(|t| {
                        format!(
                            ", last-rc-change='{}', exec={}ms",
                            ctime(t),
                            o.exec_time_ms.unwrap_or(0)
                        )
                    })
                    .unwrap_or_default();
                println!(
                    "{head}: {} (node={}, call={}, rc={}{change}): {}",
                    op_key(&h.id, o),
                    n.name,
                    o.call_id,
                    o.rc,
                    exec_status_text(o.op_status)
                );
            }
        }
    }
}
