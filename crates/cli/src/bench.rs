//! `halo bench sched`: time and peak memory of one scheduling run on generated
//! clusters (100/1,000/5,000 resources on 3/16/64 nodes, with location and colocation
//! constraints and a partly running status). The same clusters can be written as
//! Pacemaker CIBs (`--emit-cib`) so `bench/sched-vs-crm_simulate` can time
//! crm_simulate on identical input.

use std::fmt::Write as _;
use std::time::Instant;

use anyhow::Context;

#[derive(clap::Args)]
pub struct Args {
    #[command(subcommand)]
    what: What,
}

#[derive(clap::Subcommand)]
enum What {
    /// Benchmark the scheduler.
    Sched(SchedArgs),
}

#[derive(clap::Args)]
struct SchedArgs {
    /// Run one size in this process and print
    /// "RESOURCES NODES IMPORT_MS SCHED_GRAPH_MS PEAK_KB GRAPH_ACTIONS".
    #[arg(long, num_args = 2, value_names = ["RESOURCES", "NODES"])]
    one: Option<Vec<usize>>,
    /// Print the generated CIB for this size instead of benchmarking.
    #[arg(long, num_args = 2, value_names = ["RESOURCES", "NODES"])]
    emit_cib: Option<Vec<usize>>,
    /// Resource counts to try.
    #[arg(long, value_delimiter = ',', default_value = "100,1000,5000")]
    resources: Vec<usize>,
    /// Node counts to try.
    #[arg(long, value_delimiter = ',', default_value = "3,16,64")]
    nodes: Vec<usize>,
    /// Every node has already probed every resource (a cluster in steady state, as
    /// the controller sees it after start-up) instead of a fresh cluster where
    /// resources are known only where they run, so that everything else is probed.
    #[arg(long)]
    probed: bool,
}

pub fn run(args: Args) -> anyhow::Result<()> {
    match args.what {
        What::Sched(a) => sched(a),
    }
}

/// A Pacemaker CIB for a synthetic cluster: `r` Dummy primitives on `n` nodes; every
/// 10th resource prefers a node (score 100), every 5th is colocated with the previous
/// one (INFINITY), every 7th avoids a node (-INFINITY); a third is already running,
/// with its monitor. With `probed`, every node has probed every other resource.
pub fn synthetic_cib(r: usize, n: usize, probed: bool) -> String {
    let start_digest = halo_sched::digest::digest(&Default::default());
    let monitor_digest =
        halo_sched::digest::digest(&[("CRM_meta_timeout".to_string(), "20000".to_string())].into());
    let mut x = String::new();
    x.push_str("<cib have-quorum=\"1\" dc-uuid=\"1\" crm_feature_set=\"3.16.2\" epoch=\"1\" num_updates=\"0\" admin_epoch=\"0\">\n<configuration>\n<crm_config><cluster_property_set id=\"o\"><nvpair id=\"o-s\" name=\"stonith-enabled\" value=\"false\"/></cluster_property_set></crm_config>\n<nodes>\n");
    for i in 1..=n {
        let _ = writeln!(x, "<node id=\"{i}\" uname=\"node{i}\"/>");
    }
    x.push_str("</nodes>\n<resources>\n");
    for i in 0..r {
        let _ = writeln!(
            x,
            "<primitive id=\"r{i}\" class=\"ocf\" provider=\"heartbeat\" type=\"Dummy\"><meta_attributes id=\"r{i}-m\"><nvpair id=\"r{i}-s\" name=\"resource-stickiness\" value=\"{}\"/></meta_attributes><operations><op id=\"r{i}-mon\" name=\"monitor\" interval=\"10s\"/></operations></primitive>",
            if i % 2 == 0 { 100 } else { 0 }
        );
    }
    x.push_str("</resources>\n<constraints>\n");
    for i in 0..r {
        if i % 10 == 0 {
            let _ = writeln!(
                x,
                "<rsc_location id=\"l{i}\" rsc=\"r{i}\" node=\"node{}\" score=\"100\"/>",
                i % n + 1
            );
        }
        if i % 7 == 3 {
            let _ = writeln!(
                x,
                "<rsc_location id=\"a{i}\" rsc=\"r{i}\" node=\"node{}\" score=\"-INFINITY\"/>",
                (i / 7) % n + 1
            );
        }
        if i % 5 == 1 {
            let _ = writeln!(
                x,
                "<rsc_colocation id=\"c{i}\" rsc=\"r{i}\" with-rsc=\"r{}\" score=\"INFINITY\"/>",
                i - 1
            );
        }
    }
    x.push_str("</constraints>\n</configuration>\n<status>\n");
    for j in 1..=n {
        let _ = write!(
            x,
            "<node_state id=\"{j}\" uname=\"node{j}\" in_ccm=\"true\" crmd=\"online\" join=\"member\" expected=\"member\"><lrm id=\"{j}\"><lrm_resources>"
        );
        for i in 0..r {
            let running = i % 3 == 0 && i % n + 1 == j;
            if running {
                let _ = write!(
                    x,
                    "<lrm_resource id=\"r{i}\" class=\"ocf\" provider=\"heartbeat\" type=\"Dummy\"><lrm_rsc_op id=\"r{i}_last_0\" operation_key=\"r{i}_start_0\" operation=\"start\" transition-key=\"1:1:0:x\" transition-magic=\"0:0;1:1:0:x\" call-id=\"{}\" rc-code=\"0\" op-status=\"0\" interval=\"0\" op-digest=\"{start_digest}\"/><lrm_rsc_op id=\"r{i}_monitor_10000\" operation_key=\"r{i}_monitor_10000\" operation=\"monitor\" transition-key=\"2:1:0:x\" transition-magic=\"0:0;2:1:0:x\" call-id=\"{}\" rc-code=\"0\" op-status=\"0\" interval=\"10000\" op-digest=\"{monitor_digest}\"/></lrm_resource>",
                    2 * i + 1,
                    2 * i + 2
                );
            } else if probed {
                let _ = write!(
                    x,
                    "<lrm_resource id=\"r{i}\" class=\"ocf\" provider=\"heartbeat\" type=\"Dummy\"><lrm_rsc_op id=\"r{i}_last_0\" operation_key=\"r{i}_monitor_0\" operation=\"monitor\" transition-key=\"3:1:7:x\" transition-magic=\"0:7;3:1:7:x\" call-id=\"{}\" rc-code=\"7\" op-status=\"0\" interval=\"0\" op-digest=\"{start_digest}\"/></lrm_resource>",
                    2 * i + 1
                );
            }
        }
        x.push_str("</lrm_resources></lrm></node_state>\n");
    }
    x.push_str("</status>\n</cib>\n");
    x
}

/// Peak resident memory of this process in KiB (VmHWM), if the kernel tells.
fn peak_kb() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM:"))
                .and_then(|l| l.split_whitespace().nth(1).map(|v| v.parse().unwrap_or(0)))
        })
        .unwrap_or(0)
}

fn one(r: usize, n: usize, probed: bool) -> anyhow::Result<(f64, f64, u64, usize)> {
    let xml = synthetic_cib(r, n, probed);
    let t0 = Instant::now();
    let imp = halo_model::parse_cib(&xml, "synthetic")?;
    let import_ms = t0.elapsed().as_secs_f64() * 1000.0;
    // Scheduling includes building the transition graph, as the controller needs it.
    let t1 = Instant::now();
    let plan = halo_sched::schedule(&imp.config, &imp.status, 0)?;
    if std::env::var("HALO_BENCH_DEBUG").is_ok() {
        eprintln!(
            "schedule alone {:.1} ms",
            t1.elapsed().as_secs_f64() * 1000.0
        );
    }
    let graph = plan.graph();
    let sched_ms = t1.elapsed().as_secs_f64() * 1000.0;
    Ok((import_ms, sched_ms, peak_kb(), graph.actions.len()))
}

fn sched(a: SchedArgs) -> anyhow::Result<()> {
    if let Some(v) = a.emit_cib {
        print!("{}", synthetic_cib(v[0], v[1], a.probed));
        return Ok(());
    }
    if let Some(v) = a.one {
        let (imp, ms, kb, changes) = one(v[0], v[1], a.probed)?;
        println!("{} {} {:.1} {:.1} {} {}", v[0], v[1], imp, ms, kb, changes);
        return Ok(());
    }
    let exe = std::env::current_exe().context("cannot find the halo binary")?;
    println!(
        "{:>9} {:>6} {:>12} {:>14} {:>12} {:>8}",
        "resources", "nodes", "import ms", "sched+graph ms", "peak MiB", "actions"
    );
    for &r in &a.resources {
        for &n in &a.nodes {
            // One process per size, so peak memory belongs to that run alone.
            let mut cmd = std::process::Command::new(&exe);
            cmd.args(["bench", "sched", "--one", &r.to_string(), &n.to_string()]);
            if a.probed {
                cmd.arg("--probed");
            }
            let out = cmd.output().context("cannot run the benchmark child")?;
            if !out.status.success() {
                anyhow::bail!(
                    "benchmark of {r} x {n} failed: {}",
                    String::from_utf8_lossy(&out.stderr)
                );
            }
            let line = String::from_utf8_lossy(&out.stdout);
            let f: Vec<&str> = line.split_whitespace().collect();
            if f.len() < 6 {
                anyhow::bail!("unexpected benchmark output: {line}");
            }
            let kb: f64 = f[4].parse().unwrap_or(0.0);
            println!(
                "{:>9} {:>6} {:>12} {:>14} {:>12.1} {:>8}",
                r,
                n,
                f[2],
                f[3],
                kb / 1024.0,
                f[5]
            );
        }
    }
    Ok(())
}
