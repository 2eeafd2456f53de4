//! Password-hash formats: the first line is a password, the rest a stored hash (PBKDF2
//! `pbkdf2:<n>:<salt>:<key>`, bcrypt `$2a$/$2b$/$2y$`, better-auth's scrypt `<salt>:<key>`, or
//! anything). Verification answers match, no match or unknown format, never a panic; a fresh hash
//! of the password verifies.
#![no_main]

use kavach_core::crypto::passwords::{hash_password, verify_password, Verified};
use kavach_core::fuzzing;
use libfuzzer_sys::fuzz_target;

/// Stored costs the verifier accepts but that would make one run take seconds: the cap itself is
/// tested in the Rust suite, here they only slow the search down.
fn too_slow(stored: &str) -> bool {
    if let Some(rest) = stored.strip_prefix("pbkdf2:") {
        return rest
            .split(':')
            .next()
            .and_then(|n| n.parse::<u32>().ok())
            .is_some_and(|n| n > 20_000);
    }
    if stored.starts_with("$2") {
        return stored
            .get(4..6)
            .and_then(|c| c.parse::<u32>().ok())
            .is_some_and(|c| c > 6);
    }
    false
}

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let (password, stored) = text.split_once('\n').unwrap_or((text, ""));
    let _ = fuzzing::better_auth_known_hash(stored);
    let _ = fuzzing::better_auth_open(password, stored);
    if !too_slow(stored) {
        match verify_password(password, stored, 1000) {
            Verified::Match { .. } | Verified::NoMatch | Verified::UnknownFormat => {}
        }
    }
    let fresh = hash_password(password, 1000);
    assert!(fuzzing::better_auth_known_hash(&fresh));
    assert_eq!(
        verify_password(password, &fresh, 1000),
        Verified::Match { rehash: false }
    );
});
