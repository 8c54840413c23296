import CLibc

/// Small-file I/O with the checks a root process needs when it touches files a user controls:
/// never follow a symlink, check type/owner/mode on the open descriptor, and replace contents
/// atomically (temp file, fsync, rename, fsync of the directory).
public enum SafeFile {
  /// Reads a whole regular file owned by one of `owners` with none of `forbiddenMode` set
  /// (default: group and other have no access at all).
  public static func read(
    path: String, owners: [UInt32], maxSize: Int, forbiddenMode: UInt32 = 0o077
  ) throws(FileError) -> [UInt8] {
    let fd = try openChecked(path, flags: O_RDONLY, owners: owners, forbiddenMode: forbiddenMode)
    defer { close(fd) }
    return try readAll(fd, maxSize: maxSize)
  }

  /// Opens without following a final symlink and checks the open file: regular, owned by one
  /// of `owners`, none of `forbiddenMode` set. Returns the descriptor (the caller closes it).
  public static func openChecked(_ path: String, flags: Int32, owners: [UInt32], forbiddenMode: UInt32)
    throws(FileError) -> Int32
  {
    let fd = path.withCString {
      mfa_open($0, flags | O_NOFOLLOW | O_CLOEXEC | O_NOCTTY | O_NONBLOCK, 0)
    }
    if fd < 0 {
      let code = mfa_errno()
      if code == ENOENT { throw .notFound }
      if code == ELOOP { throw .symbolicLink }
      throw .system(SystemError("open", code: code))
    }
    var info = stat()
    var problem: FileError?
    if fstat(fd, &info) != 0 {
      problem = .system(.last("fstat"))
    } else if info.st_mode & 0o170000 != 0o100000 {
      problem = .notRegularFile
    } else if !owners.contains(info.st_uid) {
      problem = .wrongOwner(expected: owners.first ?? 0, actual: info.st_uid)
    } else if info.st_mode & forbiddenMode != 0 {
      problem = .insecurePermissions(mode: info.st_mode)
    }
    if let problem {
      close(fd)
      throw problem
    }
    return fd
  }

  /// Reads from the current offset to the end; more than `maxSize` bytes is an error.
  public static func readAll(_ fd: Int32, maxSize: Int) throws(FileError) -> [UInt8] {
    var contents: [UInt8] = []
    var chunk = [UInt8](repeating: 0, count: 4096)
    // Room for the largest file at once: a growing buffer would leave freed copies behind.
    contents.reserveCapacity(maxSize + chunk.count)
    defer { chunk.wipe() }
    while true {
      let count = chunk.withUnsafeMutableBytes { raw in CLibc.read(fd, raw.baseAddress, raw.count) }
      if count < 0 {
        if mfa_errno() == EINTR { continue }
        contents.wipe()
        throw .system(.last("read"))
      }
      if count == 0 { break }
      contents += chunk[0..<count]
      if contents.count > maxSize {
        contents.wipe()
        throw .tooLarge
      }
    }
    return contents
  }

  /// True when `directory` and every directory above it is owned by root and writable by no one
  /// else: files there can only have been put there by root (a root-owned store). Walks with
  /// O_NOFOLLOW, so a symlink anywhere on the way makes the answer false.
  /// With `allowSticky`, a root-owned sticky directory that others may write (/tmp) passes too:
  /// no one but root can rename or remove root's entries there (for programs root runs).
  public static func isRootOwnedDirectory(_ directory: String, allowSticky: Bool = false) -> Bool {
    let bytes = [UInt8](directory)
    guard bytes.first == ASCII.slash else { return false }
    var fd = mfa_open("/", O_RDONLY | O_DIRECTORY | O_CLOEXEC, 0)
    if fd < 0 { return false }
    defer { close(fd) }
    if !isRootOwnedAndClosed(fd, allowSticky: allowSticky) { return false }
    for component in bytes.fields(separatedBy: ASCII.slash) {
      let next = component.text.withCString { mfa_openat(fd, $0, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC, 0) }
      close(fd)
      fd = next
      if fd < 0 || !isRootOwnedAndClosed(fd, allowSticky: allowSticky) { return false }
    }
    return true
  }

  /// Whether the file at absolute `path` sits in such a directory (see isRootOwnedDirectory).
  public static func isInRootOwnedDirectory(_ path: String, allowSticky: Bool = false) -> Bool {
    guard let (directory, _) = try? split(path) else { return false }
    return isRootOwnedDirectory(directory, allowSticky: allowSticky)
  }

  static func isRootOwnedAndClosed(_ fd: Int32, allowSticky: Bool = false) -> Bool {
    var info = stat()
    guard fstat(fd, &info) == 0, info.st_uid == 0 else { return false }
    return info.st_mode & 0o022 == 0 || (allowSticky && info.st_mode & 0o1000 != 0)
  }

  /// Whether something exists at `path` (without following a final symlink).
  public static func exists(_ path: String) -> Bool {
    var info = stat()
    return path.withCString { lstat($0, &info) } == 0
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
    let (directory, name) = try split(path)
    let dirfd = directory.withCString { mfa_open($0, O_RDONLY | O_DIRECTORY | O_CLOEXEC, 0) }
    if dirfd < 0 { throw .system(.last("open directory")) }
    defer { close(dirfd) }

    let temporaryName = "." + name + ".tmp"
    // Whatever a killed writer left there (even a symlink) goes; we hold the lock.
    _ = temporaryName.withCString { unlinkat(dirfd, $0, 0) }
    let fd = temporaryName.withCString {
      mfa_openat(dirfd, $0, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, mode & 0o600)
    }
    if fd < 0 { throw .system(.last("create temporary file")) }
    var renamed = false
    defer {
      if !renamed { _ = temporaryName.withCString { unlinkat(dirfd, $0, 0) } }
    }
    try fill(fd, contents: contents, mode: mode, owner: owner)
    let renameResult = temporaryName.withCString { from in
      name.withCString { to in
        replace ? renameat(dirfd, from, dirfd, to) : mfa_rename_noreplace(dirfd, from, dirfd, to)
      }
    }
    if renameResult != 0 { throw .system(.last("rename")) }
    renamed = true
    // The rename itself must reach the disk, or a crash could bring the old file back.
    if fsync(dirfd) != 0 { throw .system(.last("fsync directory")) }
  }

  /// Creates `path` and missing parents with `mode` (like mkdir -p); existing ones are kept.
  public static func makeDirectories(_ path: String, mode: UInt32) throws(FileError) {
    let bytes = [UInt8](path)
    guard bytes.first == ASCII.slash else { throw .invalidPath("not absolute") }
    var prefix: [UInt8] = []
    for component in bytes.fields(separatedBy: ASCII.slash) {
      prefix.append(ASCII.slash)
      prefix += component
      let result = prefix.text.withCString { mkdir($0, mode) }
      if result != 0 && mfa_errno() != EEXIST { throw .system(.last("mkdir")) }
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

  /// Sets owner and mode, writes, and syncs the new file, then closes it.
  static func fill(_ fd: Int32, contents: [UInt8], mode: UInt32, owner: (UInt32, UInt32)?)
    throws(FileError)
  {
    defer { close(fd) }
    if let (uid, gid) = owner {
      if fchown(fd, uid, gid) != 0 { throw .system(.last("fchown")) }
    }
    if fchmod(fd, mode) != 0 { throw .system(.last("fchmod")) }
    try writeAll(fd, contents)
    // The data must be on disk before the rename makes it the file.
    if fsync(fd) != 0 { throw .system(.last("fsync")) }
  }

  static func writeAll(_ fd: Int32, _ contents: [UInt8]) throws(FileError) {
    var written = 0
    while written < contents.count {
      let count = contents.withUnsafeBytes { raw in
        guard let base = raw.baseAddress else { return 0 }
        return CLibc.write(fd, base + written, raw.count - written)
      }
      if count < 0 {
        if mfa_errno() == EINTR { continue }
        throw .system(.last("write"))
      }
      written += count
    }
  }

}

/// An exclusive flock(2) on a lock file, held while `body` runs. Separate lock files per user
/// mean logins of different users never wait on each other.
public func withExclusiveLock<Result>(
  _ path: String, _ body: () throws(FileError) -> Result
) throws(FileError) -> Result {
  let fd = path.withCString { mfa_open($0, O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0o600) }
  if fd < 0 { throw .system(.last("open lock file")) }
  defer { close(fd) }
  while flock(fd, LOCK_EX) != 0 {
    if mfa_errno() != EINTR { throw .system(.last("flock")) }
  }
  return try body()
}
