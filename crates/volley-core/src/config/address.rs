//! Hand checks of probe addresses: `host:port` for tcp and `http://host[:port][/path]`
//! for http. Probes speak plain HTTP only (no TLS stack in volley), so `https://` is
//! rejected here rather than failing at run time. Errors are short label phrases.

/// `127.0.0.1:6380`, `localhost:80`, `[::1]:8000`.
pub(super) fn check_tcp(address: &str) -> Result<(), String> {
    let (host, port) = split_host_port(address).ok_or("expected `host:port`")?;
    check_host(host)?;
    check_port(port.ok_or("missing port")?)
}

/// `http://host[:port][/path][?query]`.
pub(super) fn check_http(url: &str) -> Result<(), String> {
    let Some(scheme_end) = url.find("://") else {
        return Err("missing `http://`".to_string());
    };
    let scheme = &url[..scheme_end];
    if scheme.eq_ignore_ascii_case("https") {
        return Err("https is not supported, only http".to_string());
    }
    if !scheme.eq_ignore_ascii_case("http") {
        return Err(format!("unsupported scheme `{scheme}`"));
    }
    let rest = &url[scheme_end + 3..];
    if rest.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err("contains whitespace".to_string());
    }
    let authority_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let authority = &rest[..authority_end];
    if authority.contains('@') {
        return Err("credentials in the URL are not supported".to_string());
    }
    let (host, port) = split_host_port(authority).ok_or("invalid host")?;
    check_host(host)?;
    match port {
        Some(port) => check_port(port),
        None => Ok(()),
    }
}

/// Splits `host[:port]`, with IPv6 hosts in brackets.
fn split_host_port(s: &str) -> Option<(&str, Option<&str>)> {
    if let Some(rest) = s.strip_prefix('[') {
        let close = rest.find(']')?;
        let host = &rest[..close];
        let after = &rest[close + 1..];
        if after.is_empty() {
            return Some((host, None));
        }
        return Some((host, Some(after.strip_prefix(':')?)));
    }
    match s.rsplit_once(':') {
        Some((host, _)) if host.contains(':') => None,
        Some((host, port)) => Some((host, Some(port))),
        None => Some((s, None)),
    }
}

fn check_host(host: &str) -> Result<(), String> {
    if host.is_empty() {
        return Err("missing host".to_string());
    }
    if host.chars().all(|c| c.is_ascii_alphanumeric() || "-._:%".contains(c)) {
        Ok(())
    } else {
        Err(format!("invalid host `{host}`"))
    }
}

fn check_port(port: &str) -> Result<(), String> {
    match port.parse::<u16>() {
        Ok(p) if p > 0 && port.bytes().all(|b| b.is_ascii_digit()) => Ok(()),
        _ => Err(format!("invalid port `{port}`")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tcp_addresses() {
        assert_eq!(check_tcp("127.0.0.1:6380"), Ok(()));
        assert_eq!(check_tcp("localhost:80"), Ok(()));
        assert_eq!(check_tcp("[::1]:8000"), Ok(()));
        assert_eq!(check_tcp("localhost"), Err("missing port".to_string()));
        assert_eq!(check_tcp(":80"), Err("missing host".to_string()));
        assert_eq!(check_tcp("host:99999"), Err("invalid port `99999`".to_string()));
        assert_eq!(check_tcp("host:+80"), Err("invalid port `+80`".to_string()));
        assert_eq!(check_tcp("::1:80"), Err("expected `host:port`".to_string()));
    }

    #[test]
    fn http_urls() {
        assert_eq!(check_http("http://127.0.0.1:8000/health"), Ok(()));
        assert_eq!(check_http("http://localhost"), Ok(()));
        assert_eq!(check_http("http://[::1]:80/x?y=1"), Ok(()));
        assert_eq!(check_http("https://x/"), Err("https is not supported, only http".to_string()));
        assert_eq!(check_http("127.0.0.1:8000"), Err("missing `http://`".to_string()));
        assert_eq!(check_http("http:///health"), Err("missing host".to_string()));
        assert_eq!(check_http("http://h:0/"), Err("invalid port `0`".to_string()));
        assert_eq!(check_http("http://h /"), Err("contains whitespace".to_string()));
        assert_eq!(check_http("ftp://h/"), Err("unsupported scheme `ftp`".to_string()));
    }
}
