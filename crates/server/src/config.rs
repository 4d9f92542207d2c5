//! aisle's one typed config: defaults, then `aisle.toml`, then `AISLE_*` environment variables,
//! then command-line overrides — validated once at start-up with a message naming the bad key.
//! Nothing reads the environment later.
//!
//! Environment variables name a key by its path with `__` between sections:
//! `AISLE_SERVER__LISTEN=0.0.0.0:8080`, `AISLE_MODEL__PARAMS__FACTORS=128`,
//! `AISLE_AUTH__READ_KEYS='["k1","k2"]'`. Values are read as TOML values when they parse as one
//! (numbers, booleans, arrays), else as strings.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use aisle_core::EventWeights;
use aisle_engine::{
    CacheConfig, EngineConfig, EventLimits, ImpactConfig, ModelConfig, PopularConfig, ReplicationConfig,
    TrainingConfig,
};
use serde::{Deserialize, Serialize};

/// Why the config could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file could not be read.
    #[error("cannot read config file {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The file, a variable or an override is not valid TOML or names an unknown key.
    #[error("config {origin}: {message}")]
    Invalid {
        /// Where the bad value came from (`aisle.toml`, `AISLE_SERVER__LISTEN`, `--listen`).
        origin: String,
        /// What is wrong, naming the key.
        message: String,
    },
}

/// The whole configuration.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AisleConfig {
    /// HTTP server.
    pub server: ServerConfig,
    /// Where the data lives.
    pub store: StoreConfig,
    /// API keys.
    pub auth: AuthConfig,
    /// Logging.
    pub log: LogConfig,
    /// The served model.
    pub model: ModelConfig,
    /// Training schedule and gate.
    pub training: TrainingConfig,
    /// Cache bounds.
    pub cache: CacheConfig,
    /// Event weights.
    pub weights: EventWeights,
    /// Popular lists.
    pub popular: PopularConfig,
    /// Replicas on a shared store.
    pub replication: ReplicationConfig,
    /// Events from a Kafka topic.
    pub kafka: KafkaConfig,
    /// The bounds of event values and times.
    pub events: EventLimits,
    /// Impressions, attribution and placements.
    pub impact: ImpactConfig,
}

/// Kafka ingestion: consumes JSON events (the `POST /v1/events` shape, one per message) from a
/// topic in a consumer group. Off unless `brokers` is set.
#[derive(Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct KafkaConfig {
    /// Bootstrap brokers, `host:port[,host:port...]`. Default empty: Kafka is off.
    pub brokers: String,
    /// The topic of events. Default `aisle-events`.
    pub topic: String,
    /// The consumer group; replicas share it, so each partition is read by one. Default `aisle`.
    pub group_id: String,
    /// Most messages written to the store per batch. Default 10,000.
    pub batch_max: usize,
    /// Most batches written to the store at once; offsets are still committed in order. On
    /// PostgreSQL, appends run side by side. 1..=16, default 2.
    pub writers: usize,
    /// Longest wait for a batch to fill, in milliseconds. Default 50.
    pub batch_wait_ms: u64,
    /// Attempts at a batch the store refuses for a reason that does not pass (not an outage,
    /// which is retried for as long as it lasts) before the refused events are parked as dead
    /// letters and the partition moves on. Default 5.
    pub write_attempts: u32,
    /// Further librdkafka settings, e.g. `{ "security.protocol" = "SASL_SSL" }`. Values are
    /// never shown in logs or debug output (they may be credentials).
    pub settings: std::collections::BTreeMap<String, String>,
}

impl std::fmt::Debug for KafkaConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KafkaConfig")
            .field("brokers", &self.brokers)
            .field("topic", &self.topic)
            .field("group_id", &self.group_id)
            .field("batch_max", &self.batch_max)
            .field("writers", &self.writers)
            .field("batch_wait_ms", &self.batch_wait_ms)
            .field("write_attempts", &self.write_attempts)
            .field("settings", &self.settings.keys().map(|k| format!("{k}=***")).collect::<Vec<_>>())
            .finish()
    }
}

impl KafkaConfig {
    /// The consumer's settings, when Kafka is on.
    pub fn source(&self) -> Option<aisle_engine::KafkaSourceConfig> {
        (!self.brokers.is_empty()).then(|| aisle_engine::KafkaSourceConfig {
            brokers: self.brokers.clone(),
            topic: self.topic.clone(),
            group_id: self.group_id.clone(),
            batch_max: self.batch_max,
            writers: self.writers,
            batch_wait_ms: self.batch_wait_ms,
            write_attempts: self.write_attempts,
            extra: self.settings.clone(),
        })
    }
}

impl Default for KafkaConfig {
    fn default() -> Self {
        Self {
            brokers: String::new(),
            topic: "aisle-events".to_owned(),
            group_id: "aisle".to_owned(),
            batch_max: 10_000,
            writers: 2,
            batch_wait_ms: 50,
            write_attempts: 5,
            settings: std::collections::BTreeMap::new(),
        }
    }
}

impl ServerConfig {
    fn validate(&self) -> Result<(), String> {
        if !(1_024..=1 << 30).contains(&self.max_body_bytes) {
            return Err("server.max_body_bytes must be 1024..=1073741824".to_owned());
        }
        if !(1..=1_000_000).contains(&self.max_batch) || !(1..=1_000_000).contains(&self.max_item_batch) {
            return Err("server.max_batch and server.max_item_batch must be 1..=1000000".to_owned());
        }
        if self.shutdown_timeout_ms > 600_000 {
            return Err("server.shutdown_timeout_ms must be at most 600000".to_owned());
        }
        Ok(())
    }
}

/// HTTP server settings.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ServerConfig {
    /// Address and port to listen on. Default `127.0.0.1:8080`.
    pub listen: SocketAddr,
    /// Largest accepted request body, bytes. Default 8 MiB.
    pub max_body_bytes: usize,
    /// Most events in one `POST /v1/events` batch. Default 10,000.
    pub max_batch: usize,
    /// Most items in one `POST /v1/items/batch`. Default 10,000.
    pub max_item_batch: usize,
    /// How long graceful shutdown waits for in-flight requests, ms. Default 10,000.
    pub shutdown_timeout_ms: u64,
}

impl Default for ServerConfig {
    fn default() -> Self {
        Self {
            listen: SocketAddr::from(([127, 0, 0, 1], 8080)),
            max_body_bytes: 8 << 20,
            max_batch: 10_000,
            max_item_batch: 10_000,
            shutdown_timeout_ms: 10_000,
        }
    }
}

/// Store settings.
#[derive(Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct StoreConfig {
    /// Directory of the embedded store (`aisle.db` inside). Default `./aisle-data`.
    pub data_dir: PathBuf,
    /// A store URL instead, winning over `data_dir` when set: `sqlite:PATH`, or
    /// `postgres://user:password@host:port/database` for several replicas on one PostgreSQL (add
    /// `?schema=NAME` for a schema other than `public`, `&pool_max=N` for the pool size, default
    /// 16, and libpq's `sslmode` etc. as needed).
    pub url: Option<String>,
}

impl Default for StoreConfig {
    fn default() -> Self {
        Self { data_dir: PathBuf::from("aisle-data"), url: None }
    }
}

impl StoreConfig {
    /// The URL the store opens.
    pub fn url(&self) -> String {
        self.url.clone().unwrap_or_else(|| format!("sqlite:{}", self.data_dir.join("aisle.db").display()))
    }

    /// The URL for people: any password replaced by `***`.
    pub fn shown_url(&self) -> String {
        aisle_store::redact_url(&self.url())
    }
}

impl std::fmt::Debug for StoreConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StoreConfig")
            .field("data_dir", &self.data_dir)
            .field("url", &self.url.as_deref().map(aisle_store::redact_url))
            .finish()
    }
}

/// API keys, at four levels each including the ones below: read keys (a storefront's: lists
/// and catalog), private keys (also shoppers' data: user records, listings, explanations naming a
/// shopper's history), write keys (also data writes), admin keys (everything). With no key at
/// all every route is open: allowed only on a loopback address unless `open = true`.
#[derive(Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AuthConfig {
    /// Keys for recommendations and catalog reads (safe in a storefront's JavaScript).
    pub read_keys: Vec<String>,
    /// Keys that may also read shoppers' data.
    pub private_keys: Vec<String>,
    /// Keys for catalog, user and event writes.
    pub write_keys: Vec<String>,
    /// Keys for admin routes (training, activation, dead letters).
    pub admin_keys: Vec<String>,
    /// Serve every route without a key on a non-loopback address. Default false: without keys,
    /// `server.listen` must be a loopback address.
    pub open: bool,
}

impl std::fmt::Debug for AuthConfig {
    // Keys are secrets: never in logs or debug output.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AuthConfig")
            .field("read_keys", &self.read_keys.len())
            .field("private_keys", &self.private_keys.len())
            .field("write_keys", &self.write_keys.len())
            .field("admin_keys", &self.admin_keys.len())
            .field("open", &self.open)
            .finish()
    }
}

impl AuthConfig {
    /// Whether any key is configured.
    pub fn has_keys(&self) -> bool {
        [&self.read_keys, &self.private_keys, &self.write_keys, &self.admin_keys]
            .iter()
            .any(|l| !l.is_empty())
    }

    /// Checks every key (1..=256 bytes of visible ASCII, as a header carries it) and that a
    /// server without keys listens only on loopback unless `open`; names the bad key.
    fn validate(&self, listen: SocketAddr) -> Result<(), String> {
        for (name, list) in [
            ("read_keys", &self.read_keys),
            ("private_keys", &self.private_keys),
            ("write_keys", &self.write_keys),
            ("admin_keys", &self.admin_keys),
        ] {
            for (k, key) in list.iter().enumerate() {
                if key.is_empty() || key.len() > 256 || !key.bytes().all(|b| b.is_ascii_graphic()) {
                    return Err(format!(
                        "auth.{name}[{k}] must be 1..=256 visible ASCII characters (no spaces); it is not shown here"
                    ));
                }
            }
        }
        if !self.has_keys() && !self.open && !listen.ip().is_loopback() {
            return Err(format!(
                "server.listen = {listen} is not a loopback address and no API keys are set: every route, \
                 admin included, would be open to the network. Set auth.read_keys / auth.write_keys / \
                 auth.admin_keys, or auth.open = true to serve without keys on purpose"
            ));
        }
        Ok(())
    }
}

/// Logging.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LogConfig {
    /// A tracing filter (`info`, `aisle=debug,tower_http=info`). Default `info`.
    pub level: String,
    /// JSON lines instead of text. Default false.
    pub json: bool,
}

impl Default for LogConfig {
    fn default() -> Self {
        Self { level: "info".to_owned(), json: false }
    }
}

impl AisleConfig {
    /// The engine's part.
    pub fn engine(&self) -> EngineConfig {
        EngineConfig {
            model: self.model.clone(),
            training: self.training.clone(),
            cache: self.cache.clone(),
            weights: self.weights,
            popular: self.popular.clone(),
            replication: self.replication.clone(),
            events: self.events,
            impact: self.impact.clone(),
        }
    }

    /// The config a TOML text gives over the defaults, validated (what [`AisleConfig::load`] does
    /// with a file's text, without the environment and flags).
    pub fn from_toml(text: &str, origin: &str) -> Result<AisleConfig, ConfigError> {
        let root = text
            .parse::<toml::Table>()
            .map_err(|e| ConfigError::Invalid { origin: origin.to_owned(), message: e.to_string() })?;
        Self::from_table(root, origin)
    }

    /// Loads defaults ← `file` ← `env` (`AISLE_*` pairs) ← `overrides` (`(key.path, value,
    /// origin)`), then validates.
    pub fn load(
        file: Option<&Path>,
        env: impl IntoIterator<Item = (String, String)>,
        overrides: &[(String, String, String)],
    ) -> Result<AisleConfig, ConfigError> {
        let mut root = toml::Table::new();
        if let Some(path) = file {
            let text = std::fs::read_to_string(path)
                .map_err(|source| ConfigError::Read { path: path.to_owned(), source })?;
            root = text.parse::<toml::Table>().map_err(|e| ConfigError::Invalid {
                origin: path.display().to_string(),
                message: e.to_string(),
            })?;
        }
        let mut env: Vec<(String, String)> =
            env.into_iter().filter(|(k, _)| k.starts_with("AISLE_") && k.contains("__")).collect();
        env.sort();
        for (var, value) in env {
            let key = var["AISLE_".len()..].to_ascii_lowercase().replace("__", ".");
            set(&mut root, &key, &value)
                .map_err(|message| ConfigError::Invalid { origin: var.clone(), message })?;
        }
        for (key, value, origin) in overrides {
            set(&mut root, key, value)
                .map_err(|message| ConfigError::Invalid { origin: origin.clone(), message })?;
        }
        let origin =
            file.map_or_else(|| "(defaults, environment and flags)".to_owned(), |p| p.display().to_string());
        Self::from_table(root, &origin)
    }

    /// The config of a parsed TOML table over the defaults, validated.
    fn from_table(root: toml::Table, origin: &str) -> Result<AisleConfig, ConfigError> {
        let origin = origin.to_owned();
        let config: AisleConfig = toml::Value::Table(root).try_into().map_err(|e: toml::de::Error| {
            ConfigError::Invalid { origin: origin.clone(), message: e.to_string() }
        })?;
        config
            .engine()
            .validate()
            .map_err(|e| ConfigError::Invalid { origin: origin.clone(), message: e.to_string() })?;
        let bad = |message: String| Err(ConfigError::Invalid { origin: origin.clone(), message });
        if let Err(message) = config.auth.validate(config.server.listen) {
            return bad(message);
        }
        if let Err(message) = config.server.validate() {
            return bad(message);
        }
        // The consumer's own checks, at start-up rather than when it starts consuming; its
        // `extra` settings are this section's `settings`.
        if let Some(source) = config.kafka.source()
            && let Err(aisle_engine::KafkaSourceError::Config { key, message }) = source.validate()
        {
            let key = key.strip_prefix("extra.").map_or(key.clone(), |rest| format!("settings.{rest}"));
            return bad(format!("kafka.{key}: {message}"));
        }
        Ok(config)
    }
}

/// Sets dotted `key` to `value` (a TOML literal, else a string) in `root`.
fn set(root: &mut toml::Table, key: &str, value: &str) -> Result<(), String> {
    let parsed = format!("v = {value}")
        .parse::<toml::Table>()
        .ok()
        .and_then(|mut t| t.remove("v"))
        .unwrap_or_else(|| toml::Value::String(value.to_owned()));
    let mut parts: Vec<&str> = key.split('.').collect();
    let last = parts.pop().filter(|p| !p.is_empty()).ok_or_else(|| format!("empty key {key:?}"))?;
    let mut table = root;
    for p in parts {
        let entry = table.entry(p.to_owned()).or_insert_with(|| toml::Value::Table(toml::Table::new()));
        table = entry.as_table_mut().ok_or_else(|| format!("{key}: {p} is not a section"))?;
    }
    table.insert(last.to_owned(), parsed);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn layers_apply_in_order_and_unknown_keys_are_named() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("aisle.toml");
        std::fs::write(
            &file,
            "[server]\nlisten = \"127.0.0.1:9000\"\nmax_batch = 5\n[model]\nname = \"bpr\"\n",
        )
        .unwrap();
        let env =
            [("AISLE_SERVER__MAX_BATCH".to_owned(), "7".to_owned()), ("HOME".to_owned(), "/x".to_owned())];
        let flags = [("server.listen".to_owned(), "127.0.0.1:9100".to_owned(), "--listen".to_owned())];
        let c = AisleConfig::load(Some(&file), env, &flags).unwrap();
        assert_eq!(c.server.listen.port(), 9100, "flags win over the file");
        assert_eq!(c.server.max_batch, 7, "env wins over the file");
        assert_eq!(c.model.name, "bpr");
        assert_eq!(c.training.interval_s, 3600, "defaults fill the rest");

        std::fs::write(&file, "[server]\nlisen = \"x\"\n").unwrap();
        let e = AisleConfig::load(Some(&file), [], &[]).unwrap_err().to_string();
        assert!(e.contains("lisen"), "{e}");
        let env = [("AISLE_MODEL__PARAMS__FACTORS".to_owned(), "0".to_owned())];
        let e = AisleConfig::load(None, env, &[]).unwrap_err().to_string();
        assert!(e.contains("factors"), "{e}");
    }

    #[test]
    fn kafka_settings_are_checked_at_load_only_when_kafka_is_on() {
        let load = |pairs: &[(&str, &str)]| {
            let flags: Vec<_> =
                pairs.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned(), "test".to_owned())).collect();
            AisleConfig::load(None, [], &flags).map_err(|e| e.to_string())
        };
        assert!(load(&[("kafka.topic", "\"\"")]).is_ok(), "kafka is off: its topic is not used");
        let on = ("kafka.brokers", "\"h:9092\"");
        let e = load(&[on, ("kafka.topic", "\"\"")]).unwrap_err();
        assert!(e.contains("kafka.topic"), "{e}");
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("aisle.toml");
        std::fs::write(
            &file,
            "[kafka]\nbrokers = \"h:9092\"\n[kafka.settings]\n\"enable.auto.commit\" = \"true\"\n",
        )
        .unwrap();
        let e = AisleConfig::load(Some(&file), [], &[]).unwrap_err().to_string();
        assert!(e.contains("kafka.settings.enable.auto.commit"), "{e}");
        let e = load(&[on, ("kafka.batch_max", "0")]).unwrap_err();
        assert!(e.contains("kafka.batch_max"), "{e}");
        let e = load(&[on, ("kafka.writers", "17")]).unwrap_err();
        assert!(e.contains("kafka.writers"), "{e}");
        assert!(load(&[on]).is_ok());
    }
}

#[cfg(test)]
mod example {
    #[test]
    fn the_example_file_parses_and_states_the_defaults() {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../config/aisle.example.toml");
        let c = super::AisleConfig::load(Some(std::path::Path::new(path)), [], &[]).unwrap();
        assert_eq!(c, super::AisleConfig::default(), "config/aisle.example.toml must list the defaults");
    }

    /// Every key of the config is written out in the example (not only defaulted by omission).
    #[test]
    fn the_example_file_names_every_key() {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../config/aisle.example.toml");
        let example: toml::Table = std::fs::read_to_string(path).unwrap().parse().unwrap();
        let defaults = toml::Table::try_from(super::AisleConfig::default()).unwrap();
        fn missing(prefix: &str, want: &toml::Table, have: &toml::Table, out: &mut Vec<String>) {
            for (k, v) in want {
                let key = format!("{prefix}{k}");
                match (v, have.get(k)) {
                    (toml::Value::Table(w), Some(toml::Value::Table(h))) => {
                        missing(&format!("{key}."), w, h, out)
                    }
                    (toml::Value::Table(w), None) if w.is_empty() => {}
                    (_, None) => out.push(key),
                    _ => {}
                }
            }
        }
        let mut out = Vec::new();
        missing("", &defaults, &example, &mut out);
        assert!(out.is_empty(), "config/aisle.example.toml lacks {out:?}");
    }
}
