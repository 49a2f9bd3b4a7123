//! Prometheus gauges of `offsite push --metrics-file PATH` (node_exporter's textfile
//! collector), in a file of their own beside the backup's: `fullsite_offsite_*`.
//!
//! After a failed push the file is rewritten with `fullsite_offsite_push_success 0` and the
//! failure time, keeping the last success time and the newest offsite generation's time, so
//! "offsite copy older than 26 h" alerts keep working.

use super::push::PushReport;

const SUCCESS: &str = "fullsite_offsite_push_success";
const LAST_SUCCESS: &str = "fullsite_offsite_push_last_success_timestamp_seconds";
const NEWEST: &str = "fullsite_offsite_newest_generation_timestamp_seconds";

fn gauge(out: &mut String, name: &str, help: &str, value: f64) {
    out.push_str(&format!(
        "# HELP {name} {help}\n# TYPE {name} gauge\n{name} {value}\n"
    ));
}

/// The gauges after a successful push that finished at `now_unix`; `newest_unix` is the time
/// of the newest generation now in the repository, when known.
pub fn success(report: &PushReport, now_unix: i64, newest_unix: Option<i64>) -> String {
    let mut out = String::new();
    gauge(
        &mut out,
        SUCCESS,
        "1 if the last offsite push succeeded",
        1.0,
    );
    gauge(
        &mut out,
        LAST_SUCCESS,
        "Unix time the last successful offsite push finished",
        now_unix as f64,
    );
    gauge(
        &mut out,
        "fullsite_offsite_push_duration_seconds",
        "Wall time of the last successful offsite push",
        report.seconds,
    );
    let pushed = report
        .generations
        .iter()
        .filter(|g| g.status == "pushed")
        .count();
    gauge(
        &mut out,
        "fullsite_offsite_push_generations",
        "Generations the last push uploaded",
        pushed as f64,
    );
    let sum = |f: fn(&super::push::PushedGeneration) -> u64| {
        report.generations.iter().map(f).sum::<u64>() as f64
    };
    gauge(
        &mut out,
        "fullsite_offsite_push_uploaded_contents",
        "Distinct contents the last push uploaded",
        sum(|g| g.uploaded),
    );
    gauge(
        &mut out,
        "fullsite_offsite_push_uploaded_bytes",
        "Plaintext bytes the last push uploaded",
        sum(|g| g.uploaded_bytes),
    );
    gauge(
        &mut out,
        "fullsite_offsite_push_stored_bytes",
        "Bytes the last push added to the target",
        sum(|g| g.stored_bytes),
    );
    if let Some(newest) = newest_unix {
        gauge(
            &mut out,
            NEWEST,
            "Unix time of the newest generation in the offsite repository",
            newest as f64,
        );
    }
    out
}

/// The gauges after a failed push at `now_unix`, keeping what `previous` said about successes.
pub fn failure(previous: Option<&str>, now_unix: i64) -> String {
    let kept = |name: &str| {
        previous.and_then(|text| {
            text.lines()
                .find_map(|l| l.strip_prefix(name)?.strip_prefix(' '))
                .and_then(|v| v.trim().parse::<f64>().ok())
        })
    };
    let mut out = String::new();
    gauge(
        &mut out,
        SUCCESS,
        "1 if the last offsite push succeeded",
        0.0,
    );
    gauge(
        &mut out,
        LAST_SUCCESS,
        "Unix time the last successful offsite push finished",
        kept(LAST_SUCCESS).unwrap_or(0.0),
    );
    gauge(
        &mut out,
        "fullsite_offsite_push_last_failure_timestamp_seconds",
        "Unix time the last offsite push failed",
        now_unix as f64,
    );
    if let Some(newest) = kept(NEWEST) {
        gauge(
            &mut out,
            NEWEST,
            "Unix time of the newest generation in the offsite repository",
            newest,
        );
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::offsite::push::PushedGeneration;

    #[test]
    fn a_failure_keeps_the_last_success_and_the_newest_generation() {
        let report = PushReport {
            url: "s3://b/p".into(),
            generations: vec![PushedGeneration {
                name: "g".into(),
                status: "pushed",
                files: 3,
                bytes: 30,
                uploaded: 2,
                uploaded_bytes: 20,
                stored_bytes: 99,
            }],
            seconds: 1.5,
        };
        let ok = success(&report, 1_800_000_000, Some(1_799_990_000));
        assert!(ok.contains("fullsite_offsite_push_success 1\n"));
        assert!(ok.contains("fullsite_offsite_push_stored_bytes 99\n"));
        let failed = failure(Some(&ok), 1_800_086_400);
        assert!(failed.contains("fullsite_offsite_push_success 0\n"));
        assert!(
            failed.contains("fullsite_offsite_push_last_success_timestamp_seconds 1800000000\n")
        );
        assert!(
            failed.contains("fullsite_offsite_newest_generation_timestamp_seconds 1799990000\n")
        );
        assert!(
            failure(None, 5).contains("fullsite_offsite_push_last_success_timestamp_seconds 0\n")
        );
    }
}
