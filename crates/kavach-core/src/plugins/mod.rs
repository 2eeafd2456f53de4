//! The built-in plugins, one folder each, and the registry that lists them. Each depends on the
//! core (through `crate::plugin`, the interface, and the instance's public calls); the core never
//! imports anything from here.

pub mod admin;
pub mod anonymous;
pub mod api_key;
pub mod device_authorization;
pub mod email_otp;
pub mod jwt;
pub mod magic_link;
pub mod mcp;
pub mod oauth;
pub mod one_tap;
pub mod one_time;
pub mod organization;
pub mod passkey;
pub mod phone_number;
pub mod registry;
pub mod siwe;
pub mod two_factor;
pub mod username;
