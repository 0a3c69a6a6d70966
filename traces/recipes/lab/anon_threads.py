# Lab workload "anon_threads": multi-threaded anonymous faulting (run: python3 -S THIS [ROUNDS=3] [KIB=3076] [THREADS=4]).
# THREADS threads each map an anonymous private KIB-KiB region per round with libc mmap, write every byte of it with
# one memset (ctypes drops the GIL for the call, so the threads fault in parallel), madvise(MADV_DONTNEED) the first
# half, write it again and munmap. 3076 KiB is one 2 MiB-aligned huge page's worth plus 4 KiB pages, so with THP
# "always" both kinds of fault appear; with "madvise"/"never" all are 4 KiB faults.
import ctypes, sys, threading

ROUNDS = int(sys.argv[1]) if len(sys.argv) > 1 else 3
SIZE = (int(sys.argv[2]) if len(sys.argv) > 2 else 3076) << 10
THREADS = int(sys.argv[3]) if len(sys.argv) > 3 else 4
PROT_RW, MAP_PRIVATE_ANON, MADV_DONTNEED = 3, 0x22, 4
libc = ctypes.CDLL(None, use_errno=True)
libc.mmap.restype = ctypes.c_void_p
libc.mmap.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int, ctypes.c_int, ctypes.c_int, ctypes.c_long]
libc.munmap.argtypes = [ctypes.c_void_p, ctypes.c_size_t]
libc.madvise.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int]


def toucher(idx):
    for r in range(ROUNDS):
        a = libc.mmap(None, SIZE, PROT_RW, MAP_PRIVATE_ANON, -1, 0)
        if a in (None, ctypes.c_void_p(-1).value):
            raise OSError(ctypes.get_errno(), 'mmap')
        ctypes.memset(a, idx + r + 1, SIZE)          # write faults over the whole region
        libc.madvise(a, SIZE // 2, MADV_DONTNEED)
        ctypes.memset(a, idx + r + 2, SIZE // 2)     # fault the dropped half in again
        libc.munmap(a, SIZE)


ts = [threading.Thread(target=toucher, args=(i,), name=f'toucher{i}') for i in range(THREADS)]
for t in ts:
    t.start()
for t in ts:
    t.join()
print('done')
