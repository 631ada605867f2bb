//! Run outputs: `summary.json`, the terminal summary, and `memsoak report`,
//! which re-judges a run folder or any CSV with `elapsed_s` and `rss_bytes`.
//!
//! `samples.csv` itself is written by the sampler as samples arrive; every
//! exporter here works from it and from the [`Summary`], so a report can be
//! regenerated from the folder alone.

pub mod reanalyse;
pub mod summary;
pub mod terminal;

pub use reanalyse::report_command;
pub use summary::{GrowthSummary, Summary, TargetSummary};
