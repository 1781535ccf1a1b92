#!/usr/bin/env python3
"""Services benchmark: foster against s6-svscan, runsvdir and supervisord,
and against the physical floor (bench/floor.c: posix_spawn N sleeps, TERM
and reap them), side by side in one run, for N = 100 and 1000 services of
`sleep`.

Every supervisor is measured the same way, from outside, through /proc:
- up: from starting the supervisor until N `sleep` processes run under it;
- memory: PSS summed over the supervisor's own processes (its tree minus
  the services);
- down: from the stop request until every service process is gone;
- restart: from `kill -9` of one service until its replacement runs.
Run through bench/run. Appends its table to bench/RESULTS.md.

The clock-running checks read only what can have changed (see `Watch`):
a scan of all of /proc every millisecond, with 1000 services, kept a
whole CPU of a 2-core machine busy and competed with what it timed (it
made the floor's 1000 up take 1.0 s instead of 0.6 s).
"""

import os
import shutil
import signal
import statistics
import subprocess
import sys
import time

SLEEP_ARG = "100000"


def proc_table():
    """pid -> (ppid, comm, state) for every process."""
    table = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as f:
                stat = f.read()
        except OSError:
            continue
        head, _, tail = stat.rpartition(")")
        comm = head.split("(", 1)[1] if "(" in head else "?"
        fields = tail.split()
        table[int(entry)] = (int(fields[1]), comm, fields[0])
    return table


def tree(root, table):
    kids = {}
    for pid, (ppid, _, _) in table.items():
        kids.setdefault(ppid, []).append(pid)
    out, stack = [], [root]
    while stack:
        p = stack.pop()
        for c in kids.get(p, []):
            out.append(c)
            stack.append(c)
    return out


def sleeps(root, table):
    return {p for p in tree(root, table) if table[p][1] == "sleep" and table[p][2] != "Z"}


def children(pid):
    """pid's children, from /proc/PID/task/TID/children (Linux 3.5+)."""
    kids = []
    try:
        tids = os.listdir(f"/proc/{pid}/task")
    except OSError:
        return kids
    for tid in tids:
        try:
            with open(f"/proc/{pid}/task/{tid}/children") as f:
                kids.extend(int(c) for c in f.read().split())
        except OSError:
            pass
    return kids


def comm_state(pid):
    """(comm, state) of pid, or None once it is gone."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            stat = f.read()
    except OSError:
        return None
    head, _, tail = stat.rpartition(")")
    return (head.split("(", 1)[1] if "(" in head else "?"), tail.split()[0]


class Watch:
    """The live `sleep` processes under a supervisor, as `sleeps` finds them,
    found by walking its tree through the children lists instead of
    reading all of /proc: a `sleep` once found is not read again, nor is a
    process between the supervisor and a `sleep` once that `sleep` is
    found (s6-supervise, runsv). Each poll then reads little more than the
    supervisor's own children list, whichever supervisor it is."""

    def __init__(self, root):
        self.root = root
        self.found = {}  # sleep -> its parent
        self.settled = set()  # parents of a found sleep, but the root

    def forget(self, pid):
        parent = self.found.pop(pid, None)
        self.settled.discard(parent)

    def sleeps(self):
        stack = [self.root]
        while stack:
            parent = stack.pop()
            for child in children(parent):
                if child in self.found or child in self.settled:
                    continue
                seen = comm_state(child)
                if seen is None:
                    continue
                if seen[0] == "sleep" and seen[1] != "Z":
                    self.found[child] = parent
                    if parent != self.root:
                        self.settled.add(parent)
                else:
                    stack.append(child)
        return set(self.found)


def pss_kib(pids):
    total = 0
    for pid in pids:
        try:
            with open(f"/proc/{pid}/smaps_rollup") as f:
                for line in f:
                    if line.startswith("Pss:"):
                        total += int(line.split()[1])
                        break
        except OSError:
            pass
    return total


def wait_until(check, timeout=120.0):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        result = check()
        if result:
            return result
        time.sleep(0.001)
    raise RuntimeError("timed out")


class Supervisor:
    name = ""

    def __init__(self, n, work, foster, fosterctl):
        self.n, self.work, self.foster, self.fosterctl = n, work, foster, fosterctl
        self.proc = None

    def prepare(self):
        pass

    def command(self):
        raise NotImplementedError

    def stop(self):
        self.proc.send_signal(signal.SIGTERM)


class Foster(Supervisor):
    name = "foster"

    def prepare(self):
        d = os.path.join(self.work, "units")
        os.makedirs(d)
        for i in range(self.n):
            with open(os.path.join(d, f"s{i}.yaml"), "w") as f:
                # restart_delay 0: restart at once after a crash, as the
                # peers do for a service that was up long enough.
                f.write(f'command: ["/bin/sleep", "{SLEEP_ARG}"]\nrestart: always\nrestart_delay: 0s\n')
        self.units = d

    def command(self):
        return [self.foster, "--services", self.units, "--socket", os.path.join(self.work, "ctl.sock")]


class S6(Supervisor):
    name = "s6-svscan"

    def prepare(self):
        self.dir = os.path.join(self.work, "scan")
        for i in range(self.n):
            d = os.path.join(self.dir, f"s{i}")
            os.makedirs(d)
            run = os.path.join(d, "run")
            with open(run, "w") as f:
                f.write(f"#!/bin/sh\nexec /bin/sleep {SLEEP_ARG}\n")
            os.chmod(run, 0o755)

    def command(self):
        return ["s6-svscan", "-c", str(max(2 * self.n, 1000)), self.dir]


class Runit(Supervisor):
    name = "runsvdir"

    prepare = S6.prepare

    def command(self):
        return ["runsvdir", self.dir]

    def stop(self):
        # runsvdir: SIGHUP tells every runsv to stop its service and exit.
        self.proc.send_signal(signal.SIGHUP)


class Supervisord(Supervisor):
    name = "supervisord"

    def prepare(self):
        self.conf = os.path.join(self.work, "supervisord.conf")
        with open(self.conf, "w") as f:
            f.write(f"[supervisord]\nnodaemon=true\nlogfile=/dev/null\npidfile={self.work}/sd.pid\n")
            f.write("[unix_http_server]\nfile=" + self.work + "/sd.sock\n")
            for i in range(self.n):
                f.write(f"[program:s{i}]\ncommand=/bin/sleep {SLEEP_ARG}\nautorestart=true\nstartsecs=0\n")

    def command(self):
        return ["supervisord", "-c", self.conf]


class Floor(Supervisor):
    name = "floor (posix_spawn)"

    def command(self):
        return [self.floor, str(self.n)]


def measure(cls, n, foster, fosterctl, floor):
    work = f"/tmp/foster-bench-{cls.__name__}-{n}"
    shutil.rmtree(work, ignore_errors=True)
    os.makedirs(work)
    sup = cls(n, work, foster, fosterctl)
    sup.floor = floor
    sup.prepare()
    t0 = time.monotonic()
    sup.proc = subprocess.Popen(sup.command(), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    root = sup.proc.pid
    watch = Watch(root)
    wait_until(lambda: len(watch.sleeps()) >= n)
    up = (time.monotonic() - t0) * 1000
    time.sleep(1.5)  # let every service be "up long enough" for restart rules
    table = proc_table()
    services = sleeps(root, table)
    own = [root] + [p for p in tree(root, table) if p not in services]
    memory = pss_kib(own)
    procs = len(own)
    restart = None
    if cls is not Floor:
        victim = min(services)
        t1 = time.monotonic()
        watch.forget(victim)
        os.kill(victim, signal.SIGKILL)
        wait_until(lambda: len(watch.sleeps()) >= n)
        restart = (time.monotonic() - t1) * 1000
        services = sleeps(root, proc_table())
    t2 = time.monotonic()
    sup.stop()

    pending = sorted(services)

    def gone():
        # One read per poll: the first service not yet seen gone (ended or
        # a zombie, as before).
        while pending:
            seen = comm_state(pending[-1])
            if seen is not None and seen[1] != "Z":
                return False
            pending.pop()
        return True

    wait_until(gone)
    down = (time.monotonic() - t2) * 1000
    try:
        sup.proc.wait(timeout=30)
    except subprocess.TimeoutExpired:
        sup.proc.kill()
        sup.proc.wait()
    shutil.rmtree(work, ignore_errors=True)
    return up, memory, procs, down, restart


def main():
    foster, fosterctl, floor = sys.argv[1], sys.argv[2], sys.argv[3]
    runs = int(os.environ.get("BENCH_SERVICE_RUNS", "3"))
    kinds = [Foster, S6, Runit, Supervisord, Floor]
    needed = {S6: "s6-svscan", Runit: "runsvdir", Supervisord: "supervisord"}
    available = [k for k in kinds if k not in needed or shutil.which(needed[k])]
    out = ["", "## Services: foster vs s6, runit, supervisord, and the floor", ""]
    out.append(
        f"N services of `sleep`, each supervisor started as an ordinary process (not PID 1), medians of {runs} runs, "
        "all measured from outside through `/proc` in the same run. *up*: start until N services run; "
        "*memory*: PSS summed over the supervisor's own processes (not the services); *down*: stop request "
        "(SIGTERM; SIGHUP for runsvdir) until every service is gone; *restart*: `kill -9` of one service until its "
        "replacement runs. The floor is `bench/floor.c` (posix_spawn N sleeps, TERM and reap them). foster's units "
        "say `restart_delay: 0s` (its default waits 1 s before a restart); the peers run at their defaults.\n"
    )
    counts = [int(c) for c in os.environ.get("BENCH_SERVICE_COUNTS", "100,1000").split(",")]
    for n in counts:
        results = {}
        for k in available:
            print(f"measuring {k.name} with {n} services", file=sys.stderr)
            samples = [measure(k, n, foster, fosterctl, floor) for _ in range(runs)]
            results[k.name] = [statistics.median(col) if None not in col else None for col in zip(*samples)]
        out.append(f"### {n} services\n")
        out.append("| | up (ms) | memory (KiB PSS) | processes | down (ms) | restart (ms) |")
        out.append("|---|---|---|---|---|---|")
        for name, (up, mem, procs, down, restart) in results.items():
            r = "-" if restart is None else f"{restart:.0f}"
            out.append(f"| {name} | {up:.0f} | {mem:.0f} | {procs:.0f} | {down:.0f} | {r} |")
        f = results["foster"]
        fl = results["floor (posix_spawn)"]
        peers = {k: v for k, v in results.items() if k not in ("foster", "floor (posix_spawn)")}
        out.append("")
        out.append(
            f"foster / floor: up {f[0] / fl[0]:.2f}, down {f[3] / fl[3]:.2f}. "
            + "foster / best peer: "
            + ", ".join(
                f"{label} {f[i] / min(v[i] for v in peers.values()):.2f}"
                for i, label in ((0, "up"), (1, "memory"), (3, "down"), (4, "restart"))
                if peers and all(v[i] for v in peers.values())
            )
            + "\n"
        )
    text = "\n".join(out) + "\n"
    print(text)
    with open(os.path.join(os.path.dirname(os.path.abspath(__file__)), "RESULTS.md"), "a") as fh:
        fh.write(text)


if __name__ == "__main__":
    main()
