# skiff — build, test, demo. See README.md.
GO      ?= go
GOFLAGS ?=
BIN     := bin
LDFLAGS := -s -w

.PHONY: build test unit fuzz integration lint demo demo-down bench clean

build:
	CGO_ENABLED=0 GOOS=linux GOARCH=amd64 $(GO) build -trimpath -ldflags '$(LDFLAGS)' -o $(BIN)/skiff ./cmd/skiff
	CGO_ENABLED=0 GOOS=linux GOARCH=amd64 $(GO) build -trimpath -ldflags '$(LDFLAGS)' -o $(BIN)/foobar-app ./cmd/foobar-app

lint:
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "not gofmt'd:"; echo "$$out"; exit 1; fi
	$(GO) vet ./...

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
	rm -rf $(BIN)
