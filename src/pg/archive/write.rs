//! Encoding `toc.dat` for a directory archive, versions 1.14.0 to 1.16.0 (the header's
//! version decides: 1.15 stores the compression as an algorithm byte instead of a zlib level,
//! 1.16 adds each entry's relkind).
//!
//! Invariants that keep stock pg_restore 12–17 from crashing or skipping data: table OID, OID,
//! tag, desc, `withOids` ("false") and the file name are never NULL; TABLE DATA has
//! `hadDumper = 1`, its table's dump id first in its dependencies, and a copy statement ending
//! in `;\n`.

use chrono::{Datelike, Timelike};

use super::{Compression, DataLocation, FORMAT_DIRECTORY, Header, MAGIC, TocEntry};

/// Data files of entries are named `<dumpId>.dat` in the TOC (`.gz`, `.zst` or `.lz4` is added
/// on disk).
pub fn data_file_name(dump_id: i32) -> String {
    format!("{dump_id}.dat")
}

/// The large objects' list file of a BLOBS entry: `blobs.toc` up to archive 1.15 (one BLOBS
/// entry per archive; pg_restore 12–15 hard-code the name), `blobs_<dumpId>.toc` from 1.16.
pub(crate) fn blobs_toc_name(version: (u8, u8, u8), dump_id: i32) -> String {
    if version >= (1, 16, 0) {
        format!("blobs_{dump_id}.toc")
    } else {
        "blobs.toc".to_string()
    }
}

/// Encodes a complete `toc.dat` of archive version `header.version` (1.14.0 to 1.16.0).
/// `header.format` is ignored: we always write the directory format.
pub fn encode_toc(header: &Header, entries: &[TocEntry]) -> Vec<u8> {
    let version = header.version;
    let mut out = Encoder::default();
    out.bytes(MAGIC);
    out.bytes(&[version.0, version.1, version.2]);
    out.bytes(&[4, 8, FORMAT_DIRECTORY]);
    if version >= (1, 15, 0) {
        out.bytes(&[match header.compression {
            Compression::None => 0,
            Compression::Gzip(_) => 1,
            Compression::Lz4 => 2,
            Compression::Zstd => 3,
        }]);
    } else {
        out.int(match header.compression {
            Compression::None => 0,
            Compression::Gzip(level) => level.unwrap_or(-1),
            // 1.14 cannot express other algorithms; we never write them.
            Compression::Lz4 | Compression::Zstd => -1,
        });
    }
    let t = header.created;
    for field in [
        t.second() as i32,
        t.minute() as i32,
        t.hour() as i32,
        t.day() as i32,
        t.month0() as i32,
        t.year() - 1900,
        0,
    ] {
        out.int(field);
    }
    out.str(Some(&header.dbname));
    out.str(Some(&header.server_version));
    out.str(Some(&header.dump_version));
    out.int(entries.len() as i32);
    for entry in entries {
        out.int(entry.dump_id);
        out.int(i32::from(entry.had_dumper));
        out.str(Some(&entry.table_oid));
        out.str(Some(&entry.oid));
        out.str(Some(&entry.tag));
        out.str(Some(&entry.desc));
        out.int(entry.section.map_or(1, |s| s as i32));
        out.str(entry.defn.as_deref());
        out.str(entry.drop_stmt.as_deref());
        out.str(entry.copy_stmt.as_deref());
        out.str(entry.namespace.as_deref());
        out.str(entry.tablespace.as_deref());
        out.str(entry.tableam.as_deref());
        if version >= (1, 16, 0) {
            out.int(entry.relkind);
        }
        out.str(entry.owner.as_deref());
        out.str(Some("false"));
        for dep in &entry.dependencies {
            out.str(Some(&dep.to_string()));
        }
        out.str(None);
        let file = match &entry.data_location {
            DataLocation::File(name) => name.as_str(),
            _ => "",
        };
        out.str(Some(file));
    }
    out.buf
}

#[derive(Default)]
struct Encoder {
    buf: Vec<u8>,
}

impl Encoder {
    fn bytes(&mut self, b: &[u8]) {
        self.buf.extend_from_slice(b);
    }

    /// Sign byte, then the magnitude in 4 little-endian bytes.
    fn int(&mut self, value: i32) {
        self.buf.push(u8::from(value < 0));
        self.buf
            .extend_from_slice(&value.unsigned_abs().to_le_bytes());
    }

    fn str(&mut self, value: Option<&str>) {
        match value {
            None => self.int(-1),
            Some(s) => {
                self.int(s.len() as i32);
                self.buf.extend_from_slice(s.as_bytes());
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pg::archive::Section;

    #[test]
    fn primitives_match_the_documented_bytes() {
        let mut e = Encoder::default();
        e.int(0);
        e.int(46);
        e.int(3431);
        e.int(-1);
        e.str(None);
        e.str(Some(""));
        e.str(Some("demo"));
        assert_eq!(
            e.buf,
            [
                0, 0, 0, 0, 0, 0, 0x2e, 0, 0, 0, 0, 0x67, 0x0d, 0, 0, 1, 1, 0, 0, 0, 1, 1, 0, 0, 0,
                0, 0, 0, 0, 0, 0, 4, 0, 0, 0, b'd', b'e', b'm', b'o'
            ]
        );
    }

    #[test]
    fn header_starts_like_pg_dump_15() {
        let header = Header {
            version: (1, 14, 0),
            format: 0,
            compression: Compression::None,
            created: chrono::NaiveDate::from_ymd_opt(2026, 11, 23)
                .unwrap()
                .and_hms_opt(0, 21, 15)
                .unwrap(),
            dbname: "demo".into(),
            server_version: "15".into(),
            dump_version: "15".into(),
        };
        let entry = TocEntry {
            dump_id: 7,
            had_dumper: true,
            table_oid: "0".into(),
            oid: "16424".into(),
            tag: "t".into(),
            desc: "TABLE DATA".into(),
            section: Some(Section::Data),
            copy_stmt: Some("COPY s.t (a) FROM stdin;\n".into()),
            dependencies: vec![3],
            data_location: DataLocation::File(data_file_name(7)),
            ..TocEntry::default()
        };
        let bytes = encode_toc(&header, &[entry]);
        let expected_start: &[u8] = &[
            b'P', b'G', b'D', b'M', b'P', 1, 14, 0, 4, 8, 3, 0, 0, 0, 0, 0, // compression 0
            0, 15, 0, 0, 0, 0, 21, 0, 0, 0, 0, 0, 0, 0, 0, // sec, min, hour
            0, 23, 0, 0, 0, 0, 10, 0, 0, 0, 0, 126, 0, 0, 0, 0, 0, 0, 0,
            0, // mday, mon, year, dst
        ];
        assert_eq!(&bytes[..expected_start.len()], expected_start);
        assert!(bytes.ends_with(b"\x00\x05\x00\x00\x00false\x00\x01\x00\x00\x003\x01\x01\x00\x00\x00\x00\x05\x00\x00\x007.dat"));
    }

    #[test]
    fn each_version_reads_back_with_its_own_fields() {
        for (version, compression) in [
            ((1, 14, 0), Compression::Gzip(Some(6))),
            ((1, 15, 0), Compression::Gzip(None)),
            ((1, 16, 0), Compression::Gzip(None)),
        ] {
            let header = Header {
                version,
                format: FORMAT_DIRECTORY,
                compression,
                created: chrono::NaiveDate::from_ymd_opt(2026, 1, 2)
                    .unwrap()
                    .and_hms_opt(3, 4, 5)
                    .unwrap(),
                dbname: "demo".into(),
                server_version: "17.10".into(),
                dump_version: "fullsite".into(),
            };
            let table = TocEntry {
                dump_id: 4,
                table_oid: "1259".into(),
                oid: "16400".into(),
                tag: "t".into(),
                desc: "TABLE".into(),
                section: Some(Section::PreData),
                defn: Some("CREATE TABLE public.t (a integer);\n".into()),
                namespace: Some("public".into()),
                tablespace: Some(String::new()),
                tableam: Some("heap".into()),
                relkind: if version >= (1, 16, 0) { 114 } else { 0 },
                owner: Some(String::new()),
                ..TocEntry::default()
            };
            let bytes = encode_toc(&header, std::slice::from_ref(&table));
            assert_eq!(&bytes[5..8], &[version.0, version.1, version.2]);
            let (read_header, entries) =
                crate::pg::archive::read::read_toc(&mut bytes.as_slice()).unwrap();
            assert_eq!(read_header, header, "{version:?}");
            assert_eq!(entries, [table], "{version:?}");
        }
        assert_eq!(blobs_toc_name((1, 14, 0), 9), "blobs.toc");
        assert_eq!(blobs_toc_name((1, 16, 0), 9), "blobs_9.toc");
    }
}
