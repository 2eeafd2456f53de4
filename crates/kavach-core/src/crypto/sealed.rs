//! Secrets kavachos must read back (JWT private keys, ...), sealed with a key derived from the
//! instance `secret`: XChaCha20-Poly1305 with a random 192-bit nonce, the label bound as associated
//! data so a sealed value cannot be moved to another purpose or row.
//!
//! Format: `v1.` + base64url(nonce || ciphertext || tag), no padding.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use chacha20poly1305::aead::{Aead, AeadCore, KeyInit, OsRng, Payload};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};
use hmac::{Hmac, Mac};
use sha2::Sha256;

use crate::error::{KavachError, Result};

const VERSION: &str = "v1.";
const NONCE_LEN: usize = 24;

/// The AEAD key for one label: HMAC-SHA256 keyed with the secret over a domain-separated label.
fn derive(secret: &[u8], label: &str) -> Result<XChaCha20Poly1305> {
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(secret)
        .map_err(|_| KavachError::Internal("could not derive a sealing key".into()))?;
    mac.update(b"kavachos/sealed/v1\0");
    mac.update(label.as_bytes());
    let key = mac.finalize().into_bytes();
    XChaCha20Poly1305::new_from_slice(&key)
        .map_err(|_| KavachError::Internal("could not derive a sealing key".into()))
}

/// Seals `plaintext` under `secret` for `label` (e.g. `jwt-key:<kid>`).
pub fn seal(secret: &[u8], label: &str, plaintext: &[u8]) -> Result<String> {
    let cipher = derive(secret, label)?;
    let nonce = XChaCha20Poly1305::generate_nonce(&mut OsRng);
    let ct = cipher
        .encrypt(
            &nonce,
            Payload {
                msg: plaintext,
                aad: label.as_bytes(),
            },
        )
        .map_err(|_| KavachError::Internal("could not seal a value".into()))?;
    let mut out = Vec::with_capacity(NONCE_LEN + ct.len());
    out.extend_from_slice(&nonce);
    out.extend_from_slice(&ct);
    Ok(format!("{VERSION}{}", URL_SAFE_NO_PAD.encode(out)))
}

/// Opens a value [`seal`] made with the same secret and label. A wrong secret, a wrong label or a
/// changed byte is an error (never the plaintext of something else).
pub fn open(secret: &[u8], label: &str, sealed: &str) -> Result<Vec<u8>> {
    let failed = || {
        KavachError::Internal("a sealed value could not be opened (was the secret changed?)".into())
    };
    let body = sealed.strip_prefix(VERSION).ok_or_else(failed)?;
    let raw = URL_SAFE_NO_PAD.decode(body).map_err(|_| failed())?;
    if raw.len() < NONCE_LEN + 16 {
        return Err(failed());
    }
    let (nonce, ct) = raw.split_at(NONCE_LEN);
    derive(secret, label)?
        .decrypt(
            XNonce::from_slice(nonce),
            Payload {
                msg: ct,
                aad: label.as_bytes(),
            },
        )
        .map_err(|_| failed())
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECRET: &[u8] = b"0123456789abcdef0123456789abcdef";

    #[test]
    fn round_trip_and_every_mismatch_fails() {
        let s = seal(SECRET, "jwt-key:a", b"private").unwrap();
        assert!(s.starts_with("v1."));
        assert!(!s.contains("private"));
        assert_eq!(open(SECRET, "jwt-key:a", &s).unwrap(), b"private");
        // Fresh nonce every time.
        assert_ne!(seal(SECRET, "jwt-key:a", b"private").unwrap(), s);
        assert!(open(SECRET, "jwt-key:b", &s).is_err());
        assert!(open(b"another-secret-another-secret-xx", "jwt-key:a", &s).is_err());
        let mut raw = URL_SAFE_NO_PAD.decode(&s[3..]).unwrap();
        let last = raw.len() - 1;
        raw[last] ^= 1;
        let tampered = format!("v1.{}", URL_SAFE_NO_PAD.encode(raw));
        assert!(open(SECRET, "jwt-key:a", &tampered).is_err());
        assert!(open(SECRET, "jwt-key:a", "v1.").is_err());
        assert!(open(SECRET, "jwt-key:a", "garbage").is_err());
    }
}
