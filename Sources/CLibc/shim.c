#define _GNU_SOURCE
#include "CLibc.h"

#include <signal.h>
#include <spawn.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <syslog.h>

int mfa_errno(void) { return errno; }

int mfa_openat(int dirfd, const char *path, int flags, unsigned int mode) {
  return openat(dirfd, path, flags, (mode_t)mode);
}

void mfa_wipe(void *buffer, size_t length) { explicit_bzero(buffer, length); }

int mfa_rename_noreplace(int olddirfd, const char *oldpath, int newdirfd, const char *newpath) {
  return renameat2(olddirfd, oldpath, newdirfd, newpath, RENAME_NOREPLACE);
}

int mfa_user_in_group(const char *user, gid_t base, const char *group) {
  struct group entry, *found = NULL;
  char buffer[16384];
  if (getgrnam_r(group, &entry, buffer, sizeof(buffer), &found) != 0 || found == NULL) return -1;
  gid_t wanted = found->gr_gid;
  if (base == wanted) return 1;
  gid_t groups[1024];
  int count = (int)(sizeof(groups) / sizeof(groups[0]));
  if (getgrouplist(user, base, groups, &count) < 0) return -1;
  for (int i = 0; i < count; i++) {
    if (groups[i] == wanted) return 1;
  }
  return 0;
}

/* No blocked signal and no ignored one inherited from the host (sshd, a screen locker). */
static void mfa_default_signals(posix_spawnattr_t *attributes) {
  sigset_t none, all;
  sigemptyset(&none);
  sigfillset(&all);
  sigdelset(&all, SIGKILL);
  sigdelset(&all, SIGSTOP);
  posix_spawnattr_setsigmask(attributes, &none);
  posix_spawnattr_setsigdefault(attributes, &all);
  posix_spawnattr_setflags(attributes, POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);
}

/* The child's exit status; past the deadline it is killed (and reaped) and the answer is -1. */
static int wait_with_deadline(pid_t pid, int timeout_seconds) {
  int status = 0;
  for (int waited = 0;; waited++) {
    pid_t done = waitpid(pid, &status, WNOHANG);
    if (done == pid) break;
    if (done < 0 && errno != EINTR) return -1;
    if (waited >= timeout_seconds * 20) {
      kill(pid, SIGKILL);
      while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {}
      return -1;
    }
    struct timespec pause = {0, 50 * 1000 * 1000};
    nanosleep(&pause, NULL);
  }
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

int mfa_run_checked(int program_fd, const char *name, const char *input, size_t length, int timeout_seconds) {
  /* Above 3, so that moving it to 3 in the child is always a real dup2 (clears close-on-exec). */
  int program = fcntl(program_fd, F_DUPFD_CLOEXEC, 10);
  if (program < 0) return -1;
  int fds[2];
  if (pipe2(fds, O_CLOEXEC) != 0) {
    close(program);
    return -1;
  }
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_adddup2(&actions, fds[0], 0);
  posix_spawn_file_actions_addopen(&actions, 1, "/dev/null", O_WRONLY, 0);
  posix_spawn_file_actions_addopen(&actions, 2, "/dev/null", O_WRONLY, 0);
  /* The file that was checked, as fd 3 (a #! script's interpreter reopens /proc/self/fd/3);
     nothing else the host had open. */
  posix_spawn_file_actions_adddup2(&actions, program, 3);
  posix_spawn_file_actions_addclosefrom_np(&actions, 4);
  posix_spawnattr_t attributes;
  posix_spawnattr_init(&attributes);
  mfa_default_signals(&attributes);
  /* Nothing of the host's environment: the program gets what it needs on stdin. */
  char *const argv[] = {(char *)name, NULL};
  char *const envp[] = {"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", NULL};
  pid_t pid;
  int started = posix_spawn(&pid, "/proc/self/fd/3", &actions, &attributes, argv, envp);
  posix_spawn_file_actions_destroy(&actions);
  posix_spawnattr_destroy(&attributes);
  close(program);
  close(fds[0]);
  if (started != 0) {
    close(fds[1]);
    return -1;
  }
  /* A program that does not read must not make us block or die of SIGPIPE. */
  struct sigaction ignore, previous;
  memset(&ignore, 0, sizeof(ignore));
  ignore.sa_handler = SIG_IGN;
  sigaction(SIGPIPE, &ignore, &previous);
  size_t written = 0;
  while (written < length) {
    ssize_t n = write(fds[1], input + written, length - written);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    written += (size_t)n;
  }
  close(fds[1]);
  sigaction(SIGPIPE, &previous, NULL);
  return wait_with_deadline(pid, timeout_seconds);
}

pid_t mfa_spawn_helper(const char *path, char *const argv[], int *channel) {
  /* A socket, not pipes: the module writes with MSG_NOSIGNAL, so a helper that died cannot
     kill the application (a screen locker that dies unlocks the screen) with SIGPIPE. */
  int ends[2];
  if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, ends) != 0) return -1;
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_adddup2(&actions, ends[1], 0);
  posix_spawn_file_actions_adddup2(&actions, ends[1], 1);
  posix_spawn_file_actions_addopen(&actions, 2, "/dev/null", O_WRONLY, 0);
  posix_spawn_file_actions_addclosefrom_np(&actions, 3);
  posix_spawnattr_t attributes;
  posix_spawnattr_init(&attributes);
  mfa_default_signals(&attributes);
  char *const envp[] = {NULL};
  pid_t pid;
  int started = posix_spawn(&pid, path, &actions, &attributes, argv, envp);
  posix_spawn_file_actions_destroy(&actions);
  posix_spawnattr_destroy(&attributes);
  close(ends[1]);
  if (started != 0) {
    close(ends[0]);
    errno = started;
    return -1;
  }
  /* Never 0, 1 or 2: an application that closed its standard streams would write into it. */
  int kept = fcntl(ends[0], F_DUPFD_CLOEXEC, 3);
  close(ends[0]);
  if (kept < 0) {
    kill(pid, SIGKILL);
    mfa_wait_helper(pid);
    return -1;
  }
  *channel = kept;
  return pid;
}

int mfa_wait_helper(pid_t pid) {
  /* Through a pidfd: if the application reaped the helper itself (a SIGCHLD handler) and the
     pid was reused, waitpid would wait for a child of the application's. */
  int pidfd = (int)syscall(SYS_pidfd_open, pid, 0);
  if (pidfd < 0) return -1;
  siginfo_t info;
  memset(&info, 0, sizeof(info));
  int waited;
  while ((waited = waitid(P_PIDFD, (id_t)pidfd, &info, WEXITED)) < 0 && errno == EINTR) {}
  close(pidfd);
  if (waited < 0) return -1;
  return info.si_code == CLD_EXITED ? info.si_status : -1;
}

/* `value` for both limits; where even root may not raise a hard limit (no CAP_SYS_RESOURCE, as
   in some containers) the soft one up to the hard one. A hard limit the caller lowered then still
   binds: a write it stops fails, and the login with it, after the attempt was counted. */
static void mfa_own_limit(int resource, rlim_t value) {
  struct rlimit wanted = {value, value};
  if (setrlimit(resource, &wanted) == 0) return;
  struct rlimit current;
  if (getrlimit(resource, &current) != 0) return;
  current.rlim_cur = current.rlim_max;
  setrlimit(resource, &current);
}

int mfa_helper_start(void) {
  /* A closed 0, 1 or 2 would make the next file we open stand in for it. */
  for (int fd = 0; fd <= 2; fd++) {
    if (fcntl(fd, F_GETFD) >= 0) continue;
    if (open("/dev/null", O_RDWR) != fd) return -1;
  }
  if (close_range(3, ~0U, 0) != 0) return -1;
  if (clearenv() != 0) return -1;
  sigset_t none;
  sigemptyset(&none);
  if (sigprocmask(SIG_SETMASK, &none, NULL) != 0) return -1;
  struct sigaction action;
  memset(&action, 0, sizeof(action));
  for (int number = 1; number < NSIG; number++) {
    if (number == SIGKILL || number == SIGSTOP) continue;
    /* A closed pipe must surface as an error; the caller's terminal may not stop or kill us. */
    int ignored = number == SIGPIPE || number == SIGXFSZ || number == SIGINT || number == SIGQUIT ||
                  number == SIGTSTP || number == SIGTTIN || number == SIGTTOU || number == SIGHUP;
    action.sa_handler = ignored ? SIG_IGN : SIG_DFL;
    sigaction(number, &action, NULL);
  }
  /* The caller's limits are not ours: a tiny file size, CPU time or memory limit would stop a
     state write half-way or kill us at a chosen moment. */
  mfa_own_limit(RLIMIT_FSIZE, RLIM_INFINITY);
  mfa_own_limit(RLIMIT_CPU, RLIM_INFINITY);
  mfa_own_limit(RLIMIT_DATA, RLIM_INFINITY);
  mfa_own_limit(RLIMIT_AS, RLIM_INFINITY);
  mfa_own_limit(RLIMIT_RTTIME, RLIM_INFINITY);
  mfa_own_limit(RLIMIT_NOFILE, 1024);
  const struct rlimit no_core = {0, 0};
  if (setrlimit(RLIMIT_CORE, &no_core) != 0) return -1;
  /* Interval timers survive exec: the caller's could kill us at a moment of its choosing. */
  const struct itimerval off = {{0, 0}, {0, 0}};
  if (setitimer(ITIMER_REAL, &off, NULL) != 0 || setitimer(ITIMER_VIRTUAL, &off, NULL) != 0 ||
      setitimer(ITIMER_PROF, &off, NULL) != 0)
    return -1;
  umask(077);
  if (chdir("/") != 0) return -1;
  if (prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) != 0) return -1;
  if (setgroups(0, NULL) != 0) return -1;
  if (setresgid(0, 0, 0) != 0 || setresuid(0, 0, 0) != 0) return -1;
  uid_t real, effective, saved;
  if (getresuid(&real, &effective, &saved) != 0 || real != 0 || effective != 0 || saved != 0) return -1;
  return 0;
}

/* setgroups as a raw system call changes only this thread's groups (glibc's wrapper changes
 * every thread's): a threaded host's other logins keep theirs. 32-bit ABIs name it setgroups32. */
static int thread_setgroups(size_t count, const gid_t *groups) {
#ifdef SYS_setgroups32
  return (int)syscall(SYS_setgroups32, count, groups);
#else
  return (int)syscall(SYS_setgroups, count, groups);
#endif
}

static int has_identity(uid_t uid, gid_t gid, int count, const gid_t *groups) {
  if ((uid_t)setfsuid((uid_t)-1) != uid || (gid_t)setfsgid((gid_t)-1) != gid) return 0;
  int now = getgroups(0, NULL);
  if (now != count) return 0;
  if (count == 0) return 1;
  gid_t *current = calloc((size_t)count, sizeof(gid_t));
  if (current == NULL) return 0;
  int same = getgroups(count, current) == count && memcmp(current, groups, (size_t)count * sizeof(gid_t)) == 0;
  free(current);
  return same;
}

int mfa_identity_become(struct mfa_identity *saved, uid_t uid, gid_t gid) {
  memset(saved, 0, sizeof(*saved));
  /* Not root (nothing to switch to), or root's own files: as pam_modutil_drop_priv, no change. */
  if (geteuid() != 0 || uid == 0) return 0;
  saved->fsuid = (uid_t)setfsuid((uid_t)-1);
  saved->fsgid = (gid_t)setfsgid((gid_t)-1);
  int count = getgroups(0, NULL);
  if (count < 0) return -1;
  saved->groups = calloc((size_t)count + 1, sizeof(gid_t));
  if (saved->groups == NULL) return -1;
  if (count > 0 && getgroups(count, saved->groups) != count) {
    free(saved->groups);
    saved->groups = NULL;
    return -1;
  }
  saved->group_count = count;
  saved->switched = 1;
  /* Only the user's primary group besides the ids: no NSS lookup, none of the caller's groups. */
  if (thread_setgroups(1, &gid) != 0) return mfa_identity_restore(saved) == 0 ? -1 : -2;
  setfsgid(gid);
  setfsuid(uid);
  /* setfsuid reports the previous id, never an error: has_identity asks again. */
  if (!has_identity(uid, gid, 1, &gid)) return mfa_identity_restore(saved) == 0 ? -1 : -2;
  return 0;
}

int mfa_identity_restore(struct mfa_identity *saved) {
  if (!saved->switched) return 0;
  setfsuid(saved->fsuid);
  setfsgid(saved->fsgid);
  int ok = thread_setgroups((size_t)saved->group_count, saved->groups) == 0 &&
           has_identity(saved->fsuid, saved->fsgid, saved->group_count, saved->groups);
  free(saved->groups);
  saved->groups = NULL;
  saved->switched = 0;
  return ok ? 0 : -1;
}

void mfa_openlog(const char *ident) { openlog(ident, LOG_PID, LOG_AUTHPRIV); }

void mfa_syslog(int priority, const char *message) { syslog(priority, "%s", message); }
