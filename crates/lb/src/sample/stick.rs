//! Stick-table samples: what a table stores per key (`store http_req_rate(10s),...`),
//! the fetches that read the counters a stream tracks (`sc_*`, `scN_*`) or of the
//! client's address (`src_*`), and the converters that look a key up (`table_*`,
//! `in_table`). The engine keeps the tables; it answers through [`super::Vars::stick`].

use crate::config::Dur;

/// A counter a stick table may store.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Counter {
    Gpc0,
    Gpc1,
    Gpt0,
    /// Connections (streams) that tracked the entry.
    Conn,
    /// Connections tracking it now.
    ConnCur,
    /// Sessions (connections accepted by the `tcp-request connection` rules) of the
    /// entries tracked by `tcp-request connection|session` rules.
    Sess,
    HttpReq,
    /// HTTP requests answered with a 4xx status.
    HttpErr,
    /// HTTP requests answered with a 5xx status other than 501 and 505.
    HttpFail,
}

impl Counter {
    /// The stored data's name without its `_cnt`/`_rate` ending.
    pub fn stem(self) -> &'static str {
        match self {
            Counter::Gpc0 => "gpc0",
            Counter::Gpc1 => "gpc1",
            Counter::Gpt0 => "gpt0",
            Counter::Conn => "conn",
            Counter::ConnCur => "conn_cur",
            Counter::Sess => "sess",
            Counter::HttpReq => "http_req",
            Counter::HttpErr => "http_err",
            Counter::HttpFail => "http_fail",
        }
    }
}

/// One item of `store`: a counter, as a count or as a rate over a period.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Stored {
    pub counter: Counter,
    pub rate: Option<Dur>,
}

impl std::fmt::Display for Stored {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match (self.counter, self.rate) {
            (c @ (Counter::Gpc0 | Counter::Gpc1 | Counter::Gpt0 | Counter::ConnCur), None) => {
                write!(f, "{}", c.stem())
            }
            (c, None) => write!(f, "{}_cnt", c.stem()),
            (c, Some(p)) => write!(f, "{}_rate({p})", c.stem()),
        }
    }
}

impl serde::Serialize for Stored {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.to_string())
    }
}

impl<'de> serde::Deserialize<'de> for Stored {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Stored, D::Error> {
        let s = String::deserialize(d)?;
        parse_stored(&s).map_err(serde::de::Error::custom)
    }
}

/// Parses one item of a `store` list (`http_req_rate(10s)`, `gpc0`, `conn_cur`).
pub fn parse_stored(item: &str) -> Result<Stored, String> {
    let (name, period) = match item.split_once('(') {
        Some((n, rest)) => {
            let p = rest
                .strip_suffix(')')
                .ok_or_else(|| format!("`{item}`: missing `)`"))?;
            (
                n,
                Some(crate::config::Dur::parse(p).map_err(|e| format!("`{item}`: {e}"))?),
            )
        }
        None => (item, None),
    };
    let plain = |c: Counter| -> Result<Stored, String> {
        match period {
            None => Ok(Stored {
                counter: c,
                rate: None,
            }),
            Some(_) => Err(format!("`{name}` takes no period")),
        }
    };
    let rate = |c: Counter| -> Result<Stored, String> {
        match period {
            Some(p) if !p.0.is_zero() => Ok(Stored {
                counter: c,
                rate: Some(p),
            }),
            _ => Err(format!("`{name}` needs a period, as `{name}(10s)`")),
        }
    };
    match name {
        "gpc0" => plain(Counter::Gpc0),
        "gpc1" => plain(Counter::Gpc1),
        "gpt0" => plain(Counter::Gpt0),
        "conn_cur" => plain(Counter::ConnCur),
        "conn_cnt" => plain(Counter::Conn),
        "sess_cnt" => plain(Counter::Sess),
        "http_req_cnt" => plain(Counter::HttpReq),
        "http_err_cnt" => plain(Counter::HttpErr),
        "http_fail_cnt" => plain(Counter::HttpFail),
        "gpc0_rate" => rate(Counter::Gpc0),
        "gpc1_rate" => rate(Counter::Gpc1),
        "conn_rate" => rate(Counter::Conn),
        "sess_rate" => rate(Counter::Sess),
        "http_req_rate" => rate(Counter::HttpReq),
        "http_err_rate" => rate(Counter::HttpErr),
        "http_fail_rate" => rate(Counter::HttpFail),
        // The server a key sticks to: what `stick on` keeps.
        "server_id" | "server_key" => Err(format!("`{name}` is kept by `stick on`, not stored by name")),
        o @ ("bytes_in_cnt" | "bytes_in_rate" | "bytes_out_cnt"
        | "bytes_out_rate" | "gpc" | "gpc_rate" | "gpt" | "glitch_cnt" | "glitch_rate") => {
            Err(format!("stick-table data `{o}` is not supported yet (gpc0, gpc1, gpt0, gpc0_rate, gpc1_rate, conn_cnt, conn_cur, conn_rate, sess_cnt, sess_rate, http_req_cnt, http_req_rate, http_err_cnt, http_err_rate, http_fail_cnt, http_fail_rate)"))
        }
        o => Err(format!("unknown stick-table data `{o}`")),
    }
}

/// What a stick sample asks of an entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ask {
    /// A stored counter's value: its count, or its rate (`rate`).
    Read { counter: Counter, rate: bool },
    /// Adds one to gpc0/gpc1 (and its rate) and returns the new count (`inc_gpc0`);
    /// creates the entry when absent.
    Inc(Counter),
    /// Sets gpc0/gpc1 to 0 and returns the old count (`clr_gpc0`).
    Clear(Counter),
    /// The streams tracking the entry (`trackers`).
    Trackers,
    /// Whether the stream tracks this counter slot (`sc_tracked`).
    Tracked,
    /// Whether the key is in the table (`in_table`).
    Present,
}

/// Where a stick sample finds its entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum At {
    /// The entry tracked in a stream counter slot (`sc_*(N)`, `scN_*`).
    Slot(u8),
    /// The client's address as the key (`src_*`).
    Src,
}

/// A stick-table fetch: where, which table (else the slot's, or the current proxy's),
/// what.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StickFetch {
    pub at: At,
    pub table: Option<String>,
    pub ask: Ask,
}

/// A question to the engine's tables: the entry of a slot, or of a key in a table.
#[derive(Debug, Clone, Copy)]
pub enum Entry<'a> {
    Slot(u8),
    Key(&'a super::Value),
}

/// What a rule does to the stream's tracked entries.
#[derive(Debug, Clone, Copy)]
pub enum Act<'a> {
    /// `track-scN KEY [table T]` (`http`: an HTTP request, counted as one).
    Track {
        slot: u8,
        key: &'a super::Value,
        table: Option<&'a str>,
        http: bool,
    },
    /// `sc-inc-gpc0(N)`, `sc-inc-gpc1(N)`.
    IncGpc { slot: u8, gpc1: bool },
    /// `sc-set-gpt0(N) VALUE`.
    SetGpt0 { slot: u8, value: u64 },
}

/// What a fetch or converter name after its prefix (`http_req_rate`) asks.
fn ask_of(what: &str, slot: bool) -> Option<Ask> {
    let read = |counter, rate| Some(Ask::Read { counter, rate });
    match what {
        "get_gpc0" => read(Counter::Gpc0, false),
        "get_gpc1" => read(Counter::Gpc1, false),
        "get_gpt0" => read(Counter::Gpt0, false),
        "gpc0_rate" => read(Counter::Gpc0, true),
        "gpc1_rate" => read(Counter::Gpc1, true),
        "conn_cnt" => read(Counter::Conn, false),
        "conn_cur" => read(Counter::ConnCur, false),
        "conn_rate" => read(Counter::Conn, true),
        "sess_cnt" => read(Counter::Sess, false),
        "sess_rate" => read(Counter::Sess, true),
        "http_req_cnt" => read(Counter::HttpReq, false),
        "http_req_rate" => read(Counter::HttpReq, true),
        "http_err_cnt" => read(Counter::HttpErr, false),
        "http_err_rate" => read(Counter::HttpErr, true),
        "http_fail_cnt" => read(Counter::HttpFail, false),
        "http_fail_rate" => read(Counter::HttpFail, true),
        "inc_gpc0" => Some(Ask::Inc(Counter::Gpc0)),
        "inc_gpc1" => Some(Ask::Inc(Counter::Gpc1)),
        "clr_gpc0" => Some(Ask::Clear(Counter::Gpc0)),
        "clr_gpc1" => Some(Ask::Clear(Counter::Gpc1)),
        "trackers" => Some(Ask::Trackers),
        "tracked" if slot => Some(Ask::Tracked),
        _ => None,
    }
}

/// A stick-table fetch by name (`sc_http_req_rate(0[,TABLE])`, `sc1_conn_cur([TABLE])`,
/// `src_http_err_rate([TABLE])`); `None` when the name is not one.
pub fn parse_fetch(name: &str, args: &[String]) -> Option<Result<StickFetch, String>> {
    let table = |a: Option<&String>| a.filter(|t| !t.is_empty()).cloned();
    let (at, what, table) = if let Some(w) = name.strip_prefix("sc_") {
        let slot = match args.first().map(|a| a.trim().parse::<u8>()) {
            Some(Ok(n)) if n < 3 => n,
            _ => {
                return Some(Err(format!(
                    "`{name}` needs a counter number 0, 1 or 2 first"
                )))
            }
        };
        if args.len() > 2 {
            return Some(Err(format!(
                "`{name}(N[,TABLE])` takes two arguments at most"
            )));
        }
        (At::Slot(slot), w, table(args.get(1)))
    } else if let Some(rest) = name.strip_prefix("sc") {
        let (n, w) = rest.split_once('_')?;
        let slot: u8 = n.parse().ok().filter(|n| *n < 3)?;
        if args.len() > 1 {
            return Some(Err(format!("`{name}([TABLE])` takes one argument at most")));
        }
        (At::Slot(slot), w, table(args.first()))
    } else if let Some(w) = name.strip_prefix("src_") {
        if args.len() > 1 {
            return Some(Err(format!("`{name}([TABLE])` takes one argument at most")));
        }
        (At::Src, w, table(args.first()))
    } else {
        return None;
    };
    let ask = ask_of(what, matches!(at, At::Slot(_)))?;
    Some(Ok(StickFetch { at, table, ask }))
}

/// A stick-table converter by name (`table_http_req_rate(TABLE)`, `in_table(TABLE)`):
/// the input is the key; `None` when the name is not one.
pub fn parse_conv(name: &str, args: &[String]) -> Option<Result<(Ask, String), String>> {
    let ask = match name {
        "in_table" => Ask::Present,
        n => ask_of(n.strip_prefix("table_")?, false)
            .filter(|a| !matches!(a, Ask::Inc(_) | Ask::Clear(_)))?,
    };
    Some(match args {
        [t] if !t.trim().is_empty() => Ok((ask, t.trim().to_string())),
        _ => Err(format!("`{name}(TABLE)` takes the table's name")),
    })
}

impl StickFetch {
    /// The counter a read needs the table to store (to check the configuration).
    pub fn needs(&self) -> Option<Counter> {
        match self.ask {
            Ask::Read { counter, .. } | Ask::Inc(counter) | Ask::Clear(counter) => Some(counter),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_as_haproxy_spells_them() {
        let f = parse_fetch("sc_http_req_rate", &["0".into()])
            .unwrap()
            .unwrap();
        assert_eq!(f.at, At::Slot(0));
        assert_eq!(
            f.ask,
            Ask::Read {
                counter: Counter::HttpReq,
                rate: true
            }
        );
        let f = parse_fetch("sc1_conn_cur", &["t".into()]).unwrap().unwrap();
        assert_eq!((f.at, f.table.as_deref()), (At::Slot(1), Some("t")));
        let f = parse_fetch("src_inc_gpc0", &[]).unwrap().unwrap();
        assert_eq!((f.at, f.ask), (At::Src, Ask::Inc(Counter::Gpc0)));
        assert!(parse_fetch("sc_http_req_rate", &["3".into()])
            .unwrap()
            .is_err());
        assert!(parse_fetch("src", &[]).is_none());
        assert!(parse_fetch("sc0_nosuch", &[]).is_none());
        let (a, t) = parse_conv("table_http_err_rate", &["be".into()])
            .unwrap()
            .unwrap();
        assert_eq!(
            (a, t.as_str()),
            (
                Ask::Read {
                    counter: Counter::HttpErr,
                    rate: true
                },
                "be"
            )
        );
        assert!(parse_conv("in_table", &[]).unwrap().is_err());
        assert_eq!(
            parse_stored("http_req_rate(10s)").unwrap().to_string(),
            "http_req_rate(10s)"
        );
        assert_eq!(parse_stored("conn_cnt").unwrap().to_string(), "conn_cnt");
        assert!(parse_stored("http_req_rate").is_err());
        assert!(parse_stored("bytes_in_rate(1s)")
            .unwrap_err()
            .contains("not supported"));
    }
}
