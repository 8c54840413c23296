import ArgumentParser
import CPAM
import MFACore

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

extension QRMatrix {
  /// The otpauth URI's QR code, by the module's encoder (libqrencode, loaded when first used).
  init?(encoding text: String) {
    self.init(encoding: text, with: mfa_qr_matrix)
  }

  /// The lines to print for `style` (empty for `.none`), quiet zone included.
  func render(_ style: QRStyle) -> [String] {
    let reset = "\u{1B}[0m"
    switch style {
    case .none:
      return []
    case .utf8:
      // The module's drawing, black on white.
      return QRText.halfBlocks(width: width, modules: modules).map { "\u{1B}[30;107m" + $0 + reset }
    case .ansi:
      return (0..<size).map { y in
        (0..<size).map { x in isDark(x, y) ? "\u{1B}[40m  " : "\u{1B}[107m  " }.joined() + reset
      }
    case .ascii:
      return (0..<size).map { y in (0..<size).map { x in isDark(x, y) ? "##" : "  " }.joined() }
    }
  }
}
