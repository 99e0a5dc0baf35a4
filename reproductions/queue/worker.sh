#!/bin/bash
# worker.sh CORE JOBFILE: runs the lines of JOBFILE (from jobs.py) one at a time, pinned to
# CPU core CORE, taking each from the top of the file under a lock so that several workers can
# share one file. Output goes to JOBFILE.coreCORE.log; each start and end to JOBFILE.log.
set -u
core=$1
jobfile=$(realpath "$2")
while true; do
  job=$(flock "$jobfile.lock" bash -c 'head -n 1 "$1" && sed -i 1d "$1"' _ "$jobfile")
  [ -z "$job" ] && break
  echo "$(date -u +%FT%TZ) start core $core: $job" >> "$jobfile.log"
  taskset -c "$core" bash -c "$job" >> "$jobfile.core$core.log" 2>&1
  code=$?
  echo "$(date -u +%FT%TZ) end (exit $code) core $core: $job" >> "$jobfile.log"
done
