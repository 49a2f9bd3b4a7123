//! Large objects in an archive: a BLOBS entry's objects, handed out one at a time as streams,
//! so memory does not depend on their size.
//!
//! Directory archives list a BLOBS entry's objects in a text file, one `<oid> <file>` line per
//! object, the object's bytes being the file (plain, `.gz`, `.lz4` or `.zst`): the list is
//! `blobs.toc` in archives up to 1.15 (the name pg_restore 12–15 hard-code; pg_dump of those
//! versions writes exactly one BLOBS entry), the entry's own file name (`blobs_<dumpId>.toc`) from 1.16 on,
//! where pg_dump writes one BLOBS entry per group of up to 1000 objects. Custom-format archives
//! hold them in the entry's data block (see `custom`): per object its OID and a chunk sequence,
//! each object its own zlib, zstd or LZ4 stream when the archive is compressed.
//!
//! The objects themselves are created by other entries before their data is written: a `BLOB`
//! entry per object (pre-data, archives up to 1.15) or a `BLOB METADATA` entry per group (data
//! section, 1.16), see `plan`.

use std::io::{BufRead, BufReader, Read};
use std::path::Path;

use super::custom::{BLOCK_LARGE_OBJECTS, ChunkReader, find_block, read_int};
use super::source::{Archive, SourceError, unreadable};
use crate::pg::archive::DataLocation;

/// What [`Archive::for_each_large_object`] calls per object: its OID, the file its bytes come
/// from (for messages), and the stream of its bytes, which it must read to the end.
pub(crate) type Visit<'a> = dyn FnMut(u32, &Path, &mut dyn Read) -> Result<(), SourceError> + 'a;

impl Archive {
    /// Calls `visit` for each large object of BLOBS entry `index`, in archive order; the number
    /// of objects.
    pub(crate) fn for_each_large_object(
        &self,
        index: usize,
        visit: &mut Visit<'_>,
    ) -> Result<usize, SourceError> {
        if let Some((path, data_start)) = &self.custom {
            let mut block =
                find_block(path, *data_start, &self.entries[index], BLOCK_LARGE_OBJECTS)?;
            let mut count = 0;
            loop {
                let oid = read_int(&mut block).map_err(|e| unreadable(path, e))? as u32;
                if oid == 0 {
                    return Ok(count);
                }
                count += 1;
                let mut chunks = ChunkReader::new(&mut block, path);
                {
                    let mut stream = self.decompress(&mut chunks);
                    visit(oid, path, &mut stream)?;
                }
                chunks.finish().map_err(|e| unreadable(path, e))?;
            }
        }
        let mut count = 0;
        self.each_listed_object(index, &mut |oid, file| {
            count += 1;
            let (path, mut stream) = self.open_member(file, &format!("large object {oid}"))?;
            visit(oid, &path, &mut stream)
        })?;
        Ok(count)
    }

    /// Makes sure every large object of BLOBS entry `index` of a directory archive has its file.
    pub(crate) fn large_objects_present(&self, index: usize) -> Result<(), SourceError> {
        self.each_listed_object(index, &mut |oid, file| {
            self.member(file, &format!("large object {oid}")).map(drop)
        })
    }

    /// Calls `visit` with each `<oid> <file>` line of a directory archive's list of the large
    /// objects of BLOBS entry `index`.
    fn each_listed_object(
        &self,
        index: usize,
        visit: &mut dyn FnMut(u32, &str) -> Result<(), SourceError>,
    ) -> Result<(), SourceError> {
        let entry = &self.entries[index];
        let list = match (&entry.data_location, self.header.version.1 >= 16) {
            (DataLocation::File(name), true) => name.as_str(),
            _ => "blobs.toc",
        };
        let what = format!("the list of large objects of BLOBS {}", entry.tag);
        let (path, stream) = self.open_member(list, &what)?;
        for line in BufReader::new(stream).split(b'\n') {
            let line = line.map_err(|e| unreadable(&path, e))?;
            if line.is_empty() {
                continue;
            }
            let parsed = std::str::from_utf8(&line).ok().and_then(|text| {
                let (oid, file) = text.split_once(' ')?;
                let file = file.trim();
                Some((oid.parse::<u32>().ok()?, file)).filter(|_| !file.is_empty())
            });
            let Some((oid, file)) = parsed else {
                return Err(SourceError::Damaged {
                    path,
                    reason: format!(
                        "invalid line {:?} (expected \"<oid> <file>\")",
                        String::from_utf8_lossy(&line)
                    ),
                });
            };
            visit(oid, file)?;
        }
        Ok(())
    }
}
