//! Executor overhead: time to spawn and reap an agent, and monitors per second.
//!
//! `cargo bench -p halo-exec` prints, for the same agent:
//! * halo's executor (`Executor::execute`), sequentially: mean and p50/p99 per op;
//! * the baseline: a plain fork+exec+wait of the same agent with the same
//!   environment (`std::process::Command::output`), and a shell loop running it;
//! * throughput: monitors/second through the executor at several concurrencies,
//!   against the baseline run from as many threads.
//!
//! Two agents: `ocf:heartbeat:Dummy` (a real shell agent) and an OCF agent that is
//! `/bin/true` itself, which isolates the executor's own cost from the agent's.
//!
//! Set HALO_BENCH_N to change the number of operations (default 300).

use std::path::Path;
use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, Instant};

use halo_exec::{parse_agent, AgentRegistry, ExecConfig, Executor, NullSink, OpRequest};

fn stats(mut v: Vec<Duration>) -> (f64, f64, f64) {
    v.sort();
    let mean = v.iter().sum::<Duration>().as_secs_f64() / v.len() as f64;
    let p = |q: f64| v[((v.len() as f64 - 1.0) * q) as usize].as_secs_f64();
    (mean * 1e3, p(0.5) * 1e3, p(0.99) * 1e3)
}

fn ocf_env(root: &Path, rsctmp: &Path, kind: &str, rsc: &str) -> Vec<(String, String)> {
    // The same environment the executor gives (see run.rs: ocf_env).
    let config = ExecConfig::default();
    vec![
        ("PATH".into(), config.path),
        ("LC_ALL".into(), "C".into()),
        ("HA_RSCTMP".into(), rsctmp.display().to_string()),
        ("PCMK_logfacility".into(), "daemon".into()),
        ("HA_logfacility".into(), "daemon".into()),
        ("HA_LOGFACILITY".into(), "daemon".into()),
        ("PCMK_debug".into(), "0".into()),
        ("HA_debug".into(), "0".into()),
        ("OCF_ROOT".into(), root.display().to_string()),
        ("OCF_RA_VERSION_MAJOR".into(), "1".into()),
        ("OCF_RA_VERSION_MINOR".into(), "1".into()),
        ("OCF_RESOURCE_INSTANCE".into(), rsc.into()),
        ("OCF_RESOURCE_TYPE".into(), kind.into()),
        ("OCF_RESOURCE_PROVIDER".into(), "heartbeat".into()),
        ("OCF_RESKEY_CRM_meta_timeout".into(), "20000".into()),
        (
            "OCF_RESKEY_crm_feature_set".into(),
            halo_exec::config::CRM_FEATURE_SET.into(),
        ),
        ("OCF_EXIT_REASON_PREFIX".into(), "ocf-exit-reason:".into()),
        ("OCF_RESKEY_CRM_meta_on_node".into(), config.node),
    ]
}

fn baseline_once(path: &Path, env: &[(String, String)]) -> Duration {
    let t = Instant::now();
    let out = Command::new(path)
        .arg("monitor")
        .env_clear()
        .envs(env.iter().map(|(k, v)| (k, v)))
        .output()
        .expect("baseline spawn");
    assert!(out.status.code().is_some());
    t.elapsed()
}

fn main() {
    // `cargo test --all-targets` runs this binary without `--bench`: a quick smoke run.
    let smoke = !std::env::args().any(|a| a == "--bench");
    let n: usize = std::env::var("HALO_BENCH_N")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(if smoke { 5 } else { 300 });
    let dir = tempfile::tempdir().expect("tempdir");
    let root = dir.path().join("ocf");
    std::fs::create_dir_all(root.join("resource.d/heartbeat")).unwrap();
    std::os::unix::fs::symlink("/usr/lib/ocf/lib", root.join("lib")).unwrap();
    std::os::unix::fs::symlink(
        "/usr/lib/ocf/resource.d/heartbeat/Dummy",
        root.join("resource.d/heartbeat/Dummy"),
    )
    .unwrap();
    std::os::unix::fs::symlink("/bin/true", root.join("resource.d/heartbeat/True")).unwrap();
    let rsctmp = dir.path().join("rsctmp");
    let config = ExecConfig {
        ocf_root: root.clone(),
        rsctmp: rsctmp.clone(),
        state_dir: dir.path().join("state"),
        max_concurrent: 1024,
        ..ExecConfig::default()
    };
    let exec = Executor::new(config, AgentRegistry::with_defaults(), Arc::new(NullSink));
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    println!("halo-exec benchmark, {n} operations per figure, 2 cores");
    for kind in ["True", "Dummy"] {
        let agent = parse_agent(&format!("ocf:heartbeat:{kind}")).unwrap();
        let path = root.join("resource.d/heartbeat").join(kind);
        let env = ocf_env(&root, &rsctmp, kind, "b");
        // Warm up both paths.
        for _ in 0..10 {
            rt.block_on(exec.execute(OpRequest::new("b", agent.clone(), "monitor")));
            baseline_once(&path, &env);
        }
        // Sequential latency, taking turns so that drift affects both alike.
        let mut halo = Vec::with_capacity(n);
        let mut base = Vec::with_capacity(n);
        for _ in 0..n {
            let t = Instant::now();
            rt.block_on(exec.execute(OpRequest::new("b", agent.clone(), "monitor")));
            halo.push(t.elapsed());
            base.push(baseline_once(&path, &env));
        }
        let t = Instant::now();
        let mut sh = Command::new("/bin/sh");
        sh.arg("-c")
            .arg(format!(
                "i=0; while [ $i -lt {n} ]; do \"{}\" monitor >/dev/null 2>&1; i=$((i+1)); done",
                path.display()
            ))
            .env_clear()
            .envs(env.iter().map(|(k, v)| (k, v)));
        sh.status().expect("shell loop");
        let shell_ms = t.elapsed().as_secs_f64() * 1e3 / n as f64;
        let (hm, hp50, hp99) = stats(halo);
        let (bm, bp50, bp99) = stats(base);
        println!("\nagent ocf:heartbeat:{kind} monitor, sequential spawn+reap:");
        println!("  halo executor      mean {hm:7.3} ms  p50 {hp50:7.3}  p99 {hp99:7.3}");
        println!("  fork+exec+wait     mean {bm:7.3} ms  p50 {bp50:7.3}  p99 {bp99:7.3}");
        println!("  shell loop         mean {shell_ms:7.3} ms");
        println!(
            "  ratio halo/fork+exec {:.2}, halo/shell {:.2}, executor overhead {:+.3} ms/op",
            hm / bm,
            hm / shell_ms,
            hm - bm
        );
        // Throughput at several concurrencies (distinct resources, so they overlap).
        let concurrencies: &[usize] = if smoke { &[2] } else { &[1, 8, 64] };
        for &conc in concurrencies {
            let total = n.max(conc);
            let t = Instant::now();
            rt.block_on(async {
                let mut set = tokio::task::JoinSet::new();
                for w in 0..conc {
                    let exec = exec.clone();
                    let agent = agent.clone();
                    let per = total / conc;
                    set.spawn(async move {
                        for _ in 0..per {
                            exec.execute(OpRequest::new(format!("w{w}"), agent.clone(), "monitor"))
                                .await;
                        }
                    });
                }
                while set.join_next().await.is_some() {}
            });
            let halo_rate = (total / conc * conc) as f64 / t.elapsed().as_secs_f64();
            let t = Instant::now();
            std::thread::scope(|s| {
                for _ in 0..conc {
                    s.spawn(|| {
                        for _ in 0..total / conc {
                            baseline_once(&path, &env);
                        }
                    });
                }
            });
            let base_rate = (total / conc * conc) as f64 / t.elapsed().as_secs_f64();
            println!(
                "  concurrency {conc:3}: halo {halo_rate:8.0} monitors/s, fork+exec threads {base_rate:8.0}/s, ratio {:.2}",
                halo_rate / base_rate
            );
        }
    }
}
