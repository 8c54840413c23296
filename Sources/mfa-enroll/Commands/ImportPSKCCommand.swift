import ArgumentParser
import Glibc
import MFACore
import PSKC

/// `mfa-enroll --user NAME import pskc FILE`: a hardware token whose key came from its vendor
/// in a PSKC file (RFC 6030), added as one more authenticator after a code from the token.
struct ImportPSKC: CLICommand {
  static let configuration = CommandConfiguration(
    commandName: "pskc",
    abstract: UserText(
      "Add a hardware token (HOTP or TOTP) from its vendor's PSKC file, after a code from it (root only)."
    ).string)

  @ParentCommand var root: MFAEnroll

  @Argument(help: ArgumentHelp(UserText("The PSKC file (RFC 6030) from the token's vendor.").string))
  var file: String

  @Option(
    help: ArgumentHelp(
      UserText("The token's serial number (DeviceInfo/SerialNo): which key of a file with several.").string))
  var serial: String?

  @Option(
    help: ArgumentHelp(
      UserText("The pre-shared key of an encrypted file, as hex digits (a root-owned file, mode 0600).").string,
      valueName: "path"))
  var keyFile: String?

  @Option(help: ArgumentHelp(UserText("The authenticator's name (default: token-SERIAL).").string))
  var name: String?

  @OptionGroup var storeOptions: StoreOptions

  /// A key is at most 64 hex digits; a larger file is not a key file.
  static let maxKeyFileSize = 4096

  func validate() throws {
    if let name, !Authenticator.isValidName(Array(name.utf8)) {
      throw ValidationError(UserText("--name must be 1 to 32 letters, digits, '.', '_' or '-'").string)
    }
  }

  func perform() throws(CLIError) {
    let target = try Target.resolve(root.global, requireRoot: true)
    let store = try target.secretStore(override: storeOptions.secretFile)
    let path = absolute(file)
    var container = try ImportPSKC.readContainer(path)
    defer { container.wipe() }
    let package: PSKCPackage
    do throws(PSKCError) {
      package = try container.select(serial: serial)
    } catch {
      throw ImportPSKC.refusal(path, error)
    }
    var preSharedKey = try keyFile.map { (keyPath) throws(CLIError) in try ImportPSKC.readKeyFile(absolute(keyPath)) }
    defer { preSharedKey?.wipe() }
    var token: PSKCToken
    do throws(PSKCError) {
      let chosen = name.map { Array($0.utf8) } ?? package.defaultName
      token = try container.token(package, name: chosen, preSharedKey: preSharedKey, now: Int64(time(nil)))
    } catch {
      throw ImportPSKC.refusal(path, error)
    }
    Terminal.show(ImportPSKC.describe(package, token.authenticator))
    defer { token.wipe() }
    let tokenName = token.authenticator.name.text
    let other = target.actingForOther ? target.account.name : nil
    if store.exists {
      var existing = try target.readEnrollment(store)
      defer { existing.wipe() }
      if existing.authenticators.contains(where: { $0.name == token.authenticator.name }) {
        throw CLIError(
          other.map {
            UserText(
              "%s already has an authenticator named %s (see mfa-enroll list); choose another with --name",
              .verbatim($0), .verbatim(tokenName))
          }
            ?? UserText(
              "you already have an authenticator named %s (see mfa-enroll list); choose another with --name",
              .verbatim(tokenName)))
      }
      // Codes are spent per authenticator: the same key twice would take each code twice.
      if let same = existing.authenticators.first(where: { ImportPSKC.sameKey($0, token.authenticator) }) {
        let name = UserText.Value.verbatim(same.name.text)
        throw CLIError(
          other.map {
            UserText(
              "%s already has this token's key as %s (see mfa-enroll list); nothing was changed", .verbatim($0), name)
          } ?? UserText("you already have this token's key as %s (see mfa-enroll list); nothing was changed", name))
      }
    }
    var confirmed = try ImportPSKC.confirm(token.authenticator)
    defer { confirmed.wipe() }
    let created = try ImportPSKC.save(confirmed, to: store, actingFor: other)
    AuditLog.record("imported pskc token \(tokenName) serial=\(package.serial ?? "-") user=\(target.account.name)")
    Terminal.show(
      UserText("Imported the token as %s into %s.", .verbatim(tokenName), .verbatim(store.location.place)))
    if let expiry = token.expiry {
      Terminal.show(
        UserText(
          "Its key expires on %s (the file's ExpiryDate), which pam_mfa does not enforce: remove it then (mfa-enroll --user %s remove %s).",
          .verbatim(ImportPSKC.day(expiry)), .verbatim(target.account.name), .verbatim(tokenName)))
    }
    if created {
      let user = target.account.name
      Terminal.show(
        target.actingForOther
          ? UserText(
            "%s had no enrollment: the token is their only authenticator, without backup codes (mfa-enroll --user %s backup-codes makes them).",
            .verbatim(user), .verbatim(user))
          : UserText(
            "You had no enrollment: the token is your only authenticator, without backup codes (mfa-enroll backup-codes makes them)."
          ))
      printWhereCodesAreAsked(for: user, actingForOther: target.actingForOther)
    }
  }

  /// The same key (compared in constant time, as keys are).
  static func sameKey(_ one: Authenticator, _ other: Authenticator) -> Bool {
    one.key.count == other.key.count && constantTimeEqual(one.key, other.key)
  }

  /// The file, read as root without following a link: a regular file of at most
  /// XMLReader.maxSize bytes. Its bytes are wiped once parsed (a plain file holds keys).
  static func readContainer(_ path: String) throws(CLIError) -> PSKCContainer {
    var bytes: [UInt8]
    do throws(FileError) {
      let file: FileDescriptor
      do throws(SystemError) {
        file = try FileDescriptor.open(path, O_RDONLY | O_NOFOLLOW | O_NOCTTY | O_NONBLOCK)
      } catch {
        throw error.code == ELOOP ? FileError.symbolicLink : FileError.system(error)
      }
      let info: stat
      do throws(SystemError) {
        info = try file.status()
      } catch {
        throw FileError.system(error)
      }
      guard info.st_mode & 0o170000 == 0o100000 else { throw FileError.notRegularFile }
      bytes = try file.readAll(maxSize: XMLReader.maxSize)
    } catch {
      throw CLIError(UserText("cannot read %s: %s", .verbatim(path), .verbatim(error.description)))
    }
    defer { bytes.wipe() }
    do throws(PSKCError) {
      return try PSKCContainer.parse(bytes)
    } catch {
      throw ImportPSKC.refusal(path, error)
    }
  }

  /// Why the file or its key cannot be imported. The reason names RFC 6030's elements and stays
  /// as the PSKC reader wrote it, in English: for the administrator, like a log line.
  static func refusal(_ path: String, _ error: PSKCError) -> CLIError {
    CLIError(UserText("%s: %s; nothing was changed", .verbatim(path), .verbatim(error.description)))
  }

  /// The pre-shared key: a file only root can read or write, holding the key as hex digits.
  static func readKeyFile(_ path: String) throws(CLIError) -> [UInt8] {
    var text: [UInt8]
    do throws(FileError) {
      text = try TrustedFile.rootSecret.read(path, maxSize: maxKeyFileSize)
    } catch {
      throw CLIError(
        UserText(
          "key file %s: %s (it must be root's, mode 0600 or stricter)", .verbatim(path), .verbatim(error.description)))
    }
    defer { text.wipe() }
    guard let key = PreSharedKey.parse(text) else {
      throw CLIError(UserText("key file %s: not an AES key as 32, 48 or 64 hex digits", .verbatim(path)))
    }
    return key
  }

  /// "Token 987654321 (Acme): counter-based (HOTP), SHA1, 8 digits, from counter 0."
  static func describe(_ package: PSKCPackage, _ authenticator: Authenticator) -> UserText {
    let algorithm = UserText.Value.verbatim(authenticator.algorithm.name)
    let digits = Int64(authenticator.digits)
    let kind =
      authenticator.kind == .hotp
      ? UserText.plural(
        "counter-based (HOTP), %s, %d digit, from counter %s", "counter-based (HOTP), %s, %d digits, from counter %s",
        count: digits, algorithm, .verbatim(String(authenticator.counter)))
      : UserText.plural(
        "time-based (TOTP), %s, %d digit, every %s s", "time-based (TOTP), %s, %d digits, every %s s", count: digits,
        algorithm, .verbatim(String(authenticator.period)))
    let token =
      (package.serial ?? package.keyID).map { UserText.verbatim($0) } ?? UserText("without a serial number")
    if let maker = package.manufacturer {
      return UserText("Token %s (%s): %s.", .text(token), .verbatim(maker), .text(kind))
    }
    return UserText("Token %s: %s.", .text(token), .text(kind))
  }

  /// A code from the token, checked before anything is saved, and spent: the module never
  /// accepts it for a login.
  static func confirm(_ authenticator: Authenticator) throws(CLIError) -> Enrollment {
    let hotp = authenticator.kind == .hotp
    let digits = Int64(authenticator.digits)
    let question: UserText =
      hotp
      ? .plural(
        "Enter the %d-digit code from the token (press its button): ",
        "Enter the %d-digit code from the token (press its button): ", count: digits)
      : .plural(
        "Enter the %d-digit code the token shows: ", "Enter the %d-digit code the token shows: ", count: digits)
    var single = Enrollment(authenticators: [authenticator])
    defer { single.wipe() }
    let match = try CodeConfirmation.ask(
      question, for: single, accepting: FirstCode.Accepting(window: 1, hotpLookAhead: 10),
      failure: UserText("nothing was changed")
    ) { left in
      Terminal.show(
        hotp
          ? .plural(
            "That code is not right; %d try left. Press the button for the next code.",
            "That code is not right; %d tries left. Press the button for the next code.", count: Int64(left))
          : .plural(
            "That code is not right; %d try left. Check the serial number and this host's clock.",
            "That code is not right; %d tries left. Check the serial number and this host's clock.",
            count: Int64(left)))
    }
    var confirmed = single
    confirmed.spend(match)
    return confirmed
  }

  /// Adds the confirmed token to the user's enrollment, or creates one holding just it; true
  /// when it created one.
  static func save(_ confirmed: Enrollment, to store: any CredentialStore, actingFor other: String?) throws(CLIError)
    -> Bool
  {
    let token = confirmed.authenticators[0]
    let place = store.location.place
    let added: Bool
    do throws(FileError) {
      if !store.exists {
        var created = confirmed
        // A new enrollment: hosts remembered before it must ask again.
        created.forgetBefore = Int64(time(nil))
        try store.save(created, replace: false)
        return true
      }
      added = try store.updateEnrollment { current in
        // Checked again under the lock: another command may have taken the name meanwhile.
        guard !current.authenticators.contains(where: { $0.name == token.name || ImportPSKC.sameKey($0, token) })
        else { return false }
        current.authenticators.append(token)
        return true
      }
    } catch {
      if case .system(let system) = error, system.code == EEXIST {
        throw CLIError(
          UserText("%s appeared meanwhile; nothing was changed (run the import again)", .verbatim(place)))
      }
      throw CLIError(
        UserText("cannot save %s: %s; nothing was changed", .verbatim(place), .verbatim(error.description)))
    }
    guard added else {
      let name = UserText.Value.verbatim(token.name.text)
      throw CLIError(
        other.map {
          UserText("%s already has an authenticator named %s or with its key; nothing was changed", .verbatim($0), name)
        } ?? UserText("you already have an authenticator named %s or with its key; nothing was changed", name))
    }
    return false
  }

  static func day(_ seconds: Int64) -> String {
    CivilDate.format(days: seconds >= 0 ? seconds / 86_400 : (seconds - 86_399) / 86_400)
  }
}
