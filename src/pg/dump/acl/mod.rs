//! Owners and privileges (`backup --owners --privileges`), read per catalog and attached to the
//! TOC by catalog key, so that the per-kind collectors need not know about them.
//!
//! - **Owners**: the role owning each object, from the owner column of its catalog; an object
//!   that belongs to a table (index, constraint, trigger, rule, policy, column default) or to
//!   a type (domain constraint), server (user mapping) or publication (its tables) is recorded
//!   with that object's owner, as pg_dump records it. pg_restore turns the owner of an entry
//!   with a DROP statement into `ALTER ... OWNER TO`.
//! - **Privileges**: one `ACL` entry after each object whose ACL differs from its base (its
//!   initial privileges from `pg_init_privs`, else `acldefault()` for its kind and owner), with
//!   pg_dump's tag (`TABLE t`, `FUNCTION f(a integer)`, `COLUMN t.c`, ...); column privileges
//!   follow the table's and depend on its ACL entry. The `public` schema is compared with the
//!   ACL a new database gives it (`{owner=UC/owner,=U/owner}`), whatever `pg_init_privs` says.
//! - Objects the dump does not create but whose privileges pg_dump carries over: everything in
//!   `pg_catalog` (and that schema), built-in languages, and members of extensions. Their
//!   `ACL` entries stand alone (depending on their extension's entry, if any) and hold only the
//!   changes from their initial privileges.
//!
//! Without `--owners` every entry's owner is empty (what pg_dump's `--no-owner` restore
//! sees); without `--privileges` there are no ACL entries.

pub(crate) mod collect;
pub(crate) mod commands;

use std::collections::HashMap;

use super::schema::{Entry, ObjKey};
use crate::pg::archive::{Section, TocEntry};

pub(crate) use self::collect::collect;

/// One `ACL` TOC entry to write.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct AclEntry {
    /// pg_dump's tag: `TABLE accounts`, `COLUMN accounts."Display Name"`, `SCHEMA app`.
    pub tag: String,
    /// The object's schema.
    pub namespace: Option<String>,
    /// The object's owner (empty without `--owners`).
    pub owner: String,
    /// The GRANT/REVOKE statements.
    pub defn: String,
    /// A column's privileges: the entry also depends on its table's own ACL entry, which
    /// must run first (revoking a table privilege revokes it from every column).
    pub column: bool,
    /// For a schema's ACL entry, the schema (not quoted).
    pub schema: Option<String>,
}

/// The ACL entries of an object the dump does not create.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct DetachedAcl {
    /// The object's own entry and its columns'.
    pub entries: Vec<AclEntry>,
    /// The extension the object belongs to, if any.
    pub extension: Option<ObjKey>,
}

/// Owners and ACL entries for the TOC, by catalog key.
#[derive(Debug, Clone, Default)]
pub(crate) struct Privileges {
    /// Owner of each object (empty map without `--owners`).
    owners: HashMap<ObjKey, String>,
    /// ACL entries of objects the dump creates: the object's own, then its columns'.
    acls: HashMap<ObjKey, Vec<AclEntry>>,
    /// ACL entries of objects it does not create.
    detached: Vec<DetachedAcl>,
}

impl Privileges {
    /// The owner to record for an entry of object `key` (empty when none is recorded).
    pub(crate) fn owner(&self, key: &ObjKey) -> &str {
        self.owners
            .get(&normalise(*key))
            .map(String::as_str)
            .unwrap_or_default()
    }

    /// The ACL entries of `entry`'s object. The objects of a group of large objects (a `BLOB
    /// METADATA` entry tagged `first..last`) share one ACL: the group has one entry, tagged
    /// `LARGE OBJECTS first..last`, with the statements for its first object, which pg_restore
    /// repeats for each.
    pub(crate) fn acls(&self, entry: &Entry) -> Vec<AclEntry> {
        let Some(acls) = self.acls.get(&normalise(entry.key)) else {
            return Vec::new();
        };
        let mut acls = acls.clone();
        if entry.desc == "BLOB METADATA" && entry.tag.contains("..") {
            for acl in &mut acls {
                acl.tag = format!("LARGE OBJECTS {}", entry.tag);
            }
        }
        acls
    }

    /// ACL entries of objects the dump does not create.
    pub(crate) fn detached(&self) -> &[DetachedAcl] {
        &self.detached
    }
}

/// Numbers ACL entries and appends them to a TOC.
///
/// Each entry depends on its object's entry (when the TOC has one); a column's entry also on
/// its table's ACL entry; and the entry of an object in a schema also on that schema's ACL
/// entry, when there is one. A grant made through a grant option runs as its grantor, who may
/// need USAGE on the schema, itself granted in that pass: pg_dump records no such dependency,
/// so `pg_restore -j` may run the two the wrong way round.
#[derive(Debug)]
pub(crate) struct AclNumbering {
    /// The next free dump id.
    next_id: i32,
    /// Dump ids of the schemas' ACL entries, by schema.
    schemas: HashMap<String, i32>,
}

impl AclNumbering {
    /// Numbering from `next_id`, the first dump id no other entry has.
    pub(crate) fn new(next_id: i32) -> AclNumbering {
        AclNumbering {
            next_id,
            schemas: HashMap::new(),
        }
    }

    /// Appends one object's ACL `entries`; `object` is its entry's dump id.
    pub(crate) fn push(
        &mut self,
        toc: &mut Vec<TocEntry>,
        entries: &[AclEntry],
        object: Option<i32>,
    ) {
        let mut own: Option<i32> = None;
        for entry in entries {
            let dump_id = self.next_id;
            self.next_id += 1;
            let mut dependencies: Vec<i32> = object.into_iter().collect();
            if entry.column {
                dependencies.extend(own);
            } else {
                own = Some(dump_id);
            }
            if let Some(schema) = entry.namespace.as_ref().and_then(|n| self.schemas.get(n)) {
                dependencies.push(*schema);
            }
            if let Some(schema) = &entry.schema {
                self.schemas.insert(schema.clone(), dump_id);
            }
            toc.push(TocEntry {
                dump_id,
                table_oid: "0".into(),
                oid: "0".into(),
                tag: entry.tag.clone(),
                desc: "ACL".into(),
                section: Some(Section::None),
                defn: Some(entry.defn.clone()),
                namespace: entry.namespace.clone(),
                owner: Some(entry.owner.clone()),
                dependencies,
                ..TocEntry::default()
            });
        }
    }
}

/// OID of `pg_largeobject`.
const PG_LARGEOBJECT: u32 = 2613;
/// OID of `pg_largeobject_metadata`.
const PG_LARGEOBJECT_METADATA: u32 = 2995;

/// Large objects are keyed by `pg_largeobject_metadata` here, whichever of it and
/// `pg_largeobject` (pg_dump's choice) an entry uses.
fn normalise(key: ObjKey) -> ObjKey {
    if key.classid == PG_LARGEOBJECT {
        ObjKey::new(PG_LARGEOBJECT_METADATA, key.objid)
    } else {
        key
    }
}

#[cfg(test)]
impl Privileges {
    /// Privileges holding exactly these owners and entries.
    pub(crate) fn for_tests(
        owners: Vec<(ObjKey, &str)>,
        acls: Vec<(ObjKey, Vec<AclEntry>)>,
        detached: Vec<DetachedAcl>,
    ) -> Privileges {
        Privileges {
            owners: owners
                .into_iter()
                .map(|(k, o)| (k, o.to_string()))
                .collect(),
            acls: acls.into_iter().collect(),
            detached,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pg::dump::schema::Kind;

    #[test]
    fn a_group_of_large_objects_has_one_acl_entry_tagged_with_the_group() {
        let acl = AclEntry {
            tag: "LARGE OBJECT 500".into(),
            namespace: None,
            owner: String::new(),
            defn: "GRANT SELECT ON LARGE OBJECT 500 TO r;\n".into(),
            column: false,
            schema: None,
        };
        let privileges = Privileges::for_tests(
            vec![],
            vec![(ObjKey::new(PG_LARGEOBJECT_METADATA, 500), vec![acl.clone()])],
            vec![],
        );
        let entry = |tag: &str| {
            Entry::new(
                ObjKey::new(PG_LARGEOBJECT, 500),
                Kind::LargeObjectData,
                "BLOB METADATA",
                tag,
                "500\n",
            )
        };
        assert_eq!(privileges.acls(&entry("500")), std::slice::from_ref(&acl));
        let group = privileges.acls(&entry("500..502"));
        assert_eq!(group[0].tag, "LARGE OBJECTS 500..502");
        assert_eq!(group[0].defn, acl.defn);
    }
}
