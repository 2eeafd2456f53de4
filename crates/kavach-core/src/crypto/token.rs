//! Agent tokens: `kv_` + base64url(32 random bytes), stored only as the SHA-256 of the exact string.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use rand::RngCore;
use sha2::{Digest, Sha256};

/// The prefix every agent token starts with.
pub const AGENT_TOKEN_PREFIX: &str = "kv_";
/// How many characters of the token are kept in clear (`kv_` + 8) to help people tell tokens apart.
pub const TOKEN_PREFIX_LEN: usize = 11;

/// A freshly minted agent token: the clear value (shown once) and what is stored.
pub struct MintedToken {
    /// The clear token. Returned once to the caller, never stored.
    pub token: String,
    /// Lowercase hex SHA-256 of `token`.
    pub hash: String,
    /// The first [`TOKEN_PREFIX_LEN`] characters of `token`.
    pub prefix: String,
}

impl std::fmt::Debug for MintedToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MintedToken")
            .field("prefix", &self.prefix)
            .finish_non_exhaustive()
    }
}

/// Mints a new agent token from the OS random source.
pub fn mint_agent_token() -> MintedToken {
    let mut bytes = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    let token = format!("{AGENT_TOKEN_PREFIX}{}", URL_SAFE_NO_PAD.encode(bytes));
    let hash = hash_token(&token);
    let prefix = token.chars().take(TOKEN_PREFIX_LEN).collect();
    MintedToken {
        token,
        hash,
        prefix,
    }
}

/// Lowercase hex SHA-256 of the exact token string. Lookups go through a unique index on this value,
/// so comparing tokens never happens byte by byte in our code.
pub fn hash_token(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

/// A random id: UUIDv7 (time-ordered for index locality, random bits after the timestamp, never sequential).
pub fn new_id() -> String {
    uuid::Uuid::now_v7().to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn token_shape_and_hash() {
        let t = mint_agent_token();
        assert!(t.token.starts_with("kv_"));
        assert_eq!(t.token.len(), 46);
        assert!(t.token[3..]
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_'));
        assert_eq!(t.hash, hash_token(&t.token));
        assert_eq!(t.hash.len(), 64);
        assert_eq!(t.prefix, &t.token[..11]);
        assert!(!format!("{t:?}").contains(&t.token));
    }

    #[test]
    fn ids_are_uuid_v7_and_distinct() {
        let a = new_id();
        let b = new_id();
        assert_ne!(a, b);
        let u = uuid::Uuid::parse_str(&a).unwrap();
        assert_eq!(u.get_version_num(), 7);
        assert_eq!(a.len(), 36);
    }

    #[test]
    fn tokens_are_unique() {
        let a = mint_agent_token();
        let b = mint_agent_token();
        assert_ne!(a.token, b.token);
        assert_ne!(a.hash, b.hash);
    }

    #[test]
    fn hash_is_sha256_of_exact_string() {
        assert_eq!(
            hash_token("abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
        assert_ne!(hash_token("kv_x"), hash_token("kv_x "));
    }
}
