// Instruction-set detection, the process-wide ceiling (CANOPY_MAX_ISA), and core counting.
#define _GNU_SOURCE
#include "canopy_kernels.h"

#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#if defined(__x86_64__) || defined(__i386__)
#include <cpuid.h>

static uint64_t read_xcr0(void) {
    uint32_t eax, edx;
    __asm__ volatile("xgetbv" : "=a"(eax), "=d"(edx) : "c"(0));
    return ((uint64_t)edx << 32) | eax;
}

static canopy_isa detect(void) {
    unsigned a, b, c, d;
    if (!__get_cpuid(1, &a, &b, &c, &d)) return CANOPY_ISA_SCALAR;
    const int osxsave = (c >> 27) & 1, fma = (c >> 12) & 1, f16c = (c >> 29) & 1;
    if (!osxsave) return CANOPY_ISA_SCALAR;
    const uint64_t xcr0 = read_xcr0();
    // The OS must save the YMM (bits 1-2) and, for AVX-512, the opmask/ZMM (bits 5-7) state.
    if ((xcr0 & 0x6) != 0x6) return CANOPY_ISA_SCALAR;
    if (__get_cpuid_max(0, NULL) < 7) return CANOPY_ISA_SCALAR;
    __cpuid_count(7, 0, a, b, c, d);
    const int avx2 = (b >> 5) & 1;
    if (!(avx2 && fma && f16c)) return CANOPY_ISA_SCALAR;
    const int avx512f = (b >> 16) & 1, avx512bw = (b >> 30) & 1, avx512vl = (b >> 31) & 1;
    const int vnni = (c >> 11) & 1;
    if (avx512f && avx512bw && avx512vl && vnni && (xcr0 & 0xE0) == 0xE0) return CANOPY_ISA_AVX512VNNI;
    return CANOPY_ISA_AVX2;
}
#else
static canopy_isa detect(void) { return CANOPY_ISA_SCALAR; }
#endif

// The ceiling a process sets with CANOPY_MAX_ISA, read once (the first time any kernel asks),
// so every kernel of the process, attention included, runs at one level from start to end.
static pthread_once_t ceiling_once = PTHREAD_ONCE_INIT;
static canopy_isa hardware_isa;  // detect()
static canopy_isa ceiling_isa;   // min(hardware_isa, the setting when valid)
static int ceiling_state;        // 0: not set, 1: valid, -1: not a level name (ignored)
static char ceiling_text[32];    // the setting as read (truncated), for messages

static void read_ceiling(void) {
    hardware_isa = detect();
    ceiling_isa = hardware_isa;
    const char *value = getenv(CANOPY_MAX_ISA_VARIABLE);
    if (value == NULL || value[0] == '\0') return;
    snprintf(ceiling_text, sizeof ceiling_text, "%s", value);
    canopy_isa cap;
    if (!canopy_isa_parse(value, &cap)) {
        ceiling_state = -1;
        return;
    }
    ceiling_state = 1;
    if (cap < ceiling_isa) ceiling_isa = cap;
}

canopy_isa canopy_isa_hardware(void) {
    pthread_once(&ceiling_once, read_ceiling);
    return hardware_isa;
}

canopy_isa canopy_isa_supported(void) {
    pthread_once(&ceiling_once, read_ceiling);
    return ceiling_isa;
}

int canopy_isa_ceiling_setting(const char **text) {
    pthread_once(&ceiling_once, read_ceiling);
    if (text) *text = ceiling_text;
    return ceiling_state;
}

// -1: not selected yet (then the supported level).
static _Atomic int active_isa = -1;

canopy_isa canopy_isa_active(void) {
    int a = atomic_load_explicit(&active_isa, memory_order_relaxed);
    if (a < 0) {
        a = (int)canopy_isa_supported();
        atomic_store_explicit(&active_isa, a, memory_order_relaxed);
    }
    return (canopy_isa)a;
}

canopy_isa canopy_isa_select(canopy_isa isa) {
    canopy_isa s = canopy_isa_supported();
    canopy_isa chosen = isa < s ? isa : s;
    if (chosen < CANOPY_ISA_SCALAR) chosen = CANOPY_ISA_SCALAR;
    atomic_store_explicit(&active_isa, (int)chosen, memory_order_relaxed);
    return chosen;
}

const char *canopy_isa_name(canopy_isa isa) {
    switch (isa) {
    case CANOPY_ISA_AVX512VNNI: return "avx512vnni";
    case CANOPY_ISA_AVX2: return "avx2";
    default: return "scalar";
    }
}

int canopy_isa_parse(const char *name, canopy_isa *isa) {
    static const canopy_isa levels[] = {CANOPY_ISA_SCALAR, CANOPY_ISA_AVX2, CANOPY_ISA_AVX512VNNI};
    for (size_t i = 0; i < sizeof levels / sizeof levels[0]; i++) {
        if (strcasecmp(name, canopy_isa_name(levels[i])) == 0) {
            *isa = levels[i];
            return 1;
        }
    }
    return 0;
}

static int read_int(const char *path, int *value) {
    FILE *f = fopen(path, "r");
    if (!f) return 0;
    int ok = fscanf(f, "%d", value) == 1;
    fclose(f);
    return ok;
}

int canopy_physical_cores(void) {
    cpu_set_t set;
    CPU_ZERO(&set);
    int logical = 0;
    if (sched_getaffinity(0, sizeof set, &set) == 0) {
        logical = CPU_COUNT(&set);
    } else {
        long n = sysconf(_SC_NPROCESSORS_ONLN);
        return n > 0 ? (int)n : 1;
    }
    // Count distinct (package, core) pairs: SMT siblings share a core and its SIMD units,
    // so a second thread per core mostly adds contention for integer-dot kernels.
    enum { maxPairs = 1024 };
    long pairs[maxPairs];
    int count = 0;
    for (int cpu = 0; cpu < CPU_SETSIZE && count < maxPairs; cpu++) {
        if (!CPU_ISSET(cpu, &set)) continue;
        char path[128];
        int core = -1, package = 0;
        snprintf(path, sizeof path, "/sys/devices/system/cpu/cpu%d/topology/core_id", cpu);
        if (!read_int(path, &core)) return logical > 0 ? logical : 1;
        snprintf(path, sizeof path, "/sys/devices/system/cpu/cpu%d/topology/physical_package_id", cpu);
        read_int(path, &package);
        long key = (long)package * 1000003L + core;
        int seen = 0;
        for (int i = 0; i < count; i++) {
            if (pairs[i] == key) { seen = 1; break; }
        }
        if (!seen) pairs[count++] = key;
    }
    return count > 0 ? count : (logical > 0 ? logical : 1);
}
