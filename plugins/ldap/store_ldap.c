/* pam_mfa's LDAP store plugin: the transport only. pam_mfa.so and mfa-enroll load it with
   dlopen when store=ldap; every decision (which value to compare-and-swap, what a conflict
   means) is made by the Swift core, which sends one LDAP operation at a time through here.
   Kept apart so that hosts using files never load libldap. */
#define _GNU_SOURCE
#define LDAP_DEPRECATED 0
#include <errno.h>
#include <pthread.h>
#include <time.h>
#include <lber.h>
#include <ldap.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>

#include "mfa_store_plugin.h"

struct connection {
  LDAP *ld;
  char uri[512];
  struct timeval timeout;
};

static void fail(char *error, size_t length, const char *uri, const char *what, const char *why) {
  if (length) snprintf(error, length, "%s: %s%s%s", uri, what, why ? ": " : "", why ? why : "");
}

static const char *setting(const unsigned char *settings, size_t length, const char *key) {
  size_t key_length = strlen(key);
  const char *at = (const char *)settings, *end = at + length;
  while (at < end) {
    const char *stop = memchr(at, '\0', (size_t)(end - at));
    if (!stop) return NULL;
    if ((size_t)(stop - at) > key_length && memcmp(at, key, key_length) == 0 && at[key_length] == '=')
      return at + key_length + 1;
    at = stop + 1;
  }
  return NULL;
}

/* Milliseconds any one exchange may take (timeout_ms, default 5 s). */
static long timeout_of(const unsigned char *settings, size_t length) {
  const char *text = setting(settings, length, "timeout_ms");
  long ms = text ? strtol(text, NULL, 10) : 5000;
  return ms > 0 ? ms : 5000;
}

/* A stopped or slow server must not hold the login past the timeout, TLS handshake included.
   libldap does the handshake on a non-blocking socket when a network timeout is set, and then
   retries a read that would block without waiting (a busy loop on a silent server). So once
   the TCP connection stands, the network timeout has done its work: drop it, make the socket
   blocking, and let SO_RCVTIMEO/SO_SNDTIMEO bound every wait instead. */
static int on_connect(LDAP *ld, Sockbuf *sb, LDAPURLDesc *srv, struct sockaddr *addr,
                      struct ldap_conncb *ctx) {
  (void)srv;
  (void)addr;
  (void)ctx;
  int fd = -1;
  struct timeval *timeout = NULL;
  if (ber_sockbuf_ctrl(sb, LBER_SB_OPT_GET_FD, &fd) != 1 || fd < 0) return 0;
  if (ldap_get_option(ld, LDAP_OPT_TIMEOUT, &timeout) == LDAP_OPT_SUCCESS && timeout) {
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, timeout, sizeof(*timeout));
    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, timeout, sizeof(*timeout));
    ldap_memfree(timeout);
  }
  /* {-1, 0} is libldap's "no network timeout" (NULL is refused). */
  struct timeval none = {-1, 0};
  ldap_set_option(ld, LDAP_OPT_NETWORK_TIMEOUT, &none);
  ber_sockbuf_ctrl(sb, LBER_SB_OPT_SET_NONBLOCK, NULL);
  return 0;
}

static void on_disconnect(LDAP *ld, Sockbuf *sb, struct ldap_conncb *ctx) {
  (void)ld;
  (void)sb;
  (void)ctx;
}

static struct ldap_conncb connect_callback = {on_connect, on_disconnect, NULL};

/* libldap's own, exported but not in its public headers: drops one reference to a TLS context. */
extern void ldap_pvt_tls_ctx_free(void *ctx);

/* Building a TLS context reads and parses the CA, the certificate and the key: 0.66 ms of a
   long-lived host's 3.4 ms of CPU per login (make bench). So a process keeps the last one and
   uses it again while the three files are the same (path, inode, size, change time); a renewed
   certificate builds a new one. */
static pthread_mutex_t tls_cache_lock = PTHREAD_MUTEX_INITIALIZER;
static char tls_cache_stamp[3 * 600];
static void *tls_cache_ctx;
static pthread_once_t tls_cache_once = PTHREAD_ONCE_INIT;

/* A host that forks while another of its threads holds the lock: the child's copy is unlocked. */
static void tls_cache_after_fork(void) { pthread_mutex_init(&tls_cache_lock, NULL); }
static void tls_cache_setup(void) { pthread_atfork(NULL, NULL, tls_cache_after_fork); }

/* "path dev ino size ctime;" for each file; 0 when one cannot be looked at (no caching then). */
static int tls_stamp(const char *const paths[3], char *out, size_t length) {
  size_t at = 0;
  out[0] = '\0';
  for (int i = 0; i < 3; i++) {
    struct stat st;
    if (!paths[i]) continue;
    if (stat(paths[i], &st) != 0) return 0;
    int n = snprintf(out + at, length - at, "%s %ju %ju %jd %jd.%09ld;", paths[i], (uintmax_t)st.st_dev,
                     (uintmax_t)st.st_ino, (intmax_t)st.st_size, (intmax_t)st.st_ctim.tv_sec, st.st_ctim.tv_nsec);
    if (n < 0 || (size_t)n >= length - at) return 0;
    at += (size_t)n;
  }
  return 1;
}

/* A TLS context for c from the options set on it: the cached one when the files are unchanged,
   else a new one of its own (which is then cached). */
static int tls_context(struct connection *c, const char *ca, const char *cert, const char *key) {
  const char *paths[3] = {ca, cert, key};
  char stamp[sizeof(tls_cache_stamp)];
  int cacheable = tls_stamp(paths, stamp, sizeof(stamp));
  int no_new = 0, rc;
  pthread_once(&tls_cache_once, tls_cache_setup);
  pthread_mutex_lock(&tls_cache_lock);
  if (cacheable && tls_cache_ctx && strcmp(stamp, tls_cache_stamp) == 0) {
    rc = ldap_set_option(c->ld, LDAP_OPT_X_TLS_CTX, tls_cache_ctx);
  } else {
    /* A TLS context of this handle's own, so these settings never leak into the host's. */
    rc = ldap_set_option(c->ld, LDAP_OPT_X_TLS_NEWCTX, &no_new);
    void *ctx = NULL;
    if (rc == LDAP_OPT_SUCCESS && cacheable && ldap_get_option(c->ld, LDAP_OPT_X_TLS_CTX, &ctx) == LDAP_OPT_SUCCESS &&
        ctx) {
      if (tls_cache_ctx) ldap_pvt_tls_ctx_free(tls_cache_ctx);
      tls_cache_ctx = ctx; /* the reference ldap_get_option took */
      memcpy(tls_cache_stamp, stamp, sizeof(stamp));
    }
  }
  pthread_mutex_unlock(&tls_cache_lock);
  return rc;
}

static void store_close(void *handle) {
  struct connection *c = handle;
  if (!c) return;
  if (c->ld) ldap_unbind_ext_s(c->ld, NULL, NULL);
  free(c);
}

static void *open_now(const unsigned char *settings, size_t length, char *error,
                      size_t error_length) {
  const char *uri = setting(settings, length, "uri");
  const char *ca = setting(settings, length, "ca");
  const char *cert = setting(settings, length, "cert");
  const char *key = setting(settings, length, "key");
  const char *bind_dn = setting(settings, length, "bind_dn");
  const char *password = setting(settings, length, "password");
  if (!uri) uri = "(no uri)";
  int starttls = strncmp(uri, "ldap://", 7) == 0;
  /* TLS is not optional: secrets and the replay state cross this connection. */
  if (!starttls && strncmp(uri, "ldaps://", 8) != 0) {
    fail(error, error_length, uri, "only ldap:// (with StartTLS) and ldaps:// are allowed", NULL);
    return NULL;
  }
  if (!ca) {
    fail(error, error_length, uri, "no CA certificate (ldap_ca) to check the server with", NULL);
    return NULL;
  }
  struct connection *c = calloc(1, sizeof(*c));
  if (!c) return NULL;
  snprintf(c->uri, sizeof(c->uri), "%s", uri);
  long ms = timeout_of(settings, length);
  c->timeout.tv_sec = ms / 1000;
  c->timeout.tv_usec = (ms % 1000) * 1000;

  int rc = ldap_initialize(&c->ld, uri);
  if (rc != LDAP_SUCCESS) {
    fail(error, error_length, uri, "bad URI", ldap_err2string(rc));
    store_close(c);
    return NULL;
  }
  int version = LDAP_VERSION3, demand = LDAP_OPT_X_TLS_DEMAND;
  ldap_set_option(c->ld, LDAP_OPT_PROTOCOL_VERSION, &version);
  ldap_set_option(c->ld, LDAP_OPT_REFERRALS, LDAP_OPT_OFF);
  ldap_set_option(c->ld, LDAP_OPT_NETWORK_TIMEOUT, &c->timeout);
  ldap_set_option(c->ld, LDAP_OPT_TIMEOUT, &c->timeout);
  ldap_set_option(c->ld, LDAP_OPT_CONNECT_CB, &connect_callback);
  ldap_set_option(c->ld, LDAP_OPT_X_TLS_REQUIRE_CERT, &demand);
  ldap_set_option(c->ld, LDAP_OPT_X_TLS_CACERTFILE, ca);
  if (cert && key) {
    ldap_set_option(c->ld, LDAP_OPT_X_TLS_CERTFILE, cert);
    ldap_set_option(c->ld, LDAP_OPT_X_TLS_KEYFILE, key);
  }
  rc = tls_context(c, ca, cert && key ? cert : NULL, cert && key ? key : NULL);
  if (rc != LDAP_OPT_SUCCESS) {
    fail(error, error_length, uri, "cannot set up TLS (check ldap_ca, ldap_cert, ldap_key)", NULL);
    store_close(c);
    return NULL;
  }
  if (starttls) {
    rc = ldap_start_tls_s(c->ld, NULL, NULL);
    if (rc != LDAP_SUCCESS) {
      fail(error, error_length, uri, "StartTLS failed", ldap_err2string(rc));
      store_close(c);
      return NULL;
    }
  }
  struct berval credentials = {0, NULL};
  if (cert && key) {
    /* SASL EXTERNAL: the client certificate is the identity. An empty (present) initial
       response asks for the identity the certificate maps to. */
    credentials.bv_val = "";
    rc = ldap_sasl_bind_s(c->ld, NULL, "EXTERNAL", &credentials, NULL, NULL, NULL);
  } else if (bind_dn && password) {
    credentials.bv_val = (char *)password;
    credentials.bv_len = strlen(password);
    rc = ldap_sasl_bind_s(c->ld, bind_dn, LDAP_SASL_SIMPLE, &credentials, NULL, NULL, NULL);
  } else {
    fail(error, error_length, uri,
         "no credentials: set ldap_cert and ldap_key, or ldap_bind_dn and ldap_password_file", NULL);
    store_close(c);
    return NULL;
  }
  if (rc != LDAP_SUCCESS) {
    fail(error, error_length, uri, "bind failed", ldap_err2string(rc));
    store_close(c);
    return NULL;
  }
  return c;
}

/* Appends n bytes to a growing buffer; 0 on allocation failure. */
struct buffer {
  unsigned char *data;
  size_t length, capacity;
};

/* At most this much in one answer: a server that never ends a paged search cannot make the
   caller grow without bound. */
#define MAX_ANSWER (256u << 20)

static int put(struct buffer *b, const void *bytes, size_t n) {
  if (n > MAX_ANSWER || b->length + n > MAX_ANSWER) return 0;
  if (b->length + n > b->capacity) {
    size_t capacity = (b->capacity ? b->capacity * 2 : 1024);
    while (capacity < b->length + n) capacity *= 2;
    /* Not realloc: the old block holds secrets (enrollments) and must be wiped, not just freed. */
    unsigned char *grown = malloc(capacity);
    if (!grown) return 0;
    if (b->data) {
      memcpy(grown, b->data, b->length);
      explicit_bzero(b->data, b->capacity);
      free(b->data);
    }
    b->data = grown;
    b->capacity = capacity;
  }
  memcpy(b->data + b->length, bytes, n);
  b->length += n;
  return 1;
}

static int put_u16(struct buffer *b, size_t v) {
  unsigned char x[2] = {(unsigned char)(v >> 8), (unsigned char)v};
  return put(b, x, 2);
}

static int put_u32(struct buffer *b, size_t v) {
  unsigned char x[4] = {(unsigned char)(v >> 24), (unsigned char)(v >> 16), (unsigned char)(v >> 8),
                        (unsigned char)v};
  return put(b, x, 4);
}

static void store_release(unsigned char *data, size_t length) {
  if (!data) return;
  explicit_bzero(data, length);
  free(data);
}

/* One entry's attributes as `namelen(2) name count(4) (len(4) bytes)*`; 0 on allocation failure. */
static int put_entry(LDAP *ld, LDAPMessage *entry, struct buffer *b) {
  int ok = 1;
  BerElement *ber = NULL;
  for (char *name = ldap_first_attribute(ld, entry, &ber); name && ok; name = ldap_next_attribute(ld, entry, ber)) {
    struct berval **values = ldap_get_values_len(ld, entry, name);
    size_t count = values ? (size_t)ldap_count_values_len(values) : 0;
    ok = put_u16(b, strlen(name)) && put(b, name, strlen(name)) && put_u32(b, count);
    for (size_t i = 0; ok && i < count; i++)
      ok = put_u32(b, values[i]->bv_len) && put(b, values[i]->bv_val, values[i]->bv_len);
    ldap_value_free_len(values);
    ldap_memfree(name);
  }
  if (ber) ber_free(ber, 0);
  return ok;
}

static int store_read(void *handle, const char *dn, unsigned char **out, size_t *out_length,
                      char *error, size_t error_length) {
  struct connection *c = handle;
  *out = NULL;
  *out_length = 0;
  LDAPMessage *result = NULL;
  char *all[] = {"*", NULL};
  int rc = ldap_search_ext_s(c->ld, dn, LDAP_SCOPE_BASE, "(objectClass=*)", all, 0, NULL, NULL,
                             &c->timeout, 1, &result);
  if (rc == LDAP_NO_SUCH_OBJECT) {
    ldap_msgfree(result);
    return MFA_STORE_NO_ENTRY;
  }
  if (rc != LDAP_SUCCESS) {
    ldap_msgfree(result);
    fail(error, error_length, c->uri, "search failed", ldap_err2string(rc));
    return MFA_STORE_ERROR;
  }
  LDAPMessage *entry = ldap_first_entry(c->ld, result);
  if (!entry) {
    ldap_msgfree(result);
    return MFA_STORE_NO_ENTRY;
  }
  struct buffer b = {0};
  int ok = put_entry(c->ld, entry, &b);
  ldap_msgfree(result);
  if (!ok) {
    store_release(b.data, b.capacity);
    fail(error, error_length, c->uri, "answer too large (over 256 MiB) or out of memory", NULL);
    return MFA_STORE_ERROR;
  }
  *out = b.data;
  *out_length = b.length;
  return MFA_STORE_DONE;
}

/* One page of a paged one-level search (RFC 2696), appended to b; the next page's cookie is
   left in *cookie (empty when this was the last). */
static int list_page(struct connection *c, const char *base, const char *filter, struct berval *cookie,
                     struct buffer *b, char *error, size_t error_length) {
  LDAPControl *page = NULL, *controls[2] = {NULL, NULL};
  int rc = ldap_create_page_control(c->ld, 500, cookie, 0, &page);
  if (rc != LDAP_SUCCESS) {
    fail(error, error_length, c->uri, "cannot build the paged-results control", ldap_err2string(rc));
    return MFA_STORE_ERROR;
  }
  controls[0] = page;
  LDAPMessage *result = NULL;
  char *all[] = {"*", NULL};
  rc = ldap_search_ext_s(c->ld, base, LDAP_SCOPE_ONELEVEL, filter, all, 0, controls, NULL, &c->timeout, 0, &result);
  ldap_control_free(page);
  if (rc != LDAP_SUCCESS) {
    ldap_msgfree(result);
    fail(error, error_length, c->uri, "search failed", ldap_err2string(rc));
    return rc == LDAP_NO_SUCH_OBJECT ? MFA_STORE_NO_ENTRY : MFA_STORE_ERROR;
  }
  int ok = 1;
  for (LDAPMessage *entry = ldap_first_entry(c->ld, result); entry && ok; entry = ldap_next_entry(c->ld, entry)) {
    char *dn = ldap_get_dn(c->ld, entry);
    size_t at;
    ok = dn && put_u32(b, strlen(dn)) && put(b, dn, strlen(dn));
    at = b->length;
    ok = ok && put_u32(b, 0) && put_entry(c->ld, entry, b);
    if (ok) {
      size_t n = b->length - at - 4;
      unsigned char x[4] = {(unsigned char)(n >> 24), (unsigned char)(n >> 16), (unsigned char)(n >> 8), (unsigned char)n};
      memcpy(b->data + at, x, 4);
    }
    ldap_memfree(dn);
  }
  ber_memfree(cookie->bv_val);
  cookie->bv_val = NULL;
  cookie->bv_len = 0;
  LDAPControl **returned = NULL;
  int code = 0;
  if (ok && ldap_parse_result(c->ld, result, &code, NULL, NULL, NULL, &returned, 0) == LDAP_SUCCESS && returned) {
    LDAPControl *response = ldap_control_find(LDAP_CONTROL_PAGEDRESULTS, returned, NULL);
    ber_int_t estimate = 0;
    if (response) ldap_parse_pageresponse_control(c->ld, response, &estimate, cookie);
    ldap_controls_free(returned);
  }
  ldap_msgfree(result);
  if (!ok) {
    fail(error, error_length, c->uri, "answer too large (over 256 MiB) or out of memory", NULL);
    return MFA_STORE_ERROR;
  }
  if (code != LDAP_SUCCESS) {
    fail(error, error_length, c->uri, "search failed", ldap_err2string(code));
    return MFA_STORE_ERROR;
  }
  return MFA_STORE_DONE;
}

static int store_list(void *handle, const char *base, const char *filter, unsigned char **out,
                      size_t *out_length, char *error, size_t error_length) {
  struct connection *c = handle;
  *out = NULL;
  *out_length = 0;
  struct buffer b = {0};
  struct berval cookie = {0, NULL};
  int status;
  do {
    status = list_page(c, base, filter, &cookie, &b, error, error_length);
  } while (status == MFA_STORE_DONE && cookie.bv_len > 0);
  ber_memfree(cookie.bv_val);
  if (status != MFA_STORE_DONE) {
    store_release(b.data, b.capacity);
    return status;
  }
  *out = b.data;
  *out_length = b.length;
  return MFA_STORE_DONE;
}

static uint32_t get_u32(const unsigned char *p) {
  return ((uint32_t)p[0] << 24) | ((uint32_t)p[1] << 16) | ((uint32_t)p[2] << 8) | p[3];
}

static void free_mods(LDAPMod **mods) {
  if (!mods) return;
  for (LDAPMod **m = mods; *m; m++) {
    free((*m)->mod_type);
    if ((*m)->mod_bvalues) {
      for (struct berval **v = (*m)->mod_bvalues; *v; v++) free(*v);
      free((*m)->mod_bvalues);
    }
    free(*m);
  }
  free(mods);
}

/* Changes from the flat buffer into LDAPMod structures (values point into the buffer). */
static LDAPMod **parse_mods(const unsigned char *p, size_t length) {
  size_t capacity = 16, count = 0;
  LDAPMod **mods = calloc(capacity + 1, sizeof(*mods));
  if (!mods) return NULL;
  const unsigned char *end = p + length;
  while (p < end) {
    if (end - p < 3 || count == capacity) goto bad;
    int op = p[0];
    size_t name_length = ((size_t)p[1] << 8) | p[2];
    p += 3;
    if ((size_t)(end - p) < name_length + 4 || op > 2) goto bad;
    LDAPMod *mod = calloc(1, sizeof(*mod));
    if (!mod) goto bad;
    mods[count++] = mod;
    mod->mod_op = LDAP_MOD_BVALUES | (op == 0 ? LDAP_MOD_ADD : op == 1 ? LDAP_MOD_DELETE : LDAP_MOD_REPLACE);
    mod->mod_type = strndup((const char *)p, name_length);
    p += name_length;
    uint32_t values = get_u32(p);
    p += 4;
    if (!mod->mod_type || values > 4096) goto bad;
    mod->mod_bvalues = calloc(values + 1, sizeof(struct berval *));
    if (!mod->mod_bvalues) goto bad;
    for (uint32_t i = 0; i < values; i++) {
      if (end - p < 4) goto bad;
      uint32_t n = get_u32(p);
      p += 4;
      if ((size_t)(end - p) < n) goto bad;
      struct berval *v = malloc(sizeof(*v));
      if (!v) goto bad;
      v->bv_len = n;
      v->bv_val = (char *)p;
      mod->mod_bvalues[i] = v;
      p += n;
    }
  }
  return mods;
bad:
  free_mods(mods);
  return NULL;
}

static int store_modify(void *handle, const char *dn, const unsigned char *changes, size_t length,
                        char *error, size_t error_length) {
  struct connection *c = handle;
  LDAPMod **mods = parse_mods(changes, length);
  if (!mods) {
    fail(error, error_length, c->uri, "malformed change list", NULL);
    return MFA_STORE_ERROR;
  }
  int rc = ldap_modify_ext_s(c->ld, dn, mods, NULL, NULL);
  free_mods(mods);
  switch (rc) {
  case LDAP_SUCCESS: return MFA_STORE_DONE;
  case LDAP_NO_SUCH_ATTRIBUTE:
  case LDAP_TYPE_OR_VALUE_EXISTS: return MFA_STORE_CONFLICT;
  case LDAP_NO_SUCH_OBJECT: return MFA_STORE_NO_ENTRY;
  /* Answers that mean "not done" (389-ds gives them for an entry it gave up waiting for). Not
     the others: a notice of disconnection (unavailable) or a proxy that gave up on its server
     (adminLimitExceeded, other) may come after the change was applied. */
  case LDAP_INSUFFICIENT_ACCESS:
  case LDAP_BUSY: fail(error, error_length, c->uri, "modify failed", ldap_err2string(rc)); return MFA_STORE_REFUSED;
  default: fail(error, error_length, c->uri, "modify failed", ldap_err2string(rc)); return MFA_STORE_ERROR;
  }
}

static int store_add(void *handle, const char *dn, const unsigned char *attributes, size_t length,
                     char *error, size_t error_length) {
  struct connection *c = handle;
  LDAPMod **mods = parse_mods(attributes, length);
  if (!mods) {
    fail(error, error_length, c->uri, "malformed attribute list", NULL);
    return MFA_STORE_ERROR;
  }
  for (LDAPMod **m = mods; *m; m++) (*m)->mod_op = LDAP_MOD_BVALUES | LDAP_MOD_ADD;
  int rc = ldap_add_ext_s(c->ld, dn, mods, NULL, NULL);
  free_mods(mods);
  if (rc == LDAP_SUCCESS) return MFA_STORE_DONE;
  if (rc == LDAP_ALREADY_EXISTS) return MFA_STORE_CONFLICT;
  fail(error, error_length, c->uri, "add failed", ldap_err2string(rc));
  return MFA_STORE_ERROR;
}

/* libldap does the ldaps:// TLS handshake blocking, with no timeout of its own (a server that
   accepted the TCP connection and then hangs holds it forever). So the connection is made on a
   worker thread and the login waits at most the timeout for it; a worker that is given up on
   cleans up after itself whenever it ends. */
struct opening {
  pthread_mutex_t lock;
  pthread_cond_t done_signal;
  int done, abandoned;
  unsigned char *settings;
  size_t length;
  void *result;
  char error[512];
};

static void opening_free(struct opening *o) {
  explicit_bzero(o->settings, o->length);
  free(o->settings);
  pthread_cond_destroy(&o->done_signal);
  pthread_mutex_destroy(&o->lock);
  free(o);
}

static void *opening_run(void *argument) {
  struct opening *o = argument;
  void *result = open_now(o->settings, o->length, o->error, sizeof(o->error));
  pthread_mutex_lock(&o->lock);
  int abandoned = o->abandoned;
  o->result = result;
  o->done = 1;
  pthread_cond_signal(&o->done_signal);
  pthread_mutex_unlock(&o->lock);
  if (abandoned) {
    store_close(result);
    opening_free(o);
  }
  return NULL;
}

static void *store_open(const unsigned char *settings, size_t length, char *error,
                        size_t error_length) {
  const char *uri = setting(settings, length, "uri");
  long ms = timeout_of(settings, length);
  struct opening *o = calloc(1, sizeof(*o));
  if (!o || !(o->settings = malloc(length ? length : 1))) {
    free(o);
    fail(error, error_length, uri ? uri : "(no uri)", "out of memory", NULL);
    return NULL;
  }
  memcpy(o->settings, settings, length);
  o->length = length;
  pthread_condattr_t attributes;
  pthread_condattr_init(&attributes);
  pthread_condattr_setclock(&attributes, CLOCK_MONOTONIC);
  pthread_cond_init(&o->done_signal, &attributes);
  pthread_condattr_destroy(&attributes);
  pthread_mutex_init(&o->lock, NULL);
  pthread_t worker;
  if (pthread_create(&worker, NULL, opening_run, o) != 0) {
    opening_free(o);
    fail(error, error_length, uri ? uri : "(no uri)", "cannot start a thread", NULL);
    return NULL;
  }
  pthread_detach(worker);
  struct timespec deadline;
  clock_gettime(CLOCK_MONOTONIC, &deadline);
  deadline.tv_sec += ms / 1000;
  deadline.tv_nsec += (ms % 1000) * 1000000L;
  if (deadline.tv_nsec >= 1000000000L) {
    deadline.tv_sec += 1;
    deadline.tv_nsec -= 1000000000L;
  }
  pthread_mutex_lock(&o->lock);
  while (!o->done) {
    if (pthread_cond_timedwait(&o->done_signal, &o->lock, &deadline) == ETIMEDOUT) break;
  }
  if (!o->done) {
    o->abandoned = 1;
    pthread_mutex_unlock(&o->lock);
    fail(error, error_length, uri ? uri : "(no uri)", "no answer within ldap_timeout", NULL);
    return NULL;
  }
  pthread_mutex_unlock(&o->lock);
  void *result = o->result;
  if (!result && error_length) snprintf(error, error_length, "%s", o->error);
  opening_free(o);
  return result;
}

__attribute__((visibility("default"))) const struct mfa_store_plugin mfa_store_plugin_v2 = {
    MFA_STORE_PLUGIN_ABI, store_open, store_read, store_modify, store_add, store_release, store_close, store_list,
};
