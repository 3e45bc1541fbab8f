//! ACL tests: a sample expression, a match method and patterns
//! (`hdr_beg(host) -i api.`, `var(txn.n) -m int gt 3`, `src 10.0.0.0/8`).

use super::{leading_int, Expr, Fetch, MsgFetch, Source, Value, Vars};
use std::fmt;
use std::net::IpAddr;

/// How a sample is compared with the patterns (`-m METHOD`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Method {
    /// Whether the sample exists (`found`; no pattern).
    Found,
    /// Its boolean value (`bool`; no pattern).
    Bool,
    Int,
    Ip,
    Str,
    Beg,
    End,
    Sub,
    /// A pattern that is a whole `/`-delimited part (`dir`).
    Dir,
    /// A pattern that is a whole `.`/`/`-delimited part (`dom`).
    Dom,
    Reg,
    /// The sample's length against integer patterns (`len`).
    Len,
    /// The sample's bytes against hexadecimal patterns (`bin`).
    Bin,
}

impl Method {
    fn parse(m: &str) -> Result<Method, String> {
        Ok(match m {
            "found" => Method::Found,
            "bool" => Method::Bool,
            "int" => Method::Int,
            "ip" => Method::Ip,
            "str" => Method::Str,
            "beg" => Method::Beg,
            "end" => Method::End,
            "sub" => Method::Sub,
            "dir" => Method::Dir,
            "dom" => Method::Dom,
            "reg" => Method::Reg,
            "len" => Method::Len,
            "bin" => Method::Bin,
            o => {
                return Err(format!(
                "match method `-m {o}` is not supported (found, bool, int, ip, str, beg, end, sub, dir, dom, reg, len, bin)"
            ))
            }
        })
    }
}

/// An integer pattern: `N`, `LO:HI`, `:HI`, `LO:`, or `eq|ge|gt|le|lt N`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Range {
    lo: Option<i64>,
    hi: Option<i64>,
}

impl Range {
    fn contains(&self, n: i64) -> bool {
        self.lo.is_none_or(|lo| n >= lo) && self.hi.is_none_or(|hi| n <= hi)
    }
}

/// One pattern, read the ways the sample may need it.
#[derive(Debug, Clone)]
struct Pattern {
    text: String,
    range: Option<Range>,
    net: Option<(IpAddr, u8)>,
    re: Option<regex::Regex>,
}

/// An ACL's test, parsed from its words after the name.
#[derive(Debug, Clone)]
pub struct AclTest {
    pub expr: Expr,
    /// The method given with `-m` or by the criterion's name; else chosen by the
    /// sample's type (bool, int, ip, or str).
    pub method: Option<Method>,
    pub ignore_case: bool,
    patterns: Vec<Pattern>,
    /// The words, as written.
    pub text: String,
}

impl PartialEq for AclTest {
    fn eq(&self, o: &AclTest) -> bool {
        self.text == o.text
    }
}
impl Eq for AclTest {}

impl fmt::Display for AclTest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

/// HAProxy's predefined ACLs, by name.
pub fn predefined(name: &str) -> Option<&'static str> {
    Some(match name {
        "TRUE" => "always_true",
        "WAIT_END" => "wait_end",
        "FALSE" => "always_false",
        "HTTP" => "req.proto_http",
        "HTTP_1.0" => "req.ver 1.0",
        "HTTP_1.1" => "req.ver 1.1",
        "HTTP_2.0" => "req.ver 2.0",
        "HTTP_CONTENT" => "hdr_val(content-length) gt 0",
        "HTTP_URL_ABS" => "url_reg ^[^/:]*://",
        "HTTP_URL_SLASH" => "url_beg /",
        "HTTP_URL_STAR" => "url *",
        "LOCALHOST" => "src 127.0.0.1/8 ::1",
        "METH_CONNECT" => "method CONNECT",
        "METH_DELETE" => "method DELETE",
        "METH_GET" => "method GET HEAD",
        "METH_HEAD" => "method HEAD",
        "METH_OPTIONS" => "method OPTIONS",
        "METH_POST" => "method POST",
        "METH_PUT" => "method PUT",
        "METH_TRACE" => "method TRACE",
        _ => return None,
    })
}

/// Suffixes that name a match method after a fetch (`path_beg`, `hdr_sub(x)`).
const SUFFIXES: &[(&str, Method)] = &[
    ("_beg", Method::Beg),
    ("_end", Method::End),
    ("_sub", Method::Sub),
    ("_dir", Method::Dir),
    ("_dom", Method::Dom),
    ("_reg", Method::Reg),
    ("_len", Method::Len),
    ("_found", Method::Found),
    ("_str", Method::Str),
    ("_val", Method::Int),
    ("_ip", Method::Ip),
];

/// The criterion as an expression and the method its name implies: a fetch, or a
/// fetch with a method suffix (`hdr_beg(host)` is `req.hdr(host) -m beg`).
fn criterion(c: &str) -> Result<(Expr, Option<Method>), String> {
    let first = Expr::parse(c);
    if let Ok(e) = first {
        return Ok((e, None));
    }
    let name_end = c.find(['(', ',']).unwrap_or(c.len());
    let name = &c[..name_end];
    for (suffix, m) in SUFFIXES {
        if let Some(base) = name.strip_suffix(suffix) {
            // `hdr_ip(x)` is a fetch of its own, tried above.
            let text = format!("{base}{}", &c[name_end..]);
            if let Ok(e) = Expr::parse(&text) {
                return Ok((
                    Expr {
                        text: c.to_string(),
                        ..e
                    },
                    Some(*m),
                ));
            }
        }
    }
    first.map(|e| (e, None))
}

impl AclTest {
    /// Parses `CRITERION [-i] [-m METHOD] [-f FILE] [--] [PATTERN...]`.
    pub fn parse(words: &[String]) -> Result<AclTest, String> {
        let crit = words.first().ok_or("missing ACL criterion")?;
        let (expr, mut method) = criterion(crit)?;
        let mut ignore_case = false;
        let mut texts: Vec<String> = Vec::new();
        let mut i = 1;
        while let Some(f) = words.get(i).filter(|x| x.starts_with('-') && x.len() > 1) {
            match f.as_str() {
                "-i" => ignore_case = true,
                "-m" => {
                    let m = words.get(i + 1).ok_or("missing match method after -m")?;
                    method = Some(Method::parse(m)?);
                    i += 1;
                }
                "-f" => {
                    let file = words.get(i + 1).ok_or("missing file after -f")?;
                    let text = std::fs::read_to_string(file)
                        .map_err(|e| format!("cannot read pattern file `{file}`: {e}"))?;
                    texts.extend(
                        text.lines()
                            .map(str::trim)
                            .filter(|l| !l.is_empty() && !l.starts_with('#'))
                            .map(String::from),
                    );
                    i += 1;
                }
                "--" => {
                    i += 1;
                    break;
                }
                o => return Err(format!("ACL flag `{o}` is not supported (-i, -m, -f, --)")),
            }
            i += 1;
        }
        texts.extend(words[i..].iter().cloned());
        // `eq 3`, `gt 0`: an operator and its number make one pattern.
        let mut merged: Vec<String> = Vec::new();
        let mut k = 0;
        while k < texts.len() {
            if matches!(texts[k].as_str(), "eq" | "ge" | "gt" | "le" | "lt") {
                let n = texts
                    .get(k + 1)
                    .ok_or_else(|| format!("`{}` without a number", texts[k]))?;
                merged.push(format!("{} {n}", texts[k]));
                k += 2;
            } else {
                merged.push(texts[k].clone());
                k += 1;
            }
        }
        if matches!(method, Some(Method::Found | Method::Bool)) && !merged.is_empty() {
            return Err(format!(
                "`-m {}` takes no pattern",
                if method == Some(Method::Found) {
                    "found"
                } else {
                    "bool"
                }
            ));
        }
        let mut patterns = Vec::with_capacity(merged.len());
        for text in merged {
            let re = match method {
                Some(Method::Reg) => Some(
                    regex::RegexBuilder::new(&text)
                        .case_insensitive(ignore_case)
                        .build()
                        .map_err(|e| format!("`{text}` is not a regular expression: {e}"))?,
                ),
                _ => None,
            };
            let range = int_pattern(&text);
            if matches!(method, Some(Method::Int | Method::Len)) && range.is_none() {
                return Err(format!(
                    "`{text}` is not an integer pattern (N, LO:HI, eq|ge|gt|le|lt N)"
                ));
            }
            let net = net_pattern(&text);
            if method == Some(Method::Ip) && net.is_none() {
                return Err(format!("`{text}` is not an address or a network"));
            }
            patterns.push(Pattern {
                text: if ignore_case {
                    text.to_lowercase()
                } else {
                    text
                },
                range,
                net,
                re,
            });
        }
        Ok(AclTest {
            expr,
            method,
            ignore_case,
            patterns,
            text: words.join(" "),
        })
    }

    /// Whether the sample matches: any pattern does (or, without patterns, the sample
    /// is found / true).
    pub fn matches(&self, src: &dyn Source, vars: &mut dyn Vars) -> bool {
        let Some(v) = self.expr.eval(src, vars) else {
            return false;
        };
        let method = self.method.unwrap_or(match &v {
            Value::Bool(_) => Method::Bool,
            Value::Int(_) if self.patterns.is_empty() => Method::Bool,
            Value::Int(_) => Method::Int,
            Value::Ip(_) => Method::Ip,
            Value::Str(_) | Value::Bin(_) if self.patterns.is_empty() => Method::Found,
            Value::Str(_) | Value::Bin(_) => Method::Str,
        });
        match method {
            Method::Found => true,
            Method::Bool => v.as_bool(),
            Method::Int => v.as_int().is_some_and(|n| {
                self.patterns
                    .iter()
                    .any(|p| p.range.is_some_and(|r| r.contains(n)))
            }),
            Method::Len => {
                let n = v.as_bytes().len() as i64;
                self.patterns
                    .iter()
                    .any(|p| p.range.is_some_and(|r| r.contains(n)))
            }
            Method::Ip => v.as_ip().is_some_and(|a| {
                self.patterns
                    .iter()
                    .any(|p| p.net.is_some_and(|(net, bits)| in_net(a, net, bits)))
            }),
            Method::Bin => {
                let b = v.as_bytes();
                self.patterns
                    .iter()
                    .any(|p| super::conv::unhex(&p.text).is_some_and(|x| x == *b))
            }
            Method::Reg => {
                let s = v.as_str();
                self.patterns
                    .iter()
                    .any(|p| p.re.as_ref().is_some_and(|r| r.is_match(&s)))
            }
            m => {
                let s = v.as_str();
                let s = if self.ignore_case {
                    std::borrow::Cow::Owned(s.to_lowercase())
                } else {
                    s
                };
                self.patterns.iter().any(|p| {
                    let p = p.text.as_str();
                    match m {
                        Method::Beg => s.starts_with(p),
                        Method::End => s.ends_with(p),
                        Method::Sub => s.contains(p),
                        Method::Dir => s.split('/').any(|w| w == p),
                        Method::Dom => s.split(['.', '/']).any(|w| w == p) || *s == *p,
                        _ => *s == *p,
                    }
                })
            }
        }
    }

    /// Whether the test reads the response (then only response rules may use it).
    pub fn needs_response(&self) -> bool {
        self.expr.needs_response()
    }

    /// Whether the test is on the client's TLS (`ssl_fc`).
    pub fn is_ssl_fc(&self) -> bool {
        matches!(self.expr.fetch, Fetch::Msg(MsgFetch::SslFc)) && self.expr.convs.is_empty()
    }
}

fn int_pattern(t: &str) -> Option<Range> {
    let num = |s: &str| -> Option<i64> {
        let s = s.trim();
        if s.is_empty() {
            return None;
        }
        leading_int(s).filter(|_| {
            s.trim_start_matches(['-', '+'])
                .bytes()
                .all(|b| b.is_ascii_digit())
        })
    };
    if let Some((op, n)) = t.split_once(' ') {
        let n = num(n)?;
        return Some(match op {
            "eq" => Range {
                lo: Some(n),
                hi: Some(n),
            },
            "ge" => Range {
                lo: Some(n),
                hi: None,
            },
            "gt" => Range {
                lo: n.checked_add(1),
                hi: None,
            },
            "le" => Range {
                lo: None,
                hi: Some(n),
            },
            "lt" => Range {
                lo: None,
                hi: n.checked_sub(1),
            },
            _ => return None,
        });
    }
    match t.split_once(':') {
        Some((a, b)) => {
            let lo = if a.is_empty() { None } else { Some(num(a)?) };
            let hi = if b.is_empty() { None } else { Some(num(b)?) };
            Some(Range { lo, hi })
        }
        None => num(t).map(|n| Range {
            lo: Some(n),
            hi: Some(n),
        }),
    }
}

fn net_pattern(t: &str) -> Option<(IpAddr, u8)> {
    let (a, bits) = match t.split_once('/') {
        Some((a, b)) => (a, Some(b)),
        None => (t, None),
    };
    let addr: IpAddr = a.parse().ok()?;
    let max = if addr.is_ipv4() { 32 } else { 128 };
    let bits = match bits {
        None => max,
        Some(b) => match b.parse::<u8>() {
            Ok(n) if n <= max => n,
            // A dotted mask (`255.255.255.0`).
            _ => {
                let m: std::net::Ipv4Addr = b.parse().ok()?;
                u32::from(m).count_ones() as u8
            }
        },
    };
    Some((addr, bits))
}

fn in_net(a: IpAddr, net: IpAddr, bits: u8) -> bool {
    let a = a.to_canonical();
    match (a, net) {
        (IpAddr::V4(a), IpAddr::V4(n)) => {
            let mask = if bits == 0 {
                0
            } else {
                u32::MAX << (32 - bits as u32)
            };
            u32::from(a) & mask == u32::from(n) & mask
        }
        (IpAddr::V6(a), IpAddr::V6(n)) => {
            let mask = if bits == 0 {
                0
            } else {
                u128::MAX << (128 - bits as u32)
            };
            u128::from(a) & mask == u128::from(n) & mask
        }
        (IpAddr::V4(a), IpAddr::V6(n)) => {
            in_net(IpAddr::V6(a.to_ipv6_mapped()), IpAddr::V6(n), bits)
        }
        (IpAddr::V6(_), IpAddr::V4(_)) => false,
    }
}

impl serde::Serialize for AclTest {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.text)
    }
}

impl<'de> serde::Deserialize<'de> for AclTest {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<AclTest, D::Error> {
        let s = String::deserialize(d)?;
        let words: Vec<String> = s.split_whitespace().map(String::from).collect();
        AclTest::parse(&words).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    struct Req(&'static str);
    impl Source for Req {
        fn fetch(&self, f: &MsgFetch) -> Option<Value> {
            match f {
                MsgFetch::Path => Some(Value::Str(self.0.into())),
                MsgFetch::Hdr { name, .. } if name == "host" => {
                    Some(Value::Str("API.example.com:80".into()))
                }
                MsgFetch::Src => Some(Value::Ip("10.1.2.3".parse().ok()?)),
                MsgFetch::Status => Some(Value::Int(404)),
                _ => None,
            }
        }
    }

    fn acl(s: &str) -> AclTest {
        AclTest::parse(&s.split_whitespace().map(String::from).collect::<Vec<_>>())
            .unwrap_or_else(|e| panic!("{s}: {e}"))
    }

    fn m(s: &str, path: &'static str) -> bool {
        acl(s).matches(&Req(path), &mut HashMap::new())
    }

    #[test]
    fn methods_from_names_flags_and_types() {
        assert!(m("path_beg /api", "/api/v2"));
        assert!(!m("path_beg /api", "/x/api"));
        assert!(m("path -m sub pi/v", "/api/v2"));
        assert!(m("path_dir v2", "/api/v2/x"));
        assert!(m("hdr_beg(host) -i api.", "/"));
        assert!(!m("hdr_beg(host) api.", "/"));
        assert!(m("hdr_dom(host) -i example", "/"));
        assert!(m("path_reg ^/a.i/", "/api/"));
        assert!(m("path -m len 5:10", "/api/v2"));
        assert!(m("src 10.0.0.0/8 192.168.0.0/16", "/"));
        assert!(!m("src 192.168.0.0/16", "/"));
        assert!(m("status 400:499", "/"));
        assert!(m("status ge 404", "/"));
        assert!(!m("status lt 404", "/"));
        assert!(!m("query -m found", "/"));
        assert!(m("path -m found", "/"));
        assert!(m("always_true", "/"));
        assert!(!m("always_false", "/"));
        assert!(m("path,length 7", "/api/v2"));
    }

    #[test]
    fn bad_tests_are_refused_with_the_reason() {
        let p =
            |s: &str| AclTest::parse(&s.split_whitespace().map(String::from).collect::<Vec<_>>());
        assert!(p("path -m nosuch x").unwrap_err().contains("nosuch"));
        assert!(p("path -m int abc").unwrap_err().contains("integer"));
        assert!(p("src -m ip 10.0.0.0/99x").is_err());
        assert!(p("path -m found x").is_err());
        assert!(p("path_reg (").is_err());
        assert!(p("nosuch_fetch x").is_err());
        assert!(p("path -f /nonexistent/file")
            .unwrap_err()
            .contains("/nonexistent/file"));
        for name in ["TRUE", "METH_GET", "LOCALHOST", "HTTP_1.1", "HTTP_URL_ABS"] {
            acl(predefined(name).unwrap());
        }
    }
}
