#!/usr/bin/env python3
# Records one workload in a private tracefs instance and saves that one buffer twice: as text (`cat trace`, what
# `vmareplay capture` saves) and as trace.dat (`trace-cmd extract -B`), so the trace.dat parser can be checked
# against the text parser on the same events (test/parse/tracedat-twins.test.ts).
#
# usage (root): [OVERWRITE=1] record_twins.py OUT_PREFIX [--clock mono] [--buffer-kb 16384] -- COMMAND ARGS...
# writes OUT_PREFIX.trace.txt, OUT_PREFIX.dat (file version 7, zstd: trace-cmd 3.1's default), and converted
# by trace-cmd from that file: OUT_PREFIX.v6.dat (version 6) and OUT_PREFIX.v7none.dat (version 7, uncompressed).
#
# The instance is set up as `vmareplay capture` sets its own (same options, events, pid filter with event-fork),
# except hash-ptr=0: trace.dat keeps raw pointers, so the text must print them raw too to be comparable.
# trace-cmd saves /proc/kallsyms (5 MB here) and the format of every event on the system (2 MB) in each
# trace.dat; to keep the files small the extract runs in a mount namespace where /proc/kallsyms shows only the
# symbols the text's %ps fields printed plus, for each, the symbol after it (so every address the text resolved
# still resolves to the same name), and tracefs' events/ only the recorded events (as `trace-cmd record -e`
# saves only those). `trace-cmd extract -B` consumes the buffer and removes the instance: the text is read first.
import os, re, shutil, subprocess, sys

OPTIONS = {'record-tgid': '1', 'event-fork': '1', 'overwrite': os.environ.get('OVERWRITE', '0'), 'irq-info': '1', 'context-info': '1',
           'markers': '1', 'hash-ptr': '0', 'raw': '0', 'hex': '0', 'bin': '0', 'latency-format': '0',
           'stacktrace': '0', 'userstacktrace': '0', 'verbose': '0'}
MM_SYSCALLS = ['mmap', 'munmap', 'mprotect', 'pkey_mprotect', 'mremap', 'brk', 'madvise', 'mlock', 'mlock2',
               'munlock', 'mlockall', 'munlockall']
EVENTS = (['exceptions/page_fault_user', 'exceptions/page_fault_kernel', 'raw_syscalls/sys_enter', 'raw_syscalls/sys_exit',
           'mmap_lock/mmap_lock_start_locking', 'mmap_lock/mmap_lock_acquire_returned', 'mmap_lock/mmap_lock_released',
           'mmap/vm_unmapped_area', 'mmap/exit_mmap', 'sched/sched_process_fork', 'sched/sched_process_exec',
           'sched/sched_process_exit', 'task/task_newtask']
          + [f'syscalls/sys_{d}_{s}' for s in MM_SYSCALLS for d in ('enter', 'exit')]
          + ['filemap/mm_filemap_add_to_page_cache', 'filemap/mm_filemap_delete_from_page_cache', 'filemap/mm_filemap_fault',
             'filemap/mm_filemap_map_pages', 'filemap/mm_filemap_get_pages', 'readahead/page_cache_sync_ra',
             'readahead/page_cache_async_ra'])


def write(path, value):
    with open(path, 'w') as f:
        f.write(value)


def trimmed_kallsyms(text_path, out_path):
    used = set()
    with open(text_path, errors='replace') as f:
        for line in f:
            for m in re.finditer(r'\b(?:address|ip)=([A-Za-z_][\w.]*)', line):
                used.add(m.group(1))
    rows = []
    with open('/proc/kallsyms') as f:
        for line in f:
            parts = line.split()
            if len(parts) >= 3:
                rows.append((int(parts[0], 16), parts[2], line))
    rows.sort(key=lambda r: r[0])
    keep = set()
    for i, (addr, name, _) in enumerate(rows):
        if name in used:
            keep.add(i)
            j = i + 1
            while j < len(rows) and rows[j][0] == addr:
                j += 1
            if j < len(rows):
                keep.add(j)
    with open(out_path, 'w') as f:
        f.writelines(rows[i][2] for i in sorted(keep))
    return len(used)


def events_dir(out_dir):
    top = '/sys/kernel/tracing/events'
    os.mkdir(out_dir)
    for f in ('header_page', 'header_event'):
        with open(f'{top}/{f}') as src:
            write(f'{out_dir}/{f}', src.read())
    wanted = EVENTS + [f'ftrace/{e}' for e in os.listdir(f'{top}/ftrace') if os.path.isdir(f'{top}/ftrace/{e}')]
    for e in wanted:
        if not os.path.exists(f'{top}/{e}/format'):
            continue
        os.makedirs(f'{out_dir}/{e}')
        with open(f'{top}/{e}/format') as src:
            write(f'{out_dir}/{e}/format', src.read())


def main():
    args = sys.argv[1:]
    if '--' not in args or args.index('--') < 1:
        sys.exit('usage: record_twins.py OUT_PREFIX [--clock mono] [--buffer-kb 16384] -- COMMAND ARGS...')
    cut = args.index('--')
    prefix, opts, command = args[0], args[1:cut], args[cut + 1:]
    clock = opts[opts.index('--clock') + 1] if '--clock' in opts else 'mono'
    buffer_kb = opts[opts.index('--buffer-kb') + 1] if '--buffer-kb' in opts else '16384'
    name = f'vmr-twins-{os.getpid()}'
    inst = f'/sys/kernel/tracing/instances/{name}'
    os.mkdir(inst)
    try:
        write(f'{inst}/tracing_on', '0')
        write(f'{inst}/trace_clock', clock)
        for k, v in OPTIONS.items():
            if os.path.exists(f'{inst}/options/{k}'):
                write(f'{inst}/options/{k}', v)
        write(f'{inst}/buffer_size_kb', buffer_kb)
        for e in EVENTS:
            if os.path.exists(f'{inst}/events/{e}/enable'):
                write(f'{inst}/events/{e}/enable', '1')
        write(f'{inst}/trace', '')
        # the shell puts itself in the pid filter, turns tracing on and becomes the command
        # (TRACE_MARKER names the instance's trace_marker, for commands that write markers)
        subprocess.run(['bash', '-c', f'echo $$ > {inst}/set_event_pid; echo 1 > {inst}/tracing_on; exec "$@"', 'sh'] + command, check=True,
                       env={**os.environ, 'TRACE_MARKER': f'{inst}/trace_marker'})
        write(f'{inst}/tracing_on', '0')
        with open(f'{inst}/trace', 'rb') as src, open(f'{prefix}.trace.txt', 'wb') as dst:
            dst.write(src.read())
        ks = f'{prefix}.kallsyms.tmp'
        n = trimmed_kallsyms(f'{prefix}.trace.txt', ks)
        ev = f'{prefix}.events.tmp'
        events_dir(ev)
        subprocess.run(['unshare', '-m', 'sh', '-c', f'mount --bind {ks} /proc/kallsyms && mount --bind {ev} /sys/kernel/tracing/events && '
                        f'trace-cmd extract -B {name} -o {prefix}.dat'], check=True, stdout=subprocess.DEVNULL)
        os.unlink(ks)
        shutil.rmtree(ev)
        subprocess.run(['trace-cmd', 'convert', '-i', f'{prefix}.dat', '-o', f'{prefix}.v6.dat', '--file-version', '6'], check=True, stdout=subprocess.DEVNULL)
        subprocess.run(['trace-cmd', 'convert', '-i', f'{prefix}.dat', '-o', f'{prefix}.v7none.dat', '--compression', 'none'], check=True, stdout=subprocess.DEVNULL)
        print(f'{prefix}: text and trace.dat of one buffer ({n} kernel symbols kept in kallsyms)')
    finally:
        if os.path.isdir(inst):
            os.rmdir(inst)


main()
