import MFACore
import Testing

@testable import PSKC

/// The XML reader: namespaces by URI, the predefined entities and character references, CDATA,
/// comments and PIs, and the refusals (DOCTYPE, malformed input, limits) with their lines.
@Suite struct XMLReaderTests {
  static func parse(_ text: String) throws(XMLError) -> XMLReader.Element {
    try XMLReader.parse(Array(text.utf8))
  }

  static func error(_ text: String) -> XMLError? {
    do throws(XMLError) {
      _ = try parse(text)
      return nil
    } catch {
      return error
    }
  }

  @Test func elementsMatchByNamespaceURINotPrefix() throws {
    let root = try Self.parse(
      """
      <?xml version="1.0" encoding="UTF-8"?>
      <p:a xmlns:p="urn:one" xmlns="urn:default" xmlns:q="urn:one">
        <b/><q:c x="1" q:y="2"/><p:c/>
        <d xmlns=""><e/></d>
      </p:a>
      """)
    #expect(root.namespace == "urn:one" && root.name == "a")
    #expect(root.children("urn:default", "b").count == 1)
    // Two prefixes, one URI: the same name.
    let cs = root.children("urn:one", "c")
    #expect(cs.count == 2)
    #expect(cs[0].attribute("x") == "1")
    #expect(cs[0].attribute("y") == nil)
    #expect(cs[0].attribute("y", namespace: "urn:one") == "2")
    let d = try #require(root.children("", "d").first)
    #expect(d.children("", "e").count == 1)
    #expect(root.children("urn:default", "e").isEmpty)
  }

  @Test func textWithEntitiesReferencesCDATAAndComments() throws {
    let root = try Self.parse(
      "<a t='&lt;&gt;&amp;&apos;&quot; x&#9;y' u='a\tb\r\nc'>1&lt;2 &#x41;&#66;<!-- no -->\r\n<?pi x?><![CDATA[<&]]>z</a>"
    )
    #expect(root.text.text == "1<2 AB\n<&z")
    // Attribute values: references resolved, white space (not a referenced tab) normalised to spaces.
    #expect(root.attribute("t") == "<>&'\" x\ty")
    #expect(root.attribute("u") == "a b c")
    #expect(try Self.parse("<a>&#xE9;&#x1F600;</a>").text.text == "é😀")
  }

  @Test func trimmedTextAndDuplicateChildren() throws {
    let root = try Self.parse("<a><b>  x \n</b><c/><c/></a>")
    #expect(try root.child("", "b")?.trimmedText.text == "x")
    #expect(Self.error("<a><c/><c/></a>") == nil)
    #expect(throws: XMLError.self) { try root.child("", "c") }
  }

  @Test(arguments: [
    ("<!DOCTYPE a [<!ENTITY x \"y\">]><a>&x;</a>", 1, "DOCTYPE"),
    ("<a>\n<!DOCTYPE a></a>", 2, "DOCTYPE"),
    ("<a>&x;</a>", 1, "unknown entity &x;"),
    ("<a>&#0;</a>", 1, "unknown entity"),
    ("<a>&#xD800;</a>", 1, "unknown entity"),
    ("<a>\n<b>\n</a>", 3, "</a> closes <b>"),
    ("<a>", 1, "<a> is not closed"),
    ("<a></a><b/>", 1, "content after the root element"),
    ("x<a/>", 1, "text outside the root element"),
    ("", 1, "no root element"),
    ("<a x='1' x='2'/>", 1, "attribute x twice"),
    ("<a xmlns:p='u' xmlns:q='u' p:x='1' q:x='2'/>", 1, "attribute q:x twice"),
    ("<p:a/>", 1, "namespace prefix p is not declared"),
    ("<a x='1'y='2'/>", 1, "expected '>' or an attribute"),
    ("<a x='<'/>", 1, "'<' in an attribute value"),
    ("<a>\n\n]]></a>", 3, "']]>' in text"),
    ("<a><!-- a -- b --></a>", 1, "'--' inside a comment"),
    ("<a/><?xml version='1.0'?>", 1, "only at the very start"),
    ("<?xml version='1.0' encoding='ISO-8859-1'?><a/>", 1, "encoding ISO-8859-1 is not supported"),
    ("<a>\u{1}</a>", 1, "control character"),
    ("<a>&amp</a>", 1, "reference"),
  ])
  func refusals(text: String, line: Int, reason: String) {
    let found = Self.error(text)
    #expect(found?.line == line, "\(text)")
    #expect(found?.reason.contains(reason) == true, "\(text): \(found?.description ?? "accepted")")
  }

  @Test func invalidUTF8AndUTF16AreRefused() {
    for bytes: [UInt8] in [
      [0x3C, 0x61, 0x3E, 0xC0, 0xAF, 0x3C, 0x2F, 0x61, 0x3E],  // overlong '/'
      [0x3C, 0x61, 0x3E, 0xED, 0xA0, 0x80, 0x3C, 0x2F, 0x61, 0x3E],  // a surrogate
      [0x3C, 0x61, 0x3E, 0xE2, 0x82],  // truncated
      [0xFF, 0xFE, 0x3C, 0x00],
    ] {
      #expect(throws: XMLError.self) { try XMLReader.parse(bytes) }
    }
    #expect((try? XMLReader.parse([0xEF, 0xBB, 0xBF] + Array("<a/>".utf8)))?.name == "a")
  }

  @Test func depthAndSizeAreCapped() {
    let deep = String(repeating: "<a>", count: XMLReader.maxDepth + 1) + String(repeating: "</a>", count: 33)
    #expect(Self.error(deep)?.reason.contains("nested deeper") == true)
    let fine = String(repeating: "<a>", count: XMLReader.maxDepth) + String(repeating: "</a>", count: 32)
    #expect(Self.error(fine) == nil)
    let huge = [UInt8](repeating: 0x20, count: XMLReader.maxSize + 1)
    #expect(throws: XMLError.self) { try XMLReader.parse(huge) }
  }

  @Test func wipeClearsEveryText() throws {
    var root = try Self.parse("<a>k1<b>k2</b></a>")
    root.wipe()
    #expect(root.text.allSatisfy { $0 == 0 } && root.children[0].text.allSatisfy { $0 == 0 })
  }

  @Test func base64IsStrict() {
    #expect(Base64.decode(Array("MTIz\n NDU2Nzg5MDEyMzQ1Njc4OTA=".utf8)) == Array("12345678901234567890".utf8))
    #expect(Base64.decode(Array("Zm9vYg==".utf8)) == Array("foob".utf8))
    #expect(Base64.decode(Array("".utf8)) == [])
    for bad in ["Zm9vYg=", "Zm9vYh==", "Zm9v=Yg=", "Zm9*", "Zm9vYg==="] {
      #expect(Base64.decode(Array(bad.utf8)) == nil, "\(bad)")
    }
  }

  @Test func dateTimes() {
    #expect(XMLDateTime.parse(Array("1970-01-01T00:00:00Z".utf8)) == 0)
    #expect(XMLDateTime.parse(Array("2037-12-31T00:00:00Z".utf8)) == 2_145_830_400)
    #expect(XMLDateTime.parse(Array("2037-12-31T01:00:00.250+01:00".utf8)) == 2_145_830_400)
    #expect(XMLDateTime.parse(Array("2037-12-31T00:00:00".utf8)) == 2_145_830_400)
    for bad in ["2037-12-31", "2037-02-30T00:00:00Z", "2037-12-31T24:00:00Z", "2037-12-31T00:00:00+1:00"] {
      #expect(XMLDateTime.parse(Array(bad.utf8)) == nil, "\(bad)")
    }
    #expect(XMLDateTime.format(2_145_830_400 + 3_660) == "2037-12-31 01:01 UTC")
  }

  @Test func preSharedKeys() {
    #expect(PreSharedKey.parse(Array(" 12345678901234567890123456789012\n".utf8))?.count == 16)
    #expect(PreSharedKey.parse(Array(String(repeating: "aB", count: 24).utf8))?.count == 24)
    #expect(PreSharedKey.parse(Array(String(repeating: "0f", count: 32).utf8))?.first == 0x0F)
    for bad in ["1234", "1234567890123456789012345678901g", "12345678 901234567890123456789012"] {
      #expect(PreSharedKey.parse(Array(bad.utf8)) == nil, "\(bad)")
    }
  }
}
