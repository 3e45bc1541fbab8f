//! The API's routes, each with the role it needs and what it does: the one table the
//! authorisation check and the OpenAPI document (`GET /v1/openapi.json`) are made from.
//! A request for a route not in this table is answered 404 before any handler runs, so
//! nothing is served that the document does not describe.

use halo_consensus::users::Role;

/// One route: method, path (with `{param}` segments), the role it needs, a summary,
/// and the JSON schema of its request body when it takes one.
pub struct Route {
    pub method: &'static str,
    pub path: &'static str,
    /// The least role the route needs; some handlers check more (a change's own role,
    /// another user's password or token).
    pub role: Role,
    pub summary: &'static str,
    pub body: Option<fn() -> serde_json::Value>,
    /// Whether the body may be left out.
    pub body_optional: bool,
}

const fn r(method: &'static str, path: &'static str, role: Role, summary: &'static str) -> Route {
    Route {
        method,
        path,
        role,
        summary,
        body: None,
        body_optional: false,
    }
}

impl Route {
    /// The route takes a JSON body of type `T` (the very type its handler reads).
    const fn body<T: schemars::JsonSchema>(self) -> Route {
        Route {
            body: Some(schema::<T>),
            ..self
        }
    }

    /// The route takes an optional JSON body of type `T`.
    const fn optional_body<T: schemars::JsonSchema>(self) -> Route {
        Route {
            body: Some(schema::<T>),
            body_optional: true,
            ..self
        }
    }
}

/// `T`'s JSON schema, inline (no `$ref`s), without the `$schema` key.
fn schema<T: schemars::JsonSchema>() -> serde_json::Value {
    let settings = schemars::generate::SchemaSettings::openapi3().with(|s| {
        s.inline_subschemas = true;
    });
    let mut v = settings
        .into_generator()
        .into_root_schema_for::<T>()
        .to_value();
    if let Some(o) = v.as_object_mut() {
        o.remove("$schema");
    }
    v
}

use crate::proto;

use Role::{Admin, Operator, Read};

pub const ROUTES: &[Route] = &[
    r(
        "GET",
        "/v1/node",
        Read,
        "This node: name, node-to-node address, cluster, state",
    ),
    r(
        "GET",
        "/v1/status",
        Read,
        "Membership, quorum, DC and nodes as this node sees them",
    ),
    r(
        "POST",
        "/v1/cluster/init",
        Admin,
        "Create a cluster with this node as its first member",
    )
    .body::<proto::InitRequest>(),
    r("POST", "/v1/cluster/token", Admin, "Issue a join token")
    .body::<proto::TokenRequest>(),
    r(
        "GET",
        "/v1/cluster/tokens",
        Admin,
        "The join tokens: id, uses left, expiry (never the secret)",
    ),
    r(
        "POST",
        "/v1/cluster/tokens",
        Admin,
        "Issue a join token (uses, ttl)",
    )
    .body::<proto::TokenRequest>(),
    r(
        "DELETE",
        "/v1/cluster/tokens/{id}",
        Admin,
        "Revoke a join token",
    ),
    r(
        "GET",
        "/v1/cluster/certs",
        Read,
        "Each node's certificate: fingerprint, expiry, issuing CA",
    ),
    r(
        "POST",
        "/v1/cluster/certs/rotate",
        Admin,
        "Renew every node's certificate now (from a new CA with {\"new_ca\": true}); waits until each uses its new one",
    )
    .body::<proto::RotateRequest>(),
    r(
        "POST",
        "/v1/cluster/join",
        Admin,
        "Join this node to a cluster through one of its members",
    )
    .body::<proto::JoinRequest>(),
    r(
        "POST",
        "/v1/cluster/remove",
        Admin,
        "Take another node out of the cluster",
    )
    .body::<proto::RemoveRequest>(),
    r(
        "POST",
        "/v1/cluster/leave",
        Admin,
        "Take this node out of the cluster",
    ),
    r(
        "POST",
        "/v1/cluster/stop",
        Admin,
        "Stop this node's membership, keeping its data",
    ),
    r(
        "POST",
        "/v1/cluster/start",
        Admin,
        "Start this node's membership again",
    ),
    r(
        "POST",
        "/v1/cluster/enable",
        Admin,
        "Start halo at boot on this node (systemctl enable)",
    ),
    r(
        "POST",
        "/v1/cluster/disable",
        Admin,
        "Do not start halo at boot on this node",
    ),
    r(
        "GET",
        "/v1/cluster/history",
        Read,
        "The last configuration changes: who, when, what",
    ),
    r(
        "POST",
        "/v1/changes",
        Read,
        "Commit a typed change (each kind needs its own role)",
    )
    .body::<proto::ProposeRequest>(),
    r(
        "GET",
        "/v1/changes",
        Read,
        "Changes after an epoch (long poll)",
    ),
    r(
        "GET",
        "/v1/state",
        Read,
        "The replicated state, without secrets",
    ),
    r("POST", "/v1/fence", Admin, "Have the DC fence a node")
    .body::<crate::server::FenceBody>(),
    r(
        "GET",
        "/v1/config/versions",
        Read,
        "The configurations the cluster keeps",
    ),
    r(
        "POST",
        "/v1/attrs",
        Operator,
        "Set a node attribute, after its dampening delay",
    )
    .body::<halo_controller::attrd::AttrUpdate>(),
    r(
        "GET",
        "/v1/attrs/pending",
        Read,
        "Attribute values waiting for their delay",
    ),
    r(
        "GET",
        "/v1/controller",
        Read,
        "This node's controller: watchdog, lease, what runs here",
    ),
    r(
        "POST",
        "/v1/login",
        Read,
        "Exchange a user's password (HTTP basic) for a session token",
    )
    .optional_body::<proto::LoginRequest>(),
    r(
        "POST",
        "/v1/logout",
        Read,
        "End the session whose token authenticates the request",
    ),
    r(
        "GET",
        "/v1/whoami",
        Read,
        "The authenticated user and its role",
    ),
    r("GET", "/v1/users", Admin, "The users and their roles"),
    r("POST", "/v1/users", Admin, "Add a user")
    .body::<proto::AddUser>(),
    r(
        "POST",
        "/v1/users/{name}",
        Read,
        "Change a user's password (its own, or any as admin) or role (admin)",
    )
    .body::<proto::SetUser>(),
    r(
        "DELETE",
        "/v1/users/{name}",
        Admin,
        "Delete a user and its tokens",
    ),
    r(
        "GET",
        "/v1/tokens",
        Read,
        "API tokens and sessions (one's own, or all as admin)",
    ),
    r(
        "POST",
        "/v1/tokens",
        Read,
        "Issue an API token (to oneself, or to any user as admin)",
    )
    .body::<proto::IssueToken>(),
    r(
        "DELETE",
        "/v1/tokens/{id}",
        Read,
        "Revoke a token (one's own, or any as admin)",
    ),
    r("GET", "/v1/openapi.json", Read, "This document"),
];

/// Whether `path` matches the pattern (`{x}` matches one non-empty segment).
fn matches(pattern: &str, path: &str) -> bool {
    let (mut p, mut q) = (pattern.split('/'), path.split('/'));
    loop {
        match (p.next(), q.next()) {
            (None, None) => return true,
            (Some(a), Some(b)) if a.starts_with('{') && a.ends_with('}') => {
                if b.is_empty() {
                    return false;
                }
            }
            (Some(a), Some(b)) if a == b => {}
            _ => return false,
        }
    }
}

/// The route a request is for.
pub fn find(method: &str, path: &str) -> Option<&'static Route> {
    ROUTES
        .iter()
        .find(|r| r.method.eq_ignore_ascii_case(method) && matches(r.path, path))
}

/// The OpenAPI 3.0 document of [`ROUTES`].
pub fn openapi() -> serde_json::Value {
    let mut paths = serde_json::Map::new();
    for r in ROUTES {
        let entry = paths
            .entry(r.path.to_string())
            .or_insert_with(|| serde_json::json!({}));
        let params: Vec<serde_json::Value> = r
            .path
            .split('/')
            .filter_map(|s| s.strip_prefix('{').and_then(|s| s.strip_suffix('}')))
            .map(|name| {
                serde_json::json!({"name": name, "in": "path", "required": true, "schema": {"type": "string"}})
            })
            .collect();
        let mut op = serde_json::json!({
            "summary": r.summary,
            "x-halo-role": r.role.as_str(),
            "responses": {
                "200": {"description": "Done; the body is JSON"},
                "400": {"description": "Invalid request (the body names the place and reason)"},
                "401": {"description": "No or wrong credentials (HALO-E180)"},
                "403": {"description": "The user's role is too weak (HALO-E181)"},
                "409": {"description": "Refused by the cluster (the body carries the HALO-E code)"},
                "429": {"description": "Too many failed logins from this address (HALO-E182)"},
                "503": {"description": "No quorum"}
            }
        });
        if !params.is_empty() {
            op["parameters"] = serde_json::Value::Array(params);
        }
        if let Some(body) = r.body {
            op["requestBody"] = serde_json::json!({
                "required": !r.body_optional,
                "content": {"application/json": {"schema": body()}}
            });
        }
        entry[r.method.to_ascii_lowercase()] = op;
    }
    serde_json::json!({
        "openapi": "3.0.3",
        "info": {
            "title": "halo API",
            "version": "1",
            "description": "halo's control API: the local socket (credentials of the calling process) and the remote HTTPS API (port 2224 by default), the same routes. Roles: read < operator < admin."
        },
        "components": {
            "securitySchemes": {
                "basic": {"type": "http", "scheme": "basic"},
                "token": {"type": "http", "scheme": "bearer", "description": "An API token (`halo user token`) or a session token (POST /v1/login)"}
            }
        },
        "security": [{"basic": []}, {"token": []}],
        "paths": paths,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn patterns_match_one_segment() {
        assert!(find("DELETE", "/v1/users/alice").is_some());
        assert!(find("DELETE", "/v1/users/").is_none());
        assert!(find("DELETE", "/v1/users/a/b").is_none());
        assert!(find("get", "/v1/status").is_some());
        assert!(find("PUT", "/v1/status").is_none());
    }

    #[test]
    fn every_route_is_in_the_document_once() {
        let doc = openapi();
        let mut n = 0;
        for (_, ops) in doc["paths"].as_object().unwrap() {
            n += ops.as_object().unwrap().len();
        }
        assert_eq!(n, ROUTES.len(), "a (method, path) pair is listed twice");
    }

    /// Request bodies are described by their types' schemas: their fields, with the
    /// required ones required.
    #[test]
    fn request_bodies_have_their_types_schemas() {
        let doc = openapi();
        let body = |method: &str, path: &str| {
            doc["paths"][path][method]["requestBody"]["content"]["application/json"]["schema"]
                .clone()
        };
        let join = body("post", "/v1/cluster/join");
        assert_eq!(join["type"], "object", "{join}");
        for f in ["peer", "token", "name"] {
            assert!(join["properties"][f].is_object(), "{f}: {join}");
        }
        let required: Vec<&str> = join["required"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|v| v.as_str())
            .collect();
        assert_eq!(required, ["peer", "token"], "{join}");
        let user = body("post", "/v1/users");
        assert_eq!(user["properties"]["role"]["enum"][2], "admin", "{user}");
        assert!(body("post", "/v1/cluster/certs/rotate")["properties"]["new_ca"].is_object());
        assert_eq!(
            doc["paths"]["/v1/login"]["post"]["requestBody"]["required"],
            false
        );
        assert!(doc["paths"]["/v1/cluster/leave"]["post"]["requestBody"].is_null());
    }
}
