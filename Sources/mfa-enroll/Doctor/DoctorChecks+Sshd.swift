import Glibc
import MFACore

/// The checks of sshd: its configuration (`sshd -T`) and the clock TOTP depends on.
extension DoctorChecks {
  /// "/etc/ssh/sshd_config: line 12: Bad configuration option: Foo" → the file and line sshd names.
  static func sshdConfigPlace(_ line: String) -> (file: String, line: Int)? {
    let words = line.split(separator: " ", omittingEmptySubsequences: false)
    guard words.count >= 3, words[0].hasPrefix("/"), words[1] == "line",
      let value = Int(words[2].prefix(while: \.isNumber))
    else { return nil }
    return (String(words[0].hasSuffix(":") ? words[0].dropLast() : words[0]), value)
  }

  /// The keys of `sshd -T` output that matter here, lower-cased as sshd prints them.
  static func sshdSettings(_ output: String) -> [String: String] {
    var settings: [String: String] = [:]
    for line in output.split(whereSeparator: \.isNewline) {
      let parts = line.split(separator: " ", maxSplits: 1)
      guard parts.count == 2 else { continue }
      settings[String(parts[0]).lowercased()] = String(parts[1])
    }
    return settings
  }

  /// "in /etc/ssh/sshd_config.d/00-pam_mfa.conf:  UsePAM yes": the setting as sshd spells it.
  static func dropIn(_ setting: String) -> UserText {
    UserText("in %s:  %s", .verbatim(dropInFile), .verbatim(setting))
  }

  static let dropInFile = "/etc/ssh/sshd_config.d/00-pam_mfa.conf"

  /// sshd_config against the sshd PAM stack.
  static func sshd(_ settings: [String: String], stack: PAMStack?) -> [Finding] {
    var findings: [Finding] = []
    if settings["usepam"] == "yes" {
      findings.append(Finding(level: .ok, message: UserText("sshd: UsePAM yes")))
    } else {
      findings.append(
        Finding(
          level: .failure,
          message: UserText(
            "sshd: UsePAM is %s; sshd never asks PAM for a code",
            .text(settings["usepam"].map { UserText.verbatim($0) } ?? UserText("unset"))),
          fix: dropIn("UsePAM yes")))
    }
    let interactive = settings["kbdinteractiveauthentication"] ?? settings["challengeresponseauthentication"]
    if interactive == "yes" {
      findings.append(Finding(level: .ok, message: UserText("sshd: KbdInteractiveAuthentication yes")))
    } else {
      findings.append(
        Finding(
          level: .failure,
          message: UserText(
            "sshd: KbdInteractiveAuthentication is %s; the code prompt cannot be shown",
            .text(interactive.map { UserText.verbatim($0) } ?? UserText("unset"))),
          fix: dropIn("KbdInteractiveAuthentication yes")))
    }
    findings.append(authenticationMethods(settings, stack: stack))
    return findings
  }

  /// AuthenticationMethods against whether the sshd PAM stack checks a password before the code.
  static func authenticationMethods(_ settings: [String: String], stack: PAMStack?) -> Finding {
    let methods = settings["authenticationmethods"] ?? "any"
    let lists = methods == "any" ? [] : methods.split(separator: " ").map { $0.split(separator: ",").map(String.init) }
    // Without a pam_mfa line (already a failure above) judge the password by the stack alone.
    let withPassword =
      stack.map { stack in
        stack.mfaRules.isEmpty
          ? stack.hasPasswordModule : stack.mfaRules.contains { stack.hasPasswordCheck(before: $0) }
      } ?? false
    if methods == "any" {
      let keys = settings["pubkeyauthentication"] != "no"
      return Finding(
        level: keys ? .failure : .warning,
        message: keys
          ? UserText("sshd: AuthenticationMethods is 'any': a user with an SSH key logs in without a code")
          : UserText("sshd: AuthenticationMethods is 'any'; name the methods explicitly"),
        fix: dropIn(
          withPassword
            ? "AuthenticationMethods keyboard-interactive" : "AuthenticationMethods publickey,keyboard-interactive"))
    } else if lists.contains(where: { !$0.contains(where: { $0.hasPrefix("keyboard-interactive") }) }) {
      return Finding(
        level: .failure,
        message: UserText(
          "sshd: AuthenticationMethods '%s' allows a login without keyboard-interactive (no code)", .verbatim(methods)),
        fix: UserText(
          "every list must end in keyboard-interactive, e.g.  AuthenticationMethods publickey,keyboard-interactive"))
    } else {
      let keyFirst = lists.allSatisfy { $0.contains("publickey") }
      if keyFirst && withPassword {
        return Finding(
          level: .warning,
          message: UserText("sshd: key, then password and code: the sshd PAM stack still includes the password check"),
          fix: UserText("for key + code only, comment out  @include common-auth  in the sshd PAM stack"))
      } else if !keyFirst && !withPassword {
        return Finding(
          level: .failure,
          message: UserText(
            "sshd: AuthenticationMethods '%s' with no password in the sshd PAM stack: the code is the only factor",
            .verbatim(methods)),
          fix: UserText(
            "keep  @include common-auth  before pam_mfa, or use  AuthenticationMethods publickey,keyboard-interactive"))
      } else {
        return Finding(
          level: .ok, message: UserText("sshd: AuthenticationMethods %s fits the PAM stack", .verbatim(methods)))
      }
    }
  }

  /// `timedatectl show` / `chronyc tracking` output: TOTP needs a clock within a step or two.
  static func clock(timedatectl: (status: Int32, output: String)?, chronyc: (status: Int32, output: String)?)
    -> Finding
  {
    if let timedatectl, timedatectl.status == 0 {
      if timedatectl.output.contains("NTPSynchronized=yes") {
        return Finding(level: .ok, message: UserText("clock: synchronised (timedatectl)"))
      }
      if timedatectl.output.contains("NTPSynchronized=no") {
        return Finding(
          level: .failure,
          message: UserText("clock: not synchronised; codes are refused when the clock drifts by a minute"),
          fix: UserText("timedatectl set-ntp true  (or install chrony)"))
      }
    }
    if let chronyc, chronyc.status == 0 {
      if chronyc.output.contains("Leap status     : Normal") {
        return Finding(level: .ok, message: UserText("clock: synchronised (chrony)"))
      }
      return Finding(
        level: .failure, message: UserText("clock: chrony is not synchronised"),
        fix: UserText("check  chronyc sources  and the network"))
    }
    return Finding(
      level: .warning,
      message: UserText("clock: cannot tell whether it is synchronised (no timedatectl or chronyc answer)"),
      fix: UserText("make sure NTP runs; codes change every 30 s"))
  }
}
