//! The device attributes Pacemaker's fencer reads itself (`pcmk_host_list`,
//! `pcmk_host_map`, `pcmk_delay_base`, ...), parsed the way Pacemaker 2.1 parses them.
//! No I/O.

use std::time::Duration;

use crate::duration::parse_duration;

/// Whether Pacemaker interprets a device parameter itself and does not pass it to
/// the agent: `pcmk_stonith_param()` (`provides`, `stonith-timeout`,
/// `pcmk_action_limit`, `pcmk_delay_base`, `pcmk_delay_max`, `pcmk_host_argument`,
/// `pcmk_host_check`, `pcmk_host_list`, `pcmk_host_map`, and
/// `pcmk_ACTION_action|timeout|retries`) plus what `append_config_arg()` leaves out
/// (`action`, anything containing `CRM_meta`, `crm_feature_set`).
pub fn is_pacemaker_param(name: &str) -> bool {
    if name.eq_ignore_ascii_case("action")
        || name.contains("CRM_meta")
        || name.eq_ignore_ascii_case("crm_feature_set")
        || name == "provides"
        || name == "stonith-timeout"
    {
        return true;
    }
    let Some(rest) = name.strip_prefix("pcmk_") else {
        return false;
    };
    if matches!(
        name,
        "pcmk_action_limit"
            | "pcmk_delay_base"
            | "pcmk_delay_max"
            | "pcmk_host_argument"
            | "pcmk_host_check"
            | "pcmk_host_list"
            | "pcmk_host_map"
    ) {
        return true;
    }
    // "pcmk_ACTION_SUFFIX": what follows the first '_' after the action name.
    match rest.find('_') {
        Some(i) => matches!(&rest[i..], "_action" | "_timeout" | "_retries"),
        None => false,
    }
}

/// Target names in a host list or in the output of an agent's `list` action, as
/// `stonith__parse_targets()` reads them: lines (also separated by a literal `\n`)
/// of entries separated by whitespace, `,` or `;`; an entry keeps its leading
/// letters, digits, `_`, `-` and `.`; entries `on`/`off` and lines containing
/// `invalid` or `variable` (agents' complaints) are skipped. So a `plug,alias`
/// line gives both the plug and the alias.
pub fn parse_targets(spec: &str) -> Vec<String> {
    let mut out = Vec::new();
    for line in spec.split(['\n', '\0']).flat_map(|l| l.split("\\n")) {
        if line.contains("invalid") || line.contains("variable") {
            continue;
        }
        for entry in line.split(|c: char| c.is_whitespace() || c == ',' || c == ';') {
            if entry.is_empty() {
                continue;
            }
            let end = entry
                .find(|c: char| !(c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.')))
                .unwrap_or(entry.len());
            let name = &entry[..end];
            if name.is_empty()
                || name.eq_ignore_ascii_case("on")
                || name.eq_ignore_ascii_case("off")
            {
                continue;
            }
            out.push(name.to_string());
        }
    }
    out
}

/// `pcmk_host_map` as `build_port_aliases()` reads it: `node:plug` (or `node=plug`)
/// pairs separated by `;`, spaces or tabs; a backslash escapes the next character
/// (and is removed from the plug). Pairs in order; a later pair for the same node
/// replaces an earlier one when looked up with [`lookup_alias`].
pub fn parse_host_map(map: &str) -> Vec<(String, String)> {
    let bytes = map.as_bytes();
    let mut out = Vec::new();
    let mut name: Option<String> = None;
    let mut last = 0usize;
    let mut i = 0usize;
    while i <= bytes.len() {
        let c = bytes.get(i).copied().unwrap_or(0);
        match c {
            b'\\' => {
                i += 1;
                if i >= bytes.len() {
                    // A trailing backslash ends the map (as in Pacemaker).
                    break;
                }
            }
            b'=' | b':' => {
                if i > last {
                    name = Some(String::from_utf8_lossy(&bytes[last..i]).into_owned());
                }
                last = i + 1;
            }
            0 | b';' | b' ' | b'\t' => {
                if let Some(n) = name.take() {
                    let raw = String::from_utf8_lossy(&bytes[last.min(i)..i]).into_owned();
                    out.push((n, raw.replace('\\', "")));
                }
                last = i + 1;
            }
            _ => {}
        }
        if c == 0 {
            break;
        }
        i += 1;
    }
    out
}

/// The plug a host map gives `node` (node names compare case-insensitively; the
/// last pair wins).
pub fn lookup_alias<'a>(map: &'a [(String, String)], node: &str) -> Option<&'a str> {
    map.iter()
        .rev()
        .find(|(n, _)| n.eq_ignore_ascii_case(node))
        .map(|(_, p)| p.as_str())
}

/// A Pacemaker interval in whole seconds, as the fencer reads delays
/// (`crm_parse_interval_spec(value) / 1000`).
fn whole_seconds(text: &str) -> Option<u64> {
    parse_duration(text).map(|d| d.as_secs())
}

/// Check a `pcmk_delay_base` value: an interval, or `node:interval` entries
/// separated by `;`, spaces or tabs (optionally after a plain interval, which is
/// then the default).
pub fn check_delay_base(spec: &str) -> Result<(), String> {
    for token in spec.split([';', ' ', '\t']).filter(|t| !t.is_empty()) {
        let value = match token.split_once(':') {
            Some((node, v)) => {
                if node.is_empty() || v.is_empty() {
                    return Err(format!(
                        "pcmk_delay_base entry \"{token}\" is not NODE:INTERVAL"
                    ));
                }
                v
            }
            None => token,
        };
        if whole_seconds(value).is_none() {
            return Err(format!(
                "pcmk_delay_base value \"{value}\" is not an interval (e.g. 5s)"
            ));
        }
    }
    Ok(())
}

/// The static delay for fencing `target`, as `get_action_delay_base()` gives it:
/// the entry for the target in a `node:interval` map, else the plain interval the
/// value starts with, else 0. Whole seconds.
pub fn delay_base_for(spec: &str, target: &str) -> u64 {
    let tokens: Vec<&str> = spec
        .split([';', ' ', '\t'])
        .filter(|t| !t.is_empty())
        .collect();
    for token in &tokens {
        if let Some((node, value)) = token.split_once(':') {
            if !node.is_empty() && !value.is_empty() && node.eq_ignore_ascii_case(target) {
                return whole_seconds(value).unwrap_or(0);
            }
        }
    }
    match tokens.first() {
        Some(first) if !first.contains(':') => whole_seconds(first).unwrap_or(0),
        _ => 0,
    }
}

/// The delay before a fencing action: `pcmk_delay_base` plus a random part below
/// `pcmk_delay_max - pcmk_delay_base`, as `schedule_stonith_command()` computes it
/// (whole seconds; a base above the maximum is limited to it; `random_below(n)`
/// gives a number in `0..n`).
pub fn fencing_delay(base_s: u64, max_s: u64, random_below: impl FnOnce(u64) -> u64) -> Duration {
    let max = if max_s == 0 { base_s } else { max_s };
    let base = base_s.min(max);
    if max == 0 {
        return Duration::ZERO;
    }
    let random = if max != base {
        random_below(max - base)
    } else {
        0
    };
    Duration::from_secs(random + base)
}

/// A number in `0..n` (n > 0), random enough for spreading fencing delays.
pub fn random_below(n: u64) -> u64 {
    use std::hash::{BuildHasher, Hasher};
    if n == 0 {
        return 0;
    }
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    h.write_u128(nanos);
    h.write_u32(std::process::id());
    h.finish() % n
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pacemaker_params_are_not_passed() {
        for p in [
            "pcmk_host_list",
            "pcmk_host_map",
            "pcmk_host_check",
            "pcmk_host_argument",
            "pcmk_delay_base",
            "pcmk_delay_max",
            "pcmk_action_limit",
            "pcmk_reboot_action",
            "pcmk_off_timeout",
            "pcmk_monitor_retries",
            "provides",
            "stonith-timeout",
            "action",
            "ACTION",
            "CRM_meta_timeout",
            "crm_feature_set",
        ] {
            assert!(is_pacemaker_param(p), "{p}");
        }
        for p in [
            "ip",
            "username",
            "port",
            "plug",
            "priority",
            "pcmk_foo",
            "pcmk_list_of_timeout",
            "delay",
        ] {
            assert!(!is_pacemaker_param(p), "{p}");
        }
    }

    #[test]
    fn targets_parse_like_pacemaker() {
        assert_eq!(
            parse_targets("node1 node2,node3;node4"),
            ["node1", "node2", "node3", "node4"]
        );
        assert_eq!(
            parse_targets("plug1,alias1\nplug2,alias2\n"),
            ["plug1", "alias1", "plug2", "alias2"]
        );
        assert_eq!(parse_targets("a\\nb"), ["a", "b"]);
        assert_eq!(parse_targets("vm1 on\nvm2 OFF"), ["vm1", "vm2"]);
        assert_eq!(parse_targets("x invalid option\ny"), ["y"]);
        assert_eq!(parse_targets("host.example.com/x"), ["host.example.com"]);
        assert!(parse_targets("  \n ,; ").is_empty());
    }

    #[test]
    fn host_maps_parse_like_pacemaker() {
        assert_eq!(
            parse_host_map("node1:plug1;node2=plug2 node3:3\tnode4:a\\;b"),
            [
                ("node1".to_string(), "plug1".to_string()),
                ("node2".to_string(), "plug2".to_string()),
                ("node3".to_string(), "3".to_string()),
                ("node4".to_string(), "a;b".to_string()),
            ]
        );
        let map = parse_host_map("n1:p1;N1:p9;n2:p2;garbage;");
        assert_eq!(lookup_alias(&map, "n1"), Some("p9"));
        assert_eq!(lookup_alias(&map, "N2"), Some("p2"));
        assert_eq!(lookup_alias(&map, "garbage"), None);
        assert!(parse_host_map("").is_empty());
        assert!(parse_host_map("x\\").is_empty());
    }

    #[test]
    fn delays() {
        assert_eq!(delay_base_for("5s", "n1"), 5);
        assert_eq!(delay_base_for("2500ms", "n1"), 2);
        assert_eq!(delay_base_for("n1:3s;n2:7s", "N2"), 7);
        assert_eq!(delay_base_for("n1:3s;n2:7s", "n3"), 0);
        assert_eq!(delay_base_for("4;n1:1", "n1"), 1);
        assert_eq!(delay_base_for("4;n1:1", "n2"), 4);
        assert!(check_delay_base("n1:3s;n2:7s").is_ok());
        assert!(check_delay_base("n1:").is_err());
        assert!(check_delay_base("soon").is_err());
        let d = |b, m| fencing_delay(b, m, |n| n - 1);
        assert_eq!(d(0, 0), Duration::ZERO);
        assert_eq!(d(5, 0), Duration::from_secs(5));
        assert_eq!(d(0, 10), Duration::from_secs(9));
        assert_eq!(d(2, 10), Duration::from_secs(9));
        assert_eq!(d(12, 10), Duration::from_secs(10));
        assert_eq!(fencing_delay(2, 10, |_| 0), Duration::from_secs(2));
        for n in [1, 2, 7, 1000] {
            assert!(random_below(n) < n);
        }
    }
}
