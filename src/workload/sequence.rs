//! A sequence of steps run in order, in a loop, until the run stops: what
//! an agent's HTTP requests and a browser workload's actions have in
//! common. The loop paces the steps (open loop at a rate, or a pause after
//! each), counts each as a send in the workload's and the step's own
//! statistics, and records its latency or its error; what a step *does*
//! is the [`Steps`] of each kind.

use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::watch;

use super::pacing::{sleep_or_stop, until_or_stop, JudgedFrom, OpenLoop};
use super::spec::Pacing;
use super::stats::{bump, ErrorKind, Stats};
use super::Phase;
use crate::units::PerSecond;

/// What one step came to: its latency, or the kind of its error and
/// whether an answer came at all (a reply that failed its check counts as
/// received).
pub(crate) type StepOutcome = Result<Duration, (ErrorKind, bool)>;

/// The steps of one sequence.
pub(crate) trait Steps: Send {
    /// Does step `index` of the sequence, the `seq`-th step taken.
    fn run(&mut self, index: usize, seq: u64) -> impl Future<Output = StepOutcome> + Send;
}

/// Where a sequence's steps are counted: the workload's totals, each
/// step's own, and from when they are judged.
pub(crate) struct Accounting {
    /// The workload's.
    pub(crate) stats: Arc<Stats>,
    /// One per step, in order.
    pub(crate) per_step: Vec<Arc<Stats>>,
    /// The end of warm-up.
    pub(crate) judged_from: JudgedFrom,
}

impl Accounting {
    /// Counts in `stats` and in one fresh [`Stats`] for each of `steps`
    /// steps, judged from `judged_from`.
    pub(crate) fn new(stats: Arc<Stats>, steps: usize, judged_from: Instant) -> Accounting {
        Accounting {
            stats,
            per_step: (0..steps).map(|_| Arc::new(Stats::default())).collect(),
            judged_from: JudgedFrom(judged_from),
        }
    }

    /// Each step's statistics under its name, in order, for the summary.
    pub(crate) fn by_name(&self, names: impl Iterator<Item = String>) -> Vec<(String, Arc<Stats>)> {
        names.zip(self.per_step.iter().cloned()).collect()
    }
}

/// Runs the steps in order, in a loop, paced by `pacing`, until the run
/// closes; a step in flight when sending stops is let finish (drained).
pub(crate) async fn run(
    steps: &mut impl Steps,
    pacing: Pacing,
    driver: Option<super::design::Driver>,
    acc: &Accounting,
    mut phase: watch::Receiver<Phase>,
) {
    let count = acc.per_step.len() as u64;
    if count == 0 {
        return;
    }
    let mut schedule = match pacing {
        Pacing::Rate(rate) => Some(OpenLoop::new(
            PerSecond::period(rate),
            Instant::now(),
            driver,
        )),
        Pacing::Think(_) => None,
    };
    let mut seq: u64 = 0;
    loop {
        let index = (seq % count) as usize;
        if let Some(schedule) = &mut schedule {
            if !until_or_stop(schedule.due(), &mut phase).await {
                return;
            }
            schedule.advance(&acc.stats);
        }
        let started = Instant::now();
        let outcome = tokio::select! {
            o = steps.run(index, seq) => o,
            _ = phase.wait_for(|p| *p == Phase::Close) => return,
        };
        for s in [&acc.stats, &acc.per_step[index]] {
            acc.judged_from.sent(s, started);
            match outcome {
                Ok(latency) => {
                    bump(&s.received);
                    s.latency(latency);
                }
                Err((kind, answered)) => {
                    if answered {
                        bump(&s.received);
                    }
                    s.error(kind);
                }
            }
        }
        seq += 1;
        if let Pacing::Think(pause) = pacing {
            if !sleep_or_stop(pause, &mut phase).await {
                return;
            }
        }
        if *phase.borrow() != Phase::Run {
            return;
        }
    }
}
