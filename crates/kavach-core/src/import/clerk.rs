//! `kavach-cli import clerk --file <export> --to <url>`: Clerk's Dashboard CSV export (with
//! `password_digest` / `password_hasher`) or the JSON of `@clerk/backend` User objects (camelCase
//! fields plus `_raw`; no digests: the API never returns them). The whole file is read and checked
//! once before anything is written, so a truncated or malformed export writes nothing; the second
//! pass streams it in batches.

use std::collections::{HashMap, HashSet};
use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};

use serde::de::{SeqAccess, Visitor};
use serde::Deserializer as _;

use super::writer::{self, Bv};
use super::{users_by_id_or_email, ImportEvent, ImportReport, OnEvent, TableCounts};
use crate::accounts::human::{normalize_email, CREDENTIAL_PROVIDER};
use crate::error::{KavachError, Result};
use crate::store::db::Pool;

/// What to import.
#[derive(Debug, Clone)]
pub struct ClerkOptions {
    pub file: PathBuf,
    pub to: String,
    pub dry_run: bool,
    pub batch_size: usize,
}

/// One Clerk user, from either export shape.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ClerkUser {
    pub id: String,
    pub email: Option<String>,
    pub email_verified: bool,
    pub first_name: Option<String>,
    pub last_name: Option<String>,
    pub image: Option<String>,
    pub password_digest: Option<String>,
    pub password_hasher: Option<String>,
    pub created_at: Option<i64>,
    pub updated_at: Option<i64>,
    /// `(kavachos provider id, provider's user id, Clerk's external account id)`.
    pub external_accounts: Vec<(String, String, Option<String>)>,
}

impl ClerkUser {
    /// First and last name joined by one space; `None` when both are missing.
    pub fn name(&self) -> Option<String> {
        let parts: Vec<&str> = [&self.first_name, &self.last_name]
            .into_iter()
            .flatten()
            .map(|s| s.trim())
            .filter(|s| !s.is_empty())
            .collect();
        (!parts.is_empty()).then(|| parts.join(" "))
    }
}

/// `oauth_github` → `github` (Clerk's strategy names; kavachos uses the bare provider id).
pub fn map_provider(clerk: &str) -> String {
    clerk.strip_prefix("oauth_").unwrap_or(clerk).to_owned()
}

fn bad(msg: impl Into<String>) -> KavachError {
    KavachError::ImportSourceInvalid(format!("the export file is malformed: {}", msg.into()))
}

// ---- CSV -------------------------------------------------------------------------------------

/// A streaming RFC 4180 reader: `,` separated, `"` quoted with `""` escapes, CRLF or LF.
struct Csv<R: BufRead> {
    input: R,
    record: u64,
}

impl<R: BufRead> Csv<R> {
    fn next_record(&mut self) -> Result<Option<Vec<String>>> {
        let mut fields = Vec::new();
        let mut field = Vec::new();
        let mut quoted = false;
        let mut started = false;
        let mut after_quote = false;
        loop {
            let buf = self
                .input
                .fill_buf()
                .map_err(|_| bad("it could not be read"))?;
            if buf.is_empty() {
                if quoted {
                    return Err(bad(format!(
                        "record {} ends inside a quoted field (is the file truncated?)",
                        self.record + 1
                    )));
                }
                if !started && fields.is_empty() {
                    return Ok(None);
                }
                fields.push(String::from_utf8(field).map_err(|_| bad("it is not UTF-8"))?);
                self.record += 1;
                return Ok(Some(fields));
            }
            let mut used = 0;
            let mut done = false;
            for &b in buf.iter() {
                used += 1;
                started = true;
                if quoted {
                    if b == b'"' {
                        quoted = false;
                        after_quote = true;
                    } else {
                        field.push(b);
                    }
                    continue;
                }
                match b {
                    b'"' if after_quote => {
                        field.push(b'"');
                        quoted = true;
                        after_quote = false;
                    }
                    b'"' if field.is_empty() => quoted = true,
                    b',' => {
                        fields.push(
                            String::from_utf8(std::mem::take(&mut field))
                                .map_err(|_| bad("it is not UTF-8"))?,
                        );
                        after_quote = false;
                    }
                    b'\r' => {}
                    b'\n' => {
                        done = true;
                        break;
                    }
                    _ => {
                        if after_quote {
                            return Err(bad(format!(
                                "record {} has text after a closing quote",
                                self.record + 1
                            )));
                        }
                        field.push(b);
                    }
                }
            }
            self.input.consume(used);
            if done {
                fields.push(String::from_utf8(field).map_err(|_| bad("it is not UTF-8"))?);
                self.record += 1;
                return Ok(Some(fields));
            }
        }
    }
}

fn split_list(v: &str) -> Vec<String> {
    v.split(['|', ',', ';'])
        .map(|s| s.trim().to_lowercase())
        .filter(|s| !s.is_empty())
        .collect()
}

fn parse_csv(r: impl BufRead, sink: &mut dyn FnMut(ClerkUser) -> Result<()>) -> Result<u64> {
    let mut csv = Csv {
        input: r,
        record: 0,
    };
    let header = csv.next_record()?.ok_or_else(|| bad("it is empty"))?;
    let header: Vec<String> = header
        .iter()
        .map(|h| h.trim().trim_start_matches('\u{feff}').to_owned())
        .collect();
    let col = |n: &str| header.iter().position(|h| h == n);
    let (Some(id_i), Some(email_i)) = (col("id"), col("primary_email_address")) else {
        return Err(KavachError::ImportSourceInvalid(
            "this is not a Clerk export: the CSV header has no id and primary_email_address columns".into(),
        ));
    };
    let (first_i, last_i) = (col("first_name"), col("last_name"));
    let (verified_i, unverified_i) = (
        col("verified_email_addresses"),
        col("unverified_email_addresses"),
    );
    let (digest_i, hasher_i) = (col("password_digest"), col("password_hasher"));
    let mut n = 0;
    while let Some(rec) = csv.next_record()? {
        if rec.len() == 1 && rec[0].trim().is_empty() {
            continue; // a blank line
        }
        if rec.len() != header.len() {
            return Err(bad(format!(
                "record {} has {} fields where the header has {} (is the file truncated?)",
                csv.record,
                rec.len(),
                header.len()
            )));
        }
        let get = |i: Option<usize>| {
            i.and_then(|i| rec.get(i))
                .map(|s| s.trim().to_owned())
                .filter(|s| !s.is_empty())
        };
        let email = get(Some(email_i));
        let verified = get(verified_i).map(|v| split_list(&v)).unwrap_or_default();
        let unverified = get(unverified_i)
            .map(|v| split_list(&v))
            .unwrap_or_default();
        let lower = email.as_ref().map(|e| e.to_lowercase());
        let email_verified = lower
            .as_ref()
            .is_some_and(|e| verified.contains(e) && !unverified.contains(e));
        sink(ClerkUser {
            id: get(Some(id_i)).ok_or_else(|| bad(format!("record {} has no id", csv.record)))?,
            email,
            email_verified,
            first_name: get(first_i),
            last_name: get(last_i),
            password_digest: get(digest_i),
            password_hasher: get(hasher_i),
            ..Default::default()
        })?;
        n += 1;
    }
    Ok(n)
}

// ---- JSON ------------------------------------------------------------------------------------

fn s(v: &serde_json::Value, keys: &[&str]) -> Option<String> {
    keys.iter().find_map(|k| {
        let mut cur = v;
        for part in k.split('.') {
            cur = cur.get(part)?;
        }
        cur.as_str().map(str::to_owned).filter(|s| !s.is_empty())
    })
}

fn num(v: &serde_json::Value, keys: &[&str]) -> Option<i64> {
    keys.iter().find_map(|k| {
        let mut cur = v;
        for part in k.split('.') {
            cur = cur.get(part)?;
        }
        cur.as_i64()
    })
}

/// One `@clerk/backend` User as `JSON.stringify` writes it (camelCase, with `_raw` as a fallback).
pub fn user_from_json(v: &serde_json::Value) -> std::result::Result<ClerkUser, String> {
    let id = s(v, &["id", "_raw.id"]).ok_or("a user has no id")?;
    let primary = s(
        v,
        &["primaryEmailAddressId", "_raw.primary_email_address_id"],
    );
    let emails = v
        .get("emailAddresses")
        .or_else(|| v.pointer("/_raw/email_addresses"))
        .and_then(|e| e.as_array())
        .cloned()
        .unwrap_or_default();
    let chosen = emails
        .iter()
        .find(|e| primary.is_some() && s(e, &["id"]) == primary)
        .or_else(|| emails.first());
    let (email, email_verified) = match chosen {
        Some(e) => (
            s(e, &["emailAddress", "email_address"]),
            s(e, &["verification.status"]).as_deref() == Some("verified"),
        ),
        None => (None, false),
    };
    let mut external_accounts = Vec::new();
    let ext = v
        .get("externalAccounts")
        .or_else(|| v.pointer("/_raw/external_accounts"))
        .and_then(|e| e.as_array())
        .cloned()
        .unwrap_or_default();
    for a in &ext {
        let provider = s(a, &["provider", "strategy"]);
        let subject = s(
            a,
            &[
                "providerUserId",
                "externalId",
                "provider_user_id",
                "external_id",
            ],
        );
        if let (Some(p), Some(sub)) = (provider, subject) {
            external_accounts.push((map_provider(&p), sub, s(a, &["id"])));
        }
    }
    Ok(ClerkUser {
        id,
        email,
        email_verified,
        first_name: s(v, &["firstName", "_raw.first_name"]),
        last_name: s(v, &["lastName", "_raw.last_name"]),
        image: s(v, &["imageUrl", "_raw.image_url"]),
        password_digest: None,
        password_hasher: None,
        created_at: num(v, &["createdAt", "_raw.created_at"]),
        updated_at: num(v, &["updatedAt", "_raw.updated_at"]),
        external_accounts,
    })
}

struct Users<'s>(
    &'s mut dyn FnMut(ClerkUser) -> Result<()>,
    &'s mut u64,
    &'s mut Option<KavachError>,
);

impl<'de> Visitor<'de> for Users<'_> {
    type Value = ();
    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("an array of Clerk users")
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> std::result::Result<(), A::Error> {
        while let Some(v) = seq.next_element::<serde_json::Value>()? {
            let user = user_from_json(&v).map_err(serde::de::Error::custom)?;
            if let Err(e) = (self.0)(user) {
                *self.2 = Some(e);
                return Err(serde::de::Error::custom("stopped"));
            }
            *self.1 += 1;
        }
        Ok(())
    }
}

fn parse_json(r: impl Read, sink: &mut dyn FnMut(ClerkUser) -> Result<()>) -> Result<u64> {
    let mut n = 0;
    let mut stopped = None;
    let mut de = serde_json::Deserializer::from_reader(r);
    let result = (&mut de).deserialize_seq(Users(sink, &mut n, &mut stopped));
    if let Some(e) = stopped {
        return Err(e);
    }
    result.map_err(|e| {
        if e.is_eof() {
            bad(format!(
                "the JSON ends early at line {} (is the file truncated?)",
                e.line()
            ))
        } else {
            bad(format!("invalid JSON at line {}: {}", e.line(), e))
        }
    })?;
    de.end().map_err(|e| {
        bad(format!(
            "unexpected text after the array at line {}",
            e.line()
        ))
    })?;
    Ok(n)
}

/// Reads every user of the export at `path` (either shape) into `sink`; the number read.
pub fn parse_file(path: &Path, sink: &mut dyn FnMut(ClerkUser) -> Result<()>) -> Result<u64> {
    let file = std::fs::File::open(path)
        .map_err(|_| KavachError::ImportSourceInvalid("the export file cannot be opened".into()))?;
    parse_reader(BufReader::with_capacity(64 * 1024, file), sink)
}

/// [`parse_file`] on an export already open: a JSON array when its first non-blank byte is `[`,
/// else CSV.
pub fn parse_reader(
    mut r: impl BufRead,
    sink: &mut dyn FnMut(ClerkUser) -> Result<()>,
) -> Result<u64> {
    let first = loop {
        let buf = r.fill_buf().map_err(|_| bad("it could not be read"))?;
        let Some(pos) = buf.iter().position(|b| !b.is_ascii_whitespace()) else {
            if buf.is_empty() {
                return Err(bad("it is empty"));
            }
            let len = buf.len();
            r.consume(len);
            continue;
        };
        r.consume(pos);
        break r.fill_buf().map_err(|_| bad("it could not be read"))?[0];
    };
    if first == b'[' {
        parse_json(r, sink)
    } else {
        parse_csv(r, sink)
    }
}

// ---- writing ---------------------------------------------------------------------------------

#[derive(Default)]
struct Tally {
    users: TableCounts,
    accounts: TableCounts,
    no_digest: u64,
    other_hasher: u64,
}

async fn write_batch(
    pool: Option<&Pool>,
    dry_run: bool,
    batch: Vec<ClerkUser>,
    now_ms: i64,
    t: &mut Tally,
    report: &mut ImportReport,
    on: OnEvent<'_>,
) -> Result<()> {
    t.users.read += batch.len() as u64;
    let ids: Vec<&str> = batch.iter().map(|u| u.id.as_str()).collect();
    let emails: Vec<String> = batch
        .iter()
        .filter_map(|u| u.email.as_deref().and_then(|e| normalize_email(e).ok()))
        .collect();
    let found = match pool {
        Some(p) => users_by_id_or_email(p, &ids, &emails).await?,
        None => Vec::new(),
    };
    let present: HashSet<&str> = found.iter().map(|(id, _)| id.as_str()).collect();
    let owner: HashMap<&str, &str> = found
        .iter()
        .filter_map(|(id, e)| Some((e.as_deref()?, id.as_str())))
        .collect();
    let mut seen = HashSet::new();
    let mut users = Vec::new();
    let mut accounts = Vec::new();
    let mut user_ids = Vec::new();
    let mut account_ids = Vec::new();
    for u in batch {
        let mut skip = |t: &mut Tally, reason: &str| {
            t.users.skipped += 1;
            report.skip(on, "users", &u.id, reason.into());
        };
        if u.id.chars().count() > 255 {
            skip(t, "its id is longer than 255 characters");
            continue;
        }
        let Some(email) = u.email.as_deref().and_then(|e| normalize_email(e).ok()) else {
            skip(t, "it has no valid email address");
            continue;
        };
        if let Some(other) = owner.get(email.as_str()) {
            if *other != u.id {
                skip(t, "its email already belongs to another kavachos user");
                continue;
            }
        }
        if !seen.insert(email.clone()) {
            skip(t, "another user of the export has the same email");
            continue;
        }
        let is_present = present.contains(u.id.as_str());
        if is_present {
            t.users.unchanged += 1;
        } else {
            let created = u.created_at.unwrap_or(now_ms);
            users.push(vec![
                Bv::S(Some(u.id.clone())),
                Bv::S(Some(email)),
                Bv::S(u.name()),
                Bv::B(u.email_verified),
                Bv::S(u.image.clone()),
                Bv::T(Some(created)),
                Bv::T(Some(u.updated_at.unwrap_or(created))),
            ]);
            user_ids.push(u.id.clone());
        }
        match (&u.password_digest, u.password_hasher.as_deref()) {
            (Some(d), Some("bcrypt")) => {
                accounts.push((
                    format!("clerk_pw_{}", u.id),
                    u.id.clone(),
                    CREDENTIAL_PROVIDER.to_owned(),
                    u.id.clone(),
                    Some(d.clone()),
                ));
            }
            (Some(d), _) => {
                t.other_hasher += 1;
                accounts.push((
                    format!("clerk_pw_{}", u.id),
                    u.id.clone(),
                    CREDENTIAL_PROVIDER.to_owned(),
                    u.id.clone(),
                    Some(d.clone()),
                ));
            }
            (None, _) => t.no_digest += 1,
        }
        for (provider, subject, ext_id) in &u.external_accounts {
            let id = ext_id
                .clone()
                .unwrap_or_else(|| format!("clerk_{provider}_{subject}"));
            accounts.push((id, u.id.clone(), provider.clone(), subject.clone(), None));
        }
    }
    let written = match pool.filter(|_| !dry_run) {
        Some(p) => {
            writer::insert(
                p,
                "kavach_user",
                "id, email, name, email_verified, image, created_at, updated_at",
                &users,
            )
            .await?
        }
        None => vec![true; users.len()],
    };
    let mut failed_users = HashSet::new();
    for (id, ok) in user_ids.iter().zip(written) {
        if ok {
            t.users.imported += 1;
        } else {
            failed_users.insert(id.clone());
            t.users.skipped += 1;
            report.skip(
                on,
                "users",
                id,
                "its email already belongs to another kavachos user".into(),
            );
        }
    }
    accounts.retain(|a| !failed_users.contains(&a.1));
    t.accounts.read += accounts.len() as u64;
    let acc_ids: Vec<&str> = accounts.iter().map(|a| a.0.as_str()).collect();
    let present = match pool {
        Some(p) => writer::keys_in(p, "kavach_account", "id", &acc_ids).await?,
        None => HashSet::new(),
    };
    let mut rows = Vec::new();
    for (id, user, provider, subject, password) in accounts {
        if present.contains(&id) {
            t.accounts.unchanged += 1;
            continue;
        }
        if provider.len() > 64 || subject.chars().count() > 255 || id.chars().count() > 255 {
            t.accounts.skipped += 1;
            report.skip(
                on,
                "accounts",
                &id,
                "its provider id or subject is too long".into(),
            );
            continue;
        }
        rows.push(vec![
            Bv::S(Some(id.clone())),
            Bv::S(Some(user)),
            Bv::S(Some(provider)),
            Bv::S(Some(subject)),
            Bv::S(password),
            Bv::T(Some(now_ms)),
            Bv::T(Some(now_ms)),
        ]);
        account_ids.push(id);
    }
    let written =
        match pool.filter(|_| !dry_run) {
            Some(p) => writer::insert(
                p,
                "kavach_account",
                "id, user_id, provider_id, provider_account_id, password, created_at, updated_at",
                &rows,
            )
            .await?,
            None => vec![true; rows.len()],
        };
    for (id, ok) in account_ids.iter().zip(written) {
        if ok {
            t.accounts.imported += 1;
        } else {
            t.accounts.skipped += 1;
            report.skip(
                on,
                "accounts",
                id,
                "this provider account is already linked to another kavachos user".into(),
            );
        }
    }
    on(&ImportEvent::Batch(&t.users));
    Ok(())
}

/// Imports a Clerk export file into kavachos's tables.
pub fn import_clerk<'a>(
    options: &'a ClerkOptions,
    now_ms: i64,
    on: OnEvent<'a>,
) -> crate::BoxFut<'a, Result<ImportReport>> {
    Box::pin(async move {
        // Pass 1: the whole file parses, or nothing is touched.
        let path = options.file.clone();
        tokio::task::spawn_blocking(move || parse_file(&path, &mut |_| Ok(())))
            .await
            .map_err(|_| KavachError::Internal("the export reader failed".into()))??;
        let mut report = ImportReport {
            source: "clerk".into(),
            dialect: super::provider_of(&options.to).into(),
            naming: "clerk export".into(),
            dry_run: options.dry_run,
            ..Default::default()
        };
        let pool = if options.dry_run {
            match super::open_read_only(&options.to, "target", true).await? {
                Some(p) if super::catalog::has_kavach_tables(&super::catalog::load(&p).await?) => {
                    Some(p)
                }
                Some(p) => {
                    super::close(&p).await;
                    None
                }
                None => None,
            }
        } else {
            let p = super::open_for_writing(&options.to).await?;
            match crate::store::db::migrate(&p, now_ms).await {
                Ok(m) => report.migrations_applied = m.applied,
                Err(e) => {
                    super::close(&p).await;
                    return Err(e);
                }
            }
            Some(p)
        };
        // Pass 2: stream batches from a reader thread.
        let (tx, mut rx) = tokio::sync::mpsc::channel::<Vec<ClerkUser>>(2);
        let path = options.file.clone();
        let size = options.batch_size.clamp(1, 10_000);
        let reader = tokio::task::spawn_blocking(move || {
            let mut batch = Vec::with_capacity(size);
            parse_file(&path, &mut |u| {
                batch.push(u);
                if batch.len() >= size {
                    tx.blocking_send(std::mem::take(&mut batch))
                        .map_err(|_| KavachError::Internal("the import stopped".into()))?;
                }
                Ok(())
            })?;
            if !batch.is_empty() {
                let _ = tx.blocking_send(batch);
            }
            Ok::<(), KavachError>(())
        });
        let mut tally = Tally {
            users: TableCounts {
                table: "users".into(),
                ..Default::default()
            },
            accounts: TableCounts {
                table: "accounts".into(),
                ..Default::default()
            },
            ..Default::default()
        };
        let mut result = Ok(());
        while let Some(batch) = rx.recv().await {
            if let Err(e) = write_batch(
                pool.as_ref(),
                options.dry_run,
                batch,
                now_ms,
                &mut tally,
                &mut report,
                on,
            )
            .await
            {
                result = Err(e);
                break;
            }
        }
        drop(rx);
        let _ = reader.await;
        if let Some(p) = &pool {
            super::close(p).await;
        }
        result?;
        report.tables = vec![tally.users, tally.accounts];
        if tally.no_digest > 0 {
            report.notes.push(format!(
                "{} user(s) have no password digest (Clerk's API never returns them): they cannot sign in with a password until they reset it (from code: send them all a reset through sendResetPassword)",
                tally.no_digest
            ));
        }
        if tally.other_hasher > 0 {
            report.notes.push(format!(
                "{} digest(s) are not bcrypt: they sign in only through emailAndPassword.verifyLegacyHash",
                tally.other_hasher
            ));
        }
        Ok(report)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const HEADER: &str = "id,first_name,last_name,username,primary_email_address,primary_phone_number,verified_email_addresses,unverified_email_addresses,verified_phone_numbers,unverified_phone_numbers,totp_secret,password_digest,password_hasher";

    fn csv(body: &str) -> Result<Vec<ClerkUser>> {
        let mut out = Vec::new();
        parse_csv(
            std::io::Cursor::new(format!("{HEADER}\n{body}")),
            &mut |u| {
                out.push(u);
                Ok(())
            },
        )?;
        Ok(out)
    }

    #[test]
    fn dashboard_csv_rows() {
        let users = csv("user_1,Ada,,,Ada@Example.com,,ada@example.com,,,,,\"$2b$10$abc,def\",bcrypt\r\nuser_2,,Hopper,,g@x.dev,,,g@x.dev,,,,,\n").unwrap();
        assert_eq!(users.len(), 2);
        assert_eq!(users[0].id, "user_1");
        assert_eq!(users[0].name().as_deref(), Some("Ada"), "no stray space");
        assert!(users[0].email_verified);
        assert_eq!(users[0].password_digest.as_deref(), Some("$2b$10$abc,def"));
        assert_eq!(users[0].password_hasher.as_deref(), Some("bcrypt"));
        assert_eq!(users[1].name().as_deref(), Some("Hopper"));
        assert!(!users[1].email_verified);
        assert_eq!(users[1].password_digest, None);
    }

    #[test]
    fn malformed_or_truncated_csv_is_refused() {
        assert!(csv("user_1,Ada,,,a@x.dev,,,,,,,\"$2b$10")
            .unwrap_err()
            .to_string()
            .contains("truncated"));
        assert!(csv("user_1,Ada,a@x.dev\n")
            .unwrap_err()
            .to_string()
            .contains("3 fields where the header has 13"));
        let e =
            parse_csv(std::io::Cursor::new("email,name\na@x,b\n"), &mut |_| Ok(())).unwrap_err();
        assert_eq!(e.code(), "IMPORT_SOURCE_INVALID");
    }

    #[test]
    fn clerk_backend_json_users() {
        let v = serde_json::json!([{
            "id": "user_2x", "firstName": "Grace", "lastName": null, "imageUrl": "https://img/x",
            "primaryEmailAddressId": "idn_2",
            "emailAddresses": [
                { "id": "idn_1", "emailAddress": "old@x.dev", "verification": { "status": "unverified" } },
                { "id": "idn_2", "emailAddress": "grace@x.dev", "verification": { "status": "verified" } }
            ],
            "externalAccounts": [{ "id": "eac_1", "provider": "oauth_github", "externalId": "4242" }],
            "createdAt": 1700000000000i64, "updatedAt": 1700000001000i64,
            "_raw": { "id": "user_2x" }
        }]);
        let mut out = Vec::new();
        parse_json(std::io::Cursor::new(v.to_string()), &mut |u| {
            out.push(u);
            Ok(())
        })
        .unwrap();
        let u = &out[0];
        assert_eq!(u.email.as_deref(), Some("grace@x.dev"));
        assert!(u.email_verified);
        assert_eq!(u.name().as_deref(), Some("Grace"));
        assert_eq!(
            u.external_accounts,
            vec![("github".into(), "4242".into(), Some("eac_1".into()))]
        );
        assert_eq!(u.created_at, Some(1_700_000_000_000));
        let text = v.to_string();
        let e = parse_json(std::io::Cursor::new(&text[..text.len() - 20]), &mut |_| {
            Ok(())
        })
        .unwrap_err();
        assert!(e.to_string().contains("truncated"), "{e}");
        assert_eq!(map_provider("oauth_google"), "google");
    }
}
