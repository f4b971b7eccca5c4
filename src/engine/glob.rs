//! Glob-style pattern matching with Redis's semantics (`KEYS`, `SCAN
//! MATCH`, `PSUBSCRIBE`, `CONFIG GET`): `*` any run of bytes, `?` any one
//! byte, `[abc]` a class with `^` negation and `a-z` ranges, `\x` the byte
//! `x` literally.
//!
//! Redis's corner cases are kept, because clients can observe them:
//! - the string is matched byte by byte; a pattern that still has bytes
//!   other than `*` when the string is used up does not match, and neither
//!   does any non-empty pattern against the empty string (so `*` does not
//!   match `""`; `KEYS *` special-cases that pattern, which callers must do
//!   too);
//! - inside a class, `\x` is compared exactly even when matching without
//!   case; a range whose ends are reversed (`[z-a]`) is swapped; range ends
//!   and the byte compare as signed chars, as C's `char` does on x86, so a
//!   range across 0x7f/0x80 wraps;
//! - an unterminated class (`[ab`) ends at the end of the pattern; `[^` alone
//!   matches any byte;
//! - recursion is bounded (1000 nested `*`), and once the rest of a pattern
//!   failed to match anywhere after a `*`, earlier `*`s are not retried with
//!   longer matches, which keeps patterns like `a*a*a*…b` linear-ish.

/// Deepest nesting of `*` before a match is abandoned, as in Redis.
const MAX_NESTING: u32 = 1000;

/// True when `string` matches `pattern`; `nocase` folds ASCII letters.
pub fn glob_match(pattern: &[u8], string: &[u8], nocase: bool) -> bool {
    let mut give_up = false;
    match_at(pattern, string, nocase, &mut give_up, 0)
}

fn fold(b: u8, nocase: bool) -> u8 {
    if nocase { b.to_ascii_lowercase() } else { b }
}

/// ASCII lower case of a signed char value, leaving everything else.
fn lower_signed(x: i32) -> i32 {
    if (i32::from(b'A')..=i32::from(b'Z')).contains(&x) {
        x + 32
    } else {
        x
    }
}

/// Matches the class that starts at `p[0] == b'['` against `c`. Returns
/// whether it matched and the index in `p` of the class's last byte (its
/// `]`, or the pattern's last byte when the class is unterminated).
fn match_class(p: &[u8], c: u8, nocase: bool) -> (bool, usize) {
    let mut i = 1;
    let negate = p.get(i) == Some(&b'^');
    if negate {
        i += 1;
    }
    let mut matched = false;
    loop {
        let rest = p.len() - i;
        if rest == 0 {
            i -= 1;
            break;
        }
        if p[i] == b'\\' && rest >= 2 {
            i += 1;
            matched |= p[i] == c;
        } else if p[i] == b']' {
            break;
        } else if rest >= 3 && p[i + 1] == b'-' {
            let (mut lo, mut hi) = (i32::from(p[i] as i8), i32::from(p[i + 2] as i8));
            let mut x = i32::from(c as i8);
            if lo > hi {
                std::mem::swap(&mut lo, &mut hi);
            }
            if nocase {
                lo = lower_signed(lo);
                hi = lower_signed(hi);
                x = lower_signed(x);
            }
            matched |= lo <= x && x <= hi;
            i += 2;
        } else {
            matched |= fold(p[i], nocase) == fold(c, nocase);
        }
        i += 1;
    }
    (matched != negate, i)
}

fn match_at(mut p: &[u8], mut s: &[u8], nocase: bool, give_up: &mut bool, depth: u32) -> bool {
    if depth > MAX_NESTING {
        return false;
    }
    while let (Some(&pc), Some(&sc)) = (p.first(), s.first()) {
        match pc {
            b'*' => {
                while p.len() > 1 && p[1] == b'*' {
                    p = &p[1..];
                }
                if p.len() == 1 {
                    return true;
                }
                let rest = &p[1..];
                while !s.is_empty() {
                    if match_at(rest, s, nocase, give_up, depth + 1) {
                        return true;
                    }
                    if *give_up {
                        return false;
                    }
                    s = &s[1..];
                }
                // The rest of the pattern matches nowhere in what is left
                // of the string: longer matches for earlier `*`s would only
                // leave less of it, so stop trying them.
                *give_up = true;
                return false;
            }
            b'?' => s = &s[1..],
            b'[' => {
                let (matched, last) = match_class(p, sc, nocase);
                if !matched {
                    return false;
                }
                p = &p[last..];
                s = &s[1..];
            }
            _ => {
                if pc == b'\\' && p.len() >= 2 {
                    p = &p[1..];
                }
                if fold(p[0], nocase) != fold(sc, nocase) {
                    return false;
                }
                s = &s[1..];
            }
        }
        p = &p[1..];
        if s.is_empty() {
            while p.first() == Some(&b'*') {
                p = &p[1..];
            }
            break;
        }
    }
    p.is_empty() && s.is_empty()
}

#[cfg(test)]
mod tests {
    use super::glob_match;

    fn m(p: &str, s: &str) -> bool {
        glob_match(p.as_bytes(), s.as_bytes(), false)
    }

    #[test]
    fn the_documented_examples() {
        // From the KEYS reference.
        assert!(m("h?llo", "hello") && m("h?llo", "hallo") && m("h?llo", "hxllo"));
        assert!(m("h*llo", "hllo") && m("h*llo", "heeeello"));
        assert!(m("h[ae]llo", "hello") && m("h[ae]llo", "hallo") && !m("h[ae]llo", "hillo"));
        assert!(m("h[^e]llo", "hallo") && m("h[^e]llo", "hbllo") && !m("h[^e]llo", "hello"));
        assert!(m("h[a-b]llo", "hallo") && m("h[a-b]llo", "hbllo") && !m("h[a-b]llo", "hcllo"));
        assert!(m(r"h\*llo", "h*llo") && !m(r"h\*llo", "hello"));
    }

    #[test]
    fn stars_and_ends() {
        assert!(m("*", "anything"));
        assert!(m("", ""));
        assert!(!m("", "a"));
        // Redis: a non-empty pattern never matches the empty string.
        assert!(!m("*", ""));
        assert!(!m("**", ""));
        assert!(m("a*", "a") && m("a**", "a"));
        assert!(!m("a*b", "a"));
        assert!(m("*b", "ab") && !m("*b", "ba"));
        assert!(m("a*b*c", "aXbYc") && !m("a*b*c", "aXbY"));
        assert!(m("__keyspace@*__:*", "__keyspace@0__:mystream"));
        assert!(!m("abc", "ab") && !m("ab", "abc"));
    }

    #[test]
    fn classes_and_escapes() {
        assert!(m("[z-a]", "m"), "reversed range is swapped");
        assert!(m(r"[\]]", "]") && m(r"[\-]", "-"));
        // `a-]` is a range from `a` to `]` (swapped: 0x5d..=0x61), and the
        // class is then unterminated, as in Redis.
        assert!(m("[a-]", "a") && m("[a-]", "^") && !m("[a-]", "-"));
        // Unterminated classes end with the pattern.
        assert!(m("[ab", "a") && m("[ab", "b") && !m("[ab", "c"));
        assert!(m("[^", "x"));
        assert!(!m("[", "x"));
        assert!(m(r"a\", r"a\"), "a trailing backslash is literal");
        assert!(m(r"\?", "?") && !m(r"\?", "x"));
        // Bytes above 0x7f compare as signed chars in ranges.
        assert!(glob_match(b"[\x80-\xff]", b"\x90", false));
        assert!(!glob_match(b"[\x80-\xff]", b"a", false));
        assert!(
            glob_match(b"[a-\xe9]", b"\x00", false),
            "wraps through 0x00"
        );
        assert!(glob_match(b"[a-\xe9]", b"\xf0", false));
        assert!(!glob_match(b"[a-\xe9]", b"z", false));
    }

    #[test]
    fn without_case() {
        assert!(glob_match(b"HeLLo", b"hello", true));
        assert!(glob_match(b"h[A-C]llo", b"hbllo", true));
        assert!(glob_match(b"h[abc]llo", b"HBLLO", true));
        assert!(!glob_match(b"HeLLo", b"hello", false));
        // An escaped byte in a class is compared exactly, as Redis does.
        assert!(!glob_match(br"[\A]", b"a", true));
    }

    #[test]
    fn hostile_patterns_finish() {
        let s = "a".repeat(60);
        let p = format!("{}b", "a*".repeat(30));
        assert!(!m(&p, &s));
        let deep = "*a".repeat(2000);
        assert!(!m(&deep, &"a".repeat(1500)));
    }

    proptest::proptest! {
        #[test]
        fn literal_patterns_match_only_themselves(s in "[a-z0-9:_-]{0,12}", t in "[a-z0-9:_-]{0,12}") {
            proptest::prop_assert_eq!(m(&s, &t), s == t);
        }

        #[test]
        fn arbitrary_bytes_never_panic(p: Vec<u8>, s: Vec<u8>, nocase: bool) {
            let _ = glob_match(&p, &s, nocase);
        }
    }
}

#[cfg(test)]
mod redis_diff {
    /// Answers recorded from a real redis-server 7.0.15 (`KEYS` over 60 keys,
    /// random patterns of `a b * ? [ ] ^ - \ A z` and bytes 0x80 and 0xe9),
    /// one `pattern-hex\tstring-hex\t0|1` per line. `BROOK_GLOB_CASES` names
    /// another such file.
    const CASES: &str = include_str!("../../tests/fixtures/glob_redis.tsv");

    #[test]
    fn same_answers_as_redis() {
        let text = match std::env::var("BROOK_GLOB_CASES") {
            Ok(path) => std::fs::read_to_string(path).unwrap(),
            Err(_) => CASES.to_string(),
        };
        let hex = crate::testutil::hex;
        let mut wrong = Vec::new();
        let mut n = 0;
        for line in text.lines() {
            let f: Vec<&str> = line.split('\t').collect();
            let (p, s, want) = (hex(f[0]), hex(f[1]), f[2] == "1");
            n += 1;
            if super::glob_match(&p, &s, false) != want {
                wrong.push((
                    p.escape_ascii().to_string(),
                    s.escape_ascii().to_string(),
                    want,
                ));
            }
        }
        assert!(n > 10_000, "the fixture is there");
        assert!(
            wrong.is_empty(),
            "{} of {n} differ, e.g. {:?}",
            wrong.len(),
            &wrong[..wrong.len().min(10)]
        );
    }
}
