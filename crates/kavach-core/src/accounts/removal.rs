//! Deleting a user and everything that hangs off it, in one transaction on every dialect: the
//! admin plugin's `removeUser` and the anonymous plugin's clean-up of a guest who signed up both
//! come here.

use serde_json::json;
use sqlx::Row;

use crate::accounts::human::{user_from_row, User};
use crate::error::{KavachError, Result};
use crate::kavach::Kavach;
use crate::plugin::TxConn;
use crate::store::db::BeginWrite;
use crate::store::db::{sql_for, Ts};
use crate::{col_opt_str, col_str, on_pool};

/// Rows keyed by the user's id that go with the user (the tables of every built-in plugin exist
/// whether or not it is on). Agents are revoked instead (their rows stay for the audit trail).
const DELETES: &[&str] = &[
    "DELETE FROM kavach_account WHERE user_id = ?",
    "DELETE FROM kavach_org_members WHERE user_id = ?",
    "DELETE FROM kavach_verification WHERE user_id = ?",
    "DELETE FROM kavach_two_factor WHERE user_id = ?",
    "DELETE FROM kavach_two_factor_backup WHERE user_id = ?",
    "DELETE FROM kavach_two_factor_trusted WHERE user_id = ?",
    "DELETE FROM kavach_two_factor_pending WHERE user_id = ?",
    "DELETE FROM kavach_wallet_address WHERE user_id = ?",
    "DELETE FROM kavach_device_code WHERE user_id = ?",
    "DELETE FROM kavach_passkey WHERE user_id = ?",
];

impl Kavach {
    /// Asks every running plugin whether `user_id` may be deleted or banned
    /// ([`crate::plugin::Plugin::before_user_removed`]), on the connection of the transaction that
    /// is about to do it; call it first in that transaction.
    pub async fn before_user_removed(&self, mut conn: TxConn<'_>, user_id: &str) -> Result<()> {
        for p in self.plugins().iter() {
            p.before_user_removed(self, conn.reborrow(), user_id)
                .await?;
        }
        Ok(())
    }

    /// Deletes the user with their sessions (and the impersonations they opened), accounts,
    /// organization memberships, pending links and second factor, and revokes their agents, in one
    /// transaction, with `session.revoked`, `agent.revoked` and `user.deleted`. `Ok(None)`: no such
    /// user. Answers the user as it was. A plugin may refuse it first, in the same transaction
    /// (organization: `LAST_OWNER`).
    pub async fn delete_user(&self, user_id: &str) -> Result<Option<User>> {
        self.check_open()?;
        if user_id.is_empty() || user_id.len() > 255 {
            return Err(KavachError::validation(
                "userId must be a non-empty string of at most 255 characters",
            ));
        }
        let now = self.now_ms();
        let d = self.dialect();
        let find = sql_for(
            d,
            concat!(
                "SELECT ",
                crate::user_columns!(),
                " FROM kavach_user WHERE id = ?"
            ),
        );
        let sessions = sql_for(
            d,
            "SELECT id, user_id FROM kavach_session WHERE user_id = ? OR impersonated_by = ?",
        );
        let delete_session = sql_for(d, "DELETE FROM kavach_session WHERE id = ?");
        let agents = sql_for(
            d,
            "SELECT id FROM kavach_agents WHERE owner_id = ? AND status <> 'revoked'",
        );
        let revoke = sql_for(
            d,
            "UPDATE kavach_agents SET status = 'revoked', updated_at = ? WHERE id = ? AND status <> 'revoked'",
        );
        let deletes: Vec<_> = DELETES.iter().map(|s| sql_for(d, s)).collect();
        let delete_user = sql_for(d, "DELETE FROM kavach_user WHERE id = ?");
        let em = self.emitter();
        let done: Option<(User, Vec<_>, Vec<String>)> = on_pool!(self.pool(), p => {
            let mut tx = p.begin_write().await?;
            self.before_user_removed(TxConn::from(&mut *tx), user_id).await?;
            match sqlx::query(&find).bind(user_id).fetch_optional(&mut *tx).await? {
                None => None,
                Some(r) => {
                    let user = user_from_row!(&r, "");
                    let mut events = Vec::new();
                    let mut revoked = Vec::new();
                    for r in &sqlx::query(&agents).bind(user_id).fetch_all(&mut *tx).await? {
                        let id: String = col_str!(r, 0)?;
                        let n = sqlx::query(&revoke).bind(Ts(now)).bind(&id).execute(&mut *tx).await?.rows_affected();
                        if n > 0 {
                            events.extend(em.event("agent.revoked", now, || json!({ "id": id, "ownerId": user_id })));
                            revoked.push(id);
                        }
                    }
                    for r in &sqlx::query(&sessions).bind(user_id).bind(user_id).fetch_all(&mut *tx).await? {
                        let (id, owner): (String, String) = (col_str!(r, 0)?, col_str!(r, 1)?);
                        let n = sqlx::query(&delete_session).bind(&id).execute(&mut *tx).await?.rows_affected();
                        if n > 0 {
                            events.extend(em.event("session.revoked", now, || json!({ "id": id, "userId": owner })));
                        }
                    }
                    for sql in &deletes {
                        sqlx::query(sql).bind(user_id).execute(&mut *tx).await?;
                    }
                    let n = sqlx::query(&delete_user).bind(user_id).execute(&mut *tx).await?.rows_affected();
                    if n > 0 {
                        events.extend(em.event("user.deleted", now, || json!(user)));
                    }
                    em.write(&mut *tx, &events).await?;
                    tx.commit().await?;
                    Some((user, events, revoked))
                }
            }
        });
        let Some((mut user, events, revoked)) = done else {
            return Ok(None);
        };
        em.committed(events);
        if let Some(hook) = &self.hooks().on_agent_revoke {
            for id in revoked {
                hook.fire(json!({ "agentId": id, "ownerId": user_id }));
            }
        }
        self.hide_fields(&mut user);
        Ok(Some(user))
    }
}
