//! `kavach-cli import better-auth`: users, credential and OAuth accounts (password hashes kept as
//! they are: better-auth's scrypt form is verified natively on sign-in and then rehashed; provider
//! tokens sealed under our secret), live sessions with their raw token (so `cookieAuth` accepts the
//! old cookie), organizations, members, invitations, and two-factor enrollments (opened with
//! better-auth's secret, sealed under ours).

use std::collections::{HashMap, HashSet};

use sqlx::Row;

use super::ba_crypto;
use super::catalog::{self, opt, req, CatalogTable, Field, Kind, Resolved};
use super::writer::{self, Bv};
use super::{
    fetch_strings as strings, placeholders, users_by_id_or_email, ImportEvent, ImportOptions,
    ImportReport, OnEvent, TableCounts,
};
use crate::accounts::human::normalize_email;
use crate::accounts::provider_tokens::{self, TokenKind};
use crate::config::Dialect;
use crate::error::{KavachError, Result};
use crate::store::db::{dialect_of, sql_for, Pool};
use crate::{col_opt_str, on_pool};

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

struct Target {
    pool: Option<Pool>,
    /// Our tables exist (always after migrations; in a dry run only if a previous run made them).
    ready: bool,
    dry_run: bool,
}

impl Target {
    /// Which of `keys` our `table` holds in `column` (nothing while our tables do not exist).
    async fn keys_in(&self, table: &str, column: &str, keys: &[&str]) -> Result<HashSet<String>> {
        match self.pool.as_ref().filter(|_| self.ready) {
            Some(pool) => writer::keys_in(pool, table, column, keys).await,
            None => Ok(HashSet::new()),
        }
    }

    /// Inserts the rows in one transaction; per row, whether it was written (false: a conflict on
    /// a unique key). In a dry run nothing is written and every row counts as written.
    async fn insert(&self, table: &str, cols: &str, rows: &[Vec<Bv>]) -> Result<Vec<bool>> {
        match self.pool.as_ref().filter(|_| !self.dry_run) {
            Some(pool) => writer::insert(pool, table, cols, rows).await,
            None => Ok(vec![true; rows.len()]),
        }
    }

    /// Refuses a kavachos secret that does not open what our tables already keep sealed (a TOTP
    /// secret, a JWT signing key, a provider token an earlier import sealed): what an import seals
    /// under any other secret than the one createKavach runs with could never be opened.
    async fn check_secret(&self, secret: &str) -> Result<()> {
        let Some(pool) = self.pool.as_ref().filter(|_| self.ready) else {
            return Ok(());
        };
        type Opens = fn(&str, &str, &str) -> bool;
        let probes: [(&str, &str, Opens); 3] = [
            (
                "kavach_two_factor",
                "SELECT user_id, secret FROM kavach_two_factor ORDER BY user_id LIMIT 1",
                |secret, user, sealed| crate::plugins::two_factor::open(secret, user, sealed).is_ok(),
            ),
            (
                "kavach_jwks",
                "SELECT kid, private_key FROM kavach_jwks ORDER BY kid LIMIT 1",
                |secret, kid, sealed| {
                    let label = crate::plugins::jwt::seal_label(kid);
                    crate::crypto::sealed::open(secret.as_bytes(), &label, sealed).is_ok()
                },
            ),
            (
                "kavach_account",
                "SELECT id, access_token FROM kavach_account WHERE access_token LIKE 'v1.%' ORDER BY id LIMIT 1",
                |secret, id, sealed| {
                    provider_tokens::open(secret, id, TokenKind::Access, sealed).is_ok()
                },
            ),
        ];
        let tables = catalog::load(pool).await?;
        for (table, sql, opens) in probes {
            if !tables.iter().any(|t| t.name == table) {
                continue;
            }
            let row = strings(pool, sql, &[]).await?.into_iter().next();
            if let Some([Some(key), Some(sealed)]) = row.as_deref() {
                if opens(secret, key, sealed) {
                    return Ok(());
                }
                return Err(KavachError::ConfigInvalid(
                    "the kavachos secret given to the import does not open what this database already keeps encrypted: give the secret createKavach runs with".into(),
                ));
            }
        }
        Ok(())
    }

    /// [`writer::insert_with_children`], or every row counted as written in a dry run.
    async fn insert_with_children(
        &self,
        parent: (&str, &str),
        child: (&str, &str),
        rows: &[(Vec<Bv>, Vec<Vec<Bv>>)],
    ) -> Result<Vec<bool>> {
        match self.pool.as_ref().filter(|_| !self.dry_run) {
            Some(pool) => writer::insert_with_children(pool, parent, child, rows).await,
            None => Ok(vec![true; rows.len()]),
        }
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

/// The reason a user is skipped when our table holds their email under another id.
const EMAIL_TAKEN: &str =
    "its email (compared case-insensitively) already belongs to another user in kavachos";

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
    tokens_filled: u64,
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

pub(crate) fn is_known_hash(h: &str) -> bool {
    h.starts_with("pbkdf2:")
        || ["$2a$", "$2b$", "$2y$"].iter().any(|p| h.starts_with(p))
        || matches!(h.split_once(':'), Some((s, k)) if !s.is_empty() && k.len() == 128 && s.bytes().chain(k.bytes()).all(|b| b.is_ascii_hexdigit()))
}

/// The in-run set a skipped id joins, so that its dependents know it is missing (in a dry run,
/// where nothing is written, the target cannot tell them).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Track {
    Nothing,
    Users,
    Orgs,
}

/// One keyset page of a source table, and which of its keys our table holds already.
struct Page {
    rows: Vec<SrcRow>,
    present: HashSet<String>,
}

/// Where a source table's rows go: our table, its columns (the first is the key the source's
/// `key` field maps to), and the widest id it takes.
struct Dest {
    table: &'static str,
    cols: &'static str,
    key: &'static str,
    max_id: usize,
    track: Track,
}

/// Whether an account row carries a provider access or refresh token.
fn has_tokens(r: &SrcRow, res: &Resolved) -> bool {
    ["access_token", "refresh_token"]
        .iter()
        .any(|f| r.t(res, f).is_some_and(|t| !t.is_empty()))
}

fn values(rows: &[SrcRow], res: &Resolved, field: &str) -> Vec<String> {
    rows.iter().filter_map(|r| r.t(res, field)).collect()
}

fn refs(v: &[String]) -> Vec<&str> {
    v.iter().map(String::as_str).collect()
}

impl Run<'_> {
    fn skip(&mut self, counts: &mut TableCounts, id: &str, reason: impl Into<String>) {
        counts.skipped += 1;
        self.report.skip(self.on, &counts.table, id, reason.into());
    }

    fn skip_tracked(
        &mut self,
        counts: &mut TableCounts,
        track: Track,
        id: &str,
        reason: impl Into<String>,
    ) {
        match track {
            Track::Users => {
                self.skipped_users.insert(id.to_owned());
            }
            Track::Orgs => {
                self.skipped_orgs.insert(id.to_owned());
            }
            Track::Nothing => {}
        }
        self.skip(counts, id, reason);
    }

    /// The next page of `res` after `after` (which moves on), counted as read, with the keys
    /// (`dest.key` of the source, by default its id) that our `dest.table` holds already.
    async fn next_page(
        &self,
        res: &Resolved,
        dest: &Dest,
        source_key: &str,
        after: &mut String,
        counts: &mut TableCounts,
    ) -> Result<Option<Page>> {
        let rows = self.src.page(res, after, self.batch).await?;
        let Some(last) = rows.last() else {
            return Ok(None);
        };
        *after = last.t(res, "id").unwrap_or_default();
        counts.read += rows.len() as u64;
        let keys = values(&rows, res, source_key);
        let present = self
            .target
            .keys_in(dest.table, dest.key, &refs(&keys))
            .await?;
        Ok(Some(Page { rows, present }))
    }

    /// The checks every row starts with: an id that fits our column (else skipped), and one not
    /// imported already (else counted unchanged).
    fn fresh(
        &mut self,
        counts: &mut TableCounts,
        page: &Page,
        dest: &Dest,
        id: String,
    ) -> Option<String> {
        if too_long(&id, dest.max_id) {
            let reason = format!("its id is empty or longer than {} characters", dest.max_id);
            self.skip_tracked(counts, dest.track, &id, reason);
            return None;
        }
        if page.present.contains(&id) {
            counts.unchanged += 1;
            return None;
        }
        Some(id)
    }

    /// Counts what a write answered per row: imported, or skipped because a unique key of ours
    /// holds it already (`conflict`); then reports the batch.
    fn tally(
        &mut self,
        counts: &mut TableCounts,
        dest: &Dest,
        row_ids: &[String],
        written: Vec<bool>,
        conflict: &str,
    ) {
        for (id, ok) in row_ids.iter().zip(written) {
            if ok {
                counts.imported += 1;
            } else {
                self.skip_tracked(counts, dest.track, id, conflict);
            }
        }
        (self.on)(&ImportEvent::Batch(counts));
    }

    /// Writes a page's rows (one transaction) and tallies them.
    async fn write(
        &mut self,
        counts: &mut TableCounts,
        dest: &Dest,
        rows: Vec<(String, Vec<Bv>)>,
        conflict: &str,
    ) -> Result<()> {
        let (row_ids, rows): (Vec<String>, Vec<Vec<Bv>>) = rows.into_iter().unzip();
        let written = self.target.insert(dest.table, dest.cols, &rows).await?;
        self.tally(counts, dest, &row_ids, written, conflict);
        Ok(())
    }

    /// Of the ids in `field` of a page, those of rows that exist (or, in a dry run, will) in our
    /// `table`: users or organizations a row depends on.
    async fn existing(
        &self,
        page: &Page,
        res: &Resolved,
        field: &str,
        track: Track,
    ) -> Result<HashSet<String>> {
        let ids = values(&page.rows, res, field);
        let ids = refs(&ids);
        let (table, source, skipped) = match track {
            Track::Orgs => (
                "kavach_organizations",
                self.det.organization.as_ref(),
                &self.skipped_orgs,
            ),
            _ => ("kavach_user", Some(&self.det.user), &self.skipped_users),
        };
        let mut found = self.target.keys_in(table, "id", &ids).await?;
        if let (true, Some(source)) = (self.target.dry_run, source) {
            for r in self.src.by_ids(source, &ids).await? {
                if let Some(id) = r.t(source, "id").filter(|id| !skipped.contains(id)) {
                    found.insert(id);
                }
            }
        }
        Ok(found)
    }

    /// An account's access and refresh tokens as we keep them: opened if better-auth encrypted
    /// them (`encryptOAuthTokens`), then sealed under our `secret` for this account row. The flag
    /// says a token in better-auth's envelope did not open with the source secret (left out).
    fn seal_tokens(
        &self,
        secret: &str,
        r: &SrcRow,
        res: &Resolved,
        account_id: &str,
    ) -> Result<(Option<String>, Option<String>, bool)> {
        let mut unopened = false;
        let mut carry = |field: &str, kind: TokenKind| -> Result<Option<String>> {
            let Some(v) = r.t(res, field).filter(|t| !t.is_empty()) else {
                return Ok(None);
            };
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
        let access = carry("access_token", TokenKind::Access)?;
        let refresh = carry("refresh_token", TokenKind::Refresh)?;
        Ok((access, refresh, unopened))
    }

    async fn users(&mut self) -> Result<TableCounts> {
        let res = &self.det.user;
        let dest = Dest {
            table: "kavach_user",
            cols: "id, email, name, email_verified, image, created_at, updated_at",
            key: "id",
            max_id: 255,
            track: Track::Users,
        };
        let mut counts = TableCounts::named("users");
        let mut after = String::new();
        loop {
            let rows = self.src.page(res, &after, self.batch).await?;
            let Some(last) = rows.last() else { break };
            after = last.t(res, "id").unwrap_or_default();
            counts.read += rows.len() as u64;
            let ids = values(&rows, res, "id");
            let emails: Vec<String> = rows
                .iter()
                .filter_map(|r| r.t(res, "email").and_then(|e| normalize_email(&e).ok()))
                .collect();
            // Who is imported already, and who owns an email that another id brings.
            let existing = match self.target.pool.as_ref().filter(|_| self.target.ready) {
                Some(pool) => users_by_id_or_email(pool, &refs(&ids), &emails).await?,
                None => Vec::new(),
            };
            let email_owner: HashMap<String, String> = existing
                .iter()
                .filter_map(|(id, e)| Some((e.clone()?, id.clone())))
                .collect();
            let page = Page {
                rows,
                present: existing.into_iter().map(|(id, _)| id).collect(),
            };
            let mut seen_emails = HashSet::new();
            let mut out = Vec::new();
            for r in &page.rows {
                let Some(id) = self.fresh(
                    &mut counts,
                    &page,
                    &dest,
                    r.t(res, "id").unwrap_or_default(),
                ) else {
                    continue;
                };
                let Some(email) = r.t(res, "email").and_then(|e| normalize_email(&e).ok()) else {
                    self.skip_tracked(
                        &mut counts,
                        Track::Users,
                        &id,
                        "its email is not a valid address",
                    );
                    continue;
                };
                if email_owner.get(&email).is_some_and(|other| *other != id) {
                    self.skip_tracked(&mut counts, Track::Users, &id, EMAIL_TAKEN);
                    continue;
                }
                if !seen_emails.insert(email.clone()) {
                    self.skip_tracked(&mut counts, Track::Users, &id, "its email (compared case-insensitively) already belongs to another user of the source");
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
                out.push((
                    id.clone(),
                    vec![
                        Bv::S(Some(id)),
                        Bv::S(Some(email)),
                        Bv::S(name),
                        Bv::B(r.n(res, "email_verified").unwrap_or(0) != 0),
                        Bv::S(r.t(res, "image")),
                        Bv::T(Some(created)),
                        Bv::T(Some(updated)),
                    ],
                ));
            }
            self.write(&mut counts, &dest, out, EMAIL_TAKEN).await?;
        }
        Ok(counts)
    }

    async fn accounts(&mut self) -> Result<TableCounts> {
        let res = &self.det.account;
        let dest = Dest {
            table: "kavach_account",
            cols: "id, user_id, provider_id, provider_account_id, password, access_token, refresh_token, expires_at, created_at, updated_at",
            key: "id",
            max_id: 255,
            track: Track::Nothing,
        };
        let mut counts = TableCounts::named("accounts");
        let mut after = String::new();
        while let Some(page) = self
            .next_page(res, &dest, "id", &mut after, &mut counts)
            .await?
        {
            let users = self.existing(&page, res, "user_id", Track::Users).await?;
            let mut out = Vec::new();
            let mut fills = Vec::new();
            for r in &page.rows {
                // Copied by an earlier run without our secret: its tokens can come now.
                if let (Some(secret), Some(id), false) =
                    (self.secret, r.t(res, "id"), self.target.dry_run)
                {
                    if page.present.contains(&id) && has_tokens(r, res) {
                        let (access, refresh, _) = self.seal_tokens(secret, r, res, &id)?;
                        if access.is_some() || refresh.is_some() {
                            let expires = r.time(res, "access_token_expires_at");
                            fills.push(vec![
                                Bv::S(access),
                                Bv::S(refresh),
                                Bv::T(expires),
                                Bv::S(Some(id)),
                            ]);
                        }
                    }
                }
                let Some(id) = self.fresh(
                    &mut counts,
                    &page,
                    &dest,
                    r.t(res, "id").unwrap_or_default(),
                ) else {
                    continue;
                };
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
                if provider == crate::accounts::human::CREDENTIAL_PROVIDER {
                    match &password {
                        None => self.no_password += 1,
                        Some(h) if !is_known_hash(h) => self.unknown_hash += 1,
                        Some(_) => {}
                    }
                }
                let (access, refresh) = match (has_tokens(r, res), self.secret) {
                    (false, _) => (None, None),
                    (true, None) => {
                        self.tokens_left_out += 1;
                        (None, None)
                    }
                    (true, Some(secret)) => {
                        let (access, refresh, unopened) = self.seal_tokens(secret, r, res, &id)?;
                        self.tokens_unopened += u64::from(unopened);
                        self.tokens_sealed += u64::from(access.is_some() || refresh.is_some());
                        (access, refresh)
                    }
                };
                if r.t(res, "id_token").is_some_and(|t| !t.is_empty()) {
                    self.id_tokens_left_out += 1;
                }
                let expires = access
                    .as_ref()
                    .and_then(|_| r.time(res, "access_token_expires_at"));
                let created = r.time(res, "created_at").unwrap_or(self.now_ms);
                let updated = r.time(res, "updated_at").unwrap_or(created);
                out.push((
                    id.clone(),
                    vec![
                        Bv::S(Some(id)),
                        Bv::S(Some(user_id)),
                        Bv::S(Some(provider)),
                        Bv::S(Some(account_id)),
                        Bv::S(password),
                        Bv::S(access),
                        Bv::S(refresh),
                        Bv::T(expires),
                        Bv::T(Some(created)),
                        Bv::T(Some(updated)),
                    ],
                ));
            }
            let conflict = "this provider account is already linked to another kavachos account";
            self.write(&mut counts, &dest, out, conflict).await?;
            if let Some(pool) = self.target.pool.as_ref().filter(|_| !fills.is_empty()) {
                self.tokens_filled += writer::execute_each(
                    pool,
                    "UPDATE kavach_account SET access_token = ?, refresh_token = ?, expires_at = ? \
                     WHERE id = ? AND access_token IS NULL AND refresh_token IS NULL",
                    &fills,
                )
                .await?;
            }
        }
        Ok(counts)
    }

    async fn sessions(&mut self) -> Result<TableCounts> {
        let res = &self.det.session;
        let dest = Dest {
            table: "kavach_session",
            cols: "id, user_id, token, expires_at, ip_address, user_agent, created_at, updated_at, active_organization_id",
            key: "id",
            max_id: 255,
            track: Track::Nothing,
        };
        let mut counts = TableCounts::named("sessions");
        let mut after = String::new();
        while let Some(page) = self
            .next_page(res, &dest, "id", &mut after, &mut counts)
            .await?
        {
            let users = self.existing(&page, res, "user_id", Track::Users).await?;
            let mut out = Vec::new();
            for r in &page.rows {
                let Some(id) = self.fresh(
                    &mut counts,
                    &page,
                    &dest,
                    r.t(res, "id").unwrap_or_default(),
                ) else {
                    continue;
                };
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
                out.push((
                    id.clone(),
                    vec![
                        Bv::S(Some(id)),
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
                    ],
                ));
            }
            self.write(&mut counts, &dest, out, "its token is already in kavachos")
                .await?;
        }
        Ok(counts)
    }

    /// The owner of each organization of `org_ids`: its earliest member holding `owner`, else its
    /// earliest member.
    async fn owners(&self, org_ids: &[&str]) -> Result<HashMap<String, (String, bool)>> {
        let Some(m) = &self.det.member else {
            return Ok(HashMap::new());
        };
        if org_ids.is_empty() {
            return Ok(HashMap::new());
        }
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
        let Some(res) = &self.det.organization else {
            return Ok(None);
        };
        let dest = Dest {
            table: "kavach_organizations",
            cols: "id, name, slug, owner_id, metadata, created_at, updated_at",
            key: "id",
            max_id: 64,
            track: Track::Orgs,
        };
        let mut counts = TableCounts::named("organizations");
        let mut after = String::new();
        let mut ownerless = 0u64;
        while let Some(page) = self
            .next_page(res, &dest, "id", &mut after, &mut counts)
            .await?
        {
            let ids = values(&page.rows, res, "id");
            let owners = self.owners(&refs(&ids)).await?;
            let mut out = Vec::new();
            for r in &page.rows {
                let Some(id) = self.fresh(
                    &mut counts,
                    &page,
                    &dest,
                    r.t(res, "id").unwrap_or_default(),
                ) else {
                    continue;
                };
                let name = r.t(res, "name").unwrap_or_default();
                let slug = r.t(res, "slug").unwrap_or_default();
                if too_long(&name, 255) || too_long(&slug, 255) {
                    self.skip_tracked(
                        &mut counts,
                        Track::Orgs,
                        &id,
                        "its name or slug is empty or longer than 255 characters",
                    );
                    continue;
                }
                let Some((owner, is_owner)) = owners.get(&id).cloned() else {
                    self.skip_tracked(
                        &mut counts,
                        Track::Orgs,
                        &id,
                        "it has no members, so no owner",
                    );
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
                out.push((
                    id.clone(),
                    vec![
                        Bv::S(Some(id)),
                        Bv::S(Some(name)),
                        Bv::S(Some(slug)),
                        Bv::S(Some(owner)),
                        Bv::S(metadata),
                        Bv::T(Some(created)),
                        Bv::T(Some(created)),
                    ],
                ));
            }
            let conflict = "its slug is already used by another kavachos organization";
            self.write(&mut counts, &dest, out, conflict).await?;
        }
        if ownerless > 0 {
            self.report.notes.push(format!(
                "{ownerless} organization(s) had no member with the owner role: their earliest member was recorded as owner_id (their member role is unchanged)"
            ));
        }
        Ok(Some(counts))
    }

    async fn members(&mut self) -> Result<Option<TableCounts>> {
        let (Some(res), Some(_)) = (&self.det.member, &self.det.organization) else {
            return Ok(None);
        };
        let dest = Dest {
            table: "kavach_org_members",
            cols: "id, org_id, user_id, role, created_at",
            key: "id",
            max_id: 64,
            track: Track::Nothing,
        };
        let mut counts = TableCounts::named("members");
        let mut after = String::new();
        while let Some(page) = self
            .next_page(res, &dest, "id", &mut after, &mut counts)
            .await?
        {
            let users = self.existing(&page, res, "user_id", Track::Users).await?;
            let orgs = self
                .existing(&page, res, "organization_id", Track::Orgs)
                .await?;
            let mut out = Vec::new();
            for r in &page.rows {
                let Some(id) = self.fresh(
                    &mut counts,
                    &page,
                    &dest,
                    r.t(res, "id").unwrap_or_default(),
                ) else {
                    continue;
                };
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
                out.push((
                    id.clone(),
                    vec![
                        Bv::S(Some(id)),
                        Bv::S(Some(org)),
                        Bv::S(Some(user)),
                        Bv::S(Some(role)),
                        Bv::T(Some(created)),
                    ],
                ));
            }
            let conflict = "this user is already a member of this organization in kavachos";
            self.write(&mut counts, &dest, out, conflict).await?;
        }
        Ok(Some(counts))
    }

    async fn invitations(&mut self) -> Result<Option<TableCounts>> {
        let (Some(res), Some(_)) = (&self.det.invitation, &self.det.organization) else {
            return Ok(None);
        };
        let dest = Dest {
            table: "kavach_org_invitations",
            cols: "id, org_id, email, role, status, inviter_id, expires_at, created_at",
            key: "id",
            max_id: 64,
            track: Track::Nothing,
        };
        let mut counts = TableCounts::named("invitations");
        let mut after = String::new();
        while let Some(page) = self
            .next_page(res, &dest, "id", &mut after, &mut counts)
            .await?
        {
            let orgs = self
                .existing(&page, res, "organization_id", Track::Orgs)
                .await?;
            let mut out = Vec::new();
            for r in &page.rows {
                let Some(id) = self.fresh(
                    &mut counts,
                    &page,
                    &dest,
                    r.t(res, "id").unwrap_or_default(),
                ) else {
                    continue;
                };
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
                out.push((
                    id.clone(),
                    vec![
                        Bv::S(Some(id)),
                        Bv::S(Some(org)),
                        Bv::S(Some(email)),
                        Bv::S(Some(role)),
                        Bv::S(Some(status.to_owned())),
                        Bv::S(r.t(res, "inviter_id").filter(|i| i.chars().count() <= 255)),
                        Bv::T(Some(expires)),
                        Bv::T(Some(created)),
                    ],
                ));
            }
            let conflict = "an invitation with this id is already in kavachos";
            self.write(&mut counts, &dest, out, conflict).await?;
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
        let dest = Dest {
            table: "kavach_two_factor",
            cols: "user_id, secret, enabled, created_at, updated_at",
            key: "user_id",
            max_id: 255,
            track: Track::Nothing,
        };
        let mut counts = TableCounts::named("two-factor");
        let secrets = self.secret.zip(self.source_secret);
        let has_flag = det.user.col("two_factor_enabled").is_some();
        let mut after = String::new();
        while let Some(page) = self
            .next_page(res, &dest, "user_id", &mut after, &mut counts)
            .await?
        {
            let Some((secret, source_secret)) = secrets else {
                // Without both secrets nothing can be opened or sealed: count what is missing.
                let missing = values(&page.rows, res, "user_id")
                    .iter()
                    .filter(|u| !page.present.contains(*u))
                    .count();
                self.two_factor_left_out += missing as u64;
                continue;
            };
            let users = self.existing(&page, res, "user_id", Track::Users).await?;
            let switched_on: HashSet<String> = if has_flag {
                let ids = values(&page.rows, res, "user_id");
                self.src
                    .by_ids(&det.user, &refs(&ids))
                    .await?
                    .iter()
                    .filter(|u| u.n(&det.user, "two_factor_enabled").unwrap_or(0) != 0)
                    .filter_map(|u| u.t(&det.user, "id"))
                    .collect()
            } else {
                HashSet::new()
            };
            let mut out = Vec::new();
            let mut row_ids = Vec::new();
            let mut written_users = HashSet::new();
            for r in &page.rows {
                let id = r.t(res, "id").unwrap_or_default();
                let user = r.t(res, "user_id").unwrap_or_default();
                if page.present.contains(&user) {
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
                        serde_json::from_str::<Vec<String>>(&json).unwrap_or_else(|_| {
                            self.backup_codes_unreadable += 1;
                            Vec::new()
                        })
                    }
                };
                let sealed = crate::plugins::two_factor::seal(secret, &user, totp.as_bytes())?;
                let mut hashes: Vec<String> = codes
                    .iter()
                    .filter_map(|c| crate::plugins::two_factor::backup_code_hash(c))
                    .collect();
                hashes.sort();
                hashes.dedup();
                let children = hashes
                    .into_iter()
                    .map(|h| {
                        vec![
                            Bv::S(Some(crate::crypto::token::hash_token(&format!(
                                "{user}:{h}"
                            )))),
                            Bv::S(Some(user.clone())),
                            Bv::S(Some(h)),
                            Bv::T(Some(self.now_ms)),
                        ]
                    })
                    .collect();
                out.push((
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
                    (dest.table, dest.cols),
                    (
                        "kavach_two_factor_backup",
                        "id, user_id, code_hash, created_at",
                    ),
                    &out,
                )
                .await?;
            let conflict = "its user has two-factor set up in kavachos already";
            self.tally(&mut counts, &dest, &row_ids, written, conflict);
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
            pool,
            ready,
            dry_run: true,
        }
    } else {
        let pool = super::open_for_writing(to).await?;
        match crate::store::db::migrate(&pool, now_ms).await {
            Ok(m) => report.migrations_applied = m.applied,
            Err(e) => {
                super::close(&pool).await;
                return Err(e);
            }
        }
        Target {
            pool: Some(pool),
            ready: true,
            dry_run: false,
        }
    };
    if let Some(secret) = options.secret.as_deref() {
        if let Err(e) = target.check_secret(secret).await {
            if let Some(p) = &target.pool {
                super::close(p).await;
            }
            return Err(e);
        }
    }
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
        tokens_filled: 0,
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
    if run.tokens_filled > 0 {
        notes.push(format!(
            "{} OAuth account(s) copied by an earlier run without the kavachos secret got their provider tokens now, encrypted",
            run.tokens_filled
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
