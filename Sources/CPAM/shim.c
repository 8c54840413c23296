#include "CPAM.h"

#include <stdlib.h>
#include <string.h>

void mfa_pam_syslog(pam_handle_t *pamh, int priority, const char *message) {
  pam_syslog(pamh, priority, "%s", message);
}

int mfa_pam_prompt(pam_handle_t *pamh, int style, char **response, const char *text) {
  return pam_prompt(pamh, style, response, "%s", text);
}

// The groups buffer must outlive drop/regain, so the whole state lives on the heap.
struct mfa_privs {
  struct pam_modutil_privs privs;
  gid_t groups[PAM_MODUTIL_NGROUPS];
};

void *mfa_drop_priv(pam_handle_t *pamh, const char *name, uid_t uid, gid_t gid) {
  struct passwd pw;
  memset(&pw, 0, sizeof(pw));
  pw.pw_name = (char *)name;
  pw.pw_uid = uid;
  pw.pw_gid = gid;
  struct mfa_privs *state = calloc(1, sizeof(*state));
  if (state == NULL) return NULL;
  state->privs.grplist = state->groups;
  state->privs.number_of_groups = PAM_MODUTIL_NGROUPS;
  state->privs.allocated = 0;
  state->privs.old_gid = -1;
  state->privs.old_uid = -1;
  state->privs.is_dropped = 0;
  if (pam_modutil_drop_priv(pamh, &state->privs, &pw) != 0) {
    free(state);
    return NULL;
  }
  return state;
}

int mfa_regain_priv(pam_handle_t *pamh, void *token) {
  struct mfa_privs *state = token;
  if (state == NULL) return PAM_SESSION_ERR;
  // Not root, or the user is root: drop_priv changed nothing, so there is nothing to regain.
  if (!state->privs.is_dropped) {
    free(state);
    return PAM_SUCCESS;
  }
  int rc = pam_modutil_regain_priv(pamh, &state->privs);
  free(state);
  return rc == 0 ? PAM_SUCCESS : PAM_SESSION_ERR;
}
