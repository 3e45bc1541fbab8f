//! Request and reply bodies of the control API (version 1, under `/v1/`).

use serde::{Deserialize, Serialize};

pub use halo_consensus::{Change, HistoryEntry, Joined, StatusReport, TokenInfo, WireError};

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct InitRequest {
    pub name: String,
    #[serde(default)]
    pub failure_timeout_ms: Option<u64>,
    #[serde(default)]
    pub token_ttl_s: Option<u64>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct TokenRequest {
    #[serde(default)]
    pub ttl_s: Option<u64>,
    /// How many nodes the token admits (1 when absent).
    #[serde(default)]
    pub uses: Option<u32>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct TokenReply {
    pub token: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct JoinRequest {
    pub peer: String,
    pub token: String,
    #[serde(default)]
    pub name: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RemoveRequest {
    pub node: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ProposeRequest {
    pub change: Change,
}

/// The committed result of a proposal.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ProposeReply {
    pub epoch: u64,
    pub result: halo_consensus::ChangeResult,
}

/// One applied change, as `GET /v1/changes` returns it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ChangeEvent {
    pub epoch: u64,
    pub log_index: u64,
    pub node: String,
    pub time_ms: u64,
    pub summary: String,
}

#[derive(Debug, Clone, Serialize, Deserialize, Default)]
pub struct Ok {
    pub ok: bool,
}
