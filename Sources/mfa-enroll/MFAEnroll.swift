import ArgumentParser

@main
struct MFAEnroll: ParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "mfa-enroll",
    abstract: "Set up two-factor login (pam_mfa) for your account.",
    discussion: """
      With no subcommand, mfa-enroll enrolls you: it creates a secret, shows it as a QR code and \
      a setup key for your authenticator app, and saves it only after you have typed a correct \
      code from the app. Root can act for another user with --user NAME (e.g. to enroll a user \
      into a root-owned store, or `mfa-enroll --user NAME --unlock` after a lockout).
      """,
    subcommands: [
      Enroll.self, Add.self, AddEmail.self, AddSMS.self, List.self, Remove.self, MakeBackupCodes.self, Status.self,
      Disable.self, Forget.self,
      Reset.self, Unlock.self, Import.self, Doctor.self,
    ],
    defaultSubcommand: Enroll.self
  )

  @OptionGroup var global: GlobalOptions

  static func main() {
    main(Unlock.spelledAsCommand(Array(CommandLine.arguments.dropFirst())))
  }
}

/// A subcommand whose failures are one line "mfa-enroll: ..." and exit status 1.
protocol CLICommand: ParsableCommand {
  func perform() throws(CLIError)
}

extension CLICommand {
  func run() throws {
    try CLIError.reporting(perform)
  }
}
