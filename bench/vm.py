#!/usr/bin/env python3
"""VM benchmark: foster as a VM's init, beside busybox init, under qemu.

Each init boots the same kernel (Debian's cloud kernel, tests/vm/fetch-kernel)
under qemu-system-x86_64 with TCG (`-no-reboot`, 256 MiB, one CPU) from an
initramfs holding a static busybox and the same work: mount /proc, /sys,
/dev, /dev/pts, /dev/shm, /run and cgroup2; a oneshot that writes a file;
a long-running shell loop; a self-daemonizing program (busybox
start-stop-daemon -b -m: double fork and pidfile); then a command that marks
"ready", and powers the machine off.

- foster: /init is the static foster; the three services are units in
  /etc/foster/services.d (the daemon a `type: forking` unit followed
  through its pidfile), and the command is `-- /bin/check` on the kernel
  command line; its exit powers off.
- busybox init: /init is busybox init; /etc/inittab runs /etc/rc (the
  mounts, the oneshot, start-stop-daemon) as `sysinit`, the loop as
  `respawn` and the command as `once`; the command runs `poweroff`.
  (busybox init has no dependencies, readiness or pidfile following: it
  does less, so it is a floor more than a rival.)

Times come from the kernel's own clock: the command writes its marks into
/dev/kmsg and prints the kernel log's "Run /init as init process" line, and
the kernel prints "reboot: Power down" last. Rows (medians of ROUNDS boots):
kernel start to init, init to ready (everything up and the command
started), poweroff asked to power down, and qemu's whole run, wall clock.
Appends its section to bench/RESULTS.md. Run through bench/run.
"""

import os
import re
import statistics
import subprocess
import sys
import tempfile
import time

ROUNDS = int(os.environ.get("BENCH_VM_ROUNDS", "5"))
APPLETS = ["sh", "sleep", "cat", "echo", "grep", "mount", "mkdir", "dmesg",
           "start-stop-daemon", "poweroff", "hostname"]

LEGACY = ["/bin/start-stop-daemon", "-S", "-b", "-m", "-p", "/run/legacy.pid",
          "-x", "/bin/sleep", "--", "100000"]

CHECK = """#!/bin/sh
echo "<2>bench: ready" > /dev/kmsg
dmesg | grep -E "Run /init as init process"
cat /run/setup /run/legacy.pid > /dev/null || echo "bench: NOT READY"
echo "<2>bench: poweroff requested" > /dev/kmsg
{end}
"""

RC = """#!/bin/sh
mount -t proc -o nosuid,nodev,noexec proc /proc
mount -t sysfs -o nosuid,nodev,noexec sysfs /sys
mount -t devtmpfs -o nosuid,mode=0755 devtmpfs /dev
mkdir -p /dev/pts /dev/shm
mount -t devpts -o nosuid,noexec,mode=0620,ptmxmode=0666 devpts /dev/pts
mount -t tmpfs -o nosuid,nodev,mode=1777 tmpfs /dev/shm
mount -t tmpfs -o nosuid,nodev,mode=0755 tmpfs /run
mount -t cgroup2 -o nosuid,nodev,noexec cgroup2 /sys/fs/cgroup
hostname bench
echo prepared > /run/setup
""" + " ".join(LEGACY) + "\n"


class Cpio:
    """The newc format the kernel unpacks."""

    def __init__(self):
        self.out = bytearray()
        self.ino = 1

    def entry(self, name, mode, data=b""):
        fields = [self.ino, mode, 0, 0, 1, 0, len(data), 0, 0, 0, 0, len(name) + 1, 0]
        self.ino += 1
        self.out += b"070701" + "".join(f"{f:08x}" for f in fields).encode()
        self.out += name.encode() + b"\0"
        self.pad()
        self.out += data
        self.pad()

    def pad(self):
        while len(self.out) % 4:
            self.out += b"\0"

    def dir(self, name):
        self.entry(name, 0o040755)

    def file(self, name, data, perm=0o644):
        self.entry(name, 0o100000 | perm, data if isinstance(data, bytes) else data.encode())

    def link(self, name, target):
        self.entry(name, 0o120777, target.encode())

    def write(self, path):
        self.entry("TRAILER!!!", 0)
        with open(path, "wb") as f:
            f.write(self.out)


def base(busybox):
    c = Cpio()
    for d in ["bin", "etc", "var", "tmp", "proc", "sys", "dev", "run"]:
        c.dir(d)
    c.file("bin/busybox", open(busybox, "rb").read(), 0o755)
    for a in APPLETS:
        c.link(f"bin/{a}", "busybox")
    c.link("var/run", "/run")
    c.file("etc/hostname", "bench\n")
    return c


def foster_image(path, foster, busybox):
    c = base(busybox)
    c.file("init", open(foster, "rb").read(), 0o755)
    c.dir("etc/foster")
    c.dir("etc/foster/services.d")
    units = {
        "setup": 'type: oneshot\ncommand: ["/bin/sh", "-c", "echo prepared > /run/setup"]\n',
        "loop": 'command: ["/bin/sh", "-c", "while :; do sleep 5; done"]\ndepends_on: [setup]\n',
        "legacy": "type: forking\npidfile: /run/legacy.pid\ndepends_on: [setup]\ncommand: ["
        + ", ".join(f'"{w}"' for w in LEGACY) + "]\n",
    }
    for name, text in units.items():
        c.file(f"etc/foster/services.d/{name}.yaml", text)
    c.file("bin/check", CHECK.format(end="exit 0"), 0o755)
    c.write(path)
    return "-- /bin/check"


def busybox_image(path, foster, busybox):
    c = base(busybox)
    c.link("init", "bin/busybox")
    c.file("etc/rc", RC, 0o755)
    c.file("etc/inittab", "::sysinit:/etc/rc\n"
           "::respawn:/bin/sh -c 'while :; do sleep 5; done'\n"
           "::once:/bin/check\n")
    c.file("bin/check", CHECK.format(end="poweroff"), 0o755)
    c.write(path)
    return ""


STAMP = re.compile(r"\[\s*(\d+\.\d+)\] (.*)")


def boot(kernel, initrd, args):
    started = time.monotonic()
    out = subprocess.run(
        ["qemu-system-x86_64", "-nographic", "-no-reboot", "-m", "256", "-smp", "1",
         "-accel", "tcg", "-kernel", kernel, "-initrd", initrd,
         "-append", f"console=ttyS0 panic=-1 quiet {args}"],
        stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
        timeout=300).stdout.decode(errors="replace")
    wall = time.monotonic() - started
    stamps = {}
    for line in out.splitlines():
        m = STAMP.search(line)
        if not m:
            continue
        for key in ["Run /init as init process", "bench: ready",
                    "bench: poweroff requested", "reboot: Power down"]:
            if key in m.group(2):
                stamps.setdefault(key, float(m.group(1)))
    if len(stamps) != 4 or "NOT READY" in out or "Kernel panic" in out:
        raise RuntimeError(f"a boot went wrong:\n{out[-3000:]}")
    return {
        "kernel": stamps["Run /init as init process"],
        "ready": stamps["bench: ready"] - stamps["Run /init as init process"],
        "off": stamps["reboot: Power down"] - stamps["bench: poweroff requested"],
        "wall": wall,
    }


def main():
    foster, busybox, kernel = sys.argv[1:4]
    inits = [("foster", foster_image), ("busybox init", busybox_image)]
    results = {}
    with tempfile.TemporaryDirectory() as tmp:
        images = {}
        for name, make in inits:
            path = os.path.join(tmp, name.replace(" ", "-") + ".cpio")
            images[name] = (path, make(path, foster, busybox))
        runs = {name: [] for name, _ in inits}
        # Interleaved, so that a slow spell of the machine hits both alike.
        for _ in range(ROUNDS):
            for name, _ in inits:
                path, args = images[name]
                runs[name].append(boot(kernel, path, args))
        for name, _ in inits:
            results[name] = {k: statistics.median(r[k] for r in runs[name])
                             for k in ["kernel", "ready", "off", "wall"]}
    f, b = results["foster"], results["busybox init"]
    rows = [
        ("kernel start → init (s)", "kernel"),
        ("init → services ready, command started (ms)", "ready"),
        ("poweroff asked → power down (ms)", "off"),
        ("whole qemu run, wall clock (s)", "wall"),
    ]
    lines = [
        "",
        "## As a VM's init (bench/vm.py)",
        "",
        f"qemu-system-x86_64, TCG, 1 CPU, 256 MiB, Debian's cloud kernel, initramfs; "
        f"median of {ROUNDS} boots each, times from the kernel's clock "
        "(see bench/vm.py for what each init runs).",
        "",
        "| | foster | busybox init | foster / busybox |",
        "|---|---:|---:|---:|",
    ]
    for label, key in rows:
        scale = 1000 if "(ms)" in label else 1
        fv, bv = f[key] * scale, b[key] * scale
        ratio = f"{fv / bv:.2f}×" if bv > 0 else "—"
        lines.append(f"| {label} | {fv:.{0 if scale > 1 else 2}f} | {bv:.{0 if scale > 1 else 2}f} | {ratio} |")
    lines.append("")
    lines.append("busybox init's shutdown sleeps a fixed second after SIGTERM to everything and "
                 "another before reboot(2); foster stops each service and goes on the moment "
                 "it has exited.")
    text = "\n".join(lines) + "\n"
    print(text)
    with open(os.path.join(os.path.dirname(__file__), "RESULTS.md"), "a") as out:
        out.write(text)


if __name__ == "__main__":
    main()
