/*
 * fleet_host - one simulated host of the fleet benchmark (Tests/Bench/fleet.py): a long-lived
 * PAM application that runs a script of logins through libpam, one after the other, as a
 * host's sshd or sudo would (each login pam_start_confdir / pam_authenticate / pam_end, so the
 * module runs a whole login every time; libpam loads the module once, as pam_mfa.so and its
 * store plugin stay loaded).
 *
 * Usage:
 *   fleet_host --confdir DIR --service NAME --script FILE --out FILE [--races FILE]
 *   fleet_host --init-races FILE COUNT
 *
 * Script lines (one login each):
 *     W USER CODE            a warm-up login, before READY: not timed
 *     L USER CODE            a login
 *     R USER CODE RACE ROLE  a login that starts together with the other host of race RACE
 *                            (ROLE 0 or 1): both send the same code for the same user
 * The conversation answers every prompt with the login's CODE.
 *
 * After the warm-up logins it prints "READY" on standard output and waits for one line on
 * standard input (the start signal the driver gives all hosts at once).  Then, per login, into
 * --out:
 *     LOGIN <index> <kind> <start_ns> <end_ns> <cpu_ns> <PAM return code, a number>
 * (CLOCK_MONOTONIC around pam_start_confdir .. pam_end, comparable between processes; cpu_ns:
 * this process's user+system CPU over the login, every thread's, from getrusage); warm-up
 * logins as WARM lines of the same form before that.  A race whose partner did not arrive
 * within 60 s is run anyway and noted as "RACE_TIMEOUT <race>".  At the end:
 *     CPU <user+system ns of the whole process since the start signal>
 *     DONE
 * Before each login the process calls syslog(LOG_INFO, "fleet-mark <index>"), so that a
 * syslog capture (Tests/tools/syslogcap.so) can tell which login logged what.
 *
 * Races: --races FILE is a file of 2 * COUNT process-shared POSIX semaphores that
 * --init-races made.  In race R, role 0 posts semaphore 2R and waits for 2R+1, role 1 the other
 * way round, so neither starts its login before the other is there.  Every host takes its
 * races in increasing order, so the lowest race not yet run always has both of its hosts on
 * the way to it: no deadlock.
 *
 * The fail delay is a no-op (PAM_FAIL_DELAY), so a refused login does not sleep.  When
 * Tests/tools/ldap_phases.so is preloaded, its totals are reset at the start signal, so they
 * count the timed logins only.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <security/pam_appl.h>
#include <semaphore.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

#include "answer_conv.h"

#define RACE_WAIT_SECONDS 60

struct login {
    char kind; /* W, L or R */
    char *user;
    char *code;
    long race;
    int role;
};

static const char *answer;

static long long now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

static long long cpu_ns(void)
{
    struct rusage ru;
    if (getrusage(RUSAGE_SELF, &ru) != 0)
        return -1;
    return ((long long)ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) * 1000000000LL
        + ((long long)ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) * 1000LL;
}

static int conversation(int num_msg, const struct pam_message **msg, struct pam_response **resp,
                        void *appdata)
{
    (void)appdata;
    return answer_every_prompt(answer, num_msg, msg, resp);
}

static void die(const char *what)
{
    fprintf(stderr, "fleet_host: %s: %s\n", what, strerror(errno));
    exit(1);
}

static void usage(const char *why)
{
    fprintf(stderr, "fleet_host: %s\n"
                    "usage: fleet_host --confdir DIR --service NAME --script FILE --out FILE "
                    "[--races FILE]\n"
                    "       fleet_host --init-races FILE COUNT\n", why);
    exit(2);
}

static sem_t *map_races(const char *path, long count, int create)
{
    size_t size = (size_t)count * 2 * sizeof(sem_t);
    int fd = open(path, O_RDWR | O_CLOEXEC | (create ? O_CREAT | O_TRUNC : 0), 0600);
    if (fd < 0)
        die(path);
    if (create && ftruncate(fd, (off_t)size) != 0)
        die("ftruncate");
    struct stat st;
    if (fstat(fd, &st) != 0)
        die("fstat");
    if (!create)
        size = (size_t)st.st_size;
    sem_t *sems = size ? mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0) : NULL;
    if (size && sems == MAP_FAILED)
        die("mmap");
    close(fd);
    if (create)
        for (long i = 0; i < count * 2; i++)
            if (sem_init(&sems[i], 1, 0) != 0)
                die("sem_init");
    return sems;
}

/* Both hosts of the race are there (0), or the partner did not come in time (-1). */
static int meet(sem_t *sems, long race, int role)
{
    if (sem_post(&sems[2 * race + role]) != 0)
        die("sem_post");
    struct timespec deadline;
    clock_gettime(CLOCK_REALTIME, &deadline);
    deadline.tv_sec += RACE_WAIT_SECONDS;
    for (;;) {
        if (sem_timedwait(&sems[2 * race + (1 - role)], &deadline) == 0)
            return 0;
        if (errno == ETIMEDOUT)
            return -1;
        if (errno != EINTR)
            die("sem_timedwait");
    }
}

static struct login *read_script(const char *path, long *count)
{
    FILE *f = fopen(path, "r");
    if (f == NULL)
        die(path);
    long capacity = 256, n = 0;
    struct login *logins = malloc((size_t)capacity * sizeof(*logins));
    char line[1024];
    while (logins != NULL && fgets(line, sizeof(line), f) != NULL) {
        char kind, user[256], code[256];
        long race = -1;
        int role = 0;
        int got = sscanf(line, " %c %255s %255s %ld %d", &kind, user, code, &race, &role);
        if (got < 1 || kind == '#')
            continue;
        if (got < 3 || (kind != 'W' && kind != 'L' && kind != 'R') || (kind == 'R' && got != 5)
            || (kind == 'R' && (race < 0 || role < 0 || role > 1))) {
            fprintf(stderr, "fleet_host: bad script line: %s", line);
            exit(2);
        }
        if (n == capacity) {
            capacity *= 2;
            struct login *grown = realloc(logins, (size_t)capacity * sizeof(*logins));
            if (grown == NULL)
                break;
            logins = grown;
        }
        logins[n++] = (struct login){ kind, strdup(user), strdup(code), race, role };
    }
    if (logins == NULL || ferror(f))
        die("reading the script");
    fclose(f);
    *count = n;
    return logins;
}

static int one_login(const char *confdir, const char *service, const struct login *l)
{
    struct pam_conv conv = { conversation, NULL };
    pam_handle_t *pamh = NULL;
    answer = l->code;
    int rc = pam_start_confdir(service, l->user, &conv, confdir, &pamh);
    if (rc == PAM_SUCCESS) {
        pam_set_item(pamh, PAM_FAIL_DELAY, (const void *)no_delay);
        rc = pam_authenticate(pamh, 0);
        pam_end(pamh, rc);
    }
    return rc;
}

int main(int argc, char **argv)
{
    const char *confdir = NULL, *service = NULL, *script = NULL, *out_path = NULL, *races = NULL;
    if (argc == 4 && strcmp(argv[1], "--init-races") == 0) {
        char *end;
        long count = strtol(argv[3], &end, 10);
        if (*end != '\0' || count < 0)
            usage("bad COUNT");
        map_races(argv[2], count, 1);
        return 0;
    }
    for (int i = 1; i < argc; i++) {
        if (i + 1 >= argc)
            usage("missing value");
        const char *opt = argv[i], *value = argv[++i];
        if (strcmp(opt, "--confdir") == 0)
            confdir = value;
        else if (strcmp(opt, "--service") == 0)
            service = value;
        else if (strcmp(opt, "--script") == 0)
            script = value;
        else if (strcmp(opt, "--out") == 0)
            out_path = value;
        else if (strcmp(opt, "--races") == 0)
            races = value;
        else
            usage("unknown option");
    }
    if (confdir == NULL || service == NULL || script == NULL || out_path == NULL)
        usage("--confdir, --service, --script and --out are required");

    long count = 0;
    struct login *logins = read_script(script, &count);
    sem_t *sems = NULL;
    for (long i = 0; i < count; i++)
        if (logins[i].kind == 'R' && races == NULL)
            usage("the script has races: --races FILE is needed");
    if (races != NULL)
        sems = map_races(races, 0, 0);
    FILE *out = fopen(out_path, "w");
    if (out == NULL)
        die(out_path);

    long index = 0;
    for (; index < count && logins[index].kind == 'W'; index++) {
        syslog(LOG_INFO, "fleet-mark %ld", index);
        long long cpu = cpu_ns(), start = now_ns();
        int rc = one_login(confdir, service, &logins[index]);
        long long end = now_ns();
        fprintf(out, "WARM %ld W %lld %lld %lld %d\n", index, start, end, cpu_ns() - cpu, rc);
    }
    fflush(out);
    printf("READY\n");
    fflush(stdout);
    char go[64];
    if (fgets(go, sizeof(go), stdin) == NULL)
        return 3; /* the driver went away: no logins */

    /* Tests/tools/ldap_phases.so, when preloaded, counts from here: not the warm-up logins. */
    void (*reset_phases)(void) = (void (*)(void))dlsym(RTLD_DEFAULT, "ldap_phases_reset");
    if (reset_phases != NULL)
        reset_phases();
    long long cpu_start = cpu_ns();
    for (; index < count; index++) {
        const struct login *l = &logins[index];
        if (l->kind == 'R' && meet(sems, l->race, l->role) != 0)
            fprintf(out, "RACE_TIMEOUT %ld\n", l->race);
        syslog(LOG_INFO, "fleet-mark %ld", index);
        long long cpu = cpu_ns(), start = now_ns();
        int rc = one_login(confdir, service, l);
        long long end = now_ns();
        fprintf(out, "LOGIN %ld %c %lld %lld %lld %d\n", index, l->kind, start, end, cpu_ns() - cpu, rc);
    }
    fprintf(out, "CPU %lld\nDONE\n", cpu_ns() - cpu_start);
    if (fclose(out) != 0)
        die(out_path);
    return 0;
}
