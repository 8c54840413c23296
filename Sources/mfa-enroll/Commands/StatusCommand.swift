import ArgumentParser
import Glibc
import MFACore

/// `mfa-enroll status`: what is set up for the user, never a secret.
struct Status: CLICommand {
  static let configuration = CommandConfiguration(
    abstract: UserText("Show whether you are enrolled, how, how many backup codes are left, and the last login.").string
  )

  @ParentCommand var root: MFAEnroll

  @OptionGroup var storeOptions: StoreOptions

  @Flag(
    help: ArgumentHelp(
      UserText(
        "Every user with an enrollment, one line each (root only; with store=ldap, every entry under ldap_base)."
      ).string))
  var all = false

  @Flag(help: ArgumentHelp(UserText("With --all: JSON for scripts.").string))
  var json = false

  func validate() throws {
    if json && !all { throw ValidationError(UserText("--json goes with --all").string) }
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
    field(UserText("User:"), .verbatim(target.account.name))
    let place = store.location.place
    if store.location.kind == .directory {
      field(UserText("Store:"), .verbatim(place))
    } else if store.location.kind == .rootFile {
      field(UserText("Secret file:"), UserText("%s (root-owned store)", .verbatim(place)))
    } else {
      field(UserText("Secret file:"), .verbatim(place))
    }
    let enrollment: Enrollment
    do throws(FileError) {
      enrollment = try store.readEnrollment()
    } catch .notFound {
      field(UserText("Enrolled:"), UserText("no (run mfa-enroll to set up)"))
      // A lockout outlives the enrollment (failures are kept apart from the secret file).
      showState(target: target, store: store, enrollment: nil)
      return
    } catch {
      throw CLIError(UserText("cannot read %s: %s", .verbatim(store.location.place), .verbatim(error.description)))
    }
    field(UserText("Enrolled:"), UserText("yes"))
    for authenticator in enrollment.authenticators {
      if authenticator.kind == .hotp {
        field(
          UserText("Authenticator:"),
          .plural(
            "%s: counter-based (HOTP), %s, %d digit", "%s: counter-based (HOTP), %s, %d digits",
            count: Int64(authenticator.digits), .verbatim(authenticator.name.text),
            .verbatim(authenticator.algorithm.name)))
      } else {
        field(
          UserText("Authenticator:"),
          .plural(
            "%s: time-based (TOTP), %s, %d digit, every %s s", "%s: time-based (TOTP), %s, %d digits, every %s s",
            count: Int64(authenticator.digits), .verbatim(authenticator.name.text),
            .verbatim(authenticator.algorithm.name), .verbatim(String(authenticator.period))))
      }
    }
    let left = enrollment.backupCodes.count
    field(
      UserText("Backup codes:"),
      left <= 2
        ? .plural(
          "%d left (make new ones: mfa-enroll backup-codes)", "%d left (make new ones: mfa-enroll backup-codes)",
          count: Int64(left))
        : .plural("%d left", "%d left", count: Int64(left)))
    showState(target: target, store: store, enrollment: enrollment)
  }

  /// Last login, lockout and learned clock offsets, from the root-only state.
  func showState(target: Target, store: any CredentialStore, enrollment: Enrollment?) {
    if geteuid() == 0 {
      do throws(FileError) {
        let state: UserState
        state = try store.readState()
        field(
          UserText("Last login:"),
          state.lastSuccess > 0 ? .verbatim(formatTime(state.lastSuccess)) : UserText("none recorded"))
        let now = Int64(time(nil))
        if state.isLocked(at: now) {
          field(
            UserText("Locked:"),
            UserText(
              "yes, for another %s s (mfa-enroll --user NAME --unlock)",
              .verbatim(String(state.failure.lockedUntil - now))))
        } else if state.failure.failures > 0 {
          field(
            UserText("Locked:"),
            .plural(
              "no (%d recent failed code(s))", "no (%d recent failed code(s))", count: Int64(state.failure.failures)))
        } else {
          field(UserText("Locked:"), UserText("no"))
        }
        for line in ClockOffsets.lines(state.drift, enrollment: enrollment, now: now) {
          field(UserText("Clock offset:"), line)
        }
      } catch {
        field(UserText("Last login:"), UserText("unknown (state: %s)", .verbatim(error.description)))
      }
    } else {
      field(UserText("Last login:"), UserText("recorded in root-only state (ask your administrator)"))
    }
  }

  /// Every label `show` may print: the values start in one column after the longest.
  static let labels = [
    UserText("User:"), UserText("Store:"), UserText("Secret file:"), UserText("Enrolled:"),
    UserText("Authenticator:"), UserText("Backup codes:"), UserText("Last login:"), UserText("Locked:"),
    UserText("Clock offset:"),
  ]
  static let labelWidth = labels.map { $0.string.count }.max() ?? 0

  /// "Label:  value", the value in the column after the longest label.
  func field(_ label: UserText, _ value: UserText) {
    let name = label.string
    let padding = String(repeating: " ", count: max(1, Status.labelWidth + 1 - name.count))
    Terminal.showLine(Array((name + padding).utf8) + value.rendered())
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
