# The two commands: `make run` and `make test`. Everything else is a helper.
# Each target first installs any missing Debian packages (scripts/install-deps.sh).

BUILD      ?= build
ASAN_BUILD ?= build-asan
PYTEST     ?= /usr/bin/python3 -m pytest
MESON_OPTS ?= -Dwerror=true
DB         ?= ./closeloop.db
ARGS       ?=

.PHONY: all deps build run test unit blackbox blackbox-pg asan lint format clean

all: build

deps:
	@scripts/install-deps.sh build

$(BUILD)/build.ninja:
	meson setup $(BUILD) $(MESON_OPTS)

build: deps $(BUILD)/build.ninja
	ninja -C $(BUILD)

run: build
	./$(BUILD)/src/cli/closeloop serve --demo --db $(DB) $(ARGS)

# Unit tests, then the black-box suite against the real server, first in the
# normal build, then again under AddressSanitizer + UndefinedBehaviorSanitizer.
test:
	@scripts/install-deps.sh test
	$(MAKE) --no-print-directory build lint
	$(MAKE) --no-print-directory unit blackbox BUILD=$(BUILD)
	$(MAKE) --no-print-directory blackbox-pg BUILD=$(BUILD)
	$(MAKE) --no-print-directory asan
	$(MAKE) --no-print-directory fuzz-ci
	$(MAKE) --no-print-directory contract

unit: $(BUILD)/build.ninja
	meson test -C $(BUILD) --suite unit --print-errorlogs

blackbox:
	CLOSELOOP_BIN=$(abspath $(BUILD))/src/cli/closeloop $(PYTEST) -q tests/blackbox tests/blackbox_client

# The same suite on PostgreSQL: a throwaway cluster (scripts/pg-cluster.sh) in
# a temporary directory, the PostgreSQL store's unit tests (which skip
# without a cluster), a new database per test, and tests/blackbox/
# test_postgres.py (several server nodes on one database, the database going
# away). The cluster is removed whatever happens; pytest's exit code is kept.
blackbox-pg:
	@scripts/install-deps.sh test
	@dir=$$(mktemp -d "$${TMPDIR:-/tmp}/closeloop-pg.XXXXXX") || exit 1; \
	trap 'scripts/pg-cluster.sh stop "$$dir"' EXIT; trap 'exit 130' INT TERM; \
	url=$$(scripts/pg-cluster.sh start "$$dir") || exit 1; \
	echo "blackbox-pg: PostgreSQL at $$url"; \
	CLOSELOOP_TEST_PG=$$url meson test -C $(BUILD) --print-errorlogs store_pg && \
	CLOSELOOP_TEST_PG=$$url CLOSELOOP_BIN=$(abspath $(BUILD))/src/cli/closeloop \
	    $(PYTEST) -q tests/blackbox tests/blackbox_client

$(ASAN_BUILD)/build.ninja:
	meson setup $(ASAN_BUILD) $(MESON_OPTS) -Db_sanitize=address,undefined -Db_lundef=false \
	    -Dbuildtype=debug

asan: $(ASAN_BUILD)/build.ninja
	ninja -C $(ASAN_BUILD)
	ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 LSAN_OPTIONS=suppressions=$(abspath tests/lsan.supp) \
	    UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 \
	    $(MAKE) --no-print-directory unit blackbox BUILD=$(ASAN_BUILD)

format:
	clang-format -i $$(git ls-files '*.c' '*.h')

# The code is formatted (.clang-format) and cppcheck finds nothing.
lint:
	clang-format --dry-run --Werror $$(git ls-files '*.c' '*.h')
	cppcheck --quiet --error-exitcode=1 --enable=warning,performance,portability \
	    --inline-suppr --std=c11 -I src -I include src

clean:
	rm -rf $(BUILD) $(ASAN_BUILD) $(FUZZ_BUILD)

# closeloop against nginx serving the same bytes (bench/bench.py; under 10
# minutes once the seeded databases are cached in bench/cache/). Results go
# to bench/results/latest.md and latest.png. BENCH_ARGS: e.g. --rounds 5.
BENCH_BUILD ?= build-bench
BENCH_ARGS  ?=
.PHONY: bench
bench:
	@scripts/install-deps.sh bench
	test -f $(BENCH_BUILD)/build.ninja || meson setup $(BENCH_BUILD) --buildtype=release \
	    -Db_ndebug=true -Dtests=false
	ninja -C $(BENCH_BUILD)
	/usr/bin/python3 bench/bench.py --bin $(BENCH_BUILD)/src/cli/closeloop $(BENCH_ARGS)

# The same pages, syncs and writes on SQLite and on PostgreSQL (bench/pg.py):
# make bench's cached seed copied into a throwaway cluster. Results go to
# bench/results/postgres.md.
.PHONY: bench-pg
bench-pg:
	@scripts/install-deps.sh bench
	test -f $(BENCH_BUILD)/build.ninja || meson setup $(BENCH_BUILD) --buildtype=release \
	    -Db_ndebug=true -Dtests=false
	ninja -C $(BENCH_BUILD)
	/usr/bin/python3 bench/pg.py --bin $(BENCH_BUILD)/src/cli/closeloop $(BENCH_ARGS)

# libFuzzer on every parser of untrusted bytes (tests/fuzz): each target's
# regression inputs once, then FUZZ_SECONDS of fuzzing on a temporary copy of
# its seed corpus; one summary line per target. fuzz-ci is the short run of
# make test. The build is clang's, with ASan, UBSan and coverage
# instrumentation; not -Werror, as the gcc builds hold the code to that.
FUZZ_BUILD   ?= build-fuzz
FUZZ_SECONDS ?= 60
FUZZ_TARGETS ?= form date json_write case_body auth_header token page
.PHONY: fuzz fuzz-ci
fuzz:
	@scripts/install-deps.sh fuzz
	test -f $(FUZZ_BUILD)/build.ninja || CC=clang meson setup $(FUZZ_BUILD) -Dfuzz=true \
	    -Dtests=false -Db_sanitize=address,undefined -Db_lundef=false \
	    -Dc_args='-fsanitize=fuzzer-no-link -fno-sanitize-recover=all'
	ninja -C $(FUZZ_BUILD) $(addprefix tests/fuzz/fuzz_,$(FUZZ_TARGETS))
	tests/fuzz/run.sh $(FUZZ_BUILD) $(FUZZ_SECONDS) $(FUZZ_TARGETS)

fuzz-ci:
	$(MAKE) --no-print-directory fuzz FUZZ_SECONDS=10

# The published interfaces against the real server: docs/openapi.yaml linted
# by Redocly CLI, every endpoint's responses (successes and every documented
# error) checked against its schemas (tests/contract), and the Postman
# collection run by Newman. The npm tools are pinned in package-lock.json and
# installed into node_modules/ only when the lock file changes.
.PHONY: contract
contract: build node_modules/.package-lock.json
	@scripts/install-deps.sh test
	REDOCLY_TELEMETRY=off REDOCLY_SUPPRESS_UPDATE_NOTICE=true node_modules/.bin/redocly lint \
	    --format stylish docs/openapi.yaml
	CLOSELOOP_BIN=$(abspath $(BUILD))/src/cli/closeloop $(PYTEST) -q tests/contract

node_modules/.package-lock.json: package.json package-lock.json
	@scripts/install-deps.sh test
	npm ci --no-audit --no-fund --loglevel=error
	touch $@
