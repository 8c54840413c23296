/// CRC-32 as zlib computes it (reflected polynomial 0xEDB88320): the state file's checksum.
/// Four bits at a time from a 16-entry table: no table to build in a new process.
enum CRC32 {
  static let nibbles: [UInt32] = [
    0x0000_0000, 0x1DB7_1064, 0x3B6E_20C8, 0x26D9_30AC, 0x76DC_4190, 0x6B6B_51F4, 0x4DB2_6158, 0x5005_713C,
    0xEDB8_8320, 0xF00F_9344, 0xD6D6_A3E8, 0xCB61_B38C, 0x9B64_C2B0, 0x86D3_D2D4, 0xA00A_E278, 0xBDBD_F21C,
  ]

  /// The CRC of `data`, or of what `continuing` covered followed by `data`.
  static func of(_ data: ArraySlice<UInt8>, continuing crc: UInt32 = 0) -> UInt32 {
    var value = ~crc
    for byte in data {
      value ^= UInt32(byte)
      value = (value >> 4) ^ nibbles[Int(value & 0x0F)]
      value = (value >> 4) ^ nibbles[Int(value & 0x0F)]
    }
    return ~value
  }
}
