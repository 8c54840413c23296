#define _GNU_SOURCE
#include "CLibc.h"

#include <dlfcn.h>
#include <pthread.h>

/* One plugin per process: loaded on first use, never unloaded (hosts dlclose pam_mfa.so, and
   code of a closed plugin must never be called again). */
static const struct mfa_store_plugin *loaded;
static char loaded_path[PATH_MAX];
/* A threaded host may authenticate several users at once: the first load happens once. */
static pthread_mutex_t loading = PTHREAD_MUTEX_INITIALIZER;

static void say(char *error, size_t length, const char *text, const char *detail) {
  if (length == 0) return;
  snprintf(error, length, "%s%s%s", text, detail ? ": " : "", detail ? detail : "");
}

static const struct mfa_store_plugin *load_locked(int fd, const char *path, char *error, size_t error_length);

const struct mfa_store_plugin *mfa_store_plugin_load(int fd, const char *path, char *error,
                                                     size_t error_length) {
  pthread_mutex_lock(&loading);
  const struct mfa_store_plugin *plugin = load_locked(fd, path, error, error_length);
  pthread_mutex_unlock(&loading);
  return plugin;
}

static const struct mfa_store_plugin *load_locked(int fd, const char *path, char *error, size_t error_length) {
  if (loaded) {
    if (strcmp(loaded_path, path) == 0) return loaded;
    say(error, error_length, "another store plugin is already loaded", loaded_path);
    return NULL;
  }
  if (strlen(path) >= sizeof(loaded_path) || path[0] != '/') {
    say(error, error_length, "the plugin path must be absolute", path);
    return NULL;
  }
  /* Loading through the checked descriptor: the file cannot be swapped after the check. */
  char via[64];
  snprintf(via, sizeof(via), "/proc/self/fd/%d", fd);
  void *library = dlopen(via, RTLD_NOW | RTLD_LOCAL | RTLD_NODELETE);
  if (!library) {
    say(error, error_length, "cannot load the store plugin", dlerror());
    return NULL;
  }
  const struct mfa_store_plugin *plugin = dlsym(library, MFA_STORE_PLUGIN_SYMBOL);
  if (!plugin || plugin->abi != MFA_STORE_PLUGIN_ABI) {
    say(error, error_length, path, "is not a pam_mfa store plugin of this version");
    return NULL;
  }
  strcpy(loaded_path, path);
  loaded = plugin;
  return plugin;
}
