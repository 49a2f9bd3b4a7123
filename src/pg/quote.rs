//! SQL quoting done on the client: string literals for the statements we compose.
//! Identifiers are quoted by the server (`quote_ident`, `format('%I')`) in catalog queries, so
//! they follow exactly the server's keyword list.

/// A standard-conforming string literal: `'it''s'`. Archives declare
/// `standard_conforming_strings = on`, so backslashes need no escaping.
pub fn literal(text: &str) -> String {
    format!("'{}'", text.replace('\'', "''"))
}

#[cfg(test)]
mod tests {
    #[test]
    fn literals_double_single_quotes_only() {
        assert_eq!(super::literal("it's a \\ test"), "'it''s a \\ test'");
    }
}
