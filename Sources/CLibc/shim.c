#define _GNU_SOURCE
#include "CLibc.h"

int mfa_errno(void) { return errno; }

void mfa_set_errno(int value) { errno = value; }

int mfa_open(const char *path, int flags, unsigned int mode) { return open(path, flags, (mode_t)mode); }

int mfa_openat(int dirfd, const char *path, int flags, unsigned int mode) {
  return openat(dirfd, path, flags, (mode_t)mode);
}

void mfa_wipe(void *buffer, size_t length) { explicit_bzero(buffer, length); }

int mfa_getpwnam(const char *name, struct passwd *entry, char *buffer, size_t length,
                 struct passwd **found) {
  return getpwnam_r(name, entry, buffer, length, found);
}

int mfa_getpwuid(uid_t uid, struct passwd *entry, char *buffer, size_t length,
                 struct passwd **found) {
  return getpwuid_r(uid, entry, buffer, length, found);
}

int mfa_rename_noreplace(int olddirfd, const char *oldpath, int newdirfd, const char *newpath) {
  return renameat2(olddirfd, oldpath, newdirfd, newpath, RENAME_NOREPLACE);
}
