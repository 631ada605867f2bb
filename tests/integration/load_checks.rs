//! Load checks against real servers on loopback: a load that never
//! arrived is a load failure (exit 6), never a memory verdict; a clean
//! load passes every check; restarts a health answer shows are counted.

use crate::common::*;

/// The demo backend launched by memsoak, with extra flags.
fn demo(extra: &[&str]) -> String {
    let args: String = extra.iter().map(|a| format!(", \"{a}\"")).collect();
    format!(
        r#"[target]
command = ["{{memsoak}}", "demo-backend", "--port", "{{port}}"{args}]
ready_url = "http://127.0.0.1:{{port}}/health"
"#
    )
}

/// An agent workload posting to the demo backend's chat at `rate`, its
/// base URL with `suffix` (a wrong prefix makes every request fail).
fn agents(suffix: &str, rate: &str) -> String {
    format!(
        r#"
[[workload]]
name = "agents"
kind = "agent"
base_url = "http://127.0.0.1:{{port}}{suffix}"
rate = "{rate}"

[[workload.step]]
method = "POST"
path = "/agent/chat"
json = '{{"message": "hi {{seq}}"}}'
"#
    )
}

/// Short runs: the load is what is checked, so the growth limit is out of
/// the way.
const FLAGS: &str = "--duration 6s --warmup 1s --interval 500ms --max-growth 100GB/h";

fn checks(s: &serde_json::Value) -> Vec<(String, String, bool)> {
    s["load_checks"]
        .as_array()
        .expect("load_checks")
        .iter()
        .map(|c| {
            (
                c["workload"].as_str().unwrap().to_string(),
                c["check"].as_str().unwrap().to_string(),
                c["passed"].as_bool().unwrap(),
            )
        })
        .collect()
}

fn failed(s: &serde_json::Value) -> Vec<String> {
    checks(s)
        .into_iter()
        .filter(|(_, _, passed)| !passed)
        .map(|(w, c, _)| format!("{w}:{c}"))
        .collect()
}

/// What every load failure shows: exit 6, the verdict word, the failed
/// check first, and no PASS or FAIL anywhere a person or CI reads it.
fn assert_load_failure(r: &Soak, check_line: &str) {
    assert_eq!(r.code(), Some(6), "{}", r.describe());
    let s = r.summary();
    assert_eq!(s["verdict"], "load_failure", "{s}");
    assert_eq!(s["exit_code"], 6);
    assert!(
        s["reasons"][0]
            .as_str()
            .unwrap()
            .starts_with("the load failed"),
        "{s}"
    );
    let out = r.stdout();
    assert!(
        out.starts_with("memsoak: LOAD FAILURE: load check failed"),
        "{out}"
    );
    assert!(out.contains("(not judged)"), "{out}");
    assert!(out.contains(check_line), "{out}");
    for word in ["PASS", "FAIL:"] {
        assert!(!out.lines().next().unwrap().contains(word), "{out}");
    }
    let md = std::fs::read_to_string(r.dir.join("report.md")).unwrap();
    assert!(md.contains("LOAD FAILURE"), "{md}");
    assert!(md.contains(check_line), "{md}");
    let html = std::fs::read_to_string(r.dir.join("report.html")).unwrap();
    assert!(html.contains("<b>LOAD FAILURE</b>"), "banner");
    assert!(html.contains("<h2>Load checks</h2>"), "checks section");
    let xml = std::fs::read_to_string(r.dir.join("junit.xml")).unwrap();
    roxmltree::Document::parse(&xml).expect("valid XML");
    assert!(
        xml.contains("not judged: the load failed its checks"),
        "{xml}"
    );
    assert!(xml.contains("<failure"), "{xml}");
}

#[test]
fn frames_the_server_discards_are_a_load_failure_and_report_judges_it_again() {
    let profile = demo(&[])
        + r#"
[[workload]]
name = "editors"
kind = "collab"
url = "ws://127.0.0.1:{port}/discard/{doc}"
docs = 2
clients_per_doc = 3
rate = "5/s"
"#;
    let r = soak_profile(&profile, FLAGS, &[]);
    assert_load_failure(&r, "✗ editors: delivery loss 100%");
    let s = r.summary();
    assert_eq!(failed(&s), ["editors:lost"], "{s}");
    // The load that was sent was sent: the other checks pass.
    assert!(checks(&s).contains(&("editors".into(), "errors".into(), true)));
    assert!(checks(&s).contains(&("editors".into(), "rate".into(), true)));
    let xml = std::fs::read_to_string(r.dir.join("junit.xml")).unwrap();
    assert!(
        xml.contains("name=\"load check: editors delivery loss\""),
        "{xml}"
    );

    // `report` judges the checks again from the recording, into its own folder.
    let again = r.dir.parent().unwrap().join("again");
    let o = run(&[
        "report",
        r.dir.to_str().unwrap(),
        "--out",
        again.to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(6), "{}", describe(&o));
    let s2 = summary(&again);
    assert_eq!(s2["verdict"], "load_failure");
    assert_eq!(failed(&s2), ["editors:lost"]);
}

#[test]
fn connections_refused_are_a_load_failure() {
    let closed = ClosedPort::new();
    let profile = demo(&[])
        + &format!(
            r#"
[[workload]]
name = "editors"
kind = "collab"
url = "ws://127.0.0.1:{}/collab/{{doc}}"
docs = 2
clients_per_doc = 2
rate = "5/s"
backoff_initial = "200ms"
backoff_max = "1s"
"#,
            closed.port
        );
    let r = soak_profile(&profile, FLAGS, &[]);
    assert_load_failure(&r, "✗ editors: errors 100%");
    let s = r.summary();
    assert_eq!(
        failed(&s),
        ["editors:errors", "editors:rate", "editors:unconnected"],
        "{s}"
    );
    let w = workload(&s, "editors");
    assert_eq!(num(&w["clients_started"]), 4, "{w}");
    assert_eq!(num(&w["never_connected"]), 4, "{w}");
}

#[test]
fn an_agent_whose_every_request_fails_is_a_load_failure() {
    let profile = demo(&[]) + &agents("/wrong-prefix", "10/s");
    let r = soak_profile(&profile, FLAGS, &[]);
    assert_load_failure(&r, "✗ agents: errors 100%");
    assert_eq!(failed(&r.summary()), ["agents:errors"]);
}

#[test]
fn a_clean_load_passes_every_check_and_profiles_set_the_limits() {
    let profile = demo(&[])
        + r#"
[[workload]]
name = "editors"
kind = "collab"
url = "ws://127.0.0.1:{port}/collab/{doc}"
docs = 2
clients_per_doc = 3
rate = "5/s"

[workload.checks]
max_lost = "1%"
min_rate = "80%"

"# + &agents("", "5/s");
    let r = soak_profile(&profile, FLAGS, &[]);
    assert_eq!(r.code(), Some(0), "{}", r.describe());
    let s = r.summary();
    assert_eq!(s["verdict"], "pass");
    let all = checks(&s);
    for want in [
        ("editors", "lost"),
        ("editors", "errors"),
        ("editors", "rate"),
        ("editors", "unconnected"),
        ("editors", "gave_up"),
        ("agents", "errors"),
        ("agents", "rate"),
    ] {
        assert!(
            all.contains(&(want.0.into(), want.1.into(), true)),
            "{want:?} in {all:?}"
        );
    }
    let editors = workload(&s, "editors");
    assert_eq!(editors["load_limits"]["max_lost"], 0.01, "{editors}");
    assert_eq!(editors["load_limits"]["min_rate"], 0.8, "{editors}");
    let out = r.stdout();
    assert!(out.contains("load checks:"), "{out}");
    assert!(out.contains("✓ editors: delivery loss 0% (0 of "), "{out}");
    assert!(out.contains("✓ agents: send rate "), "{out}");
}

#[test]
fn a_check_that_cannot_apply_is_a_profile_error() {
    let profile = demo(&[])
        + r#"
[[workload]]
name = "agents"
kind = "agent"
base_url = "http://127.0.0.1:{port}"
think_time = "1s"

[[workload.step]]
path = "/health"

[workload.checks]
min_rate = "90%"
"#;
    let r = soak_profile(&profile, FLAGS, &[]);
    assert_eq!(r.code(), Some(2), "{}", r.describe());
    let err = r.stderr();
    assert!(err.contains("min_rate"), "{err}");
    assert!(
        err.contains("applies only to workloads that send at a rate"),
        "{err}"
    );
}

#[test]
fn restarts_in_a_health_answer_are_counted_per_agent_and_checked() {
    // The planner restarts every 20 s over a 2-minute run.
    let profile = demo(&["--restart-agent-every", "20s"])
        + &agents("", "2/s")
        + r#"

[[workload.step]]
name = "agents health"
kind = "health"
path = "/agents/health"
every = "2s"
restarts = "agents.*.restart_count"
track = ["agents.*.status"]

[workload.checks]
max_restarts = 2
"#;
    let r = soak_profile(
        &profile,
        "--duration 2m --warmup 10s --interval 1s --max-growth 100GB/h",
        &[],
    );
    assert_load_failure(&r, "✗ agents: restarts of one item ");
    let s = r.summary();
    assert_eq!(failed(&s), ["agents:restarts"], "{s}");
    let h = &workload(&s, "agents")["health"][0];
    assert_eq!(h["restarts_path"], "agents.*.restart_count");
    let planner = num(&h["restarts"]["planner"]);
    // Six periods fit in the run and the backend's start before it; the
    // first poll is the baseline.
    assert!((4..=7).contains(&planner), "{h}");
    assert_eq!(num(&h["restarts"]["assistant"]), 0, "{h}");
    let times = h["restart_times_s"]["planner"].as_array().unwrap();
    assert_eq!(times.len() as u64, planner, "{h}");
    let out = r.stdout();
    assert!(
        out.contains(&format!(
            "restarts in 'agents health': planner {planner} (at "
        )),
        "{out}"
    );
    // Every poll's followed values are in health.csv.
    let csv = std::fs::read_to_string(r.dir.join("health.csv")).unwrap();
    let mut lines = csv.lines();
    assert_eq!(
        lines.next(),
        Some("elapsed_s,workload,step,path,item,value")
    );
    let planner_counts: Vec<u64> = csv
        .lines()
        .filter(|l| l.contains(",agents.*.restart_count,planner,"))
        .map(|l| l.rsplit(',').next().unwrap().parse().unwrap())
        .collect();
    assert!(planner_counts.len() >= 40, "{csv}");
    assert!(planner_counts.windows(2).all(|w| w[0] <= w[1]), "{csv}");
    assert!(csv.contains(",agents.*.status,assistant,healthy"), "{csv}");
    let html = std::fs::read_to_string(r.dir.join("report.html")).unwrap();
    assert!(html.contains("<h2>Restarts</h2>"), "restarts section");
    assert_eq!(
        html.matches("planner restarted by").count() as u64,
        planner,
        "one mark per restart"
    );
    let md = std::fs::read_to_string(r.dir.join("report.md")).unwrap();
    assert!(md.contains("restarts in 'agents health': planner"), "{md}");
}

/// Mean sent per interval row of `workload` in `workload.csv`, in blocks
/// where digit `digit` of the block number is 1 and where it is 0.
fn sent_by_level(
    dir: &std::path::Path,
    workload: &str,
    start_s: f64,
    block_s: f64,
    digit: u32,
) -> (f64, f64) {
    let mut rdr = csv::Reader::from_path(dir.join("workload.csv")).unwrap();
    let (mut high, mut low) = ((0.0, 0.0), (0.0, 0.0));
    for r in rdr.records() {
        let r = r.unwrap();
        let t: f64 = r[0].parse().unwrap();
        if &r[1] != workload || t < start_s + 1.0 {
            continue;
        }
        // The row covers the interval before `t`: its middle decides.
        let k = ((t - 0.25 - start_s) / block_s).floor() as u64;
        let into = (t - 0.25 - start_s) - k as f64 * block_s;
        if into < 0.5 || into > block_s - 0.5 {
            continue;
        }
        let sent: f64 = r[3].parse().unwrap();
        let level = if (k >> digit) & 1 == 1 {
            &mut high
        } else {
            &mut low
        };
        level.0 += sent;
        level.1 += 1.0;
    }
    (high.0 / high.1, low.0 / low.1)
}

#[test]
fn the_load_design_varies_each_driver_in_its_own_blocks_and_fits_them() {
    let profile = demo(&[])
        + r#"
[run]
load_design = "alternate"

[[workload]]
name = "editors"
kind = "collab"
url = "ws://127.0.0.1:{port}/collab/{doc}"
docs = 2
clients_per_doc = 3
rate = "4/s"
churn_interval = "6s"

"# + &agents("", "4/s");
    let r = soak_profile(
        &profile,
        "--duration 64s --warmup 16s --interval 500ms --max-growth 100GB/h",
        &[],
    );
    assert_eq!(r.code(), Some(0), "{}", r.describe());
    let s = r.summary();
    let d = &s["load_design"];
    assert_eq!(d["kind"], "alternate", "{s}");
    assert_eq!(d["start_s"], 16.0);
    assert_eq!(d["block_s"], 6.0, "48 s judged in 8 blocks");
    let drivers: Vec<(String, String, u64)> = d["drivers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| {
            (
                x["workload"].as_str().unwrap().into(),
                x["driver"].as_str().unwrap().into(),
                num(&x["digit"]),
            )
        })
        .collect();
    assert_eq!(
        drivers,
        [
            ("editors".into(), "messages".into(), 0),
            ("editors".into(), "connections".into(), 1),
            ("agents".into(), "messages".into(), 2),
        ]
    );
    // Each driver's sends follow its own digit: 1.8× against 0.2×.
    for (workload, digit) in [("editors", 0), ("agents", 2)] {
        let (high, low) = sent_by_level(&r.dir, workload, 16.0, 6.0, digit);
        assert!(
            high > 4.0 * low,
            "{workload}: {high} per row high, {low} low"
        );
    }
    // The agent's blocks are not the editors': digit 0 does not move it.
    let (high, low) = sent_by_level(&r.dir, "agents", 16.0, 6.0, 0);
    assert!(
        high < 2.0 * low && low < 2.0 * high,
        "agents on digit 0: {high} / {low}"
    );
    // Planned sends follow the design: the rate check still holds.
    assert!(failed(&s).is_empty(), "{s}");
    let g = &s["growth_drivers"];
    assert_eq!(g["drivers"].as_array().unwrap().len(), 3, "{s}");
    for d in g["drivers"].as_array().unwrap() {
        let ci = d["ci95_bytes"].as_array().unwrap();
        assert!(ci[0].as_f64().unwrap() <= ci[1].as_f64().unwrap(), "{d}");
    }
    let editors = workload(&s, "editors");
    assert!(
        editors["joint_growth_per_message_bytes"].is_number(),
        "{editors}"
    );
    assert!(
        editors["joint_growth_per_connection_bytes"].is_number(),
        "{editors}"
    );
    let out = r.stdout();
    assert!(
        out.contains("growth by driver (load design, joint fit):"),
        "{out}"
    );
    assert!(out.contains("bytes per connection (95% CI"), "{out}");
    // `report` fits it again from the folder, to the same figures.
    let again = r.dir.parent().unwrap().join("again");
    let o = run(&[
        "report",
        r.dir.to_str().unwrap(),
        "--out",
        again.to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", describe(&o));
    let s2 = summary(&again);
    let close = |a: &serde_json::Value, b: &serde_json::Value| {
        let (a, b) = (a.as_f64().unwrap(), b.as_f64().unwrap());
        (a - b).abs() <= 0.01 * a.abs().max(b.abs()).max(1.0)
    };
    let (g1, g2) = (&s["growth_drivers"], &s2["growth_drivers"]);
    assert!(
        close(&g1["time_bytes_per_hour"], &g2["time_bytes_per_hour"]),
        "{g1} / {g2}"
    );
    for i in 0..3 {
        let (a, b) = (&g1["drivers"][i], &g2["drivers"][i]);
        assert!(
            close(&a["bytes_per_unit"], &b["bytes_per_unit"]),
            "{a} / {b}"
        );
    }
}

#[test]
fn a_load_design_with_nothing_to_vary_is_a_profile_error() {
    let profile = demo(&[])
        + r#"
[run]
load_design = "alternate"

[[workload]]
name = "agents"
kind = "agent"
base_url = "http://127.0.0.1:{port}"
think_time = "1s"

[[workload.step]]
path = "/health"
"#;
    let r = soak_profile(&profile, FLAGS, &[]);
    assert_eq!(r.code(), Some(2), "{}", r.describe());
    assert!(
        r.stderr()
            .contains("varies the rates of workloads that send at a rate"),
        "{}",
        r.stderr()
    );
    let r = soak_profile(&demo(&[]), &format!("{FLAGS} --load-design sometimes"), &[]);
    assert_eq!(r.code(), Some(2), "{}", r.describe());
    assert!(r.stderr().contains("steady or alternate"), "{}", r.stderr());
}

/// One driver's joint-fit figure: estimate and 95% interval.
fn driver_fit(s: &serde_json::Value, workload: &str, driver: &str) -> (f64, f64, f64) {
    let g = &s["growth_drivers"];
    let d = g["drivers"]
        .as_array()
        .unwrap()
        .iter()
        .find(|d| d["workload"] == workload && d["driver"] == driver)
        .unwrap_or_else(|| panic!("no {workload} {driver} in {g}"));
    let ci = &d["ci95_bytes"];
    (
        d["bytes_per_unit"].as_f64().unwrap(),
        ci[0].as_f64().unwrap(),
        ci[1].as_f64().unwrap(),
    )
}

#[test]
fn the_load_design_tells_a_timer_a_message_and_a_connection_leak_apart() {
    // The demo backend's three leaks, one per backend, soaked side by
    // side under the same design: each is found on its own driver (its
    // interval holds the injected value and excludes 0) and every other
    // driver's interval holds 0.
    let soak = |leak: &'static [&'static str]| {
        std::thread::spawn(move || {
            let profile = demo(leak)
                + r#"
[run]
load_design = "alternate"

[[workload]]
name = "editors"
kind = "collab"
url = "ws://127.0.0.1:{port}/collab/{doc}"
docs = 2
clients_per_doc = 3
rate = "10/s"
churn_interval = "5s"
"# + &agents("", "5/s");
            soak_profile(
                &profile,
                "--duration 4m30s --warmup 1m --interval 1s --max-growth 100GB/h",
                &[],
            )
        })
    };
    let timer = soak(&["--leak", "300MB/h"]);
    let message = soak(&["--leak-per-message", "5000"]);
    let connection = soak(&["--leak-per-connection", "100000"]);
    let holds = |(_, lo, hi): (f64, f64, f64), v: f64| lo <= v && v <= hi;
    let cases = [
        (timer.join().unwrap(), None),
        (message.join().unwrap(), Some(("messages", 5000.0))),
        (connection.join().unwrap(), Some(("connections", 100000.0))),
    ];
    for (r, leak) in &cases {
        assert_eq!(r.code(), Some(0), "{}", r.describe());
        let s = r.summary();
        assert!(failed(&s).is_empty(), "{s}");
        let g = &s["growth_drivers"];
        let time = &g["time_ci95_bytes_per_hour"];
        let (lo, hi) = (time[0].as_f64().unwrap(), time[1].as_f64().unwrap());
        if leak.is_none() {
            assert!(lo > 0.0 && lo <= 300e6 && 300e6 <= hi, "time-driven: {g}");
        } else {
            assert!(lo <= 0.0 && 0.0 <= hi, "time-driven: {g}");
        }
        for (workload, driver) in [
            ("editors", "messages"),
            ("editors", "connections"),
            ("agents", "messages"),
        ] {
            let fit = driver_fit(&s, workload, driver);
            match leak {
                Some((d, v)) if workload == "editors" && *d == driver => {
                    assert!(fit.1 > 0.0 && holds(fit, *v), "{workload} {driver}: {g}");
                }
                _ => assert!(holds(fit, 0.0), "{workload} {driver}: {g}"),
            }
        }
    }
}
