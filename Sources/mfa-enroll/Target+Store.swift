import Glibc
import MFACore

extension Target {
  /// The configured store for this user: their secret file, or their entry in the LDAP
  /// directory (store=ldap). The directory is root's: only root has the credentials (client
  /// key or password file) to reach it.
  func secretStore(override: String?) throws(CLIError) -> any CredentialStore {
    guard options.store == .ldap else {
      return SecretFileStore(
        path: try secretPath(override: override), account: account.core, privileges: CLIPrivileges(),
        state: stateStore)
    }
    if override != nil {
      throw CLIError(UserText("--secret-file does not apply: the store is the LDAP directory (store=ldap)"))
    }
    return try directoryStore(for: account.name)
  }

  func directoryStore(for user: String) throws(CLIError) -> DirectoryCredentialStore<PluginConnection, FileStateStore> {
    guard getuid() == 0 else {
      throw CLIError(
        UserText(
          "enrollments are kept in the LDAP directory (store=ldap) and only root can reach it; ask an administrator to run mfa-enroll --user %s, or enroll at your next login where enroll=login is set",
          .verbatim(account.name)))
    }
    do throws(FileError) {
      // A failover is the module's log line, shown to root as it is: English, as in syslog.
      let connection = try DirectoryServers(settings: options.directory, stateDirectory: options.stateDirectory)
        .connect(now: Int64(time(nil))) {
          Terminal.showError(UserText("mfa-enroll: %s", .verbatim($0)))
        }
      return DirectoryCredentialStore(
        connection: connection, user: Array(user.utf8), base: options.directory.base ?? [], local: stateStore)
    } catch {
      throw CLIError(UserText("directory unavailable: %s", .verbatim(error.description)))
    }
  }
}
