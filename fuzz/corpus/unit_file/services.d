==> services.d/heartbeat.yaml <==
# A long-running service that starts once `setup` has finished well, and
# is restarted (with a growing delay) if it fails.
command: ["/bin/sh", "-c", "echo 'heartbeat: up'; while :; do date > /tmp/foster-example/heartbeat; sleep 10; done"]
depends_on: [setup]
restart: on-failure
restart_delay: 1s
stop_timeout: 3s

==> services.d/legacy.yaml <==
# A self-daemonizing program, the old way: the launcher forks, the child
# detaches (setsid) and writes a pidfile, and the launcher exits 0.
type: forking
pidfile: /tmp/foster-example/legacy.pid
command: ["/bin/sh", "-c", "setsid sh -c 'echo $$ > /tmp/foster-example/legacy.pid; exec sleep 100000' </dev/null >/dev/null 2>&1 & echo 'legacy: launched'"]
depends_on: [setup]

==> services.d/setup.yaml <==
# A oneshot: runs once before the services that depend on it. Its exit
# status decides: 0 lets them start, anything else fails them.
type: oneshot
command: ["/bin/sh", "-c", "mkdir -p /tmp/foster-example && date > /tmp/foster-example/setup-ran-at && echo 'setup: prepared /tmp/foster-example'"]

==> services.d/ticker.yaml <==
# A notify service: foster counts it ready only when it says so on
# $NOTIFY_SOCKET (the sd_notify protocol; systemd-notify works as well as
# `fosterctl notify`). Services that depend on it wait until then.
type: notify
command: ["/bin/sh", "-c", "echo 'ticker: warming up'; sleep 1; fosterctl notify READY=1 STATUS=ticking; while :; do sleep 30; done"]
depends_on: [setup]
start_timeout: 10s
