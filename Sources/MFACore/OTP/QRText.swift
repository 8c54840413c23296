/// A QR code drawn with Unicode half blocks, two module rows per text line, with the four-module
/// quiet zone the standard asks for. Dark modules are blocks. Plain text (no colour escapes), so
/// it survives the PAM conversation and ssh's keyboard-interactive messages.
public enum QRText {
  public static let quietZone = 4

  /// `modules` holds width × width entries, row by row, true for dark.
  public static func halfBlocks(width: Int, modules: [Bool]) -> [String] {
    let size = width + 2 * quietZone
    func dark(_ x: Int, _ y: Int) -> Bool {
      let column = x - quietZone
      let row = y - quietZone
      guard column >= 0, row >= 0, column < width, row < width else { return false }
      return modules[row * width + column]
    }
    var lines: [String] = []
    var y = 0
    while y < size {
      var line: [UInt8] = []
      for x in 0..<size {
        switch (dark(x, y), dark(x, y + 1)) {
        case (true, true): line += [0xE2, 0x96, 0x88]  // █
        case (true, false): line += [0xE2, 0x96, 0x80]  // ▀
        case (false, true): line += [0xE2, 0x96, 0x84]  // ▄
        case (false, false): line.append(ASCII.space)
        }
      }
      lines.append(line.text)
      y += 2
    }
    return lines
  }
}
