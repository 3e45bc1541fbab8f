//! pcs's configuration vocabulary on the live cluster: `halo resource create|delete|
//! update|meta|enable|disable|move|ban|clear|show`, `halo constraint ...`, `halo
//! property ...`, `halo node ...`. Each command reads the cluster's configuration,
//! changes it, validates it and commits it through consensus, refused if the
//! configuration changed meanwhile (`config::edit`).

use std::collections::BTreeMap;
use std::time::Duration;

use anyhow::{bail, Context};
use halo_model::{
    Action, AgentRef, Clone as CloneRsc, Colocation, Config, Constraint, Discovery, Group,
    Location, LocationHow, LocationTarget, OpDef, Order, OrderKind, Primitive, Resource, Role,
    Score,
};

use crate::cluster::{runtime, Target};
use crate::config::edit;

/// `key=value` words; `key=` keeps an empty value (callers read it as "remove").
pub fn parse_pairs(words: &[String]) -> anyhow::Result<BTreeMap<String, String>> {
    words
        .iter()
        .map(|p| match p.split_once('=') {
            Some((k, v)) if !k.is_empty() => Ok((k.to_string(), v.to_string())),
            _ => bail!("{p:?}: expected key=value"),
        })
        .collect()
}

/// Set `key=value` pairs in `attrs`; an empty value removes the key.
fn merge(attrs: &mut BTreeMap<String, String>, pairs: BTreeMap<String, String>) {
    for (k, v) in pairs {
        if v.is_empty() {
            attrs.remove(&k);
        } else {
            attrs.insert(k, v);
        }
    }
}

/// The cluster's configuration as it is now.
pub fn current(target: &Target) -> anyhow::Result<Config> {
    let state = runtime()?.block_on(target.client()?.state(true))?;
    let stored: halo_consensus::StoredConfig = serde_json::from_value(state["config"].clone())
        .context("reading the cluster's configuration")?;
    Ok(stored.to_model()?)
}

/// `class:provider:type`, `class:type`, or a bare type (an `ocf:heartbeat` agent, as pcs
/// assumes).
pub fn parse_agent_ref(spec: &str) -> anyhow::Result<AgentRef> {
    let parts: Vec<&str> = spec.split(':').collect();
    let r = match parts.as_slice() {
        [kind] => AgentRef {
            class: "ocf".into(),
            provider: Some("heartbeat".into()),
            kind: kind.to_string(),
        },
        [class, kind] => AgentRef {
            class: class.to_string(),
            provider: None,
            kind: kind.to_string(),
        },
        [class, provider, kind] => AgentRef {
            class: class.to_string(),
            provider: Some(provider.to_string()),
            kind: kind.to_string(),
        },
        _ => bail!("{spec}: expected CLASS:PROVIDER:TYPE, CLASS:TYPE or TYPE"),
    };
    if r.kind.is_empty() || r.class.is_empty() {
        bail!("{spec}: expected CLASS:PROVIDER:TYPE, CLASS:TYPE or TYPE");
    }
    if r.class == "ocf" && r.provider.is_none() {
        bail!(
            "{spec}: an ocf agent needs its provider (ocf:heartbeat:{})",
            r.kind
        );
    }
    Ok(r)
}

/// An operation from pcs's `op NAME key=value...` words.
fn op_def(rsc: &str, name: &str, pairs: BTreeMap<String, String>) -> anyhow::Result<OpDef> {
    let ms = |k: &str, v: &str| {
        halo_model::duration::parse_duration_ms(v)
            .map_err(|e| anyhow::anyhow!("op {name} {k}={v}: {e}"))
    };
    let mut op = OpDef {
        name: name.to_string(),
        enabled: true,
        ..OpDef::default()
    };
    for (k, v) in pairs {
        match k.as_str() {
            "interval" => op.interval_ms = ms(&k, &v)?,
            "timeout" => op.timeout_ms = Some(ms(&k, &v)?),
            "role" => {
                op.role = Some(
                    Role::parse(&v).with_context(|| format!("op {name} role={v}: unknown role"))?,
                )
            }
            "on-fail" => {
                op.on_fail = Some(
                    halo_model::OnFail::parse(&v)
                        .with_context(|| format!("op {name} on-fail={v}: unknown policy"))?,
                )
            }
            "enabled" => op.enabled = v != "false",
            "id" => op.id = v,
            _ => {
                op.attrs.insert(k, v);
            }
        }
    }
    if op.id.is_empty() {
        op.id = format!(
            "{rsc}-{name}-interval-{}",
            halo_exec::duration::format_duration(std::time::Duration::from_millis(op.interval_ms))
        );
    }
    Ok(op)
}

/// What `resource create` reads after the agent: parameters, then `op NAME k=v...`
/// (repeatable), `meta k=v...`, `clone k=v...` (pcs's section words), and pcs's
/// options where pcs takes them, among the words: `--clone [k=v...]` and
/// `--promotable [k=v...]` (the pairs are the clone's meta), `--group G`,
/// `--before R`, `--after R`, `--disabled`.
#[derive(Default)]
struct CreateWords {
    params: BTreeMap<String, String>,
    ops: Vec<(String, BTreeMap<String, String>)>,
    meta: BTreeMap<String, String>,
    clone_meta: BTreeMap<String, String>,
    clone: bool,
    promotable: bool,
    group: Option<String>,
    before: Option<String>,
    after: Option<String>,
    disabled: bool,
}

fn split_create_words(words: &[String]) -> anyhow::Result<CreateWords> {
    enum Section {
        Params,
        Op,
        Meta,
        Clone,
    }
    let mut out = CreateWords::default();
    let mut section = Section::Params;
    let mut it = words.iter().peekable();
    while let Some(w) = it.next() {
        match w.as_str() {
            "op" => {
                let name = it
                    .next()
                    .filter(|n| !n.contains('='))
                    .context("op: expected an operation name (op monitor interval=30s)")?;
                out.ops.push((name.clone(), BTreeMap::new()));
                section = Section::Op;
                continue;
            }
            "meta" => {
                section = Section::Meta;
                continue;
            }
            "clone" => {
                section = Section::Clone;
                continue;
            }
            "--clone" | "--promotable" => {
                out.clone = true;
                out.promotable |= w == "--promotable";
                section = Section::Clone;
                continue;
            }
            "--disabled" => {
                out.disabled = true;
                continue;
            }
            "--group" | "--before" | "--after" => {
                let v = it
                    .next()
                    .filter(|v| !v.starts_with('-') && !v.contains('='))
                    .with_context(|| format!("{w}: expected a resource id"))?
                    .clone();
                match w.as_str() {
                    "--group" => out.group = Some(v),
                    "--before" => out.before = Some(v),
                    _ => out.after = Some(v),
                }
                continue;
            }
            flag if flag.starts_with("--") => {
                bail!("{flag}: not an option of resource create (see halo resource create --help)")
            }
            _ => {}
        }
        let (k, v) = parse_pairs(std::slice::from_ref(w))?
            .into_iter()
            .next()
            .context("expected key=value")?;
        match section {
            Section::Params => out.params.insert(k, v),
            Section::Op => match out.ops.last_mut() {
                Some((_, attrs)) => attrs.insert(k, v),
                None => None,
            },
            Section::Meta => out.meta.insert(k, v),
            Section::Clone => out.clone_meta.insert(k, v),
        };
    }
    Ok(out)
}

/// How `resource create` places the new resource.
pub struct CreateOpts {
    pub clone: bool,
    pub promotable: bool,
    pub group: Option<String>,
    pub before: Option<String>,
    pub after: Option<String>,
    pub disabled: bool,
}

/// `halo resource create NAME AGENT [key=value...] [op NAME key=value...]... [meta
/// key=value...] [clone key=value...]`.
pub fn create(
    target: &Target,
    name: &str,
    agent: &str,
    words: &[String],
    opts: CreateOpts,
) -> anyhow::Result<String> {
    let agent = parse_agent_ref(agent)?;
    let mut w = split_create_words(words)?;
    // Options given among the words, as pcs takes them, count as given before them.
    let opts = CreateOpts {
        clone: opts.clone || w.clone,
        promotable: opts.promotable || w.promotable,
        group: opts.group.or(w.group.take()),
        before: opts.before.or(w.before.take()),
        after: opts.after.or(w.after.take()),
        disabled: opts.disabled || w.disabled,
    };
    if (opts.before.is_some() || opts.after.is_some()) && opts.group.is_none() {
        bail!("--before and --after place the resource in its --group");
    }
    if opts.disabled {
        w.meta.insert("target-role".into(), "Stopped".into());
    }
    let mut ops = w
        .ops
        .into_iter()
        .map(|(n, a)| op_def(name, &n, a))
        .collect::<anyhow::Result<Vec<_>>>()?;
    if !ops.iter().any(|o| o.name == "monitor") {
        // pcs gives every resource a monitor; its interval when none is asked for.
        let interval = if agent.class == "stonith" {
            "60s"
        } else {
            "10s"
        };
        let pairs = BTreeMap::from([("interval".to_string(), interval.to_string())]);
        ops.push(op_def(name, "monitor", pairs)?);
    }
    let primitive = Primitive {
        id: name.to_string(),
        agent,
        params: w.params,
        meta: w.meta,
        ops,
    };
    let clone = opts.clone || opts.promotable || !w.clone_meta.is_empty();
    if clone && opts.group.is_some() {
        bail!("a resource is either cloned or in a group: clone the group instead (halo resource clone GROUP)");
    }
    let name = name.to_string();
    let epoch = edit(target, |cfg| {
        if cfg
            .resources
            .iter()
            .any(|r| r.ids().contains(&name.as_str()))
        {
            bail!("a resource named {name} already exists");
        }
        if clone {
            let id = format!("{name}-clone");
            if cfg.resources.iter().any(|r| r.ids().contains(&id.as_str())) {
                bail!("a resource named {id} already exists");
            }
            cfg.resources.push(Resource::Clone(CloneRsc {
                id,
                meta: w.clone_meta,
                promotable: opts.promotable,
                child: Box::new(Resource::Primitive(primitive)),
            }));
            return Ok(());
        }
        let Some(group) = &opts.group else {
            cfg.resources.push(Resource::Primitive(primitive));
            return Ok(());
        };
        let existing = cfg.resources.iter_mut().find_map(|r| match r {
            Resource::Group(g) if g.id == *group => Some(g),
            _ => None,
        });
        let g = match existing {
            Some(g) => g,
            None => {
                if cfg
                    .resources
                    .iter()
                    .any(|r| r.ids().contains(&group.as_str()))
                {
                    bail!("{group} exists and is not a group");
                }
                cfg.resources.push(Resource::Group(Group {
                    id: group.clone(),
                    meta: BTreeMap::new(),
                    members: Vec::new(),
                }));
                match cfg.resources.last_mut() {
                    Some(Resource::Group(g)) => g,
                    _ => bail!("internal: the new group is missing"),
                }
            }
        };
        let at = match (&opts.before, &opts.after) {
            (Some(b), _) => g
                .members
                .iter()
                .position(|m| m.id == *b)
                .with_context(|| format!("{b} is not a member of {group}"))?,
            (None, Some(a)) => {
                g.members
                    .iter()
                    .position(|m| m.id == *a)
                    .with_context(|| format!("{a} is not a member of {group}"))?
                    + 1
            }
            (None, None) => g.members.len(),
        };
        g.members.insert(at, primitive);
        Ok(())
    })?;
    Ok(format!("{name} created (epoch {epoch})"))
}

/// Remove `id` (a primitive, group or clone; a clone's or group's only member takes its
/// parent along) and every constraint that names it.
pub fn delete(target: &Target, id: &str) -> anyhow::Result<String> {
    let epoch = edit(target, |cfg| {
        let mut removed: Vec<String> = Vec::new();
        let mut found = false;
        cfg.resources.retain_mut(|r| {
            if r.id() == id {
                found = true;
                removed.extend(r.ids().into_iter().map(String::from));
                return false;
            }
            match r {
                Resource::Primitive(_) => true,
                Resource::Group(g) => {
                    let before = g.members.len();
                    g.members.retain(|m| m.id != id);
                    if g.members.len() != before {
                        found = true;
                        removed.push(id.to_string());
                    }
                    if g.members.is_empty() && found {
                        removed.push(g.id.clone());
                        return false;
                    }
                    true
                }
                Resource::Clone(c) => {
                    if c.child.ids().contains(&id) {
                        found = true;
                        let keep = match c.child.as_mut() {
                            Resource::Group(g) if g.id != id => {
                                g.members.retain(|m| m.id != id);
                                !g.members.is_empty()
                            }
                            _ => false,
                        };
                        removed.push(id.to_string());
                        if !keep {
                            removed.extend(r.ids().into_iter().map(String::from));
                        }
                        return keep;
                    }
                    true
                }
            }
        });
        if !found {
            bail!("no resource named {id} (see `halo resource`)");
        }
        cfg.constraints
            .retain(|c| !constraint_refs(c).iter().any(|r| removed.contains(r)));
        Ok(())
    })?;
    Ok(format!("{id} deleted (epoch {epoch})"))
}

/// The resources a constraint names.
pub fn constraint_refs(c: &Constraint) -> Vec<String> {
    let sets = |sets: &Vec<halo_model::ResourceSet>| -> Vec<String> {
        sets.iter().flat_map(|s| s.resources.clone()).collect()
    };
    match c {
        Constraint::Location(l) => match &l.target {
            LocationTarget::Resource(r) => vec![r.clone()],
            LocationTarget::Sets(s) => sets(s),
        },
        Constraint::Colocation(Colocation::Pair { rsc, with_rsc, .. }) => {
            vec![rsc.clone(), with_rsc.clone()]
        }
        Constraint::Colocation(Colocation::Sets { sets: s, .. }) => sets(s),
        Constraint::Order(Order::Pair { first, then, .. }) => vec![first.clone(), then.clone()],
        Constraint::Order(Order::Sets { sets: s, .. }) => sets(s),
    }
}

/// The meta attributes of resource `id` (any kind, nested ones included).
fn meta_mut<'a>(cfg: &'a mut Config, id: &str) -> anyhow::Result<&'a mut BTreeMap<String, String>> {
    fn find<'a>(r: &'a mut Resource, id: &str) -> Option<&'a mut BTreeMap<String, String>> {
        match r {
            Resource::Primitive(p) => (p.id == id).then_some(&mut p.meta),
            Resource::Group(g) => {
                if g.id == id {
                    return Some(&mut g.meta);
                }
                g.members
                    .iter_mut()
                    .find(|m| m.id == id)
                    .map(|m| &mut m.meta)
            }
            Resource::Clone(c) => {
                if c.id == id {
                    return Some(&mut c.meta);
                }
                find(&mut c.child, id)
            }
        }
    }
    cfg.resources
        .iter_mut()
        .find_map(|r| find(r, id))
        .with_context(|| format!("no resource named {id} (see `halo resource`)"))
}

fn primitive_mut<'a>(cfg: &'a mut Config, id: &str) -> anyhow::Result<&'a mut Primitive> {
    fn find<'a>(r: &'a mut Resource, id: &str) -> Option<&'a mut Primitive> {
        match r {
            Resource::Primitive(p) => (p.id == id).then_some(p),
            Resource::Group(g) => g.members.iter_mut().find(|m| m.id == id),
            Resource::Clone(c) => find(&mut c.child, id),
        }
    }
    cfg.resources
        .iter_mut()
        .find_map(|r| find(r, id))
        .with_context(|| format!("no primitive resource named {id} (see `halo resource`)"))
}

/// `resource update ID key=value... [op NAME key=value...] [meta key=value...]`:
/// parameters (an empty value removes one), operations replaced by name, meta merged.
pub fn update(target: &Target, id: &str, words: &[String]) -> anyhow::Result<String> {
    let w = split_create_words(words)?;
    let epoch = edit(target, |cfg| {
        let p = primitive_mut(cfg, id)?;
        merge(&mut p.params, w.params);
        merge(&mut p.meta, w.meta);
        for (name, pairs) in w.ops {
            let op = op_def(id, &name, pairs)?;
            p.ops.retain(|o| o.name != name);
            p.ops.push(op);
        }
        Ok(())
    })?;
    Ok(format!("{id} updated (epoch {epoch})"))
}

/// `resource meta ID key=value...` (an empty value removes one).
pub fn meta(target: &Target, id: &str, words: &[String]) -> anyhow::Result<String> {
    let pairs = parse_pairs(words)?;
    let epoch = edit(target, |cfg| {
        merge(meta_mut(cfg, id)?, pairs);
        Ok(())
    })?;
    Ok(format!("{id} updated (epoch {epoch})"))
}

/// `resource enable|disable ID...`: target-role removed (as pcs) or set to Stopped.
pub fn set_enabled(target: &Target, ids: &[String], enabled: bool) -> anyhow::Result<String> {
    let epoch = edit(target, |cfg| {
        for id in ids {
            let meta = meta_mut(cfg, id)?;
            if enabled {
                meta.remove("target-role");
            } else {
                meta.insert("target-role".into(), "Stopped".into());
            }
        }
        Ok(())
    })?;
    let what = if enabled { "enabled" } else { "disabled" };
    Ok(format!("{} {what} (epoch {epoch})", ids.join(", ")))
}

/// The instances of resource `id` (a primitive, group or clone) that run now, as
/// `(primitive, node)`, from the status this node holds.
fn instances_running(target: &Target, id: &str) -> anyhow::Result<Vec<(String, String)>> {
    let st = runtime()?.block_on(target.client()?.status())?;
    let (_, plan) = crate::status::live_plan(target, &st)?;
    Ok(plan
        .map(|p| p.resources())
        .unwrap_or_default()
        .into_iter()
        .filter(|r| r.id == id || r.parents.iter().any(|p| p == id))
        .filter(|r| matches!(r.state, "started" | "promoted" | "unpromoted" | "failed"))
        .filter_map(|r| Some((r.id, r.node?)))
        .collect())
}

/// Poll `done` every 200 ms for at most `limit`; whether it became true.
fn wait_for(
    limit: Duration,
    mut done: impl FnMut() -> anyhow::Result<bool>,
) -> anyhow::Result<bool> {
    let end = std::time::Instant::now() + limit;
    loop {
        if done()? {
            return Ok(true);
        }
        if std::time::Instant::now() >= end {
            return Ok(false);
        }
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// `resource restart ID`: stopped everywhere (target-role=Stopped), then its own
/// target-role back, waiting at most `limit` for each, as `crm_resource --restart`.
pub fn restart(target: &Target, id: &str, limit: Duration) -> anyhow::Result<String> {
    let mut cfg = current(target)?;
    let previous = meta_mut(&mut cfg, id)?.get("target-role").cloned();
    if instances_running(target, id)?.is_empty() {
        bail!("{id} does not run: nothing to restart (`halo why {id}` says why)");
    }
    edit(target, |cfg| {
        meta_mut(cfg, id)?.insert("target-role".into(), "Stopped".into());
        Ok(())
    })?;
    let stopped = wait_for(limit, || Ok(instances_running(target, id)?.is_empty()));
    // Whatever happened, the resource gets its own target-role back.
    edit(target, |cfg| {
        let meta = meta_mut(cfg, id)?;
        match &previous {
            Some(role) => meta.insert("target-role".into(), role.clone()),
            None => meta.remove("target-role"),
        };
        Ok(())
    })?;
    if !stopped? {
        bail!("{id} did not stop within {limit:?} (its target-role is back as it was; see `halo status`)");
    }
    if !wait_for(limit, || Ok(!instances_running(target, id)?.is_empty()))? {
        bail!("{id} stopped but did not start again within {limit:?}: `halo why {id}` says why");
    }
    let on: Vec<String> = instances_running(target, id)?
        .into_iter()
        .map(|(_, node)| node)
        .collect();
    Ok(format!("{id} restarted (runs on {})", on.join(", ")))
}

fn location(id: String, rsc: &str, node: &str, score: Score) -> Constraint {
    Constraint::Location(Location {
        id,
        target: LocationTarget::Resource(rsc.to_string()),
        role: None,
        how: LocationHow::Node {
            node: node.to_string(),
            score,
        },
        discovery: Discovery::Always,
    })
}

fn require_resource(cfg: &Config, id: &str) -> anyhow::Result<()> {
    if cfg.resources.iter().any(|r| r.ids().contains(&id)) {
        Ok(())
    } else {
        bail!("no resource named {id} (see `halo resource`)")
    }
}

fn require_node(cfg: &Config, node: &str) -> anyhow::Result<()> {
    if cfg.nodes.iter().any(|n| n.name == node) {
        Ok(())
    } else {
        bail!(
            "no node named {node} (nodes: {})",
            cfg.nodes
                .iter()
                .map(|n| n.name.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        )
    }
}

/// When a constraint given `lifetime` from now ends (seconds since the epoch).
fn lifetime_end(lifetime: Option<Duration>) -> Option<i64> {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0);
    lifetime.map(|l| now + l.as_secs().max(1) as i64)
}

/// A location of `rsc` on `node` with `score`, until `end` when given (a rule with a
/// date expression, as `crm_resource --move --lifetime` makes; it stops counting then,
/// and the DC plans again at that time).
fn timed_location(id: String, rsc: &str, node: &str, score: Score, end: Option<i64>) -> Constraint {
    let Some(end) = end else {
        return location(id, rsc, node, score);
    };
    Constraint::Location(Location {
        id: id.clone(),
        target: LocationTarget::Resource(rsc.to_string()),
        role: None,
        how: LocationHow::Rules(vec![halo_model::Rule {
            id: format!("{id}-rule"),
            score: Some(score),
            score_attribute: None,
            bool_op: halo_model::BoolOp::And,
            role: None,
            exprs: vec![
                halo_model::RuleExpr::Attr(halo_model::AttrExpr {
                    id: format!("{id}-expr"),
                    attribute: "#uname".into(),
                    op: halo_model::ExprOp::Eq,
                    value: Some(node.to_string()),
                    value_type: None,
                    value_source: halo_model::ValueSource::Literal,
                }),
                halo_model::RuleExpr::Date(halo_model::DateExpr {
                    id: format!("{id}-lifetime"),
                    op: halo_model::DateOp::Lt,
                    start: None,
                    end: Some(end),
                }),
            ],
        }]),
        discovery: Discovery::default(),
    })
}

/// " until TIME", for a constraint that ends.
fn until(end: Option<i64>) -> String {
    end.map(|e| format!(" until {}", halo_model::datetime::format_datetime(e)))
        .unwrap_or_default()
}

/// `resource move ID NODE [--lifetime D]`: a `cli-prefer-ID` location of INFINITY on
/// NODE (replacing an earlier one).
pub fn move_to(
    target: &Target,
    id: &str,
    node: &str,
    lifetime: Option<Duration>,
) -> anyhow::Result<String> {
    let end = lifetime_end(lifetime);
    let epoch = edit(target, |cfg| {
        require_resource(cfg, id)?;
        require_node(cfg, node)?;
        let cid = format!("cli-prefer-{id}");
        cfg.constraints.retain(|c| c.id() != cid);
        cfg.constraints
            .push(timed_location(cid, id, node, Score::INFINITY, end));
        Ok(())
    })?;
    Ok(format!(
        "{id} moves to {node}{} (constraint cli-prefer-{id}; `halo resource clear {id}` removes it) (epoch {epoch})",
        until(end)
    ))
}

/// `resource ban ID NODE [--lifetime D]`: a `cli-ban-ID-on-NODE` location of -INFINITY.
pub fn ban(
    target: &Target,
    id: &str,
    node: &str,
    lifetime: Option<Duration>,
) -> anyhow::Result<String> {
    let end = lifetime_end(lifetime);
    let epoch = edit(target, |cfg| {
        require_resource(cfg, id)?;
        require_node(cfg, node)?;
        let cid = format!("cli-ban-{id}-on-{node}");
        cfg.constraints.retain(|c| c.id() != cid);
        cfg.constraints
            .push(timed_location(cid, id, node, Score::NEG_INFINITY, end));
        Ok(())
    })?;
    Ok(format!(
        "{id} banned from {node}{} (constraint cli-ban-{id}-on-{node}; `halo resource clear {id}` removes it) (epoch {epoch})",
        until(end)
    ))
}

/// `resource clear ID [NODE]`: remove the constraints `move` and `ban` made.
pub fn clear(target: &Target, id: &str, node: Option<&str>) -> anyhow::Result<String> {
    let prefer = format!("cli-prefer-{id}");
    let ban = format!("cli-ban-{id}-on-");
    let mut gone = Vec::new();
    let epoch = edit(target, |cfg| {
        require_resource(cfg, id)?;
        cfg.constraints.retain(|c| {
            let cid = c.id();
            let hit = match node {
                None => cid == prefer || cid.starts_with(&ban),
                Some(n) => cid == format!("{ban}{n}") || cid == prefer,
            };
            if hit {
                gone.push(cid.to_string());
            }
            !hit
        });
        Ok(())
    })?;
    Ok(if gone.is_empty() {
        format!("{id} had no move or ban constraint")
    } else {
        format!("removed {} (epoch {epoch})", gone.join(", "))
    })
}

/// `constraint location R prefers|avoids NODE[=SCORE]...`.
pub fn constraint_location(
    target: &Target,
    rsc: &str,
    how: &str,
    nodes: &[String],
) -> anyhow::Result<String> {
    let avoid = match how {
        "prefers" => false,
        "avoids" => true,
        _ => bail!("constraint location {rsc} {how}: expected prefers or avoids"),
    };
    if nodes.is_empty() {
        bail!("constraint location {rsc} {how}: name at least one NODE[=SCORE]");
    }
    let mut made = Vec::new();
    let epoch = edit(target, |cfg| {
        require_resource(cfg, rsc)?;
        for spec in nodes {
            let (node, score) = match spec.split_once('=') {
                Some((n, s)) => (
                    n,
                    Score::parse(s).map_err(|e| anyhow::anyhow!("{spec}: {e}"))?,
                ),
                None => (spec.as_str(), Score::INFINITY),
            };
            require_node(cfg, node)?;
            let score = if avoid {
                Score::new(-score.value())
            } else {
                score
            };
            let id = format!("location-{rsc}-{node}-{score}");
            cfg.constraints.retain(|c| c.id() != id);
            cfg.constraints.push(location(id.clone(), rsc, node, score));
            made.push(id);
        }
        Ok(())
    })?;
    Ok(format!("added {} (epoch {epoch})", made.join(", ")))
}

/// `constraint location RSC rule [id=ID] [role=R] [score=S|score-attribute=A]
/// [resource-discovery=D] EXPRESSION`.
pub fn constraint_location_rule(
    target: &Target,
    rsc: &str,
    words: &[String],
) -> anyhow::Result<String> {
    let (id, rule, opts) = crate::constraint_words::parse_rule(rsc, words)?;
    let discovery = match opts.get("resource-discovery") {
        Some(d) => Discovery::parse(d).with_context(|| {
            format!("resource-discovery={d}: expected always, never or exclusive")
        })?,
        None => Discovery::default(),
    };
    let epoch = edit(target, |cfg| {
        require_resource(cfg, rsc)?;
        if cfg.constraints.iter().any(|c| c.id() == id) {
            bail!("a constraint named {id} already exists (give another with id=...)");
        }
        cfg.constraints.push(Constraint::Location(Location {
            id: id.clone(),
            target: LocationTarget::Resource(rsc.to_string()),
            role: None,
            how: LocationHow::Rules(vec![rule]),
            discovery,
        }));
        Ok(())
    })?;
    Ok(format!("added {id} (epoch {epoch})"))
}

/// `constraint colocation set R... [OPTIONS] [set R...]... [setoptions score=S id=ID]`
/// and `constraint order set ... [setoptions kind=K symmetrical=B id=ID]`.
pub fn constraint_set(target: &Target, order: bool, words: &[String]) -> anyhow::Result<String> {
    let what = if order { "order" } else { "colocation" };
    let (sets, mut opts) = crate::constraint_words::parse_sets(what, words)?;
    let names: Vec<String> = sets
        .iter()
        .flat_map(|s| s.resources.iter().cloned())
        .collect();
    let id = opts
        .remove("id")
        .unwrap_or_else(|| format!("{what}-set-{}", names.join("-")));
    let mut sets = sets;
    for (n, s) in sets.iter_mut().enumerate() {
        if s.id.starts_with(&format!("{what}-set-")) {
            s.id = format!("{id}-set-{n}");
        }
    }
    let constraint = if order {
        let kind = crate::constraint_words::order_kind(&mut opts)?;
        let symmetrical = match opts.remove("symmetrical").as_deref() {
            None => None,
            Some("true") => Some(true),
            Some("false") => Some(false),
            Some(v) => bail!("symmetrical={v}: expected true or false"),
        };
        Constraint::Order(Order::Sets {
            id: id.clone(),
            kind,
            symmetrical,
            sets,
        })
    } else {
        let score = match opts.remove("score") {
            Some(s) => Score::parse(&s).map_err(|e| anyhow::anyhow!("score={s}: {e}"))?,
            None => Score::INFINITY,
        };
        Constraint::Colocation(Colocation::Sets {
            id: id.clone(),
            score,
            sets,
        })
    };
    if let Some(k) = opts.keys().next() {
        bail!("{what} set: unknown setoption {k}");
    }
    let epoch = edit(target, |cfg| {
        for r in &names {
            require_resource(cfg, r)?;
        }
        if cfg.constraints.iter().any(|c| c.id() == id) {
            bail!("a constraint named {id} already exists (give another with id=...)");
        }
        cfg.constraints.push(constraint);
        Ok(())
    })?;
    Ok(format!("added {id} (epoch {epoch})"))
}

/// `constraint colocation add [ROLE] A with [ROLE] B [SCORE] [id=ID]`.
pub fn constraint_colocation(target: &Target, words: &[String]) -> anyhow::Result<String> {
    let mut w: Vec<&str> = words.iter().map(String::as_str).collect();
    let mut id = None;
    w.retain(|x| match x.strip_prefix("id=") {
        Some(v) => {
            id = Some(v.to_string());
            false
        }
        None => true,
    });
    let role = |x: &str| Role::parse(x).filter(|_| x != "Stopped");
    let mut i = 0;
    let rsc_role = w.get(i).and_then(|x| role(x));
    if rsc_role.is_some() {
        i += 1;
    }
    let rsc = *w
        .get(i)
        .context("colocation add: expected [ROLE] A with [ROLE] B [SCORE]")?;
    if w.get(i + 1) != Some(&"with") {
        bail!("colocation add: expected [ROLE] A with [ROLE] B [SCORE]");
    }
    i += 2;
    let with_role = w.get(i).and_then(|x| role(x));
    if with_role.is_some() {
        i += 1;
    }
    let with = *w
        .get(i)
        .context("colocation add: expected B after `with`")?;
    let score = match w.get(i + 1) {
        Some(s) => Score::parse(s).map_err(|e| anyhow::anyhow!("score {s}: {e}"))?,
        None => Score::INFINITY,
    };
    if w.len() > i + 2 {
        bail!("colocation add: unexpected {:?}", &w[i + 2..]);
    }
    let id = id.unwrap_or_else(|| format!("colocation-{rsc}-{with}-{score}"));
    let (rsc, with) = (rsc.to_string(), with.to_string());
    let cid = id.clone();
    let epoch = edit(target, |cfg| {
        require_resource(cfg, &rsc)?;
        require_resource(cfg, &with)?;
        if cfg.constraints.iter().any(|c| c.id() == cid) {
            bail!("a constraint named {cid} already exists");
        }
        cfg.constraints
            .push(Constraint::Colocation(Colocation::Pair {
                id: cid.clone(),
                score,
                rsc,
                rsc_role,
                with_rsc: with,
                with_rsc_role: with_role,
            }));
        Ok(())
    })?;
    Ok(format!("added {id} (epoch {epoch})"))
}

/// `constraint order [ACTION] A then [ACTION] B [kind=..] [symmetrical=..] [id=..]`.
pub fn constraint_order(target: &Target, words: &[String]) -> anyhow::Result<String> {
    let mut opts = BTreeMap::new();
    let w: Vec<&str> = words
        .iter()
        .map(String::as_str)
        .filter(|x| match x.split_once('=') {
            Some((k, v)) => {
                opts.insert(k.to_string(), v.to_string());
                false
            }
            None => true,
        })
        .collect();
    let usage = "order: expected [ACTION] A then [ACTION] B [kind=Mandatory|Optional|Serialize] [symmetrical=true|false]";
    let mut i = 0;
    let first_action = w.get(i).and_then(|x| Action::parse(x));
    if first_action.is_some() {
        i += 1;
    }
    let first = *w.get(i).context(usage)?;
    if w.get(i + 1) != Some(&"then") {
        bail!("{usage}");
    }
    i += 2;
    let then_action = w.get(i).and_then(|x| Action::parse(x));
    if then_action.is_some() {
        i += 1;
    }
    let then = *w.get(i).context(usage)?;
    if w.len() > i + 1 {
        bail!("{usage}; unexpected {:?}", &w[i + 1..]);
    }
    let kind = match opts.remove("kind") {
        Some(k) => OrderKind::parse(&k).with_context(|| format!("kind={k}: {usage}"))?,
        None => OrderKind::Mandatory,
    };
    let symmetrical = match opts.remove("symmetrical") {
        Some(v) => Some(match v.as_str() {
            "true" => true,
            "false" => false,
            _ => bail!("symmetrical={v}: expected true or false"),
        }),
        None => None,
    };
    let kind_name = match kind {
        OrderKind::Mandatory => "mandatory",
        OrderKind::Optional => "Optional",
        OrderKind::Serialize => "Serialize",
    };
    let id = opts
        .remove("id")
        .unwrap_or_else(|| format!("order-{first}-{then}-{kind_name}"));
    if let Some(k) = opts.keys().next() {
        bail!("order: unknown option {k} ({usage})");
    }
    let (first, then) = (first.to_string(), then.to_string());
    let cid = id.clone();
    let epoch = edit(target, |cfg| {
        require_resource(cfg, &first)?;
        require_resource(cfg, &then)?;
        if cfg.constraints.iter().any(|c| c.id() == cid) {
            bail!("a constraint named {cid} already exists");
        }
        cfg.constraints.push(Constraint::Order(Order::Pair {
            id: cid.clone(),
            kind,
            symmetrical,
            first,
            first_action,
            then,
            then_action,
            require_all: true,
        }));
        Ok(())
    })?;
    Ok(format!("added {id} (epoch {epoch})"))
}

/// `constraint remove ID...`.
pub fn constraint_remove(target: &Target, ids: &[String]) -> anyhow::Result<String> {
    let epoch = edit(target, |cfg| {
        for id in ids {
            if !cfg.constraints.iter().any(|c| c.id() == id) {
                bail!("no constraint named {id} (see `halo constraint list`)");
            }
            cfg.constraints.retain(|c| c.id() != id);
        }
        Ok(())
    })?;
    Ok(format!("removed {} (epoch {epoch})", ids.join(", ")))
}

/// `property set key=value...` / `property unset key...`.
pub fn property_set(target: &Target, pairs: BTreeMap<String, String>) -> anyhow::Result<String> {
    let names: Vec<String> = pairs.keys().cloned().collect();
    let epoch = edit(target, |cfg| {
        merge(&mut cfg.properties, pairs);
        Ok(())
    })?;
    Ok(format!("set {} (epoch {epoch})", names.join(", ")))
}

/// `node standby|unstandby|maintenance|unmaintenance [NODE...|--all]`: the permanent
/// node attribute `attr` set to "on" or removed.
pub fn node_flag(
    target: &Target,
    attr: &str,
    on: bool,
    nodes: &[String],
    all: bool,
) -> anyhow::Result<String> {
    let mut named = Vec::new();
    let epoch = edit(target, |cfg| {
        let chosen: Vec<String> = if all {
            cfg.nodes.iter().map(|n| n.name.clone()).collect()
        } else if nodes.is_empty() {
            bail!("name the node(s), or --all");
        } else {
            nodes.to_vec()
        };
        for name in &chosen {
            require_node(cfg, name)?;
            if let Some(n) = cfg.nodes.iter_mut().find(|n| n.name == *name) {
                if on {
                    n.attrs.insert(attr.to_string(), "on".into());
                } else {
                    n.attrs.remove(attr);
                }
            }
        }
        named = chosen;
        Ok(())
    })?;
    let what = match (attr, on) {
        ("standby", true) => "in standby",
        ("standby", false) => "out of standby",
        (_, true) => "in maintenance",
        (_, false) => "out of maintenance",
    };
    Ok(format!("{} {what} (epoch {epoch})", named.join(", ")))
}

/// `node attribute NODE key=value...` (permanent; an empty value removes one).
pub fn node_attribute(target: &Target, node: &str, words: &[String]) -> anyhow::Result<String> {
    let pairs = parse_pairs(words)?;
    let epoch = edit(target, |cfg| {
        require_node(cfg, node)?;
        if let Some(n) = cfg.nodes.iter_mut().find(|n| n.name == node) {
            merge(&mut n.attrs, pairs);
        }
        Ok(())
    })?;
    Ok(format!("{node} updated (epoch {epoch})"))
}

/// One line per constraint, as `halo constraint list` prints it.
/// A location rule in pcs's words: `score=S EXPRESSION`.
fn describe_rule(r: &halo_model::Rule) -> String {
    fn expr(e: &halo_model::RuleExpr, nested: bool) -> String {
        match e {
            halo_model::RuleExpr::Attr(a) => {
                let op = format!("{:?}", a.op).to_ascii_lowercase();
                match (&a.value, a.op) {
                    (_, halo_model::ExprOp::Defined) => format!("defined {}", a.attribute),
                    (_, halo_model::ExprOp::NotDefined) => format!("not_defined {}", a.attribute),
                    (Some(v), _) => format!("{} {op} {v}", a.attribute),
                    (None, _) => format!("{} {op}", a.attribute),
                }
            }
            halo_model::RuleExpr::Date(d) => {
                let t = |t: Option<i64>| t.map(halo_model::datetime::format_datetime);
                match (d.op, t(d.start), t(d.end)) {
                    (halo_model::DateOp::Gt, Some(s), _) => format!("date gt {s}"),
                    (halo_model::DateOp::Lt, _, Some(e)) => format!("date lt {e}"),
                    (_, s, e) => format!(
                        "date in_range {} to {}",
                        s.unwrap_or_default(),
                        e.unwrap_or_default()
                    ),
                }
            }
            halo_model::RuleExpr::Rule(r) => {
                let text = rule_body(r);
                if nested && r.exprs.len() > 1 {
                    format!("( {text} )")
                } else {
                    text
                }
            }
        }
    }
    fn rule_body(r: &halo_model::Rule) -> String {
        let join = match r.bool_op {
            halo_model::BoolOp::And => " and ",
            halo_model::BoolOp::Or => " or ",
        };
        r.exprs
            .iter()
            .map(|e| expr(e, true))
            .collect::<Vec<_>>()
            .join(join)
    }
    let score = match (&r.score, &r.score_attribute) {
        (_, Some(a)) => format!("score-attribute={a}"),
        (Some(s), None) => format!("score={s}"),
        (None, None) => "score=0".to_string(),
    };
    format!("{score} {}", rule_body(r))
}

pub fn describe_constraint(c: &Constraint) -> String {
    match c {
        Constraint::Location(l) => {
            let what = match &l.target {
                LocationTarget::Resource(r) => r.clone(),
                LocationTarget::Sets(s) => format!(
                    "sets {:?}",
                    s.iter().map(|x| &x.resources).collect::<Vec<_>>()
                ),
            };
            match &l.how {
                LocationHow::Node { node, score } if score.value() < 0 => {
                    format!(
                        "location {what} avoids {node} (score {score}) (id: {})",
                        l.id
                    )
                }
                LocationHow::Node { node, score } => {
                    format!(
                        "location {what} prefers {node} (score {score}) (id: {})",
                        l.id
                    )
                }
                LocationHow::Rules(rules) => {
                    let shown: Vec<String> = rules.iter().map(describe_rule).collect();
                    format!("location {what} rule {} (id: {})", shown.join("; "), l.id)
                }
            }
        }
        Constraint::Colocation(Colocation::Pair {
            id,
            score,
            rsc,
            rsc_role,
            with_rsc,
            with_rsc_role,
        }) => {
            let role = |r: &Option<Role>| r.map(|r| format!("{r} ")).unwrap_or_default();
            format!(
                "colocation {}{rsc} with {}{with_rsc} (score {score}) (id: {id})",
                role(rsc_role),
                role(with_rsc_role)
            )
        }
        Constraint::Colocation(Colocation::Sets { id, score, sets }) => format!(
            "colocation set {:?} (score {score}) (id: {id})",
            sets.iter().map(|s| &s.resources).collect::<Vec<_>>()
        ),
        Constraint::Order(Order::Pair {
            id,
            kind,
            first,
            first_action,
            then,
            then_action,
            ..
        }) => format!(
            "order {} {first} then {} {then} (kind {kind:?}) (id: {id})",
            first_action.unwrap_or(Action::Start),
            then_action.or(*first_action).unwrap_or(Action::Start)
        ),
        Constraint::Order(Order::Sets { id, kind, sets, .. }) => format!(
            "order set {:?} (kind {kind:?}) (id: {id})",
            sets.iter().map(|s| &s.resources).collect::<Vec<_>>()
        ),
    }
}

/// `resource defaults` / `resource op defaults`: show them, or set `key=value` pairs.
pub fn defaults(target: &Target, ops: bool, words: &[String]) -> anyhow::Result<String> {
    let what = if ops {
        "op defaults"
    } else {
        "resource defaults"
    };
    if words.is_empty() {
        let cfg = current(target)?;
        let attrs = if ops {
            &cfg.op_defaults
        } else {
            &cfg.rsc_defaults
        };
        if attrs.is_empty() {
            return Ok(format!("no {what} set"));
        }
        return Ok(attrs
            .iter()
            .map(|(k, v)| format!("{k}: {v}"))
            .collect::<Vec<_>>()
            .join("\n"));
    }
    let pairs = parse_pairs(words)?;
    let epoch = edit(target, |cfg| {
        merge(
            if ops {
                &mut cfg.op_defaults
            } else {
                &mut cfg.rsc_defaults
            },
            pairs,
        );
        Ok(())
    })?;
    Ok(format!("{what} updated (epoch {epoch})"))
}

/// `resource op add RSC NAME key=value...`: add or replace (same name and interval).
pub fn op_add(target: &Target, rsc: &str, name: &str, words: &[String]) -> anyhow::Result<String> {
    let op = op_def(rsc, name, parse_pairs(words)?)?;
    let epoch = edit(target, |cfg| {
        let p = primitive_mut(cfg, rsc)?;
        p.ops
            .retain(|o| !(o.name == op.name && o.interval_ms == op.interval_ms));
        p.ops.push(op);
        Ok(())
    })?;
    Ok(format!("{rsc}: operation {name} added (epoch {epoch})"))
}

/// `resource op remove RSC NAME [interval=...]`.
pub fn op_remove(
    target: &Target,
    rsc: &str,
    name: &str,
    words: &[String],
) -> anyhow::Result<String> {
    let pairs = parse_pairs(words)?;
    let interval = pairs
        .get("interval")
        .map(|v| halo_model::duration::parse_duration_ms(v))
        .transpose()
        .map_err(|e| anyhow::anyhow!("interval: {e}"))?;
    let epoch = edit(target, |cfg| {
        let p = primitive_mut(cfg, rsc)?;
        let before = p.ops.len();
        p.ops
            .retain(|o| !(o.name == name && interval.is_none_or(|i| o.interval_ms == i)));
        if p.ops.len() == before {
            bail!(
                "{rsc} has no operation {name}{}",
                interval
                    .map(|i| format!(" with interval {i} ms"))
                    .unwrap_or_default()
            );
        }
        Ok(())
    })?;
    Ok(format!("{rsc}: operation {name} removed (epoch {epoch})"))
}

/// `resource failcount show [RSC] [--node NODE]`: the replicated fail counts.
pub fn failcounts(
    target: &Target,
    rsc: Option<&str>,
    node: Option<&str>,
) -> anyhow::Result<String> {
    let value = runtime()?.block_on(target.client()?.state(false))?;
    let state: halo_consensus::ClusterState = serde_json::from_value(value)?;
    let mut lines = Vec::new();
    for (n, per) in &state.failures {
        if node.is_some_and(|x| x != n) {
            continue;
        }
        for (key, f) in per {
            let (r, op) = key.split_once('#').unwrap_or((key.as_str(), ""));
            if rsc.is_some_and(|x| x != r) {
                continue;
            }
            lines.push(format!("{r}: {n}: {op}: {} failure(s)", f.count));
        }
    }
    Ok(if lines.is_empty() {
        "no failures".to_string()
    } else {
        lines.join("\n")
    })
}

/// Take top-level primitive `id` out of the resource list.
fn take_primitive(cfg: &mut Config, id: &str) -> anyhow::Result<Primitive> {
    let at = cfg
        .resources
        .iter()
        .position(|r| r.id() == id)
        .with_context(|| format!("no top-level resource named {id} (see `halo resource`)"))?;
    match cfg.resources.remove(at) {
        Resource::Primitive(p) => Ok(p),
        other => {
            cfg.resources.insert(at, other);
            bail!("{id} is not a primitive: only primitives go into groups")
        }
    }
}

/// `resource group add GROUP RSC... [--before R|--after R]`.
pub fn group_add(
    target: &Target,
    group: &str,
    members: &[String],
    before: Option<&str>,
    after: Option<&str>,
) -> anyhow::Result<String> {
    let epoch = edit(target, |cfg| {
        let mut taken = Vec::new();
        for m in members {
            taken.push(take_primitive(cfg, m)?);
        }
        let at = match cfg.resources.iter().position(|r| r.id() == group) {
            Some(i) => i,
            None => {
                cfg.resources.push(Resource::Group(Group {
                    id: group.to_string(),
                    meta: BTreeMap::new(),
                    members: Vec::new(),
                }));
                cfg.resources.len() - 1
            }
        };
        let Resource::Group(g) = &mut cfg.resources[at] else {
            bail!("{group} exists and is not a group");
        };
        let pos = match (before, after) {
            (Some(b), _) => g
                .members
                .iter()
                .position(|m| m.id == b)
                .with_context(|| format!("{b} is not a member of {group}"))?,
            (None, Some(a)) => {
                g.members
                    .iter()
                    .position(|m| m.id == a)
                    .with_context(|| format!("{a} is not a member of {group}"))?
                    + 1
            }
            (None, None) => g.members.len(),
        };
        for (k, p) in taken.into_iter().enumerate() {
            g.members.insert(pos + k, p);
        }
        Ok(())
    })?;
    Ok(format!(
        "{group}: {} added (epoch {epoch})",
        members.join(", ")
    ))
}

/// `resource group remove GROUP [RSC...]`: members become top-level primitives again.
pub fn group_remove(target: &Target, group: &str, members: &[String]) -> anyhow::Result<String> {
    let epoch = edit(target, |cfg| {
        let at = cfg
            .resources
            .iter()
            .position(|r| matches!(r, Resource::Group(g) if g.id == group))
            .with_context(|| {
                format!("no group named {group} (a cloned group is uncloned first)")
            })?;
        let Resource::Group(g) = &mut cfg.resources[at] else {
            bail!("{group} is not a group");
        };
        let out: Vec<Primitive> = if members.is_empty() {
            std::mem::take(&mut g.members)
        } else {
            let mut out = Vec::new();
            for m in members {
                let i = g
                    .members
                    .iter()
                    .position(|x| x.id == *m)
                    .with_context(|| format!("{m} is not a member of {group}"))?;
                out.push(g.members.remove(i));
            }
            out
        };
        let empty = g.members.is_empty();
        if empty {
            cfg.resources.remove(at);
            cfg.constraints
                .retain(|c| !constraint_refs(c).iter().any(|r| r == group));
        }
        cfg.resources
            .extend(out.into_iter().map(Resource::Primitive));
        Ok(())
    })?;
    Ok(format!("{group} updated (epoch {epoch})"))
}

/// `resource clone|promotable ID [key=value...]`: wrap a top-level primitive or group.
pub fn clone(
    target: &Target,
    id: &str,
    promotable: bool,
    words: &[String],
) -> anyhow::Result<String> {
    let meta = parse_pairs(words)?;
    let cid = format!("{id}-clone");
    let epoch = edit(target, |cfg| {
        let at = cfg
            .resources
            .iter()
            .position(|r| r.id() == id)
            .with_context(|| format!("no top-level resource named {id} (see `halo resource`)"))?;
        if matches!(cfg.resources[at], Resource::Clone(_)) {
            bail!("{id} is a clone already");
        }
        if cfg
            .resources
            .iter()
            .any(|r| r.ids().contains(&cid.as_str()))
        {
            bail!("a resource named {cid} already exists");
        }
        let child = cfg.resources.remove(at);
        cfg.resources.insert(
            at,
            Resource::Clone(CloneRsc {
                id: cid.clone(),
                meta,
                promotable,
                child: Box::new(child),
            }),
        );
        Ok(())
    })?;
    Ok(format!("{id} cloned as {cid} (epoch {epoch})"))
}

/// `resource unclone ID`: the clone (named by itself or its child) gives way to its
/// child; constraints on the clone move to the child.
pub fn unclone(target: &Target, id: &str) -> anyhow::Result<String> {
    let mut clone_id = String::new();
    let epoch = edit(target, |cfg| {
        let at = cfg
            .resources
            .iter()
            .position(|r| matches!(r, Resource::Clone(c) if c.id == id || c.child.id() == id))
            .with_context(|| format!("no clone named {id} or of {id}"))?;
        let Resource::Clone(c) = cfg.resources.remove(at) else {
            bail!("{id} is not a clone");
        };
        let child_id = c.child.id().to_string();
        clone_id = c.id.clone();
        cfg.resources.insert(at, *c.child);
        for con in &mut cfg.constraints {
            rename_in_constraint(con, &clone_id, &child_id);
        }
        Ok(())
    })?;
    Ok(format!("{clone_id} uncloned (epoch {epoch})"))
}

/// Make constraint `c` name `to` wherever it named `from`.
fn rename_in_constraint(c: &mut Constraint, from: &str, to: &str) {
    let fix = |s: &mut String| {
        if s == from {
            *s = to.to_string();
        }
    };
    let fix_sets = |sets: &mut Vec<halo_model::ResourceSet>| {
        for set in sets {
            for r in &mut set.resources {
                if r == from {
                    *r = to.to_string();
                }
            }
        }
    };
    match c {
        Constraint::Location(l) => match &mut l.target {
            LocationTarget::Resource(r) => fix(r),
            LocationTarget::Sets(s) => fix_sets(s),
        },
        Constraint::Colocation(Colocation::Pair { rsc, with_rsc, .. }) => {
            fix(rsc);
            fix(with_rsc);
        }
        Constraint::Colocation(Colocation::Sets { sets, .. }) => fix_sets(sets),
        Constraint::Order(Order::Pair { first, then, .. }) => {
            fix(first);
            fix(then);
        }
        Constraint::Order(Order::Sets { sets, .. }) => fix_sets(sets),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn words(s: &str) -> Vec<String> {
        s.split_whitespace().map(str::to_string).collect()
    }

    #[test]
    fn pcs_options_among_the_create_words() {
        let w = split_create_words(&words(
            "ip=10.0.0.5 op monitor interval=30s --clone interleave=true clone-max=2",
        ))
        .unwrap();
        assert!(w.clone && !w.promotable);
        assert_eq!(w.params.get("ip").map(String::as_str), Some("10.0.0.5"));
        assert_eq!(w.ops.len(), 1);
        assert_eq!(
            w.clone_meta.len(),
            2,
            "the pairs after --clone are the clone's"
        );
        let w = split_create_words(&words("fake=1 --promotable notify=true --disabled")).unwrap();
        assert!(w.clone && w.promotable && w.disabled);
        assert_eq!(w.clone_meta.get("notify").map(String::as_str), Some("true"));
        let w = split_create_words(&words("fake=1 --group g --after a")).unwrap();
        assert_eq!(
            (w.group.as_deref(), w.after.as_deref()),
            (Some("g"), Some("a"))
        );
        assert!(split_create_words(&words("fake=1 --group")).is_err());
        let e = split_create_words(&words("fake=1 --bogus")).err().unwrap();
        assert!(e.to_string().contains("--bogus"), "{e}");
    }
}
