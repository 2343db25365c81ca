package series

// hugePageSize is the transparent huge page size the engine sizes and
// aligns its advice by (adviseHugePages): 2 MiB, as on amd64 and on arm64
// with 4 KiB base pages. Elsewhere the advice is still page-aligned, and
// the kernel takes it or leaves it.
const hugePageSize = 2 << 20
