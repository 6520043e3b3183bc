//! Fault injection on a schedule: which requests (operation and key
//! pattern) get which fault (503 SlowDown, 500 InternalError, a TCP reset,
//! added latency, or a stall until released), for the next N matches or
//! with a seeded probability.
//!
//! Rules come from a profile (`[[s3.faults]]`, deserialised into
//! [`FaultRule`]) or from harness code at run time ([`Faults::add`]).

use std::sync::Mutex;
use std::time::Duration;

use rand::{Rng as _, SeedableRng as _};
use serde::{Deserialize, Serialize};
use tokio::sync::watch;

use super::store::lock;

/// The S3 operations the embedded endpoint serves; rule `op`s must be one
/// of these (or `*`), so a typo in a profile is an error, not a no-op.
pub const OPERATIONS: [&str; 20] = [
    "PutObject",
    "GetObject",
    "HeadObject",
    "DeleteObject",
    "DeleteObjects",
    "CopyObject",
    "ListObjectsV2",
    "ListObjects",
    "CreateMultipartUpload",
    "UploadPart",
    "CompleteMultipartUpload",
    "AbortMultipartUpload",
    "ListMultipartUploads",
    "ListParts",
    "RestoreObject",
    "HeadBucket",
    "ListBuckets",
    "CreateBucket",
    "GetBucketLocation",
    "DeleteBucket",
];

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FaultKind {
    /// 503 SlowDown.
    SlowDown,
    /// 500 InternalError.
    InternalError,
    /// Close the connection with a TCP RST instead of answering.
    Reset,
    /// Delay the request by `latency_ms`, then serve it normally.
    Latency,
    /// Hold the request until [`Faults::release`] is called for the rule.
    Stall,
}

/// One scheduled fault. Matches when `op` (exact, `*` or absent for any)
/// and the key pattern (`key` glob where `*` also matches `/`, or
/// `key_regex`) match. Fires for the next `count` matches (after letting
/// `skip` pass), or with `probability` using an RNG seeded with `seed`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FaultRule {
    #[serde(default)]
    pub op: Option<String>,
    #[serde(default)]
    pub key: Option<String>,
    #[serde(default)]
    pub key_regex: Option<String>,
    pub action: FaultKind,
    #[serde(default)]
    pub latency_ms: Option<u64>,
    #[serde(default)]
    pub count: Option<u64>,
    #[serde(default)]
    pub probability: Option<f64>,
    #[serde(default)]
    pub seed: Option<u64>,
    #[serde(default)]
    pub skip: u64,
}

impl FaultRule {
    pub fn new(action: FaultKind) -> Self {
        FaultRule {
            op: None,
            key: None,
            key_regex: None,
            action,
            latency_ms: None,
            count: None,
            probability: None,
            seed: None,
            skip: 0,
        }
    }

    pub fn latency(ms: u64) -> Self {
        FaultRule {
            latency_ms: Some(ms),
            ..FaultRule::new(FaultKind::Latency)
        }
    }

    pub fn op(mut self, op: &str) -> Self {
        self.op = Some(op.to_owned());
        self
    }

    pub fn key_glob(mut self, glob: &str) -> Self {
        self.key = Some(glob.to_owned());
        self
    }

    pub fn key_regex(mut self, re: &str) -> Self {
        self.key_regex = Some(re.to_owned());
        self
    }

    /// Fire for the next `n` matches only.
    pub fn times(mut self, n: u64) -> Self {
        self.count = Some(n);
        self
    }

    /// Let the first `n` matches through before firing.
    pub fn skip(mut self, n: u64) -> Self {
        self.skip = n;
        self
    }

    pub fn probability(mut self, p: f64, seed: u64) -> Self {
        self.probability = Some(p);
        self.seed = Some(seed);
        self
    }
}

#[derive(Debug, thiserror::Error)]
pub enum FaultError {
    #[error(
        "fault rule: unknown operation {0:?} (expected one of the S3 operation names or \"*\")"
    )]
    UnknownOp(String),
    #[error("fault rule: bad key glob {glob:?}: {source}")]
    Glob {
        glob: String,
        #[source]
        source: globset::Error,
    },
    #[error("fault rule: bad key regex {regex:?}: {source}")]
    Regex {
        regex: String,
        #[source]
        source: regex::Error,
    },
    #[error("fault rule: `key` and `key_regex` are exclusive")]
    BothPatterns,
    #[error("fault rule: action latency needs latency_ms")]
    MissingLatency,
    #[error("fault rule: probability {0} is not within 0..=1")]
    Probability(f64),
    #[error("no stall rule with id {0}")]
    NoSuchRule(u64),
    #[error("timed out after {0:?} waiting for {1} stalled requests")]
    Timeout(Duration, usize),
}

/// Identifies a rule added with [`Faults::add`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct RuleId(pub u64);

/// What to do with one request.
#[derive(Debug)]
pub enum Decision {
    SlowDown,
    InternalError,
    Reset,
    Latency(Duration),
    /// Wait until the receiver reads `true`.
    Stall(watch::Receiver<bool>),
}

impl Decision {
    /// The label written to the journal's `fault` field.
    pub fn label(&self) -> String {
        match self {
            Decision::SlowDown => "slow_down".to_owned(),
            Decision::InternalError => "internal_error".to_owned(),
            Decision::Reset => "reset".to_owned(),
            Decision::Latency(d) => format!("latency:{}ms", d.as_millis()),
            Decision::Stall(_) => "stall".to_owned(),
        }
    }
}

enum KeyMatcher {
    Any,
    Glob(globset::GlobMatcher),
    Regex(regex::Regex),
}

struct Active {
    id: RuleId,
    rule: FaultRule,
    key: KeyMatcher,
    matched: u64,
    fired: u64,
    rng: Option<rand::rngs::StdRng>,
    release: watch::Sender<bool>,
}

impl Active {
    fn compile(id: RuleId, rule: FaultRule) -> Result<Active, FaultError> {
        if let Some(op) = rule.op.as_deref() {
            if op != "*" && !OPERATIONS.contains(&op) {
                return Err(FaultError::UnknownOp(op.to_owned()));
            }
        }
        let key = match (&rule.key, &rule.key_regex) {
            (Some(_), Some(_)) => return Err(FaultError::BothPatterns),
            (Some(g), None) => KeyMatcher::Glob(
                globset::GlobBuilder::new(g)
                    .literal_separator(false)
                    .backslash_escape(true)
                    .build()
                    .map_err(|source| FaultError::Glob {
                        glob: g.clone(),
                        source,
                    })?
                    .compile_matcher(),
            ),
            (None, Some(r)) => {
                KeyMatcher::Regex(regex::Regex::new(r).map_err(|source| FaultError::Regex {
                    regex: r.clone(),
                    source,
                })?)
            }
            (None, None) => KeyMatcher::Any,
        };
        if rule.action == FaultKind::Latency && rule.latency_ms.is_none() {
            return Err(FaultError::MissingLatency);
        }
        if let Some(p) = rule.probability {
            if !(0.0..=1.0).contains(&p) {
                return Err(FaultError::Probability(p));
            }
        }
        let rng = rule
            .probability
            .map(|_| rand::rngs::StdRng::seed_from_u64(rule.seed.unwrap_or(0)));
        let (release, _) = watch::channel(false);
        Ok(Active {
            id,
            rule,
            key,
            matched: 0,
            fired: 0,
            rng,
            release,
        })
    }

    fn matches(&self, op: &str, key: Option<&str>) -> bool {
        let op_ok = match self.rule.op.as_deref() {
            None | Some("*") => true,
            Some(want) => want == op,
        };
        op_ok
            && match &self.key {
                KeyMatcher::Any => true,
                KeyMatcher::Glob(g) => key.is_some_and(|k| g.is_match(k)),
                KeyMatcher::Regex(r) => key.is_some_and(|k| r.is_match(k)),
            }
    }

    fn exhausted(&self) -> bool {
        self.rule.count.is_some_and(|n| self.fired >= n)
    }

    /// Count a match and decide whether this one fires.
    fn fire(&mut self) -> bool {
        self.matched += 1;
        if self.matched <= self.rule.skip || self.exhausted() {
            return false;
        }
        let roll = match (self.rule.probability, self.rng.as_mut()) {
            (Some(p), Some(rng)) => rng.gen::<f64>() < p,
            _ => true,
        };
        if roll {
            self.fired += 1;
        }
        roll
    }

    fn decision(&self) -> Decision {
        match self.rule.action {
            FaultKind::SlowDown => Decision::SlowDown,
            FaultKind::InternalError => Decision::InternalError,
            FaultKind::Reset => Decision::Reset,
            FaultKind::Latency => {
                Decision::Latency(Duration::from_millis(self.rule.latency_ms.unwrap_or(0)))
            }
            FaultKind::Stall => Decision::Stall(self.release.subscribe()),
        }
    }
}

/// The live fault schedule of one endpoint.
pub struct Faults {
    rules: Mutex<Vec<Active>>,
    next_id: Mutex<u64>,
    stalled: watch::Sender<usize>,
}

impl Default for Faults {
    fn default() -> Self {
        Faults {
            rules: Mutex::new(Vec::new()),
            next_id: Mutex::new(0),
            stalled: watch::channel(0).0,
        }
    }
}

impl Faults {
    pub fn new(rules: &[FaultRule]) -> Result<Faults, FaultError> {
        let faults = Faults::default();
        for r in rules {
            faults.add(r.clone())?;
        }
        Ok(faults)
    }

    /// Add a rule at the end of the schedule (earlier rules win).
    pub fn add(&self, rule: FaultRule) -> Result<RuleId, FaultError> {
        let id = {
            let mut n = lock(&self.next_id);
            *n += 1;
            RuleId(*n)
        };
        let active = Active::compile(id, rule)?;
        lock(&self.rules).push(active);
        Ok(id)
    }

    /// Remove a rule; requests it stalled are released.
    pub fn remove(&self, id: RuleId) -> bool {
        let mut rules = lock(&self.rules);
        let before = rules.len();
        rules.retain(|r| {
            if r.id == id {
                r.release.send_replace(true);
            }
            r.id != id
        });
        rules.len() != before
    }

    /// Remove every rule and release every stalled request.
    pub fn clear(&self) {
        let mut rules = lock(&self.rules);
        for r in rules.iter() {
            r.release.send_replace(true);
        }
        rules.clear();
    }

    /// Release the requests held by stall rule `id` and retire the rule.
    pub fn release(&self, id: RuleId) -> Result<(), FaultError> {
        if self.remove(id) {
            Ok(())
        } else {
            Err(FaultError::NoSuchRule(id.0))
        }
    }

    /// How many times rule `id` has fired so far.
    pub fn fired(&self, id: RuleId) -> Option<u64> {
        lock(&self.rules)
            .iter()
            .find(|r| r.id == id)
            .map(|r| r.fired)
    }

    /// Requests currently held by stall rules.
    pub fn stalled(&self) -> usize {
        *self.stalled.borrow()
    }

    /// Wait until at least `n` requests are stalled.
    pub async fn wait_stalled(&self, n: usize, timeout: Duration) -> Result<(), FaultError> {
        let mut rx = self.stalled.subscribe();
        let waited = tokio::time::timeout(timeout, rx.wait_for(|v| *v >= n)).await;
        match waited {
            Ok(Ok(_)) => Ok(()),
            _ => Err(FaultError::Timeout(timeout, n)),
        }
    }

    /// Pick the fault for a request, if any. The first rule that matches
    /// and fires wins; every matching rule counts the match.
    pub fn decide(&self, op: &str, key: Option<&str>) -> Option<Decision> {
        let mut rules = lock(&self.rules);
        for r in rules.iter_mut() {
            if r.matches(op, key) && r.fire() {
                return Some(r.decision());
            }
        }
        None
    }

    /// Hold a request until its stall is released (counted in `stalled`).
    pub async fn hold(&self, mut release: watch::Receiver<bool>) {
        self.stalled.send_modify(|n| *n += 1);
        struct Unstall<'a>(&'a watch::Sender<usize>);
        impl Drop for Unstall<'_> {
            fn drop(&mut self) {
                self.0.send_modify(|n| *n = n.saturating_sub(1));
            }
        }
        let _guard = Unstall(&self.stalled);
        let _ = release.wait_for(|v| *v).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn labels(f: &Faults, op: &str, key: &str, n: usize) -> Vec<Option<String>> {
        (0..n)
            .map(|_| f.decide(op, Some(key)).map(|d| d.label()))
            .collect()
    }

    #[test]
    fn count_and_skip() {
        let f = Faults::default();
        f.add(
            FaultRule::new(FaultKind::SlowDown)
                .op("UploadPart")
                .key_glob("*/chunk-*")
                .skip(1)
                .times(2),
        )
        .expect("rule");
        assert_eq!(
            f.decide("PutObject", Some("p/chunk-1")).map(|d| d.label()),
            None
        );
        assert_eq!(
            labels(&f, "UploadPart", "p/chunk-0", 4),
            vec![
                None,
                Some("slow_down".into()),
                Some("slow_down".into()),
                None
            ]
        );
        assert!(f.decide("UploadPart", Some("p/manifest")).is_none());
    }

    #[test]
    fn seeded_probability_is_reproducible() {
        let run = || {
            let f = Faults::default();
            f.add(FaultRule::new(FaultKind::InternalError).probability(0.5, 7))
                .expect("rule");
            labels(&f, "GetObject", "k", 64)
        };
        let a = run();
        assert_eq!(a, run());
        let fired = a.iter().filter(|l| l.is_some()).count();
        assert!((16..=48).contains(&fired), "about half fired: {fired}");
    }

    #[test]
    fn profile_rules_deserialize_and_validate() {
        #[derive(Deserialize)]
        struct P {
            faults: Vec<FaultRule>,
        }
        let p: P = toml::from_str(
            r#"
            [[faults]]
            op = "UploadPart"
            key = "*chunk-*"
            action = "reset"
            count = 1
            [[faults]]
            action = "latency"
            latency_ms = 50
            probability = 0.25
            seed = 3
            "#,
        )
        .expect("toml");
        assert!(Faults::new(&p.faults).is_ok());
        let bad = FaultRule::new(FaultKind::SlowDown).op("PutObjekt");
        assert!(matches!(Faults::new(&[bad]), Err(FaultError::UnknownOp(_))));
        assert!(toml::from_str::<P>("[[faults]]\naction = \"reset\"\nbogus = 1").is_err());
    }

    #[tokio::test]
    async fn stall_holds_until_released() {
        let f = std::sync::Arc::new(Faults::default());
        let id = f
            .add(FaultRule::new(FaultKind::Stall).op("PutObject"))
            .expect("rule");
        let Some(Decision::Stall(rx)) = f.decide("PutObject", Some("k")) else {
            panic!("expected a stall");
        };
        let f2 = f.clone();
        let held = tokio::spawn(async move { f2.hold(rx).await });
        f.wait_stalled(1, Duration::from_secs(5))
            .await
            .expect("stalled");
        assert!(!held.is_finished());
        f.release(id).expect("release");
        held.await.expect("released");
        assert_eq!(f.stalled(), 0);
        assert!(f.decide("PutObject", Some("k")).is_none(), "rule retired");
    }
}
