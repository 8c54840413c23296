import ArgumentParser
import Glibc
import MFACore

/// `mfa-enroll --user NAME unlock`, or `--unlock` anywhere on the command line: root clears a
/// lockout.
struct Unlock: CLICommand {
  static let configuration = CommandConfiguration(
    abstract: "Clear a user's failed-code count and lockout (root only; also --unlock).")

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
      throw CLIError("\(spelling) cannot be combined with '\(other)'; run 'mfa-enroll --user NAME \(spelling)'")
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
        throw CLIError("cannot update \(store.location): \(error.description)")
      }
    } else {
      do throws(FileError) {
        before = try target.stateStore.update(user: name) { state in
          let old = state
          state.clearFailures()
          return old
        }
      } catch {
        throw CLIError("cannot update the state in \(target.options.stateDirectory): \(error.description)")
      }
    }
    AuditLog.record(
      "unlock user=\(target.account.name) failures=\(before.failure.failures) locked=\(before.isLocked(at: now))")
    if before.isLocked(at: now) {
      print("Unlocked \(target.account.name) (was locked for another \(before.failure.lockedUntil - now) s).")
    } else if before.failure.failures > 0 {
      print("Cleared \(before.failure.failures) recent failed code(s) of \(target.account.name); it was not locked.")
    } else {
      print("\(target.account.name) was not locked; nothing to clear.")
    }
  }
}
