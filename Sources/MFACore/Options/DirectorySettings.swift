/// How to reach the LDAP directory of `store=ldap` (from pam_mfa.conf).
public struct DirectorySettings {
  /// One `ldap://` (StartTLS) or `ldaps://` URI: a single writable server (see pam_mfa-ldap(5)).
  public var uri: String?
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

  public init() {}
}
