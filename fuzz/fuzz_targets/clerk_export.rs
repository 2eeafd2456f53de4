//! A Clerk export, CSV (the dashboard's) or JSON (`@clerk/backend` users), as `kavach-cli import
//! clerk` reads it: every user it hands on has an id, and the count it returns is theirs.
#![no_main]

use kavach_core::fuzzing;
use kavach_core::import::clerk::ClerkUser;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let mut users: Vec<ClerkUser> = Vec::new();
    let result = fuzzing::clerk_export(data, &mut |u| {
        users.push(u);
        Ok(())
    });
    for u in &users {
        assert!(!u.id.is_empty(), "a user without an id");
        let _ = u.name();
    }
    match result {
        Ok(n) => assert_eq!(n, users.len() as u64),
        Err(e) => assert_eq!(e.code(), "IMPORT_SOURCE_INVALID", "{e}"),
    }
});
