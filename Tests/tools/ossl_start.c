/*
 * ossl_start.so - a reference PAM module for `make bench` (issue 18, goal 1): OpenSSL 3's
 * start-up and nothing else.
 *
 *   auth optional  .../ossl_start.so
 *   auth required  pam_google_authenticator.so secret=...   (with DISALLOW_REUSE)
 *
 * pam_sm_authenticate computes one HMAC-SHA1 with OpenSSL's HMAC(EVP_sha1(), ...), the EVP path
 * on which a process's first use runs OpenSSL 3's start-up (configuration, default provider,
 * method store), and returns PAM_IGNORE.  Linked with -lcrypto, so loading it also loads
 * libcrypto.so.3.  Stacked in front of google-authenticator (which carries its own SHA-1), it
 * stands for "google-authenticator with the project's chosen crypto library": what pam_mfa's
 * dependency costs a new process, with google-authenticator's own work beside it.
 */
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <security/pam_modules.h>

int pam_sm_authenticate(pam_handle_t *pamh, int flags, int argc, const char **argv)
{
    (void)pamh;
    (void)flags;
    (void)argc;
    (void)argv;
    static const unsigned char key[20] = { 1 }, counter[8] = { 0 };
    unsigned char out[EVP_MAX_MD_SIZE];
    unsigned int out_len = 0;
    if (HMAC(EVP_sha1(), key, (int)sizeof(key), counter, sizeof(counter), out, &out_len) == NULL
        || out_len != 20)
        return PAM_SYSTEM_ERR;
    return PAM_IGNORE;
}

int pam_sm_setcred(pam_handle_t *pamh, int flags, int argc, const char **argv)
{
    (void)pamh;
    (void)flags;
    (void)argc;
    (void)argv;
    return PAM_IGNORE;
}
