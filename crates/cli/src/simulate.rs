//! `halo simulate`: run the scheduler offline on a Pacemaker CIB or a native
//! configuration and print the plan in crm_simulate's format.

use std::path::PathBuf;

use anyhow::{bail, Context};

/// The reference deployment, used when no input is given.
const EMBEDDED: &str = include_str!("../../../examples/openstack.toml");

/// Arguments of `halo simulate`.
#[derive(clap::Args)]
pub struct Args {
    /// A Pacemaker CIB (cibadmin --query output: configuration and status).
    #[arg(long, short = 'x', conflicts_with = "config")]
    pub xml: Option<PathBuf>,
    /// A native halo configuration (TOML). Without --xml or --config, the embedded
    /// reference deployment (examples/openstack.toml) is used.
    #[arg(long, short = 'c')]
    pub config: Option<PathBuf>,
    /// Print the allocation scores.
    #[arg(long, short = 's')]
    pub show_scores: bool,
    /// Say in plain words why RESOURCE is where it is, or why it cannot run.
    #[arg(long, value_name = "RESOURCE")]
    pub explain: Option<String>,
    /// Write the transition graph to FILE in crm_simulate's DOT form (`-D`).
    #[arg(long, short = 'D', value_name = "FILE")]
    pub dot: Option<PathBuf>,
    /// Write the transition graph to FILE as versioned JSON (halo-graph/1).
    #[arg(long, value_name = "FILE")]
    pub graph_json: Option<PathBuf>,
}

fn write(path: &PathBuf, text: &str) -> anyhow::Result<()> {
    std::fs::write(path, text).with_context(|| format!("cannot write {}", path.display()))
}

fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

fn read(path: &PathBuf) -> anyhow::Result<String> {
    std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))
}

pub fn run(args: Args) -> anyhow::Result<()> {
    let (config, status) = if let Some(path) = &args.xml {
        let text = read(path)?;
        let imp = halo_model::parse_cib(&text, &path.display().to_string())?;
        for n in &imp.notices {
            eprintln!("halo: note: {n}");
        }
        (imp.config, imp.status)
    } else {
        let (text, name) = match &args.config {
            Some(path) => (read(path)?, path.display().to_string()),
            None => (EMBEDDED.to_string(), "examples/openstack.toml".to_string()),
        };
        let doc = halo_model::native::parse_native(&text, &name)?;
        (doc.config, doc.status)
    };
    let plan = halo_sched::simulate(&config, &status, now())?;
    for w in &plan.warnings {
        eprintln!("halo: warning: {w}");
    }
    if args.dot.is_some() || args.graph_json.is_some() {
        let graph = plan.graph();
        if let Some(path) = &args.dot {
            write(path, &graph.to_dot())?;
        }
        if let Some(path) = &args.graph_json {
            let mut json = serde_json::to_string_pretty(&graph)?;
            json.push('\n');
            write(path, &json)?;
        }
    }
    let mut out = String::new();
    out.push_str("Current cluster status:\n");
    out.push_str(&plan.status_text(false));
    out.push('\n');
    if args.show_scores {
        out.push_str("Allocation scores:\n");
        for (rsc, per_node) in plan.scores() {
            for (node, score) in per_node {
                let s = halo_model::Score::new(score);
                out.push_str(&format!("  {rsc} allocation score on {node}: {s}\n"));
            }
        }
        out.push('\n');
    }
    out.push_str("Transition Summary:\n");
    for line in halo_sched::summary::render_all(&plan.changes) {
        out.push_str(&format!("  {line}\n"));
    }
    out.push_str("\nRevised Cluster Status:\n");
    out.push_str(&plan.status_text(true));
    if let Some(r) = &args.explain {
        match plan.explain(r) {
            Some(text) => {
                out.push_str(&format!("\nWhy {r}:\n"));
                out.push_str(&text);
            }
            None => {
                print!("{out}");
                bail!("HALO-E101 resource '{r}' is not in the configuration");
            }
        }
    }
    print!("{out}");
    Ok(())
}
