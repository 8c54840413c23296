/// A QR code as `width` × `width` modules, row by row, true for dark (no quiet zone): what
/// QRText draws. The encoder is the C routine `mfa_qr_matrix` (CPAM), which loads libqrencode
/// when it is first needed; the module and mfa-enroll pass it in.
public struct QRMatrix {
  public let width: Int
  public let modules: [Bool]

  /// Version 40, the largest QR code, is 177 modules wide; an otpauth URI needs far less.
  public static let maxWidth = 177

  /// `encoder(text, out, capacity)` writes width × width bytes (1: dark) and returns the width,
  /// or -1 when it cannot encode. Nil when it could not.
  public init?(
    encoding text: String, with encoder: (UnsafePointer<CChar>?, UnsafeMutablePointer<UInt8>?, Int32) -> Int32
  ) {
    var buffer = [UInt8](repeating: 0, count: QRMatrix.maxWidth * QRMatrix.maxWidth)
    let width = text.withCString { source in
      buffer.withUnsafeMutableBufferPointer { encoder(source, $0.baseAddress, Int32($0.count)) }
    }
    guard width > 0, width <= QRMatrix.maxWidth else { return nil }
    self.width = Int(width)
    self.modules = buffer[0..<Int(width * width)].map { $0 == 1 }
  }

  /// The side with the quiet zone of `QRText.quietZone` modules on every side.
  public var size: Int { width + 2 * QRText.quietZone }

  /// Whether the module at (`x`, `y`) of the code with its quiet zone is dark (outside: light).
  public func isDark(_ x: Int, _ y: Int) -> Bool {
    let column = x - QRText.quietZone
    let row = y - QRText.quietZone
    return column >= 0 && row >= 0 && column < width && row < width && modules[row * width + column]
  }
}
