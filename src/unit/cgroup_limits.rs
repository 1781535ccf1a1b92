//! cgroup limits (`memory_max`, `memory_high`, `memory_swap_max`,
//! `cpu_max`, `cpu_weight`, `pids_max`, `io_weight`): the values as a
//! unit file writes them, checked here into typed values. The kernel's
//! files and their text are `crate::cgroup`'s; writing them into the
//! service's cgroup before its first process joins it is the spawner's.

use serde_saphyr::Spanned;

use super::limits::{INFINITY, limit_side};
use super::parse::Checker;
use super::yaml::Node;

/// A cgroup limit's value: a number, or `max` (no limit).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Amount {
    Max,
    Value(u64),
}

/// `cpu_max`: at most `quota` µs of CPU time (`None`: no limit) in each
/// `period` µs, as `cpu.max` takes it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CpuMax {
    pub quota: Option<u64>,
    pub period: u64,
}

/// The kernel's default `cpu.max` period, and the one `cpu_max: "50%"` uses.
pub const CPU_PERIOD: u64 = 100_000;
/// The shortest quota and period `cpu.max` takes (1 ms), and the longest
/// period (1 s).
const CPU_MIN_US: u64 = 1_000;
const CPU_MAX_PERIOD_US: u64 = 1_000_000;
/// The largest quota taken: what the kernel's `max_cfs_runtime` allows is
/// larger, but no machine has more than this many CPUs to give.
const CPU_MAX_QUOTA_US: u64 = 4096 * CPU_MAX_PERIOD_US;

/// The cgroup limits of a unit; `None` for a key it does not set (the
/// kernel's default, no limit, stays).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct CgroupLimits {
    /// `memory.max`, in bytes.
    pub memory_max: Option<Amount>,
    /// `memory.high`, in bytes.
    pub memory_high: Option<Amount>,
    /// `memory.swap.max`, in bytes.
    pub memory_swap_max: Option<Amount>,
    pub cpu_max: Option<CpuMax>,
    /// `cpu.weight`, 1 to 10000.
    pub cpu_weight: Option<u16>,
    pub pids_max: Option<Amount>,
    /// `io.weight`, 1 to 10000.
    pub io_weight: Option<u16>,
}

impl CgroupLimits {
    /// No key is set: nothing to write.
    pub fn is_empty(&self) -> bool {
        *self == CgroupLimits::default()
    }
}

/// A size: whole bytes, or a number with `K`, `M`, `G` or `T` (1024-based,
/// `KiB` … too), or `max` / `infinity`. `zero_ok`: 0 is a value (no swap)
/// rather than a mistake (no memory at all).
fn size(text: &str, zero_ok: bool) -> Result<Amount, String> {
    let text = text.trim();
    if text == "max" {
        return Ok(Amount::Max);
    }
    match limit_side(text) {
        Ok(INFINITY) => Ok(Amount::Max),
        Ok(0) if !zero_ok => {
            Err("0 would leave it no memory at all (for no limit, write max)".into())
        }
        Ok(n) => Ok(Amount::Value(n)),
        Err(e) if e.contains("too large") => {
            Err(format!("\"{text}\" is too large (for no limit, write max)"))
        }
        Err(_) => Err(format!(
            "\"{text}\" is not a size (whole bytes, or a whole number with K, M, G or T, or max)"
        )),
    }
}

/// `cpu_max`: `N%` of one CPU (more than 100% for more than one) in
/// periods of 100 ms, `QUOTA PERIOD` in µs (as `cpu.max`), or `max` /
/// `max PERIOD`.
pub fn parse_cpu_max(text: &str) -> Result<CpuMax, String> {
    let text = text.trim();
    let usage = || {
        format!(
            "\"{text}\" is not a CPU limit (a percentage such as 50%, \"QUOTA PERIOD\" in microseconds such as \"50000 100000\", or max)"
        )
    };
    if let Some(percent) = text.strip_suffix('%') {
        let percent: u64 = percent.trim().parse().map_err(|_| usage())?;
        if percent == 0 {
            return Err("0% would never let it run (for no limit, write max)".into());
        }
        let quota = percent
            .checked_mul(CPU_PERIOD / 100)
            .filter(|&q| q <= CPU_MAX_QUOTA_US)
            .ok_or_else(|| format!("\"{text}\" is more CPUs than any machine has"))?;
        return Ok(CpuMax {
            quota: Some(quota),
            period: CPU_PERIOD,
        });
    }
    let mut words = text.split_ascii_whitespace();
    let (quota, period) = match (words.next(), words.next(), words.next()) {
        (Some("max"), None, None) => {
            return Ok(CpuMax {
                quota: None,
                period: CPU_PERIOD,
            });
        }
        (Some(quota), Some(period), None) => (quota, period),
        _ => return Err(usage()),
    };
    let period: u64 = period.parse().map_err(|_| usage())?;
    if !(CPU_MIN_US..=CPU_MAX_PERIOD_US).contains(&period) {
        return Err(format!(
            "the period {period} is out of range ({CPU_MIN_US} to {CPU_MAX_PERIOD_US} microseconds)"
        ));
    }
    if quota == "max" {
        return Ok(CpuMax {
            quota: None,
            period,
        });
    }
    let quota: u64 = quota.parse().map_err(|_| usage())?;
    if !(CPU_MIN_US..=CPU_MAX_QUOTA_US).contains(&quota) {
        return Err(format!(
            "the quota {quota} is out of range ({CPU_MIN_US} to {CPU_MAX_QUOTA_US} microseconds)"
        ));
    }
    Ok(CpuMax {
        quota: Some(quota),
        period,
    })
}

/// The scalar of a cgroup limit key as text: a string, or a whole number
/// (`pids_max: 20`, `memory_max: 1048576`).
fn text_of(c: &mut Checker<'_>, key: &str, node: &Spanned<Node>, expected: &str) -> Option<String> {
    match &node.value {
        Node::Str(s) => Some(s.clone()),
        Node::Int(n) if *n >= 0 => Some(n.to_string()),
        Node::Int(n) => {
            c.at(
                node,
                format!("{key}: {n} is negative (expected {expected})"),
            );
            None
        }
        other => {
            let found = other.describe();
            c.at(node, format!("{key}: expected {expected}, found {found}"));
            None
        }
    }
}

/// `memory_max`, `memory_high`, `memory_swap_max`.
pub(super) fn parse_size(c: &mut Checker<'_>, key: &str, node: &Spanned<Node>) -> Option<Amount> {
    let text = text_of(c, key, node, "a size such as 512M, or max")?;
    match size(&text, key == "memory_swap_max") {
        Ok(amount) => Some(amount),
        Err(e) => {
            c.at(node, format!("{key}: {e}"));
            None
        }
    }
}

/// `cpu_max`.
pub(super) fn parse_cpu(c: &mut Checker<'_>, node: &Spanned<Node>) -> Option<CpuMax> {
    let text = text_of(
        c,
        "cpu_max",
        node,
        "a percentage such as 50%, or \"QUOTA PERIOD\"",
    )?;
    match parse_cpu_max(&text) {
        Ok(max) => Some(max),
        Err(e) => {
            c.at(node, format!("cpu_max: {e}"));
            None
        }
    }
}

/// `cpu_weight`, `io_weight`: 1 to 10000 (the kernel's default is 100).
pub(super) fn parse_weight(c: &mut Checker<'_>, key: &str, node: &Spanned<Node>) -> Option<u16> {
    match node.value {
        Node::Int(n) => match u16::try_from(n) {
            Ok(w) if (1..=10_000).contains(&w) => Some(w),
            _ => {
                c.at(
                    node,
                    format!("{key}: {n} is out of range (1 to 10000; the default is 100)"),
                );
                None
            }
        },
        ref other => {
            let found = other.describe();
            c.at(
                node,
                format!("{key}: expected a whole number from 1 to 10000, found {found}"),
            );
            None
        }
    }
}

/// `pids_max`: at least 1, or `max`.
pub(super) fn parse_pids(c: &mut Checker<'_>, node: &Spanned<Node>) -> Option<Amount> {
    let text = text_of(c, "pids_max", node, "a number of processes, or max")?;
    match text.trim() {
        "max" | "infinity" => Some(Amount::Max),
        t => match t.parse::<u64>() {
            // The kernel's PID_MAX_LIMIT (4194304) is the most that can exist.
            Ok(n @ 1..=4_194_304) => Some(Amount::Value(n)),
            Ok(0) => {
                c.at(
                    node,
                    "pids_max: 0 would not let it start at all (at least 1, or max)",
                );
                None
            }
            Ok(n) => {
                c.at(node, format!("pids_max: {n} is more than the kernel allows (4194304; for no limit, write max)"));
                None
            }
            Err(_) => {
                c.at(
                    node,
                    format!("pids_max: \"{t}\" is not a number of processes (at least 1, or max)"),
                );
                None
            }
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes() {
        assert_eq!(size("32M", false), Ok(Amount::Value(32 << 20)));
        assert_eq!(size("1048576", false), Ok(Amount::Value(1 << 20)));
        assert_eq!(size("2GiB", false), Ok(Amount::Value(2 << 30)));
        assert_eq!(size("1T", false), Ok(Amount::Value(1 << 40)));
        assert_eq!(size("max", false), Ok(Amount::Max));
        assert_eq!(size("infinity", false), Ok(Amount::Max));
        assert_eq!(size("0", true), Ok(Amount::Value(0)));
        assert!(size("0", false).unwrap_err().contains("no memory"));
        assert!(size("1.5G", false).unwrap_err().contains("is not a size"));
        assert!(size("32MB", false).unwrap_err().contains("is not a size"));
        assert!(size("-1", false).unwrap_err().contains("is not a size"));
        assert!(size("99999999T", false).unwrap_err().contains("too large"));
    }

    #[test]
    fn cpu_max_values() {
        let q = |quota, period| Ok(CpuMax { quota, period });
        assert_eq!(parse_cpu_max("50%"), q(Some(50_000), 100_000));
        assert_eq!(parse_cpu_max("150%"), q(Some(150_000), 100_000));
        assert_eq!(parse_cpu_max("1%"), q(Some(1_000), 100_000));
        assert_eq!(parse_cpu_max("50000 100000"), q(Some(50_000), 100_000));
        assert_eq!(parse_cpu_max("  20000   50000 "), q(Some(20_000), 50_000));
        assert_eq!(parse_cpu_max("max"), q(None, 100_000));
        assert_eq!(parse_cpu_max("max 200000"), q(None, 200_000));
        assert!(
            parse_cpu_max("0%")
                .unwrap_err()
                .contains("never let it run")
        );
        assert!(
            parse_cpu_max("50")
                .unwrap_err()
                .contains("is not a CPU limit")
        );
        assert!(
            parse_cpu_max("12.5%")
                .unwrap_err()
                .contains("is not a CPU limit")
        );
        assert!(
            parse_cpu_max("1 2 3")
                .unwrap_err()
                .contains("is not a CPU limit")
        );
        assert!(
            parse_cpu_max("500 100000")
                .unwrap_err()
                .contains("quota 500 is out of range")
        );
        assert!(
            parse_cpu_max("50000 100")
                .unwrap_err()
                .contains("period 100 is out of range")
        );
        assert!(
            parse_cpu_max("9999999999%")
                .unwrap_err()
                .contains("more CPUs")
        );
    }
}
