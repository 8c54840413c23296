import ArgumentParser
import CQREncode

/// How the QR code is drawn in the terminal.
enum QRStyle: String, ExpressibleByArgument, CaseIterable {
  /// Unicode half blocks, two modules per character cell, black on white set explicitly so the
  /// code reads the same on dark and light terminal themes.
  case utf8
  /// Background colours, two spaces per module (terminals without Unicode fonts).
  case ansi
  /// "##" for dark modules (plain text; needs a light background).
  case ascii
  /// No QR code; use the setup key or the URI.
  case none
}

/// A QR code as a grid of dark (true) and light modules, quiet zone included.
struct QRMatrix {
  let size: Int
  let modules: [Bool]

  /// The spec asks for a quiet zone of four modules around the symbol.
  static let quietZone = 4

  init?(encoding text: String) {
    // Error correction M: survives a little screen glare without making the code huge.
    guard let code = QRcode_encodeString(text, 0, QR_ECLEVEL_M, QR_MODE_8, 1) else { return nil }
    defer { QRcode_free(code) }
    let width = Int(code.pointee.width)
    let size = width + 2 * QRMatrix.quietZone
    var modules = [Bool](repeating: false, count: size * size)
    for y in 0..<width {
      for x in 0..<width where code.pointee.data[y * width + x] & 1 == 1 {
        modules[(y + QRMatrix.quietZone) * size + x + QRMatrix.quietZone] = true
      }
    }
    self.size = size
    self.modules = modules
  }

  func isDark(_ x: Int, _ y: Int) -> Bool {
    x >= 0 && y >= 0 && x < size && y < size && modules[y * size + x]
  }

  /// The lines to print for `style` (empty for `.none`).
  func render(_ style: QRStyle) -> [String] {
    let reset = "\u{1B}[0m"
    switch style {
    case .none:
      return []
    case .utf8:
      var lines: [String] = []
      for y in stride(from: 0, to: size, by: 2) {
        var line = "\u{1B}[30;107m"
        for x in 0..<size {
          switch (isDark(x, y), isDark(x, y + 1)) {
          case (true, true): line += "█"
          case (true, false): line += "▀"
          case (false, true): line += "▄"
          case (false, false): line += " "
          }
        }
        lines.append(line + reset)
      }
      return lines
    case .ansi:
      return (0..<size).map { y in
        (0..<size).map { x in isDark(x, y) ? "\u{1B}[40m  " : "\u{1B}[107m  " }.joined() + reset
      }
    case .ascii:
      return (0..<size).map { y in (0..<size).map { x in isDark(x, y) ? "##" : "  " }.joined() }
    }
  }
}
