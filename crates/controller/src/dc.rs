//! The DC loop: the shell around [`crate::engine`]. On the Raft leader, while it holds
//! its lease, it plans from the replicated state, dispatches each action to its node,
//! matches recorded results to actions by their transition key, and plans again when
//! the state changes underneath or a transition ends. Lost nodes are fenced by waiting
//! out their guard's lease (see ARCHITECTURE.md, "Why two nodes never run the same
//! resource").

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use halo_consensus::{Change, ClusterNode};
use halo_sched::graph::ActionKind;
use tokio::sync::{broadcast, mpsc};

use crate::engine::{Command, Limits, Outcome, Transition};
use crate::fencing;
use crate::input::{
    may_run_something, next_failure_expiry, scheduler_input, standby_members, unix_ms, Liveness,
};
use crate::silence::{last_possible_contact, Report, View};
use crate::wire::{parse_transition_key, Ack, Dispatch, Heard, Message, WireOp};
use crate::Timing;
use halo_consensus::state::FenceRecord;

/// `standby-drain-time` when the configuration does not set it.
const STANDBY_DRAIN: Duration = Duration::from_secs(2);

/// How long a dispatch may take to be acknowledged.
const DISPATCH_TIMEOUT: Duration = Duration::from_secs(5);

struct Dc {
    node: ClusterNode,
    timing: Timing,
    started: Instant,
    /// The term this node acts in as DC, and since when.
    acting: Option<(u64, Instant)>,
    current: Option<Transition>,
    limits: Limits,
    next_id: u64,
    dirty: bool,
    /// Who was reachable when the current plan was made.
    planned_live: Option<Liveness>,
    last_plan: Instant,
    /// `cluster-recheck-interval`, as the configuration sets it.
    recheck: Duration,
    /// When a failure-timeout expires: plan again then.
    expiry: Option<Instant>,
    /// No planning before then (a node put in standby is being drained).
    not_before: Option<Instant>,
    /// The nodes in standby, and since when this DC has seen them so.
    standby_seen: BTreeMap<String, Instant>,
    /// Lost nodes whose status is being forgotten, and when that was proposed.
    forgetting: BTreeMap<String, Instant>,
    /// Lost nodes being fenced by a device, and since when.
    device_fencing: BTreeMap<String, Instant>,
    /// Lost nodes, and since when.
    lost_since: BTreeMap<String, Instant>,
    /// What the reachable nodes last heard of the others, by reporter.
    reports: Arc<Mutex<BTreeMap<String, Report>>>,
    /// When the reachable nodes were last asked.
    asked: Option<Instant>,
    results: mpsc::UnboundedSender<(u64, usize, Outcome)>,
}

fn unix_secs() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

/// Run the DC loop until the node's change stream closes.
pub async fn run(node: ClusterNode, timing: Timing) {
    let mut events = node.subscribe();
    let (tx, mut rx) = mpsc::unbounded_channel();
    let mut dc = Dc {
        node,
        timing,
        started: Instant::now(),
        acting: None,
        current: None,
        limits: Limits::default(),
        next_id: 0,
        dirty: true,
        planned_live: None,
        last_plan: Instant::now(),
        recheck: Duration::from_secs(15 * 60),
        expiry: None,
        not_before: None,
        standby_seen: BTreeMap::new(),
        forgetting: BTreeMap::new(),
        device_fencing: BTreeMap::new(),
        lost_since: BTreeMap::new(),
        reports: Arc::new(Mutex::new(BTreeMap::new())),
        asked: None,
        results: tx,
    };
    loop {
        tokio::select! {
            ev = events.recv() => match ev {
                Ok(change) => dc.on_change(&change),
                Err(broadcast::error::RecvError::Lagged(_)) => dc.abort("missed changes"),
                Err(broadcast::error::RecvError::Closed) => return,
            },
            Some((t, a, outcome)) = rx.recv() => dc.confirm(t, a, outcome),
            _ = tokio::time::sleep(dc.timing.tick) => {}
        }
        dc.step().await;
    }
}

impl Dc {
    fn now_ms(&self) -> u64 {
        self.started.elapsed().as_millis() as u64
    }

    fn abort(&mut self, why: &str) {
        if let Some(t) = &mut self.current {
            if !t.is_finished() && t.aborted.is_none() {
                tracing::info!(transition = t.id, "transition aborted: {why}");
            }
            t.abort(why);
        }
        self.dirty = true;
    }

    fn confirm(&mut self, transition: u64, action: usize, outcome: Outcome) {
        if let Some(t) = &mut self.current {
            if t.id == transition {
                t.confirm(action, outcome);
            }
        }
    }

    fn on_change(&mut self, change: &halo_consensus::AppliedChange) {
        match &change.request.change {
            Change::Noop { .. } | Change::AddToken { .. } => {}
            Change::RecordOp { op, .. } => {
                let ours = op
                    .transition_key
                    .as_deref()
                    .and_then(parse_transition_key)
                    .filter(|(term, _, _)| self.acting.map(|a| a.0) == Some(*term));
                if let (Some((_, transition, action)), Some(t)) = (ours, &mut self.current) {
                    if t.id == transition && t.in_flight(action) {
                        let cancel = matches!(
                            &t.graph.actions[action].kind,
                            ActionKind::Resource(r) if r.task == "cancel"
                        );
                        let ok = (op.op_status == 0 && Some(op.rc) == op.target_rc)
                            || (op.op_status == crate::input::EXEC_CANCELLED && cancel);
                        t.confirm(action, if ok { Outcome::Ok } else { Outcome::Failed });
                        return;
                    }
                }
                self.abort(&format!(
                    "{} {} on {} returned {}",
                    op.resource, op.operation, change.request.node, op.rc
                ));
            }
            other => self.abort(&other.summary()),
        }
    }

    /// Who is reachable: shown online by consensus and, for the others, heard from
    /// (a ping) within a node's lease, so that a silent node counts as lost as soon as
    /// it may have begun stopping its resources.
    fn liveness(&self) -> Liveness {
        let st = self.node.status();
        let heard = self.node.last_heard();
        let lease = self.timing.node_lease();
        Liveness {
            quorate: st.quorate,
            dc: st.dc.clone(),
            online: st
                .nodes
                .iter()
                .filter(|n| {
                    n.online
                        && (n.name == st.node || heard.get(&n.name).is_some_and(|a| *a < lease))
                })
                .map(|n| n.name.clone())
                .collect::<BTreeSet<_>>(),
        }
    }

    async fn step(&mut self) {
        // Act only while holding the lease: a quorum acknowledged this leader recently.
        let contact = self.node.contact();
        let lease = contact.filter(|c| c.leader && c.age < self.timing.dc_lease);
        let Some(lease) = lease else {
            if self.acting.take().is_some() {
                tracing::warn!(?contact, "no longer DC (lease lost): dispatching stops");
            }
            self.current = None;
            self.dirty = true;
            return;
        };
        if self.acting.map(|a| a.0) != Some(lease.term) {
            tracing::info!(term = lease.term, "acting as DC");
            self.acting = Some((lease.term, Instant::now()));
            self.current = None;
            self.dirty = true;
        }
        let live = self.liveness();
        if self.planned_live.as_ref().is_some_and(|p| *p != live) {
            self.planned_live = None;
            self.abort("membership changed");
        }
        let lost = self.fence_lost(&live);

        let idle = self.current.as_ref().is_none_or(|t| t.is_finished());
        let recheck = self.last_plan.elapsed() >= self.recheck
            || self.expiry.is_some_and(|t| Instant::now() >= t);
        let waiting = self.not_before.is_some_and(|t| Instant::now() < t);
        if idle && (self.dirty || recheck) && !waiting && !lost {
            self.plan(live);
        }
        let now = self.now_ms();
        let Some(t) = &mut self.current else { return };
        let cmds = t.poll(now, &self.limits);
        for cmd in cmds {
            match cmd {
                Command::Dispatch { transition, action } => {
                    self.dispatch(transition, action, lease.term);
                }
                Command::Fence {
                    transition,
                    action,
                    node,
                } => {
                    // Lost nodes are fenced before planning (by waiting out their
                    // lease); the scheduler asks to fence a reachable node (on-fail=
                    // fence, a failed stop): it is told to stop everything itself.
                    let what = match self.current.as_ref().map(|t| &t.graph.actions[action].kind) {
                        Some(ActionKind::Fence { action }) => action.clone(),
                        _ => "reboot".to_string(),
                    };
                    self.fence(transition, action, node, what, lease.term);
                }
                Command::Finished { transition, replan } => {
                    let aborted = self.current.as_ref().and_then(|t| t.aborted.clone());
                    tracing::info!(transition, ?aborted, "transition complete");
                    self.dirty |= replan;
                }
            }
        }
    }

    /// Fence a node the scheduler wants fenced: by the fence devices, else (it is
    /// reachable) by having it stop everything itself.
    fn fence(&self, transition: u64, action: usize, target: String, what: String, term: u64) {
        tracing::warn!(node = %target, "fencing {target} ({what})");
        let node = self.node.clone();
        let results = self.results.clone();
        let timeout = Duration::from_millis(self.limits.fence_timeout_ms);
        let online = self.liveness().online;
        tokio::spawn(async move {
            let ok = fencing::fence_node(&node, term, &online, &target, &what, timeout).await;
            let outcome = if ok { Outcome::Ok } else { Outcome::Failed };
            let _ = results.send((transition, action, outcome));
        });
    }

    fn plan(&mut self, live: Liveness) {
        self.dirty = false;
        self.last_plan = Instant::now();
        let Some(applied) = self.node.read_local() else {
            return;
        };
        let (cfg, status) = match scheduler_input(&applied.state, &live) {
            Ok(x) => x,
            Err(e) => {
                tracing::error!("cannot read the replicated configuration: {e}");
                return;
            }
        };
        let plan = match halo_sched::schedule(&cfg, &status, unix_secs()) {
            Ok(p) => p,
            Err(e) => {
                tracing::error!("the scheduler refused the cluster state: {e}");
                return;
            }
        };
        let graph = plan.graph();
        if let Some(until) = self.drain_until(&cfg, &applied.state, &graph) {
            tracing::info!(
                wait_ms = until.saturating_duration_since(Instant::now()).as_millis() as u64,
                "a node went into standby: its stops wait for the load balancers to drain it"
            );
            self.not_before = Some(until);
            self.dirty = true;
            return;
        }
        self.planned_live = Some(live);
        self.limits = Limits::from_properties(&cfg.properties);
        self.recheck = cfg
            .properties
            .get("cluster-recheck-interval")
            .and_then(|v| halo_model::duration::parse_duration_ms(v).ok())
            .filter(|ms| *ms > 0)
            .map(Duration::from_millis)
            .unwrap_or(self.timing.recheck);
        let now_ms = unix_ms();
        // A second past the expiry, since the scheduler counts whole seconds; or when
        // a date in a location rule (a `resource move --lifetime`) comes.
        let dated = cfg
            .next_date_change((now_ms / 1000) as i64)
            .and_then(|s| u64::try_from(s).ok())
            .map(|s| s * 1000);
        self.expiry = [next_failure_expiry(&cfg, &applied.state), dated]
            .into_iter()
            .flatten()
            .filter(|at| *at > now_ms)
            .min()
            .map(|at| Instant::now() + Duration::from_millis(at - now_ms + 1000));
        self.next_id += 1;
        let t = Transition::new(self.next_id, graph);
        if t.is_empty() {
            self.current = None;
            return;
        }
        tracing::info!(
            transition = t.id,
            actions = t.graph.actions.len(),
            "new transition"
        );
        self.current = Some(t);
    }

    /// A node just put in standby: every load balancer holds its servers back as soon
    /// as it applies the change (see `lb_follow`), and the stops there wait until it
    /// has been in standby for `standby-drain-time`, so that the sessions in progress
    /// on it end first. Returns when the plan may run, if that is later than now.
    fn drain_until(
        &mut self,
        cfg: &halo_model::Config,
        state: &halo_consensus::ClusterState,
        graph: &halo_sched::graph::TransitionGraph,
    ) -> Option<Instant> {
        let standby = standby_members(cfg, state);
        self.standby_seen.retain(|n, _| standby.contains(n));
        for n in standby {
            self.standby_seen.entry(n).or_insert_with(Instant::now);
        }
        let drain = cfg
            .properties
            .get("standby-drain-time")
            .and_then(|v| halo_model::duration::parse_duration_ms(v).ok())
            .map_or(STANDBY_DRAIN, Duration::from_millis);
        graph
            .actions
            .iter()
            .filter(|a| a.runnable)
            .filter(|a| {
                matches!(&a.kind, ActionKind::Resource(op)
                    if matches!(op.task.as_str(), "stop" | "demote" | "migrate_to"))
            })
            .filter_map(|a| self.standby_seen.get(a.node.as_ref()?))
            .map(|since| *since + drain)
            .max()
            .filter(|until| *until > Instant::now())
    }

    fn dispatch(&self, transition: u64, action: usize, term: u64) {
        let Some(t) = &self.current else { return };
        let a = &t.graph.actions[action];
        let (ActionKind::Resource(op), Some(target)) = (&a.kind, a.node.clone()) else {
            let _ = self.results.send((transition, action, Outcome::Ok));
            return;
        };
        let d = Dispatch {
            term,
            transition,
            action,
            op: WireOp::from_graph(op),
        };
        tracing::debug!(key = %a.key, node = %target, "dispatch");
        let node = self.node.clone();
        let results = self.results.clone();
        tokio::spawn(async move {
            let body = match serde_json::to_value(Message::Execute(Box::new(d))) {
                Ok(b) => b,
                Err(_) => return,
            };
            let outcome = match node.send_app(&target, body, DISPATCH_TIMEOUT).await {
                Ok(v) => match serde_json::from_value::<Ack>(v) {
                    Ok(Ack { done: None, .. }) => None,
                    Ok(Ack {
                        done: Some(true), ..
                    }) => Some(Outcome::Ok),
                    Ok(Ack {
                        done: Some(false), ..
                    })
                    | Err(_) => Some(Outcome::Failed),
                },
                Err(e) => {
                    tracing::warn!(node = %target, "dispatch failed: {e}");
                    Some(Outcome::Failed)
                }
            };
            if let Some(o) = outcome {
                let _ = results.send((transition, action, o));
            }
        });
    }

    /// Ask every reachable node what it last heard of the others (at most every tick;
    /// the answers land in `reports`).
    fn ask_reachable(&mut self, live: &Liveness) {
        if self.asked.is_some_and(|t| t.elapsed() < self.timing.tick) {
            return;
        }
        let now = Instant::now();
        self.asked = Some(now);
        let me = self.node.name();
        for peer in live.online.iter().filter(|n| **n != me) {
            let (node, reports, peer) = (self.node.clone(), self.reports.clone(), peer.clone());
            let Ok(body) = serde_json::to_value(Message::Heard) else {
                return;
            };
            tokio::spawn(async move {
                let answer = node.send_app(&peer, body, Duration::from_millis(500)).await;
                let received = Instant::now();
                match answer.map(serde_json::from_value::<Heard>) {
                    Ok(Ok(h)) => {
                        let report = Report {
                            asked: now,
                            received,
                            ages: h
                                .ages_ms
                                .into_iter()
                                .map(|(n, ms)| (n, Duration::from_millis(ms)))
                                .collect(),
                        };
                        let mut all = reports.lock().unwrap_or_else(|e| e.into_inner());
                        // Answers may arrive out of order: keep the latest question's.
                        if all.get(&peer).is_none_or(|r| r.asked <= now) {
                            all.insert(peer, report);
                        }
                    }
                    Ok(Err(e)) => tracing::debug!(%peer, "unreadable answer: {e}"),
                    Err(e) => tracing::debug!(%peer, "no answer about lost nodes: {e}"),
                }
            });
        }
    }

    /// Fence lost nodes by waiting out their lease: a node that is unreachable while
    /// the replicated status says it may run something is taken as stopped only once
    /// its last possible contact with a quorate DC (`silence`, from what this node and
    /// the reachable ones last heard of it) lies further back than its lease, stretched
    /// by the clock-rate drift bound, plus a margin; then its status is forgotten. A
    /// fence device, where one is configured, is tried at once. Until then nothing is
    /// planned, so nothing of it is recovered early. Returns whether any node is still
    /// being waited for.
    fn fence_lost(&mut self, live: &Liveness) -> bool {
        let Some(applied) = self.node.read_local() else {
            return false;
        };
        let state = &applied.state;
        let lost: Vec<String> = state
            .op_history
            .iter()
            .filter(|(n, rscs)| !live.online.contains(*n) && may_run_something(rscs))
            .map(|(n, _)| n.clone())
            .collect();
        // A node that left running nothing: its history and transient attributes go
        // (Pacemaker clears a departed node's transient attributes); nothing waits.
        let left: Vec<String> = state
            .op_history
            .keys()
            .chain(state.node_attrs.keys())
            .filter(|n| !live.online.contains(*n) && !lost.contains(n))
            .filter(|n| state.nodes.contains_key(*n))
            .cloned()
            .collect::<BTreeSet<_>>()
            .into_iter()
            .collect();
        for n in left {
            if self.forgetting.contains_key(&n) {
                continue;
            }
            self.forgetting.insert(n.clone(), Instant::now());
            let node = self.node.clone();
            tokio::spawn(async move {
                let reason = "left, running nothing".to_string();
                if let Err(e) = node.propose(Change::ForgetNode { node: n, reason }).await {
                    tracing::warn!("recording a departed node failed: {e}");
                }
            });
        }
        // A proposal that has not taken effect after a while is made again.
        self.forgetting
            .retain(|n, at| !live.online.contains(n) && at.elapsed() < Duration::from_secs(2));
        let now = Instant::now();
        self.lost_since.retain(|n, _| lost.contains(n));
        for n in &lost {
            self.lost_since.entry(n.clone()).or_insert(now);
        }
        if lost.is_empty() {
            return false;
        }
        self.abort("a node was lost");
        self.ask_reachable(live);
        let heard = self.node.last_heard();
        let mut reports = self
            .reports
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone();
        reports.insert(
            self.node.name(),
            Report {
                asked: now,
                received: now,
                ages: heard.clone(),
            },
        );
        let st = self.node.status();
        let members: BTreeSet<String> = st.nodes.iter().map(|n| n.name.clone()).collect();
        let voters: BTreeSet<String> = st
            .nodes
            .iter()
            .filter(|n| n.role != "learner")
            .map(|n| n.name.clone())
            .collect();
        let view = View {
            members: &members,
            voters: &voters,
            reports: &reports,
            acting_since: self.acting.map_or(now, |a| a.1),
            own_heard: None,
            dc_lease: self.timing.dc_lease,
            drift: self.timing.drift,
        };
        let wait = self.timing.self_fence_wait();
        let cfg = state.config.to_model().unwrap_or_default();
        let action = match cfg.properties.get("stonith-action").map(String::as_str) {
            Some("off" | "poweroff") => "off",
            _ => "reboot",
        };
        let term = self.acting.map(|a| a.0).unwrap_or(0);
        let timeout = Duration::from_millis(self.limits.fence_timeout_ms);
        self.device_fencing
            .retain(|n, at| lost.contains(n) && at.elapsed() < timeout + Duration::from_secs(5));
        for n in lost {
            // Fence devices act at once: no need to wait out the lease when one confirms.
            let levels = fencing::levels_for(&cfg, state, &n);
            if !levels.is_empty() && !self.device_fencing.contains_key(&n) {
                self.device_fencing.insert(n.clone(), Instant::now());
                let (node, state, online) = (self.node.clone(), state.clone(), live.online.clone());
                let target = n.clone();
                tokio::spawn(async move {
                    fencing::fence_with_devices(
                        &node, term, &state, &levels, &online, &target, action, timeout,
                    )
                    .await;
                });
            }
            let own_heard = heard.get(&n).and_then(|age| now.checked_sub(*age));
            let since = self.lost_since.get(&n).copied().unwrap_or(now);
            let contact = last_possible_contact(&n, since, &View { own_heard, ..view });
            let silent = now.saturating_duration_since(contact);
            if silent < wait || self.forgetting.contains_key(&n) {
                continue;
            }
            self.forgetting.insert(n.clone(), Instant::now());
            let record = FenceRecord {
                target: n.clone(),
                action: action.to_string(),
                device: None,
                executor: n.clone(),
                origin: self.node.name(),
                ok: true,
                detail: format!("silent for {} ms, past its lease", silent.as_millis()),
                time_ms: unix_ms(),
            };
            tracing::warn!(node = %n, "self-fenced: {}", record.detail);
            let node = self.node.clone();
            tokio::spawn(async move {
                if let Err(e) = node.propose(Change::RecordFence { record }).await {
                    tracing::warn!("recording a lost node failed: {e}");
                }
            });
        }
        true
    }
}
