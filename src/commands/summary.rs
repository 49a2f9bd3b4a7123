//! What a backup did ([`BackupSummary`], returned by the engine), in three renderings: a
//! readable block for stderr, JSON for `backup --json` (the summary's own `Serialize` form),
//! and Prometheus text for `--metrics-file` (node_exporter's textfile collector), with the
//! rows → objects findings when a references query ran.
//!
//! The metrics file is written atomically. After a failed backup it is rewritten with
//! `fullsite_backup_success 0`, keeping the last success timestamp from the previous file, so an
//! alert on "last success older than a day" keeps working whatever the failure was.

use std::path::Path;

use crate::engine::backup::BackupSummary;
use crate::human::bytes;

/// The readable block printed on stderr at the end of a backup.
pub fn text(summary: &BackupSummary) -> String {
    let mut out = format!("backup summary: {}\n", summary.generation);
    if let Some(d) = &summary.database {
        out.push_str(&format!(
            "  database  {} tables, {} rows, {} of data stored as {}; {} unchanged file(s) ({}) linked; {:.1}s\n",
            d.tables,
            d.rows,
            bytes(d.raw_bytes),
            bytes(d.stored_bytes),
            d.linked_files,
            bytes(d.linked_bytes),
            d.seconds
        ));
    }
    if let Some(o) = &summary.objects {
        out.push_str(&format!(
            "  objects   {} bucket(s), {} objects ({}): {} downloaded ({}), {} unchanged and linked, {} deduplicated; {:.1}s\n",
            o.buckets,
            o.objects,
            bytes(o.bytes),
            o.downloaded,
            bytes(o.downloaded_bytes),
            o.unchanged,
            o.deduplicated,
            o.seconds
        ));
        if o.vanished > 0 || o.changed_during_backup > 0 {
            out.push_str(&format!(
                "            changed during the backup: {} vanished (deleted after the listing){}, {} replaced (stored as fetched)\n",
                o.vanished,
                if o.vanished_keys.is_empty() {
                    String::new()
                } else {
                    format!(
                        ": {}{}",
                        o.vanished_keys.join(", "),
                        if o.vanished > o.vanished_keys.len() as u64 {
                            ", ..."
                        } else {
                            ""
                        }
                    )
                },
                o.changed_during_backup
            ));
        }
    }
    if let Some(r) = &summary.references {
        out.push_str(&format!(
            "  references {} ({} distinct objects){}\n",
            r.references,
            r.distinct,
            match summary.dangling_references {
                Some(0) => ", none dangling".to_string(),
                Some(n) => format!(
                    ", {n} dangling: {}{}",
                    r.dangling_keys
                        .iter()
                        .take(crate::refs::DANGLING_WARNED)
                        .map(|k| crate::human::printable(k).into_owned())
                        .collect::<Vec<_>>()
                        .join(", "),
                    if n > r.dangling_keys.len().min(crate::refs::DANGLING_WARNED) as u64 {
                        ", ..."
                    } else {
                        ""
                    }
                ),
                None => String::new(),
            }
        ));
    }
    out.push_str(&format!(
        "  total     {:.1}s, finished {}\n",
        summary.seconds, summary.finished_at
    ));
    out
}

/// Prometheus text exposition of a successful backup.
pub fn prometheus(summary: &BackupSummary) -> String {
    let mut m = Metrics::default();
    m.gauge(
        "fullsite_backup_success",
        "1 if the last backup succeeded",
        1.0,
    );
    m.gauge(
        "fullsite_backup_last_success_timestamp_seconds",
        "Unix time the last successful backup finished",
        summary.finished_unix as f64,
    );
    m.gauge(
        "fullsite_backup_duration_seconds",
        "Wall time of the last successful backup",
        summary.seconds,
    );
    if let Some(d) = &summary.database {
        m.gauge(
            "fullsite_backup_database_seconds",
            "Wall time of the database part",
            d.seconds,
        );
        m.gauge(
            "fullsite_backup_database_tables",
            "Tables dumped",
            d.tables as f64,
        );
        m.gauge(
            "fullsite_backup_database_raw_bytes",
            "Uncompressed table data",
            d.raw_bytes as f64,
        );
        m.gauge(
            "fullsite_backup_database_new_bytes",
            "Archive bytes stored anew",
            (d.stored_bytes - d.linked_bytes.min(d.stored_bytes)) as f64,
        );
        m.gauge(
            "fullsite_backup_database_linked_bytes",
            "Archive bytes hard-linked to earlier generations",
            d.linked_bytes as f64,
        );
    }
    if let Some(o) = &summary.objects {
        m.gauge(
            "fullsite_backup_objects_seconds",
            "Wall time of the object part",
            o.seconds,
        );
        m.gauge(
            "fullsite_backup_objects_total",
            "Objects in the mirrored buckets",
            o.objects as f64,
        );
        m.gauge(
            "fullsite_backup_objects_downloaded",
            "Objects downloaded",
            o.downloaded as f64,
        );
        m.gauge(
            "fullsite_backup_objects_linked",
            "Objects hard-linked (unchanged or identical content)",
            (o.unchanged + o.deduplicated) as f64,
        );
        m.gauge(
            "fullsite_backup_objects_vanished",
            "Listed objects deleted before they were fetched (not in the generation)",
            o.vanished as f64,
        );
        m.gauge(
            "fullsite_backup_objects_changed_during_backup",
            "Listed objects replaced before they were fetched (stored as fetched)",
            o.changed_during_backup as f64,
        );
        m.gauge(
            "fullsite_backup_objects_new_bytes",
            "Bytes downloaded",
            o.downloaded_bytes as f64,
        );
        m.gauge(
            "fullsite_backup_objects_linked_bytes",
            "Bytes of objects not downloaded",
            (o.bytes - o.downloaded_bytes.min(o.bytes)) as f64,
        );
    }
    if let Some(r) = &summary.references {
        m.gauge(
            "fullsite_backup_references",
            "Rows the rows-to-objects query returned",
            r.references as f64,
        );
    }
    if let Some(dangling) = summary.dangling_references {
        m.gauge(
            "fullsite_backup_dangling_references",
            "Distinct referenced objects the generation lacks",
            dangling as f64,
        );
    }
    m.text
}

#[derive(Default)]
struct Metrics {
    text: String,
}

impl Metrics {
    fn gauge(&mut self, name: &str, help: &str, value: f64) {
        self.text.push_str(&format!(
            "# HELP {name} {help}\n# TYPE {name} gauge\n{name} {value}\n"
        ));
    }
}

/// Prometheus text after a failed backup: success 0, the previous last-success time kept.
pub fn prometheus_failure(previous: Option<&str>, now_unix: i64) -> String {
    let last_success = previous
        .and_then(|text| {
            text.lines()
                .find_map(|l| l.strip_prefix("fullsite_backup_last_success_timestamp_seconds "))
                .and_then(|v| v.trim().parse::<f64>().ok())
        })
        .unwrap_or(0.0);
    let mut m = Metrics::default();
    m.gauge(
        "fullsite_backup_success",
        "1 if the last backup succeeded",
        0.0,
    );
    m.gauge(
        "fullsite_backup_last_success_timestamp_seconds",
        "Unix time the last successful backup finished",
        last_success,
    );
    m.gauge(
        "fullsite_backup_last_failure_timestamp_seconds",
        "Unix time the last backup failed",
        now_unix as f64,
    );
    m.text
}

/// Writes `text` to `path` atomically.
pub fn write_metrics(path: &Path, text: &str) -> crate::fsutil::Result<()> {
    crate::fsutil::write_file_atomic(path, text.as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::backup::{DatabaseSummary, ObjectsSummary};

    fn summary() -> BackupSummary {
        BackupSummary {
            generation: "full-site-2026-11-24".into(),
            path: "/var/backups/stgy/full-site-2026-11-24".into(),
            finished_at: "2026-11-24T02:31:00+00:00".into(),
            finished_unix: 1_795_487_460,
            seconds: 12.5,
            database: Some(DatabaseSummary {
                tables: 14,
                rows: 5000,
                entries: 120,
                raw_bytes: 1000,
                stored_bytes: 400,
                linked_files: 2,
                linked_bytes: 100,
                seconds: 9.8,
            }),
            objects: Some(ObjectsSummary {
                buckets: 2,
                objects: 10,
                bytes: 5000,
                downloaded: 1,
                downloaded_bytes: 500,
                unchanged: 9,
                deduplicated: 0,
                vanished: 0,
                vanished_keys: Vec::new(),
                changed_during_backup: 0,
                seconds: 1.6,
            }),
            references: None,
            dangling_references: None,
        }
    }

    #[test]
    fn dangling_references_are_reported_in_every_rendering() {
        let mut found = summary();
        found.note_references(&crate::manifest::ReferencesRecord {
            sql: "SELECT 'b', k FROM t".into(),
            search_path: "public".into(),
            references: 7,
            distinct: 6,
            digest: "00".into(),
            dangling: Some(2),
            dangling_keys: vec![
                crate::manifest::ObjectRef {
                    bucket: "img".into(),
                    key: "a.png".into(),
                },
                crate::manifest::ObjectRef {
                    bucket: "img".into(),
                    key: "b.png".into(),
                },
            ],
        });
        let text = text(&found);
        assert!(
            text.contains("references 7 (6 distinct objects), 2 dangling: img/a.png, img/b.png\n"),
            "{text}"
        );
        let metrics = prometheus(&found);
        assert!(metrics.contains("fullsite_backup_dangling_references 2\n"));
        let json = serde_json::to_value(&found).unwrap();
        assert_eq!(json["dangling_references"], 2);
        assert_eq!(json["references"]["dangling_keys"][1], "img/b.png");
        assert!(serde_json::to_value(summary()).unwrap()["dangling_references"].is_null());
    }

    #[test]
    fn prometheus_text_parses_as_name_value_lines() {
        let text = prometheus(&summary());
        for line in text.lines().filter(|l| !l.starts_with('#')) {
            let (name, value) = line.split_once(' ').unwrap();
            assert!(
                name.bytes().all(|b| b.is_ascii_lowercase() || b == b'_'),
                "{name}"
            );
            value.parse::<f64>().unwrap();
        }
        assert!(text.contains("fullsite_backup_last_success_timestamp_seconds 1795487460\n"));
        assert!(text.contains("fullsite_backup_database_new_bytes 300\n"));
        assert!(text.contains("fullsite_backup_objects_linked_bytes 4500\n"));
    }

    #[test]
    fn a_failure_keeps_the_last_success_time() {
        let text = prometheus_failure(Some(&prometheus(&summary())), 1_795_500_000);
        assert!(text.contains("fullsite_backup_success 0\n"));
        assert!(text.contains("fullsite_backup_last_success_timestamp_seconds 1795487460\n"));
        assert!(text.contains("fullsite_backup_last_failure_timestamp_seconds 1795500000\n"));
        assert!(
            prometheus_failure(None, 1)
                .contains("fullsite_backup_last_success_timestamp_seconds 0\n")
        );
    }

    #[test]
    fn objects_changed_during_the_backup_are_reported_in_every_rendering() {
        let mut changed = summary();
        let objects = changed.objects.as_mut().unwrap();
        objects.vanished = 12;
        objects.vanished_keys = vec!["images/a.png".into(), "images/b.png".into()];
        objects.changed_during_backup = 3;
        let text = text(&changed);
        assert!(
            text.contains(
                "12 vanished (deleted after the listing): images/a.png, images/b.png, ..."
            ),
            "{text}"
        );
        assert!(text.contains("3 replaced (stored as fetched)"), "{text}");
        let metrics = prometheus(&changed);
        assert!(metrics.contains("fullsite_backup_objects_vanished 12\n"));
        assert!(metrics.contains("fullsite_backup_objects_changed_during_backup 3\n"));
        let json = serde_json::to_value(&changed).unwrap();
        assert_eq!(json["objects"]["vanished"], 12);
        assert_eq!(json["objects"]["vanished_keys"][1], "images/b.png");
        assert_eq!(json["objects"]["changed_during_backup"], 3);
        assert!(
            !super::text(&summary()).contains("vanished"),
            "quiet when nothing changed"
        );
    }

    #[test]
    fn the_text_block_names_both_parts() {
        let text = text(&summary());
        assert!(
            text.starts_with("backup summary: full-site-2026-11-24\n"),
            "{text}"
        );
        assert!(text.contains("  database  14 tables, 5000 rows"), "{text}");
        assert!(
            text.contains("1 downloaded (500 B), 9 unchanged and linked"),
            "{text}"
        );
    }
}
