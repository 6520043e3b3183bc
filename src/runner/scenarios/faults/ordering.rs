//! ordering: a backup of several chunks, then, from the journal, every
//! `current.json` write must come after every chunk and the manifest it
//! names were completely stored (`verify.publish_order`).

use super::super::{first_subvolume, guest, hold, Scenario};
use crate::runner::blame::tool_broke;
use crate::runner::session::Session;
use crate::verify::journal::verify_publish_order;
use crate::verify::layout::Layout;
use crate::verify::manifest::Documents;
use crate::verify::names;
use anyhow::Result;

pub struct Ordering;

impl Scenario for Ordering {
    fn name(&self) -> &'static str {
        "ordering"
    }
    fn needs_embedded(&self) -> Option<&'static str> {
        Some("the request journal, to order the pointer write after its objects")
    }
    fn expected_checks(&self, _s: &Session) -> Vec<String> {
        vec![names::PUBLISH_ORDER.into()]
    }
    fn run(&self, s: &mut Session) -> Result<()> {
        let layout = Layout::from_profile(&s.profile)?;
        let sv = first_subvolume(s)?;
        // One and a half chunks of new data: the backup spans at least two chunks.
        super::add_chunk_and_a_half(s, &sv, "ordering.bin")?;
        let start = hold::mark(s)?;
        let run = super::backup(s, "ordering", &sv, "ordering-backup")?;
        let journal = s.journal()?.since(start);
        let chunks_stored = journal
            .entries
            .iter()
            .filter(|e| e.is_store() && e.ok() && layout.is_chunk(e.key()))
            .count();
        if chunks_stored < 2 {
            return Err(tool_broke(
                format!(
                    "the ordering backup of 1.5 chunk sizes of new data stored {chunks_stored} chunk(s) ({}), so there is no order to check",
                    run.status_text()
                ),
                Some(&run),
            ));
        }
        let state = guest::s3_state(s, &layout)?;
        let docs = Documents::from_state(&state, &layout);
        let mut check = verify_publish_order(
            &journal,
            &layout,
            &docs.chunk_lists(),
            &docs.pointer_targets(),
        );
        check.evidence["backup_status"] = run.status_text().into();
        check.evidence["chunks_stored"] = chunks_stored.into();
        s.record(check);
        Ok(())
    }
}
