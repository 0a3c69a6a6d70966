# Reads every 7th page of an mmap'd file: with a cold page cache, faults start readahead (vmareplay traces/README.md).
import mmap, sys
f = open(sys.argv[1], 'rb')
m = mmap.mmap(f.fileno(), 0, prot=mmap.PROT_READ)
s = 0
for off in range(0, len(m), 4096 * 7):   # sparse reads: most pages are not in the readahead window yet
    s += m[off]
print(s)
