import CLibc

/// What the module and the helper (mfa_chkcode) both ask of the system, answered one way.
public enum HostSystem {
  /// The admin's configuration file: root's, others may read it but never write it; nil when
  /// it does not exist.
  public static func readConfigFile(_ path: String) throws(FileError) -> [UInt8]? {
    do throws(FileError) {
      return try TrustedFile.rootSettings.read(path, maxSize: 64 * 1024)
    } catch .notFound {
      return nil
    }
  }

  /// The passwd entry of `name` (getpwnam_r); nil when there is none or the lookup failed.
  public static func lookupUser(_ name: [UInt8]) -> UserAccount? {
    var entry = passwd()
    var found: UnsafeMutablePointer<passwd>?
    var buffer = [CChar](repeating: 0, count: 16 * 1024)
    let status = name.text.withCString { user in
      buffer.withUnsafeMutableBufferPointer { raw -> Int32 in
        guard let base = raw.baseAddress else { return ERANGE }
        return getpwnam_r(user, &entry, base, raw.count, &found)
      }
    }
    guard status == 0, found != nil else { return nil }
    return account(entry)
  }

  /// The passwd entry of `uid` (getpwuid_r); nil when there is none or the lookup failed.
  public static func lookupUser(uid: UInt32) -> UserAccount? {
    var entry = passwd()
    var found: UnsafeMutablePointer<passwd>?
    var buffer = [CChar](repeating: 0, count: 16 * 1024)
    let status = buffer.withUnsafeMutableBufferPointer { raw -> Int32 in
      guard let base = raw.baseAddress else { return -1 }
      return getpwuid_r(uid, &entry, base, raw.count, &found)
    }
    return status == 0 && found != nil ? account(entry) : nil
  }

  /// A passwd entry as an account (getpwent's too); nil without a name or home.
  public static func account(_ entry: passwd) -> UserAccount? {
    guard let name = entry.pw_name, let home = entry.pw_dir else { return nil }
    return UserAccount(name: bytes(name), uid: entry.pw_uid, gid: entry.pw_gid, home: bytes(home))
  }

  /// Whether the user belongs to the group (primary or supplementary); nil: no such group.
  public static func isMember(_ account: UserAccount, ofGroup group: [UInt8]) -> Bool? {
    let result = account.name.text.withCString { user in
      group.text.withCString { name in mfa_user_in_group(user, account.gid, name) }
    }
    return result < 0 ? nil : result == 1
  }

  /// This machine's name ("localhost" when it has none).
  public static func hostName() -> [UInt8] {
    var buffer = [CChar](repeating: 0, count: 256)
    let status = buffer.withUnsafeMutableBufferPointer { raw -> Int32 in
      guard let base = raw.baseAddress else { return -1 }
      return gethostname(base, raw.count - 1)
    }
    guard status == 0 else { return [UInt8]("localhost".utf8) }
    return buffer.withUnsafeBufferPointer { $0.baseAddress.map(bytes) } ?? [UInt8]("localhost".utf8)
  }

  /// A C string's bytes.
  public static func bytes(_ string: UnsafePointer<CChar>) -> [UInt8] {
    let length = strlen(string)
    return string.withMemoryRebound(to: UInt8.self, capacity: length) {
      Array(UnsafeBufferPointer(start: $0, count: length))
    }
  }
}
