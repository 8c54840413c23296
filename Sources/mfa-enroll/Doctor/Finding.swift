import Glibc
import MFACore

/// One result of `mfa-enroll doctor`: what was checked, and for a problem, the line to change.
struct Finding {
  enum Level: String {
    case ok = "ok"
    case warning = "WARN"
    case failure = "FAIL"
  }

  let level: Level
  let message: String
  var fix: String? = nil
}
