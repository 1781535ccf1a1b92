#!/usr/bin/env python3
"""Side-by-side benchmark of foster against tini, dumb-init and catatonit.

Each init runs as PID 1 of a fresh PID namespace (`unshare --pid --fork`),
in the same run, with the same children. Reported: medians of several runs,
and the ratio foster / best peer (below 1.0 means foster leads that row).
Run through bench/run, which builds the static foster and installs peers.
"""

import os
import platform
import select
import signal
import statistics
import subprocess
import sys
import time

RUNS = int(os.environ.get("BENCH_RUNS", "30"))
IDLE_SECONDS = float(os.environ.get("BENCH_IDLE_SECONDS", "5"))
STORM = int(os.environ.get("BENCH_STORM", "2000"))


def inits(foster):
    found = [("foster", foster)]
    for name, path in [
        ("tini", "/usr/bin/tini"),
        ("tini-static", "/usr/bin/tini-static"),
        ("dumb-init", "/usr/bin/dumb-init"),
        ("catatonit", "/usr/bin/catatonit"),
    ]:
        if os.path.exists(path):
            found.append((name, path))
        else:
            print(f"warning: {path} missing, {name} left out", file=sys.stderr)
    return found


def pid1_cmd(init, child, mount_proc=False):
    cmd = ["unshare", "--pid", "--fork", "--kill-child"]
    if mount_proc:
        cmd.append("--mount-proc")
    return cmd + [init, "--"] + child


def child_of(pid, deadline=5.0):
    """The host PID of unshare's child: the namespace's PID 1."""
    end = time.monotonic() + deadline
    while time.monotonic() < end:
        for entry in os.listdir("/proc"):
            if not entry.isdigit():
                continue
            try:
                with open(f"/proc/{entry}/stat") as f:
                    stat = f.read()
            except OSError:
                continue
            fields = stat.rsplit(")", 1)[1].split()
            if int(fields[1]) == pid:
                return int(entry)
        time.sleep(0.001)
    raise RuntimeError(f"no child of {pid}")


def read_line(proc, timeout=20.0):
    ready, _, _ = select.select([proc.stdout], [], [], timeout)
    if not ready:
        raise RuntimeError("child said nothing")
    return proc.stdout.readline().decode().strip()


def start_exit(init):
    """ms for PID 1 to start, run /bin/true, and be gone."""
    times = []
    for _ in range(RUNS):
        t0 = time.monotonic_ns()
        subprocess.run(pid1_cmd(init, ["/bin/true"]), check=True)
        times.append((time.monotonic_ns() - t0) / 1e6)
    return statistics.median(times)


def idle(init):
    """(RSS KiB, wakeups over IDLE_SECONDS) of PID 1 with a sleeping child."""
    proc = subprocess.Popen(
        pid1_cmd(init, ["sh", "-c", "echo ready; exec sleep 1000"]),
        stdout=subprocess.PIPE,
    )
    try:
        read_line(proc)
        pid1 = child_of(proc.pid)
        time.sleep(0.5)  # let start-up settle before sampling
        with open(f"/proc/{pid1}/status") as f:
            rss = next(int(l.split()[1]) for l in f if l.startswith("VmRSS:"))
        with open(f"/proc/{pid1}/schedstat") as f:
            before = int(f.read().split()[2])
        time.sleep(IDLE_SECONDS)
        with open(f"/proc/{pid1}/schedstat") as f:
            after = int(f.read().split()[2])
        return rss, after - before
    finally:
        proc.kill()
        proc.wait()


SIGNAL_CHILD = (
    "import signal, sys, time\n"
    "signal.pthread_sigmask(signal.SIG_BLOCK, [signal.SIGTERM])\n"
    "print('ready', flush=True)\n"
    "signal.sigwaitinfo([signal.SIGTERM])\n"
    "print(time.monotonic_ns(), flush=True)\n"
)


def term_latency(init):
    """µs from kill(PID 1, SIGTERM) to the child's sigwaitinfo returning."""
    samples = []
    for _ in range(RUNS):
        proc = subprocess.Popen(
            pid1_cmd(init, [sys.executable, "-c", SIGNAL_CHILD]),
            stdout=subprocess.PIPE,
        )
        try:
            read_line(proc)
            pid1 = child_of(proc.pid)
            t0 = time.monotonic_ns()
            os.kill(pid1, signal.SIGTERM)
            t1 = int(read_line(proc))
            samples.append((t1 - t0) / 1e3)
        finally:
            proc.kill()
            proc.wait()
    return statistics.median(samples)


STORM_CHILD = (
    "import os, sys, time\n"
    "n = int(sys.argv[1])\n"
    "t0 = time.monotonic_ns()\n"
    "for _ in range(n):\n"
    "    pid = os.fork()\n"
    "    if pid == 0:\n"
    "        if os.fork() == 0:\n"
    "            os._exit(0)\n"
    "        os._exit(0)\n"
    "    os.waitpid(pid, 0)\n"
    "me = str(os.getpid())\n"
    "while any(p.isdigit() and p not in ('1', me) for p in os.listdir('/proc')):\n"
    "    pass\n"
    "print((time.monotonic_ns() - t0) // 1000, flush=True)\n"
)


def orphan_storm(init):
    """ms to create STORM orphans and see every one reaped by PID 1."""
    samples = []
    for _ in range(max(3, RUNS // 6)):
        out = subprocess.run(
            pid1_cmd(init, [sys.executable, "-c", STORM_CHILD, str(STORM)], mount_proc=True),
            check=True,
            stdout=subprocess.PIPE,
        )
        samples.append(int(out.stdout.decode().split()[-1]) / 1e3)
    return statistics.median(samples)


def is_static(path):
    """True when the ELF has no program interpreter (statically linked)."""
    with open(os.path.realpath(path), "rb") as f:
        head = f.read(8192)
    return b"/ld-linux" not in head and b"/ld-musl" not in head


def machine():
    cpu = "unknown cpu"
    try:
        with open("/proc/cpuinfo") as f:
            cpu = next(l.split(":", 1)[1].strip() for l in f if l.startswith("model name"))
    except (OSError, StopIteration):
        pass
    return f"{platform.node()}: {os.cpu_count()} cores, {cpu}, Linux {platform.release()}"


def main():
    foster = sys.argv[1]
    chosen = inits(foster)
    rows = {
        "start + exit of /bin/true (ms)": {},
        "idle RSS of PID 1 (KiB)": {},
        f"wakeups of PID 1 in {IDLE_SECONDS:g} s idle": {},
        "SIGTERM to PID 1 → child (µs)": {},
        f"{STORM}-orphan storm, created and reaped (ms)": {},
        "binary size (KiB)": {},
    }
    keys = list(rows)
    for name, path in chosen:
        print(f"measuring {name} ({path})", file=sys.stderr)
        rows[keys[0]][name] = start_exit(path)
        rss, wakeups = idle(path)
        rows[keys[1]][name] = rss
        rows[keys[2]][name] = wakeups
        rows[keys[3]][name] = term_latency(path)
        rows[keys[4]][name] = orphan_storm(path)
        rows[keys[5]][name] = os.path.getsize(os.path.realpath(path)) / 1024

    names = [n for n, _ in chosen]
    static = {n: is_static(p) for n, p in chosen}
    out = []
    out.append("# foster vs tini, dumb-init, catatonit\n")
    out.append(f"Measured {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())} on {machine()}.\n")
    out.append(
        f"Each init runs as PID 1 of a fresh PID namespace (`unshare --pid --fork`), all in one run "
        f"of `bench/run`. Medians of {RUNS} runs ({max(3, RUNS // 6)} for the storm). foster is the "
        f"static musl build users ship. The last column is foster divided by the best peer: "
        f"below 1.0 foster leads, for every row lower is better.\n"
    )
    out.append("| | " + " | ".join(f"{n} ({'static' if static[n] else 'dynamic'})" for n in names) + " | foster / best peer |")
    out.append("|---|" + "---|" * len(names) + "---|")
    for key in keys:
        values = rows[key]
        peers = [v for n, v in values.items() if n != "foster"]
        if key.startswith("binary size"):
            # Size only compares like with like: static binaries.
            peers = [v for n, v in values.items() if n != "foster" and static[n]]
        best = min(peers) if peers else None
        f = values["foster"]
        if best is None:
            ratio = "n/a"
        elif best == 0:
            ratio = "1.00 (both 0)" if f == 0 else "∞"
        else:
            ratio = f"{f / best:.2f}"
        cells = []
        for n in names:
            v = values[n]
            cells.append(f"{v:.0f}" if v >= 100 or float(v).is_integer() else f"{v:.2f}")
        out.append(f"| {key} | " + " | ".join(cells) + f" | {ratio} |")
    out.append("")
    out.append(
        "Wakeups are the change in the run count of `/proc/PID/schedstat` while the child sleeps. "
        "SIGTERM latency includes the Python child's own wake-up, the same for every init. "
        "The storm child double-forks each orphan and polls `/proc` until only PID 1 and itself are left, "
        "so it measures creation plus reaping; forking dominates. "
        "Binary size is compared with the static peers only, since foster ships static."
    )
    text = "\n".join(out) + "\n"
    print(text)
    with open(os.path.join(os.path.dirname(os.path.abspath(__file__)), "RESULTS.md"), "w") as f:
        f.write(text)


if __name__ == "__main__":
    main()
