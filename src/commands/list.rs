//! `fullsite list`: complete generations, oldest first, one per line on stdout.
//!
//! Columns: name, date, status (`complete` or `legacy`), parts, files, size, and *added* (bytes
//! no older generation shares, i.e. what it costs on disk). A header line is printed only when
//! stdout is a terminal, so `fullsite list | tail -n 1` names the newest generation.

use std::io::IsTerminal;

use serde::Serialize;

use super::json::{self, Parts};
use crate::cli::ListArgs;
use crate::config::{self, Vars};
use crate::engine::Result;
use crate::generation::{Catalog, Generation, GenerationKind, measure};
use crate::human::{bytes, printable};

/// `list --json`: the root and its complete generations, oldest first (fields in alphabetical
/// order, see [`json`]).
#[derive(Serialize)]
struct ListJson<'a> {
    generations: Vec<ListedGeneration<'a>>,
    root: String,
}

/// One generation of `list --json`.
#[derive(Serialize)]
struct ListedGeneration<'a> {
    /// Bytes no older generation shares.
    added_bytes: u64,
    bytes: u64,
    files: u64,
    name: &'a str,
    parts: Parts,
    /// `complete` or `legacy`.
    status: &'static str,
    /// RFC 3339.
    time: String,
}

pub fn run(args: ListArgs, vars: &Vars) -> Result<()> {
    let root = config::backup_root(args.root.root.as_deref(), vars);
    let catalog = Catalog::scan(&root)?;
    for generation in &catalog.generations {
        if let GenerationKind::Damaged(reason) = &generation.kind {
            tracing::warn!("not listing '{}': {reason}", printable(&generation.name));
        }
    }
    let complete: Vec<&Generation> = catalog.complete().collect();
    if complete.is_empty() && !args.json {
        tracing::info!("no generations in '{}'", root.display());
        return Ok(());
    }
    let usage = measure(&complete)?;
    if args.json {
        json::print(&ListJson {
            generations: complete
                .iter()
                .zip(&usage)
                .map(|(g, u)| ListedGeneration {
                    added_bytes: u.new_bytes,
                    bytes: u.bytes,
                    files: u.files,
                    name: &g.name,
                    parts: Parts::of(g),
                    status: g.status(),
                    time: g.time.to_rfc3339(),
                })
                .collect(),
            root: root.to_string_lossy().into_owned(),
        });
        return Ok(());
    }
    let mut rows = Vec::new();
    if std::io::stdout().is_terminal() {
        rows.push(["NAME", "DATE", "STATUS", "PARTS", "FILES", "SIZE", "ADDED"].map(String::from));
    }
    for (generation, usage) in complete.iter().zip(&usage) {
        rows.push([
            printable(&generation.name).into_owned(),
            generation.time.format("%Y-%m-%d %H:%M").to_string(),
            generation.status().to_string(),
            parts(generation).to_string(),
            usage.files.to_string(),
            bytes(usage.bytes),
            bytes(usage.new_bytes),
        ]);
    }
    print_table(&rows);
    Ok(())
}

fn parts(generation: &Generation) -> &'static str {
    match (generation.has_db(), generation.has_objects()) {
        (true, true) => "db+objects",
        (true, false) => "db",
        (false, true) => "objects",
        (false, false) => "-",
    }
}

fn print_table<const N: usize>(rows: &[[String; N]]) {
    let mut widths = [0usize; N];
    for row in rows {
        for (width, cell) in widths.iter_mut().zip(row) {
            *width = (*width).max(cell.chars().count());
        }
    }
    for row in rows {
        let mut line = String::new();
        for (i, cell) in row.iter().enumerate() {
            let pad = widths[i] - cell.chars().count();
            if i > 0 {
                line.push_str("  ");
            }
            // Text columns left-aligned, numbers right-aligned.
            if i >= 4 {
                line.push_str(&" ".repeat(pad));
                line.push_str(cell);
            } else {
                line.push_str(cell);
                if i + 1 < N {
                    line.push_str(&" ".repeat(pad));
                }
            }
        }
        println!("{line}");
    }
}
