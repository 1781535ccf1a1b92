#!/bin/sh
# The main command: starts once every service is up; its exit status is the
# container's. Here it serves as a smoke test and then stays up until
# `docker stop`.
# `web` counts as up once started (a simple service): httpd may not be
# listening yet, so the first fetch is retried for up to 5 s.
tries=0
until wget -q -O - http://127.0.0.1:8080/; do
    tries=$((tries + 1))
    [ "$tries" -lt 50 ] || exit 1
    sleep 0.1
done
fosterctl status
trap 'echo "main: stopping"; exit 0' TERM
# `wait` returns the moment SIGTERM arrives; a foreground sleep would
# hold the trap back until it ends.
sleep 2147483647 &
wait $!
