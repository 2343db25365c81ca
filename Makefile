# The two commands a new machine needs: `make run` and `make test`.
GO ?= go

.PHONY: run test vet bench nab build

run:            ## run the service on embedded defaults (http://127.0.0.1:8080)
	$(GO) run ./cmd/detector serve

test:           ## the test suite, as CI runs it
	$(GO) test -race -count=1 ./...

vet:
	$(GO) vet ./...

build:
	$(GO) build -o bin/detector ./cmd/detector

bench:          ## micro and engine benchmarks (minutes)
	$(GO) test -run '^$$' -bench . -benchmem ./models/ ./series/ ./algorithms/...

nab:            ## NAB accuracy benchmark over ../shared/nab
	$(GO) run ./benchmarks/nab
