import Glibc
import MFACore

/// The user the CLI acts for, from the password database.
struct LocalAccount {
  let name: String
  let uid: UInt32
  let gid: UInt32
  let home: String

  /// The user running the command (real uid, so a setuid wrapper can't confuse it).
  static func current() throws(CLIError) -> LocalAccount {
    var entry = passwd()
    var buffer = [CChar](repeating: 0, count: 16384)
    var found: UnsafeMutablePointer<passwd>?
    let status = getpwuid_r(getuid(), &entry, &buffer, buffer.count, &found)
    guard status == 0, let found, let name = found.pointee.pw_name, let home = found.pointee.pw_dir else {
      throw CLIError("cannot find your user (uid \(getuid())) in the password database")
    }
    return LocalAccount(
      name: String(cString: name), uid: found.pointee.pw_uid, gid: found.pointee.pw_gid,
      home: String(cString: home))
  }
}

/// This machine's name, for the default issuer and label.
func hostName() -> String {
  var buffer = [CChar](repeating: 0, count: 256)
  guard gethostname(&buffer, buffer.count - 1) == 0 else { return "localhost" }
  return buffer.withUnsafeBufferPointer { String(cString: $0.baseAddress!) }
}

/// The current working directory, to make a relative --secret-file absolute.
func currentDirectory() -> String {
  var buffer = [CChar](repeating: 0, count: Int(PATH_MAX) + 1)
  guard getcwd(&buffer, buffer.count) != nil else { return "/" }
  return buffer.withUnsafeBufferPointer { String(cString: $0.baseAddress!) }
}
