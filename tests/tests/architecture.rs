//! The shared crate's layers, checked from its source: each top-level module of `shared/src` may
//! use only modules of its own or a lower layer (see `LAYERS`), no two top-level modules depend on
//! each other in a cycle, the pure layers use nothing of the domain, only the HTTP edge knows
//! `lambda_http`, and only the adapters (and the Lambda bootstrap) name an AWS SDK crate.
//! Dependencies are read from `crate::` paths (`use crate::a::b`, grouped `use crate::{a, b::c}`,
//! inline `crate::a::f()`) and from `super::` paths that climb to the crate root, outside comments, string literals and `#[cfg(test)]` modules (tests may reach
//! anywhere). See `docs/ARCHITECTURE.md`, "The layers".

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use whoscalling_tests::workspace_root;

/// The layer table, lowest first. A module may use modules of its own layer or any layer listed
/// before it. A top-level module missing here fails the test: add it to the layer table.
const LAYERS: &[(&str, &[&str])] = &[
    // Cross-cutting infrastructure: depends on nothing above it.
    ("infrastructure", &["clock", "logging", "metrics"]),
    // Plain values: the verified claims, claim names, algorithm names.
    ("values", &["values"]),
    // Pure functions of values: claim mapping and masking, the platforms' claim schemas.
    ("pure", &["mapping", "platforms"]),
    // The domain, with the small store and source traits it needs.
    (
        "domain",
        &[
            "secrets",
            "signing",
            "jwe",
            "keys",
            "rotation",
            "session",
            "session_rotation",
            "identity",
            "grants",
            "used_states",
        ],
    ),
    // The traits above implemented over AWS, HTTP(S) and files.
    ("adapters", &["adapters", "bootstrap"]),
    // The typed configuration and the cold-start wiring it drives.
    ("config", &["config"]),
    // What a handler calls.
    ("services", &["mint", "openid_provider", "upstream_login"]),
    // The only place that knows lambda_http.
    ("http", &["http"]),
];

/// Layers that must stay free of the domain (pure: values in, values out).
const PURE_LAYERS: &[&str] = &["values", "pure"];
/// The layers a pure module may use.
const PURE_MAY_USE: &[&str] = &["infrastructure", "values", "pure"];

fn shared_src() -> PathBuf {
    workspace_root().join("shared/src")
}

fn layer_of(module: &str) -> Option<(usize, &'static str)> {
    LAYERS
        .iter()
        .enumerate()
        .find(|(_, (_, modules))| modules.contains(&module))
        .map(|(i, (name, _))| (i, *name))
}

/// Every `.rs` file under `dir`, with its path relative to `root`.
fn rust_files(root: &Path, dir: &Path, out: &mut Vec<(String, String)>) {
    let mut entries: Vec<_> = std::fs::read_dir(dir)
        .expect("read shared/src")
        .map(|e| e.expect("entry").path())
        .collect();
    entries.sort();
    for path in entries {
        if path.is_dir() {
            rust_files(root, &path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            let relative = path
                .strip_prefix(root)
                .expect("under root")
                .to_string_lossy()
                .replace('\\', "/");
            out.push((relative, std::fs::read_to_string(&path).expect("read source")));
        }
    }
}

/// The top-level module a file belongs to (`identity/bearer.rs` -> `identity`), and how deep
/// its own module sits (`identity/bearer.rs` is `crate::identity::bearer`: 2). `None` for `lib.rs`.
fn module_of(relative: &str) -> Option<(String, usize)> {
    if relative == "lib.rs" {
        return None;
    }
    let parts: Vec<&str> = relative.trim_end_matches(".rs").split('/').collect();
    let depth = if parts.last() == Some(&"mod") {
        parts.len() - 1
    } else {
        parts.len()
    };
    Some((parts[0].to_string(), depth))
}

/// The source with comments, string and char literals blanked out (so neither a doc link nor a
/// message naming `crate::x` counts), keeping line breaks.
fn strip_comments_and_strings(source: &str) -> String {
    let chars: Vec<char> = source.chars().collect();
    let mut out = String::with_capacity(source.len());
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        let next = chars.get(i + 1).copied();
        if c == '/' && next == Some('/') {
            while i < chars.len() && chars[i] != '\n' {
                i += 1;
            }
        } else if c == '/' && next == Some('*') {
            let mut depth = 0;
            while i < chars.len() {
                if chars[i] == '/' && chars.get(i + 1) == Some(&'*') {
                    depth += 1;
                    i += 2;
                } else if chars[i] == '*' && chars.get(i + 1) == Some(&'/') {
                    depth -= 1;
                    i += 2;
                    if depth == 0 {
                        break;
                    }
                } else {
                    if chars[i] == '\n' {
                        out.push('\n');
                    }
                    i += 1;
                }
            }
        } else if c == 'r'
            && (next == Some('"') || next == Some('#'))
            && !chars
                .get(i.wrapping_sub(1))
                .is_some_and(|p| p.is_alphanumeric() || *p == '_')
        {
            // Raw string: r"..." or r#"..."#.
            let mut j = i + 1;
            let mut hashes = 0;
            while chars.get(j) == Some(&'#') {
                hashes += 1;
                j += 1;
            }
            if chars.get(j) != Some(&'"') {
                out.push(c);
                i += 1;
                continue;
            }
            j += 1;
            loop {
                match chars.get(j) {
                    None => break,
                    Some('"') if (1..=hashes).all(|k| chars.get(j + k) == Some(&'#')) => {
                        j += 1 + hashes;
                        break;
                    }
                    Some('\n') => out.push('\n'),
                    _ => {}
                }
                j += 1;
            }
            out.push_str("\"\"");
            i = j;
        } else if c == '"' {
            i += 1;
            while i < chars.len() && chars[i] != '"' {
                if chars[i] == '\\' {
                    i += 1;
                } else if chars[i] == '\n' {
                    out.push('\n');
                }
                i += 1;
            }
            out.push_str("\"\"");
            i += 1;
        } else if c == '\'' {
            // A char literal ('x', '\n', '\u{..}') or a lifetime ('a): only the former is skipped.
            let end = if next == Some('\\') {
                (i + 2..chars.len().min(i + 12)).find(|&j| chars[j] == '\'')
            } else if chars.get(i + 2) == Some(&'\'') {
                Some(i + 2)
            } else {
                None
            };
            match end {
                Some(end) => {
                    out.push_str("' '");
                    i = end + 1;
                }
                None => {
                    out.push(c);
                    i += 1;
                }
            }
        } else {
            out.push(c);
            i += 1;
        }
    }
    out
}

/// The source without its `#[cfg(test)]` items (a `mod tests { ... }` block or a single item).
fn strip_test_items(source: &str) -> String {
    let mut out = String::new();
    let mut rest = source;
    while let Some(at) = rest.find("#[cfg(test)]") {
        out.push_str(&rest[..at]);
        let after = &rest[at..];
        // The item ends at the `;` or the brace closing its first `{`, whichever comes first.
        let mut depth = 0usize;
        let mut end = after.len();
        for (k, ch) in after.char_indices() {
            match ch {
                '{' => depth += 1,
                '}' => {
                    depth -= 1;
                    if depth == 0 {
                        end = k + 1;
                        break;
                    }
                }
                ';' if depth == 0 => {
                    end = k + 1;
                    break;
                }
                _ => {}
            }
        }
        out.extend(after[..end].chars().filter(|c| *c == '\n'));
        rest = &after[end..];
    }
    out.push_str(rest);
    out
}

fn is_ident_char(c: char) -> bool {
    c.is_alphanumeric() || c == '_'
}

/// The first segments of the items of a `{a, b::c, d::{e, f}}` group starting at `text[0] == '{'`.
fn group_heads(text: &str) -> Vec<String> {
    let mut heads = Vec::new();
    let mut depth = 0usize;
    let mut expecting = true;
    let mut current = String::new();
    for ch in text.chars() {
        match ch {
            '{' => {
                depth += 1;
                if depth > 1 {
                    expecting = false;
                }
            }
            '}' => {
                depth -= 1;
                if depth == 0 {
                    break;
                }
            }
            ',' if depth == 1 => {
                if !current.is_empty() {
                    heads.push(std::mem::take(&mut current));
                }
                expecting = true;
            }
            c if depth == 1 && expecting && is_ident_char(c) => current.push(c),
            c if depth == 1 && expecting && !current.is_empty() && !c.is_whitespace() => {
                heads.push(std::mem::take(&mut current));
                expecting = false;
            }
            _ => {}
        }
    }
    if !current.is_empty() {
        heads.push(current);
    }
    heads.retain(|h| h != "self");
    heads
}

/// The top-level modules `code` (comments, strings and tests stripped) names through the crate
/// root, for a file whose own module is `depth` deep.
fn crate_paths(code: &str, depth: usize) -> BTreeSet<String> {
    let chars: Vec<char> = code.chars().collect();
    let starts_with = |at: usize, word: &str| word.chars().enumerate().all(|(k, w)| chars.get(at + k) == Some(&w));
    let mut found = BTreeSet::new();
    let mut i = 0;
    while i < chars.len() {
        let preceded = i > 0 && (is_ident_char(chars[i - 1]) || chars[i - 1] == '$');
        let root_after = if preceded {
            None
        } else if starts_with(i, "crate") && !chars.get(i + 5).is_some_and(|c| is_ident_char(*c)) {
            Some(i + 5)
        } else if starts_with(i, "super::") {
            // `super::` climbed `depth` times reaches the crate root.
            let mut j = i;
            let mut climbs = 0;
            while starts_with(j, "super::") {
                climbs += 1;
                j += 7;
            }
            (climbs >= depth).then(|| j - 2)
        } else {
            None
        };
        let Some(mut j) = root_after else {
            i += 1;
            continue;
        };
        // Expect `::` (spaces allowed), then a name or a group.
        while chars.get(j).is_some_and(|c| c.is_whitespace()) {
            j += 1;
        }
        if starts_with(j, "::") {
            j += 2;
            while chars.get(j).is_some_and(|c| c.is_whitespace()) {
                j += 1;
            }
            if chars.get(j) == Some(&'{') {
                found.extend(group_heads(&chars[j..].iter().collect::<String>()));
            } else {
                let name: String = chars[j..].iter().take_while(|c| is_ident_char(**c)).collect();
                if !name.is_empty() {
                    found.insert(name);
                }
            }
        }
        i = j.max(i + 1);
    }
    found
}

/// `module -> (used module -> files that use it)`, and the files naming `lambda_http` or an AWS SDK crate.
struct Graph {
    edges: BTreeMap<String, BTreeMap<String, BTreeSet<String>>>,
    lambda_http: BTreeSet<String>,
    aws_sdk: BTreeSet<String>,
    modules: BTreeSet<String>,
}

fn graph_of(files: &[(String, String)]) -> Graph {
    let mut graph = Graph {
        edges: BTreeMap::new(),
        lambda_http: BTreeSet::new(),
        aws_sdk: BTreeSet::new(),
        modules: BTreeSet::new(),
    };
    for (relative, source) in files {
        let Some((module, depth)) = module_of(relative) else {
            continue;
        };
        graph.modules.insert(module.clone());
        let code = strip_test_items(&strip_comments_and_strings(source));
        if code.contains("lambda_http") {
            graph.lambda_http.insert(relative.clone());
        }
        if [
            "aws_sdk_",
            "aws_config",
            "aws_smithy",
            "aws_types",
            "aws_credential_types",
            "aws_runtime",
        ]
        .iter()
        .any(|name| code.contains(name))
        {
            graph.aws_sdk.insert(relative.clone());
        }
        for used in crate_paths(&code, depth) {
            if used != module {
                graph
                    .edges
                    .entry(module.clone())
                    .or_default()
                    .entry(used)
                    .or_default()
                    .insert(relative.clone());
            }
        }
    }
    graph
}

fn files_of(graph: &Graph, from: &str, to: &str) -> String {
    graph.edges[from][to].iter().cloned().collect::<Vec<_>>().join(", ")
}

/// Every problem found, as messages naming the edge and the files.
fn violations(graph: &Graph) -> Vec<String> {
    let mut problems = Vec::new();
    for module in &graph.modules {
        if layer_of(module).is_none() {
            problems.push(format!("`shared/src/{module}` is not in the layer table: add it to the layer table (LAYERS in tests/tests/architecture.rs)"));
        }
    }
    for (from, uses) in &graph.edges {
        let Some((from_layer, from_name)) = layer_of(from) else {
            continue;
        };
        for to in uses.keys() {
            if !graph.modules.contains(to) {
                problems.push(format!(
                    "`{from}` uses `crate::{to}`, which is no module, in {}: import it from the module that defines it, so this check sees the dependency",
                    files_of(graph, from, to)
                ));
                continue;
            }
            let Some((to_layer, to_name)) = layer_of(to) else {
                continue;
            };
            if to_layer > from_layer {
                problems.push(format!(
                    "layer violation: `{from}` ({from_name}) uses `{to}` ({to_name}), a higher layer, in {}: move the type down or invert the dependency with a trait",
                    files_of(graph, from, to)
                ));
            }
            if PURE_LAYERS.contains(&from_name) && !PURE_MAY_USE.contains(&to_name) {
                problems.push(format!(
                    "pure module `{from}` ({from_name}) uses `{to}` ({to_name}) in {}: the pure layers import nothing from the domain",
                    files_of(graph, from, to)
                ));
            }
        }
    }
    for cycle in cycles(graph) {
        problems.push(format!("module cycle: {}", cycle.join(" -> ")));
    }
    for file in &graph.lambda_http {
        if !(file == "http.rs" || file.starts_with("http/")) {
            problems.push(format!(
                "`shared/src/{file}` names lambda_http: only the HTTP edge (shared/src/http*) may"
            ));
        }
    }
    // AWS is infrastructure: the domain sees it only through the store traits the adapters implement.
    for file in &graph.aws_sdk {
        if !(file.starts_with("adapters/") || file == "bootstrap.rs") {
            problems.push(format!(
                "`shared/src/{file}` names an AWS SDK crate: only shared/src/adapters/ and bootstrap.rs may"
            ));
        }
    }
    problems
}

/// One cycle per strongly connected group of modules, as `a -> b -> ... -> a`.
fn cycles(graph: &Graph) -> Vec<Vec<String>> {
    let mut found = Vec::new();
    let mut reported: BTreeSet<String> = BTreeSet::new();
    for start in graph.edges.keys() {
        if reported.contains(start) {
            continue;
        }
        // Depth-first search for a path from `start` back to itself.
        let mut stack = vec![(start.clone(), vec![start.clone()])];
        let mut seen = BTreeSet::new();
        while let Some((at, path)) = stack.pop() {
            for next in graph
                .edges
                .get(&at)
                .map(|u| u.keys().cloned().collect::<Vec<_>>())
                .unwrap_or_default()
            {
                if next == *start {
                    let mut cycle = path.clone();
                    cycle.push(next);
                    reported.extend(path.iter().cloned());
                    found.push(cycle);
                    stack.clear();
                    break;
                }
                if seen.insert(next.clone()) {
                    let mut longer = path.clone();
                    longer.push(next.clone());
                    stack.push((next, longer));
                }
            }
        }
    }
    found
}

#[test]
fn the_shared_crate_is_layered_without_cycles() {
    let root = shared_src();
    let mut files = Vec::new();
    rust_files(&root, &root, &mut files);
    let graph = graph_of(&files);
    // Control: the reader sees the crate's real dependencies (a reader that finds nothing would
    // pass every rule).
    assert!(
        graph.modules.len() >= 15,
        "only {} top-level modules found under {}",
        graph.modules.len(),
        root.display()
    );
    for (from, to) in [
        ("config", "values"),
        ("identity", "values"),
        ("http", "identity"),
        ("mint", "keys"),
        ("adapters", "secrets"),
    ] {
        assert!(
            graph.edges.get(from).is_some_and(|u| u.contains_key(to)),
            "expected `{from}` to use `{to}`: the reader is broken"
        );
    }
    let problems = violations(&graph);
    assert!(
        problems.is_empty(),
        "the shared crate's layering is broken:\n  {}",
        problems.join("\n  ")
    );
}

// The reader and the rules, on small made-up crates: each rule must be able to fail.

fn graph_from(files: &[(&str, &str)]) -> Graph {
    graph_of(
        &files
            .iter()
            .map(|(p, s)| (p.to_string(), s.to_string()))
            .collect::<Vec<_>>(),
    )
}

#[test]
fn the_reader_finds_grouped_inline_and_super_paths_and_skips_comments_strings_and_tests() {
    let source = r##"
        //! Doc naming [`crate::http::x`] is no dependency.
        use crate::{clock::Clock, values::{A, B}, self};
        use crate::secrets::SecretStore;
        fn f() { crate::metrics::count(); let s = "crate::upstream_login::x"; let r = r#"crate::config"#; let c = '"'; }
        fn g<'a>(x: &'a str) -> &'a str { super::super::keys::k(x) }
        /* crate::mint::y */
        #[cfg(test)]
        mod tests { use crate::openid_provider::Params; }
    "##;
    let found = crate_paths(&strip_test_items(&strip_comments_and_strings(source)), 2);
    assert_eq!(
        found.into_iter().collect::<Vec<_>>(),
        ["clock", "keys", "metrics", "secrets", "values"]
    );
    // One `super::` from a depth-2 file stays inside its own top-level module.
    assert!(crate_paths("use super::bearer::X;", 2).is_empty());
    assert_eq!(
        crate_paths("use super::identity::X;", 1)
            .into_iter()
            .collect::<Vec<_>>(),
        ["identity"]
    );
}

#[test]
fn each_rule_fails_on_a_crate_that_breaks_it_and_a_clean_crate_passes() {
    let clean = graph_from(&[
        ("values/mod.rs", "pub struct V;"),
        ("mapping.rs", "use crate::values::V;"),
        ("identity/mod.rs", "use crate::{values::V, clock::Clock};"),
        ("config.rs", "use crate::identity::X;"),
        ("http.rs", "use lambda_http::Request; use crate::config::C;"),
        ("clock.rs", ""),
        (
            "adapters/store.rs",
            "use aws_sdk_dynamodb::Client; use crate::identity::X;",
        ),
    ]);
    assert_eq!(
        violations(&clean),
        Vec::<String>::new(),
        "control: a layered crate passes"
    );

    let cases: [(&[(&str, &str)], &str); 6] = [
        (
            &[("identity/mod.rs", "use crate::config::C;"), ("config.rs", "")],
            "layer violation: `identity` (domain) uses `config` (config)",
        ),
        (
            &[
                ("mapping.rs", "fn f() { crate::identity::g() }"),
                ("identity/mod.rs", ""),
            ],
            "pure module `mapping` (pure) uses `identity` (domain)",
        ),
        (
            &[
                ("keys.rs", "use crate::signing::S;"),
                ("signing.rs", "use crate::{keys::K};"),
            ],
            "module cycle: keys -> signing -> keys",
        ),
        (
            &[("openid_provider/oauth.rs", "use lambda_http::http::StatusCode;")],
            "`shared/src/openid_provider/oauth.rs` names lambda_http",
        ),
        (
            &[("used_states.rs", "use aws_sdk_dynamodb::Client;")],
            "`shared/src/used_states.rs` names an AWS SDK crate",
        ),
        (
            &[("gadgets.rs", "")],
            "`shared/src/gadgets` is not in the layer table: add it to the layer table",
        ),
    ];
    for (files, expected) in cases {
        let problems = violations(&graph_from(files));
        assert!(
            problems.iter().any(|p| p.starts_with(expected)),
            "expected {expected:?} in {problems:#?}"
        );
    }
}
