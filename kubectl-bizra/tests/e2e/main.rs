//! End-to-end tests of kubectl bizra on the local cluster, with the upstream CRDs installed.
//! tests/run.sh starts the cluster, installs the CRDs and runs this binary.

#[path = "../support/mod.rs"]
mod support;

mod canary;
mod completion;
mod deploy;
mod manifests;
mod validate;
