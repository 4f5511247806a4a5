HANDOUT ?= no
ifeq ($(HANDOUT),yes)
# Your lab kit's front door. As root on a fresh Debian machine, it installs what is missing
# first. The two commands:
#   make grade   build, run every lab's grader on your code, print your score table and
#                the next thing to do; it fails only when a lab could not be graded
#   make lab07   build and grade one lab (its tests one by one, with hints)
# Others: make test (the same as make grade), make asan | tsan (sanitizer builds),
# make bench, make submit LAB=07, make clean-ipc, make format, make clean.
else
# The front door. Two commands do everything on a fresh Debian machine (as root):
#   make grade   install what is missing, build, run every grader on the reference
#                solutions, print the score table
#   make test    the same build, plus common/ unit tests, the skeleton check, the tools'
#                tests and the format check; ends with one line `N passed, M failed`
# Others: make lab01 (one grader), make asan | tsan (sanitizer builds), make bench,
# make valgrind LAB=20 (a lab's grader under memcheck), make fuzz LAB=20 (clang, libFuzzer),
# make handout OUT=dir, make submit LAB=01, make clean-ipc, make format, make tidy, make clean,
# make mutate LAB=07 [MUTATE_ARGS='--max 20 --seed 2 --jobs 2'] (docs/grading.md, mutation).
#
# A student handout's Makefile is this one as tools/make-handout writes it: the HANDOUT=yes
# side of each `ifeq ($(HANDOUT),yes)` block kept, the other side and HANDOUT dropped.
# `make HANDOUT=yes grade` shows here what a student's `make grade` does.
endif

BUILD ?= build
MESON_FLAGS ?=
LAB ?=

.PHONY: all deps build grade test bench submit clean-ipc asan tsan valgrind fuzz format format-check clean
ifeq ($(HANDOUT),yes)
# A score below full marks is the normal state of work in progress, not an error.
GRADE_ARGS = --min 0
else
.PHONY: handout tidy mutate
GRADE_ARGS =
OUT ?= handout
MUTATE_ARGS ?= --max 20
endif

all: build

deps:
	@tools/install-deps

# Configure once; reconfigure only if the directory is not a Meson build yet.
$(BUILD)/build.ninja:
	meson setup $(BUILD) $(MESON_FLAGS)

build: deps $(BUILD)/build.ninja
	ninja -C $(BUILD)

grade: build
	tools/grade -C $(BUILD) $(GRADE_ARGS)

ifeq ($(HANDOUT),yes)
test: grade
else
test: deps
	tools/run-tests
endif

lab%: build
	meson test -C $(BUILD) $@

# Every lab benchmark with defaults that finish in under a minute each (docs/benchmarking.md method).
bench: build
	$(BUILD)/labs/06-mq-bench/ipc_benchmark --msg-size=1024 --iterations=100000 --runs=3
	$(BUILD)/labs/08-rwlock/rwlock_bench
	$(BUILD)/labs/12-shm-ring/shm_ring_bench --buffer-size=1MB --iterations=1M --msg-size=1024 --runs=3 --pin=cross
	$(BUILD)/labs/13-shm-image/shm_image_filter --bench --workers=2 --runs=5
	$(BUILD)/labs/15-spsc-queue/lockfree_bench --iterations=100M --runs=5 --pin=cross
	$(BUILD)/labs/15-spsc-queue/lockfree_bench --iterations=100M --runs=3 --pin=cross --mode=processes
	$(BUILD)/labs/15-spsc-queue/lockfree_gbench
	fifo=$$(mktemp -u /tmp/ipclab-rpc-bench.XXXXXX); mkfifo $$fifo; \
	  $(BUILD)/labs/16-rpc-calc/calc_server --prog 0x5fff0016 >$$fifo & pid=$$!; \
	  head -n 2 $$fifo >/dev/null; rm -f $$fifo; \
	  $(BUILD)/labs/16-rpc-calc/calc_client localhost bench --prog 0x5fff0016; rc=$$?; \
	  kill $$pid; wait $$pid; exit $$rc
	fifo=$$(mktemp -u /tmp/ipclab-rpc-bench.XXXXXX); mkfifo $$fifo; \
	  $(BUILD)/labs/17-rpc-auth/calc_server_auth --auth=sys --prog 0x5fff0017 \
	    --local bench-auth.sock >$$fifo 2>/dev/null & pid=$$!; \
	  head -n 1 $$fifo >/dev/null; rm -f $$fifo; \
	  $(BUILD)/labs/17-rpc-auth/calc_client_auth localhost bench --prog 0x5fff0017 \
	    --local bench-auth.sock; rc=$$?; \
	  kill $$pid; wait $$pid; exit $$rc
	db=$$(mktemp -u /tmp/ipclab-mmapdb-bench.XXXXXX); \
	  $(BUILD)/labs/14-mmap-db/mmapdb bench $$db --runs=3; rc=$$?; rm -f $$db*; exit $$rc
	$(BUILD)/labs/18-rpc-kv/kv_client bench --ops=5000
	$(BUILD)/labs/20-ipc-hub/myipcbench --iterations=100000 --message-size=1024
ifneq ($(HANDOUT),yes)
	$(BUILD)/tools/ipc_suite/ipc_suite benchmark --all --runs 3
endif

# make valgrind LAB=20: the lab's grader under valgrind memcheck, with every program its
# tests start (--trace-children); fails if any process's log reports an error. Deadlines
# are scaled (memcheck runs code 20-50x slower).
VALGRIND_LOGS = $(abspath $(BUILD))/valgrind-lab$(LAB)
valgrind: build
	@test -n "$(LAB)" || { echo "usage: make valgrind LAB=20" >&2; exit 2; }
	@command -v valgrind >/dev/null || { echo "valgrind is not installed (tools/install-deps --lab $(LAB))" >&2; exit 2; }
	rm -rf $(VALGRIND_LOGS) && mkdir -p $(VALGRIND_LOGS)
	IPCLAB_TIMEOUT_SCALE=20 meson test -C $(BUILD) lab$(LAB) --timeout-multiplier=20 \
	  --wrapper='valgrind --tool=memcheck --trace-children=yes --leak-check=full --errors-for-leak-kinds=definite --log-file=$(VALGRIND_LOGS)/%p.log'
	@if grep -l 'ERROR SUMMARY: [1-9]' $(VALGRIND_LOGS)/*.log; then \
	  echo "valgrind: errors in the logs above" >&2; exit 1; fi
	@echo "valgrind: 0 errors in $$(ls $(VALGRIND_LOGS) | wc -l) processes"

asan: deps
	@test -f build-asan/build.ninja || meson setup build-asan -Db_sanitize=address,undefined -Db_lundef=false
	ninja -C build-asan
	meson test -C build-asan --setup=asan --suite labs --suite common

tsan: deps
	@test -f build-tsan/build.ninja || meson setup build-tsan -Db_sanitize=thread
	ninja -C build-tsan
	meson test -C build-tsan --setup=tsan --suite labs --suite common

# make fuzz LAB=20: the lab's libFuzzer target (graders/labNN/fuzz.cpp) in a clang build of
# its own, with AddressSanitizer and UBSan, for FUZZ_SECONDS, seeded with the grader's
# corpus; the corpus it grows stays in build-fuzz/corpus-labNN, a crash in build-fuzz/.
FUZZ_SECONDS ?= 60
fuzz: deps
	@test -n "$(LAB)" || { echo "usage: make fuzz LAB=20 [FUZZ_SECONDS=60]" >&2; exit 2; }
	@test -f graders/lab$(LAB)/fuzz.cpp || { echo "lab $(LAB) has no fuzz target (graders/lab$(LAB)/fuzz.cpp)" >&2; exit 2; }
	@command -v clang++ >/dev/null || { echo "make fuzz needs clang (apt-get install clang)" >&2; exit 2; }
	@test -f build-fuzz/build.ninja || CC=clang CXX=clang++ meson setup build-fuzz \
	  -Db_sanitize=address,undefined -Db_lundef=false -Dcpp_args=-fsanitize=fuzzer-no-link
	ninja -C build-fuzz fuzz_lab$(LAB)
	mkdir -p build-fuzz/corpus-lab$(LAB) build-fuzz/seeds-lab$(LAB)
	cd build-fuzz && IPCLAB_FUZZ_SEEDS=seeds-lab$(LAB) ./fuzz_lab$(LAB) \
	  -max_total_time=$(FUZZ_SECONDS) -timeout=10 corpus-lab$(LAB) seeds-lab$(LAB)

# Checks labs/NN-*/src is committed, grades the lab, zips it with its score table.
submit: build
	@test -n "$(LAB)" || { echo "usage: make submit LAB=01" >&2; exit 2; }
	tools/submit $(LAB) $(BUILD)

clean-ipc: build
	$(BUILD)/tools/ipc-clean --all-ns

format:
	git ls-files '*.cpp' '*.hpp' | xargs clang-format -i

format-check:
	git ls-files '*.cpp' '*.hpp' | xargs clang-format --dry-run --Werror

ifneq ($(HANDOUT),yes)
handout:
	tools/make-handout $(OUT)

# clang-tidy (.clang-tidy) over common/, the labs' reference code and programs, tools/, with the
# static analyzer on every file (make test runs it on common/src and labs/*/src only: time).
tidy: build
	tools/run-tests --only tidy --tidy-analyzer=all

# Sampled mutants of lab LAB's reference, each rebuilt and graded in a scratch copy: how many
# the grader catches (tools/mutate; slow, never part of make test).
mutate: deps
	@test -n "$(LAB)" || { echo "usage: make mutate LAB=07 [MUTATE_ARGS='--max 20 --seed 1']" >&2; exit 2; }
	tools/mutate $(LAB) $(MUTATE_ARGS)
endif

clean:
	rm -rf build build-skeleton build-asan build-tsan build-fuzz
