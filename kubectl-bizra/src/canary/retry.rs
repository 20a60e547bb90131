//! The one retry policy of `promote --auto` and `rollback`: a concurrent writer or an apiserver
//! that is restarting makes them read the cluster again and decide again, for up to five
//! minutes of failures in a row.

use std::time::Duration;

pub struct RetryPolicy {
    /// How long failures in a row are retried before giving up.
    pub give_up_after: Duration,
    /// The pause before the next attempt.
    pub pause: Duration,
}

pub const RETRY: RetryPolicy = RetryPolicy {
    give_up_after: Duration::from_secs(300),
    pause: Duration::from_secs(2),
};

impl RetryPolicy {
    /// Whether to try a retryable failure again, failures having gone on for `failing_for`.
    pub fn again(&self, failing_for: Duration) -> bool {
        failing_for <= self.give_up_after
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn failures_are_retried_for_five_minutes() {
        assert!(RETRY.again(Duration::ZERO));
        assert!(RETRY.again(Duration::from_secs(300)));
        assert!(!RETRY.again(Duration::from_secs(301)));
    }
}
