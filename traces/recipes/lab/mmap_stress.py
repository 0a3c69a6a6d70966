# Lab workload "mmap_stress": mmap/munmap/mprotect stress with threads (run: python3 -S THIS [ITERS=150] [THREADS=3]).
# THREADS threads each loop ITERS times: map a private anonymous region of 16..64 pages, write every page (memset),
# mprotect the first half read-only (splits the VMA) and back (merges it), keep the last 8 regions and munmap the
# oldest; every 10th iteration an mremap grows the newest region. All calls go through ctypes, which drops the GIL,
# so VMA changes (mmap_lock writers) race with the other threads' faults in the same mm.
import ctypes, sys, threading

ITERS = int(sys.argv[1]) if len(sys.argv) > 1 else 150
THREADS = int(sys.argv[2]) if len(sys.argv) > 2 else 3
PAGE, PROT_R, PROT_RW, MAP_PRIVATE_ANON, MREMAP_MAYMOVE = 4096, 1, 3, 0x22, 1
libc = ctypes.CDLL(None, use_errno=True)
libc.mmap.restype = ctypes.c_void_p
libc.mmap.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int, ctypes.c_int, ctypes.c_int, ctypes.c_long]
libc.munmap.argtypes = [ctypes.c_void_p, ctypes.c_size_t]
libc.mprotect.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int]
libc.mremap.restype = ctypes.c_void_p
libc.mremap.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_size_t, ctypes.c_int]


def stress(idx):
    keep = []
    for i in range(ITERS):
        pages = 16 + (i * 7 + idx * 13) % 49
        size = pages * PAGE
        a = libc.mmap(None, size, PROT_RW, MAP_PRIVATE_ANON, -1, 0)
        ctypes.memset(a, i & 0xff, size)
        libc.mprotect(a, size // 2 & ~(PAGE - 1), PROT_R)
        libc.mprotect(a, size // 2 & ~(PAGE - 1), PROT_RW)
        if i % 10 == 9:
            b = libc.mremap(a, size, 2 * size, MREMAP_MAYMOVE)
            if b not in (None, ctypes.c_void_p(-1).value):
                a, size = b, 2 * size
                ctypes.memset(a + size // 2, 1, size // 2)
        keep.append((a, size))
        if len(keep) > 8:
            libc.munmap(*keep.pop(0))
    for a, size in keep:
        libc.munmap(a, size)


ts = [threading.Thread(target=stress, args=(i,), name=f'stress{i}') for i in range(THREADS)]
for t in ts:
    t.start()
for t in ts:
    t.join()
print('done')
