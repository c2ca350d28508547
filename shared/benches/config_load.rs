//! The cold-start cost of the configuration: reading the document from the config layer's file
//! (what every function does once, at init), parsing and validating it, for the quick-start
//! document and the realistic one (docs/examples/realistic-config.json: 24 profiles, 10 provider
//! clients, 5 upstream providers, 50 origins). The same document inline in an environment
//! variable is the baseline that shows what the file read itself costs. Figures in
//! docs/CONFIGURATION.md.

// A benchmark, like a test, should stop loudly on a broken invariant.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeMap;
use std::hint::black_box;
use std::path::PathBuf;

use criterion::{Criterion, criterion_group, criterion_main};
use whoscalling::ServiceConfig;
use whoscalling::config::{CONFIG_FILE_VARIABLE, CONFIG_VARIABLE};

fn workspace_file(relative: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..").join(relative)
}

/// The deploy-time variables the template sets (fifty origins, as in the realistic test).
fn deploy_variables() -> BTreeMap<String, String> {
    let origins = (1..=50)
        .map(|i| format!("https://customer-service-{i:02}.example-brand-group.com"))
        .collect::<Vec<_>>()
        .join(",");
    [
        ("WHOSCALLING_ALLOWED_ORIGINS", origins),
        (
            "WHOSCALLING_IDENTITY_ISSUER",
            "https://login.example-brand.com/am/oauth2/realms/root/realms/customers".into(),
        ),
        ("WHOSCALLING_IDENTITY_AUDIENCE", "web-portal".into()),
        (
            "WHOSCALLING_SECRET_PREFIX",
            "whoscalling/whoscalling-contact-centre-prod-primary".into(),
        ),
        (
            "WHOSCALLING_PUBLIC_URL",
            "https://chat-identity.example-brand.com".into(),
        ),
        (
            "WHOSCALLING_GRANTS_TABLE",
            "whoscalling-contact-centre-prod-primary-GrantsTable-1A2B3C4D5E6F7".into(),
        ),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v))
    .collect()
}

fn config_load(c: &mut Criterion) {
    let dir = std::env::temp_dir().join(format!("whoscalling-config-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let quick_start = std::fs::read_to_string(workspace_file("config/whoscalling/config.json"))
        .unwrap()
        .replace("REPLACE_WITH_CONNECT_WIDGET_ID", "0f6b4a35-6f4e-4e38-9c4f-5a3c0d8f7a11");
    let realistic = std::fs::read_to_string(workspace_file("docs/examples/realistic-config.json")).unwrap();
    for (name, document) in [("quick-start", quick_start), ("realistic", realistic)] {
        let file = dir.join(format!("{name}.json"));
        std::fs::write(&file, &document).unwrap();
        let path = file.display().to_string();
        let mut from_file = deploy_variables();
        from_file.insert(CONFIG_FILE_VARIABLE.into(), path.clone());
        let mut inline = deploy_variables();
        inline.insert(CONFIG_VARIABLE.into(), document.clone());
        // Both must load, or the figures compare nothing.
        ServiceConfig::from_lookup(|k| from_file.get(k).cloned()).unwrap();
        ServiceConfig::from_lookup(|k| inline.get(k).cloned()).unwrap();

        c.bench_function(&format!("config/{name}/read_file_only"), |b| {
            b.iter(|| std::fs::read_to_string(black_box(&path)).unwrap())
        });
        c.bench_function(&format!("config/{name}/layer_file_read_parse_validate"), |b| {
            b.iter(|| ServiceConfig::from_lookup(|k| from_file.get(black_box(k)).cloned()).unwrap())
        });
        c.bench_function(&format!("config/{name}/inline_variable_parse_validate"), |b| {
            b.iter(|| ServiceConfig::from_lookup(|k| inline.get(black_box(k)).cloned()).unwrap())
        });
    }
}

criterion_group!(benches, config_load);
criterion_main!(benches);
