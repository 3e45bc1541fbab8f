//! `halo completion bash`: the script, loaded into a real bash, completes halo's
//! commands and their subcommands.

use std::path::Path;
use std::process::Command;

#[test]
fn bash_completion_completes_commands() {
    let bin = Path::new(env!("CARGO_BIN_EXE_halo"));
    let script = Command::new(bin)
        .args(["completion", "bash"])
        .output()
        .unwrap_or_else(|e| panic!("{e}"));
    assert!(script.status.success());
    let file = std::env::temp_dir().join(format!("halo-completion-{}.bash", std::process::id()));
    std::fs::write(&file, &script.stdout).unwrap_or_else(|e| panic!("{e}"));
    let complete = |words: &str, cword: usize| -> String {
        let out = Command::new("bash")
            .arg("-c")
            .arg(format!(
                "source '{}'; COMP_WORDS=({words}); COMP_CWORD={cword}; COMP_LINE='{words}'; \
                 COMP_POINT=${{#COMP_LINE}}; _halo halo; echo \"${{COMPREPLY[@]}}\"",
                file.display()
            ))
            .output()
            .unwrap_or_else(|e| panic!("bash: {e}"));
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    let top = complete("halo res", 1);
    let sub = complete("halo constraint co", 2);
    let _ = std::fs::remove_file(&file);
    assert!(top.split_whitespace().any(|w| w == "resource"), "{top}");
    assert!(sub.split_whitespace().any(|w| w == "colocation"), "{sub}");
}

/// `halo man DIR`: one page per command, that groff renders, with the command's options.
#[test]
fn man_pages_for_every_command() {
    if !halo_testkit::installed("/usr/bin/groff", "groff-base") {
        return;
    }
    let bin = Path::new(env!("CARGO_BIN_EXE_halo"));
    let dir = std::env::temp_dir().join(format!("halo-man-{}", std::process::id()));
    let out = Command::new(bin)
        .arg("man")
        .arg(&dir)
        .output()
        .unwrap_or_else(|e| panic!("{e}"));
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let page = dir.join("halo-resource-create.1");
    let rendered = Command::new("groff")
        .args(["-man", "-Tascii", "-P-c", "-P-b", "-P-u"])
        .arg(&page)
        .output()
        .unwrap_or_else(|e| panic!("groff: {e}"));
    let pages = std::fs::read_dir(&dir).map(|d| d.count()).unwrap_or(0);
    let has = |name: &str| dir.join(name).exists();
    let all = [
        "halo.1",
        "halo-status.1",
        "halo-property-describe.1",
        "halo-man.1",
    ]
    .iter()
    .all(|p| has(p));
    let no_help = !has("halo-help.1");
    let _ = std::fs::remove_dir_all(&dir);
    let text = String::from_utf8_lossy(&rendered.stdout);
    assert!(
        rendered.status.success() && text.contains("--dry-run"),
        "{text}"
    );
    assert!(all && no_help && pages > 50, "{pages} pages");
}
