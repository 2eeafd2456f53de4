//! Permission patterns and constraints: `{ "permissions": [...], "request": {...}, "now": ms,
//! "trust": n }` compiled as `agent.create` does and evaluated as `authorize` does, plus the
//! compiled cache over the stored JSON text. Never a panic; the answers hold together.
#![no_main]

use kavach_core::agents::permission::{
    compile_all, evaluate, evaluate_with_trust, needs_trust, resource_matches, CompiledCache,
};
use kavach_core::{AuthzRequest, Permission};
use libfuzzer_sys::fuzz_target;
use serde_json::Value;

fuzz_target!(|data: &[u8]| {
    let Ok(v) = serde_json::from_slice::<Value>(data) else {
        return;
    };
    let perms_json = v.get("permissions").cloned().unwrap_or(Value::Null);
    let cache = CompiledCache::default();
    let cached = cache.get_or_compile(&perms_json.to_string());
    let Ok(perms) = serde_json::from_value::<Vec<Permission>>(perms_json) else {
        assert!(cached.is_err());
        return;
    };
    let compiled = compile_all(&perms);
    assert_eq!(
        compiled.is_ok(),
        cached.is_ok(),
        "the cache and compile_all disagree"
    );
    for p in &perms {
        // A pattern always covers itself when it has no empty segment.
        if !p.resource.is_empty() && !p.resource.split(':').any(str::is_empty) {
            assert!(
                resource_matches(&p.resource, &p.resource),
                "{:?}",
                p.resource
            );
        }
        assert!(resource_matches("*", &p.resource));
    }
    let Ok(compiled) = compiled else {
        return;
    };
    let Ok(req) =
        serde_json::from_value::<AuthzRequest>(v.get("request").cloned().unwrap_or(Value::Null))
    else {
        return;
    };
    let _ = req.validate();
    let now = v
        .get("now")
        .and_then(Value::as_i64)
        .unwrap_or(1_767_268_800_000);
    let trust = v
        .get("trust")
        .and_then(Value::as_u64)
        .map(|t| t.min(u64::from(u32::MAX)) as u32);
    for p in &perms {
        let _ = resource_matches(&p.resource, &req.resource);
    }
    let plain = evaluate(&compiled, &req, now);
    let with_trust = evaluate_with_trust(&compiled, &req, now, trust);
    let _ = needs_trust(&compiled, &req);
    for ev in [&plain, &with_trust] {
        if ev.allow_unlimited {
            assert!(ev.denial.is_none() && ev.rate_candidates.is_empty());
        } else {
            assert!(ev.denial.is_some() || !ev.rate_candidates.is_empty());
        }
    }
    if !needs_trust(&compiled, &req) {
        assert_eq!(plain.allow_unlimited, with_trust.allow_unlimited);
    }
});
