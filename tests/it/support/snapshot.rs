//! Snapshot tests of fullsite's machine-readable outputs (`--json`, the metrics file): an
//! output, its volatile values masked, must equal a committed file under `tests/it/snapshots/`.
//! `FULLSITE_UPDATE_SNAPSHOTS=1` writes the files instead (review the diff before committing).
//!
//! JSON is read into [`Json`], which keeps object keys in the order fullsite printed them
//! (`serde_json::Value` sorts them), and [`json`] first checks that printing it compactly gives
//! the output back byte for byte: a snapshot pins key order and number formatting, not only
//! keys and values. A masked value becomes a string naming its JSON type (`"<int>"`,
//! `"<float>"`, `"<string>"`, ...), so the type stays pinned while the value may vary.

use std::fmt;
use std::path::PathBuf;

use serde::de::{self, Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};
use serde::ser::{Serialize, SerializeMap, SerializeSeq, Serializer};

/// A JSON value whose objects keep their keys in document order.
#[derive(Debug, Clone, PartialEq)]
pub enum Json {
    /// `null`.
    Null,
    /// `true` or `false`.
    Bool(bool),
    /// A number, as serde_json reads it.
    Number(serde_json::Number),
    /// A string.
    String(String),
    /// An array.
    Array(Vec<Json>),
    /// An object, keys in document order.
    Object(Vec<(String, Json)>),
}

impl Json {
    /// The placeholder a masked value becomes: its type.
    fn placeholder(&self) -> Json {
        let kind = match self {
            Json::Null => "null",
            Json::Bool(_) => "bool",
            Json::Number(n) if n.is_f64() => "float",
            Json::Number(_) => "int",
            Json::String(_) => "string",
            Json::Array(_) => "array",
            Json::Object(_) => "object",
        };
        Json::String(format!("<{kind}>"))
    }

    /// Replaces the value of every member named one of `keys`, at any depth, by its
    /// placeholder.
    pub fn mask(&mut self, keys: &[&str]) {
        match self {
            Json::Array(items) => items.iter_mut().for_each(|item| item.mask(keys)),
            Json::Object(members) => {
                for (key, value) in members {
                    if keys.contains(&key.as_str()) {
                        *value = value.placeholder();
                    } else {
                        value.mask(keys);
                    }
                }
            }
            _ => {}
        }
    }
}

impl Serialize for Json {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self {
            Json::Null => serializer.serialize_unit(),
            Json::Bool(b) => serializer.serialize_bool(*b),
            Json::Number(n) => n.serialize(serializer),
            Json::String(s) => serializer.serialize_str(s),
            Json::Array(items) => {
                let mut seq = serializer.serialize_seq(Some(items.len()))?;
                for item in items {
                    seq.serialize_element(item)?;
                }
                seq.end()
            }
            Json::Object(members) => {
                let mut map = serializer.serialize_map(Some(members.len()))?;
                for (key, value) in members {
                    map.serialize_entry(key, value)?;
                }
                map.end()
            }
        }
    }
}

impl<'de> Deserialize<'de> for Json {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Json, D::Error> {
        deserializer.deserialize_any(JsonVisitor)
    }
}

struct JsonVisitor;

impl<'de> Visitor<'de> for JsonVisitor {
    type Value = Json;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a JSON value")
    }

    fn visit_unit<E>(self) -> Result<Json, E> {
        Ok(Json::Null)
    }

    fn visit_bool<E>(self, b: bool) -> Result<Json, E> {
        Ok(Json::Bool(b))
    }

    fn visit_i64<E>(self, n: i64) -> Result<Json, E> {
        Ok(Json::Number(n.into()))
    }

    fn visit_u64<E>(self, n: u64) -> Result<Json, E> {
        Ok(Json::Number(n.into()))
    }

    fn visit_f64<E: de::Error>(self, n: f64) -> Result<Json, E> {
        serde_json::Number::from_f64(n)
            .map(Json::Number)
            .ok_or_else(|| E::custom("a number JSON cannot hold"))
    }

    fn visit_str<E>(self, s: &str) -> Result<Json, E> {
        Ok(Json::String(s.to_string()))
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Json, A::Error> {
        let mut items = Vec::new();
        while let Some(item) = seq.next_element()? {
            items.push(item);
        }
        Ok(Json::Array(items))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Json, A::Error> {
        let mut members = Vec::new();
        while let Some(member) = map.next_entry()? {
            members.push(member);
        }
        Ok(Json::Object(members))
    }
}

/// Checks the JSON document `output` (one line, as `--json` prints it) against snapshot
/// `name`, with the members named in `volatile` masked.
pub fn json(name: &str, output: &str, volatile: &[&str]) {
    let line = output.strip_suffix('\n').unwrap_or(output);
    let mut parsed: Json = serde_json::from_str(line)
        .unwrap_or_else(|e| panic!("{name}: not one JSON document: {e}\n{output}"));
    let reprinted = serde_json::to_string(&parsed).expect("print JSON");
    assert_eq!(
        reprinted, line,
        "{name}: the output is not the compact JSON serde_json prints"
    );
    parsed.mask(volatile);
    let pretty = serde_json::to_string_pretty(&parsed).expect("print JSON");
    compare(&format!("{name}.json"), &format!("{pretty}\n"));
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
