import CLibc
import CPAM
import MFACore

/// All pointer work between libpam and the core: items, the conversation, the user database,
/// privilege dropping and syslog.
struct PAMBridge: LoginHost {
  let handle: OpaquePointer

  /// The module arguments from the stack line, as bytes.
  static func arguments(_ argc: Int32, _ argv: UnsafeMutablePointer<UnsafePointer<CChar>?>?) -> [[UInt8]] {
    guard let argv, argc > 0 else { return [] }
    var result: [[UInt8]] = []
    for index in 0..<Int(argc) {
      if let argument = argv[index] { result.append(HostSystem.bytes(argument)) }
    }
    return result
  }

  /// PAM_USER, asking the application if it has none yet.
  func userName() -> [UInt8]? {
    var name: UnsafePointer<CChar>?
    guard pam_get_user(handle, &name, nil) == PAM_SUCCESS, let name else { return nil }
    return HostSystem.bytes(name)
  }

  /// Who is asking, for audit lines.
  func context(_ user: [UInt8]) -> LoginContext {
    LoginContext(user: user, service: stringItem(PAM_SERVICE), remoteHost: stringItem(PAM_RHOST))
  }

  /// A string item such as PAM_RHOST or PAM_SERVICE; nil when unset.
  func stringItem(_ type: Int32) -> [UInt8]? {
    var item: UnsafeRawPointer?
    guard pam_get_item(handle, type, &item) == PAM_SUCCESS, let item else { return nil }
    return HostSystem.bytes(item.assumingMemoryBound(to: CChar.self))
  }

  func lookupUser(_ name: [UInt8]) -> UserAccount? {
    let entry = name.text.withCString { pam_modutil_getpwnam(handle, $0) }
    guard let entry, let home = entry.pointee.pw_dir, let entryName = entry.pointee.pw_name else {
      return nil
    }
    return UserAccount(
      name: HostSystem.bytes(entryName), uid: entry.pointee.pw_uid, gid: entry.pointee.pw_gid,
      home: HostSystem.bytes(home))
  }

  /// Runs `body` with the user's file-system ids and primary group, then root's again.
  func asUser<Value>(_ account: UserAccount, _ body: () throws(FileError) -> Value) throws(FileError) -> Value {
    try withUserIdentity(account, body)
  }

  func readConfigFile(_ path: String) throws(FileError) -> [UInt8]? {
    try HostSystem.readConfigFile(path)
  }

  func authToken() -> [UInt8]? {
    stringItem(PAM_AUTHTOK)
  }

  func setAuthToken(_ token: [UInt8]) -> Bool {
    // Bytes as typed (a password need not be UTF-8), NUL-terminated; libpam copies it.
    var terminated = token + [0]
    defer { terminated.wipe() }
    return terminated.withUnsafeBufferPointer { pam_set_item(handle, PAM_AUTHTOK, $0.baseAddress) } == PAM_SUCCESS
  }

  func tell(_ text: UserText, isError: Bool) {
    var ignored: UnsafeMutablePointer<CChar>?
    _ = PAMBridge.withCString(text) { mfa_pam_prompt(handle, isError ? PAM_ERROR_MSG : PAM_TEXT_INFO, &ignored, $0) }
    if let ignored { free(ignored) }
  }

  /// The message in the application's language as a C string (bytes in the locale's encoding,
  /// which need not be UTF-8), wiped afterwards: it may hold backup codes.
  static func withCString(_ text: UserText, _ body: (UnsafePointer<CChar>) -> Int32) -> Int32 {
    var bytes = text.rendered()
    bytes.append(0)
    defer { bytes.wipe() }
    return bytes.withUnsafeBufferPointer { buffer in
      buffer.withMemoryRebound(to: CChar.self) { chars in chars.baseAddress.map(body) ?? PAM_BUF_ERR }
    }
  }

  func isMember(_ account: UserAccount, ofGroup group: [UInt8]) -> Bool? {
    HostSystem.isMember(account, ofGroup: group)
  }

  func qrCode(_ text: String) -> QRMatrix? {
    QRMatrix(encoding: text, with: mfa_qr_matrix)
  }

  func hostName() -> [UInt8] {
    HostSystem.hostName()
  }

  func requestFailureDelay() {
    // libpam applies it once, after the whole stack, and only when the stack failed.
    _ = pam_fail_delay(handle, LoginText.failureDelayMicroseconds)
  }

  func prompt(_ text: UserText, echo: Bool) -> [UInt8]? {
    var response: UnsafeMutablePointer<CChar>?
    let style = echo ? PAM_PROMPT_ECHO_ON : PAM_PROMPT_ECHO_OFF
    let status = PAMBridge.withCString(text) { mfa_pam_prompt(handle, style, &response, $0) }
    guard let response else { return nil }
    defer {
      mfa_wipe(response, strlen(response))
      free(response)
    }
    guard status == PAM_SUCCESS else { return nil }
    return HostSystem.bytes(response)
  }

  func keep(_ bytes: [UInt8], in slot: HandleSlot) -> Bool {
    slot.name.withCString { name in
      bytes.withUnsafeBufferPointer { mfa_keep_data(handle, name, $0.baseAddress, $0.count) }
    } == PAM_SUCCESS
  }

  func take(_ slot: HandleSlot) -> [UInt8]? {
    slot.name.withCString { name in
      // Asked for its size first: most logins keep nothing, and then nothing is allocated.
      let length = mfa_take_data(handle, name, nil, 0)
      guard length > 0 else { return nil }
      var bytes = [UInt8](repeating: 0, count: length)
      let taken = bytes.withUnsafeMutableBufferPointer { mfa_take_data(handle, name, $0.baseAddress, $0.count) }
      guard taken == length else {
        bytes.wipe()
        return nil
      }
      return bytes
    }
  }

  func now() -> Int64 {
    Int64(time(nil))
  }

  func log(_ priority: LogPriority, _ message: String) {
    LogText.escaped(message).withCString { mfa_pam_syslog(handle, priority.rawValue, $0) }
  }
}
