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

/// `better-auth --from <url> [--to <url>] [--dry-run] [--batch-size <n>]`, or
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

pub fn main(args: &[String]) -> ExitCode {
    let Some(job) = parse(args) else {
        return super::usage();
    };
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
    }
}
