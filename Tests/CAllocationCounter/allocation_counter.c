// Interposes the C allocator for the test executable: every allocation function the Swift
// runtime and the C kernels use bumps a counter, then forwards to glibc's own entry points
// (__libc_*), which glibc exports for exactly this purpose. free is not interposed: the
// blocks come from glibc's allocator either way.
#define _GNU_SOURCE
#include "allocation_counter.h"

#include <errno.h>
#include <stdatomic.h>
#include <stddef.h>

extern void *__libc_malloc(size_t size);
extern void *__libc_calloc(size_t count, size_t size);
extern void *__libc_realloc(void *pointer, size_t size);
extern void *__libc_memalign(size_t alignment, size_t size);

static atomic_bool counting;
static atomic_uint_fast64_t allocations;

#if defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(thread_sanitizer)
// A sanitizer owns the allocator (`make test-sanitize`): interposing it would hand the
// sanitizer's free blocks it never allocated. Nothing is counted; the allocation tests do
// not run there.
#define CANOPY_ALLOCATOR_OWNED_BY_SANITIZER 1
#endif
#endif

#ifndef CANOPY_ALLOCATOR_OWNED_BY_SANITIZER
static inline void count(void) {
    if (atomic_load_explicit(&counting, memory_order_relaxed)) {
        atomic_fetch_add_explicit(&allocations, 1, memory_order_relaxed);
    }
}

void *malloc(size_t size) {
    count();
    return __libc_malloc(size);
}

void *calloc(size_t count_, size_t size) {
    count();
    return __libc_calloc(count_, size);
}

void *realloc(void *pointer, size_t size) {
    count();
    return __libc_realloc(pointer, size);
}

void *memalign(size_t alignment, size_t size) {
    count();
    return __libc_memalign(alignment, size);
}

void *aligned_alloc(size_t alignment, size_t size) {
    count();
    return __libc_memalign(alignment, size);
}

int posix_memalign(void **out, size_t alignment, size_t size) {
    if (alignment % sizeof(void *) != 0 || (alignment & (alignment - 1)) != 0) return EINVAL;
    count();
    void *p = __libc_memalign(alignment, size);
    if (!p && size != 0) return ENOMEM;
    *out = p;
    return 0;
}

#endif

void canopy_count_allocations(bool enabled) {
    atomic_store_explicit(&counting, enabled, memory_order_seq_cst);
}

uint64_t canopy_allocation_count(void) {
    return atomic_load_explicit(&allocations, memory_order_seq_cst);
}

