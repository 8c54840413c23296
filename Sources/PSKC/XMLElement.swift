import MFACore

extension XMLReader {
  /// One element: matched by namespace URI and local name, never by the prefix a file happened
  /// to use.
  public struct Element {
    /// The namespace URI ("" for none).
    public var namespace: String
    public var name: String
    /// Attributes other than namespace declarations.
    public var attributes: [Attribute]
    public var children: [Element]
    /// Character data directly inside (references and CDATA resolved), as bytes so that a key
    /// written there can be wiped.
    public var text: [UInt8]
    /// Where its start tag is.
    public var line: Int

    /// The value of the attribute `name` (in no namespace, as PSKC's attributes are).
    public func attribute(_ name: String, namespace: String = "") -> String? {
      attributes.first { $0.name == name && $0.namespace == namespace }?.value
    }

    /// Every child element `name` in `namespace`, in document order.
    public func children(_ namespace: String, _ name: String) -> [Element] {
      children.filter { $0.name == name && $0.namespace == namespace }
    }

    /// The one child `name` in `namespace`; nil when there is none, an error when there are
    /// several (the schemas these files follow allow one).
    public func child(_ namespace: String, _ name: String) throws(XMLError) -> Element? {
      let found = children(namespace, name)
      if found.count > 1 { throw XMLError(line: found[1].line, "more than one <\(name)> in <\(self.name)>") }
      return found.first
    }

    /// The text without leading and trailing white space.
    public var trimmedText: [UInt8] {
      var start = 0
      var end = text.count
      while start < end, XMLReader.isSpace(text[start]) { start += 1 }
      while end > start, XMLReader.isSpace(text[end - 1]) { end -= 1 }
      return Array(text[start..<end])
    }

    /// Overwrites the text of this element and all below it.
    public mutating func wipe() {
      text.wipe()
      for index in children.indices { children[index].wipe() }
    }
  }

  /// A name="value" pair of a start tag.
  public struct Attribute: Equatable {
    public var namespace: String
    public var name: String
    public var value: String
  }
}
