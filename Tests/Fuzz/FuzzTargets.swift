import MFACore
import PSKC

// libFuzzer entry point (`make fuzz`). The first byte picks the parser, the rest is its input:
// every parser that sees attacker- or user-controlled bytes must return or throw, never trap.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzOneInput(_ data: UnsafePointer<UInt8>?, _ size: Int) -> Int32 {
  guard let data, size > 0 else { return 0 }
  let input = Array(UnsafeBufferPointer(start: data + 1, count: size - 1))
  switch data[0] % 6 {
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
  case 5:
    // A vendor's PSKC file (mfa-enroll import pskc): the XML reader, the container, each key.
    guard var container = try? PSKCContainer.parse(input) else { return 0 }
    for package in container.packages {
      let key = [UInt8](repeating: 0x12, count: 16)
      var token = try? container.token(package, name: package.defaultName, preSharedKey: key, now: 0)
      token?.wipe()
      token = try? container.token(package, name: package.defaultName, preSharedKey: nil, now: 0)
      token?.wipe()
    }
    container.wipe()
  default:
    _ = StateFile.newestSlot(input)
    _ = Base32.decode(input)
  }
  return 0
}
