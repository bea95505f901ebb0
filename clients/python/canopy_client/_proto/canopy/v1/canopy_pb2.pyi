from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class FinishReason(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    FINISH_REASON_UNSPECIFIED: _ClassVar[FinishReason]
    FINISH_REASON_STOP: _ClassVar[FinishReason]
    FINISH_REASON_LENGTH: _ClassVar[FinishReason]
    FINISH_REASON_CANCELLED: _ClassVar[FinishReason]

class ServingStatus(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    SERVING_STATUS_UNSPECIFIED: _ClassVar[ServingStatus]
    SERVING_STATUS_SERVING: _ClassVar[ServingStatus]
    SERVING_STATUS_DRAINING: _ClassVar[ServingStatus]
    SERVING_STATUS_NOT_SERVING: _ClassVar[ServingStatus]
FINISH_REASON_UNSPECIFIED: FinishReason
FINISH_REASON_STOP: FinishReason
FINISH_REASON_LENGTH: FinishReason
FINISH_REASON_CANCELLED: FinishReason
SERVING_STATUS_UNSPECIFIED: ServingStatus
SERVING_STATUS_SERVING: ServingStatus
SERVING_STATUS_DRAINING: ServingStatus
SERVING_STATUS_NOT_SERVING: ServingStatus

class TokenIds(_message.Message):
    __slots__ = ("ids",)
    IDS_FIELD_NUMBER: _ClassVar[int]
    ids: _containers.RepeatedScalarFieldContainer[int]
    def __init__(self, ids: _Optional[_Iterable[int]] = ...) -> None: ...

class ChatMessage(_message.Message):
    __slots__ = ("role", "content")
    ROLE_FIELD_NUMBER: _ClassVar[int]
    CONTENT_FIELD_NUMBER: _ClassVar[int]
    role: str
    content: str
    def __init__(self, role: _Optional[str] = ..., content: _Optional[str] = ...) -> None: ...

class ChatMessages(_message.Message):
    __slots__ = ("messages",)
    MESSAGES_FIELD_NUMBER: _ClassVar[int]
    messages: _containers.RepeatedCompositeFieldContainer[ChatMessage]
    def __init__(self, messages: _Optional[_Iterable[_Union[ChatMessage, _Mapping]]] = ...) -> None: ...

class SamplingParams(_message.Message):
    __slots__ = ("temperature", "top_k", "top_p", "min_p", "seed", "repetition_penalty", "frequency_penalty", "presence_penalty", "n", "logprobs")
    TEMPERATURE_FIELD_NUMBER: _ClassVar[int]
    TOP_K_FIELD_NUMBER: _ClassVar[int]
    TOP_P_FIELD_NUMBER: _ClassVar[int]
    MIN_P_FIELD_NUMBER: _ClassVar[int]
    SEED_FIELD_NUMBER: _ClassVar[int]
    REPETITION_PENALTY_FIELD_NUMBER: _ClassVar[int]
    FREQUENCY_PENALTY_FIELD_NUMBER: _ClassVar[int]
    PRESENCE_PENALTY_FIELD_NUMBER: _ClassVar[int]
    N_FIELD_NUMBER: _ClassVar[int]
    LOGPROBS_FIELD_NUMBER: _ClassVar[int]
    temperature: float
    top_k: int
    top_p: float
    min_p: float
    seed: int
    repetition_penalty: float
    frequency_penalty: float
    presence_penalty: float
    n: int
    logprobs: int
    def __init__(self, temperature: _Optional[float] = ..., top_k: _Optional[int] = ..., top_p: _Optional[float] = ..., min_p: _Optional[float] = ..., seed: _Optional[int] = ..., repetition_penalty: _Optional[float] = ..., frequency_penalty: _Optional[float] = ..., presence_penalty: _Optional[float] = ..., n: _Optional[int] = ..., logprobs: _Optional[int] = ...) -> None: ...

class StopParams(_message.Message):
    __slots__ = ("max_tokens", "stop", "stop_token_ids", "ignore_eos")
    MAX_TOKENS_FIELD_NUMBER: _ClassVar[int]
    STOP_FIELD_NUMBER: _ClassVar[int]
    STOP_TOKEN_IDS_FIELD_NUMBER: _ClassVar[int]
    IGNORE_EOS_FIELD_NUMBER: _ClassVar[int]
    max_tokens: int
    stop: _containers.RepeatedScalarFieldContainer[str]
    stop_token_ids: _containers.RepeatedScalarFieldContainer[int]
    ignore_eos: bool
    def __init__(self, max_tokens: _Optional[int] = ..., stop: _Optional[_Iterable[str]] = ..., stop_token_ids: _Optional[_Iterable[int]] = ..., ignore_eos: _Optional[bool] = ...) -> None: ...

class GenerateRequest(_message.Message):
    __slots__ = ("request_id", "prompt", "prompt_ids", "messages", "sampling", "stop", "parallel", "speculative_tokens")
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    PROMPT_FIELD_NUMBER: _ClassVar[int]
    PROMPT_IDS_FIELD_NUMBER: _ClassVar[int]
    MESSAGES_FIELD_NUMBER: _ClassVar[int]
    SAMPLING_FIELD_NUMBER: _ClassVar[int]
    STOP_FIELD_NUMBER: _ClassVar[int]
    PARALLEL_FIELD_NUMBER: _ClassVar[int]
    SPECULATIVE_TOKENS_FIELD_NUMBER: _ClassVar[int]
    request_id: str
    prompt: str
    prompt_ids: TokenIds
    messages: ChatMessages
    sampling: SamplingParams
    stop: StopParams
    parallel: ParallelParams
    speculative_tokens: int
    def __init__(self, request_id: _Optional[str] = ..., prompt: _Optional[str] = ..., prompt_ids: _Optional[_Union[TokenIds, _Mapping]] = ..., messages: _Optional[_Union[ChatMessages, _Mapping]] = ..., sampling: _Optional[_Union[SamplingParams, _Mapping]] = ..., stop: _Optional[_Union[StopParams, _Mapping]] = ..., parallel: _Optional[_Union[ParallelParams, _Mapping]] = ..., speculative_tokens: _Optional[int] = ...) -> None: ...

class ParallelParams(_message.Message):
    __slots__ = ("apar", "max_depth", "max_branches")
    APAR_FIELD_NUMBER: _ClassVar[int]
    MAX_DEPTH_FIELD_NUMBER: _ClassVar[int]
    MAX_BRANCHES_FIELD_NUMBER: _ClassVar[int]
    apar: bool
    max_depth: int
    max_branches: int
    def __init__(self, apar: _Optional[bool] = ..., max_depth: _Optional[int] = ..., max_branches: _Optional[int] = ...) -> None: ...

class TokenLogprob(_message.Message):
    __slots__ = ("id", "logprob")
    ID_FIELD_NUMBER: _ClassVar[int]
    LOGPROB_FIELD_NUMBER: _ClassVar[int]
    id: int
    logprob: float
    def __init__(self, id: _Optional[int] = ..., logprob: _Optional[float] = ...) -> None: ...

class SampledToken(_message.Message):
    __slots__ = ("id", "logprob", "top_logprobs")
    ID_FIELD_NUMBER: _ClassVar[int]
    LOGPROB_FIELD_NUMBER: _ClassVar[int]
    TOP_LOGPROBS_FIELD_NUMBER: _ClassVar[int]
    id: int
    logprob: float
    top_logprobs: _containers.RepeatedCompositeFieldContainer[TokenLogprob]
    def __init__(self, id: _Optional[int] = ..., logprob: _Optional[float] = ..., top_logprobs: _Optional[_Iterable[_Union[TokenLogprob, _Mapping]]] = ...) -> None: ...

class TokenDelta(_message.Message):
    __slots__ = ("sample", "token", "text", "branch", "parent_branch")
    SAMPLE_FIELD_NUMBER: _ClassVar[int]
    TOKEN_FIELD_NUMBER: _ClassVar[int]
    TEXT_FIELD_NUMBER: _ClassVar[int]
    BRANCH_FIELD_NUMBER: _ClassVar[int]
    PARENT_BRANCH_FIELD_NUMBER: _ClassVar[int]
    sample: int
    token: SampledToken
    text: str
    branch: int
    parent_branch: int
    def __init__(self, sample: _Optional[int] = ..., token: _Optional[_Union[SampledToken, _Mapping]] = ..., text: _Optional[str] = ..., branch: _Optional[int] = ..., parent_branch: _Optional[int] = ...) -> None: ...

class SampleFinished(_message.Message):
    __slots__ = ("sample", "reason")
    SAMPLE_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    sample: int
    reason: FinishReason
    def __init__(self, sample: _Optional[int] = ..., reason: _Optional[_Union[FinishReason, str]] = ...) -> None: ...

class SampleResult(_message.Message):
    __slots__ = ("index", "finish_reason", "token_ids", "text", "logprobs", "branches")
    INDEX_FIELD_NUMBER: _ClassVar[int]
    FINISH_REASON_FIELD_NUMBER: _ClassVar[int]
    TOKEN_IDS_FIELD_NUMBER: _ClassVar[int]
    TEXT_FIELD_NUMBER: _ClassVar[int]
    LOGPROBS_FIELD_NUMBER: _ClassVar[int]
    BRANCHES_FIELD_NUMBER: _ClassVar[int]
    index: int
    finish_reason: FinishReason
    token_ids: _containers.RepeatedScalarFieldContainer[int]
    text: str
    logprobs: _containers.RepeatedCompositeFieldContainer[SampledToken]
    branches: _containers.RepeatedCompositeFieldContainer[BranchResult]
    def __init__(self, index: _Optional[int] = ..., finish_reason: _Optional[_Union[FinishReason, str]] = ..., token_ids: _Optional[_Iterable[int]] = ..., text: _Optional[str] = ..., logprobs: _Optional[_Iterable[_Union[SampledToken, _Mapping]]] = ..., branches: _Optional[_Iterable[_Union[BranchResult, _Mapping]]] = ...) -> None: ...

class BranchResult(_message.Message):
    __slots__ = ("id", "parent", "finish_reason", "token_ids", "text", "forks")
    ID_FIELD_NUMBER: _ClassVar[int]
    PARENT_FIELD_NUMBER: _ClassVar[int]
    FINISH_REASON_FIELD_NUMBER: _ClassVar[int]
    TOKEN_IDS_FIELD_NUMBER: _ClassVar[int]
    TEXT_FIELD_NUMBER: _ClassVar[int]
    FORKS_FIELD_NUMBER: _ClassVar[int]
    id: int
    parent: int
    finish_reason: FinishReason
    token_ids: _containers.RepeatedScalarFieldContainer[int]
    text: str
    forks: _containers.RepeatedCompositeFieldContainer[BranchFork]
    def __init__(self, id: _Optional[int] = ..., parent: _Optional[int] = ..., finish_reason: _Optional[_Union[FinishReason, str]] = ..., token_ids: _Optional[_Iterable[int]] = ..., text: _Optional[str] = ..., forks: _Optional[_Iterable[_Union[BranchFork, _Mapping]]] = ...) -> None: ...

class BranchFork(_message.Message):
    __slots__ = ("text_offset", "child")
    TEXT_OFFSET_FIELD_NUMBER: _ClassVar[int]
    CHILD_FIELD_NUMBER: _ClassVar[int]
    text_offset: int
    child: int
    def __init__(self, text_offset: _Optional[int] = ..., child: _Optional[int] = ...) -> None: ...

class Usage(_message.Message):
    __slots__ = ("prompt_tokens", "completion_tokens", "cached_prompt_tokens", "preemptions", "branches")
    PROMPT_TOKENS_FIELD_NUMBER: _ClassVar[int]
    COMPLETION_TOKENS_FIELD_NUMBER: _ClassVar[int]
    CACHED_PROMPT_TOKENS_FIELD_NUMBER: _ClassVar[int]
    PREEMPTIONS_FIELD_NUMBER: _ClassVar[int]
    BRANCHES_FIELD_NUMBER: _ClassVar[int]
    prompt_tokens: int
    completion_tokens: int
    cached_prompt_tokens: int
    preemptions: int
    branches: int
    def __init__(self, prompt_tokens: _Optional[int] = ..., completion_tokens: _Optional[int] = ..., cached_prompt_tokens: _Optional[int] = ..., preemptions: _Optional[int] = ..., branches: _Optional[int] = ...) -> None: ...

class Timings(_message.Message):
    __slots__ = ("queue_seconds", "time_to_first_token_seconds", "mean_inter_token_latency_seconds", "end_to_end_seconds")
    QUEUE_SECONDS_FIELD_NUMBER: _ClassVar[int]
    TIME_TO_FIRST_TOKEN_SECONDS_FIELD_NUMBER: _ClassVar[int]
    MEAN_INTER_TOKEN_LATENCY_SECONDS_FIELD_NUMBER: _ClassVar[int]
    END_TO_END_SECONDS_FIELD_NUMBER: _ClassVar[int]
    queue_seconds: float
    time_to_first_token_seconds: float
    mean_inter_token_latency_seconds: float
    end_to_end_seconds: float
    def __init__(self, queue_seconds: _Optional[float] = ..., time_to_first_token_seconds: _Optional[float] = ..., mean_inter_token_latency_seconds: _Optional[float] = ..., end_to_end_seconds: _Optional[float] = ...) -> None: ...

class GenerateSummary(_message.Message):
    __slots__ = ("request_id", "prompt_token_ids", "samples", "usage", "timings")
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    PROMPT_TOKEN_IDS_FIELD_NUMBER: _ClassVar[int]
    SAMPLES_FIELD_NUMBER: _ClassVar[int]
    USAGE_FIELD_NUMBER: _ClassVar[int]
    TIMINGS_FIELD_NUMBER: _ClassVar[int]
    request_id: str
    prompt_token_ids: _containers.RepeatedScalarFieldContainer[int]
    samples: _containers.RepeatedCompositeFieldContainer[SampleResult]
    usage: Usage
    timings: Timings
    def __init__(self, request_id: _Optional[str] = ..., prompt_token_ids: _Optional[_Iterable[int]] = ..., samples: _Optional[_Iterable[_Union[SampleResult, _Mapping]]] = ..., usage: _Optional[_Union[Usage, _Mapping]] = ..., timings: _Optional[_Union[Timings, _Mapping]] = ...) -> None: ...

class GenerateEvent(_message.Message):
    __slots__ = ("token", "sample_finished", "summary")
    TOKEN_FIELD_NUMBER: _ClassVar[int]
    SAMPLE_FINISHED_FIELD_NUMBER: _ClassVar[int]
    SUMMARY_FIELD_NUMBER: _ClassVar[int]
    token: TokenDelta
    sample_finished: SampleFinished
    summary: GenerateSummary
    def __init__(self, token: _Optional[_Union[TokenDelta, _Mapping]] = ..., sample_finished: _Optional[_Union[SampleFinished, _Mapping]] = ..., summary: _Optional[_Union[GenerateSummary, _Mapping]] = ...) -> None: ...

class TokenizeRequest(_message.Message):
    __slots__ = ("text", "add_special", "parse_special")
    TEXT_FIELD_NUMBER: _ClassVar[int]
    ADD_SPECIAL_FIELD_NUMBER: _ClassVar[int]
    PARSE_SPECIAL_FIELD_NUMBER: _ClassVar[int]
    text: str
    add_special: bool
    parse_special: bool
    def __init__(self, text: _Optional[str] = ..., add_special: _Optional[bool] = ..., parse_special: _Optional[bool] = ...) -> None: ...

class TokenizeResponse(_message.Message):
    __slots__ = ("ids",)
    IDS_FIELD_NUMBER: _ClassVar[int]
    ids: _containers.RepeatedScalarFieldContainer[int]
    def __init__(self, ids: _Optional[_Iterable[int]] = ...) -> None: ...

class DetokenizeRequest(_message.Message):
    __slots__ = ("ids", "render_special")
    IDS_FIELD_NUMBER: _ClassVar[int]
    RENDER_SPECIAL_FIELD_NUMBER: _ClassVar[int]
    ids: _containers.RepeatedScalarFieldContainer[int]
    render_special: bool
    def __init__(self, ids: _Optional[_Iterable[int]] = ..., render_special: _Optional[bool] = ...) -> None: ...

class DetokenizeResponse(_message.Message):
    __slots__ = ("text",)
    TEXT_FIELD_NUMBER: _ClassVar[int]
    text: str
    def __init__(self, text: _Optional[str] = ...) -> None: ...

class HealthRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class HealthResponse(_message.Message):
    __slots__ = ("status", "uptime_seconds", "reason")
    STATUS_FIELD_NUMBER: _ClassVar[int]
    UPTIME_SECONDS_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    status: ServingStatus
    uptime_seconds: float
    reason: str
    def __init__(self, status: _Optional[_Union[ServingStatus, str]] = ..., uptime_seconds: _Optional[float] = ..., reason: _Optional[str] = ...) -> None: ...

class InfoRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class EngineConfig(_message.Message):
    __slots__ = ("kv_cache_memory_bytes", "block_size", "kv_precision", "max_batched_tokens", "max_sequences", "max_waiting_requests", "prefix_caching", "default_max_tokens", "kv_total_blocks", "speculative", "speculative_tokens", "speculative_step_tokens", "draft_model", "max_decode_stall")
    KV_CACHE_MEMORY_BYTES_FIELD_NUMBER: _ClassVar[int]
    BLOCK_SIZE_FIELD_NUMBER: _ClassVar[int]
    KV_PRECISION_FIELD_NUMBER: _ClassVar[int]
    MAX_BATCHED_TOKENS_FIELD_NUMBER: _ClassVar[int]
    MAX_SEQUENCES_FIELD_NUMBER: _ClassVar[int]
    MAX_WAITING_REQUESTS_FIELD_NUMBER: _ClassVar[int]
    PREFIX_CACHING_FIELD_NUMBER: _ClassVar[int]
    DEFAULT_MAX_TOKENS_FIELD_NUMBER: _ClassVar[int]
    KV_TOTAL_BLOCKS_FIELD_NUMBER: _ClassVar[int]
    SPECULATIVE_FIELD_NUMBER: _ClassVar[int]
    SPECULATIVE_TOKENS_FIELD_NUMBER: _ClassVar[int]
    SPECULATIVE_STEP_TOKENS_FIELD_NUMBER: _ClassVar[int]
    DRAFT_MODEL_FIELD_NUMBER: _ClassVar[int]
    MAX_DECODE_STALL_FIELD_NUMBER: _ClassVar[int]
    kv_cache_memory_bytes: int
    block_size: int
    kv_precision: str
    max_batched_tokens: int
    max_sequences: int
    max_waiting_requests: int
    prefix_caching: bool
    default_max_tokens: int
    kv_total_blocks: int
    speculative: str
    speculative_tokens: int
    speculative_step_tokens: int
    draft_model: str
    max_decode_stall: float
    def __init__(self, kv_cache_memory_bytes: _Optional[int] = ..., block_size: _Optional[int] = ..., kv_precision: _Optional[str] = ..., max_batched_tokens: _Optional[int] = ..., max_sequences: _Optional[int] = ..., max_waiting_requests: _Optional[int] = ..., prefix_caching: _Optional[bool] = ..., default_max_tokens: _Optional[int] = ..., kv_total_blocks: _Optional[int] = ..., speculative: _Optional[str] = ..., speculative_tokens: _Optional[int] = ..., speculative_step_tokens: _Optional[int] = ..., draft_model: _Optional[str] = ..., max_decode_stall: _Optional[float] = ...) -> None: ...

class InfoResponse(_message.Message):
    __slots__ = ("model_path", "architecture", "context_length", "vocab_size", "quantization", "parameter_count", "tensor_count", "engine", "server_version", "embedding_length", "block_count", "head_count", "head_count_kv", "chat_template", "weight_placement", "weight_read_bytes_per_pass", "sampling_defaults")
    MODEL_PATH_FIELD_NUMBER: _ClassVar[int]
    ARCHITECTURE_FIELD_NUMBER: _ClassVar[int]
    CONTEXT_LENGTH_FIELD_NUMBER: _ClassVar[int]
    VOCAB_SIZE_FIELD_NUMBER: _ClassVar[int]
    QUANTIZATION_FIELD_NUMBER: _ClassVar[int]
    PARAMETER_COUNT_FIELD_NUMBER: _ClassVar[int]
    TENSOR_COUNT_FIELD_NUMBER: _ClassVar[int]
    ENGINE_FIELD_NUMBER: _ClassVar[int]
    SERVER_VERSION_FIELD_NUMBER: _ClassVar[int]
    EMBEDDING_LENGTH_FIELD_NUMBER: _ClassVar[int]
    BLOCK_COUNT_FIELD_NUMBER: _ClassVar[int]
    HEAD_COUNT_FIELD_NUMBER: _ClassVar[int]
    HEAD_COUNT_KV_FIELD_NUMBER: _ClassVar[int]
    CHAT_TEMPLATE_FIELD_NUMBER: _ClassVar[int]
    WEIGHT_PLACEMENT_FIELD_NUMBER: _ClassVar[int]
    WEIGHT_READ_BYTES_PER_PASS_FIELD_NUMBER: _ClassVar[int]
    SAMPLING_DEFAULTS_FIELD_NUMBER: _ClassVar[int]
    model_path: str
    architecture: str
    context_length: int
    vocab_size: int
    quantization: str
    parameter_count: int
    tensor_count: int
    engine: EngineConfig
    server_version: str
    embedding_length: int
    block_count: int
    head_count: int
    head_count_kv: int
    chat_template: str
    weight_placement: str
    weight_read_bytes_per_pass: int
    sampling_defaults: SamplingDefaults
    def __init__(self, model_path: _Optional[str] = ..., architecture: _Optional[str] = ..., context_length: _Optional[int] = ..., vocab_size: _Optional[int] = ..., quantization: _Optional[str] = ..., parameter_count: _Optional[int] = ..., tensor_count: _Optional[int] = ..., engine: _Optional[_Union[EngineConfig, _Mapping]] = ..., server_version: _Optional[str] = ..., embedding_length: _Optional[int] = ..., block_count: _Optional[int] = ..., head_count: _Optional[int] = ..., head_count_kv: _Optional[int] = ..., chat_template: _Optional[str] = ..., weight_placement: _Optional[str] = ..., weight_read_bytes_per_pass: _Optional[int] = ..., sampling_defaults: _Optional[_Union[SamplingDefaults, _Mapping]] = ...) -> None: ...

class SamplingDefaults(_message.Message):
    __slots__ = ("temperature", "top_k", "top_p", "min_p", "repetition_penalty", "keys_from_file")
    TEMPERATURE_FIELD_NUMBER: _ClassVar[int]
    TOP_K_FIELD_NUMBER: _ClassVar[int]
    TOP_P_FIELD_NUMBER: _ClassVar[int]
    MIN_P_FIELD_NUMBER: _ClassVar[int]
    REPETITION_PENALTY_FIELD_NUMBER: _ClassVar[int]
    KEYS_FROM_FILE_FIELD_NUMBER: _ClassVar[int]
    temperature: float
    top_k: int
    top_p: float
    min_p: float
    repetition_penalty: float
    keys_from_file: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, temperature: _Optional[float] = ..., top_k: _Optional[int] = ..., top_p: _Optional[float] = ..., min_p: _Optional[float] = ..., repetition_penalty: _Optional[float] = ..., keys_from_file: _Optional[_Iterable[str]] = ...) -> None: ...

class StatsRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class KVCacheStats(_message.Message):
    __slots__ = ("total_blocks", "used_blocks", "free_blocks", "cached_blocks", "prefix_queries", "prefix_hits", "evictions", "copy_on_writes", "peak_used_blocks")
    TOTAL_BLOCKS_FIELD_NUMBER: _ClassVar[int]
    USED_BLOCKS_FIELD_NUMBER: _ClassVar[int]
    FREE_BLOCKS_FIELD_NUMBER: _ClassVar[int]
    CACHED_BLOCKS_FIELD_NUMBER: _ClassVar[int]
    PREFIX_QUERIES_FIELD_NUMBER: _ClassVar[int]
    PREFIX_HITS_FIELD_NUMBER: _ClassVar[int]
    EVICTIONS_FIELD_NUMBER: _ClassVar[int]
    COPY_ON_WRITES_FIELD_NUMBER: _ClassVar[int]
    PEAK_USED_BLOCKS_FIELD_NUMBER: _ClassVar[int]
    total_blocks: int
    used_blocks: int
    free_blocks: int
    cached_blocks: int
    prefix_queries: int
    prefix_hits: int
    evictions: int
    copy_on_writes: int
    peak_used_blocks: int
    def __init__(self, total_blocks: _Optional[int] = ..., used_blocks: _Optional[int] = ..., free_blocks: _Optional[int] = ..., cached_blocks: _Optional[int] = ..., prefix_queries: _Optional[int] = ..., prefix_hits: _Optional[int] = ..., evictions: _Optional[int] = ..., copy_on_writes: _Optional[int] = ..., peak_used_blocks: _Optional[int] = ...) -> None: ...

class StatsResponse(_message.Message):
    __slots__ = ("waiting_sequences", "running_sequences", "steps", "batched_tokens", "generated_tokens", "requests_completed", "requests_cancelled", "prompt_tokens", "cached_prompt_tokens", "preemptions", "kv", "mean_queue_seconds", "mean_time_to_first_token_seconds", "mean_inter_token_latency_seconds", "mean_end_to_end_seconds", "uptime_seconds", "prometheus_text", "expert_load", "expert_cache", "requests_failed", "weight_streaming", "preemptions_swapped", "preemptions_recomputed", "kv_swap", "apar_forks", "speculation", "parallel")
    WAITING_SEQUENCES_FIELD_NUMBER: _ClassVar[int]
    RUNNING_SEQUENCES_FIELD_NUMBER: _ClassVar[int]
    STEPS_FIELD_NUMBER: _ClassVar[int]
    BATCHED_TOKENS_FIELD_NUMBER: _ClassVar[int]
    GENERATED_TOKENS_FIELD_NUMBER: _ClassVar[int]
    REQUESTS_COMPLETED_FIELD_NUMBER: _ClassVar[int]
    REQUESTS_CANCELLED_FIELD_NUMBER: _ClassVar[int]
    PROMPT_TOKENS_FIELD_NUMBER: _ClassVar[int]
    CACHED_PROMPT_TOKENS_FIELD_NUMBER: _ClassVar[int]
    PREEMPTIONS_FIELD_NUMBER: _ClassVar[int]
    KV_FIELD_NUMBER: _ClassVar[int]
    MEAN_QUEUE_SECONDS_FIELD_NUMBER: _ClassVar[int]
    MEAN_TIME_TO_FIRST_TOKEN_SECONDS_FIELD_NUMBER: _ClassVar[int]
    MEAN_INTER_TOKEN_LATENCY_SECONDS_FIELD_NUMBER: _ClassVar[int]
    MEAN_END_TO_END_SECONDS_FIELD_NUMBER: _ClassVar[int]
    UPTIME_SECONDS_FIELD_NUMBER: _ClassVar[int]
    PROMETHEUS_TEXT_FIELD_NUMBER: _ClassVar[int]
    EXPERT_LOAD_FIELD_NUMBER: _ClassVar[int]
    EXPERT_CACHE_FIELD_NUMBER: _ClassVar[int]
    REQUESTS_FAILED_FIELD_NUMBER: _ClassVar[int]
    WEIGHT_STREAMING_FIELD_NUMBER: _ClassVar[int]
    PREEMPTIONS_SWAPPED_FIELD_NUMBER: _ClassVar[int]
    PREEMPTIONS_RECOMPUTED_FIELD_NUMBER: _ClassVar[int]
    KV_SWAP_FIELD_NUMBER: _ClassVar[int]
    APAR_FORKS_FIELD_NUMBER: _ClassVar[int]
    SPECULATION_FIELD_NUMBER: _ClassVar[int]
    PARALLEL_FIELD_NUMBER: _ClassVar[int]
    waiting_sequences: int
    running_sequences: int
    steps: int
    batched_tokens: int
    generated_tokens: int
    requests_completed: int
    requests_cancelled: int
    prompt_tokens: int
    cached_prompt_tokens: int
    preemptions: int
    kv: KVCacheStats
    mean_queue_seconds: float
    mean_time_to_first_token_seconds: float
    mean_inter_token_latency_seconds: float
    mean_end_to_end_seconds: float
    uptime_seconds: float
    prometheus_text: str
    expert_load: _containers.RepeatedCompositeFieldContainer[ExpertLayerLoad]
    expert_cache: ExpertCacheStats
    requests_failed: int
    weight_streaming: WeightStreamingStats
    preemptions_swapped: int
    preemptions_recomputed: int
    kv_swap: KVSwapStats
    apar_forks: int
    speculation: SpeculationStats
    parallel: ParallelStats
    def __init__(self, waiting_sequences: _Optional[int] = ..., running_sequences: _Optional[int] = ..., steps: _Optional[int] = ..., batched_tokens: _Optional[int] = ..., generated_tokens: _Optional[int] = ..., requests_completed: _Optional[int] = ..., requests_cancelled: _Optional[int] = ..., prompt_tokens: _Optional[int] = ..., cached_prompt_tokens: _Optional[int] = ..., preemptions: _Optional[int] = ..., kv: _Optional[_Union[KVCacheStats, _Mapping]] = ..., mean_queue_seconds: _Optional[float] = ..., mean_time_to_first_token_seconds: _Optional[float] = ..., mean_inter_token_latency_seconds: _Optional[float] = ..., mean_end_to_end_seconds: _Optional[float] = ..., uptime_seconds: _Optional[float] = ..., prometheus_text: _Optional[str] = ..., expert_load: _Optional[_Iterable[_Union[ExpertLayerLoad, _Mapping]]] = ..., expert_cache: _Optional[_Union[ExpertCacheStats, _Mapping]] = ..., requests_failed: _Optional[int] = ..., weight_streaming: _Optional[_Union[WeightStreamingStats, _Mapping]] = ..., preemptions_swapped: _Optional[int] = ..., preemptions_recomputed: _Optional[int] = ..., kv_swap: _Optional[_Union[KVSwapStats, _Mapping]] = ..., apar_forks: _Optional[int] = ..., speculation: _Optional[_Union[SpeculationStats, _Mapping]] = ..., parallel: _Optional[_Union[ParallelStats, _Mapping]] = ...) -> None: ...

class ParallelStats(_message.Message):
    __slots__ = ("tensor_parallel", "pipeline_parallel", "passes", "pass_seconds", "exchange_seconds", "bytes_sent", "resident_weight_bytes")
    TENSOR_PARALLEL_FIELD_NUMBER: _ClassVar[int]
    PIPELINE_PARALLEL_FIELD_NUMBER: _ClassVar[int]
    PASSES_FIELD_NUMBER: _ClassVar[int]
    PASS_SECONDS_FIELD_NUMBER: _ClassVar[int]
    EXCHANGE_SECONDS_FIELD_NUMBER: _ClassVar[int]
    BYTES_SENT_FIELD_NUMBER: _ClassVar[int]
    RESIDENT_WEIGHT_BYTES_FIELD_NUMBER: _ClassVar[int]
    tensor_parallel: int
    pipeline_parallel: int
    passes: int
    pass_seconds: float
    exchange_seconds: float
    bytes_sent: int
    resident_weight_bytes: int
    def __init__(self, tensor_parallel: _Optional[int] = ..., pipeline_parallel: _Optional[int] = ..., passes: _Optional[int] = ..., pass_seconds: _Optional[float] = ..., exchange_seconds: _Optional[float] = ..., bytes_sent: _Optional[int] = ..., resident_weight_bytes: _Optional[int] = ...) -> None: ...

class SpeculationStats(_message.Message):
    __slots__ = ("chunks", "proposed_tokens", "accepted_tokens", "acceptance_rate", "tokens_per_chunk", "drafting_seconds", "verification_token_cost")
    CHUNKS_FIELD_NUMBER: _ClassVar[int]
    PROPOSED_TOKENS_FIELD_NUMBER: _ClassVar[int]
    ACCEPTED_TOKENS_FIELD_NUMBER: _ClassVar[int]
    ACCEPTANCE_RATE_FIELD_NUMBER: _ClassVar[int]
    TOKENS_PER_CHUNK_FIELD_NUMBER: _ClassVar[int]
    DRAFTING_SECONDS_FIELD_NUMBER: _ClassVar[int]
    VERIFICATION_TOKEN_COST_FIELD_NUMBER: _ClassVar[int]
    chunks: int
    proposed_tokens: int
    accepted_tokens: int
    acceptance_rate: float
    tokens_per_chunk: float
    drafting_seconds: float
    verification_token_cost: float
    def __init__(self, chunks: _Optional[int] = ..., proposed_tokens: _Optional[int] = ..., accepted_tokens: _Optional[int] = ..., acceptance_rate: _Optional[float] = ..., tokens_per_chunk: _Optional[float] = ..., drafting_seconds: _Optional[float] = ..., verification_token_cost: _Optional[float] = ...) -> None: ...

class KVSwapStats(_message.Message):
    __slots__ = ("slots", "slot_bytes", "free_slots", "cached_blocks", "swapped_sequences", "swap_out_blocks", "swap_out_bytes", "swap_in_blocks", "swap_in_bytes", "prefix_swap_hits", "failures")
    SLOTS_FIELD_NUMBER: _ClassVar[int]
    SLOT_BYTES_FIELD_NUMBER: _ClassVar[int]
    FREE_SLOTS_FIELD_NUMBER: _ClassVar[int]
    CACHED_BLOCKS_FIELD_NUMBER: _ClassVar[int]
    SWAPPED_SEQUENCES_FIELD_NUMBER: _ClassVar[int]
    SWAP_OUT_BLOCKS_FIELD_NUMBER: _ClassVar[int]
    SWAP_OUT_BYTES_FIELD_NUMBER: _ClassVar[int]
    SWAP_IN_BLOCKS_FIELD_NUMBER: _ClassVar[int]
    SWAP_IN_BYTES_FIELD_NUMBER: _ClassVar[int]
    PREFIX_SWAP_HITS_FIELD_NUMBER: _ClassVar[int]
    FAILURES_FIELD_NUMBER: _ClassVar[int]
    slots: int
    slot_bytes: int
    free_slots: int
    cached_blocks: int
    swapped_sequences: int
    swap_out_blocks: int
    swap_out_bytes: int
    swap_in_blocks: int
    swap_in_bytes: int
    prefix_swap_hits: int
    failures: int
    def __init__(self, slots: _Optional[int] = ..., slot_bytes: _Optional[int] = ..., free_slots: _Optional[int] = ..., cached_blocks: _Optional[int] = ..., swapped_sequences: _Optional[int] = ..., swap_out_blocks: _Optional[int] = ..., swap_out_bytes: _Optional[int] = ..., swap_in_blocks: _Optional[int] = ..., swap_in_bytes: _Optional[int] = ..., prefix_swap_hits: _Optional[int] = ..., failures: _Optional[int] = ...) -> None: ...

class ExpertLayerLoad(_message.Message):
    __slots__ = ("layer", "tokens")
    LAYER_FIELD_NUMBER: _ClassVar[int]
    TOKENS_FIELD_NUMBER: _ClassVar[int]
    layer: int
    tokens: _containers.RepeatedScalarFieldContainer[int]
    def __init__(self, layer: _Optional[int] = ..., tokens: _Optional[_Iterable[int]] = ...) -> None: ...

class WeightStreamingStats(_message.Message):
    __slots__ = ("budget_bytes", "resident_bytes", "streamed_bytes_per_pass", "streamed_layers", "total_layers", "bytes_read", "prefetch_reads", "prefetch_hits", "stalls", "stall_seconds", "demand_reads")
    BUDGET_BYTES_FIELD_NUMBER: _ClassVar[int]
    RESIDENT_BYTES_FIELD_NUMBER: _ClassVar[int]
    STREAMED_BYTES_PER_PASS_FIELD_NUMBER: _ClassVar[int]
    STREAMED_LAYERS_FIELD_NUMBER: _ClassVar[int]
    TOTAL_LAYERS_FIELD_NUMBER: _ClassVar[int]
    BYTES_READ_FIELD_NUMBER: _ClassVar[int]
    PREFETCH_READS_FIELD_NUMBER: _ClassVar[int]
    PREFETCH_HITS_FIELD_NUMBER: _ClassVar[int]
    STALLS_FIELD_NUMBER: _ClassVar[int]
    STALL_SECONDS_FIELD_NUMBER: _ClassVar[int]
    DEMAND_READS_FIELD_NUMBER: _ClassVar[int]
    budget_bytes: int
    resident_bytes: int
    streamed_bytes_per_pass: int
    streamed_layers: int
    total_layers: int
    bytes_read: int
    prefetch_reads: int
    prefetch_hits: int
    stalls: int
    stall_seconds: float
    demand_reads: int
    def __init__(self, budget_bytes: _Optional[int] = ..., resident_bytes: _Optional[int] = ..., streamed_bytes_per_pass: _Optional[int] = ..., streamed_layers: _Optional[int] = ..., total_layers: _Optional[int] = ..., bytes_read: _Optional[int] = ..., prefetch_reads: _Optional[int] = ..., prefetch_hits: _Optional[int] = ..., stalls: _Optional[int] = ..., stall_seconds: _Optional[float] = ..., demand_reads: _Optional[int] = ...) -> None: ...

class ExpertCacheStats(_message.Message):
    __slots__ = ("slots", "total_experts", "slot_bytes", "hits", "misses", "prefetch_hits", "prefetch_loads", "evictions", "bytes_read", "hit_ratio")
    SLOTS_FIELD_NUMBER: _ClassVar[int]
    TOTAL_EXPERTS_FIELD_NUMBER: _ClassVar[int]
    SLOT_BYTES_FIELD_NUMBER: _ClassVar[int]
    HITS_FIELD_NUMBER: _ClassVar[int]
    MISSES_FIELD_NUMBER: _ClassVar[int]
    PREFETCH_HITS_FIELD_NUMBER: _ClassVar[int]
    PREFETCH_LOADS_FIELD_NUMBER: _ClassVar[int]
    EVICTIONS_FIELD_NUMBER: _ClassVar[int]
    BYTES_READ_FIELD_NUMBER: _ClassVar[int]
    HIT_RATIO_FIELD_NUMBER: _ClassVar[int]
    slots: int
    total_experts: int
    slot_bytes: int
    hits: int
    misses: int
    prefetch_hits: int
    prefetch_loads: int
    evictions: int
    bytes_read: int
    hit_ratio: float
    def __init__(self, slots: _Optional[int] = ..., total_experts: _Optional[int] = ..., slot_bytes: _Optional[int] = ..., hits: _Optional[int] = ..., misses: _Optional[int] = ..., prefetch_hits: _Optional[int] = ..., prefetch_loads: _Optional[int] = ..., evictions: _Optional[int] = ..., bytes_read: _Optional[int] = ..., hit_ratio: _Optional[float] = ...) -> None: ...
