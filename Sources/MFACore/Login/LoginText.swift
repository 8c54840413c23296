/// What a login says to the person at the prompt, and how long it pauses after a failure.
public enum LoginText {
  public static let prompt = UserText("Verification code: ")
  public static let combinedPrompt = UserText("Password and verification code: ")
  public static let enrollmentPrompt = UserText("Code from your app: ")
  public static let wrongCode = UserText("Wrong code.")
  public static let notACode = UserText("That is not a code: type the digits of a code, or a backup code.")
  public static let replay = UserText("That code was already used: wait for a new one.")
  /// The pause after a failed attempt (pam_fail_delay; mfa_chkcode sleeps it itself).
  public static let failureDelayMicroseconds: UInt32 = 2_000_000

  /// "45 seconds", "5 minutes", "2 hours": rounded up so the user never comes back too early.
  public static func describe(seconds: Int64) -> UserText {
    if seconds < 60 { return .plural("%d second", "%d seconds", count: seconds) }
    if seconds < 2 * 3600 { return .plural("%d minute", "%d minutes", count: (seconds + 59) / 60) }
    return .plural("%d hour", "%d hours", count: (seconds + 3599) / 3600)
  }

  static func lockedOut(for seconds: Int64) -> UserText {
    UserText("Too many wrong codes. Try again in %s.", .text(describe(seconds: seconds)))
  }

  /// The code prompt: the admin's `prompt=` as written, or ours, translated.
  static func prompt(_ options: ModuleOptions) -> UserText { options.prompt.map { UserText.verbatim($0) } ?? prompt }

  /// The one-prompt modes' prompt: `combined_prompt=` as written, or ours, translated.
  static func combinedPrompt(_ options: ModuleOptions) -> UserText {
    options.combinedPrompt.map { UserText.verbatim($0) } ?? combinedPrompt
  }

  /// Whom the user is told to contact: the admin's `contact=` as written, or ours, translated.
  static func contact(_ options: ModuleOptions) -> UserText.Value {
    guard let contact = options.contact else {
      // TRANSLATORS: fills "Contact %s." and "To set it up, contact %s."
      return .text(UserText("your system administrator"))
    }
    return .verbatim(contact)
  }
}
