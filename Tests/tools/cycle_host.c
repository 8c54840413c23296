/*
 * cycle_host - a long-lived PAM host for `make bench`: does a module's memory grow?
 *
 * Usage:
 *   cycle_host --confdir DIR --service NAME --user USER
 *              (--answer TEXT | --code-at STEP CODE...)
 *              [--threads N] [--iterations M] [--warmup W] [--reset SRC DST]
 *              [--crypto-started]
 *
 * N threads each run M times
 *     [reset] pam_start_confdir / pam_authenticate / pam_end
 * with a conversation that answers every prompt with TEXT (and ignores
 * informational messages), like a daemon that serves logins for a long time.
 * --code-at STEP CODE (repeatable) answers CODE while time(NULL) / 30 is STEP,
 * so a run may last longer than one TOTP period; outside the steps given it
 * answers the --answer TEXT, or else the last CODE.
 * "{i}" in NAME and DST is replaced by the thread's number, so each thread can
 * have its own service file and its own state (replay state is per user, and
 * a code is accepted once).  --reset SRC DST copies SRC over DST (through
 * DST.tmp, fsync, rename and an fsync of the directory: durable, as a file
 * written long ago is) before each login, e.g. a pristine state file or
 * usersfile, so that every login succeeds; the copy is the host's work, not
 * the module's: it is not timed, and it allocates nothing that lives on.
 *
 * Memory (Rss and Anonymous from /proc/self/smaps_rollup) is printed
 *     MEM phase=<start|warm|progress|end|joined> iter=<done> rss_kb=<n> anon_kb=<n>
 * at the start, after W logins in all (default 100: libpam, libc, the
 * module's one-time setup and every thread's malloc arena are there by then),
 * at each tenth, at the end (all logins done, the threads still alive, so
 * comparable with the warm-up sample) and after the threads were joined.  Then
 *     RESULTS success=<n> failure=<n> first_failure=<PAM code name or ->
 *     ELAPSED ns=<n> logins_ns=<n>
 * (wall time of the whole run; the sum over all threads of the time spent in
 * pam_start_confdir/pam_authenticate/pam_end, resets not included).
 * The fail delay is a no-op (PAM_FAIL_DELAY), so failures do not sleep.
 *
 * --crypto-started: before anything else, libcrypto.so.3 is loaded and OpenSSL 3
 * started with one HMAC (first_hmac.h), as in sshd, whose key exchange has done
 * so before PAM runs.  With it or without, the very first login of the process
 * (thread 0's first, reset not counted) is timed on its own:
 *     FIRST ns=<n> rc=<PAM code name>
 * With --threads 1 nothing else runs meanwhile: it is what a fresh process pays
 * for the module at its first login (dlopen, one-time set-up, the check, the
 * writes), e.g. each sshd connection, without OpenSSL's start-up.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <security/pam_appl.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "answer_conv.h"
#include "first_hmac.h"

static const char *confdir, *service_fmt, *user, *answer, *reset_src, *reset_dst_fmt;
#define MAX_CODES 64
static struct {
    long long step;
    const char *code;
} codes[MAX_CODES];
static int n_codes;

static const char *current_answer(void)
{
    long long step = (long long)time(NULL) / 30;
    for (int i = 0; i < n_codes; i++)
        if (codes[i].step == step)
            return codes[i].code;
    return answer != NULL ? answer : codes[n_codes - 1].code;
}
static long threads = 4, iterations = 1000, warmup = 100;
static atomic_long done, successes, failures;
static atomic_llong logins_ns;
static atomic_int first_failure = -1;
static pthread_mutex_t print_lock = PTHREAD_MUTEX_INITIALIZER;
/* The end is measured while every thread still lives (its stack and arena are
 * still there, as at the warm-up sample); the threads leave after that. */
static pthread_barrier_t finished, leave;

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

static void print_mem(const char *phase, long iter)
{
    char buf[8192];
    size_t used = 0;
    int fd = open("/proc/self/smaps_rollup", O_RDONLY | O_CLOEXEC);
    if (fd >= 0) {
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
    }
    buf[used] = '\0';
    pthread_mutex_lock(&print_lock);
    printf("MEM phase=%s iter=%ld rss_kb=%ld anon_kb=%ld\n", phase, iter, field_kb(buf, "Rss:"),
           field_kb(buf, "Anonymous:"));
    fflush(stdout);
    pthread_mutex_unlock(&print_lock);
}

/* fmt with every "{i}" replaced by index, in out (size cap). */
static int expand(char *out, size_t cap, const char *fmt, long index)
{
    size_t o = 0;
    for (const char *p = fmt; *p != '\0';) {
        if (strncmp(p, "{i}", 3) == 0) {
            int n = snprintf(out + o, cap - o, "%ld", index);
            if (n < 0 || (size_t)n >= cap - o)
                return -1;
            o += (size_t)n;
            p += 3;
        } else {
            if (o + 1 >= cap)
                return -1;
            out[o++] = *p++;
        }
    }
    out[o] = '\0';
    return 0;
}

/* fsync of the directory holding path (the rename into it). */
static int sync_directory_of(const char *path)
{
    char dir[4096];
    const char *slash = strrchr(path, '/');
    size_t len = slash == NULL ? 1 : (size_t)(slash - path);
    if (len == 0)
        len = 1;
    if (len >= sizeof(dir))
        return -1;
    memcpy(dir, slash == NULL ? "." : path, len);
    dir[len] = '\0';
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0)
        return -1;
    int rc = fsync(fd);
    close(fd);
    return rc;
}

static int copy_file(const char *src, const char *dst)
{
    char tmp[4096], buf[65536];
    if (snprintf(tmp, sizeof(tmp), "%s.tmp", dst) >= (int)sizeof(tmp))
        return -1;
    int in = open(src, O_RDONLY | O_CLOEXEC);
    if (in < 0)
        return -1;
    int out = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0600);
    if (out < 0) {
        close(in);
        return -1;
    }
    int rc = 0;
    for (;;) {
        ssize_t got = read(in, buf, sizeof(buf));
        if (got < 0 && errno == EINTR)
            continue;
        if (got < 0) {
            rc = -1;
            break;
        }
        if (got == 0)
            break;
        for (ssize_t off = 0; off < got;) {
            ssize_t put = write(out, buf + off, (size_t)(got - off));
            if (put < 0 && errno == EINTR)
                continue;
            if (put < 0) {
                rc = -1;
                break;
            }
            off += put;
        }
        if (rc != 0)
            break;
    }
    close(in);
    if (rc == 0 && fsync(out) != 0)
        rc = -1;
    if (close(out) != 0)
        rc = -1;
    if (rc == 0 && rename(tmp, dst) != 0)
        rc = -1;
    if (rc == 0)
        rc = sync_directory_of(dst);
    return rc;
}

static int conversation(int num_msg, const struct pam_message **msg, struct pam_response **resp,
                        void *appdata)
{
    (void)appdata;
    return answer_every_prompt(current_answer(), num_msg, msg, resp);
}

static void *worker(void *arg)
{
    long index = (long)arg;
    char service[256], dst[4096];
    if (expand(service, sizeof(service), service_fmt, index) != 0) {
        fprintf(stderr, "cycle_host: service name too long\n");
        exit(1);
    }
    if (reset_src != NULL && expand(dst, sizeof(dst), reset_dst_fmt, index) != 0) {
        fprintf(stderr, "cycle_host: reset path too long\n");
        exit(1);
    }
    long total = threads * iterations;
    long tenth = total >= 10 ? total / 10 : 1;
    struct pam_conv conv = { conversation, NULL };
    for (long k = 0; k < iterations; k++) {
        if (reset_src != NULL && copy_file(reset_src, dst) != 0) {
            fprintf(stderr, "cycle_host: cannot copy %s to %s: %s\n", reset_src, dst, strerror(errno));
            exit(1);
        }
        pam_handle_t *pamh = NULL;
        long long start = now_ns();
        int rc = pam_start_confdir(service, user, &conv, confdir, &pamh);
        if (rc == PAM_SUCCESS) {
            pam_set_item(pamh, PAM_FAIL_DELAY, (const void *)no_delay);
            rc = pam_authenticate(pamh, 0);
            pam_end(pamh, rc);
        }
        long long took = now_ns() - start;
        atomic_fetch_add(&logins_ns, took);
        if (index == 0 && k == 0) {
            long long first = took;
            pthread_mutex_lock(&print_lock);
            printf("FIRST ns=%lld rc=%s\n", first, pam_strerror(NULL, rc));
            fflush(stdout);
            pthread_mutex_unlock(&print_lock);
        }
        if (rc == PAM_SUCCESS) {
            atomic_fetch_add(&successes, 1);
        } else {
            atomic_fetch_add(&failures, 1);
            int none = -1;
            atomic_compare_exchange_strong(&first_failure, &none, rc);
        }
        long n = atomic_fetch_add(&done, 1) + 1;
        if (n == warmup)
            print_mem("warm", n);
        else if (n % tenth == 0 && n > warmup && n < total)
            print_mem("progress", n);
    }
    pthread_barrier_wait(&finished);
    pthread_barrier_wait(&leave);
    return NULL;
}

static void usage(const char *why)
{
    fprintf(stderr, "cycle_host: %s\n", why);
    fprintf(stderr, "usage: cycle_host --confdir DIR --service NAME --user USER\n"
                    "                  (--answer TEXT | --code-at STEP CODE...)\n"
                    "                  [--threads N] [--iterations M] [--warmup W] [--reset SRC DST]\n"
                    "                  [--crypto-started]\n");
    exit(2);
}

static long number(const char *text, long min)
{
    char *end;
    errno = 0;
    long v = strtol(text, &end, 10);
    if (errno != 0 || *end != '\0' || v < min)
        usage("bad number");
    return v;
}

int main(int argc, char **argv)
{
    int crypto_started = 0;
    for (int i = 1; i < argc; i++) {
        const char *opt = argv[i];
        if (strcmp(opt, "--crypto-started") == 0) {
            crypto_started = 1;
            continue;
        }
        if (i + 1 >= argc)
            usage("missing value");
        if (strcmp(opt, "--confdir") == 0)
            confdir = argv[++i];
        else if (strcmp(opt, "--service") == 0)
            service_fmt = argv[++i];
        else if (strcmp(opt, "--user") == 0)
            user = argv[++i];
        else if (strcmp(opt, "--answer") == 0)
            answer = argv[++i];
        else if (strcmp(opt, "--threads") == 0)
            threads = number(argv[++i], 1);
        else if (strcmp(opt, "--iterations") == 0)
            iterations = number(argv[++i], 1);
        else if (strcmp(opt, "--warmup") == 0)
            warmup = number(argv[++i], 1);
        else if (strcmp(opt, "--reset") == 0) {
            if (i + 2 >= argc)
                usage("--reset needs SRC and DST");
            reset_src = argv[++i];
            reset_dst_fmt = argv[++i];
        } else if (strcmp(opt, "--code-at") == 0) {
            if (i + 2 >= argc)
                usage("--code-at needs STEP and CODE");
            if (n_codes >= MAX_CODES)
                usage("too many --code-at");
            codes[n_codes].step = number(argv[++i], 0);
            codes[n_codes].code = argv[++i];
            n_codes++;
        } else
            usage("unknown option");
    }
    if (confdir == NULL || service_fmt == NULL || user == NULL || (answer == NULL && n_codes == 0))
        usage("--confdir, --service, --user and --answer or --code-at are required");
    if (warmup > threads * iterations)
        usage("--warmup must not exceed threads x iterations");

    if (crypto_started && first_hmac(NULL) < 0)
        return 1;
    if (pthread_barrier_init(&finished, NULL, (unsigned)threads + 1) != 0 ||
        pthread_barrier_init(&leave, NULL, (unsigned)threads + 1) != 0)
        return 1;
    print_mem("start", 0);
    long long start = now_ns();
    pthread_t *ids = calloc((size_t)threads, sizeof(*ids));
    if (ids == NULL)
        return 1;
    for (long t = 0; t < threads; t++) {
        int rc = pthread_create(&ids[t], NULL, worker, (void *)t);
        if (rc != 0) {
            fprintf(stderr, "cycle_host: pthread_create: %s\n", strerror(rc));
            return 1;
        }
    }
    pthread_barrier_wait(&finished);
    long long elapsed = now_ns() - start;
    print_mem("end", atomic_load(&done));
    pthread_barrier_wait(&leave);
    for (long t = 0; t < threads; t++)
        pthread_join(ids[t], NULL);
    free(ids);
    print_mem("joined", atomic_load(&done));
    int ff = atomic_load(&first_failure);
    printf("RESULTS success=%ld failure=%ld first_failure=%s\n", atomic_load(&successes),
           atomic_load(&failures), ff < 0 ? "-" : pam_strerror(NULL, ff));
    printf("ELAPSED ns=%lld logins_ns=%lld\n", elapsed, (long long)atomic_load(&logins_ns));
    return 0;
}
