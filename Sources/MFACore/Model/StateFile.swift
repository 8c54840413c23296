/// The on-disk container of a user's state: a fixed 8 KiB file of two 4 KiB slots, each with a
/// sequence number and a checksum. An update overwrites the older slot in place and
/// syncs it, so
///   - a crash or kill at any moment leaves the newer intact slot readable (old or new state);
///   - an update needs no new disk blocks, so a full file system still records replay and
///     failures for users who already have a state file.
///
/// Slot layout: "PMFS", version byte, 3 zero bytes, sequence (UInt64 LE), payload length
/// (UInt32 LE), 4 zero bytes, a 32-byte checksum field over the first 24 bytes and the payload,
/// payload. Version 2 (written): CRC-32 (UInt32 LE, zlib's) then 28 zero bytes. Version 1
/// (still read): SHA-256. The checksum finds torn and damaged writes; it is no MAC (only root
/// can write the file), so a CRC does that job without loading libcrypto on every login.
public enum StateFile {
  public static let slotSize = 4096
  public static let fileSize = 2 * slotSize
  static let headerSize = 24
  static let digestSize = 32
  public static let maxPayload = slotSize - headerSize - digestSize
  static let magic: [UInt8] = Array("PMFS".utf8)

  /// The newest valid slot: (sequence, payload). nil when no slot is valid.
  public static func newestSlot(_ file: [UInt8]) -> (sequence: UInt64, payload: [UInt8])? {
    guard file.count == fileSize else { return nil }
    var best: (sequence: UInt64, payload: [UInt8])?
    for index in 0..<2 {
      let slot = file[(index * slotSize)..<((index + 1) * slotSize)]
      if let decoded = decode(slot), decoded.sequence >= (best?.sequence ?? 0) { best = decoded }
    }
    return best
  }

  /// Whether a slot of the file says version 1 (checked with SHA-256, so with libcrypto).
  static func hasVersion1Slot(_ file: [UInt8]) -> Bool {
    file.count == fileSize && (0..<2).contains { file[$0 * slotSize + 4] == 1 }
  }

  /// Which slot a write of `sequence` goes to: alternating, so the newest is never overwritten.
  public static func slotIndex(for sequence: UInt64) -> Int { Int(sequence % 2) }

  /// One encoded slot (exactly `slotSize` bytes); nil if the payload is too large.
  public static func encode(sequence: UInt64, payload: [UInt8]) -> [UInt8]? {
    guard payload.count <= maxPayload, sequence > 0 else { return nil }
    var slot = magic + [2, 0, 0, 0]
    for shift in stride(from: 0, to: 64, by: 8) { slot.append(UInt8(truncatingIfNeeded: sequence >> UInt64(shift))) }
    let length = UInt32(payload.count)
    for shift in stride(from: 0, to: 32, by: 8) { slot.append(UInt8(truncatingIfNeeded: length >> UInt32(shift))) }
    slot += [0, 0, 0, 0]
    slot += checksum(slot[...], payload[...])
    slot += payload
    slot += [UInt8](repeating: 0, count: slotSize - slot.count)
    return slot
  }

  static func decode(_ slot: ArraySlice<UInt8>) -> (sequence: UInt64, payload: [UInt8])? {
    guard slot.count == slotSize else { return nil }
    let start = slot.startIndex
    guard slot[start..<(start + 4)].elementsEqual(magic), slot[start + 4] == 1 || slot[start + 4] == 2 else {
      return nil
    }
    var sequence: UInt64 = 0
    for index in 0..<8 { sequence |= UInt64(slot[start + 8 + index]) << UInt64(8 * index) }
    var length: UInt32 = 0
    for index in 0..<4 { length |= UInt32(slot[start + 16 + index]) << UInt32(8 * index) }
    guard sequence > 0, Int(length) <= maxPayload else { return nil }
    let payloadStart = start + headerSize + digestSize
    let header = slot[start..<(start + headerSize)]
    let payload = slot[payloadStart..<(payloadStart + Int(length))]
    let stored = slot[(start + headerSize)..<payloadStart]
    // Version 1 files from before 0.2 are read with SHA-256 (the first write turns a slot to 2).
    let expected = slot[start + 4] == 2 ? checksum(header, payload) : Crypto.sha256(Array(header) + Array(payload))
    guard let expected, stored.elementsEqual(expected) else { return nil }
    return (sequence, Array(payload))
  }

  /// The version-2 checksum field: CRC-32 of the header and the payload, little-endian, then
  /// zeros.
  static func checksum(_ header: ArraySlice<UInt8>, _ payload: ArraySlice<UInt8>) -> [UInt8] {
    let crc = CRC32.of(payload, continuing: CRC32.of(header))
    var field = [UInt8](repeating: 0, count: digestSize)
    for index in 0..<4 { field[index] = UInt8(truncatingIfNeeded: crc >> UInt32(8 * index)) }
    return field
  }
}
