//! kavachos core: authentication and authorization for humans and AI agents.
//!
//! No napi here: the binding crate converts types and calls into [`Kavach`].
#![deny(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
#![cfg_attr(test, allow(clippy::unwrap_used, clippy::expect_used, clippy::panic))]

pub mod accounts;
pub mod agents;
pub mod callbacks;
pub mod clock;
pub mod config;
pub mod crypto;
pub mod error;
pub mod events;
#[doc(hidden)]
pub mod fuzzing;
pub mod http;
pub mod import;
pub mod input;
pub mod kavach;
pub mod plugin;
pub mod plugins;
pub mod store;

pub use agents::audit::{AuditEntry, AuditExport, AuditFilter, ExportFormat};
pub use agents::authz::Decision;
pub use agents::permission::{AuthzRequest, Permission};
pub use agents::{Agent, AgentFilter, AgentWithToken, CreateAgent, UpdateAgent};
pub use clock::{Clock, ManualClock, SystemClock};
pub use config::{Dialect, KavachConfig};
pub use error::{KavachError, Result};
pub use kavach::{migrate_url, Kavach};

/// A boxed `Send` future: public async entry points return this so that callers on any runtime
/// (napi's included) see a plainly `Send` future.
pub type BoxFut<'a, T> = std::pin::Pin<Box<dyn std::future::Future<Output = T> + Send + 'a>>;
