// A gRPC client in C for one streaming call, `canopy.v1.Canopy/Generate`, over a Unix socket:
// one stream's decode speed as the daemon delivers it, with a client that costs next to no CPU
// per token (the Swift client library spends 150-200 µs of CPU per streamed token on a
// 2-core VM, time the daemon's two compute threads then lose).
//
// HTTP/2 is libnghttp2's, the messages protobuf-c's (the daemon's own generated code,
// Sources/CCanopyProto); the connection and the call's plumbing are grpc-h2-client.h, shared
// with health-client.c. The request is PROMPT random token ids in [0, VOCAB) drawn from SEED,
// greedy, exactly MAX new tokens (ignore_eos), speculation off for the request. Every event is
// decoded; the call must end with grpc-status 0 and a summary, and must have produced MAX
// tokens, else the program fails.
//
//   generate-client SOCKET PROMPT MAX SEED [VOCAB]
// VOCAB defaults to 32000; bench/run-rpc-bench.sh passes the served model's (`canopy info`).
// Prints {"ttft_ms": .., "tpot_ms": .., "tokens": ..}: time to the first token event, and
// (end - first token) / (tokens - 1) with the end at the summary, as `canopy bench` reports TPOT.
#define CLIENT_NAME "generate-client"
#include "grpc-h2-client.h"

#include "canopy.pb-c.h"

#include <time.h>

static int32_t stream_id;
static int closed, grpc_status = -1, summary_seen;
static uint32_t close_error;
static uint8_t *request;  // the length-prefixed request message
static size_t request_len, request_sent;
static uint8_t *pending;  // response bytes not yet parsed into messages
static size_t pending_len, pending_cap;
static long tokens;
static double start, first_token, end;

static double now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}

static int header_cb(nghttp2_session *s, const nghttp2_frame *frame, const uint8_t *name, size_t namelen,
                     const uint8_t *value, size_t valuelen, uint8_t flags, void *u) {
    (void)s; (void)flags; (void)u;
    if (frame->hd.stream_id == stream_id) grpc_read_status(name, namelen, value, valuelen, &grpc_status);
    return 0;
}

/// Decodes every complete length-prefixed message in `pending` and drops it.
static void parse_messages(void) {
    size_t at = 0;
    while (pending_len - at >= 5) {
        const uint8_t *p = pending + at;
        const size_t len = (size_t)p[1] << 24 | (size_t)p[2] << 16 | (size_t)p[3] << 8 | p[4];
        if (p[0] != 0) die("compressed response message");
        if (pending_len - at - 5 < len) break;
        Canopy__V1__GenerateEvent *event = canopy__v1__generate_event__unpack(NULL, len, p + 5);
        if (!event) die("malformed GenerateEvent");
        const double t = now();
        if (event->event_case == CANOPY__V1__GENERATE_EVENT__EVENT_TOKEN) {
            if (tokens++ == 0) first_token = t;
        } else if (event->event_case == CANOPY__V1__GENERATE_EVENT__EVENT_SUMMARY) {
            summary_seen = 1;
            end = t;
        }
        canopy__v1__generate_event__free_unpacked(event, NULL);
        at += 5 + len;
    }
    memmove(pending, pending + at, pending_len - at);
    pending_len -= at;
}

static int data_cb(nghttp2_session *s, uint8_t flags, int32_t id, const uint8_t *data, size_t len, void *u) {
    (void)s; (void)flags; (void)u;
    if (id != stream_id) return 0;
    if (pending_len + len > pending_cap) {
        pending_cap = (pending_len + len) * 2;
        pending = realloc(pending, pending_cap);
        if (!pending) die("out of memory");
    }
    memcpy(pending + pending_len, data, len);
    pending_len += len;
    parse_messages();
    return 0;
}

static int close_cb(nghttp2_session *s, int32_t id, uint32_t error_code, void *u) {
    (void)s; (void)u;
    if (id == stream_id) {
        closed = 1;
        close_error = error_code;
    }
    return 0;
}

static ssize_t read_request(nghttp2_session *s, int32_t id, uint8_t *buf, size_t length, uint32_t *data_flags,
                            nghttp2_data_source *source, void *u) {
    (void)s; (void)id; (void)source; (void)u;
    size_t left = request_len - request_sent, n = left < length ? left : length;
    memcpy(buf, request + request_sent, n);
    request_sent += n;
    if (request_sent == request_len) *data_flags |= NGHTTP2_DATA_FLAG_EOF;
    return (ssize_t)n;
}

/// The request: PROMPT ids from a 64-bit LCG seeded with SEED, greedy, MAX tokens.
static void build_request(long prompt, long max, uint64_t seed, long vocab) {
    int32_t *ids = malloc(sizeof(int32_t) * (size_t)prompt);
    if (!ids) die("out of memory");
    uint64_t x = seed * 6364136223846793005ULL + 1442695040888963407ULL;
    for (long i = 0; i < prompt; i++) {
        x = x * 6364136223846793005ULL + 1442695040888963407ULL;
        ids[i] = (int32_t)((x >> 33) % (uint64_t)vocab);
    }
    Canopy__V1__TokenIds prompt_ids = CANOPY__V1__TOKEN_IDS__INIT;
    prompt_ids.n_ids = (size_t)prompt;
    prompt_ids.ids = ids;
    Canopy__V1__SamplingParams sampling = CANOPY__V1__SAMPLING_PARAMS__INIT;
    sampling.optional_temperature_case = CANOPY__V1__SAMPLING_PARAMS__OPTIONAL_TEMPERATURE_TEMPERATURE;
    sampling.temperature = 0;
    Canopy__V1__StopParams stop = CANOPY__V1__STOP_PARAMS__INIT;
    stop.optional_max_tokens_case = CANOPY__V1__STOP_PARAMS__OPTIONAL_MAX_TOKENS_MAX_TOKENS;
    stop.max_tokens = (int32_t)max;
    stop.ignore_eos = 1;
    Canopy__V1__GenerateRequest message = CANOPY__V1__GENERATE_REQUEST__INIT;
    message.input_case = CANOPY__V1__GENERATE_REQUEST__INPUT_PROMPT_IDS;
    message.prompt_ids = &prompt_ids;
    message.sampling = &sampling;
    message.stop = &stop;
    message.optional_speculative_tokens_case =
        CANOPY__V1__GENERATE_REQUEST__OPTIONAL_SPECULATIVE_TOKENS_SPECULATIVE_TOKENS;
    message.speculative_tokens = 0;
    const size_t size = canopy__v1__generate_request__get_packed_size(&message);
    request = malloc(size + 5);
    if (!request) die("out of memory");
    request[0] = 0;
    request[1] = (uint8_t)(size >> 24);
    request[2] = (uint8_t)(size >> 16);
    request[3] = (uint8_t)(size >> 8);
    request[4] = (uint8_t)size;
    canopy__v1__generate_request__pack(&message, request + 5);
    request_len = size + 5;
    free(ids);
}

int main(int argc, char **argv) {
    if (argc < 5) die("usage: generate-client SOCKET PROMPT MAX SEED [VOCAB]");
    const long prompt = atol(argv[2]), max = atol(argv[3]), vocab = argc > 5 ? atol(argv[5]) : 32000;
    if (prompt <= 0 || max <= 1 || vocab <= 0) die("PROMPT and VOCAB must be positive and MAX at least 2");
    build_request(prompt, max, (uint64_t)strtoull(argv[4], NULL, 10), vocab);

    nghttp2_session *session = grpc_connect(argv[1], header_cb, data_cb, close_cb);
    nghttp2_data_provider provider = {.read_callback = read_request};
    start = now();
    stream_id = grpc_submit(session, "/canopy.v1.Canopy/Generate", &provider);
    grpc_run_until_closed(session, &closed);
    if (close_error != 0) die("stream reset by the server");
    if (grpc_status != 0) {
        fprintf(stderr, "generate-client: grpc-status %d\n", grpc_status);
        return 1;
    }
    if (!summary_seen || pending_len != 0) die("the stream ended without a summary");
    if (tokens != max) die("the stream did not carry MAX tokens");
    printf("{\"ttft_ms\": %.3f, \"tpot_ms\": %.4f, \"tokens\": %ld}\n", (first_token - start) * 1e3,
           (end - first_token) * 1e3 / (double)(tokens - 1), tokens);
    grpc_close(session);
    return 0;
}
