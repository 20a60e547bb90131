//! The process exit codes, the contract with CI jobs that branch on them.
//!
//! | code | meaning |
//! |------|---------|
//! | 0 | success: every gate or analysis passed |
//! | 1 | a gate or analysis failed, a rollback happened, or an operation failed |
//! | 2 | usage or configuration error (bad flag, malformed config or kubeconfig, unknown context) |
//! | 3 | inconclusive: a gate or analysis could not be evaluated (API absent, forbidden, no data) |
//! | 4 | the cluster could not be reached or refused the credentials |

use std::process::ExitCode;

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum ExitStatus {
    Success = 0,
    Failed = 1,
    Usage = 2,
    Inconclusive = 3,
    ClusterUnreachable = 4,
}

impl ExitStatus {
    pub fn code(self) -> u8 {
        self as u8
    }
}

impl From<ExitStatus> for ExitCode {
    fn from(status: ExitStatus) -> Self {
        ExitCode::from(status.code())
    }
}
