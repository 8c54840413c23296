import ArgumentParser
import Glibc
import MFACore

/// `mfa-enroll status`: what is set up for the user, never a secret.
struct Status: CLICommand {
  static let configuration = CommandConfiguration(
    abstract: "Show whether you are enrolled, how, how many backup codes are left, and the last login.")

  @ParentCommand var root: MFAEnroll

  @OptionGroup var storeOptions: StoreOptions

  @Flag(help: "Every user with an enrollment, one line each (root only; with store=ldap, every entry under ldap_base).")
  var all = false

  @Flag(help: "With --all: JSON for scripts.")
  var json = false

  func validate() throws {
    if json && !all { throw ValidationError("--json goes with --all") }
  }

  func perform() throws(CLIError) {
    if all {
      try StatusReport.all(root.global, json: json)
    } else {
      try show()
    }
  }

  func show() throws(CLIError) {
    let target = try Target.resolve(root.global)
    let store = try target.secretStore(override: storeOptions.secretFile)
    print("User:          \(target.account.name)")
    if store.location.kind == .directory {
      print("Store:         \(store.location.place)")
    } else {
      print("Secret file:   \(store.location.place)\(store.location.kind == .rootFile ? " (root-owned store)" : "")")
    }
    let enrollment: Enrollment
    do throws(FileError) {
      enrollment = try store.readEnrollment()
    } catch .notFound {
      print("Enrolled:      no (run mfa-enroll to set up)")
      // A lockout outlives the enrollment (failures are kept apart from the secret file).
      showState(target: target, store: store, enrollment: nil)
      return
    } catch {
      throw CLIError("cannot read \(store.location.place): \(error.description)")
    }
    print("Enrolled:      yes")
    for authenticator in enrollment.authenticators {
      if authenticator.kind == .hotp {
        print(
          "Authenticator: \(authenticator.name.text): counter-based (HOTP), \(authenticator.algorithm.name), "
            + "\(authenticator.digits) digits")
      } else {
        print(
          "Authenticator: \(authenticator.name.text): time-based (TOTP), \(authenticator.algorithm.name), "
            + "\(authenticator.digits) digits, every \(authenticator.period) s")
      }
    }
    let left = enrollment.backupCodes.count
    print("Backup codes:  \(left) left\(left <= 2 ? " (make new ones: mfa-enroll backup-codes)" : "")")
    showState(target: target, store: store, enrollment: enrollment)
  }

  /// Last login, lockout and learned clock offsets, from the root-only state.
  func showState(target: Target, store: any CredentialStore, enrollment: Enrollment?) {
    if geteuid() == 0 {
      do throws(FileError) {
        let state: UserState
        state = try store.readState()
        print("Last login:    \(state.lastSuccess > 0 ? formatTime(state.lastSuccess) : "none recorded")")
        let now = Int64(time(nil))
        if state.isLocked(at: now) {
          print(
            "Locked:        yes, for another \(state.failure.lockedUntil - now) s (mfa-enroll --user NAME --unlock)")
        } else if state.failure.failures > 0 {
          print("Locked:        no (\(state.failure.failures) recent failed code(s))")
        } else {
          print("Locked:        no")
        }
        for line in ClockOffsets.lines(state.drift, enrollment: enrollment, now: now) {
          print("Clock offset:  " + line)
        }
      } catch {
        print("Last login:    unknown (state: \(error.description))")
      }
    } else {
      print("Last login:    recorded in root-only state (ask your administrator)")
    }
  }
}

/// "2026-11-27 04:31:07 UTC": the state's epoch seconds for people.
func formatTime(_ seconds: Int64) -> String {
  var value = time_t(seconds)
  var parts = tm()
  guard gmtime_r(&value, &parts) != nil else { return String(seconds) }
  var buffer = [CChar](repeating: 0, count: 64)
  let length = strftime(&buffer, buffer.count, "%Y-%m-%d %H:%M:%S UTC", &parts)
  return buffer.withUnsafeBufferPointer { String(decoding: $0[..<length].map { UInt8(bitPattern: $0) }, as: UTF8.self) }
}
