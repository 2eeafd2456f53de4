//! `kavach.apiKeys.<op>(input)`: the server's calls, JSON in and out. The server may set every
//! field (permissions, remaining uses, refills, the rate limit) and act on any user's keys.

use serde::Deserialize;
use serde_json::{json, Value};

use super::{CreateInput, Permissions, UpdateInput};
use crate::error::{KavachError, Result};
use crate::kavach::Kavach;
use crate::plugin::{decode, encode};

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct Verify {
    key: String,
    #[serde(default)]
    permissions: Option<Permissions>,
    #[serde(default)]
    config_id: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct ById {
    #[serde(alias = "id")]
    key_id: String,
    #[serde(default)]
    user_id: Option<String>,
    #[serde(default)]
    config_id: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct ByUser {
    user_id: String,
}

pub(super) async fn call(k: &Kavach, op: &str, input: Value) -> Result<Value> {
    match op {
        "create" => {
            let q: CreateInput = decode(input, "apiKeys.create input")?;
            let user_id = q
                .user_id
                .clone()
                .ok_or_else(|| KavachError::validation("apiKeys.create needs userId"))?;
            k.api_key_create(&user_id, q, true).await
        }
        "verify" => {
            let q: Verify = decode(input, "apiKeys.verify input")?;
            let _ = q.config_id;
            encode(&k.api_key_verify(&q.key, q.permissions.as_ref()).await?)
        }
        "get" => {
            let q: ById = decode(input, "apiKeys.get input")?;
            let _ = q.config_id;
            encode(&k.api_key_get(&q.key_id, q.user_id.as_deref()).await?)
        }
        "list" => {
            let q: ByUser = decode(input, "apiKeys.list input")?;
            encode(&k.api_key_list(&q.user_id).await?)
        }
        "update" => {
            let q: UpdateInput = decode(input, "apiKeys.update input")?;
            encode(&k.api_key_update(q, None, true).await?)
        }
        "delete" => {
            let q: ById = decode(input, "apiKeys.delete input")?;
            let _ = q.config_id;
            k.api_key_delete(&q.key_id, q.user_id.as_deref()).await?;
            Ok(json!({ "success": true }))
        }
        _ => Err(KavachError::Internal("unknown apiKeys call".into())),
    }
}
