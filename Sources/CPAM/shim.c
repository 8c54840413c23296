#include "CPAM.h"

#include <dlfcn.h>
#include <stdlib.h>
#include <string.h>

void mfa_pam_syslog(pam_handle_t *pamh, int priority, const char *message) {
  pam_syslog(pamh, priority, "%s", message);
}

int mfa_pam_prompt(pam_handle_t *pamh, int style, char **response, const char *text) {
  return pam_prompt(pamh, style, response, "%s", text);
}

/* The two entry points of libqrencode we use, declared from its documented ABI
 * (QRcode { int version; int width; unsigned char *data; }) so the module needs no header. */
struct mfa_qrcode {
  int version;
  int width;
  unsigned char *data;
};
typedef struct mfa_qrcode *(*mfa_qr_encode_fn)(const char *, int, int, int, int);
typedef void (*mfa_qr_free_fn)(struct mfa_qrcode *);

int mfa_qr_matrix(const char *text, unsigned char *out, int capacity) {
  /* RTLD_NODELETE: loaded once per process, like the module itself. */
  void *library = dlopen("libqrencode.so.4", RTLD_NOW | RTLD_LOCAL | RTLD_NODELETE);
  if (library == NULL) return -1;
  mfa_qr_encode_fn encode = (mfa_qr_encode_fn)dlsym(library, "QRcode_encodeString");
  mfa_qr_free_fn release = (mfa_qr_free_fn)dlsym(library, "QRcode_free");
  if (encode == NULL || release == NULL) return -1;
  /* version 0 (smallest), QR_ECLEVEL_M = 1, QR_MODE_8 = 2, case-sensitive. */
  struct mfa_qrcode *code = encode(text, 0, 1, 2, 1);
  if (code == NULL) return -1;
  int width = code->width;
  if (width <= 0 || width * width > capacity) {
    release(code);
    return -1;
  }
  for (int i = 0; i < width * width; i++) out[i] = code->data[i] & 1;
  release(code);
  return width;
}

/* What one pam_mfa call leaves for a later one in the same handle (an enrollment made at login,
 * the fate of a code typed with the password): a named, wiped-at-pam_end copy. */
struct mfa_kept {
  size_t length;
  unsigned char bytes[];
};

static void mfa_kept_cleanup(pam_handle_t *pamh, void *data, int status) {
  (void)pamh;
  (void)status;
  struct mfa_kept *kept = data;
  if (kept == NULL) return;
  explicit_bzero(kept->bytes, kept->length);
  free(kept);
}

int mfa_keep_data(pam_handle_t *pamh, const char *name, const unsigned char *bytes, size_t length) {
  struct mfa_kept *kept = malloc(sizeof(*kept) + length);
  if (kept == NULL) return PAM_BUF_ERR;
  kept->length = length;
  memcpy(kept->bytes, bytes, length);
  int rc = pam_set_data(pamh, name, kept, mfa_kept_cleanup);
  if (rc != PAM_SUCCESS) mfa_kept_cleanup(pamh, kept, 0);
  return rc;
}

size_t mfa_take_data(pam_handle_t *pamh, const char *name, unsigned char *out, size_t capacity) {
  const void *data = NULL;
  if (pam_get_data(pamh, name, &data) != PAM_SUCCESS || data == NULL) return 0;
  const struct mfa_kept *kept = data;
  /* Without a buffer: only the size, and the data stays (unless it is empty: forgotten). */
  if (out == NULL && kept->length > 0) return kept->length;
  size_t length = out != NULL && kept->length <= capacity ? kept->length : 0;
  if (length > 0) memcpy(out, kept->bytes, length);
  /* Replacing the data runs the cleanup above: the copy in the handle is wiped now. */
  (void)pam_set_data(pamh, name, NULL, NULL);
  return length;
}
