//! What a table's CREATE statement says about each column once inheritance is accounted for:
//! pg_dump's determineNotNullFlags and flagInhAttrs.
//!
//! - NOT NULL. PostgreSQL 18 keeps NOT NULL constraints in pg_constraint: a constraint is
//!   written where it is locally defined (or on every partition), named unless its name is the
//!   default `<table>_<column>_not_null` and it has no comment, with NO INHERIT when it has it;
//!   a NOT VALID one is dumped apart, after the data. Older servers only have
//!   `attnotnull`: pg_dump 15–17 leave it off a column that inherits it from a parent (the
//!   parent brings it back), except on partitions.
//! - Defaults. A column that inherits a default but has none itself gets `DEFAULT NULL` (or
//!   the inherited default would come back); an inherited generation expression is not
//!   repeated (before 16 a child could not have its own; from 16 it is left out only when
//!   every parent has the same one).
//!
//! Tables are visited in OID order and updated as they go, as pg_dump does: pg_dump 15 counts
//! a made-up `DEFAULT NULL` of a parent visited earlier as that parent's default (16 and later
//! do not).

use std::collections::HashMap;

use super::Table;
use super::catalog::{Default, NotNullConstraint};

/// What pg_dump writes about one column's NOT NULL and default.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct ColumnPlan {
    /// The NOT NULL to write: `None` for none, an empty name for an unnamed `NOT NULL`.
    pub not_null: Option<NotNullName>,
    /// NO INHERIT (18).
    pub no_inherit: bool,
    /// The NOT NULL is defined on this table, not only inherited (18).
    pub not_null_local: bool,
    /// The NOT NULL constraint is NOT VALID, dumped apart (18).
    pub not_null_invalid: bool,
    /// A parent has the column NOT NULL too (before 18).
    pub inherited_not_null: bool,
    /// The default or generation expression, including a made-up `DEFAULT NULL` (oid 0).
    pub default: Option<Default>,
    /// False for a generation expression inherited as is.
    pub default_dumped: bool,
}

/// A NOT NULL constraint's name as written (`name` empty: unnamed).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct NotNullName {
    pub name: String,
    pub quoted: String,
}

/// Which pg_dump's rules apply.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Rules {
    /// NOT NULL constraints in pg_constraint (18).
    pub not_null_constraints: bool,
    /// Made-up `DEFAULT NULL`s are not inherited, children may have their own generation
    /// expressions (pg_dump 16).
    pub own_generation: bool,
}

/// Fills in `plans` of every table. `tables` holds the tables to dump and their parents,
/// sorted by OID.
pub(crate) fn plan(tables: &mut [Table], rules: Rules) {
    let modern = rules.not_null_constraints;
    for table in tables.iter_mut() {
        let name = table.rel.name.clone();
        table.plans = table
            .columns
            .iter()
            .map(|column| {
                let mut plan = ColumnPlan {
                    default: column.default.clone(),
                    default_dumped: true,
                    ..ColumnPlan::default()
                };
                if modern {
                    constraint_flags(&mut plan, column.constraint.as_ref(), &name, &column.name);
                } else if column.not_null {
                    plan.not_null = Some(NotNullName::default());
                    plan.not_null_local = true;
                }
                plan
            })
            .collect();
    }
    let index: HashMap<u32, usize> = tables
        .iter()
        .enumerate()
        .map(|(i, t)| (t.rel.oid, i))
        .collect();
    for i in 0..tables.len() {
        let parents: Vec<usize> = tables[i]
            .parents
            .iter()
            .filter_map(|p| index.get(&p.oid).copied())
            .collect();
        if parents.is_empty() {
            continue;
        }
        let mut updates = Vec::new();
        for (j, column) in tables[i].columns.iter().enumerate() {
            let mut found_not_null = false;
            let mut all_not_nulls_invalid = true;
            let mut found_default = false;
            let mut same_generated = false;
            let mut different_generated = false;
            for &p in &parents {
                let parent = &tables[p];
                let Some(k) = parent.columns.iter().position(|c| c.name == column.name) else {
                    continue;
                };
                let (parent_column, parent_plan) = (&parent.columns[k], &parent.plans[k]);
                if parent_plan.not_null.is_some() {
                    found_not_null = true;
                    if !parent_plan.not_null_invalid {
                        all_not_nulls_invalid = false;
                    }
                }
                let parent_generated = !parent_column.generated.is_empty();
                found_default |= parent_plan
                    .default
                    .as_ref()
                    .is_some_and(|d| !rules.own_generation || d.expr != "NULL")
                    && !parent_generated;
                if parent_generated {
                    match (&parent_plan.default, &column.default) {
                        (Some(a), Some(b)) if a.expr == b.expr => same_generated = true,
                        _ => different_generated = true,
                    }
                }
            }
            updates.push((
                j,
                found_not_null,
                all_not_nulls_invalid,
                found_default,
                same_generated,
                different_generated,
            ));
        }
        let table = &mut tables[i];
        let is_partition = table.rel.is_partition;
        for (j, found_not_null, all_invalid, found_default, same_gen, diff_gen) in updates {
            let plan = &mut table.plans[j];
            if modern {
                if all_invalid {
                    plan.not_null_local = true;
                }
            } else {
                plan.inherited_not_null = found_not_null;
            }
            if found_default && plan.default.is_none() {
                plan.default = Some(Default {
                    oid: 0,
                    expr: "NULL".into(),
                });
            }
            if rules.own_generation {
                if same_gen && !diff_gen && !is_partition {
                    plan.default_dumped = false;
                }
            } else if (same_gen || diff_gen) && !is_partition {
                plan.default = None;
            }
        }
    }
}

/// pg_dump 18's determineNotNullFlags for one column.
fn constraint_flags(
    plan: &mut ColumnPlan,
    constraint: Option<&NotNullConstraint>,
    table: &str,
    column: &str,
) {
    let Some(constraint) = constraint else {
        return;
    };
    if !constraint.valid {
        plan.not_null_invalid = true;
        return;
    }
    plan.no_inherit = constraint.no_inherit;
    plan.not_null_local = constraint.local;
    // pg_dump's own approximation of the default name (no truncation to NAMEDATALEN).
    let default_name = format!("{table}_{column}_not_null");
    plan.not_null = Some(
        if constraint.comment.is_none() && constraint.name == default_name {
            NotNullName::default()
        } else {
            NotNullName {
                name: constraint.name.clone(),
                quoted: constraint.quoted.clone(),
            }
        },
    );
}

#[cfg(test)]
mod tests {
    use super::super::catalog::{Column, Parent, Relation};
    use super::*;

    const RULES_15: Rules = Rules {
        not_null_constraints: false,
        own_generation: false,
    };
    const RULES_18: Rules = Rules {
        not_null_constraints: true,
        own_generation: true,
    };

    fn relation(oid: u32, name: &str) -> Relation {
        Relation {
            oid,
            namespace: "public".into(),
            name: name.into(),
            quoted: name.into(),
            qualified: format!("public.{name}"),
            relkind: b'r',
            unlogged: false,
            options: vec![],
            toast_options: vec![],
            of_type: None,
            partition_key: None,
            partition_bound: None,
            is_partition: false,
            access_method: Some("heap".into()),
            tablespace: String::new(),
            replica_identity: "d".into(),
            force_row_security: false,
            row_type: 0,
            array_type: 0,
            size: 0,
            comment: None,
            server: None,
            foreign_options: String::new(),
            unsafe_partitioning: false,
            dump: true,
        }
    }

    fn column(name: &str, not_null: bool, default: Option<&str>) -> Column {
        Column {
            name: name.into(),
            quoted: name.into(),
            type_name: "integer".into(),
            stat_target: -1,
            storage: None,
            compression: None,
            not_null,
            local: true,
            generated: String::new(),
            collation: None,
            options: String::new(),
            fdw_options: String::new(),
            default: default.map(|e| Default {
                oid: 1,
                expr: e.into(),
            }),
            comment: None,
            constraint: None,
        }
    }

    fn table(oid: u32, name: &str, parents: &[u32], columns: Vec<Column>) -> Table {
        Table {
            rel: relation(oid, name),
            parents: parents
                .iter()
                .map(|p| Parent {
                    oid: *p,
                    qualified: format!("public.p{p}"),
                })
                .collect(),
            columns,
            plans: vec![],
            checks: vec![],
        }
    }

    #[test]
    fn before_18_inherited_not_null_and_defaults_are_left_to_the_parent() {
        let mut tables = vec![
            table(
                1,
                "parent",
                &[],
                vec![column("id", true, None), column("kind", false, Some("'x'"))],
            ),
            table(
                2,
                "child",
                &[1],
                vec![column("id", true, None), column("kind", false, None)],
            ),
        ];
        plan(&mut tables, RULES_15);
        let child = &tables[1].plans;
        assert!(child[0].inherited_not_null);
        assert_eq!(
            child[1].default.as_ref().map(|d| d.expr.as_str()),
            Some("NULL")
        );
        assert_eq!(child[1].default.as_ref().map(|d| d.oid), Some(0));
        assert!(!tables[0].plans[0].inherited_not_null);
    }

    #[test]
    fn from_16_a_made_up_default_null_is_not_inherited() {
        let mut tables = vec![
            table(1, "animal", &[], vec![column("name", false, Some("'x'"))]),
            table(2, "cat", &[1], vec![column("name", false, None)]),
            table(3, "kitten", &[2], vec![column("name", false, None)]),
        ];
        let mut legacy = tables.clone();
        plan(&mut legacy, RULES_15);
        assert!(legacy[2].plans[0].default.is_some());
        plan(&mut tables, RULES_18);
        assert!(tables[1].plans[0].default.is_some());
        assert!(tables[2].plans[0].default.is_none());
    }

    #[test]
    fn on_18_default_not_null_names_are_left_out_and_others_kept() {
        let with_constraint = |name: &str, comment: Option<&str>| {
            let mut c = column("id", true, None);
            c.constraint = Some(NotNullConstraint {
                oid: 9,
                name: name.into(),
                quoted: format!("\"{name}\""),
                valid: true,
                no_inherit: false,
                local: true,
                definition: "NOT NULL id".into(),
                comment: comment.map(str::to_string),
            });
            let mut tables = vec![table(1, "t", &[], vec![c])];
            plan(&mut tables, RULES_18);
            tables[0].plans[0].not_null.clone().unwrap()
        };
        assert_eq!(with_constraint("t_id_not_null", None).name, "");
        assert_eq!(
            with_constraint("t_id_not_null", Some("c")).name,
            "t_id_not_null"
        );
        assert_eq!(with_constraint("Named", None).quoted, "\"Named\"");
    }

    #[test]
    fn inherited_generation_expressions_are_not_repeated() {
        let mut parent = column("g", false, Some("(a * 2)"));
        parent.generated = "s".into();
        let mut child = parent.clone();
        child.default = Some(Default {
            oid: 2,
            expr: "(a * 2)".into(),
        });
        for rules in [RULES_15, RULES_18] {
            let mut tables = vec![
                table(1, "p", &[], vec![parent.clone()]),
                table(2, "c", &[1], vec![child.clone()]),
            ];
            plan(&mut tables, rules);
            let p = &tables[1].plans[0];
            assert!(p.default.is_none() || !p.default_dumped, "{rules:?}: {p:?}");
        }
    }
}
