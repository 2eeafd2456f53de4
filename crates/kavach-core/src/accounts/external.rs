//! `externalAuth`: sessions issued by the library an app migrates from. `cookieAuth` accepts a
//! better-auth session cookie (`<token>.<base64 HMAC-SHA256(secret, token)>`) for a `kavach_session`
//! row imported with its raw token, so that people stay signed in across the move.

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use hmac::{Hmac, Mac};
use serde::Deserialize;
use sha2::Sha256;

use crate::error::{KavachError, Result};

/// `externalAuth: [{ id, options }]` as the JS factories describe them.
#[derive(Debug, Clone, Deserialize)]
pub struct ExternalAuthEntry {
    pub id: String,
    #[serde(default)]
    pub options: serde_json::Value,
}

/// A checked `cookieAuth({ secret, cookieName })`.
#[derive(Clone)]
pub struct CookieAuth {
    secret: Vec<u8>,
    pub cookie_name: String,
}

impl std::fmt::Debug for CookieAuth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CookieAuth")
            .field("cookie_name", &self.cookie_name)
            .finish_non_exhaustive()
    }
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct CookieAuthOptions {
    secret: String,
    #[serde(default)]
    cookie_name: Option<String>,
}

/// Checks the `externalAuth` list.
pub fn parse(entries: &[ExternalAuthEntry]) -> Result<Vec<CookieAuth>> {
    let mut out = Vec::new();
    for e in entries {
        match e.id.as_str() {
            "cookie-auth" => {
                let o: CookieAuthOptions =
                    serde_json::from_value(e.options.clone()).map_err(|err| {
                        KavachError::ConfigInvalid(format!("cookieAuth options are invalid: {err}"))
                    })?;
                if o.secret.is_empty() {
                    return Err(KavachError::ConfigInvalid(
                        "cookieAuth needs the secret the old sessions were signed with".into(),
                    ));
                }
                let cookie_name = o
                    .cookie_name
                    .unwrap_or_else(|| "better-auth.session_token".into());
                if cookie_name.is_empty() || cookie_name.contains([';', '=', ' ']) {
                    return Err(KavachError::ConfigInvalid(
                        "cookieAuth cookieName is not a cookie name".into(),
                    ));
                }
                out.push(CookieAuth {
                    secret: o.secret.into_bytes(),
                    cookie_name,
                });
            }
            other => {
                return Err(KavachError::ConfigInvalid(format!(
                    "externalAuth entry \"{other}\" is not known"
                )))
            }
        }
    }
    Ok(out)
}

fn percent_decode(v: &str) -> String {
    form_urlencoded::parse(format!("x={}", v.replace('+', "%2B")).as_bytes())
        .next()
        .map(|(_, v)| v.into_owned())
        .unwrap_or_default()
}

impl CookieAuth {
    /// The session token inside a signed cookie value, if the signature is right.
    pub fn verify(&self, raw_cookie_value: &str) -> Option<String> {
        let value = percent_decode(raw_cookie_value);
        let (token, signature) = value.rsplit_once('.')?;
        if token.is_empty() || token.len() > 256 {
            return None;
        }
        // A kavachos session row stores a 64-hex SHA-256: never let a signed value name one directly.
        if token.len() == 64 && token.bytes().all(|b| b.is_ascii_hexdigit()) {
            return None;
        }
        let expected = STANDARD.decode(signature).ok()?;
        let mut mac = Hmac::<Sha256>::new_from_slice(&self.secret).ok()?;
        mac.update(token.as_bytes());
        mac.verify_slice(&expected).ok()?;
        Some(token.to_owned())
    }

    /// The cookie value this adapter reads, also under the `__Secure-` prefix.
    pub fn cookie_value<'a>(
        &self,
        cookies: impl Iterator<Item = (&'a str, &'a str)>,
    ) -> Option<&'a str> {
        let secure = format!("__Secure-{}", self.cookie_name);
        let mut found = None;
        for (k, v) in cookies {
            if k == self.cookie_name || k == secure {
                found = Some(v);
            }
        }
        found
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sign(secret: &str, token: &str) -> String {
        let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).unwrap();
        mac.update(token.as_bytes());
        format!("{token}.{}", STANDARD.encode(mac.finalize().into_bytes()))
    }

    #[test]
    fn verifies_better_auth_signed_values() {
        let a = CookieAuth {
            secret: b"old-secret".to_vec(),
            cookie_name: "better-auth.session_token".into(),
        };
        let signed = sign("old-secret", "AbCdEf0123456789AbCdEf0123456789");
        assert_eq!(
            a.verify(&signed).as_deref(),
            Some("AbCdEf0123456789AbCdEf0123456789")
        );
        let encoded: String = form_urlencoded::byte_serialize(signed.as_bytes()).collect();
        assert_eq!(
            a.verify(&encoded).as_deref(),
            Some("AbCdEf0123456789AbCdEf0123456789")
        );
        assert_eq!(
            a.verify(&sign("other-secret", "AbCdEf0123456789AbCdEf0123456789")),
            None
        );
        assert_eq!(a.verify("AbCdEf0123456789AbCdEf0123456789"), None);
        assert_eq!(
            a.verify(&sign("old-secret", &"a".repeat(64))),
            None,
            "a kavachos hash is never a raw token"
        );
    }

    #[test]
    fn parse_rejects_unknown_or_empty() {
        let e = |v: serde_json::Value| serde_json::from_value::<Vec<ExternalAuthEntry>>(v).unwrap();
        assert!(parse(&e(
            serde_json::json!([{ "id": "cookie-auth", "options": { "secret": "s" } }])
        ))
        .is_ok());
        assert!(parse(&e(
            serde_json::json!([{ "id": "cookie-auth", "options": { "secret": "" } }])
        ))
        .is_err());
        assert!(parse(&e(serde_json::json!([{ "id": "clerk", "options": {} }]))).is_err());
    }
}
