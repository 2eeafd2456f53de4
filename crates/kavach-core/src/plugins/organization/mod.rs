//! The organization plugin: organizations, members, roles with permissions, invitations by email
//! and the active organization of a session. The last owner of an organization can neither leave,
//! be removed, be demoted, nor be deleted or banned by the admin plugin (or deleted as a guest by
//! the anonymous plugin): `LAST_OWNER`, checked atomically against concurrent changes.

use serde::{Deserialize, Serialize};
use sqlx::Row;

use crate::config::Dialect;
use crate::crypto::token::new_id;
use crate::error::{KavachError, Result};
use crate::events::{Emitter, EventRecord};
use crate::store::db::BeginWrite;
use crate::store::db::{sql_for, Pool, Ts};
use crate::{col_opt_str, col_str, on_pool};

mod api;
mod calls;
mod routes;

/// `organization(options)` of `kavachos/plugins`, running.
#[derive(Debug)]
pub struct OrganizationPlugin {
    pub settings: OrgSettings,
}

/// The registry's factory.
pub fn plugin(
    options: &serde_json::Value,
    _env: &crate::plugin::PluginEnv<'_>,
) -> Result<std::sync::Arc<dyn crate::plugin::Plugin>> {
    Ok(std::sync::Arc::new(OrganizationPlugin {
        settings: OrgSettings::parse(options)?,
    }))
}

impl crate::plugin::Plugin for OrganizationPlugin {
    fn id(&self) -> &'static str {
        "organization"
    }

    fn routes(&self) -> &'static [crate::plugin::Route] {
        routes::ROUTES
    }

    fn namespace(&self) -> Option<&'static str> {
        Some("organizations")
    }

    fn call<'a>(
        &'a self,
        k: &'a crate::kavach::Kavach,
        op: &'a str,
        input: serde_json::Value,
    ) -> crate::BoxFut<'a, Result<serde_json::Value>> {
        Box::pin(calls::call(k, op, input))
    }

    fn before_user_removed<'a>(
        &'a self,
        k: &'a crate::kavach::Kavach,
        conn: crate::plugin::TxConn<'a>,
        user_id: &'a str,
    ) -> crate::BoxFut<'a, Result<()>> {
        Box::pin(async move {
            let store = OrgStore {
                pool: k.pool(),
                dialect: k.dialect(),
                settings: &self.settings,
                emitter: k.emitter(),
            };
            store.refuse_last_owner(conn, user_id, k.now_ms()).await
        })
    }

    fn as_any(&self) -> &dyn std::any::Any {
        self
    }
}

/// Locks an organization's row while its owners are counted (PostgreSQL, MySQL).
const LOCK_ORG: &str = "SELECT id FROM kavach_organizations WHERE id = ? FOR UPDATE";
/// How many owners an organization has besides a given user, not counting banned users (a ban
/// that has run out no longer counts): an owner that cannot sign in keeps nobody in charge.
/// Members whose id names no kavachos user (ids from the app's own user table) count.
const OTHER_OWNERS: &str = "SELECT COUNT(*) FROM kavach_org_members m \
     LEFT JOIN kavach_user u ON u.id = m.user_id \
     WHERE m.org_id = ? AND m.role = 'owner' AND m.user_id <> ? \
     AND (u.id IS NULL OR NOT u.banned OR (u.ban_expires IS NOT NULL AND u.ban_expires <= ?))";
/// The organizations a user owns (SQLite).
const OWNED: &str =
    "SELECT org_id FROM kavach_org_members WHERE user_id = ? AND role = 'owner' ORDER BY org_id";
/// The organizations a user owns, their rows locked as [`LOCK_ORG`] does.
const OWNED_LOCKED_PG: &str =
    "SELECT o.id FROM kavach_organizations o JOIN kavach_org_members m ON m.org_id = o.id \
     WHERE m.user_id = ? AND m.role = 'owner' ORDER BY o.id FOR UPDATE OF o";
/// MySQL/MariaDB have no `FOR UPDATE OF`: the user's owner memberships are locked with them.
const OWNED_LOCKED_MY: &str =
    "SELECT o.id FROM kavach_organizations o JOIN kavach_org_members m ON m.org_id = o.id \
     WHERE m.user_id = ? AND m.role = 'owner' ORDER BY o.id FOR UPDATE";

/// The built-in roles; apps may add their own with `organization({ roles })`.
pub const BUILT_IN_ROLES: [&str; 3] = ["owner", "admin", "member"];

/// What the built-in `admin` role may do (the owner may do everything).
pub const ADMIN_PERMISSIONS: &[&str] = &[
    "organization:read",
    "organization:update",
    "members:read",
    "members:add",
    "members:remove",
    "members:update-role",
    "invitations:read",
    "invitations:create",
    "invitations:cancel",
    "agents:create",
    "agents:revoke",
    "agents:manage",
];

/// What the built-in `member` role may do.
pub const MEMBER_PERMISSIONS: &[&str] = &[
    "organization:read",
    "members:read",
    "agents:create",
    "agents:manage",
];

/// Default lifetime of an invitation: 48 hours.
const DEFAULT_INVITATION_TTL_MS: i64 = 48 * 3600 * 1000;

/// `organization({ roles?, invitationExpiresIn?, invitationUrl? })`, checked.
#[derive(Debug, Clone, Default)]
pub struct OrgSettings {
    /// Roles besides (or redefining) `admin` and `member`, with their permissions. `owner` always
    /// holds every permission and cannot be redefined.
    pub roles: Vec<(String, Vec<String>)>,
    pub invitation_ttl_ms: i64,
    /// Path (on the app's origin) of the page that accepts an invitation; the link gets
    /// `?invitationId=...` appended. Default `/accept-invitation`.
    pub invitation_path: String,
}

impl OrgSettings {
    pub fn parse(options: &serde_json::Value) -> Result<Self> {
        let bad = |m: &str| KavachError::ConfigInvalid(format!("organization(): {m}"));
        let mut roles = Vec::new();
        match options.get("roles") {
            None | Some(serde_json::Value::Null) => {}
            Some(serde_json::Value::Object(m)) => {
                for (name, perms) in m {
                    if name == "owner" {
                        return Err(bad(
                            "the owner role holds every permission and cannot be redefined",
                        ));
                    }
                    if name.is_empty() || name.len() > 64 {
                        return Err(bad("role names are 1 to 64 characters"));
                    }
                    let list = perms
                        .as_array()
                        .ok_or_else(|| bad("roles must map role names to permission lists"))?
                        .iter()
                        .map(|p| p.as_str().map(str::to_owned))
                        .collect::<Option<Vec<_>>>()
                        .ok_or_else(|| bad("permissions must be strings"))?;
                    roles.push((name.clone(), list));
                }
            }
            Some(_) => return Err(bad("roles must map role names to permission lists")),
        }
        let invitation_ttl_ms = match options.get("invitationExpiresIn") {
            None | Some(serde_json::Value::Null) => DEFAULT_INVITATION_TTL_MS,
            Some(v) => match v.as_u64() {
                Some(secs) if (60..=365 * 24 * 3600).contains(&secs) => (secs as i64) * 1000,
                _ => {
                    return Err(bad(
                        "invitationExpiresIn must be seconds between 60 and a year",
                    ))
                }
            },
        };
        let invitation_path = match options.get("invitationUrl") {
            None | Some(serde_json::Value::Null) => "/accept-invitation".to_owned(),
            Some(serde_json::Value::String(p)) if p.starts_with('/') && !p.starts_with("//") => {
                p.clone()
            }
            Some(_) => {
                return Err(bad(
                    "invitationUrl must be a path on the app's origin, such as /accept-invitation",
                ))
            }
        };
        Ok(Self {
            roles,
            invitation_ttl_ms,
            invitation_path,
        })
    }

    /// Whether `role` exists (built in or configured).
    pub fn has_role(&self, role: &str) -> bool {
        BUILT_IN_ROLES.contains(&role) || self.roles.iter().any(|(r, _)| r == role)
    }

    /// The permissions `role` holds; `["*"]` for the owner.
    pub fn permissions_of(&self, role: &str) -> Vec<&str> {
        if role == "owner" {
            return vec!["*"];
        }
        if let Some((_, perms)) = self.roles.iter().find(|(r, _)| r == role) {
            return perms.iter().map(String::as_str).collect();
        }
        match role {
            "admin" => ADMIN_PERMISSIONS.to_vec(),
            "member" => MEMBER_PERMISSIONS.to_vec(),
            _ => Vec::new(),
        }
    }

    /// Whether `role` holds every one of `wanted`.
    pub fn role_allows(&self, role: &str, wanted: &[String]) -> bool {
        let held = self.permissions_of(role);
        !wanted.is_empty()
            && wanted
                .iter()
                .all(|w| held.iter().any(|h| permission_grants(h, w)))
    }
}

/// `*` grants everything, `resource:*` every action on the resource, anything else itself only.
pub fn permission_grants(held: &str, wanted: &str) -> bool {
    if held == "*" || held == wanted {
        return true;
    }
    match held.strip_suffix(":*") {
        Some(prefix) => wanted
            .strip_prefix(prefix)
            .is_some_and(|rest| rest.starts_with(':') && rest.len() > 1),
        None => false,
    }
}

/// An invitation to join an organization, sent by email.
#[derive(Debug, Clone, Serialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct Invitation {
    pub id: String,
    pub organization_id: String,
    pub email: String,
    pub role: String,
    /// `pending`, `accepted`, `declined`, `canceled`, or `expired` (a pending one past its expiry).
    pub status: String,
    pub inviter_id: Option<String>,
    pub expires_at: i64,
    pub created_at: i64,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct InviteInput {
    pub organization_id: String,
    pub email: String,
    pub role: String,
    #[serde(default)]
    pub inviter_id: Option<String>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct PermissionQuery {
    pub organization_id: String,
    pub user_id: String,
    /// One permission, or several that must all be held.
    pub permission: PermissionList,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
pub enum PermissionList {
    One(String),
    Many(Vec<String>),
}

impl PermissionList {
    pub fn into_vec(self) -> Vec<String> {
        match self {
            Self::One(p) => vec![p],
            Self::Many(v) => v,
        }
    }
}

#[derive(Debug, Clone, Serialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct Organization {
    pub id: String,
    pub name: String,
    pub slug: String,
    pub owner_id: String,
    pub metadata: Option<serde_json::Value>,
    pub created_at: i64,
    pub updated_at: i64,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct Member {
    pub id: String,
    pub organization_id: String,
    pub user_id: String,
    pub role: String,
    pub created_at: i64,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct CreateOrganization {
    pub name: String,
    pub owner_id: String,
    #[serde(default)]
    pub slug: Option<String>,
    #[serde(default)]
    pub metadata: Option<serde_json::Value>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct UpdateOrganization {
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub slug: Option<String>,
    #[serde(default)]
    pub metadata: Option<serde_json::Value>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct MemberInput {
    pub organization_id: String,
    pub user_id: String,
    pub role: String,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct MemberRef {
    pub organization_id: String,
    pub user_id: String,
}

/// `a-z0-9` words joined by `-`, at most 48 characters.
pub fn slugify(name: &str) -> String {
    let mut out = String::new();
    for ch in name.to_lowercase().chars() {
        if ch.is_ascii_alphanumeric() {
            out.push(ch);
        } else if !out.ends_with('-') && !out.is_empty() {
            out.push('-');
        }
    }
    let trimmed: String = out.trim_end_matches('-').chars().take(48).collect();
    if trimmed.is_empty() {
        "org".into()
    } else {
        trimmed
    }
}

fn check_slug(slug: &str) -> Result<()> {
    let ok = !slug.is_empty()
        && slug.len() <= 64
        && slug
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && !slug.starts_with('-')
        && !slug.ends_with('-');
    if ok {
        Ok(())
    } else {
        Err(KavachError::validation(
            "slug must be lowercase letters, digits and dashes (at most 64)",
        ))
    }
}

fn metadata_text(m: &Option<serde_json::Value>) -> Result<Option<String>> {
    match m {
        None | Some(serde_json::Value::Null) => Ok(None),
        Some(v @ serde_json::Value::Object(_)) => Ok(Some(v.to_string())),
        Some(_) => Err(KavachError::validation("metadata must be an object")),
    }
}

macro_rules! org_from_row {
    ($r:expr) => {{
        let r = $r;
        let metadata: Option<String> = col_opt_str!(r, "metadata")?;
        Organization {
            id: col_str!(r, "id")?,
            name: col_str!(r, "name")?,
            slug: col_str!(r, "slug")?,
            owner_id: col_str!(r, "owner_id")?,
            metadata: metadata.and_then(|m| serde_json::from_str(&m).ok()),
            created_at: r.try_get::<Ts, _>("created_at")?.0,
            updated_at: r.try_get::<Ts, _>("updated_at")?.0,
        }
    }};
}

macro_rules! member_from_row {
    ($r:expr) => {{
        let r = $r;
        Member {
            id: col_str!(r, "id")?,
            organization_id: col_str!(r, "org_id")?,
            user_id: col_str!(r, "user_id")?,
            role: col_str!(r, "role")?,
            created_at: r.try_get::<Ts, _>("created_at")?.0,
        }
    }};
}

const ORG_COLUMNS: &str = "id, name, slug, owner_id, metadata, created_at, updated_at";

/// Organization persistence over any of the three databases.
pub struct OrgStore<'a> {
    pub pool: &'a Pool,
    pub dialect: Dialect,
    pub settings: &'a OrgSettings,
    /// The instance's events: each change writes its event in its own transaction.
    pub emitter: &'a Emitter,
}

/// Why a transaction failed: the driver's error (kept whole, to tell a unique violation apart) or
/// the outbox's.
enum TxFail {
    Sql(sqlx::Error),
    Other(KavachError),
}

impl From<sqlx::Error> for TxFail {
    fn from(e: sqlx::Error) -> Self {
        Self::Sql(e)
    }
}

impl OrgStore<'_> {
    fn sql<'s>(&self, s: &'s str) -> std::borrow::Cow<'s, str> {
        sql_for(self.dialect, s)
    }

    fn check_role(&self, role: &str) -> Result<()> {
        if self.settings.has_role(role) {
            Ok(())
        } else {
            Err(KavachError::validation(format!(
                "role \"{role}\" is not one of owner, admin, member or the configured roles"
            )))
        }
    }

    /// Creates the organization and makes `ownerId` its owner, in one transaction (with the
    /// `organization.created` and `member.added` events).
    pub async fn create(&self, input: CreateOrganization, now_ms: i64) -> Result<Organization> {
        let name = input.name.trim().to_owned();
        if name.is_empty() || name.len() > 255 {
            return Err(KavachError::validation(
                "name must be a non-empty string of at most 255 characters",
            ));
        }
        if input.owner_id.is_empty() || input.owner_id.len() > 255 {
            return Err(KavachError::validation(
                "ownerId must be a non-empty string",
            ));
        }
        let metadata = metadata_text(&input.metadata)?;
        let explicit = input.slug.is_some();
        let mut slug = match &input.slug {
            Some(s) => {
                check_slug(s)?;
                s.clone()
            }
            None => slugify(&name),
        };
        let insert_org = self.sql(
            "INSERT INTO kavach_organizations (id, name, slug, owner_id, metadata, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
        );
        let insert_member =
            self.sql("INSERT INTO kavach_org_members (id, org_id, user_id, role, created_at) VALUES (?, ?, ?, 'owner', ?)");
        let metadata_value = input.metadata.filter(|m| !m.is_null());
        for attempt in 0..4 {
            let org = Organization {
                id: new_id(),
                name: name.clone(),
                slug: slug.clone(),
                owner_id: input.owner_id.clone(),
                metadata: metadata_value.clone(),
                created_at: now_ms,
                updated_at: now_ms,
            };
            let owner = Member {
                id: new_id(),
                organization_id: org.id.clone(),
                user_id: org.owner_id.clone(),
                role: "owner".into(),
                created_at: now_ms,
            };
            let events: Vec<_> = [
                self.emitter
                    .event("organization.created", now_ms, || serde_json::json!(org)),
                self.emitter
                    .event("member.added", now_ms, || serde_json::json!(owner)),
            ]
            .into_iter()
            .flatten()
            .collect();
            let result: std::result::Result<(), TxFail> = on_pool!(self.pool, p => async {
                let mut tx = p.begin_write().await?;
                sqlx::query(&insert_org)
                    .bind(&org.id).bind(&org.name).bind(&org.slug).bind(&org.owner_id).bind(&metadata).bind(Ts(now_ms)).bind(Ts(now_ms))
                    .execute(&mut *tx).await?;
                sqlx::query(&insert_member).bind(&owner.id).bind(&org.id).bind(&org.owner_id).bind(Ts(now_ms)).execute(&mut *tx).await?;
                self.emitter.write(&mut *tx, &events).await.map_err(TxFail::Other)?;
                tx.commit().await?;
                Ok(())
            }.await);
            match result {
                Ok(()) => {
                    self.emitter.committed(events);
                    return Ok(org);
                }
                Err(TxFail::Sql(sqlx::Error::Database(e))) if e.is_unique_violation() => {
                    if explicit {
                        return Err(KavachError::Conflict(format!(
                            "the slug \"{slug}\" is taken"
                        )));
                    }
                    // A derived slug that is taken gets a short random suffix.
                    let suffix = &crate::crypto::token::new_id().replace('-', "")[26..32];
                    slug = format!(
                        "{}-{suffix}",
                        slugify(&name).chars().take(40).collect::<String>()
                    );
                    let _ = attempt;
                }
                Err(TxFail::Sql(e)) => return Err(e.into()),
                Err(TxFail::Other(e)) => return Err(e),
            }
        }
        Err(KavachError::Conflict("could not find a free slug".into()))
    }

    pub async fn get(&self, id: &str) -> Result<Option<Organization>> {
        let sql = self
            .sql(&format!(
                "SELECT {ORG_COLUMNS} FROM kavach_organizations WHERE id = ?"
            ))
            .into_owned();
        Ok(
            on_pool!(self.pool, p => match sqlx::query(&sql).bind(id).fetch_optional(p).await? {
                None => None,
                Some(r) => Some(org_from_row!(&r)),
            }),
        )
    }

    pub async fn update(
        &self,
        id: &str,
        patch: UpdateOrganization,
        now_ms: i64,
    ) -> Result<Organization> {
        if let Some(n) = &patch.name {
            if n.trim().is_empty() || n.len() > 255 {
                return Err(KavachError::validation(
                    "name must be a non-empty string of at most 255 characters",
                ));
            }
        }
        if let Some(s) = &patch.slug {
            check_slug(s)?;
        }
        let meta = metadata_text(&patch.metadata)?;
        let sql = self.sql(
            "UPDATE kavach_organizations SET name = COALESCE(?, name), slug = COALESCE(?, slug), \
             metadata = CASE WHEN ? THEN ? ELSE metadata END, updated_at = ? WHERE id = ?",
        );
        let not_found = || KavachError::NotFound("organization not found".into());
        let taken = |e: sqlx::Error| match e {
            sqlx::Error::Database(d) if d.is_unique_violation() => {
                KavachError::Conflict("that slug is taken".into())
            }
            other => other.into(),
        };
        macro_rules! run {
            ($c:expr) => {
                sqlx::query(&sql)
                    .bind(patch.name.as_deref().map(str::trim))
                    .bind(&patch.slug)
                    .bind(patch.metadata.is_some())
                    .bind(&meta)
                    .bind(Ts(now_ms))
                    .bind(id)
                    .execute($c)
                    .await
                    .map_err(taken)?
                    .rows_affected()
            };
        }
        if !self.emitter.wants("organization.updated") {
            if on_pool!(self.pool, p => run!(p)) == 0 {
                return Err(not_found());
            }
            return self.get(id).await?.ok_or_else(not_found);
        }
        // The event carries the organization as the update left it, read in the same transaction.
        let select = self
            .sql(&format!(
                "SELECT {ORG_COLUMNS} FROM kavach_organizations WHERE id = ?"
            ))
            .into_owned();
        let (org, events) = on_pool!(self.pool, p => {
            let mut tx = p.begin_write().await?;
            if run!(&mut *tx) == 0 {
                return Err(not_found());
            }
            let org = match sqlx::query(&select).bind(id).fetch_optional(&mut *tx).await? {
                Some(r) => org_from_row!(&r),
                None => return Err(not_found()),
            };
            let events: Vec<_> = self
                .emitter
                .event("organization.updated", now_ms, || serde_json::json!(org))
                .into_iter()
                .collect();
            self.emitter.write(&mut *tx, &events).await?;
            tx.commit().await?;
            (org, events)
        });
        self.emitter.committed(events);
        Ok(org)
    }

    /// Deletes the organization with its members and invitations (one `organization.deleted`).
    pub async fn delete(&self, id: &str, now_ms: i64) -> Result<()> {
        let members = self.sql("DELETE FROM kavach_org_members WHERE org_id = ?");
        let invitations = self.sql("DELETE FROM kavach_org_invitations WHERE org_id = ?");
        let sessions = self.sql(
            "UPDATE kavach_session SET active_organization_id = NULL WHERE active_organization_id = ?",
        );
        let org = self.sql("DELETE FROM kavach_organizations WHERE id = ?");
        let (n, events) = on_pool!(self.pool, p => {
            let mut tx = p.begin_write().await?;
            sqlx::query(&members).bind(id).execute(&mut *tx).await?;
            sqlx::query(&invitations).bind(id).execute(&mut *tx).await?;
            sqlx::query(&sessions).bind(id).execute(&mut *tx).await?;
            let n = sqlx::query(&org).bind(id).execute(&mut *tx).await?.rows_affected();
            let events: Vec<_> = if n > 0 {
                self.emitter
                    .event("organization.deleted", now_ms, || serde_json::json!({ "id": id }))
                    .into_iter()
                    .collect()
            } else {
                Vec::new()
            };
            self.emitter.write(&mut *tx, &events).await?;
            tx.commit().await?;
            (n, events)
        });
        if n == 0 {
            return Err(KavachError::NotFound("organization not found".into()));
        }
        self.emitter.committed(events);
        Ok(())
    }

    pub async fn add_member(&self, input: MemberInput, now_ms: i64) -> Result<Member> {
        self.check_role(&input.role)?;
        if input.user_id.is_empty() || input.user_id.len() > 255 {
            return Err(KavachError::validation("userId must be a non-empty string"));
        }
        if self.get(&input.organization_id).await?.is_none() {
            return Err(KavachError::NotFound("organization not found".into()));
        }
        let member = Member {
            id: new_id(),
            organization_id: input.organization_id,
            user_id: input.user_id,
            role: input.role,
            created_at: now_ms,
        };
        let sql = self.sql("INSERT INTO kavach_org_members (id, org_id, user_id, role, created_at) VALUES (?, ?, ?, ?, ?)");
        let events: Vec<_> = self
            .emitter
            .event("member.added", now_ms, || serde_json::json!(member))
            .into_iter()
            .collect();
        let taken = |e: sqlx::Error| match e {
            sqlx::Error::Database(d) if d.is_unique_violation() => {
                KavachError::Conflict("this user is already a member".into())
            }
            other => other.into(),
        };
        macro_rules! insert {
            ($c:expr) => {
                sqlx::query(&sql)
                    .bind(&member.id)
                    .bind(&member.organization_id)
                    .bind(&member.user_id)
                    .bind(&member.role)
                    .bind(Ts(now_ms))
                    .execute($c)
                    .await
                    .map_err(taken)?
            };
        }
        crate::with_outbox!(self.pool, self.emitter, &events, |c| {
            insert!(c);
        });
        self.emitter.committed(events);
        Ok(member)
    }

    /// The membership of `user_id` in `org_id`, if any.
    pub async fn member(&self, org_id: &str, user_id: &str) -> Result<Option<Member>> {
        let sql = self.sql("SELECT id, org_id, user_id, role, created_at FROM kavach_org_members WHERE org_id = ? AND user_id = ?");
        Ok(
            on_pool!(self.pool, p => match sqlx::query(&sql).bind(org_id).bind(user_id).fetch_optional(p).await? {
                None => None,
                Some(r) => Some(member_from_row!(&r)),
            }),
        )
    }

    /// Refuses with `LAST_OWNER` when `user_id` is the last owner of an organization, on the
    /// connection of the transaction that is about to delete or ban them (called first in it). The
    /// same check as [`Self::guarded`]: on PostgreSQL and MySQL the organizations the user owns are
    /// locked first (the same rows `guarded` locks, so a concurrent leave or demotion waits), then
    /// their owners are counted; SQLite's write transaction has the database to itself.
    async fn refuse_last_owner(
        &self,
        conn: crate::plugin::TxConn<'_>,
        user_id: &str,
        now_ms: i64,
    ) -> Result<()> {
        use crate::plugin::TxConn;
        let owned = self.sql(match self.dialect {
            Dialect::Sqlite => OWNED,
            // One locking read (no snapshot taken before the locks are held on MySQL).
            Dialect::Postgres => OWNED_LOCKED_PG,
            Dialect::MySql => OWNED_LOCKED_MY,
        });
        let owners = self.sql(OTHER_OWNERS);
        macro_rules! check {
            ($c:expr) => {{
                let c = $c;
                let orgs = sqlx::query(&owned).bind(user_id).fetch_all(&mut *c).await?;
                for r in &orgs {
                    let org_id: String = col_str!(r, 0)?;
                    let n: i64 = sqlx::query(&owners)
                        .bind(&org_id)
                        .bind(user_id)
                        .bind(Ts(now_ms))
                        .fetch_one(&mut *c)
                        .await?
                        .try_get(0)?;
                    if n == 0 {
                        return Err(KavachError::LastOwner);
                    }
                }
                Ok(())
            }};
        }
        match conn {
            TxConn::Sqlite(c) => check!(c),
            TxConn::Pg(c) => check!(c),
            TxConn::My(c) => check!(c),
        }
    }

    /// Runs `change` on a member unless it would leave the organization without an owner. On
    /// PostgreSQL and MySQL the organization row is locked for the check; SQLite has one writer.
    /// When a row changed, `member.removed` (`new_role` is `None`) or `member.updated` is written in
    /// the same transaction.
    async fn guarded(
        &self,
        org_id: &str,
        user_id: &str,
        new_role: Option<&str>,
        now_ms: i64,
    ) -> Result<Member> {
        let before = self
            .member(org_id, user_id)
            .await?
            .ok_or_else(|| KavachError::NotFound("member not found".into()))?;
        let lock = self.sql(LOCK_ORG);
        let owners = self.sql(OTHER_OWNERS);
        let delete = self.sql("DELETE FROM kavach_org_members WHERE org_id = ? AND user_id = ?");
        let update =
            self.sql("UPDATE kavach_org_members SET role = ? WHERE org_id = ? AND user_id = ?");
        let losing_owner = before.role == "owner" && new_role != Some("owner");
        let after = Member {
            role: new_role.map(str::to_owned).unwrap_or(before.role.clone()),
            ..before.clone()
        };
        let event = match new_role {
            None => ("member.removed", &before),
            Some(_) => ("member.updated", &after),
        };
        macro_rules! run {
            ($tx:expr, $lock:expr) => {{
                let tx = $tx;
                if $lock {
                    sqlx::query(&lock)
                        .bind(org_id)
                        .fetch_optional(&mut **tx)
                        .await?;
                }
                let others: i64 = sqlx::query(&owners)
                    .bind(org_id)
                    .bind(user_id)
                    .bind(Ts(now_ms))
                    .fetch_one(&mut **tx)
                    .await?
                    .try_get(0)?;
                if losing_owner && others == 0 {
                    None
                } else {
                    let changed = match new_role {
                        None => sqlx::query(&delete)
                            .bind(org_id)
                            .bind(user_id)
                            .execute(&mut **tx)
                            .await?
                            .rows_affected(),
                        Some(role) => sqlx::query(&update)
                            .bind(role)
                            .bind(org_id)
                            .bind(user_id)
                            .execute(&mut **tx)
                            .await?
                            .rows_affected(),
                    };
                    let events: Vec<EventRecord> = if changed > 0 {
                        self.emitter
                            .event(event.0, now_ms, || serde_json::json!(event.1))
                            .into_iter()
                            .collect()
                    } else {
                        Vec::new()
                    };
                    self.emitter.write(&mut **tx, &events).await?;
                    Some(events)
                }
            }};
        }
        let done = match self.pool {
            Pool::Sqlite(p) => {
                let mut conn = p.acquire().await?;
                sqlx::Executor::execute(&mut *conn, "BEGIN IMMEDIATE").await?;
                let r: std::result::Result<Option<Vec<EventRecord>>, KavachError> = async {
                    let c = &mut conn;
                    Ok(run!(c, false))
                }
                .await;
                match r {
                    Ok(v) => {
                        sqlx::Executor::execute(&mut *conn, "COMMIT").await?;
                        v
                    }
                    Err(e) => {
                        let _ = sqlx::Executor::execute(&mut *conn, "ROLLBACK").await;
                        return Err(e);
                    }
                }
            }
            Pool::Pg(p) => {
                let mut tx = p.begin_write().await?;
                let v = run!(&mut tx, true);
                tx.commit().await?;
                v
            }
            Pool::My(p) => {
                let mut tx = p.begin_write().await?;
                let v = run!(&mut tx, true);
                tx.commit().await?;
                v
            }
        };
        let Some(events) = done else {
            return Err(KavachError::LastOwner);
        };
        self.emitter.committed(events);
        Ok(match new_role {
            None => before,
            Some(_) => after,
        })
    }

    pub async fn remove_member(&self, r: MemberRef, now_ms: i64) -> Result<Member> {
        let removed = self
            .guarded(&r.organization_id, &r.user_id, None, now_ms)
            .await?;
        // Their sessions stop acting in an organization they left.
        let sql = self.sql(
            "UPDATE kavach_session SET active_organization_id = NULL WHERE user_id = ? AND active_organization_id = ?",
        );
        on_pool!(self.pool, p => sqlx::query(&sql).bind(&r.user_id).bind(&r.organization_id).execute(p).await?.rows_affected());
        Ok(removed)
    }

    pub async fn update_member_role(&self, input: MemberInput, now_ms: i64) -> Result<Member> {
        self.check_role(&input.role)?;
        self.guarded(
            &input.organization_id,
            &input.user_id,
            Some(&input.role),
            now_ms,
        )
        .await
    }

    pub async fn list_members(&self, org_id: &str) -> Result<Vec<Member>> {
        let sql = self.sql("SELECT id, org_id, user_id, role, created_at FROM kavach_org_members WHERE org_id = ? ORDER BY created_at, id");
        on_pool!(self.pool, p => {
            let rows = sqlx::query(&sql).bind(org_id).fetch_all(p).await?;
            let mut out = Vec::with_capacity(rows.len());
            for r in &rows {
                out.push(member_from_row!(r));
            }
            Ok(out)
        })
    }

    /// The organizations `user_id` is a member of.
    pub async fn list_for_user(&self, user_id: &str) -> Result<Vec<Organization>> {
        let sql = self.sql(
            "SELECT o.id, o.name, o.slug, o.owner_id, o.metadata, o.created_at, o.updated_at FROM kavach_organizations o \
             JOIN kavach_org_members m ON m.org_id = o.id WHERE m.user_id = ? ORDER BY o.created_at, o.id",
        );
        on_pool!(self.pool, p => {
            let rows = sqlx::query(&sql).bind(user_id).fetch_all(p).await?;
            let mut out = Vec::with_capacity(rows.len());
            for r in &rows {
                out.push(org_from_row!(r));
            }
            Ok(out)
        })
    }
}

const INVITATION_COLUMNS: &str =
    "id, org_id, email, role, status, inviter_id, expires_at, created_at";

macro_rules! invitation_from_row {
    ($r:expr, $now:expr) => {{
        let r = $r;
        let expires_at = r.try_get::<Ts, _>("expires_at")?.0;
        let status: String = col_str!(r, "status")?;
        Invitation {
            id: col_str!(r, "id")?,
            organization_id: col_str!(r, "org_id")?,
            email: col_str!(r, "email")?,
            role: col_str!(r, "role")?,
            status: if status == "pending" && expires_at <= $now {
                "expired".to_owned()
            } else {
                status
            },
            inviter_id: col_opt_str!(r, "inviter_id")?,
            expires_at,
            created_at: r.try_get::<Ts, _>("created_at")?.0,
        }
    }};
}

impl OrgStore<'_> {
    /// Whether `user_id` holds every permission of `wanted` in `org_id` (a non-member holds none).
    pub async fn has_permission(
        &self,
        org_id: &str,
        user_id: &str,
        wanted: &[String],
    ) -> Result<bool> {
        if wanted.is_empty() || wanted.iter().any(|p| p.is_empty() || p.len() > 255) {
            return Err(KavachError::validation(
                "permission must be a non-empty string or a non-empty list of them",
            ));
        }
        Ok(match self.member(org_id, user_id).await? {
            Some(m) => self.settings.role_allows(&m.role, wanted),
            None => false,
        })
    }

    /// Invites `email` into an organization with `role`. Refused when that person is a member
    /// already or has a pending invitation.
    pub async fn invite(&self, input: InviteInput, now_ms: i64) -> Result<Invitation> {
        self.check_role(&input.role)?;
        let email = crate::accounts::human::normalize_email(&input.email)?;
        if self.get(&input.organization_id).await?.is_none() {
            return Err(KavachError::NotFound("organization not found".into()));
        }
        let member = self.sql(
            "SELECT m.id FROM kavach_org_members m JOIN kavach_user u ON u.id = m.user_id WHERE m.org_id = ? AND u.email = ?",
        );
        let pending = self.sql(
            "SELECT id FROM kavach_org_invitations WHERE org_id = ? AND email = ? AND status = 'pending' AND expires_at > ?",
        );
        let is_member = on_pool!(self.pool, p => sqlx::query(&member).bind(&input.organization_id).bind(&email).fetch_optional(p).await?.is_some());
        if is_member {
            return Err(KavachError::Conflict(
                "this person is already a member".into(),
            ));
        }
        let has_pending = on_pool!(self.pool, p => sqlx::query(&pending).bind(&input.organization_id).bind(&email).bind(Ts(now_ms)).fetch_optional(p).await?.is_some());
        if has_pending {
            return Err(KavachError::Conflict(
                "this email has a pending invitation already".into(),
            ));
        }
        let inv = Invitation {
            id: new_id(),
            organization_id: input.organization_id,
            email,
            role: input.role,
            status: "pending".into(),
            inviter_id: input.inviter_id,
            expires_at: now_ms.saturating_add(self.settings.invitation_ttl_ms),
            created_at: now_ms,
        };
        let sql = self.sql(&format!(
            "INSERT INTO kavach_org_invitations ({INVITATION_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?)"
        )).into_owned();
        on_pool!(self.pool, p => sqlx::query(&sql)
            .bind(&inv.id).bind(&inv.organization_id).bind(&inv.email).bind(&inv.role).bind(&inv.status)
            .bind(&inv.inviter_id).bind(Ts(inv.expires_at)).bind(Ts(now_ms))
            .execute(p).await?.rows_affected());
        Ok(inv)
    }

    /// Removes an invitation whose email could not be sent, so that it can be sent again.
    pub async fn forget_invitation(&self, id: &str) -> Result<()> {
        let sql = self.sql("DELETE FROM kavach_org_invitations WHERE id = ?");
        on_pool!(self.pool, p => sqlx::query(&sql).bind(id).execute(p).await?.rows_affected());
        Ok(())
    }

    pub async fn invitation(&self, id: &str, now_ms: i64) -> Result<Option<Invitation>> {
        let sql = self
            .sql(&format!(
                "SELECT {INVITATION_COLUMNS} FROM kavach_org_invitations WHERE id = ?"
            ))
            .into_owned();
        Ok(
            on_pool!(self.pool, p => match sqlx::query(&sql).bind(id).fetch_optional(p).await? {
                None => None,
                Some(r) => Some(invitation_from_row!(&r, now_ms)),
            }),
        )
    }

    /// Invitations of an organization (every status), newest first.
    pub async fn list_invitations(&self, org_id: &str, now_ms: i64) -> Result<Vec<Invitation>> {
        self.invitations_where("org_id = ?", org_id, now_ms).await
    }

    /// Pending invitations addressed to `email`.
    pub async fn invitations_for_email(&self, email: &str, now_ms: i64) -> Result<Vec<Invitation>> {
        let email = crate::accounts::human::normalize_email(email)?;
        let all = self.invitations_where("email = ?", &email, now_ms).await?;
        Ok(all.into_iter().filter(|i| i.status == "pending").collect())
    }

    async fn invitations_where(
        &self,
        cond: &'static str,
        value: &str,
        now_ms: i64,
    ) -> Result<Vec<Invitation>> {
        let sql = self
            .sql(&format!(
                "SELECT {INVITATION_COLUMNS} FROM kavach_org_invitations WHERE {cond} ORDER BY created_at DESC, id"
            ))
            .into_owned();
        on_pool!(self.pool, p => {
            let rows = sqlx::query(&sql).bind(value).fetch_all(p).await?;
            let mut out = Vec::with_capacity(rows.len());
            for r in &rows {
                out.push(invitation_from_row!(r, now_ms));
            }
            Ok(out)
        })
    }

    /// Moves a pending, unexpired invitation to `status` (one UPDATE: of two racing answers, one wins).
    async fn settle(&self, id: &str, status: &str, now_ms: i64) -> Result<Invitation> {
        let inv = self
            .invitation(id, now_ms)
            .await?
            .ok_or_else(|| KavachError::NotFound("invitation not found".into()))?;
        match inv.status.as_str() {
            "pending" => {}
            "expired" => return Err(KavachError::InvitationExpired),
            other => {
                return Err(KavachError::Conflict(format!(
                    "this invitation was {other} already"
                )))
            }
        }
        let sql = self.sql(
            "UPDATE kavach_org_invitations SET status = ? WHERE id = ? AND status = 'pending' AND expires_at > ?",
        );
        let n = on_pool!(self.pool, p => sqlx::query(&sql).bind(status).bind(id).bind(Ts(now_ms)).execute(p).await?.rows_affected());
        if n == 0 {
            return Err(KavachError::Conflict(
                "this invitation was answered already".into(),
            ));
        }
        Ok(Invitation {
            status: status.to_owned(),
            ..inv
        })
    }

    /// The invitation `id` if it is addressed to `user_email`; otherwise as if it did not exist,
    /// so that nobody learns who else was invited.
    async fn addressed_to(&self, id: &str, user_email: &str, now_ms: i64) -> Result<Invitation> {
        match self.invitation(id, now_ms).await? {
            Some(inv) if inv.email.eq_ignore_ascii_case(user_email) => Ok(inv),
            _ => Err(KavachError::NotFound("invitation not found".into())),
        }
    }

    /// Accepts an invitation for `user_id`, whose account email must be the invited one.
    pub async fn accept_invitation(
        &self,
        id: &str,
        user_id: &str,
        user_email: &str,
        now_ms: i64,
    ) -> Result<Member> {
        self.addressed_to(id, user_email, now_ms).await?;
        let inv = self.settle(id, "accepted", now_ms).await?;
        self.add_member(
            MemberInput {
                organization_id: inv.organization_id,
                user_id: user_id.to_owned(),
                role: inv.role,
            },
            now_ms,
        )
        .await
    }

    /// Declines an invitation addressed to `user_email`.
    pub async fn decline_invitation(
        &self,
        id: &str,
        user_email: &str,
        now_ms: i64,
    ) -> Result<Invitation> {
        self.addressed_to(id, user_email, now_ms).await?;
        self.settle(id, "declined", now_ms).await
    }

    /// Cancels a pending invitation of `org_id`.
    pub async fn cancel_invitation(
        &self,
        org_id: &str,
        id: &str,
        now_ms: i64,
    ) -> Result<Invitation> {
        match self.invitation(id, now_ms).await? {
            Some(inv) if inv.organization_id == org_id => self.settle(id, "canceled", now_ms).await,
            _ => Err(KavachError::NotFound("invitation not found".into())),
        }
    }

    /// Sets (or clears, with `None`) the organization a session acts in; the user must be a member.
    pub async fn set_active(
        &self,
        session_id: &str,
        user_id: &str,
        org_id: Option<&str>,
    ) -> Result<()> {
        if let Some(org) = org_id {
            if self.member(org, user_id).await?.is_none() {
                return Err(KavachError::Forbidden(
                    "you are not a member of this organization".into(),
                ));
            }
        }
        let sql = self.sql(
            "UPDATE kavach_session SET active_organization_id = ? WHERE id = ? AND user_id = ?",
        );
        let n = on_pool!(self.pool, p => sqlx::query(&sql).bind(org_id).bind(session_id).bind(user_id).execute(p).await?.rows_affected());
        if n == 0 {
            return Err(KavachError::NotFound("session not found".into()));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn permissions_of_roles() {
        let settings = OrgSettings::parse(&serde_json::json!({
            "roles": { "billing": ["billing:*", "organization:read"], "member": ["organization:read"] }
        }))
        .unwrap();
        let want = |p: &str| vec![p.to_owned()];
        assert!(settings.role_allows("owner", &want("anything:at-all")));
        assert!(settings.role_allows("admin", &want("invitations:create")));
        assert!(!settings.role_allows("admin", &want("organization:delete")));
        assert!(settings.role_allows("billing", &want("billing:refund")));
        assert!(!settings.role_allows("billing", &want("billing")));
        assert!(!settings.role_allows("billing", &want("members:remove")));
        // A configured built-in name replaces its default permissions.
        assert!(!settings.role_allows("member", &want("agents:create")));
        assert!(settings.role_allows("member", &want("organization:read")));
        assert!(!settings.role_allows("ghost", &want("organization:read")));
        assert!(!settings.role_allows("owner", &[]));
        assert!(settings.role_allows(
            "billing",
            &["billing:read".into(), "organization:read".into()]
        ));
        assert!(!settings.role_allows("billing", &["billing:read".into(), "members:read".into()]));
        assert!(OrgSettings::parse(&serde_json::json!({ "roles": { "owner": [] } })).is_err());
        assert!(OrgSettings::parse(&serde_json::json!({ "roles": { "x": "nope" } })).is_err());
        assert!(OrgSettings::parse(
            &serde_json::json!({ "invitationUrl": "https://evil.example/x" })
        )
        .is_err());
        assert!(
            OrgSettings::parse(&serde_json::json!({ "invitationUrl": "//evil.example/x" }))
                .is_err()
        );
    }

    #[test]
    fn permission_patterns() {
        assert!(permission_grants("*", "a:b"));
        assert!(permission_grants("a:*", "a:b"));
        assert!(permission_grants("a:*", "a:b:c"));
        assert!(!permission_grants("a:*", "a"));
        assert!(!permission_grants("a:*", "a:"));
        assert!(!permission_grants("a:*", "ab:c"));
        assert!(!permission_grants("a:b", "a:c"));
    }

    #[test]
    fn slugs() {
        assert_eq!(slugify("Acme, Inc."), "acme-inc");
        assert_eq!(slugify("  ***  "), "org");
        assert_eq!(slugify("Ünïcode Team 42"), "n-code-team-42");
        assert!(check_slug("acme-inc").is_ok());
        assert!(check_slug("Acme").is_err());
        assert!(check_slug("-x").is_err());
    }
}
