# Lab workload "file_mmap_scan": file-backed mmap scan (run: python3 -S THIS FILE [MIB=24] [PASSES=2]).
# Maps the first MIB MiB of FILE read-only (MAP_SHARED) and reads one byte of every page, PASSES times. In the lab
# FILE is on the host root shared over 9p, so the first pass starts cold (filemap_fault, readahead, page-cache
# inserts) and later passes hit the page cache (fault-around maps 16 pages per fault).
import mmap, os, sys

path = sys.argv[1]
mib = int(sys.argv[2]) if len(sys.argv) > 2 else 24
passes = int(sys.argv[3]) if len(sys.argv) > 3 else 2
with open(path, 'rb') as f:
    size = min(os.fstat(f.fileno()).st_size, mib << 20) & ~4095
    m = mmap.mmap(f.fileno(), size, prot=mmap.PROT_READ)
    s = 0
    for _ in range(passes):
        for off in range(0, size, 4096):
            s += m[off]
    m.close()
print(size, s)
