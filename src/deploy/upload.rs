//! Reading a deploy upload: a `multipart/form-data` body with `site_name` and either `file` (a
//! zip) or a folder's files (`files` parts whose file names are their paths in the folder, as a
//! browser sends a picked folder), parsed by `multer` (driven from blocking code) and streamed
//! straight to a temp zip — memory does not grow with the upload's size. A folder's files are
//! written into a zip so that both forms meet the same checks when it is unpacked.

use std::fs::{File, OpenOptions};
use std::future::Future;
use std::io::{Read, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::pin::pin;
use std::task::{Context, Poll, Waker};

use bytes::Bytes;

use crate::error::ApiError;
use crate::secret;

const CHUNK: usize = 64 * 1024;
const MAX_SITE_NAME_FIELD: usize = 256;

/// An uploaded zip on disk; the file is removed when this is dropped.
pub struct TempZip {
    pub path: PathBuf,
    pub bytes: u64,
}

impl Drop for TempZip {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
    }
}

/// The two fields of a deploy form.
pub struct DeployForm {
    pub site_name: String,
    pub zip: TempZip,
}

/// Parses the body. `check_site` runs as soon as `site_name` is known (before the upload is
/// read, when the field comes first) so a bad name or scope fails fast.
pub fn read_form(
    body: &mut (dyn Read + Send),
    content_type: Option<&str>,
    upload_dir: &Path,
    max_upload: u64,
    mut check_site: impl FnMut(&str) -> Result<(), ApiError>,
) -> Result<DeployForm, ApiError> {
    let boundary = content_type
        .and_then(|ct| multer::parse_boundary(ct).ok())
        .ok_or_else(|| {
            bad("the body must be multipart/form-data with fields 'site_name' and 'file'")
        })?;

    // multer pulls from its stream until the stream says Pending, so a stream that is always
    // ready would be read to the end into memory before any parsing. Saying Pending (and
    // waking at once) after each chunk makes multer parse — and us write — chunk by chunk.
    let mut just_yielded = false;
    let stream = futures_util::stream::poll_fn(move |cx| {
        if just_yielded {
            just_yielded = false;
            cx.waker().wake_by_ref();
            return Poll::Pending;
        }
        let mut buf = vec![0u8; CHUNK];
        match body.read(&mut buf) {
            Ok(0) => Poll::Ready(None),
            Ok(n) => {
                buf.truncate(n);
                just_yielded = true;
                Poll::Ready(Some(Ok::<Bytes, std::io::Error>(Bytes::from(buf))))
            }
            Err(e) => Poll::Ready(Some(Err(e))),
        }
    });
    let limits = multer::Constraints::new().size_limit(
        multer::SizeLimit::new()
            .whole_stream(max_upload + 64 * 1024)
            .for_field("file", max_upload)
            .for_field("files", max_upload)
            .for_field("site_name", MAX_SITE_NAME_FIELD as u64),
    );
    let mut multipart = multer::Multipart::with_constraints(stream, boundary, limits);

    let mut site_name: Option<String> = None;
    let mut zip: Option<TempZip> = None;
    // A folder upload: its files go into one zip as they arrive.
    let mut folder: Option<(zip::ZipWriter<File>, TempZip)> = None;
    while let Some(mut field) =
        block_on(multipart.next_field()).map_err(|e| multipart_error(e, max_upload))?
    {
        match field.name() {
            Some("site_name") => {
                let mut text = Vec::new();
                while let Some(chunk) =
                    block_on(field.chunk()).map_err(|e| multipart_error(e, max_upload))?
                {
                    text.extend_from_slice(&chunk);
                }
                let name = String::from_utf8(text).map_err(|_| bad("'site_name' is not UTF-8"))?;
                let name = name.trim().to_string();
                check_site(&name)?;
                site_name = Some(name);
            }
            Some("files") => {
                let name = field.file_name().map(str::to_string).ok_or_else(|| {
                    bad("a 'files' part has no file name (its path in the folder)")
                })?;
                if zip.is_some() {
                    return Err(bad(
                        "send either 'file' (a zip) or 'files' (a folder), not both",
                    ));
                }
                if folder.is_none() {
                    let path = upload_dir.join(format!(
                        "{}.zip",
                        secret::hex(&secret::random_bytes::<12>())
                    ));
                    let out = create_private(&path)?;
                    folder = Some((zip::ZipWriter::new(out), TempZip { path, bytes: 0 }));
                }
                let (writer, temp) = folder.as_mut().expect("made above");
                // Stored, not deflated: the zip only carries the files to the same checks a
                // deploy's zip meets; the names are checked when it is unpacked.
                let options = zip::write::SimpleFileOptions::default()
                    .compression_method(zip::CompressionMethod::Stored)
                    .large_file(true);
                writer
                    .start_file(name.trim_start_matches('/'), options)
                    .map_err(|e| bad(&format!("cannot take '{name}': {e}")))?;
                while let Some(chunk) =
                    block_on(field.chunk()).map_err(|e| multipart_error(e, max_upload))?
                {
                    temp.bytes += chunk.len() as u64;
                    if temp.bytes > max_upload {
                        return Err(upload_too_big(max_upload));
                    }
                    writer.write_all(&chunk).map_err(ApiError::Io)?;
                }
            }
            Some("file") => {
                if zip.is_some() || folder.is_some() {
                    return Err(bad("the form has more than one 'file'"));
                }
                let path = upload_dir.join(format!(
                    "{}.zip",
                    secret::hex(&secret::random_bytes::<12>())
                ));
                let mut out = create_private(&path)?;
                let mut temp = TempZip { path, bytes: 0 };
                while let Some(chunk) =
                    block_on(field.chunk()).map_err(|e| multipart_error(e, max_upload))?
                {
                    temp.bytes += chunk.len() as u64;
                    if temp.bytes > max_upload {
                        return Err(upload_too_big(max_upload));
                    }
                    out.write_all(&chunk).map_err(ApiError::Io)?;
                }
                out.sync_all().map_err(ApiError::Io)?;
                zip = Some(temp);
            }
            // Unknown fields are read past (the stream limit still applies).
            _ => {
                while block_on(field.chunk())
                    .map_err(|e| multipart_error(e, max_upload))?
                    .is_some()
                {}
            }
        }
    }
    if let Some((writer, temp)) = folder {
        let file = writer
            .finish()
            .map_err(|e| bad(&format!("cannot assemble the folder: {e}")))?;
        file.sync_all().map_err(ApiError::Io)?;
        zip = Some(temp);
    }
    match (site_name, zip) {
        (Some(site_name), Some(zip)) => Ok(DeployForm { site_name, zip }),
        (None, _) => Err(bad("the form has no 'site_name' field")),
        (_, None) => Err(bad(
            "the form has no 'file' field (the zip) and no 'files' (a folder's files)",
        )),
    }
}

fn create_private(path: &Path) -> Result<File, ApiError> {
    OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .map_err(ApiError::Io)
}

fn bad(msg: &str) -> ApiError {
    ApiError::BadRequest(msg.to_string())
}

pub fn upload_too_big(max: u64) -> ApiError {
    ApiError::TooLarge(format!(
        "the upload is larger than {} MiB (the limit)",
        max / (1024 * 1024)
    ))
}

fn multipart_error(e: multer::Error, max_upload: u64) -> ApiError {
    match e {
        multer::Error::FieldSizeExceeded { field_name, .. }
            if field_name.as_deref() == Some("site_name") =>
        {
            bad("'site_name' is too long")
        }
        multer::Error::FieldSizeExceeded { .. } | multer::Error::StreamSizeExceeded { .. } => {
            upload_too_big(max_upload)
        }
        multer::Error::StreamReadFailed(e) => {
            ApiError::BadRequest(format!("the upload was cut short: {e}"))
        }
        other => ApiError::BadRequest(format!("malformed multipart body: {other}")),
    }
}

/// Runs a future to completion on this thread. Our body stream only returns `Pending` as a
/// pause between chunks (its reads block instead), so polling again at once is right and no
/// real waker is needed.
fn block_on<F: Future>(fut: F) -> F::Output {
    let mut fut = pin!(fut);
    let mut cx = Context::from_waker(Waker::noop());
    loop {
        if let Poll::Ready(v) = fut.as_mut().poll(&mut cx) {
            return v;
        }
    }
}
