//! TLS with rustls. Termination on listeners (`bind ... ssl crt ...`): the certificate
//! chosen by the name the client asks for (SNI; the first one otherwise, as HAProxy),
//! ALPN; then HTTP over the decrypted stream (HTTP/2 when ALPN chose it), or in `mode
//! tcp` the bytes to a server. And TLS to servers (`server ... ssl ...`): their
//! certificates verified against the configured authorities and names, SNI, ALPN, a
//! client certificate.

use super::rules::TlsInfo;
use super::state::FrontendRt;
use super::Shared;
use crate::config::{BindTls, ServerTls};
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::{CryptoProvider, WebPkiSupportedAlgorithms};
use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;
use rustls::{CertificateError, DigitallySignedStruct, SignatureScheme};
use rustls_pki_types::{CertificateDer, ServerName, UnixTime};
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use tokio::net::TcpStream;

/// Certificates by the names they are for.
#[derive(Debug)]
struct ByName {
    certs: Vec<Served>,
}

/// A certificate and the names it serves: those it is for, or a `crt-list`'s filters;
/// never those excluded (`!NAME`).
#[derive(Debug)]
struct Served {
    names: Vec<String>,
    excluded: Vec<String>,
    key: Arc<CertifiedKey>,
}

impl Served {
    /// Whether it serves `sni`: by an exact name (`exact`), or by a wildcard.
    fn serves(&self, sni: &str, exact: bool) -> bool {
        !self.excluded.iter().any(|x| x.eq_ignore_ascii_case(sni))
            && self.names.iter().any(|n| match exact {
                true => n.eq_ignore_ascii_case(sni),
                false => covers(n, sni),
            })
    }
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
                .find(|c| c.serves(sni, true))
                .or_else(|| self.certs.iter().find(|c| c.serves(sni, false)))
        });
        by_name.or(self.certs.first()).map(|c| c.key.clone())
    }
}

/// The acceptor for a listener's TLS settings: its certificates (read now, so that a
/// reload reads them again), versions, suites and ALPN.
pub(super) fn acceptor(t: &BindTls) -> Result<tokio_rustls::TlsAcceptor, String> {
    let provider = provider(&t.suites);
    let mut certs = Vec::new();
    for (i, path) in t.crt.iter().enumerate() {
        let (chain, key) = match t.pems.get(i) {
            Some(pem) => crate::config::tls::parse_pem(pem, path)?,
            None => crate::config::tls::load_pem(path)?,
        };
        let end = chain.first().ok_or("no certificate")?;
        let filters = t.sni.get(i).map(Vec::as_slice).unwrap_or_default();
        let (excluded, given): (Vec<&String>, Vec<&String>) =
            filters.iter().partition(|f| f.starts_with('!'));
        let names: Vec<String> = if given.is_empty() {
            webpki::EndEntityCert::try_from(end)
                .map(|c| c.valid_dns_names().map(String::from).collect())
                .unwrap_or_default()
        } else {
            given.into_iter().cloned().collect()
        };
        let key = provider
            .key_provider
            .load_private_key(key)
            .map_err(|e| format!("`{}`: unusable private key: {e}", path.display()))?;
        certs.push(Served {
            names,
            excluded: excluded.iter().map(|x| x[1..].to_string()).collect(),
            key: Arc::new(CertifiedKey::new(chain, key)),
        });
    }
    let versions = versions(&provider, t.min_version, t.max_version)?;
    let provider = Arc::new(provider);
    let builder = rustls::ServerConfig::builder_with_provider(provider.clone())
        .with_protocol_versions(&versions)
        .map_err(|e| format!("TLS settings: {e}"))?;
    let builder = match &t.client {
        None => builder.with_no_client_auth(),
        Some(c) => builder.with_client_cert_verifier(client_verifier(c, provider)?),
    };
    let mut cfg = builder.with_cert_resolver(Arc::new(ByName { certs }));
    cfg.alpn_protocols = t.alpn.iter().map(|p| p.as_bytes().to_vec()).collect();
    Ok(tokio_rustls::TlsAcceptor::from(Arc::new(cfg)))
}

/// How a listener checks its clients' certificates: against `ca-file`, not revoked by
/// `crl-file`; with `verify optional`, a client may send none.
fn client_verifier(
    c: &crate::config::ClientCerts,
    provider: Arc<CryptoProvider>,
) -> Result<Arc<dyn rustls::server::danger::ClientCertVerifier>, String> {
    let ca = &c.ca_file;
    let pem = match &c.ca_pem {
        Some(p) => p.clone(),
        None => crate::config::tls::read_cas(ca)?,
    };
    let mut roots = rustls::RootCertStore::empty();
    for cert in crate::config::tls::parse_cas(&pem, ca)? {
        roots
            .add(cert)
            .map_err(|e| format!("`{}`: unusable authority: {e}", ca.display()))?;
    }
    let mut b =
        rustls::server::WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider);
    if let Some(f) = &c.crl_file {
        let pem = match &c.crl_pem {
            Some(p) => p.clone(),
            None => crate::config::tls::read_crls(f)?,
        };
        b = b.with_crls(crate::config::tls::parse_crls(&pem, f)?);
    }
    if !c.required {
        b = b.allow_unauthenticated();
    }
    b.build().map_err(|e| format!("`{}`: {e}", ca.display()))
}

/// The crypto provider with only the allowed suites (all of rustls's when none is named).
fn provider(suites: &[String]) -> CryptoProvider {
    let mut provider = rustls::crypto::ring::default_provider();
    if !suites.is_empty() {
        provider.cipher_suites.retain(|s| {
            s.suite()
                .as_str()
                .is_some_and(|n| suites.iter().any(|x| x == n))
        });
    }
    provider
}

/// The TLS versions in range that have a suite left.
fn versions(
    provider: &CryptoProvider,
    min: u8,
    max: u8,
) -> Result<Vec<&'static rustls::SupportedProtocolVersion>, String> {
    let versions: Vec<_> = [
        (12u8, &rustls::version::TLS12),
        (13, &rustls::version::TLS13),
    ]
    .into_iter()
    .filter(|(v, _)| (min..=max).contains(v))
    .filter(|(_, pv)| provider.cipher_suites.iter().any(|s| s.version() == *pv))
    .map(|(_, pv)| pv)
    .collect();
    if versions.is_empty() {
        return Err("no TLS version has a cipher suite left".into());
    }
    Ok(versions)
}

/// How a server's certificate is judged: not at all (`verify none`), or its chain
/// against the configured authorities and, when there is a name to check (the SNI
/// sent, else `verifyhost`), that name. Without a name, the certificate's names are
/// not looked at, as HAProxy does.
#[derive(Debug)]
struct Judge {
    chain: Option<Arc<rustls::client::WebPkiServerVerifier>>,
    algs: WebPkiSupportedAlgorithms,
}

impl ServerCertVerifier for Judge {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        name: &ServerName<'_>,
        ocsp: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        let Some(chain) = &self.chain else {
            return Ok(ServerCertVerified::assertion());
        };
        match chain.verify_server_cert(end_entity, intermediates, name, ocsp, now) {
            // An address stands for "no name to check" (see `Upstream::name`).
            Err(rustls::Error::InvalidCertificate(
                CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. },
            )) if matches!(name, ServerName::IpAddress(_)) => Ok(ServerCertVerified::assertion()),
            r => r,
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(message, cert, dss, &self.algs)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(message, cert, dss, &self.algs)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.algs.supported_schemes()
    }
}

/// TLS to one server, for its traffic or its checks.
pub struct Upstream {
    connector: tokio_rustls::TlsConnector,
    /// The name when none is sent by SNI: `verifyhost`, else the server's address
    /// (which the judge takes as "no name to check").
    fallback: ServerName<'static>,
}

impl std::fmt::Debug for Upstream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Upstream")
            .field("fallback", &self.fallback)
            .finish()
    }
}

impl Upstream {
    /// The connector for a server's settings (its authorities and client certificate
    /// read now, so that a reload reads them again). `alpn` and `sni` are those of the
    /// traffic or of the checks.
    pub fn new(
        t: &ServerTls,
        addr: IpAddr,
        alpn: &[String],
        sni: bool,
    ) -> Result<Upstream, String> {
        let provider = Arc::new(provider(&t.suites));
        let versions = versions(&provider, t.min_version, t.max_version)?;
        let chain = match (&t.ca_file, t.verify) {
            (Some(f), true) => {
                let mut roots = rustls::RootCertStore::empty();
                let pem = match &t.ca_pem {
                    Some(p) => p.clone(),
                    None => crate::config::tls::read_cas(f)?,
                };
                for c in crate::config::tls::parse_cas(&pem, f)? {
                    roots
                        .add(c)
                        .map_err(|e| format!("`{}`: unusable authority: {e}", f.display()))?;
                }
                let v = rustls::client::WebPkiServerVerifier::builder_with_provider(
                    Arc::new(roots),
                    provider.clone(),
                )
                .build()
                .map_err(|e| format!("`{}`: {e}", f.display()))?;
                Some(v)
            }
            (None, true) => return Err("verify required without a ca-file".into()),
            (_, false) => None,
        };
        let judge = Arc::new(Judge {
            chain,
            algs: provider.signature_verification_algorithms,
        });
        let builder = rustls::ClientConfig::builder_with_provider(provider.clone())
            .with_protocol_versions(&versions)
            .map_err(|e| format!("TLS settings: {e}"))?
            .dangerous()
            .with_custom_certificate_verifier(judge);
        let mut cfg = match &t.crt {
            Some(path) => {
                let (chain, key) = match &t.crt_pem {
                    Some(pem) => crate::config::tls::parse_pem(pem, path)?,
                    None => crate::config::tls::load_pem(path)?,
                };
                builder
                    .with_client_auth_cert(chain, key)
                    .map_err(|e| format!("`{}`: {e}", path.display()))?
            }
            None => builder.with_no_client_auth(),
        };
        cfg.alpn_protocols = alpn.iter().map(|p| p.as_bytes().to_vec()).collect();
        // SNI only when configured: HAProxy sends none otherwise.
        cfg.enable_sni = sni;
        let fallback = match &t.verifyhost {
            Some(h) => ServerName::try_from(h.clone())
                .map_err(|_| format!("verifyhost `{h}` is not a host name"))?,
            None => ServerName::IpAddress(addr.into()),
        };
        Ok(Upstream {
            connector: tokio_rustls::TlsConnector::from(Arc::new(cfg)),
            fallback,
        })
    }

    /// The handshake over a connection made to the server, sending `sni` when given
    /// (and checking the certificate is for it).
    pub async fn connect(
        &self,
        tcp: TcpStream,
        sni: Option<&str>,
    ) -> std::io::Result<tokio_rustls::client::TlsStream<TcpStream>> {
        let name = sni
            .filter(|s| !s.is_empty())
            .and_then(|s| ServerName::try_from(s.to_string()).ok())
            .unwrap_or_else(|| self.fallback.clone());
        self.connector.connect(name, tcp).await
    }
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
    sess: super::rules::Session,
    acceptor: tokio_rustls::TlsAcceptor,
) {
    let local = sess
        .addrs()
        .dst
        .unwrap_or_else(|| super::http::local_addr(&stream));
    let Some(tls) = handshake(fe, stream, peer, acceptor).await else {
        return;
    };
    let (_, conn) = tls.get_ref();
    let info = TlsInfo {
        sni: conn.server_name().map(String::from),
        alpn: conn
            .alpn_protocol()
            .map(|p| String::from_utf8_lossy(p).into_owned()),
        client_cert: conn
            .peer_certificates()
            .and_then(|c| c.first())
            .map(|c| Arc::new(c.to_vec())),
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

/// What an `ssl_c_*` fetch reads of the client's certificate (`der`, if it sent one).
pub(super) fn client_cert_sample(
    der: Option<&[u8]>,
    c: &crate::sample::ClientCert,
) -> Option<crate::sample::Value> {
    use crate::sample::{ClientCert, Value};
    use sha1::Digest;
    match (c, der) {
        (ClientCert::Used, d) => return Some(Value::Bool(d.is_some())),
        (ClientCert::Verify, _) => return Some(Value::Int(0)),
        (ClientCert::Der, Some(d)) => return Some(Value::Bin(d.to_vec())),
        (ClientCert::Sha1, Some(d)) => return Some(Value::Bin(sha1::Sha1::digest(d).to_vec())),
        (_, None) => return None,
        _ => {}
    }
    let (_, cert) = x509_parser::parse_x509_certificate(der?).ok()?;
    Some(match c {
        ClientCert::Serial => Value::Bin(cert.raw_serial().to_vec()),
        ClientCert::NotBefore => Value::Str(asn1_time(&cert.validity().not_before)),
        ClientCert::NotAfter => Value::Str(asn1_time(&cert.validity().not_after)),
        ClientCert::Version => Value::Int(i64::from(cert.version().0) + 1),
        ClientCert::Dn {
            issuer,
            entry,
            occ,
            rfc2253,
        } => {
            let name = if *issuer {
                cert.issuer()
            } else {
                cert.subject()
            };
            let registry = x509_parser::objects::oid_registry();
            let parts: Vec<(String, String)> = name
                .iter_attributes()
                .map(|a| {
                    let short = x509_parser::objects::oid2abbrev(a.attr_type(), registry)
                        .map(String::from)
                        .unwrap_or_else(|_| a.attr_type().to_id_string());
                    let value = a
                        .as_str()
                        .map(String::from)
                        .unwrap_or_else(|_| String::from_utf8_lossy(a.as_slice()).into_owned());
                    (short, value)
                })
                .collect();
            match entry {
                Some(e) => {
                    let found: Vec<&String> = parts
                        .iter()
                        .filter(|(k, _)| k.eq_ignore_ascii_case(e))
                        .map(|(_, v)| v)
                        .collect();
                    let i = if *occ > 0 {
                        usize::try_from(*occ - 1).ok()?
                    } else {
                        found.len().checked_sub(occ.unsigned_abs() as usize)?
                    };
                    Value::Str(found.get(i)?.to_string())
                }
                None if *rfc2253 => Value::Str(
                    parts
                        .iter()
                        .rev()
                        .map(|(k, v)| format!("{k}={v}"))
                        .collect::<Vec<_>>()
                        .join(","),
                ),
                None => Value::Str(parts.iter().map(|(k, v)| format!("/{k}={v}")).collect()),
            }
        }
        _ => return None,
    })
}

/// A certificate's date as OpenSSL's ASN.1 UTCTime writes it (`YYMMDDhhmmssZ`).
fn asn1_time(t: &x509_parser::time::ASN1Time) -> String {
    let d = t.to_datetime();
    format!(
        "{:02}{:02}{:02}{:02}{:02}{:02}Z",
        d.year().rem_euclid(100),
        u8::from(d.month()),
        d.day(),
        d.hour(),
        d.minute(),
        d.second()
    )
}

#[cfg(test)]
mod tests {
    use super::covers;

    #[test]
    fn client_certificate_names_by_occurrence_never_panic() {
        use crate::sample::{ClientCert, Value};
        let key = rcgen::KeyPair::generate().expect("key");
        let mut p = rcgen::CertificateParams::new(vec!["a.test".to_string()]).expect("params");
        p.distinguished_name = rcgen::DistinguishedName::new();
        p.distinguished_name
            .push(rcgen::DnType::CommonName, "alice");
        let der = p.self_signed(&key).expect("cert").der().to_vec();
        let dn = |occ: i32| ClientCert::Dn {
            issuer: false,
            entry: Some("CN".into()),
            occ,
            rfc2253: false,
        };
        let get = |occ| super::client_cert_sample(Some(&der), &dn(occ));
        assert_eq!(get(1), Some(Value::Str("alice".into())));
        assert_eq!(get(-1), Some(Value::Str("alice".into())));
        assert_eq!(get(2), None);
        assert_eq!(get(i32::MIN), None);
        assert_eq!(get(i32::MAX), None);
    }

    #[test]
    fn wildcards_cover_one_label() {
        assert!(covers("*.example.com", "api.example.com"));
        assert!(covers("*.Example.com", "API.example.COM"));
        assert!(!covers("*.example.com", "a.b.example.com"));
        assert!(!covers("*.example.com", "example.com"));
        assert!(covers("example.com", "EXAMPLE.com"));
    }
}
