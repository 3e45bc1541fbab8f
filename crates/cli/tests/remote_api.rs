//! The remote API (HTTPS) and the local socket's caller check, on real daemons on
//! 127.0.0.1, driven by real clients: `curl` and the `halo` CLI. Every refusal is
//! checked by its HTTP status and HALO-E code, and every grant by its effect.

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use halo_testkit::cluster::{free_port, poll, Cluster};
use serde_json::Value;

fn bin() -> &'static Path {
    Path::new(env!("CARGO_BIN_EXE_halo"))
}

/// One formed single-node cluster with its remote API on 127.0.0.1:PORT.
fn node(label: &str) -> (Cluster, String) {
    let mut c = Cluster::new(bin(), label);
    let i = c.add("n1", false);
    let api = format!("127.0.0.1:{}", free_port());
    c.daemons[i].extra_args = vec!["--api".into(), api.clone()];
    c.start(i);
    c.form(0, &[]);
    c.wait_quorate(0);
    (c, api)
}

/// `halo ARGS` on node 0 with `stdin` as its standard input.
fn halo_in(c: &Cluster, args: &[&str], stdin: &str) -> (bool, String, String) {
    let r = c.halo_stdin(0, args, stdin);
    (r.ok, r.stdout, r.stderr)
}

fn add_user(c: &Cluster, name: &str, role: &str, password: &str) {
    let (ok, _, err) = halo_in(
        c,
        &["user", "add", name, "--role", role],
        &format!("{password}\n"),
    );
    assert!(ok, "user add {name}: {err}");
}

/// `curl` against the API: (HTTP status, body as JSON or Null).
fn curl(api: &str, method: &str, path: &str, auth: &[&str], body: Option<&str>) -> (u16, Value) {
    let mut cmd = Command::new("curl");
    cmd.args([
        "-sk",
        "--max-time",
        "20",
        "-X",
        method,
        "-w",
        "\n%{http_code}",
    ])
    .args(auth)
    .arg(format!("https://{api}{path}"));
    if let Some(b) = body {
        cmd.args(["-H", "content-type: application/json", "--data", b]);
    }
    let o = cmd.output().unwrap_or_else(|e| panic!("curl: {e}"));
    let text = String::from_utf8_lossy(&o.stdout).into_owned();
    let (body, code) = text.rsplit_once('\n').unwrap_or(("", &text));
    (
        code.trim().parse().unwrap_or(0),
        serde_json::from_str(body).unwrap_or(Value::Null),
    )
}

fn curl_ok() -> bool {
    halo_testkit::installed("/usr/bin/curl", "curl")
}

fn basic(user: &str, pw: &str) -> Vec<String> {
    vec!["-u".into(), format!("{user}:{pw}")]
}

fn refs(v: &[String]) -> Vec<&str> {
    v.iter().map(String::as_str).collect()
}

#[test]
fn remote_api_authenticates_and_enforces_roles() {
    if !curl_ok() {
        return;
    }
    let (c, api) = node("remote-roles");
    add_user(&c, "alice", "admin", "alice-password");
    add_user(&c, "oscar", "operator", "oscar-password");
    add_user(&c, "rita", "read", "rita-password");
    let (alice, oscar, rita) = (
        basic("alice", "alice-password"),
        basic("oscar", "oscar-password"),
        basic("rita", "rita-password"),
    );

    // Nothing without credentials, nor with a wrong password or an unknown user.
    let (code, body) = curl(&api, "GET", "/v1/status", &[], None);
    assert_eq!(
        (code, body["code"].as_str()),
        (401, Some("HALO-E180")),
        "{body}"
    );
    let (code, _) = curl(
        &api,
        "GET",
        "/v1/status",
        &refs(&basic("alice", "wrong-password")),
        None,
    );
    assert_eq!(code, 401);
    let (code, _) = curl(
        &api,
        "GET",
        "/v1/status",
        &refs(&basic("mallory", "alice-password")),
        None,
    );
    assert_eq!(code, 401);

    // The reference's `curl -u user:password https://node:2224/v1/status`.
    let (code, st) = curl(&api, "GET", "/v1/status", &refs(&rita), None);
    assert_eq!(code, 200, "{st}");
    assert_eq!(st["cluster"], "test");

    // read: no change; operator: standby yes, a property no; admin: both.
    let set_attr =
        r#"{"change":{"change":"set_node_attr","node":"n1","name":"probe","value":"1"}}"#;
    let (code, body) = curl(&api, "POST", "/v1/changes", &refs(&rita), Some(set_attr));
    assert_eq!(
        (code, body["code"].as_str()),
        (403, Some("HALO-E181")),
        "{body}"
    );
    let (code, body) = curl(&api, "POST", "/v1/changes", &refs(&oscar), Some(set_attr));
    assert_eq!(code, 200, "{body}");
    let prop = r#"{"change":{"change":"set_property","name":"stonith-enabled","value":"false"}}"#;
    let (code, body) = curl(&api, "POST", "/v1/changes", &refs(&oscar), Some(prop));
    assert_eq!(
        (code, body["code"].as_str()),
        (403, Some("HALO-E181")),
        "{body}"
    );
    let (code, body) = curl(&api, "POST", "/v1/changes", &refs(&alice), Some(prop));
    assert_eq!(code, 200, "{body}");
    // What the cluster writes itself is never accepted from outside, even from an admin.
    let forged = r#"{"change":{"change":"remove_node","name":"n1"}}"#;
    let (code, body) = curl(&api, "POST", "/v1/changes", &refs(&alice), Some(forged));
    assert_eq!(
        (code, body["code"].as_str()),
        (403, Some("HALO-E185")),
        "{body}"
    );

    // Users are an admin's business.
    let (code, _) = curl(&api, "GET", "/v1/users", &refs(&oscar), None);
    assert_eq!(code, 403);
    let (code, users) = curl(&api, "GET", "/v1/users", &refs(&alice), None);
    assert_eq!(code, 200);
    assert_eq!(users.as_array().map(Vec::len), Some(3), "{users}");
    assert!(
        !users.to_string().contains("argon2"),
        "hashes are never shown: {users}"
    );
    let (_, state) = curl(&api, "GET", "/v1/state", &refs(&rita), None);
    assert!(state.get("users").is_none() && !state.to_string().contains("argon2"));

    // The audit trail names who changed what, from where.
    let hist = c.halo(0, &["cluster", "history"]).stdout;
    assert!(
        hist.contains("set property stonith-enabled=false (by alice@127.0.0.1)"),
        "{hist}"
    );
    assert!(hist.contains("add user rita (read) (by "), "{hist}");
}

#[test]
fn sessions_and_tokens_expire_and_are_revoked() {
    if !curl_ok() {
        return;
    }
    let (c, api) = node("remote-tokens");
    add_user(&c, "alice", "admin", "alice-password");
    add_user(&c, "rita", "read", "rita-password");
    let rita = basic("rita", "rita-password");

    // A session: works until logout, then refused.
    let (code, s) = curl(&api, "POST", "/v1/login", &refs(&rita), None);
    assert_eq!(code, 200, "{s}");
    let bearer = |t: &Value| {
        vec![
            "-H".to_string(),
            format!(
                "authorization: Bearer {}",
                t["token"].as_str().unwrap_or("")
            ),
        ]
    };
    let (code, who) = curl(&api, "GET", "/v1/whoami", &refs(&bearer(&s)), None);
    assert_eq!(
        (code, who["user"].as_str(), who["role"].as_str()),
        (200, Some("rita"), Some("read"))
    );
    let (code, _) = curl(&api, "POST", "/v1/logout", &refs(&bearer(&s)), None);
    assert_eq!(code, 200);
    let (code, _) = curl(&api, "GET", "/v1/whoami", &refs(&bearer(&s)), None);
    assert_eq!(code, 401, "a session is over after logout");

    // A new password ends the user's sessions.
    let (_, s2) = curl(&api, "POST", "/v1/login", &refs(&rita), None);
    let (ok, _, err) = halo_in(&c, &["user", "passwd", "rita"], "another-password\n");
    assert!(ok, "{err}");
    let (code, _) = curl(&api, "GET", "/v1/whoami", &refs(&bearer(&s2)), None);
    assert_eq!(code, 401);
    let (code, _) = curl(
        &api,
        "GET",
        "/v1/whoami",
        &refs(&basic("rita", "another-password")),
        None,
    );
    assert_eq!(code, 200);
    let rita = basic("rita", "another-password");

    // An expired session: refused once its time is up.
    let (code, short) = curl(
        &api,
        "POST",
        "/v1/login",
        &refs(&rita),
        Some(r#"{"ttl_s":1}"#),
    );
    assert_eq!(code, 200);
    let (code, _) = curl(&api, "GET", "/v1/whoami", &refs(&bearer(&short)), None);
    assert_eq!(code, 200);
    std::thread::sleep(Duration::from_millis(1500));
    let (code, body) = curl(&api, "GET", "/v1/whoami", &refs(&bearer(&short)), None);
    assert_eq!(
        (code, body["code"].as_str()),
        (401, Some("HALO-E180")),
        "{body}"
    );

    // An API token for a program, from the CLI; revoked, it is refused.
    let (ok, token, err) = halo_in(&c, &["user", "token", "rita"], "");
    assert!(ok, "{err}");
    let t = serde_json::json!({ "token": token.trim() });
    let (code, _) = curl(&api, "GET", "/v1/status", &refs(&bearer(&t)), None);
    assert_eq!(code, 200);
    let id = token
        .trim()
        .trim_start_matches("halo-api1-")
        .split('.')
        .next()
        .unwrap_or("")
        .to_string();
    let (ok, _, err) = halo_in(&c, &["user", "revoke", &id], "");
    assert!(ok, "{err}");
    let (code, _) = curl(&api, "GET", "/v1/status", &refs(&bearer(&t)), None);
    assert_eq!(code, 401, "a revoked token is refused");
    // A forged secret for a real id is refused.
    let (ok, token, _) = halo_in(&c, &["user", "token", "rita"], "");
    assert!(ok);
    let forged = format!("{}{}", &token.trim()[..token.trim().len() - 4], "0000");
    let (code, _) = curl(
        &api,
        "GET",
        "/v1/status",
        &refs(&bearer(&serde_json::json!({ "token": forged }))),
        None,
    );
    assert_eq!(code, 401);
}

#[test]
fn failed_logins_are_rate_limited() {
    if !curl_ok() {
        return;
    }
    let (c, api) = node("remote-rate");
    add_user(&c, "alice", "admin", "alice-password");
    for _ in 0..5 {
        let (code, _) = curl(
            &api,
            "GET",
            "/v1/status",
            &refs(&basic("alice", "guess-guess")),
            None,
        );
        assert_eq!(code, 401);
    }
    // Now even the right password waits out the window.
    let (code, body) = curl(
        &api,
        "GET",
        "/v1/status",
        &refs(&basic("alice", "alice-password")),
        None,
    );
    assert_eq!(
        (code, body["code"].as_str()),
        (429, Some("HALO-E182")),
        "{body}"
    );
    // The local socket is not affected.
    assert!(c.halo(0, &["status"]).ok);
}

#[test]
fn the_openapi_document_matches_the_routes() {
    if !curl_ok() {
        return;
    }
    let (c, api) = node("remote-openapi");
    add_user(&c, "alice", "admin", "alice-password");
    let alice = basic("alice", "alice-password");
    let (code, doc) = curl(&api, "GET", "/v1/openapi.json", &refs(&alice), None);
    assert_eq!(code, 200);
    assert_eq!(doc["openapi"], "3.0.3");
    let paths = doc["paths"].as_object().cloned().unwrap_or_default();
    assert!(paths.len() > 20, "{doc}");
    // Every documented route is served: a request reaches its handler (whatever the
    // handler then says about a body that is not JSON), never "no such route" — the
    // gate's 404 (HALO-E157) nor the router's (no body). Routes that act without a body
    // (leave, stop, start, enable, disable, login, logout) would act on this node: they
    // are exercised by their own tests; here a read-only user shows the gate knows them.
    let rita = basic("rita", "rita-password");
    add_user(&c, "rita", "read", "rita-password");
    let acts = [
        "/v1/cluster/leave",
        "/v1/cluster/stop",
        "/v1/cluster/start",
        "/v1/cluster/enable",
        "/v1/cluster/disable",
        "/v1/login",
        "/v1/logout",
    ];
    let mut checked = 0;
    for (path, ops) in &paths {
        for (method, op) in ops.as_object().cloned().unwrap_or_default() {
            let concrete = path.replace("{name}", "nobody").replace("{id}", "0000");
            let method = method.to_uppercase();
            if method == "POST" && acts.contains(&path.as_str()) {
                if op["x-halo-role"] == "admin" {
                    let (code, _) = curl(&api, &method, &concrete, &refs(&rita), None);
                    assert_eq!(code, 403, "{method} {path}");
                }
                checked += 1;
                continue;
            }
            let body = (method == "POST").then_some("not json");
            let (code, b) = curl(&api, &method, &concrete, &refs(&alice), body);
            assert!(
                !(code == 404 && b["code"].as_str().is_none_or(|c| c == "HALO-E157")),
                "{method} {path} is documented but not served: {code} {b}"
            );
            assert_ne!(code, 405, "{method} {path}: method not allowed");
            checked += 1;
        }
    }
    assert!(checked >= paths.len());
    // And nothing undocumented is served.
    let (code, b) = curl(&api, "GET", "/v1/secret-debug", &refs(&alice), None);
    assert_eq!((code, b["code"].as_str()), (404, Some("HALO-E157")));
    let (code, _) = curl(&api, "DELETE", "/v1/status", &refs(&alice), None);
    assert_eq!(code, 404);
}

/// The local socket decides by the caller's kernel credentials: root is admin, a member
/// of `haclient` may read, anyone else is refused. Needs root (to run the client as
/// other users) and the `haclient` group (Debian's pacemaker package makes it).
#[test]
fn local_socket_checks_the_callers_credentials() {
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        eprintln!("SKIP: running the client as other users needs root");
        assert!(
            std::env::var_os("HALO_TEST_NO_SKIP").is_none(),
            "CI runs this as root"
        );
        return;
    }
    let Some(haclient) = group_id("haclient") else {
        eprintln!("SKIP: no haclient group (Debian's pacemaker package makes it)");
        assert!(
            std::env::var_os("HALO_TEST_NO_SKIP").is_none(),
            "CI installs pacemaker"
        );
        return;
    };
    let (c, _) = node("local-creds");
    // The test directory must be traversable for another user to reach the socket.
    let mut p = c.root.clone();
    loop {
        use std::os::unix::fs::PermissionsExt;
        if let Ok(m) = std::fs::metadata(&p) {
            let mode = m.permissions().mode();
            let _ = std::fs::set_permissions(&p, std::fs::Permissions::from_mode(mode | 0o001));
        }
        if p == c.root || !p.pop() {
            break;
        }
    }
    let as_user = |uid: u32, gid: u32, args: &[&str]| {
        use std::os::unix::process::CommandExt;
        let o = Command::new(bin())
            .args(args)
            .env("HALO_STATE_DIR", &c.daemons[0].dir)
            .uid(uid)
            .gid(gid)
            .stdin(Stdio::null())
            .output()
            .unwrap_or_else(|e| panic!("{e}"));
        (
            o.status.success(),
            String::from_utf8_lossy(&o.stdout).into_owned() + &String::from_utf8_lossy(&o.stderr),
        )
    };
    const NOBODY: u32 = 65534;
    // By file mode, only root and haclient reach the socket.
    let (ok, out) = as_user(NOBODY, NOBODY, &["status"]);
    assert!(
        !ok && out.contains("Permission denied"),
        "nobody may not connect: {out}"
    );
    // Even when the modes let everyone connect, the caller's credentials decide.
    {
        use std::os::unix::fs::PermissionsExt;
        let dir = &c.daemons[0].dir;
        let mode = |m| std::fs::Permissions::from_mode(m);
        std::fs::set_permissions(dir, mode(0o711)).unwrap_or_else(|e| panic!("{e}"));
        std::fs::set_permissions(dir.join("halo.sock"), mode(0o666))
            .unwrap_or_else(|e| panic!("{e}"));
    }
    let (ok, out) = as_user(NOBODY, NOBODY, &["status"]);
    assert!(
        !ok && out.contains("HALO-E181"),
        "nobody may not read: {out}"
    );
    let (ok, out) = as_user(NOBODY, haclient, &["status"]);
    assert!(ok, "a haclient member may read: {out}");
    let (ok, out) = as_user(
        NOBODY,
        haclient,
        &["property", "set", "stonith-enabled=false"],
    );
    assert!(!ok && out.contains("HALO-E181"), "but not change: {out}");
}

fn group_id(name: &str) -> Option<u32> {
    let text = std::fs::read_to_string("/etc/group").ok()?;
    text.lines().find_map(|l| {
        let mut f = l.split(':');
        (f.next()? == name).then(|| f.nth(1)?.parse().ok())?
    })
}

/// `curl --cacert CA` (verifying the certificate and the name) against the API as
/// `user:pw` on `host` (resolved to the API's address): the HTTP status, 0 when TLS
/// verification failed.
fn curl_verified(api: &str, ca: &Path, host: &str, user_pw: &str) -> u16 {
    let port = api.rsplit_once(':').map(|(_, p)| p).unwrap_or("2224");
    let o = Command::new("curl")
        .args([
            "-s",
            "-o",
            "/dev/null",
            "--max-time",
            "20",
            "-w",
            "%{http_code}",
        ])
        .arg("--cacert")
        .arg(ca)
        .args(["--resolve", &format!("{host}:{port}:127.0.0.1")])
        .args(["-u", user_pw])
        .arg(format!("https://{host}:{port}/v1/status"))
        .output()
        .unwrap_or_else(|e| panic!("curl: {e}"));
    String::from_utf8_lossy(&o.stdout)
        .trim()
        .parse()
        .unwrap_or(0)
}

/// Once the node is a member its API presents a certificate of the cluster CA for its
/// name and address (so `curl --cacert STATE_DIR/tls/ca.pem` verifies it), with the key
/// it always had: a client that pinned the key (`halo cluster auth`) keeps working when
/// the certificate is reissued, here by a move to a new CA, after which curl verifies
/// it with the new CA. (Review: the API certificate was self-signed for good.)
#[test]
fn api_certificate_is_the_cluster_cas_and_the_pin_survives_reissue() {
    if !curl_ok() {
        return;
    }
    let (c, api) = node("remote-ca");
    add_user(&c, "alice", "admin", "alice-password");
    let dir = c.daemons[0].dir.clone();
    let ca = dir.join("tls/ca.pem");
    let key_before = std::fs::read(dir.join("api-key.pem")).unwrap_or_default();
    let verified = poll(Duration::from_secs(30), || {
        (curl_verified(&api, &ca, "n1", "alice:alice-password") == 200).then_some(())
    });
    assert!(
        verified.is_some(),
        "the API certificate never verified with the cluster CA"
    );
    assert_eq!(
        curl_verified(&api, &ca, "127.0.0.1", "alice:alice-password"),
        200
    );
    assert_eq!(
        curl_verified(&api, &ca, "other-name", "alice:alice-password"),
        0,
        "a certificate for another name passed curl's check"
    );

    let hosts = c.root.join("hosts.json");
    let run = |args: &[&str]| {
        let o = Command::new(bin())
            .args(args)
            .env("HALO_STATE_DIR", "/nonexistent")
            .env("HALO_HOSTS_FILE", &hosts)
            .stdin(Stdio::null())
            .output()
            .unwrap_or_else(|e| panic!("halo: {e}"));
        (
            o.status.success(),
            String::from_utf8_lossy(&o.stdout).into_owned(),
            String::from_utf8_lossy(&o.stderr).into_owned(),
        )
    };
    let (ok, out, err) = run(&[
        "cluster",
        "auth",
        &format!("n1:{}", api.rsplit_once(':').map(|(_, p)| p).unwrap_or("")),
        &format!("addr={api}"),
        "-u",
        "alice",
        "-p",
        "alice-password",
    ]);
    assert!(ok, "cluster auth: {out}{err}");
    let cert_before = std::fs::read_to_string(dir.join("api-cert.pem")).unwrap_or_default();

    let r = c.halo(0, &["cluster", "certs", "rotate", "--new-ca"]);
    assert!(r.ok, "rotate --new-ca: {}", r.stderr);
    let reissued = poll(Duration::from_secs(30), || {
        (std::fs::read_to_string(dir.join("api-cert.pem")).unwrap_or_default() != cert_before
            && curl_verified(&api, &ca, "n1", "alice:alice-password") == 200)
            .then_some(())
    });
    assert!(
        reissued.is_some(),
        "the API certificate was never reissued by the new CA"
    );
    assert_eq!(
        std::fs::read(dir.join("api-key.pem")).unwrap_or_default(),
        key_before,
        "the API key changed"
    );
    let (ok, out, err) = run(&["status", "--host", "n1"]);
    assert!(
        ok && out.contains("n1"),
        "status through the pinned host: {out}{err}"
    );
}
