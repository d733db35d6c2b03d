package sqlite

// A read connection's page cache is emptied whenever another connection
// has committed since its last read, which under steady writes is at
// almost every snapshot: up to the 2 MB cache_size of pages freed, then
// allocated again page by page. With glibc's starting trim threshold of
// 128 KB, each snapshot gave that memory back to the kernel: an madvise,
// its TLB shootdown on the other core, and a page fault for every page
// read again. Under imaptest's stress load without LOGOUT churn that was
// almost half the server's CPU time.
//
// glibc raises its thresholds itself when a block it had mapped is freed
// (mallopt(3): the mmap threshold becomes the block's size and the trim
// threshold twice that), and keeps adapting afterwards; setting either
// threshold with mallopt would stop that, and every allocation over
// 128 KB (SQLite's copy of a large message) would be mapped and unmapped
// each time. So keepHeap allocates and frees one block of 4 MB: the
// thresholds start at 4 and 8 MB, past a connection's page cache.

/*
#include <stdlib.h>

static void pillarbox_keep_heap(void) {
	void *volatile p = malloc(4 << 20);
	free(p);
}
*/
import "C"

// keepHeap raises the C allocator's thresholds for this process; doing it
// again changes nothing, so every Open may.
func keepHeap() { C.pillarbox_keep_heap() }
