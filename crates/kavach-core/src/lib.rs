//! kavachos core: authentication and authorization for humans and AI agents.
//!
//! No napi here: the binding crate converts types and calls into [`Kavach`].
#![deny(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
#![cfg_attr(test, allow(clippy::unwrap_used, clippy::expect_used, clippy::panic))]

pub mod admin;
pub mod agents;
pub mod audit;
pub mod authz;
mod batcher;
pub mod callbacks;
pub mod clock;
pub mod config;
pub mod db;
pub mod error;
pub mod events;
pub mod external;
pub mod http;
pub mod human;
pub mod import;
pub mod jwt;
pub mod kavach;
pub mod orgs;
pub mod passwords;
pub mod permission;
pub mod provider_tokens;
pub mod ratelimit;
pub mod sealed;
mod sqlite_fast;
pub mod token;
pub mod two_factor;

pub use agents::{Agent, AgentFilter, AgentWithToken, CreateAgent, UpdateAgent};
pub use audit::{AuditEntry, AuditFilter, ExportFormat};
pub use authz::Decision;
pub use clock::{Clock, ManualClock, SystemClock};
pub use config::{Dialect, KavachConfig};
pub use error::{KavachError, Result};
pub use kavach::{migrate_url, Kavach};
pub use permission::{AuthzRequest, Permission};

/// A boxed `Send` future: public async entry points return this so that callers on any runtime
/// (napi's included) see a plainly `Send` future.
pub type BoxFut<'a, T> = std::pin::Pin<Box<dyn std::future::Future<Output = T> + Send + 'a>>;
