# safe-install. Every target works as an unprivileged user; run as root, the
# targets that touch Podman switch to SI_USER (made by `make setup`).
BUILDTAGS := remote exclude_graphdriver_btrfs btrfs_noversion exclude_graphdriver_devicemapper containers_image_openpgp
GO        ?= go
GOFLAGS   := -tags '$(BUILDTAGS)' -buildvcs=false
export CGO_ENABLED := 0
PREFIX    ?= /usr/local
SI_USER   ?= $(or $(SUDO_USER),safeinstall)

# As root, run the command as the rootless user, with a clean environment
# that keeps only what the tests need.
ifeq ($(shell id -u),0)
SI_UID  = $(shell id -u $(SI_USER) 2>/dev/null)
AS_USER = runuser -u $(SI_USER) -- env -i HOME=$$(getent passwd $(SI_USER) | cut -d: -f6) \
	USER=$(SI_USER) XDG_RUNTIME_DIR=/run/user/$(SI_UID) PATH=$(if $(E2E_PATH),$(E2E_PATH):)$(dir $(shell command -v go)):/usr/local/bin:/usr/bin:/bin \
	CI=$(CI) GOFLAGS=-buildvcs=false TMPDIR=/tmp
else
AS_USER =
endif

.PHONY: all build install setup image demo test test-unit fuzz test-e2e test-e2e-core test-podman5 podman5-e2e redteam bench lint fmt vet clean

all: build

build: ## the binary in bin/
	$(GO) build $(GOFLAGS) -o bin/safe-install ./cmd/safe-install

install: build ## copy the binary to $(PREFIX)/bin
	install -D -m 0755 bin/safe-install $(DESTDIR)$(PREFIX)/bin/safe-install

setup: ## as root: Podman and the rootless prerequisites for SI_USER
	bash images/host-setup.sh $(SI_USER)

image: build ## build the sandbox image for this host (a few minutes, once)
	$(AS_USER) ./bin/safe-install image build

# In a copy the user owns: the install writes node_modules into the project.
demo: build ## safe-install npm ci in a copy of examples/native-addon, then load the addon on the host
	$(AS_USER) sh -c 'd=$$(mktemp -d) && cp -r examples/native-addon/. $$d && cd $$d && \
		$(CURDIR)/bin/safe-install npm ci && node -e "console.log(require(\"hello-addon\").hello())"'

test: test-unit fuzz test-e2e ## every test; e2e needs rootless Podman (make setup)

# -race needs cgo; the build tags keep Podman's cgo-only parts out.
test-unit:
	$(GO) vet $(GOFLAGS) ./...
	CGO_ENABLED=1 $(GO) test $(GOFLAGS) -race -count=1 ./...

# Each fuzz target for FUZZTIME, from its corpus in testdata/fuzz. The
# "0 execs/s" noted earlier was Go minimizing each new interesting input,
# for up to 60 s by default, while its counter stands still (FuzzExtract
# sat at 33 execs for 12 s, then ran at 1000/s): -fuzzminimizetime 1s
# leaves the time to fuzzing (FuzzExtract: about 200 execs/s here, each
# one writing a tree to disk).
FUZZTIME ?= 20s
FUZZ_TARGETS := FuzzExtract:./sandbox/archive FuzzInspect:./sandbox/pip/wheel FuzzText:./sandbox/escape
# Go's fuzzer can end a clean run with "context deadline exceeded" and no
# failing input, when -fuzztime runs out while it minimizes a new
# interesting input (FuzzText in CI: 1M execs, nothing written): that
# target runs once more; a run that wrote a failing input never does.
fuzz:
	for t in $(FUZZ_TARGETS); do \
		for try in 1 2; do \
			out=$$($(GO) test $(GOFLAGS) -run '^$$' -fuzz "^$${t%%:*}$$" -fuzztime $(FUZZTIME) -fuzzminimizetime 1s "$${t#*:}" 2>&1); s=$$?; \
			printf '%s\n' "$$out"; \
			[ $$s = 0 ] && break; \
			if [ $$try = 1 ] && printf '%s' "$$out" | grep -q 'context deadline exceeded' && ! printf '%s' "$$out" | grep -q 'Failing input written'; then \
				echo "fuzz: $${t%%:*} ended on Go's deadline with no failing input: once more"; continue; \
			fi; \
			exit 1; \
		done; \
	done

# The e2e tests drive bin/safe-install against the rootless user's Podman;
# as root, first provision the remote engine (sshd + a second user's Podman)
# and mount the small file system TestE2EHostDiskFullDuringCopyBack fills
# (the tests run unprivileged and cannot mount; without it they skip that
# test, and fail it in CI).
SMALLFS := /run/safe-install-test-smallfs
# E2E_ONLY_PODMAN5: tests that need the engine .ci/podman5.sh runs (it can
# restart it with other subordinate ids), left out here by name rather
# than skipped; make test-podman5 runs them.
E2E_ONLY_PODMAN5 := ^TestE2EEngineRestartWithOtherSubIDs$$
test-e2e: build
	if [ "$$(id -u)" = 0 ]; then bash .ci/remote-engine.sh $(SI_USER); fi
	if [ "$$(id -u)" = 0 ]; then mkdir -p $(SMALLFS) && { mountpoint -q $(SMALLFS) || \
		mount -t tmpfs -o size=48m,mode=0700,uid=$$(id -u $(SI_USER)),gid=$$(id -g $(SI_USER)) safe-install-test $(SMALLFS); }; fi
	$(AS_USER) SAFE_INSTALL_BIN=$(CURDIR)/bin/safe-install $(if $(AS_USER),SAFE_INSTALL_TEST_SMALLFS=$(SMALLFS)) \
		$(GO) test -tags '$(BUILDTAGS) e2e' -buildvcs=false \
		-count=1 -p 1 -timeout 60m -run 'E2E' -skip '$(E2E_ONLY_PODMAN5)' -v ./cmd/... ./sandbox/...

# The core end-to-end set, for the CI legs on other toolchains (issue 16):
# script semantics, native addon, script policy, tamper refusal, the
# copy-back rule before the project's scripts, canaries, interrupt.
# E2E_PATH=DIR/bin puts another node and npm first in PATH (.ci/node24.sh).
E2E_CORE := ScriptSemanticsPerNPMMajor|NativeAddonAndPostinstall|ScriptPolicy|CrossPackageTamperingRefused|BinPlantedForProjectScriptsRefused|CanariesDoNotLeak|InterruptLeavesProjectUnchanged
test-e2e-core: build
	$(AS_USER) SAFE_INSTALL_BIN=$(CURDIR)/bin/safe-install $(GO) test -tags '$(BUILDTAGS) e2e' -buildvcs=false \
		-count=1 -p 1 -timeout 30m -run 'E2E($(E2E_CORE))$$' -v ./cmd/safe-install/

# The core end-to-end tests against Podman 5 (Debian 13's, in a trixie root
# that .ci/podman5.sh makes and caches; as root) instead of this machine's
# Podman, as its user P5_USER, through SAFE_INSTALL_TEST_ENGINE.
P5_USER  ?= sip5
P5_TESTS ?= ^TestE2E($(E2E_CORE)|Doctor|EngineRestart|EngineRestartWithOtherSubIDs|RemoteEngineOverSSH)$$
P5_SOCK  := /run/safe-install-podman5/sock/podman.sock
test-podman5: build
	bash .ci/podman5.sh start $(P5_USER)
	SI_REMOTE_DIR=/etc/safe-install-test/podman5 bash .ci/remote-engine.sh $(P5_USER) $(P5_USER) $(P5_SOCK)
	$(MAKE) --no-print-directory SI_USER=$(P5_USER) podman5-e2e

# The test binary is built here and run as P5_USER: that user's empty Go
# cache cost minutes.
podman5-e2e:
	$(GO) test -c -tags '$(BUILDTAGS) e2e' -buildvcs=false -o bin/e2e.test ./cmd/safe-install/
	cd cmd/safe-install && $(AS_USER) SAFE_INSTALL_TEST_ENGINE=unix://$(P5_SOCK) SAFE_INSTALL_TEST_REMOTE=/etc/safe-install-test/podman5/remote.env \
		SAFE_INSTALL_BIN=$(CURDIR)/bin/safe-install $(CURDIR)/bin/e2e.test -test.count=1 -test.timeout 30m -test.run '$(P5_TESTS)' -test.v

# The red-team corpus: every end-to-end test that plays a case of
# cmd/safe-install/testdata/corpus/README.md, its positive controls, and
# the results table.
redteam: build
	if [ "$$(id -u)" = 0 ]; then bash .ci/remote-engine.sh $(SI_USER); fi
	$(AS_USER) SAFE_INSTALL_BIN=$(CURDIR)/bin/safe-install $(GO) test -tags '$(BUILDTAGS) e2e' -buildvcs=false \
		-count=1 -p 1 -timeout 60m -run 'E2E' -skip '$(E2E_ONLY_PODMAN5)' ./cmd/safe-install/

# Paired, interleaved runs of plain npm and safe-install npm: warm and cold
# npm ci, npm install of one package into an existing tree, warm and cold
# pnpm install --frozen-lockfile against plain pnpm 12, and pip install of
# four sdists from a loopback index. BENCH_PAIRS=N for more pairs than 3.
bench: build
	$(AS_USER) SAFE_INSTALL_BIN=$(CURDIR)/bin/safe-install BENCH_PAIRS=$(BENCH_PAIRS) $(GO) test -tags '$(BUILDTAGS) e2e' -buildvcs=false \
		-count=1 -timeout 60m -run '^TestBench' -v ./cmd/safe-install/

fmt:
	gofmt -w cmd sandbox seccomp images

lint: vet
	test -z "$$(gofmt -l cmd sandbox seccomp images)"

vet:
	$(GO) vet $(GOFLAGS) ./...

clean:
	rm -rf bin
