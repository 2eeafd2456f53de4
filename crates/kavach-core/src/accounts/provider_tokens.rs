//! OAuth provider tokens kept on a `kavach_account` row (`access_token`, `refresh_token`): never in
//! clear. Each is sealed with [`crate::crypto::sealed`] under the instance `secret`, with a label naming the
//! account row and the kind of token, so a sealed value copied onto another row or column does
//! not open. The importers write them this way; OAuth sign-in reads and writes them the same way.

use crate::error::{KavachError, Result};

/// Which of an account's provider tokens.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenKind {
    Access,
    Refresh,
}

impl TokenKind {
    fn label(self, account_id: &str) -> String {
        let kind = match self {
            TokenKind::Access => "access",
            TokenKind::Refresh => "refresh",
        };
        format!("oauth-token:{kind}:{account_id}")
    }
}

/// Seals a provider token for the account row `account_id`.
pub fn seal(secret: &str, account_id: &str, kind: TokenKind, token: &str) -> Result<String> {
    crate::crypto::sealed::seal(secret.as_bytes(), &kind.label(account_id), token.as_bytes())
}

/// Opens what [`seal`] made for the same row and kind.
pub fn open(secret: &str, account_id: &str, kind: TokenKind, sealed: &str) -> Result<String> {
    let plain = crate::crypto::sealed::open(secret.as_bytes(), &kind.label(account_id), sealed)
        .map_err(|_| {
            KavachError::Internal(
                "a stored provider token could not be decrypted (was the instance secret changed?)"
                    .into(),
            )
        })?;
    String::from_utf8(plain)
        .map_err(|_| KavachError::Internal("a stored provider token is not text".into()))
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECRET: &str = "0123456789abcdef0123456789abcdef";

    #[test]
    fn sealed_per_row_and_kind() {
        let s = seal(SECRET, "acc1", TokenKind::Access, "gho_token").unwrap();
        assert!(!s.contains("gho_token"));
        assert_eq!(
            open(SECRET, "acc1", TokenKind::Access, &s).unwrap(),
            "gho_token"
        );
        assert!(open(SECRET, "acc2", TokenKind::Access, &s).is_err());
        assert!(open(SECRET, "acc1", TokenKind::Refresh, &s).is_err());
        assert!(open(
            "another-secret-another-secret-xxxx",
            "acc1",
            TokenKind::Access,
            &s
        )
        .is_err());
    }
}
