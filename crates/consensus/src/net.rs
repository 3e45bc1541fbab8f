//! Node-to-node messages over mutual TLS: the versioned wire types, length-prefixed JSON
//! framing, a small connection pool per peer, openraft's network traits, and the server
//! that authenticates peers before reading anything from them.

use std::collections::HashMap;
use std::future::Future;
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use openraft::error::{NetworkError, RPCError, ReplicationClosed, StreamingError, Unreachable};
use openraft::network::RPCOption;
use openraft::raft::{
    AppendEntriesRequest, AppendEntriesResponse, SnapshotResponse, TransferLeaderRequest,
    TransferLeaderResponse, VoteRequest, VoteResponse,
};
use openraft::{RaftNetworkFactory, RaftNetworkV2};
use serde::{Deserialize, Serialize};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio_rustls::{TlsAcceptor, TlsConnector};

use crate::error::{Error, Result, WireError};
use crate::state::StateFile;
use crate::transport::{BoxFuture, BoxStream, Listener, Transport};
use crate::types::{Member, NodeId, Request, Response, Snapshot, SnapshotMeta, TypeConfig, Vote};

/// Version of the node-to-node protocol this build speaks.
pub const WIRE_VERSION: u32 = 1;
/// Largest frame from an authenticated member (snapshots are whole states).
pub const MAX_FRAME: usize = 64 << 20;
/// Largest frame from a peer without a certificate (a join request).
pub const MAX_JOIN_FRAME: usize = 64 << 10;
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(5);

/// What a node reports about itself in a ping reply.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct PeerView {
    pub name: String,
    pub term: u64,
    pub leader: Option<NodeId>,
    /// The sender's own verdict on quorum (a leader's is authoritative).
    pub quorate: bool,
    pub epoch: u64,
}

/// A joiner's request, sent over TLS without a client certificate.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct JoinRequest {
    pub token_id: String,
    /// The token secret, lowercase hex (sent only to a peer proven to hold the cluster CA).
    pub secret_hex: crate::state::Secret,
    pub name: String,
    pub addr: String,
    pub witness: bool,
    pub csr_pem: String,
}

/// A cluster node as a joiner must know it before its copy of the replicated state
/// arrives: to attribute the first Raft messages and admit the first connections.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct KnownNode {
    pub name: String,
    pub id: NodeId,
    /// SHA-256 of its certificate (DER), lowercase hex; `None` for a node admitted
    /// before fingerprints were recorded.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cert_sha256: Option<String>,
    /// The certificate a renewal replaced, admitted until `previous_until_ms` while the
    /// node switches.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub previous_cert_sha256: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub previous_until_ms: Option<u64>,
}

impl KnownNode {
    /// The node as the cluster records it.
    pub fn of(name: &str, r: &crate::state::NodeRecord) -> KnownNode {
        KnownNode {
            name: name.to_string(),
            id: r.id,
            cert_sha256: r.cert_sha256.clone(),
            previous_cert_sha256: r.previous_cert_sha256.clone(),
            previous_until_ms: r.previous_until_ms,
        }
    }

    /// Whether a certificate with this fingerprint is the node's at `now_ms` (see
    /// [`crate::state::NodeRecord::admits_cert`]).
    pub fn admits_cert(&self, fingerprint: &str, now_ms: u64) -> bool {
        let Some(recorded) = &self.cert_sha256 else {
            return true;
        };
        crate::pki::digest_eq(recorded, fingerprint)
            || self.previous_cert_sha256.as_ref().is_some_and(|p| {
                crate::pki::digest_eq(p, fingerprint)
                    && self.previous_until_ms.is_some_and(|u| now_ms < u)
            })
    }
}

/// The cluster's answer to an accepted join.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct JoinAccepted {
    pub id: NodeId,
    pub cluster: String,
    pub cert_pem: String,
    pub ca_cert_pem: String,
    /// The cluster's members as the admitting node knew them.
    #[serde(default)]
    pub nodes: Vec<KnownNode>,
    /// The CA private key, for a full (non-witness) joiner only: sent over TLS to a
    /// joiner that verified the CA's fingerprint from its token.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ca_key_pem: Option<crate::state::Secret>,
}

/// Requests a member sends to the leader on behalf of a client.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case")]
pub enum Forward {
    /// Commit one change.
    Propose { request: Box<Request> },
    /// Confirm leadership and return the log index a linearizable read must wait for.
    ReadIndex,
    /// Add a node as learner, wait until it caught up, then make it a voter.
    AddMember { id: NodeId, member: Member },
    /// Remove a node from the membership and mark it removed.
    RemoveMember { name: String, by: String },
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case")]
pub enum ForwardReply {
    Committed { log_index: u64, response: Response },
    ReadIndex { index: u64 },
    Done,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "kind", content = "data", rename_all = "snake_case")]
#[allow(clippy::large_enum_variant)] // one message per frame; boxing buys nothing here
pub enum PeerRequest {
    AppendEntries(AppendEntriesRequest<TypeConfig>),
    Vote(VoteRequest<TypeConfig>),
    PreVote(VoteRequest<TypeConfig>),
    Snapshot {
        vote: Vote,
        meta: SnapshotMeta,
        data: StateFile,
    },
    Ping(PeerView),
    Forward(Forward),
    Join(JoinRequest),
    TransferLeader(TransferLeaderRequest<TypeConfig>),
    /// A message for the application layer (the controller), attributed by the receiver
    /// to the member its certificate names.
    App(serde_json::Value),
    /// Ask a holder of the CA key to sign a renewed certificate for the sender (the name
    /// is the one in the sender's certificate, never from the request).
    SignCsr {
        csr_pem: String,
        validity_ms: u64,
        /// What the certificate is for (a node's own by default).
        #[serde(default)]
        kind: CertKind,
    },
    /// Ask a holder for the private key of the cluster's CA with this fingerprint (the
    /// current one, or the one a rotation moves to); given to full voters only.
    CaKey {
        ca_fingerprint: String,
    },
}

/// What a certificate signed on request is for.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CertKind {
    /// The node's own, for the node-to-node port (client and server).
    #[default]
    Node,
    /// The node's remote API (a TLS server only).
    Api,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "kind", content = "data", rename_all = "snake_case")]
#[allow(clippy::large_enum_variant)]
pub enum PeerResponse {
    AppendEntries(AppendEntriesResponse<TypeConfig>),
    Vote(VoteResponse<TypeConfig>),
    Snapshot(SnapshotResponse<TypeConfig>),
    Pong(PeerView),
    Forward(ForwardReply),
    Join(JoinAccepted),
    TransferLeader(TransferLeaderResponse<TypeConfig>),
    App(serde_json::Value),
    Signed { cert_pem: String },
    CaKey { key_pem: crate::state::Secret },
}

#[derive(Serialize, Deserialize)]
struct Envelope<T> {
    v: u32,
    body: T,
}

pub type Reply = std::result::Result<PeerResponse, WireError>;

/// One frame: its length (4 bytes, big-endian), then the enveloped body as JSON.
fn encode_frame<T: Serialize>(body: T) -> std::io::Result<Vec<u8>> {
    let bytes = serde_json::to_vec(&Envelope {
        v: WIRE_VERSION,
        body,
    })
    .map_err(std::io::Error::other)?;
    let len = u32::try_from(bytes.len()).map_err(std::io::Error::other)?;
    let mut frame = Vec::with_capacity(4 + bytes.len());
    frame.extend_from_slice(&len.to_be_bytes());
    frame.extend_from_slice(&bytes);
    Ok(frame)
}

async fn write_frame<W: tokio::io::AsyncWrite + Unpin, T: Serialize>(
    w: &mut W,
    body: T,
) -> std::io::Result<()> {
    w.write_all(&encode_frame(body)?).await?;
    w.flush().await
}

async fn read_frame<R: tokio::io::AsyncRead + Unpin, T: for<'de> Deserialize<'de>>(
    r: &mut R,
    max: usize,
) -> std::io::Result<T> {
    let mut len = [0u8; 4];
    r.read_exact(&mut len).await?;
    let len = u32::from_be_bytes(len) as usize;
    if len > max {
        return Err(std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            format!("frame of {len} bytes exceeds the limit of {max}"),
        ));
    }
    let mut buf = vec![0u8; len];
    r.read_exact(&mut buf).await?;
    let env: Envelope<T> = serde_json::from_slice(&buf)
        .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidData, e))?;
    if env.v != WIRE_VERSION {
        return Err(std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            format!(
                "peer speaks protocol version {}, this node {WIRE_VERSION}",
                env.v
            ),
        ));
    }
    Ok(env.body)
}

type Tls = tokio_rustls::client::TlsStream<BoxStream>;

/// Client side: connections to members, pooled per address.
pub struct Net {
    transport: Arc<dyn Transport>,
    connector: RwLock<TlsConnector>,
    /// What the node knows of its peers' certificates (checked on every connection it
    /// opens); `None`: the cluster CA and the name only.
    peers: Option<Arc<dyn crate::pki::PeerCerts>>,
    pools: Mutex<HashMap<String, Vec<Tls>>>,
    /// Bumped when the node's identity changes: a connection opened before (with the
    /// certificate it replaced) is never pooled again once its exchange ends.
    generation: std::sync::atomic::AtomicU64,
}

/// A server's TLS acceptor, replaced when the node's certificate is renewed.
pub type SharedAcceptor = Arc<RwLock<TlsAcceptor>>;

/// The HALO-E190/E191 refusal in a TLS error text, as an error of its own.
fn cert_refusal(reason: &str) -> Option<Error> {
    ["HALO-E190", "HALO-E191"].iter().find_map(|code| {
        let at = reason.find(code)?;
        Some(Error::Refused {
            code: code.to_string(),
            reason: reason[at + code.len()..].trim_start().to_string(),
        })
    })
}

impl Net {
    /// Connections presenting `identity`, checking peers against the cluster CA and the
    /// name dialled (and that their certificate has not expired).
    pub fn new(transport: Arc<dyn Transport>, identity: &crate::pki::Identity) -> Result<Arc<Net>> {
        Net::with_peers(transport, identity, None)
    }

    /// [`Net::new`], and each peer's certificate must also be the one `peers` knows
    /// for the name dialled.
    pub fn with_peers(
        transport: Arc<dyn Transport>,
        identity: &crate::pki::Identity,
        peers: Option<Arc<dyn crate::pki::PeerCerts>>,
    ) -> Result<Arc<Net>> {
        Ok(Arc::new(Net {
            transport,
            connector: RwLock::new(TlsConnector::from(
                identity.client_config_checked(peers.clone())?,
            )),
            peers,
            pools: Mutex::new(HashMap::new()),
            generation: std::sync::atomic::AtomicU64::new(0),
        }))
    }

    /// Present `identity` (a renewed certificate) on the connections opened from now on;
    /// pooled ones are dropped.
    pub fn set_identity(&self, identity: &crate::pki::Identity) -> Result<()> {
        let connector = TlsConnector::from(identity.client_config_checked(self.peers.clone())?);
        if let Ok(mut c) = self.connector.write() {
            *c = connector;
        }
        if let Ok(mut p) = self.pools.lock() {
            self.generation
                .fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            p.clear();
        }
        Ok(())
    }

    fn connector(&self) -> TlsConnector {
        match self.connector.read() {
            Ok(c) => c.clone(),
            Err(e) => e.into_inner().clone(),
        }
    }

    fn take(&self, addr: &str) -> Option<Tls> {
        self.pools.lock().ok()?.get_mut(addr)?.pop()
    }

    /// The identity generation, read when a connection is taken or opened.
    fn generation(&self) -> u64 {
        self.generation.load(std::sync::atomic::Ordering::SeqCst)
    }

    /// Pool `c`, opened or taken in `generation`, unless the identity changed since.
    fn put(&self, addr: &str, c: Tls, generation: u64) {
        if let Ok(mut p) = self.pools.lock() {
            if generation != self.generation() {
                return;
            }
            let v = p.entry(addr.to_string()).or_default();
            if v.len() < 8 {
                v.push(c);
            }
        }
    }

    /// Forget pooled connections to `addr` (after a failure).
    pub fn drop_pool(&self, addr: &str) {
        if let Ok(mut p) = self.pools.lock() {
            p.remove(addr);
        }
    }

    async fn dial(&self, member: &Member) -> std::io::Result<Tls> {
        let stream = self.transport.connect(&member.addr).await?;
        let name = rustls::pki_types::ServerName::try_from(member.name.clone())
            .map_err(|e| std::io::Error::other(format!("node name {}: {e}", member.name)))?;
        tokio::time::timeout(HANDSHAKE_TIMEOUT, self.connector().connect(name, stream))
            .await
            .map_err(|_| {
                std::io::Error::new(std::io::ErrorKind::TimedOut, "TLS handshake timed out")
            })?
    }

    /// Send one request to a member and wait for its reply.
    ///
    /// The exchange runs in a task of its own: a caller that stops waiting (openraft
    /// gives a heartbeat one heartbeat interval) abandons the answer, not the connection,
    /// which goes back to the pool once the answer is read. Cancelling the exchange
    /// itself would close the connection, and the next request would pay for a new TLS
    /// handshake, under load more than a heartbeat interval, and so on.
    pub async fn call(
        self: &Arc<Self>,
        member: &Member,
        req: &PeerRequest,
        timeout: Duration,
    ) -> Result<PeerResponse> {
        let unreachable = |reason: String| Error::Unreachable {
            peer: member.to_string(),
            reason,
        };
        let frame = encode_frame(req).map_err(|e| unreachable(e.to_string()))?;
        let (net, peer) = (self.clone(), member.clone());
        let exchange = tokio::spawn(async move {
            let fut = async {
                // A pooled connection may have been closed by the peer; retry once on a
                // new one.
                let generation = net.generation();
                let mut conn = match net.take(&peer.addr) {
                    Some(c) => c,
                    None => net.dial(&peer).await?,
                };
                let mut first = true;
                loop {
                    let res: std::io::Result<Reply> = async {
                        conn.write_all(&frame).await?;
                        conn.flush().await?;
                        read_frame(&mut conn, MAX_FRAME).await
                    }
                    .await;
                    match res {
                        Ok(reply) => {
                            net.put(&peer.addr, conn, generation);
                            return Ok(reply);
                        }
                        Err(e) if first => {
                            tracing::debug!(peer = %peer, error = %e, "reconnecting");
                            first = false;
                            conn = net.dial(&peer).await?;
                        }
                        Err(e) => return Err(e),
                    }
                }
            };
            match tokio::time::timeout(timeout, fut).await {
                Ok(r) => r.map_err(|e| e.to_string()),
                Err(_) => {
                    net.drop_pool(&peer.addr);
                    Err(format!("no reply within {} ms", timeout.as_millis()))
                }
            }
        });
        match exchange.await {
            Ok(Ok(reply)) => reply.map_err(Error::from),
            Ok(Err(reason)) => Err(cert_refusal(&reason).unwrap_or_else(|| unreachable(reason))),
            Err(e) => Err(unreachable(format!("the exchange failed: {e}"))),
        }
    }
}

/// Send one request without a client certificate to a peer that must present the CA with
/// `ca_fingerprint`. Members accept only a join request this way.
pub async fn send_anonymous(
    transport: &dyn Transport,
    addr: &str,
    ca_fingerprint: &str,
    req: &PeerRequest,
    timeout: Duration,
) -> Result<PeerResponse> {
    let unreachable = |reason: String| Error::Unreachable {
        peer: addr.to_string(),
        reason,
    };
    let fut = async {
        let stream = transport
            .connect(addr)
            .await
            .map_err(|e| unreachable(e.to_string()))?;
        let connector = TlsConnector::from(crate::pki::join_client_config(ca_fingerprint)?);
        let name = rustls::pki_types::ServerName::try_from(crate::pki::GENERIC_NODE_NAME)
            .map_err(|e| Error::Tls(e.to_string()))?;
        let mut tls = connector.connect(name, stream).await.map_err(|e| {
            if e.to_string().contains("fingerprint") {
                Error::CaMismatch(addr.to_string())
            } else {
                unreachable(format!("TLS: {e}"))
            }
        })?;
        write_frame(&mut tls, req)
            .await
            .map_err(|e| unreachable(e.to_string()))?;
        let reply: Reply = read_frame(&mut tls, MAX_FRAME)
            .await
            .map_err(|e| unreachable(e.to_string()))?;
        reply.map_err(Error::from)
    };
    tokio::time::timeout(timeout, fut)
        .await
        .map_err(|_| Error::Timeout(timeout.as_millis() as u64, format!("a reply from {addr}")))?
}

/// Join a cluster: a one-shot request without a client certificate.
pub async fn send_join(
    transport: &dyn Transport,
    addr: &str,
    ca_fingerprint: &str,
    req: JoinRequest,
    timeout: Duration,
) -> Result<JoinAccepted> {
    match send_anonymous(
        transport,
        addr,
        ca_fingerprint,
        &PeerRequest::Join(req),
        timeout,
    )
    .await?
    {
        PeerResponse::Join(acc) => Ok(acc),
        _ => Err(Error::Protocol {
            peer: addr.to_string(),
            reason: "unexpected reply to a join request".into(),
        }),
    }
}

/// Who sent a request, as established by TLS.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Peer {
    /// A member: its certificate chains to the cluster CA; this is its common name.
    Member(String),
    /// No certificate: may only send one join request.
    Anonymous(String),
}

/// Handles requests arriving at this node.
pub trait Handler: Send + Sync + 'static {
    fn handle(&self, peer: Peer, req: PeerRequest) -> BoxFuture<'_, Reply>;
    /// Whether a peer presenting a cluster certificate with this name and SHA-256
    /// fingerprint (lowercase hex) is a member allowed in.
    fn admits(&self, name: &str, cert_sha256: &str) -> bool;
    /// Whether this node runs (not stopped, nor shutting down): a stopped node knows
    /// no member, and says it is stopped rather than refusing their certificates.
    fn serving(&self) -> bool;
}

/// The refusal of a node that does not run: nothing was done, another member may be
/// asked.
pub const NOT_RUNNING: &str = "HALO-E197";

fn not_running(peer: &str) -> Reply {
    Err(WireError {
        code: NOT_RUNNING.into(),
        message: format!(
            "{NOT_RUNNING} this node does not run (stopped or shutting down); {peer} may ask another member"
        ),
    })
}

/// Accept connections until the task is aborted.
pub async fn serve(
    listener: Box<dyn Listener>,
    acceptor: SharedAcceptor,
    handler: Arc<dyn Handler>,
) {
    loop {
        let (stream, from) = match listener.accept().await {
            Ok(x) => x,
            Err(e) => {
                tracing::warn!(error = %e, "accept failed");
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        let acceptor = match acceptor.read() {
            Ok(a) => a.clone(),
            Err(e) => e.into_inner().clone(),
        };
        let handler = handler.clone();
        tokio::spawn(async move {
            if let Err(e) = serve_conn(stream, from.clone(), acceptor, handler).await {
                tracing::debug!(peer = %from, error = %e, "connection closed");
            }
        });
    }
}

async fn serve_conn(
    stream: BoxStream,
    from: String,
    acceptor: TlsAcceptor,
    handler: Arc<dyn Handler>,
) -> std::io::Result<()> {
    let mut tls = match tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(stream)).await {
        Ok(Ok(t)) => t,
        // A peer that hung up during the handshake (a caller that gave up) was refused
        // nothing.
        Ok(Err(e))
            if matches!(
                e.kind(),
                std::io::ErrorKind::UnexpectedEof
                    | std::io::ErrorKind::ConnectionReset
                    | std::io::ErrorKind::BrokenPipe
            ) =>
        {
            tracing::debug!(peer = %from, error = %e, "a peer hung up during the TLS handshake");
            return Ok(());
        }
        Ok(Err(e)) => {
            tracing::warn!(peer = %from, error = %e, "refused a peer at the TLS handshake");
            return Ok(());
        }
        Err(_) => return Ok(()),
    };
    let member = {
        let (_, conn) = tls.get_ref();
        conn.peer_certificates().and_then(|c| c.first()).map(|c| {
            (
                crate::pki::cert_common_name(c.as_ref()).unwrap_or_default(),
                crate::pki::sha256_hex(c.as_ref()),
                crate::pki::expired_at(c.as_ref(), crate::pki::now_ms()),
            )
        })
    };
    match member {
        None => {
            // No certificate: exactly one bounded join request, then close.
            let req: PeerRequest = read_frame(&mut tls, MAX_JOIN_FRAME).await?;
            let reply = match req {
                PeerRequest::Join(_) => handler.handle(Peer::Anonymous(from.clone()), req).await,
                _ => {
                    tracing::warn!(peer = %from, "refused a request from a peer without a certificate");
                    Err(WireError {
                        code: "HALO-E140".into(),
                        message: "HALO-E140 only a join request is accepted without a cluster certificate".into(),
                    })
                }
            };
            write_frame(&mut tls, &reply).await?;
            tls.shutdown().await.ok();
            Ok(())
        }
        Some((name, _, Some(not_after))) => {
            // A certificate of the cluster CA (its chain checked as of its expiry) that
            // expired: one bounded request gets the reason, then the connection closes.
            let date = crate::state::fmt_time(not_after);
            tracing::warn!(peer = %from, node = %name, not_after = %date, "HALO-E190 refused an expired certificate");
            if read_frame::<_, serde_json::Value>(&mut tls, MAX_JOIN_FRAME)
                .await
                .is_ok()
            {
                let reply: Reply = Err(Error::CertExpired {
                    node: name,
                    not_after: date,
                }
                .to_wire());
                write_frame(&mut tls, &reply).await.ok();
            }
            tls.shutdown().await.ok();
            Ok(())
        }
        Some((name, _, None)) if !handler.serving() => {
            // One bounded request gets the answer, then the connection closes.
            if read_frame::<_, serde_json::Value>(&mut tls, MAX_JOIN_FRAME)
                .await
                .is_ok()
            {
                let reply = not_running(&name);
                write_frame(&mut tls, &reply).await.ok();
            }
            tls.shutdown().await.ok();
            Ok(())
        }
        Some((name, fingerprint, None)) => {
            let refusal = || {
                Err::<PeerResponse, _>(WireError {
                code: "HALO-E147".into(),
                message: format!("HALO-E147 certificate of {name} refused: it is not the one recorded for a member of this cluster (a removed node, an unknown name, or a replaced certificate); a node that was removed must join again with a new token under a new name"),
            })
            };
            if !handler.admits(&name, &fingerprint) {
                // A certificate of the cluster CA, but not the one recorded for a member
                // of that name (removed, unknown, or superseded): one bounded request
                // gets the reason, then the connection closes.
                tracing::warn!(peer = %from, node = %name, fingerprint = %fingerprint, "refused a certificate that is not a member's");
                if read_frame::<_, serde_json::Value>(&mut tls, MAX_JOIN_FRAME)
                    .await
                    .is_ok()
                {
                    write_frame(&mut tls, &refusal()).await.ok();
                }
                tls.shutdown().await.ok();
                return Ok(());
            }
            loop {
                let req: PeerRequest = match read_frame(&mut tls, MAX_FRAME).await {
                    Ok(r) => r,
                    Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => return Ok(()),
                    Err(e) => return Err(e),
                };
                // A node stopped since the connection opened did nothing with it.
                if !handler.serving() {
                    let reply = not_running(&name);
                    write_frame(&mut tls, &reply).await.ok();
                    tls.shutdown().await.ok();
                    return Ok(());
                }
                // Checked again for every request: a connection opened with a certificate
                // since replaced (or by a node since removed) ends with its admission.
                if !handler.admits(&name, &fingerprint) {
                    tracing::warn!(peer = %from, node = %name, fingerprint = %fingerprint, "closed a connection whose certificate is no longer a member's");
                    write_frame(&mut tls, &refusal()).await.ok();
                    tls.shutdown().await.ok();
                    return Ok(());
                }
                let reply = match req {
                    PeerRequest::Join(_) => Err(WireError {
                        code: "HALO-E101".into(),
                        message: "HALO-E101 this node is already in a cluster".into(),
                    }),
                    req => handler.handle(Peer::Member(name.clone()), req).await,
                };
                write_frame(&mut tls, &reply).await?;
            }
        }
    }
}

/// openraft's view of the network: a client per target node.
#[derive(Clone)]
pub struct NetworkFactory {
    pub net: Arc<Net>,
}

pub struct PeerClient {
    net: Arc<Net>,
    member: Member,
}

impl RaftNetworkFactory<TypeConfig> for NetworkFactory {
    type Network = PeerClient;

    async fn new_client(&mut self, _target: NodeId, node: &Member) -> PeerClient {
        PeerClient {
            net: self.net.clone(),
            member: node.clone(),
        }
    }
}

fn rpc_err(e: Error) -> RPCError<TypeConfig> {
    match e {
        Error::Unreachable { .. } => RPCError::Unreachable(Unreachable::new(&e)),
        other => RPCError::Network(NetworkError::new(&other)),
    }
}

fn unexpected(member: &Member) -> Error {
    Error::Protocol {
        peer: member.to_string(),
        reason: "unexpected reply kind".into(),
    }
}

/// openraft's budget for one RPC, with a floor so a loaded machine does not turn every
/// slow reply into a failure.
fn rpc_ttl(option: &RPCOption) -> Duration {
    option.hard_ttl().max(Duration::from_millis(250))
}

impl RaftNetworkV2<TypeConfig> for PeerClient {
    async fn transfer_leader(
        &mut self,
        req: TransferLeaderRequest<TypeConfig>,
        option: RPCOption,
    ) -> std::result::Result<TransferLeaderResponse<TypeConfig>, RPCError<TypeConfig>> {
        match self
            .net
            .call(
                &self.member,
                &PeerRequest::TransferLeader(req),
                rpc_ttl(&option),
            )
            .await
            .map_err(rpc_err)?
        {
            PeerResponse::TransferLeader(r) => Ok(r),
            _ => Err(rpc_err(unexpected(&self.member))),
        }
    }

    type SnapshotData = StateFile;

    async fn append_entries(
        &mut self,
        rpc: AppendEntriesRequest<TypeConfig>,
        option: RPCOption,
    ) -> std::result::Result<AppendEntriesResponse<TypeConfig>, RPCError<TypeConfig>> {
        match self
            .net
            .call(
                &self.member,
                &PeerRequest::AppendEntries(rpc),
                rpc_ttl(&option),
            )
            .await
            .map_err(rpc_err)?
        {
            PeerResponse::AppendEntries(r) => Ok(r),
            _ => Err(rpc_err(unexpected(&self.member))),
        }
    }

    async fn vote(
        &mut self,
        rpc: VoteRequest<TypeConfig>,
        option: RPCOption,
    ) -> std::result::Result<VoteResponse<TypeConfig>, RPCError<TypeConfig>> {
        match self
            .net
            .call(&self.member, &PeerRequest::Vote(rpc), rpc_ttl(&option))
            .await
            .map_err(rpc_err)?
        {
            PeerResponse::Vote(r) => Ok(r),
            _ => Err(rpc_err(unexpected(&self.member))),
        }
    }

    async fn pre_vote(
        &mut self,
        rpc: VoteRequest<TypeConfig>,
        option: RPCOption,
    ) -> std::result::Result<VoteResponse<TypeConfig>, RPCError<TypeConfig>> {
        match self
            .net
            .call(&self.member, &PeerRequest::PreVote(rpc), rpc_ttl(&option))
            .await
            .map_err(rpc_err)?
        {
            PeerResponse::Vote(r) => Ok(r),
            _ => Err(rpc_err(unexpected(&self.member))),
        }
    }

    async fn full_snapshot(
        &mut self,
        vote: Vote,
        snapshot: Snapshot,
        cancel: impl Future<Output = ReplicationClosed> + Send + 'static,
        option: RPCOption,
    ) -> std::result::Result<SnapshotResponse<TypeConfig>, StreamingError<TypeConfig>> {
        let req = PeerRequest::Snapshot {
            vote,
            meta: snapshot.meta,
            data: snapshot.snapshot,
        };
        let call = self.net.call(&self.member, &req, option.hard_ttl());
        tokio::select! {
            closed = cancel => Err(StreamingError::Closed(closed)),
            r = call => match r {
                Ok(PeerResponse::Snapshot(s)) => Ok(s),
                Ok(_) => Err(StreamingError::Network(NetworkError::new(&unexpected(&self.member)))),
                Err(e @ Error::Unreachable { .. }) => Err(StreamingError::Unreachable(Unreachable::new(&e))),
                Err(e) => Err(StreamingError::Network(NetworkError::new(&e))),
            }
        }
    }
}
