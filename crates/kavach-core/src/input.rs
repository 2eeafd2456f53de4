//! Input at the boundary: the one set of rules every string from outside passes before it can reach
//! SQL. A NUL or another C0/C1 control character, a lone surrogate or an email that is not an
//! address is `VALIDATION_FAILED`, on every database (PostgreSQL's text refuses NUL; SQLite and
//! MariaDB would store it), so the answer never depends on the driver.
//!
//! Two levels: free text (a JSON body's strings, a query value) may hold `\t`, `\n` and `\r`;
//! identifiers, emails, names, actions and resources hold no control character at all. The scans
//! look at bytes and allocate nothing, so the hot paths (authorize, getSession) can afford them.

use serde_json::Value;

use crate::error::{KavachError, Result};

/// Whether `s` holds a C0 control (U+0000-U+001F), DEL or a C1 control (U+0080-U+009F); with
/// `free_text`, tab, newline and carriage return are let through.
#[inline]
pub fn has_control(s: &str, free_text: bool) -> bool {
    let mut prev = 0u8;
    for &c in s.as_bytes() {
        if c < 0x20 {
            if !(free_text && matches!(c, b'\t' | b'\n' | b'\r')) {
                return true;
            }
        } else if c == 0x7f || (prev == 0xc2 && (0x80..=0x9f).contains(&c)) {
            // In UTF-8, U+0080-U+009F are 0xC2 followed by 0x80-0x9F; 0xC2 is always a lead byte.
            return true;
        }
        prev = c;
    }
    false
}

/// `VALIDATION_FAILED` when free text (`field`) holds a control character other than tab and
/// line breaks.
pub fn check_text(field: &str, v: &str) -> Result<()> {
    if has_control(v, true) {
        return Err(KavachError::validation(format!(
            "{field} must not contain control characters"
        )));
    }
    Ok(())
}

/// `VALIDATION_FAILED` when any string of `v` (object keys included) holds a control character
/// other than tab and line breaks: run once over a whole JSON body or call input, so that no field
/// of any route or plugin can carry a NUL to the database.
pub fn check_value(v: &Value) -> Result<()> {
    // A stack, not recursion: a value built by the binding has no depth limit.
    let mut stack = vec![v];
    while let Some(v) = stack.pop() {
        match v {
            Value::String(s) => check_text("a string", s)?,
            Value::Array(items) => stack.extend(items),
            Value::Object(map) => {
                for (k, v) in map {
                    if has_control(k, false) {
                        return Err(KavachError::validation(
                            "a field name must not contain control characters",
                        ));
                    }
                    stack.push(v);
                }
            }
            Value::Null | Value::Bool(_) | Value::Number(_) => {}
        }
    }
    Ok(())
}

/// Whether JSON text holds a lone surrogate: a `\uD800`-`\uDBFF` escape not followed by a
/// `\uDC00`-`\uDFFF` one, a low one without a high one before it, or a surrogate encoded
/// directly as UTF-8 bytes (`ED A0..BF ..`, which is not UTF-8). serde_json refuses such text as
/// a syntax error; this tells that case apart so it can be answered `VALIDATION_FAILED`.
pub fn has_lone_surrogate(json: &[u8]) -> bool {
    let mut i = 0;
    let mut pending_high = false;
    while let Some(&c) = json.get(i) {
        if c == 0xed && json.get(i + 1).is_some_and(|n| (0xa0..=0xbf).contains(n)) {
            return true;
        }
        if c != b'\\' {
            if pending_high {
                return true;
            }
            i += 1;
            continue;
        }
        if json.get(i + 1) != Some(&b'u') {
            if pending_high {
                return true;
            }
            i += 2;
            continue;
        }
        let unit = json
            .get(i + 2..i + 6)
            .and_then(|h| std::str::from_utf8(h).ok())
            .and_then(|h| u16::from_str_radix(h, 16).ok());
        match unit {
            Some(0xd800..=0xdbff) => {
                if pending_high {
                    return true;
                }
                pending_high = true;
            }
            Some(0xdc00..=0xdfff) => {
                if !pending_high {
                    return true;
                }
                pending_high = false;
            }
            _ => {
                if pending_high {
                    return true;
                }
            }
        }
        i += 6;
    }
    pending_high
}

/// Characters that are no part of an address even where RFC 6531 allows UTF-8: whitespace,
/// controls, the replacement character (a broken encoding, or a lone surrogate from JS), and the
/// invisible format characters that make two addresses look alike.
fn unfit_in_address(c: char) -> bool {
    c.is_whitespace()
        || c.is_control()
        || matches!(c, '\u{fffd}' | '\u{feff}' | '\u{200b}'..='\u{200f}' | '\u{202a}'..='\u{202e}' | '\u{2060}'..='\u{2064}')
}

fn local_char(c: char) -> bool {
    if c.is_ascii() {
        c.is_ascii_alphanumeric() || "!#$%&'*+/=?^_`{|}~-.".contains(c)
    } else {
        !unfit_in_address(c)
    }
}

fn label_ok(label: &str) -> bool {
    !label.is_empty()
        && label.len() <= 63
        && !label.starts_with('-')
        && !label.ends_with('-')
        && label.chars().all(|c| {
            if c.is_ascii() {
                c.is_ascii_alphanumeric() || c == '-'
            } else {
                !unfit_in_address(c)
            }
        })
}

/// Whether `e` is an address mail can be sent to: the WHATWG HTML rule for `<input type=email>`
/// (a dot-atom local part of RFC 5322's `atext`, `@`, host-name labels of letters, digits and
/// inner hyphens, one label allowed as in `admin@localhost`), with UTF-8 allowed in both parts as
/// RFC 6531 does, plus RFC 5321's lengths (local part 64, labels 63, the whole 254). Quoted local
/// parts, comments and IP literals are refused: no sign-up needs them and each is a parser
/// differential waiting to happen.
pub fn is_email(e: &str) -> bool {
    let Some((local, domain)) = e.split_once('@') else {
        return false;
    };
    e.len() <= 254
        && !local.is_empty()
        && local.len() <= 64
        && !local.starts_with('.')
        && !local.ends_with('.')
        && !local.contains("..")
        && local.chars().all(local_char)
        && domain.len() <= 253
        && domain.split('.').all(label_ok)
}

/// The stored form of an email: trimmed, lowercased, and an address ([`is_email`]), else
/// `VALIDATION_FAILED`.
pub fn normalize_email(email: &str) -> Result<String> {
    // Controls are refused before the trim: an email is no free text, a trailing newline included.
    let e = email.trim_matches(' ').to_lowercase();
    if !has_control(email, false) && is_email(&e) {
        Ok(e)
    } else {
        Err(KavachError::validation(
            "email must be a valid email address",
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn controls_are_found_by_bytes() {
        for bad in [
            "a\0b", "\u{1}", "x\u{1f}", "\u{7f}", "a\u{80}", "\u{85}", "z\u{9f}",
        ] {
            assert!(has_control(bad, true), "{bad:?}");
            assert!(has_control(bad, false), "{bad:?}");
        }
        for breaks in ["a\tb", "a\nb", "a\r\nb"] {
            assert!(!has_control(breaks, true), "{breaks:?}");
            assert!(has_control(breaks, false), "{breaks:?}");
        }
        // Letters whose UTF-8 shares bytes with C1 controls, but are not controls.
        for fine in [
            "é",
            "\u{a0}",
            "ĀĂĄ",
            "日本",
            "😀",
            "\u{fffd}",
            "plain ascii ~",
        ] {
            assert!(!has_control(fine, false), "{fine:?}");
        }
    }

    #[test]
    fn values_are_walked_keys_included() {
        assert!(check_value(&json!({ "a": ["x", { "b": "line\nbreak\ttab" }] })).is_ok());
        for bad in [
            json!({ "a": "x\u{0}" }),
            json!([1, [2, ["\u{9b}"]]]),
            json!({ "k\u{0}": 1 }),
            json!({ "k\n": 1 }),
        ] {
            let e = check_value(&bad).unwrap_err();
            assert_eq!(e.code(), "VALIDATION_FAILED", "{bad}");
        }
        let mut deep = json!("\u{1}");
        for _ in 0..1_000 {
            deep = json!([deep]);
        }
        assert!(check_value(&deep).is_err());
    }

    #[test]
    fn lone_surrogates_in_json_text() {
        for bad in [
            r#"{"a":"\ud800"}"#,
            r#"{"a":"\uDBFFx"}"#,
            r#"{"a":"\udc00"}"#,
            r#"{"a":"\ud800\ud800\udc00"}"#,
            r#"{"a":"\ud800\n"}"#,
            r#""\ud83d""#,
        ] {
            assert!(has_lone_surrogate(bad.as_bytes()), "{bad}");
        }
        assert!(has_lone_surrogate(b"{\"a\":\"\xed\xa0\x80\"}"));
        for fine in [
            r#"{"a":"\ud83d\ude00"}"#,
            r#"{"a":"\\ud800"}"#,
            r#"{"a":"\u00e9\n"}"#,
            "{\"a\":\"\u{1f600} \u{d7ff}\"}",
        ] {
            assert!(!has_lone_surrogate(fine.as_bytes()), "{fine}");
        }
    }

    #[test]
    fn emails_are_addresses() {
        for ok in [
            "ada@example.com",
            "a.b+tag@sub.example.co",
            "admin@localhost",
            "o'brien@x-y.io",
            "用户@例子.广告",
            "jürgen@müller.de",
            &format!("{}@example.com", "a".repeat(64)),
        ] {
            assert!(is_email(ok), "{ok}");
        }
        for bad in [
            "",
            "plain",
            "@example.com",
            "ada@",
            "a@b@c",
            "a b@example.com",
            "a@exa mple.com",
            "a\0@example.com",
            "a@example.com\0",
            "a\u{1}@example.com",
            "a\u{85}@example.com",
            "a\t@example.com",
            "ada@example.com\n",
            "\tada@example.com",
            ".a@example.com",
            "a.@example.com",
            "a..b@example.com",
            "a@.example.com",
            "a@example.com.",
            "a@example..com",
            "a@-example.com",
            "a@example-.com",
            "a@exa_mple.com",
            "\"quoted\"@example.com",
            "a@[127.0.0.1]",
            "a(comment)@example.com",
            "a@\u{fffd}.com",
            "a\u{200b}@example.com",
            "a\u{a0}@example.com",
            &format!("{}@example.com", "a".repeat(65)),
            &format!("a@{}.com", "b".repeat(64)),
            &format!("a@{}", vec!["b".repeat(60); 5].join(".")),
        ] {
            assert!(!is_email(bad), "{bad:?}");
            assert_eq!(
                normalize_email(bad).unwrap_err().code(),
                "VALIDATION_FAILED"
            );
        }
        assert_eq!(
            normalize_email("  Ada@Example.COM ").unwrap(),
            "ada@example.com"
        );
    }
}
