//! `kavach-cli import better-auth ...`: argument parsing and the terminal report.

use std::io::Write;
use std::process::ExitCode;

use kavach_core::import::clerk::{import_clerk, ClerkOptions};
use kavach_core::import::{import_better_auth, ImportEvent, ImportOptions, ImportReport};
use kavach_core::{Clock, SystemClock};

/// What to run.
#[derive(Debug)]
pub enum Job {
    BetterAuth(ImportOptions),
    Clerk(ClerkOptions),
}

/// `better-auth --from <url> [--to <url>] [--dry-run] [--batch-size <n>] [--secret <s>]
/// [--source-secret <s>]`, or
/// `clerk --file <export> --to <url> [--dry-run] [--batch-size <n>]`.
pub fn parse(args: &[String]) -> Option<Job> {
    let (kind, rest) = args.split_first()?;
    if kind != "better-auth" && kind != "clerk" {
        return None;
    }
    let mut file = None;
    let mut options = ImportOptions::new(String::new());
    let mut it = rest.iter();
    while let Some(arg) = it.next() {
        let (name, inline) = match arg.split_once('=') {
            Some((n, v)) if n.starts_with("--") => (n, Some(v.to_owned())),
            _ => (arg.as_str(), None),
        };
        let mut value = || inline.clone().or_else(|| it.next().cloned());
        match name {
            "--from" if kind == "better-auth" => options.from = value()?,
            "--file" if kind == "clerk" => file = Some(value()?),
            "--to" => options.to = Some(value()?),
            "--batch-size" => options.batch_size = value()?.parse().ok().filter(|n| *n > 0)?,
            "--dry-run" if inline.is_none() => options.dry_run = true,
            "--secret" if kind == "better-auth" => options.secret = Some(value()?),
            "--source-secret" if kind == "better-auth" => options.source_secret = Some(value()?),
            _ => return None,
        }
    }
    if options.to.as_deref().is_some_and(|t| t.trim().is_empty()) {
        return None;
    }
    if kind == "clerk" {
        return Some(Job::Clerk(ClerkOptions {
            file: file.filter(|f| !f.trim().is_empty())?.into(),
            to: options.to?,
            dry_run: options.dry_run,
            batch_size: options.batch_size,
        }));
    }
    if options.from.trim().is_empty() {
        return None;
    }
    Some(Job::BetterAuth(options))
}

fn print_report(r: &ImportReport) {
    let mode = if r.dry_run {
        " (dry run: nothing was written)"
    } else {
        ""
    };
    if r.source == "clerk" {
        println!("source: Clerk export file, into {}{mode}", r.dialect);
    } else {
        println!(
            "source: {} database on {} ({} columns; tables {}){mode}",
            r.source,
            r.dialect,
            r.naming,
            r.source_tables.join(", ")
        );
    }
    if !r.dry_run {
        if r.migrations_applied.is_empty() {
            println!("kavachos migrations: up to date");
        } else {
            let list: Vec<String> = r.migrations_applied.iter().map(i64::to_string).collect();
            println!("kavachos migrations applied: {}", list.join(", "));
        }
    }
    let verb = if r.dry_run {
        "would import"
    } else {
        "imported"
    };
    for t in &r.tables {
        println!(
            "{:<14} {:>8} read  {:>8} {verb}  {:>8} unchanged  {:>8} skipped",
            format!("{}:", t.table),
            t.read,
            t.imported,
            t.unchanged,
            t.skipped
        );
    }
    if r.skipped_total > 0 {
        println!("skipped rows: {}", r.skipped_total);
        for s in &r.skipped {
            println!("  {} {}: {}", s.table, s.id, s.reason);
        }
        if r.skipped_total > r.skipped.len() as u64 {
            println!(
                "  ... and {} more",
                r.skipped_total - r.skipped.len() as u64
            );
        }
    }
    for n in &r.notes {
        println!("note: {n}");
    }
}

/// The secrets not given as flags, from the environment the app itself runs with: ours from
/// `KAVACHOS_SECRET` (or `KAVACH_SECRET`), better-auth's from `BETTER_AUTH_SECRET`. Says which
/// were found (their names, never their values).
fn secrets_from_env(o: &mut ImportOptions, env: impl Fn(&str) -> Option<String>) -> Vec<String> {
    let mut said = Vec::new();
    if o.secret.is_none() {
        for name in ["KAVACHOS_SECRET", "KAVACH_SECRET"] {
            if let Some(v) = env(name).filter(|v| !v.is_empty()) {
                o.secret = Some(v);
                said.push(format!("the kavachos secret from {name}"));
                break;
            }
        }
    }
    if o.source_secret.is_none() {
        if let Some(v) = env("BETTER_AUTH_SECRET").filter(|v| !v.is_empty()) {
            o.source_secret = Some(v);
            said.push("better-auth's secret from BETTER_AUTH_SECRET".into());
        }
    }
    said
}

pub fn main(args: &[String]) -> ExitCode {
    let Some(mut job) = parse(args) else {
        return super::usage();
    };
    if let Job::BetterAuth(o) = &mut job {
        let said = secrets_from_env(o, |n| std::env::var(n).ok());
        if !said.is_empty() {
            eprintln!("using {}", said.join(" and "));
        }
    }
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(_) => {
            eprintln!("kavach-cli: could not start the async runtime");
            return ExitCode::FAILURE;
        }
    };
    let progress = |e: &ImportEvent<'_>| {
        if let ImportEvent::Batch(c) = e {
            let mut err = std::io::stderr().lock();
            let _ = writeln!(
                err,
                "... {}: {} read, {} written, {} unchanged, {} skipped",
                c.table, c.read, c.imported, c.unchanged, c.skipped
            );
        }
    };
    let now = SystemClock.now_ms();
    let result = match &job {
        Job::BetterAuth(o) => runtime.block_on(import_better_auth(o, now, &progress)),
        Job::Clerk(o) => runtime.block_on(import_clerk(o, now, &progress)),
    };
    match result {
        Ok(report) => {
            print_report(&report);
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("kavach-cli: {}: {}", e.code(), e);
            eprintln!("(re-running the import is safe: rows already copied are left as they are)");
            ExitCode::FAILURE
        }
    }
}

#[cfg(test)]
mod tests {
    use super::parse;

    use super::Job;

    fn job(a: &[&str]) -> Option<Job> {
        parse(&a.iter().map(|s| s.to_string()).collect::<Vec<_>>())
    }
    fn v(a: &[&str]) -> Option<kavach_core::import::ImportOptions> {
        match job(a)? {
            Job::BetterAuth(o) => Some(o),
            Job::Clerk(_) => None,
        }
    }

    #[test]
    fn parses_import_arguments() {
        let o = v(&["better-auth", "--from", "ba.db"]).unwrap();
        assert_eq!(
            (o.from.as_str(), o.to.as_deref(), o.dry_run, o.batch_size),
            ("ba.db", None, false, 1000)
        );
        let o = v(&[
            "better-auth",
            "--from=postgres://h/a",
            "--to",
            "sqlite:k.db",
            "--dry-run",
            "--batch-size=50",
        ])
        .unwrap();
        assert_eq!(
            (o.from.as_str(), o.to.as_deref(), o.dry_run, o.batch_size),
            ("postgres://h/a", Some("sqlite:k.db"), true, 50)
        );
        assert!(v(&["better-auth"]).is_none(), "--from is required");
        assert!(v(&["better-auth", "--from"]).is_none());
        assert!(v(&["better-auth", "--from", "a", "--bogus"]).is_none());
        assert!(v(&["better-auth", "--from", "a", "--batch-size", "0"]).is_none());
        assert!(job(&["clerk", "--from", "a"]).is_none());
        let Some(Job::Clerk(c)) = job(&["clerk", "--file", "users.csv", "--to", "k.db"]) else {
            panic!()
        };
        assert_eq!(
            (c.file.to_str(), c.to.as_str(), c.dry_run),
            (Some("users.csv"), "k.db", false)
        );
        assert!(
            job(&["clerk", "--file", "users.csv"]).is_none(),
            "--to is required for clerk"
        );
        let o = v(&[
            "better-auth",
            "--from",
            "a",
            "--secret",
            "ours",
            "--source-secret=theirs",
        ])
        .unwrap();
        assert_eq!(
            (o.secret.as_deref(), o.source_secret.as_deref()),
            (Some("ours"), Some("theirs"))
        );
        assert!(job(&["clerk", "--file", "f", "--to", "t", "--secret", "s"]).is_none());
    }

    #[test]
    fn secrets_come_from_the_environment_unless_given() {
        let env = |n: &str| match n {
            "KAVACH_SECRET" => Some("from-env".to_owned()),
            "BETTER_AUTH_SECRET" => Some("ba-env".to_owned()),
            _ => None,
        };
        let mut o = v(&["better-auth", "--from", "a"]).unwrap();
        let said = super::secrets_from_env(&mut o, env);
        assert_eq!(
            (o.secret.as_deref(), o.source_secret.as_deref()),
            (Some("from-env"), Some("ba-env"))
        );
        assert_eq!(said.len(), 2);
        assert!(!said.join(" ").contains("from-env"), "names, never values");
        let mut o = v(&["better-auth", "--from", "a", "--secret", "flag"]).unwrap();
        super::secrets_from_env(&mut o, env);
        assert_eq!(o.secret.as_deref(), Some("flag"));
    }
}
