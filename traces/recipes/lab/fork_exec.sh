#!/bin/sh
# Lab workload "fork_exec": a fork/exec loop (run: sh THIS [N=30]). Each iteration forks the shell and execs
# /bin/true, then a pipeline of two short-lived programs: dup_mmap, exec (a new mm, ELF loading faults), exit_mmap.
n=${1:-30}
i=0
while [ "$i" -lt "$n" ]; do
  /bin/true
  echo "$i" | /bin/cat > /dev/null
  i=$((i + 1))
done
echo done
