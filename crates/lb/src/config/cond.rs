//! HAProxy's conditions (`.if COND` in a configuration, `haproxy -cc COND` on the
//! command line): `feature(NAME)`, `defined(VAR)`, `streq(A,B)`, `strneq(A,B)`,
//! `version_atleast(V)`, `version_before(V)`, the TLS library's `ssllib_name_startswith`,
//! `openssl_version_atleast`/`_before` (false: halo has no TLS yet), integers (true when
//! not zero), `!`, `&&` (before `||`) and parentheses.

use std::cmp::Ordering;

/// The HAProxy version whose language halo answers to.
pub const HAPROXY_VERSION: &str = "2.6.0";

/// HAProxy's build features as `haproxy -vv` lists them, each with whether halo has it.
/// Only what halo's code shows: EPOLL (tokio's reactor on Linux), LINUX_SPLICE (the TCP
/// proxy and HTTP/1 bodies splice), LINUX_TPROXY/TPROXY (listeners get IP_TRANSPARENT;
/// `usesrc` is not supported), THREAD (worker threads), PROMEX (`http-request
/// use-service prometheus-exporter`). No Lua, compression, PCRE (regular expressions
/// are Rust's `regex`) nor QUIC; nor OPENSSL: halo speaks TLS with rustls on listeners
/// and to servers, but what HAProxy's suite tests of its OpenSSL build (certificates
/// changed at run time, OCSP, listeners on Unix sockets, ...) is not there.
pub const FEATURES: &[(&str, bool)] = &[
    ("EPOLL", true),
    ("LINUX_SPLICE", true),
    ("LINUX_TPROXY", true),
    ("TPROXY", true),
    ("THREAD", true),
    ("OPENSSL", false),
    ("LUA", false),
    ("ZLIB", false),
    ("SLZ", false),
    ("PCRE", false),
    ("PCRE2", false),
    ("PROMEX", true),
    ("QUIC", false),
];

/// Evaluates `expr`; `env` resolves `defined(VAR)`.
pub fn eval(expr: &str, env: &dyn Fn(&str) -> Option<String>) -> Result<bool, String> {
    let tokens = tokenize(expr)?;
    let mut p = Parser {
        tokens: &tokens,
        pos: 0,
        env,
    };
    let v = p.or()?;
    match p.tokens.get(p.pos) {
        None => Ok(v),
        Some(t) => Err(format!("unexpected `{}` in condition `{expr}`", t.text())),
    }
}

#[derive(Debug, Clone, PartialEq)]
enum Tok {
    Word(String),
    Open,
    Close,
    Not,
    And,
    Or,
}

impl Tok {
    fn text(&self) -> String {
        match self {
            Tok::Word(w) => w.clone(),
            Tok::Open => "(".into(),
            Tok::Close => ")".into(),
            Tok::Not => "!".into(),
            Tok::And => "&&".into(),
            Tok::Or => "||".into(),
        }
    }
}

fn tokenize(s: &str) -> Result<Vec<Tok>, String> {
    let b: Vec<char> = s.chars().collect();
    let mut out = Vec::new();
    let mut i = 0;
    while i < b.len() {
        let c = b[i];
        match c {
            ' ' | '\t' => i += 1,
            '(' => {
                out.push(Tok::Open);
                i += 1;
            }
            ')' => {
                out.push(Tok::Close);
                i += 1;
            }
            '!' => {
                out.push(Tok::Not);
                i += 1;
            }
            '&' | '|' => {
                if b.get(i + 1) != Some(&c) {
                    return Err(format!("`{c}` alone in condition `{s}` (use `{c}{c}`)"));
                }
                out.push(if c == '&' { Tok::And } else { Tok::Or });
                i += 2;
            }
            _ => {
                // A word: a predicate name, or a number.
                let start = i;
                while i < b.len() && !" \t()!&|,".contains(b[i]) {
                    i += 1;
                }
                if start == i {
                    return Err(format!("unexpected `{c}` in condition `{s}`"));
                }
                out.push(Tok::Word(b[start..i].iter().collect()));
                // A predicate's arguments are taken whole, up to the closing parenthesis.
                if b.get(i) == Some(&'(') {
                    let close = b[i..]
                        .iter()
                        .position(|&x| x == ')')
                        .ok_or_else(|| format!("unclosed `(` in condition `{s}`"))?;
                    let args: String = b[i + 1..i + close].iter().collect();
                    out.push(Tok::Word(format!("({args})")));
                    i += close + 1;
                }
            }
        }
    }
    Ok(out)
}

struct Parser<'a> {
    tokens: &'a [Tok],
    pos: usize,
    env: &'a dyn Fn(&str) -> Option<String>,
}

impl Parser<'_> {
    fn next(&mut self) -> Option<Tok> {
        let t = self.tokens.get(self.pos).cloned();
        self.pos += 1;
        t
    }

    fn or(&mut self) -> Result<bool, String> {
        let mut v = self.and()?;
        while self.tokens.get(self.pos) == Some(&Tok::Or) {
            self.pos += 1;
            let r = self.and()?;
            v = v || r;
        }
        Ok(v)
    }

    fn and(&mut self) -> Result<bool, String> {
        let mut v = self.term()?;
        while self.tokens.get(self.pos) == Some(&Tok::And) {
            self.pos += 1;
            let r = self.term()?;
            v = v && r;
        }
        Ok(v)
    }

    fn term(&mut self) -> Result<bool, String> {
        match self.next() {
            Some(Tok::Not) => Ok(!self.term()?),
            Some(Tok::Open) => {
                let v = self.or()?;
                match self.next() {
                    Some(Tok::Close) => Ok(v),
                    _ => Err("missing `)` in condition".into()),
                }
            }
            Some(Tok::Word(w)) => {
                let args = match self.tokens.get(self.pos) {
                    Some(Tok::Word(a)) if a.starts_with('(') => {
                        self.pos += 1;
                        Some(a[1..a.len() - 1].to_string())
                    }
                    _ => None,
                };
                match args {
                    Some(a) => self.predicate(&w, &a),
                    None => w
                        .parse::<i64>()
                        .map(|n| n != 0)
                        .map_err(|_| format!("unknown term `{w}` in condition")),
                }
            }
            Some(t) => Err(format!("unexpected `{}` in condition", t.text())),
            None => Err("a condition ends where a term is expected".into()),
        }
    }

    fn predicate(&self, name: &str, args: &str) -> Result<bool, String> {
        let args: Vec<String> = args
            .split(',')
            .map(|a| a.trim().trim_matches('"').trim_matches('\'').to_string())
            .collect();
        let one = || -> Result<&str, String> {
            match args.as_slice() {
                [a] => Ok(a.as_str()),
                _ => Err(format!("`{name}` takes one argument")),
            }
        };
        let two = || -> Result<(&str, &str), String> {
            match args.as_slice() {
                [a, b] => Ok((a.as_str(), b.as_str())),
                _ => Err(format!("`{name}` takes two arguments")),
            }
        };
        Ok(match name {
            "defined" => (self.env)(one()?).is_some(),
            "feature" => {
                let f = one()?;
                FEATURES.iter().any(|(n, on)| *on && *n == f)
            }
            "streq" => {
                let (a, b) = two()?;
                a == b
            }
            "strneq" => {
                let (a, b) = two()?;
                a != b
            }
            "version_atleast" => compare_versions(HAPROXY_VERSION, one()?)? != Ordering::Less,
            "version_before" => compare_versions(HAPROXY_VERSION, one()?)? == Ordering::Less,
            // No TLS library: nothing about one is true.
            "ssllib_name_startswith" | "openssl_version_atleast" | "openssl_version_before" => {
                one()?;
                false
            }
            other => return Err(format!("unknown predicate `{other}` in condition")),
        })
    }
}

/// A version as HAProxy orders them: `2.5-dev0` < `2.5-pre1` < `2.5-rc1` < `2.5.0` <
/// `2.5.1`.
fn version_key(v: &str) -> Result<(Vec<u32>, u32, u32), String> {
    let bad = || format!("`{v}` is not a version");
    let (nums, stage) = match v.split_once('-') {
        Some((n, s)) => (n, Some(s)),
        None => (v, None),
    };
    let mut parts: Vec<u32> = nums
        .split('.')
        .map(|p| p.parse().map_err(|_| bad()))
        .collect::<Result<_, _>>()?;
    while parts.len() < 3 {
        parts.push(0);
    }
    let (rank, n) = match stage {
        None => (3, 0),
        Some(s) => {
            let (rank, rest) = if let Some(r) = s.strip_prefix("dev") {
                (0, r)
            } else if let Some(r) = s.strip_prefix("pre") {
                (1, r)
            } else if let Some(r) = s.strip_prefix("rc") {
                (2, r)
            } else {
                return Err(bad());
            };
            (rank, rest.parse().map_err(|_| bad())?)
        }
    };
    Ok((parts, rank, n))
}

fn compare_versions(a: &str, b: &str) -> Result<Ordering, String> {
    Ok(version_key(a)?.cmp(&version_key(b)?))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ev(s: &str) -> Result<bool, String> {
        eval(s, &|n: &str| (n == "SET").then(String::new))
    }

    #[test]
    fn conditions_as_haproxys_test_runner_writes_them() {
        assert_eq!(ev("version_atleast(2.5-dev0)"), Ok(true));
        assert_eq!(ev("version_atleast(2.6-dev0)"), Ok(true));
        assert_eq!(ev("version_atleast(2.6.1)"), Ok(false));
        assert_eq!(ev("version_before(2.7-dev0)"), Ok(true));
        assert_eq!(ev("feature(OPENSSL)"), Ok(false));
        assert_eq!(ev("feature(LINUX_SPLICE)"), Ok(true));
        assert_eq!(
            ev("feature(OPENSSL) && ssllib_name_startswith(OpenSSL) && openssl_version_atleast(1.1.1)"),
            Ok(false)
        );
        assert_eq!(
            ev("version_atleast(2.5-dev5) && (feature(PCRE) || feature(PCRE2))"),
            Ok(false)
        );
        assert_eq!(
            ev("!feature(LUA) && defined(SET) && !defined(UNSET)"),
            Ok(true)
        );
        assert_eq!(ev("streq(a,a) && strneq(a, b) || 0"), Ok(true));
        assert_eq!(ev("0 || 1 && 0"), Ok(false), "&& before ||");
        assert!(ev("feature(OPENSSL) & 1").is_err());
        assert!(ev("frobnicate(1)").is_err());
        assert!(ev("(1").is_err());
        assert!(ev("version_atleast(two)").is_err());
    }
}
