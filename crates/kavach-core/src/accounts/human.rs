//! Human accounts: email and password sign-up and sign-in, and opaque session tokens stored only as
//! SHA-256, with an expiry that slides in the database (no cookie has to be rewritten for it).

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use rand::RngCore;
use serde::{Deserialize, Serialize};
use sqlx::Row;

use crate::config::{Dialect, Settings};
use crate::crypto::passwords::{burn_verification, hash_password, verify_password, Verified};
use crate::crypto::token::{hash_token, new_id};
use crate::error::{KavachError, Result};
use crate::store::db::BeginWrite;
use crate::store::db::{sql_for, Pool, Ts};
use crate::{col_opt_str, col_str, on_pool};

/// The provider id of email-and-password credentials in `kavach_account`.
pub const CREDENTIAL_PROVIDER: &str = "credential";

/// A person.
#[derive(Debug, Clone, Default, Serialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct User {
    pub id: String,
    pub email: String,
    pub name: Option<String>,
    pub email_verified: bool,
    pub image: Option<String>,
    pub created_at: i64,
    pub updated_at: i64,
    /// `user` unless the admin plugin (or `admin({ defaultRole })`) set another.
    pub role: String,
    pub banned: bool,
    pub ban_reason: Option<String>,
    /// When a ban ends by itself (`None`: never).
    pub ban_expires: Option<i64>,
    /// The username plugin's name, lowercased (uniqueness ignores case).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub username: Option<String>,
    /// The username as the user typed it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub display_username: Option<String>,
    /// The phoneNumber plugin's number, in E.164.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub phone_number: Option<String>,
    #[serde(skip_serializing_if = "is_false")]
    pub phone_number_verified: bool,
    /// A guest of the anonymous plugin.
    #[serde(skip_serializing_if = "is_false")]
    pub is_anonymous: bool,
    /// `user.additionalFields`: the app's own fields, returned beside the others.
    #[serde(flatten, skip_serializing_if = "Option::is_none")]
    pub additional: Option<serde_json::Map<String, serde_json::Value>>,
}

fn is_false(b: &bool) -> bool {
    !*b
}

/// The columns a [`User`] is read from (`user_from_row!(r, "")`), for `SELECT ... FROM kavach_user`.
#[macro_export]
#[doc(hidden)]
macro_rules! user_columns {
    () => {
        "id, email, name, email_verified, image, created_at, updated_at, role, banned, ban_reason, ban_expires, \
         username, display_username, phone_number, phone_number_verified, is_anonymous, additional_fields"
    };
    // The same columns of the user aliased `u`, as `u_<column>` (`user_from_row!(r, "u_")`).
    (u) => {
        "u.id AS u_id, u.email AS u_email, u.name AS u_name, u.email_verified AS u_email_verified, u.image AS u_image, \
         u.created_at AS u_created_at, u.updated_at AS u_updated_at, u.role AS u_role, u.banned AS u_banned, \
         u.ban_reason AS u_ban_reason, u.ban_expires AS u_ban_expires, u.username AS u_username, \
         u.display_username AS u_display_username, u.phone_number AS u_phone_number, \
         u.phone_number_verified AS u_phone_number_verified, u.is_anonymous AS u_is_anonymous, \
         u.additional_fields AS u_additional_fields"
    };
}

/// `additional_fields` as stored (a JSON object, or NULL) to the map returned on the user.
pub fn parse_additional(raw: Option<String>) -> Option<serde_json::Map<String, serde_json::Value>> {
    match serde_json::from_str::<serde_json::Value>(raw.as_deref()?) {
        Ok(serde_json::Value::Object(m)) if !m.is_empty() => Some(m),
        _ => None,
    }
}

impl User {
    /// Banned at `now_ms` (a ban whose expiry passed no longer counts).
    pub fn is_banned(&self, now_ms: i64) -> bool {
        self.banned && !matches!(self.ban_expires, Some(t) if t <= now_ms)
    }
}

/// A signed-in session (never its token).
#[derive(Debug, Clone, Serialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct Session {
    pub id: String,
    pub user_id: String,
    pub expires_at: i64,
    pub ip_address: Option<String>,
    pub user_agent: Option<String>,
    pub created_at: i64,
    pub updated_at: i64,
    /// The organization this session acts in (the organization plugin), if one was chosen.
    pub active_organization_id: Option<String>,
    /// The admin's user id when this session is an impersonation (it then never slides).
    pub impersonated_by: Option<String>,
}

/// What sign-up and sign-in return: the session, its user, and the token (for the cookie) once.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SignedIn {
    pub user: User,
    pub session: Session,
    pub token: String,
}

/// What a sign-in answers: a session, or a sign-in a plugin holds back (a second factor is due).
#[derive(Debug, Clone, Serialize)]
#[serde(untagged)]
// Returned once per sign-in and matched at once: boxing would only add an allocation.
#[allow(clippy::large_enum_variant)]
pub enum SignInOutcome {
    /// Signed in: a session exists.
    Complete(SignedIn),
    /// No session yet: what the plugin answers instead.
    Interrupted(crate::plugin::Interruption),
}

/// `signUp({ email, password, name?, image?, ... })`. Fields beyond these four go to the plugins
/// (`Plugin::sign_up_fields`: username's `username`) and to `user.additionalFields`; one that
/// nobody takes is refused.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SignUp {
    pub email: String,
    pub password: String,
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub image: Option<String>,
    #[serde(flatten)]
    pub extra: serde_json::Map<String, serde_json::Value>,
}

/// `updateUser({ name?, image?, ... })`: fields beyond name and image go to the plugins
/// (`Plugin::user_fields`) and `user.additionalFields`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct UpdateUser {
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub image: Option<String>,
    #[serde(flatten)]
    pub extra: serde_json::Map<String, serde_json::Value>,
}

/// `INSERT INTO kavach_user` of every column of a [`User`] but the ban: bind with [`bind_user!`].
pub(crate) const INSERT_USER: &str = "INSERT INTO kavach_user (id, email, name, email_verified, image, created_at, updated_at, role, \
     username, display_username, phone_number, phone_number_verified, is_anonymous, additional_fields) \
     VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)";

/// Binds a [`User`] to [`INSERT_USER`].
#[macro_export]
#[doc(hidden)]
macro_rules! bind_user {
    ($q:expr, $u:expr) => {{
        let u = $u;
        $q.bind(&u.id)
            .bind(&u.email)
            .bind(&u.name)
            .bind(u.email_verified)
            .bind(&u.image)
            .bind($crate::store::db::Ts(u.created_at))
            .bind($crate::store::db::Ts(u.updated_at))
            .bind(&u.role)
            .bind(&u.username)
            .bind(&u.display_username)
            .bind(&u.phone_number)
            .bind(u.phone_number_verified)
            .bind(u.is_anonymous)
            .bind(
                u.additional
                    .as_ref()
                    .map(|m| serde_json::Value::Object(m.clone()).to_string()),
            )
    }};
}

/// A unique violation on `kavach_user` (or an account row) as the error the caller can act on:
/// `USERNAME_TAKEN` or `PHONE_NUMBER_TAKEN` for those columns, `USER_EXISTS` for the rest.
pub(crate) fn user_conflict(e: sqlx::Error) -> KavachError {
    match e {
        sqlx::Error::Database(d) if d.is_unique_violation() => {
            let what = format!("{} {}", d.constraint().unwrap_or(""), d.message());
            if what.contains("username") {
                KavachError::refused("USERNAME_TAKEN", 409, "this username is already taken")
            } else if what.contains("phone_number") {
                KavachError::refused(
                    "PHONE_NUMBER_TAKEN",
                    409,
                    "this phone number belongs to another account",
                )
            } else {
                KavachError::UserExists
            }
        }
        other => other.into(),
    }
}

impl User {
    /// A new user of `email` created at `now_ms`, with nothing else set.
    pub fn new(email: String, now_ms: i64) -> Self {
        Self {
            id: new_id(),
            email,
            created_at: now_ms,
            updated_at: now_ms,
            role: "user".to_owned(),
            ..Default::default()
        }
    }
}

/// `signIn({ email, password })`.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct SignIn {
    pub email: String,
    pub password: String,
}

/// Who a password sign-in names: an email (the core's), a username (the username plugin's, matched
/// lowercased) or a phone number (the phoneNumber plugin's, already in E.164).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Login {
    Email(String),
    Username(String),
    PhoneNumber(String),
}

impl Login {
    /// The `kavach_user` column and the value it is matched by; `VALIDATION_FAILED` for a login
    /// that cannot name anyone (an email that is not an address, a control character).
    fn lookup(&self) -> Result<(&'static str, String)> {
        match self {
            Login::Email(e) => Ok(("email", normalize_email(e)?)),
            Login::Username(u) => {
                crate::error::check_plain("username", u, 255)?;
                Ok(("username", u.trim().to_lowercase()))
            }
            Login::PhoneNumber(n) => {
                crate::error::check_plain("phoneNumber", n, 64)?;
                Ok(("phone_number", n.clone()))
            }
        }
    }

    /// The key failed sign-ins of this login count under (a hash: attempted logins are not stored).
    pub fn limit_key(&self) -> String {
        let named = match self {
            Login::Email(e) => e.trim().to_lowercase(),
            Login::Username(u) => format!("username:{}", u.trim().to_lowercase()),
            Login::PhoneNumber(n) => format!("phone:{n}"),
        };
        format!("signin:{}", &hash_token(&named)[..32])
    }
}

/// Where a request came from, kept on the session row.
#[derive(Debug, Clone, Default)]
pub struct ClientInfo {
    pub ip: Option<String>,
    pub user_agent: Option<String>,
    /// `scheme://host` the request came to (for links in emails when no `baseUrl` is set).
    pub origin: Option<String>,
}

pub use crate::input::normalize_email;

fn check_password(password: &str, min: usize) -> Result<()> {
    let n = password.chars().count();
    if n < min || n > 128 {
        return Err(KavachError::validation(format!(
            "password must be {min} to 128 characters long"
        )));
    }
    Ok(())
}

pub(crate) fn new_session_token() -> String {
    let mut bytes = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    URL_SAFE_NO_PAD.encode(bytes)
}

async fn blocking<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> Result<T> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|_| KavachError::Internal("a hashing task failed".into()))
}

/// Human-account persistence over any of the three databases.
/// The origin of links in emails: `baseUrl`'s, or (in development and test only) the request's.
/// Outside development a link is never built from request headers: a forged Host would put its
/// own address, with a live reset token, into the email.
pub fn link_origin<'o>(settings: &'o Settings, request_origin: Option<&'o str>) -> Result<&'o str> {
    if let Some(own) = settings.base_origin.as_deref() {
        return Ok(own);
    }
    match request_origin {
        Some(o) if settings.links_from_request => Ok(o),
        _ => Err(KavachError::ConfigInvalid(
            "set baseUrl so that kavachos can build links in emails".into(),
        )),
    }
}

/// Lifts a ban whose expiry has passed (sign-in calls this once the password matched). A ban is
/// account state (columns of `kavach_user` the admin plugin sets): every session lookup reads it
/// in the same query, so it needs no plugin hook on the hot path.
pub(crate) async fn lift_expired_ban(
    pool: &Pool,
    dialect: Dialect,
    user: &mut User,
    now_ms: i64,
) -> Result<()> {
    let sql = sql_for(
        dialect,
        "UPDATE kavach_user SET banned = ?, ban_reason = NULL, ban_expires = NULL, updated_at = ? \
         WHERE id = ? AND banned = ? AND ban_expires IS NOT NULL AND ban_expires <= ?",
    );
    on_pool!(pool, p => sqlx::query(&sql).bind(false).bind(Ts(now_ms)).bind(&user.id).bind(true).bind(Ts(now_ms)).execute(p).await?.rows_affected());
    user.banned = false;
    user.ban_reason = None;
    user.ban_expires = None;
    user.updated_at = now_ms;
    Ok(())
}

pub struct HumanStore<'a> {
    pub pool: &'a Pool,
    pub dialect: Dialect,
    pub settings: &'a Settings,
    pub callbacks: &'a crate::callbacks::Callbacks,
    pub plugins: &'a crate::plugin::Plugins,
    pub emitter: &'a crate::events::Emitter,
}

macro_rules! user_from_row {
    ($r:expr, $p:literal) => {{
        let r = $r;
        User {
            id: col_str!(r, concat!($p, "id"))?,
            email: col_str!(r, concat!($p, "email"))?,
            name: col_opt_str!(r, concat!($p, "name"))?,
            email_verified: r.try_get::<bool, _>(concat!($p, "email_verified"))?,
            image: col_opt_str!(r, concat!($p, "image"))?,
            created_at: r.try_get::<Ts, _>(concat!($p, "created_at"))?.0,
            updated_at: r.try_get::<Ts, _>(concat!($p, "updated_at"))?.0,
            role: col_str!(r, concat!($p, "role"))?,
            banned: r.try_get::<bool, _>(concat!($p, "banned"))?,
            ban_reason: col_opt_str!(r, concat!($p, "ban_reason"))?,
            ban_expires: r
                .try_get::<Option<Ts>, _>(concat!($p, "ban_expires"))?
                .map(|t| t.0),
            username: col_opt_str!(r, concat!($p, "username"))?,
            display_username: col_opt_str!(r, concat!($p, "display_username"))?,
            phone_number: col_opt_str!(r, concat!($p, "phone_number"))?,
            phone_number_verified: r.try_get::<bool, _>(concat!($p, "phone_number_verified"))?,
            is_anonymous: r.try_get::<bool, _>(concat!($p, "is_anonymous"))?,
            additional: $crate::accounts::human::parse_additional(col_opt_str!(
                r,
                concat!($p, "additional_fields")
            )?),
        }
    }};
}
pub(crate) use user_from_row;

impl HumanStore<'_> {
    fn sql<'s>(&self, s: &'s str) -> std::borrow::Cow<'s, str> {
        sql_for(self.dialect, s)
    }

    /// [`Self::sql`] of a statement assembled from fixed pieces (never from input).
    fn sql_owned(&self, s: String) -> String {
        sql_for(self.dialect, &s).into_owned()
    }

    fn require_enabled(&self) -> Result<()> {
        if self.settings.email_password {
            Ok(())
        } else {
            Err(KavachError::ConfigInvalid(
                "email and password sign-in is off: set emailAndPassword: { enabled: true }".into(),
            ))
        }
    }

    pub async fn sign_up(
        &self,
        input: SignUp,
        client: ClientInfo,
        now_ms: i64,
    ) -> Result<SignedUp> {
        self.require_enabled()?;
        let email = normalize_email(&input.email)?;
        check_password(&input.password, self.settings.min_password_length)?;
        if let Some(n) = &input.name {
            crate::error::check_plain("name", n, 255)?;
        }
        if let Some(i) = &input.image {
            crate::error::check_plain("image", i, 1 << 20)?;
        }
        let mut user = User {
            name: input.name,
            image: input.image,
            ..User::new(email, now_ms)
        };
        for p in self.plugins.iter() {
            p.prepare_user(&mut user);
        }
        // The fields are checked before the (costly) hash.
        self.take_user_fields(input.extra, &mut user, false).await?;
        let iterations = self.settings.pbkdf2_iterations;
        let password = input.password;
        let hash = blocking(move || hash_password(&password, iterations)).await?;
        let insert_user = self.sql(INSERT_USER);
        let insert_account = self.sql(
            "INSERT INTO kavach_account (id, user_id, provider_id, provider_account_id, password, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
        );
        let events: Vec<_> = [
            self.emitter
                .event("user.created", now_ms, || serde_json::json!(user)),
            self.emitter.event(
                "auth.sign-up",
                now_ms,
                || serde_json::json!({ "userId": user.id, "email": user.email }),
            ),
        ]
        .into_iter()
        .flatten()
        .collect();
        on_pool!(self.pool, p => {
            let mut tx = p.begin_write().await?;
            crate::bind_user!(sqlx::query(&insert_user), &user)
                .execute(&mut *tx).await.map_err(user_conflict)?;
            sqlx::query(&insert_account)
                .bind(new_id()).bind(&user.id).bind(CREDENTIAL_PROVIDER).bind(&user.id).bind(&hash)
                .bind(Ts(now_ms)).bind(Ts(now_ms))
                .execute(&mut *tx).await.map_err(user_conflict)?;
            self.emitter.write(&mut *tx, &events).await?;
            tx.commit().await.map_err(user_conflict)?;
        });
        self.emitter.committed(events);
        if self.callbacks.send_verification_email.is_some() {
            self.send_verification(&user, client.origin.as_deref(), None, now_ms)
                .await?;
        }
        if self.settings.require_email_verification {
            return Ok(SignedUp {
                user,
                session: None,
                token: None,
            });
        }
        let (session, token) = self.create_session(&user.id, client, now_ms, false).await?;
        Ok(SignedUp {
            user,
            session: Some(session),
            token: Some(token),
        })
    }

    pub async fn sign_in(
        &self,
        input: SignIn,
        client: ClientInfo,
        now_ms: i64,
    ) -> Result<SignedIn> {
        let user = self
            .authenticate(Login::Email(input.email), input.password, &client, now_ms)
            .await?;
        let (session, token) = self.create_session(&user.id, client, now_ms, true).await?;
        Ok(SignedIn {
            user,
            session,
            token,
        })
    }

    /// Checks a login (email, username or phone number) and its password (and the email
    /// verification rule); creates no session.
    pub(crate) async fn authenticate(
        &self,
        login: Login,
        password: String,
        client: &ClientInfo,
        now_ms: i64,
    ) -> Result<User> {
        self.require_enabled()?;
        let iterations = self.settings.pbkdf2_iterations;
        // A malformed login is refused before any work: it names no account, so nothing leaks.
        let (column, value) = login.lookup()?;
        // `column` is one of three fixed names, never input.
        let sql = self.sql_owned(format!(
            "SELECT {}, a.id AS a_id, a.password AS a_password \
             FROM kavach_user u JOIN kavach_account a ON a.user_id = u.id AND a.provider_id = ? WHERE u.{column} = ?",
            crate::user_columns!(u)
        ));
        let found: Option<(User, String, Option<String>)> = on_pool!(self.pool, p => {
            match sqlx::query(&sql).bind(CREDENTIAL_PROVIDER).bind(&value).fetch_optional(p).await? {
                None => None,
                Some(r) => Some((user_from_row!(&r, "u_"), col_str!(r, "a_id")?, col_opt_str!(r, "a_password")?)),
            }
        });
        let Some((mut user, account_id, Some(stored))) = found else {
            // Same work as a real check, so an unknown email answers in the same time.
            blocking(move || burn_verification(&password, iterations)).await?;
            return Err(KavachError::InvalidCredentials);
        };
        let stored_for_callback = stored.clone();
        let (mut verdict, password) =
            blocking(move || (verify_password(&password, &stored, iterations), password)).await?;
        if verdict == Verified::UnknownFormat {
            // A format only the app knows (kept from the system it migrated from).
            if let Some(legacy) = &self.callbacks.verify_legacy_hash {
                verdict = if legacy.verify(stored_for_callback, password.clone()).await? {
                    Verified::Match { rehash: true }
                } else {
                    Verified::NoMatch
                };
            }
        }
        match verdict {
            Verified::Match { rehash } => {
                if rehash {
                    let fresh = blocking(move || hash_password(&password, iterations)).await?;
                    let sql = self
                        .sql("UPDATE kavach_account SET password = ?, updated_at = ? WHERE id = ?");
                    on_pool!(self.pool, p => sqlx::query(&sql).bind(&fresh).bind(Ts(now_ms)).bind(&account_id).execute(p).await?.rows_affected());
                }
            }
            Verified::NoMatch | Verified::UnknownFormat => {
                return Err(KavachError::InvalidCredentials)
            }
        }
        // Only now, after the password: a ban must not tell wrong passwords from right ones.
        if user.banned {
            if user.is_banned(now_ms) {
                return Err(KavachError::UserBanned);
            }
            lift_expired_ban(self.pool, self.dialect, &mut user, now_ms).await?;
        }
        if self.settings.require_email_verification && !user.email_verified {
            if self.callbacks.send_verification_email.is_some() {
                self.send_verification(&user, client.origin.as_deref(), None, now_ms)
                    .await?;
            }
            return Err(KavachError::EmailNotVerified);
        }
        Ok(user)
    }

    /// Issues a new session for `user_id`: a random token, stored as its SHA-256.
    /// Issues a new session for `user_id`: a random token, stored as its SHA-256. `sign_in`: it
    /// completes a sign-in (`auth.sign-in` is emitted with `session.created`).
    pub async fn create_session(
        &self,
        user_id: &str,
        client: ClientInfo,
        now_ms: i64,
        sign_in: bool,
    ) -> Result<(Session, String)> {
        let session = Session {
            id: new_id(),
            user_id: user_id.to_owned(),
            expires_at: now_ms.saturating_add(self.settings.session_ttl_ms),
            ip_address: client.ip.filter(|s| s.len() <= 64),
            user_agent: client.user_agent.map(|ua| ua.chars().take(512).collect()),
            created_at: now_ms,
            updated_at: now_ms,
            active_organization_id: None,
            impersonated_by: None,
        };
        self.open_session(session, sign_in).await
    }

    /// Writes `session` with a fresh random token (only its SHA-256 is stored), emitting
    /// `session.created` (and `auth.sign-in` when it completes a sign-in) in the same transaction.
    pub(crate) async fn open_session(
        &self,
        session: Session,
        sign_in: bool,
    ) -> Result<(Session, String)> {
        let token = new_session_token();
        let now_ms = session.created_at;
        let sql = self.sql(
            "INSERT INTO kavach_session (id, user_id, token, expires_at, ip_address, user_agent, created_at, updated_at, impersonated_by) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
        );
        let events: Vec<_> = [
            self.emitter
                .event("session.created", now_ms, || serde_json::json!(session)),
            sign_in
                .then(|| {
                    self.emitter.event("auth.sign-in", now_ms, || {
                        serde_json::json!({ "userId": session.user_id, "sessionId": session.id })
                    })
                })
                .flatten(),
        ]
        .into_iter()
        .flatten()
        .collect();
        crate::with_outbox!(self.pool, self.emitter, &events, |c| {
            sqlx::query(&sql)
                .bind(&session.id)
                .bind(&session.user_id)
                .bind(hash_token(&token))
                .bind(Ts(session.expires_at))
                .bind(&session.ip_address)
                .bind(&session.user_agent)
                .bind(Ts(now_ms))
                .bind(Ts(now_ms))
                .bind(&session.impersonated_by)
                .execute(c)
                .await?;
        });
        self.emitter.committed(events);
        Ok((session, token))
    }

    /// The live session for `token` and its user; slides the expiry once `updateAge` has passed.
    /// Expired sessions are deleted on sight.
    pub async fn get_session(&self, token: &str, now_ms: i64) -> Result<Option<(Session, User)>> {
        if token.is_empty() || token.len() > 512 {
            return Ok(None);
        }
        self.session_by_stored(&hash_token(token), now_ms).await
    }

    /// A session imported from another library, whose row holds the raw token (the caller has
    /// verified that token's signature first).
    pub async fn get_imported_session(
        &self,
        raw_token: &str,
        now_ms: i64,
    ) -> Result<Option<(Session, User)>> {
        self.session_by_stored(raw_token, now_ms).await
    }

    /// Replaces an imported session row by a kavachos session (token stored hashed) for the same user.
    pub async fn replace_imported_session(
        &self,
        old: &Session,
        client: ClientInfo,
        now_ms: i64,
    ) -> Result<(Session, String)> {
        let sql = self.sql("DELETE FROM kavach_session WHERE id = ?");
        let n = on_pool!(self.pool, p => sqlx::query(&sql).bind(&old.id).execute(p).await?.rows_affected());
        if n == 0 {
            // Another request replaced it first.
            return Err(KavachError::InvalidToken);
        }
        self.create_session(&old.user_id, client, now_ms, false)
            .await
    }

    async fn session_by_stored(
        &self,
        hashed: &str,
        now_ms: i64,
    ) -> Result<Option<(Session, User)>> {
        let sql = self.sql(concat!(
            "SELECT s.id AS s_id, s.user_id AS s_user_id, s.expires_at AS s_expires_at, s.ip_address AS s_ip_address, \
             s.user_agent AS s_user_agent, s.created_at AS s_created_at, s.updated_at AS s_updated_at, \
             s.active_organization_id AS s_active_organization_id, \
             s.impersonated_by AS s_impersonated_by, ",
            crate::user_columns!(u),
            " FROM kavach_session s JOIN kavach_user u ON u.id = s.user_id WHERE s.token = ?"
        ));
        let found: Option<(Session, User)> = on_pool!(self.pool, p => {
            match sqlx::query(&sql).bind(hashed).fetch_optional(p).await? {
                None => None,
                Some(r) => Some((
                    Session {
                        id: col_str!(r, "s_id")?,
                        user_id: col_str!(r, "s_user_id")?,
                        expires_at: r.try_get::<Ts, _>("s_expires_at")?.0,
                        ip_address: col_opt_str!(r, "s_ip_address")?,
                        user_agent: col_opt_str!(r, "s_user_agent")?,
                        created_at: r.try_get::<Ts, _>("s_created_at")?.0,
                        updated_at: r.try_get::<Ts, _>("s_updated_at")?.0,
                        active_organization_id: col_opt_str!(r, "s_active_organization_id")?,
                        impersonated_by: col_opt_str!(r, "s_impersonated_by")?,
                    },
                    user_from_row!(&r, "u_"),
                )),
            }
        });
        let Some((mut session, user)) = found else {
            return Ok(None);
        };
        // A banned user's leftover session (say, one created while the ban was being written) is dead.
        if session.expires_at <= now_ms || user.is_banned(now_ms) {
            let sql = self.sql("DELETE FROM kavach_session WHERE id = ?");
            on_pool!(self.pool, p => sqlx::query(&sql).bind(&session.id).execute(p).await?.rows_affected());
            return Ok(None);
        }
        let refreshed_at = session.expires_at - self.settings.session_ttl_ms;
        // An impersonation ends when its TTL does: it never slides.
        if session.impersonated_by.is_none()
            && now_ms - refreshed_at >= self.settings.session_update_age_ms
        {
            session.expires_at = now_ms.saturating_add(self.settings.session_ttl_ms);
            session.updated_at = now_ms;
            let sql =
                self.sql("UPDATE kavach_session SET expires_at = ?, updated_at = ? WHERE id = ?");
            on_pool!(self.pool, p => sqlx::query(&sql).bind(Ts(session.expires_at)).bind(Ts(now_ms)).bind(&session.id).execute(p).await?.rows_affected());
        }
        Ok(Some((session, user)))
    }

    /// Ends the session holding `token` (nothing happens for an unknown token).
    pub async fn sign_out(&self, token: &str, now_ms: i64) -> Result<bool> {
        Ok(self
            .end_sessions(Sessions::Token(&hash_token(token)), now_ms)
            .await?
            > 0)
    }

    /// Ends every session of a user; returns how many.
    pub async fn revoke_user_sessions(&self, user_id: &str, now_ms: i64) -> Result<u64> {
        self.end_sessions(Sessions::OfUser(user_id), now_ms).await
    }

    /// Deletes sessions; with anyone listening for `session.revoked`, one event per session ended,
    /// in the same transaction.
    pub(crate) async fn end_sessions(&self, which: Sessions<'_>, now_ms: i64) -> Result<u64> {
        let (filter, a, b) = match which {
            Sessions::Token(hash) => ("token = ?", hash, None),
            Sessions::OfUser(user) => ("user_id = ?", user, None),
            Sessions::OfUserBut(user, keep) => ("user_id = ? AND id <> ?", user, Some(keep)),
        };
        if !self.emitter.wants("session.revoked") {
            let sql = self.sql_owned(format!("DELETE FROM kavach_session WHERE {filter}"));
            return Ok(on_pool!(self.pool, p => {
                let q = sqlx::query(&sql).bind(a);
                let q = match b { Some(b) => q.bind(b), None => q };
                q.execute(p).await?.rows_affected()
            }));
        }
        let select = self.sql_owned(format!(
            "SELECT id, user_id FROM kavach_session WHERE {filter}"
        ));
        let (n, events) = on_pool!(self.pool, p => {
            let mut tx = p.begin_write().await?;
            let q = sqlx::query(&select).bind(a);
            let q = match b { Some(b) => q.bind(b), None => q };
            let rows = q.fetch_all(&mut *tx).await?;
            let mut ended = Vec::with_capacity(rows.len());
            for r in &rows {
                ended.push((col_str!(r, 0)?, col_str!(r, 1)?));
            }
            let mut n = 0;
            let delete = self.sql("DELETE FROM kavach_session WHERE id = ?");
            for (id, _) in &ended {
                n += sqlx::query(&delete).bind(id).execute(&mut *tx).await?.rows_affected();
            }
            let events: Vec<_> = ended
                .iter()
                .filter_map(|(id, user)| {
                    self.emitter.event("session.revoked", now_ms, || {
                        serde_json::json!({ "id": id, "userId": user })
                    })
                })
                .collect();
            self.emitter.write(&mut *tx, &events).await?;
            tx.commit().await?;
            (n, events)
        });
        self.emitter.committed(events);
        Ok(n)
    }
}

/// Which sessions [`HumanStore::end_sessions`] ends.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Sessions<'a> {
    /// The one whose token hashes to this.
    Token(&'a str),
    /// Every session of the user.
    OfUser(&'a str),
    /// Every session of the user but one (by id).
    OfUserBut(&'a str, &'a str),
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn emails() {
        assert_eq!(
            normalize_email("  Ada@Example.COM ").unwrap(),
            "ada@example.com"
        );
        for bad in [
            "", "ada", "@x", "a@", "a b@x.y", "a@b@c", "a\0@x.y", "a@x.y\n",
        ] {
            assert!(normalize_email(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn session_tokens_are_43_chars_of_base64url() {
        let t = new_session_token();
        assert_eq!(t.len(), 43);
        assert_ne!(t, new_session_token());
    }
}

/// What sign-up returns: the user, and a session unless email verification must come first.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SignedUp {
    pub user: User,
    pub session: Option<Session>,
    pub token: Option<String>,
}

/// Which single-use link a token belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenPurpose {
    ResetPassword,
    VerifyEmail,
}

impl TokenPurpose {
    fn as_str(self) -> &'static str {
        match self {
            Self::ResetPassword => "reset-password",
            Self::VerifyEmail => "verify-email",
        }
    }
}

/// A path on the app's own origin (`/reset?x=1`); anything that could leave the origin is refused,
/// so a link carrying a token never points elsewhere.
pub fn same_origin_path(path: &str) -> Result<&str> {
    let ok = path.starts_with('/')
        && !path.starts_with("//")
        && !path.contains('\\')
        && !path.chars().any(char::is_control);
    if ok {
        Ok(path)
    } else {
        Err(KavachError::validation(
            "redirect paths must be relative paths on this site, like /reset-password",
        ))
    }
}

fn with_token(origin: &str, path: &str, token: &str) -> String {
    let sep = if path.contains('?') { '&' } else { '?' };
    format!("{origin}{path}{sep}token={token}")
}

impl HumanStore<'_> {
    async fn issue_token(
        &self,
        user_id: &str,
        purpose: TokenPurpose,
        ttl_ms: i64,
        now_ms: i64,
    ) -> Result<String> {
        let token = new_session_token();
        let delete = self.sql("DELETE FROM kavach_verification WHERE user_id = ? AND purpose = ?");
        let insert = self.sql(
            "INSERT INTO kavach_verification (id, user_id, purpose, token_hash, expires_at, created_at) VALUES (?, ?, ?, ?, ?, ?)",
        );
        on_pool!(self.pool, p => {
            let mut tx = p.begin_write().await?;
            sqlx::query(&delete).bind(user_id).bind(purpose.as_str()).execute(&mut *tx).await?;
            sqlx::query(&insert)
                .bind(new_id()).bind(user_id).bind(purpose.as_str()).bind(hash_token(&token))
                .bind(Ts(now_ms.saturating_add(ttl_ms))).bind(Ts(now_ms))
                .execute(&mut *tx).await?;
            tx.commit().await?;
        });
        Ok(token)
    }

    /// Spends a token: returns its user id once, then never again.
    async fn consume_token(
        &self,
        token: &str,
        purpose: TokenPurpose,
        now_ms: i64,
    ) -> Result<String> {
        if token.is_empty() || token.len() > 256 {
            return Err(KavachError::InvalidToken);
        }
        let hashed = hash_token(token);
        let select = self.sql("SELECT id, user_id, expires_at FROM kavach_verification WHERE token_hash = ? AND purpose = ?");
        let delete = self.sql("DELETE FROM kavach_verification WHERE id = ?");
        let found: Option<(String, String, i64)> = on_pool!(self.pool, p => {
            match sqlx::query(&select).bind(&hashed).bind(purpose.as_str()).fetch_optional(p).await? {
                None => None,
                Some(r) => Some((col_str!(r, "id")?, col_str!(r, "user_id")?, r.try_get::<Ts, _>("expires_at")?.0)),
            }
        });
        let Some((id, user_id, expires_at)) = found else {
            return Err(KavachError::InvalidToken);
        };
        // Whoever deletes the row owns the token: two concurrent uses cannot both succeed.
        let deleted = on_pool!(self.pool, p => sqlx::query(&delete).bind(&id).execute(p).await?.rows_affected());
        if deleted == 0 || expires_at <= now_ms {
            return Err(KavachError::InvalidToken);
        }
        Ok(user_id)
    }

    pub(crate) async fn user_by_id(&self, id: &str) -> Result<Option<User>> {
        let sql = self.sql(concat!(
            "SELECT ",
            crate::user_columns!(),
            " FROM kavach_user WHERE id = ?"
        ));
        Ok(
            on_pool!(self.pool, p => match sqlx::query(&sql).bind(id).fetch_optional(p).await? {
                None => None,
                Some(r) => Some(user_from_row!(&r, "")),
            }),
        )
    }

    /// Sets the fields of a sign-up or `update-user` body beyond the core's on `user`: each plugin
    /// takes its own (`Plugin::user_fields`); a field nobody takes is `VALIDATION_FAILED`.
    pub(crate) async fn take_user_fields(
        &self,
        mut fields: serde_json::Map<String, serde_json::Value>,
        user: &mut User,
        for_update: bool,
    ) -> Result<()> {
        for p in self.plugins.iter() {
            p.user_fields(&self.callbacks.hooks, &mut fields, user, for_update)
                .await?;
        }
        // After the plugins: `user.additionalFields` of the configuration.
        crate::accounts::fields::take(&self.settings.user_fields, &mut fields, user, for_update)?;
        if let Some(field) = fields.keys().next() {
            return Err(KavachError::validation(format!(
                "unknown field `{}` in the body",
                field.chars().take(64).collect::<String>()
            )));
        }
        Ok(())
    }

    /// `POST /auth/update-user { name?, image?, ... }`: changes the signed-in user's profile and the
    /// plugins' fields (a username), with `user.updated`; the email and password have routes of
    /// their own.
    pub async fn update_user(
        &self,
        mut user: User,
        patch: UpdateUser,
        now_ms: i64,
    ) -> Result<User> {
        if let Some(name) = patch.name {
            crate::error::check_plain("name", &name, 255)?;
            user.name = Some(name);
        }
        if let Some(image) = patch.image {
            crate::error::check_plain("image", &image, 1 << 20)?;
            user.image = Some(image);
        }
        if crate::accounts::fields::any_hidden(&self.settings.user_fields) {
            // The user as answered lacks its `returned: false` fields: keep the stored ones.
            if let Some(stored) = self.user_by_id(&user.id).await? {
                user.additional = stored.additional;
            }
        }
        self.take_user_fields(patch.extra, &mut user, true).await?;
        user.updated_at = now_ms;
        let sql = self.sql(
            "UPDATE kavach_user SET name = ?, image = ?, username = ?, display_username = ?, additional_fields = ?, phone_number = ?, phone_number_verified = ?, updated_at = ? WHERE id = ?",
        );
        let additional = user
            .additional
            .as_ref()
            .map(|m| serde_json::Value::Object(m.clone()).to_string());
        let events: Vec<_> = self
            .emitter
            .event("user.updated", now_ms, || serde_json::json!(user))
            .into_iter()
            .collect();
        crate::with_outbox!(self.pool, self.emitter, &events, |c| {
            sqlx::query(&sql)
                .bind(&user.name)
                .bind(&user.image)
                .bind(&user.username)
                .bind(&user.display_username)
                .bind(&additional)
                .bind(&user.phone_number)
                .bind(user.phone_number_verified)
                .bind(Ts(now_ms))
                .bind(&user.id)
                .execute(c)
                .await
                .map_err(user_conflict)?;
        });
        self.emitter.committed(events);
        crate::accounts::fields::hide(&self.settings.user_fields, &mut user);
        Ok(user)
    }

    /// The user of a normalized `email`, if any.
    pub async fn user_by_email(&self, email: &str) -> Result<Option<User>> {
        let sql = self.sql(concat!(
            "SELECT ",
            crate::user_columns!(),
            " FROM kavach_user WHERE email = ?"
        ));
        Ok(
            on_pool!(self.pool, p => match sqlx::query(&sql).bind(email).fetch_optional(p).await? {
                None => None,
                Some(r) => Some(user_from_row!(&r, "")),
            }),
        )
    }

    /// Creates `user` without a password (a sign-up by a link, a code, a username's plugin, a
    /// guest): the plugins' `prepare_user` first, then the row with `user.created` and
    /// `auth.sign-up` (`{ userId, email, method }`) in its transaction. A taken email, username or
    /// number is `USER_EXISTS`, `USERNAME_TAKEN` or `PHONE_NUMBER_TAKEN`.
    pub async fn create_user(&self, mut user: User, method: &str) -> Result<User> {
        for p in self.plugins.iter() {
            p.prepare_user(&mut user);
        }
        crate::accounts::fields::apply_defaults(&self.settings.user_fields, &mut user);
        let now_ms = user.created_at;
        let insert_user = self.sql(INSERT_USER);
        let events: Vec<_> = [
            self.emitter
                .event("user.created", now_ms, || serde_json::json!(user)),
            self.emitter.event(
                "auth.sign-up",
                now_ms,
                || serde_json::json!({ "userId": user.id, "email": user.email, "method": method }),
            ),
        ]
        .into_iter()
        .flatten()
        .collect();
        on_pool!(self.pool, p => {
            let mut tx = p.begin_write().await?;
            crate::bind_user!(sqlx::query(&insert_user), &user)
                .execute(&mut *tx).await.map_err(user_conflict)?;
            self.emitter.write(&mut *tx, &events).await?;
            tx.commit().await.map_err(user_conflict)?;
        });
        self.emitter.committed(events);
        Ok(user)
    }

    /// Sets the credential password (adding the credential account a user without one lacks), with
    /// the outbox rows of `events` in the same transaction.
    pub(crate) async fn set_password(
        &self,
        user_id: &str,
        password: String,
        now_ms: i64,
        events: &[crate::events::EventRecord],
    ) -> Result<()> {
        let iterations = self.settings.pbkdf2_iterations;
        let hash = blocking(move || hash_password(&password, iterations)).await?;
        let update = self.sql("UPDATE kavach_account SET password = ?, updated_at = ? WHERE user_id = ? AND provider_id = ?");
        // A user who signed up with OAuth only gets a credential account now.
        let insert = self.sql(
            "INSERT INTO kavach_account (id, user_id, provider_id, provider_account_id, password, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
        );
        on_pool!(self.pool, p => {
            let mut tx = p.begin_write().await?;
            let n = sqlx::query(&update).bind(&hash).bind(Ts(now_ms)).bind(user_id).bind(CREDENTIAL_PROVIDER).execute(&mut *tx).await?.rows_affected();
            if n == 0 {
                sqlx::query(&insert).bind(new_id()).bind(user_id).bind(CREDENTIAL_PROVIDER).bind(user_id).bind(&hash).bind(Ts(now_ms)).bind(Ts(now_ms)).execute(&mut *tx).await?;
            }
            self.emitter.write(&mut *tx, events).await?;
            tx.commit().await?;
        });
        Ok(())
    }

    pub(crate) fn link_origin<'o>(&'o self, request_origin: Option<&'o str>) -> Result<&'o str> {
        link_origin(self.settings, request_origin)
    }

    /// Sends a verification link for `user` through `sendVerificationEmail`.
    pub async fn send_verification(
        &self,
        user: &User,
        request_origin: Option<&str>,
        callback: Option<&str>,
        now_ms: i64,
    ) -> Result<()> {
        let Some(sender) = &self.callbacks.send_verification_email else {
            return Err(KavachError::ConfigInvalid(
                "emailAndPassword.sendVerificationEmail is not set".into(),
            ));
        };
        let origin = self.link_origin(request_origin)?;
        let token = self
            .issue_token(&user.id, TokenPurpose::VerifyEmail, 86_400_000, now_ms)
            .await?;
        let mut path = format!("{}/auth/verify-email", self.settings.base_path);
        if let Some(cb) = callback {
            let cb = same_origin_path(cb)?;
            path = format!(
                "{path}?callbackURL={}",
                form_urlencoded::byte_serialize(cb.as_bytes()).collect::<String>()
            );
        }
        let url = with_token(origin, &path, &token);
        let user_json = serde_json::to_value(user)
            .map_err(|_| KavachError::Internal("could not encode the user".into()))?;
        sender
            .send(serde_json::json!({ "user": user_json, "url": url, "token": token }))
            .await
    }

    /// Marks the email of the token's user as verified (single use).
    pub async fn verify_email(&self, token: &str, now_ms: i64) -> Result<User> {
        let user_id = self
            .consume_token(token, TokenPurpose::VerifyEmail, now_ms)
            .await?;
        self.mark_email_verified(&user_id, now_ms).await
    }

    /// Marks `user_id`'s email as verified (`user.updated` and `auth.email-verified`).
    pub(crate) async fn mark_email_verified(&self, user_id: &str, now_ms: i64) -> Result<User> {
        let sql =
            self.sql("UPDATE kavach_user SET email_verified = ?, updated_at = ? WHERE id = ?");
        let select = self.sql(concat!(
            "SELECT ",
            crate::user_columns!(),
            " FROM kavach_user WHERE id = ?"
        ));
        let (user, events) = on_pool!(self.pool, p => {
            let mut tx = p.begin_write().await?;
            sqlx::query(&sql).bind(true).bind(Ts(now_ms)).bind(user_id).execute(&mut *tx).await?;
            let user = match sqlx::query(&select).bind(user_id).fetch_optional(&mut *tx).await? {
                Some(r) => user_from_row!(&r, ""),
                None => return Err(KavachError::InvalidToken),
            };
            let events: Vec<_> = [
                self.emitter.event("user.updated", now_ms, || serde_json::json!(user)),
                self.emitter.event("auth.email-verified", now_ms, || {
                    serde_json::json!({ "userId": user.id, "email": user.email })
                }),
            ]
            .into_iter()
            .flatten()
            .collect();
            self.emitter.write(&mut *tx, &events).await?;
            tx.commit().await?;
            (user, events)
        });
        self.emitter.committed(events);
        Ok(user)
    }

    /// Sends a reset link if the email has an account; says nothing either way (no account discovery).
    pub async fn forgot_password(
        &self,
        email: &str,
        redirect_to: Option<&str>,
        request_origin: Option<&str>,
        now_ms: i64,
    ) -> Result<()> {
        self.require_enabled()?;
        // A string that is no address names nobody: refusing it tells nothing about accounts.
        let email = normalize_email(email)?;
        let Some(sender) = &self.callbacks.send_reset_password else {
            return Err(KavachError::ConfigInvalid(
                "emailAndPassword.sendResetPassword is not set".into(),
            ));
        };
        let path = same_origin_path(redirect_to.unwrap_or("/reset-password"))?.to_owned();
        let origin = self.link_origin(request_origin)?.to_owned();
        let Some(user) = self.user_by_email(&email).await? else {
            return Ok(());
        };
        let token = self
            .issue_token(
                &user.id,
                TokenPurpose::ResetPassword,
                self.settings.reset_token_ttl_ms,
                now_ms,
            )
            .await?;
        let url = with_token(&origin, &path, &token);
        let user_json = serde_json::to_value(&user)
            .map_err(|_| KavachError::Internal("could not encode the user".into()))?;
        sender
            .send(serde_json::json!({ "user": user_json, "url": url, "token": token }))
            .await
    }

    /// Sets a new password from a reset link (single use) and ends every session of the user.
    pub async fn reset_password(
        &self,
        token: &str,
        new_password: String,
        now_ms: i64,
    ) -> Result<()> {
        self.check_new_password(&new_password)?;
        let user_id = self
            .consume_token(token, TokenPurpose::ResetPassword, now_ms)
            .await?;
        self.reset_password_of(&user_id, new_password, now_ms).await
    }

    /// Whether `password` may become a password (email and password on, length rules).
    pub(crate) fn check_new_password(&self, password: &str) -> Result<()> {
        self.require_enabled()?;
        check_password(password, self.settings.min_password_length)
    }

    /// Sets `user_id`'s new password once a reset was proven (a link, an emailed code), with
    /// `auth.password-reset`, and ends every session of the user.
    pub(crate) async fn reset_password_of(
        &self,
        user_id: &str,
        new_password: String,
        now_ms: i64,
    ) -> Result<()> {
        let events: Vec<_> = self
            .emitter
            .event(
                "auth.password-reset",
                now_ms,
                || serde_json::json!({ "userId": user_id }),
            )
            .into_iter()
            .collect();
        self.set_password(user_id, new_password, now_ms, &events)
            .await?;
        self.emitter.committed(events);
        self.end_sessions(Sessions::OfUser(user_id), now_ms).await?;
        Ok(())
    }

    /// Changes the password of a signed-in user after checking the current one. Other sessions end
    /// unless `revoke_others` is false; the current one stays.
    pub async fn change_password(
        &self,
        user: &User,
        current_session: &str,
        current: String,
        new_password: String,
        revoke_others: bool,
        now_ms: i64,
    ) -> Result<()> {
        self.require_enabled()?;
        check_password(&new_password, self.settings.min_password_length)?;
        let sql =
            self.sql("SELECT password FROM kavach_account WHERE user_id = ? AND provider_id = ?");
        let stored: Option<Option<String>> = on_pool!(self.pool, p => match sqlx::query(&sql).bind(&user.id).bind(CREDENTIAL_PROVIDER).fetch_optional(p).await? {
            None => None,
            Some(r) => Some(col_opt_str!(r, "password")?),
        });
        let iterations = self.settings.pbkdf2_iterations;
        let Some(Some(stored)) = stored else {
            return Err(KavachError::InvalidCredentials);
        };
        let verdict = blocking(move || verify_password(&current, &stored, iterations)).await?;
        if !matches!(verdict, Verified::Match { .. }) {
            return Err(KavachError::InvalidCredentials);
        }
        self.set_password(&user.id, new_password, now_ms, &[])
            .await?;
        if revoke_others {
            self.end_sessions(Sessions::OfUserBut(&user.id, current_session), now_ms)
                .await?;
        }
        Ok(())
    }
}
