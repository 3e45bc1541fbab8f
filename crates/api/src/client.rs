//! The control API client: one HTTP/1 request per connection, over the Unix socket of
//! a local daemon or, to a remote node, over HTTPS with a pinned certificate and the
//! user's credentials.

use std::path::{Path, PathBuf};
use std::time::Duration;

use http_body_util::{BodyExt, Full};
use hyper::body::Bytes;
use hyper::Request;
use hyper_util::rt::TokioIo;
use serde::{de::DeserializeOwned, Serialize};

use crate::proto::{
    ChangeEvent, InitRequest, JoinRequest, Ok, ProposeReply, ProposeRequest, RemoveRequest,
    RotateRequest, TokenReply, TokenRequest,
};
use halo_consensus::{Change, HistoryEntry, Joined, StatusReport, WireError};

#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    #[error("HALO-E151 cannot reach the halo daemon at {socket}; is `halo daemon --state-dir {dir}` running? (set --state-dir or HALO_STATE_DIR)")]
    Connect {
        socket: String,
        dir: String,
        #[source]
        source: std::io::Error,
    },
    #[error("HALO-E152 control API: {0}")]
    Http(String),
    #[error("HALO-E153 no answer from the daemon within {0} s")]
    Timeout(u64),
    /// The daemon refused: its own stable code and message.
    #[error("{0}")]
    Api(WireError),
    #[error("HALO-E159 cannot reach {addr}: {reason}")]
    Remote { addr: String, reason: String },
    #[error("HALO-E160 {addr} presented a certificate whose key has the fingerprint {seen}, not the {pinned} recorded when it was authenticated: if the node's API key was replaced on purpose, run `halo cluster auth` again; otherwise something is impersonating it")]
    CertificateChanged {
        addr: String,
        seen: String,
        pinned: String,
    },
}

impl ClientError {
    /// The stable error code.
    pub fn code(&self) -> String {
        match self {
            ClientError::Api(w) => w.code.clone(),
            other => other
                .to_string()
                .split_whitespace()
                .next()
                .unwrap_or("")
                .to_string(),
        }
    }
}

/// A remote node's API: where, which certificate to expect, and how to authenticate.
#[derive(Clone)]
pub struct Remote {
    /// HOST:PORT.
    pub addr: String,
    /// The SHA-256 fingerprint of the node's API key (its certificate's public key, which
    /// stays when the certificate is reissued) or, as older pins hold, of the certificate
    /// itself; `None` accepts any (trust on first use: the key's fingerprint seen is
    /// returned by [`Client::seen_fingerprint`]).
    pub fingerprint: Option<String>,
    /// The `Authorization` header's value.
    pub authorization: Option<String>,
}

impl std::fmt::Debug for Remote {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Remote({}, {:?})", self.addr, self.fingerprint)
    }
}

impl Remote {
    /// Authenticate with a user's password (HTTP basic).
    pub fn basic(mut self, user: &str, password: &str) -> Remote {
        use base64::Engine;
        self.authorization = Some(format!(
            "Basic {}",
            base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"))
        ));
        self
    }

    /// Authenticate with an API or session token.
    pub fn bearer(mut self, token: &str) -> Remote {
        self.authorization = Some(format!("Bearer {token}"));
        self
    }
}

#[derive(Debug, Clone)]
enum Endpoint {
    Local(PathBuf),
    Remote(Remote),
}

/// A client of one daemon: the local one through its state directory, or a remote one.
#[derive(Debug, Clone)]
pub struct Client {
    endpoint: Endpoint,
    timeout: Duration,
    seen: std::sync::Arc<std::sync::Mutex<Option<Seen>>>,
}

impl Client {
    pub fn new(state_dir: &Path) -> Client {
        Client {
            endpoint: Endpoint::Local(state_dir.to_path_buf()),
            timeout: Duration::from_secs(180),
            seen: Default::default(),
        }
    }

    /// A client of a remote node's API.
    pub fn remote(remote: Remote) -> Client {
        Client {
            endpoint: Endpoint::Remote(remote),
            timeout: Duration::from_secs(180),
            seen: Default::default(),
        }
    }

    /// The fingerprint of the key of the certificate the remote node last presented.
    pub fn seen_fingerprint(&self) -> Option<String> {
        self.seen.lock().ok().and_then(|s| s.clone()).map(|s| s.key)
    }

    pub fn with_timeout(mut self, t: Duration) -> Client {
        self.timeout = t;
        self
    }

    async fn call<T: DeserializeOwned>(
        &self,
        method: &str,
        path: &str,
        body: Option<Vec<u8>>,
    ) -> Result<T, ClientError> {
        let fut = self.call_inner(method, path, body);
        match tokio::time::timeout(self.timeout, fut).await {
            Result::Ok(r) => r,
            Err(_) => Err(ClientError::Timeout(self.timeout.as_secs())),
        }
    }

    async fn call_inner<T: DeserializeOwned>(
        &self,
        method: &str,
        path: &str,
        body: Option<Vec<u8>>,
    ) -> Result<T, ClientError> {
        let mut req = Request::builder()
            .method(method)
            .uri(path)
            .header("content-type", "application/json");
        let mut sender = match &self.endpoint {
            Endpoint::Local(state_dir) => {
                let sock = crate::server::socket_path(state_dir);
                let stream = tokio::net::UnixStream::connect(&sock)
                    .await
                    .map_err(|source| ClientError::Connect {
                        socket: sock.display().to_string(),
                        dir: state_dir.display().to_string(),
                        source,
                    })?;
                req = req.header("host", "halo");
                handshake(stream).await?
            }
            Endpoint::Remote(r) => {
                req = req.header("host", r.addr.as_str());
                if let Some(a) = &r.authorization {
                    req = req.header("authorization", a.as_str());
                }
                handshake(self.connect_remote(r).await?).await?
            }
        };
        let req = req
            .body(Full::new(Bytes::from(body.unwrap_or_default())))
            .map_err(|e| ClientError::Http(e.to_string()))?;
        let resp = sender
            .send_request(req)
            .await
            .map_err(|e| ClientError::Http(e.to_string()))?;
        let status = resp.status();
        let bytes = resp
            .into_body()
            .collect()
            .await
            .map_err(|e| ClientError::Http(e.to_string()))?
            .to_bytes();
        if status.is_success() {
            serde_json::from_slice(&bytes)
                .map_err(|e| ClientError::Http(format!("bad reply to {path}: {e}")))
        } else {
            match serde_json::from_slice::<WireError>(&bytes) {
                Result::Ok(w) => Err(ClientError::Api(w)),
                Err(_) => Err(ClientError::Http(format!(
                    "{path}: HTTP {status}: {}",
                    String::from_utf8_lossy(&bytes)
                ))),
            }
        }
    }

    async fn connect_remote(
        &self,
        r: &Remote,
    ) -> Result<tokio_rustls::client::TlsStream<tokio::net::TcpStream>, ClientError> {
        let fail = |reason: String| ClientError::Remote {
            addr: r.addr.clone(),
            reason,
        };
        let tcp = tokio::net::TcpStream::connect(r.addr.as_str())
            .await
            .map_err(|e| fail(e.to_string()))?;
        let verifier = std::sync::Arc::new(Pinned {
            seen: self.seen.clone(),
            provider: halo_consensus::pki::provider(),
        });
        let cfg = rustls::ClientConfig::builder_with_provider(halo_consensus::pki::provider())
            .with_safe_default_protocol_versions()
            .map_err(|e| fail(e.to_string()))?
            .dangerous()
            .with_custom_certificate_verifier(verifier)
            .with_no_client_auth();
        let host = r
            .addr
            .rsplit_once(':')
            .map(|(h, _)| h.trim_start_matches('[').trim_end_matches(']'))
            .unwrap_or(&r.addr)
            .to_string();
        let name = rustls::pki_types::ServerName::try_from(host)
            .map_err(|e| fail(format!("server name: {e}")))?;
        let tls = tokio_rustls::TlsConnector::from(std::sync::Arc::new(cfg))
            .connect(name, tcp)
            .await
            .map_err(|e| fail(format!("TLS: {e}")))?;
        // The certificate is checked against the pin here, after the handshake proved
        // the server holds its key.
        let seen = self
            .seen
            .lock()
            .ok()
            .and_then(|s| s.clone())
            .unwrap_or_default();
        if let Some(pinned) = &r.fingerprint {
            let eq = halo_consensus::pki::digest_eq;
            if !eq(pinned, &seen.key) && !eq(pinned, &seen.cert) {
                return Err(ClientError::CertificateChanged {
                    addr: r.addr.clone(),
                    seen: seen.key,
                    pinned: pinned.clone(),
                });
            }
        }
        Result::Ok(tls)
    }

    async fn post<B: Serialize, T: DeserializeOwned>(
        &self,
        path: &str,
        body: &B,
    ) -> Result<T, ClientError> {
        let bytes = serde_json::to_vec(body).map_err(|e| ClientError::Http(e.to_string()))?;
        self.call("POST", path, Some(bytes)).await
    }

    pub async fn status(&self) -> Result<StatusReport, ClientError> {
        self.call("GET", "/v1/status", None).await
    }

    pub async fn init(
        &self,
        name: &str,
        failure_timeout_ms: Option<u64>,
        token_ttl_s: Option<u64>,
    ) -> Result<String, ClientError> {
        let r: TokenReply = self
            .post(
                "/v1/cluster/init",
                &InitRequest {
                    name: name.to_string(),
                    failure_timeout_ms,
                    token_ttl_s,
                },
            )
            .await?;
        Result::Ok(r.token)
    }

    /// A join token admitting `uses` nodes (one when `None`).
    pub async fn token_with_uses(
        &self,
        ttl_s: Option<u64>,
        uses: Option<u32>,
    ) -> Result<String, ClientError> {
        let r: TokenReply = self
            .post("/v1/cluster/tokens", &TokenRequest { ttl_s, uses })
            .await?;
        Result::Ok(r.token)
    }

    /// The cluster's join tokens (never their secrets).
    pub async fn tokens(&self) -> Result<Vec<crate::proto::TokenInfo>, ClientError> {
        self.call("GET", "/v1/cluster/tokens", None).await
    }

    /// Revoke the join token `id`.
    pub async fn revoke_token(&self, id: &str) -> Result<(), ClientError> {
        if id.is_empty() || !id.chars().all(|c| c.is_ascii_alphanumeric()) {
            return Err(ClientError::Api(WireError {
                code: "HALO-E146".into(),
                message: format!(
                    "HALO-E146 no join token with id {id:?} (see `halo cluster token list`)"
                ),
            }));
        }
        let _: Ok = self
            .call("DELETE", &format!("/v1/cluster/tokens/{id}"), None)
            .await?;
        Result::Ok(())
    }

    pub async fn token(&self, ttl_s: Option<u64>) -> Result<String, ClientError> {
        let r: TokenReply = self
            .post("/v1/cluster/token", &TokenRequest { ttl_s, uses: None })
            .await?;
        Result::Ok(r.token)
    }

    /// Each node's certificate as the cluster records it.
    pub async fn certs(&self) -> Result<Vec<halo_consensus::CertInfo>, ClientError> {
        self.call("GET", "/v1/cluster/certs", None).await
    }

    /// Renew every node's certificate now (from a new CA with `new_ca`); returns them
    /// once each node uses its new one.
    pub async fn rotate_certs(
        &self,
        new_ca: bool,
    ) -> Result<Vec<halo_consensus::CertInfo>, ClientError> {
        self.post("/v1/cluster/certs/rotate", &RotateRequest { new_ca })
            .await
    }

    pub async fn join(
        &self,
        peer: &str,
        token: &str,
        name: Option<&str>,
    ) -> Result<Joined, ClientError> {
        self.post(
            "/v1/cluster/join",
            &JoinRequest {
                peer: peer.to_string(),
                token: token.to_string(),
                name: name.map(str::to_string),
            },
        )
        .await
    }

    pub async fn remove(&self, node: &str) -> Result<(), ClientError> {
        let _: Ok = self
            .post(
                "/v1/cluster/remove",
                &RemoveRequest {
                    node: node.to_string(),
                },
            )
            .await?;
        Result::Ok(())
    }

    pub async fn leave(&self) -> Result<(), ClientError> {
        let _: Ok = self.post("/v1/cluster/leave", &()).await?;
        Result::Ok(())
    }

    pub async fn stop(&self) -> Result<(), ClientError> {
        let _: Ok = self.post("/v1/cluster/stop", &()).await?;
        Result::Ok(())
    }

    pub async fn start(&self) -> Result<(), ClientError> {
        let _: Ok = self.post("/v1/cluster/start", &()).await?;
        Result::Ok(())
    }

    pub async fn history(&self, limit: usize) -> Result<Vec<HistoryEntry>, ClientError> {
        self.call("GET", &format!("/v1/cluster/history?limit={limit}"), None)
            .await
    }

    /// Propose a change and wait for its commit.
    pub async fn propose(&self, change: Change) -> Result<ProposeReply, ClientError> {
        self.post("/v1/changes", &ProposeRequest { change }).await
    }

    /// Have the DC fence `node` (`reboot`, `off`, `on`); answers when it is done.
    pub async fn fence(
        &self,
        node: &str,
        action: &str,
    ) -> Result<halo_controller::wire::Ack, ClientError> {
        self.post(
            "/v1/fence",
            &serde_json::json!({ "node": node, "action": action }),
        )
        .await
    }

    /// The configurations the cluster keeps, oldest first.
    pub async fn config_versions(&self) -> Result<Vec<halo_consensus::ConfigVersion>, ClientError> {
        self.call("GET", "/v1/config/versions", None).await
    }

    /// An `attrd_updater` request: written at once, or after the attribute's delay.
    pub async fn attr_update(
        &self,
        update: &halo_controller::attrd::AttrUpdate,
    ) -> Result<(), ClientError> {
        let _: crate::proto::Ok = self.post("/v1/attrs", update).await?;
        Ok(())
    }

    /// The attribute values this daemon holds back for their dampening delay.
    pub async fn attrs_pending(
        &self,
    ) -> Result<Vec<halo_controller::attrd::PendingAttr>, ClientError> {
        self.call("GET", "/v1/attrs/pending", None).await
    }

    /// This node's controller: watchdog, guard lease, what runs here.
    pub async fn controller(&self) -> Result<halo_controller::Info, ClientError> {
        self.call("GET", "/v1/controller", None).await
    }

    /// The replicated state as the cluster committed it when this node is `quorate` (a
    /// read through the leader: a node that just started may not have caught up yet);
    /// else, or if that read fails, this node's own copy.
    pub async fn current_state(&self, quorate: bool) -> Result<serde_json::Value, ClientError> {
        if quorate {
            if let Ok(v) = self.state(true).await {
                return Ok(v);
            }
        }
        self.state(false).await
    }

    /// The replicated state (without secrets), optionally as of a linearizable point.
    pub async fn state(&self, linearizable: bool) -> Result<serde_json::Value, ClientError> {
        self.call(
            "GET",
            &format!("/v1/state?linearizable={linearizable}"),
            None,
        )
        .await
    }

    /// Changes after `epoch`, waiting up to `wait_ms` for the next one.
    pub async fn changes(&self, after: u64, wait_ms: u64) -> Result<Vec<ChangeEvent>, ClientError> {
        self.call(
            "GET",
            &format!("/v1/changes?after={after}&wait_ms={wait_ms}"),
            None,
        )
        .await
    }

    /// This node: its name, node-to-node address, cluster and state.
    pub async fn node(&self) -> Result<crate::proto::NodeInfo, ClientError> {
        self.call("GET", "/v1/node", None).await
    }

    /// Who the daemon takes this client for.
    pub async fn whoami(&self) -> Result<crate::proto::WhoAmI, ClientError> {
        self.call("GET", "/v1/whoami", None).await
    }

    pub async fn users(&self) -> Result<Vec<crate::proto::UserInfo>, ClientError> {
        self.call("GET", "/v1/users", None).await
    }

    pub async fn user_add(
        &self,
        name: &str,
        role: halo_consensus::users::Role,
        password: &str,
    ) -> Result<(), ClientError> {
        let _: Ok = self
            .post(
                "/v1/users",
                &crate::proto::AddUser {
                    name: name.into(),
                    role,
                    password: password.into(),
                },
            )
            .await?;
        Result::Ok(())
    }

    pub async fn user_set(
        &self,
        name: &str,
        set: &crate::proto::SetUser,
    ) -> Result<(), ClientError> {
        let _: Ok = self.post(&format!("/v1/users/{name}"), set).await?;
        Result::Ok(())
    }

    pub async fn user_delete(&self, name: &str) -> Result<(), ClientError> {
        let _: Ok = self
            .call("DELETE", &format!("/v1/users/{name}"), None)
            .await?;
        Result::Ok(())
    }

    pub async fn api_tokens(&self) -> Result<Vec<crate::proto::ApiTokenInfo>, ClientError> {
        self.call("GET", "/v1/tokens", None).await
    }

    pub async fn token_issue(
        &self,
        req: &crate::proto::IssueToken,
    ) -> Result<crate::proto::IssuedToken, ClientError> {
        self.post("/v1/tokens", req).await
    }

    pub async fn token_revoke(&self, id: &str) -> Result<(), ClientError> {
        let _: Ok = self
            .call("DELETE", &format!("/v1/tokens/{id}"), None)
            .await?;
        Result::Ok(())
    }

    /// Start halo at boot on this node (`enable`), or not.
    pub async fn boot(&self, enable: bool) -> Result<serde_json::Value, ClientError> {
        let path = if enable {
            "/v1/cluster/enable"
        } else {
            "/v1/cluster/disable"
        };
        self.post(path, &()).await
    }
}

async fn handshake<S>(
    stream: S,
) -> Result<hyper::client::conn::http1::SendRequest<Full<Bytes>>, ClientError>
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let (sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .map_err(|e| ClientError::Http(e.to_string()))?;
    tokio::spawn(async move {
        let _ = conn.await;
    });
    Result::Ok(sender)
}

/// What a remote node presented: its certificate's and its key's SHA-256.
#[derive(Debug, Clone, Default)]
struct Seen {
    cert: String,
    key: String,
}

/// Records the server's certificate fingerprint (checked against the pin once the
/// handshake is done) and checks the handshake's signatures with it.
#[derive(Debug)]
struct Pinned {
    seen: std::sync::Arc<std::sync::Mutex<Option<Seen>>>,
    provider: std::sync::Arc<rustls::crypto::CryptoProvider>,
}

impl rustls::client::danger::ServerCertVerifier for Pinned {
    fn verify_server_cert(
        &self,
        end_entity: &rustls::pki_types::CertificateDer<'_>,
        _intermediates: &[rustls::pki_types::CertificateDer<'_>],
        _server_name: &rustls::pki_types::ServerName<'_>,
        _ocsp_response: &[u8],
        _now: rustls::pki_types::UnixTime,
    ) -> Result<rustls::client::danger::ServerCertVerified, rustls::Error> {
        if let Result::Ok(mut s) = self.seen.lock() {
            *s = Some(Seen {
                cert: halo_consensus::pki::sha256_hex(end_entity.as_ref()),
                key: halo_consensus::pki::key_sha256(end_entity.as_ref()).unwrap_or_default(),
            });
        }
        Result::Ok(rustls::client::danger::ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &rustls::pki_types::CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        halo_consensus::pki::check_tls12(&self.provider, message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &rustls::pki_types::CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        halo_consensus::pki::check_tls13(&self.provider, message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
        self.provider
            .signature_verification_algorithms
            .supported_schemes()
    }
}
