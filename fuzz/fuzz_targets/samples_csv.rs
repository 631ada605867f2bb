//! `memsoak report`'s CSV reading on arbitrary bytes: the two streaming
//! passes and the judgement (`judge_csv`), the chart series reader, and
//! the attribution's readers of `breakdown.csv` and `processes.csv`
//! (`breakdown::attribute`). Any file must end in a verdict or an error
//! message, never a panic.
#![no_main]

use std::path::PathBuf;
use std::sync::OnceLock;

use std::time::Duration;

use libfuzzer_sys::fuzz_target;
use memsoak::analysis::attribution::RunContext;
use memsoak::analysis::{BlockStat, Criteria, Metric, WarmupRule};
use memsoak::recording::breakdown;
use memsoak::cli::JudgeArgs;
use memsoak::units::Rate;
use memsoak::commands::report::judge_csv;
use memsoak::output::chart_data;
use memsoak::recording::samples::Recording;

fn scratch() -> &'static (PathBuf, PathBuf) {
    static PATHS: OnceLock<(PathBuf, PathBuf)> = OnceLock::new();
    PATHS.get_or_init(|| {
        let dir = std::env::temp_dir().join(format!("memsoak-fuzz-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("a scratch folder");
        (dir.join("samples.csv"), dir.join("workload.csv"))
    })
}

fn criteria() -> Criteria {
    Criteria {
        warmup: WarmupRule::Fixed(Duration::from_secs(1)),
        max_growth_bytes_per_hour: 10e6,
        max_rss_bytes: None,
        block_stat: BlockStat::Min,
    }
}

fuzz_target!(|data: &[u8]| {
    let (samples, workload) = scratch();
    std::fs::write(samples, data).expect("scratch file written");
    // The same bytes as a workload.csv, read beside the samples.
    std::fs::write(workload, data).expect("scratch file written");
    let judge = JudgeArgs {
        warmup: None,
        max_growth: None,
        max_rss: None,
        metric: None,
        on_inconclusive: None,
    };
    let _ = judge_csv(samples, &judge, None, None);
    if let Ok(recording) = Recording::scan(samples) {
        let _ = chart_data::read(&recording, Some(workload), 320);
        // The same bytes as the run's breakdown and process rows.
        let dir = samples.parent().expect("a scratch folder");
        std::fs::write(dir.join("breakdown.csv"), data).expect("scratch file written");
        std::fs::write(dir.join("processes.csv"), data).expect("scratch file written");
        let limit = Rate::parse("10MB/h").expect("a rate");
        for metric in [Metric::Anon, Metric::Pss, Metric::Rss] {
            let run = RunContext {
                metric,
                growth: None,
                unit: &limit.unit,
                connects_judged: Some((10, 60.0)),
            };
            let _ = breakdown::attribute(dir, &recording, &criteria(), &run);
        }
    }
});
