# Homeline: the two commands a newcomer needs.
#   make run    build and start the desktop app
#   make test   run every test, with the real services started by the harness
# Both install whatever is missing first (scripts/setup.sh), and nothing twice.

SHELL := /bin/bash
CARGO_TARGET_DIR ?= /var/cache/homeline/target
export CARGO_TARGET_DIR
SUDO := $(if $(filter 0,$(shell id -u)),,sudo)

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
