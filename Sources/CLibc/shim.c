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
