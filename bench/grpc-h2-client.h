// What the bench's C gRPC clients (health-client.c, generate-client.c) share: the Unix-socket
// connection, an nghttp2 client session on it, gRPC's request headers and trailer status, and
// the loop that drives one call until its stream closes. Each client supplies its own
// per-stream callbacks and checks; this header holds the plumbing only.
//
// The includer defines CLIENT_NAME (the program's name in its error messages).
#ifndef CANOPY_BENCH_GRPC_H2_CLIENT_H
#define CANOPY_BENCH_GRPC_H2_CLIENT_H

#include <nghttp2/nghttp2.h>

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

static int grpc_fd = -1;

static void die(const char *what) {
    fprintf(stderr, CLIENT_NAME ": %s\n", what);
    exit(1);
}

static ssize_t grpc_send_cb(nghttp2_session *s, const uint8_t *data, size_t len, int flags, void *u) {
    (void)s; (void)flags; (void)u;
    ssize_t n = send(grpc_fd, data, len, MSG_NOSIGNAL);
    if (n < 0) return errno == EAGAIN ? NGHTTP2_ERR_WOULDBLOCK : NGHTTP2_ERR_CALLBACK_FAILURE;
    return n;
}

/// Sets `*status` from a `grpc-status` header; other headers leave it alone.
static void grpc_read_status(const uint8_t *name, size_t namelen, const uint8_t *value, size_t valuelen, int *status) {
    if (namelen == 11 && memcmp(name, "grpc-status", 11) == 0) {
        char buf[16] = {0};
        memcpy(buf, value, valuelen < 15 ? valuelen : 15);
        *status = atoi(buf);
    }
}

/// Connects to the Unix socket at `path` and opens an HTTP/2 client session on it with the
/// client's callbacks (its SETTINGS queued); exits with a message on failure.
static nghttp2_session *grpc_connect(const char *path, nghttp2_on_header_callback on_header,
                                     nghttp2_on_data_chunk_recv_callback on_data,
                                     nghttp2_on_stream_close_callback on_close) {
    struct sockaddr_un addr = {.sun_family = AF_UNIX};
    if (strlen(path) >= sizeof addr.sun_path) die("socket path too long");
    strcpy(addr.sun_path, path);
    grpc_fd = socket(AF_UNIX, SOCK_STREAM, 0);
    if (grpc_fd < 0 || connect(grpc_fd, (struct sockaddr *)&addr, sizeof addr) != 0) die(strerror(errno));

    nghttp2_session_callbacks *callbacks;
    nghttp2_session_callbacks_new(&callbacks);
    nghttp2_session_callbacks_set_send_callback(callbacks, grpc_send_cb);
    nghttp2_session_callbacks_set_on_header_callback(callbacks, on_header);
    nghttp2_session_callbacks_set_on_data_chunk_recv_callback(callbacks, on_data);
    nghttp2_session_callbacks_set_on_stream_close_callback(callbacks, on_close);
    nghttp2_session *session;
    if (nghttp2_session_client_new(&session, callbacks, NULL) != 0) die("nghttp2 session");
    nghttp2_session_callbacks_del(callbacks);
    if (nghttp2_submit_settings(session, NGHTTP2_FLAG_NONE, NULL, 0) != 0) die("settings");
    return session;
}

#define GRPC_HDR(n, v) {(uint8_t *)(n), (uint8_t *)(v), sizeof(n) - 1, sizeof(v) - 1, NGHTTP2_NV_FLAG_NONE}

/// Submits a gRPC call to `path` ("/package.Service/Method") whose request body `provider`
/// supplies; returns its stream id, or exits.
static int32_t grpc_submit(nghttp2_session *session, const char *path, const nghttp2_data_provider *provider) {
    nghttp2_nv headers[] = {
        GRPC_HDR(":method", "POST"), GRPC_HDR(":scheme", "http"), GRPC_HDR(":path", ""),
        GRPC_HDR(":authority", "localhost"), GRPC_HDR("content-type", "application/grpc"), GRPC_HDR("te", "trailers"),
    };
    headers[2].value = (uint8_t *)path;
    headers[2].valuelen = strlen(path);
    int32_t id = nghttp2_submit_request(session, NULL, headers, sizeof headers / sizeof headers[0], provider, NULL);
    if (id < 0) die(nghttp2_strerror(id));
    return id;
}

/// Sends and receives until `*closed` (set by the client's stream-close callback), then sends
/// what the session still owes (WINDOW_UPDATEs, SETTINGS ACKs); exits if the connection fails.
static void grpc_run_until_closed(nghttp2_session *session, const int *closed) {
    uint8_t buf[65536];
    while (!*closed) {
        if (nghttp2_session_send(session) != 0) die("send failed");
        ssize_t n = recv(grpc_fd, buf, sizeof buf, 0);
        if (n <= 0) die("connection closed by the server");
        ssize_t used = nghttp2_session_mem_recv(session, buf, (size_t)n);
        if (used < 0) die(nghttp2_strerror((int)used));
    }
    if (nghttp2_session_send(session) != 0) die("send failed");
}

/// Ends the session politely and closes the connection.
static void grpc_close(nghttp2_session *session) {
    nghttp2_session_terminate_session(session, NGHTTP2_NO_ERROR);
    nghttp2_session_send(session);
    nghttp2_session_del(session);
    close(grpc_fd);
}

#endif
