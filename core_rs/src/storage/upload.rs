//! Uploads: a finished local file put whole under its final name, in one
//! request retried like a read (an object store shows an object only once
//! its upload is complete, so a reader never sees half of it).

use bytes::Bytes;
use object_store::{ObjectStoreExt, PutPayload};

use super::fetch::{classify, failed, local_failure, retrying, Failure};
use super::stores::{locate, Location, StoreOptions};
use super::{runtime, ErrorKind, RangeRequest, ReadError, ReadPolicy};

/// Puts the bytes of local `file` at `url` (one PUT: up to 5 GB on S3);
/// its size in bytes. A local `url` is refused: local outputs are renamed
/// into place by their writer.
pub fn put_file(
    url: &str,
    file: &std::path::Path,
    options: &StoreOptions,
    policy: &ReadPolicy,
) -> Result<u64, ReadError> {
    let request = RangeRequest { url: url.to_string(), start: 0, end: None, etag: None };
    let (store, path) = match locate(url, options).map_err(|why| failed(&request, ErrorKind::Invalid, why))? {
        Location::Remote { store, path } => (store, path),
        Location::Local(_) => {
            return Err(failed(&request, ErrorKind::Invalid, "uploads go to object storage, not local paths".into()))
        }
    };
    let body = Bytes::from(std::fs::read(file).map_err(|err| {
        let why = match local_failure(err) {
            Failure::Transient(why) | Failure::Permanent(_, why) => why,
        };
        failed(&request, ErrorKind::Failed, format!("cannot read {}: {why}", file.display()))
    })?);
    let size = body.len() as u64;
    let rt = runtime::runtime().map_err(|err| failed(&request, ErrorKind::Failed, err.to_string()))?;
    let outcome = rt.block_on(retrying(policy, || {
        let (store, path, body) = (store.clone(), path.clone(), body.clone());
        async move { store.put(&path, PutPayload::from(body)).await.map(|_| ()).map_err(classify) }
    }));
    outcome.result.map(|()| size).map_err(|(kind, why)| failed(&request, kind, why))
}
