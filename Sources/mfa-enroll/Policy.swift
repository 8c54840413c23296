import CLibc
import Glibc
import MFACore

/// The admin's policy as the CLI can see it (pam_mfa.conf; arguments in /etc/pam.d are not
/// visible here, so sites put policy in the file).
enum Policy {
  /// Whether the module would insist on a code for this user, so that turning it off would
  /// lock them out or break the site's rule.
  static func requiresCode(_ account: LocalAccount, options: ModuleOptions) -> (Bool, String) {
    // A group that does not exist makes the module refuse every login: treat it as required.
    if let exempt = options.exemptGroup {
      switch isMember(account, exempt) {
      case .some(true): return (false, "member of exempt_group \(exempt.text)")
      case .none: return (true, "exempt_group \(exempt.text) does not exist")
      case .some(false): break
      }
    }
    if let required = options.requireGroup {
      switch isMember(account, required) {
      case .some(true): return (true, "member of require_group \(required.text)")
      case .none: return (true, "require_group \(required.text) does not exist")
      case .some(false): return (false, "not in require_group \(required.text)")
      }
    }
    if options.nullOK { return (false, "nullok") }
    return (true, "every user must use a code: no nullok in \(options.configPath)")
  }

  static func isMember(_ account: LocalAccount, _ group: [UInt8]) -> Bool? {
    let result = mfa_user_in_group(account.name, account.gid, group.text)
    return result < 0 ? nil : result == 1
  }
}
