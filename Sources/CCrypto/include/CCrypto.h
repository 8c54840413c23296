#ifndef MFA_CCRYPTO_H
#define MFA_CCRYPTO_H

#include <stddef.h>

/// OpenSSL's libcrypto, loaded on first use (dlopen of libcrypto.so.3): a login that computes no
/// code (not enrolled under nullok, exempt, locked out, a remembered host) never loads it.
/// Every function returns -1 when libcrypto cannot be loaded; mfa_crypto_error says why.

/// The HMAC hashes of RFC 6238 §1.2.
enum mfa_hash { MFA_HASH_SHA1 = 1, MFA_HASH_SHA256 = 2, MFA_HASH_SHA512 = 3 };

/// 0 once libcrypto is loaded with every function below and gave RFC 4226's HMAC-SHA1, -1 if
/// not; a failure is tried again at the next call.
int mfa_crypto_load(void);
/// Why the last load failed (dlerror's text, a missing function, wrong answers), or "".
const char *mfa_crypto_error(void);
/// 1 when libcrypto is in this process (by us or by the host), 0 when not: for tests.
int mfa_crypto_is_loaded(void);

/// HMAC(hash, key, message) into out (64 bytes); the MAC's length, or -1.
int mfa_crypto_hmac(int hash, const void *key, size_t key_length, const void *message, size_t message_length,
                    unsigned char *out);
/// SHA-256 of data into out (32 bytes); 0 or -1.
int mfa_crypto_sha256(const void *data, size_t length, unsigned char *out);
/// PBKDF2-HMAC-SHA256; 0 or -1.
int mfa_crypto_pbkdf2_sha256(const void *password, size_t password_length, const void *salt, size_t salt_length,
                             int iterations, unsigned char *out, size_t out_length);
/// CRYPTO_memcmp: 0 when equal, nonzero when not, -1 without libcrypto.
int mfa_crypto_memcmp(const void *left, const void *right, size_t length);
/// AES-CBC decryption without padding removal (XML Encryption pads its own way): key_length 16,
/// 24 or 32, a 16-byte iv, length a multiple of 16; length bytes into out. 0 or -1.
int mfa_crypto_aes_cbc_decrypt(const void *key, size_t key_length, const void *iv, const void *in, size_t length,
                               unsigned char *out);

#endif
