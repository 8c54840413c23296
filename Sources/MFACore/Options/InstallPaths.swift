/// Where libpam keeps its modules on this architecture (Debian's multiarch directory; /lib/... on
/// Debian 12 is the same directory through merged /usr), and the module's own files beside it:
/// the store plugin and the helper in `pam_mfa/`.
public enum InstallPaths {
  #if arch(x86_64)
    public static let moduleDirectory = "/usr/lib/x86_64-linux-gnu/security"
  #elseif arch(arm64)
    public static let moduleDirectory = "/usr/lib/aarch64-linux-gnu/security"
  #else
    public static let moduleDirectory = "/usr/lib/security"
  #endif

  /// The module's files, relative to the module directory.
  public static let pluginName = "pam_mfa/store_ldap.so"
  public static let helperName = "pam_mfa/mfa_chkcode"

  /// store=ldap's transport (PluginConnection).
  public static let plugin = moduleDirectory + "/" + pluginName
  /// The setuid helper that checks codes for unprivileged callers (mfa_chkcode(8)).
  public static let helper = moduleDirectory + "/" + helperName
}
