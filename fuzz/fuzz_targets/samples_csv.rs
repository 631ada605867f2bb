//! `memsoak report`'s CSV reading on arbitrary bytes: the two streaming
//! passes and the judgement (`judge_csv`), and the chart series reader.
//! Any file must end in a verdict or an error message, never a panic.
#![no_main]

use std::path::PathBuf;
use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use memsoak::cli::JudgeArgs;
use memsoak::commands::report::judge_csv;
use memsoak::output::series;
use memsoak::samples::Recording;

fn scratch() -> &'static (PathBuf, PathBuf) {
    static PATHS: OnceLock<(PathBuf, PathBuf)> = OnceLock::new();
    PATHS.get_or_init(|| {
        let dir = std::env::temp_dir().join(format!("memsoak-fuzz-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("a scratch folder");
        (dir.join("samples.csv"), dir.join("workload.csv"))
    })
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
    let _ = judge_csv(samples, &judge, None);
    if let Ok(recording) = Recording::scan(samples) {
        let _ = series::read(&recording, Some(workload), 320);
    }
});
