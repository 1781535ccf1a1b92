#!/usr/bin/env python3
"""Restarts under load: what clients see while a server is restarted.

One server (bench/restart-server.c: one process, a short HTTP/1.0 answer
per connection, 50 ms of start-up before it serves, graceful on SIGTERM)
is restarted RESTARTS_N times (default 10) under each supervisor while
four client threads send requests one after another, each on a new
connection. Counted: requests answered, connections refused, requests
that failed otherwise (reset, timeout, short answer), and the longest a
client waited for one answer (connect to the end of the reply; a refused
connection is retried at once and the wait goes on, so that the time a
client spends refused counts). Contestants, in one run, all restarting the
same server the same way:

- foster holding the socket (`sockets:`), `restart_mode: stop-start`;
- foster holding the socket, `restart_mode: overlap` (`type: notify`: the
  server says READY=1);
- foster without held sockets (the server binds its port itself);
- s6-svscan (`s6-svc -r`), runsvdir (`sv restart`), supervisord
  (`supervisorctl restart`), the server binding its port itself: they have
  no socket to pass.

Each restart command is waited for, then its new run (until it serves,
at most 10 s), then 1.2 s pass before the next (runsv and s6-supervise hold back
a run that lived under a second).
Usage: restarts.py FOSTER FOSTERCTL SERVER. Appends its section to
bench/RESULTS.md. Needs root only for nothing; runs anywhere.
"""

import errno
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time

RESTARTS = int(os.environ.get("RESTARTS_N", "10"))
CLIENTS = 4
# runsv and s6-supervise hold back a run that lived under a second; every
# run here lives longer, so no contestant is braked.
PAUSE = 1.2
WORK = "/tmp/foster-bench-restarts"
REQUEST = b"GET / HTTP/1.0\r\nHost: localhost\r\n\r\n"


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


class Load:
    """CLIENTS threads asking one request after another."""

    def __init__(self, port):
        self.port = port
        self.stop = threading.Event()
        self.lock = threading.Lock()
        self.answered = self.refused = self.failed = 0
        self.longest = 0.0
        self.threads = [threading.Thread(target=self.client, daemon=True) for _ in range(CLIENTS)]

    def client(self):
        while not self.stop.is_set():
            began = time.monotonic()
            outcome = None
            while outcome is None and not self.stop.is_set():
                try:
                    with socket.create_connection(("127.0.0.1", self.port), timeout=5) as s:
                        s.settimeout(5)
                        s.sendall(REQUEST)
                        data = b""
                        while True:
                            chunk = s.recv(4096)
                            if not chunk:
                                break
                            data += chunk
                    outcome = "answered" if data.endswith(b"ok\n") else "failed"
                except ConnectionRefusedError:
                    with self.lock:
                        self.refused += 1
                    # Asked again at once: the wait goes on.
                except OSError:
                    outcome = "failed"
            if outcome is None:
                return
            waited = time.monotonic() - began
            with self.lock:
                if outcome == "answered":
                    self.answered += 1
                else:
                    self.failed += 1
                self.longest = max(self.longest, waited)

    def start(self):
        for t in self.threads:
            t.start()

    def finish(self):
        self.stop.set()
        for t in self.threads:
            t.join(timeout=10)


def serving(port):
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1) as s:
            s.sendall(REQUEST)
            return s.recv(4096).startswith(b"HTTP/1.0 200")
    except OSError:
        return False


def wait_until(check, timeout=30.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.01)
    raise RuntimeError("timed out")


class Contestant:
    name = ""

    def __init__(self, work, port, tools):
        self.work, self.port, self.tools = work, port, tools
        self.log = os.path.join(work, "server.log")
        self.proc = None
        os.makedirs(work)

    def server_argv(self):
        return [self.tools["server"], str(self.port), self.log]

    def runs(self):
        try:
            with open(self.log) as f:
                return len(f.read().split())
        except OSError:
            return 0

    def start(self):
        self.proc = subprocess.Popen(
            self.command(), cwd=self.work, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            start_new_session=True,
        )

    def stop(self):
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait()


class Foster(Contestant):
    mode = "stop-start"
    held = True

    def command(self):
        units = os.path.join(self.work, "units")
        os.makedirs(units)
        argv = ", ".join(f'"{a}"' for a in self.server_argv())
        unit = f"command: [{argv}]\nrestart: always\nrestart_delay: 0s\n"
        if self.held:
            unit += f'sockets:\n  - listen: "127.0.0.1:{self.port}"\n'
        if self.mode == "overlap":
            unit += "type: notify\nrestart_mode: overlap\n"
        with open(os.path.join(units, "web.yaml"), "w") as f:
            f.write(unit)
        self.ctl = os.path.join(self.work, "ctl.sock")
        return [self.tools["foster"], "--socket", self.ctl, "--services", units]

    def restart(self):
        subprocess.run([self.tools["fosterctl"], "--socket", self.ctl, "restart", "web"],
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True)


class FosterHeld(Foster):
    name = "foster, held socket, stop-start"


class FosterOverlap(Foster):
    name = "foster, held socket, overlap"
    mode = "overlap"


class FosterUnheld(Foster):
    name = "foster, no held socket"
    held = False


def write_run(directory, argv):
    os.makedirs(directory)
    run = os.path.join(directory, "run")
    with open(run, "w") as f:
        f.write("#!/bin/sh\nexec " + " ".join(argv) + "\n")
    os.chmod(run, 0o755)


class S6(Contestant):
    name = "s6-svscan (s6-svc -r)"

    def command(self):
        self.scan = os.path.join(self.work, "scan")
        write_run(os.path.join(self.scan, "web"), self.server_argv())
        return ["s6-svscan", self.scan]

    def restart(self):
        subprocess.run(["s6-svc", "-r", os.path.join(self.scan, "web")], check=True)

    def stop(self):
        subprocess.run(["s6-svscanctl", "-t", self.scan], check=False)
        super().stop()


class Runit(Contestant):
    name = "runsvdir (sv restart)"

    def command(self):
        self.dir = os.path.join(self.work, "sv")
        write_run(os.path.join(self.dir, "web"), self.server_argv())
        return ["runsvdir", self.dir]

    def restart(self):
        subprocess.run(["sv", "restart", os.path.join(self.dir, "web")],
                       stdout=subprocess.DEVNULL, check=False)

    def stop(self):
        self.proc.send_signal(signal.SIGHUP)
        try:
            self.proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait()


class Supervisord(Contestant):
    name = "supervisord (supervisorctl restart)"

    def command(self):
        self.conf = os.path.join(self.work, "supervisord.conf")
        sock = os.path.join(self.work, "sd.sock")
        with open(self.conf, "w") as f:
            f.write(f"[supervisord]\nnodaemon=true\nlogfile=/dev/null\npidfile={self.work}/sd.pid\n")
            f.write(f"[unix_http_server]\nfile={sock}\n")
            f.write("[rpcinterface:supervisor]\n"
                    "supervisor.rpcinterface_factory = supervisor.rpcinterface:make_main_rpcinterface\n")
            f.write(f"[supervisorctl]\nserverurl=unix://{sock}\n")
            f.write(f"[program:web]\ncommand={' '.join(self.server_argv())}\nautorestart=true\n")
        return ["supervisord", "-c", self.conf]

    def restart(self):
        subprocess.run(["supervisorctl", "-c", self.conf, "restart", "web"],
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=False)


def kill_leftovers(server):
    """Any server left from a contestant that did not stop it."""
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as f:
                if f.read().split(b"\0")[0] == server.encode():
                    os.kill(int(pid), signal.SIGKILL)
        except OSError:
            pass


def measure(cls, tools):
    port = free_port()
    c = cls(os.path.join(WORK, cls.__name__), port, tools)
    c.start()
    try:
        wait_until(lambda: serving(port))
        first = c.runs()
        load = Load(port)
        load.start()
        time.sleep(PAUSE)
        for n in range(RESTARTS):
            c.restart()
            # The restart is done once the new run serves (a supervisor
            # may return before, or delay it): every contestant does all.
            try:
                wait_until(lambda: c.runs() >= first + n + 1, timeout=10)
            except RuntimeError:
                pass
            time.sleep(PAUSE)
        load.finish()
        restarts = c.runs() - first
    finally:
        c.stop()
        kill_leftovers(tools["server"])
    return {
        "name": cls.name, "restarts": restarts, "answered": load.answered,
        "refused": load.refused, "failed": load.failed, "longest_ms": load.longest * 1000,
    }


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


def main():
    tools = {"foster": sys.argv[1], "fosterctl": sys.argv[2], "server": sys.argv[3]}
    shutil.rmtree(WORK, ignore_errors=True)
    os.makedirs(WORK)
    contestants = [FosterHeld, FosterOverlap, FosterUnheld]
    missing = []
    for cls, tool in [(S6, "s6-svscan"), (Runit, "runsvdir"), (Supervisord, "supervisord")]:
        (contestants.append(cls) if shutil.which(tool) else missing.append(cls.name))
    rows = [measure(cls, tools) for cls in contestants]
    shutil.rmtree(WORK, ignore_errors=True)
    out = [
        "",
        "## Restarts under load: refused and failed requests",
        "",
        f"Measured {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())} on {machine()}; "
        f"{RESTARTS} restarts each, {CLIENTS} clients.",
        "",
        "| | restarts done | answered | refused | failed | longest wait (ms) |",
        "|---|---|---|---|---|---|",
    ]
    for r in rows:
        out.append(f"| {r['name']} | {r['restarts']} | {r['answered']} | {r['refused']} | "
                   f"{r['failed']} | {r['longest_ms']:.0f} |")
    peers = [r for r in rows if not r["name"].startswith("foster")]
    held = [r for r in rows if r["name"].startswith("foster, held")]
    if peers and held:
        best = min(peers, key=lambda r: (r["refused"] + r["failed"], r["longest_ms"]))
        out.append("")
        out.append(
            f"Refused or failed requests: foster with a held socket {min(r['refused'] + r['failed'] for r in held)}, "
            f"the best peer ({best['name']}) {best['refused'] + best['failed']}. Longest wait: foster with a "
            f"held socket {min(r['longest_ms'] for r in held):.0f} ms, that peer {best['longest_ms']:.0f} ms."
        )
    if missing:
        out.append("")
        out.append("Not measured (not installed): " + ", ".join(missing) + ".")
    out.append("")
    out.append(
        "Method: `bench/restarts.py`. The server is `bench/restart-server.c`: one process that sleeps "
        "50 ms (its start-up) before it serves, then answers each connection with a short HTTP/1.0 "
        "reply and closes it; it takes its socket from `LISTEN_FDS` when foster holds one, else binds "
        "the port itself (SO_REUSEADDR, backlog 4096); SIGTERM is graceful (the reply being written is "
        "finished). Four client threads each connect, send a request and read the reply to its end, "
        "one request after another, for the whole run. *refused*: connections refused "
        "(ECONNREFUSED), each retried at once; *failed*: a reset, a 5 s timeout or a short reply; "
        "*longest wait*: from the first connect of a request, refusals included, to the end of its "
        "reply. Each restart command is waited for (`fosterctl restart`, `s6-svc -r`, `sv restart`, "
        "`supervisorctl restart`), then the server's new run (it logs its PID when it serves; at "
        "most 10 s), then 1.2 s pass before the next, so that no run is younger than the second under which runsv and s6-supervise hold a restart back; *restarts done* counts the server's new runs. foster's units say `restart_delay: 0s`; the peers run at their defaults "
        "(s6-supervise waits for a service that died within a second of its start; supervisord's "
        "`startsecs` is 1 s). With `restart_mode: overlap` the unit is `type: notify` and the server "
        "sends READY=1: the old run is stopped once the new one is ready."
    )
    text = "\n".join(out) + "\n"
    print(text)
    with open(os.path.join(os.path.dirname(os.path.abspath(__file__)), "RESULTS.md"), "a") as fh:
        fh.write(text)


if __name__ == "__main__":
    main()
