//! The siwe() plugin (better-auth 1.7's `siwe`, Sign-In with Ethereum, EIP-4361):
//! `POST /auth/siwe/nonce { walletAddress, chainId? }` (or `GET` with the same query) issues a
//! single-use nonce for that wallet and chain, and `POST /auth/siwe/verify { message, signature,
//! walletAddress?, chainId?, email? }` checks the signed message and signs the wallet's user in (or
//! up), answering better-auth's `{ token, success, user: { id, walletAddress, chainId } }` with the
//! session cookie.
//!
//! - The message is parsed by the `siwe` crate (spruceid's EIP-4361 implementation) and must be in
//!   EIP-4361's exact form (what `siwe`'s `prepareMessage()` and wallets produce; the optional
//!   `https://` or `http://` scheme before the domain is taken off for the crate). Its `domain` must
//!   be the configured `domain`; its `URI` an http(s) URL on that same authority; `Issued At` not
//!   more than 60 s ahead; `Expiration Time` not past and `Not Before` reached; its address and
//!   chain the ones the nonce was issued for (and the body's `walletAddress` / `chainId` when sent).
//! - The signature (EIP-191 `personal_sign`, 65 bytes, hex) is verified natively over the bytes
//!   sent: keccak-256 (`sha3`) and secp256k1 public-key recovery (`k256`, RustCrypto), as the
//!   `siwe` crate does; the recovered address must be the message's. `verifyMessage` (an async JS
//!   function of `{ message, signature, address, chainId, cacao }`), when given, decides instead
//!   (a throw is a no): the way to accept smart-contract wallets (EIP-1271).
//! - Nonces live in `kavach_one_time` (purpose `siwe`) as keyed hashes only, bound to the
//!   lowercased address and chain id, for 15 minutes, each in a row of its own (a third party
//!   asking for a nonce for someone's wallet cannot void theirs); the
//!   verify route takes (deletes) the nonce's row with a conditional `DELETE` after the signature
//!   checks out, so a nonce signs in once. `getNonce` (an async JS function) may choose the nonce
//!   (8 to 128 letters and digits).
//! - A wallet is found by `kavach_wallet_address` (address and chain, else the same address on
//!   another chain); a new wallet is a new user with the email `<address>@<emailDomainName or
//!   domain's host>` (lowercased), or the body's `email` when `anonymous: false` and no one has it,
//!   named by `ensLookup` when given (else the address); a `siwe` account row (`<address>:<chainId>`)
//!   goes with each wallet row. Addresses are stored EIP-55 checksummed.

use std::str::FromStr;
use std::sync::Arc;

use serde::Deserialize;
use serde_json::{json, Value};
use sqlx::Row;

use crate::accounts::human::User;
use crate::error::{KavachError, Result};
use crate::http::{ok_value, parse_body, ApiError, HttpRequest};
use crate::kavach::Kavach;
use crate::plugins::one_time::{OneTime, Taken};
use crate::store::db::{sql_for, BeginWrite, Ts};
use crate::{col_str, on_pool, route};

/// The `purpose` of the plugin's nonces in `kavach_one_time`.
const PURPOSE: &str = "siwe";
/// A nonce's lifetime: 15 minutes (better-auth's).
const NONCE_TTL_MS: i64 = 15 * 60_000;
/// How far ahead of our clock `Issued At` may be.
const ISSUED_AT_SKEW_MS: i64 = 60_000;
const GET_NONCE_FN: &str = "siwe.getNonce";
const VERIFY_FN: &str = "siwe.verifyMessage";
const ENS_FN: &str = "siwe.ensLookup";
/// The provider id of the wallets' rows in `kavach_account`.
const PROVIDER: &str = "siwe";

/// `siwe(options)` of `kavachos/plugins`, running.
pub struct SiwePlugin {
    pub settings: SiweSettings,
    /// The key the nonces' hashes are made with (from the instance secret).
    key: Vec<u8>,
}

impl std::fmt::Debug for SiwePlugin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SiwePlugin")
            .field("settings", &self.settings)
            .finish_non_exhaustive()
    }
}

/// The checked `siwe({ domain, emailDomainName?, anonymous? })` (the functions cross by name).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SiweSettings {
    /// The RFC 3986 authority messages must name, normalized (`host[:port]`, lowercased).
    pub domain: String,
    /// The domain of the emails made up for wallets.
    pub email_domain: String,
    pub anonymous: bool,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct Options {
    #[serde(default)]
    domain: Option<String>,
    #[serde(default)]
    email_domain_name: Option<String>,
    #[serde(default)]
    anonymous: Option<bool>,
    /// better-auth's table renames: our table is fixed; refused when given.
    #[serde(default)]
    schema: Option<Value>,
}

fn bad(why: &str) -> KavachError {
    KavachError::ConfigInvalid(format!("siwe(): {why}"))
}

/// `host[:port]` of a domain or URL, lowercased: the scheme, the path and any user info go.
fn normalize_domain(d: &str) -> String {
    let d = d.trim().to_ascii_lowercase();
    let d = match d.find("://") {
        Some(i) => &d[i + 3..],
        None => &d[..],
    };
    let end = d.find(['/', '?', '#']).unwrap_or(d.len());
    let d = &d[..end];
    match d.rfind('@') {
        Some(i) => d[i + 1..].to_owned(),
        None => d.to_owned(),
    }
}

/// The host of a normalized authority (the port goes; an IPv6 literal keeps its brackets).
fn host_of(authority: &str) -> &str {
    if authority.starts_with('[') {
        return authority
            .find(']')
            .map(|i| &authority[..=i])
            .unwrap_or(authority);
    }
    authority.split(':').next().unwrap_or(authority)
}

/// Checks `siwe()`'s options.
pub fn parse_options(options: &Value) -> Result<SiweSettings> {
    let o: Options = match options {
        Value::Null => Options::default(),
        v => serde_json::from_value(v.clone()).map_err(|e| bad(&e.to_string()))?,
    };
    if o.schema.is_some() {
        return Err(bad(
            "schema is not supported: the wallet table is kavach_wallet_address",
        ));
    }
    let raw = o
        .domain
        .ok_or_else(|| bad("domain (the site's host, as messages name it) is required"))?;
    let plain = |s: &str| {
        !s.is_empty() && s.len() <= 255 && !s.chars().any(|c| c.is_control() || c.is_whitespace())
    };
    let domain = normalize_domain(&raw);
    if !plain(&raw) || !plain(&domain) {
        return Err(bad(
            "domain must be a host such as example.com or localhost:3000",
        ));
    }
    let email_domain = match o.email_domain_name {
        Some(e) => {
            let e = e.trim().to_ascii_lowercase();
            if !plain(&e) || e.contains('@') || e.contains('/') {
                return Err(bad("emailDomainName must be a domain such as example.com"));
            }
            e
        }
        None => host_of(&domain).to_owned(),
    };
    Ok(SiweSettings {
        domain,
        email_domain,
        anonymous: o.anonymous.unwrap_or(true),
    })
}

/// The registry's factory.
pub fn plugin(
    options: &Value,
    env: &crate::plugin::PluginEnv<'_>,
) -> Result<Arc<dyn crate::plugin::Plugin>> {
    let settings = parse_options(options)?;
    Ok(Arc::new(SiwePlugin {
        settings,
        key: crate::plugins::one_time::key(env.secret),
    }))
}

impl crate::plugin::Plugin for SiwePlugin {
    fn id(&self) -> &'static str {
        "siwe"
    }

    fn routes(&self) -> &'static [crate::plugin::Route] {
        ROUTES
    }

    fn as_any(&self) -> &dyn std::any::Any {
        self
    }
}

// ---- input --------------------------------------------------------------------------------------

/// `POST /auth/siwe/nonce`'s body (and `GET`'s query).
#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct NonceBody {
    wallet_address: String,
    #[serde(default)]
    chain_id: Option<Value>,
}

/// `POST /auth/siwe/verify`'s body.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct VerifyBody {
    message: String,
    signature: String,
    #[serde(default)]
    wallet_address: Option<String>,
    #[serde(default)]
    chain_id: Option<Value>,
    #[serde(default)]
    email: Option<String>,
}

/// A `0x` and 40 hex digits, as 20 bytes.
fn address(s: &str) -> Result<[u8; 20]> {
    let hex_part = s
        .strip_prefix("0x")
        .filter(|h| h.len() == 40)
        .ok_or_else(|| KavachError::validation("walletAddress must be 0x and 40 hex digits"))?;
    let mut out = [0u8; 20];
    hex::decode_to_slice(hex_part, &mut out)
        .map_err(|_| KavachError::validation("walletAddress must be 0x and 40 hex digits"))?;
    Ok(out)
}

/// A chain id: a positive integer (a number, or a string of digits from a query), default 1.
fn chain_id(v: Option<&Value>) -> Result<u64> {
    let bad = || KavachError::validation("chainId must be a positive integer");
    let n = match v {
        None | Some(Value::Null) => return Ok(1),
        Some(Value::Number(n)) => n.as_u64().ok_or_else(bad)?,
        Some(Value::String(s)) if !s.is_empty() && s.len() <= 19 => {
            if !s.bytes().all(|b| b.is_ascii_digit()) {
                return Err(bad());
            }
            s.parse::<u64>().map_err(|_| bad())?
        }
        _ => return Err(bad()),
    };
    // Stored in a BIGINT column.
    if n == 0 || n > i64::MAX as u64 {
        return Err(bad());
    }
    Ok(n)
}

/// What a nonce is bound to: the lowercased address and the chain.
fn binding(addr: &[u8; 20], chain: u64) -> String {
    format!("0x{}:{chain}", hex::encode(addr))
}

fn valid_nonce(n: &str) -> bool {
    (8..=128).contains(&n.len()) && n.bytes().all(|b| b.is_ascii_alphanumeric())
}

fn mismatch(why: &str) -> KavachError {
    KavachError::refused(
        "UNAUTHORIZED_SIWE_MESSAGE_MISMATCH",
        401,
        format!("the SIWE message does not match: {why}"),
    )
}

fn bad_signature() -> KavachError {
    KavachError::refused(
        "UNAUTHORIZED_INVALID_SIWE_SIGNATURE",
        401,
        "the signature is not the wallet's signature of this message",
    )
}

fn bad_nonce() -> KavachError {
    KavachError::refused(
        "UNAUTHORIZED_INVALID_OR_EXPIRED_NONCE",
        401,
        "the nonce is invalid, expired or already used",
    )
}

fn ms_of(t: &siwe::TimeStamp) -> i64 {
    let t: &time::OffsetDateTime = t.as_ref();
    i64::try_from(t.unix_timestamp_nanos() / 1_000_000).unwrap_or(i64::MAX)
}

/// `(scheme, rest)` of a message whose first line starts with `scheme://`.
fn split_scheme(message: &str) -> (Option<&str>, &str) {
    let first = message.split('\n').next().unwrap_or("");
    let Some(i) = first.find("://") else {
        return (None, message);
    };
    let scheme = &first[..i];
    let ok = scheme
        .chars()
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic())
        && scheme
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.'));
    if ok {
        (Some(scheme), &message[i + 3..])
    } else {
        (None, message)
    }
}

/// The address whose key made `sig`, an EIP-191 `personal_sign` signature (r, s, v) of `text`:
/// keccak-256 of the prefixed text, secp256k1 public-key recovery (RustCrypto's `k256`),
/// keccak-256 of the key. What the `siwe` crate's `verify_eip191` does, over the bytes sent
/// rather than the crate's rewriting of them (which drops the optional scheme).
fn recover_eip191(text: &str, sig: &[u8; 65]) -> Option<[u8; 20]> {
    use k256::ecdsa::{RecoveryId, Signature, VerifyingKey};
    use sha3::{Digest, Keccak256};
    let prefixed = format!("\x19Ethereum Signed Message:\n{}{}", text.len(), text);
    let hash = Keccak256::digest(prefixed.as_bytes());
    let signature = Signature::from_slice(&sig[..64]).ok()?;
    let v = match sig[64] {
        27 | 28 => sig[64] - 27,
        v => v,
    };
    let key =
        VerifyingKey::recover_from_prehash(&hash, &signature, RecoveryId::from_byte(v)?).ok()?;
    let point = key.to_encoded_point(false);
    let digest = Keccak256::digest(&point.as_bytes()[1..]);
    let mut out = [0u8; 20];
    out.copy_from_slice(&digest[12..]);
    Some(out)
}

/// A hex signature (`0x` optional) as bytes.
fn signature_bytes(s: &str) -> Option<Vec<u8>> {
    let h = s.strip_prefix("0x").unwrap_or(s);
    if h.is_empty() || h.len() > 4096 {
        return None;
    }
    hex::decode(h).ok()
}

impl SiwePlugin {
    fn store<'k>(&'k self, k: &'k Kavach) -> OneTime<'k> {
        OneTime::new(k, &self.key)
    }

    /// Issues a nonce for a wallet and chain (replacing an earlier one).
    async fn nonce(&self, k: &Kavach, b: NonceBody) -> Result<String> {
        let addr = address(&b.wallet_address)?;
        let chain = chain_id(b.chain_id.as_ref())?;
        let wallet = siwe::eip55(&addr);
        let nonce = match k.hooks().plugin_fn(GET_NONCE_FN) {
            Some(f) => {
                let v = f
                    .call(json!({ "walletAddress": wallet, "chainId": chain }))
                    .await?;
                match v {
                    Value::String(n) if valid_nonce(&n) => n,
                    _ => {
                        return Err(KavachError::ConfigInvalid(
                            "siwe({ getNonce }) must resolve to 8 to 128 letters and digits".into(),
                        ))
                    }
                }
            }
            None => siwe::generate_nonce(),
        };
        // Each nonce has a row of its own (`<binding>:<row id>`): asking for another nonce for a
        // wallet, which anyone may do, never voids one its owner is about to sign.
        let identifier = format!(
            "{}:{}",
            binding(&addr, chain),
            crate::crypto::token::new_id()
        );
        self.store(k)
            .issue(PURPOSE, &identifier, &nonce, None, NONCE_TTL_MS)
            .await?;
        Ok(nonce)
    }

    /// Checks a signed message; answers the message, its checksummed address and its chain.
    async fn check(&self, k: &Kavach, b: &VerifyBody) -> Result<(siwe::Message, String, u64)> {
        if b.message.is_empty() || b.message.len() > 8192 {
            return Err(mismatch("the message is not an EIP-4361 message"));
        }
        // EIP-4361's optional `scheme://` before the domain (which the crate does not read): only
        // http(s), and taken off for parsing.
        let (scheme, body) = split_scheme(&b.message);
        if scheme.is_some_and(|sc| sc != "https" && sc != "http") {
            return Err(mismatch("scheme"));
        }
        let msg = siwe::Message::from_str(body)
            .map_err(|_| mismatch("the message is not an EIP-4361 message"))?;
        // The message must be in the crate's exact form, so that what was checked is what was
        // signed (the signature is checked over the bytes sent).
        if msg.to_string() != body {
            return Err(mismatch("the message is not in EIP-4361's exact form"));
        }
        let s = &self.settings;
        if normalize_domain(msg.domain.as_str()) != s.domain {
            return Err(mismatch("domain"));
        }
        let uri = msg.uri.as_str();
        let web = uri.starts_with("https://") || uri.starts_with("http://");
        if !web || normalize_domain(uri) != s.domain {
            return Err(mismatch("URI"));
        }
        let wallet = siwe::eip55(&msg.address);
        if let Some(w) = &b.wallet_address {
            if address(w)? != msg.address {
                return Err(mismatch("walletAddress"));
            }
        }
        if b.chain_id.is_some() && chain_id(b.chain_id.as_ref())? != msg.chain_id {
            return Err(mismatch("chain ID"));
        }
        if msg.chain_id == 0 || msg.chain_id > i64::MAX as u64 {
            return Err(mismatch("chain ID"));
        }
        if !valid_nonce(&msg.nonce) {
            return Err(bad_nonce());
        }
        let now = k.now_ms();
        if ms_of(&msg.issued_at) > now.saturating_add(ISSUED_AT_SKEW_MS) {
            return Err(mismatch("issued in the future"));
        }
        if let Some(exp) = &msg.expiration_time {
            if now >= ms_of(exp) {
                return Err(KavachError::refused(
                    "UNAUTHORIZED_SIWE_MESSAGE_EXPIRED",
                    401,
                    "the SIWE message has expired",
                ));
            }
        }
        if let Some(nbf) = &msg.not_before {
            if now < ms_of(nbf) {
                return Err(KavachError::refused(
                    "UNAUTHORIZED_SIWE_MESSAGE_NOT_YET_VALID",
                    401,
                    "the SIWE message is not valid yet",
                ));
            }
        }
        let verified = match k.hooks().plugin_fn(VERIFY_FN) {
            Some(f) => {
                let args = json!({
                    "message": b.message,
                    "signature": b.signature,
                    "address": wallet,
                    "chainId": msg.chain_id,
                    "cacao": {
                        "h": { "t": "caip122" },
                        "p": {
                            "domain": s.domain, "aud": s.domain, "nonce": msg.nonce,
                            "iss": s.domain, "version": "1",
                        },
                        "s": { "t": "eip191", "s": b.signature },
                    },
                });
                // A throw is a refusal, as better-auth treats it (viem's verifyMessage throws on a
                // malformed signature).
                matches!(f.call(args).await, Ok(Value::Bool(true)))
            }
            None => {
                let sig: Option<[u8; 65]> = signature_bytes(&b.signature)
                    .and_then(|v| <[u8; 65]>::try_from(v.as_slice()).ok());
                sig.and_then(|sig| recover_eip191(&b.message, &sig)) == Some(msg.address)
            }
        };
        if !verified {
            return Err(bad_signature());
        }
        let chain = msg.chain_id;
        Ok((msg, wallet, chain))
    }

    /// Takes the message's nonce: it must have been issued for this wallet and chain.
    async fn take_nonce(&self, k: &Kavach, msg: &siwe::Message) -> Result<()> {
        match self.store(k).take_secret(PURPOSE, &msg.nonce).await? {
            Taken::Valid { identifier, .. }
                if identifier
                    .strip_prefix(&binding(&msg.address, msg.chain_id))
                    .is_some_and(|rest| rest.starts_with(':')) =>
            {
                Ok(())
            }
            _ => Err(bad_nonce()),
        }
    }
}

// ---- wallets and users --------------------------------------------------------------------------

/// The user of a wallet row: `(user_id, whether this exact address and chain has a row)`.
async fn wallet_user(k: &Kavach, wallet: &str, chain: u64) -> Result<Option<(String, bool)>> {
    let sql = sql_for(
        k.dialect(),
        "SELECT user_id, chain_id FROM kavach_wallet_address WHERE address = ? ORDER BY created_at, id",
    );
    let rows: Vec<(String, i64)> = on_pool!(k.pool(), p => {
        let mut out = Vec::new();
        for r in &sqlx::query(&sql).bind(wallet).fetch_all(p).await? {
            out.push((col_str!(r, "user_id")?, r.try_get::<i64, _>("chain_id")?));
        }
        out
    });
    let chain = i64::try_from(chain).unwrap_or(i64::MAX);
    if let Some((user, _)) = rows.iter().find(|(_, c)| *c == chain) {
        return Ok(Some((user.clone(), true)));
    }
    Ok(rows.into_iter().next().map(|(user, _)| (user, false)))
}

fn unique(e: &sqlx::Error) -> bool {
    matches!(e, sqlx::Error::Database(d) if d.is_unique_violation())
}

/// Writes `user` (when new) with the wallet's row and its `siwe` account row, in one transaction.
/// `Ok(false)`: a unique index refused it (another request got there first).
async fn insert_wallet(
    k: &Kavach,
    new_user: Option<&User>,
    user_id: &str,
    wallet: &str,
    chain: u64,
    primary: bool,
) -> Result<bool> {
    let now = k.now_ms();
    let d = k.dialect();
    let insert_user = sql_for(d, crate::accounts::human::INSERT_USER);
    let insert_wallet = sql_for(
        d,
        "INSERT INTO kavach_wallet_address (id, user_id, address, chain_id, is_primary, created_at) VALUES (?, ?, ?, ?, ?, ?)",
    );
    let insert_account = sql_for(
        d,
        "INSERT INTO kavach_account (id, user_id, provider_id, provider_account_id, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?)",
    );
    let em = k.emitter();
    let events: Vec<_> = match new_user {
        None => Vec::new(),
        Some(u) => [
            em.event("user.created", now, || json!(u)),
            em.event(
                "auth.sign-up",
                now,
                || json!({ "userId": u.id, "email": u.email, "method": PROVIDER }),
            ),
        ]
        .into_iter()
        .flatten()
        .collect(),
    };
    let chain_i = i64::try_from(chain).unwrap_or(i64::MAX);
    let account = format!("{wallet}:{chain}");
    let done: bool = on_pool!(k.pool(), p => {
        let mut tx = p.begin_write().await?;
        let mut refused = false;
        if let Some(u) = new_user {
            if let Err(e) = crate::bind_user!(sqlx::query(&insert_user), u).execute(&mut *tx).await {
                if !unique(&e) {
                    return Err(e.into());
                }
                refused = true;
            }
        }
        if !refused {
            if let Err(e) = sqlx::query(&insert_wallet)
                .bind(crate::crypto::token::new_id()).bind(user_id).bind(wallet).bind(chain_i)
                .bind(primary).bind(Ts(now))
                .execute(&mut *tx).await
            {
                if !unique(&e) {
                    return Err(e.into());
                }
                refused = true;
            }
        }
        if !refused {
            if let Err(e) = sqlx::query(&insert_account)
                .bind(crate::crypto::token::new_id()).bind(user_id).bind(PROVIDER).bind(&account)
                .bind(Ts(now)).bind(Ts(now))
                .execute(&mut *tx).await
            {
                if !unique(&e) {
                    return Err(e.into());
                }
                refused = true;
            }
        }
        if refused {
            tx.rollback().await?;
            false
        } else {
            em.write(&mut *tx, &events).await?;
            tx.commit().await?;
            true
        }
    });
    if done {
        em.committed(events);
    }
    Ok(done)
}

impl SiwePlugin {
    /// The email of a new wallet user: the body's when `anonymous: false` and no one has it, else
    /// `<address>@<emailDomainName>`.
    async fn new_email(&self, k: &Kavach, wallet: &str, email: Option<&str>) -> Result<String> {
        if let (false, Some(e)) = (self.settings.anonymous, email) {
            let e = crate::input::normalize_email(e)?;
            if k.humans().user_by_email(&e).await?.is_none() {
                return Ok(e);
            }
        }
        crate::input::normalize_email(&format!(
            "{}@{}",
            wallet.to_ascii_lowercase(),
            self.settings.email_domain
        ))
    }

    /// A new user for a wallet (not yet written).
    async fn new_user(&self, k: &Kavach, wallet: &str, email: Option<&str>) -> Result<User> {
        let email = self.new_email(k, wallet, email).await?;
        let (mut name, mut image) = (None, None);
        if let Some(f) = k.hooks().plugin_fn(ENS_FN) {
            // Best effort: a lookup that fails leaves the name to the address.
            let v = f
                .call(json!({ "walletAddress": wallet }))
                .await
                .unwrap_or(Value::Null);
            let field = |key: &str| {
                v.get(key)
                    .and_then(Value::as_str)
                    .filter(|s| {
                        !s.is_empty() && s.len() <= 2048 && !s.chars().any(char::is_control)
                    })
                    .map(str::to_owned)
            };
            name = field("name");
            image = field("avatar");
        }
        let mut user = User {
            name: Some(name.unwrap_or_else(|| wallet.to_owned())),
            image,
            ..User::new(email, k.now_ms())
        };
        for p in k.plugins().iter() {
            p.prepare_user(&mut user);
        }
        crate::accounts::fields::apply_defaults(&k.settings().user_fields, &mut user);
        Ok(user)
    }

    /// The wallet's user, made (or given this chain) when needed.
    async fn user_for(
        &self,
        k: &Kavach,
        wallet: &str,
        chain: u64,
        email: Option<&str>,
    ) -> Result<User> {
        for _ in 0..3 {
            let user_id = match wallet_user(k, wallet, chain).await? {
                Some((id, true)) => id,
                Some((id, false)) => {
                    insert_wallet(k, None, &id, wallet, chain, false).await?;
                    id
                }
                None => {
                    let user = self.new_user(k, wallet, email).await?;
                    if !insert_wallet(k, Some(&user), &user.id, wallet, chain, true).await? {
                        // Another request made it (or took the email): look again.
                        continue;
                    }
                    user.id
                }
            };
            if let Some(u) = k.humans().user_by_id(&user_id).await? {
                return Ok(u);
            }
        }
        Err(KavachError::UserExists)
    }
}

fn nonce_body(req: &HttpRequest) -> Result<NonceBody, ApiError> {
    if req.method == "GET" {
        let mut m = serde_json::Map::new();
        for (name, v) in req.query_map()? {
            m.insert(name, Value::String(v));
        }
        return serde_json::from_value(Value::Object(m))
            .map_err(|e| KavachError::validation(e.to_string()).into());
    }
    parse_body(req)
}

async fn nonce_route(k: &Kavach, req: &HttpRequest) -> crate::http::ApiResult {
    let plugin = k
        .plugin::<SiwePlugin>()
        .ok_or_else(|| ApiError::not_found("route"))?;
    let b = nonce_body(req)?;
    k.limit_ip(req).await?;
    let nonce = plugin.nonce(k, b).await?;
    let mut r = ok_value(json!({ "nonce": nonce }))?;
    r.headers.push(("cache-control".into(), "no-store".into()));
    Ok(r)
}

/// The plugin's HTTP routes.
const ROUTES: &[crate::plugin::Route] = &[
    route!("POST", "/auth/siwe/nonce", |k, req, p| {
        nonce_route(k, req).await
    }),
    route!("GET", "/auth/siwe/nonce", |k, req, p| {
        nonce_route(k, req).await
    }),
    route!("POST", "/auth/siwe/verify", |k, req, p| {
        let plugin = k
            .plugin::<SiwePlugin>()
            .ok_or_else(|| ApiError::not_found("route"))?;
        let b: VerifyBody = parse_body(req)?;
        if b.signature.is_empty() || b.signature.len() > 4096 {
            return Err(KavachError::validation("signature must be a hex string").into());
        }
        if let Some(e) = &b.email {
            crate::input::normalize_email(e)?;
        } else if !plugin.settings.anonymous {
            return Err(KavachError::validation(
                "email is required when the anonymous option is off",
            )
            .into());
        }
        k.limit_ip(req).await?;
        let (msg, wallet, chain) = plugin.check(k, &b).await?;
        plugin.take_nonce(k, &msg).await?;
        let user = plugin
            .user_for(k, &wallet, chain, b.email.as_deref())
            .await?;
        let signed = k.sign_in_verified(user, req.client()).await?;
        let mut r = ok_value(json!({
            "token": signed.token,
            "success": true,
            "user": { "id": signed.user.id, "walletAddress": wallet, "chainId": chain },
        }))?;
        r.headers
            .push(("set-cookie".into(), k.session_cookie(&signed.token)));
        Ok(r)
    }),
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn options() {
        assert!(parse_options(&Value::Null).is_err());
        assert!(parse_options(&json!({ "domain": "" })).is_err());
        assert!(parse_options(&json!({ "domain": "a b" })).is_err());
        assert!(parse_options(&json!({ "domain": "x.com", "nope": 1 })).is_err());
        let s = parse_options(&json!({ "domain": "https://Example.com:8443/login" })).unwrap();
        assert_eq!(s.domain, "example.com:8443");
        assert_eq!(s.email_domain, "example.com");
        assert!(s.anonymous);
        let s = parse_options(&json!({ "domain": "localhost:3000", "emailDomainName": "wallets.example.org", "anonymous": false })).unwrap();
        assert_eq!(s.email_domain, "wallets.example.org");
        assert!(!s.anonymous);
        assert!(parse_options(&json!({ "domain": "x.com", "emailDomainName": "a@b" })).is_err());
    }

    /// The `siwe` crate's own example: a message and its wallet's signature.
    const EXAMPLE: &str = "localhost:4361 wants you to sign in with your Ethereum account:\n0x6Da01670d8fc844e736095918bbE11fE8D564163\n\nSIWE Notepad Example\n\nURI: http://localhost:4361\nVersion: 1\nChain ID: 1\nNonce: kEWepMt9knR6lWJ6A\nIssued At: 2021-12-07T18:28:18.807Z";
    const EXAMPLE_SIG: &str = "0x6228b3ecd7bf2df018183aeab6b6f1db1e9f4e3cbe24560404112e25363540eb679934908143224d746bbb5e1aa65ab435684081f4dbb74a0fec57f98f40f5051c";

    fn tampered_fails() -> bool {
        let sig = <[u8; 65]>::try_from(signature_bytes(EXAMPLE_SIG).unwrap().as_slice()).unwrap();
        let tampered =
            siwe::Message::from_str(&EXAMPLE.replace("Chain ID: 1", "Chain ID: 5")).unwrap();
        tampered.verify_eip191(&sig).is_err()
    }

    #[test]
    fn signatures_are_recovered_to_the_message_address() {
        let msg = siwe::Message::from_str(EXAMPLE).unwrap();
        assert_eq!(
            msg.to_string(),
            EXAMPLE,
            "the canonical form is the signed text"
        );
        assert_eq!(
            siwe::eip55(&msg.address),
            "0x6Da01670d8fc844e736095918bbE11fE8D564163"
        );
        let sig = <[u8; 65]>::try_from(signature_bytes(EXAMPLE_SIG).unwrap().as_slice()).unwrap();
        assert!(msg.verify_eip191(&sig).is_ok());
        let mut other = sig;
        other[10] ^= 1;
        assert!(msg.verify_eip191(&other).is_err());
        assert!(tampered_fails());
        assert_eq!(recover_eip191(EXAMPLE, &sig), Some(msg.address));
        let flipped = {
            let mut o = sig;
            o[10] ^= 1;
            o
        };
        assert_ne!(recover_eip191(EXAMPLE, &flipped), Some(msg.address));
        let tampered = EXAMPLE.replace("Chain ID: 1", "Chain ID: 5");
        assert_ne!(recover_eip191(&tampered, &sig), Some(msg.address));
        let mut bad_v = sig;
        bad_v[64] = 9;
        assert_eq!(recover_eip191(EXAMPLE, &bad_v), None);
        assert_eq!(
            split_scheme("https://a.com wants"),
            (Some("https"), "a.com wants")
        );
        assert_eq!(
            split_scheme("a.com wants\nURI: https://x"),
            (None, "a.com wants\nURI: https://x")
        );
        assert_eq!(ms_of(&msg.issued_at), 1_638_901_698_807);
        assert!(signature_bytes("0x").is_none());
        assert!(signature_bytes("0xzz").is_none());
    }

    #[test]
    fn inputs() {
        assert!(address("0x0000000000000000000000000000000000000000").is_ok());
        assert!(address("0x000000000000000000000000000000000000000").is_err());
        assert!(address("0xg000000000000000000000000000000000000000").is_err());
        assert_eq!(chain_id(None).unwrap(), 1);
        assert_eq!(chain_id(Some(&json!(137))).unwrap(), 137);
        assert_eq!(chain_id(Some(&json!("10"))).unwrap(), 10);
        for bad in [
            json!(0),
            json!(-1),
            json!(1.5),
            json!("1e3"),
            json!(""),
            json!(true),
        ] {
            assert!(chain_id(Some(&bad)).is_err(), "{bad}");
        }
        assert!(valid_nonce("abcdEFGH1234"));
        assert!(!valid_nonce("short"));
        assert!(!valid_nonce("has space 123"));
        assert_eq!(host_of("localhost:3000"), "localhost");
        assert_eq!(host_of("[::1]:3000"), "[::1]");
        assert_eq!(normalize_domain("http://u@Host:1/x?y"), "host:1");
    }
}
