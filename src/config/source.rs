//! The memory source of a run, decided: `--cgroup`, `--prometheus`,
//! `--cdp` or `--browser` over `[source]`, and what it must agree on with
//! the target and the judging settings. A flag naming a source replaces
//! the profile's choice of source; a browser's options (`executable`,
//! `args`, `gc_interval`, …) still come from `[source] cdp`.

use super::{ConfigError, Inputs, JudgeSettings, Placeholders};
use crate::analysis::Metric;
use crate::devtools::browser::BrowserSpec;
use crate::process::spec::TargetSpec;
use crate::source::{CdpSpec, CgroupSpec, PageSpec, PrometheusSpec, SourceSpec};

/// Schemes a launched browser is pointed at.
const PAGE_SCHEMES: [&str; 5] = ["http", "https", "file", "about", "data"];

impl Inputs<'_> {
    /// The memory source: `--cgroup`, `--prometheus`, `--cdp` or
    /// `--browser` over `[source]`.
    pub(super) fn memory_source(
        &self,
        expander: &mut Placeholders,
    ) -> Result<SourceSpec, ConfigError> {
        let (a, m) = (&self.args.source, &self.profile.memory);
        let invalid = ConfigError::Invalid;
        let flags =
            a.cgroup.is_some() || a.prometheus.is_some() || a.cdp.is_some() || a.browser.is_some();
        let set: Vec<&str> = [
            ("cgroup", m.cgroup.is_some()),
            ("prometheus", m.prometheus.is_some()),
            ("cdp", m.cdp.is_some()),
        ]
        .into_iter()
        .filter_map(|(k, on)| on.then_some(k))
        .collect();
        if !flags && set.len() > 1 {
            return Err(invalid(format!(
                "{}[source] sets both '{}' and '{}': choose one",
                self.profile.at(&["source", set[1]]),
                set[0],
                set[1]
            )));
        }
        if let Some(spec) = self.page_source(expander)? {
            return Ok(SourceSpec::Cdp(spec));
        }
        let cgroup = if flags {
            a.cgroup.clone()
        } else {
            m.cgroup.clone()
        };
        if let Some(path) = cgroup {
            if path.as_os_str().is_empty() {
                return Err(invalid(format!(
                    "{}the cgroup must be a folder, a path as in /proc/PID/cgroup, or `new`",
                    self.at(a.cgroup.is_some(), &["source", "cgroup"])
                )));
            }
            return Ok(SourceSpec::Cgroup(if path.as_os_str() == "new" {
                CgroupSpec::Fresh
            } else {
                CgroupSpec::Existing(path)
            }));
        }
        self.prometheus_source(flags)
    }

    /// Prometheus: `--prometheus URL --query Q` over `[source]`; the tree
    /// when neither names it.
    fn prometheus_source(&self, flags: bool) -> Result<SourceSpec, ConfigError> {
        let (a, m) = (&self.args.source, &self.profile.memory);
        let invalid = ConfigError::Invalid;
        let (url, query, from_flag) = match (&a.prometheus, &m.prometheus) {
            (Some(u), _) => (u.clone(), a.query.clone(), true),
            (None, Some(u)) if !flags => (u.clone(), m.query.clone(), false),
            _ => {
                if m.query.is_some() || m.step.is_some() || !m.headers.is_empty() {
                    return Err(invalid(format!(
                        "{}[source] sets Prometheus options but no 'prometheus' URL",
                        self.profile.at(&["source"])
                    )));
                }
                return Ok(SourceSpec::Tree);
            }
        };
        let Some(query) = query.filter(|q| !q.trim().is_empty()) else {
            return Err(invalid(format!(
                "{}Prometheus needs a query: one series per label set, e.g. process_resident_memory_bytes{{job=\"api\"}}",
                self.at(from_flag, &["source", "query"])
            )));
        };
        let headers = if from_flag {
            a.prometheus_header
                .iter()
                .map(|h| match crate::source::parse_header(h) {
                    Some(pair) => Ok(pair),
                    None => Err(invalid(
                        "--prometheus-header must be `Name: value`, e.g. 'Authorization: Bearer ${PROM_TOKEN}' (the value is not shown here)".into(),
                    )),
                })
                .collect::<Result<std::collections::BTreeMap<_, _>, _>>()?
        } else {
            m.headers.clone()
        };
        for (k, v) in &headers {
            crate::secrets::check_env(v).map_err(|why| {
                invalid(format!(
                    "{}header '{k}': {why}",
                    self.at(from_flag, &["source", "headers"])
                ))
            })?;
        }
        let spec = PrometheusSpec {
            trust: self.tls()?,
            url,
            query,
            step: if from_flag {
                a.step
            } else {
                m.step.map(|d| d.0)
            },
            headers,
            restarts_fail: if from_flag {
                a.restarts_fail
            } else {
                m.restarts == Some(crate::profile::Restarts::Fail)
            },
        };
        // The URL is checked now (its `${ENV}` too), not when the run starts.
        crate::source::prometheus::connection(&spec).map_err(|e| {
            invalid(format!(
                "{}{e:#}",
                self.at(from_flag, &["source", "prometheus"])
            ))
        })?;
        Ok(SourceSpec::Prometheus(spec))
    }

    /// What the source and the target must agree on.
    pub(super) fn check_source(
        &self,
        source: &SourceSpec,
        target: &TargetSpec,
        judge: &JudgeSettings,
    ) -> Result<(), ConfigError> {
        let invalid = ConfigError::Invalid;
        let a = &self.args.source;
        let from_flag =
            a.cgroup.is_some() || a.prometheus.is_some() || a.cdp.is_some() || a.browser.is_some();
        match source {
            SourceSpec::Cdp(_) => Ok(()),
            _ if judge.metric.is_some_and(|m| m.is_page_heap()) => Err(invalid(format!(
                "{}{} is a browser page's heap: give the page with --cdp URL or --browser URL ([source] cdp = {{...}})",
                self.at(self.args.judge.metric.is_some(), &["limits", "metric"]),
                judge.metric.unwrap_or(Metric::JsHeap)
            ))),
            SourceSpec::Cgroup(CgroupSpec::Fresh) if !matches!(target, TargetSpec::Launch(_)) => {
                Err(invalid(format!(
                    "{}`cgroup = new` makes a cgroup for a target memsoak launches: give a command (`-- COMMAND` or [target] command), or the path of an existing cgroup",
                    self.at(from_flag, &["source", "cgroup"])
                )))
            }
            SourceSpec::Prometheus(_)
                if judge.metric.is_some_and(|m| !matches!(m, Metric::Query | Metric::Rss)) =>
            {
                Err(invalid(format!(
                    "{}with Prometheus, memsoak judges the query's value (the metric `query`, in the query_sum_bytes column): choose what to measure in the query, not with the metric",
                    self.at(self.args.judge.metric.is_some(), &["limits", "metric"])
                )))
            }
            _ => Ok(()),
        }
    }

    /// A browser page: `--cdp URL` / `--browser URL` over `[source] cdp`.
    fn page_source(&self, expander: &mut Placeholders) -> Result<Option<CdpSpec>, ConfigError> {
        let (a, m) = (&self.args.source, &self.profile.memory);
        let invalid = ConfigError::Invalid;
        let other_flag = a.cgroup.is_some() || a.prometheus.is_some();
        let table = m.cdp.clone().unwrap_or_default();
        let from_flag = a.cdp.is_some() || a.browser.is_some();
        if !from_flag && (other_flag || m.cdp.is_none()) {
            if a.heap_snapshots {
                return Err(invalid(
                    "--heap-snapshots are of a browser page: give --cdp URL or --browser URL too"
                        .into(),
                ));
            }
            return Ok(None);
        }
        let at = |key: &str| self.at(from_flag, &["source", "cdp", key]);
        let endpoint = a.cdp.clone().or(if from_flag {
            None
        } else {
            table.endpoint.clone()
        });
        let browser = a.browser.clone().or(if from_flag {
            None
        } else {
            table.browser.clone()
        });
        let page = match (endpoint, browser) {
            (Some(_), Some(_)) => {
                return Err(invalid(format!(
                    "{}[source] cdp sets both 'endpoint' (a running browser) and 'browser' (a page memsoak opens in a browser it launches): choose one",
                    at("browser")
                )))
            }
            (None, None) => {
                return Err(invalid(format!(
                    "{}[source] cdp needs 'endpoint' (a running browser's DevTools address, e.g. \"http://127.0.0.1:9222\") or 'browser' (a URL memsoak opens in a headless Chromium)",
                    self.profile.at(&["source", "cdp"])
                )))
            }
            (Some(endpoint), None) => self.attach_page(expander, &table, &endpoint)?,
            (None, Some(url)) => self.launch_page(expander, &table, &url)?,
        };
        Ok(Some(CdpSpec {
            page,
            gc_interval: table.gc_interval.map(|d| d.0),
            heap_snapshots: a.heap_snapshots || table.heap_snapshots == Some(true),
        }))
    }

    /// A page of a running browser.
    fn attach_page(
        &self,
        expander: &mut Placeholders,
        table: &crate::profile::CdpSection,
        endpoint: &str,
    ) -> Result<PageSpec, ConfigError> {
        let a = &self.args.source;
        let invalid = ConfigError::Invalid;
        let from_flag = a.cdp.is_some() || a.browser.is_some();
        let at = |key: &str| self.at(from_flag, &["source", "cdp", key]);
        let endpoint = expander.expand(endpoint)?;
        crate::devtools::endpoint::Endpoint::parse(&endpoint)
            .map_err(|e| invalid(format!("{}{e}", at("endpoint"))))?;
        for (key, given) in [
            ("executable", table.executable.is_some()),
            ("headless", table.headless.is_some()),
            ("args", table.args.is_some()),
        ] {
            if given && !from_flag {
                return Err(invalid(format!(
                    "{}'{key}' is for a browser memsoak launches ('browser'); a running browser (--cdp, 'endpoint') is used as it is",
                    self.profile.at(&["source", "cdp", key])
                )));
            }
        }
        Ok(PageSpec::Attach {
            endpoint,
            target: a.cdp_target.clone().or(if a.cdp.is_some() {
                None
            } else {
                table.target.clone()
            }),
        })
    }

    /// A page memsoak opens in a browser it launches.
    fn launch_page(
        &self,
        expander: &mut Placeholders,
        table: &crate::profile::CdpSection,
        url: &str,
    ) -> Result<PageSpec, ConfigError> {
        let a = &self.args.source;
        let invalid = ConfigError::Invalid;
        let from_flag = a.cdp.is_some() || a.browser.is_some();
        let at = |key: &str| self.at(from_flag, &["source", "cdp", key]);
        // `${NAME}` stays unexpanded here (outputs show the URL as
        // written) and is expanded when the page is opened.
        let url = expander.expand(url)?;
        crate::secrets::check_env(&url).map_err(|m| invalid(format!("{}{m}", at("browser"))))?;
        let scheme_ok = crate::secrets::expand_env(&url)
            .ok()
            .and_then(|u| reqwest::Url::parse(&u).ok())
            .is_some_and(|u| PAGE_SCHEMES.contains(&u.scheme()));
        if !scheme_ok {
            return Err(invalid(format!(
                "{}'{url}' is not a URL a browser can open: give http://… (e.g. http://127.0.0.1:{{port}}/editor), https://, file:// or about:",
                at("browser")
            )));
        }
        if table.target.is_some() && !from_flag {
            return Err(invalid(format!(
                "{}'target' picks a page of a running browser ('endpoint'); memsoak opens 'browser' itself",
                self.profile.at(&["source", "cdp", "target"])
            )));
        }
        Ok(PageSpec::Launch {
            url,
            browser: BrowserSpec {
                executable: table.executable.clone(),
                headless: table.headless.unwrap_or(true),
                args: table
                    .args
                    .iter()
                    .flatten()
                    .map(|x| expander.expand(x))
                    .collect::<Result<_, _>>()?,
            },
        })
    }
}
