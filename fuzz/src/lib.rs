//! What each fuzz target runs on one input. The same modules are compiled into the stable
//! replay tests with `#[path]`, so a fuzz target and its replay cannot drift apart.

pub mod plugin_targets;
pub mod policy_targets;
pub mod replay;
