/// What a login says to the person at the prompt, and how long it pauses after a failure.
public enum LoginText {
  public static let prompt = "Verification code: "
  public static let combinedPrompt = "Password and verification code: "
  public static let enrollmentPrompt = "Code from your app: "
  public static let wrongCode = "Wrong code."
  public static let notACode = "That is not a code: type the digits of a code, or a backup code."
  public static let replay = "That code was already used: wait for a new one."
  /// The pause after a failed attempt (pam_fail_delay; mfa_chkcode sleeps it itself).
  public static let failureDelayMicroseconds: UInt32 = 2_000_000

  /// "45 seconds", "5 minutes", "2 hours": rounded up so the user never comes back too early.
  public static func describe(seconds: Int64) -> String {
    if seconds < 60 { return String(seconds) + (seconds == 1 ? " second" : " seconds") }
    if seconds < 2 * 3600 {
      let minutes = (seconds + 59) / 60
      return String(minutes) + (minutes == 1 ? " minute" : " minutes")
    }
    let hours = (seconds + 3599) / 3600
    return String(hours) + " hours"
  }

  static func lockedOut(for seconds: Int64) -> String {
    "Too many wrong codes. Try again in " + describe(seconds: seconds) + "."
  }
}
