//! HAProxy's own regression suite (`../shared/haproxy-regtests`: HAProxy 2.6.0's
//! `reg-tests/` and `run-regtests.sh`, run by Debian's `varnishtest`) against `halo`
//! run as `haproxy` (a link named so). The runner and the tests ask `haproxy -vv` and
//! `haproxy -cc` what is built in and skip what needs what halo does not declare (TLS,
//! Lua, compression...), so halo is tested on exactly what it claims.
//!
//! The ratchet: every test named in `tests/data/haproxy-regtests-passing.txt` must pass.
//! By default those tests run (a test halo fails waits out its timeouts: the whole suite
//! takes minutes); with `HALO_REGTESTS_ALL=1` the whole suite runs, and a test that
//! passes but is not listed is printed, to be added (`bench/haproxy-regtests` runs it
//! all beside HAProxy). Passed/failed/skipped are printed per directory. Needs Debian's
//! `varnish` and `socat` (CI installs them).

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::Command;

fn suite() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared/haproxy-regtests")
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Outcome {
    Passed,
    Failed,
    Skipped,
}

/// Runs `tests` (paths under the suite, or `reg-tests` for all) with `program` as
/// HAProxy; the outcome of every test the runner did not leave out, and those it did.
fn run_suite(program: &Path, tests: &[String]) -> (BTreeMap<String, Outcome>, BTreeSet<String>) {
    let work = tempfile::tempdir().expect("temp dir");
    let out = Command::new("sh")
        .arg("run-regtests.sh")
        .args(["--keep-logs", "--j", "2"])
        .args(tests)
        .current_dir(suite())
        .env("HAPROXY_PROGRAM", program)
        .env("VTEST_PROGRAM", "/usr/bin/varnishtest")
        .env("TMPDIR", work.path())
        .output()
        .expect("run run-regtests.sh");
    let log = String::from_utf8_lossy(&out.stdout);
    let left_out: BTreeSet<String> = log
        .lines()
        .filter_map(|l| l.trim_start().strip_prefix("Skip "))
        .filter_map(|l| l.split_whitespace().next())
        .map(str::to_string)
        .collect();
    // Every test leaves a directory with its name (INFO) and its log (-L keeps them).
    let mut outcomes = BTreeMap::new();
    for run in std::fs::read_dir(work.path()).expect("runs").flatten() {
        for vtc in std::fs::read_dir(run.path())
            .into_iter()
            .flatten()
            .flatten()
        {
            let info = std::fs::read_to_string(vtc.path().join("INFO")).unwrap_or_default();
            let Some(name) = info
                .lines()
                .find_map(|l| l.strip_prefix("Test case: "))
                .map(|n| n.trim().to_string())
            else {
                continue;
            };
            let test_log = std::fs::read_to_string(vtc.path().join("LOG")).unwrap_or_default();
            let outcome = if test_log.contains("SKIPPING test") {
                Outcome::Skipped
            } else if test_log.contains(&format!("TEST {name} completed")) {
                Outcome::Passed
            } else {
                Outcome::Failed
            };
            outcomes.insert(name, outcome);
        }
    }
    assert!(
        !outcomes.is_empty() || tests.is_empty(),
        "the runner ran no test:\n{}{}",
        log,
        String::from_utf8_lossy(&out.stderr)
    );
    (outcomes, left_out)
}

#[test]
fn haproxy_regression_suite_ratchet() {
    if !halo_testkit::installed("/usr/bin/varnishtest", "varnish")
        || !halo_testkit::installed("/usr/bin/socat", "socat")
    {
        return;
    }
    assert!(
        suite().join("run-regtests.sh").exists(),
        "HAProxy's regression suite is missing at {}",
        suite().display()
    );
    let ratchet =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/haproxy-regtests-passing.txt");
    let listed: Vec<String> = std::fs::read_to_string(&ratchet)
        .expect("the ratchet file")
        .lines()
        .map(|l| l.split('#').next().unwrap_or("").trim().to_string())
        .filter(|l| !l.is_empty())
        .collect();
    let all = std::env::var_os("HALO_REGTESTS_ALL").is_some();
    let bin = tempfile::tempdir().expect("temp dir");
    let haproxy = bin.path().join("haproxy");
    std::os::unix::fs::symlink(env!("CARGO_BIN_EXE_halo"), &haproxy).expect("link");
    let tests = if all {
        vec!["reg-tests".to_string()]
    } else {
        listed.clone()
    };
    if tests.is_empty() {
        eprintln!("haproxy-regtests: the ratchet lists no test yet");
        return;
    }
    let (outcomes, left_out) = run_suite(&haproxy, &tests);

    let dir_of = |t: &str| t.split('/').nth(1).unwrap_or("?").to_string();
    let mut per_dir: BTreeMap<String, [usize; 3]> = BTreeMap::new();
    for (t, o) in &outcomes {
        per_dir.entry(dir_of(t)).or_default()[*o as usize] += 1;
    }
    for t in &left_out {
        per_dir.entry(dir_of(t)).or_default()[Outcome::Skipped as usize] += 1;
    }
    for (dir, [p, f, s]) in &per_dir {
        eprintln!("haproxy-regtests: {dir} passed={p} failed={f} skipped={s}");
    }
    let count = |o: Outcome| outcomes.values().filter(|x| **x == o).count();
    eprintln!(
        "haproxy-regtests: {} passed={} failed={} skipped={}",
        if all { "all" } else { "ratchet" },
        count(Outcome::Passed),
        count(Outcome::Failed),
        count(Outcome::Skipped) + left_out.len()
    );
    let passed = |t: &str| outcomes.get(t) == Some(&Outcome::Passed);
    for t in outcomes.keys().filter(|t| passed(t) && !listed.contains(t)) {
        eprintln!("haproxy-regtests: passes, not yet in the ratchet: {t}");
    }
    let regressed: Vec<&String> = listed.iter().filter(|t| !passed(t)).collect();
    assert!(
        regressed.is_empty(),
        "tests of the ratchet that do not pass (any more): {regressed:?}"
    );
}
