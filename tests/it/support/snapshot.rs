//! Snapshot tests of fullsite's machine-readable outputs (`--json`, the metrics file): an
//! output, its volatile values masked, must equal a committed file under `tests/it/snapshots/`.
//! `FULLSITE_UPDATE_SNAPSHOTS=1` writes the files instead (review the diff before committing).
//!
//! JSON is read into [`Json`], which keeps everything as fullsite printed it: object keys in
//! their order (`serde_json::Value` sorts them), strings and numbers as their source text (a
//! float read into an `f64` may print differently). [`json`] first checks that printing it
//! compactly gives the output back byte for byte, so a snapshot, pretty-printed for review, pins
//! key order and number formatting, not only keys and values. A masked value becomes a string
//! naming its JSON type (`"<int>"`, `"<float>"`, `"<string>"`, ...), so the type stays pinned
//! while the value may vary.

use std::path::PathBuf;

/// A JSON value, its scalars kept as their source text.
#[derive(Debug, Clone, PartialEq)]
pub enum Json {
    /// A string, number, `true`, `false` or `null`, as written (strings with their quotes and
    /// escapes).
    Scalar(String),
    /// An array.
    Array(Vec<Json>),
    /// An object, keys (as written, with their quotes) in document order.
    Object(Vec<(String, Json)>),
}

impl Json {
    /// Reads one JSON document; `None` when `text` is not one.
    pub fn parse(text: &str) -> Option<Json> {
        let mut reader = Reader { text, at: 0 };
        let value = reader.value()?;
        reader.skip_whitespace();
        (reader.at == text.len()).then_some(value)
    }

    /// The placeholder a masked value becomes: its type.
    fn placeholder(&self) -> Json {
        let kind = match self {
            Json::Scalar(s) if s.starts_with('"') => "string",
            Json::Scalar(s) if s == "null" => "null",
            Json::Scalar(s) if s == "true" || s == "false" => "bool",
            Json::Scalar(s) if s.contains(['.', 'e', 'E']) => "float",
            Json::Scalar(_) => "int",
            Json::Array(_) => "array",
            Json::Object(_) => "object",
        };
        Json::Scalar(format!("\"<{kind}>\""))
    }

    /// Replaces the value of every member named one of `keys`, at any depth, by its
    /// placeholder.
    pub fn mask(&mut self, keys: &[&str]) {
        match self {
            Json::Scalar(_) => {}
            Json::Array(items) => items.iter_mut().for_each(|item| item.mask(keys)),
            Json::Object(members) => {
                for (key, value) in members {
                    if keys.iter().any(|k| key[1..key.len() - 1] == **k) {
                        *value = value.placeholder();
                    } else {
                        value.mask(keys);
                    }
                }
            }
        }
    }

    /// Compact text, as serde_json prints it.
    pub fn compact(&self) -> String {
        let mut out = String::new();
        self.write(&mut out, None);
        out
    }

    /// Indented text, as `serde_json::to_string_pretty` prints it.
    pub fn pretty(&self) -> String {
        let mut out = String::new();
        self.write(&mut out, Some(0));
        out
    }

    /// Writes the value; `indent` is the current depth when pretty-printing.
    fn write(&self, out: &mut String, indent: Option<usize>) {
        let (open, close, count) = match self {
            Json::Scalar(s) => return out.push_str(s),
            Json::Array(items) => ('[', ']', items.len()),
            Json::Object(members) => ('{', '}', members.len()),
        };
        out.push(open);
        let inner = indent.map(|depth| depth + 1);
        for i in 0..count {
            if i > 0 {
                out.push(',');
            }
            if let Some(depth) = inner {
                out.push('\n');
                out.push_str(&"  ".repeat(depth));
            }
            match self {
                Json::Array(items) => items[i].write(out, inner),
                Json::Object(members) => {
                    let (key, value) = &members[i];
                    out.push_str(key);
                    out.push_str(if inner.is_some() { ": " } else { ":" });
                    value.write(out, inner);
                }
                Json::Scalar(_) => unreachable!("scalars returned above"),
            }
        }
        if let (Some(depth), true) = (indent, count > 0) {
            out.push('\n');
            out.push_str(&"  ".repeat(depth));
        }
        out.push(close);
    }
}

/// A recursive-descent reader of JSON text that keeps scalars as written.
struct Reader<'a> {
    text: &'a str,
    at: usize,
}

impl Reader<'_> {
    fn skip_whitespace(&mut self) {
        let rest = &self.text[self.at..];
        self.at += rest.len() - rest.trim_start_matches([' ', '\t', '\n', '\r']).len();
    }

    fn peek(&mut self) -> Option<u8> {
        self.skip_whitespace();
        self.text.as_bytes().get(self.at).copied()
    }

    /// Consumes `byte` (after whitespace), if it is next.
    fn eat(&mut self, byte: u8) -> bool {
        let next = self.peek() == Some(byte);
        self.at += usize::from(next);
        next
    }

    fn value(&mut self) -> Option<Json> {
        match self.peek()? {
            b'{' => self
                .sequence(b'}', |reader| {
                    let key = reader.string()?;
                    reader.eat(b':').then_some(())?;
                    Some((key, reader.value()?))
                })
                .map(Json::Object),
            b'[' => self.sequence(b']', Reader::value).map(Json::Array),
            b'"' => self.string().map(Json::Scalar),
            _ => {
                let rest = &self.text[self.at..];
                let len = rest
                    .find(|c: char| !(c.is_ascii_alphanumeric() || "+-.".contains(c)))
                    .unwrap_or(rest.len());
                self.at += len;
                (len > 0).then(|| Json::Scalar(rest[..len].to_string()))
            }
        }
    }

    /// The items of an array or members of an object, after its opening bracket.
    fn sequence<T>(
        &mut self,
        close: u8,
        mut item: impl FnMut(&mut Self) -> Option<T>,
    ) -> Option<Vec<T>> {
        self.at += 1;
        let mut items = Vec::new();
        if self.eat(close) {
            return Some(items);
        }
        loop {
            items.push(item(self)?);
            if self.eat(close) {
                return Some(items);
            }
            self.eat(b',').then_some(())?;
        }
    }

    /// A string with its quotes and escapes, as written.
    fn string(&mut self) -> Option<String> {
        (self.peek()? == b'"').then_some(())?;
        let bytes = self.text.as_bytes();
        let mut end = self.at + 1;
        while *bytes.get(end)? != b'"' {
            end += if bytes[end] == b'\\' { 2 } else { 1 };
        }
        let string = self.text[self.at..=end].to_string();
        self.at = end + 1;
        Some(string)
    }
}

/// Checks the JSON document `output` (one line, as `--json` prints it) against snapshot
/// `name`, with the members named in `volatile` masked.
pub fn json(name: &str, output: &str, volatile: &[&str]) {
    let line = output.strip_suffix('\n').unwrap_or(output);
    let mut parsed =
        Json::parse(line).unwrap_or_else(|| panic!("{name}: not one JSON document:\n{output}"));
    assert_eq!(
        parsed.compact(),
        line,
        "{name}: the output is not one line of compact JSON"
    );
    parsed.mask(volatile);
    compare(&format!("{name}.json"), &format!("{}\n", parsed.pretty()));
}

/// Checks the Prometheus text `output` against snapshot `name`, with the values of the
/// metrics named in `volatile` replaced by `<value>`.
pub fn metrics(name: &str, output: &str, volatile: &[&str]) {
    let masked: String = output
        .lines()
        .map(|line| match line.split_once(' ') {
            Some((metric, _)) if volatile.contains(&metric) => format!("{metric} <value>\n"),
            _ => format!("{line}\n"),
        })
        .collect();
    compare(&format!("{name}.prom"), &masked);
}

/// Compares `actual` with the committed snapshot `file`, or writes it when
/// `FULLSITE_UPDATE_SNAPSHOTS=1`.
fn compare(file: &str, actual: &str) {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/it/snapshots")
        .join(file);
    if std::env::var_os("FULLSITE_UPDATE_SNAPSHOTS").is_some_and(|v| v == "1") {
        std::fs::create_dir_all(path.parent().expect("snapshots have a directory"))
            .unwrap_or_else(|e| panic!("cannot create the snapshot directory: {e}"));
        std::fs::write(&path, actual)
            .unwrap_or_else(|e| panic!("cannot write {}: {e}", path.display()));
        return;
    }
    let expected = std::fs::read_to_string(&path).unwrap_or_else(|e| {
        panic!(
            "cannot read the snapshot {}: {e}\n(FULLSITE_UPDATE_SNAPSHOTS=1 writes it)\nactual:\n{actual}",
            path.display()
        )
    });
    assert!(
        expected == actual,
        "output differs from the snapshot {} (FULLSITE_UPDATE_SNAPSHOTS=1 rewrites it):\n{}\
         --- expected\n{expected}--- actual\n{actual}",
        path.display(),
        super::db::line_diff(&expected, actual)
    );
}
