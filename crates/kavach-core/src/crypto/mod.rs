//! Secrets: random tokens and their hashes, password hashing, and sealing of what must be read back.

pub mod passwords;
pub mod sealed;
pub mod token;
