import Glibc
import MFACore

/// Asks for a current code from the user's app: proof that the app and this machine agree
/// before anything is changed. Up to three tries; the right code is never shown.
enum CodeConfirmation {
  static let maxTries = 3

  /// Returns the enrollment with the confirming step recorded on the matching authenticator,
  /// so that the module never accepts that code for a login.
  static func ask(for enrollment: Enrollment, failure: String) throws(CLIError) -> Enrollment {
    let digits = enrollment.authenticators.first?.digits ?? 6
    for attempt in 1...maxTries {
      guard let answer = Terminal.ask("Enter the \(digits)-digit code from your app: ") else {
        throw CLIError("no code was entered; \(failure)")
      }
      var typed = Array(answer.utf8)
      defer { typed.wipe() }
      if var code = try? CodeInput.digits(typed) {
        defer { code.wipe() }
        let matches = TOTPVerifier.matches(code: code, enrollment: enrollment, time: Int64(time(nil)), window: 1)
        if let match = matches.first {
          var confirmed = enrollment
          let previous = confirmed.authenticators[match.authenticator].confirmedStep ?? match.step
          confirmed.authenticators[match.authenticator].confirmedStep = max(previous, match.step)
          return confirmed
        }
        // An HOTP token: any of its next presses; the file's counter moves past it.
        if let match = HOTPVerifier.match(code: code, enrollment: enrollment, lookAhead: 10, next: { _ in 0 }) {
          var confirmed = enrollment
          confirmed.authenticators[match.authenticator].counter = match.counter + 1
          return confirmed
        }
      }
      let left = maxTries - attempt
      if left > 0 {
        print("That code is not right; \(left) \(left == 1 ? "try" : "tries") left. Check the app's clock and account.")
      }
    }
    throw CLIError("no correct code after \(maxTries) tries; \(failure)")
  }
}
