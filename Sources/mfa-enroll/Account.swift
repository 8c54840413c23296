import Glibc
import MFACore

/// A user from the password database.
struct LocalAccount {
  let name: String
  let uid: UInt32
  let gid: UInt32
  let home: String

  /// The user running the command (real uid, so a setuid wrapper can't confuse it).
  static func current() throws(CLIError) -> LocalAccount {
    guard let account = lookup(uid: getuid()) else {
      throw CLIError(UserText("cannot find your user (uid %s) in the password database", .verbatim(String(getuid()))))
    }
    return account
  }

  static func lookup(uid: uid_t) -> LocalAccount? {
    HostSystem.lookupUser(uid: uid).map(LocalAccount.init)
  }

  static func lookup(name: String) -> LocalAccount? {
    HostSystem.lookupUser(Array(name.utf8)).map(LocalAccount.init)
  }

  init(_ account: UserAccount) {
    self.init(name: account.name.text, uid: account.uid, gid: account.gid, home: account.home.text)
  }

  init(name: String, uid: UInt32, gid: UInt32, home: String) {
    self.name = name
    self.uid = uid
    self.gid = gid
    self.home = home
  }

  var core: UserAccount {
    UserAccount(name: Array(name.utf8), uid: uid, gid: gid, home: Array(home.utf8))
  }

}

/// The CLI's way of doing file work as a user: when root acts in a user's home it switches its
/// effective uid and gid and its supplementary groups to the user's primary group alone, so it
/// never follows a link the user planted into a place only root's groups may write.
struct CLIPrivileges: PrivilegeSwitch {
  /// Root at a terminal sets up a root-owned store (mfa-enroll --user).
  var createsRootDirectories: Bool { true }

  func asUser<Value>(_ account: UserAccount, _ body: () throws(FileError) -> Value) throws(FileError) -> Value {
    if geteuid() != 0 || account.uid == 0 { return try body() }
    let rootGroups = supplementaryGroups()
    var userGroups = [account.gid]
    guard setgroups(1, &userGroups) == 0 else { throw .system(.last("setgroups")) }
    guard setegid(account.gid) == 0, seteuid(account.uid) == 0 else {
      let error = SystemError.last("seteuid")
      _ = setegid(0)
      restore(rootGroups)
      throw .system(error)
    }
    defer {
      // All succeed for a process whose real and saved uid are 0.
      _ = seteuid(0)
      _ = setegid(0)
      restore(rootGroups)
    }
    return try body()
  }

  private func supplementaryGroups() -> [gid_t] {
    let count = getgroups(0, nil)
    guard count > 0 else { return [] }
    var groups = [gid_t](repeating: 0, count: Int(count))
    let got = getgroups(count, &groups)
    return got < 0 ? [] : Array(groups.prefix(Int(got)))
  }

  private func restore(_ groups: [gid_t]) {
    var groups = groups
    _ = setgroups(groups.count, &groups)
  }
}

/// The current working directory, to make a relative path absolute.
func currentDirectory() -> String {
  var buffer = [CChar](repeating: 0, count: Int(PATH_MAX) + 1)
  guard getcwd(&buffer, buffer.count) != nil else { return "/" }
  return String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
}

func absolute(_ path: String) -> String {
  path.hasPrefix("/") ? path : currentDirectory() + "/" + path
}
