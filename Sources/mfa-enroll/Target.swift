import ArgumentParser
import Glibc
import MFACore

/// Options every subcommand shares: whom to act for and which policy file to read.
struct GlobalOptions: ParsableArguments {
  @Option(help: ArgumentHelp(UserText("Act for this user instead of yourself (root only).").string))
  var user: String?

  @Option(
    help: ArgumentHelp(
      UserText("The module's configuration file, for the secret path and state directory.").string, valueName: "path"))
  var config: String = ModuleOptions.defaultConfigPath
}

/// --secret-file, for the commands that work on the user's enrollment.
struct StoreOptions: ParsableArguments {
  @Option(
    help: ArgumentHelp(
      UserText("The secret file (default: secret= of the configuration file, else ~/.config/pam_mfa/secret).").string,
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
      throw CLIError(UserText("only root can do this"))
    }
    var account = me
    if let name = global.user, name != me.name {
      guard getuid() == 0 else { throw CLIError(UserText("only root can act for another user (--user)")) }
      guard let other = LocalAccount.lookup(name: name) else {
        throw CLIError(UserText("no such user: %s", .verbatim(name)))
      }
      account = other
    }
    // Only an explicitly named file must exist, as in the module.
    let arguments: [[UInt8]] =
      global.config == ModuleOptions.defaultConfigPath ? [] : [Array("conf=\(absolute(global.config))".utf8)]
    let resolved: ModuleOptions
    do throws(OptionError) {
      resolved = try ModuleOptions.resolve(arguments: arguments, readConfig: readConfigFile)
    } catch {
      throw CLIError(UserText("configuration: %s", .verbatim(error.description)))
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
      throw CLIError(
        UserText(
          "cannot work out the secret file path from secret=%s: %s", .verbatim(options.secretPath),
          .verbatim(error.description)))
    }
  }

  /// The enrollment, or a message saying how to enroll.
  func readEnrollment(_ store: any CredentialStore) throws(CLIError) -> Enrollment {
    do throws(FileError) {
      return try store.readEnrollment()
    } catch .notFound {
      let place = UserText.Value.verbatim(store.location.place)
      let name = UserText.Value.verbatim(account.name)
      switch (actingForOther, store.location.kind == .directory) {
      case (true, true):
        throw CLIError(UserText("%s is not enrolled (no enrollment in %s); run mfa-enroll first", name, place))
      case (true, false):
        throw CLIError(UserText("%s is not enrolled (%s does not exist); run mfa-enroll first", name, place))
      case (false, true):
        throw CLIError(UserText("you are not enrolled (no enrollment in %s); run mfa-enroll first", place))
      case (false, false):
        throw CLIError(UserText("you are not enrolled (%s does not exist); run mfa-enroll first", place))
      }
    } catch {
      throw CLIError(UserText("cannot read %s: %s", .verbatim(store.location.place), .verbatim(error.description)))
    }
  }

  var stateStore: FileStateStore { FileStateStore(directory: options.stateDirectory) }
}

/// The configuration file as the module reads it: root's file, writable by no one else; nil
/// when it does not exist.
func readConfigFile(_ path: String) throws(FileError) -> [UInt8]? {
  try HostSystem.readConfigFile(path)
}
