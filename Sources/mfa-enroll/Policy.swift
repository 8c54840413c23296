import MFACore

/// The admin's policy as the CLI can see it (pam_mfa.conf; arguments in /etc/pam.d are not
/// visible here, so sites put policy in the file).
enum Policy {
  /// Whether the module would insist on a code for this user (CodePolicy, the module's own
  /// rule), so that turning it off would lock them out or break the site's rule.
  static func requiresCode(_ account: LocalAccount, options: ModuleOptions) -> (Bool, String) {
    switch CodePolicy.decide(for: account.core, options: options, isMember: HostSystem.isMember) {
    case .exempt(let group): return (false, "member of exempt_group \(group.text)")
    // A group that does not exist makes the module refuse every login: treat it as required.
    case .groupMissing(let setting, let group): return (true, "\(setting) \(group.text) does not exist")
    case .optional(let group): return (false, "not in require_group \(group.text)")
    case .required(.some(let group)): return (true, "member of require_group \(group.text)")
    case .required(.none):
      if options.nullOK { return (false, "nullok") }
      return (true, "every user must use a code: no nullok in \(options.configPath)")
    }
  }
}
