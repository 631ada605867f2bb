//! Run outputs: `summary.json`, the terminal summary, the charts and the
//! HTML, Markdown and JUnit reports (one small file per exporter), and
//! `memsoak report`, which re-judges a run folder or any CSV with
//! `elapsed_s` and `rss_bytes`.
//!
//! `samples.csv` itself is written by the sampler as samples arrive; every
//! exporter here works from it and from the [`Summary`], so a report can be
//! regenerated from the folder alone.

pub mod charts;
pub mod compare;
pub mod export;
pub mod html;
pub mod junit;
pub mod markdown;
pub mod reanalyse;
pub mod series;
pub mod summary;
pub mod terminal;

pub use reanalyse::report_command;
pub use summary::{Environment, GrowthSummary, Summary, TargetSummary};
