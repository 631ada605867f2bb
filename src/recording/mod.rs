//! The recording a run leaves on disk, and its schemas in one place:
//! `samples.csv` ([`samples`]), `breakdown.csv` and `processes.csv`
//! ([`breakdown`]), `workload.csv` read back ([`load`]). The sampler writes them as readings arrive; `memsoak
//! report`, the attribution, the charts and the fuzz targets stream them
//! back, so nothing about a run's length has to fit in memory.

pub mod breakdown;
pub mod load;
pub mod samples;
