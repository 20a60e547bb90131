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
    /// Whether to try again after a failure that is `retryable`, failures having gone on for
    /// `failing_for`.
    pub fn again(&self, retryable: bool, failing_for: Duration) -> bool {
        retryable && failing_for <= self.give_up_after
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_retryable_failures_are_retried_and_only_for_a_while() {
        assert!(RETRY.again(true, Duration::ZERO));
        assert!(RETRY.again(true, Duration::from_secs(300)));
        assert!(!RETRY.again(true, Duration::from_secs(301)));
        assert!(!RETRY.again(false, Duration::ZERO));
    }
}
