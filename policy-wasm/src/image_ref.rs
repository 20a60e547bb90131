//! Container image references (`[registry[:port]/]path[:tag][@algorithm:hex]`), parsed once for
//! the plugin's `--image` and `--tag`, the `version` pod label derived from them, and anything else
//! that needs the parts of a reference. The grammar is the one of the distribution project's
//! `reference` package, which the container runtimes and registries apply.

use std::fmt;

/// The longest `registry/path` a reference may name, as the distribution grammar allows.
const MAX_NAME_LEN: usize = 255;
const MAX_TAG_LEN: usize = 128;
/// Kubernetes label values: at most 63 characters.
const MAX_LABEL_LEN: usize = 63;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImageRef {
    /// `ghcr.io`, `127.0.0.1:5000`, `localhost`; `None` for a Docker Hub short name.
    pub registry: Option<String>,
    /// `bizra/node`, without the registry.
    pub path: String,
    pub tag: Option<String>,
    /// `sha256:<64 hex>`.
    pub digest: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImageRefError {
    /// The reference, shortened to 80 characters for the message.
    pub image: String,
    pub reason: String,
}

impl fmt::Display for ImageRefError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "invalid image reference {:?}: {}",
            self.image, self.reason
        )
    }
}

impl std::error::Error for ImageRefError {}

fn shorten(text: &str) -> String {
    if text.chars().count() <= 80 {
        return text.to_owned();
    }
    let mut short: String = text.chars().take(77).collect();
    short.push_str("...");
    short
}

/// A tag: up to 128 letters, digits, `_`, `.` and `-`, not starting with `.` or `-`.
pub fn check_tag(tag: &str) -> Result<(), String> {
    if tag.is_empty() {
        return Err("the tag is empty".into());
    }
    if tag.len() > MAX_TAG_LEN {
        return Err(format!("the tag is longer than {MAX_TAG_LEN} characters"));
    }
    if let Some(c) = tag
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-')))
    {
        return Err(format!(
            "the tag contains {c:?}; a tag has letters, digits, '_', '.' and '-'"
        ));
    }
    if tag.starts_with(['.', '-']) {
        return Err("the tag must not start with '.' or '-'".into());
    }
    Ok(())
}

fn check_digest(digest: &str) -> Result<(), String> {
    let Some((algorithm, hex)) = digest.split_once(':') else {
        return Err("the digest must be ALGORITHM:HEX, e.g. sha256:<64 hex digits>".into());
    };
    let algorithm_ok = !algorithm.is_empty()
        && algorithm.split(['+', '.', '_', '-']).all(|part| {
            !part.is_empty()
                && part
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
        });
    if !algorithm_ok {
        return Err(format!(
            "the digest algorithm {:?} is not valid",
            shorten(algorithm)
        ));
    }
    let hex_ok = |len: usize| {
        hex.len() == len
            && hex
                .bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
    };
    match algorithm {
        "sha256" if !hex_ok(64) => Err("a sha256 digest has 64 lower-case hex digits".into()),
        "sha512" if !hex_ok(128) => Err("a sha512 digest has 128 lower-case hex digits".into()),
        _ if hex.len() < 32
            || !hex
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'=' | b'_' | b'-')) =>
        {
            Err("the digest's hex part is not valid".into())
        }
        _ => Ok(()),
    }
}

/// A registry host: dot-separated labels of letters, digits and '-', or a bracketed IPv6
/// address, optionally with a port.
fn check_registry(registry: &str) -> Result<(), String> {
    let (host, port) = if let Some(rest) = registry.strip_prefix('[') {
        let (address, after) = rest
            .split_once(']')
            .ok_or("the registry's IPv6 address has no closing ']'")?;
        if address.is_empty() || !address.bytes().all(|b| b.is_ascii_hexdigit() || b == b':') {
            return Err("the registry's IPv6 address is not valid".into());
        }
        match after.strip_prefix(':') {
            Some(port) => (None, Some(port)),
            None if after.is_empty() => (None, None),
            None => return Err("the registry has characters after its IPv6 address".into()),
        }
    } else {
        match registry.split_once(':') {
            Some((host, port)) => (Some(host), Some(port)),
            None => (Some(registry), None),
        }
    };
    if let Some(host) = host {
        let label_ok = |label: &str| {
            !label.is_empty()
                && label
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-')
                && !label.starts_with('-')
                && !label.ends_with('-')
        };
        if !host.split('.').all(label_ok) {
            return Err(format!(
                "the registry {:?} is not a host name (letters, digits, '-' and '.')",
                shorten(registry)
            ));
        }
    }
    if let Some(port) = port
        && !(port.parse::<u16>().is_ok_and(|p| p > 0) && port.bytes().all(|b| b.is_ascii_digit()))
    {
        return Err(format!(
            "the registry port {:?} is not 1 to 65535",
            shorten(port)
        ));
    }
    Ok(())
}

/// One path component: lower-case letters and digits, joined by '.', '_', '__' or runs of '-'.
fn path_component_ok(component: &str) -> bool {
    let bytes = component.as_bytes();
    let alnum = |b: u8| b.is_ascii_lowercase() || b.is_ascii_digit();
    if bytes.is_empty() || !alnum(bytes[0]) || !alnum(bytes[bytes.len() - 1]) {
        return false;
    }
    let mut i = 0;
    while i < bytes.len() {
        if alnum(bytes[i]) {
            i += 1;
            continue;
        }
        let start = i;
        while i < bytes.len() && !alnum(bytes[i]) {
            i += 1;
        }
        let separator = &component[start..i];
        let ok = matches!(separator, "." | "_" | "__") || separator.bytes().all(|b| b == b'-');
        if !ok {
            return false;
        }
    }
    true
}

impl ImageRef {
    pub fn parse(image: &str) -> Result<ImageRef, ImageRefError> {
        let invalid = |reason: String| ImageRefError {
            image: shorten(image),
            reason,
        };
        if image.is_empty() {
            return Err(invalid("it is empty".into()));
        }
        if let Some(c) = image.chars().find(|c| c.is_whitespace() || c.is_control()) {
            return Err(invalid(format!("it contains {c:?}")));
        }
        let (name_and_tag, digest) = match image.split_once('@') {
            Some((name, digest)) => {
                check_digest(digest).map_err(invalid)?;
                (name, Some(digest.to_owned()))
            }
            None => (image, None),
        };
        // A ':' after the last '/' starts the tag; before it, it belongs to a registry port.
        let last_slash = name_and_tag.rfind('/').map_or(0, |i| i + 1);
        let (name, tag) = match name_and_tag[last_slash..].rfind(':') {
            Some(i) => {
                let at = last_slash + i;
                let tag = &name_and_tag[at + 1..];
                check_tag(tag).map_err(invalid)?;
                (&name_and_tag[..at], Some(tag.to_owned()))
            }
            None => (name_and_tag, None),
        };
        if name.is_empty() {
            return Err(invalid("it names no repository".into()));
        }
        if name.len() > MAX_NAME_LEN {
            return Err(invalid(format!(
                "the repository name is longer than {MAX_NAME_LEN} characters"
            )));
        }
        // The first component is a registry when it looks like a host: it has a '.' or a ':', is
        // `localhost`, or has an upper-case letter (which a path cannot have).
        let (registry, path) = match name.split_once('/') {
            Some((first, rest))
                if first.contains(['.', ':', '['])
                    || first == "localhost"
                    || first.bytes().any(|b| b.is_ascii_uppercase()) =>
            {
                check_registry(first).map_err(invalid)?;
                (Some(first.to_owned()), rest)
            }
            _ => (None, name),
        };
        if let Some(bad) = path.split('/').find(|c| !path_component_ok(c)) {
            return Err(invalid(format!(
                "the repository part {:?} must be lower-case letters and digits, separated by '.', '_', '__' or '-'",
                shorten(bad)
            )));
        }
        Ok(ImageRef {
            registry,
            path: path.to_owned(),
            tag,
            digest,
        })
    }

    /// `registry/path`, without tag or digest.
    pub fn name(&self) -> String {
        match &self.registry {
            Some(registry) => format!("{registry}/{}", self.path),
            None => self.path.clone(),
        }
    }

    /// The same repository at another tag; the digest is dropped, since it named the old image.
    pub fn with_tag(&self, tag: &str) -> Result<ImageRef, ImageRefError> {
        check_tag(tag).map_err(|reason| ImageRefError {
            image: shorten(tag),
            reason,
        })?;
        Ok(ImageRef {
            tag: Some(tag.to_owned()),
            digest: None,
            ..self.clone()
        })
    }

    /// The `version` pod label for this image: its tag, else `sha256-` and the first 12 digits of
    /// its digest, else `latest`, cut to a valid label value (at most 63 characters, starting and
    /// ending with a letter or digit).
    pub fn version_label(&self) -> String {
        let digest_label = || {
            self.digest.as_deref().map(|digest| {
                let (algorithm, hex) = digest.split_once(':').unwrap_or(("sha256", digest));
                let algorithm: String = algorithm
                    .chars()
                    .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
                    .collect();
                // Digests of other algorithms may hold '=' (base64), which a label cannot.
                let hex: String = hex
                    .chars()
                    .take(12)
                    .map(|c| {
                        if c.is_ascii_alphanumeric() || "-_.".contains(c) {
                            c
                        } else {
                            '-'
                        }
                    })
                    .collect();
                format!("{algorithm}-{hex}")
            })
        };
        let label = |text: &str| {
            let cut: String = text.chars().take(MAX_LABEL_LEN).collect();
            cut.trim_matches(|c: char| !c.is_ascii_alphanumeric())
                .to_owned()
        };
        self.tag
            .as_deref()
            .map(label)
            .filter(|l| !l.is_empty())
            .or_else(|| digest_label().map(|d| label(&d)))
            .unwrap_or_else(|| "latest".into())
    }
}

impl fmt::Display for ImageRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.name())?;
        if let Some(tag) = &self.tag {
            write!(f, ":{tag}")?;
        }
        if let Some(digest) = &self.digest {
            write!(f, "@{digest}")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The cases the plugin and the node simulator share (`tests/vectors/image-references.json`).
    #[derive(serde::Deserialize)]
    #[serde(rename_all = "camelCase", deny_unknown_fields)]
    struct Vector {
        image: String,
        #[serde(default)]
        registry: Option<String>,
        #[serde(default)]
        path: Option<String>,
        #[serde(default)]
        tag: Option<String>,
        #[serde(default)]
        digest: Option<String>,
        #[serde(default)]
        version_label: Option<String>,
        #[serde(default)]
        error: Option<String>,
    }

    fn vectors() -> Vec<Vector> {
        let path = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../tests/vectors/image-references.json"
        );
        let text = std::fs::read_to_string(path).expect("image reference vectors");
        serde_json::from_str(&text).expect("vectors are JSON")
    }

    #[test]
    fn the_shared_vectors_parse_as_recorded() {
        let vectors = vectors();
        assert!(vectors.len() >= 30, "{} vectors", vectors.len());
        for v in vectors {
            match (ImageRef::parse(&v.image), &v.error) {
                (Ok(parsed), None) => {
                    assert_eq!(parsed.registry, v.registry, "{}", v.image);
                    assert_eq!(Some(&parsed.path), v.path.as_ref(), "{}", v.image);
                    assert_eq!(parsed.tag, v.tag, "{}", v.image);
                    assert_eq!(parsed.digest, v.digest, "{}", v.image);
                    assert_eq!(Some(parsed.version_label()), v.version_label, "{}", v.image);
                    assert_eq!(parsed.to_string(), v.image, "round trip");
                }
                (Err(e), Some(expected)) => assert!(
                    e.reason.contains(expected.as_str()),
                    "{}: {e} does not say {expected:?}",
                    v.image
                ),
                (result, expected) => {
                    panic!("{}: got {result:?}, expected error {expected:?}", v.image)
                }
            }
        }
    }

    #[test]
    fn labels_are_valid_label_values() {
        for image in [
            &format!("repo:{}", "a".repeat(128)),
            &format!("repo:v1{}", "-".repeat(100)),
            &format!("repo@sha256:{}", "a".repeat(64)),
            &format!("repo:_x_@sha256:{}", "b".repeat(64)),
            "repo:___",
            "x@8:=AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
        ] {
            let label = ImageRef::parse(image).expect(image).version_label();
            assert!(label.len() <= 63 && !label.is_empty(), "{label}");
            assert!(
                label.starts_with(|c: char| c.is_ascii_alphanumeric()),
                "{label}"
            );
            assert!(
                label.ends_with(|c: char| c.is_ascii_alphanumeric()),
                "{label}"
            );
            assert!(
                label
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c)),
                "{label}"
            );
        }
    }

    #[test]
    fn a_new_tag_drops_the_digest_and_keeps_the_registry_port() {
        let image = ImageRef::parse(&format!(
            "127.0.0.1:5000/bizra/node:v1@sha256:{}",
            "c".repeat(64)
        ))
        .expect("valid");
        assert_eq!(
            image.with_tag("v2").expect("tag").to_string(),
            "127.0.0.1:5000/bizra/node:v2"
        );
        assert!(image.with_tag("-bad").is_err());
        assert!(image.with_tag("a€").is_err());
    }
}
