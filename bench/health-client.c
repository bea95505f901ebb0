// A gRPC client in C for one call, `canopy.v1.Canopy/Health`, over a Unix socket: the round
// trip a C program pays, measured without a gRPC framework on the client side.
//
// HTTP/2 (framing, HPACK, flow control) is libnghttp2's (Debian libnghttp2-dev); gRPC's part
// is small enough to write here: a POST with `content-type: application/grpc` and `te:
// trailers`, one length-prefixed message (HealthRequest has no fields, so 5 bytes of prefix),
// and a response whose trailers carry `grpc-status`. Every call is checked: status 0 and a
// response message of the length its prefix states, else the program fails.
//
//   health-client SOCKET [CALLS [WARMUP]]
// prints "p50_us p99_us calls" over CALLS timed calls on one connection (default 2000, after
// 200 untimed ones), each a fresh HTTP/2 stream, as a client library's unary call is.
#define CLIENT_NAME "health-client"
#include "grpc-h2-client.h"

#include <time.h>

struct call {
    int32_t stream_id;
    int closed;
    int grpc_status;          // -1 until the trailers name it
    uint32_t close_error;     // RST_STREAM code, 0 when closed normally
    unsigned char body[256];  // the length-prefixed response message
    size_t body_len;
    size_t request_sent;
};

static struct call current;
static const unsigned char request_body[5] = {0, 0, 0, 0, 0};  // uncompressed, 0-byte message

static int header_cb(nghttp2_session *s, const nghttp2_frame *frame, const uint8_t *name, size_t namelen,
                     const uint8_t *value, size_t valuelen, uint8_t flags, void *u) {
    (void)s; (void)flags; (void)u;
    if (frame->hd.stream_id == current.stream_id) grpc_read_status(name, namelen, value, valuelen, &current.grpc_status);
    return 0;
}

static int data_cb(nghttp2_session *s, uint8_t flags, int32_t stream_id, const uint8_t *data, size_t len, void *u) {
    (void)s; (void)flags; (void)u;
    if (stream_id != current.stream_id) return 0;
    if (current.body_len + len > sizeof current.body) die("response message larger than expected");
    memcpy(current.body + current.body_len, data, len);
    current.body_len += len;
    return 0;
}

static int close_cb(nghttp2_session *s, int32_t stream_id, uint32_t error_code, void *u) {
    (void)s; (void)u;
    if (stream_id == current.stream_id) {
        current.closed = 1;
        current.close_error = error_code;
    }
    return 0;
}

static ssize_t read_request(nghttp2_session *s, int32_t stream_id, uint8_t *buf, size_t length,
                            uint32_t *data_flags, nghttp2_data_source *source, void *u) {
    (void)s; (void)stream_id; (void)source; (void)u;
    size_t left = sizeof request_body - current.request_sent;
    size_t n = left < length ? left : length;
    memcpy(buf, request_body + current.request_sent, n);
    current.request_sent += n;
    if (current.request_sent == sizeof request_body) *data_flags |= NGHTTP2_DATA_FLAG_EOF;
    return (ssize_t)n;
}

static void one_call(nghttp2_session *session) {
    memset(&current, 0, sizeof current);
    current.grpc_status = -1;
    nghttp2_data_provider provider = {.read_callback = read_request};
    current.stream_id = grpc_submit(session, "/canopy.v1.Canopy/Health", &provider);
    grpc_run_until_closed(session, &current.closed);
    if (current.close_error != 0) die("stream reset by the server");
    if (current.grpc_status != 0) {
        fprintf(stderr, "health-client: grpc-status %d\n", current.grpc_status);
        exit(1);
    }
    if (current.body_len < 5) die("no response message");
    uint32_t len = (uint32_t)current.body[1] << 24 | (uint32_t)current.body[2] << 16 |
                   (uint32_t)current.body[3] << 8 | current.body[4];
    if (current.body[0] != 0 || len + 5 != current.body_len) die("malformed response message");
}

static int compare(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

int main(int argc, char **argv) {
    if (argc < 2) die("usage: health-client SOCKET [CALLS [WARMUP]]");
    int calls = argc > 2 ? atoi(argv[2]) : 2000, warmup = argc > 3 ? atoi(argv[3]) : 200;
    if (calls <= 0 || warmup < 0) die("CALLS must be positive and WARMUP not negative");

    nghttp2_session *session = grpc_connect(argv[1], header_cb, data_cb, close_cb);

    for (int i = 0; i < warmup; i++) one_call(session);
    double *samples = malloc(sizeof(double) * (size_t)calls);
    for (int i = 0; i < calls; i++) {
        struct timespec t0, t1;
        clock_gettime(CLOCK_MONOTONIC, &t0);
        one_call(session);
        clock_gettime(CLOCK_MONOTONIC, &t1);
        samples[i] = (double)(t1.tv_sec - t0.tv_sec) * 1e6 + (double)(t1.tv_nsec - t0.tv_nsec) / 1e3;
    }
    qsort(samples, (size_t)calls, sizeof(double), compare);
    printf("%.0f %.0f %d\n", samples[calls / 2], samples[(size_t)((calls - 1) * 0.99)], calls);
    grpc_close(session);
    return 0;
}
