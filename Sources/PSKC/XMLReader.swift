import MFACore

/// A small, strict XML 1.0 reader for what key files need: elements, attributes, namespaces
/// (prefixes resolved through xmlns declarations, the default namespace), character data with
/// the five predefined entities and character references, CDATA, comments and processing
/// instructions. A DOCTYPE is refused, so no entity is ever expanded; input is UTF-8 only and
/// its size, nesting depth and element count are capped.
public enum XMLReader {
  /// Vendor files with thousands of tokens are a few MB.
  public static let maxSize = 16 << 20
  /// PSKC nests 8 deep; anything far deeper is not a key file.
  public static let maxDepth = 32
  /// About 20 per token: room for 10,000 tokens, not for a file of empty elements.
  public static let maxElements = 250_000
  /// Attributes (namespace declarations included) of one element: duplicates are checked
  /// against the earlier ones, so a bound keeps that linear.
  public static let maxAttributes = 32

  /// The root element of `bytes`, or why they are not a well-formed document.
  public static func parse(_ bytes: [UInt8]) throws(XMLError) -> Element {
    guard bytes.count <= maxSize else {
      throw XMLError(line: 1, "larger than \(maxSize >> 20) MiB")
    }
    var parser = Parser(bytes: bytes)
    return try parser.document()
  }

  static func isSpace(_ byte: UInt8) -> Bool {
    byte == 0x20 || byte == 0x09 || byte == 0x0A || byte == 0x0D
  }
}

/// The reader's position in the input: one pass, no backtracking beyond a lookahead.
struct Parser {
  static let xmlNamespace = "http://www.w3.org/XML/1998/namespace"
  static let xmlnsNamespace = "http://www.w3.org/2000/xmlns/"

  let bytes: [UInt8]
  var position = 0
  var line = 1
  var elements = 0
  /// In-scope namespace declarations, innermost last ("" is the default namespace).
  var bindings: [(prefix: String, uri: String)] = []

  init(bytes: [UInt8]) {
    self.bytes = bytes
  }

  func fail(_ reason: String) -> XMLError { XMLError(line: line, reason) }

  var atEnd: Bool { position >= bytes.count }

  func peek(_ offset: Int = 0) -> UInt8? {
    position + offset < bytes.count ? bytes[position + offset] : nil
  }

  func looksAt(_ literal: String) -> Bool {
    let expected = Array(literal.utf8)
    guard position + expected.count <= bytes.count else { return false }
    return bytes[position..<position + expected.count].elementsEqual(expected)
  }

  /// Moves past one byte, counting lines.
  mutating func advance() {
    if bytes[position] == 0x0A { line += 1 }
    position += 1
  }

  mutating func skip(_ literal: String) {
    for _ in 0..<literal.utf8.count { advance() }
  }

  mutating func expect(_ literal: String, _ what: String) throws(XMLError) {
    guard looksAt(literal) else { throw fail("expected \(what)") }
    skip(literal)
  }

  /// Skips white space; whether there was any.
  @discardableResult
  mutating func skipSpace() -> Bool {
    let start = position
    while let byte = peek(), XMLReader.isSpace(byte) { advance() }
    return position > start
  }

  // MARK: document

  mutating func document() throws(XMLError) -> XMLReader.Element {
    if bytes.starts(with: [0xEF, 0xBB, 0xBF]) {
      position = 3
    } else if bytes.starts(with: [0xFE, 0xFF]) || bytes.starts(with: [0xFF, 0xFE]) {
      throw fail("UTF-16 is not supported: convert the file to UTF-8")
    }
    try checkCharacters()
    if looksAt("<?xml"), let next = peek(5), XMLReader.isSpace(next) { try declaration() }
    try misc()
    guard looksAt("<"), !looksAt("</") else { throw fail(atEnd ? "no root element" : "expected the root element") }
    let root = try element(depth: 1)
    try misc()
    guard atEnd else { throw fail("content after the root element") }
    return root
  }

  /// White space, comments and processing instructions around the root element.
  mutating func misc() throws(XMLError) {
    while true {
      skipSpace()
      if looksAt("<!--") {
        try comment()
      } else if looksAt("<?") {
        try processingInstruction()
      } else if looksAt("<!DOCTYPE") || looksAt("<!doctype") {
        throw fail("a DOCTYPE is not allowed (no entity declarations are expanded)")
      } else if atEnd || looksAt("<") {
        return
      } else {
        throw fail("text outside the root element")
      }
    }
  }

  /// `<?xml version="1.0" encoding="UTF-8" standalone="yes"?>`: only UTF-8 (or its ASCII
  /// subset) is read.
  mutating func declaration() throws(XMLError) {
    skip("<?xml")
    var seen: [String] = []
    while true {
      let spaced = skipSpace()
      if looksAt("?>") {
        skip("?>")
        break
      }
      guard spaced else { throw fail("malformed XML declaration") }
      let name = try self.name()
      skipSpace()
      try expect("=", "'=' in the XML declaration")
      skipSpace()
      let value = try attributeValue()
      guard !seen.contains(name) else { throw fail("\(name) twice in the XML declaration") }
      seen.append(name)
      switch name {
      case "version":
        guard value.hasPrefix("1.") else { throw fail("XML version \(value) is not supported") }
      case "encoding":
        guard ["utf-8", "utf8", "us-ascii", "ascii"].contains(value.lowercased()) else {
          throw fail("encoding \(value) is not supported: convert the file to UTF-8")
        }
      case "standalone":
        guard value == "yes" || value == "no" else { throw fail("standalone must be yes or no") }
      default:
        throw fail("unknown \(name) in the XML declaration")
      }
    }
    guard seen.first == "version" else { throw fail("the XML declaration must start with version") }
  }

  mutating func comment() throws(XMLError) {
    skip("<!--")
    while !looksAt("--") {
      guard !atEnd else { throw fail("unterminated comment") }
      advance()
    }
    guard looksAt("-->") else { throw fail("'--' inside a comment") }
    skip("-->")
  }

  mutating func processingInstruction() throws(XMLError) {
    skip("<?")
    let target = try name()
    if target.lowercased() == "xml" { throw fail("an XML declaration is allowed only at the very start") }
    while !looksAt("?>") {
      guard !atEnd else { throw fail("unterminated processing instruction") }
      advance()
    }
    skip("?>")
  }

  // MARK: elements

  mutating func element(depth: Int) throws(XMLError) -> XMLReader.Element {
    guard depth <= XMLReader.maxDepth else { throw fail("elements nested deeper than \(XMLReader.maxDepth)") }
    elements += 1
    guard elements <= XMLReader.maxElements else { throw fail("more than \(XMLReader.maxElements) elements") }
    let startLine = line
    skip("<")
    let qualified = try name()
    var raw: [(name: String, value: String, line: Int)] = []
    var selfClosing = false
    while true {
      let spaced = skipSpace()
      if looksAt("/>") {
        skip("/>")
        selfClosing = true
        break
      }
      if looksAt(">") {
        skip(">")
        break
      }
      guard spaced else { throw fail(atEnd ? "unterminated start tag <\(qualified)>" : "expected '>' or an attribute") }
      let attributeLine = line
      let attributeName = try name()
      skipSpace()
      try expect("=", "'=' after attribute \(attributeName)")
      skipSpace()
      let value = try attributeValue()
      guard !raw.contains(where: { $0.name == attributeName }) else {
        throw fail("attribute \(attributeName) twice in <\(qualified)>")
      }
      guard raw.count < XMLReader.maxAttributes else {
        throw fail("more than \(XMLReader.maxAttributes) attributes in <\(qualified)>")
      }
      raw.append((attributeName, value, attributeLine))
    }

    // Declarations first: they apply to the element's own name and attributes.
    let outerBindings = bindings.count
    defer { bindings.removeSubrange(outerBindings...) }
    for attribute in raw {
      if attribute.name == "xmlns" {
        bindings.append(("", attribute.value))
      } else if attribute.name.hasPrefix("xmlns:") {
        let prefix = String(attribute.name.dropFirst(6))
        guard !prefix.isEmpty else { throw fail("an empty namespace prefix (xmlns:)") }
        guard !attribute.value.isEmpty else { throw fail("namespace prefix \(prefix) bound to an empty URI") }
        // Namespaces in XML §3: the xml and xmlns namespaces belong to their own prefixes only.
        guard prefix == "xml" || (attribute.value != Parser.xmlNamespace && attribute.value != Parser.xmlnsNamespace)
        else { throw fail("the prefix \(prefix) cannot be bound to \(attribute.value)") }
        guard prefix != "xmlns", prefix != "xml" || attribute.value == Parser.xmlNamespace else {
          throw fail("the prefix \(prefix) cannot be redeclared")
        }
        bindings.append((prefix, attribute.value))
      }
    }
    let (namespace, local) = try resolve(qualified, isAttribute: false)
    var attributes: [XMLReader.Attribute] = []
    for attribute in raw where attribute.name != "xmlns" && !attribute.name.hasPrefix("xmlns:") {
      let (attributeNamespace, attributeLocal) = try resolve(attribute.name, isAttribute: true)
      guard !attributes.contains(where: { $0.namespace == attributeNamespace && $0.name == attributeLocal }) else {
        throw XMLError(line: attribute.line, "attribute \(attribute.name) twice in <\(qualified)>")
      }
      attributes.append(
        XMLReader.Attribute(namespace: attributeNamespace, name: attributeLocal, value: attribute.value))
    }
    var result = XMLReader.Element(
      namespace: namespace, name: local, attributes: attributes, children: [], text: [], line: startLine)
    if !selfClosing { try content(of: &result, qualified: qualified, depth: depth) }
    return result
  }

  /// Character data, child elements, CDATA, comments and PIs up to the end tag.
  mutating func content(of element: inout XMLReader.Element, qualified: String, depth: Int) throws(XMLError) {
    while true {
      guard let byte = peek() else { throw fail("<\(qualified)> is not closed") }
      if byte == 0x3C {  // <
        if looksAt("</") {
          skip("</")
          let closing = try name()
          skipSpace()
          try expect(">", "'>' after </\(closing)")
          guard closing == qualified else { throw fail("</\(closing)> closes <\(qualified)>") }
          return
        } else if looksAt("<!--") {
          try comment()
        } else if looksAt("<![CDATA[") {
          skip("<![CDATA[")
          while !looksAt("]]>") {
            guard !atEnd else { throw fail("unterminated CDATA section") }
            appendCharacter(to: &element.text)
          }
          skip("]]>")
        } else if looksAt("<!") {
          throw fail(looksAt("<!DOCTYPE") ? "a DOCTYPE is not allowed" : "unexpected '<!'")
        } else if looksAt("<?") {
          try processingInstruction()
        } else {
          element.children.append(try self.element(depth: depth + 1))
        }
      } else if byte == 0x26 {  // &
        element.text += try reference()
      } else {
        if looksAt("]]>") { throw fail("']]>' in text") }
        // Room for the whole run at once: a grown buffer would leave a freed partial copy of a key.
        if element.text.capacity == element.text.count {
          var end = position
          while end < bytes.count, bytes[end] != 0x3C, bytes[end] != 0x26 { end += 1 }
          element.text.reserveCapacity(element.text.count + end - position + 16)
        }
        appendCharacter(to: &element.text)
      }
    }
  }

  /// One byte of character data; CR LF and a lone CR become LF, as XML requires.
  mutating func appendCharacter(to text: inout [UInt8]) {
    let byte = bytes[position]
    advance()
    if byte == 0x0D {
      if peek() == 0x0A { advance() }
      text.append(0x0A)
    } else {
      text.append(byte)
    }
  }

  // MARK: names, values, references

  /// An XML name (letters, digits, '_', '-', '.', ':' and any non-ASCII character).
  mutating func name() throws(XMLError) -> String {
    let start = position
    while let byte = peek(), Parser.isNameByte(byte) { advance() }
    guard position > start else { throw fail(atEnd ? "unexpected end of the file" : "expected a name") }
    let first = bytes[start]
    guard !ASCIIClass.isDigit(first), first != 0x2D, first != 0x2E else { throw fail("a name cannot start with that") }
    return String(decoding: bytes[start..<position], as: UTF8.self)
  }

  static func isNameByte(_ byte: UInt8) -> Bool {
    ASCIIClass.isLetter(byte) || ASCIIClass.isDigit(byte) || byte == 0x5F || byte == 0x2D || byte == 0x2E
      || byte == 0x3A || byte >= 0x80
  }

  /// (namespace URI, local name) of a qualified name; an unprefixed attribute is in no namespace.
  func resolve(_ qualified: String, isAttribute: Bool) throws(XMLError) -> (String, String) {
    let parts = qualified.split(separator: ":", omittingEmptySubsequences: false)
    switch parts.count {
    case 1:
      if isAttribute { return ("", qualified) }
      return (bindings.last { $0.prefix == "" }?.uri ?? "", qualified)
    case 2 where !parts[0].isEmpty && !parts[1].isEmpty:
      let prefix = String(parts[0])
      if prefix == "xml" { return (Parser.xmlNamespace, String(parts[1])) }
      guard let uri = bindings.last(where: { $0.prefix == prefix })?.uri else {
        throw fail("namespace prefix \(prefix) is not declared")
      }
      return (uri, String(parts[1]))
    default:
      throw fail("malformed qualified name \(qualified)")
    }
  }

  /// A quoted attribute value, references resolved and white space normalised to spaces.
  mutating func attributeValue() throws(XMLError) -> String {
    guard let quote = peek(), quote == 0x22 || quote == 0x27 else { throw fail("expected a quoted value") }
    advance()
    var value: [UInt8] = []
    while true {
      guard let byte = peek() else { throw fail("unterminated attribute value") }
      if byte == quote {
        advance()
        break
      }
      switch byte {
      case 0x3C: throw fail("'<' in an attribute value")
      case 0x26: value += try reference()
      case 0x09, 0x0A, 0x0D:
        appendCharacter(to: &value)
        value[value.count - 1] = 0x20
      default:
        advance()
        value.append(byte)
      }
    }
    return String(decoding: value, as: UTF8.self)
  }

  /// `&lt;` `&gt;` `&amp;` `&apos;` `&quot;` `&#N;` `&#xH;` as UTF-8; any other entity is an
  /// error (there is no DTD to declare one).
  mutating func reference() throws(XMLError) -> [UInt8] {
    advance()
    let start = position
    while let byte = peek(), byte != 0x3B {
      guard position - start < 12, !XMLReader.isSpace(byte), byte != 0x26, byte != 0x3C else {
        throw fail("'&' that starts no reference (write &amp;)")
      }
      advance()
    }
    guard peek() == 0x3B else { throw fail("unterminated reference") }
    let body = Array(bytes[start..<position])
    advance()
    switch String(decoding: body, as: UTF8.self) {
    case "lt": return [0x3C]
    case "gt": return [0x3E]
    case "amp": return [0x26]
    case "apos": return [0x27]
    case "quot": return [0x22]
    default: break
    }
    guard body.first == 0x23, let scalar = Parser.characterReference(Array(body.dropFirst())) else {
      throw fail("unknown entity &\(String(decoding: body, as: UTF8.self)); (only the five predefined ones)")
    }
    return Array(String(Character(scalar)).utf8)
  }

  /// The character of `N` or `xH` (after '#'), if it is one XML allows.
  static func characterReference(_ digits: [UInt8]) -> Unicode.Scalar? {
    var hex = false
    var text = digits[...]
    if text.first == 0x78 {  // x
      hex = true
      text = text.dropFirst()
    }
    guard !text.isEmpty, text.count <= 8 else { return nil }
    var value: UInt32 = 0
    for byte in text {
      guard let digit = ASCIIClass.digitValue(byte, hex: hex) else { return nil }
      value = value * (hex ? 16 : 10) + digit
    }
    guard isXMLCharacter(value) else { return nil }
    return Unicode.Scalar(value)
  }

  static func isXMLCharacter(_ value: UInt32) -> Bool {
    value == 0x9 || value == 0xA || value == 0xD || (0x20...0xD7FF).contains(value)
      || (0xE000...0xFFFD).contains(value) || (0x10000...0x10FFFF).contains(value)
  }

  // MARK: encoding

  /// The whole input is well-formed UTF-8 of characters XML allows (no NUL or other control
  /// bytes but tab, LF and CR): checked once, so the rest can work on bytes.
  mutating func checkCharacters() throws(XMLError) {
    var index = position
    var lineHere = 1
    while index < bytes.count {
      let byte = bytes[index]
      if byte < 0x80 {
        if byte < 0x20 && byte != 0x09 && byte != 0x0A && byte != 0x0D {
          throw XMLError(line: lineHere, "a control character (byte \(byte)) is not allowed")
        }
        if byte == 0x0A { lineHere += 1 }
        index += 1
        continue
      }
      guard let (value, length) = Parser.decodeUTF8(bytes, at: index), Parser.isXMLCharacter(value) else {
        throw XMLError(line: lineHere, "not valid UTF-8")
      }
      index += length
    }
  }

  /// The scalar value and length of the multi-byte sequence at `index`; nil for overlong
  /// forms, surrogates, values past U+10FFFF and truncated sequences.
  static func decodeUTF8(_ bytes: [UInt8], at index: Int) -> (UInt32, Int)? {
    let first = bytes[index]
    let length: Int
    let minimum: UInt32
    var value: UInt32
    switch first {
    case 0xC2...0xDF: (length, minimum, value) = (2, 0x80, UInt32(first & 0x1F))
    case 0xE0...0xEF: (length, minimum, value) = (3, 0x800, UInt32(first & 0x0F))
    case 0xF0...0xF4: (length, minimum, value) = (4, 0x10000, UInt32(first & 0x07))
    default: return nil
    }
    guard index + length <= bytes.count else { return nil }
    for offset in 1..<length {
      let next = bytes[index + offset]
      guard next & 0xC0 == 0x80 else { return nil }
      value = value << 6 | UInt32(next & 0x3F)
    }
    guard value >= minimum, value <= 0x10FFFF, !(0xD800...0xDFFF).contains(value) else { return nil }
    return (value, length)
  }
}

/// ASCII character classes for the reader (the core's are internal to it).
enum ASCIIClass {
  static func isDigit(_ byte: UInt8) -> Bool { byte >= 0x30 && byte <= 0x39 }
  static func isLetter(_ byte: UInt8) -> Bool { (byte | 0x20) >= 0x61 && (byte | 0x20) <= 0x7A }

  static func digitValue(_ byte: UInt8, hex: Bool) -> UInt32? {
    if isDigit(byte) { return UInt32(byte - 0x30) }
    guard hex else { return nil }
    let lower = byte | 0x20
    return lower >= 0x61 && lower <= 0x66 ? UInt32(lower - 0x61 + 10) : nil
  }
}
