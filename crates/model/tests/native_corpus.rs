//! The native format against real configurations: every CIB of Pacemaker's scheduler
//! regression corpus (`<repo>/../shared/pacemaker-scheduler/cases/*.xml`) that
//! validates is written as native TOML and read back unchanged.

use std::fs;
use std::path::{Path, PathBuf};

use halo_model::{parse_cib, parse_native, to_native, validate};

fn cases() -> Vec<PathBuf> {
    let dir = Path::new(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../../shared/pacemaker-scheduler/cases"
    ));
    let mut files: Vec<PathBuf> = fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("cannot read the corpus at {}: {e}", dir.display()))
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "xml"))
        .collect();
    files.sort();
    files
}

/// Real Pacemaker configurations survive native TOML: imported, validated, written,
/// read back, equal. The count of cases that validate may only go up.
#[test]
fn native_round_trips_every_valid_corpus_configuration() {
    // Ratchet: cases whose configuration passes `validate` (the rest use values
    // halo reads strictly, such as `priority = "1.0"`). Never lower it.
    const MIN_VALID: usize = 301;
    let files = cases();
    let mut valid = 0;
    let mut rejected = Vec::new();
    for path in &files {
        let name = path.file_name().unwrap_or_default().to_string_lossy();
        let text = fs::read_to_string(path).unwrap_or_else(|e| panic!("{name}: {e}"));
        let Ok(imported) = parse_cib(&text, &name) else {
            continue;
        };
        if let Err(e) = validate(&imported.config) {
            rejected.push(format!(
                "{name}: {}",
                e.to_string().lines().next().unwrap_or("")
            ));
            continue;
        }
        valid += 1;
        let native = to_native(&imported.config);
        let back = parse_native(&native, &format!("{name}.toml")).unwrap_or_else(|e| {
            panic!("{name}: the written TOML does not read back:\n{e}\n---\n{native}")
        });
        assert_eq!(
            back.config, imported.config,
            "{name}: the configuration changed through native TOML:\n{native}"
        );
    }
    println!(
        "native round trip: {valid} of {} corpus configurations (rejected by validation: {})",
        files.len(),
        rejected.len()
    );
    for r in &rejected {
        println!("  {r}");
    }
    assert!(
        valid >= MIN_VALID,
        "only {valid} corpus configurations validate (at least {MIN_VALID} did before)"
    );
}
