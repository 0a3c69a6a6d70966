#!/bin/sh
# A stand-in for qemu-system-x86_64 in the lab tests: finds the results share in its arguments and plays the guest
# per $FAKE_QEMU_MODE (for the first attempt; $FAKE_QEMU_THEN for later ones): ok, sleep, stall, capture-fail,
# guest-error, panic, kvm, exit. It records its arguments and the pid of a child it leaves running in sleep modes.
if [ "$1" = --version ]; then echo 'QEMU emulator version 7.2.99 (fake)'; exit 0; fi
res=
for a in "$@"; do
  case "$a" in local,id=results,path=*) res=${a#local,id=results,path=}; res=${res%%,*};; esac
done
state=${FAKE_QEMU_STATE:?}
n=$(cat "$state/count" 2>/dev/null || echo 0); n=$((n + 1)); echo $n > "$state/count"
printf '%s\n' "$@" > "$state/args"
mode=$FAKE_QEMU_MODE
[ $n -gt 1 ] && [ -n "$FAKE_QEMU_THEN" ] && mode=$FAKE_QEMU_THEN
echo "SeaBIOS (fake)"
echo "vmareplay-lab: init uptime=0.50"
case $mode in
  ok|capture-fail)
    echo "vmareplay-lab: ready uptime=1.25"
    echo "ready=1.20" >> "$res/guest.env"
    echo "job_start=1.30" >> "$res/guest.env"
    if [ $mode = ok ]; then
      printf '# tracer: nop\n' > "$res/trace.txt"
      printf '{"exit_status": {"code": 0, "signal": null}}\n' > "$res/trace.meta.json"
      rc=0
    else
      printf 'half a trace' > "$res/trace.txt"
      echo " ›   Error: not root: tracefs needs root" > "$res/stderr.txt"
      rc=3
    fi
    echo "job_end=3.80" >> "$res/guest.env"
    echo "capture_exit=$rc" >> "$res/guest.env"
    echo "job_exit=0" >> "$res/guest.env"
    echo "vmareplay-lab: done uptime=3.90"
    echo "[    3.95] reboot: Power down"
    exit 0;;
  sleep|stall)
    printf 'partial' > "$res/trace.txt"
    sleep 600 &
    echo $! > "$state/child"
    [ $mode = stall ] && echo "[   30.1] rcu: INFO: rcu_preempt detected stalls on CPUs/tasks:"
    wait;;
  guest-error)
    echo "vmareplay-lab: error: insmod 9pnet_virtio failed"
    exit 0;;
  panic)
    echo "[    1.0] Kernel panic - not syncing: VFS: Unable to mount root fs"
    exit 0;;
  kvm)
    echo "KVM internal error. Suberror: 1"
    sleep 600;;
  exit)
    echo "qemu-system-x86_64: -device virtio-9p-pci: not supported" >&2
    exit 1;;
esac
