import Glibc
import MFACore

/// Admin actions (unlock, enrolling another user) go to syslog authpriv, like the module's lines,
/// naming who did it. Never a secret.
enum AuditLog {
  static func record(_ message: String) {
    let actor = LocalAccount.lookup(uid: getuid())?.name ?? "uid \(getuid())"
    openlog("mfa-enroll", LOG_PID, LOG_AUTHPRIV)
    let line = LogText.escaped("by=\(actor): \(message)")
    line.withCString { text in
      withVaList([text]) { arguments in vsyslog(LOG_NOTICE, "%s", arguments) }
    }
    closelog()
  }
}
