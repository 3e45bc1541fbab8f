//! The controller on a live three-node cluster of real `halo daemon` processes on
//! 127.0.0.1, running Debian's `ocf:heartbeat:Dummy` unchanged. Where a resource runs is
//! read from the agent's own state file in each node's `HA_RSCTMP` (the daemons share a
//! machine, each has its own), and the order of starts from those files' times.
//! No timing assertions: every wait polls with a generous deadline.

use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use halo_testkit::cluster::{poll, Cluster, DEADLINE};
use serde_json::Value;

fn bin() -> &'static Path {
    Path::new(env!("CARGO_BIN_EXE_halo"))
}

/// One cluster at a time: three daemons each on a two-core machine are load enough;
/// more at once can starve them past their leases (the guard then stops resources of
/// healthy nodes, which these tests would take for a failure).
fn serial() -> std::sync::MutexGuard<'static, ()> {
    static SERIAL: std::sync::Mutex<()> = std::sync::Mutex::new(());
    SERIAL.lock().unwrap_or_else(|e| e.into_inner())
}

const DUMMY: &str = "/usr/lib/ocf/resource.d/heartbeat/Dummy";

/// Whether the test can run: Debian's resource-agents must be installed.
fn have_dummy() -> bool {
    halo_testkit::installed(DUMMY, "resource-agents")
}

fn state_file(c: &Cluster, i: usize, rsc: &str) -> PathBuf {
    c.daemons[i].rsctmp().join(format!("Dummy-{rsc}.state"))
}

/// The nodes (by index, among `among`) where Dummy `rsc` runs, by its state file.
fn where_runs(c: &Cluster, rsc: &str, among: &[usize]) -> Vec<usize> {
    among
        .iter()
        .copied()
        .filter(|i| state_file(c, *i, rsc).exists())
        .collect()
}

fn mtime(c: &Cluster, i: usize, rsc: &str) -> SystemTime {
    std::fs::metadata(state_file(c, i, rsc))
        .and_then(|m| m.modified())
        .unwrap_or_else(|e| panic!("{rsc} on {}: {e}", c.daemons[i].name))
}

/// Wait until Dummy `rsc` runs on exactly the node `on` among `among`.
fn wait_on(c: &Cluster, rsc: &str, on: usize, among: &[usize]) {
    let ok = poll(DEADLINE, || {
        (where_runs(c, rsc, among) == vec![on]).then_some(())
    });
    assert!(
        ok.is_some(),
        "{rsc} should run on {} only, runs on {:?}\n{}",
        c.daemons[on].name,
        where_runs(c, rsc, among),
        c.logs()
    );
}

/// Wait until Dummy `rsc` runs on exactly one node among `among`; returns it.
fn wait_once(c: &Cluster, rsc: &str, among: &[usize]) -> usize {
    poll(DEADLINE, || match where_runs(c, rsc, among).as_slice() {
        [one] => Some(*one),
        _ => None,
    })
    .unwrap_or_else(|| {
        panic!(
            "{rsc} should run on exactly one node, runs on {:?}\n{}",
            where_runs(c, rsc, among),
            c.logs()
        )
    })
}

fn apply(c: &Cluster, via: usize, text: &str) {
    let file = c.root.join("config.toml");
    std::fs::write(&file, text).unwrap_or_else(|e| panic!("{e}"));
    let r = c.halo(via, &["config", "apply", &file.display().to_string()]);
    assert!(r.ok, "config apply failed: {}\n{}", r.stderr, c.logs());
}

fn state(c: &Cluster, i: usize) -> Value {
    let client = halo_api::Client::new(&c.daemons[i].dir);
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap_or_else(|e| panic!("{e}"));
    rt.block_on(client.state(true)).unwrap_or(Value::Null)
}

const CONFIG: &str = r#"
version = 1

[[node]]
name = "n1"
[[node]]
name = "n2"
[[node]]
name = "n3"

[[resource]]
id = "solo"
agent = "ocf:heartbeat:Dummy"
op = [ { name = "monitor", interval = "1s" } ]

[[resource]]
id = "mover"
agent = "ocf:heartbeat:Dummy"
meta = { migration-threshold = "1" }
op = [ { name = "monitor", interval = "1s" } ]

[[resource]]
id = "first"
agent = "ocf:heartbeat:Dummy"
op = [ { name = "monitor", interval = "1s" } ]

[[group]]
id = "g"
[[group.member]]
id = "g1"
agent = "ocf:heartbeat:Dummy"
op = [ { name = "monitor", interval = "1s" } ]
[[group.member]]
id = "g2"
agent = "ocf:heartbeat:Dummy"
op = [ { name = "monitor", interval = "1s" } ]
[[group.member]]
id = "g3"
agent = "ocf:heartbeat:Dummy"
op = [ { name = "monitor", interval = "1s" } ]

[[location]]
id = "solo-on-n2"
resource = "solo"
node = "n2"
score = 100

[[location]]
id = "mover-on-n2"
resource = "mover"
node = "n2"
score = 50

[[location]]
id = "g-on-n3"
resource = "g"
node = "n3"
score = 100

[[colocation]]
id = "first-with-g"
resource = "first"
with = "g"
score = "INFINITY"

[[order]]
id = "first-then-g"
first = "first"
then = "g"
"#;

/// Resources start where the scheduler places them, in the order the constraints say
/// (from the agents' own state files); a failed monitor restarts the resource in place
/// and counts the failure; with migration-threshold=1 a failure moves it away; standby
/// drains a node; a clean shutdown moves the node's resources away first.
#[test]
fn resources_run_where_placed_recover_and_move() {
    let _serial = serial();
    if !have_dummy() {
        return;
    }
    let c = Cluster::formed(bin(), "ctl-place", &["n1", "n2", "n3"]);
    let all = [0, 1, 2];
    apply(&c, 0, CONFIG);
    wait_on(&c, "solo", 1, &all);
    wait_on(&c, "mover", 1, &all);
    for r in ["first", "g1", "g2", "g3"] {
        wait_on(&c, r, 2, &all);
    }
    // The order of starts: first, then the group's members in their order.
    let times: Vec<SystemTime> = ["first", "g1", "g2", "g3"]
        .iter()
        .map(|r| mtime(&c, 2, r))
        .collect();
    assert!(
        times.windows(2).all(|w| w[0] <= w[1]),
        "starts out of order: {times:?}"
    );

    // A monitor failure: the agent's state file disappears, its monitor answers "not
    // running", and the resource is restarted where it was.
    std::fs::remove_file(state_file(&c, 1, "solo")).unwrap_or_else(|e| panic!("{e}"));
    wait_on(&c, "solo", 1, &all);
    let fails = poll(DEADLINE, || {
        let v = state(&c, 0)["fail_counts"]["n2"]["solo"].clone();
        v.as_u64().filter(|n| *n >= 1)
    });
    assert!(fails.is_some(), "{}", state(&c, 0)["fail_counts"]);

    // migration-threshold=1: one failure moves it away from n2 for good.
    std::fs::remove_file(state_file(&c, 1, "mover")).unwrap_or_else(|e| panic!("{e}"));
    let now = wait_once(&c, "mover", &all);
    assert_ne!(now, 1, "mover should have left n2");

    // Standby drains n3: the group and what is colocated with it move together, once
    // the load balancers have had `standby-drain-time` to take sessions away from it.
    let standby = CONFIG
        .replace(
            "[[node]]\nname = \"n3\"",
            "[[node]]\nname = \"n3\"\nstandby = true",
        )
        .replace(
            "version = 1\n",
            "version = 1\n[properties]\nstandby-drain-time = \"4s\"\n",
        );
    let put = std::time::Instant::now();
    apply(&c, 1, &standby);
    assert_eq!(
        where_runs(&c, "g1", &all),
        [2],
        "g1 left n3 before its drain"
    );
    let to = wait_once(&c, "g1", &[0, 1]);
    assert!(
        put.elapsed() >= Duration::from_secs(4),
        "g1 moved after {:?}, within the drain time",
        put.elapsed()
    );
    for r in ["first", "g2", "g3"] {
        wait_on(&c, r, to, &all);
    }
    assert!(where_runs(&c, "g1", &[2]).is_empty());

    // A clean shutdown (SIGTERM) moves n1's resources away before the daemon exits.
    let mut c = c;
    let on_n1: Vec<&str> = ["solo", "mover", "first", "g1", "g2", "g3"]
        .into_iter()
        .filter(|r| state_file(&c, 0, r).exists())
        .collect();
    c.stop(0);
    for r in ["solo", "mover", "first", "g1", "g2", "g3"] {
        assert!(
            !state_file(&c, 0, r).exists(),
            "{r} still runs on n1 after its clean shutdown"
        );
    }
    for r in on_n1 {
        if r == "mover" {
            // Banned from n2 by its failure, n3 in standby: it stops.
            continue;
        }
        wait_on(&c, r, 1, &all);
    }
    assert!(where_runs(&c, "mover", &all).is_empty());
}

/// The DC dies: a new DC carries on from the replicated state, and nothing that ran on
/// the surviving nodes is restarted. A daemon killed and started again under running
/// resources finds them by probing and adopts them, without a restart.
#[test]
fn dc_death_and_daemon_restart_restart_nothing() {
    let _serial = serial();
    if !have_dummy() {
        return;
    }
    let mut c = Cluster::formed(bin(), "ctl-dc", &["n1", "n2", "n3"]);
    let config = r#"
version = 1
[[resource]]
id = "a"
agent = "ocf:heartbeat:Dummy"
op = [ { name = "monitor", interval = "1s" } ]
[[resource]]
id = "b"
agent = "ocf:heartbeat:Dummy"
op = [ { name = "monitor", interval = "1s" } ]
[[location]]
id = "a-on-n2"
resource = "a"
node = "n2"
score = 100
[[location]]
id = "b-on-n3"
resource = "b"
node = "n3"
score = 100
[[location]]
id = "nothing-on-n1-a"
resource = "a"
node = "n1"
score = "-INFINITY"
[[location]]
id = "nothing-on-n1-b"
resource = "b"
node = "n1"
score = "-INFINITY"
"#;
    apply(&c, 0, config);
    let all = [0, 1, 2];
    wait_on(&c, "a", 1, &all);
    wait_on(&c, "b", 2, &all);
    let dc = c.status(1).map(|s| s["dc"].clone()).unwrap_or(Value::Null);
    assert_eq!(dc, "n1", "the first node is DC after forming");
    let (ta, tb) = (mtime(&c, 1, "a"), mtime(&c, 2, "b"));

    c.kill(0);
    let new_dc = poll(DEADLINE, || {
        c.status(1)
            .filter(|s| s["quorate"] == true && s["dc"].is_string() && s["dc"] != "n1")
            .map(|s| s["dc"].clone())
    });
    assert!(new_dc.is_some(), "no new DC\n{}", c.logs());
    // n1 ran nothing, so nothing waits for its lease: once it is seen offline the new
    // DC plans at once. Give it time to act (it must not restart anything).
    let offline = poll(DEADLINE, || {
        let st = c.status(1)?;
        let n1 = st["nodes"]
            .as_array()?
            .iter()
            .find(|n| n["name"] == "n1")?
            .clone();
        (n1["online"] == false).then_some(())
    });
    assert!(offline.is_some(), "n1 never shown offline\n{}", c.logs());
    std::thread::sleep(Duration::from_secs(2));
    assert_eq!(mtime(&c, 1, "a"), ta, "a was restarted\n{}", c.logs());
    assert_eq!(mtime(&c, 2, "b"), tb, "b was restarted\n{}", c.logs());
    assert_eq!(where_runs(&c, "a", &[1, 2]), vec![1]);
    assert_eq!(where_runs(&c, "b", &[1, 2]), vec![2]);

    // n3's daemon dies and comes back at once: its resources keep running, are found
    // by the probes of its restart, and are not restarted.
    c.kill(2);
    c.start(2);
    let reprobed = poll(DEADLINE, || {
        let st = state(&c, 1);
        let ops = st["op_history"]["n3"]["b"].as_array()?.clone();
        // After the restart's reset, a probe found b running and its monitor runs again.
        let probe = ops
            .iter()
            .any(|o| o["operation"] == "monitor" && o["interval_ms"] == 0 && o["rc"] == 0);
        let monitor = ops
            .iter()
            .any(|o| o["operation"] == "monitor" && o["interval_ms"] == 1000 && o["rc"] == 0);
        (probe && monitor).then_some(())
    });
    assert!(
        reprobed.is_some(),
        "{}\n{}",
        state(&c, 1)["op_history"],
        c.logs()
    );
    assert_eq!(mtime(&c, 2, "b"), tb, "b was restarted\n{}", c.logs());
    assert_eq!(where_runs(&c, "b", &[1, 2]), vec![2]);
}

/// The watchdog is fed while the node is healthy and not while its daemon is frozen
/// (a device would then reset the node); `halo status` names it. The device is a FIFO
/// this test reads (this machine has no /dev/watchdog).
#[test]
fn watchdog_fed_while_healthy_not_while_hung() {
    let _serial = serial();
    use std::io::Read;
    use std::os::unix::fs::OpenOptionsExt;
    use std::sync::{Arc, Mutex};
    use std::time::Instant;

    let mut c = Cluster::new(bin(), "ctl-wd");
    for n in ["n1", "n2", "n3"] {
        c.add(n, false);
    }
    let fifo = c.root.join("watchdog");
    let path = std::ffi::CString::new(fifo.display().to_string()).unwrap_or_default();
    // SAFETY: mkfifo(3) with a valid NUL-terminated path; no memory is shared.
    assert_eq!(unsafe { libc::mkfifo(path.as_ptr(), 0o600) }, 0, "mkfifo");
    // Opened for reading first, without blocking, so the daemon's writes find a reader.
    let mut reader = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK)
        .open(&fifo)
        .unwrap_or_else(|e| panic!("{e}"));
    let pets: Arc<Mutex<Vec<Instant>>> = Arc::default();
    let seen = pets.clone();
    std::thread::spawn(move || {
        let mut buf = [0u8; 64];
        loop {
            match reader.read(&mut buf) {
                Ok(n) if n > 0 => {
                    if let Ok(mut p) = seen.lock() {
                        p.extend(std::iter::repeat_n(Instant::now(), n));
                    }
                }
                _ => std::thread::sleep(Duration::from_millis(10)),
            }
        }
    });
    c.daemons[1].extra_args = vec!["--watchdog".into(), fifo.display().to_string()];
    for i in 0..3 {
        c.start(i);
    }
    c.form(0, &[1, 2]);
    c.wait_quorate(1);
    let count = || pets.lock().map(|p| p.len()).unwrap_or(0);
    let fed = poll(DEADLINE, || (count() > 10).then_some(()));
    assert!(fed.is_some(), "the watchdog is never fed\n{}", c.logs());
    let status = c.halo(1, &["status"]);
    assert!(
        status
            .stdout
            .contains(&format!("Watchdog: {}", fifo.display())),
        "{}",
        status.stdout
    );
    let other = c.halo(2, &["status"]);
    assert!(other.stdout.contains("no watchdog"), "{}", other.stdout);

    // Frozen: no writes at all, as long as it stays frozen.
    c.pause(1);
    std::thread::sleep(Duration::from_millis(300));
    let before = count();
    std::thread::sleep(Duration::from_secs(2));
    assert_eq!(count(), before, "a frozen daemon fed its watchdog");
    c.resume(1);
    let again = poll(DEADLINE, || (count() > before + 5).then_some(()));
    assert!(again.is_some(), "feeding did not resume\n{}", c.logs());
}

/// on-fail=fence with no fence device: the DC has the failed node stop everything it
/// runs (it is reachable), forgets its status as fenced, and the resources run again
/// exactly once.
#[test]
fn on_fail_fence_has_the_node_stop_everything() {
    let _serial = serial();
    if !have_dummy() {
        return;
    }
    let c = Cluster::formed(bin(), "ctl-fence", &["n1", "n2", "n3"]);
    let config = r#"
version = 1
[[resource]]
id = "f"
agent = "ocf:heartbeat:Dummy"
op = [ { name = "monitor", interval = "1s", on-fail = "fence" } ]
[[resource]]
id = "bystander"
agent = "ocf:heartbeat:Dummy"
[[location]]
id = "f-on-n2"
resource = "f"
node = "n2"
score = 100
[[location]]
id = "bystander-on-n2"
resource = "bystander"
node = "n2"
score = 100
"#;
    apply(&c, 0, config);
    let all = [0, 1, 2];
    wait_on(&c, "f", 1, &all);
    wait_on(&c, "bystander", 1, &all);
    let before = mtime(&c, 1, "bystander");
    std::fs::remove_file(state_file(&c, 1, "f")).unwrap_or_else(|e| panic!("{e}"));
    let fenced = poll(DEADLINE, || {
        c.history(0)?
            .iter()
            .any(|(_, s)| {
                s.contains("of n2 by self-fencing succeeded: n2 stopped everything on request")
            })
            .then_some(())
    });
    assert!(fenced.is_some(), "n2 was not fenced\n{}", c.logs());
    // Everything on n2 was stopped by the fencing, then started again once.
    wait_once(&c, "f", &all);
    let by = wait_once(&c, "bystander", &all);
    assert_ne!(
        mtime(&c, by, "bystander"),
        before,
        "the bystander was not stopped"
    );
}

/// A formed three-node cluster (n1..n3) where every daemon has its own LSB script
/// directory holding `script` as `name` (the script keeps its state beside itself), and
/// `rsc`, that script as a resource with a 1 s monitor, placed on `on` (score 100).
/// The cluster and the directories.
fn lsb_cluster(
    label: &str,
    name: &str,
    script: &str,
    rsc: &str,
    on: &str,
) -> (Cluster, Vec<PathBuf>) {
    let mut c = Cluster::new(bin(), label);
    for n in ["n1", "n2", "n3"] {
        c.add(n, false);
    }
    let roots: Vec<PathBuf> = (0..3)
        .map(|i| c.daemons[i].dir.with_extension("lsb"))
        .collect();
    for (i, root) in roots.iter().enumerate() {
        std::fs::create_dir_all(root).unwrap_or_else(|e| panic!("{e}"));
        let path = root.join(name);
        std::fs::write(&path, script).unwrap_or_else(|e| panic!("{e}"));
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755))
            .unwrap_or_else(|e| panic!("{e}"));
        c.daemons[i].extra_args = vec!["--lsb-root".into(), root.display().to_string()];
        c.start(i);
    }
    c.form(0, &[1, 2]);
    for i in 0..3 {
        c.wait_quorate(i);
    }
    let config = format!(
        "version = 1\n[[resource]]\nid = \"{rsc}\"\nagent = \"lsb:{name}\"\n\
         op = [ {{ name = \"monitor\", interval = \"1s\" }} ]\n\
         [[location]]\nid = \"{rsc}-on-{on}\"\nresource = \"{rsc}\"\nnode = \"{on}\"\nscore = 100\n"
    );
    apply(&c, 0, &config);
    (c, roots)
}

/// A daemon shut down (SIGTERM) while a start it was sent is still running: it waits
/// for the start, then has the DC move the resource away and stops it, before it exits.
/// Without that wait, the start would finish after the daemon left, and the resource
/// would run twice once the DC recovered it elsewhere.
#[test]
fn shutdown_during_a_start_leaves_nothing_behind() {
    let _serial = serial();
    let script = "#!/bin/sh\n\
        # A slow LSB service for tests: its state lives beside it.\n\
        D=\"$(dirname \"$0\")\"\n\
        case \"$1\" in\n\
        start) touch \"$D/starting\"; sleep 3; touch \"$D/svc.running\"; rm -f \"$D/starting\"; exit 0 ;;\n\
        stop) rm -f \"$D/svc.running\"; exit 0 ;;\n\
        status) [ -f \"$D/svc.running\" ] && exit 0; exit 3 ;;\n\
        *) exit 3 ;;\n\
        esac\n";
    let (mut c, roots) = lsb_cluster("ctl-shutdown-start", "halo-slow-svc", script, "slow", "n2");
    let starting = poll(DEADLINE, || {
        roots[1].join("starting").exists().then_some(())
    });
    assert!(
        starting.is_some(),
        "the start never began on n2\n{}",
        c.logs()
    );
    c.stop(1);
    // The daemon is gone; its start has ended either way.
    assert!(
        !roots[1].join("starting").exists(),
        "n2 exited during its start"
    );
    let running = |i: usize| roots[i].join("svc.running").exists();
    let moved = poll(DEADLINE, || {
        let on: Vec<usize> = (0..3).filter(|i| running(*i)).collect();
        (on.len() == 1 && on[0] != 1).then_some(())
    });
    assert!(
        moved.is_some(),
        "slow runs on {:?} (n2 is index 1)\n{}",
        (0..3).filter(|i| running(*i)).collect::<Vec<_>>(),
        c.logs()
    );
}

/// An LSB init script as a resource: started where placed, its failure (found by its
/// `status`) recovered, moved away on standby. Each node has its own copy of the
/// script, which keeps its state beside itself.
#[test]
fn lsb_service_runs_and_recovers() {
    let _serial = serial();
    let script = "#!/bin/sh\n\
        # An LSB init script for tests: its state lives beside it.\n\
        STATE=\"$(dirname \"$0\")/svc.running\"\n\
        case \"$1\" in\n\
        start) touch \"$STATE\"; exit 0 ;;\n\
        stop) rm -f \"$STATE\"; exit 0 ;;\n\
        status) [ -f \"$STATE\" ] && exit 0; exit 3 ;;\n\
        *) exit 3 ;;\n\
        esac\n";
    let (c, roots) = lsb_cluster("ctl-lsb", "halo-test-svc", script, "svc", "n3");
    let running = |i: usize| roots[i].join("svc.running").exists();
    let on = |want: usize| {
        poll(DEADLINE, || {
            ((0..3).filter(|i| running(*i)).collect::<Vec<_>>() == vec![want]).then_some(())
        })
    };
    assert!(on(2).is_some(), "svc never ran on n3\n{}", c.logs());
    std::fs::remove_file(roots[2].join("svc.running")).unwrap_or_else(|e| panic!("{e}"));
    assert!(on(2).is_some(), "svc not recovered on n3\n{}", c.logs());
    let fails = poll(DEADLINE, || {
        state(&c, 0)["fail_counts"]["n3"]["svc"]
            .as_u64()
            .filter(|n| *n >= 1)
    });
    assert!(fails.is_some(), "no failure counted");
    let status = c.halo(0, &["status"]).stdout;
    assert!(
        status.contains("Failed Resource Actions:")
            && status.contains("svc monitor_1000 on n3: 1 failure")
            && status.contains("kept until `halo resource cleanup svc`"),
        "{status}"
    );
}

/// A `systemd:` resource: each node runs its own systemd (booted as PID 1 of private
/// namespaces, since systemd is not this machine's init), and the unit is started where
/// placed, its failure recovered by the cluster, moved away on standby. The unit says
/// `Restart=always`: while the cluster runs it, halo's drop-in makes that `Restart=no`
/// (as Pacemaker's does), so that the failure is the cluster's to see and count; once
/// the cluster stops the unit, the drop-in is gone.
#[test]
fn systemd_service_runs_and_recovers() {
    use halo_testkit::systemd::{self, Systemd};
    if !systemd::available() {
        return;
    }
    let _serial = serial();
    const UNIT: &str = "halo-test-svc.service";
    let systemds: Vec<Systemd> = (0..3)
        .map(|_| Systemd::boot().unwrap_or_else(|e| panic!("{e}")))
        .collect();
    for sd in &systemds {
        sd.install(
            UNIT,
            "[Unit]\nDescription=halo test service\n\n\
             [Service]\nExecStart=/bin/sleep infinity\nRestart=always\nRestartSec=100ms\n",
        )
        .unwrap_or_else(|e| panic!("{e}"));
    }
    let mut c = Cluster::new(bin(), "ctl-systemd");
    for (i, n) in ["n1", "n2", "n3"].into_iter().enumerate() {
        c.add(n, false);
        c.daemons[i].prefix = systemds[i].nsenter();
        c.start(i);
    }
    c.form(0, &[1, 2]);
    for i in 0..3 {
        c.wait_quorate(i);
    }
    apply(
        &c,
        0,
        r#"
version = 1
[[resource]]
id = "svc"
agent = "systemd:halo-test-svc"
op = [ { name = "monitor", interval = "1s" } ]
[[location]]
id = "svc-on-n3"
resource = "svc"
node = "n3"
score = 100
"#,
    );
    let active = |i: usize| systemds[i].active_state(UNIT) == "active";
    let on = |want: usize| {
        poll(DEADLINE, || {
            ((0..3).filter(|i| active(*i)).collect::<Vec<_>>() == vec![want]).then_some(())
        })
    };
    let restart = |i: usize| {
        systemds[i]
            .systemctl(&["show", "-p", "Restart", "--value", UNIT])
            .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
            .unwrap_or_else(|e| e)
    };
    assert!(on(2).is_some(), "svc never ran on n3\n{}", c.logs());
    assert_eq!(restart(2), "no", "the cluster's drop-in is not in force");

    let killed = systemds[2]
        .systemctl(&["kill", "--signal=KILL", UNIT])
        .unwrap_or_else(|e| panic!("{e}"));
    assert!(killed.status.success(), "systemctl kill: {killed:?}");
    let fails = poll(DEADLINE, || {
        state(&c, 0)["fail_counts"]["n3"]["svc"]
            .as_u64()
            .filter(|n| *n >= 1)
    });
    assert!(
        fails.is_some(),
        "the unit's failure was not counted\n{}",
        c.logs()
    );
    assert!(on(2).is_some(), "svc not recovered on n3\n{}", c.logs());

    let r = c.halo(0, &["node", "standby", "n3"]);
    assert!(r.ok, "standby: {}", r.stderr);
    let moved = poll(DEADLINE, || {
        match (0..3).filter(|i| active(*i)).collect::<Vec<_>>().as_slice() {
            [one] if *one != 2 => Some(*one),
            _ => None,
        }
    });
    let now = moved.unwrap_or_else(|| panic!("svc did not leave n3 on standby\n{}", c.logs()));
    assert_eq!(restart(now), "no", "no drop-in where svc runs now");
    assert_eq!(
        restart(2),
        "always",
        "the drop-in outlived the cluster's stop on n3"
    );
}

/// failure-timeout: a failure that moved a resource away (migration-threshold=1) is
/// forgotten once it is older than the timeout; the DC plans again then, and the
/// resource goes back where it prefers to run.
#[test]
fn failure_timeout_forgets_and_moves_back() {
    let _serial = serial();
    if !have_dummy() {
        return;
    }
    let c = Cluster::formed(bin(), "ctl-ftimeout", &["n1", "n2", "n3"]);
    apply(
        &c,
        0,
        r#"
version = 1
[[resource]]
id = "ft"
agent = "ocf:heartbeat:Dummy"
meta = { migration-threshold = "1", failure-timeout = "3s" }
op = [ { name = "monitor", interval = "1s" } ]
[[location]]
id = "ft-on-n2"
resource = "ft"
node = "n2"
score = 100
"#,
    );
    let all = [0, 1, 2];
    wait_on(&c, "ft", 1, &all);
    std::fs::remove_file(state_file(&c, 1, "ft")).unwrap_or_else(|e| panic!("{e}"));
    let away = poll(DEADLINE, || {
        let on = where_runs(&c, "ft", &all);
        (on.len() == 1 && on[0] != 1).then_some(())
    });
    assert!(away.is_some(), "ft did not move away\n{}", c.logs());
    wait_on(&c, "ft", 1, &all);
}

/// Fence devices: Debian's `fence_dummy` (type=file keeps the power state in a file).
/// `halo stonith fence --off` goes through the DC and the device; a node whose daemon
/// dies is fenced by the device at once, not waited out, and its resources recovered;
/// the fencing history shows both.
#[test]
fn fence_device_fences_on_request_and_when_a_node_is_lost() {
    let _serial = serial();
    if !halo_testkit::installed("/usr/sbin/fence_dummy", "fence-agents") {
        return;
    }
    if !have_dummy() {
        return;
    }
    let mut c = Cluster::formed(bin(), "ctl-stonith", &["n1", "n2", "n3"]);
    let power = c.root.join("power");
    std::fs::write(&power, "on").unwrap_or_else(|e| panic!("{e}"));
    let status_file = format!("status_file={}", power.display());
    let r = c.halo(
        0,
        &[
            "stonith",
            "create",
            "fd",
            "fence_dummy",
            "type=file",
            &status_file,
            "pcmk_host_list=n1 n2 n3",
        ],
    );
    assert!(r.ok, "{}\n{}", r.stderr, c.logs());
    let listed = c.halo(1, &["stonith", "list"]);
    assert!(
        listed.stdout.contains("fd (stonith:fence_dummy)"),
        "{}",
        listed.stdout
    );

    // By hand: off.
    let r = c.halo(1, &["stonith", "fence", "n3", "--off"]);
    assert!(r.ok, "{}\n{}", r.stderr, c.logs());
    assert_eq!(
        std::fs::read_to_string(&power).unwrap_or_default().trim(),
        "off"
    );
    let history = c.halo(0, &["stonith", "history", "n3"]);
    assert!(
        history.stdout.contains("off of n3 by fd") && history.stdout.contains("succeeded"),
        "{}",
        history.stdout
    );
    let status = c.halo(0, &["status"]).stdout;
    assert!(
        status.contains("Fencing History") && status.contains("off of n3 succeeded"),
        "{status}"
    );

    // A lost node: fenced by the device, its resource recovered elsewhere.
    apply_keeping_devices(
        &c,
        r#"
[[resource]]
id = "x"
agent = "ocf:heartbeat:Dummy"
op = [ { name = "monitor", interval = "1s" } ]
[[location]]
id = "x-on-n2"
resource = "x"
node = "n2"
score = 100
"#,
    );
    let all = [0, 1, 2];
    wait_on(&c, "x", 1, &all);
    c.kill(1);
    let fenced = poll(DEADLINE, || {
        c.history(0)?
            .iter()
            .any(|(_, s)| s.contains("of n2 by fd succeeded"))
            .then_some(())
    });
    assert!(
        fenced.is_some(),
        "n2 not fenced by the device\n{}",
        c.logs()
    );
    let on = wait_once(&c, "x", &[0, 2]);
    assert_ne!(on, 1);
}

/// Add resources to the configuration, keeping what is there (the fence device).
fn apply_keeping_devices(c: &Cluster, extra: &str) {
    let shown = c.halo(0, &["config", "show"]);
    assert!(shown.ok, "{}", shown.stderr);
    apply(c, 0, &format!("{}\n{extra}", shown.stdout));
}
