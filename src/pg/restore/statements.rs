//! Splitting a stream of SQL into statements, for table data dumped as INSERT commands
//! (`pg_dump --inserts` / `--column-inserts`: the TABLE DATA entry has no COPY statement and its
//! data file holds one statement per row).
//!
//! The rule is pg_restore's: a statement ends at a `;` outside single and double quotes;
//! inside single quotes a backslash escapes the next character only when
//! `standard_conforming_strings` is off. Newlines between statements are dropped. Input arrives
//! in arbitrary pieces (a statement may straddle two), so memory is bounded by the longest
//! statement, not by the data.

/// Where the scanner is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Scan,
    SingleQuote { backslash: bool },
    DoubleQuote,
}

/// Splits SQL text fed in pieces into complete statements.
#[derive(Debug)]
pub struct Splitter {
    state: State,
    std_strings: bool,
    current: Vec<u8>,
}

impl Splitter {
    /// A splitter for an archive whose STDSTRINGS entry says `std_strings`.
    pub fn new(std_strings: bool) -> Splitter {
        Splitter {
            state: State::Scan,
            std_strings,
            current: Vec::new(),
        }
    }

    /// Feeds `bytes`; calls `statement` with each statement completed by them.
    pub fn feed(&mut self, bytes: &[u8], statement: &mut dyn FnMut(&[u8])) {
        for &byte in bytes {
            if !(byte == b'\n' && self.current.is_empty()) {
                self.current.push(byte);
            }
            self.state = match (self.state, byte) {
                (State::Scan, b';') => {
                    statement(&self.current);
                    self.current.clear();
                    State::Scan
                }
                (State::Scan, b'\'') => State::SingleQuote { backslash: false },
                (State::Scan, b'"') => State::DoubleQuote,
                (State::Scan, _) => State::Scan,
                (State::SingleQuote { backslash: false }, b'\'') => State::Scan,
                (State::SingleQuote { backslash }, b'\\') if !self.std_strings => {
                    State::SingleQuote {
                        backslash: !backslash,
                    }
                }
                (State::SingleQuote { .. }, _) => State::SingleQuote { backslash: false },
                (State::DoubleQuote, b'"') => State::Scan,
                (State::DoubleQuote, _) => State::DoubleQuote,
            };
        }
    }

    /// What is left after the last complete statement, if it is more than whitespace.
    pub fn rest(&self) -> Option<&[u8]> {
        (!self.current.iter().all(u8::is_ascii_whitespace)).then_some(&self.current[..])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn split(pieces: &[&str], std_strings: bool) -> (Vec<String>, Option<String>) {
        let mut splitter = Splitter::new(std_strings);
        let mut out = Vec::new();
        for piece in pieces {
            splitter.feed(piece.as_bytes(), &mut |s| {
                out.push(String::from_utf8(s.to_vec()).unwrap())
            });
        }
        let rest = splitter
            .rest()
            .map(|r| String::from_utf8(r.to_vec()).unwrap());
        (out, rest)
    }

    #[test]
    fn statements_end_at_semicolons_outside_quotes_whatever_the_pieces() {
        let text = "INSERT INTO public.t VALUES (1, 'a;b', \"x;\");\n\nINSERT INTO public.t VALUES (2, 'it''s');\n";
        let whole = split(&[text], true);
        assert_eq!(
            whole.0,
            [
                "INSERT INTO public.t VALUES (1, 'a;b', \"x;\");",
                "INSERT INTO public.t VALUES (2, 'it''s');"
            ]
        );
        assert_eq!(whole.1, None);
        let bytes: Vec<String> = text.chars().map(String::from).collect();
        let pieces: Vec<&str> = bytes.iter().map(String::as_str).collect();
        assert_eq!(split(&pieces, true), whole, "split byte by byte");
    }

    #[test]
    fn backslashes_escape_quotes_only_without_standard_strings() {
        let text = "SELECT 'a\\';b';";
        let (statements, rest) = split(&[text], true);
        assert_eq!(statements, ["SELECT 'a\\';"]);
        assert_eq!(rest.as_deref(), Some("b';"));
        let (statements, rest) = split(&[text], false);
        assert_eq!(
            statements,
            [text],
            "the quote after the backslash is escaped"
        );
        assert!(rest.is_none());
        assert_eq!(
            split(&["SELECT 1;\nSELECT 2"], true).1.as_deref(),
            Some("SELECT 2")
        );
    }
}
