//! Kubewarden admission policy for bizra-apex workloads.
//!
//! The rule functions ([`rules`]) are plain Rust on k8s-openapi types so that `kubectl bizra` can
//! run exactly the same checks (its security gate and `lint`) without the Kubewarden SDK; the
//! `policy` feature adds the waPC entry points around them.

pub mod rules;
