//! The nodes this user has authenticated to (`halo cluster auth`, as pcs's known hosts):
//! each node's API address, its API key's fingerprint (pinned at the first contact,
//! as ssh does), and the API token the node issued. Kept in
//! `$HALO_HOSTS_FILE`, else `$XDG_CONFIG_HOME/halo/hosts.json`, else
//! `~/.config/halo/hosts.json`, mode 0600 (the tokens are credentials).

use std::collections::BTreeMap;
use std::io::{BufRead, IsTerminal, Write};
use std::path::PathBuf;

use anyhow::{bail, Context};
use serde::{Deserialize, Serialize};

/// The remote API's port when a node is named without one.
pub const API_PORT: u16 = 2224;

#[derive(Clone, Serialize, Deserialize)]
pub struct Host {
    /// HOST:PORT of the node's remote API.
    pub addr: String,
    /// SHA-256 of the node's API key (its certificate's public key: it stays when the
    /// node's certificate is reissued by the cluster CA); older files hold the
    /// certificate's, still accepted while that certificate is presented.
    pub fingerprint: String,
    /// The user the token belongs to.
    pub user: String,
    pub token: String,
}

#[derive(Default, Serialize, Deserialize)]
pub struct Hosts {
    #[serde(default)]
    pub hosts: BTreeMap<String, Host>,
}

pub fn path() -> anyhow::Result<PathBuf> {
    if let Some(p) = std::env::var_os("HALO_HOSTS_FILE") {
        return Ok(PathBuf::from(p));
    }
    let base = match std::env::var_os("XDG_CONFIG_HOME") {
        Some(x) if !x.is_empty() => PathBuf::from(x),
        _ => PathBuf::from(
            std::env::var_os("HOME")
                .context("neither HALO_HOSTS_FILE, XDG_CONFIG_HOME nor HOME is set")?,
        )
        .join(".config"),
    };
    Ok(base.join("halo").join("hosts.json"))
}

impl Hosts {
    pub fn load() -> anyhow::Result<Hosts> {
        let p = path()?;
        match std::fs::read(&p) {
            Ok(b) => serde_json::from_slice(&b).with_context(|| format!("reading {}", p.display())),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Hosts::default()),
            Err(e) => Err(e).with_context(|| format!("reading {}", p.display())),
        }
    }

    pub fn save(&self) -> anyhow::Result<()> {
        let p = path()?;
        if let Some(dir) = p.parent() {
            std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
        }
        halo_consensus::node::write_private(&p, &serde_json::to_vec_pretty(self)?)?;
        Ok(())
    }

    /// A client of `name`'s remote API with its pinned certificate and token.
    pub fn client(&self, name: &str) -> anyhow::Result<halo_api::Client> {
        let Some(h) = self.hosts.get(name) else {
            bail!(
                "HALO-E187 not authenticated to {name}: run `halo cluster auth {name} -u USER` first"
            );
        };
        Ok(halo_api::Client::remote(
            halo_api::client::Remote {
                addr: h.addr.clone(),
                fingerprint: Some(h.fingerprint.clone()),
                authorization: None,
            }
            .bearer(&h.token),
        ))
    }
}

/// `NODE` or `NODE:PORT` (or `[V6]:PORT`) with an optional `addr=ADDR[:PORT]` (pcs's
/// `pcs host auth NODE addr=ADDR`): the node's name and its API's HOST:PORT.
pub fn api_addr(node: &str, addr: Option<&str>) -> String {
    let a = addr.unwrap_or(node);
    let has_port = if let Some(rest) = a.strip_prefix('[') {
        rest.contains("]:")
    } else {
        a.matches(':').count() == 1
    };
    if has_port {
        a.to_string()
    } else if a.contains(':') && !a.starts_with('[') {
        format!("[{a}]:{API_PORT}")
    } else {
        format!("{a}:{API_PORT}")
    }
}

/// Read a secret: from the terminal without echo (after `prompt`), else one line of
/// standard input.
pub fn read_secret(prompt: &str) -> anyhow::Result<String> {
    let stdin = std::io::stdin();
    let mut line = String::new();
    if stdin.is_terminal() {
        eprint!("{prompt}");
        let _ = std::io::stderr().flush();
        let echo_off = Echo::off();
        stdin.lock().read_line(&mut line)?;
        drop(echo_off);
        eprintln!();
    } else {
        stdin.lock().read_line(&mut line)?;
    }
    let s = line.trim_end_matches(['\n', '\r']).to_string();
    if s.is_empty() {
        bail!("no password given (on standard input, or typed at the prompt)");
    }
    Ok(s)
}

/// The terminal's echo turned off until dropped.
struct Echo(Option<libc::termios>);

impl Echo {
    fn off() -> Echo {
        // SAFETY: tcgetattr/tcsetattr on fd 0 with a zeroed termios buffer they fill.
        unsafe {
            let mut t: libc::termios = std::mem::zeroed();
            if libc::tcgetattr(0, &mut t) != 0 {
                return Echo(None);
            }
            let saved = t;
            t.c_lflag &= !libc::ECHO;
            if libc::tcsetattr(0, libc::TCSANOW, &t) != 0 {
                return Echo(None);
            }
            Echo(Some(saved))
        }
    }
}

impl Drop for Echo {
    fn drop(&mut self) {
        if let Some(t) = self.0 {
            // SAFETY: restores the attributes read in `off`.
            unsafe {
                libc::tcsetattr(0, libc::TCSANOW, &t);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn api_addresses() {
        assert_eq!(api_addr("controller1", None), "controller1:2224");
        assert_eq!(api_addr("controller1", Some("10.0.0.1")), "10.0.0.1:2224");
        assert_eq!(api_addr("c1", Some("10.0.0.1:3000")), "10.0.0.1:3000");
        assert_eq!(api_addr("c1", Some("fd00::1")), "[fd00::1]:2224");
        assert_eq!(api_addr("c1", Some("[fd00::1]:99")), "[fd00::1]:99");
        assert_eq!(api_addr("c1:2300", None), "c1:2300");
    }
}
