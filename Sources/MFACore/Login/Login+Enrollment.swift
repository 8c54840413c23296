/// `enroll=login`: a user without an enrollment, who has already passed the stack's earlier
/// factor, sets up the authenticator inside the login: QR code and setup key as text through the
/// conversation, a first code (three tries), then backup codes. Nothing is written unless a
/// right code was typed and the application reports that the whole stack succeeded.
extension Login {
  /// Offers the enrollment; PAM_USER as the application gave it is kept with it (and compared
  /// when it is saved).
  func enroll(_ account: UserAccount) -> LoginOutcome {
    guard canCheckCodes() else { return .denied }
    var key: [UInt8]
    do throws(SystemError) {
      key = try SystemRandom.bytes(20)
    } catch {
      host.log(.error, who + ": enrollment at login: " + error.description + "; denied")
      return .denied
    }
    var enrollment = Enrollment(authenticators: [
      Authenticator(name: Authenticator.defaultName, algorithm: .sha1, digits: 6, period: 30, key: key)
    ])
    key.wipe()
    defer { enrollment.wipe() }

    let machine = host.hostName().text
    let label = account.name.text + "@" + machine
    let uri = OTPAuthURI.totp(issuer: machine, label: label, authenticator: enrollment.authenticators[0])
    host.log(.notice, who + ": not enrolled: offering enrollment at login")
    host.tell(
      UserText(
        "Two-factor login is required for this account. Set it up now:\nscan this QR code with your authenticator app (Microsoft Authenticator, Google Authenticator, FreeOTP...)"
      ), isError: false)
    if let qr = host.qrCode(uri) {
      var picture = ""
      for line in QRText.halfBlocks(width: qr.width, modules: qr.modules) { picture += line + "\n" }
      host.tell(.verbatim(picture), isError: false)
    }
    host.tell(
      UserText(
        "Or add an account by hand: %s, setup key %s (time-based, 6 digits).", .verbatim(label),
        .verbatim(OTPAuthURI.groupedKey(enrollment.authenticators[0].key))), isError: false)

    let match: FirstCode.Match
    do throws(FirstCode.Failure) {
      match = try FirstCode.ask(
        for: enrollment, accepting: FirstCode.Accepting(window: 1), now: { host.now() },
        prompt: { host.prompt(LoginText.enrollmentPrompt, echo: false) },
        retry: { _ in host.tell(UserText("That code is not right. Check the app and try again."), isError: true) })
    } catch .noAnswer {
      host.log(.error, who + ": conversation failed during enrollment at login; nothing saved")
      return .conversationFailed
    } catch {
      let tries = Int64(FirstCode.tries)
      host.log(
        .notice, who + ": enrollment at login: no right code after " + String(tries) + " tries; nothing saved; denied")
      host.tell(
        .plural(
          "No right code after %d try; nothing was saved.", "No right code after %d tries; nothing was saved.",
          count: tries), isError: true)
      return .denied
    }
    guard case .totp(_, let step) = match else { return .denied }
    return keep(&enrollment, step: step)
  }

  /// A right first code: backup codes are made and shown, and everything waits in the PAM
  /// handle until the application reports the whole stack succeeded (`finish`).
  func keep(_ enrollment: inout Enrollment, step: Int64) -> LoginOutcome {
    enrollment.authenticators[0].confirmedStep = step
    var codes: [[UInt8]]
    do throws(SystemError) {
      let made = try BackupCodes.generate(count: BackupCodes.defaultCount)
      codes = made.codes
      enrollment.backupCodes = made.hashes
    } catch {
      host.log(.error, who + ": enrollment at login: " + error.description + "; denied")
      return .denied
    }
    defer { for index in codes.indices { codes[index].wipe() } }
    var pending = PendingEnrollment(
      arguments: options.arguments, user: context.user, step: step, enrollment: enrollment)
    var bytes = pending.encoded()
    pending.wipe()
    defer { bytes.wipe() }
    guard host.keep(bytes, in: .enrollment) else {
      host.log(.error, who + ": enrollment at login: libpam cannot keep it until the login ends; denied")
      host.tell(
        UserText("The enrollment could not be saved; nothing changed. Contact %s.", LoginText.contact(options)),
        isError: true)
      return .denied
    }
    var list: [UInt8] = []
    for code in codes { list += [UInt8]("    " + BackupCodes.display(code) + "\n") }
    var text = UserText(
      // TRANSLATORS: %s is the list of backup codes, one per line, each line ending in a line break.
      "Right code. Once this login succeeds, the app and these backup codes are saved (each code works once if you lose your phone; they are not shown again):\n%sStore them somewhere safe now.",
      .verbatim(list))
    list.wipe()
    host.tell(text, isError: false)
    text.wipe()
    host.log(.notice, who + ": enrollment at login confirmed; saved only when the whole stack succeeds")
    return .accepted
  }
}

extension Login where Local == FileStateStore {
  /// pam_acct_mgmt and pam_setcred: the application says the whole stack succeeded, so an
  /// enrollment this handle's authentication kept is written now. nil: nothing was kept.
  public static func finishEnrollment(host: Host, context: LoginContext) -> LoginOutcome? {
    guard var bytes = host.take(.enrollment) else { return nil }
    defer { bytes.wipe() }
    let who = context.audit
    guard var pending = PendingEnrollment.decode(bytes) else {
      host.log(.error, who + ": enrollment at login: what was kept cannot be read; nothing saved; denied")
      return .denied
    }
    defer { pending.wipe() }
    guard pending.user == context.user else {
      host.log(.error, who + ": enrollment at login was made for another user; nothing saved; denied")
      return .denied
    }
    guard
      let options = ModuleOptions.resolve(
        arguments: pending.arguments, host: host, orLogThat: "enrollment at login not saved")
    else { return .configurationError }
    guard let account = host.lookupUser(pending.user) else {
      host.log(.notice, who + ": unknown user; enrollment at login not saved")
      return .unknownUser
    }
    return Login(host: host, options: options, context: context).withStore(for: account, .saveEnrollment(pending))
  }
}
