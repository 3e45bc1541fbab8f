//! The reference deployment's commands (`../shared/reference/openstack-ha.md`, "The
//! commands operators type today") with `pcs` replaced by `halo`, run as they are on a
//! live three-node cluster: hosts `controller1..3` in network namespaces, each with
//! its own systemd (booted privately, since systemd is not this machine's init) that
//! runs Debian's own `haproxy.service`, and the VIP put up by Debian's
//! `ocf:heartbeat:IPaddr2` at the reference's address 10.10.16.224 (a private address,
//! only inside the namespaces this test creates). Checked by what really happens: the
//! address on exactly one host, HAProxy active there (colocated with it) and answering
//! a client on the VIP, the other VIPs together, and the status views.
//! Needs root (namespaces); skipped with the reason otherwise, a failure in CI.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

use halo_testkit::cluster::{poll, run_with_stdin, DEADLINE};
use halo_testkit::netns::{require_netns, Net};
use halo_testkit::systemd::{self, Systemd};

const NAMES: [&str; 3] = ["controller1", "controller2", "controller3"];
const VIP: &str = "10.10.16.224";
const IPADDR2: &str = "/usr/lib/ocf/resource.d/heartbeat/IPaddr2";
const HAPROXY_UNIT: &str = "/lib/systemd/system/haproxy.service";
const HALO_UNIT: &str = include_str!("../../../packaging/halo.service");
/// hacluster's password, set on every node first (as `passwd hacluster` for pcs).
const PASSWORD: &str = "hacluster-secret";

fn bin() -> &'static Path {
    Path::new(env!("CARGO_BIN_EXE_halo"))
}

struct Lab {
    /// Dropped first: the daemons die with their host's private systemd.
    systemds: Vec<Systemd>,
    daemons: Vec<Child>,
    net: Net,
    root: PathBuf,
}

impl Drop for Lab {
    fn drop(&mut self) {
        for d in &mut self.daemons {
            let _ = d.kill();
            let _ = d.wait();
        }
        self.systemds.clear();
        for h in self.net.hosts() {
            let _ = std::fs::remove_dir_all(Path::new("/etc/netns").join(h.netns()));
        }
        if std::env::var_os("HALO_KEEP_TEST_DIRS").is_none() {
            let _ = std::fs::remove_dir_all(&self.root);
        }
    }
}

impl Lab {
    fn dir(&self, i: usize) -> PathBuf {
        self.root.join(NAMES[i])
    }

    fn addr(&self, i: usize) -> String {
        format!("{}:7000", self.net.hosts()[i].ipv4())
    }

    /// `halo ARGS` (or a Pacemaker tool under its name) against controller `i`'s daemon.
    fn run(&self, i: usize, program: &Path, args: &[&str]) -> (bool, String, String) {
        let o = Command::new(program)
            .args(args)
            .env("HALO_STATE_DIR", self.dir(i))
            .stdin(Stdio::null())
            .output()
            .unwrap_or_else(|e| panic!("{}: {e}", program.display()));
        (
            o.status.success(),
            String::from_utf8_lossy(&o.stdout).into_owned(),
            String::from_utf8_lossy(&o.stderr).into_owned(),
        )
    }

    /// `halo ARGS` from inside controller1's host (its network, its /etc/hosts), with
    /// `stdin` as standard input, its local socket controller `i`'s.
    fn on_controller1(&self, i: usize, args: &[&str], stdin: &str) -> (bool, String, String) {
        let r = run_with_stdin(
            self.net.hosts()[0]
                .command(bin())
                .args(args)
                .env("HALO_STATE_DIR", self.dir(i))
                .env("HALO_HOSTS_FILE", self.root.join("hosts.json")),
            stdin,
        );
        (r.ok, r.stdout, r.stderr)
    }

    /// A reference command, `pcs` replaced by `halo`, on controller1; must succeed.
    fn halo(&self, line: &str) -> String {
        let args: Vec<&str> = line.split_whitespace().collect();
        let (ok, out, err) = self.run(0, bin(), &args);
        assert!(ok, "halo {line}: {err}\n{}", self.logs());
        out
    }

    fn logs(&self) -> String {
        let mut out = String::new();
        for (i, name) in NAMES.iter().enumerate() {
            let text =
                std::fs::read_to_string(self.dir(i).with_extension("log")).unwrap_or_default();
            let lines: Vec<&str> = text
                .lines()
                .filter(|l| l.contains("halo_controller") || l.contains("ERROR"))
                .collect();
            let tail = &lines[lines.len().saturating_sub(15)..];
            out.push_str(&format!("--- {name}\n{}\n", tail.join("\n")));
        }
        out
    }

    /// The hosts that have `ip` on an interface.
    fn holders(&self, ip: &str) -> Vec<usize> {
        (0..3).filter(|i| self.net.hosts()[*i].holds(ip)).collect()
    }

    /// The hosts whose systemd has `haproxy.service` active.
    fn haproxy_at(&self) -> Vec<usize> {
        (0..3)
            .filter(|i| self.systemds[*i].active_state("haproxy.service") == "active")
            .collect()
    }

    /// Wait until the VIP is on exactly one host and HAProxy active there only; that host.
    fn vip_and_haproxy_together(&self) -> usize {
        poll(DEADLINE, || match self.holders(VIP).as_slice() {
            [one] if self.haproxy_at() == vec![*one] => Some(*one),
            _ => None,
        })
        .unwrap_or_else(|| {
            panic!(
                "the VIP is on {:?} and haproxy active on {:?}\n{}",
                self.holders(VIP),
                self.haproxy_at(),
                self.logs()
            )
        })
    }

    /// What a client on another controller gets from the VIP's port 8080.
    fn client_gets(&self, from: usize) -> String {
        self.net.hosts()[from]
            .run(
                "curl",
                &["-s", "--max-time", "5", &format!("http://{VIP}:8080/")],
            )
            .unwrap_or_else(|e| format!("curl failed: {e}"))
    }
}

fn start_lab() -> Option<Lab> {
    if !require_netns()
        || !systemd::available()
        || !halo_testkit::installed(IPADDR2, "resource-agents")
        || !halo_testkit::installed(HAPROXY_UNIT, "haproxy")
        || !halo_testkit::installed("/usr/bin/curl", "curl")
    {
        return None;
    }
    let net = Net::new(&NAMES).unwrap_or_else(|e| panic!("{e}"));
    let root = std::env::temp_dir().join(format!("halo-reference-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&root);
    std::fs::create_dir_all(&root).unwrap_or_else(|e| panic!("{e}"));
    let mut lab = Lab {
        systemds: Vec::new(),
        daemons: Vec::new(),
        net,
        root,
    };
    let haproxy_unit = std::fs::read_to_string(HAPROXY_UNIT).unwrap_or_else(|e| panic!("{e}"));
    for (i, name) in NAMES.iter().enumerate() {
        let host = &lab.net.hosts()[i];
        // The reference's management network, where its VIP lives.
        host.ip(&[
            "addr",
            "add",
            &format!("10.10.16.{}/24", 11 + i),
            "dev",
            host.ifname(),
        ])
        .unwrap_or_else(|e| panic!("{e}"));
        let sd = Systemd::boot_in(host).unwrap_or_else(|e| panic!("{e}"));
        // Debian's unit as it is; a drop-in points it at this host's configuration and
        // drops the /dev/log bind (no journald runs in the private systemd).
        let cfg = lab.root.join(format!("{name}-haproxy.cfg"));
        std::fs::write(
            &cfg,
            format!(
                "global\n  maxconn 100\n\ndefaults\n  mode http\n  timeout connect 2s\n  \
                 timeout client 5s\n  timeout server 5s\n\nfrontend web\n  bind :8080\n  \
                 http-request return status 200 content-type text/plain string \"haproxy on {name}\"\n"
            ),
        )
        .unwrap_or_else(|e| panic!("{e}"));
        sd.install("haproxy.service", &haproxy_unit)
            .unwrap_or_else(|e| panic!("{e}"));
        // halo's own unit, for `halo cluster enable`.
        sd.install("halo.service", HALO_UNIT)
            .unwrap_or_else(|e| panic!("{e}"));
        // The controllers' names, as the reference's hosts know them (`ip netns exec`
        // puts /etc/netns/NS/hosts in place of /etc/hosts).
        let etc = Path::new("/etc/netns").join(host.netns());
        std::fs::create_dir_all(&etc).unwrap_or_else(|e| panic!("{e}"));
        let hosts: String = (0..3)
            .map(|j| format!("{} {}\n", lab.net.hosts()[j].ipv4(), NAMES[j]))
            .collect();
        std::fs::write(etc.join("hosts"), format!("127.0.0.1 localhost\n{hosts}"))
            .unwrap_or_else(|e| panic!("{e}"));
        sd.install(
            "haproxy.service.d/test.conf",
            &format!(
                "[Service]\nBindReadOnlyPaths=\nEnvironment=\"CONFIG={}\"\n",
                cfg.display()
            ),
        )
        .unwrap_or_else(|e| panic!("{e}"));
        let dir = lab.dir(i);
        let log =
            std::fs::File::create(dir.with_extension("log")).unwrap_or_else(|e| panic!("{e}"));
        let log2 = log.try_clone().unwrap_or_else(|e| panic!("{e}"));
        let daemon = sd
            .command(bin())
            .args(["daemon", "--name", name, "--listen", &lab.addr(i)])
            .arg("--state-dir")
            .arg(&dir)
            .arg("--rsctmp")
            .arg(dir.with_extension("rsctmp"))
            .arg("--run-dir")
            .arg(dir.with_extension("run"))
            .env("HALO_LOG", "info")
            .stdin(Stdio::null())
            .stdout(log)
            .stderr(log2)
            .spawn()
            .unwrap_or_else(|e| panic!("{e}"));
        lab.systemds.push(sd);
        lab.daemons.push(daemon);
        let sock = dir.join("halo.sock");
        let up = poll(DEADLINE, || {
            std::os::unix::net::UnixStream::connect(&sock)
                .ok()
                .map(|_| ())
        });
        assert!(up.is_some(), "{name} did not start\n{}", lab.logs());
    }
    Some(lab)
}

#[test]
fn reference_commands_run_as_they_are() {
    let Some(lab) = start_lab() else {
        return;
    };
    // As for pcs, the hacluster user gets a password on every node first.
    for (i, name) in NAMES.iter().enumerate() {
        let (ok, _, err) = lab.on_controller1(
            i,
            &["user", "add", "hacluster", "--role", "admin"],
            &format!("{PASSWORD}\n"),
        );
        assert!(ok, "user add on {name}: {err}");
    }
    // Forming the cluster, from controller1 through the nodes' remote APIs.
    for line in [
        format!("cluster auth controller1 controller2 controller3 -u hacluster -p {PASSWORD}"),
        "cluster setup --name openstack-cluster-01 controller1 controller2 controller3".into(),
        "cluster start --all".into(),
        "cluster enable --all".into(),
    ] {
        let args: Vec<&str> = line.split_whitespace().collect();
        let (ok, out, err) = lab.on_controller1(0, &args, "");
        assert!(ok, "halo {line}: {out}{err}\n{}", lab.logs());
        assert!(
            !out.contains(PASSWORD) && !err.contains(PASSWORD),
            "the password was echoed: {out}{err}"
        );
    }
    // Enabled: the unit's symlink in each host's own /etc/systemd/system (private to
    // its systemd here, never the machine's).
    let wants = "/etc/systemd/system/multi-user.target.wants/halo.service";
    for (i, sd) in lab.systemds.iter().enumerate() {
        let linked = sd
            .run("test", &["-L", wants])
            .is_ok_and(|o| o.status.success());
        assert!(linked, "halo.service not enabled on {}", NAMES[i]);
    }
    assert!(
        !Path::new(wants).exists(),
        "the machine's own systemd was changed"
    );
    // The password is nowhere in the nodes' state or logs, only its argon2id hash.
    for (i, name) in NAMES.iter().enumerate() {
        let text = std::fs::read(lab.dir(i).join("users.json")).unwrap_or_default();
        let text = String::from_utf8_lossy(&text);
        assert!(
            text.contains("$argon2id$") && !text.contains(PASSWORD),
            "{text}"
        );
        let log = std::fs::read_to_string(lab.dir(i).with_extension("log")).unwrap_or_default();
        assert!(!log.contains(PASSWORD), "the password is in {name}'s log");
    }
    let quorate = poll(DEADLINE, || {
        let (_, out, _) = lab.run(0, bin(), &["status", "--json"]);
        let s: serde_json::Value = serde_json::from_str(&out).unwrap_or_default();
        let online = s["nodes"]
            .as_array()
            .is_some_and(|n| n.len() == 3 && n.iter().all(|n| n["online"] == true));
        (s["quorate"] == true && online).then_some(())
    });
    assert!(quorate.is_some(), "never quorate\n{}", lab.logs());

    // pcs status cluster ; pcs status corosync ; pcs resource ; crm_mon -1
    let cluster = lab.halo("status cluster");
    let corosync = lab.halo("status corosync");
    for name in NAMES {
        assert!(cluster.contains(name), "status cluster:\n{cluster}");
        assert!(corosync.contains(name), "status corosync:\n{corosync}");
    }
    lab.halo("resource");
    let crm_mon = lab.root.join("crm_mon");
    std::os::unix::fs::symlink(bin(), &crm_mon).unwrap_or_else(|e| panic!("{e}"));
    let (ok, mon, err) = lab.run(0, &crm_mon, &["-1"]);
    assert!(ok, "crm_mon -1: {err}");
    assert!(mon.contains("3 nodes configured"), "crm_mon -1:\n{mon}");

    // pcs property set stonith-enabled=false no-quorum-policy=ignore cluster-recheck-interval=5
    lab.halo(
        "property set stonith-enabled=false no-quorum-policy=ignore cluster-recheck-interval=5",
    );
    // pcs property list [--all]
    let set = lab.halo("property list");
    for p in [
        "stonith-enabled: false",
        "no-quorum-policy: ignore",
        "cluster-recheck-interval: 5",
    ] {
        assert!(set.contains(p), "property list lacks {p}:\n{set}");
    }
    // What each property the reference sets does (pcs property describe).
    let described = lab.halo(
        "property describe stonith-enabled no-quorum-policy cluster-recheck-interval \
         pe-warn-series-max pe-input-series-max pe-error-series-max",
    );
    for p in [
        "stonith-enabled  (boolean; default true)",
        "no-quorum-policy  (one of: stop, freeze, ignore, demote, suicide; default stop)",
        "cluster-recheck-interval  (duration; default 15min)",
        "pe-input-series-max  (integer; default 4000)",
    ] {
        assert!(
            described.contains(p),
            "property describe lacks {p:?}:\n{described}"
        );
    }
    assert_eq!(
        described.matches("accepted, no effect in halo").count(),
        3,
        "{described}"
    );
    let all = lab.halo("property list --all");
    assert!(
        all.contains("batch-limit") && all.contains("stonith-enabled: false"),
        "property list --all:\n{all}"
    );

    // pcs resource create vip ocf:heartbeat:IPaddr2 ip=10.10.16.224 cidr_netmask=24 op monitor interval=30s
    lab.halo(&format!(
        "resource create vip ocf:heartbeat:IPaddr2 ip={VIP} cidr_netmask=24 op monitor interval=30s"
    ));
    // pcs resource create lb-haproxy systemd:haproxy --clone
    lab.halo("resource create lb-haproxy systemd:haproxy --clone");
    // pcs constraint order start vip then lb-haproxy-clone kind=Optional
    lab.halo("constraint order start vip then lb-haproxy-clone kind=Optional");
    // pcs constraint colocation add lb-haproxy-clone with vip
    lab.halo("constraint colocation add lb-haproxy-clone with vip");
    // pcs constraint colocation add vip_management with vip_public (the two VIPs the
    // reference's commands name without creating: created here first).
    lab.halo("resource create vip_public ocf:heartbeat:IPaddr2 ip=10.10.16.225 cidr_netmask=24");
    lab.halo(
        "resource create vip_management ocf:heartbeat:IPaddr2 ip=10.10.16.226 cidr_netmask=24",
    );
    lab.halo("constraint colocation add vip_management with vip_public");

    // The VIP on one controller, HAProxy with it (INFINITY colocation: only there), and a
    // client on another controller reaches that HAProxy through the VIP.
    let holder = lab.vip_and_haproxy_together();
    let other = (holder + 1) % 3;
    let answer = poll(DEADLINE, || {
        let got = lab.client_gets(other);
        got.contains("haproxy on").then_some(got)
    })
    .unwrap_or_default();
    assert_eq!(
        answer,
        format!("haproxy on {}", NAMES[holder]),
        "{}",
        lab.logs()
    );
    let together = poll(DEADLINE, || {
        let public = lab.holders("10.10.16.225");
        (public.len() == 1 && lab.holders("10.10.16.226") == public).then_some(())
    });
    assert!(
        together.is_some(),
        "vip_public on {:?}, vip_management on {:?}\n{}",
        lab.holders("10.10.16.225"),
        lab.holders("10.10.16.226"),
        lab.logs()
    );

    // What the operator sees.
    let status = lab.halo("status");
    let (_, mon, _) = lab.run(0, &crm_mon, &["-1"]);
    for view in [&status, &mon] {
        assert!(
            view.contains("vip") && view.contains("lb-haproxy") && view.contains(NAMES[holder]),
            "status does not show vip and lb-haproxy on {}:\n{view}",
            NAMES[holder]
        );
    }

    // An operator's move: the VIP goes, HAProxy follows, the client follows both.
    let target = (holder + 1) % 3;
    lab.halo(&format!("resource move vip {}", NAMES[target]));
    let moved = poll(DEADLINE, || {
        (lab.holders(VIP) == vec![target] && lab.haproxy_at() == vec![target]).then_some(())
    });
    assert!(
        moved.is_some(),
        "after the move the VIP is on {:?}, haproxy on {:?}\n{}",
        lab.holders(VIP),
        lab.haproxy_at(),
        lab.logs()
    );
    let client = (target + 1) % 3;
    let answer = poll(DEADLINE, || {
        let got = lab.client_gets(client);
        (got == format!("haproxy on {}", NAMES[target])).then_some(got)
    });
    assert!(answer.is_some(), "the client does not reach the moved VIP");
    lab.halo("resource clear vip");
}
