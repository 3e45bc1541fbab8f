//! Links under Pacemaker's tool names to the `halo` binary.
//!
//! The daemon makes them in its state directory, so that the agents it runs find them
//! without a system Pacemaker being shadowed for anyone else:
//! - `STATE_DIR/bin`: the tools only; first on the agents' `PATH`;
//! - `STATE_DIR/sbin`: the agents' `HA_SBIN_DIR` (most agents call
//!   `${HA_SBIN_DIR}/crm_attribute`, not the `PATH`): the tools, and a link to every
//!   other program of `/usr/sbin`, since agents also find `sm-notify`, `clvmd` and the
//!   LVM tools there.
//!
//! `halo pcmk-links DIR` makes the tool links in a directory of the operator's choice;
//! with `--haproxy`, also `DIR/haproxy` (halo's load balancer under HAProxy's command
//! line, `crate::haproxy`), which is never made unless asked, so that a real HAProxy is
//! not shadowed by accident.

use std::io;
use std::os::unix::fs::symlink;
use std::path::{Path, PathBuf};

use anyhow::Context;

use super::TOOLS;

/// Arguments of `halo pcmk-links`.
#[derive(clap::Args)]
pub struct Args {
    /// Where to make the links (e.g. /usr/local/sbin); created if missing.
    pub dir: PathBuf,
    /// Replace regular files of those names too (links are always replaced).
    #[arg(long)]
    pub force: bool,
    /// Also make `DIR/haproxy`: run through it, halo answers to HAProxy's command line
    /// (`haproxy -c -f FILE`, `haproxy -Ws -f FILE -p PIDFILE`, `-vv`, ...).
    #[arg(long)]
    pub haproxy: bool,
}

/// `halo pcmk-links DIR`: links named after Pacemaker's tools to this binary.
pub fn run(args: Args) -> anyhow::Result<()> {
    let exe = std::env::current_exe().context("finding the halo binary")?;
    std::fs::create_dir_all(&args.dir)
        .with_context(|| format!("creating {}", args.dir.display()))?;
    for tool in TOOLS {
        let link = args.dir.join(tool);
        replace(&link, &exe, args.force).with_context(|| format!("linking {}", link.display()))?;
        println!("{} -> {}", link.display(), exe.display());
    }
    if args.haproxy {
        let link = args.dir.join("haproxy");
        replace(&link, &exe, args.force).with_context(|| format!("linking {}", link.display()))?;
        println!("{} -> {}", link.display(), exe.display());
        for other in other_haproxies(&link) {
            eprintln!(
                "note: {} is another haproxy; which one runs depends on the order of PATH",
                other.display()
            );
        }
    }
    Ok(())
}

/// Programs named `haproxy` on `PATH` other than `ours`, each once (`/sbin` is often
/// `/usr/sbin`).
fn other_haproxies(ours: &Path) -> Vec<PathBuf> {
    let mut seen = std::collections::HashSet::new();
    let ours = std::fs::canonicalize(ours).ok();
    let exe = std::env::current_exe().and_then(std::fs::canonicalize).ok();
    std::env::var_os("PATH")
        .map(|p| std::env::split_paths(&p).collect::<Vec<_>>())
        .unwrap_or_default()
        .into_iter()
        .map(|d| d.join("haproxy"))
        .filter(|c| c.is_file())
        .filter(|c| {
            let real = std::fs::canonicalize(c).ok();
            real != ours && real != exe && seen.insert(real)
        })
        .collect()
}

/// Make `link` point to `target`, replacing a link already there (a regular file only
/// with `force`).
fn replace(link: &Path, target: &Path, force: bool) -> io::Result<()> {
    match std::fs::symlink_metadata(link) {
        Ok(m) if m.file_type().is_symlink() => {
            if std::fs::read_link(link).ok().as_deref() == Some(target) {
                return Ok(());
            }
            std::fs::remove_file(link)?;
        }
        Ok(m) if m.is_file() && force => std::fs::remove_file(link)?,
        Ok(_) => {
            return Err(io::Error::new(
                io::ErrorKind::AlreadyExists,
                "a file of that name exists (use --force to replace it)",
            ))
        }
        Err(e) if e.kind() == io::ErrorKind::NotFound => {}
        Err(e) => return Err(e),
    }
    symlink(target, link)
}

/// Where the daemon puts its links.
pub struct AgentDirs {
    /// The tools, for the agents' `PATH`.
    pub bin: PathBuf,
    /// The agents' `HA_SBIN_DIR` (`None` when the system has no `/usr/sbin`).
    pub sbin: Option<PathBuf>,
}

/// Make (again) the daemon's link directories under `state_dir`, pointing to `exe`;
/// `system_sbin` is the directory agents would otherwise use as `HA_SBIN_DIR`.
/// Only links are ever removed from these directories.
pub fn agent_dirs(state_dir: &Path, exe: &Path, system_sbin: &Path) -> io::Result<AgentDirs> {
    use std::os::unix::fs::DirBuilderExt;
    if !state_dir.exists() {
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(state_dir)?;
    }
    let bin = state_dir.join("bin");
    fresh_dir(&bin)?;
    for tool in TOOLS {
        replace(&bin.join(tool), exe, false)?;
    }
    if !system_sbin.is_dir() {
        return Ok(AgentDirs { bin, sbin: None });
    }
    let sbin = state_dir.join("sbin");
    fresh_dir(&sbin)?;
    for tool in TOOLS {
        replace(&sbin.join(tool), exe, false)?;
    }
    for entry in std::fs::read_dir(system_sbin)? {
        let entry = entry?;
        let name = entry.file_name();
        if name.to_str().is_some_and(|n| TOOLS.contains(&n)) {
            continue;
        }
        let link = sbin.join(&name);
        if std::fs::symlink_metadata(&link).is_err() {
            symlink(entry.path(), &link)?;
        }
    }
    Ok(AgentDirs {
        bin,
        sbin: Some(sbin),
    })
}

/// Create `dir`, or empty it of links (links of removed programs must go).
fn fresh_dir(dir: &Path) -> io::Result<()> {
    std::fs::create_dir_all(dir)?;
    for entry in std::fs::read_dir(dir)? {
        let entry = entry?;
        if entry.file_type()?.is_symlink() {
            std::fs::remove_file(entry.path())?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn overlay_has_tools_and_system_programs() {
        let tmp = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let sys = tmp.path().join("sys");
        std::fs::create_dir_all(&sys).unwrap_or_else(|e| panic!("{e}"));
        std::fs::write(sys.join("sm-notify"), "").unwrap_or_else(|e| panic!("{e}"));
        std::fs::write(sys.join("crm_attribute"), "").unwrap_or_else(|e| panic!("{e}"));
        let state = tmp.path().join("state");
        let exe = Path::new("/usr/bin/halo");
        for _ in 0..2 {
            let d = agent_dirs(&state, exe, &sys).unwrap_or_else(|e| panic!("{e}"));
            let sbin = d.sbin.unwrap_or_default();
            assert_eq!(
                std::fs::read_link(d.bin.join("crm_mon")).ok().as_deref(),
                Some(exe)
            );
            assert_eq!(
                std::fs::read_link(sbin.join("crm_attribute"))
                    .ok()
                    .as_deref(),
                Some(exe)
            );
            assert_eq!(
                std::fs::read_link(sbin.join("sm-notify")).ok(),
                Some(sys.join("sm-notify"))
            );
            assert!(!d.bin.join("sm-notify").exists());
        }
        // A regular file is never replaced without --force.
        let own = tmp.path().join("own");
        std::fs::create_dir_all(&own).unwrap_or_else(|e| panic!("{e}"));
        std::fs::write(own.join("crm_mon"), "mine").unwrap_or_else(|e| panic!("{e}"));
        assert!(replace(&own.join("crm_mon"), exe, false).is_err());
        assert!(replace(&own.join("crm_mon"), exe, true).is_ok());
    }
}
