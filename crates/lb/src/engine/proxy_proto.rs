//! The PROXY protocol (HAProxy's, versions 1 and 2): the header sent to a server
//! before anything else (`server ... send-proxy|send-proxy-v2`), telling it which
//! client the connection is for; and the same header received on a listener
//! (`bind ... accept-proxy`) from a proxy in front.

use crate::config::ProxyProto;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::time::Duration;
use tokio::io::AsyncReadExt;

/// Version 2's signature.
const V2_SIG: &[u8; 12] = b"\r\n\r\n\0\r\nQUIT\n";

/// Both addresses of one family: as they are when both are IPv4, else as IPv6 (an
/// IPv4 address mapped).
fn same_family(src: SocketAddr, dst: SocketAddr) -> (SocketAddr, SocketAddr) {
    let v6 = |a: SocketAddr| match a.ip() {
        IpAddr::V4(v4) => SocketAddr::new(IpAddr::V6(v4.to_ipv6_mapped()), a.port()),
        IpAddr::V6(_) => a,
    };
    match (src.ip().to_canonical(), dst.ip().to_canonical()) {
        (IpAddr::V4(s), IpAddr::V4(d)) => (
            SocketAddr::new(s.into(), src.port()),
            SocketAddr::new(d.into(), dst.port()),
        ),
        _ => (v6(src), v6(dst)),
    }
}

/// The header for a connection made for the client at `src` that connected to `dst`;
/// without a client (a health check), version 1's `UNKNOWN` and version 2's `LOCAL`.
pub fn header(v: ProxyProto, client: Option<(SocketAddr, SocketAddr)>) -> Vec<u8> {
    let client = client.map(|(s, d)| same_family(s, d));
    match v {
        ProxyProto::V1 => match client {
            None => b"PROXY UNKNOWN\r\n".to_vec(),
            Some((s, d)) => format!(
                "PROXY {} {} {} {} {}\r\n",
                if s.is_ipv4() { "TCP4" } else { "TCP6" },
                s.ip(),
                d.ip(),
                s.port(),
                d.port()
            )
            .into_bytes(),
        },
        ProxyProto::V2 => {
            let mut h = V2_SIG.to_vec();
            let Some((s, d)) = client else {
                // LOCAL, unspecified family, no address.
                h.extend_from_slice(&[0x20, 0x00, 0, 0]);
                return h;
            };
            let mut addrs = Vec::with_capacity(36);
            let fam = match (s.ip(), d.ip()) {
                (IpAddr::V4(a), IpAddr::V4(b)) => {
                    addrs.extend_from_slice(&a.octets());
                    addrs.extend_from_slice(&b.octets());
                    0x11
                }
                (a, b) => {
                    let six = |ip: IpAddr| match ip {
                        IpAddr::V6(x) => x.octets(),
                        IpAddr::V4(x) => x.to_ipv6_mapped().octets(),
                    };
                    addrs.extend_from_slice(&six(a));
                    addrs.extend_from_slice(&six(b));
                    0x21
                }
            };
            addrs.extend_from_slice(&s.port().to_be_bytes());
            addrs.extend_from_slice(&d.port().to_be_bytes());
            // PROXY command over TCP.
            h.push(0x21);
            h.push(fam);
            h.extend_from_slice(&(addrs.len() as u16).to_be_bytes());
            h.extend_from_slice(&addrs);
            h
        }
    }
}

tokio::task_local! {
    /// What the header a connection began with told (`bind ... accept-proxy`), for
    /// the task that serves it.
    pub static PROXIED: std::cell::OnceCell<Proxied>;
}

/// The address the client connected to, as the header told it, if it did.
pub fn proxied_dst() -> Option<SocketAddr> {
    PROXIED
        .try_with(|c| c.get().and_then(|p| p.addrs).map(|(_, d)| d))
        .ok()
        .flatten()
}

/// What a received header tells of the client.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Proxied {
    /// The client's address and the address it connected to; `None` for `UNKNOWN`,
    /// `LOCAL` and addresses that are not IP (the connection's own then stand).
    pub addrs: Option<(SocketAddr, SocketAddr)>,
    /// Version 2's `PP2_TYPE_AUTHORITY` (the name the client asked for) and
    /// `PP2_TYPE_UNIQUE_ID`.
    pub authority: Option<Vec<u8>>,
    pub unique_id: Option<Vec<u8>>,
}

/// Why a listener's header was refused.
#[derive(Debug, thiserror::Error)]
pub enum HeaderError {
    #[error("the connection does not start with a PROXY protocol header")]
    Missing,
    #[error("malformed PROXY protocol header: {0}")]
    Malformed(&'static str),
    #[error("no complete PROXY protocol header in time")]
    Timeout,
    #[error("{0}")]
    Io(#[from] std::io::Error),
}

/// Version 1's longest header (`PROXY TCP6 ...\r\n`).
const V1_MAX: usize = 107;

/// Reads the header a connection starts with, and only its bytes (what follows is the
/// client's). Waits `within` at most for all of it.
pub async fn receive(
    s: &mut tokio::net::TcpStream,
    within: Duration,
) -> Result<Proxied, HeaderError> {
    let deadline = tokio::time::Instant::now() + within;
    let mut buf = [0u8; 16 + 216];
    loop {
        let n = tokio::time::timeout_at(deadline, s.peek(&mut buf))
            .await
            .map_err(|_| HeaderError::Timeout)??;
        if n == 0 {
            return Err(HeaderError::Missing);
        }
        let got = &buf[..n];
        let need = if got[..n.min(12)] == V2_SIG[..n.min(12)] {
            // Version 2: 16 bytes, then as many as they say.
            (n >= 16).then(|| 16 + usize::from(u16::from_be_bytes([got[14], got[15]])))
        } else if got[..n.min(6)] == b"PROXY "[..n.min(6)] {
            match got.windows(2).position(|w| w == b"\r\n") {
                Some(i) if i + 2 <= V1_MAX => Some(i + 2),
                _ if n >= V1_MAX => {
                    return Err(HeaderError::Malformed(
                        "a version 1 line longer than 107 bytes",
                    ))
                }
                _ => None,
            }
        } else {
            return Err(HeaderError::Missing);
        };
        if let Some(len) = need {
            let mut h = vec![0u8; len];
            tokio::time::timeout_at(deadline, s.read_exact(&mut h))
                .await
                .map_err(|_| HeaderError::Timeout)??;
            return parse(&h);
        }
        // Part of it so far: wait for the rest.
        tokio::time::sleep(Duration::from_millis(1)).await;
        if tokio::time::Instant::now() >= deadline {
            return Err(HeaderError::Timeout);
        }
    }
}

/// A whole header, version 1 or 2.
pub fn parse(h: &[u8]) -> Result<Proxied, HeaderError> {
    if h.starts_with(V2_SIG) {
        parse_v2(h)
    } else {
        parse_v1(h)
    }
}

fn parse_v1(h: &[u8]) -> Result<Proxied, HeaderError> {
    let bad = HeaderError::Malformed;
    let line = std::str::from_utf8(h)
        .ok()
        .and_then(|l| l.strip_suffix("\r\n"))
        .ok_or(bad("a version 1 header is a text line"))?;
    let w: Vec<&str> = line.split(' ').collect();
    match w.as_slice() {
        ["PROXY", "UNKNOWN", ..] => Ok(Proxied::default()),
        ["PROXY", fam @ ("TCP4" | "TCP6"), src, dst, sport, dport] => {
            let ip = |t: &str| -> Result<IpAddr, HeaderError> {
                let a: IpAddr = t
                    .parse()
                    .map_err(|_| bad("an address is not an IP address"))?;
                if a.is_ipv4() != (*fam == "TCP4") {
                    return Err(bad("an address is not of the family the header names"));
                }
                Ok(a)
            };
            let port = |t: &str| -> Result<u16, HeaderError> {
                // Decimal without a leading zero, as the protocol writes them.
                if t.len() > 1 && t.starts_with('0') {
                    return Err(bad("a port has a leading zero"));
                }
                t.parse()
                    .map_err(|_| bad("a port is not a number up to 65535"))
            };
            Ok(Proxied {
                addrs: Some((
                    SocketAddr::new(ip(src)?, port(sport)?),
                    SocketAddr::new(ip(dst)?, port(dport)?),
                )),
                ..Default::default()
            })
        }
        _ => Err(bad(
            "expected PROXY TCP4|TCP6 SRC DST SPORT DPORT, or PROXY UNKNOWN",
        )),
    }
}

fn parse_v2(h: &[u8]) -> Result<Proxied, HeaderError> {
    let bad = HeaderError::Malformed;
    if h.len() < 16 || h[12] >> 4 != 2 {
        return Err(bad("version 2's signature without version 2"));
    }
    let body = &h[16..];
    let mut out = Proxied::default();
    let local = match h[12] & 0x0f {
        0 => true,
        1 => false,
        _ => return Err(bad("a command other than LOCAL and PROXY")),
    };
    let addr_len = match h[13] >> 4 {
        0 => 0,
        1 => 12,
        2 => 36,
        3 => 216,
        _ => return Err(bad("an unknown address family")),
    };
    if h[13] & 0x0f > 2 {
        return Err(bad("an unknown transport protocol"));
    }
    if body.len() < addr_len {
        return Err(bad("shorter than its addresses"));
    }
    let (addrs, mut tlvs) = body.split_at(addr_len);
    if !local {
        let port = |b: &[u8]| u16::from_be_bytes([b[0], b[1]]);
        out.addrs = match addr_len {
            12 => {
                let ip = |b: &[u8]| IpAddr::V4(Ipv4Addr::new(b[0], b[1], b[2], b[3]));
                Some((
                    SocketAddr::new(ip(&addrs[0..4]), port(&addrs[8..10])),
                    SocketAddr::new(ip(&addrs[4..8]), port(&addrs[10..12])),
                ))
            }
            36 => {
                let ip = |b: &[u8]| {
                    let mut o = [0u8; 16];
                    o.copy_from_slice(b);
                    IpAddr::V6(Ipv6Addr::from(o))
                };
                Some((
                    SocketAddr::new(ip(&addrs[0..16]), port(&addrs[32..34])),
                    SocketAddr::new(ip(&addrs[16..32]), port(&addrs[34..36])),
                ))
            }
            _ => None,
        };
    }
    // Type-length-values: each must end within the header.
    while !tlvs.is_empty() {
        if tlvs.len() < 3 {
            return Err(bad("a truncated TLV"));
        }
        let len = usize::from(u16::from_be_bytes([tlvs[1], tlvs[2]]));
        let value = tlvs
            .get(3..3 + len)
            .ok_or(bad("a TLV longer than the header"))?;
        match tlvs[0] {
            0x02 => out.authority = Some(value.to_vec()),
            0x05 => out.unique_id = Some(value.to_vec()),
            _ => {}
        }
        tlvs = &tlvs[3 + len..];
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn received_headers_are_read_and_checked() {
        let c = (
            "192.0.2.1:56324".parse().unwrap(),
            "198.51.100.7:443".parse().unwrap(),
        );
        for v in [ProxyProto::V1, ProxyProto::V2] {
            assert_eq!(parse(&header(v, Some(c))).unwrap().addrs, Some(c), "{v:?}");
            assert_eq!(parse(&header(v, None)).unwrap().addrs, None, "{v:?}");
        }
        let six = (
            "[2001:db8::1]:1".parse().unwrap(),
            "[2001:db8::2]:2".parse().unwrap(),
        );
        assert_eq!(
            parse(&header(ProxyProto::V2, Some(six))).unwrap().addrs,
            Some(six)
        );
        assert_eq!(
            parse(&header(ProxyProto::V1, Some(six))).unwrap().addrs,
            Some(six)
        );
        for bad in [
            &b"PROXY TCP4 192.0.2.1 2001:db8::1 1 2\r\n"[..],
            b"PROXY TCP4 192.0.2.1 192.0.2.2 01 2\r\n",
            b"PROXY TCP4 192.0.2.1 192.0.2.2 1 70000\r\n",
            b"PROXY TCP5 a b 1 2\r\n",
        ] {
            assert!(parse(bad).is_err(), "{}", String::from_utf8_lossy(bad));
        }
        // Version 2 with an authority TLV; a TLV that overflows the header is refused.
        let mut h = header(ProxyProto::V2, Some(c));
        h.extend_from_slice(&[0x02, 0, 5, b'a', b'b', b'c', b'd', b'e']);
        h[15] += 8;
        assert_eq!(parse(&h).unwrap().authority.as_deref(), Some(&b"abcde"[..]));
        let n = h.len();
        h[n - 6] = 10;
        assert!(parse(&h).is_err());
    }

    #[test]
    fn headers_as_the_protocol_defines_them() {
        let c = Some((
            "192.0.2.1:56324".parse().unwrap(),
            "198.51.100.7:443".parse().unwrap(),
        ));
        assert_eq!(
            header(ProxyProto::V1, c),
            b"PROXY TCP4 192.0.2.1 198.51.100.7 56324 443\r\n"
        );
        assert_eq!(header(ProxyProto::V1, None), b"PROXY UNKNOWN\r\n");
        let v2 = header(ProxyProto::V2, c);
        assert_eq!(&v2[..12], V2_SIG);
        assert_eq!(&v2[12..16], &[0x21, 0x11, 0, 12]);
        assert_eq!(&v2[16..20], &[192, 0, 2, 1]);
        assert_eq!(&v2[24..28], &[0xdc, 0x04, 0x01, 0xbb]);
        assert_eq!(header(ProxyProto::V2, None)[12..], [0x20, 0, 0, 0]);
        // Mixed families: both as IPv6.
        let m = Some((
            "192.0.2.1:1".parse().unwrap(),
            "[2001:db8::1]:2".parse().unwrap(),
        ));
        assert_eq!(
            header(ProxyProto::V1, m),
            b"PROXY TCP6 ::ffff:192.0.2.1 2001:db8::1 1 2\r\n"
        );
        assert_eq!(header(ProxyProto::V2, m)[13], 0x21);
        assert_eq!(header(ProxyProto::V2, m).len(), 16 + 36);
    }
}
