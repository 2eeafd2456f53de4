//! The JSON body of every route: the first line names a route of the table (`POST /agents`,
//! `PATCH /agents/:id`), the rest is its body, sent signed in from the allowed Origin, with the
//! `:params` filled by the actor's ids. Never a panic, never a 5xx.
#![no_main]

use kavach_core::fuzzing;
use kavach_fuzz::{check_response, harness, json_request, substitute};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let h = harness();
    let nl = data.iter().position(|b| *b == b'\n').unwrap_or(data.len());
    let Ok(line) = std::str::from_utf8(&data[..nl]) else {
        return;
    };
    let Some((method, pattern)) = line.split_once(' ') else {
        return;
    };
    let routes = fuzzing::routes(&h.kavach);
    let Some(&(method, pattern)) = routes
        .iter()
        .find(|(m, p)| m.eq_ignore_ascii_case(method) && *p == pattern.trim())
    else {
        return;
    };
    let actor = h.actor();
    let path: Vec<String> = pattern
        .split('/')
        .map(|seg| match seg {
            ":id" if pattern.starts_with("/agents") || pattern.starts_with("/approvals") => {
                actor.agent_id.clone()
            }
            s if s.starts_with(':') && s.to_ascii_lowercase().contains("user") => {
                actor.user_id.clone()
            }
            s if s.starts_with(':') => "fuzz".to_owned(),
            s => s.to_owned(),
        })
        .collect();
    let mut req = json_request(
        method,
        &path.join("/"),
        Some(&actor.session),
        &serde_json::Value::Null,
    );
    let body = data.get(nl + 1..).unwrap_or_default();
    req.body = match std::str::from_utf8(body) {
        Ok(text) => substitute(text, &actor).into_bytes(),
        Err(_) => body.to_vec(),
    };
    let r = h.handle(req.clone());
    check_response(&req, &r);
});
