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
CHECK_FUZZ_TIME ?= 20

.PHONY: all deps check lint fuzz bench run clean format

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

# The daemon in the foreground with the embedded defaults: HTTP on
# 127.0.0.1:7420, data directory ./var (tokens file, unix socket).
run: build/release/build.ninja
	ninja -C build/release
	@mkdir -p var
	@echo
	@echo "ipwalld: HTTP on http://127.0.0.1:7420, unix socket ./var/ipwalld.sock"
	@echo "  check:  curl -i 'http://127.0.0.1:7420/v1/check?ip=192.0.2.1'"
	@echo "  ban:    build/release/src/cli/ipwall ban 192.0.2.1 --ttl 10m   (unix socket: no token)"
	@echo "  or:     curl -H \"Authorization: Bearer \$$(cut -d: -f2 var/tokens)\" \\"
	@echo "            --json '{\"target\":\"192.0.2.1\",\"ttl\":\"10m\"}' http://127.0.0.1:7420/v1/bans"
	@echo "  API:    docs/api.md   CLI: docs/cli.md   stop: Ctrl-C"
	@echo
	exec build/release/src/daemon/ipwalld --data-dir ./var

lint: build/asan/build.ninja
	scripts/lint

format:
	git ls-files '*.c' '*.h' | xargs clang-format -i

clean:
	rm -rf build
