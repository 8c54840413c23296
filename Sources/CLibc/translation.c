#include "CLibc.h"

#include <libintl.h>
#include <pthread.h>

/* Where `make install` (PREFIX) or the package put the catalogs (make writes the header);
 * compiled in, never taken from the environment: the module runs inside sudo and su. */
#if __has_include("mfa_localedir.h")
#include "mfa_localedir.h"
#else
#define MFA_LOCALEDIR "/usr/share/locale"
#endif

static pthread_once_t bound = PTHREAD_ONCE_INIT;

static void bind_domain(void) { bindtextdomain(MFA_TEXT_DOMAIN, MFA_LOCALEDIR); }

const char *mfa_translate(const char *msgid) {
  pthread_once(&bound, bind_domain);
  return dgettext(MFA_TEXT_DOMAIN, msgid);
}

const char *mfa_translate_plural(const char *singular, const char *plural, unsigned long count) {
  pthread_once(&bound, bind_domain);
  return dngettext(MFA_TEXT_DOMAIN, singular, plural, count);
}
