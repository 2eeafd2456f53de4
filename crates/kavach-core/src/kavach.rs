//! The instance `createKavach` returns: pools, the hot path and the agent/audit operations.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Instant;

use sqlx::Row;

use crate::accounts::human::{
    ClientInfo, HumanStore, Session, SignIn, SignInOutcome, SignUp, SignedIn, SignedUp, User,
};
use crate::agents::audit::{self, AuditEntry, AuditExport, AuditFilter, ExportFormat};
use crate::agents::authz::{decide, AuthRow, Decision, PendingAudit};
use crate::agents::batcher::{commit_rate_limited, AuditBatcher};
use crate::agents::permission::{AuthzRequest, CompiledCache};
use crate::agents::retention::{Retention, RetentionOptions};
use crate::agents::{Agent, AgentFilter, AgentStore, AgentWithToken, CreateAgent, UpdateAgent};
use crate::callbacks::Callbacks;
use crate::clock::{Clock, SystemClock};
use crate::config::{Dialect, KavachConfig, Settings};
use crate::crypto::token::{hash_token, AGENT_TOKEN_PREFIX};
use crate::error::{KavachError, Result};
use crate::events::Emitter;
use crate::plugin::{Plugin, PluginEnv, Plugins, Registration, SignInContext};
use crate::store::db::{self, sql_for, Pool, SqliteLocation, Ts};
use crate::store::sqlite_fast::SqliteFast;

const SELECT_AUTH_BY_HASH: &str =
    "SELECT id, owner_id, status, expires_at, permissions, delegated FROM kavach_agents WHERE token_hash = ?";
const SELECT_AUTH_BY_ID: &str =
    "SELECT id, owner_id, status, expires_at, permissions, delegated FROM kavach_agents WHERE id = ?";

/// One kavachos instance.
pub struct Kavach {
    settings: Settings,
    callbacks: Callbacks,
    pool: Pool,
    limiter: crate::store::ratelimit::Limiter,
    clock: Arc<dyn Clock>,
    cache: CompiledCache,
    fast: Option<SqliteFast>,
    batcher: Option<AuditBatcher>,
    sqlite: Option<SqliteLocation>,
    closed: AtomicBool,
    by_hash_sql: String,
    by_id_sql: String,
    plugins: Plugins,
    emitter: Emitter,
    retention: Option<Retention>,
}

impl std::fmt::Debug for Kavach {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Kavach")
            .field("dialect", &self.settings.dialect)
            .finish_non_exhaustive()
    }
}

enum Lookup<'a> {
    Hash(&'a str),
    Id(&'a str),
}

/// `VALIDATION_FAILED` for an agent id or token with a control character (a byte scan: this is
/// the hot path). Any other string that names no agent is a denial, not an error.
fn check_subject(field: &str, v: &str) -> Result<()> {
    if crate::input::has_control(v, false) {
        return Err(KavachError::validation(format!(
            "{field} must not contain control characters"
        )));
    }
    Ok(())
}

pub(crate) fn plausible_token(token: &str) -> bool {
    token.starts_with(AGENT_TOKEN_PREFIX) && token.len() <= 256
}

impl Kavach {
    /// Boots an instance whose plugins are built from `registry` (the built-in one is
    /// `plugins::registry::BUILTIN`, which `Kavach::open` passes): checks the config, builds the
    /// plugins, connects, migrates (unless skipped), starts writers.
    pub async fn boot(
        config: &KavachConfig,
        node_env: Option<&str>,
        clock: Arc<dyn Clock>,
        callbacks: Callbacks,
        registry: &[Registration],
    ) -> Result<Arc<Self>> {
        let settings = config.settings(node_env)?;
        let plugins = Plugins::build(
            &config.plugins,
            registry,
            &PluginEnv {
                secret: config.secret.as_deref(),
                base_url: config.base_url.as_deref(),
                callbacks: &callbacks,
            },
        )?;
        if settings.require_email_verification && callbacks.send_verification_email.is_none() {
            return Err(KavachError::ConfigInvalid(
                "emailAndPassword.requireEmailVerification needs sendVerificationEmail".into(),
            ));
        }
        let sqlite = match settings.dialect {
            Dialect::Sqlite => Some(db::sqlite_location(&settings.url)?),
            _ => None,
        };
        let webhooks = crate::events::parse(&config.webhooks)?;
        let pool = db::connect(&settings, sqlite.as_ref()).await?;
        if let Err(e) = prepare_schema(&pool, settings.run_migrations, clock.now_ms()).await {
            on_close_pool(&pool).await;
            if let Some(loc) = sqlite.as_ref().filter(|l| l.ephemeral) {
                remove_sqlite_files(loc);
            }
            return Err(e.at_boot());
        }
        let limiter = match crate::store::ratelimit::Limiter::new(
            &pool,
            settings.rate_limit_redis.as_deref(),
        ) {
            Ok(l) => l,
            Err(e) => {
                on_close_pool(&pool).await;
                return Err(e);
            }
        };
        let fast = match &sqlite {
            Some(loc) => Some(
                SqliteFast::start(&loc.path, settings.durability).map_err(KavachError::at_boot)?,
            ),
            None => None,
        };
        let batcher = match settings.dialect {
            Dialect::Sqlite => None,
            _ => Some(AuditBatcher::start(pool.clone())),
        };
        let emitter = match Emitter::start(
            webhooks,
            callbacks.hooks.events.clone(),
            &pool,
            clock.clone(),
        ) {
            Ok(e) => e,
            Err(e) => {
                on_close_pool(&pool).await;
                return Err(e.at_boot());
            }
        };
        let retention = match settings.audit_retention_days {
            Some(days) => match Retention::start(
                pool.clone(),
                clock.clone(),
                days,
                RetentionOptions::default(),
            ) {
                Ok(r) => Some(r),
                Err(e) => {
                    emitter.shutdown().await;
                    on_close_pool(&pool).await;
                    return Err(e);
                }
            },
            None => None,
        };
        let dialect = settings.dialect;
        Ok(Arc::new(Self {
            by_hash_sql: sql_for(dialect, SELECT_AUTH_BY_HASH).into_owned(),
            by_id_sql: sql_for(dialect, SELECT_AUTH_BY_ID).into_owned(),
            settings,
            pool,
            limiter,
            clock,
            callbacks,
            cache: CompiledCache::default(),
            fast,
            batcher,
            sqlite,
            closed: AtomicBool::new(false),
            plugins,
            emitter,
            retention,
        }))
    }

    /// The checked configuration.
    pub fn settings(&self) -> &Settings {
        &self.settings
    }

    pub fn dialect(&self) -> Dialect {
        self.settings.dialect
    }

    pub fn now_ms(&self) -> i64 {
        self.clock.now_ms()
    }

    /// The sqlx pool (for the parts of kavachos that build on this one, and for tests).
    pub fn pool(&self) -> &Pool {
        &self.pool
    }

    /// Where the rate-limit counters live (`rateLimit.storage`).
    pub fn limiter(&self) -> &crate::store::ratelimit::Limiter {
        &self.limiter
    }

    pub(crate) fn callbacks(&self) -> &Callbacks {
        &self.callbacks
    }

    /// The plugins this instance runs.
    pub fn plugins(&self) -> &Plugins {
        &self.plugins
    }

    /// Events: the outbox of the webhooks and the listeners of `hooks.events`.
    pub fn emitter(&self) -> &Emitter {
        &self.emitter
    }

    /// The app's hooks (`createKavach({ hooks })`).
    pub fn hooks(&self) -> &crate::callbacks::Hooks {
        &self.callbacks.hooks
    }

    /// The running plugin of type `T`, if it is on.
    pub fn plugin<T: Plugin>(&self) -> Option<&T> {
        self.plugins.get::<T>()
    }

    /// `kavach.<namespace>.<op>(input)`: a plugin's JS call, JSON in and out.
    pub async fn plugin_call(
        &self,
        namespace: &str,
        op: &str,
        input: serde_json::Value,
    ) -> Result<serde_json::Value> {
        self.check_open()?;
        crate::input::check_value(&input)?;
        match self.plugins.by_namespace(namespace) {
            Some(p) => p.call(self, op, input).await,
            None => Err(KavachError::ConfigInvalid(format!(
                "kavach.{namespace} needs its plugin in createKavach({{ plugins }})"
            ))),
        }
    }

    /// The compiled-permissions memo (delegated permissions use it too).
    pub(crate) fn compiled(&self) -> &CompiledCache {
        &self.cache
    }

    pub(crate) fn check_open(&self) -> Result<()> {
        if self.closed.load(Ordering::Acquire) {
            Err(KavachError::Closed)
        } else {
            Ok(())
        }
    }

    fn agents(&self) -> AgentStore<'_> {
        AgentStore {
            pool: &self.pool,
            dialect: self.settings.dialect,
            emitter: &self.emitter,
        }
    }

    // ---- agents -------------------------------------------------------------------------------

    /// Creates an agent; `beforeAgentCreate` may refuse it (`HOOK_BLOCKED`), `afterAgentCreate`
    /// hears of it once committed (never its token).
    pub async fn create_agent(&self, input: CreateAgent) -> Result<AgentWithToken> {
        self.check_open()?;
        let hooks = &self.callbacks.hooks;
        if let Some(hook) = &hooks.before_agent_create {
            let payload = serde_json::json!({
                "ownerId": input.owner_id,
                "name": input.name,
                "type": input.kind,
                "permissions": input.permissions,
                "expiresAt": input.expires_at,
                "metadata": input.metadata,
            });
            if let Some(reason) = blocked_by(hook.call(payload).await, "beforeAgentCreate") {
                return Err(KavachError::HookBlocked(reason));
            }
        }
        let created = self
            .agents()
            .create(
                input,
                self.now_ms(),
                self.settings.max_agents_per_owner,
                self.settings.default_agent_ttl_ms,
            )
            .await?;
        if let Some(hook) = &hooks.after_agent_create {
            hook.fire(serde_json::json!(created.agent));
        }
        Ok(created)
    }

    pub async fn get_agent(&self, id: &str) -> Result<Option<Agent>> {
        self.check_open()?;
        crate::error::check_plain("id", id, 255)?;
        self.agents().get(id, self.now_ms()).await
    }

    pub async fn list_agents(&self, filter: AgentFilter) -> Result<Vec<Agent>> {
        self.check_open()?;
        self.agents().list(filter, self.now_ms()).await
    }

    pub async fn update_agent(&self, id: &str, patch: UpdateAgent) -> Result<Agent> {
        self.check_open()?;
        crate::error::check_plain("id", id, 255)?;
        self.agents().update(id, patch, self.now_ms()).await
    }

    pub async fn revoke_agent(&self, id: &str) -> Result<()> {
        self.check_open()?;
        crate::error::check_plain("id", id, 255)?;
        let revoked = self.agents().revoke(id, self.now_ms()).await?;
        if let (Some(owner), Some(hook)) = (revoked, &self.callbacks.hooks.on_agent_revoke) {
            hook.fire(serde_json::json!({ "agentId": id, "ownerId": owner }));
        }
        Ok(())
    }

    pub async fn rotate_agent(&self, id: &str) -> Result<AgentWithToken> {
        self.check_open()?;
        crate::error::check_plain("id", id, 255)?;
        self.agents().rotate(id, self.now_ms()).await
    }

    // ---- authorization ------------------------------------------------------------------------

    async fn load(&self, key: Lookup<'_>) -> Result<Option<AuthRow>> {
        if let Some(fast) = &self.fast {
            return match key {
                Lookup::Hash(h) => fast.agent_by_hash(h),
                Lookup::Id(id) => fast.agent_by_id(id),
            };
        }
        let (sql, k) = match key {
            Lookup::Hash(h) => (&self.by_hash_sql, h),
            Lookup::Id(id) => (&self.by_id_sql, id),
        };
        let row = crate::on_pool!(&self.pool, p => {
            match sqlx::query(sql).bind(k).fetch_optional(p).await? {
                None => None,
                Some(r) => Some(AuthRow {
                    id: crate::col_str!(r, 0)?,
                    owner_id: crate::col_str!(r, 1)?,
                    status: crate::col_str!(r, 2)?,
                    expires_at: r.try_get::<Option<Ts>, _>(3)?.map(|t| t.0),
                    permissions: crate::col_str!(r, 4)?,
                    delegated: r.try_get::<i64, _>(5)? != 0,
                }),
            }
        });
        Ok(row)
    }

    async fn commit(&self, pending: PendingAudit) -> Result<Decision> {
        if let Some(fast) = &self.fast {
            return fast.commit(pending).await;
        }
        if !pending.rate.is_empty() {
            return commit_rate_limited(&self.pool, pending).await;
        }
        match &self.batcher {
            Some(b) => b.commit(pending.row).await,
            None => Err(KavachError::Internal("no audit writer".into())),
        }
    }

    /// `authorizeByToken(token, req)`: never an error on a denial; the audit row is committed first.
    pub async fn authorize_by_token(&self, token: &str, req: &AuthzRequest) -> Result<Decision> {
        self.check_open()?;
        req.validate()?;
        check_subject("token", token)?;
        let started = Instant::now();
        if !plausible_token(token) {
            return Ok(Decision::invalid_token());
        }
        let hash = hash_token(token);
        let Some(agent) = self.load(Lookup::Hash(&hash)).await? else {
            return Ok(Decision::invalid_token());
        };
        self.decide_and_commit(&agent, req, started).await
    }

    /// `authorize(agentId, req)`: the same checks (status, expiry, permissions) by agent id.
    pub async fn authorize(&self, agent_id: &str, req: &AuthzRequest) -> Result<Decision> {
        self.check_open()?;
        req.validate()?;
        check_subject("agentId", agent_id)?;
        let started = Instant::now();
        if agent_id.is_empty() || agent_id.len() > 64 {
            return Ok(Decision::agent_not_found());
        }
        let Some(agent) = self.load(Lookup::Id(agent_id)).await? else {
            return Ok(Decision::agent_not_found());
        };
        self.decide_and_commit(&agent, req, started).await
    }

    /// The decision for a loaded agent, with the app's hooks around it: `beforeAuthorize` may turn
    /// it into a `HOOK_BLOCKED` denial (audited like any other); `afterAuthorize` and, on a denial,
    /// `onViolation` are called once the audit row is committed, without waiting for them.
    async fn decide_and_commit(
        &self,
        agent: &AuthRow,
        req: &AuthzRequest,
        started: Instant,
    ) -> Result<Decision> {
        let blocked = match &self.callbacks.hooks.before_authorize {
            None => None,
            Some(hook) => {
                let payload = serde_json::json!({
                    "agentId": agent.id,
                    "ownerId": agent.owner_id,
                    "action": req.action,
                    "resource": req.resource,
                    "arguments": req.arguments,
                    "ip": req.ip,
                });
                blocked_by(hook.call(payload).await, "beforeAuthorize")
            }
        };
        let mut pending = decide(agent, req, &self.cache, self.now_ms(), started, None)?;
        if pending.needs_trust {
            // A `minTrust` permission covers the call: decide again with the agent's score.
            let trust = self.trust_score_of(&agent.id).await?.score;
            pending = decide(agent, req, &self.cache, self.now_ms(), started, Some(trust))?;
        }
        if blocked.is_none()
            && agent.delegated
            && crate::agents::delegation::delegable_denial(&pending)
        {
            // Refused by its own permissions: a live delegation it received may allow it.
            self.through_delegation(agent, req, &mut pending).await?;
        }
        let mut approval_id = None;
        if let Some(reason) = blocked {
            pending.block(reason);
        } else if pending.awaits_approval() {
            // An approved request passes (once, or until it expires); else a pending approval
            // is filed (or the one already waiting for this same request is named).
            match self.approval_for(agent, req).await? {
                crate::agents::approvals::Gate::Approved(id) => pending.approve(&id),
                crate::agents::approvals::Gate::Pending(id) => approval_id = Some(id),
            }
        }
        let mut decision = self.commit(pending).await?;
        decision.approval_id = approval_id;
        self.after_decision(agent, req, &decision);
        Ok(decision)
    }

    /// `afterAuthorize` and `onViolation` for a committed decision (never awaited).
    fn after_decision(&self, agent: &AuthRow, req: &AuthzRequest, d: &Decision) {
        let hooks = &self.callbacks.hooks;
        if hooks.after_authorize.is_none() && (d.allowed || hooks.on_violation.is_none()) {
            return;
        }
        let mut payload = serde_json::json!({
            "agentId": agent.id,
            "ownerId": agent.owner_id,
            "action": req.action,
            "resource": req.resource,
            "code": d.code,
            "reason": d.reason,
            "auditId": d.audit_id,
        });
        if let (Some(h), false) = (&hooks.on_violation, d.allowed) {
            h.fire(payload.clone());
        }
        if let Some(h) = &hooks.after_authorize {
            payload["allowed"] = serde_json::Value::Bool(d.allowed);
            h.fire(payload);
        }
    }

    /// The same decision committed on the calling thread when nothing else is being written
    /// (SQLite only). `None`: take the async path.
    pub fn authorize_by_token_inline(
        &self,
        token: &str,
        req: &AuthzRequest,
    ) -> Option<Result<Decision>> {
        let fast = self.fast.as_ref()?;
        // Hooks around authorize (one may need awaiting) run on the async path.
        if self.callbacks.hooks.around_authorize() {
            return None;
        }
        if let Err(e) = self
            .check_open()
            .and_then(|_| req.validate())
            .and_then(|_| check_subject("token", token))
        {
            return Some(Err(e));
        }
        let started = Instant::now();
        if !plausible_token(token) {
            return Some(Ok(Decision::invalid_token()));
        }
        let hash = hash_token(token);
        fast.try_inline(
            |conn| match SqliteFast::read_by_hash(conn, &hash)? {
                None => Ok(None),
                Some(agent) => self.decide_inline(&agent, req, started).map(Some),
            },
            Decision::invalid_token(),
        )
    }

    /// The decision on the caller's thread, or `Busy` (nothing written) when it needs what only
    /// the async path looks up: a trust score or an approval.
    fn decide_inline(
        &self,
        agent: &AuthRow,
        req: &AuthzRequest,
        started: Instant,
    ) -> Result<PendingAudit> {
        let pending = decide(agent, req, &self.cache, self.now_ms(), started, None)?;
        if pending.needs_trust
            || pending.awaits_approval()
            || (agent.delegated && crate::agents::delegation::delegable_denial(&pending))
        {
            return Err(KavachError::Busy);
        }
        Ok(pending)
    }

    /// Inline twin of [`Kavach::authorize`].
    pub fn authorize_inline(&self, agent_id: &str, req: &AuthzRequest) -> Option<Result<Decision>> {
        let fast = self.fast.as_ref()?;
        if self.callbacks.hooks.around_authorize() {
            return None;
        }
        if let Err(e) = self
            .check_open()
            .and_then(|_| req.validate())
            .and_then(|_| check_subject("agentId", agent_id))
        {
            return Some(Err(e));
        }
        let started = Instant::now();
        if agent_id.is_empty() || agent_id.len() > 64 {
            return Some(Ok(Decision::agent_not_found()));
        }
        fast.try_inline(
            |conn| match SqliteFast::read_by_id(conn, agent_id)? {
                None => Ok(None),
                Some(agent) => self.decide_inline(&agent, req, started).map(Some),
            },
            Decision::agent_not_found(),
        )
    }

    // ---- human accounts -----------------------------------------------------------------------

    pub(crate) fn humans(&self) -> HumanStore<'_> {
        HumanStore {
            pool: &self.pool,
            dialect: self.settings.dialect,
            settings: &self.settings,
            callbacks: &self.callbacks,
            plugins: &self.plugins,
            emitter: &self.emitter,
        }
    }

    pub async fn sign_up(&self, input: SignUp, client: ClientInfo) -> Result<SignedUp> {
        self.check_open()?;
        let mut signed = self.humans().sign_up(input, client, self.now_ms()).await?;
        self.hide_fields(&mut signed.user);
        Ok(signed)
    }

    /// Takes the `returned: false` additional fields off a user about to be answered.
    pub fn hide_fields(&self, user: &mut User) {
        crate::accounts::fields::hide(&self.settings.user_fields, user);
    }

    /// Email and password sign-in; refused with `TWO_FACTOR_REQUIRED` when a plugin holds the
    /// sign-in back (a second factor is due: use [`Kavach::sign_in_flow`] there).
    pub async fn sign_in(&self, input: SignIn, client: ClientInfo) -> Result<SignedIn> {
        match self
            .sign_in_flow(input, client, &SignInContext::default())
            .await?
        {
            SignInOutcome::Complete(s) => Ok(s),
            SignInOutcome::Interrupted(_) => Err(KavachError::TwoFactorRequired),
        }
    }

    /// Sign-in with the plugins' say: once the password checks out, each plugin's `on_sign_in`
    /// may hold the sign-in back (a second factor is due) or refuse it, before any session exists.
    pub async fn sign_in_flow(
        &self,
        input: SignIn,
        client: ClientInfo,
        ctx: &SignInContext,
    ) -> Result<SignInOutcome> {
        self.password_sign_in(
            crate::accounts::human::Login::Email(input.email),
            input.password,
            client,
            ctx,
        )
        .await
    }

    /// Password sign-in by any login (email, a username, a phone number): the password check, the
    /// ban, then each plugin's `on_sign_in` (a second factor may hold it back), then the session.
    pub async fn password_sign_in(
        &self,
        login: crate::accounts::human::Login,
        password: String,
        client: ClientInfo,
        ctx: &SignInContext,
    ) -> Result<SignInOutcome> {
        self.check_open()?;
        let now = self.now_ms();
        let humans = self.humans();
        let mut user = humans.authenticate(login, password, &client, now).await?;
        self.hide_fields(&mut user);
        for p in self.plugins.iter() {
            if let Some(held) = p.on_sign_in(self, &user, ctx).await? {
                return Ok(SignInOutcome::Interrupted(held));
            }
        }
        let (session, token) = humans.create_session(&user.id, client, now, true).await?;
        Ok(SignInOutcome::Complete(SignedIn {
            user,
            session,
            token,
        }))
    }

    /// Changes `user`'s name, image and the plugins' fields (`POST /auth/update-user`).
    pub async fn update_user(
        &self,
        user: User,
        patch: crate::accounts::human::UpdateUser,
    ) -> Result<User> {
        self.check_open()?;
        self.humans().update_user(user, patch, self.now_ms()).await
    }

    /// Signs in a user whose identity a method other than the password proved (a magic link, a
    /// code, a username's password, a guest): refused for a banned user (a ban past its expiry
    /// is lifted), then the same session, cookie token and events as email and password.
    pub async fn sign_in_verified(&self, mut user: User, client: ClientInfo) -> Result<SignedIn> {
        self.check_open()?;
        let now = self.now_ms();
        if user.banned {
            if user.is_banned(now) {
                return Err(KavachError::UserBanned);
            }
            crate::accounts::human::lift_expired_ban(
                &self.pool,
                self.settings.dialect,
                &mut user,
                now,
            )
            .await?;
        }
        let (session, token) = self
            .humans()
            .create_session(&user.id, client, now, true)
            .await?;
        self.hide_fields(&mut user);
        Ok(SignedIn {
            user,
            session,
            token,
        })
    }

    pub async fn get_session(&self, token: &str) -> Result<Option<(Session, User)>> {
        self.check_open()?;
        let mut found = self.humans().get_session(token, self.now_ms()).await?;
        if let Some((_, user)) = found.as_mut() {
            self.hide_fields(user);
        }
        Ok(found)
    }

    /// The imported session behind a signed cookie of an `externalAuth` adapter, if any.
    /// `cookies` are the request's `(name, value)` pairs.
    pub async fn external_session<'c>(
        &self,
        cookies: impl Iterator<Item = (&'c str, &'c str)> + Clone,
    ) -> Result<Option<(Session, User)>> {
        self.check_open()?;
        for adapter in &self.settings.cookie_auth {
            let Some(raw) = adapter
                .cookie_value(cookies.clone())
                .and_then(|v| adapter.verify(v))
            else {
                continue;
            };
            if let Some(found) = self
                .humans()
                .get_imported_session(&raw, self.now_ms())
                .await?
            {
                return Ok(Some(found));
            }
        }
        Ok(None)
    }

    /// Swaps an imported session for a kavachos one; returns the new cookie token.
    pub async fn replace_imported_session(
        &self,
        old: &Session,
        client: ClientInfo,
    ) -> Result<(Session, String)> {
        self.check_open()?;
        self.humans()
            .replace_imported_session(old, client, self.now_ms())
            .await
    }

    /// `get_session` answered on the calling thread with one read, when nothing needs writing
    /// (SQLite only). `None`: take the async path (another database, a sliding refresh or an
    /// expired row to delete, or an externalAuth cookie to look at).
    pub fn get_session_inline(
        &self,
        token: Option<&str>,
    ) -> Option<Result<Option<(Session, User)>>> {
        let fast = self.fast.as_ref()?;
        if let Err(e) = self.check_open() {
            return Some(Err(e));
        }
        let Some(token) = token.filter(|t| !t.is_empty() && t.len() <= 512) else {
            return if self.settings.cookie_auth.is_empty() {
                Some(Ok(None))
            } else {
                None
            };
        };
        match fast.session_by_stored(&hash_token(token)) {
            Err(e) => Some(Err(e)),
            Ok(None) => {
                if self.settings.cookie_auth.is_empty() {
                    Some(Ok(None))
                } else {
                    None
                }
            }
            Ok(Some((session, user))) => {
                let now = self.now_ms();
                let refreshed_at = session.expires_at - self.settings.session_ttl_ms;
                // An impersonation never slides; a banned user's leftover row is deleted by the async path.
                let refresh_due = session.impersonated_by.is_none()
                    && now - refreshed_at >= self.settings.session_update_age_ms;
                if session.expires_at <= now || refresh_due || user.is_banned(now) {
                    None
                } else {
                    let mut user = user;
                    self.hide_fields(&mut user);
                    Some(Ok(Some((session, user))))
                }
            }
        }
    }

    /// Runs `f` on a SQLite reader of the calling thread (a plugin's inline read); `None` on
    /// another database.
    pub fn with_sqlite_reader<T>(
        &self,
        f: impl FnOnce(&rusqlite::Connection) -> Result<T>,
    ) -> Option<Result<T>> {
        let fast = self.fast.as_ref()?;
        if let Err(e) = self.check_open() {
            return Some(Err(e));
        }
        Some(fast.read(f))
    }

    pub async fn sign_out(&self, token: &str) -> Result<bool> {
        self.check_open()?;
        self.humans().sign_out(token, self.now_ms()).await
    }

    pub async fn forgot_password(
        &self,
        email: &str,
        redirect_to: Option<&str>,
        origin: Option<&str>,
    ) -> Result<()> {
        self.check_open()?;
        self.humans()
            .forgot_password(email, redirect_to, origin, self.now_ms())
            .await
    }

    pub async fn reset_password(&self, token: &str, new_password: String) -> Result<()> {
        self.check_open()?;
        self.humans()
            .reset_password(token, new_password, self.now_ms())
            .await
    }

    pub async fn change_password(
        &self,
        user: &User,
        session_id: &str,
        current: String,
        new_password: String,
        revoke_others: bool,
    ) -> Result<()> {
        self.check_open()?;
        self.humans()
            .change_password(
                user,
                session_id,
                current,
                new_password,
                revoke_others,
                self.now_ms(),
            )
            .await
    }

    pub async fn verify_email(&self, token: &str) -> Result<User> {
        self.check_open()?;
        self.humans().verify_email(token, self.now_ms()).await
    }

    pub async fn send_verification_email(
        &self,
        user: &User,
        origin: Option<&str>,
        callback: Option<&str>,
    ) -> Result<()> {
        self.check_open()?;
        self.humans()
            .send_verification(user, origin, callback, self.now_ms())
            .await
    }

    pub async fn revoke_user_sessions(&self, user_id: &str) -> Result<u64> {
        self.check_open()?;
        self.humans()
            .revoke_user_sessions(user_id, self.now_ms())
            .await
    }

    // ---- webhooks -----------------------------------------------------------------------------

    /// `webhooks.deliveries({ status? })`: the newest deliveries first (100 unless `limit`, at most 1,000).
    pub async fn webhook_deliveries(
        &self,
        status: Option<&str>,
        limit: Option<u32>,
    ) -> Result<Vec<crate::events::Delivery>> {
        self.check_open()?;
        crate::events::deliveries(&self.pool, status, limit.unwrap_or(100).clamp(1, 1000)).await
    }

    /// `webhooks.redeliver(id)`: sends one delivery again, whatever its status.
    pub async fn webhook_redeliver(&self, id: &str) -> Result<()> {
        self.check_open()?;
        // Ids are ours: anything else is no delivery, decided before any SQL.
        if id.is_empty() || id.len() > 128 || id.chars().any(char::is_control) {
            return Err(KavachError::NotFound(
                "no webhook delivery has this id".into(),
            ));
        }
        crate::events::redeliver(&self.pool, id, self.now_ms()).await?;
        self.emitter.wake();
        Ok(())
    }

    // ---- audit --------------------------------------------------------------------------------

    pub async fn audit_query(&self, filter: &AuditFilter) -> Result<Vec<AuditEntry>> {
        self.check_open()?;
        audit::query(&self.pool, filter, audit::MAX_LIMIT).await
    }

    /// `audit.export(...)` as one string: up to [`audit::MAX_EXPORT`] rows, more is
    /// `EXPORT_TOO_LARGE`.
    pub async fn audit_export(&self, filter: &AuditFilter, format: ExportFormat) -> Result<String> {
        self.check_open()?;
        AuditExport::new(
            self.pool.clone(),
            filter.clone(),
            format,
            Some(u64::from(audit::MAX_EXPORT)),
        )?
        .collect()
        .await
    }

    /// `audit.export({ stream: true })`: every matching row, a page at a time.
    pub fn audit_export_stream(
        &self,
        filter: AuditFilter,
        format: ExportFormat,
    ) -> Result<AuditExport> {
        self.check_open()?;
        AuditExport::new(self.pool.clone(), filter, format, None)
    }

    // ---- lifecycle ----------------------------------------------------------------------------

    /// Drains the audit writers, closes the pools and removes an ephemeral SQLite file. Idempotent.
    pub async fn close(&self) {
        if self.closed.swap(true, Ordering::AcqRel) {
            return;
        }
        if let Some(fast) = &self.fast {
            fast.shutdown();
        }
        if let Some(b) = &self.batcher {
            b.shutdown().await;
        }
        if let Some(r) = &self.retention {
            r.shutdown().await;
        }
        self.emitter.shutdown().await;
        on_close_pool(&self.pool).await;
        if let Some(loc) = self.sqlite.as_ref().filter(|l| l.ephemeral) {
            remove_sqlite_files(loc);
        }
    }
}

impl Drop for Kavach {
    fn drop(&mut self) {
        if let Some(fast) = &self.fast {
            fast.shutdown();
        }
        if let Some(loc) = self.sqlite.as_ref().filter(|l| l.ephemeral) {
            remove_sqlite_files(loc);
        }
    }
}

async fn prepare_schema(pool: &Pool, run_migrations: bool, now_ms: i64) -> Result<()> {
    if run_migrations {
        db::migrate(pool, now_ms).await?;
        return Ok(());
    }
    let pending = db::pending_migrations(pool).await?;
    if !pending.is_empty() {
        return Err(KavachError::MigrationFailed(format!(
            "skipMigrations is set and {} migration(s) are pending: run `kavach-cli migrate --url <database url>` first",
            pending.len()
        )));
    }
    Ok(())
}

async fn on_close_pool(pool: &Pool) {
    crate::on_pool!(pool, p => p.close().await)
}

fn remove_sqlite_files(loc: &SqliteLocation) {
    let base = loc.path.as_os_str().to_owned();
    for suffix in ["", "-wal", "-shm"] {
        let mut p = base.clone();
        p.push(suffix);
        let _ = std::fs::remove_file(std::path::PathBuf::from(p));
    }
}

/// `kavach-cli migrate --url URL`: the boot migrations, on their own.
pub async fn migrate_url(url: &str) -> Result<db::MigrationReport> {
    let provider = if url.starts_with("postgres://") || url.starts_with("postgresql://") {
        "postgres"
    } else if url.starts_with("mysql://") || url.starts_with("mariadb://") {
        "mysql"
    } else {
        "sqlite"
    };
    let config = KavachConfig::from_json(
        &serde_json::json!({ "database": { "provider": provider, "url": url } }).to_string(),
    )?;
    let settings = config.settings(Some("development"))?;
    let sqlite = match settings.dialect {
        Dialect::Sqlite => Some(db::sqlite_location(&settings.url)?),
        _ => None,
    };
    let pool = db::connect(&settings, sqlite.as_ref()).await?;
    let report = db::migrate(&pool, SystemClock.now_ms()).await;
    on_close_pool(&pool).await;
    report.map_err(KavachError::at_boot)
}

/// The reason a `before*` hook's answer refuses the change: `{ allow: false, reason? }`, or a throw
/// (fail closed). `None`: go on.
pub(crate) fn blocked_by(answer: Result<serde_json::Value>, hook: &str) -> Option<String> {
    match answer {
        Err(_) => Some(format!("the {hook} hook failed")),
        Ok(v) if v.get("allow") == Some(&serde_json::Value::Bool(false)) => Some(
            v.get("reason")
                .and_then(|r| r.as_str())
                .filter(|r| !r.is_empty())
                .map_or_else(
                    || format!("blocked by the {hook} hook"),
                    |r| r.chars().take(500).collect(),
                ),
        ),
        Ok(_) => None,
    }
}
