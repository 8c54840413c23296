import ArgumentParser
import Glibc

/// A failure the user can act on: printed as one line "mfa-enroll: ..." and exit status 1.
struct CLIError: Error, CustomStringConvertible {
  let description: String

  init(_ description: String) {
    self.description = description
  }

  /// Runs a command body; a CLIError becomes its one-line message and exit status 1.
  static func reporting(_ body: () throws(CLIError) -> Void) throws {
    do throws(CLIError) {
      try body()
    } catch {
      if !error.description.isEmpty { Terminal.printError("mfa-enroll: " + error.description) }
      throw ExitCode.failure
    }
  }
}
