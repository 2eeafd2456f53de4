//! `kavach-cli import better-auth`: users, credential and OAuth accounts (password hashes kept as
//! they are: better-auth's scrypt form is verified natively on sign-in and then rehashed), live
//! sessions with their raw token (so `cookieAuth` accepts the old cookie), organizations, members
//! and invitations.

use std::collections::{HashMap, HashSet};

use sqlx::Row;

use super::catalog::{self, opt, req, CatalogTable, Field, Kind, Resolved};
use super::{
    fetch_strings as strings, placeholders, users_by_id_or_email, ImportEvent, ImportOptions,
    ImportReport, OnEvent, TableCounts,
};
use crate::config::Dialect;
use crate::db::{dialect_of, sql_for, Pool, Ts};
use crate::error::{KavachError, Result};
use crate::human::normalize_email;
use crate::provider_tokens::{self, TokenKind};

use super::ba_crypto;
use crate::{col_opt_str, col_str, on_pool};

const USER: &[Field] = &[
    req("id", Kind::Text),
    req("email", Kind::Text),
    opt("name", Kind::Text),
    opt("email_verified", Kind::Bool),
    opt("image", Kind::Text),
    opt("created_at", Kind::Time),
    opt("updated_at", Kind::Time),
    opt("two_factor_enabled", Kind::Bool),
];
const ACCOUNT: &[Field] = &[
    req("id", Kind::Text),
    req("user_id", Kind::Text),
    req("provider_id", Kind::Text),
    req("account_id", Kind::Text),
    opt("password", Kind::Text),
    opt("access_token", Kind::Text),
    opt("refresh_token", Kind::Text),
    opt("id_token", Kind::Text),
    opt("access_token_expires_at", Kind::Time),
    opt("created_at", Kind::Time),
    opt("updated_at", Kind::Time),
];
const SESSION: &[Field] = &[
    req("id", Kind::Text),
    req("user_id", Kind::Text),
    req("token", Kind::Text),
    req("expires_at", Kind::Time),
    opt("ip_address", Kind::Text),
    opt("user_agent", Kind::Text),
    opt("created_at", Kind::Time),
    opt("updated_at", Kind::Time),
    opt("active_organization_id", Kind::Text),
];
const ORGANIZATION: &[Field] = &[
    req("id", Kind::Text),
    req("name", Kind::Text),
    req("slug", Kind::Text),
    opt("metadata", Kind::Text),
    opt("logo", Kind::Text),
    opt("created_at", Kind::Time),
];
const MEMBER: &[Field] = &[
    req("id", Kind::Text),
    req("organization_id", Kind::Text),
    req("user_id", Kind::Text),
    req("role", Kind::Text),
    opt("created_at", Kind::Time),
];
const INVITATION: &[Field] = &[
    req("id", Kind::Text),
    req("organization_id", Kind::Text),
    req("email", Kind::Text),
    opt("role", Kind::Text),
    req("status", Kind::Text),
    req("expires_at", Kind::Time),
    opt("inviter_id", Kind::Text),
    opt("created_at", Kind::Time),
];
const TWO_FACTOR: &[Field] = &[
    req("id", Kind::Text),
    req("user_id", Kind::Text),
    req("secret", Kind::Text),
    opt("backup_codes", Kind::Text),
    opt("verified", Kind::Bool),
];

/// The better-auth tables found in a catalog.
#[derive(Debug)]
pub struct Detected {
    pub user: Resolved,
    pub account: Resolved,
    pub session: Resolved,
    pub organization: Option<Resolved>,
    pub member: Option<Resolved>,
    pub invitation: Option<Resolved>,
    pub two_factor: Option<Resolved>,
    pub notes: Vec<String>,
}

/// Finds better-auth's tables (any naming) or says precisely why this is not a better-auth database.
pub fn detect(tables: &[CatalogTable]) -> Result<Detected> {
    let mut notes = Vec::new();
    let core = |names: &[&str], fields: &[Field]| -> Result<Resolved> {
        match catalog::resolve(tables, names, fields) {
            None => Err(KavachError::ImportSourceInvalid(format!(
                "this is not a better-auth database: it has no \"{}\" table",
                names[0]
            ))),
            Some(Err(missing)) => Err(KavachError::ImportSourceInvalid(format!(
                "this is not a better-auth database: its \"{}\" table has no column for {}",
                names[0],
                missing.join(", ")
            ))),
            Some(Ok(r)) => Ok(r),
        }
    };
    let user = core(&["user", "users"], USER)?;
    let account = core(&["account", "accounts"], ACCOUNT)?;
    let session = core(&["session", "sessions"], SESSION)?;
    let mut optional =
        |names: &[&str], fields: &[Field]| match catalog::resolve(tables, names, fields) {
            None => None,
            Some(Err(missing)) => {
                notes.push(format!(
                    "the \"{}\" table was not imported: it has no column for {}",
                    names[0],
                    missing.join(", ")
                ));
                None
            }
            Some(Ok(r)) => Some(r),
        };
    let organization = optional(&["organization", "organizations"], ORGANIZATION);
    let member = optional(&["member", "members"], MEMBER);
    let invitation = optional(&["invitation", "invitations"], INVITATION);
    let two_factor = optional(&["twoFactor", "twoFactors", "two_factor"], TWO_FACTOR);
    Ok(Detected {
        user,
        account,
        session,
        organization,
        member,
        invitation,
        two_factor,
        notes,
    })
}

/// One source row: per wanted field, its value when the column exists.
struct SrcRow {
    text: Vec<Option<String>>,
    num: Vec<Option<i64>>,
}

struct Source<'a> {
    pool: &'a Pool,
    dialect: Dialect,
}

impl Resolved {
    fn idx(&self, name: &str) -> usize {
        self.fields
            .iter()
            .position(|f| f.name == name)
            .unwrap_or(usize::MAX)
    }

    fn col(&self, name: &str) -> Option<&(String, String)> {
        self.columns.get(self.idx(name)).and_then(|c| c.as_ref())
    }

    /// The key column expression for keyset pages (cast to text where it is not text).
    fn key_expr(&self, dialect: Dialect) -> String {
        self.text_expr(dialect, "id")
    }

    /// A column compared with text we bind (ids, keyset positions): cast where it is not text, so
    /// integer (serial) ids compare too. SQLite orders every integer before any text, so `id > ''`
    /// would find no integer id at all; PostgreSQL has no `integer = text`.
    fn text_expr(&self, dialect: Dialect, field: &str) -> String {
        let (name, ty) = self
            .col(field)
            .map(|(c, t)| (c.as_str(), t.as_str()))
            .unwrap_or((field, "text"));
        let q = catalog::quote(dialect, name);
        match dialect {
            Dialect::Postgres if ty != "text" && ty != "character varying" => {
                format!("CAST({q} AS TEXT)")
            }
            Dialect::Sqlite if catalog::is_number_type(ty) => format!("CAST({q} AS TEXT)"),
            _ => q,
        }
    }

    /// `SELECT <every found field as c<i>> FROM <table> WHERE <filter>`.
    fn select_sql(&self, dialect: Dialect, filter: &str) -> String {
        let mut exprs = Vec::new();
        for (i, (f, c)) in self.fields.iter().zip(&self.columns).enumerate() {
            if let Some((name, ty)) = c {
                exprs.push(format!(
                    "{} AS c{i}",
                    catalog::select_expr(dialect, name, ty, f.kind)
                ));
            }
        }
        sql_for(
            dialect,
            &format!(
                "SELECT {} FROM {} WHERE {filter}",
                exprs.join(", "),
                catalog::quote(dialect, &self.table)
            ),
        )
        .into_owned()
    }

    fn page_sql(&self, dialect: Dialect, limit: usize) -> String {
        let key = self.key_expr(dialect);
        self.select_sql(dialect, &format!("{key} > ? ORDER BY {key} LIMIT {limit}"))
    }
}

impl SrcRow {
    fn t(&self, r: &Resolved, name: &str) -> Option<String> {
        self.text.get(r.idx(name)).cloned().flatten()
    }
    fn n(&self, r: &Resolved, name: &str) -> Option<i64> {
        self.num.get(r.idx(name)).copied().flatten()
    }
    fn time(&self, r: &Resolved, name: &str) -> Option<i64> {
        let v = self.n(r, name)?;
        // SQLite columns were converted from ISO text to milliseconds in SQL already; numbers
        // stored by other mappings may be seconds.
        Some(
            if r.col(name).is_some_and(|c| catalog::is_number_type(&c.1)) {
                catalog::millis_from_number(v)
            } else {
                v
            },
        )
    }
}

macro_rules! decode_page {
    ($rows:expr, $res:expr) => {{
        let mut out = Vec::with_capacity($rows.len());
        for row in $rows {
            let n = $res.fields.len();
            let mut text = vec![None; n];
            let mut num = vec![None; n];
            for (i, (f, c)) in $res.fields.iter().zip(&$res.columns).enumerate() {
                if c.is_none() {
                    continue;
                }
                let alias = format!("c{i}");
                match f.kind {
                    Kind::Text => text[i] = col_opt_str!(row, alias.as_str())?,
                    Kind::Bool | Kind::Time => {
                        num[i] = row.try_get::<Option<i64>, _>(alias.as_str())?
                    }
                }
            }
            out.push(SrcRow { text, num });
        }
        out
    }};
}

impl Source<'_> {
    async fn page(&self, res: &Resolved, after: &str, limit: usize) -> Result<Vec<SrcRow>> {
        let sql = res.page_sql(self.dialect, limit);
        Ok(on_pool!(self.pool, p => {
            let rows = sqlx::query(&sql).bind(after).fetch_all(p).await?;
            decode_page!(rows, res)
        }))
    }

    /// The rows of `res` whose id is one of `ids`.
    async fn by_ids(&self, res: &Resolved, ids: &[&str]) -> Result<Vec<SrcRow>> {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let filter = format!(
            "{} IN ({})",
            res.key_expr(self.dialect),
            placeholders(ids.len())
        );
        let sql = res.select_sql(self.dialect, &filter);
        Ok(on_pool!(self.pool, p => {
            let mut q = sqlx::query(&sql);
            for id in ids {
                q = q.bind(*id);
            }
            let rows = q.fetch_all(p).await?;
            decode_page!(rows, res)
        }))
    }
}

/// A value bound into our tables.
#[derive(Debug, Clone)]
enum Bv {
    S(Option<String>),
    B(bool),
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

struct Target {
    pool: Option<Pool>,
    dialect: Dialect,
    /// Our tables exist (always after migrations; in a dry run only if a previous run made them).
    ready: bool,
    dry_run: bool,
}

impl Target {
    /// The first column of each row our tables hold for `sql` (`... IN (?)` over `keys`).
    async fn lookup(
        &self,
        sql_head: &str,
        keys: &[&str],
        times: usize,
    ) -> Result<Vec<Vec<Option<String>>>> {
        let Some(pool) = self.pool.as_ref().filter(|_| self.ready) else {
            return Ok(Vec::new());
        };
        if keys.is_empty() {
            return Ok(Vec::new());
        }
        let ph = placeholders(keys.len());
        let sql = sql_head.replace("{in}", &ph);
        let mut binds = Vec::with_capacity(keys.len() * times);
        for _ in 0..times {
            binds.extend_from_slice(keys);
        }
        strings(pool, &sql, &binds).await
    }

    async fn ids_in(&self, table: &str, keys: &[&str]) -> Result<HashSet<String>> {
        let rows = self
            .lookup(
                &format!("SELECT id FROM {table} WHERE id IN ({{in}})"),
                keys,
                1,
            )
            .await?;
        Ok(rows
            .into_iter()
            .filter_map(|r| r.into_iter().next().flatten())
            .collect())
    }

    fn insert_sql(&self, table: &str, cols: &str, n: usize) -> String {
        let ph = placeholders(n);
        let sql = match self.dialect {
            Dialect::MySql => format!("INSERT IGNORE INTO {table} ({cols}) VALUES ({ph})"),
            _ => format!("INSERT INTO {table} ({cols}) VALUES ({ph}) ON CONFLICT DO NOTHING"),
        };
        sql_for(self.dialect, &sql).into_owned()
    }

    /// One multi-row `INSERT .. ON CONFLICT DO NOTHING` of `n` rows of `width` values, answering
    /// the first column of each row it wrote (`RETURNING`: SQLite and PostgreSQL).
    fn insert_many_sql(&self, table: &str, cols: &str, width: usize, n: usize) -> String {
        let row = format!("({})", placeholders(width));
        let key = cols.split(',').next().unwrap_or("id").trim();
        let sql = format!(
            "INSERT INTO {table} ({cols}) VALUES {} ON CONFLICT DO NOTHING RETURNING {key}",
            vec![row.as_str(); n].join(", ")
        );
        sql_for(self.dialect, &sql).into_owned()
    }

    /// Inserts the rows in one transaction; per row, whether it was written (false: a conflict on
    /// a unique key). In a dry run nothing is written and every row counts as written.
    async fn insert(&self, table: &str, cols: &str, rows: &[Vec<Bv>]) -> Result<Vec<bool>> {
        let rows: Vec<(Vec<Bv>, Vec<Vec<Bv>>)> =
            rows.iter().map(|r| (r.clone(), Vec::new())).collect();
        self.insert_with_children((table, cols), ("", ""), &rows)
            .await
    }

    /// As [`Target::insert`], where each parent row brings child rows (into `child`) that are
    /// written in the same transaction only if their parent was: a re-run never adds children to
    /// a parent an earlier run wrote (two-factor backup codes a user has spent since stay spent).
    async fn insert_with_children(
        &self,
        parent: (&str, &str),
        child: (&str, &str),
        rows: &[(Vec<Bv>, Vec<Vec<Bv>>)],
    ) -> Result<Vec<bool>> {
        if rows.is_empty() {
            return Ok(Vec::new());
        }
        let Some(pool) = self.pool.as_ref().filter(|_| !self.dry_run) else {
            return Ok(vec![true; rows.len()]);
        };
        let width = rows[0].0.len();
        let child_width = rows.iter().find_map(|(_, c)| c.first()).map_or(0, Vec::len);
        let mut written = Vec::with_capacity(rows.len());
        // SQLite and PostgreSQL: a few multi-row statements per batch, which say which rows they
        // wrote. MySQL has no RETURNING: one statement per row, its affected-row count.
        let many = self.dialect != Dialect::MySql;
        let per_row_sql = self.insert_sql(parent.0, parent.1, width);
        let per_row_child_sql = self.insert_sql(child.0, child.1, child_width);
        on_pool!(pool, p => {
            let mut tx = p.begin().await?;
            if many {
                for chunk in rows.chunks((MAX_BINDS / width.max(1)).max(1)) {
                    let sql = self.insert_many_sql(parent.0, parent.1, width, chunk.len());
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
                        let sql = self.insert_many_sql(child.0, child.1, child_width, kc.len());
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
}

fn too_long(s: &str, max: usize) -> bool {
    s.is_empty() || s.chars().count() > max
}

fn truncate(s: String, max: usize) -> String {
    if s.chars().count() <= max {
        s
    } else {
        s.chars().take(max).collect()
    }
}

/// better-auth roles may be a comma-separated list (`admin,member`); kavachos keeps one: the
/// strongest built-in one held, else the first.
pub fn map_role(role: &str) -> Option<String> {
    let roles: Vec<&str> = role
        .split(',')
        .map(str::trim)
        .filter(|r| !r.is_empty())
        .collect();
    for strong in ["owner", "admin", "member"] {
        if roles.contains(&strong) {
            return Some(strong.to_owned());
        }
    }
    roles.first().map(|r| (*r).to_owned())
}

struct Run<'a> {
    src: Source<'a>,
    target: Target,
    det: &'a Detected,
    report: ImportReport,
    on: OnEvent<'a>,
    batch: usize,
    now_ms: i64,
    /// Ids skipped in this run (bounded by the skips), so a dry run can tell which dependents fail.
    skipped_users: HashSet<String>,
    skipped_orgs: HashSet<String>,
    /// Ours (to seal provider tokens and TOTP secrets) and better-auth's (to open what it encrypted).
    secret: Option<&'a str>,
    source_secret: Option<&'a str>,
    /// Counters for the notes.
    tokens_left_out: u64,
    tokens_sealed: u64,
    tokens_unopened: u64,
    id_tokens_left_out: u64,
    no_password: u64,
    unknown_hash: u64,
    names_truncated: u64,
    expired_sessions: u64,
    roles_collapsed: u64,
    logos_left_out: u64,
    two_factor_left_out: u64,
    two_factor_pending: u64,
    backup_codes_unreadable: u64,
}

fn is_known_hash(h: &str) -> bool {
    h.starts_with("pbkdf2:")
        || ["$2a$", "$2b$", "$2y$"].iter().any(|p| h.starts_with(p))
        || matches!(h.split_once(':'), Some((s, k)) if !s.is_empty() && k.len() == 128 && s.bytes().chain(k.bytes()).all(|b| b.is_ascii_hexdigit()))
}

impl Run<'_> {
    fn skip(&mut self, counts: &mut TableCounts, id: &str, reason: impl Into<String>) {
        counts.skipped += 1;
        self.report.skip(self.on, &counts.table, id, reason.into());
    }

    /// Users of `ids` that exist (or will) in kavachos.
    async fn importable(
        &self,
        ids: &[&str],
        kavach_table: &str,
        source: Option<&Resolved>,
        skipped: &HashSet<String>,
    ) -> Result<HashSet<String>> {
        let mut found = self.target.ids_in(kavach_table, ids).await?;
        if self.target.dry_run {
            if let Some(res) = source {
                let (col, ty) = res.columns[0]
                    .clone()
                    .unwrap_or_else(|| ("id".into(), "text".into()));
                let d = self.src.dialect;
                let sql = format!(
                    "SELECT {} FROM {} WHERE {} IN ({})",
                    catalog::select_expr(d, &col, &ty, Kind::Text),
                    catalog::quote(d, &res.table),
                    res.key_expr(d),
                    placeholders(ids.len())
                );
                if !ids.is_empty() {
                    for r in strings(self.src.pool, &sql, ids).await? {
                        if let Some(id) = r.into_iter().next().flatten() {
                            if !skipped.contains(&id) {
                                found.insert(id);
                            }
                        }
                    }
                }
            }
        }
        Ok(found)
    }

    /// An account's access and refresh tokens as we keep them: opened if better-auth encrypted
    /// them (`encryptOAuthTokens`), then sealed under our secret for this account row. Without our
    /// secret, or when better-auth's envelope does not open, they are left out and counted.
    fn provider_tokens(
        &mut self,
        r: &SrcRow,
        res: &Resolved,
        account_id: &str,
    ) -> Result<(Option<String>, Option<String>)> {
        let access = r.t(res, "access_token").filter(|t| !t.is_empty());
        let refresh = r.t(res, "refresh_token").filter(|t| !t.is_empty());
        if access.is_none() && refresh.is_none() {
            return Ok((None, None));
        }
        let Some(secret) = self.secret else {
            self.tokens_left_out += 1;
            return Ok((None, None));
        };
        let mut unopened = false;
        let mut carry = |value: Option<String>, kind: TokenKind| -> Result<Option<String>> {
            let Some(v) = value else { return Ok(None) };
            let opened = if ba_crypto::looks_encrypted(&v) {
                self.source_secret.and_then(|s| ba_crypto::open(s, &v))
            } else {
                None
            };
            let plain = match opened {
                Some(p) => p,
                // Hex-shaped but not ours to open: a provider token that is hex (kept as it is),
                // unless it carries better-auth's envelope, which is certainly ciphertext.
                None if ba_crypto::is_envelope(&v) => {
                    unopened = true;
                    return Ok(None);
                }
                None => v,
            };
            provider_tokens::seal(secret, account_id, kind, &plain).map(Some)
        };
        let sealed = (
            carry(access, TokenKind::Access)?,
            carry(refresh, TokenKind::Refresh)?,
        );
        if unopened {
            self.tokens_unopened += 1;
        }
        if sealed.0.is_some() || sealed.1.is_some() {
            self.tokens_sealed += 1;
        }
        Ok(sealed)
    }

    fn finish_batch(&mut self, counts: &TableCounts) {
        (self.on)(&ImportEvent::Batch(counts));
    }

    async fn users(&mut self) -> Result<TableCounts> {
        let det = self.det;
        let res = &det.user;
        let mut counts = TableCounts {
            table: "users".into(),
            ..Default::default()
        };
        let mut after = String::new();
        loop {
            let page = self.src.page(res, &after, self.batch).await?;
            let Some(last) = page.last() else { break };
            after = last.t(res, "id").unwrap_or_default();
            counts.read += page.len() as u64;
            let ids: Vec<String> = page.iter().filter_map(|r| r.t(res, "id")).collect();
            let emails: Vec<String> = page
                .iter()
                .filter_map(|r| r.t(res, "email").and_then(|e| normalize_email(&e).ok()))
                .collect();
            let id_keys: Vec<&str> = ids.iter().map(String::as_str).collect();
            let existing = match self.target.pool.as_ref().filter(|_| self.target.ready) {
                Some(pool) => users_by_id_or_email(pool, &id_keys, &emails).await?,
                None => Vec::new(),
            };
            let present: HashSet<&str> = existing.iter().map(|(id, _)| id.as_str()).collect();
            let email_owner: HashMap<&str, &str> = existing
                .iter()
                .filter_map(|(id, e)| Some((e.as_deref()?, id.as_str())))
                .collect();
            let mut seen_emails = HashSet::new();
            let mut rows = Vec::new();
            let mut row_ids = Vec::new();
            for r in &page {
                let id = r.t(res, "id").unwrap_or_default();
                if too_long(&id, 255) {
                    self.skipped_users.insert(id.clone());
                    self.skip(
                        &mut counts,
                        &id,
                        "its id is empty or longer than 255 characters",
                    );
                    continue;
                }
                if present.contains(id.as_str()) {
                    counts.unchanged += 1;
                    continue;
                }
                let Some(email) = r.t(res, "email").and_then(|e| normalize_email(&e).ok()) else {
                    self.skipped_users.insert(id.clone());
                    self.skip(&mut counts, &id, "its email is not a valid address");
                    continue;
                };
                if let Some(other) = email_owner.get(email.as_str()) {
                    if *other != id {
                        self.skipped_users.insert(id.clone());
                        self.skip(
                            &mut counts,
                            &id,
                            "its email (compared case-insensitively) already belongs to another user in kavachos",
                        );
                        continue;
                    }
                }
                if !seen_emails.insert(email.clone()) {
                    self.skipped_users.insert(id.clone());
                    self.skip(&mut counts, &id, "its email (compared case-insensitively) already belongs to another user of the source");
                    continue;
                }
                let name = r
                    .t(res, "name")
                    .map(|n| n.trim().to_owned())
                    .filter(|n| !n.is_empty())
                    .map(|n| {
                        if n.chars().count() > 255 {
                            self.names_truncated += 1;
                        }
                        truncate(n, 255)
                    });
                let created = r.time(res, "created_at").unwrap_or(self.now_ms);
                let updated = r.time(res, "updated_at").unwrap_or(created);
                rows.push(vec![
                    Bv::S(Some(id.clone())),
                    Bv::S(Some(email)),
                    Bv::S(name),
                    Bv::B(r.n(res, "email_verified").unwrap_or(0) != 0),
                    Bv::S(r.t(res, "image")),
                    Bv::T(Some(created)),
                    Bv::T(Some(updated)),
                ]);
                row_ids.push(id);
            }
            let written = self
                .target
                .insert(
                    "kavach_user",
                    "id, email, name, email_verified, image, created_at, updated_at",
                    &rows,
                )
                .await?;
            for (id, ok) in row_ids.iter().zip(written) {
                if ok {
                    counts.imported += 1;
                } else {
                    self.skipped_users.insert(id.clone());
                    self.skip(
                        &mut counts,
                        id,
                        "its email (compared case-insensitively) already belongs to another user in kavachos",
                    );
                }
            }
            self.finish_batch(&counts);
        }
        Ok(counts)
    }

    async fn accounts(&mut self) -> Result<TableCounts> {
        let det = self.det;
        let res = &det.account;
        let mut counts = TableCounts {
            table: "accounts".into(),
            ..Default::default()
        };
        let mut after = String::new();
        loop {
            let page = self.src.page(res, &after, self.batch).await?;
            let Some(last) = page.last() else { break };
            after = last.t(res, "id").unwrap_or_default();
            counts.read += page.len() as u64;
            let ids: Vec<String> = page.iter().filter_map(|r| r.t(res, "id")).collect();
            let id_refs: Vec<&str> = ids.iter().map(String::as_str).collect();
            let present = self.target.ids_in("kavach_account", &id_refs).await?;
            let user_ids: Vec<String> = page.iter().filter_map(|r| r.t(res, "user_id")).collect();
            let user_refs: Vec<&str> = user_ids.iter().map(String::as_str).collect();
            let users = self
                .importable(
                    &user_refs,
                    "kavach_user",
                    Some(&self.det.user),
                    &self.skipped_users,
                )
                .await?;
            let mut rows = Vec::new();
            let mut row_ids = Vec::new();
            for r in &page {
                let id = r.t(res, "id").unwrap_or_default();
                if too_long(&id, 255) {
                    self.skip(
                        &mut counts,
                        &id,
                        "its id is empty or longer than 255 characters",
                    );
                    continue;
                }
                if present.contains(&id) {
                    counts.unchanged += 1;
                    continue;
                }
                let user_id = r.t(res, "user_id").unwrap_or_default();
                if !users.contains(&user_id) {
                    self.skip(&mut counts, &id, "its user was not imported");
                    continue;
                }
                let provider = r.t(res, "provider_id").unwrap_or_default();
                let account_id = r.t(res, "account_id").unwrap_or_default();
                if too_long(&provider, 64) || too_long(&account_id, 255) {
                    self.skip(&mut counts, &id, "its provider id (at most 64 characters) or account id (at most 255) is empty or too long");
                    continue;
                }
                let password = r.t(res, "password").filter(|p| !p.is_empty());
                if provider == crate::human::CREDENTIAL_PROVIDER {
                    match &password {
                        None => self.no_password += 1,
                        Some(h) if !is_known_hash(h) => self.unknown_hash += 1,
                        Some(_) => {}
                    }
                }
                let (access, refresh) = self.provider_tokens(r, res, &id)?;
                if r.t(res, "id_token").is_some_and(|t| !t.is_empty()) {
                    self.id_tokens_left_out += 1;
                }
                let expires = access
                    .as_ref()
                    .and_then(|_| r.time(res, "access_token_expires_at"));
                let created = r.time(res, "created_at").unwrap_or(self.now_ms);
                let updated = r.time(res, "updated_at").unwrap_or(created);
                rows.push(vec![
                    Bv::S(Some(id.clone())),
                    Bv::S(Some(user_id)),
                    Bv::S(Some(provider)),
                    Bv::S(Some(account_id)),
                    Bv::S(password),
                    Bv::S(access),
                    Bv::S(refresh),
                    Bv::T(expires),
                    Bv::T(Some(created)),
                    Bv::T(Some(updated)),
                ]);
                row_ids.push(id);
            }
            let written = self
                .target
                .insert("kavach_account", "id, user_id, provider_id, provider_account_id, password, access_token, refresh_token, expires_at, created_at, updated_at", &rows)
                .await?;
            for (id, ok) in row_ids.iter().zip(written) {
                if ok {
                    counts.imported += 1;
                } else {
                    self.skip(
                        &mut counts,
                        id,
                        "this provider account is already linked to another kavachos account",
                    );
                }
            }
            self.finish_batch(&counts);
        }
        Ok(counts)
    }

    async fn sessions(&mut self) -> Result<TableCounts> {
        let det = self.det;
        let res = &det.session;
        let mut counts = TableCounts {
            table: "sessions".into(),
            ..Default::default()
        };
        let mut after = String::new();
        loop {
            let page = self.src.page(res, &after, self.batch).await?;
            let Some(last) = page.last() else { break };
            after = last.t(res, "id").unwrap_or_default();
            counts.read += page.len() as u64;
            let ids: Vec<String> = page.iter().filter_map(|r| r.t(res, "id")).collect();
            let id_refs: Vec<&str> = ids.iter().map(String::as_str).collect();
            let present = self.target.ids_in("kavach_session", &id_refs).await?;
            let user_ids: Vec<String> = page.iter().filter_map(|r| r.t(res, "user_id")).collect();
            let user_refs: Vec<&str> = user_ids.iter().map(String::as_str).collect();
            let users = self
                .importable(
                    &user_refs,
                    "kavach_user",
                    Some(&self.det.user),
                    &self.skipped_users,
                )
                .await?;
            let mut rows = Vec::new();
            let mut row_ids = Vec::new();
            for r in &page {
                let id = r.t(res, "id").unwrap_or_default();
                if too_long(&id, 255) {
                    self.skip(
                        &mut counts,
                        &id,
                        "its id is empty or longer than 255 characters",
                    );
                    continue;
                }
                if present.contains(&id) {
                    counts.unchanged += 1;
                    continue;
                }
                let Some(expires) = r.time(res, "expires_at").filter(|e| *e > self.now_ms) else {
                    // Not a skip worth a line each: dead sessions are simply left behind.
                    self.expired_sessions += 1;
                    continue;
                };
                let user_id = r.t(res, "user_id").unwrap_or_default();
                if !users.contains(&user_id) {
                    self.skip(&mut counts, &id, "its user was not imported");
                    continue;
                }
                let token = r.t(res, "token").unwrap_or_default();
                if too_long(&token, 255)
                    || (token.len() == 64 && token.bytes().all(|b| b.is_ascii_hexdigit()))
                {
                    self.skip(&mut counts, &id, "its token is empty, longer than 255 characters, or shaped like a kavachos token hash");
                    continue;
                }
                let created = r.time(res, "created_at").unwrap_or(self.now_ms);
                let updated = r.time(res, "updated_at").unwrap_or(created);
                rows.push(vec![
                    Bv::S(Some(id.clone())),
                    Bv::S(Some(user_id)),
                    Bv::S(Some(token)),
                    Bv::T(Some(expires)),
                    Bv::S(
                        r.t(res, "ip_address")
                            .filter(|s| !s.is_empty() && s.len() <= 64),
                    ),
                    Bv::S(
                        r.t(res, "user_agent")
                            .filter(|s| !s.is_empty())
                            .map(|s| truncate(s, 512)),
                    ),
                    Bv::T(Some(created)),
                    Bv::T(Some(updated)),
                    Bv::S(
                        r.t(res, "active_organization_id")
                            .filter(|s| !s.is_empty() && s.chars().count() <= 64),
                    ),
                ]);
                row_ids.push(id);
            }
            let written = self
                .target
                .insert(
                    "kavach_session",
                    "id, user_id, token, expires_at, ip_address, user_agent, created_at, updated_at, active_organization_id",
                    &rows,
                )
                .await?;
            for (id, ok) in row_ids.iter().zip(written) {
                if ok {
                    counts.imported += 1;
                } else {
                    self.skip(&mut counts, id, "its token is already in kavachos");
                }
            }
            self.finish_batch(&counts);
        }
        Ok(counts)
    }

    /// The owner of each organization of `org_ids`: its earliest member holding `owner`, else its
    /// earliest member.
    async fn owners(&self, org_ids: &[&str]) -> Result<HashMap<String, (String, bool)>> {
        let Some(m) = &self.det.member else {
            return Ok(HashMap::new());
        };
        let d = self.src.dialect;
        let text = |name: &str| -> String {
            let (c, ty) = m.col(name).cloned().unwrap_or_default();
            catalog::select_expr(d, &c, &ty, Kind::Text)
        };
        let org_col = m.text_expr(d, "organization_id");
        let order = match m.col("created_at") {
            Some(c) => format!("{}, {}", catalog::quote(d, &c.0), m.key_expr(d)),
            None => m.key_expr(d),
        };
        let sql = format!(
            "SELECT {}, {}, {} FROM {} WHERE {org_col} IN ({}) ORDER BY {order}",
            text("organization_id"),
            text("user_id"),
            text("role"),
            catalog::quote(d, &m.table),
            placeholders(org_ids.len())
        );
        let mut out: HashMap<String, (String, bool)> = HashMap::new();
        for r in strings(self.src.pool, &sql, org_ids).await? {
            let (Some(org), Some(user)) = (r[0].clone(), r[1].clone()) else {
                continue;
            };
            let is_owner = r[2].as_deref().and_then(map_role).as_deref() == Some("owner");
            match out.get(&org) {
                Some((_, true)) => {}
                Some((_, false)) if !is_owner => {}
                _ => {
                    out.insert(org, (user, is_owner));
                }
            }
        }
        Ok(out)
    }

    async fn organizations(&mut self) -> Result<Option<TableCounts>> {
        let det = self.det;
        let Some(res) = &det.organization else {
            return Ok(None);
        };
        let mut counts = TableCounts {
            table: "organizations".into(),
            ..Default::default()
        };
        let mut after = String::new();
        let mut ownerless = 0u64;
        loop {
            let page = self.src.page(res, &after, self.batch).await?;
            let Some(last) = page.last() else { break };
            after = last.t(res, "id").unwrap_or_default();
            counts.read += page.len() as u64;
            let ids: Vec<String> = page.iter().filter_map(|r| r.t(res, "id")).collect();
            let id_refs: Vec<&str> = ids.iter().map(String::as_str).collect();
            let present = self.target.ids_in("kavach_organizations", &id_refs).await?;
            let owners = self.owners(&id_refs).await?;
            let mut rows = Vec::new();
            let mut row_ids = Vec::new();
            for r in &page {
                let id = r.t(res, "id").unwrap_or_default();
                if too_long(&id, 64) {
                    self.skipped_orgs.insert(id.clone());
                    self.skip(
                        &mut counts,
                        &id,
                        "its id is empty or longer than 64 characters",
                    );
                    continue;
                }
                if present.contains(&id) {
                    counts.unchanged += 1;
                    continue;
                }
                let name = r.t(res, "name").unwrap_or_default();
                let slug = r.t(res, "slug").unwrap_or_default();
                if too_long(&name, 255) || too_long(&slug, 255) {
                    self.skipped_orgs.insert(id.clone());
                    self.skip(
                        &mut counts,
                        &id,
                        "its name or slug is empty or longer than 255 characters",
                    );
                    continue;
                }
                let Some((owner, is_owner)) = owners.get(&id).cloned() else {
                    self.skipped_orgs.insert(id.clone());
                    self.skip(&mut counts, &id, "it has no members, so no owner");
                    continue;
                };
                if !is_owner {
                    ownerless += 1;
                }
                if r.t(res, "logo").is_some_and(|l| !l.is_empty()) {
                    self.logos_left_out += 1;
                }
                let metadata = r.t(res, "metadata").filter(|m| {
                    serde_json::from_str::<serde_json::Value>(m).is_ok_and(|v| v.is_object())
                });
                let created = r.time(res, "created_at").unwrap_or(self.now_ms);
                rows.push(vec![
                    Bv::S(Some(id.clone())),
                    Bv::S(Some(name)),
                    Bv::S(Some(slug)),
                    Bv::S(Some(owner)),
                    Bv::S(metadata),
                    Bv::T(Some(created)),
                    Bv::T(Some(created)),
                ]);
                row_ids.push(id);
            }
            let written = self
                .target
                .insert(
                    "kavach_organizations",
                    "id, name, slug, owner_id, metadata, created_at, updated_at",
                    &rows,
                )
                .await?;
            for (id, ok) in row_ids.iter().zip(written) {
                if ok {
                    counts.imported += 1;
                } else {
                    self.skipped_orgs.insert(id.clone());
                    self.skip(
                        &mut counts,
                        id,
                        "its slug is already used by another kavachos organization",
                    );
                }
            }
            self.finish_batch(&counts);
        }
        if ownerless > 0 {
            self.report.notes.push(format!(
                "{ownerless} organization(s) had no member with the owner role: their earliest member was recorded as owner_id (their member role is unchanged)"
            ));
        }
        Ok(Some(counts))
    }

    async fn members(&mut self) -> Result<Option<TableCounts>> {
        let det = self.det;
        let (Some(res), Some(_)) = (&det.member, &det.organization) else {
            return Ok(None);
        };
        let mut counts = TableCounts {
            table: "members".into(),
            ..Default::default()
        };
        let mut after = String::new();
        loop {
            let page = self.src.page(res, &after, self.batch).await?;
            let Some(last) = page.last() else { break };
            after = last.t(res, "id").unwrap_or_default();
            counts.read += page.len() as u64;
            let ids: Vec<String> = page.iter().filter_map(|r| r.t(res, "id")).collect();
            let id_refs: Vec<&str> = ids.iter().map(String::as_str).collect();
            let present = self.target.ids_in("kavach_org_members", &id_refs).await?;
            let user_ids: Vec<String> = page.iter().filter_map(|r| r.t(res, "user_id")).collect();
            let user_refs: Vec<&str> = user_ids.iter().map(String::as_str).collect();
            let users = self
                .importable(
                    &user_refs,
                    "kavach_user",
                    Some(&self.det.user),
                    &self.skipped_users,
                )
                .await?;
            let org_ids: Vec<String> = page
                .iter()
                .filter_map(|r| r.t(res, "organization_id"))
                .collect();
            let org_refs: Vec<&str> = org_ids.iter().map(String::as_str).collect();
            let orgs = self
                .importable(
                    &org_refs,
                    "kavach_organizations",
                    self.det.organization.as_ref(),
                    &self.skipped_orgs,
                )
                .await?;
            let mut rows = Vec::new();
            let mut row_ids = Vec::new();
            for r in &page {
                let id = r.t(res, "id").unwrap_or_default();
                if too_long(&id, 64) {
                    self.skip(
                        &mut counts,
                        &id,
                        "its id is empty or longer than 64 characters",
                    );
                    continue;
                }
                if present.contains(&id) {
                    counts.unchanged += 1;
                    continue;
                }
                let org = r.t(res, "organization_id").unwrap_or_default();
                let user = r.t(res, "user_id").unwrap_or_default();
                if !orgs.contains(&org) {
                    self.skip(&mut counts, &id, "its organization was not imported");
                    continue;
                }
                if !users.contains(&user) {
                    self.skip(&mut counts, &id, "its user was not imported");
                    continue;
                }
                let raw_role = r.t(res, "role").unwrap_or_default();
                let Some(role) = map_role(&raw_role).filter(|r| r.len() <= 64) else {
                    self.skip(
                        &mut counts,
                        &id,
                        "its role is empty or longer than 64 characters",
                    );
                    continue;
                };
                if role != raw_role.trim() {
                    self.roles_collapsed += 1;
                }
                let created = r.time(res, "created_at").unwrap_or(self.now_ms);
                rows.push(vec![
                    Bv::S(Some(id.clone())),
                    Bv::S(Some(org)),
                    Bv::S(Some(user)),
                    Bv::S(Some(role)),
                    Bv::T(Some(created)),
                ]);
                row_ids.push(id);
            }
            let written = self
                .target
                .insert(
                    "kavach_org_members",
                    "id, org_id, user_id, role, created_at",
                    &rows,
                )
                .await?;
            for (id, ok) in row_ids.iter().zip(written) {
                if ok {
                    counts.imported += 1;
                } else {
                    self.skip(
                        &mut counts,
                        id,
                        "this user is already a member of this organization in kavachos",
                    );
                }
            }
            self.finish_batch(&counts);
        }
        Ok(Some(counts))
    }

    async fn invitations(&mut self) -> Result<Option<TableCounts>> {
        let det = self.det;
        let (Some(res), Some(_)) = (&det.invitation, &det.organization) else {
            return Ok(None);
        };
        let mut counts = TableCounts {
            table: "invitations".into(),
            ..Default::default()
        };
        let mut after = String::new();
        loop {
            let page = self.src.page(res, &after, self.batch).await?;
            let Some(last) = page.last() else { break };
            after = last.t(res, "id").unwrap_or_default();
            counts.read += page.len() as u64;
            let ids: Vec<String> = page.iter().filter_map(|r| r.t(res, "id")).collect();
            let id_refs: Vec<&str> = ids.iter().map(String::as_str).collect();
            let present = self
                .target
                .ids_in("kavach_org_invitations", &id_refs)
                .await?;
            let org_ids: Vec<String> = page
                .iter()
                .filter_map(|r| r.t(res, "organization_id"))
                .collect();
            let org_refs: Vec<&str> = org_ids.iter().map(String::as_str).collect();
            let orgs = self
                .importable(
                    &org_refs,
                    "kavach_organizations",
                    self.det.organization.as_ref(),
                    &self.skipped_orgs,
                )
                .await?;
            let mut rows = Vec::new();
            let mut row_ids = Vec::new();
            for r in &page {
                let id = r.t(res, "id").unwrap_or_default();
                if too_long(&id, 64) {
                    self.skip(
                        &mut counts,
                        &id,
                        "its id is empty or longer than 64 characters",
                    );
                    continue;
                }
                if present.contains(&id) {
                    counts.unchanged += 1;
                    continue;
                }
                let org = r.t(res, "organization_id").unwrap_or_default();
                if !orgs.contains(&org) {
                    self.skip(&mut counts, &id, "its organization was not imported");
                    continue;
                }
                let Some(email) = r.t(res, "email").and_then(|e| normalize_email(&e).ok()) else {
                    self.skip(&mut counts, &id, "its email is not a valid address");
                    continue;
                };
                let role = r
                    .t(res, "role")
                    .and_then(|r| map_role(&r))
                    .unwrap_or_else(|| "member".into());
                if role.chars().count() > 64 {
                    self.skip(&mut counts, &id, "its role is longer than 64 characters");
                    continue;
                }
                let status = match r.t(res, "status").unwrap_or_default().as_str() {
                    "pending" => "pending",
                    "accepted" => "accepted",
                    "rejected" | "declined" => "declined",
                    "canceled" | "cancelled" => "canceled",
                    _ => {
                        self.skip(
                            &mut counts,
                            &id,
                            "its status is not pending, accepted, rejected or canceled",
                        );
                        continue;
                    }
                };
                let Some(expires) = r.time(res, "expires_at") else {
                    self.skip(&mut counts, &id, "it has no expiry");
                    continue;
                };
                let created = r.time(res, "created_at").unwrap_or(self.now_ms);
                rows.push(vec![
                    Bv::S(Some(id.clone())),
                    Bv::S(Some(org)),
                    Bv::S(Some(email)),
                    Bv::S(Some(role)),
                    Bv::S(Some(status.to_owned())),
                    Bv::S(r.t(res, "inviter_id").filter(|i| i.chars().count() <= 255)),
                    Bv::T(Some(expires)),
                    Bv::T(Some(created)),
                ]);
                row_ids.push(id);
            }
            let written = self
                .target
                .insert(
                    "kavach_org_invitations",
                    "id, org_id, email, role, status, inviter_id, expires_at, created_at",
                    &rows,
                )
                .await?;
            for (id, ok) in row_ids.iter().zip(written) {
                if ok {
                    counts.imported += 1;
                } else {
                    self.skip(
                        &mut counts,
                        id,
                        "an invitation with this id is already in kavachos",
                    );
                }
            }
            self.finish_batch(&counts);
        }
        Ok(Some(counts))
    }

    /// Two-factor enrollments: the TOTP secret opened with better-auth's secret and sealed under
    /// ours for the same user, with the unused backup codes (stored as our SHA-256), one
    /// transaction per batch. Only active enrollments (the user has two-factor on, and the row is
    /// verified) come across; the codes of an enrollment an earlier run wrote are never re-added.
    async fn two_factors(&mut self) -> Result<Option<TableCounts>> {
        let det = self.det;
        let Some(res) = &det.two_factor else {
            return Ok(None);
        };
        let mut counts = TableCounts {
            table: "two-factor".into(),
            ..Default::default()
        };
        let secrets = self.secret.zip(self.source_secret);
        let mut after = String::new();
        loop {
            let page = self.src.page(res, &after, self.batch).await?;
            let Some(last) = page.last() else { break };
            after = last.t(res, "id").unwrap_or_default();
            counts.read += page.len() as u64;
            let user_ids: Vec<String> = page.iter().filter_map(|r| r.t(res, "user_id")).collect();
            let user_refs: Vec<&str> = user_ids.iter().map(String::as_str).collect();
            let present: HashSet<String> = self
                .target
                .lookup(
                    "SELECT user_id FROM kavach_two_factor WHERE user_id IN ({in})",
                    &user_refs,
                    1,
                )
                .await?
                .into_iter()
                .filter_map(|r| r.into_iter().next().flatten())
                .collect();
            let Some((secret, source_secret)) = secrets else {
                // Without both secrets nothing can be opened or sealed: count what is missing.
                let missing = user_ids.iter().filter(|u| !present.contains(*u)).count();
                self.two_factor_left_out += missing as u64;
                continue;
            };
            let users = self
                .importable(
                    &user_refs,
                    "kavach_user",
                    Some(&det.user),
                    &self.skipped_users,
                )
                .await?;
            let has_flag = det.user.col("two_factor_enabled").is_some();
            let switched_on: HashSet<String> = if has_flag {
                self.src
                    .by_ids(&det.user, &user_refs)
                    .await?
                    .iter()
                    .filter(|u| u.n(&det.user, "two_factor_enabled").unwrap_or(0) != 0)
                    .filter_map(|u| u.t(&det.user, "id"))
                    .collect()
            } else {
                HashSet::new()
            };
            let mut rows = Vec::new();
            let mut row_ids = Vec::new();
            let mut written_users = HashSet::new();
            for r in &page {
                let id = r.t(res, "id").unwrap_or_default();
                let user = r.t(res, "user_id").unwrap_or_default();
                if present.contains(&user) {
                    counts.unchanged += 1;
                    continue;
                }
                if !users.contains(&user) {
                    self.skip(&mut counts, &id, "its user was not imported");
                    continue;
                }
                if (has_flag && !switched_on.contains(&user)) || r.n(res, "verified") == Some(0) {
                    // An enrollment never confirmed with a first code, or switched off: nothing
                    // to protect, and the user enrolls again in kavachos if they want it.
                    self.two_factor_pending += 1;
                    continue;
                }
                if !written_users.insert(user.clone()) {
                    self.skip(
                        &mut counts,
                        &id,
                        "its user has another two-factor row, imported already",
                    );
                    continue;
                }
                let Some(totp) = r
                    .t(res, "secret")
                    .and_then(|v| ba_crypto::open(source_secret, &v))
                else {
                    self.skip(&mut counts, &id, "its TOTP secret did not open with the source secret (is it better-auth's BETTER_AUTH_SECRET?)");
                    continue;
                };
                let codes = match r.t(res, "backup_codes").filter(|c| !c.is_empty()) {
                    None => Vec::new(),
                    Some(raw) => {
                        let json = ba_crypto::open(source_secret, &raw).unwrap_or(raw);
                        match serde_json::from_str::<Vec<String>>(&json) {
                            Ok(codes) => codes,
                            Err(_) => {
                                self.backup_codes_unreadable += 1;
                                Vec::new()
                            }
                        }
                    }
                };
                let sealed = crate::two_factor::seal(secret, &user, totp.as_bytes())?;
                let mut hashes: Vec<String> = codes
                    .iter()
                    .filter_map(|c| crate::two_factor::backup_code_hash(c))
                    .collect();
                hashes.sort();
                hashes.dedup();
                let children = hashes
                    .into_iter()
                    .map(|h| {
                        vec![
                            Bv::S(Some(crate::token::hash_token(&format!("{user}:{h}")))),
                            Bv::S(Some(user.clone())),
                            Bv::S(Some(h)),
                            Bv::T(Some(self.now_ms)),
                        ]
                    })
                    .collect();
                rows.push((
                    vec![
                        Bv::S(Some(user.clone())),
                        Bv::S(Some(sealed)),
                        Bv::B(true),
                        Bv::T(Some(self.now_ms)),
                        Bv::T(Some(self.now_ms)),
                    ],
                    children,
                ));
                row_ids.push(id);
            }
            let written = self
                .target
                .insert_with_children(
                    (
                        "kavach_two_factor",
                        "user_id, secret, enabled, created_at, updated_at",
                    ),
                    (
                        "kavach_two_factor_backup",
                        "id, user_id, code_hash, created_at",
                    ),
                    &rows,
                )
                .await?;
            for (id, ok) in row_ids.iter().zip(written) {
                if ok {
                    counts.imported += 1;
                } else {
                    self.skip(
                        &mut counts,
                        id,
                        "its user has two-factor set up in kavachos already",
                    );
                }
            }
            self.finish_batch(&counts);
        }
        Ok(secrets.map(|_| counts))
    }
}

/// Imports a better-auth database into kavachos's tables. Reads the source first and fails
/// before writing anything if it is unreachable or not better-auth's.
pub fn import_better_auth<'a>(
    options: &'a ImportOptions,
    now_ms: i64,
    on: OnEvent<'a>,
) -> crate::BoxFut<'a, Result<ImportReport>> {
    Box::pin(async move {
        options.check_secrets()?;
        let source = super::open_read_only(&options.from, "source", false)
            .await?
            .ok_or_else(|| KavachError::Internal("no source pool".into()))?;
        let result = run(&source, options, now_ms, on).await;
        super::close(&source).await;
        result
    })
}

async fn run(
    source: &Pool,
    options: &ImportOptions,
    now_ms: i64,
    on: OnEvent<'_>,
) -> Result<ImportReport> {
    let tables = catalog::load(source).await?;
    let det = detect(&tables)?;
    let dialect = dialect_of(source);
    let to = options.to.as_deref().unwrap_or(&options.from);
    let mut report = ImportReport {
        source: "better-auth".into(),
        dialect: match dialect {
            Dialect::Sqlite => "sqlite",
            Dialect::Postgres => "postgres",
            Dialect::MySql => "mysql",
        }
        .into(),
        naming: catalog::naming(
            [
                Some(&det.user),
                Some(&det.account),
                Some(&det.session),
                det.organization.as_ref(),
                det.member.as_ref(),
                det.invitation.as_ref(),
            ]
            .into_iter()
            .flatten(),
        )
        .as_str()
        .into(),
        source_tables: [
            Some(&det.user),
            Some(&det.account),
            Some(&det.session),
            det.organization.as_ref(),
            det.member.as_ref(),
            det.invitation.as_ref(),
            det.two_factor.as_ref(),
        ]
        .into_iter()
        .flatten()
        .map(|r| r.table.clone())
        .collect(),
        dry_run: options.dry_run,
        notes: det.notes.clone(),
        ..Default::default()
    };
    let target = if options.dry_run {
        let pool = super::open_read_only(to, "target", true).await?;
        let ready = match &pool {
            Some(p) => catalog::has_kavach_tables(&catalog::load(p).await?),
            None => false,
        };
        Target {
            dialect: pool.as_ref().map(dialect_of).unwrap_or(Dialect::Sqlite),
            pool,
            ready,
            dry_run: true,
        }
    } else {
        let pool = super::open_for_writing(to).await?;
        match crate::db::migrate(&pool, now_ms).await {
            Ok(m) => report.migrations_applied = m.applied,
            Err(e) => {
                super::close(&pool).await;
                return Err(e);
            }
        }
        Target {
            dialect: dialect_of(&pool),
            pool: Some(pool),
            ready: true,
            dry_run: false,
        }
    };
    let mut run = Run {
        src: Source {
            pool: source,
            dialect,
        },
        target,
        det: &det,
        report,
        on,
        batch: options.batch_size.clamp(1, 10_000),
        now_ms,
        skipped_users: HashSet::new(),
        skipped_orgs: HashSet::new(),
        secret: options.secret.as_deref(),
        source_secret: options.source_secret.as_deref(),
        tokens_left_out: 0,
        tokens_sealed: 0,
        tokens_unopened: 0,
        id_tokens_left_out: 0,
        no_password: 0,
        unknown_hash: 0,
        names_truncated: 0,
        expired_sessions: 0,
        roles_collapsed: 0,
        logos_left_out: 0,
        two_factor_left_out: 0,
        two_factor_pending: 0,
        backup_codes_unreadable: 0,
    };
    let result = copy_all(&mut run).await;
    if let Some(p) = &run.target.pool {
        super::close(p).await;
    }
    result?;
    Ok(run.report)
}

async fn copy_all(run: &mut Run<'_>) -> Result<()> {
    let users = run.users().await?;
    run.report.tables.push(users);
    let accounts = run.accounts().await?;
    run.report.tables.push(accounts);
    let sessions = run.sessions().await?;
    run.report.tables.push(sessions);
    if let Some(c) = run.organizations().await? {
        run.report.tables.push(c);
    }
    if let Some(c) = run.members().await? {
        run.report.tables.push(c);
    }
    if let Some(c) = run.invitations().await? {
        run.report.tables.push(c);
    }
    if let Some(c) = run.two_factors().await? {
        run.report.tables.push(c);
    }
    let notes = &mut run.report.notes;
    if run.tokens_left_out > 0 {
        notes.push(format!(
            "{} OAuth account(s) had provider access/refresh tokens: they were not copied, because kavachos keeps them encrypted under its secret and none was given (--secret or KAVACHOS_SECRET); the links themselves were imported, and fresh tokens come with the next OAuth sign-in",
            run.tokens_left_out
        ));
    }
    if run.tokens_sealed > 0 {
        notes.push(format!(
            "{} OAuth account(s) had their provider access/refresh tokens copied, encrypted under the kavachos secret",
            run.tokens_sealed
        ));
    }
    if run.tokens_unopened > 0 {
        notes.push(format!(
            "{} OAuth account(s) had tokens better-auth encrypted (encryptOAuthTokens) that did not open with the source secret (--source-secret or BETTER_AUTH_SECRET): those tokens were not copied",
            run.tokens_unopened
        ));
    }
    if run.id_tokens_left_out > 0 {
        notes.push(format!(
            "{} OAuth account(s) had an id token: kavachos does not keep id tokens (they only prove a past sign-in)",
            run.id_tokens_left_out
        ));
    }
    if run.no_password > 0 {
        notes.push(format!(
            "{} credential account(s) had no password hash: those users need a password reset",
            run.no_password
        ));
    }
    if run.unknown_hash > 0 {
        notes.push(format!(
            "{} password hash(es) are neither better-auth scrypt, bcrypt nor PBKDF2: they sign in only through emailAndPassword.verifyLegacyHash",
            run.unknown_hash
        ));
    }
    if run.names_truncated > 0 {
        notes.push(format!(
            "{} name(s) longer than 255 characters were cut to 255",
            run.names_truncated
        ));
    }
    if run.expired_sessions > 0 {
        notes.push(format!(
            "{} expired session(s) were left behind",
            run.expired_sessions
        ));
    }
    if run.roles_collapsed > 0 {
        notes.push(format!(
            "{} member(s) held several roles (\"admin,member\"): kavachos keeps one per member, the strongest of owner, admin, member",
            run.roles_collapsed
        ));
    }
    if run.logos_left_out > 0 {
        notes.push(format!("{} organization logo(s) were not copied (kavachos organizations have no logo column; put it in metadata)", run.logos_left_out));
    }
    if run.two_factor_left_out > 0 {
        notes.push(format!(
            "{} two-factor enrollment(s) were NOT imported: that needs both the kavachos secret (--secret or KAVACHOS_SECRET) and better-auth's (--source-secret or BETTER_AUTH_SECRET); until then those users sign in with their password alone",
            run.two_factor_left_out
        ));
    }
    if run.two_factor_pending > 0 {
        notes.push(format!(
            "{} two-factor enrollment(s) were never confirmed or are switched off in better-auth: left behind",
            run.two_factor_pending
        ));
    }
    if run.backup_codes_unreadable > 0 {
        notes.push(format!(
            "{} two-factor enrollment(s) had backup codes that could not be read (not better-auth's encrypted or plain JSON list): imported without backup codes",
            run.backup_codes_unreadable
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roles_collapse_to_the_strongest() {
        assert_eq!(map_role("owner").as_deref(), Some("owner"));
        assert_eq!(map_role("member, admin").as_deref(), Some("admin"));
        assert_eq!(map_role("billing,member").as_deref(), Some("member"));
        assert_eq!(map_role("billing").as_deref(), Some("billing"));
        assert_eq!(map_role(" , "), None);
    }

    #[test]
    fn hash_formats_kavachos_verifies() {
        assert!(is_known_hash(&format!(
            "{}:{}",
            "ab".repeat(16),
            "cd".repeat(64)
        )));
        assert!(is_known_hash("$2b$10$abcdefghijklmnopqrstuu"));
        assert!(is_known_hash("pbkdf2:1000:00:00"));
        assert!(!is_known_hash("$argon2id$v=19$m=1,t=1,p=1$x$y"));
    }

    fn t(name: &str, cols: &[&str]) -> CatalogTable {
        CatalogTable {
            name: name.into(),
            columns: cols
                .iter()
                .map(|c| (c.to_string(), "text".into()))
                .collect(),
        }
    }

    #[test]
    fn detection_says_why_a_database_is_not_better_auths() {
        let err = detect(&[t("kavach_user", &["id", "email"])]).unwrap_err();
        assert_eq!(err.code(), "IMPORT_SOURCE_INVALID");
        assert!(err.to_string().contains("no \"user\" table"), "{err}");
        let err = detect(&[
            t("user", &["id", "email"]),
            t("account", &["id", "userId", "providerId"]),
            t("session", &["id"]),
        ])
        .unwrap_err();
        assert!(
            err.to_string()
                .contains("\"account\" table has no column for account_id"),
            "{err}"
        );
        let ok = detect(&[
            t("users", &["id", "email", "email_verified"]),
            t(
                "accounts",
                &["id", "user_id", "provider_id", "account_id", "password"],
            ),
            t("sessions", &["id", "user_id", "token", "expires_at"]),
            t("organization", &["id", "name"]),
        ])
        .unwrap();
        assert_eq!(ok.user.table, "users");
        assert!(ok.organization.is_none());
        assert!(
            ok.notes[0].contains("\"organization\" table was not imported"),
            "{:?}",
            ok.notes
        );
    }
}
