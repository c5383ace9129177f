#ifndef VIGIL_HEAP_H
#define VIGIL_HEAP_H

#include <stddef.h>

/*
 * Serves every allocation of `bytes` or more from its own mapping, returned to the system when it is freed,
 * and keeps glibc from raising that threshold after such a block is freed (which it otherwise does, up to
 * 32 MB, so that decoded frames of a few megabytes end up in the heap, where freed space is kept and the
 * process's memory steps up). Returns 1 when set, 0 when left as it was: the user set MALLOC_MMAP_THRESHOLD_
 * (their choice stands), or the C library is not glibc.
 */
int vigil_heap_map_large_blocks(size_t bytes);

/*
 * 1 when `block` (from malloc) has a mapping of its own, 0 when it is in the heap or the C library is not glibc:
 * reads the IS_MMAPPED bit of glibc's chunk header, the word before the block, which glibc has kept since 2.0.
 */
int vigil_heap_block_is_mapped(const void *block);

/*
 * Gives the pages of free space inside the heap back to the system (glibc's malloc_trim(0), which also walks the
 * middle of every arena, not only its top). Returns 1 when some memory was released, 0 when none was or the C
 * library is not glibc.
 */
int vigil_heap_trim(void);

#endif
