/// Who is logging in, for audit lines: "user=alice service=sshd rhost=192.0.2.7".
public struct LoginContext {
  public var user: [UInt8]
  public var service: [UInt8]?
  public var remoteHost: [UInt8]?

  public init(user: [UInt8], service: [UInt8]?, remoteHost: [UInt8]?) {
    self.user = user
    self.service = service
    self.remoteHost = remoteHost
  }

  var audit: String {
    var text = "user=" + user.text
    if let service, !service.isEmpty { text += " service=" + service.text }
    if let remoteHost, !remoteHost.isEmpty { text += " rhost=" + remoteHost.text }
    return text
  }
}
