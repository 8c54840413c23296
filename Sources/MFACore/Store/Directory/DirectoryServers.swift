import CLibc

/// The configured servers (`ldap_uri`), tried in order, each within `ldap_timeout`. When a later
/// one answers because an earlier one did not, the host goes to it first for `ldap_failback`
/// seconds (remembered in root's state directory), so a dead provider costs one login in that
/// time its timeout rather than every login; then the configured order again, so writes return
/// to the provider. The remembered server only reorders the configured list: a name in the file
/// that is not in the list is ignored.
public struct DirectoryServers {
  public let settings: DirectorySettings
  /// root's `state_dir`.
  public let stateDirectory: String

  /// The file's name starts with "-", which no user name may (PathTemplate.isSafeUserName):
  /// it never meets a user's state file.
  static let fileName = "-ldap-server"

  public init(settings: DirectorySettings, stateDirectory: String) {
    self.settings = settings
    self.stateDirectory = stateDirectory
  }

  var path: String { stateDirectory + "/" + DirectoryServers.fileName }

  /// A connection to the first server that answers; `note` hears of each server passed over
  /// on the way (the login logs it). All failing is one error naming every server's reason.
  public func connect(now: Int64, note: (String) -> Void) throws(FileError) -> PluginConnection {
    let remembered = settings.failback > 0 ? recall(now: now) : nil
    var order = settings.uris
    if let remembered, let index = order.firstIndex(where: { same($0, remembered) }), index > 0 {
      order.remove(at: index)
      order.insert(remembered, at: 0)
    }
    var failures: [(uri: String, reason: String)] = []
    for uri in order {
      let connection: PluginConnection
      do throws(FileError) {
        connection = try PluginConnection.open(settings, uri: uri)
      } catch {
        failures.append((uri, error.description))
        continue
      }
      for failure in failures {
        note(
          "directory server " + failure.uri + " unavailable (" + DirectoryServers.reason(failure) + "); using " + uri)
      }
      settle(on: uri, remembered: remembered, now: now)
      return connection
    }
    throw .directory(failures.map { $0.reason }.joined(separator: "; "))
  }

  /// Each configured server on its own, for `mfa-enroll doctor`: nil where it answered and
  /// shows the base entry, else why not.
  public func probe() -> [(uri: String, problem: String?)] {
    settings.uris.map { uri in
      do throws(FileError) {
        let connection = try PluginConnection.open(settings, uri: uri)
        let base = settings.base ?? []
        if try connection.read(base) == nil {
          return (uri, "the base entry " + base.text + " is not visible to this host")
        }
        return (uri, nil)
      } catch {
        return (uri, DirectoryServers.reason((uri, error.description)))
      }
    }
  }

  /// The server this host goes to first for now, when failback keeps it on a later one.
  public func remembered(now: Int64) -> String? { settings.failback > 0 ? recall(now: now) : nil }

  /// The plugin's reason without the URI it starts with, where it does.
  static func reason(_ failure: (uri: String, reason: String)) -> String {
    let prefix = Array((failure.uri + ": ").utf8)
    let bytes = Array(failure.reason.utf8)
    return bytes.starts(with: prefix) ? Array(bytes[prefix.count...]).text : failure.reason
  }

  /// Remembers `uri` when it is not the first and not already remembered; forgets when the
  /// first answered again.
  func settle(on uri: String, remembered: String?, now: Int64) {
    guard settings.failback > 0 else { return }
    if settings.isFirst(uri) {
      if remembered != nil { try? SafeFile.remove(path) }
    } else if remembered.map({ !same($0, uri) }) ?? true {
      remember(uri, until: now + settings.failback)
    }
  }

  /// The server remembered and not yet expired; nil for none, an expired one or a damaged file.
  func recall(now: Int64) -> String? {
    guard let contents = try? TrustedFile.privateFile(owners: [geteuid()]).read(path, maxSize: 1024) else { return nil }
    // "UNTIL URI\n"
    let line = SecretFileFormat.lines(contents).first ?? []
    guard let space = line.firstIndex(of: ASCII.space), let until = parseDecimal(Array(line[..<space])),
      now < until, until - now <= settings.failback
    else { return nil }
    return Array(line[(space + 1)...]).text
  }

  /// Byte comparison: String == needs Unicode tables in Embedded Swift.
  func same(_ a: String, _ b: String) -> Bool { Array(a.utf8) == Array(b.utf8) }

  func remember(_ uri: String, until: Int64) {
    let state = FileStateStore(directory: stateDirectory)
    do throws(FileError) {
      try state.ensureDirectory()
      // Parallel logins write it too: SafeFile's temporary file is one name, so one at a time.
      try withExclusiveLock(path + ".lock") { () throws(FileError) in
        try SafeFile.write(path: path, contents: Array((String(until) + " " + uri + "\n").utf8), mode: 0o600)
      }
    } catch {
      // Only a shortcut: without it the next login tries the servers in order again.
    }
  }
}
