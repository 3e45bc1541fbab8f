//! Stick tables with counters (`stick-table ... store ...`): entries by key, each with
//! the counts and rates its table stores, tracked by streams (`track-sc*`) and read by
//! the `sc_*`, `src_*` and `table_*` samples. An entry lives while a stream tracks it
//! and `expire` after its last use; a full table makes room by dropping the least
//! recently used entry nobody tracks.

use crate::config::{Table as TableDef, TableKey};
use crate::sample::stick::{Ask, Counter, Stored};
use crate::sample::Value;
use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// A key as the table's type holds it (ordered as HAProxy's tree orders keys: addresses
/// and bytes as bytes, integers as numbers).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Key {
    Ip(IpAddr),
    Int(i64),
    Bytes(Vec<u8>),
}

impl Key {
    /// A sample as a key of a table of this type: an IPv4 address in an `ipv6` table is
    /// mapped, an IPv6 one in an `ip` table only when it holds an IPv4 address.
    pub fn of(kind: TableKey, v: &Value) -> Option<Key> {
        match kind {
            TableKey::Ip => {
                let ip = match v {
                    Value::Ip(ip) => *ip,
                    v => v.as_str().trim().parse().ok()?,
                };
                match ip.to_canonical() {
                    IpAddr::V4(a) => Some(Key::Ip(a.into())),
                    IpAddr::V6(_) => None,
                }
            }
            TableKey::Ipv6 => {
                let ip = match v {
                    Value::Ip(ip) => *ip,
                    v => v.as_str().trim().parse().ok()?,
                };
                Some(Key::Ip(match ip {
                    IpAddr::V4(a) => IpAddr::V6(a.to_ipv6_mapped()),
                    v6 => v6,
                }))
            }
            TableKey::Integer => match v {
                Value::Int(n) => Some(Key::Int(*n)),
                Value::Bool(b) => Some(Key::Int(i64::from(*b))),
                v => v.as_str().trim().parse().ok().map(Key::Int),
            },
            TableKey::String | TableKey::Binary => match v {
                Value::Bin(b) => Some(Key::Bytes(b.clone())),
                v => Some(Key::Bytes(v.as_str().as_bytes().to_vec())),
            },
        }
    }
}

impl std::fmt::Display for Key {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Key::Ip(ip) => write!(f, "{ip}"),
            Key::Int(n) => write!(f, "{n}"),
            Key::Bytes(b) => write!(f, "{}", String::from_utf8_lossy(b)),
        }
    }
}

/// Events over a period as HAProxy counts them: this period's count, plus the last
/// period's weighted by how much of it the sliding window still covers.
#[derive(Debug, Clone, Copy)]
struct Rate {
    start: Instant,
    curr: u64,
    prev: u64,
}

impl Rate {
    fn new(now: Instant) -> Rate {
        Rate {
            start: now,
            curr: 0,
            prev: 0,
        }
    }

    /// Moves the window to the period holding `now`.
    fn roll(&mut self, now: Instant, period: Duration) {
        let since = now.saturating_duration_since(self.start);
        if since < period {
            return;
        }
        let periods = (since.as_nanos() / period.as_nanos().max(1)) as u32;
        self.prev = if periods == 1 { self.curr } else { 0 };
        self.curr = 0;
        self.start += period * periods;
    }

    fn add(&mut self, now: Instant, period: Duration, n: u64) {
        self.roll(now, period);
        self.curr = self.curr.saturating_add(n);
    }

    fn read(&mut self, now: Instant, period: Duration) -> u64 {
        self.roll(now, period);
        let left = period.saturating_sub(now.saturating_duration_since(self.start));
        let weighted = (u128::from(self.prev) * left.as_nanos()) / period.as_nanos().max(1);
        self.curr + weighted as u64
    }
}

/// Where HAProxy lists a stored item (its data types' order).
fn rank(s: &Stored) -> u8 {
    let r = u8::from(s.rate.is_some());
    match s.counter {
        Counter::Gpt0 => 0,
        Counter::Gpc0 => 1 + r,
        Counter::Conn => 3 + r,
        Counter::ConnCur => 5,
        Counter::Sess => 6 + r,
        Counter::HttpReq => 8 + r,
        Counter::HttpErr => 10 + r,
        Counter::Gpc1 => 12 + r,
        Counter::HttpFail => 14 + r,
    }
}

/// One key's data: a value per stored item, in the order of `store`, and the server a
/// `stick` rule stored.
#[derive(Debug)]
struct Entry {
    used: Instant,
    trackers: u32,
    counts: Vec<u64>,
    rates: Vec<Option<Rate>>,
    server: Option<StuckTo>,
}

/// The server a stick entry names: its number in its backend (`server_id`) and its name
/// (`server_key`, what a lookup goes by: the same name in another backend, or after a
/// reload, is the same server).
#[derive(Debug, Clone)]
pub struct StuckTo {
    pub id: u32,
    pub name: Arc<str>,
}

/// A table of one generation (kept across reloads while its definition is the same).
#[derive(Debug)]
pub struct Table {
    pub def: TableDef,
    entries: Mutex<HashMap<Key, Entry>>,
    /// Some `stick` rule uses the table: its entries show their server.
    sticky: std::sync::atomic::AtomicBool,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl Table {
    pub fn new(def: TableDef) -> Table {
        Table {
            def,
            entries: Mutex::new(HashMap::new()),
            sticky: std::sync::atomic::AtomicBool::new(false),
        }
    }

    fn stored(&self, counter: Counter, rate: bool) -> Option<(usize, Option<Duration>)> {
        self.def
            .store
            .iter()
            .position(|s| s.counter == counter && s.rate.is_some() == rate)
            .map(|i| (i, self.def.store[i].rate.map(|d| d.0)))
    }

    fn expired(&self, e: &Entry, now: Instant) -> bool {
        e.trackers == 0
            && self
                .def
                .expire
                .is_some_and(|t| now.saturating_duration_since(e.used) >= t.0)
    }

    /// The entry of `key`, made if absent (making room by dropping the least recently
    /// used entry nobody tracks); `None` when the table is full of tracked entries.
    fn entry<'m>(
        &self,
        map: &'m mut HashMap<Key, Entry>,
        key: &Key,
        now: Instant,
    ) -> Option<&'m mut Entry> {
        if map.get(key).is_some_and(|e| self.expired(e, now)) {
            map.remove(key);
        }
        if !map.contains_key(key) {
            if map.len() >= self.def.size {
                map.retain(|_, e| !self.expired(e, now));
            }
            if map.len() >= self.def.size {
                let victim = map
                    .iter()
                    .filter(|(_, e)| e.trackers == 0)
                    .min_by_key(|(_, e)| e.used)
                    .map(|(k, _)| k.clone())?;
                map.remove(&victim);
            }
            let n = self.def.store.len();
            map.insert(
                key.clone(),
                Entry {
                    used: now,
                    trackers: 0,
                    counts: vec![0; n],
                    rates: self
                        .def
                        .store
                        .iter()
                        .map(|s: &Stored| s.rate.map(|_| Rate::new(now)))
                        .collect(),
                    server: None,
                },
            );
        }
        let e = map.get_mut(key)?;
        e.used = now;
        Some(e)
    }

    /// Adds `n` to a counter of an entry, as a count and as a rate where stored.
    fn bump(&self, e: &mut Entry, counter: Counter, n: i64, now: Instant) {
        for (i, s) in self.def.store.iter().enumerate() {
            if s.counter != counter {
                continue;
            }
            match (&mut e.rates[i], s.rate) {
                (Some(r), Some(p)) if n > 0 => r.add(now, p.0, n as u64),
                (Some(_), _) => {}
                (None, _) => e.counts[i] = e.counts[i].saturating_add_signed(n),
            }
        }
    }

    /// A stream starts tracking `key`: its connection counters count it.
    pub fn track(self: &Arc<Table>, key: Key, http: bool) -> Option<Tracked> {
        let now = Instant::now();
        let mut map = lock(&self.entries);
        let e = self.entry(&mut map, &key, now)?;
        e.trackers += 1;
        self.bump(e, Counter::ConnCur, 1, now);
        self.bump(e, Counter::Conn, 1, now);
        if http {
            self.bump(e, Counter::HttpReq, 1, now);
        }
        drop(map);
        Some(Tracked {
            table: self.clone(),
            key,
        })
    }

    /// Answers a sample about `key` (never making an entry, except to increment).
    pub fn ask(&self, key: &Key, ask: Ask) -> Option<Value> {
        let now = Instant::now();
        let mut map = lock(&self.entries);
        if let Ask::Inc(c) = ask {
            self.stored(c, false)?;
            let e = self.entry(&mut map, key, now)?;
            self.bump(e, c, 1, now);
            let (i, _) = self.stored(c, false)?;
            return Some(Value::Int(e.counts[i] as i64));
        }
        if map.get(key).is_some_and(|e| self.expired(e, now)) {
            map.remove(key);
        }
        let e = map.get_mut(key);
        Some(match ask {
            Ask::Present => Value::Bool(e.is_some()),
            Ask::Trackers => Value::Int(e.map_or(0, |e| i64::from(e.trackers))),
            Ask::Read { counter, rate } => {
                let (i, period) = self.stored(counter, rate)?;
                let Some(e) = e else {
                    return Some(Value::Int(0));
                };
                match (&mut e.rates[i], period) {
                    (Some(r), Some(p)) => Value::Int(r.read(now, p) as i64),
                    _ => Value::Int(e.counts[i] as i64),
                }
            }
            Ask::Clear(c) => {
                let (i, _) = self.stored(c, false)?;
                let e = e?;
                Value::Int(std::mem::take(&mut e.counts[i]) as i64)
            }
            Ask::Inc(_) | Ask::Tracked => return None,
        })
    }

    /// Marks the table as used by `stick` rules.
    pub fn set_sticky(&self) {
        self.sticky
            .store(true, std::sync::atomic::Ordering::Relaxed);
    }

    /// The name of the server `key` is stuck to (a lookup refreshes the entry).
    pub fn stuck(&self, key: &Key) -> Option<Arc<str>> {
        let now = Instant::now();
        let mut map = lock(&self.entries);
        if map.get(key).is_some_and(|e| self.expired(e, now)) {
            map.remove(key);
            return None;
        }
        let e = map.get_mut(key)?;
        let name = e.server.as_ref()?.name.clone();
        e.used = now;
        Some(name)
    }

    /// Sticks `key` to a server (making the entry, room permitting).
    pub fn stick(&self, key: &Key, to: StuckTo) {
        let now = Instant::now();
        let mut map = lock(&self.entries);
        if let Some(e) = self.entry(&mut map, key, now) {
            e.server = Some(to);
        }
    }

    /// Sets gpt0 of `key`.
    fn set_gpt0(&self, key: &Key, v: u64) {
        let now = Instant::now();
        let mut map = lock(&self.entries);
        if let (Some((i, _)), Some(e)) = (
            self.stored(Counter::Gpt0, false),
            self.entry(&mut map, key, now),
        ) {
            e.counts[i] = v;
        }
    }

    /// The entries as `show table NAME` lists them, in HAProxy's layout: key, trackers,
    /// milliseconds left before expiry, each stored item in HAProxy's order (rates with
    /// their period in milliseconds); entries in the order of their keys.
    pub fn dump(&self) -> Vec<String> {
        let now = Instant::now();
        let mut map = lock(&self.entries);
        map.retain(|_, e| !self.expired(e, now));
        let mut order: Vec<usize> = (0..self.def.store.len()).collect();
        order.sort_by_key(|&i| rank(&self.def.store[i]));
        let mut out: Vec<(Key, String)> = map
            .iter_mut()
            .map(|(k, e)| {
                let exp = self.def.expire.map_or(0, |t| {
                    t.0.saturating_sub(now.saturating_duration_since(e.used))
                        .as_millis()
                });
                let mut line = format!("key={k} use={} exp={exp}", e.trackers);
                let sticky = self.sticky.load(std::sync::atomic::Ordering::Relaxed);
                if sticky {
                    let id = e.server.as_ref().map_or(0, |s| s.id);
                    line.push_str(&format!(" server_id={id}"));
                }
                // `server_key` comes where HAProxy's data types put it: after gpc1.
                let key_at = order
                    .iter()
                    .position(|&i| rank(&self.def.store[i]) >= 14)
                    .unwrap_or(order.len());
                for (n, &i) in order.iter().enumerate() {
                    if n == key_at {
                        server_key(&mut line, e);
                    }
                    let s = self.def.store[i];
                    match (&mut e.rates[i], s.rate) {
                        (Some(r), Some(p)) => {
                            let v = r.read(now, p.0);
                            line.push_str(&format!(
                                " {}_rate({})={v}",
                                s.counter.stem(),
                                p.0.as_millis()
                            ));
                        }
                        _ => line.push_str(&format!(" {s}={}", e.counts[i])),
                    }
                }
                if key_at == order.len() {
                    server_key(&mut line, e);
                }
                (k.clone(), line)
            })
            .collect();
        out.sort();
        out.into_iter()
            .enumerate()
            .map(|(n, (_, line))| format!("0x{:x}: {line}", 0x1000 + n * 0x100))
            .collect()
    }
}

fn server_key(line: &mut String, e: &Entry) {
    if let Some(srv) = &e.server {
        line.push_str(&format!(" server_key={}", srv.name));
    }
}

/// An entry a stream tracks: released (no longer counted as current) when dropped.
#[derive(Debug)]
pub struct Tracked {
    pub table: Arc<Table>,
    pub key: Key,
}

impl Tracked {
    /// Counts an event of the stream on the entry.
    pub fn count(&self, counter: Counter) {
        let now = Instant::now();
        let mut map = lock(&self.table.entries);
        if let Some(e) = map.get_mut(&self.key) {
            e.used = now;
            self.table.bump(e, counter, 1, now);
        }
    }

    pub fn ask(&self, ask: Ask) -> Option<Value> {
        self.table.ask(&self.key, ask)
    }

    pub fn set_gpt0(&self, v: u64) {
        self.table.set_gpt0(&self.key, v);
    }
}

impl Drop for Tracked {
    fn drop(&mut self) {
        let now = Instant::now();
        let mut map = lock(&self.table.entries);
        if let Some(e) = map.get_mut(&self.key) {
            e.trackers = e.trackers.saturating_sub(1);
            e.used = now;
            self.table.bump(e, Counter::ConnCur, -1, now);
        }
    }
}

/// The tables of a configuration, by section name.
pub type Tables = HashMap<String, Arc<Table>>;

/// The tables of `defs`, keeping the entries of `old` tables defined the same way.
pub fn build(defs: &[TableDef], old: &Tables) -> Tables {
    defs.iter()
        .map(|d| {
            let same = old.get(&d.name).filter(|t| {
                let (mut a, mut b) = (t.def.clone(), d.clone());
                a.source.clear();
                b.source.clear();
                a == b
            });
            let t = same
                .cloned()
                .unwrap_or_else(|| Arc::new(Table::new(d.clone())));
            (d.name.clone(), t)
        })
        .collect()
}

/// The entries tracked in the counter slots `sc0`..`sc2`: shared by a session's
/// streams when its `tcp-request connection|session` rules tracked them.
pub type Slots = [Option<Arc<Tracked>>; 3];

/// What a stream's rules see of the tables: the stream's tracked entries (`sc0`..`sc2`)
/// and the tables by name, the current section's first.
#[derive(Debug, Default)]
pub struct StreamCounters {
    pub slots: Slots,
    /// The tables (none when the configuration has none: nothing to set up per request).
    pub tables: Option<Arc<Tables>>,
    /// The table `src_*` and `track-sc*` use without `table`: the section's own.
    pub own: Option<Arc<Table>>,
}

impl StreamCounters {
    /// A stream's counters, starting with the entries its session tracks (`session`).
    pub fn new(tables: &Arc<Tables>, own: &str, session: &Slots) -> StreamCounters {
        if tables.is_empty() {
            return StreamCounters::default();
        }
        StreamCounters {
            slots: session.clone(),
            tables: Some(tables.clone()),
            own: tables.get(own).cloned(),
        }
    }

    /// Counts one event on every tracked entry.
    pub fn count(&self, counter: Counter) {
        for t in self.slots.iter().flatten() {
            t.count(counter);
        }
    }

    fn table(&self, name: Option<&str>) -> Option<&Arc<Table>> {
        match name {
            Some(n) => self.tables.as_ref()?.get(n),
            None => self.own.as_ref(),
        }
    }

    /// Whether the stream tracks anything (what its answers are counted on).
    pub fn tracking(&self) -> bool {
        self.slots.iter().any(Option::is_some)
    }

    /// `track-scN KEY [table T]`: the first tracking of a slot wins, as in HAProxy.
    pub fn track(&mut self, slot: u8, key: &Value, table: Option<&str>, http: bool) {
        let Some(s) = self.slots.get(usize::from(slot)) else {
            return;
        };
        if s.is_some() {
            return;
        }
        let Some(t) = self.table(table) else { return };
        let Some(k) = Key::of(t.def.key, key) else {
            return;
        };
        let tracked = t.track(k, http);
        self.slots[usize::from(slot)] = tracked.map(Arc::new);
    }

    /// A stick sample: of a slot's entry, or of a key in a table.
    pub fn ask(
        &self,
        entry: crate::sample::stick::Entry<'_>,
        table: Option<&str>,
        ask: Ask,
    ) -> Option<Value> {
        match entry {
            crate::sample::stick::Entry::Slot(n) => {
                let tracked = self.slots.get(usize::from(n))?.as_ref();
                if ask == Ask::Tracked {
                    return Some(Value::Bool(tracked.is_some()));
                }
                let tr = tracked?;
                match table {
                    // Another table: the same key there.
                    Some(name) if name != tr.table.def.name => {
                        let t = self.table(Some(name))?;
                        t.ask(&tr.key, ask)
                    }
                    _ => tr.ask(ask),
                }
            }
            crate::sample::stick::Entry::Key(v) => {
                let t = self.table(table)?;
                let k = Key::of(t.def.key, v)?;
                t.ask(&k, ask)
            }
        }
    }

    /// Counts the final status of the stream's request on every tracked entry: 4xx are
    /// errors, 5xx other than 501 and 505 failures.
    pub fn status(&self, code: u16) {
        let counter = match code {
            400..=499 => Counter::HttpErr,
            501 | 505 => return,
            500..=599 => Counter::HttpFail,
            _ => return,
        };
        self.count(counter);
    }

    pub fn set_gpt0(&self, slot: u8, v: u64) {
        if let Some(Some(t)) = self.slots.get(usize::from(slot)) {
            t.set_gpt0(v);
        }
    }

    pub fn inc_gpc(&self, slot: u8, gpc1: bool) {
        if let Some(Some(t)) = self.slots.get(usize::from(slot)) {
            let c = if gpc1 { Counter::Gpc1 } else { Counter::Gpc0 };
            let _ = t.ask(Ask::Inc(c));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Dur;

    fn table(store: &str, size: usize) -> Arc<Table> {
        Arc::new(Table::new(TableDef {
            name: "t".into(),
            key: TableKey::Ipv6,
            size,
            expire: Some(Dur::ms(60_000)),
            store: store
                .split(',')
                .map(|s| crate::sample::stick::parse_stored(s).unwrap())
                .collect(),
            source: String::new(),
        }))
    }

    #[test]
    fn rates_slide_over_their_period() {
        let t0 = Instant::now();
        let p = Duration::from_secs(10);
        let mut r = Rate::new(t0);
        r.add(t0, p, 20);
        assert_eq!(r.read(t0 + Duration::from_secs(5), p), 20);
        // Half into the next period, half of the last one still counts.
        assert_eq!(r.read(t0 + Duration::from_secs(15), p), 10);
        assert_eq!(r.read(t0 + Duration::from_secs(35), p), 0);
    }

    #[test]
    fn entries_are_listed_in_key_order() {
        let t = table("conn_cnt", 10);
        let mut held = Vec::new();
        for a in ["2001:db8::1", "192.0.2.10", "192.0.2.9", "::1"] {
            let k = Key::of(TableKey::Ipv6, &Value::Ip(a.parse().unwrap())).unwrap();
            held.push(t.track(k, false).unwrap());
        }
        let keys: Vec<String> = t
            .dump()
            .iter()
            .map(|l| l.split(' ').nth(1).unwrap_or("").to_string())
            .collect();
        assert_eq!(
            keys,
            [
                "key=::1",
                "key=::ffff:192.0.2.9",
                "key=::ffff:192.0.2.10",
                "key=2001:db8::1"
            ]
        );
    }

    #[test]
    fn tracking_counts_and_releases() {
        let t = table("conn_cur,conn_cnt,http_req_rate(10s),http_err_cnt,gpc0", 2);
        let k = Key::of(TableKey::Ipv6, &Value::Ip("192.0.2.1".parse().unwrap())).unwrap();
        assert_eq!(k, Key::Ip("::ffff:192.0.2.1".parse().unwrap()));
        let a = t.track(k.clone(), true).unwrap();
        let b = t.track(k.clone(), true).unwrap();
        let read = |c, rate| t.ask(&k, Ask::Read { counter: c, rate });
        assert_eq!(read(Counter::ConnCur, false), Some(Value::Int(2)));
        assert_eq!(read(Counter::HttpReq, true), Some(Value::Int(2)));
        a.count(Counter::HttpErr);
        assert_eq!(read(Counter::HttpErr, false), Some(Value::Int(1)));
        // Not stored: no value.
        assert_eq!(read(Counter::HttpFail, false), None);
        drop(a);
        drop(b);
        assert_eq!(read(Counter::ConnCur, false), Some(Value::Int(0)));
        assert_eq!(read(Counter::Conn, false), Some(Value::Int(2)));
        assert_eq!(t.ask(&k, Ask::Inc(Counter::Gpc0)), Some(Value::Int(1)));
        assert_eq!(t.ask(&k, Ask::Clear(Counter::Gpc0)), Some(Value::Int(1)));
        // Full of tracked entries: no room; else the least recently used goes.
        let key = |i: u8| {
            Key::Ip(IpAddr::from([
                0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, i,
            ]))
        };
        let x = t.track(key(1), false).unwrap();
        let _y = t.track(key(2), false).unwrap();
        assert!(t.track(key(3), false).is_none());
        drop(x);
        assert!(t.track(key(3), false).is_some());
        assert_eq!(t.ask(&key(1), Ask::Present), Some(Value::Bool(false)));
    }
}
