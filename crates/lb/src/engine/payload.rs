//! The client's first bytes in `mode tcp` (`tcp-request inspect-delay`): read without
//! being consumed, so that content rules and `use_backend` can tell HTTP from TLS and
//! read a ClientHello's server name, then passed on to the server untouched.

use std::time::Duration;
use tokio::net::TcpStream;

/// At most this much is looked at (HAProxy's buffer size).
const MAX: usize = 16 * 1024;

/// Whether `buf` holds enough to judge it: a whole TLS record or request line, or
/// something that is neither.
fn settled(buf: &[u8]) -> bool {
    match buf.first() {
        None => false,
        Some(0x16) => match buf.get(3..5) {
            Some(l) => buf.len() >= 5 + usize::from(u16::from_be_bytes([l[0], l[1]])),
            None => false,
        },
        Some(c) if c.is_ascii_uppercase() => buf.contains(&b'\n'),
        Some(_) => true,
    }
}

/// Waits up to `delay` for the client's first bytes to settle, and returns what came
/// (perhaps nothing), leaving it to be read.
pub(super) async fn inspect(stream: &TcpStream, delay: Duration) -> Vec<u8> {
    let mut buf = vec![0u8; MAX];
    let mut got = 0;
    let deadline = tokio::time::Instant::now() + delay;
    let mut pause = Duration::from_millis(1);
    loop {
        let ready = tokio::time::timeout_at(deadline, stream.readable()).await;
        if !matches!(ready, Ok(Ok(()))) {
            break;
        }
        match stream.try_io(tokio::io::Interest::READABLE, || {
            // SAFETY: a u8 buffer seen as uninitialised bytes for recv(MSG_PEEK).
            let b = unsafe {
                &mut *(buf.as_mut_slice() as *mut [u8] as *mut [std::mem::MaybeUninit<u8>])
            };
            socket2::SockRef::from(stream).peek(b)
        }) {
            Ok(0) => break,
            Ok(n) => got = n,
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => continue,
            Err(_) => break,
        }
        if got >= MAX || settled(&buf[..got]) {
            break;
        }
        // More may come: the bytes already there keep the socket readable.
        if tokio::time::Instant::now() + pause >= deadline {
            break;
        }
        tokio::time::sleep(pause).await;
        pause = (pause * 2).min(Duration::from_millis(50));
    }
    buf.truncate(got);
    buf
}

/// Whether the bytes begin with an HTTP request line (`METHOD TARGET HTTP/x.y`).
pub fn is_http(buf: &[u8]) -> bool {
    let line = match buf.iter().position(|&b| b == b'\n') {
        Some(i) => &buf[..i],
        None => return false,
    };
    let line = line.strip_suffix(b"\r").unwrap_or(line);
    let mut parts = line.split(|&b| b == b' ');
    let (Some(m), Some(t), Some(v), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return false;
    };
    !m.is_empty()
        && m.iter()
            .all(|c| c.is_ascii_alphabetic() || *c == b'-' || *c == b'_')
        && !t.is_empty()
        && v.len() == 8
        && v.starts_with(b"HTTP/")
        && v[5].is_ascii_digit()
        && v[6] == b'.'
        && v[7].is_ascii_digit()
}

/// The handshake type of a TLS handshake record (1: ClientHello).
pub fn ssl_hello_type(buf: &[u8]) -> Option<i64> {
    match buf {
        [0x16, 3, _, _, _, t, ..] => Some(i64::from(*t)),
        _ => None,
    }
}

/// The server name a ClientHello asks for (its `server_name` extension).
pub fn ssl_sni(buf: &[u8]) -> Option<String> {
    // Record header (5), handshake header (4), version (2), random (32).
    let hello = buf.get(5..)?;
    if buf.first() != Some(&0x16) || hello.first() != Some(&1) {
        return None;
    }
    let mut i = 4 + 2 + 32;
    let skip = |i: &mut usize, width: usize| -> Option<()> {
        let n = match width {
            1 => usize::from(*hello.get(*i)?),
            _ => usize::from(u16::from_be_bytes([*hello.get(*i)?, *hello.get(*i + 1)?])),
        };
        *i += width + n;
        Some(())
    };
    skip(&mut i, 1)?; // session id
    skip(&mut i, 2)?; // cipher suites
    skip(&mut i, 1)?; // compression methods
    let ext_len = usize::from(u16::from_be_bytes([*hello.get(i)?, *hello.get(i + 1)?]));
    i += 2;
    let end = (i + ext_len).min(hello.len());
    while i + 4 <= end {
        let kind = u16::from_be_bytes([hello[i], hello[i + 1]]);
        let len = usize::from(u16::from_be_bytes([hello[i + 2], hello[i + 3]]));
        let body = hello.get(i + 4..i + 4 + len)?;
        if kind == 0 {
            // server_name_list: length (2), then type (1, 0 = host name), length (2).
            let name_len = usize::from(u16::from_be_bytes([*body.get(3)?, *body.get(4)?]));
            let name = body.get(5..5 + name_len)?;
            return std::str::from_utf8(name).ok().map(str::to_ascii_lowercase);
        }
        i += 4 + len;
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A ClientHello as rustls writes it, for `name`.
    fn client_hello(name: &str) -> Vec<u8> {
        use std::sync::Arc;
        let roots = rustls::RootCertStore::empty();
        let cfg = rustls::ClientConfig::builder_with_provider(Arc::new(
            rustls::crypto::ring::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
        let mut c = rustls::ClientConnection::new(
            Arc::new(cfg),
            rustls_pki_types::ServerName::try_from(name.to_string()).unwrap(),
        )
        .unwrap();
        let mut out = Vec::new();
        c.write_tls(&mut out).unwrap();
        out
    }

    #[test]
    fn first_bytes_tell_http_from_tls() {
        assert!(is_http(b"GET /v3 HTTP/1.1\r\nHost: x\r\n"));
        assert!(!is_http(b"GET /v3"));
        assert!(!is_http(b"\x16\x03\x01\x00\x05"));
        assert!(!is_http(b"SSH-2.0-OpenSSH_9.2\r\n"));
        let hello = client_hello("keystone.example.com");
        assert!(settled(&hello));
        assert!(!settled(&hello[..hello.len() - 1]));
        assert!(settled(b"GET / HTTP/1.1\r\n"));
        assert!(!settled(b"GET / HT"));
        assert_eq!(ssl_hello_type(&hello), Some(1));
        assert_eq!(ssl_sni(&hello).as_deref(), Some("keystone.example.com"));
        assert_eq!(ssl_hello_type(b"GET / HTTP/1.1\r\n"), None);
        assert_eq!(ssl_sni(&hello[..20]), None);
    }
}
