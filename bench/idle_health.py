#!/usr/bin/env python3
"""Idle stays idle with health checks and a watchdog (issue 15, item 6).

foster (as an ordinary process, a child subreaper) runs four services
that sleep: three probed every 30 s (an exec probe running `true`, a `tcp:`
probe of a socket foster holds, an `http:` probe of a tiny server), and
one with `watchdog: 30s` that pings with `fosterctl notify WATCHDOG=1`
every 15 s. Over MINUTES (default 2) minutes after a settling pause, the
times foster was scheduled (the second field of /proc/PID/schedstat is
time, the third the count of timeslices: each wakeup from epoll_wait is
one) are counted, and compared with the same four services without health
checks or watchdog, where foster should not wake at all.

Usage: idle_health.py FOSTER FOSTERCTL. Appends its section to
bench/RESULTS.md.
"""

import os
import shutil
import socket
import subprocess
import sys
import time

MINUTES = float(os.environ.get("IDLE_MINUTES", "2"))
WORK = "/tmp/foster-bench-idle-health"
HTTP_SERVER = (
    "import socket,sys\n"
    "s=socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)\n"
    "s.bind(('127.0.0.1', int(sys.argv[1]))); s.listen(16)\n"
    "while True:\n"
    "    c,_=s.accept(); c.recv(1024)\n"
    "    c.sendall(b'HTTP/1.0 200 OK\\r\\nContent-Length: 3\\r\\n\\r\\nok\\n'); c.close()\n"
)


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def units(probed, fosterctl, work):
    tcp, http = free_port(), free_port()
    server = os.path.join(work, "http_server.py")
    with open(server, "w") as f:
        f.write(HTTP_SERVER)
    out = {
        "exec.yaml": 'command: [sleep, "100000"]\n',
        "tcp.yaml": f'command: [sleep, "100001"]\nsockets:\n  - listen: "127.0.0.1:{tcp}"\n',
        "http.yaml": f'command: ["{sys.executable}", "{server}", "{http}"]\n',
        "pinger.yaml": f'command: [sleep, "100002"]\n',
    }
    if probed:
        out["exec.yaml"] += "health:\n  exec: [true]\n  interval: 30s\n"
        out["tcp.yaml"] += f'health:\n  tcp: "127.0.0.1:{tcp}"\n  interval: 30s\n'
        out["http.yaml"] += f'health:\n  http: "http://127.0.0.1:{http}/"\n  interval: 30s\n'
        out["pinger.yaml"] = (
            f"command: [/bin/sh, -c, 'while sleep 15; do {fosterctl} notify WATCHDOG=1; done']\n"
            "watchdog: 30s\n"
        )
    return out


def wakeups(foster, fosterctl, probed):
    work = os.path.join(WORK, "probed" if probed else "plain")
    shutil.rmtree(work, ignore_errors=True)
    os.makedirs(os.path.join(work, "units"))
    ctl = os.path.join(work, "ctl.sock")
    for name, text in units(probed, fosterctl, work).items():
        with open(os.path.join(work, "units", name), "w") as f:
            f.write(text)
    proc = subprocess.Popen(
        [foster, "--socket", ctl, "--services", os.path.join(work, "units")],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            out = subprocess.run([fosterctl, "--socket", ctl, "status", "--json"],
                                 capture_output=True, text=True).stdout
            if out.count('"state":"running"') == 4:
                break
            time.sleep(0.1)
        else:
            raise RuntimeError("the services never all ran")
        time.sleep(2)  # start-up settles
        with open(f"/proc/{proc.pid}/schedstat") as f:
            before = int(f.read().split()[2])
        time.sleep(MINUTES * 60)
        with open(f"/proc/{proc.pid}/schedstat") as f:
            after = int(f.read().split()[2])
        status = subprocess.run([fosterctl, "--socket", ctl, "status", "--json"],
                                capture_output=True, text=True).stdout
        healthy = status.count('"health":"healthy"')
        restarts = sum(int(p.split(",")[0]) for p in status.split('"restarts":')[1:])
        return (after - before) / MINUTES, healthy, restarts
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def main():
    foster, fosterctl = sys.argv[1], sys.argv[2]
    shutil.rmtree(WORK, ignore_errors=True)
    plain, _, _ = wakeups(foster, fosterctl, False)
    probed, healthy, restarts = wakeups(foster, fosterctl, True)
    shutil.rmtree(WORK, ignore_errors=True)
    # Each minute: 2 probes of each of 3 services, and 4 pings.
    events = 3 * 2 + 4
    text = "\n".join([
        "",
        "## Idle with health checks and a watchdog",
        "",
        f"Measured {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())} over {MINUTES:g} minutes each.",
        "",
        "| | wakeups of foster per minute |",
        "|---|---|",
        f"| four sleeping services, no health checks, no watchdog | {plain:.1f} |",
        f"| the same, three probed every 30 s (exec, tcp, http) and one with `watchdog: 30s` pinged every 15 s | {probed:.1f} |",
        "",
        f"{events} events a minute are due in the second row (6 probes, 4 pings): "
        f"{probed / events:.1f} wakeups each. All three probed services were healthy at the end "
        f"({healthy} of 3), with {restarts} restarts.",
        "",
        "Method: `bench/idle_health.py`. foster (the static build, as an ordinary process, a child "
        "subreaper) runs four services; a wakeup is a timeslice of foster's (the third field of "
        "`/proc/PID/schedstat`), counted over the measured minutes after 2 s of settling. The exec "
        "probe runs `true`, the tcp probe connects to a socket foster holds, the http probe asks "
        "a small Python server; the watchdog service runs `fosterctl notify WATCHDOG=1` every 15 s. "
        "A probe is a timer expiry, then its own events (a spawn and its SIGCHLD and output pipe, or "
        "a connection becoming writable and readable); a ping is one datagram.",
    ]) + "\n"
    print(text)
    with open(os.path.join(os.path.dirname(os.path.abspath(__file__)), "RESULTS.md"), "a") as fh:
        fh.write(text)


if __name__ == "__main__":
    main()
