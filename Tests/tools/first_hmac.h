/*
 * first_hmac.h - OpenSSL 3's start-up in a bench tool, however a module gets libcrypto.
 *
 * first_hmac() dlopen()s libcrypto.so.3 itself (a reference count only, when a module already
 * loaded it; a load when not, e.g. a module that dlopen()s it on first use or not at all) and
 * computes one HMAC-SHA1 through HMAC(EVP_sha1(), ...), the EVP path on which a process's first
 * use runs OpenSSL 3's start-up.  It returns the nanoseconds that HMAC call took, or -1 with a
 * message on stderr; *was_loaded (if not NULL) tells whether libcrypto.so.3 was in the process
 * before.  now_ns() is the clock of the bench tools (CLOCK_MONOTONIC).
 */
#ifndef FIRST_HMAC_H
#define FIRST_HMAC_H

#include <dlfcn.h>
#include <stdio.h>
#include <time.h>

static long long now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

typedef const void *(*first_hmac_md_func)(void);
typedef unsigned char *(*first_hmac_func)(const void *md, const void *key, int key_len,
                                          const unsigned char *data, size_t data_len,
                                          unsigned char *md_out, unsigned int *md_len);

static long long first_hmac(int *was_loaded)
{
    void *already = dlopen("libcrypto.so.3", RTLD_NOW | RTLD_NOLOAD);
    if (was_loaded != NULL)
        *was_loaded = already != NULL;
    void *crypto = already != NULL ? already : dlopen("libcrypto.so.3", RTLD_NOW | RTLD_GLOBAL);
    if (crypto == NULL) {
        fprintf(stderr, "first_hmac: libcrypto.so.3: %s\n", dlerror());
        return -1;
    }
    first_hmac_md_func sha1 = (first_hmac_md_func)dlsym(crypto, "EVP_sha1");
    first_hmac_func hmac = (first_hmac_func)dlsym(crypto, "HMAC");
    if (sha1 == NULL || hmac == NULL) {
        fprintf(stderr, "first_hmac: no HMAC/EVP_sha1 in libcrypto.so.3\n");
        return -1;
    }
    unsigned char key[20] = { 1 }, counter[8] = { 0 }, out[64];
    unsigned int out_len = 0;
    long long start = now_ns();
    unsigned char *ok = hmac(sha1(), key, (int)sizeof(key), counter, sizeof(counter), out, &out_len);
    long long elapsed = now_ns() - start;
    if (ok == NULL || out_len != 20) {
        fprintf(stderr, "first_hmac: HMAC failed\n");
        return -1;
    }
    return elapsed;
}

#endif
