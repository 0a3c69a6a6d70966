# Small multi-threaded mmap workload for `vmareplay capture` sample traces (run: /usr/bin/python3 -S THIS).
# usage: py_threads_small.py [ROUNDS=2] [KIB=1024] [THREADS=3]
# THREADS "toucher" threads each map an anonymous KIB-KiB region per round, write one byte per page,
# madvise(MADV_DONTNEED) the first half, read every other page and munmap it (sleeping 2 ms every
# 16 pages). Meanwhile a "churner" thread maps 64 KiB regions (mmap.mmap(-1, n) = MAP_SHARED anonymous,
# i.e. shmem), writes to two pages, mprotect()s the first half read-only and back (via ctypes: splits
# and re-merges the VMA) and unmaps the oldest, so VMA changes (mmap_lock writers) race with the other
# threads' page faults in the same mm.
import ctypes, mmap, threading, time, sys

PAGE = 4096
ROUNDS = int(sys.argv[1]) if len(sys.argv) > 1 else 2
SIZE = (int(sys.argv[2]) if len(sys.argv) > 2 else 1024) << 10
THREADS = int(sys.argv[3]) if len(sys.argv) > 3 else 3
sys.setswitchinterval(0.0005)                 # hand the GIL around more often than every 5 ms
libc = ctypes.CDLL(None, use_errno=True)
libc.mprotect.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int]


def toucher(idx):
    for r in range(ROUNDS):
        m = mmap.mmap(-1, SIZE, flags=mmap.MAP_PRIVATE | mmap.MAP_ANONYMOUS)
        for n, off in enumerate(range(0, SIZE, PAGE)):
            m[off] = (idx + r) & 0xff          # write fault per page
            if n % 16 == 15:
                time.sleep(0.002)               # let the churner run
        m.madvise(mmap.MADV_DONTNEED, 0, SIZE // 2)
        s = 0
        for off in range(0, SIZE, PAGE * 2):
            s += m[off]                         # read faults (zero page in the DONTNEED half)
        m.close()                               # munmap


def churner(stop):
    keep = []
    while not stop.is_set():
        m = mmap.mmap(-1, 16 * PAGE)            # mmap
        m[0] = 1
        m[8 * PAGE] = 1
        buf = ctypes.c_char.from_buffer(m)
        addr = ctypes.addressof(buf)
        libc.mprotect(addr, 8 * PAGE, mmap.PROT_READ)                  # splits the VMA
        libc.mprotect(addr, 8 * PAGE, mmap.PROT_READ | mmap.PROT_WRITE)  # merges it back
        del buf
        keep.append(m)
        if len(keep) > 8:
            keep.pop(0).close()                 # munmap
        time.sleep(0.0008)
    for k in keep:
        k.close()


stop = threading.Event()
ch = threading.Thread(target=churner, args=(stop,), name='churner')
ch.start()
ts = [threading.Thread(target=toucher, args=(i,), name='toucher%d' % i) for i in range(THREADS)]
for t in ts:
    t.start()
for t in ts:
    t.join()
stop.set()
ch.join()
print('done')
