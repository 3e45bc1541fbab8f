//! Server selection (no I/O): given what each server looks like right now, choose one.
//!
//! Active servers are used while at least one is alive; otherwise the backups (only the
//! first alive one unless `option allbackups`). Within that set, an algorithm picks a
//! server that has room (`maxconn`); if every alive server is full the request waits in
//! the backend queue.

use crate::config::Balance;

/// One server as the balancer sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cand {
    /// Current weight; 0 means draining (no new sessions).
    pub weight: u32,
    /// Health checks say up and the operator did not put it in maintenance.
    pub alive: bool,
    /// Below its `maxconn`.
    pub has_room: bool,
    pub cur: u32,
    pub backup: bool,
}

/// The balancer's answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Pick {
    Server(usize),
    /// Servers are alive but all full: wait in the queue.
    Full,
    /// No server can take the request.
    NoServer,
}

/// A balancing algorithm and its state for one backend.
#[derive(Debug, Clone)]
pub struct Balancer {
    algo: Balance,
    consistent: bool,
    /// Smooth weighted round robin: current weights.
    cw: Vec<i64>,
    /// Rotating start for leastconn ties.
    next: usize,
    /// Consistent-hash ring: (point, server index), sorted.
    ring: Vec<(u32, usize)>,
}

/// Whether the algorithm hashes something of the session (then a consistent ring
/// may serve it).
fn hashes(a: Balance) -> bool {
    matches!(
        a,
        Balance::Source | Balance::Uri | Balance::UrlParam | Balance::Hdr | Balance::Hash
    )
}

/// The hash a request-hashing `balance` chooses by: of the part of the request `key`
/// names (`target` as the client sent it, `header` a header's last value), `None` when
/// the request has no such part.
pub fn request_hash(
    key: &crate::config::HashKey,
    target: &str,
    header: &dyn Fn(&str) -> Option<String>,
) -> Option<u32> {
    use crate::config::HashKey;
    match key {
        HashKey::Uri {
            whole,
            path_only,
            len,
            depth,
        } => {
            let mut t = target;
            if *path_only {
                if let Some((_, rest)) = t.split_once("://") {
                    t = rest.find('/').map_or("/", |i| &rest[i..]);
                }
            }
            if !whole {
                t = t.split('?').next().unwrap_or(t);
            }
            if let Some(d) = depth {
                // The first `d` directories: up to the (d+1)th slash.
                if let Some((i, _)) = t.match_indices('/').nth(*d) {
                    t = &t[..i];
                }
            }
            if let Some(l) = len {
                let mut l = (*l).min(t.len());
                while !t.is_char_boundary(l) {
                    l -= 1;
                }
                t = &t[..l];
            }
            Some(sdbm(t.as_bytes()))
        }
        HashKey::UrlParam(name) => {
            let q = target.split_once('?')?.1;
            q.split('&').find_map(|kv| {
                let (k, v) = kv.split_once('=')?;
                (k == name).then(|| sdbm(v.as_bytes()))
            })
        }
        // Evaluated by the engine on the request (`sample_hash`).
        HashKey::Expr(_) => None,
        HashKey::Hdr { name, domain_only } => {
            let v = header(name)?;
            let v = v.trim();
            if *domain_only {
                // The main label: `haproxy` of `www.haproxy.org:80`.
                let host = v.rsplit_once(':').map_or(v, |(h, _)| h);
                let labels: Vec<&str> = host.split('.').collect();
                let main = labels.len().checked_sub(2).map_or(host, |i| labels[i]);
                Some(sdbm(main.to_ascii_lowercase().as_bytes()))
            } else {
                Some(sdbm(v.as_bytes()))
            }
        }
    }
}

/// A well-mixed 32-bit hash of bytes (FNV-1a followed by a murmur3 finaliser).
pub fn hash_bytes(b: &[u8]) -> u32 {
    let mut h: u32 = 0x811c_9dc5;
    for &x in b {
        h ^= x as u32;
        h = h.wrapping_mul(0x0100_0193);
    }
    mix(h)
}

/// Murmur3's finaliser: every input bit moves every output bit.
fn mix(mut h: u32) -> u32 {
    h ^= h >> 16;
    h = h.wrapping_mul(0x85eb_ca6b);
    h ^= h >> 13;
    h = h.wrapping_mul(0xc2b2_ae35);
    h ^ (h >> 16)
}

/// The sdbm hash, HAProxy's default for `balance uri|url_param|hdr`: with map-based
/// hashing and the same servers and weights, a request goes where HAProxy sends it.
pub fn sdbm(b: &[u8]) -> u32 {
    b.iter().fold(0u32, |h, &c| {
        (c as u32)
            .wrapping_add(h << 6)
            .wrapping_add(h << 16)
            .wrapping_sub(h)
    })
}

/// The hash of a client address for `balance source`.
pub fn hash_ip(ip: std::net::IpAddr) -> u32 {
    match ip {
        std::net::IpAddr::V4(a) => hash_bytes(&a.octets()),
        std::net::IpAddr::V6(a) => match a.to_ipv4_mapped() {
            Some(v4) => hash_bytes(&v4.octets()),
            None => hash_bytes(&a.octets()),
        },
    }
}

const POINTS_PER_WEIGHT: u32 = 16;

impl Balancer {
    /// `servers`: (name, configured weight) in configuration order.
    pub fn new(algo: Balance, consistent: bool, servers: &[(&str, u32)]) -> Balancer {
        let mut ring = Vec::new();
        if hashes(algo) && consistent {
            for (i, (name, w)) in servers.iter().enumerate() {
                for p in 0..(w.max(&1) * POINTS_PER_WEIGHT) {
                    let key = format!("{name}#{p}");
                    ring.push((hash_bytes(key.as_bytes()), i));
                }
            }
            ring.sort_unstable();
        }
        Balancer {
            algo,
            consistent,
            cw: vec![0; servers.len()],
            next: 0,
            ring,
        }
    }

    /// Chooses a server. `client_hash` is what `source`, `uri`, `url_param` and `hdr`
    /// hash (without it, round robin); `exclude` lists servers that already failed for
    /// this session (redispatch must go elsewhere).
    pub fn pick(
        &mut self,
        c: &[Cand],
        client_hash: Option<u32>,
        allbackups: bool,
        exclude: &[usize],
    ) -> Pick {
        // No allocation here: this runs for every session.
        let n = c.len();
        let ok = |i: usize| c[i].alive && c[i].weight > 0 && !exclude.contains(&i);
        let any_active = (0..n).any(|i| !c[i].backup && ok(i));
        let first_backup = if !any_active && !allbackups {
            (0..n).find(|&i| c[i].backup && ok(i))
        } else {
            None
        };
        let in_set = |i: usize| {
            if any_active {
                !c[i].backup && ok(i)
            } else if allbackups {
                c[i].backup && ok(i)
            } else {
                Some(i) == first_backup
            }
        };
        if !(0..n).any(in_set) {
            return Pick::NoServer;
        }
        match (self.algo, client_hash) {
            (a, Some(client_hash)) if hashes(a) => {
                let chosen = if self.consistent && !self.ring.is_empty() {
                    // sdbm's values cluster: spread them over the ring first.
                    let point = match a {
                        Balance::Source => client_hash,
                        _ => mix(client_hash),
                    };
                    let start = self.ring.partition_point(|(p, _)| *p < point);
                    let len = self.ring.len();
                    (0..len)
                        .map(|k| self.ring[(start + k) % len].1)
                        .find(|&i| i < n && in_set(i))
                } else {
                    let total: u64 = (0..n)
                        .filter(|&i| in_set(i))
                        .map(|i| c[i].weight as u64)
                        .sum();
                    let mut x = client_hash as u64 % total.max(1);
                    (0..n).filter(|&i| in_set(i)).find(|&i| {
                        if x < c[i].weight as u64 {
                            true
                        } else {
                            x -= c[i].weight as u64;
                            false
                        }
                    })
                };
                match chosen {
                    Some(i) if c[i].has_room => Pick::Server(i),
                    Some(_) => Pick::Full,
                    None => Pick::NoServer,
                }
            }
            (Balance::First, _) => match (0..n).find(|&i| in_set(i) && c[i].has_room) {
                Some(i) => Pick::Server(i),
                None => Pick::Full,
            },
            (Balance::Random, _) => {
                // Two draws by weight; the one with fewer sessions for its weight.
                let total: u64 = (0..n)
                    .filter(|&i| in_set(i) && c[i].has_room)
                    .map(|i| c[i].weight as u64)
                    .sum();
                if total == 0 {
                    return Pick::Full;
                }
                let draw = || {
                    let mut x = fastrand::u64(0..total);
                    (0..n).filter(|&i| in_set(i) && c[i].has_room).find(|&i| {
                        if x < c[i].weight as u64 {
                            true
                        } else {
                            x -= c[i].weight as u64;
                            false
                        }
                    })
                };
                match (draw(), draw()) {
                    (Some(a), Some(b)) => {
                        let lighter = (c[b].cur as u64) * (c[a].weight as u64)
                            < (c[a].cur as u64) * (c[b].weight as u64);
                        Pick::Server(if lighter { b } else { a })
                    }
                    (Some(a), None) | (None, Some(a)) => Pick::Server(a),
                    (None, None) => Pick::Full,
                }
            }
            (Balance::Leastconn, _) => {
                let start = self.next % n.max(1);
                self.next = self.next.wrapping_add(1);
                let mut best: Option<usize> = None;
                for k in 0..n {
                    let i = (start + k) % n;
                    if !in_set(i) || !c[i].has_room {
                        continue;
                    }
                    best = match best {
                        None => Some(i),
                        // cur_i / w_i < cur_b / w_b
                        Some(b)
                            if (c[i].cur as u64) * (c[b].weight as u64)
                                < (c[b].cur as u64) * (c[i].weight as u64) =>
                        {
                            Some(i)
                        }
                        keep => keep,
                    };
                }
                best.map(Pick::Server).unwrap_or(Pick::Full)
            }
            _ => {
                if self.cw.len() < n {
                    self.cw.resize(n, 0);
                }
                let mut total: i64 = 0;
                let mut best: Option<usize> = None;
                for i in (0..n).filter(|&i| in_set(i) && c[i].has_room) {
                    self.cw[i] += c[i].weight as i64;
                    total += c[i].weight as i64;
                    if best.map(|b| self.cw[i] > self.cw[b]).unwrap_or(true) {
                        best = Some(i);
                    }
                }
                match best {
                    Some(b) => {
                        self.cw[b] -= total;
                        Pick::Server(b)
                    }
                    None => Pick::Full,
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn up(weight: u32) -> Cand {
        Cand {
            weight,
            alive: true,
            has_room: true,
            cur: 0,
            backup: false,
        }
    }

    fn picks(b: &mut Balancer, c: &[Cand], n: usize) -> Vec<usize> {
        (0..n)
            .map(|k| match b.pick(c, Some(k as u32), false, &[]) {
                Pick::Server(i) => i,
                p => panic!("{p:?}"),
            })
            .collect()
    }

    #[test]
    fn roundrobin_is_weighted_and_smooth() {
        let mut b = Balancer::new(Balance::Roundrobin, false, &[("a", 3), ("b", 1)]);
        let p = picks(&mut b, &[up(3), up(1)], 8);
        assert_eq!(p.iter().filter(|&&i| i == 0).count(), 6);
        assert_eq!(p[..4].iter().filter(|&&i| i == 1).count(), 1);
    }

    #[test]
    fn down_full_and_draining_servers_are_skipped() {
        let mut b = Balancer::new(Balance::Roundrobin, false, &[("a", 1), ("b", 1), ("c", 1)]);
        let mut c = [up(1), up(1), up(1)];
        c[0].alive = false;
        c[1].weight = 0;
        assert_eq!(picks(&mut b, &c, 3), [2, 2, 2]);
        c[2].has_room = false;
        assert_eq!(b.pick(&c, Some(0), false, &[]), Pick::Full);
        c[2].alive = false;
        assert_eq!(b.pick(&c, Some(0), false, &[]), Pick::NoServer);
    }

    #[test]
    fn backups_only_when_no_active_is_alive() {
        let mut b = Balancer::new(Balance::Source, false, &[("a", 1), ("b", 1), ("c", 1)]);
        let mut c = [up(1), up(1), up(1)];
        c[1].backup = true;
        c[2].backup = true;
        for h in 0..50 {
            assert_eq!(b.pick(&c, Some(h * 7919), false, &[]), Pick::Server(0));
        }
        c[0].alive = false;
        for h in 0..50 {
            assert_eq!(
                b.pick(&c, Some(h * 7919), false, &[]),
                Pick::Server(1),
                "first backup only"
            );
        }
        let got: std::collections::BTreeSet<_> = (0..50)
            .map(|h| b.pick(&c, Some(hash_bytes(&[h])), true, &[]))
            .collect();
        assert_eq!(got.len(), 2, "allbackups spreads: {got:?}");
        assert_eq!(
            b.pick(&c, Some(0), false, &[1]),
            Pick::Server(2),
            "redispatch skips the failed backup"
        );
    }

    #[test]
    fn leastconn_prefers_the_least_loaded() {
        let mut b = Balancer::new(Balance::Leastconn, false, &[("a", 1), ("b", 1)]);
        let mut c = [up(1), up(1)];
        c[0].cur = 5;
        c[1].cur = 2;
        assert_eq!(b.pick(&c, Some(0), false, &[]), Pick::Server(1));
        c[1].cur = 24;
        c[1].weight = 4;
        assert_eq!(b.pick(&c, Some(0), false, &[]), Pick::Server(0));
    }

    #[test]
    fn first_fills_servers_in_order() {
        let mut b = Balancer::new(Balance::First, false, &[("a", 1), ("b", 1)]);
        let mut c = [up(1), up(1)];
        assert_eq!(b.pick(&c, Some(0), false, &[]), Pick::Server(0));
        c[0].has_room = false;
        assert_eq!(b.pick(&c, Some(0), false, &[]), Pick::Server(1));
    }

    #[test]
    fn consistent_source_hash_moves_only_the_dead_servers_clients() {
        let names: Vec<(String, u32)> = (0..5).map(|i| (format!("s{i}"), 1)).collect();
        let refs: Vec<(&str, u32)> = names.iter().map(|(n, w)| (n.as_str(), *w)).collect();
        let mut b = Balancer::new(Balance::Source, true, &refs);
        let mut c = vec![up(1); 5];
        let clients: Vec<u32> = (0..2000u32).map(|i| hash_bytes(&i.to_be_bytes())).collect();
        let before: Vec<Pick> = clients
            .iter()
            .map(|&h| b.pick(&c, Some(h), false, &[]))
            .collect();
        c[2].alive = false;
        let after: Vec<Pick> = clients
            .iter()
            .map(|&h| b.pick(&c, Some(h), false, &[]))
            .collect();
        for (x, y) in before.iter().zip(&after) {
            if *x != Pick::Server(2) {
                assert_eq!(x, y, "a client of a live server moved");
            } else {
                assert_ne!(*y, Pick::Server(2));
            }
        }
        let moved = before.iter().filter(|p| **p == Pick::Server(2)).count();
        assert!(
            moved > 100 && moved < 800,
            "server 2 had {moved} of 2000 clients"
        );
        // Map-based hashing reshuffles many clients.
        let mut m = Balancer::new(Balance::Source, false, &refs);
        let c2 = vec![up(1); 5];
        let mb: Vec<Pick> = clients
            .iter()
            .map(|&h| m.pick(&c2, Some(h), false, &[]))
            .collect();
        let ma: Vec<Pick> = clients
            .iter()
            .map(|&h| m.pick(&c, Some(h), false, &[]))
            .collect();
        let changed = mb
            .iter()
            .zip(&ma)
            .filter(|(x, y)| x != y && **x != Pick::Server(2))
            .count();
        assert!(changed > 500, "map-based hashing moved only {changed}");
    }

    #[test]
    fn request_hashes_take_the_part_their_options_name() {
        use crate::config::HashKey;
        let none = |_: &str| None;
        let h = |k: &HashKey, t: &str| request_hash(k, t, &none);
        let uri = |whole, path_only, len, depth| HashKey::Uri {
            whole,
            path_only,
            len,
            depth,
        };
        let plain = uri(false, false, None, None);
        assert_eq!(h(&plain, "/a/b?x=1"), h(&plain, "/a/b?x=2"));
        let whole = uri(true, false, None, None);
        assert_ne!(h(&whole, "/a/b?x=1"), h(&whole, "/a/b?x=2"));
        let path_only = uri(false, true, None, None);
        assert_eq!(h(&path_only, "http://h/a/b"), h(&path_only, "/a/b"));
        assert_ne!(h(&plain, "http://h/a/b"), h(&plain, "/a/b"));
        let depth = uri(false, false, None, Some(2));
        assert_eq!(h(&depth, "/v2/images/1"), h(&depth, "/v2/images/2"));
        assert_eq!(h(&depth, "/v2/images/1"), Some(sdbm(b"/v2/images")));
        let len = uri(false, false, Some(3), None);
        assert_eq!(h(&len, "/v2/x"), Some(sdbm(b"/v2")));
        let param = HashKey::UrlParam("user".into());
        assert_eq!(h(&param, "/p?a=1&user=bob"), Some(sdbm(b"bob")));
        assert_eq!(h(&param, "/p?a=1"), None, "without it: round robin");
        let host = |v: &'static str| move |n: &str| (n == "host").then(|| v.to_string());
        let domain = HashKey::Hdr {
            name: "host".into(),
            domain_only: true,
        };
        assert_eq!(
            request_hash(&domain, "/", &host("www.haproxy.org:80")),
            Some(sdbm(b"haproxy"))
        );
        // HAProxy's sdbm: its `balance uri` regression test sends /url1 to the second
        // of four servers.
        assert_eq!(sdbm(b"/url1") % 4, 1);
        assert_eq!(request_hash(&domain, "/", &none), None);
    }

    #[test]
    fn random_draws_by_weight_and_takes_the_lighter() {
        let mut b = Balancer::new(Balance::Random, false, &[("a", 1), ("b", 0), ("c", 1)]);
        let mut c = [up(1), up(0), up(1)];
        c[0].cur = 50;
        let picks: Vec<Pick> = (0..400).map(|_| b.pick(&c, None, false, &[])).collect();
        assert!(!picks.contains(&Pick::Server(1)), "weight 0 is never drawn");
        let light = picks.iter().filter(|p| **p == Pick::Server(2)).count();
        // The loaded one wins only when both draws are it (1 in 4).
        assert!(light > 250, "the lighter server is preferred: {light}/400");
    }
}
