//! The local run's secret store: a JSON object of secret name to secret string in one file.
//!
//! Re-read whenever the file changes, so a developer can paste a real Connect key into
//! `secrets.json` without restarting. Never used in a Lambda.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::SystemTime;

use async_trait::async_trait;

use crate::secrets::{SecretError, SecretName, SecretStore, SecretString, SecretValue};

type Loaded = (SystemTime, HashMap<String, Arc<SecretValue>>);

pub struct FileSecretStore {
    path: PathBuf,
    loaded: Mutex<Option<Loaded>>,
}

impl FileSecretStore {
    pub fn new(path: impl Into<PathBuf>) -> Self {
        Self {
            path: path.into(),
            loaded: Mutex::new(None),
        }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    fn load(&self) -> Result<HashMap<String, Arc<SecretValue>>, SecretError> {
        let modified =
            std::fs::metadata(&self.path)
                .and_then(|m| m.modified())
                .map_err(|e| SecretError::LocalFile {
                    reason: format!("{}: {e}", self.path.display()),
                })?;
        let mut loaded = self.loaded.lock().unwrap_or_else(|e| e.into_inner());
        if let Some((at, values)) = loaded.as_ref()
            && *at == modified
        {
            return Ok(values.clone());
        }
        let text = std::fs::read_to_string(&self.path).map_err(|e| SecretError::LocalFile {
            reason: format!("{}: {e}", self.path.display()),
        })?;
        // The parse error is not shown: serde's messages can quote the file's contents.
        let raw: HashMap<String, String> = serde_json::from_str(&text).map_err(|_| SecretError::LocalFile {
            reason: format!("{} is not a JSON object of secret name to string", self.path.display()),
        })?;
        let seconds = modified
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0);
        let version = format!("file-{seconds}");
        let values: HashMap<_, _> = raw
            .into_iter()
            .map(|(k, v)| {
                (
                    k,
                    Arc::new(SecretValue {
                        value: SecretString::new(v),
                        version: Some(version.clone()),
                    }),
                )
            })
            .collect();
        *loaded = Some((modified, values.clone()));
        Ok(values)
    }
}

#[async_trait]
impl SecretStore for FileSecretStore {
    async fn get(&self, name: &SecretName) -> Result<Arc<SecretValue>, SecretError> {
        self.load()?
            .get(name.as_str())
            .cloned()
            .ok_or_else(|| SecretError::NotFound { name: name.clone() })
    }
}
