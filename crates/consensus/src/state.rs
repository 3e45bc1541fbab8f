//! The replicated state: cluster identity, configuration, membership records, status and the
//! change history. [`ClusterState::apply`] is a pure function of (state, request): no I/O,
//! no clock (the time comes inside the request), so every node computes the same state.
//!
//! Everything here is halo's own explicit, versioned serde format (`StateFile`,
//! `StoredConfig`, `Change`); `halo_model` types are converted at the boundary.

use std::collections::{BTreeMap, VecDeque};

use serde::{Deserialize, Serialize};

use crate::types::Request;

/// How many configuration changes `history` keeps.
pub const HISTORY_LIMIT: usize = 500;
/// How many operation records are kept per node and resource.
pub const OP_HISTORY_LIMIT: usize = 20;
/// How many past configurations `config_versions` keeps (`halo config diff|rollback`).
pub const CONFIG_VERSIONS_KEPT: usize = 50;
/// How many fencing actions `fence_history` keeps.
pub const FENCE_HISTORY_LIMIT: usize = 200;
/// How many status events `events` keeps.
pub const EVENTS_KEPT: usize = 500;
/// Default time after which a silent node is shown offline.
pub const DEFAULT_FAILURE_TIMEOUT_MS: u64 = 2000;
/// How long an expired token is remembered.
pub const TOKEN_GRACE_MS: u64 = 7 * 24 * 3600 * 1000;

pub type Attrs = BTreeMap<String, String>;

/// The on-disk and snapshot format of the whole state: a tagged, versioned envelope.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "format")]
pub enum StateFile {
    #[serde(rename = "halo-state/1")]
    V1(ClusterState),
}

impl StateFile {
    pub fn into_state(self) -> ClusterState {
        match self {
            StateFile::V1(s) => s,
        }
    }
}

/// Cluster-wide tunables, part of the replicated state.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Settings {
    /// A node silent for longer than this is shown offline (milliseconds).
    pub failure_timeout_ms: u64,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            failure_timeout_ms: DEFAULT_FAILURE_TIMEOUT_MS,
        }
    }
}

/// Identity of the cluster, fixed at `halo cluster init`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClusterInfo {
    pub name: String,
    pub created_ms: u64,
    /// PEM of the cluster CA certificate.
    pub ca_cert_pem: String,
    /// SHA-256 of the CA certificate (DER), lowercase hex.
    pub ca_fingerprint: String,
    /// A new CA during a rotation (`halo cluster certs rotate --new-ca`): trusted beside
    /// the current one and the one that signs, until every member holds a certificate
    /// of it; then it becomes the only CA (`FinishCaRotation`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next_ca: Option<NextCa>,
}

/// The CA a rotation moves to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NextCa {
    pub ca_cert_pem: String,
    pub ca_fingerprint: String,
    /// The epoch of the `BeginCaRotation` that introduced it.
    pub since_epoch: u64,
}

impl ClusterInfo {
    /// Every CA a node trusts now, as one PEM text: the current one first, then the one
    /// a rotation moves to.
    pub fn trusted_pem(&self) -> String {
        let mut pem = self.ca_cert_pem.trim_end().to_string();
        pem.push('\n');
        if let Some(next) = &self.next_ca {
            pem.push_str(next.ca_cert_pem.trim_end());
            pem.push('\n');
        }
        pem
    }

    /// The CA that signs certificates now: (certificate PEM, fingerprint).
    pub fn signing_ca(&self) -> (&str, &str) {
        match &self.next_ca {
            Some(n) => (&n.ca_cert_pem, &n.ca_fingerprint),
            None => (&self.ca_cert_pem, &self.ca_fingerprint),
        }
    }
}

/// A secret string: serialised as is, never shown by `Debug` (so never in logs).
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(transparent)]
pub struct Secret(pub String);

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Secret(..)")
    }
}

impl Secret {
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

/// Secrets that older versions replicated (the CA key, to every node,
/// witnesses included). Read from an old state only so that the node can move the key
/// to its own `ca-key.pem`; never written again, so never in a snapshot.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct Secrets {
    /// PEM of the cluster CA private key.
    pub ca_key_pem: String,
}

impl std::fmt::Debug for Secrets {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Secrets(..)")
    }
}

/// A join token as the cluster stores it: only a hash of the secret.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TokenRecord {
    /// SHA-256 of the secret, lowercase hex.
    pub secret_sha256: String,
    pub expires_ms: u64,
    pub created_by: String,
    /// How many more nodes it may admit; `None` for a token made before tokens had a
    /// number of uses (usable until it expires).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub uses_left: Option<u32>,
    /// Revoked tokens are kept (refused with their own message) until they expire.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub revoked: bool,
}

/// Membership status of a node record.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum NodeStatus {
    /// Admitted (certificate issued); becomes a Raft member through membership changes.
    Member,
    /// Removed; its id is never reused and its certificate is refused.
    Removed,
}

/// What the cluster records about a node.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NodeRecord {
    pub id: u64,
    pub addr: String,
    pub witness: bool,
    pub status: NodeStatus,
    pub since_ms: u64,
    /// SHA-256 (lowercase hex) of the certificate issued to the node: the only one a
    /// node of this name is admitted with. `None` for nodes admitted before it was
    /// recorded (admitted by name alone).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cert_sha256: Option<String>,
    /// `not_after` of that certificate (milliseconds since the Unix epoch), when known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cert_not_after_ms: Option<u64>,
    /// The epoch of the `RenewCert` that recorded the certificate; `None` for the one
    /// issued when the node was admitted. A rotation asks for every certificate recorded
    /// before it to be renewed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cert_epoch: Option<u64>,
    /// The certificate the last renewal replaced: still admitted, so that no connection
    /// breaks while the node switches, until the node says it switched (`CertSwitched`)
    /// or `previous_until_ms` (that certificate's own expiry).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub previous_cert_sha256: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub previous_until_ms: Option<u64>,
    /// SHA-256 of the CA that issued the recorded certificate, when recorded (a CA
    /// rotation finishes once every member's is the new CA).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cert_ca_sha256: Option<String>,
}

impl NodeRecord {
    /// Whether a certificate with this fingerprint is admitted for the node at `now_ms`:
    /// the recorded one, or the one it replaced while the node switches. A record made
    /// before fingerprints were kept admits any (by name alone).
    pub fn admits_cert(&self, fingerprint: &str, now_ms: u64) -> bool {
        crate::net::KnownNode::of("", self).admits_cert(fingerprint, now_ms)
    }
}

/// One recorded resource operation result: what the scheduler needs to read it back
/// as Pacemaker's `lrm_rsc_op`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct StoredOp {
    /// The resource (a clone instance as `rsc:N`).
    pub resource: String,
    /// `class:provider:type` (`class:type` without a provider), so that a resource no
    /// longer configured can still be stopped.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub agent: Option<String>,
    pub operation: String,
    pub interval_ms: u64,
    pub rc: i32,
    /// Grows on each node, across daemon restarts.
    pub call_id: i64,
    /// When the operation started.
    pub time_ms: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exit_reason: Option<String>,
    /// Execution status as Pacemaker numbers it (0 done, 1 cancelled, 2 timeout, ...).
    #[serde(default)]
    pub op_status: i32,
    /// The result the controller expected.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target_rc: Option<i32>,
    /// `ACTION:TRANSITION:TARGET_RC:DC` of the dispatch that asked for it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub transition_key: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub op_digest: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub op_restart_digest: Option<String>,
    #[serde(default)]
    pub exec_ms: u64,
    #[serde(default)]
    pub queue_ms: u64,
    /// When `rc` last changed for this operation.
    #[serde(default)]
    pub last_rc_change_ms: u64,
    /// A failure to count against the resource on this node.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fail: Option<FailBump>,
}

/// How a failed operation changes its fail count (Pacemaker: a failed start with
/// `start-failure-is-fatal` and a failed stop make it INFINITY, others add one).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FailBump {
    Increment,
    Infinity,
}

/// Pacemaker's INFINITY, the ceiling of fail counts.
pub const FAIL_INFINITY: u32 = 1_000_000;

/// One fencing action, as `halo stonith history` shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FenceRecord {
    /// The node fenced.
    pub target: String,
    /// reboot, off, on.
    pub action: String,
    /// The device used; `None` for self-fencing (the node stopped everything itself,
    /// or was waited out past its lease).
    pub device: Option<String>,
    /// The node that ran the device (or asked the target to fence itself).
    pub executor: String,
    /// The DC that decided it.
    pub origin: String,
    pub ok: bool,
    /// What happened, in one line.
    pub detail: String,
    pub time_ms: u64,
}

/// A change of the status kept to explain what happened (`halo why`): a node attribute
/// taking a new value or deleted (agents such as galera and rabbitmq-cluster decide
/// through them), an operation other than a monitor, a node forgotten or fenced.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StatusEvent {
    pub epoch: u64,
    pub time_ms: u64,
    /// The node it is about.
    pub node: String,
    pub summary: String,
    /// The attribute, and its new value (none: deleted).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub attribute: Option<(String, Option<String>)>,
    /// The resource operated on (a clone instance as `rsc:N`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resource: Option<String>,
}

/// The failures of one operation of a resource on a node (`fail-count-RSC#OP_INTERVAL`
/// and `last-failure-RSC#OP_INTERVAL`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FailRecord {
    pub count: u32,
    pub last_ms: u64,
}

/// The configuration as one change left it (`halo config history|diff|rollback`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConfigVersion {
    /// The epoch of the change that made it.
    pub epoch: u64,
    pub time_ms: u64,
    /// The node the change came through.
    pub node: String,
    /// Who asked for it and from where (`user@address`), when it came through the API.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub by: Option<String>,
    pub summary: String,
    pub config: StoredConfig,
}

/// One line of `halo cluster history`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HistoryEntry {
    pub epoch: u64,
    pub time_ms: u64,
    pub node: String,
    /// Who asked for it and from where (`user@address`), when it came through the API.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub by: Option<String>,
    pub summary: String,
    pub log_index: u64,
}

/// The configured node, as stored (halo's own format, not the model's type).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct StoredNode {
    pub id: String,
    pub name: String,
    #[serde(default)]
    pub attrs: Attrs,
    /// The node's base score for every resource (Pacemaker's node `score`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub score: Option<i64>,
}

/// Version 1 of the stored configuration: the parts of `halo_model::Config` consensus
/// itself manages (properties, nodes, defaults). Resources and constraints arrive with
/// the native TOML format (`StoredConfig::NativeToml`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct ConfigV1 {
    #[serde(default)]
    pub properties: Attrs,
    #[serde(default)]
    pub nodes: Vec<StoredNode>,
    #[serde(default)]
    pub rsc_defaults: Attrs,
    #[serde(default)]
    pub op_defaults: Attrs,
}

/// The stored cluster configuration: an explicit, versioned envelope.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "format")]
pub enum StoredConfig {
    #[serde(rename = "halo-config/1")]
    V1(ConfigV1),
    /// The whole configuration as halo's native TOML text (`halo_model::native`).
    #[serde(rename = "halo-native-toml/1")]
    NativeToml { text: String },
}

impl Default for StoredConfig {
    fn default() -> Self {
        StoredConfig::V1(ConfigV1::default())
    }
}

/// Why a stored configuration cannot be read back as a model configuration.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConfigConvertError {
    #[error("HALO-E121 the replicated configuration is not valid native TOML: {0}")]
    Native(String),
}

impl StoredConfig {
    /// Convert a model configuration into the stored format: `halo-config/1` while it
    /// only has properties, nodes and defaults, the whole native TOML text as soon as it
    /// has resources or constraints.
    pub fn from_model(cfg: &halo_model::Config) -> Result<Self, ConfigConvertError> {
        if !cfg.resources.is_empty()
            || !cfg.constraints.is_empty()
            || !cfg.fencing_levels.is_empty()
        {
            return Ok(StoredConfig::NativeToml {
                text: halo_model::to_native(cfg),
            });
        }
        Ok(StoredConfig::V1(ConfigV1 {
            properties: cfg.properties.clone(),
            nodes: cfg
                .nodes
                .iter()
                .map(|n| StoredNode {
                    id: n.id.clone(),
                    name: n.name.clone(),
                    attrs: n.attrs.clone(),
                    score: n.score.map(|s| s.value()),
                })
                .collect(),
            rsc_defaults: cfg.rsc_defaults.clone(),
            op_defaults: cfg.op_defaults.clone(),
        }))
    }

    /// Convert the stored format into the model configuration.
    pub fn to_model(&self) -> Result<halo_model::Config, ConfigConvertError> {
        match self {
            StoredConfig::V1(c) => Ok(halo_model::Config {
                properties: c.properties.clone(),
                nodes: c
                    .nodes
                    .iter()
                    .map(|n| halo_model::Node {
                        id: n.id.clone(),
                        name: n.name.clone(),
                        attrs: n.attrs.clone(),
                        score: n.score.map(halo_model::Score::new),
                    })
                    .collect(),
                resources: vec![],
                constraints: vec![],
                fencing_levels: vec![],
                rsc_defaults: c.rsc_defaults.clone(),
                op_defaults: c.op_defaults.clone(),
            }),
            StoredConfig::NativeToml { text } => {
                halo_model::parse_native(text, "replicated configuration")
                    .map(|doc| doc.config)
                    .map_err(|e| ConfigConvertError::Native(e.to_string()))
            }
        }
    }

    /// Change the configuration through the model, whatever its stored format.
    pub fn edit(
        &mut self,
        f: impl FnOnce(&mut halo_model::Config),
    ) -> Result<(), ConfigConvertError> {
        let mut cfg = self.to_model()?;
        f(&mut cfg);
        *self = StoredConfig::from_model(&cfg)?;
        Ok(())
    }
}

/// A change to the replicated state. New kinds are added as new variants; an existing
/// variant's fields never change meaning (the log on disk must stay readable).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "change", rename_all = "snake_case")]
pub enum Change {
    /// First entry of a cluster: its identity, CA and settings. Ignored when already set.
    InitCluster {
        name: String,
        ca_cert_pem: String,
        ca_fingerprint: String,
        /// The CA private key, in entries older versions wrote; ignored (the key lives in
        /// `ca-key.pem` on the nodes that may sign) and left empty in new ones.
        #[serde(default, skip_serializing_if = "Secret::is_empty")]
        ca_key_pem: Secret,
        settings: Settings,
        /// Nodes known at creation (the first node, or every node of an offline setup).
        nodes: Vec<(String, u64, String, bool)>,
        next_node_id: u64,
        /// Certificate fingerprints of those nodes, by name.
        #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
        certs: BTreeMap<String, String>,
        /// `not_after` of those certificates, by name, in entries that record it.
        #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
        cert_not_after: BTreeMap<String, u64>,
    },
    /// Admit a node (assign its id); refused when the name is taken or was removed.
    ReserveNode {
        name: String,
        addr: String,
        witness: bool,
    },
    /// Mark a node removed (its Raft membership is changed separately).
    RemoveNode { name: String },
    /// Record a join token (hash of its secret only).
    AddToken {
        id: String,
        secret_sha256: String,
        expires_ms: u64,
        /// How many nodes it admits; `None` (older entries): any number until it expires.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        uses: Option<u32>,
    },
    /// Replace the whole configuration; with `if_unchanged`, only if the current one is
    /// still that (a read-modify-write that lost a race is refused, never merged).
    SetConfig {
        config: StoredConfig,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        if_unchanged: Option<StoredConfig>,
    },
    /// Set or delete (`None`) one cluster property.
    SetProperty { name: String, value: Option<String> },
    /// Change cluster settings.
    SetSettings { settings: Settings },
    /// Set or delete a transient node attribute (status section).
    SetNodeAttr {
        node: String,
        name: String,
        value: Option<String>,
    },
    /// Set a resource's fail count on a node (0 clears it).
    SetFailCount {
        node: String,
        resource: String,
        count: u32,
    },
    /// Record one resource operation result.
    RecordOp { node: String, op: StoredOp },
    /// Forget what a node runs and its transient attributes: it left (its lease ran out
    /// or it was fenced) or its daemon restarted; it is probed again when it comes back.
    ForgetNode { node: String, reason: String },
    /// Record a fencing action (and, when it succeeded, forget the target's status).
    RecordFence { record: FenceRecord },
    /// A change that does nothing but bump the epoch (used by tests and benchmarks).
    Noop { note: String },
    /// Users of the API and their tokens.
    User(crate::users::UserChange),
    /// Admit a node with a join token: the token must be known, neither revoked nor
    /// expired (by the entry's time) and have a use left, which this consumes; the
    /// node's certificate (issued before) is recorded by fingerprint.
    AdmitNode {
        name: String,
        addr: String,
        witness: bool,
        token_id: String,
        cert_sha256: String,
        /// `not_after` of that certificate, in entries that record it.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        not_after_ms: Option<u64>,
        /// SHA-256 of the CA that issued it, in entries that record it.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        ca_sha256: Option<String>,
    },
    /// Revoke a join token (kept, refused, until it expires).
    RevokeToken { id: String },
    /// A node's renewed certificate: accepted only from the node itself. The one it
    /// replaces stays admitted until the node switched (`CertSwitched`) or, at the
    /// latest, `previous_until_ms`.
    RenewCert {
        name: String,
        cert_sha256: String,
        not_after_ms: u64,
        previous_until_ms: u64,
        /// SHA-256 of the CA that issued it, in entries that record it.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        ca_sha256: Option<String>,
    },
    /// A node uses its renewed certificate now: the one it replaced is no longer
    /// admitted. Accepted only from the node itself.
    CertSwitched { name: String },
    /// Every node renews its certificate now (`halo cluster certs rotate`).
    RotateCerts,
    /// Start moving the cluster to a new CA (`halo cluster certs rotate --new-ca`): both
    /// are trusted, the new one signs, and every node renews its certificate. Refused
    /// while another rotation of the CA is under way.
    BeginCaRotation {
        ca_cert_pem: String,
        ca_fingerprint: String,
    },
    /// End a CA rotation: the new CA becomes the only one trusted. Refused unless every
    /// member uses a certificate of it.
    FinishCaRotation { ca_fingerprint: String },
}

impl Change {
    /// One line for the history, free of secrets.
    pub fn summary(&self) -> String {
        match self {
            Change::InitCluster { name, nodes, .. } => {
                let names: Vec<&str> = nodes.iter().map(|n| n.0.as_str()).collect();
                format!("create cluster {name} with {}", names.join(", "))
            }
            Change::ReserveNode {
                name,
                addr,
                witness,
            } => format!(
                "admit {} {name} at {addr}",
                if *witness { "witness" } else { "node" }
            ),
            Change::RemoveNode { name } => format!("remove node {name}"),
            Change::AddToken {
                id,
                expires_ms,
                uses,
                ..
            } => match uses {
                Some(n) => format!(
                    "issue join token {id} for {n} node(s) (expires {})",
                    fmt_time(*expires_ms)
                ),
                None => format!("issue join token {id} (expires {})", fmt_time(*expires_ms)),
            },
            Change::SetConfig { .. } => "replace configuration".to_string(),
            Change::SetProperty { name, value } => match value {
                Some(v) => format!("set property {name}={v}"),
                None => format!("delete property {name}"),
            },
            Change::SetSettings { settings } => {
                format!("set failure-timeout {} ms", settings.failure_timeout_ms)
            }
            Change::SetNodeAttr { node, name, value } => match value {
                Some(v) => format!("set attribute {name}={v} on {node}"),
                None => format!("delete attribute {name} on {node}"),
            },
            Change::SetFailCount {
                node,
                resource,
                count,
            } => format!("fail count of {resource} on {node} = {count}"),
            Change::RecordOp { node, op } => {
                format!("{} {} on {node}: rc={}", op.resource, op.operation, op.rc)
            }
            Change::ForgetNode { node, reason } => format!("forget the status of {node}: {reason}"),
            Change::RecordFence { record } => format!(
                "fencing ({}) of {} by {} {}: {}",
                record.action,
                record.target,
                record.device.as_deref().unwrap_or("self-fencing"),
                if record.ok { "succeeded" } else { "FAILED" },
                record.detail
            ),
            Change::Noop { note } => format!("noop {note}"),
            Change::User(u) => u.summary(),
            Change::AdmitNode {
                name,
                addr,
                witness,
                token_id,
                ..
            } => format!(
                "admit {} {name} at {addr} with token {token_id}",
                if *witness { "witness" } else { "node" }
            ),
            Change::RevokeToken { id } => format!("revoke join token {id}"),
            Change::RenewCert {
                name,
                cert_sha256,
                not_after_ms,
                ..
            } => format!(
                "renew the certificate of {name}: SHA-256 {} valid until {}",
                short(cert_sha256),
                fmt_time(*not_after_ms)
            ),
            Change::CertSwitched { name } => {
                format!("{name} switched to its renewed certificate")
            }
            Change::RotateCerts => "rotate every node's certificate".to_string(),
            Change::BeginCaRotation { ca_fingerprint, .. } => format!(
                "begin moving to a new cluster CA (SHA-256 {}): both trusted until every node renewed",
                short(ca_fingerprint)
            ),
            Change::FinishCaRotation { ca_fingerprint } => format!(
                "finish moving to the new cluster CA (SHA-256 {}): the old one is no longer trusted",
                short(ca_fingerprint)
            ),
        }
    }

    /// Whether this change is a configuration change (shown by `halo cluster history`).
    pub fn is_config_change(&self) -> bool {
        match self {
            Change::RecordOp { .. } | Change::SetFailCount { .. } | Change::SetNodeAttr { .. } => {
                false
            }
            Change::User(u) => u.is_history(),
            _ => true,
        }
    }
}

/// The outcome of one change.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(tag = "result", rename_all = "snake_case")]
pub enum ChangeResult {
    #[default]
    Ok,
    /// A node id was assigned.
    NodeId { id: u64 },
    /// The change was refused; the state is unchanged.
    Refused { code: String, reason: String },
}

/// The whole replicated state.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub struct ClusterState {
    pub cluster: Option<ClusterInfo>,
    #[serde(default)]
    pub settings: Settings,
    /// Number of applied changes; every change gets the next epoch.
    pub epoch: u64,
    #[serde(default)]
    pub config: StoredConfig,
    /// Node records by name.
    #[serde(default)]
    pub nodes: BTreeMap<String, NodeRecord>,
    pub next_node_id: u64,
    /// Transient node attributes by node name.
    #[serde(default)]
    pub node_attrs: BTreeMap<String, Attrs>,
    /// Fail counts: node -> resource -> count.
    #[serde(default)]
    pub fail_counts: BTreeMap<String, BTreeMap<String, u32>>,
    /// Recent operation results per node and resource.
    #[serde(default)]
    pub op_history: BTreeMap<String, BTreeMap<String, Vec<StoredOp>>>,
    /// Failures per node and `RSC#OP_INTERVAL`.
    #[serde(default)]
    pub failures: BTreeMap<String, BTreeMap<String, FailRecord>>,
    /// Recent fencing actions, oldest first.
    #[serde(default)]
    pub fence_history: VecDeque<FenceRecord>,
    #[serde(default)]
    pub history: VecDeque<HistoryEntry>,
    /// Recent status events, oldest first.
    #[serde(default)]
    pub events: VecDeque<StatusEvent>,
    /// The last configurations, oldest first, each as a change left it.
    #[serde(default)]
    pub config_versions: VecDeque<ConfigVersion>,
    #[serde(default)]
    pub tokens: BTreeMap<String, TokenRecord>,
    /// Only ever read (from a state an older version wrote), never written.
    #[serde(default, skip_serializing)]
    pub secrets: Secrets,
    /// Users of the API and their tokens.
    #[serde(default)]
    pub users: crate::users::Users,
    /// The epoch of the last `RotateCerts`: a node whose certificate was recorded before
    /// it renews its certificate.
    #[serde(default)]
    pub certs_rotated_epoch: u64,
}

/// The first 16 hex digits of a fingerprint, as summaries show it.
fn short(fp: &str) -> &str {
    fp.get(..16).unwrap_or(fp)
}

fn refused(code: &str, reason: String) -> ChangeResult {
    ChangeResult::Refused {
        code: code.to_string(),
        reason,
    }
}

/// Appends `item`, dropping the oldest entries past `limit`.
fn push_bounded<T>(queue: &mut VecDeque<T>, item: T, limit: usize) {
    queue.push_back(item);
    while queue.len() > limit {
        queue.pop_front();
    }
}

impl ClusterState {
    /// Apply one committed request. Deterministic: the same state and request always give
    /// the same result on every node.
    pub fn apply(&mut self, req: &Request, log_index: u64) -> ChangeResult {
        let before = req.change.is_config_change().then(|| self.config.clone());
        let event = self.event_of(&req.change);
        let result = self.apply_change(req);
        if !matches!(result, ChangeResult::Refused { .. }) {
            self.epoch += 1;
            if let Some(mut e) = event {
                e.epoch = self.epoch;
                e.time_ms = req.time_ms;
                push_bounded(&mut self.events, e, EVENTS_KEPT);
            }
            if before.as_ref().is_some_and(|b| *b != self.config) {
                let version = ConfigVersion {
                    epoch: self.epoch,
                    time_ms: req.time_ms,
                    node: req.node.clone(),
                    by: req.by.clone(),
                    summary: req.change.summary(),
                    config: self.config.clone(),
                };
                push_bounded(&mut self.config_versions, version, CONFIG_VERSIONS_KEPT);
            }
            if req.change.is_config_change() {
                let entry = HistoryEntry {
                    epoch: self.epoch,
                    time_ms: req.time_ms,
                    node: req.node.clone(),
                    by: req.by.clone(),
                    summary: req.change.summary(),
                    log_index,
                };
                push_bounded(&mut self.history, entry, HISTORY_LIMIT);
            }
        }
        result
    }

    /// The status event `change` makes, before it is applied: an attribute only when
    /// its value changes, an operation only when it is not a monitor.
    fn event_of(&self, change: &Change) -> Option<StatusEvent> {
        let (node, attribute, resource) = match change {
            Change::SetNodeAttr { node, name, value } => {
                let now = self.node_attrs.get(node).and_then(|a| a.get(name));
                if now == value.as_ref() {
                    return None;
                }
                (node, Some((name.clone(), value.clone())), None)
            }
            Change::RecordOp { node, op }
                if !matches!(op.operation.as_str(), "monitor" | "notify") =>
            {
                (node, None, Some(op.resource.clone()))
            }
            Change::ForgetNode { node, .. } => (node, None, None),
            Change::RecordFence { record } => (&record.target, None, None),
            _ => return None,
        };
        Some(StatusEvent {
            epoch: 0,
            time_ms: 0,
            node: node.clone(),
            summary: change.summary(),
            attribute,
            resource,
        })
    }

    fn apply_change(&mut self, req: &Request) -> ChangeResult {
        // Expired tokens are kept a week (so a late joiner is told "expired", not "unknown"),
        // then dropped by the time carried in the log, so every node drops the same ones.
        self.tokens
            .retain(|_, t| t.expires_ms.saturating_add(TOKEN_GRACE_MS) > req.time_ms);
        // A CA key an older version replicated is not kept in memory either (the node
        // moved it to its own file when it opened the state).
        self.secrets = Secrets::default();
        match &req.change {
            Change::InitCluster {
                name,
                ca_cert_pem,
                ca_fingerprint,
                ca_key_pem: _,
                settings,
                nodes,
                next_node_id,
                certs,
                cert_not_after,
            } => {
                if self.cluster.is_some() {
                    return refused("HALO-E110", "the cluster is already initialised".into());
                }
                self.cluster = Some(ClusterInfo {
                    name: name.clone(),
                    created_ms: req.time_ms,
                    ca_cert_pem: ca_cert_pem.clone(),
                    ca_fingerprint: ca_fingerprint.clone(),
                    next_ca: None,
                });
                self.settings = settings.clone();
                for (n, id, addr, witness) in nodes {
                    self.nodes.insert(
                        n.clone(),
                        NodeRecord {
                            id: *id,
                            addr: addr.clone(),
                            witness: *witness,
                            status: NodeStatus::Member,
                            since_ms: req.time_ms,
                            cert_sha256: certs.get(n).cloned(),
                            cert_not_after_ms: cert_not_after.get(n).copied(),
                            cert_epoch: None,
                            previous_cert_sha256: None,
                            previous_until_ms: None,
                            cert_ca_sha256: certs.get(n).map(|_| ca_fingerprint.clone()),
                        },
                    );
                    if !*witness {
                        self.add_config_node(n);
                    }
                }
                self.next_node_id = (*next_node_id).max(self.next_node_id);
                ChangeResult::Ok
            }
            Change::ReserveNode {
                name,
                addr,
                witness,
            } => match self.reserve_node(name, addr, *witness, None, req.time_ms) {
                Ok(id) => ChangeResult::NodeId { id },
                Err(refusal) => refusal,
            },
            Change::RemoveNode { name } => match self.nodes.get_mut(name) {
                Some(rec) if rec.status == NodeStatus::Member => {
                    rec.status = NodeStatus::Removed;
                    rec.since_ms = req.time_ms;
                    self.node_attrs.remove(name);
                    self.fail_counts.remove(name);
                    self.op_history.remove(name);
                    self.failures.remove(name);
                    if let Err(e) = self.config.edit(|c| c.nodes.retain(|n| n.name != *name)) {
                        return refused("HALO-E121", e.to_string());
                    }
                    ChangeResult::Ok
                }
                _ => refused("HALO-E114", format!("no node named {name} in the cluster")),
            },
            Change::AddToken {
                id,
                secret_sha256,
                expires_ms,
                uses,
            } => {
                self.tokens.insert(
                    id.clone(),
                    TokenRecord {
                        secret_sha256: secret_sha256.clone(),
                        expires_ms: *expires_ms,
                        created_by: req.node.clone(),
                        uses_left: *uses,
                        revoked: false,
                    },
                );
                ChangeResult::Ok
            }
            Change::SetConfig {
                config,
                if_unchanged,
            } => {
                if if_unchanged.as_ref().is_some_and(|c| *c != self.config) {
                    return refused(
                        "HALO-E154",
                        "the configuration changed since it was read: read it again and redo the change".into(),
                    );
                }
                // Only a configuration that reads back cleanly is committed.
                if let Err(e) = config.to_model() {
                    return refused("HALO-E121", e.to_string());
                }
                self.config = config.clone();
                ChangeResult::Ok
            }
            Change::SetProperty { name, value } => {
                let edited = self.config.edit(|c| {
                    match value {
                        Some(v) => c.properties.insert(name.clone(), v.clone()),
                        None => c.properties.remove(name),
                    };
                });
                match edited {
                    Ok(()) => ChangeResult::Ok,
                    Err(e) => refused("HALO-E121", e.to_string()),
                }
            }
            Change::SetSettings { settings } => {
                if settings.failure_timeout_ms < 100 {
                    return refused(
                        "HALO-E116",
                        format!(
                            "failure timeout {} ms is below the minimum of 100 ms",
                            settings.failure_timeout_ms
                        ),
                    );
                }
                self.settings = settings.clone();
                ChangeResult::Ok
            }
            Change::SetNodeAttr { node, name, value } => {
                let attrs = self.node_attrs.entry(node.clone()).or_default();
                match value {
                    Some(v) => attrs.insert(name.clone(), v.clone()),
                    None => attrs.remove(name),
                };
                if attrs.is_empty() {
                    self.node_attrs.remove(node);
                }
                ChangeResult::Ok
            }
            Change::SetFailCount {
                node,
                resource,
                count,
            } => {
                let m = self.fail_counts.entry(node.clone()).or_default();
                if *count == 0 {
                    m.remove(resource);
                    if let Some(f) = self.failures.get_mut(node) {
                        f.retain(|k, _| k.split('#').next() != Some(resource.as_str()));
                        if f.is_empty() {
                            self.failures.remove(node);
                        }
                    }
                } else {
                    m.insert(resource.clone(), *count);
                }
                if m.is_empty() {
                    self.fail_counts.remove(node);
                }
                ChangeResult::Ok
            }
            // Notifications say nothing of a resource's state: as Pacemaker, they are not
            // kept (the DC still sees the change, to confirm its action).
            Change::RecordOp { op, .. } if op.operation == "notify" => ChangeResult::Ok,
            Change::RecordOp { node, op } => {
                let ops = self
                    .op_history
                    .entry(node.clone())
                    .or_default()
                    .entry(op.resource.clone())
                    .or_default();
                ops.push(op.clone());
                // Past the limit, the oldest record that a later one of the same
                // operation and interval supersedes goes first: the last result of every
                // operation stays (as Pacemaker keeps one per operation), whatever else
                // ran since.
                while ops.len() > OP_HISTORY_LIMIT {
                    let superseded = (0..ops.len()).find(|i| {
                        ops[i + 1..].iter().any(|o| {
                            o.operation == ops[*i].operation && o.interval_ms == ops[*i].interval_ms
                        })
                    });
                    ops.remove(superseded.unwrap_or(0));
                }
                if let Some(bump) = op.fail {
                    let key = format!("{}#{}_{}", op.resource, op.operation, op.interval_ms);
                    let rec = self
                        .failures
                        .entry(node.clone())
                        .or_default()
                        .entry(key)
                        .or_insert(FailRecord {
                            count: 0,
                            last_ms: 0,
                        });
                    rec.count = match bump {
                        FailBump::Increment => rec.count.saturating_add(1).min(FAIL_INFINITY),
                        FailBump::Infinity => FAIL_INFINITY,
                    };
                    rec.last_ms = op.time_ms;
                    let prefix = format!("{}#", op.resource);
                    let total = self.failures[node]
                        .iter()
                        .filter(|(k, _)| k.starts_with(&prefix))
                        .fold(0u32, |a, (_, r)| a.saturating_add(r.count))
                        .min(FAIL_INFINITY);
                    self.fail_counts
                        .entry(node.clone())
                        .or_default()
                        .insert(op.resource.clone(), total);
                }
                ChangeResult::Ok
            }
            Change::ForgetNode { node, .. } => {
                self.forget_node(node);
                ChangeResult::Ok
            }
            Change::RecordFence { record } => {
                if record.ok {
                    self.forget_node(&record.target);
                }
                push_bounded(&mut self.fence_history, record.clone(), FENCE_HISTORY_LIMIT);
                ChangeResult::Ok
            }
            Change::Noop { .. } => ChangeResult::Ok,
            Change::User(u) => self.users.apply(u, req.time_ms),
            Change::AdmitNode {
                name,
                addr,
                witness,
                token_id,
                cert_sha256,
                not_after_ms,
                ca_sha256,
            } => {
                if let Err(refusal) = self.check_token(token_id, req.time_ms) {
                    return refusal;
                }
                match self.reserve_node(name, addr, *witness, Some(cert_sha256), req.time_ms) {
                    Ok(id) => {
                        if let Some(rec) = self.nodes.get_mut(name) {
                            rec.cert_not_after_ms = *not_after_ms;
                            rec.cert_ca_sha256.clone_from(ca_sha256);
                        }
                        if let Some(t) = self.tokens.get_mut(token_id) {
                            t.uses_left = t.uses_left.map(|n| n.saturating_sub(1));
                        }
                        ChangeResult::NodeId { id }
                    }
                    Err(refusal) => refusal,
                }
            }
            Change::RevokeToken { id } => match self.tokens.get_mut(id) {
                Some(t) => {
                    t.revoked = true;
                    ChangeResult::Ok
                }
                None => refused(
                    "HALO-E146",
                    format!("no join token with id {id} (see `halo cluster token list`)"),
                ),
            },
            Change::RenewCert {
                name,
                cert_sha256,
                not_after_ms,
                previous_until_ms,
                ca_sha256,
            } => {
                if req.node != *name {
                    return refused(
                        "HALO-E192",
                        format!("{} may not renew the certificate of {name}: a node renews only its own", req.node),
                    );
                }
                let epoch = self.epoch + 1;
                match self.nodes.get_mut(name) {
                    Some(rec) if rec.status == NodeStatus::Member => {
                        rec.previous_cert_sha256 = rec.cert_sha256.replace(cert_sha256.clone());
                        rec.previous_until_ms = rec
                            .previous_cert_sha256
                            .as_ref()
                            .map(|_| *previous_until_ms);
                        rec.cert_not_after_ms = Some(*not_after_ms);
                        rec.cert_epoch = Some(epoch);
                        rec.cert_ca_sha256.clone_from(ca_sha256);
                        ChangeResult::Ok
                    }
                    _ => refused("HALO-E114", format!("no node named {name} in the cluster")),
                }
            }
            Change::CertSwitched { name } => {
                if req.node != *name {
                    return refused(
                        "HALO-E192",
                        format!("{} may not speak for the certificate of {name}: a node switches only its own", req.node),
                    );
                }
                match self.nodes.get_mut(name) {
                    Some(rec) if rec.status == NodeStatus::Member => {
                        rec.previous_cert_sha256 = None;
                        rec.previous_until_ms = None;
                        ChangeResult::Ok
                    }
                    _ => refused("HALO-E114", format!("no node named {name} in the cluster")),
                }
            }
            Change::RotateCerts => {
                self.certs_rotated_epoch = self.epoch + 1;
                ChangeResult::Ok
            }
            Change::BeginCaRotation {
                ca_cert_pem,
                ca_fingerprint,
            } => {
                let since_epoch = self.epoch + 1;
                let Some(cluster) = self.cluster.as_mut() else {
                    return refused("HALO-E195", "the cluster is not created yet".into());
                };
                if let Some(next) = &cluster.next_ca {
                    return refused(
                        "HALO-E195",
                        format!(
                            "a move to the CA {} is under way since epoch {}; run `halo cluster certs rotate --new-ca` again to finish it first",
                            short(&next.ca_fingerprint),
                            next.since_epoch
                        ),
                    );
                }
                if *ca_fingerprint == cluster.ca_fingerprint {
                    return refused("HALO-E195", "the new CA is the current one".into());
                }
                cluster.next_ca = Some(NextCa {
                    ca_cert_pem: ca_cert_pem.clone(),
                    ca_fingerprint: ca_fingerprint.clone(),
                    since_epoch,
                });
                self.certs_rotated_epoch = since_epoch;
                ChangeResult::Ok
            }
            Change::FinishCaRotation { ca_fingerprint } => {
                let behind = self.behind_ca(ca_fingerprint);
                let Some(cluster) = self.cluster.as_mut() else {
                    return refused("HALO-E195", "the cluster is not created yet".into());
                };
                let Some(next) = cluster
                    .next_ca
                    .take_if(|n| n.ca_fingerprint == *ca_fingerprint)
                else {
                    return refused(
                        "HALO-E195",
                        format!("no move to the CA {} is under way", short(ca_fingerprint)),
                    );
                };
                if !behind.is_empty() {
                    cluster.next_ca = Some(next);
                    return refused(
                        "HALO-E196",
                        format!(
                            "not every member uses a certificate of the new CA yet: {} (each renews once it is online; both CAs stay trusted until then)",
                            behind.join(", ")
                        ),
                    );
                }
                cluster.ca_cert_pem = next.ca_cert_pem;
                cluster.ca_fingerprint = next.ca_fingerprint;
                ChangeResult::Ok
            }
        }
    }

    /// The members whose certificate in use is not one of the CA `ca_fingerprint` (or
    /// who still switch from an older one).
    pub fn behind_ca(&self, ca_fingerprint: &str) -> Vec<String> {
        self.nodes
            .iter()
            .filter(|(_, r)| r.status == NodeStatus::Member)
            .filter(|(_, r)| {
                r.cert_ca_sha256.as_deref() != Some(ca_fingerprint)
                    || r.previous_cert_sha256.is_some()
            })
            .map(|(n, _)| n.clone())
            .collect()
    }

    /// Whether the token `id` may admit a node at `time_ms`: the refusal otherwise.
    pub fn check_token(&self, id: &str, time_ms: u64) -> Result<&TokenRecord, ChangeResult> {
        let Some(t) = self.tokens.get(id) else {
            return Err(refused(
                "HALO-E104",
                "token refused: it was not issued by this cluster or its secret is wrong; make one with `halo cluster token` on a cluster node".into(),
            ));
        };
        if t.revoked {
            return Err(refused(
                "HALO-E144",
                format!("token {id} was revoked; make a fresh one with `halo cluster token` on a cluster node"),
            ));
        }
        if t.expires_ms <= time_ms {
            return Err(refused(
                "HALO-E105",
                format!("token expired at {}; make a fresh one with `halo cluster token` on a cluster node", fmt_time(t.expires_ms)),
            ));
        }
        if t.uses_left == Some(0) {
            return Err(refused(
                "HALO-E145",
                format!("token {id} is used up (each token admits as many nodes as its --uses, one by default); make a fresh one with `halo cluster token`"),
            ));
        }
        Ok(t)
    }

    /// Give a node name its id, or the refusal.
    fn reserve_node(
        &mut self,
        name: &str,
        addr: &str,
        witness: bool,
        cert_sha256: Option<&String>,
        time_ms: u64,
    ) -> Result<u64, ChangeResult> {
        if let Some(rec) = self.nodes.get(name) {
            return Err(match rec.status {
                NodeStatus::Removed => refused(
                    "HALO-E111",
                    format!("node name {name} was removed from this cluster and cannot be reused"),
                ),
                NodeStatus::Member => refused(
                    "HALO-E112",
                    format!(
                        "a node named {name} is already in the cluster (id {})",
                        rec.id
                    ),
                ),
            });
        }
        if let Some((other, _)) = self
            .nodes
            .iter()
            .find(|(_, r)| r.addr == addr && r.status == NodeStatus::Member)
        {
            return Err(refused(
                "HALO-E113",
                format!("address {addr} is already used by node {other}"),
            ));
        }
        let id = self.next_node_id.max(1);
        self.next_node_id = id + 1;
        self.nodes.insert(
            name.to_string(),
            NodeRecord {
                id,
                addr: addr.to_string(),
                witness,
                status: NodeStatus::Member,
                since_ms: time_ms,
                cert_sha256: cert_sha256.cloned(),
                cert_not_after_ms: None,
                cert_epoch: None,
                previous_cert_sha256: None,
                previous_until_ms: None,
                cert_ca_sha256: None,
            },
        );
        if !witness {
            self.add_config_node(name);
        }
        Ok(id)
    }

    fn forget_node(&mut self, node: &str) {
        self.op_history.remove(node);
        self.node_attrs.remove(node);
        self.failures.remove(node);
        self.fail_counts.remove(node);
    }

    fn add_config_node(&mut self, name: &str) {
        // A configuration that does not read back was refused when it was set.
        let _ = self.config.edit(|c| {
            if !c.nodes.iter().any(|n| n.name == name) {
                c.nodes.push(halo_model::Node {
                    id: name.to_string(),
                    name: name.to_string(),
                    ..Default::default()
                });
            }
        });
    }

    /// The node record with this Raft id, if any.
    pub fn node_by_id(&self, id: u64) -> Option<(&String, &NodeRecord)> {
        self.nodes.iter().find(|(_, r)| r.id == id)
    }
}

/// Format milliseconds since the epoch as `YYYY-MM-DD HH:MM:SS UTC`.
pub fn fmt_time(ms: u64) -> String {
    let secs = (ms / 1000) as i64;
    let (y, mo, d) = halo_model::datetime::civil_from_days(secs.div_euclid(86400));
    let rem = secs.rem_euclid(86400);
    let (h, m, s) = (rem / 3600, (rem % 3600) / 60, rem % 60);
    format!("{y:04}-{mo:02}-{d:02} {h:02}:{m:02}:{s:02} UTC")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::types::REQUEST_VERSION;

    fn req(node: &str, t: u64, change: Change) -> Request {
        Request {
            v: REQUEST_VERSION,
            node: node.into(),
            time_ms: t,
            change,
            by: None,
        }
    }

    fn init() -> ClusterState {
        let mut s = ClusterState::default();
        let r = s.apply(
            &req(
                "a",
                1000,
                Change::InitCluster {
                    name: "c1".into(),
                    ca_cert_pem: "CERT".into(),
                    ca_fingerprint: "ff".into(),
                    ca_key_pem: Secret("KEY".into()),
                    settings: Settings::default(),
                    nodes: vec![("a".into(), 1, "127.0.0.1:1".into(), false)],
                    next_node_id: 2,
                    certs: BTreeMap::new(),
                    cert_not_after: BTreeMap::new(),
                },
            ),
            1,
        );
        assert_eq!(r, ChangeResult::Ok);
        s
    }

    /// A node renews only its own certificate; the one replaced stays admitted until the
    /// node switched or its expiry, and a rotation marks every certificate recorded
    /// before it.
    #[test]
    fn renew_cert_only_from_the_node_with_a_grace() {
        let mut s = init();
        if let Some(r) = s.nodes.get_mut("a") {
            r.cert_sha256 = Some("old".into());
        }
        let renew = Change::RenewCert {
            name: "a".into(),
            cert_sha256: "new".into(),
            not_after_ms: 9_000,
            previous_until_ms: 5_000,
            ca_sha256: None,
        };
        let r = s.apply(&req("b", 2000, renew.clone()), 2);
        assert!(
            matches!(&r, ChangeResult::Refused { code, .. } if code == "HALO-E192"),
            "{r:?}"
        );
        assert_eq!(s.apply(&req("a", 2000, renew), 3), ChangeResult::Ok);
        let rec = s.nodes["a"].clone();
        assert_eq!(rec.cert_epoch, Some(s.epoch));
        assert_eq!(rec.cert_not_after_ms, Some(9_000));
        assert!(rec.admits_cert("new", 2_000) && rec.admits_cert("old", 4_999));
        assert!(!rec.admits_cert("old", 5_000) && !rec.admits_cert("other", 2_000));
        let r = s.apply(
            &req("b", 2100, Change::CertSwitched { name: "a".into() }),
            4,
        );
        assert!(matches!(r, ChangeResult::Refused { .. }));
        let r = s.apply(
            &req("a", 2100, Change::CertSwitched { name: "a".into() }),
            5,
        );
        assert_eq!(r, ChangeResult::Ok);
        assert!(!s.nodes["a"].admits_cert("old", 2_200));
        assert_eq!(
            s.apply(&req("b", 2200, Change::RotateCerts), 6),
            ChangeResult::Ok
        );
        assert_eq!(s.certs_rotated_epoch, s.epoch);
        assert!(s.nodes["a"].cert_epoch < Some(s.certs_rotated_epoch));
    }

    /// A move to a new CA: both trusted and the new one signing while it lasts, one move
    /// at a time, finished only once every member's certificate is of the new CA (and
    /// the node switched to it).
    #[test]
    fn ca_move_finishes_only_when_every_member_renewed() {
        let mut s = init();
        if let Some(r) = s.nodes.get_mut("a") {
            r.cert_sha256 = Some("old".into());
        }
        let refused_with = |r: &ChangeResult, want: &str| matches!(r, ChangeResult::Refused { code, .. } if code == want);
        let begin = |fp: &str| Change::BeginCaRotation {
            ca_cert_pem: format!("NEW {fp}"),
            ca_fingerprint: fp.into(),
        };
        let r = s.apply(&req("a", 2000, begin("ff")), 2);
        assert!(refused_with(&r, "HALO-E195"), "the current CA again: {r:?}");
        assert_eq!(s.apply(&req("a", 2000, begin("ee")), 3), ChangeResult::Ok);
        let c = s.cluster.clone().unwrap_or_else(|| panic!("no cluster"));
        assert_eq!(c.signing_ca(), ("NEW ee", "ee"));
        assert_eq!(c.trusted_pem(), "CERT\nNEW ee\n");
        assert_eq!(s.certs_rotated_epoch, s.epoch);
        let r = s.apply(&req("a", 2000, begin("dd")), 4);
        assert!(refused_with(&r, "HALO-E195"), "a second move: {r:?}");
        let finish = |fp: &str| Change::FinishCaRotation {
            ca_fingerprint: fp.into(),
        };
        let r = s.apply(&req("a", 2100, finish("dd")), 5);
        assert!(
            refused_with(&r, "HALO-E195"),
            "not the move under way: {r:?}"
        );
        let r = s.apply(&req("a", 2100, finish("ee")), 6);
        assert!(refused_with(&r, "HALO-E196"), "a not renewed: {r:?}");
        assert!(s.cluster.as_ref().is_some_and(|c| c.next_ca.is_some()));
        let renew = Change::RenewCert {
            name: "a".into(),
            cert_sha256: "new".into(),
            not_after_ms: 9_000,
            previous_until_ms: 5_000,
            ca_sha256: Some("ee".into()),
        };
        assert_eq!(s.apply(&req("a", 2200, renew), 7), ChangeResult::Ok);
        let r = s.apply(&req("a", 2300, finish("ee")), 8);
        assert!(refused_with(&r, "HALO-E196"), "a still switching: {r:?}");
        let switched = Change::CertSwitched { name: "a".into() };
        assert_eq!(s.apply(&req("a", 2300, switched), 9), ChangeResult::Ok);
        assert_eq!(s.apply(&req("a", 2400, finish("ee")), 10), ChangeResult::Ok);
        let c = s.cluster.clone().unwrap_or_else(|| panic!("no cluster"));
        assert_eq!(
            (c.ca_cert_pem.as_str(), c.ca_fingerprint.as_str()),
            ("NEW ee", "ee")
        );
        assert_eq!(c.next_ca, None);
        assert_eq!(c.trusted_pem(), "NEW ee\n");
    }

    /// Node ids are assigned in order and a removed name is never given out again.
    #[test]
    fn reserve_assigns_ids_and_refuses_reuse() {
        let mut s = init();
        let r = s.apply(
            &req(
                "a",
                2000,
                Change::ReserveNode {
                    name: "b".into(),
                    addr: "127.0.0.1:2".into(),
                    witness: false,
                },
            ),
            2,
        );
        assert_eq!(r, ChangeResult::NodeId { id: 2 });
        assert_eq!(s.epoch, 2);
        let dup = s.apply(
            &req(
                "a",
                2001,
                Change::ReserveNode {
                    name: "b".into(),
                    addr: "127.0.0.1:3".into(),
                    witness: false,
                },
            ),
            3,
        );
        assert!(matches!(dup, ChangeResult::Refused { ref code, .. } if code == "HALO-E112"));
        assert_eq!(s.epoch, 2, "a refused change does not bump the epoch");
        s.apply(&req("a", 3000, Change::RemoveNode { name: "b".into() }), 4);
        let again = s.apply(
            &req(
                "a",
                4000,
                Change::ReserveNode {
                    name: "b".into(),
                    addr: "127.0.0.1:2".into(),
                    witness: false,
                },
            ),
            5,
        );
        assert!(matches!(again, ChangeResult::Refused { ref code, .. } if code == "HALO-E111"));
        let c = s.apply(
            &req(
                "a",
                5000,
                Change::ReserveNode {
                    name: "c".into(),
                    addr: "127.0.0.1:2".into(),
                    witness: true,
                },
            ),
            6,
        );
        assert_eq!(c, ChangeResult::NodeId { id: 3 }, "ids are never reused");
    }

    /// A change that alters the configuration keeps the configuration it made; one that
    /// leaves it as it was keeps none; only the last CONFIG_VERSIONS_KEPT are kept.
    #[test]
    fn config_versions_keep_what_each_change_made() {
        let mut s = init();
        let kept = s.config_versions.len();
        let set = |v: &str| Change::SetProperty {
            name: "batch-limit".into(),
            value: Some(v.into()),
        };
        s.apply(&req("b", 7000, set("3")), 9);
        assert_eq!(s.config_versions.len(), kept + 1);
        let last = s
            .config_versions
            .back()
            .cloned()
            .unwrap_or_else(|| panic!("none"));
        assert_eq!(
            (last.epoch, last.time_ms, last.node.as_str()),
            (s.epoch, 7000, "b")
        );
        assert_eq!(last.config, s.config);
        s.apply(&req("b", 7001, set("3")), 10);
        assert_eq!(
            s.config_versions.len(),
            kept + 1,
            "an unchanged configuration"
        );
        for i in 0..(CONFIG_VERSIONS_KEPT + 5) {
            s.apply(&req("b", 8000, set(&i.to_string())), 11);
        }
        assert_eq!(s.config_versions.len(), CONFIG_VERSIONS_KEPT);
        assert_eq!(s.config_versions.back().map(|v| v.epoch), Some(s.epoch));
    }

    /// Every accepted change is in the history with epoch, time and node; secrets are not.
    #[test]
    fn history_records_epoch_time_and_node() {
        let mut s = init();
        s.apply(
            &req(
                "b",
                7000,
                Change::SetProperty {
                    name: "stonith-enabled".into(),
                    value: Some("false".into()),
                },
            ),
            9,
        );
        let last = s
            .history
            .back()
            .cloned()
            .unwrap_or_else(|| panic!("no history"));
        assert_eq!(last.epoch, 2);
        assert_eq!(last.time_ms, 7000);
        assert_eq!(last.node, "b");
        assert_eq!(last.log_index, 9);
        assert_eq!(last.summary, "set property stonith-enabled=false");
        let json = serde_json::to_string(&s.history).unwrap_or_default();
        assert!(!json.contains("KEY"));
        let cfg = s.config.to_model().unwrap_or_default();
        assert_eq!(
            cfg.properties.get("stonith-enabled").map(String::as_str),
            Some("false")
        );
        assert_eq!(cfg.nodes.len(), 1);
    }

    /// Tokens are dropped once the time carried by a later entry passes their expiry.
    #[test]
    fn tokens_expire_by_log_time() {
        let mut s = init();
        s.apply(
            &req(
                "a",
                1000,
                Change::AddToken {
                    id: "t".into(),
                    secret_sha256: "h".into(),
                    expires_ms: 5000,
                    uses: None,
                },
            ),
            2,
        );
        assert!(s.tokens.contains_key("t"));
        s.apply(&req("a", 6000, Change::Noop { note: "x".into() }), 3);
        assert!(s.tokens.contains_key("t"), "kept during the grace period");
        s.apply(
            &req(
                "a",
                5000 + TOKEN_GRACE_MS,
                Change::Noop { note: "x".into() },
            ),
            4,
        );
        assert!(!s.tokens.contains_key("t"));
    }

    /// A join token admits as many nodes as its uses, each admission consuming one in
    /// the same committed change that records the node's certificate; a revoked, an
    /// expired or a used-up token is refused with its own code; a token of an older
    /// entry (no uses) admits until it expires.
    #[test]
    fn admit_consumes_token_uses() {
        let mut s = init();
        let token = |id: &str, uses: Option<u32>| Change::AddToken {
            id: id.into(),
            secret_sha256: "h".into(),
            expires_ms: 100_000,
            uses,
        };
        let admit = |name: &str, token_id: &str| Change::AdmitNode {
            name: name.into(),
            addr: format!(
                "127.0.0.1:{}",
                name.len() * 1000 + name.as_bytes()[0] as usize
            ),
            witness: false,
            token_id: token_id.into(),
            cert_sha256: format!("fp-{name}"),
            not_after_ms: None,
            ca_sha256: None,
        };
        let code = |r: ChangeResult| match r {
            ChangeResult::Refused { code, .. } => code,
            other => format!("{other:?}"),
        };
        s.apply(&req("a", 1000, token("one", Some(1))), 2);
        s.apply(&req("a", 1000, token("two", Some(2))), 3);
        s.apply(&req("a", 1000, token("old", None)), 4);
        assert!(matches!(
            s.apply(&req("a", 2000, admit("b", "one")), 5),
            ChangeResult::NodeId { .. }
        ));
        assert_eq!(s.nodes["b"].cert_sha256.as_deref(), Some("fp-b"));
        assert_eq!(s.tokens["one"].uses_left, Some(0));
        assert_eq!(
            code(s.apply(&req("a", 2000, admit("c", "one")), 6)),
            "HALO-E145"
        );
        assert!(
            !s.nodes.contains_key("c"),
            "a refused admission records nothing"
        );
        assert!(matches!(
            s.apply(&req("a", 2000, admit("c", "two")), 7),
            ChangeResult::NodeId { .. }
        ));
        // A refused admission (name taken) does not consume a use.
        assert_eq!(
            code(s.apply(&req("a", 2000, admit("c", "two")), 8)),
            "HALO-E112"
        );
        assert_eq!(s.tokens["two"].uses_left, Some(1));
        s.apply(&req("a", 2000, Change::RevokeToken { id: "two".into() }), 9);
        assert_eq!(
            code(s.apply(&req("a", 2000, admit("d", "two")), 10)),
            "HALO-E144"
        );
        assert_eq!(
            code(s.apply(
                &req("a", 2000, Change::RevokeToken { id: "nope".into() }),
                11
            )),
            "HALO-E146"
        );
        assert_eq!(
            code(s.apply(&req("a", 2000, admit("d", "nope")), 12)),
            "HALO-E104"
        );
        for n in ["d", "e"] {
            assert!(matches!(
                s.apply(&req("a", 3000, admit(n, "old")), 13),
                ChangeResult::NodeId { .. }
            ));
        }
        assert_eq!(
            code(s.apply(&req("a", 100_000, admit("f", "old")), 14)),
            "HALO-E105"
        );
        s.apply(&req("a", 3000, Change::RemoveNode { name: "d".into() }), 15);
        s.apply(&req("a", 3000, token("three", Some(1))), 16);
        assert_eq!(
            code(s.apply(&req("a", 3000, admit("d", "three")), 17)),
            "HALO-E111"
        );
    }

    /// A state an older version wrote, with the CA key among its replicated secrets,
    /// still loads (so the node can move the key to its own file), but the key is never
    /// written again: not in the state file, so not in a snapshot, and a new
    /// InitCluster entry does not carry it.
    #[test]
    fn legacy_ca_key_is_read_never_written() {
        let s = init();
        let mut v = serde_json::to_value(StateFile::V1(s)).unwrap_or_default();
        v["secrets"] = serde_json::json!({ "ca_key_pem": "LEGACY-CA-KEY" });
        let old: StateFile = serde_json::from_value(v).unwrap_or_else(|e| panic!("{e}"));
        let mut state = old.into_state();
        assert_eq!(state.secrets.ca_key_pem, "LEGACY-CA-KEY");
        let text = serde_json::to_string(&StateFile::V1(state.clone())).unwrap_or_default();
        assert!(
            !text.contains("LEGACY-CA-KEY") && !text.contains("secrets"),
            "{text}"
        );
        state.apply(&req("a", 2000, Change::Noop { note: "x".into() }), 2);
        assert!(state.secrets.ca_key_pem.is_empty());
        let entry = Change::InitCluster {
            name: "c".into(),
            ca_cert_pem: "CERT".into(),
            ca_fingerprint: "ff".into(),
            ca_key_pem: Secret::default(),
            settings: Settings::default(),
            nodes: vec![],
            next_node_id: 1,
            certs: BTreeMap::new(),
            cert_not_after: BTreeMap::new(),
        };
        let text = serde_json::to_string(&entry).unwrap_or_default();
        assert!(!text.contains("ca_key_pem"), "{text}");
    }

    /// The state file is a tagged, versioned document.
    #[test]
    fn state_file_is_versioned() {
        let s = init();
        let text = serde_json::to_string(&StateFile::V1(s.clone())).unwrap_or_default();
        assert!(text.starts_with("{\"format\":\"halo-state/1\""), "{text}");
        let back: StateFile = serde_json::from_str(&text).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(back.into_state(), s);
    }

    /// A witness given at creation votes but is never a resource node (review note: it
    /// was added to the configuration's nodes).
    #[test]
    fn witness_is_not_a_configured_node() {
        let mut s = ClusterState::default();
        s.apply(
            &req(
                "a",
                1000,
                Change::InitCluster {
                    name: "c1".into(),
                    ca_cert_pem: "CERT".into(),
                    ca_fingerprint: "ff".into(),
                    ca_key_pem: Secret("KEY".into()),
                    settings: Settings::default(),
                    nodes: vec![
                        ("a".into(), 1, "127.0.0.1:1".into(), false),
                        ("w".into(), 2, "127.0.0.1:2".into(), true),
                    ],
                    next_node_id: 3,
                    certs: BTreeMap::new(),
                    cert_not_after: BTreeMap::new(),
                },
            ),
            1,
        );
        let cfg = s.config.to_model().unwrap_or_default();
        let names: Vec<&str> = cfg.nodes.iter().map(|n| n.name.as_str()).collect();
        assert_eq!(names, ["a"]);
        assert!(s.nodes["w"].witness);
    }

    /// Status events keep what explains a decision: an attribute when its value changes
    /// (not when an agent sets it again to the same), operations but monitors, with the
    /// epoch and time of their change.
    #[test]
    fn events_keep_attribute_changes_and_operations() {
        let mut s = init();
        let attr = |v: Option<&str>| Change::SetNodeAttr {
            node: "a".into(),
            name: "galera-bootstrap".into(),
            value: v.map(String::from),
        };
        let op = |operation: &str| Change::RecordOp {
            node: "a".into(),
            op: StoredOp {
                resource: "galera:0".into(),
                operation: operation.into(),
                ..Default::default()
            },
        };
        for (i, c) in [
            attr(Some("true")),
            attr(Some("true")),
            op("monitor"),
            op("promote"),
            attr(None),
        ]
        .into_iter()
        .enumerate()
        {
            s.apply(&req("a", 1000 + i as u64, c), 2 + i as u64);
        }
        let got: Vec<(u64, u64, &str)> = s
            .events
            .iter()
            .map(|e| (e.epoch, e.time_ms, e.summary.as_str()))
            .collect();
        assert_eq!(
            got,
            [
                (2, 1000, "set attribute galera-bootstrap=true on a"),
                (5, 1003, "galera:0 promote on a: rc=0"),
                (6, 1004, "delete attribute galera-bootstrap on a"),
            ]
        );
        assert_eq!(s.events[1].resource.as_deref(), Some("galera:0"));
        assert_eq!(
            s.events[0].attribute,
            Some(("galera-bootstrap".into(), Some("true".into())))
        );
    }

    /// However many operations run after it, the last start of a resource stays in its
    /// history (the history's limit drops superseded records first); notifications are
    /// not kept at all. (Seen live: rabbitmq-cluster's notifications pushed its start
    /// out of the history, and the scheduler took it for stopped, again and again.)
    #[test]
    fn the_last_result_of_each_operation_stays() {
        let mut s = init();
        let op = |operation: &str, interval_ms: u64, call_id: i64| StoredOp {
            resource: "rabbitmq:0".into(),
            operation: operation.into(),
            interval_ms,
            call_id,
            ..Default::default()
        };
        let mut ops = vec![
            op("monitor", 0, 1),
            op("start", 0, 2),
            op("monitor", 10_000, 3),
        ];
        ops.extend((4..40).map(|c| op("notify", 0, c)));
        ops.extend((40..70).map(|c| op("monitor", 10_000, c)));
        for (i, o) in ops.into_iter().enumerate() {
            let change = Change::RecordOp {
                node: "a".into(),
                op: o,
            };
            s.apply(&req("a", 1000, change), 2 + i as u64);
        }
        let kept = &s.op_history["a"]["rabbitmq:0"];
        assert_eq!(kept.len(), OP_HISTORY_LIMIT);
        let calls = |name: &str| -> Vec<i64> {
            kept.iter()
                .filter(|o| o.operation == name)
                .map(|o| o.call_id)
                .collect()
        };
        assert_eq!(calls("start"), [2]);
        assert_eq!(calls("monitor").first(), Some(&1));
        assert_eq!(calls("monitor").last(), Some(&69));
        assert!(calls("notify").is_empty());
        assert!(s.events.iter().all(|e| !e.summary.contains("notify")));
    }

    /// Failed operations count per operation and sum per resource; INFINITY caps them;
    /// a clean-up clears both; forgetting a node clears its whole status.
    #[test]
    fn failures_count_and_clear() {
        let mut s = init();
        let op = |operation: &str, interval_ms: u64, fail: Option<FailBump>| StoredOp {
            resource: "web".into(),
            operation: operation.into(),
            interval_ms,
            rc: 7,
            call_id: 1,
            time_ms: 5000,
            fail,
            ..Default::default()
        };
        for (i, o) in [
            op("monitor", 10_000, Some(FailBump::Increment)),
            op("monitor", 10_000, Some(FailBump::Increment)),
            op("monitor", 0, None),
        ]
        .into_iter()
        .enumerate()
        {
            s.apply(
                &req(
                    "a",
                    5000,
                    Change::RecordOp {
                        node: "a".into(),
                        op: o,
                    },
                ),
                2 + i as u64,
            );
        }
        assert_eq!(s.failures["a"]["web#monitor_10000"].count, 2);
        assert_eq!(s.failures["a"]["web#monitor_10000"].last_ms, 5000);
        assert_eq!(s.fail_counts["a"]["web"], 2);
        s.apply(
            &req(
                "a",
                6000,
                Change::RecordOp {
                    node: "a".into(),
                    op: op("stop", 0, Some(FailBump::Infinity)),
                },
            ),
            5,
        );
        assert_eq!(s.fail_counts["a"]["web"], FAIL_INFINITY);
        s.apply(
            &req(
                "a",
                7000,
                Change::SetFailCount {
                    node: "a".into(),
                    resource: "web".into(),
                    count: 0,
                },
            ),
            6,
        );
        assert!(s.failures.is_empty() && s.fail_counts.is_empty());
        assert_eq!(s.op_history["a"]["web"].len(), 4);
        s.apply(
            &req(
                "b",
                8000,
                Change::ForgetNode {
                    node: "a".into(),
                    reason: "test".into(),
                },
            ),
            7,
        );
        assert!(s.op_history.is_empty());
    }

    #[test]
    fn time_format() {
        assert_eq!(fmt_time(0), "1970-01-01 00:00:00 UTC");
        assert_eq!(fmt_time(1_700_000_000_000), "2023-11-14 22:13:20 UTC");
    }
}
