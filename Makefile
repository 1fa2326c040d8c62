# islands — the two commands a newcomer needs are `make demo` and `make test`.
.PHONY: demo chaos test unit deploy-check regions-up regions-down regions-status bench fuzz lint build

GO ?= go

## demo: the main job — two real local regions become one global cloud, end to end
##       (make demo DEMO_ARGS="--scale 3" for a bigger run)
DEMO_ARGS ?=
demo:
	scripts/demo $(DEMO_ARGS)

## chaos: the seeded fault campaign with its checker against the real local regions
##        (make chaos SEEDS=5 DURATION=2m; one seed again: make chaos SEED=17 DURATION=60s;
##        KILL_CASSANDRA=1 adds kill -9 and restart of the Cassandra nodes; CHAOS_ARGS for the rest)
SEEDS ?= 1
SEED ?= 0
DURATION ?= 60s
KILL_CASSANDRA ?=
CHAOS_ARGS ?=
chaos:
	scripts/chaos --seeds $(SEEDS) --seed $(SEED) --duration $(DURATION) $(if $(KILL_CASSANDRA),--kill-cassandra) --out chaos-out $(CHAOS_ARGS)

## test: every test, the real local services included (started and stopped by the run)
test:
	scripts/test

## unit: tests that need no service (integration tests skip with a message)
unit:
	$(GO) test -race ./...

## build: the product's programs into bin/ (forklift, cachesync, islands; the lab's islands-lab is built by scripts/chaos)
build:
	$(GO) build -o bin/ ./cmd/...

## deploy-check: deploy/'s tests (manifests decode strictly, alerts and panels parse, alert unit tests)
deploy-check:
	cd deploy && $(GO) test ./...

regions-up:
	scripts/regions up
regions-down:
	scripts/regions down
regions-status:
	scripts/regions status

## bench: benchmarks against the real local regions; figures as JSON under bench/results/
bench:
	scripts/bench

## fuzz: each fuzz target of merge, internal/recordlog (crash recovery) and dualwrite (entry decoding) for FUZZTIME (default 60s)
FUZZTIME ?= 60s
FUZZPKGS ?= ./merge/ ./internal/recordlog/ ./dualwrite/
fuzz:
	for p in $(FUZZPKGS); do \
		for f in $$($(GO) test -list 'Fuzz.*' $$p | grep ^Fuzz); do \
			$(GO) test -run '^$$' -fuzz "^$$f$$" -fuzztime $(FUZZTIME) $$p || exit 1; done; done

lint:
	gofmt -l . | tee /dev/stderr | (! read)
	$(GO) vet ./...
