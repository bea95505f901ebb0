"""Bad input keeps the daemon serving: garbage on the socket, malformed and oversized
messages, unknown methods and every invalid parameter get the right status and a message
naming the problem; afterwards a normal request succeeds and the KV pool is all free."""

from __future__ import annotations

import os
import socket
import struct

import grpc
import pytest

from canopy_client import CanopyError, pb
from conftest import assert_kv_all_free

HTTP2_PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"


def raw_send(path, payload: bytes, read: bool = True) -> None:
    """Connects to the daemon's socket, sends `payload`, reads what comes back briefly, closes."""
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
        s.settimeout(2)
        s.connect(str(path))
        try:
            s.sendall(payload)
            if read:
                s.recv(65536)
        except (socket.timeout, ConnectionError):
            pass


def frame(kind: int, flags: int, stream: int, payload: bytes) -> bytes:
    return struct.pack(">I", len(payload))[1:] + bytes([kind, flags]) + struct.pack(">I", stream) + payload


def assert_still_serving(client):
    assert client.tokenize("still alive") == client.tokenize("still alive") != []
    summary = client.generate("Hello", temperature=0, max_tokens=3, ignore_eos=True).result()
    assert len(summary.token_ids) == 3


def test_random_bytes_and_truncated_frames(daemon, client):
    rng = os.urandom
    raw_send(daemon.socket, rng(4096))
    raw_send(daemon.socket, b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
    raw_send(daemon.socket, HTTP2_PREFACE[:10], read=False)
    raw_send(daemon.socket, HTTP2_PREFACE + rng(1000))
    # A valid preface and SETTINGS, then a frame header promising more payload than sent.
    settings = frame(0x4, 0, 0, b"")
    raw_send(daemon.socket, HTTP2_PREFACE + settings + frame(0x1, 0x4, 1, b"")[:9] + b"\x00" * 3, read=False)
    truncated_headers = struct.pack(">I", 5000)[1:] + bytes([0x1, 0x4]) + struct.pack(">I", 1) + b"\x82\x84"
    raw_send(daemon.socket, HTTP2_PREFACE + settings + truncated_headers, read=False)
    # A DATA frame on a stream that was never opened, then a half frame header.
    raw_send(daemon.socket, HTTP2_PREFACE + settings + frame(0x0, 0x1, 7, b"\x00\x00\x00\x00\x05hello") + b"\x00\x10")
    assert_still_serving(client)
    assert_kv_all_free(client)


def generic(channel, method: str):
    return channel.unary_unary(method, request_serializer=lambda b: b, response_deserializer=lambda b: b)


def test_undecodable_message_is_invalid_argument(daemon, client):
    call = generic(client.channel, "/canopy.v1.Canopy/Tokenize")
    # Field 1 (text, length-delimited) claiming 100 bytes with 2 present; then a bad wire type.
    for garbage in (b"\x0a\x64ab", b"\x0f\xff\xff\xff", bytes(range(256)) * 4):
        with pytest.raises(grpc.RpcError) as error:
            call(garbage, timeout=10)
        assert error.value.code() == grpc.StatusCode.INVALID_ARGUMENT, error.value.details()
    # Well-formed protobuf whose string holds invalid UTF-8: proto3 strings must be UTF-8, so it
    # is refused with a message naming the field, never silently repaired.
    with pytest.raises(grpc.RpcError) as error:
        call(b"\x0a\x04\xff\xfe\xc3\x28", timeout=10)
    assert error.value.code() == grpc.StatusCode.INVALID_ARGUMENT, error.value.details()
    assert "TokenizeRequest.text is not valid UTF-8" in error.value.details()
    stream = client.channel.unary_stream("/canopy.v1.Canopy/Generate", request_serializer=lambda b: b,
                                         response_deserializer=lambda b: b)
    with pytest.raises(grpc.RpcError) as error:
        list(stream(b"\x12\xff\x01", timeout=10))
    assert error.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert_still_serving(client)


@pytest.mark.parametrize("size", [4 * 1024 * 1024 + 100, 20 * 1024 * 1024, 64 * 1024 * 1024])
def test_message_over_the_size_limit_is_resource_exhausted(client, size):
    # Any size over the 4 MiB limit gets a status naming the sizes, never a stream reset (the
    # transport alone reset messages over its own limit, then 16 MiB).
    text = "a" * size
    with pytest.raises(CanopyError) as error:
        client.tokenize(text, timeout=30)
    assert error.value.code == grpc.StatusCode.RESOURCE_EXHAUSTED, error.value
    assert "message size limit" in error.value.details, error.value
    with pytest.raises(CanopyError) as error:
        client.generate(prompt=text, max_tokens=1, timeout=30).result()
    assert error.value.code == grpc.StatusCode.RESOURCE_EXHAUSTED, error.value
    assert_still_serving(client)


def test_unknown_method_is_unimplemented(client):
    for method in ("/canopy.v1.Canopy/Embed", "/canopy.v2.Canopy/Generate", "/grpc.health.v1.Health/Check"):
        with pytest.raises(grpc.RpcError) as error:
            generic(client.channel, method)(b"", timeout=10)
        assert error.value.code() == grpc.StatusCode.UNIMPLEMENTED, method
    assert_still_serving(client)


def test_compressed_requests_are_unimplemented_and_uncompressed_ones_served(client):
    # canopyd accepts identity-encoded messages only (clients send those unless told
    # otherwise); a gzip call gets UNIMPLEMENTED with the reason, not a reset or a hang.
    with pytest.raises(grpc.RpcError) as error:
        generic(client.channel, "/canopy.v1.Canopy/Tokenize")(
            pb.TokenizeRequest(text="hello").SerializeToString(), timeout=10, compression=grpc.Compression.Gzip)
    assert error.value.code() == grpc.StatusCode.UNIMPLEMENTED, error.value
    assert "compressed" in error.value.details(), error.value.details()
    assert_still_serving(client)


def invalid_requests(cache_tokens: int):
    """(description, generate kwargs, text the message must contain)."""
    ok = {"prompt": "Hello", "max_tokens": 4}
    return [
        ("negative temperature", {**ok, "temperature": -0.5}, "temperature"),
        ("NaN temperature", {**ok, "temperature": float("nan")}, "temperature"),
        ("top_p above 1", {**ok, "top_p": 1.5}, "top_p"),
        ("top_p zero", {**ok, "top_p": 0.0}, "top_p"),
        ("negative top_k", {**ok, "top_k": -1}, "top_k"),
        ("min_p above 1", {**ok, "min_p": 2.0}, "min_p"),
        ("repetition_penalty zero", {**ok, "repetition_penalty": 0.0}, "repetition_penalty"),
        ("frequency_penalty out of range", {**ok, "frequency_penalty": 3.0}, "frequency_penalty"),
        ("presence_penalty out of range", {**ok, "presence_penalty": -3.0}, "presence_penalty"),
        ("n zero", {**ok, "n": 0}, "n"),
        ("n too large", {**ok, "n": 65}, "n"),
        ("logprobs too large", {**ok, "logprobs": 21}, "logprobs"),
        ("max_tokens zero", {"prompt": "Hello", "max_tokens": 0}, "max_tokens"),
        ("max_tokens negative", {"prompt": "Hello", "max_tokens": -5}, "max_tokens"),
        ("max_tokens huge", {"prompt": "Hello", "max_tokens": 2_000_000_000}, "max_tokens"),
        ("empty stop string", {**ok, "stop": [""]}, "stop"),
        ("speculative_tokens too large", {**ok, "speculative_tokens": 33}, "speculative_tokens"),
        ("speculative_tokens negative", {**ok, "speculative_tokens": -1}, "speculative_tokens"),
        # This daemon's KV cache holds fewer positions than the model's context, so the cache
        # is the limit a long prompt meets; test_prompt_beyond_the_context covers the context.
        ("prompt beyond the KV cache", {"prompt_ids": [100] * (cache_tokens + 10), "max_tokens": 1}, "KV cache"),
        ("empty prompt", {"prompt": "", "max_tokens": 4}, "empty"),
        ("empty prompt_ids", {"prompt_ids": [], "max_tokens": 4}, "empty"),
        ("empty messages", {"messages": [], "max_tokens": 4}, "empty"),
        ("unknown token id", {"prompt_ids": [1, 2, 49152], "max_tokens": 4}, "49152"),
        ("negative token id", {"prompt_ids": [-1], "max_tokens": 4}, "-1"),
        ("stop token id beyond the vocabulary", {**ok, "stop_token_ids": [2, 49152]}, "stop_token_ids"),
        ("negative stop token id", {**ok, "stop_token_ids": [-7]}, "stop_token_ids"),
        ("role outside the chat template", {"messages": [{"role": "wizard", "content": "hi"}], "max_tokens": 4}, "role"),
    ]


def test_every_invalid_parameter_is_invalid_argument(client):
    info = client.info()
    cache_tokens = info.engine.kv_total_blocks * info.engine.block_size
    assert cache_tokens < info.context_length, "the shared daemon's KV cache should be smaller than the context"
    failures = []
    for description, kwargs, needle in invalid_requests(cache_tokens):
        try:
            client.generate(timeout=30, **kwargs).result()
            failures.append(f"{description}: accepted")
        except CanopyError as error:
            if error.code != grpc.StatusCode.INVALID_ARGUMENT or needle not in error.details:
                failures.append(f"{description}: {error.code.name} {error.details!r} (wanted INVALID_ARGUMENT naming {needle!r})")
    # No input at all (the oneof unset) cannot be built through generate(); send it directly.
    try:
        list(client.stub.Generate(pb.GenerateRequest(request_id="no-input"), timeout=10))
        failures.append("no input: accepted")
    except grpc.RpcError as error:
        if error.code() != grpc.StatusCode.INVALID_ARGUMENT or "input" not in error.details():
            failures.append(f"no input: {error.code().name} {error.details()!r}")
    assert not failures, "\n".join(failures)
    assert_still_serving(client)
    assert_kv_all_free(client)


def test_prompt_beyond_the_context(start_daemon):
    # A KV cache larger than the model's context (8192 positions, about 23 KB each at f16).
    daemon = start_daemon(kv_cache_memory="256M")
    with daemon.client(timeout=60) as client:
        info = client.info()
        assert info.engine.kv_total_blocks * info.engine.block_size > info.context_length
        for ids, max_tokens in (([100] * (info.context_length + 10), 1), ([100] * 100, info.context_length)):
            with pytest.raises(CanopyError) as error:
                client.generate(prompt_ids=ids, max_tokens=max_tokens).result()
            assert error.value.code == grpc.StatusCode.INVALID_ARGUMENT
            assert "context length" in error.value.details and "max_tokens" in error.value.details, error.value
        assert_still_serving(client)
        assert_kv_all_free(client)
