import Glibc
import MFACore

/// The user's enrollment as the commands see it: their secret file, or their entry in the
/// LDAP directory (`store=ldap`). `path` names it in messages either way.
struct CLIStore {
  enum Backend {
    case file(SecretFileStore<CLIPrivileges>)
    case directory(DirectoryCredentialStore<PluginConnection>)
  }

  let backend: Backend

  var path: String {
    switch backend {
    case .file(let store): return store.path
    case .directory(let store): return store.location
    }
  }

  /// Root writes it (a root-owned file store, or the directory).
  var isRootStore: Bool {
    switch backend {
    case .file(let store): return store.isRootStore
    case .directory: return true
    }
  }

  var directory: DirectoryCredentialStore<PluginConnection>? {
    if case .directory(let store) = backend { return store }
    return nil
  }

  /// Something is there (even a damaged file counts: it is not overwritten without --force).
  var exists: Bool {
    switch backend {
    case .file(let store): return SafeFile.exists(store.path)
    case .directory(let store):
      do throws(FileError) {
        _ = try store.readEnrollment()
        return true
      } catch .notFound {
        return false
      } catch {
        return true
      }
    }
  }

  var enrollments: any EnrollmentStore {
    switch backend {
    case .file(let store): return store
    case .directory(let store): return store
    }
  }

  func read() throws(FileError) -> Enrollment { try enrollments.read() }
  func update<Result>(_ body: (inout Enrollment) -> Result) throws(FileError) -> Result {
    try enrollments.update(body)
  }
  func create(_ enrollment: Enrollment) throws(FileError) { try enrollments.create(enrollment) }
  func save(_ enrollment: Enrollment, replace: Bool, asRoot: Bool?) throws(FileError) {
    try enrollments.save(enrollment, replace: replace, asRoot: asRoot)
  }
  func remove() throws(FileError) { try enrollments.remove() }
}

extension Target {
  /// The configured store for this user. The directory is root's: only root has the
  /// credentials (client key or password file) to reach it.
  func secretStore(override: String?) throws(CLIError) -> CLIStore {
    guard options.store == .ldap else {
      return CLIStore(
        backend: .file(
          SecretFileStore(path: try secretPath(override: override), account: account.core, privileges: CLIPrivileges()))
      )
    }
    if override != nil { throw CLIError("--secret-file does not apply: the store is the LDAP directory (store=ldap)") }
    return CLIStore(backend: .directory(try directoryStore(for: account.name)))
  }

  func directoryStore(for user: String) throws(CLIError) -> DirectoryCredentialStore<PluginConnection> {
    guard getuid() == 0 else {
      throw CLIError(
        "enrollments are kept in the LDAP directory (store=ldap) and only root can reach it; ask an administrator "
          + "to run mfa-enroll --user \(account.name), or enroll at your next login where enroll=login is set")
    }
    do throws(FileError) {
      let connection = try PluginConnection.open(options.directory)
      return DirectoryCredentialStore(
        connection: connection, user: Array(user.utf8), base: options.directory.base ?? [])
    } catch {
      throw CLIError("directory unavailable: \(error.description)")
    }
  }
}
