// The libc surface the core needs. Embedded Swift has no Glibc overlay, so the core imports
// this module instead; variadic or macro-only calls get a plain function here.
#ifndef MFA_CLIBC_H
#define MFA_CLIBC_H

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <limits.h>
#include <pwd.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/fsuid.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <poll.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#include "mfa_store_plugin.h"

/// errno is a macro over a thread-local; Swift reads it through this.
int mfa_errno(void);
/// openat(2) is variadic in C (AT_FDCWD for a plain open).
int mfa_openat(int dirfd, const char *path, int flags, unsigned int mode);
/// renameat2(..., RENAME_NOREPLACE): create-if-absent without a race; needs _GNU_SOURCE.
int mfa_rename_noreplace(int olddirfd, const char *oldpath, int newdirfd, const char *newpath);
/// explicit_bzero needs _DEFAULT_SOURCE; wipes secrets in a way the optimiser keeps.
void mfa_wipe(void *buffer, size_t length);

/// 1 when `user` (primary group `base`) belongs to the group named `group`, 0 when not,
/// -1 when no such group exists or the lookup fails.
int mfa_user_in_group(const char *user, gid_t base, const char *group);

/// Runs `program` (no arguments, a minimal environment) with `input` on its standard input and
/// its output discarded; waits at most `timeout_seconds`, then kills it. Returns its exit status
/// (0–255), or -1 when it could not be started, was killed or timed out.
int mfa_run_checked(int program_fd, const char *name, const char *input, size_t length, int timeout_seconds);

/// Starts the helper `path` (mfa_chkcode) with `argv`, an empty environment, default signals,
/// its stdin and stdout on one end of a new socket pair (the other in *channel), stderr on
/// /dev/null and no other descriptor. Returns its pid, or -1 with errno set.
pid_t mfa_spawn_helper(const char *path, char *const argv[], int *channel);
/// Waits for a helper started by mfa_spawn_helper; returns its exit status (0–255), or -1 when
/// it was killed or could not be waited for (an application that ignores SIGCHLD).
int mfa_wait_helper(pid_t pid);

/// The helper's first act (setuid root, run by an unprivileged user): descriptors 0–2 open
/// (/dev/null where the caller closed one), every other one closed, no environment, default
/// signals with SIGPIPE, SIGXFSZ and the terminal's signals ignored, no resource limit of the
/// caller's (no core file), umask 077, cwd /, not dumpable, and root for real,
/// effective, saved uid and gid with no supplementary group (the caller can no longer signal
/// it). Returns 0, or -1 with errno when any step failed (e.g. not installed setuid root).
int mfa_helper_start(void);
/// What mfa_identity_become changed, for mfa_identity_restore.
struct mfa_identity {
  int switched;
  uid_t fsuid;
  gid_t fsgid;
  int group_count;
  gid_t *groups;
};
/// Reads and writes files as a user, on this thread only: file-system ids (setfsuid/setfsgid)
/// and the user's primary group as the only supplementary group; no NSS lookup. Changes
/// nothing when not root or when uid is 0. Returns 0, -1 with everything put back, or -2 when
/// even putting back failed (the thread is not root's as it was: the caller must stop).
int mfa_identity_become(struct mfa_identity *saved, uid_t uid, gid_t gid);
/// Puts back what mfa_identity_become changed; 0, or -1 when the kernel did not take it.
int mfa_identity_restore(struct mfa_identity *saved);
/// The text domain of every message a person sees (the module's and mfa-enroll's catalogs).
#define MFA_TEXT_DOMAIN "pam_mfa"
/// dgettext(MFA_TEXT_DOMAIN, msgid) in the language of the process's LC_MESSAGES, which the
/// application set (never setlocale here); the domain is bound once per process to the
/// compiled-in MFA_LOCALEDIR. The result is a format for our own substitution, never printf's.
const char *mfa_translate(const char *msgid);
/// dngettext: the form for `count` (plural rules come from the catalog).
const char *mfa_translate_plural(const char *singular, const char *plural, unsigned long count);

/// openlog(ident, LOG_PID, LOG_AUTHPRIV) and syslog(priority, "%s", message).
void mfa_openlog(const char *ident);
void mfa_syslog(int priority, const char *message);

#endif
