//! Human accounts: users, sessions, email and password, sessions of the library an app migrates
//! from (`externalAuth`), and the OAuth provider tokens kept for an account.

pub mod external;
pub mod fields;
pub mod human;
pub mod provider_tokens;
pub mod removal;
