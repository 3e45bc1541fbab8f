//! The remote API's transport: HTTPS on a TCP address (pcsd's port 2224 by default).
//!
//! The certificate is the operator's (`--api-cert`/`--api-key`) or, by default, the
//! node's own: its key is made once at first start (`STATE_DIR/api-key.pem`) and kept,
//! so clients that pinned it (`halo cluster auth` pins the key) keep trusting it; its
//! certificate (`STATE_DIR/api-cert.pem`) is self-signed until the node is a member,
//! then issued by the cluster CA and reissued before it expires or when the cluster
//! moves to a new CA (`curl --cacert STATE_DIR/tls/ca.pem https://NODE:2224/...`
//! verifies it). TLS handshakes run in tasks of their own: a slow or silent client
//! never holds up the others.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};
use std::time::Duration;

use halo_consensus::ClusterNode;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;
use tokio_rustls::server::TlsStream;
use tokio_rustls::TlsAcceptor;

use crate::server::DaemonError;

/// The remote API's default address, pcsd's.
pub const DEFAULT_ADDR: &str = "[::]:2224";
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// Where the remote API listens and with which certificate.
#[derive(Debug, Clone)]
pub struct RemoteOptions {
    pub addr: SocketAddr,
    /// Operator-provided certificate chain and key (PEM); else the node's own.
    pub cert: Option<(PathBuf, PathBuf)>,
}

fn tls_err(what: impl std::fmt::Display) -> DaemonError {
    DaemonError::Tls(what.to_string())
}

/// The node's own API certificate and key (PEM), made on first use.
pub fn own_certificate(state_dir: &Path, node_name: &str) -> Result<(String, String), DaemonError> {
    let (cert_path, key_path) = (
        state_dir.join("api-cert.pem"),
        state_dir.join("api-key.pem"),
    );
    if let (Ok(c), Ok(k)) = (
        std::fs::read_to_string(&cert_path),
        std::fs::read_to_string(&key_path),
    ) {
        return Ok((c, k));
    }
    let key = rcgen::KeyPair::generate().map_err(tls_err)?;
    let mut names = vec![node_name.to_string(), "localhost".to_string()];
    if let Ok(h) = nix::unistd::gethostname() {
        if let Some(h) = h.to_str().filter(|h| !h.is_empty() && *h != node_name) {
            names.push(h.to_string());
        }
    }
    let mut params = rcgen::CertificateParams::new(names).map_err(tls_err)?;
    for ip in ["127.0.0.1", "::1"] {
        if let Ok(ip) = ip.parse() {
            params.subject_alt_names.push(rcgen::SanType::IpAddress(ip));
        }
    }
    let mut dn = rcgen::DistinguishedName::new();
    dn.push(rcgen::DnType::CommonName, format!("halo API {node_name}"));
    params.distinguished_name = dn;
    params.not_before = rcgen::date_time_ymd(2024, 1, 1);
    params.not_after = rcgen::date_time_ymd(2124, 1, 1);
    let cert = params.self_signed(&key).map_err(tls_err)?;
    let (c, k) = (cert.pem(), key.serialize_pem());
    halo_consensus::node::write_private(&key_path, k.as_bytes()).map_err(tls_err)?;
    std::fs::write(&cert_path, &c).map_err(|e| tls_err(format!("{}: {e}", cert_path.display())))?;
    Ok((c, k))
}

/// The certificate the remote API presents; replaced while it runs when the node's own
/// is reissued.
#[derive(Debug)]
pub struct ApiCert(RwLock<Arc<CertifiedKey>>);

fn certified_key(cert_pem: &str, key_pem: &str) -> Result<Arc<CertifiedKey>, DaemonError> {
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_slice_iter(cert_pem.as_bytes())
        .collect::<Result<_, _>>()
        .map_err(|e| tls_err(format!("certificate: {e}")))?;
    if certs.is_empty() {
        return Err(tls_err("the certificate file holds no certificate"));
    }
    let key = PrivateKeyDer::from_pem_slice(key_pem.as_bytes())
        .map_err(|e| tls_err(format!("key: {e}")))?;
    let key = halo_consensus::pki::provider()
        .key_provider
        .load_private_key(key)
        .map_err(|e| tls_err(format!("key: {e}")))?;
    let ck = CertifiedKey::new(certs, key);
    ck.keys_match()
        .map_err(|e| tls_err(format!("the key is not the certificate's: {e}")))?;
    Ok(Arc::new(ck))
}

impl ApiCert {
    pub fn new(cert_pem: &str, key_pem: &str) -> Result<Arc<ApiCert>, DaemonError> {
        Ok(Arc::new(ApiCert(RwLock::new(certified_key(
            cert_pem, key_pem,
        )?))))
    }

    /// Present this certificate from the next handshake on.
    pub fn set(&self, cert_pem: &str, key_pem: &str) -> Result<(), DaemonError> {
        let ck = certified_key(cert_pem, key_pem)?;
        match self.0.write() {
            Ok(mut g) => *g = ck,
            Err(e) => *e.into_inner() = ck,
        }
        Ok(())
    }
}

impl ResolvesServerCert for ApiCert {
    fn resolve(&self, _hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        Some(match self.0.read() {
            Ok(g) => g.clone(),
            Err(e) => e.into_inner().clone(),
        })
    }
}

/// The TLS acceptor presenting `cert`.
pub fn acceptor(cert: Arc<ApiCert>) -> Result<TlsAcceptor, DaemonError> {
    let mut cfg = rustls::ServerConfig::builder_with_provider(halo_consensus::pki::provider())
        .with_safe_default_protocol_versions()
        .map_err(tls_err)?
        .with_no_client_auth()
        .with_cert_resolver(cert);
    cfg.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(TlsAcceptor::from(Arc::new(cfg)))
}

/// How often the node looks whether its own API certificate needs the cluster CA.
const API_CERT_CHECK: Duration = Duration::from_secs(2);

/// Keep the node's own API certificate one of the cluster CA's: issued once the node
/// is a member, reissued before it expires and when the cluster moves to a new CA;
/// written to `STATE_DIR/api-cert.pem` and presented from the next handshake on.
pub async fn keep_api_cert(node: ClusterNode, state_dir: PathBuf, cert: Arc<ApiCert>) {
    let cert_path = state_dir.join("api-cert.pem");
    let mut last_error = None;
    loop {
        tokio::time::sleep(API_CERT_CHECK).await;
        let (Ok(current), Ok(key)) = (
            std::fs::read_to_string(&cert_path),
            std::fs::read_to_string(state_dir.join("api-key.pem")),
        ) else {
            continue;
        };
        match node.issue_api_cert(&key, &current).await {
            Ok(None) => last_error = None,
            Ok(Some(chain)) => {
                let written = std::fs::write(&cert_path, &chain)
                    .map_err(|e| tls_err(format!("{}: {e}", cert_path.display())));
                match written.and_then(|()| cert.set(&chain, &key)) {
                    Ok(()) => tracing::info!(
                        certificate = %halo_consensus::pki::fingerprint_pem(&chain).unwrap_or_default(),
                        "the remote API presents a certificate of the cluster CA (same key)"
                    ),
                    Err(e) => tracing::warn!("remote API certificate: {e}"),
                }
            }
            Err(e) => {
                let e = e.to_string();
                if last_error.as_ref() != Some(&e) {
                    tracing::debug!("remote API certificate not issued yet: {e}");
                }
                last_error = Some(e);
            }
        }
    }
}

/// A listener that hands out connections whose TLS handshake succeeded.
pub struct TlsListener {
    rx: mpsc::Receiver<(TlsStream<TcpStream>, SocketAddr)>,
    local: SocketAddr,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for TlsListener {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl TlsListener {
    pub fn new(tcp: TcpListener, acceptor: TlsAcceptor) -> std::io::Result<TlsListener> {
        let local = tcp.local_addr()?;
        let (tx, rx) = mpsc::channel(64);
        let task = tokio::spawn(async move {
            loop {
                let (stream, from) = match tcp.accept().await {
                    Ok(x) => x,
                    Err(e) => {
                        tracing::warn!(error = %e, "remote API: accept failed");
                        tokio::time::sleep(Duration::from_millis(50)).await;
                        continue;
                    }
                };
                let (acceptor, tx) = (acceptor.clone(), tx.clone());
                tokio::spawn(async move {
                    match tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(stream)).await {
                        Ok(Ok(tls)) => {
                            let _ = tx.send((tls, from)).await;
                        }
                        Ok(Err(e)) => {
                            tracing::debug!(peer = %from, error = %e, "remote API: TLS handshake failed")
                        }
                        Err(_) => {
                            tracing::debug!(peer = %from, "remote API: TLS handshake timed out")
                        }
                    }
                });
            }
        });
        Ok(TlsListener { rx, local, task })
    }
}

impl axum::serve::Listener for TlsListener {
    type Io = TlsStream<TcpStream>;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        match self.rx.recv().await {
            Some(c) => c,
            // The accepting task ended (aborted at shutdown): accept nothing more.
            None => std::future::pending().await,
        }
    }

    fn local_addr(&self) -> std::io::Result<SocketAddr> {
        Ok(self.local)
    }
}
