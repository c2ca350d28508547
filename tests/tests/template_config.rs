//! What `template.yaml` gives each function, and that each function starts with it.
//!
//! The configuration document ships as the `ConfigLayer` (extracted to `/opt`); only small values
//! known at deploy time are environment variables, which the document uses as `${WHOSCALLING_...}`
//! placeholders. `scripts/render-template.py` evaluates the template for a set of parameters
//! (cfn-lint's decoder, SAM's Globals merge, the intrinsic functions); each function's environment
//! then goes through exactly what that function's `main` does at cold start
//! (`whoscalling_local::check`, the same code `check-config` runs), with the layer's folder standing
//! in for `/opt`. Every environment must fit Lambda's 4 KB measured as Lambda measures it: the
//! variables serialized as JSON, quotes and escapes included. The template's Rules are evaluated
//! too, so a combination the template promises to refuse is refused.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::{Value, json};
use whoscalling::ServiceConfig;
use whoscalling::config::CONFIG_FILE_VARIABLE;
use whoscalling_local::check::{Function, cold_start};
use whoscalling_tests::{python, workspace_root};

/// Lambda's limit on a function's environment variables.
const LAMBDA_ENVIRONMENT_LIMIT: usize = 4096;

/// Where functions find the layer's document (the template's WHOSCALLING_CONFIG_FILE).
const LAYER_DOCUMENT: &str = "/opt/whoscalling/config.json";

struct RenderedFunction {
    environment: BTreeMap<String, String>,
    /// The renderer's figure, measured Lambda's way.
    environment_bytes: usize,
    layers: Vec<String>,
}

struct Rendered {
    failed_rules: Vec<String>,
    parameter_problems: Vec<String>,
    functions: BTreeMap<String, RenderedFunction>,
    /// Layer logical id to the folder it ships (its ContentUri).
    layers: BTreeMap<String, String>,
    /// The names of the secrets the template creates.
    secret_names: Vec<String>,
}

fn render(name: &str, parameters: &Value, stack_name: &str) -> Rendered {
    let dir = workspace_root().join("target/template-config");
    std::fs::create_dir_all(&dir).expect("target dir");
    let file = dir.join(format!("{name}.json"));
    std::fs::write(&file, parameters.to_string()).expect("parameters file");
    let output = Command::new(python())
        .arg(workspace_root().join("scripts/render-template.py"))
        .args([
            "--template",
            workspace_root().join("template.yaml").to_str().expect("path"),
        ])
        .args([
            "--parameters",
            file.to_str().expect("path"),
            "--stack-name",
            stack_name,
            "--region",
            "ap-southeast-2",
        ])
        .output()
        .expect("run scripts/render-template.py");
    assert!(
        output.status.success(),
        "{name}: render failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    let answer: Value = serde_json::from_slice(&output.stdout).expect("renderer JSON");
    let strings = |value: &Value| -> Vec<String> {
        value
            .as_array()
            .expect("list")
            .iter()
            .map(|v| v.as_str().expect("text").to_string())
            .collect()
    };
    let functions = answer["functions"]
        .as_object()
        .expect("functions")
        .iter()
        .map(|(function, rendered)| {
            let environment = rendered["environment"]
                .as_object()
                .expect("environment")
                .iter()
                .map(|(k, v)| (k.clone(), v.as_str().expect("string variable").to_string()))
                .collect();
            let environment_bytes = rendered["environment_bytes"].as_u64().expect("bytes") as usize;
            (
                function.clone(),
                RenderedFunction {
                    environment,
                    environment_bytes,
                    layers: strings(&rendered["layers"]),
                },
            )
        })
        .collect();
    let layers = answer["layers"]
        .as_object()
        .expect("layers")
        .iter()
        .map(|(id, layer)| {
            (
                id.clone(),
                layer["content_uri"].as_str().expect("content uri").to_string(),
            )
        })
        .collect();
    let secret_names = answer["secrets"]
        .as_object()
        .expect("secrets")
        .values()
        .map(|v| v["name"].as_str().expect("name").to_string())
        .collect();
    Rendered {
        failed_rules: strings(&answer["rules"]),
        parameter_problems: strings(&answer["parameters"]),
        functions,
        layers,
        secret_names,
    }
}

/// Lambda's measure: `{"NAME":"value",...}` as JSON, every quote and backslash escaped and every
/// non-ASCII character too (`\uXXXX` per UTF-16 unit), as `scripts/render-template.py` measures.
fn lambda_environment_bytes(environment: &BTreeMap<String, String>) -> usize {
    let text = serde_json::to_string(environment).expect("JSON");
    let escaped_extra: usize = text
        .chars()
        .filter(|c| !c.is_ascii())
        .map(|c| 6 * c.len_utf16() - c.len_utf8())
        .sum();
    text.len() + escaped_extra
}

/// The parameters a Connect-only deployment gives: the quick start's three.
fn quick_start() -> Value {
    json!({
        "AllowedOrigins": "https://www.example-brand.com",
        "IdentityProviderIssuer": "https://login.example-brand.com/am/oauth2/realms/root/realms/customers",
        "IdentityProviderAudience": "web-portal",
    })
}

fn with(mut base: Value, extra: Value) -> Value {
    for (key, value) in extra.as_object().expect("object") {
        base[key] = value.clone();
    }
    base
}

/// Fifty origins of the length real brands use (about 40 characters each).
fn fifty_origins() -> String {
    (1..=50)
        .map(|i| format!("https://customer-service-{i:02}.example-brand-group.com"))
        .collect::<Vec<_>>()
        .join(",")
}

/// Everything on, with the origins of `fifty_origins`: the parameters the realistic document needs.
fn realistic_parameters() -> Value {
    with(
        quick_start(),
        json!({
            "AllowedOrigins": fifty_origins(),
            "EnableCodeExchange": "true",
            "GeneratedClientSecrets": "liveperson,puzzel,genesys",
            "ProviderIssuer": "https://chat-identity.example-brand.com",
            "EnableUpstreamLogin": "true",
            "KeyEventsEmail": "chat-platform-team@example-brand.com",
            "AlarmTopicArn": "arn:aws:sns:ap-southeast-2:123456789012:contact-centre-alarms",
            "LogLevel": "info,whoscalling=debug",
            "EnableIntercom": "true",
            "EnableD365": "true",
            "EnableFreshchat": "true",
        }),
    )
}

fn shipped_document() -> String {
    std::fs::read_to_string(workspace_root().join("config/whoscalling/config.json"))
        .expect("config/whoscalling/config.json")
}

fn realistic_document() -> String {
    std::fs::read_to_string(workspace_root().join("docs/examples/realistic-config.json"))
        .expect("docs/examples/realistic-config.json")
}

/// A folder laid out like the config layer's ContentUri, holding `document`.
fn layer_folder(scenario: &str, document: &str) -> PathBuf {
    let folder = workspace_root().join("target/template-config/layers").join(scenario);
    std::fs::create_dir_all(folder.join("whoscalling")).expect("layer folder");
    std::fs::write(folder.join("whoscalling/config.json"), document).expect("document");
    folder
}

/// The function's environment as it would see it, with `/opt` being `layer`.
fn lookup_in<'a>(function: &'a RenderedFunction, layer: &'a Path) -> impl Fn(&str) -> Option<String> + 'a {
    move |name: &str| {
        let value = function.environment.get(name).cloned()?;
        if name == CONFIG_FILE_VARIABLE {
            let relative = value.strip_prefix("/opt/").expect("the document is in a layer (/opt)");
            return Some(layer.join(relative).display().to_string());
        }
        Some(value)
    }
}

/// Secret names the template creates, or under a prefix a role is granted (the operator's own).
fn secret_is_provided(rendered: &Rendered, stack_name: &str, name: &str) -> bool {
    let operator_prefixes = ["connect/", "clients/", "upstream/"].map(|p| format!("whoscalling/{stack_name}/{p}"));
    rendered.secret_names.iter().any(|s| s == name) || operator_prefixes.iter().any(|p| name.starts_with(p.as_str()))
}

/// Every secret a configuration names.
fn named_secrets(config: &ServiceConfig) -> Vec<String> {
    let mut names: Vec<String> = Vec::new();
    names.extend(config.signing_keys.iter().map(|k| k.secret.as_str().to_string()));
    for profile in config.profiles.values() {
        // Every pasted vendor secret (Connect's key, Intercom's secret, ...), asked of the platform.
        if let whoscalling::platforms::KeyKind::Pasted(secret) = profile.platform().key() {
            names.push(secret.as_str().to_string());
        }
        if let whoscalling::platforms::ProfileConfig::ZendeskMessaging(zendesk) = profile {
            names.push(zendesk.key_secret.as_str().to_string());
        }
    }
    names.extend(config.session.iter().map(|s| s.key_secret.as_str().to_string()));
    if let Some(provider) = &config.provider {
        names.extend(provider.clients.values().map(|c| c.secret.as_str().to_string()));
    }
    if let Some(upstream) = &config.upstream {
        names.extend(
            upstream
                .providers
                .values()
                .map(|p| p.client_secret.as_str().to_string()),
        );
    }
    names
}

/// Renders a scenario that must deploy with `document` as the layer's, and checks every function
/// it creates: the layer, the size, the cold start, the secrets.
fn deployable(
    scenario: &str,
    parameters: Value,
    stack_name: &str,
    document: &str,
) -> (Rendered, BTreeMap<String, ServiceConfig>) {
    let rendered = render(scenario, &parameters, stack_name);
    assert!(
        rendered.parameter_problems.is_empty(),
        "{scenario}: {:?}",
        rendered.parameter_problems
    );
    assert!(
        rendered.failed_rules.is_empty(),
        "{scenario}: {:?}",
        rendered.failed_rules
    );
    assert_eq!(
        rendered.layers.get("ConfigLayer").map(String::as_str),
        Some("config/"),
        "{scenario}: the config layer ships config/"
    );
    let layer = layer_folder(scenario, document);
    let mut configs = BTreeMap::new();
    for (name, function) in &rendered.functions {
        let measured = lambda_environment_bytes(&function.environment);
        assert_eq!(
            function.environment_bytes, measured,
            "{scenario}: {name}: the renderer measures otherwise than Lambda"
        );
        assert!(
            measured <= LAMBDA_ENVIRONMENT_LIMIT,
            "{scenario}: {name} has {measured} bytes of environment, measured Lambda's way"
        );
        assert_eq!(
            function.layers,
            ["ConfigLayer"],
            "{scenario}: {name} reads the document from the config layer"
        );
        assert_eq!(
            function.environment.get(CONFIG_FILE_VARIABLE).map(String::as_str),
            Some(LAYER_DOCUMENT),
            "{scenario}: {name}"
        );
        let kind = Function::from_logical_id(name)
            .unwrap_or_else(|| panic!("{scenario}: a function this test does not know: {name}"));
        let lookup = lookup_in(function, &layer);
        cold_start(kind, &lookup).unwrap_or_else(|e| panic!("{scenario}: {name} would fail at cold start: {e}"));
        let config = ServiceConfig::from_lookup(&lookup).expect("config");
        for secret in named_secrets(&config) {
            assert!(
                secret_is_provided(&rendered, stack_name, &secret),
                "{scenario}: {name} names {secret}, which no role may read"
            );
        }
        if kind == Function::RotateKeys {
            let rotation = rotate_keys::Config::from_lookup(&lookup).expect("rotation config");
            let pins: Vec<String> = rotation.pinned_keys.iter().map(|p| p.as_str().to_string()).collect();
            let wanted: Vec<String> = config.pinned_keys().iter().map(|p| p.as_str().to_string()).collect();
            assert_eq!(
                pins, wanted,
                "{scenario}: the rotation's pins differ from the pasted-key profiles"
            );
            let signing = config.signing_keys.as_ref().map(|k| k.secret.to_string());
            assert_eq!(
                rotation.secret_id, signing,
                "{scenario}: the rotation function's secret is not the signing-key secret"
            );
            assert!(rotation.key_events_topic.is_some(), "{scenario}: key events go nowhere");
            let session = config.session.as_ref().map(|s| s.key_secret.to_string());
            assert_eq!(
                rotation.session_key_secret.is_some(),
                session.is_some(),
                "{scenario}: session-key rotation wiring"
            );
            if let (Some(rotated), Some(session)) = (&rotation.session_key_secret, &session) {
                assert!(
                    whoscalling::session_rotation::same_secret(rotated, session),
                    "{scenario}: rotates {rotated}, sessions use {session}"
                );
            }
        }
        configs.insert(name.clone(), config);
    }
    (rendered, configs)
}

fn functions(rendered: &Rendered) -> Vec<&str> {
    rendered.functions.keys().map(String::as_str).collect()
}

#[test]
fn the_quick_start_deploys_connect_with_three_parameters_and_the_shipped_document() {
    // Exactly the three quick-start parameters have no default.
    let bare = render("no-parameters", &json!({}), "whoscalling");
    let required: Vec<&str> = bare
        .parameter_problems
        .iter()
        .map(String::as_str)
        .filter(|p| p.ends_with("required (no default)"))
        .collect();
    assert_eq!(
        required,
        [
            "IdentityProviderIssuer: required (no default)",
            "IdentityProviderAudience: required (no default)"
        ],
        "AllowedOrigins has a default but every real deployment sets it: three in all"
    );
    let document = shipped_document().replace("REPLACE_WITH_CONNECT_WIDGET_ID", "0f6b4a35-6f4e-4e38-9c4f-5a3c0d8f7a11");
    let (rendered, configs) = deployable("quick-start", quick_start(), "whoscalling", &document);
    assert_eq!(
        functions(&rendered),
        ["MintTokenFunction", "PublishKeysFunction", "RotateKeysFunction"]
    );
    let config = &configs["MintTokenFunction"];
    assert_eq!(
        config.profiles.keys().map(|p| p.as_str()).collect::<Vec<_>>(),
        ["connect"]
    );
    assert_eq!(
        config.allowed_origins.iter().map(|o| o.as_str()).collect::<Vec<_>>(),
        ["https://www.example-brand.com"]
    );
    assert!(config.provider.is_none() && config.session.is_none() && config.upstream.is_none());
    assert_eq!(
        config.signing_keys.as_ref().expect("signing keys").secret.as_str(),
        "whoscalling/whoscalling/signing-keys"
    );
}

#[test]
fn the_shipped_document_unedited_stops_at_cold_start_naming_the_widget_id() {
    let rendered = render("quick-start-unedited", &quick_start(), "whoscalling");
    let layer = layer_folder("quick-start-unedited", &shipped_document());
    let function = &rendered.functions["MintTokenFunction"];
    let error = cold_start(Function::MintToken, lookup_in(function, &layer)).expect_err("the marker is refused");
    assert!(
        error.starts_with("profiles.connect.widget_id: still the quick-start marker"),
        "{error}"
    );
}

#[test]
fn the_realistic_configuration_fits_every_function_measured_lambdas_way() {
    // 50 origins, 24 profiles with custom mappings, 10 provider clients, 5 upstream providers,
    // with a long stack name (secret names and the prefix carry it).
    let stack_name = "whoscalling-contact-centre-prod-primary";
    let (rendered, configs) = deployable("realistic", realistic_parameters(), stack_name, &realistic_document());
    assert_eq!(
        functions(&rendered),
        [
            "ExchangeCodeFunction",
            "MintTokenFunction",
            "PublishKeysFunction",
            "RotateKeysFunction",
            "VisitorLoginFunction"
        ]
    );
    let config = &configs["ExchangeCodeFunction"];
    assert_eq!(config.allowed_origins.len(), 50);
    assert_eq!(config.profiles.len(), 24);
    assert_eq!(config.provider.as_ref().expect("provider").clients.len(), 10);
    assert_eq!(config.upstream.as_ref().expect("upstream").providers.len(), 5);
    // Every function reads the same document.
    for (name, other) in &configs {
        assert_eq!(other.profiles.len(), 24, "{name}");
    }
    // The figure that matters, for docs/CONFIGURATION.md: the largest environment.
    let largest = rendered
        .functions
        .values()
        .map(|f| f.environment_bytes)
        .max()
        .expect("functions");
    println!("largest environment, measured Lambda's way: {largest} of {LAMBDA_ENVIRONMENT_LIMIT} bytes");
    // The document itself would not have fitted: Lambda's measure of it as one variable.
    let document_as_variable = serde_json::to_string(&BTreeMap::from([("WHOSCALLING_CONFIG", realistic_document())]))
        .expect("JSON")
        .len();
    assert!(
        document_as_variable > LAMBDA_ENVIRONMENT_LIMIT,
        "{document_as_variable}"
    );
    // /oauth2/authorize logs a visitor in with the named upstream provider, whose callback is on
    // the provider's issuer; one document, so the cold start itself checked the pair.
    let provider = config.provider.as_ref().expect("provider");
    assert_eq!(config.authorize_login().map(|n| n.as_str()), Some("bankid"));
    assert_eq!(provider.issuer, "https://chat-identity.example-brand.com");
    assert_eq!(
        provider.grants_table.as_deref(),
        Some(format!("{stack_name}-GrantsTable-1A2B3C4D5E6F7").as_str())
    );
}

#[test]
fn a_placeholder_the_template_does_not_set_stops_the_cold_start_with_its_name() {
    // The realistic document's provider section needs the grants table and the public URL,
    // which exist only with EnableCodeExchange and ProviderIssuer.
    let rendered = render("placeholder-unset", &quick_start(), "whoscalling");
    let layer = layer_folder("placeholder-unset", &realistic_document());
    let function = &rendered.functions["MintTokenFunction"];
    let error = cold_start(Function::MintToken, lookup_in(function, &layer)).expect_err("unset placeholder");
    assert!(
        error.contains("placeholder `${WHOSCALLING_PUBLIC_URL}`: the variable is not set or empty"),
        "{error}"
    );
    // The rotation function reads the same document for its pins, so it stops too.
    let error = cold_start(
        Function::RotateKeys,
        lookup_in(&rendered.functions["RotateKeysFunction"], &layer),
    )
    .expect_err("unset");
    assert!(error.contains("WHOSCALLING_PUBLIC_URL"), "{error}");
}

#[test]
fn generated_client_secrets_follow_the_list() {
    let parameters = |list: &str| {
        with(
            quick_start(),
            json!({"EnableCodeExchange": "true", "ProviderIssuer": "https://id.example-brand.com", "GeneratedClientSecrets": list}),
        )
    };
    let created = |list: &str| {
        let rendered = render("client-secrets", &parameters(list), "whoscalling");
        assert!(
            rendered.failed_rules.is_empty() && rendered.parameter_problems.is_empty(),
            "{list}"
        );
        let mut clients: Vec<String> = rendered
            .secret_names
            .iter()
            .filter_map(|n| n.strip_prefix("whoscalling/whoscalling/clients/"))
            .map(String::from)
            .collect();
        clients.sort();
        clients
    };
    assert_eq!(created(""), Vec::<String>::new());
    assert_eq!(created("puzzel"), ["puzzel"]);
    assert_eq!(created("genesys,liveperson"), ["genesys", "liveperson"]);
    assert_eq!(
        created("liveperson,puzzel,genesys"),
        ["genesys", "liveperson", "puzzel"]
    );
}

#[test]
fn the_rules_refuse_what_the_template_says_they_refuse() {
    let alone = |extra: Value| with(quick_start(), extra);
    let cases = [
        (
            "wildcard-origin",
            alone(json!({"AllowedOrigins": "*"})),
            "NoWildcardOrigin",
        ),
        (
            "provider-without-issuer",
            alone(json!({"EnableCodeExchange": "true"})),
            "CodeExchangeNeedsIssuer",
        ),
        (
            "login-without-issuer",
            alone(json!({"EnableUpstreamLogin": "true"})),
            "UpstreamLoginNeedsIssuer",
        ),
        (
            "login-with-jwt-authorizer",
            alone(
                json!({"EnableUpstreamLogin": "true", "ProviderIssuer": "https://id.example-brand.com", "EnableJwtAuthorizer": "true"}),
            ),
            "UpstreamLoginWithoutJwtAuthorizer",
        ),
        (
            "client-secret-without-provider",
            alone(json!({"GeneratedClientSecrets": "puzzel"})),
            "ClientSecretsNeedCodeExchange",
        ),
    ];
    for (scenario, parameters, rule) in cases {
        let rendered = render(scenario, &parameters, "whoscalling");
        assert!(
            rendered.failed_rules.len() == 1 && rendered.failed_rules[0].starts_with(&format!("{rule}:")),
            "{scenario}: expected only {rule} to fail, got {:?}",
            rendered.failed_rules
        );
    }
}

#[test]
fn parameter_constraints_are_checked() {
    let rendered = render(
        "bad-parameters",
        &with(
            quick_start(),
            json!({"EnableCodeExchange": "yes", "LogLevel": "info; rm -rf /", "GeneratedClientSecrets": "puzzel,acme",
            "IdentityProviderIssuer": "http://login.example-brand.com"}),
        ),
        "whoscalling",
    );
    let problems = rendered.parameter_problems.join("; ");
    for expected in [
        "EnableCodeExchange: not one of the allowed values",
        "LogLevel: does not match AllowedPattern",
        "GeneratedClientSecrets: does not match AllowedPattern",
        "IdentityProviderIssuer: does not match AllowedPattern",
    ] {
        assert!(problems.contains(expected), "{expected} missing from: {problems}");
    }
}

/// With a custom domain (DomainName) and no ProviderIssuer, every function's public URL is the
/// domain, so the provider's issuer and every visitor-login redirect URI of the document are on it
/// in one deployment. (Moved here from template_operations.rs when the configuration became a
/// document: the issuer now reaches it through `${WHOSCALLING_PUBLIC_URL}`.)
#[test]
fn a_custom_domain_is_the_public_url_the_issuer_and_every_redirect_uri() {
    let parameters = with(
        realistic_parameters(),
        json!({
            "ProviderIssuer": "",
            "DomainName": "chat-id.example-brand.com",
            "DomainCertificateArn": "arn:aws:acm:ap-southeast-2:123456789012:certificate/0a1b2c3d-aaaa-bbbb-cccc-0123456789ab",
        }),
    );
    let (rendered, configs) = deployable("custom-domain", parameters, "chat-prod", &realistic_document());
    for (name, function) in &rendered.functions {
        assert_eq!(
            function.environment.get("WHOSCALLING_PUBLIC_URL").map(String::as_str),
            Some("https://chat-id.example-brand.com"),
            "{name}: the public URL is the custom domain"
        );
    }
    let provider = configs["ExchangeCodeFunction"]
        .provider
        .as_ref()
        .expect("the realistic document has a provider");
    assert_eq!(
        provider.issuer, "https://chat-id.example-brand.com",
        "the provider's issuer"
    );
    let upstream = configs["VisitorLoginFunction"]
        .upstream
        .as_ref()
        .expect("the realistic document has upstream providers");
    assert!(!upstream.providers.is_empty());
    for (name, provider) in &upstream.providers {
        let expected = format!("https://chat-id.example-brand.com/callback/{name}");
        assert_eq!(
            provider.redirect_uri.as_str(),
            expected,
            "{name}: the redirect URI is on the domain"
        );
    }
    // Control: with ProviderIssuer and no domain, the public URL is ProviderIssuer.
    let plain = render("provider-issuer", &realistic_parameters(), "chat-prod");
    for (name, function) in &plain.functions {
        assert_eq!(
            function.environment.get("WHOSCALLING_PUBLIC_URL").map(String::as_str),
            Some("https://chat-identity.example-brand.com"),
            "{name}"
        );
    }
}

/// `EnableIntercom` creates Intercom's secret (with the pasted-key placeholder) and nothing else;
/// off, there is none, and the realistic document's `intercom` profile would name a secret no role
/// may read.
#[test]
fn the_intercom_secret_follows_its_parameter() {
    let intercom = |enabled: &str| {
        let rendered = render(
            "intercom",
            &with(quick_start(), json!({"EnableIntercom": enabled})),
            "whoscalling",
        );
        assert!(
            rendered.failed_rules.is_empty() && rendered.parameter_problems.is_empty(),
            "{enabled}"
        );
        let name = "whoscalling/whoscalling/intercom-secret";
        (
            rendered.secret_names.iter().any(|n| n == name),
            secret_is_provided(&rendered, "whoscalling", name),
        )
    };
    assert_eq!(intercom("true"), (true, true));
    assert_eq!(intercom("false"), (false, false));
    let refused = render(
        "intercom-bad",
        &with(quick_start(), json!({"EnableIntercom": "yes"})),
        "whoscalling",
    );
    assert!(
        !refused.parameter_problems.is_empty(),
        "EnableIntercom takes only true/false"
    );
}

/// `EnableCcaiPlatform`: the company secret exists only with it, under the name a `ccai-platform`
/// profile of the document gives through `${WHOSCALLING_SECRET_PREFIX}`, and every function still
/// starts with that document; without it, the same document names a secret nobody created.
#[test]
fn the_ccai_platform_opt_in_creates_the_secret_its_profile_names() {
    let document = shipped_document()
        .replace("REPLACE_WITH_CONNECT_WIDGET_ID", "0f6b4a35-6f4e-4e38-9c4f-5a3c0d8f7a11")
        .replace(
            "  \"profiles\": {\n",
            "  \"profiles\": {\n    \"ccai\": {\"platform\": \"ccai-platform\", \"company_name\": \"Example Brand\",\n      \
             \"company_secret_secret\": \"${WHOSCALLING_SECRET_PREFIX}/ccai-company-secret\", \"token_lifetime_seconds\": 3600},\n",
        );
    assert!(document.contains("ccai-platform"), "the profile was inserted");
    let (rendered, configs) = deployable(
        "ccai-platform",
        with(quick_start(), json!({"EnableCcaiPlatform": "true"})),
        "whoscalling",
        &document,
    );
    assert!(
        rendered
            .secret_names
            .iter()
            .any(|s| s == "whoscalling/whoscalling/ccai-company-secret"),
        "{:?}",
        rendered.secret_names
    );
    assert_eq!(
        configs["MintTokenFunction"]
            .profiles
            .keys()
            .map(|p| p.as_str())
            .collect::<Vec<_>>(),
        ["ccai", "connect"]
    );
    let off = render("ccai-platform-off", &quick_start(), "whoscalling");
    assert!(!secret_is_provided(
        &off,
        "whoscalling",
        "whoscalling/whoscalling/ccai-company-secret"
    ));
}

/// Zendesk is opt-in: without EnableZendesk no Zendesk secret exists, so a document naming it
/// does not deploy (no role may read it); with it, the template creates exactly
/// whoscalling/<stack>/zendesk-key and the shipped document plus a zendesk-messaging profile
/// naming it deploys and passes every function's cold start.
#[test]
fn zendesk_is_opt_in_with_its_own_secret() {
    let zendesk_secrets = |rendered: &Rendered| -> Vec<String> {
        let mut names: Vec<String> = rendered
            .secret_names
            .iter()
            .filter(|n| n.contains("zendesk"))
            .cloned()
            .collect();
        names.sort();
        names
    };
    let off = render("zendesk-off", &quick_start(), "whoscalling");
    assert_eq!(zendesk_secrets(&off), Vec::<String>::new());
    assert!(!secret_is_provided(
        &off,
        "whoscalling",
        "whoscalling/whoscalling/zendesk-key"
    ));

    let mut document: Value = serde_json::from_str(
        &shipped_document().replace("REPLACE_WITH_CONNECT_WIDGET_ID", "0f6b4a35-6f4e-4e38-9c4f-5a3c0d8f7a11"),
    )
    .unwrap();
    document["profiles"]["zendesk"] = json!({"platform": "zendesk-messaging",
        "key_secret": "${WHOSCALLING_SECRET_PREFIX}/zendesk-key", "token_lifetime_seconds": 300});
    let (rendered, configs) = deployable(
        "zendesk-on",
        with(quick_start(), json!({"EnableZendesk": "true"})),
        "whoscalling",
        &document.to_string(),
    );
    assert_eq!(zendesk_secrets(&rendered), ["whoscalling/whoscalling/zendesk-key"]);
    let profile = &configs["MintTokenFunction"].profiles;
    assert_eq!(
        profile.values().map(|p| p.kind()).collect::<Vec<_>>(),
        ["amazon-connect", "zendesk-messaging"]
    );
}

/// Salesforce is opt-in and needs no secret (our own rotating RS256 key signs): without
/// EnableSalesforce its outputs are absent; with it the shipped document plus a salesforce-miaw
/// profile deploys and passes every function's cold start (publish-keys included, which serves
/// the key's single JWK), and no new secret exists.
#[test]
fn salesforce_is_opt_in_without_a_secret() {
    let off = render("salesforce-off", &quick_start(), "whoscalling");
    let mut document: Value = serde_json::from_str(
        &shipped_document().replace("REPLACE_WITH_CONNECT_WIDGET_ID", "0f6b4a35-6f4e-4e38-9c4f-5a3c0d8f7a11"),
    )
    .unwrap();
    document["profiles"]["salesforce"] = json!({"platform": "salesforce-miaw",
        "issuer": "https://www.example.com/chat", "token_lifetime_seconds": 300});
    let (rendered, configs) = deployable(
        "salesforce-on",
        with(quick_start(), json!({"EnableSalesforce": "true"})),
        "whoscalling",
        &document.to_string(),
    );
    assert_eq!(rendered.secret_names, off.secret_names, "no secret of its own");
    for function in ["MintTokenFunction", "PublishKeysFunction"] {
        let kinds: Vec<_> = configs[function].profiles.values().map(|p| p.kind()).collect();
        assert_eq!(kinds, ["amazon-connect", "salesforce-miaw"], "{function}");
    }
}

/// Freshchat is opt-in: without EnableFreshchat no Freshchat secret exists, so a document naming
/// it does not deploy (no role may read it); with it, the template creates exactly
/// whoscalling/<stack>/freshchat-key and the shipped document plus a freshchat profile naming it
/// deploys and passes every function's cold start.
#[test]
fn freshchat_is_opt_in_with_its_own_secret() {
    let freshchat_secrets = |rendered: &Rendered| -> Vec<String> {
        let mut names: Vec<String> = rendered
            .secret_names
            .iter()
            .filter(|n| n.contains("freshchat"))
            .cloned()
            .collect();
        names.sort();
        names
    };
    let off = render("freshchat-off", &quick_start(), "whoscalling");
    assert_eq!(freshchat_secrets(&off), Vec::<String>::new());
    assert!(!secret_is_provided(
        &off,
        "whoscalling",
        "whoscalling/whoscalling/freshchat-key"
    ));

    let mut document: Value = serde_json::from_str(
        &shipped_document().replace("REPLACE_WITH_CONNECT_WIDGET_ID", "0f6b4a35-6f4e-4e38-9c4f-5a3c0d8f7a11"),
    )
    .unwrap();
    document["profiles"]["freshchat"] = json!({"platform": "freshchat",
        "encryption_key_secret": "${WHOSCALLING_SECRET_PREFIX}/freshchat-key"});
    let (rendered, configs) = deployable(
        "freshchat-on",
        with(quick_start(), json!({"EnableFreshchat": "true"})),
        "whoscalling",
        &document.to_string(),
    );
    assert_eq!(freshchat_secrets(&rendered), ["whoscalling/whoscalling/freshchat-key"]);
    let profiles = &configs["MintTokenFunction"].profiles;
    assert_eq!(
        profiles.values().map(|p| p.kind()).collect::<Vec<_>>(),
        ["amazon-connect", "freshchat"]
    );
}

/// `events/env.json` is what `sam local invoke --env-vars` gives each function, with the whole
/// document inline in `WHOSCALLING_CONFIG`: each function's set must still fit Lambda's 4 KB, or
/// the samples describe an environment no deployed function could have. Each must also load as
/// its function's cold start loads it.
#[test]
fn the_sample_events_environments_fit_lambdas_limit() {
    let text = std::fs::read_to_string(workspace_root().join("events/env.json")).expect("events/env.json");
    let functions: BTreeMap<String, BTreeMap<String, String>> = serde_json::from_str(&text).expect("JSON");
    assert!(functions.len() >= 5, "{:?}", functions.keys());
    for (function, variables) in &functions {
        let measured = lambda_environment_bytes(variables);
        println!("{function}: {measured} of {LAMBDA_ENVIRONMENT_LIMIT} bytes");
        assert!(
            measured <= LAMBDA_ENVIRONMENT_LIMIT,
            "{function}: {measured} bytes of environment, measured Lambda's way"
        );
        if let Some(document) = variables.get("WHOSCALLING_CONFIG") {
            ServiceConfig::from_json(function, document).unwrap_or_else(|e| panic!("{function}: {e}"));
        }
    }
    // The measure escapes as Lambda does: one non-ASCII character is six bytes per UTF-16 unit.
    let sample = BTreeMap::from([("A".to_string(), "é😀".to_string())]);
    assert_eq!(lambda_environment_bytes(&sample), r#"{"A":"\u00e9\ud83d\ude00"}"#.len());
}
