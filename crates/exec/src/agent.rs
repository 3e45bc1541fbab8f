//! Agent names (`class:provider:type`), agent classes and the listing of installed agents.

use std::path::{Path, PathBuf};

use halo_model::AgentRef;

use crate::builtin::AgentRegistry;
use crate::config::ExecConfig;
use crate::error::ExecError;

/// The agent classes the executor knows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AgentClass {
    /// `ocf:PROVIDER:TYPE`: an OCF script under `OCF_ROOT/resource.d/`.
    Ocf,
    /// `lsb:NAME`: an init script under the LSB root (`/etc/init.d`).
    Lsb,
    /// `systemd:UNIT`: a unit run through systemd.
    Systemd,
    /// `service:NAME`: systemd when it runs here and has the unit, else LSB.
    Service,
    /// `halo:TYPE`: an agent built into halo (dummy, process, vip, lb, ...).
    Halo,
    /// `stonith:fence_NAME`: a fence device, run by a fence agent
    /// (`ExecConfig::fence_agent_dir/fence_NAME`) as Pacemaker's fencer runs it
    /// (see [`crate::fence`]).
    Stonith,
}

impl AgentClass {
    pub fn parse(s: &str) -> Option<AgentClass> {
        match s {
            "ocf" => Some(AgentClass::Ocf),
            "lsb" => Some(AgentClass::Lsb),
            "systemd" => Some(AgentClass::Systemd),
            "service" => Some(AgentClass::Service),
            "halo" => Some(AgentClass::Halo),
            "stonith" => Some(AgentClass::Stonith),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            AgentClass::Ocf => "ocf",
            AgentClass::Lsb => "lsb",
            AgentClass::Systemd => "systemd",
            AgentClass::Service => "service",
            AgentClass::Halo => "halo",
            AgentClass::Stonith => "stonith",
        }
    }

    /// The classes `halo resource agents` lists, in order.
    pub fn listed() -> [AgentClass; 5] {
        [
            AgentClass::Ocf,
            AgentClass::Lsb,
            AgentClass::Systemd,
            AgentClass::Stonith,
            AgentClass::Halo,
        ]
    }
}

/// A name part is safe to join to a directory: no path separators, not `.`/`..`.
fn safe_component(s: &str) -> bool {
    !s.is_empty() && s != "." && s != ".." && !s.contains('/') && !s.contains('\0')
}

/// Parse `class:provider:type` (OCF) or `class:type` (others).
pub fn parse_agent(spec: &str) -> Result<AgentRef, ExecError> {
    let bad = |reason: &str| ExecError::BadAgent {
        spec: spec.to_string(),
        reason: reason.to_string(),
    };
    let parts: Vec<&str> = spec.split(':').collect();
    let (class, provider, kind) = match parts.as_slice() {
        [c, p, t] => (*c, Some(*p), *t),
        [c, t] => (*c, None, *t),
        _ => return Err(bad("expected CLASS:PROVIDER:TYPE (ocf) or CLASS:TYPE")),
    };
    agent_class(class, spec)?;
    if class == "ocf" && provider.is_none() {
        return Err(bad(
            "an OCF agent needs a provider: ocf:PROVIDER:TYPE (e.g. ocf:heartbeat:IPaddr2)",
        ));
    }
    if class != "ocf" && provider.is_some() {
        return Err(bad(&format!(
            "class \"{class}\" takes no provider: write {class}:{}",
            parts[2]
        )));
    }
    if let Some(p) = provider {
        if !safe_component(p) {
            return Err(bad("the provider must be a plain name (no '/', not '..')"));
        }
    }
    if class == "stonith" && kind.contains('/') {
        return Err(bad(
            "Linux-HA stonith plugins (stonith:external/...) are not supported: \
             use a fence agent of the fence-agents package (stonith:fence_NAME)",
        ));
    }
    if !safe_component(kind) {
        return Err(bad("the type must be a plain name (no '/', not '..')"));
    }
    Ok(AgentRef {
        class: class.to_string(),
        provider: provider.map(str::to_string),
        kind: kind.to_string(),
    })
}

/// The class of an agent, or why the executor does not run it.
pub fn agent_class(class: &str, agent: &str) -> Result<AgentClass, ExecError> {
    if let Some(c) = AgentClass::parse(class) {
        return Ok(c);
    }
    let hint = match class {
        "nagios" | "upstart" => "this Pacemaker class is not supported by halo",
        _ => "known classes: ocf, lsb, systemd, service, stonith, halo",
    };
    Err(ExecError::UnsupportedClass {
        agent: agent.to_string(),
        class: class.to_string(),
        hint,
    })
}

/// Path of an OCF agent script.
pub fn ocf_path(config: &ExecConfig, provider: &str, kind: &str) -> PathBuf {
    config.ocf_root.join("resource.d").join(provider).join(kind)
}

/// Whether systemd is running on this machine (as `sd_booted()` decides).
pub fn systemd_running(config: &ExecConfig) -> bool {
    config.systemd_runtime_dir.is_dir()
}

/// Add `.service` to a unit name without a unit suffix.
pub fn systemd_unit_name(kind: &str) -> String {
    const SUFFIXES: [&str; 6] = [
        ".service", ".socket", ".target", ".mount", ".timer", ".path",
    ];
    if SUFFIXES.iter().any(|s| kind.ends_with(s)) {
        kind.to_string()
    } else {
        format!("{kind}.service")
    }
}

fn is_executable_file(path: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    match std::fs::metadata(path) {
        Ok(m) => m.is_file() && m.permissions().mode() & 0o111 != 0,
        Err(_) => false,
    }
}

fn sorted_names(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = match std::fs::read_dir(dir) {
        Ok(rd) => rd
            .filter_map(|e| e.ok())
            .filter_map(|e| e.file_name().into_string().ok())
            .filter(|n| !n.starts_with('.'))
            .collect(),
        Err(_) => Vec::new(),
    };
    names.sort();
    names
}

/// A filter for listing agents: `STANDARD` or `STANDARD:PROVIDER`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AgentFilter {
    pub class: Option<AgentClass>,
    pub provider: Option<String>,
}

impl AgentFilter {
    pub fn parse(text: &str) -> Result<AgentFilter, ExecError> {
        let (class, provider) = match text.split_once(':') {
            Some((c, p)) => (c, Some(p.to_string())),
            None => (text, None),
        };
        let class = agent_class(class, text)?;
        if provider.is_some() && class != AgentClass::Ocf {
            return Err(ExecError::BadAgent {
                spec: text.to_string(),
                reason: "only the ocf class has providers".to_string(),
            });
        }
        Ok(AgentFilter {
            class: Some(class),
            provider,
        })
    }
}

/// List the installed agents matching `filter`, sorted, as `AgentRef`s.
pub fn list_agents(
    config: &ExecConfig,
    registry: &AgentRegistry,
    filter: &AgentFilter,
) -> Vec<AgentRef> {
    let mut out = Vec::new();
    let wanted = |c: AgentClass| filter.class.is_none_or(|f| f == c);
    if wanted(AgentClass::Ocf) {
        let root = config.ocf_root.join("resource.d");
        for provider in sorted_names(&root) {
            if filter.provider.as_ref().is_some_and(|p| *p != provider) {
                continue;
            }
            for kind in sorted_names(&root.join(&provider)) {
                if is_executable_file(&root.join(&provider).join(&kind)) {
                    out.push(AgentRef {
                        class: "ocf".into(),
                        provider: Some(provider.clone()),
                        kind,
                    });
                }
            }
        }
    }
    if wanted(AgentClass::Lsb) {
        for name in sorted_names(&config.lsb_root) {
            if is_executable_file(&config.lsb_root.join(&name)) {
                out.push(AgentRef {
                    class: "lsb".into(),
                    provider: None,
                    kind: name,
                });
            }
        }
    }
    if wanted(AgentClass::Systemd) {
        let mut units = std::collections::BTreeSet::new();
        for dir in &config.systemd_unit_dirs {
            for name in sorted_names(dir) {
                // Templates (`foo@.service`) are not units by themselves.
                if name.ends_with(".service") && !name.ends_with("@.service") {
                    units.insert(name.trim_end_matches(".service").to_string());
                }
            }
        }
        out.extend(units.into_iter().map(|kind| AgentRef {
            class: "systemd".into(),
            provider: None,
            kind,
        }));
    }
    if wanted(AgentClass::Stonith) {
        // As Pacemaker lists fence agents: `ls PCMK__FENCE_BINDIR/fence_*`.
        for name in sorted_names(&config.fence_agent_dir) {
            if name.starts_with(crate::fence::AGENT_PREFIX)
                && is_executable_file(&config.fence_agent_dir.join(&name))
            {
                out.push(AgentRef {
                    class: "stonith".into(),
                    provider: None,
                    kind: name,
                });
            }
        }
    }
    if wanted(AgentClass::Halo) {
        out.extend(registry.names().map(|kind| AgentRef {
            class: "halo".into(),
            provider: None,
            kind: kind.to_string(),
        }));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_agent_names() {
        let a = parse_agent("ocf:heartbeat:IPaddr2").unwrap();
        assert_eq!(a.class, "ocf");
        assert_eq!(a.provider.as_deref(), Some("heartbeat"));
        assert_eq!(a.kind, "IPaddr2");
        assert_eq!(a.to_string(), "ocf:heartbeat:IPaddr2");
        let l = parse_agent("lsb:nginx").unwrap();
        assert_eq!(l.provider, None);
        assert_eq!(parse_agent("halo:dummy").unwrap().kind, "dummy");
    }

    #[test]
    fn rejects_bad_agent_names() {
        for bad in [
            "ocf:Dummy",
            "lsb:x:y",
            "ocf:../..:passwd",
            "ocf:heartbeat:..",
            "ocf:heartbeat:a/b",
            "nothing",
            "a:b:c:d",
        ] {
            assert!(parse_agent(bad).is_err(), "{bad} should be refused");
        }
        let e = parse_agent("stonith:external/ipmi")
            .unwrap_err()
            .to_string();
        assert!(e.contains("fence-agents"), "{e}");
        let e = parse_agent("nagios:check_x").unwrap_err().to_string();
        assert!(e.contains("not supported"), "{e}");
        let f = parse_agent("stonith:fence_ipmilan").unwrap();
        assert_eq!(f.class, "stonith");
        assert_eq!(f.provider, None);
        assert!(parse_agent("stonith:x:fence_ipmilan").is_err());
    }

    #[test]
    fn unit_names_get_service_suffix() {
        assert_eq!(systemd_unit_name("nginx"), "nginx.service");
        assert_eq!(systemd_unit_name("x.socket"), "x.socket");
    }

    #[test]
    fn filters() {
        let f = AgentFilter::parse("ocf:pacemaker").unwrap();
        assert_eq!(f.class, Some(AgentClass::Ocf));
        assert_eq!(f.provider.as_deref(), Some("pacemaker"));
        assert!(AgentFilter::parse("lsb:x").is_err());
        assert!(AgentFilter::parse("bogus").is_err());
    }
}
