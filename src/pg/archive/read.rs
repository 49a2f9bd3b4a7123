//! Decoding an archive header and TOC: directory `toc.dat` and custom-format files, archive
//! versions 1.12 to 1.16.
//!
//! Reading is strict: a truncated TOC, a dump id ≤ 0, an unknown section code or a version
//! outside 1.12–1.16 is an error naming what was found. The reader consumes exactly the header
//! and TOC, so for a custom archive the data blocks follow at the reader's position.

use std::io::Read;

use chrono::NaiveDate;

use crate::error::ErrorKind;

use super::{
    Compression, DataLocation, FORMAT_CUSTOM, FORMAT_DIRECTORY, Header, MAGIC, Section, TocEntry,
};

/// Why an archive's header or TOC cannot be read.
#[derive(Debug, thiserror::Error)]
pub enum ReadError {
    /// Not a pg_dump archive at all.
    #[error("not a pg_dump archive (no PGDMP magic)")]
    NotAnArchive,
    /// A version this reader does not support.
    #[error("unsupported archive version {0}.{1}.{2} (supported: 1.12 to 1.16)")]
    UnsupportedVersion(u8, u8, u8),
    /// Integer or offset sizes we cannot read.
    #[error("unsupported integer size {int_size} or offset size {off_size}")]
    UnsupportedSizes {
        /// Bytes per Int.
        int_size: u8,
        /// Bytes per Offset.
        off_size: u8,
    },
    /// A format byte other than custom or directory.
    #[error("unsupported archive format code {0}")]
    UnsupportedFormat(u8),
    /// A compression algorithm code we do not know.
    #[error("unknown compression algorithm code {0}")]
    UnknownCompression(u8),
    /// A structurally invalid TOC.
    #[error("corrupt TOC: {0}")]
    Corrupt(String),
    /// The data ended early.
    #[error("the archive ends inside its header or TOC (truncated)")]
    Truncated,
    /// Reading failed.
    #[error("{0}")]
    Io(#[source] std::io::Error),
}

impl ReadError {
    /// A version outside what this reader knows is [`ErrorKind::NotSupported`] (a newer pg_dump,
    /// or one older than 9.0); a read that fails for a reason other than the content (a
    /// permission, a vanished file, an I/O error) is a failure; anything else is damage.
    pub fn kind(&self) -> ErrorKind {
        match self {
            ReadError::UnsupportedVersion(..) => ErrorKind::NotSupported,
            ReadError::Io(e) => io_kind(e),
            ReadError::NotAnArchive
            | ReadError::UnsupportedSizes { .. }
            | ReadError::UnsupportedFormat(_)
            | ReadError::UnknownCompression(_)
            | ReadError::Corrupt(_)
            | ReadError::Truncated => ErrorKind::Damage,
        }
    }
}

/// The kind of an I/O error met while reading an archive: a file the archive needs that does
/// not exist, or content that ends early or does not decode (what decompressors and our
/// decoders report as `UnexpectedEof`, `InvalidData` or `InvalidInput`) is damage, as a
/// missing file is for `verify`; any other error (permission denied, a directory where a file
/// should be, a failing disk) is a failure to read, not a verdict on the archive.
pub fn io_kind(error: &std::io::Error) -> ErrorKind {
    match error.kind() {
        std::io::ErrorKind::NotFound
        | std::io::ErrorKind::UnexpectedEof
        | std::io::ErrorKind::InvalidData
        | std::io::ErrorKind::InvalidInput => ErrorKind::Damage,
        _ => ErrorKind::Failure,
    }
}

/// Reads the header and TOC from `input`.
pub fn read_toc(input: &mut impl Read) -> Result<(Header, Vec<TocEntry>), ReadError> {
    let mut r = Decoder {
        input,
        int_size: 4,
        off_size: 8,
    };
    let mut magic = [0u8; 5];
    r.exact(&mut magic)?;
    if &magic != MAGIC {
        return Err(ReadError::NotAnArchive);
    }
    let version = (r.byte()?, r.byte()?, r.byte()?);
    if version.0 != 1 || !(12..=16).contains(&version.1) {
        return Err(ReadError::UnsupportedVersion(
            version.0, version.1, version.2,
        ));
    }
    let (int_size, off_size) = (r.byte()?, r.byte()?);
    if !(1..=8).contains(&int_size) || !(1..=16).contains(&off_size) {
        return Err(ReadError::UnsupportedSizes { int_size, off_size });
    }
    r.int_size = int_size;
    r.off_size = off_size;
    let format = r.byte()?;
    if format != FORMAT_CUSTOM && format != FORMAT_DIRECTORY {
        return Err(ReadError::UnsupportedFormat(format));
    }
    let compression = if version.1 >= 15 {
        match r.byte()? {
            0 => Compression::None,
            1 => Compression::Gzip(None),
            2 => Compression::Lz4,
            3 => Compression::Zstd,
            other => return Err(ReadError::UnknownCompression(other)),
        }
    } else {
        match r.int()? {
            0 => Compression::None,
            level => Compression::Gzip(Some(level)),
        }
    };
    let mut tm = [0i32; 7];
    for field in &mut tm {
        *field = r.int()?;
    }
    let created = NaiveDate::from_ymd_opt(
        tm[5] + 1900,
        (tm[4] + 1).clamp(1, 12) as u32,
        tm[3].clamp(1, 31) as u32,
    )
    .and_then(|d| {
        d.and_hms_opt(
            tm[2].clamp(0, 23) as u32,
            tm[1].clamp(0, 59) as u32,
            tm[0].clamp(0, 59) as u32,
        )
    })
    .unwrap_or_default();
    let header = Header {
        version,
        format,
        compression,
        created,
        dbname: r.string()?.unwrap_or_default(),
        server_version: r.string()?.unwrap_or_default(),
        dump_version: r.string()?.unwrap_or_default(),
    };
    let count = r.int()?;
    if count < 0 {
        return Err(ReadError::Corrupt(format!("negative entry count {count}")));
    }
    let mut entries = Vec::with_capacity(count.min(100_000) as usize);
    for _ in 0..count {
        entries.push(r.entry(&header)?);
    }
    Ok((header, entries))
}

struct Decoder<'a, R: Read> {
    input: &'a mut R,
    int_size: u8,
    off_size: u8,
}

impl<R: Read> Decoder<'_, R> {
    fn exact(&mut self, buf: &mut [u8]) -> Result<(), ReadError> {
        self.input.read_exact(buf).map_err(|e| match e.kind() {
            std::io::ErrorKind::UnexpectedEof => ReadError::Truncated,
            _ => ReadError::Io(e),
        })
    }

    fn byte(&mut self) -> Result<u8, ReadError> {
        let mut b = [0u8; 1];
        self.exact(&mut b)?;
        Ok(b[0])
    }

    fn int(&mut self) -> Result<i32, ReadError> {
        let negative = self.byte()? != 0;
        let mut value: u64 = 0;
        for i in 0..self.int_size {
            let b = u64::from(self.byte()?);
            if i < 8 {
                value |= b << (8 * i);
            }
        }
        // Values above i32 are reinterpreted (OIDs above 2^31 are written through this path).
        let magnitude = value as u32 as i32;
        Ok(if negative {
            magnitude.wrapping_neg()
        } else {
            magnitude
        })
    }

    fn string(&mut self) -> Result<Option<String>, ReadError> {
        let len = self.int()?;
        if len < 0 {
            return Ok(None);
        }
        let mut buf = vec![0u8; len as usize];
        self.exact(&mut buf)?;
        String::from_utf8(buf)
            .map(Some)
            .map_err(|_| ReadError::Corrupt("a TOC string is not UTF-8".into()))
    }

    fn required(&mut self, what: &str) -> Result<String, ReadError> {
        self.string()?
            .ok_or_else(|| ReadError::Corrupt(format!("{what} is NULL")))
    }

    fn entry(&mut self, header: &Header) -> Result<TocEntry, ReadError> {
        let minor = header.version.1;
        let dump_id = self.int()?;
        if dump_id <= 0 {
            return Err(ReadError::Corrupt(format!(
                "entry id {dump_id} out of range"
            )));
        }
        let had_dumper = self.int()? != 0;
        let table_oid = self.required("table oid")?;
        let oid = self.required("oid")?;
        let tag = self.required("tag")?;
        let desc = self.required("desc")?;
        let code = self.int()?;
        let section = Section::from_code(code).ok_or_else(|| {
            ReadError::Corrupt(format!("entry {dump_id} has section code {code}"))
        })?;
        let defn = self.string()?;
        let drop_stmt = self.string()?;
        let copy_stmt = self.string()?;
        let namespace = self.string()?;
        let tablespace = self.string()?;
        let tableam = if minor >= 14 { self.string()? } else { None };
        let relkind = if minor >= 16 { self.int()? } else { 0 };
        let owner = self.string()?;
        let _with_oids = self.string()?;
        let mut dependencies = Vec::new();
        while let Some(dep) = self.string()? {
            let id = dep.parse::<i32>().map_err(|_| {
                ReadError::Corrupt(format!("entry {dump_id} has dependency {dep:?}"))
            })?;
            dependencies.push(id);
        }
        let data_location = if header.format == FORMAT_CUSTOM {
            self.offset()?
        } else {
            match self.string()? {
                Some(name) if !name.is_empty() => DataLocation::File(name),
                _ => DataLocation::None,
            }
        };
        Ok(TocEntry {
            dump_id,
            had_dumper,
            table_oid,
            oid,
            tag,
            desc,
            section: Some(section),
            defn,
            drop_stmt,
            copy_stmt,
            namespace,
            tablespace,
            tableam,
            relkind,
            owner,
            dependencies,
            data_location,
        })
    }

    fn offset(&mut self) -> Result<DataLocation, ReadError> {
        let flag = self.byte()?;
        let mut value: u64 = 0;
        for i in 0..self.off_size {
            let b = u64::from(self.byte()?);
            if i < 8 {
                value |= b << (8 * i);
            } else if b != 0 {
                return Err(ReadError::Corrupt(
                    "data offset does not fit in 64 bits".into(),
                ));
            }
        }
        Ok(match flag {
            2 => DataLocation::Offset(value),
            1 => DataLocation::OffsetUnknown,
            _ => DataLocation::None,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pg::archive::write::encode_toc;

    fn sample() -> (Header, Vec<TocEntry>) {
        let header = Header {
            version: (1, 14, 0),
            format: FORMAT_DIRECTORY,
            compression: Compression::Gzip(Some(6)),
            created: NaiveDate::from_ymd_opt(2026, 2, 11)
                .unwrap()
                .and_hms_opt(2, 30, 5)
                .unwrap(),
            dbname: "stgy".into(),
            server_version: "15.19".into(),
            dump_version: "fullsite 0.1.0".into(),
        };
        let entries = vec![
            TocEntry {
                dump_id: 1,
                table_oid: "0".into(),
                oid: "0".into(),
                tag: "ENCODING".into(),
                desc: "ENCODING".into(),
                section: Some(Section::PreData),
                defn: Some("SET client_encoding = 'UTF8';\n".into()),
                ..TocEntry::default()
            },
            TocEntry {
                dump_id: 2,
                had_dumper: true,
                table_oid: "0".into(),
                oid: "16400".into(),
                tag: "ü table".into(),
                desc: "TABLE DATA".into(),
                section: Some(Section::Data),
                copy_stmt: Some("COPY public.\"ü table\" (a) FROM stdin;\n".into()),
                namespace: Some("public".into()),
                owner: Some(String::new()),
                dependencies: vec![1, 1],
                data_location: DataLocation::File("2.dat".into()),
                ..TocEntry::default()
            },
        ];
        (header, entries)
    }

    #[test]
    fn what_we_write_reads_back_identically() {
        let (header, entries) = sample();
        let bytes = encode_toc(&header, &entries);
        let (read_header, read_entries) = read_toc(&mut bytes.as_slice()).unwrap();
        assert_eq!(read_header, header);
        assert_eq!(read_entries, entries);
    }

    #[test]
    fn truncation_anywhere_is_detected() {
        let (header, entries) = sample();
        let bytes = encode_toc(&header, &entries);
        for cut in [3, 11, 40, bytes.len() / 2, bytes.len() - 1] {
            let err = read_toc(&mut &bytes[..cut]).unwrap_err();
            assert!(
                matches!(err, ReadError::Truncated | ReadError::NotAnArchive),
                "cut {cut}: {err}"
            );
        }
    }

    #[test]
    fn versions_and_garbage_are_named() {
        let (header, entries) = sample();
        let mut bytes = encode_toc(&header, &entries);
        bytes[6] = 17;
        assert_eq!(
            read_toc(&mut bytes.as_slice()).unwrap_err().to_string(),
            "unsupported archive version 1.17.0 (supported: 1.12 to 1.16)"
        );
        assert_eq!(
            read_toc(&mut bytes.as_slice()).unwrap_err().kind(),
            ErrorKind::NotSupported
        );
        let garbage = read_toc(&mut &b"hello world"[..]).unwrap_err();
        assert!(matches!(garbage, ReadError::NotAnArchive));
        assert_eq!(garbage.kind(), ErrorKind::Damage);
        let denied = ReadError::Io(std::io::Error::from(std::io::ErrorKind::PermissionDenied));
        assert_eq!(denied.kind(), ErrorKind::Failure);
    }
}
