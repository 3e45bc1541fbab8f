//! Messages between the DC and the nodes (over consensus's authenticated peer channel,
//! as `PeerRequest::App`): halo's own versioned types.

use std::collections::BTreeMap;

use halo_sched::graph::ResourceOp;
use serde::{Deserialize, Serialize};

/// A message from the DC to a node.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "msg", rename_all = "snake_case")]
pub enum Message {
    /// Run one resource operation.
    Execute(Box<Dispatch>),
    /// Fence yourself (no fence device can): stop everything now. The answer says
    /// whether every stop succeeded; a node that could not stop everything exits (its
    /// watchdog, if any, then resets it) and is waited out as a lost node.
    SelfFence { term: u64, action: String },
    /// An operator asks the DC to fence `target` (`halo stonith fence`).
    FenceRequest { target: String, action: String },
    /// How long ago did you last hear from each member (the DC judging lost nodes)?
    /// Answered with [`Heard`].
    Heard,
    /// Fence `target` with a fence device (run by the receiving node).
    Fence {
        term: u64,
        device: String,
        agent_type: String,
        params: BTreeMap<String, String>,
        target: String,
        action: String,
        timeout_ms: u64,
    },
}

/// The answer to [`Message::Heard`]: per member, milliseconds since the receiver last
/// heard from it (members it has not heard from since it started are missing).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Heard {
    pub ages_ms: BTreeMap<String, u64>,
}

/// One resource operation of a transition.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Dispatch {
    /// The Raft term in which the sender is DC.
    pub term: u64,
    pub transition: u64,
    pub action: usize,
    pub op: WireOp,
}

impl Dispatch {
    /// Pacemaker's transition key, `ACTION:TRANSITION:TARGET_RC:DC`, with the DC named
    /// by its term so that keys of different DCs never collide.
    pub fn transition_key(&self) -> String {
        format!(
            "{}:{}:{}:term-{}",
            self.action,
            self.transition,
            self.op.target_rc(),
            self.term
        )
    }
}

/// Parse a transition key made by [`Dispatch::transition_key`]:
/// (term, transition, action).
pub fn parse_transition_key(key: &str) -> Option<(u64, u64, usize)> {
    let mut parts = key.split(':');
    let action = parts.next()?.parse().ok()?;
    let transition = parts.next()?.parse().ok()?;
    let _target = parts.next()?;
    let term = parts.next()?.strip_prefix("term-")?.parse().ok()?;
    Some((term, transition, action))
}

/// A node's answer to a dispatch.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Ack {
    /// Set when the action completed while answering (cancellations, clean-ups);
    /// otherwise its result arrives as a recorded operation with the transition key.
    pub done: Option<bool>,
    /// What happened, in one line (fencing).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
}

/// A resource operation as the DC sends it: everything the node needs, nothing read
/// from the configuration.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WireOp {
    pub resource: String,
    pub instance: Option<String>,
    pub class: String,
    pub provider: Option<String>,
    pub agent_type: String,
    pub task: String,
    pub cancel_task: Option<String>,
    pub interval_ms: u64,
    pub probe: bool,
    pub timeout_ms: u64,
    pub on_fail: Option<String>,
    pub expected_rc: Option<i32>,
    pub params: BTreeMap<String, String>,
    pub meta: BTreeMap<String, String>,
}

impl WireOp {
    pub fn from_graph(op: &ResourceOp) -> WireOp {
        WireOp {
            resource: op.resource.clone(),
            instance: op.instance.clone(),
            class: op.class.clone(),
            provider: op.provider.clone(),
            agent_type: op.agent_type.clone(),
            task: op.task.clone(),
            cancel_task: op.cancel_task.clone(),
            interval_ms: op.interval_ms,
            probe: op.probe,
            timeout_ms: op.timeout_ms,
            on_fail: op.on_fail.clone(),
            expected_rc: op.expected_rc,
            params: op.params.clone(),
            meta: op.meta.clone(),
        }
    }

    /// Whether the operation makes the resource run (or run promoted) here.
    pub fn makes_active(&self) -> bool {
        matches!(self.task.as_str(), "start" | "promote" | "migrate_from")
    }

    /// The result that counts as success.
    pub fn target_rc(&self) -> i32 {
        self.expected_rc.unwrap_or(0)
    }

    /// The name the node's status knows the resource by: an anonymous clone's
    /// instances are all the primitive (as in Pacemaker's status), a globally unique
    /// clone's are `rsc:N`.
    pub fn status_id(&self) -> String {
        let unique = self.meta.get("globally_unique").map(String::as_str) == Some("true");
        match &self.instance {
            Some(i) if unique => i.clone(),
            _ => self.resource.clone(),
        }
    }

    /// `class:provider:type`.
    pub fn agent_spec(&self) -> String {
        match &self.provider {
            Some(p) => format!("{}:{}:{}", self.class, p, self.agent_type),
            None => format!("{}:{}", self.class, self.agent_type),
        }
    }
}
