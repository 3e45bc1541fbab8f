//! The transition graph: the contract between the scheduler and the controller.
//!
//! Every operation the controller runs (resource operations, fencing, shutdowns) and
//! every pseudo-action (completion points of groups and clones, stops implied by
//! fencing), each with the actions it must wait for. Built from the scheduler's action
//! graph the way Pacemaker's graph producer builds its transition: an action is in the
//! graph when it is required and runnable; an ordering is an input when it can still
//! matter. Required actions that cannot run are kept too, marked blocked, so that
//! operators see what is missing; the controller never runs them.
//!
//! Ids are positions in [`TransitionGraph::actions`] and stable for the same input;
//! resources and nodes are named by their configured names.

use std::collections::{BTreeMap, HashMap};
use std::fmt::Write as _;
use std::sync::Arc;

use serde::Serialize;

use crate::actions::{self, Act, Graph, Task};
use crate::cluster::{Cluster, RscId, Variant};

/// The version tag of the JSON form.
pub const GRAPH_FORMAT: &str = "halo-graph/1";

/// A transition: the actions to run and what each waits for.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct TransitionGraph {
    /// Always [`GRAPH_FORMAT`].
    pub format: &'static str,
    pub actions: Vec<GraphAction>,
}

/// One action of the transition.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct GraphAction {
    /// Position in the graph's action list.
    pub id: usize,
    /// Pacemaker's operation key (`vip_start_0`, `db:1_monitor_10000`,
    /// `grp_running_0`, `stonith-node1-reboot`, ...).
    pub key: String,
    /// crm_simulate's name for the action (its DOT label).
    pub label: String,
    /// The node it runs on (pseudo-actions of collective resources have none).
    pub node: Option<String>,
    pub kind: ActionKind,
    /// Whether the controller runs it (false: required but blocked).
    pub runnable: bool,
    /// Why a blocked action cannot run.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub blocked_by: Option<String>,
    /// Ids of the actions that must complete before this one may begin. An input can
    /// be a blocked action (as in Pacemaker's graphs): this action then waits until a
    /// new transition replaces this one.
    pub inputs: Vec<usize>,
    /// Ids of actions ordered before this one whose ordering is not an input (one of
    /// the two is blocked); shown dashed in DOT, never waited for.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub after: Vec<usize>,
}

/// What an action is.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ActionKind {
    /// An operation of a resource agent on a node (shared by the actions that run the
    /// same operation of the same resource on different nodes).
    Resource(Arc<ResourceOp>),
    /// Fencing of a node.
    Fence { action: String },
    /// A clean shutdown of a node's cluster stack.
    Shutdown,
    /// Probe every resource on the node again (old status with probe_complete=false).
    Reprobe,
    /// A completion point with nothing to run (group/clone pseudo-actions, a stop
    /// implied by fencing).
    Pseudo {
        resource: Option<String>,
        task: String,
    },
}

/// Everything needed to run a resource operation without reading the configuration.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct ResourceOp {
    /// The configured resource id (for a clone instance, the primitive's id).
    pub resource: String,
    /// The instance id for clone instances (`db:1`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub instance: Option<String>,
    pub class: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub provider: Option<String>,
    pub agent_type: String,
    /// start, stop, promote, demote, monitor, cancel, delete, clear_failcount.
    pub task: String,
    /// For a cancel: the task of the recurring operation it stops.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cancel_task: Option<String>,
    /// Recurring interval (0: one-shot; a monitor with 0 on a node whose state is
    /// unknown is a probe).
    pub interval_ms: u64,
    pub probe: bool,
    pub timeout_ms: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub on_fail: Option<String>,
    /// The result the operation expects when not success (7 not running, 8 promoted).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub expected_rc: Option<i32>,
    /// Resolved instance attributes (OCF_RESKEY_*).
    pub params: BTreeMap<String, String>,
    /// Meta attributes as Pacemaker passes them to agents (OCF_RESKEY_CRM_meta_*),
    /// without the prefix; `on_node` and `on_node_uuid` are the action's node.
    pub meta: BTreeMap<String, String>,
}

impl TransitionGraph {
    /// The graph in crm_simulate's DOT form (`crm_simulate -D`).
    pub fn to_dot(&self) -> String {
        let mut out = String::from(" digraph \"g\" {\n");
        for a in &self.actions {
            let font = if matches!(a.kind, ActionKind::Pseudo { .. }) {
                "orange"
            } else {
                "black"
            };
            let (style, color) = if a.runnable {
                ("bold", "green")
            } else {
                ("dashed", "red")
            };
            let _ = writeln!(
                out,
                "\"{}\" [ style={style} color=\"{color}\" fontcolor=\"{font}\"]",
                a.label
            );
        }
        for a in &self.actions {
            for (list, style) in [(&a.inputs, "bold"), (&a.after, "dashed")] {
                for &i in list {
                    let _ = writeln!(
                        out,
                        "\"{}\" -> \"{}\" [ style = {style}]",
                        self.actions[i].label, a.label
                    );
                }
            }
        }
        out.push_str("}\n");
        out
    }

    /// The action with this label, if any.
    pub fn by_label(&self, label: &str) -> Option<&GraphAction> {
        self.actions.iter().find(|a| a.label == label)
    }
}

/// Build the transition graph from the scheduler's action graph.
pub fn build(cl: &Cluster, g: &Graph) -> TransitionGraph {
    let n = g.acts.len();
    // Inputs of each action, one per first action, flags merged (Pacemaker
    // de-duplicates an action's inputs before writing the graph).
    let mut pairs: Vec<(usize, usize, u32)> = g
        .orders
        .iter()
        .map(|o| (o.then, o.first, o.flags))
        .collect();
    pairs.sort_unstable_by_key(|&(then, first, _)| (then, first));
    let mut merged: Vec<(usize, usize, u32)> = Vec::with_capacity(pairs.len());
    for (then, first, flags) in pairs {
        match merged.last_mut() {
            Some(last) if last.0 == then && last.1 == first => last.2 |= flags,
            _ => merged.push((then, first, flags)),
        }
    }
    // The inputs of action `a` are merged[starts[a]..starts[a + 1]].
    let mut starts = vec![0usize; n + 1];
    for &(then, _, _) in &merged {
        starts[then + 1] += 1;
    }
    for a in 0..n {
        starts[a + 1] += starts[a];
    }
    let in_graph: Vec<bool> = (0..n).map(|a| should_add_action(cl, &g.acts[a])).collect();
    let printed: Vec<bool> = (0..n)
        .map(|a| {
            let act = &g.acts[a];
            in_graph[a] || (!act.optional && act.rsc.is_none_or(|r| cl.rscs[r].managed))
        })
        .collect();
    let mut ids = vec![usize::MAX; n];
    let mut out = Vec::new();
    let mut ops = OpCache::default();
    for a in (0..n).filter(|&a| printed[a]) {
        ids[a] = out.len();
        let mut action = describe(cl, g, a, in_graph[a], &mut ops);
        action.id = ids[a];
        out.push(action);
    }
    for a in (0..n).filter(|&a| printed[a]) {
        let mut ins = Vec::new();
        let mut after = Vec::new();
        for &(_, first, flags) in &merged[starts[a]..starts[a + 1]] {
            let link = if in_graph[a] {
                should_add_input(cl, g, a, first, flags, &in_graph)
            } else {
                Link::Ordering
            };
            match link {
                Link::Input if printed[first] => ins.push(ids[first]),
                Link::Input | Link::Ordering if flags != 0 && printed[first] => {
                    after.push(ids[first])
                }
                _ => {}
            }
        }
        out[ids[a]].inputs = ins;
        out[ids[a]].after = after;
    }
    TransitionGraph {
        format: GRAPH_FORMAT,
        actions: out,
    }
}

/// Pacemaker's `should_add_action_to_graph`.
fn should_add_action(cl: &Cluster, act: &Act) -> bool {
    if !act.runnable || (act.optional && !act.print_always) {
        return false;
    }
    if let Some(r) = act.rsc {
        // Unmanaged resources run only monitors and cancellations of them.
        if !cl.rscs[r].managed && act.task != Task::Monitor && act.interval_ms == 0 {
            return false;
        }
    }
    if act.pseudo || matches!(act.task, Task::Fence | Task::Shutdown) {
        return true;
    }
    match act.node {
        None => false,
        Some(n) => cl.nodes[n].online && !cl.nodes[n].unclean,
    }
}

/// What an ordering is in the graph.
enum Link {
    /// 'then' waits for 'first'.
    Input,
    /// An ordering that is not an input.
    Ordering,
    /// An ordering that turned out not to apply (Pacemaker sets its type to none).
    Disabled,
}

/// Pacemaker's `should_add_input_to_graph`.
fn should_add_input(
    cl: &Cluster,
    g: &Graph,
    then: usize,
    first: usize,
    flags: u32,
    in_graph: &[bool],
) -> Link {
    let f = &g.acts[first];
    let t = &g.acts[then];
    let can_change = flags
        & !(actions::FLAG_IMPLIES_FIRST_PRINTED
            | actions::FLAG_IMPLIES_THEN_PRINTED
            | actions::FLAG_OPTIONAL
            | actions::FLAG_INTERLEAVED)
        != 0;
    if flags == 0 {
        return Link::Disabled;
    }
    if !f.runnable && !can_change {
        return Link::Ordering;
    }
    if !f.runnable && flags & actions::FLAG_ONE_OR_MORE != 0 {
        return Link::Ordering;
    }
    if !f.runnable && flags & actions::FLAG_IMPLIES_FIRST_MIGRATABLE != 0 {
        return Link::Ordering;
    }
    if f.migrate_runnable && flags & actions::FLAG_APPLY_FIRST_NON_MIGRATABLE != 0 {
        return Link::Ordering;
    }
    if flags == actions::FLAG_OPTIONAL && f.migrate_runnable && f.task == Task::Stop {
        // A stop that a migration replaces does not hold anything up.
        return Link::Ordering;
    }
    if flags == actions::FLAG_ANTI_COLOCATION {
        let other_node = f.node.is_some() && t.node.is_some() && f.node != t.node;
        return if other_node || f.optional {
            Link::Disabled
        } else {
            Link::Input
        };
    }
    if let (Some(fr), Some(tr)) = (f.rsc, t.rsc) {
        if fr != tr
            && cl.rscs[fr].failed
            && !cl.rscs[fr].managed
            && f.task == Task::Stop
            && cl.rscs[tr].variant == Variant::Clone
        {
            return Link::Ordering;
        }
    }
    if f.optional && !f.print_always && !in_graph[first] {
        return Link::Ordering;
    }
    Link::Input
}

/// The id under which an action's resource is known (Pacemaker's clone_name when
/// history knew an instance by another name).
fn rsc_label(cl: &Cluster, r: RscId) -> &str {
    cl.rscs[r].clone_name.as_deref().unwrap_or(&cl.rscs[r].id)
}

/// Pacemaker's operation key of an action.
pub fn op_key(cl: &Cluster, act: &Act) -> String {
    if let Some(k) = &act.key {
        return k.clone();
    }
    if let (Some(r), Some(tag)) = (act.rsc, act.notify) {
        return if act.node.is_none() {
            format!("{}_{}_notify_{}_0", cl.rscs[r].id, tag.kind(), tag.key_op())
        } else {
            format!(
                "{}_{}_notify_{}_0",
                cl.rscs[r].id,
                tag.phase(),
                tag.op.as_str()
            )
        };
    }
    match (act.rsc, act.task) {
        (None, Task::Fence) => format!(
            "stonith-{}-{}",
            act.node.map(|n| cl.nodes[n].name.as_str()).unwrap_or(""),
            act.fence_action.as_deref().unwrap_or("reboot")
        ),
        (None, t) => t.as_str().to_string(),
        (Some(r), Task::Cancel) => format!("{}_monitor_{}", rsc_label(cl, r), act.interval_ms),
        (Some(r), t) => format!("{}_{}_{}", rsc_label(cl, r), t.as_str(), act.interval_ms),
    }
}

/// crm_simulate's name for an action.
fn label(cl: &Cluster, act: &Act, key: &str) -> String {
    let host = match act.node {
        Some(n) => Some(cl.nodes[n].name.as_str()),
        None if act.pseudo => None,
        None => Some("<none>"),
    };
    let renamed;
    let mut key = key;
    if let (Some(r), Some(tag), Some(_)) = (act.rsc, act.notify, act.node) {
        // crm_simulate names an instance known by another id with the key words of
        // the clone's notification.
        if let Some(name) = &cl.rscs[r].clone_name {
            renamed = format!("{name}_{}_notify_{}_0", tag.phase(), tag.key_op());
            key = &renamed;
        }
    }
    match (act.task, act.rsc, host) {
        (Task::Fence, None, Some(h)) => format!(
            "stonith '{}' {h}",
            act.fence_action.as_deref().unwrap_or("reboot")
        ),
        (Task::Cancel, _, Some(h)) => format!("Cancel {key} {h}"),
        (Task::Shutdown, None, Some(h)) => format!("do_shutdown {h}"),
        (_, _, Some(h)) => format!("{key} {h}"),
        (_, _, None) => key.to_string(),
    }
}

/// Resource operations already described, by what makes them differ.
type OpCache =
    HashMap<(RscId, Task, u64, Option<i32>, Option<usize>, Option<bool>), Arc<ResourceOp>>;

fn describe(cl: &Cluster, g: &Graph, a: usize, runnable: bool, ops: &mut OpCache) -> GraphAction {
    let act = &g.acts[a];
    let kind = match (act.rsc, act.task) {
        (None, Task::Fence) => ActionKind::Fence {
            action: act.fence_action.clone().unwrap_or_else(|| "reboot".into()),
        },
        (None, Task::Shutdown) => ActionKind::Shutdown,
        (None, Task::Reprobe) => ActionKind::Reprobe,
        (rsc, task)
            if act.pseudo || rsc.is_none_or(|r| cl.rscs[r].variant != Variant::Primitive) =>
        {
            ActionKind::Pseudo {
                resource: rsc.map(|r| cl.rscs[r].id.clone()),
                task: task.as_str().to_string(),
            }
        }
        (Some(r), task) => {
            let post = act.notify.map(|t| t.post);
            let key = (
                r,
                task,
                act.interval_ms,
                act.expected_rc,
                act.notify_env,
                post,
            );
            let op = ops
                .entry(key)
                .or_insert_with(|| Arc::new(resource_op(cl, g, act, r)));
            ActionKind::Resource(Arc::clone(op))
        }
        (None, task) => ActionKind::Pseudo {
            resource: None,
            task: task.as_str().to_string(),
        },
    };
    let blocked_by = if runnable {
        None
    } else {
        act.reason
            .clone()
            .or_else(|| {
                act.blocked_by
                    .map(|b| format!("{} cannot run", g.describe(cl, b)))
            })
            .or_else(|| Some("its node cannot run it".into()))
    };
    let key = op_key(cl, act);
    GraphAction {
        id: 0,
        label: label(cl, act, &key),
        key,
        node: act.node.map(|n| cl.nodes[n].name.clone()),
        kind,
        runnable,
        blocked_by,
        inputs: Vec::new(),
        after: Vec::new(),
    }
}

fn resource_op(cl: &Cluster, g: &Graph, act: &Act, r: RscId) -> ResourceOp {
    let rsc = &cl.rscs[r];
    let (task, cancel_task) = match act.task {
        Task::Cancel => ("cancel".to_string(), Some("monitor".to_string())),
        t => (t.as_str().to_string(), None),
    };
    let op_name = cancel_task.as_deref().unwrap_or(&task);
    let interval_ms = act.interval_ms;
    let timeout_ms = op_timeout(cl, r, op_name, interval_ms);
    let on_fail = cl.op_attr(r, op_name, interval_ms, "on-fail");
    let mut meta = BTreeMap::new();
    meta.insert("timeout".to_string(), timeout_ms.to_string());
    meta.insert("interval".to_string(), interval_ms.to_string());
    meta.insert("name".to_string(), op_name.to_string());
    if let Some(rc) = act.expected_rc {
        meta.insert("op_target_rc".to_string(), rc.to_string());
    }
    if let Some(tag) = act.notify {
        meta.insert("notify_type".to_string(), tag.phase().to_string());
        meta.insert("notify_operation".to_string(), tag.op.as_str().to_string());
    }
    if let Some(env) = act.notify_env.and_then(|e| g.notify_env.get(e)) {
        for (k, v) in env {
            meta.insert(k.clone(), v.clone());
        }
    }
    if let Some(cp) = cl.clone_parent(r) {
        let c = &cl.rscs[cp];
        let b = |v: bool| if v { "true" } else { "false" }.to_string();
        meta.insert("clone".to_string(), instance_number(cl, r));
        meta.insert("clone_max".to_string(), c.clone_max.to_string());
        meta.insert("clone_node_max".to_string(), c.clone_node_max.to_string());
        meta.insert("globally_unique".to_string(), b(c.unique));
        meta.insert("notify".to_string(), b(crate::notify::enabled(cl, cp)));
        if c.promotable {
            for (k, v) in [
                ("promoted_max", c.promoted_max),
                ("promoted_node_max", c.promoted_node_max),
                ("master_max", c.promoted_max),
                ("master_node_max", c.promoted_node_max),
            ] {
                meta.insert(k.to_string(), v.to_string());
            }
        }
    }
    let instance = cl.clone_parent(r).map(|_| rsc.id.clone());
    let resource = match &instance {
        Some(id) => crate::unpack::strip_instance(id).to_string(),
        None => rsc.id.clone(),
    };
    ResourceOp {
        resource,
        instance,
        class: rsc.agent.class.clone(),
        provider: rsc.agent.provider.clone(),
        agent_type: rsc.agent.kind.clone(),
        task,
        cancel_task,
        interval_ms,
        probe: act.task == Task::Monitor && interval_ms == 0,
        timeout_ms,
        on_fail,
        expected_rc: act.expected_rc,
        params: rsc
            .params
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect(),
        meta,
    }
}

/// An operation's timeout (Pacemaker's rules): its own, for a probe that of the
/// most frequent monitor, for a fence device's start or probe `pcmk_monitor_timeout`,
/// else the operation defaults', else 20 s.
fn op_timeout(cl: &Cluster, r: RscId, name: &str, interval_ms: u64) -> u64 {
    let rsc = &cl.rscs[r];
    let probe = name == "monitor" && interval_ms == 0;
    let parse = |v: &str| halo_model::duration::parse_duration_ms(v).ok();
    if rsc.agent.class == "stonith" && (probe || name == "start") {
        if let Some(t) = rsc
            .params
            .get("pcmk_monitor_timeout")
            .and_then(|v| parse(v))
        {
            return t;
        }
    }
    let own = rsc
        .ops
        .iter()
        .find(|o| o.name == name && o.interval_ms == interval_ms);
    let def = own.or_else(|| {
        if !probe {
            return None;
        }
        rsc.ops
            .iter()
            .filter(|o| o.name == "monitor" && o.interval_ms > 0 && o.enabled)
            .min_by_key(|o| o.interval_ms)
    });
    def.and_then(|d| d.timeout_ms)
        .or_else(|| cl.op_defaults.get("timeout").and_then(|v| parse(v)))
        .unwrap_or(20_000)
}

/// The instance number of the clone instance containing `r`.
fn instance_number(cl: &Cluster, mut r: RscId) -> String {
    loop {
        if let Some(i) = cl.rscs[r].instance {
            return i.to_string();
        }
        match cl.rscs[r].parent {
            Some(p) => r = p,
            None => return "0".into(),
        }
    }
}
