//! Errors of the consensus layer. Each carries a stable code (`HALO-E1xx`), the object it
//! concerns and what the operator can do next.

use serde::{Deserialize, Serialize};

pub type Result<T, E = Error> = std::result::Result<T, E>;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("HALO-E100 this node is not in a cluster: run `halo cluster init --name NAME` or `halo cluster join PEER --token T`")]
    NotConfigured,
    #[error("HALO-E101 this node is already in cluster {0}: run `halo cluster leave` first")]
    AlreadyConfigured(String),
    #[error("HALO-E102 no quorum: {0}; configuration changes are refused until a majority of voters is reachable")]
    NoQuorum(String),
    #[error("HALO-E103 the peer at {0} does not present the cluster CA named in the token (fingerprint mismatch): check the address and the token")]
    CaMismatch(String),
    #[error("HALO-E104 token refused: it was not issued by this cluster or its secret is wrong; make one with `halo cluster token` on a cluster node")]
    TokenRefused,
    #[error("HALO-E105 token expired at {0}; make a fresh one with `halo cluster token` on a cluster node")]
    TokenExpired(String),
    #[error("HALO-E106 malformed join token: {0}")]
    BadToken(String),
    #[error("HALO-E107 invalid node name {0:?}: use 1-63 letters, digits, '-' or '.', starting with a letter or digit")]
    BadName(String),
    #[error("{code} {reason}")]
    Refused { code: String, reason: String },
    #[error("HALO-E109 cannot reach {peer}: {reason}")]
    Unreachable { peer: String, reason: String },
    #[error("HALO-E130 {place}: {source}")]
    Io {
        place: String,
        #[source]
        source: std::io::Error,
    },
    #[error("HALO-E131 {0}")]
    Store(String),
    #[error("HALO-E132 TLS: {0}")]
    Tls(String),
    #[error("HALO-E133 raft: {0}")]
    Raft(String),
    #[error("HALO-E134 timed out after {0} ms waiting for {1}")]
    Timeout(u64, String),
    #[error("HALO-E135 this node's cluster membership is stopped: run `halo cluster start`")]
    Stopped,
    #[error("HALO-E136 protocol error from {peer}: {reason}")]
    Protocol { peer: String, reason: String },
    #[error("HALO-E137 no node named {0} in the cluster (see `halo status`)")]
    NoSuchNode(String),
    #[error("HALO-E138 {0}")]
    Invalid(String),
    #[error("HALO-E141 refused {what} from {from}: a node speaks only for itself, and its certificate names it {from}")]
    Forged { from: String, what: String },
    #[error("HALO-E142 {0} is not in this node's view of the cluster membership: refused (a node that just joined is known once the change reaches this node; see `halo status`)")]
    NotMember(String),
    #[error("HALO-E143 node {node} holds no CA key (witnesses never do) and cannot admit nodes: join through {holders}")]
    NoCaKey { node: String, holders: String },
    #[error("HALO-E144 token {0} was revoked; make a fresh one with `halo cluster token` on a cluster node")]
    TokenRevoked(String),
    #[error("HALO-E145 token {0} is used up (each token admits as many nodes as its --uses, one by default); make a fresh one with `halo cluster token`")]
    TokenUsed(String),
    #[error("HALO-E146 no join token with id {0} (see `halo cluster token list`)")]
    NoSuchToken(String),
    #[error("HALO-E190 the certificate of {node} expired at {not_after}: refused. A node renews its certificate before it expires; one that was down past its expiry must be removed (`halo cluster remove`) and join again with a new token")]
    CertExpired { node: String, not_after: String },
    #[error("HALO-E191 {node} presented a certificate (SHA-256 {fingerprint}) that is not the one the cluster records for it ({why}): refused")]
    PeerCertRefused {
        node: String,
        fingerprint: String,
        why: String,
    },
    #[error("HALO-E193 could not renew the certificate of {node}: no holder of the CA key signed it ({reason})")]
    RenewFailed { node: String, reason: String },
    #[error("HALO-E194 certificate rotation not finished after {secs} s: {nodes} still on their old certificate (they renew when they are back; see `halo cluster certs show`)")]
    RotationIncomplete { secs: u64, nodes: String },
}

impl Error {
    pub fn io(place: impl Into<String>, source: std::io::Error) -> Error {
        Error::Io {
            place: place.into(),
            source,
        }
    }

    /// The stable code at the start of the message.
    pub fn code(&self) -> String {
        let s = self.to_string();
        s.split_whitespace()
            .next()
            .unwrap_or("HALO-E199")
            .to_string()
    }

    /// The serialisable form sent to peers and API clients.
    pub fn to_wire(&self) -> WireError {
        WireError {
            code: self.code(),
            message: self.to_string(),
        }
    }
}

/// An error as it travels between nodes and to API clients.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
#[error("{message}")]
pub struct WireError {
    pub code: String,
    pub message: String,
}

impl From<WireError> for Error {
    fn from(w: WireError) -> Error {
        let reason = w
            .message
            .strip_prefix(&w.code)
            .map(str::trim_start)
            .unwrap_or(&w.message)
            .to_string();
        Error::Refused {
            code: w.code,
            reason,
        }
    }
}
