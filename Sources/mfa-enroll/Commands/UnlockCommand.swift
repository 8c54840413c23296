import ArgumentParser
import Glibc
import MFACore

/// `mfa-enroll --user NAME unlock`, or `--unlock` anywhere on the command line: root clears a
/// lockout.
struct Unlock: CLICommand {
  static let configuration = CommandConfiguration(
    abstract: UserText("Clear a user's failed-code count and lockout (root only; also --unlock).").string)

  @ParentCommand var root: MFAEnroll

  /// Whatever else the command line names (`--unlock status`): refused, never silently ignored.
  @Argument(help: .hidden) var others: [String] = []

  /// `--unlock` is this command by another name: the arguments with it as the command, the
  /// options around it left to the root command (nothing after `--` is an option).
  static func spelledAsCommand(_ arguments: [String]) -> [String] {
    let end = arguments.firstIndex(of: "--") ?? arguments.endIndex
    guard arguments[..<end].contains("--unlock") else { return arguments }
    return ["unlock"] + arguments[..<end].filter { $0 != "--unlock" } + arguments[end...]
  }

  func perform() throws(CLIError) {
    if let other = others.first {
      let spelling = CommandLine.arguments.contains("--unlock") ? "--unlock" : "unlock"
      throw CLIError(
        UserText(
          "%s cannot be combined with '%s'; run 'mfa-enroll --user NAME %s'", .verbatim(spelling), .verbatim(other),
          .verbatim(spelling)))
    }
    let target = try Target.resolve(root.global, requireRoot: true)
    let name = Array(target.account.name.utf8)
    let now = Int64(time(nil))
    let before: UserState
    if target.options.store == .ldap {
      // The lockout is the fleet's: clearing it in the directory unlocks every host at once.
      let store = try target.directoryStore(for: target.account.name)
      do throws(FileError) {
        before = try store.readState()
        try store.reset(success: nil)
      } catch {
        throw CLIError(
          UserText("cannot update %s: %s", .verbatim(String(describing: store.location)), .verbatim(error.description)))
      }
    } else {
      do throws(FileError) {
        before = try target.stateStore.update(user: name) { state in
          let old = state
          state.clearFailures()
          return old
        }
      } catch {
        throw CLIError(
          UserText(
            "cannot update the state in %s: %s", .verbatim(target.options.stateDirectory), .verbatim(error.description))
        )
      }
    }
    AuditLog.record(
      "unlock user=\(target.account.name) failures=\(before.failure.failures) locked=\(before.isLocked(at: now))")
    let who = UserText.Value.verbatim(target.account.name)
    if before.isLocked(at: now) {
      Terminal.show(
        UserText(
          "Unlocked %s (was locked for another %s s).", who, .verbatim(String(before.failure.lockedUntil - now))))
    } else if before.failure.failures > 0 {
      Terminal.show(
        .plural(
          "Cleared %d recent failed code(s) of %s; it was not locked.",
          "Cleared %d recent failed code(s) of %s; it was not locked.", count: Int64(before.failure.failures), who))
    } else {
      Terminal.show(UserText("%s was not locked; nothing to clear.", who))
    }
  }
}
