//! Command-line options the way Pacemaker's tools read them (GLib's option parser):
//! `-x`, `-xVALUE`, `-x VALUE`, bundled flags `-Gq`, `--long`, `--long=VALUE`,
//! `--long VALUE`. An optional argument is taken from the next word only when that
//! word does not start with `-`. Options are returned in the order given, since for
//! several tools the last command option wins.

use super::{Fail, Res};

/// Whether an option takes an argument.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Arg {
    None,
    Required,
    Optional,
}

/// One option a tool accepts. `key` names it in the parse result (its long name).
#[derive(Debug, Clone, Copy)]
pub struct Spec {
    pub short: Option<char>,
    pub long: &'static str,
    pub arg: Arg,
}

pub const fn flag(short: char, long: &'static str) -> Spec {
    Spec {
        short: Some(short),
        long,
        arg: Arg::None,
    }
}

pub const fn value(short: char, long: &'static str) -> Spec {
    Spec {
        short: Some(short),
        long,
        arg: Arg::Required,
    }
}

pub const fn optional(short: char, long: &'static str) -> Spec {
    Spec {
        short: Some(short),
        long,
        arg: Arg::Optional,
    }
}

pub const fn long_flag(long: &'static str) -> Spec {
    Spec {
        short: None,
        long,
        arg: Arg::None,
    }
}

pub const fn long_value(long: &'static str) -> Spec {
    Spec {
        short: None,
        long,
        arg: Arg::Required,
    }
}

/// The options given, in order, and the other words.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Parsed {
    pub opts: Vec<(&'static str, Option<String>)>,
    pub rest: Vec<String>,
}

impl Parsed {
    /// `--help`/`--help-all` (the usage) or `--version`, as every tool answers them:
    /// the exit code when one of them was asked for.
    pub fn help_or_version(&self, tool: &str, summary: &str, specs: &[Spec]) -> Option<i32> {
        if self.has("help") || self.has("help-all") {
            print!("{}", usage(tool, summary, specs));
            return Some(super::exit::OK);
        }
        if self.has("version") {
            super::print_version();
            return Some(super::exit::OK);
        }
        None
    }

    pub fn has(&self, key: &str) -> bool {
        self.opts.iter().any(|(k, _)| *k == key)
    }

    /// The last value given for `key`.
    pub fn value(&self, key: &str) -> Option<&str> {
        self.opts
            .iter()
            .rev()
            .find(|(k, _)| *k == key)
            .and_then(|(_, v)| v.as_deref())
    }
}

/// Parse `args` against `specs`. Unknown options are usage errors.
pub fn parse(specs: &[Spec], args: &[String]) -> Res<Parsed> {
    let mut out = Parsed::default();
    let mut i = 0;
    let mut only_words = false;
    while i < args.len() {
        let a = &args[i];
        i += 1;
        if only_words || a == "-" || !a.starts_with('-') {
            out.rest.push(a.clone());
            continue;
        }
        if a == "--" {
            only_words = true;
            continue;
        }
        if let Some(long) = a.strip_prefix("--") {
            let (name, inline) = match long.split_once('=') {
                Some((n, v)) => (n, Some(v.to_string())),
                None => (long, None),
            };
            let spec = specs
                .iter()
                .find(|s| s.long == name)
                .ok_or_else(|| Fail::usage(format!("Unknown option --{name}")))?;
            let value = match spec.arg {
                Arg::None => {
                    if inline.is_some() {
                        return Err(Fail::usage(format!(
                            "Option --{name} does not take an argument"
                        )));
                    }
                    None
                }
                Arg::Required => match inline {
                    Some(v) => Some(v),
                    None => {
                        let v = args
                            .get(i)
                            .cloned()
                            .ok_or_else(|| Fail::usage(format!("Missing argument for --{name}")))?;
                        i += 1;
                        Some(v)
                    }
                },
                Arg::Optional => match inline {
                    Some(v) => Some(v),
                    None => next_word(args, &mut i),
                },
            };
            out.opts.push((spec.long, value));
            continue;
        }
        // A bundle of short options: -Gq, -nNAME, -n NAME.
        let chars: Vec<char> = a[1..].chars().collect();
        let mut j = 0;
        while j < chars.len() {
            let c = chars[j];
            j += 1;
            let spec = specs
                .iter()
                .find(|s| s.short == Some(c))
                .ok_or_else(|| Fail::usage(format!("Unknown option -{c}")))?;
            let attached: String = chars[j..].iter().collect();
            let value = match spec.arg {
                Arg::None => None,
                Arg::Required => {
                    j = chars.len();
                    if !attached.is_empty() {
                        Some(attached)
                    } else {
                        let v = args
                            .get(i)
                            .cloned()
                            .ok_or_else(|| Fail::usage(format!("Missing argument for -{c}")))?;
                        i += 1;
                        Some(v)
                    }
                }
                Arg::Optional => {
                    j = chars.len();
                    if !attached.is_empty() {
                        Some(attached)
                    } else {
                        next_word(args, &mut i)
                    }
                }
            };
            out.opts.push((spec.long, value));
        }
    }
    Ok(out)
}

fn next_word(args: &[String], i: &mut usize) -> Option<String> {
    match args.get(*i) {
        Some(w) if !w.starts_with('-') => {
            *i += 1;
            Some(w.clone())
        }
        _ => None,
    }
}

/// Usage text from the specs (for `--help`).
pub fn usage(tool: &str, summary: &str, specs: &[Spec]) -> String {
    let mut s = format!("Usage:\n  {tool} [OPTION?]\n\n{summary}\n\nOptions:\n");
    for spec in specs {
        let short = spec.short.map(|c| format!("-{c}, ")).unwrap_or_default();
        let arg = match spec.arg {
            Arg::None => "",
            Arg::Required => "=VALUE",
            Arg::Optional => "[=VALUE]",
        };
        s.push_str(&format!("  {short}--{}{arg}\n", spec.long));
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    const SPECS: &[Spec] = &[
        value('n', "name"),
        flag('G', "query"),
        flag('q', "quiet"),
        optional('p', "promotion"),
        value('v', "update"),
    ];

    fn p(args: &[&str]) -> Res<Parsed> {
        let args: Vec<String> = args.iter().map(|s| s.to_string()).collect();
        parse(SPECS, &args)
    }

    #[test]
    fn glib_forms() {
        let r = p(&["-nfoo", "-Gq", "--update=5", "--name", "bar", "x"]).unwrap_or_default();
        assert_eq!(r.value("name"), Some("bar"));
        assert_eq!(r.value("update"), Some("5"));
        assert!(r.has("query") && r.has("quiet"));
        assert_eq!(r.rest, ["x"]);
        // An optional argument is the next word unless it is an option.
        let r = p(&["-p", "-v", "5"]).unwrap_or_default();
        assert_eq!(r.opts[0], ("promotion", None));
        assert_eq!(r.value("update"), Some("5"));
        let r = p(&["--promotion", "rsc", "-G"]).unwrap_or_default();
        assert_eq!(r.value("promotion"), Some("rsc"));
        // A required argument takes the next word whatever it is.
        let r = p(&["-v", "-1"]).unwrap_or_default();
        assert_eq!(r.value("update"), Some("-1"));
        assert_eq!(p(&["-x"]).map_err(|e| e.code), Err(64));
        assert_eq!(p(&["--name"]).map_err(|e| e.code), Err(64));
    }
}
