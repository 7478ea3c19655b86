# skiff — build, test, demo, release. See README.md.
GO      ?= go
GOFLAGS ?=
BIN     := bin
LDFLAGS := -s -w
# -buildvcs=auto records the commit (skiff version) whatever GOFLAGS says.
BUILD   := -trimpath -buildvcs=auto -ldflags '$(LDFLAGS)'

# The machine the build is for: this one, unless given
# (make build GOOS=darwin GOARCH=arm64).
GOOS    ?= $(shell $(GO) env GOOS)
GOARCH  ?= $(shell $(GO) env GOARCH)

.PHONY: build skiff release test unit fuzz integration lint demo demo-down bench clean

# bin/skiff for GOOS/GOARCH, and bin/foobar-app, which the app role ships
# to hosts: a Linux build for this machine's processor, as its test hosts.
build:
	@$(MAKE) --no-print-directory skiff GOOS=$(GOOS) GOARCH=$(GOARCH) OUT=$(BIN)/skiff
	CGO_ENABLED=0 GOOS=linux GOARCH=$$($(GO) env GOHOSTARCH) $(GO) build $(BUILD) -o $(BIN)/foobar-app ./cmd/foobar-app

# skiff probes Linux hosts with a helper: a static Linux build of itself for
# the host's processor, which it copies there (internal/hostprobe). A static
# Linux skiff serves its own processor; the helpers for the others (both,
# for macOS) are built from the same source first and embedded, compressed,
# with the skiffhelpers tag. A plain go build or go install embeds none and
# says so when it runs; so does make build EMBED= (quicker: no helper build,
# for sites whose hosts all have this machine's processor).
HELPER_ARCHS := amd64 arm64
HELPERS_DIR  := internal/hostprobe/helpers
EMBED         = $(if $(filter linux,$(GOOS)),$(filter-out $(GOARCH),$(HELPER_ARCHS)),$(HELPER_ARCHS))

# skiff writes OUT: skiff for GOOS/GOARCH, static, its helpers embedded.
skiff:
	@test -n "$(OUT)" || { echo "make skiff needs OUT=path" >&2; exit 1; }
	rm -rf $(HELPERS_DIR) && mkdir -p $(HELPERS_DIR)
	for a in $(EMBED); do \
		CGO_ENABLED=0 GOOS=linux GOARCH=$$a $(GO) build $(BUILD) -o $(HELPERS_DIR)/skiff-linux-$$a ./cmd/skiff && \
		gzip -n -f $(HELPERS_DIR)/skiff-linux-$$a && \
		sha256sum $(HELPERS_DIR)/skiff-linux-$$a.gz | cut -c1-16 >$(HELPERS_DIR)/skiff-linux-$$a.gz.id || exit 1; \
	done
	CGO_ENABLED=0 GOOS=$(GOOS) GOARCH=$(GOARCH) $(GO) build $(BUILD) $(if $(strip $(EMBED)),-tags skiffhelpers) -o $(OUT) ./cmd/skiff
	rm -rf $(HELPERS_DIR)

# release writes to dist/ an archive of skiff for each of RELEASE_TARGETS
# (with README.md and LICENSE), a .deb for each Linux one, and SHA256SUMS.
# Archives are named by the tag at HEAD, else by the commit. nfpm (the .deb
# packager) runs from the module proxy at a pinned version: nothing to install.
RELEASE_TARGETS := darwin/arm64 darwin/amd64 linux/amd64 linux/arm64
NFPM            := github.com/goreleaser/nfpm/v2/cmd/nfpm@v2.48.0
VERSION         := $(shell git describe --tags --exact-match --match 'v[0-9]*' 2>/dev/null || echo devel+$$(git rev-parse --short=12 HEAD))
DEB_VERSION      = $(if $(filter v%,$(VERSION)),$(patsubst v%,%,$(VERSION)),0.0.0~$(VERSION))

release:
	rm -rf dist && mkdir -p dist
	set -e; for t in $(RELEASE_TARGETS); do \
		os=$${t%/*}; arch=$${t#*/}; name=skiff_$(VERSION)_$${os}_$${arch}; \
		$(MAKE) --no-print-directory skiff GOOS=$$os GOARCH=$$arch OUT=dist/$$name/skiff; \
		cp README.md LICENSE dist/$$name/; \
		tar -C dist -czf dist/$$name.tar.gz $$name; \
		if [ $$os = linux ]; then \
			SKIFF_BIN=dist/$$name/skiff DEB_ARCH=$$arch DEB_VERSION='$(DEB_VERSION)' \
				$(GO) run $(NFPM) package --config packaging/nfpm.yaml --packager deb --target dist/; \
		fi; \
		rm -rf dist/$$name; \
	done
	cd dist && { command -v sha256sum >/dev/null && sha256sum *.tar.gz *.deb || shasum -a 256 *.tar.gz *.deb; } > SHA256SUMS
	@cat dist/SHA256SUMS

# lint: gofmt, go vet, golangci-lint (.golangci.yml: errcheck, staticcheck,
# unused, function length and branching; pinned, built by go run from the
# module proxy; several may run at once, as in worktrees side by side),
# and no non-test file under internal/ above 400 lines.
GOLANGCI := github.com/golangci/golangci-lint/v2/cmd/golangci-lint@v2.15.0
lint:
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "not gofmt'd:"; echo "$$out"; exit 1; fi
	$(GO) vet ./...
	$(GO) run $(GOLANGCI) run --allow-parallel-runners ./...
	@long=$$(find internal -name '*.go' ! -name '*_test.go' -exec wc -l {} + | awk '$$2 != "total" && $$1 > 400'); \
	if [ -n "$$long" ]; then echo "files above 400 lines (split them by concern):"; echo "$$long"; exit 1; fi

unit:
	$(GO) test ./cmd/... ./internal/...

# fuzz runs each fuzz target briefly (go test -fuzz takes one target at a
# time); the inputs that once crashed run in `unit`, from testdata/fuzz/.
# A short minimization keeps a cold corpus fuzzing instead of minimizing.
# Budgets are counts of executions, not durations: Go 1.26's fuzz coordinator
# can report its own -fuzztime deadline as a failure ("context deadline
# exceeded", no crasher) when a worker is mid-call as the clock runs out;
# a count has no deadline to race.
FUZZTIME ?= 6000x
FUZZMIN  ?= 100x
fuzz:
	$(GO) test ./internal/config -run '^$$' -fuzz '^FuzzLoadInventory$$' -fuzztime $(FUZZTIME) -fuzzminimizetime $(FUZZMIN)
	$(GO) test ./internal/config -run '^$$' -fuzz '^FuzzLoadRole$$' -fuzztime $(FUZZTIME) -fuzzminimizetime $(FUZZMIN)
	$(GO) test ./internal/config -run '^$$' -fuzz '^FuzzLoadPlaybook$$' -fuzztime $(FUZZTIME) -fuzzminimizetime $(FUZZMIN)
	$(GO) test ./internal/config -run '^$$' -fuzz '^FuzzSplitOneLineBlocks$$' -fuzztime $(FUZZTIME) -fuzzminimizetime $(FUZZMIN)
	$(GO) test ./internal/module/template -run '^$$' -fuzz '^FuzzRenderTemplate$$' -fuzztime $(FUZZTIME) -fuzzminimizetime $(FUZZMIN)
	$(GO) test ./internal/module/apt -run '^$$' -fuzz '^FuzzParseControl$$' -fuzztime $(FUZZTIME) -fuzzminimizetime $(FUZZMIN)
	$(GO) test ./internal/wire -run '^$$' -fuzz '^FuzzParse$$' -fuzztime $(FUZZTIME) -fuzzminimizetime $(FUZZMIN)

# integration needs a Docker engine (see .ci/run); it builds the test-host image once.
integration: build
	$(GO) test -count=1 -timeout 60m -v ./integration/...

test: lint unit fuzz integration

demo: build
	$(GO) run ./integration/cmd/testhosts demo

demo-down:
	$(GO) run ./integration/cmd/testhosts down

# bench measures skiff against Ansible (Debian's ansible package, installed
# here if missing) and the floor on the 4 stack hosts (issue 6) and writes
# bench/RESULTS.md; it needs a Docker engine and is not part of `test`.
bench: build
	command -v ansible-playbook >/dev/null || apt-get install -y ansible
	$(GO) run ./bench/cmd/bench

clean:
	rm -rf $(BIN) dist $(HELPERS_DIR)
