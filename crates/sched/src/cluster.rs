//! The working set: nodes and resources as the scheduler sees them, built from the model.
//!
//! Resources form a tree (clone → group → primitive) flattened into one vector; every
//! decision below refers to resources and nodes by index.

use halo_model::{AgentRef, Attrs, Config, OpDef, Resource, Role, Score, INFINITY};

use crate::SchedError;

pub type NodeId = usize;
pub type RscId = usize;

/// Cluster-wide options, parsed from the properties with Pacemaker's defaults.
#[derive(Debug, Clone)]
pub struct Options {
    pub stonith_enabled: bool,
    /// Fencing needs no device (halo's lease-based self-fencing).
    pub self_fencing: bool,
    pub symmetric: bool,
    pub no_quorum_policy: NoQuorumPolicy,
    pub maintenance_mode: bool,
    pub stop_orphan_resources: bool,
    /// Cancel recurring operations that are no longer configured.
    pub stop_orphan_actions: bool,
    pub start_failure_is_fatal: bool,
    pub startup_fencing: bool,
    /// Fence several nodes at once (concurrent-fencing; Pacemaker 2.1.5: false).
    pub concurrent_fencing: bool,
    /// Probe resources on nodes where their state is unknown (enable-startup-probes).
    pub startup_probes: bool,
    /// Simulating a status whose secret parameters were masked (see `Mode`).
    pub sanitized: bool,
    pub stonith_action: String,
    pub have_quorum: bool,
    pub now: i64,
    /// Fail counts are per resource (status layout before 3.0.13).
    pub legacy_failcounts: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NoQuorumPolicy {
    Stop,
    Freeze,
    Ignore,
    Demote,
    Suicide,
}

/// Pacemaker's boolean spelling (`crm_is_true`).
pub fn is_true(v: &str) -> bool {
    matches!(
        v.to_ascii_lowercase().as_str(),
        "true" | "on" | "yes" | "y" | "1"
    )
}

fn prop_bool(props: &Attrs, name: &str, default: bool) -> bool {
    props.get(name).map(|v| is_true(v)).unwrap_or(default)
}

impl Options {
    pub fn from_config(cfg: &Config, status: &halo_model::Status, now: i64) -> Options {
        let p = &cfg.properties;
        let have_quorum = status.have_quorum;
        let stonith_enabled = prop_bool(p, "stonith-enabled", true);
        let no_quorum_policy = match p.get("no-quorum-policy").map(|s| s.as_str()) {
            Some("freeze") => NoQuorumPolicy::Freeze,
            Some("ignore") => NoQuorumPolicy::Ignore,
            Some("demote") => NoQuorumPolicy::Demote,
            // Suicide needs fencing, and a partition that never had quorum only
            // fences itself when told to panic.
            Some("suicide") if stonith_enabled && (status.quorum_panic || have_quorum) => {
                NoQuorumPolicy::Suicide
            }
            _ => NoQuorumPolicy::Stop,
        };
        let legacy_failcounts = status.legacy_failcounts;
        Options {
            legacy_failcounts,
            self_fencing: status.self_fencing,
            stonith_enabled,
            symmetric: prop_bool(p, "symmetric-cluster", true),
            no_quorum_policy,
            maintenance_mode: prop_bool(p, "maintenance-mode", false),
            stop_orphan_resources: prop_bool(p, "stop-orphan-resources", true),
            stop_orphan_actions: prop_bool(p, "stop-orphan-actions", true),
            start_failure_is_fatal: prop_bool(p, "start-failure-is-fatal", true),
            startup_fencing: prop_bool(p, "startup-fencing", true),
            concurrent_fencing: prop_bool(p, "concurrent-fencing", false),
            startup_probes: prop_bool(p, "enable-startup-probes", true),
            sanitized: false,
            stonith_action: match p.get("stonith-action").map(|s| s.as_str()) {
                Some("poweroff") | Some("off") => "off".to_string(),
                _ => "reboot".to_string(),
            },
            have_quorum,
            now,
        }
    }
}

/// A node and its interpreted state.
#[derive(Debug, Clone, Default)]
pub struct Node {
    pub name: String,
    pub id: String,
    /// Permanent attributes overlaid with transient ones, plus `#uname`, `#id`, `#is_dc`.
    pub attrs: Attrs,
    pub base_score: i64,
    pub online: bool,
    pub unclean: bool,
    pub unseen: bool,
    pub standby: bool,
    pub standby_onfail: bool,
    pub pending: bool,
    pub maintenance: bool,
    pub shutdown: bool,
    pub expected_up: bool,
    pub is_dc: bool,
    /// Why the node is unclean, for the fencing line.
    pub fence_reason: Option<String>,
    /// Resources assigned so far (for load spreading).
    pub num_resources: usize,
}

impl Node {
    /// Pacemaker's `pcmk__node_available` without the score check.
    pub fn available(&self) -> bool {
        self.online && !self.shutdown && !self.unclean && !self.standby && !self.maintenance
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Variant {
    Primitive,
    Group,
    Clone,
}

/// Per-resource failure policy decided from its history.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum FailResponse {
    Ignore,
    Demote,
    Recover,
    Migrate,
    Block,
    Stop,
    Standby,
    Fence,
}

/// What `requires` says a start needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Needs {
    Nothing,
    Quorum,
    Fencing,
}

/// A resource in the working set.
#[derive(Debug, Clone)]
pub struct Rsc {
    pub id: String,
    pub variant: Variant,
    pub parent: Option<RscId>,
    pub children: Vec<RscId>,
    /// Effective meta attributes (own, then parents', then rsc_defaults).
    pub meta: Attrs,
    pub agent: AgentRef,
    pub ops: Vec<OpDef>,
    pub params: Attrs,
    // flags
    pub managed: bool,
    pub unique: bool,
    pub promotable: bool,
    pub orphan: bool,
    pub failed: bool,
    /// Recovery needs a stop (pe_rsc_stop).
    pub stop_needed: bool,
    pub block: bool,
    pub failure_ignored: bool,
    /// The definition changed: restart (start required) on its node.
    pub definition_restart: bool,
    /// The definition changed in a way a reload applies.
    pub reload: bool,
    pub fence_device: bool,
    /// allow-migrate: moves are live migrations when possible.
    pub allow_migrate: bool,
    pub needs: Needs,
    // numbers
    pub priority: i64,
    pub stickiness: i64,
    pub migration_threshold: i64,
    pub failure_timeout: i64,
    // clone options
    pub clone_max: usize,
    pub clone_node_max: usize,
    pub promoted_max: usize,
    pub promoted_node_max: usize,
    pub interleave: bool,
    pub ordered: bool,
    // state
    pub role: Role,
    pub next_role: Option<Role>,
    pub next_role_reason: Option<String>,
    pub running_on: Vec<NodeId>,
    /// Nodes where history says this resource was seen (active or not).
    pub known_on: Vec<NodeId>,
    /// Allowed node scores; `None` means the node is not in the table.
    pub allowed: Vec<Option<i64>>,
    /// Resource discovery per node: the strongest any location gave it.
    pub discover: Vec<halo_model::Discovery>,
    /// Some location makes discovery exclusive: probe and run only on its nodes.
    pub exclusive_discover: bool,
    pub allocated_to: Option<NodeId>,
    pub provisional: bool,
    pub allocating: bool,
    pub merging: bool,
    /// Colocations where this resource is the dependent ("this with").
    pub this_with: Vec<usize>,
    /// Colocations where this resource is the primary ("with this").
    pub with_this: Vec<usize>,
    /// For clone instances: the instance number.
    pub instance: Option<usize>,
    /// Promotion order of a promotable instance (Pacemaker's sort_index).
    pub sort_index: i64,
    /// The id under which history last knew this resource, when it differs from
    /// `id` (an anonymous clone instance found as "rsc:3"; Pacemaker's clone_name).
    pub clone_name: Option<String>,
    /// Why each allowed-node score is what it is (for --explain).
    pub notes: Vec<String>,
}

impl Rsc {
    pub(crate) fn new(id: String, variant: Variant, parent: Option<RscId>, nnodes: usize) -> Rsc {
        Rsc {
            id,
            variant,
            parent,
            children: Vec::new(),
            meta: Attrs::new(),
            agent: AgentRef::default(),
            ops: Vec::new(),
            params: Attrs::new(),
            managed: true,
            unique: true,
            promotable: false,
            orphan: false,
            failed: false,
            stop_needed: false,
            block: false,
            failure_ignored: false,
            definition_restart: false,
            reload: false,
            fence_device: false,
            allow_migrate: false,
            needs: Needs::Quorum,
            priority: 0,
            stickiness: 0,
            migration_threshold: INFINITY,
            failure_timeout: 0,
            clone_max: 0,
            clone_node_max: 1,
            promoted_max: 1,
            promoted_node_max: 1,
            interleave: false,
            ordered: false,
            role: Role::Stopped,
            next_role: None,
            next_role_reason: None,
            running_on: Vec::new(),
            known_on: Vec::new(),
            allowed: vec![None; nnodes],
            discover: vec![halo_model::Discovery::Always; nnodes],
            exclusive_discover: false,
            allocated_to: None,
            provisional: true,
            allocating: false,
            merging: false,
            this_with: Vec::new(),
            with_this: Vec::new(),
            instance: None,
            sort_index: 0,
            clone_name: None,
            notes: Vec::new(),
        }
    }
}

/// Where the operation history of a primitive on a node is in the status, and the
/// order of its operations by call id (the status is not copied).
#[derive(Debug, Clone)]
pub struct History {
    pub rsc: RscId,
    pub node: NodeId,
    /// Index of the node's state in `Status::nodes`.
    pub state: usize,
    /// Index of the resource's history in that node state.
    pub entry: usize,
    /// Indexes of its operations sorted by call id (`None`: already in that order).
    pub order: Option<Vec<u32>>,
}

impl History {
    /// The resource's history entry in the status.
    pub fn raw<'a>(
        &self,
        status: &'a halo_model::Status,
    ) -> Option<&'a halo_model::ResourceHistory> {
        status
            .nodes
            .get(self.state)
            .and_then(|s| s.resources.get(self.entry))
    }

    /// The operations, oldest first.
    pub fn ops<'a>(&self, status: &'a halo_model::Status) -> Vec<&'a halo_model::OpRecord> {
        let Some(h) = self.raw(status) else {
            return Vec::new();
        };
        match &self.order {
            Some(order) => order
                .iter()
                .filter_map(|&i| h.ops.get(i as usize))
                .collect(),
            None => h.ops.iter().collect(),
        }
    }
}

/// A colocation between two resources of the working set.
#[derive(Debug, Clone)]
pub struct Coloc {
    pub id: String,
    pub dependent: RscId,
    pub primary: RscId,
    pub score: i64,
    /// `None` = any role (Started is normalised to None, as Pacemaker does).
    pub dependent_role: Option<Role>,
    pub primary_role: Option<Role>,
    pub influence: bool,
}

/// The whole working set.
#[derive(Debug, Clone)]
pub struct Cluster {
    pub opts: Options,
    pub nodes: Vec<Node>,
    pub rscs: Vec<Rsc>,
    /// Top-level resources in configuration order.
    pub top: Vec<RscId>,
    pub colocs: Vec<Coloc>,
    pub locs: Vec<crate::constraints::Loc>,
    /// Operation history per (primitive, node), as places in the status.
    pub histories: Vec<History>,
    /// (primitive, node) whose fail count is being cleared (definition changed).
    pub failcount_cleared: Vec<(RscId, NodeId)>,
    /// Recurring operations to cancel (orphaned, or the resource is in maintenance).
    pub cancels: Vec<crate::recurring::HistoryOp>,
    /// Recurring operations whose definition changed: started again.
    pub reschedules: Vec<crate::recurring::HistoryOp>,
    /// Recurring operations that must run again now (changed restart parameters).
    pub forced_monitors: Vec<crate::recurring::HistoryOp>,
    /// Failed recurring monitors whose failure expired: (resource, node, history id).
    pub expired_monitors: Vec<(RscId, NodeId, String)>,
    /// Resources to reload in place on a node (reloadable parameters changed).
    pub reloads: Vec<(RscId, NodeId)>,
    /// Fail counts to clear (expired, or the definition changed).
    pub clears: Vec<(RscId, NodeId)>,
    /// Operation histories to remove (orphaned resources, changed agents).
    pub cleanups: Vec<(RscId, NodeId)>,
    /// Configured resources by id (see `index_ids`).
    pub by_id: std::collections::HashMap<String, RscId>,
    pub orders: Vec<crate::constraints::RscOrder>,
    /// Orderings after sets of which any one member is enough.
    pub relaxed: Vec<crate::constraints::RelaxedOrder>,
    pub have_stonith_resource: bool,
    pub rsc_defaults: Attrs,
    pub op_defaults: Attrs,
    /// Problems found while building, reported with the plan.
    pub warnings: Vec<String>,
}

/// Pacemaker's `char2score`, lenient as Pacemaker is for meta attributes.
pub fn char2score(v: Option<&String>) -> i64 {
    match v {
        None => 0,
        Some(s) => Score::parse(s).map(|s| s.value()).unwrap_or_else(|_| {
            // Pacemaker reads the leading integer of a malformed score.
            let d: String = s
                .trim()
                .chars()
                .enumerate()
                .take_while(|(i, c)| c.is_ascii_digit() || (*i == 0 && (*c == '-' || *c == '+')))
                .map(|(_, c)| c)
                .collect();
            d.parse::<i64>().unwrap_or(0).clamp(-INFINITY, INFINITY)
        }),
    }
}

impl Cluster {
    pub fn node_by_name(&self, name: &str) -> Option<NodeId> {
        self.nodes
            .iter()
            .position(|n| n.name == name)
            .or_else(|| self.nodes.iter().position(|n| n.id == name))
    }

    pub fn rsc_by_id(&self, id: &str) -> Option<RscId> {
        self.rscs.iter().position(|r| r.id == id)
    }

    /// Resource named in a constraint: a configured resource, never a clone instance.
    pub fn constraint_rsc(&self, id: &str) -> Option<RscId> {
        if let Some(&r) = self.by_id.get(id) {
            return Some(r);
        }
        self.rscs
            .iter()
            .position(|r| r.id == id && r.instance.is_none() && !r.orphan)
    }

    /// Index configured resources by id for constraint lookups.
    pub fn index_ids(&mut self) {
        self.by_id = self
            .rscs
            .iter()
            .enumerate()
            .filter(|(_, r)| r.instance.is_none() && !r.orphan && !r.id.contains(':'))
            .map(|(i, r)| (r.id.clone(), i))
            .collect();
    }

    /// Whether `anc` is a parent, grandparent, ... of `r`.
    pub fn is_ancestor(&self, anc: RscId, mut r: RscId) -> bool {
        while let Some(p) = self.rscs[r].parent {
            if p == anc {
                return true;
            }
            r = p;
        }
        false
    }

    pub fn top_parent(&self, mut r: RscId) -> RscId {
        while let Some(p) = self.rscs[r].parent {
            r = p;
        }
        r
    }

    pub fn is_clone(&self, r: RscId) -> bool {
        self.rscs[r].variant == Variant::Clone
    }

    /// The clone this resource is an instance (or inside an instance) of.
    pub fn clone_parent(&self, r: RscId) -> Option<RscId> {
        let mut cur = self.rscs[r].parent;
        while let Some(p) = cur {
            if self.rscs[p].variant == Variant::Clone {
                return Some(p);
            }
            cur = self.rscs[p].parent;
        }
        None
    }

    /// All primitives at or below `r`.
    pub fn primitives(&self, r: RscId) -> Vec<RscId> {
        let mut out = Vec::new();
        let mut stack = vec![r];
        while let Some(x) = stack.pop() {
            if self.rscs[x].variant == Variant::Primitive {
                out.push(x);
            } else {
                for &c in self.rscs[x].children.iter().rev() {
                    stack.push(c);
                }
            }
        }
        out
    }

    /// Pacemaker's `resource_location`: add `score` on `node` (all nodes when None),
    /// recursing into children.
    pub fn add_location(&mut self, r: RscId, node: Option<NodeId>, score: i64, tag: &str) {
        match node {
            Some(n) => self.node_score(r, n, score, tag),
            None => {
                for n in 0..self.nodes.len() {
                    self.node_score(r, n, score, tag);
                }
            }
        }
        if node.is_none() && score <= -INFINITY {
            self.rscs[r].allocated_to = None;
        }
    }

    fn node_score(&mut self, r: RscId, n: NodeId, score: i64, tag: &str) {
        let children = self.rscs[r].children.clone();
        for c in children {
            self.node_score(c, n, score, tag);
        }
        // Resources are unpacked before node states: the symmetric default starts from
        // the configured node score; later additions copy the node's current weight.
        let base = if tag == "symmetric_default" {
            self.nodes[n].base_score
        } else {
            self.nodes[n].base_weight()
        };
        let slot = &mut self.rscs[r].allowed[n];
        let cur = slot.unwrap_or(base);
        *slot = Some(Score::new(cur).plus(Score::new(score)).value());
        if score != 0 && tag != "symmetric_default" {
            let name = self.nodes[n].name.clone();
            self.rscs[r].notes.push(format!(
                "{} on {}: {} ({tag})",
                fmt_score(score),
                name,
                sign_word(score)
            ));
        }
    }

    /// Effective value of an operation attribute for `rsc`: the configured op matching
    /// `name`/`interval_ms`, else op_defaults.
    pub fn op_attr(&self, r: RscId, name: &str, interval_ms: u64, key: &str) -> Option<String> {
        let rsc = &self.rscs[r];
        for op in &rsc.ops {
            if op.name == name && op.interval_ms == interval_ms {
                if key == "on-fail" {
                    if let Some(v) = op.attrs.get("on-fail") {
                        return Some(v.clone());
                    }
                    if let Some(of) = op.on_fail {
                        return Some(on_fail_str(of).to_string());
                    }
                }
                if let Some(v) = op.attrs.get(key) {
                    return Some(v.clone());
                }
            }
        }
        self.op_defaults.get(key).cloned()
    }
}

impl Node {
    /// The weight a node brings into a resource's allowed table.
    pub fn base_weight(&self) -> i64 {
        if !self.online || self.shutdown {
            -INFINITY
        } else {
            self.base_score
        }
    }
}

pub fn on_fail_str(o: halo_model::OnFail) -> &'static str {
    use halo_model::OnFail::*;
    match o {
        Ignore => "ignore",
        Block => "block",
        Stop => "stop",
        Restart => "restart",
        Standby => "standby",
        Fence => "fence",
        Demote => "demote",
    }
}

pub fn fmt_score(v: i64) -> String {
    Score::new(v).to_string()
}

fn sign_word(v: i64) -> &'static str {
    if v <= -INFINITY {
        "banned"
    } else if v < 0 {
        "avoided"
    } else if v >= INFINITY {
        "required"
    } else {
        "preferred"
    }
}

/// Build the resource tree of the working set from the configuration.
pub fn build(cfg: &Config, opts: &Options, nodes: Vec<Node>) -> Result<Cluster, SchedError> {
    // Every decision below finds resources by id: two with one id cannot be planned.
    let mut seen = std::collections::HashSet::new();
    for id in cfg.resources.iter().flat_map(|r| r.ids()) {
        if !seen.insert(id) {
            return Err(SchedError::Resource(
                id.to_string(),
                "the id is used by more than one resource".into(),
            ));
        }
    }
    let mut cl = Cluster {
        opts: opts.clone(),
        nodes,
        rscs: Vec::new(),
        top: Vec::new(),
        colocs: Vec::new(),
        locs: Vec::new(),
        histories: Vec::new(),
        failcount_cleared: Vec::new(),
        cancels: Vec::new(),
        reschedules: Vec::new(),
        forced_monitors: Vec::new(),
        expired_monitors: Vec::new(),
        reloads: Vec::new(),
        clears: Vec::new(),
        cleanups: Vec::new(),
        by_id: Default::default(),
        orders: Vec::new(),
        relaxed: Vec::new(),
        have_stonith_resource: opts.self_fencing,
        rsc_defaults: cfg.rsc_defaults.clone(),
        op_defaults: cfg.op_defaults.clone(),
        warnings: Vec::new(),
    };
    for r in &cfg.resources {
        let id = add_resource(&mut cl, r, None, &[])?;
        cl.top.push(id);
    }
    Ok(cl)
}

fn add_resource(
    cl: &mut Cluster,
    r: &Resource,
    parent: Option<RscId>,
    parent_metas: &[&Attrs],
) -> Result<RscId, SchedError> {
    let n = cl.nodes.len();
    match r {
        Resource::Primitive(p) => {
            let idx = cl.rscs.len();
            let mut rsc = Rsc::new(p.id.clone(), Variant::Primitive, parent, n);
            rsc.meta = effective_meta(&p.meta, parent_metas, &cl.rsc_defaults);
            rsc.agent = p.agent.clone();
            rsc.ops = p.ops.clone();
            rsc.params = p.params.clone();
            cl.rscs.push(rsc);
            common_unpack(cl, idx);
            Ok(idx)
        }
        Resource::Group(g) => {
            let idx = cl.rscs.len();
            let mut rsc = Rsc::new(g.id.clone(), Variant::Group, parent, n);
            rsc.meta = effective_meta(&g.meta, parent_metas, &cl.rsc_defaults);
            cl.rscs.push(rsc);
            let mut metas: Vec<&Attrs> = vec![&g.meta];
            metas.extend_from_slice(parent_metas);
            for m in &g.members {
                let c = add_resource(cl, &Resource::Primitive(m.clone()), Some(idx), &metas)?;
                cl.rscs[idx].children.push(c);
            }
            common_unpack(cl, idx);
            Ok(idx)
        }
        Resource::Clone(c) => {
            let idx = cl.rscs.len();
            let mut rsc = Rsc::new(c.id.clone(), Variant::Clone, parent, n);
            rsc.meta = effective_meta(&c.meta, parent_metas, &cl.rsc_defaults);
            rsc.promotable = c.promotable
                || rsc
                    .meta
                    .get("promotable")
                    .map(|v| is_true(v))
                    .unwrap_or(false);
            rsc.unique = rsc
                .meta
                .get("globally-unique")
                .map(|v| is_true(v))
                .unwrap_or(false);
            let nnodes = cl.nodes.len();
            let getn = |k: &str, alt: Option<&str>, d: usize| -> usize {
                rsc.meta
                    .get(k)
                    .or_else(|| alt.and_then(|a| rsc.meta.get(a)))
                    .and_then(|v| v.trim().parse::<i64>().ok())
                    .map(|v| v.max(0) as usize)
                    .unwrap_or(d)
            };
            rsc.clone_max = getn("clone-max", None, nnodes);
            rsc.clone_node_max = getn("clone-node-max", None, 1);
            rsc.promoted_max = getn("promoted-max", Some("master-max"), 1);
            rsc.promoted_node_max = getn("promoted-node-max", Some("master-node-max"), 1);
            rsc.interleave = rsc
                .meta
                .get("interleave")
                .map(|v| is_true(v))
                .unwrap_or(false);
            rsc.ordered = rsc.meta.get("ordered").map(|v| is_true(v)).unwrap_or(false);
            let max = rsc.clone_max;
            let unique = rsc.unique;
            let promotable = rsc.promotable;
            cl.rscs.push(rsc);
            let mut metas: Vec<&Attrs> = vec![&c.meta];
            metas.extend_from_slice(parent_metas);
            for i in 0..max {
                let child = instance_of(&c.child, i);
                let ci = add_resource(cl, &child, Some(idx), &metas)?;
                mark_instance(cl, ci, i, unique, promotable);
                cl.rscs[idx].children.push(ci);
            }
            common_unpack(cl, idx);
            Ok(idx)
        }
    }
}

/// A copy of a clone's child with ids suffixed by `:i`.
pub fn instance_of(child: &Resource, i: usize) -> Resource {
    match child {
        Resource::Primitive(p) => {
            let mut p = p.clone();
            p.id = format!("{}:{}", p.id, i);
            Resource::Primitive(p)
        }
        Resource::Group(g) => {
            let mut g = g.clone();
            g.id = format!("{}:{}", g.id, i);
            for m in &mut g.members {
                m.id = format!("{}:{}", m.id, i);
            }
            Resource::Group(g)
        }
        Resource::Clone(c) => Resource::Clone(c.clone()),
    }
}

pub fn mark_instance(cl: &mut Cluster, r: RscId, i: usize, unique: bool, promotable: bool) {
    cl.rscs[r].instance = Some(i);
    cl.rscs[r].unique = unique;
    cl.rscs[r].promotable = promotable;
    let kids = cl.rscs[r].children.clone();
    for k in kids {
        cl.rscs[k].unique = unique;
        cl.rscs[k].promotable = promotable;
    }
}

fn effective_meta(own: &Attrs, parents: &[&Attrs], defaults: &Attrs) -> Attrs {
    let mut m = own.clone();
    for p in parents {
        for (k, v) in p.iter() {
            m.entry(k.clone()).or_insert_with(|| v.clone());
        }
    }
    for (k, v) in defaults {
        m.entry(k.clone()).or_insert_with(|| v.clone());
    }
    m
}

/// Flags and numbers every resource gets from its meta attributes (`pe__unpack_resource`).
fn common_unpack(cl: &mut Cluster, idx: RscId) {
    let opts = cl.opts.clone();
    let is_stonith = cl.rscs[idx].agent.class == "stonith";
    if is_stonith {
        cl.have_stonith_resource = true;
    }
    let top_promotable = {
        let t = cl.top_parent(idx);
        cl.rscs[t].promotable
    };
    let r = &mut cl.rscs[idx];
    let meta = r.meta.clone();
    r.priority = char2score(meta.get("priority"));
    r.managed = !opts.maintenance_mode;
    if let Some(v) = meta.get("is-managed") {
        if v != "default" {
            r.managed = is_true(v);
        }
    } else if let Some(v) = cl.rsc_defaults.get("is-managed") {
        r.managed = is_true(v);
    }
    if meta.get("maintenance").map(|v| is_true(v)).unwrap_or(false) || opts.maintenance_mode {
        r.managed = false;
    }
    if let Some(v) = meta.get("resource-stickiness") {
        if v != "default" {
            r.stickiness = char2score(Some(v));
        }
    }
    if let Some(v) = meta.get("migration-threshold") {
        if v != "default" {
            let t = char2score(Some(v));
            r.migration_threshold = if t < 0 { 1 } else { t };
        }
    }
    if let Some(v) = meta.get("failure-timeout") {
        r.failure_timeout = (halo_model::duration::parse_duration_ms(v).unwrap_or(0) / 1000) as i64;
    }
    r.fence_device = is_stonith;
    r.allow_migrate = meta.get("allow-migrate").is_some_and(|v| is_true(v));
    let requires = meta.get("requires").map(|s| s.as_str());
    r.needs = match requires {
        Some("nothing") => Needs::Nothing,
        Some("quorum") => Needs::Quorum,
        Some("fencing") | Some("unfencing") if opts.stonith_enabled => Needs::Fencing,
        Some("fencing") => Needs::Fencing,
        _ => {
            if is_stonith {
                Needs::Quorum
            } else if opts.stonith_enabled {
                Needs::Fencing
            } else if opts.no_quorum_policy == NoQuorumPolicy::Ignore {
                Needs::Nothing
            } else {
                Needs::Quorum
            }
        }
    };
    if let Some(t) = meta.get("target-role") {
        // Roles above Started only mean something inside a promotable clone, and
        // Promoted is what such a clone does anyway (Pacemaker's get_target_role).
        // Role names are case-insensitive ("stopped" disables a resource too).
        r.next_role = match halo_model::validate::parse_role(t) {
            Some(Role::Started) | None => None,
            Some(Role::Promoted) | Some(Role::Unpromoted) if !top_promotable => None,
            Some(Role::Promoted) => None,
            other => other,
        };
        if r.next_role.is_some() {
            r.next_role_reason = Some("target-role".into());
        }
    }
    if opts.symmetric {
        // Every node is allowed at its own score (children have theirs already);
        // the same as a location of score 0 on every node, without the work.
        for n in 0..cl.nodes.len() {
            let base = cl.nodes[n].base_score;
            cl.rscs[idx].allowed[n].get_or_insert(base);
        }
    }
}
