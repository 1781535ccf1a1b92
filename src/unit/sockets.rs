//! The sockets foster holds for a service (`sockets:`), and the listen
//! addresses they are written with, also `--listen`'s: "PORT" (every
//! address, IPv6 dual-stack), "ADDR:PORT", "[V6]:PORT", "/path" (a unix
//! socket), "@name" (an abstract unix socket). Pure: the binding is the
//! event loop's.

use std::fmt;
use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;

use serde_saphyr::Spanned;

use super::parse::{Checker, unique};
use super::yaml::Node;

/// Where a held socket listens.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Listen {
    /// Every address on this port: `[::]` with IPv4 mapped (dual-stack).
    Port(u16),
    /// One address and port.
    Inet(SocketAddr),
    /// A unix socket at this path.
    Path(PathBuf),
    /// An abstract unix socket (Linux): the name after the `@`.
    Abstract(String),
}

impl Listen {
    pub fn is_unix(&self) -> bool {
        matches!(self, Listen::Path(_) | Listen::Abstract(_))
    }
}

impl fmt::Display for Listen {
    /// As it is written in a unit, so that a status shows what the user wrote.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Listen::Port(port) => write!(f, "{port}"),
            Listen::Inet(addr) => write!(f, "{addr}"),
            Listen::Path(path) => write!(f, "{}", path.display()),
            Listen::Abstract(name) => write!(f, "@{name}"),
        }
    }
}

/// The longest unix socket path: `sun_path` holds 108 bytes, the last a NUL.
pub const MAX_UNIX_PATH: usize = 107;

/// A listen address as written: see the module's list.
pub fn parse_listen(text: &str) -> Result<Listen, String> {
    let text = text.trim();
    if text.is_empty() {
        return Err(
            "an empty address (expected PORT, ADDR:PORT, [V6]:PORT, /path or @name)".into(),
        );
    }
    if let Some(name) = text.strip_prefix('@') {
        if name.is_empty() {
            return Err("an abstract socket needs a name after `@`".into());
        }
        if name.len() > MAX_UNIX_PATH - 1 {
            return Err(format!(
                "an abstract socket name is at most {} bytes",
                MAX_UNIX_PATH - 1
            ));
        }
        if name.contains('\0') {
            return Err("a socket name must not hold a NUL byte".into());
        }
        return Ok(Listen::Abstract(name.to_string()));
    }
    if text.starts_with('/') {
        if text.len() > MAX_UNIX_PATH {
            return Err(format!(
                "a unix socket path is at most {MAX_UNIX_PATH} bytes"
            ));
        }
        if text.contains('\0') {
            return Err("a socket path must not hold a NUL byte".into());
        }
        return Ok(Listen::Path(PathBuf::from(text)));
    }
    if text.bytes().all(|b| b.is_ascii_digit()) {
        return port(text).map(Listen::Port);
    }
    let (host, port_text) = match text.strip_prefix('[') {
        Some(rest) => match rest.split_once("]:") {
            Some((host, port_text)) => (host, port_text),
            None => {
                return Err(format!(
                    "\"{text}\": an IPv6 address is written [ADDR]:PORT"
                ));
            }
        },
        None => match text.rsplit_once(':') {
            Some((host, _)) if host.contains(':') => {
                return Err(format!(
                    "\"{text}\": an IPv6 address is written [ADDR]:PORT"
                ));
            }
            Some(pair) => pair,
            None => {
                return Err(format!(
                    "\"{text}\": expected PORT, ADDR:PORT, [V6]:PORT, /path or @name"
                ));
            }
        },
    };
    let ip: IpAddr = host.parse().map_err(|_| {
        format!("\"{host}\" is not an IP address (foster binds addresses, not names)")
    })?;
    if text.starts_with('[') != ip.is_ipv6() {
        return Err(format!(
            "\"{text}\": an IPv6 address is written [ADDR]:PORT"
        ));
    }
    Ok(Listen::Inet(SocketAddr::new(ip, port(port_text)?)))
}

/// A port: 1 to 65535.
fn port(text: &str) -> Result<u16, String> {
    match text.parse::<u32>() {
        Ok(n @ 1..=65535) => u16::try_from(n).map_err(|_| format!("port {text} is out of range")),
        Ok(_) => Err(format!("port {text} is out of range (1 to 65535)")),
        Err(_) if !text.is_empty() && text.bytes().all(|b| b.is_ascii_digit()) => {
            Err(format!("port {text} is out of range (1 to 65535)"))
        }
        Err(_) => Err(format!("\"{text}\" is not a port (1 to 65535)")),
    }
}

/// A socket's type.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SocketKind {
    /// TCP, or a unix stream socket.
    Stream,
    /// UDP, or a unix datagram socket.
    Datagram,
    /// A unix seqpacket socket.
    Seqpacket,
}

impl SocketKind {
    pub fn as_str(self) -> &'static str {
        match self {
            SocketKind::Stream => "stream",
            SocketKind::Datagram => "datagram",
            SocketKind::Seqpacket => "seqpacket",
        }
    }
}

/// Whether `name` may be a `LISTEN_FDNAMES` entry (or an `FDNAME=`): as
/// systemd has it, at most 255 bytes of ASCII, no `:` (the separator), no
/// control characters; not empty.
pub fn valid_fd_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 255
        && name
            .bytes()
            .all(|b| b.is_ascii() && !b.is_ascii_control() && b != b':')
}

/// A socket foster binds before a service's first start and holds while
/// its unit lives (one entry of `sockets:`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SocketSpec {
    pub listen: Listen,
    pub kind: SocketKind,
    /// Its `LISTEN_FDNAMES` entry (default: the service's name).
    pub name: String,
    pub backlog: u32,
    /// A unix path socket's permissions (it is owned by the service's
    /// user and group); `None`: as the umask leaves it.
    pub mode: Option<u32>,
}

/// The backlog of a held socket unless its entry says otherwise.
pub const DEFAULT_BACKLOG: u32 = 4096;

/// The keys of a `sockets:` entry.
const SOCKET_KEYS: &[&str] = &["listen", "type", "name", "backlog", "mode"];

/// `sockets:` of service `service`: a list of mappings, each checked with
/// its problems at their positions; each socket with its entry's line and
/// column (for the checks across units).
pub(super) fn parse_sockets(
    c: &mut Checker<'_>,
    node: &Spanned<Node>,
    service: &str,
) -> Vec<(SocketSpec, (u64, u64))> {
    let Node::Seq(items) = &node.value else {
        let found = node.value.describe();
        c.at(
            node,
            format!(
                "sockets: expected a list of sockets such as `- listen: \"8080\"`, found {found}"
            ),
        );
        return Vec::new();
    };
    let mut out: Vec<(SocketSpec, &Spanned<Node>)> = Vec::new();
    for item in items {
        let Node::Map(entries) = &item.value else {
            let found = item.value.describe();
            c.at(
                item,
                format!(
                    "sockets: each socket is a mapping such as `listen: \"8080\"`, found {found}"
                ),
            );
            continue;
        };
        if let Some(spec) = parse_socket(c, item, entries, service) {
            if let Some((_, first)) = out
                .iter()
                .find(|(s, _)| s.listen == spec.listen && s.kind == spec.kind)
            {
                let (line, column) = (first.referenced.line(), first.referenced.column());
                c.at(
                    item,
                    format!(
                        "sockets: {} ({}) is listed twice (first at {line}:{column})",
                        spec.listen,
                        spec.kind.as_str()
                    ),
                );
                continue;
            }
            out.push((spec, item));
        }
    }
    out.into_iter()
        .map(|(spec, node)| (spec, (node.referenced.line(), node.referenced.column())))
        .collect()
}

fn parse_socket(
    c: &mut Checker<'_>,
    item: &Spanned<Node>,
    entries: &[(Spanned<String>, Spanned<Node>)],
    service: &str,
) -> Option<SocketSpec> {
    let mut listen = None;
    let mut kind = SocketKind::Stream;
    let mut kind_node = None;
    let mut name = service.to_string();
    let mut backlog = DEFAULT_BACKLOG;
    let mut mode = None;
    let before = c.problems.len();
    for (key, value) in unique(c, "sockets: ", entries) {
        match key.value.as_str() {
            "listen" => {
                let text = match &value.value {
                    // `listen: 8080` is a port, as `listen: "8080"`.
                    Node::Int(n) => Some(n.to_string()),
                    _ => c.string("sockets: listen", value),
                };
                if let Some(text) = text {
                    match parse_listen(&text) {
                        Ok(l) => listen = Some((l, value)),
                        Err(e) => c.at(value, format!("sockets: listen: {e}")),
                    }
                }
            }
            "type" => {
                let choices = [
                    ("stream", SocketKind::Stream),
                    ("datagram", SocketKind::Datagram),
                    ("seqpacket", SocketKind::Seqpacket),
                ];
                if let Some(k) = c.choice("sockets: type", value, &choices) {
                    kind = k;
                    kind_node = Some(value);
                }
            }
            "name" => {
                if let Some(text) = c.string("sockets: name", value) {
                    if valid_fd_name(&text) {
                        name = text;
                    } else {
                        c.at(
                            value,
                            format!("sockets: name \"{text}\" is not a LISTEN_FDNAMES name (ASCII, no `:` or control characters, at most 255 bytes)"),
                        );
                    }
                }
            }
            "backlog" => match value.value {
                Node::Int(n) if (1..=65535).contains(&n) => {
                    backlog = u32::try_from(n).unwrap_or(DEFAULT_BACKLOG);
                }
                Node::Int(n) => c.at(
                    value,
                    format!("sockets: backlog {n} is out of range (1 to 65535)"),
                ),
                ref other => {
                    let found = other.describe();
                    c.at(
                        value,
                        format!("sockets: backlog: expected a whole number, found {found}"),
                    );
                }
            },
            "mode" => {
                // `mode: 0660` reads as the number 660 in YAML 1.2: its
                // digits are taken as octal, as the quoted "0660" is.
                let text = match &value.value {
                    Node::Int(n) => Some(n.to_string()),
                    // The YAML reader takes a leading 0 for a float's.
                    Node::Float(x) if x.fract() == 0.0 && (0.0..1e6).contains(x) => {
                        Some(format!("{x:.0}"))
                    }
                    _ => c.string("sockets: mode", value),
                };
                if let Some(text) = text {
                    match u32::from_str_radix(&text, 8) {
                        Ok(m) if m <= 0o777 => mode = Some((m, value)),
                        _ => c.at(
                            value,
                            format!(
                                "sockets: mode \"{text}\" is not a permission such as \"0660\""
                            ),
                        ),
                    }
                }
            }
            other => {
                let hint = super::keys::closest_in(other, SOCKET_KEYS)
                    .map(|k| format!(" (did you mean `{k}`?)"))
                    .unwrap_or_default();
                c.at(
                    key,
                    format!("sockets: unknown key `{other}`{hint} (a socket has listen, type, name, backlog, mode)"),
                );
            }
        }
    }
    let Some((listen, listen_node)) = listen else {
        if c.problems.len() == before {
            c.at(item, "sockets: each socket needs `listen:`");
        }
        return None;
    };
    if kind == SocketKind::Seqpacket && !listen.is_unix() {
        c.at(
            kind_node.unwrap_or(listen_node),
            format!("sockets: {listen}: seqpacket is for unix sockets (/path or @name)"),
        );
    }
    if let Some((_, node)) = mode
        && !matches!(listen, Listen::Path(_))
    {
        c.at(
            node,
            format!("sockets: {listen}: `mode` is for unix path sockets only"),
        );
    }
    (c.problems.len() == before).then(|| SocketSpec {
        listen,
        kind,
        name,
        backlog,
        mode: mode.map(|(m, _)| m),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn listen_addresses_as_users_write_them() {
        assert_eq!(parse_listen("8080"), Ok(Listen::Port(8080)));
        assert_eq!(
            parse_listen("127.0.0.1:80"),
            Ok(Listen::Inet("127.0.0.1:80".parse().unwrap()))
        );
        assert_eq!(
            parse_listen("[::1]:443"),
            Ok(Listen::Inet("[::1]:443".parse().unwrap()))
        );
        assert_eq!(
            parse_listen("/run/web.sock"),
            Ok(Listen::Path("/run/web.sock".into()))
        );
        assert_eq!(parse_listen("@web"), Ok(Listen::Abstract("web".into())));
        for (bad, says) in [
            ("0", "out of range"),
            ("65536", "out of range"),
            ("99999999999999999999", "out of range"),
            ("127.0.0.1:0", "out of range"),
            ("localhost:80", "not an IP address"),
            ("::1:80", "[ADDR]:PORT"),
            ("[127.0.0.1]:80", "[ADDR]:PORT"),
            ("[::1]80", "[ADDR]:PORT"),
            ("1.2.3.4:http", "not a port"),
            ("web", "expected PORT"),
            ("", "empty"),
            ("@", "needs a name"),
        ] {
            let got = parse_listen(bad);
            assert!(
                got.as_ref().is_err_and(|e| e.contains(says)),
                "{bad:?}: {got:?}"
            );
        }
        let long = format!("/{}", "x".repeat(MAX_UNIX_PATH));
        assert!(parse_listen(&long).is_err());
    }

    #[test]
    fn addresses_show_as_written() {
        for text in ["8080", "127.0.0.1:80", "[::1]:443", "/run/a.sock", "@x"] {
            assert_eq!(parse_listen(text).unwrap().to_string(), text);
        }
    }

    #[test]
    fn fd_names_follow_systemds_rules() {
        assert!(valid_fd_name("http"));
        assert!(valid_fd_name("stored-1.x"));
        for bad in ["", "a:b", "a\nb", "é", &"x".repeat(256)] {
            assert!(!valid_fd_name(bad), "{bad:?}");
        }
    }
}
