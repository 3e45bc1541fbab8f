//! pcs's configuration vocabulary on a live three-node cluster (loopback): properties,
//! resources, clones, constraints, move/ban/clear, enable/disable, standby and delete,
//! each checked by what Debian's `ocf:heartbeat:Dummy` agents really run (their state
//! files), and bad commands refused with the reason.

use std::path::{Path, PathBuf};

use halo_testkit::cluster::{poll, Cluster, DEADLINE};

fn bin() -> &'static Path {
    Path::new(env!("CARGO_BIN_EXE_halo"))
}

const DUMMY: &str = "/usr/lib/ocf/resource.d/heartbeat/Dummy";

fn state_file(c: &Cluster, i: usize, rsc: &str) -> PathBuf {
    c.daemons[i].rsctmp().join(format!("Dummy-{rsc}.state"))
}

/// Where Dummy `rsc` runs (node indexes), by its state file.
fn where_runs(c: &Cluster, rsc: &str) -> Vec<usize> {
    (0..c.daemons.len())
        .filter(|i| state_file(c, *i, rsc).exists())
        .collect()
}

fn wait_runs(c: &Cluster, rsc: &str, want: &[usize]) {
    let ok = poll(DEADLINE, || (where_runs(c, rsc) == want).then_some(()));
    assert!(
        ok.is_some(),
        "{rsc} should run on {want:?}, runs on {:?}\n{}",
        where_runs(c, rsc),
        c.logs()
    );
}

/// Run `halo ARGS` on node 0 and require success; its output.
fn ok(c: &Cluster, args: &[&str]) -> String {
    let r = c.halo(0, args);
    assert!(r.ok, "halo {}: {}\n{}", args.join(" "), r.stderr, c.logs());
    r.stdout
}

/// Run `halo ARGS` on node 0 and require a refusal; its error.
fn refused(c: &Cluster, args: &[&str]) -> String {
    let r = c.halo(0, args);
    assert!(!r.ok, "halo {} should fail: {}", args.join(" "), r.stdout);
    r.stderr
}

#[test]
fn pcs_vocabulary_drives_the_live_cluster() {
    if !halo_testkit::installed(DUMMY, "resource-agents") {
        return;
    }
    let c = Cluster::formed(bin(), "pcs-vocab", &["n1", "n2", "n3"]);

    // Properties, as the reference deployment sets them.
    ok(
        &c,
        &[
            "property",
            "set",
            "no-quorum-policy=stop",
            "cluster-recheck-interval=5min",
        ],
    );
    let props = ok(&c, &["property", "list"]);
    assert!(props.contains("cluster-recheck-interval: 5min"), "{props}");
    let all = ok(&c, &["property", "list", "--all"]);
    assert!(all.contains("stonith-timeout: 60s (default)"), "{all}");
    ok(&c, &["property", "unset", "cluster-recheck-interval"]);
    assert!(!ok(&c, &["property", "list"]).contains("cluster-recheck-interval"));

    // Resources: a primitive with an op and meta, a clone, an order and a colocation.
    ok(
        &c,
        &[
            "resource",
            "create",
            "db",
            "ocf:heartbeat:Dummy",
            "op",
            "monitor",
            "interval=2s",
            "meta",
            "resource-stickiness=100",
        ],
    );
    ok(&c, &["resource", "create", "api", "Dummy", "--clone"]);
    ok(
        &c,
        &[
            "constraint",
            "order",
            "start",
            "db",
            "then",
            "api-clone",
            "kind=Optional",
        ],
    );
    ok(&c, &["resource", "create", "web", "ocf:heartbeat:Dummy"]);
    ok(
        &c,
        &["constraint", "colocation", "add", "web", "with", "db"],
    );
    poll(DEADLINE, || (where_runs(&c, "db").len() == 1).then_some(()));
    let db = where_runs(&c, "db");
    assert_eq!(db.len(), 1, "db runs once: {db:?}");
    wait_runs(&c, "web", &db);
    wait_runs(&c, "api", &[0, 1, 2]);
    let list = ok(&c, &["constraint", "list"]);
    assert!(list.contains("order-db-api-clone-Optional"), "{list}");
    assert!(list.contains("colocation-web-db-INFINITY"), "{list}");
    let shown = ok(&c, &["resource", "show", "db"]);
    assert!(shown.contains("interval = \"2s\""), "{shown}");
    let listed = ok(&c, &["resource"]);
    assert!(listed.contains("api-clone"), "{listed}");

    // move, ban, clear: the resource follows its constraints; web follows db.
    let other = (db[0] + 1) % 3;
    let other_name = c.daemons[other].name.clone();
    ok(&c, &["resource", "move", "db", &other_name]);
    wait_runs(&c, "db", &[other]);
    wait_runs(&c, "web", &[other]);
    // The recorded status follows the agents a moment later.
    let st: serde_json::Value = poll(DEADLINE, || {
        let st: serde_json::Value = serde_json::from_str(&ok(&c, &["status", "--json"])).ok()?;
        let db = st["resources"]
            .as_array()?
            .iter()
            .find(|r| r["id"] == "db")?
            .clone();
        (db["state"] == "started" && db["node"] == other_name.as_str()).then_some(st)
    })
    .unwrap_or_else(|| {
        panic!(
            "db never shown started on {other_name}: {}",
            ok(&c, &["status", "--json"])
        )
    });
    let rsc = |id: &str| {
        st["resources"]
            .as_array()
            .and_then(|a| a.iter().find(|r| r["id"] == id))
            .cloned()
            .unwrap_or_else(|| panic!("no {id} in {st}"))
    };
    assert_eq!(rsc("db")["state"], "started", "{st}");
    assert_eq!(rsc("db")["node"], other_name.as_str(), "{st}");
    assert_eq!(rsc("db")["agent"], "ocf:heartbeat:Dummy", "{st}");
    assert_eq!(rsc("api")["clone"], "api-clone", "{st}");
    assert_eq!(
        rsc("api")["nodes"].as_array().map(Vec::len),
        Some(3),
        "{st}"
    );
    assert_eq!(
        st["constraints_temporary"][0]["id"], "cli-prefer-db",
        "{st}"
    );
    // Parts of the status, as pcs status cluster|nodes|resources|constraints|corosync.
    let membership = ok(&c, &["status", "corosync"]);
    assert!(membership.contains("Quorum: yes") && membership.contains("Nodes:"));
    assert!(!membership.contains("Resources:"), "{membership}");
    let only = ok(&c, &["status", "resources"]);
    assert!(
        only.contains("api-clone") && !only.contains("Quorum"),
        "{only}"
    );
    let cons = ok(&c, &["status", "constraints"]);
    assert!(
        cons.contains("cli-prefer-db") && !cons.contains("Nodes:"),
        "{cons}"
    );
    ok(&c, &["resource", "ban", "db", &other_name]);
    poll(DEADLINE, || {
        let now = where_runs(&c, "db");
        (now.len() == 1 && now[0] != other).then_some(())
    });
    assert!(!where_runs(&c, "db").contains(&other));
    let status = ok(&c, &["status"]);
    assert!(
        status.contains("Temporary constraints") && status.contains("cli-ban-db-on-"),
        "{status}"
    );
    let cleared = ok(&c, &["resource", "clear", "db"]);
    assert!(cleared.contains("cli-prefer-db") && cleared.contains("cli-ban-db-on-"));

    // A monitor failure shows as a failure and a fail count. (The state file is
    // deleted again if the first deletion hit an instance that was being stopped.)
    let mut deleted_at: Option<std::time::Instant> = None;
    let failed = poll(DEADLINE, || {
        if deleted_at.is_none_or(|t| t.elapsed() > std::time::Duration::from_secs(6)) {
            if let Some(&i) = where_runs(&c, "db").first() {
                let _ = std::fs::remove_file(state_file(&c, i, "db"));
                deleted_at = Some(std::time::Instant::now());
            }
        }
        let st: serde_json::Value = serde_json::from_str(&ok(&c, &["status", "--json"])).ok()?;
        let db = st["resources"]
            .as_array()?
            .iter()
            .find(|r| r["id"] == "db")?
            .clone();
        let f = st["failures"]
            .as_array()?
            .iter()
            .any(|f| f["resource"] == "db");
        (db["failcount"].as_u64()? >= 1 && f).then_some(())
    });
    assert!(failed.is_some(), "{}", ok(&c, &["status", "--json"]));

    let counts = ok(&c, &["resource", "failcount", "show", "db"]);
    assert!(
        counts.contains("db: ") && counts.contains("failure(s)"),
        "{counts}"
    );
    assert_eq!(
        ok(&c, &["resource", "failcount", "show", "web"]).trim(),
        "no failures"
    );
    // cleanup without a resource: every resource that failed.
    let cleaned = ok(&c, &["resource", "cleanup"]);
    assert!(cleaned.contains("Cleaned up db on"), "{cleaned}");
    assert_eq!(
        ok(&c, &["resource", "failcount", "show", "db"]).trim(),
        "no failures"
    );
    assert!(ok(&c, &["resource", "cleanup"]).contains("No failures to clean up"));

    // The whole configuration of every resource, of every constraint.
    let full = ok(&c, &["resource", "show", "--full"]);
    assert!(
        full.contains("id = \"db\"") && full.contains("id = \"web\""),
        "{full}"
    );
    let full = ok(&c, &["constraint", "list", "--full"]);
    assert!(
        full.contains("[[") && full.contains("resource = "),
        "{full}"
    );

    // Defaults and operations.
    ok(&c, &["resource", "defaults", "migration-threshold=3"]);
    assert!(ok(&c, &["resource", "defaults"]).contains("migration-threshold: 3"));
    ok(&c, &["resource", "op", "defaults", "timeout=45s"]);
    assert!(ok(&c, &["resource", "op", "defaults"]).contains("timeout: 45s"));
    ok(
        &c,
        &["resource", "op", "add", "web", "monitor", "interval=7s"],
    );
    assert!(ok(&c, &["resource", "show", "web"]).contains("interval = \"7s\""));
    ok(
        &c,
        &["resource", "op", "remove", "web", "monitor", "interval=7s"],
    );
    assert!(!ok(&c, &["resource", "show", "web"]).contains("7s"));
    assert!(refused(&c, &["resource", "op", "remove", "web", "promote"])
        .contains("no operation promote"));

    // disable / enable.
    ok(&c, &["resource", "disable", "api-clone"]);
    wait_runs(&c, "api", &[]);
    // The recorded status follows the agents' stops a moment later.
    let why = poll(DEADLINE, || {
        let w = ok(&c, &["why", "api-clone"]);
        (w.contains("now stopped") && !w.contains("now Started")).then_some(w)
    });
    assert!(why.is_some(), "{}", ok(&c, &["why", "api-clone"]));
    ok(&c, &["resource", "enable", "api-clone"]);
    wait_runs(&c, "api", &[0, 1, 2]);

    // Standby drains a node; unstandby lets it run again.
    let n3 = c.daemons[2].name.clone();
    ok(&c, &["node", "standby", &n3]);
    wait_runs(&c, "api", &[0, 1]);
    let nodes = ok(&c, &["status", "nodes"]);
    assert!(
        nodes
            .lines()
            .any(|l| l.contains(&n3) && l.contains("(standby")),
        "{nodes}"
    );
    let json: serde_json::Value =
        serde_json::from_str(&ok(&c, &["status", "--json"])).unwrap_or_default();
    let standby: Vec<bool> = json["nodes"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|n| n["standby"] == true)
        .collect();
    assert_eq!(standby, [false, false, true], "{json}");
    ok(&c, &["node", "unstandby", &n3]);
    wait_runs(&c, "api", &[0, 1, 2]);

    let why = ok(&c, &["why", "web"]);
    assert!(why.contains("web: now Started on"), "{why}");
    assert!(refused(&c, &["why", "nope"]).contains("no resource named nope"));

    // Bad commands are refused with the reason; nothing changes.
    assert!(refused(&c, &["resource", "create", "db", "Dummy"]).contains("already exists"));
    assert!(refused(&c, &["resource", "move", "db", "nowhere"]).contains("no node named nowhere"));
    assert!(refused(&c, &["resource", "create", "x", "ocf:Dummy"]).contains("provider"));
    assert!(
        refused(&c, &["constraint", "order", "db", "api-clone"]).contains("expected"),
        "order without then"
    );
    assert!(refused(&c, &["constraint", "remove", "nope"]).contains("no constraint named nope"));

    // Groups and clones made from existing resources, and undone.
    ok(&c, &["resource", "create", "g1", "Dummy"]);
    ok(&c, &["resource", "create", "g2", "Dummy"]);
    ok(&c, &["resource", "group", "add", "grp", "g1", "g2"]);
    let together = poll(DEADLINE, || {
        let (a, b) = (where_runs(&c, "g1"), where_runs(&c, "g2"));
        (a.len() == 1 && a == b).then_some(())
    });
    assert!(
        together.is_some(),
        "{:?} {:?}",
        where_runs(&c, "g1"),
        where_runs(&c, "g2")
    );
    ok(&c, &["resource", "group", "remove", "grp"]);
    assert!(refused(&c, &["resource", "show", "grp"]).contains("no resource named grp"));
    ok(&c, &["resource", "clone", "g1"]);
    wait_runs(&c, "g1", &[0, 1, 2]);
    ok(&c, &["resource", "unclone", "g1-clone"]);
    poll(DEADLINE, || (where_runs(&c, "g1").len() == 1).then_some(()));
    assert_eq!(where_runs(&c, "g1").len(), 1);
    assert!(refused(&c, &["resource", "clone", "nope"]).contains("no top-level resource"));

    // config apply --dry-run: the diff and the transition, nothing committed.
    let mut text = ok(&c, &["config", "show"]);
    text.push_str("\n[[resource]]\nid = \"extra\"\nagent = \"ocf:heartbeat:Dummy\"\n");
    let file = c.root.join("extra.toml");
    std::fs::write(&file, &text).unwrap_or_else(|e| panic!("{e}"));
    let preview = ok(
        &c,
        &["config", "apply", &file.display().to_string(), "--dry-run"],
    );
    assert!(preview.contains("+ id = \"extra\""), "{preview}");
    assert!(
        preview
            .lines()
            .any(|l| l.contains("Start") && l.contains("extra")),
        "{preview}"
    );
    assert!(preview.contains("nothing committed"), "{preview}");
    assert!(refused(&c, &["resource", "show", "extra"]).contains("no resource named extra"));
    // A property halo accepts without effect is set, with a note saying so.
    let r = c.halo(0, &["property", "set", "pe-input-series-max=100"]);
    assert!(
        r.ok && r.stderr.contains("note:") && r.stderr.contains("no effect in halo"),
        "{}",
        r.stderr
    );
    assert!(
        refused(&c, &["property", "describe", "no-such-thing"]).contains("not a cluster property")
    );

    // --dry-run on a single command: the same preview, nothing committed; a command that
    // changes no configuration refuses to run under it.
    let preview = ok(
        &c,
        &[
            "resource",
            "create",
            "extra",
            "ocf:heartbeat:Dummy",
            "--dry-run",
        ],
    );
    assert!(preview.contains("+ id = \"extra\""), "{preview}");
    assert!(
        preview
            .lines()
            .any(|l| l.contains("Start") && l.contains("extra")),
        "{preview}"
    );
    let preview = ok(&c, &["resource", "ban", "db", "n1", "--dry-run"]);
    assert!(preview.contains("nothing committed"), "{preview}");
    let preview = ok(&c, &["property", "set", "batch-limit=3", "--dry-run"]);
    assert!(preview.contains("batch-limit"), "{preview}");
    assert!(refused(&c, &["resource", "show", "extra"]).contains("no resource named extra"));
    assert!(!ok(&c, &["constraint", "list"]).contains("cli-ban-db"));
    assert!(!ok(&c, &["property", "list"]).contains("batch-limit"));
    assert!(refused(&c, &["resource", "cleanup", "db", "--dry-run"]).contains("no dry run"));

    // delete takes the resource's constraints along, and the resource stops.
    ok(&c, &["resource", "delete", "db"]);
    wait_runs(&c, "db", &[]);
    let list = ok(&c, &["constraint", "list"]);
    assert!(!list.contains("db"), "{list}");

    // status --watch: frames keep coming, and a resource created meanwhile shows up in
    // one of them as the one-shot status shows it.
    let mut watch = std::process::Command::new(bin())
        .args(["status", "--watch", "--interval", "200ms"])
        .env("HALO_STATE_DIR", &c.daemons[0].dir)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap_or_else(|e| panic!("{e}"));
    let stdout = watch.stdout.take().unwrap_or_else(|| panic!("no stdout"));
    let (tx, rx) = std::sync::mpsc::channel::<String>();
    std::thread::spawn(move || {
        use std::io::BufRead;
        for line in std::io::BufReader::new(stdout)
            .lines()
            .map_while(Result::ok)
        {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    ok(
        &c,
        &["resource", "create", "watched", "ocf:heartbeat:Dummy"],
    );
    let once = poll(DEADLINE, || {
        (where_runs(&c, "watched").len() == 1).then_some(())
    });
    assert!(once.is_some(), "watched never ran\n{}", c.logs());
    // The line once the status records it started (the agent's state file comes first).
    let line = poll(DEADLINE, || {
        let shown = ok(&c, &["status", "resources"]);
        shown
            .lines()
            .find(|l| l.contains("watched") && l.contains("Started"))
            .map(str::to_string)
    })
    .unwrap_or_else(|| panic!("status never shows watched started\n{}", c.logs()));
    let (mut frames, mut seen) = (0, false);
    let deadline = std::time::Instant::now() + DEADLINE;
    while !seen && std::time::Instant::now() < deadline {
        if let Ok(l) = rx.recv_timeout(std::time::Duration::from_millis(500)) {
            frames += usize::from(l.starts_with("Every 0.2s: halo status"));
            seen = frames >= 2 && l == line;
        }
    }
    let _ = watch.kill();
    let _ = watch.wait();
    assert!(
        seen,
        "status --watch never showed {line:?} ({frames} frames)"
    );

    // restart: stopped, then started again (Dummy's state file made anew), its
    // target-role as before; a resource that does not run is not restarted.
    let mtime = |i: usize| {
        std::fs::metadata(state_file(&c, i, "watched"))
            .and_then(|m| m.modified())
            .ok()
    };
    let was = where_runs(&c, "watched")[0];
    let before = mtime(was);
    let out = ok(&c, &["resource", "restart", "watched"]);
    assert!(out.contains("watched restarted"), "{out}");
    let now = where_runs(&c, "watched");
    assert_eq!(now.len(), 1, "{now:?}");
    assert!(mtime(now[0]) > before, "the state file was not made anew");
    assert!(!ok(&c, &["resource", "show", "watched"]).contains("target-role"));
    ok(&c, &["resource", "disable", "watched"]);
    wait_runs(&c, "watched", &[]);
    assert!(refused(&c, &["resource", "restart", "watched"]).contains("does not run"));
}

/// The configuration's past versions: history, diff, rollback (a resource created since
/// goes away and stops), edit through $EDITOR (a bad edit commits nothing and is kept),
/// and export as a CIB that `halo simulate` and Pacemaker's `crm_simulate` take, imported
/// back.
#[test]
fn versioned_configuration() {
    if !halo_testkit::installed(DUMMY, "resource-agents") {
        return;
    }
    let c = Cluster::formed(bin(), "config-versions", &["n1", "n2", "n3"]);
    let epoch_of = |out: &str| -> u64 {
        out.rsplit("(epoch ")
            .next()
            .and_then(|r| r.split(')').next())
            .and_then(|n| n.parse().ok())
            .unwrap_or_else(|| panic!("no epoch in {out:?}"))
    };
    let a = epoch_of(&ok(&c, &["property", "set", "batch-limit=3"]));
    ok(&c, &["resource", "create", "r1", "ocf:heartbeat:Dummy"]);
    poll(DEADLINE, || (where_runs(&c, "r1").len() == 1).then_some(()));
    assert_eq!(where_runs(&c, "r1").len(), 1, "r1 never ran");
    ok(&c, &["property", "set", "batch-limit=5"]);

    let history = ok(&c, &["config", "history"]);
    assert!(
        history.lines().count() >= 4 && history.contains(&format!("{a:>6}  ")),
        "{history}"
    );
    // Who made each change: the local caller, by its credentials.
    assert!(
        history.contains(" who ") && history.contains("@local"),
        "{history}"
    );
    let diff = ok(&c, &["config", "diff", &a.to_string()]);
    assert!(
        diff.contains("+ id = \"r1\"")
            && diff.contains("- batch-limit = 3")
            && diff.contains("+ batch-limit = 5"),
        "{diff}"
    );
    assert!(refused(&c, &["config", "diff", "0"]).contains("older than the oldest"));

    let preview = ok(&c, &["config", "rollback", &a.to_string(), "--dry-run"]);
    assert!(
        preview
            .lines()
            .any(|l| l.contains("Stop") && l.contains("r1")),
        "{preview}"
    );
    assert_eq!(where_runs(&c, "r1").len(), 1, "a dry run stopped r1");
    ok(&c, &["config", "rollback", &a.to_string()]);
    wait_runs(&c, "r1", &[]);
    assert!(ok(&c, &["property", "list"]).contains("batch-limit: 3"));

    // A file `config show` wrote is refused once the configuration changed, unless forced.
    let shown = ok(&c, &["config", "show"]);
    let file = c.root.join("shown.toml");
    std::fs::write(&file, &shown).unwrap_or_else(|e| panic!("{e}"));
    ok(&c, &["config", "apply", &file.display().to_string()]);
    ok(&c, &["property", "set", "batch-limit=6"]);
    let err = refused(&c, &["config", "apply", &file.display().to_string()]);
    assert!(
        err.contains("HALO-E154") && err.contains("--force"),
        "{err}"
    );
    ok(
        &c,
        &["config", "apply", &file.display().to_string(), "--force"],
    );
    assert!(ok(&c, &["property", "list"]).contains("batch-limit: 3"));

    // config edit: the editor is a command that changes the file.
    let edit = |editor: &str| {
        std::process::Command::new(bin())
            .args(["config", "edit"])
            .env("HALO_STATE_DIR", &c.daemons[0].dir)
            .env("EDITOR", editor)
            .env_remove("VISUAL")
            .output()
            .unwrap_or_else(|e| panic!("{e}"))
    };
    let o = edit("sed -i 's/batch-limit = 3/batch-limit = 4/'");
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert!(ok(&c, &["property", "list"]).contains("batch-limit: 4"));
    let o = edit("sh -c 'echo \"[[resource]] nonsense\" >> \"$0\"'");
    let err = String::from_utf8_lossy(&o.stderr).to_string();
    assert!(
        !o.status.success() && err.contains("nothing changed"),
        "{err}"
    );
    let kept = err
        .split("kept in ")
        .nth(1)
        .and_then(|r| r.split(':').next())
        .unwrap_or_else(|| panic!("{err}"));
    assert!(std::path::Path::new(kept).exists(), "{kept}");
    let _ = std::fs::remove_file(kept);
    assert!(ok(&c, &["property", "list"]).contains("batch-limit: 4"));

    // Export as a CIB: both simulators take it; imported back, it changes nothing.
    ok(&c, &["resource", "create", "r2", "ocf:heartbeat:Dummy"]);
    poll(DEADLINE, || (where_runs(&c, "r2").len() == 1).then_some(()));
    let xml = ok(&c, &["config", "export", "--format", "xml"]);
    let file = c.root.join("cib.xml");
    std::fs::write(&file, &xml).unwrap_or_else(|e| panic!("{e}"));
    let sim = ok(&c, &["simulate", "-x", &file.display().to_string()]);
    assert!(sim.contains("r2"), "{sim}");
    if halo_testkit::installed("/usr/sbin/crm_simulate", "pacemaker-cli-utils") {
        let o = std::process::Command::new("crm_simulate")
            .args(["-x", &file.display().to_string(), "-S"])
            .output()
            .unwrap_or_else(|e| panic!("{e}"));
        let out = String::from_utf8_lossy(&o.stdout);
        assert!(
            o.status.success() && out.contains("r2"),
            "crm_simulate: {out}{}",
            String::from_utf8_lossy(&o.stderr)
        );
    }
    let preview = ok(
        &c,
        &["config", "import", &file.display().to_string(), "--dry-run"],
    );
    assert!(
        !preview
            .lines()
            .any(|l| l.contains("Stop") || l.contains("Start")),
        "{preview}"
    );
}

/// Rule and set constraints in pcs's words, obeyed by the live cluster: a rule on a node
/// attribute places a resource, a colocation set keeps its members together, an order
/// set is taken; `move --lifetime` ends by itself; a date-spec is refused with the reason.
#[test]
fn rule_and_set_constraints() {
    if !halo_testkit::installed(DUMMY, "resource-agents") {
        return;
    }
    let c = Cluster::formed(bin(), "rules-sets", &["n1", "n2", "n3"]);
    ok(&c, &["node", "attribute", "n2", "rack=a"]);
    for r in ["r1", "r2", "r3"] {
        ok(&c, &["resource", "create", r, "ocf:heartbeat:Dummy"]);
    }
    ok(
        &c,
        &[
            "constraint",
            "location",
            "r1",
            "rule",
            "score=500",
            "rack",
            "eq",
            "a",
            "or",
            "(",
            "defined",
            "nothere",
            "and",
            "rack",
            "ne",
            "a",
            ")",
        ],
    );
    wait_runs(&c, "r1", &[1]);
    // move --lifetime: r1 goes to n3, and once the lifetime is over the DC plans again
    // at that time (not at the next cluster-recheck-interval, made long here): r1 is
    // back on n2.
    ok(&c, &["property", "set", "cluster-recheck-interval=1h"]);
    let moved = ok(&c, &["resource", "move", "r1", "n3", "--lifetime", "4s"]);
    assert!(moved.contains(" until "), "{moved}");
    wait_runs(&c, "r1", &[2]);
    let status = ok(&c, &["status"]);
    assert!(status.contains("date lt "), "{status}");
    wait_runs(&c, "r1", &[1]);
    ok(
        &c,
        &[
            "constraint",
            "colocation",
            "set",
            "r2",
            "r3",
            "setoptions",
            "score=INFINITY",
        ],
    );
    ok(
        &c,
        &[
            "constraint",
            "order",
            "set",
            "r2",
            "set",
            "r3",
            "setoptions",
            "kind=Optional",
        ],
    );
    let together = poll(DEADLINE, || {
        let (a, b) = (where_runs(&c, "r2"), where_runs(&c, "r3"));
        (a.len() == 1 && a == b).then_some(())
    });
    assert!(
        together.is_some(),
        "r2 on {:?}, r3 on {:?}\n{}",
        where_runs(&c, "r2"),
        where_runs(&c, "r3"),
        c.logs()
    );
    let list = ok(&c, &["constraint", "list"]);
    assert!(
        list.contains("rule score=500 rack eq a or ( defined nothere and rack ne a )"),
        "{list}"
    );
    for id in ["location-r1", "colocation-set-r2-r3", "order-set-r2-r3"] {
        assert!(list.contains(id), "{id} not in\n{list}");
    }
    let err = refused(
        &c,
        &[
            "constraint",
            "location",
            "r2",
            "rule",
            "id=d",
            "date-spec",
            "hours=9-17",
        ],
    );
    assert!(
        err.contains("date-spec expressions are not supported"),
        "{err}"
    );
    assert!(refused(&c, &["constraint", "order", "set", "r2", "nothere"]).contains("nothere"));
}
