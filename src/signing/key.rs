//! [`KeySigner`]: a private key held in process (a key file on the server), signing with ring.

use ring::rand::SystemRandom;
use ring::signature::{EcdsaKeyPair, KeyPair, RsaKeyPair};

use super::{SignatureAlgorithm, Signer, SigningError};
use crate::pki::{Certificate, PrivateKeyDer};

enum Key {
    Rsa(RsaKeyPair),
    Ecdsa(EcdsaKeyPair),
}

/// A signer whose key is in memory. Construction checks that the key belongs to the certificate.
pub struct KeySigner {
    key: Key,
    certificate: Certificate,
    chain: Vec<Certificate>,
    algorithm: SignatureAlgorithm,
    rng: SystemRandom,
}

impl std::fmt::Debug for KeySigner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KeySigner")
            .field("certificate", &self.certificate)
            .field("algorithm", &self.algorithm)
            .finish_non_exhaustive()
    }
}

impl KeySigner {
    /// A signer for `key` and `certificate`. RSA keys sign with RSASSA-PSS when `rsa_pss` (what
    /// Circular 15/2025/TT-BKHCN names, the CLI's default), else with PKCS#1 v1.5, which older
    /// tokens and verifiers need and which is deterministic (tests comparing bytes rely on it).
    pub fn new(
        key: &PrivateKeyDer,
        certificate: Certificate,
        chain: Vec<Certificate>,
        rsa_pss: bool,
    ) -> Result<KeySigner, SigningError> {
        let rng = SystemRandom::new();
        let key = match key {
            PrivateKeyDer::Pkcs1Rsa(der) => {
                Key::Rsa(RsaKeyPair::from_der(der).map_err(|e| SigningError::Key(e.to_string()))?)
            }
            PrivateKeyDer::Pkcs8(der) => match RsaKeyPair::from_pkcs8(der) {
                Ok(k) => Key::Rsa(k),
                Err(rsa_err) => match EcdsaKeyPair::from_pkcs8(
                    &ring::signature::ECDSA_P256_SHA256_ASN1_SIGNING,
                    der,
                    &rng,
                ) {
                    Ok(k) => Key::Ecdsa(k),
                    Err(_) => {
                        return Err(SigningError::Key(format!(
                            "not an RSA (2048–8192 bit) or ECDSA P-256 PKCS#8 key ({rsa_err})"
                        )));
                    }
                },
            },
        };
        let public = match &key {
            Key::Rsa(k) => k.public_key().as_ref().to_vec(),
            Key::Ecdsa(k) => k.public_key().as_ref().to_vec(),
        };
        if public != certificate.public_key_bits() {
            return Err(SigningError::KeyMismatch);
        }
        let algorithm = match (&key, rsa_pss) {
            (Key::Rsa(_), false) => SignatureAlgorithm::RsaPkcs1Sha256,
            (Key::Rsa(_), true) => SignatureAlgorithm::RsaPssSha256,
            (Key::Ecdsa(_), _) => SignatureAlgorithm::EcdsaP256Sha256,
        };
        Ok(KeySigner {
            key,
            certificate,
            chain,
            algorithm,
            rng,
        })
    }
}

impl Signer for KeySigner {
    fn certificate(&self) -> &Certificate {
        &self.certificate
    }

    fn chain(&self) -> &[Certificate] {
        &self.chain
    }

    fn algorithm(&self) -> SignatureAlgorithm {
        self.algorithm
    }

    fn max_signature_len(&self) -> usize {
        match &self.key {
            Key::Rsa(k) => k.public().modulus_len(),
            // DER ECDSA-Sig-Value for P-256: SEQUENCE of two INTEGERs of up to 33 bytes.
            Key::Ecdsa(_) => 72,
        }
    }

    fn sign(&self, to_be_signed: &[u8]) -> Result<Vec<u8>, SigningError> {
        match &self.key {
            Key::Rsa(k) => {
                let padding: &'static dyn ring::signature::RsaEncoding = match self.algorithm {
                    SignatureAlgorithm::RsaPssSha256 => &ring::signature::RSA_PSS_SHA256,
                    _ => &ring::signature::RSA_PKCS1_SHA256,
                };
                let mut sig = vec![0u8; k.public().modulus_len()];
                k.sign(padding, &self.rng, to_be_signed, &mut sig)
                    .map_err(|_| SigningError::Signer("RSA signing failed".into()))?;
                Ok(sig)
            }
            Key::Ecdsa(k) => k
                .sign(&self.rng, to_be_signed)
                .map(|s| s.as_ref().to_vec())
                .map_err(|_| SigningError::Signer("ECDSA signing failed".into())),
        }
    }
}
