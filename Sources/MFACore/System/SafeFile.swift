import CLibc

/// Small files replaced atomically (temp file, fsync, rename, fsync of the directory), mkdir -p
/// and the per-file lock. Opening and checking is `TrustedFile`'s, descriptors are
/// `FileDescriptor`s.
public enum SafeFile {
  /// Whether something exists at `path` (without following a final symlink).
  public static func exists(_ path: String) -> Bool { owner(of: path) != nil }

  /// Who owns what is at `path` (a link itself, not what it points to); nil when nothing is.
  public static func owner(of path: String) -> UInt32? {
    var info = stat()
    return path.withCString { lstat($0, &info) } == 0 ? info.st_uid : nil
  }

  /// stat(2) of `path`; with `follow: false` a final link itself (lstat(2)).
  public static func status(_ path: String, follow: Bool) throws(SystemError) -> stat {
    var info = stat()
    _ = try retrying(follow ? "stat" : "lstat") {
      path.withCString { follow ? stat($0, &info) : lstat($0, &info) }
    }
    return info
  }

  /// The path with every link resolved (realpath(3)).
  public static func resolved(_ path: String) throws(SystemError) -> [UInt8] {
    guard let real = path.withCString({ realpath($0, nil) }) else { throw .last("realpath") }
    defer { free(real) }
    return HostSystem.bytes(real)
  }

  /// Removes the name `path` (unlink(2); never a directory).
  public static func remove(_ path: String) throws(SystemError) {
    _ = try retrying("unlink") { path.withCString { unlink($0) } }
  }

  /// Writes `contents` to `path` so that a crash at any moment leaves the old file or the new
  /// one, never a mix. With `replace: false` an existing file is never overwritten (EEXIST).
  /// `owner` (uid, gid) is applied when set — root writing a file on a user's behalf.
  /// The caller holds an exclusive lock for `path` (see `withExclusiveLock`): the temporary
  /// file has a fixed name, so a killed writer leaves at most one behind, reused next time.
  public static func write(
    path: String, contents: [UInt8], mode: UInt32, owner: (UInt32, UInt32)? = nil,
    replace: Bool = true
  ) throws(FileError) {
    let (directoryPath, name) = try split(path)
    do throws(SystemError) {
      let directory = try FileDescriptor.open(directoryPath, O_RDONLY | O_DIRECTORY, operation: "open directory")
      let temporaryName = "." + name + ".tmp"
      // Whatever a killed writer left there (even a symlink) goes; we hold the lock.
      try? directory.remove(temporaryName)
      let file = try directory.open(
        temporaryName, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW, mode: mode & 0o600, operation: "create temporary file")
      do throws(SystemError) {
        try fill(file, contents: contents, mode: mode, owner: owner)
        try directory.rename(temporaryName, to: name, replace: replace)
      } catch {
        try? directory.remove(temporaryName)
        throw error
      }
      // The rename itself must reach the disk, or a crash could bring the old file back.
      try directory.sync(operation: "fsync directory")
    } catch {
      throw .system(error)
    }
  }

  /// Sets owner and mode, writes, and syncs the new file, then closes it.
  static func fill(_ file: consuming FileDescriptor, contents: [UInt8], mode: UInt32, owner: (UInt32, UInt32)?)
    throws(SystemError)
  {
    if let (uid, gid) = owner { try file.changeOwner(uid, gid) }
    try file.changeMode(mode)
    try file.writeAll(contents)
    // The data must be on disk before the rename makes it the file.
    try file.sync()
  }

  /// Creates `path` and missing parents with `mode` (like mkdir -p); existing ones are kept.
  public static func makeDirectories(_ path: String, mode: UInt32) throws(FileError) {
    let bytes = [UInt8](path)
    guard bytes.first == ASCII.slash else { throw .invalidPath("not absolute") }
    var prefix: [UInt8] = []
    for component in bytes.fields(separatedBy: ASCII.slash) {
      prefix.append(ASCII.slash)
      prefix += component
      do throws(SystemError) {
        try retrying("mkdir") { prefix.text.withCString { mkdir($0, mode) } }
      } catch  where error.code == EEXIST {
      } catch {
        throw .system(error)
      }
    }
  }

  /// Splits an absolute path into its directory and final name.
  static func split(_ path: String) throws(FileError) -> (String, String) {
    let bytes = [UInt8](path)
    guard bytes.first == ASCII.slash else { throw .invalidPath("not absolute") }
    guard let slash = bytes.lastIndex(of: ASCII.slash), slash + 1 < bytes.count else {
      throw .invalidPath("no file name")
    }
    let directory = slash == 0 ? "/" : Array(bytes[0..<slash]).text
    return (directory, Array(bytes[(slash + 1)...]).text)
  }
}

/// An exclusive flock(2) on a lock file, held while `body` runs. Separate lock files per user
/// mean logins of different users never wait on each other.
public func withExclusiveLock<Result>(
  _ path: String, _ body: () throws(FileError) -> Result
) throws(FileError) -> Result {
  let lock: FileDescriptor
  do throws(SystemError) {
    lock = try lockFile(path)
  } catch {
    throw .system(error)
  }
  let result = try body()
  lock.close()
  return result
}

/// The lock file at `path` (made when missing), locked.
func lockFile(_ path: String) throws(SystemError) -> FileDescriptor {
  let lock = try FileDescriptor.open(path, O_RDWR | O_CREAT | O_NOFOLLOW, mode: 0o600, operation: "open lock file")
  try lock.lockExclusive()
  return lock
}
