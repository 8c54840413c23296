/*
 * dlopen_probe - what one dlopen() of a PAM module costs, for `make bench`.
 *
 * Usage:
 *   dlopen_probe [--preload LIB]... [--first-hmac] MODULE.so
 *
 * Run once per sample (a fresh process each time, so nothing is loaded yet).
 * The probe is linked with libpam, as every PAM host is, so what it measures
 * is what the module adds on top of libpam: the module and the libraries it
 * needs that are not loaded yet.  --preload LIB dlopen()s LIB first
 * (RTLD_GLOBAL), e.g. libcrypto.so.3 to stand for a host such as sshd that
 * has it already.
 *
 * It reads Rss and Anonymous from /proc/self/smaps_rollup, then times
 *     dlopen(MODULE, RTLD_NOW)
 * (how libpam loads modules) with CLOCK_MONOTONIC, reads them again and prints
 * one line
 *     DLOPEN ns=<n> rss_before_kb=<n> anon_before_kb=<n> rss_after_kb=<n> anon_after_kb=<n>
 * The file-backed part is Rss - Anonymous.
 *
 * Then it says whether libcrypto.so.3 is in the process now (loaded by the
 * module, by --preload, or as the MODULE itself):
 *     LIBCRYPTO loaded=<0|1>
 *
 * --first-hmac: then calls HMAC(EVP_sha1(), ...) once in libcrypto.so.3
 * (first_hmac.h: dlopen()ed by name, so it does not matter whether or how the
 * module loads it; loaded there when it is not in the process yet, which
 * then counts in the memory below, not in the time), times that first call
 * and prints
 *     HMAC ns=<n> rss_after_kb=<n> anon_after_kb=<n>
 * The first call in a process is where OpenSSL 3 starts up (configuration,
 * default provider, method store); it is what a module that uses libcrypto
 * pays at its first login in each new process.  `dlopen_probe --first-hmac
 * libcrypto.so.3` measures it for libcrypto alone.
 *
 * Exit status 0, or 1 with a message on stderr when something cannot be
 * loaded.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <security/pam_appl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "first_hmac.h"

struct mem {
    long rss_kb;
    long anon_kb;
};

/* One field of smaps_rollup ("Rss:", "Anonymous:") in kB, or -1.  No malloc:
 * the buffer is on the stack so reading does not change the numbers. */
static long field_kb(const char *text, const char *name)
{
    size_t n = strlen(name);
    for (const char *line = text; line != NULL && *line != '\0';) {
        if (strncmp(line, name, n) == 0)
            return strtol(line + n, NULL, 10);
        line = strchr(line, '\n');
        if (line != NULL)
            line++;
    }
    return -1;
}

static int read_mem(struct mem *m)
{
    char buf[8192];
    int fd = open("/proc/self/smaps_rollup", O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -1;
    size_t used = 0;
    for (;;) {
        ssize_t got = read(fd, buf + used, sizeof(buf) - 1 - used);
        if (got < 0 && errno == EINTR)
            continue;
        if (got <= 0)
            break;
        used += (size_t)got;
        if (used == sizeof(buf) - 1)
            break;
    }
    close(fd);
    buf[used] = '\0';
    m->rss_kb = field_kb(buf, "Rss:");
    m->anon_kb = field_kb(buf, "Anonymous:");
    return m->rss_kb >= 0 && m->anon_kb >= 0 ? 0 : -1;
}

static void usage(void)
{
    fprintf(stderr, "usage: dlopen_probe [--preload LIB]... [--first-hmac] MODULE.so\n");
    exit(2);
}

int main(int argc, char **argv)
{
    const char *module = NULL;
    int want_first_hmac = 0;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--first-hmac") == 0) {
            want_first_hmac = 1;
        } else if (strcmp(argv[i], "--preload") == 0) {
            if (i + 1 >= argc)
                usage();
            const char *lib = argv[++i];
            if (dlopen(lib, RTLD_NOW | RTLD_GLOBAL) == NULL) {
                fprintf(stderr, "dlopen_probe: preload %s: %s\n", lib, dlerror());
                return 1;
            }
        } else if (argv[i][0] == '-' || module != NULL) {
            usage();
        } else {
            module = argv[i];
        }
    }
    if (module == NULL)
        usage();

    /* Keep libpam a real dependency of the probe, as it is of any PAM host. */
    if (pam_strerror(NULL, PAM_SUCCESS) == NULL)
        return 1;

    struct mem before, after;
    /* The first read faults in what reading itself needs; the second is the baseline. */
    if (read_mem(&before) != 0 || read_mem(&before) != 0) {
        fprintf(stderr, "dlopen_probe: cannot read /proc/self/smaps_rollup\n");
        return 1;
    }
    long long start = now_ns();
    void *handle = dlopen(module, RTLD_NOW);
    long long elapsed = now_ns() - start;
    if (handle == NULL) {
        fprintf(stderr, "dlopen_probe: %s: %s\n", module, dlerror());
        return 1;
    }
    if (read_mem(&after) != 0) {
        fprintf(stderr, "dlopen_probe: cannot read /proc/self/smaps_rollup\n");
        return 1;
    }
    printf("DLOPEN ns=%lld rss_before_kb=%ld anon_before_kb=%ld rss_after_kb=%ld anon_after_kb=%ld\n",
           elapsed, before.rss_kb, before.anon_kb, after.rss_kb, after.anon_kb);

    printf("LIBCRYPTO loaded=%d\n", dlopen("libcrypto.so.3", RTLD_NOW | RTLD_NOLOAD) != NULL);

    if (want_first_hmac) {
        struct mem used;
        elapsed = first_hmac(NULL);
        if (elapsed < 0 || read_mem(&used) != 0)
            return 1;
        printf("HMAC ns=%lld rss_after_kb=%ld anon_after_kb=%ld\n", elapsed, used.rss_kb, used.anon_kb);
    }
    return 0;
}
