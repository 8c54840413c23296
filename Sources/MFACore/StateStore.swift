import CLibc

/// The atomic operations the login check needs from wherever per-user state lives. The file
/// store implements them with a per-user lock; a directory store can map each to one
/// conditional write.
public protocol StateStore {
  /// Records `step` for the authenticator only if no step ≥ `step` was accepted before.
  /// Returns false for a replay. Never returns true without the new step being durable.
  func acceptStep(user: [UInt8], authenticator: [UInt8], step: Int64) throws(FileError) -> Bool
}

/// State files in one root-owned directory: `DIR/USER` (state) and `DIR/USER.lock`.
public struct FileStateStore: StateStore {
  public let directory: String

  public init(directory: String) {
    self.directory = directory
  }

  public func acceptStep(user: [UInt8], authenticator: [UInt8], step: Int64) throws(FileError) -> Bool {
    try update(user: user) { state in
      if let last = state.lastStep(of: authenticator), last >= step { return false }
      state.setLastStep(step, of: authenticator)
      return true
    }
  }

  /// Runs `body` on the user's state under the user's lock and writes the state back durably
  /// when `body` changed it.
  public func update<Result>(user: [UInt8], _ body: (inout UserState) -> Result) throws(FileError)
    -> Result
  {
    try ensureDirectory()
    let path = directory + "/" + user.text
    return try withExclusiveLock(path + ".lock") { () throws(FileError) -> Result in
      var state = try load(path)
      let before = state
      let result = body(&state)
      if state != before {
        try SafeFile.write(path: path, contents: UserStateFormat.serialize(state), mode: 0o600)
      }
      return result
    }
  }

  func load(_ path: String) throws(FileError) -> UserState {
    let contents: [UInt8]
    do throws(FileError) {
      contents = try SafeFile.read(path: path, owner: geteuid(), maxSize: UserStateFormat.maxSize)
    } catch .notFound {
      return UserState()
    }
    do throws(FormatError) {
      return try UserStateFormat.parse(contents)
    } catch {
      throw .malformed(error)
    }
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
