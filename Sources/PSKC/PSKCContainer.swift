import MFACore

/// A PSKC KeyContainer (RFC 6030): how its encrypted values are protected, declared once, and
/// its KeyPackages, each a device (a token) with its key.
public struct PSKCContainer {
  /// The packages that carry a key, in file order.
  public var packages: [PSKCPackage]
  /// <EncryptionKey>: which key encrypts the values (here: a pre-shared key, by name).
  var encryptionKey: XMLReader.Element?
  /// <MACMethod>: the MAC over each encrypted value and its key, encrypted as well.
  var macMethod: XMLReader.Element?

  /// The container in `bytes`; nothing is decrypted yet.
  public static func parse(_ bytes: [UInt8]) throws(PSKCError) -> PSKCContainer {
    var root: XMLReader.Element
    do throws(XMLError) {
      root = try XMLReader.parse(bytes)
    } catch {
      throw .malformed("not well-formed XML: \(error.description)")
    }
    guard root.namespace == PSKCNames.pskc, root.name == "KeyContainer" else {
      root.wipe()
      throw .malformed("not a PSKC file (RFC 6030): the root element is not KeyContainer in \(PSKCNames.pskc)")
    }
    let version = root.attribute("Version") ?? ""
    guard version == "1.0" || version == "1" else {
      root.wipe()
      throw .unsupported("PSKC version '\(version)' is not supported (only 1.0, RFC 6030)")
    }
    do throws(XMLError) {
      var container = PSKCContainer(
        packages: [], encryptionKey: try root.child(PSKCNames.pskc, "EncryptionKey"),
        macMethod: try root.child(PSKCNames.pskc, "MACMethod"))
      for package in root.children(PSKCNames.pskc, "KeyPackage") {
        if let parsed = try PSKCPackage(package) { container.packages.append(parsed) }
      }
      root.wipe()
      return container
    } catch {
      root.wipe()
      throw .malformed("not a valid PSKC file: \(error.description)")
    }
  }

  /// The package to import: the one with serial number `serial`, or the only one.
  public func select(serial: String?) throws(PSKCError) -> PSKCPackage {
    guard let serial else {
      guard packages.count == 1 else {
        if packages.isEmpty { throw .selection("the file holds no key") }
        let serials = packages.prefix(5).map { $0.serial ?? "(none)" }.joined(separator: ", ")
        throw .selection(
          "the file holds \(packages.count) keys (serial numbers \(serials)\(packages.count > 5 ? ", ..." : "")); "
            + "choose one with --serial")
      }
      return packages[0]
    }
    let matching = packages.filter { $0.serial == serial }
    guard matching.count == 1 else {
      throw .selection(
        matching.isEmpty
          ? "the file holds no key with serial number \(serial) (DeviceInfo/SerialNo)"
          : "the file holds \(matching.count) keys with serial number \(serial)")
    }
    return matching[0]
  }

  /// Overwrites every key in memory.
  public mutating func wipe() {
    encryptionKey?.wipe()
    macMethod?.wipe()
    for index in packages.indices { packages[index].wipe() }
  }
}

/// One KeyPackage: the device (DeviceInfo) and its one key.
public struct PSKCPackage {
  /// DeviceInfo/SerialNo: what --serial matches, and the default authenticator name.
  public var serial: String?
  public var manufacturer: String?
  /// The Key element's Id and Algorithm.
  public var keyID: String?
  public var algorithm: String
  var device: XMLReader.Element?
  var key: XMLReader.Element

  /// nil for a package without a key (a device record only).
  init?(_ package: XMLReader.Element) throws(XMLError) {
    let keys = package.children(PSKCNames.pskc, "Key")
    guard let key = keys.first else { return nil }
    guard keys.count == 1 else { throw XMLError(line: package.line, "a KeyPackage with more than one Key") }
    self.key = key
    device = try package.child(PSKCNames.pskc, "DeviceInfo")
    serial = try PSKCPackage.label(device?.child(PSKCNames.pskc, "SerialNo"), spaces: false)
    manufacturer = try PSKCPackage.label(device?.child(PSKCNames.pskc, "Manufacturer"), spaces: true)
    keyID = key.attribute("Id")
    // Printed to root's terminal and written to the audit log: no controls, no forged fields.
    if let keyID, !PSKCPackage.isLabel(Array(keyID.utf8), spaces: false) {
      throw XMLError(line: key.line, "a Key Id with characters other than printable ASCII (or a space)")
    }
    guard let algorithm = key.attribute("Algorithm") else {
      throw XMLError(line: key.line, "a Key without an Algorithm")
    }
    self.algorithm = algorithm
  }

  /// A SerialNo or Manufacturer: printable ASCII, at most 64 characters (spaces only in names).
  static func label(_ element: XMLReader.Element?, spaces: Bool) throws(XMLError) -> String? {
    guard let element else { return nil }
    let text = element.trimmedText
    guard isLabel(text, spaces: spaces) else {
      throw XMLError(
        line: element.line, "\(element.name) has characters other than printable ASCII\(spaces ? "" : " (or a space)")")
    }
    return text.text
  }

  static func isLabel(_ text: [UInt8], spaces: Bool) -> Bool {
    text.count <= 64 && text.allSatisfy { ($0 > 0x20 || (spaces && $0 == 0x20)) && $0 < 0x7F }
  }

  /// `token-SERIAL` (else `token-KEYID`, else `token`) in the characters authenticator names
  /// allow, at most 32 of them.
  public var defaultName: [UInt8] {
    var name = Array("token".utf8)
    if let id = serial ?? keyID, !id.isEmpty {
      name.append(0x2D)
      for byte in id.utf8 {
        let allowed =
          ASCIIClass.isLetter(byte) || ASCIIClass.isDigit(byte) || byte == 0x2E || byte == 0x5F || byte == 0x2D
        name.append(allowed ? byte : 0x2D)
      }
    }
    return Array(name.prefix(Authenticator.nameLengthRange.upperBound))
  }

  mutating func wipe() {
    key.wipe()
    device?.wipe()
  }
}
