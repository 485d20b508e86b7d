# The two commands: `make run` and `make test`. Everything else is a helper.
# Each target first installs any missing Debian packages (scripts/install-deps.sh).

BUILD      ?= build
ASAN_BUILD ?= build-asan
PYTEST     ?= /usr/bin/python3 -m pytest
MESON_OPTS ?= -Dwerror=true
DB         ?= ./closeloop.db
ARGS       ?=

.PHONY: all deps build run test unit blackbox asan lint format clean

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
	$(MAKE) --no-print-directory asan

unit: $(BUILD)/build.ninja
	meson test -C $(BUILD) --suite unit --print-errorlogs

blackbox:
	CLOSELOOP_BIN=$(abspath $(BUILD))/src/cli/closeloop $(PYTEST) -q tests/blackbox tests/blackbox_client

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
	rm -rf $(BUILD) $(ASAN_BUILD)
