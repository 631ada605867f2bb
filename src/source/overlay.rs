//! One composition for the sources that read something beside the
//! process tree: a cgroup (what the kernel charges the group) and a
//! browser page (its heaps and Blink's counters). The tree's probe reads
//! the processes, the source's [`Overlay`] adds its own values, and
//! [`Composed`] forwards everything else (the processes, their readings,
//! names and descriptions) to the tree, so no source writes that
//! forwarding again.

use crate::recording::breakdown::Breakdown;
use crate::recording::samples::Sample;
use crate::sampler::{
    Probe, ProbeError, ProcReading, ProcessInfo, ProcessSummary, SourceEvent, Tree, Want,
};

/// What a source adds to the tree's readings.
pub trait Overlay: Send {
    /// One reading: the source's own values, with the tree's read through
    /// `tree` (absent when the run measures no processes).
    fn read(
        &mut self,
        spec: &Tree,
        tree: Option<&mut (dyn Probe + 'static)>,
        want: Want,
    ) -> Result<Sample, ProbeError>;
    /// The tree's classes and resources (when read) with the source's own
    /// series added; `None` until the source has been read once.
    fn breakdown(&self, tree: Option<Breakdown>) -> Option<Breakdown>;
    /// `samples.csv` columns left empty, given those the tree's probe
    /// leaves empty (`None`: no tree).
    fn unavailable(&self, tree: Option<&'static [&'static str]>) -> &'static [&'static str];
    /// Called after each successful reading, on the run's clock.
    fn record(&mut self, _elapsed_s: f64) -> anyhow::Result<()> {
        Ok(())
    }
    /// What the source saw happen, taken once at the end.
    fn events(&mut self) -> Vec<SourceEvent> {
        Vec::new()
    }
}

/// A source's overlay on the tree's probe: itself a [`Probe`].
pub struct Composed<O> {
    overlay: O,
    tree: Option<Box<dyn Probe>>,
}

impl<O: Overlay> Composed<O> {
    /// `overlay` over `tree` (none: the source is all that is read).
    pub fn new(overlay: O, tree: Option<Box<dyn Probe>>) -> Composed<O> {
        Composed { overlay, tree }
    }
}

impl<O: Overlay> Probe for Composed<O> {
    fn read(&mut self, spec: &Tree, want: Want) -> Result<Sample, ProbeError> {
        self.overlay.read(spec, self.tree.as_deref_mut(), want)
    }

    fn unavailable(&self) -> &'static [&'static str] {
        self.overlay
            .unavailable(self.tree.as_ref().map(|t| t.unavailable()))
    }

    fn processes(&self) -> Vec<ProcessSummary> {
        self.tree.as_ref().map_or_else(Vec::new, |t| t.processes())
    }

    fn breakdown(&mut self, smaps: bool) -> Option<Breakdown> {
        let tree = self.tree.as_mut().and_then(|t| t.breakdown(smaps));
        self.overlay.breakdown(tree)
    }

    fn readings(&self) -> &[ProcReading] {
        self.tree.as_ref().map_or(&[], |t| t.readings())
    }

    fn describe(&self, pid: i32) -> Option<ProcessInfo> {
        self.tree.as_ref().and_then(|t| t.describe(pid))
    }

    fn name(&self, pid: i32) -> Option<&str> {
        self.tree.as_ref().and_then(|t| t.name(pid))
    }

    fn record(&mut self, elapsed_s: f64) -> anyhow::Result<()> {
        self.overlay.record(elapsed_s)
    }

    fn events(&mut self) -> Vec<SourceEvent> {
        self.overlay.events()
    }
}
