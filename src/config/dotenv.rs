//! Parser for the `.env` file in the working directory.
//!
//! The legacy script `source`d `.env` with bash, so operators' files are shell assignments. We
//! accept the subset such files use — `KEY=value`, `export KEY=value`, blank lines, `#` comments,
//! single quotes (literal), double quotes (with `\"`, `\\`, `\$`, `` \` `` escapes), and `$NAME` /
//! `${NAME}` expansion in unquoted and double-quoted text — and reject anything else with the line
//! number, instead of guessing. Nothing here executes code.

use std::path::{Path, PathBuf};

/// A `.env` line that is not a plain assignment.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("malformed line {line} in '{path}': {reason}")]
pub struct DotEnvError {
    /// The file.
    pub path: PathBuf,
    /// 1-based line number.
    pub line: usize,
    /// What is wrong with it.
    pub reason: String,
}

/// Parses `.env` text into assignments, in file order.
///
/// `lookup` resolves `$NAME` for names not assigned earlier in the file (the process
/// environment, in practice); unknown names expand to the empty string, as in the shell.
pub fn parse(
    text: &str,
    path: &Path,
    lookup: &dyn Fn(&str) -> Option<String>,
) -> Result<Vec<(String, String)>, DotEnvError> {
    let mut assignments: Vec<(String, String)> = Vec::new();
    for (index, raw) in text.lines().enumerate() {
        let fail = |reason: &str| DotEnvError {
            path: path.to_path_buf(),
            line: index + 1,
            reason: reason.to_string(),
        };
        let line = raw.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let line = line.strip_prefix("export ").map_or(line, str::trim_start);
        let Some((key, rest)) = line.split_once('=') else {
            return Err(fail("expected KEY=VALUE"));
        };
        if !is_name(key) {
            return Err(fail(&format!(
                "'{}' is not a variable name (letters, digits and '_', no spaces around '=')",
                key.escape_debug()
            )));
        }
        let resolve = |name: &str| {
            assignments
                .iter()
                .rev()
                .find(|(k, _)| k == name)
                .map(|(_, v)| v.clone())
                .or_else(|| lookup(name))
                .unwrap_or_default()
        };
        let value = parse_value(rest, &resolve).map_err(|reason| fail(&reason))?;
        assignments.push((key.to_string(), value));
    }
    Ok(assignments)
}

fn is_name(s: &str) -> bool {
    let mut chars = s.chars();
    matches!(chars.next(), Some(c) if c == '_' || c.is_ascii_alphabetic())
        && chars.all(|c| c == '_' || c.is_ascii_alphanumeric())
}

/// Parses the text after `=`: a sequence of unquoted, single-quoted and double-quoted pieces,
/// ended by the end of the line or by whitespace (after which only a `#` comment may follow).
fn parse_value(text: &str, resolve: &dyn Fn(&str) -> String) -> Result<String, String> {
    let mut out = String::new();
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\'' => loop {
                match chars.next() {
                    Some('\'') => break,
                    Some(c) => out.push(c),
                    None => return Err("unterminated single quote".into()),
                }
            },
            '"' => loop {
                match chars.next() {
                    Some('"') => break,
                    Some('\\') => match chars.next() {
                        Some(c @ ('"' | '\\' | '$' | '`')) => out.push(c),
                        Some(c) => {
                            out.push('\\');
                            out.push(c);
                        }
                        None => return Err("unterminated double quote".into()),
                    },
                    Some('$') => expand(&mut chars, &mut out, resolve)?,
                    Some('`') => return Err("command substitution is not supported".into()),
                    Some(c) => out.push(c),
                    None => return Err("unterminated double quote".into()),
                }
            },
            '\\' => match chars.next() {
                Some(c) => out.push(c),
                None => return Err("trailing backslash".into()),
            },
            '$' => expand(&mut chars, &mut out, resolve)?,
            '`' => return Err("command substitution is not supported".into()),
            c if c.is_whitespace() => {
                let rest: String = chars.collect();
                let rest = rest.trim_start();
                if rest.is_empty() || rest.starts_with('#') {
                    return Ok(out);
                }
                return Err("unquoted whitespace in value (quote the value)".into());
            }
            c => out.push(c),
        }
    }
    Ok(out)
}

/// Expands `$NAME` or `${NAME}` after the `$` has been consumed; a lone `$` stays literal.
fn expand(
    chars: &mut std::iter::Peekable<std::str::Chars<'_>>,
    out: &mut String,
    resolve: &dyn Fn(&str) -> String,
) -> Result<(), String> {
    let mut name = String::new();
    match chars.peek() {
        Some('(') => return Err("command substitution is not supported".into()),
        Some(&c) if "$?!#*@-".contains(c) || c.is_ascii_digit() => {
            return Err(format!(
                "'${c}' is a shell special parameter; put the value in single quotes"
            ));
        }
        _ => {}
    }
    if chars.peek() == Some(&'{') {
        chars.next();
        loop {
            match chars.next() {
                Some('}') => break,
                Some(c) => name.push(c),
                None => return Err("unterminated ${...}".into()),
            }
        }
        if !is_name(&name) {
            return Err(format!(
                "'${{{}}}' is not a plain variable reference",
                name.escape_debug()
            ));
        }
    } else {
        while let Some(&c) = chars.peek() {
            if c == '_' || c.is_ascii_alphanumeric() {
                name.push(c);
                chars.next();
            } else {
                break;
            }
        }
        if name.is_empty() {
            out.push('$');
            return Ok(());
        }
    }
    out.push_str(&resolve(&name));
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse_ok(text: &str) -> Vec<(String, String)> {
        let env = |name: &str| (name == "HOME").then(|| "/root".to_string());
        parse(text, Path::new(".env"), &env).expect("parses")
    }

    fn parse_err(text: &str) -> DotEnvError {
        parse(text, Path::new(".env"), &|_| None).expect_err("must be rejected")
    }

    fn pairs(list: &[(&str, &str)]) -> Vec<(String, String)> {
        list.iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn reads_the_stgy_env_file_shapes() {
        let text = "STGY_DATABASE_HOST=postgres\n\n# a comment\nSTGY_MINIO_CORS_ALLOW_ORIGIN=https://a.jp,https://b.jp\nSTGY_STORAGE_S3_PUBLIC_URL_PREFIX=https://s3.stgy.jp/{bucket}/\nSTGY_OPENAI_API_KEY=\n";
        assert_eq!(
            parse_ok(text),
            pairs(&[
                ("STGY_DATABASE_HOST", "postgres"),
                ("STGY_MINIO_CORS_ALLOW_ORIGIN", "https://a.jp,https://b.jp"),
                (
                    "STGY_STORAGE_S3_PUBLIC_URL_PREFIX",
                    "https://s3.stgy.jp/{bucket}/"
                ),
                ("STGY_OPENAI_API_KEY", ""),
            ])
        );
    }

    #[test]
    fn handles_quotes_export_comments_and_expansion() {
        let text = concat!(
            "export A=1\n",
            "B='it''s # not a comment $A'\n",
            "C=\"say \\\"hi\\\" $A ${A}x \\$A\"\n",
            "D=$HOME/backups # trailing comment\n",
            "E=${UNSET}end\n",
            "F='pa$$word'\n",
            "H=cost$\n",
            "I=\"5$ off\"\n",
            "  G=  \n",
        );
        assert_eq!(
            parse_ok(text),
            pairs(&[
                ("A", "1"),
                ("B", "its # not a comment $A"),
                ("C", "say \"hi\" 1 1x $A"),
                ("D", "/root/backups"),
                ("E", "end"),
                ("F", "pa$$word"),
                ("H", "cost$"),
                ("I", "5$ off"),
                ("G", ""),
            ])
        );
    }

    #[test]
    fn rejects_malformed_lines_with_their_number() {
        let err = parse_err("A=1\nthis is not an assignment\n");
        assert_eq!(err.line, 2);
        assert_eq!(
            err.to_string(),
            "malformed line 2 in '.env': expected KEY=VALUE"
        );
        assert_eq!(parse_err("A = 1").line, 1);
        assert!(parse_err("A='open").reason.contains("single quote"));
        assert!(parse_err("A=\"open").reason.contains("double quote"));
        assert!(parse_err("A=two words").reason.contains("whitespace"));
        assert!(parse_err("A=$(id)").reason.contains("command substitution"));
        assert!(parse_err("A=`id`").reason.contains("command substitution"));
        assert!(parse_err("A=pa$$word").reason.contains("single quotes"));
        assert!(parse_err("A=\"$1\"").reason.contains("special parameter"));
        assert!(parse_err("1A=x").reason.contains("not a variable name"));
    }
}
