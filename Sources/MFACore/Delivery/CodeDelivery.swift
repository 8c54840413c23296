import CLibc

/// Codes sent by e-mail or text message (`deliver=`): made and recorded under the user's lock
/// (rate limit, single use, `deliver_ttl` life, only a salted SHA-256 stored), then handed to the
/// admin's delivery program on its standard input — never on its command line.
public enum CodeDelivery {
  public static let codeLength = 6
  static let saltLength = 16

  /// What the send step decided under the lock.
  enum Decision {
    case send([UInt8])
    case rateLimited(nextAt: Int64)
    case failed
  }

  /// A uniformly random 6-digit code (rejection sampling: no modulo bias).
  public static func randomCode() throws(SystemError) -> [UInt8] {
    while true {
      var bytes = try SystemRandom.bytes(4)
      var value: UInt32 = 0
      for byte in bytes { value = value << 8 | UInt32(byte) }
      bytes.wipe()
      if value >= 4_294_000_000 { continue }
      var code = [UInt8](repeating: ASCII.zero, count: codeLength)
      var rest = value % 1_000_000
      for index in stride(from: codeLength - 1, through: 0, by: -1) {
        code[index] = ASCII.zero + UInt8(rest % 10)
        rest /= 10
      }
      return code
    }
  }

  static func digest(_ code: [UInt8], salt: [UInt8]) -> [UInt8]? { Crypto.sha256(salt + code) }

  /// Under the lock: a new code unless the user has had `deliverLimit` in `deliverInterval`.
  static func prepare(_ state: inout UserState, options: ModuleOptions, now: Int64) -> Decision {
    state.sendTimes.removeAll { now - $0 >= options.deliverInterval }
    state.sentCodes.removeAll { $0.expires <= now }
    if state.sendTimes.count >= options.deliverLimit {
      return .rateLimited(nextAt: (state.sendTimes.min() ?? now) + options.deliverInterval)
    }
    guard let code = try? randomCode(), let salt = try? SystemRandom.bytes(saltLength),
      let hash = digest(code, salt: salt)
    else { return .failed }
    state.sentCodes.append(UserState.SentCode(salt: salt, hash: hash, expires: now + options.deliverTTL))
    state.sendTimes.append(now)
    return .send(code)
  }

  /// Whether `code` is a valid sent code; a match is removed (single use). Every stored code is
  /// compared in constant time.
  static func consume(_ code: [UInt8], state: inout UserState, now: Int64) -> Bool {
    state.sentCodes.removeAll { $0.expires <= now }
    var found: Int?
    for (index, sent) in state.sentCodes.enumerated() {
      if let hash = digest(code, salt: sent.salt), constantTimeEqual(hash, sent.hash), found == nil { found = index }
    }
    guard let found else { return false }
    state.sentCodes.remove(at: found)
    return true
  }

  /// What the delivery program reads on stdin: who, how, where, then a blank line and the text.
  public static func input(user: [UInt8], to delivery: DeliveryAddress, code: [UInt8], host: [UInt8], ttl: Int64)
    -> [UInt8]
  {
    var text = [UInt8]("user=") + user + [UInt8]("\nmethod=" + delivery.method.name + "\naddress=")
    text += delivery.address
    // The message the user reads, in the application's language like the prompt.
    var message = UserText(
      "Your verification code for %s is %s. It is valid for %s.", .verbatim(host), .verbatim(code),
      .text(LoginText.describe(seconds: ttl)))
    var body = message.rendered()
    message.wipe()
    text += [UInt8]("\n\n") + body + [UInt8]("\n")
    body.wipe()
    return text
  }

  /// Runs the program and returns its exit status (0: sent). It runs as root inside the PAM
  /// host, so it must be a regular file owned by root that no one else can write, not a link,
  /// in directories that only root controls (-2 otherwise); the file that was checked is the one
  /// that runs (by its descriptor), with nothing inherited from the host but stdin.
  public static func run(program: String, input: [UInt8]) -> Int32 {
    do throws(FileError) {
      let file = try TrustedFile.rootProgram.open(program)
      let status = input.withUnsafeBufferPointer { buffer in
        buffer.withMemoryRebound(to: CChar.self) { chars in
          program.withCString { mfa_run_checked(file.rawValue, $0, chars.baseAddress, chars.count, 15) }
        }
      }
      file.close()
      return status
    } catch .notFound {
      // Missing: it cannot be started (-1), reported like any failure to start.
      return -1
    } catch {
      return -2
    }
  }
}
