//! The dump oracle: stock `pg_dump` of the same server, compared with fullsite's archive entry
//! by entry.
//!
//! Both archives are turned into SQL scripts by the same `pg_restore -f -` (the one paired with
//! the server), so what is compared is exactly what a restore would run. A script is split at
//! pg_restore's per-entry headers (`-- Name: x; Type: T; Schema: s; Owner: o`) into entries
//! keyed by (type, schema, name); the statement text of each is compared with whitespace runs
//! collapsed. Data entries carry their COPY rows, so table contents are compared too.
//!
//! Two things in a script depend on the order of entries rather than on the entry itself:
//! pg_restore prints `SET default_tablespace` / `SET default_table_access_method` only when the
//! value changes. Those lines are dropped from the text, and the `tablespace` and `tableam`
//! fields are compared from the two TOCs instead.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::Path;

use super::postgres::PgServer;

/// An entry's identity in a script: pg_restore's `Type`, `Schema` and `Name`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct EntryKey {
    /// `TABLE`, `INDEX`, `TABLE DATA`, ...
    pub kind: String,
    /// `-` when the entry has none.
    pub schema: String,
    /// The TOC tag.
    pub name: String,
}

impl std::fmt::Display for EntryKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {}.{}", self.kind, self.schema, self.name)
    }
}

/// One difference between the stock archive and ours.
#[derive(Debug, Clone)]
pub struct Difference {
    /// Which entry.
    pub key: EntryKey,
    /// What stock pg_dump wrote (`None`: the entry is ours only).
    pub stock: Option<String>,
    /// What fullsite wrote (`None`: the entry is stock only).
    pub ours: Option<String>,
}

impl Difference {
    /// A readable account of the difference: both texts, or which side is missing.
    pub fn describe(&self) -> String {
        match (&self.stock, &self.ours) {
            (Some(stock), None) => {
                format!("{}: only in stock pg_dump:\n{}", self.key, indent(stock))
            }
            (None, Some(ours)) => format!("{}: only in fullsite's:\n{}", self.key, indent(ours)),
            (Some(stock), Some(ours)) => format!(
                "{}: differs\n  stock pg_dump:\n{}\n  fullsite:\n{}\n  first difference: {}",
                self.key,
                indent(stock),
                indent(ours),
                first_difference(stock, ours)
            ),
            (None, None) => format!("{}: (no texts)", self.key),
        }
    }
}

fn indent(text: &str) -> String {
    text.lines()
        .map(|l| format!("    | {l}"))
        .collect::<Vec<_>>()
        .join("\n")
}

/// Where two texts first differ, with a little context from each.
fn first_difference(a: &str, b: &str) -> String {
    let at = a
        .char_indices()
        .zip(b.chars())
        .find(|((_, x), y)| x != y)
        .map(|((i, _), _)| i)
        .unwrap_or_else(|| a.len().min(b.len()));
    let from = a[..at]
        .char_indices()
        .rev()
        .nth(30)
        .map(|(i, _)| i)
        .unwrap_or(0);
    let excerpt = |s: &str| {
        let end = s[from..]
            .char_indices()
            .nth(70)
            .map(|(i, _)| from + i)
            .unwrap_or(s.len());
        format!("{:?}", s.get(from..end).unwrap_or(""))
    };
    format!("stock {} / ours {}", excerpt(a), excerpt(b))
}

/// The script `pg_restore -f -` (paired with `pg`) makes of `archive`, without owners
/// unless `owners`.
pub fn script(pg: &PgServer, archive: &Path, owners: bool) -> String {
    script_by(pg, &pg.install().clients, archive, owners)
}

/// [`script`] written by the `pg_restore` in `bin_dir` (another build of `pg`'s major).
pub fn script_by(pg: &PgServer, bin_dir: &Path, archive: &Path, owners: bool) -> String {
    let mut args = vec!["-f", "-", "--no-tablespaces"];
    if !owners {
        args.push("--no-owner");
    }
    let path = archive.to_str().expect("archive paths are UTF-8");
    args.push(path);
    let output = pg
        .command_from(bin_dir, "pg_restore", &args)
        .output()
        .unwrap_or_else(|e| panic!("cannot run pg_restore: {e}"));
    assert!(
        output.status.success(),
        "pg_restore -f - {path} failed:\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout).expect("scripts are UTF-8")
}

/// Splits a pg_restore script into entries, each with its statement text normalised (see the
/// module documentation). The preamble before the first entry is dropped.
pub fn split(script: &str) -> BTreeMap<EntryKey, Vec<String>> {
    let mut entries: BTreeMap<EntryKey, Vec<String>> = BTreeMap::new();
    let mut current: Option<(EntryKey, Vec<&str>)> = None;
    let mut flush = |current: &mut Option<(EntryKey, Vec<&str>)>| {
        if let Some((key, lines)) = current.take() {
            entries.entry(key).or_default().push(normalise(&lines));
        }
    };
    let mut lines = script.lines().peekable();
    while let Some(line) = lines.next() {
        if let Some(key) = header(line) {
            // the `--` framing the header: one line before (already taken) and one after
            if let Some((_, body)) = current.as_mut()
                && body.last() == Some(&"--")
            {
                body.pop();
            }
            flush(&mut current);
            if lines.peek() == Some(&"--") {
                lines.next();
            }
            current = Some((key, Vec::new()));
            continue;
        }
        let Some((_, body)) = current.as_mut() else {
            continue;
        };
        if line.starts_with("\\restrict") || line.starts_with("\\unrestrict") {
            continue;
        }
        if line.starts_with("SET default_table_access_method = ")
            || line.starts_with("SET default_tablespace = ")
        {
            continue;
        }
        body.push(line);
    }
    // pg_restore's closing comment
    if let Some((_, body)) = current.as_mut() {
        while body.last().is_some_and(|l| {
            l.is_empty() || *l == "--" || *l == "-- PostgreSQL database dump complete"
        }) {
            body.pop();
        }
    }
    flush(&mut current);
    for texts in entries.values_mut() {
        texts.sort();
    }
    entries
}

/// The key of a pg_restore entry header, if `line` is one: `-- Name: x; Type: T; Schema: s;
/// Owner: o` (also `-- Data for Name: ...` for data entries).
fn header(line: &str) -> Option<EntryKey> {
    let rest = line
        .strip_prefix("-- Name: ")
        .or_else(|| line.strip_prefix("-- Data for Name: "))?;
    // The name may itself hold "; " (a function's argument list does not, but a tag may):
    // take the fields from the right.
    let (rest, _owner) = rest.rsplit_once("; Owner: ")?;
    let (rest, schema) = rest.rsplit_once("; Schema: ")?;
    let (name, kind) = rest.rsplit_once("; Type: ")?;
    Some(EntryKey {
        kind: kind.to_string(),
        schema: schema.to_string(),
        name: name.to_string(),
    })
}

/// Statement text with every run of whitespace collapsed to one space and the ends trimmed.
fn normalise(lines: &[&str]) -> String {
    let mut out = String::new();
    for word in lines.iter().flat_map(|l| l.split_whitespace()) {
        if !out.is_empty() {
            out.push(' ');
        }
        out.push_str(word);
    }
    out
}

/// Every entry that differs between the two splits, or exists on one side only.
pub fn compare(
    stock: &BTreeMap<EntryKey, Vec<String>>,
    ours: &BTreeMap<EntryKey, Vec<String>>,
) -> Vec<Difference> {
    let mut differences = Vec::new();
    let keys: std::collections::BTreeSet<&EntryKey> = stock.keys().chain(ours.keys()).collect();
    for key in keys {
        let empty = Vec::new();
        let a = stock.get(key).unwrap_or(&empty);
        let b = ours.get(key).unwrap_or(&empty);
        if a == b {
            continue;
        }
        let count = a.len().max(b.len());
        for i in 0..count {
            let (x, y) = (a.get(i), b.get(i));
            if x != y {
                differences.push(Difference {
                    key: key.clone(),
                    stock: x.cloned(),
                    ours: y.cloned(),
                });
            }
        }
    }
    differences
}

/// An entry's tablespace and table access method, as its TOC records them.
type Placement = (Option<String>, Option<String>);

/// `(type, schema, tag) → placements` of every entry of an archive's TOC that has a
/// tablespace or table access method, as fullsite's reader sees them.
pub fn placement(archive: &Path) -> BTreeMap<EntryKey, Vec<Placement>> {
    let parsed = fullsite::pg::restore::source::Archive::open(archive)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", archive.display()));
    let mut out: BTreeMap<EntryKey, Vec<Placement>> = BTreeMap::new();
    for entry in &parsed.entries {
        if entry.tablespace.is_none() && entry.tableam.is_none() {
            continue;
        }
        let key = EntryKey {
            kind: entry.desc.clone(),
            schema: entry.namespace.clone().unwrap_or_else(|| "-".into()),
            name: entry.tag.clone(),
        };
        out.entry(key)
            .or_default()
            .push((entry.tablespace.clone(), entry.tableam.clone()));
    }
    for values in out.values_mut() {
        values.sort();
    }
    out
}

/// The differences in `tablespace` / `tableam` between two archives' TOCs.
pub fn compare_placement(stock: &Path, ours: &Path) -> Vec<Difference> {
    let (a, b) = (placement(stock), placement(ours));
    let keys: std::collections::BTreeSet<&EntryKey> = a.keys().chain(b.keys()).collect();
    let show = |v: Option<&Vec<Placement>>| {
        v.map(|v| {
            v.iter()
                .map(|(ts, am)| format!("tablespace {ts:?}, tableam {am:?}"))
                .collect::<Vec<_>>()
                .join("; ")
        })
    };
    keys.into_iter()
        .filter(|k| a.get(*k) != b.get(*k))
        .map(|k| Difference {
            key: EntryKey {
                kind: format!("{} (placement)", k.kind),
                ..k.clone()
            },
            stock: show(a.get(k)),
            ours: show(b.get(k)),
        })
        .collect()
}

/// A difference the tests accept, with the reason (see the table in the parity tests).
#[derive(Debug, Clone, Copy)]
pub struct Allowed {
    /// Server majors it applies to (empty: all).
    pub majors: &'static [u32],
    /// The entry's type.
    pub kind: &'static str,
    /// The entry's name, or `*` for any.
    pub name: &'static str,
    /// Why fullsite differs from pg_dump here.
    pub reason: &'static str,
}

impl Allowed {
    fn covers(&self, major: u32, difference: &Difference) -> bool {
        (self.majors.is_empty() || self.majors.contains(&major))
            && self.kind == difference.key.kind
            && (self.name == "*" || self.name == difference.key.name)
    }
}

/// The differences not covered by `allowed`, as one report (empty when there are none); the
/// allowed ones are logged with their reason.
pub fn unexplained(major: u32, differences: &[Difference], allowed: &[Allowed]) -> String {
    let mut report = String::new();
    for difference in differences {
        if let Some(allowance) = allowed.iter().find(|a| a.covers(major, difference)) {
            eprintln!(
                "PostgreSQL {major}: allowed difference {}: {}",
                difference.key, allowance.reason
            );
            continue;
        }
        let _ = writeln!(report, "{}\n", difference.describe());
    }
    report
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn headers_and_bodies_are_split_and_normalised() {
        let script = "--\n-- PostgreSQL database dump\n--\nSET x = 1;\n\n\
            --\n-- Name: users; Type: TABLE; Schema: app; Owner: -\n--\n\n\
            SET default_table_access_method = heap;\n\nCREATE TABLE app.users (\n    id integer\n);\n\n\n\
            --\n-- Data for Name: users; Type: TABLE DATA; Schema: app; Owner: -\n--\n\n\
            COPY app.users (id) FROM stdin;\n1\n\\.\n\n\n";
        let entries = split(script);
        let keys: Vec<String> = entries.keys().map(|k| k.to_string()).collect();
        assert_eq!(keys, ["TABLE app.users", "TABLE DATA app.users"]);
        let table = &entries.values().next().unwrap()[0];
        assert_eq!(table, "CREATE TABLE app.users ( id integer );");
    }
}
