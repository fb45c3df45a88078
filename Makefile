# vipfarm — the two commands a user needs are `make demo` and `make test`.
# Every target is honest: one that has nothing to run yet says so and fails.

GO        ?= go
BIN       := bin
FUZZTIME  ?= 10s
PKGS      := ./...

.PHONY: all build test vet fmt-check unit fuzz demo generate bench lab install clean

all: build

## build: compile every binary into ./bin
build:
	@mkdir -p $(BIN)
	$(GO) build -o $(BIN)/ ./cmd/...

## test: everything CI runs — formatting, vet, unit/property/scenario tests
## (root-only XDP and netns tests run when root), then every fuzz target briefly
test: fmt-check vet unit fuzz

fmt-check:
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi

vet:
	$(GO) vet $(PKGS)

unit:
	$(GO) test -count=1 -timeout 15m $(PKGS)

## fuzz: run each Go fuzz target for $(FUZZTIME) (no panic on any input)
fuzz:
	@FUZZTIME=$(FUZZTIME) GO=$(GO) ./scripts/fuzz-brief.sh

## demo: the main job on built-in examples — the simulator runs the farm
## scenarios of the training slides with a readable timeline
demo:
	$(GO) run ./cmd/farmsim run scenarios/01-start-one-node.yaml scenarios/02-second-node-joins.yaml \
		scenarios/04-node-failure.yaml scenarios/05-isolation-and-heal.yaml scenarios/06-restart-keeps-shares.yaml

## generate: rebuild the XDP objects (needs clang, llvm, libbpf-dev)
generate:
	$(GO) generate ./dataplane/...

## bench: Go benchmarks (core, simulator, XDP decision cost), then — as root —
## the lab figures of SPEC §9 on a lab of its own (farmlab bench --json)
bench: build
	$(GO) test -run '^$$' -bench . -benchmem ./core/ ./sim/ ./dataplane/...
	@if [ "$$(id -u)" = 0 ]; then \
		$(BIN)/farmlab down --prefix vf-bench --state /run/vf-bench >/dev/null 2>&1; \
		$(BIN)/farmlab up --nodes 3 --prefix vf-bench --state /run/vf-bench >/dev/null && \
		$(BIN)/farmlab bench --json --prefix vf-bench --state /run/vf-bench | tee bench.json; rc=$$?; \
		$(BIN)/farmlab down --prefix vf-bench --state /run/vf-bench; exit $$rc; \
	else echo "bench: lab figures skipped: farmlab needs root (network namespaces, XDP)"; fi

## lab: a 3-node lab with real farmd's and clients (root); `bin/farmlab down` removes it
lab: build
	@[ "$$(id -u)" = 0 ] || { echo "make lab: needs root (network namespaces, XDP)" >&2; exit 2; }
	$(BIN)/farmlab up --nodes 3
	$(BIN)/farmlab status

## install: farmd and farmctl into $(PREFIX)/sbin (where packaging/farmd.service
## expects them) and the systemd unit; DESTDIR for packaging
PREFIX ?= /usr
install: build
	install -d $(DESTDIR)$(PREFIX)/sbin $(DESTDIR)/etc/systemd/system
	install -m 0755 $(BIN)/farmd $(BIN)/farmctl $(DESTDIR)$(PREFIX)/sbin/
	install -m 0644 packaging/farmd.service $(DESTDIR)/etc/systemd/system/farmd.service

clean:
	rm -rf $(BIN)
