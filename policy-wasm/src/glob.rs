//! Image globs as Kubewarden's verify-image-signatures uses them: `*` matches any run of
//! characters (slashes included), `?` exactly one.

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Glob<'a>(&'a str);

impl<'a> Glob<'a> {
    pub fn new(pattern: &'a str) -> Result<Self, String> {
        if pattern.trim().is_empty() {
            return Err("pattern is empty".into());
        }
        if pattern.chars().any(char::is_whitespace) {
            return Err(format!("pattern {pattern:?} contains whitespace"));
        }
        Ok(Glob(pattern))
    }

    /// Iterative wildcard matching with one backtrack point: linear in practice, no recursion.
    pub fn matches(&self, text: &str) -> bool {
        let (p, t): (Vec<char>, Vec<char>) = (self.0.chars().collect(), text.chars().collect());
        let (mut pi, mut ti) = (0, 0);
        let mut star: Option<(usize, usize)> = None;
        while ti < t.len() {
            if pi < p.len() && (p[pi] == '?' || p[pi] == t[ti]) {
                pi += 1;
                ti += 1;
            } else if pi < p.len() && p[pi] == '*' {
                star = Some((pi, ti));
                pi += 1;
            } else if let Some((star_p, star_t)) = star {
                pi = star_p + 1;
                ti = star_t + 1;
                star = Some((star_p, star_t + 1));
            } else {
                return false;
            }
        }
        p[pi..].iter().all(|c| *c == '*')
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wildcards_match_like_shell_globs_across_slashes() {
        let cases = [
            ("ghcr.io/bizra/*", "ghcr.io/bizra/node:v1", true),
            ("ghcr.io/bizra/*", "ghcr.io/bizra/a/b@sha256:00", true),
            ("ghcr.io/bizra/*", "ghcr.io/bizrax/node", false),
            ("*", "anything", true),
            ("ghcr.io/bizra/node:v?.?", "ghcr.io/bizra/node:v2.3", true),
            ("ghcr.io/bizra/node:v?.?", "ghcr.io/bizra/node:v2.30", false),
            ("*/node:*", "127.0.0.1:5000/node:v1", true),
            ("exact:tag", "exact:tag", true),
            ("exact:tag", "exact:tag2", false),
        ];
        for (pattern, text, expected) in cases {
            assert_eq!(
                Glob::new(pattern).expect("pattern").matches(text),
                expected,
                "{pattern} {text}"
            );
        }
        assert!(Glob::new("").is_err());
        assert!(Glob::new("a b").is_err());
    }

    #[test]
    fn pathological_patterns_stay_fast() {
        let pattern = "*a".repeat(50) + "b";
        let text = "a".repeat(5000);
        assert!(!Glob::new(&pattern).expect("pattern").matches(&text));
    }
}
