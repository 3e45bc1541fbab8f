//! halo's scheduler: a pure, deterministic function from (configuration, status) to a
//! transition, with Pacemaker's placement and recovery semantics.
//!
//! Invariant: no I/O, no clock (the caller passes "now"), no randomness. The same input
//! always yields the same plan.
//!
//! Pipeline (mirrors Pacemaker's scheduler so its regression cases apply):
//! 1. [`unpack`]: node states and resource histories → online/clean nodes, where each
//!    resource is active, failures, fail counts;
//! 2. [`constraints`]: locations, colocations, orderings;
//! 3. [`assign`] (+ [`clone`], [`promotable`]): allowed-node scores, stickiness,
//!    colocation, and the choice of a node (and role) for every resource;
//! 4. [`actions`]: start/stop/promote/demote/fence actions and the flow of
//!    "optional"/"runnable" along orderings;
//! 5. [`summary`]: the crm_simulate-style transition summary.

pub mod actions;
pub mod assign;
pub mod clone;
pub mod cluster;
pub mod constraints;
pub mod digest;
pub mod explain;
pub mod graph;
pub mod migration;
pub mod notify;
pub mod probes;
pub mod promotable;
pub mod recurring;
pub mod render;
pub mod rules;
pub mod summary;
pub mod unpack;

use halo_model::{Config, Status, INFINITY};

pub use summary::Change;

/// Why the scheduler could not plan.
#[derive(Debug, thiserror::Error)]
pub enum SchedError {
    #[error("HALO-E100 resource {0}: {1}")]
    Resource(String, String),
}

/// What the scheduler decided.
#[derive(Debug, Clone)]
pub struct Plan {
    /// The transition summary, in crm_simulate's order (fencing, then resources).
    pub changes: Vec<Change>,
    /// Problems noticed while planning (constraints ignored, ...).
    pub warnings: Vec<String>,
    cluster: cluster::Cluster,
    graph: actions::Graph,
    scores: Vec<(cluster::RscId, Vec<i64>)>,
}

impl Plan {
    /// Allocation scores per resource and node, as computed before assignment.
    pub fn scores(&self) -> Vec<(String, Vec<(String, i64)>)> {
        let cl = &self.cluster;
        self.scores
            .iter()
            .map(|(r, per_node)| {
                let named = per_node
                    .iter()
                    .enumerate()
                    .map(|(n, &w)| (cl.nodes[n].name.clone(), w))
                    .collect();
                (cl.rscs[*r].id.clone(), named)
            })
            .collect()
    }

    /// Render "Current cluster status" (`after = false`) or the revised status.
    pub fn status_text(&self, after: bool) -> String {
        render::status(&self.cluster, &self.graph, after)
    }

    /// Every primitive instance as the current status shows it.
    pub fn resources(&self) -> Vec<render::RscView> {
        render::views(&self.cluster, &self.graph)
    }

    /// Every node's state (standby, maintenance, unclean, ...).
    pub fn nodes(&self) -> Vec<render::NodeView> {
        render::node_views(&self.cluster)
    }

    /// The transition graph: every action with the actions it waits for.
    pub fn graph(&self) -> graph::TransitionGraph {
        graph::build(&self.cluster, &self.graph)
    }

    /// Explain in plain words where a resource is and why.
    pub fn explain(&self, rsc: &str) -> Option<String> {
        explain::explain(&self.cluster, &self.graph, rsc)
    }
}

/// How the scheduler reads recorded operations.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// A live cluster: every parameter change counts, secret ones included.
    Live,
    /// A simulation of a status dump whose secret parameters were masked
    /// (crm_simulate's default): a change only in secret parameters is no change.
    Simulation,
}

/// Plan a transition for a live cluster. `now` is the scheduler's clock in seconds
/// since the epoch, used when the status carries no time of its own (failure-timeout
/// expiry).
pub fn schedule(cfg: &Config, status: &Status, now: i64) -> Result<Plan, SchedError> {
    schedule_in(cfg, status, now, Mode::Live)
}

/// Plan a transition the way crm_simulate does ([`Mode::Simulation`]).
pub fn simulate(cfg: &Config, status: &Status, now: i64) -> Result<Plan, SchedError> {
    schedule_in(cfg, status, now, Mode::Simulation)
}

/// Plan a transition in the given mode.
pub fn schedule_in(
    cfg: &Config,
    status: &Status,
    now: i64,
    mode: Mode,
) -> Result<Plan, SchedError> {
    let mut opts = cluster::Options::from_config(cfg, status, status.now.unwrap_or(now));
    opts.sanitized = mode == Mode::Simulation;
    let nodes = unpack::nodes(cfg, status, &opts);
    let mut cl = cluster::build(cfg, &opts, nodes)?;
    unpack::histories(&mut cl, status);
    unpack::config_changes(&mut cl, status);
    cl.index_ids();
    constraints::unpack(&mut cl, cfg);

    // Node criteria: locations, stickiness, failure thresholds.
    constraints::apply_locations(&mut cl);
    apply_stickiness(&mut cl);
    apply_failure_thresholds(&mut cl);
    apply_exclusive_discovery(&mut cl);
    let scores = snapshot_scores(&cl);

    for t in cl.top.clone() {
        actions::internal_constraints(&mut cl, t);
    }
    migration::order_equivalents(&mut cl);
    for t in cl.top.clone() {
        cl.assign(t, None);
    }
    let mut g = actions::Graph::default();
    // Room for a probe on every node and a few actions of each primitive.
    let primitives = cl
        .rscs
        .iter()
        .filter(|r| r.variant == cluster::Variant::Primitive)
        .count();
    g.acts.reserve(primitives * (cl.nodes.len() + 4));
    recurring::from_history(&mut cl, &mut g, status);
    probes::schedule(&mut cl, &mut g);
    for t in cl.top.clone() {
        actions::create_actions(&mut cl, &mut g, t);
    }
    actions::schedule_fencing(&cl, &mut g);
    actions::inhibit_interleaved_instances(&mut cl, &mut g);
    actions::apply_orderings(&cl, &mut g);
    probes::order(&cl, &mut g);
    // Unrunnable starts block mandatory colocation dependents, which may make more
    // actions unrunnable along orderings: repeat until nothing changes.
    loop {
        actions::update_all(&cl, &mut g);
        if !actions::block_colocation_dependents(&cl, &mut g) {
            break;
        }
    }
    notify::create_all(&cl, &mut g);
    let changes = summary::transition_summary(&cl, &g);
    Ok(Plan {
        changes,
        warnings: cl.warnings.clone(),
        cluster: cl,
        graph: g,
        scores,
    })
}

fn apply_stickiness(cl: &mut cluster::Cluster) {
    for r in 0..cl.rscs.len() {
        let rsc = &cl.rscs[r];
        if rsc.variant != cluster::Variant::Primitive
            || !rsc.managed
            || rsc.stickiness < 1
            || rsc.running_on.len() != 1
        {
            continue;
        }
        let node = rsc.running_on[0];
        if !cl.opts.symmetric && rsc.allowed[node].is_none() {
            continue;
        }
        let s = rsc.stickiness;
        cl.add_location(r, Some(node), s, "stickiness");
    }
}

/// A resource with exclusive discovery runs only where a location made discovery
/// exclusive (Pacemaker's `apply_exclusive_discovery`).
fn apply_exclusive_discovery(cl: &mut cluster::Cluster) {
    fn apply(
        cl: &mut cluster::Cluster,
        r: cluster::RscId,
        n: cluster::NodeId,
        top_exclusive: bool,
    ) {
        if !(cl.rscs[r].exclusive_discover || top_exclusive) {
            return;
        }
        for k in cl.rscs[r].children.clone() {
            apply(cl, k, n, top_exclusive);
        }
        if cl.rscs[r].allowed[n].is_some()
            && cl.rscs[r].discover[n] != halo_model::Discovery::Exclusive
        {
            cl.rscs[r].allowed[n] = Some(-INFINITY);
        }
    }
    for n in 0..cl.nodes.len() {
        for t in cl.top.clone() {
            let top_exclusive = cl.rscs[t].exclusive_discover;
            apply(cl, t, n, top_exclusive);
        }
    }
}

fn apply_failure_thresholds(cl: &mut cluster::Cluster) {
    for n in 0..cl.nodes.len() {
        for r in 0..cl.rscs.len() {
            let rsc = &cl.rscs[r];
            if rsc.variant != cluster::Variant::Primitive {
                continue;
            }
            if rsc.migration_threshold == 0
                || rsc.failure_ignored
                || cl.failcount_cleared.contains(&(r, n))
            {
                continue;
            }
            let (count, _) = unpack::failcount(cl, r, n, true);
            if count <= 0 {
                continue;
            }
            let ban = if cl.rscs[r].unique {
                r
            } else {
                cl.top_parent(r)
            };
            if cl.rscs[r].migration_threshold - count <= 0 {
                let why = format!(
                    "failed {} time(s) on {} (migration-threshold {})",
                    cluster::fmt_score(count),
                    cl.nodes[n].name,
                    cluster::fmt_score(cl.rscs[r].migration_threshold)
                );
                cl.rscs[ban].notes.push(why);
                cl.add_location(ban, Some(n), -INFINITY, "__fail_limit__");
            }
        }
    }
}

/// Allocation scores before assignment, per resource (not orphans) and node.
fn snapshot_scores(cl: &cluster::Cluster) -> Vec<(cluster::RscId, Vec<i64>)> {
    cl.rscs
        .iter()
        .enumerate()
        .filter(|(_, r)| !r.orphan)
        .map(|(i, r)| {
            let per_node = (0..cl.nodes.len())
                .map(|n| {
                    if cl.nodes[n].available() {
                        r.allowed[n].unwrap_or(-INFINITY)
                    } else {
                        -INFINITY
                    }
                })
                .collect();
            (i, per_node)
        })
        .collect()
}
