//! The `%` variables of HAProxy's log-format strings (`%ci`, `%Tr`, `%{+Q}r`...): what
//! they name, and how their values are written.

use std::borrow::Cow;

/// A `%` variable of a log-format string.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogVar {
    /// `%ci`, `%cp`: the client's address and port.
    ClientIp,
    ClientPort,
    /// `%fi`, `%fp`: the address and port the client connected to.
    FrontIp,
    FrontPort,
    /// `%f`: the frontend's name; `%ft`: the same, with `~` when over TLS.
    Frontend,
    FrontTransport,
    /// `%b`, `%s`: the backend and server names.
    Backend,
    Server,
    /// `%si`, `%sp`: the server's address and port; `%bi`, `%bp`: the address and port
    /// the load balancer connected from.
    ServerIp,
    ServerPort,
    BackSrcIp,
    BackSrcPort,
    /// `%t`: the accept date (`07/Dec/2026:14:43:47.123`); `%tr`: the request's; `%trg`,
    /// `%T`: GMT (`07/Dec/2026:14:43:47 +0000`); `%trl`, `%Tl`: local time (GMT here);
    /// `%Ts`: Unix time; `%ms`: the accept date's milliseconds.
    Date,
    ReqDate,
    ReqDateGmt,
    ReqDateLocal,
    DateGmt,
    DateLocal,
    UnixTime,
    Millis,
    /// Timers in milliseconds (-1 when the stage was not reached): `%Th` handshake,
    /// `%Ti` idle, `%TR` request, `%Tq` (= Th + Ti + TR), `%Tw` queue, `%Tc` connect,
    /// `%Tr` response, `%Td` data, `%Ta` active, `%Tt` total.
    Th,
    Ti,
    TR,
    Tq,
    Tw,
    Tc,
    Tr,
    Td,
    Ta,
    Tt,
    /// `%ST`: the status sent; `%B`: bytes sent to the client; `%U`: bytes received
    /// from it.
    Status,
    BytesOut,
    BytesIn,
    /// `%ts`: the termination state (two letters); `%tsc`: with the persistence
    /// cookie's two.
    Term,
    TermCookie,
    /// `%ac`, `%fc`, `%bc`, `%sc`: connections of the process, frontend, backend,
    /// server; `%rc`: retries; `%sq`, `%bq`: the server's and backend's queues.
    ActConn,
    FeConn,
    BeConn,
    SrvConn,
    Retries,
    SrvQueue,
    BeQueue,
    /// `%r`: the request line; `%HM`, `%HU`, `%HP`, `%HPO`, `%HQ`, `%HV`: its method,
    /// target, target without query, path, query (with `?`), version.
    RequestLine,
    Method,
    Uri,
    UriPath,
    PathOnly,
    Query,
    Version,
    /// `%CC`, `%CS`, `%hr`, `%hrl`, `%hs`, `%hsl`: captured cookies and headers
    /// (nothing is captured: `-`, and nothing for the headers).
    CookieReq,
    CookieResp,
    HdrReq,
    HdrReqList,
    HdrResp,
    HdrRespList,
    /// `%ID`: the request's unique id (`unique-id-format`).
    UniqueId,
    /// `%rt`: the request's number on its frontend; `%lc`: the log line's.
    ReqCounter,
    LogCounter,
    /// `%pid`, `%H`: the process and the host.
    Pid,
    Hostname,
    /// `%sslc`, `%sslv`: the client connection's TLS cipher and version.
    SslCipher,
    SslVersion,
}

const NAMES: &[(&str, LogVar)] = &[
    ("ci", LogVar::ClientIp),
    ("cp", LogVar::ClientPort),
    ("fi", LogVar::FrontIp),
    ("fp", LogVar::FrontPort),
    ("f", LogVar::Frontend),
    ("ft", LogVar::FrontTransport),
    ("b", LogVar::Backend),
    ("s", LogVar::Server),
    ("si", LogVar::ServerIp),
    ("sp", LogVar::ServerPort),
    ("bi", LogVar::BackSrcIp),
    ("bp", LogVar::BackSrcPort),
    ("t", LogVar::Date),
    ("tr", LogVar::ReqDate),
    ("trg", LogVar::ReqDateGmt),
    ("trl", LogVar::ReqDateLocal),
    ("T", LogVar::DateGmt),
    ("Tl", LogVar::DateLocal),
    ("Ts", LogVar::UnixTime),
    ("ms", LogVar::Millis),
    ("Th", LogVar::Th),
    ("Ti", LogVar::Ti),
    ("TR", LogVar::TR),
    ("Tq", LogVar::Tq),
    ("Tw", LogVar::Tw),
    ("Tc", LogVar::Tc),
    ("Tr", LogVar::Tr),
    ("Td", LogVar::Td),
    ("Ta", LogVar::Ta),
    ("Tt", LogVar::Tt),
    ("ST", LogVar::Status),
    ("B", LogVar::BytesOut),
    ("U", LogVar::BytesIn),
    ("ts", LogVar::Term),
    ("tsc", LogVar::TermCookie),
    ("ac", LogVar::ActConn),
    ("fc", LogVar::FeConn),
    ("bc", LogVar::BeConn),
    ("sc", LogVar::SrvConn),
    ("rc", LogVar::Retries),
    ("sq", LogVar::SrvQueue),
    ("bq", LogVar::BeQueue),
    ("r", LogVar::RequestLine),
    ("HM", LogVar::Method),
    ("HU", LogVar::Uri),
    ("HP", LogVar::UriPath),
    ("HPO", LogVar::PathOnly),
    ("HQ", LogVar::Query),
    ("HV", LogVar::Version),
    ("CC", LogVar::CookieReq),
    ("CS", LogVar::CookieResp),
    ("hr", LogVar::HdrReq),
    ("hrl", LogVar::HdrReqList),
    ("hs", LogVar::HdrResp),
    ("hsl", LogVar::HdrRespList),
    ("ID", LogVar::UniqueId),
    ("rt", LogVar::ReqCounter),
    ("lc", LogVar::LogCounter),
    ("pid", LogVar::Pid),
    ("H", LogVar::Hostname),
    ("sslc", LogVar::SslCipher),
    ("sslv", LogVar::SslVersion),
];

impl LogVar {
    /// The variable of this name (case matters: `%Tr` is not `%TR`).
    pub fn parse(name: &str) -> Option<LogVar> {
        NAMES.iter().find(|(n, _)| *n == name).map(|(_, v)| *v)
    }

    pub fn name(self) -> &'static str {
        NAMES
            .iter()
            .find(|(_, v)| *v == self)
            .map_or("?", |(n, _)| n)
    }

    /// Whether it writes nothing at all when it has no value (the captures), where
    /// the others write `-`.
    pub fn silent_when_empty(self) -> bool {
        matches!(
            self,
            LogVar::HdrReq | LogVar::HdrReqList | LogVar::HdrResp | LogVar::HdrRespList
        )
    }
}

/// A variable's value as a log line writes it.
#[derive(Debug, Clone, PartialEq)]
pub enum LogVal<'a> {
    Text(Cow<'a, str>),
    Int(i64),
    Ip(std::net::IpAddr),
    /// No value: `-`.
    None,
}

/// How a `%{...}` prefix asks a value to be written: `+Q` quoted, `+X` hexadecimal
/// numbers and addresses, `+E` escaped (`"`, `\` and `]` get a backslash).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct LogFlags {
    pub quote: bool,
    pub hex: bool,
    pub escape: bool,
}

impl LogFlags {
    /// `+Q,-X,...`: each flag on (`+`) or off (`-`) over `base`.
    pub fn parse(text: &str, base: LogFlags) -> Result<LogFlags, String> {
        let mut f = base;
        for item in text.split(',') {
            let (on, name) = match item.split_at_checked(1) {
                Some(("+", n)) => (true, n),
                Some(("-", n)) => (false, n),
                _ => return Err(format!("`%{{{text}}}`: flags are written +NAME or -NAME")),
            };
            match name {
                "Q" => f.quote = on,
                "X" => f.hex = on,
                "E" => f.escape = on,
                o => {
                    return Err(format!(
                        "`%{{{text}}}`: flag `{o}` is not supported (Q, X, E)"
                    ))
                }
            }
        }
        Ok(f)
    }

    /// Writes `v` to `out` as these flags say.
    pub fn write(self, out: &mut String, v: &LogVal<'_>) {
        use std::fmt::Write;
        match v {
            LogVal::None => out.push('-'),
            LogVal::Int(n) if self.hex => {
                let _ = write!(out, "{n:X}");
            }
            LogVal::Int(n) => {
                let _ = write!(out, "{n}");
            }
            LogVal::Ip(std::net::IpAddr::V4(a)) if self.hex => {
                let _ = write!(out, "{:08X}", u32::from(*a));
            }
            LogVal::Ip(std::net::IpAddr::V6(a)) if self.hex => {
                let _ = write!(out, "{:032X}", u128::from(*a));
            }
            LogVal::Ip(a) => {
                let _ = write!(out, "{a}");
            }
            LogVal::Text(t) => self.text(out, t),
        }
    }

    /// Writes text (a sample's, or a variable's) as these flags say.
    pub fn text(self, out: &mut String, t: &str) {
        if self.quote {
            out.push('"');
        }
        if self.escape {
            for c in t.chars() {
                if matches!(c, '"' | '\\' | ']') {
                    out.push('\\');
                }
                out.push(c);
            }
        } else {
            out.push_str(t);
        }
        if self.quote {
            out.push('"');
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_unique_and_round_trip() {
        for (n, v) in NAMES {
            assert_eq!(LogVar::parse(n), Some(*v), "{n}");
            assert_eq!(v.name(), *n);
        }
        assert_eq!(LogVar::parse("TQ"), None);
    }

    #[test]
    fn flags_shape_values() {
        let f = LogFlags::parse("+Q,+E", LogFlags::default()).expect("flags");
        let mut s = String::new();
        f.write(&mut s, &LogVal::Text("a\"b]".into()));
        assert_eq!(s, r#""a\"b\]""#);
        let x = LogFlags::parse("+X", LogFlags::default()).expect("flags");
        let mut s = String::new();
        x.write(&mut s, &LogVal::Ip("10.0.0.1".parse().expect("ip")));
        x.write(&mut s, &LogVal::Int(255));
        assert_eq!(s, "0A000001FF");
        assert!(LogFlags::parse("Q", LogFlags::default()).is_err());
        assert!(LogFlags::parse("+Z", LogFlags::default()).is_err());
    }
}
