//! The control API server and the daemon's main loop.

use std::path::{Path, PathBuf};
use std::time::Duration;

use axum::extract::connect_info::Connected;
use axum::extract::{ConnectInfo, Path as UrlPath, Query, Request, State};
use axum::http::StatusCode;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, post};
use axum::serve::IncomingStream;
use axum::{Extension, Json, Router};
use halo_consensus::users::{Role, TokenKind, UserChange};
use halo_consensus::{ClusterNode, Error, NodeOptions, Settings};
use serde::{Deserialize, Serialize};

use crate::auth::{self, Auth, Caller, Credentials, Denied};
use crate::remote::{RemoteOptions, TlsListener};

use crate::proto::{
    ChangeEvent, InitRequest, JoinRequest, Ok, ProposeReply, ProposeRequest, RemoveRequest,
    RotateRequest, TokenReply, TokenRequest,
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
    #[error("HALO-E155 remote API on {addr}: {source}")]
    Remote {
        addr: String,
        #[source]
        source: std::io::Error,
    },
    #[error("HALO-E156 remote API certificate: {0}")]
    Tls(String),
}

/// Who is at the other end of a connection, as the transport established it.
#[derive(Debug, Clone)]
pub enum PeerInfo {
    /// A process on this machine, by its kernel credentials.
    Local {
        uid: u32,
        gid: u32,
        pid: Option<i32>,
    },
    /// A client of the remote API (after the TLS handshake).
    Remote(std::net::SocketAddr),
}

impl Connected<IncomingStream<'_, tokio::net::UnixListener>> for PeerInfo {
    fn connect_info(s: IncomingStream<'_, tokio::net::UnixListener>) -> Self {
        match s.io().peer_cred() {
            Result::Ok(c) => PeerInfo::Local {
                uid: c.uid(),
                gid: c.gid(),
                pid: c.pid(),
            },
            // Unknown credentials are nobody's.
            Err(_) => PeerInfo::Local {
                uid: u32::MAX,
                gid: u32::MAX,
                pid: None,
            },
        }
    }
}

impl Connected<IncomingStream<'_, TlsListener>> for PeerInfo {
    fn connect_info(s: IncomingStream<'_, TlsListener>) -> Self {
        PeerInfo::Remote(*s.remote_addr())
    }
}

impl IntoResponse for Denied {
    fn into_response(self) -> Response {
        let status = match &self {
            Denied::Unauthenticated(_) => StatusCode::UNAUTHORIZED,
            Denied::Forbidden(_) => StatusCode::FORBIDDEN,
            Denied::RateLimited { .. } => StatusCode::TOO_MANY_REQUESTS,
        };
        let body = Json(halo_consensus::WireError {
            code: self.code().into(),
            message: self.to_string(),
        });
        let mut resp = (status, body).into_response();
        let h = resp.headers_mut();
        match &self {
            Denied::Unauthenticated(_) => {
                h.insert(
                    axum::http::header::WWW_AUTHENTICATE,
                    axum::http::HeaderValue::from_static("Basic realm=\"halo\", charset=\"UTF-8\""),
                );
            }
            Denied::RateLimited { retry_s, .. } => {
                if let Result::Ok(v) = axum::http::HeaderValue::from_str(&retry_s.to_string()) {
                    h.insert(axum::http::header::RETRY_AFTER, v);
                }
            }
            Denied::Forbidden(_) => {}
        }
        resp
    }
}

/// Every request passes here first: the route must be one of [`crate::routes::ROUTES`],
/// the caller is authenticated (local credentials or remote credentials) and must hold
/// the route's role; handlers find the [`Caller`] in the request's extensions.
async fn gate(
    State(auth): State<Auth>,
    ConnectInfo(peer): ConnectInfo<PeerInfo>,
    mut req: Request,
    next: Next,
) -> Response {
    let Some(route) = crate::routes::find(req.method().as_str(), req.uri().path()) else {
        return (
            StatusCode::NOT_FOUND,
            Json(halo_consensus::WireError {
                code: "HALO-E157".into(),
                message: format!(
                    "HALO-E157 no such API route: {} {} (GET /v1/openapi.json lists them)",
                    req.method(),
                    req.uri().path()
                ),
            }),
        )
            .into_response();
    };
    let caller = match peer {
        PeerInfo::Local { uid, gid, pid } => auth.local(uid, gid, pid),
        PeerInfo::Remote(addr) => {
            auth.authenticate(Credentials::from_headers(req.headers()), addr.ip())
                .await
        }
    };
    let caller = match caller.and_then(|c| {
        auth::require(&c, route.role, &format!("{} {}", route.method, route.path)).map(|()| c)
    }) {
        Result::Ok(c) => c,
        Err(d) => return d.into_response(),
    };
    req.extensions_mut().insert(caller);
    next.run(req).await
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
            Error::Refused { code, .. } if code == "HALO-E185" => StatusCode::FORBIDDEN,
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
            Error::CertExpired { .. } | Error::PeerCertRefused { .. } => StatusCode::FORBIDDEN,
            Error::RenewFailed { .. } => StatusCode::BAD_GATEWAY,
            Error::RotationIncomplete { .. } => StatusCode::GATEWAY_TIMEOUT,
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
    Extension(auth): Extension<Auth>,
    Extension(caller): Extension<Caller>,
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
    // The users this node had on its own become the cluster's.
    auth.adopt_local_users(&caller).await?;
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

/// `GET /v1/cluster/certs`: each node's certificate as the cluster records it.
async fn certs(State(node): State<ClusterNode>) -> ApiResult<Vec<halo_consensus::CertInfo>> {
    Ok(Json(node.certs().await?))
}

/// `POST /v1/cluster/certs/rotate`: every node renews its certificate now (from a new
/// CA with `{"new_ca": true}`).
async fn rotate_certs(
    State(node): State<ClusterNode>,
    Json(req): Json<Option<RotateRequest>>,
) -> ApiResult<Vec<halo_consensus::CertInfo>> {
    let req = req.unwrap_or_default();
    Ok(Json(node.rotate_certs(req.new_ca).await?))
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
    Extension(caller): Extension<Caller>,
    Json(req): Json<ProposeRequest>,
) -> Result<Json<ProposeReply>, Response> {
    let need = auth::change_role(&req.change, caller.role, || {
        node.with_local(|a| a.state.config.clone())
            .unwrap_or_default()
    })
    .map_err(|e| ApiError(e).into_response())?;
    auth::require(
        &caller,
        need,
        &format!("the change \"{}\"", req.change.summary()),
    )
    .map_err(IntoResponse::into_response)?;
    let r = node
        .propose_as(req.change, caller.audit())
        .await
        .map_err(|e| ApiError(e).into_response())?;
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
        // Password and token hashes are nobody's business (`GET /v1/users` lists users).
        o.remove("users");
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

/// `POST /v1/fence`.
#[derive(Deserialize, schemars::JsonSchema)]
pub(crate) struct FenceBody {
    node: String,
    /// `reboot` (the default), `off` or `on`.
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

fn refuse(e: Error) -> Response {
    ApiError(e).into_response()
}

/// `GET /v1/node`.
async fn node_info(
    State(node): State<ClusterNode>,
    Extension(me): Extension<NodeSelf>,
) -> Json<crate::proto::NodeInfo> {
    let st = node.status();
    Json(crate::proto::NodeInfo {
        name: node.name(),
        listen: me.listen.clone(),
        witness: me.witness,
        cluster: st.cluster,
        state: st.state,
    })
}

/// What the daemon was started with, for `GET /v1/node`.
#[derive(Clone)]
struct NodeSelf {
    listen: String,
    witness: bool,
}

/// `POST /v1/login`: the caller authenticated with its password (HTTP basic); answer a
/// session token, also as the `halo_session` cookie (HttpOnly, Secure).
async fn login(
    Extension(auth): Extension<Auth>,
    Extension(caller): Extension<Caller>,
    body: axum::body::Bytes,
) -> Result<Response, Response> {
    // An optional `{"ttl_s": N}` asks for a shorter session than the default.
    let ttl = if body.iter().all(u8::is_ascii_whitespace) {
        auth::SESSION_TTL
    } else {
        let req: crate::proto::LoginRequest = serde_json::from_slice(&body)
            .map_err(|e| refuse(Error::Invalid(format!("login body: {e}"))))?;
        req.ttl_s
            .map(Duration::from_secs)
            .unwrap_or(auth::SESSION_TTL)
            .min(auth::SESSION_TTL)
    };
    let (id, token, rec) = auth
        .issue(&caller.user, TokenKind::Session, Some(ttl), &caller)
        .await
        .map_err(refuse)?;
    let cookie = format!(
        "halo_session={token}; Path=/; Max-Age={}; HttpOnly; Secure; SameSite=Strict",
        ttl.as_secs()
    );
    let body = Json(crate::proto::IssuedToken {
        token,
        id,
        user: caller.user,
        role: caller.role,
        expires_ms: rec.expires_ms,
    });
    let mut resp = body.into_response();
    if let Result::Ok(v) = axum::http::HeaderValue::from_str(&cookie) {
        resp.headers_mut().insert(axum::http::header::SET_COOKIE, v);
    }
    Result::Ok(resp)
}

/// `POST /v1/logout`: revoke the session token the request came with.
async fn logout(
    Extension(auth): Extension<Auth>,
    Extension(caller): Extension<Caller>,
    headers: axum::http::HeaderMap,
) -> Result<Json<Ok>, Response> {
    let Some(Credentials::Bearer(t)) = Credentials::from_headers(&headers) else {
        return Err(refuse(Error::Invalid(
            "logout ends the session whose token authenticates the request; this one has none"
                .into(),
        )));
    };
    let id = Auth::token_id(&t).unwrap_or_default();
    auth.change(UserChange::RevokeToken { id }, &caller)
        .await
        .map_err(refuse)?;
    Result::Ok(Json(Ok { ok: true }))
}

async fn whoami(Extension(caller): Extension<Caller>) -> Json<crate::proto::WhoAmI> {
    Json(crate::proto::WhoAmI {
        user: caller.user,
        role: caller.role,
        origin: caller.origin,
    })
}

async fn users_list(Extension(auth): Extension<Auth>) -> Json<Vec<crate::proto::UserInfo>> {
    Json(
        auth.users()
            .users
            .into_iter()
            .map(|(name, u)| crate::proto::UserInfo {
                name,
                role: u.role,
                created_ms: u.created_ms,
                changed_ms: u.changed_ms,
            })
            .collect(),
    )
}

/// Hash a password off the async threads (argon2id is slow on purpose).
async fn hash(password: String) -> Result<String, Response> {
    tokio::task::spawn_blocking(move || auth::hash_password(&password))
        .await
        .map_err(|e| refuse(Error::Invalid(format!("hashing the password: {e}"))))?
        .map_err(refuse)
}

async fn user_add(
    Extension(auth): Extension<Auth>,
    Extension(caller): Extension<Caller>,
    Json(req): Json<crate::proto::AddUser>,
) -> Result<Json<Ok>, Response> {
    halo_consensus::users::check_user_name(&req.name).map_err(|e| refuse(Error::Invalid(e)))?;
    let password_hash = halo_consensus::state::Secret(hash(req.password).await?);
    auth.change(
        UserChange::Set {
            name: req.name,
            role: req.role,
            password_hash,
            create: true,
        },
        &caller,
    )
    .await
    .map_err(refuse)?;
    Result::Ok(Json(Ok { ok: true }))
}

async fn user_set(
    Extension(auth): Extension<Auth>,
    Extension(caller): Extension<Caller>,
    UrlPath(name): UrlPath<String>,
    Json(req): Json<crate::proto::SetUser>,
) -> Result<Json<Ok>, Response> {
    let users = auth.users();
    let Some(cur) = users.users.get(&name) else {
        return Err(refuse(Error::Refused {
            code: "HALO-E183".into(),
            reason: format!("no user named {name}"),
        }));
    };
    // Anyone may change their own password; anything else is an admin's.
    if name != caller.user || req.role.is_some_and(|r| r != cur.role) {
        auth::require(&caller, Role::Admin, &format!("changing user {name}"))
            .map_err(IntoResponse::into_response)?;
    }
    let password_hash = match req.password {
        Some(p) => halo_consensus::state::Secret(hash(p).await?),
        None => cur.password_hash.clone(),
    };
    auth.change(
        UserChange::Set {
            name,
            role: req.role.unwrap_or(cur.role),
            password_hash,
            create: false,
        },
        &caller,
    )
    .await
    .map_err(refuse)?;
    Result::Ok(Json(Ok { ok: true }))
}

async fn user_delete(
    Extension(auth): Extension<Auth>,
    Extension(caller): Extension<Caller>,
    UrlPath(name): UrlPath<String>,
) -> Result<Json<Ok>, Response> {
    auth.change(UserChange::Delete { name }, &caller)
        .await
        .map_err(refuse)?;
    Result::Ok(Json(Ok { ok: true }))
}

async fn tokens_list(
    Extension(auth): Extension<Auth>,
    Extension(caller): Extension<Caller>,
) -> Json<Vec<crate::proto::ApiTokenInfo>> {
    Json(
        auth.users()
            .tokens
            .into_iter()
            .filter(|(_, t)| caller.role == Role::Admin || t.user == caller.user)
            .map(|(id, t)| crate::proto::ApiTokenInfo {
                id,
                user: t.user,
                kind: t.kind,
                created_ms: t.created_ms,
                expires_ms: t.expires_ms,
                origin: t.origin,
            })
            .collect(),
    )
}

async fn token_issue(
    Extension(auth): Extension<Auth>,
    Extension(caller): Extension<Caller>,
    Json(req): Json<crate::proto::IssueToken>,
) -> Result<Json<crate::proto::IssuedToken>, Response> {
    let user = req.user.unwrap_or_else(|| caller.user.clone());
    if user != caller.user {
        auth::require(
            &caller,
            Role::Admin,
            &format!("issuing a token to user {user}"),
        )
        .map_err(IntoResponse::into_response)?;
    }
    let Some(role) = auth.users().users.get(&user).map(|u| u.role) else {
        return Err(refuse(Error::Refused {
            code: "HALO-E183".into(),
            reason: format!(
                "no user named {user} (local callers act as themselves only through users: add one with `halo user add`)"
            ),
        }));
    };
    let (id, token, rec) = auth
        .issue(
            &user,
            TokenKind::Api,
            req.ttl_s.map(Duration::from_secs),
            &caller,
        )
        .await
        .map_err(refuse)?;
    Result::Ok(Json(crate::proto::IssuedToken {
        token,
        id,
        user,
        role,
        expires_ms: rec.expires_ms,
    }))
}

async fn token_revoke(
    Extension(auth): Extension<Auth>,
    Extension(caller): Extension<Caller>,
    UrlPath(id): UrlPath<String>,
) -> Result<Json<Ok>, Response> {
    let owner = auth.users().tokens.get(&id).map(|t| t.user.clone());
    if owner.as_deref() != Some(caller.user.as_str()) {
        auth::require(&caller, Role::Admin, "revoking another user's token")
            .map_err(IntoResponse::into_response)?;
    }
    auth.change(UserChange::RevokeToken { id }, &caller)
        .await
        .map_err(refuse)?;
    Result::Ok(Json(Ok { ok: true }))
}

async fn openapi() -> Json<serde_json::Value> {
    Json(crate::routes::openapi())
}

#[derive(Serialize)]
struct BootReply {
    ok: bool,
    message: String,
}

/// `POST /v1/cluster/enable|disable`: start halo at boot, or not (`systemctl`).
async fn boot(enable: bool) -> Result<Json<BootReply>, Response> {
    let verb = if enable { "enable" } else { "disable" };
    let out = tokio::process::Command::new("systemctl")
        .args([verb, "halo.service"])
        .output()
        .await
        .map_err(|e| {
            refuse(Error::Refused {
                code: "HALO-E158".into(),
                reason: format!("systemctl {verb} halo.service: {e} (is systemd installed?)"),
            })
        })?;
    let text = String::from_utf8_lossy(&out.stderr).trim().to_string();
    if !out.status.success() {
        return Err(refuse(Error::Refused {
            code: "HALO-E158".into(),
            reason: format!("systemctl {verb} halo.service failed: {text}"),
        }));
    }
    Result::Ok(Json(BootReply {
        ok: true,
        message: format!("halo.service {verb}d"),
    }))
}

async fn enable() -> Result<Json<BootReply>, Response> {
    boot(true).await
}

async fn disable() -> Result<Json<BootReply>, Response> {
    boot(false).await
}

/// The control API routes, behind the gate that authenticates every request and checks
/// its role. `listen` and `witness` are what the daemon was started with.
pub fn router(
    node: ClusterNode,
    auth: Auth,
    controller: Option<std::sync::Arc<halo_controller::Controller>>,
    listen: &str,
    witness: bool,
) -> Router {
    let me = NodeSelf {
        listen: listen.to_string(),
        witness,
    };
    let mut app = Router::new()
        .route("/v1/node", get(node_info))
        .route("/v1/status", get(status))
        .route("/v1/cluster/init", post(init))
        .route("/v1/cluster/token", post(token))
        .route("/v1/cluster/tokens", get(tokens).post(token))
        .route("/v1/cluster/tokens/{id}", delete(revoke_token))
        .route("/v1/cluster/certs", get(certs))
        .route("/v1/cluster/certs/rotate", post(rotate_certs))
        .route("/v1/cluster/join", post(join))
        .route("/v1/cluster/remove", post(remove))
        .route("/v1/cluster/leave", post(leave))
        .route("/v1/cluster/stop", post(stop))
        .route("/v1/cluster/start", post(start))
        .route("/v1/cluster/enable", post(enable))
        .route("/v1/cluster/disable", post(disable))
        .route("/v1/cluster/history", get(history))
        .route("/v1/changes", post(propose).get(changes))
        .route("/v1/state", get(state))
        .route("/v1/fence", post(fence))
        .route("/v1/config/versions", get(config_versions))
        .route("/v1/login", post(login))
        .route("/v1/logout", post(logout))
        .route("/v1/whoami", get(whoami))
        .route("/v1/users", get(users_list).post(user_add))
        .route("/v1/users/{name}", post(user_set).delete(user_delete))
        .route("/v1/tokens", get(tokens_list).post(token_issue))
        .route("/v1/tokens/{id}", delete(token_revoke))
        .route("/v1/openapi.json", get(openapi))
        .with_state(node.clone())
        .merge(
            Router::new()
                .route("/v1/attrs", post(attr_update))
                .route("/v1/attrs/pending", get(attrs_pending))
                .with_state(halo_controller::attrd::Attrd::new(node)),
        );
    if let Some(c) = controller {
        app = app.merge(
            Router::new()
                .route("/v1/controller", get(controller_info))
                .with_state(c),
        );
    }
    app.layer(Extension(me))
        .layer(Extension(auth.clone()))
        .layer(axum::middleware::from_fn_with_state(auth, gate))
}

/// Bind the control socket (replacing a stale one): mode 0600, or, when the read-only
/// group `haclient` exists, 0660 with that group, and the state directory traversable
/// by the group (0710; what it holds stays its owner's). Who may do what is then decided
/// by the caller's credentials ([`auth::Auth::local`]).
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
    let group = nix::unistd::Group::from_name(auth::READ_GROUP)
        .ok()
        .flatten();
    let mode = match (&group, path.parent()) {
        (Some(g), Some(dir)) => {
            let shared = nix::unistd::chown(path, None, Some(g.gid))
                .and_then(|()| nix::unistd::chown(dir, None, Some(g.gid)))
                .map_err(std::io::Error::from)
                .and_then(|()| {
                    std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o710))
                });
            match shared {
                Result::Ok(()) => 0o660,
                Err(e) => {
                    tracing::debug!(error = %e, "control socket not shared with {}", auth::READ_GROUP);
                    0o600
                }
            }
        }
        _ => 0o600,
    };
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).map_err(err)?;
    Ok(l)
}

/// How long a clean shutdown waits for the DC to move this node's resources away.
const SHUTDOWN_LIMIT: Duration = Duration::from_secs(120);

/// Run a node daemon: open the node, start its controller (executor, guard, DC loop)
/// with `exec`, serve the control API on the local socket and, unless `remote` is
/// `None`, the remote API over HTTPS; stop on SIGTERM or SIGINT.
pub async fn run_daemon(
    opts: NodeOptions,
    exec: halo_exec::ExecConfig,
    ctl: halo_controller::Options,
    remote: Option<RemoteOptions>,
) -> Result<(), DaemonError> {
    halo_consensus::pki::install_default_provider();
    let sock = socket_path(&opts.state_dir);
    halo_consensus::node::make_private_dir(&opts.state_dir)?;
    let listener = bind_socket(&sock)?;
    let (witness, listen, state_dir) = (opts.witness, opts.listen.clone(), opts.state_dir.clone());
    // Bind the remote API before anything starts, so a taken port fails the start.
    let remote = match remote {
        None => None,
        Some(r) => {
            let (cert, key) = match &r.cert {
                Some((c, k)) => {
                    let read = |p: &PathBuf| {
                        std::fs::read_to_string(p)
                            .map_err(|e| DaemonError::Tls(format!("{}: {e}", p.display())))
                    };
                    (read(c)?, read(k)?)
                }
                None => crate::remote::own_certificate(&state_dir, &opts.name)?,
            };
            let api_cert = crate::remote::ApiCert::new(&cert, &key)?;
            let acceptor = crate::remote::acceptor(api_cert.clone())?;
            let err = |source| DaemonError::Remote {
                addr: r.addr.to_string(),
                source,
            };
            let tcp = match tokio::net::TcpListener::bind(r.addr).await {
                Result::Ok(t) => t,
                // [::] on a host without IPv6: the IPv4 wildcard instead.
                Err(e) if r.addr.ip() == std::net::Ipv6Addr::UNSPECIFIED => {
                    let v4 = std::net::SocketAddr::from(([0, 0, 0, 0], r.addr.port()));
                    tracing::info!(error = %e, "no IPv6 wildcard; the remote API listens on {v4}");
                    tokio::net::TcpListener::bind(v4).await.map_err(err)?
                }
                Err(e) => return Err(err(e)),
            };
            let tls = TlsListener::new(tcp, acceptor).map_err(err)?;
            let der = halo_consensus::pki::cert_der(&cert)
                .map_err(|e| DaemonError::Tls(e.to_string()))?;
            tracing::info!(
                addr = %r.addr,
                key = %halo_consensus::pki::key_sha256(der.as_ref()).unwrap_or_default(),
                "remote API (HTTPS) listening; `halo cluster auth` pins this key fingerprint"
            );
            // The node's own certificate is kept one of the cluster CA's; an operator's
            // is left alone.
            Some((tls, r.cert.is_none().then_some(api_cert)))
        }
    };
    let node = ClusterNode::open(opts).await?;
    let api_cert_task = remote.as_ref().and_then(|(_, own)| own.clone()).map(|c| {
        tokio::spawn(crate::remote::keep_api_cert(
            node.clone(),
            state_dir.clone(),
            c,
        ))
    });
    let auth = Auth::new(node.clone(), &state_dir);
    // A witness votes and never runs resources: it has no controller.
    let controller = (!witness)
        .then(|| std::sync::Arc::new(halo_controller::Controller::start(node.clone(), exec, ctl)));
    tracing::info!(socket = %sock.display(), node = %node.name(), "halo daemon ready");
    // On SIGTERM or SIGINT the node first shuts down cleanly (its resources moved away)
    // while the API still answers the agents' calls, then the API closes.
    let (done_tx, done_rx) = tokio::sync::watch::channel(false);
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
            let _ = done_tx.send(true);
        }
    };
    let app = router(node.clone(), auth, controller.clone(), &listen, witness);
    let remote_task = remote.map(|(tls, _)| {
        let app = app.clone();
        let mut done = done_rx.clone();
        tokio::spawn(async move {
            let res = axum::serve(tls, app.into_make_service_with_connect_info::<PeerInfo>())
                .with_graceful_shutdown(async move {
                    let _ = done.wait_for(|d| *d).await;
                })
                .await;
            if let Err(e) = res {
                tracing::error!(error = %e, "remote API stopped");
            }
        })
    });
    let res = axum::serve(
        listener,
        app.into_make_service_with_connect_info::<PeerInfo>(),
    )
    .with_graceful_shutdown(shutdown)
    .await;
    for t in remote_task.into_iter().chain(api_cert_task) {
        t.abort();
    }
    node.shutdown().await;
    let _ = std::fs::remove_file(&sock);
    res.map_err(|source| DaemonError::Socket {
        path: sock.display().to_string(),
        source,
    })
}
