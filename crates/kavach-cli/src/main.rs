//! `kavach-cli migrate --url <database url>`: runs the migrations kavachos applies on boot.
//! `kavach-cli import better-auth --from <url> [--to <url>] [--dry-run]`: copies a better-auth
//! database into kavachos's tables (see kavach_core::import).

use std::process::ExitCode;

mod import;

const USAGE: &str = "usage: kavach-cli migrate [--url <database url>]   (default: $DATABASE_URL)
       kavach-cli import better-auth --from <database url> [--to <database url>] [--dry-run] [--batch-size <n>]
                 [--secret <kavachos secret>] [--source-secret <better-auth secret>]
         (--to defaults to --from: kavachos's tables beside better-auth's; the secrets default to
          $KAVACHOS_SECRET (or $KAVACH_SECRET) and $BETTER_AUTH_SECRET, which keep them out of the
          process list: with both, two-factor enrollments and OAuth tokens come across encrypted)
       kavach-cli import clerk --file <export.csv|export.json> --to <database url> [--dry-run] [--batch-size <n>]";

fn usage() -> ExitCode {
    eprintln!("{USAGE}");
    ExitCode::from(2)
}

fn parse(args: &[String]) -> Option<String> {
    let (command, rest) = args.split_first()?;
    if command != "migrate" {
        return None;
    }
    let mut url = std::env::var("DATABASE_URL").ok();
    let mut it = rest.iter();
    while let Some(arg) = it.next() {
        if arg == "--url" {
            url = Some(it.next()?.clone());
        } else if let Some(v) = arg.strip_prefix("--url=") {
            url = Some(v.to_owned());
        } else {
            return None;
        }
    }
    url.filter(|u| !u.is_empty())
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if matches!(
        args.first().map(String::as_str),
        Some("--help" | "-h" | "help")
    ) {
        println!("{USAGE}");
        return ExitCode::SUCCESS;
    }
    if args.first().map(String::as_str) == Some("import") {
        return import::main(&args[1..]);
    }
    let Some(url) = parse(&args) else {
        return usage();
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
    match runtime.block_on(kavach_core::migrate_url(&url)) {
        Ok(report) if report.applied.is_empty() => {
            println!("the database is up to date (version {})", report.current);
            ExitCode::SUCCESS
        }
        Ok(report) => {
            let list: Vec<String> = report.applied.iter().map(i64::to_string).collect();
            println!("applied migrations: {}", list.join(", "));
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("kavach-cli: {}: {}", e.code(), e);
            ExitCode::FAILURE
        }
    }
}

#[cfg(test)]
mod tests {
    use super::parse;

    #[test]
    fn parses_url_forms() {
        let v = |a: &[&str]| parse(&a.iter().map(|s| s.to_string()).collect::<Vec<_>>());
        assert_eq!(
            v(&["migrate", "--url", "sqlite:x.db"]),
            Some("sqlite:x.db".into())
        );
        assert_eq!(
            v(&["migrate", "--url=postgres://h/db"]),
            Some("postgres://h/db".into())
        );
        assert_eq!(v(&["migrate", "--bogus"]), None);
        assert_eq!(v(&["other"]), None);
        assert_eq!(v(&["migrate", "--url"]), None);
    }
}
