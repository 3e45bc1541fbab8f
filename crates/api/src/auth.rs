//! Who is calling, and what they may do.
//!
//! Every request is attributed to a [`Caller`] before it reaches a handler:
//! - on the local socket, by the peer's kernel credentials (`SO_PEERCRED`): root or the
//!   daemon's own user is `admin`, a member of the `haclient` group `read`, anyone else
//!   is refused;
//! - on the remote API (HTTPS), by HTTP basic authentication (a user's password), or a
//!   bearer token (an API token for programs, or a login session), checked against the
//!   users of the replicated state — before the node is in a cluster, against the node's
//!   own users file (`STATE_DIR/users.json`, which `halo cluster init` carries into the
//!   cluster). Failed attempts are rate-limited per source address.
//!
//! Passwords are kept only as argon2id hashes and tokens only as SHA-256 hashes of
//! their secrets; neither a password nor a token is ever logged.

use std::collections::{HashMap, VecDeque};
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::Argon2;
use base64::Engine;
use halo_consensus::pki::{now_ms, random_bytes};
use halo_consensus::users::{ApiTokenRecord, Role, TokenKind, UserChange, Users};
use halo_consensus::{Change, ChangeResult, ClusterNode, Error};

/// Failed logins allowed per source address within [`RATE_WINDOW`].
pub const MAX_FAILURES: usize = 5;
pub const RATE_WINDOW: Duration = Duration::from_secs(60);
/// How long a login session lasts.
pub const SESSION_TTL: Duration = Duration::from_secs(8 * 3600);
const TOKEN_PREFIX: &str = "halo-api1-";
/// The file that holds a node's users before it is in a cluster (and a copy of the
/// cluster's afterwards, so a node whose membership is stopped still knows them).
pub const USERS_FILE: &str = "users.json";

/// The authenticated party behind a request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Caller {
    pub user: String,
    pub role: Role,
    /// `local` or the client's address.
    pub origin: String,
}

impl Caller {
    /// `user@origin`, as the audit trail records it.
    pub fn audit(&self) -> String {
        format!("{}@{}", self.user, self.origin)
    }
}

/// Why a request was refused before reaching its handler.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Denied {
    /// 401: no or wrong credentials.
    #[error("HALO-E180 {0}")]
    Unauthenticated(String),
    /// 403: the caller's role is too weak.
    #[error("HALO-E181 {0}")]
    Forbidden(String),
    /// 429: too many failed attempts from this address.
    #[error("HALO-E182 too many failed logins from {addr}: try again in {retry_s} s")]
    RateLimited { addr: String, retry_s: u64 },
}

impl Denied {
    pub fn code(&self) -> &'static str {
        match self {
            Denied::Unauthenticated(_) => "HALO-E180",
            Denied::Forbidden(_) => "HALO-E181",
            Denied::RateLimited { .. } => "HALO-E182",
        }
    }
}

/// Refuse unless `caller` has at least `need`.
pub fn require(caller: &Caller, need: Role, what: &str) -> Result<(), Denied> {
    if caller.role >= need {
        Ok(())
    } else {
        Err(Denied::Forbidden(format!(
            "{what} needs the {need} role; user {} has {}",
            caller.user, caller.role
        )))
    }
}

/// An argon2id hash (PHC string) of a password.
pub fn hash_password(password: &str) -> Result<String, Error> {
    check_password(password)?;
    let salt = SaltString::from_b64(
        &base64::engine::general_purpose::STANDARD_NO_PAD.encode(random_bytes::<16>()?),
    )
    .map_err(|e| Error::Invalid(format!("salt: {e}")))?;
    Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| Error::Invalid(format!("hashing the password: {e}")))
}

/// Passwords: 8 to 1024 bytes, no line breaks (they are read as one line).
pub fn check_password(password: &str) -> Result<(), Error> {
    if password.len() < 8 {
        return Err(Error::Invalid(
            "the password is too short: use at least 8 characters".into(),
        ));
    }
    if password.len() > 1024 || password.contains(['\n', '\r', '\0']) {
        return Err(Error::Invalid(
            "the password must be one line of at most 1024 bytes".into(),
        ));
    }
    Ok(())
}

fn verify_password(password: &str, phc: &str) -> bool {
    PasswordHash::new(phc).is_ok_and(|h| {
        Argon2::default()
            .verify_password(password.as_bytes(), &h)
            .is_ok()
    })
}

/// A token's text: `halo-api1-ID.SECRET` (hex).
fn encode_token(id: &str, secret: &[u8]) -> String {
    format!("{TOKEN_PREFIX}{id}.{}", halo_consensus::pki::hex(secret))
}

fn decode_token(text: &str) -> Option<(&str, &str)> {
    text.strip_prefix(TOKEN_PREFIX)?.split_once('.')
}

/// What a request carried to prove who it is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Credentials {
    Basic { user: String, password: String },
    Bearer(String),
}

impl Credentials {
    /// Read the `Authorization` header, or the `halo_session` cookie.
    pub fn from_headers(h: &axum::http::HeaderMap) -> Option<Credentials> {
        if let Some(v) = h
            .get(axum::http::header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
        {
            let (scheme, rest) = v.trim().split_once(' ')?;
            if scheme.eq_ignore_ascii_case("basic") {
                let raw = base64::engine::general_purpose::STANDARD
                    .decode(rest.trim())
                    .ok()?;
                let text = String::from_utf8(raw).ok()?;
                let (user, password) = text.split_once(':')?;
                return Some(Credentials::Basic {
                    user: user.to_string(),
                    password: password.to_string(),
                });
            }
            if scheme.eq_ignore_ascii_case("bearer") {
                return Some(Credentials::Bearer(rest.trim().to_string()));
            }
            return None;
        }
        h.get_all(axum::http::header::COOKIE)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(';'))
            .find_map(|kv| kv.trim().strip_prefix("halo_session="))
            .map(|t| Credentials::Bearer(t.to_string()))
    }
}

/// The node's authenticator: its users, and the failed attempts per address.
#[derive(Clone)]
pub struct Auth {
    node: ClusterNode,
    file: PathBuf,
    failures: Arc<Mutex<HashMap<IpAddr, VecDeque<Instant>>>>,
    /// The users file's last written content (to write it only on change).
    mirrored: Arc<Mutex<Option<Users>>>,
}

/// Local callers that are neither root nor the daemon's user but in this group may read.
pub const READ_GROUP: &str = "haclient";

impl Auth {
    pub fn new(node: ClusterNode, state_dir: &Path) -> Auth {
        Auth {
            node,
            file: state_dir.join(USERS_FILE),
            failures: Arc::new(Mutex::new(HashMap::new())),
            mirrored: Arc::new(Mutex::new(None)),
        }
    }

    fn clustered(&self) -> bool {
        self.node.status().cluster.is_some()
    }

    /// The users in force: the cluster's when this node runs in one (kept in the users
    /// file too), else the users file's.
    pub fn users(&self) -> Users {
        let clustered = self
            .node
            .with_local(|a| a.state.cluster.is_some().then(|| a.state.users.clone()));
        match clustered.flatten() {
            Some(users) => {
                self.mirror(&users);
                users
            }
            None => self.read_file(),
        }
    }

    fn read_file(&self) -> Users {
        match std::fs::read(&self.file) {
            Ok(b) => serde_json::from_slice(&b).unwrap_or_else(|e| {
                tracing::error!(file = %self.file.display(), error = %e, "unreadable users file; no users");
                Users::default()
            }),
            Err(_) => Users::default(),
        }
    }

    fn write_file(&self, users: &Users) -> Result<(), Error> {
        let bytes = serde_json::to_vec_pretty(users).map_err(|e| Error::Store(e.to_string()))?;
        halo_consensus::node::write_private(&self.file, &bytes)
    }

    fn mirror(&self, users: &Users) {
        let Ok(mut m) = self.mirrored.lock() else {
            return;
        };
        if m.as_ref() != Some(users) {
            match self.write_file(users) {
                Ok(()) => *m = Some(users.clone()),
                Err(e) => tracing::warn!(error = %e, "could not keep a copy of the users"),
            }
        }
    }

    /// Apply a change to the users: through consensus in a cluster, else to the file.
    pub async fn change(&self, change: UserChange, by: &Caller) -> Result<(), Error> {
        if self.clustered() {
            let r = self
                .node
                .propose_as(Change::User(change), by.audit())
                .await?;
            return match r.result {
                ChangeResult::Refused { code, reason } => Err(Error::Refused { code, reason }),
                _ => Ok(()),
            };
        }
        let mut users = self.read_file();
        let now = now_ms();
        match users.apply(&change, now) {
            ChangeResult::Refused { code, reason } => Err(Error::Refused { code, reason }),
            _ => self.write_file(&users),
        }
    }

    /// Carry the users file's users and tokens into a cluster this node just created.
    pub async fn adopt_local_users(&self, by: &Caller) -> Result<(), Error> {
        let local = self.read_file();
        let mut users: Vec<_> = local.users.into_iter().collect();
        // Admins first: the last-admin rule never sees a cluster with only readers.
        users.sort_by_key(|(_, u)| std::cmp::Reverse(u.role));
        for (name, u) in users {
            self.change(
                UserChange::Set {
                    name,
                    role: u.role,
                    password_hash: u.password_hash,
                    create: true,
                },
                by,
            )
            .await?;
        }
        for (id, record) in local.tokens {
            self.change(UserChange::AddToken { id, record }, by).await?;
        }
        Ok(())
    }

    /// Issue a token to `user`; returns its id, its text (shown once, never stored) and
    /// what the cluster records of it.
    pub async fn issue(
        &self,
        user: &str,
        kind: TokenKind,
        ttl: Option<Duration>,
        by: &Caller,
    ) -> Result<(String, String, ApiTokenRecord), Error> {
        let id = halo_consensus::pki::hex(&random_bytes::<6>()?);
        let secret = random_bytes::<32>()?;
        let now = now_ms();
        let record = ApiTokenRecord {
            user: user.to_string(),
            kind,
            secret_sha256: halo_consensus::pki::sha256_hex(&secret),
            created_ms: now,
            expires_ms: ttl.map(|t| now.saturating_add(t.as_millis() as u64)),
            origin: by.origin.clone(),
        };
        self.change(
            UserChange::AddToken {
                id: id.clone(),
                record: record.clone(),
            },
            by,
        )
        .await?;
        let text = encode_token(&id, &secret);
        Ok((id, text, record))
    }

    /// The token id a bearer credential names (for logout).
    pub fn token_id(text: &str) -> Option<String> {
        decode_token(text).map(|(id, _)| id.to_string())
    }

    fn rate_check(&self, ip: IpAddr) -> Result<(), Denied> {
        let mut f = self
            .failures
            .lock()
            .map_err(|_| Denied::Unauthenticated("internal error".into()))?;
        let now = Instant::now();
        let q = f.entry(ip).or_default();
        while q
            .front()
            .is_some_and(|t| now.duration_since(*t) >= RATE_WINDOW)
        {
            q.pop_front();
        }
        if q.len() >= MAX_FAILURES {
            let retry = q
                .front()
                .map(|t| RATE_WINDOW.saturating_sub(now.duration_since(*t)))
                .unwrap_or(RATE_WINDOW);
            return Err(Denied::RateLimited {
                addr: ip.to_string(),
                retry_s: retry.as_secs().max(1),
            });
        }
        Ok(())
    }

    fn record_failure(&self, ip: IpAddr) {
        if let Ok(mut f) = self.failures.lock() {
            f.entry(ip).or_default().push_back(Instant::now());
            // Bound the table: forget addresses whose failures are all old.
            if f.len() > 10_000 {
                let now = Instant::now();
                f.retain(|_, q| {
                    q.back()
                        .is_some_and(|t| now.duration_since(*t) < RATE_WINDOW)
                });
            }
        }
    }

    /// Authenticate a remote request from `ip`.
    pub async fn authenticate(
        &self,
        creds: Option<Credentials>,
        ip: IpAddr,
    ) -> Result<Caller, Denied> {
        self.rate_check(ip)?;
        let Some(creds) = creds else {
            return Err(Denied::Unauthenticated(
                "authentication required: HTTP basic (user and password) or a bearer token from `halo user token` or POST /v1/login".into(),
            ));
        };
        let users = self.users();
        let origin = ip.to_string();
        let found = match creds {
            Credentials::Basic { user, password } => {
                let phc = users.users.get(&user).map(|u| u.password_hash.0.clone());
                // Verify against a hash even for an unknown user, so timing does not
                // tell which users exist.
                let phc_checked = phc.clone().unwrap_or_else(dummy_hash);
                let ok =
                    tokio::task::spawn_blocking(move || verify_password(&password, &phc_checked))
                        .await
                        .unwrap_or(false);
                match (ok && phc.is_some(), users.users.get(&user)) {
                    (true, Some(u)) => Some(Caller {
                        user,
                        role: u.role,
                        origin,
                    }),
                    _ => None,
                }
            }
            Credentials::Bearer(text) => decode_token(&text).and_then(|(id, secret_hex)| {
                let rec = users.tokens.get(id)?;
                let secret = halo_consensus::pki::unhex(secret_hex).filter(|s| s.len() <= 64)?;
                let hash = halo_consensus::pki::sha256_hex(&secret);
                if !halo_consensus::pki::digest_eq(&hash, &rec.secret_sha256) {
                    return None;
                }
                if rec.expires_ms.is_some_and(|e| e <= now_ms()) {
                    return None;
                }
                let u = users.users.get(&rec.user)?;
                Some(Caller {
                    user: rec.user.clone(),
                    role: u.role,
                    origin: origin.clone(),
                })
            }),
        };
        match found {
            Some(c) => Ok(c),
            None => {
                self.record_failure(ip);
                tracing::warn!(from = %ip, "refused a request with wrong credentials");
                Err(Denied::Unauthenticated(
                    "wrong user name, password or token (or the token expired or was revoked)"
                        .into(),
                ))
            }
        }
    }

    /// Authenticate a local-socket caller by its kernel credentials.
    pub fn local(&self, uid: u32, gid: u32, pid: Option<i32>) -> Result<Caller, Denied> {
        let name = || {
            nix::unistd::User::from_uid(nix::unistd::Uid::from_raw(uid))
                .ok()
                .flatten()
                .map(|u| u.name)
                .unwrap_or_else(|| format!("uid {uid}"))
        };
        if uid == 0 || uid == nix::unistd::geteuid().as_raw() {
            return Ok(Caller {
                user: name(),
                role: Role::Admin,
                origin: "local".into(),
            });
        }
        let group = nix::unistd::Group::from_name(READ_GROUP).ok().flatten();
        if let Some(g) = group {
            let gid_ok = gid == g.gid.as_raw() || pid.is_some_and(|p| in_group(p, g.gid.as_raw()));
            if gid_ok {
                return Ok(Caller {
                    user: name(),
                    role: Role::Read,
                    origin: "local".into(),
                });
            }
        }
        Err(Denied::Forbidden(format!(
            "local user {} may not use this daemon: only root, the daemon's own user, or members of the {READ_GROUP} group (read only)",
            name()
        )))
    }
}

/// Whether process `pid` has `gid` among its supplementary groups.
fn in_group(pid: i32, gid: u32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("Groups:"))
                .map(|g| g.split_whitespace().any(|x| x.parse() == Ok(gid)))
        })
        .unwrap_or(false)
}

/// A hash of nothing anyone knows, to spend the same time on unknown users.
fn dummy_hash() -> String {
    static DUMMY: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    DUMMY
        .get_or_init(|| hash_password("no user has this password").unwrap_or_default())
        .clone()
}

/// The role a configuration change needs: `operator` when it only changes what
/// operators change (node standby/maintenance, resources' target-role and is-managed,
/// `cli-prefer-*`/`cli-ban-*` location constraints), else `admin`.
pub fn config_change_role(old: &halo_model::Config, new: &halo_model::Config) -> Role {
    if operational(old) == operational(new) {
        Role::Operator
    } else {
        Role::Admin
    }
}

/// A configuration without what operators may change.
fn operational(c: &halo_model::Config) -> halo_model::Config {
    use halo_model::config::{Constraint, Resource};
    fn strip(r: &mut Resource) {
        let meta = match r {
            Resource::Primitive(p) => &mut p.meta,
            Resource::Group(g) => {
                for m in &mut g.members {
                    m.meta.remove("target-role");
                    m.meta.remove("is-managed");
                }
                &mut g.meta
            }
            Resource::Clone(c) => {
                strip(&mut c.child);
                &mut c.meta
            }
        };
        meta.remove("target-role");
        meta.remove("is-managed");
    }
    let mut c = c.clone();
    for n in &mut c.nodes {
        n.attrs.remove("standby");
        n.attrs.remove("maintenance");
    }
    for r in &mut c.resources {
        strip(r);
    }
    c.constraints.retain(|k| {
        !matches!(k, Constraint::Location(l) if l.id.starts_with("cli-prefer-") || l.id.starts_with("cli-ban-"))
    });
    c
}

/// The role a change proposed through the API needs, or why it is not accepted at all:
/// only typed operations come from outside, never the entries the cluster writes itself
/// (membership, tokens, operation results, fencing records, users — those have their own
/// endpoints). A caller who `has` admin needs no comparison of configurations (the
/// current one is read only when it decides).
pub fn change_role(
    change: &Change,
    has: Role,
    current: impl FnOnce() -> halo_consensus::StoredConfig,
) -> Result<Role, Error> {
    match change {
        Change::SetConfig { .. } if has == Role::Admin => Ok(Role::Admin),
        Change::SetConfig { config, .. } => {
            let new = config
                .to_model()
                .map_err(|e| Error::Invalid(format!("the new configuration: {e}")))?;
            Ok(match current().to_model() {
                Ok(old) => config_change_role(&old, &new),
                Err(_) => Role::Admin,
            })
        }
        Change::SetProperty { .. } | Change::SetSettings { .. } | Change::Noop { .. } => {
            Ok(Role::Admin)
        }
        Change::SetNodeAttr { .. } | Change::SetFailCount { .. } => Ok(Role::Operator),
        other => Err(Error::Refused {
            code: "HALO-E185".into(),
            reason: format!(
                "a {} change is written by the cluster itself, not accepted through the API",
                change_kind(other)
            ),
        }),
    }
}

/// A change's kind, as its wire tag names it (`remove_node`, ...).
fn change_kind(c: &Change) -> String {
    serde_json::to_value(c)
        .ok()
        .and_then(|v| v.get("change").and_then(|k| k.as_str()).map(str::to_string))
        .unwrap_or_else(|| "this".into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_verify_only_against_their_hash() {
        let h = hash_password("correct horse").unwrap();
        assert!(h.starts_with("$argon2id$"));
        assert!(verify_password("correct horse", &h));
        assert!(!verify_password("correct horsf", &h));
        assert!(hash_password("short").is_err());
        assert!(hash_password("two\nlines!").is_err());
    }

    #[test]
    fn credentials_are_read_from_headers() {
        let mut h = axum::http::HeaderMap::new();
        h.insert(
            "authorization",
            "Basic aGFjbHVzdGVyOnMzY3JldDpwdw==".parse().unwrap(),
        );
        assert_eq!(
            Credentials::from_headers(&h),
            Some(Credentials::Basic {
                user: "hacluster".into(),
                password: "s3cret:pw".into()
            })
        );
        let mut h = axum::http::HeaderMap::new();
        h.insert(
            "cookie",
            "a=b; halo_session=halo-api1-ab.cd".parse().unwrap(),
        );
        assert_eq!(
            Credentials::from_headers(&h),
            Some(Credentials::Bearer("halo-api1-ab.cd".into()))
        );
        assert_eq!(
            Credentials::from_headers(&axum::http::HeaderMap::new()),
            None
        );
    }

    #[test]
    fn tokens_round_trip() {
        let t = encode_token("0a1b", &[1, 2, 255]);
        assert_eq!(t, "halo-api1-0a1b.0102ff");
        assert_eq!(decode_token(&t), Some(("0a1b", "0102ff")));
        assert_eq!(decode_token("halo1-xyz"), None);
    }
}
