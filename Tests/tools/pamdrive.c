/*
 * pamdrive - a small PAM application used by the pam_mfa end-to-end tests.
 *
 * Usage:
 *   pamdrive --confdir DIR --service NAME [--user USER] [--rhost HOST]
 *            [--tty TTY] [--answer TEXT]... [--answer-hex HEX]... [--answer-null]...
 *            [--answer-stdin] [--silent] [--acct-mgmt] [--setcred] [--authtok TEXT]
 *            [--scan-memory TEXT]...
 *            [--direct MODULE.so [--arg OPT]...]
 *
 * The service file is read from DIR (pam_start_confdir, Linux-PAM >= 1.5).
 * Every conversation message is printed as one line
 *     MSG <STYLE> <text>
 * (newlines in the text are shown as "\n"), prompts are answered with the
 * --answer values in the order given; when they run out the conversation
 * returns PAM_CONV_ERR, unless --answer-stdin is given: then each further
 * prompt is answered with the next line read from stdin (without its
 * newline; EOF fails the conversation), so that a test can compute an answer
 * from what the module has shown (the MSG lines are flushed before the read).
 * After pam_end comes
 *     LIBCRYPTO loaded|absent
 * (whether libcrypto.so is mapped in the process: the module loads it only when it checks a
 * code).  The last line is
 *     RESULT <PAM_CODE_NAME> <number>
 * and the exit status is 0; it is non-zero only for usage errors.
 * Before it come "FAIL_DELAY_REQUEST <usec>" for each pam_fail_delay() call a
 * module makes and "DELAY <status> <usec>" when libpam calls the (no-op)
 * fail-delay function after pam_authenticate.
 *
 * --direct MODULE.so: the module is dlopen()ed and its pam_sm_authenticate is
 * called directly with the --arg values, so the raw return code (for example
 * PAM_IGNORE) is shown.  If the service stack contains
 *     auth required pam_echo.so PAMDRIVE_DIRECT_HOOK
 * the call is made from inside that module's conversation, i.e. while libpam
 * considers a module to be running (pam_get_data/pam_set_data work there);
 * otherwise it is made from application context after pam_authenticate.
 * A line "DIRECT context=module|app" says which one was used.
 *
 * --authtok TEXT: PAM_AUTHTOK is set to TEXT before the modules after
 *     auth optional pam_echo.so PAMDRIVE_AUTHTOK_HOOK
 * run, as if an earlier module had read a password.  (libpam lets only
 * modules set PAM_AUTHTOK, so it is set from inside that module's
 * conversation.)  A line "AUTHTOK <PAM_CODE_NAME> <number>" shows the result of
 * pam_set_item.  Without --authtok the hook does nothing; it is never shown
 * as a MSG line.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <locale.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <security/pam_appl.h>

#define HOOK_TEXT "PAMDRIVE_DIRECT_HOOK"
#define AUTHTOK_HOOK_TEXT "PAMDRIVE_AUTHTOK_HOOK"
#define MAX_ITEMS 256

typedef int (*sm_func)(pam_handle_t *, int, int, const char **);

struct answer {
    char *data;     /* NULL means "answer with a NULL resp" */
    size_t len;     /* bytes in data, not counting the terminating NUL */
};

static struct answer answers[MAX_ITEMS];
static int n_answers;
static int next_answer;
static int answer_stdin;
static void add_answer(char *data, size_t len);

static const char *authtok;

/* --scan-memory: after pam_end, how often each text is still in this process's writable memory
 * (heap and anonymous mappings; not the stack, which holds argv). */
static const char *scan_texts[MAX_ITEMS];
static int n_scan_texts;

static long count_in_memory(const char *text)
{
    size_t len = strlen(text);
    FILE *maps = fopen("/proc/self/maps", "r");
    if (maps == NULL || len == 0)
        return -1;
    long found = 0;
    char line[512];
    while (fgets(line, sizeof line, maps) != NULL) {
        unsigned long start, end;
        char perms[8], name[256] = "";
        if (sscanf(line, "%lx-%lx %7s %*s %*s %*s %255s", &start, &end, perms, name) < 3)
            continue;
        if (perms[0] != 'r' || perms[1] != 'w' || strcmp(name, "[stack]") == 0
            || strncmp(name, "[v", 2) == 0)
            continue;
        for (const char *p = (const char *)start; p + len <= (const char *)end; p++)
            if (*p == text[0] && memcmp(p, text, len) == 0)
                found++;
    }
    fclose(maps);
    return found;
}

static const char *direct_args[MAX_ITEMS];
static int n_direct_args;

struct driver {
    pam_handle_t *pamh;
    int setcred;
    int acct_mgmt;
    int flags;
    sm_func sm_auth;
    sm_func sm_setcred;
    int direct_done;
    int direct_rc;
    int direct_setcred_done;
    int direct_setcred_rc;
};

static const char *code_name(int rc)
{
    switch (rc) {
    case PAM_SUCCESS: return "PAM_SUCCESS";
    case PAM_OPEN_ERR: return "PAM_OPEN_ERR";
    case PAM_SYMBOL_ERR: return "PAM_SYMBOL_ERR";
    case PAM_SERVICE_ERR: return "PAM_SERVICE_ERR";
    case PAM_SYSTEM_ERR: return "PAM_SYSTEM_ERR";
    case PAM_BUF_ERR: return "PAM_BUF_ERR";
    case PAM_PERM_DENIED: return "PAM_PERM_DENIED";
    case PAM_AUTH_ERR: return "PAM_AUTH_ERR";
    case PAM_CRED_INSUFFICIENT: return "PAM_CRED_INSUFFICIENT";
    case PAM_AUTHINFO_UNAVAIL: return "PAM_AUTHINFO_UNAVAIL";
    case PAM_USER_UNKNOWN: return "PAM_USER_UNKNOWN";
    case PAM_MAXTRIES: return "PAM_MAXTRIES";
    case PAM_NEW_AUTHTOK_REQD: return "PAM_NEW_AUTHTOK_REQD";
    case PAM_ACCT_EXPIRED: return "PAM_ACCT_EXPIRED";
    case PAM_SESSION_ERR: return "PAM_SESSION_ERR";
    case PAM_CRED_UNAVAIL: return "PAM_CRED_UNAVAIL";
    case PAM_CRED_EXPIRED: return "PAM_CRED_EXPIRED";
    case PAM_CRED_ERR: return "PAM_CRED_ERR";
    case PAM_NO_MODULE_DATA: return "PAM_NO_MODULE_DATA";
    case PAM_CONV_ERR: return "PAM_CONV_ERR";
    case PAM_AUTHTOK_ERR: return "PAM_AUTHTOK_ERR";
    case PAM_AUTHTOK_RECOVERY_ERR: return "PAM_AUTHTOK_RECOVERY_ERR";
    case PAM_AUTHTOK_LOCK_BUSY: return "PAM_AUTHTOK_LOCK_BUSY";
    case PAM_AUTHTOK_DISABLE_AGING: return "PAM_AUTHTOK_DISABLE_AGING";
    case PAM_TRY_AGAIN: return "PAM_TRY_AGAIN";
    case PAM_IGNORE: return "PAM_IGNORE";
    case PAM_ABORT: return "PAM_ABORT";
    case PAM_AUTHTOK_EXPIRED: return "PAM_AUTHTOK_EXPIRED";
    case PAM_MODULE_UNKNOWN: return "PAM_MODULE_UNKNOWN";
    case PAM_BAD_ITEM: return "PAM_BAD_ITEM";
    case PAM_CONV_AGAIN: return "PAM_CONV_AGAIN";
    case PAM_INCOMPLETE: return "PAM_INCOMPLETE";
    default: return "PAM_UNKNOWN_CODE";
    }
}

static const char *style_name(int style)
{
    switch (style) {
    case PAM_PROMPT_ECHO_OFF: return "PROMPT_ECHO_OFF";
    case PAM_PROMPT_ECHO_ON: return "PROMPT_ECHO_ON";
    case PAM_ERROR_MSG: return "ERROR_MSG";
    case PAM_TEXT_INFO: return "TEXT_INFO";
#ifdef PAM_RADIO_TYPE
    case PAM_RADIO_TYPE: return "RADIO_TYPE";
#endif
#ifdef PAM_BINARY_PROMPT
    case PAM_BINARY_PROMPT: return "BINARY_PROMPT";
#endif
    default: return "UNKNOWN_STYLE";
    }
}

/* Print one message on one line; newlines and backslashes become escapes. */
static void print_msg(int style, const char *text)
{
    fputs("MSG ", stdout);
    fputs(style_name(style), stdout);
    fputc(' ', stdout);
    if (text != NULL) {
        for (const char *p = text; *p != '\0'; p++) {
            if (*p == '\n')
                fputs("\\n", stdout);
            else if (*p == '\r')
                fputs("\\r", stdout);
            else
                fputc(*p, stdout);
        }
    } else {
        fputs("(null)", stdout);
    }
    fputc('\n', stdout);
    fflush(stdout);
}

static void print_result(const char *tag, int rc)
{
    printf("%s %s %d\n", tag, code_name(rc), rc);
    fflush(stdout);
}

/* The application's fail-delay function: it sleeps not at all, but reports
 * what libpam asked for.  libpam calls it after every pam_authenticate (also
 * on success) with the stack's status and the delay it computed: the largest
 * pam_fail_delay() request, randomised by libpam to about +-50%. */
static void no_delay(int status, unsigned int delay, void *appdata)
{
    (void)appdata;
    printf("DELAY %d %u\n", status, delay);
    fflush(stdout);
}

/* Interposes libpam's pam_fail_delay (the executable's definition wins for
 * the modules' calls) so the exact request is visible as a line
 *     FAIL_DELAY_REQUEST <usec>
 * and then hands the call on to libpam. */
int pam_fail_delay(pam_handle_t *pamh, unsigned int usec)
{
    static int (*real)(pam_handle_t *, unsigned int);
    if (real == NULL)
        real = (int (*)(pam_handle_t *, unsigned int))dlsym(RTLD_NEXT, "pam_fail_delay");
    printf("FAIL_DELAY_REQUEST %u\n", usec);
    fflush(stdout);
    return real != NULL ? real(pamh, usec) : PAM_SYSTEM_ERR;
}

static void run_direct(struct driver *d, const char *context)
{
    if (d->direct_done)
        return;
    d->direct_done = 1;
    printf("DIRECT context=%s\n", context);
    fflush(stdout);
    d->direct_rc = d->sm_auth(d->pamh, d->flags, n_direct_args, direct_args);
    if (d->setcred && d->direct_rc == PAM_SUCCESS && d->sm_setcred != NULL) {
        d->direct_setcred_done = 1;
        d->direct_setcred_rc = d->sm_setcred(d->pamh, PAM_ESTABLISH_CRED | d->flags,
                                             n_direct_args, direct_args);
    }
}

static void free_responses(struct pam_response *r, int n)
{
    if (r == NULL)
        return;
    for (int i = 0; i < n; i++) {
        if (r[i].resp != NULL) {
            memset(r[i].resp, 0, strlen(r[i].resp));
            free(r[i].resp);
        }
    }
    free(r);
}

static int conversation(int num_msg, const struct pam_message **msg,
                        struct pam_response **resp, void *appdata)
{
    struct driver *d = appdata;

    if (resp == NULL || num_msg <= 0 || num_msg > PAM_MAX_NUM_MSG)
        return PAM_CONV_ERR;
    *resp = NULL;

    /* The --direct hook: pam_echo sends our marker as one TEXT_INFO. */
    if (num_msg == 1 && msg[0]->msg_style == PAM_TEXT_INFO && msg[0]->msg != NULL &&
        strcmp(msg[0]->msg, HOOK_TEXT) == 0) {
        if (d->sm_auth != NULL)
            run_direct(d, "module");
        return PAM_SUCCESS;
    }
    /* The --authtok hook: set PAM_AUTHTOK from module context. */
    if (num_msg == 1 && msg[0]->msg_style == PAM_TEXT_INFO && msg[0]->msg != NULL &&
        strcmp(msg[0]->msg, AUTHTOK_HOOK_TEXT) == 0) {
        if (authtok != NULL)
            print_result("AUTHTOK", pam_set_item(d->pamh, PAM_AUTHTOK, authtok));
        return PAM_SUCCESS;
    }

    struct pam_response *r = calloc((size_t)num_msg, sizeof(*r));
    if (r == NULL)
        return PAM_BUF_ERR;

    for (int i = 0; i < num_msg; i++) {
        int style = msg[i]->msg_style;
        print_msg(style, msg[i]->msg);
        if (style == PAM_PROMPT_ECHO_OFF || style == PAM_PROMPT_ECHO_ON) {
            if (next_answer >= n_answers && answer_stdin) {
                char *line = NULL;
                size_t cap = 0;
                ssize_t n = getline(&line, &cap, stdin);
                if (n >= 0) {
                    if (n > 0 && line[n - 1] == '\n')
                        line[--n] = '\0';
                    add_answer(line, (size_t)n);
                } else {
                    free(line);
                }
            }
            if (next_answer >= n_answers) {
                printf("CONV no answer left\n");
                fflush(stdout);
                free_responses(r, num_msg);
                return PAM_CONV_ERR;
            }
            struct answer *a = &answers[next_answer++];
            if (a->data != NULL) {
                r[i].resp = malloc(a->len + 1);
                if (r[i].resp == NULL) {
                    free_responses(r, num_msg);
                    return PAM_BUF_ERR;
                }
                memcpy(r[i].resp, a->data, a->len);
                r[i].resp[a->len] = '\0';
            }
            r[i].resp_retcode = 0;
        }
    }
    *resp = r;
    return PAM_SUCCESS;
}

/* Whether a file whose path contains `name` is mapped into this process. */
static int is_mapped(const char *name)
{
    FILE *maps = fopen("/proc/self/maps", "r");
    if (maps == NULL)
        return -1;
    char line[4096];
    int found = 0;
    while (!found && fgets(line, sizeof(line), maps) != NULL)
        found = strstr(line, name) != NULL;
    fclose(maps);
    return found;
}

static int hexval(int c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

static void usage(const char *why)
{
    fprintf(stderr, "pamdrive: %s\n", why);
    fprintf(stderr,
            "usage: pamdrive --confdir DIR --service NAME [--user USER] [--rhost HOST]\n"
            "                [--tty TTY] [--answer TEXT]... [--answer-hex HEX]...\n"
            "                [--answer-null]... [--answer-stdin] [--silent] [--acct-mgmt] [--setcred]\n"
            "                [--scan-memory TEXT]...\n"
            "                [--authtok TEXT]\n"
            "                [--direct MODULE.so [--arg OPT]...]\n");
    exit(2);
}

static void add_answer(char *data, size_t len)
{
    if (n_answers >= MAX_ITEMS)
        usage("too many answers");
    answers[n_answers].data = data;
    answers[n_answers].len = len;
    n_answers++;
}

int main(int argc, char **argv)
{
    const char *confdir = NULL, *service = NULL, *user = NULL, *rhost = NULL, *tty = NULL;
    const char *direct = NULL;
    struct driver d;
    memset(&d, 0, sizeof(d));
    /* As login, su and sudo do: the environment's locale (LANG, LC_*, LANGUAGE), which is the
     * language PAM modules speak in (sshd never calls setlocale and stays in C). */
    setlocale(LC_ALL, "");

    for (int i = 1; i < argc; i++) {
        const char *opt = argv[i];
        int has_value = i + 1 < argc;
#define NEXT() (has_value ? argv[++i] : (usage("missing value"), (char *)NULL))
        if (strcmp(opt, "--confdir") == 0) {
            confdir = NEXT();
        } else if (strcmp(opt, "--service") == 0) {
            service = NEXT();
        } else if (strcmp(opt, "--user") == 0) {
            user = NEXT();
        } else if (strcmp(opt, "--rhost") == 0) {
            rhost = NEXT();
        } else if (strcmp(opt, "--tty") == 0) {
            tty = NEXT();
        } else if (strcmp(opt, "--answer") == 0) {
            char *v = NEXT();
            add_answer(v, strlen(v));
        } else if (strcmp(opt, "--answer-hex") == 0) {
            const char *h = NEXT();
            size_t n = strlen(h);
            if (n % 2 != 0)
                usage("--answer-hex needs an even number of hex digits");
            char *buf = malloc(n / 2 + 1);
            if (buf == NULL)
                usage("out of memory");
            for (size_t k = 0; k < n / 2; k++) {
                int hi = hexval(h[2 * k]), lo = hexval(h[2 * k + 1]);
                if (hi < 0 || lo < 0)
                    usage("bad hex digit in --answer-hex");
                buf[k] = (char)(hi * 16 + lo);
            }
            buf[n / 2] = '\0';
            add_answer(buf, n / 2);
        } else if (strcmp(opt, "--answer-null") == 0) {
            add_answer(NULL, 0);
        } else if (strcmp(opt, "--answer-stdin") == 0) {
            answer_stdin = 1;
        } else if (strcmp(opt, "--silent") == 0) {
            d.flags |= PAM_SILENT;
        } else if (strcmp(opt, "--authtok") == 0) {
            authtok = NEXT();
        } else if (strcmp(opt, "--setcred") == 0) {
            d.setcred = 1;
        } else if (strcmp(opt, "--acct-mgmt") == 0) {
            d.acct_mgmt = 1;
        } else if (strcmp(opt, "--scan-memory") == 0) {
            if (n_scan_texts >= MAX_ITEMS)
                usage("too many --scan-memory");
            scan_texts[n_scan_texts++] = NEXT();
        } else if (strcmp(opt, "--direct") == 0) {
            direct = NEXT();
        } else if (strcmp(opt, "--arg") == 0) {
            if (n_direct_args >= MAX_ITEMS - 1)
                usage("too many --arg");
            direct_args[n_direct_args++] = NEXT();
        } else if (strcmp(opt, "--help") == 0 || strcmp(opt, "-h") == 0) {
            usage("help");
        } else {
            fprintf(stderr, "pamdrive: unknown option %s\n", opt);
            usage("bad option");
        }
#undef NEXT
    }
    if (confdir == NULL || service == NULL)
        usage("--confdir and --service are required");
    if (n_direct_args > 0 && direct == NULL)
        usage("--arg needs --direct");
    direct_args[n_direct_args] = NULL;

    if (direct != NULL) {
        void *h = dlopen(direct, RTLD_NOW | RTLD_LOCAL);
        if (h == NULL) {
            fprintf(stderr, "pamdrive: dlopen %s: %s\n", direct, dlerror());
            print_result("RESULT", PAM_OPEN_ERR);
            return 0;
        }
        d.sm_auth = (sm_func)dlsym(h, "pam_sm_authenticate");
        d.sm_setcred = (sm_func)dlsym(h, "pam_sm_setcred");
        if (d.sm_auth == NULL) {
            fprintf(stderr, "pamdrive: %s has no pam_sm_authenticate\n", direct);
            print_result("RESULT", PAM_SYMBOL_ERR);
            return 0;
        }
        /* The module stays loaded until exit, like in a real host. */
    }

    struct pam_conv conv = { conversation, &d };
    pam_handle_t *pamh = NULL;
    int rc = pam_start_confdir(service, user, &conv, confdir, &pamh);
    if (rc != PAM_SUCCESS) {
        print_result("START", rc);
        print_result("RESULT", rc);
        return 0;
    }
    d.pamh = pamh;

    rc = pam_set_item(pamh, PAM_FAIL_DELAY, (const void *)no_delay);
    if (rc != PAM_SUCCESS)
        fprintf(stderr, "pamdrive: cannot set PAM_FAIL_DELAY: %s\n", pam_strerror(pamh, rc));
    if (rhost != NULL && pam_set_item(pamh, PAM_RHOST, rhost) != PAM_SUCCESS)
        fprintf(stderr, "pamdrive: cannot set PAM_RHOST\n");
    if (tty != NULL && pam_set_item(pamh, PAM_TTY, tty) != PAM_SUCCESS)
        fprintf(stderr, "pamdrive: cannot set PAM_TTY\n");

    int result;
    if (direct != NULL) {
        int stack_rc = pam_authenticate(pamh, d.flags);
        if (!d.direct_done)
            run_direct(&d, "app");
        printf("STACK %s %d\n", code_name(stack_rc), stack_rc);
        if (d.direct_setcred_done)
            print_result("SETCRED", d.direct_setcred_rc);
        result = d.direct_rc;
    } else {
        result = pam_authenticate(pamh, d.flags);
        /* Like login and sshd: the account stack, then credentials, only after success. */
        int account = PAM_SUCCESS;
        if (d.acct_mgmt && result == PAM_SUCCESS) {
            account = pam_acct_mgmt(pamh, d.flags);
            print_result("ACCT", account);
        }
        if (d.setcred && result == PAM_SUCCESS && account == PAM_SUCCESS) {
            int sc = pam_setcred(pamh, PAM_ESTABLISH_CRED | d.flags);
            print_result("SETCRED", sc);
        }
    }

    pam_end(pamh, result);
    for (int i = 0; i < n_scan_texts; i++)
        printf("MEMORY %d %ld\n", i, count_in_memory(scan_texts[i]));
    printf("LIBCRYPTO %s\n", is_mapped("/libcrypto.so") ? "loaded" : "absent");
    print_result("RESULT", result);
    return 0;
}
