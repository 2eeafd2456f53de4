//! Writing imported rows into our tables, shared by the importers: `INSERT .. ON CONFLICT DO
//! NOTHING` (MySQL: `INSERT IGNORE`), one transaction per batch, answering per row whether it was
//! written, so that a row our tables hold already (a re-run, or a unique email, slug or provider
//! link) is reported rather than failing the batch.

use std::collections::HashSet;

use sqlx::Row;

use super::{fetch_strings, placeholders};
use crate::config::Dialect;
use crate::error::Result;
use crate::store::db::BeginWrite;
use crate::store::db::{dialect_of, sql_for, Pool, Ts};
use crate::{col_str, on_pool};

/// A value bound into our tables.
#[derive(Debug, Clone)]
pub(crate) enum Bv {
    S(Option<String>),
    B(bool),
    /// A point in time, Unix milliseconds.
    T(Option<i64>),
}

/// Bound values in one statement: under SQLite's 32,766 and PostgreSQL's 65,535.
const MAX_BINDS: usize = 30_000;

/// Binds our values, in order, to a query on any of the three databases.
fn bind_values<'q, DB>(
    mut q: sqlx::query::Query<'q, DB, <DB as sqlx::Database>::Arguments<'q>>,
    row: &[Bv],
) -> sqlx::query::Query<'q, DB, <DB as sqlx::Database>::Arguments<'q>>
where
    DB: sqlx::Database,
    Option<String>: sqlx::Encode<'q, DB> + sqlx::Type<DB>,
    bool: sqlx::Encode<'q, DB> + sqlx::Type<DB>,
    Option<Ts>: sqlx::Encode<'q, DB> + sqlx::Type<DB>,
{
    for v in row {
        q = match v {
            Bv::S(s) => q.bind(s.clone()),
            Bv::B(b) => q.bind(*b),
            Bv::T(t) => q.bind(t.map(Ts)),
        };
    }
    q
}

/// Which of `keys` our `table` holds in `column`.
pub(crate) async fn keys_in(
    pool: &Pool,
    table: &str,
    column: &str,
    keys: &[&str],
) -> Result<HashSet<String>> {
    if keys.is_empty() {
        return Ok(HashSet::new());
    }
    let sql = format!(
        "SELECT {column} FROM {table} WHERE {column} IN ({})",
        placeholders(keys.len())
    );
    Ok(fetch_strings(pool, &sql, keys)
        .await?
        .into_iter()
        .filter_map(|r| r.into_iter().next().flatten())
        .collect())
}

fn insert_sql(dialect: Dialect, table: &str, cols: &str, n: usize) -> String {
    let ph = placeholders(n);
    let sql = match dialect {
        Dialect::MySql => format!("INSERT IGNORE INTO {table} ({cols}) VALUES ({ph})"),
        _ => format!("INSERT INTO {table} ({cols}) VALUES ({ph}) ON CONFLICT DO NOTHING"),
    };
    sql_for(dialect, &sql).into_owned()
}

/// One multi-row `INSERT .. ON CONFLICT DO NOTHING` of `n` rows of `width` values, answering the
/// first column of each row it wrote (`RETURNING`: SQLite and PostgreSQL).
fn insert_many_sql(dialect: Dialect, table: &str, cols: &str, width: usize, n: usize) -> String {
    let row = format!("({})", placeholders(width));
    let key = cols.split(',').next().unwrap_or("id").trim();
    let sql = format!(
        "INSERT INTO {table} ({cols}) VALUES {} ON CONFLICT DO NOTHING RETURNING {key}",
        vec![row.as_str(); n].join(", ")
    );
    sql_for(dialect, &sql).into_owned()
}

/// Inserts the rows in one transaction; per row, whether it was written (false: a conflict on a
/// unique key).
pub(crate) async fn insert(
    pool: &Pool,
    table: &str,
    cols: &str,
    rows: &[Vec<Bv>],
) -> Result<Vec<bool>> {
    let rows: Vec<(Vec<Bv>, Vec<Vec<Bv>>)> = rows.iter().map(|r| (r.clone(), Vec::new())).collect();
    insert_with_children(pool, (table, cols), ("", ""), &rows).await
}

/// As [`insert`], where each parent row brings child rows (into `child`) that are written in the
/// same transaction only if their parent was: a re-run never adds children to a parent an earlier
/// run wrote (two-factor backup codes a user has spent since stay spent).
///
/// SQLite and PostgreSQL get a few multi-row statements per batch, which say which rows they
/// wrote; MySQL, without RETURNING, one statement per row and its affected-row count.
pub(crate) async fn insert_with_children(
    pool: &Pool,
    parent: (&str, &str),
    child: (&str, &str),
    rows: &[(Vec<Bv>, Vec<Vec<Bv>>)],
) -> Result<Vec<bool>> {
    if rows.is_empty() {
        return Ok(Vec::new());
    }
    let dialect = dialect_of(pool);
    let width = rows[0].0.len();
    let child_width = rows.iter().find_map(|(_, c)| c.first()).map_or(0, Vec::len);
    let mut written = Vec::with_capacity(rows.len());
    let many = dialect != Dialect::MySql;
    let per_row_sql = insert_sql(dialect, parent.0, parent.1, width);
    let per_row_child_sql = insert_sql(dialect, child.0, child.1, child_width);
    on_pool!(pool, p => {
        let mut tx = p.begin_write().await?;
        if many {
            for chunk in rows.chunks((MAX_BINDS / width.max(1)).max(1)) {
                let sql = insert_many_sql(dialect, parent.0, parent.1, width, chunk.len());
                let mut q = sqlx::query(&sql);
                for (row, _) in chunk {
                    q = bind_values(q, row);
                }
                let mut keys = HashSet::with_capacity(chunk.len());
                for r in q.fetch_all(&mut *tx).await? {
                    keys.insert(col_str!(r, 0)?);
                }
                let mut kids: Vec<&Vec<Bv>> = Vec::new();
                for (row, children) in chunk {
                    let ok = matches!(row.first(), Some(Bv::S(Some(k))) if keys.contains(k));
                    if ok {
                        kids.extend(children);
                    }
                    written.push(ok);
                }
                for kc in kids.chunks((MAX_BINDS / child_width.max(1)).max(1)) {
                    let sql = insert_many_sql(dialect, child.0, child.1, child_width, kc.len());
                    let mut q = sqlx::query(&sql);
                    for c in kc {
                        q = bind_values(q, c);
                    }
                    q.execute(&mut *tx).await?;
                }
            }
        } else {
            for (row, children) in rows {
                let ok = bind_values(sqlx::query(&per_row_sql), row).execute(&mut *tx).await?.rows_affected() > 0;
                if ok {
                    for c in children {
                        bind_values(sqlx::query(&per_row_child_sql), c).execute(&mut *tx).await?;
                    }
                }
                written.push(ok);
            }
        }
        tx.commit().await?;
    });
    Ok(written)
}

/// Runs `sql` once per row of values, in one transaction; the rows it changed in all.
pub(crate) async fn execute_each(pool: &Pool, sql: &str, rows: &[Vec<Bv>]) -> Result<u64> {
    let sql = sql_for(dialect_of(pool), sql).into_owned();
    let mut changed = 0;
    on_pool!(pool, p => {
        let mut tx = p.begin_write().await?;
        for row in rows {
            changed += bind_values(sqlx::query(&sql), row).execute(&mut *tx).await?.rows_affected();
        }
        tx.commit().await?;
    });
    Ok(changed)
}
