import ArgumentParser
import Glibc
import MFACore

/// A failure the user can act on: printed as one line "mfa-enroll: ..." (in the user's
/// language) and exit status 1.
struct CLIError: Error, CustomStringConvertible {
  let message: UserText?

  init(_ message: UserText) {
    self.message = message
  }

  private init() { message = nil }

  /// Exit status 1 with nothing more to say (the command has said it).
  static let silent = CLIError()

  var description: String { message?.string ?? "" }

  /// Runs a command body; a CLIError becomes its one-line message and exit status 1.
  static func reporting(_ body: () throws(CLIError) -> Void) throws {
    do throws(CLIError) {
      try body()
    } catch {
      if let message = error.message { Terminal.showError(UserText("mfa-enroll: %s", .text(message))) }
      throw ExitCode.failure
    }
  }
}
