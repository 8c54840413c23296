import ArgumentParser
import Glibc
import MFACore

@main
struct MFAEnroll: ParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "mfa-enroll",
    abstract: UserText("Set up two-factor login (pam_mfa) for your account.").string,
    discussion: UserText(
      "With no subcommand, mfa-enroll enrolls you: it creates a secret, shows it as a QR code and a setup key for your authenticator app, and saves it only after you have typed a correct code from the app. Root can act for another user with --user NAME (e.g. to enroll a user into a root-owned store, or `mfa-enroll --user NAME --unlock` after a lockout)."
    ).string,
    subcommands: [
      Enroll.self, Add.self, AddEmail.self, AddSMS.self, List.self, Remove.self, MakeBackupCodes.self, Status.self,
      Disable.self, Forget.self,
      Reset.self, Unlock.self, Import.self, Doctor.self,
    ],
    defaultSubcommand: Enroll.self
  )

  @OptionGroup var global: GlobalOptions

  static func main() {
    // The user's language for every text below, help included (read lazily, after this).
    setlocale(LC_ALL, "")
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
