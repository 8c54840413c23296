import Glibc
import MFACore

/// Codes typed at the terminal before anything is changed, checked by the core's one routine
/// (FirstCode: three tries, the right code never shown).
enum CodeConfirmation {
  /// A code `accepting` takes, asked with `question`; `retry(left)` after each wrong one.
  /// Failing, nothing is changed: `failure` says so.
  static func ask(
    _ question: UserText, for enrollment: Enrollment, accepting: FirstCode.Accepting, failure: UserText,
    retry: (_ left: Int) -> Void
  ) throws(CLIError) -> FirstCode.Match {
    do throws(FirstCode.Failure) {
      return try FirstCode.ask(
        for: enrollment, accepting: accepting, now: { Int64(time(nil)) }, prompt: { Terminal.askBytes(question) },
        retry: retry)
    } catch .noAnswer {
      throw CLIError(UserText("no code was entered; %s", .text(failure)))
    } catch {
      throw CLIError(
        .plural(
          "no correct code after %d try; %s", "no correct code after %d tries; %s", count: Int64(FirstCode.tries),
          .text(failure)))
    }
  }

  /// A current code from the user's app or token: proof that it and this machine agree.
  /// Returns the enrollment with the confirming code spent (its step recorded, or the token's
  /// counter moved past it), so that the module never accepts that code for a login.
  static func ask(for enrollment: Enrollment, failure: UserText) throws(CLIError) -> Enrollment {
    let digits = enrollment.authenticators.first?.digits ?? 6
    let match = try ask(
      .plural(
        "Enter the %d-digit code from your app: ", "Enter the %d-digit code from your app: ", count: Int64(digits)),
      for: enrollment,
      accepting: FirstCode.Accepting(window: 1, hotpLookAhead: 10), failure: failure
    ) { left in
      Terminal.show(
        .plural(
          "That code is not right; %d try left. Check the app's clock and account.",
          "That code is not right; %d tries left. Check the app's clock and account.", count: Int64(left)))
    }
    var confirmed = enrollment
    confirmed.spend(match)
    return confirmed
  }
}
