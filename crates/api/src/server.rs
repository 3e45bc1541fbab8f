//! The control API server and the daemon's main loop.

use std::path::{Path, PathBuf};
use std::time::Duration;

use axum::extract::Path as UrlPath;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, post};
use axum::{Json, Router};
use halo_consensus::{ClusterNode, Error, NodeOptions, Settings};
use serde::Deserialize;

use crate::proto::{
    ChangeEvent, InitRequest, JoinRequest, Ok, ProposeReply, ProposeRequest, RemoveRequest,
    TokenReply, TokenRequest,
};

/// The control socket of a state directory.
pub fn socket_path(state_dir: &Path) -> PathBuf {
    state_dir.join("halo.sock")
}

#[derive(Debug, thiserror::Error)]
pub enum DaemonError {
    #[error(transparent)]
    Node(#[from] Error),
    #[error("HALO-E150 control socket {path}: {source}")]
    Socket {
        path: String,
        #[source]
        source: std::io::Error,
    },
}

struct ApiError(Error);

impl From<Error> for ApiError {
    fn from(e: Error) -> Self {
        ApiError(e)
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = match &self.0 {
            Error::NoQuorum(_) => StatusCode::SERVICE_UNAVAILABLE,
            Error::NotConfigured
            | Error::AlreadyConfigured(_)
            | Error::Stopped
            | Error::Refused { .. } => StatusCode::CONFLICT,
            Error::TokenRefused
            | Error::TokenExpired(_)
            | Error::TokenRevoked(_)
            | Error::TokenUsed(_)
            | Error::CaMismatch(_)
            | Error::Forged { .. }
            | Error::NotMember(_) => StatusCode::FORBIDDEN,
            Error::NoCaKey { .. } => StatusCode::CONFLICT,
            Error::NoSuchToken(_) => StatusCode::NOT_FOUND,
            Error::BadToken(_) | Error::BadName(_) | Error::Invalid(_) => StatusCode::BAD_REQUEST,
            Error::NoSuchNode(_) => StatusCode::NOT_FOUND,
            Error::Unreachable { .. } => StatusCode::BAD_GATEWAY,
            Error::Timeout(..) => StatusCode::GATEWAY_TIMEOUT,
            _ => StatusCode::INTERNAL_SERVER_ERROR,
        };
        (status, Json(self.0.to_wire())).into_response()
    }
}

type ApiResult<T> = std::result::Result<Json<T>, ApiError>;

async fn status(State(node): State<ClusterNode>) -> Json<halo_consensus::StatusReport> {
    Json(node.status())
}

async fn init(
    State(node): State<ClusterNode>,
    Json(req): Json<InitRequest>,
) -> ApiResult<TokenReply> {
    let mut settings = Settings::default();
    if let Some(ms) = req.failure_timeout_ms {
        if ms < 100 {
            return Err(Error::Invalid(format!(
                "failure timeout {ms} ms is below the minimum of 100 ms"
            ))
            .into());
        }
        settings.failure_timeout_ms = ms;
    }
    let ttl = req
        .token_ttl_s
        .map(Duration::from_secs)
        .unwrap_or(halo_consensus::DEFAULT_TOKEN_TTL);
    let token = node.init(&req.name, settings, ttl).await?;
    Ok(Json(TokenReply { token }))
}

async fn token(
    State(node): State<ClusterNode>,
    Json(req): Json<TokenRequest>,
) -> ApiResult<TokenReply> {
    let ttl = req
        .ttl_s
        .map(Duration::from_secs)
        .unwrap_or(halo_consensus::DEFAULT_TOKEN_TTL);
    Ok(Json(TokenReply {
        token: node.token_with_uses(ttl, req.uses.unwrap_or(1)).await?,
    }))
}

/// `GET /v1/cluster/tokens`: the join tokens (ids, uses left, expiry; never secrets).
async fn tokens(State(node): State<ClusterNode>) -> ApiResult<Vec<halo_consensus::TokenInfo>> {
    Ok(Json(node.tokens().await?))
}

/// `DELETE /v1/cluster/tokens/{id}`: revoke a join token.
async fn revoke_token(
    State(node): State<ClusterNode>,
    UrlPath(id): UrlPath<String>,
) -> ApiResult<Ok> {
    node.revoke_token(&id).await?;
    Ok(Json(Ok { ok: true }))
}

async fn join(
    State(node): State<ClusterNode>,
    Json(req): Json<JoinRequest>,
) -> ApiResult<halo_consensus::Joined> {
    Ok(Json(
        node.join(&req.peer, &req.token, req.name.as_deref())
            .await?,
    ))
}

async fn remove(State(node): State<ClusterNode>, Json(req): Json<RemoveRequest>) -> ApiResult<Ok> {
    node.remove(&req.node).await?;
    Ok(Json(Ok { ok: true }))
}

async fn leave(State(node): State<ClusterNode>) -> ApiResult<Ok> {
    node.leave().await?;
    Ok(Json(Ok { ok: true }))
}

async fn stop(State(node): State<ClusterNode>) -> ApiResult<Ok> {
    node.stop().await?;
    Ok(Json(Ok { ok: true }))
}

async fn start(State(node): State<ClusterNode>) -> ApiResult<Ok> {
    node.start().await?;
    Ok(Json(Ok { ok: true }))
}

#[derive(Deserialize)]
struct HistoryQuery {
    limit: Option<usize>,
}

async fn history(
    State(node): State<ClusterNode>,
    Query(q): Query<HistoryQuery>,
) -> ApiResult<Vec<halo_consensus::HistoryEntry>> {
    Ok(Json(node.history(q.limit.unwrap_or(20))?))
}

async fn propose(
    State(node): State<ClusterNode>,
    Json(req): Json<ProposeRequest>,
) -> ApiResult<ProposeReply> {
    let r = node.propose(req.change).await?;
    Ok(Json(ProposeReply {
        epoch: r.epoch,
        result: r.result,
    }))
}

#[derive(Deserialize)]
struct StateQuery {
    #[serde(default)]
    linearizable: bool,
}

/// The replicated state without its secrets (CA key, token hashes).
async fn state(
    State(node): State<ClusterNode>,
    Query(q): Query<StateQuery>,
) -> ApiResult<serde_json::Value> {
    let applied = if q.linearizable {
        node.read_linearizable().await?
    } else {
        node.read_local().ok_or(Error::Stopped)?
    };
    let mut v = serde_json::to_value(&applied.state).map_err(|e| Error::Store(e.to_string()))?;
    if let Some(o) = v.as_object_mut() {
        o.remove("secrets");
        o.remove("tokens");
        // Past configurations are asked for on their own (`GET /v1/config/versions`).
        o.remove("config_versions");
        o.insert(
            "last_applied_index".into(),
            serde_json::json!(applied.last_applied.map(|l| l.index)),
        );
    }
    Ok(Json(v))
}

#[derive(Deserialize)]
struct ChangesQuery {
    /// Return changes with an epoch above this one.
    after: u64,
    /// Wait up to this long for one (long poll).
    #[serde(default)]
    wait_ms: Option<u64>,
}

/// Changes after an epoch, waiting for the next one when there is none yet.
async fn changes(
    State(node): State<ClusterNode>,
    Query(q): Query<ChangesQuery>,
) -> ApiResult<Vec<ChangeEvent>> {
    let mut rx = node.subscribe();
    let from_history = |node: &ClusterNode| -> Result<Vec<ChangeEvent>, Error> {
        Ok(node
            .history(halo_consensus::state::HISTORY_LIMIT)?
            .into_iter()
            .filter(|h| h.epoch > q.after)
            .map(|h| ChangeEvent {
                epoch: h.epoch,
                log_index: h.log_index,
                node: h.node,
                time_ms: h.time_ms,
                summary: h.summary,
            })
            .collect())
    };
    let now = from_history(&node)?;
    if !now.is_empty() {
        return Ok(Json(now));
    }
    let wait = Duration::from_millis(q.wait_ms.unwrap_or(0).min(60_000));
    let deadline = tokio::time::Instant::now() + wait;
    loop {
        match tokio::time::timeout_at(deadline, rx.recv()).await {
            Err(_) => return Ok(Json(vec![])),
            Ok(Err(tokio::sync::broadcast::error::RecvError::Lagged(_))) => {
                return Ok(Json(from_history(&node)?))
            }
            Ok(Err(_)) => return Ok(Json(vec![])),
            Ok(Ok(c))
                if c.epoch > q.after
                    && !matches!(c.result, halo_consensus::ChangeResult::Refused { .. }) =>
            {
                return Ok(Json(vec![ChangeEvent {
                    epoch: c.epoch,
                    log_index: c.log_index,
                    node: c.request.node.clone(),
                    time_ms: c.request.time_ms,
                    summary: c.request.change.summary(),
                }]))
            }
            Ok(Ok(_)) => {}
        }
    }
}

#[derive(Deserialize)]
struct FenceBody {
    node: String,
    #[serde(default = "reboot")]
    action: String,
}

fn reboot() -> String {
    "reboot".into()
}

/// `POST /v1/fence`: have the DC fence a node; answers when it is done.
async fn fence(
    State(node): State<ClusterNode>,
    Json(body): Json<FenceBody>,
) -> Result<Json<halo_controller::wire::Ack>, (StatusCode, Json<serde_json::Value>)> {
    halo_controller::Controller::request_fence(&node, &body.node, &body.action)
        .await
        .map(Json)
        .map_err(|e| {
            (
                StatusCode::SERVICE_UNAVAILABLE,
                Json(serde_json::json!({ "code": "HALO-E172", "message": format!("HALO-E172 fencing request: {e}") })),
            )
        })
}

/// `GET /v1/config/versions`: the configurations kept, oldest first.
async fn config_versions(
    State(node): State<ClusterNode>,
) -> ApiResult<Vec<halo_consensus::ConfigVersion>> {
    let applied = node.read_linearizable().await?;
    Ok(Json(applied.state.config_versions.into_iter().collect()))
}

/// `POST /v1/attrs`: an `attrd_updater` request, written at once or after the
/// attribute's dampening delay.
async fn attr_update(
    State(attrd): State<halo_controller::attrd::Attrd>,
    Json(u): Json<halo_controller::attrd::AttrUpdate>,
) -> std::result::Result<Json<Ok>, Response> {
    use halo_controller::attrd::AttrdError;
    match attrd.update(u).await {
        Result::Ok(()) => Result::Ok(Json(Ok { ok: true })),
        Err(AttrdError::Consensus(e)) => Err(ApiError(e).into_response()),
        Err(AttrdError::Refused { code, reason }) => Err((
            StatusCode::CONFLICT,
            Json(serde_json::json!({ "code": code, "message": format!("{code} {reason}") })),
        )
            .into_response()),
    }
}

/// `GET /v1/attrs/pending`: the attribute values waiting for their dampening delay.
async fn attrs_pending(
    State(attrd): State<halo_controller::attrd::Attrd>,
) -> Json<Vec<halo_controller::attrd::PendingAttr>> {
    Json(attrd.pending())
}

async fn controller_info(
    State(c): State<std::sync::Arc<halo_controller::Controller>>,
) -> Json<halo_controller::Info> {
    Json(c.info())
}

/// The control API routes.
pub fn router(node: ClusterNode) -> Router {
    Router::new()
        .route("/v1/status", get(status))
        .route("/v1/cluster/init", post(init))
        .route("/v1/cluster/token", post(token))
        .route("/v1/cluster/tokens", get(tokens).post(token))
        .route("/v1/cluster/tokens/{id}", delete(revoke_token))
        .route("/v1/cluster/join", post(join))
        .route("/v1/cluster/remove", post(remove))
        .route("/v1/cluster/leave", post(leave))
        .route("/v1/cluster/stop", post(stop))
        .route("/v1/cluster/start", post(start))
        .route("/v1/cluster/history", get(history))
        .route("/v1/changes", post(propose).get(changes))
        .route("/v1/state", get(state))
        .route("/v1/fence", post(fence))
        .route("/v1/config/versions", get(config_versions))
        .with_state(node.clone())
        .merge(
            Router::new()
                .route("/v1/attrs", post(attr_update))
                .route("/v1/attrs/pending", get(attrs_pending))
                .with_state(halo_controller::attrd::Attrd::new(node)),
        )
}

/// Bind the control socket (replacing a stale one) with mode 0600.
pub fn bind_socket(path: &Path) -> Result<tokio::net::UnixListener, DaemonError> {
    use std::os::unix::fs::PermissionsExt;
    let err = |source| DaemonError::Socket {
        path: path.display().to_string(),
        source,
    };
    if path.exists() {
        if std::os::unix::net::UnixStream::connect(path).is_ok() {
            return Err(err(std::io::Error::new(
                std::io::ErrorKind::AddrInUse,
                "another halo daemon is running on this state directory",
            )));
        }
        std::fs::remove_file(path).map_err(err)?;
    }
    let l = tokio::net::UnixListener::bind(path).map_err(err)?;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600)).map_err(err)?;
    Ok(l)
}

/// Serve the API on `listener` until `shutdown` resolves.
pub async fn serve(
    listener: tokio::net::UnixListener,
    node: ClusterNode,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    axum::serve(listener, router(node))
        .with_graceful_shutdown(shutdown)
        .await
}

/// How long a clean shutdown waits for the DC to move this node's resources away.
const SHUTDOWN_LIMIT: Duration = Duration::from_secs(120);

/// Run a node daemon: open the node, start its controller (executor, guard, DC loop)
/// with `exec`, serve the control API, stop on SIGTERM or SIGINT.
pub async fn run_daemon(
    opts: NodeOptions,
    exec: halo_exec::ExecConfig,
    ctl: halo_controller::Options,
) -> Result<(), DaemonError> {
    halo_consensus::pki::install_default_provider();
    let sock = socket_path(&opts.state_dir);
    halo_consensus::node::make_private_dir(&opts.state_dir)?;
    let listener = bind_socket(&sock)?;
    let witness = opts.witness;
    let node = ClusterNode::open(opts).await?;
    // A witness votes and never runs resources: it has no controller.
    let controller = (!witness)
        .then(|| std::sync::Arc::new(halo_controller::Controller::start(node.clone(), exec, ctl)));
    tracing::info!(socket = %sock.display(), node = %node.name(), "halo daemon ready");
    // On SIGTERM or SIGINT the node first shuts down cleanly (its resources moved away)
    // while the API still answers the agents' calls, then the API closes.
    let shutdown = {
        let node = node.clone();
        let controller = controller.clone();
        async move {
            let mut term =
                match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                    Result::Ok(s) => s,
                    Err(_) => return std::future::pending().await,
                };
            tokio::select! {
                _ = term.recv() => {},
                _ = tokio::signal::ctrl_c() => {},
            }
            if let Some(c) = &controller {
                c.shutdown(&node, SHUTDOWN_LIMIT).await;
            }
        }
    };
    let mut app = router(node.clone());
    if let Some(c) = &controller {
        app = app.merge(
            Router::new()
                .route("/v1/controller", get(controller_info))
                .with_state(c.clone()),
        );
    }
    let res = axum::serve(listener, app)
        .with_graceful_shutdown(shutdown)
        .await;
    node.shutdown().await;
    let _ = std::fs::remove_file(&sock);
    res.map_err(|source| DaemonError::Socket {
        path: sock.display().to_string(),
        source,
    })
}
