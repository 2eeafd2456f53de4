//! better-auth's `symmetricEncrypt`, opened natively: what it keeps encrypted in its tables (the
//! two-factor plugin's TOTP secret and backup codes, OAuth tokens under
//! `account.encryptOAuthTokens`) comes across only if the importer can read it.
//!
//! The format (better-auth 1.7, `dist/crypto/index.mjs`): XChaCha20-Poly1305 with the key
//! SHA-256(secret as UTF-8), no associated data, written as hex of nonce(24) || ciphertext || tag
//! (`@noble/ciphers`' `managedNonce`), optionally wrapped in a versioned envelope `$ba$<n>$<hex>`
//! when better-auth runs with rotating `secrets`.

use chacha20poly1305::aead::{Aead, KeyInit};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};
use sha2::{Digest, Sha256};

const ENVELOPE: &str = "$ba$";
const NONCE_LEN: usize = 24;
const TAG_LEN: usize = 16;

/// Whether better-auth itself would take `value` for ciphertext (its `isLikelyEncrypted`).
pub fn looks_encrypted(value: &str) -> bool {
    value.starts_with(ENVELOPE)
        || (!value.is_empty()
            && value.len().is_multiple_of(2)
            && value.bytes().all(|b| b.is_ascii_hexdigit()))
}

/// Whether `value` is certainly ciphertext (the versioned envelope), not merely hex-shaped.
pub fn is_envelope(value: &str) -> bool {
    value.starts_with(ENVELOPE)
}

/// The plaintext of a value better-auth encrypted with `secret` (its `BETTER_AUTH_SECRET`, or the
/// version the envelope names). `None` when it is not such a value, or `secret` is not its key:
/// the tag is checked, so a wrong secret never yields a wrong plaintext.
pub fn open(secret: &str, value: &str) -> Option<String> {
    let hex_part = match value.strip_prefix(ENVELOPE) {
        Some(rest) => {
            let (version, body) = rest.split_once('$')?;
            version.parse::<u32>().ok()?;
            body
        }
        None => value,
    };
    let raw = hex::decode(hex_part).ok()?;
    if raw.len() < NONCE_LEN + TAG_LEN {
        return None;
    }
    let key = Sha256::digest(secret.as_bytes());
    let cipher = XChaCha20Poly1305::new_from_slice(&key).ok()?;
    let (nonce, ciphertext) = raw.split_at(NONCE_LEN);
    let plain = cipher.decrypt(XNonce::from_slice(nonce), ciphertext).ok()?;
    String::from_utf8(plain).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECRET: &str = "better-auth-secret-better-auth-secret-42";
    /// Made by better-auth 1.7.25's own `symmetricEncrypt({ key: SECRET, data })`.
    const BARE: &str = "6d8579dbc8e9fdd220d76305d3f47721f8dcc3ecbf2d9c9536c32cb0a9731a4cccb9adaf1d7baa340e27de5924dd39862b24348a6c44e6067c79b583992767eef8dba22f6c3847dc";
    /// The same with `key: { keys: Map { 2 => SECRET }, currentVersion: 2 }`.
    const ENVELOPED: &str = "$ba$2$e0e2ec30096abd614bcf09fedde9e6ee0e16721827dfcbdf2f889b46335d929b0a3f9ffef9b91ad55f54c9b22653519c31fef7e54362beab8bfd78804fa27eeaf05f2d6027";

    #[test]
    fn opens_what_better_auth_encrypted() {
        assert_eq!(
            open(SECRET, BARE).as_deref(),
            Some("JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP")
        );
        assert_eq!(
            open(SECRET, ENVELOPED).as_deref(),
            Some(r#"["abcde-FGHIJ","0O1Il-zz9yx"]"#)
        );
        assert!(looks_encrypted(BARE) && looks_encrypted(ENVELOPED));
        assert!(is_envelope(ENVELOPED) && !is_envelope(BARE));
    }

    #[test]
    fn a_wrong_secret_or_a_changed_byte_opens_nothing() {
        assert_eq!(open("another-secret-another-secret-another", BARE), None);
        let mut changed = BARE.to_owned();
        changed.replace_range(60..61, if &BARE[60..61] == "0" { "1" } else { "0" });
        assert_eq!(open(SECRET, &changed), None);
        assert_eq!(open(SECRET, "gho_plain_token"), None);
        assert_eq!(open(SECRET, "abcd"), None);
        assert_eq!(open(SECRET, "$ba$x$00"), None);
        assert_eq!(open(SECRET, "$ba$1"), None);
        assert!(!looks_encrypted("gho_plain_token"));
        assert!(!looks_encrypted(""));
    }
}
