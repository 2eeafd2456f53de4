//! The admin plugin (`admin()`): list and search users, ban and unban them (a ban ends their sessions
//! and revokes their agents in the same transaction), set roles, remove users, and impersonate a user
//! with a session that ends when its TTL does and says who opened it.
//!
//! A user is an admin when their role is `admin` (or a comma-separated list naming it) or their id is
//! in `admin({ adminUserIds })`.

use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use sqlx::Row;

use crate::accounts::human::{user_from_row, ClientInfo, Session, SignedIn, User};
use crate::crypto::token::new_id;
use crate::error::{KavachError, Result};
use crate::http::{ok, ok_value, parse_body, session_token, ApiError, ApiResult, HttpRequest};
use crate::kavach::Kavach;
use crate::route;
use crate::store::db::BeginWrite;
use crate::store::db::{sql_for, Ts};
use crate::{col_opt_str, col_str, on_pool};

/// The cookie that keeps the admin's own session while they impersonate someone.
pub const ADMIN_SESSION_COOKIE: &str = "kavach_admin_session";

const USER_COLUMNS: &str = crate::user_columns!();

/// `admin({ adminUserIds?, impersonationTtl?, defaultRole? })`, checked.
#[derive(Debug, Clone, PartialEq)]
pub struct AdminOptions {
    pub admin_user_ids: Vec<String>,
    /// How long an impersonation session lives (default 1 hour); it never slides.
    pub impersonation_ttl_ms: i64,
    /// The role new users get (default `user`).
    pub default_role: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct RawOptions {
    #[serde(default)]
    admin_user_ids: Option<Vec<String>>,
    /// Seconds.
    #[serde(default)]
    impersonation_ttl: Option<f64>,
    #[serde(default)]
    default_role: Option<String>,
}

/// `admin(options)` of `kavachos/plugins`, running.
#[derive(Debug)]
pub struct AdminPlugin {
    pub options: AdminOptions,
}

/// The registry's factory.
pub fn plugin(
    options: &Value,
    _env: &crate::plugin::PluginEnv<'_>,
) -> Result<std::sync::Arc<dyn crate::plugin::Plugin>> {
    Ok(std::sync::Arc::new(AdminPlugin {
        options: parse_options(options)?,
    }))
}

impl crate::plugin::Plugin for AdminPlugin {
    fn id(&self) -> &'static str {
        "admin"
    }

    fn routes(&self) -> &'static [crate::plugin::Route] {
        ROUTES
    }

    fn namespace(&self) -> Option<&'static str> {
        Some("admin")
    }

    fn call<'a>(
        &'a self,
        k: &'a Kavach,
        op: &'a str,
        input: Value,
    ) -> crate::BoxFut<'a, Result<Value>> {
        Box::pin(k.admin_call(op, input))
    }

    /// New users get `defaultRole`.
    fn prepare_user(&self, user: &mut User) {
        user.role.clone_from(&self.options.default_role);
    }

    fn as_any(&self) -> &dyn std::any::Any {
        self
    }
}

/// Checks `admin()`'s options.
fn parse_options(options: &Value) -> Result<AdminOptions> {
    let raw: RawOptions = match options {
        Value::Null => serde_json::from_value(json!({})),
        v => serde_json::from_value(v.clone()),
    }
    .map_err(|e| KavachError::ConfigInvalid(format!("invalid admin() options: {e}")))?;
    let impersonation_ttl_ms =
        match raw.impersonation_ttl {
            None => 3_600_000,
            Some(s) if s.is_finite() && s > 0.0 && s <= 31_536_000.0 => (s * 1000.0).round() as i64,
            Some(_) => return Err(KavachError::ConfigInvalid(
                "admin({ impersonationTtl }) must be a positive number of seconds (at most a year)"
                    .into(),
            )),
        };
    let default_role = raw.default_role.unwrap_or_else(|| "user".into());
    check_role(&default_role).map_err(|_| {
        KavachError::ConfigInvalid(
            "admin({ defaultRole }) must be 1 to 64 letters, digits, _ - : or ,".into(),
        )
    })?;
    if default_role.split(',').any(|r| r.trim() == "admin") {
        return Err(KavachError::ConfigInvalid(
            "admin({ defaultRole }) must not make every new user an admin".into(),
        ));
    }
    Ok(AdminOptions {
        admin_user_ids: raw.admin_user_ids.unwrap_or_default(),
        impersonation_ttl_ms,
        default_role,
    })
}

fn check_role(role: &str) -> Result<()> {
    let ok = !role.is_empty()
        && role.len() <= 64
        && role
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b':' | b','));
    if ok {
        Ok(())
    } else {
        Err(KavachError::validation(
            "role must be 1 to 64 letters, digits, _ - : or ,",
        ))
    }
}

/// A number of milliseconds or an ISO 8601 string.
fn de_opt_time<'de, D: serde::Deserializer<'de>>(
    d: D,
) -> std::result::Result<Option<i64>, D::Error> {
    match Option::<Value>::deserialize(d)? {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Number(n)) => n
            .as_i64()
            .or_else(|| {
                n.as_f64()
                    .filter(|f| f.is_finite() && f.fract() == 0.0 && f.abs() <= 8.64e15)
                    .map(|f| f as i64)
            })
            .map(Some)
            .ok_or_else(|| serde::de::Error::custom("expected a whole number of milliseconds")),
        Some(Value::String(s)) => chrono::DateTime::parse_from_rfc3339(&s)
            .map(|t| Some(t.timestamp_millis()))
            .map_err(|_| serde::de::Error::custom("expected an ISO 8601 date")),
        Some(_) => Err(serde::de::Error::custom(
            "expected a date (ISO string or milliseconds)",
        )),
    }
}

/// `listUsers({ search?, limit?, offset? })`: `search` matches email or name, case-insensitively.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ListUsers {
    #[serde(default)]
    pub search: Option<String>,
    #[serde(default)]
    pub limit: Option<u32>,
    #[serde(default)]
    pub offset: Option<u32>,
}

/// One page of users and how many match in all.
#[derive(Debug, Clone, Serialize)]
pub struct UserList {
    pub users: Vec<User>,
    pub total: i64,
}

/// `banUser({ userId, reason?, expiresAt? })`.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct BanUser {
    pub user_id: String,
    #[serde(default)]
    pub reason: Option<String>,
    #[serde(default, deserialize_with = "de_opt_time")]
    pub expires_at: Option<i64>,
}

/// `setRole({ userId, role })`.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct SetRole {
    pub user_id: String,
    pub role: String,
}

/// `impersonate({ adminId, userId })`.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Impersonate {
    pub admin_id: String,
    pub user_id: String,
}

fn like_pattern(search: &str) -> String {
    let mut out = String::with_capacity(search.len() + 2);
    out.push('%');
    for ch in search.trim().to_lowercase().chars() {
        if matches!(ch, '!' | '%' | '_') {
            out.push('!');
        }
        out.push(ch);
    }
    out.push('%');
    out
}

/// What [`Kavach::change_user`] writes.
#[derive(Clone, Copy)]
enum UserChange<'a> {
    Role(&'a str),
    Unban,
}

/// In the transaction `$tx`, ends every session of `$user` and every impersonation they opened: one
/// bulk DELETE when nobody listens, otherwise row by row (like `HumanStore::end_sessions`), pushing
/// one `session.revoked` onto `$events` per session deleted.
macro_rules! end_user_sessions {
    ($k:expr, $tx:expr, $user:expr, $now:expr, $events:expr) => {{
        let (k, user, now): (&Kavach, &str, i64) = ($k, $user, $now);
        let em = k.emitter();
        if em.wants("session.revoked") {
            let select = k.admin_sql(
                "SELECT id, user_id FROM kavach_session WHERE user_id = ? OR impersonated_by = ?",
            );
            let delete = k.admin_sql("DELETE FROM kavach_session WHERE id = ?");
            let rows = sqlx::query(&select)
                .bind(user)
                .bind(user)
                .fetch_all(&mut *$tx)
                .await?;
            for r in &rows {
                let (id, owner): (String, String) = (col_str!(r, 0)?, col_str!(r, 1)?);
                let n = sqlx::query(&delete)
                    .bind(&id)
                    .execute(&mut *$tx)
                    .await?
                    .rows_affected();
                if n > 0 {
                    $events.extend(em.event("session.revoked", now, || {
                        json!({ "id": id, "userId": owner })
                    }));
                }
            }
        } else {
            let sessions = k
                .admin_sql("DELETE FROM kavach_session WHERE user_id = ? OR impersonated_by = ?");
            sqlx::query(&sessions)
                .bind(user)
                .bind(user)
                .execute(&mut *$tx)
                .await?;
        }
    }};
}

/// In the transaction `$tx`, revokes every agent `$user` owns: one bulk UPDATE when nobody listens,
/// otherwise row by row, pushing one `agent.revoked` onto `$events` per agent revoked. Answers the
/// ids revoked (for `onAgentRevoke`, called after the commit).
macro_rules! revoke_user_agents {
    ($k:expr, $tx:expr, $user:expr, $now:expr, $events:expr) => {{
        let (k, user, now): (&Kavach, &str, i64) = ($k, $user, $now);
        let em = k.emitter();
        let mut revoked: Vec<String> = Vec::new();
        if em.wants("agent.revoked") || k.hooks().on_agent_revoke.is_some() {
            let select = k.admin_sql(
                "SELECT id FROM kavach_agents WHERE owner_id = ? AND status <> 'revoked'",
            );
            let revoke = k.admin_sql(
                "UPDATE kavach_agents SET status = 'revoked', updated_at = ? WHERE id = ? AND status <> 'revoked'",
            );
            let rows = sqlx::query(&select).bind(user).fetch_all(&mut *$tx).await?;
            for r in &rows {
                let id: String = col_str!(r, 0)?;
                let n = sqlx::query(&revoke)
                    .bind(Ts(now))
                    .bind(&id)
                    .execute(&mut *$tx)
                    .await?
                    .rows_affected();
                if n > 0 {
                    $events.extend(em.event("agent.revoked", now, || {
                        json!({ "id": id, "ownerId": user })
                    }));
                    revoked.push(id);
                }
            }
        } else {
            let agents = k.admin_sql(
                "UPDATE kavach_agents SET status = 'revoked', updated_at = ? WHERE owner_id = ? AND status <> 'revoked'",
            );
            sqlx::query(&agents)
                .bind(Ts(now))
                .bind(user)
                .execute(&mut *$tx)
                .await?;
        }
        revoked
    }};
}

fn check_id(id: &str, what: &str) -> Result<()> {
    if id.is_empty() || id.len() > 255 {
        Err(KavachError::validation(format!(
            "{what} must be a non-empty string of at most 255 characters"
        )))
    } else {
        Ok(())
    }
}

impl Kavach {
    fn admin_options(&self) -> Result<&AdminOptions> {
        self.check_open()?;
        self.plugin::<AdminPlugin>()
            .map(|p| &p.options)
            .ok_or_else(|| {
                KavachError::ConfigInvalid("admin calls need the admin() plugin in plugins".into())
            })
    }

    fn admin_sql<'s>(&self, s: &'s str) -> std::borrow::Cow<'s, str> {
        sql_for(self.dialect(), s)
    }

    /// Whether `user` is an admin: role `admin` (alone or in a comma list) or listed in `adminUserIds`.
    pub fn is_admin(&self, user: &User) -> bool {
        self.plugin::<AdminPlugin>()
            .map(|p| &p.options)
            .is_some_and(|o| {
                user.role.split(',').any(|r| r.trim() == "admin")
                    || o.admin_user_ids.contains(&user.id)
            })
    }

    /// `admin.listUsers`: oldest first; `limit` defaults to 100 (at most 1,000).
    pub async fn list_users(&self, q: ListUsers) -> Result<UserList> {
        self.admin_options()?;
        let limit = i64::from(q.limit.unwrap_or(100).clamp(1, 1000));
        let offset = i64::from(q.offset.unwrap_or(0));
        let search = q.search.as_deref().map(str::trim).filter(|s| !s.is_empty());
        if search.is_some_and(|s| s.len() > 256) {
            return Err(KavachError::validation(
                "search must be at most 256 characters",
            ));
        }
        let pattern = search.map(like_pattern);
        let filter = if pattern.is_some() {
            " WHERE LOWER(email) LIKE ? ESCAPE '!' OR LOWER(COALESCE(name, '')) LIKE ? ESCAPE '!'"
        } else {
            ""
        };
        let list_sql = format!(
            "SELECT {USER_COLUMNS} FROM kavach_user{filter} ORDER BY created_at, id LIMIT ? OFFSET ?"
        );
        let count_sql = format!("SELECT COUNT(*) AS n FROM kavach_user{filter}");
        let (list_sql, count_sql) = (self.admin_sql(&list_sql), self.admin_sql(&count_sql));
        let (users, total) = on_pool!(self.pool(), p => {
            let mut list = sqlx::query(&list_sql);
            let mut count = sqlx::query(&count_sql);
            if let Some(pat) = &pattern {
                list = list.bind(pat.clone()).bind(pat.clone());
                count = count.bind(pat.clone()).bind(pat.clone());
            }
            let rows = list.bind(limit).bind(offset).fetch_all(p).await?;
            let mut users = Vec::with_capacity(rows.len());
            for r in &rows {
                users.push(user_from_row!(r, ""));
            }
            let total: i64 = count.fetch_one(p).await?.try_get("n")?;
            (users, total)
        });
        Ok(UserList { users, total })
    }

    /// `admin.getUser`.
    pub async fn admin_get_user(&self, id: &str) -> Result<Option<User>> {
        self.admin_options()?;
        if id.is_empty() || id.len() > 255 {
            return Ok(None);
        }
        self.humans().user_by_id(id).await
    }

    async fn existing_user(&self, id: &str) -> Result<User> {
        self.humans()
            .user_by_id(id)
            .await?
            .ok_or_else(|| KavachError::NotFound("user not found".into()))
    }

    /// `admin.banUser`: in one transaction the user is marked banned, every session of theirs (and
    /// every impersonation they opened) ends, and every agent they own is revoked. Refused first,
    /// in the same transaction, by a plugin that will not lose the user (organization: `LAST_OWNER`).
    pub async fn ban_user(&self, input: BanUser) -> Result<User> {
        self.admin_options()?;
        check_id(&input.user_id, "userId")?;
        let now = self.now_ms();
        let reason = input
            .reason
            .map(|r| r.trim().to_owned())
            .filter(|r| !r.is_empty());
        if reason.as_ref().is_some_and(|r| r.chars().count() > 1000) {
            return Err(KavachError::validation(
                "reason must be at most 1,000 characters",
            ));
        }
        if input.expires_at.is_some_and(|t| t <= now) {
            return Err(KavachError::validation("expiresAt must be in the future"));
        }
        let find = self.admin_sql("SELECT id FROM kavach_user WHERE id = ?");
        let ban = self.admin_sql(
            "UPDATE kavach_user SET banned = ?, ban_reason = ?, ban_expires = ?, updated_at = ? WHERE id = ?",
        );
        let select = self
            .admin_sql(&format!(
                "SELECT {USER_COLUMNS} FROM kavach_user WHERE id = ?"
            ))
            .into_owned();
        let id = &input.user_id;
        let em = self.emitter();
        let done: Option<(Vec<_>, Vec<String>)> = on_pool!(self.pool(), p => {
            let mut tx = p.begin_write().await?;
            self.before_user_removed(crate::plugin::TxConn::from(&mut *tx), id).await?;
            if sqlx::query(&find).bind(id).fetch_optional(&mut *tx).await?.is_none() {
                None
            } else {
                sqlx::query(&ban).bind(true).bind(&reason).bind(input.expires_at.map(Ts)).bind(Ts(now)).bind(id)
                    .execute(&mut *tx).await?;
                let mut events = Vec::new();
                if em.wants("user.updated") {
                    if let Some(r) = sqlx::query(&select).bind(id).fetch_optional(&mut *tx).await? {
                        let user = user_from_row!(&r, "");
                        events.extend(em.event("user.updated", now, || json!(user)));
                    }
                }
                end_user_sessions!(self, tx, id, now, events);
                let revoked = revoke_user_agents!(self, tx, id, now, events);
                em.write(&mut *tx, &events).await?;
                tx.commit().await?;
                Some((events, revoked))
            }
        });
        let Some((events, revoked)) = done else {
            return Err(KavachError::NotFound("user not found".into()));
        };
        em.committed(events);
        self.agents_revoked(id, revoked);
        self.existing_user(id).await
    }

    /// `onAgentRevoke` for the agents of `owner` a ban or a removal revoked (never awaited).
    fn agents_revoked(&self, owner: &str, revoked: Vec<String>) {
        if let Some(hook) = &self.hooks().on_agent_revoke {
            for id in revoked {
                hook.fire(json!({ "agentId": id, "ownerId": owner }));
            }
        }
    }

    /// `admin.unbanUser`: the user may sign in again (revoked agents stay revoked).
    pub async fn unban_user(&self, user_id: &str) -> Result<User> {
        self.admin_options()?;
        check_id(user_id, "userId")?;
        self.change_user(user_id, UserChange::Unban).await
    }

    /// `admin.setRole`.
    pub async fn set_role(&self, input: SetRole) -> Result<User> {
        self.admin_options()?;
        check_id(&input.user_id, "userId")?;
        let role = input.role.trim();
        check_role(role)?;
        self.change_user(&input.user_id, UserChange::Role(role))
            .await
    }

    /// One UPDATE of a user's row, then the user; with a `user.updated` listener, the update, the
    /// read and the event share one transaction (no event when no row matched).
    async fn change_user(&self, user_id: &str, change: UserChange<'_>) -> Result<User> {
        let now = self.now_ms();
        let sql = match change {
            UserChange::Role(_) => {
                self.admin_sql("UPDATE kavach_user SET role = ?, updated_at = ? WHERE id = ?")
            }
            UserChange::Unban => self.admin_sql(
                "UPDATE kavach_user SET banned = ?, ban_reason = NULL, ban_expires = NULL, updated_at = ? WHERE id = ?",
            ),
        };
        macro_rules! run {
            ($c:expr) => {
                match change {
                    UserChange::Role(role) => sqlx::query(&sql).bind(role),
                    UserChange::Unban => sqlx::query(&sql).bind(false),
                }
                .bind(Ts(now))
                .bind(user_id)
                .execute($c)
                .await?
                .rows_affected()
            };
        }
        let em = self.emitter();
        if !em.wants("user.updated") {
            on_pool!(self.pool(), p => run!(p));
            return self.existing_user(user_id).await;
        }
        let select = self
            .admin_sql(&format!(
                "SELECT {USER_COLUMNS} FROM kavach_user WHERE id = ?"
            ))
            .into_owned();
        let (user, events) = on_pool!(self.pool(), p => {
            let mut tx = p.begin_write().await?;
            let user = if run!(&mut *tx) > 0 {
                match sqlx::query(&select).bind(user_id).fetch_optional(&mut *tx).await? {
                    Some(r) => Some(user_from_row!(&r, "")),
                    None => None,
                }
            } else {
                None
            };
            let events: Vec<_> = user
                .as_ref()
                .and_then(|u| em.event("user.updated", now, || json!(u)))
                .into_iter()
                .collect();
            em.write(&mut *tx, &events).await?;
            tx.commit().await?;
            (user, events)
        });
        em.committed(events);
        match user {
            Some(u) => Ok(u),
            None => self.existing_user(user_id).await,
        }
    }

    /// `admin.removeUser`: deletes the user with their accounts, sessions (and impersonations they
    /// opened), organization memberships and pending links, and revokes their agents (agent rows stay
    /// for the audit trail), in one transaction.
    pub async fn remove_user(&self, user_id: &str) -> Result<()> {
        self.admin_options()?;
        check_id(user_id, "userId")?;
        match self.delete_user(user_id).await? {
            Some(_) => Ok(()),
            None => Err(KavachError::NotFound("user not found".into())),
        }
    }

    /// `admin.impersonate`: a new session for `userId`, marked as opened by `adminId`, that ends
    /// after `impersonationTtl` and never slides. Admins cannot be impersonated, nor oneself.
    pub async fn impersonate(&self, input: Impersonate, client: ClientInfo) -> Result<SignedIn> {
        let ttl = self.admin_options()?.impersonation_ttl_ms;
        check_id(&input.admin_id, "adminId")?;
        check_id(&input.user_id, "userId")?;
        let now = self.now_ms();
        let admin = self.humans().user_by_id(&input.admin_id).await?;
        let Some(admin) = admin.filter(|a| self.is_admin(a) && !a.is_banned(now)) else {
            return Err(KavachError::Forbidden("only admins may impersonate".into()));
        };
        if admin.id == input.user_id {
            return Err(KavachError::Forbidden(
                "you cannot impersonate yourself".into(),
            ));
        }
        let user = self.existing_user(&input.user_id).await?;
        if self.is_admin(&user) {
            return Err(KavachError::Forbidden(
                "admins cannot be impersonated".into(),
            ));
        }
        if user.is_banned(now) {
            return Err(KavachError::UserBanned);
        }
        let session = Session {
            id: new_id(),
            user_id: user.id.clone(),
            expires_at: now.saturating_add(ttl),
            ip_address: client.ip.filter(|s| s.len() <= 64),
            user_agent: client.user_agent.map(|ua| ua.chars().take(512).collect()),
            created_at: now,
            updated_at: now,
            impersonated_by: Some(admin.id),
            active_organization_id: None,
        };
        let (session, token) = self.humans().open_session(session, false).await?;
        Ok(SignedIn {
            user,
            session,
            token,
        })
    }

    /// `admin.stopImpersonating`: ends the impersonation session holding `token`; returns it (its
    /// `impersonatedBy` names the admin).
    pub async fn stop_impersonating(&self, token: &str) -> Result<Session> {
        self.admin_options()?;
        let Some((session, _)) = self.get_session(token).await? else {
            return Err(KavachError::NotFound(
                "no live session holds this token".into(),
            ));
        };
        if session.impersonated_by.is_none() {
            return Err(KavachError::Forbidden(
                "this session is not an impersonation".into(),
            ));
        }
        let sql = self.admin_sql("DELETE FROM kavach_session WHERE id = ?");
        let em = self.emitter();
        let events: Vec<_> = em
            .event(
                "session.revoked",
                self.now_ms(),
                || json!({ "id": session.id, "userId": session.user_id }),
            )
            .into_iter()
            .collect();
        if em.needs_outbox(&events) {
            // The event is written only when this call deleted the row.
            let events = on_pool!(self.pool(), p => {
                let mut tx = p.begin_write().await?;
                let n = sqlx::query(&sql).bind(&session.id).execute(&mut *tx).await?.rows_affected();
                let events = if n > 0 { events } else { Vec::new() };
                em.write(&mut *tx, &events).await?;
                tx.commit().await?;
                events
            });
            em.committed(events);
        } else {
            let n = on_pool!(self.pool(), p => sqlx::query(&sql).bind(&session.id).execute(p).await?.rows_affected());
            if n > 0 {
                em.committed(events);
            }
        }
        Ok(session)
    }

    /// The binding's entry point: `op` names the `kavach.admin.*` call, `input` its argument.
    pub async fn admin_call(&self, op: &str, input: Value) -> Result<Value> {
        fn parse<T: serde::de::DeserializeOwned>(v: Value, what: &str) -> Result<T> {
            serde_json::from_value(v)
                .map_err(|e| KavachError::validation(format!("invalid {what}: {e}")))
        }
        fn string(v: Value, what: &str) -> Result<String> {
            match v {
                Value::String(s) => Ok(s),
                _ => Err(KavachError::validation(format!("{what} must be a string"))),
            }
        }
        fn encode<T: Serialize>(v: &T) -> Result<Value> {
            serde_json::to_value(v)
                .map_err(|_| KavachError::Internal("could not encode a result".into()))
        }
        match op {
            "listUsers" => {
                let q = match input {
                    Value::Null => ListUsers::default(),
                    v => parse(v, "listUsers input")?,
                };
                encode(&self.list_users(q).await?)
            }
            "getUser" => encode(&self.admin_get_user(&string(input, "id")?).await?),
            "banUser" => {
                self.ban_user(parse(input, "banUser input")?).await?;
                Ok(Value::Null)
            }
            "unbanUser" => {
                self.unban_user(&string(input, "userId")?).await?;
                Ok(Value::Null)
            }
            "setRole" => {
                self.set_role(parse(input, "setRole input")?).await?;
                Ok(Value::Null)
            }
            "removeUser" => {
                self.remove_user(&string(input, "userId")?).await?;
                Ok(Value::Null)
            }
            "impersonate" => encode(
                &self
                    .impersonate(parse(input, "impersonate input")?, ClientInfo::default())
                    .await?,
            ),
            "stopImpersonating" => {
                self.stop_impersonating(&string(input, "token")?).await?;
                Ok(Value::Null)
            }
            _ => Err(KavachError::Internal("unknown admin call".into())),
        }
    }

    // ---- HTTP -------------------------------------------------------------------------------

    fn admin_cookie(&self, token: &str) -> String {
        // The session cookie's own attributes, under the admin cookie's name.
        let cookie = self.session_cookie(token);
        let name = &self.settings().cookie_name;
        format!("{ADMIN_SESSION_COOKIE}{}", &cookie[name.len()..])
    }

    fn clear_admin_cookie(&self) -> String {
        let cookie = self.clear_cookie();
        let name = &self.settings().cookie_name;
        format!("{ADMIN_SESSION_COOKIE}{}", &cookie[name.len()..])
    }

    /// The signed-in admin behind a request (401 without a session, 403 for anyone else) and the
    /// session token it came with.
    async fn admin_session<'r>(&self, req: &'r HttpRequest) -> Result<(&'r str, User), ApiError> {
        let token =
            session_token(req, &self.settings().cookie_name).ok_or_else(ApiError::unauthorized)?;
        let (_, me) = self
            .get_session(token)
            .await?
            .ok_or_else(ApiError::unauthorized)?;
        if !self.is_admin(&me) {
            return Err(ApiError::new(403, "FORBIDDEN", "admins only"));
        }
        Ok((token, me))
    }

    /// Ends the impersonation the request carries and puts the admin's own session (kept in the
    /// admin cookie) back.
    async fn http_stop_impersonating(&self, req: &HttpRequest) -> ApiResult {
        let current = session_token(req, &self.settings().cookie_name);
        let admin_token = req.cookie(ADMIN_SESSION_COOKIE).filter(|t| !t.is_empty());
        if current.is_none() && admin_token.is_none() {
            return Err(ApiError::unauthorized());
        }
        // Like the session cookie, the admin cookie is honoured on a state change only with an Origin
        // (route() has already checked any Origin that was sent).
        if admin_token.is_some()
            && !req
                .headers
                .iter()
                .any(|(k, _)| k.eq_ignore_ascii_case("origin"))
        {
            return Err(ApiError::new(
                403,
                "INVALID_ORIGIN",
                "a request carrying a session cookie must send Origin",
            ));
        }
        let mut impersonated_by = None;
        if let Some(t) = current {
            if let Some((session, _)) = self.get_session(t).await? {
                if session.impersonated_by.is_none() {
                    return Err(ApiError::new(
                        403,
                        "FORBIDDEN",
                        "this session is not an impersonation",
                    ));
                }
                impersonated_by = self.stop_impersonating(t).await?.impersonated_by;
            }
        }
        let restored = match admin_token {
            Some(t) => self.get_session(t).await?.map(|found| (t, found)),
            None => None,
        };
        match restored {
            Some((t, (session, user)))
                if self.is_admin(&user)
                    && impersonated_by.as_ref().is_none_or(|by| *by == user.id) =>
            {
                let mut r = ok_value(json!({ "user": user, "session": session }))?;
                r.headers
                    .push(("set-cookie".into(), self.session_cookie(t)));
                r.headers
                    .push(("set-cookie".into(), self.clear_admin_cookie()));
                Ok(r)
            }
            _ => {
                let mut e = ApiError::unauthorized();
                e.headers.push(("set-cookie".into(), self.clear_cookie()));
                e.headers
                    .push(("set-cookie".into(), self.clear_admin_cookie()));
                Err(e)
            }
        }
    }
}

fn yourself(what: &str) -> ApiError {
    ApiError::new(403, "FORBIDDEN", format!("you cannot {what} yourself"))
}

/// `/admin/*`: admins only, except stop-impersonating.
const ROUTES: &[crate::plugin::Route] = &[
    route!("GET", "/admin/users", |k, req, p| {
        k.admin_session(req).await?;
        let mut q = ListUsers::default();
        for (key, v) in req.query_map()? {
            let num = |v: &str| {
                v.parse::<u32>().map_err(|_| {
                    ApiError::new(
                        400,
                        "VALIDATION_FAILED",
                        format!("{key} must be a whole number"),
                    )
                })
            };
            match key.as_str() {
                "search" => q.search = Some(v),
                "limit" => q.limit = Some(num(&v)?),
                "offset" => q.offset = Some(num(&v)?),
                _ => {}
            }
        }
        ok(&k.list_users(q).await?)
    }),
    route!("GET", "/admin/users/:id", |k, req, p| {
        k.admin_session(req).await?;
        ok(&k
            .admin_get_user(p[0])
            .await?
            .ok_or_else(|| ApiError::not_found("user"))?)
    }),
    route!("DELETE", "/admin/users/:id", |k, req, p| {
        let (_, me) = k.admin_session(req).await?;
        if p[0] == me.id {
            return Err(yourself("remove"));
        }
        k.remove_user(p[0]).await?;
        ok_value(json!({ "success": true }))
    }),
    route!("POST", "/admin/users/:id/ban", |k, req, p| {
        let (_, me) = k.admin_session(req).await?;
        if p[0] == me.id {
            return Err(yourself("ban"));
        }
        #[derive(Deserialize)]
        #[serde(rename_all = "camelCase", deny_unknown_fields)]
        struct BanBody {
            #[serde(default)]
            reason: Option<String>,
            #[serde(default, deserialize_with = "de_opt_time")]
            expires_at: Option<i64>,
        }
        let b: BanBody = parse_body(req)?;
        ok(&k
            .ban_user(BanUser {
                user_id: p[0].to_string(),
                reason: b.reason,
                expires_at: b.expires_at,
            })
            .await?)
    }),
    route!("POST", "/admin/users/:id/unban", |k, req, p| {
        k.admin_session(req).await?;
        ok(&k.unban_user(p[0]).await?)
    }),
    route!("POST", "/admin/users/:id/role", |k, req, p| {
        k.admin_session(req).await?;
        #[derive(Deserialize)]
        #[serde(deny_unknown_fields)]
        struct RoleBody {
            role: String,
        }
        let b: RoleBody = parse_body(req)?;
        ok(&k
            .set_role(SetRole {
                user_id: p[0].to_string(),
                role: b.role,
            })
            .await?)
    }),
    route!("POST", "/admin/users/:id/impersonate", |k, req, p| {
        let (token, me) = k.admin_session(req).await?;
        let signed = k
            .impersonate(
                Impersonate {
                    admin_id: me.id.clone(),
                    user_id: p[0].to_string(),
                },
                req.client(),
            )
            .await?;
        let mut r = ok_value(json!({ "user": signed.user, "session": signed.session }))?;
        r.headers
            .push(("set-cookie".into(), k.session_cookie(&signed.token)));
        r.headers.push(("set-cookie".into(), k.admin_cookie(token)));
        Ok(r)
    }),
    route!("POST", "/admin/stop-impersonating", |k, req, p| {
        k.http_stop_impersonating(req).await
    }),
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn like_patterns_escape_wildcards() {
        assert_eq!(like_pattern(" Ada "), "%ada%");
        assert_eq!(like_pattern("50%_!"), "%50!%!_!!%");
    }

    #[test]
    fn plugin_options() {
        let entry = |options: Value| options;
        let o = parse_options(&entry(json!({}))).unwrap();
        assert_eq!(o.impersonation_ttl_ms, 3_600_000);
        assert_eq!(o.default_role, "user");
        let o = parse_options(&json!({ "adminUserIds": ["u1"], "impersonationTtl": 2 })).unwrap();
        assert_eq!(
            (o.admin_user_ids, o.impersonation_ttl_ms),
            (vec!["u1".to_string()], 2000)
        );
        for bad in [
            json!({ "impersonationTtl": 0 }),
            json!({ "impersonationTtl": -1 }),
            json!({ "defaultRole": "admin" }),
            json!({ "defaultRole": "" }),
            json!({ "nope": 1 }),
        ] {
            assert_eq!(
                parse_options(&entry(bad.clone())).unwrap_err().code(),
                "CONFIG_INVALID",
                "{bad}"
            );
        }
        assert_eq!(parse_options(&Value::Null).unwrap().default_role, "user");
    }
}
