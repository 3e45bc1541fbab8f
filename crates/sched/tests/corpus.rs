//! Pacemaker's own scheduler regression cases (../shared/pacemaker-scheduler): for every
//! case, halo's transition summary must contain the same set of actions as
//! crm_simulate's. The pass rate per tier is printed and must not fall below the level
//! already reached (raise the floors as the scheduler improves; never lower them).

use std::collections::BTreeMap;
use std::path::PathBuf;

/// Cases that pass today, per tier: the ratchet.
const FLOOR_TIER1: usize = 40;
const FLOOR_TIER2: usize = 268;

fn corpus_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared/pacemaker-scheduler")
}

/// One comparable summary line (the README's tuple, instance numbers normalised).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
enum Tuple {
    Rsc {
        change: String,
        rsc: String,
        nodes: Vec<String>,
        roles: Vec<String>,
        blocked: bool,
    },
    Fence {
        op: String,
        node: String,
    },
}

const ROLES: [&str; 6] = [
    "Stopped",
    "Started",
    "Unpromoted",
    "Promoted",
    "Master",
    "Slave",
];

fn parse_line(line: &str, anon: &dyn Fn(&str) -> bool) -> Result<Option<Tuple>, String> {
    let l = line.trim();
    let Some(rest) = l.strip_prefix("* ") else {
        return Err(format!("not a summary line: {l}"));
    };
    if let Some(f) = rest.strip_prefix("Fence ") {
        // Fence (reboot) NODE 'REASON'
        let f = f.trim();
        let (op, rest) = if let Some(x) = f.strip_prefix('(') {
            let end = x.find(')').ok_or("bad fence op")?;
            (x[..end].to_string(), x[end + 1..].trim())
        } else {
            ("reboot".to_string(), f)
        };
        let node = rest.split_whitespace().next().ok_or("fence without node")?;
        return Ok(Some(Tuple::Fence {
            op,
            node: node.to_string(),
        }));
    }
    if rest.starts_with("Shutdown ") {
        return Ok(None);
    }
    let mut it = rest.splitn(2, char::is_whitespace);
    let change = it.next().ok_or("empty")?.to_string();
    let rest = it.next().ok_or("no resource")?.trim_start();
    let mut it = rest.splitn(2, char::is_whitespace);
    let mut rsc = it.next().ok_or("no resource")?.to_string();
    let rest = it.next().ok_or("no details")?.trim_start();
    let open = rest.find('(').ok_or("no (")?;
    let close = rest.rfind(')').ok_or("no )")?;
    // The details end at the first ')' after '(' (reasons may contain parentheses).
    let close = rest[open..].find(')').map(|i| i + open).unwrap_or(close);
    let details = &rest[open + 1..close];
    let reason = &rest[close + 1..];
    let mut nodes = Vec::new();
    let mut roles = Vec::new();
    for w in details.split_whitespace() {
        if w == "->" {
            continue;
        }
        if ROLES.contains(&w) {
            let w = match w {
                "Master" => "Promoted",
                "Slave" => "Unpromoted",
                x => x,
            };
            roles.push(w.to_string());
        } else {
            nodes.push(w.to_string());
        }
    }
    if let Some(i) = rsc.rfind(':') {
        if rsc[i + 1..].chars().all(|c| c.is_ascii_digit()) && anon(&rsc[..i]) {
            rsc.truncate(i);
        }
    }
    Ok(Some(Tuple::Rsc {
        change,
        rsc,
        nodes,
        roles,
        blocked: reason.contains("blocked"),
    }))
}

fn expected_lines(summary: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut inside = false;
    for line in summary.lines() {
        if line.starts_with("Transition Summary:") {
            inside = true;
            continue;
        }
        if inside {
            if !line.starts_with(' ') && !line.is_empty() {
                break;
            }
            if !line.trim().is_empty() {
                out.push(line.to_string());
            }
        }
    }
    out
}

fn multiset(lines: &[String], anon: &dyn Fn(&str) -> bool) -> Result<Vec<Tuple>, String> {
    let mut v = Vec::new();
    for l in lines {
        if let Some(t) = parse_line(l, anon)? {
            v.push(t);
        }
    }
    v.sort();
    Ok(v)
}

fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

/// Run one case; Ok(()) when the summaries match.
fn run_case(name: &str) -> Result<(), String> {
    let dir = corpus_dir().join("cases");
    let xml =
        std::fs::read_to_string(dir.join(format!("{name}.xml"))).map_err(|e| e.to_string())?;
    let summary =
        std::fs::read_to_string(dir.join(format!("{name}.summary"))).map_err(|e| e.to_string())?;
    let imp = halo_model::parse_cib(&xml, name).map_err(|e| format!("import: {e}"))?;
    // Anonymous clones: ids of clone children whose clone is not globally unique.
    let mut anon_ids: Vec<String> = Vec::new();
    for r in &imp.config.resources {
        if let halo_model::Resource::Clone(c) = r {
            let unique = c
                .meta
                .get("globally-unique")
                .map(|v| v == "true")
                .unwrap_or(false);
            if !unique {
                anon_ids.extend(c.child.ids().iter().map(|s| s.to_string()));
            }
        }
    }
    let anon = |id: &str| anon_ids.iter().any(|a| a == id);
    let plan = std::panic::catch_unwind(|| halo_sched::schedule(&imp.config, &imp.status, now()))
        .map_err(|_| "scheduler panicked".to_string())?
        .map_err(|e| format!("schedule: {e}"))?;
    let ours: Vec<String> = plan.changes.iter().map(|c| c.render()).collect();
    let want = multiset(&expected_lines(&summary), &anon)?;
    let got = multiset(&ours, &anon)?;
    if want == got {
        Ok(())
    } else {
        Err(format!(
            "expected:\n  {}\ngot:\n  {}",
            expected_lines(&summary).join("\n  "),
            ours.join("\n  ")
        ))
    }
}

#[test]
fn corpus_pass_rate_per_tier_does_not_drop() {
    let dir = corpus_dir();
    let manifest = match std::fs::read_to_string(dir.join("MANIFEST.tsv")) {
        Ok(m) => m,
        Err(e) => panic!("the corpus is missing at {}: {e}", dir.display()),
    };
    let only = std::env::var("HALO_CASE").ok();
    let mut per_tier: BTreeMap<String, (usize, usize)> = BTreeMap::new();
    let mut failures = Vec::new();
    for line in manifest.lines().skip(1) {
        let cols: Vec<&str> = line.split('\t').collect();
        if cols.len() < 2 {
            continue;
        }
        let (name, tier) = (cols[0], cols[1]);
        if let Some(o) = &only {
            if o != name {
                continue;
            }
        }
        let e = per_tier.entry(tier.to_string()).or_default();
        e.1 += 1;
        match run_case(name) {
            Ok(()) => e.0 += 1,
            Err(why) => failures.push((tier.to_string(), name.to_string(), why)),
        }
    }
    if std::env::var("HALO_CORPUS_VERBOSE").is_ok() || only.is_some() {
        for (tier, name, why) in &failures {
            eprintln!("FAIL tier {tier} {name}\n{why}\n");
        }
    } else {
        let names: Vec<String> = failures
            .iter()
            .map(|f| format!("{}({})", f.1, f.0))
            .collect();
        eprintln!("failing cases: {}", names.join(" "));
    }
    for (tier, (pass, total)) in &per_tier {
        println!(
            "corpus tier {tier}: {pass}/{total} cases match crm_simulate ({:.1}%)",
            100.0 * *pass as f64 / (*total).max(1) as f64
        );
    }
    if only.is_none() {
        let t1 = per_tier.get("1").map(|x| x.0).unwrap_or(0);
        let t2 = per_tier.get("2").map(|x| x.0).unwrap_or(0);
        assert!(
            t1 >= FLOOR_TIER1,
            "tier 1 fell to {t1} (floor {FLOOR_TIER1})"
        );
        assert!(
            t2 >= FLOOR_TIER2,
            "tier 2 fell to {t2} (floor {FLOOR_TIER2})"
        );
    }
}
