//! Resource definition changes, detected as Pacemaker does: each recorded operation
//! carries a digest of the parameters it ran with (`op-digest`, and `op-restart-digest`
//! over the parameters that need a restart); comparing it with a digest of the current
//! definition tells whether the resource must be restarted or reloaded.
//!
//! The digest is the MD5 of `<parameters NAME="VALUE" .../>` with the attributes
//! sorted by name, preceded by a space and followed by a newline.

use std::collections::BTreeMap;

use halo_model::OpRecord;
use md5::{Digest, Md5};

use crate::cluster::{Cluster, RscId};

/// How a recorded operation compares with the current definition.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cmp {
    Match,
    /// No digest was recorded.
    Unknown,
    /// Parameters changed that a reload can apply.
    All,
    /// Parameters changed that need a restart.
    Restart,
}

/// Operation attributes that are meta-data (not passed to the agent as parameters).
const OP_META: &[&str] = &[
    "id",
    "name",
    "interval",
    "timeout",
    "role",
    "on-fail",
    "enabled",
    "requires",
    "record-pending",
    "start-delay",
    "interval-origin",
    "description",
    "role_after_failure",
];

fn escape(v: &str) -> String {
    let mut out = String::with_capacity(v.len());
    for c in v.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            c => out.push(c),
        }
    }
    out
}

/// Pacemaker's operation digest of a parameter set.
pub fn digest(params: &BTreeMap<String, String>) -> String {
    let mut text = String::from(" <parameters");
    for (k, v) in params {
        text.push(' ');
        text.push_str(k);
        text.push_str("=\"");
        text.push_str(&escape(v));
        text.push('"');
    }
    text.push_str("/>\n");
    let sum = Md5::digest(text.as_bytes());
    sum.iter().map(|b| format!("{b:02x}")).collect()
}

/// The operation a history entry is compared against: probes, promotions and
/// migrations ran with the start's parameters.
fn task_for_digest(task: &str, interval_ms: u64) -> &str {
    if interval_ms == 0 && matches!(task, "monitor" | "migrate_from" | "promote") {
        "start"
    } else {
        task
    }
}

/// Compare a recorded operation of primitive `r` with its current definition.
pub fn compare(cl: &Cluster, r: RscId, op: &OpRecord) -> Cmp {
    let rsc = &cl.rscs[r];
    let interval = op.interval_ms;
    let task = task_for_digest(&op.operation, interval);
    let def = rsc
        .ops
        .iter()
        .find(|o| o.name == task && o.interval_ms == interval);
    let mut params: BTreeMap<String, String> = rsc.params.clone();
    let mut extra = false;
    if let Some(d) = def {
        for (k, v) in &d.attrs {
            if !OP_META.contains(&k.as_str()) {
                params.insert(k.clone(), v.clone());
                extra = true;
            }
        }
    }
    if interval > 0 {
        // Recurring operations also hash their timeout.
        let timeout = def
            .and_then(|d| d.timeout_ms)
            .or_else(|| {
                cl.op_defaults
                    .get("timeout")
                    .and_then(|t| halo_model::duration::parse_duration_ms(t).ok())
            })
            .unwrap_or(20_000);
        params.insert("CRM_meta_timeout".into(), timeout.to_string());
    }
    let implied_restart = interval == 0 && extra;
    let result = compare_digests(op, &params, implied_restart);
    // Like crm_simulate, accept a difference only in secret parameters (a status
    // dump with its secrets masked) as no change; a live cluster must act on it.
    if result != Cmp::Match && cl.opts.sanitized {
        if let (Some(recorded), Some(secret)) = (&op.op_secure_digest, &op.op_secure_params) {
            let old = op
                .feature_set
                .as_deref()
                .map(|v| halo_model::cib::version_lt(v, "3.16.0"))
                .unwrap_or(true);
            let mut secure: BTreeMap<String, String> = if old {
                let mut p = rsc.params.clone();
                if rsc.agent.class == "stonith" {
                    p.retain(|k, _| !k.starts_with("pcmk_"));
                }
                p
            } else {
                params.clone()
            };
            secure.retain(|k, _| !secret.contains(&format!(" {k} ")));
            if old {
                secure.remove("CRM_meta_timeout");
            }
            if &digest(&secure) == recorded {
                return Cmp::Match;
            }
        }
    }
    result
}

fn compare_digests(op: &OpRecord, params: &BTreeMap<String, String>, implied_restart: bool) -> Cmp {
    if let Some(recorded) = &op.op_restart_digest {
        let restart: BTreeMap<String, String> = match &op.op_force_restart {
            Some(list) => params
                .iter()
                .filter(|(k, _)| list.contains(&format!(" {k} ")))
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect(),
            None => params.clone(),
        };
        if &digest(&restart) != recorded {
            return Cmp::Restart;
        }
    }
    match &op.op_digest {
        None => Cmp::Unknown,
        Some(recorded) if *recorded != digest(params) => {
            if implied_restart {
                Cmp::Restart
            } else {
                Cmp::All
            }
        }
        Some(_) => Cmp::Match,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Digests recorded by Pacemaker 2.1 in its own regression cases.
    #[test]
    fn digest_matches_pacemaker() {
        let p = |kv: &[(&str, &str)]| -> BTreeMap<String, String> {
            kv.iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect()
        };
        assert_eq!(
            digest(&p(&[("passwd", "whatever"), ("fake", "foo")])),
            "457016173e548c394dcf3896e3066412"
        );
        assert_eq!(
            digest(&p(&[
                ("passwd", "whatever"),
                ("fake", "foo"),
                ("CRM_meta_timeout", "20000")
            ])),
            "f9a51bfe2c3d74c3b72202f3101682b7"
        );
        assert_eq!(
            digest(&p(&[("passwd", "whatever")])),
            "5de129d7fe42dbcfe537f2c63b1921b6"
        );
    }
}
