#!/usr/bin/env python3
"""Docker benchmark: the same container with foster, with Docker's bundled
tini (`docker run --init`) and with dumb-init as PID 1.

The image is foster-example:latest (container/build: a static busybox
userland), plus dumb-init from Debian with the libraries it links. Every
init runs the same command, bench/docker-main.sh: an orphan storm (100
short-lived orphans), a background process that takes 200 ms to shut down
cleanly on SIGTERM (a cache flushing, say), "READY", then a foreground sleep.

Per round and init: `docker run` (attached) to READY on its stdout (start
to ready); zombies in the container once READY has been seen and the storm
has settled (`docker exec`, counted from /proc); `docker stop` (default
10 s timeout) wall time; the container's exit code; and whether the
background process got to finish its clean shutdown (its "LEFTOVER-CLEAN"
line in the logs). Medians of ROUNDS rounds, inits interleaved. Appends
its section to bench/RESULTS.md. Run through bench/run.
"""

import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

ROUNDS = int(os.environ.get("BENCH_DOCKER_ROUNDS", "5"))
IMAGE = "foster-bench-inits:latest"
HERE = os.path.dirname(os.path.abspath(__file__))


def sh(*args, **kw):
    return subprocess.run(list(args), check=True, capture_output=True, text=True, **kw).stdout


def build_image():
    """foster-example plus dumb-init and the libraries it needs."""
    with tempfile.TemporaryDirectory() as ctx:
        files = ["/usr/bin/dumb-init"]
        for line in sh("ldd", "/usr/bin/dumb-init").splitlines():
            parts = line.split()
            path = next((p for p in parts if p.startswith("/")), None)
            if path:
                files.append(path)
        copies = []
        for i, f in enumerate(files):
            real = os.path.realpath(f)
            name = f"f{i}"
            shutil.copy(real, os.path.join(ctx, name))
            copies.append(f"COPY {name} {f}")
        shutil.copy(os.path.join(HERE, "docker-main.sh"), os.path.join(ctx, "main.sh"))
        with open(os.path.join(ctx, "Dockerfile"), "w") as d:
            d.write("FROM foster-example:latest\n" + "\n".join(copies) + "\nCOPY main.sh /bench/main.sh\n")
        sh("docker", "build", "-q", "-t", IMAGE, ctx)


INITS = {
    "foster": ["--entrypoint", "/sbin/foster", IMAGE, "--", "sh", "/bench/main.sh"],
    "tini (docker --init)": ["--init", "--entrypoint", "/bin/sh", IMAGE, "/bench/main.sh"],
    "dumb-init": ["--entrypoint", "/usr/bin/dumb-init", IMAGE, "sh", "/bench/main.sh"],
}


def zombies(name):
    out = subprocess.run(
        ["docker", "exec", name, "sh", "-c",
         "cat /proc/[0-9]*/stat 2>/dev/null | sed 's/.*) //' | cut -d' ' -f1"],
        capture_output=True, text=True).stdout
    return sum(1 for s in out.split() if s == "Z")


def round_of(init, args):
    name = f"foster-bench-{os.getpid()}"
    subprocess.run(["docker", "rm", "-f", name], capture_output=True)
    started = time.monotonic()
    run = subprocess.Popen(["docker", "run", "--name", name] + args,
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    for line in run.stdout:
        if "READY" in line:
            break
    else:
        raise RuntimeError(f"{init}: no READY")
    ready = time.monotonic() - started
    # The storm's orphans are gone when no `true` is left; then count.
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        ps = subprocess.run(["docker", "exec", name, "sh", "-c", "cat /proc/[0-9]*/cmdline | tr '\\0' ' '"],
                            capture_output=True, text=True).stdout
        if "true" not in ps.split():
            break
    z = zombies(name)
    t = time.monotonic()
    subprocess.run(["docker", "stop", name], check=True, capture_output=True)
    stop = time.monotonic() - t
    run.wait()
    code = int(sh("docker", "inspect", "-f", "{{.State.ExitCode}}", name).strip())
    logs = subprocess.run(["docker", "logs", name], capture_output=True, text=True)
    clean = "LEFTOVER-CLEAN" in logs.stdout + logs.stderr
    subprocess.run(["docker", "rm", "-f", name], capture_output=True)
    return {"ready": ready, "zombies": z, "stop": stop, "code": code, "clean": clean}


def main():
    build_image()
    runs = {init: [] for init in INITS}
    for _ in range(ROUNDS):
        for init, args in INITS.items():
            runs[init].append(round_of(init, args))
    lines = [
        "",
        "## In Docker (bench/docker.py)",
        "",
        f"Docker {sh('docker', 'version', '-f', '{{.Server.Version}}').strip()}, the same busybox image "
        f"and command (an orphan storm, a background process that needs 200 ms to shut down "
        f"cleanly on SIGTERM, then a foreground sleep); median of {ROUNDS} rounds.",
        "",
        "| | docker run → READY (ms) | zombies after the storm | `docker stop` (ms) | exit code | background process shut down cleanly |",
        "|---|---:|---:|---:|---:|---|",
    ]
    for init, rs in runs.items():
        ready = statistics.median(r["ready"] for r in rs) * 1000
        stop = statistics.median(r["stop"] for r in rs) * 1000
        codes = sorted({r["code"] for r in rs})
        clean = sum(r["clean"] for r in rs)
        z = max(r["zombies"] for r in rs)
        lines.append(f"| {init} | {ready:.0f} | {z} | {stop:.0f} | {', '.join(map(str, codes))} | {clean}/{len(rs)} |")
    lines.append("")
    lines.append("Start to READY is dominated by Docker creating the container and varies by "
                 "±100 ms from run to run: differences there are noise. "
                 "tini and dumb-init end as soon as the command does, so the kernel SIGKILLs "
                 "the background process with the container; foster sends it SIGTERM and waits "
                 "for it (up to its grace, FOSTER_GRACE in the image: 2 s).")
    text = "\n".join(lines) + "\n"
    print(text)
    with open(os.path.join(HERE, "RESULTS.md"), "a") as out:
        out.write(text)


if __name__ == "__main__":
    main()
