/// Must this user use a code? The one answer for the module (Login.admit) and mfa-enroll
/// (which refuses to turn off what the module would insist on).
public enum CodePolicy: Equatable {
  /// A member of exempt_group (break-glass accounts): no code is asked.
  case exempt(group: [UInt8])
  /// exempt_group or require_group names a group that does not exist: the module refuses
  /// every login until the admin fixes it.
  case groupMissing(setting: String, group: [UInt8])
  /// Outside require_group: a code only if enrolled.
  case optional(requireGroup: [UInt8])
  /// A code is required (as a member of require_group, or as everyone without one); nullok
  /// still lets a user who never enrolled pass.
  case required(requireGroup: [UInt8]?)

  public static func decide(
    for account: UserAccount, options: ModuleOptions, isMember: (UserAccount, [UInt8]) -> Bool?
  ) -> CodePolicy {
    if let group = options.exemptGroup {
      switch isMember(account, group) {
      case .none: return .groupMissing(setting: "exempt_group", group: group)
      case .some(true): return .exempt(group: group)
      case .some(false): break
      }
    }
    guard let group = options.requireGroup else { return .required(requireGroup: nil) }
    switch isMember(account, group) {
    case .none: return .groupMissing(setting: "require_group", group: group)
    case .some(true): return .required(requireGroup: group)
    case .some(false): return .optional(requireGroup: group)
    }
  }
}
