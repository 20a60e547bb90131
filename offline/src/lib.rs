//! The offline half of `kubectl bizra`: manifest streams read ([`documents`]), linted with the
//! admission policy's rule functions ([`lint`]), the policy's settings read ([`settings`]), and
//! the policy written as a ValidatingAdmissionPolicy ([`vap`]). The plugin and the browser
//! playground both call these, so the page and the command cannot disagree. No kube, tokio or
//! TLS here: it builds for `wasm32-unknown-unknown`.

pub mod documents;
pub mod lint;
pub mod positions;
pub mod sarif;
pub mod settings;
pub mod vap;

/// The `apiVersion` of every document the plugin prints (reports, results, status).
pub const API_VERSION: &str = "bizra.dev/v1alpha1";
