//! TLS: the server's identity, and the CA its clients' certificates must chain to when
//! mutual TLS is on.

use std::path::Path;
use tonic::transport::{Certificate, Identity, ServerTlsConfig};

/// How long a client may take over the TLS handshake, so that a connection that never
/// finishes it does not hold a slot forever.
const HANDSHAKE_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);

/// PEM-encoded certificate chain and key, and for mutual TLS the client CA.
#[derive(Clone)]
pub struct Tls {
    cert: Vec<u8>,
    key: Vec<u8>,
    client_ca: Option<Vec<u8>>,
}

impl Tls {
    /// The server's certificate chain and key, PEM, and the CA that signs the certificates
    /// clients must present, if they must.
    pub fn from_pem(cert: Vec<u8>, key: Vec<u8>, client_ca: Option<Vec<u8>>) -> Tls {
        Tls { cert, key, client_ca }
    }

    /// Reads the PEM files; the error names the file.
    pub fn load(cert: &Path, key: &Path, client_ca: Option<&Path>) -> std::io::Result<Tls> {
        let read = |path: &Path| {
            smbus_proxy_sim::file::read(path, smbus_proxy_sim::file::SETTINGS_MAX)
                .map_err(|e| std::io::Error::new(e.kind(), format!("{}: {e}", path.display())))
        };
        Ok(Tls { cert: read(cert)?, key: read(key)?, client_ca: client_ca.map(read).transpose()? })
    }

    /// Whether clients must present a certificate signed by the client CA.
    pub fn requires_client_cert(&self) -> bool {
        self.client_ca.is_some()
    }

    pub(crate) fn server_config(&self) -> ServerTlsConfig {
        let mut config = ServerTlsConfig::new()
            .identity(Identity::from_pem(&self.cert, &self.key))
            .timeout(HANDSHAKE_TIMEOUT);
        if let Some(ca) = &self.client_ca {
            // A client without a certificate completes the handshake and is then refused
            // with UNAUTHENTICATED by `auth`, which says what is missing; a certificate that
            // does not chain to the CA is refused in the handshake itself.
            config = config.client_ca_root(Certificate::from_pem(ca)).client_auth_optional(true);
        }
        config
    }
}
