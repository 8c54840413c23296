import ArgumentParser
import Glibc
import MFACore

/// --backup-codes and --backup-codes-file, shared by `enroll` and `backup-codes`.
struct BackupCodeOptions: ParsableArguments {
  @Option(
    name: .customLong("backup-codes"),
    help: ArgumentHelp(UserText("How many single-use backup codes to make (0 to 10).").string))
  var count: Int = BackupCodes.defaultCount

  @Option(
    name: .customLong("backup-codes-file"),
    help: ArgumentHelp(
      UserText("Also write the backup codes to this new file (mode 0600; never over an existing file).").string,
      valueName: "path"))
  var file: String?

  func validate() throws {
    guard BackupCodes.countRange.contains(count) else {
      throw ValidationError(UserText("--backup-codes must be from 0 to 10").string)
    }
    if count == 0 && file != nil {
      throw ValidationError(
        UserText("--backup-codes-file needs at least one backup code (--backup-codes 0 makes none)").string)
    }
  }

  func generate() throws(CLIError) -> (codes: [[UInt8]], hashes: [BackupCodeHash]) {
    do throws(SystemError) {
      return try BackupCodes.generate(count: count)
    } catch {
      throw CLIError(UserText("cannot make backup codes: %s", .verbatim(error.description)))
    }
  }

  /// Shows the codes once, and writes them to --backup-codes-file if asked.
  func present(_ codes: [[UInt8]], for account: LocalAccount) throws(CLIError) {
    guard !codes.isEmpty else { return }
    var lines = codes.map { BackupCodes.display($0) }
    Terminal.showLine([])
    Terminal.show(UserText("Your backup codes (each works once, instead of a code from the app):"))
    Terminal.showLine([])
    let indent = String(repeating: " ", count: 4)
    for pair in stride(from: 0, to: lines.count, by: 2) {
      var line = Array((indent + lines[pair..<min(pair + 2, lines.count)].joined(separator: indent)).utf8)
      Terminal.showLine(line)
      line.wipe()
    }
    Terminal.showLine([])
    Terminal.show(
      UserText("Store them somewhere safe now (a password manager, or printed); they are not shown again."))
    Terminal.show(UserText("Without your phone or a backup code, only an administrator can let you back in."))
    if let file {
      let path = absolute(file)
      var text = "# pam_mfa backup codes for \(account.name)@\(HostSystem.hostName().text); each works once.\n"
      text += lines.joined(separator: "\n") + "\n"
      var bytes = Array(text.utf8)
      defer { bytes.wipe() }
      do throws(FileError) {
        // As the user when root acts for them, unless root alone controls the directory (the
        // admin keeps the codes to hand over): root must not follow a link the user planted or
        // remove a file only root could (the lock file included).
        let user =
          TrustedFile.isInRootOwnedDirectory(path)
          ? UserAccount(name: Array("root".utf8), uid: 0, gid: 0, home: Array("/root".utf8)) : account.core
        try CLIPrivileges().asUser(user) { () throws(FileError) in
          // The lock only guards this one write; leave no clutter beside the user's file.
          defer { _ = (path + ".lock").withCString { unlink($0) } }
          try withExclusiveLock(path + ".lock") { () throws(FileError) in
            try SafeFile.write(path: path, contents: bytes, mode: 0o600, replace: false)
          }
        }
      } catch {
        throw CLIError(
          UserText(
            "the codes above are valid, but %s could not be written: %s", .verbatim(path), .verbatim(error.description))
        )
      }
      Terminal.show(UserText("Also written to %s.", .verbatim(path)))
    }
    for index in lines.indices { lines[index] = "" }
  }
}
