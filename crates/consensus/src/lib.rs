//! halo-consensus: membership, quorum and the replicated cluster state, on openraft with a
//! redb-backed log and state machine, over mutual TLS between nodes.
//!
//! Invariant: every change to the cluster state goes through the Raft log; the state
//! machine ([`state::ClusterState::apply`]) is a pure function of the log. The wire and
//! disk formats are halo's own explicit, versioned types (never serde on `halo_model`).
//!
//! API boundary: [`ClusterNode`] (propose and wait for commit, linearizable read,
//! subscribe, status, init/join/token/tokens/revoke_token/remove/leave/stop/start) and
//! [`setup::make_bundles`].
//! The network and the clock are behind [`transport::Transport`] and [`transport::Clock`].

pub mod error;
pub mod net;
pub mod node;
pub mod pki;
pub mod setup;
pub mod state;
pub mod store;
pub mod transport;
pub mod types;
pub mod users;

pub use error::{Error, Result, WireError};
pub use node::{
    AppHandler, CertInfo, ClusterNode, Contact, Joined, NodeOptions, NodeReport, StatusReport,
    Timing, TokenInfo, DEFAULT_TOKEN_TTL,
};
pub use state::{
    Change, ChangeResult, ClusterState, ConfigVersion, HistoryEntry, Settings, StoredConfig,
};
pub use store::{Applied, AppliedChange};
