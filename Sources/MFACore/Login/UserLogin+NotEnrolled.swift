/// A user without an enrollment: pass, refuse, or (enroll=login) enroll them now.
extension UserLogin {
  func whenMissing(mustUseCode: Bool) -> LoginOutcome {
    if mustUseCode && options.enrollAtLogin && !(options.enrollDeadline.map { host.now() >= $0 } ?? false) {
      if options.callerIsUnprivileged { return refuseEnrollment() }
      return login.enroll(account)
    }
    return notEnrolled(mustUseCode: mustUseCode)
  }

  func notEnrolled(mustUseCode: Bool) -> LoginOutcome {
    let place = store.location.place
    // Every pass without a code is logged.
    if !mustUseCode {
      host.log(.notice, who + ": not in require_group and not enrolled (" + place + "): no code asked")
      return .notEnrolledAllowed
    }
    if let deadline = options.enrollDeadline, host.now() >= deadline {
      host.log(.notice, who + ": not enrolled after the enrollment deadline; denied")
      host.tell(
        UserText(
          "Two-factor login was required from %s. To set it up, contact %s.",
          .verbatim(CivilDate.format(days: deadline / 86_400)), LoginText.contact(options)), isError: true)
      return .denied
    }
    if options.nullOK {
      host.log(.notice, who + ": not enrolled (" + place + "), nullok: no code asked")
      return .notEnrolledAllowed
    }
    host.log(.notice, who + ": not enrolled: " + store.location.missing + "; denied")
    return .denied
  }

  /// enroll=login where the application does not run as root (a screen locker): the new
  /// secret could not be kept safe until the stack succeeds, so the user enrolls elsewhere.
  func refuseEnrollment() -> LoginOutcome {
    host.log(.notice, who + ": not enrolled; enroll=login is not offered to an unprivileged application; denied")
    host.tell(
      UserText(
        "Two-factor login is not set up for your account yet, and it cannot be set up here. Log in on the console or over SSH, or run mfa-enroll."
      ), isError: true)
    return .denied
  }
}
