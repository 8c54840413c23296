/*
 * ldap_phases.so - LD_PRELOAD shim for the fleet benchmark (Tests/Bench/fleet.py): where a
 * store=ldap login's time goes on the host, per libldap call the store plugin makes.
 *
 * It defines the libldap functions plugins/ldap/store_ldap.c calls; the plugin is loaded with
 * dlopen(RTLD_LOCAL), but its undefined symbols are looked up in the global scope first, where
 * this preloaded library comes before libldap, so the plugin's calls land here.  Each wrapper
 * calls the real function (dlsym(RTLD_NEXT); this library links libldap, so libldap is in the
 * global scope after it) and adds the wall time (CLOCK_MONOTONIC) and the calling thread's CPU
 * time (CLOCK_THREAD_CPUTIME_ID) to a per-phase total.  At exit the totals are appended to the
 * file named by LDAP_PHASES_OUT as lines
 *     PHASE <name> <calls> <wall_ns> <cpu_ns>
 * Phases: initialize (ldap_initialize), tls_context (ldap_set_option(LDAP_OPT_X_TLS_NEWCTX):
 * reads the CA, certificate and key files and builds the TLS context), starttls
 * (ldap_start_tls_s: the TCP connection, the StartTLS request and the TLS handshake), bind
 * (ldap_sasl_bind_s), search (ldap_search_ext_s), modify (ldap_modify_ext_s), add
 * (ldap_add_ext_s), unbind (ldap_unbind_ext_s: the unbind request and closing).
 *
 * fleet_host calls ldap_phases_reset() at its start signal, so warm-up logins are not counted.
 * For a one-off breakdown only: it makes libldap part of the process from its start.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <lber.h>
#include <ldap.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

enum { INITIALIZE, TLS_CONTEXT, STARTTLS, BIND, SEARCH, MODIFY, ADD, UNBIND, PHASES };
static const char *names[PHASES] = { "initialize", "tls_context", "starttls", "bind",
                                     "search", "modify", "add", "unbind" };
static atomic_llong calls[PHASES], wall[PHASES], cpu[PHASES];

struct mark {
    long long wall, cpu;
};

static long long clock_ns(clockid_t id)
{
    struct timespec ts;
    clock_gettime(id, &ts);
    return (long long)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

static struct mark begin(void)
{
    return (struct mark){ clock_ns(CLOCK_MONOTONIC), clock_ns(CLOCK_THREAD_CPUTIME_ID) };
}

static void end(int phase, struct mark m)
{
    atomic_fetch_add(&calls[phase], 1);
    atomic_fetch_add(&wall[phase], clock_ns(CLOCK_MONOTONIC) - m.wall);
    atomic_fetch_add(&cpu[phase], clock_ns(CLOCK_THREAD_CPUTIME_ID) - m.cpu);
}

static void *real(const char *name)
{
    void *f = dlsym(RTLD_NEXT, name);
    if (f == NULL) {
        fprintf(stderr, "ldap_phases: %s: %s\n", name, dlerror());
        abort();
    }
    return f;
}

#define REAL(name) static __typeof__(name) *next; if (next == NULL) next = real(#name)

int ldap_initialize(LDAP **ld, const char *uri)
{
    REAL(ldap_initialize);
    struct mark m = begin();
    int rc = next(ld, uri);
    end(INITIALIZE, m);
    return rc;
}

int ldap_set_option(LDAP *ld, int option, const void *value)
{
    REAL(ldap_set_option);
    if (option != LDAP_OPT_X_TLS_NEWCTX)
        return next(ld, option, value);
    struct mark m = begin();
    int rc = next(ld, option, value);
    end(TLS_CONTEXT, m);
    return rc;
}

int ldap_start_tls_s(LDAP *ld, LDAPControl **server, LDAPControl **client)
{
    REAL(ldap_start_tls_s);
    struct mark m = begin();
    int rc = next(ld, server, client);
    end(STARTTLS, m);
    return rc;
}

int ldap_sasl_bind_s(LDAP *ld, const char *dn, const char *mechanism, struct berval *cred,
                     LDAPControl **server, LDAPControl **client, struct berval **servercred)
{
    REAL(ldap_sasl_bind_s);
    struct mark m = begin();
    int rc = next(ld, dn, mechanism, cred, server, client, servercred);
    end(BIND, m);
    return rc;
}

int ldap_search_ext_s(LDAP *ld, const char *base, int scope, const char *filter, char **attrs,
                      int attrsonly, LDAPControl **server, LDAPControl **client,
                      struct timeval *timeout, int sizelimit, LDAPMessage **res)
{
    REAL(ldap_search_ext_s);
    struct mark m = begin();
    int rc = next(ld, base, scope, filter, attrs, attrsonly, server, client, timeout, sizelimit, res);
    end(SEARCH, m);
    return rc;
}

int ldap_modify_ext_s(LDAP *ld, const char *dn, LDAPMod **mods, LDAPControl **server,
                      LDAPControl **client)
{
    REAL(ldap_modify_ext_s);
    struct mark m = begin();
    int rc = next(ld, dn, mods, server, client);
    end(MODIFY, m);
    return rc;
}

int ldap_add_ext_s(LDAP *ld, const char *dn, LDAPMod **attrs, LDAPControl **server,
                   LDAPControl **client)
{
    REAL(ldap_add_ext_s);
    struct mark m = begin();
    int rc = next(ld, dn, attrs, server, client);
    end(ADD, m);
    return rc;
}

int ldap_unbind_ext_s(LDAP *ld, LDAPControl **server, LDAPControl **client)
{
    REAL(ldap_unbind_ext_s);
    struct mark m = begin();
    int rc = next(ld, server, client);
    end(UNBIND, m);
    return rc;
}

/* Called by Tests/tools/fleet_host.c at its start signal: the warm-up logins are not counted. */
__attribute__((visibility("default"))) void ldap_phases_reset(void)
{
    for (int i = 0; i < PHASES; i++) {
        atomic_store(&calls[i], 0);
        atomic_store(&wall[i], 0);
        atomic_store(&cpu[i], 0);
    }
}

__attribute__((destructor)) static void report(void)
{
    const char *path = getenv("LDAP_PHASES_OUT");
    if (path == NULL || *path == '\0')
        return;
    FILE *f = fopen(path, "a");
    if (f == NULL)
        return;
    for (int i = 0; i < PHASES; i++)
        fprintf(f, "PHASE %s %lld %lld %lld\n", names[i], (long long)atomic_load(&calls[i]),
                (long long)atomic_load(&wall[i]), (long long)atomic_load(&cpu[i]));
    fclose(f);
}
