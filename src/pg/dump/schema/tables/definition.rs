//! The text of a table's TABLE entry, as pg_dump's dumpTableSchema writes it: `CREATE
//! [UNLOGGED|FOREIGN] TABLE` with its columns (type, default or generation expression,
//! NOT NULL, collation), inline CHECK constraints, `INHERITS`, `PARTITION BY`, `SERVER`,
//! `WITH (...)` and `OPTIONS (...)`, then the per-column settings only ALTER TABLE can give
//! (statistics target, storage, compression, attribute and FDW options), replica identity and
//! forced row security.

use super::Table;

/// Which pg_dump wrote the dump: its major decides a few spellings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Dialect {
    /// The server's (and so the oracle pg_dump's) major version; 14 is dumped by pg_dump 15.
    pub major: i32,
}

impl Dialect {
    /// NOT NULL constraints live in pg_constraint (18).
    pub(crate) fn modern(self) -> bool {
        self.major >= 18
    }
}

/// pg_dump's shouldPrintColumn: locally defined columns, and every column of a partition.
pub(crate) fn prints_column(table: &Table, index: usize) -> bool {
    table.columns[index].local || table.rel.is_partition
}

/// Whether column `index` gets its default inside the CREATE statement (`separate[index]`
/// says pg_dump moved it to a DEFAULT entry of its own).
fn prints_default(table: &Table, index: usize, separate: &[bool]) -> bool {
    let plan = &table.plans[index];
    plan.default.is_some() && plan.default_dumped && !separate[index]
}

/// The CREATE statement and what follows it in the TABLE entry.
pub(crate) fn create_table(table: &Table, separate: &[bool], dialect: Dialect) -> String {
    let rel = &table.rel;
    let qualified = &rel.qualified;
    let foreign = rel.relkind == b'f';
    let foreign_word = if foreign { "FOREIGN " } else { "" };
    let typed = rel.of_type.is_some();
    let unlogged = rel.unlogged && !(rel.relkind == b'p' && dialect.major >= 18);
    let mut q = format!(
        "CREATE {}{}TABLE {qualified}",
        if unlogged { "UNLOGGED " } else { "" },
        foreign_word
    );
    if let Some(of_type) = &rel.of_type {
        q.push_str(&format!(" OF {of_type}"));
    }
    let mut items: Vec<String> = Vec::new();
    for (j, column) in table.columns.iter().enumerate() {
        let plan = &table.plans[j];
        let printed = prints_column(table, j);
        if printed {
            let print_default = prints_default(table, j, separate);
            let print_not_null = match &plan.not_null {
                None => false,
                Some(_) if dialect.modern() => plan.not_null_local || rel.is_partition,
                Some(_) => !plan.inherited_not_null || rel.is_partition,
            };
            if typed && !print_default && !print_not_null {
                continue;
            }
            let mut line = column.quoted.clone();
            if !typed {
                line.push(' ');
                line.push_str(&column.type_name);
            }
            if print_default && let Some(default) = &plan.default {
                match column.generated.as_str() {
                    "s" => {
                        line.push_str(&format!(" GENERATED ALWAYS AS ({}) STORED", default.expr))
                    }
                    "v" => line.push_str(&format!(" GENERATED ALWAYS AS ({})", default.expr)),
                    _ => line.push_str(&format!(" DEFAULT {}", default.expr)),
                }
            }
            if print_not_null && let Some(not_null) = &plan.not_null {
                if not_null.name.is_empty() {
                    line.push_str(" NOT NULL");
                } else {
                    line.push_str(&format!(" CONSTRAINT {} NOT NULL", not_null.quoted));
                }
                if plan.no_inherit {
                    line.push_str(" NO INHERIT");
                }
            }
            if let Some(collation) = &column.collation {
                line.push_str(&format!(" COLLATE {collation}"));
            }
            items.push(line);
        } else if dialect.modern()
            && plan.not_null_local
            && let Some(not_null) = &plan.not_null
        {
            // A NOT NULL defined here on an inherited column (pg_dump writes the name as is).
            let mut line = if not_null.name.is_empty() {
                format!("NOT NULL {}", column.quoted)
            } else {
                format!("CONSTRAINT {} NOT NULL {}", not_null.name, column.quoted)
            };
            if plan.no_inherit {
                line.push_str(" NO INHERIT");
            }
            items.push(line);
        }
    }
    for check in &table.checks {
        if check.separate || !(check.local || rel.is_partition) {
            continue;
        }
        items.push(format!("CONSTRAINT {} {}", check.quoted, check.definition));
    }
    if !items.is_empty() {
        q.push_str(&format!(" (\n    {}\n)", items.join(",\n    ")));
    } else if !typed {
        q.push_str(" (\n)");
    }
    if !table.parents.is_empty() && !rel.is_partition {
        let parents: Vec<&str> = table.parents.iter().map(|p| p.qualified.as_str()).collect();
        q.push_str(&format!("\nINHERITS ({})", parents.join(", ")));
    }
    if let Some(key) = &rel.partition_key {
        q.push_str(&format!("\nPARTITION BY {key}"));
    }
    if let Some(server) = &rel.server {
        q.push_str(&format!("\nSERVER {server}"));
    }
    let mut with: Vec<String> = rel.options.clone();
    with.extend(rel.toast_options.iter().map(|o| format!("toast.{o}")));
    if !with.is_empty() {
        q.push_str(&format!("\nWITH ({})", with.join(", ")));
    }
    if !rel.foreign_options.is_empty() {
        q.push_str(&format!("\nOPTIONS (\n    {}\n)", rel.foreign_options));
    }
    q.push_str(";\n");

    let alter = format!("ALTER {foreign_word}TABLE ONLY {qualified} ALTER COLUMN");
    for (j, column) in table.columns.iter().enumerate() {
        let plan = &table.plans[j];
        let name = &column.quoted;
        if !dialect.modern()
            && !prints_column(table, j)
            && plan.not_null.is_some()
            && !plan.inherited_not_null
        {
            q.push_str(&format!("{alter} {name} SET NOT NULL;\n"));
        }
        if column.stat_target >= 0 {
            q.push_str(&format!(
                "{alter} {name} SET STATISTICS {};\n",
                column.stat_target
            ));
        }
        if let Some(storage) = column.storage {
            q.push_str(&format!("{alter} {name} SET STORAGE {storage};\n"));
        }
        if let Some(method) = column.compression {
            q.push_str(&format!("{alter} {name} SET COMPRESSION {method};\n"));
        }
        if !column.options.is_empty() {
            q.push_str(&format!("{alter} {name} SET ({});\n", column.options));
        }
        if foreign && !column.fdw_options.is_empty() {
            let only = if dialect.major >= 17 { "ONLY " } else { "" };
            q.push_str(&format!(
                "ALTER FOREIGN TABLE {only}{qualified} ALTER COLUMN {name} OPTIONS (\n    {}\n);\n",
                column.fdw_options
            ));
        }
    }
    if matches!(rel.relkind, b'r' | b'p') {
        match rel.replica_identity.as_str() {
            "n" => q.push_str(&format!(
                "\nALTER TABLE ONLY {qualified} REPLICA IDENTITY NOTHING;\n"
            )),
            "f" => q.push_str(&format!(
                "\nALTER TABLE ONLY {qualified} REPLICA IDENTITY FULL;\n"
            )),
            _ => {}
        }
    }
    if rel.force_row_security {
        q.push_str(&format!(
            "\nALTER TABLE ONLY {qualified} FORCE ROW LEVEL SECURITY;\n"
        ));
    }
    q
}
