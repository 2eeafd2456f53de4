//! The phoneNumber() plugin, as better-auth 1.7's: `POST /auth/phone-number/send-otp` texts a code
//! through the app's `sendOTP`, `POST /auth/phone-number/verify` checks it (marks the number
//! verified and signs its user in, creates the user with `signUpOnVerification`, or sets the
//! signed-in user's number with `updatePhoneNumber`), and `POST /auth/sign-in/phone-number` is the
//! core's password sign-in by [`Login::PhoneNumber`].
//!
//! - Numbers are parsed and validated with the `phonenumber` crate (a port of Google's
//!   libphonenumber metadata) and stored in E.164, so two spellings of one number are one account;
//!   a number it cannot read, or one that is not a valid number, is 400 `VALIDATION_FAILED`.
//! - Codes live in the shared one-time store ([`crate::plugins::one_time`]): keyed hashes only,
//!   `otpLength` digits, `expiresIn` seconds, `allowedAttempts` tries each reserved before the
//!   comparison, and single use under concurrency.
//! - The app's functions are awaited as hooks: `plugin:phone-number.sendOTP({ phoneNumber, code })`,
//!   `.phoneNumberValidator(phoneNumber)`, `.signUpOnVerification.getTempEmail(phoneNumber)` and
//!   `.signUpOnVerification.getTempName(phoneNumber)`.

use serde::Deserialize;
use serde_json::{json, Value};

use crate::accounts::human::{normalize_email, Login, User};
use crate::callbacks::Hooks;
use crate::error::{KavachError, Result};
use crate::http::{ok_value, parse_body, too_many, ApiResult, HttpRequest};
use crate::kavach::Kavach;
use crate::plugins::one_time::{code_error, key, OneTime, Taken};
use crate::route;
use crate::store::db::{sql_for, Ts};
use crate::store::ratelimit;
use crate::{col_str, on_pool};
use sqlx::Row;

/// The one-time store's purpose of these codes.
pub const PURPOSE: &str = "phone-number";

/// `phoneNumber(options)` of `kavachos/plugins`, running.
pub struct PhoneNumberPlugin {
    pub otp_length: usize,
    pub expires_in_ms: i64,
    pub allowed_attempts: i64,
    pub sign_up_on_verification: bool,
    pub require_verification: bool,
    key: Vec<u8>,
}

impl std::fmt::Debug for PhoneNumberPlugin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PhoneNumberPlugin")
            .field("otp_length", &self.otp_length)
            .field("expires_in_ms", &self.expires_in_ms)
            .field("allowed_attempts", &self.allowed_attempts)
            .field("sign_up_on_verification", &self.sign_up_on_verification)
            .field("require_verification", &self.require_verification)
            .finish_non_exhaustive()
    }
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
    /// Its functions cross as hooks; the object itself (`{}` once they are lifted) turns it on.
    #[serde(default, rename = "signUpOnVerification")]
    sign_up_on_verification: Option<Value>,
    #[serde(default)]
    require_verification: Option<bool>,
    // Functions; their keys may still appear.
    #[serde(default, rename = "sendOTP")]
    #[allow(dead_code)]
    send_otp: Option<Value>,
    #[serde(default)]
    #[allow(dead_code)]
    phone_number_validator: Option<Value>,
}

const HOOK_SEND: &str = "phone-number.sendOTP";
const HOOK_VALIDATOR: &str = "phone-number.phoneNumberValidator";
const HOOK_TEMP_EMAIL: &str = "phone-number.signUpOnVerification.getTempEmail";
const HOOK_TEMP_NAME: &str = "phone-number.signUpOnVerification.getTempName";

/// Seconds as a number or better-auth's strings (`'30s'`, `'5m'`, `'1h'`, `'1d'`).
fn seconds(v: &Value) -> Option<i64> {
    match v {
        Value::Number(n) => n.as_i64(),
        Value::String(s) => {
            let s = s.trim();
            let (num, unit) = s.split_at(s.find(|c: char| !c.is_ascii_digit())?);
            let n: i64 = num.parse().ok()?;
            let mult = match unit.trim() {
                "s" | "sec" | "secs" | "second" | "seconds" => 1,
                "m" | "min" | "mins" | "minute" | "minutes" => 60,
                "h" | "hr" | "hrs" | "hour" | "hours" => 3600,
                "d" | "day" | "days" => 86_400,
                _ => return None,
            };
            n.checked_mul(mult)
        }
        _ => None,
    }
}

/// The registry's factory.
pub fn plugin(
    options: &Value,
    env: &crate::plugin::PluginEnv<'_>,
) -> Result<std::sync::Arc<dyn crate::plugin::Plugin>> {
    let hooks = &env.callbacks.hooks;
    let p = parse_options(options, env.secret)?;
    if hooks.plugin_fn(HOOK_SEND).is_none() {
        return Err(KavachError::ConfigInvalid(
            "phoneNumber({ sendOTP }) needs sendOTP, an async function that texts { phoneNumber, code }".into(),
        ));
    }
    if p.sign_up_on_verification && hooks.plugin_fn(HOOK_TEMP_EMAIL).is_none() {
        return Err(KavachError::ConfigInvalid(
            "phoneNumber({ signUpOnVerification }) needs getTempEmail(phoneNumber)".into(),
        ));
    }
    // Functions of better-auth's options this version does not run: refused, never ignored.
    for unsupported in [
        "verifyOTP",
        "sendPasswordResetOTP",
        "callbackOnVerification",
    ] {
        if hooks
            .plugin_fn(&format!("phone-number.{unsupported}"))
            .is_some()
        {
            return Err(KavachError::ConfigInvalid(format!(
                "phoneNumber({{ {unsupported} }}) is not supported by this version of kavachos"
            )));
        }
    }
    Ok(std::sync::Arc::new(p))
}

/// Checks `phoneNumber()`'s options (the functions are checked by the factory).
pub fn parse_options(options: &Value, secret: Option<&str>) -> Result<PhoneNumberPlugin> {
    let o: Options = match options {
        Value::Null => Options::default(),
        v => serde_json::from_value(v.clone()).map_err(|e| {
            KavachError::ConfigInvalid(format!("invalid phoneNumber() options: {e}"))
        })?,
    };
    let otp_length = o.otp_length.unwrap_or(6);
    if !(4..=12).contains(&otp_length) {
        return Err(KavachError::ConfigInvalid(
            "phoneNumber({ otpLength }) must be between 4 and 12".into(),
        ));
    }
    let expires_in = match &o.expires_in {
        None => 300,
        Some(v) => seconds(v)
            .filter(|s| (1..=86_400).contains(s))
            .ok_or_else(|| {
                KavachError::ConfigInvalid(
                    "phoneNumber({ expiresIn }) must be 1 to 86400 seconds (a number or '5m')"
                        .into(),
                )
            })?,
    };
    let allowed_attempts = o.allowed_attempts.unwrap_or(3);
    if !(1..=20).contains(&allowed_attempts) {
        return Err(KavachError::ConfigInvalid(
            "phoneNumber({ allowedAttempts }) must be between 1 and 20".into(),
        ));
    }
    let sign_up_on_verification = match &o.sign_up_on_verification {
        None | Some(Value::Null) | Some(Value::Bool(false)) => false,
        Some(Value::Object(_)) => true,
        Some(_) => {
            return Err(KavachError::ConfigInvalid(
                "phoneNumber({ signUpOnVerification }) must be { getTempEmail, getTempName? }"
                    .into(),
            ))
        }
    };
    Ok(PhoneNumberPlugin {
        otp_length: otp_length as usize,
        expires_in_ms: expires_in * 1000,
        allowed_attempts: i64::from(allowed_attempts),
        sign_up_on_verification,
        require_verification: o.require_verification.unwrap_or(false),
        key: key(secret),
    })
}

fn invalid_number() -> KavachError {
    KavachError::validation("INVALID_PHONE_NUMBER: phoneNumber must be a valid international number (+ and country code)")
}

/// A number as sent, in E.164 (`+14155552671`), if it is a valid number.
pub fn to_e164(raw: &str) -> Result<String> {
    if raw.is_empty() || raw.len() > 64 || raw.chars().any(char::is_control) {
        return Err(invalid_number());
    }
    let n = phonenumber::parse(None, raw).map_err(|_| invalid_number())?;
    if !phonenumber::is_valid(&n) {
        return Err(invalid_number());
    }
    Ok(n.format().mode(phonenumber::Mode::E164).to_string())
}

impl crate::plugin::Plugin for PhoneNumberPlugin {
    fn id(&self) -> &'static str {
        "phone-number"
    }

    fn routes(&self) -> &'static [crate::plugin::Route] {
        ROUTES
    }

    /// As better-auth's: sign-up may give a `phoneNumber` (stored in E.164, not verified);
    /// update-user may only remove it (`phoneNumber: null`): a new number is set by
    /// `phone-number/verify { updatePhoneNumber: true }`, which proves it.
    fn user_fields<'a>(
        &'a self,
        hooks: &'a Hooks,
        fields: &'a mut serde_json::Map<String, Value>,
        user: &'a mut User,
        for_update: bool,
    ) -> crate::BoxFut<'a, Result<()>> {
        Box::pin(async move {
            match (fields.remove("phoneNumber"), for_update) {
                (None, _) | (Some(Value::Null), false) => {}
                (Some(Value::Null), true) => {
                    user.phone_number = None;
                    user.phone_number_verified = false;
                }
                (Some(Value::String(raw)), false) => {
                    user.phone_number = Some(self.number(hooks, &raw).await?);
                    user.phone_number_verified = false;
                }
                (Some(Value::String(_)), true) => {
                    return Err(KavachError::refused(
                        "PHONE_NUMBER_CANNOT_BE_UPDATED",
                        400,
                        "a phone number is changed by verifying it: phone-number/verify with updatePhoneNumber",
                    ))
                }
                (Some(_), _) => return Err(invalid_number()),
            }
            Ok(())
        })
    }

    fn as_any(&self) -> &dyn std::any::Any {
        self
    }
}

impl PhoneNumberPlugin {
    /// The app's validator (on the number as sent), then E.164.
    async fn number(&self, hooks: &Hooks, raw: &str) -> Result<String> {
        if raw.chars().any(char::is_control) || raw.len() > 64 {
            return Err(invalid_number());
        }
        if let Some(f) = hooks.plugin_fn(HOOK_VALIDATOR) {
            if f.call(json!(raw)).await? != Value::Bool(true) {
                return Err(invalid_number());
            }
        }
        to_e164(raw)
    }

    /// Issues a fresh code for `e164` (replacing an earlier one) and awaits `sendOTP`. Texts to
    /// one number count against the failed sign-in limit (10 per 15 minutes by default), so no
    /// one can flood a number from many addresses.
    async fn send_code(&self, k: &Kavach, e164: &str) -> Result<()> {
        if let Some((per_number, _)) = k.settings().rate_limits {
            let key = format!("phone-send:{e164}");
            if let Some(retry) = ratelimit::hit(k.limiter(), &key, per_number, k.now_ms()).await? {
                return Err(KavachError::TooManyAttempts(retry.0));
            }
        }
        let code = OneTime::new_code(self.otp_length);
        OneTime::new(k, &self.key)
            .issue(PURPOSE, e164, &code, None, self.expires_in_ms)
            .await?;
        let send = k
            .hooks()
            .plugin_fn(HOOK_SEND)
            .ok_or_else(|| KavachError::ConfigInvalid("phoneNumber() needs sendOTP".into()))?;
        send.call(json!({ "phoneNumber": e164, "code": code }))
            .await?;
        Ok(())
    }
}

impl Kavach {
    fn phone_plugin(&self) -> Result<&PhoneNumberPlugin> {
        self.check_open()?;
        self.plugin::<PhoneNumberPlugin>().ok_or_else(|| {
            KavachError::ConfigInvalid("phone-number routes need the phoneNumber() plugin".into())
        })
    }

    async fn user_by_phone(&self, e164: &str) -> Result<Option<User>> {
        let sql = sql_for(
            self.dialect(),
            "SELECT id FROM kavach_user WHERE phone_number = ?",
        );
        let id: Option<String> = on_pool!(self.pool(), p => match sqlx::query(&sql).bind(e164).fetch_optional(p).await? {
            None => None,
            Some(r) => Some(col_str!(r, "id")?),
        });
        match id {
            None => Ok(None),
            Some(id) => self.humans().user_by_id(&id).await,
        }
    }

    /// Sets `user`'s number (verified), with `user.updated`. A number another account has is
    /// `PHONE_NUMBER_TAKEN`.
    async fn set_verified_phone(&self, mut user: User, e164: &str) -> Result<User> {
        let now = self.now_ms();
        user.phone_number = Some(e164.to_owned());
        user.phone_number_verified = true;
        user.updated_at = now;
        let sql = sql_for(
            self.dialect(),
            "UPDATE kavach_user SET phone_number = ?, phone_number_verified = ?, updated_at = ? WHERE id = ?",
        );
        let emitter = self.emitter();
        let events: Vec<_> = emitter
            .event("user.updated", now, || json!(user))
            .into_iter()
            .collect();
        crate::with_outbox!(self.pool(), emitter, &events, |c| {
            sqlx::query(&sql)
                .bind(e164)
                .bind(true)
                .bind(Ts(now))
                .bind(&user.id)
                .execute(c)
                .await
                .map_err(crate::accounts::human::user_conflict)?;
        });
        emitter.committed(events);
        Ok(user)
    }

    /// The user a verified `e164` names: its user (marked verified), else a new one when
    /// `signUpOnVerification` is on.
    async fn phone_user(
        &self,
        plugin: &PhoneNumberPlugin,
        e164: &str,
        extra: serde_json::Map<String, Value>,
    ) -> Result<User> {
        if let Some(user) = self.user_by_phone(e164).await? {
            // A new user's fields mean nothing to an existing one (as better-auth's).
            if user.phone_number_verified {
                return Ok(user);
            }
            return self.set_verified_phone(user, e164).await;
        }
        if !plugin.sign_up_on_verification {
            return Err(KavachError::refused(
                "PHONE_NUMBER_NOT_EXIST",
                400,
                "no account has this phone number",
            ));
        }
        let hooks = self.hooks();
        let email = match hooks.plugin_fn(HOOK_TEMP_EMAIL) {
            Some(f) => f.call(json!(e164)).await?,
            None => Value::Null,
        };
        let email = email
            .as_str()
            .and_then(|e| normalize_email(e).ok())
            .ok_or_else(|| {
                KavachError::Internal(
                    "signUpOnVerification.getTempEmail must answer an email address".into(),
                )
            })?;
        let name = match hooks.plugin_fn(HOOK_TEMP_NAME) {
            Some(f) => f.call(json!(e164)).await?.as_str().map(str::to_owned),
            None => None,
        }
        .unwrap_or_else(|| e164.to_owned());
        let mut user = User {
            name: Some(name.chars().take(255).collect()),
            phone_number: Some(e164.to_owned()),
            phone_number_verified: true,
            ..User::new(email, self.now_ms())
        };
        let humans = self.humans();
        humans.take_user_fields(extra, &mut user, false).await?;
        humans.create_user(user, "phone-number").await
    }
}

fn unknown_field(extra: &serde_json::Map<String, Value>) -> KavachError {
    KavachError::validation(format!(
        "unknown field `{}` in the body",
        extra
            .keys()
            .next()
            .map(|k| k.chars().take(64).collect::<String>())
            .unwrap_or_default()
    ))
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct SendBody {
    phone_number: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct VerifyBody {
    phone_number: String,
    code: String,
    #[serde(default)]
    disable_session: Option<bool>,
    #[serde(default)]
    update_phone_number: Option<bool>,
    /// A new user's own fields (`user.additionalFields`, ...) with `signUpOnVerification`.
    #[serde(flatten)]
    extra: serde_json::Map<String, Value>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct SignInBody {
    phone_number: String,
    password: String,
    /// Accepted for better-auth's body; the session cookie is the core's either way.
    #[serde(default)]
    #[allow(dead_code)]
    remember_me: Option<bool>,
}

/// An error as its answer: a limit is 429 with `Retry-After`.
fn api(e: KavachError) -> crate::http::ApiError {
    match e {
        KavachError::TooManyAttempts(s) => too_many(ratelimit::RetryAfter(s)),
        e => e.into(),
    }
}

/// The failed-code counter of a number (shared with the failed sign-in limit).
fn code_limit_key(e164: &str) -> String {
    format!("phone-otp:{e164}")
}

async fn verify(k: &Kavach, req: &HttpRequest) -> ApiResult {
    let plugin = k.phone_plugin()?;
    let b: VerifyBody = parse_body(req)?;
    let code = b.code.trim();
    if code.is_empty() || code.len() > 32 || !code.bytes().all(|c| c.is_ascii_digit()) {
        return Err(KavachError::validation("code must be the digits that were sent").into());
    }
    k.limit_ip(req).await?;
    let e164 = plugin.number(k.hooks(), &b.phone_number).await?;
    // Who the number goes to, before the code is spent.
    let updating = if b.update_phone_number == Some(true) {
        Some(k.session_user(req).await?)
    } else {
        None
    };
    // Fields beyond better-auth's are a new user's, with signUpOnVerification only.
    if !b.extra.is_empty() && (updating.is_some() || !plugin.sign_up_on_verification) {
        return Err(unknown_field(&b.extra).into());
    }
    let limit = k.settings().rate_limits.map(|(per_account, _)| per_account);
    let limit_key = code_limit_key(&e164);
    if let Some(limit) = limit {
        if let Some(retry) = ratelimit::blocked(k.limiter(), &limit_key, limit, k.now_ms()).await? {
            return Err(too_many(retry));
        }
    }
    let taken = OneTime::new(k, &plugin.key)
        .check_code(PURPOSE, &e164, code, plugin.allowed_attempts, true)
        .await?;
    if !matches!(taken, Taken::Valid { .. }) {
        if taken == Taken::Invalid {
            if let Some(limit) = limit {
                ratelimit::hit(k.limiter(), &limit_key, limit, k.now_ms()).await?;
            }
        }
        return Err(code_error(&taken).into());
    }
    if let Some(user) = updating {
        let mut user = k.set_verified_phone(user, &e164).await?;
        k.hide_fields(&mut user);
        return ok_value(json!({ "status": true, "user": user }));
    }
    let mut user = k.phone_user(plugin, &e164, b.extra).await?;
    if b.disable_session == Some(true) {
        k.hide_fields(&mut user);
        return ok_value(json!({ "status": true, "token": null, "user": user }));
    }
    let signed = k.sign_in_verified(user, req.client()).await?;
    let mut r =
        ok_value(json!({ "status": true, "user": signed.user, "session": signed.session }))?;
    r.headers
        .push(("set-cookie".into(), k.session_cookie(&signed.token)));
    Ok(r)
}

async fn sign_in(k: &Kavach, req: &HttpRequest) -> ApiResult {
    let plugin = k.phone_plugin()?;
    let b: SignInBody = parse_body(req)?;
    let e164 = plugin.number(k.hooks(), &b.phone_number).await?;
    let login = Login::PhoneNumber(e164.clone());
    if plugin.require_verification {
        if let Some(user) = k.user_by_phone(&e164).await? {
            if !user.phone_number_verified {
                // The password first, so the answer says nothing to someone without it; then a
                // code goes to the number and the sign-in waits for its verification.
                k.limit_ip(req).await?;
                let key = login.limit_key();
                let limit = k.settings().rate_limits.map(|(per_account, _)| per_account);
                if let Some(limit) = limit {
                    if let Some(retry) =
                        ratelimit::blocked(k.limiter(), &key, limit, k.now_ms()).await?
                    {
                        return Err(too_many(retry));
                    }
                }
                let client = req.client();
                return match k
                    .humans()
                    .authenticate(login, b.password, &client, k.now_ms())
                    .await
                {
                    Ok(_) => {
                        plugin.send_code(k, &e164).await.map_err(api)?;
                        Err(KavachError::refused(
                            "PHONE_NUMBER_NOT_VERIFIED",
                            403,
                            "verify the phone number first: a code was sent to it",
                        )
                        .into())
                    }
                    Err(KavachError::InvalidCredentials) => {
                        if let Some(limit) = limit {
                            ratelimit::hit(k.limiter(), &key, limit, k.now_ms()).await?;
                        }
                        Err(KavachError::InvalidCredentials.into())
                    }
                    Err(e) => Err(e.into()),
                };
            }
        }
    }
    k.password_sign_in_response(req, login, b.password).await
}

const ROUTES: &[crate::plugin::Route] = &[
    route!("POST", "/auth/phone-number/send-otp", |k, req, p| {
        let plugin = k.phone_plugin()?;
        let b: SendBody = parse_body(req)?;
        k.limit_ip(req).await?;
        let e164 = plugin.number(k.hooks(), &b.phone_number).await?;
        plugin.send_code(k, &e164).await.map_err(api)?;
        // The same answer whether or not the number has an account.
        ok_value(json!({ "message": "code sent" }))
    }),
    route!("POST", "/auth/phone-number/verify", |k, req, p| {
        verify(k, req).await
    }),
    route!("POST", "/auth/sign-in/phone-number", |k, req, p| {
        sign_in(k, req).await
    }),
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn e164_of_spellings() {
        let a = to_e164("+1 (415) 555-2671").unwrap();
        assert_eq!(a, "+14155552671");
        assert_eq!(to_e164("+14155552671").unwrap(), a);
        assert_eq!(to_e164("+1.415.555.2671").unwrap(), a);
        assert_eq!(to_e164("+44 20 7946 0958").unwrap(), "+442079460958");
        for bad in [
            "",
            "4155552671",
            "+1 555",
            "+999 1234567",
            "hello",
            "+1415555\u{0}2671",
        ] {
            assert!(to_e164(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn options() {
        let p = parse_options(&Value::Null, None).unwrap();
        assert_eq!(
            (p.otp_length, p.expires_in_ms, p.allowed_attempts),
            (6, 300_000, 3)
        );
        assert!(!p.sign_up_on_verification);
        let p = parse_options(
            &json!({ "otpLength": 8, "expiresIn": "2m", "allowedAttempts": 5, "signUpOnVerification": {}, "requireVerification": true }),
            None,
        )
        .unwrap();
        assert_eq!(
            (p.otp_length, p.expires_in_ms, p.allowed_attempts),
            (8, 120_000, 5)
        );
        assert!(p.sign_up_on_verification && p.require_verification);
        assert!(parse_options(&json!({ "otpLength": 2 }), None).is_err());
        assert!(parse_options(&json!({ "expiresIn": "soon" }), None).is_err());
        assert!(parse_options(&json!({ "bogus": 1 }), None).is_err());
    }
}
