#include "vigil_heap.h"

#include <stdlib.h>

#if defined(__GLIBC__)
#include <malloc.h>
#endif

int vigil_heap_map_large_blocks(size_t bytes) {
#if defined(__GLIBC__)
    if (getenv("MALLOC_MMAP_THRESHOLD_") != NULL) return 0;
    return mallopt(M_MMAP_THRESHOLD, (int)bytes) == 1 ? 1 : 0;
#else
    (void)bytes;
    return 0;
#endif
}

int vigil_heap_block_is_mapped(const void *block) {
#if defined(__GLIBC__)
    const size_t *header = (const size_t *)block - 1;
    return (*header & 0x2) != 0;
#else
    (void)block;
    return 0;
#endif
}

int vigil_heap_trim(void) {
#if defined(__GLIBC__)
    return malloc_trim(0);
#else
    return 0;
#endif
}
