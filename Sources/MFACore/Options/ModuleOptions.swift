/// The admin's settings: defaults here, then `/etc/security/pam_mfa.conf`, then the module
/// arguments (which win). Nothing in a user's file can change them.
public struct ModuleOptions {
  public static let defaultConfigPath = "/etc/security/pam_mfa.conf"

  /// Where the user's secret file is; `${USER}`, `${HOME}` and `~` are expanded.
  public var secretPath = "~/.config/pam_mfa/secret"
  /// Let users without a secret file through (PAM_IGNORE) instead of denying them.
  public var nullOK = false
  /// Time steps accepted on each side of the current one.
  public var window = 1
  /// Root-owned directory for per-user state (replay, failures, lockout).
  public var stateDirectory = "/var/lib/pam_mfa/state"
  /// Log the effective settings and each decision (never secrets or codes).
  public var debug = false
  /// Failures within `failInterval` that lock the user out.
  public var deny = 3
  /// Seconds in which `deny` failures must fall to count together.
  public var failInterval: Int64 = 15 * 60
  /// Seconds of the first lockout; each further one in a row doubles, up to `maxUnlockTime`.
  public var unlockTime: Int64 = 5 * 60
  /// Only members of this group must use a code; others pass as with `nullok`.
  public var requireGroup: [UInt8]?
  /// Members of this group pass without a code (break-glass accounts).
  public var exemptGroup: [UInt8]?
  /// `enroll=login`: walk a user without an enrollment through it inside the login.
  public var enrollAtLogin = false
  /// After the end of this day (UTC, seconds since the epoch of the next midnight), a user
  /// without an enrollment is refused instead of being offered enrollment.
  public var enrollDeadline: Int64?
  /// Whom to contact, in messages to users who are refused for policy reasons; nil: "your
  /// system administrator", in the user's language.
  public var contact: String?
  /// The code prompt, in the admin's words, shown as written (nil: ours, translated).
  public var prompt: String?
  /// The one-prompt modes' password-and-code prompt, in the admin's words (nil: ours).
  public var combinedPrompt: String?
  /// HOTP: how many counters are tried, starting at the expected one (a token pressed without
  /// logging in resynchronises within this many presses).
  public var hotpWindow = 10
  /// Time steps a phone's clock may be off and still be learned (ClockDrift); 0: never learn.
  public var maxDrift = 10
  /// Seconds a remote host stays remembered after a successful code; 0: never remembered.
  public var remember: Int64 = 0
  /// The program that sends codes by e-mail or text message (user, method, address and the
  /// message on its standard input); nil: no delivery.
  public var deliverProgram: String?
  /// How long a sent code is valid.
  public var deliverTTL: Int64 = 5 * 60
  /// At most this many codes are sent to one user per `deliverInterval`.
  public var deliverLimit = 3
  public var deliverInterval: Int64 = 15 * 60
  /// E-mail domains and phone-number prefixes that addresses in a user-written secret file may
  /// have (lower-case domains; "+" and digits); empty: none (DeliveryPolicy).
  public var deliverDomains: [[UInt8]] = []
  public var deliverNumbers: [[UInt8]] = []

  /// forward_pass: ask for password and code in one prompt, and hand the password on to the
  /// next module as PAM_AUTHTOK.
  public var forwardPass = false
  /// use_first_pass / try_first_pass: take password+code from PAM_AUTHTOK (set by the
  /// application or an earlier module); `use` fails without it, `try` falls back to asking.
  public var firstPass: FirstPass = .none
  /// One prompt for password and code: this line runs before the password is checked.
  public var isOnePrompt: Bool { forwardPass || firstPass != .none }
  /// The stack line's own arguments, as given (an enrollment at login keeps them for later).
  public var arguments: [[UInt8]] = []

  public enum FirstPass {
    case none
    case use
    case `try`
  }

  /// Where enrollments and the shared login state live: the files (secret file + `state_dir`)
  /// or an LDAP directory the whole fleet shares (`store=ldap`, settings below).
  public var store: StoreKind = .files
  public var directory = DirectorySettings()

  public enum StoreKind {
    case files
    case ldap
  }

  /// The program that checks codes when the application does not run as root (mfa_chkcode(8)).
  public var helperPath = InstallPaths.helper
  /// Set by mfa_chkcode, never by an option: the caller is an unprivileged user, so nothing
  /// that needs root's judgement starts (enrollment at login, sending a code).
  public var callerIsUnprivileged = false

  /// The configuration file that was read (for `debug`).
  public var configPath = ModuleOptions.defaultConfigPath

  /// Every setting the module accepts (module arguments; all but `conf` also in the file).
  /// `apply` refuses anything else, and a test holds this list and pam_mfa(8) to each other.
  public static let names: [[UInt8]] = [
    "secret", "nullok", "window", "deny", "fail_interval", "unlock_time", "state_dir", "conf", "debug",
    "require_group", "exempt_group", "enroll", "enroll_deadline", "contact", "remember", "hotp_window", "max_drift",
    "prompt", "combined_prompt", "forward_pass", "use_first_pass", "try_first_pass", "deliver", "deliver_ttl",
    "deliver_limit",
    "deliver_interval", "deliver_domains", "deliver_numbers", "store", "store_plugin", "ldap_uri", "ldap_base",
    "ldap_ca", "ldap_cert", "ldap_key",
    "ldap_bind_dn", "ldap_password_file", "ldap_timeout", "ldap_failback", "helper",
  ].map { Array($0.utf8) }

  public static let rememberRange: ClosedRange<Int64> = 60...(90 * 86_400)

  public static let failIntervalRange: ClosedRange<Int64> = 1...(7 * 86_400)
  public static let unlockTimeRange: ClosedRange<Int64> = 1...86_400
  public static let maxUnlockTime: Int64 = 86_400

  public init() {}

  /// One line for `debug`: what is in force after the file and the arguments.
  public var summary: String {
    "conf=" + configPath + " secret=" + secretPath + " state_dir=" + stateDirectory + " window="
      + String(window) + " deny=" + String(deny) + " fail_interval=" + String(failInterval)
      + " unlock_time=" + String(unlockTime) + " remember=" + String(remember)
      + (requireGroup.map { " require_group=" + $0.text } ?? "")
      + (exemptGroup.map { " exempt_group=" + $0.text } ?? "")
      + " hotp_window=" + String(hotpWindow) + " max_drift=" + String(maxDrift) + (forwardPass ? " forward_pass" : "")
      + (firstPass == .use ? " use_first_pass" : firstPass == .try ? " try_first_pass" : "")
      + (enrollAtLogin ? " enroll=login" : "") + (enrollDeadline.map { " enroll_deadline=" + String($0) } ?? "")
      + (nullOK ? " nullok" : "") + (debug ? " debug" : "")
      + (store == .ldap
        ? " store=ldap ldap_uri=" + directory.uris.joined(separator: " ") + " ldap_base=" + (directory.base?.text ?? "")
          + " ldap_timeout=" + String(directory.timeout) + " ldap_failback=" + String(directory.failback) : "")
  }

  /// How long the `lockouts`-th lockout in a row lasts: `unlockTime` doubled each time, capped.
  public func lockoutDuration(consecutive lockouts: Int) -> Int64 {
    var duration = unlockTime
    var doublings = max(0, lockouts - 1)
    while doublings > 0 && duration < ModuleOptions.maxUnlockTime {
      duration *= 2
      doublings -= 1
    }
    return min(duration, ModuleOptions.maxUnlockTime)
  }
}
