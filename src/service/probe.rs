//! Probes: is a service ready (or still alive)? `tcp` connects, `http` sends one GET
//! and compares the status, `command` runs a shell command (exit 0 = pass). `log`
//! and `delay` need no I/O and are decided by the supervisor itself.
//!
//! The HTTP probe speaks just enough HTTP/1.0 to read a status line: the URL was
//! validated as `http://host[:port][/path]` by the config walker, there is no TLS,
//! and only the status code matters, so a client library would add nothing a probe
//! uses. Every check is bounded by a deadline; a hung check counts as a failure.

use std::os::unix::process::CommandExt;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use volley_core::model::ProbeCheck;

use crate::exec::{Environment, signal_group};

/// What a probe needs to run a `command` check like the service itself runs.
#[derive(Debug, Clone)]
pub struct ProbeContext {
    pub shell: Vec<String>,
    pub env: Environment,
    pub dir: PathBuf,
}

/// One check's result.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProbeResult {
    pub ok: bool,
    /// Why it failed, or what passed (`HTTP 200`, `connected`, `exit 0`).
    pub message: String,
    pub latency: Duration,
}

/// Runs one check of `check`, for at most `limit`.
pub async fn check_once(check: &ProbeCheck, context: &ProbeContext, limit: Duration) -> ProbeResult {
    let started = Instant::now();
    let outcome = tokio::time::timeout(limit, run(check, context, limit)).await;
    let (ok, message) = match outcome {
        Ok(Ok(message)) => (true, message),
        Ok(Err(message)) => (false, message),
        Err(_) => (false, format!("no answer within {}", crate::ui::format_duration(limit))),
    };
    ProbeResult { ok, message, latency: started.elapsed() }
}

async fn run(check: &ProbeCheck, context: &ProbeContext, limit: Duration) -> Result<String, String> {
    match check {
        ProbeCheck::Tcp(address) => {
            TcpStream::connect(address.as_str()).await.map_err(|e| format!("{address}: {e}"))?;
            Ok("connected".to_owned())
        }
        ProbeCheck::Http { url, status } => http_status(url, *status).await,
        ProbeCheck::Command(command) => run_command(command, context, limit).await,
        // Decided by the supervisor from output lines and timers.
        ProbeCheck::Log(_) | ProbeCheck::Delay(_) => Ok(String::new()),
    }
}

/// `http://host:port/path` → (`host:port`, `host`, `/path`).
pub fn split_http_url(url: &str) -> Result<(String, String, String), String> {
    let rest = url.strip_prefix("http://").ok_or_else(|| format!("{url}: only http:// is supported"))?;
    let (authority, path) = match rest.find(['/', '?']) {
        Some(at) if rest[at..].starts_with('/') => (&rest[..at], rest[at..].to_owned()),
        Some(at) => (&rest[..at], format!("/{}", &rest[at..])),
        None => (rest, "/".to_owned()),
    };
    let authority = authority.rsplit_once('@').map_or(authority, |(_, host)| host);
    if authority.is_empty() {
        return Err(format!("{url}: no host"));
    }
    let has_port = authority.rsplit_once(':').is_some_and(|(_, port)| port.parse::<u16>().is_ok())
        && !authority.ends_with(']');
    let address = if has_port { authority.to_owned() } else { format!("{authority}:80") };
    Ok((address, authority.to_owned(), path))
}

async fn http_status(url: &str, expected: u16) -> Result<String, String> {
    let (address, host, path) = split_http_url(url)?;
    let mut stream = TcpStream::connect(address.as_str()).await.map_err(|e| format!("{url}: {e}"))?;
    let request =
        format!("GET {path} HTTP/1.0\r\nHost: {host}\r\nUser-Agent: volley\r\nConnection: close\r\n\r\n");
    stream.write_all(request.as_bytes()).await.map_err(|e| format!("{url}: {e}"))?;
    // The status line is short; a server that sends more than this before a newline
    // is not speaking HTTP.
    let mut head = Vec::with_capacity(256);
    let mut buf = [0u8; 256];
    while !head.contains(&b'\n') && head.len() < 4096 {
        let n = stream.read(&mut buf).await.map_err(|e| format!("{url}: {e}"))?;
        if n == 0 {
            break;
        }
        head.extend_from_slice(&buf[..n]);
    }
    let line = String::from_utf8_lossy(&head);
    let line = line.lines().next().unwrap_or("");
    let code = parse_status_line(line).ok_or_else(|| format!("{url}: not an HTTP response: {line:?}"))?;
    if code == expected {
        Ok(format!("HTTP {code}"))
    } else {
        Err(format!("{url}: HTTP {code}, expected {expected}"))
    }
}

/// `HTTP/1.1 200 OK` → 200.
pub fn parse_status_line(line: &str) -> Option<u16> {
    let mut parts = line.split_whitespace();
    parts.next().filter(|v| v.starts_with("HTTP/"))?;
    parts.next()?.parse().ok()
}

async fn run_command(command: &str, context: &ProbeContext, limit: Duration) -> Result<String, String> {
    let (program, args) = context.shell.split_first().ok_or("empty shell")?;
    let child = Command::new(program)
        .args(args)
        .arg(command)
        .env_clear()
        .envs(context.env.vars())
        .current_dir(&context.dir)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .process_group(0)
        .spawn()
        .map_err(|e| format!("cannot run `{command}`: {e}"))?;
    let pgid = child.id();
    let waiter = tokio::task::spawn_blocking(move || {
        let mut child = child;
        child.wait()
    });
    // Kill the check's group if it outlives its limit, so a hung probe leaves nothing.
    let guard = KillOnDrop(pgid);
    let status = tokio::time::timeout(limit, waiter)
        .await
        .map_err(|_| format!("`{command}` still running after {}", crate::ui::format_duration(limit)))?
        .map_err(|e| e.to_string())?
        .map_err(|e| e.to_string())?;
    drop(guard);
    match status.code() {
        Some(0) => Ok("exit 0".to_owned()),
        Some(code) => Err(format!("`{command}` exited with {code}")),
        None => Err(format!("`{command}` was killed by a signal")),
    }
}

struct KillOnDrop(u32);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        // The group's leader is reaped by the blocking waiter; until then its id is
        // pinned, and afterwards the group is empty (ESRCH), so this hits nothing else.
        let _ = signal_group(self.0, libc::SIGKILL);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_split_into_address_host_and_path() {
        assert_eq!(
            split_http_url("http://127.0.0.1:8000/health").expect("url"),
            ("127.0.0.1:8000".into(), "127.0.0.1:8000".into(), "/health".into())
        );
        assert_eq!(split_http_url("http://localhost").expect("url").0, "localhost:80");
        assert_eq!(split_http_url("http://h:1?x=1").expect("url").2, "/?x=1");
        assert!(split_http_url("https://h/").is_err());
    }

    #[test]
    fn status_lines_parse() {
        assert_eq!(parse_status_line("HTTP/1.1 204 No Content"), Some(204));
        assert_eq!(parse_status_line("HTTP/1.0 500"), Some(500));
        assert_eq!(parse_status_line("SSH-2.0-OpenSSH"), None);
    }

    fn context() -> ProbeContext {
        ProbeContext {
            shell: vec!["sh".into(), "-c".into()],
            env: Environment::new(std::env::vars_os()),
            dir: std::env::temp_dir(),
        }
    }

    #[tokio::test(flavor = "current_thread")]
    async fn tcp_probe_passes_on_a_listening_port_and_fails_on_a_closed_one() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        let address = listener.local_addr().expect("addr").to_string();
        let limit = Duration::from_secs(2);
        assert!(check_once(&ProbeCheck::Tcp(address.clone()), &context(), limit).await.ok);
        drop(listener);
        let closed = check_once(&ProbeCheck::Tcp(address), &context(), limit).await;
        assert!(!closed.ok, "{closed:?}");
    }

    #[tokio::test(flavor = "current_thread")]
    async fn http_probe_compares_the_status() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        let port = listener.local_addr().expect("addr").port();
        let server = std::thread::spawn(move || {
            use std::io::{Read, Write};
            for reply in ["HTTP/1.1 200 OK\r\n\r\n", "HTTP/1.1 503 Unavailable\r\n\r\n"] {
                let (mut conn, _) = listener.accept().expect("accept");
                let mut buf = [0u8; 1024];
                let _ = conn.read(&mut buf).expect("read");
                conn.write_all(reply.as_bytes()).expect("write");
            }
        });
        let check = ProbeCheck::Http { url: format!("http://127.0.0.1:{port}/health"), status: 200 };
        let limit = Duration::from_secs(2);
        let first = check_once(&check, &context(), limit).await;
        assert!(first.ok, "{first:?}");
        let second = check_once(&check, &context(), limit).await;
        assert!(!second.ok && second.message.contains("503"), "{second:?}");
        server.join().expect("server");
    }

    #[tokio::test(flavor = "current_thread")]
    async fn command_probe_uses_the_exit_status_and_a_hung_one_times_out() {
        let limit = Duration::from_millis(300);
        assert!(check_once(&ProbeCheck::Command("true".into()), &context(), limit).await.ok);
        let failed = check_once(&ProbeCheck::Command("exit 3".into()), &context(), limit).await;
        assert!(!failed.ok && failed.message.contains('3'), "{failed:?}");
        let hung = check_once(&ProbeCheck::Command("sleep 30".into()), &context(), limit).await;
        assert!(!hung.ok && hung.latency < Duration::from_secs(5), "{hung:?}");
    }
}
