//! Request and reply bodies of the control API (version 1, under `/v1/`).

use serde::{Deserialize, Serialize};

pub use halo_consensus::{Change, HistoryEntry, Joined, StatusReport, TokenInfo, WireError};

/// A role's JSON schema: one of its names.
fn role_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
    schemars::json_schema!({"type": "string", "enum": ["read", "operator", "admin"]})
}

fn optional_role_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
    schemars::json_schema!({"type": ["string", "null"], "enum": ["read", "operator", "admin", null]})
}

#[derive(Debug, Clone, Serialize, Deserialize, schemars::JsonSchema)]
pub struct InitRequest {
    pub name: String,
    #[serde(default)]
    pub failure_timeout_ms: Option<u64>,
    #[serde(default)]
    pub token_ttl_s: Option<u64>,
}

#[derive(Debug, Clone, Serialize, Deserialize, schemars::JsonSchema)]
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

/// `POST /v1/cluster/certs/rotate` (a missing body is `{}`).
#[derive(Debug, Clone, Default, Serialize, Deserialize, schemars::JsonSchema)]
pub struct RotateRequest {
    /// Move the cluster to a new CA as well (both trusted until every node renewed).
    #[serde(default)]
    pub new_ca: bool,
}

#[derive(Debug, Clone, Serialize, Deserialize, schemars::JsonSchema)]
pub struct JoinRequest {
    pub peer: String,
    pub token: String,
    #[serde(default)]
    pub name: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize, schemars::JsonSchema)]
pub struct RemoveRequest {
    pub node: String,
}

#[derive(Debug, Clone, Serialize, Deserialize, schemars::JsonSchema)]
pub struct ProposeRequest {
    /// A typed change (`{"change": "set_config", ...}`), as `halo_consensus::Change`
    /// serialises it; the API accepts the kinds its role check knows.
    #[schemars(with = "serde_json::Value")]
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

/// A user, as `GET /v1/users` lists it (never its password hash).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct UserInfo {
    pub name: String,
    pub role: halo_consensus::users::Role,
    pub created_ms: u64,
    pub changed_ms: u64,
}

/// `POST /v1/users`: add a user. The password travels only to the node, which keeps
/// its argon2id hash.
#[derive(Clone, Serialize, Deserialize, schemars::JsonSchema)]
pub struct AddUser {
    pub name: String,
    #[schemars(schema_with = "role_schema")]
    pub role: halo_consensus::users::Role,
    pub password: String,
}

/// `POST /v1/users/{name}`: a new password and/or role.
#[derive(Clone, Serialize, Deserialize, Default, schemars::JsonSchema)]
pub struct SetUser {
    #[serde(default)]
    pub password: Option<String>,
    #[serde(default)]
    #[schemars(schema_with = "optional_role_schema")]
    pub role: Option<halo_consensus::users::Role>,
}

/// `POST /v1/tokens`: an API token for oneself or (admin) for `user`.
#[derive(Debug, Clone, Serialize, Deserialize, Default, schemars::JsonSchema)]
pub struct IssueToken {
    #[serde(default)]
    pub user: Option<String>,
    /// Lifetime in seconds; none: until revoked.
    #[serde(default)]
    pub ttl_s: Option<u64>,
}

/// `POST /v1/login`'s optional body.
#[derive(Debug, Clone, Serialize, Deserialize, Default, schemars::JsonSchema)]
pub struct LoginRequest {
    /// A session shorter than the default 8 hours.
    #[serde(default)]
    pub ttl_s: Option<u64>,
}

/// A token's text (shown once) and what it is.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct IssuedToken {
    pub token: String,
    pub id: String,
    pub user: String,
    pub role: halo_consensus::users::Role,
    pub expires_ms: Option<u64>,
}

/// An issued token as `GET /v1/tokens` lists it (never its secret).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ApiTokenInfo {
    pub id: String,
    pub user: String,
    pub kind: halo_consensus::users::TokenKind,
    pub created_ms: u64,
    pub expires_ms: Option<u64>,
    pub origin: String,
}

/// The authenticated caller.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct WhoAmI {
    pub user: String,
    pub role: halo_consensus::users::Role,
    pub origin: String,
}

/// This node, as `GET /v1/node` describes it (what `halo cluster setup` needs to know).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct NodeInfo {
    pub name: String,
    /// The node-to-node address (`halo daemon --listen`).
    pub listen: String,
    pub witness: bool,
    pub cluster: Option<String>,
    /// `unconfigured`, `running` or `stopped`.
    pub state: String,
}
