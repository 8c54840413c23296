import ArgumentParser
import Glibc
import MFACore

/// Options every subcommand shares: whom to act for and which policy file to read.
struct GlobalOptions: ParsableArguments {
  @Option(help: "Act for this user instead of yourself (root only).")
  var user: String?

  @Option(
    help: ArgumentHelp(
      "The module's configuration file, for the secret path and state directory.", valueName: "path"))
  var config: String = ModuleOptions.defaultConfigPath
}

/// --secret-file, for the commands that work on the user's enrollment.
struct StoreOptions: ParsableArguments {
  @Option(
    help: ArgumentHelp(
      "The secret file (default: secret= of the configuration file, else ~/.config/pam_mfa/secret).",
      valueName: "path"))
  var secretFile: String?
}

/// The user a command acts for, the settings that apply to them, and where their files are.
struct Target {
  let account: LocalAccount
  let options: ModuleOptions
  let actingForOther: Bool

  static func resolve(_ global: GlobalOptions, requireRoot: Bool = false) throws(CLIError) -> Target {
    let me = try LocalAccount.current()
    if requireRoot && getuid() != 0 {
      throw CLIError("only root can do this")
    }
    var account = me
    if let name = global.user, name != me.name {
      guard getuid() == 0 else { throw CLIError("only root can act for another user (--user)") }
      guard let other = LocalAccount.lookup(name: name) else { throw CLIError("no such user: \(name)") }
      account = other
    }
    // Only an explicitly named file must exist, as in the module.
    let arguments: [[UInt8]] =
      global.config == ModuleOptions.defaultConfigPath ? [] : [Array("conf=\(absolute(global.config))".utf8)]
    let resolved: ModuleOptions
    do throws(OptionError) {
      resolved = try ModuleOptions.resolve(arguments: arguments, readConfig: readConfigFile)
    } catch {
      throw CLIError("configuration: \(error.description)")
    }
    return Target(account: account, options: resolved, actingForOther: account.uid != me.uid)
  }

  /// The secret file path the module will read for this user.
  func secretPath(override: String?) throws(CLIError) -> String {
    if let override { return absolute(override) }
    do throws(FileError) {
      return try PathTemplate.expand(
        options.secretPath, user: Array(account.name.utf8), home: Array(account.home.utf8))
    } catch {
      throw CLIError("cannot work out the secret file path from secret=\(options.secretPath): \(error.description)")
    }
  }

  /// The enrollment, or a message saying how to enroll.
  func readEnrollment(_ store: any CredentialStore) throws(CLIError) -> Enrollment {
    do throws(FileError) {
      return try store.readEnrollment()
    } catch .notFound {
      let who = actingForOther ? "\(account.name) is" : "you are"
      let place = store.location.place
      let missing = store.location.kind == .directory ? "no enrollment in \(place)" : "\(place) does not exist"
      throw CLIError("\(who) not enrolled (\(missing)); run mfa-enroll first")
    } catch {
      throw CLIError("cannot read \(store.location.place): \(error.description)")
    }
  }

  var stateStore: FileStateStore { FileStateStore(directory: options.stateDirectory) }
}

/// The configuration file as the module reads it: root's file, writable by no one else; nil
/// when it does not exist.
func readConfigFile(_ path: String) throws(FileError) -> [UInt8]? {
  try HostSystem.readConfigFile(path)
}
