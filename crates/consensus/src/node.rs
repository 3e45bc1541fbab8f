//! The node runtime: state directory, Raft instance, listener, liveness, and the small
//! interface the rest of halo uses (propose and wait, linearizable read, subscribe).

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, RwLock, Weak};
use std::time::Duration;

use openraft::async_runtime::watch::WatchReceiver;
use openraft::error::{ClientWriteError, RaftError};
use openraft::vote::RaftLeaderId;
use openraft::{ChangeMembers, ReadPolicy, ServerState};
use serde::{Deserialize, Serialize};
use tokio::sync::broadcast;
use tokio::task::JoinHandle;
use tokio::time::Instant;
use tokio_rustls::TlsAcceptor;

use crate::error::{Error, Result, WireError};
use crate::net::{
    self, CertKind, Forward, ForwardReply, Handler, JoinAccepted, JoinRequest, KnownNode, Net,
    NetworkFactory, Peer, PeerRequest, PeerResponse, PeerView, Reply,
};
use crate::pki::{self, Identity, JoinToken};
use crate::state::{
    fmt_time, Change, ChangeResult, ClusterInfo, HistoryEntry, NodeStatus, Settings,
};
use crate::store::{self, Applied, AppliedChange, LogStore, StateMachineStore};
use crate::transport::{BoxFuture, Clock, SystemClock, TcpTransport, Transport};
use crate::types::{Member, NodeId, Raft, Request, Response, REQUEST_VERSION};

/// Default lifetime of a join token.
pub const DEFAULT_TOKEN_TTL: Duration = Duration::from_secs(24 * 3600);

/// Raft and liveness timing.
#[derive(Debug, Clone)]
pub struct Timing {
    pub heartbeat_ms: u64,
    pub election_min_ms: u64,
    pub election_max_ms: u64,
    /// How often each node pings every other member.
    pub ping_interval_ms: u64,
    /// Timeout of one node-to-node call.
    pub rpc_timeout_ms: u64,
    /// How long a proposal may wait for its commit.
    pub commit_timeout_ms: u64,
}

impl Timing {
    /// How long after the sending of a heartbeat that a quorum acknowledged the leader
    /// may still act as leader: shorter than the minimum election timeout, so that no
    /// other node can have been elected meanwhile (followers do not vote for another
    /// candidate before their election timeout runs out since that heartbeat).
    pub fn leader_lease(&self) -> Duration {
        Duration::from_millis(self.election_min_ms * 3 / 4)
    }
}

impl Default for Timing {
    fn default() -> Self {
        Timing {
            // A DC change (and so a failover) takes up to two maximum election
            // timeouts (see the controller's guard lease); a heartbeat is sent four
            // times per minimum election timeout, so the leader's lease (¾ of it)
            // survives two late heartbeats.
            heartbeat_ms: 50,
            election_min_ms: 200,
            election_max_ms: 400,
            ping_interval_ms: 100,
            rpc_timeout_ms: 1000,
            commit_timeout_ms: 10_000,
        }
    }
}

/// How to run a node.
#[derive(Clone)]
pub struct NodeOptions {
    pub name: String,
    pub state_dir: PathBuf,
    /// `ADDR:PORT` to listen on for node-to-node traffic (also advertised to peers).
    pub listen: String,
    pub witness: bool,
    pub transport: Arc<dyn Transport>,
    pub clock: Arc<dyn Clock>,
    pub timing: Timing,
    /// How long the node certificates this node issues (or asks for) are valid; a node
    /// renews its own when less than a third of this remains. One year by default;
    /// tests use seconds.
    pub cert_validity: Duration,
}

impl NodeOptions {
    pub fn new(name: &str, state_dir: &Path, listen: &str) -> NodeOptions {
        NodeOptions {
            name: name.to_string(),
            state_dir: state_dir.to_path_buf(),
            listen: listen.to_string(),
            witness: false,
            transport: Arc::new(TcpTransport),
            clock: Arc::new(SystemClock),
            timing: Timing::default(),
            cert_validity: pki::DEFAULT_NODE_VALIDITY,
        }
    }
}

/// This node's identity on disk (`identity.json`), written at init or join.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IdentityFile {
    pub v: u32,
    pub name: String,
    pub id: NodeId,
    pub cluster: String,
    pub addr: String,
    pub witness: bool,
}

/// An offline-made cluster description (`bootstrap.json`, from `halo cluster setup`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BootstrapFile {
    pub v: u32,
    pub cluster: String,
    pub ca_cert_pem: String,
    /// Written by older versions (to every bundle); now the key is in the non-witness
    /// bundles' `ca-key.pem` and this is empty.
    #[serde(default, skip_serializing_if = "crate::state::Secret::is_empty")]
    pub ca_key_pem: crate::state::Secret,
    pub ca_fingerprint: String,
    /// (name, id, addr, witness)
    pub members: Vec<(String, NodeId, String, bool)>,
    pub settings: Settings,
    /// Each member's certificate fingerprint, by name.
    #[serde(default)]
    pub certs: BTreeMap<String, String>,
}

impl BootstrapFile {
    /// The members as a node of this bundle knows them before the cluster record exists.
    pub fn known_nodes(&self) -> Vec<KnownNode> {
        self.members
            .iter()
            .map(|(name, id, _, _)| KnownNode {
                name: name.clone(),
                id: *id,
                cert_sha256: self.certs.get(name).cloned(),
                previous_cert_sha256: None,
                previous_until_ms: None,
            })
            .collect()
    }
}

/// One node in `halo status`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NodeReport {
    pub name: String,
    pub online: bool,
    /// `voter`, `witness` or `learner`.
    pub role: String,
    pub id: NodeId,
    pub addr: String,
}

/// `halo status --json`. Keys are part of the interface: add, never rename.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StatusReport {
    pub cluster: Option<String>,
    pub quorate: bool,
    pub dc: Option<String>,
    pub term: u64,
    pub nodes: Vec<NodeReport>,
    /// This node's name.
    pub node: String,
    /// `unconfigured`, `running` or `stopped`.
    pub state: String,
    /// Raft role of this node: leader, follower, candidate, learner, shutdown.
    pub raft_state: String,
    pub epoch: u64,
    pub failure_timeout_ms: u64,
    pub voters_online: usize,
    pub voters: usize,
}

/// One join token in `halo cluster token list`: never its secret.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TokenInfo {
    pub id: String,
    /// `None`: a token made before tokens had a number of uses (any number until it
    /// expires).
    pub uses_left: Option<u32>,
    pub expires_ms: u64,
    pub expired: bool,
    pub revoked: bool,
    pub created_by: String,
}

/// One node's certificate in `halo cluster certs show`, as the cluster records it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CertInfo {
    pub node: String,
    /// SHA-256 of its certificate (DER), lowercase hex; `None` for a node admitted
    /// before fingerprints were recorded.
    pub cert_sha256: Option<String>,
    /// When that certificate expires (milliseconds since the Unix epoch), when recorded.
    pub not_after_ms: Option<u64>,
    /// SHA-256 of the CA that issued it (the cluster CA).
    pub ca_sha256: String,
    /// The certificate a renewal replaced, admitted until the node switched.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub previous_cert_sha256: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub previous_until_ms: Option<u64>,
    /// Whether the certificate was renewed since the node was admitted.
    pub renewed: bool,
}

/// The CA that signs certificates now, with its key.
struct Signer {
    cert_pem: String,
    key_pem: String,
    fingerprint: String,
}

/// What a successful join reports.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Joined {
    pub cluster: String,
    pub id: NodeId,
    pub name: String,
}

struct Running {
    id: NodeId,
    raft: Raft,
    sm: StateMachineStore,
    log: LogStore,
    net: Arc<Net>,
    /// The listener's TLS acceptor, replaced when the certificate is renewed.
    acceptor: net::SharedAcceptor,
    /// Held while the certificate is being renewed or switched.
    renewing: tokio::sync::Mutex<()>,
    tasks: Mutex<Vec<JoinHandle<()>>>,
}

struct Inner {
    opts: NodeOptions,
    identity: RwLock<Option<IdentityFile>>,
    running: RwLock<Option<Arc<Running>>>,
    admin: tokio::sync::Mutex<()>,
    db: Mutex<Option<Arc<redb::Database>>>,
    events: broadcast::Sender<AppliedChange>,
    /// Last successful contact per member: when, and what it said.
    seen: Mutex<HashMap<NodeId, (Instant, PeerView)>>,
    /// Per member, the sending time of the last ping it answered as quorate leader, and
    /// its answer: a contact this node initiated, so the member knows of it too.
    round_trips: Mutex<HashMap<NodeId, (Instant, PeerView)>>,
    /// Per member certificate name, when any request from it (Raft's heartbeats
    /// included) last arrived: it was sent no later than that.
    heard: Mutex<HashMap<String, Instant>>,
    /// The members this node was told of at join (or by its offline bundle), trusted
    /// only until the replicated state has the cluster record.
    seed: RwLock<Vec<KnownNode>>,
    /// Receives `PeerRequest::App` messages (the controller).
    app: RwLock<Option<Arc<dyn AppHandler>>>,
}

/// Handles application messages between members (the controller's dispatches). `from`
/// is the name in the sender's certificate, checked against the Raft membership.
pub trait AppHandler: Send + Sync + 'static {
    fn handle(
        &self,
        from: String,
        body: serde_json::Value,
    ) -> BoxFuture<'static, std::result::Result<serde_json::Value, String>>;
}

/// The leader's lease, or a follower's contact with a quorate leader: how long ago a
/// quorum (or the quorate leader) was last heard from, on this node's monotonic clock.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Contact {
    /// The Raft term of that leader.
    pub term: u64,
    /// Whether this node is that leader.
    pub leader: bool,
    /// Time since the contact: for a leader, since the sending of the last heartbeat a
    /// quorum acknowledged; for a follower, since the sending of the last ping the leader
    /// answered while it said it was quorate. Both are round trips this node began, so
    /// the other side has heard of it no earlier than it was sent.
    pub age: Duration,
}

/// A halo cluster node. Cheap to clone.
#[derive(Clone)]
pub struct ClusterNode {
    inner: Arc<Inner>,
}

fn read_json<T: for<'de> Deserialize<'de>>(path: &Path) -> Result<Option<T>> {
    match std::fs::read(path) {
        Ok(b) => serde_json::from_slice(&b)
            .map(Some)
            .map_err(|e| Error::Store(format!("{}: {e}", path.display()))),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(Error::io(path.display().to_string(), e)),
    }
}

/// Write a file atomically with mode 0600.
pub fn write_private(path: &Path, data: &[u8]) -> Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let tmp = path.with_extension("tmp");
    let place = |e| Error::io(path.display().to_string(), e);
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(&tmp)
        .map_err(place)?;
    f.write_all(data).map_err(place)?;
    f.sync_all().map_err(place)?;
    std::fs::rename(&tmp, path).map_err(place)
}

fn write_json<T: Serialize>(path: &Path, v: &T) -> Result<()> {
    let bytes = serde_json::to_vec_pretty(v).map_err(|e| Error::Store(e.to_string()))?;
    write_private(path, &bytes)
}

/// Create a private directory (0700).
pub fn make_private_dir(dir: &Path) -> Result<()> {
    use std::os::unix::fs::PermissionsExt;
    std::fs::create_dir_all(dir).map_err(|e| Error::io(dir.display().to_string(), e))?;
    std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))
        .map_err(|e| Error::io(dir.display().to_string(), e))
}

/// A private key file's text; `None` when absent or empty.
fn read_key(path: &Path) -> Result<Option<String>> {
    match std::fs::read_to_string(path) {
        Ok(k) if !k.trim().is_empty() => Ok(Some(k)),
        Ok(_) => Ok(None),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(Error::io(path.display().to_string(), e)),
    }
}

/// Paths inside a state directory.
pub struct Layout {
    pub dir: PathBuf,
}

impl Layout {
    pub fn identity(&self) -> PathBuf {
        self.dir.join("identity.json")
    }
    pub fn tls_dir(&self) -> PathBuf {
        self.dir.join("tls")
    }
    pub fn ca(&self) -> PathBuf {
        self.tls_dir().join("ca.pem")
    }
    pub fn cert(&self) -> PathBuf {
        self.tls_dir().join("node.pem")
    }
    pub fn key(&self) -> PathBuf {
        self.tls_dir().join("node.key")
    }
    /// A renewed certificate, committed or about to be, not yet in use.
    pub fn next_cert(&self) -> PathBuf {
        self.tls_dir().join("node-next.pem")
    }
    pub fn next_key(&self) -> PathBuf {
        self.tls_dir().join("node-next.key")
    }

    /// The renewed certificate and key waiting to be used, if any: (cert PEM, key PEM).
    pub fn read_next_cert(&self) -> Result<Option<(String, String)>> {
        let rd = |p: PathBuf| match std::fs::read_to_string(&p) {
            Ok(t) => Ok(Some(t)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(Error::io(p.display().to_string(), e)),
        };
        Ok(rd(self.next_cert())?.zip(rd(self.next_key())?))
    }

    fn remove_next_cert(&self) {
        let _ = std::fs::remove_file(self.next_cert());
        let _ = std::fs::remove_file(self.next_key());
    }
    pub fn db(&self) -> PathBuf {
        self.dir.join("raft.redb")
    }
    pub fn stopped(&self) -> PathBuf {
        self.dir.join("stopped")
    }
    pub fn bootstrap(&self) -> PathBuf {
        self.dir.join("bootstrap.json")
    }
    /// The members a joiner was told of, until its copy of the state arrives.
    pub fn peers(&self) -> PathBuf {
        self.dir.join("peers.json")
    }
    /// The CA private key (mode 0600): on the node that made the cluster and on full
    /// voters only, never on a witness, never in the replicated state.
    pub fn ca_key(&self) -> PathBuf {
        self.dir.join("ca-key.pem")
    }

    /// The private key of the CA a rotation moves to, on the same nodes as `ca-key.pem`
    /// until the rotation finishes (then it becomes `ca-key.pem`).
    pub fn ca_next_key(&self) -> PathBuf {
        self.dir.join("ca-next-key.pem")
    }

    /// The CA private key this node holds, if any.
    pub fn read_ca_key(&self) -> Result<Option<String>> {
        read_key(&self.ca_key())
    }

    /// The key of the CA a rotation moves to, if this node holds it.
    pub fn read_ca_next_key(&self) -> Result<Option<String>> {
        read_key(&self.ca_next_key())
    }

    /// Write a node's identity and TLS files.
    pub fn write_identity(&self, id: &IdentityFile, tls: &Identity) -> Result<()> {
        make_private_dir(&self.dir)?;
        make_private_dir(&self.tls_dir())?;
        write_private(&self.ca(), tls.ca_cert_pem.as_bytes())?;
        write_private(&self.cert(), tls.cert_pem.as_bytes())?;
        write_private(&self.key(), tls.key_pem.as_bytes())?;
        write_json(&self.identity(), id)
    }

    fn read_tls(&self, name: &str) -> Result<Identity> {
        let rd = |p: PathBuf| {
            std::fs::read_to_string(&p).map_err(|e| Error::io(p.display().to_string(), e))
        };
        Ok(Identity {
            name: name.to_string(),
            ca_cert_pem: rd(self.ca())?,
            cert_pem: rd(self.cert())?,
            key_pem: rd(self.key())?,
        })
    }
}

fn raft_err<E: std::fmt::Display>(e: E) -> Error {
    Error::Raft(e.to_string())
}

fn server_state_name(s: ServerState) -> &'static str {
    match s {
        ServerState::Leader => "leader",
        ServerState::Follower => "follower",
        ServerState::Candidate => "candidate",
        ServerState::Learner => "learner",
        ServerState::Shutdown => "shutdown",
    }
}

impl ClusterNode {
    /// Open the state directory and, when this node is configured and not stopped, start
    /// its membership.
    pub async fn open(opts: NodeOptions) -> Result<ClusterNode> {
        make_private_dir(&opts.state_dir)?;
        let layout = Layout {
            dir: opts.state_dir.clone(),
        };
        let identity: Option<IdentityFile> = read_json(&layout.identity())?;
        if let Some(id) = &identity {
            if id.name != opts.name {
                tracing::warn!(configured = %id.name, given = %opts.name, "the state directory belongs to another node name; using the stored one");
            }
            if id.addr != opts.listen {
                tracing::warn!(advertised = %id.addr, listen = %opts.listen, "listening on a different address than the one the cluster knows");
            }
        }
        let (events, _) = broadcast::channel(1024);
        let node = ClusterNode {
            inner: Arc::new(Inner {
                opts,
                identity: RwLock::new(identity.clone()),
                running: RwLock::new(None),
                admin: tokio::sync::Mutex::new(()),
                db: Mutex::new(None),
                events,
                seen: Mutex::new(HashMap::new()),
                round_trips: Mutex::new(HashMap::new()),
                heard: Mutex::new(HashMap::new()),
                seed: RwLock::new(vec![]),
                app: RwLock::new(None),
            }),
        };
        if identity.is_some() && !layout.stopped().exists() {
            node.inner.start_runtime().await?;
        }
        Ok(node)
    }

    /// The node name (the stored one once configured).
    pub fn name(&self) -> String {
        self.inner.my_name()
    }

    pub fn layout(&self) -> Layout {
        self.inner.layout()
    }

    /// Create a new one-node cluster with this node as its first member. Returns a join token.
    pub async fn init(
        &self,
        cluster: &str,
        settings: Settings,
        token_ttl: Duration,
    ) -> Result<String> {
        let _g = self.inner.admin.lock().await;
        self.inner.init(cluster, settings).await?;
        self.inner.make_token(token_ttl, 1).await
    }

    /// A fresh join token that admits one node.
    pub async fn token(&self, ttl: Duration) -> Result<String> {
        self.inner.make_token(ttl, 1).await
    }

    /// A fresh join token that admits up to `uses` nodes.
    pub async fn token_with_uses(&self, ttl: Duration, uses: u32) -> Result<String> {
        self.inner.make_token(ttl, uses).await
    }

    /// The join tokens the cluster knows (never their secrets), as of a linearizable
    /// read.
    pub async fn tokens(&self) -> Result<Vec<TokenInfo>> {
        let run = self.inner.running()?;
        self.inner.linearize(&run).await?;
        let now = self.inner.opts.clock.now_ms();
        Ok(run.sm.with(|a| {
            a.state
                .tokens
                .iter()
                .map(|(id, t)| TokenInfo {
                    id: id.clone(),
                    uses_left: t.uses_left,
                    expires_ms: t.expires_ms,
                    expired: t.expires_ms <= now,
                    revoked: t.revoked,
                    created_by: t.created_by.clone(),
                })
                .collect()
        }))
    }

    /// Revoke the join token `id`: it admits no node any more.
    pub async fn revoke_token(&self, id: &str) -> Result<()> {
        self.inner
            .propose(Change::RevokeToken { id: id.to_string() }, None)
            .await
            .map(|_| ())
            .map_err(|e| match e {
                Error::Refused { code, .. } if code == "HALO-E146" => {
                    Error::NoSuchToken(id.to_string())
                }
                e => e,
            })
    }

    /// Join the cluster reachable at `peer` with `token`.
    /// `name` overrides the daemon's node name for this cluster.
    pub async fn join(&self, peer: &str, token: &str, name: Option<&str>) -> Result<Joined> {
        let _g = self.inner.admin.lock().await;
        self.inner.join(peer, token, name).await
    }

    /// Remove another node from the cluster.
    pub async fn remove(&self, name: &str) -> Result<()> {
        self.inner.remove_via_leader(name).await
    }

    /// Remove this node from the cluster and forget the cluster locally.
    pub async fn leave(&self) -> Result<()> {
        let _g = self.inner.admin.lock().await;
        let me = self.inner.my_name();
        self.inner.remove_via_leader(&me).await?;
        self.inner.stop_runtime().await;
        let l = self.inner.layout();
        for p in [
            l.identity(),
            l.stopped(),
            l.bootstrap(),
            l.peers(),
            l.ca_key(),
        ] {
            let _ = std::fs::remove_file(p);
        }
        let _ = std::fs::remove_dir_all(l.tls_dir());
        if let Ok(mut db) = self.inner.db.lock() {
            *db = None;
        }
        let _ = std::fs::remove_file(l.db());
        if let Ok(mut id) = self.inner.identity.write() {
            *id = None;
        }
        Ok(())
    }

    /// Stop this node's membership (Raft and listener) without losing its data; survives
    /// restarts of the daemon until [`ClusterNode::start`].
    pub async fn stop(&self) -> Result<()> {
        let _g = self.inner.admin.lock().await;
        if self.inner.identity().is_none() {
            return Err(Error::NotConfigured);
        }
        write_private(
            &self.inner.layout().stopped(),
            b"stopped by halo cluster stop\n",
        )?;
        self.inner.stop_runtime().await;
        Ok(())
    }

    /// Start this node's membership again.
    pub async fn start(&self) -> Result<()> {
        let _g = self.inner.admin.lock().await;
        if self.inner.identity().is_none() {
            return Err(Error::NotConfigured);
        }
        let _ = std::fs::remove_file(self.inner.layout().stopped());
        if self.inner.running().is_err() {
            self.inner.start_runtime().await?;
        }
        Ok(())
    }

    /// Stop everything (daemon shutdown).
    pub async fn shutdown(&self) {
        let _g = self.inner.admin.lock().await;
        self.inner.stop_runtime().await;
    }

    pub fn status(&self) -> StatusReport {
        self.inner.status()
    }

    /// Propose a change and wait until it is committed and applied. Refused without quorum.
    pub async fn propose(&self, change: Change) -> Result<Response> {
        self.inner.propose(change, None).await
    }

    /// Commit one change on behalf of an authenticated caller (`user@address`), who is
    /// recorded with it in the history.
    pub async fn propose_as(&self, change: Change, by: String) -> Result<Response> {
        self.inner.propose(change, Some(by)).await
    }

    /// The state as of a linearizable point: every change committed before this call is in it.
    pub async fn read_linearizable(&self) -> Result<Applied> {
        let run = self.inner.running()?;
        self.inner.linearize(&run).await?;
        Ok(run.sm.read())
    }

    /// This node's local copy of the state (may lag the leader).
    pub fn read_local(&self) -> Option<Applied> {
        self.inner.running().ok().map(|r| r.sm.read())
    }

    /// `f` of this node's local copy of the state, without copying it all.
    pub fn with_local<R>(&self, f: impl FnOnce(&Applied) -> R) -> Option<R> {
        self.inner.running().ok().map(|r| r.sm.with(f))
    }

    /// Changes as they are applied on this node.
    pub fn subscribe(&self) -> broadcast::Receiver<AppliedChange> {
        self.inner.events.subscribe()
    }

    /// Install the handler of application messages from other members.
    pub fn set_app_handler(&self, handler: Arc<dyn AppHandler>) {
        if let Ok(mut h) = self.inner.app.write() {
            *h = Some(handler);
        }
    }

    /// Send an application message to the member named `to` (this node included) and
    /// wait for its answer, at most `timeout`.
    pub async fn send_app(
        &self,
        to: &str,
        body: serde_json::Value,
        timeout: Duration,
    ) -> Result<serde_json::Value> {
        let run = self.inner.running()?;
        if to == self.inner.my_name() {
            let me = self.inner.my_name();
            return match tokio::time::timeout(timeout, self.inner.app_handle(me, body)).await {
                Ok(r) => r,
                Err(_) => Err(Error::Timeout(
                    timeout.as_millis() as u64,
                    format!("the answer of {to}"),
                )),
            };
        }
        let member = {
            let m = run.raft.metrics().borrow_watched().clone();
            let found = m
                .membership_config
                .membership()
                .nodes()
                .find(|(_, n)| n.name == to)
                .map(|(_, n)| n.clone());
            found.ok_or_else(|| Error::NoSuchNode(to.to_string()))?
        };
        match run
            .net
            .call(&member, &PeerRequest::App(body), timeout)
            .await?
        {
            PeerResponse::App(v) => Ok(v),
            _ => Err(Error::Protocol {
                peer: member.to_string(),
                reason: "unexpected answer to an application message".into(),
            }),
        }
    }

    /// This node's contact with a quorate leader (its own lease when it is the leader);
    /// `None` when it has none.
    pub fn contact(&self) -> Option<Contact> {
        let run = self.inner.running().ok()?;
        let m = run.raft.metrics().borrow_watched().clone();
        if m.current_leader == Some(run.id) && m.state == ServerState::Leader {
            if m.membership_config.membership().voter_ids().count() == 1 {
                // A lone voter is its own quorum.
                return Some(Contact {
                    term: m.current_term,
                    leader: true,
                    age: Duration::ZERO,
                });
            }
            // Until a quorum has acknowledged it, a new leader keeps the contact it had
            // as a follower (below): it is still as recent as it was.
            if let Some(acked) = m.last_quorum_acked.as_ref() {
                return Some(Contact {
                    term: m.current_term,
                    leader: true,
                    age: openraft::Instant::elapsed(&**acked),
                });
            }
        }
        // The latest round trip with any member that answered as the quorate leader (a
        // leader answers so only while it holds its lease).
        let trips = self.inner.round_trips.lock().ok()?;
        trips
            .values()
            .map(|(at, view)| Contact {
                term: view.term,
                leader: false,
                age: at.elapsed(),
            })
            .min_by_key(|c| c.age)
    }

    /// Per member (by name), the time since this node last heard from it (any request
    /// it sent, Raft's heartbeats included, or an answer to a ping). Members never heard
    /// from since this node started are missing.
    pub fn last_heard(&self) -> BTreeMap<String, Duration> {
        let Ok(run) = self.inner.running() else {
            return BTreeMap::new();
        };
        let m = run.raft.metrics().borrow_watched().clone();
        let seen = self
            .inner
            .seen
            .lock()
            .map(|s| s.clone())
            .unwrap_or_default();
        let heard = self
            .inner
            .heard
            .lock()
            .map(|s| s.clone())
            .unwrap_or_default();
        m.membership_config
            .membership()
            .nodes()
            .filter_map(|(id, n)| {
                let pinged = seen.get(id).map(|(at, _)| *at);
                let latest = pinged.max(heard.get(&n.name).copied())?;
                Some((n.name.clone(), latest.elapsed()))
            })
            .collect()
    }

    /// Raft timing of this node.
    pub fn timing(&self) -> Timing {
        self.inner.timing().clone()
    }

    /// A certificate of the cluster CA for this node's remote API key (`key_pem`, kept
    /// for good), when `current_pem` is not one the cluster trusts for this node or has
    /// less than a third of its lifetime left; `None` when it is fine, or this node is
    /// not a member. The chain returned is the certificate, then the CA that issued it.
    pub async fn issue_api_cert(&self, key_pem: &str, current_pem: &str) -> Result<Option<String>> {
        let Ok(run) = self.inner.running() else {
            return Ok(None);
        };
        let name = self.inner.my_name();
        let (member, cluster) = run.sm.with(|a| {
            (
                a.state
                    .nodes
                    .get(&name)
                    .is_some_and(|r| r.status == NodeStatus::Member),
                a.state.cluster.clone(),
            )
        });
        let (true, Some(cluster)) = (member, cluster) else {
            return Ok(None);
        };
        let trusted = cluster.trusted_pem();
        let issued = pki::issuer_of(current_pem, &trusted, &name).ok().flatten();
        let fresh = pki::cert_der(current_pem)
            .ok()
            .and_then(|d| pki::cert_validity_ms(d.as_ref()))
            .is_some_and(|(nb, na)| pki::now_ms() < nb + (na.saturating_sub(nb)) / 3 * 2);
        if issued.is_some() && fresh && pki::key_matches(current_pem, key_pem) {
            return Ok(None);
        }
        let csr = pki::api_csr(&name, key_pem)?;
        let cert = self
            .inner
            .get_signed(&run, &cluster, &name, &csr, CertKind::Api)
            .await?;
        let (ca, _) = cluster.signing_ca();
        Ok(Some(format!("{}\n{}\n", cert.trim_end(), ca.trim_end())))
    }

    /// Each member's certificate as the cluster records it, as of a linearizable read.
    pub async fn certs(&self) -> Result<Vec<CertInfo>> {
        let run = self.inner.running()?;
        self.inner.linearize(&run).await?;
        Ok(cert_infos(&run))
    }

    /// Have every node renew its certificate now (`halo cluster certs rotate`) and wait
    /// until each one uses its new certificate; the old ones are then refused.
    ///
    /// With `new_ca`, the certificates come from a new cluster CA: made here (this node
    /// must hold the current CA's key), trusted beside the old one and given to the
    /// other full voters while every node renews, then the only CA trusted. Called again
    /// while a move is under way (a node was down), it waits for that move and finishes it.
    pub async fn rotate_certs(&self, new_ca: bool) -> Result<Vec<CertInfo>> {
        let run = self.inner.running()?;
        let target = if new_ca {
            Some(self.inner.begin_ca_move(&run).await?)
        } else {
            None
        };
        let epoch = match target {
            Some(_) => 0,
            None => self.inner.propose(Change::RotateCerts, None).await?.epoch,
        };
        let t = Duration::from_millis(self.inner.timing().commit_timeout_ms * 6);
        let deadline = Instant::now() + t;
        loop {
            let behind: Vec<String> = run.sm.with(|a| match &target {
                Some(ca) => a.state.behind_ca(ca),
                None => a
                    .state
                    .nodes
                    .iter()
                    .filter(|(_, r)| r.status == NodeStatus::Member)
                    .filter(|(_, r)| {
                        r.cert_epoch.unwrap_or(0) < epoch || r.previous_cert_sha256.is_some()
                    })
                    .map(|(n, _)| n.clone())
                    .collect(),
            });
            if behind.is_empty() {
                break;
            }
            if Instant::now() >= deadline {
                return Err(Error::RotationIncomplete {
                    secs: t.as_secs(),
                    nodes: behind.join(", "),
                });
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        if let Some(ca) = target {
            self.inner
                .propose(Change::FinishCaRotation { ca_fingerprint: ca }, None)
                .await?;
        }
        self.certs().await
    }

    /// The last `n` configuration changes, oldest first.
    pub fn history(&self, n: usize) -> Result<Vec<HistoryEntry>> {
        let run = self.inner.running()?;
        Ok(run.sm.with(|a| {
            let h = &a.state.history;
            h.iter().skip(h.len().saturating_sub(n)).cloned().collect()
        }))
    }
}

impl Inner {
    async fn app_handle(&self, from: String, body: serde_json::Value) -> Result<serde_json::Value> {
        let handler = self.app.read().ok().and_then(|h| h.clone());
        let Some(handler) = handler else {
            return Err(Error::Refused {
                code: "HALO-E138".into(),
                reason: format!("{} does not take controller messages yet", self.my_name()),
            });
        };
        handler
            .handle(from, body)
            .await
            .map_err(|reason| Error::Refused {
                code: "HALO-E138".into(),
                reason,
            })
    }

    fn layout(&self) -> Layout {
        Layout {
            dir: self.opts.state_dir.clone(),
        }
    }

    fn identity(&self) -> Option<IdentityFile> {
        self.identity.read().ok().and_then(|g| g.clone())
    }

    fn my_name(&self) -> String {
        self.identity()
            .map(|i| i.name)
            .unwrap_or_else(|| self.opts.name.clone())
    }

    fn running(&self) -> Result<Arc<Running>> {
        if let Some(r) = self.running.read().ok().and_then(|g| g.clone()) {
            return Ok(r);
        }
        if self.identity().is_some() {
            Err(Error::Stopped)
        } else {
            Err(Error::NotConfigured)
        }
    }

    fn timing(&self) -> &Timing {
        &self.opts.timing
    }

    fn db(&self) -> Result<Arc<redb::Database>> {
        let mut g = self
            .db
            .lock()
            .map_err(|_| Error::Store("store lock poisoned".into()))?;
        if let Some(db) = g.as_ref() {
            return Ok(db.clone());
        }
        let db = store::open_db(&self.layout().db()).map_err(|e| Error::Store(e.to_string()))?;
        *g = Some(db.clone());
        Ok(db)
    }

    async fn start_runtime(self: &Arc<Self>) -> Result<()> {
        let ident = self.identity().ok_or(Error::NotConfigured)?;
        let layout = self.layout();
        let seed = match read_json::<Vec<KnownNode>>(&layout.peers())? {
            Some(s) => s,
            None => read_json::<BootstrapFile>(&layout.bootstrap())?
                .map(|b| b.known_nodes())
                .unwrap_or_default(),
        };
        if let Ok(mut g) = self.seed.write() {
            *g = seed;
        }
        let db = self.db()?;
        let log = LogStore::new(db.clone());
        let sm = StateMachineStore::load(db, self.events.clone())
            .map_err(|e| Error::Store(e.to_string()))?;
        // A state written by an older version carries the CA key: a full voter keeps it
        // in its own file; it is never written to the state again.
        let legacy_key = sm.with(|a| a.state.secrets.ca_key_pem.clone());
        if !legacy_key.is_empty() && !ident.witness && layout.read_ca_key()?.is_none() {
            write_private(&layout.ca_key(), legacy_key.as_bytes())?;
            tracing::info!("moved the CA key out of the replicated state into ca-key.pem");
        }
        // A renewed certificate the cluster recorded before the node stopped: in use from
        // now on (the renewal task finishes the switch).
        if let Some((cert, key)) = layout.read_next_cert()? {
            let next = pki::fingerprint_pem(&cert)?;
            let recorded = sm.with(|a| {
                a.state
                    .nodes
                    .get(&ident.name)
                    .and_then(|r| r.cert_sha256.clone())
            });
            if recorded.as_deref() == Some(next.as_str()) {
                write_private(&layout.key(), key.as_bytes())?;
                write_private(&layout.cert(), cert.as_bytes())?;
                tracing::info!(fingerprint = %next, "using the renewed certificate the cluster recorded");
            }
        }
        let tls = layout.read_tls(&ident.name)?;
        let peers: Arc<dyn pki::PeerCerts> = Arc::new(PeerCertsRef {
            inner: Arc::downgrade(self),
            sm: sm.clone(),
        });
        let net = Net::with_peers(self.opts.transport.clone(), &tls, Some(peers))?;
        let t = self.timing();
        let config = openraft::Config {
            cluster_name: "halo".to_string(),
            heartbeat_interval: t.heartbeat_ms,
            election_timeout_min: t.election_min_ms,
            election_timeout_max: t.election_max_ms,
            snapshot_policy: openraft::SnapshotPolicy::LogsSinceLast(1000),
            max_in_snapshot_log_to_keep: 200,
            enable_pre_vote: Some(true),
            ..Default::default()
        }
        .validate()
        .map_err(raft_err)?;
        let raft = Raft::new(
            ident.id,
            Arc::new(config),
            NetworkFactory { net: net.clone() },
            log.clone(),
            sm.clone(),
        )
        .await
        .map_err(raft_err)?;

        let listener = self
            .opts
            .transport
            .bind(&self.opts.listen)
            .await
            .map_err(|e| Error::io(format!("listen on {}", self.opts.listen), e));
        let listener = match listener {
            Ok(l) => l,
            Err(e) => {
                let _ = raft.shutdown().await;
                return Err(e);
            }
        };
        let acceptor = Arc::new(RwLock::new(TlsAcceptor::from(tls.server_config()?)));
        let handler: Arc<dyn Handler> = Arc::new(HandlerRef(Arc::downgrade(self)));
        let run = Arc::new(Running {
            id: ident.id,
            raft,
            sm,
            log,
            net,
            acceptor: acceptor.clone(),
            renewing: tokio::sync::Mutex::new(()),
            tasks: Mutex::new(vec![]),
        });
        let tasks = vec![
            tokio::spawn(net::serve(listener, acceptor, handler)),
            tokio::spawn(maintenance(Arc::downgrade(self), Arc::downgrade(&run))),
            tokio::spawn(renewal(Arc::downgrade(self), Arc::downgrade(&run))),
        ];
        if let Ok(mut t) = run.tasks.lock() {
            t.extend(tasks);
        }
        if let Ok(mut g) = self.running.write() {
            *g = Some(run.clone());
        }
        // An offline-made cluster: the member with the lowest id initialises it, once.
        if let Some(b) = read_json::<BootstrapFile>(&layout.bootstrap())? {
            let pristine = run
                .log
                .is_pristine()
                .map_err(|e| Error::Store(e.to_string()))?;
            let lowest = b.members.iter().map(|m| m.1).min();
            if pristine && lowest == Some(ident.id) {
                let members: BTreeMap<NodeId, Member> = b
                    .members
                    .iter()
                    .map(|(n, id, addr, w)| {
                        (
                            *id,
                            Member {
                                name: n.clone(),
                                addr: addr.clone(),
                                witness: *w,
                            },
                        )
                    })
                    .collect();
                run.raft.initialize(members).await.map_err(raft_err)?;
            }
        }
        tracing::info!(node = %ident.name, id = ident.id, cluster = %ident.cluster, "cluster membership started");
        Ok(())
    }

    async fn stop_runtime(&self) {
        let run = self.running.write().ok().and_then(|mut g| g.take());
        if let Some(run) = run {
            let tasks = run
                .tasks
                .lock()
                .map(|mut t| std::mem::take(&mut *t))
                .unwrap_or_default();
            for t in &tasks {
                t.abort();
            }
            let _ = run.raft.shutdown().await;
            // An aborted task lets go of what it holds (the store among them) only once
            // the runtime drops it: wait for that, so that the store can be opened again
            // as soon as this returns.
            for t in tasks {
                let _ = t.await;
            }
            tracing::info!("cluster membership stopped");
        }
        if let Ok(mut s) = self.seen.lock() {
            s.clear();
        }
    }

    async fn init(self: &Arc<Self>, cluster: &str, settings: Settings) -> Result<()> {
        if let Some(id) = self.identity() {
            return Err(Error::AlreadyConfigured(id.cluster));
        }
        if cluster.is_empty() || cluster.len() > 100 || cluster.chars().any(|c| c.is_control()) {
            return Err(Error::Invalid(format!(
                "invalid cluster name {cluster:?}: use 1-100 printable characters"
            )));
        }
        let name = self.opts.name.clone();
        pki::check_node_name(&name)?;
        let (ca, ca_key, fp) = pki::generate_ca(cluster)?;
        let (cert, key) = pki::issue_node_cert_for(&ca, &ca_key, &name, self.opts.cert_validity)?;
        let certs = BTreeMap::from([(name.clone(), pki::fingerprint_pem(&cert)?)]);
        let cert_not_after = BTreeMap::from([(name.clone(), pki::not_after_pem(&cert)?)]);
        let ident = IdentityFile {
            v: 1,
            name: name.clone(),
            id: 1,
            cluster: cluster.to_string(),
            addr: self.opts.listen.clone(),
            witness: self.opts.witness,
        };
        let tls = Identity {
            name: name.clone(),
            ca_cert_pem: ca.clone(),
            cert_pem: cert,
            key_pem: key,
        };
        self.layout().write_identity(&ident, &tls)?;
        // The CA key stays on this node (and goes to full voters as they join).
        write_private(&self.layout().ca_key(), ca_key.as_bytes())?;
        if let Ok(mut g) = self.identity.write() {
            *g = Some(ident.clone());
        }
        self.start_runtime().await?;
        let run = self.running()?;
        let mut members = BTreeMap::new();
        members.insert(
            1,
            Member {
                name: name.clone(),
                addr: ident.addr.clone(),
                witness: ident.witness,
            },
        );
        run.raft.initialize(members).await.map_err(raft_err)?;
        run.raft
            .wait(Some(Duration::from_secs(10)))
            .current_leader(1, "initial election")
            .await
            .map_err(raft_err)?;
        let change = Change::InitCluster {
            name: cluster.to_string(),
            ca_cert_pem: ca,
            ca_fingerprint: fp,
            ca_key_pem: crate::state::Secret::default(),
            settings,
            nodes: vec![(name, 1, ident.addr, ident.witness)],
            next_node_id: 2,
            certs,
            cert_not_after,
        };
        self.commit(&run, self.request(change), true).await?;
        Ok(())
    }

    fn request(&self, change: Change) -> Request {
        Request {
            v: REQUEST_VERSION,
            node: self.my_name(),
            time_ms: self.opts.clock.now_ms(),
            change,
            by: None,
        }
    }

    async fn make_token(&self, ttl: Duration, uses: u32) -> Result<String> {
        if uses == 0 {
            return Err(Error::Invalid(
                "a join token must admit at least one node (--uses 1 or more)".into(),
            ));
        }
        let run = self.running()?;
        // The CA that signs: during a move to a new CA, the new one (the one the
        // members' certificates come from).
        let fp = run
            .sm
            .with(|a| {
                a.state
                    .cluster
                    .as_ref()
                    .map(|c| c.signing_ca().1.to_string())
            })
            .ok_or(Error::NotConfigured)?;
        let token = JoinToken::generate(&fp)?;
        let expires_ms = self
            .opts
            .clock
            .now_ms()
            .saturating_add(ttl.as_millis() as u64);
        self.propose(
            Change::AddToken {
                id: token.id.clone(),
                secret_sha256: token.secret_hash(),
                expires_ms,
                uses: Some(uses),
            },
            None,
        )
        .await?;
        Ok(token.encode())
    }

    async fn join(self: &Arc<Self>, peer: &str, token: &str, name: Option<&str>) -> Result<Joined> {
        if let Some(id) = self.identity() {
            return Err(Error::AlreadyConfigured(id.cluster));
        }
        let token = JoinToken::decode(token)?;
        let name = name
            .map(str::to_string)
            .unwrap_or_else(|| self.opts.name.clone());
        pki::check_node_name(&name)?;
        let (key, csr) = pki::node_csr(&name)?;
        let req = JoinRequest {
            token_id: token.id.clone(),
            secret_hex: crate::state::Secret(pki::hex(&token.secret)),
            name: name.clone(),
            addr: self.opts.listen.clone(),
            witness: self.opts.witness,
            csr_pem: csr,
        };
        let acc: JoinAccepted = net::send_join(
            self.opts.transport.as_ref(),
            peer,
            &token.ca_fingerprint,
            req,
            Duration::from_millis(self.timing().commit_timeout_ms * 2),
        )
        .await?;
        if !pki::fingerprints_pem(&acc.ca_cert_pem)?.contains(&token.ca_fingerprint) {
            return Err(Error::CaMismatch(peer.to_string()));
        }
        let ident = IdentityFile {
            v: 1,
            name: name.clone(),
            id: acc.id,
            cluster: acc.cluster.clone(),
            addr: self.opts.listen.clone(),
            witness: self.opts.witness,
        };
        let tls = Identity {
            name: name.clone(),
            ca_cert_pem: acc.ca_cert_pem,
            cert_pem: acc.cert_pem,
            key_pem: key,
        };
        self.layout().write_identity(&ident, &tls)?;
        write_json(&self.layout().peers(), &acc.nodes)?;
        if let (Some(key), false) = (&acc.ca_key_pem, self.opts.witness) {
            write_private(&self.layout().ca_key(), key.0.as_bytes())?;
        }
        if let Ok(mut g) = self.identity.write() {
            *g = Some(ident.clone());
        }
        self.start_runtime().await?;
        let run = self.running()?;
        let via = Member {
            name: pki::GENERIC_NODE_NAME.to_string(),
            addr: peer.to_string(),
            witness: false,
        };
        let fwd = Forward::AddMember {
            id: acc.id,
            member: Member {
                name: name.clone(),
                addr: ident.addr.clone(),
                witness: ident.witness,
            },
        };
        // Learner first, then voter once caught up: this waits for both.
        let t = Duration::from_millis(self.timing().commit_timeout_ms * 6);
        match run.net.call(&via, &PeerRequest::Forward(fwd), t).await? {
            PeerResponse::Forward(ForwardReply::Done) => {}
            _ => {
                return Err(Error::Protocol {
                    peer: peer.to_string(),
                    reason: "unexpected reply to add-member".into(),
                })
            }
        }
        Ok(Joined {
            cluster: acc.cluster,
            id: acc.id,
            name,
        })
    }

    fn leader_member(&self, run: &Running) -> Option<(NodeId, Member)> {
        let m = run.raft.metrics().borrow_watched().clone();
        let leader = m.current_leader?;
        let member = m.membership_config.membership().get_node(&leader)?.clone();
        Some((leader, member))
    }

    /// Commit a request: locally when leader, else through the leader.
    async fn commit(
        &self,
        run: &Running,
        req: Request,
        may_forward: bool,
    ) -> Result<(u64, Response)> {
        let t = Duration::from_millis(self.timing().commit_timeout_ms);
        let result = if run.raft.is_leader() || !may_forward {
            match tokio::time::timeout(t, run.raft.client_write(req.clone())).await {
                Err(_) => {
                    return Err(Error::Timeout(
                        t.as_millis() as u64,
                        "the change to commit".into(),
                    ))
                }
                Ok(Ok(resp)) => Ok((resp.log_id.index, resp.data)),
                Ok(Err(RaftError::APIError(ClientWriteError::ForwardToLeader(f)))) => {
                    if !may_forward || f.leader_id.is_none() || f.leader_id == Some(run.id) {
                        return Err(Error::NoQuorum(
                            "this node is not a leader with a quorum".into(),
                        ));
                    }
                    Err(())
                }
                Ok(Err(e)) => return Err(raft_err(e)),
            }
        } else {
            Err(())
        };
        let (index, resp) = match result {
            Ok(x) => x,
            Err(()) => {
                // A leader that is stopping did nothing with the request: wait for the
                // next one (an election) and ask it, within the commit timeout.
                let deadline = Instant::now() + t;
                let forward = PeerRequest::Forward(Forward::Propose {
                    request: Box::new(req),
                });
                let answer = loop {
                    let (id, leader) = self
                        .leader_member(run)
                        .ok_or_else(|| Error::NoQuorum("no leader is known".into()))?;
                    match run.net.call(&leader, &forward, t).await {
                        Err(Error::Refused { code, .. })
                            if code == crate::net::NOT_RUNNING && Instant::now() < deadline =>
                        {
                            self.leader_other_than(run, id, deadline).await?;
                        }
                        r => break (r?, leader),
                    }
                };
                match answer {
                    (
                        PeerResponse::Forward(ForwardReply::Committed {
                            log_index,
                            response,
                        }),
                        _,
                    ) => (log_index, response),
                    (_, leader) => {
                        return Err(Error::Protocol {
                            peer: leader.to_string(),
                            reason: "unexpected reply to a proposal".into(),
                        })
                    }
                }
            }
        };
        // Wait until this node applied it too, so a read right after sees it.
        let _ = run
            .raft
            .wait(Some(t))
            .applied_index_at_least(Some(index), "proposal applied locally")
            .await;
        if let ChangeResult::Refused { code, reason } = &resp.result {
            return Err(Error::Refused {
                code: code.clone(),
                reason: reason.clone(),
            });
        }
        Ok((index, resp))
    }

    /// Waits out an election: while a majority of voters is reachable but no leader
    /// holds a quorum's lease yet (one was just lost, or a heartbeat came late), a
    /// change waits for the next one, up to the commit timeout, instead of being
    /// refused; without a reachable majority it is refused at once.
    /// Waits (until `deadline`) for a quorate leader other than `old`.
    async fn leader_other_than(&self, run: &Running, old: u64, deadline: Instant) -> Result<()> {
        loop {
            let elected = self.leader_member(run).is_some_and(|(id, _)| id != old);
            if elected && self.status().quorate {
                return Ok(());
            }
            if Instant::now() >= deadline {
                return Err(Error::NoQuorum(
                    "the leader stopped and no other was elected in time".into(),
                ));
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    async fn quorate_or_wait(&self) -> Result<()> {
        let deadline = Instant::now() + Duration::from_millis(self.timing().commit_timeout_ms);
        loop {
            let st = self.status();
            if st.quorate {
                return Ok(());
            }
            let majority = st.voters > 0 && st.voters_online * 2 > st.voters;
            if !majority || Instant::now() >= deadline {
                let why = if majority {
                    "; no leader was elected in time"
                } else {
                    ""
                };
                return Err(Error::NoQuorum(format!(
                    "{} of {} voters reachable from {}{why}",
                    st.voters_online, st.voters, st.node
                )));
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    async fn propose(&self, change: Change, by: Option<String>) -> Result<Response> {
        let run = self.running()?;
        self.quorate_or_wait().await?;
        let mut req = self.request(change);
        req.by = by;
        let (_, resp) = self.commit(&run, req, true).await?;
        Ok(resp)
    }

    /// Make the local state machine reflect every change committed before this call.
    async fn linearize(&self, run: &Running) -> Result<()> {
        let t = Duration::from_millis(self.timing().commit_timeout_ms);
        let index = if run.raft.is_leader() {
            tokio::time::timeout(t, run.raft.ensure_linearizable(ReadPolicy::ReadIndex))
                .await
                .map_err(|_| {
                    Error::Timeout(t.as_millis() as u64, "leadership confirmation".into())
                })?
                .map_err(|e| Error::NoQuorum(e.to_string()))?
                .index()
        } else {
            let (_, leader) = self
                .leader_member(run)
                .ok_or_else(|| Error::NoQuorum("no leader is known".into()))?;
            match run
                .net
                .call(&leader, &PeerRequest::Forward(Forward::ReadIndex), t)
                .await?
            {
                PeerResponse::Forward(ForwardReply::ReadIndex { index }) => index,
                _ => {
                    return Err(Error::Protocol {
                        peer: leader.to_string(),
                        reason: "unexpected reply to read-index".into(),
                    })
                }
            }
        };
        run.raft
            .wait(Some(t))
            .applied_index_at_least(Some(index), "linearizable read")
            .await
            .map_err(|_| {
                Error::Timeout(t.as_millis() as u64, "the local state to catch up".into())
            })?;
        Ok(())
    }

    async fn remove_via_leader(&self, name: &str) -> Result<()> {
        let run = self.running()?;
        self.quorate_or_wait().await?;
        if run.raft.is_leader() {
            return self.remove_member(&run, name, &self.my_name()).await;
        }
        let (_, leader) = self
            .leader_member(&run)
            .ok_or_else(|| Error::NoQuorum("no leader is known".into()))?;
        let t = Duration::from_millis(self.timing().commit_timeout_ms * 3);
        let fwd = Forward::RemoveMember {
            name: name.to_string(),
            by: self.my_name(),
        };
        match run.net.call(&leader, &PeerRequest::Forward(fwd), t).await? {
            PeerResponse::Forward(ForwardReply::Done) => Ok(()),
            _ => Err(Error::Protocol {
                peer: leader.to_string(),
                reason: "unexpected reply to remove".into(),
            }),
        }
    }

    /// On the leader: take a node out of the membership, then mark it removed.
    async fn remove_member(&self, run: &Running, name: &str, by: &str) -> Result<()> {
        let id = run
            .sm
            .with(|a| {
                a.state
                    .nodes
                    .get(name)
                    .filter(|r| r.status == NodeStatus::Member)
                    .map(|r| r.id)
            })
            .ok_or_else(|| Error::NoSuchNode(name.to_string()))?;
        let m = run.raft.metrics().borrow_watched().clone();
        let membership = m.membership_config.membership().clone();
        let voters: BTreeSet<NodeId> = membership.voter_ids().collect();
        let t = Duration::from_millis(self.timing().commit_timeout_ms * 2);
        let change = if voters.contains(&id) {
            if voters.len() == 1 {
                return Err(Error::Invalid(format!(
                    "{name} is the last voter; a cluster cannot remove its last voter"
                )));
            }
            Some(ChangeMembers::RemoveVoters(BTreeSet::from([id])))
        } else if membership.get_node(&id).is_some() {
            Some(ChangeMembers::RemoveNodes(BTreeSet::from([id])))
        } else {
            None
        };
        if let Some(change) = change {
            tokio::time::timeout(t, run.raft.change_membership(change, false))
                .await
                .map_err(|_| Error::Timeout(t.as_millis() as u64, "the membership change".into()))?
                .map_err(raft_err)?;
        }
        let req = Request {
            v: REQUEST_VERSION,
            node: by.to_string(),
            time_ms: self.opts.clock.now_ms(),
            change: Change::RemoveNode {
                name: name.to_string(),
            },
            by: None,
        };
        // The leader may have removed itself and stepped down: retry through the new one.
        let deadline = Instant::now() + t;
        loop {
            // Through another leader, the change is this node's own (a forwarded
            // proposal is attributed to the node that sends it).
            let mut req = req.clone();
            if !run.raft.is_leader() {
                req.node = self.my_name();
            }
            match self.commit(run, req, true).await {
                Ok(_) => return Ok(()),
                Err(e @ Error::Refused { .. }) => return Err(e),
                Err(e) if Instant::now() >= deadline => return Err(e),
                Err(_) => tokio::time::sleep(Duration::from_millis(100)).await,
            }
        }
    }

    /// On the leader: add a node as learner (waiting until it caught up), then as voter.
    async fn add_member(&self, run: &Running, id: NodeId, member: Member) -> Result<()> {
        let t = Duration::from_millis(self.timing().commit_timeout_ms * 5);
        let known = run
            .sm
            .with(|a| {
                a.state
                    .node_by_id(id)
                    .map(|(n, r)| n == &member.name && r.status == NodeStatus::Member)
            })
            .unwrap_or(false);
        if !known {
            return Err(Error::Invalid(format!(
                "node {} (id {id}) was not admitted by a join token",
                member.name
            )));
        }
        tokio::time::timeout(t, run.raft.add_learner(id, member, true))
            .await
            .map_err(|_| Error::Timeout(t.as_millis() as u64, "the new node to catch up".into()))?
            .map_err(raft_err)?;
        tokio::time::timeout(
            t,
            run.raft
                .change_membership(ChangeMembers::AddVoterIds(BTreeSet::from([id])), false),
        )
        .await
        .map_err(|_| Error::Timeout(t.as_millis() as u64, "the promotion to voter".into()))?
        .map_err(raft_err)?;
        Ok(())
    }

    async fn handle_join(&self, from: &str, j: JoinRequest) -> Result<JoinAccepted> {
        let run = self.running()?;
        self.linearize(&run).await?;
        let now = self.opts.clock.now_ms();
        let (cluster, token) = run.sm.with(|a| {
            (
                a.state.cluster.clone(),
                a.state.tokens.get(&j.token_id).cloned(),
            )
        });
        let cluster = cluster.ok_or(Error::NotConfigured)?;
        let token = token.ok_or_else(|| {
            tracing::warn!(peer = %from, "join refused: unknown token");
            Error::TokenRefused
        })?;
        let secret_hex = &j.secret_hex.0;
        let secret = (0..secret_hex.len())
            .step_by(2)
            .map(|i| {
                secret_hex
                    .get(i..i + 2)
                    .and_then(|s| u8::from_str_radix(s, 16).ok())
            })
            .collect::<Option<Vec<u8>>>()
            .unwrap_or_default();
        // Constant time: the hash of the secret given against the one recorded.
        if !pki::digest_eq(&pki::sha256_hex(&secret), &token.secret_sha256) {
            tracing::warn!(peer = %from, "join refused: wrong token secret");
            return Err(Error::TokenRefused);
        }
        if token.revoked {
            tracing::warn!(peer = %from, token = %j.token_id, "join refused: revoked token");
            return Err(Error::TokenRevoked(j.token_id.clone()));
        }
        if token.expires_ms <= now {
            tracing::warn!(peer = %from, "join refused: expired token");
            return Err(Error::TokenExpired(fmt_time(token.expires_ms)));
        }
        if token.uses_left == Some(0) {
            tracing::warn!(peer = %from, token = %j.token_id, "join refused: used token");
            return Err(Error::TokenUsed(j.token_id.clone()));
        }
        pki::check_node_name(&j.name)?;
        let Some(signer) = self.signer(&cluster)? else {
            let holders = run.sm.with(|a| {
                a.state
                    .nodes
                    .iter()
                    .filter(|(n, r)| {
                        r.status == NodeStatus::Member && !r.witness && **n != self.my_name()
                    })
                    .map(|(n, r)| format!("{n} ({})", r.addr))
                    .collect::<Vec<_>>()
                    .join(", ")
            });
            tracing::warn!(peer = %from, "join refused: this node holds no CA key");
            return Err(Error::NoCaKey {
                node: self.my_name(),
                holders: if holders.is_empty() {
                    "the node that created the cluster".into()
                } else {
                    holders
                },
            });
        };
        let cert_pem = pki::sign_csr_for(
            &signer.cert_pem,
            &signer.key_pem,
            &j.csr_pem,
            &j.name,
            self.opts.cert_validity,
        )?;
        // The use is consumed, and the certificate bound to the name, by the state
        // machine in one committed change: of two joins racing with a single-use token
        // only one is admitted.
        let req = self.request(Change::AdmitNode {
            name: j.name.clone(),
            addr: j.addr.clone(),
            witness: j.witness,
            token_id: j.token_id.clone(),
            cert_sha256: pki::fingerprint_pem(&cert_pem)?,
            not_after_ms: Some(pki::not_after_pem(&cert_pem)?),
            ca_sha256: Some(signer.fingerprint.clone()),
        });
        let (_, resp) = self.commit(&run, req, true).await.map_err(|e| match e {
            Error::Refused { code, .. } if code == "HALO-E145" => {
                Error::TokenUsed(j.token_id.clone())
            }
            Error::Refused { code, .. } if code == "HALO-E144" => {
                Error::TokenRevoked(j.token_id.clone())
            }
            e => e,
        })?;
        let id = match resp.result {
            ChangeResult::NodeId { id } => id,
            other => return Err(Error::Invalid(format!("unexpected result {other:?}"))),
        };
        tracing::info!(node = %j.name, id, token = %j.token_id, "admitted a node");
        let nodes = run.sm.with(|a| {
            a.state
                .nodes
                .iter()
                .filter(|(_, r)| r.status == NodeStatus::Member)
                .map(|(name, r)| KnownNode::of(name, r))
                .collect()
        });
        // Full voters may admit nodes in turn; a witness never gets the key. During a
        // move to a new CA this is the current CA's key: the joiner fetches the new one
        // like every other holder.
        let ca_key_pem = match j.witness {
            false => self.layout().read_ca_key()?.map(crate::state::Secret),
            true => None,
        };
        Ok(JoinAccepted {
            id,
            cluster: cluster.name.clone(),
            cert_pem,
            ca_cert_pem: cluster.trusted_pem(),
            nodes,
            ca_key_pem,
        })
    }

    /// Sign `csr_pem` for the member `name` with `signer`: a node certificate, or an API
    /// certificate for the name and the address the cluster records for it.
    fn sign_as(
        &self,
        run: &Running,
        signer: &Signer,
        name: &str,
        csr_pem: &str,
        valid_for: Duration,
        kind: CertKind,
    ) -> Result<String> {
        match kind {
            CertKind::Node => {
                pki::sign_csr_for(&signer.cert_pem, &signer.key_pem, csr_pem, name, valid_for)
            }
            CertKind::Api => {
                let ip = run.sm.with(|a| {
                    a.state
                        .nodes
                        .get(name)
                        .and_then(|r| r.addr.parse::<std::net::SocketAddr>().ok().map(|s| s.ip()))
                });
                let ips: Vec<_> = ip.into_iter().filter(|ip| !ip.is_unspecified()).collect();
                pki::sign_api_csr(
                    &signer.cert_pem,
                    &signer.key_pem,
                    csr_pem,
                    name,
                    &ips,
                    valid_for,
                )
            }
        }
    }

    /// On a holder of the CA key: sign a certificate for the member `name`.
    fn sign_renewal(
        &self,
        run: &Running,
        name: &str,
        csr_pem: &str,
        validity_ms: u64,
        kind: CertKind,
    ) -> Result<String> {
        let cluster = run
            .sm
            .with(|a| a.state.cluster.clone())
            .ok_or(Error::NotConfigured)?;
        let Some(signer) = self.signer(&cluster)? else {
            return Err(Error::NoCaKey {
                node: self.my_name(),
                holders: "a full voter".into(),
            });
        };
        // Never longer than this node would issue.
        let valid_for = Duration::from_millis(validity_ms)
            .min(self.opts.cert_validity)
            .max(Duration::from_secs(1));
        let cert = self.sign_as(run, &signer, name, csr_pem, valid_for, kind)?;
        tracing::info!(node = %name, ?kind, "signed a certificate");
        Ok(cert)
    }

    /// A certificate for this node from `csr_pem`: signed here when this node holds the
    /// CA key, else by the first full voter that does.
    async fn get_signed(
        &self,
        run: &Running,
        cluster: &ClusterInfo,
        name: &str,
        csr_pem: &str,
        kind: CertKind,
    ) -> Result<String> {
        let validity = self.opts.cert_validity;
        if let Some(signer) = self.signer(cluster)? {
            return self.sign_as(run, &signer, name, csr_pem, validity, kind);
        }
        let holders = self.key_holders(run);
        let t = Duration::from_millis(self.timing().rpc_timeout_ms * 5);
        let req = PeerRequest::SignCsr {
            csr_pem: csr_pem.to_string(),
            validity_ms: validity.as_millis() as u64,
            kind,
        };
        let mut why = vec![];
        for h in holders {
            match run.net.call(&h, &req, t).await {
                Ok(PeerResponse::Signed { cert_pem }) => return Ok(cert_pem),
                Ok(_) => why.push(format!("{}: unexpected reply", h.name)),
                Err(e) => why.push(format!("{}: {e}", h.name)),
            }
        }
        Err(Error::RenewFailed {
            node: name.to_string(),
            reason: if why.is_empty() {
                "no full voter to ask".into()
            } else {
                why.join("; ")
            },
        })
    }

    /// The new CA of a move to one (`certs rotate --new-ca`): the one under way, or a new
    /// one made here, its key kept beside the current CA's until the move finishes.
    async fn begin_ca_move(&self, run: &Running) -> Result<String> {
        let cluster = run
            .sm
            .with(|a| a.state.cluster.clone())
            .ok_or(Error::NotConfigured)?;
        if let Some(next) = &cluster.next_ca {
            return Ok(next.ca_fingerprint.clone());
        }
        // Not while this node's own CA files are being brought in step (which would take
        // the new key, not yet committed, for a stale one).
        let _g = run.renewing.lock().await;
        if self.signer(&cluster)?.is_none() {
            return Err(Error::NoCaKey {
                node: self.my_name(),
                holders: "a full voter that holds the CA key".into(),
            });
        }
        let (ca_cert_pem, key, ca_fingerprint) = pki::generate_ca(&cluster.name)?;
        let layout = self.layout();
        write_private(&layout.ca_next_key(), key.as_bytes())?;
        self.propose(
            Change::BeginCaRotation {
                ca_cert_pem,
                ca_fingerprint: ca_fingerprint.clone(),
            },
            None,
        )
        .await?;
        tracing::info!(ca = %ca_fingerprint, "moving the cluster to a new CA");
        Ok(ca_fingerprint)
    }

    /// The CA that signs now and its key, when this node holds that key: the current
    /// CA's, or the new one's during a move to a new CA.
    fn signer(&self, cluster: &ClusterInfo) -> Result<Option<Signer>> {
        let layout = self.layout();
        let (cert_pem, fingerprint) = cluster.signing_ca();
        let key = match cluster.next_ca {
            Some(_) => layout.read_ca_next_key()?,
            None => layout.read_ca_key()?,
        };
        Ok(key
            .filter(|k| pki::key_matches(cert_pem, k))
            .map(|key_pem| Signer {
                cert_pem: cert_pem.to_string(),
                key_pem,
                fingerprint: fingerprint.to_string(),
            }))
    }

    /// The other full voters: the nodes that may hold the CA key.
    fn key_holders(&self, run: &Running) -> Vec<Member> {
        let me = self.my_name();
        run.sm.with(|a| {
            a.state
                .nodes
                .iter()
                .filter(|(n, r)| r.status == NodeStatus::Member && !r.witness && **n != me)
                .map(|(n, r)| Member {
                    name: n.clone(),
                    addr: r.addr.clone(),
                    witness: false,
                })
                .collect()
        })
    }

    /// The private key of the CA `fingerprint` from another holder, if one gives it.
    async fn fetch_ca_key(
        &self,
        run: &Running,
        ca_cert_pem: &str,
        fingerprint: &str,
    ) -> Option<String> {
        let t = Duration::from_millis(self.timing().rpc_timeout_ms * 5);
        let req = PeerRequest::CaKey {
            ca_fingerprint: fingerprint.to_string(),
        };
        for h in self.key_holders(run) {
            match run.net.call(&h, &req, t).await {
                Ok(PeerResponse::CaKey { key_pem })
                    if pki::key_matches(ca_cert_pem, &key_pem.0) =>
                {
                    tracing::info!(from = %h.name, ca = %fingerprint, "received the CA key");
                    return Some(key_pem.0);
                }
                Ok(_) => tracing::debug!(from = %h.name, "no CA key there"),
                Err(e) => tracing::debug!(from = %h.name, "no CA key there: {e}"),
            }
        }
        None
    }

    /// On a holder: the key of the CA `fingerprint` (current or next) for the full voter
    /// `from`, which its certificate names.
    fn give_ca_key(&self, run: &Running, from: &str, fingerprint: &str) -> Result<String> {
        let full_voter = run.sm.with(|a| {
            a.state
                .nodes
                .get(from)
                .is_some_and(|r| r.status == NodeStatus::Member && !r.witness)
        });
        if !full_voter {
            tracing::warn!(peer = %from, "refused the CA key to a node that is not a full voter");
            return Err(Error::NotMember(from.to_string()));
        }
        let cluster = run
            .sm
            .with(|a| a.state.cluster.clone())
            .ok_or(Error::NotConfigured)?;
        let layout = self.layout();
        let wanted = [
            Some((
                cluster.ca_cert_pem.as_str(),
                cluster.ca_fingerprint.as_str(),
            )),
            cluster
                .next_ca
                .as_ref()
                .map(|n| (n.ca_cert_pem.as_str(), n.ca_fingerprint.as_str())),
        ];
        let Some((cert, _)) = wanted
            .into_iter()
            .flatten()
            .find(|(_, fp)| *fp == fingerprint)
        else {
            return Err(Error::Invalid(format!(
                "no CA {fingerprint} in this cluster"
            )));
        };
        for key in [layout.read_ca_key()?, layout.read_ca_next_key()?]
            .into_iter()
            .flatten()
        {
            if pki::key_matches(cert, &key) {
                tracing::info!(peer = %from, ca = %fingerprint, "gave the CA key to a full voter");
                return Ok(key);
            }
        }
        Err(Error::NoCaKey {
            node: self.my_name(),
            holders: "another full voter".into(),
        })
    }

    /// Keep this node's CA files in step with the cluster's: trust every CA the cluster
    /// trusts (two while it moves to a new one), and, on a holder of the CA key, hold
    /// the new CA's key during a move and only the current CA's after it. Returns whether
    /// it changed anything.
    async fn reconcile_ca(&self, run: &Running, name: &str, witness: bool) -> Result<bool> {
        let Some(cluster) = run.sm.with(|a| a.state.cluster.clone()) else {
            return Ok(false);
        };
        let layout = self.layout();
        let mut changed = false;
        let key = layout.read_ca_key()?;
        let next_key = layout.read_ca_next_key()?;
        if !witness && (key.is_some() || next_key.is_some()) {
            match &cluster.next_ca {
                Some(next) => {
                    if !next_key.is_some_and(|k| pki::key_matches(&next.ca_cert_pem, &k)) {
                        if let Some(k) = self
                            .fetch_ca_key(run, &next.ca_cert_pem, &next.ca_fingerprint)
                            .await
                        {
                            write_private(&layout.ca_next_key(), k.as_bytes())?;
                            changed = true;
                        }
                    }
                }
                None => {
                    if let Some(k) = next_key {
                        // The move finished: the new CA's key is the key.
                        if pki::key_matches(&cluster.ca_cert_pem, &k) {
                            write_private(&layout.ca_key(), k.as_bytes())?;
                        }
                        let _ = std::fs::remove_file(layout.ca_next_key());
                        changed = true;
                    }
                    let key = layout.read_ca_key()?;
                    if key.is_some_and(|k| !pki::key_matches(&cluster.ca_cert_pem, &k)) {
                        match self
                            .fetch_ca_key(run, &cluster.ca_cert_pem, &cluster.ca_fingerprint)
                            .await
                        {
                            Some(k) => write_private(&layout.ca_key(), k.as_bytes())?,
                            None => {
                                // A key of a CA no longer trusted signs nothing anyone
                                // accepts: it is not kept.
                                let _ = std::fs::remove_file(layout.ca_key());
                                tracing::warn!("removed the key of the old cluster CA; no other holder gave this node the new one");
                            }
                        }
                        changed = true;
                    }
                }
            }
        }
        let trusted = cluster.trusted_pem();
        let current = layout.read_tls(name)?;
        if pki::fingerprints_pem(&current.ca_cert_pem)? != pki::fingerprints_pem(&trusted)? {
            let next = Identity {
                ca_cert_pem: trusted,
                ..current
            };
            self.use_identity(run, &next)?;
            tracing::info!(
                cas = %pki::fingerprints_pem(&next.ca_cert_pem)?.join(", "),
                "now trusting the cluster CA(s)"
            );
            changed = true;
        }
        Ok(changed)
    }

    /// Whether every other member has applied the state up to `epoch` (what it last
    /// told this node).
    fn members_applied(&self, run: &Running, epoch: u64) -> bool {
        let m = run.raft.metrics().borrow_watched().clone();
        let seen = lock_or_poisoned(&self.seen);
        let all = m
            .membership_config
            .membership()
            .nodes()
            .filter(|(id, _)| **id != run.id)
            .all(|(id, _)| seen.get(id).is_some_and(|(_, v)| v.epoch >= epoch));
        all
    }

    /// Use the renewed certificate: on disk, then on every connection opened from now on.
    fn switch_cert(
        &self,
        run: &Running,
        current: &Identity,
        cert: String,
        key: String,
    ) -> Result<()> {
        let layout = self.layout();
        let next = Identity {
            name: current.name.clone(),
            ca_cert_pem: current.ca_cert_pem.clone(),
            cert_pem: cert,
            key_pem: key,
        };
        self.use_identity(run, &next)?;
        layout.remove_next_cert();
        tracing::info!(
            fingerprint = %pki::fingerprint_pem(&next.cert_pem)?,
            not_after = %fmt_time(pki::not_after_pem(&next.cert_pem)?),
            "now using the renewed certificate"
        );
        Ok(())
    }

    /// Write `next` to disk and present and trust it on every connection opened from
    /// now on.
    fn use_identity(&self, run: &Running, next: &Identity) -> Result<()> {
        let layout = self.layout();
        let server = next.server_config()?;
        write_private(&layout.ca(), next.ca_cert_pem.as_bytes())?;
        write_private(&layout.key(), next.key_pem.as_bytes())?;
        write_private(&layout.cert(), next.cert_pem.as_bytes())?;
        run.net.set_identity(next)?;
        if let Ok(mut a) = run.acceptor.write() {
            *a = TlsAcceptor::from(server);
        }
        Ok(())
    }

    /// One look at this node's certificate: switch to a renewed one every member knows,
    /// say that it switched, or renew it when it is due (less than a third of its
    /// validity left, or a rotation asked for since it was recorded). Returns whether it
    /// made progress (so that the next step follows at once).
    async fn cert_step(&self, run: &Running) -> Result<bool> {
        let _g = run.renewing.lock().await;
        let name = self.my_name();
        let layout = self.layout();
        let (rec, rotated, cluster) = run.sm.with(|a| {
            (
                a.state
                    .nodes
                    .get(&name)
                    .filter(|r| r.status == NodeStatus::Member)
                    .cloned(),
                a.state.certs_rotated_epoch,
                a.state.cluster.clone(),
            )
        });
        let (Some(rec), Some(cluster)) = (rec, cluster) else {
            return Ok(false);
        };
        if self.reconcile_ca(run, &name, rec.witness).await? {
            return Ok(true);
        }
        let current = layout.read_tls(&name)?;
        let cur_fp = pki::fingerprint_pem(&current.cert_pem)?;
        let cur_left = pki::not_after_pem(&current.cert_pem)?.saturating_sub(pki::now_ms());
        let validity_ms = self.opts.cert_validity.as_millis() as u64;
        if let Some((cert, key)) = layout.read_next_cert()? {
            if rec.cert_sha256.as_deref() == Some(pki::fingerprint_pem(&cert)?.as_str()) {
                // Committed: switch once every member applied it (so admits it), or
                // when the certificate in use is about to expire.
                let epoch = rec.cert_epoch.unwrap_or(0);
                let wait = Duration::from_millis(validity_ms / 20)
                    .clamp(Duration::from_millis(200), Duration::from_secs(10));
                let until = Instant::now() + wait;
                while !self.members_applied(run, epoch) && Instant::now() < until {
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
                if self.members_applied(run, epoch) || cur_left < validity_ms / 10 {
                    self.switch_cert(run, &current, cert, key)?;
                    return Ok(true);
                }
                return Ok(false);
            }
            // Never committed: forget it.
            layout.remove_next_cert();
        }
        if rec.previous_cert_sha256.is_some() && rec.cert_sha256.as_deref() == Some(cur_fp.as_str())
        {
            // In use: the certificate it replaced is refused from now on.
            self.propose(Change::CertSwitched { name }, None).await?;
            return Ok(true);
        }
        let (_, signing_fp) = cluster.signing_ca();
        let rotation = rec.cert_epoch.unwrap_or(0) < rotated
            || (cluster.next_ca.is_some() && rec.cert_ca_sha256.as_deref() != Some(signing_fp));
        if cur_left >= validity_ms / 3 && !rotation {
            return Ok(false);
        }
        let (key, csr) = pki::node_csr(&name)?;
        let cert = self
            .get_signed(run, &cluster, &name, &csr, CertKind::Node)
            .await?;
        let der = pki::cert_der(&cert)?;
        if pki::cert_common_name(der.as_ref()).as_deref() != Some(name.as_str()) {
            return Err(Error::RenewFailed {
                node: name,
                reason: "the certificate signed names another node".into(),
            });
        }
        let issuer = pki::issuer_of(&cert, &cluster.trusted_pem(), &name)?;
        if issuer.as_deref() != Some(signing_fp) {
            return Err(Error::RenewFailed {
                node: name,
                reason: match issuer {
                    Some(_) => "it was signed by the old CA (the signer had not yet applied the move to the new one); tried again".into(),
                    None => "it was signed by no CA the cluster trusts".into(),
                },
            });
        }
        let fingerprint = pki::sha256_hex(der.as_ref());
        let not_after_ms = pki::not_after_pem(&cert)?;
        write_private(&layout.next_key(), key.as_bytes())?;
        write_private(&layout.next_cert(), cert.as_bytes())?;
        self.propose(
            Change::RenewCert {
                name: name.clone(),
                cert_sha256: fingerprint.clone(),
                not_after_ms,
                previous_until_ms: pki::now_ms().saturating_add(cur_left),
                ca_sha256: issuer,
            },
            None,
        )
        .await?;
        tracing::info!(
            node = %name,
            fingerprint = %fingerprint,
            not_after = %fmt_time(not_after_ms),
            why = if rotation { "rotation" } else { "expiry near" },
            "renewed this node's certificate; it is used once every member knows it"
        );
        Ok(true)
    }

    /// A request forwarded by the member whose certificate names `from`.
    async fn handle_forward(&self, from: &str, f: Forward) -> Result<ForwardReply> {
        let run = self.running()?;
        let forged = |what: String| {
            tracing::warn!(peer = %from, "refused {what}");
            Error::Forged {
                from: from.to_string(),
                what,
            }
        };
        match f {
            Forward::Propose { request } => {
                // A proposal is attributed to the node that sends it, and what a node
                // runs is only ever what that node itself reports.
                if request.node != from {
                    return Err(forged(format!(
                        "a change in the name of {} ({})",
                        request.node,
                        request.change.summary()
                    )));
                }
                if let Change::RecordOp { node, .. } = &request.change {
                    if node != from {
                        return Err(forged(format!("an operation result of {node}")));
                    }
                }
                let (log_index, response) = self.commit(&run, *request, false).await?;
                Ok(ForwardReply::Committed {
                    log_index,
                    response,
                })
            }
            Forward::ReadIndex => {
                if !run.raft.is_leader() {
                    return Err(Error::NoQuorum("this node is not the leader".into()));
                }
                let t = Duration::from_millis(self.timing().commit_timeout_ms);
                let index =
                    tokio::time::timeout(t, run.raft.ensure_linearizable(ReadPolicy::ReadIndex))
                        .await
                        .map_err(|_| {
                            Error::Timeout(t.as_millis() as u64, "leadership confirmation".into())
                        })?
                        .map_err(|e| Error::NoQuorum(e.to_string()))?
                        .index();
                Ok(ForwardReply::ReadIndex { index })
            }
            Forward::AddMember { id, member } => {
                // Asked by the joiner itself, or passed on by a voter; the address and
                // role come from the node's record, never from the message.
                let voter = self.raft_member_id(&run, from).is_ok_and(|fid| {
                    run.raft
                        .metrics()
                        .borrow_watched()
                        .membership_config
                        .membership()
                        .voter_ids()
                        .any(|v| v == fid)
                });
                if member.name != from && !voter {
                    return Err(forged(format!("the addition of {}", member.name)));
                }
                let member = run
                    .sm
                    .with(|a| {
                        a.state.node_by_id(id).and_then(|(name, r)| {
                            (name == &member.name && r.status == NodeStatus::Member).then(|| {
                                Member {
                                    name: name.clone(),
                                    addr: r.addr.clone(),
                                    witness: r.witness,
                                }
                            })
                        })
                    })
                    .ok_or_else(|| {
                        Error::Invalid(format!(
                            "node {} (id {id}) was not admitted by a join token",
                            member.name
                        ))
                    })?;
                if run.raft.is_leader() {
                    self.add_member(&run, id, member).await?;
                } else {
                    let (_, leader) = self
                        .leader_member(&run)
                        .ok_or_else(|| Error::NoQuorum("no leader is known".into()))?;
                    let t = Duration::from_millis(self.timing().commit_timeout_ms * 6);
                    run.net
                        .call(
                            &leader,
                            &PeerRequest::Forward(Forward::AddMember { id, member }),
                            t,
                        )
                        .await?;
                }
                Ok(ForwardReply::Done)
            }
            Forward::RemoveMember { name, by } => {
                if by != from {
                    return Err(forged(format!("the removal of {name} in the name of {by}")));
                }
                if !run.raft.is_leader() {
                    return Err(Error::NoQuorum("this node is not the leader".into()));
                }
                self.remove_member(&run, &name, &by).await?;
                Ok(ForwardReply::Done)
            }
        }
    }

    fn my_view(&self) -> PeerView {
        let st = self.status();
        let (term, leader) = match self.running() {
            Ok(run) => {
                let m = run.raft.metrics().borrow_watched().clone();
                (m.current_term, m.current_leader)
            }
            Err(_) => (0, None),
        };
        PeerView {
            name: self.my_name(),
            term,
            leader,
            quorate: st.quorate,
            epoch: st.epoch,
        }
    }

    /// What this node knows of the node named `name`: its id and recorded certificate
    /// fingerprint. From the replicated node records once the cluster record exists
    /// (a removed node is not known), before that from the members this node was told
    /// of when it joined (or by its offline bundle).
    fn known_node(&self, run: &Running, name: &str) -> Option<KnownNode> {
        self.known_node_in(&run.sm, name)
    }

    /// [`Inner::known_node`] from the state machine `sm`.
    fn known_node_in(&self, sm: &StateMachineStore, name: &str) -> Option<KnownNode> {
        let from_state = sm.with(|a| {
            a.state.cluster.as_ref().map(|_| {
                a.state
                    .nodes
                    .get(name)
                    .filter(|r| r.status == NodeStatus::Member)
                    .map(|r| KnownNode::of(name, r))
            })
        });
        match from_state {
            Some(known) => known,
            None => self
                .seed
                .read()
                .ok()?
                .iter()
                .find(|k| k.name == name)
                .cloned(),
        }
    }

    /// The Raft id of the member named `name` in this node's view of the membership.
    fn raft_member_id(&self, run: &Running, name: &str) -> Result<NodeId> {
        run.raft
            .metrics()
            .borrow_watched()
            .membership_config
            .membership()
            .nodes()
            .find(|(_, m)| m.name == name)
            .map(|(id, _)| *id)
            .ok_or_else(|| Error::NotMember(name.to_string()))
    }

    /// A Raft message from the node whose certificate names `from` must name that
    /// node's id as its sender, and the membership must give that id the same name.
    fn check_sender(&self, run: &Running, from: &str, claimed: NodeId, what: &str) -> Result<()> {
        let refuse = || {
            tracing::warn!(peer = %from, claimed, "refused {what}");
            Error::Forged {
                from: from.to_string(),
                what: format!("{what} (id {claimed})"),
            }
        };
        let Some(known) = self.known_node(run, from) else {
            tracing::warn!(peer = %from, "refused a Raft message from an unknown node");
            return Err(Error::NotMember(from.to_string()));
        };
        if known.id != claimed {
            return Err(refuse());
        }
        let m = run.raft.metrics().borrow_watched().clone();
        if let Some(member) = m.membership_config.membership().get_node(&claimed) {
            if member.name != from {
                return Err(refuse());
            }
        }
        Ok(())
    }

    fn record_seen(&self, id: NodeId, view: PeerView) {
        if let Ok(mut s) = self.seen.lock() {
            s.insert(id, (Instant::now(), view));
        }
    }

    fn status(&self) -> StatusReport {
        let ident = self.identity();
        let mut report = StatusReport {
            cluster: ident.as_ref().map(|i| i.cluster.clone()),
            quorate: false,
            dc: None,
            term: 0,
            nodes: vec![],
            node: self.my_name(),
            state: match (&ident, self.running()) {
                (None, _) => "unconfigured",
                (Some(_), Ok(_)) => "running",
                (Some(_), Err(_)) => "stopped",
            }
            .to_string(),
            raft_state: "shutdown".into(),
            epoch: 0,
            failure_timeout_ms: crate::state::DEFAULT_FAILURE_TIMEOUT_MS,
            voters_online: 0,
            voters: 0,
        };
        let Ok(run) = self.running() else {
            return report;
        };
        let m = run.raft.metrics().borrow_watched().clone();
        let (settings, epoch, cluster) = run.sm.with(|a| {
            (
                a.state.settings.clone(),
                a.state.epoch,
                a.state.cluster.as_ref().map(|c| c.name.clone()),
            )
        });
        if cluster.is_some() {
            report.cluster = cluster;
        }
        report.epoch = epoch;
        report.failure_timeout_ms = settings.failure_timeout_ms;
        report.term = m.current_term;
        report.raft_state = server_state_name(m.state).to_string();
        let timeout = Duration::from_millis(settings.failure_timeout_ms);
        let now = Instant::now();
        let seen = self.seen.lock().map(|s| s.clone()).unwrap_or_default();
        let fresh = |i: &openraft::TokioInstant| openraft::Instant::elapsed(i) <= timeout;
        // On the leader, Raft's own acknowledgements count as well as pings.
        let acked = |id: NodeId| {
            m.heartbeat
                .as_ref()
                .and_then(|h| h.get(&id).cloned().flatten())
                .is_some_and(|t| fresh(&t))
        };
        let online = |id: NodeId| {
            id == run.id
                || acked(id)
                || seen
                    .get(&id)
                    .is_some_and(|(t, _)| now.duration_since(*t) <= timeout)
        };
        // A leader is quorate only while it holds its lease: a quorum acknowledged a
        // heartbeat it sent within the lease, which ends before any other node can be
        // elected. (A lone voter is its own quorum.)
        let lease = self.timing().leader_lease();
        let quorum_acked = m
            .last_quorum_acked
            .as_ref()
            .is_some_and(|t| openraft::Instant::elapsed(&**t) < lease);
        let membership = m.membership_config.membership();
        let voters: BTreeSet<NodeId> = membership.voter_ids().collect();
        for (id, member) in membership.nodes() {
            report.nodes.push(NodeReport {
                name: member.name.clone(),
                online: online(*id),
                role: if !voters.contains(id) {
                    "learner"
                } else if member.witness {
                    "witness"
                } else {
                    "voter"
                }
                .to_string(),
                id: *id,
                addr: member.addr.clone(),
            });
        }
        report.voters = voters.len();
        report.voters_online = voters.iter().filter(|id| online(**id)).count();
        let majority = report.voters > 0 && report.voters_online * 2 > report.voters;
        report.quorate = match m.current_leader {
            Some(l) if l == run.id => {
                m.state == ServerState::Leader && (quorum_acked || (report.voters == 1 && majority))
            }
            Some(l) => {
                online(l)
                    && seen
                        .get(&l)
                        .is_some_and(|(_, v)| v.quorate && v.leader == Some(l))
            }
            None => false,
        };
        report.dc = m
            .current_leader
            .filter(|l| online(*l))
            .and_then(|l| membership.get_node(&l).map(|n| n.name.clone()));
        report
    }
}

/// The handler given to the server holds only a weak reference, so a stopped node is freed.
struct HandlerRef(Weak<Inner>);

fn wire(e: Error) -> WireError {
    e.to_wire()
}

impl Handler for HandlerRef {
    fn handle(&self, peer: Peer, req: PeerRequest) -> BoxFuture<'_, Reply> {
        Box::pin(async move {
            let inner = self.0.upgrade().ok_or_else(|| wire(Error::Stopped))?;
            let run = inner.running().map_err(wire)?;
            let from = match peer {
                Peer::Member(name) => name,
                Peer::Anonymous(addr) => {
                    // Only a join request reaches here without a certificate.
                    return match req {
                        PeerRequest::Join(j) => inner
                            .handle_join(&addr, j)
                            .await
                            .map(PeerResponse::Join)
                            .map_err(wire),
                        _ => Err(wire(Error::Refused {
                            code: "HALO-E140".into(),
                            reason: "only a join request is accepted without a cluster certificate"
                                .into(),
                        })),
                    };
                }
            };
            {
                // Every Raft message passes here: no new key once the member is known
                // (and only admitted certificates get this far).
                let mut h = lock_or_poisoned(&inner.heard);
                match h.get_mut(&from) {
                    Some(at) => *at = Instant::now(),
                    None => {
                        h.insert(from.clone(), Instant::now());
                    }
                }
            }
            // Every message is attributed to the node its certificate names: a Raft
            // message must come from the node it names as its sender.
            let check = |claimed: NodeId, what: &str| {
                inner.check_sender(&run, &from, claimed, what).map_err(wire)
            };
            match req {
                PeerRequest::AppendEntries(r) => {
                    check(*r.vote.leader_id.node_id(), "entries of another leader")?;
                    run.raft
                        .append_entries(r)
                        .await
                        .map(PeerResponse::AppendEntries)
                        .map_err(|e| wire(raft_err(e)))
                }
                PeerRequest::Vote(r) => {
                    check(
                        *r.vote.leader_id.node_id(),
                        "a vote request of another candidate",
                    )?;
                    run.raft
                        .vote(r)
                        .await
                        .map(PeerResponse::Vote)
                        .map_err(|e| wire(raft_err(e)))
                }
                PeerRequest::PreVote(r) => {
                    check(
                        *r.vote.leader_id.node_id(),
                        "a pre-vote request of another candidate",
                    )?;
                    run.raft
                        .pre_vote(r)
                        .await
                        .map(PeerResponse::Vote)
                        .map_err(|e| wire(raft_err(e)))
                }
                PeerRequest::Snapshot { vote, meta, data } => {
                    check(*vote.leader_id.node_id(), "a snapshot of another leader")?;
                    run.raft
                        .install_full_snapshot(
                            vote,
                            crate::types::Snapshot {
                                meta,
                                snapshot: data,
                            },
                        )
                        .await
                        .map(PeerResponse::Snapshot)
                        .map_err(|e| wire(raft_err(e)))
                }
                PeerRequest::TransferLeader(r) => {
                    check(
                        *r.from_leader().leader_id.node_id(),
                        "a leadership transfer of another leader",
                    )?;
                    run.raft
                        .handle_transfer_leader(r)
                        .await
                        .map(PeerResponse::TransferLeader)
                        .map_err(|e| wire(raft_err(e)))
                }
                PeerRequest::Ping(view) => {
                    // A ping tells how its sender is: it may only speak of the node
                    // its certificate names, and that node must be a member.
                    if view.name != from {
                        tracing::warn!(peer = %from, claims = %view.name, "refused a ping in the name of another node");
                        return Err(wire(Error::Forged {
                            from,
                            what: format!("a ping in the name of {}", view.name),
                        }));
                    }
                    let id = inner.raft_member_id(&run, &from).map_err(wire)?;
                    inner.record_seen(id, view);
                    Ok(PeerResponse::Pong(inner.my_view()))
                }
                PeerRequest::Forward(f) => inner
                    .handle_forward(&from, f)
                    .await
                    .map(PeerResponse::Forward)
                    .map_err(wire),
                PeerRequest::App(body) => {
                    // Attributed to the certificate's name, which must be a member.
                    inner.raft_member_id(&run, &from).map_err(wire)?;
                    inner
                        .app_handle(from, body)
                        .await
                        .map(PeerResponse::App)
                        .map_err(wire)
                }
                PeerRequest::Join(_) => Err(wire(Error::AlreadyConfigured(
                    "this one: a member does not join again".into(),
                ))),
                PeerRequest::SignCsr {
                    csr_pem,
                    validity_ms,
                    kind,
                } => {
                    // A certificate for the name in the asker's own certificate only;
                    // it is used once the asker itself commits it (RenewCert).
                    if inner.known_node(&run, &from).is_none() {
                        return Err(wire(Error::NotMember(from)));
                    }
                    inner
                        .sign_renewal(&run, &from, &csr_pem, validity_ms, kind)
                        .map(|cert_pem| PeerResponse::Signed { cert_pem })
                        .map_err(wire)
                }
                PeerRequest::CaKey { ca_fingerprint } => inner
                    .give_ca_key(&run, &from, &ca_fingerprint)
                    .map(|k| PeerResponse::CaKey {
                        key_pem: crate::state::Secret(k),
                    })
                    .map_err(wire),
            }
        })
    }

    fn serving(&self) -> bool {
        self.0
            .upgrade()
            .is_some_and(|inner| inner.running().is_ok())
    }

    fn admits(&self, name: &str, cert_sha256: &str) -> bool {
        let Some(inner) = self.0.upgrade() else {
            return false;
        };
        let Ok(run) = inner.running() else {
            return false;
        };
        // A member of the cluster's records (a removed or unknown name is not), with
        // the very certificate issued to it (or, while it switches to a renewed one,
        // the one that replaced). Records made before fingerprints were kept admit the
        // name alone.
        let now = inner.opts.clock.now_ms();
        inner
            .known_node(&run, name)
            .is_some_and(|k| k.admits_cert(cert_sha256, now))
    }
}

/// The outgoing side's view of the peers' certificates: what the cluster records. It
/// holds the state machine itself, so that it checks from the first connection the
/// runtime opens (before the runtime is published).
struct PeerCertsRef {
    inner: Weak<Inner>,
    sm: StateMachineStore,
}

impl pki::PeerCerts for PeerCertsRef {
    fn check(&self, name: &str, fingerprint: &str) -> std::result::Result<(), String> {
        let Some(inner) = self.inner.upgrade() else {
            return Err("this node is shutting down".into());
        };
        match inner.known_node_in(&self.sm, name) {
            Some(k) if !k.admits_cert(fingerprint, inner.opts.clock.now_ms()) => Err(format!(
                "the cluster records SHA-256 {} for {name}",
                k.cert_sha256.as_deref().unwrap_or("-")
            )),
            _ => Ok(()),
        }
    }
}

fn cert_infos(run: &Running) -> Vec<CertInfo> {
    run.sm.with(|a| {
        let ca = a
            .state
            .cluster
            .as_ref()
            .map(|c| c.ca_fingerprint.clone())
            .unwrap_or_default();
        a.state
            .nodes
            .iter()
            .filter(|(_, r)| r.status == NodeStatus::Member)
            .map(|(n, r)| CertInfo {
                node: n.clone(),
                cert_sha256: r.cert_sha256.clone(),
                not_after_ms: r.cert_not_after_ms,
                ca_sha256: r.cert_ca_sha256.clone().unwrap_or_else(|| ca.clone()),
                previous_cert_sha256: r.previous_cert_sha256.clone(),
                previous_until_ms: r.previous_until_ms,
                renewed: r.cert_epoch.is_some(),
            })
            .collect()
    })
}

/// How often a node looks at its certificate while a renewal or a move to a new CA is
/// under way.
const PENDING_CERT_CHECK: Duration = Duration::from_secs(1);

/// How often a node looks at its certificate: a fortieth of the validity, between
/// 200 ms and a minute (and at once when a rotation is committed).
fn cert_check_interval(validity: Duration) -> Duration {
    (validity / 40).clamp(Duration::from_millis(200), Duration::from_secs(60))
}

/// Renews this node's certificate before it expires, and when a rotation asks for it.
async fn renewal(weak: Weak<Inner>, weak_run: Weak<Running>) {
    let Some(mut events) = weak.upgrade().map(|i| i.events.subscribe()) else {
        return;
    };
    let mut last_error: Option<String> = None;
    loop {
        let Some(inner) = weak.upgrade() else { return };
        let Some(run) = weak_run.upgrade() else {
            return;
        };
        let progress = match inner.cert_step(&run).await {
            Ok(p) => {
                last_error = None;
                p
            }
            // Without quorum nothing commits (whichever node said so): the renewal waits
            // for it, it has not failed.
            Err(e) if e.code() == "HALO-E102" => {
                tracing::debug!("certificate renewal waits for quorum: {e}");
                false
            }
            Err(e) => {
                let e = e.to_string();
                if last_error.as_ref() != Some(&e) {
                    tracing::warn!("certificate renewal: {e}");
                }
                last_error = Some(e);
                false
            }
        };
        // While a renewed certificate waits for every member, or the cluster moves to a
        // new CA, look again soon: a member coming back is not announced by a change.
        let pending = inner.layout().next_cert().exists()
            || run.sm.with(|a| {
                a.state
                    .cluster
                    .as_ref()
                    .is_some_and(|c| c.next_ca.is_some())
            });
        let interval = match pending {
            true => PENDING_CERT_CHECK,
            false => cert_check_interval(inner.opts.cert_validity),
        };
        drop(run);
        drop(inner);
        if progress {
            continue;
        }
        let rotation = async {
            loop {
                match events.recv().await {
                    Ok(c)
                        if matches!(
                            c.request.change,
                            Change::RotateCerts
                                | Change::BeginCaRotation { .. }
                                | Change::FinishCaRotation { .. }
                        ) =>
                    {
                        return
                    }
                    Ok(_) => {}
                    Err(broadcast::error::RecvError::Lagged(_)) => return,
                    Err(broadcast::error::RecvError::Closed) => std::future::pending::<()>().await,
                }
            }
        };
        tokio::select! {
            _ = tokio::time::sleep(interval) => {}
            _ = rotation => {}
        }
    }
}

fn lock_or_poisoned<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// Periodic work: ping members (liveness), finish interrupted membership changes, and
/// create the cluster record of an offline-made cluster.
async fn maintenance(weak: Weak<Inner>, weak_run: Weak<Running>) {
    let mut bootstrap_done = false;
    let mut joint_seen: Option<(Option<crate::types::LogId>, Instant)> = None;
    let pinging: Arc<Mutex<BTreeSet<NodeId>>> = Arc::default();
    loop {
        let Some(inner) = weak.upgrade() else { return };
        let interval = Duration::from_millis(inner.timing().ping_interval_ms);
        let Some(run) = weak_run.upgrade() else {
            return;
        };
        let m = run.raft.metrics().borrow_watched().clone();
        let view = inner.my_view();
        // A ping not answered within a few intervals is given up (its connection too),
        // so that a lost or stuck connection does not hold up the next one.
        let ping_timeout = Duration::from_millis(inner.timing().rpc_timeout_ms).min(interval * 4);
        let peers: Vec<(NodeId, Member)> = m
            .membership_config
            .membership()
            .nodes()
            .filter(|(id, _)| **id != run.id)
            .map(|(id, n)| (*id, n.clone()))
            .collect();
        // Each member is pinged on its own, so that one that does not answer (cut off:
        // the call runs into its timeout) delays neither the contact with the others
        // nor the work below; a member whose last ping is still out is skipped.
        for (id, member) in peers {
            if !lock_or_poisoned(&pinging).insert(id) {
                continue;
            }
            let (run, inner, view, pinging) =
                (run.clone(), inner.clone(), view.clone(), pinging.clone());
            tokio::spawn(async move {
                let sent = Instant::now();
                match run
                    .net
                    .call(&member, &PeerRequest::Ping(view), ping_timeout)
                    .await
                {
                    Ok(PeerResponse::Pong(v)) => {
                        // Only an answer as quorate leader is a contact; a later other
                        // answer (the leader lost its lease for a moment) leaves the
                        // last contact as it was, however old.
                        if v.quorate && v.leader == Some(id) {
                            lock_or_poisoned(&inner.round_trips).insert(id, (sent, v.clone()));
                        }
                        inner.record_seen(id, v);
                    }
                    Ok(_) => tracing::debug!(peer = %member, "unexpected answer to a ping"),
                    Err(e) => tracing::debug!(peer = %member, "ping: {e}"),
                }
                lock_or_poisoned(&pinging).remove(&id);
            });
        }

        if m.state == ServerState::Leader {
            let joint = m.membership_config.membership().get_joint_config().clone();
            let log_id = *m.membership_config.log_id();
            if joint.len() > 1 {
                // A joint configuration left by an interrupted change (openraft finishes it
                // only on the next membership call): finish it once it has stayed for a while,
                // so a change in progress is not raced.
                match &joint_seen {
                    Some((id, since))
                        if *id == log_id && since.elapsed() > Duration::from_secs(3) =>
                    {
                        if let Some(last) = joint.last().cloned() {
                            tracing::info!("finishing an interrupted membership change");
                            let _ = run
                                .raft
                                .change_membership(ChangeMembers::ReplaceAllVoters(last), false)
                                .await;
                        }
                        joint_seen = None;
                    }
                    Some((id, _)) if *id == log_id => {}
                    _ => joint_seen = Some((log_id, Instant::now())),
                }
            } else {
                joint_seen = None;
            }
            if !bootstrap_done {
                let needs = run.sm.with(|a| a.state.cluster.is_none());
                if !needs {
                    bootstrap_done = true;
                } else if let Ok(Some(b)) = read_json::<BootstrapFile>(&inner.layout().bootstrap())
                {
                    let next = b.members.iter().map(|m| m.1).max().unwrap_or(0) + 1;
                    let change = Change::InitCluster {
                        name: b.cluster.clone(),
                        ca_cert_pem: b.ca_cert_pem.clone(),
                        ca_fingerprint: b.ca_fingerprint.clone(),
                        ca_key_pem: crate::state::Secret::default(),
                        settings: b.settings.clone(),
                        nodes: b.members.clone(),
                        next_node_id: next,
                        certs: b.certs.clone(),
                        cert_not_after: BTreeMap::new(),
                    };
                    if inner
                        .commit(&run, inner.request(change), false)
                        .await
                        .is_ok()
                    {
                        bootstrap_done = true;
                    }
                }
            }
        }
        // Once the cluster record exists, the offline bundle's CA key is no longer needed on disk.
        if run.sm.with(|a| a.state.cluster.is_some()) {
            let _ = std::fs::remove_file(inner.layout().bootstrap());
            let _ = std::fs::remove_file(inner.layout().peers());
        }
        drop(run);
        drop(inner);
        tokio::time::sleep(interval).await;
    }
}
