//! Scrubbing values out of text that comes from outside (a command's stderr)
//! before it can reach an error message.

/// What replaces a value.
pub(crate) const REDACTED: &str = "[redacted]";

/// `text` with every occurrence of each non-empty secret replaced by
/// [`REDACTED`]. Longer secrets are replaced first, so a secret that contains
/// another is not left half visible.
pub(crate) fn redact(text: &str, secrets: &[&str]) -> String {
    let mut secrets: Vec<&str> = secrets.iter().copied().filter(|s| !s.is_empty()).collect();
    secrets.sort_by_key(|s| std::cmp::Reverse(s.len()));
    // Intermediate copies may still hold a secret not yet replaced.
    let mut out = zeroize::Zeroizing::new(text.to_owned());
    for secret in secrets {
        if out.contains(secret) {
            out = zeroize::Zeroizing::new(out.replace(secret, REDACTED));
        }
    }
    std::mem::take(&mut *out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(text: &str, secrets: &[&str], expected: &str) {
        assert_eq!(redact(text, secrets), expected);
    }

    #[test]
    fn replaces_every_occurrence_of_every_secret() {
        check("a s3cret b s3cret", &["s3cret"], "a [redacted] b [redacted]");
        check("old=o1 new=n2", &["o1", "n2"], "old=[redacted] new=[redacted]");
        check("nothing here", &["s3cret"], "nothing here");
    }

    #[test]
    fn empty_secrets_are_ignored() {
        check("abc", &[""], "abc");
    }

    #[test]
    fn a_longer_secret_containing_a_shorter_one_is_replaced_whole() {
        check("key=abcdef", &["abc", "abcdef"], "key=[redacted]");
    }

    #[test]
    fn multi_line_secrets_are_replaced_across_lines() {
        check(
            "x\n-----BEGIN\nK\n-----END\ny",
            &["-----BEGIN\nK\n-----END"],
            "x\n[redacted]\ny",
        );
    }
}
