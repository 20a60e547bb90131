//! The host side of `oci/v2/verify`, done for real with sigstore: [`policy_host::sigstore_verify`].

#[allow(unused_imports)] // not every test binary verifies signatures
pub use policy_host::sigstore_verify::sigstore_verifier;
