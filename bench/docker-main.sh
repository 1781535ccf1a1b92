#!/bin/sh
# The command every init runs in bench/docker.py.
i=0
while [ $i -lt 100 ]; do sh -c 'true &'; i=$((i + 1)); done
sh -c 'trap "sleep 0.2; echo LEFTOVER-CLEAN; exit 0" TERM; while :; do sleep 1; done' &
echo READY
exec sleep 100000
