// Counts heap allocations made by the whole test process, for the tests that check the
// decode loop allocates nothing in steady state.
#ifndef CANOPY_ALLOCATION_COUNTER_H
#define CANOPY_ALLOCATION_COUNTER_H

#include <stdbool.h>
#include <stdint.h>

/// Starts (true) or stops (false) counting. Counting is process-wide: every thread's
/// malloc, calloc, realloc, posix_memalign, aligned_alloc and memalign calls are counted.
void canopy_count_allocations(bool enabled);

/// Allocations counted since the process started (only while counting was on).
uint64_t canopy_allocation_count(void);

#endif
