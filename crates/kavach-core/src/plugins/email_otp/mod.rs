//! The emailOTP() plugin (better-auth 1.7's `email-otp`): one-time codes sent through the app's
//! `sendVerificationOTP({ email, otp, type })` to sign in (or up), verify an email or reset a
//! password.
//!
//! - A code lives in `kavach_one_time` as a keyed hash only, one live code per (type, email):
//!   sending another replaces it. It expires (5 minutes by default) and is void after
//!   `allowedAttempts` wrong tries (3 by default): each try reserves an attempt atomically before
//!   the comparison, so concurrent guesses cannot exceed the limit. Wrong codes also count per
//!   email against the failed sign-in limit (`rateLimit.maxFailedSignIns`): 429 with Retry-After.
//! - Sending answers `{ success: true }` whether or not the email has an account; a code is only
//!   sent where it can be used (any email for sign-in while sign-up is on, else existing accounts).

use serde::Deserialize;
use serde_json::{json, Value};

use crate::accounts::human::{normalize_email, User};
use crate::crypto::token::hash_token;
use crate::error::{KavachError, Result};
use crate::http::{ok_value, parse_body, too_many, ApiError, HttpRequest};
use crate::kavach::Kavach;
use crate::plugins::one_time::{code_error, OneTime, Taken};
use crate::route;
use crate::store::ratelimit;

/// The app's function that delivers a code (`plugin:email-otp.sendVerificationOTP`).
const SEND_FN: &str = "email-otp.sendVerificationOTP";
/// Default lifetime of a code: 5 minutes.
pub const DEFAULT_TTL_MS: i64 = 5 * 60_000;

/// What a code is for: better-auth's `type`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum OtpType {
    SignIn,
    EmailVerification,
    ForgetPassword,
}

impl OtpType {
    fn as_str(self) -> &'static str {
        match self {
            Self::SignIn => "sign-in",
            Self::EmailVerification => "email-verification",
            Self::ForgetPassword => "forget-password",
        }
    }

    /// The `purpose` of its rows in `kavach_one_time`.
    fn purpose(self) -> &'static str {
        match self {
            Self::SignIn => "email-otp:sign-in",
            Self::EmailVerification => "email-otp:email-verification",
            Self::ForgetPassword => "email-otp:forget-password",
        }
    }
}

/// `emailOTP(options)` of `kavachos/plugins`, running.
pub struct EmailOtpPlugin {
    pub settings: EmailOtpSettings,
    /// The key the codes' hashes are made with (from the instance secret).
    key: Vec<u8>,
}

impl std::fmt::Debug for EmailOtpPlugin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EmailOtpPlugin")
            .field("settings", &self.settings)
            .finish_non_exhaustive()
    }
}

/// The checked `emailOTP({ otpLength?, expiresIn?, allowedAttempts?, disableSignUp? })`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EmailOtpSettings {
    pub otp_length: usize,
    pub ttl_ms: i64,
    pub allowed_attempts: i64,
    pub disable_sign_up: bool,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct Options {
    #[serde(default)]
    otp_length: Option<u32>,
    #[serde(default)]
    expires_in: Option<Value>,
    #[serde(default)]
    allowed_attempts: Option<u32>,
    #[serde(default)]
    disable_sign_up: Option<bool>,
}

/// Checks `emailOTP()`'s options (`sendVerificationOTP` crosses as a function, not in `options`).
pub fn parse_options(options: &Value) -> Result<EmailOtpSettings> {
    let o: Options = match options {
        Value::Null => Options::default(),
        v => serde_json::from_value(v.clone())
            .map_err(|e| KavachError::ConfigInvalid(format!("invalid emailOTP() options: {e}")))?,
    };
    let otp_length = o.otp_length.unwrap_or(6);
    if !(4..=12).contains(&otp_length) {
        return Err(KavachError::ConfigInvalid(
            "emailOTP({ otpLength }) must be between 4 and 12".into(),
        ));
    }
    let ttl_ms = match &o.expires_in {
        None | Some(Value::Null) => DEFAULT_TTL_MS,
        Some(v) => crate::config::parse_duration_ms(v)
            .filter(|ms| (1_000..=86_400_000).contains(ms))
            .ok_or_else(|| {
                KavachError::ConfigInvalid(
                    "emailOTP({ expiresIn }) must be seconds (a number) or a duration like '5m', between 1 second and 1 day".into(),
                )
            })?,
    };
    let allowed_attempts = o.allowed_attempts.unwrap_or(3);
    if !(1..=20).contains(&allowed_attempts) {
        return Err(KavachError::ConfigInvalid(
            "emailOTP({ allowedAttempts }) must be between 1 and 20".into(),
        ));
    }
    Ok(EmailOtpSettings {
        otp_length: otp_length as usize,
        ttl_ms,
        allowed_attempts: i64::from(allowed_attempts),
        disable_sign_up: o.disable_sign_up.unwrap_or(false),
    })
}

/// The registry's factory.
pub fn plugin(
    options: &Value,
    env: &crate::plugin::PluginEnv<'_>,
) -> Result<std::sync::Arc<dyn crate::plugin::Plugin>> {
    let settings = parse_options(options)?;
    if env.callbacks.hooks.plugin_fn(SEND_FN).is_none() {
        return Err(KavachError::ConfigInvalid(
            "emailOTP() needs sendVerificationOTP: an async function of { email, otp, type }"
                .into(),
        ));
    }
    Ok(std::sync::Arc::new(EmailOtpPlugin {
        settings,
        key: crate::plugins::one_time::key(env.secret),
    }))
}

impl crate::plugin::Plugin for EmailOtpPlugin {
    fn id(&self) -> &'static str {
        "email-otp"
    }

    fn routes(&self) -> &'static [crate::plugin::Route] {
        ROUTES
    }

    fn as_any(&self) -> &dyn std::any::Any {
        self
    }
}

// ---- input --------------------------------------------------------------------------------------

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SendBody {
    email: String,
    #[serde(rename = "type")]
    kind: OtpType,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct EmailBody {
    email: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CheckBody {
    email: String,
    #[serde(rename = "type")]
    kind: OtpType,
    otp: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CodeBody {
    email: String,
    otp: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SignInBody {
    email: String,
    otp: String,
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    image: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ResetBody {
    email: String,
    otp: String,
    password: String,
}

/// Refuses control characters (NUL included) in a field before anything reaches SQL.
fn clean<'s>(what: &str, s: &'s str) -> Result<&'s str> {
    if s.chars().any(char::is_control) {
        return Err(KavachError::validation(format!(
            "{what} must not contain control characters"
        )));
    }
    Ok(s)
}

fn email_of(raw: &str) -> Result<String> {
    normalize_email(clean("email", raw)?)
}

/// A code as typed: spaces dropped; bounded before it is hashed.
fn code_of(raw: &str) -> Result<String> {
    let c: String = clean("otp", raw)?
        .chars()
        .filter(|c| !c.is_whitespace())
        .collect();
    if c.is_empty() || c.len() > 32 {
        return Err(KavachError::validation(
            "otp must be the code that was sent",
        ));
    }
    Ok(c)
}

fn invalid_otp() -> KavachError {
    code_error(&Taken::Invalid)
}

impl EmailOtpPlugin {
    fn store<'k>(&'k self, k: &'k Kavach) -> OneTime<'k> {
        OneTime::new(k, &self.key)
    }

    /// Issues and sends a code of `kind` for `raw_email`, if it can be used there; the answer is
    /// the same either way.
    async fn send(&self, k: &Kavach, raw_email: &str, kind: OtpType) -> Result<()> {
        let email = email_of(raw_email)?;
        let Some(send) = k.hooks().plugin_fn(SEND_FN) else {
            return Err(KavachError::ConfigInvalid(
                "emailOTP() needs sendVerificationOTP".into(),
            ));
        };
        let usable = (kind == OtpType::SignIn && !self.settings.disable_sign_up)
            || k.humans().user_by_email(&email).await?.is_some();
        if !usable {
            return Ok(());
        }
        let store = self.store(k);
        let otp = OneTime::new_code(self.settings.otp_length);
        store
            .issue(kind.purpose(), &email, &otp, None, self.settings.ttl_ms)
            .await?;
        let message = json!({ "email": email, "otp": otp, "type": kind.as_str() });
        if let Err(e) = send.call(message).await {
            // A code that was never delivered must not stay usable.
            store.remove(kind.purpose(), &email).await?;
            return Err(e);
        }
        Ok(())
    }

    /// Checks `otp` for `email` (spending it when `consume`): the email on success.
    async fn check(
        &self,
        k: &Kavach,
        raw_email: &str,
        otp: &str,
        kind: OtpType,
        consume: bool,
    ) -> Result<String> {
        let email = email_of(raw_email)?;
        let otp = code_of(otp)?;
        // Wrong codes also count per email across codes (the failed sign-in limit), so asking for
        // new codes again and again does not buy endless guesses.
        let limit = k.settings().rate_limits.map(|(per_account, _)| per_account);
        let limit_key = format!("email-otp:{}", &hash_token(&email)[..32]);
        if let Some(limit) = limit {
            if let Some(retry) =
                ratelimit::blocked(k.limiter(), &limit_key, limit, k.now_ms()).await?
            {
                return Err(KavachError::TooManyAttempts(retry.0));
            }
        }
        let outcome = self
            .store(k)
            .check_code(
                kind.purpose(),
                &email,
                &otp,
                self.settings.allowed_attempts,
                consume,
            )
            .await?;
        if let (Taken::Invalid | Taken::TooManyAttempts, Some(limit)) = (&outcome, limit) {
            ratelimit::hit(k.limiter(), &limit_key, limit, k.now_ms()).await?;
        }
        match outcome {
            Taken::Valid { .. } => Ok(email),
            other => Err(code_error(&other)),
        }
    }

    /// `POST /auth/sign-in/email-otp`: the code's user (created unless sign-up is off), signed in.
    async fn sign_in(
        &self,
        k: &Kavach,
        req: &HttpRequest,
        b: SignInBody,
    ) -> Result<crate::accounts::human::SignedIn> {
        for (what, v) in [("name", &b.name), ("image", &b.image)] {
            if let Some(v) = v {
                clean(what, v)?;
                if v.len() > 2048 || (what == "name" && v.len() > 255) {
                    return Err(KavachError::validation(format!("{what} is too long")));
                }
            }
        }
        let email = self
            .check(k, &b.email, &b.otp, OtpType::SignIn, true)
            .await?;
        let humans = k.humans();
        let user = match humans.user_by_email(&email).await? {
            Some(u) => u,
            None if self.settings.disable_sign_up => return Err(invalid_otp()),
            None => {
                let user = User {
                    name: b.name,
                    image: b.image,
                    email_verified: true,
                    ..User::new(email.clone(), k.now_ms())
                };
                match humans.create_user(user, "email-otp").await {
                    Ok(u) => u,
                    Err(KavachError::UserExists) => humans
                        .user_by_email(&email)
                        .await?
                        .ok_or_else(invalid_otp)?,
                    Err(e) => return Err(e),
                }
            }
        };
        let user = if user.email_verified {
            user
        } else {
            // Whoever held this account before the email was proven keeps no session.
            humans.revoke_user_sessions(&user.id, k.now_ms()).await?;
            humans.mark_email_verified(&user.id, k.now_ms()).await?
        };
        k.sign_in_verified(user, req.client()).await
    }

    /// `POST /auth/email-otp/verify-email`: marks the email verified.
    async fn verify_email(&self, k: &Kavach, b: CodeBody) -> Result<User> {
        let email = self
            .check(k, &b.email, &b.otp, OtpType::EmailVerification, true)
            .await?;
        let humans = k.humans();
        let user = humans
            .user_by_email(&email)
            .await?
            .ok_or_else(invalid_otp)?;
        if user.email_verified {
            return Ok(user);
        }
        humans.mark_email_verified(&user.id, k.now_ms()).await
    }

    /// `POST /auth/email-otp/reset-password`: a new password (the core's rules), every session ended.
    async fn reset_password(&self, k: &Kavach, b: ResetBody) -> Result<()> {
        let humans = k.humans();
        humans.check_new_password(&b.password)?;
        let email = self
            .check(k, &b.email, &b.otp, OtpType::ForgetPassword, true)
            .await?;
        let user = humans
            .user_by_email(&email)
            .await?
            .ok_or_else(invalid_otp)?;
        let now = k.now_ms();
        humans.reset_password_of(&user.id, b.password, now).await?;
        if !user.email_verified {
            humans.mark_email_verified(&user.id, now).await?;
        }
        Ok(())
    }
}

/// The HTTP error of a refusal: a 429 with `Retry-After` for the per-email limit.
fn api(e: KavachError) -> ApiError {
    match e {
        KavachError::TooManyAttempts(s) => too_many(ratelimit::RetryAfter(s)),
        e => e.into(),
    }
}

fn plugin_of(k: &Kavach) -> std::result::Result<&EmailOtpPlugin, ApiError> {
    k.plugin::<EmailOtpPlugin>()
        .ok_or_else(|| ApiError::not_found("route"))
}

/// The plugin's HTTP routes (better-auth 1.7's paths under `/auth`).
const ROUTES: &[crate::plugin::Route] = &[
    route!(
        "POST",
        "/auth/email-otp/send-verification-otp",
        |k, req, p| {
            let plugin = plugin_of(k)?;
            let b: SendBody = parse_body(req)?;
            k.limit_ip(req).await?;
            plugin.send(k, &b.email, b.kind).await?;
            ok_value(json!({ "success": true }))
        }
    ),
    route!("POST", "/auth/sign-in/email-otp", |k, req, p| {
        let plugin = plugin_of(k)?;
        let b: SignInBody = parse_body(req)?;
        k.limit_ip(req).await?;
        let signed = plugin.sign_in(k, req, b).await.map_err(api)?;
        k.signed_in_response(&signed)
    }),
    route!(
        "POST",
        "/auth/email-otp/check-verification-otp",
        |k, req, p| {
            let plugin = plugin_of(k)?;
            let b: CheckBody = parse_body(req)?;
            k.limit_ip(req).await?;
            plugin
                .check(k, &b.email, &b.otp, b.kind, false)
                .await
                .map_err(api)?;
            ok_value(json!({ "success": true }))
        }
    ),
    route!("POST", "/auth/email-otp/verify-email", |k, req, p| {
        let plugin = plugin_of(k)?;
        let b: CodeBody = parse_body(req)?;
        k.limit_ip(req).await?;
        let user = plugin.verify_email(k, b).await.map_err(api)?;
        ok_value(json!({ "status": true, "token": null, "user": user }))
    }),
    route!("POST", "/auth/forget-password/email-otp", |k, req, p| {
        let plugin = plugin_of(k)?;
        let b: EmailBody = parse_body(req)?;
        k.limit_ip(req).await?;
        plugin.send(k, &b.email, OtpType::ForgetPassword).await?;
        ok_value(json!({ "success": true }))
    }),
    // better-auth 1.7's newer name of the same request.
    route!(
        "POST",
        "/auth/email-otp/request-password-reset",
        |k, req, p| {
            let plugin = plugin_of(k)?;
            let b: EmailBody = parse_body(req)?;
            k.limit_ip(req).await?;
            plugin.send(k, &b.email, OtpType::ForgetPassword).await?;
            ok_value(json!({ "success": true }))
        }
    ),
    route!("POST", "/auth/email-otp/reset-password", |k, req, p| {
        let plugin = plugin_of(k)?;
        let b: ResetBody = parse_body(req)?;
        k.limit_ip(req).await?;
        plugin.reset_password(k, b).await.map_err(api)?;
        ok_value(json!({ "success": true }))
    }),
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn options() {
        let d = parse_options(&Value::Null).unwrap();
        assert_eq!(
            d,
            EmailOtpSettings {
                otp_length: 6,
                ttl_ms: DEFAULT_TTL_MS,
                allowed_attempts: 3,
                disable_sign_up: false
            }
        );
        let s = parse_options(
            &json!({ "otpLength": 8, "expiresIn": "30s", "allowedAttempts": 5, "disableSignUp": true }),
        )
        .unwrap();
        assert_eq!(
            (
                s.otp_length,
                s.ttl_ms,
                s.allowed_attempts,
                s.disable_sign_up
            ),
            (8, 30_000, 5, true)
        );
        assert_eq!(
            parse_options(&json!({ "expiresIn": 120 })).unwrap().ttl_ms,
            120_000
        );
        for bad in [
            json!({ "otpLength": 3 }),
            json!({ "otpLength": 13 }),
            json!({ "expiresIn": "soon" }),
            json!({ "allowedAttempts": 0 }),
            json!({ "nope": true }),
        ] {
            assert_eq!(
                parse_options(&bad).unwrap_err().code(),
                "CONFIG_INVALID",
                "{bad}"
            );
        }
    }

    #[test]
    fn codes_and_emails_at_the_boundary() {
        assert_eq!(code_of(" 123 456 ").unwrap(), "123456");
        assert!(code_of("12\u{0}34").is_err());
        assert!(code_of("").is_err());
        assert!(code_of(&"1".repeat(40)).is_err());
        assert!(email_of("a\u{0}@b.c").is_err());
        assert_eq!(email_of(" Ada@Example.com ").unwrap(), "ada@example.com");
        let t: OtpType = serde_json::from_value(json!("forget-password")).unwrap();
        assert_eq!(t, OtpType::ForgetPassword);
        assert!(serde_json::from_value::<OtpType>(json!("change-email")).is_err());
    }
}
