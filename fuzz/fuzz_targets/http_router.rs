//! Any method, path, query, headers and body through `Kavach::handle` (every route of the core and
//! of the plugins the harness boots): never a panic, never a 5xx, every JSON answer parses.
#![no_main]

use kavach_fuzz::{check_response, harness, parse_request};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let h = harness();
    let actor = h.actor();
    let req = parse_request(data, Some(&actor));
    let r = h.handle(req.clone());
    check_response(&req, &r);
});
