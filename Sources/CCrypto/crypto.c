#include "CCrypto.h"

#include <dlfcn.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>

/* The soname of OpenSSL 3, the ABI the prototypes below come from. */
static const char library_name[] = "libcrypto.so.3";

static struct {
  __typeof__(&HMAC) hmac;
  __typeof__(&EVP_Digest) digest;
  __typeof__(&PKCS5_PBKDF2_HMAC) pbkdf2;
  __typeof__(&CRYPTO_memcmp) memcmp;
  __typeof__(&EVP_sha1) sha1;
  __typeof__(&EVP_sha256) sha256;
  __typeof__(&EVP_sha512) sha512;
  __typeof__(&EVP_CIPHER_CTX_new) cipher_new;
  __typeof__(&EVP_CIPHER_CTX_free) cipher_free;
  __typeof__(&EVP_CIPHER_CTX_set_padding) cipher_padding;
  __typeof__(&EVP_DecryptInit_ex) decrypt_init;
  __typeof__(&EVP_DecryptUpdate) decrypt_update;
  __typeof__(&EVP_DecryptFinal_ex) decrypt_final;
  __typeof__(&EVP_aes_128_cbc) aes_128_cbc;
  __typeof__(&EVP_aes_192_cbc) aes_192_cbc;
  __typeof__(&EVP_aes_256_cbc) aes_256_cbc;
} functions;

static pthread_mutex_t load_lock = PTHREAD_MUTEX_INITIALIZER;
/* Set once the library is loaded and gave its known answer; a failure is tried again at the
 * next call, so a passing error (no descriptor or memory left) does not last for the host's life. */
static int loaded;
static char load_error[256];

static void *symbol(void *library, const char *name, int *missing) {
  void *address = dlsym(library, name);
  if (address == NULL && !*missing) {
    *missing = 1;
    snprintf(load_error, sizeof(load_error), "%s has no %s", library_name, name);
  }
  return address;
}

static int hex_equal(const unsigned char *bytes, const char *hex, size_t length) {
  char text[129];
  if (length * 2 >= sizeof(text)) return 0;
  for (size_t i = 0; i < length; i++) snprintf(text + 2 * i, 3, "%02x", bytes[i]);
  return strcmp(text, hex) == 0;
}

/* A known answer (RFC 4226 appendix D): a library that loads but cannot compute (a provider or
 * FIPS set-up that refuses) is unavailable, not a wrong code. HMAC-SHA1 only: it is what a
 * login computes next anyway, where another algorithm would cost OpenSSL another fetch. */
static int known_answer(void) {
  unsigned char out[64];
  unsigned int length = 0;
  static const unsigned char counter[8];
  if (functions.hmac(functions.sha1(), "12345678901234567890", 20, counter, 8, out, &length) == NULL ||
      length != 20 || !hex_equal(out, "cc93cf18508d94934c64b65d8ba7667fb7cde4b0", 20))
    return -1;
  return 0;
}

static int load(void) {
  /* NODELETE: OpenSSL must outlive its own atexit handler, whatever the host dlcloses. */
  void *library = dlopen(library_name, RTLD_NOW | RTLD_LOCAL | RTLD_NODELETE);
  if (library == NULL) {
    const char *reason = dlerror();
    snprintf(load_error, sizeof(load_error), "%s", reason != NULL ? reason : library_name);
    return -1;
  }
  int missing = 0;
  /* Each function by its name, with the type of its prototype. */
#define RESOLVE(field, name) functions.field = (__typeof__(functions.field))symbol(library, name, &missing)
  RESOLVE(hmac, "HMAC");
  RESOLVE(digest, "EVP_Digest");
  RESOLVE(pbkdf2, "PKCS5_PBKDF2_HMAC");
  RESOLVE(memcmp, "CRYPTO_memcmp");
  RESOLVE(sha1, "EVP_sha1");
  RESOLVE(sha256, "EVP_sha256");
  RESOLVE(sha512, "EVP_sha512");
  RESOLVE(cipher_new, "EVP_CIPHER_CTX_new");
  RESOLVE(cipher_free, "EVP_CIPHER_CTX_free");
  RESOLVE(cipher_padding, "EVP_CIPHER_CTX_set_padding");
  RESOLVE(decrypt_init, "EVP_DecryptInit_ex");
  RESOLVE(decrypt_update, "EVP_DecryptUpdate");
  RESOLVE(decrypt_final, "EVP_DecryptFinal_ex");
  RESOLVE(aes_128_cbc, "EVP_aes_128_cbc");
  RESOLVE(aes_192_cbc, "EVP_aes_192_cbc");
  RESOLVE(aes_256_cbc, "EVP_aes_256_cbc");
#undef RESOLVE
  if (missing) return -1;
  if (known_answer() != 0) {
    snprintf(load_error, sizeof(load_error), "%s gives a wrong HMAC-SHA1 for RFC 4226's test key", library_name);
    return -1;
  }
  return 0;
}

int mfa_crypto_load(void) {
  if (__atomic_load_n(&loaded, __ATOMIC_ACQUIRE)) return 0;
  pthread_mutex_lock(&load_lock);
  if (!loaded && load() == 0) __atomic_store_n(&loaded, 1, __ATOMIC_RELEASE);
  int result = loaded ? 0 : -1;
  pthread_mutex_unlock(&load_lock);
  return result;
}

const char *mfa_crypto_error(void) {
  return load_error;
}

int mfa_crypto_is_loaded(void) {
  void *library = dlopen(library_name, RTLD_NOW | RTLD_NOLOAD);
  if (library == NULL) return 0;
  dlclose(library);
  return 1;
}

static const EVP_MD *hash_function(int hash) {
  switch (hash) {
  case MFA_HASH_SHA1: return functions.sha1();
  case MFA_HASH_SHA256: return functions.sha256();
  case MFA_HASH_SHA512: return functions.sha512();
  default: return NULL;
  }
}

int mfa_crypto_hmac(int hash, const void *key, size_t key_length, const void *message, size_t message_length,
                    unsigned char *out) {
  if (mfa_crypto_load() != 0 || key_length > 0x7fffffff) return -1;
  const EVP_MD *md = hash_function(hash);
  unsigned int length = 0;
  if (md == NULL || functions.hmac(md, key, (int)key_length, message, message_length, out, &length) == NULL)
    return -1;
  return (int)length;
}

int mfa_crypto_sha256(const void *data, size_t length, unsigned char *out) {
  if (mfa_crypto_load() != 0) return -1;
  unsigned int written = 0;
  if (functions.digest(data, length, out, &written, functions.sha256(), NULL) != 1 || written != 32) return -1;
  return 0;
}

int mfa_crypto_pbkdf2_sha256(const void *password, size_t password_length, const void *salt, size_t salt_length,
                             int iterations, unsigned char *out, size_t out_length) {
  if (mfa_crypto_load() != 0 || password_length > 0x7fffffff || salt_length > 0x7fffffff ||
      out_length > 0x7fffffff)
    return -1;
  int ok = functions.pbkdf2(password, (int)password_length, salt, (int)salt_length, iterations,
                            functions.sha256(), (int)out_length, out);
  return ok == 1 ? 0 : -1;
}

int mfa_crypto_memcmp(const void *left, const void *right, size_t length) {
  if (mfa_crypto_load() != 0) return -1;
  return functions.memcmp(left, right, length) == 0 ? 0 : 1;
}

static const EVP_CIPHER *aes_cbc(size_t key_length) {
  switch (key_length) {
  case 16: return functions.aes_128_cbc();
  case 24: return functions.aes_192_cbc();
  case 32: return functions.aes_256_cbc();
  default: return NULL;
  }
}

int mfa_crypto_aes_cbc_decrypt(const void *key, size_t key_length, const void *iv, const void *in, size_t length,
                               unsigned char *out) {
  if (mfa_crypto_load() != 0 || length == 0 || length % 16 != 0 || length > 0x7fffffff) return -1;
  const EVP_CIPHER *cipher = aes_cbc(key_length);
  EVP_CIPHER_CTX *context = functions.cipher_new();
  if (cipher == NULL || context == NULL) {
    if (context != NULL) functions.cipher_free(context);
    return -1;
  }
  int written = 0, last = 0;
  /* No EVP padding: XML Encryption's padding is not PKCS#7, the caller strips it. */
  int ok = functions.decrypt_init(context, cipher, NULL, key, iv) == 1 && functions.cipher_padding(context, 0) == 1 &&
           functions.decrypt_update(context, out, &written, in, (int)length) == 1 &&
           functions.decrypt_final(context, out + written, &last) == 1 && (size_t)(written + last) == length;
  /* EVP_CIPHER_CTX_free clears the key schedule before it frees the context. */
  functions.cipher_free(context);
  return ok ? 0 : -1;
}
