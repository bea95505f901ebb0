"""A synchronous Python client for the `canopy.v1.Canopy` gRPC service served by `canopyd`.

The wire types are the generated `canopy_pb2` messages; this module adds a keyword-argument
interface for the sampling and stopping parameters, plain dataclasses for the streamed
generation events, and one exception type (`CanopyError`) for every failed call.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Iterable, Iterator, Mapping, Sequence, Union

import grpc

from ._proto.canopy.v1 import canopy_pb2 as pb
from ._proto.canopy.v1 import canopy_pb2_grpc as pb_grpc

# The server's default limit on one encoded message; the client accepts the same so that a
# large summary is never refused on this side first.
DEFAULT_MAX_MESSAGE_BYTES = 4 * 1024 * 1024

# Keyword arguments of `generate` that go into `SamplingParams` and `StopParams`.
SAMPLING_FIELDS = (
    "temperature", "top_k", "top_p", "min_p", "seed", "repetition_penalty",
    "frequency_penalty", "presence_penalty", "n", "logprobs",
)
STOP_FIELDS = ("max_tokens", "stop", "stop_token_ids", "ignore_eos")
# APAR parallel decoding: keyword argument -> ParallelParams field.
PARALLEL_FIELDS = {"apar": "apar", "apar_max_depth": "max_depth", "apar_max_branches": "max_branches"}
# Keyword arguments of `generate` that are fields of `GenerateRequest` itself.
REQUEST_FIELDS = ("speculative_tokens",)

_FINISH_REASONS = {
    pb.FINISH_REASON_UNSPECIFIED: "unspecified",
    pb.FINISH_REASON_STOP: "stop",
    pb.FINISH_REASON_LENGTH: "length",
    pb.FINISH_REASON_CANCELLED: "cancelled",
}

ChatInput = Union[Mapping[str, str], Sequence[str]]


class CanopyError(Exception):
    """A call that ended with a non-OK gRPC status.

    `code` is the `grpc.StatusCode` (INVALID_ARGUMENT for a bad parameter, whose `details`
    names the parameter; RESOURCE_EXHAUSTED when the server's queue is full; UNAVAILABLE
    while the daemon shuts down or when nothing listens on the socket) and `details` the
    server's message.
    """

    def __init__(self, code: grpc.StatusCode, details: str):
        super().__init__(f"{code.name}: {details}")
        self.code = code
        self.details = details

    @classmethod
    def wrap(cls, error: grpc.RpcError) -> "CanopyError":
        """The `CanopyError` for a grpcio call error."""
        return cls(error.code(), error.details() or "")


@dataclass(frozen=True)
class Token:
    """One generated token of one sample; `text` is the text that became final with it."""

    sample: int
    id: int
    text: str
    logprob: float | None = None
    top_logprobs: tuple[tuple[int, float], ...] = ()
    branch: int = 0
    """The APAR branch within the sample (0: the root)."""
    parent_branch: int | None = None
    """The branch it forked from; None for the root."""


@dataclass(frozen=True)
class SampleFinished:
    """Sample `sample` ended; `reason` is "stop", "length" or "cancelled"."""

    sample: int
    reason: str


@dataclass(frozen=True)
class Branch:
    """One branch of an APAR answer: its own tokens (control tokens included) and text,
    and where each child's text goes (`forks`: (characters of `text` before it, child id))."""

    id: int
    parent: int | None
    finish_reason: str
    token_ids: list[int]
    text: str
    forks: list[tuple[int, int]]


@dataclass(frozen=True)
class SampleResult:
    """One finished sample: its tokens (including a final end token) and its text; when
    APAR forked it, `branches` holds every branch and `text` the answer assembled from them."""

    index: int
    finish_reason: str
    token_ids: list[int]
    text: str
    branches: list[Branch] = field(default_factory=list)


@dataclass(frozen=True)
class Summary:
    """The last event of a generation: every sample, token usage and timings (seconds)."""

    request_id: str
    prompt_token_ids: list[int]
    samples: list[SampleResult]
    prompt_tokens: int
    completion_tokens: int
    cached_prompt_tokens: int
    preemptions: int
    timings: dict[str, float] = field(default_factory=dict)
    branches: int = 1
    """Branches over all samples: n unless APAR forked."""
    raw: pb.GenerateSummary | None = field(default=None, repr=False, compare=False)

    @property
    def text(self) -> str:
        """The text of the first sample."""
        return self.samples[0].text if self.samples else ""

    @property
    def token_ids(self) -> list[int]:
        """The token ids of the first sample."""
        return self.samples[0].token_ids if self.samples else []


Event = Union[Token, SampleFinished, Summary]


class GenerateStream:
    """The events of one `Generate` call: iterate to receive `Token`, `SampleFinished` and,
    last, one `Summary` (also kept in `.summary`). `cancel()` ends the call; the server then
    cancels the request and frees its KV blocks. A failed call raises `CanopyError` from the
    iteration.
    """

    def __init__(self, call):
        self._call = call
        self.summary: Summary | None = None

    def __iter__(self) -> Iterator[Event]:
        try:
            for message in self._call:
                event = _event(message)
                if isinstance(event, Summary):
                    self.summary = event
                yield event
        except grpc.RpcError as error:
            raise CanopyError.wrap(error) from None

    def tokens(self) -> Iterator[Token]:
        """Only the token events."""
        return (event for event in self if isinstance(event, Token))

    def result(self) -> Summary:
        """Runs the stream to its end and returns the summary."""
        for _ in self:
            pass
        if self.summary is None:
            raise CanopyError(grpc.StatusCode.INTERNAL, "the stream ended without a summary")
        return self.summary

    def cancel(self) -> None:
        """Cancels the call; iteration then raises `CanopyError` with code CANCELLED."""
        self._call.cancel()


class CanopyClient:
    """A connection to `canopyd` on the Unix socket `socket_path`.

    Every method raises `CanopyError` when the call fails. `timeout` (seconds) bounds each
    call unless a method is given its own. The client is safe to share between threads (a
    grpcio channel is); close it, or use it as a context manager, when done.
    """

    def __init__(self, socket_path: str, *, timeout: float | None = None,
                 max_message_bytes: int = DEFAULT_MAX_MESSAGE_BYTES):
        self.socket_path = socket_path
        self.timeout = timeout
        self.channel = grpc.insecure_channel(
            f"unix://{socket_path}",
            options=[
                ("grpc.max_receive_message_length", max_message_bytes),
                ("grpc.max_send_message_length", -1),
            ],
        )
        self.stub = pb_grpc.CanopyStub(self.channel)

    def close(self) -> None:
        """Closes the channel; running calls are cancelled."""
        self.channel.close()

    def __enter__(self) -> "CanopyClient":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def generate(self, prompt: str | None = None, prompt_ids: Iterable[int] | None = None,
                 messages: Iterable[ChatInput] | None = None, *, request_id: str = "",
                 timeout: float | None = None, **params) -> GenerateStream:
        """Starts a generation and returns its event stream.

        Exactly one of `prompt` (text; special tokens are recognised), `prompt_ids` (used
        unchanged) or `messages` (rendered with the model's chat template; dicts with "role"
        and "content", or (role, content) pairs) must be given. `params` are the sampling
        parameters (temperature, top_k, top_p, min_p, seed, repetition_penalty,
        frequency_penalty, presence_penalty, n, logprobs), the stopping ones (max_tokens,
        stop, stop_token_ids, ignore_eos), APAR's (apar, apar_max_depth, apar_max_branches)
        and `speculative_tokens` (0 turns speculative decoding off for this request, 1...32
        caps the tokens proposed per step; it changes speed only, never the output); those
        not given take the server's defaults.
        Refusals surface as `CanopyError` when the stream is iterated.
        """
        request = build_request(prompt, prompt_ids, messages, request_id=request_id, **params)
        return GenerateStream(self.stub.Generate(request, timeout=self._timeout(timeout)))

    def chat(self, messages: Iterable[ChatInput], *, stream: bool = False, **kw) -> Summary | GenerateStream:
        """Generates a reply to chat `messages`: the finished `Summary` (its `.text` is the
        reply), or with `stream=True` the event stream. Takes `generate`'s keyword arguments.
        """
        events = self.generate(messages=messages, **kw)
        return events if stream else events.result()

    def tokenize(self, text: str, *, add_special: bool = False, parse_special: bool = False,
                 timeout: float | None = None) -> list[int]:
        """The model tokenizer's ids for `text`."""
        request = pb.TokenizeRequest(text=text, add_special=add_special, parse_special=parse_special)
        return list(self._unary(self.stub.Tokenize, request, timeout).ids)

    def detokenize(self, ids: Iterable[int], *, render_special: bool = False,
                   timeout: float | None = None) -> str:
        """The text of token `ids`; an id outside the vocabulary is INVALID_ARGUMENT."""
        request = pb.DetokenizeRequest(ids=list(ids), render_special=render_special)
        return self._unary(self.stub.Detokenize, request, timeout).text

    def health(self, *, timeout: float | None = None) -> pb.HealthResponse:
        """Liveness: `status` is SERVING_STATUS_SERVING, or _DRAINING while shutting down."""
        return self._unary(self.stub.Health, pb.HealthRequest(), timeout)

    def info(self, *, timeout: float | None = None) -> pb.InfoResponse:
        """The served model and the engine configuration. `.engine` holds the settings, among
        them speculative decoding's: `speculative` ("off", "ngram" or "draft"),
        `speculative_tokens`, `speculative_step_tokens` and `draft_model` (the draft model's
        path as the daemon was given it, "" when there is none)."""
        return self._unary(self.stub.Info, pb.InfoRequest(), timeout)

    def stats(self, *, timeout: float | None = None) -> pb.StatsResponse:
        """Engine metrics, including the KV cache block counts in `.kv` and speculative
        decoding's counters in `.speculation`."""
        return self._unary(self.stub.Stats, pb.StatsRequest(), timeout)

    def _timeout(self, timeout: float | None) -> float | None:
        return self.timeout if timeout is None else timeout

    def _unary(self, method, request, timeout):
        try:
            return method(request, timeout=self._timeout(timeout))
        except grpc.RpcError as error:
            raise CanopyError.wrap(error) from None


def build_request(prompt: str | None = None, prompt_ids: Iterable[int] | None = None,
                  messages: Iterable[ChatInput] | None = None, *, request_id: str = "",
                  **params) -> pb.GenerateRequest:
    """The `GenerateRequest` for `CanopyClient.generate`'s arguments.

    Raises `ValueError` unless exactly one input is given and `TypeError` for an unknown
    parameter name. Values are not range-checked here: the server does that, so that every
    client gets the same answer.
    """
    given = [name for name, value in
             (("prompt", prompt), ("prompt_ids", prompt_ids), ("messages", messages)) if value is not None]
    if len(given) != 1:
        raise ValueError(f"give exactly one of prompt, prompt_ids or messages (got {given or 'none'})")
    unknown = sorted(set(params) - set(SAMPLING_FIELDS) - set(STOP_FIELDS) - set(PARALLEL_FIELDS)
                     - set(REQUEST_FIELDS))
    if unknown:
        raise TypeError(f"unknown generate parameter(s): {', '.join(unknown)}")

    request = pb.GenerateRequest(request_id=request_id)
    if prompt is not None:
        request.prompt = prompt
    elif prompt_ids is not None:
        request.prompt_ids.ids.extend(prompt_ids)
    else:
        # Setting the oneof explicitly keeps an empty message list distinguishable from "no input".
        request.messages.SetInParent()
        request.messages.messages.extend(_chat_message(m) for m in messages)
    for name in SAMPLING_FIELDS:
        if params.get(name) is not None:
            setattr(request.sampling, name, params[name])
    for name in ("max_tokens", "ignore_eos"):
        if params.get(name) is not None:
            setattr(request.stop, name, params[name])
    if params.get("stop") is not None:
        stops = params["stop"]
        request.stop.stop.extend([stops] if isinstance(stops, str) else stops)
    if params.get("stop_token_ids") is not None:
        request.stop.stop_token_ids.extend(params["stop_token_ids"])
    for name, field_name in PARALLEL_FIELDS.items():
        if params.get(name) is not None:
            setattr(request.parallel, field_name, params[name])
    for name in REQUEST_FIELDS:
        if params.get(name) is not None:
            setattr(request, name, params[name])
    return request


def _chat_message(message: ChatInput) -> pb.ChatMessage:
    if isinstance(message, Mapping):
        return pb.ChatMessage(role=message["role"], content=message["content"])
    role, content = message
    return pb.ChatMessage(role=role, content=content)


def _branch(b: pb.BranchResult) -> Branch:
    return Branch(id=b.id, parent=b.parent if b.HasField("parent") else None,
                  finish_reason=_FINISH_REASONS.get(b.finish_reason, "unspecified"),
                  token_ids=list(b.token_ids), text=b.text,
                  forks=[(f.text_offset, f.child) for f in b.forks])


def _event(message: pb.GenerateEvent) -> Event:
    kind = message.WhichOneof("event")
    if kind == "token":
        delta = message.token
        token = delta.token
        return Token(
            sample=delta.sample, id=token.id, text=delta.text,
            logprob=token.logprob if token.HasField("logprob") else None,
            top_logprobs=tuple((alt.id, alt.logprob) for alt in token.top_logprobs),
            branch=delta.branch,
            parent_branch=delta.parent_branch if delta.HasField("parent_branch") else None)
    if kind == "sample_finished":
        return SampleFinished(sample=message.sample_finished.sample,
                              reason=_FINISH_REASONS.get(message.sample_finished.reason, "unspecified"))
    if kind == "summary":
        s = message.summary
        return Summary(
            request_id=s.request_id,
            prompt_token_ids=list(s.prompt_token_ids),
            samples=[SampleResult(index=r.index, finish_reason=_FINISH_REASONS.get(r.finish_reason, "unspecified"),
                                  token_ids=list(r.token_ids), text=r.text,
                                  branches=[_branch(b) for b in r.branches]) for r in s.samples],
            branches=s.usage.branches,
            prompt_tokens=s.usage.prompt_tokens,
            completion_tokens=s.usage.completion_tokens,
            cached_prompt_tokens=s.usage.cached_prompt_tokens,
            preemptions=s.usage.preemptions,
            timings={
                "queue": s.timings.queue_seconds,
                "time_to_first_token": s.timings.time_to_first_token_seconds,
                "mean_inter_token_latency": s.timings.mean_inter_token_latency_seconds,
                "end_to_end": s.timings.end_to_end_seconds,
            },
            raw=s)
    raise CanopyError(grpc.StatusCode.INTERNAL, f"unknown GenerateEvent kind {kind!r}")
