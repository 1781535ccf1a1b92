#!/usr/bin/env python3
"""Logs under a flood (issue 16, item 5): foster's memory and throughput.

Ten services (`log: prefix`, the default `log_buffer: 64K` each) each
write SIZE_MB (default 100) MB of 80-byte lines as fast as they can
(`yes LINE | head -c N`), while this script reads foster's stdout through a
pipe as fast as it can. Measured: the wall time until every service's last
line came out, and foster's peak RSS (VmHWM) against its RSS once started;
and the same ten writers writing straight into one pipe read the same way,
without foster, for the throughput ratio.

Then `fosterctl logs -f`'s latency: a service prints the wall clock
(`date +%s%N`) every 100 ms; a follower connected to the control socket
(`logs -f -n 0 ticker`) reads each line and subtracts the time in it from
its own clock when the line arrived (one machine, one clock).

Usage: logs.py FOSTER FOSTERCTL. Appends its section to bench/RESULTS.md.
"""

import os
import shutil
import statistics
import subprocess
import sys
import time

SIZE_MB = int(os.environ.get("LOGS_SIZE_MB", "100"))
SERVICES = 10
WORK = "/tmp/foster-bench-logs"
LINE = "x" * 79  # with its newline, 80 bytes


def writer(i):
    return f"yes {LINE} | head -c {SIZE_MB * 1024 * 1024}; echo done-{i}"


def status_kib(pid, key):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(key + ":"):
                return int(line.split()[1])
    return 0


def drain(stream, want_done, on_chunk=None):
    """Reads `stream` to the last `done-N` line; bytes read."""
    seen, total, tail = set(), 0, b""
    while len(seen) < want_done:
        chunk = os.read(stream.fileno(), 1 << 20)
        if not chunk:
            raise RuntimeError(f"output ended with {len(seen)} of {want_done} writers done")
        total += len(chunk)
        data = tail + chunk
        start = 0
        while True:
            at = data.find(b"done-", start)
            if at < 0:
                break
            end = data.find(b"\n", at)
            if end < 0:
                break
            seen.add(data[at:end])
            start = end
        tail = data[-64:]
        if on_chunk:
            on_chunk()
    return total


def through_foster(foster):
    units = os.path.join(WORK, "units")
    os.makedirs(units)
    for i in range(SERVICES):
        with open(os.path.join(units, f"w{i}.yaml"), "w") as f:
            f.write(f"type: oneshot\ncommand: \"{writer(i)}\"\nlog: prefix\n")
    # A main command that outlives the writers, so foster stays up.
    proc = subprocess.Popen(
        [foster, "--services", units, "--socket", os.path.join(WORK, "ctl.sock"), "--",
         "sleep", "100000"],
        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
    )
    try:
        time.sleep(0)  # foster starts
        started = time.monotonic()
        first_rss = None
        samples = []

        def sample():
            nonlocal first_rss
            rss = status_kib(proc.pid, "VmRSS")
            if first_rss is None:
                first_rss = rss
            samples.append(rss)

        total = drain(proc.stdout, SERVICES, sample)
        elapsed = time.monotonic() - started
        hwm = status_kib(proc.pid, "VmHWM")
        rss_end = status_kib(proc.pid, "VmRSS")
        return elapsed, total, hwm, rss_end, max(samples) if samples else 0, first_rss or 0
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def follow_latency(foster, samples=50):
    """ms from a service writing a line to a `logs -f` client reading it."""
    units = os.path.join(WORK, "follow-units")
    os.makedirs(units)
    with open(os.path.join(units, "ticker.yaml"), "w") as f:
        f.write('command: "while :; do date +%s%N; sleep 0.1; done"\nlog: plain\n')
    sock = os.path.join(WORK, "follow.sock")
    proc = subprocess.Popen([foster, "--services", units, "--socket", sock],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 20
        while not os.path.exists(sock):
            if time.monotonic() > deadline:
                raise RuntimeError("no control socket")
            time.sleep(0.05)
        import socket as sk
        c = sk.socket(sk.AF_UNIX, sk.SOCK_STREAM)
        c.connect(sock)
        c.sendall(b"logs -f -n 0 ticker\n")
        f = c.makefile("rb")
        if f.readline().strip() != b"ok":
            raise RuntimeError("logs -f refused")
        got = []
        while len(got) < samples:
            line = f.readline()
            now = time.time_ns()
            if not line:
                raise RuntimeError("the follower was closed")
            stamp = line.rsplit(b" ", 1)[-1].strip()
            if stamp.isdigit():
                got.append((now - int(stamp)) / 1e6)
        c.close()
        got.sort()
        return statistics.median(got), got[-1]
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def straight():
    script = " & ".join(f"( {writer(i)} )" for i in range(SERVICES)) + "; wait"
    proc = subprocess.Popen(["/bin/sh", "-c", script], stdout=subprocess.PIPE)
    started = time.monotonic()
    total = drain(proc.stdout, SERVICES)
    elapsed = time.monotonic() - started
    proc.wait(timeout=30)
    return elapsed, total


def main():
    foster = sys.argv[1]
    shutil.rmtree(WORK, ignore_errors=True)
    os.makedirs(WORK)
    f_time, f_bytes, hwm, rss_end, rss_max, rss_first = through_foster(foster)
    d_time, d_bytes = straight()
    lat_median, lat_max = follow_latency(foster)
    shutil.rmtree(WORK, ignore_errors=True)
    mb = SERVICES * SIZE_MB
    bound = SERVICES * 64 + 64
    text = "\n".join([
        "",
        "## Logs under a flood: memory and throughput",
        "",
        f"Measured {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}; {SERVICES} services "
        f"writing {SIZE_MB} MB each ({mb:,} MB in all) of 80-byte lines.",
        "",
        "| | wall time (s) | MB/s of service output | foster's RSS (KiB): first sample → peak (VmHWM) |",
        "|---|---|---|---|",
        f"| through foster (`log: prefix`, 64K buffer each) | {f_time:.2f} | {mb / f_time:,.0f} | "
        f"{rss_first:,} → {hwm:,} |",
        f"| straight into one pipe, no foster | {d_time:.2f} | {mb / d_time:,.0f} | — |",
        "",
        f"foster / straight: time {f_time / d_time:.2f}. foster's peak RSS grew "
        f"{hwm - rss_first:,} KiB over its first sample, against {bound:,} KiB of buffers it may "
        f"hold (ten 64 KiB log buffers and the relay's 64 KiB writer); at the end its RSS was "
        f"{rss_end:,} KiB. Bytes read: {f_bytes:,} through foster (each line with its `wN | ` "
        f"prefix), {d_bytes:,} straight.",
        "",
        f"`fosterctl logs -f`: a line reaches the follower {lat_median:.1f} ms (median of 50; "
        f"longest {lat_max:.1f} ms) after the service wrote it, `date` and the follower's "
        f"reading included.",
        "",
        "Method: `bench/logs.py`. foster (the static build, a child subreaper) runs ten `type: "
        "oneshot` units `yes LINE | head -c N; echo done-I` with `log: prefix`, and `sleep` as its "
        "main command; this script reads foster's stdout with 1 MiB reads until every `done-I` "
        "came, sampling foster's VmRSS after each read, then reads VmHWM (the peak). The straight "
        "run starts the same ten writers in one shell, all into one pipe, read the same way.",
    ]) + "\n"
    print(text)
    with open(os.path.join(os.path.dirname(os.path.abspath(__file__)), "RESULTS.md"), "a") as fh:
        fh.write(text)


if __name__ == "__main__":
    main()
