//! Run outputs, rendering only: `summary.json` (the typed output model),
//! the report view every human-facing output is worded from, and one small
//! file per exporter (terminal, Markdown, HTML, JUnit, charts).
//!
//! `samples.csv` itself is written by the sampler as samples arrive; every
//! exporter here works from it and from the [`Summary`], so a report can be
//! regenerated from the folder alone. The commands (`commands/`) decide
//! what a run or a re-judgement concluded; this folder only says it.

pub(crate) mod attribution_chart;
pub mod chart_data;
pub(crate) mod charts;
pub(crate) mod export;
pub(crate) mod html;
pub(crate) mod junit;
pub(crate) mod markdown;
mod plot;
pub mod summary;
pub(crate) mod terminal;
pub(crate) mod view;

#[cfg(test)]
mod tests;

pub use summary::{
    DriverGrowth, Environment, GrowthDrivers, GrowthSummary, Judging, LeaksSummary, Rejudged,
    RunFacts, SamplingFacts, Summary, TargetSummary, TopSite, TopType, JOINT_METHOD,
};
