// OpenSSL libcrypto: HMAC for HOTP/TOTP, CRYPTO_memcmp for constant-time comparison.
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
