//! The cluster CA, node certificates, join tokens and the rustls configurations.
//!
//! One crypto provider only: rustls' `ring` provider, passed explicitly to every config
//! builder (no process-wide default is relied upon).

use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::Engine;
use rcgen::{
    BasicConstraints, CertificateParams, CertificateSigningRequestParams, DistinguishedName,
    DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair, KeyUsagePurpose, SanType,
};
use ring::digest;
use ring::rand::{SecureRandom, SystemRandom};
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};
use rustls::server::danger::{ClientCertVerified, ClientCertVerifier};
use rustls::server::WebPkiClientVerifier;
use rustls::{
    ClientConfig, DigitallySignedStruct, DistinguishedName as TlsDistinguishedName, RootCertStore,
    ServerConfig, SignatureScheme,
};

use crate::error::{Error, Result};

/// The DNS name every node certificate carries besides its own name; joiners, which do not
/// know the peer's node name yet, verify the peer under it.
pub const GENERIC_NODE_NAME: &str = "halo-node";
const TOKEN_PREFIX: &str = "halo1-";
/// How long a node certificate is valid by default (it is renewed well before).
pub const DEFAULT_NODE_VALIDITY: Duration = Duration::from_secs(365 * 24 * 3600);
/// How long the cluster CA is valid.
pub const CA_VALIDITY: Duration = Duration::from_secs(10 * 365 * 24 * 3600);
/// How far back a certificate's `not_before` is set, so that a peer whose clock is a
/// little behind accepts it at once.
const CLOCK_SKEW: Duration = Duration::from_secs(300);

/// The one crypto provider halo uses.
pub fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// Install the ring provider as the process default, once (for libraries that ask for
/// the default). Our own configs always pass [`provider`] explicitly.
pub fn install_default_provider() {
    let _ = rustls::crypto::ring::default_provider().install_default();
}

/// Check a node name: 1 to 63 characters, letters, digits, `-` and `.`, starting with a
/// letter or digit (it becomes a DNS name in the node's certificate).
pub fn check_node_name(name: &str) -> Result<()> {
    let ok = !name.is_empty()
        && name.len() <= 63
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '.')
        && name
            .chars()
            .next()
            .is_some_and(|c| c.is_ascii_alphanumeric())
        && !name.ends_with('.')
        && !name.ends_with('-')
        && name != GENERIC_NODE_NAME;
    if ok {
        Ok(())
    } else {
        Err(Error::BadName(name.to_string()))
    }
}

/// SHA-256 of a DER blob, lowercase hex.
pub fn sha256_hex(data: &[u8]) -> String {
    hex(digest::digest(&digest::SHA256, data).as_ref())
}

pub fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

/// Lowercase or uppercase hex to bytes; None when it is not hex.
pub fn unhex(s: &str) -> Option<Vec<u8>> {
    if !s.len().is_multiple_of(2) {
        return None;
    }
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(s.get(i..i + 2)?, 16).ok())
        .collect()
}

/// `N` random bytes from the system's generator.
pub fn random_bytes<const N: usize>() -> Result<[u8; N]> {
    let mut b = [0u8; N];
    SystemRandom::new()
        .fill(&mut b)
        .map_err(|_| Error::Tls("no random numbers".into()))?;
    Ok(b)
}

fn tls_err(what: &str) -> impl FnOnce(rcgen::Error) -> Error + '_ {
    move |e| Error::Tls(format!("{what}: {e}"))
}

/// First certificate in a PEM text, as DER.
pub fn cert_der(pem: &str) -> Result<CertificateDer<'static>> {
    CertificateDer::from_pem_slice(pem.as_bytes())
        .map_err(|e| Error::Tls(format!("bad certificate PEM: {e}")))
}

/// SHA-256 fingerprint (lowercase hex) of the first certificate in a PEM text.
pub fn fingerprint_pem(pem: &str) -> Result<String> {
    Ok(sha256_hex(cert_der(pem)?.as_ref()))
}

/// Every certificate in a PEM text, as DER.
pub fn certs_der(pem: &str) -> Result<Vec<CertificateDer<'static>>> {
    CertificateDer::pem_slice_iter(pem.as_bytes())
        .map(|c| c.map_err(|e| Error::Tls(format!("bad certificate PEM: {e}"))))
        .collect()
}

/// The SHA-256 fingerprints of every certificate in a PEM text.
pub fn fingerprints_pem(pem: &str) -> Result<Vec<String>> {
    Ok(certs_der(pem)?
        .iter()
        .map(|c| sha256_hex(c.as_ref()))
        .collect())
}

/// Which of the CAs in `cas_pem` issued the certificate `cert_pem` for `name`: its
/// fingerprint, or `None` when none did (or the certificate is not valid now).
pub fn issuer_of(cert_pem: &str, cas_pem: &str, name: &str) -> Result<Option<String>> {
    let leaf = cert_der(cert_pem)?;
    let server = ServerName::try_from(name.to_string())
        .map_err(|e| Error::Tls(format!("node name {name}: {e}")))?;
    for ca in certs_der(cas_pem)? {
        let fp = sha256_hex(ca.as_ref());
        let mut roots = RootCertStore::empty();
        if roots.add(ca).is_err() {
            continue;
        }
        let verifier = rustls::client::WebPkiServerVerifier::builder_with_provider(
            Arc::new(roots),
            provider(),
        )
        .build()
        .map_err(|e| Error::Tls(format!("server verifier: {e}")))?;
        if verifier
            .verify_server_cert(&leaf, &[], &server, &[], UnixTime::now())
            .is_ok()
        {
            return Ok(Some(fp));
        }
    }
    Ok(None)
}

/// Whether `key_pem` is the private key of the certificate `cert_pem`.
pub fn key_matches(cert_pem: &str, key_pem: &str) -> bool {
    use rcgen::PublicKeyData;
    use x509_parser::prelude::FromDer;
    let (Ok(der), Ok(key)) = (cert_der(cert_pem), KeyPair::from_pem(key_pem)) else {
        return false;
    };
    x509_parser::certificate::X509Certificate::from_der(der.as_ref())
        .is_ok_and(|(_, c)| c.tbs_certificate.subject_pki.raw == key.subject_public_key_info())
}

fn offset_time(t: SystemTime) -> time::OffsetDateTime {
    time::OffsetDateTime::from(t)
}

/// Set a certificate's validity: from a little before now for `valid_for`.
fn set_validity(params: &mut CertificateParams, valid_for: Duration) {
    let now = SystemTime::now();
    params.not_before = offset_time(now.checked_sub(CLOCK_SKEW).unwrap_or(now));
    params.not_after = offset_time(now + valid_for);
}

/// The validity of a DER certificate: (`not_before`, `not_after`), milliseconds since
/// the Unix epoch.
pub fn cert_validity_ms(der: &[u8]) -> Option<(u64, u64)> {
    use x509_parser::prelude::FromDer;
    let (_, cert) = x509_parser::certificate::X509Certificate::from_der(der).ok()?;
    let ms = |t: i64| u64::try_from(t).ok().map(|s| s.saturating_mul(1000));
    Some((
        ms(cert.validity().not_before.timestamp())?,
        ms(cert.validity().not_after.timestamp())?,
    ))
}

/// `not_after` of the first certificate in a PEM text, milliseconds since the Unix epoch.
pub fn not_after_pem(pem: &str) -> Result<u64> {
    cert_validity_ms(cert_der(pem)?.as_ref())
        .map(|(_, na)| na)
        .ok_or_else(|| Error::Tls("certificate without a readable validity".into()))
}

/// Now, in milliseconds since the Unix epoch (the wall clock TLS checks validity by).
pub fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

/// When `der` expired, if it had at `now_ms`: its `not_after` (milliseconds).
pub fn expired_at(der: &[u8], now_ms: u64) -> Option<u64> {
    cert_validity_ms(der).and_then(|(_, na)| (na <= now_ms).then_some(na))
}

/// A new cluster CA: (certificate PEM, key PEM, fingerprint), valid ten years.
pub fn generate_ca(cluster: &str) -> Result<(String, String, String)> {
    let key = KeyPair::generate().map_err(tls_err("generate CA key"))?;
    let mut params = CertificateParams::default();
    let mut dn = DistinguishedName::new();
    dn.push(DnType::CommonName, format!("halo cluster CA {cluster}"));
    // Two CAs of one cluster (while it moves to a new one) differ by name too.
    dn.push(
        DnType::OrganizationalUnitName,
        format!("made {}", crate::state::fmt_time(now_ms())),
    );
    params.distinguished_name = dn;
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    params.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::CrlSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    set_validity(&mut params, CA_VALIDITY);
    let cert = params.self_signed(&key).map_err(tls_err("self-sign CA"))?;
    let fp = sha256_hex(cert.der().as_ref());
    Ok((cert.pem(), key.serialize_pem(), fp))
}

fn node_params(name: &str) -> Result<CertificateParams> {
    check_node_name(name)?;
    let mut params = CertificateParams::default();
    let mut dn = DistinguishedName::new();
    dn.push(DnType::CommonName, name);
    params.distinguished_name = dn;
    params.subject_alt_names = vec![
        SanType::DnsName(name.try_into().map_err(tls_err("node name"))?),
        SanType::DnsName(GENERIC_NODE_NAME.try_into().map_err(tls_err("node name"))?),
    ];
    params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
    params.extended_key_usages = vec![
        ExtendedKeyUsagePurpose::ServerAuth,
        ExtendedKeyUsagePurpose::ClientAuth,
    ];
    Ok(params)
}

/// The parameters of a node's remote API certificate: a TLS server only, for the node's
/// name and the addresses the cluster records for it.
fn api_params(name: &str, ips: &[std::net::IpAddr]) -> Result<CertificateParams> {
    check_node_name(name)?;
    let mut params = CertificateParams::default();
    let mut dn = DistinguishedName::new();
    dn.push(DnType::CommonName, format!("halo API {name}"));
    params.distinguished_name = dn;
    params.subject_alt_names = vec![SanType::DnsName(
        name.try_into().map_err(tls_err("node name"))?,
    )];
    params
        .subject_alt_names
        .extend(ips.iter().map(|ip| SanType::IpAddress(*ip)));
    params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
    params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
    Ok(params)
}

/// A certificate signing request for `name`'s remote API with its existing key (the API
/// key is kept for good: clients pin it).
pub fn api_csr(name: &str, key_pem: &str) -> Result<String> {
    let key = KeyPair::from_pem(key_pem).map_err(tls_err("API key"))?;
    api_params(name, &[])?
        .serialize_request(&key)
        .map_err(tls_err("make CSR"))?
        .pem()
        .map_err(tls_err("CSR PEM"))
}

/// Sign a node's remote API CSR with the cluster CA: the names come from the cluster's
/// records, never from the request.
pub fn sign_api_csr(
    ca_cert_pem: &str,
    ca_key_pem: &str,
    csr_pem: &str,
    name: &str,
    ips: &[std::net::IpAddr],
    valid_for: Duration,
) -> Result<String> {
    let mut params = api_params(name, ips)?;
    set_validity(&mut params, valid_for);
    sign_with(ca_cert_pem, ca_key_pem, csr_pem, params)
}

/// SHA-256 (lowercase hex) of a DER certificate's public key (its SubjectPublicKeyInfo):
/// what stays when a certificate is reissued for the same key.
pub fn key_sha256(der: &[u8]) -> Option<String> {
    use x509_parser::prelude::FromDer;
    let (_, cert) = x509_parser::certificate::X509Certificate::from_der(der).ok()?;
    Some(sha256_hex(cert.tbs_certificate.subject_pki.raw))
}

/// A new node key and a certificate signing request for `name`: (key PEM, CSR PEM).
pub fn node_csr(name: &str) -> Result<(String, String)> {
    let key = KeyPair::generate().map_err(tls_err("generate node key"))?;
    let csr = node_params(name)?
        .serialize_request(&key)
        .map_err(tls_err("make CSR"))?;
    Ok((key.serialize_pem(), csr.pem().map_err(tls_err("CSR PEM"))?))
}

/// Sign a node's CSR with the cluster CA, valid one year. The name comes from the
/// cluster's records, never from the request itself.
pub fn sign_csr(ca_cert_pem: &str, ca_key_pem: &str, csr_pem: &str, name: &str) -> Result<String> {
    sign_csr_for(
        ca_cert_pem,
        ca_key_pem,
        csr_pem,
        name,
        DEFAULT_NODE_VALIDITY,
    )
}

/// Sign a node's CSR with the cluster CA, valid from now for `valid_for`.
pub fn sign_csr_for(
    ca_cert_pem: &str,
    ca_key_pem: &str,
    csr_pem: &str,
    name: &str,
    valid_for: Duration,
) -> Result<String> {
    let mut params = node_params(name)?;
    set_validity(&mut params, valid_for);
    sign_with(ca_cert_pem, ca_key_pem, csr_pem, params)
}

/// Sign a node's CSR with the cluster CA for an explicit validity (tests make expired
/// certificates this way).
pub fn sign_csr_between(
    ca_cert_pem: &str,
    ca_key_pem: &str,
    csr_pem: &str,
    name: &str,
    not_before: SystemTime,
    not_after: SystemTime,
) -> Result<String> {
    let mut params = node_params(name)?;
    params.not_before = offset_time(not_before);
    params.not_after = offset_time(not_after);
    sign_with(ca_cert_pem, ca_key_pem, csr_pem, params)
}

fn sign_with(
    ca_cert_pem: &str,
    ca_key_pem: &str,
    csr_pem: &str,
    params: CertificateParams,
) -> Result<String> {
    let ca_key = KeyPair::from_pem(ca_key_pem).map_err(tls_err("CA key"))?;
    let issuer = Issuer::from_ca_cert_pem(ca_cert_pem, ca_key).map_err(tls_err("CA cert"))?;
    let csr = CertificateSigningRequestParams::from_pem(csr_pem).map_err(tls_err("CSR"))?;
    let cert = params
        .signed_by(&csr.public_key, &issuer)
        .map_err(tls_err("sign"))?;
    Ok(cert.pem())
}

/// Key and certificate for `name` made directly by the CA holder, valid one year:
/// (cert PEM, key PEM).
pub fn issue_node_cert(
    ca_cert_pem: &str,
    ca_key_pem: &str,
    name: &str,
) -> Result<(String, String)> {
    issue_node_cert_for(ca_cert_pem, ca_key_pem, name, DEFAULT_NODE_VALIDITY)
}

/// Key and certificate for `name` made directly by the CA holder, valid for `valid_for`.
pub fn issue_node_cert_for(
    ca_cert_pem: &str,
    ca_key_pem: &str,
    name: &str,
    valid_for: Duration,
) -> Result<(String, String)> {
    let (key, csr) = node_csr(name)?;
    Ok((
        sign_csr_for(ca_cert_pem, ca_key_pem, &csr, name, valid_for)?,
        key,
    ))
}

/// The common name of a DER certificate (the node name for halo node certificates).
pub fn cert_common_name(der: &[u8]) -> Option<String> {
    use x509_parser::prelude::FromDer;
    let (_, cert) = x509_parser::certificate::X509Certificate::from_der(der).ok()?;
    let cn = cert.subject().iter_common_name().next()?;
    cn.as_str().ok().map(str::to_string)
}

/// A join token: which record, the secret, and the CA the joiner must find at the peer.
#[derive(Clone, PartialEq, Eq)]
pub struct JoinToken {
    pub id: String,
    pub secret: [u8; 32],
    pub ca_fingerprint: String,
}

impl std::fmt::Debug for JoinToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "JoinToken({}, ca {})", self.id, self.ca_fingerprint)
    }
}

impl JoinToken {
    /// A new random token for the CA with this fingerprint.
    pub fn generate(ca_fingerprint: &str) -> Result<JoinToken> {
        Ok(JoinToken {
            id: hex(&random_bytes::<8>()?),
            secret: random_bytes::<32>()?,
            ca_fingerprint: ca_fingerprint.to_string(),
        })
    }

    /// SHA-256 of the secret, as the cluster stores it.
    pub fn secret_hash(&self) -> String {
        sha256_hex(&self.secret)
    }

    /// The text users copy: `halo1-` followed by base64url(id ‖ secret ‖ CA fingerprint).
    pub fn encode(&self) -> String {
        let mut raw = Vec::with_capacity(72);
        raw.extend(unhex(&self.id).unwrap_or_default());
        raw.extend(self.secret);
        raw.extend(unhex(&self.ca_fingerprint).unwrap_or_default());
        format!(
            "{TOKEN_PREFIX}{}",
            base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(raw)
        )
    }

    /// Parse a token given on the command line.
    pub fn decode(text: &str) -> Result<JoinToken> {
        let bad = |why: &str| Error::BadToken(why.to_string());
        let body = text
            .trim()
            .strip_prefix(TOKEN_PREFIX)
            .ok_or_else(|| bad("it does not start with `halo1-`"))?;
        let raw = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(body)
            .map_err(|_| bad("it is not valid base64url"))?;
        if raw.len() != 8 + 32 + 32 {
            return Err(bad("it has the wrong length"));
        }
        let mut secret = [0u8; 32];
        secret.copy_from_slice(&raw[8..40]);
        Ok(JoinToken {
            id: hex(&raw[..8]),
            secret,
            ca_fingerprint: hex(&raw[40..]),
        })
    }
}

/// A handshake signature checked with `provider`'s algorithms (TLS 1.2), as every
/// verifier of halo's own does once it has decided about the certificate.
pub fn check_tls12(
    provider: &CryptoProvider,
    message: &[u8],
    cert: &CertificateDer<'_>,
    dss: &DigitallySignedStruct,
) -> std::result::Result<HandshakeSignatureValid, rustls::Error> {
    rustls::crypto::verify_tls12_signature(
        message,
        cert,
        dss,
        &provider.signature_verification_algorithms,
    )
}

/// The same for TLS 1.3.
pub fn check_tls13(
    provider: &CryptoProvider,
    message: &[u8],
    cert: &CertificateDer<'_>,
    dss: &DigitallySignedStruct,
) -> std::result::Result<HandshakeSignatureValid, rustls::Error> {
    rustls::crypto::verify_tls13_signature(
        message,
        cert,
        dss,
        &provider.signature_verification_algorithms,
    )
}

/// Compare two hex digests in constant time.
pub fn digest_eq(a: &str, b: &str) -> bool {
    let (a, b) = (a.as_bytes(), b.as_bytes());
    if a.len() != b.len() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// A node's TLS identity: the cluster CA and its own certificate and key.
#[derive(Clone)]
pub struct Identity {
    pub name: String,
    pub ca_cert_pem: String,
    pub cert_pem: String,
    pub key_pem: String,
}

impl std::fmt::Debug for Identity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Identity({})", self.name)
    }
}

/// What a node knows of its peers' certificates, for the checks TLS itself cannot make:
/// whether a certificate of the cluster CA is the one the cluster records for the node
/// it names.
pub trait PeerCerts: Send + Sync + 'static {
    /// `Ok` when `fingerprint` (SHA-256 of the DER, lowercase hex) is a certificate the
    /// cluster records for `name` (or this node knows no record of `name`), else why not.
    fn check(&self, name: &str, fingerprint: &str) -> std::result::Result<(), String>;
}

fn fmt_ms(ms: u64) -> String {
    crate::state::fmt_time(ms)
}

impl Identity {
    fn roots(&self) -> Result<Arc<RootCertStore>> {
        let mut roots = RootCertStore::empty();
        // Every certificate in the CA file is trusted: one CA, or two while the cluster
        // moves to a new one.
        for der in certs_der(&self.ca_cert_pem)? {
            roots
                .add(der)
                .map_err(|e| Error::Tls(format!("cluster CA: {e}")))?;
        }
        if roots.is_empty() {
            return Err(Error::Tls("no cluster CA certificate".into()));
        }
        Ok(Arc::new(roots))
    }

    fn chain_and_key(&self) -> Result<(Vec<CertificateDer<'static>>, PrivateKeyDer<'static>)> {
        // The leaf, then every CA trusted (a joiner finds the one its token names).
        let mut chain = vec![cert_der(&self.cert_pem)?];
        chain.extend(certs_der(&self.ca_cert_pem)?);
        let key = PrivateKeyDer::from_pem_slice(self.key_pem.as_bytes())
            .map_err(|e| Error::Tls(format!("node key: {e}")))?;
        Ok((chain, key))
    }

    /// Server side of the node-to-node port. A client certificate is optional at the TLS
    /// level (joiners have none yet), but one that is presented must chain to the cluster
    /// CA or the handshake fails; the connection handler then only lets certificate-less
    /// peers send a single join request. An expired client certificate passes the
    /// handshake (its chain checked as of its expiry) so that the handler can tell the
    /// peer why it is refused (HALO-E190).
    pub fn server_config(&self) -> Result<Arc<ServerConfig>> {
        let inner = WebPkiClientVerifier::builder_with_provider(self.roots()?, provider())
            .allow_unauthenticated()
            .build()
            .map_err(|e| Error::Tls(format!("client verifier: {e}")))?;
        let verifier = Arc::new(NodeClientVerifier { inner });
        let (chain, key) = self.chain_and_key()?;
        let cfg = ServerConfig::builder_with_provider(provider())
            .with_safe_default_protocol_versions()
            .map_err(|e| Error::Tls(e.to_string()))?
            .with_client_cert_verifier(verifier)
            .with_single_cert(chain, key)
            .map_err(|e| Error::Tls(format!("node certificate: {e}")))?;
        Ok(Arc::new(cfg))
    }

    /// Client side to another member: verifies the peer against the cluster CA and the
    /// name dialled, refuses an expired certificate (HALO-E190) and presents this node's
    /// certificate.
    pub fn client_config(&self) -> Result<Arc<ClientConfig>> {
        self.client_config_checked(None)
    }

    /// [`Identity::client_config`], and with `peers` the peer's certificate must also be
    /// the one the cluster records for the name dialled (HALO-E191).
    pub fn client_config_checked(
        &self,
        peers: Option<Arc<dyn PeerCerts>>,
    ) -> Result<Arc<ClientConfig>> {
        let inner =
            rustls::client::WebPkiServerVerifier::builder_with_provider(self.roots()?, provider())
                .build()
                .map_err(|e| Error::Tls(format!("server verifier: {e}")))?;
        let verifier = NodeServerVerifier { inner, peers };
        let (chain, key) = self.chain_and_key()?;
        let cfg = ClientConfig::builder_with_provider(provider())
            .with_safe_default_protocol_versions()
            .map_err(|e| Error::Tls(e.to_string()))?
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(verifier))
            .with_client_auth_cert(chain, key)
            .map_err(|e| Error::Tls(format!("node certificate: {e}")))?;
        Ok(Arc::new(cfg))
    }
}

fn unix_ms(t: UnixTime) -> u64 {
    t.as_secs().saturating_mul(1000)
}

/// The server side's client verifier: the cluster CA's, except that an expired
/// certificate is checked as of its expiry and let through to the handler, which refuses
/// it with a reason.
#[derive(Debug)]
struct NodeClientVerifier {
    inner: Arc<dyn ClientCertVerifier>,
}

impl ClientCertVerifier for NodeClientVerifier {
    fn offer_client_auth(&self) -> bool {
        self.inner.offer_client_auth()
    }

    fn client_auth_mandatory(&self) -> bool {
        self.inner.client_auth_mandatory()
    }

    fn root_hint_subjects(&self) -> &[TlsDistinguishedName] {
        self.inner.root_hint_subjects()
    }

    fn verify_client_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        now: UnixTime,
    ) -> std::result::Result<ClientCertVerified, rustls::Error> {
        let at = match expired_at(end_entity.as_ref(), unix_ms(now)) {
            // Still a certificate of the cluster CA as of its last valid second.
            Some(na) => UnixTime::since_unix_epoch(Duration::from_millis(na.saturating_sub(1000))),
            None => now,
        };
        self.inner.verify_client_cert(end_entity, intermediates, at)
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> std::result::Result<HandshakeSignatureValid, rustls::Error> {
        self.inner.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> std::result::Result<HandshakeSignatureValid, rustls::Error> {
        self.inner.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.inner.supported_verify_schemes()
    }
}

/// The client side's server verifier: expiry first (with its own code), then the cluster
/// CA and the name dialled, then the fingerprint the cluster records for that name.
struct NodeServerVerifier {
    inner: Arc<rustls::client::WebPkiServerVerifier>,
    peers: Option<Arc<dyn PeerCerts>>,
}

impl std::fmt::Debug for NodeServerVerifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "NodeServerVerifier(checked: {})", self.peers.is_some())
    }
}

impl ServerCertVerifier for NodeServerVerifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> std::result::Result<ServerCertVerified, rustls::Error> {
        let name = match server_name {
            ServerName::DnsName(d) => d.as_ref().to_string(),
            other => format!("{other:?}"),
        };
        if let Some(na) = expired_at(end_entity.as_ref(), unix_ms(now)) {
            let e = Error::CertExpired {
                node: name.clone(),
                not_after: fmt_ms(na),
            };
            tracing::warn!(node = %name, not_after = %fmt_ms(na), "HALO-E190 refused the expired certificate of a peer");
            return Err(rustls::Error::General(e.to_string()));
        }
        let verified = self.inner.verify_server_cert(
            end_entity,
            intermediates,
            server_name,
            ocsp_response,
            now,
        )?;
        if let (Some(peers), false) = (&self.peers, name == GENERIC_NODE_NAME) {
            let fingerprint = sha256_hex(end_entity.as_ref());
            if let Err(why) = peers.check(&name, &fingerprint) {
                tracing::warn!(node = %name, fingerprint = %fingerprint, "HALO-E191 refused a peer's certificate: {why}");
                return Err(rustls::Error::General(
                    Error::PeerCertRefused {
                        node: name,
                        fingerprint,
                        why,
                    }
                    .to_string(),
                ));
            }
        }
        Ok(verified)
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> std::result::Result<HandshakeSignatureValid, rustls::Error> {
        self.inner.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> std::result::Result<HandshakeSignatureValid, rustls::Error> {
        self.inner.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.inner.supported_verify_schemes()
    }
}

/// Client config for a joiner: no client certificate; the server must present a chain
/// whose CA has the fingerprint from the token.
pub fn join_client_config(ca_fingerprint: &str) -> Result<Arc<ClientConfig>> {
    let verifier = FingerprintVerifier {
        fingerprint: ca_fingerprint.to_string(),
        provider: provider(),
    };
    let cfg = ClientConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .map_err(|e| Error::Tls(e.to_string()))?
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(verifier))
        .with_no_client_auth();
    Ok(Arc::new(cfg))
}

#[derive(Debug)]
struct FingerprintVerifier {
    fingerprint: String,
    provider: Arc<CryptoProvider>,
}

impl ServerCertVerifier for FingerprintVerifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> std::result::Result<ServerCertVerified, rustls::Error> {
        let ca = intermediates
            .iter()
            .find(|c| digest_eq(&sha256_hex(c.as_ref()), &self.fingerprint))
            .ok_or_else(|| {
                rustls::Error::General(
                    "the peer's CA does not match the token's fingerprint".into(),
                )
            })?;
        let mut roots = RootCertStore::empty();
        roots
            .add(ca.clone().into_owned())
            .map_err(|e| rustls::Error::General(format!("cluster CA: {e}")))?;
        let inner = rustls::client::WebPkiServerVerifier::builder_with_provider(
            Arc::new(roots),
            self.provider.clone(),
        )
        .build()
        .map_err(|e| rustls::Error::General(e.to_string()))?;
        let name = ServerName::try_from(GENERIC_NODE_NAME)
            .map_err(|e| rustls::Error::General(e.to_string()))?;
        inner.verify_server_cert(end_entity, &[], &name, ocsp_response, now)
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> std::result::Result<HandshakeSignatureValid, rustls::Error> {
        check_tls12(&self.provider, message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> std::result::Result<HandshakeSignatureValid, rustls::Error> {
        check_tls13(&self.provider, message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.provider
            .signature_verification_algorithms
            .supported_schemes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A token survives encoding and a damaged one is refused with a reason.
    #[test]
    fn token_roundtrip_and_garbage() {
        let t = JoinToken::generate(&"ab".repeat(32)).unwrap_or_else(|e| panic!("{e}"));
        let back = JoinToken::decode(&t.encode()).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(back, t);
        let err = JoinToken::decode("halo1-AAAA").err().map(|e| e.to_string());
        assert!(err.unwrap_or_default().contains("wrong length"));
        assert!(JoinToken::decode("nonsense").is_err());
    }

    /// A CSR signed by the CA yields a certificate for the name the cluster chose.
    #[test]
    fn csr_signing_uses_cluster_name() {
        let (ca, ca_key, fp) = generate_ca("t").unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(fingerprint_pem(&ca).ok(), Some(fp));
        let (_key, csr) = node_csr("node-a").unwrap_or_else(|e| panic!("{e}"));
        let cert = sign_csr(&ca, &ca_key, &csr, "node-b").unwrap_or_else(|e| panic!("{e}"));
        let der = cert_der(&cert).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(cert_common_name(der.as_ref()).as_deref(), Some("node-b"));
    }

    /// Node certificates carry the validity asked for; the CA ten years.
    #[test]
    fn validity_is_set() {
        let (ca, ca_key, _) = generate_ca("t").unwrap_or_else(|e| panic!("{e}"));
        let now = now_ms();
        let ca_na = not_after_pem(&ca).unwrap_or_else(|e| panic!("{e}"));
        assert!(ca_na > now + CA_VALIDITY.as_millis() as u64 - 60_000);
        let (cert, _) = issue_node_cert(&ca, &ca_key, "a").unwrap_or_else(|e| panic!("{e}"));
        let na = not_after_pem(&cert).unwrap_or_else(|e| panic!("{e}"));
        let year = DEFAULT_NODE_VALIDITY.as_millis() as u64;
        assert!(na > now + year - 60_000 && na < now + year + 60_000);
        let (short, _) = issue_node_cert_for(&ca, &ca_key, "a", Duration::from_secs(20))
            .unwrap_or_else(|e| panic!("{e}"));
        let der = cert_der(&short).unwrap_or_else(|e| panic!("{e}"));
        assert!(expired_at(der.as_ref(), now).is_none());
        assert!(expired_at(der.as_ref(), now + 21_000).is_some());
    }

    #[test]
    fn node_names() {
        assert!(check_node_name("node1").is_ok());
        assert!(check_node_name("db-1.example").is_ok());
        assert!(check_node_name("").is_err());
        assert!(check_node_name("-x").is_err());
        assert!(check_node_name("a b").is_err());
        assert!(check_node_name(&"a".repeat(64)).is_err());
    }
}
