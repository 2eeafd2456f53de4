//! `/auth/api-key/*`, better-auth's paths and bodies. create/get/list/update/delete act on the
//! signed-in user's own keys (the server-only fields are refused); verify is for servers holding
//! a key (no cookie), answering `{ valid, error, key }`.

use serde::Deserialize;
use serde_json::{json, Value};

use super::{iso_extra, CreateInput, Permissions, UpdateInput};
use crate::error::KavachError;
use crate::http::{ok, ok_value, parse_body, ApiError};
use crate::route;

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct VerifyBody {
    key: String,
    #[serde(default)]
    permissions: Option<Permissions>,
    #[serde(default)]
    config_id: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct DeleteBody {
    key_id: String,
    #[serde(default)]
    config_id: Option<String>,
}

fn with_iso(v: Value) -> Value {
    let mut v = v;
    iso_extra(&mut v);
    v
}

fn key_answer<T: serde::Serialize>(v: &T) -> Result<Value, ApiError> {
    serde_json::to_value(v)
        .map(with_iso)
        .map_err(|_| ApiError::new(500, "INTERNAL_ERROR", "could not encode the response"))
}

/// A 429 of a key carries Retry-After.
fn key_error(e: KavachError) -> ApiError {
    match e {
        KavachError::TooManyAttempts(s) => {
            crate::http::too_many(crate::store::ratelimit::RetryAfter(s))
        }
        e => e.into(),
    }
}

pub(super) const ROUTES: &[crate::plugin::Route] = &[
    route!("POST", "/auth/api-key/create", |k, req, p| {
        let (_, user) = k.session_and_user(req).await?;
        let b: CreateInput = parse_body(req)?;
        if b.user_id.is_some() {
            return Err(KavachError::refused(
                "UNAUTHORIZED_SESSION",
                401,
                "Unauthorized or invalid session",
            )
            .into());
        }
        ok(&key_answer(&k.api_key_create(&user.id, b, false).await?)?)
    }),
    route!("GET", "/auth/api-key/get", |k, req, p| {
        let user = k.session_user(req).await?;
        let q = req.query_map()?;
        let id = q
            .iter()
            .find(|(n, _)| n == "id")
            .map(|(_, v)| v.as_str())
            .ok_or_else(|| ApiError::new(400, "VALIDATION_FAILED", "id is required"))?;
        ok(&key_answer(&k.api_key_get(id, Some(&user.id)).await?)?)
    }),
    route!("GET", "/auth/api-key/list", |k, req, p| {
        let user = k.session_user(req).await?;
        // An array, as kavachos/client's apiKey.list() reads it (better-auth before 1.7 too).
        let keys = k.api_key_list(&user.id).await?;
        let list: Vec<Value> = keys.iter().map(key_answer).collect::<Result<_, _>>()?;
        ok(&list)
    }),
    route!("POST", "/auth/api-key/update", |k, req, p| {
        let user = k.session_user(req).await?;
        let b: UpdateInput = parse_body(req)?;
        if b.user_id.as_deref().is_some_and(|u| u != user.id) {
            return Err(KavachError::refused(
                "UNAUTHORIZED_SESSION",
                401,
                "Unauthorized or invalid session",
            )
            .into());
        }
        ok(&key_answer(
            &k.api_key_update(b, Some(&user.id), false).await?,
        )?)
    }),
    route!("POST", "/auth/api-key/delete", |k, req, p| {
        let user = k.session_user(req).await?;
        let b: DeleteBody = parse_body(req)?;
        let _ = b.config_id;
        k.api_key_delete(&b.key_id, Some(&user.id)).await?;
        ok_value(json!({ "success": true }))
    }),
    route!(cookieless "POST", "/auth/api-key/verify", |k, req, p| {
        let b: VerifyBody = parse_body(req)?;
        let _ = b.config_id;
        k.limit_ip(req).await?;
        let v = k
            .api_key_verify(&b.key, b.permissions.as_ref())
            .await
            .map_err(key_error)?;
        ok(&key_answer(&v)?)
    }),
];
