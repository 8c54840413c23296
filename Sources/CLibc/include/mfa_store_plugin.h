// The ABI between pam_mfa (module and CLI) and a store plugin such as store_ldap.so. Everything
// crosses as flat byte buffers, so neither side needs the other's structures beyond this file.
#ifndef MFA_STORE_PLUGIN_H
#define MFA_STORE_PLUGIN_H

#include <stddef.h>
#include <stdint.h>

#define MFA_STORE_PLUGIN_ABI 2
#define MFA_STORE_PLUGIN_SYMBOL "mfa_store_plugin_v2"

/// Results of read/modify/add (negative: an error, described in `error`).
enum {
  MFA_STORE_DONE = 0,
  /// modify: a value to delete was gone / to add was there; add: the entry exists.
  MFA_STORE_CONFLICT = 1,
  /// read/modify: no such entry.
  MFA_STORE_NO_ENTRY = 2,
  /// modify: the server answered that it did not make the change (insufficientAccess, busy;
  /// described in `error`). A module before this value took it for MFA_STORE_ERROR.
  MFA_STORE_REFUSED = 3,
  /// Anything else: no answer (timeout, lost connection), an answer that may come after the
  /// change was applied, or a local failure.
  MFA_STORE_ERROR = -1,
};

/// Change buffers: per change `op(1) namelen(2, big-endian) name count(4) (len(4) bytes)*`;
/// op 0 add, 1 delete, 2 replace. Read buffers: per attribute `namelen(2) name count(4)
/// (len(4) bytes)*`. List buffers: per entry `dnlen(4) dn entrylen(4)` and a read buffer of
/// entrylen bytes. Settings: `key=value\0` pairs (uri, ca, cert, key, bind_dn, password,
/// timeout_ms).
struct mfa_store_plugin {
  uint32_t abi;
  /// Connects, starts TLS and binds; NULL on failure.
  void *(*open)(const unsigned char *settings, size_t length, char *error, size_t error_length);
  int (*read)(void *handle, const char *dn, unsigned char **out, size_t *out_length, char *error,
              size_t error_length);
  /// One LDAP modify, applied atomically.
  int (*modify)(void *handle, const char *dn, const unsigned char *changes, size_t length,
                char *error, size_t error_length);
  int (*add)(void *handle, const char *dn, const unsigned char *attributes, size_t length,
             char *error, size_t error_length);
  void (*release)(unsigned char *buffer, size_t length);
  void (*close)(void *handle);
  /// Every entry one level under `base` that matches `filter` (an RFC 4515 filter), all of
  /// them: the server's size limit is met with paged results (RFC 2696).
  int (*list)(void *handle, const char *base, const char *filter, unsigned char **out,
              size_t *out_length, char *error, size_t error_length);
};

/// Loads the plugin at `path` once per process and never unloads it, through `fd`: the file
/// the caller opened and checked (pam_mfa's TrustedFile: not a link, a regular file owned by
/// root, writable by no one else, in directories only root can write), so it cannot be swapped
/// after the check. The caller keeps and closes `fd`. NULL on failure, with a reason in `error`.
const struct mfa_store_plugin *mfa_store_plugin_load(int fd, const char *path, char *error,
                                                     size_t error_length);

#endif
