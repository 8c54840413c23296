import CLibc

/// A connection to the directory through the store plugin (store_ldap.so), which pam_mfa
/// loads only when `store=ldap` is set: hosts that use files never load libldap.
public final class PluginConnection: DirectoryConnection {
  let plugin: UnsafePointer<mfa_store_plugin>
  let handle: UnsafeMutableRawPointer
  public let server: String

  static let errorSize = 512

  init(plugin: UnsafePointer<mfa_store_plugin>, handle: UnsafeMutableRawPointer, server: String) {
    self.plugin = plugin
    self.handle = handle
    self.server = server
  }

  deinit { plugin.pointee.close?(handle) }

  /// Loads the plugin, connects to `uri` with TLS and binds; errors name the server. Which
  /// server to try when is DirectoryServers' business.
  static func open(_ settings: DirectorySettings, uri: String) throws(FileError) -> PluginConnection {
    let server = uri
    var message = [CChar](repeating: 0, count: errorSize)
    let file = try checkedPlugin(settings.plugin)
    let loaded = settings.plugin.withCString { path in
      message.withUnsafeMutableBufferPointer { mfa_store_plugin_load(file.rawValue, path, $0.baseAddress, $0.count) }
    }
    file.close()
    guard let plugin = loaded, let open = plugin.pointee.open else {
      throw .directory("store plugin " + text(message))
    }
    // The client key is the host's identity: root's alone, as for the password file.
    if let key = settings.keyFile {
      do throws(FileError) {
        try TrustedFile.rootSecret.check(key)
      } catch {
        throw .directory("ldap_key " + key + " " + error.description)
      }
    }
    var password: [UInt8]?
    if let file = settings.passwordFile, settings.certFile == nil {
      do throws(FileError) {
        // The password file is root's alone, like the key it replaces.
        var contents = try TrustedFile.rootSecret.read(file, maxSize: 4096)
        defer { contents.wipe() }
        password = SecretFileFormat.lines(contents).first?.trimmed() ?? []
      } catch {
        throw .directory("ldap_password_file " + file + " " + error.description)
      }
    }
    var buffer: [UInt8] = []
    defer {
      buffer.wipe()
      password?.wipe()
    }
    func put(_ key: String, _ value: [UInt8]?) {
      guard let value else { return }
      buffer += [UInt8](key) + [ASCII.equals] + value + [0]
    }
    put("uri", [UInt8](uri))
    put("ca", settings.caFile.map { [UInt8]($0) })
    put("cert", settings.certFile.map { [UInt8]($0) })
    put("key", settings.keyFile.map { [UInt8]($0) })
    put("bind_dn", settings.bindDN)
    put("password", password)
    put("timeout_ms", [UInt8](String(settings.timeout * 1000)))
    let handle = buffer.withUnsafeBufferPointer { bytes in
      message.withUnsafeMutableBufferPointer { open(bytes.baseAddress, bytes.count, $0.baseAddress, $0.count) }
    }
    guard let handle else { throw .directory(text(message)) }
    return PluginConnection(plugin: plugin, handle: handle, server: server)
  }

  /// The plugin runs as root inside the PAM host: it must be trusted like the delivery program.
  static func checkedPlugin(_ path: String) throws(FileError) -> FileDescriptor {
    do throws(FileError) {
      return try TrustedFile.rootProgram.open(path)
    } catch {
      let reason: String
      switch error {
      case .notFound: reason = SystemError("open", code: ENOENT).reason
      case .symbolicLink: reason = SystemError("open", code: ELOOP).reason
      case .system(let failure): reason = failure.reason
      case .untrustedDirectory: reason = error.description
      default: reason = "must be a regular file owned by root and writable by no one else"
      }
      throw .directory("store plugin " + path + ": " + reason)
    }
  }

  public func read(_ dn: [UInt8]) throws(FileError) -> DirectoryEntry? {
    guard let read = plugin.pointee.read else { throw .directory(server + ": plugin without read") }
    var message = [CChar](repeating: 0, count: PluginConnection.errorSize)
    var out: UnsafeMutablePointer<UInt8>?
    var length = 0
    let status = PluginConnection.withCString(dn) { name in
      message.withUnsafeMutableBufferPointer { read(handle, name, &out, &length, $0.baseAddress, $0.count) }
    }
    defer { plugin.pointee.release?(out, length) }
    if Int(status) == Int(MFA_STORE_NO_ENTRY) { return nil }
    guard Int(status) == Int(MFA_STORE_DONE), let out else { throw .directory(PluginConnection.text(message)) }
    guard let entry = PluginConnection.decode(UnsafeBufferPointer(start: out, count: length)) else { throw malformed() }
    return entry
  }

  public func modify(_ dn: [UInt8], _ changes: [DirectoryChange]) throws(FileError) -> DirectoryResult {
    guard let modify = plugin.pointee.modify else { throw .directory(server + ": plugin without modify") }
    return try send(dn, changes) { modify(handle, $0, $1, $2, $3, $4) }
  }

  /// Every entry one level under `base` matching `filter`, as (DN, entry).
  public func list(_ base: [UInt8], filter: [UInt8]) throws(FileError) -> [(dn: [UInt8], entry: DirectoryEntry)] {
    guard let list = plugin.pointee.list else { throw .directory(server + ": plugin without list") }
    var message = [CChar](repeating: 0, count: PluginConnection.errorSize)
    var out: UnsafeMutablePointer<UInt8>?
    var length = 0
    let status = PluginConnection.withCString(base) { name in
      PluginConnection.withCString(filter) { filter in
        message.withUnsafeMutableBufferPointer { list(handle, name, filter, &out, &length, $0.baseAddress, $0.count) }
      }
    }
    defer { plugin.pointee.release?(out, length) }
    if Int(status) == Int(MFA_STORE_NO_ENTRY) { throw .notFound }
    guard Int(status) == Int(MFA_STORE_DONE) else { throw .directory(PluginConnection.text(message)) }
    guard let out else { return [] }
    var reader = PluginReader(UnsafeBufferPointer(start: out, count: length))
    var entries: [(dn: [UInt8], entry: DirectoryEntry)] = []
    while !reader.isAtEnd {
      guard let dnLength = reader.number(4), let dn = reader.take(dnLength), let entryLength = reader.number(4),
        let bytes = reader.slice(entryLength), let entry = PluginConnection.decode(bytes)
      else { throw malformed() }
      entries.append((dn, entry))
    }
    return entries
  }

  func malformed() -> FileError { .directory(server + ": the plugin returned a malformed entry") }

  public func add(_ dn: [UInt8], _ attributes: [DirectoryChange]) throws(FileError) -> DirectoryResult {
    guard let add = plugin.pointee.add else { throw .directory(server + ": plugin without add") }
    return try send(dn, attributes) { add(handle, $0, $1, $2, $3, $4) }
  }

  /// Encodes `changes`, hands DN, changes and an error buffer to `call` (one plugin function),
  /// and maps its status; the encoded values (which may hold secrets) are wiped afterwards.
  func send(
    _ dn: [UInt8], _ changes: [DirectoryChange],
    _ call: (UnsafePointer<CChar>?, UnsafePointer<UInt8>?, Int, UnsafeMutablePointer<CChar>?, Int) -> Int32
  ) throws(FileError) -> DirectoryResult {
    var encoded = PluginConnection.encode(changes)
    defer { encoded.wipe() }
    var message = [CChar](repeating: 0, count: PluginConnection.errorSize)
    let status = PluginConnection.withCString(dn) { name in
      encoded.withUnsafeBufferPointer { bytes in
        message.withUnsafeMutableBufferPointer { call(name, bytes.baseAddress, bytes.count, $0.baseAddress, $0.count) }
      }
    }
    return try result(status, message)
  }

  func result(_ status: Int32, _ message: [CChar]) throws(FileError) -> DirectoryResult {
    if Int(status) == Int(MFA_STORE_DONE) { return .done }
    if Int(status) == Int(MFA_STORE_CONFLICT) { return .conflict }
    if Int(status) == Int(MFA_STORE_NO_ENTRY) { return .noEntry }
    if Int(status) == Int(MFA_STORE_REFUSED) { throw .directoryRefused(PluginConnection.text(message)) }
    throw .directory(PluginConnection.text(message))
  }

  /// `op(1) namelen(2) name count(4) (len(4) bytes)*` per change (mfa_store_plugin.h).
  static func encode(_ changes: [DirectoryChange]) -> [UInt8] {
    var out: [UInt8] = []
    for change in changes {
      out.append(change.operation.rawValue)
      out += [
        UInt8(truncatingIfNeeded: change.attribute.count >> 8), UInt8(truncatingIfNeeded: change.attribute.count),
      ]
      out += change.attribute
      appendLength(&out, change.values.count)
      for value in change.values {
        appendLength(&out, value.count)
        out += value
      }
    }
    return out
  }

  static func appendLength(_ out: inout [UInt8], _ value: Int) {
    for shift in [24, 16, 8, 0] { out.append(UInt8(truncatingIfNeeded: value >> shift)) }
  }

  /// `namelen(2) name count(4) (len(4) bytes)*` per attribute.
  static func decode(_ bytes: UnsafeBufferPointer<UInt8>) -> DirectoryEntry? {
    var attributes: [(name: [UInt8], values: [[UInt8]])] = []
    var reader = PluginReader(bytes)
    while !reader.isAtEnd {
      guard let nameLength = reader.number(2), let name = reader.take(nameLength), let count = reader.number(4) else {
        return nil
      }
      var values: [[UInt8]] = []
      for _ in 0..<count {
        guard let length = reader.number(4), let value = reader.take(length) else { return nil }
        values.append(value)
      }
      attributes.append((name, values))
    }
    return DirectoryEntry(attributes: attributes)
  }

  static func text(_ message: [CChar]) -> String {
    var bytes: [UInt8] = []
    for char in message {
      if char == 0 { break }
      bytes.append(UInt8(bitPattern: char))
    }
    return bytes.text
  }

  /// NUL-terminated (an embedded NUL is dropped: DNs and filters never hold one).
  static func withCString<R>(_ bytes: [UInt8], _ body: (UnsafePointer<CChar>?) -> R) -> R {
    let terminated = bytes.filter { $0 != 0 } + [0]
    return terminated.withUnsafeBufferPointer { buffer in
      buffer.withMemoryRebound(to: CChar.self) { body($0.baseAddress) }
    }
  }

}

/// Reads what the plugin returns (mfa_store_plugin.h): big-endian lengths and the byte runs they
/// announce, never past the end.
struct PluginReader {
  let bytes: UnsafeBufferPointer<UInt8>
  var at = 0

  init(_ bytes: UnsafeBufferPointer<UInt8>) { self.bytes = bytes }

  var isAtEnd: Bool { at >= bytes.count }

  mutating func slice(_ count: Int) -> UnsafeBufferPointer<UInt8>? {
    guard count >= 0, bytes.count - at >= count else { return nil }
    defer { at += count }
    return UnsafeBufferPointer(rebasing: bytes[at..<(at + count)])
  }

  mutating func take(_ count: Int) -> [UInt8]? { slice(count).map { Array($0) } }

  mutating func number(_ size: Int) -> Int? { take(size)?.reduce(0) { $0 << 8 | Int($1) } }
}
