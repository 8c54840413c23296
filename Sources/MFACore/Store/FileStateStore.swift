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
    let fd: Int32
    do throws(FileError) {
      fd = try SafeFile.openChecked(path(user), flags: O_RDONLY, owners: [geteuid()], forbiddenMode: 0o077)
    } catch .notFound {
      return UserState()
    }
    defer { close(fd) }
    return try load(fd).state
  }

  public func update<Result>(user: [UInt8], _ body: (inout UserState) throws(FileError) -> Result) throws(FileError)
    -> Result
  {
    try ensureDirectory()
    let path = path(user)
    return try withExclusiveLock(path + ".lock") { () throws(FileError) -> Result in
      var fd: Int32 = -1
      do throws(FileError) {
        fd = try SafeFile.openChecked(path, flags: O_RDWR, owners: [geteuid()], forbiddenMode: 0o077)
      } catch .notFound {
        fd = -1
      }
      defer { if fd >= 0 { close(fd) } }
      let loaded = fd >= 0 ? try load(fd) : Loaded(state: UserState(), sequence: 0, inPlace: false)
      var state = loaded.state
      let result: Result
      do throws(FileError) {
        result = try body(&state)
      } catch {
        if state != loaded.state {
          try? save(state, sequence: loaded.sequence + 1, fd: loaded.inPlace ? fd : nil, path: path)
        }
        throw error
      }
      if state != loaded.state {
        try save(state, sequence: loaded.sequence + 1, fd: loaded.inPlace ? fd : nil, path: path)
      }
      return result
    }
  }

  func path(_ user: [UInt8]) -> String { directory + "/" + user.text }

  struct Loaded {
    var state: UserState
    var sequence: UInt64
    /// The file has the slot format and can be updated in place.
    var inPlace: Bool
  }

  func load(_ fd: Int32) throws(FileError) -> Loaded {
    let contents = try SafeFile.readAll(fd, maxSize: FileStateStore.legacyMaxSize)
    let payload: [UInt8]
    var sequence: UInt64 = 0
    var inPlace = false
    if contents.starts(with: UserStateFormat.header) {
      payload = contents  // the plain-text state of earlier versions, upgraded on the next write
    } else {
      // No intact slot means damage from outside: deny rather than forget used codes.
      guard let slot = StateFile.newestSlot(contents) else {
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

  func save(_ state: UserState, sequence: UInt64, fd: Int32?, path: String) throws(FileError) {
    guard let slot = StateFile.encode(sequence: sequence, payload: UserStateFormat.serialize(state)) else {
      throw .tooLarge
    }
    let offset = StateFile.slotIndex(for: sequence) * StateFile.slotSize
    if let fd {
      // In place: the other slot keeps the previous state until this one is complete.
      var written = 0
      while written < slot.count {
        let count = slot.withUnsafeBytes { raw in
          guard let base = raw.baseAddress else { return 0 }
          return pwrite(fd, base + written, raw.count - written, off_t(offset + written))
        }
        if count < 0 {
          if mfa_errno() == EINTR { continue }
          throw .system(.last("write state"))
        }
        written += count
      }
      if fdatasync(fd) != 0 { throw .system(.last("fdatasync state")) }
      return
    }
    // A new (or old-format) file appears whole, via a temp file and rename.
    var image = [UInt8](repeating: 0, count: StateFile.fileSize)
    image.replaceSubrange(offset..<(offset + StateFile.slotSize), with: slot)
    try SafeFile.write(path: path, contents: image, mode: 0o600)
  }

  /// The directory must be ours and private: anyone who can write it could reset replay state.
  func ensureDirectory() throws(FileError) {
    try SafeFile.makeDirectories(directory, mode: 0o700)
    var info = stat()
    if directory.withCString({ lstat($0, &info) }) != 0 { throw .system(.last("stat state directory")) }
    if info.st_mode & 0o170000 != 0o040000 { throw .notRegularFile }
    if info.st_uid != geteuid() { throw .wrongOwner(expected: geteuid(), actual: info.st_uid) }
    if info.st_mode & 0o022 != 0 { throw .insecurePermissions(mode: info.st_mode) }
  }
}
