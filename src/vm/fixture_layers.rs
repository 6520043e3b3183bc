//! The fixture disk as a stack of qcow2 layers. `fixture.qcow2` is the
//! bottom; each checkpoint freezes the current top (QEMU reopens it
//! read-only) and puts a new, empty overlay `fixture-layer-<n>.qcow2` on it,
//! which the guest writes from then on. A rollback drops the layers above a
//! checkpoint's frozen layer and starts a fresh overlay on it, so the frozen
//! layer itself is never written and can be rolled back to again.
//!
//! Layer numbers are never reused within a run: a file name (and the QMP
//! node name made from it) names one layer only.

use super::files;
use super::qemu_args::FIXTURE_NODE;
use std::ffi::OsString;
use std::path::{Path, PathBuf};

/// The fixture as it was at `Vm::checkpoint_fixture`: the layer frozen then.
#[derive(Debug, Clone, PartialEq)]
pub struct FixtureCheckpoint {
    /// The image file frozen at the checkpoint (read-only from then on;
    /// removed with the fixture, or by a rollback to an older checkpoint).
    pub layer: PathBuf,
    /// Seconds the checkpoint took (freeze, snapshot, thaw).
    pub seconds: f64,
}

/// What a new fixture disk starts as.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FixtureDisk {
    Empty {
        size_mib: u64,
    },
    /// Copy-on-write over this qcow2 image (its size, its content).
    CopyOf(PathBuf),
}

/// `qemu-img` arguments that create the fixture disk (or a layer) at `path`.
pub fn fixture_create_args(disk: &FixtureDisk, path: &Path) -> Vec<OsString> {
    let mut a: Vec<OsString> = vec!["create".into(), "-q".into(), "-f".into(), "qcow2".into()];
    match disk {
        FixtureDisk::Empty { size_mib } => {
            a.push(path.into());
            a.push(format!("{size_mib}M").into());
        }
        FixtureDisk::CopyOf(template) => {
            a.extend(["-F".into(), "qcow2".into(), "-b".into(), template.into()]);
            a.push(path.into());
        }
    }
    a
}

/// `qemu-img` arguments that write the whole chain under `top` as one
/// standalone qcow2 image `out` (no backing file). `in_use`: a running QEMU
/// holds the chain (read-only, frozen by a checkpoint): read it anyway
/// (`-U`, force share).
pub fn flatten_args(top: &Path, out: &Path, in_use: bool) -> Vec<OsString> {
    let mut a: Vec<OsString> = vec!["convert".into(), "-q".into()];
    if in_use {
        a.push("-U".into());
    }
    a.extend([
        "-f".into(),
        "qcow2".into(),
        "-O".into(),
        "qcow2".into(),
        top.into(),
        out.into(),
    ]);
    a
}

/// The QMP node name of the overlay a checkpoint adds as layer `n`.
pub fn layer_node(n: u32) -> String {
    format!("{FIXTURE_NODE}-layer-{n}")
}

/// The fixture's layers in the run directory, bottom first.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FixtureStack {
    /// Absolute, so the backing file names QEMU writes into overlays hold
    /// wherever QEMU runs from.
    dir: PathBuf,
    /// File names, bottom first; the last is the layer the guest writes.
    layers: Vec<String>,
    /// The QMP node name of the top layer: the hot-plugged (or boot) node
    /// after an attach, rollback or restart, the snapshot's after a checkpoint.
    top_node: String,
    /// The number of the next layer.
    next: u32,
    /// The bottom layer has no backing file (it was created empty).
    standalone_bottom: bool,
}

impl FixtureStack {
    /// Just `fixture.qcow2`, attached as node `FIXTURE_NODE`.
    pub fn new(dir: &Path, standalone_bottom: bool) -> std::io::Result<FixtureStack> {
        Ok(FixtureStack {
            dir: std::path::absolute(dir)?,
            layers: vec![files::FIXTURE.to_string()],
            top_node: FIXTURE_NODE.to_string(),
            next: 1,
            standalone_bottom,
        })
    }

    /// The image the guest writes.
    pub fn top(&self) -> PathBuf {
        self.dir
            .join(self.layers.last().map_or(files::FIXTURE, String::as_str))
    }

    pub fn top_node(&self) -> &str {
        &self.top_node
    }

    /// Every layer file, bottom first.
    pub fn files(&self) -> Vec<PathBuf> {
        self.layers.iter().map(|l| self.dir.join(l)).collect()
    }

    /// One image with no backing file: it can become the template as it is.
    pub fn is_standalone(&self) -> bool {
        self.standalone_bottom && self.layers.len() == 1
    }

    /// The file and node name of the layer to add next.
    pub fn next_layer(&self) -> (PathBuf, String) {
        (
            self.dir.join(files::fixture_layer(self.next)),
            layer_node(self.next),
        )
    }

    /// A checkpoint made `next_layer` (named `node`) the top.
    pub fn push_snapshot(&mut self) {
        let (_, node) = self.next_layer();
        self.layers.push(files::fixture_layer(self.next));
        self.top_node = node;
        self.next += 1;
    }

    /// Where `cp`'s frozen layer is in the stack: None when it is gone (the
    /// fixture was detached, or a rollback went below it) or is the top (a
    /// checkpoint's layer never is).
    pub fn position(&self, cp: &FixtureCheckpoint) -> Option<usize> {
        let i = self.files().iter().position(|f| *f == cp.layer)?;
        (i + 1 < self.layers.len()).then_some(i)
    }

    /// Drop the layers above `index` from the stack; their files, which the
    /// caller deletes.
    pub fn truncate_above(&mut self, index: usize) -> Vec<PathBuf> {
        let dropped: Vec<PathBuf> = self
            .layers
            .split_off((index + 1).min(self.layers.len()))
            .iter()
            .map(|l| self.dir.join(l))
            .collect();
        self.top_node = String::new();
        dropped
    }

    /// A fresh overlay `next_layer` was created on the top and will be
    /// attached as node `FIXTURE_NODE`.
    pub fn push_overlay(&mut self) {
        self.layers.push(files::fixture_layer(self.next));
        self.top_node = FIXTURE_NODE.to_string();
        self.next += 1;
    }

    /// The top was attached anew (a boot after a power cut) as `FIXTURE_NODE`.
    pub fn reattached(&mut self) {
        self.top_node = FIXTURE_NODE.to_string();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn words(a: Vec<OsString>) -> Vec<String> {
        a.into_iter()
            .map(|w| w.to_string_lossy().into_owned())
            .collect()
    }

    #[test]
    fn fixture_disks_are_empty_or_copies_of_the_template() {
        let empty = fixture_create_args(
            &FixtureDisk::Empty { size_mib: 2048 },
            Path::new("/r/fixture.qcow2"),
        );
        assert_eq!(
            words(empty),
            ["create", "-q", "-f", "qcow2", "/r/fixture.qcow2", "2048M"]
        );
        let copy = fixture_create_args(
            &FixtureDisk::CopyOf("/r/fixture-template.qcow2".into()),
            Path::new("/r/fixture.qcow2"),
        );
        assert_eq!(
            words(copy),
            [
                "create",
                "-q",
                "-f",
                "qcow2",
                "-F",
                "qcow2",
                "-b",
                "/r/fixture-template.qcow2",
                "/r/fixture.qcow2"
            ]
        );
    }

    #[test]
    fn a_chain_flattens_into_one_image() {
        let a = flatten_args(
            Path::new("/r/fixture-layer-2.qcow2"),
            Path::new("/r/fixture-template.qcow2.part"),
            false,
        );
        assert_eq!(
            words(a),
            [
                "convert",
                "-q",
                "-f",
                "qcow2",
                "-O",
                "qcow2",
                "/r/fixture-layer-2.qcow2",
                "/r/fixture-template.qcow2.part"
            ]
        );
        // A chain a running QEMU holds: force share.
        let a = flatten_args(Path::new("/r/l.qcow2"), Path::new("/c/t.qcow2"), true);
        assert_eq!(
            words(a),
            [
                "convert",
                "-q",
                "-U",
                "-f",
                "qcow2",
                "-O",
                "qcow2",
                "/r/l.qcow2",
                "/c/t.qcow2"
            ]
        );
    }

    fn checkpoint(stack: &mut FixtureStack) -> FixtureCheckpoint {
        let cp = FixtureCheckpoint {
            layer: stack.top(),
            seconds: 0.0,
        };
        stack.push_snapshot();
        cp
    }

    #[test]
    fn checkpoints_stack_layers_and_rollbacks_cut_them() {
        let mut s = FixtureStack::new(Path::new("/r"), true).unwrap();
        assert_eq!(s.top(), Path::new("/r/fixture.qcow2"));
        assert_eq!(s.top_node(), "fixture");
        assert!(s.is_standalone());
        assert_eq!(
            s.next_layer(),
            ("/r/fixture-layer-1.qcow2".into(), "fixture-layer-1".into())
        );

        let one = checkpoint(&mut s);
        assert_eq!(one.layer, Path::new("/r/fixture.qcow2"));
        assert_eq!(s.top_node(), "fixture-layer-1");
        assert!(!s.is_standalone());
        let two = checkpoint(&mut s);
        assert_eq!(two.layer, Path::new("/r/fixture-layer-1.qcow2"));
        assert_eq!(s.top(), Path::new("/r/fixture-layer-2.qcow2"));
        assert_eq!((s.position(&one), s.position(&two)), (Some(0), Some(1)));

        // Back to two: layer 2 goes, a fresh layer 3 is hot-plugged.
        assert_eq!(
            s.truncate_above(1),
            [PathBuf::from("/r/fixture-layer-2.qcow2")]
        );
        s.push_overlay();
        assert_eq!(s.top(), Path::new("/r/fixture-layer-3.qcow2"));
        assert_eq!(s.top_node(), "fixture");
        assert_eq!(s.position(&two), Some(1), "two can be rolled back to again");

        // Back to one, below two: two is gone with its layer.
        assert_eq!(
            s.truncate_above(0),
            [
                PathBuf::from("/r/fixture-layer-1.qcow2"),
                PathBuf::from("/r/fixture-layer-3.qcow2")
            ]
        );
        s.push_overlay();
        assert_eq!(s.position(&two), None);
        assert_eq!(s.position(&one), Some(0));
        assert_eq!(
            s.files(),
            [
                PathBuf::from("/r/fixture.qcow2"),
                PathBuf::from("/r/fixture-layer-4.qcow2")
            ]
        );

        // A checkpoint on top again takes the next number.
        let three = checkpoint(&mut s);
        assert_eq!(three.layer, Path::new("/r/fixture-layer-4.qcow2"));
        assert_eq!(s.top_node(), "fixture-layer-5");
        s.reattached();
        assert_eq!(s.top_node(), "fixture");
    }

    #[test]
    fn the_top_is_no_checkpoint_and_a_template_copy_is_not_standalone() {
        let mut s = FixtureStack::new(Path::new("/r"), false).unwrap();
        assert!(!s.is_standalone());
        let top = FixtureCheckpoint {
            layer: s.top(),
            seconds: 0.0,
        };
        assert_eq!(s.position(&top), None);
        s.push_snapshot();
        assert_eq!(s.position(&top), Some(0));
    }
}
