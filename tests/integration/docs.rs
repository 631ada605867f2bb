//! The documentation a newcomer walks: the README's two commands are the
//! ones CI runs, every relative link of README.md and docs/ leads to a
//! file that exists and, with `#anchor`, to a heading it has, and the
//! manual pages of docs/man/ are the flags of this build.

use std::path::{Path, PathBuf};

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// The fenced code blocks of the README section headed `heading`.
fn code_blocks(markdown: &str, heading: &str) -> Vec<String> {
    let section = markdown
        .split("\n## ")
        .find(|s| s.starts_with(heading))
        .unwrap_or_else(|| panic!("README.md has a section '## {heading}'"));
    section
        .split("```")
        .skip(1)
        .step_by(2)
        .map(|b| b.trim().to_string())
        .collect()
}

#[test]
fn the_readme_two_commands_are_the_ones_ci_runs() {
    let readme = std::fs::read_to_string(root().join("README.md")).unwrap();
    let commands = code_blocks(&readme, "The two commands");
    assert_eq!(commands, ["cargo run --release -- run", "scripts/test"]);
    let ci = std::fs::read_to_string(root().join(".ci/run")).unwrap();
    assert!(
        ci.lines().any(|l| l.trim() == commands[1]),
        ".ci/run runs the README's test command as written"
    );
    assert!(root().join(&commands[1]).is_file());
}

/// GitHub's anchor of a heading: lower case, punctuation dropped, spaces
/// as hyphens.
fn anchor(heading: &str) -> String {
    heading
        .trim()
        .to_lowercase()
        .chars()
        .filter_map(|c| match c {
            ' ' => Some('-'),
            c if c.is_alphanumeric() || c == '-' || c == '_' => Some(c),
            _ => None,
        })
        .collect()
}

fn anchors(markdown: &str) -> Vec<String> {
    let mut fenced = false;
    markdown
        .lines()
        .filter(|l| {
            if l.starts_with("```") {
                fenced = !fenced;
            }
            !fenced && l.starts_with('#')
        })
        .map(|l| anchor(l.trim_start_matches('#')))
        .collect()
}

/// The relative link targets of a Markdown text, outside code.
fn links(markdown: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut fenced = false;
    for line in markdown.lines() {
        if line.starts_with("```") {
            fenced = !fenced;
        }
        if fenced {
            continue;
        }
        for (i, _) in line.match_indices("](") {
            let rest = &line[i + 2..];
            if let Some(end) = rest.find(')') {
                let target = &rest[..end];
                if !target.contains("://") && !target.starts_with("mailto:") {
                    out.push(target.to_string());
                }
            }
        }
    }
    out
}

#[test]
fn every_link_of_the_readme_and_docs_resolves() {
    let mut pages = vec![root().join("README.md"), root().join("BENCHMARKS.md")];
    for entry in std::fs::read_dir(root().join("docs")).unwrap().flatten() {
        if entry.path().extension().is_some_and(|e| e == "md") {
            pages.push(entry.path());
        }
    }
    let mut broken = Vec::new();
    for page in &pages {
        let text = std::fs::read_to_string(page).unwrap();
        let dir = page.parent().unwrap();
        for link in links(&text) {
            let (file, fragment) = link.split_once('#').unwrap_or((&link, ""));
            let path: PathBuf = if file.is_empty() {
                page.clone()
            } else {
                dir.join(file)
            };
            if !path.exists() {
                broken.push(format!("{}: {link} (no such file)", page.display()));
                continue;
            }
            if !fragment.is_empty() && path.extension().is_some_and(|e| e == "md") {
                let target = std::fs::read_to_string(&path).unwrap();
                if !anchors(&target).iter().any(|a| a == fragment) {
                    broken.push(format!("{}: {link} (no such heading)", page.display()));
                }
            }
        }
    }
    assert!(broken.is_empty(), "broken links:\n{}", broken.join("\n"));
    assert!(Path::new(&root().join("docs/protocols.md")).is_file());
}

/// The manual pages of `docs/man/`, rendered from the clap definitions
/// (`memsoak.1` and one page per command).
fn manual_pages() -> Vec<(String, Vec<u8>)> {
    let mut cmd = <memsoak::cli::Cli as clap::CommandFactory>::command();
    cmd.build();
    let mut commands = vec![("memsoak".to_string(), cmd.clone())];
    for sub in cmd
        .get_subcommands()
        .filter(|s| !s.is_hide_set() && s.get_name() != "help")
    {
        let name = format!("memsoak-{}", sub.get_name());
        let page_name: &'static str = name.clone().leak();
        commands.push((name, sub.clone().name(page_name)));
    }
    commands
        .into_iter()
        .map(|(name, c)| {
            let mut page = Vec::new();
            clap_mangen::Man::new(c).render(&mut page).unwrap();
            (format!("{name}.1"), page)
        })
        .collect()
}

#[test]
fn the_manual_pages_are_the_flags_of_this_build() {
    let dir = root().join("docs/man");
    let pages = manual_pages();
    if std::env::var_os("MEMSOAK_WRITE_MAN").is_some() {
        std::fs::create_dir_all(&dir).unwrap();
        for (name, page) in &pages {
            std::fs::write(dir.join(name), page).unwrap();
        }
    }
    let mut stale = Vec::new();
    for (name, page) in &pages {
        if std::fs::read(dir.join(name)).ok().as_deref() != Some(page.as_slice()) {
            stale.push(name.clone());
        }
    }
    let mut present: Vec<String> = std::fs::read_dir(&dir)
        .map(|d| {
            d.flatten()
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default();
    present.sort();
    let mut wanted: Vec<String> = pages.into_iter().map(|(n, _)| n).collect();
    wanted.sort();
    assert!(
        stale.is_empty() && present == wanted,
        "docs/man is out of date ({stale:?}; present {present:?}): \
         MEMSOAK_WRITE_MAN=1 cargo test --test integration docs:: rewrites it"
    );
}
