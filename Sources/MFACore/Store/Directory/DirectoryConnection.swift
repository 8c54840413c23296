/// One LDAP operation at a time, as the store plugin performs it. The module and the CLI use
/// `PluginConnection`; unit tests use an in-memory directory with the same semantics.
public protocol DirectoryConnection {
  /// The server, for log lines ("ldaps://ldap.example.org").
  var server: String { get }
  /// The entry's attributes; nil when there is no such entry.
  func read(_ dn: [UInt8]) throws(FileError) -> DirectoryEntry?
  /// One modify, applied atomically. `.conflict`: a value to delete was gone, or a value to
  /// add was there already.
  func modify(_ dn: [UInt8], _ changes: [DirectoryChange]) throws(FileError) -> DirectoryResult
  /// Adds an entry; `.conflict` when it exists.
  func add(_ dn: [UInt8], _ attributes: [DirectoryChange]) throws(FileError) -> DirectoryResult
}

public enum DirectoryResult: Equatable {
  case done
  case conflict
  case noEntry
}

public struct DirectoryChange {
  public enum Operation: UInt8 {
    case add = 0
    case delete = 1
    case replace = 2
  }

  public var operation: Operation
  public var attribute: [UInt8]
  public var values: [[UInt8]]

  public init(_ operation: Operation, _ attribute: [UInt8], _ values: [[UInt8]]) {
    self.operation = operation
    self.attribute = attribute
    self.values = values
  }
}

public struct DirectoryEntry {
  public var attributes: [(name: [UInt8], values: [[UInt8]])]

  public init(attributes: [(name: [UInt8], values: [[UInt8]])]) {
    self.attributes = attributes
  }

  /// Attribute names compare without case, as LDAP's do.
  public func values(_ name: [UInt8]) -> [[UInt8]] {
    for attribute in attributes where DirectoryText.sameName(attribute.name, name) { return attribute.values }
    return []
  }

  /// The entry after a modify of `changes` that the server applied: the login's next step
  /// decides on what is there now without reading it again.
  public mutating func apply(_ changes: [DirectoryChange]) {
    for change in changes {
      let index = attributes.firstIndex { DirectoryText.sameName($0.name, change.attribute) }
      var values = index.map { attributes[$0].values } ?? []
      switch change.operation {
      case .add: values += change.values
      case .delete: values = change.values.isEmpty ? [] : values.filter { !change.values.contains($0) }
      case .replace: values = change.values
      }
      if let index {
        attributes[index].values = values
      } else {
        attributes.append((change.attribute, values))
      }
    }
  }

  public mutating func wipe() {
    for index in attributes.indices {
      for value in attributes[index].values.indices { attributes[index].values[value].wipe() }
    }
  }
}

/// The escaping LDAP needs for names we put in DNs and filters.
public enum DirectoryText {
  /// `uid=NAME,BASE`, with every byte of NAME other than letters, digits, `.`, `_` and `-`
  /// escaped as `\XX` (RFC 4514 allows that for any byte).
  public static func dn(user: [UInt8], base: [UInt8]) -> [UInt8] {
    [UInt8]("uid=") + escaped(user) + [0x2C] + base
  }

  /// A value inside a filter (RFC 4515): the same `\XX` escaping, which also covers `*()\`.
  public static func escaped(_ bytes: [UInt8]) -> [UInt8] {
    var out: [UInt8] = []
    let hex: [UInt8] = Array("0123456789abcdef".utf8)
    for byte in bytes {
      let plain =
        (byte >= 0x61 && byte <= 0x7A) || (byte >= 0x41 && byte <= 0x5A) || ASCII.isDigit(byte) || byte == 0x2E
        || byte == 0x5F || byte == ASCII.dash
      if plain {
        out.append(byte)
      } else {
        out += [0x5C, hex[Int(byte >> 4)], hex[Int(byte & 0x0F)]]
      }
    }
    return out
  }

  static func sameName(_ a: [UInt8], _ b: [UInt8]) -> Bool {
    guard a.count == b.count else { return false }
    for index in a.indices where lower(a[index]) != lower(b[index]) { return false }
    return true
  }

  static func lower(_ byte: UInt8) -> UInt8 { byte >= 0x41 && byte <= 0x5A ? byte + 0x20 : byte }
}
