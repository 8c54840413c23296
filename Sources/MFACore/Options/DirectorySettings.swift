/// How to reach the LDAP directory of `store=ldap` (from pam_mfa.conf).
public struct DirectorySettings {
  /// `ldap://` (StartTLS) or `ldaps://` URIs, tried in this order: the provider first, then a
  /// standby that takes writes only while the provider cannot be reached (pam_mfa-ldap(5)).
  public var uris: [String] = []
  /// Seconds a host keeps going first to a later server that answered when an earlier one did not.
  public var failback: Int64 = 60
  /// Entries are `uid=USER,<base>`.
  public var base: [UInt8]?
  public var caFile: String?
  /// Client certificate and key: SASL EXTERNAL.
  public var certFile: String?
  public var keyFile: String?
  /// Or a simple bind with a password read from a root-only file.
  public var bindDN: [UInt8]?
  public var passwordFile: String?
  /// Seconds any one exchange with the server may take before the login is denied.
  public var timeout: Int64 = 5
  /// The plugin that speaks LDAP, so the module itself never links libldap.
  public var plugin = InstallPaths.plugin

  /// At most this many servers: each may cost a login `timeout`.
  public static let maxServers = 8

  public init() {}

  /// Whether `uri` is the first server of the list (byte comparison: String == needs Unicode
  /// tables in Embedded Swift).
  public func isFirst(_ uri: String) -> Bool { uris.first.map { Array($0.utf8) == Array(uri.utf8) } ?? false }
}
