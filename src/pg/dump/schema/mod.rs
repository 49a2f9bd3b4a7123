//! Reading the schema: one collector per family of objects, each turning catalog rows into
//! archive [`Entry`]s with pg_dump's desc strings, tags, sections and SQL.
//!
//! Invariants:
//! - All queries run in the leader's snapshot with an empty `search_path`, so the deparse
//!   functions (`pg_get_indexdef`, `format_type`, ...) schema-qualify every name.
//! - Objects in system schemas and members of extensions are never dumped (the extension's
//!   `CREATE EXTENSION` brings them back).
//! - Owners and ACLs are written only when the dump asks for them (`backup --owners
//!   --privileges`); by default the output is that of `pg_dump --no-owner --no-privileges`.
//! - Every user object the census ([`census`]) finds must be claimed by some collector
//!   ([`Entry::key`] or [`Entry::claims`]); anything unclaimed stops the dump with an error
//!   naming the object, so nothing is ever silently left out.

pub mod access_methods;
pub mod casts;
pub mod census;
pub mod collations;
pub mod constraints;
pub mod conversions;
pub mod default_acls;
pub mod event_triggers;
pub mod extensions;
pub mod foreign_data;
pub mod functions;
pub mod indexes;
pub mod languages;
pub mod large_objects;
pub(crate) mod loops;
pub mod operator_families;
pub mod operators;
pub mod policies;
pub mod publications;
pub mod rules;
pub mod schemas;
pub mod sequences;
pub mod statistics;
pub mod subscriptions;
pub mod tables;
pub mod text_search;
pub mod transforms;
pub mod triggers;
pub mod types;
pub mod views;

use tokio_postgres::Client;
use tokio_postgres::types::ToSql;

use crate::pg::connect::{PgError, Target};

/// OIDs of the system catalogs that identify objects in `pg_depend`.
pub mod catalog {
    /// pg_class: tables, views, sequences, indexes, composite types' relations.
    pub const CLASS: u32 = 1259;
    /// pg_namespace: schemas.
    pub const NAMESPACE: u32 = 2615;
    /// pg_proc: functions, procedures, aggregates.
    pub const PROC: u32 = 1255;
    /// pg_type: types and domains.
    pub const TYPE: u32 = 1247;
    /// pg_constraint.
    pub const CONSTRAINT: u32 = 2606;
    /// pg_trigger.
    pub const TRIGGER: u32 = 2620;
    /// pg_attrdef: column defaults.
    pub const ATTRDEF: u32 = 2604;
    /// pg_rewrite: rules, including views' `_RETURN` rules.
    pub const REWRITE: u32 = 2618;
    /// pg_policy: row-level security policies.
    pub const POLICY: u32 = 3256;
    /// pg_statistic_ext: extended statistics.
    pub const STATISTIC_EXT: u32 = 3381;
    /// pg_extension.
    pub const EXTENSION: u32 = 3079;
    /// pg_collation.
    pub const COLLATION: u32 = 3456;
    /// pg_cast.
    pub const CAST: u32 = 2605;
    /// pg_transform.
    pub const TRANSFORM: u32 = 3576;
    /// pg_language: procedural languages.
    pub const LANGUAGE: u32 = 2612;
    /// pg_conversion: encoding conversions.
    pub const CONVERSION: u32 = 2607;
    /// pg_am: access methods.
    pub const ACCESS_METHOD: u32 = 2601;
    /// pg_inherits: keys an index's attachment to its parent index (INDEX ATTACH), by the
    /// attached index's OID.
    pub const INHERITS: u32 = 2611;
}

/// Identity of a catalog object: its catalog's OID and its own OID.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ObjKey {
    /// OID of the system catalog (see [`catalog`]).
    pub classid: u32,
    /// OID of the object.
    pub objid: u32,
}

impl ObjKey {
    /// A key in catalog `classid`.
    pub fn new(classid: u32, objid: u32) -> ObjKey {
        ObjKey { classid, objid }
    }
}

/// Ordering buckets, in the order pg_dump emits them (pg_dump_sort.c's `dbObjectTypePriority`,
/// PostgreSQL 18). Entries are sorted by kind first, then by dependencies within a section.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Kind {
    /// CREATE SCHEMA.
    Schema,
    /// CREATE PROCEDURAL LANGUAGE.
    Language,
    /// CREATE COLLATION.
    Collation,
    /// CREATE TRANSFORM.
    Transform,
    /// CREATE EXTENSION.
    Extension,
    /// Types: shells, enum, composite, range, base; domains.
    Type,
    /// CREATE CAST.
    Cast,
    /// Functions and procedures.
    Function,
    /// Aggregates.
    Aggregate,
    /// CREATE ACCESS METHOD.
    AccessMethod,
    /// CREATE OPERATOR.
    Operator,
    /// Operator families and classes.
    OperatorFamily,
    /// CREATE CONVERSION.
    Conversion,
    /// CREATE TEXT SEARCH PARSER.
    TextSearchParser,
    /// CREATE TEXT SEARCH TEMPLATE.
    TextSearchTemplate,
    /// CREATE TEXT SEARCH DICTIONARY.
    TextSearchDictionary,
    /// CREATE TEXT SEARCH CONFIGURATION.
    TextSearchConfiguration,
    /// CREATE FOREIGN DATA WRAPPER.
    ForeignDataWrapper,
    /// CREATE SERVER (and its USER MAPPINGs).
    ForeignServer,
    /// Tables (plain, partitioned, partitions, foreign), views, materialized views and
    /// sequences: pg_dump gives every relation the same priority and orders them by
    /// dependencies. (The older `Sequence`, `View` and `MatView` buckets below sort after
    /// `Table` and keep their place only until their collectors move here.)
    Table,
    /// Sequences.
    Sequence,
    /// ALTER SEQUENCE ... OWNED BY.
    SequenceOwnedBy,
    /// Views.
    View,
    /// Materialized views (created WITH NO DATA).
    MatView,
    /// ALTER TABLE ... ATTACH PARTITION.
    TableAttach,
    /// Column defaults dumped apart from their table.
    Default,
    /// Large object definitions (BLOB entries of archives up to 1.15).
    LargeObject,
    /// COPY data.
    TableData,
    /// setval().
    SequenceSet,
    /// Large object contents (BLOBS), and BLOB METADATA in 1.16 archives.
    LargeObjectData,
    /// A materialized view whose query relies on a post-data object (a primary key its
    /// GROUP BY needs): pg_dump moves its definition to post-data.
    PostponedMatView,
    /// Primary key, unique, exclusion, and separately dumped check constraints.
    Constraint,
    /// Indexes.
    Index,
    /// ALTER INDEX ... ATTACH PARTITION.
    IndexAttach,
    /// Functions whose SQL-standard body needs a post-data object (a GROUP BY relying on a
    /// primary key): pg_dump postpones them to post-data.
    PostponedFunction,
    /// Extended statistics.
    Statistics,
    /// Rules.
    Rule,
    /// Triggers.
    Trigger,
    /// Foreign keys.
    FkConstraint,
    /// ENABLE ROW LEVEL SECURITY.
    RowSecurity,
    /// Policies.
    Policy,
    /// CREATE PUBLICATION.
    Publication,
    /// ALTER PUBLICATION ... ADD TABLE.
    PublicationTable,
    /// ALTER PUBLICATION ... ADD TABLES IN SCHEMA.
    PublicationTablesInSchema,
    /// CREATE SUBSCRIPTION.
    Subscription,
    /// ALTER DEFAULT PRIVILEGES (restored in the ACL pass).
    DefaultAcl,
    /// CREATE EVENT TRIGGER (restored after everything else).
    EventTrigger,
    /// REFRESH MATERIALIZED VIEW.
    MatViewData,
}

impl Kind {
    /// The archive section this kind belongs to.
    pub fn section(self) -> crate::pg::archive::Section {
        use crate::pg::archive::Section;
        match self {
            Kind::TableData | Kind::SequenceSet | Kind::LargeObjectData => Section::Data,
            k if k >= Kind::PostponedMatView => Section::PostData,
            _ => Section::PreData,
        }
    }
}

/// A `COMMENT ON` attached to an entry; emitted right after it, in section "none".
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Comment {
    /// Tag as pg_dump writes it, e.g. `TABLE posts`, `COLUMN posts.body`.
    pub tag: String,
    /// The full `COMMENT ON ... IS '...';\n` statement.
    pub defn: String,
}

/// One object to dump, before ordering and dump-id assignment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    /// The object's identity (pg_depend edges are resolved through it).
    pub key: ObjKey,
    /// Ordering bucket; decides the section.
    pub kind: Kind,
    /// pg_dump's desc string (`TABLE`, `INDEX`, `FK CONSTRAINT`, ...).
    pub desc: &'static str,
    /// Tag as pg_dump writes it.
    pub tag: String,
    /// Schema, if the object lives in one.
    pub namespace: Option<String>,
    /// SQL creating the object, ending in `;\n`.
    pub defn: String,
    /// SQL dropping it, in pg_dump's spelling (used by `pg_restore --clean`).
    pub drop_stmt: Option<String>,
    /// `Some("")` for relations and index-backed constraints (database default tablespace).
    pub tablespace: Option<String>,
    /// `Some("heap")` for tables and materialized views with storage.
    pub tableam: Option<String>,
    /// `pg_class.relkind` of TABLE, VIEW, MATERIALIZED VIEW and FOREIGN TABLE entries (0
    /// elsewhere); archives 1.16+ record it (pg_restore uses it for partitioned tables' access
    /// methods).
    pub relkind: u8,
    /// Dependencies beyond those `pg_depend` records (e.g. an index on its table).
    pub deps: Vec<ObjKey>,
    /// Objects whose `pg_depend` edges from this entry are left out: a loop pg_dump breaks,
    /// such as a type's I/O functions, which depend on its SHELL TYPE entry instead.
    pub ignore_deps: Vec<ObjKey>,
    /// Further catalog objects this entry accounts for (a table's row type, inline check
    /// constraints, a view's `_RETURN` rule, ...), for the census and dependency mapping.
    pub claims: Vec<ObjKey>,
    /// Comments on the object (and on its columns).
    pub comments: Vec<Comment>,
}

impl Entry {
    /// An entry with the given identity and SQL and everything else empty.
    pub fn new(
        key: ObjKey,
        kind: Kind,
        desc: &'static str,
        tag: impl Into<String>,
        defn: impl Into<String>,
    ) -> Entry {
        Entry {
            key,
            kind,
            desc,
            tag: tag.into(),
            namespace: None,
            defn: defn.into(),
            drop_stmt: None,
            tablespace: None,
            tableam: None,
            relkind: 0,
            deps: Vec::new(),
            ignore_deps: Vec::new(),
            claims: Vec::new(),
            comments: Vec::new(),
        }
    }
}

impl Entry {
    /// The entry without SQL or comments: it only accounts for its objects (for the census and
    /// dependencies), which something else recreates.
    pub(crate) fn claim_only(mut self) -> Entry {
        self.defn.clear();
        self.drop_stmt = None;
        self.comments.clear();
        self
    }

    /// Attaches `COMMENT ON <target> IS '<text>'` (tagged `tag`) when there is a comment.
    pub fn comment(&mut self, text: Option<String>, tag: String, target: &str) {
        if let Some(text) = text {
            self.comments.push(Comment {
                defn: comment_sql(target, &text),
                tag,
            });
        }
    }
}

/// The columns, named `on_*`, that describe an object belonging to a table (see [`OnTable`]):
/// the object's OID and name, and the table's schema, name, OID, relkind, partitions (at every
/// level) and whether it belongs to an extension. `x` is the object's alias, `c` the table's,
/// `n` the schema's.
pub fn on_table_columns(name_column: &str) -> String {
    format!(
        "x.oid AS on_oid, x.{name_column} AS on_name, \
         pg_catalog.quote_ident(x.{name_column}) AS on_quoted, n.nspname AS on_schema, \
         c.relname AS on_table, pg_catalog.quote_ident(c.relname) AS on_table_quoted, \
         pg_catalog.format('%I.%I', n.nspname, c.relname) AS on_qualified, \
         c.oid AS on_table_oid, c.relkind::text AS on_relkind, \
         CASE WHEN c.relkind = 'p' THEN ARRAY(SELECT p.relid::pg_catalog.oid \
           FROM pg_catalog.pg_partition_tree(c.oid::pg_catalog.regclass) p \
           WHERE p.level > 0) END AS on_partitions, \
         {} AS on_attachments, \
         EXISTS (SELECT 1 FROM pg_catalog.pg_depend e WHERE e.classid = {} \
                  AND e.objid = c.oid AND e.deptype = 'e') AS on_extension_member",
        attached_indexes_sql("c"),
        catalog::CLASS
    )
}

/// An object that belongs to a table (constraint, trigger, rule, policy), read from the columns
/// of [`on_table_columns`]; it builds what such entries share: the tag `table name`, the table's
/// schema, the dependencies, and `COMMENT ON <KIND> name ON table`.
///
/// An object on a partitioned table depends on the table, on every partition below it and on
/// every attachment of their indexes (INDEX ATTACH): the statements creating such objects (a
/// foreign key, a CHECK constraint, a trigger) recurse to the partitions, and waiting for all
/// of that keeps `pg_restore -j` from running the statement while another worker holds a
/// partition or one of its indexes and waits for the parent (a deadlock).
#[derive(Debug, Clone)]
pub struct OnTable {
    /// The object's OID.
    pub oid: u32,
    /// The object's name.
    pub name: String,
    /// The object's name, quoted.
    pub quoted: String,
    /// The table's schema.
    pub namespace: String,
    /// The table's name.
    pub table: String,
    /// The table's name, quoted.
    pub table_quoted: String,
    /// The table, schema-qualified and quoted.
    pub qualified: String,
    /// The table's key.
    pub table_key: ObjKey,
    /// The table's `relkind` (`r`, `p`, `f`, `v`, `m`).
    pub relkind: String,
    /// The partitions of a partitioned table, at every level, and the attachments of their
    /// indexes.
    pub partitions: Vec<ObjKey>,
    /// The table belongs to an extension: pg_dump writes only its policies and row security
    /// (the extension's script makes the rest); other objects on it are only claimed.
    pub extension_member: bool,
}

impl OnTable {
    /// Reads the `on_*` columns of `row`.
    pub fn from_row(row: &tokio_postgres::Row) -> OnTable {
        OnTable {
            oid: row.get("on_oid"),
            name: row.get("on_name"),
            quoted: row.get("on_quoted"),
            namespace: row.get("on_schema"),
            table: row.get("on_table"),
            table_quoted: row.get("on_table_quoted"),
            qualified: row.get("on_qualified"),
            table_key: ObjKey::new(catalog::CLASS, row.get("on_table_oid")),
            relkind: row.get("on_relkind"),
            partitions: row
                .get::<_, Option<Vec<u32>>>("on_partitions")
                .unwrap_or_default()
                .into_iter()
                .map(|oid| ObjKey::new(catalog::CLASS, oid))
                .chain(attachments(row, "on_attachments"))
                .collect(),
            extension_member: row.get("on_extension_member"),
        }
    }

    /// `ALTER TABLE`, or `ALTER FOREIGN TABLE` for a foreign table.
    pub(crate) fn alter_table(&self) -> &'static str {
        if self.relkind == "f" {
            "ALTER FOREIGN TABLE"
        } else {
            "ALTER TABLE"
        }
    }

    /// An entry for this object in catalog `classid`, tagged `table name`, in the table's
    /// schema and depending on the table and its partitions.
    pub(crate) fn entry(
        &self,
        classid: u32,
        kind: Kind,
        desc: &'static str,
        defn: String,
    ) -> Entry {
        let mut entry = Entry::new(
            ObjKey::new(classid, self.oid),
            kind,
            desc,
            format!("{} {}", self.table, self.name),
            defn,
        );
        entry.namespace = Some(self.namespace.clone());
        entry.deps.push(self.table_key);
        entry.deps.extend(self.partitions.iter().copied());
        entry
    }

    /// Attaches `COMMENT ON <keyword> name ON table` (pg_dump's form for objects on tables).
    pub(crate) fn comment(&self, entry: &mut Entry, keyword: &str, text: Option<String>) {
        entry.comment(
            text,
            format!("{keyword} {} ON {}", self.quoted, self.table_quoted),
            &format!("{keyword} {} ON {}", self.quoted, self.qualified),
        );
    }
}

/// SQL expression: when the relation aliased `alias` is a partitioned table, the OIDs of the
/// indexes of its partitions (at every level) that are attached to a parent index, which are
/// the keys of their INDEX ATTACH entries ([`catalog::INHERITS`]); NULL otherwise.
pub(crate) fn attached_indexes_sql(alias: &str) -> String {
    format!(
        "CASE WHEN {alias}.relkind = 'p' THEN ARRAY(SELECT h.inhrelid \
           FROM pg_catalog.pg_partition_tree({alias}.oid::pg_catalog.regclass) p \
           JOIN pg_catalog.pg_index i ON i.indrelid = p.relid \
           JOIN pg_catalog.pg_inherits h ON h.inhrelid = i.indexrelid \
           WHERE p.level > 0) END"
    )
}

/// The INDEX ATTACH keys in the column `column` of `row`, an [`attached_indexes_sql`] value.
pub(crate) fn attachments(row: &tokio_postgres::Row, column: &str) -> Vec<ObjKey> {
    row.get::<_, Option<Vec<u32>>>(column)
        .unwrap_or_default()
        .into_iter()
        .map(|oid| ObjKey::new(catalog::INHERITS, oid))
        .collect()
}

/// What collectors share: the leader's connection inside the snapshot.
pub struct CatalogSession<'a> {
    /// Leader connection.
    pub client: &'a Client,
    /// For error messages.
    pub target: &'a Target,
    /// `server_version_num`.
    pub version: i32,
}

impl CatalogSession<'_> {
    /// The server's major version (14, 15, ...).
    pub fn major(&self) -> i32 {
        self.version / 10000
    }

    /// Runs a catalog query under the stall watch; errors name the target and `what`.
    pub async fn query(
        &self,
        what: &str,
        sql: &str,
        params: &[&(dyn ToSql + Sync)],
    ) -> Result<Vec<tokio_postgres::Row>, PgError> {
        let action = || format!("read {what} from");
        self.target
            .bounded(action, async {
                self.client
                    .query(sql, params)
                    .await
                    .map_err(|e| self.target.error(action(), &e))
            })
            .await
    }
}

/// SQL condition: namespace alias `n` is a user schema (not a system or temporary one).
pub const USER_SCHEMA: &str = "n.nspname NOT IN ('pg_catalog', 'information_schema') \
     AND n.nspname !~ '^pg_(toast|temp_|toast_temp_)'";

/// SQL condition: object `(classid, objid)` is not a member of an extension.
pub fn not_extension_member(classid: u32, oid_expr: &str) -> String {
    format!(
        "NOT EXISTS (SELECT 1 FROM pg_catalog.pg_depend e WHERE e.classid = {classid} \
         AND e.objid = {oid_expr} AND e.deptype = 'e')"
    )
}

/// SQL condition: the catalog row of alias `x` (of any catalog, named by its `tableoid`) is not
/// a member of an extension.
pub(crate) fn row_not_extension_member(x: &str) -> String {
    format!(
        "NOT EXISTS (SELECT 1 FROM pg_catalog.pg_depend member_of WHERE member_of.classid = \
         {x}.tableoid AND member_of.objid = {x}.oid AND member_of.deptype = 'e')"
    )
}

/// SQL condition: object `(classid, objid)` is not created implicitly as part of another object
/// (an internal dependency, like a range type's constructor functions).
pub fn not_internal(classid: u32, oid_expr: &str) -> String {
    format!(
        "NOT EXISTS (SELECT 1 FROM pg_catalog.pg_depend i WHERE i.classid = {classid} \
         AND i.objid = {oid_expr} AND i.deptype = 'i')"
    )
}

/// SQL expression: the `name=value` array `options` (reloptions) as pg_dump writes it in a
/// `WITH (...)` list, NULL when empty: names quoted as identifiers, values bare when they read
/// as identifiers that need no quoting, string literals otherwise (`fillfactor='70'`,
/// `deduplicate_items=off`).
pub(crate) fn reloptions_sql(options: &str) -> String {
    format!(
        "(SELECT pg_catalog.string_agg(\
                   pg_catalog.quote_ident(pg_catalog.split_part(o.opt, '=', 1)) || '=' || \
                   CASE WHEN pg_catalog.quote_ident(v.val) = v.val THEN v.val \
                   ELSE '''' || pg_catalog.replace(v.val, '''', '''''') || '''' END, \
                   ', ' ORDER BY o.ord) \
          FROM pg_catalog.unnest({options}) WITH ORDINALITY AS o(opt, ord) \
          CROSS JOIN LATERAL (SELECT CASE WHEN pg_catalog.strpos(o.opt, '=') > 0 \
                THEN pg_catalog.substr(o.opt, pg_catalog.strpos(o.opt, '=') + 1) ELSE '' END \
                AS val) v)"
    )
}

/// `COMMENT ON <what> IS '<text>';\n`.
pub fn comment_sql(what: &str, text: &str) -> String {
    format!(
        "COMMENT ON {what} IS {};\n",
        crate::pg::quote::literal(text)
    )
}
