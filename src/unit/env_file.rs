//! The text of an `env_file:` (`KEY=VALUE` lines) into variables. Pure:
//! the file is read elsewhere, at most [`MAX_ENV_FILE`] bytes of it.
//!
//! The format is Docker's `--env-file` with what users bring from systemd's
//! `EnvironmentFile=` and from dotenv files, so that a file written for any
//! of them reads the same here or is refused with the line at fault:
//!
//! - `KEY=VALUE`, one a line; blank lines and lines whose first non-blank
//!   character is `#` are skipped; leading whitespace is ignored, and so is
//!   whitespace around the `=` (`KEY = value`, as systemd and dotenv take it).
//! - `export KEY=VALUE` is `KEY=VALUE` (a file also sourced by a shell).
//! - A key is `[A-Za-z_][A-Za-z0-9_]*`: a name a shell could expand.
//! - A value in double quotes loses them, and `\"`, `\\` and `\n` in it are
//!   a quote, a backslash and a newline; any other backslash stays as it is
//!   (as in `sh`). A value in single quotes loses them and is taken
//!   literally. A quoted value ends at its closing quote, on the same line;
//!   after it only whitespace or a `# comment` may follow.
//! - An unquoted value is everything after the `=`, trimmed: a `#` in it is
//!   kept (`PASSWORD=a #1` is `a #1`), as Docker and systemd keep it, since
//!   cutting a secret short in silence is worse than a comment needing its
//!   own line.
//! - A line without `=` is refused: Docker would copy that variable from its
//!   own environment, which for a supervisor is whatever the boot left
//!   there; foster wants the value written down.
//! - CRLF line ends are taken as LF, a leading UTF-8 BOM is skipped, a NUL
//!   byte is refused (no environment can hold one).
//! - A key given twice keeps its first place and its last value, as a shell
//!   sourcing the file would end up with.

use std::fmt;

/// The largest env file foster reads, in bytes; a bigger one is refused
/// rather than read into PID 1.
pub const MAX_ENV_FILE: u64 = 1 << 20;

/// What is wrong with an env file, and on which line (1-based).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EnvFileError {
    pub line: usize,
    pub message: String,
}

impl fmt::Display for EnvFileError {
    /// `line N: message`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "line {}: {}", self.line, self.message)
    }
}

impl std::error::Error for EnvFileError {}

/// The variables of an env file's text, in the order of their first
/// assignment (see the module docs for the format). The first line at
/// fault is the error.
pub fn parse_env_file(text: &str) -> Result<Vec<(String, String)>, EnvFileError> {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let mut vars: Vec<(String, String)> = Vec::new();
    // Where each key is in `vars`: a file of a million one-letter lines
    // must not take PID 1 quadratic time.
    let mut positions: std::collections::HashMap<String, usize> = std::collections::HashMap::new();
    for (index, line) in text.split('\n').enumerate() {
        let number = index.saturating_add(1);
        let fail = |message: String| EnvFileError {
            line: number,
            message,
        };
        let line = line.strip_suffix('\r').unwrap_or(line);
        if line.contains('\0') {
            return Err(fail("contains a NUL byte".into()));
        }
        let line = line.trim_start();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let line = strip_export(line);
        let Some((key, value)) = line.split_once('=') else {
            let name = line.trim_end();
            return Err(fail(format!(
                "`{name}` has no `=`: write `{name}=value` (foster does not copy a variable from its own environment, as docker --env-file does)"
            )));
        };
        let key = key.trim_end();
        if !valid_key(key) {
            return Err(fail(format!(
                "invalid variable name `{key}` (letters, digits and _, not starting with a digit)"
            )));
        }
        let value = parse_value(value.trim_start()).map_err(|m| fail(format!("{key}: {m}")))?;
        match positions.get(key).and_then(|&i| vars.get_mut(i)) {
            Some((_, v)) => *v = value,
            None => {
                positions.insert(key.to_string(), vars.len());
                vars.push((key.to_string(), value));
            }
        }
    }
    Ok(vars)
}

/// `export KEY=…` → `KEY=…`; `export=1` and `exporter=1` stay as they are.
fn strip_export(line: &str) -> &str {
    match line.strip_prefix("export") {
        Some(rest) if rest.starts_with([' ', '\t']) => rest.trim_start(),
        _ => line,
    }
}

fn valid_key(key: &str) -> bool {
    let mut chars = key.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// The value after `=` (leading whitespace already gone).
fn parse_value(raw: &str) -> Result<String, String> {
    let (value, rest) = if let Some(body) = raw.strip_prefix('"') {
        double_quoted(body)?
    } else if let Some(body) = raw.strip_prefix('\'') {
        match body.split_once('\'') {
            Some((value, rest)) => (value.to_string(), rest),
            None => return Err("no closing single quote on this line".into()),
        }
    } else {
        return Ok(raw.trim_end().to_string());
    };
    let rest = rest.trim_start();
    if !rest.is_empty() && !rest.starts_with('#') {
        return Err(format!(
            "unexpected `{rest}` after the closing quote (quote the whole value)"
        ));
    }
    Ok(value)
}

/// A double-quoted value's text after the opening quote: the value, and
/// what follows its closing quote.
fn double_quoted(body: &str) -> Result<(String, &str), String> {
    let mut value = String::new();
    let mut chars = body.char_indices();
    while let Some((at, c)) = chars.next() {
        match c {
            '"' => {
                let rest = body.get(at.saturating_add(1)..).unwrap_or_default();
                return Ok((value, rest));
            }
            '\\' => match chars.next() {
                Some((_, '"')) => value.push('"'),
                Some((_, '\\')) => value.push('\\'),
                Some((_, 'n')) => value.push('\n'),
                Some((_, other)) => {
                    value.push('\\');
                    value.push(other);
                }
                None => value.push('\\'),
            },
            other => value.push(other),
        }
    }
    Err("no closing double quote on this line".into())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vars(text: &str) -> Vec<(String, String)> {
        parse_env_file(text).unwrap_or_else(|e| panic!("{text:?}: {e}"))
    }

    fn pairs(list: &[(&str, &str)]) -> Vec<(String, String)> {
        list.iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    fn error(text: &str) -> String {
        match parse_env_file(text) {
            Ok(v) => panic!("{text:?} parsed: {v:?}"),
            Err(e) => e.to_string(),
        }
    }

    #[test]
    fn key_value_lines_comments_and_blank_lines() {
        let text = "# database\nDB_HOST=db.local\n\n   \nDB_PORT=5432\n  # indented comment\n  INDENTED=yes\n";
        assert_eq!(
            vars(text),
            pairs(&[
                ("DB_HOST", "db.local"),
                ("DB_PORT", "5432"),
                ("INDENTED", "yes")
            ])
        );
        assert_eq!(vars(""), pairs(&[]));
        assert_eq!(vars("\n\n# only comments\n"), pairs(&[]));
    }

    #[test]
    fn an_unquoted_value_is_everything_after_the_equals_sign_trimmed() {
        assert_eq!(
            vars(
                "URL=http://x/?a=b&c=d  \nEMPTY=\nSPACED = two words \t\nHASH=a #1\nQ=it's \"so\"\n"
            ),
            pairs(&[
                ("URL", "http://x/?a=b&c=d"),
                ("EMPTY", ""),
                ("SPACED", "two words"),
                ("HASH", "a #1"),
                ("Q", "it's \"so\""),
            ])
        );
    }

    #[test]
    fn quoted_values_lose_their_quotes() {
        let text = concat!(
            "D=\"a \\\"quoted\\\" \\\\ word\\nnext\"\n",
            "S='literal \\n $HOME \"x\"'\n",
            "KEEP=\"tab\\tstays\"\n",
            "PAD=\"  kept  \"  # a comment after the quote\n",
            "E=\"\"\n",
            "HASH='#not a comment'\n",
        );
        assert_eq!(
            vars(text),
            pairs(&[
                ("D", "a \"quoted\" \\ word\nnext"),
                ("S", "literal \\n $HOME \"x\""),
                ("KEEP", "tab\\tstays"),
                ("PAD", "  kept  "),
                ("E", ""),
                ("HASH", "#not a comment"),
            ])
        );
    }

    #[test]
    fn export_prefix_crlf_and_bom_are_tolerated() {
        assert_eq!(
            vars("\u{feff}export A=1\r\nexport\tB=\"2\"\r\nexport=3\r\nexporter=4\r\n"),
            pairs(&[("A", "1"), ("B", "2"), ("export", "3"), ("exporter", "4")])
        );
    }

    #[test]
    fn a_key_given_twice_keeps_its_place_and_its_last_value() {
        assert_eq!(vars("A=1\nB=2\nA=3\n"), pairs(&[("A", "3"), ("B", "2")]));
    }

    #[test]
    fn a_line_without_equals_is_refused_saying_why() {
        assert_eq!(
            error("A=1\nHOME\n"),
            "line 2: `HOME` has no `=`: write `HOME=value` (foster does not copy a variable from its own environment, as docker --env-file does)"
        );
        assert!(error("export PATH\n").starts_with("line 1: `PATH` has no `=`"));
    }

    #[test]
    fn invalid_keys_are_refused_with_their_line() {
        for (text, key) in [
            ("1A=x", "1A"),
            ("A-B=x", "A-B"),
            ("=x", ""),
            ("A B=x", "A B"),
            ("É=x", "É"),
            ("A.B=x", "A.B"),
        ] {
            assert_eq!(
                error(&format!("OK=1\n\n{text}\n")),
                format!(
                    "line 3: invalid variable name `{key}` (letters, digits and _, not starting with a digit)"
                ),
                "{text}"
            );
        }
        assert_eq!(vars("_a1=x\n"), pairs(&[("_a1", "x")]));
    }

    #[test]
    fn unclosed_quotes_and_text_after_a_closing_quote_are_refused() {
        assert_eq!(
            error("A=\"open\n"),
            "line 1: A: no closing double quote on this line"
        );
        assert_eq!(
            error("A=\"escaped at the end\\\"\n"),
            "line 1: A: no closing double quote on this line"
        );
        assert_eq!(
            error("X=1\nA='open\n"),
            "line 2: A: no closing single quote on this line"
        );
        assert_eq!(
            error("A=\"one\" two\n"),
            "line 1: A: unexpected `two` after the closing quote (quote the whole value)"
        );
    }

    #[test]
    fn a_nul_byte_is_refused() {
        assert_eq!(error("A=1\nB=x\0y\n"), "line 2: contains a NUL byte");
        assert_eq!(error("# \0\n"), "line 1: contains a NUL byte");
    }

    #[test]
    fn the_error_displays_its_line() {
        let e = EnvFileError {
            line: 7,
            message: "bad".into(),
        };
        assert_eq!(e.to_string(), "line 7: bad");
        assert_eq!(MAX_ENV_FILE, 1_048_576);
    }
}
