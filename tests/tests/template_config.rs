//! The configuration `template.yaml` gives each function, for every option that changes it.
//!
//! The document is text assembled by `!Sub` and `!If`, which neither `sam validate` nor cfn-lint
//! can check as JSON. `scripts/render-template.py` evaluates the template for a set of
//! parameters (cfn-lint's decoder, SAM's Globals merge, the intrinsic functions); each function's
//! environment then goes through exactly what that function's `main` does at cold start (the
//! config loader and the function's own `Deps` wiring), and must fit Lambda's 4 KB of
//! environment variables. The template's Rules are evaluated too, so a combination the template
//! promises to refuse is refused.

use std::collections::BTreeMap;
use std::process::Command;
use std::sync::Arc;

use serde_json::{Value, json};
use whoscalling::provider::MemoryGrantStore;
use whoscalling::secrets::InMemorySecretStore;
use whoscalling::{ServiceConfig, SystemClock};
use whoscalling_tests::{python, workspace_root};

/// Lambda's limit on a function's environment variables, names and values together.
const LAMBDA_ENVIRONMENT_LIMIT: usize = 4096;

struct Rendered {
    failed_rules: Vec<String>,
    parameter_problems: Vec<String>,
    functions: BTreeMap<String, BTreeMap<String, String>>,
    /// The names of the secrets the template creates.
    secret_names: Vec<String>,
}

fn render(name: &str, parameters: &Value, stack_name: &str, region: &str) -> Rendered {
    let dir = workspace_root().join("target/template-config");
    std::fs::create_dir_all(&dir).expect("target dir");
    let file = dir.join(format!("{name}.json"));
    std::fs::write(&file, parameters.to_string()).expect("parameters file");
    let output = Command::new(python())
        .arg(workspace_root().join("scripts/render-template.py"))
        .args(["--template", workspace_root().join("template.yaml").to_str().expect("path")])
        .args(["--parameters", file.to_str().expect("path"), "--stack-name", stack_name, "--region", region])
        .output()
        .expect("run scripts/render-template.py");
    assert!(output.status.success(), "{name}: render failed: {}", String::from_utf8_lossy(&output.stderr));
    let answer: Value = serde_json::from_slice(&output.stdout).expect("renderer JSON");
    let strings = |value: &Value| -> Vec<String> {
        value.as_array().expect("list").iter().map(|v| v.as_str().expect("text").to_string()).collect()
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
            (function.clone(), environment)
        })
        .collect();
    let secret_names =
        answer["secrets"].as_object().expect("secrets").values().map(|v| v["name"].as_str().expect("name").to_string()).collect();
    Rendered { failed_rules: strings(&answer["rules"]), parameter_problems: strings(&answer["parameters"]), functions, secret_names }
}

/// The parameters every deployment must give (the rest have defaults).
fn required() -> Value {
    json!({
        "ConnectWidgetId": "0f6b4a35-6f4e-4e38-9c4f-5a3c0d8f7a11",
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

fn liveperson_public_key() -> String {
    // A real RSA-4096 SPKI, the largest key LivePerson's parameter accepts (tests/fixtures/README.md).
    std::fs::read_to_string(workspace_root().join("tests/fixtures/rsa4096-public-spki.b64")).expect("fixture").trim().to_string()
}

/// Every platform and option at once, with long but plausible values: the worst case for size.
fn everything() -> Value {
    with(
        required(),
        json!({
            "AllowedOrigins": "https://www.example-brand.com,https://chat.example-brand.com,https://help.example-brand.com,https://m.example-brand.com",
            "VisitorTokenMaxAgeSeconds": "28800",
            "RequiredVisitorClaim": "urn:example-brand:auth_level",
            "EnableLivePerson": "true",
            "LivePersonIssuer": "https://login.example-brand.com/whoscalling/liveperson",
            "LivePersonEncryptionPublicKey": liveperson_public_key(),
            "LivePersonEncryptionKid": "liveperson-2026-11",
            "LivePersonPublicKeyMode": "pasted",
            "KeyEventsEmail": "chat-platform-team@example-brand.com",
            "EnableLiveAssist": "true",
            "LiveAssistSiteDomain": "www.example-brand.com",
            "EnableCodeExchange": "true",
            "ProviderIssuer": "https://chat-identity.example-brand.com",
            "EnableLivePersonCodeFlow": "true",
            "PuzzelRedirectUri": "https://chat.puzzel.com/Chat/AuthCallback",
            "GenesysRedirectUri": "https://apps.mypurecloud.de/webmessaging/oauth/callback",
            "GenesysRequirePkce": "true",
            "EnableUpstreamLogin": "true",
            "UpstreamIssuer": "https://example-brand.app.signicat.com/auth/open",
            "UpstreamClientId": "prod-example-brand-whoscalling-0123456789",
            "UpstreamScopes": "openid,profile,nin,phone,email",
            "UpstreamAcrValues": "idp:nbid,idp:ftn",
            "ReturnUrls": "https://www.example-brand.com/contact-us,https://www.example-brand.com/help/chat,https://m.example-brand.com/contact-us",
        }),
    )
}

/// What each function's `main` does with its environment at cold start, short of AWS clients:
/// the config loader, then the function's own wiring (with in-memory stores; nothing is read).
fn cold_start(scenario: &str, function: &str, environment: &BTreeMap<String, String>) {
    let lookup = |name: &str| environment.get(name).cloned();
    let secrets = Arc::new(InMemorySecretStore::default());
    let clock = Arc::new(SystemClock);
    let context = |e: &dyn std::fmt::Display| format!("{scenario}: {function} would fail at cold start: {e}");
    if function == "RotateKeysFunction" {
        let rotation = rotate_keys::Config::from_lookup(lookup).unwrap_or_else(|e| panic!("{}", context(&e)));
        // The pins it creates are exactly the ones the profiles sign with (a missing one would
        // fail every Live Assist chat; an extra one is a key nobody pastes).
        let shared = ServiceConfig::from_lookup(lookup).unwrap_or_else(|e| panic!("{}", context(&e)));
        let pins: Vec<String> = rotation.pinned_keys.iter().map(|p| p.as_str().to_string()).collect();
        let wanted: Vec<String> = shared.pinned_keys().iter().map(|p| p.as_str().to_string()).collect();
        assert_eq!(pins, wanted, "{scenario}: WHOSCALLING_PINNED_KEYS differs from the pasted-key profiles");
        let signing_secret = shared.signing_keys.as_ref().map(|k| k.secret.to_string());
        assert_eq!(rotation.secret_id, signing_secret, "{scenario}: the rotation function's secret is not the signing-key secret");
        assert!(rotation.key_events_topic.is_some(), "{scenario}: key events go nowhere");
        // With the visitor login, the session-key secret is rotated by this function too.
        let session_secret = shared.session.as_ref().map(|s| s.key_secret.to_string());
        assert_eq!(rotation.session_key_secret.is_some(), session_secret.is_some(), "{scenario}: session-key rotation wiring");
        if let (Some(rotated), Some(session)) = (&rotation.session_key_secret, &session_secret) {
            assert!(whoscalling::session_rotation::same_secret(rotated, session), "{scenario}: rotates {rotated}, sessions use {session}");
        }
        return;
    }
    let config = ServiceConfig::from_lookup(lookup).unwrap_or_else(|e| panic!("{}", context(&e)));
    let wired = match function {
        "MintTokenFunction" => mint_token::Deps::from_config(&config, secrets, clock).map(drop),
        "PublishKeysFunction" => publish_keys::Deps::new(&config, secrets).map(drop),
        "ExchangeCodeFunction" => {
            exchange_code::Deps::from_config(&config, Arc::new(MemoryGrantStore::new()), secrets, clock).map(drop)
        }
        "VisitorLoginFunction" => {
            // main requires the used-state table (DynamoDB) beside the shared configuration.
            visitor_login::used_states_table(lookup).unwrap_or_else(|e| panic!("{}", context(&e)));
            visitor_login::Deps::new(&config, secrets, clock).map(drop)
        }
        other => panic!("{scenario}: the template has a function this test does not know: {other}"),
    };
    wired.unwrap_or_else(|e| panic!("{}", context(&e)));
}

/// Every secret a configuration names (they are given by name, so a renamed secret resource
/// would otherwise leave the configuration pointing at nothing).
fn named_secrets(config: &ServiceConfig) -> Vec<String> {
    let mut names: Vec<String> = Vec::new();
    names.extend(config.signing_keys.iter().map(|k| k.secret.as_str().to_string()));
    for profile in config.profiles.values() {
        if let whoscalling::config::ProfileConfig::AmazonConnect(connect) = profile {
            names.push(connect.security_key_secret.as_str().to_string());
        }
    }
    names.extend(config.session.iter().map(|s| s.key_secret.as_str().to_string()));
    if let Some(provider) = &config.provider {
        names.extend(provider.clients.values().map(|c| c.secret.as_str().to_string()));
    }
    if let Some(upstream) = &config.upstream {
        names.extend(upstream.providers.values().map(|p| p.client_secret.as_str().to_string()));
    }
    names
}

fn environment_bytes(environment: &BTreeMap<String, String>) -> usize {
    environment.iter().map(|(k, v)| k.len() + v.len()).sum()
}

/// Renders a scenario that must deploy, and checks every function it creates.
fn deployable(scenario: &str, parameters: Value) -> Rendered {
    let rendered = render(scenario, &parameters, "whoscalling-production", "ap-southeast-2");
    assert!(rendered.parameter_problems.is_empty(), "{scenario}: {:?}", rendered.parameter_problems);
    assert!(rendered.failed_rules.is_empty(), "{scenario}: {:?}", rendered.failed_rules);
    for (function, environment) in &rendered.functions {
        cold_start(scenario, function, environment);
        if function != "RotateKeysFunction" {
            let config = ServiceConfig::from_lookup(|name| environment.get(name).cloned()).expect("config");
            for name in named_secrets(&config) {
                assert!(rendered.secret_names.contains(&name), "{scenario}: {function} names {name}, which the template does not create");
            }
        }
        let bytes = environment_bytes(environment);
        assert!(bytes <= LAMBDA_ENVIRONMENT_LIMIT, "{scenario}: {function} has {bytes} bytes of environment variables");
    }
    rendered
}

fn config_of(rendered: &Rendered, function: &str) -> ServiceConfig {
    let environment = &rendered.functions[function];
    ServiceConfig::from_lookup(|name| environment.get(name).cloned()).expect("config")
}

fn functions(rendered: &Rendered) -> Vec<&str> {
    rendered.functions.keys().map(String::as_str).collect()
}

#[test]
fn connect_only_default_deployment() {
    let rendered = deployable("connect-only", required());
    assert_eq!(functions(&rendered), ["MintTokenFunction", "PublishKeysFunction", "RotateKeysFunction"]);
    let config = config_of(&rendered, "MintTokenFunction");
    assert_eq!(config.profiles.keys().map(|p| p.as_str()).collect::<Vec<_>>(), ["connect"]);
    assert!(config.provider.is_none() && config.session.is_none() && config.upstream.is_none());
    // Secrets are given by the names the template sets on them.
    let signing = config.signing_keys.as_ref().expect("signing keys");
    assert_eq!(signing.secret.as_str(), "whoscalling/whoscalling-production/signing-keys");
}

#[test]
fn each_platform_alone() {
    let scenarios = [
        ("jwt-authorizer", json!({"EnableJwtAuthorizer": "true"})),
        ("liveperson", json!({"EnableLivePerson": "true", "LivePersonIssuer": "https://login.example-brand.com/lp"})),
        (
            "liveperson-encrypted",
            json!({"EnableLivePerson": "true", "LivePersonIssuer": "https://login.example-brand.com/lp",
                   "LivePersonEncryptionPublicKey": liveperson_public_key(), "LivePersonEncryptionKid": "lp-1"}),
        ),
        ("live-assist", json!({"EnableLiveAssist": "true", "LiveAssistSiteDomain": "www.example-brand.com"})),
        (
            "liveperson-pasted-key",
            json!({"EnableLivePerson": "true", "LivePersonIssuer": "https://login.example-brand.com/lp", "LivePersonPublicKeyMode": "pasted"}),
        ),
        (
            "liveperson-code-flow-pasted-key",
            json!({"EnableCodeExchange": "true", "ProviderIssuer": "https://chat-identity.example-brand.com",
                   "EnableLivePersonCodeFlow": "true", "LivePersonPublicKeyMode": "pasted"}),
        ),
        (
            "liveperson-code-flow",
            json!({"EnableCodeExchange": "true", "ProviderIssuer": "https://chat-identity.example-brand.com",
                   "EnableLivePersonCodeFlow": "true"}),
        ),
        (
            "puzzel",
            json!({"EnableCodeExchange": "true", "ProviderIssuer": "https://chat-identity.example-brand.com",
                   "PuzzelRedirectUri": "https://chat.puzzel.com/Chat/AuthCallback"}),
        ),
        (
            "genesys",
            json!({"EnableCodeExchange": "true", "ProviderIssuer": "https://chat-identity.example-brand.com",
                   "GenesysRedirectUri": "https://apps.mypurecloud.de/webmessaging/oauth/callback", "GenesysRequirePkce": "false"}),
        ),
        (
            "visitor-login",
            json!({"EnableUpstreamLogin": "true", "ProviderIssuer": "https://chat-identity.example-brand.com",
                   "UpstreamIssuer": "https://example-brand.app.signicat.com/auth/open", "UpstreamClientId": "whoscalling",
                   "ReturnUrls": "https://www.example-brand.com/contact"}),
        ),
    ];
    for (scenario, extra) in scenarios {
        deployable(scenario, with(required(), extra));
    }
}

#[test]
fn puzzel_may_get_a_code_lifetime_of_ten_minutes_and_no_login_without_the_visitor_login() {
    let puzzel = |lifetime: &str| {
        with(
            required(),
            json!({"EnableCodeExchange": "true", "ProviderIssuer": "https://chat-identity.example-brand.com",
                   "PuzzelRedirectUri": "https://chat.puzzel.com/Chat/AuthCallback", "CodeLifetimeSeconds": lifetime}),
        )
    };
    let rendered = deployable("puzzel-late-redeem", puzzel("600"));
    let exchange = config_of(&rendered, "ExchangeCodeFunction");
    let provider = exchange.provider.as_ref().expect("provider");
    assert_eq!(provider.code_lifetime_seconds, 600);
    assert!(provider.login_with.is_none() && exchange.authorize_login().is_none(), "no visitor login: login_required");
    for refused in ["0", "601"] {
        let rendered = render("puzzel-code-lifetime", &puzzel(refused), "whoscalling-production", "ap-southeast-2");
        assert!(rendered.parameter_problems.iter().any(|p| p.contains("CodeLifetimeSeconds")), "{refused}: {:?}", rendered.parameter_problems);
    }
}

#[test]
fn liveperson_code_flow_alone_gets_its_own_profile_name() {
    let rendered = deployable(
        "liveperson-code-only",
        with(
            required(),
            json!({"EnableCodeExchange": "true", "ProviderIssuer": "https://chat-identity.example-brand.com",
                   "EnableLivePersonCodeFlow": "true"}),
        ),
    );
    let config = config_of(&rendered, "ExchangeCodeFunction");
    let provider = config.provider.as_ref().expect("provider from WHOSCALLING_PROVIDER");
    let client = provider.clients.values().next().expect("one client");
    assert_eq!(client.profile.as_str(), "liveperson-code");
    assert!(config.profiles.keys().all(|p| p.as_str() != "liveperson"), "EnableLivePerson is false");
    // ... and the code flow's profile is no implicit-flow endpoint: /token/liveperson-code is 404.
    let minter = mint_token::Deps::from_config(
        &config_of(&rendered, "MintTokenFunction"),
        Arc::new(InMemorySecretStore::default()),
        Arc::new(SystemClock),
    )
    .expect("mint-token wiring");
    assert!(!minter.minter.has_profile("liveperson-code"));

    // With the implicit flow enabled too, one profile serves both.
    let both = deployable(
        "liveperson-both-flows",
        with(
            required(),
            json!({"EnableLivePerson": "true", "LivePersonIssuer": "https://login.example-brand.com/lp",
                   "EnableCodeExchange": "true", "ProviderIssuer": "https://chat-identity.example-brand.com",
                   "EnableLivePersonCodeFlow": "true"}),
        ),
    );
    let minter = mint_token::Deps::from_config(
        &config_of(&both, "MintTokenFunction"),
        Arc::new(InMemorySecretStore::default()),
        Arc::new(SystemClock),
    )
    .expect("mint-token wiring");
    assert!(minter.minter.has_profile("liveperson"));
    let exchange = config_of(&both, "ExchangeCodeFunction");
    assert_eq!(exchange.provider.as_ref().expect("provider").clients.values().next().expect("client").profile.as_str(), "liveperson");
}

#[test]
fn everything_enabled_fits_every_function() {
    let rendered = deployable("everything", everything());
    assert_eq!(
        functions(&rendered),
        ["ExchangeCodeFunction", "MintTokenFunction", "PublishKeysFunction", "RotateKeysFunction", "VisitorLoginFunction"]
    );
    // Each function gets the sections it reads and no other.
    let sections = |function: &str| {
        let config = config_of(&rendered, function);
        (config.provider.is_some(), config.session.is_some(), config.upstream.is_some())
    };
    assert_eq!(sections("MintTokenFunction"), (false, true, false));
    assert_eq!(sections("PublishKeysFunction"), (false, true, false));
    assert_eq!(sections("ExchangeCodeFunction"), (true, true, false));
    assert_eq!(sections("VisitorLoginFunction"), (false, true, true));
    let exchange = config_of(&rendered, "ExchangeCodeFunction");
    let clients: Vec<&str> = exchange.provider.as_ref().expect("provider").clients.keys().map(|c| c.as_str()).collect();
    assert_eq!(clients, ["genesys", "liveperson", "puzzel"]);
    let visitor = config_of(&rendered, "VisitorLoginFunction");
    let upstream = visitor.upstream.as_ref().expect("upstream");
    assert_eq!(upstream.return_urls.len(), 3);
    // /oauth2/authorize logs a visitor without a session in with visitor-login's provider, whose
    // callback is on the provider's issuer (the two sections reach different functions, so this
    // is the cross-section check the cold start cannot make).
    let provider = exchange.provider.as_ref().expect("provider");
    let login_with = provider.login_with.as_ref().expect("login_with with the visitor login on");
    assert_eq!(exchange.authorize_login(), Some(login_with));
    let login = upstream.providers.get(login_with).expect("login_with names visitor-login's provider");
    assert_eq!(login.redirect_uri.as_str(), format!("{}/callback/{}", provider.issuer, login_with.as_str()));
    assert_eq!(provider.code_lifetime_seconds, 60, "the default");
    // Only the functions that read a secret's name are told it.
    for (function, environment) in &rendered.functions {
        let text: String = environment.values().cloned().collect();
        assert_eq!(text.contains("/clients/"), function == "ExchangeCodeFunction", "{function}: client secrets");
        assert_eq!(text.contains("upstream-client-secret"), function == "VisitorLoginFunction", "{function}: upstream secret");
    }
}

#[test]
fn everything_enabled_fits_with_a_long_stack_name_in_a_long_region_name() {
    // Secret names carry the stack name; 40 characters is longer than most teams use.
    let rendered = render("everything-long-names", &everything(), "whoscalling-contact-centre-prod-primary", "ap-southeast-2");
    for (function, environment) in &rendered.functions {
        let bytes = environment_bytes(environment);
        assert!(bytes <= LAMBDA_ENVIRONMENT_LIMIT, "{function} has {bytes} bytes of environment variables");
    }
}

#[test]
fn the_rules_refuse_what_the_template_says_they_refuse() {
    let alone = |extra: Value| with(required(), extra);
    let cases = [
        ("wildcard-origin", alone(json!({"AllowedOrigins": "*"})), "NoWildcardOrigin"),
        ("liveperson-without-issuer", alone(json!({"EnableLivePerson": "true"})), "LivePersonNeedsIssuer"),
        ("live-assist-without-domain", alone(json!({"EnableLiveAssist": "true"})), "LiveAssistNeedsSiteDomain"),
        ("kid-without-key", alone(json!({"LivePersonEncryptionKid": "lp-1"})), "EncryptionKidNeedsKey"),
        (
            "provider-without-client",
            alone(json!({"EnableCodeExchange": "true", "ProviderIssuer": "https://chat-identity.example-brand.com"})),
            "CodeExchangeNeedsClient",
        ),
        (
            "provider-without-issuer",
            alone(json!({"EnableCodeExchange": "true", "EnableLivePersonCodeFlow": "true"})),
            "CodeExchangeNeedsIssuer",
        ),
        (
            "visitor-login-with-jwt-authorizer",
            with(everything(), json!({"EnableJwtAuthorizer": "true"})),
            "UpstreamLoginWithoutJwtAuthorizer",
        ),
        (
            "visitor-login-stray-acr-comma",
            with(everything(), json!({"UpstreamAcrValues": "idp:nbid,"})),
            "UpstreamAcrValuesWithoutEmptyItem",
        ),
        ("visitor-login-without-return-urls", with(everything(), json!({"ReturnUrls": ""})), "UpstreamLoginNeedsSettings"),
    ];
    for (scenario, parameters, rule) in cases {
        let rendered = render(scenario, &parameters, "whoscalling-production", "ap-southeast-2");
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
        &with(required(), json!({"TokenLifetimeSeconds": "900", "EnableLivePerson": "yes", "LogLevel": "info; rm -rf /",
            "VisitorTokenMaxAgeSeconds": "172800", "RequiredVisitorClaim": "auth_time\", \"x\": \"y"})),
        "whoscalling-production",
        "ap-southeast-2",
    );
    let problems = rendered.parameter_problems.join("; ");
    for expected in [
        "TokenLifetimeSeconds: above MaxValue",
        "EnableLivePerson: not one of the allowed values",
        "LogLevel: does not match AllowedPattern",
        "VisitorTokenMaxAgeSeconds: above MaxValue",
        "RequiredVisitorClaim: does not match AllowedPattern",
    ] {
        assert!(problems.contains(expected), "{expected} missing from: {problems}");
    }
}
