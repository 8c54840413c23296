import MFACore

// libFuzzer entry point (`make fuzz`). The first byte picks the parser, the rest is its input:
// every parser that sees attacker- or user-controlled bytes must return or throw, never trap.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzOneInput(_ data: UnsafePointer<UInt8>?, _ size: Int) -> Int32 {
  guard let data, size > 0 else { return 0 }
  let input = Array(UnsafeBufferPointer(start: data + 1, count: size - 1))
  switch data[0] % 5 {
  case 0:
    if let enrollment = try? SecretFileFormat.parse(input) {
      // What parses must serialise and parse back to the same thing.
      let again = try? SecretFileFormat.parse(SecretFileFormat.serialize(enrollment))
      precondition(again == enrollment, "secret file round trip changed the enrollment")
    }
  case 1:
    if let digits = try? CodeInput.digits(input) {
      precondition(digits.allSatisfy { $0 >= 0x30 && $0 <= 0x39 } && (1...8).contains(digits.count))
    }
    if let code = BackupCodes.normalize(input) {
      precondition(code.count == BackupCodes.length && BackupCodes.normalize(code) == code)
    }
  case 2:
    if let state = try? UserStateFormat.parse(input) {
      precondition((try? UserStateFormat.parse(UserStateFormat.serialize(state))) == state)
    }
  case 3:
    _ = try? ModuleOptions.resolve(arguments: []) { (_) throws(FileError) -> [UInt8]? in input }
    _ = try? ModuleOptions.parse(input.split(separator: 0x20).map { Array($0) })
  default:
    _ = StateFile.newestSlot(input)
    _ = Base32.decode(input)
  }
  return 0
}
