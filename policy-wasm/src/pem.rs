//! Just enough PEM and DER to refuse a key or certificate that cannot be one: the right
//! `BEGIN`/`END` label, valid base64, and a DER SEQUENCE whose length matches the data.

const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

fn base64_decode(text: &str) -> Result<Vec<u8>, String> {
    let mut out = Vec::with_capacity(text.len() * 3 / 4);
    let (mut buffer, mut bits, mut padding) = (0u32, 0u32, 0usize);
    for c in text.bytes().filter(|c| !c.is_ascii_whitespace()) {
        if c == b'=' {
            padding += 1;
            continue;
        }
        if padding > 0 {
            return Err("base64 data continues after its padding".into());
        }
        let value = ALPHABET
            .iter()
            .position(|a| *a == c)
            .ok_or_else(|| format!("invalid base64 character {:?}", c as char))?;
        buffer = (buffer << 6) | value as u32;
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((buffer >> bits) as u8);
            buffer &= (1 << bits) - 1;
        }
    }
    if padding > 2 {
        return Err("invalid base64 padding".into());
    }
    Ok(out)
}

/// The header length and total length of the DER element starting at `der[0]`.
fn der_element(der: &[u8]) -> Result<(usize, usize), String> {
    let first = *der.get(1).ok_or("DER data is truncated")?;
    let (len, header) = if first < 0x80 {
        (first as usize, 2)
    } else {
        let count = (first & 0x7f) as usize;
        if count == 0 || count > 4 || der.len() < 2 + count {
            return Err("DER length is malformed".into());
        }
        let len = der[2..2 + count]
            .iter()
            .fold(0usize, |acc, b| (acc << 8) | *b as usize);
        (len, 2 + count)
    };
    Ok((header, header + len))
}

/// Checks that `text` is one PEM block labelled `label` holding a DER SEQUENCE.
pub fn check(text: &str, label: &str) -> Result<(), String> {
    let begin = format!("-----BEGIN {label}-----");
    let end = format!("-----END {label}-----");
    let text = text.trim();
    let body = text
        .strip_prefix(&begin)
        .and_then(|rest| rest.strip_suffix(&end))
        .ok_or_else(|| {
            format!("not a PEM {label} (it must start with {begin} and end with {end})")
        })?;
    let der = base64_decode(body).map_err(|e| format!("PEM {label} is not valid base64: {e}"))?;
    if der.first() != Some(&0x30) {
        return Err(format!("PEM {label} does not hold a DER structure"));
    }
    let (header, total) = der_element(&der)?;
    if total != der.len() {
        return Err(format!("PEM {label} holds truncated or trailing DER data"));
    }
    // A key or certificate starts with a nested SEQUENCE (the algorithm or the TBS part).
    if der.get(header) != Some(&0x30) {
        return Err(format!("PEM {label} does not hold a {label}"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::settings::tests::PUBLIC_KEY;

    #[test]
    fn a_real_key_passes_and_damaged_ones_do_not() {
        check(PUBLIC_KEY, "PUBLIC KEY").expect("valid key");
        assert!(check(PUBLIC_KEY, "CERTIFICATE").is_err());
        let truncated = PUBLIC_KEY.replace("7+dK6g==", "");
        assert!(check(&truncated, "PUBLIC KEY").is_err());
        let garbage = "-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----";
        assert!(
            check(garbage, "PUBLIC KEY")
                .expect_err("rejected")
                .contains("DER")
        );
        assert!(check("ssh-ed25519 AAAA", "PUBLIC KEY").is_err());
        assert!(check("", "PUBLIC KEY").is_err());
    }

    #[test]
    fn base64_round_trip_of_known_values() {
        assert_eq!(base64_decode("aGVsbG8=").expect("valid"), b"hello");
        assert_eq!(base64_decode("aGVs\nbG8h").expect("valid"), b"hello!");
        assert!(base64_decode("aG=Vs").is_err());
    }
}
