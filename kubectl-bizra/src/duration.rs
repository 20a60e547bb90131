//! Durations as kubectl reads and writes them: Go's `time.ParseDuration` syntax (`30s`, `1m30s`,
//! `1.5h`, `500ms`), parsed once here for every flag and config file. Like Go, a value beyond
//! `i64::MAX` nanoseconds (about 292 years) is an error, never a wrap-around or a panic; unlike Go,
//! a negative duration is refused, since no option of ours has a meaning for one.

use std::time::Duration;

/// Go's largest duration, `1<<63 - 1` nanoseconds (`2562047h47m16.854775807s`).
pub const MAX: Duration = Duration::new(9_223_372_036, 854_775_807);

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DurationError {
    #[error("invalid duration {0:?}: use a number with a unit, e.g. 30s, 5m or 1m30s")]
    Syntax(String),
    #[error("invalid duration {text:?}: unknown unit {unit:?} (use ns, us, ms, s, m or h)")]
    Unit { text: String, unit: String },
    #[error("invalid duration {0:?}: it must not be negative")]
    Negative(String),
    #[error("invalid duration {0:?}: it is too large (at most 2562047h)")]
    TooLarge(String),
    #[error("invalid duration {0:?}: it must be longer than 0s")]
    Zero(String),
}

fn unit_nanos(unit: &str) -> Option<u128> {
    Some(match unit {
        "ns" => 1,
        "us" | "µs" | "μs" => 1_000,
        "ms" => 1_000_000,
        "s" => 1_000_000_000,
        "m" => 60 * 1_000_000_000,
        "h" => 3600 * 1_000_000_000,
        _ => return None,
    })
}

/// Parses a Go duration that is zero or more.
pub fn parse(text: &str) -> Result<Duration, DurationError> {
    let syntax = || DurationError::Syntax(text.to_owned());
    let too_large = || DurationError::TooLarge(text.to_owned());
    let rest = match text.strip_prefix('-') {
        Some("") => return Err(syntax()),
        Some("0") => return Ok(Duration::ZERO),
        Some(_) => return Err(DurationError::Negative(text.to_owned())),
        None => text.strip_prefix('+').unwrap_or(text),
    };
    if rest == "0" {
        return Ok(Duration::ZERO);
    }
    if rest.is_empty() {
        return Err(syntax());
    }
    let max_nanos = MAX.as_nanos();
    let mut total: u128 = 0;
    let mut rest = rest;
    while !rest.is_empty() {
        let whole_len = rest
            .find(|c: char| !c.is_ascii_digit())
            .unwrap_or(rest.len());
        let (whole, after) = rest.split_at(whole_len);
        let (fraction, after) = match after.strip_prefix('.') {
            Some(after) => {
                let len = after
                    .find(|c: char| !c.is_ascii_digit())
                    .unwrap_or(after.len());
                after.split_at(len)
            }
            None => ("", after),
        };
        if whole.is_empty() && fraction.is_empty() {
            return Err(syntax());
        }
        let unit_len = after
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(after.len());
        let (unit, after) = after.split_at(unit_len);
        if unit.is_empty() {
            return Err(syntax());
        }
        let scale = unit_nanos(unit).ok_or_else(|| DurationError::Unit {
            text: text.to_owned(),
            unit: unit.to_owned(),
        })?;
        let mut nanos: u128 = 0;
        for digit in whole.bytes() {
            nanos = nanos
                .checked_mul(10)
                .and_then(|n| n.checked_add(u128::from(digit - b'0')))
                .filter(|n| *n <= max_nanos)
                .ok_or_else(too_large)?;
        }
        nanos = nanos
            .checked_mul(scale)
            .filter(|n| *n <= max_nanos)
            .ok_or_else(too_large)?;
        // Digits beyond a nanosecond of the largest unit cannot change the result.
        let mut place = scale;
        for digit in fraction.bytes().take(13) {
            place /= 10;
            nanos += u128::from(digit - b'0') * place;
        }
        total = total
            .checked_add(nanos)
            .filter(|n| *n <= max_nanos)
            .ok_or_else(too_large)?;
        rest = after;
    }
    let secs = u64::try_from(total / 1_000_000_000).map_err(|_| too_large())?;
    // The remainder is below 10^9, so it fits.
    let subsec = u32::try_from(total % 1_000_000_000).map_err(|_| too_large())?;
    Ok(Duration::new(secs, subsec))
}

/// Parses a Go duration that must be longer than zero (a timeout, a hold, a window).
pub fn parse_positive(text: &str) -> Result<Duration, DurationError> {
    let duration = parse(text)?;
    if duration.is_zero() {
        return Err(DurationError::Zero(text.to_owned()));
    }
    Ok(duration)
}

/// For clap's `value_parser`: clap prefixes the message with the flag it belongs to.
pub fn flag(text: &str) -> Result<Duration, String> {
    parse_positive(text).map_err(|e| e.to_string())
}

/// A duration as kubectl prints one: `5m`, `1h30m`, `45s`, `1.5s`, exact to the nanosecond so
/// that it parses back to the same value.
pub fn format(duration: Duration) -> String {
    let seconds = duration.as_secs();
    let nanos = duration.subsec_nanos();
    let (h, m, s) = (seconds / 3600, seconds / 60 % 60, seconds % 60);
    let mut text = String::new();
    if h > 0 {
        text.push_str(&format!("{h}h"));
    }
    if m > 0 {
        text.push_str(&format!("{m}m"));
    }
    if nanos != 0 {
        let fraction = format!("{nanos:09}");
        text.push_str(&format!("{s}.{}s", fraction.trim_end_matches('0')));
    } else if s > 0 || text.is_empty() {
        text.push_str(&format!("{s}s"));
    }
    text
}

/// `#[serde(with = "crate::duration::serde_go")]`: a duration field written as kubectl writes it.
pub mod serde_go {
    use std::time::Duration;

    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(value: &Duration, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&super::format(*value))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
        let text = String::deserialize(d)?;
        super::parse(&text).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn go_forms_parse() {
        for (text, expected) in [
            ("0", Duration::ZERO),
            ("-0", Duration::ZERO),
            ("+5s", Duration::from_secs(5)),
            ("30s", Duration::from_secs(30)),
            ("1m30s", Duration::from_secs(90)),
            ("1h30m", Duration::from_secs(5400)),
            ("1.5h", Duration::from_secs(5400)),
            ("500ms", Duration::from_millis(500)),
            (".5s", Duration::from_millis(500)),
            ("1.s", Duration::from_secs(1)),
            ("3us", Duration::from_micros(3)),
            ("3µs", Duration::from_micros(3)),
            ("7ns", Duration::from_nanos(7)),
            ("1h1m1s1ms1us1ns", Duration::new(3661, 1_001_001)),
            ("2562047h47m16.854775807s", MAX),
            ("0.000000000000000000001h", Duration::ZERO),
        ] {
            assert_eq!(parse(text), Ok(expected), "{text}");
        }
    }

    #[test]
    fn bad_forms_are_errors_not_panics() {
        for text in [
            "", "s", "5", "-", "+", ".", ".s", "5x", "1m5", "soon", "5 s", " 5s", "€", "5€",
            "1..5s", "NaN", "inf", "5s-",
        ] {
            assert!(
                matches!(
                    parse(text),
                    Err(DurationError::Syntax(_) | DurationError::Unit { .. })
                ),
                "{text:?}: {:?}",
                parse(text)
            );
        }
        for text in ["-5s", "-1m30s", "-0.1s"] {
            assert_eq!(parse(text), Err(DurationError::Negative(text.into())));
        }
    }

    #[test]
    fn overflow_is_too_large_at_exactly_gos_limit() {
        for text in [
            "99999999999999999999s",
            "2562048h",
            "2562047h47m16.854775808s",
            "9223372036854775808ns",
            "2562047h2562047h",
            &"9".repeat(10_000),
        ] {
            let text = if text.ends_with(char::is_numeric) {
                format!("{text}h")
            } else {
                text.to_string()
            };
            assert_eq!(parse(&text), Err(DurationError::TooLarge(text.clone())));
        }
        assert_eq!(parse("9223372036854775807ns"), Ok(MAX));
    }

    #[test]
    fn zero_is_refused_where_a_positive_duration_is_needed() {
        for text in ["0", "0s", "0h0m", "-0"] {
            assert_eq!(parse_positive(text), Err(DurationError::Zero(text.into())));
        }
        assert_eq!(parse_positive("1ns"), Ok(Duration::from_nanos(1)));
    }

    #[test]
    fn durations_print_like_kubectl_and_parse_back() {
        for (duration, text) in [
            (Duration::from_secs(300), "5m"),
            (Duration::from_secs(5400), "1h30m"),
            (Duration::from_secs(45), "45s"),
            (Duration::from_millis(1500), "1.5s"),
            (Duration::ZERO, "0s"),
            (Duration::from_millis(500), "0.5s"),
            (Duration::new(61, 5), "1m1.000000005s"),
        ] {
            assert_eq!(format(duration), text);
            assert_eq!(parse(text), Ok(duration));
        }
        assert_eq!(parse(&format(MAX)), Ok(MAX));
    }
}
