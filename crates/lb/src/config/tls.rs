//! TLS settings as HAProxy writes them (OpenSSL cipher lists, version options), mapped
//! to what halo's TLS library (rustls) offers. A list names what is allowed: halo
//! offers the suites of it that rustls has, never one that the list does not allow, and
//! refuses a name it does not know.

use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

/// TLS on a listener (`bind ... ssl crt ...`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BindTls {
    /// PEM files, each with a certificate, its chain and its key; the first is the
    /// default (for clients that name no server, or one no certificate is for).
    pub crt: Vec<PathBuf>,
    /// Protocols offered by ALPN, in order (`alpn h2,http/1.1`).
    #[serde(default)]
    pub alpn: Vec<String>,
    /// Lowest and highest TLS version (12 or 13).
    pub min_version: u8,
    pub max_version: u8,
    /// Suites allowed, by rustls name; empty = rustls's own (all strong).
    #[serde(default)]
    pub suites: Vec<String>,
    /// The `crt` files as read with the configuration, in the same order (read from
    /// the paths when empty).
    #[serde(skip)]
    pub pems: Vec<Vec<u8>>,
    /// Client certificates (`verify optional|required` with `ca-file`, `crl-file`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client: Option<ClientCerts>,
    /// A `crt-list`'s SNI filters, by certificate in the same order: the names it
    /// serves and, with `!`, those it does not; none: the certificate's own names.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub sni: Vec<Vec<String>>,
}

/// How a listener asks clients for certificates (`verify optional|required`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClientCerts {
    /// `required`: a client without a valid certificate is refused; `optional`: one
    /// without any comes in (one with an invalid certificate never does).
    pub required: bool,
    /// The authorities a client's certificate must chain to (`ca-file`).
    pub ca_file: PathBuf,
    /// Revoked certificates (`crl-file`, PEM).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub crl_file: Option<PathBuf>,
    /// The files as read with the configuration.
    #[serde(skip)]
    pub ca_pem: Option<Vec<u8>>,
    #[serde(skip)]
    pub crl_pem: Option<Vec<u8>>,
}

/// TLS to a server (`server ... ssl ...`), for its traffic, its health checks
/// (`check-ssl`), or both.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServerTls {
    /// The server's traffic goes over TLS (`ssl`).
    #[serde(default)]
    pub traffic: bool,
    /// Its health checks do (`check-ssl`, or `ssl` when the checks go to the server's
    /// own address and port).
    #[serde(default)]
    pub checks: bool,
    /// Verify the server's certificate chain against `ca_file` (`verify required`).
    pub verify: bool,
    /// The certificate authorities (PEM), or `@system-ca`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ca_file: Option<PathBuf>,
    /// The name the certificate must be for when no SNI is sent (`verifyhost`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub verifyhost: Option<String>,
    /// The name sent by SNI and checked (`sni EXPR`), evaluated per connection.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sni: Option<crate::sample::Expr>,
    /// Protocols offered by ALPN (`alpn`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub alpn: Vec<String>,
    /// The name sent by the checks' SNI (`check-sni`) and their ALPN (`check-alpn`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub check_sni: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub check_alpn: Vec<String>,
    pub min_version: u8,
    pub max_version: u8,
    /// Suites allowed, by rustls name; empty = rustls's own.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub suites: Vec<String>,
    /// A client certificate with its key, shown to the server (`crt`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub crt: Option<PathBuf>,
    /// `ca_file` and `crt` as read with the configuration (a `chroot` may hide the
    /// files later); read from the paths when absent (a native configuration).
    #[serde(skip)]
    pub ca_pem: Option<Vec<u8>>,
    #[serde(skip)]
    pub crt_pem: Option<Vec<u8>>,
}

/// Where `ca-file @system-ca` reads the system's authorities.
const SYSTEM_CAS: &str = "/etc/ssl/certs/ca-certificates.crt";

/// A `ca-file` (PEM; `@system-ca` = the system's), read and checked.
pub fn read_cas(path: &Path) -> Result<Vec<u8>, String> {
    let path = if path == Path::new("@system-ca") {
        Path::new(SYSTEM_CAS)
    } else {
        path
    };
    let text = std::fs::read(path).map_err(|e| format!("cannot read `{}`: {e}", path.display()))?;
    parse_cas(&text, path)?;
    Ok(text)
}

/// A `crl-file` (PEM), read and checked.
pub fn read_crls(path: &Path) -> Result<Vec<u8>, String> {
    let text = std::fs::read(path).map_err(|e| format!("cannot read `{}`: {e}", path.display()))?;
    parse_crls(&text, path)?;
    Ok(text)
}

/// The revocation lists of what [`read_crls`] read.
pub fn parse_crls(
    text: &[u8],
    path: &Path,
) -> Result<Vec<rustls_pki_types::CertificateRevocationListDer<'static>>, String> {
    use rustls_pki_types::pem::PemObject;
    let shown = path.display();
    let crls: Vec<_> = rustls_pki_types::CertificateRevocationListDer::pem_slice_iter(text)
        .collect::<Result<_, _>>()
        .map_err(|e| format!("`{shown}`: bad PEM: {e}"))?;
    if crls.is_empty() {
        return Err(format!("`{shown}` holds no revocation list"));
    }
    Ok(crls)
}

/// The certificates of what [`read_cas`] read.
pub fn parse_cas(text: &[u8], path: &Path) -> Result<Vec<CertificateDer<'static>>, String> {
    let shown = path.display();
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_slice_iter(text)
        .collect::<Result<_, _>>()
        .map_err(|e| format!("`{shown}`: bad PEM: {e}"))?;
    if certs.is_empty() {
        return Err(format!("`{shown}` holds no certificate"));
    }
    Ok(certs)
}

/// The suites rustls offers, with the OpenSSL names and the aliases that cover them.
/// (OpenSSL name, rustls name, TLS 1.3, the aliases that cover it)
const SUITES: &[(&str, &str, bool, &str)] = &[
    (
        "TLS_AES_128_GCM_SHA256",
        "TLS13_AES_128_GCM_SHA256",
        true,
        "AESGCM AES128 AES SHA256",
    ),
    (
        "TLS_AES_256_GCM_SHA384",
        "TLS13_AES_256_GCM_SHA384",
        true,
        "AESGCM AES256 AES SHA384",
    ),
    (
        "TLS_CHACHA20_POLY1305_SHA256",
        "TLS13_CHACHA20_POLY1305_SHA256",
        true,
        "CHACHA20 SHA256",
    ),
    (
        "ECDHE-ECDSA-AES128-GCM-SHA256",
        "TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256",
        false,
        "ECDHE EECDH ECDH kECDHE kEECDH ECDSA aECDSA AESGCM AES128 AES SHA256 TLSv1.2",
    ),
    (
        "ECDHE-ECDSA-AES256-GCM-SHA384",
        "TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384",
        false,
        "ECDHE EECDH ECDH kECDHE kEECDH ECDSA aECDSA AESGCM AES256 AES SHA384 TLSv1.2",
    ),
    (
        "ECDHE-ECDSA-CHACHA20-POLY1305",
        "TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256",
        false,
        "ECDHE EECDH ECDH kECDHE kEECDH ECDSA aECDSA CHACHA20 TLSv1.2",
    ),
    (
        "ECDHE-RSA-AES128-GCM-SHA256",
        "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256",
        false,
        "ECDHE EECDH ECDH kECDHE kEECDH RSA aRSA AESGCM AES128 AES SHA256 TLSv1.2",
    ),
    (
        "ECDHE-RSA-AES256-GCM-SHA384",
        "TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384",
        false,
        "ECDHE EECDH ECDH kECDHE kEECDH RSA aRSA AESGCM AES256 AES SHA384 TLSv1.2",
    ),
    (
        "ECDHE-RSA-CHACHA20-POLY1305",
        "TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256",
        false,
        "ECDHE EECDH ECDH kECDHE kEECDH RSA aRSA CHACHA20 TLSv1.2",
    ),
];

/// Aliases that cover every suite rustls has (they name strong suites only).
const ALL: &[&str] = &["HIGH", "DEFAULT", "ALL", "SECURE", "COMPLEMENTOFDEFAULT"];

/// OpenSSL names rustls does not offer (DHE, CBC, RSA key exchange, 3DES, ...): allowed
/// in a list, not offered.
fn known_unsupported(name: &str) -> bool {
    let n = name.to_ascii_uppercase();
    n.starts_with("DHE-")
        || n.starts_with("EDH-")
        || n.starts_with("AES")
        || n.starts_with("DES-")
        || n.starts_with("CAMELLIA")
        || n.starts_with("PSK-")
        || n.starts_with("SRP-")
        || n.contains("-CBC")
        || n.contains("-SHA") && !n.contains("GCM") && !n.contains("POLY1305")
        || n.contains("CCM")
        || matches!(
            n.as_str(),
            "DHE"
                | "EDH"
                | "KEDH"
                | "MEDIUM"
                | "LOW"
                | "EXPORT"
                | "RSA"
                | "DH"
                | "KRSA"
                | "SHA1"
                | "SHA"
                | "3DES"
                | "RC4"
                | "CBC"
        )
}

/// The rustls suites an OpenSSL cipher list (`ciphers`, TLS ≤ 1.2) or suite list
/// (`ciphersuites`, TLS 1.3) allows, in the list's order; exclusions (`!X`, `-X`) and
/// strength words (`@STRENGTH`, `+X`) refine it. Unknown names are refused.
pub fn openssl_suites(list: &str, tls13: bool) -> Result<Vec<String>, String> {
    let mut chosen: Vec<&str> = Vec::new();
    let mut excluded: Vec<&str> = Vec::new();
    let sep = |c: char| c == ':' || c == ',' || c == ' ';
    for item in list.split(sep).filter(|x| !x.is_empty()) {
        let (exclude, name) = match item.as_bytes()[0] {
            b'!' | b'-' => (true, &item[1..]),
            b'+' => continue,
            b'@' => continue,
            _ => (false, item),
        };
        let matching: Vec<&str> = if ALL.contains(&name.to_ascii_uppercase().as_str()) {
            SUITES
                .iter()
                .filter(|s| s.2 == tls13)
                .map(|s| s.1)
                .collect()
        } else {
            // Several aliases joined by `+` must all apply (`ECDHE+AESGCM`).
            let parts: Vec<&str> = name.split('+').collect();
            SUITES
                .iter()
                .filter(|s| s.2 == tls13 || parts.len() == 1 && s.0 == name)
                .filter(|s| {
                    s.0.eq_ignore_ascii_case(name)
                        || parts
                            .iter()
                            .all(|p| s.3.split(' ').any(|a| a.eq_ignore_ascii_case(p)))
                })
                .map(|s| s.1)
                .collect()
        };
        // A combination (`DH+AESGCM`) with a part that names only suites rustls does
        // not have names none either.
        let unsupported = |n: &str| known_unsupported(n) || is_other_alias(n);
        if matching.is_empty() && !name.split('+').any(unsupported) {
            return Err(format!(
                "cipher `{name}` is not known (halo's TLS offers {})",
                SUITES
                    .iter()
                    .filter(|s| s.2 == tls13)
                    .map(|s| s.0)
                    .collect::<Vec<_>>()
                    .join(", ")
            ));
        }
        for m in matching {
            if exclude {
                excluded.push(m);
            } else if !chosen.contains(&m) {
                chosen.push(m);
            }
        }
    }
    Ok(chosen
        .into_iter()
        .filter(|s| !excluded.contains(s))
        .map(String::from)
        .collect())
}

/// OpenSSL aliases that name no suite rustls has, or only weak ones.
fn is_other_alias(name: &str) -> bool {
    matches!(
        name.to_ascii_uppercase().as_str(),
        "ANULL"
            | "ENULL"
            | "NULL"
            | "MD5"
            | "DSS"
            | "ADH"
            | "AECDH"
            | "KRB5"
            | "IDEA"
            | "SEED"
            | "PSK"
            | "SRP"
            | "DES"
            | "ARIA"
            | "EXP"
            | "EXPORT40"
            | "EXPORT56"
            | "ADSS"
            | "KDHE"
            | "KECDH"
            | "KPSK"
            | "APSK"
            | "SSLV2"
            | "SSLV3"
            | "TLSV1"
            | "AECDSA+SHA1"
    )
}

/// A TLS version as HAProxy names it (`TLSv1.2`), as 12 or 13; older ones are refused.
pub fn version(name: &str) -> Result<u8, String> {
    match name {
        "TLSv1.2" => Ok(12),
        "TLSv1.3" => Ok(13),
        "SSLv3" | "TLSv1.0" | "TLSv1.1" => Err(format!(
            "`{name}` is not offered by halo's TLS (TLSv1.2 and TLSv1.3 are)"
        )),
        o => Err(format!("`{o}` is not a TLS version (TLSv1.2, TLSv1.3)")),
    }
}

/// `ssl-default-bind-options` and bind options on versions: the range they leave.
/// `no-sslv3`, `no-tlsv10`, `no-tlsv11` are what halo does anyway; `no-tls-tickets`
/// and `prefer-client-ciphers` are about sessions and order, not what is allowed.
pub fn apply_option(
    opt: &str,
    next: Option<&str>,
    min: &mut u8,
    max: &mut u8,
) -> Result<usize, String> {
    match opt {
        "no-sslv3" | "no-tlsv10" | "no-tlsv11" | "no-tls-tickets" | "prefer-client-ciphers" => {
            Ok(1)
        }
        "no-tlsv12" => {
            *min = 13;
            Ok(1)
        }
        "no-tlsv13" => {
            *max = 12;
            Ok(1)
        }
        "force-tlsv12" => {
            (*min, *max) = (12, 12);
            Ok(1)
        }
        "force-tlsv13" => {
            (*min, *max) = (13, 13);
            Ok(1)
        }
        "ssl-min-ver" | "ssl-max-ver" => {
            let v = version(next.ok_or_else(|| format!("missing version after `{opt}`"))?)?;
            if opt == "ssl-min-ver" {
                *min = v;
            } else {
                *max = v;
            }
            Ok(2)
        }
        "force-sslv3" | "force-tlsv10" | "force-tlsv11" => Err(format!(
            "`{opt}`: halo's TLS offers TLSv1.2 and TLSv1.3 only"
        )),
        o => Err(format!(
            "TLS option `{o}` is not supported (no-sslv3, no-tlsv10, no-tlsv11, no-tlsv12, no-tlsv13, no-tls-tickets, force-tlsv12, force-tlsv13, ssl-min-ver, ssl-max-ver, prefer-client-ciphers)"
        )),
    }
}

/// A PEM file as HAProxy reads it: the certificate, its chain, and the private key
/// (in the same file, or beside it with `.key` added to the name), as bytes holding
/// them all (read when the configuration is, before a `chroot` hides the file).
pub fn read_pem(path: &Path) -> Result<Vec<u8>, String> {
    let shown = path.display();
    let mut text = std::fs::read(path).map_err(|e| format!("cannot read `{shown}`: {e}"))?;
    if PrivateKeyDer::from_pem_slice(&text).is_err() {
        let mut side = path.as_os_str().to_owned();
        side.push(".key");
        let side = PathBuf::from(side);
        let k = std::fs::read(&side).map_err(|_| {
            format!(
                "`{shown}` holds no private key (nor is there `{}`)",
                side.display()
            )
        })?;
        text.push(b'\n');
        text.extend_from_slice(&k);
    }
    parse_pem(&text, path)?;
    Ok(text)
}

/// The certificates and the key of what [`read_pem`] read.
pub fn parse_pem(
    text: &[u8],
    path: &Path,
) -> Result<(Vec<CertificateDer<'static>>, PrivateKeyDer<'static>), String> {
    let shown = path.display();
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_slice_iter(text)
        .collect::<Result<_, _>>()
        .map_err(|e| format!("`{shown}`: bad PEM: {e}"))?;
    if certs.is_empty() {
        return Err(format!("`{shown}` holds no certificate"));
    }
    let key = PrivateKeyDer::from_pem_slice(text)
        .map_err(|e| format!("`{shown}`: no private key: {e}"))?;
    Ok((certs, key))
}

/// A PEM file's certificates and key, read now.
pub fn load_pem(
    path: &Path,
) -> Result<(Vec<CertificateDer<'static>>, PrivateKeyDer<'static>), String> {
    parse_pem(&read_pem(path)?, path)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn openssl_lists_map_to_what_rustls_offers_never_more() {
        // Mozilla's intermediate list, as many deployments copy it.
        let mozilla = "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-RSA-AES256-GCM-SHA384:ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305:DHE-RSA-AES128-GCM-SHA256:DHE-RSA-AES256-GCM-SHA384";
        let s = openssl_suites(mozilla, false).unwrap();
        assert_eq!(s.len(), 6);
        assert_eq!(s[0], "TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256");
        // Only what the list allows.
        let s = openssl_suites("ECDHE-RSA-AES256-GCM-SHA384", false).unwrap();
        assert_eq!(s, ["TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384"]);
        // TripleO's and OpenStack-Ansible's lists.
        let s = openssl_suites(
            "!SSLv2:kEECDH:kRSA:kEDH:kPSK:+3DES:!aNULL:!eNULL:!MD5:!EXP:!RC4:!SEED:!IDEA:!DES",
            false,
        )
        .unwrap();
        assert_eq!(s.len(), 6, "{s:?}");
        let s =
            openssl_suites("ECDH+AESGCM:DH+AESGCM:ECDH+AES256:!aNULL:!MD5:!DSS", false).unwrap();
        assert_eq!(s.len(), 4, "{s:?}");
        assert!(s.iter().all(|x| x.contains("GCM")));
        let s = openssl_suites("HIGH:!aNULL:!MD5", false).unwrap();
        assert_eq!(s.len(), 6);
        let s = openssl_suites("ECDHE+AESGCM:!ECDSA", false).unwrap();
        assert_eq!(
            s,
            [
                "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256",
                "TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384"
            ]
        );
        let s =
            openssl_suites("TLS_AES_128_GCM_SHA256:TLS_CHACHA20_POLY1305_SHA256", true).unwrap();
        assert_eq!(
            s,
            ["TLS13_AES_128_GCM_SHA256", "TLS13_CHACHA20_POLY1305_SHA256"]
        );
        // Only suites rustls does not have: nothing is offered (then no TLS 1.2).
        assert!(openssl_suites("DHE-RSA-AES128-GCM-SHA256", false)
            .unwrap()
            .is_empty());
        assert!(openssl_suites("NOSUCH-CIPHER", false)
            .unwrap_err()
            .contains("NOSUCH-CIPHER"));
    }

    #[test]
    fn versions_and_options() {
        let (mut min, mut max) = (12, 13);
        assert_eq!(
            apply_option("ssl-min-ver", Some("TLSv1.3"), &mut min, &mut max),
            Ok(2)
        );
        assert_eq!((min, max), (13, 13));
        assert!(apply_option("ssl-min-ver", Some("TLSv1.0"), &mut min, &mut max).is_err());
        assert_eq!(apply_option("no-sslv3", None, &mut min, &mut max), Ok(1));
        assert!(apply_option("nosuch", None, &mut min, &mut max).is_err());
    }
}
