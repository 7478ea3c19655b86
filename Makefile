# skiff — build, test, demo. See README.md.
GO      ?= go
GOFLAGS ?=
BIN     := bin
LDFLAGS := -s -w

.PHONY: build test unit integration lint demo demo-down clean

build:
	CGO_ENABLED=0 GOOS=linux GOARCH=amd64 $(GO) build -trimpath -ldflags '$(LDFLAGS)' -o $(BIN)/skiff ./cmd/skiff
	CGO_ENABLED=0 GOOS=linux GOARCH=amd64 $(GO) build -trimpath -ldflags '$(LDFLAGS)' -o $(BIN)/foobar-app ./cmd/foobar-app

lint:
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "not gofmt'd:"; echo "$$out"; exit 1; fi
	$(GO) vet ./...

unit:
	$(GO) test ./cmd/... ./internal/...

# integration needs a Docker engine (see .ci/run); it builds the test-host image once.
integration: build
	$(GO) test -count=1 -timeout 60m -v ./integration/...

test: lint unit integration

demo: build
	$(GO) run ./integration/cmd/testhosts demo

demo-down:
	$(GO) run ./integration/cmd/testhosts down

clean:
	rm -rf $(BIN)
