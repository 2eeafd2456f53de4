//! better-auth rows as the importer reads them: the input describes source tables
//! (`{ "<table>": { "columns": [["name", "declared type"], ...], "rows": [[value, ...], ...] } }`,
//! a value `{ "hex": "..." }` being a BLOB), written to a SQLite file with SQLite's loose typing,
//! then imported (a dry run) with both secrets, so every row goes through detection, the typed
//! reads, time conversions, role mapping, hash recognition and better-auth's decryption. Plus the
//! per-value parsers on every value. The import may refuse the source, never crash on it.
#![no_main]

use kavach_core::fuzzing;
use kavach_core::import::better_auth::map_role;
use kavach_core::import::catalog::millis_from_number;
use kavach_core::import::{import_better_auth, ImportOptions};
use kavach_fuzz::{check_error, harness};
use libfuzzer_sys::fuzz_target;
use rusqlite::types::Value as Sql;
use serde_json::Value;

const SOURCE_SECRET: &str = "better-auth-secret-better-auth-secret-42";

fn sql_value(v: &Value) -> Sql {
    match v {
        Value::Null => Sql::Null,
        Value::Bool(b) => Sql::Integer(i64::from(*b)),
        Value::Number(n) => match n.as_i64() {
            Some(i) => Sql::Integer(i),
            None => Sql::Real(n.as_f64().unwrap_or(0.0)),
        },
        Value::String(s) => Sql::Text(s.clone()),
        Value::Object(o) => match o.get("hex").and_then(Value::as_str) {
            Some(h) => Sql::Blob(
                (0..h.len() / 2)
                    .filter_map(|i| h.get(2 * i..2 * i + 2))
                    .filter_map(|b| u8::from_str_radix(b, 16).ok())
                    .collect(),
            ),
            None => Sql::Text(v.to_string()),
        },
        Value::Array(_) => Sql::Text(v.to_string()),
    }
}

fn quote(ident: &str) -> String {
    format!("\"{}\"", ident.replace('"', "\"\""))
}

fn per_value(v: &Value) {
    match v {
        Value::String(s) => {
            let _ = map_role(s);
            let _ = fuzzing::better_auth_known_hash(s);
            let (hexish, envelope) = fuzzing::better_auth_looks_encrypted(s);
            assert!(!envelope || hexish);
            if let Some(plain) = fuzzing::better_auth_open(SOURCE_SECRET, s) {
                assert!(
                    hexish,
                    "opened a value better-auth would not take for ciphertext"
                );
                let _ = plain;
            }
            let _ = serde_json::from_str::<Vec<String>>(s);
        }
        Value::Number(n) => {
            if let Some(i) = n.as_i64() {
                let _ = millis_from_number(i);
            }
        }
        _ => {}
    }
}

fuzz_target!(|data: &[u8]| {
    let Ok(Value::Object(tables)) = serde_json::from_slice::<Value>(data) else {
        return;
    };
    let h = harness();
    let dir = std::env::temp_dir().join(format!("kavach-fuzz-ba-{}", std::process::id()));
    let _ = std::fs::create_dir_all(&dir);
    let src = dir.join("source.db");
    let _ = std::fs::remove_file(&src);
    {
        let Ok(db) = rusqlite::Connection::open(&src) else {
            return;
        };
        for (name, t) in &tables {
            let cols: Vec<(String, String)> = t
                .get("columns")
                .and_then(Value::as_array)
                .map(|c| {
                    c.iter()
                        .filter_map(|p| {
                            Some((
                                p.get(0)?.as_str()?.to_owned(),
                                p.get(1)?.as_str().unwrap_or("").to_owned(),
                            ))
                        })
                        .collect()
                })
                .unwrap_or_default();
            if cols.is_empty() || cols.len() > 64 {
                continue;
            }
            let decl: Vec<String> = cols
                .iter()
                .map(|(c, ty)| {
                    format!(
                        "{} {}",
                        quote(c),
                        ty.replace([';', '(', ')', '\'', '"'], "")
                    )
                })
                .collect();
            if db
                .execute(
                    &format!("CREATE TABLE {} ({})", quote(name), decl.join(", ")),
                    [],
                )
                .is_err()
            {
                continue;
            }
            let rows = t
                .get("rows")
                .and_then(Value::as_array)
                .cloned()
                .unwrap_or_default();
            let marks = vec!["?"; cols.len()].join(", ");
            let sql = format!("INSERT INTO {} VALUES ({marks})", quote(name));
            for row in rows.iter().take(200) {
                let Some(row) = row.as_array() else { continue };
                for v in row {
                    per_value(v);
                }
                let vals: Vec<Sql> = (0..cols.len())
                    .map(|i| row.get(i).map_or(Sql::Null, sql_value))
                    .collect();
                let _ = db.execute(&sql, rusqlite::params_from_iter(vals));
            }
        }
    }
    let mut options = ImportOptions::new(src.to_string_lossy().into_owned());
    options.to = Some(dir.join("absent.db").to_string_lossy().into_owned());
    options.dry_run = true;
    options.batch_size = 3;
    options.secret = Some("fuzz-secret-fuzz-secret-fuzz-secret-0123".into());
    options.source_secret = Some(SOURCE_SECRET.into());
    let result =
        h.rt.block_on(import_better_auth(&options, 1_767_268_800_000, &|_| {}));
    match result {
        Ok(report) => {
            for t in &report.tables {
                assert!(t.imported + t.unchanged + t.skipped <= t.read, "{t:?}");
            }
        }
        Err(e) => check_error("import", &e),
    }
    let _ = std::fs::remove_file(&src);
});
