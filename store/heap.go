package store

// A read connection's page cache is emptied whenever another connection
// has committed since its last read, which under steady writes is at
// almost every snapshot: up to the 2 MB cache_size of pages freed, then
// allocated again page by page. glibc gives the top of an arena back to
// the kernel as soon as more than 128 KB of it is free, so each snapshot
// cost an madvise, its TLB shootdown on the other core, and a page fault
// for every page read again: under imaptest's stress load without LOGOUT
// churn that was almost half the server's CPU time. Keeping up to 4 MB
// free per arena (twice the page cache) ends that churn; memory still
// goes back once an arena has more than that free.

/*
#include <stdlib.h>
#if defined(__GLIBC__)
#include <malloc.h>
static void pillarbox_keep_heap(void) { mallopt(M_TRIM_THRESHOLD, 4 << 20); }
#else
static void pillarbox_keep_heap(void) {}
#endif
*/
import "C"

// keepHeap sets the C allocator's trim threshold for this process; it is
// the same setting each time, so every Open may set it.
func keepHeap() { C.pillarbox_keep_heap() }
