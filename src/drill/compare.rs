//! Restored rows and sequences against what the dump recorded in the manifest.
//!
//! Each recorded table is counted with `SELECT count(*) FROM ONLY` (its own rows, as its data
//! file held them, not its children's) with `row_security = off`, as the dump read it, over up
//! to `jobs` connections at once, largest recorded count first. A table missing after the
//! restore has no restored count. Each recorded sequence's `last_value` and `is_called` are
//! read back.

use std::sync::Mutex;

use futures_util::future::try_join_all;
use serde::Serialize;
use tokio_postgres::error::SqlState;

use crate::manifest::{SequenceValue, TableRows};
use crate::pg::connect::{PgError, Target};

/// One table's rows: recorded and restored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TableCheck {
    /// `schema.table` (unquoted).
    pub name: String,
    /// Rows the dump wrote.
    pub rows_expected: u64,
    /// Rows in the restored table; `None` when the table is missing.
    pub rows_restored: Option<u64>,
}

impl TableCheck {
    /// Whether the counts agree.
    pub fn matches(&self) -> bool {
        self.rows_restored == Some(self.rows_expected)
    }

    /// The mismatch, in words.
    pub fn mismatch(&self) -> Option<String> {
        match self.rows_restored {
            _ if self.matches() => None,
            Some(restored) => Some(format!(
                "table {}: {} rows at backup, {restored} restored",
                self.name, self.rows_expected
            )),
            None => Some(format!(
                "table {}: {} rows at backup, missing after the restore",
                self.name, self.rows_expected
            )),
        }
    }
}

/// One sequence's value: recorded and restored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SequenceCheck {
    /// `schema.sequence` (unquoted).
    pub name: String,
    /// `last_value` at backup.
    pub last_value_expected: i64,
    /// `last_value` restored; `None` when the sequence is missing.
    pub last_value_restored: Option<i64>,
    /// `is_called` at backup.
    pub is_called_expected: bool,
    /// `is_called` restored.
    pub is_called_restored: Option<bool>,
}

impl SequenceCheck {
    /// The mismatch, in words.
    pub fn mismatch(&self) -> Option<String> {
        let show = |value: i64, called: bool| {
            format!("{value}{}", if called { "" } else { " (not yet called)" })
        };
        match (self.last_value_restored, self.is_called_restored) {
            (Some(v), Some(c)) if v == self.last_value_expected && c == self.is_called_expected => {
                None
            }
            (Some(v), Some(c)) => Some(format!(
                "sequence {}: {} at backup, {} restored",
                self.name,
                show(self.last_value_expected, self.is_called_expected),
                show(v, c)
            )),
            _ => Some(format!("sequence {}: missing after the restore", self.name)),
        }
    }
}

fn ident(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

/// Counts the rows of every recorded table in the database behind `target`.
pub async fn count_tables(
    target: &Target,
    tables: &[TableRows],
    jobs: usize,
) -> Result<Vec<TableCheck>, PgError> {
    let mut queue: Vec<&TableRows> = tables.iter().collect();
    queue.sort_by_key(|t| t.rows);
    let queue = Mutex::new(queue);
    let results = Mutex::new(Vec::with_capacity(tables.len()));
    let workers = jobs.clamp(1, tables.len().max(1));
    let worker = || async {
        let client = target.connect().await?;
        client
            .batch_execute("SET row_security = off")
            .await
            .map_err(|e| target.error("set up a session on", &e))?;
        loop {
            let next = queue.lock().ok().and_then(|mut q| q.pop());
            let Some(table) = next else { break };
            let name = format!("{}.{}", table.schema, table.name);
            let sql = format!(
                "SELECT pg_catalog.count(*) AS n FROM ONLY {}.{}",
                ident(&table.schema),
                ident(&table.name)
            );
            let what = || format!("count the rows of {name} in");
            let counted = target
                .bounded(what, async { Ok(client.query_one(&sql, &[]).await) })
                .await?;
            let rows_restored = match counted {
                Ok(row) => Some(row.get::<_, i64>("n") as u64),
                Err(e) if e.code() == Some(&SqlState::UNDEFINED_TABLE) => None,
                Err(e) => return Err(target.error(what(), &e)),
            };
            if let Ok(mut results) = results.lock() {
                results.push(TableCheck {
                    name,
                    rows_expected: table.rows,
                    rows_restored,
                });
            }
        }
        Ok::<_, PgError>(())
    };
    try_join_all((0..workers).map(|_| worker())).await?;
    let mut checks = results.into_inner().unwrap_or_default();
    checks.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(checks)
}

/// Reads back every recorded sequence in the database behind `target`.
pub async fn read_sequences(
    target: &Target,
    sequences: &[SequenceValue],
) -> Result<Vec<SequenceCheck>, PgError> {
    if sequences.is_empty() {
        return Ok(Vec::new());
    }
    let client = target.connect().await?;
    let mut checks = Vec::with_capacity(sequences.len());
    for sequence in sequences {
        let name = format!("{}.{}", sequence.schema, sequence.name);
        let sql = format!(
            "SELECT last_value, is_called FROM {}.{}",
            ident(&sequence.schema),
            ident(&sequence.name)
        );
        let what = || format!("read sequence {name} in");
        let read = target
            .bounded(what, async { Ok(client.query_one(&sql, &[]).await) })
            .await?;
        let (last_value_restored, is_called_restored) = match read {
            Ok(row) => (Some(row.get("last_value")), Some(row.get("is_called"))),
            Err(e) if e.code() == Some(&SqlState::UNDEFINED_TABLE) => (None, None),
            Err(e) => return Err(target.error(what(), &e)),
        };
        checks.push(SequenceCheck {
            name,
            last_value_expected: sequence.last_value,
            last_value_restored,
            is_called_expected: sequence.is_called,
            is_called_restored,
        });
    }
    Ok(checks)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mismatches_name_the_table_and_both_counts() {
        let mut check = TableCheck {
            name: "app.users".into(),
            rows_expected: 4,
            rows_restored: Some(4),
        };
        assert_eq!(check.mismatch(), None);
        check.rows_restored = Some(3);
        assert_eq!(
            check.mismatch().unwrap(),
            "table app.users: 4 rows at backup, 3 restored"
        );
        check.rows_restored = None;
        assert!(check.mismatch().unwrap().contains("missing"));
        let sequence = SequenceCheck {
            name: "app.s".into(),
            last_value_expected: 42,
            last_value_restored: Some(1),
            is_called_expected: true,
            is_called_restored: Some(false),
        };
        assert_eq!(
            sequence.mismatch().unwrap(),
            "sequence app.s: 42 at backup, 1 (not yet called) restored"
        );
        assert_eq!(ident("we\"ird"), "\"we\"\"ird\"");
    }
}
