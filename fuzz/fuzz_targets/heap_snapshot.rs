//! The heap snapshot reader on arbitrary bytes: the streaming pass over
//! `snapshot.meta`, `nodes` and `strings`, and the comparison of two
//! snapshots. Any input must end in a summary or an error naming the
//! file, never a panic.
#![no_main]

use std::path::Path;

use libfuzzer_sys::fuzz_target;
use memsoak::devtools::snapshot::{diff, summarise_from};

fuzz_target!(|data: &[u8]| {
    match summarise_from(data, Path::new("fuzz.heapsnapshot")) {
        Ok(s) => {
            // Compared with itself, nothing is gained.
            let d = diff(&s, &s);
            assert!(d.constructors.is_empty(), "{d:?}");
            assert_eq!(d.detached_nodes.delta, 0);
        }
        Err(e) => assert!(e.contains("fuzz.heapsnapshot"), "{e}"),
    }
});
