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
# OpenBLAS is opened at run time by src/blas.c (see there why); this is the
# library it opens first.
BLAS_LIB    := $(shell pkg-config --variable=libdir openblas 2>/dev/null)libopenblas.so.0

VERSION := 0.1.0
CFLAGS  ?= $(OPT) -g
WARN    := -std=c11 -Wall -Wextra -Wno-unused-parameter -pedantic
# no errno from libm: lets sqrtf and friends vectorise (lunet never reads errno)
MATH    := -fno-math-errno
CPPFLAGS := -D_POSIX_C_SOURCE=200809L -D_DEFAULT_SOURCE $(LUA_CFLAGS) $(BLAS_CFLAGS) \
            -DLT_BLAS_LIB='"$(BLAS_LIB)"' -DLT_VERSION='"$(VERSION)"'

PROG_SRC := src/main.c src/repl.c
CORE_SRC := $(filter-out $(PROG_SRC),$(wildcard src/*.c))
CORE_OBJ := $(CORE_SRC:src/%.c=$(BUILD)/obj/%.o)
HDRS     := $(wildcard src/*.h)

MODULE  := $(BUILD)/lunet/core.so
PROGRAM := $(BUILD)/bin/lunet
LUA     := lua$(LUAVER)
RUNENV  := LUA_PATH="$(CURDIR)/lua/?.lua;$(CURDIR)/lua/?/init.lua;$(CURDIR)/spec/?.lua;;" \
           LUA_CPATH="$(CURDIR)/$(BUILD)/?.so;;" LUNET_PROGRAM="$(CURDIR)/$(PROGRAM)"

.PHONY: all deps test demo bench sanitize install uninstall clean

all: deps
	@$(MAKE) --no-print-directory build

deps:
	@sh tools/deps.sh

build: $(MODULE) $(PROGRAM)

$(BUILD)/obj/%.o: src/%.c $(HDRS)
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) $(WARN) $(MATH) $(CFLAGS) -fPIC -c $< -o $@

$(MODULE): $(CORE_OBJ)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -shared -o $@ $(CORE_OBJ) -lm -ldl $(LDFLAGS)

$(PROGRAM): $(PROG_SRC:src/%.c=$(BUILD)/obj/%.o) $(CORE_OBJ)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -o $@ $^ $(LUA_LIBS) -lreadline -lm -ldl $(LDFLAGS)

test: all
	@cd spec && $(RUNENV) $(LUA) run.lua

demo: all
	@$(RUNENV) $(PROGRAM) examples/compare_training.lua

bench: all
	@$(RUNENV) $(PROGRAM) examples/bench.lua
	@$(RUNENV) $(PROGRAM) examples/bench_modules.lua

# ASan+UBSan build of the program, which embeds the core, running every spec.
sanitize: deps
	@$(MAKE) --no-print-directory build BUILD=build-san \
	  OPT="-O1 -fno-omit-frame-pointer -fsanitize=address,undefined -fno-sanitize-recover=undefined"
	@cd spec && ASAN_OPTIONS=detect_leaks=1 \
	  $(subst $(BUILD)/,build-san/,$(RUNENV)) LUNET_SANITIZE=1 \
	  $(CURDIR)/build-san/bin/lunet run.lua

install: all
	install -d $(DESTDIR)$(PREFIX)/bin $(DESTDIR)$(PREFIX)/lib/lua/$(LUAVER)/lunet \
	  $(DESTDIR)$(PREFIX)/share/lua/$(LUAVER)
	install -m 755 $(PROGRAM) $(DESTDIR)$(PREFIX)/bin/lunet
	install -m 755 $(MODULE) $(DESTDIR)$(PREFIX)/lib/lua/$(LUAVER)/lunet/core.so
	cp -R lua/lunet $(DESTDIR)$(PREFIX)/share/lua/$(LUAVER)/

uninstall:
	rm -rf $(DESTDIR)$(PREFIX)/bin/lunet $(DESTDIR)$(PREFIX)/lib/lua/$(LUAVER)/lunet \
	  $(DESTDIR)$(PREFIX)/share/lua/$(LUAVER)/lunet

clean:
	rm -rf build build-san spec/tmp out
