//! `halo cluster setup`: per-node bundles made offline, for configuration-management tools.
//! Each bundle is a ready state directory: identity, TLS files and a `bootstrap.json` that
//! makes the lowest-id node initialise the cluster with every member at first start.

use std::collections::BTreeMap;
use std::path::Path;

use crate::error::{Error, Result};
use crate::node::{make_private_dir, BootstrapFile, IdentityFile, Layout};
use crate::pki::{self, Identity};
use crate::state::Settings;

/// One node of an offline setup.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SetupNode {
    pub name: String,
    pub addr: String,
    pub witness: bool,
}

/// Write one state directory per node under `out` (`out/NODE/`). Refuses to overwrite.
pub fn make_bundles(
    cluster: &str,
    nodes: &[SetupNode],
    settings: Settings,
    out: &Path,
) -> Result<()> {
    if nodes.is_empty() {
        return Err(Error::Invalid("give at least one NODE=ADDR".into()));
    }
    for (i, n) in nodes.iter().enumerate() {
        pki::check_node_name(&n.name)?;
        if nodes[..i].iter().any(|m| m.name == n.name) {
            return Err(Error::Invalid(format!("node {} is given twice", n.name)));
        }
        if nodes[..i].iter().any(|m| m.addr == n.addr) {
            return Err(Error::Invalid(format!("address {} is given twice", n.addr)));
        }
        if out.join(&n.name).exists() {
            return Err(Error::Invalid(format!(
                "{} already exists; remove it or choose another --out",
                out.join(&n.name).display()
            )));
        }
    }
    let (ca, ca_key, fp) = pki::generate_ca(cluster)?;
    let members: Vec<(String, u64, String, bool)> = nodes
        .iter()
        .enumerate()
        .map(|(i, n)| (n.name.clone(), i as u64 + 1, n.addr.clone(), n.witness))
        .collect();
    let mut issued = BTreeMap::new();
    for (name, _, _, _) in &members {
        issued.insert(name.clone(), pki::issue_node_cert(&ca, &ca_key, name)?);
    }
    let certs = issued
        .iter()
        .map(|(name, (cert, _))| Ok((name.clone(), pki::fingerprint_pem(cert)?)))
        .collect::<Result<BTreeMap<String, String>>>()?;
    let boot = BootstrapFile {
        v: 1,
        cluster: cluster.to_string(),
        ca_cert_pem: ca.clone(),
        ca_key_pem: crate::state::Secret::default(),
        ca_fingerprint: fp,
        members: members.clone(),
        settings,
        certs,
    };
    make_private_dir(out)?;
    for (name, id, addr, witness) in members {
        let (cert, key) = issued
            .remove(&name)
            .ok_or_else(|| Error::Invalid(format!("no certificate issued for {name}")))?;
        let layout = Layout {
            dir: out.join(&name),
        };
        layout.write_identity(
            &IdentityFile {
                v: 1,
                name: name.clone(),
                id,
                cluster: cluster.to_string(),
                addr,
                witness,
            },
            &Identity {
                name,
                ca_cert_pem: ca.clone(),
                cert_pem: cert,
                key_pem: key,
            },
        )?;
        let bytes = serde_json::to_vec_pretty(&boot).map_err(|e| Error::Store(e.to_string()))?;
        crate::node::write_private(&layout.bootstrap(), &bytes)?;
        // Full voters may admit nodes later; a witness never holds the CA key.
        if !witness {
            crate::node::write_private(&layout.ca_key(), ca_key.as_bytes())?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Offline bundles: each full voter gets the CA key (mode 0600) in its own file; a
    /// witness's bundle holds it nowhere, its bootstrap file included.
    #[test]
    fn bundles_give_the_ca_key_to_full_voters_only() {
        use std::os::unix::fs::PermissionsExt;
        let out = std::env::temp_dir().join(format!("halo-setup-test-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&out);
        let node = |name: &str, port: u16, witness: bool| SetupNode {
            name: name.into(),
            addr: format!("127.0.0.1:{port}"),
            witness,
        };
        let nodes = [node("a", 1, false), node("b", 2, false), node("w", 3, true)];
        make_bundles("t", &nodes, Settings::default(), &out).unwrap_or_else(|e| panic!("{e}"));
        let key_of = |n: &str| std::fs::read_to_string(out.join(n).join("ca-key.pem"));
        let key = key_of("a").unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(key_of("b").ok().as_deref(), Some(key.as_str()));
        let mode = std::fs::metadata(out.join("b/ca-key.pem"))
            .map(|m| m.permissions().mode() & 0o777)
            .unwrap_or(0);
        assert_eq!(mode, 0o600);
        assert!(key_of("w").is_err());
        let line = key
            .lines()
            .filter(|l| !l.starts_with("-----"))
            .max_by_key(|l| l.len())
            .unwrap_or_default()
            .to_string();
        let mut todo = vec![out.join("w")];
        while let Some(d) = todo.pop() {
            for e in std::fs::read_dir(&d).into_iter().flatten().flatten() {
                if e.path().is_dir() {
                    todo.push(e.path());
                } else {
                    let text = std::fs::read_to_string(e.path()).unwrap_or_default();
                    assert!(!text.contains(&line), "CA key in {}", e.path().display());
                }
            }
        }
        let _ = std::fs::remove_dir_all(&out);
    }
}
