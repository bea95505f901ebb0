// The machine's floor under any RPC over a Unix socket: a round trip of a 100-byte message
// between two processes, with no protocol at all. The answering side waits in epoll_wait and
// then reads, as an event-loop server (swift-nio) does; the asking side writes and blocks in
// read, as bench/health-client.c does. What a Health call costs above this is the HTTP/2,
// gRPC and server work; this part is the kernel's (two wake-ups, four syscalls), and on a VM
// it can be most of the total.
//
//   cc -O2 -o unix-socket-floor bench/unix-socket-floor.c
//   ./unix-socket-floor [CALLS [same|cross]]
// prints "p50 p99" in microseconds (after 200 warm-up calls). `same` puts both processes on
// CPU 0, so each message is a context switch on one CPU; `cross` puts the asking side on CPU 0
// and the answering side on CPU 1, so each message wakes the other CPU (on a VM, an idle vCPU:
// the costly case); neither leaves the placement to the scheduler.
#define _GNU_SOURCE
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static double now_us(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec * 1e6 + t.tv_nsec / 1e3;
}

static int by_value(const void *a, const void *b) {
    const double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static void answer(int fd) {
    const int ep = epoll_create1(0);
    struct epoll_event interest = {.events = EPOLLIN, .data.fd = fd};
    if (ep < 0 || epoll_ctl(ep, EPOLL_CTL_ADD, fd, &interest) != 0) _exit(1);
    char buffer[256];
    for (;;) {
        struct epoll_event ready;
        if (epoll_wait(ep, &ready, 1, -1) < 0) _exit(1);
        const ssize_t n = read(fd, buffer, sizeof buffer);
        if (n <= 0) _exit(0);
        if (write(fd, buffer, (size_t)n) != n) _exit(1);
    }
}

/// Binds the calling process to `cpu`; exits when it cannot (fewer CPUs).
static void pin(int cpu) {
    cpu_set_t set;
    CPU_ZERO(&set);
    CPU_SET(cpu, &set);
    if (sched_setaffinity(0, sizeof set, &set) != 0) {
        perror("sched_setaffinity");
        exit(1);
    }
}

int main(int argc, char **argv) {
    const int calls = argc > 1 ? atoi(argv[1]) : 5000, warmup = 200;
    const char *placement = argc > 2 ? argv[2] : "";
    const int same = strcmp(placement, "same") == 0, cross = strcmp(placement, "cross") == 0;
    if (calls < 1 || (argc > 2 && !same && !cross)) {
        fprintf(stderr, "usage: %s [CALLS >= 1 [same|cross]]\n", argv[0]);
        return 2;
    }
    if (same || cross) pin(0);
    int pair[2];
    if (socketpair(AF_UNIX, SOCK_STREAM, 0, pair) != 0) {
        perror("socketpair");
        return 1;
    }
    const pid_t child = fork();
    if (child < 0) {
        perror("fork");
        return 1;
    }
    if (child == 0) {
        if (cross) pin(1);
        close(pair[0]);
        answer(pair[1]);
    }
    close(pair[1]);
    char message[100], reply[256];
    memset(message, 'x', sizeof message);
    double *samples = malloc(sizeof(double) * (size_t)calls);
    if (!samples) return 1;
    for (int i = -warmup; i < calls; i++) {
        const double start = now_us();
        if (write(pair[0], message, sizeof message) != (ssize_t)sizeof message) return 1;
        size_t got = 0;
        while (got < sizeof message) {
            const ssize_t n = read(pair[0], reply + got, sizeof reply - got);
            if (n <= 0) return 1;
            got += (size_t)n;
        }
        if (i >= 0) samples[i] = now_us() - start;
    }
    close(pair[0]);
    waitpid(child, NULL, 0);
    qsort(samples, (size_t)calls, sizeof(double), by_value);
    printf("%.0f %.0f\n", samples[calls / 2], samples[(size_t)calls * 99 / 100]);
    free(samples);
    return 0;
}
