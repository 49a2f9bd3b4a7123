//! `fullsite ls NAME`: what a generation holds, from its manifest (and its archive's TOC)
//! alone, so it works on an offsite copy without any server.
//!
//! Objects, sorted by bucket and key, one per line: bucket, key, size, Last-Modified,
//! Content-Type. On a terminal the columns are aligned under a header and sizes are human;
//! otherwise the fields are separated by tabs and sizes are bytes, for scripts. Keys are
//! printed with control characters escaped (so a tab or newline in a key cannot break a line).
//! With `--tables`: each table with its rows and the size of its data file. Memory does not grow
//! with the number of objects (they are read through an external sort, and `--json` is written
//! as it goes).

use std::io::IsTerminal;

use serde::Serialize;

use super::output::{Out, generation, json};
use crate::browse::database;
use crate::cli::{LsArgs, ObjectFilterArgs};
use crate::config::{self, Vars};
use crate::engine::Result;
use crate::generation::Catalog;
use crate::human::{bytes, printable};
use crate::objects::generation_objects::GenerationObjects;
use crate::objects::selection::ObjectSelection;

/// One object of `ls --json` (fields in alphabetical order, see `json`).
#[derive(Serialize)]
struct LsObject<'a> {
    /// BLAKE3 of the content ("" for legacy generations).
    blake3: &'a str,
    bucket: &'a str,
    content_type: Option<&'a str>,
    etag: &'a str,
    key: &'a str,
    /// RFC 3339 ("" for legacy generations).
    last_modified: &'a str,
    size: u64,
}

/// One table of `ls --tables --json`.
#[derive(Serialize)]
struct LsTable<'a> {
    /// Bytes of its data file (compressed); null when the archive has no per-table files.
    bytes: Option<u64>,
    name: &'a str,
    /// Rows dumped; null before manifest version 3.
    rows: Option<u64>,
    schema: &'a str,
}

pub fn run(args: LsArgs, vars: &Vars) -> Result<()> {
    let root = config::backup_root(args.root.root.as_deref(), vars);
    let catalog = Catalog::scan(&root)?;
    let generation = generation(&catalog, &root, &args.name)?;
    let mut out = Out::new();
    if args.tables {
        let database = database::read(generation)?.unwrap_or_default();
        if args.json {
            let tables: Vec<LsTable> = database
                .tables
                .iter()
                .map(|t| LsTable {
                    bytes: t.bytes,
                    name: &t.name,
                    rows: t.rows,
                    schema: &t.schema,
                })
                .collect();
            out.write(&format!(
                "{{\"generation\":{},\"tables\":{}}}\n",
                json(&generation.name),
                json(&tables)
            ))?;
            return out.finish();
        }
        let terminal = std::io::stdout().is_terminal();
        let unknown = || "-".to_string();
        let rows: Vec<[String; 3]> = database
            .tables
            .iter()
            .map(|t| {
                let size = t.bytes.map_or_else(unknown, |b| match terminal {
                    true => bytes(b),
                    false => b.to_string(),
                });
                let name = format!("{}.{}", printable(&t.schema), printable(&t.name));
                [name, t.rows.map_or_else(unknown, |r| r.to_string()), size]
            })
            .collect();
        if terminal {
            let width = rows.iter().map(|r| r[0].chars().count()).max().unwrap_or(0);
            let width = width.max("TABLE".len());
            out.write(&format!(
                "{:<width$}  {:>12}  {:>10}\n",
                "TABLE", "ROWS", "SIZE"
            ))?;
            for [name, count, size] in rows {
                out.write(&format!("{name:<width$}  {count:>12}  {size:>10}\n"))?;
            }
        } else {
            for [name, count, size] in rows {
                out.write(&format!("{name}\t{count}\t{size}\n"))?;
            }
        }
        return out.finish();
    }

    let selection = filter_selection(&args.filter);
    let mut objects = GenerationObjects::read(generation, &selection)?;
    if !selection.buckets.is_empty() {
        objects.check_selection(&ObjectSelection {
            prefix: None,
            ..selection.clone()
        })?;
    }
    if args.json {
        let buckets: Vec<&String> = objects.buckets.keys().collect();
        out.write(&format!(
            "{{\"buckets\":{},\"generation\":{},\"objects\":[",
            json(&buckets),
            json(&generation.name)
        ))?;
        let mut first = true;
        for object in objects.iter()? {
            let o = object?;
            let item = LsObject {
                blake3: &o.blake3,
                bucket: &o.bucket,
                content_type: o.content_type.as_deref(),
                etag: &o.etag,
                key: &o.key,
                last_modified: &o.last_modified,
                size: o.size,
            };
            out.write(if first { "" } else { "," })?;
            out.write(&json(&item))?;
            first = false;
        }
        out.write("]}\n")?;
        return out.finish();
    }
    let terminal = std::io::stdout().is_terminal();
    // Aligned columns: widths from what the sort saw (a key longer than 80 characters
    // overflows its column rather than widening every line).
    let bucket_width = objects
        .buckets
        .keys()
        .map(|b| printable(b).chars().count())
        .max()
        .unwrap_or(0)
        .max("BUCKET".len());
    let key_width = objects.key_width.clamp("KEY".len(), 80);
    if terminal {
        out.write(&format!(
            "{:<bucket_width$}  {:<key_width$}  {:>10}  {:<24}  CONTENT-TYPE\n",
            "BUCKET", "KEY", "SIZE", "LAST-MODIFIED"
        ))?;
    }
    for object in objects.iter()? {
        if out.closed() {
            break;
        }
        let o = object?;
        let (bucket, key) = (printable(&o.bucket), printable(&o.key));
        let content_type = printable(o.content_type.as_deref().unwrap_or_default()).into_owned();
        let line = if terminal {
            format!(
                "{bucket:<bucket_width$}  {key:<key_width$}  {:>10}  {:<24}  {content_type}\n",
                bytes(o.size),
                printable(&o.last_modified),
            )
        } else {
            format!(
                "{bucket}\t{key}\t{}\t{}\t{content_type}\n",
                o.size,
                printable(&o.last_modified)
            )
        };
        out.write(&line)?;
    }
    out.finish()
}

/// The objects `--bucket` and `--prefix` select (`ls` and `diff`).
pub(super) fn filter_selection(filter: &ObjectFilterArgs) -> ObjectSelection {
    ObjectSelection {
        buckets: filter.buckets.iter().cloned().collect(),
        prefix: filter.prefix.clone(),
        keys: Default::default(),
    }
}
