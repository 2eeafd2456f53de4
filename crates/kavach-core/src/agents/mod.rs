//! Agents and their authorization: the agent rows, permission patterns and constraints, the
//! decision on the hot path, and the audit trail every decision is written to.

pub mod approvals;
pub mod audit;
pub mod authz;
pub(crate) mod batcher;
pub mod delegation;
pub mod permission;
pub mod retention;
mod store;
pub mod trust;

pub use store::*;
