# Homeline: the two commands a newcomer needs.
#   make run    build and start the desktop app
#   make test   run every test, with the real services started by the harness
# Both install whatever is missing first (scripts/setup.sh), and nothing twice.

SHELL := /bin/bash
CARGO_TARGET_DIR ?= /var/cache/homeline/target
export CARGO_TARGET_DIR
# A CI run builds a fresh clone, whose crates the shared target dir has never
# seen: incremental caches would only pile up (tens of GB over many runs, which
# filled this machine's disk once). Developers keep them.
ifdef CI
export CARGO_INCREMENTAL := 0
endif
SUDO := $(if $(filter 0,$(shell id -u)),,sudo)
# `make test` ends with a short fuzz run of each target (issue 3, "Bad input").
CI_FUZZ_SECONDS ?= 10

.PHONY: run test setup ui app bench clean-target

run: setup
	@scripts/check-display.sh
	@$(MAKE) --no-print-directory app
	@echo "==> Starting Homeline"
	@"$(CARGO_TARGET_DIR)/debug/homeline"

test: setup app
	@echo "==> UI checks and unit tests"
	cd ui && npm run --silent check && npm test --silent
	@echo "==> Rust tests (unit, and integration against real services)"
	cargo test --workspace --no-fail-fast 2>&1 | tee "$(CARGO_TARGET_DIR)/last-test.log"; exit $${PIPESTATUS[0]}
	@echo "==> Fuzz smoke: each fuzz target for $(CI_FUZZ_SECONDS) s from the corpus in fuzz/corpus"
	@$(MAKE) --no-print-directory fuzz-smoke FUZZ_SECONDS=$(CI_FUZZ_SECONDS)
	@awk '/^test result:/ { for (i = 1; i <= NF; i++) { if ($$(i+1) ~ /^passed/) p += $$i; if ($$(i+1) ~ /^failed/) f += $$i } } \
	  END { printf "tests: %d passed, %d failed\n", p, f }' "$(CARGO_TARGET_DIR)/last-test.log"
ifdef CI
	@# A fresh clone's test binaries (about 5 GB) are never run again from the
	@# shared target dir: remove them so CI runs do not fill the disk.
	@cargo test --workspace --no-run --message-format=json 2>/dev/null \
	  | grep -o '"executable":"[^"]*"' | cut -d'"' -f4 | xargs -r rm -f; \
	  echo "CI: this clone's test binaries removed from $(CARGO_TARGET_DIR)"
endif

setup: $(CARGO_TARGET_DIR)/.exists
	@scripts/setup.sh

# The target directory lives outside the clone so every checkout (and CI's
# fresh clones) builds incrementally.
$(CARGO_TARGET_DIR)/.exists:
	@$(SUDO) mkdir -p "$(CARGO_TARGET_DIR)"
	@$(SUDO) chown "$$(id -u):$$(id -g)" "$(CARGO_TARGET_DIR)" "$$(dirname "$(CARGO_TARGET_DIR)")"
	@touch "$@"

ui:
	@echo "==> Building the UI (ui/dist)"
	@cd ui && npm run --silent build

# The UI is embedded in the binary at compile time: build it first.
app: ui
	@echo "==> Building the app (first build compiles Tauri and takes several minutes)"
	cargo build -p homeline -p homeline-cli

# Release (issue 7): the signed .deb and .rpm and the update manifest
# (latest.json); the key and the update URL come from the environment, see
# scripts/release.sh and the README's "Publishing an update".
.PHONY: release
release: setup
	@scripts/release.sh

# Fuzzing (issue 3, "Bad input"): the cargo-fuzz targets in fuzz/ (see
# fuzz/README.md). `make fuzz-smoke` runs each for FUZZ_SECONDS (20) from its
# corpus in the repo and fails on any crash; the inputs it finds go under
# $(CARGO_TARGET_DIR)/fuzz/corpus, a crashing one under fuzz/artifacts/.
# Stable toolchain: RUSTC_BOOTSTRAP=1 lets cargo-fuzz pass its -Z flags.
# No sanitizer: the code under test is safe Rust (unsafe_code = "deny").
CARGO_FUZZ_VERSION := 0.13.2
FUZZ_SECONDS ?= 20
FUZZ_TARGETS := sip_message sip_agent sdp_adapt vcard
.PHONY: fuzz-smoke
fuzz-smoke: $(CARGO_TARGET_DIR)/.exists
	@if [ "$$(cargo fuzz --version 2>/dev/null)" != "cargo-fuzz $(CARGO_FUZZ_VERSION)" ]; then \
	  echo "==> cargo install cargo-fuzz $(CARGO_FUZZ_VERSION)"; \
	  cargo install --locked --quiet cargo-fuzz --version $(CARGO_FUZZ_VERSION); \
	fi
	@echo "==> Building the fuzz targets"
	RUSTC_BOOTSTRAP=1 CARGO_TARGET_DIR="$(CARGO_TARGET_DIR)/fuzz" cargo fuzz build -s none
	@failed=""; for t in $(FUZZ_TARGETS); do \
	  echo "==> Fuzzing $$t for $(FUZZ_SECONDS) s"; \
	  mkdir -p "$(CARGO_TARGET_DIR)/fuzz/corpus/$$t"; \
	  dict=""; [ "$$t" = sdp_adapt ] || dict="-dict=fuzz/sip.dict"; \
	  RUSTC_BOOTSTRAP=1 CARGO_TARGET_DIR="$(CARGO_TARGET_DIR)/fuzz" cargo fuzz run -s none "$$t" \
	    "$(CARGO_TARGET_DIR)/fuzz/corpus/$$t" "fuzz/corpus/$$t" -- \
	    -max_total_time=$(FUZZ_SECONDS) -timeout=10 -print_final_stats=1 $$dict 2>&1 \
	    | grep -vE '^#[0-9]+[[:space:]]+(NEW|REDUCE|pulse)|# Uses: [0-9]+$$' ; \
	  [ "$${PIPESTATUS[0]}" -eq 0 ] || failed="$$failed $$t"; \
	done; \
	if [ -n "$$failed" ]; then echo "fuzz-smoke: crashes in:$$failed (inputs under fuzz/artifacts/)"; exit 1; fi; \
	echo "fuzz-smoke: no crash in $(FUZZ_TARGETS)"

# Benchmarks (issue 9): Homeline beside the browser softphone (JsSIP in
# headless Chromium) and native SIP phones (baresip, linphonec), on the harness's own
# services. `make bench` measures release builds (the desktop app: the release
# build if there is one, else the debug one from `make app`), 5 runs of each
# scenario, and writes docs/benchmarks.md and docs/benchmarks.json.
# `make bench BENCH_ARGS="--only network,package --merge"` measures only those
# scenarios and keeps every other scenario's figures in docs/ (each scenario
# says which run measured it); `homeline-bench --help` lists the flags.
# `make bench-quick` runs each scenario once on the debug builds, to check the
# harness, and writes its report under $(CARGO_TARGET_DIR)/bench-quick.
.PHONY: bench-quick
BENCH_ARGS ?=
bench: setup
	@echo "==> Building homeline-cli and the benchmark runner (release)"
	cargo build --release -p homeline-cli -p homeline-bench
	@echo "==> Running the benchmarks ($(if $(BENCH_ARGS),$(BENCH_ARGS),every scenario: about 25 minutes); load average now: $$(cut -d' ' -f1-3 /proc/loadavg))"
	"$(CARGO_TARGET_DIR)/release/homeline-bench" --command 'make bench$(if $(BENCH_ARGS), BENCH_ARGS="$(BENCH_ARGS)")' $(BENCH_ARGS)

bench-quick: setup
	cargo build -p homeline-cli -p homeline-bench
	"$(CARGO_TARGET_DIR)/debug/homeline-bench" --quick --out "$(CARGO_TARGET_DIR)/bench-quick" --command "make bench-quick"

