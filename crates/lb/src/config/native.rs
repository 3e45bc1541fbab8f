//! halo's native form of the load balancer configuration (TOML), and loading a file in
//! either form.

use super::haproxy::{self, ConfigError, ConfigErrors, Parsed};
use super::{Config, NATIVE_VERSION};
use std::path::Path;

/// Errors loading a configuration file.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    #[error("HALO-E101 cannot read {path}: {source}")]
    Read {
        path: String,
        source: std::io::Error,
    },
    #[error(transparent)]
    Invalid(#[from] ConfigErrors),
}

/// Which language a configuration text is written in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Form {
    Haproxy,
    Native,
}

/// Native TOML starts (after comments) with `version = N`; anything else is HAProxy.
pub fn detect(text: &str) -> Form {
    for line in text.lines() {
        let l = line.trim();
        if l.is_empty() || l.starts_with('#') {
            continue;
        }
        let is_version = l
            .strip_prefix("version")
            .map(|r| r.trim_start().starts_with('='))
            .unwrap_or(false);
        return if is_version {
            Form::Native
        } else {
            Form::Haproxy
        };
    }
    Form::Haproxy
}

/// Parses a native TOML configuration and checks it like an HAProxy one.
pub fn parse_native(text: &str, file: &str) -> Result<Parsed, ConfigErrors> {
    let config: Config = toml::from_str(text).map_err(|e| {
        let line = e
            .span()
            .map(|s| text[..s.start.min(text.len())].lines().count().max(1))
            .unwrap_or(0);
        ConfigErrors(vec![ConfigError {
            place: format!("{file}:{line}"),
            directive: String::new(),
            reason: e.message().to_string(),
        }])
    })?;
    if config.version != NATIVE_VERSION {
        return Err(ConfigErrors(vec![ConfigError {
            place: format!("{file}:1"),
            directive: "version".into(),
            reason: format!("native configuration version {} is not supported (this halo reads version {NATIVE_VERSION})", config.version),
        }]));
    }
    let errs = haproxy::validate(&config);
    if !errs.is_empty() {
        return Err(ConfigErrors(errs));
    }
    Ok(Parsed {
        config,
        warnings: Vec::new(),
    })
}

/// Parses text in either form.
pub fn parse_any(text: &str, file: &str) -> Result<Parsed, ConfigErrors> {
    match detect(text) {
        Form::Native => parse_native(text, file),
        Form::Haproxy => haproxy::parse(text, file),
    }
}

/// Reads and parses a file in either form.
pub fn load(path: &Path) -> Result<Parsed, LoadError> {
    let bytes = std::fs::read(path).map_err(|source| LoadError::Read {
        path: path.display().to_string(),
        source,
    })?;
    let text = String::from_utf8_lossy(&bytes);
    Ok(parse_any(&text, &path.display().to_string())?)
}

/// The native TOML text of a configuration.
pub fn to_toml(config: &Config) -> Result<String, toml::ser::Error> {
    let body = toml::to_string_pretty(config)?;
    Ok(format!(
        "# halo load balancer configuration (native form, see `halo lb import`)\n{body}"
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn import_round_trips_the_reference() {
        let text = include_str!("../../tests/data/haproxy-openstack.cfg");
        let a = haproxy::parse(text, "ref.cfg").expect("reference").config;
        let toml = to_toml(&a).expect("serializes");
        assert_eq!(detect(&toml), Form::Native);
        let b = parse_native(&toml, "ref.toml")
            .expect("native reads back")
            .config;
        assert_eq!(a, b);
    }

    #[test]
    fn native_errors_name_the_line() {
        let e =
            parse_native("version = 1\n[global]\nmaxconn = \"x\"\n", "n.toml").expect_err("bad");
        assert!(e.0[0].place.starts_with("n.toml:3"), "{e}");
        let e = parse_native("version = 9\n", "n.toml").expect_err("bad version");
        assert!(e.to_string().contains("version 9"));
        let e = parse_native(
            "version = 1\n[[frontend]]\nname = \"f\"\ndefault_backend = \"nope\"\n[[frontend.bind]]\naddr = \"127.0.0.1:80\"\n",
            "n.toml",
        )
        .expect_err("unknown backend");
        assert!(e.to_string().contains("unknown backend `nope`"), "{e}");
    }
}
