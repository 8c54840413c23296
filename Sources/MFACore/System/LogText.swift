/// The one rule for every line pam_mfa and mfa-enroll write to syslog: printable ASCII passes,
/// and a backslash and every other byte (newline, escape, DEL, anything outside ASCII) become
/// `\xNN`, so no value (a user name, a remote host, a path) can forge or split a line.
public enum LogText {
  public static func escaped(_ message: String) -> String {
    let digits = Array("0123456789abcdef".utf8)
    var out: [UInt8] = []
    out.reserveCapacity(message.utf8.count)
    for byte in message.utf8 {
      if byte >= 0x20 && byte < 0x7f && byte != UInt8(ascii: "\\") {
        out.append(byte)
      } else {
        out += [UInt8(ascii: "\\"), UInt8(ascii: "x"), digits[Int(byte >> 4)], digits[Int(byte & 0xf)]]
      }
    }
    return String(decoding: out, as: UTF8.self)
  }
}
