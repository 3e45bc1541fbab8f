//! TLS termination on listeners (`bind ... ssl crt ...`): rustls, the certificate chosen
//! by the name the client asks for (SNI; the first one otherwise, as HAProxy), ALPN;
//! then HTTP over the decrypted stream (HTTP/2 when ALPN chose it), or in `mode tcp`
//! the bytes to a server.

use super::rules::TlsInfo;
use super::state::FrontendRt;
use super::Shared;
use crate::config::BindTls;
use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;
use std::net::SocketAddr;
use std::sync::Arc;

/// Certificates by the names they are for.
#[derive(Debug)]
struct ByName {
    certs: Vec<(Vec<String>, Arc<CertifiedKey>)>,
}

/// Whether certificate name `pattern` (perhaps `*.example.com`) covers `name`.
fn covers(pattern: &str, name: &str) -> bool {
    match pattern.strip_prefix("*.") {
        Some(rest) => name
            .split_once('.')
            .is_some_and(|(first, tail)| !first.is_empty() && tail.eq_ignore_ascii_case(rest)),
        None => pattern.eq_ignore_ascii_case(name),
    }
}

impl ResolvesServerCert for ByName {
    fn resolve(&self, hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        let by_name = hello.server_name().and_then(|sni| {
            // An exact name before a wildcard.
            self.certs
                .iter()
                .find(|(names, _)| names.iter().any(|n| n.eq_ignore_ascii_case(sni)))
                .or_else(|| {
                    self.certs
                        .iter()
                        .find(|(names, _)| names.iter().any(|n| covers(n, sni)))
                })
        });
        by_name.or(self.certs.first()).map(|(_, k)| k.clone())
    }
}

/// The acceptor for a listener's TLS settings: its certificates (read now, so that a
/// reload reads them again), versions, suites and ALPN.
pub(super) fn acceptor(t: &BindTls) -> Result<tokio_rustls::TlsAcceptor, String> {
    let mut provider = rustls::crypto::ring::default_provider();
    if !t.suites.is_empty() {
        provider.cipher_suites.retain(|s| {
            s.suite()
                .as_str()
                .is_some_and(|n| t.suites.iter().any(|x| x == n))
        });
    }
    let mut certs = Vec::new();
    for path in &t.crt {
        let (chain, key) = crate::config::tls::load_pem(path)?;
        let end = chain.first().ok_or("no certificate")?;
        let names: Vec<String> = webpki::EndEntityCert::try_from(end)
            .map(|c| c.valid_dns_names().map(String::from).collect())
            .unwrap_or_default();
        let key = provider
            .key_provider
            .load_private_key(key)
            .map_err(|e| format!("`{}`: unusable private key: {e}", path.display()))?;
        certs.push((names, Arc::new(CertifiedKey::new(chain, key))));
    }
    // The versions in range that have a suite left.
    let versions: Vec<&'static rustls::SupportedProtocolVersion> = [
        (12u8, &rustls::version::TLS12),
        (13, &rustls::version::TLS13),
    ]
    .into_iter()
    .filter(|(v, _)| (t.min_version..=t.max_version).contains(v))
    .filter(|(_, pv)| provider.cipher_suites.iter().any(|s| s.version() == *pv))
    .map(|(_, pv)| pv)
    .collect();
    if versions.is_empty() {
        return Err("no TLS version has a cipher suite left".into());
    }
    let mut cfg = rustls::ServerConfig::builder_with_provider(Arc::new(provider))
        .with_protocol_versions(&versions)
        .map_err(|e| format!("TLS settings: {e}"))?
        .with_no_client_auth()
        .with_cert_resolver(Arc::new(ByName { certs }));
    cfg.alpn_protocols = t.alpn.iter().map(|p| p.as_bytes().to_vec()).collect();
    Ok(tokio_rustls::TlsAcceptor::from(Arc::new(cfg)))
}

/// The TLS handshake of a client connection, within the time a request head may take.
pub(super) async fn handshake(
    fe: &FrontendRt,
    stream: tokio::net::TcpStream,
    peer: SocketAddr,
    acceptor: tokio_rustls::TlsAcceptor,
) -> Option<tokio_rustls::server::TlsStream<tokio::net::TcpStream>> {
    let limit = super::http::head_timeout(fe);
    match tokio::time::timeout(limit, acceptor.accept(stream)).await {
        Ok(Ok(s)) => Some(s),
        Ok(Err(e)) => {
            tracing::debug!("{}: TLS handshake with {peer} failed: {e}", fe.cfg.name);
            None
        }
        Err(_) => None,
    }
}

/// A client connection on a TLS listener in `mode http`: the handshake, then HTTP.
pub(super) async fn session(
    shared: &Arc<Shared>,
    fe: &Arc<FrontendRt>,
    stream: tokio::net::TcpStream,
    peer: SocketAddr,
    sess: std::collections::HashMap<String, crate::sample::Value>,
    acceptor: tokio_rustls::TlsAcceptor,
) {
    let local = super::http::local_addr(&stream);
    let Some(tls) = handshake(fe, stream, peer, acceptor).await else {
        return;
    };
    let (_, conn) = tls.get_ref();
    let info = TlsInfo {
        sni: conn.server_name().map(String::from),
        alpn: conn
            .alpn_protocol()
            .map(|p| String::from_utf8_lossy(p).into_owned()),
    };
    let h2 = info.alpn.as_deref() == Some("h2");
    let client = super::http::Client {
        peer,
        local,
        sess,
        tls: Some(info),
    };
    super::http::serve_hyper(shared, fe, hyper_util::rt::TokioIo::new(tls), client, h2).await
}

#[cfg(test)]
mod tests {
    use super::covers;

    #[test]
    fn wildcards_cover_one_label() {
        assert!(covers("*.example.com", "api.example.com"));
        assert!(covers("*.Example.com", "API.example.COM"));
        assert!(!covers("*.example.com", "a.b.example.com"));
        assert!(!covers("*.example.com", "example.com"));
        assert!(covers("example.com", "EXAMPLE.com"));
    }
}
