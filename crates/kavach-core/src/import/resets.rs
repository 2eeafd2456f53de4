//! After an import: one call that sends every user without a password (a Clerk export without
//! digests, OAuth-only users) a password-reset link through `sendResetPassword`.

use crate::error::Result;
use crate::kavach::Kavach;
use crate::store::db::{dialect_of, sql_for};
use crate::{col_str, on_pool};

impl Kavach {
    /// Sends a reset link (`emailAndPassword.sendResetPassword`, links on `baseUrl`) to every user
    /// who has no password, in pages of 500; returns how many were sent.
    pub async fn send_password_resets(&self, redirect_to: Option<&str>) -> Result<u64> {
        let pool = self.pool();
        let sql = sql_for(
            dialect_of(pool),
            "SELECT u.id, u.email FROM kavach_user u WHERE u.id > ? AND NOT EXISTS (\
             SELECT 1 FROM kavach_account a WHERE a.user_id = u.id AND a.provider_id = 'credential' AND a.password IS NOT NULL) \
             ORDER BY u.id LIMIT 500",
        )
        .into_owned();
        let mut after = String::new();
        let mut sent = 0;
        loop {
            let page: Vec<(String, String)> = on_pool!(pool, p => {
                use sqlx::Row;
                let mut out = Vec::new();
                for r in sqlx::query(&sql).bind(&after).fetch_all(p).await? {
                    out.push((col_str!(r, 0)?, col_str!(r, 1)?));
                }
                out
            });
            let Some((last, _)) = page.last() else {
                return Ok(sent);
            };
            after = last.clone();
            for (_, email) in &page {
                self.forgot_password(email, redirect_to, None).await?;
                sent += 1;
            }
        }
    }
}
