//! Cluster benchmarks with real daemons on 127.0.0.1 (run: `cargo bench -p halo-cli --bench cluster`).
//!
//! 1. start 3 configured daemons -> a quorate cluster with a DC (offline-setup bundles, so
//!    this is process start to quorum);
//! 2. `halo cluster init` + two joins -> 3 quorate voters (fresh formation);
//! 3. SIGKILL the DC -> a survivor reports a new DC;
//! 4. commit latency of configuration changes (sequential, through the leader and through a
//!    follower) and throughput with 32 changes in flight.

use std::path::Path;
use std::time::{Duration, Instant};

use halo_api::Client;
use halo_consensus::Change;
use halo_testkit::cluster::Cluster;

const ROUNDS: usize = 5;

fn bin() -> &'static Path {
    Path::new(env!("CARGO_BIN_EXE_halo"))
}

fn rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime")
}

/// Poll the daemons' status every 5 ms until `pred` holds on any of `idx`; returns when.
fn wait_until(
    rt: &tokio::runtime::Runtime,
    c: &Cluster,
    idx: &[usize],
    pred: impl Fn(&halo_consensus::StatusReport) -> bool,
) -> Instant {
    let clients: Vec<Client> = idx
        .iter()
        .map(|i| Client::new(&c.daemons[*i].dir))
        .collect();
    let end = Instant::now() + Duration::from_secs(60);
    loop {
        for cl in &clients {
            if let Ok(st) = rt.block_on(cl.status()) {
                if pred(&st) {
                    return Instant::now();
                }
            }
        }
        assert!(Instant::now() < end, "timed out\n{}", c.logs());
        std::thread::sleep(Duration::from_millis(5));
    }
}

fn median(v: &mut [f64]) -> f64 {
    v.sort_by(|a, b| a.partial_cmp(b).unwrap_or(std::cmp::Ordering::Equal));
    v[v.len() / 2]
}

fn pct(v: &mut [f64], p: f64) -> f64 {
    v.sort_by(|a, b| a.partial_cmp(b).unwrap_or(std::cmp::Ordering::Equal));
    v[((v.len() as f64 - 1.0) * p).round() as usize]
}

fn setup_cluster(label: &str) -> Cluster {
    let mut c = Cluster::new(bin(), label);
    for n in ["b1", "b2", "b3"] {
        c.add(n, false);
    }
    let out = c.root.join("bundles");
    let mut args: Vec<String> = vec![
        "cluster".into(),
        "setup".into(),
        "--name".into(),
        "bench".into(),
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
        std::fs::rename(out.join(&c.daemons[i].name), &c.daemons[i].dir).expect("bundle");
    }
    c
}

fn main() {
    // `cargo test --all-targets` also runs this binary (without `--bench`): do nothing then.
    if !std::env::args().any(|a| a == "--bench") {
        println!("cluster benchmarks: run with `cargo bench -p halo-cli --bench cluster`");
        return;
    }
    let rt = rt();
    let all = [0usize, 1, 2];
    let quorate =
        |s: &halo_consensus::StatusReport| s.quorate && s.dc.is_some() && s.voters_online == 3;

    // 1. process start -> quorate with a DC.
    let mut start_ms = vec![];
    for r in 0..ROUNDS {
        let mut c = setup_cluster(&format!("bench-start{r}"));
        let t0 = Instant::now();
        for i in 0..3 {
            c.start(i);
        }
        let t1 = wait_until(&rt, &c, &all, |s| s.quorate && s.dc.is_some());
        start_ms.push((t1 - t0).as_secs_f64() * 1000.0);
    }

    // 2. init + 2 joins -> three quorate voters.
    let mut form_ms = vec![];
    for r in 0..ROUNDS {
        let mut c = Cluster::new(bin(), &format!("bench-form{r}"));
        for n in ["f1", "f2", "f3"] {
            let i = c.add(n, false);
            c.start(i);
        }
        let t0 = Instant::now();
        c.form(0, &[1, 2]);
        let t1 = wait_until(&rt, &c, &[0], quorate);
        form_ms.push((t1 - t0).as_secs_f64() * 1000.0);
    }

    // 3. kill the DC -> new DC.
    let mut failover_ms = vec![];
    for r in 0..ROUNDS {
        let mut c = setup_cluster(&format!("bench-failover{r}"));
        for i in 0..3 {
            c.start(i);
        }
        wait_until(&rt, &c, &all, quorate);
        // Let liveness settle so every node has fresh pings.
        std::thread::sleep(Duration::from_millis(500));
        let st = rt
            .block_on(Client::new(&c.daemons[0].dir).status())
            .expect("status");
        let dc = st.dc.clone().expect("dc");
        let dead = c.index(&dc);
        let rest: Vec<usize> = all.iter().copied().filter(|i| *i != dead).collect();
        let t0 = Instant::now();
        c.kill(dead);
        let t1 = wait_until(&rt, &c, &rest, |s| {
            s.quorate && s.dc.is_some() && s.dc.as_deref() != Some(dc.as_str())
        });
        failover_ms.push((t1 - t0).as_secs_f64() * 1000.0);
    }

    // 4. commit latency and throughput.
    let mut c = setup_cluster("bench-commit");
    for i in 0..3 {
        c.start(i);
    }
    wait_until(&rt, &c, &all, quorate);
    std::thread::sleep(Duration::from_millis(500));
    let st = rt
        .block_on(Client::new(&c.daemons[0].dir).status())
        .expect("status");
    let leader = c.index(st.dc.as_deref().expect("dc"));
    let follower = (leader + 1) % 3;
    let lat = |i: usize, n: usize| -> Vec<f64> {
        let cl = Client::new(&c.daemons[i].dir);
        (0..n)
            .map(|k| {
                let t0 = Instant::now();
                rt.block_on(cl.propose(Change::Noop {
                    note: format!("lat{k}"),
                }))
                .expect("propose");
                t0.elapsed().as_secs_f64() * 1000.0
            })
            .collect()
    };
    let mut lat_leader = lat(leader, 300);
    let mut lat_follower = lat(follower, 300);
    let total = 2000usize;
    let inflight = 32usize;
    let cl = Client::new(&c.daemons[leader].dir);
    let t0 = Instant::now();
    rt.block_on(async {
        let mut set = tokio::task::JoinSet::new();
        let mut next = 0usize;
        while next < total || !set.is_empty() {
            while next < total && set.len() < inflight {
                let cl = cl.clone();
                let k = next;
                set.spawn(async move {
                    cl.propose(Change::Noop {
                        note: format!("tp{k}"),
                    })
                    .await
                    .map(|_| ())
                });
                next += 1;
            }
            if let Some(r) = set.join_next().await {
                r.expect("join").expect("propose");
            }
        }
    });
    let tput = total as f64 / t0.elapsed().as_secs_f64();

    println!(
        "halo cluster benchmarks (3 daemons on 127.0.0.1, {ROUNDS} rounds, median; all times ms)"
    );
    println!(
        "start 3 configured daemons -> quorate with DC: median {:.0}  (all: {:?})",
        median(&mut start_ms.clone()),
        start_ms.iter().map(|x| x.round()).collect::<Vec<_>>()
    );
    println!(
        "init + 2 joins -> 3 quorate voters:            median {:.0}  (all: {:?})",
        median(&mut form_ms.clone()),
        form_ms.iter().map(|x| x.round()).collect::<Vec<_>>()
    );
    println!(
        "SIGKILL DC -> new DC:                          median {:.0}  (all: {:?})",
        median(&mut failover_ms.clone()),
        failover_ms.iter().map(|x| x.round()).collect::<Vec<_>>()
    );
    println!(
        "commit latency via leader (300 sequential):    p50 {:.2}  p99 {:.2}",
        pct(&mut lat_leader, 0.5),
        pct(&mut lat_leader, 0.99)
    );
    println!(
        "commit latency via follower (300 sequential):  p50 {:.2}  p99 {:.2}",
        pct(&mut lat_follower, 0.5),
        pct(&mut lat_follower, 0.99)
    );
    println!("throughput, {inflight} in flight, {total} changes:       {tput:.0} changes/s");
}
