import Glibc
import MFACore

/// One result of `mfa-enroll doctor`: what was checked, and for a problem, the line to change.
struct Finding {
  /// The markers stay as they are in every language: scripts grep them.
  enum Level: String {
    case ok = "ok"
    case warning = "WARN"
    case failure = "FAIL"
  }

  let level: Level
  let message: UserText
  var fix: UserText? = nil

  init(level: Level, message: UserText, fix: UserText? = nil) {
    self.level = level
    self.message = message
    self.fix = fix
  }
}
