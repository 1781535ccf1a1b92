//! The machine: what PID 1 of a VM does and a container's never does —
//! mounting and unmounting file systems, the hostname, `sync`, Ctrl-Alt-Del,
//! and `reboot(2)` at the end.

use std::io;

pub use nix::mount::MsFlags as MountFlags;

/// `mount(2)`: mounts `source` of type `fstype` on `target` with `flags`
/// and the file system's own options `data` (empty for none).
pub fn mount(
    source: &str,
    target: &std::path::Path,
    fstype: &str,
    flags: MountFlags,
    data: &str,
) -> io::Result<()> {
    let data = (!data.is_empty()).then_some(data);
    nix::mount::mount(Some(source), target, Some(fstype), flags, data).map_err(io::Error::from)
}

/// `mount(2)` with `MS_REMOUNT | MS_RDONLY`: makes a mounted file system
/// read-only, flushing what it has to its device.
pub fn remount_read_only(target: &std::path::Path) -> io::Result<()> {
    nix::mount::mount(
        None::<&str>,
        target,
        None::<&str>,
        MountFlags::MS_REMOUNT | MountFlags::MS_RDONLY,
        None::<&str>,
    )
    .map_err(io::Error::from)
}

/// `umount2(2)` with no flags: fails with `EBUSY` while something uses it.
pub fn unmount(target: &std::path::Path) -> io::Result<()> {
    nix::mount::umount2(target, nix::mount::MntFlags::empty()).map_err(io::Error::from)
}

/// `sync(2)`: writes every dirty buffer out before the power goes.
pub fn sync() {
    nix::unistd::sync();
}

/// `sethostname(2)`.
pub fn set_hostname(name: &str) -> io::Result<()> {
    nix::unistd::sethostname(name).map_err(io::Error::from)
}

/// `reboot(2)` `LINUX_REBOOT_CMD_CAD_OFF`: Ctrl-Alt-Del no longer resets the
/// machine at once; the kernel sends SIGINT to init instead.
pub fn ctrl_alt_del_to_sigint() -> io::Result<()> {
    nix::sys::reboot::set_cad_enabled(false).map_err(io::Error::from)
}

/// What [`reboot`] asks of the kernel.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RebootCommand {
    PowerOff,
    Restart,
    Halt,
}

/// `reboot(2)`: powers off, restarts or halts the machine. Returns only if
/// the kernel refused (the error says why).
pub fn reboot(command: RebootCommand) -> io::Error {
    use nix::sys::reboot::RebootMode;
    let mode = match command {
        RebootCommand::PowerOff => RebootMode::RB_POWER_OFF,
        RebootCommand::Restart => RebootMode::RB_AUTOBOOT,
        RebootCommand::Halt => RebootMode::RB_HALT_SYSTEM,
    };
    match nix::sys::reboot::reboot(mode) {
        Err(e) => io::Error::from(e),
    }
}

/// Sleeps until the process is killed (`pause(2)` in a loop): where PID 1
/// of a machine ends up when even `reboot(2)` failed, since its exit would
/// panic the kernel. Signals are blocked, so nothing wakes it.
pub fn sleep_forever() -> ! {
    loop {
        // SAFETY: pause takes no arguments and only returns on a signal.
        unsafe { libc::pause() };
    }
}
