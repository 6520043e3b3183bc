//! The tool's log records (CONTRACT.md "Logs"):
//! `<date> <time,ms> <LEVEL> <logger> event=<name> key=value ...`, values
//! unquoted, `error=` running to the end of the line.

use super::{names, Check, Problem, Verdict};
use serde::{Deserialize, Serialize};
use serde_json::json;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LogRecord {
    /// `<date> <time,ms>` as written.
    pub timestamp: String,
    pub level: String,
    pub logger: String,
    pub event: String,
    /// In line order.
    pub fields: Vec<(String, String)>,
    /// 1-based line number in the parsed text.
    pub line: usize,
}

impl LogRecord {
    pub fn get(&self, key: &str) -> Option<&str> {
        self.fields
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }
}

/// Records, and the lines that were not records (tracebacks, other output).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct ParsedLog {
    pub records: Vec<LogRecord>,
    pub other_lines: Vec<String>,
}

impl ParsedLog {
    pub fn events<'a>(&'a self, event: &'a str) -> impl Iterator<Item = &'a LogRecord> + 'a {
        self.records.iter().filter(move |r| r.event == event)
    }
}

const LEVELS: &[&str] = &["DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"];

/// One line, or None when it is not an event record.
pub fn parse_line(line: &str, number: usize) -> Option<LogRecord> {
    let mut parts = line.splitn(5, ' ');
    let (date, time, level, logger, rest) = (
        parts.next()?,
        parts.next()?,
        parts.next()?,
        parts.next()?,
        parts.next()?,
    );
    if !LEVELS.contains(&level) || date.len() != 10 || !time.contains(',') {
        return None;
    }
    let rest = rest.strip_prefix("event=")?;
    let (event, mut tail) = rest.split_once(' ').unwrap_or((rest, ""));
    if event.is_empty() {
        return None;
    }
    let mut fields = Vec::new();
    while !tail.is_empty() {
        if let Some(v) = tail.strip_prefix("error=") {
            fields.push(("error".to_string(), v.to_string()));
            break;
        }
        let (item, next) = tail.split_once(' ').unwrap_or((tail, ""));
        tail = next;
        if item.is_empty() {
            continue;
        }
        let (k, v) = item.split_once('=')?;
        fields.push((k.to_string(), v.to_string()));
    }
    Some(LogRecord {
        timestamp: format!("{date} {time}"),
        level: level.to_string(),
        logger: logger.to_string(),
        event: event.to_string(),
        fields,
        line: number,
    })
}

pub fn parse_log(text: &str) -> ParsedLog {
    let mut out = ParsedLog::default();
    for (i, line) in text.lines().enumerate() {
        match parse_line(line, i + 1) {
            Some(r) => out.records.push(r),
            None if line.trim().is_empty() => {}
            None => out.other_lines.push(line.to_string()),
        }
    }
    out
}

/// An event the contract promises, with its required fields.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EventSpec {
    pub event: String,
    pub fields: Vec<String>,
}

impl EventSpec {
    pub fn new(event: &str, fields: &[&str]) -> EventSpec {
        EventSpec {
            event: event.to_string(),
            fields: fields.iter().map(|f| f.to_string()).collect(),
        }
    }
}

/// The events one successful backup of one subvolume must log.
pub fn backup_events() -> Vec<EventSpec> {
    vec![
        EventSpec::new("snapshot_created", &["subvolume", "path", "kind"]),
        EventSpec::new(
            "backup_metrics",
            &["subvolume", "total_bytes", "elapsed_seconds", "throughput"],
        ),
        EventSpec::new(
            "backup_uploaded",
            &["subvolume", "manifest_key", "chunk_count"],
        ),
    ]
}

/// The events one successful restore must log.
pub fn restore_events() -> Vec<EventSpec> {
    vec![
        EventSpec::new(
            "restore_metrics",
            &["subvolume", "total_bytes", "elapsed_seconds", "throughput"],
        ),
        EventSpec::new("restore_complete", &["status"]),
    ]
}

/// `verify.log.events`: each expected event appears with all its fields.
pub fn verify_log_events(log: &ParsedLog, expected: &[EventSpec]) -> Check {
    let mut problems = Vec::new();
    for spec in expected {
        let found: Vec<&LogRecord> = log.events(&spec.event).collect();
        if found.is_empty() {
            problems.push(Problem::new(
                None,
                format!("event={} was not logged", spec.event),
            ));
            continue;
        }
        for r in found {
            let missing: Vec<&String> = spec.fields.iter().filter(|f| r.get(f).is_none()).collect();
            if !missing.is_empty() {
                problems.push(Problem::new(
                    None,
                    format!("event={} on line {} lacks {missing:?}", spec.event, r.line),
                ));
            }
        }
    }
    let seen: Vec<&str> = log.records.iter().map(|r| r.event.as_str()).collect();
    Check::from_problems(
        names::LOG_EVENTS,
        problems,
        Verdict::Fail,
        json!({"expected": expected, "events": seen}),
        format!(
            "all {} expected event(s) logged with their fields",
            expected.len()
        ),
    )
}

/// Bytes and seconds of a `backup_metrics` / `restore_metrics` event; the
/// throughput is computed, never parsed from the rounded string.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Metrics {
    pub subvolume: String,
    pub bytes: u64,
    pub seconds: f64,
    /// Bytes per second (None when seconds is 0).
    pub bytes_per_second: Option<f64>,
}

pub fn metrics(record: &LogRecord) -> Result<Metrics, String> {
    let field = |k: &str| {
        record
            .get(k)
            .ok_or_else(|| format!("event={} on line {} lacks {k}", record.event, record.line))
    };
    let bytes: u64 = field("total_bytes")?
        .parse()
        .map_err(|e| format!("line {}: total_bytes: {e}", record.line))?;
    let seconds: f64 = field("elapsed_seconds")?
        .parse()
        .map_err(|e| format!("line {}: elapsed_seconds: {e}", record.line))?;
    if !seconds.is_finite() || seconds < 0.0 {
        return Err(format!(
            "line {}: elapsed_seconds {seconds} is not a duration",
            record.line
        ));
    }
    Ok(Metrics {
        subvolume: field("subvolume")?.to_string(),
        bytes,
        seconds,
        bytes_per_second: (seconds > 0.0).then(|| bytes as f64 / seconds),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const LOG: &str = "\
2024-01-01 00:00:00,123 INFO btrfs_to_s3.backup event=snapshot_created subvolume=data path=/mnt/btrfs/.snapshots/data__20240101T000000Z__full kind=full
2024-01-01 00:00:01,000 INFO btrfs_to_s3.backup event=backup_metrics subvolume=data total_bytes=12000000 elapsed_seconds=1.500 throughput=8.00MB/s
2024-01-01 00:00:01,001 INFO btrfs_to_s3.backup event=backup_uploaded subvolume=data manifest_key=p/subvol/data/full/manifest-20240101T000000Z.json chunk_count=2
Traceback (most recent call last):
2024-01-01 00:00:02,000 ERROR btrfs_to_s3.cli event=backup_failed subvolume=data error=boom: it broke  badly = yes
";

    #[test]
    fn parses_records_and_keeps_other_lines() {
        let p = parse_log(LOG);
        assert_eq!(p.records.len(), 4);
        assert_eq!(p.other_lines, vec!["Traceback (most recent call last):"]);
        let r = &p.records[0];
        assert_eq!(r.timestamp, "2024-01-01 00:00:00,123");
        assert_eq!(r.level, "INFO");
        assert_eq!(r.logger, "btrfs_to_s3.backup");
        assert_eq!(r.get("kind"), Some("full"));
        let e = &p.records[3];
        assert_eq!(e.get("subvolume"), Some("data"));
        assert_eq!(e.get("error"), Some("boom: it broke  badly = yes"));
        assert_eq!(e.line, 5);
    }

    #[test]
    fn metrics_compute_throughput() {
        let p = parse_log(LOG);
        let m = metrics(p.events("backup_metrics").next().unwrap()).unwrap();
        assert_eq!(m.bytes, 12_000_000);
        assert_eq!(m.seconds, 1.5);
        assert_eq!(m.bytes_per_second, Some(8_000_000.0));
        let zero = parse_line("2024-01-01 00:00:00,000 INFO x event=restore_metrics subvolume=a total_bytes=5 elapsed_seconds=0.000 throughput=0.00MB/s", 1).unwrap();
        assert_eq!(metrics(&zero).unwrap().bytes_per_second, None);
        let bad = parse_line("2024-01-01 00:00:00,000 INFO x event=restore_metrics subvolume=a total_bytes=x elapsed_seconds=1", 1).unwrap();
        assert!(metrics(&bad).unwrap_err().contains("total_bytes"));
    }

    #[test]
    fn events_check() {
        let p = parse_log(LOG);
        assert_eq!(
            verify_log_events(&p, &backup_events()).verdict,
            Verdict::Pass
        );
        // log-event-renamed: backup_uploaded logged as upload_done.
        let renamed = parse_log(&LOG.replace("event=backup_uploaded", "event=upload_done"));
        let c = verify_log_events(&renamed, &backup_events());
        assert_eq!(c.verdict, Verdict::Fail);
        assert!(
            c.diagnosis.contains("event=backup_uploaded was not logged"),
            "{}",
            c.diagnosis
        );
        let short = parse_log(&LOG.replace(" chunk_count=2", ""));
        assert!(verify_log_events(&short, &backup_events())
            .diagnosis
            .contains("chunk_count"));
    }

    #[test]
    fn non_records() {
        assert!(parse_line("hello world", 1).is_none());
        assert!(parse_line("2024-01-01 00:00:00,000 INFO x message without event", 1).is_none());
        assert!(parse_line("2024-01-01 00:00:00,000 NOTICE x event=a", 1).is_none());
        let r = parse_line("2024-01-01 00:00:00,000 INFO x event=a", 1).unwrap();
        assert!(r.fields.is_empty());
    }
}
