# urgent: Go's goroutine scheduler in C++20. Plain GNU Make.
#
#   make                  library, tools, tests, benchmarks (build/)
#   make test             install missing packages, build, run every test
#   make bench            urgent vs Go ratios (scripts/compare.sh) + micro-benchmarks
#   make lab              the seed demo, urgent next to Go
#   make demos            the seed's three demos (demo1, trace, schedtrace), urgent and Go
#   make install PREFIX=/usr/local   (library, headers, urgent.pc, urgent-trace, urgent-scope)
#   make clean
#   SAN=address,undefined builds everything with those sanitizers (in build/san-.../)
#   V=1 shows every command.

SHELL := /bin/bash
ARCH ?= x86_64
CXX ?= g++
PREFIX ?= /usr/local
SAN ?=
V ?= 0

comma := ,
ifeq ($(SAN),)
BUILD := build
SANFLAGS :=
else
BUILD := build/san-$(subst $(comma),-,$(SAN))
SANFLAGS := -fsanitize=$(SAN) -fno-sanitize-recover=all
endif

ifeq ($(V),1)
Q :=
say :=
else
Q := @
say = @printf '  %-7s %s\n' $(1) $(2);
endif

# Recursive (=) on purpose: expanded when a recipe runs, after `deps` installed the packages.
SPDLOG_CFLAGS = $(shell pkg-config --cflags spdlog)
SPDLOG_LIBS = $(shell pkg-config --libs spdlog)
BPF_LIBS = $(shell pkg-config --libs libbpf)
URGENT_LIBS = $(SPDLOG_LIBS) $(BPF_LIBS)

CPPFLAGS := -Iruntime/include -Iruntime -Iarch/$(ARCH) -Ibpf -Ibench -MMD -MP
CXXFLAGS := -std=c++20 -O2 -g -Wall -Wextra -fno-omit-frame-pointer -fstack-clash-protection \
            -pthread $(SANFLAGS) $(EXTRA_CXXFLAGS)
ASFLAGS := $(SANFLAGS)
LDFLAGS := -pthread -rdynamic $(SANFLAGS)

# eBPF observers (bpf/): vmlinux.h from the running kernel's BTF, the BPF object (clang
# -target bpf, CO-RE), its skeleton (bpftool gen skeleton) and the loader, which is part of
# liburgent (URGENT_BPF=1).
BPF_OUT := $(BUILD)/bpf
VMLINUX_H := $(BPF_OUT)/vmlinux.h
BPF_LOADERS := $(BUILD)/obj/bpf/observer.o $(BUILD)/obj/bpf/activator.o
BPF_SKELS := $(BPF_OUT)/observe.skel.h $(BPF_OUT)/activate.skel.h
SCOPE := $(BUILD)/bin/urgent-scope

LIB_SRCS := $(wildcard runtime/*.cc)
ASM_SRCS := $(wildcard arch/$(ARCH)/*.S)
LIB_OBJS := $(LIB_SRCS:%.cc=$(BUILD)/obj/%.o) $(ASM_SRCS:%.S=$(BUILD)/obj/%.o) $(BPF_LOADERS)
LIB := $(BUILD)/lib/liburgent.a

# urgent-trace: the trace reader (reader, analysis, convert) is shared with the tests.
TRACE_TOOL_SRCS := $(wildcard runtime/cmd/urgent-trace/*.cc)
TRACE_READER_OBJS := $(patsubst %.cc,$(BUILD)/obj/%.o,$(filter-out %/main.cc,$(TRACE_TOOL_SRCS)))
TRACE_TOOL := $(BUILD)/bin/urgent-trace

# urgent-lab: the experiments (bench/lab); its statistics and parsers are unit-tested.
LAB := $(BUILD)/bin/urgent-lab
LAB_LIB_OBJS := $(BUILD)/obj/bench/lab/lab.o

TEST_SRCS := $(wildcard tests/*.cc)
TEST_ASM := $(wildcard tests/arch/$(ARCH)/*.S)
TEST_OBJS := $(TEST_SRCS:%.cc=$(BUILD)/obj/%.o) $(TEST_ASM:%.S=$(BUILD)/obj/%.o) $(TRACE_READER_OBJS) \
             $(BUILD)/obj/bpf/checker.o $(LAB_LIB_OBJS)
TESTS := $(BUILD)/bin/urgent-tests

DEMO_SRCS := $(wildcard bench/demos/*.cc)
DEMOS := $(DEMO_SRCS:bench/demos/%.cc=$(BUILD)/bin/%)
ECHO_CLIENT := $(BUILD)/bin/urgent-echo-client
TOOLS := $(BUILD)/bin/urgent-bench $(BUILD)/bin/urgent-micro $(ECHO_CLIENT) $(DEMOS) $(TRACE_TOOL) \
         $(SCOPE) $(LAB)
GO_BENCH := $(BUILD)/bin/urgent-bench-go
GO_DEMOS := $(patsubst bench/demos/go/%/main.go,$(BUILD)/bin/%-go,$(wildcard bench/demos/go/*/main.go))

.PHONY: all deps test bench lab demos install clean format
.SECONDARY:  # keep object files that pattern-rule chains would delete
all: $(LIB) $(TOOLS) $(TESTS) $(GO_BENCH) $(GO_DEMOS)

deps:
	$(Q)scripts/deps.sh

$(BUILD)/obj/%.o: %.cc | deps
	$(call say,CXX,$<)
	$(Q)mkdir -p $(@D)
	$(Q)$(CXX) $(CPPFLAGS) $(CXXFLAGS) $(SPDLOG_CFLAGS) -c $< -o $@

# The runtime's own code goes to the section `urgent_text` (the linker then defines
# __start_urgent_text/__stop_urgent_text): the SIGURG handler never preempts a goroutine
# whose pc is in it (runtime/preempt.cc). Every code section of a runtime object moves:
# .text, .text.unlikely/.hot/.startup, and the COMDAT sections (.text.<symbol>) of inline
# functions emitted out of line (an out-of-line sanitizer fiber hook or casgstatus must not
# look like user code). A COMDAT the program also emits may be linked from its copy
# instead: such shared library code is covered by the lock count (see HACKING.md).
# (Listed when the recipe runs, after the compiler wrote the object.)
runtime_text = $$(objdump -h $(1) | awk '$$2 ~ /^\.text/ { printf "--rename-section %s=urgent_text ", $$2 }')
$(BUILD)/obj/runtime/%.o: runtime/%.cc | deps
	$(call say,CXX,$<)
	$(Q)mkdir -p $(@D)
	$(Q)$(CXX) $(CPPFLAGS) $(CXXFLAGS) $(SPDLOG_CFLAGS) -MT $@ -MF $(@:.o=.d) -c $< -o $@.tmp
	$(Q)objcopy $(call runtime_text,$@.tmp) $@.tmp $@ && rm -f $@.tmp

# Tools under runtime/cmd are not runtime code: no renaming (the shorter stem wins).
$(BUILD)/obj/runtime/cmd/%.o: runtime/cmd/%.cc | deps
	$(call say,CXX,$<)
	$(Q)mkdir -p $(@D)
	$(Q)$(CXX) $(CPPFLAGS) $(CXXFLAGS) -c $< -o $@

$(VMLINUX_H): | deps
	$(call say,BTF,$@)
	$(Q)mkdir -p $(@D)
	$(Q)test -r /sys/kernel/btf/vmlinux || { echo "error: /sys/kernel/btf/vmlinux is missing:" \
	  "the eBPF observers are CO-RE programs and need a kernel with BTF" \
	  "(CONFIG_DEBUG_INFO_BTF=y)" >&2; exit 1; }
	$(Q)bpftool btf dump file /sys/kernel/btf/vmlinux format c > $@.tmp && mv $@.tmp $@

# (Explicit targets: a pattern rule's missing prerequisite would make make pick the
# generic %.o rule for the loader instead.)
bpf_compile = $(Q)clang -g -O2 -Wall -target bpf -D__TARGET_ARCH_$(subst x86_64,x86,$(ARCH)) \
	  -I$(BPF_OUT) -Ibpf -c $< -o $@
$(BPF_OUT)/observe.bpf.o: bpf/observe.bpf.c bpf/observe.h $(VMLINUX_H)
	$(call say,BPF,$<)
	$(bpf_compile)
$(BPF_OUT)/activate.bpf.o: bpf/activate.bpf.c bpf/activate.h $(VMLINUX_H)
	$(call say,BPF,$<)
	$(bpf_compile)

$(BPF_SKELS): $(BPF_OUT)/%.skel.h: $(BPF_OUT)/%.bpf.o
	$(call say,SKEL,$@)
	$(Q)bpftool gen skeleton $< name $*_bpf > $@.tmp && mv $@.tmp $@

# Syscall names for urgent-scope's tables, from the C library's <sys/syscall.h>.
$(BPF_OUT)/syscall_names.h: | deps
	$(call say,GEN,$@)
	$(Q)mkdir -p $(@D)
	$(Q)echo '#include <sys/syscall.h>' | $(CXX) -E -dM -x c - | \
	  awk '$$1 == "#define" && $$2 ~ /^__NR_/ && $$3 ~ /^[0-9]+$$/ { sub(/^__NR_/, "", $$2); \
	    printf "{%s, \"%s\"},\n", $$3, $$2 }' > $@.tmp && mv $@.tmp $@

$(BUILD)/obj/bpf/%.o: bpf/%.cc $(BPF_SKELS) $(BPF_OUT)/syscall_names.h | deps
	$(call say,CXX,$<)
	$(Q)mkdir -p $(@D)
	$(Q)$(CXX) $(CPPFLAGS) -Ibpf -I$(BPF_OUT) $(CXXFLAGS) -c $< -o $@

$(SCOPE): $(BUILD)/obj/bpf/urgent-scope.o $(BUILD)/obj/bpf/checker.o $(BPF_LOADERS) $(TRACE_READER_OBJS)
	$(call say,LINK,$@)
	$(Q)mkdir -p $(@D)
	$(Q)$(CXX) $(LDFLAGS) $^ -o $@ $(BPF_LIBS)

$(BUILD)/obj/%.o: %.S | deps
	$(call say,AS,$<)
	$(Q)mkdir -p $(@D)
	$(Q)$(CXX) $(CPPFLAGS) $(ASFLAGS) -c $< -o $@

$(LIB): $(LIB_OBJS)
	$(call say,AR,$@)
	$(Q)mkdir -p $(@D)
	$(Q)rm -f $@ && ar rcs $@ $^

$(TESTS): $(TEST_OBJS) $(LIB)
	$(call say,LINK,$@)
	$(Q)mkdir -p $(@D)
	$(Q)$(CXX) $(LDFLAGS) $(TEST_OBJS) $(LIB) -o $@ $$(pkg-config --libs gtest gmock) $(URGENT_LIBS)

$(BUILD)/bin/urgent-bench: $(BUILD)/obj/bench/urgent-bench.o $(LIB)
	$(call say,LINK,$@)
	$(Q)mkdir -p $(@D)
	$(Q)$(CXX) $(LDFLAGS) $^ -o $@ $(URGENT_LIBS)

# Plain C++: reads trace files, needs no runtime.
$(TRACE_TOOL): $(patsubst %.cc,$(BUILD)/obj/%.o,$(TRACE_TOOL_SRCS))
	$(call say,LINK,$@)
	$(Q)mkdir -p $(@D)
	$(Q)$(CXX) $(LDFLAGS) $^ -o $@

$(LAB): $(BUILD)/obj/bench/lab/urgent-lab.o $(LAB_LIB_OBJS) $(BUILD)/obj/runtime/cmd/urgent-trace/reader.o
	$(call say,LINK,$@)
	$(Q)mkdir -p $(@D)
	$(Q)$(CXX) $(LDFLAGS) $^ -o $@

$(BUILD)/bin/urgent-micro: $(BUILD)/obj/bench/micro.o $(LIB)
	$(call say,LINK,$@)
	$(Q)mkdir -p $(@D)
	$(Q)$(CXX) $(LDFLAGS) $^ -o $@ -lbenchmark $(URGENT_LIBS)

# The echo benchmark's client, shared by urgent-bench and urgent-bench-go: plain Linux, no
# liburgent.
$(ECHO_CLIENT): bench/echo-client.cc | deps
	$(call say,CXX,$@)
	$(Q)mkdir -p $(@D) $(BUILD)/obj/bench
	$(Q)$(CXX) $(CXXFLAGS) -MMD -MP -MF $(BUILD)/obj/bench/echo-client.d -MT $@ $< -o $@

$(BUILD)/bin/%: $(BUILD)/obj/bench/demos/%.o $(LIB)
	$(call say,LINK,$@)
	$(Q)mkdir -p $(@D)
	$(Q)$(CXX) $(LDFLAGS) $^ -o $@ $(URGENT_LIBS)

# The Go twins (Debian's golang-go; standard library only, no network).
GOENV = GOFLAGS=-mod=mod GOPROXY=off GOCACHE=$(abspath build/go-cache) GOPATH=$(abspath build/go-path)
$(GO_BENCH): $(wildcard bench/go/*.go) bench/go/go.mod | deps
	$(call say,GO,$@)
	$(Q)mkdir -p $(@D)
	$(Q)cd bench/go && $(GOENV) go build -o $(abspath $@) .

$(BUILD)/bin/%-go: bench/demos/go/%/main.go | deps
	$(call say,GO,$@)
	$(Q)mkdir -p $(@D)
	$(Q)cd $(<D) && $(GOENV) go build -o $(abspath $@) main.go

test: all
	$(Q)SAN=$(SAN) scripts/run-tests.sh $(BUILD)

bench: all
	$(Q)scripts/compare.sh --target spawn=0.25 --target yield=0.5 --target pingpong=0.5 \
	  --target chanbuf=0.8 --target mutex=1.0 --target handoff50=1.0 --floor echo=1.0 \
	  --target probe50=1.0 --target probe99=1.0 \
	  spawn yield pingpong chanbuf mutex select sleep50 sleep99 handoff50 handoffmax echo \
	  probe50 probe99
	$(Q)for s in 100us 50us; do echo "URGENT_TIMESLICE=$$s (target: p99 <= 3x the slice)"; \
	  URGENT_TIMESLICE=$$s $(BUILD)/bin/urgent-bench probe 1000; done
	$(Q)echo "preemption latency (target: p50 <= 1.15x the tgkill->handler floor)"; \
	  $(BUILD)/bin/urgent-bench preemptlat
	$(Q)$(BUILD)/bin/urgent-bench overhead
	$(Q)$(BUILD)/bin/urgent-micro --benchmark_min_time=0.2

lab: all
	$(Q)scripts/lab.sh $(BUILD) $(LAB_FLAGS)

demos: all
	$(Q)scripts/demos.sh $(BUILD)

install: $(LIB) $(TRACE_TOOL) $(SCOPE)
	$(call say,INSTALL,$(PREFIX))
	$(Q)install -d $(DESTDIR)$(PREFIX)/include/urgent $(DESTDIR)$(PREFIX)/lib/pkgconfig \
	  $(DESTDIR)$(PREFIX)/bin
	$(Q)install -m 644 runtime/include/urgent/*.h $(DESTDIR)$(PREFIX)/include/urgent/
	$(Q)install -m 644 $(LIB) $(DESTDIR)$(PREFIX)/lib/
	$(Q)install -m 755 $(TRACE_TOOL) $(SCOPE) $(DESTDIR)$(PREFIX)/bin/
	$(Q)sed 's|@PREFIX@|$(PREFIX)|' scripts/urgent.pc.in > $(DESTDIR)$(PREFIX)/lib/pkgconfig/urgent.pc

format:
	$(Q)clang-format -i $(LIB_SRCS) runtime/*.h runtime/include/urgent/*.h arch/$(ARCH)/*.h \
	  $(TEST_SRCS) bench/*.cc $(DEMO_SRCS)

clean:
	$(Q)rm -rf build

-include $(shell find build -name '*.d' 2>/dev/null)
