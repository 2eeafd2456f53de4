//! The napi-rs binding: converts JS values to core types and core errors to JS errors. No logic.
#![deny(clippy::all)]

use std::sync::Arc;

use kavach_core::{
    AgentFilter, AuditFilter, AuthzRequest, CreateAgent, Decision, ExportFormat, Kavach,
    KavachConfig, KavachError, UpdateAgent,
};
use napi::bindgen_prelude::*;
use napi_derive::napi;

/// Every core error becomes a JS error whose `code` is the stable kavachos code.
fn to_js(e: KavachError) -> napi::Error {
    napi::Error::new(Status::GenericFailure, format!("{}\u{1}{}", e.code(), e))
}

fn from_json<T: serde::de::DeserializeOwned>(v: serde_json::Value, what: &str) -> napi::Result<T> {
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
    }
}

/// A kavachos instance (the JS facade wraps it).
#[napi]
pub struct NativeKavach {
    inner: Arc<Kavach>,
}

/// Boots an instance from the JSON configuration (`createKavach` calls this).
#[napi]
pub async fn open(config_json: String, node_env: Option<String>) -> napi::Result<NativeKavach> {
    let config = KavachConfig::from_json(&config_json).map_err(to_js)?;
    let inner = Kavach::open(&config, node_env.as_deref())
        .await
        .map_err(to_js)?;
    Ok(NativeKavach { inner })
}

/// Runs the embedded migrations against a database URL (`kavach-cli migrate`); returns the versions applied.
#[napi]
pub async fn migrate(url: String) -> napi::Result<Vec<i64>> {
    kavach_core::migrate_url(&url)
        .await
        .map(|r| r.applied)
        .map_err(to_js)
}

#[napi]
impl NativeKavach {
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
        let format = match format.as_str() {
            "json" => ExportFormat::Json,
            "csv" => ExportFormat::Csv,
            _ => {
                return Err(to_js(KavachError::ValidationFailed(
                    "format must be \"json\" or \"csv\"".into(),
                )))
            }
        };
        self.inner
            .audit_export(&filter, format)
            .await
            .map_err(to_js)
    }

    #[napi]
    pub async fn close(&self) -> napi::Result<()> {
        self.inner.close().await;
        Ok(())
    }
}
