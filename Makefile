# ngx_mdm: `make run` starts the local stack, `make test` builds and tests.
#
# B is the build directory; `make test-asan` reuses every rule with B=build-asan
# and the sanitizer flags.

SHELL    := /bin/bash

B        ?= build
SAN      ?=
CC       ?= cc
PKGS      = hiredis libplist-2.0 msgpack jansson libnghttp2 libssl libcrypto \
            jose libcbor \
            libcurl
WARN      = -Wall -Wextra -Werror
CFLAGS   ?= -g -O2
CFLAGS   += $(WARN) -fPIC -std=gnu11 -Ilibmdm -I$(B)/gen $(SAN)
LDFLAGS  += $(SAN)
# --as-needed again after the sanitizer's own libraries: gcc's
# -fsanitize=address turns it off for the rest of the link, and every program
# then loaded every library, whose constructors (libjose's) allocate through
# OpenSSL before a test can install its allocator (test_identity's budget)
LIBS      = -Wl,--as-needed $(shell pkg-config --libs $(PKGS)) -lev -lm

NGX_SRC  ?= /usr/share/nginx/src
NGX_CC_OPT = -g -O2 -fPIC -fstack-protector-strong -Wformat \
             -Wall -Wextra -Wno-unused-parameter -Werror \
             -Werror=format-security -Wdate-time -D_FORTIFY_SOURCE=2

# libmdm is flat for the core and has one subfolder per domain (enroll/ ...);
# t/ and fuzz/ hold its tests, not its sources.
LIBMDM_SRCS  = $(filter-out libmdm/t/% libmdm/fuzz/%,\
                   $(wildcard libmdm/*.c libmdm/*/*.c))
LIBMDM_HDRS  = $(filter-out libmdm/t/% libmdm/fuzz/%,$(wildcard libmdm/*.h libmdm/*/*.h))
LIBMDM_OBJS  = $(LIBMDM_SRCS:%.c=$(B)/%.o) $(B)/gen/mdm_scripts.o
LUA_SRCS     = $(wildcard libmdm/lua/*.lua libmdm/lua/lib/*.lua)
MODULE_SRCS  = $(wildcard ngx_mdm_module/*.c ngx_mdm_module/*.h)
WORKER_SRCS  = $(wildcard worker/*.c)
UNIT_SRCS    = $(wildcard libmdm/t/test_*.c)
# worker/t/test_<x>.c: the worker's components without a running stack,
# linked with every worker object but main.o
WORKER_UNIT_SRCS = $(wildcard worker/t/test_*.c)
WORKER_LIB_OBJS  = $(patsubst %.c,$(B)/%.o,$(filter-out worker/main.c,$(WORKER_SRCS)))
UNIT_BINS    = $(UNIT_SRCS:libmdm/t/test_%.c=$(B)/unit/%.t) \
               $(WORKER_UNIT_SRCS:worker/t/test_%.c=$(B)/unit/worker_%.t)
# drivers the Perl tests run against real servers (not tests by themselves)
DRIVER_BINS  = $(B)/unit/cluster_client
TOOLS        = $(patsubst tools/%/,%,$(dir $(wildcard tools/*/main.c)))
TOOL_BINS    = $(TOOLS:%=$(B)/%)

MODULE_SO    = $(B)/nginx/ngx_http_mdm_module.so

.PHONY: FORCE all module deb deps schema deps-if-missing fuzz run stop test test-unit test-asan \
        test-stress bench bench-acme clean chaos

all: $(B)/libmdm.a $(MODULE_SO) $(B)/mdm-worker $(TOOL_BINS) $(UNIT_BINS) \
     $(DRIVER_BINS) $(B)/mdm-schema

module: $(MODULE_SO)

deps:
	@tools/install-deps.sh

# The files made from libmdm/mdm_schema.c's key table (docs/redis-schema.md);
# t/005-schema.t checks that they are up to date.
schema: $(B)/mdm-schema
	tools/gen-schema.sh $(B)/mdm-schema

# a build tool, not shipped: prints what is made from the key table
$(B)/mdm-schema: tools/schema/mdm-schema.c $(B)/libmdm.a
	$(CC) $(CFLAGS) -o $@ $< $(B)/libmdm.a $(LDFLAGS) $(LIBS)

$(B)/gen/mdm_scripts.c: $(LUA_SRCS) tools/embed-lua.sh
	@mkdir -p $(@D)
	tools/embed-lua.sh libmdm/lua > $@.tmp && mv $@.tmp $@

$(B)/%.o: %.c $(LIBMDM_HDRS)
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) -c $< -o $@

$(B)/gen/mdm_scripts.o: $(B)/gen/mdm_scripts.c
	$(CC) $(CFLAGS) -c $< -o $@

$(B)/libmdm.a: $(LIBMDM_OBJS)
	$(AR) rcs $@ $^

# The module is built by nginx's own build system from Debian's nginx-dev
# sources with Debian's exact configure flags, so that its signature matches
# the nginx binary that loads it. Nothing is written outside $(B).
$(B)/nginx/Makefile: config $(B)/nginx/sources.list
	cd $(NGX_SRC) && . ./conf_flags && ./configure "$${NGX_CONF_FLAGS[@]}" \
	    --with-cc-opt="$(NGX_CC_OPT)" \
	    --add-dynamic-module=$(CURDIR) --builddir=$(CURDIR)/$(B)/nginx \
	    > $(CURDIR)/$(B)/nginx/configure.log 2>&1 \
	    || { tail -20 $(CURDIR)/$(B)/nginx/configure.log; exit 1; }
	@# configure's own probes must not run sanitized: add the flags after
	sed -i -e 's|^CFLAGS = .*|& $(SAN)|' -e 's|^LINK =.*|& $(SAN)|' $@

# Re-run configure only when the set of source files changes, not their text.
$(B)/nginx/sources.list: FORCE
	@mkdir -p $(@D)
	@ls $(LIBMDM_SRCS) $(LIBMDM_HDRS) libmdm/lua/*.lua libmdm/lua/lib/*.lua ngx_mdm_module/*.[ch] > $@.tmp
	@cmp -s $@.tmp $@ && rm $@.tmp || mv $@.tmp $@

FORCE:

# config embeds the Lua scripts at configure time; refresh them when edited.
$(MODULE_SO): $(B)/nginx/Makefile $(LIBMDM_SRCS) $(LIBMDM_HDRS) $(MODULE_SRCS) $(LUA_SRCS)
	tools/embed-lua.sh libmdm/lua > $(B)/nginx/addon/mdm_gen/mdm_scripts.c.tmp
	cmp -s $(B)/nginx/addon/mdm_gen/mdm_scripts.c.tmp \
	    $(B)/nginx/addon/mdm_gen/mdm_scripts.c \
	    && rm $(B)/nginx/addon/mdm_gen/mdm_scripts.c.tmp \
	    || mv $(B)/nginx/addon/mdm_gen/mdm_scripts.c.tmp \
	          $(B)/nginx/addon/mdm_gen/mdm_scripts.c
	$(MAKE) -s -f $(CURDIR)/$(B)/nginx/Makefile -C $(NGX_SRC) modules

$(B)/mdm-worker: $(WORKER_SRCS:%.c=$(B)/%.o) $(B)/libmdm.a
	$(CC) $(LDFLAGS) -o $@ $^ $(LIBS)

$(B)/worker/%.o: worker/%.c $(wildcard worker/*.h) $(LIBMDM_HDRS)
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) -Iworker -c $< -o $@

.SECONDEXPANSION:
$(TOOL_BINS): $(B)/%: $$(addprefix $(B)/,$$(subst .c,.o,$$(wildcard tools/%/*.c))) $(B)/libmdm.a
	$(CC) $(LDFLAGS) -o $@ $^ $(LIBS)

$(B)/tools/%.o: tools/%.c $(LIBMDM_HDRS) $$(wildcard $$(dir tools/%)*.h)
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) -I$(dir $<) -c $< -o $@

# The unit tests find the repository's fixtures and golden files from
# anywhere (MDM_FIXTURES overrides the fixtures, as for t/).
UNIT_DEFS = -DMDM_TEST_FIXTURES='"$(CURDIR)/t/fixtures"' \
            -DMDM_TEST_GOLDEN='"$(CURDIR)/t/golden"'

$(B)/unit/%.t: libmdm/t/test_%.c $(wildcard libmdm/t/*.h) $(B)/libmdm.a
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) $(UNIT_DEFS) -Ilibmdm/t -o $@ $< $(B)/libmdm.a $(LDFLAGS) $(LIBS)

# The t/ files are independent (own temp dir, free ports, own processes):
# prove runs TEST_JOBS of them at once, one per CPU (at least 2).
TEST_JOBS ?= $(shell n=$$(nproc 2>/dev/null || echo 2); [ $$n -lt 2 ] && n=2; echo $$n)

$(B)/unit/worker_%.t: worker/t/test_%.c libmdm/t/tap.h $(WORKER_LIB_OBJS) \
                      $(B)/libmdm.a
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) -Ilibmdm/t -Iworker -o $@ $< $(WORKER_LIB_OBJS) \
	    $(B)/libmdm.a $(LDFLAGS) $(LIBS)
$(B)/unit/cluster_client: libmdm/t/cluster_client.c $(B)/libmdm.a
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) -o $@ $< $(B)/libmdm.a $(LDFLAGS) $(LIBS)

test: deps-if-missing all
	prove --exec '' $(UNIT_BINS)
	MDM_BUILD=$(B) prove -j$(TEST_JOBS) t/
	+$(MAKE) fuzz-smoke

test-unit: $(UNIT_BINS)
	prove --exec '' $(UNIT_BINS)

# t/110-chaos.t with more rounds of Redis and mdm-worker SIGKILLs under load
CHAOS_ROUNDS ?= 20
chaos: all
	CHAOS_ROUNDS=$(CHAOS_ROUNDS) MDM_BUILD=$(B) prove -v t/110-chaos.t

# Sanitized build, leak checks on (t/lsan.supp: nginx's own exit-time
# allocations); every test wait three times as long.
test-asan:
	MDM_ASAN=1 MDM_TEST_TIMEOUT_SCALE=$${MDM_TEST_TIMEOUT_SCALE:-3} \
	    UBSAN_OPTIONS=print_stacktrace=1 \
	    LSAN_OPTIONS=suppressions=$(CURDIR)/t/lsan.supp:print_suppressions=0 \
	    $(MAKE) B=build-asan \
	    SAN="-fsanitize=address,undefined -fno-omit-frame-pointer" test

# The suite STRESS_ROUNDS times in a row while another full run and
# stress-ng --cpu 2 share the machine; a table of failures per file at the end
# (tools/test-stress.sh).
STRESS_ROUNDS ?= 10
test-stress: deps-if-missing all
	@MDM_BUILD=$(B) TEST_JOBS=$(TEST_JOBS) tools/test-stress.sh $(STRESS_ROUNDS)

deps-if-missing:
	@tools/install-deps.sh --if-missing

# CLUSTER=1: a local 3-master, 3-replica Redis Cluster instead of one Redis
run: deps-if-missing all
	@MDM_CLUSTER=$(CLUSTER) tools/dev-stack.sh start $(B)

stop:
	@tools/dev-stack.sh stop

bench: deps-if-missing all $(B)/acme_bench
	@bench/run.sh $(B)
	@bench/vpp_bench.sh $(B)
	$(B)/acme_bench

# ACME device-attest-01 CPU per issuance, in-process (BENCHMARKS.md, "ACME")
bench-acme: $(B)/acme_bench
	$(B)/acme_bench

$(B)/acme_bench: bench/acme_bench.c $(B)/libmdm.a libmdm/t/testcert.h
	$(CC) $(CFLAGS) -Ilibmdm/t -o $@ $< $(B)/libmdm.a $(LDFLAGS) $(LIBS)

# libFuzzer targets, one per parser that sees untrusted bytes: target <t> is
# libmdm/fuzz/fuzz_<t>.c, seeds in libmdm/fuzz/corpus/<t>/, an optional
# dictionary libmdm/fuzz/<t>.dict (docs/fuzzing.md). Adding one is adding its
# name here. They link libmdm.a and the worker's objects (all but main.c) as
# the sub-make below builds them, with clang and the fuzzer's flags in
# $(FUZZ_B), so the fuzz link is the same object list as everything else.
FUZZ_TARGETS  = checkin cms command pushcert identity plist_json event \
                apns_reply worker_config webhook_json scep \
                machineinfo ddm_status ddm_declaration ota \
                webhook_conf apns_goaway ade_fields acme_jws profile dep_token vpp \
                acme_attest inventory wellknown albc
FUZZ_SECONDS ?= 60
FUZZ_RUNS    ?= -1
FUZZ_SMOKE_SECONDS ?= 3
FUZZ_B        = $(B)/fuzz
FUZZ_SAN      = -fsanitize=address,undefined -fno-sanitize-recover=undefined \
                -fno-omit-frame-pointer
FUZZ_WORKER   = $(patsubst %.c,$(FUZZ_B)/%.o,$(filter-out worker/main.c,$(WORKER_SRCS)))
FUZZ_BINS     = $(FUZZ_TARGETS:%=$(FUZZ_B)/fuzz_%)

.PHONY: fuzz-build fuzz-smoke

fuzz-build:
	+$(MAKE) B=$(FUZZ_B) CC=clang SAN="-fsanitize=fuzzer-no-link $(FUZZ_SAN)" \
	    $(FUZZ_B)/libmdm.a $(FUZZ_WORKER)
	+$(MAKE) $(FUZZ_BINS)

$(FUZZ_B)/fuzz_%: libmdm/fuzz/fuzz_%.c $(wildcard libmdm/fuzz/*.h) \
                  $(FUZZ_B)/libmdm.a $(FUZZ_WORKER)
	clang -g -O1 $(WARN) -std=gnu11 -Ilibmdm -Ilibmdm/t -Iworker \
	    -fsanitize=fuzzer $(FUZZ_SAN) -o $@ $< $(FUZZ_WORKER) \
	    $(FUZZ_B)/libmdm.a $(LIBS)

# Every target (or FUZZ_TARGETS=...) for FUZZ_SECONDS or FUZZ_RUNS inputs each;
# new inputs are kept in $(FUZZ_B)/corpus/<t>, crashes in $(FUZZ_B)/crash-*.
fuzz: fuzz-build
	@set -e; for t in $(FUZZ_TARGETS); do \
	    mkdir -p $(FUZZ_B)/corpus/$$t; \
	    echo "fuzz $$t: $(FUZZ_SECONDS) s"; \
	    $(FUZZ_B)/fuzz_$$t -max_total_time=$(FUZZ_SECONDS) -runs=$(FUZZ_RUNS) \
	        -print_final_stats=1 -artifact_prefix=$(FUZZ_B)/ \
	        $$(d=libmdm/fuzz/$$t.dict; [ -f $$d ] && echo -dict=$$d) \
	        $(FUZZ_B)/corpus/$$t libmdm/fuzz/corpus/$$t; \
	done

# CI: every seed once, then FUZZ_SMOKE_SECONDS of fuzzing per target; any
# crash, leak or sanitizer report fails the build.
fuzz-smoke: fuzz-build
	@set -e; for t in $(FUZZ_TARGETS); do \
	    rm -rf $(FUZZ_B)/smoke/$$t; mkdir -p $(FUZZ_B)/smoke/$$t; \
	    $(FUZZ_B)/fuzz_$$t -max_total_time=$(FUZZ_SMOKE_SECONDS) \
	        -artifact_prefix=$(FUZZ_B)/smoke/ -print_final_stats=1 \
	        $$(d=libmdm/fuzz/$$t.dict; [ -f $$d ] && echo -dict=$$d) \
	        $(FUZZ_B)/smoke/$$t libmdm/fuzz/corpus/$$t \
	        > $(FUZZ_B)/smoke/$$t.log 2>&1 \
	        || { tail -40 $(FUZZ_B)/smoke/$$t.log; exit 1; }; \
	    echo "fuzz-smoke $$t: $$(grep -h -o 'number_of_executed_units: [0-9]*' $(FUZZ_B)/smoke/$$t.log)"; \
	done

# Debian packages (docs/packaging.md): a copy of the tree is built under
# build/deb/src so that dpkg-buildpackage writes nothing outside build/deb.
deb:
	rm -rf build/deb && mkdir -p build/deb/src/ngx-mdm
	git ls-files -co --exclude-standard -z | grep -zv '^build' \
	    | tar --null -T - -cf - | tar -xf - -C build/deb/src/ngx-mdm
	cd build/deb/src/ngx-mdm && dpkg-buildpackage -us -uc -b \
	    > ../../build.log 2>&1 || { tail -30 $(CURDIR)/build/deb/build.log; exit 1; }
	mv build/deb/src/*.deb build/deb/src/*.changes build/deb/src/*.buildinfo build/deb/
	lintian --fail-on error build/deb/*.changes | tee build/deb/lintian.log

clean:
	rm -rf build build-asan
