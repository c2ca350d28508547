//! `check-config FILE [--stack-name NAME] [--set NAME=VALUE]...`: the cold-start checks of every
//! function on a configuration document, before a deploy (docs/CONFIGURATION.md).

use std::collections::BTreeMap;
use std::process::ExitCode;

use whoscalling::ServiceConfig;
use whoscalling::config::CONFIG_FILE_VARIABLE;
use whoscalling_local::check::{cold_start, functions_for, generated_stand_ins};

const USAGE: &str = "usage: check-config FILE [--stack-name NAME] [--set WHOSCALLING_NAME=VALUE]...
  Runs every function's cold-start checks on FILE. Placeholders ${WHOSCALLING_...} are filled
  from --set, then the environment, then stand-ins for the names CloudFormation generates
  (secret prefix, tables). Template parameters the document uses (WHOSCALLING_ALLOWED_ORIGINS,
  WHOSCALLING_IDENTITY_ISSUER, WHOSCALLING_IDENTITY_AUDIENCE, WHOSCALLING_PUBLIC_URL) must be
  given with the values you deploy with.";

fn main() -> ExitCode {
    match run(std::env::args().skip(1).collect()) {
        Ok(summary) => {
            println!("{summary}");
            ExitCode::SUCCESS
        }
        Err(message) => {
            eprintln!("check-config: {message}");
            ExitCode::FAILURE
        }
    }
}

fn run(args: Vec<String>) -> Result<String, String> {
    let (mut file, mut stack_name, mut set) = (None, "whoscalling".to_string(), BTreeMap::new());
    let mut args = args.into_iter();
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--stack-name" => stack_name = args.next().ok_or(USAGE)?,
            "--set" => {
                let pair = args.next().ok_or(USAGE)?;
                let (name, value) = pair
                    .split_once('=')
                    .ok_or_else(|| format!("--set {pair}: write NAME=VALUE"))?;
                set.insert(name.to_string(), value.to_string());
            }
            "-h" | "--help" => return Err(USAGE.into()),
            other if file.is_none() && !other.starts_with('-') => file = Some(other.to_string()),
            other => return Err(format!("unknown argument `{other}`\n{USAGE}")),
        }
    }
    let file = file.ok_or(USAGE)?;
    let stand_ins = generated_stand_ins(&stack_name);
    let lookup = |name: &str| -> Option<String> {
        if name == CONFIG_FILE_VARIABLE {
            return Some(file.clone());
        }
        // Only the document's own carrier: an inline WHOSCALLING_CONFIG in the shell would
        // otherwise be refused as a second document.
        if name == whoscalling::config::CONFIG_VARIABLE {
            return None;
        }
        set.get(name)
            .cloned()
            .or_else(|| std::env::var(name).ok())
            .or_else(|| stand_ins.get(name).cloned())
    };
    let config = ServiceConfig::from_lookup(lookup).map_err(|e| e.to_string())?;
    let functions = functions_for(&config);
    for function in &functions {
        cold_start(*function, lookup).map_err(|e| format!("{} would not start: {e}", function.logical_id()))?;
    }
    let bytes = std::fs::metadata(&file).map(|m| m.len()).unwrap_or_default();
    let names = |keys: Vec<&str>| {
        if keys.is_empty() {
            "none".to_string()
        } else {
            keys.join(", ")
        }
    };
    Ok(format!(
        "{file}: valid ({bytes} bytes)\n  origins: {}\n  profiles: {}\n  provider clients: {}\n  upstream providers: {}\n  pinned keys: {}\n  functions checked: {}",
        config.allowed_origins.len(),
        names(config.profiles.keys().map(|p| p.as_str()).collect()),
        names(
            config
                .provider
                .iter()
                .flat_map(|p| p.clients.keys().map(|c| c.as_str()))
                .collect()
        ),
        names(
            config
                .upstream
                .iter()
                .flat_map(|u| u.providers.keys().map(|p| p.as_str()))
                .collect()
        ),
        names(config.pinned_keys().iter().map(|p| p.as_str()).collect()),
        functions.iter().map(|f| f.logical_id()).collect::<Vec<_>>().join(", "),
    ))
}
