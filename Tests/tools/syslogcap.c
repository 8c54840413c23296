/*
 * syslogcap.so - LD_PRELOAD shim that captures syslog messages for tests.
 *
 * Overrides openlog, closelog, syslog, vsyslog, __syslog_chk and
 * __vsyslog_chk.  Each message is formatted (including %m) and appended as
 * one line
 *     <priority-number> <message>
 * to the file named by the environment variable MFA_TEST_SYSLOG.  The
 * priority number includes the facility (the openlog facility, or LOG_USER,
 * when the caller gave none), e.g. 83 = LOG_AUTHPRIV|LOG_ERR.  Newlines in a
 * message are replaced by spaces.  Nothing is sent to the real syslog.
 *
 * The file is opened with O_APPEND for every message and written with one
 * write(), so several processes can share it.  A descriptor opened when the
 * library is loaded is used as a fallback for the case where the process has
 * changed its file system uid (setfsuid) and cannot open the
 * file any more.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <unistd.h>

static int log_facility = LOG_USER;
static int fallback_fd = -1;

static int open_capture(void)
{
    const char *path = getenv("MFA_TEST_SYSLOG");
    if (path == NULL || *path == '\0')
        return -1;
    return open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0666);
}

__attribute__((constructor)) static void syslogcap_init(void)
{
    int saved = errno;
    fallback_fd = open_capture();
    errno = saved;
}

__attribute__((destructor)) static void syslogcap_fini(void)
{
    if (fallback_fd >= 0)
        close(fallback_fd);
    fallback_fd = -1;
}

/* Copy fmt, turning %m into the text of errno (and keeping %% as is). */
static char *expand_m(const char *fmt, int err)
{
    const char *errtext = strerror(err);
    size_t extra = 0;
    for (const char *p = fmt; *p != '\0'; p++) {
        if (p[0] == '%' && p[1] == 'm')
            extra += strlen(errtext) * 2; /* worst case every char is '%' */
    }
    char *out = malloc(strlen(fmt) + extra + 1);
    if (out == NULL)
        return NULL;
    char *o = out;
    for (const char *p = fmt; *p != '\0'; p++) {
        if (p[0] == '%' && p[1] == '%') {
            *o++ = '%';
            *o++ = '%';
            p++;
        } else if (p[0] == '%' && p[1] == 'm') {
            for (const char *e = errtext; *e != '\0'; e++) {
                if (*e == '%')
                    *o++ = '%';
                *o++ = *e;
            }
            p++;
        } else {
            *o++ = *p;
        }
    }
    *o = '\0';
    return out;
}

static void capture(int pri, const char *fmt, va_list ap)
{
    int saved = errno;
    if (fmt == NULL) {
        errno = saved;
        return;
    }
    if ((pri & LOG_FACMASK) == 0)
        pri |= log_facility;

    char *fmt2 = expand_m(fmt, saved);
    char *msg = NULL;
    if (fmt2 == NULL || vasprintf(&msg, fmt2, ap) < 0)
        msg = NULL;
    free(fmt2);
    if (msg == NULL) {
        errno = saved;
        return;
    }
    for (char *p = msg; *p != '\0'; p++) {
        if (*p == '\n' || *p == '\r')
            *p = ' ';
    }

    char *line = NULL;
    int len = asprintf(&line, "%d %s\n", pri, msg);
    free(msg);
    if (len < 0) {
        errno = saved;
        return;
    }

    int fd = open_capture();
    int own = fd >= 0;
    if (!own)
        fd = fallback_fd;
    if (fd >= 0) {
        ssize_t w = write(fd, line, (size_t)len);
        (void)w;
    }
    if (own)
        close(fd);
    free(line);
    errno = saved;
}

void openlog(const char *ident, int option, int facility)
{
    (void)ident;
    (void)option;
    if (facility != 0)
        log_facility = facility & LOG_FACMASK;
}

void closelog(void)
{
}

void vsyslog(int pri, const char *fmt, va_list ap)
{
    capture(pri, fmt, ap);
}

void syslog(int pri, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    capture(pri, fmt, ap);
    va_end(ap);
}

void __vsyslog_chk(int pri, int flag, const char *fmt, va_list ap)
{
    (void)flag;
    capture(pri, fmt, ap);
}

void __syslog_chk(int pri, int flag, const char *fmt, ...)
{
    (void)flag;
    va_list ap;
    va_start(ap, fmt);
    capture(pri, fmt, ap);
    va_end(ap);
}
