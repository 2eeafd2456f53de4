//! Password hashes: PBKDF2-HMAC-SHA256 (`pbkdf2:<iterations>:<salt hex>:<key hex>`), bcrypt verified
//! natively for imported users, and a rehash whenever a hash is legacy or weaker than configured.

use rand::RngCore;
use sha2::Sha256;
use subtle::ConstantTimeEq;

/// OWASP's current recommendation for PBKDF2-HMAC-SHA256.
pub const DEFAULT_ITERATIONS: u32 = 600_000;
const SALT_BYTES: usize = 16;
const KEY_BYTES: usize = 32;
/// Bounds on stored iteration counts, so a crafted hash cannot make verification run for minutes.
const MAX_ITERATIONS: u32 = 10_000_000;

/// What checking a password against a stored hash found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verified {
    /// The password matches; `rehash` when the stored form is legacy or below the configured cost.
    Match { rehash: bool },
    /// The password does not match.
    NoMatch,
    /// Not a format kavachos verifies itself (an app's `verifyLegacyHash` may know it).
    UnknownFormat,
}

/// Hashes `password` with a fresh 16-byte salt.
pub fn hash_password(password: &str, iterations: u32) -> String {
    let mut salt = [0u8; SALT_BYTES];
    rand::rngs::OsRng.fill_bytes(&mut salt);
    let key = derive(password, &salt, iterations);
    format!(
        "pbkdf2:{iterations}:{}:{}",
        hex::encode(salt),
        hex::encode(key)
    )
}

fn derive(password: &str, salt: &[u8], iterations: u32) -> [u8; KEY_BYTES] {
    let mut key = [0u8; KEY_BYTES];
    pbkdf2::pbkdf2_hmac::<Sha256>(password.as_bytes(), salt, iterations, &mut key);
    key
}

/// Checks `password` against `stored` in constant time for the PBKDF2 comparison.
pub fn verify_password(password: &str, stored: &str, configured_iterations: u32) -> Verified {
    if let Some(rest) = stored.strip_prefix("pbkdf2:") {
        let mut parts = rest.split(':');
        let (Some(iter), Some(salt), Some(key), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Verified::UnknownFormat;
        };
        let (Ok(iterations), Ok(salt), Ok(expected)) =
            (iter.parse::<u32>(), hex::decode(salt), hex::decode(key))
        else {
            return Verified::UnknownFormat;
        };
        if iterations == 0
            || iterations > MAX_ITERATIONS
            || expected.is_empty()
            || expected.len() > 64
        {
            return Verified::UnknownFormat;
        }
        let mut actual = vec![0u8; expected.len()];
        pbkdf2::pbkdf2_hmac::<Sha256>(password.as_bytes(), &salt, iterations, &mut actual);
        return if bool::from(actual.ct_eq(&expected)) {
            Verified::Match {
                rehash: iterations < configured_iterations || salt.len() < SALT_BYTES,
            }
        } else {
            Verified::NoMatch
        };
    }
    if ["$2a$", "$2b$", "$2y$"]
        .iter()
        .any(|p| stored.starts_with(p))
    {
        return match bcrypt::verify(password, stored) {
            Ok(true) => Verified::Match { rehash: true },
            Ok(false) => Verified::NoMatch,
            Err(_) => Verified::UnknownFormat,
        };
    }
    Verified::UnknownFormat
}

/// Spends the same time as verifying against a real hash, for sign-ins of unknown emails.
pub fn burn_verification(password: &str, iterations: u32) {
    let _ = derive(password, &[0u8; SALT_BYTES], iterations);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pbkdf2_round_trip_and_format() {
        let h = hash_password("correct horse", 1000);
        let parts: Vec<&str> = h.split(':').collect();
        assert_eq!(parts[0], "pbkdf2");
        assert_eq!(parts[1], "1000");
        assert_eq!(parts[2].len(), 32);
        assert_eq!(parts[3].len(), 64);
        assert_eq!(
            verify_password("correct horse", &h, 1000),
            Verified::Match { rehash: false }
        );
        assert_eq!(
            verify_password("correct horsf", &h, 1000),
            Verified::NoMatch
        );
        assert_ne!(
            h,
            hash_password("correct horse", 1000),
            "fresh salt every time"
        );
    }

    #[test]
    fn known_vector() {
        // RFC 7914 §11 PBKDF2-HMAC-SHA256 test vector (P="passwd", S="salt", c=1), first 32 bytes.
        let stored = format!(
            "pbkdf2:1:{}:{}",
            hex::encode("salt"),
            "55ac046e56e3089fec1691c22544b605f94185216dde0465e68b9d57c20dacbc"
        );
        assert_eq!(
            verify_password("passwd", &stored, 1),
            Verified::Match { rehash: true }
        ); // a 4-byte salt is upgraded
    }

    #[test]
    fn weaker_hashes_ask_for_a_rehash() {
        let h = hash_password("pw-123456", 1000);
        assert_eq!(
            verify_password("pw-123456", &h, 2000),
            Verified::Match { rehash: true }
        );
    }

    #[test]
    fn bcrypt_is_verified_natively() {
        let h = bcrypt::hash("hunter22", 4).unwrap();
        assert_eq!(
            verify_password("hunter22", &h, 1000),
            Verified::Match { rehash: true }
        );
        assert_eq!(verify_password("hunter23", &h, 1000), Verified::NoMatch);
        let y = h.replacen("$2b$", "$2y$", 1);
        assert_eq!(
            verify_password("hunter22", &y, 1000),
            Verified::Match { rehash: true }
        );
    }

    #[test]
    fn other_formats_are_unknown_never_a_match() {
        for s in [
            "",
            "plain",
            "pbkdf2:x:00:00",
            "pbkdf2:99999999999:00:00",
            "pbkdf2:1000:zz:00",
            "$argon2id$v=19$m=1,t=1,p=1$x$y",
            "pbkdf2:1000:00:00:00",
        ] {
            assert_eq!(
                verify_password("pw", s, 1000),
                Verified::UnknownFormat,
                "{s}"
            );
        }
    }
}
