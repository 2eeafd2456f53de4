//! Password hashes: PBKDF2-HMAC-SHA256 (`pbkdf2:<iterations>:<salt hex>:<key hex>`), bcrypt and
//! better-auth's scrypt verified natively for imported users, and a rehash whenever a hash is legacy
//! or weaker than configured.

use rand::RngCore;
use sha2::Sha256;
use subtle::ConstantTimeEq;

/// OWASP's current recommendation for PBKDF2-HMAC-SHA256.
pub const DEFAULT_ITERATIONS: u32 = 600_000;
const SALT_BYTES: usize = 16;
const KEY_BYTES: usize = 32;
/// Bounds on stored iteration counts, so a crafted hash cannot make verification run for minutes.
const MAX_ITERATIONS: u32 = 10_000_000;
/// The same bound for bcrypt (2^cost rounds; the format allows 31, about a day of work): cost 16
/// takes seconds, well above the 10 to 14 that exports (Clerk's, better-auth's) carry.
const MAX_BCRYPT_COST: u32 = 16;

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
        let cost = stored
            .get(4..6)
            .filter(|c| c.bytes().all(|b| b.is_ascii_digit()))
            .and_then(|c| c.parse::<u32>().ok());
        if cost.is_none_or(|c| c > MAX_BCRYPT_COST) {
            return Verified::UnknownFormat;
        }
        return match bcrypt::verify(password, stored) {
            Ok(true) => Verified::Match { rehash: true },
            Ok(false) => Verified::NoMatch,
            Err(_) => Verified::UnknownFormat,
        };
    }
    if let Some(verdict) = verify_better_auth_scrypt(password, stored) {
        return verdict;
    }
    Verified::UnknownFormat
}

/// better-auth's parameters (`@better-auth/utils/password`): scrypt N = 16384, r = 16, p = 1, 64-byte key.
const BA_SCRYPT_LOG_N: u8 = 14;
const BA_SCRYPT_R: u32 = 16;
const BA_SCRYPT_P: u32 = 1;
const BA_SCRYPT_KEY_BYTES: usize = 64;

/// better-auth's `<salt>:<key>` form: the salt is 16 random bytes written as 32 lowercase hex
/// characters and used as that text (its UTF-8 bytes, not the decoded bytes); the key is
/// `scrypt(NFKC(password), salt)` as 128 hex characters. `None` when `stored` is not of that form.
fn verify_better_auth_scrypt(password: &str, stored: &str) -> Option<Verified> {
    use unicode_normalization::UnicodeNormalization;
    let (salt, key) = stored.split_once(':')?;
    let is_hex = |s: &str| s.bytes().all(|b| b.is_ascii_hexdigit());
    if salt.is_empty()
        || salt.len() > 128
        || !is_hex(salt)
        || key.len() != BA_SCRYPT_KEY_BYTES * 2
        || !is_hex(key)
    {
        return None;
    }
    let expected = hex::decode(key).ok()?;
    let params = scrypt::Params::new(
        BA_SCRYPT_LOG_N,
        BA_SCRYPT_R,
        BA_SCRYPT_P,
        BA_SCRYPT_KEY_BYTES,
    )
    .ok()?;
    let normalized: String = password.nfkc().collect();
    let mut actual = [0u8; BA_SCRYPT_KEY_BYTES];
    scrypt::scrypt(normalized.as_bytes(), salt.as_bytes(), &params, &mut actual).ok()?;
    Some(if bool::from(actual.as_slice().ct_eq(&expected)) {
        Verified::Match { rehash: true }
    } else {
        Verified::NoMatch
    })
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
    fn better_auth_scrypt_is_verified_natively() {
        // Made by better-auth 1.7's own `hashPassword` (better-auth/crypto, node:crypto scrypt).
        let h = "188b5306771390a150008390c69f5ea8:3c8c137212f31f6dc2e6499546d84891b2c96547a10636ef3a458c8c517dde35ff9b44bbe26a0c61544102cd2cf546bce464cf3eaeee063b02ade3dca6084d9a";
        assert_eq!(
            verify_password("correct horse battery staple", h, 1000),
            Verified::Match { rehash: true }
        );
        assert_eq!(
            verify_password("correct horse battery stapler", h, 1000),
            Verified::NoMatch
        );
        // Passwords are NFKC-normalized first: a decomposed "pässwörd" and the composed one agree,
        // and the "ﬁ" ligature is "fi".
        let composed = "2fda5e9f81e3706428f7a0dcdc051fed:8b86a08e4e3b1d8159dc68687931e5fd9b6ebac8f3913397aaf8b412e07fcde49c315f0e844aaf9cc85be1a8491970040b5c55dbe98f81e265cd1fb8edcf162c";
        assert_eq!(
            verify_password("pa\u{308}sswo\u{308}rd", composed, 1000),
            Verified::Match { rehash: true }
        );
        assert_eq!(
            verify_password("p\u{e4}ssw\u{f6}rd", composed, 1000),
            Verified::Match { rehash: true }
        );
        let ligature = "eaf34295d75ca8d4aef17591e62a638f:8aaf0de030440d7320eb3907d4c4e70a1ec2ed65addf4533c7bbe3a3aa54b1bd5cab1d97d70bf9c6710d87a4ce9ed20a824e167b45635234199fa242c200d730";
        assert_eq!(
            verify_password("finance-2024", ligature, 1000),
            Verified::Match { rehash: true }
        );
        // A changed key byte or salt no longer matches; malformed forms are not scrypt at all.
        let flipped = h.replacen(":3c", ":3d", 1);
        assert_eq!(
            verify_password("correct horse battery staple", &flipped, 1000),
            Verified::NoMatch
        );
        let other_salt = h.replacen("188b", "188c", 1);
        assert_eq!(
            verify_password("correct horse battery staple", &other_salt, 1000),
            Verified::NoMatch
        );
        for bad in [
            &h[..h.len() - 2],
            &h[33..],
            &h.replacen(':', "", 1)[..],
            &format!("zz{}", &h[2..])[..],
            &format!("{h}:00")[..],
        ] {
            assert_eq!(
                verify_password("correct horse battery staple", bad, 1000),
                Verified::UnknownFormat,
                "{bad}"
            );
        }
    }

    #[test]
    fn bcrypt_costs_past_the_bound_are_not_run() {
        // A crafted `$2b$31$` hash made one sign-in run for hours (2^31 rounds); found writing
        // the password_hashes fuzz target, where such a hash is a timeout.
        let h = bcrypt::hash("hunter22", 4).unwrap();
        let started = std::time::Instant::now();
        for cost in ["17", "20", "31", "99", "4x", "+4"] {
            let crafted = h.replacen("$04$", &format!("${cost}$"), 1);
            assert_eq!(
                verify_password("hunter22", &crafted, 1000),
                Verified::UnknownFormat,
                "{crafted}"
            );
        }
        assert!(started.elapsed() < std::time::Duration::from_secs(1));
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
