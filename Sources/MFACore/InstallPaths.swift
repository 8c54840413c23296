/// Where the package puts the module's own files: the store plugin and the helper live in
/// `pam_mfa/` beside pam_mfa.so (/lib/... on Debian 12 is the same directory through merged /usr).
public enum InstallPaths {
  #if arch(x86_64)
    public static let moduleFiles = "/usr/lib/x86_64-linux-gnu/security/pam_mfa"
  #elseif arch(arm64)
    public static let moduleFiles = "/usr/lib/aarch64-linux-gnu/security/pam_mfa"
  #else
    public static let moduleFiles = "/usr/lib/security/pam_mfa"
  #endif

  /// store=ldap's transport (PluginConnection).
  public static let plugin = moduleFiles + "/store_ldap.so"
  /// The setuid helper that checks codes for unprivileged callers (mfa_chkcode(8)).
  public static let helper = moduleFiles + "/mfa_chkcode"
}
