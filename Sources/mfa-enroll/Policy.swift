import MFACore

/// The admin's policy as the CLI can see it (pam_mfa.conf; arguments in /etc/pam.d are not
/// visible here, so sites put policy in the file).
enum Policy {
  /// Whether the module would insist on a code for this user (CodePolicy, the module's own
  /// rule), so that turning it off would lock them out or break the site's rule.
  static func requiresCode(_ account: LocalAccount, options: ModuleOptions) -> (Bool, UserText) {
    switch CodePolicy.decide(for: account.core, options: options, isMember: HostSystem.isMember) {
    case .exempt(let group): return (false, UserText("member of exempt_group %s", .verbatim(group.text)))
    // A group that does not exist makes the module refuse every login: treat it as required.
    case .groupMissing(let setting, let group):
      return (true, UserText("%s %s does not exist", .verbatim(setting), .verbatim(group.text)))
    case .optional(let group): return (false, UserText("not in require_group %s", .verbatim(group.text)))
    case .required(.some(let group)): return (true, UserText("member of require_group %s", .verbatim(group.text)))
    case .required(.none):
      if options.nullOK { return (false, UserText.verbatim("nullok")) }
      return (true, UserText("every user must use a code: no nullok in %s", .verbatim(options.configPath)))
    }
  }
}
