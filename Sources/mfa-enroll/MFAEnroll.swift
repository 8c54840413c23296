import ArgumentParser

@main
struct MFAEnroll: ParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "mfa-enroll",
    abstract: "Set up two-factor login (pam_mfa) for your account.",
    discussion: """
      With no subcommand, mfa-enroll enrolls you: it creates a secret, shows it as a QR code and \
      a setup key for your authenticator app, and saves it only after you have typed a correct \
      code from the app.
      """,
    subcommands: [Enroll.self],
    defaultSubcommand: Enroll.self
  )
}
