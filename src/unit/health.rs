//! `health:`, a service's health check, with Docker's semantics and
//! defaults (the HEALTHCHECK instruction, the HealthConfig schema): a
//! probe (`exec:` a command, `tcp:` a connect, `http:` a GET) run again
//! and again while the service runs. Pure: running the probes is the
//! event loop's, deciding on their results the core's.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::Duration;

use serde_saphyr::Spanned;

use super::parse::{Checker, unique};
use super::yaml::Node;

/// A service's health check.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HealthCheck {
    pub probe: HealthProbe,
    /// Between the end of one probe and the start of the next (30s).
    pub interval: Duration,
    /// A probe still running after this is killed and failed (30s).
    pub timeout: Duration,
    /// From readiness: failures do not count (0s); a success ends it.
    pub start_period: Duration,
    /// Between probes during `start_period` (5s).
    pub start_interval: Duration,
    /// Failures in a row that make the service unhealthy (3).
    pub retries: u32,
    pub on_unhealthy: OnUnhealthy,
    /// The first success makes the service ready (a `simple` one only).
    pub readiness: bool,
}

impl HealthCheck {
    /// Docker's defaults around `probe`.
    pub fn new(probe: HealthProbe) -> HealthCheck {
        HealthCheck {
            probe,
            interval: Duration::from_secs(30),
            timeout: Duration::from_secs(30),
            start_period: Duration::ZERO,
            start_interval: Duration::from_secs(5),
            retries: 3,
            on_unhealthy: OnUnhealthy::Restart,
            readiness: false,
        }
    }
}

/// What a probe does.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HealthProbe {
    /// Runs this argv with the service's user, group, environment,
    /// working directory and cgroup: exit 0 is healthy.
    Exec(Vec<String>),
    /// Connects: an accepted connection is healthy.
    Tcp(SocketAddr),
    /// Sends `GET path` with `Host: host` to `addr`: a 2xx or 3xx answer
    /// is healthy.
    Http {
        addr: SocketAddr,
        host: String,
        path: String,
    },
}

impl fmt::Display for HealthProbe {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            HealthProbe::Exec(argv) => write!(f, "exec {}", argv.join(" ")),
            HealthProbe::Tcp(addr) => write!(f, "tcp {addr}"),
            HealthProbe::Http { host, path, .. } => write!(f, "http://{host}{path}"),
        }
    }
}

/// What becomes of a service found unhealthy.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OnUnhealthy {
    /// Its run is stopped and counts as a failure: the restart policy
    /// decides (restarted unless `restart: never`).
    Restart,
    /// Stopped, and left stopped until `fosterctl start`.
    Stop,
    /// foster shuts everything down (and exits 1).
    Shutdown,
    /// Only shown (`status` exits 3 for it).
    None,
}

impl OnUnhealthy {
    pub fn as_str(self) -> &'static str {
        match self {
            OnUnhealthy::Restart => "restart",
            OnUnhealthy::Stop => "stop",
            OnUnhealthy::Shutdown => "shutdown",
            OnUnhealthy::None => "none",
        }
    }
}

/// The keys of `health:`.
const HEALTH_KEYS: &[&str] = &[
    "exec",
    "tcp",
    "http",
    "interval",
    "timeout",
    "start_period",
    "start_interval",
    "retries",
    "on_unhealthy",
    "readiness",
];

/// `health:`: a mapping with one of `exec`, `tcp`, `http` and the timings;
/// every problem at its position. `readiness_node` is where `readiness:
/// true` was written, for the checks that need the unit's type.
pub(super) fn parse_health<'n>(
    c: &mut Checker<'_>,
    node: &'n Spanned<Node>,
) -> Option<(HealthCheck, Option<&'n Spanned<Node>>)> {
    let Node::Map(entries) = &node.value else {
        let found = node.value.describe();
        c.at(
            node,
            format!("health: expected a mapping such as `exec: [pg_isready]`, found {found}"),
        );
        return None;
    };
    let before = c.problems.len();
    let mut probe: Option<(HealthProbe, &Spanned<String>)> = None;
    let mut check = HealthCheck::new(HealthProbe::Exec(Vec::new()));
    let mut readiness_node = None;
    for (key, value) in unique(c, "health: ", entries) {
        let found = match key.value.as_str() {
            "exec" => exec_probe(c, value),
            "tcp" => c
                .string("health: tcp", value)
                .and_then(|text| match parse_address(&text) {
                    Ok(addr) => Some(HealthProbe::Tcp(addr)),
                    Err(e) => {
                        c.at(value, format!("health: tcp: {e}"));
                        None
                    }
                }),
            "http" => c
                .string("health: http", value)
                .and_then(|text| match parse_http(&text) {
                    Ok(p) => Some(p),
                    Err(e) => {
                        c.at(value, format!("health: http: {e}"));
                        None
                    }
                }),
            "interval" | "timeout" | "start_period" | "start_interval" => {
                let name = format!("health: {}", key.value);
                if let Some(d) = c.duration(&name, value) {
                    let zero_ok = key.value == "start_period";
                    if d.is_zero() && !zero_ok {
                        c.at(value, format!("{name}: must be longer than 0"));
                    } else {
                        match key.value.as_str() {
                            "interval" => check.interval = d,
                            "timeout" => check.timeout = d,
                            "start_period" => check.start_period = d,
                            _ => check.start_interval = d,
                        }
                    }
                }
                None
            }
            "retries" => {
                match value.value {
                    Node::Int(n) if n >= 1 => match u32::try_from(n) {
                        Ok(n) => check.retries = n,
                        Err(_) => c.at(value, "health: retries: too large"),
                    },
                    Node::Int(_) => c.at(value, "health: retries: must be 1 or more"),
                    ref other => {
                        let found = other.describe();
                        c.at(
                            value,
                            format!("health: retries: expected a whole number, found {found}"),
                        );
                    }
                }
                None
            }
            "on_unhealthy" => {
                let choices = [
                    ("restart", OnUnhealthy::Restart),
                    ("stop", OnUnhealthy::Stop),
                    ("shutdown", OnUnhealthy::Shutdown),
                    ("none", OnUnhealthy::None),
                ];
                if let Some(on) = c.choice("health: on_unhealthy", value, &choices) {
                    check.on_unhealthy = on;
                }
                None
            }
            "readiness" => {
                if let Some(b) = c.boolean("health: readiness", value) {
                    check.readiness = b;
                    readiness_node = b.then_some(value);
                }
                None
            }
            other => {
                let hint = super::keys::closest_in(other, HEALTH_KEYS)
                    .map(|k| format!(" (did you mean `{k}`?)"))
                    .unwrap_or_default();
                c.at(
                    key,
                    format!(
                        "health: unknown key `{other}`{hint} (health has {})",
                        HEALTH_KEYS.join(", ")
                    ),
                );
                None
            }
        };
        if let Some(found) = found {
            match &probe {
                Some((_, first)) => {
                    let (line, column) = (first.referenced.line(), first.referenced.column());
                    c.at(
                        key,
                        format!(
                            "health: one probe only: `{}` and `{}` (at {line}:{column})",
                            key.value, first.value
                        ),
                    );
                }
                None => probe = Some((found, key)),
            }
        }
    }
    match probe {
        Some((p, _)) if c.problems.len() == before => {
            check.probe = p;
            Some((check, readiness_node))
        }
        Some(_) => None,
        None => {
            if c.problems.len() == before {
                c.at(node, "health: needs a probe: `exec:`, `tcp:` or `http:`");
            }
            None
        }
    }
}

/// `exec:` a list, or a string run by `/bin/sh -c` (as `command:`).
fn exec_probe(c: &mut Checker<'_>, value: &Spanned<Node>) -> Option<HealthProbe> {
    match &value.value {
        Node::Str(s) if !s.trim().is_empty() => Some(HealthProbe::Exec(vec![
            "/bin/sh".into(),
            "-c".into(),
            s.clone(),
        ])),
        Node::Seq(items) if !items.is_empty() => {
            let mut argv = Vec::new();
            for item in items {
                match item.value.scalar_text() {
                    Some(s) if !(argv.is_empty() && s.is_empty()) => argv.push(s),
                    Some(_) => {
                        c.at(item, "health: exec: the program name must not be empty");
                        return None;
                    }
                    None => {
                        let found = item.value.describe();
                        c.at(
                            item,
                            format!("health: exec: arguments must be strings, found {found}"),
                        );
                        return None;
                    }
                }
            }
            Some(HealthProbe::Exec(argv))
        }
        Node::Str(_) | Node::Seq(_) => {
            c.at(value, "health: exec: must not be empty");
            None
        }
        other => {
            let found = other.describe();
            c.at(
                value,
                format!("health: exec: expected a command (a list, or a string), found {found}"),
            );
            None
        }
    }
}

/// `ADDR:PORT`, `[V6]:PORT` or `localhost:PORT`: no name is looked up
/// (a lookup may block, and PID 1 never blocks).
fn parse_address(text: &str) -> Result<SocketAddr, String> {
    let text = text.trim();
    if let Some(port) = text.strip_prefix("localhost:") {
        return port_of(port).map(|p| SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), p));
    }
    if let Ok(addr) = text.parse::<SocketAddr>() {
        if addr.port() == 0 {
            return Err(format!("\"{text}\": port 0 is no port"));
        }
        return Ok(addr);
    }
    match text.rsplit_once(':') {
        Some((host, port)) if !host.contains(':') && port_of(port).is_ok() => Err(format!(
            "\"{host}\" is not an IP address (foster looks up no names: PID 1 never blocks)"
        )),
        _ => Err(format!(
            "\"{text}\": expected ADDR:PORT, [V6]:PORT or localhost:PORT"
        )),
    }
}

fn port_of(text: &str) -> Result<u16, String> {
    match text.parse::<u16>() {
        Ok(p) if p > 0 => Ok(p),
        _ => Err(format!("\"{text}\" is not a port (1 to 65535)")),
    }
}

/// `http://HOST[:PORT][/PATH]`, HOST an IP address or `localhost`.
fn parse_http(text: &str) -> Result<HealthProbe, String> {
    let text = text.trim();
    let Some(rest) = text.strip_prefix("http://") else {
        return Err(if text.starts_with("https://") {
            format!("\"{text}\": https is not supported (probe the plain port, or use exec:)")
        } else {
            format!("\"{text}\": expected http://ADDR[:PORT]/PATH")
        });
    };
    let (authority, path) = match rest.find('/') {
        Some(at) => rest.split_at(at),
        None => (rest, "/"),
    };
    if authority.is_empty() {
        return Err(format!("\"{text}\": no address"));
    }
    if path.bytes().any(|b| b.is_ascii_control() || b == b' ') {
        return Err(format!(
            "\"{text}\": the path holds spaces or control characters"
        ));
    }
    let with_port = if authority.ends_with(']') || !authority.contains(':') {
        format!("{authority}:80")
    } else {
        authority.to_string()
    };
    let addr = parse_address(&with_port)?;
    Ok(HealthProbe::Http {
        addr,
        host: authority.to_string(),
        path: path.to_string(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_are_numeric_or_localhost() {
        assert_eq!(
            parse_address("127.0.0.1:5432"),
            Ok("127.0.0.1:5432".parse().unwrap())
        );
        assert_eq!(parse_address("[::1]:80"), Ok("[::1]:80".parse().unwrap()));
        assert_eq!(
            parse_address("localhost:8080"),
            Ok("127.0.0.1:8080".parse().unwrap())
        );
        assert!(
            parse_address("db:5432")
                .unwrap_err()
                .contains("looks up no names")
        );
        assert!(parse_address("127.0.0.1").is_err());
        assert!(parse_address("127.0.0.1:0").is_err());
        assert!(parse_address("localhost:99999").is_err());
    }

    #[test]
    fn http_urls_give_the_address_host_and_path() {
        assert_eq!(
            parse_http("http://127.0.0.1:8080/healthz?full=1"),
            Ok(HealthProbe::Http {
                addr: "127.0.0.1:8080".parse().unwrap(),
                host: "127.0.0.1:8080".into(),
                path: "/healthz?full=1".into(),
            })
        );
        assert_eq!(
            parse_http("http://localhost"),
            Ok(HealthProbe::Http {
                addr: "127.0.0.1:80".parse().unwrap(),
                host: "localhost".into(),
                path: "/".into(),
            })
        );
        assert_eq!(
            parse_http("http://[::1]/x"),
            Ok(HealthProbe::Http {
                addr: "[::1]:80".parse().unwrap(),
                host: "[::1]".into(),
                path: "/x".into(),
            })
        );
        assert!(
            parse_http("https://127.0.0.1/")
                .unwrap_err()
                .contains("https")
        );
        assert!(parse_http("127.0.0.1/").is_err());
        assert!(
            parse_http("http://web/")
                .unwrap_err()
                .contains("not an IP address")
        );
        assert!(parse_http("http://127.0.0.1/a b").is_err());
    }
}
