// The persistent worker pool. See canopy_kernels.h for the contract.
//
// Protocol: one 64-bit word `state` holds (generation << 32 | next unclaimed iteration). The
// caller publishes (fn, context, tasks), then stores a new generation with index 0; a worker
// claims an iteration by compare-and-swap only while the word still carries the generation
// it saw, so a worker that wakes up late can never claim (or run with stale arguments) an
// iteration of a later loop. The caller claims iterations too and returns once `completed`
// reaches `tasks`: it never waits for a worker that claimed nothing, which matters when the
// machine is oversubscribed and a worker is not even scheduled.
//
// Why the arguments a worker reads belong to its generation: before rewriting them the
// caller closes the previous loop by storing a new generation whose index is already past
// any task count (`closed`), and only then publishes the loop under the generation after
// that. A claim succeeds only while the word is unchanged since the worker read the
// arguments, so every successful claim was made with arguments of its own generation. (Without
// the closing store, a late worker could read the next loop's `tasks` while the word still
// showed the finished loop, find its index below that count, claim it, and run the next
// loop's function on a stale index: a crash seen under speculative decoding's mixed steps.)
//
// Sleeping without lost wake-ups: a worker increments `sleepers` and re-checks `state` under
// `sleep_lock` before waiting; the caller stores `state` and then reads `sleepers` (both
// sequentially consistent), so either the worker sees the new generation or the caller sees
// the sleeper and broadcasts under the lock.
#define _GNU_SOURCE
#include "canopy_kernels.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#define CPU_RELAX() _mm_pause()
#elif defined(__aarch64__)
#define CPU_RELAX() __asm__ volatile("yield")
#else
#define CPU_RELAX() ((void)0)
#endif

// Spin iterations before a worker sleeps: ~0.3-1 ms, longer than the gap between two
// matmuls of a forward pass, shorter than an idle daemon should burn.
enum { spin_iterations = 20000 };

struct canopy_pool {
    int threads;
    pthread_t *workers;
    pthread_mutex_t run_lock;
    pthread_mutex_t sleep_lock;
    pthread_cond_t wake;

    _Atomic uint64_t state;  // generation << 32 | next iteration
    _Atomic int64_t completed;
    _Atomic int sleepers;
    _Atomic int stop;

    // Atomic only so a late worker's speculative read (discarded when its claim fails) is
    // not a data race; relaxed loads and stores compile to plain moves.
    _Atomic(canopy_task_fn) fn;
    _Atomic(void *) context;
    _Atomic int64_t tasks;
};

static uint32_t generation_of(uint64_t state) { return (uint32_t)(state >> 32); }

/// Claims and runs iterations of generation `gen` until none are left or the pool moved on.
static void run_tasks(canopy_pool *pool, uint32_t gen) {
    uint64_t s = atomic_load_explicit(&pool->state, memory_order_acquire);
    for (;;) {
        if (generation_of(s) != gen) return;
        // Arguments are read before the claim; a successful claim proves they were current.
        const canopy_task_fn fn = atomic_load_explicit(&pool->fn, memory_order_relaxed);
        void *const context = atomic_load_explicit(&pool->context, memory_order_relaxed);
        const int64_t tasks = atomic_load_explicit(&pool->tasks, memory_order_relaxed);
        const int64_t i = (int64_t)(s & 0xFFFFFFFFu);
        if (i >= tasks) return;
        if (!atomic_compare_exchange_weak_explicit(&pool->state, &s, s + 1, memory_order_acq_rel,
                                                   memory_order_acquire)) {
            continue;  // `s` now holds the current word
        }
        fn(context, i);
        atomic_fetch_add_explicit(&pool->completed, 1, memory_order_release);
        s = atomic_load_explicit(&pool->state, memory_order_acquire);
    }
}

static void *worker_main(void *arg) {
    canopy_pool *pool = arg;
    uint32_t seen = 0;
    for (;;) {
        uint64_t s = atomic_load_explicit(&pool->state, memory_order_acquire);
        for (int i = 0; generation_of(s) == seen && i < spin_iterations; i++) {
            CPU_RELAX();
            s = atomic_load_explicit(&pool->state, memory_order_acquire);
        }
        if (generation_of(s) == seen) {
            pthread_mutex_lock(&pool->sleep_lock);
            atomic_fetch_add(&pool->sleepers, 1);
            while (generation_of(s = atomic_load(&pool->state)) == seen && !atomic_load(&pool->stop)) {
                pthread_cond_wait(&pool->wake, &pool->sleep_lock);
            }
            atomic_fetch_sub(&pool->sleepers, 1);
            pthread_mutex_unlock(&pool->sleep_lock);
        }
        if (atomic_load(&pool->stop)) return NULL;
        seen = generation_of(s);
        run_tasks(pool, seen);
    }
}

canopy_pool *canopy_pool_create(int threads) {
    if (threads < 1) threads = 1;
    if (threads > 256) threads = 256;
    canopy_pool *pool = calloc(1, sizeof *pool);
    if (!pool) return NULL;
    pool->threads = threads;
    pthread_mutex_init(&pool->run_lock, NULL);
    pthread_mutex_init(&pool->sleep_lock, NULL);
    pthread_cond_init(&pool->wake, NULL);
    pool->workers = calloc((size_t)threads, sizeof(pthread_t));
    if (!pool->workers) {
        free(pool);
        return NULL;
    }
    for (int i = 0; i < threads - 1; i++) {
        if (pthread_create(&pool->workers[i], NULL, worker_main, pool) != 0) {
            pool->threads = i + 1;  // run with the workers that did start
            break;
        }
    }
    return pool;
}

void canopy_pool_destroy(canopy_pool *pool) {
    if (!pool) return;
    pthread_mutex_lock(&pool->sleep_lock);
    atomic_store(&pool->stop, 1);
    atomic_fetch_add(&pool->state, (uint64_t)1 << 32);
    pthread_cond_broadcast(&pool->wake);
    pthread_mutex_unlock(&pool->sleep_lock);
    for (int i = 0; i < pool->threads - 1; i++) pthread_join(pool->workers[i], NULL);
    pthread_cond_destroy(&pool->wake);
    pthread_mutex_destroy(&pool->sleep_lock);
    pthread_mutex_destroy(&pool->run_lock);
    free(pool->workers);
    free(pool);
}

int canopy_pool_threads(const canopy_pool *pool) { return pool ? pool->threads : 1; }

void canopy_pool_run(canopy_pool *pool, int64_t tasks, canopy_task_fn fn, void *context) {
    if (tasks <= 0) return;
    if (!pool || pool->threads == 1 || tasks == 1 || tasks > 0xFFFFFFFFLL ||
        pthread_mutex_trylock(&pool->run_lock) != 0) {
        for (int64_t i = 0; i < tasks; i++) fn(context, i);
        return;
    }
    // Close the previous loop first: no claim made with its word can succeed after this.
    const uint32_t closed = generation_of(atomic_load_explicit(&pool->state, memory_order_relaxed)) + 1;
    atomic_store(&pool->state, (uint64_t)closed << 32 | 0xFFFFFFFFu);
    atomic_store_explicit(&pool->fn, fn, memory_order_relaxed);
    atomic_store_explicit(&pool->context, context, memory_order_relaxed);
    atomic_store_explicit(&pool->tasks, tasks, memory_order_relaxed);
    atomic_store_explicit(&pool->completed, 0, memory_order_relaxed);
    const uint32_t gen = closed + 1;
    atomic_store(&pool->state, (uint64_t)gen << 32);  // seq_cst: publishes the fields above
    if (atomic_load(&pool->sleepers) > 0) {
        pthread_mutex_lock(&pool->sleep_lock);
        pthread_cond_broadcast(&pool->wake);
        pthread_mutex_unlock(&pool->sleep_lock);
    }
    run_tasks(pool, gen);
    while (atomic_load_explicit(&pool->completed, memory_order_acquire) < tasks) CPU_RELAX();
    pthread_mutex_unlock(&pool->run_lock);
}
