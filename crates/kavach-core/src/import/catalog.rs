//! The source database's own catalog (sqlite_master / pragma_table_info, information_schema), and
//! the mapping of the logical fields an importer needs onto whatever the tables and columns are
//! called there: camelCase from better-auth's own migrations, snake_case from a Drizzle or Prisma
//! mapping, singular or plural table names.

use sqlx::Row;

use crate::col_str;
use crate::config::Dialect;
use crate::error::Result;
use crate::store::db::Pool;

/// One table of the source: its name as the database spells it, and its columns with their
/// declared types (lowercased).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CatalogTable {
    pub name: String,
    pub columns: Vec<(String, String)>,
}

/// Reads the tables and columns of the current database / schema.
pub async fn load(pool: &Pool) -> Result<Vec<CatalogTable>> {
    let rows: Vec<(String, String, String)> = match pool {
        Pool::Sqlite(p) => {
            let sql = "SELECT m.name, c.name, c.type FROM sqlite_master m JOIN pragma_table_info(m.name) c \
                       WHERE m.type = 'table' ORDER BY m.name, c.cid";
            let mut out = Vec::new();
            for r in sqlx::query(sql).fetch_all(p).await? {
                out.push((col_str!(r, 0)?, col_str!(r, 1)?, col_str!(r, 2)?));
            }
            out
        }
        Pool::Pg(p) => {
            let sql = "SELECT table_name::text, column_name::text, data_type::text FROM information_schema.columns \
                       WHERE table_schema = current_schema() ORDER BY table_name, ordinal_position";
            let mut out = Vec::new();
            for r in sqlx::query(sql).fetch_all(p).await? {
                out.push((col_str!(r, 0)?, col_str!(r, 1)?, col_str!(r, 2)?));
            }
            out
        }
        Pool::My(p) => {
            let sql = "SELECT CAST(table_name AS CHAR), CAST(column_name AS CHAR), CAST(data_type AS CHAR) \
                       FROM information_schema.columns WHERE table_schema = DATABASE() ORDER BY table_name, ordinal_position";
            let mut out = Vec::new();
            for r in sqlx::query(sql).fetch_all(p).await? {
                out.push((col_str!(r, 0)?, col_str!(r, 1)?, col_str!(r, 2)?));
            }
            out
        }
    };
    let mut tables: Vec<CatalogTable> = Vec::new();
    for (table, column, ty) in rows {
        match tables.last_mut() {
            Some(t) if t.name == table => t.columns.push((column, ty.to_lowercase())),
            _ => tables.push(CatalogTable {
                name: table,
                columns: vec![(column, ty.to_lowercase())],
            }),
        }
    }
    Ok(tables)
}

/// Whether the catalog has kavachos's own tables (so lookups against them make sense).
pub fn has_kavach_tables(tables: &[CatalogTable]) -> bool {
    ["kavach_user", "kavach_account", "kavach_session"]
        .iter()
        .all(|n| tables.iter().any(|t| t.name == *n))
}

/// What a value is read as.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Text,
    Bool,
    /// A point in time, read as Unix milliseconds whatever the column type.
    Time,
}

/// A field an importer wants: its logical snake_case name, what it is, and whether the table is
/// unusable without it.
#[derive(Debug, Clone, Copy)]
pub struct Field {
    pub name: &'static str,
    pub kind: Kind,
    pub required: bool,
}

pub const fn req(name: &'static str, kind: Kind) -> Field {
    Field {
        name,
        kind,
        required: true,
    }
}

pub const fn opt(name: &'static str, kind: Kind) -> Field {
    Field {
        name,
        kind,
        required: false,
    }
}

/// How the matched columns are spelled.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Naming {
    CamelCase,
    SnakeCase,
    /// Every matched column is one word (`id`, `email`, ...): the convention cannot be told.
    Plain,
    Mixed,
}

impl Naming {
    pub fn as_str(self) -> &'static str {
        match self {
            Naming::CamelCase => "camelCase",
            Naming::SnakeCase => "snake_case",
            Naming::Plain => "single-word",
            Naming::Mixed => "mixed",
        }
    }
}

/// A source table with each wanted field found (or not) among its columns.
#[derive(Debug, Clone)]
pub struct Resolved {
    pub table: String,
    /// Per wanted field, in order: the column name and its declared type, if present.
    pub columns: Vec<Option<(String, String)>>,
    pub fields: Vec<Field>,
}

fn squash(s: &str) -> String {
    s.chars()
        .filter(|c| *c != '_')
        .flat_map(char::to_lowercase)
        .collect()
}

/// Finds the table named by one of `names` (compared without case or underscores) and maps
/// `fields` onto its columns. `Err(missing)` lists the required fields that are absent.
pub fn resolve(
    tables: &[CatalogTable],
    names: &[&str],
    fields: &[Field],
) -> Option<std::result::Result<Resolved, Vec<&'static str>>> {
    let table = names.iter().find_map(|n| {
        tables
            .iter()
            .find(|t| t.name == *n)
            .or_else(|| tables.iter().find(|t| squash(&t.name) == squash(n)))
    })?;
    let mut columns = Vec::with_capacity(fields.len());
    let mut missing = Vec::new();
    for f in fields {
        let want = squash(f.name);
        // Prefer an exact snake_case or camelCase spelling, then any spelling that squashes alike.
        let camel = to_camel(f.name);
        let found = table
            .columns
            .iter()
            .find(|(c, _)| c == f.name || *c == camel)
            .or_else(|| table.columns.iter().find(|(c, _)| squash(c) == want))
            .cloned();
        if found.is_none() && f.required {
            missing.push(f.name);
        }
        columns.push(found);
    }
    if !missing.is_empty() {
        return Some(Err(missing));
    }
    Some(Ok(Resolved {
        table: table.name.clone(),
        columns,
        fields: fields.to_vec(),
    }))
}

fn to_camel(snake: &str) -> String {
    let mut out = String::with_capacity(snake.len());
    let mut upper = false;
    for c in snake.chars() {
        if c == '_' {
            upper = true;
        } else if upper {
            out.extend(c.to_uppercase());
            upper = false;
        } else {
            out.push(c);
        }
    }
    out
}

/// The naming convention of the columns matched across `resolved` tables.
pub fn naming<'a>(resolved: impl Iterator<Item = &'a Resolved>) -> Naming {
    let (mut camel, mut snake) = (false, false);
    for r in resolved {
        for (c, _) in r.columns.iter().flatten() {
            if c.contains('_') {
                snake = true;
            } else if c.chars().skip(1).any(|ch| ch.is_ascii_uppercase()) {
                camel = true;
            }
        }
    }
    match (camel, snake) {
        (true, false) => Naming::CamelCase,
        (false, true) => Naming::SnakeCase,
        (false, false) => Naming::Plain,
        (true, true) => Naming::Mixed,
    }
}

/// Quotes an identifier taken from the catalog (never user input) for `dialect`.
pub fn quote(dialect: Dialect, ident: &str) -> String {
    match dialect {
        Dialect::MySql => format!("`{}`", ident.replace('`', "``")),
        _ => format!("\"{}\"", ident.replace('"', "\"\"")),
    }
}

/// A numeric declared type (integers, serials, decimals, floats).
pub(crate) fn is_number_type(ty: &str) -> bool {
    [
        "int", "serial", "numeric", "decimal", "real", "double", "float",
    ]
    .iter()
    .any(|t| ty.contains(t))
}

/// The select expression reading `column` (declared `ty`) as `kind`: text as text, booleans as
/// 0/1 BIGINT, points in time as Unix milliseconds BIGINT (ISO text, integers in seconds or
/// milliseconds, or the dialect's timestamp types).
pub fn select_expr(dialect: Dialect, column: &str, ty: &str, kind: Kind) -> String {
    let c = quote(dialect, column);
    match (dialect, kind) {
        // A BLOB is no text better-auth wrote, and its bytes need not be UTF-8: read as absent,
        // so that one such row is skipped instead of failing the whole import.
        (Dialect::Sqlite, Kind::Text) => {
            format!("CASE WHEN typeof({c}) = 'blob' THEN NULL ELSE CAST({c} AS TEXT) END")
        }
        (Dialect::Sqlite, Kind::Bool) => format!(
            "CASE WHEN {c} IS NULL THEN NULL WHEN {c} = 1 OR lower(CAST({c} AS TEXT)) IN ('1', 'true', 't') THEN 1 ELSE 0 END"
        ),
        (Dialect::Sqlite, Kind::Time) => format!(
            "CASE WHEN typeof({c}) = 'integer' THEN {c} WHEN typeof({c}) = 'real' THEN CAST({c} AS INTEGER) \
             WHEN typeof({c}) = 'text' AND {c} <> '' AND {c} NOT GLOB '*[^0-9]*' THEN CAST({c} AS INTEGER) \
             WHEN typeof({c}) = 'text' THEN CAST(ROUND((julianday({c}) - 2440587.5) * 86400000.0) AS INTEGER) END"
        ),
        (Dialect::Postgres, Kind::Text) => {
            if ty == "text" || ty == "character varying" {
                c
            } else {
                format!("CAST({c} AS TEXT)")
            }
        }
        (Dialect::Postgres, Kind::Bool) => {
            if ty == "boolean" {
                format!("CAST(CASE WHEN {c} IS NULL THEN NULL WHEN {c} THEN 1 ELSE 0 END AS BIGINT)")
            } else {
                format!("CAST(CASE WHEN {c} IS NULL THEN NULL WHEN {c} <> 0 THEN 1 ELSE 0 END AS BIGINT)")
            }
        }
        (Dialect::Postgres, Kind::Time) => {
            if is_number_type(ty) {
                format!("CAST({c} AS BIGINT)")
            } else if ty.starts_with("timestamp") || ty == "date" {
                format!("CAST(FLOOR(EXTRACT(EPOCH FROM {c}) * 1000) AS BIGINT)")
            } else {
                format!("CAST(FLOOR(EXTRACT(EPOCH FROM CAST({c} AS TIMESTAMPTZ)) * 1000) AS BIGINT)")
            }
        }
        (Dialect::MySql, Kind::Text) => {
            if is_number_type(ty) {
                format!("CAST({c} AS CHAR)")
            } else {
                c
            }
        }
        (Dialect::MySql, Kind::Bool) => {
            format!("CAST(CASE WHEN {c} IS NULL THEN NULL WHEN {c} <> 0 THEN 1 ELSE 0 END AS SIGNED)")
        }
        (Dialect::MySql, Kind::Time) => {
            if is_number_type(ty) {
                format!("CAST({c} AS SIGNED)")
            } else {
                format!("CAST(TIMESTAMPDIFF(MICROSECOND, '1970-01-01 00:00:00', {c}) DIV 1000 AS SIGNED)")
            }
        }
    }
}

/// A number read from a time column: seconds when it is too small to be milliseconds.
pub fn millis_from_number(n: i64) -> i64 {
    // `unsigned_abs`: `i64::MIN.abs()` overflows (a panic in debug builds).
    if n.unsigned_abs() < 100_000_000_000 {
        n.saturating_mul(1000)
    } else {
        n
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn table(name: &str, cols: &[&str]) -> CatalogTable {
        CatalogTable {
            name: name.into(),
            columns: cols
                .iter()
                .map(|c| (c.to_string(), "text".into()))
                .collect(),
        }
    }

    const USER: &[Field] = &[
        req("id", Kind::Text),
        req("email", Kind::Text),
        opt("email_verified", Kind::Bool),
        opt("created_at", Kind::Time),
        opt("image", Kind::Text),
    ];

    #[test]
    fn camel_case_from_better_auths_own_migrations() {
        let cat = vec![
            table(
                "user",
                &["id", "name", "email", "emailVerified", "image", "createdAt"],
            ),
            table("kavach_user", &["id", "email", "email_verified"]),
        ];
        let r = resolve(&cat, &["user", "users"], USER).unwrap().unwrap();
        assert_eq!(r.table, "user");
        let names: Vec<_> = r
            .columns
            .iter()
            .map(|c| c.as_ref().map(|c| c.0.as_str()))
            .collect();
        assert_eq!(
            names,
            [
                Some("id"),
                Some("email"),
                Some("emailVerified"),
                Some("createdAt"),
                Some("image")
            ]
        );
        assert_eq!(naming([&r].into_iter()), Naming::CamelCase);
    }

    #[test]
    fn snake_case_and_plural_tables_from_drizzle_or_prisma() {
        let cat = vec![table(
            "users",
            &["id", "email", "email_verified", "created_at"],
        )];
        let r = resolve(&cat, &["user", "users"], USER).unwrap().unwrap();
        assert_eq!(r.table, "users");
        assert_eq!(r.columns[2].as_ref().unwrap().0, "email_verified");
        assert!(r.columns[4].is_none(), "an optional column may be absent");
        assert_eq!(naming([&r].into_iter()), Naming::SnakeCase);
        // Case and underscores do not matter for tables either: twoFactor / two_factor.
        let cat = vec![table("two_factor", &["id", "user_id", "secret"])];
        let f = &[req("id", Kind::Text), req("user_id", Kind::Text)];
        assert_eq!(
            resolve(&cat, &["twoFactor"], f).unwrap().unwrap().table,
            "two_factor"
        );
        let cat = vec![table("User", &["Id", "Email", "EmailVerified"])];
        assert_eq!(
            resolve(&cat, &["user"], USER).unwrap().unwrap().columns[2]
                .as_ref()
                .unwrap()
                .0,
            "EmailVerified"
        );
    }

    #[test]
    fn a_table_without_its_required_columns_is_named() {
        let cat = vec![table("user", &["id", "username"])];
        assert_eq!(
            resolve(&cat, &["user"], USER).unwrap().unwrap_err(),
            vec!["email"]
        );
        assert!(resolve(&cat, &["account"], USER).is_none());
    }

    #[test]
    fn identifiers_are_quoted_per_dialect() {
        assert_eq!(quote(Dialect::Postgres, "user"), "\"user\"");
        assert_eq!(quote(Dialect::Sqlite, "we\"ird"), "\"we\"\"ird\"");
        assert_eq!(quote(Dialect::MySql, "user"), "`user`");
        assert!(select_expr(
            Dialect::Postgres,
            "createdAt",
            "timestamp with time zone",
            Kind::Time
        )
        .contains("EXTRACT(EPOCH FROM \"createdAt\")"));
        assert_eq!(
            select_expr(Dialect::Postgres, "id", "text", Kind::Text),
            "\"id\""
        );
        assert_eq!(millis_from_number(1_733_100_000), 1_733_100_000_000);
        assert_eq!(millis_from_number(1_733_100_000_123), 1_733_100_000_123);
        assert_eq!(millis_from_number(i64::MIN), i64::MIN);
        assert_eq!(millis_from_number(-1), -1000);
    }

    /// Found by the better_auth_rows fuzz target: a BLOB of bytes that are not UTF-8 in a text
    /// column (SQLite's loose typing) failed the whole import with DATABASE_ERROR.
    #[tokio::test]
    async fn a_blob_in_a_sqlite_text_column_reads_as_absent() {
        let pool = sqlx::SqlitePool::connect("sqlite::memory:").await.unwrap();
        sqlx::query("CREATE TABLE t (name TEXT)")
            .execute(&pool)
            .await
            .unwrap();
        sqlx::query("INSERT INTO t VALUES (x'00ff'), ('Ada'), (42)")
            .execute(&pool)
            .await
            .unwrap();
        let sql = format!(
            "SELECT {} AS c0 FROM t ORDER BY rowid",
            select_expr(Dialect::Sqlite, "name", "text", Kind::Text)
        );
        let mut got = Vec::new();
        for row in sqlx::query(&sql).fetch_all(&pool).await.unwrap() {
            got.push(crate::col_opt_str!(row, "c0").unwrap());
        }
        assert_eq!(got, [None, Some("Ada".to_owned()), Some("42".to_owned())]);
    }
}
