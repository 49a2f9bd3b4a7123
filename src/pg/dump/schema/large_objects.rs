//! Large objects: their definitions, comments and contents, as pg_dump of the server's major
//! lays them out.
//!
//! - Archives up to 1.15 (pg_dump 14–16): one pre-data BLOB entry per object
//!   (`SELECT pg_catalog.lo_create('<oid>');`, tagged with the OID) carrying its comment, and
//!   one BLOBS data entry tagged `BLOBS` for all contents, in OID order.
//! - Archives 1.16 (pg_dump 17+): objects sorted by owner, ACL and OID are cut into groups of
//!   at most [`GROUP_SIZE`] sharing owner and ACL; each group is a BLOB METADATA data entry
//!   (its definition is the list of OIDs, one per line, which pg_restore turns into
//!   `lo_create` calls) carrying its objects' comments, tagged `<first>` or `<first>..<last>`,
//!   and a BLOBS entry of the same tag holding the group's contents and depending on it.
//!
//! Large objects are identified through the catalog `pg_largeobject` (2613), as pg_dump's
//! entries and `pg_describe_object` (so the census) identify them. Contents are copied by the data writer
//! ([`crate::pg::dump::data`]) from each [`Blobs`] it is given.

use super::{CatalogSession, Entry, Kind, ObjKey};
use crate::pg::archive::version_written_by;
use crate::pg::connect::PgError;

/// Most large objects in one BLOB METADATA / BLOBS group (pg_dump's
/// `MAX_BLOBS_PER_ARCHIVE_ENTRY`).
pub(crate) const GROUP_SIZE: usize = 1000;

/// The contents one BLOBS entry holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Blobs {
    /// The entry's tag.
    pub tag: String,
    /// The objects, in the order their files are listed.
    pub oids: Vec<u32>,
    /// The BLOB METADATA entry it follows (archives 1.16+).
    pub metadata: Option<ObjKey>,
}

/// What [`collect`] found.
#[derive(Debug, Default)]
pub struct LargeObjects {
    /// BLOB or BLOB METADATA entries, with the objects' comments.
    pub entries: Vec<Entry>,
    /// The BLOBS entries to write, with the objects whose contents they hold.
    pub blobs: Vec<Blobs>,
}

/// One large object as the catalog describes it.
struct Object {
    oid: u32,
    owner: u32,
    acl: Option<String>,
    comment: Option<String>,
}

/// Collects the large objects, laid out for the archive version pg_dump of the server's major
/// writes.
pub async fn collect(cx: &CatalogSession<'_>) -> Result<LargeObjects, PgError> {
    let sql = "SELECT 'pg_catalog.pg_largeobject'::pg_catalog.regclass::oid AS catalog, l.oid, \
                      l.lomowner, l.lomacl::pg_catalog.text AS acl, \
                      pg_catalog.obj_description(l.oid, 'pg_largeobject') AS description \
               FROM pg_catalog.pg_largeobject_metadata l \
               ORDER BY l.lomowner, l.lomacl::pg_catalog.text, l.oid";
    let rows = cx.query("large objects", sql, &[]).await?;
    let Some(first) = rows.first() else {
        return Ok(LargeObjects::default());
    };
    let catalog: u32 = first.get("catalog");
    let objects: Vec<Object> = rows
        .iter()
        .map(|row| Object {
            oid: row.get("oid"),
            owner: row.get("lomowner"),
            acl: row.get("acl"),
            comment: row.get("description"),
        })
        .collect();
    drop(rows);
    let grouped = version_written_by(cx.major()) >= (1, 16, 0);
    Ok(if grouped {
        in_groups(&objects, catalog)
    } else {
        one_by_one(objects, catalog)
    })
}

/// Archives up to 1.15: a BLOB entry per object and one BLOBS entry.
fn one_by_one(mut objects: Vec<Object>, catalog: u32) -> LargeObjects {
    objects.sort_by_key(|o| o.oid);
    let mut found = LargeObjects::default();
    let mut oids = Vec::with_capacity(objects.len());
    for object in objects {
        let oid = object.oid;
        let mut entry = Entry::new(
            ObjKey::new(catalog, oid),
            Kind::LargeObject,
            "BLOB",
            oid.to_string(),
            format!("SELECT pg_catalog.lo_create('{oid}');\n"),
        );
        entry.drop_stmt = Some(format!("SELECT pg_catalog.lo_unlink('{oid}');\n"));
        comment(&mut entry, &object);
        found.entries.push(entry);
        oids.push(oid);
    }
    found.blobs.push(Blobs {
        tag: "BLOBS".to_string(),
        oids,
        metadata: None,
    });
    found
}

/// Archives 1.16: BLOB METADATA and BLOBS entries per group of objects with one owner and ACL.
fn in_groups(objects: &[Object], catalog: u32) -> LargeObjects {
    let mut found = LargeObjects::default();
    let mut start = 0;
    while start < objects.len() {
        let head = &objects[start];
        let len = objects[start..]
            .iter()
            .take(GROUP_SIZE)
            .take_while(|o| o.owner == head.owner && o.acl == head.acl)
            .count();
        let group = &objects[start..start + len];
        start += len;
        let tag = match group {
            [only] => only.oid.to_string(),
            [first, .., last] => format!("{}..{}", first.oid, last.oid),
            [] => continue,
        };
        let key = ObjKey::new(catalog, head.oid);
        let defn: String = group.iter().map(|o| format!("{}\n", o.oid)).collect();
        let mut entry = Entry::new(key, Kind::LargeObjectData, "BLOB METADATA", &tag, defn);
        entry.drop_stmt = Some("-- dummy".to_string());
        for object in group {
            if object.oid != head.oid {
                entry.claims.push(ObjKey::new(catalog, object.oid));
            }
            comment(&mut entry, object);
        }
        found.entries.push(entry);
        found.blobs.push(Blobs {
            tag,
            oids: group.iter().map(|o| o.oid).collect(),
            metadata: Some(key),
        });
    }
    found
}

/// Attaches `COMMENT ON LARGE OBJECT <oid>` when the object has a comment.
fn comment(entry: &mut Entry, object: &Object) {
    let name = format!("LARGE OBJECT {}", object.oid);
    entry.comment(object.comment.clone(), name.clone(), &name);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn object(oid: u32, owner: u32, comment: Option<&str>) -> Object {
        Object {
            oid,
            owner,
            acl: None,
            comment: comment.map(str::to_string),
        }
    }

    #[test]
    fn groups_hold_one_owner_and_at_most_a_thousand_objects() {
        let mut objects: Vec<Object> = (1..=1001).map(|i| object(100 + i, 10, None)).collect();
        objects.push(object(5000, 20, Some("x")));
        let found = in_groups(&objects, 2613);
        let tags: Vec<&str> = found.blobs.iter().map(|b| b.tag.as_str()).collect();
        assert_eq!(tags, ["101..1100", "1101", "5000"]);
        assert_eq!(found.blobs[0].oids.len(), 1000);
        let metadata = &found.entries[2];
        assert_eq!(metadata.desc, "BLOB METADATA");
        assert_eq!(metadata.defn, "5000\n");
        assert_eq!(metadata.comments[0].tag, "LARGE OBJECT 5000");
        assert_eq!(found.blobs[2].metadata, Some(metadata.key));
        assert_eq!(found.entries[0].claims.len(), 999);
    }

    #[test]
    fn old_archives_have_an_entry_per_object_and_one_blobs() {
        let found = one_by_one(vec![object(7, 10, None), object(3, 11, Some("c"))], 2613);
        let tags: Vec<&str> = found.entries.iter().map(|e| e.tag.as_str()).collect();
        assert_eq!(tags, ["3", "7"]);
        assert_eq!(found.entries[0].defn, "SELECT pg_catalog.lo_create('3');\n");
        assert_eq!(found.blobs.len(), 1);
        assert_eq!(found.blobs[0].tag, "BLOBS");
        assert_eq!(found.blobs[0].oids, [3, 7]);
    }
}
