//! Reading a deploy upload: a `multipart/form-data` body with `site_name` and either `file` (a
//! zip) or a folder's files (`files` parts whose file names are their paths in the folder, as a
//! browser sends a picked folder), parsed by `multer` (driven from blocking code) and streamed
//! straight to a temp zip — memory does not grow with the upload's size. A folder's files are
//! written into a zip so that both forms meet the same checks when it is unpacked; their number
//! and name lengths are checked as they arrive (the zip's index is kept in memory until it is
//! written). An upload must keep arriving at a minimum rate: an HTTP worker reads it.

use std::fs::{File, OpenOptions};
use std::future::Future;
use std::io::{Read, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::pin::pin;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::task::{Context, Poll, Waker};
use std::time::{Duration, Instant};

use bytes::Bytes;

use crate::error::ApiError;
use crate::secret;

const CHUNK: usize = 64 * 1024;
const MAX_SITE_NAME_FIELD: usize = 256;
/// Longest file name (its path in the folder) of a `files` part.
pub const MAX_FILE_NAME: usize = 1024;
/// After [`RATE_GRACE`], an upload that averaged less than this many bytes a second is cut
/// off (408): the HTTP worker reading it serves no one else meanwhile.
pub const MIN_RATE: u64 = 16 * 1024;
pub const RATE_GRACE: Duration = Duration::from_secs(10);

/// What one deploy form may hold, and how fast it must come.
pub struct FormLimits {
    /// Bytes of the zip, or of a folder's files together.
    pub max_upload: u64,
    /// Files of a folder (`files` parts).
    pub max_files: u64,
    /// Bytes a second, on average, once `grace` has passed.
    pub min_rate: u64,
    pub grace: Duration,
}

impl FormLimits {
    pub fn new(max_upload: u64, max_files: u64) -> FormLimits {
        FormLimits {
            max_upload,
            max_files,
            min_rate: MIN_RATE,
            grace: RATE_GRACE,
        }
    }
}

/// How many uploads may be read at once. Each holds an HTTP worker while it arrives, so one
/// worker is always left for everyone else.
pub struct UploadSlots {
    max: usize,
    taken: AtomicUsize,
}

/// A place among the uploads being read, given back when dropped.
pub struct UploadSlot<'a>(&'a AtomicUsize);

impl Drop for UploadSlot<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::AcqRel);
    }
}

impl UploadSlots {
    /// For a server with `workers` HTTP workers: one fewer uploads (at least one).
    pub fn for_workers(workers: usize) -> UploadSlots {
        UploadSlots {
            max: workers.saturating_sub(1).max(1),
            taken: AtomicUsize::new(0),
        }
    }

    /// A place, or 503 while every place is taken.
    pub fn take(&self) -> Result<UploadSlot<'_>, ApiError> {
        let max = self.max;
        match self
            .taken
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| {
                (n < max).then_some(n + 1)
            }) {
            Ok(_) => Ok(UploadSlot(&self.taken)),
            Err(_) => Err(ApiError::Busy(format!(
                "another upload is in progress ({max} at a time on this server); retry in a few seconds"
            ))),
        }
    }
}

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
    limits: &FormLimits,
    check_site: impl FnMut(&str) -> Result<(), ApiError>,
) -> Result<DeployForm, ApiError> {
    let too_slow = AtomicBool::new(false);
    let mut body = RateFloor {
        inner: body,
        started: Instant::now(),
        received: 0,
        limits,
        too_slow: &too_slow,
    };
    read_form_from(&mut body, content_type, upload_dir, limits, check_site).map_err(|e| {
        match too_slow.load(Ordering::Relaxed) {
            true => ApiError::Timeout(format!(
                "the upload arrived at less than {} KiB/s; the server stopped reading it. \
                 Retry from a faster connection, or deploy a smaller folder",
                limits.min_rate / 1024
            )),
            false => e,
        }
    })
}

fn read_form_from(
    body: &mut (dyn Read + Send),
    content_type: Option<&str>,
    upload_dir: &Path,
    limits: &FormLimits,
    mut check_site: impl FnMut(&str) -> Result<(), ApiError>,
) -> Result<DeployForm, ApiError> {
    let max_upload = limits.max_upload;
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
    let constraints = multer::Constraints::new().size_limit(
        multer::SizeLimit::new()
            .whole_stream(max_upload + 64 * 1024)
            .for_field("file", max_upload)
            .for_field("files", max_upload)
            .for_field("site_name", MAX_SITE_NAME_FIELD as u64),
    );
    let mut multipart = multer::Multipart::with_constraints(stream, boundary, constraints);

    let mut site_name: Option<String> = None;
    let mut zip: Option<TempZip> = None;
    // A folder upload: its files go into one zip as they arrive.
    let mut folder: Option<(zip::ZipWriter<File>, TempZip)> = None;
    let mut files = 0u64;
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
                if name.len() > MAX_FILE_NAME {
                    return Err(bad(&format!(
                        "a file name (its path in the folder) is {} bytes; the limit is \
                         {MAX_FILE_NAME}",
                        name.len()
                    )));
                }
                files += 1;
                if files > limits.max_files {
                    return Err(bad(&format!(
                        "the folder has more than {} files (the limit); deploy fewer files",
                        limits.max_files
                    )));
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

/// The body, cut off with an error (and `too_slow` set) once it has come slower than
/// `limits.min_rate` on average after `limits.grace`. No read waits longer than the server's
/// read timeout, so a stalled client is noticed then.
struct RateFloor<'a> {
    inner: &'a mut (dyn Read + Send),
    started: Instant,
    received: u64,
    limits: &'a FormLimits,
    too_slow: &'a AtomicBool,
}

impl RateFloor<'_> {
    fn check(&self) -> std::io::Result<()> {
        let elapsed = self.started.elapsed();
        let floor = self.limits.min_rate as f64 * elapsed.as_secs_f64();
        if elapsed > self.limits.grace && (self.received as f64) < floor {
            self.too_slow.store(true, Ordering::Relaxed);
            return Err(std::io::Error::new(
                std::io::ErrorKind::TimedOut,
                "the upload is too slow",
            ));
        }
        Ok(())
    }
}

impl Read for RateFloor<'_> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        self.check()?;
        match self.inner.read(buf) {
            Ok(0) => Ok(0),
            Ok(n) => {
                self.received += n as u64;
                self.check().map(|()| n)
            }
            Err(e) => {
                let _ = self.check();
                Err(e)
            }
        }
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

#[cfg(test)]
mod tests {
    use super::*;

    const BOUNDARY: &str = "b0undary";

    /// A deploy form with `site_name` and one `files` part per name.
    fn folder_form(names: &[String]) -> Vec<u8> {
        let mut body = format!(
            "--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"site_name\"\r\n\r\nblog\r\n"
        );
        for name in names {
            body.push_str(&format!(
                "--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"files\"; \
                 filename=\"{name}\"\r\n\r\nhello\r\n"
            ));
        }
        body.push_str(&format!("--{BOUNDARY}--\r\n"));
        body.into_bytes()
    }

    fn read(body: &mut (dyn Read + Send), limits: &FormLimits) -> Result<DeployForm, ApiError> {
        let dir = std::env::temp_dir();
        let content_type = format!("multipart/form-data; boundary={BOUNDARY}");
        read_form(body, Some(&content_type), &dir, limits, |_| Ok(()))
    }

    #[test]
    fn a_folder_is_refused_past_the_file_limit_and_for_a_long_name() {
        let limits = FormLimits::new(1 << 20, 3);
        let names: Vec<String> = (0..3).map(|i| format!("f{i}.html")).collect();
        let form = read(&mut &folder_form(&names)[..], &limits).unwrap();
        assert_eq!(form.site_name, "blog");

        let names: Vec<String> = (0..4).map(|i| format!("f{i}.html")).collect();
        let e = read(&mut &folder_form(&names)[..], &limits).err().unwrap();
        assert_eq!(e.status(), 400);
        assert!(e.to_string().contains("more than 3 files"), "{e}");

        let long = vec![format!("{}.html", "a".repeat(MAX_FILE_NAME))];
        let e = read(&mut &folder_form(&long)[..], &limits).err().unwrap();
        assert_eq!(e.status(), 400);
        assert!(e.to_string().contains("the limit is 1024"), "{e}");
    }

    /// Ten bytes every 20 ms: 500 bytes a second.
    struct Trickle<'a>(&'a [u8]);

    impl Read for Trickle<'_> {
        fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
            std::thread::sleep(Duration::from_millis(20));
            let n = buf.len().min(self.0.len()).min(10);
            buf[..n].copy_from_slice(&self.0[..n]);
            self.0 = &self.0[n..];
            Ok(n)
        }
    }

    #[test]
    fn an_upload_slower_than_the_floor_is_cut_off_with_408() {
        let names: Vec<String> = (0..3).map(|i| format!("f{i}.html")).collect();
        let body = folder_form(&names);
        let mut limits = FormLimits::new(1 << 20, 100);
        limits.grace = Duration::from_millis(200);
        let started = Instant::now();
        let e = read(&mut Trickle(&body), &limits).err().unwrap();
        assert_eq!(e.status(), 408, "{e}");
        assert!(e.to_string().contains("less than 16 KiB/s"), "{e}");
        assert!(started.elapsed() < Duration::from_secs(2));
        // The same body at the same pace is fine within the grace period.
        limits.grace = Duration::from_secs(60);
        assert!(read(&mut Trickle(&body), &limits).is_ok());
    }

    #[test]
    fn uploads_leave_one_worker_free() {
        let slots = UploadSlots::for_workers(3);
        let first = slots.take().unwrap();
        let _second = slots.take().unwrap();
        let e = slots.take().err().unwrap();
        assert_eq!(e.status(), 503);
        assert!(
            e.to_string().contains("another upload is in progress"),
            "{e}"
        );
        assert_eq!(e.to_json_response().header("retry-after"), Some("5"));
        drop(first);
        assert!(slots.take().is_ok());
        let one = UploadSlots::for_workers(1);
        let _only = one.take().unwrap();
        assert!(one.take().is_err());
    }
}
