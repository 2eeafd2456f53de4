//! The organization plugin: organizations, members and roles. The last owner of an organization can
//! neither leave nor be demoted, checked atomically against concurrent changes.

use serde::{Deserialize, Serialize};
use sqlx::Row;

use crate::config::Dialect;
use crate::db::{sql_for, Pool, Ts};
use crate::error::{KavachError, Result};
use crate::token::new_id;
use crate::{col_opt_str, col_str, on_pool};

/// The built-in roles; apps may add their own with `organization({ roles })`.
pub const BUILT_IN_ROLES: [&str; 3] = ["owner", "admin", "member"];

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
    /// Role names allowed besides the built-in ones.
    pub custom_roles: &'a [String],
}

impl OrgStore<'_> {
    fn sql<'s>(&self, s: &'s str) -> std::borrow::Cow<'s, str> {
        sql_for(self.dialect, s)
    }

    fn check_role(&self, role: &str) -> Result<()> {
        if BUILT_IN_ROLES.contains(&role) || self.custom_roles.iter().any(|r| r == role) {
            Ok(())
        } else {
            Err(KavachError::validation(format!(
                "role \"{role}\" is not one of owner, admin, member or the configured roles"
            )))
        }
    }

    /// Creates the organization and makes `ownerId` its owner, in one transaction.
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
        for attempt in 0..4 {
            let id = new_id();
            let result: std::result::Result<(), sqlx::Error> = on_pool!(self.pool, p => async {
                let mut tx = p.begin().await?;
                sqlx::query(&insert_org)
                    .bind(&id).bind(&name).bind(&slug).bind(&input.owner_id).bind(&metadata).bind(Ts(now_ms)).bind(Ts(now_ms))
                    .execute(&mut *tx).await?;
                sqlx::query(&insert_member).bind(new_id()).bind(&id).bind(&input.owner_id).bind(Ts(now_ms)).execute(&mut *tx).await?;
                tx.commit().await
            }.await);
            match result {
                Ok(()) => {
                    return Ok(Organization {
                        id,
                        name,
                        slug,
                        owner_id: input.owner_id,
                        metadata: input.metadata.filter(|m| !m.is_null()),
                        created_at: now_ms,
                        updated_at: now_ms,
                    })
                }
                Err(sqlx::Error::Database(e)) if e.is_unique_violation() => {
                    if explicit {
                        return Err(KavachError::Conflict(format!(
                            "the slug \"{slug}\" is taken"
                        )));
                    }
                    // A derived slug that is taken gets a short random suffix.
                    let suffix = &crate::token::new_id().replace('-', "")[26..32];
                    slug = format!(
                        "{}-{suffix}",
                        slugify(&name).chars().take(40).collect::<String>()
                    );
                    let _ = attempt;
                }
                Err(e) => return Err(e.into()),
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
        let r = on_pool!(self.pool, p => sqlx::query(&sql)
            .bind(patch.name.as_deref().map(str::trim)).bind(&patch.slug)
            .bind(patch.metadata.is_some()).bind(&meta).bind(Ts(now_ms)).bind(id)
            .execute(p).await.map(|r| r.rows_affected()));
        match r {
            Ok(0) => Err(KavachError::NotFound("organization not found".into())),
            Ok(_) => self
                .get(id)
                .await?
                .ok_or_else(|| KavachError::NotFound("organization not found".into())),
            Err(sqlx::Error::Database(e)) if e.is_unique_violation() => {
                Err(KavachError::Conflict("that slug is taken".into()))
            }
            Err(e) => Err(e.into()),
        }
    }

    pub async fn delete(&self, id: &str) -> Result<()> {
        let members = self.sql("DELETE FROM kavach_org_members WHERE org_id = ?");
        let org = self.sql("DELETE FROM kavach_organizations WHERE id = ?");
        let n = on_pool!(self.pool, p => {
            let mut tx = p.begin().await?;
            sqlx::query(&members).bind(id).execute(&mut *tx).await?;
            let n = sqlx::query(&org).bind(id).execute(&mut *tx).await?.rows_affected();
            tx.commit().await?;
            n
        });
        if n == 0 {
            return Err(KavachError::NotFound("organization not found".into()));
        }
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
        let r = on_pool!(self.pool, p => sqlx::query(&sql)
            .bind(&member.id).bind(&member.organization_id).bind(&member.user_id).bind(&member.role).bind(Ts(now_ms))
            .execute(p).await.map(|r| r.rows_affected()));
        match r {
            Ok(_) => Ok(member),
            Err(sqlx::Error::Database(e)) if e.is_unique_violation() => Err(KavachError::Conflict(
                "this user is already a member".into(),
            )),
            Err(e) => Err(e.into()),
        }
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

    /// Runs `change` on a member unless it would leave the organization without an owner. On
    /// PostgreSQL and MySQL the organization row is locked for the check; SQLite has one writer.
    async fn guarded(&self, org_id: &str, user_id: &str, new_role: Option<&str>) -> Result<Member> {
        let before = self
            .member(org_id, user_id)
            .await?
            .ok_or_else(|| KavachError::NotFound("member not found".into()))?;
        let lock = self.sql("SELECT id FROM kavach_organizations WHERE id = ? FOR UPDATE");
        let owners =
            self.sql("SELECT COUNT(*) FROM kavach_org_members WHERE org_id = ? AND role = 'owner'");
        let delete = self.sql("DELETE FROM kavach_org_members WHERE org_id = ? AND user_id = ?");
        let update =
            self.sql("UPDATE kavach_org_members SET role = ? WHERE org_id = ? AND user_id = ?");
        let losing_owner = before.role == "owner" && new_role != Some("owner");
        macro_rules! run {
            ($tx:expr, $lock:expr) => {{
                let tx = $tx;
                if $lock {
                    sqlx::query(&lock)
                        .bind(org_id)
                        .fetch_optional(&mut **tx)
                        .await?;
                }
                let n: i64 = sqlx::query(&owners)
                    .bind(org_id)
                    .fetch_one(&mut **tx)
                    .await?
                    .try_get(0)?;
                if losing_owner && n <= 1 {
                    None
                } else {
                    match new_role {
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
                    Some(())
                }
            }};
        }
        let done = match self.pool {
            Pool::Sqlite(p) => {
                let mut conn = p.acquire().await?;
                sqlx::Executor::execute(&mut *conn, "BEGIN IMMEDIATE").await?;
                let r: std::result::Result<Option<()>, KavachError> = async {
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
                let mut tx = p.begin().await?;
                let v = run!(&mut tx, true);
                tx.commit().await?;
                v
            }
            Pool::My(p) => {
                let mut tx = p.begin().await?;
                let v = run!(&mut tx, true);
                tx.commit().await?;
                v
            }
        };
        if done.is_none() {
            return Err(KavachError::LastOwner);
        }
        Ok(Member {
            role: new_role.map(str::to_owned).unwrap_or(before.role.clone()),
            ..before
        })
    }

    pub async fn remove_member(&self, r: MemberRef) -> Result<Member> {
        self.guarded(&r.organization_id, &r.user_id, None).await
    }

    pub async fn update_member_role(&self, input: MemberInput) -> Result<Member> {
        self.check_role(&input.role)?;
        self.guarded(&input.organization_id, &input.user_id, Some(&input.role))
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

#[cfg(test)]
mod tests {
    use super::*;

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
