#!/usr/bin/env python3
"""Daemon-tracking benchmark: how fast foster follows a self-daemonizing
program through its pidfile.

The daemon is bench/daemon.c (fork, setsid, fork; the daemon waits until
its launcher has exited, then rename()s its pidfile into place and records
CLOCK_MONOTONIC taken right before the rename). foster runs it as a
`type: forking` unit with `restart: always`, `restart_delay: 0s`, with `-v`;
its stderr is read here through a pipe and every line is stamped with
CLOCK_MONOTONIC (time.monotonic_ns) as soon as it is read. foster reports a
daemon running with `NAME: main process PID (from PIDFILE)`.

Each round SIGKILLs the tracked daemon and waits for that line with a new
PID, which gives two samples:
- pidfile written -> running: the daemon's stamp to the line;
- daemon killed -> replacement running: the time taken right before the
  kill to the line (reaping, reading the pidfile again, the restart, the
  new launcher's fork and exit, the new pidfile).
A second unit's daemon waits 20 ms after its launcher exited before writing
its pidfile, so foster has surely processed the launcher's exit and is
waiting on inotify alone: that is the third row.

At the end `fosterctl status --json` must show the last PID, with
`pid_source` `pidfile` and one restart per round. Run through bench/run.
Appends its section to bench/RESULTS.md.
"""

import json
import os
import re
import select
import shutil
import signal
import statistics
import subprocess
import sys
import time

ROUNDS = int(os.environ.get("BENCH_TRACK_ROUNDS", "200"))
LATE_MS = 20
WORK = "/tmp/foster-bench-tracking"
STOP_WAIT = 4  # seconds for foster to stop the daemon (stop_timeout 1s) and exit


class Log:
    """foster's stderr, line by line, each line stamped when read."""

    def __init__(self, fd):
        self.fd = fd
        self.buf = b""
        self.lines = []  # (monotonic ns, text), every line seen, for errors
        self.pending = []

    def next(self, deadline):
        while not self.pending:
            left = deadline - time.monotonic()
            if left <= 0:
                raise RuntimeError("timed out; foster said:\n" + "\n".join(t for _, t in self.lines[-30:]))
            ready, _, _ = select.select([self.fd], [], [], left)
            if not ready:
                continue
            chunk = os.read(self.fd, 65536)
            now = time.monotonic_ns()
            if not chunk:
                raise RuntimeError("foster exited; it said:\n" + "\n".join(t for _, t in self.lines[-30:]))
            self.buf += chunk
            *complete, self.buf = self.buf.split(b"\n")
            for raw in complete:
                item = (now, raw.decode(errors="replace"))
                self.lines.append(item)
                self.pending.append(item)
        return self.pending.pop(0)

    def wait_for(self, pattern, timeout=10.0):
        deadline = time.monotonic() + timeout
        while True:
            t, text = self.next(deadline)
            m = pattern.search(text)
            if m:
                return t, m, text


class Stamps:
    """The daemons' pidfile stamps: PID -> monotonic ns of the rename."""

    def __init__(self, path):
        self.path = path
        self.seen = {}

    def of(self, pid, timeout=5.0):
        end = time.monotonic() + timeout
        while pid not in self.seen:
            try:
                with open(self.path) as f:
                    for line in f:
                        if line.endswith("\n"):
                            p, ns = line.split()
                            self.seen[int(p)] = int(ns)
            except FileNotFoundError:
                pass
            if pid in self.seen:
                break
            if time.monotonic() > end:
                raise RuntimeError(f"daemon {pid} left no stamp")
            time.sleep(0.0005)
        return self.seen[pid]


def kill_leftovers(work):
    """SIGKILLs any daemon of this run still alive (foster, killed, left it)."""
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/cmdline", "rb") as f:
                cmdline = f.read().split(b"\0")
        except OSError:
            continue
        if len(cmdline) > 1 and cmdline[1].startswith(work.encode() + b"/"):
            try:
                os.kill(int(entry), signal.SIGKILL)
            except ProcessLookupError:
                pass


class Run:
    """One foster (-v, a subreaper) running one `type: forking` unit of
    bench/daemon.c with DAEMON_ARGS after its pidfile and stamps file; its
    stderr stamped line by line (`log`), the daemon's stamps (`stamps`)."""

    def __init__(self, foster, daemon, name, daemon_args):
        self.name = name
        self.work = os.path.join(WORK, name)
        shutil.rmtree(self.work, ignore_errors=True)
        units = os.path.join(self.work, "units")
        rundir = os.path.join(self.work, "run")
        os.makedirs(units)
        os.makedirs(rundir)
        pidfile = os.path.join(rundir, f"{name}.pid")
        stamps_path = os.path.join(self.work, "stamps")
        args = "".join(f', "{a}"' for a in daemon_args)
        with open(os.path.join(units, f"{name}.yaml"), "w") as f:
            f.write(
                f'command: ["{daemon}", "{pidfile}", "{stamps_path}"{args}]\n'
                f"type: forking\npidfile: {pidfile}\n"
                "restart: always\nrestart_delay: 0s\nstart_timeout: 10s\nstop_timeout: 1s\n"
            )
        self.sock = os.path.join(self.work, "ctl.sock")
        self.proc = subprocess.Popen(
            [foster, "-v", "--services", units, "--socket", self.sock],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        self.log = Log(self.proc.stderr.fileno())
        self.stamps = Stamps(stamps_path)

    def line(self, pattern):
        """A compiled pattern for foster's `NAME: PATTERN` log line."""
        return re.compile(rf"^foster: {re.escape(self.name)}: {pattern}")

    def status(self, fosterctl):
        out = subprocess.run(
            [fosterctl, "--socket", self.sock, "status", "--json", self.name],
            check=True,
            capture_output=True,
            text=True,
        ).stdout
        status = json.loads(out)
        return (status[0] if isinstance(status, list) else status), out.strip()

    def stop(self):
        self.proc.send_signal(signal.SIGTERM)
        try:
            # Drain stderr so foster never blocks on a full pipe while stopping.
            self.proc.communicate(timeout=STOP_WAIT)
        except subprocess.TimeoutExpired:
            print(
                f"warning: foster did not stop {self.name} within {STOP_WAIT} s of SIGTERM; "
                "killing foster and the daemon (shutdown is not what this benchmark measures)",
                file=sys.stderr,
            )
            self.proc.kill()
            self.proc.communicate()
        kill_leftovers(self.work)
        shutil.rmtree(self.work, ignore_errors=True)


def run_unit(foster, fosterctl, daemon, name, delay_ms, rounds):
    run = Run(foster, daemon, name, [delay_ms])
    adopted = run.line(r"main process (\d+) \(from ")
    started = run.line(r"started as (\d+)$")
    written, replaced = [], []
    try:
        t, m, _ = run.log.wait_for(adopted)
        pid = int(m.group(1))
        written.append(t - run.stamps.of(pid))
        for _ in range(rounds):
            time.sleep(0.01)  # let foster and the daemon settle
            t_kill = time.monotonic_ns()
            os.kill(pid, signal.SIGKILL)
            run.log.wait_for(started)
            t, m, _ = run.log.wait_for(adopted)
            new = int(m.group(1))
            if new == pid:
                raise RuntimeError(f"{name}: foster adopted the killed PID {pid} again")
            pid = new
            replaced.append(t - t_kill)
            written.append(t - run.stamps.of(pid))
        status, out = run.status(fosterctl)
        if (status.get("pid"), status.get("pid_source"), status.get("state")) != (pid, "pidfile", "running"):
            raise RuntimeError(f"{name}: fosterctl status disagrees: {out} (expected PID {pid} from pidfile)")
        if status.get("restarts") != rounds:
            raise RuntimeError(f"{name}: fosterctl counts {status.get('restarts')} restarts, expected {rounds}")
    finally:
        run.stop()
    return written, replaced


def run_successors(foster, fosterctl, daemon, rounds):
    """A daemon that daemonizes again on each SIGHUP: the old PID exits 0,
    its child writes the pidfile LATE_MS later. Samples per round: the old
    PID's exit to foster following the successor, and the successor's
    pidfile to that."""
    name = "successor"
    run = Run(foster, daemon, name, [LATE_MS, "redaemonize"])
    adopted = run.line(r"main process (\d+) \(from ")
    handed = run.line(r"handed over from (\d+) to (\d+) \(pidfile ")
    exited, written = [], []
    try:
        _, m, _ = run.log.wait_for(adopted)
        pid = int(m.group(1))
        for _ in range(rounds):
            time.sleep(0.01)  # let foster and the daemon settle
            os.kill(pid, signal.SIGHUP)
            t, m, _ = run.log.wait_for(handed)
            old, new = int(m.group(1)), int(m.group(2))
            if old != pid or new == pid:
                raise RuntimeError(f"{name}: foster handed over from {old} to {new}, expected from {pid}")
            exited.append(t - run.stamps.of(-old))
            written.append(t - run.stamps.of(new))
            pid = new
        status, out = run.status(fosterctl)
        if (status.get("pid"), status.get("state"), status.get("restarts")) != (pid, "running", 0):
            raise RuntimeError(f"{name}: fosterctl status disagrees: {out} (expected PID {pid}, no restart)")
    finally:
        run.stop()
    return exited, written


def summary(samples_ns):
    ms = sorted(s / 1e6 for s in samples_ns)
    q = statistics.quantiles(ms, n=100, method="inclusive")
    return statistics.median(ms), q[89], q[98], len(ms)


def machine():
    cores = os.cpu_count()
    model = "?"
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    model = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    return f"{cores} cores, {model}, Linux {os.uname().release}"


def main():
    foster, fosterctl, daemon = sys.argv[1], sys.argv[2], sys.argv[3]
    if ROUNDS < 2:
        sys.exit("BENCH_TRACK_ROUNDS must be at least 2")
    shutil.rmtree(WORK, ignore_errors=True)
    print(f"measuring daemon tracking, {ROUNDS} rounds", file=sys.stderr)
    t0 = time.monotonic()
    written, replaced = run_unit(foster, fosterctl, daemon, "track", 0, ROUNDS)
    print(f"measuring daemon tracking with a {LATE_MS} ms late pidfile, {ROUNDS} rounds", file=sys.stderr)
    late, _ = run_unit(foster, fosterctl, daemon, "late", LATE_MS, ROUNDS)
    print(f"measuring a successor that writes the pidfile {LATE_MS} ms late, {ROUNDS} rounds", file=sys.stderr)
    succ_exited, succ_written = run_successors(foster, fosterctl, daemon, ROUNDS)
    print(f"daemon tracking took {time.monotonic() - t0:.0f} s", file=sys.stderr)
    shutil.rmtree(WORK, ignore_errors=True)

    rows = [
        ("pidfile written → running", written),
        ("daemon killed → replacement running", replaced),
        (f"pidfile written {LATE_MS} ms after the launcher exited → running", late),
        (f"predecessor exited → successor followed (its pidfile {LATE_MS} ms later)", succ_exited),
        ("successor's pidfile written → followed", succ_written),
    ]
    out = ["", "## Daemon tracking: pidfile to running, kill to replacement, predecessor to successor", ""]
    out.append(
        f"Measured {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())} on {machine()}; "
        f"{ROUNDS} rounds per unit.\n"
    )
    out.append("| | median (ms) | p90 (ms) | p99 (ms) | rounds |")
    out.append("|---|---|---|---|---|")
    for label, samples in rows:
        med, p90, p99, n = summary(samples)
        out.append(f"| {label} | {med:.2f} | {p90:.2f} | {p99:.2f} | {n} |")
    out.append("")
    out.append(
        "Method: foster (the static build, not PID 1, a child subreaper) runs `bench/daemon.c` as a "
        "`type: forking` unit with `restart: always`, `restart_delay: 0s`, and `-v`. The daemon forks, "
        "calls setsid and forks again; once its launcher has exited it renames its pidfile into place and "
        "records CLOCK_MONOTONIC taken just before the rename. foster's stderr is read through a pipe and "
        "each line is stamped with CLOCK_MONOTONIC when read; *running* is the line "
        "`NAME: main process PID (from PIDFILE)`. Each round SIGKILLs the tracked daemon (10 ms after "
        "reading the previous adoption) and waits for that line with the new PID: *killed → replacement* "
        "runs from just before the kill and covers the reap, the second reading of the pidfile, the "
        "restart, the new launcher's fork and exit and the new pidfile; *pidfile written* samples come "
        "from the start and every replacement (rounds + 1). In the last row the daemon waits "
        f"{LATE_MS} ms after its launcher exited, so foster learns of the pidfile from inotify alone. "
        "In the successor rows the daemon daemonizes again on each SIGHUP (sent 10 ms after the previous "
        "handover): it forks, stamps its own exit and exits 0; the child calls setsid, waits "
        f"{LATE_MS} ms and renames the pidfile into place; the end is foster's line "
        "`NAME: handed over from OLD to NEW (pidfile …)`. *predecessor exited → successor followed* "
        f"includes those {LATE_MS} ms (foster reaps the old PID, finds the file still naming it, looks "
        "at what lives on and waits on inotify); `fosterctl status` then shows the last PID and no "
        "restart. "
        "The *running* end includes foster writing its log line and the benchmark waking up to read it. "
        "At the end `fosterctl status --json` confirms the last PID, `pid_source: pidfile` and one "
        "restart per round. No peer is measured: systemd is not available here; runit and s6 supervise "
        "foreground processes only, and supervisord cannot follow a daemon that forks away (its "
        "workaround, `pidproxy`, is a foreground wrapper that forwards signals to the PID in the "
        "pidfile).\n"
    )
    text = "\n".join(out) + "\n"
    print(text)
    with open(os.path.join(os.path.dirname(os.path.abspath(__file__)), "RESULTS.md"), "a") as fh:
        fh.write(text)


if __name__ == "__main__":
    main()
