//! Kubewarden admission policy for bizra-apex workloads.
//!
//! The rule functions ([`rules`]) are plain Rust on k8s-openapi types so that `kubectl bizra` can
//! run exactly the same checks (its security gate and `lint`) without the Kubewarden SDK; the
//! `policy` feature adds the waPC entry points around them.

pub mod cel;
pub mod glob;
pub mod image_ref;
mod pem;
pub mod pinning;
pub mod rules;
pub mod settings;

#[cfg(feature = "policy")]
pub mod policy;

/// Registers the waPC functions Kubewarden calls; nothing else happens at load time.
#[cfg(feature = "policy")]
#[allow(unsafe_code)] // the waPC host finds this entry point by its unmangled name
#[unsafe(no_mangle)]
pub extern "C" fn wapc_init() {
    use kubewarden_policy_sdk::wapc_guest::register_function;
    register_function("validate", policy::validate);
    register_function("validate_settings", policy::validate_settings);
    register_function(
        "protocol_version",
        kubewarden_policy_sdk::protocol_version_guest,
    );
}
