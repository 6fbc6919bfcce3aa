# lunet -- build, test, demo, bench, install.
# Every entry point runs the dependency step first (tools/deps.sh).

PREFIX  ?= /usr/local
DESTDIR ?=
LUAVER  := 5.4
CC      ?= cc
OPT     ?= -O3 -march=native
BUILD   ?= build

LUA_CFLAGS  := $(shell pkg-config --cflags lua$(LUAVER) 2>/dev/null)
LUA_LIBS    := $(shell pkg-config --libs lua$(LUAVER) 2>/dev/null)
BLAS_CFLAGS := $(shell pkg-config --cflags openblas 2>/dev/null)
# OpenBLAS is opened at run time by src/core/blas.c (see there why); this is the
# library it opens first.
BLAS_LIB    := $(shell pkg-config --variable=libdir openblas 2>/dev/null)libopenblas.so.0

VERSION := 0.1.0
CFLAGS  ?= $(OPT) -g
WARN    := -std=c11 -Wall -Wextra -Wno-unused-parameter -pedantic
# no errno from libm: lets sqrtf and friends vectorise (lunet never reads errno)
MATH    := -fno-math-errno
# lunet's thread pool (src/core/pool.c)
THREADS := -pthread
CPPFLAGS := -D_POSIX_C_SOURCE=200809L -D_DEFAULT_SOURCE \
            -DLT_BLAS_LIB='"$(BLAS_LIB)"' -DLT_VERSION='"$(VERSION)"'

# The layers, each a folder; a layer sees only its own headers and those of
# the layers below it, and only the binding and the program see Lua's:
#   core  tensors, autograd, ops, attention, BLAS, counters  (no Lua)
#   io    safetensors, JSON                                  (no Lua)
#   lua   the binding, luaopen_lunet_core
#   prog  the lunet program and its REPL
# core and io make the static library liblunet.a, which core.so, the
# program and the core's own C test link.
INC_core := -Isrc/core $(BLAS_CFLAGS)
INC_io   := -Isrc/core -Isrc/io
INC_lua  := -Isrc/core -Isrc/io -Isrc/lua $(LUA_CFLAGS)
INC_prog := -Isrc/lua $(LUA_CFLAGS)
INC_spec := -Isrc/core -Isrc/io
# dist, the optional Open MPI module (lunet.distributed), is built with
# mpicc when there is one.  It sees Lua's headers and the binding's public
# lunetlib.h only and links no core (src/dist/ld_mpi.c says why); nothing
# else sees MPI, so everything else builds and passes without it.
INC_dist := -Isrc/lua $(LUA_CFLAGS)
MPICC    ?= mpicc
HAVE_MPI := $(shell command -v $(MPICC) 2>/dev/null)

CORE_OBJ := $(patsubst src/%.c,$(BUILD)/obj/%.o,$(wildcard src/core/*.c src/io/*.c))
LB_OBJ   := $(patsubst src/%.c,$(BUILD)/obj/%.o,$(wildcard src/lua/*.c))
PROG_OBJ := $(patsubst src/%.c,$(BUILD)/obj/%.o,$(wildcard src/prog/*.c))
DIST_OBJ := $(patsubst src/%.c,$(BUILD)/obj/%.o,$(wildcard src/dist/*.c))
HDRS     := $(wildcard src/*/*.h)

LIBCORE   := $(BUILD)/lib/liblunet.a
MODULE    := $(BUILD)/lunet/core.so
PROGRAM   := $(BUILD)/bin/lunet
CORE_TEST := $(BUILD)/bin/core_test
MPI_MODULE := $(BUILD)/lunet/mpi.so
PTY_RUN   := $(BUILD)/bin/pty_run
LUA     := lua$(LUAVER)
RUNENV  := LUA_PATH="$(CURDIR)/lua/?.lua;$(CURDIR)/lua/?/init.lua;$(CURDIR)/spec/?.lua;;" \
           LUA_CPATH="$(CURDIR)/$(BUILD)/?.so;;" LUNET_PROGRAM="$(CURDIR)/$(PROGRAM)" \
           LUNET_CORE_TEST="$(CURDIR)/$(CORE_TEST)"

.PHONY: all deps build layers mpi test demo sweep bench bench-deps sanitize tsan install uninstall clean api
.PHONY: faults fuzz fuzz-short

all: deps
	@$(MAKE) --no-print-directory build

deps:
	@sh tools/deps.sh

build: layers $(MODULE) $(PROGRAM) $(CORE_TEST) mpi

# The include paths already keep Lua out of core and io; this says so in
# words even where a stray lua.h would be found without them.
layers:
	@if grep -nE '^[[:space:]]*#[[:space:]]*include[[:space:]]*[<"](lua|lauxlib|lualib|luaconf)\.h' \
	  src/core/* src/io/*; then \
	  echo "lunet: src/core and src/io are the Lua-free library: no Lua headers (above)" >&2; \
	  exit 1; fi

# $(INC_<layer>): the first folder under src/ names the layer
$(BUILD)/obj/%.o: src/%.c $(HDRS)
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) $(INC_$(firstword $(subst /, ,$*))) $(WARN) $(MATH) $(THREADS) $(CFLAGS) -fPIC -c $< -o $@

# the Open MPI module: compiled and linked by mpicc; -z nodelete keeps it
# mapped until exit, when its on_exit handler finalizes or aborts MPI
$(BUILD)/obj/dist/%.o: src/dist/%.c src/lua/lunetlib.h
	@mkdir -p $(dir $@)
	$(MPICC) $(CPPFLAGS) $(INC_dist) $(WARN) $(CFLAGS) -fPIC -c $< -o $@

$(MPI_MODULE): $(DIST_OBJ)
	@mkdir -p $(dir $@)
	$(MPICC) $(CFLAGS) -shared -Wl,-z,nodelete -o $@ $(DIST_OBJ) $(LDFLAGS)

ifneq ($(HAVE_MPI),)
mpi: $(MPI_MODULE)
else
mpi:
	@echo "lunet: no $(MPICC): $(MPI_MODULE) (lunet.distributed across processes) not built;" \
	  "tools/deps.sh installs openmpi-bin and libopenmpi-dev"
endif

$(LIBCORE): $(CORE_OBJ)
	@mkdir -p $(dir $@)
	rm -f $@
	$(AR) rcs $@ $(CORE_OBJ)

$(MODULE): $(LB_OBJ) $(LIBCORE)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(THREADS) -shared -o $@ $(LB_OBJ) $(LIBCORE) -lm -ldl $(LDFLAGS)

$(PROGRAM): $(PROG_OBJ) $(LB_OBJ) $(LIBCORE)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(THREADS) -o $@ $(PROG_OBJ) $(LB_OBJ) $(LIBCORE) $(LUA_LIBS) -lreadline -lm -ldl $(LDFLAGS)

# the core's own test: C only, linked without Lua
$(CORE_TEST): spec/core_test.c spec/core_vmath.c $(LIBCORE) $(HDRS)
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) $(INC_spec) $(WARN) $(MATH) $(THREADS) $(CFLAGS) -o $@ spec/core_test.c spec/core_vmath.c $(LIBCORE) -lm -ldl $(LDFLAGS)

# The specs run on 2 threads with every parallel loop cut into at least
# three chunks (LUNET_THREAD_STRESS), so the pool's threads run even on the
# specs' small tensors, and into at most four, so that a task given more
# rows than it asked for (as a huge job's are) meets that case too; make
# sanitize runs them on one thread, in the same chunks.
TEST_THREADS := LUNET_NUM_THREADS=2 LUNET_THREAD_STRESS=1

# the specs' pseudo-terminal driver (the REPL's completion, help, timing)
build: $(PTY_RUN)
RUNENV += LUNET_PTY_RUN="$(CURDIR)/$(PTY_RUN)"
$(PTY_RUN): spec/pty_run.c
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) $(WARN) $(CFLAGS) -o $@ spec/pty_run.c $(LDFLAGS)

test: all
	@cd spec && $(RUNENV) $(TEST_THREADS) $(LUA) run.lua

demo: all
	@$(RUNENV) $(PROGRAM) examples/compare_training.lua

# the demo's larger grid (a third learning rate, ten seeds: 150 runs)
sweep: all
	@$(RUNENV) $(PROGRAM) examples/compare_training.lua --full

# PyTorch (Debian's python3-torch) is what the benchmark compares against:
# installed here as root, suggested otherwise; test and demo never need it.
bench: all bench-deps
	@$(RUNENV) $(PROGRAM) examples/bench_gpt.lua
	@$(RUNENV) $(PROGRAM) examples/bench_modules.lua
	@$(RUNENV) $(PROGRAM) examples/bench.lua

bench-deps:
	@sh tools/deps.sh bench || true

# the README's API index, from the documentation beside the code (lunet.doc)
api: all
	@$(RUNENV) $(PROGRAM) tools/api_index.lua README.md

# ASan+UBSan build of the program, which embeds the core, running every spec.
sanitize: deps
	@$(MAKE) --no-print-directory build BUILD=build-san \
	  OPT="-O1 -fno-omit-frame-pointer -fsanitize=address,undefined -fno-sanitize-recover=undefined"
	@cd spec && ASAN_OPTIONS=detect_leaks=1 \
	  $(subst $(BUILD)/,build-san/,$(RUNENV)) LUNET_SANITIZE=1 LUNET_NUM_THREADS=1 LUNET_THREAD_STRESS=1 \
	  $(CURDIR)/build-san/bin/lunet run.lua

# ThreadSanitizer build of the program and the core's C test, running every
# spec on 2 threads in small chunks (as make test does).  OpenBLAS is not
# instrumented: spec/tsan.supp tells TSan to trust its own threads.  An
# impossible allocation returns NULL (the core's out-of-memory test asks
# for one) instead of stopping the run.
tsan: deps
	@$(MAKE) --no-print-directory build BUILD=build-tsan \
	  OPT="-O1 -fno-omit-frame-pointer -fsanitize=thread"
	@cd spec && TSAN_OPTIONS="halt_on_error=1 second_deadlock_stack=1 allocator_may_return_null=1 suppressions=$(CURDIR)/spec/tsan.supp" \
	  $(subst $(BUILD)/,build-tsan/,$(RUNENV)) LUNET_SANITIZE=1 $(TEST_THREADS) \
	  $(CURDIR)/build-tsan/bin/lunet run.lua

# Allocation-failure injection: an ASan+UBSan build (-DLT_FAULTS) whose
# allocations fail one by one under spec/faults.lua's workload; every run
# must end in success or a Lua error, leak nothing (LeakSanitizer at exit)
# and leave a working state.
faults: deps
	@$(MAKE) --no-print-directory build BUILD=build-faults \
	  OPT="-O1 -fno-omit-frame-pointer -fsanitize=address,undefined -fno-sanitize-recover=undefined -DLT_FAULTS"
	@$(CURDIR)/build-faults/bin/core_test
	@cd spec && ASAN_OPTIONS=detect_leaks=1 OPENBLAS_NUM_THREADS=1 \
	  $(subst $(BUILD)/,build-faults/,$(RUNENV)) $(CURDIR)/build-faults/bin/lunet faults.lua

# libFuzzer harnesses (fuzz/) for the safetensors loader and the JSON
# header reader, built with clang under ASan+UBSan; make fuzz runs each
# for FUZZ_TIME seconds from the committed seeds (fuzz/corpus/) plus what
# earlier runs found (build-fuzz/corpus/); a crash stops it and leaves
# its input in build-fuzz/crashes/ (keep it in spec/fixtures/fuzz/).
# make fuzz-short is the 2 x 30 s run CI does.
FUZZ_CC   ?= clang
FUZZ_TIME ?= 300
FUZZERS   := safetensors json
FUZZ_SRC  := $(wildcard src/core/*.c src/io/*.c)
FUZZ_OPT  := -g -O1 -fno-omit-frame-pointer -fsanitize=fuzzer,address,undefined \
             -fno-sanitize-recover=undefined

build-fuzz/fuzz_%: fuzz/fuzz_%.c $(FUZZ_SRC) $(HDRS)
	@mkdir -p $(dir $@)
	$(FUZZ_CC) $(CPPFLAGS) $(INC_io) $(BLAS_CFLAGS) $(WARN) $(MATH) $(FUZZ_OPT) -o $@ $< $(FUZZ_SRC) -lm -ldl

fuzz:
	@sh tools/deps.sh fuzz
	@$(MAKE) --no-print-directory -s $(FUZZERS:%=build-fuzz/fuzz_%)
	@for f in $(FUZZERS); do \
	  mkdir -p build-fuzz/corpus/$$f build-fuzz/crashes; \
	  echo "fuzz: $$f for $(FUZZ_TIME) s"; \
	  if ! build-fuzz/fuzz_$$f -max_total_time=$(FUZZ_TIME) -timeout=10 -max_len=65536 \
	       -dict=fuzz/header.dict -print_final_stats=1 -artifact_prefix=build-fuzz/crashes/$$f- \
	       build-fuzz/corpus/$$f fuzz/corpus/$$f > build-fuzz/$$f.log 2>&1; then \
	    tail -60 build-fuzz/$$f.log; echo "fuzz: $$f FAILED (log: build-fuzz/$$f.log)"; exit 1; fi; \
	  grep -E "^stat::number_of_executed_units|^stat::new_units_added|Done [0-9]+ runs" \
	    build-fuzz/$$f.log | sed "s/^/  /"; \
	done; \
	echo "fuzz: $(words $(FUZZERS)) passed, 0 failed"

fuzz-short:
	@$(MAKE) --no-print-directory fuzz FUZZ_TIME=30

install: all
	install -d $(DESTDIR)$(PREFIX)/bin $(DESTDIR)$(PREFIX)/lib/lua/$(LUAVER)/lunet \
	  $(DESTDIR)$(PREFIX)/share/lua/$(LUAVER)
	install -m 755 $(PROGRAM) $(DESTDIR)$(PREFIX)/bin/lunet
	install -m 755 $(MODULE) $(DESTDIR)$(PREFIX)/lib/lua/$(LUAVER)/lunet/core.so
	if [ -f $(MPI_MODULE) ]; then \
	  install -m 755 $(MPI_MODULE) $(DESTDIR)$(PREFIX)/lib/lua/$(LUAVER)/lunet/mpi.so; fi
	cp -R lua/lunet $(DESTDIR)$(PREFIX)/share/lua/$(LUAVER)/

uninstall:
	rm -rf $(DESTDIR)$(PREFIX)/bin/lunet $(DESTDIR)$(PREFIX)/lib/lua/$(LUAVER)/lunet \
	  $(DESTDIR)$(PREFIX)/share/lua/$(LUAVER)/lunet

clean:
	rm -rf build build-san build-tsan build-faults build-fuzz spec/tmp out
