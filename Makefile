# Sluice: `make test` is the whole test suite and installs what it needs.
GO ?= go
PKGS := ./...
# Test dependencies from Debian and npm, installed when missing (binary:package).
# promtool (from Debian's prometheus) lints a real agent's /metrics in the
# agent tests (TestMetrics).
DEB_DEPS := mosquitto:mosquitto mosquitto_pub:mosquitto-clients systemd-analyze:systemd chromium:chromium promtool:prometheus
NPM_CACHE ?= $(HOME)/.cache/sluice-npm
# node-opcua 2.182.2 is the last release that runs on Node 20; the OPC UA
# tests start it as a real third-party server.
NODE_OPCUA := node-opcua-server@2.182.2
export NODE_PATH := $(NPM_CACHE)/node_modules

.PHONY: test deps vet unit race bench fuzz build clean screenshots

test: deps vet unit

build:
	$(GO) build ./...

# deps installs the real servers the integration tests talk to.
deps:
	@missing=""; for d in $(DEB_DEPS); do bin=$${d%%:*}; pkg=$${d##*:}; \
	  command -v $$bin >/dev/null 2>&1 || [ -x /usr/sbin/$$bin ] || missing="$$missing $$pkg"; done; \
	if [ -n "$$missing" ]; then \
	  echo "installing:$$missing"; \
	  SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	  $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq --no-install-recommends $$missing >/dev/null; \
	fi
	@test -f $(NPM_CACHE)/node_modules/node-opcua-server/package.json || { \
	  echo "installing $(NODE_OPCUA) into $(NPM_CACHE)"; \
	  npm install --prefix $(NPM_CACHE) --no-audit --no-fund --omit=dev $(NODE_OPCUA) >/dev/null; }

vet:
	@test -z "$$(gofmt -l $$(git ls-files '*.go'))" || { gofmt -l $$(git ls-files '*.go'); echo "gofmt: files above need formatting"; exit 1; }
	$(GO) vet $(PKGS)

# unit runs every test (including fuzz seed corpora) with the race detector.
# Two tests run on their own without it, since the race detector slows
# them tenfold: the 20-agent convergence test measures gossip timing (the
# same code runs under -race in the smaller federation tests), and the
# store's disk-space test writes 50 MiB (the other retention tests run
# under -race).
SLOW_NORACE := TestConvergence20|TestMaxSizeGivesSpaceBackOnDisk
unit:
	$(GO) test -race -count=1 -timeout 20m -skip '^($(SLOW_NORACE))$$' $(PKGS)
	$(GO) test -count=1 -timeout 10m -run '^($(SLOW_NORACE))$$' ./federation/ ./agent/store/

bench:
	$(GO) test -run '^$$' -bench . -benchmem -timeout 60m $(PKGS)

# fuzz runs each fuzz target for FUZZTIME (default 30s).
FUZZTIME ?= 30s
fuzz:
	@for pkg in $$($(GO) list $(PKGS)); do \
	  for f in $$($(GO) test -list '^Fuzz' $$pkg | grep '^Fuzz'); do \
	    echo "== $$pkg $$f"; $(GO) test -run '^$$' -fuzz "^$$f$$" -fuzztime $(FUZZTIME) $$pkg || exit 1; \
	  done; done

# screenshots regenerates docs/screenshots from the browser test.
screenshots:
	SLUICE_SCREENSHOTS=$(CURDIR)/docs/screenshots $(GO) test -count=1 -run TestConsoleInBrowser ./agent/console/

clean:
	rm -rf sluice-data
