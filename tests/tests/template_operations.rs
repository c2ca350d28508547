//! The operations part of `template.yaml` (docs/OPERATIONS.md): guardrails, alarms, dashboard and
//! the custom domain, read from the template as CloudFormation would decode it (cfn-lint's
//! decoder) and, for what the functions are given, rendered by `scripts/render-template.py`.
//!
//! `sam validate --lint` checks that these resources are well-formed; it cannot tell that an
//! access log leaves out the caller's Authorization, that the dashboard body (text built by `!Sub`)
//! is JSON, or that a custom domain reaches the issuer the functions are given.

use std::process::Command;

use serde_json::{Value, json};
use whoscalling_tests::{python, workspace_root};

/// The template as JSON (short-form intrinsics become `{"Fn::...": ...}`, `Ref` stays `Ref`).
fn template() -> Value {
    let output = Command::new(python())
        .args([
            "-c",
            "import json, sys\nfrom cfnlint.decode import decode\ntemplate, problems = decode(sys.argv[1])\n\
             assert not problems, problems\nprint(json.dumps(template))",
        ])
        .arg(workspace_root().join("template.yaml"))
        .output()
        .expect("run the decoder");
    assert!(
        output.status.success(),
        "decode failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_slice(&output.stdout).expect("template JSON")
}

/// What `scripts/render-template.py` answers for these parameters.
fn render(name: &str, parameters: &Value) -> Value {
    let dir = workspace_root().join("target/template-operations");
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
            "chat-prod",
            "--region",
            "eu-west-1",
        ])
        .output()
        .expect("run scripts/render-template.py");
    assert!(
        output.status.success(),
        "{name}: render failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_slice(&output.stdout).expect("renderer JSON")
}

fn parameters(extra: Value) -> Value {
    let mut base = json!({
        "IdentityProviderIssuer": "https://login.example-brand.com",
        "IdentityProviderAudience": "web-portal",
    });
    for (key, value) in extra.as_object().expect("object") {
        base[key] = value.clone();
    }
    base
}

fn resources_of_type<'a>(template: &'a Value, kind: &str) -> Vec<(&'a String, &'a Value)> {
    template["Resources"]
        .as_object()
        .expect("resources")
        .iter()
        .filter(|(_, r)| r["Type"] == kind)
        .collect()
}

#[test]
fn every_function_and_the_api_log_into_a_group_with_the_retention_parameter() {
    let template = template();
    let groups = resources_of_type(&template, "AWS::Logs::LogGroup");
    for (name, group) in &groups {
        assert_eq!(
            group["Properties"]["RetentionInDays"],
            json!({"Ref": "LogRetentionDays"}),
            "{name}"
        );
    }
    let group_names: Vec<String> = groups
        .iter()
        .map(|(_, g)| g["Properties"]["LogGroupName"].to_string())
        .collect();
    let functions = resources_of_type(&template, "AWS::Serverless::Function");
    assert_eq!(functions.len(), 5);
    for (function, _) in functions {
        let expected = json!({"Fn::Sub": format!("/aws/lambda/${{{function}}}")}).to_string();
        assert!(
            group_names.contains(&expected),
            "{function} has no log group of its own with retention"
        );
    }
    let access = &template["Resources"]["HttpApi"]["Properties"]["AccessLogSettings"];
    assert_eq!(
        access["DestinationArn"],
        json!({"Fn::GetAtt": ["HttpApiAccessLogGroup", "Arn"]})
    );
}

#[test]
fn the_access_log_is_json_with_ids_route_status_latency_and_errors_but_no_query_header_or_address() {
    let template = template();
    let format = template["Resources"]["HttpApi"]["Properties"]["AccessLogSettings"]["Format"]
        .as_str()
        .expect("a format");
    // API Gateway substitutes $context values as text, so placeholders stand in for them here.
    let sample = format.replace("$context.", "ctx_");
    let line: Value = serde_json::from_str(&sample).expect("the access log line is one JSON object");
    for (field, variable) in [
        ("requestId", "ctx_requestId"),
        ("routeKey", "ctx_routeKey"),
        ("status", "ctx_status"),
        ("responseLatency", "ctx_responseLatency"),
        ("integrationError", "ctx_integrationErrorMessage"),
    ] {
        assert_eq!(line[field], variable, "{field}");
    }
    // The route key names the route; the path and query carry what a caller typed.
    for absent in [
        "$context.path",
        "querystring",
        "$context.identity",
        "header",
        "$context.authorizer.claims",
        "userAgent",
    ] {
        assert!(
            !format.to_ascii_lowercase().contains(&absent.to_ascii_lowercase()),
            "the access log must not hold {absent}"
        );
    }
}

#[test]
fn throttling_and_reserved_concurrency_come_from_parameters_with_zero_meaning_unreserved() {
    let template = template();
    let routes = &template["Resources"]["HttpApi"]["Properties"]["DefaultRouteSettings"];
    assert_eq!(routes["ThrottlingRateLimit"], json!({"Ref": "ThrottlingRateLimit"}));
    assert_eq!(routes["ThrottlingBurstLimit"], json!({"Ref": "ThrottlingBurstLimit"}));
    assert_eq!(template["Parameters"]["ThrottlingRateLimit"]["Default"], 50);
    assert_eq!(template["Parameters"]["ThrottlingBurstLimit"]["Default"], 100);
    assert_eq!(
        template["Globals"]["Function"]["ReservedConcurrentExecutions"],
        json!({"Fn::If": ["HasReservedConcurrency", {"Ref": "ReservedConcurrency"}, {"Ref": "AWS::NoValue"}]})
    );
    assert_eq!(
        template["Conditions"]["HasReservedConcurrency"],
        json!({"Fn::Not": [{"Fn::Equals": [{"Ref": "ReservedConcurrency"}, 0]}]})
    );
    assert_eq!(template["Parameters"]["ReservedConcurrency"]["Default"], 0);
    // No function overrides the cap with a value of its own.
    for (name, function) in resources_of_type(&template, "AWS::Serverless::Function") {
        assert!(
            function["Properties"].get("ReservedConcurrentExecutions").is_none(),
            "{name}"
        );
    }
}

#[test]
fn the_alarms_watch_5xx_errors_throttles_rotation_and_pasted_keys() {
    let template = template();
    let alarms: Vec<(&String, &Value)> = resources_of_type(&template, "AWS::CloudWatch::Alarm");
    let watched = |alarm: &Value| -> Vec<(String, String)> {
        let props = &alarm["Properties"];
        let mut metrics = Vec::new();
        if let Some(name) = props["MetricName"].as_str() {
            metrics.push((
                props["Namespace"].as_str().unwrap_or_default().to_string(),
                name.to_string(),
            ));
        }
        for query in props["Metrics"].as_array().into_iter().flatten() {
            // A conditional query is {"Fn::If": [cond, query, NoValue]}.
            let query = query.get("Fn::If").map_or(query, |branches| &branches[1]);
            let metric = &query["MetricStat"]["Metric"];
            if let Some(name) = metric["MetricName"].as_str() {
                metrics.push((
                    metric["Namespace"].as_str().unwrap_or_default().to_string(),
                    name.to_string(),
                ));
            }
        }
        metrics
    };
    let find = |namespace: &str, metric: &str| {
        alarms
            .iter()
            .find(|(_, alarm)| watched(alarm).iter().any(|(n, m)| n == namespace && m == metric))
            .unwrap_or_else(|| panic!("no alarm on {namespace} {metric}"))
    };
    find("AWS/ApiGateway", "5xx");
    find("AWS/Lambda", "Errors");
    find("AWS/Lambda", "Throttles");
    assert_eq!(
        template["Resources"]["RotationFailureAlarm"]["Properties"]["Dimensions"][0]["Value"],
        json!({"Ref": "RotateKeysFunction"})
    );
    let (_, pasted) = find(whoscalling::metrics::NAMESPACE, "PastedKeyMissing");
    // The people who paste keys subscribe to the key-events topic.
    assert_eq!(
        pasted["Properties"]["AlarmActions"][0],
        json!({"Ref": "KeyEventsTopic"})
    );
    for (name, alarm) in &alarms {
        let actions = alarm["Properties"]["AlarmActions"].to_string();
        assert!(
            actions.contains("AlarmTopicArn"),
            "{name} does not notify AlarmTopicArn"
        );
        assert_eq!(
            alarm["Properties"]["TreatMissingData"], "notBreaching",
            "{name}: no traffic is not an alarm"
        );
    }
    assert_eq!(
        alarms.len(),
        5,
        "API 5xx, function errors, throttles, rotation, pasted key"
    );
}

#[test]
fn the_dashboard_body_is_json_and_shows_every_alarm_and_the_functions_metrics() {
    let template = template();
    let body = &template["Resources"]["Dashboard"]["Properties"]["DashboardBody"]["Fn::Sub"];
    let text = body[0].as_str().expect("a !Sub text");
    // Substitute every ${...} with a plain token, as CloudFormation would with real values.
    let mut rendered = String::new();
    let mut rest = text;
    while let Some(start) = rest.find("${") {
        rendered.push_str(&rest[..start]);
        let end = rest[start..].find('}').expect("closed placeholder") + start;
        rendered.push_str(&rest[start + 2..end].replace(['.', ':'], "_"));
        rest = &rest[end + 1..];
    }
    rendered.push_str(rest);
    // The conditional fragments start with ", [" and are empty when off: both must parse.
    let off: Value = serde_json::from_str(
        &[
            "ExchangeErrors",
            "LoginErrors",
            "ExchangeThrottles",
            "LoginThrottles",
            "ExchangeDuration",
            "LoginDuration",
        ]
        .iter()
        .fold(rendered.clone(), |text, name| text.replace(name, "")),
    )
    .expect("the dashboard body is JSON with the optional functions off");
    let widgets = off["widgets"].as_array().expect("widgets");
    let alarms =
        widgets.iter().find(|w| w["type"] == "alarm").expect("an alarm widget")["properties"]["alarms"].to_string();
    for (name, _) in resources_of_type(&template, "AWS::CloudWatch::Alarm") {
        assert!(alarms.contains(name.as_str()), "the dashboard does not show {name}");
    }
    let all = off.to_string();
    for metric in [
        "TokensMinted",
        "Refusals",
        "SecretCacheMisses",
        "JwksRefetches",
        "UpstreamFailures",
        "PastedKeyMissing",
        "5xx",
        "Throttles",
    ] {
        assert!(all.contains(metric), "the dashboard does not show {metric}");
    }
    assert_eq!(
        body[1]["Namespace"],
        whoscalling::metrics::NAMESPACE,
        "the dashboard reads the functions' namespace"
    );
    for (name, fragment) in body[1].as_object().expect("variables") {
        if let Some(branches) = fragment.get("Fn::If") {
            let on = branches[1]["Fn::Sub"]
                .as_str()
                .expect("a fragment")
                .replace("${", "")
                .replace('}', "");
            let with_fragment = rendered.replace(name.as_str(), &on);
            let stripped = [
                "ExchangeErrors",
                "LoginErrors",
                "ExchangeThrottles",
                "LoginThrottles",
                "ExchangeDuration",
                "LoginDuration",
            ]
            .iter()
            .fold(with_fragment, |text, other| text.replace(other, ""));
            serde_json::from_str::<Value>(&stripped)
                .unwrap_or_else(|e| panic!("with {name} on the body is not JSON: {e}"));
        }
    }
}

#[test]
fn a_custom_domain_is_the_base_of_every_url_and_the_rules_keep_it_alone() {
    // The public URL the functions get (issuer, redirect URIs) is checked with the configuration
    // document in template_config.rs; here the outputs and the Rules.
    let domain = json!({
        "DomainName": "chat-id.example.com",
        "DomainCertificateArn": "arn:aws:acm:eu-west-1:123456789012:certificate/0a1b2c3d-aaaa-bbbb-cccc-0123456789ab",
        "EnableCodeExchange": "true",
        "EnableUpstreamLogin": "true",
    });
    let rendered = render("custom-domain", &parameters(domain.clone()));
    assert_eq!(
        rendered["rules"],
        json!([]),
        "a domain replaces ProviderIssuer for the provider and the login"
    );

    // Every output URL is built on the domain when it is set.
    let template = template();
    for (name, output) in template["Outputs"].as_object().expect("outputs") {
        let value = output["Value"].to_string();
        if name == "ApiUrl" || !(value.contains("execute-api") || value.contains("ProviderIssuer")) {
            continue;
        }
        assert!(
            value.contains("HasCustomDomain"),
            "output {name} ignores the custom domain"
        );
    }

    // The rules: a domain needs its certificate, and excludes a second base URL.
    let no_certificate = render(
        "domain-without-certificate",
        &parameters(json!({"DomainName": "chat-id.example.com"})),
    );
    let failed = no_certificate["rules"].to_string();
    assert!(failed.contains("DomainNeedsCertificate"), "{failed}");
    let mut both = domain;
    both["ProviderIssuer"] = json!("https://other.example.com");
    let refused = render("domain-and-issuer", &parameters(both));
    assert!(
        refused["rules"].to_string().contains("DomainOrProviderIssuer"),
        "{}",
        refused["rules"]
    );
    // Control: without a domain the execute-api deployment needs neither.
    let plain = render("no-domain", &parameters(json!({})));
    assert_eq!(plain["rules"], json!([]));
}

/// The CCAI Platform opt-in: its secret starts as the placeholder mint-token refuses to sign with,
/// only mint-token's role may read it (and only under the condition), and the outputs say what to
/// paste where.
#[test]
fn the_ccai_platform_secret_is_read_by_mint_token_only() {
    let template = template();
    let secret = &template["Resources"]["CcaiCompanySecret"];
    assert_eq!(secret["Condition"], "UseCcaiPlatform");
    assert_eq!(secret["Properties"]["SecretString"], "REPLACE_WITH_CCAI_COMPANY_SECRET");
    assert!(whoscalling::secrets::is_placeholder("REPLACE_WITH_CCAI_COMPANY_SECRET"));
    for (name, resource) in template["Resources"].as_object().expect("resources") {
        let text = resource["Properties"]["Policies"].to_string();
        if text.contains("CcaiCompanySecret") {
            assert_eq!(name, "MintTokenFunction", "{name} may not read the company secret");
            assert!(text.contains("UseCcaiPlatform"), "the grant follows the opt-in");
        }
    }
    assert!(
        template["Resources"]["MintTokenFunction"]["Properties"]["Policies"]
            .to_string()
            .contains("CcaiCompanySecret")
    );
    for output in ["CcaiTokenUrl", "CcaiCompanySecretArn"] {
        assert_eq!(template["Outputs"][output]["Condition"], "UseCcaiPlatform", "{output}");
    }
    let on = render("ccai-on", &parameters(json!({"EnableCcaiPlatform": "true"})));
    assert_eq!(on["rules"], json!([]));
    assert!(
        on["secrets"]["CcaiCompanySecret"]["name"] == "whoscalling/chat-prod/ccai-company-secret",
        "{}",
        on["secrets"]
    );
    let off = render("ccai-off", &parameters(json!({})));
    assert!(off["secrets"].get("CcaiCompanySecret").is_none());
}

/// Every secret the template fills with a literal value is a vendor-issued key the operator must
/// paste: each starts as its own placeholder that the functions recognize (so they refuse to sign
/// with it and count `PastedKeyMissing`), named after what belongs there, never Connect's name on
/// another vendor's secret.
#[test]
fn every_pasted_secret_starts_as_its_own_recognized_placeholder() {
    let template = template();
    let mut seen = std::collections::BTreeMap::new();
    for (name, resource) in template["Resources"].as_object().expect("resources") {
        if resource["Type"] != "AWS::SecretsManager::Secret" {
            continue;
        }
        let Some(value) = resource["Properties"]["SecretString"].as_str() else {
            // Generated by Secrets Manager (GenerateSecretString) or filled by the rotation.
            continue;
        };
        if value.is_empty() || value.starts_with('{') {
            continue;
        }
        assert!(whoscalling::secrets::is_placeholder(value), "{name}: {value}");
        if let Some(other) = seen.insert(value.to_string(), name.clone()) {
            panic!("{name} and {other} share the placeholder {value}");
        }
    }
    for (secret, placeholder) in [
        ("ConnectWidgetKeySecret", "REPLACE_WITH_CONNECT_SECURITY_KEY"),
        ("IntercomSecret", "REPLACE_WITH_INTERCOM_MESSENGER_SECRET"),
        ("ZendeskKeySecret", "REPLACE_WITH_ZENDESK_KEY_JSON"),
        ("CcaiCompanySecret", "REPLACE_WITH_CCAI_COMPANY_SECRET"),
        ("FreshchatKeySecret", "REPLACE_WITH_FRESHCHAT_ENCRYPTION_KEY"),
    ] {
        assert_eq!(seen.get(placeholder).map(String::as_str), Some(secret));
    }
    // Control: a real-looking key is not taken for a placeholder.
    assert!(!whoscalling::secrets::is_placeholder(
        "Yk9SRU1hZ2ljS2V5Rm9yQ29ubmVjdFdpZGdldHMxMjM0"
    ));
}

/// EnableSalesforce only adds outputs (no secret, no grant): the token URL and the two key URLs
/// the keyset uploads, all under the opt-in's condition.
#[test]
fn salesforce_opt_in_adds_its_outputs_only() {
    let template = template();
    assert_eq!(template["Parameters"]["EnableSalesforce"]["Default"], "false");
    for (output, tail) in [
        ("SalesforceTokenUrl", "/token/salesforce"),
        ("SalesforceKeyUrl", "/public-key/salesforce"),
        ("SalesforceNextKeyUrl", "/public-key/salesforce?key=next"),
    ] {
        assert_eq!(template["Outputs"][output]["Condition"], "UseSalesforce", "{output}");
        assert!(
            template["Outputs"][output]["Value"].to_string().contains(tail),
            "{output}"
        );
    }
    for (name, resource) in template["Resources"].as_object().expect("resources") {
        assert!(
            !resource.to_string().contains("UseSalesforce"),
            "{name}: the opt-in creates no resource"
        );
    }
}

/// The default validity of the `x5c` certificates (Salesforce wants 10 days beyond a key's use)
/// covers the longest a rotating key can live under this template: published as next for one
/// RotationIntervalDays, current for one, then kept KeyRetentionSeconds, at their maxima.
#[test]
fn the_default_certificate_validity_covers_the_longest_key_life() {
    let template = template();
    let max = |name: &str| template["Parameters"][name]["MaxValue"].as_u64().expect(name);
    let longest_life = 2 * max("RotationIntervalDays") * 86_400 + max("KeyRetentionSeconds") + 10 * 86_400;
    let keys: whoscalling::config::SigningKeysConfig =
        serde_json::from_value(json!({"secret": "whoscalling/signing-keys"})).expect("defaults");
    assert!(
        keys.certificate_validity_seconds() >= longest_life,
        "{} days < {} days",
        keys.certificate_validity_days,
        longest_life / 86_400
    );
}

/// The Dynamics 365 opt-in creates nothing (we sign with our own keys: no vendor secret) and adds
/// the two URLs to paste: the public key URL of profile "d365" and its token URL, only when on.
#[test]
fn the_d365_opt_in_adds_only_its_two_urls() {
    let template = template();
    for (name, resource) in template["Resources"].as_object().expect("resources") {
        assert_ne!(
            resource["Condition"], "UseD365",
            "{name}: EnableD365 creates no resource"
        );
    }
    for (output, path) in [
        ("D365PublicKeyUrl", "/public-key/d365"),
        ("D365TokenUrl", "/token/d365"),
    ] {
        let value = &template["Outputs"][output];
        assert_eq!(value["Condition"], "UseD365", "{output}");
        let sub = value["Value"]["Fn::Sub"][0].as_str().expect("a Sub template");
        assert_eq!(sub, format!("${{Base}}{path}"), "{output}");
    }
    let on = render("d365-on", &parameters(json!({"EnableD365": "true"})));
    assert_eq!(on["rules"], json!([]));
}

/// The Freshchat opt-in: its secret starts as the placeholder mint-token refuses to sign with,
/// only mint-token's role may read it (and only under the condition), and the outputs say what to
/// paste where and which URL the page calls.
#[test]
fn the_freshchat_key_is_read_by_mint_token_only() {
    let template = template();
    let secret = &template["Resources"]["FreshchatKeySecret"];
    assert_eq!(secret["Condition"], "UseFreshchat");
    assert_eq!(
        secret["Properties"]["SecretString"],
        "REPLACE_WITH_FRESHCHAT_ENCRYPTION_KEY"
    );
    assert!(whoscalling::secrets::is_placeholder(
        "REPLACE_WITH_FRESHCHAT_ENCRYPTION_KEY"
    ));
    for (name, resource) in template["Resources"].as_object().expect("resources") {
        let text = resource["Properties"]["Policies"].to_string();
        if text.contains("FreshchatKeySecret") {
            assert_eq!(name, "MintTokenFunction", "{name} may not read the Freshchat key");
            assert!(text.contains("UseFreshchat"), "the grant follows the opt-in");
        }
    }
    assert!(
        template["Resources"]["MintTokenFunction"]["Properties"]["Policies"]
            .to_string()
            .contains("FreshchatKeySecret")
    );
    for output in ["FreshchatTokenUrl", "FreshchatKeySecretArn"] {
        assert_eq!(template["Outputs"][output]["Condition"], "UseFreshchat", "{output}");
    }
    let on = render("freshchat-on", &parameters(json!({"EnableFreshchat": "true"})));
    assert_eq!(on["rules"], json!([]));
    assert!(
        on["secrets"]["FreshchatKeySecret"]["name"] == "whoscalling/chat-prod/freshchat-key",
        "{}",
        on["secrets"]
    );
    let off = render("freshchat-off", &parameters(json!({})));
    assert!(off["secrets"].get("FreshchatKeySecret").is_none());
}
