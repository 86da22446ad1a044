//! A throwaway PKI for TLS tests: a server CA and a server certificate for 127.0.0.1, a
//! client CA and a client certificate it signed, and a client certificate from a CA nobody
//! trusts. Everything is PEM.
#![allow(dead_code)]

use rcgen::{BasicConstraints, CertificateParams, CertifiedIssuer, DnType, IsCa, KeyPair};

pub struct Pki {
    pub server_ca: String,
    pub server_cert: String,
    pub server_key: String,
    pub client_ca: String,
    pub client_cert: String,
    pub client_key: String,
    pub stranger_cert: String,
    pub stranger_key: String,
}

fn ca(name: &str) -> CertifiedIssuer<'static, KeyPair> {
    let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    params.distinguished_name.push(DnType::CommonName, name);
    CertifiedIssuer::self_signed(params, KeyPair::generate().unwrap()).unwrap()
}

/// A certificate for `names` signed by `issuer`, and its key.
fn leaf(issuer: &CertifiedIssuer<'static, KeyPair>, names: &[&str]) -> (String, String) {
    let key = KeyPair::generate().unwrap();
    let mut params = CertificateParams::new(names.iter().map(|n| n.to_string()).collect::<Vec<_>>()).unwrap();
    params.distinguished_name.push(DnType::CommonName, names[0]);
    (params.signed_by(&key, issuer).unwrap().pem(), key.serialize_pem())
}

pub fn pki() -> Pki {
    let (server_ca, client_ca, stranger_ca) = (ca("test server CA"), ca("test client CA"), ca("stranger CA"));
    let (server_cert, server_key) = leaf(&server_ca, &["127.0.0.1", "localhost"]);
    let (client_cert, client_key) = leaf(&client_ca, &["bench-laptop"]);
    let (stranger_cert, stranger_key) = leaf(&stranger_ca, &["stranger"]);
    Pki {
        server_ca: server_ca.pem(),
        server_cert,
        server_key,
        client_ca: client_ca.pem(),
        client_cert,
        client_key,
        stranger_cert,
        stranger_key,
    }
}

impl Pki {
    /// Writes every PEM into `dir` under its field's name plus `.pem`.
    pub fn write(&self, dir: &std::path::Path) {
        for (name, pem) in [
            ("server_ca", &self.server_ca),
            ("server_cert", &self.server_cert),
            ("server_key", &self.server_key),
            ("client_ca", &self.client_ca),
            ("client_cert", &self.client_cert),
            ("client_key", &self.client_key),
            ("stranger_cert", &self.stranger_cert),
            ("stranger_key", &self.stranger_key),
        ] {
            std::fs::write(dir.join(format!("{name}.pem")), pem).unwrap();
        }
    }
}
