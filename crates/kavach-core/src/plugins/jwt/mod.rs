//! The jwt plugin: JWTs for the current session, signed with EdDSA (default) or RS256 by a key kept
//! in `kavach_jwks` (its private half sealed with the instance secret), published as a JWKS, and
//! rotated without breaking the tokens the previous key signed.
//!
//! Verification trusts only our own keys: the `kid` picks the key, the header's `alg` must equal the
//! key's algorithm (so `none`, HS* and any RS/HS confusion are refused before a signature is
//! checked), then `exp`, `iss` and `aud` are checked against this instance's clock and options.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::Deserialize;
use serde_json::{json, Map, Value};
use sqlx::Row;

use crate::accounts::human::{Session, User};
use crate::crypto::token::new_id;
use crate::error::{KavachError, Result};
use crate::http::{ok, ok_value};
use crate::kavach::Kavach;
use crate::route;
use crate::store::db::BeginWrite;
use crate::store::db::{sql_for, Ts};
use crate::{col_str, on_pool};

/// Claims kavachos sets itself; `customClaims` may not return them (the issue fails instead).
pub const RESERVED_CLAIMS: [&str; 8] = ["iss", "sub", "aud", "exp", "iat", "nbf", "jti", "sid"];

/// How long after its retirement a key stays in the JWKS beyond the token lifetime (clock skew of
/// the verifiers).
pub const RETIRED_KEY_LEEWAY_SECS: i64 = 60;

const DEFAULT_EXPIRES_IN: u64 = 900;
const MAX_TOKEN_LEN: usize = 16 * 1024;
const RSA_BITS: usize = 2048;

/// A signing algorithm kavachos issues with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JwtAlg {
    EdDsa,
    Rs256,
}

impl JwtAlg {
    pub fn as_str(self) -> &'static str {
        match self {
            JwtAlg::EdDsa => "EdDSA",
            JwtAlg::Rs256 => "RS256",
        }
    }
    fn parse(s: &str) -> Option<Self> {
        match s {
            "EdDSA" => Some(JwtAlg::EdDsa),
            "RS256" => Some(JwtAlg::Rs256),
            _ => None,
        }
    }
    fn algorithm(self) -> Algorithm {
        match self {
            JwtAlg::EdDsa => Algorithm::EdDSA,
            JwtAlg::Rs256 => Algorithm::RS256,
        }
    }
}

/// `jwt({ algorithm?, expiresIn?, issuer?, audience? })`, checked.
#[derive(Clone)]
pub struct JwtSettings {
    pub algorithm: JwtAlg,
    /// Token lifetime in seconds.
    pub expires_in_secs: i64,
    pub issuer: String,
    /// Empty: tokens carry no `aud` and verification checks none.
    pub audience: Vec<String>,
    secret: Vec<u8>,
}

impl std::fmt::Debug for JwtSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("JwtSettings")
            .field("algorithm", &self.algorithm)
            .field("expires_in_secs", &self.expires_in_secs)
            .field("issuer", &self.issuer)
            .field("audience", &self.audience)
            .finish_non_exhaustive()
    }
}

impl JwtSettings {
    /// Milliseconds a retired key stays published (and verifying) after its retirement.
    pub fn retired_window_ms(&self) -> i64 {
        (self.expires_in_secs + RETIRED_KEY_LEEWAY_SECS) * 1000
    }
}

#[derive(Deserialize)]
#[serde(untagged)]
enum Audience {
    One(String),
    Many(Vec<String>),
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct JwtOptions {
    #[serde(default)]
    algorithm: Option<String>,
    #[serde(default)]
    expires_in: Option<u64>,
    #[serde(default)]
    issuer: Option<String>,
    #[serde(default)]
    audience: Option<Audience>,
}

/// Reads the `jwt` entry of `plugins` (if any). The plugin needs the instance secret: its private
/// keys are stored sealed with a key derived from it.
fn parse_options(
    options: &Value,
    secret: Option<&str>,
    base_url: Option<&str>,
) -> Result<JwtSettings> {
    let bad = |m: &str| KavachError::ConfigInvalid(format!("jwt(): {m}"));
    let o: JwtOptions = match options {
        Value::Null => JwtOptions::default(),
        v => serde_json::from_value(v.clone()).map_err(|e| bad(&e.to_string()))?,
    };
    let algorithm = match o.algorithm.as_deref() {
        None => JwtAlg::EdDsa,
        Some(a) => JwtAlg::parse(a).ok_or_else(|| bad("algorithm must be 'EdDSA' or 'RS256'"))?,
    };
    let expires_in = o.expires_in.unwrap_or(DEFAULT_EXPIRES_IN);
    if expires_in == 0 || expires_in > 366 * 86_400 {
        return Err(bad("expiresIn must be between 1 second and 366 days"));
    }
    let issuer = match o.issuer {
        Some(i) if i.is_empty() => return Err(bad("issuer must not be empty")),
        Some(i) => i,
        None => base_url
            .map(|b| b.trim_end_matches('/').to_owned())
            .filter(|b| !b.is_empty())
            .unwrap_or_else(|| "kavachos".into()),
    };
    let audience = match o.audience {
        None => Vec::new(),
        Some(Audience::One(a)) => vec![a],
        Some(Audience::Many(list)) => list,
    };
    if audience.iter().any(String::is_empty) {
        return Err(bad("audience entries must not be empty"));
    }
    let secret = secret.ok_or_else(|| {
        bad("needs the instance secret (its signing keys are stored encrypted with it)")
    })?;
    Ok(JwtSettings {
        algorithm,
        expires_in_secs: i64::try_from(expires_in).unwrap_or(DEFAULT_EXPIRES_IN as i64),
        issuer,
        audience,
        secret: secret.as_bytes().to_vec(),
    })
}

/// `jwt(options)` of `kavachos/plugins`, running: its settings and the keys it parsed.
pub struct JwtPlugin {
    pub settings: JwtSettings,
    ring: KeyRing,
}

/// The registry's factory.
pub fn plugin(
    options: &Value,
    env: &crate::plugin::PluginEnv<'_>,
) -> Result<Arc<dyn crate::plugin::Plugin>> {
    let settings = parse_options(options, env.secret, env.base_url)?;
    let ring = KeyRing::new(
        "kavach_jwks",
        settings.algorithm,
        &settings.secret,
        settings.retired_window_ms(),
    );
    Ok(Arc::new(JwtPlugin { settings, ring }))
}

impl crate::plugin::Plugin for JwtPlugin {
    fn id(&self) -> &'static str {
        "jwt"
    }

    fn routes(&self) -> &'static [crate::plugin::Route] {
        ROUTES
    }

    fn namespace(&self) -> Option<&'static str> {
        Some("jwt")
    }

    fn call<'a>(
        &'a self,
        k: &'a Kavach,
        op: &'a str,
        input: Value,
    ) -> crate::BoxFut<'a, Result<Value>> {
        Box::pin(call(k, op, input))
    }

    fn as_any(&self) -> &dyn std::any::Any {
        self
    }
}

/// `kavach.jwt.<op>(input)`: `issue` (`{ cookie?, authorization? }` -> `{ token }`), `verify` (a
/// token -> its claims), `jwks` (-> `{ keys }`), `rotateKeys` (-> `{ kid }`).
async fn call(k: &Kavach, op: &str, input: Value) -> Result<Value> {
    match op {
        "issue" => {
            k.jwt_settings()?;
            let text = |v: &Value| v.as_str().map(str::to_owned);
            let (session, user) = k
                .session_of_headers(text(&input["cookie"]), text(&input["authorization"]))
                .await?
                .ok_or(KavachError::Unauthorized)?;
            Ok(json!({ "token": k.jwt_issue(&session, &user).await? }))
        }
        "verify" => match &input {
            Value::String(token) => k.jwt_verify(token).await,
            _ => Err(KavachError::validation("the token must be a string")),
        },
        "jwks" => k.jwt_jwks().await,
        "rotateKeys" => Ok(json!({ "kid": k.jwt_rotate_keys().await? })),
        _ => Err(KavachError::Internal("unknown jwt call".into())),
    }
}

/// Keys parsed once per `kid` (a kid's key material never changes; whether it is active or
/// published is read from the database on every use, so other instances' rotations count at once).
#[derive(Default)]
struct KeyCache {
    signers: parking_lot::Mutex<HashMap<String, Arc<EncodingKey>>>,
    verifiers: parking_lot::Mutex<HashMap<String, Arc<DecodingKey>>>,
}

struct KeyRow {
    kid: String,
    alg: String,
    public_jwk: String,
    private_key: String,
    retired_at: Option<i64>,
}

struct NewKey {
    kid: String,
    alg: JwtAlg,
    public_jwk: Value,
    pkcs8: Vec<u8>,
}

/// What a rotation retires before it installs the new key.
enum Retire {
    /// Nothing: the first key, installed only if no key is active.
    Nothing,
    /// Whatever key is active.
    Active,
    /// This key, only if it is still the active one (another instance may have rotated already).
    Kid(String),
}

fn b64(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

fn internal(what: &str) -> KavachError {
    KavachError::Internal(format!("jwt: {what}"))
}

/// Makes a fresh key pair (CPU-bound: RSA-2048 takes a while; run off the async threads).
fn generate(alg: JwtAlg) -> Result<NewKey> {
    use rand::RngCore;
    let mut kid_bytes = [0u8; 16];
    rand::rngs::OsRng.fill_bytes(&mut kid_bytes);
    let kid = b64(&kid_bytes);
    let (public_jwk, pkcs8) = match alg {
        JwtAlg::EdDsa => {
            use ed25519_dalek::pkcs8::EncodePrivateKey;
            let sk = ed25519_dalek::SigningKey::generate(&mut rand::rngs::OsRng);
            let der = sk
                .to_pkcs8_der()
                .map_err(|_| internal("could not encode an Ed25519 key"))?;
            (
                json!({ "kty": "OKP", "crv": "Ed25519", "x": b64(sk.verifying_key().as_bytes()) }),
                der.as_bytes().to_vec(),
            )
        }
        JwtAlg::Rs256 => {
            use rsa::pkcs8::EncodePrivateKey;
            use rsa::traits::PublicKeyParts;
            let sk = rsa::RsaPrivateKey::new(&mut rand::rngs::OsRng, RSA_BITS)
                .map_err(|_| internal("could not generate an RSA key"))?;
            let der = sk
                .to_pkcs8_der()
                .map_err(|_| internal("could not encode an RSA key"))?;
            (
                json!({ "kty": "RSA", "n": b64(&sk.n().to_bytes_be()), "e": b64(&sk.e().to_bytes_be()) }),
                der.as_bytes().to_vec(),
            )
        }
    };
    let mut jwk = public_jwk;
    if let Value::Object(m) = &mut jwk {
        m.insert("kid".into(), Value::String(kid.clone()));
        m.insert("alg".into(), Value::String(alg.as_str().into()));
        m.insert("use".into(), Value::String("sig".into()));
    }
    Ok(NewKey {
        kid,
        alg,
        public_jwk: jwk,
        pkcs8,
    })
}

/// The sealing label of a signing key's private half.
pub(crate) fn seal_label(kid: &str) -> String {
    format!("jwt-key:{kid}")
}

fn encoding_key(secret: &[u8], row: &KeyRow) -> Result<EncodingKey> {
    let der = crate::crypto::sealed::open(secret, &seal_label(&row.kid), &row.private_key)?;
    match JwtAlg::parse(&row.alg) {
        Some(JwtAlg::EdDsa) => Ok(EncodingKey::from_ed_der(&der)),
        Some(JwtAlg::Rs256) => {
            use rsa::pkcs1::EncodeRsaPrivateKey;
            use rsa::pkcs8::DecodePrivateKey;
            let sk = rsa::RsaPrivateKey::from_pkcs8_der(&der)
                .map_err(|_| internal("a stored RSA key is unreadable"))?;
            let pkcs1 = sk
                .to_pkcs1_der()
                .map_err(|_| internal("a stored RSA key is unreadable"))?;
            Ok(EncodingKey::from_rsa_der(pkcs1.as_bytes()))
        }
        None => Err(internal("a stored key has an unknown algorithm")),
    }
}

fn decoding_key(row: &KeyRow) -> Result<DecodingKey> {
    let jwk: Value = serde_json::from_str(&row.public_jwk)
        .map_err(|_| internal("a stored public key is unreadable"))?;
    let part = |k: &str| jwk.get(k).and_then(Value::as_str).unwrap_or_default();
    let key = match JwtAlg::parse(&row.alg) {
        Some(JwtAlg::EdDsa) => DecodingKey::from_ed_components(part("x")),
        Some(JwtAlg::Rs256) => DecodingKey::from_rsa_components(part("n"), part("e")),
        None => return Err(internal("a stored key has an unknown algorithm")),
    };
    key.map_err(|_| internal("a stored public key is unreadable"))
}

macro_rules! key_from_row {
    ($r:expr) => {{
        let r = $r;
        KeyRow {
            kid: col_str!(r, "kid")?,
            alg: col_str!(r, "alg")?,
            public_jwk: col_str!(r, "public_jwk")?,
            private_key: col_str!(r, "private_key")?,
            retired_at: r.try_get::<Option<Ts>, _>("retired_at")?.map(|t| t.0),
        }
    }};
}

const KEY_COLUMNS: &str = "kid, alg, public_jwk, private_key, retired_at";

fn invalid(m: &'static str) -> KavachError {
    KavachError::JwtInvalid(m)
}

/// A set of signing keys in one table (`kavach_jwks` for the jwt plugin, `kavach_mcp_jwks` for the
/// MCP server): one active key, retired keys published for `window_ms`, private halves sealed.
pub struct KeyRing {
    table: &'static str,
    alg: JwtAlg,
    secret: Vec<u8>,
    window_ms: i64,
    cache: KeyCache,
}

impl KeyRing {
    /// `table` is one of ours (never input): it is named in SQL.
    pub fn new(table: &'static str, alg: JwtAlg, secret: &[u8], window_ms: i64) -> Self {
        Self {
            table,
            alg,
            secret: secret.to_vec(),
            window_ms,
            cache: KeyCache::default(),
        }
    }

    fn sql(&self, k: &Kavach, s: &str) -> String {
        sql_for(k.dialect(), &s.replace("kavach_jwks", self.table)).into_owned()
    }

    async fn active(&self, k: &Kavach) -> Result<Option<KeyRow>> {
        let sql = self.sql(
            k,
            &format!("SELECT {KEY_COLUMNS} FROM kavach_jwks WHERE active_slot = 1"),
        );
        Ok(
            on_pool!(k.pool(), p => match sqlx::query(&sql).fetch_optional(p).await? {
                None => None,
                Some(r) => Some(key_from_row!(&r)),
            }),
        )
    }

    async fn by_kid(&self, k: &Kavach, kid: &str) -> Result<Option<KeyRow>> {
        let sql = self.sql(
            k,
            &format!("SELECT {KEY_COLUMNS} FROM kavach_jwks WHERE kid = ?"),
        );
        Ok(
            on_pool!(k.pool(), p => match sqlx::query(&sql).bind(kid).fetch_optional(p).await? {
                None => None,
                Some(r) => Some(key_from_row!(&r)),
            }),
        )
    }

    /// Installs a new active key after retiring what `retire` says, in one transaction. `None`:
    /// another instance changed the active key meanwhile (the caller reads it again).
    async fn install(&self, k: &Kavach, retire: Retire) -> Result<Option<KeyRow>> {
        let alg = self.alg;
        let key = tokio::task::spawn_blocking(move || generate(alg))
            .await
            .map_err(|_| internal("key generation stopped"))??;
        let now = k.now_ms();
        let sealed = crate::crypto::sealed::seal(&self.secret, &seal_label(&key.kid), &key.pkcs8)?;
        let jwk = key.public_jwk.to_string();
        let retire_sql = self.sql(
            k,
            "UPDATE kavach_jwks SET active_slot = NULL, retired_at = ? WHERE active_slot = 1",
        );
        let retire_kid_sql = self.sql(
            k,
            "UPDATE kavach_jwks SET active_slot = NULL, retired_at = ? WHERE active_slot = 1 AND kid = ?",
        );
        let insert_sql = self.sql(
            k,
            "INSERT INTO kavach_jwks (kid, alg, public_jwk, private_key, active_slot, created_at, retired_at) VALUES (?, ?, ?, ?, 1, ?, NULL)",
        );
        // Keys retired longer ago than any token they signed can live are of no use to anyone.
        let prune_sql = self.sql(
            k,
            "DELETE FROM kavach_jwks WHERE retired_at IS NOT NULL AND retired_at < ?",
        );
        let prune_before = now - self.window_ms;
        let outcome: std::result::Result<bool, sqlx::Error> = on_pool!(k.pool(), p => async {
            let mut tx = p.begin_write().await?;
            match &retire {
                Retire::Nothing => {}
                Retire::Active => {
                    sqlx::query(&retire_sql).bind(Ts(now)).execute(&mut *tx).await?;
                }
                Retire::Kid(kid) => {
                    let done = sqlx::query(&retire_kid_sql).bind(Ts(now)).bind(kid).execute(&mut *tx).await?;
                    if done.rows_affected() == 0 {
                        return Ok(false);
                    }
                }
            }
            sqlx::query(&insert_sql)
                .bind(&key.kid).bind(key.alg.as_str()).bind(&jwk).bind(&sealed).bind(Ts(now))
                .execute(&mut *tx).await?;
            sqlx::query(&prune_sql).bind(Ts(prune_before)).execute(&mut *tx).await?;
            tx.commit().await?;
            Ok(true)
        }.await);
        match outcome {
            Ok(true) => Ok(Some(KeyRow {
                kid: key.kid,
                alg: key.alg.as_str().into(),
                public_jwk: jwk,
                private_key: sealed,
                retired_at: None,
            })),
            Ok(false) => Ok(None),
            // Another instance installed an active key first (the unique index kept it single), or
            // the database broke a lock cycle between the two: read the active key again.
            Err(sqlx::Error::Database(e))
                if e.is_unique_violation()
                    || matches!(e.code().as_deref(), Some("40001" | "40P01" | "5" | "517")) =>
            {
                Ok(None)
            }
            Err(e) => Err(e.into()),
        }
    }

    /// The active signing key, made on first use. If the configured algorithm changed, the first
    /// use rotates to a key of the new algorithm (the old key keeps verifying its tokens).
    async fn signing_key(&self, k: &Kavach) -> Result<KeyRow> {
        for _ in 0..5 {
            let installed = match self.active(k).await? {
                Some(row) if row.alg == self.alg.as_str() => return Ok(row),
                Some(row) => self.install(k, Retire::Kid(row.kid)).await?,
                None => self.install(k, Retire::Nothing).await?,
            };
            if let Some(row) = installed {
                return Ok(row);
            }
        }
        Err(KavachError::Conflict(
            "the signing key is changing; try again".into(),
        ))
    }

    /// Makes a new active key and retires the current one (which stays in the JWKS, and verifies
    /// its tokens, for the ring's window). Returns the new `kid`.
    pub async fn rotate(&self, k: &Kavach) -> Result<String> {
        for _ in 0..5 {
            if let Some(row) = self.install(k, Retire::Active).await? {
                return Ok(row.kid);
            }
        }
        Err(KavachError::Conflict(
            "the signing key is changing; try again".into(),
        ))
    }

    /// `{ keys }`: the active key and every retired one still inside its window.
    pub async fn jwks(&self, k: &Kavach) -> Result<Value> {
        self.signing_key(k).await?;
        let sql = self.sql(
            k,
            "SELECT public_jwk FROM kavach_jwks WHERE retired_at IS NULL OR retired_at > ? ORDER BY CASE WHEN active_slot = 1 THEN 0 ELSE 1 END, retired_at DESC, created_at DESC, kid",
        );
        let since = k.now_ms() - self.window_ms;
        let rows: Vec<String> = on_pool!(k.pool(), p => {
            let rows = sqlx::query(&sql).bind(Ts(since)).fetch_all(p).await?;
            let mut out = Vec::with_capacity(rows.len());
            for r in &rows {
                out.push(col_str!(r, "public_jwk")?);
            }
            out
        });
        let keys = rows
            .iter()
            .map(|j| serde_json::from_str::<Value>(j))
            .collect::<std::result::Result<Vec<_>, _>>()
            .map_err(|_| internal("a stored public key is unreadable"))?;
        Ok(json!({ "keys": keys }))
    }

    /// Signs `claims` with the active key; the header names the key and `typ`.
    pub async fn sign(&self, k: &Kavach, typ: &str, claims: &Map<String, Value>) -> Result<String> {
        let row = self.signing_key(k).await?;
        let alg = JwtAlg::parse(&row.alg).ok_or_else(|| internal("unknown key algorithm"))?;
        let cached = self.cache.signers.lock().get(&row.kid).cloned();
        let key = match cached {
            Some(key) => key,
            None => {
                let key = Arc::new(encoding_key(&self.secret, &row)?);
                self.cache
                    .signers
                    .lock()
                    .insert(row.kid.clone(), key.clone());
                key
            }
        };
        let mut header = Header::new(alg.algorithm());
        header.kid = Some(row.kid);
        header.typ = Some(typ.into());
        jsonwebtoken::encode(&header, claims, &key).map_err(|_| internal("signing failed"))
    }

    /// Checks that `token` is signed by one of this ring's published keys with that key's
    /// algorithm; answers its header `typ` and its claims. Nothing else (time, issuer, audience)
    /// is checked here.
    pub async fn verify_signature(
        &self,
        k: &Kavach,
        token: &str,
    ) -> Result<(Option<String>, Map<String, Value>)> {
        let token = token.trim();
        if token.is_empty() || token.len() > MAX_TOKEN_LEN {
            return Err(invalid("the token is not a valid JWT"));
        }
        // Unsupported algorithms (`none` included) fail to parse here.
        let header = jsonwebtoken::decode_header(token)
            .map_err(|_| invalid("the token is not a valid JWT"))?;
        let kid = header
            .kid
            .filter(|k| !k.is_empty() && k.len() <= 64)
            .ok_or_else(|| invalid("the token names no signing key of this issuer"))?;
        let row = self
            .by_kid(k, &kid)
            .await?
            .filter(|r| !matches!(r.retired_at, Some(t) if k.now_ms() >= t + self.window_ms))
            .ok_or_else(|| invalid("the token names no signing key of this issuer"))?;
        let alg = JwtAlg::parse(&row.alg).ok_or_else(|| internal("unknown key algorithm"))?;
        if header.alg != alg.algorithm() {
            return Err(invalid("the token's algorithm is not its key's"));
        }
        let cached = self.cache.verifiers.lock().get(&kid).cloned();
        let key = match cached {
            Some(key) => key,
            None => {
                let key = Arc::new(decoding_key(&row)?);
                self.cache.verifiers.lock().insert(kid, key.clone());
                key
            }
        };
        // Only the signature is jsonwebtoken's to check; time and issuer use this instance's clock.
        let mut v = Validation::new(alg.algorithm());
        v.validate_exp = false;
        v.validate_nbf = false;
        v.validate_aud = false;
        v.required_spec_claims = HashSet::new();
        v.leeway = 0;
        let data =
            jsonwebtoken::decode::<Map<String, Value>>(token, &key, &v).map_err(|e| {
                match e.kind() {
                    jsonwebtoken::errors::ErrorKind::InvalidSignature => {
                        invalid("the token's signature is not valid")
                    }
                    _ => invalid("the token is not a valid JWT"),
                }
            })?;
        Ok((header.typ, data.claims))
    }
}

impl Kavach {
    /// The plugin's options, or CONFIG_INVALID when `jwt()` is not in `plugins`.
    pub fn jwt_settings(&self) -> Result<&JwtSettings> {
        self.check_open()?;
        install_crypto_provider();
        self.jwt_plugin().map(|p| &p.settings)
    }

    fn jwt_plugin(&self) -> Result<&JwtPlugin> {
        self.plugin::<JwtPlugin>().ok_or_else(|| {
            KavachError::ConfigInvalid("JWTs need the jwt() plugin in plugins".into())
        })
    }

    /// Makes a new active key and retires the current one (which stays in the JWKS, and verifies
    /// its tokens, for `expiresIn` + 60 s). Returns the new `kid`.
    pub async fn jwt_rotate_keys(&self) -> Result<String> {
        self.jwt_settings()?;
        self.jwt_plugin()?.ring.rotate(self).await
    }

    /// `{ keys }`: the active key and every retired one still inside its window.
    pub async fn jwt_jwks(&self) -> Result<Value> {
        self.jwt_settings()?;
        self.jwt_plugin()?.ring.jwks(self).await
    }

    /// Issues a JWT for the session that `session_token` names; UNAUTHORIZED without one.
    pub async fn jwt_issue_for_session_token(&self, session_token: &str) -> Result<String> {
        self.jwt_settings()?;
        match self.get_session(session_token).await? {
            Some((session, user)) => self.jwt_issue(&session, &user).await,
            None => Err(KavachError::Unauthorized),
        }
    }

    /// Issues a JWT for a session: `iss`, `sub` (user id), `aud` (if configured), `iat`, `exp`,
    /// `jti`, `sid` (session id), `email`, and what `customClaims` adds.
    pub async fn jwt_issue(&self, session: &Session, user: &User) -> Result<String> {
        let s = self.jwt_settings()?;
        let mut claims = Map::new();
        if let Some(cb) = &self.callbacks().jwt_claims {
            let extra = cb
                .claims(json!({ "session": session, "user": user }))
                .await
                .map_err(|_| KavachError::JwtClaimsFailed)?;
            let Value::Object(extra) = extra else {
                return Err(KavachError::JwtClaimsInvalid(
                    "jwt customClaims must return an object of claims".into(),
                ));
            };
            if let Some(k) = extra.keys().find(|k| RESERVED_CLAIMS.contains(&k.as_str())) {
                return Err(KavachError::JwtClaimsInvalid(format!(
                    "jwt customClaims may not set the reserved claim \"{k}\""
                )));
            }
            claims = extra;
        }
        let now = self.now_ms().div_euclid(1000);
        claims.insert("iss".into(), json!(s.issuer));
        claims.insert("sub".into(), json!(user.id));
        match s.audience.as_slice() {
            [] => {}
            [one] => {
                claims.insert("aud".into(), json!(one));
            }
            many => {
                claims.insert("aud".into(), json!(many));
            }
        }
        claims.insert("iat".into(), json!(now));
        claims.insert("exp".into(), json!(now + s.expires_in_secs));
        claims.insert("jti".into(), json!(new_id()));
        claims.insert("sid".into(), json!(session.id));
        claims.entry("email").or_insert_with(|| json!(user.email));
        self.jwt_plugin()?.ring.sign(self, "JWT", &claims).await
    }

    /// Verifies a JWT against this instance's keys and options; answers its claims.
    pub async fn jwt_verify(&self, token: &str) -> Result<Value> {
        let s = self.jwt_settings()?;
        let (_, claims) = self
            .jwt_plugin()?
            .ring
            .verify_signature(self, token)
            .await?;
        if claims.get("iss").and_then(Value::as_str) != Some(s.issuer.as_str()) {
            return Err(invalid("the token is for another issuer"));
        }
        if !s.audience.is_empty() {
            let matches = match claims.get("aud") {
                Some(Value::String(a)) => s.audience.contains(a),
                Some(Value::Array(list)) => list
                    .iter()
                    .filter_map(Value::as_str)
                    .any(|a| s.audience.iter().any(|c| c == a)),
                _ => false,
            };
            if !matches {
                return Err(invalid("the token is for another audience"));
            }
        }
        if !claims.get("sub").is_some_and(Value::is_string) {
            return Err(invalid("the token has no subject"));
        }
        let now = self.now_ms().div_euclid(1000) as f64;
        let exp = claims
            .get("exp")
            .and_then(Value::as_f64)
            .ok_or_else(|| invalid("the token has no expiry"))?;
        if now >= exp {
            return Err(KavachError::JwtExpired);
        }
        if let Some(nbf) = claims.get("nbf") {
            if !matches!(nbf.as_f64(), Some(nbf) if now >= nbf) {
                return Err(invalid("the token is not valid yet"));
            }
        }
        Ok(Value::Object(claims))
    }
}

/// jsonwebtoken panics at first use if it cannot tell its crypto backend from its features (both
/// on, should another crate turn aws_lc_rs on): name ours. Already set is fine.
pub fn install_crypto_provider() {
    let _ = jsonwebtoken::crypto::CryptoProvider::install_default(
        &jsonwebtoken::crypto::rust_crypto::DEFAULT_PROVIDER,
    );
}

/// The plugin's HTTP routes.
const ROUTES: &[crate::plugin::Route] = &[
    route!("GET", "/jwt/token", |k, req, p| {
        let (session, user) = k.session_and_user(req).await?;
        ok_value(json!({ "token": k.jwt_issue(&session, &user).await? }))
    }),
    route!("GET", "/jwks", |k, req, p| {
        let mut r = ok(&k.jwt_jwks().await?)?;
        for (k, v) in r.headers.iter_mut() {
            if k == "cache-control" {
                *v = "public, max-age=300".into();
            }
        }
        Ok(r)
    }),
];

#[cfg(test)]
mod tests {
    use super::*;

    fn plugin(options: Value) -> Value {
        options
    }
    const SECRET: &str = "0123456789abcdef0123456789abcdef";

    #[test]
    fn options_are_checked() {
        let s = parse_options(&plugin(Value::Null), Some(SECRET), None).unwrap();
        assert_eq!(s.algorithm, JwtAlg::EdDsa);
        assert_eq!(s.expires_in_secs, 900);
        assert_eq!(s.issuer, "kavachos");
        assert!(s.audience.is_empty());
        assert_eq!(s.retired_window_ms(), 960_000);
        assert!(!format!("{s:?}").contains(SECRET));

        let s = parse_options(
            &plugin(json!({ "algorithm": "RS256", "expiresIn": 60, "audience": ["a", "b"] })),
            Some(SECRET),
            Some("https://app.example.com/"),
        )
        .unwrap();
        assert_eq!(s.algorithm, JwtAlg::Rs256);
        assert_eq!(s.issuer, "https://app.example.com");
        assert_eq!(s.audience, vec!["a", "b"]);

        for bad in [
            json!({ "algorithm": "none" }),
            json!({ "algorithm": "HS256" }),
            json!({ "algorithm": "ES256" }),
            json!({ "expiresIn": 0 }),
            json!({ "expiresIn": -5 }),
            json!({ "issuer": "" }),
            json!({ "audience": [""] }),
            json!({ "audience": 5 }),
            json!({ "accessTokenTtl": 900 }),
        ] {
            let e = parse_options(&plugin(bad.clone()), Some(SECRET), None).unwrap_err();
            assert_eq!(e.code(), "CONFIG_INVALID", "{bad}");
        }
        // The private keys are sealed with the secret: no secret, no plugin.
        assert_eq!(
            parse_options(&plugin(Value::Null), None, None)
                .unwrap_err()
                .code(),
            "CONFIG_INVALID"
        );
    }

    #[test]
    fn generated_keys_round_trip_through_their_stored_form() {
        for alg in [JwtAlg::EdDsa, JwtAlg::Rs256] {
            let k = generate(alg).unwrap();
            assert_eq!(k.kid.len(), 22);
            let row = KeyRow {
                kid: k.kid.clone(),
                alg: alg.as_str().into(),
                public_jwk: k.public_jwk.to_string(),
                private_key: crate::crypto::sealed::seal(
                    SECRET.as_bytes(),
                    &seal_label(&k.kid),
                    &k.pkcs8,
                )
                .unwrap(),
                retired_at: None,
            };
            assert_eq!(k.public_jwk["alg"], alg.as_str());
            assert!(
                k.public_jwk.get("d").is_none(),
                "no private part in the JWK"
            );
            let enc = encoding_key(SECRET.as_bytes(), &row).unwrap();
            let dec = decoding_key(&row).unwrap();
            let mut h = Header::new(alg.algorithm());
            h.kid = Some(k.kid.clone());
            let t = jsonwebtoken::encode(&h, &json!({ "sub": "u" }), &enc).unwrap();
            let mut v = Validation::new(alg.algorithm());
            v.required_spec_claims = HashSet::new();
            v.validate_exp = false;
            assert!(jsonwebtoken::decode::<Value>(&t, &dec, &v).is_ok());
            // Another row's label (or another secret) does not open this key.
            let moved = KeyRow {
                kid: "other".into(),
                ..row
            };
            assert!(encoding_key(SECRET.as_bytes(), &moved).is_err());
        }
    }
}
