#!/usr/bin/env python3
"""Soak benchmark: foster under long and hostile runs, and whether its
descriptors and memory stay flat.

Each scenario starts a foster of its own, drives it through its control
socket and from outside, and reads foster's open descriptors (the entries
of /proc/PID/fd) and memory (VmRSS and VmHWM from /proc/PID/status, Pss
from /proc/PID/smaps_rollup) at fixed points:

1. a crashing simple service (/bin/false, `restart: always`,
   `restart_delay: 0s`) restarted 10,000 times;
2. a crashing self-daemonizing program (`type: forking` with a pidfile;
   soak-helper.c `crashd`: double fork, pidfile renamed into place, exit 1
   2 ms later) restarted 10,000 times, each round followed through its
   pidfile;
3. foster as PID 1 of a new PID namespace reaping 10,000 orphans;
4. 500 control connections held open (silent, then with half a request)
   while `fosterctl status` must still answer;
5. 10,000 hostile sd_notify datagrams (oversized, garbage, 9 and 253
   descriptors) from outside as root, as uid nobody, and from inside the
   service's session;
6. 200 MB through `log: prefix` to a slow reader, on stdout and on
   stderr, while another service is SIGKILLed and must come back;
7. 10,000 SIGHUP and SIGUSR1 alternating while services and a main
   command run.

The counts scale with SOAK_SCALE (0.1 for a quick run). The script checks
what each scenario is expected to show and says so in a verdict column; a
foster that fails an expectation is reported, not a reason to stop. Every
wait has a deadline, each scenario has an alarm, and every process started
is killed and reaped at the end of its scenario (the script is a child
subreaper, so nothing escapes it). Appends (or replaces) the section
"## Soak: hostile and long runs" in bench/RESULTS.md.

usage: soak.py FOSTER FOSTERCTL [SOAK_HELPER]
(SOAK_HELPER: bench/soak-helper.c built; compiled with gcc when omitted)

Environment: SOAK_SCALE (default 1), SOAK_ONLY=1,5 (run only those
scenarios), SOAK_LOG_RATE (slow reader, MB/s while it reads, default 20),
SOAK_LOG_STALL_MS (its pause after each 0.5 s of reading, default 200),
SOAK_STRICT=1 (exit 1 when an expectation failed), SOAK_WORK (default
/tmp/foster-soak). About 5 minutes in all on 2 cores at SOAK_SCALE=1.

The same file is also the helper that runs inside the scenarios
(`--pid1-child`, `--notify-service`).
"""

import array
import ctypes
import errno
import json
import os
import random
import re
import select
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import threading
import time
from collections import deque

SCALE = float(os.environ.get("SOAK_SCALE", "1"))
WORK = os.environ.get("SOAK_WORK", "/tmp/foster-soak")
LOG_RATE = float(os.environ.get("SOAK_LOG_RATE", "20")) * 1e6  # bytes per second, while reading
LOG_READ_S = 0.5  # the slow reader reads for this long,
LOG_STALL_S = float(os.environ.get("SOAK_LOG_STALL_MS", "200")) / 1000  # then stops for this long
STRICT = os.environ.get("SOAK_STRICT", "") not in ("", "0")
HERE = os.path.dirname(os.path.abspath(__file__))
STOP_WAIT = 10.0  # seconds for foster to stop its services and exit on SIGTERM
RSS_BAND_KIB = 256  # "flat": RSS within this from the warm-up sample to the last
LOG_RSS_BAND_KIB = 2048
LATENCY_MS = 50.0
LINE_PAD = b"." * 88  # log lines of exactly 100 bytes: "%010d " + pad + "\n"


def scaled(n, minimum=1):
    return max(minimum, int(round(n * SCALE)))


class ScenarioTimeout(Exception):
    pass


def on_alarm(signum, frame):
    raise ScenarioTimeout("the scenario's time budget ran out")


def on_term(signum, frame):
    raise KeyboardInterrupt(f"signal {signum}")


def log(msg):
    print(f"soak: {msg}", file=sys.stderr, flush=True)


# ---------------------------------------------------------------------------
# /proc


def fd_set(pid):
    out = set()
    for fd in os.listdir(f"/proc/{pid}/fd"):
        try:
            out.add((fd, os.readlink(f"/proc/{pid}/fd/{fd}")))
        except OSError:
            pass
    return out


def fds(pid, reads=20, gap=0.001):
    """(kept, most) descriptors over 20 reads 1 ms apart. *kept* counts
    those open with the same target in every read: a restart in flight
    holds a pidfd, a cgroup.procs or /proc for a moment, under the same
    numbers; a leaked descriptor stays."""
    kept, most = None, 0
    for i in range(reads):
        if i:
            time.sleep(gap)
        now = fd_set(pid)
        kept = now if kept is None else kept & now
        most = max(most, len(now))
    return len(kept), most


def status_kib(pid, key):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(key + ":"):
                return int(line.split()[1])
    return 0


def pss_kib(pid):
    try:
        with open(f"/proc/{pid}/smaps_rollup") as f:
            for line in f:
                if line.startswith("Pss:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def sample(pid):
    lo, hi = fds(pid)
    return {
        "fds": lo,
        "fds_max": hi,
        "rss": status_kib(pid, "VmRSS"),
        "hwm": status_kib(pid, "VmHWM"),
        "pss": pss_kib(pid),
    }


def proc_table():
    """pid -> (ppid, state) for every process."""
    table = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as f:
                stat = f.read()
        except OSError:
            continue
        fields = stat.rsplit(")", 1)[1].split()
        table[int(entry)] = (int(fields[1]), fields[0])
    return table


def descendants(root):
    table = proc_table()
    kids = {}
    for pid, (ppid, _) in table.items():
        kids.setdefault(ppid, []).append(pid)
    out, stack = [], [root]
    while stack:
        for child in kids.get(stack.pop(), []):
            out.append(child)
            stack.append(child)
    return out


def kill_descendants():
    """SIGKILLs and reaps everything below this script. As a subreaper it
    inherits whatever a killed foster left behind."""
    for _ in range(100):
        left = descendants(os.getpid())
        for pid in left:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        while True:
            try:
                pid, _ = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                break
            if pid == 0:
                break
        if not left:
            return
        time.sleep(0.02)
    log(f"warning: could not get rid of {descendants(os.getpid())}")


def wait_until(check, timeout, what, step=0.005):
    end = time.monotonic() + timeout
    while True:
        result = check()
        if result:
            return result
        if time.monotonic() > end:
            raise RuntimeError(f"timed out after {timeout:g} s waiting for {what}")
        time.sleep(step)


def set_subreaper():
    libc = ctypes.CDLL(None, use_errno=True)
    PR_SET_CHILD_SUBREAPER = 36
    if libc.prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) != 0:
        log("warning: cannot become a child subreaper; leftovers of a killed foster may escape")


STARTED = set()  # PIDs of the fosters this script started (not PID 1 runs)


class CgroupJanitor:
    """Removes the cgroups a killed foster left (foster-PID below this
    script's cgroup v2 group): cgroup.kill, then rmdir, deepest first. Only
    directories that appeared during the scenario and are named after a
    foster this script started are touched: other fosters may run beside
    it. (A PID 1 foster's `foster-1` is left alone: its namespace dies with
    it, so its cgroups are empty, and the name is not ours alone.)"""

    def __init__(self):
        self.dir = None
        try:
            mount = None
            with open("/proc/self/mountinfo") as f:
                for line in f:
                    left, _, right = line.partition(" - ")
                    if right.split()[0] == "cgroup2":
                        root, mount = left.split()[3], left.split()[4]
                        break
            with open("/proc/self/cgroup") as f:
                own = next(line.strip()[3:] for line in f if line.startswith("0::"))
            if mount:
                rel = os.path.relpath(own, root) if own.startswith(root) else own
                self.dir = os.path.normpath(os.path.join(mount, rel.lstrip("/")))
        except (OSError, StopIteration, IndexError):
            self.dir = None
        self.before = self.list()

    def list(self):
        if not self.dir:
            return set()
        try:
            return {
                d
                for d in os.listdir(self.dir)
                if d.startswith("foster-") and d[7:].split(".")[0] in {str(p) for p in STARTED}
            }
        except OSError:
            return set()

    def clean(self):
        for name in self.list() - self.before:
            top = os.path.join(self.dir, name)
            for dirpath, _, _ in sorted(os.walk(top), key=lambda w: -w[0].count("/")):
                try:
                    with open(os.path.join(dirpath, "cgroup.kill"), "w") as f:
                        f.write("1")
                except OSError:
                    pass
            end = time.monotonic() + 5
            for dirpath, _, _ in sorted(os.walk(top), key=lambda w: -w[0].count("/")):
                while True:
                    try:
                        os.rmdir(dirpath)
                        break
                    except FileNotFoundError:
                        break
                    except OSError:
                        if time.monotonic() > end:
                            log(f"warning: cannot remove {dirpath}")
                            break
                        time.sleep(0.02)


# ---------------------------------------------------------------------------
# foster, its control socket and its log


def ctl(sock, line, timeout=5.0):
    """One control request, as fosterctl sends it: (first line, body).
    Used where a fosterctl process per poll would be too slow."""
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(timeout)
    chunks = []
    try:
        s.connect(sock)
        s.sendall(line.encode() + b"\n")
        s.shutdown(socket.SHUT_WR)
        while True:
            chunk = s.recv(65536)
            if not chunk:
                break
            chunks.append(chunk)
    finally:
        s.close()
    first, _, body = b"".join(chunks).decode(errors="replace").partition("\n")
    return first, body


class LogTap(threading.Thread):
    """Reads foster's stderr so that it never blocks on it: counts lines
    matching each pattern, keeps the first and last lines for errors."""

    def __init__(self, fd, patterns=None):
        super().__init__(daemon=True)
        self.fd = fd
        self.patterns = patterns or {}
        self.counts = {k: 0 for k in self.patterns}
        self.lines = 0
        self.head = []
        self.tail = deque(maxlen=30)
        self.lock = threading.Lock()

    def run(self):
        buf = b""
        while True:
            try:
                chunk = os.read(self.fd, 65536)
            except OSError:
                break
            if not chunk:
                break
            buf += chunk
            *complete, buf = buf.split(b"\n")
            with self.lock:
                for raw in complete:
                    text = raw.decode(errors="replace")
                    self.lines += 1
                    if len(self.head) < 30:
                        self.head.append(text)
                    self.tail.append(text)
                    for key, pattern in self.patterns.items():
                        if pattern.search(text):
                            self.counts[key] += 1

    def count(self, key):
        with self.lock:
            return self.counts[key]

    def said(self):
        with self.lock:
            return "\n".join(self.head + ["..."] + list(self.tail))


class Foster:
    """One foster in services mode (a child subreaper, not PID 1), in its
    own session, with its control socket in the scenario's directory."""

    def __init__(self, name, units, main=None, verbose=False, stdout=None, stderr=None, patterns=None):
        self.work = os.path.join(WORK, name)
        shutil.rmtree(self.work, ignore_errors=True)
        self.units = os.path.join(self.work, "units")
        os.makedirs(self.units)
        for unit, text in units.items():
            self.write_unit(unit, text)
        self.sock = os.path.join(self.work, "ctl.sock")
        argv = [FOSTER] + (["-v"] if verbose else []) + ["--services", self.units, "--socket", self.sock]
        if main:
            argv += ["--", *main]
        self.tap = None
        self.proc = subprocess.Popen(
            argv,
            stdin=subprocess.DEVNULL,
            stdout=stdout if stdout is not None else subprocess.DEVNULL,
            stderr=stderr if stderr is not None else subprocess.PIPE,
            start_new_session=True,
            cwd=self.work,
        )
        self.pid = self.proc.pid
        STARTED.add(self.pid)
        if stderr is None:
            self.tap = LogTap(self.proc.stderr.fileno(), patterns)
            self.tap.start()
        wait_until(self.answers, 10, "foster's control socket")

    def write_unit(self, name, text):
        tmp = os.path.join(self.units, f".{name}.tmp")
        with open(tmp, "w") as f:
            f.write(text)
        os.rename(tmp, os.path.join(self.units, f"{name}.yaml"))

    def answers(self, timeout=2.0):
        if self.proc.poll() is not None:
            raise RuntimeError(f"foster exited with {self.proc.returncode}" + self.said())
        try:
            first, _ = ctl(self.sock, "status", timeout)
            return first in ("ok", "down")
        except OSError:
            return False

    def status(self, timeout=5.0):
        first, body = ctl(self.sock, "status --json", timeout)
        if first not in ("ok", "down"):
            raise RuntimeError(f"status --json: {first}")
        return {s["name"]: s for s in json.loads(body)}

    def fosterctl(self, *args, timeout=10.0):
        return subprocess.run(
            [FOSTERCTL, "--socket", self.sock, *args], capture_output=True, text=True, timeout=timeout
        )

    def said(self):
        return ("; foster said:\n" + self.tap.said()) if self.tap else ""

    def uses_cgroups(self):
        j = CgroupJanitor()
        return bool(j.dir) and os.path.isdir(os.path.join(j.dir, f"foster-{self.pid}"))

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=STOP_WAIT)
            except subprocess.TimeoutExpired:
                log(f"warning: foster {self.pid} did not stop within {STOP_WAIT:g} s of SIGTERM; killing it")
                self.proc.kill()
                self.proc.wait()
        kill_descendants()
        if self.tap:
            self.tap.join(timeout=2)
        if self.proc.stderr:
            self.proc.stderr.close()


# ---------------------------------------------------------------------------
# Results


class Row:
    def __init__(self, scenario):
        self.scenario = scenario
        self.fds = "-"
        self.rss = "-"
        self.measured = ""
        self.expected = ""
        self.failures = []
        self.notes = []  # lines printed below the table
        self.within = []  # growth seen but inside the expectation

    def check(self, ok, failure):
        if not ok:
            self.failures.append(failure)
        return ok

    def verdict(self):
        if self.failures:
            return "; ".join(self.failures)
        return "flat" + (f" ({'; '.join(self.within)})" if self.within else "")


def arrow(values):
    return " → ".join(str(v) for v in values)


def fds_verdict(row, base, last, what="fds"):
    delta = last - base
    row.check(delta <= 0, f"+{delta} {what}: LEAK")


def rss_verdict(row, ref, last, band=RSS_BAND_KIB, what="RSS"):
    delta = last - ref
    if row.check(delta <= band, f"{what} +{delta} KiB: GROWTH") and delta > 0:
        row.within.append(f"{what} +{delta} KiB, under {band}")


# ---------------------------------------------------------------------------
# 1 and 2: restarts


def restart_soak(row, foster, name, count, timeout):
    """Samples at 0, count/10, 2*count/10 ... restarts (as fosterctl status
    --json counts them), polling every 5 ms."""
    step = max(1, count // 10)
    marks = list(range(0, count + 1, step))
    samples = []
    t0 = time.monotonic()
    end = t0 + timeout
    i = 0
    while i < len(marks):
        try:
            restarts = foster.status()[name]["restarts"]
        except OSError as e:
            row.failures.append(f"foster stopped answering its control socket ({e})")
            break
        if restarts >= marks[i]:
            samples.append((restarts, sample(foster.pid)))
            while i < len(marks) and restarts >= marks[i]:
                i += 1
            continue
        if time.monotonic() > end:
            row.failures.append(f"only {restarts} restarts in {timeout:.0f} s")
            break
        if foster.proc.poll() is not None:
            raise RuntimeError(f"foster exited with {foster.proc.returncode}" + foster.said())
        time.sleep(0.005)
    return samples, time.monotonic() - t0


def report_restarts(row, samples, elapsed):
    if not samples:
        return
    restarts = samples[-1][0]
    ref = samples[1] if len(samples) > 1 else samples[0]
    first, last = samples[0][1], samples[-1][1]
    row.fds = arrow([first["fds"], ref[1]["fds"], last["fds"]])
    row.rss = arrow([first["rss"], ref[1]["rss"], last["rss"]])
    row.measured = f"{restarts:,} restarts in {elapsed:.1f} s; fds and RSS at 0 → {ref[0]:,} → {restarts:,}"
    lo = min(s["fds"] for _, s in samples)
    hi = max(s["fds"] for _, s in samples)
    row.check(hi == lo, f"fds {lo}..{hi} across samples (+{last['fds'] - first['fds']} at the end): LEAK")
    rss_verdict(row, ref[1]["rss"], last["rss"])
    row.notes.append(
        f"{row.scenario.split(':')[0]}: RSS (KiB) at each sample: "
        + ", ".join(f"{r:,}: {s['rss']}" for r, s in samples)
        + "; PSS: "
        + ", ".join(str(s["pss"]) for _, s in samples)
        + "; fds: "
        + ", ".join(str(s["fds"]) for _, s in samples)
    )


def scenario_simple_restarts():
    count = scaled(10000, 10)
    row = Row(f"1: {count:,} restarts of a crashing simple service")
    row.expected = f"fds constant; RSS within {RSS_BAND_KIB} KiB from the {count // 10:,}th restart on"
    unit = 'command: ["/bin/false"]\nrestart: always\nrestart_delay: 0s\nrestart_delay_max: 0s\n'
    foster = Foster("restarts-simple", {"crash": unit})
    try:
        samples, elapsed = restart_soak(row, foster, "crash", count, 60 + 180 * SCALE)
        report_restarts(row, samples, elapsed)
    finally:
        foster.stop()
    return row


def scenario_forking_restarts():
    count = scaled(10000, 10)
    row = Row(f"2: {count:,} restarts of a crashing forking daemon")
    row.expected = (
        f"fds constant; RSS within {RSS_BAND_KIB} KiB from the {count // 10:,}th restart on; "
        "each round followed through its pidfile"
    )
    rundir = os.path.join(WORK, "restarts-forking-run")
    shutil.rmtree(rundir, ignore_errors=True)
    os.makedirs(rundir)
    pidfile = os.path.join(rundir, "crashd.pid")
    unit = (
        f'command: ["{HELPER}", "crashd", "{pidfile}", "2"]\n'
        f"type: forking\npidfile: {pidfile}\n"
        "restart: always\nrestart_delay: 0s\nrestart_delay_max: 0s\nstart_timeout: 10s\nstop_timeout: 1s\n"
    )
    patterns = {
        "followed": re.compile(r"^foster: crashd: main process \d+ \(from "),
        "died_first": re.compile(r"^foster: warning: crashd: daemon \d+ .*started, then"),
        "launches": re.compile(r"^foster: crashd: started as \d+$"),
    }
    foster = Foster("restarts-forking", {"crashd": unit}, verbose=True, patterns=patterns)
    try:
        samples, elapsed = restart_soak(row, foster, "crashd", count, 60 + 400 * SCALE)
        report_restarts(row, samples, elapsed)
        launches = foster.tap.count("launches")
        followed = foster.tap.count("followed")
        died = foster.tap.count("died_first")
        row.measured += (
            f"; {launches:,} launches, {followed:,} daemons followed to running through the pidfile, "
            f"{died:,} died before foster read their pidfile"
        )
        # Every launch but the one in flight should end in a daemon foster followed.
        row.check(followed + died >= launches - 2, f"only {followed + died:,} of {launches:,} launches seen through")
        row.check(followed >= 0.9 * launches, f"only {followed:,} of {launches:,} followed to running")
    finally:
        foster.stop()
        shutil.rmtree(rundir, ignore_errors=True)
    return row


# ---------------------------------------------------------------------------
# 3: orphans, as PID 1


def pid1_child(helper, warmup, count, timeout):
    """Runs inside the namespace as foster's main command: makes orphans
    (soak-helper orphans), waits until only PID 1 and itself are left,
    samples PID 1 before, after the warm-up and at the end; prints JSON."""
    me = os.getpid()
    result = {"start": sample(1)}

    def storm(n):
        t0 = time.monotonic()
        rc = subprocess.run([helper, "orphans", str(n)], timeout=timeout).returncode
        end = time.monotonic() + timeout
        while True:
            table = proc_table()
            others = {p: st for p, (_, st) in table.items() if p not in (1, me)}
            if not others or time.monotonic() > end:
                break
            time.sleep(0.001)
        return {
            "rc": rc,
            "seconds": time.monotonic() - t0,
            "zombies": sum(1 for st in others.values() if st == "Z"),
            "alive": sum(1 for st in others.values() if st != "Z"),
        }

    result["warmup"] = storm(warmup)
    result["after_warmup"] = sample(1)
    result["storm"] = storm(count)
    time.sleep(0.05)
    result["end"] = sample(1)
    print(json.dumps(result), flush=True)


def scenario_orphans():
    count = scaled(10000, 10)
    warmup = max(1, count // 10)
    row = Row(f"3: {count:,} orphans as PID 1, none left")
    row.expected = f"0 zombies left; fds equal; RSS within {RSS_BAND_KIB} KiB from the warm-up on"
    timeout = 60 + 0.01 * count
    cmd = [
        "unshare", "--pid", "--fork", "--kill-child", "--mount-proc",
        FOSTER, "--", sys.executable, SELF, "--pid1-child", HELPER, str(warmup), str(count), str(timeout),
    ]  # fmt: skip
    proc = subprocess.Popen(
        cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True
    )
    try:
        out, err = proc.communicate(timeout=2 * timeout + 30)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.communicate()
        raise RuntimeError("the PID 1 run did not end in time")
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
        kill_descendants()
    try:
        r = json.loads(out.decode().strip().splitlines()[-1])
    except (ValueError, IndexError):
        raise RuntimeError(f"the PID 1 child said nothing usable (exit {proc.returncode}): {err.decode()[-2000:]}")
    s0, s1, s2, storm = r["start"], r["after_warmup"], r["end"], r["storm"]
    row.fds = arrow([s0["fds"], s1["fds"], s2["fds"]])
    row.rss = arrow([s0["rss"], s1["rss"], s2["rss"]])
    row.measured = (
        f"{count:,} orphans created and reaped in {storm['seconds']:.1f} s (after {warmup:,} to warm up); "
        f"{storm['zombies']} zombies and {storm['alive']} other processes left; foster exited {proc.returncode}"
    )
    row.check(storm["rc"] == 0, f"the orphan maker failed ({storm['rc']})")
    row.check(storm["zombies"] == 0 and storm["alive"] == 0, f"{storm['zombies']} zombies left: NOT REAPED")
    fds_verdict(row, s1["fds"], s2["fds"])
    rss_verdict(row, s1["rss"], s2["rss"])
    row.check(proc.returncode == 0, f"foster exited {proc.returncode}, not the child's 0")
    row.notes.append(f"3: PSS (KiB) {s0['pss']} → {s1['pss']} → {s2['pss']}")
    return row


# ---------------------------------------------------------------------------
# 4: held control connections


def scenario_held_connections():
    count = scaled(500, 20)
    runs = 20
    rows = []
    unit = 'command: ["/bin/sleep", "100000"]\nrestart: always\nrestart_delay: 0s\n'
    foster = Foster("held-connections", {"svc": unit})
    try:
        wait_until(lambda: foster.status()["svc"]["state"] == "running", 10, "svc running")
        base = sample(foster.pid)
        for variant, payload in (("silent", b""), ("half a request", b"status --js")):
            row = Row(f"4{'ab'[len(rows)]}: {count} held control connections ({variant}) while status answers")
            row.expected = (
                f"{runs}/{runs} `fosterctl status` answer (exit 0 or 3) within 5 s each; fds back to the baseline"
            )
            conns, refused = [], 0
            for _ in range(count):
                s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
                s.settimeout(2)
                try:
                    s.connect(foster.sock)
                    if payload:
                        s.sendall(payload)
                    conns.append(s)
                except OSError:
                    refused += 1
                    s.close()
            time.sleep(0.2)
            held = sample(foster.pid)
            answered, times = 0, []
            for _ in range(runs):
                t0 = time.monotonic()
                try:
                    r = foster.fosterctl("status", timeout=5)
                    if r.returncode in (0, 3) and "svc" in r.stdout:
                        answered += 1
                        times.append((time.monotonic() - t0) * 1000)
                except subprocess.TimeoutExpired:
                    pass
            closed = 0
            for s in conns:
                s.setblocking(False)
                try:
                    if s.recv(1, socket.MSG_PEEK) == b"":
                        closed += 1
                except BlockingIOError:
                    pass
                except OSError:
                    closed += 1
            for s in conns:
                s.close()
            wait_until(foster.answers, 5, "foster to answer after the connections closed")
            time.sleep(0.1)
            after = sample(foster.pid)
            row.fds = arrow([base["fds"], held["fds"], after["fds"]])
            row.rss = arrow([base["rss"], held["rss"], after["rss"]])
            row.measured = (
                f"{answered}/{runs} status answered"
                + (f", max {max(times):.0f} ms" if times else "")
                + f"; {len(conns)} connected ({refused} refused); {closed} of them closed by foster while held; "
                "fds before → held → after closing"
            )
            row.check(answered == runs, f"{runs - answered}/{runs} status unanswered")
            fds_verdict(row, base["fds"], after["fds"])
            rows.append(row)
    finally:
        foster.stop()
    return rows


# ---------------------------------------------------------------------------
# 5: hostile notify datagrams


NOTIFY_KINDS = (
    # (name, weight)
    ("status", 5),
    ("oversized, MAINPID past the cut", 2),
    ("oversized, cut right after a MAINPID", 1),
    ("1 fd", 1),
    ("9 fds", 1),
    ("253 fds", 1),
    ("garbage", 3),
    ("empty", 1),
)


def abstract(addr):
    return b"\0" + addr[1:].encode() if addr.startswith("@") else addr.encode()


def notify_barrier(sock, addr, timeout=10.0):
    """sd_notify's BARRIER=1: foster closes its copy of the pipe's write end
    once it has read everything sent before. True when released."""
    r, w = os.pipe()
    try:
        sock.sendmsg([b"BARRIER=1"], [(socket.SOL_SOCKET, socket.SCM_RIGHTS, array.array("i", [w]))], 0, addr)
        os.close(w)
        w = -1
        ready, _, _ = select.select([r], [], [], timeout)
        return bool(ready) and os.read(r, 1) == b""
    finally:
        os.close(r)
        if w >= 0:
            os.close(w)


def send_mix(addr_text, count, seed, decoy=None):
    """Sends `count` datagrams of the kinds above, in a fixed random order,
    then a barrier. Returns what was sent."""
    addr = abstract(addr_text)
    rng = random.Random(seed)
    kinds = [k for k, w in NOTIFY_KINDS for _ in range(w)]
    null = [os.open("/dev/null", os.O_RDONLY | os.O_CLOEXEC) for _ in range(253)]
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.settimeout(5)
    pid_text = str(decoy if decoy else 999999)
    sent = {k: 0 for k, _ in NOTIFY_KINDS}
    failed = {}
    stalled = False
    try:
        for i in range(count):
            kind = kinds[rng.randrange(len(kinds))]
            fds = []
            if kind == "status":
                data = b"STATUS=soak %d" % i
            elif kind == "oversized, MAINPID past the cut":
                data = b"STATUS=" + b"x" * (4096 + rng.randrange(4096)) + b"\nMAINPID=" + pid_text.encode() + b"\n"
            elif kind == "oversized, cut right after a MAINPID":
                # The first 4096 bytes end in "MAINPID=<decoy>"; the whole
                # datagram names another PID (one more digit).
                tail = b"\nMAINPID=" + pid_text.encode()
                data = b"STATUS=" + b"x" * (4096 - 7 - len(tail)) + tail + b"7\nREADY=1\n"
            elif kind == "1 fd":
                data, fds = b"STATUS=one fd", null[:1]
            elif kind == "9 fds":
                data, fds = b"STATUS=nine fds", null[:9]
            elif kind == "253 fds":
                data, fds = (b"STATUS=253 fds" if i % 2 else b""), null
            elif kind == "garbage":
                data = rng.randbytes(rng.randrange(1, 3000))
            else:
                data = b""
            anc = [(socket.SOL_SOCKET, socket.SCM_RIGHTS, array.array("i", fds))] if fds else []
            end = time.monotonic() + 5
            while True:
                try:
                    sock.sendmsg([data], anc, 0, addr)
                    sent[kind] += 1
                    break
                except TimeoutError:
                    stalled = True
                    break
                except OSError as e:
                    # ETOOMANYREFS: too many descriptors in flight for an
                    # unprivileged sender; wait for foster to read some.
                    if e.errno in (errno.ETOOMANYREFS, errno.EAGAIN, errno.ENOBUFS) and time.monotonic() < end:
                        time.sleep(0.001)
                        continue
                    name = errno.errorcode.get(e.errno, str(e.errno))
                    failed[name] = failed.get(name, 0) + 1
                    break
            if stalled:
                break
        barrier = False if stalled else notify_barrier(sock, addr)
    finally:
        sock.close()
        for fd in null:
            os.close(fd)
    over8 = sent["9 fds"] + sent["253 fds"]
    return {"sent": sent, "failed": failed, "stalled": stalled, "barrier": barrier, "over8": over8, "uid": os.getuid()}


def notify_service(work, ctl_sock):
    """The notify unit's command: reports its socket and a decoy PID of its
    session, says READY=1, then on `go` sends an oversized STATUS (and asks
    foster's status whether it took it), then the mix, and stays up."""
    addr = os.environ["NOTIFY_SOCKET"]
    decoy = subprocess.Popen(["/bin/sleep", "100000"])
    with open(os.path.join(work, ".info"), "w") as f:
        json.dump({"addr": addr, "decoy": decoy.pid, "pid": os.getpid()}, f)
    os.rename(os.path.join(work, ".info"), os.path.join(work, "info"))
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.sendto(b"READY=1\nSTATUS=ready", abstract(addr))
    go = os.path.join(work, "go")
    end = time.monotonic() + 900
    while not os.path.exists(go):
        if time.monotonic() > end:
            sys.exit(1)
        time.sleep(0.01)
    with open(go) as f:
        count, seed = (int(x) for x in f.read().split())
    # First an oversized STATUS: a foster that acts on a truncated
    # datagram shows it in `status` (asked before the mix, which may move
    # the main PID away from this process).
    sock.sendto(b"STATUS=OVERSIZED-" + b"y" * 5000, abstract(addr))
    probe_released = notify_barrier(sock, abstract(addr))
    _, body = ctl(ctl_sock, "status --json")
    probe = json.loads(body)[0]["status"] if probe_released else None
    result = send_mix(addr, count, seed, decoy=decoy.pid)
    result["oversized_status"] = probe
    with open(os.path.join(work, ".done"), "w") as f:
        json.dump(result, f)
    os.rename(os.path.join(work, ".done"), os.path.join(work, "done"))
    while True:
        time.sleep(3600)


def send_as(uid, addr, count, seed, timeout):
    """send_mix in a forked child running as `uid` (no exec: the
    interpreter may sit where that user cannot read)."""
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:
        code = 1
        try:
            os.close(r)
            os.setgroups([])
            os.setgid(uid)
            os.setuid(uid)
            os.write(w, json.dumps(send_mix(addr, count, seed)).encode())
            code = 0
        except BaseException as e:  # noqa: BLE001 - the child reports and exits, whatever happened
            os.write(w, json.dumps({"error": repr(e)}).encode())
        finally:
            os._exit(code)
    os.close(w)
    end = time.monotonic() + timeout
    data = b""
    try:
        while time.monotonic() < end:
            ready, _, _ = select.select([r], [], [], 0.5)
            if ready:
                chunk = os.read(r, 65536)
                if not chunk:
                    break
                data += chunk
        else:
            os.kill(pid, signal.SIGKILL)
            raise RuntimeError(f"the uid {uid} sender did not finish within {timeout:.0f} s")
    finally:
        os.close(r)
        os.waitpid(pid, 0)
    result = json.loads(data or b"{}")
    if "sent" not in result:
        raise RuntimeError(f"the uid {uid} sender failed: {result.get('error')}")
    return result


def scenario_notify():
    total = scaled(10000, 30)
    parts = [
        ("root, from outside the service", total * 4 // 10, None),
        ("uid nobody, from outside", total * 3 // 10, 65534),
        ("root, from the service's own session", total - total * 4 // 10 - total * 3 // 10, "session"),
    ]
    work = os.path.join(WORK, "notify-svc")
    shutil.rmtree(work, ignore_errors=True)
    os.makedirs(work)
    os.chmod(work, 0o755)
    control = os.path.join(WORK, "notify", "ctl.sock")  # Foster("notify") puts its socket there
    unit = (
        f'command: ["{sys.executable}", "{SELF}", "--notify-service", "{work}", "{control}"]\n'
        "type: notify\nrestart: never\nstart_timeout: 30s\nstop_timeout: 1s\n"
    )
    foster = Foster("notify", {"ntf": unit})
    rows = []
    try:
        wait_until(lambda: os.path.exists(os.path.join(work, "info")), 20, "the notify service's socket name")
        with open(os.path.join(work, "info")) as f:
            info = json.load(f)
        wait_until(lambda: foster.status()["ntf"]["state"] == "running", 20, "ntf ready")
        probe = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        if not notify_barrier(probe, abstract(info["addr"])):
            raise RuntimeError("foster never released a first BARRIER=1")
        probe.close()
        before = sample(foster.pid)
        prev = before
        for i, (who, n, uid) in enumerate(parts):
            row = Row(f"5{'abc'[i]}: {n:,} notify datagrams, {who}")
            row.expected = "fds equal before and after" + (
                "; main PID and STATUS untouched by truncated datagrams" if uid == "session" else ""
            )
            t0 = time.monotonic()
            if uid == "session":
                with open(os.path.join(work, ".go"), "w") as f:
                    f.write(f"{n} {i + 1}")
                os.rename(os.path.join(work, ".go"), os.path.join(work, "go"))
                done = os.path.join(work, "done")
                wait_until(lambda: os.path.exists(done), 60 + n * 0.01, "the in-session sender", step=0.02)
                with open(done) as f:
                    result = json.load(f)
            elif uid is None:
                result = send_mix(info["addr"], n, i + 1)
            else:
                result = send_as(uid, info["addr"], n, i + 1, 60 + n * 0.01)
            elapsed = time.monotonic() - t0
            answered = foster.fosterctl("status", timeout=10).returncode in (0, 3)
            time.sleep(0.05)
            after = sample(foster.pid)
            sent = result["sent"]
            row.fds = arrow([prev["fds"], after["fds"]])
            row.rss = arrow([prev["rss"], after["rss"]])
            delta = after["fds"] - prev["fds"]
            row.measured = (
                f"{sum(sent.values()):,} sent in {elapsed:.1f} s as uid {result['uid']}, "
                f"{result['over8']:,} of them with more than 8 fds"
                + (f" (+{delta / result['over8']:.2f} fds each)" if result["over8"] and delta > 0 else "")
                + ("; barrier released" if result["barrier"] else "; BARRIER NOT RELEASED")
                + ("" if answered else "; status did not answer after")
            )
            if result["failed"]:
                row.measured += f"; send errors {result['failed']}"
            row.check(not result["stalled"], "foster stopped reading its notify socket")
            row.check(result["barrier"], "barrier not released")
            row.check(answered, "status unanswered after")
            fds_verdict(row, prev["fds"], after["fds"])
            if uid == "session":
                st = foster.status()["ntf"]
                over = str(result.get("oversized_status"))
                row.measured += (
                    f"; STATUS after a 5,000-byte one {over[:16]!r}; main PID afterwards {st['pid']} "
                    f"(the service {info['pid']}, its decoy {info['decoy']})"
                )
                row.check(st["pid"] == info["pid"], "main PID moved to the decoy by a truncated MAINPID")
                row.check(not over.startswith("OVERSIZED"), "STATUS taken from a truncated datagram")
                row.check(st["state"] == "running", f"ntf is {st['state']}")
            rows.append(row)
            prev = after
        mix = ", ".join(f"{k} {w}" for k, w in NOTIFY_KINDS)
        rows[-1].notes.append(f"5: datagram kinds and their weights in the mix: {mix}")
    finally:
        foster.stop()
        shutil.rmtree(work, ignore_errors=True)
    return rows


# ---------------------------------------------------------------------------
# 6: log relay to a slow reader


GEN = (
    "import os, sys\n"
    "n, fd = int(sys.argv[1]), int(sys.argv[2])\n"
    "pad = b'.' * 88\n"
    "for start in range(0, n, 1000):\n"
    "    block = b''.join(b'%010d %s\\n' % (i, pad) for i in range(start, min(n, start + 1000)))\n"
    "    view = memoryview(block)\n"
    "    while view:\n"
    "        view = view[os.write(fd, view):]\n"
)


class LineCheck:
    """Checks relayed lines `gen | %010d ....` arrive whole and in order."""

    def __init__(self, total):
        self.prefix = b"gen | "
        self.fmt = self.prefix + b"%010d " + LINE_PAD
        self.total = total
        self.next = 0
        self.whole = 0
        self.duplicates = 0
        self.damaged = 0  # numbered lines that are not whole: split, cut or joined
        self.fragments = 0  # lines without the prefix that are not foster's own
        self.foster_inside = 0
        self.foster_lines = 0
        self.examples = []
        self.buf = b""
        self.numbered = re.compile(rb"^gen \| (\d{10}) ")

    def feed(self, data):
        self.buf += data
        lines = self.buf.split(b"\n")
        self.buf = lines.pop()
        fmt, n = self.fmt, self.next
        for line in lines:
            if line == fmt % n:
                n += 1
                continue
            self.whole += n - self.next
            self.next = n
            self.odd(line)
            n = self.next
        self.whole += n - self.next
        self.next = n

    def odd(self, line):
        if line.startswith(b"foster: ") and self.prefix not in line:
            self.foster_lines += 1
            return
        inside = b"foster: " in line
        if inside:
            # foster's line went into the middle of a relayed one: what
            # precedes it is that relayed line's beginning.
            self.foster_inside += 1
        m = self.numbered.match(line)
        if m:
            k = int(m.group(1))
            if line == self.fmt % k:
                if k < self.next:
                    self.duplicates += 1
                else:
                    self.whole += 1
                    self.next = k + 1
                return
            self.next = k + 1
        if m or inside or line.startswith(self.prefix):
            self.damaged += 1  # the start of a relayed line that is not whole
        else:
            self.fragments += 1  # the rest of one
        self.example(line)

    def example(self, line):
        if len(self.examples) < 4:
            text = line.decode(errors="replace")
            self.examples.append(text if len(text) < 90 else text[:40] + " … " + text[-40:])

    def done(self):
        return self.next >= self.total


def scenario_log(stream):
    total_bytes = int(200e6 * SCALE)
    total = max(1000, total_bytes // 100)
    kills = 10
    label = "6a" if stream == "stdout" else "6b"
    row = Row(f"{label}: {total * 100 / 1e6:.0f} MB through `log: prefix` on {stream} to a slow reader")
    row.expected = (
        f"every line whole, 0 lost; RSS within {LOG_RSS_BAND_KIB // 1024} MiB of the baseline; "
        f"a killed service back within {LATENCY_MS:.0f} ms"
    )
    victim = 'command: ["/bin/sleep", "100000"]\nrestart: always\nrestart_delay: 0s\n'
    fd = 1 if stream == "stdout" else 2
    # One line relayed before the baseline: foster opens its two outputs for
    # the relay on first use and keeps them.
    hello = f'command: ["/bin/sh", "-c", "echo hello >&{fd}"]\nlog: prefix\nrestart: never\n'
    r_fd, w_fd = os.pipe()
    kw = {"stdout": w_fd} if stream == "stdout" else {"stderr": w_fd}
    stop = threading.Event()
    latencies, misses, rss_seen = [], [], []
    paused = threading.Event()  # set while the reader stalls
    in_stall = []  # kills made while the reader stalled
    foster = None
    try:
        foster = Foster(f"log-{stream}", {"victim": victim, "hello": hello}, **kw)
        os.close(w_fd)
        w_fd = -1
        seen, end = b"", time.monotonic() + 10
        while b"hello | hello\n" not in seen:
            if time.monotonic() > end:
                raise RuntimeError(f"no `hello | hello` on foster's {stream}: {seen[-300:]!r}")
            if select.select([r_fd], [], [], 0.1)[0]:
                seen += os.read(r_fd, 65536)
        wait_until(lambda: foster.status()["victim"]["state"] == "running", 10, "victim running")
        wait_until(lambda: foster.status()["hello"]["state"] not in ("running", "starting"), 10, "hello to end")
        time.sleep(0.1)
        base = sample(foster.pid)
        foster.write_unit(
            "gen",
            f'command: ["{sys.executable}", "-c", {json.dumps(GEN)}, "{total}", "{1 if stream == "stdout" else 2}"]\n'
            "log: prefix\nrestart: never\n",
        )
        first, _ = ctl(foster.sock, "reload")
        if first != "ok":
            raise RuntimeError(f"reload: {first}")
        duration = total * 100 / LOG_RATE * (LOG_READ_S + LOG_STALL_S) / LOG_READ_S

        def killer():
            gap = max(0.1, duration / (2 * kills))
            for i in range(kills):
                if stop.wait(gap):
                    return
                if i % 2:
                    # Every other kill lands 20 ms into a stall of the reader.
                    end = time.monotonic() + 2
                    while not paused.is_set() and time.monotonic() < end and not stop.is_set():
                        time.sleep(0.002)
                    time.sleep(0.02)
                try:
                    old = foster.status(2)["victim"]["pid"]
                    t0 = time.monotonic()
                    os.kill(old, signal.SIGKILL)
                    if paused.is_set():
                        in_stall.append(old)
                    end = t0 + 10
                    while time.monotonic() < end and not stop.is_set():
                        try:
                            st = foster.status(1)["victim"]
                        except (OSError, RuntimeError, ValueError):
                            continue
                        if st["state"] == "running" and st["pid"] not in (None, old):
                            latencies.append((time.monotonic() - t0) * 1000)
                            break
                        time.sleep(0.0005)
                    else:
                        if not stop.is_set():
                            misses.append(old)
                except (OSError, RuntimeError, ValueError, KeyError, TypeError):
                    misses.append(None)

        def sampler():
            while not stop.wait(0.05):
                try:
                    rss_seen.append(status_kib(foster.pid, "VmRSS"))
                except OSError:
                    return

        threads = [threading.Thread(target=killer, daemon=True), threading.Thread(target=sampler, daemon=True)]
        for t in threads:
            t.start()
        check = LineCheck(total)
        t0 = time.monotonic()
        consumed, last_data = 0, t0
        deadline = t0 + 3 * duration + 60
        stalled = False
        while not check.done():
            # Read at LOG_RATE for LOG_READ_S, then not at all for
            # LOG_STALL_S, over and over: a reader that is slow, and at
            # times stuck (a terminal scrolled back, a log shipper busy).
            now = time.monotonic()
            cycles, pos = divmod(now - t0, LOG_READ_S + LOG_STALL_S)
            if pos >= LOG_READ_S:
                paused.set()
                time.sleep(LOG_READ_S + LOG_STALL_S - pos)
                paused.clear()
                continue
            ahead = consumed - LOG_RATE * (cycles * LOG_READ_S + pos)
            if ahead > 0:
                time.sleep(min(ahead / LOG_RATE, LOG_READ_S - pos))
                continue
            ready, _, _ = select.select([r_fd], [], [], 0.5)
            now = time.monotonic()
            if ready:
                data = os.read(r_fd, 16384)
                if not data:
                    break
                consumed += len(data)
                last_data = now
                check.feed(data)
            elif now - last_data > 5 + LOG_STALL_S:
                stalled = True
                break
            if now > deadline:
                stalled = True
                break
        elapsed = time.monotonic() - t0
        stop.set()
        for t in threads:
            t.join(timeout=15)
        # Until gen has ended (and foster closed its pipes), drain what is
        # left (foster's lines on stderr) so that foster can go on.
        gen_end = time.monotonic() + 10
        while time.monotonic() < gen_end:
            if select.select([r_fd], [], [], 0.05)[0]:
                data = os.read(r_fd, 65536)
                if not data:
                    break
                check.feed(data)
            else:
                try:
                    if foster.status(2)["gen"]["state"] not in ("running", "starting"):
                        break
                except (OSError, RuntimeError, ValueError, KeyError):
                    pass
        time.sleep(0.1)
        after = sample(foster.pid)
        peak = max(rss_seen + [after["rss"], after["hwm"]])
        lost = max(0, total - check.whole - check.damaged)
        row.fds = arrow([base["fds"], after["fds"]])
        row.rss = f"{base['rss']} → peak {peak} → {after['rss']}"
        med = f"{statistics.median(latencies):.1f}" if latencies else "-"
        mx = f"{max(latencies):.1f}" if latencies else "-"
        row.measured = (
            f"{check.whole:,} of {total:,} lines whole in {elapsed:.1f} s ({consumed / elapsed / 1e6:.1f} MB/s), "
            f"{check.damaged:,} split ({check.foster_inside} with a foster line inside, "
            f"{check.fragments:,} pieces without a prefix), {lost:,} lost, {check.duplicates} repeated; "
            f"{check.foster_lines} foster lines whole; "
            f"{len(latencies)}/{kills} kills back ({len(in_stall)} made during a stall), median {med} ms, max {mx} ms"
            + (f"; relay STALLED (no data for 5 s at line {check.next:,})" if stalled else "")
        )
        row.check(lost == 0, f"{lost:,} lines lost")
        row.check(check.damaged == 0 and check.fragments == 0, f"{check.damaged:,} lines split")
        row.check(check.foster_inside == 0, f"{check.foster_inside} foster lines inside relayed lines")
        row.check(not stalled, "relay stalled")
        row.check(peak - base["rss"] <= LOG_RSS_BAND_KIB, f"RSS peak +{peak - base['rss']} KiB")
        row.check(after["rss"] - base["rss"] <= LOG_RSS_BAND_KIB, f"RSS after +{after['rss'] - base['rss']} KiB")
        row.check(not misses, f"{len(misses)} kills not back within 10 s")
        row.check(
            not latencies or max(latencies) <= LATENCY_MS, f"killed service back in {max(latencies or [0]):.0f} ms"
        )
        fds_verdict(row, base["fds"], after["fds"])
        if check.examples:
            row.notes.append(f"{label}: split lines, e.g. " + "; ".join(f"`{e}`" for e in check.examples))
    finally:
        stop.set()
        # Closed first: foster's last lines on stderr must not block its stop.
        os.close(r_fd)
        if w_fd >= 0:
            os.close(w_fd)
        if foster:
            foster.stop()
    return row


# ---------------------------------------------------------------------------
# 7: signal storm


MAIN = (
    "import signal, time\n"
    "signal.signal(signal.SIGUSR1, signal.SIG_IGN)\n"
    "while True:\n"
    "    time.sleep(3600)\n"
)


def scenario_signals():
    count = scaled(10000, 20)
    warm = max(2, count // 10)
    paced = max(2, count // 10)
    fast = Row(f"7a: {count:,} SIGHUP/SIGUSR1 while services run, as fast as kill(2) goes")
    fast.expected = (
        f"foster alive, status answers, same PIDs; fds equal; RSS within {RSS_BAND_KIB} KiB from the first {warm:,} on"
    )
    slow = Row(f"7b: {paced:,} SIGHUP/SIGUSR1 pairs, each SIGHUP's reload waited for")
    slow.expected = f"the same; RSS within {RSS_BAND_KIB} KiB of 7a's end"
    units = {f"s{i}": 'command: ["/bin/sleep", "100000"]\nrestart: always\n' for i in range(3)}
    patterns = {"reloads": re.compile(r"^foster: SIGHUP received")}
    foster = Foster(
        "signals", units, main=[sys.executable, "-c", MAIN, "soak-main"], verbose=True, patterns=patterns
    )
    try:
        def up():
            st = foster.status()
            return all(s["state"] == "running" for s in st.values()) and st

        pids0 = {n: s["pid"] for n, s in wait_until(up, 10, "services running").items()}

        def main_pid():
            for pid in descendants(foster.pid):
                try:
                    with open(f"/proc/{pid}/cmdline", "rb") as f:
                        if b"soak-main" in f.read():
                            return pid
                except OSError:
                    pass
            return None

        main0 = wait_until(main_pid, 10, "the main command")
        time.sleep(0.2)
        start = sample(foster.pid)

        def storm(n):
            t0 = time.monotonic()
            for i in range(n):
                os.kill(foster.pid, signal.SIGHUP if i % 2 == 0 else signal.SIGUSR1)
            return time.monotonic() - t0

        def settle():
            # The reloads the last signals asked for are done once status
            # answers twice in a row with the same count of reloads logged.
            last = -1
            end = time.monotonic() + 30
            while time.monotonic() < end:
                wait_until(foster.answers, 10, "foster to answer after the storm")
                time.sleep(0.2)
                now = foster.tap.count("reloads")
                if now == last:
                    return
                last = now

        def judge(row, ref, after):
            alive = foster.proc.poll() is None
            r = foster.fosterctl("status")
            st = foster.status()
            pids1 = {n: s["pid"] for n, s in st.items()}
            kept = sum(1 for n in pids0 if pids1.get(n) == pids0[n])
            main1 = main_pid()
            row.measured += (
                f"; status exit {r.returncode}; {kept}/{len(pids0)} services and the main command "
                f"{'kept' if main1 == main0 else 'CHANGED'} their PIDs"
            )
            row.check(alive, "foster died")
            row.check(r.returncode == 0, f"status exit {r.returncode}")
            row.check(
                pids1 == pids0 and all(s["state"] == "running" for s in st.values()),
                f"services changed: {[(n, s['state'], s['pid']) for n, s in st.items()]}",
            )
            row.check(main1 == main0, "the main command changed or died")
            fds_verdict(row, ref["fds"], after["fds"])
            rss_verdict(row, ref["rss"], after["rss"])

        storm(warm)
        settle()
        warmed = sample(foster.pid)
        before = foster.tap.count("reloads")
        spent = storm(count - warm)
        settle()
        stormed = sample(foster.pid)
        fast.fds = arrow([start["fds"], warmed["fds"], stormed["fds"]])
        fast.rss = arrow([start["rss"], warmed["rss"], stormed["rss"]])
        fast.measured = (
            f"{count - warm:,} signals sent in {spent * 1000:.0f} ms after {warm:,} to warm up; foster ran "
            f"{foster.tap.count('reloads') - before:,} reloads for them (pending signals coalesce)"
        )
        judge(fast, warmed, stormed)

        t0 = time.monotonic()
        missed = 0
        for _ in range(paced):
            seen = foster.tap.count("reloads")
            os.kill(foster.pid, signal.SIGHUP)
            end = time.monotonic() + 5
            while foster.tap.count("reloads") == seen:
                if time.monotonic() > end:
                    missed += 1
                    break
                time.sleep(0.0002)
            os.kill(foster.pid, signal.SIGUSR1)
        spent = time.monotonic() - t0
        settle()
        after = sample(foster.pid)
        slow.fds = arrow([stormed["fds"], after["fds"]])
        slow.rss = arrow([stormed["rss"], after["rss"]])
        slow.measured = (
            f"{paced - missed:,}/{paced:,} reloads seen in {spent:.1f} s ({spent / paced * 1000:.2f} ms each)"
        )
        slow.check(missed == 0, f"{missed} SIGHUPs without a reload within 5 s")
        judge(slow, stormed, after)
    finally:
        foster.stop()
    return [fast, slow]


# ---------------------------------------------------------------------------


def machine():
    model = "?"
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    model = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    return f"{os.cpu_count()} cores, {model}, Linux {os.uname().release}"


def build_helper():
    out = os.path.join(WORK, "soak-helper")
    os.makedirs(WORK, exist_ok=True)
    subprocess.run(["gcc", "-O2", "-o", out, os.path.join(HERE, "soak-helper.c")], check=True, timeout=120)
    return out


def write_section(text):
    path = os.path.join(HERE, "RESULTS.md")
    try:
        with open(path) as f:
            old = f.read()
    except FileNotFoundError:
        old = ""
    head = "## Soak: hostile and long runs"
    start = old.find("\n" + head)
    if start < 0:
        new = old.rstrip("\n") + "\n\n" + text if old else text
    else:
        nxt = old.find("\n## ", start + 1)
        new = old[:start].rstrip("\n") + "\n\n" + text + ("\n" + old[nxt:].lstrip("\n") if nxt >= 0 else "")
    with open(path, "w") as f:
        f.write(new)


METHOD = """\
Each row is its own foster (the binary given to `bench/soak.py`, started as an ordinary process, a child subreaper, except in 3), root, with cgroups {cgroups}, foster's limit of open files {nofile}. *fds* counts the entries of `/proc/PID/fd` that are open, to the same file, in each of 20 reads 1 ms apart (so a pidfd, `cgroup.procs` or `/proc` held for a moment by a restart in flight does not count, and a leaked descriptor does); *RSS* is VmRSS in KiB; arrows run through the points the row names. The verdict is "flat" when every expectation held, otherwise what failed.

1. A unit `command: ["/bin/false"]`, `restart: always`, `restart_delay: 0s`, `restart_delay_max: 0s`. `restarts` from `status --json` is polled every 5 ms; fds and RSS are read when it first reaches 0, a tenth, two tenths … of the count. RSS is judged from the tenth on (the first restarts fault in code and heap that stay).
2. The same with a `type: forking` unit, `pidfile:`, whose launcher (`bench/soak-helper.c crashd`) double-forks a daemon that renames its pidfile into place, lives 2 ms and exits 1; foster runs with `-v` so that each launch (`started as`) and each daemon followed to running (`main process PID (from PIDFILE)`) is counted in its log.
3. `unshare --pid --fork --mount-proc foster -- CHILD`: the child (this script) reads `/proc/1` from inside, runs `soak-helper orphans` (double forks; every other orphan exits at once, often while still its parent's, so it is reparented as a zombie; the others after 1 ms) for a tenth of the count to warm up, then the count, and waits each time until only PID 1 and itself are left in the namespace's `/proc`; the time is from the first fork to that point. Zombies left: the namespace's processes in state Z when the wait ended (it ends at the latest at its deadline).
4. Stream connections to the control socket that never send anything (4a), or send `status --js` and stall (4b), all held open while the real `fosterctl status` runs 20 times one after the other, each with a 5 s limit. "Closed by foster" counts the held connections that saw end of file or a reset before the benchmark closed them (foster keeps up to 512, closes one after 10 s of silence, and gives a newcomer the place of one idle for 1 s only when all are taken). fds: before opening, while held, after closing them all (and after `status` answered again).
5. foster's `NOTIFY_SOCKET` (abstract) comes from a `type: notify` unit whose command is this script; datagrams are sent with `sendmsg`, blocking (the kernel queues 10), descriptors as SCM_RIGHTS (/dev/null opened 253 times and reused). The kinds, drawn at random with fixed seeds: `STATUS=…`; 4,097–8,192-byte ones ending in `MAINPID=`; 4,096-byte-at-the-cut ones whose first 4,096 bytes end in `MAINPID=<a sleep of the service's session>` (the whole datagram names another PID); 1, 9 and 253 descriptors; random bytes; empty. 5a from this script as root, 5b from a process running as uid 65534, 5c from the service's own main process, after it sent a 5,000-byte `STATUS=OVERSIZED…` and read `status`. Each part ends with sd_notify's `BARRIER=1` (a pipe's write end that foster closes once it has read all before it) and a `fosterctl status`; fds are read after that.
6. A unit with `log: prefix` writes {log_lines} numbered lines of 100 bytes (Python, `os.write` of 100 KB blocks) to its stdout (6a) or stderr (6b), started by a reload once the baseline was read (after a first unit relayed one line, so that any output foster opens on first use is open before the baseline). foster's stdout (6a) or stderr (6b) is a pipe this script reads in 16 KiB reads throttled to {rate:.0f} MB/s for 0.5 s, then not at all for {stall:.0f} ms, over and over, checking each line is exactly `gen | <the next number> <padding>`; foster's own `foster: …` lines are allowed on stderr only as whole lines. Meanwhile a second unit (`sleep`, `restart: always`, `restart_delay: 0s`) is SIGKILLed 10 times, spaced over the expected duration, every other one 20 ms into a stall of the reader; *back* is from just before the kill until `status --json` (polled every 0.5 ms over the socket) shows it running with a new PID. foster runs without `-v` (its restart warnings still go to stderr). Peak RSS is the highest of VmRSS read every 50 ms and VmHWM at the end.
7. Three `sleep` services (`restart: always`) and a main command that ignores SIGUSR1; foster with `-v`. 7a: SIGHUP (a reload of the services directory) and SIGUSR1 (forwarded to the main command) alternate, sent by `kill(2)` in a tight loop, a tenth first to warm up; then this script waits until `status` answers and the count of `SIGHUP received` log lines has stopped growing. A signal that arrives while the same one is pending is merged by the kernel, so foster sees far fewer: 7b sends each SIGHUP only once foster logged the reload of the previous one, each followed by a SIGUSR1. PIDs are compared with those before the storm.

Polling in 1, 2, 6 and 7 speaks the control protocol directly over the socket (a `fosterctl` process per poll would cost more than a restart); the checks in 4, 5 and 7 use `fosterctl` itself."""


def main():
    global FOSTER, FOSTERCTL, HELPER, SELF
    SELF = os.path.abspath(__file__)
    if len(sys.argv) > 1 and sys.argv[1] == "--pid1-child":
        return pid1_child(sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), float(sys.argv[5]))
    if len(sys.argv) > 1 and sys.argv[1] == "--notify-service":
        return notify_service(sys.argv[2], sys.argv[3])
    if len(sys.argv) not in (3, 4):
        sys.exit("usage: soak.py FOSTER FOSTERCTL [SOAK_HELPER]")
    if os.geteuid() != 0:
        sys.exit("soak.py needs root (PID namespaces, uid nobody)")
    FOSTER, FOSTERCTL = os.path.abspath(sys.argv[1]), os.path.abspath(sys.argv[2])
    shutil.rmtree(WORK, ignore_errors=True)
    os.makedirs(WORK)
    HELPER = os.path.abspath(sys.argv[3]) if len(sys.argv) == 4 else build_helper()
    set_subreaper()
    signal.signal(signal.SIGALRM, on_alarm)
    signal.signal(signal.SIGTERM, on_term)
    only = {s.strip() for s in os.environ.get("SOAK_ONLY", "").split(",") if s.strip()}
    scenarios = [
        ("1", "restarts of a crashing simple service", scenario_simple_restarts, 120 + 240 * SCALE),
        ("2", "restarts of a crashing forking daemon", scenario_forking_restarts, 120 + 480 * SCALE),
        ("3", "orphans as PID 1", scenario_orphans, 120 + 300 * SCALE),
        ("4", "held control connections", scenario_held_connections, 120),
        ("5", "notify datagrams", scenario_notify, 120 + 180 * SCALE),
        ("6", "log relay on stdout", lambda: scenario_log("stdout"), 120 + 5 * 200 / (LOG_RATE / 1e6) * SCALE),
        ("6", "log relay on stderr", lambda: scenario_log("stderr"), 120 + 5 * 200 / (LOG_RATE / 1e6) * SCALE),
        ("7", "signal storm", scenario_signals, 120 + 60 * SCALE),
    ]
    # Foster's environment, for the method paragraph.
    cgroups, nofile = "unknown", "unknown"
    probe = None
    try:
        probe = Foster("probe", {"p": 'command: ["/bin/sleep", "100000"]\n'})
        cgroups = "in use (one per service)" if probe.uses_cgroups() else "not in use"
        with open(f"/proc/{probe.pid}/limits") as f:
            nofile = next(line.split()[3] for line in f if line.startswith("Max open files"))
    except Exception as e:  # noqa: BLE001 - reported, and each scenario will say what fails
        log(f"warning: a first foster did not come up: {e}")
    finally:
        if probe:
            probe.stop()
        kill_descendants()
    try:
        version = subprocess.run([FOSTER, "--version"], capture_output=True, text=True, timeout=10).stdout.strip()
    except subprocess.TimeoutExpired:
        version = "foster (no answer to --version)"
    kill_descendants()
    rows = []
    t_all = time.monotonic()
    for number, what, run, budget in scenarios:
        if only and number not in only:
            continue
        log(f"scenario {number}: {what} (budget {budget:.0f} s)")
        janitor = CgroupJanitor()
        t0 = time.monotonic()
        signal.alarm(int(budget))
        try:
            got = run()
            rows.extend(got if isinstance(got, list) else [got])
        except Exception as e:  # noqa: BLE001 - a scenario that breaks is a row, not the end of the run
            row = Row(f"{number}: {what}")
            row.failures.append(f"NOT MEASURED: {type(e).__name__}: {str(e).splitlines()[0][:200]}")
            rows.append(row)
            log(f"scenario {number} failed: {e}")
        finally:
            signal.alarm(0)
            kill_descendants()
            janitor.clean()
        log(f"scenario {number} took {time.monotonic() - t0:.1f} s: {rows[-1].verdict()}")
    took = time.monotonic() - t_all
    shutil.rmtree(WORK, ignore_errors=True)

    out = ["## Soak: hostile and long runs", ""]
    out.append(
        f"Measured {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())} on {machine()}; {version}; "
        f"SOAK_SCALE={SCALE:g}; {took:.0f} s in all (`bench/soak.py`).\n"
    )
    out.append("| scenario | fds | RSS (KiB) | measured | expected | verdict |")
    out.append("|---|---|---|---|---|---|")
    for r in rows:
        cells = [r.scenario, r.fds, r.rss, r.measured or "-", r.expected or "-", r.verdict()]
        out.append("| " + " | ".join(c.replace("|", "\\|") for c in cells) + " |")
    out.append("")
    notes = [n for r in rows for n in r.notes]
    if notes:
        out.extend(f"- {n}" for n in notes)
        out.append("")
    out.append(
        METHOD.format(
            cgroups=cgroups,
            nofile=nofile,
            log_lines=f"{max(1000, int(200e6 * SCALE) // 100):,}",
            rate=LOG_RATE / 1e6,
            stall=LOG_STALL_S * 1000,
        )
    )
    text = "\n".join(out) + "\n"
    print(text)
    write_section(text)
    failed = [r for r in rows if r.failures]
    log(f"{len(rows) - len(failed)} of {len(rows)} rows flat; {took:.0f} s")
    if STRICT and failed:
        sys.exit(1)


if __name__ == "__main__":
    main()
