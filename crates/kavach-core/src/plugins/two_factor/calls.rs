//! `kavach.twoFactor.<op>(input)`: the JS calls, JSON in and out.

use serde::Deserialize;
use serde_json::{json, Value};

use super::VerifyTwoFactor;
use crate::accounts::human::ClientInfo;
use crate::error::{KavachError, Result};
use crate::kavach::Kavach;
use crate::plugin::{decode, encode};

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct WithPassword {
    user_id: String,
    password: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct WithCode {
    user_id: String,
    code: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct Verify {
    two_factor_token: String,
    #[serde(default)]
    code: Option<String>,
    #[serde(default)]
    backup_code: Option<String>,
    #[serde(default)]
    trust_device: Option<bool>,
}

pub(super) async fn call(k: &Kavach, op: &str, input: Value) -> Result<Value> {
    match op {
        "enable" => {
            let q: WithPassword = decode(input, "twoFactor.enable input")?;
            encode(&k.two_factor_enable(&q.user_id, q.password).await?)
        }
        "activate" => {
            let q: WithCode = decode(input, "twoFactor.activate input")?;
            k.two_factor_activate(&q.user_id, &q.code).await?;
            Ok(json!({ "enabled": true }))
        }
        "disable" => {
            let q: WithPassword = decode(input, "twoFactor.disable input")?;
            k.two_factor_disable(&q.user_id, q.password).await?;
            Ok(json!({ "enabled": false }))
        }
        "status" => {
            let user_id: String = decode(input, "user id")?;
            Ok(json!({ "enabled": k.two_factor_status(&user_id).await? }))
        }
        "generateBackupCodes" => {
            let q: WithPassword = decode(input, "twoFactor.generateBackupCodes input")?;
            let codes = k.two_factor_backup_codes(&q.user_id, q.password).await?;
            Ok(json!({ "backupCodes": codes }))
        }
        "verify" => {
            let q: Verify = decode(input, "twoFactor.verify input")?;
            let v = VerifyTwoFactor {
                code: q.code,
                backup_code: q.backup_code,
                trust_device: q.trust_device,
            };
            encode(
                &k.two_factor_verify(&q.two_factor_token, v, ClientInfo::default())
                    .await?,
            )
        }
        _ => Err(KavachError::Internal("unknown twoFactor call".into())),
    }
}
