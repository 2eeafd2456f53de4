//! The organization plugin's HTTP routes: `/organizations/...` and `/invitations/...`.

use serde::Deserialize;
use serde_json::{json, Value};

use super::{CreateOrganization, InviteInput, Member, MemberInput, MemberRef, OrganizationPlugin};
use crate::accounts::human::User;
use crate::error::KavachError;
use crate::http::{ok, ok_value, parse_body, ApiError};
use crate::kavach::Kavach;
use crate::plugin::Route;
use crate::route;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct NewOrgBody {
    name: String,
    #[serde(default)]
    slug: Option<String>,
    #[serde(default)]
    metadata: Option<Value>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct MemberBody {
    #[serde(default)]
    user_id: Option<String>,
    role: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct InviteBody {
    email: String,
    role: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct ActiveOrgBody {
    organization_id: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PermissionBody {
    permission: crate::plugins::organization::PermissionList,
}

/// The signed-in user and their membership of the organization in the path.
struct MemberContext<'a> {
    user: User,
    me: Member,
    plugin: &'a OrganizationPlugin,
}

impl MemberContext<'_> {
    fn can(&self, permission: &str) -> bool {
        self.plugin
            .settings
            .role_allows(&self.me.role, &[permission.to_owned()])
    }

    fn may(&self, permission: &str) -> Result<(), ApiError> {
        if self.can(permission) {
            Ok(())
        } else {
            Err(forbidden())
        }
    }
}

fn forbidden() -> ApiError {
    ApiError::new(
        403,
        "FORBIDDEN",
        "your role in this organization does not allow this",
    )
}

/// Someone outside the organization learns nothing about it: 403 before anything else.
async fn member<'a>(
    k: &'a Kavach,
    req: &crate::http::HttpRequest,
    org_id: &str,
) -> Result<MemberContext<'a>, ApiError> {
    let user = k.session_user(req).await?;
    let me = k.membership(org_id, &user.id).await?.ok_or_else(|| {
        ApiError::new(
            403,
            "FORBIDDEN",
            "you are not a member of this organization",
        )
    })?;
    let plugin = k
        .plugin::<OrganizationPlugin>()
        .ok_or_else(|| ApiError::new(404, "NOT_FOUND", "no such route"))?;
    Ok(MemberContext { user, me, plugin })
}

pub(super) const ROUTES: &[Route] = &[
    route!("GET", "/organizations", |k, req, p| {
        let user = k.session_user(req).await?;
        ok(&k.list_organizations(&user.id).await?)
    }),
    route!("POST", "/organizations", |k, req, p| {
        let user = k.session_user(req).await?;
        let b: NewOrgBody = parse_body(req)?;
        let input = CreateOrganization {
            name: b.name,
            owner_id: user.id,
            slug: b.slug,
            metadata: b.metadata,
        };
        ok(&k.create_organization(input).await?)
    }),
    route!("POST", "/organizations/active", |k, req, p| {
        let (session, user) = k.session_and_user(req).await?;
        let b: ActiveOrgBody = parse_body(req)?;
        k.set_active_organization(&session.id, &user.id, b.organization_id.as_deref())
            .await?;
        let session = crate::accounts::human::Session {
            active_organization_id: b.organization_id,
            ..session
        };
        ok_value(json!({ "session": session }))
    }),
    route!("GET", "/invitations", |k, req, p| {
        let user = k.session_user(req).await?;
        // Only a proven address sees what was sent to it.
        if !user.email_verified {
            return Err(KavachError::EmailNotVerified.into());
        }
        ok(&k.invitations_for_email(&user.email).await?)
    }),
    route!("GET", "/invitations/:id", |k, req, p| {
        let id = p[0];
        let user = k.session_user(req).await?;
        let inv = k
            .get_invitation(id)
            .await?
            .filter(|i| i.email.eq_ignore_ascii_case(&user.email))
            .ok_or_else(|| ApiError::not_found("invitation"))?;
        let org = k.get_organization(&inv.organization_id).await?;
        ok_value(json!({
            "invitation": inv,
            "organization": org.map(|o| json!({ "id": o.id, "name": o.name, "slug": o.slug })),
        }))
    }),
    route!("POST", "/invitations/:id/accept", |k, req, p| {
        let id = p[0];
        let user = k.session_user(req).await?;
        ok(&k.accept_invitation(id, &user.id).await?)
    }),
    route!("POST", "/invitations/:id/decline", |k, req, p| {
        let id = p[0];
        let user = k.session_user(req).await?;
        ok(&k.decline_invitation(id, &user.id).await?)
    }),
    route!("GET", "/organizations/:id", |k, req, p| {
        let ctx = member(k, req, p[0]).await?;
        ctx.may("organization:read")?;
        ok(&k
            .get_organization(p[0])
            .await?
            .ok_or_else(|| ApiError::not_found("organization"))?)
    }),
    route!("PATCH", "/organizations/:id", |k, req, p| {
        let ctx = member(k, req, p[0]).await?;
        ctx.may("organization:update")?;
        ok(&k.update_organization(p[0], parse_body(req)?).await?)
    }),
    route!("DELETE", "/organizations/:id", |k, req, p| {
        let ctx = member(k, req, p[0]).await?;
        ctx.may("organization:delete")?;
        k.delete_organization(p[0]).await?;
        ok_value(json!({ "success": true }))
    }),
    route!("GET", "/organizations/:id/members", |k, req, p| {
        let ctx = member(k, req, p[0]).await?;
        ctx.may("members:read")?;
        ok(&k.list_members(p[0]).await?)
    }),
    route!("POST", "/organizations/:id/members", |k, req, p| {
        let ctx = member(k, req, p[0]).await?;
        ctx.may("members:add")?;
        let b: MemberBody = parse_body(req)?;
        let user_id = b
            .user_id
            .ok_or_else(|| ApiError::new(400, "VALIDATION_FAILED", "userId is required"))?;
        if b.role == "owner" && ctx.me.role != "owner" {
            return Err(forbidden());
        }
        ok(&k
            .add_member(MemberInput {
                organization_id: p[0].to_string(),
                user_id,
                role: b.role,
            })
            .await?)
    }),
    route!("PATCH", "/organizations/:id/members/:user", |k, req, p| {
        let ctx = member(k, req, p[0]).await?;
        ctx.may("members:update-role")?;
        let b: MemberBody = parse_body(req)?;
        let current = k
            .membership(p[0], p[1])
            .await?
            .ok_or_else(|| ApiError::not_found("member"))?;
        if ctx.me.role != "owner" && (current.role == "owner" || b.role == "owner") {
            return Err(forbidden());
        }
        ok(&k
            .update_member_role(MemberInput {
                organization_id: p[0].to_string(),
                user_id: p[1].to_string(),
                role: b.role,
            })
            .await?)
    }),
    route!("DELETE", "/organizations/:id/members/:user", |k, req, p| {
        let ctx = member(k, req, p[0]).await?;
        let current = k
            .membership(p[0], p[1])
            .await?
            .ok_or_else(|| ApiError::not_found("member"))?;
        // Anyone may leave; managers remove others, and only owners remove owners.
        let allowed = p[1] == ctx.user.id
            || (ctx.can("members:remove") && (current.role != "owner" || ctx.me.role == "owner"));
        if !allowed {
            return Err(forbidden());
        }
        ok(&k
            .remove_member(MemberRef {
                organization_id: p[0].to_string(),
                user_id: p[1].to_string(),
            })
            .await?)
    }),
    route!("GET", "/organizations/:id/invitations", |k, req, p| {
        let ctx = member(k, req, p[0]).await?;
        ctx.may("invitations:read")?;
        ok(&k.list_invitations(p[0]).await?)
    }),
    route!("POST", "/organizations/:id/invitations", |k, req, p| {
        let ctx = member(k, req, p[0]).await?;
        ctx.may("invitations:create")?;
        let b: InviteBody = parse_body(req)?;
        if b.role == "owner" && ctx.me.role != "owner" {
            return Err(forbidden());
        }
        ok(&k
            .invite_member(
                InviteInput {
                    organization_id: p[0].to_string(),
                    email: b.email,
                    role: b.role,
                    inviter_id: Some(ctx.user.id.clone()),
                },
                req.url_origin.as_deref(),
            )
            .await?)
    }),
    route!(
        "DELETE",
        "/organizations/:id/invitations/:invitation",
        |k, req, p| {
            let ctx = member(k, req, p[0]).await?;
            ctx.may("invitations:cancel")?;
            k.cancel_invitation(p[0], p[1]).await?;
            ok_value(json!({ "success": true }))
        }
    ),
    route!("POST", "/organizations/:id/has-permission", |k, req, p| {
        let ctx = member(k, req, p[0]).await?;
        let b: PermissionBody = parse_body(req)?;
        let allowed = k
            .has_permission(p[0], &ctx.user.id, &b.permission.into_vec())
            .await?;
        ok_value(json!({ "allowed": allowed }))
    }),
];
