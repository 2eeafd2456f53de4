//! The napi-rs binding: converts JS values to core types and core errors to JS errors. No logic.
#![deny(clippy::all)]

use std::sync::Arc;

use kavach_core::{
    AgentFilter, AuditExport, AuditFilter, AuthzRequest, CreateAgent, Decision, ExportFormat,
    Kavach, KavachConfig, KavachError, UpdateAgent,
};
use napi::bindgen_prelude::*;
use napi::threadsafe_function::ThreadsafeFunction;
use napi_derive::napi;

/// Every core error becomes a JS error whose `code` is the stable kavachos code.
fn to_js(e: KavachError) -> napi::Error {
    napi::Error::new(Status::GenericFailure, format!("{}\u{1}{}", e.code(), e))
}

fn from_json<T: serde::de::DeserializeOwned>(v: serde_json::Value, what: &str) -> napi::Result<T> {
    // Every JSON input of a JS call is checked once, as every HTTP body is.
    kavach_core::input::check_value(&v).map_err(to_js)?;
    serde_json::from_value(v).map_err(|e| {
        to_js(KavachError::ValidationFailed(format!(
            "invalid {what}: {e}"
        )))
    })
}

fn to_json<T: serde::Serialize>(v: &T) -> napi::Result<serde_json::Value> {
    serde_json::to_value(v)
        .map_err(|_| to_js(KavachError::Internal("could not encode a result".into())))
}

/// The request of `authorize` / `authorizeByToken`.
#[napi(object)]
pub struct AuthorizeInput {
    /// The action asked for, e.g. `read`.
    pub action: String,
    /// The resource, e.g. `mcp:github:repos`.
    pub resource: String,
    /// The call's arguments, checked against `allowedArgPatterns` and kept in the audit row.
    pub arguments: Option<serde_json::Value>,
    /// The caller's IP, checked against `ipAllowlist`.
    pub ip: Option<String>,
}

/// `{ allowed, reason, code, auditId }`.
#[napi(object)]
pub struct AuthorizeResult {
    pub allowed: bool,
    /// A human sentence on denials.
    pub reason: Option<String>,
    /// A stable code on denials.
    pub code: Option<String>,
    /// The audit row's id; null when no known agent was reached.
    pub audit_id: Option<String>,
    /// With APPROVAL_REQUIRED: the pending approval a human can approve.
    pub approval_id: Option<String>,
}

fn request(input: AuthorizeInput) -> AuthzRequest {
    AuthzRequest {
        action: input.action,
        resource: input.resource,
        arguments: input.arguments,
        ip: input.ip,
    }
}

fn result(d: Decision) -> AuthorizeResult {
    AuthorizeResult {
        allowed: d.allowed,
        reason: d.reason,
        code: d.code.map(str::to_owned),
        audit_id: d.audit_id,
        approval_id: d.approval_id,
    }
}

/// One HTTP request as a shim hands it over.
#[napi(object)]
pub struct HttpRequestInput {
    pub method: String,
    /// The path inside the mount, e.g. `/auth/sign-in`.
    pub path: String,
    /// The query string without `?`.
    pub query: String,
    /// Header names and values, flattened: `[name0, value0, name1, value1, ...]`.
    pub headers: Vec<String>,
    pub body: Option<Buffer>,
    /// `scheme://host` of the request URL.
    pub url_origin: Option<String>,
    pub client_ip: Option<String>,
    /// The mount the request reached the API at (its URL path without `path`).
    pub mount: Option<String>,
}

/// The answer to an HTTP request.
#[napi(object)]
pub struct HttpResponseOutput {
    pub status: u32,
    /// Flattened `[name0, value0, ...]`; `set-cookie` may repeat.
    pub headers: Vec<String>,
    pub body: Buffer,
}

/// [`HttpResponseOutput`] of the inline session read: the JSON body as a string. A small body
/// copied into a JS string costs less than an external `Buffer`, whose finalizer the GC must run.
#[napi(object)]
pub struct HttpInlineOutput {
    pub status: u32,
    pub headers: Vec<String>,
    pub body: String,
}

fn http_request(req: HttpRequestInput) -> kavach_core::http::HttpRequest {
    kavach_core::http::HttpRequest {
        method: req.method,
        path: req.path,
        query: req.query,
        headers: flat_pairs(req.headers),
        body: req.body.map(|b| b.to_vec()).unwrap_or_default(),
        url_origin: req.url_origin,
        client_ip: req.client_ip,
        mount: req.mount,
    }
}

fn export_format(format: &str) -> napi::Result<ExportFormat> {
    match format {
        "json" => Ok(ExportFormat::Json),
        "csv" => Ok(ExportFormat::Csv),
        _ => Err(to_js(KavachError::ValidationFailed(
            "format must be \"json\" or \"csv\"".into(),
        ))),
    }
}

/// The answer of `handleHttpStreaming`: `export` is set for `GET /audit/export`, whose rows are
/// then read from it rather than from `body`.
#[napi(object, object_from_js = false)]
pub struct HttpStreamingOutput {
    pub status: u32,
    pub headers: Vec<String>,
    pub body: Buffer,
    pub export: Option<NativeAuditExport>,
}

/// An audit export read a page at a time: each `next()` runs one keyset query (1,000 rows at
/// most) and resolves to its bytes, or `null` once every row is out.
#[napi]
pub struct NativeAuditExport {
    inner: Arc<tokio::sync::Mutex<AuditExport>>,
}

impl NativeAuditExport {
    fn new(export: AuditExport) -> Self {
        Self {
            inner: Arc::new(tokio::sync::Mutex::new(export)),
        }
    }
}

#[napi]
impl NativeAuditExport {
    /// The next chunk of the export, or `null` at its end.
    #[napi]
    pub async fn next(&self) -> napi::Result<Option<Buffer>> {
        let mut export = self.inner.lock().await;
        let chunk = export.next_chunk().await.map_err(to_js)?;
        Ok(chunk.map(Buffer::from))
    }
}

fn flat_pairs(flat: Vec<String>) -> Vec<(String, String)> {
    let mut it = flat.into_iter();
    let mut out = Vec::new();
    while let (Some(k), Some(v)) = (it.next(), it.next()) {
        out.push((k, v));
    }
    out
}

/// A kavachos instance (the JS facade wraps it).
#[napi]
pub struct NativeKavach {
    inner: Arc<Kavach>,
    /// The hand-moved clock of a test run (`NODE_ENV=test` and `KAVACH_TEST_CLOCK=1`), so tests
    /// drive expiry through the instance clock; `None` everywhere else.
    test_clock: Option<Arc<kavach_core::ManualClock>>,
}

/// What `verifyLegacyHash` receives.
#[napi(object)]
pub struct LegacyHashInput {
    pub stored_hash: String,
    pub password: String,
}

/// A weak threadsafe function: it never keeps the Node process alive on its own.
type JsAsyncFn<Args, Ret> = ThreadsafeFunction<Args, Promise<Ret>, Args, Status, false, true>;

struct JsLegacyHash(Arc<JsAsyncFn<LegacyHashInput, bool>>);

impl kavach_core::callbacks::LegacyHashVerifier for JsLegacyHash {
    fn verify(
        &self,
        stored_hash: String,
        password: String,
    ) -> kavach_core::BoxFut<'static, kavach_core::Result<bool>> {
        let f = self.0.clone();
        Box::pin(async move {
            let failed =
                |_| KavachError::Internal("emailAndPassword.verifyLegacyHash failed".into());
            let promise = f
                .call_async(LegacyHashInput {
                    stored_hash,
                    password,
                })
                .await
                .map_err(failed)?;
            promise.await.map_err(failed)
        })
    }
}

struct JsEmail(Arc<JsAsyncFn<serde_json::Value, ()>>, &'static str);

impl kavach_core::callbacks::EmailSender for JsEmail {
    fn send(
        &self,
        message: serde_json::Value,
    ) -> kavach_core::BoxFut<'static, kavach_core::Result<()>> {
        let (f, name) = (self.0.clone(), self.1);
        Box::pin(async move {
            let failed = |_| KavachError::Internal(format!("emailAndPassword.{name} failed"));
            let promise = f.call_async(message).await.map_err(failed)?;
            promise.await.map_err(failed)
        })
    }
}

struct JsJwtClaims(Arc<JsAsyncFn<serde_json::Value, serde_json::Value>>);

impl kavach_core::callbacks::JwtClaims for JsJwtClaims {
    fn claims(
        &self,
        input: serde_json::Value,
    ) -> kavach_core::BoxFut<'static, kavach_core::Result<serde_json::Value>> {
        let f = self.0.clone();
        Box::pin(async move {
            let failed = |_| KavachError::JwtClaimsFailed;
            let promise = f.call_async(input).await.map_err(failed)?;
            promise.await.map_err(failed)
        })
    }
}

/// One function of `hooks`, reached through the JS dispatchers by its name (`beforeAuthorize`,
/// `event:user.created`, ...): `{ name, payload }` in.
struct JsHook {
    name: String,
    call: Option<Arc<JsAsyncFn<serde_json::Value, serde_json::Value>>>,
    fire: Option<Arc<JsAsyncFn<serde_json::Value, ()>>>,
}

impl kavach_core::callbacks::HookFn for JsHook {
    fn call(
        &self,
        payload: serde_json::Value,
    ) -> kavach_core::BoxFut<'static, kavach_core::Result<serde_json::Value>> {
        let f = self.call.clone();
        let message = serde_json::json!({ "name": self.name, "payload": payload });
        Box::pin(async move {
            let failed = |_| KavachError::Internal("a hook failed".into());
            let f = f.ok_or_else(|| KavachError::Internal("no hook dispatcher".into()))?;
            let promise = f.call_async(message).await.map_err(failed)?;
            promise.await.map_err(failed)
        })
    }

    fn fire(&self, payload: serde_json::Value) {
        if let Some(f) = &self.fire {
            let message = serde_json::json!({ "name": self.name, "payload": payload });
            let _ = f.call(
                message,
                napi::threadsafe_function::ThreadsafeFunctionCallMode::NonBlocking,
            );
        }
    }
}

/// The core's `Hooks` from the names of the functions the app gave and the two JS dispatchers.
fn hooks(
    call: Option<Arc<JsAsyncFn<serde_json::Value, serde_json::Value>>>,
    fire: Option<Arc<JsAsyncFn<serde_json::Value, ()>>>,
    names: Vec<String>,
) -> kavach_core::callbacks::Hooks {
    let mut h = kavach_core::callbacks::Hooks::default();
    for name in names {
        let hook = Arc::new(JsHook {
            name: name.clone(),
            call: call.clone(),
            fire: fire.clone(),
        }) as Arc<dyn kavach_core::callbacks::HookFn>;
        match name.as_str() {
            "beforeAuthorize" => h.before_authorize = Some(hook),
            "afterAuthorize" => h.after_authorize = Some(hook),
            "beforeAgentCreate" => h.before_agent_create = Some(hook),
            "afterAgentCreate" => h.after_agent_create = Some(hook),
            "onAgentRevoke" => h.on_agent_revoke = Some(hook),
            "onViolation" => h.on_violation = Some(hook),
            other => {
                if let Some(event) = other.strip_prefix("event:") {
                    h.events.push((event.to_owned(), hook));
                } else if let Some(option) = other.strip_prefix("plugin:") {
                    h.plugin_fns.push((option.to_owned(), hook));
                }
            }
        }
    }
    h
}

/// Boots an instance from the JSON configuration and the app's callbacks (`createKavach` calls this).
// The JS facade passes each of the app's callbacks as its own function: one argument each.
#[allow(clippy::too_many_arguments)]
#[napi]
pub async fn open(
    config_json: String,
    node_env: Option<String>,
    verify_legacy_hash: Option<
        ThreadsafeFunction<LegacyHashInput, Promise<bool>, LegacyHashInput, Status, false, true>,
    >,
    send_reset_password: Option<
        ThreadsafeFunction<serde_json::Value, Promise<()>, serde_json::Value, Status, false, true>,
    >,
    send_verification_email: Option<
        ThreadsafeFunction<serde_json::Value, Promise<()>, serde_json::Value, Status, false, true>,
    >,
    send_invitation_email: Option<
        ThreadsafeFunction<serde_json::Value, Promise<()>, serde_json::Value, Status, false, true>,
    >,
    jwt_custom_claims: Option<
        ThreadsafeFunction<
            serde_json::Value,
            Promise<serde_json::Value>,
            serde_json::Value,
            Status,
            false,
            true,
        >,
    >,
    hook_call: Option<
        ThreadsafeFunction<
            serde_json::Value,
            Promise<serde_json::Value>,
            serde_json::Value,
            Status,
            false,
            true,
        >,
    >,
    hook_fire: Option<
        ThreadsafeFunction<serde_json::Value, Promise<()>, serde_json::Value, Status, false, true>,
    >,
    hook_names: Option<Vec<String>>,
) -> napi::Result<NativeKavach> {
    let config = KavachConfig::from_json(&config_json).map_err(to_js)?;
    let callbacks = kavach_core::callbacks::Callbacks {
        verify_legacy_hash: verify_legacy_hash.map(|f| {
            Arc::new(JsLegacyHash(Arc::new(f)))
                as Arc<dyn kavach_core::callbacks::LegacyHashVerifier>
        }),
        send_reset_password: send_reset_password.map(|f| {
            Arc::new(JsEmail(Arc::new(f), "sendResetPassword"))
                as Arc<dyn kavach_core::callbacks::EmailSender>
        }),
        send_verification_email: send_verification_email.map(|f| {
            Arc::new(JsEmail(Arc::new(f), "sendVerificationEmail"))
                as Arc<dyn kavach_core::callbacks::EmailSender>
        }),
        send_invitation_email: send_invitation_email.map(|f| {
            Arc::new(JsEmail(Arc::new(f), "sendInvitationEmail"))
                as Arc<dyn kavach_core::callbacks::EmailSender>
        }),
        jwt_claims: jwt_custom_claims.map(|f| {
            Arc::new(JsJwtClaims(Arc::new(f))) as Arc<dyn kavach_core::callbacks::JwtClaims>
        }),
        hooks: hooks(
            hook_call.map(Arc::new),
            hook_fire.map(Arc::new),
            hook_names.unwrap_or_default(),
        ),
    };
    let test_clock = (node_env.as_deref() == Some("test")
        && std::env::var("KAVACH_TEST_CLOCK").as_deref() == Ok("1"))
    .then(|| {
        use kavach_core::Clock;
        kavach_core::ManualClock::new(kavach_core::SystemClock.now_ms())
    });
    let clock: Arc<dyn kavach_core::Clock> = match &test_clock {
        Some(c) => c.clone(),
        None => Arc::new(kavach_core::SystemClock),
    };
    let inner = Kavach::open_with(&config, node_env.as_deref(), clock, callbacks)
        .await
        .map_err(to_js)?;
    Ok(NativeKavach { inner, test_clock })
}

/// Runs the embedded migrations against a database URL (`kavach-cli migrate`); returns the versions applied.
#[napi]
pub async fn migrate(url: String) -> napi::Result<Vec<i64>> {
    kavach_core::migrate_url(&url)
        .await
        .map(|r| r.applied)
        .map_err(to_js)
}

/// `importBetterAuth({ from, to?, dryRun?, batchSize?, secret?, sourceSecret? }, onProgress?)`: copies a better-auth
/// database into kavachos's tables (`kavach-cli import better-auth`); resolves to the report.
#[napi]
pub async fn import_better_auth(
    input: serde_json::Value,
    on_progress: Option<
        ThreadsafeFunction<serde_json::Value, Promise<()>, serde_json::Value, Status, false, true>,
    >,
) -> napi::Result<serde_json::Value> {
    #[derive(serde::Deserialize)]
    #[serde(rename_all = "camelCase", deny_unknown_fields)]
    struct Input {
        from: String,
        #[serde(default)]
        to: Option<String>,
        #[serde(default)]
        dry_run: bool,
        #[serde(default)]
        batch_size: Option<usize>,
        #[serde(default)]
        secret: Option<String>,
        #[serde(default)]
        source_secret: Option<String>,
    }
    let input: Input = from_json(input, "importBetterAuth options")?;
    let mut options = kavach_core::import::ImportOptions::new(input.from);
    options.to = input.to;
    options.dry_run = input.dry_run;
    options.secret = input.secret;
    options.source_secret = input.source_secret;
    if let Some(n) = input.batch_size {
        options.batch_size = n;
    }
    let progress = move |e: &kavach_core::import::ImportEvent<'_>| {
        if let (Some(f), kavach_core::import::ImportEvent::Batch(c)) = (&on_progress, e) {
            if let Ok(v) = serde_json::to_value(c) {
                let _ = f.call(
                    v,
                    napi::threadsafe_function::ThreadsafeFunctionCallMode::NonBlocking,
                );
            }
        }
    };
    use kavach_core::Clock;
    let report = kavach_core::import::import_better_auth(
        &options,
        kavach_core::SystemClock.now_ms(),
        &progress,
    )
    .await
    .map_err(to_js)?;
    to_json(&report)
}

/// `importClerk({ file, to, dryRun?, batchSize? }, onProgress?)`: a Clerk export (Dashboard CSV or
/// `@clerk/backend` JSON) into kavachos's tables (`kavach-cli import clerk`); resolves to the report.
#[napi]
pub async fn import_clerk(
    input: serde_json::Value,
    on_progress: Option<
        ThreadsafeFunction<serde_json::Value, Promise<()>, serde_json::Value, Status, false, true>,
    >,
) -> napi::Result<serde_json::Value> {
    #[derive(serde::Deserialize)]
    #[serde(rename_all = "camelCase", deny_unknown_fields)]
    struct Input {
        file: String,
        to: String,
        #[serde(default)]
        dry_run: bool,
        #[serde(default)]
        batch_size: Option<usize>,
    }
    let input: Input = from_json(input, "importClerk options")?;
    let options = kavach_core::import::clerk::ClerkOptions {
        file: input.file.into(),
        to: input.to,
        dry_run: input.dry_run,
        batch_size: input.batch_size.unwrap_or(1000),
    };
    let progress = move |e: &kavach_core::import::ImportEvent<'_>| {
        if let (Some(f), kavach_core::import::ImportEvent::Batch(c)) = (&on_progress, e) {
            if let Ok(v) = serde_json::to_value(c) {
                let _ = f.call(
                    v,
                    napi::threadsafe_function::ThreadsafeFunctionCallMode::NonBlocking,
                );
            }
        }
    };
    use kavach_core::Clock;
    let report = kavach_core::import::clerk::import_clerk(
        &options,
        kavach_core::SystemClock.now_ms(),
        &progress,
    )
    .await
    .map_err(to_js)?;
    to_json(&report)
}

impl NativeKavach {
    fn token_from(&self, cookie: Option<String>, authorization: Option<String>) -> Option<String> {
        let mut headers = Vec::new();
        if let Some(c) = cookie {
            headers.push(("cookie".to_owned(), c));
        }
        if let Some(a) = authorization {
            headers.push(("authorization".to_owned(), a));
        }
        let req = kavach_core::http::HttpRequest {
            headers,
            ..Default::default()
        };
        kavach_core::http::session_token(&req, &self.inner.settings().cookie_name)
            .map(str::to_owned)
    }
}

#[napi]
impl NativeKavach {
    /// Moves a test run's instance clock forward by `ms` (only with `NODE_ENV=test` and
    /// `KAVACH_TEST_CLOCK=1` at boot; an error anywhere else).
    #[napi]
    pub fn advance_clock(&self, ms: i64) -> napi::Result<()> {
        match &self.test_clock {
            Some(c) => {
                c.advance(ms);
                Ok(())
            }
            None => Err(napi::Error::from_reason(
                "the instance clock moves only in tests (NODE_ENV=test and KAVACH_TEST_CLOCK=1)",
            )),
        }
    }

    /// The configured mount of the HTTP API (default `/api/kavach`).
    #[napi(getter)]
    pub fn base_path(&self) -> String {
        self.inner.settings().base_path.clone()
    }

    /// `sqlite`, `postgres` or `mysql`.
    #[napi(getter)]
    pub fn dialect(&self) -> &'static str {
        match self.inner.dialect() {
            kavach_core::Dialect::Sqlite => "sqlite",
            kavach_core::Dialect::Postgres => "postgres",
            kavach_core::Dialect::MySql => "mysql",
        }
    }

    #[napi]
    pub async fn create_agent(&self, input: serde_json::Value) -> napi::Result<serde_json::Value> {
        let input: CreateAgent = from_json(input, "agent")?;
        to_json(&self.inner.create_agent(input).await.map_err(to_js)?)
    }

    #[napi]
    pub async fn get_agent(&self, id: String) -> napi::Result<serde_json::Value> {
        to_json(&self.inner.get_agent(&id).await.map_err(to_js)?)
    }

    /// `approvals.list(filter)`.
    #[napi]
    pub async fn list_approvals(
        &self,
        filter: serde_json::Value,
    ) -> napi::Result<serde_json::Value> {
        let filter: kavach_core::agents::approvals::ApprovalFilter = from_json(filter, "filter")?;
        to_json(&self.inner.list_approvals(filter).await.map_err(to_js)?)
    }

    /// `approvals.get(id)`.
    #[napi]
    pub async fn get_approval(&self, id: String) -> napi::Result<serde_json::Value> {
        to_json(&self.inner.get_approval(&id).await.map_err(to_js)?)
    }

    /// `approvals.approve(id, { decidedBy })` / `deny`.
    #[napi]
    pub async fn decide_approval(
        &self,
        id: String,
        approve: bool,
        decided_by: Option<String>,
    ) -> napi::Result<serde_json::Value> {
        to_json(
            &self
                .inner
                .decide_approval(&id, approve, decided_by.as_deref(), None)
                .await
                .map_err(to_js)?,
        )
    }

    /// `delegation.create(input)`.
    #[napi]
    pub async fn create_delegation(
        &self,
        input: serde_json::Value,
    ) -> napi::Result<serde_json::Value> {
        let input: kavach_core::agents::delegation::CreateDelegation = from_json(input, "input")?;
        to_json(&self.inner.create_delegation(input).await.map_err(to_js)?)
    }

    /// `delegation.revoke(id)`.
    #[napi]
    pub async fn revoke_delegation(&self, id: String) -> napi::Result<()> {
        self.inner.revoke_delegation(&id).await.map_err(to_js)
    }

    /// `delegation.list({ agentId })`.
    #[napi]
    pub async fn list_delegations(&self, agent_id: String) -> napi::Result<serde_json::Value> {
        to_json(
            &self
                .inner
                .list_delegations(&agent_id)
                .await
                .map_err(to_js)?,
        )
    }

    /// `trust.score(agentId)`.
    #[napi]
    pub async fn trust_score(&self, agent_id: String) -> napi::Result<serde_json::Value> {
        to_json(&self.inner.trust_score(&agent_id).await.map_err(to_js)?)
    }

    #[napi]
    pub async fn list_agents(&self, filter: serde_json::Value) -> napi::Result<serde_json::Value> {
        let filter: AgentFilter = from_json(filter, "filter")?;
        to_json(&self.inner.list_agents(filter).await.map_err(to_js)?)
    }

    #[napi]
    pub async fn update_agent(
        &self,
        id: String,
        patch: serde_json::Value,
    ) -> napi::Result<serde_json::Value> {
        let patch: UpdateAgent = from_json(patch, "agent update")?;
        to_json(&self.inner.update_agent(&id, patch).await.map_err(to_js)?)
    }

    #[napi]
    pub async fn revoke_agent(&self, id: String) -> napi::Result<()> {
        self.inner.revoke_agent(&id).await.map_err(to_js)
    }

    #[napi]
    pub async fn rotate_agent(&self, id: String) -> napi::Result<serde_json::Value> {
        to_json(&self.inner.rotate_agent(&id).await.map_err(to_js)?)
    }

    #[napi]
    pub async fn authorize(
        &self,
        agent_id: String,
        input: AuthorizeInput,
    ) -> napi::Result<AuthorizeResult> {
        self.inner
            .authorize(&agent_id, &request(input))
            .await
            .map(result)
            .map_err(to_js)
    }

    #[napi]
    pub async fn authorize_by_token(
        &self,
        token: String,
        input: AuthorizeInput,
    ) -> napi::Result<AuthorizeResult> {
        self.inner
            .authorize_by_token(&token, &request(input))
            .await
            .map(result)
            .map_err(to_js)
    }

    /// The decision committed on this thread when the store is idle (SQLite); `null` means "use the async call".
    #[napi(catch_unwind)]
    pub fn authorize_inline(
        &self,
        agent_id: String,
        input: AuthorizeInput,
    ) -> napi::Result<Option<AuthorizeResult>> {
        self.inner
            .authorize_inline(&agent_id, &request(input))
            .transpose()
            .map(|d| d.map(result))
            .map_err(to_js)
    }

    #[napi(catch_unwind)]
    pub fn authorize_by_token_inline(
        &self,
        token: String,
        input: AuthorizeInput,
    ) -> napi::Result<Option<AuthorizeResult>> {
        self.inner
            .authorize_by_token_inline(&token, &request(input))
            .transpose()
            .map(|d| d.map(result))
            .map_err(to_js)
    }

    #[napi]
    pub async fn audit_query(&self, filter: serde_json::Value) -> napi::Result<serde_json::Value> {
        let filter: AuditFilter = from_json(filter, "audit filter")?;
        to_json(&self.inner.audit_query(&filter).await.map_err(to_js)?)
    }

    #[napi]
    pub async fn audit_export(
        &self,
        filter: serde_json::Value,
        format: String,
    ) -> napi::Result<String> {
        let filter: AuditFilter = from_json(filter, "audit filter")?;
        let format = export_format(&format)?;
        self.inner
            .audit_export(&filter, format)
            .await
            .map_err(to_js)
    }

    /// `audit.export({ stream: true })`: an export read a page at a time with `next()`.
    #[napi]
    pub fn audit_export_stream(
        &self,
        filter: serde_json::Value,
        format: String,
    ) -> napi::Result<NativeAuditExport> {
        let filter: AuditFilter = from_json(filter, "audit filter")?;
        let format = export_format(&format)?;
        let export = self
            .inner
            .audit_export_stream(filter, format)
            .map_err(to_js)?;
        Ok(NativeAuditExport::new(export))
    }

    /// [`handle_http`](Self::handle_http), except that `GET /audit/export` answers an empty body
    /// and `export`, the rows to stream.
    #[napi]
    pub async fn handle_http_streaming(
        &self,
        req: HttpRequestInput,
    ) -> napi::Result<HttpStreamingOutput> {
        let (r, export) = self.inner.handle_streaming(http_request(req)).await;
        Ok(HttpStreamingOutput {
            status: u32::from(r.status),
            headers: r.headers.into_iter().flat_map(|(k, v)| [k, v]).collect(),
            body: r.body.into(),
            export: export.map(NativeAuditExport::new),
        })
    }

    /// The whole HTTP API: never rejects, every problem is a JSON error response.
    #[napi]
    pub async fn handle_http(&self, req: HttpRequestInput) -> napi::Result<HttpResponseOutput> {
        let r = self.inner.handle(http_request(req)).await;
        Ok(HttpResponseOutput {
            status: u32::from(r.status),
            headers: r.headers.into_iter().flat_map(|(k, v)| [k, v]).collect(),
            body: r.body.into(),
        })
    }

    /// [`Self::handle_http`] answered on this thread when one read is enough (`GET /auth/session`
    /// on SQLite): the response, or nothing to take the async call.
    #[napi(catch_unwind)]
    pub fn handle_http_inline(
        &self,
        method: String,
        path: String,
        headers: Vec<String>,
        url_origin: Option<String>,
    ) -> napi::Result<Option<HttpInlineOutput>> {
        let request = kavach_core::http::HttpRequest {
            method,
            path,
            headers: flat_pairs(headers),
            url_origin,
            ..Default::default()
        };
        let Some(r) = self.inner.handle_inline(&request) else {
            return Ok(None);
        };
        // The core's JSON answers are UTF-8 (serde_json writes nothing else).
        let body = String::from_utf8(r.body)
            .map_err(|_| to_js(KavachError::Internal("could not encode a response".into())))?;
        Ok(Some(HttpInlineOutput {
            status: u32::from(r.status),
            headers: r.headers.into_iter().flat_map(|(k, v)| [k, v]).collect(),
            body,
        }))
    }

    /// `auth.signUp`: `{ user, session, token }`.
    #[napi]
    pub async fn sign_up(
        &self,
        input: serde_json::Value,
        ip: Option<String>,
        user_agent: Option<String>,
    ) -> napi::Result<serde_json::Value> {
        let input = from_json(input, "sign-up")?;
        let client = kavach_core::accounts::human::ClientInfo {
            ip,
            user_agent,
            origin: None,
        };
        to_json(&self.inner.sign_up(input, client).await.map_err(to_js)?)
    }

    /// `auth.signIn`: `{ user, session, token }`, or `{ twoFactorRequired, twoFactorToken }` when
    /// the account's second factor is on (and `trusted_device_token` is not a trusted device of it).
    #[napi]
    pub async fn sign_in(
        &self,
        input: serde_json::Value,
        ip: Option<String>,
        user_agent: Option<String>,
        trusted_device_token: Option<String>,
    ) -> napi::Result<serde_json::Value> {
        let input = from_json(input, "sign-in")?;
        // A device the account trusts skips its second factor: the hooks read it as the cookie.
        let ctx = kavach_core::plugin::SignInContext {
            cookies: trusted_device_token
                .map(|t| {
                    (
                        kavach_core::plugins::two_factor::TRUSTED_COOKIE.to_owned(),
                        t,
                    )
                })
                .into_iter()
                .collect(),
        };
        let client = kavach_core::accounts::human::ClientInfo {
            ip,
            user_agent,
            origin: None,
        };
        to_json(
            &self
                .inner
                .sign_in_flow(input, client, &ctx)
                .await
                .map_err(to_js)?,
        )
    }

    /// Sends a password-reset link to every user without a password (after an import); how many.
    #[napi]
    pub async fn send_password_resets(&self, redirect_to: Option<String>) -> napi::Result<u32> {
        let n = self
            .inner
            .send_password_resets(redirect_to.as_deref())
            .await
            .map_err(to_js)?;
        Ok(u32::try_from(n).unwrap_or(u32::MAX))
    }

    /// Ends the session a request's cookie or Bearer header carries; `true` if there was one.
    #[napi]
    pub async fn sign_out(
        &self,
        cookie: Option<String>,
        authorization: Option<String>,
    ) -> napi::Result<bool> {
        let Some(token) = self.token_from(cookie, authorization) else {
            return Ok(false);
        };
        self.inner.sign_out(&token).await.map_err(to_js)
    }

    /// `{ session, user }` for the cookie or Bearer header given, or null.
    #[napi]
    pub async fn get_session(
        &self,
        cookie: Option<String>,
        authorization: Option<String>,
    ) -> napi::Result<serde_json::Value> {
        let found = self
            .inner
            .session_of_headers(cookie, authorization)
            .await
            .map_err(to_js)?;
        match found {
            Some((session, user)) => {
                Ok(serde_json::json!({ "session": to_json(&session)?, "user": to_json(&user)? }))
            }
            None => Ok(serde_json::Value::Null),
        }
    }

    /// `getSession` answered on this thread when one read is enough (SQLite): the JSON text of
    /// `{ session, user }` (or `null`), or nothing to take the async call. Text, because one
    /// `JSON.parse` costs less than building the two objects key by key through napi.
    #[napi(catch_unwind)]
    pub fn get_session_inline(
        &self,
        cookie: Option<String>,
        authorization: Option<String>,
    ) -> napi::Result<Option<String>> {
        #[derive(serde::Serialize)]
        struct Found<'a> {
            session: &'a kavach_core::accounts::human::Session,
            user: &'a kavach_core::accounts::human::User,
        }
        let token = self.token_from(cookie, authorization);
        match self.inner.get_session_inline(token.as_deref()) {
            None => Ok(None),
            Some(Err(e)) => Err(to_js(e)),
            Some(Ok(None)) => Ok(Some("null".to_owned())),
            Some(Ok(Some((session, user)))) => serde_json::to_string(&Found {
                session: &session,
                user: &user,
            })
            .map(Some)
            .map_err(|_| to_js(KavachError::Internal("could not encode a result".into()))),
        }
    }

    /// `getSession` for a request's headers as flat `[name, value, ...]` pairs: its session
    /// token, else what a plugin reads from them (an `x-api-key`), else an imported session.
    #[napi]
    pub async fn get_session_headers(
        &self,
        headers: Vec<String>,
    ) -> napi::Result<serde_json::Value> {
        let found = self
            .inner
            .session_of_request(pairs(headers))
            .await
            .map_err(to_js)?;
        match found {
            Some((session, user)) => {
                Ok(serde_json::json!({ "session": to_json(&session)?, "user": to_json(&user)? }))
            }
            None => Ok(serde_json::Value::Null),
        }
    }

    /// [`Self::get_session_headers`] on this thread when reads are enough (SQLite): JSON text, or
    /// nothing to take the async call.
    #[napi(catch_unwind)]
    pub fn get_session_headers_inline(&self, headers: Vec<String>) -> napi::Result<Option<String>> {
        #[derive(serde::Serialize)]
        struct Found<'a> {
            session: &'a kavach_core::accounts::human::Session,
            user: &'a kavach_core::accounts::human::User,
        }
        match self.inner.session_of_request_inline(pairs(headers)) {
            None => Ok(None),
            Some(Err(e)) => Err(to_js(e)),
            Some(Ok(None)) => Ok(Some("null".to_owned())),
            Some(Ok(Some((session, user)))) => serde_json::to_string(&Found {
                session: &session,
                user: &user,
            })
            .map(Some)
            .map_err(|_| to_js(KavachError::Internal("could not encode a result".into()))),
        }
    }

    /// `kavach.<namespace>.<op>(input)` of a plugin (`organizations`, `twoFactor`, `admin`,
    /// `jwt`, ...): JSON in, the JSON answer out.
    #[napi]
    pub async fn plugin(
        &self,
        namespace: String,
        op: String,
        input: serde_json::Value,
    ) -> napi::Result<serde_json::Value> {
        self.inner
            .plugin_call(&namespace, &op, input)
            .await
            .map_err(to_js)
    }

    /// `webhooks.deliveries({ status? })`: newest first.
    #[napi]
    pub async fn webhook_deliveries(
        &self,
        status: Option<String>,
        limit: Option<u32>,
    ) -> napi::Result<serde_json::Value> {
        to_json(
            &self
                .inner
                .webhook_deliveries(status.as_deref(), limit)
                .await
                .map_err(to_js)?,
        )
    }

    /// `webhooks.redeliver(id)`: puts one delivery back to pending.
    #[napi]
    pub async fn webhook_redeliver(&self, id: String) -> napi::Result<()> {
        self.inner.webhook_redeliver(&id).await.map_err(to_js)
    }

    #[napi]
    pub async fn close(&self) -> napi::Result<()> {
        self.inner.close().await;
        Ok(())
    }
}

/// `[name, value, name, value, ...]` as pairs (a trailing name without a value is dropped).
fn pairs(flat: Vec<String>) -> Vec<(String, String)> {
    let mut out = Vec::with_capacity(flat.len() / 2);
    let mut it = flat.into_iter();
    while let (Some(k), Some(v)) = (it.next(), it.next()) {
        out.push((k, v));
    }
    out
}
