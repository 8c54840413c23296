import CLibc

/// State files in one root-owned 0700 directory: `DIR/USER` (a `StateFile`) and `DIR/USER.lock`
/// (flock only). Separate lock files per user: logins of different users never wait on each other.
public struct FileStateStore: StateStore {
  public let directory: String
  /// State files from before the slot format (plain text) are read and upgraded on write.
  static let legacyMaxSize = 64 * 1024

  public init(directory: String) {
    self.directory = directory
  }

  public var location: String { directory }

  public func peek(user: [UInt8]) throws(FileError) -> UserState {
    guard let file = try TrustedFile.privateFile(owners: [geteuid()]).openIfPresent(path(user)) else {
      return UserState()
    }
    return try load(file).state
  }

  public func update<Result>(user: [UInt8], _ body: (inout UserState) throws(FileError) -> Result) throws(FileError)
    -> Result
  {
    try ensureDirectory()
    let path = path(user)
    return try withExclusiveLock(path + ".lock") { () throws(FileError) -> Result in
      guard let file = try TrustedFile.privateFile(owners: [geteuid()]).openIfPresent(path, O_RDWR) else {
        return try change(Loaded(state: UserState(), sequence: 0, inPlace: false), body) {
          (state, sequence) throws(FileError) in try saveWhole(state, sequence: sequence, path: path)
        }
      }
      let loaded = try load(file)
      return try change(loaded, body) { (state, sequence) throws(FileError) in
        if loaded.inPlace {
          try saveInPlace(state, sequence: sequence, file: file)
        } else {
          try saveWhole(state, sequence: sequence, path: path)
        }
      }
    }
  }

  /// Runs `body`; if it changed the state, `save` makes the new one durable — also when `body`
  /// threw, so that an attempt it counted sticks.
  func change<Result>(
    _ loaded: Loaded, _ body: (inout UserState) throws(FileError) -> Result,
    save: (UserState, UInt64) throws(FileError) -> Void
  ) throws(FileError) -> Result {
    var state = loaded.state
    let result: Result
    do throws(FileError) {
      result = try body(&state)
    } catch {
      if state != loaded.state { try? save(state, loaded.sequence + 1) }
      throw error
    }
    if state != loaded.state { try save(state, loaded.sequence + 1) }
    return result
  }

  func path(_ user: [UInt8]) -> String { directory + "/" + user.text }

  struct Loaded {
    var state: UserState
    var sequence: UInt64
    /// The file has the slot format and can be updated in place.
    var inPlace: Bool
  }

  func load(_ file: borrowing FileDescriptor) throws(FileError) -> Loaded {
    let contents = try file.readAll(maxSize: FileStateStore.legacyMaxSize)
    let payload: [UInt8]
    var sequence: UInt64 = 0
    var inPlace = false
    if contents.starts(with: UserStateFormat.header) {
      payload = contents  // the plain-text state of earlier versions, upgraded on the next write
    } else {
      // No intact slot means damage from outside: deny rather than forget used codes.
      guard let slot = StateFile.newestSlot(contents) else {
        // A version-1 slot needs libcrypto (SHA-256): say so rather than suggest damage.
        if StateFile.hasVersion1Slot(contents), let problem = Crypto.unavailable() {
          throw .malformed(FormatError(line: 0, "a version-1 state slot cannot be checked: " + problem))
        }
        throw .malformed(FormatError(line: 0, "no intact state slot (wrong size or checksum)"))
      }
      payload = slot.payload
      sequence = slot.sequence
      inPlace = true
    }
    do throws(FormatError) {
      return Loaded(state: try UserStateFormat.parse(payload), sequence: sequence, inPlace: inPlace)
    } catch {
      throw .malformed(error)
    }
  }

  func slot(_ state: UserState, sequence: UInt64) throws(FileError) -> (bytes: [UInt8], offset: Int) {
    var payload = UserStateFormat.serialize(state)
    // The clock offsets are a convenience: a full slot drops them before it refuses a write.
    if payload.count > StateFile.maxPayload && state.drift != ClockDrift() {
      var lean = state
      lean.drift = ClockDrift()
      payload = UserStateFormat.serialize(lean)
    }
    guard let slot = StateFile.encode(sequence: sequence, payload: payload) else { throw .tooLarge }
    return (slot, StateFile.slotIndex(for: sequence) * StateFile.slotSize)
  }

  /// In place: the other slot keeps the previous state until this one is complete.
  func saveInPlace(_ state: UserState, sequence: UInt64, file: borrowing FileDescriptor) throws(FileError) {
    let (bytes, offset) = try slot(state, sequence: sequence)
    do throws(SystemError) {
      try file.writeAll(bytes, at: Int64(offset), operation: "write state")
      try file.syncData(operation: "fdatasync state")
    } catch {
      throw .system(error)
    }
  }

  /// A new (or old-format) file appears whole, via a temp file and rename.
  func saveWhole(_ state: UserState, sequence: UInt64, path: String) throws(FileError) {
    let (bytes, offset) = try slot(state, sequence: sequence)
    var image = [UInt8](repeating: 0, count: StateFile.fileSize)
    image.replaceSubrange(offset..<(offset + StateFile.slotSize), with: bytes)
    try SafeFile.write(path: path, contents: image, mode: 0o600)
  }

  /// The directory must be ours and private: anyone who can write it could reset replay state.
  func ensureDirectory() throws(FileError) {
    try SafeFile.makeDirectories(directory, mode: 0o700)
    try TrustedFile.privateDirectory(owner: geteuid()).check(directory)
  }
}
