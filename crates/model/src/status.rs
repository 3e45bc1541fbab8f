//! The cluster status: node membership and per-node resource operation history.
//!
//! This is raw, recorded fact (what Pacemaker keeps in the CIB `status` section).
//! Interpreting it (is a node clean? is a resource active, failed?) is the scheduler's job.

use crate::config::Attrs;

/// Recorded status of the whole cluster.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Status {
    /// Whether the partition this status was taken in had quorum.
    pub have_quorum: bool,
    /// Name or id of the Designated Controller, if any.
    pub dc: Option<String>,
    /// The scheduler's "now", in seconds since the Unix epoch (`execution-date`);
    /// `None` means the caller's current time.
    pub now: Option<i64>,
    /// Fence every node of a partition that lost quorum even if it never had it
    /// (Pacemaker's `no-quorum-panic`).
    pub quorum_panic: bool,
    /// Fail counts are recorded per resource (`fail-count-RSC`) rather than per
    /// operation (`fail-count-RSC#OP_INTERVAL`), as in Pacemaker status layouts before
    /// feature set 3.0.13.
    pub legacy_failcounts: bool,
    /// The cluster fences nodes without a configured device: halo's lease-based
    /// self-fencing (a node that lost contact stops its resources within its lease, and
    /// is taken as fenced once that lease has run out). Fencing is then possible as if
    /// a fence device were configured.
    pub self_fencing: bool,
    pub nodes: Vec<NodeState>,
}

/// Recorded state of one node (Pacemaker's `node_state`).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct NodeState {
    pub id: String,
    pub name: String,
    /// Cluster-layer membership (`in_ccm`): "true"/"false" or a timestamp.
    pub in_ccm: Option<String>,
    /// Controller process state (`crmd`): "online"/"offline" or a timestamp.
    pub crmd: Option<String>,
    /// Join state (`join`): member, down, pending, banned.
    pub join: Option<String>,
    /// Expected state (`expected`): member or down.
    pub expected: Option<String>,
    /// Transient node attributes (fail counts, promotion scores, shutdown, ...).
    pub attrs: Attrs,
    /// Operation history of every resource known on this node.
    pub resources: Vec<ResourceHistory>,
}

/// Operation history of one resource on one node (`lrm_resource`).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ResourceHistory {
    pub id: String,
    pub class: String,
    pub provider: Option<String>,
    pub kind: String,
    pub ops: Vec<OpRecord>,
}

/// One recorded operation result (`lrm_rsc_op`).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct OpRecord {
    pub id: String,
    /// start, stop, monitor, promote, demote, notify, migrate_to, ...
    pub operation: String,
    pub call_id: i64,
    /// The agent's exit code.
    pub rc: i32,
    /// Execution status (Pacemaker's `PCMK_EXEC_*`): -1 pending, 0 done, 1 cancelled,
    /// 2 timeout, 3 not supported, 4 error, 5 hard error, 6 fatal error, 7 not
    /// installed, ...
    pub op_status: i32,
    pub interval_ms: u64,
    /// The exit code the scheduler expected (from the transition key), default 0.
    pub target_rc: Option<i32>,
    pub last_rc_change: Option<i64>,
    pub last_run: Option<i64>,
    pub exec_time_ms: Option<u64>,
    pub exit_reason: Option<String>,
    pub on_node: Option<String>,
    pub op_digest: Option<String>,
    pub op_restart_digest: Option<String>,
    /// Parameters whose change needs a restart, space separated (`op-force-restart`):
    /// the ones `op_restart_digest` covers.
    pub op_force_restart: Option<String>,
    /// Parameters left out of `op_secure_digest` (secrets), space separated.
    pub op_secure_params: Option<String>,
    /// Digest of the parameters without the secret ones (`op-secure-digest`).
    pub op_secure_digest: Option<String>,
    /// Feature set of the node that recorded the operation (`crm_feature_set`).
    pub feature_set: Option<String>,
    pub transition_key: Option<String>,
    pub transition_magic: Option<String>,
}
