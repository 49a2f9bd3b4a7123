//! What a drill found, in three renderings of one value: a text block (stdout), JSON
//! (`drill --json`, shape documented in README) and Prometheus text (`--metrics-file`).
//!
//! After a drill that could not run at all (server unreachable, no CREATEDB), the metrics file
//! is rewritten with `fullsite_drill_success 0`, keeping the last success timestamp from the
//! previous file, as the backup's metrics do.

use serde::Serialize;

use super::compare::{SequenceCheck, TableCheck};
use crate::human::bytes;
use crate::manifest::ObjectRef;
use crate::refs::Orphans;

/// The generation's check before the restore.
#[derive(Debug, Clone, Default, Serialize, PartialEq)]
pub struct VerifyCheck {
    /// Files hashed.
    pub files: u64,
    /// Their bytes.
    pub bytes: u64,
    /// Share of files hashed (100 unless `--sample`).
    pub percent: f64,
    /// Problems found, one line each.
    pub problems: Vec<String>,
}

/// The restore into the scratch database.
#[derive(Debug, Clone, Default, Serialize, PartialEq)]
pub struct RestoreCheck {
    /// Wall time.
    pub seconds: f64,
    /// Tables whose data was loaded.
    pub tables: usize,
    /// TOC entries run.
    pub entries: usize,
    /// Why it failed midway, if it did.
    pub error: Option<String>,
}

/// The rows → objects query on the restored database.
#[derive(Debug, Clone, Default, Serialize, PartialEq)]
pub struct ReferencesCheck {
    /// Where the query came from.
    pub origin: String,
    /// Rows it returned.
    pub references: u64,
    /// Distinct bucket/key pairs.
    pub distinct: u64,
    /// BLAKE3 of the sorted distinct set.
    pub digest: String,
    /// What the backup recorded (`references`, `distinct`, `digest`), if it ran a query.
    pub recorded: Option<RecordedReferences>,
    /// Whether the restored set equals the recorded one; `None` when there is nothing to
    /// compare (no record, or the query changed since the backup).
    pub matches_backup: Option<bool>,
    /// Distinct references absent from the generation's objects (`None`: no objects part).
    pub dangling_references: Option<u64>,
    /// The first of them, sorted.
    pub dangling_keys: Vec<ObjectRef>,
    /// Objects no restored row refers to (`None`: no objects part).
    pub orphans: Option<Orphans>,
}

/// The reference set a backup recorded.
#[derive(Debug, Clone, Default, Serialize, PartialEq)]
pub struct RecordedReferences {
    /// Rows.
    pub references: u64,
    /// Distinct pairs.
    pub distinct: u64,
    /// Digest.
    pub digest: String,
}

/// A finished drill (passed or not).
#[derive(Debug, Clone, Default, Serialize, PartialEq)]
pub struct DrillReport {
    /// The generation drilled.
    pub generation: String,
    /// Start, RFC 3339.
    pub started_at: String,
    /// End, RFC 3339.
    pub finished_at: String,
    /// Unix time of the end.
    pub finished_unix: i64,
    /// Wall time.
    pub seconds: f64,
    /// Whether everything matched.
    pub passed: bool,
    /// The scratch database (empty when the drill stopped before creating it).
    pub scratch_database: String,
    /// Whether it was kept (`--keep`).
    pub kept: bool,
    /// The generation's check.
    pub verify: VerifyCheck,
    /// The restore, when it ran.
    pub restore: Option<RestoreCheck>,
    /// Whether the manifest recorded row counts to compare with (not before manifest
    /// version 3, nor for legacy generations).
    pub rows_compared: bool,
    /// Per table, recorded and restored rows.
    pub tables: Vec<TableCheck>,
    /// Sum of recorded rows.
    pub rows_expected: u64,
    /// Sum of restored rows.
    pub rows_restored: u64,
    /// Per sequence, recorded and restored values.
    pub sequences: Vec<SequenceCheck>,
    /// The rows → objects check, when a query was configured or recorded.
    pub references: Option<ReferencesCheck>,
    /// Every mismatch, in words (empty when passed).
    pub mismatches: Vec<String>,
}

impl DrillReport {
    /// The text block printed on stdout.
    pub fn text(&self) -> String {
        let mut out = format!(
            "drill of {}: {} in {:.1}s\n",
            crate::human::printable(&self.generation),
            if self.passed { "PASSED" } else { "FAILED" },
            self.seconds
        );
        let v = &self.verify;
        out.push_str(&format!(
            "  verify      {} files ({}){}: {}\n",
            v.files,
            bytes(v.bytes),
            if v.percent < 100.0 {
                format!(", {:.0}% hashed", v.percent)
            } else {
                String::new()
            },
            if v.problems.is_empty() {
                "intact".to_string()
            } else {
                format!("{} problem(s)", v.problems.len())
            }
        ));
        if let Some(r) = &self.restore {
            out.push_str(&format!(
                "  restore     into {}: {}\n",
                self.scratch_database,
                match &r.error {
                    None => format!(
                        "{} tables, {} entries in {:.1}s",
                        r.tables, r.entries, r.seconds
                    ),
                    Some(e) => format!("FAILED after {:.1}s: {e}", r.seconds),
                }
            ));
        }
        if self.restore.as_ref().is_some_and(|r| r.error.is_none()) {
            if self.rows_compared {
                let bad = self.tables.iter().filter(|t| !t.matches()).count();
                out.push_str(&format!(
                    "  rows        {} tables, {} rows at backup, {} restored: {}\n",
                    self.tables.len(),
                    self.rows_expected,
                    self.rows_restored,
                    if bad == 0 {
                        "all match".to_string()
                    } else {
                        format!("{bad} table(s) differ")
                    }
                ));
                let bad = self
                    .sequences
                    .iter()
                    .filter(|s| s.mismatch().is_some())
                    .count();
                out.push_str(&format!(
                    "  sequences   {}: {}\n",
                    self.sequences.len(),
                    if bad == 0 {
                        "all match".to_string()
                    } else {
                        format!("{bad} differ")
                    }
                ));
            } else {
                out.push_str(
                    "  rows        not compared: the generation's manifest records no row counts \
                     (made before fullsite recorded them)\n",
                );
            }
        }
        if let Some(r) = &self.references {
            let compared = match r.matches_backup {
                Some(true) => "the same set as at backup",
                Some(false) => "NOT the set recorded at backup",
                None if r.recorded.is_some() => "not compared (the query changed since the backup)",
                None => "not compared (the backup recorded none)",
            };
            out.push_str(&format!(
                "  references  {} ({} distinct objects): {compared}\n",
                r.references, r.distinct
            ));
            if let Some(dangling) = r.dangling_references {
                out.push_str(&format!(
                    "  dangling    {dangling}{}\n",
                    if dangling > 0 {
                        format!(
                            ": {}",
                            crate::refs::list_for_log(
                                &r.dangling_keys,
                                dangling,
                                crate::refs::DANGLING_WARNED
                            )
                        )
                    } else {
                        String::new()
                    }
                ));
            }
            if let Some(o) = &r.orphans {
                out.push_str(&format!(
                    "  orphans     {} objects ({}) no row refers to{}\n",
                    o.objects,
                    bytes(o.bytes),
                    o.buckets
                        .iter()
                        .filter(|b| b.objects > 0)
                        .map(|b| format!(
                            "; {}: {} ({})",
                            crate::human::printable(&b.bucket),
                            b.objects,
                            bytes(b.bytes)
                        ))
                        .collect::<String>()
                ));
            }
        }
        for mismatch in &self.mismatches {
            out.push_str(&format!(
                "  MISMATCH    {}\n",
                crate::human::printable(mismatch)
            ));
        }
        if self.kept {
            out.push_str(&format!(
                "  kept        scratch database {}\n",
                self.scratch_database
            ));
        }
        out
    }

    /// Prometheus text of a drill that ran to its end (passed or not).
    pub fn prometheus(&self, previous: Option<&str>) -> String {
        let last_success = if self.passed {
            self.finished_unix as f64
        } else {
            previous_success(previous)
        };
        let mut text = gauges(self.passed, last_success, self.seconds);
        if let Some(dangling) = self.references.as_ref().and_then(|r| r.dangling_references) {
            text.push_str(&gauge(
                "fullsite_drill_dangling_references",
                "Distinct references from restored rows to objects the generation lacks",
                dangling as f64,
            ));
        }
        text
    }
}

/// Prometheus text after a drill that could not run: success 0, the previous success time.
pub fn prometheus_failure(previous: Option<&str>, seconds: f64) -> String {
    gauges(false, previous_success(previous), seconds)
}

fn gauges(success: bool, last_success: f64, seconds: f64) -> String {
    let mut text = gauge(
        "fullsite_drill_success",
        "1 if the last restore drill passed",
        if success { 1.0 } else { 0.0 },
    );
    text.push_str(&gauge(
        "fullsite_drill_last_success_timestamp_seconds",
        "Unix time the last passing restore drill finished",
        last_success,
    ));
    text.push_str(&gauge(
        "fullsite_drill_duration_seconds",
        "Wall time of the last restore drill",
        seconds,
    ));
    text
}

fn gauge(name: &str, help: &str, value: f64) -> String {
    format!("# HELP {name} {help}\n# TYPE {name} gauge\n{name} {value}\n")
}

fn previous_success(previous: Option<&str>) -> f64 {
    previous
        .and_then(|text| {
            text.lines()
                .find_map(|l| l.strip_prefix("fullsite_drill_last_success_timestamp_seconds "))
                .and_then(|v| v.trim().parse::<f64>().ok())
        })
        .unwrap_or(0.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn report(passed: bool) -> DrillReport {
        DrillReport {
            generation: "full-site-2026-11-24".into(),
            finished_unix: 1_795_487_460,
            seconds: 4.5,
            passed,
            scratch_database: "fullsite_drill_full_site_2026_11_24_7".into(),
            verify: VerifyCheck {
                files: 20,
                bytes: 4096,
                percent: 100.0,
                problems: Vec::new(),
            },
            restore: Some(RestoreCheck {
                seconds: 2.0,
                tables: 2,
                entries: 30,
                error: None,
            }),
            rows_compared: true,
            tables: vec![TableCheck {
                name: "app.users".into(),
                rows_expected: 4,
                rows_restored: Some(if passed { 4 } else { 3 }),
            }],
            references: Some(ReferencesCheck {
                references: 5,
                distinct: 4,
                dangling_references: Some(1),
                dangling_keys: vec![ObjectRef {
                    bucket: "img".into(),
                    key: "gone.png".into(),
                }],
                orphans: Some(Orphans::default()),
                ..Default::default()
            }),
            mismatches: if passed {
                Vec::new()
            } else {
                vec!["table app.users: 4 rows at backup, 3 restored".into()]
            },
            ..Default::default()
        }
    }

    #[test]
    fn metrics_keep_the_last_success_through_failures() {
        let good = report(true).prometheus(None);
        assert!(good.contains("fullsite_drill_success 1\n"), "{good}");
        assert!(good.contains("fullsite_drill_last_success_timestamp_seconds 1795487460\n"));
        assert!(good.contains("fullsite_drill_dangling_references 1\n"));
        let bad = report(false).prometheus(Some(&good));
        assert!(bad.contains("fullsite_drill_success 0\n"), "{bad}");
        assert!(bad.contains("fullsite_drill_last_success_timestamp_seconds 1795487460\n"));
        let failed = prometheus_failure(Some(&bad), 0.5);
        assert!(failed.contains("fullsite_drill_last_success_timestamp_seconds 1795487460\n"));
        assert!(failed.contains("fullsite_drill_duration_seconds 0.5\n"));
    }

    #[test]
    fn the_text_names_mismatched_tables_and_dangling_keys() {
        let text = report(false).text();
        assert!(
            text.starts_with("drill of full-site-2026-11-24: FAILED"),
            "{text}"
        );
        assert!(
            text.contains("MISMATCH    table app.users: 4 rows at backup, 3 restored"),
            "{text}"
        );
        assert!(text.contains("dangling    1: img/gone.png"), "{text}");
        assert!(
            report(true)
                .text()
                .contains("rows        1 tables, 0 rows at backup")
        );
    }
}
