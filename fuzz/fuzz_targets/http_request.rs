//! The request parsing every route relies on, without a database: headers in any case, cookies
//! (repeated headers, quotes, no `=`), the Bearer scheme, the query string, the mount, and the JSON
//! body rules (media type first, then JSON).
#![no_main]

use kavach_core::fuzzing;
use kavach_core::http::session_token;
use kavach_fuzz::{parse_request, COOKIE};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let req = parse_request(data, None);
    let pairs: Vec<(&str, &str)> = req.cookies().collect();
    for (name, _) in &pairs {
        // The lookup by name finds a cookie the iteration listed.
        let found = fuzzing::request_cookie(&req, name);
        assert!(found.is_some(), "cookie {name:?} listed but not found");
    }
    if let Some(t) = session_token(&req, COOKIE) {
        assert!(!t.is_empty());
        let from_cookie = fuzzing::request_cookie(&req, COOKIE).is_some_and(|c| c == t);
        assert!(
            from_cookie || !t.starts_with("kv_"),
            "an agent token taken for a session: {t:?}"
        );
    }
    let _ = req.header_value("Content-Type");
    let mount = req.mount_or("/api/kavach");
    assert!(mount == "/api/kavach" || mount.is_empty() || mount.starts_with('/'));
    if let Err((status, code)) = fuzzing::request_query(&req) {
        assert!((400..500).contains(&status), "{status} {code}");
    }
    match fuzzing::request_json(&req) {
        Ok(v) => assert!(
            req.body.is_empty()
                || serde_json::from_slice::<serde_json::Value>(&req.body).ok() == Some(v)
        ),
        Err((status, code)) => assert!(
            (400..500).contains(&status) && !code.is_empty(),
            "{status} {code}"
        ),
    }
});
