//! Fault rounds: three real `halo daemon`s, each in its own network namespace (the test
//! kit's hosts on a private bridge), running Debian's `ocf:heartbeat:Dummy` as an
//! exclusive resource, kept with a virtual IP (`halo:vip`, whose kernel lifetime the
//! node renews while it holds its lease). The node holding them is cut off, SIGKILLed
//! or SIGSTOPped, round after round, while an observer samples every node's running
//! resources and addresses every 10 ms: it must never see either on two nodes, and the
//! cluster must recover them and converge once the fault is undone.
//!
//! This machine has no /dev/watchdog: each daemon feeds a FIFO, and the test plays the
//! device: a node whose daemon stops feeding it for the watchdog timeout is reset (its
//! processes killed, its run directories wiped, as a reboot does) and then rebooted
//! (its daemon started again). Needs root for namespaces (skipped with the reason
//! otherwise; `HALO_TEST_REQUIRE_NETNS=1` makes that a failure, as in CI).
//! `HALO_FAULT_ROUNDS` sets the rounds per kind of fault (default 20).

use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use halo_testkit::cluster::poll;
use halo_testkit::netns::{has_ipv4, require_netns, spare_v4, Net, Proc};
use halo_testkit::watchdog::FifoWatchdog;

fn bin() -> &'static Path {
    Path::new(env!("CARGO_BIN_EXE_halo"))
}

const DUMMY: &str = "/usr/lib/ocf/resource.d/heartbeat/Dummy";
const NAMES: [&str; 3] = ["n1", "n2", "n3"];
/// The emulated watchdog's timeout, as the daemons are told.
const WATCHDOG: Duration = Duration::from_millis(1000);
const DEADLINE: Duration = Duration::from_secs(60);

/// The virtual IP the cluster moves around.
fn vip() -> Ipv4Addr {
    spare_v4(1)
}

fn rounds() -> usize {
    std::env::var("HALO_FAULT_ROUNDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(20)
}

/// One node: its daemon (when running) and its emulated watchdog.
struct Node {
    name: &'static str,
    dir: PathBuf,
    daemon: Option<Proc>,
    /// Its emulated watchdog device.
    wd: FifoWatchdog,
}

impl Node {
    fn rsctmp(&self) -> PathBuf {
        self.dir.with_extension("rsctmp")
    }
}

struct Lab {
    net: Net,
    root: PathBuf,
    nodes: Vec<Node>,
    stop: Arc<AtomicBool>,
}

impl Drop for Lab {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        for n in &mut self.nodes {
            n.daemon = None;
        }
        if std::env::var_os("HALO_KEEP_TEST_DIRS").is_none() {
            let _ = std::fs::remove_dir_all(&self.root);
        }
    }
}

impl Lab {
    fn new(label: &str) -> Lab {
        let net = Net::new(&NAMES).unwrap_or_else(|e| panic!("{e}"));
        let root = std::env::temp_dir().join(format!("halo-{label}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&root);
        std::fs::create_dir_all(&root).unwrap_or_else(|e| panic!("{e}"));
        let stop = Arc::new(AtomicBool::new(false));
        let mut nodes = Vec::new();
        for (i, name) in NAMES.iter().enumerate() {
            let dir = root.join(name);
            let wd = FifoWatchdog::start(
                dir.with_extension("watchdog"),
                &net.hosts()[i],
                dir.with_extension("rsctmp"),
                WATCHDOG,
            )
            .unwrap_or_else(|e| panic!("{e}"));
            let node = Node {
                name,
                dir,
                daemon: None,
                wd,
            };
            nodes.push(node);
        }
        Lab {
            net,
            root,
            nodes,
            stop,
        }
    }

    fn addr(&self, i: usize) -> String {
        format!("{}:7000", self.net.hosts()[i].ipv4())
    }

    fn halo(&self, i: usize, args: &[&str]) -> std::process::Output {
        std::process::Command::new(bin())
            .args(args)
            .env("HALO_STATE_DIR", &self.nodes[i].dir)
            .output()
            .unwrap_or_else(|e| panic!("{e}"))
    }

    fn start(&mut self, i: usize) {
        let node = &self.nodes[i];
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(node.dir.with_extension("log"))
            .unwrap_or_else(|e| panic!("{e}"));
        let log2 = log.try_clone().unwrap_or_else(|e| panic!("{e}"));
        let host = &self.net.hosts()[i];
        let mut cmd = host.command(bin());
        cmd.args(["daemon", "--name", node.name, "--listen", &self.addr(i)])
            .arg("--state-dir")
            .arg(&node.dir)
            .arg("--rsctmp")
            .arg(node.rsctmp())
            .arg("--run-dir")
            .arg(node.dir.with_extension("run"))
            .arg("--watchdog")
            .arg(node.wd.path())
            .args(["--watchdog-timeout", "1s"])
            .env("HALO_LOG", "info")
            .stdout(log)
            .stderr(log2);
        node.wd.rearm();
        let proc = host.spawn(&mut cmd).unwrap_or_else(|e| panic!("{e}"));
        self.nodes[i].daemon = Some(proc);
        let sock = self.nodes[i].dir.join("halo.sock");
        let up = poll(DEADLINE, || {
            std::os::unix::net::UnixStream::connect(&sock)
                .ok()
                .map(|_| ())
        });
        assert!(up.is_some(), "{} did not start\n{}", NAMES[i], self.logs());
    }

    /// Node `i` back after a reset: its cable in again, a new daemon.
    fn reboot(&mut self, i: usize) {
        self.net
            .reconnect(NAMES[i])
            .unwrap_or_else(|e| panic!("{e}"));
        self.nodes[i].daemon = None;
        self.start(i);
    }

    fn signal(&self, i: usize, sig: i32) {
        if let Some(p) = &self.nodes[i].daemon {
            // SAFETY: kill(2) on our own child's pid.
            unsafe {
                libc::kill(p.id() as i32, sig);
            }
        }
    }

    fn status(&self, i: usize) -> serde_json::Value {
        let out = self.halo(i, &["status", "--json"]);
        serde_json::from_slice(&out.stdout).unwrap_or(serde_json::Value::Null)
    }

    fn quorate_all(&self) -> bool {
        (0..3).all(|i| {
            let s = self.status(i);
            s["quorate"] == true
                && s["dc"].is_string()
                && s["nodes"]
                    .as_array()
                    .is_some_and(|n| n.iter().all(|n| n["online"] == true))
        })
    }

    fn logs(&self) -> String {
        let mut out = String::new();
        for n in &self.nodes {
            let text = std::fs::read_to_string(n.dir.with_extension("log")).unwrap_or_default();
            let lines: Vec<&str> = text
                .lines()
                .filter(|l| l.contains("halo_controller") || l.contains("ERROR"))
                .collect();
            let tail = &lines[lines.len().saturating_sub(12)..];
            out.push_str(&format!("--- {}\n{}\n", n.name, tail.join("\n")));
        }
        out
    }

    /// The nodes that hold the virtual IP.
    fn vip_at(&self) -> Vec<usize> {
        let ip = format!("{}/", vip());
        (0..3)
            .filter(|i| {
                self.net.hosts()[*i]
                    .ip(&["-4", "addr", "show"])
                    .is_ok_and(|out| out.contains(&ip))
            })
            .collect()
    }

    /// Where Dummy `rsc` runs, by its state file.
    fn where_runs(&self, rsc: &str) -> Vec<usize> {
        where_runs(
            &self.nodes.iter().map(Node::rsctmp).collect::<Vec<_>>(),
            rsc,
        )
    }
}

fn where_runs(rsctmps: &[PathBuf], rsc: &str) -> Vec<usize> {
    (0..rsctmps.len())
        .filter(|i| rsctmps[*i].join(format!("Dummy-{rsc}.state")).exists())
        .collect()
}

/// Samples every node every 10 ms: which nodes run Dummy `rsc` (its state file) and
/// which hold the address `vip` (a thread inside each node's namespace reads its
/// addresses). Records every instant at which either is on two nodes.
fn observer(
    net: &Net,
    rsctmps: Vec<PathBuf>,
    rsc: &'static str,
    vip: Ipv4Addr,
    stop: Arc<AtomicBool>,
) -> Arc<Mutex<Vec<String>>> {
    let holds: Arc<Vec<AtomicBool>> = Arc::new((0..3).map(|_| AtomicBool::new(false)).collect());
    for (i, host) in net.hosts().iter().enumerate() {
        let holds = holds.clone();
        let stop = stop.clone();
        drop(host.spawn_in_ns(move || {
            while !stop.load(Ordering::SeqCst) {
                holds[i].store(has_ipv4(vip), Ordering::SeqCst);
                std::thread::sleep(Duration::from_millis(5));
            }
        }));
    }
    let violations: Arc<Mutex<Vec<String>>> = Arc::default();
    let v = violations.clone();
    std::thread::spawn(move || {
        let t0 = Instant::now();
        while !stop.load(Ordering::SeqCst) {
            let on = where_runs(&rsctmps, rsc);
            let at: Vec<usize> = (0..3)
                .filter(|i| holds[*i].load(Ordering::SeqCst))
                .collect();
            let mut v = v.lock().unwrap_or_else(|e| e.into_inner());
            if on.len() > 1 {
                v.push(format!("{rsc} on {on:?} at {:?}", t0.elapsed()));
            }
            if at.len() > 1 {
                v.push(format!("{vip} on {at:?} at {:?}", t0.elapsed()));
            }
            drop(v);
            std::thread::sleep(Duration::from_millis(10));
        }
    });
    violations
}

#[derive(Debug, Clone, Copy)]
enum Fault {
    Cut,
    Kill,
    Stop,
}

fn formed(label: &str) -> Option<Lab> {
    if !require_netns() {
        return None;
    }
    if !halo_testkit::installed(DUMMY, "resource-agents") {
        return None;
    }
    let mut lab = Lab::new(label);
    for i in 0..3 {
        lab.start(i);
    }
    let init = lab.halo(0, &["cluster", "init", "--name", "netns"]);
    assert!(
        init.status.success(),
        "{}",
        String::from_utf8_lossy(&init.stderr)
    );
    for i in 1..3 {
        let token = lab.halo(0, &["cluster", "token"]);
        let token = String::from_utf8_lossy(&token.stdout).trim().to_string();
        let join = lab.halo(i, &["cluster", "join", &lab.addr(0), "--token", &token]);
        assert!(
            join.status.success(),
            "{}",
            String::from_utf8_lossy(&join.stderr)
        );
    }
    assert!(
        poll(DEADLINE, || lab.quorate_all().then_some(())).is_some(),
        "never quorate\n{}",
        lab.logs()
    );
    let config = lab.root.join("config.toml");
    std::fs::write(
        &config,
        format!(
            "version = 1\n\
             [[resource]]\nid = \"vip\"\nagent = \"halo:vip\"\n\
             params = {{ ip = \"{}\", cidr_netmask = 24, nic = \"eth0\" }}\n\
             op = [ {{ name = \"monitor\", interval = \"1s\" }} ]\n\
             [[resource]]\nid = \"x\"\nagent = \"ocf:heartbeat:Dummy\"\n\
             op = [ {{ name = \"monitor\", interval = \"1s\" }} ]\n\
             [[colocation]]\nid = \"x-with-vip\"\nresource = \"x\"\nwith = \"vip\"\nscore = \"INFINITY\"\n",
            vip()
        ),
    )
    .unwrap_or_else(|e| panic!("{e}"));
    let apply = lab.halo(0, &["config", "apply", &config.display().to_string()]);
    assert!(
        apply.status.success(),
        "{}",
        String::from_utf8_lossy(&apply.stderr)
    );
    Some(lab)
}

fn fault_rounds(label: &str, fault: Fault) {
    let Some(mut lab) = formed(label) else {
        return;
    };
    let stop = lab.stop.clone();
    let violations = observer(
        &lab.net,
        lab.nodes.iter().map(Node::rsctmp).collect(),
        "x",
        vip(),
        stop,
    );
    let mut resets = 0;
    let t0 = Instant::now();
    for round in 0..rounds() {
        let holder = poll(DEADLINE, || match lab.where_runs("x").as_slice() {
            [one] => Some(*one),
            _ => None,
        })
        .unwrap_or_else(|| panic!("round {round}: x never ran once\n{}", lab.logs()));
        let others: Vec<usize> = (0..3).filter(|i| *i != holder).collect();
        match fault {
            Fault::Cut => lab.net.cut(NAMES[holder]).unwrap_or_else(|e| panic!("{e}")),
            Fault::Kill => lab.signal(holder, libc::SIGKILL),
            Fault::Stop => lab.signal(holder, libc::SIGSTOP),
        }
        // The majority recovers x on one of its nodes.
        let moved = poll(DEADLINE, || {
            let on = lab.where_runs("x");
            let at = lab.vip_at();
            (on.len() == 1 && others.contains(&on[0]) && at == on).then_some(())
        });
        assert!(
            moved.is_some(),
            "round {round} ({fault:?} of {}): not recovered: x on {:?}, vip on {:?}\n{}",
            NAMES[holder],
            lab.where_runs("x"),
            lab.vip_at(),
            lab.logs()
        );
        // Undo the fault: reconnect, or wait for the watchdog to reset the node.
        match fault {
            Fault::Cut => lab
                .net
                .reconnect(NAMES[holder])
                .unwrap_or_else(|e| panic!("{e}")),
            Fault::Kill | Fault::Stop => {
                let reset = poll(DEADLINE, || lab.nodes[holder].wd.was_reset().then_some(()));
                assert!(
                    reset.is_some(),
                    "the watchdog never reset {}",
                    NAMES[holder]
                );
            }
        }
        // Reboot every node its watchdog reset.
        for i in 0..3 {
            if lab.nodes[i].wd.was_reset() {
                resets += 1;
                lab.nodes[i].daemon = None;
                lab.start(i);
            }
        }
        let healed = poll(DEADLINE, || {
            (lab.quorate_all()
                && lab.where_runs("x").len() == 1
                && lab.vip_at() == lab.where_runs("x"))
            .then_some(())
        });
        assert!(
            healed.is_some(),
            "round {round}: no convergence after {fault:?}, x on {:?}\n{}",
            lab.where_runs("x"),
            lab.logs()
        );
        let v = violations.lock().unwrap_or_else(|e| e.into_inner()).clone();
        assert!(
            v.is_empty(),
            "round {round} ({fault:?}): x ran twice: {v:?}\n{}",
            lab.logs()
        );
    }
    eprintln!(
        "{fault:?}: {} rounds, {resets} watchdog resets, no duplicate, {:?}",
        rounds(),
        t0.elapsed()
    );
}

/// The holder's link is cut: its guard stops x within its lease; the majority starts x
/// only after that lease has run out; never two at once; heal converges.
#[test]
fn fault_rounds_link_cut() {
    fault_rounds("faults-cut", Fault::Cut);
}

/// The holder's daemon is SIGKILLed: its watchdog resets the node; the majority starts x
/// only after the lease the reset falls within; never two at once.
#[test]
fn fault_rounds_daemon_killed() {
    fault_rounds("faults-kill", Fault::Kill);
}

/// The holder's daemon hangs (SIGSTOP): as for a kill.
#[test]
fn fault_rounds_daemon_hung() {
    fault_rounds("faults-stop", Fault::Stop);
}

/// `no-quorum-policy=suicide`: the holder cut off from the majority stops feeding its
/// watchdog and is reset by it (with the default `stop` it only stops what it runs and,
/// running nothing, goes on feeding it); the majority recovers x meanwhile, never two
/// at once, and the rebooted node rejoins.
#[test]
fn suicide_policy_resets_a_cut_off_node() {
    let Some(mut lab) = formed("suicide") else {
        return;
    };
    let set = lab.halo(0, &["property", "set", "no-quorum-policy=suicide"]);
    assert!(
        set.status.success(),
        "{}",
        String::from_utf8_lossy(&set.stderr)
    );
    let violations = observer(
        &lab.net,
        lab.nodes.iter().map(Node::rsctmp).collect(),
        "x",
        vip(),
        lab.stop.clone(),
    );
    let holder = poll(DEADLINE, || match lab.where_runs("x").as_slice() {
        [one] => Some(*one),
        _ => None,
    })
    .unwrap_or_else(|| panic!("x never ran once\n{}", lab.logs()));
    let others: Vec<usize> = (0..3).filter(|i| *i != holder).collect();
    lab.net.cut(NAMES[holder]).unwrap_or_else(|e| panic!("{e}"));
    let reset = poll(DEADLINE, || lab.nodes[holder].wd.was_reset().then_some(()));
    assert!(
        reset.is_some(),
        "the watchdog never reset {}, cut off under no-quorum-policy=suicide\n{}",
        NAMES[holder],
        lab.logs()
    );
    let moved = poll(DEADLINE, || {
        let on = lab.where_runs("x");
        (on.len() == 1 && others.contains(&on[0]) && lab.vip_at() == on).then_some(())
    });
    assert!(moved.is_some(), "x not recovered\n{}", lab.logs());
    for i in &others {
        assert!(!lab.nodes[*i].wd.was_reset(), "{} was reset", NAMES[*i]);
    }
    lab.reboot(holder);
    let healed = poll(DEADLINE, || {
        (lab.quorate_all() && lab.where_runs("x").len() == 1 && lab.vip_at() == lab.where_runs("x"))
            .then_some(())
    });
    assert!(healed.is_some(), "no convergence\n{}", lab.logs());
    let v = violations.lock().unwrap_or_else(|e| e.into_inner()).clone();
    assert!(v.is_empty(), "x ran twice: {v:?}\n{}", lab.logs());
}

/// Debian's `ocf:heartbeat:IPaddr2`, unchanged, as a cluster resource: it starts where
/// placed, a lost address (its monitor fails) is put back, and a clean shutdown of its
/// node moves it: the address is then on exactly one other node.
#[test]
fn ipaddr2_runs_recovers_and_moves() {
    let Some(mut lab) = formed("ipaddr2") else {
        return;
    };
    let ip = spare_v4(2);
    let shown = lab.halo(0, &["config", "show"]);
    let config = lab.root.join("ipaddr2.toml");
    std::fs::write(
        &config,
        format!(
            "{}\n[[resource]]\nid = \"ip2\"\nagent = \"ocf:heartbeat:IPaddr2\"\n\
             params = {{ ip = \"{ip}\", cidr_netmask = 24, nic = \"eth0\" }}\n\
             op = [ {{ name = \"monitor\", interval = \"1s\" }} ]\n\
             [[location]]\nid = \"ip2-on-n2\"\nresource = \"ip2\"\nnode = \"n2\"\nscore = 100\n",
            String::from_utf8_lossy(&shown.stdout)
        ),
    )
    .unwrap_or_else(|e| panic!("{e}"));
    let apply = lab.halo(0, &["config", "apply", &config.display().to_string()]);
    assert!(
        apply.status.success(),
        "{}",
        String::from_utf8_lossy(&apply.stderr)
    );
    let held = |lab: &Lab| -> Vec<usize> {
        let want = format!("{ip}/");
        (0..3)
            .filter(|i| {
                lab.net.hosts()[*i]
                    .ip(&["-4", "addr", "show"])
                    .is_ok_and(|out| out.contains(&want))
            })
            .collect()
    };
    let on = |lab: &Lab, want: &[usize]| poll(DEADLINE, || (held(lab) == want).then_some(()));
    assert!(
        on(&lab, &[1]).is_some(),
        "IPaddr2 not on n2: {:?}\n{}",
        held(&lab),
        lab.logs()
    );

    // The address disappears: IPaddr2's monitor says so and it is started again.
    let cidr = format!("{ip}/24");
    lab.net.hosts()[1]
        .ip(&["addr", "del", &cidr, "dev", "eth0"])
        .unwrap_or_else(|e| panic!("{e}"));
    assert!(
        on(&lab, &[1]).is_some(),
        "IPaddr2 not put back: {:?}\n{}",
        held(&lab),
        lab.logs()
    );

    // A clean shutdown of n2 moves it.
    lab.signal(1, libc::SIGTERM);
    if let Some(p) = lab.nodes[1].daemon.as_mut() {
        let _ = p.child_mut().wait();
    }
    let moved = poll(DEADLINE, || {
        let h = held(&lab);
        (h.len() == 1 && h[0] != 1).then_some(())
    });
    assert!(
        moved.is_some(),
        "IPaddr2 did not move: {:?}\n{}",
        held(&lab),
        lab.logs()
    );
}

/// A node that dies again seconds after it came back (as a controller that crashes
/// while it is still catching up) is, once back again, given its clone instance again:
/// every return is scheduled, whatever the DC remembers of the previous one. Each node
/// in turn is cut off and SIGKILLed (its watchdog resets it), returns, and dies again
/// 0–5 s after its instance started; after each return its instance must run again.
#[test]
fn a_node_that_dies_soon_after_it_returns_is_used_again() {
    let Some(mut lab) = formed("rejoin") else {
        return;
    };
    let create = lab.halo(
        0,
        &[
            "resource",
            "create",
            "c",
            "ocf:heartbeat:Dummy",
            "op",
            "monitor",
            "interval=1s",
            "--clone",
        ],
    );
    assert!(
        create.status.success(),
        "{}",
        String::from_utf8_lossy(&create.stderr)
    );
    let runs_c = |lab: &Lab, i: usize| {
        std::fs::read_dir(lab.nodes[i].rsctmp())
            .into_iter()
            .flatten()
            .flatten()
            .any(|e| e.file_name().to_string_lossy().starts_with("Dummy-c"))
    };
    let everywhere = |lab: &Lab| (0..3).all(|i| runs_c(lab, i));
    assert!(
        poll(DEADLINE, || everywhere(&lab).then_some(())).is_some(),
        "c not on every node\n{}",
        lab.logs()
    );
    // Down for about its lease, for longer, or for a moment; up again for a moment or
    // for a few seconds.
    let downs = [1500, 6000, 300];
    let ups = [0, 2000, 5000];
    for round in 0..rounds().min(9) {
        let i = (round / 2) % 3;
        let (down, up) = (downs[round % 3], ups[(round / 3) % 3]);
        lab.net.cut(NAMES[i]).unwrap_or_else(|e| panic!("{e}"));
        lab.signal(i, libc::SIGKILL);
        let reset = poll(DEADLINE, || lab.nodes[i].wd.was_reset().then_some(()));
        assert!(reset.is_some(), "the watchdog never reset {}", NAMES[i]);
        std::thread::sleep(Duration::from_millis(down));
        lab.reboot(i);
        let back = poll(DEADLINE, || {
            (lab.quorate_all() && everywhere(&lab)).then_some(())
        });
        assert!(
            back.is_some(),
            "round {round}: {} back after {down} ms down, c not started on it (on {:?})\n{}",
            NAMES[i],
            (0..3).filter(|n| runs_c(&lab, *n)).collect::<Vec<_>>(),
            lab.logs()
        );
        std::thread::sleep(Duration::from_millis(up));
    }
}
