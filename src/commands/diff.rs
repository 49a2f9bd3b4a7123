//! `fullsite diff OLD NEW`: what changed between two generations, from their manifests and
//! TOCs alone (see [`crate::browse::diff`] for what is compared and how).
//!
//! Text: what cannot be compared (`note: ...`), then one summary line per bucket and one for
//! the database, then the details: `+`/`-`/`~` and `bucket/key` per object (`~` says
//! `content` or `metadata: fields`), `table schema.name: changed|added|removed, rows OLD → NEW`,
//! and `schema + | - | ~ TYPE schema name`. `--json`: one document, written as it goes (the
//! object changes are streamed, so memory does not grow with them). Exit code 0 whether or not
//! anything changed.

use serde::Serialize;

use super::output::{Out, generation, json};
use crate::browse::database::{self, Database};
use crate::browse::diff::{
    BucketCounts, Change, DatabaseDiff, ObjectChange, ObjectsDiff, diff_database, notes,
};
use crate::cli::DiffArgs;
use crate::config::{self, Vars};
use crate::engine::Result;
use crate::generation::Catalog;
use crate::human::printable;
use crate::objects::error::ObjectsError;
use crate::objects::generation_objects::GenerationObjects;

/// `diff --json` database part (fields in alphabetical order, see `json`).
#[derive(Serialize)]
struct DatabaseJson<'a> {
    /// Whether table data was compared by hash (else by row counts).
    data_compared: bool,
    entries: Vec<EntryJson<'a>>,
    tables: Vec<TableJson<'a>>,
    unchanged_tables: u64,
}

#[derive(Serialize)]
struct EntryJson<'a> {
    change: Change,
    /// TOC type: TABLE, INDEX, FUNCTION, ...
    desc: &'a str,
    name: &'a str,
    schema: &'a str,
}

#[derive(Serialize)]
struct TableJson<'a> {
    change: Change,
    name: &'a str,
    new_rows: Option<u64>,
    old_rows: Option<u64>,
    schema: &'a str,
}

#[derive(Serialize)]
struct ObjectJson<'a> {
    bucket: &'a str,
    change: Change,
    fields: &'a [&'static str],
    key: &'a str,
    new_size: Option<u64>,
    old_size: Option<u64>,
}

pub fn run(args: DiffArgs, vars: &Vars) -> Result<()> {
    let root = config::backup_root(args.root.root.as_deref(), vars);
    let catalog = Catalog::scan(&root)?;
    let old = generation(&catalog, &root, &args.old)?;
    let new = generation(&catalog, &root, &args.new)?;
    let selection = super::ls::filter_selection(&args.filter);
    let mut objects = ObjectsDiff {
        old: GenerationObjects::read(old, &selection)?,
        new: GenerationObjects::read(new, &selection)?,
    };
    if let Some(bucket) = selection
        .buckets
        .iter()
        .find(|b| !objects.old.buckets.contains_key(*b) && !objects.new.buckets.contains_key(*b))
    {
        return Err(ObjectsError::NotInGeneration {
            what: format!("bucket '{}'", printable(bucket)),
            generation: format!("{}' nor '{}", old.name, new.name),
        }
        .into());
    }
    let (old_db, new_db) = (database::read(old)?, database::read(new)?);
    let notes = notes((old, old_db.as_ref()), (new, new_db.as_ref()));
    let database = match (&old_db, &new_db) {
        (Some(a), Some(b)) => Some(diff_database(a, b)),
        _ => None,
    };
    let counts = objects.counts()?;
    let mut out = Out::new();
    if args.json {
        out.write(&format!(
            "{{\"buckets\":{},\"database\":{},\"new\":{},\"notes\":{},\"objects\":[",
            json(&counts),
            json(&database.as_ref().map(database_json)),
            json(&new.name),
            json(&notes)
        ))?;
        let mut first = true;
        let mut failed = Ok(());
        objects.changes(|c| {
            if failed.is_err() {
                return;
            }
            let item = ObjectJson {
                bucket: &c.bucket,
                change: c.change,
                fields: &c.fields,
                key: &c.key,
                new_size: c.new_size,
                old_size: c.old_size,
            };
            failed = out
                .write(if first { "" } else { "," })
                .and_then(|()| out.write(&json(&item)));
            first = false;
        })?;
        failed?;
        out.write(&format!("],\"old\":{}}}\n", json(&old.name)))?;
        return out.finish();
    }
    for note in &notes {
        out.write(&format!("note: {note}\n"))?;
    }
    for c in &counts {
        out.write(&format!("{}\n", bucket_line(c)))?;
    }
    if let (Some(d), Some(new_db)) = (&database, &new_db) {
        out.write(&format!("{}\n", database_line(d, new_db)))?;
    }
    let mut failed = Ok(());
    objects.changes(|c| {
        if failed.is_ok() {
            failed = out.write(&format!("{}\n", object_line(&c)));
        }
    })?;
    failed?;
    if let Some(d) = &database {
        for t in &d.tables {
            let rows = |r: Option<u64>| r.map_or_else(|| "?".to_string(), |r| r.to_string());
            let change = match t.change {
                Change::Added => format!("added, rows {}", rows(t.new_rows)),
                Change::Removed => format!("removed, rows {}", rows(t.old_rows)),
                _ => format!("changed, rows {} → {}", rows(t.old_rows), rows(t.new_rows)),
            };
            out.write(&format!(
                "table {}.{}: {change}\n",
                printable(&t.schema),
                printable(&t.name)
            ))?;
        }
        for e in &d.entries {
            let sign = match e.change {
                Change::Added => '+',
                Change::Removed => '-',
                _ => '~',
            };
            let schema = if e.namespace.is_empty() {
                "-"
            } else {
                &e.namespace
            };
            out.write(&format!(
                "schema {sign} {} {} {}\n",
                e.desc,
                printable(schema),
                printable(&e.tag)
            ))?;
        }
    }
    out.finish()
}

fn bucket_line(c: &BucketCounts) -> String {
    format!(
        "bucket {}: {} added, {} removed, {} changed (content), {} changed (metadata), {} unchanged",
        printable(&c.name),
        c.added,
        c.removed,
        c.content,
        c.metadata,
        c.unchanged
    )
}

fn database_line(d: &DatabaseDiff, new: &Database) -> String {
    let count = |change: Change| d.tables.iter().filter(|t| t.change == change).count();
    let entries = |change: Change| d.entries.iter().filter(|e| e.change == change).count();
    format!(
        "database: {} tables with changed data, {} added, {} removed, {} unchanged (of {}); \
         schema entries: {} added, {} removed, {} changed",
        count(Change::Changed),
        count(Change::Added),
        count(Change::Removed),
        d.unchanged_tables,
        new.tables.len(),
        entries(Change::Added),
        entries(Change::Removed),
        entries(Change::Changed),
    )
}

fn object_line(c: &ObjectChange) -> String {
    let name = format!("{}/{}", printable(&c.bucket), printable(&c.key));
    match c.change {
        Change::Added => format!("+ {name}"),
        Change::Removed => format!("- {name}"),
        Change::Metadata => format!("~ {name} (metadata: {})", c.fields.join(", ")),
        _ => format!(
            "~ {name} (content, {} → {} bytes)",
            c.old_size.unwrap_or_default(),
            c.new_size.unwrap_or_default()
        ),
    }
}

fn database_json(d: &DatabaseDiff) -> DatabaseJson<'_> {
    DatabaseJson {
        data_compared: d.data_compared,
        entries: d
            .entries
            .iter()
            .map(|e| EntryJson {
                change: e.change,
                desc: &e.desc,
                name: &e.tag,
                schema: &e.namespace,
            })
            .collect(),
        tables: d
            .tables
            .iter()
            .map(|t| TableJson {
                change: t.change,
                name: &t.name,
                new_rows: t.new_rows,
                old_rows: t.old_rows,
                schema: &t.schema,
            })
            .collect(),
        unchanged_tables: d.unchanged_tables,
    }
}
