//! What a service's process is given between fork and exec besides its
//! user: resource limits (`limits:`, `--limit`), `umask:`, `nice:`,
//! `oom_score_adj:`, `no_new_privs:` and `capabilities:`. The names and
//! values as a unit file or the command line writes them, checked here;
//! `sys::spawn` applies them.

use serde_saphyr::Spanned;

use super::parse::{Checker, unique};
use super::yaml::Node;

/// A resource of setrlimit(2), by the name `limits:` gives it (the
/// `RLIMIT_` constant's, in lower case, as `prlimit(1)` and dinit name
/// them).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Resource {
    As,
    Core,
    Cpu,
    Data,
    Fsize,
    Locks,
    Memlock,
    Msgqueue,
    Nice,
    Nofile,
    Nproc,
    Rss,
    Rtprio,
    Rttime,
    Sigpending,
    Stack,
}

impl Resource {
    /// Every resource, in the order `limits:` messages list them.
    pub const ALL: [Resource; 16] = [
        Resource::As,
        Resource::Core,
        Resource::Cpu,
        Resource::Data,
        Resource::Fsize,
        Resource::Locks,
        Resource::Memlock,
        Resource::Msgqueue,
        Resource::Nice,
        Resource::Nofile,
        Resource::Nproc,
        Resource::Rss,
        Resource::Rtprio,
        Resource::Rttime,
        Resource::Sigpending,
        Resource::Stack,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Resource::As => "as",
            Resource::Core => "core",
            Resource::Cpu => "cpu",
            Resource::Data => "data",
            Resource::Fsize => "fsize",
            Resource::Locks => "locks",
            Resource::Memlock => "memlock",
            Resource::Msgqueue => "msgqueue",
            Resource::Nice => "nice",
            Resource::Nofile => "nofile",
            Resource::Nproc => "nproc",
            Resource::Rss => "rss",
            Resource::Rtprio => "rtprio",
            Resource::Rttime => "rttime",
            Resource::Sigpending => "sigpending",
            Resource::Stack => "stack",
        }
    }

    pub fn from_name(name: &str) -> Option<Resource> {
        Resource::ALL.into_iter().find(|r| r.name() == name)
    }
}

/// `RLIM_INFINITY`: no limit (`infinity`, `unlimited`).
pub const INFINITY: u64 = u64::MAX;

/// One resource limit: its soft and hard values, [`INFINITY`] for none.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rlimit {
    pub resource: Resource,
    pub soft: u64,
    pub hard: u64,
}

/// One side of a limit: a whole number with an optional binary suffix
/// (`K`, `M`, `G`, `T`, or `KiB`, `MiB`, `GiB`, `TiB`: 1024-based), or
/// `infinity` / `unlimited`.
pub(super) fn limit_side(text: &str) -> Result<u64, String> {
    let text = text.trim();
    if text == "infinity" || text == "unlimited" {
        return Ok(INFINITY);
    }
    let digits = text
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(text.len());
    let (number, suffix) = text.split_at(digits);
    let shift = match suffix {
        "" => 0,
        "K" | "KiB" => 10,
        "M" | "MiB" => 20,
        "G" | "GiB" => 30,
        "T" | "TiB" => 40,
        _ => {
            return Err(format!(
                "\"{text}\" is not a limit (a whole number, optionally with K, M, G or T, or infinity)"
            ));
        }
    };
    if number.is_empty() {
        return Err(format!(
            "\"{text}\" is not a limit (a whole number, optionally with K, M, G or T, or infinity)"
        ));
    }
    let too_large = || format!("\"{text}\" is too large (for no limit, write infinity)");
    let n: u64 = number.parse().map_err(|_| too_large())?;
    let value = n.checked_mul(1u64 << shift).ok_or_else(too_large)?;
    // The largest number is the kernel's "no limit": written as such.
    if value == INFINITY {
        return Err(too_large());
    }
    Ok(value)
}

/// A limit's value: `N` (soft and hard alike) or `SOFT:HARD`, each side as
/// [`limit_side`] reads it; the soft one may not exceed the hard one.
pub fn parse_limit_value(text: &str) -> Result<(u64, u64), String> {
    let (soft, hard) = match text.split_once(':') {
        Some((soft, hard)) => (limit_side(soft)?, limit_side(hard)?),
        None => {
            let both = limit_side(text)?;
            (both, both)
        }
    };
    if soft > hard {
        return Err(format!(
            "the soft limit is above the hard one in \"{text}\" (SOFT:HARD)"
        ));
    }
    Ok((soft, hard))
}

fn known_resources() -> String {
    let names: Vec<&str> = Resource::ALL.iter().map(|r| r.name()).collect();
    names.join(", ")
}

/// `--limit NAME=VALUE`.
pub fn parse_limit(text: &str) -> Result<Rlimit, String> {
    let Some((name, value)) = text.split_once('=') else {
        return Err(format!(
            "\"{text}\" is not NAME=VALUE (such as nofile=1024:524288)"
        ));
    };
    let resource = Resource::from_name(name)
        .ok_or_else(|| format!("unknown limit \"{name}\" (known: {})", known_resources()))?;
    let (soft, hard) = parse_limit_value(value).map_err(|e| format!("{name}: {e}"))?;
    Ok(Rlimit {
        resource,
        soft,
        hard,
    })
}

/// `limits:`, a mapping of resource names to values; the limits in the
/// order written.
pub(super) fn parse_limits(c: &mut Checker<'_>, node: &Spanned<Node>) -> Vec<Rlimit> {
    let Node::Map(entries) = &node.value else {
        let found = node.value.describe();
        c.at(
            node,
            format!("limits: expected a mapping such as {{nofile: 1024}}, found {found}"),
        );
        return Vec::new();
    };
    let mut out = Vec::new();
    for (key, value) in unique(c, "limits: ", entries) {
        let Some(resource) = Resource::from_name(&key.value) else {
            c.at(
                key,
                format!(
                    "limits: unknown limit `{}` (known: {})",
                    key.value,
                    known_resources()
                ),
            );
            continue;
        };
        let name = resource.name();
        let text = match &value.value {
            Node::Int(n) if *n >= 0 => n.to_string(),
            Node::Str(s) => s.clone(),
            Node::Int(_) | Node::Float(_) => {
                c.at(
                    value,
                    format!("limits: {name}: expected a whole number of 0 or more, or infinity"),
                );
                continue;
            }
            other => {
                let found = other.describe();
                c.at(
                    value,
                    format!("limits: {name}: expected a number or \"SOFT:HARD\", found {found}"),
                );
                continue;
            }
        };
        match parse_limit_value(&text) {
            Ok((soft, hard)) => out.push(Rlimit {
                resource,
                soft,
                hard,
            }),
            Err(e) => c.at(value, format!("limits: {name}: {e}")),
        }
    }
    out
}

/// `umask:`, an octal string such as `"0027"`.
pub(super) fn parse_umask(c: &mut Checker<'_>, node: &Spanned<Node>) -> Option<u32> {
    let text = match &node.value {
        Node::Str(s) => s.clone(),
        // YAML 1.1 reads 0027 as octal (23), YAML 1.2 as decimal (27):
        // which the writer meant cannot be told from the number.
        Node::Int(_) | Node::Float(_) => {
            c.at(
                node,
                "umask: quote it, as in umask: \"0027\" (an unquoted 0027 is a number whose digits YAML readers disagree on)",
            );
            return None;
        }
        other => {
            let found = other.describe();
            c.at(
                node,
                format!("umask: expected an octal string such as \"0027\", found {found}"),
            );
            return None;
        }
    };
    match u32::from_str_radix(&text, 8) {
        Ok(m) if m <= 0o777 && !text.starts_with(['+', '-']) => Some(m),
        _ => {
            c.at(
                node,
                format!("umask: \"{text}\" is not an octal mask from \"0000\" to \"0777\""),
            );
            None
        }
    }
}

/// A whole number within `range`, for `nice:` and `oom_score_adj:`.
pub(super) fn parse_bounded(
    c: &mut Checker<'_>,
    key: &str,
    node: &Spanned<Node>,
    range: std::ops::RangeInclusive<i32>,
) -> Option<i32> {
    let (low, high) = (*range.start(), *range.end());
    match node.value {
        Node::Int(n) => match i32::try_from(n) {
            Ok(n) if range.contains(&n) => Some(n),
            _ => {
                c.at(
                    node,
                    format!("{key}: {n} is out of range ({low} to {high})"),
                );
                None
            }
        },
        ref other => {
            let found = other.describe();
            c.at(
                node,
                format!("{key}: expected a whole number from {low} to {high}, found {found}"),
            );
            None
        }
    }
}

/// The capabilities of capabilities(7), by number.
const CAPABILITIES: [&str; 41] = [
    "CHOWN",
    "DAC_OVERRIDE",
    "DAC_READ_SEARCH",
    "FOWNER",
    "FSETID",
    "KILL",
    "SETGID",
    "SETUID",
    "SETPCAP",
    "LINUX_IMMUTABLE",
    "NET_BIND_SERVICE",
    "NET_BROADCAST",
    "NET_ADMIN",
    "NET_RAW",
    "IPC_LOCK",
    "IPC_OWNER",
    "SYS_MODULE",
    "SYS_RAWIO",
    "SYS_CHROOT",
    "SYS_PTRACE",
    "SYS_PACCT",
    "SYS_ADMIN",
    "SYS_BOOT",
    "SYS_NICE",
    "SYS_RESOURCE",
    "SYS_TIME",
    "SYS_TTY_CONFIG",
    "MKNOD",
    "LEASE",
    "AUDIT_WRITE",
    "AUDIT_CONTROL",
    "SETFCAP",
    "MAC_OVERRIDE",
    "MAC_ADMIN",
    "SYSLOG",
    "WAKE_ALARM",
    "BLOCK_SUSPEND",
    "AUDIT_READ",
    "PERFMON",
    "BPF",
    "CHECKPOINT_RESTORE",
];

/// A set of capabilities, bit N for capability N (as `/proc/PID/status`
/// shows `CapEff:`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Capabilities(pub u64);

impl Capabilities {
    /// `NET_BIND_SERVICE`, `cap_net_bind_service`, `CAP_NET_BIND_SERVICE`.
    pub fn number_of(name: &str) -> Option<u32> {
        let upper = name.to_ascii_uppercase();
        let bare = upper.strip_prefix("CAP_").unwrap_or(&upper);
        CAPABILITIES
            .iter()
            .position(|c| *c == bare)
            .and_then(|n| u32::try_from(n).ok())
    }

    pub fn contains(self, cap: u32) -> bool {
        cap < 64 && self.0 & (1 << cap) != 0
    }
}

/// `capabilities:`, a list of names (or one name).
pub(super) fn parse_capabilities(
    c: &mut Checker<'_>,
    node: &Spanned<Node>,
) -> Option<Capabilities> {
    let items: Vec<&Spanned<Node>> = match &node.value {
        Node::Seq(items) => items.iter().collect(),
        Node::Str(_) => vec![node],
        other => {
            let found = other.describe();
            c.at(
                node,
                format!(
                    "capabilities: expected a list of names such as [NET_BIND_SERVICE], found {found}"
                ),
            );
            return None;
        }
    };
    let mut set = Capabilities::default();
    let mut ok = true;
    for item in items {
        let Node::Str(name) = &item.value else {
            let found = item.value.describe();
            c.at(
                item,
                format!("capabilities: expected a name such as NET_BIND_SERVICE, found {found}"),
            );
            ok = false;
            continue;
        };
        match Capabilities::number_of(name) {
            Some(n) => set.0 |= 1 << n,
            None => {
                let upper = name.to_ascii_uppercase();
                let bare = upper.strip_prefix("CAP_").unwrap_or(&upper);
                let hint = super::keys::closest_in(bare, &CAPABILITIES)
                    .map(|k| format!(" (did you mean {k}?)"))
                    .unwrap_or_default();
                c.at(
                    item,
                    format!("capabilities: unknown capability \"{name}\"{hint}"),
                );
                ok = false;
            }
        }
    }
    ok.then_some(set)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limit_values() {
        assert_eq!(parse_limit_value("1024:524288"), Ok((1024, 524288)));
        assert_eq!(parse_limit_value("512"), Ok((512, 512)));
        assert_eq!(parse_limit_value("64M"), Ok((64 << 20, 64 << 20)));
        assert_eq!(parse_limit_value("8KiB:1G"), Ok((8 << 10, 1 << 30)));
        assert_eq!(parse_limit_value("2T"), Ok((2 << 40, 2 << 40)));
        assert_eq!(parse_limit_value("infinity"), Ok((INFINITY, INFINITY)));
        assert_eq!(parse_limit_value("0:unlimited"), Ok((0, INFINITY)));
        assert!(
            parse_limit_value("2:1")
                .unwrap_err()
                .contains("soft limit is above")
        );
        assert!(parse_limit_value("infinity:1").is_err());
        assert!(
            parse_limit_value("1X")
                .unwrap_err()
                .contains("is not a limit")
        );
        assert!(parse_limit_value("M").is_err());
        assert!(parse_limit_value("-1").is_err());
        assert!(parse_limit_value("").is_err());
        assert!(parse_limit_value("1:2:3").is_err());
        assert!(
            parse_limit_value("99999999999999999999")
                .unwrap_err()
                .contains("too large")
        );
        assert!(
            parse_limit_value("16777216T")
                .unwrap_err()
                .contains("too large")
        );
        assert!(
            parse_limit_value("18446744073709551615")
                .unwrap_err()
                .contains("too large")
        );
    }

    #[test]
    fn command_line_limits() {
        assert_eq!(
            parse_limit("nofile=1024:2048"),
            Ok(Rlimit {
                resource: Resource::Nofile,
                soft: 1024,
                hard: 2048
            })
        );
        assert!(parse_limit("nofile").unwrap_err().contains("NAME=VALUE"));
        assert!(
            parse_limit("files=1")
                .unwrap_err()
                .contains("unknown limit \"files\" (known: as, core,")
        );
        assert_eq!(
            parse_limit("core=x").unwrap_err(),
            "core: \"x\" is not a limit (a whole number, optionally with K, M, G or T, or infinity)"
        );
    }

    #[test]
    fn capability_names() {
        assert_eq!(Capabilities::number_of("CHOWN"), Some(0));
        assert_eq!(Capabilities::number_of("cap_net_bind_service"), Some(10));
        assert_eq!(Capabilities::number_of("Cap_Checkpoint_Restore"), Some(40));
        assert_eq!(Capabilities::number_of("NOPE"), None);
        assert!(Capabilities(1 << 10).contains(10));
        assert!(!Capabilities(1 << 10).contains(64));
    }
}
