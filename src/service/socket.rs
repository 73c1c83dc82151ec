//! The supervisor's control socket: where it lives, who may talk to it, and the
//! protocol (one JSON object per line, each with a `version`).
//!
//! The socket sits under `$XDG_RUNTIME_DIR/volley/` or `/tmp/volley-<uid>/` (a 0700
//! directory) as `<hash of the state dir>.sock`, because `sun_path` holds only 107
//! bytes and a project's state dir may be deep. The state dir records the path in
//! `supervisor.json`. A lock file in the state dir, held for the supervisor's whole
//! life, decides who owns the socket: a socket file whose lock is free is stale and
//! is replaced. The socket is chmod 0600 and every peer's uid is checked.

use std::fs::File;
use std::io::{self, BufRead, BufReader, Write};
use std::os::unix::fs::{DirBuilderExt, MetadataExt, PermissionsExt};
use std::os::unix::net::UnixStream as StdUnixStream;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde::{Deserialize, Serialize};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt};
use tokio::net::{UnixListener, UnixStream};
use tokio::sync::{mpsc, oneshot};
use volley_core::services::ServiceState;

pub const PROTOCOL_VERSION: u32 = 1;
/// Longest request or response line accepted.
pub const MAX_LINE: usize = 1 << 20;
/// `sun_path` capacity on Linux, without the terminating NUL.
const MAX_SOCKET_PATH: usize = 107;
/// How long a new supervisor waits for one that is shutting down to release the lock.
const LOCK_WAIT: std::time::Duration = std::time::Duration::from_secs(2);

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RequestLine {
    pub version: u32,
    pub request: Request,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Request {
    /// Start these services (empty: all) and their deps; answer once ready or failed.
    Up {
        names: Vec<String>,
    },
    /// Stop these (empty: all) and what depends on them; answer once stopped.
    Down {
        names: Vec<String>,
    },
    /// Stop and start one service; answer once ready or failed.
    Restart {
        name: String,
    },
    Status,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ResponseLine {
    pub version: u32,
    pub response: Response,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Response {
    Up { services: Vec<ServiceReport>, failed: Option<FailedService> },
    Down { stopped: Vec<StopReport> },
    Status { supervisor_pid: u32, services: Vec<ServiceReport> },
    Error { message: String },
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ServiceReport {
    pub name: String,
    pub state: ServiceState,
    pub pid: Option<u32>,
    /// Since its current process was spawned.
    pub uptime_us: Option<u64>,
    pub restarts: u32,
    pub time_to_ready_us: Option<u64>,
    pub last_probe: Option<ProbeReport>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ProbeReport {
    pub ok: bool,
    pub message: String,
    pub latency_us: u64,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct FailedService {
    pub name: String,
    pub reason: String,
    pub last_lines: Vec<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct StopReport {
    pub name: String,
    pub time_to_stop_us: u64,
    pub killed: bool,
}

/// Where a project's supervisor keeps its socket, lock, record and PID files.
#[derive(Debug, Clone)]
pub struct SupervisorPaths {
    pub socket: PathBuf,
    pub lock: PathBuf,
    /// `supervisor.json`: the supervisor's pid and socket path.
    pub record: PathBuf,
    pub pids: PathBuf,
}

impl SupervisorPaths {
    pub fn new(state_dir: &Path) -> SupervisorPaths {
        let absolute = std::path::absolute(state_dir).unwrap_or_else(|_| state_dir.to_path_buf());
        let hash = crate::ui::fnv1a(absolute.as_os_str().as_encoded_bytes());
        let base = match std::env::var_os("XDG_RUNTIME_DIR").filter(|d| !d.is_empty()) {
            Some(dir) => PathBuf::from(dir).join("volley"),
            None => PathBuf::from(format!("/tmp/volley-{}", rustix::process::getuid().as_raw())),
        };
        SupervisorPaths {
            socket: base.join(format!("{hash:016x}.sock")),
            lock: state_dir.join("supervisor.lock"),
            record: state_dir.join("supervisor.json"),
            pids: state_dir.join("pids"),
        }
    }
}

/// Holds the lock; removes the socket and the record when dropped.
pub struct Bound {
    paths: SupervisorPaths,
    _lock: File,
}

impl Bound {
    /// Stops new clients from reaching a supervisor that is about to exit.
    pub fn close_socket(&self) {
        let _ = std::fs::remove_file(&self.paths.socket);
    }
}

impl Drop for Bound {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.paths.socket);
        let _ = std::fs::remove_file(&self.paths.record);
    }
}

#[derive(Debug, thiserror::Error)]
pub enum SocketError {
    #[error("a supervisor is already running for this project")]
    AlreadyRunning,
    #[error("socket path {path} is longer than {MAX_SOCKET_PATH} bytes")]
    PathTooLong { path: PathBuf },
    #[error("{what} {path}: {source}")]
    Io {
        what: &'static str,
        path: PathBuf,
        #[source]
        source: io::Error,
    },
}

fn io_error(what: &'static str, path: &Path) -> impl FnOnce(io::Error) -> SocketError {
    let path = path.to_path_buf();
    move |source| SocketError::Io { what, path, source }
}

/// Takes the project's supervisor lock and binds its socket (owner-only).
/// Must run inside a tokio runtime.
pub fn bind(paths: &SupervisorPaths) -> Result<(Bound, UnixListener), SocketError> {
    if paths.socket.as_os_str().len() > MAX_SOCKET_PATH {
        return Err(SocketError::PathTooLong { path: paths.socket.clone() });
    }
    if let Some(dir) = paths.lock.parent() {
        std::fs::create_dir_all(dir).map_err(io_error("cannot create", dir))?;
    }
    let lock = open_lock(paths).map_err(io_error("cannot open", &paths.lock))?;
    // A supervisor that is shutting down has closed its socket but may hold the lock
    // for a moment longer: wait for it then, not when one is serving.
    let deadline = std::time::Instant::now() + LOCK_WAIT;
    while lock.try_lock().is_err() {
        if StdUnixStream::connect(&paths.socket).is_ok() || std::time::Instant::now() > deadline {
            return Err(SocketError::AlreadyRunning);
        }
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
    let dir = paths.socket.parent().unwrap_or(Path::new("/tmp"));
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
        .map_err(io_error("cannot create", dir))?;
    let meta = std::fs::metadata(dir).map_err(io_error("cannot read", dir))?;
    if meta.uid() != rustix::process::getuid().as_raw() || meta.mode() & 0o077 != 0 {
        return Err(SocketError::Io {
            what: "refusing to use",
            path: dir.to_path_buf(),
            source: io::Error::other("the directory must belong to you with mode 0700"),
        });
    }
    // We hold the lock, so a socket file here is a dead supervisor's.
    let _ = std::fs::remove_file(&paths.socket);
    let listener = UnixListener::bind(&paths.socket).map_err(io_error("cannot bind", &paths.socket))?;
    std::fs::set_permissions(&paths.socket, std::fs::Permissions::from_mode(0o600))
        .map_err(io_error("cannot chmod", &paths.socket))?;
    let record = serde_json::json!({
        "pid": std::process::id(),
        "socket": paths.socket.display().to_string(),
    });
    std::fs::write(&paths.record, format!("{record}\n")).map_err(io_error("cannot write", &paths.record))?;
    Ok((Bound { paths: paths.clone(), _lock: lock }, listener))
}

/// The project's supervisor lock file, created if missing, not locked yet.
fn open_lock(paths: &SupervisorPaths) -> io::Result<File> {
    File::options().create(true).truncate(false).write(true).open(&paths.lock)
}

/// Removes the socket file and the record of a supervisor that died without removing
/// them (SIGKILL), taking the lock first so that a supervisor starting meanwhile
/// keeps its own. Returns whether a socket file was removed.
pub fn remove_stale(paths: &SupervisorPaths) -> bool {
    let left = |path: &Path| path.symlink_metadata().is_ok();
    if !left(&paths.socket) && !left(&paths.record) {
        return false;
    }
    let Ok(lock) = open_lock(paths) else { return false };
    if lock.try_lock().is_err() {
        return false;
    }
    let _ = std::fs::remove_file(&paths.record);
    std::fs::remove_file(&paths.socket).is_ok()
}

/// A request from a client, with where to send the answer.
pub type Incoming = (Request, oneshot::Sender<Response>);

/// Counts requests whose answer is not written yet, so the supervisor can deliver
/// its last answers (to `down`) before it exits.
#[derive(Debug, Default)]
pub struct InFlight {
    count: std::sync::atomic::AtomicUsize,
    idle: tokio::sync::Notify,
}

impl InFlight {
    /// Waits until every answer is written, for at most `limit`.
    pub async fn drain(&self, limit: std::time::Duration) {
        let wait = async {
            loop {
                let idle = self.idle.notified();
                if self.count.load(std::sync::atomic::Ordering::SeqCst) == 0 {
                    return;
                }
                idle.await;
            }
        };
        let _ = tokio::time::timeout(limit, wait).await;
    }
}

/// Accepts connections for ever, forwarding each request to `requests`.
pub async fn serve(
    listener: UnixListener,
    requests: mpsc::UnboundedSender<Incoming>,
    in_flight: Arc<InFlight>,
) {
    let uid = rustix::process::getuid().as_raw();
    loop {
        let Ok((stream, _)) = listener.accept().await else {
            // Out of descriptors, typically: let some connections end first.
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
            continue;
        };
        if stream.peer_cred().map(|c| c.uid()).ok() != Some(uid) {
            continue;
        }
        tokio::spawn(connection(stream, requests.clone(), Arc::clone(&in_flight)));
    }
}

async fn connection(stream: UnixStream, requests: mpsc::UnboundedSender<Incoming>, in_flight: Arc<InFlight>) {
    use std::sync::atomic::Ordering;
    let (read, mut write) = stream.into_split();
    let mut reader = tokio::io::BufReader::new(read).take(MAX_LINE as u64);
    let mut line = Vec::new();
    loop {
        line.clear();
        reader.set_limit(MAX_LINE as u64);
        match reader.read_until(b'\n', &mut line).await {
            Ok(0) | Err(_) => return,
            Ok(_) => {}
        }
        if line.last() != Some(&b'\n') && line.len() >= MAX_LINE {
            let _ = write
                .write_all(
                    b"{\"version\":1,\"response\":{\"error\":{\"message\":\"request line too long\"}}}\n",
                )
                .await;
            return;
        }
        in_flight.count.fetch_add(1, Ordering::SeqCst);
        let response = match serde_json::from_slice::<RequestLine>(&line) {
            Ok(RequestLine { version: PROTOCOL_VERSION, request }) => {
                let (tx, rx) = oneshot::channel();
                if requests.send((request, tx)).is_err() {
                    in_flight.count.fetch_sub(1, Ordering::SeqCst);
                    in_flight.idle.notify_waiters();
                    return;
                }
                rx.await.unwrap_or(Response::Error { message: "the supervisor is shutting down".into() })
            }
            Ok(RequestLine { version, .. }) => Response::Error {
                message: format!("protocol version {version} is not {PROTOCOL_VERSION}: use the same volley"),
            },
            Err(e) => Response::Error { message: format!("bad request: {e}") },
        };
        let mut text = serde_json::to_vec(&ResponseLine { version: PROTOCOL_VERSION, response })
            .unwrap_or_else(|_| b"{}".to_vec());
        text.push(b'\n');
        let written = write.write_all(&text).await;
        in_flight.count.fetch_sub(1, Ordering::SeqCst);
        in_flight.idle.notify_waiters();
        if written.is_err() {
            return;
        }
    }
}

/// A blocking client connection to a running supervisor.
pub struct Client {
    stream: BufReader<StdUnixStream>,
}

impl Client {
    /// `None` when no supervisor runs (no socket, or a stale one).
    pub fn connect(paths: &SupervisorPaths) -> Option<Client> {
        let stream = StdUnixStream::connect(&paths.socket).ok()?;
        Some(Client { stream: BufReader::new(stream) })
    }

    /// Gives up on an answer after `limit` (`status` must not hang on a stuck
    /// supervisor; `up` and `down` wait as long as probes and stop timeouts take).
    pub fn set_timeout(&mut self, limit: std::time::Duration) -> io::Result<()> {
        self.stream.get_ref().set_read_timeout(Some(limit))
    }

    /// Sends one request and waits for its answer.
    pub fn request(&mut self, request: Request) -> io::Result<Response> {
        let mut text = serde_json::to_vec(&RequestLine { version: PROTOCOL_VERSION, request })?;
        text.push(b'\n');
        self.stream.get_mut().write_all(&text)?;
        let mut line = Vec::new();
        std::io::Read::take(&mut self.stream, MAX_LINE as u64).read_until(b'\n', &mut line)?;
        if line.is_empty() {
            return Err(io::Error::new(io::ErrorKind::UnexpectedEof, "the supervisor closed the connection"));
        }
        let ResponseLine { version, response } = serde_json::from_slice(&line)?;
        if version != PROTOCOL_VERSION {
            return Err(io::Error::other(format!(
                "the supervisor speaks protocol {version}, not {PROTOCOL_VERSION}"
            )));
        }
        Ok(response)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_a_socket_whose_lock_is_free_is_removed_as_stale() {
        let dir = tempfile::tempdir().expect("tempdir");
        let paths = SupervisorPaths {
            socket: dir.path().join("s.sock"),
            lock: dir.path().join("supervisor.lock"),
            record: dir.path().join("supervisor.json"),
            pids: dir.path().join("pids"),
        };
        assert!(!remove_stale(&paths), "nothing there");
        assert!(!paths.lock.exists(), "and no lock file made for nothing");
        std::fs::write(&paths.socket, "").expect("socket stand-in");
        std::fs::write(&paths.record, "{}").expect("record");
        let live = File::create(&paths.lock).expect("lock");
        live.try_lock().expect("a live supervisor's lock");
        assert!(!remove_stale(&paths), "a live supervisor keeps its socket");
        assert!(paths.socket.exists() && paths.record.exists());
        drop(live);
        assert!(remove_stale(&paths), "a dead one's is removed");
        assert!(!paths.socket.exists() && !paths.record.exists());
    }

    #[test]
    fn requests_round_trip_as_versioned_json_lines() {
        let line =
            RequestLine { version: PROTOCOL_VERSION, request: Request::Up { names: vec!["db".into()] } };
        let text = serde_json::to_string(&line).expect("json");
        assert_eq!(text, r#"{"version":1,"request":{"up":{"names":["db"]}}}"#);
        let back: RequestLine = serde_json::from_str(&text).expect("parse");
        assert!(matches!(back.request, Request::Up { names } if names == ["db"]));
    }

    #[test]
    fn socket_paths_are_short_and_differ_per_project() {
        let a = SupervisorPaths::new(Path::new("/very/deep/project/a/.volley"));
        let b = SupervisorPaths::new(Path::new("/very/deep/project/b/.volley"));
        assert_ne!(a.socket, b.socket);
        assert!(a.socket.as_os_str().len() <= MAX_SOCKET_PATH);
        assert_eq!(a.lock, Path::new("/very/deep/project/a/.volley/supervisor.lock"));
    }
}
