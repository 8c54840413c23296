import ArgumentParser
import Glibc
import MFACore

/// `mfa-enroll add-email ADDRESS` / `add-sms NUMBER`: an address codes can be sent to, usable
/// only after the code sent to it has been typed back.
struct AddEmail: CLICommand {
  static let configuration = CommandConfiguration(
    commandName: "add-email",
    abstract: UserText("Receive codes by e-mail (after confirming a code sent there).").string)

  @ParentCommand var root: MFAEnroll
  @Argument(help: ArgumentHelp(UserText("The e-mail address.").string)) var address: String
  @OptionGroup var storeOptions: StoreOptions

  func perform() throws(CLIError) {
    try DeliverySetup.add(.email, address, root: root, secretFile: storeOptions.secretFile)
  }
}

struct AddSMS: CLICommand {
  static let configuration = CommandConfiguration(
    commandName: "add-sms",
    abstract: UserText("Receive codes by text message (after confirming a code sent there).").string)

  @ParentCommand var root: MFAEnroll
  @Argument(help: ArgumentHelp(UserText("The phone number, digits with an optional leading +.").string))
  var number: String
  @OptionGroup var storeOptions: StoreOptions

  func perform() throws(CLIError) {
    try DeliverySetup.add(.sms, number, root: root, secretFile: storeOptions.secretFile)
  }
}

enum DeliverySetup {
  static func add(_ method: DeliveryAddress.Method, _ text: String, root: MFAEnroll, secretFile: String?)
    throws(CLIError)
  {
    let target = try Target.resolve(root.global)
    guard let program = target.options.deliverProgram else {
      throw CLIError(
        UserText(
          "codes cannot be sent here: the administrator has not set deliver= in %s",
          .verbatim(target.options.configPath)))
    }
    let address = Array(text.utf8)
    guard DeliveryAddress.isValid(address, for: method) else {
      throw CLIError(
        method == .email
          ? UserText("%s is not an e-mail address", .verbatim(text))
          : UserText("%s is not a phone number (+ and digits)", .verbatim(text)))
    }
    let delivery = DeliveryAddress(method: method, address: address)
    let store = try target.secretStore(override: secretFile)
    // An address in a file the user writes is used only if the admin's allow-list takes it.
    guard DeliveryPolicy.allows(delivery, options: target.options, writtenByUser: store.isWrittenByUser) else {
      throw CLIError(
        UserText(
          "codes cannot be sent to %s from here: the administrator allows only addresses matching %s in %s for secret files in home directories; nothing was changed",
          .verbatim(text), .verbatim(DeliveryPolicy.setting(for: method)), .verbatim(target.options.configPath)))
    }
    try confirm(delivery, text: text, program: program, user: target.account.name)
    do throws(FileError) {
      if store.exists {
        try store.updateEnrollment { current in
          if !current.deliveries.contains(delivery) { current.deliveries.append(delivery) }
        }
      } else {
        // No app at all: an enrollment with only this address.
        var enrollment = Enrollment(authenticators: [])
        enrollment.deliveries = [delivery]
        try store.create(enrollment)
      }
    } catch {
      throw CLIError(UserText("cannot save %s: %s", .verbatim(store.location.place), .verbatim(error.description)))
    }
    if target.actingForOther { AuditLog.record("added \(method.name) address user=\(target.account.name)") }
    // Whole messages per method: DeliveryAddress.Method.spoken is the log's English.
    Terminal.show(
      method == .email
        ? UserText("Added. At the Verification code prompt, press Enter to get a code by e-mail.")
        : UserText("Added. At the Verification code prompt, press Enter to get a code by text message."))
  }

  /// Sends a code to the new address and asks for it back (three tries): proof that it reaches
  /// the user before it is added.
  static func confirm(_ delivery: DeliveryAddress, text: String, program: String, user: String) throws(CLIError) {
    var code: [UInt8]
    do throws(SystemError) {
      code = try CodeDelivery.randomCode()
    } catch {
      throw CLIError(UserText("cannot make a code: %s", .verbatim(error.description)))
    }
    defer { code.wipe() }
    var input = CodeDelivery.input(
      user: Array(user.utf8), to: delivery, code: code, host: HostSystem.hostName(), ttl: 600)
    let status = CodeDelivery.run(program: program, input: input)
    input.wipe()
    guard status == 0 else {
      throw CLIError(
        UserText(
          "the code could not be sent (%s exited with status %s); nothing was changed", .verbatim(program),
          .verbatim(String(status))))
    }
    Terminal.show(
      delivery.method == .email
        ? UserText("A code was sent by e-mail to %s.", .verbatim(text))
        : UserText("A code was sent by text message to %s.", .verbatim(text)))
    do throws(FirstCode.Failure) {
      try FirstCode.ask(
        prompt: { Terminal.askBytes(UserText("Enter the code you received: ")) },
        check: { answer -> Void? in
          guard case .oneTimeCode(let digits) = answer, constantTimeEqual(digits, code) else { return nil }
          return ()
        }, retry: { _ in Terminal.show(UserText("That code is not right.")) })
    } catch {
      throw CLIError(UserText("the code was not confirmed; %s was not added", .verbatim(text)))
    }
  }
}
