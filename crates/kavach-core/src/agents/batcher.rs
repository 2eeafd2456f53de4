//! Group commit of audit rows on PostgreSQL and MySQL: concurrent decisions share one multi-row
//! INSERT, and each caller resolves only after the statement holding its row has committed.

use std::sync::Arc;

use sqlx::{MySqlPool, PgPool, QueryBuilder, Row};
use tokio::sync::{mpsc, oneshot, Semaphore};

use crate::agents::authz::{AuditRow, Decision, PendingAudit, HOUR_MS};
use crate::error::{KavachError, Result};
use crate::store::db::BeginWrite;
use crate::store::db::{sql_for, Pool, Ts};

const MAX_BATCH: usize = 512;
const CONCURRENT_FLUSHES: usize = 4;

struct Job {
    row: AuditRow,
    done: oneshot::Sender<Result<()>>,
}

/// The queue in front of the audit table.
pub struct AuditBatcher {
    tx: parking_lot::Mutex<Option<mpsc::UnboundedSender<Job>>>,
    task: parking_lot::Mutex<Option<tokio::task::JoinHandle<()>>>,
}

macro_rules! push_rows {
    ($qb:expr, $rows:expr) => {
        $qb.push_values($rows, |mut b, row: &AuditRow| {
            b.push_bind(row.id.clone())
                .push_bind(row.agent_id.clone())
                .push_bind(row.user_id.clone())
                .push_bind(row.action.clone())
                .push_bind(row.resource.clone())
                .push_bind(row.parameters.clone())
                .push_bind(row.result())
                .push_bind(row.code)
                .push_bind(row.reason.clone())
                .push_bind(row.rate_key.clone())
                .push_bind(row.ip.clone())
                .push_bind(row.duration_us)
                .push_bind(Ts(row.created_at))
                .push_bind(row.delegation_chain.clone());
        })
    };
}

const INSERT_HEAD: &str = "INSERT INTO kavach_audit_logs (id, agent_id, user_id, action, resource, parameters, result, code, reason, rate_key, ip, duration_us, created_at, delegation_chain) ";

async fn insert_rows(pool: &Pool, rows: &[&AuditRow]) -> Result<()> {
    match pool {
        Pool::Pg(p) => insert_pg(p, rows).await,
        Pool::My(p) => insert_my(p, rows).await,
        Pool::Sqlite(_) => Err(KavachError::Internal(
            "SQLite audit rows go through its writer thread".into(),
        )),
    }
}

/// One statement whatever the batch size (arrays unnested), so PostgreSQL parses it once per connection.
const INSERT_PG_UNNEST: &str = "INSERT INTO kavach_audit_logs (id, agent_id, user_id, action, resource, parameters, result, code, reason, rate_key, ip, duration_us, created_at, delegation_chain) \
     SELECT * FROM UNNEST($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[], $8::text[], $9::text[], $10::text[], $11::text[], $12::int8[], $13::timestamptz[], $14::text[])";

async fn insert_pg(p: &PgPool, rows: &[&AuditRow]) -> Result<()> {
    let col = |f: fn(&AuditRow) -> String| rows.iter().map(|r| f(r)).collect::<Vec<String>>();
    let opt = |f: fn(&AuditRow) -> Option<String>| {
        rows.iter().map(|r| f(r)).collect::<Vec<Option<String>>>()
    };
    let created: Vec<chrono::DateTime<chrono::Utc>> = rows
        .iter()
        .map(|r| chrono::DateTime::from_timestamp_millis(r.created_at).unwrap_or_default())
        .collect();
    sqlx::query(INSERT_PG_UNNEST)
        .bind(col(|r| r.id.clone()))
        .bind(col(|r| r.agent_id.clone()))
        .bind(col(|r| r.user_id.clone()))
        .bind(col(|r| r.action.clone()))
        .bind(col(|r| r.resource.clone()))
        .bind(opt(|r| r.parameters.clone()))
        .bind(col(|r| r.result().to_owned()))
        .bind(opt(|r| r.code.map(str::to_owned)))
        .bind(opt(|r| r.reason.clone()))
        .bind(opt(|r| r.rate_key.clone()))
        .bind(opt(|r| r.ip.clone()))
        .bind(rows.iter().map(|r| r.duration_us).collect::<Vec<i64>>())
        .bind(created)
        .bind(opt(|r| r.delegation_chain.clone()))
        .execute(p)
        .await?;
    Ok(())
}

async fn insert_my(p: &MySqlPool, rows: &[&AuditRow]) -> Result<()> {
    let mut qb = QueryBuilder::<sqlx::MySql>::new(INSERT_HEAD);
    push_rows!(qb, rows.iter().copied());
    qb.build().execute(p).await?;
    Ok(())
}

impl AuditBatcher {
    pub fn start(pool: Pool) -> Self {
        let (tx, mut rx) = mpsc::unbounded_channel::<Job>();
        let task = tokio::spawn(async move {
            let flushes = Arc::new(Semaphore::new(CONCURRENT_FLUSHES));
            let mut buf = Vec::with_capacity(MAX_BATCH);
            while rx.recv_many(&mut buf, MAX_BATCH).await > 0 {
                let batch: Vec<Job> = std::mem::take(&mut buf);
                let Ok(permit) = flushes.clone().acquire_owned().await else {
                    break;
                };
                let pool = pool.clone();
                tokio::spawn(async move {
                    let rows: Vec<&AuditRow> = batch.iter().map(|j| &j.row).collect();
                    let result = insert_rows(&pool, &rows).await;
                    drop(rows);
                    match result {
                        Ok(()) => batch.into_iter().for_each(|j| {
                            let _ = j.done.send(Ok(()));
                        }),
                        Err(e) => batch.into_iter().for_each(|j| {
                            let _ = j.done.send(Err(e.for_each_caller()));
                        }),
                    }
                    drop(permit);
                });
            }
            // Wait for the flushes still running before reporting the queue drained.
            let _ = flushes.acquire_many(CONCURRENT_FLUSHES as u32).await;
        });
        Self {
            tx: parking_lot::Mutex::new(Some(tx)),
            task: parking_lot::Mutex::new(Some(task)),
        }
    }

    /// Queues a final row and waits for its commit.
    pub async fn commit(&self, row: AuditRow) -> Result<Decision> {
        let decision = row.decision();
        let (done, wait) = oneshot::channel();
        {
            let tx = self.tx.lock();
            let Some(tx) = tx.as_ref() else {
                return Err(KavachError::Closed);
            };
            tx.send(Job { row, done })
                .map_err(|_| KavachError::Closed)?;
        }
        wait.await
            .map_err(|_| KavachError::Internal("the audit writer stopped".into()))??;
        Ok(decision)
    }

    /// Stops accepting rows and waits until every queued row is committed.
    pub async fn shutdown(&self) {
        self.tx.lock().take();
        let task = self.task.lock().take();
        if let Some(t) = task {
            let _ = t.await;
        }
    }
}

/// Settles a rate-limited decision in its own transaction, serialized per agent by a row lock.
pub async fn commit_rate_limited(pool: &Pool, mut audit: PendingAudit) -> Result<Decision> {
    let dialect = crate::store::db::dialect_of(pool);
    let lock = sql_for(
        dialect,
        "SELECT id FROM kavach_agents WHERE id = ? FOR UPDATE",
    );
    let count = sql_for(
        dialect,
        "SELECT COUNT(*) FROM kavach_audit_logs WHERE agent_id = ? AND rate_key = ? AND result = 'allowed' AND created_at > ?",
    );
    let agent = audit.row.agent_id.clone();
    let since = Ts(audit.row.created_at - HOUR_MS);
    macro_rules! run {
        ($p:expr) => {{
            let mut tx = $p.begin_write().await?;
            sqlx::query(&lock)
                .bind(&agent)
                .fetch_optional(&mut *tx)
                .await?;
            let mut counts = Vec::with_capacity(audit.rate.len());
            for cand in &audit.rate {
                let n: i64 = sqlx::query(&count)
                    .bind(&agent)
                    .bind(&cand.key)
                    .bind(since)
                    .fetch_one(&mut *tx)
                    .await?
                    .try_get(0)?;
                counts.push((cand.key.clone(), n));
            }
            audit.settle(|key| {
                Ok(counts
                    .iter()
                    .find(|(k, _)| k == key)
                    .map(|(_, n)| *n)
                    .unwrap_or(0))
            })?;
            let rows = [&audit.row];
            let mut qb = QueryBuilder::new(INSERT_HEAD);
            push_rows!(qb, rows.iter().copied());
            qb.build().execute(&mut *tx).await?;
            tx.commit().await?;
        }};
    }
    match pool {
        Pool::Pg(p) => run!(p),
        Pool::My(p) => run!(p),
        Pool::Sqlite(_) => {
            return Err(KavachError::Internal(
                "SQLite settles rate limits in its writer".into(),
            ))
        }
    }
    Ok(audit.row.decision())
}
