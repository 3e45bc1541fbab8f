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
