//! One `object_store` client per (scheme, bucket or host, options), built
//! on first use and shared by every batch of the process.

use std::collections::hash_map::DefaultHasher;
use std::collections::HashMap;
use std::hash::{Hash, Hasher};
use std::sync::{Arc, Mutex, PoisonError};

use object_store::aws::{AmazonS3Builder, AmazonS3ConfigKey};
use object_store::azure::{AzureConfigKey, MicrosoftAzureBuilder};
use object_store::gcp::{GoogleCloudStorageBuilder, GoogleConfigKey};
use object_store::http::HttpBuilder;
use object_store::path::Path;
use object_store::{ClientConfigKey, ClientOptions, ObjectStore, RetryConfig};

/// Options as `object_store` names them (`aws_endpoint`, `aws_region`,
/// `aws_access_key_id`, `google_service_account`, `azure_storage_account_name`,
/// `allow_http`, ...), sorted so that equal options share a client.
pub type StoreOptions = Vec<(String, String)>;

/// The schemes the engine reads (fsspec keeps every other one).
pub const SCHEMES: &[&str] = &["s3", "s3a", "gs", "gcs", "az", "abfs", "azure", "http", "https", "file"];

/// Where a URL points: a remote object (its client and path) or a local file.
pub enum Location {
    Remote { store: Arc<dyn ObjectStore>, path: Path },
    Local(std::path::PathBuf),
}

/// The clients of one process, keyed by a hash of the scheme, authority
/// and options (the map itself holds no credentials beyond the clients).
struct Clients {
    pid: u32,
    by_key: HashMap<u64, Arc<dyn ObjectStore>>,
}

static STORES: Mutex<Option<Clients>> = Mutex::new(None);

/// Drops every client (and with it its pooled connections).
pub fn clear() {
    let clients = STORES.lock().unwrap_or_else(PoisonError::into_inner).take();
    forget_if_inherited(clients);
}

/// A forked child's copy of the parent's clients: their connections belong
/// to the parent's runtime, so they are neither used nor dropped here.
fn forget_if_inherited(clients: Option<Clients>) -> Option<Clients> {
    match clients {
        Some(clients) if clients.pid != std::process::id() => {
            std::mem::forget(clients);
            None
        }
        clients => clients,
    }
}

/// The client and path of `url`. Errors name the URL (redacted) and why.
pub fn locate(url: &str, options: &StoreOptions) -> Result<Location, String> {
    let parsed = url::Url::parse(url).map_err(|err| format!("not a URL ({err})"))?;
    let scheme = parsed.scheme();
    if scheme == "file" {
        let path = parsed.to_file_path().map_err(|()| "not a local file URL".to_string())?;
        return Ok(Location::Local(path));
    }
    if !SCHEMES.contains(&scheme) {
        return Err(format!("the native engine does not read {scheme}:// URLs"));
    }
    let authority = &parsed[..url::Position::BeforePath];
    let path = Path::from_url_path(parsed.path()).map_err(|err| format!("not an object path ({err})"))?;
    let mut hasher = DefaultHasher::new();
    (authority, options).hash(&mut hasher);
    let key = hasher.finish();
    let mut slot = STORES.lock().unwrap_or_else(PoisonError::into_inner);
    let current = forget_if_inherited(slot.take());
    let clients = slot.insert(current.unwrap_or_else(|| Clients { pid: std::process::id(), by_key: HashMap::new() }));
    if let Some(store) = clients.by_key.get(&key) {
        return Ok(Location::Remote { store: store.clone(), path });
    }
    let store = build(scheme, authority, options)?;
    clients.by_key.insert(key, store.clone());
    Ok(Location::Remote { store, path })
}

/// Retries are the engine's own (it counts them and bounds them by the
/// total time), so the clients make one try per request. Timeouts are the
/// engine's too: each try is bounded by the time left.
fn client_options() -> ClientOptions {
    ClientOptions::new().with_allow_http(true).with_timeout_disabled()
}

fn no_retries() -> RetryConfig {
    RetryConfig { max_retries: 0, ..RetryConfig::default() }
}

/// A client from the environment, the URL's bucket, container or host,
/// then `options` (an unknown key is an error naming it) and the engine's
/// client settings; the same steps for every store's builder type.
macro_rules! configured {
    ($builder:expr, $key:ty, $scheme:expr, $authority:expr, $options:expr) => {{
        let mut builder = $builder.with_url($authority);
        for (key, value) in $options {
            let parsed: $key = key.parse().map_err(|_| format!("unknown storage option {key:?} for {}://", $scheme))?;
            builder = builder.with_config(parsed, value);
        }
        let built = builder.with_client_options(client_options()).with_retry(no_retries()).build();
        Arc::new(built.map_err(|err| err.to_string())?) as Arc<dyn ObjectStore>
    }};
}

fn build(scheme: &str, authority: &str, options: &StoreOptions) -> Result<Arc<dyn ObjectStore>, String> {
    // rustls needs a process-wide crypto provider before the first client
    // (`Err`: one is set already). ring, not aws-lc-rs, which builds C with
    // cmake for minutes.
    #[allow(deprecated)] // for its lack of post-quantum key exchange
    let _ = rustls::crypto::ring::default_provider().install_default();
    Ok(match scheme {
        "s3" | "s3a" => configured!(AmazonS3Builder::from_env(), AmazonS3ConfigKey, scheme, authority, options),
        "gs" | "gcs" => configured!(GoogleCloudStorageBuilder::from_env(), GoogleConfigKey, scheme, authority, options),
        "az" | "abfs" | "azure" => {
            configured!(MicrosoftAzureBuilder::from_env(), AzureConfigKey, scheme, authority, options)
        }
        _ => configured!(HttpBuilder::new(), ClientConfigKey, scheme, authority, options),
    })
}

/// `url` without its query string and fragment (a presigned URL's query
/// carries a signature) and without user information.
pub fn redact(url: &str) -> String {
    let cut = url.find(['?', '#']).unwrap_or(url.len());
    let (head, tail) = url[..cut].split_once("://").unwrap_or(("", &url[..cut]));
    let tail = match tail.split_once('/') {
        Some((authority, rest)) => format!("{}/{rest}", authority.rsplit('@').next().unwrap_or(authority)),
        None => tail.rsplit('@').next().unwrap_or(tail).to_string(),
    };
    let redacted = if head.is_empty() { tail } else { format!("{head}://{tail}") };
    if cut < url.len() {
        format!("{redacted}?<redacted>")
    } else {
        redacted
    }
}

/// `message` with every option value long enough to be a secret replaced,
/// in case a client quotes one back.
pub fn scrub(message: String, options: &StoreOptions) -> String {
    options
        .iter()
        .filter(|(_, value)| value.len() >= 8)
        .fold(message, |message, (_, value)| message.replace(value.as_str(), "<redacted>"))
}

#[cfg(test)]
mod tests {
    use super::{redact, scrub};

    #[test]
    fn option_values_are_scrubbed_from_messages() {
        let options = vec![("aws_secret_access_key".to_string(), "SECRET-1234".to_string())];
        assert_eq!(scrub("denied for SECRET-1234".into(), &options), "denied for <redacted>");
    }

    #[test]
    fn redaction_drops_queries_and_user_information() {
        assert_eq!(redact("s3://bucket/a.tar"), "s3://bucket/a.tar");
        assert_eq!(redact("https://h/x.flac?X-Amz-Signature=abc"), "https://h/x.flac?<redacted>");
        assert_eq!(redact("https://user:pw@h/x"), "https://h/x");
    }
}
