//! The control API client: one HTTP/1 request per connection over the Unix socket.

use std::path::{Path, PathBuf};
use std::time::Duration;

use http_body_util::{BodyExt, Full};
use hyper::body::Bytes;
use hyper::Request;
use hyper_util::rt::TokioIo;
use serde::{de::DeserializeOwned, Serialize};

use crate::proto::{
    ChangeEvent, InitRequest, JoinRequest, Ok, ProposeReply, ProposeRequest, RemoveRequest,
    TokenReply, TokenRequest,
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

/// A client of one daemon, found through its state directory.
#[derive(Debug, Clone)]
pub struct Client {
    state_dir: PathBuf,
    timeout: Duration,
}

impl Client {
    pub fn new(state_dir: &Path) -> Client {
        Client {
            state_dir: state_dir.to_path_buf(),
            timeout: Duration::from_secs(180),
        }
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
        let sock = crate::server::socket_path(&self.state_dir);
        let stream = tokio::net::UnixStream::connect(&sock)
            .await
            .map_err(|source| ClientError::Connect {
                socket: sock.display().to_string(),
                dir: self.state_dir.display().to_string(),
                source,
            })?;
        let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
            .await
            .map_err(|e| ClientError::Http(e.to_string()))?;
        tokio::spawn(async move {
            let _ = conn.await;
        });
        let req = Request::builder()
            .method(method)
            .uri(path)
            .header("host", "halo")
            .header("content-type", "application/json")
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
}
