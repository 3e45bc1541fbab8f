//! Traffic and event logs: HAProxy-style lines sent to syslog (UDP or Unix datagram),
//! stdout or stderr. Sending never blocks a session: a full socket drops the line.

use crate::config::{LogDest, LogTarget};
use std::io::Write;
use std::net::UdpSocket;
use std::os::unix::net::UnixDatagram;
use std::time::{SystemTime, UNIX_EPOCH};

enum Sink {
    Stdout,
    Stderr,
    Udp(UdpSocket, std::net::SocketAddr),
    Unix(UnixDatagram, std::path::PathBuf),
}

/// Where one proxy's log lines go.
pub struct Logger {
    sinks: Vec<(Sink, u8)>,
    tag: String,
}

fn facility_code(f: &str) -> u8 {
    const F: &[&str] = &[
        "kern", "user", "mail", "daemon", "auth", "syslog", "lpr", "news", "uucp", "cron", "auth2",
        "ftp", "ntp", "audit", "alert", "cron2", "local0", "local1", "local2", "local3", "local4",
        "local5", "local6", "local7",
    ];
    F.iter().position(|x| *x == f).unwrap_or(16) as u8
}

const MONTHS: [&str; 12] = [
    "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
];

/// (year, month 1-12, day, hour, minute, second, millisecond) in UTC.
pub fn civil_now() -> (i64, u32, u32, u32, u32, u32, u32) {
    let d = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default();
    let secs = d.as_secs() as i64;
    let days = secs.div_euclid(86400);
    let rem = secs.rem_euclid(86400) as u32;
    // Howard Hinnant's days-to-civil.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let y = if m <= 2 { y + 1 } else { y };
    (
        y,
        m,
        day,
        rem / 3600,
        rem / 60 % 60,
        rem % 60,
        d.subsec_millis(),
    )
}

/// `22/Nov/2026:04:26:11.123`, HAProxy's accept date format.
pub fn haproxy_date() -> String {
    let (y, mo, d, h, mi, s, ms) = civil_now();
    format!(
        "{d:02}/{}/{y}:{h:02}:{mi:02}:{s:02}.{ms:03}",
        MONTHS[(mo - 1) as usize]
    )
}

impl Logger {
    pub fn new(targets: &[LogTarget]) -> Logger {
        let mut sinks = Vec::new();
        for t in targets {
            let sink = match &t.dest {
                LogDest::Stdout => Some(Sink::Stdout),
                LogDest::Stderr => Some(Sink::Stderr),
                LogDest::Udp(a) => {
                    let bind = if a.is_ipv4() { "0.0.0.0:0" } else { "[::]:0" };
                    UdpSocket::bind(bind).ok().map(|s| {
                        let _ = s.set_nonblocking(true);
                        Sink::Udp(s, *a)
                    })
                }
                LogDest::Unix(p) => UnixDatagram::unbound().ok().map(|s| {
                    let _ = s.set_nonblocking(true);
                    Sink::Unix(s, p.clone())
                }),
            };
            if let Some(s) = sink {
                sinks.push((s, facility_code(&t.facility)));
            }
        }
        Logger {
            sinks,
            tag: format!("halo[{}]", std::process::id()),
        }
    }

    pub fn is_active(&self) -> bool {
        !self.sinks.is_empty()
    }

    fn send(&self, severity: u8, msg: &str) {
        if self.sinks.is_empty() {
            return;
        }
        let (_, mo, d, h, mi, s, _) = civil_now();
        for (sink, fac) in &self.sinks {
            match sink {
                Sink::Stdout => {
                    let _ = writeln!(std::io::stdout().lock(), "{msg}");
                }
                Sink::Stderr => {
                    let _ = writeln!(std::io::stderr().lock(), "{msg}");
                }
                Sink::Udp(sock, a) => {
                    let line = format!(
                        "<{}>{} {d:2} {h:02}:{mi:02}:{s:02} {}: {msg}",
                        fac * 8 + severity,
                        MONTHS[(mo - 1) as usize],
                        self.tag
                    );
                    let _ = sock.send_to(line.as_bytes(), a);
                }
                Sink::Unix(sock, p) => {
                    let line = format!(
                        "<{}>{} {d:2} {h:02}:{mi:02}:{s:02} {}: {msg}",
                        fac * 8 + severity,
                        MONTHS[(mo - 1) as usize],
                        self.tag
                    );
                    let _ = sock.send_to(line.as_bytes(), p);
                }
            }
        }
    }

    /// A traffic line (severity info).
    pub fn traffic(&self, msg: &str) {
        self.send(6, msg);
    }

    /// A server or proxy state change (severity notice; also traced).
    pub fn event(&self, msg: &str) {
        tracing::warn!("{msg}");
        self.send(5, msg);
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn date_is_well_formed() {
        let d = super::haproxy_date();
        assert_eq!(d.len(), "22/Nov/2026:04:26:11.123".len(), "{d}");
        let (y, m, day, ..) = super::civil_now();
        assert!(y >= 2024 && (1..=12).contains(&m) && (1..=31).contains(&day));
    }
}
