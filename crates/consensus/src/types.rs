//! The openraft type configuration and the log payload: halo's own, explicit, versioned
//! wire/disk types. Nothing here derives serde on `halo_model` types.

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::state::{Change, ChangeResult};

/// Raft node identifier. Assigned once by the state machine (`next_node_id`) and never reused.
pub type NodeId = u64;

/// What the Raft membership knows about a node: enough to reach and authenticate it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct Member {
    /// Node name; also the DNS name in its certificate.
    pub name: String,
    /// `ADDR:PORT` of its node-to-node listener.
    pub addr: String,
    /// A witness votes but never runs resources.
    #[serde(default)]
    pub witness: bool,
}

impl fmt::Display for Member {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}@{}", self.name, self.addr)
    }
}

/// The version of [`Request`] this build writes. Readers accept every version up to it.
pub const REQUEST_VERSION: u32 = 1;

/// One replicated log entry payload: a change, who made it and when.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Request {
    /// Format version of this entry.
    pub v: u32,
    /// Name of the node that proposed the change.
    pub node: String,
    /// Proposer's wall clock, milliseconds since the Unix epoch.
    pub time_ms: u64,
    pub change: Change,
    /// Who asked for it and from where (`user@address`), when it came through the API:
    /// the audit trail. Set by the API server from the authenticated caller, never by
    /// the caller itself.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub by: Option<String>,
}

impl fmt::Display for Request {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} by {}", self.change.summary(), self.node)
    }
}

/// What applying a [`Request`] produced.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub struct Response {
    /// The state epoch after this entry (unchanged when the change was refused).
    pub epoch: u64,
    pub result: ChangeResult,
}

openraft::declare_raft_types!(
    /// halo's Raft type configuration.
    pub TypeConfig:
        D = Request,
        R = Response,
        NodeId = NodeId,
        Node = Member,
        LeaderId = openraft::impls::leader_id_std::LeaderId<u64, NodeId>,
);

pub type Raft = openraft::Raft<TypeConfig, crate::store::StateMachineStore>;
pub type Entry = <TypeConfig as openraft::RaftTypeConfig>::Entry;
pub type LogId = openraft::type_config::alias::LogIdOf<TypeConfig>;
pub type Vote = openraft::type_config::alias::VoteOf<TypeConfig>;
pub type StoredMembership = openraft::type_config::alias::StoredMembershipOf<TypeConfig>;
pub type SnapshotMeta = openraft::type_config::alias::SnapshotMetaOf<TypeConfig>;
pub type Snapshot = openraft::type_config::alias::SnapshotOf<TypeConfig, crate::state::StateFile>;
