# The README's two commands: `go run ./cmd/relayauth serve --dev` and `make test`.
.PHONY: test ci bench build fmt vet loadtest loadtest-fastapi chaos

# Every test, with everything it needs (installs and starts redis-server).
test:
	./scripts/test.sh

# CI runs exactly the test command.
ci: test

# Hot-path benchmarks, with allocations.
bench:
	go test -run='^$$' -bench=. -benchmem ./...

# The load kit on loopback (wrk, two instances on a private Redis, a Redis
# outage); about three minutes. Not part of test or CI.
loadtest:
	./scripts/loadtest.sh

# What the Python package's FastAPI dependency costs a route: wrk against one
# uvicorn worker, with and without it, the cache off and on. Not part of test.
loadtest-fastapi:
	./scripts/loadtest-fastapi.sh

# The chaos run on loopback: three instances on one Redis, then on a
# Sentinel set, under load, with revocations, instance SIGKILLs and a
# primary failure; about two minutes. Not part of test or CI (its checker's
# unit test is).
chaos:
	./scripts/chaos.sh

build:
	go build -o bin/relayauth ./cmd/relayauth

vet:
	go vet ./...

fmt:
	gofmt -w $$(git ls-files '*.go')
