extension UserLogin {
  /// The application reported success (pam_acct_mgmt, pam_setcred): the kept enrollment is
  /// written, the confirming step first, so that its code can never log in.
  func save(_ pending: PendingEnrollment) -> LoginOutcome {
    do throws(FileError) {
      // State first: if it cannot be written, no enrollment appears whose first code could be
      // replayed. A watermark already past this step (an earlier enrollment) is as good.
      _ = try store.session { (session) throws(FileError) -> Bool in
        try session.acceptStep(pending.step, of: pending.enrollment.authenticators[0].name, now: host.now())
      }
      try store.create(pending.enrollment)
    } catch {
      host.log(
        .error,
        who + ": enrollment at login: cannot save " + store.location.place + " " + error.description + "; denied")
      host.tell(
        UserText("The enrollment could not be saved; nothing changed. Contact %s.", LoginText.contact(options)),
        isError: true)
      return .denied
    }
    host.log(.notice, who + ": enrolled at login (" + store.location.place + ")")
    return .accepted
  }
}
