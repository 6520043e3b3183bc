//! Evidence that a real `btrfs receive` happened, from `btrfs subvolume show`.
//!
//! A received subvolume that is still read-only carries `Received UUID`
//! (the source snapshot's UUID) and a receive transid. Making it writable
//! with `btrfs property set -f ... ro false` clears them, so a writable
//! restore target can only be shown to be a subvolume; its digest has to
//! carry the rest of the proof.

use serde::Serialize;
use thiserror::Error;

/// The fields of `btrfs subvolume show` the harness needs (`-` becomes None).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct SubvolumeShow {
    /// The first line: the path as btrfs printed it.
    pub path: String,
    pub name: Option<String>,
    pub uuid: Option<String>,
    pub parent_uuid: Option<String>,
    pub received_uuid: Option<String>,
    pub subvolume_id: Option<u64>,
    pub generation: Option<u64>,
    pub send_transid: Option<u64>,
    pub receive_transid: Option<u64>,
    /// Words of the `Flags:` line (`readonly`, ...); empty for `-`.
    pub flags: Vec<String>,
}

impl SubvolumeShow {
    pub fn readonly(&self) -> bool {
        self.flags.iter().any(|f| f == "readonly")
    }
}

#[derive(Debug, Error, PartialEq, Eq)]
pub enum ShowParseError {
    #[error("empty `btrfs subvolume show` output")]
    Empty,
    #[error("`btrfs subvolume show` output has no {0} line (not a subvolume?)")]
    Missing(&'static str),
    #[error("`btrfs subvolume show` line {line}: {key} value {value:?} is not a number")]
    Number {
        line: usize,
        key: String,
        value: String,
    },
}

/// Parses the text output of `btrfs subvolume show PATH` (btrfs-progs 5.x-6.x).
pub fn parse_subvolume_show(text: &str) -> Result<SubvolumeShow, ShowParseError> {
    let mut lines = text.lines().enumerate();
    let (_, first) = lines
        .find(|(_, l)| !l.trim().is_empty())
        .ok_or(ShowParseError::Empty)?;
    let mut show = SubvolumeShow {
        path: first.trim().to_string(),
        ..SubvolumeShow::default()
    };
    for (i, line) in lines {
        let Some((key, value)) = line.trim().split_once(':') else {
            continue;
        };
        let value = value.trim();
        let text = (value != "-" && !value.is_empty()).then(|| value.to_string());
        let number = || -> Result<Option<u64>, ShowParseError> {
            text.as_deref()
                .map(|v| {
                    v.parse().map_err(|_| ShowParseError::Number {
                        line: i + 1,
                        key: key.to_string(),
                        value: v.to_string(),
                    })
                })
                .transpose()
        };
        match key.trim() {
            "Name" => show.name = text,
            "UUID" => show.uuid = text,
            "Parent UUID" => show.parent_uuid = text,
            "Received UUID" => show.received_uuid = text,
            "Subvolume ID" => show.subvolume_id = number()?,
            "Generation" => show.generation = number()?,
            "Send transid" => show.send_transid = number()?,
            "Receive transid" => show.receive_transid = number()?,
            "Flags" => {
                show.flags = text
                    .map(|t| t.split_whitespace().map(str::to_string).collect())
                    .unwrap_or_default()
            }
            _ => {}
        }
    }
    if show.uuid.is_none() {
        return Err(ShowParseError::Missing("UUID"));
    }
    Ok(show)
}

/// What `subvolume show` proves about a restore target.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "verdict", rename_all = "kebab-case")]
pub enum ReceiveEvidence {
    /// Read-only, Received UUID equals the source's UUID, receive transid set.
    Received {
        received_uuid: String,
        receive_transid: u64,
    },
    /// Read-only and received, but from another source snapshot.
    ReceivedFromOther { expected: String, found: String },
    /// Read-only without a Received UUID: a snapshot, not a receive.
    NotReceived,
    /// Writable with no Received UUID: either a tool made it writable (then
    /// only the digest can prove the content) or a receive failed midway.
    WritableNoReceivedUuid,
    /// Writable yet still carrying a Received UUID (older kernels keep it).
    WritableWithReceivedUuid { received_uuid: String },
}

impl ReceiveEvidence {
    /// Whether this alone proves a completed receive of the source.
    pub fn proves_receive(&self) -> bool {
        matches!(self, Self::Received { .. })
    }
}

/// Judges a restored subvolume against the source snapshot it should come from.
pub fn receive_evidence(source: &SubvolumeShow, restored: &SubvolumeShow) -> ReceiveEvidence {
    match (restored.readonly(), &restored.received_uuid) {
        (true, Some(r)) if Some(r) == source.uuid.as_ref() => ReceiveEvidence::Received {
            received_uuid: r.clone(),
            receive_transid: restored.receive_transid.unwrap_or(0),
        },
        (true, Some(r)) => ReceiveEvidence::ReceivedFromOther {
            expected: source.uuid.clone().unwrap_or_default(),
            found: r.clone(),
        },
        (true, None) => ReceiveEvidence::NotReceived,
        (false, None) => ReceiveEvidence::WritableNoReceivedUuid,
        (false, Some(r)) => ReceiveEvidence::WritableWithReceivedUuid {
            received_uuid: r.clone(),
        },
    }
    .with_transid_check()
}

impl ReceiveEvidence {
    /// A "received" subvolume with receive transid 0 was never completed.
    fn with_transid_check(self) -> Self {
        match self {
            Self::Received {
                receive_transid: 0, ..
            } => Self::NotReceived,
            other => other,
        }
    }
}

/// In a received chain, each incremental is a snapshot of the previous one.
pub fn chain_link_ok(received_parent: &SubvolumeShow, received_child: &SubvolumeShow) -> bool {
    received_parent.uuid.is_some() && received_child.parent_uuid == received_parent.uuid
}

#[cfg(test)]
mod tests {
    use super::*;

    const SOURCE: &str = "s1.r2
\tName: \t\t\ts1.r2
\tUUID: \t\t\t01376f08-b179-0549-b967-5fae52e988df
\tParent UUID: \t\tee57ffc6-b241-0942-9bb9-d191a1635351
\tReceived UUID: \t\t-
\tCreation time: \t\t2026-11-27 11:35:19 +0000
\tSubvolume ID: \t\t268
\tGeneration: \t\t20
\tGen at creation: \t20
\tParent ID: \t\t5
\tTop level ID: \t\t5
\tFlags: \t\t\treadonly
\tSend transid: \t\t0
\tSend time: \t\t2026-11-27 11:35:19 +0000
\tReceive transid: \t0
\tReceive time: \t\t-
\tSnapshot(s):
";

    const PARENT: &str = "rchain/s1.r1
\tName: \t\t\ts1.r1
\tUUID: \t\t\ta434d681-86d7-c744-8055-a238751d6e08
\tParent UUID: \t\tfbf651a2-df11-4943-9bfd-fe20ce6d1266
\tReceived UUID: \t\t3708f190-f20b-1e49-81ec-72056f85c60e
\tFlags: \t\t\treadonly
\tSend transid: \t\t18
\tReceive transid: \t24
\tSnapshot(s):
\t\t\t\trchain/s1.r2
";

    // btrfs-progs 6.x adds a quota section; unknown keys are skipped.
    const RECEIVED: &str = "rchain/s1.r2
\tName: \t\t\ts1.r2
\tUUID: \t\t\t68985637-85e4-fe4e-8bb6-2a15914227d1
\tParent UUID: \t\ta434d681-86d7-c744-8055-a238751d6e08
\tReceived UUID: \t\t01376f08-b179-0549-b967-5fae52e988df
\tCreation time: \t\t2026-11-27 11:35:20 +0000
\tSubvolume ID: \t\t271
\tGeneration: \t\t27
\tGen at creation: \t26
\tParent ID: \t\t5
\tTop level ID: \t\t5
\tFlags: \t\t\treadonly
\tSend transid: \t\t20
\tSend time: \t\t2026-11-27 11:35:20 +0000
\tReceive transid: \t27
\tReceive time: \t\t2026-11-27 11:35:20 +0000
\tSnapshot(s):
\tQuota group:\t\tn/a
";

    #[test]
    fn parses_source_and_received() {
        let s = parse_subvolume_show(SOURCE).unwrap();
        assert_eq!(s.path, "s1.r2");
        assert_eq!(
            s.uuid.as_deref(),
            Some("01376f08-b179-0549-b967-5fae52e988df")
        );
        assert_eq!(s.received_uuid, None);
        assert_eq!((s.subvolume_id, s.generation), (Some(268), Some(20)));
        assert_eq!((s.send_transid, s.receive_transid), (Some(0), Some(0)));
        assert!(s.readonly());
        let r = parse_subvolume_show(RECEIVED).unwrap();
        assert_eq!(r.received_uuid, s.uuid);
        assert_eq!((r.send_transid, r.receive_transid), (Some(20), Some(27)));
    }

    #[test]
    fn judges_a_real_receive_and_its_chain() {
        let s = parse_subvolume_show(SOURCE).unwrap();
        let r = parse_subvolume_show(RECEIVED).unwrap();
        let p = parse_subvolume_show(PARENT).unwrap();
        let e = receive_evidence(&s, &r);
        assert!(e.proves_receive(), "{e:?}");
        assert!(chain_link_ok(&p, &r));
        assert!(!chain_link_ok(&r, &p));
        assert!(matches!(
            receive_evidence(&s, &p),
            ReceiveEvidence::ReceivedFromOther { .. }
        ));
        assert_eq!(receive_evidence(&s, &s), ReceiveEvidence::NotReceived);
    }

    #[test]
    fn writable_targets_and_unfinished_receives() {
        let s = parse_subvolume_show(SOURCE).unwrap();
        let writable = RECEIVED
            .replace("\tFlags: \t\t\treadonly", "\tFlags: \t\t\t-")
            .replace("01376f08-b179-0549-b967-5fae52e988df", "-");
        let w = parse_subvolume_show(&writable).unwrap();
        assert!(!w.readonly() && w.flags.is_empty());
        assert_eq!(
            receive_evidence(&s, &w),
            ReceiveEvidence::WritableNoReceivedUuid
        );
        let kept = RECEIVED.replace("\tFlags: \t\t\treadonly", "\tFlags: \t\t\t-");
        let k = parse_subvolume_show(&kept).unwrap();
        assert!(matches!(
            receive_evidence(&s, &k),
            ReceiveEvidence::WritableWithReceivedUuid { .. }
        ));
        let unfinished = RECEIVED.replace("\tReceive transid: \t27", "\tReceive transid: \t0");
        let u = parse_subvolume_show(&unfinished).unwrap();
        assert_eq!(receive_evidence(&s, &u), ReceiveEvidence::NotReceived);
    }

    #[test]
    fn rejects_non_subvolume_output() {
        assert_eq!(parse_subvolume_show(""), Err(ShowParseError::Empty));
        assert_eq!(
            parse_subvolume_show("ERROR: Not a Btrfs subvolume: Invalid argument\n"),
            Err(ShowParseError::Missing("UUID"))
        );
        let bad = SOURCE.replace("\t268", "\tabc");
        assert!(matches!(
            parse_subvolume_show(&bad),
            Err(ShowParseError::Number { .. })
        ));
    }
}
