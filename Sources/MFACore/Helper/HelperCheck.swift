/// mfa_chkcode's decision, for the account of the user who ran it: the same Login as a root
/// login, with pam_mfa.conf's settings only, no remote host (the caller sets PAM_RHOST), and
/// without what an unprivileged caller must not start (enrollment at login, sending a code).
public enum HelperCheck {
  public static func run<Host: LoginHost>(host: Host, request: HelperRequest, caller: UInt32) -> LoginOutcome {
    let context = LoginContext(user: request.user, service: request.service, remoteHost: nil)
    guard let account = host.lookupUser(request.user), account.uid == caller else {
      host.log(.error, context.audit + ": asked by uid " + String(caller) + ", who is not this user; refused")
      return .denied
    }
    guard var options = ModuleOptions.resolve(arguments: request.nullOK ? [[UInt8]("nullok".utf8)] : [], host: host)
    else { return .configurationError }
    // The one-prompt modes check the code before the password and count nothing there: a caller
    // who runs the helper itself would guess codes without a lockout.
    if options.isOnePrompt {
      host.log(
        .error,
        "configuration error: forward_pass, use_first_pass and try_first_pass in " + options.configPath
          + " cannot serve applications that do not run as root; refusing every login")
      return .configurationError
    }
    options.callerIsUnprivileged = true
    return Login(host: host, options: options, context: context).authenticate()
  }
}
