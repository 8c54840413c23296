/// Expands the `secret=` path: `${USER}`, `${HOME}` and a leading `~` (the user's home).
public enum PathTemplate {
  public static func expand(_ template: String, user: [UInt8], home: [UInt8]) throws(FileError) -> String {
    let input = [UInt8](template)
    var output: [UInt8] = []
    var index = 0
    if input.first == 0x7E {  // "~" or "~/..."
      guard input.count == 1 || input[1] == ASCII.slash else {
        throw .invalidPath("only a leading ~ or ~/ is supported")
      }
      output += home
      index = 1
    }
    let userToken = [UInt8]("${USER}")
    let homeToken = [UInt8]("${HOME}")
    while index < input.count {
      if input[index] == 0x24 {  // "$"
        if hasPrefix(input, at: index, userToken) {
          output += user
          index += userToken.count
          continue
        }
        if hasPrefix(input, at: index, homeToken) {
          output += home
          index += homeToken.count
          continue
        }
        throw .invalidPath("only ${USER} and ${HOME} may be used")
      }
      output.append(input[index])
      index += 1
    }
    guard output.first == ASCII.slash else { throw .invalidPath("the path must be absolute") }
    return output.text
  }

  static func hasPrefix(_ bytes: [UInt8], at index: Int, _ prefix: [UInt8]) -> Bool {
    index + prefix.count <= bytes.count && Array(bytes[index..<(index + prefix.count)]) == prefix
  }

  /// A user name that is safe to put in a path: no "/", no control bytes, not "." or "..".
  public static func isSafeUserName(_ name: [UInt8]) -> Bool {
    if name.isEmpty || name.count > 256 || name == [0x2E] || name == [0x2E, 0x2E] { return false }
    if name[0] == ASCII.dash { return false }
    for byte in name where byte == ASCII.slash || byte < 0x20 || byte == 0x7F { return false }
    return true
  }
}
