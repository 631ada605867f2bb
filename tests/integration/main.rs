//! memsoak's integration tests: the real binary against real processes and
//! the real demo backend, on loopback only. Each test works in a fresh
//! temporary folder and bounds its runs in time.

mod attribution;
mod bad_input;
mod browser;
mod common;
mod docs;
mod faults;
mod frontend;
mod kubernetes;
mod live;
mod load_checks;
mod profilers;
mod profiles;
mod protocols;
mod report;
mod reports;
mod run;
mod sources;
mod workload;
