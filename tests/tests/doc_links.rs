//! The README and `docs/` as a reader meets them: every relative link resolves to a file in the
//! repository and, with a `#fragment`, to a heading of that file; nothing points outside the
//! repository; the README stays a front door (under 25 KB); every setup page has the common shape.

use std::collections::BTreeSet;
use std::path::{Component, Path, PathBuf};

use whoscalling_tests::workspace_root;

/// The shape every page under docs/setup/ starts with, as its first five `##` headings.
const SETUP_SHAPE: [&str; 5] = [
    "1. What you need",
    "2. Deploy",
    "3. ",
    "4. Check it",
    "5. Troubleshooting",
];

const README_MAX_BYTES: usize = 25_000;

/// Markdown text outside fenced code blocks, line by line (links and headings in code are not).
fn prose_lines(text: &str) -> Vec<&str> {
    let mut fence: Option<&str> = None;
    let mut lines = Vec::new();
    for line in text.lines() {
        let trimmed = line.trim_start();
        match fence {
            Some(marker) if trimmed.starts_with(marker) => fence = None,
            Some(_) => {}
            None if trimmed.starts_with("```") => fence = Some("```"),
            None if trimmed.starts_with("~~~") => fence = Some("~~~"),
            None => lines.push(line),
        }
    }
    lines
}

/// The line without its inline code spans (a `[x](y)` inside backticks is not a link).
fn without_code_spans(line: &str) -> String {
    let mut out = String::new();
    let mut in_code = false;
    for c in line.chars() {
        if c == '`' {
            in_code = !in_code;
        } else if !in_code {
            out.push(c);
        }
    }
    out
}

/// Link targets of inline links `[text](target "title")` and `[text](<target>)`.
fn link_targets(text: &str) -> Vec<String> {
    let mut targets = Vec::new();
    for line in prose_lines(text) {
        let line = without_code_spans(line);
        let mut rest = line.as_str();
        while let Some(at) = rest.find("](") {
            let after = &rest[at + 2..];
            let mut depth = 0usize;
            let end = after.char_indices().find_map(|(i, c)| match c {
                '(' => {
                    depth += 1;
                    None
                }
                ')' if depth == 0 => Some(i),
                ')' => {
                    depth -= 1;
                    None
                }
                _ => None,
            });
            let Some(end) = end else { break };
            let inner = after[..end].trim();
            let target = match inner.strip_prefix('<') {
                Some(angle) => angle.split('>').next().unwrap_or_default(),
                None => inner.split_whitespace().next().unwrap_or_default(),
            };
            targets.push(target.to_string());
            rest = &after[end..];
        }
    }
    targets
}

/// GitHub's heading anchors: the rendered text lowercased, everything but letters, digits, `-`,
/// `_` and spaces dropped, spaces as `-`; a repeated anchor gets `-1`, `-2`, ...
fn anchors(text: &str) -> BTreeSet<String> {
    let mut seen = BTreeSet::new();
    for line in prose_lines(text) {
        let Some(heading) = line.strip_prefix('#') else {
            continue;
        };
        let heading = heading.trim_start_matches('#');
        if !heading.starts_with(' ') {
            continue;
        }
        // Rendered text: a link shows its text, code and emphasis marks vanish.
        let mut rendered = String::new();
        let mut rest = heading.trim();
        while let Some(open) = rest.find('[') {
            rendered.push_str(&rest[..open]);
            match rest[open..].find("](").zip(rest[open..].find(')')) {
                Some((mid, close)) if mid < close => {
                    rendered.push_str(&rest[open + 1..open + mid]);
                    rest = &rest[open + close + 1..];
                }
                _ => {
                    rendered.push('[');
                    rest = &rest[open + 1..];
                }
            }
        }
        rendered.push_str(rest);
        let slug: String = rendered
            .to_lowercase()
            .chars()
            .filter(|c| c.is_alphanumeric() || matches!(c, '-' | '_' | ' '))
            .map(|c| if c == ' ' { '-' } else { c })
            .collect();
        let mut anchor = slug.clone();
        let mut n = 0;
        while seen.contains(&anchor) {
            n += 1;
            anchor = format!("{slug}-{n}");
        }
        seen.insert(anchor);
    }
    seen
}

/// `a/b/../c` without touching the file system; `None` when it climbs out of the root.
fn normalize(path: &Path) -> Option<PathBuf> {
    let mut out = PathBuf::new();
    for component in path.components() {
        match component {
            Component::ParentDir => {
                if !out.pop() {
                    return None;
                }
            }
            Component::CurDir => {}
            Component::Normal(part) => out.push(part),
            Component::RootDir | Component::Prefix(_) => return None,
        }
    }
    Some(out)
}

/// Every problem with the links of one page (`page` relative to `root`), as readable lines.
fn broken_links(root: &Path, page: &Path, text: &str) -> Vec<String> {
    let mut problems = Vec::new();
    for target in link_targets(text) {
        let complain = |why: &str| format!("{}: link `{target}` {why}", page.display());
        if target.starts_with("https://") || target.starts_with("http://") || target.starts_with("mailto:") {
            continue;
        }
        if target.is_empty() || target.starts_with('/') || target.contains("://") {
            problems.push(complain("is not a relative link into the repository"));
            continue;
        }
        let (path, fragment) = target.split_once('#').unwrap_or((&target, ""));
        if path.is_empty() {
            if !anchors(text).contains(fragment) {
                problems.push(complain(&format!(
                    "names #{fragment}, which is no heading of this page"
                )));
            }
            continue;
        }
        let resolved = normalize(&page.parent().unwrap_or(Path::new("")).join(path));
        let Some(resolved) = resolved else {
            problems.push(complain("points outside the repository"));
            continue;
        };
        let on_disk = root.join(&resolved);
        if !on_disk.exists() {
            problems.push(complain(&format!(
                "points at {}, which does not exist",
                resolved.display()
            )));
            continue;
        }
        if !fragment.is_empty() {
            let is_markdown = resolved.extension().is_some_and(|e| e == "md");
            let target_text = if is_markdown {
                std::fs::read_to_string(&on_disk).unwrap_or_default()
            } else {
                String::new()
            };
            if !is_markdown || !anchors(&target_text).contains(fragment) {
                problems.push(complain(&format!(
                    "names #{fragment}, which is no heading of {}",
                    resolved.display()
                )));
            }
        }
    }
    problems
}

fn markdown_pages(root: &Path) -> Vec<PathBuf> {
    fn walk(root: &Path, dir: &Path, pages: &mut Vec<PathBuf>) {
        let mut entries: Vec<_> = std::fs::read_dir(root.join(dir))
            .expect("docs/ is readable")
            .flatten()
            .collect();
        entries.sort_by_key(|e| e.file_name());
        for entry in entries {
            let relative = dir.join(entry.file_name());
            if entry.file_type().is_ok_and(|t| t.is_dir()) {
                walk(root, &relative, pages);
            } else if relative.extension().is_some_and(|e| e == "md") {
                pages.push(relative);
            }
        }
    }
    let mut pages = vec![PathBuf::from("README.md")];
    walk(root, Path::new("docs"), &mut pages);
    pages
}

#[test]
fn every_relative_link_in_the_readme_and_docs_resolves() {
    let root = workspace_root();
    let pages = markdown_pages(&root);
    assert!(
        pages.len() > 10 && pages.iter().any(|p| p.starts_with("docs/setup")),
        "the pages were found: {pages:?}"
    );
    let mut problems = Vec::new();
    let mut links = 0;
    for page in &pages {
        let text = std::fs::read_to_string(root.join(page)).expect("page is UTF-8");
        links += link_targets(&text).len();
        problems.extend(broken_links(&root, page, &text));
        // The team's own notes are no place to send a user.
        if text.contains("/work/") {
            problems.push(format!(
                "{}: mentions a path under /work/, outside the repository",
                page.display()
            ));
        }
    }
    assert!(links > 100, "links were found ({links})");
    assert!(
        problems.is_empty(),
        "{} broken:\n{}",
        problems.len(),
        problems.join("\n")
    );
}

#[test]
fn the_readme_is_a_front_door_and_setup_pages_share_one_shape() {
    let root = workspace_root();
    let readme = std::fs::read_to_string(root.join("README.md")).expect("README");
    assert!(
        readme.len() < README_MAX_BYTES,
        "README.md is {} bytes; move detail to docs/",
        readme.len()
    );
    for section in ["## The two commands", "## Quick start", "## Documentation"] {
        assert!(readme.lines().any(|l| l == section), "README has `{section}`");
    }
    let mut setup_pages = 0;
    for page in markdown_pages(&root)
        .into_iter()
        .filter(|p| p.starts_with("docs/setup"))
    {
        setup_pages += 1;
        let text = std::fs::read_to_string(root.join(&page)).expect("page");
        let sections: Vec<&str> = prose_lines(&text)
            .into_iter()
            .filter_map(|l| l.strip_prefix("## "))
            .take(5)
            .collect();
        let shaped = sections.len() == 5 && sections.iter().zip(SETUP_SHAPE).all(|(s, want)| s.starts_with(want));
        assert!(
            shaped,
            "{} starts with the sections {SETUP_SHAPE:?}, not {sections:?}",
            page.display()
        );
    }
    assert!(setup_pages >= 8, "every platform has its page ({setup_pages})");
}

/// The checker itself: a page with good links and four broken ones reports exactly the four.
#[test]
fn the_link_checker_reports_missing_files_anchors_and_escapes() {
    let root = workspace_root();
    let page = Path::new("docs/example.md");
    let text = "# Title\n\n## 1. What you need\n\n\
                [ok](DEPLOY.md#check-the-deployment) [self](#1-what-you-need) [web](https://example.com/x)\n\
                [dir](setup/) [up](../README.md#quick-start)\n\
                `[in code](nowhere.md)`\n\
                ```\n[in a block](nowhere.md)\n```\n\
                [gone](no-such-page.md) [bad anchor](DEPLOY.md#no-such-heading) [escape](../../outside.md)\n\
                [no such section](#2-deploy)\n";
    let problems = broken_links(&root, page, text);
    assert_eq!(problems.len(), 4, "{problems:#?}");
    assert!(
        problems[0].contains("`no-such-page.md` points at docs/no-such-page.md"),
        "{}",
        problems[0]
    );
    assert!(problems[1].contains("#no-such-heading"), "{}", problems[1]);
    assert!(problems[2].contains("outside the repository"), "{}", problems[2]);
    assert!(
        problems[3].contains("#2-deploy, which is no heading of this page"),
        "{}",
        problems[3]
    );
    let slugs = anchors(
        "## 1. What you need\n### Where the visitor's identity comes from\n#### Choosing the eID: `acr_values`\n## Notes\n## Notes\n",
    );
    for slug in [
        "1-what-you-need",
        "where-the-visitors-identity-comes-from",
        "choosing-the-eid-acr_values",
        "notes",
        "notes-1",
    ] {
        assert!(slugs.contains(slug), "{slug} in {slugs:?}");
    }
}
