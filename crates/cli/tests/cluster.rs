//! Membership, quorum and replicated state with real `halo daemon` processes on 127.0.0.1.
//! No timing assertions: every wait polls with a generous deadline.

use std::path::Path;
use std::time::Duration;

use halo_testkit::cluster::{poll, probe, Cluster, DEADLINE};
use serde_json::Value;

fn bin() -> &'static Path {
    Path::new(env!("CARGO_BIN_EXE_halo"))
}

/// A cluster of `names`, formed through the first one, all quorate.
fn formed(label: &str, names: &[&str]) -> Cluster {
    Cluster::formed(bin(), label, names)
}

fn node<'a>(st: &'a Value, name: &str) -> &'a Value {
    st["nodes"]
        .as_array()
        .and_then(|a| a.iter().find(|n| n["name"] == name))
        .unwrap_or(&Value::Null)
}

/// Three daemons form one cluster: every node sees the same DC and term, all three voters
/// online, and the status JSON carries exactly the documented keys and roles.
#[test]
fn quorum_three_nodes_form_and_elect_one_dc() {
    let c = formed("form", &["n1", "n2", "n3"]);
    let views = poll(DEADLINE, || {
        let v: Vec<Value> = (0..3).filter_map(|i| c.status(i)).collect();
        let agree = v.len() == 3
            && v.iter()
                .all(|s| s["dc"] == v[0]["dc"] && s["term"] == v[0]["term"])
            && v.iter().all(|s| {
                s["nodes"]
                    .as_array()
                    .is_some_and(|n| n.len() == 3 && n.iter().all(|x| x["online"] == true))
            });
        agree.then_some(v)
    })
    .unwrap_or_else(|| panic!("nodes never agreed on one DC\n{}", c.logs()));
    let st = &views[0];
    assert_eq!(st["cluster"], "test");
    assert_eq!(st["quorate"], true);
    assert!(["n1", "n2", "n3"].contains(&st["dc"].as_str().unwrap_or("")));
    assert!(st["term"].as_u64().unwrap_or(0) >= 1);
    for n in ["n1", "n2", "n3"] {
        assert_eq!(node(st, n)["role"], "voter", "{st}");
        assert_eq!(node(st, n)["online"], true);
    }
}

/// Killing the DC (SIGKILL) elects a new one among the survivors, the dead node is shown
/// offline, and every committed change is still there and new ones commit.
#[test]
fn quorum_kill_leader_elects_new_dc_and_keeps_state() {
    let mut c = formed("failover", &["n1", "n2", "n3"]);
    assert!(c.halo(1, &["cluster", "token"]).ok);
    let before = poll(DEADLINE, || c.history(2).filter(|h| h.len() >= 6))
        .unwrap_or_else(|| panic!("history\n{}", c.logs()));
    let dc = c.wait_quorate(0)["dc"].as_str().unwrap_or("").to_string();
    let dead = c.index(&dc);
    c.kill(dead);
    let survivor = (0..3).find(|i| *i != dead).unwrap_or(0);
    let st = poll(DEADLINE, || {
        c.status(survivor).filter(|s| {
            s["quorate"] == true
                && s["dc"].is_string()
                && s["dc"] != dc.as_str()
                && node(s, &dc)["online"] == false
        })
    })
    .unwrap_or_else(|| panic!("no new DC after killing {dc}\n{}", c.logs()));
    assert_ne!(st["dc"], dc.as_str());
    let after = c.history(survivor).unwrap_or_default();
    assert_eq!(
        after[..before.len()],
        before[..],
        "committed history changed"
    );
    let t = c.halo(survivor, &["cluster", "token"]);
    assert!(t.ok, "no change commits after failover: {}", t.stderr);
}

/// With two of three nodes killed, the survivor reports no quorum and refuses configuration
/// changes with HALO-E102.
#[test]
fn quorum_lost_with_two_of_three_dead_refuses_changes() {
    let mut c = formed("noquorum", &["n1", "n2", "n3"]);
    c.kill(0);
    c.kill(1);
    let st = poll(DEADLINE, || {
        c.status(2).filter(|s| {
            s["quorate"] == false
                && node(s, "n1")["online"] == false
                && node(s, "n2")["online"] == false
        })
    })
    .unwrap_or_else(|| panic!("survivor still claims quorum\n{}", c.logs()));
    assert_eq!(st["quorate"], false);
    let r = c.halo(2, &["cluster", "token"]);
    assert!(!r.ok, "a change was accepted without quorum");
    assert!(r.stderr.contains("HALO-E102"), "{}", r.stderr);
}

/// Restarting all three nodes after SIGKILL keeps every committed change.
#[test]
fn quorum_restart_all_keeps_committed_changes() {
    let mut c = formed("restart", &["n1", "n2", "n3"]);
    for _ in 0..3 {
        let r = c.halo(1, &["cluster", "token"]);
        assert!(r.ok, "{}", r.stderr);
    }
    let before = c.history(1).unwrap_or_default();
    assert!(before.len() >= 8, "{before:?}");
    for i in 0..3 {
        c.kill(i);
    }
    for i in 0..3 {
        c.start(i);
    }
    for i in 0..3 {
        c.wait_quorate(i);
        let after = poll(DEADLINE, || {
            c.history(i).filter(|h| h.len() >= before.len())
        })
        .unwrap_or_else(|| panic!("history lost on n{}\n{}", i + 1, c.logs()));
        assert_eq!(after[..before.len()], before[..]);
    }
    let r = c.halo(0, &["cluster", "token"]);
    assert!(r.ok, "{}", r.stderr);
}

/// A node joins a running cluster as a voter and is removed again at runtime; another
/// leaves by itself.
#[test]
fn membership_join_and_remove_at_runtime() {
    let mut c = formed("joinremove", &["n1", "n2", "n3"]);
    let n4 = c.add("n4", false);
    c.start(n4);
    c.join(n4, 1);
    let st = poll(DEADLINE, || {
        c.status(0)
            .filter(|s| node(s, "n4")["role"] == "voter" && node(s, "n4")["online"] == true)
    })
    .unwrap_or_else(|| panic!("n4 never became an online voter\n{}", c.logs()));
    assert_eq!(st["nodes"].as_array().map(Vec::len), Some(4));
    c.wait_quorate(n4);
    let r = c.halo(2, &["cluster", "remove", "n4"]);
    assert!(r.ok, "{}", r.stderr);
    poll(DEADLINE, || {
        c.status(0)
            .filter(|s| s["nodes"].as_array().map(Vec::len) == Some(3) && node(s, "n4").is_null())
    })
    .unwrap_or_else(|| panic!("n4 still listed\n{}", c.logs()));
    let h = c.history(0).unwrap_or_default();
    assert!(h.iter().any(|(_, s)| s == "remove node n4"), "{h:?}");
    // Removing it again is refused with a clear code.
    let r = c.halo(1, &["cluster", "remove", "n4"]);
    assert!(!r.ok && r.stderr.contains("HALO-E137"), "{}", r.stderr);
    // n3 leaves by itself: the cluster shrinks to two voters and n3 is unconfigured.
    let r = c.halo(2, &["cluster", "leave"]);
    assert!(r.ok, "{}\n{}", r.stderr, c.logs());
    poll(DEADLINE, || {
        c.status(0)
            .filter(|s| s["nodes"].as_array().map(Vec::len) == Some(2) && s["quorate"] == true)
    })
    .unwrap_or_else(|| panic!("n3 did not leave\n{}", c.logs()));
    assert_eq!(c.status(2).unwrap_or_default()["state"], "unconfigured");
    assert!(c.halo(0, &["cluster", "token"]).ok);
}

/// Two data nodes and a witness: the witness is shown as such, and the cluster stays
/// quorate and accepts changes after one data node dies.
#[test]
fn quorum_two_nodes_and_witness_survive_loss_of_a_data_node() {
    let mut c = Cluster::new(bin(), "witness");
    let a = c.add("a", false);
    let b = c.add("b", false);
    let w = c.add("w", true);
    for i in [a, b, w] {
        c.start(i);
    }
    c.form(a, &[b, w]);
    c.wait_quorate(w);
    // The witness may apply its own promotion a moment after the join returned.
    let st = poll(DEADLINE, || {
        c.status(w)
            .filter(|s| node(s, "w")["role"] == "witness" && s["quorate"] == true)
    })
    .unwrap_or_else(|| panic!("w never shown as witness\n{}", c.logs()));
    assert_eq!(node(&st, "a")["role"], "voter");
    let dc = st["dc"].as_str().unwrap_or("").to_string();
    // Kill a data node, the DC if it is one, to also force an election.
    let victim = if dc == "b" { b } else { a };
    let data_survivor = if victim == a { b } else { a };
    c.kill(victim);
    let st = poll(DEADLINE, || {
        c.status(data_survivor).filter(|s| {
            s["quorate"] == true
                && s["dc"].is_string()
                && node(s, &c.daemons[victim].name)["online"] == false
        })
    })
    .unwrap_or_else(|| panic!("no quorum with the witness\n{}", c.logs()));
    assert_eq!(st["quorate"], true);
    let r = c.halo(data_survivor, &["cluster", "token"]);
    assert!(r.ok, "{}", r.stderr);
}

/// A peer presenting a certificate of another cluster's CA is refused at the TLS handshake,
/// while the same probe with this cluster's certificate is answered (the control).
#[test]
fn security_foreign_certificate_cannot_send_messages() {
    let x = formed("secx", &["x1", "x2"]);
    let y = formed("secy", &["y1"]);
    let x1 = &x.daemons[0];
    let ok = probe::ping_with_cert(&x.daemons[1].dir, &x.daemons[1].dir, "x1", &x1.addr);
    assert_eq!(
        ok,
        Ok("x1".to_string()),
        "control probe with a cluster certificate failed"
    );
    let foreign = probe::ping_with_cert(&x.daemons[1].dir, &y.daemons[0].dir, "x1", &x1.addr);
    assert!(
        foreign.is_err(),
        "a foreign certificate was answered: {foreign:?}"
    );
    // Without any certificate only a join request is accepted.
    let anon = probe::ping_anonymous(&probe::ca_fingerprint(&x1.dir), &x1.addr);
    let err = anon.err().unwrap_or_default();
    assert!(err.contains("HALO-E140"), "{err}");
    // x still has exactly its two members.
    let st = x.status(0).unwrap_or_default();
    assert_eq!(st["nodes"].as_array().map(Vec::len), Some(2));
}

/// Joining is refused with a clear code for a token of another cluster (CA fingerprint
/// mismatch), a forged secret and an expired token; a valid token then works.
#[test]
fn security_forged_foreign_and_expired_tokens_refused() {
    let mut x = formed("tokx", &["x1"]);
    let y = formed("toky", &["y1"]);
    let z = x.add("z", false);
    x.start(z);
    let x1 = x.daemons[0].addr.clone();
    let join = |token: &str| x.halo(z, &["cluster", "join", &x1, "--token", token]);

    let foreign = y.halo(0, &["cluster", "token"]);
    let r = join(foreign.stdout.trim());
    assert!(
        !r.ok && r.stderr.contains("HALO-E103"),
        "foreign: {}",
        r.stderr
    );

    let good = x.halo(0, &["cluster", "token"]).stdout.trim().to_string();
    // Flip one character inside the secret part (after the 6-char prefix and 11-char id).
    let mut forged: Vec<char> = good.chars().collect();
    let k = 6 + 11 + 5;
    forged[k] = if forged[k] == 'A' { 'B' } else { 'A' };
    let forged: String = forged.into_iter().collect();
    let r = join(&forged);
    assert!(
        !r.ok && r.stderr.contains("HALO-E104"),
        "forged: {}",
        r.stderr
    );

    let r = join("halo1-garbage");
    assert!(
        !r.ok && r.stderr.contains("HALO-E106"),
        "garbage: {}",
        r.stderr
    );

    let short = x
        .halo(0, &["cluster", "token", "--ttl", "1s"])
        .stdout
        .trim()
        .to_string();
    std::thread::sleep(Duration::from_millis(2500));
    let r = join(&short);
    assert!(
        !r.ok && r.stderr.contains("HALO-E105"),
        "expired: {}",
        r.stderr
    );

    let st = x.status(0).unwrap_or_default();
    assert_eq!(
        st["nodes"].as_array().map(Vec::len),
        Some(1),
        "a refused joiner got in"
    );
    let r = join(&good);
    assert!(r.ok, "valid token refused: {}\n{}", r.stderr, x.logs());
}

/// Join tokens: `--uses N` admits N nodes and then the token is refused as used up
/// (HALO-E145); `token list` shows ids, uses left and expiry but never the secret; a
/// revoked token is refused (HALO-E144); the token is read from standard input or a
/// file, and one given on the command line draws a warning.
#[test]
fn security_join_tokens_counted_listed_revoked_and_off_argv() {
    let mut x = formed("tokuse", &["x1"]);
    let zs: Vec<usize> = ["z1", "z2", "z3"].iter().map(|n| x.add(n, false)).collect();
    for &z in &zs {
        x.start(z);
    }
    let x1 = x.daemons[0].addr.clone();
    let list = |x: &Cluster| -> Vec<Value> {
        let r = x.halo(0, &["cluster", "token", "list", "--json"]);
        assert!(r.ok, "{}", r.stderr);
        serde_json::from_str::<Value>(&r.stdout)
            .ok()
            .and_then(|v| v.as_array().cloned())
            .unwrap_or_default()
    };
    let ids = |l: &[Value]| -> Vec<String> {
        l.iter()
            .filter_map(|t| t["id"].as_str().map(str::to_string))
            .collect()
    };
    let before = ids(&list(&x));
    let t = x.halo(0, &["cluster", "token", "--uses", "2", "--ttl", "1h"]);
    assert!(t.ok, "{}", t.stderr);
    let token = t.stdout.trim().to_string();
    let id = ids(&list(&x))
        .into_iter()
        .find(|i| !before.contains(i))
        .unwrap_or_default();
    let uses_left = |x: &Cluster, id: &str| {
        list(x)
            .into_iter()
            .find(|t| t["id"] == id)
            .map(|t| t["uses_left"].clone())
            .unwrap_or_default()
    };
    assert_eq!(uses_left(&x, &id), 2);
    for args in [&["token", "list"][..], &["token", "list", "--json"][..]] {
        let r = x.halo(0, &[&["cluster"][..], args].concat());
        assert!(r.stdout.contains(&id), "{}", r.stdout);
        assert!(!r.stdout.contains(&token[10..]), "the list shows a secret");
    }

    // From standard input, without --token, then with `--token -`.
    let r = x.halo_stdin(zs[0], &["cluster", "join", &x1], &format!("{token}\n"));
    assert!(r.ok, "stdin join: {}\n{}", r.stderr, x.logs());
    assert_eq!(uses_left(&x, &id), 1);
    let r = x.halo_stdin(zs[1], &["cluster", "join", &x1, "--token", "-"], &token);
    assert!(r.ok, "--token - join: {}\n{}", r.stderr, x.logs());
    assert!(!r.stderr.contains("warning"), "{}", r.stderr);
    // Used up; on the command line it still works as an option, with a warning.
    let r = x.halo(zs[2], &["cluster", "join", &x1, "--token", &token]);
    assert!(
        !r.ok && r.stderr.contains("HALO-E145"),
        "used up: {}",
        r.stderr
    );
    assert!(r
        .stderr
        .contains("warning: a token given on the command line"));

    let t2 = x.halo(0, &["cluster", "token"]).stdout.trim().to_string();
    let id2 = ids(&list(&x))
        .into_iter()
        .find(|i| *i != id && !before.contains(i))
        .unwrap_or_default();
    let r = x.halo(0, &["cluster", "token", "revoke", &id2]);
    assert!(r.ok, "{}", r.stderr);
    let file = x.root.join("t2.token");
    std::fs::write(&file, &t2).unwrap_or_else(|e| panic!("{e}"));
    let r = x.halo(
        zs[2],
        &[
            "cluster",
            "join",
            &x1,
            "--token-file",
            &file.display().to_string(),
        ],
    );
    assert!(
        !r.ok && r.stderr.contains("HALO-E144"),
        "revoked: {}",
        r.stderr
    );
    let r = x.halo(0, &["cluster", "token", "revoke", "0123456789abcdef"]);
    assert!(!r.ok && r.stderr.contains("HALO-E146"), "{}", r.stderr);
    // Without a token and with nothing on standard input.
    let r = x.halo(zs[2], &["cluster", "join", &x1]);
    assert!(!r.ok && r.stderr.contains("token"), "{}", r.stderr);
    let st = x.status(0).unwrap_or_default();
    assert_eq!(st["nodes"].as_array().map(Vec::len), Some(3));
}

/// `halo cluster stop` takes a node out (peers see it offline) without losing its data, and
/// `halo cluster start` brings it back.
#[test]
fn membership_stop_and_start_keep_data() {
    let c = formed("stopstart", &["n1", "n2", "n3"]);
    let r = c.halo(2, &["cluster", "stop"]);
    assert!(r.ok, "{}", r.stderr);
    poll(DEADLINE, || {
        c.status(0).filter(|s| node(s, "n3")["online"] == false)
    })
    .unwrap_or_else(|| panic!("n3 still online after stop\n{}", c.logs()));
    assert_eq!(c.status(2).unwrap_or_default()["state"], "stopped");
    assert!(c.halo(0, &["cluster", "token"]).ok);
    let r = c.halo(2, &["cluster", "start"]);
    assert!(r.ok, "{}", r.stderr);
    c.wait_quorate(2);
    let h0 = c.history(0).unwrap_or_default();
    poll(DEADLINE, || c.history(2).filter(|h| *h == h0))
        .unwrap_or_else(|| panic!("n3 did not catch up\n{}", c.logs()));
}

/// `halo cluster setup` bundles start a cluster without init or join.
#[test]
fn membership_offline_setup_bundles_form_a_cluster() {
    let mut c = Cluster::new(bin(), "setup");
    for n in ["s1", "s2", "s3"] {
        c.add(n, false);
    }
    let out = c.root.join("bundles");
    let mut args: Vec<String> = vec![
        "cluster".into(),
        "setup".into(),
        "--name".into(),
        "offline".into(),
    ];
    for d in &c.daemons {
        args.push(format!("{}={}", d.name, d.addr));
    }
    args.push("--out".into());
    args.push(out.display().to_string());
    let argv: Vec<&str> = args.iter().map(String::as_str).collect();
    let r = c.halo(0, &argv);
    assert!(r.ok, "{}", r.stderr);
    for i in 0..3 {
        let name = c.daemons[i].name.clone();
        std::fs::rename(out.join(&name), &c.daemons[i].dir).unwrap_or_else(|e| panic!("{e}"));
        c.start(i);
    }
    for i in 0..3 {
        let st = c.wait_quorate(i);
        assert_eq!(st["nodes"].as_array().map(Vec::len), Some(3));
    }
    let st = poll(DEADLINE, || {
        c.status(0)
            .filter(|s| s["cluster"] == "offline" && s["epoch"].as_u64() >= Some(1))
    })
    .unwrap_or_else(|| panic!("cluster record never created\n{}", c.logs()));
    assert_eq!(st["cluster"], "offline");
    assert!(c.halo(1, &["cluster", "token"]).ok);
}

/// `halo resource cleanup` resets a resource's fail counts in the replicated status on
/// every node, through the local daemon.
#[test]
fn resource_cleanup_resets_replicated_fail_counts() {
    let c = formed("cleanup", &["n1", "n2"]);
    let client = halo_api::Client::new(&c.daemons[0].dir);
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap_or_else(|e| panic!("{e}"));
    for n in ["n1", "n2"] {
        rt.block_on(client.propose(halo_consensus::Change::SetFailCount {
            node: n.into(),
            resource: "web".into(),
            count: 3,
        }))
        .unwrap_or_else(|e| panic!("{e}"));
    }
    let counts = |c: &Cluster| -> Value {
        let client = halo_api::Client::new(&c.daemons[1].dir);
        rt.block_on(client.state(true))
            .map(|s| s["fail_counts"].clone())
            .unwrap_or(Value::Null)
    };
    assert_eq!(counts(&c)["n2"]["web"], 3, "{}", counts(&c));
    let r = c.halo(1, &["resource", "cleanup", "web"]);
    assert!(r.ok, "{}\n{}", r.stderr, c.logs());
    assert!(
        r.stdout.contains("n1") && r.stdout.contains("n2"),
        "{}",
        r.stdout
    );
    let after = counts(&c);
    assert!(
        after.get("n1").is_none() && after.get("n2").is_none(),
        "{after}"
    );
}

/// SHA-256 of the certificate in daemon `i`'s `tls/node.pem`.
fn cert_fingerprint(c: &Cluster, i: usize) -> String {
    let pem = std::fs::read_to_string(c.daemons[i].dir.join("tls/node.pem")).unwrap_or_default();
    halo_consensus::pki::fingerprint_pem(&pem).unwrap_or_default()
}

/// Log lines that say a connection between nodes was refused or a renewal failed.
fn refusals(c: &Cluster) -> Vec<String> {
    let mut out = vec![];
    for d in &c.daemons {
        let text = std::fs::read_to_string(d.log_path()).unwrap_or_default();
        out.extend(
            text.lines()
                .filter(|l| {
                    ["HALO-E147", "HALO-E190", "HALO-E191", "HALO-E193"]
                        .iter()
                        .any(|code| l.contains(code))
                        || l.contains("refused a peer at the TLS handshake")
                        || l.contains("refused a certificate that is not a member's")
                        || l.contains("certificate renewal:")
                })
                .map(|l| format!("{}: {l}", d.name)),
        );
    }
    out
}

/// Three daemons whose certificates are valid 20 s (`--cert-validity 20s`): each node
/// renews its own before it expires, the cluster records every new fingerprint, no
/// connection is refused, and the cluster stays quorate throughout (two lifetimes and
/// more).
#[test]
fn certs_short_lived_renewed_without_a_refused_connection() {
    let mut c = Cluster::new(bin(), "renew");
    for n in ["n1", "n2", "n3"] {
        let i = c.add(n, false);
        c.daemons[i].extra_args = vec!["--cert-validity".into(), "20s".into()];
        c.start(i);
    }
    c.form(0, &[1, 2]);
    for i in 0..3 {
        c.wait_quorate(i);
    }
    let mut seen: Vec<std::collections::BTreeSet<String>> = (0..3)
        .map(|i| [cert_fingerprint(&c, i)].into_iter().collect())
        .collect();
    let start = std::time::Instant::now();
    let mut samples = 0;
    let mut not_quorate = 0;
    while start.elapsed() < Duration::from_secs(50) {
        std::thread::sleep(Duration::from_millis(500));
        for (i, s) in seen.iter_mut().enumerate() {
            s.insert(cert_fingerprint(&c, i));
        }
        samples += 1;
        if c.status(samples % 3).map(|s| s["quorate"] == true) != Some(true) {
            not_quorate += 1;
        }
    }
    for (i, s) in seen.iter().enumerate() {
        assert!(
            s.len() >= 3,
            "{} renewed its certificate {} time(s) in 50 s\n{}",
            c.daemons[i].name,
            s.len() - 1,
            c.logs()
        );
    }
    // Six switches in 50 s: each re-dials the peers, and on a loaded machine one may
    // cost a heartbeat and an election (half a second); never more than two seconds in
    // all.
    assert!(
        not_quorate <= 4,
        "not quorate in {not_quorate} of {samples} samples\n{}",
        c.logs()
    );
    let refused = refusals(&c);
    assert!(refused.is_empty(), "{}", refused.join("\n"));
    for i in 0..3 {
        c.wait_quorate(i);
    }
    let show = c.halo(0, &["cluster", "certs", "show", "--json"]);
    assert!(show.ok, "{}", show.stderr);
    let certs: Value = serde_json::from_str(&show.stdout).unwrap_or(Value::Null);
    for i in 0..3 {
        let rec = certs
            .as_array()
            .and_then(|a| a.iter().find(|r| r["node"] == c.daemons[i].name.as_str()))
            .cloned()
            .unwrap_or(Value::Null);
        assert_eq!(rec["renewed"], true, "{certs}");
        assert!(rec["not_after_ms"].is_u64(), "{certs}");
    }
    let t = c.halo(0, &["cluster", "token"]);
    assert!(t.ok, "no change commits after the renewals: {}", t.stderr);
}

/// `halo cluster certs rotate` gives every node a new certificate (a new fingerprint,
/// recorded by the cluster) while the cluster stays quorate; a copy of an old
/// certificate and key is refused afterwards.
#[test]
fn certs_rotate_gives_every_node_a_new_certificate() {
    let c = formed("rotate", &["n1", "n2", "n3"]);
    let before: Vec<String> = (0..3).map(|i| cert_fingerprint(&c, i)).collect();
    // A copy of n2's certificate and key as they are now.
    let old = c.root.join("old-n2");
    std::fs::create_dir_all(old.join("tls")).unwrap_or_else(|e| panic!("{e}"));
    for f in ["node.pem", "node.key", "ca.pem"] {
        std::fs::copy(
            c.daemons[1].dir.join("tls").join(f),
            old.join("tls").join(f),
        )
        .unwrap_or_else(|e| panic!("{f}: {e}"));
    }
    let r = c.halo(0, &["cluster", "certs", "rotate", "--json"]);
    assert!(r.ok, "rotate: {}\n{}", r.stderr, c.logs());
    let certs: Value = serde_json::from_str(&r.stdout).unwrap_or(Value::Null);
    for (i, old_fp) in before.iter().enumerate() {
        let now = cert_fingerprint(&c, i);
        assert_ne!(&now, old_fp, "{} kept its certificate", c.daemons[i].name);
        let rec = certs
            .as_array()
            .and_then(|a| a.iter().find(|r| r["node"] == c.daemons[i].name.as_str()))
            .cloned()
            .unwrap_or(Value::Null);
        assert_eq!(rec["cert_sha256"], now.as_str(), "{certs}");
        assert!(rec["previous_cert_sha256"].is_null(), "{certs}");
    }
    for i in 0..3 {
        c.wait_quorate(i);
    }
    let t = c.halo(1, &["cluster", "token"]);
    assert!(t.ok, "no change commits after the rotation: {}", t.stderr);
    let refused = refusals(&c);
    assert!(refused.is_empty(), "{}", refused.join("\n"));
    // The old certificate of n2 is no longer admitted.
    let r = probe::ping_with_cert(&old, &old, "n1", &c.daemons[0].addr);
    let err = r.err().unwrap_or_default();
    assert!(err.contains("HALO-E147"), "n2's old certificate: {err}");
    // `certs show` prints a line per node.
    let show = c.halo(2, &["cluster", "certs", "show"]);
    assert!(show.ok, "{}", show.stderr);
    for i in 0..3 {
        assert!(
            show.stdout.contains(&cert_fingerprint(&c, i)),
            "{}",
            show.stdout
        );
    }

    // `--new-ca`: every node ends with a certificate of one new CA, trusts only it,
    // and the cluster keeps committing.
    let ca_file = |i: usize| c.daemons[i].dir.join("tls/ca.pem");
    let old_ca = std::fs::read_to_string(ca_file(0)).unwrap_or_default();
    let r = c.halo(0, &["cluster", "certs", "rotate", "--new-ca", "--json"]);
    assert!(r.ok, "rotate --new-ca: {}\n{}", r.stderr, c.logs());
    let certs: Value = serde_json::from_str(&r.stdout).unwrap_or(Value::Null);
    let cas: std::collections::BTreeSet<String> = certs
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|r| r["ca_sha256"].as_str().map(str::to_string))
        .collect();
    assert_eq!(cas.len(), 1, "{certs}");
    for i in 0..3 {
        c.wait_quorate(i);
        let only_new = halo_testkit::cluster::poll(std::time::Duration::from_secs(30), || {
            let now = std::fs::read_to_string(ca_file(i)).unwrap_or_default();
            (now != old_ca && now.matches("BEGIN CERTIFICATE").count() == 1).then_some(())
        });
        assert!(
            only_new.is_some(),
            "{} trusts:\n{}",
            c.daemons[i].name,
            std::fs::read_to_string(ca_file(i)).unwrap_or_default()
        );
    }
    let t = c.halo(2, &["cluster", "token"]);
    assert!(t.ok, "no change commits after the new CA: {}", t.stderr);
    let history = c.halo(1, &["cluster", "history"]);
    assert!(
        history
            .stdout
            .contains("finish moving to the new cluster CA"),
        "{}",
        history.stdout
    );
}
