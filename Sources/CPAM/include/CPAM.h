// Linux-PAM for the module. pam_syslog and pam_prompt are variadic, so Swift calls the
// fixed-argument wrappers below; privilege dropping needs a macro-initialised struct. Also the
// QR encoder the module and mfa-enroll share.
#ifndef MFA_CPAM_H
#define MFA_CPAM_H

#include <security/pam_appl.h>
#include <security/pam_ext.h>
#include <security/pam_modules.h>
#include <security/pam_modutil.h>
#include <pwd.h>

/// pam_syslog(pamh, priority, "%s", message): the message is never a format string.
void mfa_pam_syslog(pam_handle_t *pamh, int priority, const char *message);
/// pam_prompt with a fixed text; *response is malloc'ed by the application (or NULL).
int mfa_pam_prompt(pam_handle_t *pamh, int style, char **response, const char *text);
/// The QR code of `text` as width×width bytes (1 = dark module) in `out`; returns the width,
/// or -1 when libqrencode cannot be loaded (it is dlopen'ed on first use, never linked: hosts
/// that do not enroll at login never load it) or the text does not fit `capacity`. The one QR
/// encoder: the module's enrollment at login and mfa-enroll both draw its matrix (QRMatrix).
int mfa_qr_matrix(const char *text, unsigned char *out, int capacity);

/// Keeps a copy of `length` bytes in the handle under `name`, wiped at pam_end.
int mfa_keep_data(pam_handle_t *pamh, const char *name, const unsigned char *bytes, size_t length);
/// Copies what is kept under `name` to `out` and forgets it (wiped); returns its length (0: none,
/// or longer than `capacity`). With `out` NULL: only its length, kept (0: none).
size_t mfa_take_data(pam_handle_t *pamh, const char *name, unsigned char *out, size_t capacity);

#endif
