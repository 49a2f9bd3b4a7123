//! Dependency loops, found the way pg_dump finds them, so that the objects pg_dump splits to
//! break a loop are split here too.
//!
//! pg_dump writes a column default inside its CREATE TABLE and a view's query inside its
//! CREATE VIEW, so the table depends on its defaults and the view on its `_RETURN` rule. When
//! something a default or a view's query uses leads back to the table or view, that is a loop,
//! and pg_dump breaks it (pg_dump_sort.c): the default becomes a DEFAULT entry of its own
//! (`ALTER TABLE ... SET DEFAULT`), the view is first created with a dummy query and its real
//! query follows in post-data (`CREATE OR REPLACE VIEW`), a materialized view moves to
//! post-data. A serial column's default is the common case: default → sequence → (OWNED BY)
//! table.
//!
//! The graph is pg_depend (every kind of dependency pg_dump follows, between objects created
//! after initdb; column-level entries count as their table's) plus the edges pg_dump adds: a
//! table on its defaults and valid CHECK constraints, a view or materialized view on its
//! `_RETURN` rule, with the edges back removed (pg_dump's two-object loop repairs). Reaching any
//! post-data object (index, key or foreign-key constraint, trigger, ...) counts as reaching
//! every pre-data object: pg_dump makes post-data objects depend on all data objects, and those
//! on all pre-data objects.

use std::collections::{HashMap, HashSet, VecDeque};

use super::{CatalogSession, ObjKey, catalog};
use crate::pg::connect::PgError;

/// pg_dump's dependency graph, as far as loop detection needs it.
#[derive(Debug, Default)]
pub(crate) struct Graph {
    edges: HashMap<ObjKey, Vec<ObjKey>>,
    post_data: HashSet<ObjKey>,
    /// Views whose dependency on their `_RETURN` rule was removed (dummy views).
    cut: HashSet<ObjKey>,
}

impl Graph {
    /// Reads the dependency edges and post-data objects of the database.
    pub(crate) async fn load(cx: &CatalogSession<'_>) -> Result<Graph, PgError> {
        let mut graph = Graph::default();
        let rows = cx
            .query(
                "dependencies",
                "SELECT d.classid AS classid, d.objid AS objid, d.refclassid AS refclassid, \
                        d.refobjid AS refobjid, d.deptype::text AS deptype, \
                        (d.classid = 'pg_catalog.pg_class'::pg_catalog.regclass \
                         AND d.refclassid = 'pg_catalog.pg_type'::pg_catalog.regclass \
                         AND d.deptype = 'i') AS reversed \
                 FROM pg_catalog.pg_depend d \
                 WHERE d.deptype NOT IN ('p', 'e') AND d.objid >= 16384 AND d.refobjid >= 16384",
                &[],
            )
            .await?;
        for row in &rows {
            let from = ObjKey::new(row.get("classid"), row.get("objid"));
            let to = ObjKey::new(row.get("refclassid"), row.get("refobjid"));
            // A composite type's relation is internal to the type; pg_dump turns the edge round.
            if row.get("reversed") {
                graph.add(to, from);
            } else {
                graph.add(from, to);
            }
        }
        let rows = cx
            .query(
                "inline parts of tables and views",
                "SELECT 'pg_catalog.pg_attrdef'::pg_catalog.regclass::oid AS classid, \
                        ad.oid AS objid, ad.adrelid AS relid \
                 FROM pg_catalog.pg_attrdef ad WHERE ad.adrelid >= 16384 \
                 UNION ALL \
                 SELECT 'pg_catalog.pg_constraint'::pg_catalog.regclass::oid, co.oid, co.conrelid \
                 FROM pg_catalog.pg_constraint co \
                 WHERE co.contype = 'c' AND co.convalidated AND co.conrelid >= 16384 \
                 UNION ALL \
                 SELECT 'pg_catalog.pg_rewrite'::pg_catalog.regclass::oid, r.oid, r.ev_class \
                 FROM pg_catalog.pg_rewrite r JOIN pg_catalog.pg_class c ON c.oid = r.ev_class \
                 WHERE r.ev_type = '1' AND r.is_instead AND c.relkind IN ('v', 'm') \
                   AND r.ev_class >= 16384",
                &[],
            )
            .await?;
        for row in &rows {
            let part = ObjKey::new(row.get("classid"), row.get("objid"));
            let relation = ObjKey::new(catalog::CLASS, row.get("relid"));
            graph.add(relation, part);
            graph.remove(part, relation);
        }
        let rows = cx
            .query(
                "post-data objects",
                "SELECT 'pg_catalog.pg_class'::pg_catalog.regclass::oid AS classid, c.oid AS objid \
                 FROM pg_catalog.pg_class c WHERE c.relkind IN ('i', 'I') AND c.oid >= 16384 \
                 UNION ALL \
                 SELECT 'pg_catalog.pg_constraint'::pg_catalog.regclass::oid, co.oid \
                 FROM pg_catalog.pg_constraint co \
                 WHERE (co.contype IN ('p', 'u', 'x', 'f') OR NOT co.convalidated) \
                   AND co.oid >= 16384 \
                 UNION ALL \
                 SELECT 'pg_catalog.pg_trigger'::pg_catalog.regclass::oid, t.oid \
                 FROM pg_catalog.pg_trigger t WHERE t.oid >= 16384 \
                 UNION ALL \
                 SELECT 'pg_catalog.pg_policy'::pg_catalog.regclass::oid, p.oid \
                 FROM pg_catalog.pg_policy p \
                 UNION ALL \
                 SELECT 'pg_catalog.pg_statistic_ext'::pg_catalog.regclass::oid, s.oid \
                 FROM pg_catalog.pg_statistic_ext s \
                 UNION ALL \
                 SELECT 'pg_catalog.pg_rewrite'::pg_catalog.regclass::oid, r.oid \
                 FROM pg_catalog.pg_rewrite r WHERE r.rulename <> '_RETURN' AND r.oid >= 16384",
                &[],
            )
            .await?;
        for row in &rows {
            graph
                .post_data
                .insert(ObjKey::new(row.get("classid"), row.get("objid")));
        }
        Ok(graph)
    }

    fn add(&mut self, from: ObjKey, to: ObjKey) {
        if from != to {
            self.edges.entry(from).or_default().push(to);
        }
    }

    fn remove(&mut self, from: ObjKey, to: ObjKey) {
        if let Some(targets) = self.edges.get_mut(&from) {
            targets.retain(|t| *t != to);
        }
    }

    /// Whether `part` (a default, CHECK constraint or `_RETURN` rule of `owner`) leads back to
    /// `owner`: then writing it inside `owner`'s definition would form a loop.
    pub(crate) fn loops_back(&self, part: ObjKey, owner: ObjKey) -> bool {
        let mut seen: HashSet<ObjKey> = HashSet::from([part]);
        let mut queue: VecDeque<ObjKey> = VecDeque::from([part]);
        while let Some(node) = queue.pop_front() {
            if node == owner || self.post_data.contains(&node) {
                return true;
            }
            if self.cut.contains(&node) {
                continue;
            }
            for next in self.edges.get(&node).into_iter().flatten() {
                if seen.insert(*next) {
                    queue.push_back(*next);
                }
            }
        }
        false
    }

    /// Records that `view` is written with a dummy query: it no longer depends on its rule.
    pub(crate) fn cut_view(&mut self, view: ObjKey) {
        self.cut.insert(view);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(classid: u32, objid: u32) -> ObjKey {
        ObjKey::new(classid, objid)
    }

    #[test]
    fn a_serial_default_loops_through_its_owned_sequence() {
        let table = key(catalog::CLASS, 1);
        let sequence = key(catalog::CLASS, 2);
        let default = key(catalog::ATTRDEF, 3);
        let other_default = key(catalog::ATTRDEF, 4);
        let mut graph = Graph::default();
        graph.add(table, default);
        graph.add(default, sequence);
        graph.add(sequence, table);
        graph.add(other_default, sequence);
        assert!(graph.loops_back(default, table));
        // a default of another table using the same sequence does not lead back to its own
        assert!(!graph.loops_back(other_default, key(catalog::CLASS, 9)));
    }

    #[test]
    fn reaching_post_data_is_a_loop_and_dummy_views_stop_the_search() {
        let view = key(catalog::CLASS, 1);
        let rule = key(catalog::REWRITE, 2);
        let outer = key(catalog::CLASS, 3);
        let outer_rule = key(catalog::REWRITE, 4);
        let primary_key = key(catalog::CONSTRAINT, 5);
        let mut graph = Graph::default();
        graph.add(view, rule);
        graph.add(rule, primary_key);
        graph.add(outer, outer_rule);
        graph.add(outer_rule, view);
        graph.post_data.insert(primary_key);
        assert!(graph.loops_back(rule, view));
        assert!(graph.loops_back(outer_rule, outer));
        graph.cut_view(view);
        assert!(!graph.loops_back(outer_rule, outer));
    }
}
