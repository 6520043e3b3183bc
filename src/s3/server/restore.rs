//! Archive storage classes and the RestoreObject state machine.
//!
//! GLACIER and DEEP_ARCHIVE objects cannot be read until restored. A restore
//! is "ongoing" for a configurable delay, then the object is readable until
//! its expiry. Everything here is a pure function of the state and "now", so
//! it is tested without waiting.

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

/// Storage classes the endpoint accepts (AWS's list).
pub const STORAGE_CLASSES: [&str; 11] = [
    "STANDARD",
    "REDUCED_REDUNDANCY",
    "STANDARD_IA",
    "ONEZONE_IA",
    "INTELLIGENT_TIERING",
    "GLACIER",
    "DEEP_ARCHIVE",
    "GLACIER_IR",
    "OUTPOSTS",
    "SNOW",
    "EXPRESS_ONEZONE",
];

pub fn is_valid_storage_class(class: &str) -> bool {
    STORAGE_CLASSES.contains(&class)
}

/// Classes whose objects need RestoreObject before GetObject.
pub fn needs_restore(class: &str) -> bool {
    matches!(class, "GLACIER" | "DEEP_ARCHIVE")
}

/// A restore request persisted with the object.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct RestoreState {
    /// Unix milliseconds when the restored copy becomes readable.
    pub ready_at_ms: i64,
    /// Unix milliseconds when the restored copy goes away again.
    pub expires_at_ms: i64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    /// No restore, or the restored copy expired.
    None,
    Ongoing,
    Restored {
        expires_at_ms: i64,
    },
}

impl RestoreState {
    pub fn new(now_ms: i64, delay_ms: i64, days: i32) -> Self {
        let ready_at_ms = now_ms.saturating_add(delay_ms);
        let days_ms = i64::from(days.max(1)).saturating_mul(86_400_000);
        RestoreState {
            ready_at_ms,
            expires_at_ms: ready_at_ms.saturating_add(days_ms),
        }
    }

    pub fn phase(&self, now_ms: i64) -> Phase {
        if now_ms < self.ready_at_ms {
            Phase::Ongoing
        } else if now_ms < self.expires_at_ms {
            Phase::Restored {
                expires_at_ms: self.expires_at_ms,
            }
        } else {
            Phase::None
        }
    }
}

pub fn phase_of(state: Option<&RestoreState>, now_ms: i64) -> Phase {
    state.map_or(Phase::None, |s| s.phase(now_ms))
}

/// The `x-amz-restore` header value for a phase, if any.
pub fn header_value(phase: Phase) -> Option<String> {
    match phase {
        Phase::None => None,
        Phase::Ongoing => Some("ongoing-request=\"true\"".to_owned()),
        Phase::Restored { expires_at_ms } => Some(format!(
            "ongoing-request=\"false\", expiry-date=\"{}\"",
            http_date(expires_at_ms)
        )),
    }
}

/// RFC 7231 date, e.g. `Fri, 21 Dec 2012 00:00:00 GMT`.
pub fn http_date(unix_ms: i64) -> String {
    let t = OffsetDateTime::from_unix_timestamp(unix_ms.div_euclid(1000))
        .unwrap_or(OffsetDateTime::UNIX_EPOCH);
    let fmt = time::macros::format_description!(
        "[weekday repr:short], [day] [month repr:short] [year] [hour]:[minute]:[second] GMT"
    );
    t.format(fmt).unwrap_or_default()
}

/// What RestoreObject should answer, and the new state to persist.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RestoreAnswer {
    /// 202 Accepted: a new restore started.
    Started(RestoreState),
    /// 409 RestoreAlreadyInProgress.
    InProgress,
    /// 200 OK: already restored; AWS extends the expiry.
    AlreadyRestored(RestoreState),
    /// 403 InvalidObjectState: the class is not an archive class.
    NotArchived,
}

pub fn answer(
    class: &str,
    state: Option<&RestoreState>,
    now_ms: i64,
    delay_ms: i64,
    days: i32,
) -> RestoreAnswer {
    if !needs_restore(class) {
        return RestoreAnswer::NotArchived;
    }
    match phase_of(state, now_ms) {
        Phase::None => RestoreAnswer::Started(RestoreState::new(now_ms, delay_ms, days)),
        Phase::Ongoing => RestoreAnswer::InProgress,
        Phase::Restored { .. } => {
            let mut s = RestoreState::new(now_ms, 0, days);
            if let Some(old) = state {
                s.ready_at_ms = old.ready_at_ms;
            }
            RestoreAnswer::AlreadyRestored(s)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn restore_walks_202_409_200() {
        let now = 1_000_000;
        let RestoreAnswer::Started(s) = answer("GLACIER", None, now, 5_000, 1) else {
            panic!("expected a started restore");
        };
        assert_eq!(
            answer("GLACIER", Some(&s), now + 10, 5_000, 1),
            RestoreAnswer::InProgress
        );
        assert!(matches!(
            answer("GLACIER", Some(&s), now + 5_000, 5_000, 1),
            RestoreAnswer::AlreadyRestored(_)
        ));
        assert_eq!(
            answer("GLACIER_IR", None, now, 5_000, 1),
            RestoreAnswer::NotArchived
        );
        assert_eq!(
            answer("STANDARD", None, now, 5_000, 1),
            RestoreAnswer::NotArchived
        );
    }

    #[test]
    fn header_values_look_like_aws() {
        assert_eq!(
            header_value(Phase::Ongoing).as_deref(),
            Some("ongoing-request=\"true\"")
        );
        assert_eq!(
            header_value(Phase::Restored {
                expires_at_ms: 1_356_048_000_000
            })
            .as_deref(),
            Some("ongoing-request=\"false\", expiry-date=\"Fri, 21 Dec 2012 00:00:00 GMT\"")
        );
    }

    #[test]
    fn expired_restore_is_gone() {
        let s = RestoreState::new(0, 10, 1);
        assert_eq!(s.phase(86_400_000 + 10), Phase::None);
    }
}
