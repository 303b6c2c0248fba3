# ngx_mdm: `make run` starts the local stack, `make test` builds and tests.
#
# B is the build directory; `make test-asan` reuses every rule with B=build-asan
# and the sanitizer flags.

SHELL    := /bin/bash

B        ?= build
SAN      ?=
CC       ?= cc
PKGS      = hiredis libplist-2.0 msgpack jansson libnghttp2 libssl libcrypto \
            libcurl
WARN      = -Wall -Wextra -Werror
CFLAGS   ?= -g -O2
CFLAGS   += $(WARN) -fPIC -std=gnu11 -Ilibmdm -I$(B)/gen $(SAN)
LDFLAGS  += $(SAN)
LIBS      = $(shell pkg-config --libs $(PKGS)) -lev -lm

NGX_SRC  ?= /usr/share/nginx/src
NGX_CC_OPT = -g -O2 -fPIC -fstack-protector-strong -Wformat \
             -Wall -Wextra -Wno-unused-parameter -Werror \
             -Werror=format-security -Wdate-time -D_FORTIFY_SOURCE=2

# libmdm is flat for the core and has one subfolder per domain (enroll/ ...);
# t/ and fuzz/ hold its tests, not its sources.
LIBMDM_SRCS  = $(filter-out libmdm/t/% libmdm/fuzz/%,\
                   $(wildcard libmdm/*.c libmdm/*/*.c))
LIBMDM_HDRS  = $(filter-out libmdm/t/%,$(wildcard libmdm/*.h libmdm/*/*.h))
LIBMDM_OBJS  = $(LIBMDM_SRCS:%.c=$(B)/%.o) $(B)/gen/mdm_scripts.o
LUA_SRCS     = $(wildcard libmdm/lua/*.lua libmdm/lua/lib/*.lua)
MODULE_SRCS  = $(wildcard ngx_mdm_module/*.c ngx_mdm_module/*.h)
WORKER_SRCS  = $(wildcard worker/*.c)
UNIT_SRCS    = $(wildcard libmdm/t/test_*.c)
UNIT_BINS    = $(UNIT_SRCS:libmdm/t/test_%.c=$(B)/unit/%.t)
TOOLS        = $(patsubst tools/%/,%,$(dir $(wildcard tools/*/main.c)))
TOOL_BINS    = $(TOOLS:%=$(B)/%)

MODULE_SO    = $(B)/nginx/ngx_http_mdm_module.so

.PHONY: FORCE all module deb deps deps-if-missing fuzz run stop test test-unit test-asan bench clean

all: $(B)/libmdm.a $(MODULE_SO) $(B)/mdm-worker $(TOOL_BINS) $(UNIT_BINS)

module: $(MODULE_SO)

deps:
	@tools/install-deps.sh

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

$(B)/unit/%.t: libmdm/t/test_%.c libmdm/t/tap.h $(B)/libmdm.a
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) -Ilibmdm/t -o $@ $< $(B)/libmdm.a $(LDFLAGS) $(LIBS)

test: deps-if-missing all
	prove --exec '' $(UNIT_BINS)
	MDM_BUILD=$(B) prove -j2 t/

test-unit: $(UNIT_BINS)
	prove --exec '' $(UNIT_BINS)

test-asan:
	MDM_ASAN=1 UBSAN_OPTIONS=print_stacktrace=1 $(MAKE) B=build-asan \
	    SAN="-fsanitize=address,undefined -fno-omit-frame-pointer" test

deps-if-missing:
	@tools/install-deps.sh --if-missing

run: deps-if-missing all
	@tools/dev-stack.sh start $(B)

stop:
	@tools/dev-stack.sh stop

bench: deps-if-missing all
	@bench/run.sh $(B)

# libFuzzer targets for the parsers that see untrusted bytes first (needs
# clang and libclang-rt-14-dev): make fuzz FUZZ_SECONDS=300
FUZZ_SECONDS ?= 60
FUZZ_CC       = clang -g -O1 -fsanitize=fuzzer,address,undefined -Ilibmdm
FUZZ_LIBMDM   = libmdm/mdm_plist.c libmdm/mdm_enrollment.c \
                libmdm/mdm_checkin.c libmdm/mdm_report.c

fuzz:
	@mkdir -p $(B)/fuzz/cms $(B)/fuzz/checkin
	$(FUZZ_CC) libmdm/fuzz/fuzz_cms.c libmdm/mdm_cms.c -lcrypto \
	    -o $(B)/fuzz/fuzz_cms
	$(FUZZ_CC) libmdm/fuzz/fuzz_checkin.c $(FUZZ_LIBMDM) \
	    $$(pkg-config --libs libplist-2.0) -o $(B)/fuzz/fuzz_checkin
	$(B)/fuzz/fuzz_cms -max_total_time=$(FUZZ_SECONDS) $(B)/fuzz/cms
	$(B)/fuzz/fuzz_checkin -max_total_time=$(FUZZ_SECONDS) \
	    -dict=libmdm/fuzz/plist.dict $(B)/fuzz/checkin

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
