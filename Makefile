# pam_mfa — the front door. `make demo` shows the product, `make test` checks it.
SHELL := /bin/bash
SWIFT ?= swift
# Debian's Python with Debian's python3-pytest/-pexpect, whatever else is first on PATH.
PYTHON ?= /usr/bin/python3
BUILD := build
MODULE := $(BUILD)/pam_mfa.so
CLI := $(BUILD)/mfa-enroll
# The LDAP store (store=ldap): a plugin the module loads only when configured, so hosts using
# files never load libldap. Installed in PAMDIR/pam_mfa/, where the module looks for it.
PLUGIN := $(BUILD)/pam_mfa/store_ldap.so
# Checks codes for applications that do not run as root (screen lockers); installed setuid root
# beside the plugin, where the module looks for it.
HELPER := $(BUILD)/pam_mfa/mfa_chkcode
DATADIR ?= $(PREFIX)/share
TOOLS := $(BUILD)/test-tools

# Messages a person sees, in the text domain pam_mfa: po/LL.po → LL/LC_MESSAGES/pam_mfa.mo under
# LOCALEDIR, which the module and mfa-enroll have compiled in (never an environment variable:
# the module runs inside sudo and su). `make pot` regenerates po/pam_mfa.pot from the sources.
LINGUAS := de es fr
LOCALEDIR ?= $(DATADIR)/locale
CATALOGS := $(LINGUAS:%=$(BUILD)/locale/%/LC_MESSAGES/pam_mfa.mo)
# A header only Sources/CLibc/translation.c includes: another PREFIX recompiles that one file,
# where a -D on the command line would recompile every Swift module.
LOCALEDIR_HEADER := $(BUILD)/config/mfa_localedir.h
LOCALE_FLAGS := -Xcc -I$(CURDIR)/$(BUILD)/config
# The sources whose UserText(...) and UserText.plural(...) literals are the msgids (one literal
# each; xgettext's C lexer reads Swift's plain string literals exactly).
POT_SOURCES = $(sort $(shell find Sources/MFACore Sources/PAMModule Sources/mfa_chkcode Sources/mfa-enroll -name '*.swift'))
XGETTEXT_FLAGS := --language=C --from-code=UTF-8 --keyword= --keyword=UserText:1 --keyword=plural:1,2 \
	--add-comments=TRANSLATORS: --add-location=file --package-name=pam_mfa \
	--msgid-bugs-address=maintainers@pam-mfa.invalid

# Install locations. libpam finds modules by bare name only in its own directory, so PAMDIR does
# not follow PREFIX: it is where libpam-modules keeps pam_unix.so (/lib/... on Debian 12,
# /usr/lib/... on 13; the other spelling makes dpkg try to remove libpam's directory on purge).
PREFIX ?= /usr/local
DESTDIR ?=
MULTIARCH ?= $(shell dpkg-architecture -qDEB_HOST_MULTIARCH 2>/dev/null || gcc -print-multiarch)
DEB_HOST_ARCH ?= $(shell dpkg-architecture -qDEB_HOST_ARCH 2>/dev/null)
LIBPAM_DIR := $(patsubst %/pam_unix.so,%,$(shell dpkg -L libpam-modules:$(DEB_HOST_ARCH) 2>/dev/null | grep '/pam_unix\.so$$' | head -n1))
PAMDIR ?= $(or $(LIBPAM_DIR),/usr/lib/$(MULTIARCH)/security)
BINDIR ?= $(PREFIX)/bin
MANDIR ?= $(PREFIX)/share/man
SYSCONFDIR ?= /etc
PAMCONFIGDIR ?= /usr/share/pam-configs

# Debian packages, per target, in Tests/deps/apt-packages; SKIP_DEPS=1 (packaging, offline
# builds) never calls apt-get.
INSTALL_DEPS = $(if $(SKIP_DEPS),@:,Tests/deps/install)

.PHONY: all build pot pot-template catalogs deps test-deps demo-deps bench-deps pamdir test unit-test e2e-test demo format lint clean test-tools fuzz asan bench install uninstall deb

all: build

# Everything every target needs.
deps:
	Tests/deps/install build demo deb test bench

# SwiftPM rebuilds only what changed, so these always ask it.
build:
	$(INSTALL_DEPS) build
	@mkdir -p $(BUILD)/config
	@printf '#define MFA_LOCALEDIR "%s"\n' '$(LOCALEDIR)' > $(LOCALEDIR_HEADER).new
	@cmp -s $(LOCALEDIR_HEADER).new $(LOCALEDIR_HEADER) && rm $(LOCALEDIR_HEADER).new || mv $(LOCALEDIR_HEADER).new $(LOCALEDIR_HEADER)
	@# The module: Embedded Swift, so no Swift runtime enters sshd/sudo; only pam_sm_* exported.
	MFA_EMBEDDED=1 $(SWIFT) build -c release --product pam_mfa --scratch-path .build-embedded --disable-local-rpath \
		$(LOCALE_FLAGS)
	@# Replace the deployable files only when they changed, so their dates mean something.
	strip --strip-unneeded -o $(MODULE).new .build-embedded/release/libpam_mfa.so
	cmp -s $(MODULE).new $(MODULE) && rm $(MODULE).new || mv $(MODULE).new $(MODULE)
	@# The setuid helper for applications that do not run as root (mfa_chkcode(8)): the same core.
	MFA_EMBEDDED=1 $(SWIFT) build -c release --product mfa_chkcode --scratch-path .build-embedded --disable-local-rpath \
		$(LOCALE_FLAGS)
	@mkdir -p $(dir $(HELPER))
	strip -o $(HELPER).new .build-embedded/release/mfa_chkcode
	cmp -s $(HELPER).new $(HELPER) && rm $(HELPER).new || mv $(HELPER).new $(HELPER)
	@# The CLI: normal Swift with the standard library linked in, so it runs without a toolchain.
	$(SWIFT) build -c release --product mfa-enroll --static-swift-stdlib $(LOCALE_FLAGS)
	strip -o $(CLI).new .build/release/mfa-enroll
	cmp -s $(CLI).new $(CLI) && rm $(CLI).new || mv $(CLI).new $(CLI)
	@$(MAKE) --no-print-directory $(PLUGIN) catalogs

catalogs: $(CATALOGS)

# --check: a translation's %s and %d must match the English ones (msgfmt refuses the catalog).
$(BUILD)/locale/%/LC_MESSAGES/pam_mfa.mo: po/%.po
	@mkdir -p $(dir $@)
	msgfmt --check --statistics -o $@ $<

# After changing a user-visible message: the template, and the catalogs merged with it (new
# messages then show up untranslated or fuzzy, which Tests/e2e/test_i18n.py refuses).
pot: pot-template
	for lang in $(LINGUAS); do msgmerge --quiet --update --backup=none po/$$lang.po po/pam_mfa.pot || exit 1; done

# The template alone (POT=FILE: elsewhere; the tests compare it with po/pam_mfa.pot).
POT ?= po/pam_mfa.pot
pot-template:
	xgettext $(XGETTEXT_FLAGS) -o $(POT) $(POT_SOURCES)


# C on purpose: it only carries one LDAP operation at a time; every decision is in the Swift core.
$(PLUGIN): plugins/ldap/store_ldap.c plugins/ldap/store_ldap.map Sources/CLibc/include/mfa_store_plugin.h
	@mkdir -p $(dir $@)
	cc -O2 -Wall -Wextra -Werror -fPIC -shared -fvisibility=hidden -D_FORTIFY_SOURCE=2 -fstack-protector-strong \
		-I Sources/CLibc/include -Wl,--version-script=plugins/ldap/store_ldap.map \
		-Wl,-z,now,-z,relro,-z,nodelete -o $@ plugins/ldap/store_ldap.c -lldap -llber
	strip --strip-unneeded $@

# The C tools of the e2e tests and the bench (Tests/tools), built here only: conftest.py and
# bench.py check that they exist and name this target.
TOOL_PROGRAMS := pamdrive dlopen_probe cycle_host fleet_host
TOOL_LIBS_pamdrive := -lpam -ldl
TOOL_LIBS_dlopen_probe := -lpam -ldl
TOOL_LIBS_cycle_host := -pthread -lpam -ldl
TOOL_LIBS_fleet_host := -pthread -lpam -ldl

$(TOOLS)/%: Tests/tools/%.c Tests/tools/first_hmac.h Tests/tools/answer_conv.h
	@mkdir -p $(TOOLS)
	cc -O2 -Wall -Wextra -o $@ $< $(TOOL_LIBS_$*)

$(TOOLS)/syslogcap.so: Tests/tools/syslogcap.c
	@mkdir -p $(TOOLS)
	cc -O2 -Wall -Wextra -shared -fPIC -o $@ $<

# The bench's reference module (issue 18): OpenSSL 3's start-up, linked with libcrypto.
$(TOOLS)/ossl_start.so: Tests/tools/ossl_start.c
	@mkdir -p $(TOOLS)
	cc -O2 -Wall -Wextra -shared -fPIC -o $@ $< -lcrypto

# The fleet bench's one-off breakdown of a store=ldap login per libldap call (LD_PRELOAD).
$(TOOLS)/ldap_phases.so: Tests/tools/ldap_phases.c
	@mkdir -p $(TOOLS)
	cc -O2 -Wall -Wextra -shared -fPIC -o $@ $< -ldl -Wl,--no-as-needed -lldap -llber

# The store=ldap tests' directory that refuses a modify (LD_PRELOAD, as 389-ds does under load).
$(TOOLS)/ldap_refuse.so: Tests/tools/ldap_refuse.c
	@mkdir -p $(TOOLS)
	cc -O2 -Wall -Wextra -shared -fPIC -o $@ $< -ldl -Wl,--no-as-needed -lldap -llber

test-tools: $(addprefix $(TOOLS)/,$(TOOL_PROGRAMS)) $(TOOLS)/syslogcap.so $(TOOLS)/ossl_start.so \
	$(TOOLS)/ldap_phases.so $(TOOLS)/ldap_refuse.so

test: test-deps build test-tools
	$(MAKE) --no-print-directory lint
	$(MAKE) --no-print-directory deb SKIP_DEPS=1
	$(MAKE) --no-print-directory unit-test
	$(MAKE) --no-print-directory asan
	$(MAKE) --no-print-directory e2e-test
	@# The README's first command, so it can never break silently.
	DEMO_AUTO=1 $(MAKE) --no-print-directory demo

# The packages of every step of `make test` (it also builds the .debs and runs the demo).
test-deps:
	$(INSTALL_DEPS) build demo deb test

unit-test:
	$(SWIFT) test

# E2E="Tests/e2e/test_x.py ..." runs some of the suites.
E2E ?= Tests/e2e
e2e-test: test-tools
	$(PYTHON) -m pytest -q -p no:cacheprovider $(E2E)

# libFuzzer over every parser that reads untrusted bytes, bounded in time; new crashes land in
# build/fuzz/. FUZZ_SECONDS per run; the corpus in Tests/Fuzz/corpus is the seed.
FUZZ_SECONDS ?= 60
fuzz:
	$(INSTALL_DEPS) build
	MFA_FUZZ=1 $(SWIFT) build --product mfa-fuzz --sanitize=fuzzer --sanitize=address \
		--scratch-path .build-fuzz -Xswiftc -sanitize-coverage=edge,inline-8bit-counters,pc-table,trace-cmp
	@mkdir -p $(BUILD)/fuzz/corpus
	.build-fuzz/debug/mfa-fuzz -max_total_time=$(FUZZ_SECONDS) -max_len=8192 -timeout=10 \
		-artifact_prefix=$(BUILD)/fuzz/ $(BUILD)/fuzz/corpus Tests/Fuzz/corpus

# pam_mfa beside pam_google_authenticator and pam_oath (password + code logins through sshd on
# 127.0.0.1, whole pamtester logins, the nullok path, dlopen time and memory, first logins and
# memory in long-lived hosts, a callgrind profile) and pam_mfa's own costs (mfa-bench, 200
# concurrent logins), and the fleet of issue 19 (Tests/Bench/fleet.py: 4, 16 and 64 simulated
# hosts against one slapd; exits non-zero on a double acceptance); prints issue 18's targets
# and the tables and writes BENCHMARKS.md. Adds two
# throwaway users and /etc/pam.d/sshd-*-bench for the sshd logins and removes them again.
# BENCH_ARGS=--quick (or MFA_BENCH_QUICK=1) for a trial.
bench: bench-deps build test-tools
	$(SWIFT) build -c release --product mfa-bench
	$(PYTHON) Tests/Bench/bench.py $(BENCH_ARGS)

# The unit tests once more under AddressSanitizer (leak checking off: XCTest's own harness
# leaks at exit, which says nothing about our code).
asan:
	ASAN_OPTIONS=detect_leaks=0 $(SWIFT) test --sanitize=address --scratch-path .build-asan

# For systems without dpkg. The configuration file is never overwritten.
install: build
	install -D -m 0644 $(MODULE) $(DESTDIR)$(PAMDIR)/pam_mfa.so
	install -D -m 0755 $(CLI) $(DESTDIR)$(BINDIR)/mfa-enroll
	install -D -m 0644 man/pam_mfa.8 $(DESTDIR)$(MANDIR)/man8/pam_mfa.8
	install -D -m 0644 man/pam_mfa.conf.5 $(DESTDIR)$(MANDIR)/man5/pam_mfa.conf.5
	install -D -m 0644 man/mfa-enroll.1 $(DESTDIR)$(MANDIR)/man1/mfa-enroll.1
	install -D -m 0644 pam/pam-configs/mfa $(DESTDIR)$(PAMCONFIGDIR)/mfa
	install -D -m 0644 $(PLUGIN) $(DESTDIR)$(PAMDIR)/pam_mfa/store_ldap.so
	install -D -m 4755 $(HELPER) $(DESTDIR)$(PAMDIR)/pam_mfa/mfa_chkcode
	install -D -m 0644 man/mfa_chkcode.8 $(DESTDIR)$(MANDIR)/man8/mfa_chkcode.8
	install -D -m 0644 -t $(DESTDIR)$(DATADIR)/pam_mfa/ldap ldap/pam_mfa.schema ldap/pam_mfa.ldif ldap/acl-example.ldif ldap/mirror-mode-example.ldif
	install -D -m 0644 -t $(DESTDIR)$(DATADIR)/pam_mfa/ldap/389ds ldap/389ds/60pam_mfa.ldif ldap/389ds/aci-example.ldif ldap/389ds/certmap-example.conf
	install -D -m 0644 man/pam_mfa-ldap.5 $(DESTDIR)$(MANDIR)/man5/pam_mfa-ldap.5
	for lang in $(LINGUAS); do \
		install -D -m 0644 $(BUILD)/locale/$$lang/LC_MESSAGES/pam_mfa.mo \
			$(DESTDIR)$(LOCALEDIR)/$$lang/LC_MESSAGES/pam_mfa.mo || exit 1; \
	done
	@if [ -e $(DESTDIR)$(SYSCONFDIR)/security/pam_mfa.conf ]; then \
		echo "keeping existing $(DESTDIR)$(SYSCONFDIR)/security/pam_mfa.conf"; \
	else \
		install -D -m 0644 pam/pam_mfa.conf $(DESTDIR)$(SYSCONFDIR)/security/pam_mfa.conf; \
	fi

# For debian/rules: the module directory of this release, in one place.
pamdir:
	@echo $(PAMDIR)

# Removes what install put there, except the configuration file and any state or secrets.
uninstall:
	rm -f $(DESTDIR)$(PAMDIR)/pam_mfa.so $(DESTDIR)$(BINDIR)/mfa-enroll \
		$(DESTDIR)$(MANDIR)/man8/pam_mfa.8 $(DESTDIR)$(MANDIR)/man5/pam_mfa.conf.5 \
		$(DESTDIR)$(MANDIR)/man1/mfa-enroll.1 $(DESTDIR)$(PAMCONFIGDIR)/mfa \
		$(DESTDIR)$(PAMDIR)/pam_mfa/store_ldap.so $(DESTDIR)$(MANDIR)/man5/pam_mfa-ldap.5 \
		$(DESTDIR)$(PAMDIR)/pam_mfa/mfa_chkcode $(DESTDIR)$(MANDIR)/man8/mfa_chkcode.8
	rm -rf $(DESTDIR)$(DATADIR)/pam_mfa/ldap
	rm -f $(LINGUAS:%=$(DESTDIR)$(LOCALEDIR)/%/LC_MESSAGES/pam_mfa.mo)
	-rmdir $(DESTDIR)$(PAMDIR)/pam_mfa $(DESTDIR)$(DATADIR)/pam_mfa 2>/dev/null

# libpam-mfa and mfa-enroll .debs in build/deb (dpkg-buildpackage puts them in the parent dir).
deb:
	$(INSTALL_DEPS) build deb
	dpkg-buildpackage -us -uc -b
	@mkdir -p $(BUILD)/deb
	mv ../libpam-mfa_*.deb ../libpam-mfa-ldap_*.deb ../mfa-enroll_*.deb ../pam-mfa_*.changes ../pam-mfa_*.buildinfo $(BUILD)/deb/
	lintian --fail-on error,warning $(BUILD)/deb/*.deb

demo-deps:
	$(INSTALL_DEPS) build demo

bench-deps:
	$(INSTALL_DEPS) build test bench

# Enroll into a scratch file and log in through libpam + the built module; touches nothing in /etc.
demo: demo-deps build
	@Tests/demo/demo.sh

format:
	$(SWIFT) format --in-place --recursive Sources Tests Package.swift

lint:
	$(SWIFT) format lint --strict --recursive Sources Tests Package.swift
	@out=$$(mandoc -Tlint -W warning man/*); if [ -n "$$out" ]; then echo "$$out"; exit 1; fi

clean:
	rm -rf $(BUILD) .build .build-embedded .build-asan .build-fuzz
