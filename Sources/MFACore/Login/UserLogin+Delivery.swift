/// Codes sent by e-mail or text message (deliver=): which address, and sending one.
extension UserLogin {
  /// An empty answer: a fresh code to the user's first delivery address, if the rate limit
  /// allows; the user is told either way. A failed delivery never counts as a success.
  func send(by program: String, to delivery: DeliveryAddress) {
    let now = host.now()
    let decision: CodeDelivery.Decision
    do throws(FileError) {
      decision = try login.local.update(user: account.name) { (state) throws(FileError) -> CodeDelivery.Decision in
        CodeDelivery.prepare(&state, options: options, now: now)
      }
    } catch {
      host.log(.error, who + ": cannot record a code to send: state " + error.description)
      host.tell(UserText("No code could be sent. Use your app or a backup code."), isError: true)
      return
    }
    switch decision {
    case .rateLimited(let nextAt):
      host.log(.notice, who + ": code by " + delivery.method.name + " refused: send limit reached")
      host.tell(
        UserText(
          "Too many codes sent. The next can be sent in %s.", .text(LoginText.describe(seconds: max(1, nextAt - now)))),
        isError: true)
    case .failed:
      host.log(.error, who + ": cannot make a code to send")
      host.tell(UserText("No code could be sent. Use your app or a backup code."), isError: true)
    case .send(var code):
      var input = CodeDelivery.input(
        user: account.name, to: delivery, code: code, host: host.hostName(), ttl: options.deliverTTL)
      code.wipe()
      let status = CodeDelivery.run(program: program, input: input)
      input.wipe()
      if status == 0 {
        host.log(.info, who + ": code sent by " + delivery.method.name + " to " + delivery.masked)
        let masked = UserText.Value.verbatim(delivery.masked)
        let valid = UserText.Value.text(LoginText.describe(seconds: options.deliverTTL))
        host.tell(
          delivery.method == .email
            ? UserText("A code was sent by e-mail to %s; it is valid for %s.", masked, valid)
            : UserText("A code was sent by text message to %s; it is valid for %s.", masked, valid), isError: false)
      } else {
        host.log(
          .error,
          who + ": delivery program " + program
            + (status == -2
              ? " refused: it must be a regular file owned by root and writable by no one else (not a link), "
                + "in directories only root may write"
              : " failed (status " + String(status) + ")"))
        host.tell(
          UserText("The code could not be sent. Use your app or a backup code, or try again later."), isError: true)
      }
    }
  }

  /// The first address codes may be sent to (DeliveryPolicy); nil without deliver= or one.
  func deliveryAddress(_ enrollment: Enrollment) -> DeliveryAddress? {
    // A code is sent only at a root login: a user's own process cannot ask root to send one.
    guard options.deliverProgram != nil, !options.callerIsUnprivileged, !enrollment.deliveries.isEmpty else {
      return nil
    }
    let allowed = enrollment.deliveries.first {
      DeliveryPolicy.allows($0, options: options, writtenByUser: store.isWrittenByUser)
    }
    if allowed == nil {
      host.log(
        .notice,
        who + ": no delivery address in " + store.location.place
          + " is allowed (the user writes that file: deliver_domains= and deliver_numbers= decide); none offered")
    }
    return allowed
  }
}
