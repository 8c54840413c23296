/// What the module learned about the user from the system's user database.
public struct UserAccount {
  public var name: [UInt8]
  public var uid: UInt32
  public var gid: UInt32
  public var home: [UInt8]

  public init(name: [UInt8], uid: UInt32, gid: UInt32, home: [UInt8]) {
    self.name = name
    self.uid = uid
    self.gid = gid
    self.home = home
  }
}
