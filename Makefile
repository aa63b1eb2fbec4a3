# SPDX-License-Identifier: MIT
#
# Thin wrapper over Meson for the README's commands. Each build flavour has
# its own directory under build/:
#   build/asan     ASan+UBSan, -Werror: what `make check` tests
#   build/tsan     ThreadSanitizer, for the concurrent core
#   build/fuzz     clang + libFuzzer + ASan/UBSan
#   build/release  optimised, for `make bench` and `make run`

MESON      ?= meson
FUZZ_TIME  ?= 300
CHECK_FUZZ_TIME ?= 12

.PHONY: all deps check lint fuzz bench run clean format install soak

all: build/release/build.ninja
	ninja -C build/release

deps:
	@scripts/deps

build/asan/build.ninja: | deps
	$(MESON) setup build/asan -Db_sanitize=address,undefined -Db_lundef=false \
		-Dwerror=true --buildtype=debugoptimized

build/tsan/build.ninja: | deps
	CC=clang $(MESON) setup build/tsan -Db_sanitize=thread -Db_lundef=false \
		-Dwerror=true --buildtype=debugoptimized

build/fuzz/build.ninja: | deps
	CC=clang $(MESON) setup build/fuzz -Dfuzz=true \
		-Db_sanitize=address,undefined -Db_lundef=false \
		-Dwerror=true --buildtype=debugoptimized

build/release/build.ninja: | deps
	$(MESON) setup build/release --buildtype=release -Db_ndebug=true \
		-Dwerror=true

check: build/asan/build.ninja build/tsan/build.ninja build/fuzz/build.ninja
	ninja -C build/asan
	ninja -C build/tsan
	ninja -C build/fuzz
	FUZZ_TIME=$(CHECK_FUZZ_TIME) scripts/testrun

fuzz: build/fuzz/build.ninja
	ninja -C build/fuzz
	scripts/fuzz $(FUZZ_TIME)

bench: build/release/build.ninja
	ninja -C build/release
	scripts/bench
	scripts/bench-plot

# The auto-ban flood test at soak size: 10 million events (FLOOD_EVENTS
# changes it) against the release build, where the ASan build that `make
# check` runs at 1 million would take minutes and measure the sanitizer.
FLOOD_EVENTS ?= 10000000
soak: build/release/build.ninja
	ninja -C build/release
	IPWALLD=build/release/src/daemon/ipwalld \
		FLOOD=build/release/tests/tools/event_flood \
		FLOOD_EVENTS=$(FLOOD_EVENTS) tests/integration/autoban_flood.sh

# The daemon in the foreground with the embedded defaults: HTTP on
# 127.0.0.1:7420, data directory ./var (tokens file, unix socket).
# RUN_LISTEN and RUN_DATA change them (tests use both).
RUN_LISTEN ?= 127.0.0.1:7420
RUN_DATA   ?= ./var
run: deps build/release/build.ninja
	ninja -C build/release
	@echo
	@echo "ipwalld: HTTP on http://$(RUN_LISTEN), unix socket $(RUN_DATA)/ipwalld.sock"
	@echo "  check:  curl -i 'http://$(RUN_LISTEN)/v1/check?ip=192.0.2.1'"
	@echo "  ban:    build/release/src/cli/ipwall --socket $(RUN_DATA)/ipwalld.sock ban 192.0.2.1 --ttl 10m"
	@echo "          (over the unix socket: no token needed)"
	@echo "  or:     curl -H \"Authorization: Bearer \$$(cut -d: -f2 $(RUN_DATA)/tokens)\" \\"
	@echo "            --json '{\"target\":\"192.0.2.1\",\"ttl\":\"10m\"}' http://$(RUN_LISTEN)/v1/bans"
	@echo "  API:    docs/api.md   CLI: docs/cli.md   stop: Ctrl-C"
	@echo
	exec build/release/src/daemon/ipwalld --listen $(RUN_LISTEN) --data-dir $(RUN_DATA)

# Install from the release build, configured for PREFIX: ipwalld
# (PREFIX/sbin), ipwall (PREFIX/bin), libipwall-client with its header and
# ipwall-client.pc, the systemd unit (PREFIX/lib/systemd/system, its paths
# made to match), and as documentation (PREFIX/share/doc/ipwall) the
# example configuration, the enforcement drop-in and the docs. DESTDIR
# stages it all under another root, for packages and tests.
PREFIX  ?= /usr/local
DESTDIR ?=
install: build/release/build.ninja
	$(MESON) configure build/release -Dprefix=$(PREFIX)
	ninja -C build/release
	DESTDIR="$(DESTDIR)" $(MESON) install -C build/release --no-rebuild

lint: build/asan/build.ninja
	scripts/lint

format:
	git ls-files '*.c' '*.h' | xargs clang-format -i

clean:
	rm -rf build
