//! `halo status`: the cluster as this node sees it.

use crate::cluster::{runtime, Target};

#[derive(clap::Args)]
pub struct Args {
    #[command(flatten)]
    pub target: Target,
    /// Print JSON (keys: cluster, quorate, dc, term, nodes[name, online, role], ...).
    #[arg(long)]
    pub json: bool,
}

pub fn run(args: Args) -> anyhow::Result<()> {
    let st = runtime()?.block_on(args.target.client().status())?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&st)?);
        return Ok(());
    }
    let Some(cluster) = &st.cluster else {
        println!(
            "Node {} is not in a cluster (halo cluster init / halo cluster join).",
            st.node
        );
        return Ok(());
    };
    println!("Cluster: {cluster}    node: {} ({})", st.node, st.state);
    println!(
        "Quorum: {} ({} of {} voters online)    DC: {}    term: {}    epoch: {}",
        if st.quorate { "yes" } else { "NO" },
        st.voters_online,
        st.voters,
        st.dc.as_deref().unwrap_or("none"),
        st.term,
        st.epoch
    );
    println!("Nodes:");
    for n in &st.nodes {
        println!(
            "  {:<16} {:<8} {:<8} {}{}",
            n.name,
            n.role,
            if n.online { "online" } else { "OFFLINE" },
            n.addr,
            if st.dc.as_deref() == Some(n.name.as_str()) {
                "  (DC)"
            } else {
                ""
            }
        );
    }
    Ok(())
}
