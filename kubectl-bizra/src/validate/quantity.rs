//! Kubernetes resource quantities (`250m`, `2`, `1.5Gi`, `123456n`) as numbers: cores for cpu,
//! bytes for memory.

pub fn parse(quantity: &str) -> Option<f64> {
    let quantity = quantity.trim();
    let split = quantity
        .find(|c: char| c.is_ascii_alphabetic())
        .unwrap_or(quantity.len());
    let (number, suffix) = quantity.split_at(split);
    let number: f64 = number.parse().ok()?;
    // Fractions divide rather than multiply by 1e-9 etc., which would not be exact.
    let divisor = match suffix {
        "n" => 1e9,
        "u" => 1e6,
        "m" => 1e3,
        _ => 1.0,
    };
    let factor = match suffix {
        "" | "n" | "u" | "m" => 1.0,
        "k" => 1e3,
        "M" => 1e6,
        "G" => 1e9,
        "T" => 1e12,
        "P" => 1e15,
        "E" => 1e18,
        "Ki" => 1024.0,
        "Mi" => 1024f64.powi(2),
        "Gi" => 1024f64.powi(3),
        "Ti" => 1024f64.powi(4),
        "Pi" => 1024f64.powi(5),
        "Ei" => 1024f64.powi(6),
        _ => return None,
    };
    Some(number * factor / divisor)
}

#[cfg(test)]
mod tests {
    use super::parse;

    #[test]
    fn parses_decimal_and_binary_suffixes() {
        assert_eq!(parse("2"), Some(2.0));
        assert_eq!(parse("250m"), Some(0.25));
        assert_eq!(parse("123456789n"), Some(0.123456789));
        assert_eq!(parse("512Mi"), Some(512.0 * 1024.0 * 1024.0));
        assert_eq!(parse("1.5Gi"), Some(1.5 * 1024f64.powi(3)));
        assert_eq!(parse("1k"), Some(1000.0));
        assert_eq!(parse("12Xi"), None);
        assert_eq!(parse("lots"), None);
    }
}
