//! A bounded external sort: records are pushed in any order and read back sorted, with memory
//! independent of their number.
//!
//! Up to `run_len` records are held in memory; when that many are pushed they are sorted and
//! written as one *run* (JSON Lines) to an anonymous temporary file, which the system removes
//! when it is closed. Reading merges the runs (a linear scan of their heads: the number of runs
//! is small, a few dozen for hundreds of thousands of records). When everything fits in one run
//! nothing is written to disk. The sort is stable: of equal records the first pushed comes
//! first. A [`Sorted`] can be read any number of times, one reading at a time.
//!
//! Manifests list their records in the order a backup wrote them (arbitrary); `ls`, `diff` and
//! the object restore read them sorted by bucket and key through this.

use std::cmp::Ordering;
use std::fs::File;
use std::io::{self, BufRead, BufReader, BufWriter, Seek, SeekFrom, Write};

use serde::Serialize;
use serde::de::DeserializeOwned;

/// Records held in memory per run by default: about 10 MiB of object records.
pub const RUN_LEN: usize = 16 * 1024;

/// Collects records to sort.
pub struct Sorter<T> {
    buffer: Vec<T>,
    runs: Vec<File>,
    run_len: usize,
    cmp: fn(&T, &T) -> Ordering,
    len: u64,
}

impl<T: Serialize + DeserializeOwned + Clone> Sorter<T> {
    /// A sorter ordering by `cmp`, holding at most `run_len` records in memory.
    pub fn new(run_len: usize, cmp: fn(&T, &T) -> Ordering) -> Sorter<T> {
        Sorter {
            buffer: Vec::new(),
            runs: Vec::new(),
            run_len: run_len.max(1),
            cmp,
            len: 0,
        }
    }

    /// Adds one record (spilling a run to disk when the buffer is full).
    pub fn push(&mut self, item: T) -> io::Result<()> {
        self.buffer.push(item);
        self.len += 1;
        if self.buffer.len() >= self.run_len {
            self.spill()?;
        }
        Ok(())
    }

    /// Ends the pushing: the records, ready to be read in order.
    pub fn finish(mut self) -> io::Result<Sorted<T>> {
        if self.runs.is_empty() {
            self.buffer.sort_by(self.cmp);
        } else if !self.buffer.is_empty() {
            self.spill()?;
        }
        Ok(Sorted {
            memory: self.buffer,
            runs: self.runs,
            cmp: self.cmp,
            len: self.len,
        })
    }

    fn spill(&mut self) -> io::Result<()> {
        self.buffer.sort_by(self.cmp);
        let file = tempfile::tempfile()?;
        let mut out = BufWriter::new(file);
        for item in self.buffer.drain(..) {
            serde_json::to_writer(&mut out, &item).map_err(io::Error::other)?;
            out.write_all(b"\n")?;
        }
        let file = out.into_inner().map_err(|e| e.into_error())?;
        self.runs.push(file);
        Ok(())
    }
}

/// Sorted records, in memory or in runs on disk.
pub struct Sorted<T> {
    memory: Vec<T>,
    runs: Vec<File>,
    cmp: fn(&T, &T) -> Ordering,
    len: u64,
}

impl<T: DeserializeOwned + Clone> Sorted<T> {
    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Reads the records in order, from the first.
    pub fn iter(&mut self) -> io::Result<SortedIter<'_, T>> {
        if self.runs.is_empty() {
            return Ok(SortedIter::Memory(self.memory.iter()));
        }
        let mut readers = Vec::with_capacity(self.runs.len());
        for run in &self.runs {
            let mut file = run.try_clone()?;
            file.seek(SeekFrom::Start(0))?;
            readers.push(BufReader::new(file));
        }
        let mut merge = Merge {
            heads: Vec::with_capacity(readers.len()),
            readers,
            cmp: self.cmp,
            line: String::new(),
        };
        for index in 0..merge.readers.len() {
            let head = merge.read(index)?;
            merge.heads.push(head);
        }
        Ok(SortedIter::Merge(merge))
    }
}

/// Records in order; an error ends the reading.
pub enum SortedIter<'a, T> {
    /// Everything fitted in memory.
    Memory(std::slice::Iter<'a, T>),
    /// Merging runs.
    Merge(Merge<T>),
}

/// The merge of the runs: each run's next record.
pub struct Merge<T> {
    readers: Vec<BufReader<File>>,
    heads: Vec<Option<T>>,
    cmp: fn(&T, &T) -> Ordering,
    line: String,
}

impl<T: DeserializeOwned> Merge<T> {
    fn read(&mut self, index: usize) -> io::Result<Option<T>> {
        self.line.clear();
        if self.readers[index].read_line(&mut self.line)? == 0 {
            return Ok(None);
        }
        serde_json::from_str(&self.line)
            .map(Some)
            .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))
    }

    fn next_item(&mut self) -> io::Result<Option<T>> {
        let mut best: Option<usize> = None;
        for (index, head) in self.heads.iter().enumerate() {
            let Some(item) = head else { continue };
            let better = match best.and_then(|b| self.heads[b].as_ref()) {
                None => true,
                Some(current) => (self.cmp)(item, current) == Ordering::Less,
            };
            if better {
                best = Some(index);
            }
        }
        let Some(index) = best else { return Ok(None) };
        let next = self.read(index)?;
        Ok(std::mem::replace(&mut self.heads[index], next))
    }
}

impl<T: DeserializeOwned + Clone> Iterator for SortedIter<'_, T> {
    type Item = io::Result<T>;

    fn next(&mut self) -> Option<io::Result<T>> {
        match self {
            SortedIter::Memory(items) => items.next().cloned().map(Ok),
            SortedIter::Merge(merge) => match merge.next_item() {
                Ok(item) => item.map(Ok),
                Err(e) => {
                    merge.heads.clear();
                    Some(Err(e))
                }
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sorted(run_len: usize, items: &[(u32, u32)]) -> Vec<(u32, u32)> {
        let mut sorter = Sorter::new(run_len, |a: &(u32, u32), b| a.0.cmp(&b.0));
        for item in items {
            sorter.push(*item).unwrap();
        }
        let mut sorted = sorter.finish().unwrap();
        assert_eq!(sorted.is_empty(), items.is_empty());
        let first: Vec<_> = sorted.iter().unwrap().map(Result::unwrap).collect();
        let again: Vec<_> = sorted.iter().unwrap().map(Result::unwrap).collect();
        assert_eq!(first, again, "a second reading gives the same records");
        first
    }

    #[test]
    fn runs_on_disk_merge_into_one_stable_order() {
        // (key, push order): equal keys keep their push order.
        let items: Vec<(u32, u32)> = (0..1000).map(|i| ((i * 7919) % 97, i)).collect();
        let mut expected = items.clone();
        expected.sort_by_key(|item| item.0);
        for run_len in [1, 3, 64, 1000, 5000] {
            assert_eq!(sorted(run_len, &items), expected, "run_len {run_len}");
        }
        assert!(sorted(4, &[]).is_empty());
    }
}
