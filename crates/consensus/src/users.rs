//! People and programs allowed to use the API: users with a role, their password hashes
//! (argon2id, made by the API layer; never the password), and the API tokens and login
//! sessions issued to them (only a SHA-256 of each token's secret is kept).
//!
//! Part of the replicated state, so that every node authenticates the same users and a
//! session survives a VIP moving to another node. Pure, like the rest of the state: the
//! time comes from the log entry.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::state::{ChangeResult, Secret};

/// What a user may do, each role including the ones before it.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, Default,
)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// Status and configuration.
    #[default]
    Read,
    /// Day-to-day operations: standby, move, ban, cleanup, enable/disable.
    Operator,
    /// Everything, including users and nodes.
    Admin,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Read => "read",
            Role::Operator => "operator",
            Role::Admin => "admin",
        }
    }
}

impl std::fmt::Display for Role {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.pad(self.as_str())
    }
}

impl std::str::FromStr for Role {
    type Err = String;
    fn from_str(s: &str) -> Result<Role, String> {
        match s {
            "read" => Ok(Role::Read),
            "operator" => Ok(Role::Operator),
            "admin" => Ok(Role::Admin),
            _ => Err(format!("unknown role {s:?}: use read, operator or admin")),
        }
    }
}

/// A user as the cluster stores it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UserRecord {
    pub role: Role,
    /// The password's argon2id hash in PHC string format.
    pub password_hash: Secret,
    pub created_ms: u64,
    /// Last change of the password or role.
    pub changed_ms: u64,
}

/// A login session (expires) or an API token for programs (expires only if asked).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TokenKind {
    Session,
    Api,
}

/// An issued token: whose it is and a hash of its secret.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ApiTokenRecord {
    pub user: String,
    pub kind: TokenKind,
    /// SHA-256 of the secret, lowercase hex.
    pub secret_sha256: String,
    pub created_ms: u64,
    /// `None`: valid until revoked.
    pub expires_ms: Option<u64>,
    /// Where it was issued from (address or "local"), for `halo user token list`.
    #[serde(default)]
    pub origin: String,
}

/// Changes to users and tokens.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case")]
pub enum UserChange {
    /// Create a user or replace its role and password hash.
    Set {
        name: String,
        role: Role,
        password_hash: Secret,
        /// Refuse when the user already exists (`halo user add`).
        #[serde(default)]
        create: bool,
    },
    /// Delete a user and every token issued to it.
    Delete { name: String },
    /// Record an issued token.
    AddToken {
        id: String,
        #[serde(flatten)]
        record: ApiTokenRecord,
    },
    /// Revoke one token.
    RevokeToken { id: String },
}

impl UserChange {
    pub fn summary(&self) -> String {
        match self {
            UserChange::Set {
                name, role, create, ..
            } => {
                if *create {
                    format!("add user {name} ({role})")
                } else {
                    format!("set password and role ({role}) of user {name}")
                }
            }
            UserChange::Delete { name } => format!("delete user {name}"),
            UserChange::AddToken { id, record } => format!(
                "issue {} {id} to user {}",
                match record.kind {
                    TokenKind::Session => "session",
                    TokenKind::Api => "API token",
                },
                record.user
            ),
            UserChange::RevokeToken { id } => format!("revoke token {id}"),
        }
    }

    /// Sessions come and go with every login: they are not configuration history.
    pub fn is_history(&self) -> bool {
        !matches!(
            self,
            UserChange::AddToken {
                record: ApiTokenRecord {
                    kind: TokenKind::Session,
                    ..
                },
                ..
            }
        )
    }
}

/// Users and their tokens.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct Users {
    #[serde(default)]
    pub users: BTreeMap<String, UserRecord>,
    #[serde(default)]
    pub tokens: BTreeMap<String, ApiTokenRecord>,
}

/// Check a user name: 1 to 64 characters, letters, digits, `-`, `_` and `.`, starting
/// with a letter or digit.
pub fn check_user_name(name: &str) -> Result<(), String> {
    let ok = !name.is_empty()
        && name.len() <= 64
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
        && name.starts_with(|c: char| c.is_ascii_alphanumeric());
    if ok {
        Ok(())
    } else {
        Err(format!(
            "invalid user name {name:?}: 1 to 64 letters, digits, '-', '_' or '.', starting with a letter or digit"
        ))
    }
}

fn refused(code: &str, reason: String) -> ChangeResult {
    ChangeResult::Refused {
        code: code.into(),
        reason,
    }
}

impl Users {
    /// Forget tokens that expired before `now_ms` (the log entry's time).
    pub fn prune(&mut self, now_ms: u64) {
        self.tokens
            .retain(|_, t| t.expires_ms.is_none_or(|e| e > now_ms));
    }

    fn admins(&self) -> usize {
        self.users
            .values()
            .filter(|u| u.role == Role::Admin)
            .count()
    }

    pub fn apply(&mut self, change: &UserChange, time_ms: u64) -> ChangeResult {
        self.prune(time_ms);
        match change {
            UserChange::Set {
                name,
                role,
                password_hash,
                create,
            } => {
                if let Err(e) = check_user_name(name) {
                    return refused("HALO-E183", e);
                }
                if !password_hash.0.starts_with("$argon2id$") {
                    return refused(
                        "HALO-E183",
                        format!("user {name}: the password hash is not an argon2id PHC string"),
                    );
                }
                let admins = self.admins();
                match self.users.get(name) {
                    Some(_) if *create => {
                        refused("HALO-E183", format!("user {name} already exists"))
                    }
                    Some(u) => {
                        if u.role == Role::Admin && *role != Role::Admin && admins == 1 {
                            return refused(
                                "HALO-E184",
                                format!("user {name} is the last admin: add another admin first"),
                            );
                        }
                        // A new password ends the user's sessions (not its API tokens).
                        if u.password_hash != *password_hash {
                            let name = name.clone();
                            self.tokens
                                .retain(|_, t| !(t.user == name && t.kind == TokenKind::Session));
                        }
                        if let Some(u) = self.users.get_mut(name) {
                            u.role = *role;
                            u.password_hash = password_hash.clone();
                            u.changed_ms = time_ms;
                        }
                        ChangeResult::Ok
                    }
                    None => {
                        self.users.insert(
                            name.clone(),
                            UserRecord {
                                role: *role,
                                password_hash: password_hash.clone(),
                                created_ms: time_ms,
                                changed_ms: time_ms,
                            },
                        );
                        ChangeResult::Ok
                    }
                }
            }
            UserChange::Delete { name } => match self.users.get(name) {
                None => refused("HALO-E183", format!("no user named {name}")),
                Some(u) if u.role == Role::Admin && self.admins() == 1 => refused(
                    "HALO-E184",
                    format!("user {name} is the last admin: add another admin first"),
                ),
                Some(_) => {
                    self.users.remove(name);
                    self.tokens.retain(|_, t| t.user != *name);
                    ChangeResult::Ok
                }
            },
            UserChange::AddToken { id, record } => {
                if !self.users.contains_key(&record.user) {
                    return refused("HALO-E183", format!("no user named {}", record.user));
                }
                if self.tokens.contains_key(id) {
                    return refused("HALO-E183", format!("token id {id} is taken"));
                }
                self.tokens.insert(id.clone(), record.clone());
                ChangeResult::Ok
            }
            UserChange::RevokeToken { id } => match self.tokens.remove(id) {
                Some(_) => ChangeResult::Ok,
                None => refused("HALO-E183", format!("no token {id} (revoked or expired)")),
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn set(name: &str, role: Role, create: bool) -> UserChange {
        UserChange::Set {
            name: name.into(),
            role,
            password_hash: Secret(format!("$argon2id$v=19$m=19456,t=2,p=1$x${name}")),
            create,
        }
    }

    fn token(user: &str, kind: TokenKind, expires_ms: Option<u64>) -> ApiTokenRecord {
        ApiTokenRecord {
            user: user.into(),
            kind,
            secret_sha256: "00".into(),
            created_ms: 0,
            expires_ms,
            origin: "local".into(),
        }
    }

    #[test]
    fn the_last_admin_stays() {
        let mut u = Users::default();
        assert_eq!(
            u.apply(&set("root", Role::Admin, true), 1),
            ChangeResult::Ok
        );
        assert!(matches!(
            u.apply(&set("root", Role::Read, false), 2),
            ChangeResult::Refused { code, .. } if code == "HALO-E184"
        ));
        assert!(matches!(
            u.apply(&UserChange::Delete { name: "root".into() }, 3),
            ChangeResult::Refused { code, .. } if code == "HALO-E184"
        ));
        assert_eq!(u.apply(&set("ops", Role::Admin, true), 4), ChangeResult::Ok);
        assert_eq!(
            u.apply(
                &UserChange::Delete {
                    name: "root".into()
                },
                5
            ),
            ChangeResult::Ok
        );
        assert!(matches!(
            u.apply(&set("ops", Role::Admin, true), 6),
            ChangeResult::Refused { .. }
        ));
    }

    #[test]
    fn tokens_expire_by_log_time_and_die_with_their_user() {
        let mut u = Users::default();
        u.apply(&set("a", Role::Admin, true), 0);
        u.apply(&set("b", Role::Read, true), 0);
        let add = |id: &str, r| UserChange::AddToken {
            id: id.into(),
            record: r,
        };
        assert_eq!(
            u.apply(&add("s", token("b", TokenKind::Session, Some(100))), 1),
            ChangeResult::Ok
        );
        assert_eq!(
            u.apply(&add("t", token("b", TokenKind::Api, None)), 1),
            ChangeResult::Ok
        );
        assert!(matches!(
            u.apply(&add("x", token("nobody", TokenKind::Api, None)), 1),
            ChangeResult::Refused { .. }
        ));
        u.prune(99);
        assert!(u.tokens.contains_key("s"));
        u.prune(100);
        assert!(!u.tokens.contains_key("s"), "expired at its time");
        assert!(u.tokens.contains_key("t"));
        assert_eq!(
            u.apply(&UserChange::Delete { name: "b".into() }, 200),
            ChangeResult::Ok
        );
        assert!(u.tokens.is_empty(), "a deleted user's tokens go with it");
    }

    #[test]
    fn a_new_password_ends_sessions_only() {
        let mut u = Users::default();
        u.apply(&set("a", Role::Admin, true), 0);
        u.apply(
            &UserChange::AddToken {
                id: "s".into(),
                record: token("a", TokenKind::Session, Some(1000)),
            },
            0,
        );
        u.apply(
            &UserChange::AddToken {
                id: "t".into(),
                record: token("a", TokenKind::Api, None),
            },
            0,
        );
        let change = UserChange::Set {
            name: "a".into(),
            role: Role::Admin,
            password_hash: Secret("$argon2id$other".into()),
            create: false,
        };
        assert_eq!(u.apply(&change, 1), ChangeResult::Ok);
        assert!(!u.tokens.contains_key("s"));
        assert!(u.tokens.contains_key("t"));
    }

    #[test]
    fn names_and_hashes_are_checked() {
        let mut u = Users::default();
        assert!(matches!(
            u.apply(&set("-x", Role::Admin, true), 0),
            ChangeResult::Refused { .. }
        ));
        let plain = UserChange::Set {
            name: "x".into(),
            role: Role::Admin,
            password_hash: Secret("hunter2".into()),
            create: true,
        };
        assert!(matches!(u.apply(&plain, 0), ChangeResult::Refused { .. }));
    }
}
