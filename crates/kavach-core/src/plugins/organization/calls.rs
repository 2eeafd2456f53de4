//! `kavach.organizations.<op>(input)`: the JS calls, JSON in and out.

use serde::Deserialize;
use serde_json::Value;

use super::PermissionQuery;
use crate::error::{KavachError, Result};
use crate::kavach::Kavach;
use crate::plugin::{decode, encode};

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct ById {
    organization_id: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct ByUser {
    user_id: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ByEmail {
    email: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct Answer {
    invitation_id: String,
    user_id: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct Cancel {
    organization_id: String,
    invitation_id: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct Active {
    session_id: String,
    user_id: String,
    organization_id: Option<String>,
}

fn id(v: &Value) -> Result<String> {
    v.as_str()
        .map(str::to_owned)
        .ok_or_else(|| KavachError::validation("the organization id must be a string"))
}

pub(super) async fn call(k: &Kavach, op: &str, input: Value) -> Result<Value> {
    match op {
        "create" => encode(
            &k.create_organization(decode(input, "organization")?)
                .await?,
        ),
        "get" => encode(&k.get_organization(&id(&input)?).await?),
        "update" => {
            let org = id(&input["id"])?;
            let patch = decode(input["patch"].clone(), "organization update")?;
            encode(&k.update_organization(&org, patch).await?)
        }
        "delete" => {
            k.delete_organization(&id(&input)?).await?;
            Ok(Value::Null)
        }
        "addMember" => encode(&k.add_member(decode(input, "member")?).await?),
        "removeMember" => encode(&k.remove_member(decode(input, "member")?).await?),
        "updateMemberRole" => encode(&k.update_member_role(decode(input, "member")?).await?),
        "listMembers" => {
            let q: ById = decode(input, "listMembers input")?;
            encode(&k.list_members(&q.organization_id).await?)
        }
        "list" => {
            let q: ByUser = decode(input, "list input")?;
            encode(&k.list_organizations(&q.user_id).await?)
        }
        "hasPermission" => {
            let q: PermissionQuery = decode(input, "hasPermission input")?;
            let wanted = q.permission.into_vec();
            encode(
                &k.has_permission(&q.organization_id, &q.user_id, &wanted)
                    .await?,
            )
        }
        "invite" => encode(&k.invite_member(decode(input, "invitation")?, None).await?),
        "getInvitation" => encode(&k.get_invitation(&id(&input)?).await?),
        "listInvitations" => {
            let q: ById = decode(input, "listInvitations input")?;
            encode(&k.list_invitations(&q.organization_id).await?)
        }
        "listUserInvitations" => {
            let q: ByEmail = decode(input, "listUserInvitations input")?;
            encode(&k.invitations_for_email(&q.email).await?)
        }
        "acceptInvitation" => {
            let q: Answer = decode(input, "invitation answer")?;
            encode(&k.accept_invitation(&q.invitation_id, &q.user_id).await?)
        }
        "declineInvitation" => {
            let q: Answer = decode(input, "invitation answer")?;
            encode(&k.decline_invitation(&q.invitation_id, &q.user_id).await?)
        }
        "cancelInvitation" => {
            let q: Cancel = decode(input, "cancelInvitation input")?;
            encode(
                &k.cancel_invitation(&q.organization_id, &q.invitation_id)
                    .await?,
            )
        }
        "setActive" => {
            let q: Active = decode(input, "setActive input")?;
            k.set_active_organization(&q.session_id, &q.user_id, q.organization_id.as_deref())
                .await?;
            Ok(Value::Null)
        }
        _ => Err(KavachError::Internal("unknown organizations call".into())),
    }
}
