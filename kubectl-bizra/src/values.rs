//! Checked values for flags and config keys: numbers that must be finite and in range, and
//! Kubernetes names, refused here with a message instead of being sent to the server or silently
//! disabling a check. The `*_flag` functions are clap value parsers (clap names the flag in its
//! error); the `check_*` functions are for config files (they name the key).

/// A threshold that must be a finite number above zero (a maximum latency, a latency ratio).
pub fn positive_number(text: &str) -> Result<f64, String> {
    let value = number(text)?;
    if value <= 0.0 {
        return Err(format!("{text:?} must be greater than 0"));
    }
    Ok(value)
}

/// A minimum that must be a finite number of 0 or more (a rate, a request count).
pub fn non_negative_number(text: &str) -> Result<f64, String> {
    let value = number(text)?;
    if value < 0.0 {
        return Err(format!("{text:?} must not be negative"));
    }
    Ok(value)
}

fn number(text: &str) -> Result<f64, String> {
    let value: f64 = text
        .trim()
        .parse()
        .map_err(|_| format!("{text:?} is not a number"))?;
    if !value.is_finite() {
        return Err(format!("{text:?} is not a finite number"));
    }
    Ok(value)
}

/// For a config key: `key` names it in the message.
pub fn check_positive(key: &str, value: f64) -> Result<(), String> {
    if value.is_finite() && value > 0.0 {
        Ok(())
    } else {
        Err(format!(
            "{key} must be a finite number greater than 0, not {value}"
        ))
    }
}

pub fn check_non_negative(key: &str, value: f64) -> Result<(), String> {
    if value.is_finite() && value >= 0.0 {
        Ok(())
    } else {
        Err(format!(
            "{key} must be a finite number of 0 or more, not {value}"
        ))
    }
}

/// An RFC 1123 label, as Kubernetes requires for namespaces and container names: at most 63
/// lower-case letters, digits and '-', starting and ending with a letter or digit.
pub fn dns_label(text: &str) -> Result<String, String> {
    let why = label_problem(text, 63);
    match why {
        None => Ok(text.to_owned()),
        Some(why) => Err(format!(
            "{:?} is not a valid name: {why} (at most 63 lower-case letters, digits and '-', starting and ending with a letter or digit)",
            shorten(text)
        )),
    }
}

/// An RFC 1123 subdomain, as Kubernetes requires for the names of Deployments, Services and
/// most objects: at most 253 characters, dot-separated labels.
pub fn dns_subdomain(text: &str) -> Result<String, String> {
    let why = if text.len() > 253 {
        Some("it is longer than 253 characters".to_owned())
    } else {
        text.split('.').find_map(|label| label_problem(label, 253))
    };
    match why {
        None => Ok(text.to_owned()),
        Some(why) => Err(format!(
            "{:?} is not a valid object name: {why} (lower-case letters, digits, '-' and '.', starting and ending with a letter or digit)",
            shorten(text)
        )),
    }
}

fn label_problem(label: &str, max: usize) -> Option<String> {
    if label.is_empty() {
        return Some("it is empty".into());
    }
    if label.len() > max {
        return Some(format!("it is longer than {max} characters"));
    }
    if let Some(c) = label
        .chars()
        .find(|c| !(c.is_ascii_lowercase() || c.is_ascii_digit() || *c == '-'))
    {
        return Some(format!("it contains {c:?}"));
    }
    if label.starts_with('-') || label.ends_with('-') {
        return Some("it starts or ends with '-'".into());
    }
    None
}

/// `--image`: a container image reference.
pub fn image(text: &str) -> Result<policy_wasm::image_ref::ImageRef, String> {
    policy_wasm::image_ref::ImageRef::parse(text).map_err(|e| e.to_string())
}

/// `--tag`: an image tag.
pub fn image_tag(text: &str) -> Result<String, String> {
    policy_wasm::image_ref::check_tag(text)
        .map(|()| text.to_owned())
        .map_err(|why| format!("invalid tag {:?}: {why}", shorten(text)))
}

/// At most 80 characters of a value, for messages about values that may be huge.
pub fn shorten(text: &str) -> String {
    if text.chars().count() <= 80 {
        return text.to_owned();
    }
    let mut short: String = text.chars().take(77).collect();
    short.push_str("...");
    short
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_must_be_finite_and_in_range() {
        assert_eq!(positive_number("0.001"), Ok(0.001));
        assert_eq!(non_negative_number("0"), Ok(0.0));
        for bad in ["inf", "-inf", "NaN", "nan", "", "1e999", "one", "0x10", "€"] {
            assert!(positive_number(bad).is_err(), "{bad}");
            assert!(non_negative_number(bad).is_err(), "{bad}");
        }
        for bad in ["0", "-1", "-0.0001"] {
            assert!(positive_number(bad).is_err(), "{bad}");
        }
        assert!(non_negative_number("-1").is_err());
        assert!(
            check_positive("sla.finalityP99Seconds", f64::NAN)
                .expect_err("NaN")
                .contains("sla.finalityP99Seconds")
        );
        assert!(check_non_negative("k", -1.0).is_err());
        assert!(check_non_negative("k", f64::INFINITY).is_err());
    }

    #[test]
    fn kubernetes_names() {
        for good in ["testnet", "a", "bizra-apex-2", &"a".repeat(63)] {
            assert_eq!(dns_label(good).as_deref(), Ok(good));
        }
        for bad in [
            "",
            "-a",
            "a-",
            "Testnet",
            "a_b",
            "a.b",
            "ü",
            &"a".repeat(64),
        ] {
            assert!(dns_label(bad).is_err(), "{bad:?}");
        }
        assert!(dns_subdomain("bizra-apex.v2").is_ok());
        for bad in ["", "a..b", ".a", "a.", "A", &"a".repeat(254), "a b"] {
            assert!(dns_subdomain(bad).is_err(), "{bad:?}");
        }
        let long = "x".repeat(10_000);
        assert!(dns_label(&long).expect_err("long").len() < 300);
    }
}
