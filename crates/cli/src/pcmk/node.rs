//! `crm_node`: this node's name and id, the members, the partition, quorum.
//!
//! Members are the cluster's nodes that run resources (a witness votes but is not a
//! Pacemaker node); a member this node is in contact with is `member`, another `lost`.

use std::cmp::Ordering;

use super::opts::{self, flag, value, Spec};
use super::{exit, print_version, Ctx, Fail, Res};

const SPECS: &[Spec] = &[
    flag('h', "help"),
    flag('$', "version"),
    flag('V', "verbose"),
    flag('i', "cluster-id"),
    flag('l', "list"),
    flag('n', "name"),
    flag('p', "partition"),
    flag('q', "quorum"),
    value('N', "name-for-id"),
    value('R', "remove"),
    flag('f', "force"),
    flag('C', "corosync"),
];

/// `crm_node`.
pub fn crm_node(args: &[String]) -> Res<i32> {
    let p = opts::parse(SPECS, args)?;
    if p.has("help") {
        print!(
            "{}",
            opts::usage(
                "crm_node",
                "crm_node - Tool for displaying low-level node information (halo)",
                SPECS
            )
        );
        return Ok(exit::OK);
    }
    if p.has("version") {
        print_version();
        return Ok(exit::OK);
    }
    let command = p
        .opts
        .iter()
        .rev()
        .find(|(k, _)| {
            [
                "cluster-id",
                "list",
                "name",
                "partition",
                "quorum",
                "name-for-id",
                "remove",
            ]
            .contains(k)
        })
        .map(|(k, v)| (*k, v.clone()));
    let Some((command, arg)) = command else {
        return Err(Fail::usage(
            "error: a command is required (-n, -i, -l, -p, -q or -N ID)",
        ));
    };
    if command == "name" {
        // An agent is told its node's name.
        if let Some(n) = std::env::var("OCF_RESKEY_CRM_meta_on_node")
            .ok()
            .filter(|n| !n.is_empty())
        {
            println!("{n}");
            return Ok(exit::OK);
        }
    }
    if command == "remove" {
        return Err(Fail::new(
            exit::UNIMPLEMENT_FEATURE,
            "error: remove nodes with `halo cluster remove NODE`",
        ));
    }
    let ctx = Ctx::new()?;
    let st = ctx.status().map_err(controller_fail)?;
    let mut members: Vec<&halo_consensus::NodeReport> =
        st.nodes.iter().filter(|n| n.role != "witness").collect();
    members.sort_by(|a, b| numeric_strcasecmp(&a.name, &b.name));
    match command {
        "name" => println!("{}", st.node),
        "cluster-id" => {
            let Some(me) = st.nodes.iter().find(|n| n.name == st.node) else {
                return Err(Fail::new(
                    exit::ERROR,
                    "error: this node is not in a cluster: it has no cluster id",
                ));
            };
            println!("{}", me.id);
        }
        "name-for-id" => {
            let id: u64 = arg
                .as_deref()
                .and_then(|a| a.trim().parse().ok())
                .unwrap_or(0);
            match st.nodes.iter().find(|n| n.id == id) {
                Some(n) => println!("{}", n.name),
                None => {
                    return Err(Fail::new(
                        exit::NOHOST,
                        "error: Node is not known to cluster",
                    ))
                }
            }
        }
        "quorum" => {
            println!("{}", u8::from(st.quorate));
            if !st.quorate {
                return Ok(exit::QUORUM);
            }
        }
        "list" => {
            for n in &members {
                let state = if n.online { "member" } else { "lost" };
                println!("{} {} {state}", n.id, n.name);
            }
        }
        "partition" => {
            let mut line = String::new();
            for n in members.iter().filter(|n| n.online) {
                line.push_str(&n.name);
                line.push(' ');
            }
            println!("{line}");
        }
        _ => {}
    }
    Ok(exit::OK)
}

/// crm_node's connection error is about the controller.
fn controller_fail(f: Fail) -> Fail {
    if f.code == exit::DISCONNECT {
        Fail::new(
            f.code,
            format!(
                "error: Could not connect to controller: Connection refused ({})",
                f.msg
            ),
        )
    } else {
        Fail::new(f.code, format!("error: {}", f.msg))
    }
}

/// Case-insensitive comparison in which runs of digits compare as numbers (node2 <
/// node10), as Pacemaker sorts node names.
pub fn numeric_strcasecmp(a: &str, b: &str) -> Ordering {
    let (a, b) = (a.as_bytes(), b.as_bytes());
    let (mut i, mut j) = (0, 0);
    while i < a.len() && j < b.len() {
        if a[i].is_ascii_digit() && b[j].is_ascii_digit() {
            let si = i;
            while i < a.len() && a[i].is_ascii_digit() {
                i += 1;
            }
            let sj = j;
            while j < b.len() && b[j].is_ascii_digit() {
                j += 1;
            }
            let na = std::str::from_utf8(&a[si..i])
                .unwrap_or("0")
                .trim_start_matches('0');
            let nb = std::str::from_utf8(&b[sj..j])
                .unwrap_or("0")
                .trim_start_matches('0');
            let ord = na.len().cmp(&nb.len()).then_with(|| na.cmp(nb));
            if ord != Ordering::Equal {
                return ord;
            }
            continue;
        }
        let ord = a[i].to_ascii_lowercase().cmp(&b[j].to_ascii_lowercase());
        if ord != Ordering::Equal {
            return ord;
        }
        i += 1;
        j += 1;
    }
    (a.len() - i).cmp(&(b.len() - j))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn node_names_sort_numerically() {
        let mut v = vec!["node10", "Node2", "node1", "alpha"];
        v.sort_by(|a, b| numeric_strcasecmp(a, b));
        assert_eq!(v, ["alpha", "node1", "Node2", "node10"]);
    }
}
