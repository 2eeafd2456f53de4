//! OpenID Connect pieces of OAuth sign-in: discovery (`{issuer}/.well-known/openid-configuration`)
//! and ID token verification against the issuer's JWKS with jsonwebtoken: the signature by a key of
//! the issuer's set (picked by `kid`, refetched once when the set rotated), an asymmetric `alg`
//! matching that key, `iss`, `aud` (our client id), `exp` (60 s leeway) and the `nonce` we sent.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use jsonwebtoken::jwk::JwkSet;
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use parking_lot::Mutex;
use serde::Deserialize;
use serde_json::Value;
use subtle::ConstantTimeEq;

use super::oauth_error;
use crate::error::{KavachError, Result};

/// The largest provider answer read (discovery documents, key sets, tokens, user info).
pub const MAX_ANSWER: usize = 1 << 20;

/// What discovery says about an issuer (only what sign-in needs).
#[derive(Debug, Clone, Deserialize)]
pub struct Discovery {
    pub issuer: String,
    pub authorization_endpoint: String,
    pub token_endpoint: String,
    #[serde(default)]
    pub userinfo_endpoint: Option<String>,
    #[serde(default)]
    pub jwks_uri: Option<String>,
}

/// GETs a JSON document (discovery, JWKS, user info) with an optional bearer token; a non-2xx
/// answer, an answer over [`MAX_ANSWER`] or one that is not JSON is `OAUTH_PROVIDER_ERROR`.
pub async fn get_json(http: &reqwest::Client, url: &str, bearer: Option<&str>) -> Result<Value> {
    let mut req = http.get(url).header("accept", "application/json");
    if let Some(t) = bearer {
        req = req.bearer_auth(t);
    }
    let res = req
        .send()
        .await
        .map_err(|_| oauth_error("OAUTH_PROVIDER_ERROR", "the provider could not be reached"))?;
    let status = res.status();
    let body = res
        .bytes()
        .await
        .map_err(|_| oauth_error("OAUTH_PROVIDER_ERROR", "the provider's answer was cut off"))?;
    if !status.is_success() {
        return Err(oauth_error(
            "OAUTH_PROVIDER_ERROR",
            format!("the provider answered {}", status.as_u16()),
        ));
    }
    if body.len() > MAX_ANSWER {
        return Err(oauth_error(
            "OAUTH_PROVIDER_ERROR",
            "the provider's answer is too large",
        ));
    }
    serde_json::from_slice(&body)
        .map_err(|_| oauth_error("OAUTH_PROVIDER_ERROR", "the provider's answer is not JSON"))
}

/// Fetches and checks an issuer's discovery document: its `issuer` must be exactly the one
/// configured (OpenID Connect Discovery 1.0, section 4.3).
pub async fn discover(http: &reqwest::Client, issuer: &str) -> Result<Discovery> {
    let url = format!(
        "{}/.well-known/openid-configuration",
        issuer.trim_end_matches('/')
    );
    let doc = get_json(http, &url, None).await?;
    let d: Discovery = serde_json::from_value(doc).map_err(|_| {
        oauth_error(
            "OAUTH_PROVIDER_ERROR",
            "the issuer's discovery document lacks its endpoints",
        )
    })?;
    if d.issuer.trim_end_matches('/') != issuer.trim_end_matches('/') {
        return Err(oauth_error(
            "OAUTH_PROVIDER_ERROR",
            "the discovery document names another issuer",
        ));
    }
    for u in [&d.authorization_endpoint, &d.token_endpoint]
        .into_iter()
        .chain(d.userinfo_endpoint.iter())
        .chain(d.jwks_uri.iter())
    {
        super::check_endpoint(u).map_err(|_| {
            oauth_error(
                "OAUTH_PROVIDER_ERROR",
                "the discovery document names an endpoint that is not https",
            )
        })?;
    }
    Ok(d)
}

/// Key sets by `jwks_uri`, with when they were fetched.
#[derive(Default)]
pub struct KeySets {
    sets: Mutex<HashMap<String, (Arc<JwkSet>, Instant)>>,
}

/// A cached set is refetched after this long, and at most this often for an unknown `kid`.
const KEYS_FRESH: Duration = Duration::from_secs(600);
const KEYS_RETRY: Duration = Duration::from_secs(10);

impl KeySets {
    async fn fetch(&self, http: &reqwest::Client, uri: &str) -> Result<Arc<JwkSet>> {
        let doc = get_json(http, uri, None).await?;
        let set: JwkSet = serde_json::from_value(doc).map_err(|_| {
            oauth_error("OAUTH_PROVIDER_ERROR", "the issuer's key set is malformed")
        })?;
        let set = Arc::new(set);
        self.sets
            .lock()
            .insert(uri.to_owned(), (set.clone(), Instant::now()));
        Ok(set)
    }

    /// The key for `kid` (or the only key, when the token names none).
    async fn key(
        &self,
        http: &reqwest::Client,
        uri: &str,
        kid: Option<&str>,
    ) -> Result<jsonwebtoken::jwk::Jwk> {
        let cached = self.sets.lock().get(uri).cloned();
        let pick = |set: &JwkSet| match kid {
            Some(k) => set.find(k).cloned(),
            None if set.keys.len() == 1 => set.keys.first().cloned(),
            None => None,
        };
        if let Some((set, at)) = &cached {
            if at.elapsed() < KEYS_FRESH {
                if let Some(k) = pick(set) {
                    return Ok(k);
                }
                if at.elapsed() < KEYS_RETRY {
                    return Err(id_token_invalid(
                        "it is signed by a key the issuer does not publish",
                    ));
                }
            }
        }
        let set = self.fetch(http, uri).await?;
        pick(&set)
            .ok_or_else(|| id_token_invalid("it is signed by a key the issuer does not publish"))
    }
}

fn id_token_invalid(why: &str) -> KavachError {
    oauth_error(
        "OAUTH_ID_TOKEN_INVALID",
        format!("the provider's ID token was refused: {why}"),
    )
}

/// What an ID token must be.
pub struct Expect<'a> {
    pub issuer: &'a str,
    pub client_id: &'a str,
    /// A second spelling of the issuer the tokens may carry (Google: `accounts.google.com`).
    pub alt_issuer: Option<&'a str>,
    /// The nonce sent with the authorization request (`None`: the token must carry none... or
    /// may, for providers that add one unasked; it is then not checked).
    pub nonce: Option<&'a str>,
}

/// Verifies `token` and answers its claims.
pub async fn verify_id_token(
    http: &reqwest::Client,
    keys: &KeySets,
    jwks_uri: &str,
    token: &str,
    expect: &Expect<'_>,
) -> Result<Value> {
    if token.len() > 16 * 1024 {
        return Err(id_token_invalid("it is too large"));
    }
    let header =
        jsonwebtoken::decode_header(token).map_err(|_| id_token_invalid("it is malformed"))?;
    // Only asymmetric algorithms: an HS* token would be "signed" with our own client secret.
    let alg_ok = matches!(
        header.alg,
        Algorithm::RS256
            | Algorithm::RS384
            | Algorithm::RS512
            | Algorithm::PS256
            | Algorithm::PS384
            | Algorithm::PS512
            | Algorithm::ES256
            | Algorithm::ES384
            | Algorithm::EdDSA
    );
    if !alg_ok {
        return Err(id_token_invalid("its algorithm is not accepted"));
    }
    let jwk = keys.key(http, jwks_uri, header.kid.as_deref()).await?;
    if let Some(key_alg) = jwk.common.key_algorithm {
        if format!("{key_alg:?}") != format!("{:?}", header.alg) {
            return Err(id_token_invalid("its algorithm does not match the key"));
        }
    }
    let key = DecodingKey::from_jwk(&jwk).map_err(|_| id_token_invalid("the key is unusable"))?;
    let mut v = Validation::new(header.alg);
    let mut issuers = vec![expect.issuer, expect.issuer.trim_end_matches('/')];
    issuers.extend(expect.alt_issuer);
    v.set_issuer(&issuers);
    v.set_audience(&[expect.client_id]);
    v.set_required_spec_claims(&["exp", "iss", "aud", "sub"]);
    v.leeway = 60;
    let data = jsonwebtoken::decode::<Value>(token, &key, &v).map_err(|e| {
        use jsonwebtoken::errors::ErrorKind;
        id_token_invalid(match e.kind() {
            ErrorKind::InvalidAudience => "it is for another client (aud)",
            ErrorKind::InvalidIssuer => "it is from another issuer (iss)",
            ErrorKind::ExpiredSignature => "it has expired",
            ErrorKind::InvalidSignature => "its signature does not verify",
            ErrorKind::MissingRequiredClaim(_) => "it lacks a required claim",
            _ => "it does not verify",
        })
    })?;
    let claims = data.claims;
    // With several audiences, the authorized party must be us (OIDC Core 3.1.3.7).
    if let Some(azp) = claims.get("azp").and_then(Value::as_str) {
        if claims.get("aud").is_some_and(Value::is_array) && azp != expect.client_id {
            return Err(id_token_invalid("it was issued to another client (azp)"));
        }
    }
    if let Some(expected) = expect.nonce {
        let got = claims.get("nonce").and_then(Value::as_str).unwrap_or("");
        if !bool::from(got.as_bytes().ct_eq(expected.as_bytes())) {
            return Err(id_token_invalid("its nonce is not the one sent"));
        }
    }
    Ok(claims)
}
