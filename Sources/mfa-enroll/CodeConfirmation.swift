import Glibc
import MFACore

/// Codes typed at the terminal before anything is changed, checked by the core's one routine
/// (FirstCode: three tries, the right code never shown).
enum CodeConfirmation {
  /// A code `accepting` takes, asked with `question`; `retry(left)` after each wrong one.
  /// Failing, nothing is changed: `failure` says so.
  static func ask(
    _ question: String, for enrollment: Enrollment, accepting: FirstCode.Accepting, failure: String,
    retry: (_ left: Int) -> Void
  ) throws(CLIError) -> FirstCode.Match {
    do throws(FirstCode.Failure) {
      return try FirstCode.ask(
        for: enrollment, accepting: accepting, now: { Int64(time(nil)) }, prompt: { Terminal.askBytes(question) },
        retry: retry)
    } catch .noAnswer {
      throw CLIError("no code was entered; \(failure)")
    } catch {
      throw CLIError("no correct code after \(FirstCode.tries) tries; \(failure)")
    }
  }

  /// A current code from the user's app or token: proof that it and this machine agree.
  /// Returns the enrollment with the confirming code spent (its step recorded, or the token's
  /// counter moved past it), so that the module never accepts that code for a login.
  static func ask(for enrollment: Enrollment, failure: String) throws(CLIError) -> Enrollment {
    let digits = enrollment.authenticators.first?.digits ?? 6
    let match = try ask(
      "Enter the \(digits)-digit code from your app: ", for: enrollment,
      accepting: FirstCode.Accepting(window: 1, hotpLookAhead: 10), failure: failure
    ) { left in
      print("That code is not right; \(left) \(left == 1 ? "try" : "tries") left. Check the app's clock and account.")
    }
    var confirmed = enrollment
    confirmed.spend(match)
    return confirmed
  }
}
