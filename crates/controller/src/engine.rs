//! The pure core of the DC: runs one transition graph. Events in (a plan, a result, a
//! change underneath, the time), commands out (dispatch this action, fence this node,
//! the transition is over). No I/O and no clock of its own: `now` is passed in, in
//! milliseconds on the caller's monotonic clock, so the whole loop can run under a
//! deterministic simulator.
//!
//! Rules (pacemaker-controld's): an action runs once every input completed; a blocked
//! action never runs, nor anything waiting for it; independent actions run in
//! parallel up to `batch-limit` (and `migration-limit` for migrations); a failed or
//! timed-out action, or any change of the state that the transition did not cause,
//! aborts it: nothing new is dispatched, the actions in flight are awaited, and then
//! the caller plans again from the new state.

use halo_sched::graph::{ActionKind, GraphAction, TransitionGraph};

/// Limits from the cluster properties.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Most actions in flight at once (`batch-limit`; 0 means no limit).
    pub batch_limit: usize,
    /// Most migrations in flight at once (`migration-limit`; `None` means no limit).
    pub migration_limit: Option<usize>,
    /// Added to an operation's own timeout before the DC gives up waiting for its result
    /// (the node's executor enforces the timeout itself; this covers delivery).
    pub grace_ms: u64,
    /// How long fencing may take (`stonith-timeout`).
    pub fence_timeout_ms: u64,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            batch_limit: 0,
            migration_limit: None,
            grace_ms: 10_000,
            fence_timeout_ms: 60_000,
        }
    }
}

impl Limits {
    /// Limits as the cluster properties set them.
    pub fn from_properties(props: &halo_model::Attrs) -> Limits {
        let num = |k: &str| props.get(k).and_then(|v| v.trim().parse::<i64>().ok());
        Limits {
            batch_limit: num("batch-limit").filter(|n| *n > 0).unwrap_or(0) as usize,
            migration_limit: num("migration-limit")
                .filter(|n| *n >= 0)
                .map(|n| n as usize),
            fence_timeout_ms: props
                .get("stonith-timeout")
                .and_then(|v| halo_model::duration::parse_duration_ms(v).ok())
                .unwrap_or(60_000),
            ..Limits::default()
        }
    }
}

/// Where one action is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ActionState {
    Waiting,
    /// Dispatched; the DC gives up at `deadline`.
    InFlight {
        deadline: u64,
    },
    Done,
    Failed,
}

/// What the core asks its shell to do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    /// Send this resource action to its node's executor.
    Dispatch { transition: u64, action: usize },
    /// Fence this node (by a device, or by waiting out its lease).
    Fence {
        transition: u64,
        action: usize,
        node: String,
    },
    /// The transition is over; plan again when `replan` (it was aborted, or it ran
    /// actions whose results the next plan must see).
    Finished { transition: u64, replan: bool },
}

/// How an action ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Ok,
    /// The operation failed or answered what the plan did not expect.
    Failed,
}

/// One transition being executed.
#[derive(Debug, Clone)]
pub struct Transition {
    pub id: u64,
    pub graph: TransitionGraph,
    pub states: Vec<ActionState>,
    pub aborted: Option<String>,
    finished: bool,
    ran_any: bool,
}

impl Transition {
    /// A transition of `graph`. Nothing runs until [`Transition::poll`].
    pub fn new(id: u64, graph: TransitionGraph) -> Transition {
        let states = vec![ActionState::Waiting; graph.actions.len()];
        Transition {
            id,
            graph,
            states,
            aborted: None,
            finished: false,
            ran_any: false,
        }
    }

    /// Whether the graph has anything to run at all.
    pub fn is_empty(&self) -> bool {
        !self
            .graph
            .actions
            .iter()
            .any(|a| a.runnable && !matches!(a.kind, ActionKind::Pseudo { .. }))
    }

    /// Whether the action was dispatched and has not ended yet.
    pub fn in_flight(&self, action: usize) -> bool {
        matches!(self.states.get(action), Some(ActionState::InFlight { .. }))
    }

    pub fn is_finished(&self) -> bool {
        self.finished
    }

    /// Stop dispatching; in-flight actions are still awaited.
    pub fn abort(&mut self, reason: impl Into<String>) {
        if self.aborted.is_none() {
            self.aborted = Some(reason.into());
        }
    }

    /// Record how an action ended. Results for actions not in flight are ignored (a
    /// late answer after a timeout).
    pub fn confirm(&mut self, action: usize, outcome: Outcome) {
        let Some(state) = self.states.get_mut(action) else {
            return;
        };
        if !matches!(state, ActionState::InFlight { .. }) {
            return;
        }
        match outcome {
            Outcome::Ok => *state = ActionState::Done,
            Outcome::Failed => {
                *state = ActionState::Failed;
                let key = self.graph.actions[action].key.clone();
                self.abort(format!("{key} failed"));
            }
        }
    }

    fn ready(&self, a: &GraphAction) -> bool {
        a.runnable
            && self.states[a.id] == ActionState::Waiting
            && a.inputs
                .iter()
                .all(|i| self.states.get(*i) == Some(&ActionState::Done))
    }

    fn is_migration(a: &GraphAction) -> bool {
        matches!(&a.kind, ActionKind::Resource(op) if op.task == "migrate_to" || op.task == "migrate_from")
    }

    /// Advance: complete ready pseudo-actions, time out overdue actions, dispatch what
    /// is ready within the limits, and tell when the transition is over.
    pub fn poll(&mut self, now: u64, limits: &Limits) -> Vec<Command> {
        let mut out = Vec::new();
        if self.finished {
            return out;
        }
        for i in 0..self.states.len() {
            if let ActionState::InFlight { deadline } = self.states[i] {
                if now >= deadline {
                    self.states[i] = ActionState::Failed;
                    let key = self.graph.actions[i].key.clone();
                    self.abort(format!("{key} timed out"));
                }
            }
        }
        // Pseudo-actions (and what halo does not run yet) complete as soon as their
        // inputs have, which can make further actions ready: repeat until stable.
        loop {
            let mut progressed = false;
            for i in 0..self.graph.actions.len() {
                let a = &self.graph.actions[i];
                if !self.ready(a) {
                    continue;
                }
                if matches!(
                    a.kind,
                    ActionKind::Pseudo { .. } | ActionKind::Reprobe | ActionKind::Shutdown
                ) {
                    self.states[i] = ActionState::Done;
                    progressed = true;
                }
            }
            if !progressed {
                break;
            }
        }
        if self.aborted.is_none() {
            let mut in_flight = self
                .states
                .iter()
                .filter(|s| matches!(s, ActionState::InFlight { .. }))
                .count();
            let mut migrating = self
                .graph
                .actions
                .iter()
                .filter(|a| {
                    Self::is_migration(a)
                        && matches!(self.states[a.id], ActionState::InFlight { .. })
                })
                .count();
            for i in 0..self.graph.actions.len() {
                if limits.batch_limit > 0 && in_flight >= limits.batch_limit {
                    break;
                }
                let a = &self.graph.actions[i];
                if !self.ready(a) {
                    continue;
                }
                if Self::is_migration(a) && limits.migration_limit.is_some_and(|m| migrating >= m) {
                    continue;
                }
                let timeout = match &a.kind {
                    ActionKind::Resource(op) => op.timeout_ms,
                    ActionKind::Fence { .. } => limits.fence_timeout_ms,
                    _ => 0,
                };
                self.states[i] = ActionState::InFlight {
                    deadline: now + timeout + limits.grace_ms,
                };
                in_flight += 1;
                if Self::is_migration(a) {
                    migrating += 1;
                }
                self.ran_any = true;
                out.push(match &a.kind {
                    ActionKind::Fence { .. } => Command::Fence {
                        transition: self.id,
                        action: i,
                        node: a.node.clone().unwrap_or_default(),
                    },
                    _ => Command::Dispatch {
                        transition: self.id,
                        action: i,
                    },
                });
            }
        }
        let in_flight = self
            .states
            .iter()
            .any(|s| matches!(s, ActionState::InFlight { .. }));
        let more = self.aborted.is_none() && self.graph.actions.iter().any(|a| self.ready(a));
        if !in_flight && !more {
            self.finished = true;
            out.push(Command::Finished {
                transition: self.id,
                replan: self.aborted.is_some() || self.ran_any,
            });
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The graph the scheduler makes for `config` (native TOML) on a fresh cluster of
    /// n1 and n2, where nothing was probed yet.
    fn graph(config: &str) -> TransitionGraph {
        let doc = halo_model::parse_native(config, "test").unwrap_or_else(|e| panic!("{e}"));
        let plan =
            halo_sched::schedule(&doc.config, &doc.status, 0).unwrap_or_else(|e| panic!("{e}"));
        plan.graph()
    }

    const GROUP: &str = r#"
version = 1
[properties]
stonith-enabled = false
[[node]]
name = "n1"
[[node]]
name = "n2"
[[group]]
id = "g"
[[group.member]]
id = "a"
agent = "ocf:heartbeat:Dummy"
[[group.member]]
id = "b"
agent = "ocf:heartbeat:Dummy"
[[location]]
id = "g-on-n1"
resource = "g"
node = "n1"
score = 100
"#;

    fn keys(t: &Transition, cmds: &[Command]) -> Vec<String> {
        let mut out: Vec<String> = cmds
            .iter()
            .filter_map(|c| match c {
                Command::Dispatch { action, .. } => Some(format!(
                    "{}@{}",
                    t.graph.actions[*action].key,
                    t.graph.actions[*action].node.clone().unwrap_or_default()
                )),
                _ => None,
            })
            .collect();
        out.sort();
        out
    }

    fn ids(cmds: &[Command]) -> Vec<usize> {
        cmds.iter()
            .filter_map(|c| match c {
                Command::Dispatch { action, .. } => Some(*action),
                _ => None,
            })
            .collect()
    }

    /// Probes run first, in parallel; then the group's members start one after the other
    /// as their results come in; the transition then ends and asks for a new plan.
    #[test]
    fn runs_actions_in_input_order() {
        let mut t = Transition::new(1, graph(GROUP));
        let limits = Limits::default();
        let first = t.poll(0, &limits);
        assert_eq!(
            keys(&t, &first),
            [
                "a_monitor_0@n1",
                "a_monitor_0@n2",
                "b_monitor_0@n1",
                "b_monitor_0@n2"
            ]
        );
        assert!(t.poll(1, &limits).is_empty(), "nothing new before results");
        for id in ids(&first) {
            t.confirm(id, Outcome::Ok);
        }
        let start_a = t.poll(2, &limits);
        assert_eq!(keys(&t, &start_a), ["a_start_0@n1"]);
        for id in ids(&start_a) {
            t.confirm(id, Outcome::Ok);
        }
        let start_b = t.poll(3, &limits);
        assert_eq!(keys(&t, &start_b), ["b_start_0@n1"]);
        for id in ids(&start_b) {
            t.confirm(id, Outcome::Ok);
        }
        let end = t.poll(4, &limits);
        assert!(
            end.contains(&Command::Finished {
                transition: 1,
                replan: true
            }),
            "{end:?}"
        );
        assert!(t.is_finished());
    }

    /// A failure aborts: nothing new is dispatched, the actions in flight are awaited,
    /// then the transition ends asking for a new plan.
    #[test]
    fn failure_aborts_after_in_flight_actions() {
        let mut t = Transition::new(7, graph(GROUP));
        let limits = Limits::default();
        let probes = ids(&t.poll(0, &limits));
        t.confirm(probes[0], Outcome::Failed);
        assert!(t.aborted.is_some());
        let cmds = t.poll(1, &limits);
        assert!(cmds.is_empty(), "{cmds:?}");
        for id in &probes[1..] {
            t.confirm(*id, Outcome::Ok);
        }
        assert_eq!(
            t.poll(2, &limits),
            vec![Command::Finished {
                transition: 7,
                replan: true
            }]
        );
    }

    /// batch-limit caps the actions in flight; an action that outlives its timeout plus
    /// the grace period fails and aborts the transition.
    #[test]
    fn batch_limit_and_timeouts() {
        let mut t = Transition::new(1, graph(GROUP));
        let limits = Limits {
            batch_limit: 3,
            grace_ms: 100,
            ..Limits::default()
        };
        let first = ids(&t.poll(0, &limits));
        assert_eq!(first.len(), 3);
        t.confirm(first[0], Outcome::Ok);
        assert_eq!(ids(&t.poll(1, &limits)).len(), 1, "one slot freed");
        let timeout = match &t.graph.actions[first[1]].kind {
            ActionKind::Resource(op) => op.timeout_ms,
            _ => 0,
        };
        assert!(t.poll(timeout + 99, &limits).is_empty());
        t.poll(timeout + 100, &limits);
        assert!(
            t.aborted
                .as_deref()
                .is_some_and(|a| a.contains("timed out")),
            "{:?}",
            t.aborted
        );
        // A late answer to a timed-out action changes nothing.
        t.confirm(first[1], Outcome::Ok);
        assert_eq!(t.states[first[1]], ActionState::Failed);
    }

    /// A blocked action is never dispatched, nor what waits for it.
    #[test]
    fn blocked_actions_never_run() {
        let cfg = GROUP.replace(
            "[[group]]",
            "[[resource]]\nid = \"x\"\nagent = \"ocf:heartbeat:Dummy\"\nmeta = { target-role = \"Stopped\" }\n[[order]]\nid = \"x-then-g\"\nfirst = \"x\"\nthen = \"g\"\n[[group]]",
        );
        let mut t = Transition::new(1, graph(&cfg));
        assert!(
            t.graph
                .actions
                .iter()
                .any(|a| !a.runnable && a.key.contains("_start_")),
            "the graph should hold blocked starts"
        );
        let limits = Limits::default();
        let mut dispatched = Vec::new();
        for now in 0..20 {
            let cmds = t.poll(now, &limits);
            for id in ids(&cmds) {
                dispatched.push(t.graph.actions[id].key.clone());
                t.confirm(id, Outcome::Ok);
            }
            if t.is_finished() {
                break;
            }
        }
        assert!(t.is_finished());
        assert!(
            !dispatched.iter().any(|k| k.contains("_start_")),
            "starts ran although their mandatory first is stopped: {dispatched:?}"
        );
    }
}
