/*
 * ldap_refuse.so - LD_PRELOAD shim for the store=ldap tests: the directory answers a modify
 * with an error and applies nothing, as 389 Directory Server does while other hosts write the
 * same entry (its error log: "find_entry_internal_dn - Retry count exceeded"; the answer is
 * insufficientAccess, or noSuchObject, for an entry that is there).
 *
 *   LDAP_REFUSE=CODE:COUNT   the first COUNT calls of ldap_modify_ext_s return CODE (an LDAP
 *                            result code) without sending anything; later calls go through.
 *   LDAP_REFUSE_LOG=FILE     one line per call appended: "refused CODE" or "sent RESULT".
 *
 * Like ldap_phases.c: the plugin is loaded with dlopen(RTLD_LOCAL), but its undefined symbols
 * are looked up in the global scope first, where this preloaded library comes before libldap;
 * this library links libldap, so dlsym(RTLD_NEXT) finds the real function.  The count is per
 * process (one pamdrive or mfa-enroll run).
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <fcntl.h>
#include <ldap.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static int refused;

static void note(const char *what, int code)
{
    const char *path = getenv("LDAP_REFUSE_LOG");
    if (path == NULL || *path == '\0')
        return;
    int fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0600);
    if (fd < 0)
        return;
    char line[64];
    int n = snprintf(line, sizeof(line), "%s %d\n", what, code);
    if (n > 0 && write(fd, line, (size_t)n) != n) {
        /* a test that reads the log finds the line missing */
    }
    close(fd);
}

int ldap_modify_ext_s(LDAP *ld, const char *dn, LDAPMod **mods, LDAPControl **server,
                      LDAPControl **client)
{
    int code = 0, count = 0;
    const char *spec = getenv("LDAP_REFUSE");
    if (spec != NULL && sscanf(spec, "%d:%d", &code, &count) == 2 && refused < count) {
        refused++;
        note("refused", code);
        return code;
    }
    static __typeof__(ldap_modify_ext_s) *next;
    if (next == NULL)
        next = (__typeof__(ldap_modify_ext_s) *)dlsym(RTLD_NEXT, "ldap_modify_ext_s");
    if (next == NULL) {
        fprintf(stderr, "ldap_refuse: ldap_modify_ext_s: %s\n", dlerror());
        abort();
    }
    int rc = next(ld, dn, mods, server, client);
    note("sent", rc);
    return rc;
}
